/* The few BLIS 0.9 entry points libibtpo calls, declared by hand.
 *
 * Debian's OpenMP blis.h includes <omp.h>, which lives only in GCC's private include
 * directory, so Clang (and therefore the Swift importer) cannot read it. These prototypes
 * match BLIS 0.9.0's typed expert API (bli_l3_tapi.h with BLIS_TAPI_EX_PARAMS) on LP64,
 * where dim_t and inc_t are int64_t and trans_t is an int-sized enum. */
#ifndef IBTPO_CBLIS_H
#define IBTPO_CBLIS_H
#include <stdint.h>
#include <stdbool.h>

typedef int64_t ibtpo_blis_dim_t;
typedef int64_t ibtpo_blis_inc_t;

/* Layout-compatible with BLIS 0.9's rntm_t (bli_type_defs.h, BLIS_NUM_LOOPS == 6).
 * Initialise it with ibtpo_blis_rntm_init(), which mirrors BLIS_RNTM_INITIALIZER. */
typedef struct ibtpo_blis_rntm {
    bool auto_factor;
    ibtpo_blis_dim_t num_threads;
    ibtpo_blis_dim_t thrloop[6];
    bool pack_a;
    bool pack_b;
    bool l3_sup;
    void *sba_pool;
    void *pba;
} ibtpo_blis_rntm;

static inline void ibtpo_blis_rntm_init(ibtpo_blis_rntm *r, ibtpo_blis_dim_t threads) {
    r->auto_factor = true;
    r->num_threads = threads;
    for (int i = 0; i < 6; i++) r->thrloop[i] = -1;
    r->pack_a = false;
    r->pack_b = false;
    r->l3_sup = true;
    r->sba_pool = 0;
    r->pba = 0;
}

#define IBTPO_BLIS_NO_TRANSPOSE 0

void bli_sgemm_ex(int transa, int transb,
                  ibtpo_blis_dim_t m, ibtpo_blis_dim_t n, ibtpo_blis_dim_t k,
                  const float *alpha,
                  const float *a, ibtpo_blis_inc_t rs_a, ibtpo_blis_inc_t cs_a,
                  const float *b, ibtpo_blis_inc_t rs_b, ibtpo_blis_inc_t cs_b,
                  const float *beta,
                  float *c, ibtpo_blis_inc_t rs_c, ibtpo_blis_inc_t cs_c,
                  const void *cntx, ibtpo_blis_rntm *rntm);

void bli_init(void);
int bli_arch_query_id(void);
char *bli_arch_string(int id);
char *bli_info_get_version_str(void);

#endif
