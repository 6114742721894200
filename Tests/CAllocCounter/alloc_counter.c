#define _GNU_SOURCE
#include "alloc_counter.h"
#include <execinfo.h>
#include <stdlib.h>
#include <stddef.h>
#include <errno.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static int counting;
static uint64_t count;

static __thread int in_trace;
static int traces_left;

/* With ALLOC_COUNTER_TRACE=N in the environment, the first N counted calls print a
 * backtrace to stderr, to find where an unexpected allocation comes from. */
static inline void hit(void) {
    if (!__atomic_load_n(&counting, __ATOMIC_RELAXED)) return;
    __atomic_fetch_add(&count, 1, __ATOMIC_RELAXED);
    if (traces_left > 0 && !in_trace) {
        in_trace = 1;
        traces_left--;
        void *frames[16];
        int n = backtrace(frames, 16);
        backtrace_symbols_fd(frames, n, 2);
        in_trace = 0;
    }
}

void alloc_counter_start(void) {
    const char *t = getenv("ALLOC_COUNTER_TRACE");
    traces_left = t ? atoi(t) : 0;
    __atomic_store_n(&count, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&counting, 1, __ATOMIC_SEQ_CST);
}

uint64_t alloc_counter_stop(void) {
    __atomic_store_n(&counting, 0, __ATOMIC_SEQ_CST);
    return __atomic_load_n(&count, __ATOMIC_SEQ_CST);
}

void *malloc(size_t n) { hit(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { hit(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { hit(); return __libc_realloc(p, n); }
void *memalign(size_t al, size_t n) { hit(); return __libc_memalign(al, n); }
void *aligned_alloc(size_t al, size_t n) { hit(); return __libc_memalign(al, n); }
int posix_memalign(void **out, size_t al, size_t n) {
    hit();
    void *p = __libc_memalign(al, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
