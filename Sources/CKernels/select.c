/* Which sgemm kernel runs: cpuid + xgetbv at run time, an IBTPO_KERNEL override, and the
 * BLIS context that carries our micro-kernel and block sizes into bli_sgemm_ex.
 *
 * Selection rule (ibtpokern_auto_kernel), by measurement (docs/kernels.md):
 *   - AVX-512F/DQ/BW/VL usable (CPUID and XCR0 opmask + ZMM state) on an Intel CPU -> ours
 *     (Debian's BLIS 0.9 has no skx config and runs its AVX2 haswell kernels there, at
 *     about half the AVX-512 FMA peak);
 *   - AMD: see AMD_RULE below;
 *   - everything else -> BLIS's own choice (zen3, haswell, ..., generic).
 *
 * Deliberately no _POSIX_C_SOURCE before <blis.h> (it breaks pthread_barrier_t there). */
#include <blis-serial/blis.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ckernels.h"

void ibtpokern_sgemm_avx512_16x24(dim_t m, dim_t n, dim_t k, float *restrict alpha, float *restrict a,
                              float *restrict b, float *restrict beta, float *restrict c, inc_t rs_c,
                              inc_t cs_c, auxinfo_t *restrict data, cntx_t *restrict cntx);
void ibtpokern_spackm_avx512_16xk(conj_t, pack_t, dim_t, dim_t, dim_t, float *, float *, inc_t, inc_t, float *, inc_t, cntx_t *);
void ibtpokern_spackm_avx512_24xk(conj_t, pack_t, dim_t, dim_t, dim_t, float *, float *, inc_t, inc_t, float *, inc_t, cntx_t *);

/* ---- CPU features ---------------------------------------------------------------- */

static struct {
    char vendor[13];
    int family, model;
    int fma256;   /* AVX2 + FMA, OS saves YMM */
    int avx512;   /* AVX-512 F, DQ, BW, VL; OS saves opmask + ZMM */
} cpu;

#if defined(__x86_64__)
static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static void detect_cpu(void) {
    unsigned a, b, c, d;
    memset(&cpu, 0, sizeof cpu);
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    const unsigned maxLeaf = a;
    memcpy(cpu.vendor, &b, 4); memcpy(cpu.vendor + 4, &d, 4); memcpy(cpu.vendor + 8, &c, 4);
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    unsigned fam = (a >> 8) & 0xF, mod = (a >> 4) & 0xF;
    if (fam == 0xF) fam += (a >> 20) & 0xFF;
    if (fam == 0x6 || fam >= 0xF) mod |= ((a >> 16) & 0xF) << 4;
    cpu.family = (int)fam; cpu.model = (int)mod;
    const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx || maxLeaf < 7) return;
    const uint64_t xcr0 = xgetbv0();
    const int osYmm = (xcr0 & 0x6) == 0x6, osZmm = (xcr0 & 0xE6) == 0xE6;
    unsigned a7, b7, c7, d7;
    __cpuid_count(7, 0, a7, b7, c7, d7);
    const int avx2 = (b7 >> 5) & 1;
    const int f = (b7 >> 16) & 1, dq = (b7 >> 17) & 1, bw = (b7 >> 30) & 1, vl = (b7 >> 31) & 1;
    cpu.fma256 = fma && avx2 && osYmm;
    cpu.avx512 = cpu.fma256 && f && dq && bw && vl && osZmm;
}
#else
/* Not x86-64: no kernel of ours, BLIS decides (cpu stays zeroed). */
static void detect_cpu(void) { memset(&cpu, 0, sizeof cpu); }
#endif

const char *ibtpokern_cpu_vendor(void) { (void)ibtpokern_kernel_current(); return cpu.vendor; }
int ibtpokern_cpu_family(void) { (void)ibtpokern_kernel_current(); return cpu.family; }
int ibtpokern_cpu_model(void) { (void)ibtpokern_kernel_current(); return cpu.model; }
int ibtpokern_fma_width(void) {
    (void)ibtpokern_kernel_current();
    return cpu.avx512 ? 512 : cpu.fma256 ? 256 : 0;
}

/* ---- our BLIS context ------------------------------------------------------------- */

/* Block sizes of our AVX-512 kernel (float). KC*NR*4 = 36 KiB: the B micro-panel in a
 * 48 KiB L1d (Ice Lake and later); MC*KC*4 = 720 KiB: the packed A block in a 1-2 MiB L2;
 * NC*KC*4 = 4.5 MiB: the packed B block in L3. MC, NC are multiples of MR, NR. On the
 * Sapphire Rapids-class test machine KC 256/384 x MC 480/960 were within its noise. */
enum { OUR_MR = 16, OUR_NR = 24, OUR_MC = 480, OUR_KC = 384, OUR_NC = 3072 };

static cntx_t ours;          /* a copy of BLIS's context for this CPU, our sgemm inside */
/* BLIS's small/unpacked ("sup") path, with the CPU's own sup kernels (AVX2 haswell/zen3
 * ones on every config Debian ships), takes the products whose smallest side is below
 * SUP_MIN or whose volume m*n*k is below SUP_VOLUME; the rest are packed and run on our
 * micro-kernel. Derivation (docs/kernels.md): on Zen 4, where AVX-512 and AVX2 have the
 * same peak, packed+ours runs at >= 0.67x sup above these limits; on a CPU with 512-bit
 * FMA pipes ours computes twice as fast, which makes the packed path the faster one there
 * (pack + compute/2 < compute when pack < compute/2, i.e. when it is >= 0.67x here). */
enum { SUP_MIN = 32, SUP_VOLUME = 96 * 96 * 96 };
static atomic_long debugCalls[3];   /* IBTPO_CK_DEBUG: products by path (blis, ours sup, ours packed) */
static int debugOn;
static void debug_report(void) {
    fprintf(stderr, "ckernels: products blis %ld, ours via sup %ld, ours packed %ld\n", (long)debugCalls[0],
            (long)debugCalls[1], (long)debugCalls[2]);
}
static int oursSup = 1;      /* 0: never take the sup path with our kernel (IBTPO_CK_SUP=0) */
static int supMissing;       /* BLIS's config for this CPU has no sup kernels (e.g. 'generic') */
static char description[96];
static const char *warning;
static char warningBuf[192];
static atomic_int current = -1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void set_float(bszid_t id, dim_t v, cntx_t *cx) {
    blksz_t *bs = bli_cntx_get_blksz(id, cx);
    bli_blksz_set_def(v, BLIS_FLOAT, bs);
    bli_blksz_set_max(v, BLIS_FLOAT, bs);
}

#if defined(__x86_64__)
static void build_ours(void) {
    memcpy(&ours, bli_gks_query_cntx(), sizeof ours);
    /* BLIS 0.9's context holds packm kernels for panels of 0..31 rows only (wider panels
     * fall back to its generic scal2m, with scalar gathers for transposed operands), so
     * our micro-kernel is 16 x 24 and brings AVX-512 packm kernels for both panels. */
    bli_cntx_set_l3_nat_ukrs(1, BLIS_GEMM_UKR, BLIS_FLOAT, (void *)ibtpokern_sgemm_avx512_16x24, FALSE, &ours);
    bli_cntx_set_packm_kers(2, BLIS_PACKM_16XK_KER, BLIS_FLOAT, (void *)ibtpokern_spackm_avx512_16xk,
                            BLIS_PACKM_24XK_KER, BLIS_FLOAT, (void *)ibtpokern_spackm_avx512_24xk, &ours);
    set_float(BLIS_MR, OUR_MR, &ours);
    set_float(BLIS_NR, OUR_NR, &ours);
    set_float(BLIS_MC, OUR_MC, &ours);
    set_float(BLIS_KC, OUR_KC, &ours);
    set_float(BLIS_NC, OUR_NC, &ours);
    /* Development knobs for tuning (not part of the interface): IBTPO_CK_MC/KC/NC,
     * IBTPO_CK_SUP=0 (packed path for every shape). */
    const char *s;
    if ((s = getenv("IBTPO_CK_MC")) && atoi(s) >= OUR_MR) set_float(BLIS_MC, atoi(s) / OUR_MR * OUR_MR, &ours);
    if ((s = getenv("IBTPO_CK_KC")) && atoi(s) >= 8) set_float(BLIS_KC, atoi(s), &ours);
    if ((s = getenv("IBTPO_CK_NC")) && atoi(s) >= OUR_NR) set_float(BLIS_NC, atoi(s) / OUR_NR * OUR_NR, &ours);
    if ((s = getenv("IBTPO_CK_SUP"))) oursSup = atoi(s) != 0;
    /* A config without sup kernels (Debian's BLIS 0.9 runs 'generic' on CPUs it does not
     * know, such as AMD Zen 5) has zero sup block sizes: BLIS's sup loops would divide by
     * them. There every product takes the packed path on our kernel. */
    if (bli_cntx_get_l3_sup_blksz_def_dt(BLIS_FLOAT, BLIS_MR, &ours) <= 0
        || bli_cntx_get_l3_sup_blksz_def_dt(BLIS_FLOAT, BLIS_NR, &ours) <= 0
        || bli_cntx_get_l3_sup_ker_dt(BLIS_FLOAT, BLIS_RRR, &ours) == NULL) {
        oursSup = 0;
        supMissing = 1;
    }
    /* The sup decision is ours (ibtpokern_sgemm): once we ask for sup, BLIS must take it. */
    const dim_t always = (dim_t)1 << 40;
    bli_blksz_set_def(always, BLIS_FLOAT, bli_cntx_get_l3_sup_thresh(BLIS_MT, &ours));
    bli_blksz_set_def(always, BLIS_FLOAT, bli_cntx_get_l3_sup_thresh(BLIS_NT, &ours));
    bli_blksz_set_def(always, BLIS_FLOAT, bli_cntx_get_l3_sup_thresh(BLIS_KT, &ours));
    if (getenv("IBTPO_CK_DEBUG")) {
        debugOn = 1;
        atexit(debug_report);
    }
    if (debugOn)
        fprintf(stderr, "ckernels: sup=%d%s MC=%ld KC=%ld NC=%ld\n", oursSup, supMissing ? " (BLIS config has no sup kernels)" : "",
                (long)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_MC, &ours),
                (long)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_KC, &ours),
                (long)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_NC, &ours));
}
#endif

/* ---- selection -------------------------------------------------------------------- */

const char *ibtpokern_kernel_id_name(int id) {
    switch (id) {
    case IBTPO_CK_AUTO: return "auto";
    case IBTPO_CK_BLIS: return "blis";
    case IBTPO_CK_AVX512: return "avx512";
    default: return "?";
    }
}

static int supported(int id) {
    switch (id) {
    case IBTPO_CK_AUTO: case IBTPO_CK_BLIS: return 1;
    case IBTPO_CK_AVX512: return cpu.avx512;
    default: return 0;
    }
}

/* AMD_RULE: on Zen 4 (family 0x19) AVX-512 runs double-pumped on 256-bit FMA pipes, so
 * its peak equals AVX2's; the choice there follows the measurement in docs/kernels.md.
 * Zen 5 (family 0x1A) has 512-bit FMA pipes on desktop and server parts. */
static int auto_kernel(void) {
    if (!cpu.avx512) return IBTPO_CK_BLIS;
    if (strcmp(cpu.vendor, "GenuineIntel") == 0) return IBTPO_CK_AVX512;
    if (strcmp(cpu.vendor, "AuthenticAMD") == 0 && cpu.family >= 0x1A) return IBTPO_CK_AVX512;
    return IBTPO_CK_BLIS;
}

static void describe(int id) {
    if (id == IBTPO_CK_AVX512) {
        snprintf(description, sizeof description, "avx512 %dx%d (ours)", OUR_MR, OUR_NR);
    } else {
        const char *arch = bli_arch_string(bli_arch_query_id());
        snprintf(description, sizeof description, "%s (BLIS)", arch ? arch : "unknown");
    }
}

static void init(void) {
    detect_cpu();
#if defined(__x86_64__)
    if (cpu.avx512) build_ours();
#endif
    int id = auto_kernel();
    const char *env = getenv("IBTPO_KERNEL");
    if (env && *env && strcmp(env, "auto") != 0) {
        int want = -1;
        for (int i = 1; i < IBTPO_CK_COUNT; i++)
            if (strcmp(env, ibtpokern_kernel_id_name(i)) == 0) want = i;
        if (want < 0) {
            snprintf(warningBuf, sizeof warningBuf,
                     "IBTPO_KERNEL=%.40s is not one of auto, blis, avx512; using %s", env, ibtpokern_kernel_id_name(id));
            warning = warningBuf;
        } else if (!supported(want)) {
            snprintf(warningBuf, sizeof warningBuf,
                     "IBTPO_KERNEL=%s: this CPU or OS lacks AVX-512 F/DQ/BW/VL; using %s", env,
                     ibtpokern_kernel_id_name(id));
            warning = warningBuf;
        } else {
            id = want;
        }
        if (warning) fprintf(stderr, "libibtpo: warning: %s\n", warning);
    }
    describe(id);
    atomic_store(&current, id);
}

int ibtpokern_kernel_current(void) {
    int id = atomic_load_explicit(&current, memory_order_acquire);
    if (id >= 0) return id;
    pthread_once(&once, init);
    return atomic_load(&current);
}

int ibtpokern_kernel_supported(int id) { (void)ibtpokern_kernel_current(); return supported(id); }
int ibtpokern_auto_kernel(void) { (void)ibtpokern_kernel_current(); return auto_kernel(); }
const char *ibtpokern_kernel_warning(void) { (void)ibtpokern_kernel_current(); return warning; }

const char *ibtpokern_kernel_description(void) {
    (void)ibtpokern_kernel_current();
    return description;
}

int ibtpokern_kernel_select(int id) {
    (void)ibtpokern_kernel_current();
    if (id < 0 || id >= IBTPO_CK_COUNT || !supported(id)) return -1;
    if (id == IBTPO_CK_AUTO) id = auto_kernel();
    /* description is rewritten in place: callers are told not to switch while multiplying. */
    describe(id);
    atomic_store(&current, id);
    return 0;
}

/* ---- the product ------------------------------------------------------------------ */

void ibtpokern_sgemm(int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t rs_a, int64_t cs_a,
                    const float *b, int64_t rs_b, int64_t cs_b,
                    float beta, float *c, int64_t rs_c, int64_t cs_c) {
    if (m <= 0 || n <= 0) return;
    const int id = ibtpokern_kernel_current();
    rntm_t r;
    memset(&r, 0, sizeof r);
    r.auto_factor = TRUE;
    r.num_threads = 1;
    for (int i = 0; i < BLIS_NUM_LOOPS; i++) r.thrloop[i] = -1;
    r.pack_a = FALSE;
    r.pack_b = FALSE;
    if (id == IBTPO_CK_AVX512)
        r.l3_sup = oursSup && (m < SUP_MIN || n < SUP_MIN || k < SUP_MIN || (double)m * n * k < SUP_VOLUME);
    else
        r.l3_sup = TRUE;
    if (debugOn) atomic_fetch_add(&debugCalls[id != IBTPO_CK_AVX512 ? 0 : r.l3_sup ? 1 : 2], 1);
    bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &alpha, (float *)a, rs_a, cs_a,
                 (float *)b, rs_b, cs_b, &beta, c, rs_c, cs_c, id == IBTPO_CK_AVX512 ? &ours : NULL, &r);
}
