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

#include <sys/syscall.h>
#include <unistd.h>

static int counting;
static uint64_t count;
static uint64_t foreign;
static int32_t set_tids[17];
static int32_t set_n = -1;          /* -1: every thread counts */
static __thread int32_t my_tid;

int32_t alloc_counter_gettid(void) {
    if (!my_tid) my_tid = (int32_t)syscall(SYS_gettid);
    return my_tid;
}

static int in_set(void) {
    int32_t n = __atomic_load_n(&set_n, __ATOMIC_ACQUIRE);
    if (n < 0) return 1;
    int32_t me = alloc_counter_gettid();
    for (int32_t i = 0; i < n; i++) if (set_tids[i] == me) return 1;
    return 0;
}

static __thread int in_trace;
static int traces_left;

/* With ALLOC_COUNTER_TRACE=N in the environment, the first N counted calls print a
 * backtrace to stderr, to find where an unexpected allocation comes from. */
static inline void hit(void) {
    if (!__atomic_load_n(&counting, __ATOMIC_RELAXED)) return;
    if (!in_set()) { __atomic_fetch_add(&foreign, 1, __ATOMIC_RELAXED); return; }
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

void alloc_counter_start_threads(const int32_t *tids, int32_t n) {
    if (n > 16) n = 16;
    for (int32_t i = 0; i < n; i++) set_tids[i] = tids[i];
    set_tids[n] = alloc_counter_gettid();
    __atomic_store_n(&foreign, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&set_n, n + 1, __ATOMIC_SEQ_CST);
    const char *t = getenv("ALLOC_COUNTER_TRACE");
    traces_left = t ? atoi(t) : 0;
    __atomic_store_n(&count, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&counting, 1, __ATOMIC_SEQ_CST);
}

uint64_t alloc_counter_foreign(void) { return __atomic_load_n(&foreign, __ATOMIC_SEQ_CST); }

void alloc_counter_start(void) {
    __atomic_store_n(&set_n, -1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&foreign, 0, __ATOMIC_SEQ_CST);
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
