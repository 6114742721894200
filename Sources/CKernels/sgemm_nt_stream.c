/* y (m x n, row stride ldy) = x (m x k, row stride ldx) . w^T (+ beta y) for w (n x k, row
 * stride ldw) row-major: the product of a few activation rows with a weight matrix, read in
 * place. A packed GEMM copies the whole weight matrix into panels on every call, which
 * doubles the memory traffic of decoding (one or a few tokens per weight read) and, for
 * m = 1, wastes all but one row of its micro-tile. Here each block of 4 weight rows is read
 * once from memory and reused from L1 for every block of up to 4 activation rows.
 *
 * Every y[i][j] is one dot product summed in the same order (vector lanes over k in steps of
 * the vector width, a fixed lane reduction, then beta), whatever m, n or the row range a
 * thread computes: results do not depend on the split or on the number of threads. */
#include "ckernels.h"
#include <stddef.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* ---- portable ---------------------------------------------------------------------- */

static void rows_portable(int64_t m, int64_t j0, int64_t j1, int64_t k, const float *x, int64_t ldx,
                          const float *w, int64_t ldw, float beta, float *y, int64_t ldy) {
    for (int64_t j = j0; j < j1; j++)
        for (int64_t i = 0; i < m; i++) {
            float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            const float *a = x + i * ldx, *b = w + j * ldw;
            int64_t p = 0;
            for (; p + 8 <= k; p += 8)
                for (int l = 0; l < 8; l++) s[l] += a[p + l] * b[p + l];
            for (; p < k; p++) s[p & 7] += a[p] * b[p];
            const float r = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
            y[i * ldy + j] = beta == 0.0f ? r : r + beta * y[i * ldy + j];
        }
}

#if defined(__x86_64__)

/* Every pass over a block of weight rows, for every block of activation rows, prefetches
 * the weight rows PF_ROWS further on: the next blocks stream in from memory while the core
 * computes on this one from L1 (without it, m = 8 ran at half the memory bandwidth; 16 rows
 * ahead measured best on Zen 5 for m = 1...64). Prefetches never fault, past the end too. */
#define PF_ROWS 16
#define PREFETCH4(b0, b1, b2, b3, d, p)                                                                      \
    do {                                                                                                     \
        _mm_prefetch((const char *)((b0) + (d) + (p)), _MM_HINT_T0);                                         \
        _mm_prefetch((const char *)((b1) + (d) + (p)), _MM_HINT_T0);                                         \
        _mm_prefetch((const char *)((b2) + (d) + (p)), _MM_HINT_T0);                                         \
        _mm_prefetch((const char *)((b3) + (d) + (p)), _MM_HINT_T0);                                         \
    } while (0)

/* ---- AVX-512F ---------------------------------------------------------------------- */

#define T512 __attribute__((target("avx512f")))

/* MI activation rows x 4 weight rows (weight rows past n read row n-1 and are not stored). */
#define BLOCK512(MI)                                                                                          \
    T512 static void blk512_##MI(int64_t j, int64_t n, int64_t k, const float *x, int64_t ldx,              \
                                 const float *w, int64_t ldw, float beta, float *y, int64_t ldy) {         \
        const float *b0 = w + j * ldw, *b1 = w + (j + 1 < n ? j + 1 : n - 1) * ldw,                          \
                    *b2 = w + (j + 2 < n ? j + 2 : n - 1) * ldw, *b3 = w + (j + 3 < n ? j + 3 : n - 1) * ldw;  \
        const int64_t pfd = PF_ROWS * ldw;                                                                   \
        __m512 acc[MI][4];                                                                                   \
        for (int i = 0; i < MI; i++)                                                                         \
            for (int q = 0; q < 4; q++) acc[i][q] = _mm512_setzero_ps();                                     \
        int64_t p = 0;                                                                                       \
        for (; p + 16 <= k; p += 16) {                                                                       \
            PREFETCH4(b0, b1, b2, b3, pfd, p);                                                               \
            const __m512 w0 = _mm512_loadu_ps(b0 + p), w1 = _mm512_loadu_ps(b1 + p),                         \
                         w2 = _mm512_loadu_ps(b2 + p), w3 = _mm512_loadu_ps(b3 + p);                         \
            for (int i = 0; i < MI; i++) {                                                                   \
                const __m512 a = _mm512_loadu_ps(x + i * ldx + p);                                           \
                acc[i][0] = _mm512_fmadd_ps(a, w0, acc[i][0]);                                               \
                acc[i][1] = _mm512_fmadd_ps(a, w1, acc[i][1]);                                               \
                acc[i][2] = _mm512_fmadd_ps(a, w2, acc[i][2]);                                               \
                acc[i][3] = _mm512_fmadd_ps(a, w3, acc[i][3]);                                               \
            }                                                                                                \
        }                                                                                                    \
        if (p < k) {                                                                                         \
            const __mmask16 mk = (__mmask16)((1u << (k - p)) - 1);                                           \
            const __m512 w0 = _mm512_maskz_loadu_ps(mk, b0 + p), w1 = _mm512_maskz_loadu_ps(mk, b1 + p),     \
                         w2 = _mm512_maskz_loadu_ps(mk, b2 + p), w3 = _mm512_maskz_loadu_ps(mk, b3 + p);     \
            for (int i = 0; i < MI; i++) {                                                                   \
                const __m512 a = _mm512_maskz_loadu_ps(mk, x + i * ldx + p);                                 \
                acc[i][0] = _mm512_fmadd_ps(a, w0, acc[i][0]);                                               \
                acc[i][1] = _mm512_fmadd_ps(a, w1, acc[i][1]);                                               \
                acc[i][2] = _mm512_fmadd_ps(a, w2, acc[i][2]);                                               \
                acc[i][3] = _mm512_fmadd_ps(a, w3, acc[i][3]);                                               \
            }                                                                                                \
        }                                                                                                    \
        const int64_t nq = n - j < 4 ? n - j : 4;                                                            \
        for (int i = 0; i < MI; i++)                                                                         \
            for (int64_t q = 0; q < nq; q++) {                                                               \
                const float r = _mm512_reduce_add_ps(acc[i][q]);                                             \
                float *o = y + i * ldy + j + q;                                                              \
                *o = beta == 0.0f ? r : r + beta * *o;                                                       \
            }                                                                                                \
    }
BLOCK512(1)
BLOCK512(2)
BLOCK512(3)
BLOCK512(4)

T512 static void rows_avx512(int64_t m, int64_t j0, int64_t j1, int64_t k, const float *x, int64_t ldx,
                             const float *w, int64_t ldw, float beta, float *y, int64_t ldy, int64_t n) {
    for (int64_t j = j0; j < j1; j += 4)
        for (int64_t i = 0; i < m; i += 4) {
            const float *xi = x + i * ldx;
            float *yi = y + i * ldy;
            switch (m - i >= 4 ? 4 : m - i) {
            case 4: blk512_4(j, n, k, xi, ldx, w, ldw, beta, yi, ldy); break;
            case 3: blk512_3(j, n, k, xi, ldx, w, ldw, beta, yi, ldy); break;
            case 2: blk512_2(j, n, k, xi, ldx, w, ldw, beta, yi, ldy); break;
            default: blk512_1(j, n, k, xi, ldx, w, ldw, beta, yi, ldy); break;
            }
        }
}

/* ---- AVX2 + FMA -------------------------------------------------------------------- */

#define T256 __attribute__((target("avx2,fma")))

T256 static inline float hsum256(__m256 v) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

#define BLOCK256(MI)                                                                                          \
    T256 static void blk256_##MI(int64_t j, int64_t n, int64_t k, const float *x, int64_t ldx,              \
                                 const float *w, int64_t ldw, float beta, float *y, int64_t ldy) {         \
        const float *b0 = w + j * ldw, *b1 = w + (j + 1 < n ? j + 1 : n - 1) * ldw,                          \
                    *b2 = w + (j + 2 < n ? j + 2 : n - 1) * ldw, *b3 = w + (j + 3 < n ? j + 3 : n - 1) * ldw;  \
        const int64_t pfd = PF_ROWS * ldw;                                                                   \
        __m256 acc[MI][4];                                                                                   \
        for (int i = 0; i < MI; i++)                                                                         \
            for (int q = 0; q < 4; q++) acc[i][q] = _mm256_setzero_ps();                                     \
        int64_t p = 0;                                                                                       \
        for (; p + 8 <= k; p += 8) {                                                                         \
            PREFETCH4(b0, b1, b2, b3, pfd, p);                                                               \
            const __m256 w0 = _mm256_loadu_ps(b0 + p), w1 = _mm256_loadu_ps(b1 + p),                         \
                         w2 = _mm256_loadu_ps(b2 + p), w3 = _mm256_loadu_ps(b3 + p);                         \
            for (int i = 0; i < MI; i++) {                                                                   \
                const __m256 a = _mm256_loadu_ps(x + i * ldx + p);                                           \
                acc[i][0] = _mm256_fmadd_ps(a, w0, acc[i][0]);                                               \
                acc[i][1] = _mm256_fmadd_ps(a, w1, acc[i][1]);                                               \
                acc[i][2] = _mm256_fmadd_ps(a, w2, acc[i][2]);                                               \
                acc[i][3] = _mm256_fmadd_ps(a, w3, acc[i][3]);                                               \
            }                                                                                                \
        }                                                                                                    \
        const int64_t nq = n - j < 4 ? n - j : 4;                                                            \
        const float *bq[4] = {b0, b1, b2, b3};                                                               \
        for (int i = 0; i < MI; i++)                                                                         \
            for (int64_t q = 0; q < nq; q++) {                                                               \
                float r = hsum256(acc[i][q]);                                                                \
                for (int64_t t = p; t < k; t++) r += x[i * ldx + t] * bq[q][t];                              \
                float *o = y + i * ldy + j + q;                                                              \
                *o = beta == 0.0f ? r : r + beta * *o;                                                       \
            }                                                                                                \
    }
BLOCK256(1)
BLOCK256(2)
BLOCK256(3)
BLOCK256(4)

T256 static void rows_avx2(int64_t m, int64_t j0, int64_t j1, int64_t k, const float *x, int64_t ldx,
                           const float *w, int64_t ldw, float beta, float *y, int64_t ldy, int64_t n) {
    for (int64_t j = j0; j < j1; j += 4)
        for (int64_t i = 0; i < m; i += 4) {
            const float *xi = x + i * ldx;
            float *yi = y + i * ldy;
            switch (m - i >= 4 ? 4 : m - i) {
            case 4: blk256_4(j, n, k, xi, ldx, w, ldw, beta, yi, ldy); break;
            case 3: blk256_3(j, n, k, xi, ldx, w, ldw, beta, yi, ldy); break;
            case 2: blk256_2(j, n, k, xi, ldx, w, ldw, beta, yi, ldy); break;
            default: blk256_1(j, n, k, xi, ldx, w, ldw, beta, yi, ldy); break;
            }
        }
}
#endif

int ibtpokern_stream_impl(void) {
#if defined(__x86_64__)
    if (ibtpokern_kernel_current() == IBTPO_CK_AVX512) return 2;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

void ibtpokern_sgemm_nt_stream(int impl, int64_t m, int64_t n, int64_t j0, int64_t j1, int64_t k, const float *x,
                               int64_t ldx, const float *w, int64_t ldw, float beta, float *y, int64_t ldy) {
    if (m <= 0 || j0 >= j1) return;
#if defined(__x86_64__)
    if (impl == 2) { rows_avx512(m, j0, j1, k, x, ldx, w, ldw, beta, y, ldy, n); return; }
    if (impl == 1) { rows_avx2(m, j0, j1, k, x, ldx, w, ldw, beta, y, ldy, n); return; }
#endif
    rows_portable(m, j0, j1, k, x, ldx, w, ldw, beta, y, ldy);
}
