/* The CPU's real fp32 peak: an FMA loop with independent accumulators (more than FMA
 * latency x FMA ports on every current x86 core, so the loop is throughput-bound), at
 * 512 or 256 bits. Each function carries its own target attribute and is called only
 * after ibtpokern_fma_width() says the CPU and OS run that width. */
#include "ckernels.h"
#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f")))
static double loop512(int64_t iters, float *sink) {
    const __m512 mul = _mm512_set1_ps(0.9999f), add = _mm512_set1_ps(1e-4f);
    __m512 x[16];
    for (int i = 0; i < 16; i++) x[i] = _mm512_set1_ps((float)i);
    for (int64_t t = 0; t < iters; t++) {
        x[0] = _mm512_fmadd_ps(x[0], mul, add);   x[1] = _mm512_fmadd_ps(x[1], mul, add);
        x[2] = _mm512_fmadd_ps(x[2], mul, add);   x[3] = _mm512_fmadd_ps(x[3], mul, add);
        x[4] = _mm512_fmadd_ps(x[4], mul, add);   x[5] = _mm512_fmadd_ps(x[5], mul, add);
        x[6] = _mm512_fmadd_ps(x[6], mul, add);   x[7] = _mm512_fmadd_ps(x[7], mul, add);
        x[8] = _mm512_fmadd_ps(x[8], mul, add);   x[9] = _mm512_fmadd_ps(x[9], mul, add);
        x[10] = _mm512_fmadd_ps(x[10], mul, add); x[11] = _mm512_fmadd_ps(x[11], mul, add);
        x[12] = _mm512_fmadd_ps(x[12], mul, add); x[13] = _mm512_fmadd_ps(x[13], mul, add);
        x[14] = _mm512_fmadd_ps(x[14], mul, add); x[15] = _mm512_fmadd_ps(x[15], mul, add);
    }
    __m512 s = x[0];
    for (int i = 1; i < 16; i++) s = _mm512_add_ps(s, x[i]);
    *sink = _mm512_reduce_add_ps(s);
    return (double)iters * 16 * 16 * 2;
}

__attribute__((target("avx2,fma")))
static double loop256(int64_t iters, float *sink) {
    const __m256 mul = _mm256_set1_ps(0.9999f), add = _mm256_set1_ps(1e-4f);
    __m256 x[12];
    for (int i = 0; i < 12; i++) x[i] = _mm256_set1_ps((float)i);
    for (int64_t t = 0; t < iters; t++) {
        x[0] = _mm256_fmadd_ps(x[0], mul, add);   x[1] = _mm256_fmadd_ps(x[1], mul, add);
        x[2] = _mm256_fmadd_ps(x[2], mul, add);   x[3] = _mm256_fmadd_ps(x[3], mul, add);
        x[4] = _mm256_fmadd_ps(x[4], mul, add);   x[5] = _mm256_fmadd_ps(x[5], mul, add);
        x[6] = _mm256_fmadd_ps(x[6], mul, add);   x[7] = _mm256_fmadd_ps(x[7], mul, add);
        x[8] = _mm256_fmadd_ps(x[8], mul, add);   x[9] = _mm256_fmadd_ps(x[9], mul, add);
        x[10] = _mm256_fmadd_ps(x[10], mul, add); x[11] = _mm256_fmadd_ps(x[11], mul, add);
    }
    __m256 s = x[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, x[i]);
    float v[8];
    _mm256_storeu_ps(v, s);
    *sink = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    return (double)iters * 12 * 8 * 2;
}

#endif /* __x86_64__ */

double ibtpokern_fma_loop(int width, int64_t iters, float *sink) {
#if !defined(__x86_64__)
    (void)width; (void)iters; (void)sink;
    return 0;
#else
    float dummy;
    if (!sink) sink = &dummy;
    if (iters < 0) iters = 0;
    const int w = ibtpokern_fma_width();
    if (width == 512 && w >= 512) return loop512(iters, sink);
    if (width == 256 && w >= 256) return loop256(iters, sink);
    return 0;
#endif
}
