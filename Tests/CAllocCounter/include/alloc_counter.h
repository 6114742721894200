/* Test-only allocation counter: this target defines malloc, calloc, realloc,
 * posix_memalign, aligned_alloc and memalign, which interpose glibc's in the test
 * process and forward to glibc's __libc_* twins. While counting is enabled every call
 * (from any thread, from Swift, the Swift runtime or BLIS) increments a counter. */
#ifndef ALLOC_COUNTER_H
#define ALLOC_COUNTER_H
#include <stdint.h>
void alloc_counter_start(void);
/* Stops counting and returns the number of allocation calls since start. */
uint64_t alloc_counter_stop(void);
#endif
