/* AVX-512F sgemm micro-kernel, MR = 32 x NR = 12, for BLIS 0.9's framework.
 *
 * BLIS packs A into micro-panels of 32 rows (for each p: a[p*32 + i]) and B into
 * micro-panels of 12 columns (for each p: b[p*12 + j]), zero-padded to 32 and 12 at the
 * edges, and calls this kernel for one m x n (m <= 32, n <= 12) tile of C:
 *     C = beta*C + alpha*A*B.
 * The tile lives in 24 zmm accumulators (two per column); each B element is broadcast
 * straight from memory into the FMA. Registered with column preference (FALSE): BLIS
 * transposes the problem so C's tile is column-stored (rs_c == 1) whenever C is
 * row- or column-major; a general-stride C goes through a local tile.
 *
 * Compiled for AVX-512F through the function's target attribute only: nothing else in
 * this target uses AVX-512, and the kernel is registered only after cpuid + xgetbv say
 * the CPU and OS support it. beta == 0 never reads C (NaN garbage in C is overwritten). */
#include <blis-serial/blis.h>
#if defined(__x86_64__)
#include <immintrin.h>

#define MR 32
#define NR 12

/* Prefetch distance along k, in iterations of the packed A panel (128 bytes each). */
#define A_PF_DIST 8

#define IBTPO_AVX512 __attribute__((target("avx512f")))

#define STEP(p) do { \
    __m512 a0 = _mm512_loadu_ps(a + (p) * MR); \
    __m512 a1 = _mm512_loadu_ps(a + (p) * MR + 16); \
    const float *bp = b + (p) * NR; \
    __m512 bb; \
    bb = _mm512_set1_ps(bp[0]);  c00 = _mm512_fmadd_ps(a0, bb, c00); c01 = _mm512_fmadd_ps(a1, bb, c01); \
    bb = _mm512_set1_ps(bp[1]);  c10 = _mm512_fmadd_ps(a0, bb, c10); c11 = _mm512_fmadd_ps(a1, bb, c11); \
    bb = _mm512_set1_ps(bp[2]);  c20 = _mm512_fmadd_ps(a0, bb, c20); c21 = _mm512_fmadd_ps(a1, bb, c21); \
    bb = _mm512_set1_ps(bp[3]);  c30 = _mm512_fmadd_ps(a0, bb, c30); c31 = _mm512_fmadd_ps(a1, bb, c31); \
    bb = _mm512_set1_ps(bp[4]);  c40 = _mm512_fmadd_ps(a0, bb, c40); c41 = _mm512_fmadd_ps(a1, bb, c41); \
    bb = _mm512_set1_ps(bp[5]);  c50 = _mm512_fmadd_ps(a0, bb, c50); c51 = _mm512_fmadd_ps(a1, bb, c51); \
    bb = _mm512_set1_ps(bp[6]);  c60 = _mm512_fmadd_ps(a0, bb, c60); c61 = _mm512_fmadd_ps(a1, bb, c61); \
    bb = _mm512_set1_ps(bp[7]);  c70 = _mm512_fmadd_ps(a0, bb, c70); c71 = _mm512_fmadd_ps(a1, bb, c71); \
    bb = _mm512_set1_ps(bp[8]);  c80 = _mm512_fmadd_ps(a0, bb, c80); c81 = _mm512_fmadd_ps(a1, bb, c81); \
    bb = _mm512_set1_ps(bp[9]);  c90 = _mm512_fmadd_ps(a0, bb, c90); c91 = _mm512_fmadd_ps(a1, bb, c91); \
    bb = _mm512_set1_ps(bp[10]); cA0 = _mm512_fmadd_ps(a0, bb, cA0); cA1 = _mm512_fmadd_ps(a1, bb, cA1); \
    bb = _mm512_set1_ps(bp[11]); cB0 = _mm512_fmadd_ps(a0, bb, cB0); cB1 = _mm512_fmadd_ps(a1, bb, cB1); \
} while (0)

/* Column j of the tile: rows 0..15 in lo, 16..31 in hi; masks select the live rows. */
IBTPO_AVX512 static inline void store_col(float *cj, __m512 lo, __m512 hi, __m512 va, __m512 vb, int beta0,
                                          __mmask16 mlo, __mmask16 mhi) {
    if (beta0) {
        _mm512_mask_storeu_ps(cj, mlo, _mm512_mul_ps(va, lo));
        _mm512_mask_storeu_ps(cj + 16, mhi, _mm512_mul_ps(va, hi));
    } else {
        __m512 x0 = _mm512_maskz_loadu_ps(mlo, cj);
        __m512 x1 = _mm512_maskz_loadu_ps(mhi, cj + 16);
        _mm512_mask_storeu_ps(cj, mlo, _mm512_fmadd_ps(va, lo, _mm512_mul_ps(vb, x0)));
        _mm512_mask_storeu_ps(cj + 16, mhi, _mm512_fmadd_ps(va, hi, _mm512_mul_ps(vb, x1)));
    }
}

IBTPO_AVX512
void ibtpokern_sgemm_avx512_32x12(dim_t m, dim_t n, dim_t k,
                              float *restrict alpha, float *restrict a, float *restrict b,
                              float *restrict beta, float *restrict c, inc_t rs_c, inc_t cs_c,
                              auxinfo_t *restrict data, cntx_t *restrict cntx) {
    (void)cntx;
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(), c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
    __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps(), c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
    __m512 c80 = _mm512_setzero_ps(), c81 = _mm512_setzero_ps(), c90 = _mm512_setzero_ps(), c91 = _mm512_setzero_ps();
    __m512 cA0 = _mm512_setzero_ps(), cA1 = _mm512_setzero_ps(), cB0 = _mm512_setzero_ps(), cB1 = _mm512_setzero_ps();

    /* Bring C's columns towards L1 while the k loop runs (only the live part). */
    if (rs_c == 1) {
        for (dim_t j = 0; j < n; j++) {
            _mm_prefetch((const char *)(c + j * cs_c), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + j * cs_c + 31), _MM_HINT_T0);
        }
    }

    dim_t p = 0;
    for (; p + 4 <= k; p += 4) {
        _mm_prefetch((const char *)(a + (p + A_PF_DIST) * MR), _MM_HINT_T0);
        _mm_prefetch((const char *)(a + (p + A_PF_DIST) * MR + 16), _MM_HINT_T0);
        _mm_prefetch((const char *)(a + (p + A_PF_DIST + 2) * MR), _MM_HINT_T0);
        _mm_prefetch((const char *)(a + (p + A_PF_DIST + 2) * MR + 16), _MM_HINT_T0);
        STEP(p); STEP(p + 1); STEP(p + 2); STEP(p + 3);
    }
    for (; p < k; p++) STEP(p);

    /* The next micro-panels (BLIS tells us where they are) towards L2. */
    if (data) {
        _mm_prefetch((const char *)bli_auxinfo_next_b(data), _MM_HINT_T1);
        _mm_prefetch((const char *)bli_auxinfo_next_a(data), _MM_HINT_T1);
    }

    const __m512 va = _mm512_set1_ps(*alpha), vb = _mm512_set1_ps(*beta);
    const int beta0 = (*beta == 0.0f);
    if (rs_c == 1) {
        const __mmask16 mlo = m >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << m) - 1);
        const __mmask16 mhi = m >= 32 ? (__mmask16)0xFFFF : m > 16 ? (__mmask16)((1u << (m - 16)) - 1) : (__mmask16)0;
#define COL(j, lo, hi) if (n > (j)) store_col(c + (j) * cs_c, lo, hi, va, vb, beta0, mlo, mhi)
        COL(0, c00, c01); COL(1, c10, c11); COL(2, c20, c21); COL(3, c30, c31);
        COL(4, c40, c41); COL(5, c50, c51); COL(6, c60, c61); COL(7, c70, c71);
        COL(8, c80, c81); COL(9, c90, c91); COL(10, cA0, cA1); COL(11, cB0, cB1);
#undef COL
        return;
    }
    /* General stride: the tile goes through memory, then element by element. */
    float ct[MR * NR] __attribute__((aligned(64)));
#define PUT(j, lo, hi) _mm512_store_ps(ct + (j) * MR, lo); _mm512_store_ps(ct + (j) * MR + 16, hi)
    PUT(0, c00, c01); PUT(1, c10, c11); PUT(2, c20, c21); PUT(3, c30, c31);
    PUT(4, c40, c41); PUT(5, c50, c51); PUT(6, c60, c61); PUT(7, c70, c71);
    PUT(8, c80, c81); PUT(9, c90, c91); PUT(10, cA0, cA1); PUT(11, cB0, cB1);
#undef PUT
    const float al = *alpha, be = *beta;
    for (dim_t j = 0; j < n; j++) {
        for (dim_t i = 0; i < m; i++) {
            float *cij = c + i * rs_c + j * cs_c;
            *cij = beta0 ? al * ct[j * MR + i] : al * ct[j * MR + i] + be * *cij;
        }
    }
}
#endif /* __x86_64__ */
