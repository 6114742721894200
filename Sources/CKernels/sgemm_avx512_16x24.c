/* AVX-512F sgemm micro-kernel, MR = 16 x NR = 24, for BLIS 0.9's framework. */
#include <blis-serial/blis.h>
#if defined(__x86_64__)
#include <immintrin.h>

#define MR 16
#define NR 24
#define IBTPO_AVX512 __attribute__((target("avx512f")))

#define FOR24(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) \
                 X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)
#define DECL(j) __m512 c##j = _mm512_setzero_ps();
#define FMA(j) c##j = _mm512_fmadd_ps(a0, _mm512_set1_ps(bp[j]), c##j);
#define STEP(p) do { const __m512 a0 = _mm512_loadu_ps(a + (p) * MR); const float *bp = b + (p) * NR; FOR24(FMA) } while (0)

IBTPO_AVX512
void ibtpokern_sgemm_avx512_16x24(dim_t m, dim_t n, dim_t k,
                              float *restrict alpha, float *restrict a, float *restrict b,
                              float *restrict beta, float *restrict c, inc_t rs_c, inc_t cs_c,
                              auxinfo_t *restrict data, cntx_t *restrict cntx) {
    (void)cntx;
    FOR24(DECL)
    if (rs_c == 1)
        for (dim_t j = 0; j < n; j++) _mm_prefetch((const char *)(c + j * cs_c), _MM_HINT_T0);
    dim_t p = 0;
    for (; p + 4 <= k; p += 4) {
        _mm_prefetch((const char *)(a + (p + 8) * MR), _MM_HINT_T0);
        _mm_prefetch((const char *)(a + (p + 10) * MR), _MM_HINT_T0);
        STEP(p); STEP(p + 1); STEP(p + 2); STEP(p + 3);
    }
    for (; p < k; p++) STEP(p);
    if (data) {
        _mm_prefetch((const char *)bli_auxinfo_next_b(data), _MM_HINT_T1);
        _mm_prefetch((const char *)bli_auxinfo_next_a(data), _MM_HINT_T1);
    }
    const __m512 va = _mm512_set1_ps(*alpha), vb = _mm512_set1_ps(*beta);
    const int beta0 = (*beta == 0.0f);
    if (rs_c == 1) {
        const __mmask16 mk = m >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << m) - 1);
#define COL(j) if (n > (j)) { float *cj = c + (j) * cs_c; \
            __m512 r = _mm512_mul_ps(va, c##j); \
            if (!beta0) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mk, cj), r); \
            _mm512_mask_storeu_ps(cj, mk, r); }
        FOR24(COL)
#undef COL
        return;
    }
    float ct[MR * NR] __attribute__((aligned(64)));
#define PUT(j) _mm512_store_ps(ct + (j) * MR, c##j);
    FOR24(PUT)
#undef PUT
    const float al = *alpha, be = *beta;
    for (dim_t j = 0; j < n; j++)
        for (dim_t i = 0; i < m; i++) {
            float *cij = c + i * rs_c + j * cs_c;
            *cij = beta0 ? al * ct[j * MR + i] : al * ct[j * MR + i] + be * *cij;
        }
}

/* ---- packing ---------------------------------------------------------------------- */
/* p[i + q*ldp] = kappa * a[i*inca + q*lda] for i < cdim, q < n; zeros for cdim <= i < W
 * and for n <= q < n_max (all W rows). W = panel width (16 or 24). */

/* 16x16 transpose of r[0..15] in place: afterwards r[q] holds column q. */
IBTPO_AVX512 static inline void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    /* u[4g + s] lane L holds column 4L + s of rows 4g..4g+3 */
    for (int s = 0; s < 4; s++) {
        t[s]      = _mm512_shuffle_f32x4(u[s], u[4 + s], 0x88);       /* lanes 0,2 of g0 | 0,2 of g1 */
        t[4 + s]  = _mm512_shuffle_f32x4(u[s], u[4 + s], 0xDD);       /* lanes 1,3 */
        t[8 + s]  = _mm512_shuffle_f32x4(u[8 + s], u[12 + s], 0x88);
        t[12 + s] = _mm512_shuffle_f32x4(u[8 + s], u[12 + s], 0xDD);
    }
    for (int s = 0; s < 4; s++) {
        r[s]      = _mm512_shuffle_f32x4(t[s], t[8 + s], 0x88);       /* lane 0 */
        r[8 + s]  = _mm512_shuffle_f32x4(t[s], t[8 + s], 0xDD);       /* lane 2 */
        r[4 + s]  = _mm512_shuffle_f32x4(t[4 + s], t[12 + s], 0x88);  /* lane 1 */
        r[12 + s] = _mm512_shuffle_f32x4(t[4 + s], t[12 + s], 0xDD);  /* lane 3 */
    }
}

/* Rows i0 .. i0+rows-1 (rows <= 16) of a k-contiguous source into p rows off .. off+15,
 * columns q < n; the store writes `smask` rows. */
IBTPO_AVX512 static void pack_rows_t(dim_t rows, dim_t n, const float *a, inc_t inca, float *p, inc_t ldp,
                                     __mmask16 smask, __m512 vk, int scale) {
    dim_t q = 0;
    __m512 r[16];
    for (; q < n; q += 16) {
        const dim_t w = n - q < 16 ? n - q : 16;
        const __mmask16 lm = w == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << w) - 1);
        for (int i = 0; i < 16; i++)
            r[i] = i < rows ? _mm512_maskz_loadu_ps(lm, a + i * inca + q) : _mm512_setzero_ps();
        transpose16(r);
        for (int j = 0; j < w; j++)
            _mm512_mask_storeu_ps(p + (q + j) * ldp, smask, scale ? _mm512_mul_ps(vk, r[j]) : r[j]);
    }
}

IBTPO_AVX512 static void pack_w(int W, dim_t cdim, dim_t n, dim_t n_max, float kappa, const float *a, inc_t inca,
                                inc_t lda, float *p, inc_t ldp) {
    const __m512 vk = _mm512_set1_ps(kappa), z = _mm512_setzero_ps();
    const int scale = kappa != 1.0f;
    if (inca == 1) {
        const dim_t lo = cdim < 16 ? cdim : 16, hi = cdim > 16 ? cdim - 16 : 0;
        const __mmask16 ml = (__mmask16)((1u << lo) - 1) | (lo == 16 ? 0xFFFF : 0);
        const __mmask16 mh = (__mmask16)((1u << hi) - 1);
        for (dim_t q = 0; q < n; q++) {
            const float *s = a + q * lda;
            _mm_prefetch((const char *)(s + 8 * lda), _MM_HINT_T0);
            if (W == 24) _mm_prefetch((const char *)(s + 8 * lda + 23), _MM_HINT_T0);
            float *d = p + q * ldp;
            __m512 x = _mm512_maskz_loadu_ps(ml, s);
            _mm512_storeu_ps(d, scale ? _mm512_mul_ps(vk, x) : x);
            if (W == 24) {
                __m512 y = _mm512_maskz_loadu_ps(mh, s + 16);
                _mm512_mask_storeu_ps(d + 16, 0xFF, scale ? _mm512_mul_ps(vk, y) : y);
            }
        }
    } else if (lda == 1) {
        pack_rows_t(cdim < 16 ? cdim : 16, n, a, inca, p, ldp, 0xFFFF, vk, scale);
        if (W == 24) pack_rows_t(cdim > 16 ? cdim - 16 : 0, n, a + 16 * inca, inca, p + 16, ldp, 0xFF, vk, scale);
    } else {
        for (dim_t q = 0; q < n; q++) {
            float *d = p + q * ldp;
            for (dim_t i = 0; i < W; i++) d[i] = i < cdim ? kappa * a[i * inca + q * lda] : 0.0f;
        }
    }
    for (dim_t q = n; q < n_max; q++) {
        _mm512_storeu_ps(p + q * ldp, z);
        if (W == 24) _mm512_mask_storeu_ps(p + q * ldp + 16, 0xFF, z);
    }
}

IBTPO_AVX512
void ibtpokern_spackm_avx512_16xk(conj_t conja, pack_t schema, dim_t cdim, dim_t n, dim_t n_max, float *restrict kappa,
                                  float *restrict a, inc_t inca, inc_t lda, float *restrict p, inc_t ldp,
                                  cntx_t *restrict cntx) {
    (void)conja; (void)schema; (void)cntx;
    pack_w(16, cdim, n, n_max, *kappa, a, inca, lda, p, ldp);
}

IBTPO_AVX512
void ibtpokern_spackm_avx512_24xk(conj_t conja, pack_t schema, dim_t cdim, dim_t n, dim_t n_max, float *restrict kappa,
                                  float *restrict a, inc_t inca, inc_t lda, float *restrict p, inc_t ldp,
                                  cntx_t *restrict cntx) {
    (void)conja; (void)schema; (void)cntx;
    pack_w(24, cdim, n, n_max, *kappa, a, inca, lda, p, ldp);
}
#endif
