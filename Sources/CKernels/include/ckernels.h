/* libibtpo's own sgemm micro-kernels, plugged into BLIS 0.9 through a context, and the
 * run-time choice between them and BLIS's shipped kernels (cpuid + xgetbv, never compile
 * flags: every function here runs on any x86-64 CPU; kernels a CPU lacks are never called).
 *
 * This header is what Swift sees; it does not include <blis.h>. */
#ifndef IBTPO_CKERNELS_H
#define IBTPO_CKERNELS_H
#include <stdint.h>

/* Kernel ids (explicit values, never reused). */
enum {
    IBTPO_CK_AUTO = 0,    /* the selection rule (see ibtpokern_auto_kernel) */
    IBTPO_CK_BLIS = 1,    /* BLIS's own choice for this CPU (zen3, haswell, ...): cntx = NULL */
    IBTPO_CK_AVX512 = 2,  /* ours: AVX-512F sgemm 16x24 micro-kernel + packm kernels, BLIS blocking */
    IBTPO_CK_COUNT = 3
};

/* 1 if this CPU and OS can run kernel `id` (AVX-512: CPUID F/DQ/BW/VL and XCR0 opmask/ZMM
 * state enabled), else 0. AUTO and BLIS are always supported. */
int ibtpokern_kernel_supported(int id);

/* Short static name of kernel `id`: "auto", "blis", "avx512"; "?" for an unknown id. */
const char *ibtpokern_kernel_id_name(int id);

/* The kernel the selection rule picks on this CPU (never AUTO). */
int ibtpokern_auto_kernel(void);

/* The kernel in use (never AUTO). The first call reads IBTPO_KERNEL (auto|blis|avx512);
 * an unknown or unsupported value leaves the automatic choice in place and records a
 * warning (ibtpokern_kernel_warning), printed once to stderr. */
int ibtpokern_kernel_current(void);

/* Static text of the warning left by IBTPO_KERNEL, or NULL when there was none. */
const char *ibtpokern_kernel_warning(void);

/* Forces kernel `id` (AUTO = the selection rule) for all later products. Returns 0, or -1
 * (nothing changed) when `id` is unknown or the CPU cannot run it. Not meant to be called
 * while another thread multiplies (the switch is atomic, a product in flight finishes
 * with the kernel it started with). */
int ibtpokern_kernel_select(int id);

/* Human-readable description of the kernel in use, e.g. "avx512 16x24 (ours)" or
 * "zen3 (BLIS)". Static storage, valid for the life of the process. */
const char *ibtpokern_kernel_description(void);

/* C(m x n) = alpha*A(m x k)*B(k x n) + beta*C on the calling thread, with the kernel in use,
 * through bli_sgemm_ex (single-threaded inside BLIS). Element (i, j) of A is
 * a[i*rs_a + j*cs_a], likewise B and C. m, n, k >= 0. beta == 0 never reads C. */
void ibtpokern_sgemm(int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t rs_a, int64_t cs_a,
                    const float *b, int64_t rs_b, int64_t cs_b,
                    float beta, float *c, int64_t rs_c, int64_t cs_c);

/* Widest FMA vector width in bits this CPU and OS run (512, 256), or 0 without FMA. */
int ibtpokern_fma_width(void);

/* Runs `iters` iterations of an FMA loop with independent accumulators at `width` bits
 * (512 or 256; must be <= ibtpokern_fma_width()) and returns the float operations
 * performed (2 per lane per FMA), or 0 if the width is not available. `sink` receives a
 * value derived from the accumulators so the loop cannot be optimised away. */
double ibtpokern_fma_loop(int width, int64_t iters, float *sink);

/* CPUID vendor string ("GenuineIntel", "AuthenticAMD", ...) and display family/model. */
const char *ibtpokern_cpu_vendor(void);
int ibtpokern_cpu_family(void);
int ibtpokern_cpu_model(void);

/* The wrapping sum of n 64-bit words at p (a read-bandwidth loop; n >= 0). */
uint64_t ibtpokern_read_sum(const uint64_t *p, int64_t n);

/* The implementation ibtpokern_sgemm_nt_stream uses on this CPU with the kernel in use:
 * 2 AVX-512F (when the sgemm kernel is ours, avx512), 1 AVX2+FMA, 0 portable C. */
int ibtpokern_stream_impl(void);

/* Columns j0..<j1 (j0 a multiple of 4; j1 one too, or n) of y (m x n, row stride ldy) = x (m x k, stride ldx)
 * . w^T for w (n x k, row stride ldw), plus beta * y when beta != 0 (y is not read when
 * beta == 0). `impl` from ibtpokern_stream_impl (a value the CPU cannot run must not be
 * passed). Each element is computed the same way whatever the column range, so threads may
 * split 0..<n into ranges of multiples of 4 freely. */
void ibtpokern_sgemm_nt_stream(int impl, int64_t m, int64_t n, int64_t j0, int64_t j1, int64_t k, const float *x,
                               int64_t ldx, const float *w, int64_t ldw, float beta, float *y, int64_t ldy);

#endif
