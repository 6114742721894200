/*
 * test_util.c — the one definition of the check counters of test_util.h, so that a C test
 * made of several files (test_api) counts all its checks in one place.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime in test_util.h */

#include "test_util.h"

int tu_passed, tu_failed;
