#ifndef IBTPO_H
#define IBTPO_H
#endif
