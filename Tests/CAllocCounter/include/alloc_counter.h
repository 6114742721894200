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
/* Like alloc_counter_start, but only calls made on the calling thread or on one of the
 * `n` (≤ 16) given Linux thread ids count; calls from any other thread are tallied
 * separately (alloc_counter_foreign()). */
void alloc_counter_start_threads(const int32_t *tids, int32_t n);
/* Calls from threads outside the set since the last start (0 for alloc_counter_start). */
uint64_t alloc_counter_foreign(void);
/* The calling thread's Linux thread id. */
int32_t alloc_counter_gettid(void);
#endif
