/* The few atomic operations (and the thread id) libibtpo's thread pool needs (GCC/Clang __atomic builtins),
 * header-only so that Swift imports them without a compiled C target. */
#ifndef IBTPO_ATOMICS_H
#define IBTPO_ATOMICS_H
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The calling thread's Linux thread id (for tests that attribute work to threads). */
static inline int32_t ibtpo_gettid(void) { return (int32_t)syscall(SYS_gettid); }

static inline uint64_t ibtpo_load_acquire_u64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void ibtpo_store_release_u64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline int64_t ibtpo_load_acquire_i64(const int64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void ibtpo_store_release_i64(int64_t *p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
/* Atomically subtracts v and returns the new value. */
static inline int64_t ibtpo_sub_fetch_i64(int64_t *p, int64_t v) { return __atomic_sub_fetch(p, v, __ATOMIC_ACQ_REL); }

/* Sets *p from 0 to 1 and returns 1, or returns 0 (and leaves *p) when it was not 0. */
static inline int ibtpo_try_acquire_i64(int64_t *p) {
    int64_t expected = 0;
    return __atomic_compare_exchange_n(p, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/* A spin-wait hint (PAUSE on x86). */
static inline void ibtpo_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
#endif
