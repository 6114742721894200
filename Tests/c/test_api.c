/*
 * test_api.c — exercises every function of include/ibtpo.h through the C ABI, including
 * misuse (NULL pointers, zero/negative/huge sizes, wrong struct_size, unknown enum values,
 * configs that do not fit, NULL and stale handles, corrupt checkpoints) and the functional
 * contracts: tokenizer round trip and size queries, tasks (built-in, JSONL, in memory),
 * generate determinism and its log-probs against score, thread-count independence, SFT on
 * a task, evaluation, GRPO and IB-TPO steps with a C reward callback, log/progress
 * callbacks, "a failed call leaves the state unchanged", and ibtpo_tree_advantages against
 * the formulas of docs/algorithm.md §3 and §5 computed here by hand.
 * Built three ways by `make test`: against libibtpo.so, libibtpo.a, and the installed copy
 * through pkg-config.
 *
 * Usage: test_api [scratch-dir]   (default: a fresh directory from mkdtemp in $TMPDIR or /tmp)
 * Prints one line per check, "# " notes (numbers, timings) and "N passed, M failed"; exits 1
 * if any check failed.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, unlink, rmdir, fork, clock_gettime; no BLIS header here */

#include "test_util.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define passed tu_passed
#define failed tu_failed
#define read_file tu_read_file

/* ---- small helpers -------------------------------------------------------------- */

static char scratch[4096];

static void path_in_scratch(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", scratch, name); }

static int write_file(const char *path, const unsigned char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

/* zlib-compatible CRC-32, to craft checkpoints that pass the checksum. */
static uint32_t crc32_ieee(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static void fix_crc(unsigned char *p, size_t n) {
    uint32_t c = crc32_ieee(p, n - 4);
    for (int i = 0; i < 4; i++) p[n - 4 + i] = (unsigned char)(c >> (8 * i));
}

/* A tiny model so the test (and its valgrind run) stays fast: small_config's shape with
 * 16 positions, batch 2 × 8, 1 thread and the default cosine schedule over 10 steps. */
static ibtpo_trainer_config tiny_config(uint64_t seed) {
    ibtpo_trainer_config c = small_config(seed, 1), d;
    ibtpo_trainer_config_default(&d);
    c.model.max_seq = 16;
    c.batch = 2;
    c.seq = 8;
    c.lr = d.lr;
    c.min_lr = d.min_lr;
    c.total_steps = 10;
    c.rollout_slots = d.rollout_slots;
    return c;
}

#define NTOK (2 * 8)

static void make_batch(int32_t *tokens, int32_t *targets, float *weights, uint32_t salt) {
    uint32_t x = 2463534242u ^ salt;
    for (int i = 0; i < NTOK; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        tokens[i] = (int32_t)(x % 259u);
        targets[i] = (i % 8 == 7) ? -1 : (int32_t)((x >> 9) % 259u);
        weights[i] = 0.5f + (float)(i % 3);
    }
}

static int64_t get_step(ibtpo_trainer *t) {
    int64_t s = -12345;
    if (ibtpo_trainer_get_step(t, &s) != IBTPO_OK) return -99999;
    return s;
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* ---- tests -------------------------------------------------------------------------- */

static void test_version_and_status(void) {
    uint32_t v = ibtpo_version();
    check(v == (uint32_t)IBTPO_VERSION_NUMBER, "ibtpo_version() == IBTPO_VERSION_NUMBER", NULL);
    check((v >> 16) == IBTPO_VERSION_MAJOR, "major version matches the header", NULL);
    int all = 1, distinct = 1;
    for (int s = 0; s <= 10; s++) {
        const char *a = ibtpo_status_string(s);
        if (!a || !*a || strcmp(a, "unknown status") == 0) all = 0;
        for (int u = 0; u < s; u++)
            if (a && strcmp(a, ibtpo_status_string(u)) == 0) distinct = 0;
    }
    check(all, "ibtpo_status_string(0..10) are known, non-empty", NULL);
    check(distinct, "ibtpo_status_string(0..10) are distinct", NULL);
    const int32_t unknown[] = {-1, 11, 99, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *s = ibtpo_status_string(unknown[i]);
        char what[96];
        snprintf(what, sizeof what, "ibtpo_status_string(%ld) is \"unknown status\"", (long)unknown[i]);
        check(s && strcmp(s, "unknown status") == 0, what, s);
    }
    check(strcmp(ibtpo_status_string(IBTPO_OK), "ok") == 0, "ibtpo_status_string(IBTPO_OK) == \"ok\"", NULL);
}

static void test_defaults(void) {
    check_status(ibtpo_model_config_default(NULL), IBTPO_ERR_INVALID_ARGUMENT, "ibtpo_model_config_default(NULL)", NULL);
    check(*ibtpo_last_error(NULL) != '\0', "ibtpo_last_error(NULL) set after model_config_default(NULL)", NULL);
    check_status(ibtpo_trainer_config_default(NULL), IBTPO_ERR_INVALID_ARGUMENT, "ibtpo_trainer_config_default(NULL)",
                 NULL);

    ibtpo_model_config m;
    memset(&m, 0xAB, sizeof m);
    check_status(ibtpo_model_config_default(&m), IBTPO_OK, "ibtpo_model_config_default", NULL);
    check(m.struct_size == sizeof m && m.vocab == 259 && m.d_model == 128 && m.n_layers == 4 && m.n_heads == 4 &&
              m.n_kv_heads == 4 && m.d_ff == 384 && m.max_seq == 128 && m.rope_theta == 10000.0f &&
              m.norm_eps == 1e-5f && m.tie_embeddings == 1,
          "model defaults match the header's documentation", NULL);

    ibtpo_trainer_config c;
    memset(&c, 0xCD, sizeof c);
    check_status(ibtpo_trainer_config_default(&c), IBTPO_OK, "ibtpo_trainer_config_default", NULL);
    check(c.struct_size == sizeof c && c.model.struct_size == sizeof c.model && c.model.d_model == 128 &&
              c.batch == 32 && c.seq == 64 && c.threads == 2 && c.seed == 1 && c.lr == 3e-3f && c.min_lr == 3e-4f &&
              c.warmup_steps == 20 && c.total_steps == 1000 && c.beta1 == 0.9f && c.beta2 == 0.95f &&
              c.adam_eps == 1e-8f && c.weight_decay == 0.01f && c.grad_clip == 1.0f,
          "trainer defaults match the header's documentation", NULL);
    check(c.rollout_slots == 64, "trainer default rollout_slots is 64", NULL);

    check_err(ibtpo_sampling_config_default(NULL), IBTPO_ERR_INVALID_ARGUMENT, "sampling_config_default(NULL)", NULL,
              "NULL");
    ibtpo_sampling_config s;
    memset(&s, 0xEE, sizeof s);
    check_status(ibtpo_sampling_config_default(&s), IBTPO_OK, "ibtpo_sampling_config_default", NULL);
    checkf(s.struct_size == sizeof s && s.temperature == 0.7f && s.top_k == 20 && s.top_p == 0.95f &&
               s.max_new_tokens == 64 && s.stop_at_eos == 1,
           "sampling defaults are the header's (T %.3g, top-k %d, top-p %.3g, %d new tokens, stop at EOS %d)",
           (double)s.temperature, (int)s.top_k, (double)s.top_p, (int)s.max_new_tokens, (int)s.stop_at_eos);

    check_err(ibtpo_eval_config_default(NULL), IBTPO_ERR_INVALID_ARGUMENT, "eval_config_default(NULL)", NULL, "NULL");
    ibtpo_eval_config e;
    memset(&e, 0xEE, sizeof e);
    check_status(ibtpo_eval_config_default(&e), IBTPO_OK, "ibtpo_eval_config_default", NULL);
    checkf(e.struct_size == sizeof e && e.count == 256 && e.k == 8 && e.seed == 12345 &&
               memcmp(&e.sampling, &s, sizeof s) == 0,
           "eval defaults are the header's (count %d, k %d, seed %llu, the default sampling)", (int)e.count, (int)e.k,
           (unsigned long long)e.seed);

    check_err(ibtpo_rl_config_default(NULL), IBTPO_ERR_INVALID_ARGUMENT, "rl_config_default(NULL)", NULL, "NULL");
    ibtpo_rl_config r;
    memset(&r, 0xEE, sizeof r);
    check_status(ibtpo_rl_config_default(&r), IBTPO_OK, "ibtpo_rl_config_default", NULL);
    checkf(r.struct_size == sizeof r && r.algo == IBTPO_ALGO_IBTPO && r.tree_b0 == 4 && r.tree_l == 9 &&
               r.tree_k == 1 && r.tree_b == 1 && r.branch_rule == IBTPO_BRANCH_IB && r.beta == 5.0 && r.lambda == 0.1 &&
               r.prompts_per_step == 8 && r.group_size == 8 && r.clip_low == 0.2 && r.clip_high == 0.2 &&
               r.kl_coef == 0.001 && r.loss_aggregation == IBTPO_LOSS_TOKEN_MEAN && r.epochs == 1 &&
               r.minibatches == 1 && memcmp(&r.sampling, &s, sizeof s) == 0 && r.lr == 1e-4f &&
               r.reset_optimizer == 1 && r.probe_every == 1 && r.seed == 1 && r.expand_root == 1,
           "rl defaults are the header's (algo %d, tree (%d,%d,%d,%d), beta %g, lambda %g, P %d, G %d, eps %g/%g, "
           "kl %g, loss %d, %d epoch x %d minibatch, lr %g, reset %d, probe %d, seed %llu, expand_root %d)",
           (int)r.algo, (int)r.tree_b0, (int)r.tree_l, (int)r.tree_k, (int)r.tree_b, r.beta, r.lambda,
           (int)r.prompts_per_step, (int)r.group_size, r.clip_low, r.clip_high, r.kl_coef, (int)r.loss_aggregation,
           (int)r.epochs, (int)r.minibatches, (double)r.lr, (int)r.reset_optimizer, (int)r.probe_every,
           (unsigned long long)r.seed, (int)r.expand_root);
    {
        /* Not promised by the header, but worth knowing: do the default configs work together? */
        ibtpo_trainer *dt = NULL;
        ibtpo_task *dk = NULL;
        ibtpo_trainer_create(&c, &dt);
        ibtpo_task_create_builtin("add", NULL, 1, &dk);
        ibtpo_status ds = dt && dk ? ibtpo_trainer_rl_begin(dt, dk, &r, NULL) : IBTPO_ERR_INVALID_ARGUMENT;
        note("default trainer config + default rl config: rl_begin -> %s%s%s", ibtpo_status_string(ds), ds ? ": " : "",
             ds ? ibtpo_last_error(dt) : "");
        ibtpo_trainer_free(dt);
        ibtpo_task_free(dk);
    }
    note("rl defaults not fixed by the header: pibar_form %d, ratio_when_parent_zero %g, sqrt_n_weighting %d, "
         "entropy_coef %g, fixed_max_depth %d",
         (int)r.pibar_form, r.ratio_when_parent_zero, (int)r.sqrt_n_weighting, r.entropy_coef, (int)r.fixed_max_depth);
}

static void test_memory_plan(void) {
    ibtpo_trainer_config c;
    ibtpo_trainer_config_default(&c);
    ibtpo_memory_plan p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    check_status(ibtpo_memory_plan_for(NULL, &p), IBTPO_ERR_INVALID_ARGUMENT, "memory_plan_for(NULL cfg)", NULL);
    check_status(ibtpo_memory_plan_for(&c, NULL), IBTPO_ERR_INVALID_ARGUMENT, "memory_plan_for(NULL out)", NULL);
    const uint32_t bad_sizes[] = {0, 3, (uint32_t)sizeof p - 1, 0xFFFFFFFFu};
    for (size_t i = 0; i < 4; i++) {
        char what[96];
        p.struct_size = bad_sizes[i];
        snprintf(what, sizeof what, "memory_plan_for(out.struct_size=%lu)", (unsigned long)bad_sizes[i]);
        check_status(ibtpo_memory_plan_for(&c, &p), IBTPO_ERR_INVALID_ARGUMENT, what, NULL);
    }
    p.struct_size = sizeof p;
    check_status(ibtpo_memory_plan_for(&c, &p), IBTPO_OK, "memory_plan_for(default config)", NULL);
    /* tiny: V*C + L*(2C + 4C^2 + 3CF) + C, tied embeddings */
    const uint64_t want_params = 259ull * 128 + 4ull * (2 * 128 + 4ull * 128 * 128 + 3ull * 128 * 384) + 128;
    char detail[128];
    snprintf(detail, sizeof detail, "parameter_count %llu, want %llu", (unsigned long long)p.parameter_count,
             (unsigned long long)want_params);
    check(p.parameter_count == want_params, "memory plan parameter_count of the tiny model", detail);
    check(p.parameter_bytes >= 4 * want_params && p.gradient_bytes == p.parameter_bytes &&
              p.optimizer_bytes == 2 * p.parameter_bytes && p.activation_bytes > 0 &&
              p.total_bytes == p.parameter_bytes + p.gradient_bytes + p.optimizer_bytes + p.activation_bytes +
                                   p.scratch_bytes,
          "memory plan groups are consistent and sum to total_bytes", NULL);
    /* "output structs that grew accept the older size and are filled up to it" (64 bytes in 0.1) */
    ibtpo_memory_plan old;
    memset(&old, 0xAB, sizeof old);
    old.struct_size = 64;
    uint64_t untouched;
    memset(&untouched, 0xAB, sizeof untouched);
    check_status(ibtpo_memory_plan_for(&c, &old), IBTPO_OK, "memory_plan_for(out.struct_size 64: the 0.1 size)", NULL);
    checkf(old.struct_size == 64 && old.total_bytes == p.total_bytes && old.parameter_count == p.parameter_count &&
               old.scratch_bytes == p.scratch_bytes && old.kv_cache_bytes == untouched,
           "  ... fills the first 64 bytes (total %llu, parameters %llu) and leaves kv_cache_bytes alone",
           (unsigned long long)old.total_bytes, (unsigned long long)old.parameter_count);

    /* Sizes whose arena cannot exist: size overflow and > 64 TiB. Must fail, not trap. */
    ibtpo_trainer_config h = c;
    h.model.d_model = 16384; h.model.n_heads = 8192; h.model.n_kv_heads = 8192; h.model.max_seq = 65536;
    h.batch = 65536; h.seq = 65536;
    check_status(ibtpo_memory_plan_for(&h, &p), IBTPO_ERR_OUT_OF_MEMORY, "memory_plan_for(arena size overflows)", NULL);
    h = c;
    h.model.d_model = 256; h.model.n_heads = 128; h.model.n_kv_heads = 128; h.model.max_seq = 4096;
    h.batch = 65536; h.seq = 4096;
    check_status(ibtpo_memory_plan_for(&h, &p), IBTPO_ERR_OUT_OF_MEMORY, "memory_plan_for(arena > 64 TiB)", NULL);
    ibtpo_trainer *t = (ibtpo_trainer *)&h;
    check_status(ibtpo_trainer_create(&h, &t), IBTPO_ERR_OUT_OF_MEMORY, "trainer_create(arena > 64 TiB)", NULL);
    check(t == NULL, "trainer_create(arena > 64 TiB) sets *out = NULL", NULL);
}

typedef void (*mutate_fn)(ibtpo_trainer_config *);
#define MUT(name, body) static void name(ibtpo_trainer_config *c) { body; }
MUT(m_csize0, c->struct_size = 0)
MUT(m_csize3, c->struct_size = 3)
MUT(m_csize_m1, c->struct_size = sizeof(ibtpo_trainer_config) - 1)
MUT(m_csize_huge, c->struct_size = 0xFFFFFFFFu)
MUT(m_msize0, c->model.struct_size = 0)
MUT(m_msize3, c->model.struct_size = 3)
MUT(m_msize_m1, c->model.struct_size = sizeof(ibtpo_model_config) - 1)
MUT(m_vocab0, c->model.vocab = 0)
MUT(m_vocab_neg, c->model.vocab = -1)
MUT(m_vocab258, c->model.vocab = 258)
MUT(m_vocab_huge, c->model.vocab = INT32_MAX)
MUT(m_dmodel0, c->model.d_model = 0)
MUT(m_dmodel_neg, c->model.d_model = -32)
MUT(m_dmodel_huge, c->model.d_model = INT32_MAX)
MUT(m_layers0, c->model.n_layers = 0)
MUT(m_layers_huge, c->model.n_layers = 100000)
MUT(m_heads0, c->model.n_heads = 0)
MUT(m_heads_nondiv, c->model.n_heads = 3)
MUT(m_heads_odd_dim, { c->model.n_heads = 32; c->model.n_kv_heads = 32; }) /* head dim 1: odd, RoPE needs even */
MUT(m_kv0, c->model.n_kv_heads = 0)
MUT(m_kv_nondiv, { c->model.n_heads = 4; c->model.n_kv_heads = 3; })
MUT(m_kv_gt, c->model.n_kv_heads = 4)
MUT(m_dff0, c->model.d_ff = 0)
MUT(m_dff_neg, c->model.d_ff = -1)
MUT(m_maxseq0, c->model.max_seq = 0)
MUT(m_maxseq_huge, c->model.max_seq = INT32_MAX)
MUT(m_theta_nan, c->model.rope_theta = NAN)
MUT(m_theta0, c->model.rope_theta = 0)
MUT(m_theta_inf, c->model.rope_theta = INFINITY)
MUT(m_eps0, c->model.norm_eps = 0)
MUT(m_eps1, c->model.norm_eps = 1)
MUT(m_eps_nan, c->model.norm_eps = NAN)
MUT(m_tie2, c->model.tie_embeddings = 2)
MUT(m_tie_neg, c->model.tie_embeddings = -1)
MUT(m_batch0, c->batch = 0)
MUT(m_batch_neg, c->batch = -1)
MUT(m_batch_huge, c->batch = INT32_MAX)
MUT(m_seq0, c->seq = 0)
MUT(m_seq_gt_max, c->seq = 17)
MUT(m_seq_neg, c->seq = -8)
MUT(m_threads0, c->threads = 0)
MUT(m_threads65, c->threads = 65)
MUT(m_threads_neg, c->threads = -2)
MUT(m_lr0, c->lr = 0)
MUT(m_lr_neg, c->lr = -1e-3f)
MUT(m_lr_nan, c->lr = NAN)
MUT(m_lr_big, c->lr = 10)
MUT(m_minlr_gt, c->min_lr = 1)
MUT(m_minlr_neg, c->min_lr = -1)
MUT(m_warmup_neg, c->warmup_steps = -1)
MUT(m_total_neg, c->total_steps = -1)
MUT(m_beta1_1, c->beta1 = 1)
MUT(m_beta2_neg, c->beta2 = -0.1f)
MUT(m_eps_adam0, c->adam_eps = 0)
MUT(m_eps_adam_nan, c->adam_eps = NAN)
MUT(m_wd1, c->weight_decay = 1)
MUT(m_wd_neg, c->weight_decay = -0.5f)
MUT(m_clip_neg, c->grad_clip = -1)
MUT(m_clip_inf, c->grad_clip = INFINITY)
MUT(m_slots_neg, c->rollout_slots = -1)
MUT(m_slots_huge, c->rollout_slots = 65537)
MUT(m_slots_min, c->rollout_slots = INT32_MIN)

static const struct { const char *name; mutate_fn fn; int plan_ok; } mutations[] = {
    {"struct_size=0", m_csize0, 0}, {"struct_size=3", m_csize3, 0}, {"struct_size=sizeof-1", m_csize_m1, 0},
    {"struct_size=0xFFFFFFFF", m_csize_huge, 0}, {"model.struct_size=0", m_msize0, 0},
    {"model.struct_size=3", m_msize3, 0}, {"model.struct_size=sizeof-1", m_msize_m1, 0},
    {"vocab=0", m_vocab0, 0}, {"vocab=-1", m_vocab_neg, 0}, {"vocab=258 (< byte tokenizer)", m_vocab258, 1},
    {"vocab=INT32_MAX", m_vocab_huge, 0}, {"d_model=0", m_dmodel0, 0}, {"d_model=-32", m_dmodel_neg, 0},
    {"d_model=INT32_MAX", m_dmodel_huge, 0}, {"n_layers=0", m_layers0, 0}, {"n_layers=100000", m_layers_huge, 0},
    {"n_heads=0", m_heads0, 0}, {"n_heads=3 (does not divide d_model)", m_heads_nondiv, 0},
    {"n_heads=32 (odd head dim)", m_heads_odd_dim, 0}, {"n_kv_heads=0", m_kv0, 0},
    {"n_kv_heads=3 (does not divide n_heads)", m_kv_nondiv, 0}, {"n_kv_heads > n_heads", m_kv_gt, 0},
    {"d_ff=0", m_dff0, 0}, {"d_ff=-1", m_dff_neg, 0}, {"max_seq=0", m_maxseq0, 0},
    {"max_seq=INT32_MAX", m_maxseq_huge, 0}, {"rope_theta=NaN", m_theta_nan, 0}, {"rope_theta=0", m_theta0, 0},
    {"rope_theta=inf", m_theta_inf, 0}, {"norm_eps=0", m_eps0, 0}, {"norm_eps=1", m_eps1, 0},
    {"norm_eps=NaN", m_eps_nan, 0}, {"tie_embeddings=2", m_tie2, 0}, {"tie_embeddings=-1", m_tie_neg, 0},
    {"batch=0", m_batch0, 0}, {"batch=-1", m_batch_neg, 0}, {"batch=INT32_MAX", m_batch_huge, 0},
    {"seq=0", m_seq0, 0}, {"seq > max_seq", m_seq_gt_max, 0}, {"seq=-8", m_seq_neg, 0},
    {"threads=0", m_threads0, 0}, {"threads=65", m_threads65, 0}, {"threads=-2", m_threads_neg, 0},
    {"lr=0", m_lr0, 0}, {"lr<0", m_lr_neg, 0}, {"lr=NaN", m_lr_nan, 0}, {"lr=10", m_lr_big, 0},
    {"min_lr > lr", m_minlr_gt, 0}, {"min_lr<0", m_minlr_neg, 0}, {"warmup_steps=-1", m_warmup_neg, 0},
    {"total_steps=-1", m_total_neg, 0}, {"beta1=1", m_beta1_1, 0}, {"beta2<0", m_beta2_neg, 0},
    {"adam_eps=0", m_eps_adam0, 0}, {"adam_eps=NaN", m_eps_adam_nan, 0}, {"weight_decay=1", m_wd1, 0},
    {"weight_decay<0", m_wd_neg, 0}, {"grad_clip<0", m_clip_neg, 0}, {"grad_clip=inf", m_clip_inf, 0},
    {"rollout_slots=-1", m_slots_neg, 0}, {"rollout_slots=65537", m_slots_huge, 0},
    {"rollout_slots=INT32_MIN", m_slots_min, 0},
};

static void test_create_misuse(void) {
    ibtpo_trainer_config c = tiny_config(1);
    ibtpo_trainer *t = (ibtpo_trainer *)&c; /* any non-NULL value: create must reset it */
    check_status(ibtpo_trainer_create(NULL, &t), IBTPO_ERR_INVALID_ARGUMENT, "trainer_create(NULL cfg)", NULL);
    check(t == NULL, "trainer_create(NULL cfg) sets *out = NULL", NULL);
    check(*ibtpo_last_error(NULL) != '\0', "ibtpo_last_error(NULL) is set after a failed create", NULL);
    check_status(ibtpo_trainer_create(&c, NULL), IBTPO_ERR_INVALID_ARGUMENT, "trainer_create(NULL out)", NULL);

    for (size_t i = 0; i < sizeof mutations / sizeof mutations[0]; i++) {
        ibtpo_trainer_config m = tiny_config(1);
        mutations[i].fn(&m);
        char what[160];
        t = (ibtpo_trainer *)&c;
        snprintf(what, sizeof what, "trainer_create rejects %s", mutations[i].name);
        check_status(ibtpo_trainer_create(&m, &t), IBTPO_ERR_INVALID_ARGUMENT, what, NULL);
        snprintf(what, sizeof what, "  ... sets *out = NULL and last_error(NULL) (\"%.80s\")", ibtpo_last_error(NULL));
        check(t == NULL && *ibtpo_last_error(NULL) != '\0', what, NULL);
        if (t) ibtpo_trainer_free(t);
        ibtpo_memory_plan p;
        memset(&p, 0, sizeof p);
        p.struct_size = sizeof p;
        snprintf(what, sizeof what, "memory_plan_for %s %s", mutations[i].plan_ok ? "accepts" : "rejects",
                 mutations[i].name);
        check_status(ibtpo_memory_plan_for(&m, &p), mutations[i].plan_ok ? IBTPO_OK : IBTPO_ERR_INVALID_ARGUMENT, what,
                     NULL);
    }
    ibtpo_trainer_config m = tiny_config(1);
    m.threads = 0;
    ibtpo_trainer_create(&m, &t);
    check(strstr(ibtpo_last_error(NULL), "threads") != NULL, "the create error names the bad field (threads)",
          ibtpo_last_error(NULL));
}

static void test_handle_misuse(ibtpo_trainer *t) {
    ibtpo_trainer_config got;
    memset(&got, 0, sizeof got);
    got.struct_size = sizeof got;
    got.model.struct_size = sizeof got.model;
    check_status(ibtpo_trainer_get_config(NULL, &got), IBTPO_ERR_INVALID_ARGUMENT, "get_config(NULL trainer)", NULL);
    check_status(ibtpo_trainer_get_config(t, NULL), IBTPO_ERR_INVALID_ARGUMENT, "get_config(NULL out)", t);
    check(*ibtpo_last_error(t) != '\0', "ibtpo_last_error(t) is set after a failed call on t", NULL);
    const uint32_t bad[] = {0, 3, (uint32_t)sizeof got - 1};
    for (int i = 0; i < 3; i++) {
        char what[96];
        got.struct_size = bad[i];
        snprintf(what, sizeof what, "get_config(out.struct_size=%lu)", (unsigned long)bad[i]);
        check_status(ibtpo_trainer_get_config(t, &got), IBTPO_ERR_INVALID_ARGUMENT, what, t);
    }
    got.struct_size = sizeof got;
    check_status(ibtpo_trainer_get_config(t, &got), IBTPO_OK, "get_config", t);
    check(*ibtpo_last_error(t) == '\0', "ibtpo_last_error(t) is \"\" after a successful call", ibtpo_last_error(t));
    ibtpo_trainer_config want = tiny_config(7);
    check(got.struct_size == sizeof got && got.model.struct_size == sizeof got.model && got.model.vocab == 259 &&
              got.model.d_model == want.model.d_model && got.model.n_layers == want.model.n_layers &&
              got.model.n_heads == want.model.n_heads && got.model.n_kv_heads == want.model.n_kv_heads &&
              got.model.d_ff == want.model.d_ff && got.model.max_seq == want.model.max_seq &&
              got.model.rope_theta == want.model.rope_theta && got.model.norm_eps == want.model.norm_eps &&
              got.model.tie_embeddings == want.model.tie_embeddings && got.batch == want.batch &&
              got.seq == want.seq && got.threads == want.threads && got.seed == want.seed && got.lr == want.lr &&
              got.min_lr == want.min_lr && got.warmup_steps == want.warmup_steps &&
              got.total_steps == want.total_steps && got.beta1 == want.beta1 && got.beta2 == want.beta2 &&
              got.adam_eps == want.adam_eps && got.weight_decay == want.weight_decay &&
              got.grad_clip == want.grad_clip,
          "get_config returns the creation config", NULL);

    int64_t s = -1;
    check_status(ibtpo_trainer_get_step(NULL, &s), IBTPO_ERR_INVALID_ARGUMENT, "get_step(NULL trainer)", NULL);
    check_status(ibtpo_trainer_get_step(t, NULL), IBTPO_ERR_INVALID_ARGUMENT, "get_step(NULL out)", t);
    check_status(ibtpo_trainer_get_step(t, &s), IBTPO_OK, "get_step", t);
    check(s == 0, "a new trainer is at step 0", NULL);

    check_status(ibtpo_trainer_save(NULL, "x.ckpt"), IBTPO_ERR_INVALID_ARGUMENT, "save(NULL trainer)", NULL);
    check_status(ibtpo_trainer_save(t, NULL), IBTPO_ERR_INVALID_ARGUMENT, "save(NULL path)", t);
    check_status(ibtpo_trainer_save(t, ""), IBTPO_ERR_IO, "save(\"\")", t);
    check_status(ibtpo_trainer_save(t, "/nonexistent-ibtpo-dir/x.ckpt"), IBTPO_ERR_IO, "save(path in missing dir)", t);
    check_status(ibtpo_trainer_load(NULL, "x.ckpt"), IBTPO_ERR_INVALID_ARGUMENT, "load(NULL trainer)", NULL);
    check_status(ibtpo_trainer_load(t, NULL), IBTPO_ERR_INVALID_ARGUMENT, "load(NULL path)", t);
    check_status(ibtpo_trainer_load(t, ""), IBTPO_ERR_IO, "load(\"\")", t);
    check_status(ibtpo_trainer_load(t, "/nonexistent-ibtpo-dir/x.ckpt"), IBTPO_ERR_IO, "load(missing file)", t);
    check_status(ibtpo_trainer_load(t, scratch), IBTPO_ERR_IO, "load(a directory)", t);
    check(get_step(t) == 0, "failed save/load calls leave the step at 0", NULL);

    ibtpo_trainer_free(NULL);
    check(1, "ibtpo_trainer_free(NULL) is a no-op", NULL);
}

static void test_step_misuse(ibtpo_trainer *t) {
    int32_t tok[NTOK], tgt[NTOK];
    float w[NTOK];
    make_batch(tok, tgt, w, 1);
    ibtpo_step_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    int64_t before = get_step(t);

    check_status(ibtpo_trainer_step_supervised(NULL, tok, tgt, w, 2, 8, &st), IBTPO_ERR_INVALID_ARGUMENT,
                 "step_supervised(NULL trainer)", NULL);
    check_status(ibtpo_trainer_step_supervised(t, NULL, tgt, w, 2, 8, &st), IBTPO_ERR_INVALID_ARGUMENT,
                 "step_supervised(NULL tokens)", t);
    check_status(ibtpo_trainer_step_supervised(t, tok, NULL, w, 2, 8, &st), IBTPO_ERR_INVALID_ARGUMENT,
                 "step_supervised(NULL targets)", t);
    const int64_t shapes[][2] = {{0, 8}, {2, 0}, {-1, 8}, {2, -8}, {1, 8}, {2, 7}, {4, 4}, {INT64_MAX, 8},
                                 {2, INT64_MAX}, {INT64_MIN, INT64_MIN}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        char what[128];
        snprintf(what, sizeof what, "step_supervised(n_seqs=%lld, seq_len=%lld)", (long long)shapes[i][0],
                 (long long)shapes[i][1]);
        check_status(ibtpo_trainer_step_supervised(t, tok, tgt, w, shapes[i][0], shapes[i][1], &st),
                     IBTPO_ERR_INVALID_ARGUMENT, what, t);
    }
    const uint32_t bad[] = {0, 3, (uint32_t)sizeof st - 1};
    for (int i = 0; i < 3; i++) {
        char what[96];
        st.struct_size = bad[i];
        snprintf(what, sizeof what, "step_supervised(out.struct_size=%lu)", (unsigned long)bad[i]);
        check_status(ibtpo_trainer_step_supervised(t, tok, tgt, w, 2, 8, &st), IBTPO_ERR_INVALID_ARGUMENT, what, t);
    }
    st.struct_size = sizeof st;

    /* Out-of-range inputs: must fail with BAD_DATA and leave the step counter unchanged. */
    const int32_t bad_tok[] = {259, -1, INT32_MAX, INT32_MIN};
    for (int i = 0; i < 4; i++) {
        char what[96];
        int32_t tk[NTOK];
        memcpy(tk, tok, sizeof tk);
        tk[NTOK - 1 - i] = bad_tok[i];
        snprintf(what, sizeof what, "step_supervised(token %ld out of range)", (long)bad_tok[i]);
        check_status(ibtpo_trainer_step_supervised(t, tk, tgt, w, 2, 8, &st), IBTPO_ERR_BAD_DATA, what, t);
    }
    const int32_t bad_tgt[] = {259, -2, INT32_MAX};
    for (int i = 0; i < 3; i++) {
        char what[96];
        int32_t tg[NTOK];
        memcpy(tg, tgt, sizeof tg);
        tg[3 + i] = bad_tgt[i];
        snprintf(what, sizeof what, "step_supervised(target %ld out of range)", (long)bad_tgt[i]);
        check_status(ibtpo_trainer_step_supervised(t, tok, tg, w, 2, 8, &st), IBTPO_ERR_BAD_DATA, what, t);
    }
    const float bad_w[] = {-1.0f, NAN, INFINITY, -INFINITY, 1e31f};
    for (int i = 0; i < 5; i++) {
        char what[96];
        float ww[NTOK];
        memcpy(ww, w, sizeof ww);
        ww[i] = bad_w[i];
        snprintf(what, sizeof what, "step_supervised(weight %g)", (double)bad_w[i]);
        check_status(ibtpo_trainer_step_supervised(t, tok, tgt, ww, 2, 8, &st), IBTPO_ERR_BAD_DATA, what, t);
    }
    check(get_step(t) == before, "failed supervised steps leave the step counter unchanged", NULL);

    check_status(ibtpo_trainer_step_supervised(t, tok, tgt, NULL, 2, 8, NULL), IBTPO_OK,
                 "step_supervised(weights NULL, out NULL)", t);
    check(get_step(t) == before + 1, "a successful step advances the step counter by 1", NULL);
    check_status(ibtpo_trainer_step_supervised(t, tok, tgt, w, 2, 8, &st), IBTPO_OK, "step_supervised(weights)", t);
    check(st.struct_size == sizeof st && st.step == before + 2 && isfinite(st.loss) && st.loss > 0 &&
              isfinite(st.grad_norm) && st.lr > 0 && st.tokens == 14 && st.seconds >= 0,
          "step stats are filled in (step, finite loss, grad norm, lr, 14 targets)", NULL);
}

/* Save after one step; continuing on trainer A and loading into a fresh trainer B must
 * produce bit-identical further steps. Failed loads in between must change nothing. */
static void test_checkpoints(void) {
    char ck[4200], bad[4200], other[4200];
    path_in_scratch(ck, sizeof ck, "a.ckpt");
    path_in_scratch(bad, sizeof bad, "bad.ckpt");
    path_in_scratch(other, sizeof other, "other.ckpt");
    int32_t tok[NTOK], tgt[NTOK], tok2[NTOK], tgt2[NTOK];
    float w[NTOK], w2[NTOK];
    make_batch(tok, tgt, w, 11);
    make_batch(tok2, tgt2, w2, 22);

    ibtpo_trainer_config ca = tiny_config(7), cb = tiny_config(99); /* another seed: load must overwrite init */
    ibtpo_trainer *a = NULL, *b = NULL, *o = NULL;
    check_status(ibtpo_trainer_create(&ca, &a), IBTPO_OK, "create trainer A", NULL);
    check_status(ibtpo_trainer_create(&cb, &b), IBTPO_OK, "create trainer B (other seed)", NULL);
    if (!a || !b) { ibtpo_trainer_free(a); ibtpo_trainer_free(b); return; }

    ibtpo_step_stats sa1, sa2, sb1, sb2;
    memset(&sa1, 0, sizeof sa1);
    sa1.struct_size = sizeof sa1;
    sa2 = sb1 = sb2 = sa1;
    check_status(ibtpo_trainer_step_supervised(a, tok, tgt, w, 2, 8, NULL), IBTPO_OK, "A: step 1", a);
    check_status(ibtpo_trainer_save(a, ck), IBTPO_OK, "A: save after step 1", a);
    check_status(ibtpo_trainer_step_supervised(a, tok2, tgt2, w2, 2, 8, &sa1), IBTPO_OK, "A: step 2", a);
    check_status(ibtpo_trainer_step_supervised(a, tok, tgt, NULL, 2, 8, &sa2), IBTPO_OK, "A: step 3", a);

    check_status(ibtpo_trainer_load(b, ck), IBTPO_OK, "B: load A's checkpoint", b);
    check(get_step(b) == 1, "B: step is 1 after load", NULL);

    /* Corrupt inputs: every one must be BAD_CHECKPOINT, and B must stay as loaded. */
    size_t n = 0;
    unsigned char *good = read_file(ck, &n);
    check(good != NULL && n > 200, "read back the checkpoint file", NULL);
    if (good && n > 200) {
        unsigned char *buf = malloc(n + 16);
        const char *text = "this is not a checkpoint\n";
        write_file(bad, (const unsigned char *)text, strlen(text));
        check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, "load(text file)", b);
        write_file(bad, good, 0);
        check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, "load(empty file)", b);
        const size_t cuts[] = {3, 8, 16, 100, n / 2, n - 5, n - 1};
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            char what[96];
            write_file(bad, good, cuts[i]);
            snprintf(what, sizeof what, "load(truncated to %lu of %lu bytes)", (unsigned long)cuts[i],
                     (unsigned long)n);
            check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, what, b);
        }
        memcpy(buf, good, n);
        buf[n / 2] ^= 0x10;
        write_file(bad, buf, n);
        check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, "load(one flipped bit)", b);
        memcpy(buf, good, n);
        memcpy(buf + n, "trailing", 8);
        write_file(bad, buf, n + 8);
        check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, "load(trailing bytes)", b);
        memcpy(buf, good, n);
        buf[0] = 'X';
        fix_crc(buf, n);
        write_file(bad, buf, n);
        check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, "load(bad magic, valid CRC)", b);
        memcpy(buf, good, n);
        buf[8] = 2; /* format version */
        fix_crc(buf, n);
        write_file(bad, buf, n);
        check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, "load(format version 2, valid CRC)", b);
        memcpy(buf, good, n);
        memset(buf + 96, 0xFF, 8); /* step = 2^64-1 */
        fix_crc(buf, n);
        write_file(bad, buf, n);
        check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, "load(step 2^64-1, valid CRC)", b);
        memcpy(buf, good, n);
        memset(buf + 16, 0xFF, 8); /* vocab = -1 */
        fix_crc(buf, n);
        write_file(bad, buf, n);
        check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, "load(vocab -1, valid CRC)", b);
        memcpy(buf, good, n);
        memset(buf + 96 + 8 + 32, 0xFF, 4); /* tensor count = 2^32-1 */
        fix_crc(buf, n);
        write_file(bad, buf, n);
        check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, "load(tensor count 2^32-1, valid CRC)", b);
        memcpy(buf, good, n);
        memset(buf + 96 + 8 + 32 + 4, 0xFF, 4); /* first name length = 2^32-1 */
        fix_crc(buf, n);
        write_file(bad, buf, n);
        check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, "load(name length 2^32-1, valid CRC)", b);
        free(buf);
        unlink(bad);
    }
    free(good);

    /* Another configuration: IBTPO_ERR_CONFIG_MISMATCH in both directions. */
    ibtpo_trainer_config co = tiny_config(7);
    co.model.d_model = 64;
    check_status(ibtpo_trainer_create(&co, &o), IBTPO_OK, "create trainer O (d_model 64)", NULL);
    if (o) {
        check_status(ibtpo_trainer_load(o, ck), IBTPO_ERR_CONFIG_MISMATCH, "O: load A's checkpoint", o);
        check(get_step(o) == 0, "O: step unchanged after the mismatch", NULL);
        check_status(ibtpo_trainer_save(o, other), IBTPO_OK, "O: save", o);
        check_status(ibtpo_trainer_load(b, other), IBTPO_ERR_CONFIG_MISMATCH, "B: load O's checkpoint", b);
        ibtpo_trainer_free(o);
        unlink(other);
    }
    check(get_step(b) == 1, "B: step still 1 after the failed loads", NULL);

    check_status(ibtpo_trainer_step_supervised(b, tok2, tgt2, w2, 2, 8, &sb1), IBTPO_OK, "B: step 2", b);
    check_status(ibtpo_trainer_step_supervised(b, tok, tgt, NULL, 2, 8, &sb2), IBTPO_OK, "B: step 3", b);
    char detail[256];
    snprintf(detail, sizeof detail, "A %.9g %.9g / B %.9g %.9g", (double)sa1.loss, (double)sa2.loss, (double)sb1.loss,
             (double)sb2.loss);
    check(same_bits(sa1.loss, sb1.loss) && same_bits(sa2.loss, sb2.loss),
          "losses after load are bit-identical to continuing (2 steps)", detail);
    check(same_bits(sa1.grad_norm, sb1.grad_norm) && same_bits(sa2.grad_norm, sb2.grad_norm) &&
              same_bits(sa1.lr, sb1.lr) && sa2.step == sb2.step && sb2.step == 3,
          "grad norms, lr and step after load match continuing", NULL);

    ibtpo_trainer_free(a);
    ibtpo_trainer_free(b);
    unlink(ck);
}

/* ==== The extended API ================================================================ */

#define ERR_ARG IBTPO_ERR_INVALID_ARGUMENT

/* Fixed sequences whose scores serve as a fingerprint of the parameters (3 rows < batch 4,
 * 20 tokens <= seq 32 of small_config). */
#define FP_ROWS 3
#define FP_LEN 20
#define FP_N (FP_ROWS * FP_LEN)

static void fp_tokens(int32_t *tok) {
    uint32_t x = 0x9E3779B9u;
    for (int i = 0; i < FP_N; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        tok[i] = (i % FP_LEN == 0) ? IBTPO_TOKEN_BOS : (int32_t)(x % 256u);
    }
}

static ibtpo_status fingerprint(ibtpo_trainer *t, float *out) {
    int32_t tok[FP_N];
    fp_tokens(tok);
    return ibtpo_trainer_score(t, tok, NULL, FP_ROWS, FP_LEN, out);
}

/* Step counter, fingerprint and checkpoint bytes: "the state" for unchanged-state checks. */
typedef struct {
    int64_t step;
    float fp[FP_N];
    char ckpt[4200];
} state_snap;

static void snap_take(ibtpo_trainer *t, state_snap *s, const char *name) {
    s->step = get_step(t);
    if (fingerprint(t, s->fp) != IBTPO_OK) memset(s->fp, 0xFF, sizeof s->fp);
    path_in_scratch(s->ckpt, sizeof s->ckpt, name);
    if (ibtpo_trainer_save(t, s->ckpt) != IBTPO_OK) s->ckpt[0] = '\0';
}

/* Checks that `t` is still in the state `before` (step, bit-identical scores, and, when
 * full, a byte-identical checkpoint: parameters, AdamW moments, step, RNG). */
static void check_unchanged(ibtpo_trainer *t, const state_snap *before, const char *after_what, int full) {
    state_snap now;
    char name[64];
    snprintf(name, sizeof name, "snap-now-%d.ckpt", passed + failed);
    if (full) {
        snap_take(t, &now, name);
    } else {
        now.step = get_step(t);
        if (fingerprint(t, now.fp) != IBTPO_OK) memset(now.fp, 0xFF, sizeof now.fp);
    }
    int fp_same = same_float_bits(before->fp, now.fp, FP_N);
    if (!full) {
        checkf(now.step == before->step && fp_same, "after %s: step %lld == %lld and %d scored log-probs bit-identical",
               after_what, (long long)now.step, (long long)before->step, FP_N);
        return;
    }
    size_t n = 0;
    int ck_same = before->ckpt[0] && now.ckpt[0] && files_equal(before->ckpt, now.ckpt, &n);
    checkf(now.step == before->step && fp_same && ck_same,
           "after %s: step %lld == %lld, %d scored log-probs bit-identical, checkpoint (%lu bytes) byte-identical",
           after_what, (long long)now.step, (long long)before->step, FP_N, (unsigned long)n);
    if (now.ckpt[0]) unlink(now.ckpt);
}

/* ---- reward, log and progress callbacks ---------------------------------------------- */

enum { RW_SHAPED, RW_CONST, RW_FAIL_AT, RW_VALUE_AT };

#define MAX_GROUPS 32
typedef struct {
    int mode;
    double value;    /* RW_CONST: every reward; RW_VALUE_AT: the (bad) reward written at call fail_at */
    int64_t fail_at; /* RW_FAIL_AT / RW_VALUE_AT: the 0-based call that misbehaves */
    int64_t calls;
    double sum;
    int bad_args;    /* calls whose arguments broke the documented contract */
    int answer_mismatch;
    /* rewards grouped by prompt, for Eff-Rate */
    int ngroups;
    char gprompt[MAX_GROUPS][64];
    double gmin[MAX_GROUPS], gmax[MAX_GROUPS];
    int expect_empty_answer; /* a task without answers: the callback must get answer "" */
    int nonempty_answer;
    int64_t replacement_chars; /* completions containing U+FFFD (bytes re-encoded as UTF-8) */
    /* optional: the (prompt -> answer) table of an in-memory task */
    const char *const *known_prompts;
    const char *const *known_answers;
    int nknown;
} reward_state;

static void reward_reset(reward_state *r, int mode) {
    memset(r, 0, sizeof *r);
    r->mode = mode;
}

/* A deterministic, varied reward: 1 for the right answer line, else (completion bytes mod 5)/4,
 * so that groups rarely share one reward and the policy gradient is not zero. */
static double shaped_reward(const char *completion, int64_t len, const char *answer) {
    if (answer && *answer && answer_line_matches(completion, len, answer)) return 1.0;
    return 0.25 * (double)(len % 5);
}

static int32_t test_reward(void *user_data, const char *prompt, int64_t prompt_len, const char *completion,
                           int64_t completion_len, const char *answer, double *out_reward) {
    reward_state *r = user_data;
    int64_t i = r->calls++;
    if (!prompt || !completion || !answer || !out_reward || prompt_len < 0 || completion_len < 0 ||
        (int64_t)strlen(prompt) != prompt_len || completion[completion_len] != '\0')
        r->bad_args++;
    if (!prompt || !completion || !answer || !out_reward) return 1;
    if (r->expect_empty_answer && answer[0]) r->nonempty_answer++;
    for (int64_t j = 0; j + 2 < completion_len; j++)
        if ((unsigned char)completion[j] == 0xEF && (unsigned char)completion[j + 1] == 0xBF &&
            (unsigned char)completion[j + 2] == 0xBD) {
            r->replacement_chars++;
            break;
        }
    if (r->known_prompts) {
        int found = 0;
        for (int k = 0; k < r->nknown; k++)
            if (strcmp(prompt, r->known_prompts[k]) == 0)
                found = 1, r->answer_mismatch += strcmp(answer, r->known_answers[k]) != 0;
        if (!found) r->answer_mismatch++;
    }
    double v;
    switch (r->mode) {
    case RW_CONST: v = r->value; break;
    case RW_FAIL_AT:
        if (i == r->fail_at) return 7;
        v = shaped_reward(completion, completion_len, answer);
        break;
    case RW_VALUE_AT: v = (i == r->fail_at) ? r->value : shaped_reward(completion, completion_len, answer); break;
    default: v = shaped_reward(completion, completion_len, answer); break;
    }
    *out_reward = v;
    r->sum += v;
    int g = 0;
    while (g < r->ngroups && strncmp(r->gprompt[g], prompt, 63) != 0) g++;
    if (g == r->ngroups && g < MAX_GROUPS) {
        snprintf(r->gprompt[g], sizeof r->gprompt[g], "%s", prompt);
        r->gmin[g] = r->gmax[g] = v;
        r->ngroups++;
    } else if (g < MAX_GROUPS) {
        if (v < r->gmin[g]) r->gmin[g] = v;
        if (v > r->gmax[g]) r->gmax[g] = v;
    }
    return 0;
}

static double groups_eff_rate(const reward_state *r) {
    int eff = 0;
    for (int g = 0; g < r->ngroups; g++) eff += r->gmin[g] != r->gmax[g];
    return r->ngroups ? (double)eff / r->ngroups : 0;
}

typedef struct {
    int64_t calls;
    int bad;         /* NULL / empty message, trailing newline or unknown level */
    int levels[2];
    char first[160];
} log_state;

static void test_log(void *user_data, int32_t level, const char *message) {
    log_state *l = user_data;
    l->calls++;
    if (!message || !*message || message[strlen(message) - 1] == '\n' || (level != IBTPO_LOG_INFO && level != IBTPO_LOG_WARN)) {
        l->bad++;
    } else {
        l->levels[level]++;
        if (!l->first[0]) snprintf(l->first, sizeof l->first, "%s", message);
    }
}

#define MAX_PHASES 8
typedef struct {
    int64_t calls;
    int bad;                     /* unknown phase, total < 1, done outside [0, total], done decreasing */
    int nphases;
    char phases[MAX_PHASES][16]; /* distinct phases seen, in order */
    char last_phase[16];
    int64_t last_done;
    const char *abort_phase;     /* abort at the first call of this phase ("" = any phase, NULL = never) */
    int aborted;
    int64_t aborted_done;
} progress_state;

static void progress_reset(progress_state *p, const char *abort_phase) {
    memset(p, 0, sizeof *p);
    p->abort_phase = abort_phase;
}

static int progress_saw(const progress_state *p, const char *phase) {
    for (int i = 0; i < p->nphases; i++)
        if (strcmp(p->phases[i], phase) == 0) return 1;
    return 0;
}

static int32_t test_progress(void *user_data, const char *phase, int64_t done, int64_t total) {
    progress_state *p = user_data;
    static const char *known[] = {"rollout", "update", "evaluate", "generate", "score"};
    p->calls++;
    int ok = 0;
    for (size_t i = 0; phase && i < sizeof known / sizeof known[0]; i++) ok |= strcmp(phase, known[i]) == 0;
    if (!ok || total < 1 || done < 0 || done > total) p->bad++;
    if (!phase) return 0;
    if (strcmp(p->last_phase, phase) == 0 && done < p->last_done) p->bad++;
    snprintf(p->last_phase, sizeof p->last_phase, "%s", phase);
    p->last_done = done;
    if (!progress_saw(p, phase) && p->nphases < MAX_PHASES) snprintf(p->phases[p->nphases++], 16, "%s", phase);
    if (p->abort_phase && !p->aborted && (!*p->abort_phase || strcmp(p->abort_phase, phase) == 0)) {
        p->aborted = 1;
        p->aborted_done = done;
        return 1;
    }
    return 0;
}

static void phases_string(const progress_state *p, char *out, size_t n) {
    out[0] = '\0';
    for (int i = 0; i < p->nphases; i++) {
        size_t l = strlen(out);
        snprintf(out + l, n - l, "%s%s", i ? "," : "", p->phases[i]);
    }
}

/* ---- threads --------------------------------------------------------------------------- */

static void test_threads(ibtpo_trainer *t) {
    int32_t th = -7;
    check_err(ibtpo_trainer_get_threads(NULL, &th), ERR_ARG, "get_threads(NULL trainer)", NULL, "NULL");
    check_err(ibtpo_trainer_get_threads(t, NULL), ERR_ARG, "get_threads(NULL out_threads)", t, "NULL");
    check_status(ibtpo_trainer_get_threads(t, &th), IBTPO_OK, "get_threads", t);
    check(th == 1, "get_threads returns the creation config's 1", NULL);
    check_err(ibtpo_trainer_set_threads(NULL, 2), ERR_ARG, "set_threads(NULL trainer, 2)", NULL, "NULL");
    const int32_t bad[] = {0, -1, 65, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "set_threads(%ld)", (long)bad[i]);
        check_err(ibtpo_trainer_set_threads(t, bad[i]), ERR_ARG, what, t, "threads");
    }
    th = -7;
    ibtpo_trainer_get_threads(t, &th);
    checkf(th == 1, "failed set_threads calls leave the thread count at 1 (got %d)", (int)th);

    float fp1[FP_N], fp2[FP_N], fp64[FP_N];
    check_status(fingerprint(t, fp1), IBTPO_OK, "score the fingerprint rows with 1 thread", t);
    check_status(ibtpo_trainer_set_threads(t, 2), IBTPO_OK, "set_threads(2)", t);
    ibtpo_trainer_get_threads(t, &th);
    checkf(th == 2, "get_threads returns 2 after set_threads(2) (got %d)", (int)th);
    check_status(fingerprint(t, fp2), IBTPO_OK, "score the fingerprint rows with 2 threads", t);
    checkf(same_float_bits(fp1, fp2, FP_N), "score: %d log-probs bit-identical with 1 and 2 threads", FP_N);
    check_status(ibtpo_trainer_set_threads(t, 64), IBTPO_OK, "set_threads(64) (the maximum)", t);
    check_status(fingerprint(t, fp64), IBTPO_OK, "score the fingerprint rows with 64 threads", t);
    checkf(same_float_bits(fp1, fp64, FP_N), "score: %d log-probs bit-identical with 1 and 64 threads", FP_N);
    check_status(ibtpo_trainer_set_threads(t, 1), IBTPO_OK, "set_threads(1)", t);
}

/* ---- tokenizer --------------------------------------------------------------------------- */

static void *tok_thread(void *arg) {
    int64_t n = 0;
    ibtpo_status s = ibtpo_tokenize(NULL, 3, 0, NULL, 0, &n); /* fails on this thread */
    ((int *)arg)[0] = s == ERR_ARG && *ibtpo_last_error(NULL) != '\0';
    return NULL;
}

static void test_tokenizer(void) {
    const char text[] = {'a', '\0', 'b', (char)0xFF, '\n'};
    const int32_t want[] = {IBTPO_TOKEN_BOS, 'a', 0, 'b', 255, '\n'};
    int32_t out[16];
    int64_t n = -1;
    check_status(ibtpo_tokenize(text, 5, 1, out, 16, &n), IBTPO_OK, "tokenize(\"a\\0b\\xff\\n\", BOS)", NULL);
    checkf(n == 6 && memcmp(out, want, sizeof want) == 0, "tokenize: [BOS, 'a', 0, 'b', 255, '\\n'] (%lld tokens)",
           (long long)n);
    n = -1;
    check_status(ibtpo_tokenize(text, 5, 0, out, 16, &n), IBTPO_OK, "tokenize(no BOS)", NULL);
    checkf(n == 5 && memcmp(out, want + 1, 5 * sizeof *out) == 0, "tokenize without BOS: the 5 bytes (%lld tokens)",
           (long long)n);

    /* size query: capacity 0 / too small -> INVALID_ARGUMENT, *out_len = tokens needed, nothing written */
    n = -1;
    check_err(ibtpo_tokenize(text, 5, 1, NULL, 0, &n), ERR_ARG, "tokenize size query (out NULL, capacity 0)", NULL,
              "capacity");
    checkf(n == 6, "  ... sets *out_len to the 6 tokens needed (got %lld)", (long long)n);
    for (int i = 0; i < 16; i++) out[i] = -77;
    n = -1;
    check_err(ibtpo_tokenize(text, 5, 1, out, 5, &n), ERR_ARG, "tokenize(capacity 5 < 6 needed)", NULL, "capacity");
    int untouched = 1;
    for (int i = 0; i < 16; i++) untouched &= out[i] == -77;
    checkf(n == 6 && untouched, "  ... sets *out_len = 6 (got %lld) and writes nothing", (long long)n);
    n = -1;
    check_status(ibtpo_tokenize(text, 5, 1, out, 6, &n), IBTPO_OK, "tokenize(capacity exactly 6)", NULL);
    check(n == 6 && memcmp(out, want, sizeof want) == 0 && out[6] == -77, "  ... writes exactly 6 tokens", NULL);
    n = -1;
    check_status(ibtpo_tokenize("", 0, 0, NULL, 0, &n), IBTPO_OK, "tokenize(len 0, no BOS, out NULL, capacity 0)", NULL);
    checkf(n == 0, "  ... needs 0 tokens (got %lld)", (long long)n);
    n = -1;
    check_status(ibtpo_tokenize("", 0, 1, out, 16, &n), IBTPO_OK, "tokenize(len 0, BOS)", NULL);
    checkf(n == 1 && out[0] == IBTPO_TOKEN_BOS, "  ... is [BOS] (%lld tokens)", (long long)n);

    check_err(ibtpo_tokenize(NULL, 5, 1, out, 16, &n), ERR_ARG, "tokenize(text NULL, len 5)", NULL, "NULL");
    check_err(ibtpo_tokenize(text, -1, 1, out, 16, &n), ERR_ARG, "tokenize(len -1)", NULL, "len");
    check_err(ibtpo_tokenize(text, INT64_MIN, 1, out, 16, &n), ERR_ARG, "tokenize(len INT64_MIN)", NULL, "len");
    check_err(ibtpo_tokenize(text, INT64_MAX, 1, out, 16, &n), ERR_ARG, "tokenize(len INT64_MAX, BOS: overflow)", NULL,
              NULL);
    check_err(ibtpo_tokenize(text, 5, 2, out, 16, &n), ERR_ARG, "tokenize(add_bos 2)", NULL, "add_bos");
    check_err(ibtpo_tokenize(text, 5, -1, out, 16, &n), ERR_ARG, "tokenize(add_bos -1)", NULL, "add_bos");
    check_err(ibtpo_tokenize(text, 5, 1, NULL, 16, &n), ERR_ARG, "tokenize(out NULL, capacity 16)", NULL, "NULL");
    check_err(ibtpo_tokenize(text, 5, 1, out, -1, &n), ERR_ARG, "tokenize(capacity -1)", NULL, "capacity");
    check_err(ibtpo_tokenize(text, 5, 1, out, INT64_MIN, &n), ERR_ARG, "tokenize(capacity INT64_MIN)", NULL,
              "capacity");
    check_err(ibtpo_tokenize(text, 5, 1, out, 16, NULL), ERR_ARG, "tokenize(out_len NULL)", NULL, "NULL");

    /* detokenize: round trip with the NUL byte, then the size-query contract */
    char buf[64];
    int64_t m = -1;
    memset(buf, 'Z', sizeof buf);
    check_status(ibtpo_detokenize(want, 6, buf, 64, &m), IBTPO_OK, "detokenize the tokens of \"a\\0b\\xff\\n\"", NULL);
    checkf(m == 5 && memcmp(buf, text, 5) == 0 && buf[5] == '\0', "round trip: 5 bytes back, NUL byte kept, "
           "NUL-terminated (%lld bytes)", (long long)m);
    memset(buf, 'Z', sizeof buf);
    m = -1;
    check_err(ibtpo_detokenize(want, 6, buf, 5, &m), ERR_ARG, "detokenize(capacity 5 < 5 bytes + NUL)", NULL,
              "capacity");
    checkf(m == 5 && buf[0] == 'Z' && buf[4] == 'Z', "  ... sets *out_len = 5 (got %lld) and writes nothing",
           (long long)m);
    m = -1;
    check_err(ibtpo_detokenize(want, 6, NULL, 0, &m), ERR_ARG, "detokenize size query (out NULL, capacity 0)", NULL,
              "capacity");
    checkf(m == 5, "  ... sets *out_len = 5 (got %lld)", (long long)m);
    m = -1;
    check_status(ibtpo_detokenize(want, 6, buf, 6, &m), IBTPO_OK, "detokenize(capacity exactly 6)", NULL);
    check(m == 5 && buf[5] == '\0' && buf[6] == 'Z', "  ... writes 5 bytes and the NUL, nothing after", NULL);
    const int32_t special[] = {IBTPO_TOKEN_BOS, 'h', 'i', IBTPO_TOKEN_PAD, '!', IBTPO_TOKEN_EOS, 'x', 'y'};
    m = -1;
    check_status(ibtpo_detokenize(special, 8, buf, 64, &m), IBTPO_OK, "detokenize([BOS h i PAD ! EOS x y])", NULL);
    checkf(m == 3 && strcmp(buf, "hi!") == 0, "  ... drops BOS/PAD and stops at EOS: \"%s\" (%lld bytes)", buf,
           (long long)m);
    m = -1;
    check_status(ibtpo_detokenize(special, 0, buf, 1, &m), IBTPO_OK, "detokenize(n 0, capacity 1)", NULL);
    check(m == 0 && buf[0] == '\0', "  ... gives \"\"", NULL);
    int32_t all[256];
    char bytes[257];
    for (int i = 0; i < 256; i++) all[i] = i, bytes[i] = (char)i;
    n = m = -1;
    int32_t tk[300];
    ibtpo_status s1 = ibtpo_tokenize(bytes, 256, 0, tk, 300, &n);
    char back[300];
    ibtpo_status s2 = ibtpo_detokenize(tk, n > 0 ? n : 0, back, 300, &m);
    checkf(s1 == IBTPO_OK && s2 == IBTPO_OK && n == 256 && memcmp(tk, all, sizeof all) == 0 && m == 256 &&
               memcmp(back, bytes, 256) == 0,
           "all 256 byte values: token t == byte t and the round trip is exact");

    const int32_t after_eos[] = {'o', 'k', IBTPO_TOKEN_EOS, 999};
    check_err(ibtpo_detokenize(after_eos, 4, buf, 64, &m), ERR_ARG, "detokenize(token 999 after the EOS)", NULL, "999");
    const int32_t bad1[] = {'a', 259, 'b'}, bad2[] = {'a', -1, 'b'}, bad3[] = {INT32_MAX};
    check_err(ibtpo_detokenize(bad1, 3, buf, 64, &m), ERR_ARG, "detokenize(token 259)", NULL, "259");
    check_err(ibtpo_detokenize(bad2, 3, buf, 64, &m), ERR_ARG, "detokenize(token -1)", NULL, "-1");
    check_err(ibtpo_detokenize(bad3, 1, buf, 64, &m), ERR_ARG, "detokenize(token INT32_MAX)", NULL, "2147483647");
    check_err(ibtpo_detokenize(NULL, 3, buf, 64, &m), ERR_ARG, "detokenize(tokens NULL, n 3)", NULL, "NULL");
    check_err(ibtpo_detokenize(want, -1, buf, 64, &m), ERR_ARG, "detokenize(n -1)", NULL, NULL);
    check_err(ibtpo_detokenize(want, INT64_MIN, buf, 64, &m), ERR_ARG, "detokenize(n INT64_MIN)", NULL, NULL);
    check_err(ibtpo_detokenize(want, INT64_MAX, buf, 64, &m), ERR_ARG, "detokenize(n INT64_MAX: byte size overflows)",
              NULL, NULL);
    check_err(ibtpo_detokenize(want, 6, NULL, 64, &m), ERR_ARG, "detokenize(out NULL, capacity 64)", NULL, "NULL");
    check_err(ibtpo_detokenize(want, 6, buf, -1, &m), ERR_ARG, "detokenize(capacity -1)", NULL, "capacity");
    check_err(ibtpo_detokenize(want, 6, buf, 64, NULL), ERR_ARG, "detokenize(out_len NULL)", NULL, "NULL");

    /* ibtpo_last_error(NULL) is per thread: a failure on another thread does not change ours. */
    ibtpo_tokenize(text, 5, 7, out, 16, &n); /* add_bos 7: our own error */
    char mine[256];
    snprintf(mine, sizeof mine, "%s", ibtpo_last_error(NULL));
    int other_ok = 0;
    pthread_t th;
    if (pthread_create(&th, NULL, tok_thread, &other_ok) == 0) pthread_join(th, NULL);
    checkf(other_ok && strcmp(mine, ibtpo_last_error(NULL)) == 0,
           "ibtpo_last_error(NULL) is per thread (ours still \"%.60s\" after another thread failed)", mine);
}

/* ---- tasks ------------------------------------------------------------------------------ */

/* Parses "a+b\n" and checks answer == a+b and that the solution's last line is "answer: <answer>". */
static int add_problem_ok(const char *prompt, const char *solution, const char *answer) {
    long a = -1, b = -1;
    char nl = 0;
    if (sscanf(prompt, "%ld+%ld%c", &a, &b, &nl) != 3 || nl != '\n' || a < 0 || a > 9 || b < 0 || b > 9) return 0;
    char want[32];
    snprintf(want, sizeof want, "%ld", a + b);
    return strcmp(answer, want) == 0 && answer_line_matches(solution, (int64_t)strlen(solution), answer);
}

static void test_tasks(void) {
    ibtpo_task *k = (ibtpo_task *)&passed; /* any non-NULL value: a failed create must reset it */
    check_err(ibtpo_task_create_builtin(NULL, NULL, 1, &k), ERR_ARG, "task_create_builtin(name NULL)", NULL, "NULL");
    check(k == NULL, "  ... sets *out = NULL", NULL);
    check_err(ibtpo_task_create_builtin("add", NULL, 1, NULL), ERR_ARG, "task_create_builtin(out NULL)", NULL, "NULL");
    const struct { const char *name, *opts, *keyword; } bad[] = {
        {"mul", NULL, "mul"},           {"", NULL, "task"},           {"add", "digit=1", "digit"},
        {"add", "digits=99", "digits"}, {"add", "digits=0", "digits"}, {"add", "digits", "digits"},
        {"add", "digits=abc", "digits"}, {"add", "=3", NULL},          {"add", "digits=-1", "digits"},
        {"countdown", "numbers=9", "numbers"}, {"modchain", "mod=2", "mod"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char what[160];
        snprintf(what, sizeof what, "task_create_builtin(\"%s\", \"%s\")", bad[i].name, bad[i].opts ? bad[i].opts : "NULL");
        k = (ibtpo_task *)&passed;
        check_err(ibtpo_task_create_builtin(bad[i].name, bad[i].opts, 1, &k), ERR_ARG, what, NULL, bad[i].keyword);
        if (k) check(0, "  ... must set *out = NULL", NULL);
    }
    const struct { const char *name, *opts; } good[] = {
        {"add", NULL}, {"add", ""}, {"countdown", "numbers=4,max_number=10"}, {"modchain", "steps=2 mod=7"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char what[160];
        snprintf(what, sizeof what, "task_create_builtin(\"%s\", %s%s%s)", good[i].name, good[i].opts ? "\"" : "",
                 good[i].opts ? good[i].opts : "NULL", good[i].opts ? "\"" : "");
        k = NULL;
        check_status(ibtpo_task_create_builtin(good[i].name, good[i].opts, 1, &k), IBTPO_OK, what, NULL);
        int64_t c = 0;
        char p[256];
        ibtpo_status s = k ? ibtpo_task_problem_count(k, IBTPO_SPLIT_TRAIN, &c) : ERR_ARG;
        ibtpo_status s2 = k ? ibtpo_task_get_problem(k, IBTPO_SPLIT_TEST, 3, p, NULL, NULL, sizeof p) : ERR_ARG;
        checkf(s == IBTPO_OK && c == -1 && s2 == IBTPO_OK && strlen(p) > 1 && p[strlen(p) - 1] == '\n',
               "  ... an unbounded generator (count %lld) whose test prompt 3 ends with \\n", (long long)c);
        ibtpo_task_free(k);
    }
    ibtpo_task_free(NULL);
    check(1, "ibtpo_task_free(NULL) is a no-op", NULL);

    ibtpo_task *add = NULL, *add2 = NULL, *add7 = NULL;
    check_status(ibtpo_task_create_builtin("add", "digits=1", 3, &add), IBTPO_OK, "task_create_builtin(add, digits=1)", NULL);
    ibtpo_task_create_builtin("add", "digits=1", 3, &add2);
    ibtpo_task_create_builtin("add", "digits=1", 7, &add7);
    if (!add || !add2 || !add7) { ibtpo_task_free(add); ibtpo_task_free(add2); ibtpo_task_free(add7); return; }
    int64_t cnt = 0;
    check_status(ibtpo_task_problem_count(add, IBTPO_SPLIT_TEST, &cnt), IBTPO_OK, "problem_count(add, test)", NULL);
    checkf(cnt == -1, "  ... is -1 (unbounded generator; got %lld)", (long long)cnt);
    check_err(ibtpo_task_problem_count(NULL, IBTPO_SPLIT_TRAIN, &cnt), ERR_ARG, "problem_count(task NULL)", NULL, "NULL");
    check_err(ibtpo_task_problem_count(add, 2, &cnt), ERR_ARG, "problem_count(split 2)", NULL, "split");
    check_err(ibtpo_task_problem_count(add, -1, &cnt), ERR_ARG, "problem_count(split -1)", NULL, "split");
    check_err(ibtpo_task_problem_count(add, IBTPO_SPLIT_TRAIN, NULL), ERR_ARG, "problem_count(out_count NULL)", NULL,
              "NULL");
    int good_add = 1, same_seed = 1, other_differs = 0;
    for (int split = 0; split < 2; split++)
        for (int i = 0; i < 20; i++) {
            char p[64], s[64], a[64], p2[64], s2[64], a2[64], p7[64];
            ibtpo_status st = ibtpo_task_get_problem(add, split, i, p, s, a, 64);
            ibtpo_task_get_problem(add2, split, i, p2, s2, a2, 64);
            ibtpo_task_get_problem(add7, split, i, p7, NULL, NULL, 64);
            good_add &= st == IBTPO_OK && add_problem_ok(p, s, a);
            same_seed &= strcmp(p, p2) == 0 && strcmp(s, s2) == 0 && strcmp(a, a2) == 0;
            other_differs |= strcmp(p, p7) != 0;
        }
    check(good_add, "get_problem(add digits=1): 40 problems are \"a+b\\n\" with answer a+b and a solution ending "
          "\"answer: <answer>\"", NULL);
    check(same_seed, "the same generator seed gives the same 40 problems", NULL);
    check(other_differs, "another generator seed gives other problems", NULL);
    char p[64], s[64], a[64];
    memset(p, 'Z', sizeof p);
    memset(s, 'Z', sizeof s);
    memset(a, 'Z', sizeof a);
    check_err(ibtpo_task_get_problem(add, IBTPO_SPLIT_TRAIN, 0, p, s, a, 4), ERR_ARG, "get_problem(capacity 4)", NULL,
              "capacity");
    check(p[0] == 'Z' && s[0] == 'Z' && a[0] == 'Z', "  ... writes nothing", NULL);
    check_err(ibtpo_task_get_problem(add, IBTPO_SPLIT_TRAIN, 0, p, s, a, 0), ERR_ARG, "get_problem(capacity 0)", NULL,
              "capacity");
    check_err(ibtpo_task_get_problem(add, IBTPO_SPLIT_TRAIN, 0, p, s, a, -1), ERR_ARG, "get_problem(capacity -1)",
              NULL, "capacity");
    check_err(ibtpo_task_get_problem(add, IBTPO_SPLIT_TRAIN, -1, p, s, a, 64), ERR_ARG, "get_problem(index -1)", NULL,
              "index");
    check_err(ibtpo_task_get_problem(add, IBTPO_SPLIT_TRAIN, INT64_MIN, p, s, a, 64), ERR_ARG,
              "get_problem(index INT64_MIN)", NULL, "index");
    check_err(ibtpo_task_get_problem(add, 2, 0, p, s, a, 64), ERR_ARG, "get_problem(split 2)", NULL, "split");
    check_err(ibtpo_task_get_problem(NULL, 0, 0, p, s, a, 64), ERR_ARG, "get_problem(task NULL)", NULL, "NULL");
    check_status(ibtpo_task_get_problem(add, IBTPO_SPLIT_TRAIN, 0, NULL, NULL, NULL, 64), IBTPO_OK,
                 "get_problem(all three buffers NULL: nothing to copy)", NULL);
    memset(p, 0, sizeof p), memset(s, 0, sizeof s), memset(a, 0, sizeof a);
    check_status(ibtpo_task_get_problem(add, IBTPO_SPLIT_TEST, INT64_MAX, p, s, a, 64), IBTPO_OK,
                 "get_problem(generator, index INT64_MAX: any index >= 0)", NULL);
    check(add_problem_ok(p, s, a), "  ... is a well-formed problem", p);
    ibtpo_task_free(add);
    ibtpo_task_free(add2);
    ibtpo_task_free(add7);

    /* In memory: explicit splits, copied strings, index ranges, answers/solutions optional. */
    char pr[6][16], an[6][8], so[6][32];
    const char *P[6], *A[6], *S[6];
    const int32_t sp[6] = {0, 0, 0, 0, 1, 1};
    for (int i = 0; i < 6; i++) {
        snprintf(pr[i], sizeof pr[i], "%d+%d\n", i + 1, i + 1);
        snprintf(an[i], sizeof an[i], "%d", 2 * (i + 1));
        snprintf(so[i], sizeof so[i], "%d+%d+0=%d\nanswer: %d", i + 1, i + 1, 2 * (i + 1), 2 * (i + 1));
        P[i] = pr[i], A[i] = an[i], S[i] = so[i];
    }
    ibtpo_task *mem = NULL;
    check_status(ibtpo_task_create_memory(P, A, S, sp, 6, &mem), IBTPO_OK, "task_create_memory(6 problems, 4 train / 2 test)", NULL);
    if (mem) {
        for (int i = 0; i < 6; i++) pr[i][0] = 'X', an[i][0] = 'X', so[i][0] = 'X'; /* the library copied them */
        int64_t ntr = -5, nte = -5;
        ibtpo_task_problem_count(mem, IBTPO_SPLIT_TRAIN, &ntr);
        ibtpo_task_problem_count(mem, IBTPO_SPLIT_TEST, &nte);
        checkf(ntr == 4 && nte == 2, "problem_count: train %lld, test %lld (want 4, 2)", (long long)ntr, (long long)nte);
        /* every stored problem is one of the inputs, of the right split, each exactly once */
        int seen[6] = {0}, ok = 1;
        for (int split = 0; split < 2; split++)
            for (int i = 0; i < (split ? 2 : 4); i++) {
                char gp[64], gs[64], ga[64];
                if (ibtpo_task_get_problem(mem, split, i, gp, gs, ga, 64) != IBTPO_OK) { ok = 0; continue; }
                int a1 = 0, b1 = 0;
                if (sscanf(gp, "%d+%d", &a1, &b1) != 2 || a1 < 1 || a1 > 6 || seen[a1 - 1]++ || sp[a1 - 1] != split) {
                    ok = 0;
                    continue;
                }
                char wp[16], wa[8], ws[32];
                snprintf(wp, sizeof wp, "%d+%d\n", a1, a1);
                snprintf(wa, sizeof wa, "%d", 2 * a1);
                snprintf(ws, sizeof ws, "%d+%d+0=%d\nanswer: %d", a1, a1, 2 * a1, 2 * a1);
                ok &= strcmp(gp, wp) == 0 && strcmp(ga, wa) == 0 && strcmp(gs, ws) == 0;
            }
        check(ok, "get_problem returns each in-memory problem (prompt, solution, answer) once, in its split, "
              "unaffected by later changes to the caller's strings", NULL);
        check_err(ibtpo_task_get_problem(mem, IBTPO_SPLIT_TEST, 2, p, s, a, 64), ERR_ARG,
                  "get_problem(test index 2 == count)", NULL, "index");
        check_err(ibtpo_task_get_problem(mem, IBTPO_SPLIT_TRAIN, INT64_MAX, p, s, a, 64), ERR_ARG,
                  "get_problem(index INT64_MAX)", NULL, "index");
        ibtpo_task_free(mem);
    }
    for (int i = 0; i < 6; i++) { /* restore */
        snprintf(pr[i], sizeof pr[i], "%d+%d\n", i + 1, i + 1);
        snprintf(an[i], sizeof an[i], "%d", 2 * (i + 1));
        snprintf(so[i], sizeof so[i], "%d+%d+0=%d\nanswer: %d", i + 1, i + 1, 2 * (i + 1), 2 * (i + 1));
    }
    mem = NULL;
    check_status(ibtpo_task_create_memory(P, NULL, NULL, sp, 6, &mem), IBTPO_OK,
                 "task_create_memory(answers NULL, solutions NULL)", NULL);
    if (mem) {
        char ga[8] = "ZZZ", gs[8] = "ZZZ";
        check_status(ibtpo_task_get_problem(mem, IBTPO_SPLIT_TRAIN, 0, NULL, gs, ga, 8), IBTPO_OK,
                     "get_problem of a task without answers or solutions", NULL);
        checkf(ga[0] == '\0' && gs[0] == '\0', "  ... the answer is \"\" (got \"%s\") and the solution \"\" (got \"%s\")",
               ga, gs);
        ibtpo_task_free(mem);
    }
    mem = NULL;
    check_status(ibtpo_task_create_memory(P, A, NULL, sp, 6, &mem), IBTPO_OK, "task_create_memory(answers, solutions NULL)",
                 NULL);
    if (mem) {
        char gp[16] = "", ga[8] = "", gs[32] = "", want[32];
        ibtpo_task_get_problem(mem, IBTPO_SPLIT_TRAIN, 0, gp, gs, ga, 32);
        snprintf(want, sizeof want, "answer: %s", ga);
        checkf(ga[0] && strcmp(gs, want) == 0, "  ... the solution is the line \"answer: <answer>\" (got \"%s\")", gs);
        ibtpo_task_free(mem);
    }
    mem = NULL;
    /* answers NULL with solutions: the header allows it (a reward callback judges); the solutions
     * are only references for SFT */
    const char *S_free[6] = {"two", "four", "six", "eight", "ten", "twelve"};
    ibtpo_status ms = ibtpo_task_create_memory(P, NULL, S_free, sp, 6, &mem);
    checkf(ms == IBTPO_OK, "task_create_memory(answers NULL, solutions given) -> %s%s%.160s%s", ibtpo_status_string(ms),
           ms ? ": \"" : "", ms ? ibtpo_last_error(NULL) : "", ms ? "\"" : "");
    if (mem) {
        char gs[16] = "";
        ibtpo_task_get_problem(mem, IBTPO_SPLIT_TEST, 0, NULL, gs, NULL, 16);
        checkf(strcmp(gs, "ten") == 0, "  ... test problem 0 keeps its solution (\"%s\")", gs);
        ibtpo_task_free(mem);
    }
    const int64_t bad_counts[] = {0, -1, INT64_MIN, INT64_MAX, (1 << 24) + 1};
    for (size_t i = 0; i < sizeof bad_counts / sizeof bad_counts[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "task_create_memory(count %lld)", (long long)bad_counts[i]);
        k = (ibtpo_task *)&passed;
        check_err(ibtpo_task_create_memory(P, A, S, sp, bad_counts[i], &k), ERR_ARG, what, NULL, "count");
        if (k) check(0, "  ... must set *out = NULL", NULL);
    }
    check_err(ibtpo_task_create_memory(NULL, A, S, sp, 6, &k), ERR_ARG, "task_create_memory(prompts NULL)", NULL, "NULL");
    check_err(ibtpo_task_create_memory(P, A, S, sp, 6, NULL), ERR_ARG, "task_create_memory(out NULL)", NULL, "NULL");
    const char *P_null[6] = {P[0], P[1], NULL, P[3], P[4], P[5]};
    check_err(ibtpo_task_create_memory(P_null, A, S, sp, 6, &k), ERR_ARG, "task_create_memory(prompts[2] NULL)", NULL,
              "prompt&2");
    const char *A_null[6] = {A[0], A[1], A[2], A[3], NULL, A[5]};
    check_err(ibtpo_task_create_memory(P, A_null, S, sp, 6, &k), ERR_ARG, "task_create_memory(answers[4] NULL)", NULL,
              "answer&4");
    const int32_t sp_bad[6] = {0, 0, 2, 0, 1, 1}, sp_all_train[6] = {0, 0, 0, 0, 0, 0}, sp_neg[6] = {0, -1, 0, 0, 1, 1};
    check_err(ibtpo_task_create_memory(P, A, S, sp_bad, 6, &k), ERR_ARG, "task_create_memory(splits[2] = 2)", NULL,
              "split");
    check_err(ibtpo_task_create_memory(P, A, S, sp_neg, 6, &k), ERR_ARG, "task_create_memory(splits[1] = -1)", NULL,
              "split");
    /* The header does not say which status an empty split gets: INVALID_ARGUMENT or BAD_DATA. */
    ibtpo_status es = ibtpo_task_create_memory(P, A, S, sp_all_train, 6, &k);
    checkf((es == ERR_ARG || es == IBTPO_ERR_BAD_DATA) && contains_all_ci(ibtpo_last_error(NULL), "test&split"),
           "task_create_memory(every problem in train: empty test split) -> %s (INVALID_ARGUMENT or BAD_DATA), error "
           "\"%.120s\" (names the test split)", ibtpo_status_string(es), ibtpo_last_error(NULL));
    es = ibtpo_task_create_memory(P, A, S, NULL, 1, &k);
    checkf((es == ERR_ARG || es == IBTPO_ERR_BAD_DATA) && contains_ci(ibtpo_last_error(NULL), "split"),
           "task_create_memory(1 problem, hash split: one split is empty) -> %s (INVALID_ARGUMENT or BAD_DATA), error "
           "\"%.120s\"", ibtpo_status_string(es), ibtpo_last_error(NULL));
    /* 100 prompts split by hash: about 10% test, both non-empty */
    char many[100][16];
    const char *M[100];
    for (int i = 0; i < 100; i++) snprintf(many[i], sizeof many[i], "q%d\n", i), M[i] = many[i];
    mem = NULL;
    check_status(ibtpo_task_create_memory(M, NULL, NULL, NULL, 100, &mem), IBTPO_OK,
                 "task_create_memory(100 prompts, splits NULL: by hash)", NULL);
    if (mem) {
        int64_t ntr = 0, nte = 0;
        ibtpo_task_problem_count(mem, IBTPO_SPLIT_TRAIN, &ntr);
        ibtpo_task_problem_count(mem, IBTPO_SPLIT_TEST, &nte);
        checkf(ntr + nte == 100 && nte >= 1 && nte <= 30, "  ... %lld train + %lld test (about 10%% test)",
               (long long)ntr, (long long)nte);
        ibtpo_task_free(mem);
    }

    /* JSON Lines */
    char jl[4200], bad_jl[4200];
    path_in_scratch(jl, sizeof jl, "task.jsonl");
    path_in_scratch(bad_jl, sizeof bad_jl, "bad.jsonl");
    const char *lines =
        "{\"prompt\": \"What is 6*7?\\n\", \"answer\": \"42\", \"solution\": \"6*7=42\\nanswer: 42\", \"split\": \"train\"}\n"
        "\n"
        "{\"prompt\": \"2+2\\n\", \"answer\": \"4\", \"split\": \"train\"}\n"
        "{\"prompt\": \"3+3\\n\", \"answer\": \"6\", \"solution\": null, \"split\": \"train\", \"extra\": [1, 2]}\n"
        "{\"prompt\": \"4+4\\n\", \"answer\": \"8\", \"split\": \"test\"}\n";
    write_file(jl, (const unsigned char *)lines, strlen(lines));
    ibtpo_task *j = NULL;
    check_status(ibtpo_task_create_jsonl(jl, 48, &j), IBTPO_OK, "task_create_jsonl(4 problems, a blank line)", NULL);
    if (j) {
        int64_t ntr = 0, nte = 0;
        ibtpo_task_problem_count(j, IBTPO_SPLIT_TRAIN, &ntr);
        ibtpo_task_problem_count(j, IBTPO_SPLIT_TEST, &nte);
        char gp[64] = "", gs[64] = "", ga[64] = "";
        ibtpo_task_get_problem(j, IBTPO_SPLIT_TEST, 0, gp, gs, ga, 64);
        checkf(ntr == 3 && nte == 1 && strcmp(gp, "4+4\n") == 0 && strcmp(ga, "8") == 0 && strcmp(gs, "answer: 8") == 0,
               "  ... train %lld, test %lld; test problem 0 is \"4+4\\n\" with answer \"8\" and solution \"%s\" "
               "(\"answer: 8\" when none is given)", (long long)ntr, (long long)nte, gs);
        ibtpo_task_free(j);
    }
    const char *badlines = "{\"prompt\": \"a\\n\", \"answer\": \"1\", \"split\": \"train\"}\n"
                           "{\"prompt\": \"b\\n\", \"answer\": \"2\", \"split\": \"test\"}\n"
                           "{\"prompt\": \"c\\n\", \"answer\": 3,}\n";
    write_file(bad_jl, (const unsigned char *)badlines, strlen(badlines));
    k = (ibtpo_task *)&passed;
    check_err(ibtpo_task_create_jsonl(bad_jl, 48, &k), IBTPO_ERR_BAD_DATA, "task_create_jsonl(invalid JSON on line 3)",
              NULL, "bad.jsonl&3");
    check(k == NULL, "  ... creates no task (*out = NULL)", NULL);
    check_err(ibtpo_task_create_jsonl(jl, 8, &k), IBTPO_ERR_BAD_DATA, "task_create_jsonl(max_tokens 8: line 1 too long)",
              NULL, "task.jsonl&1");
    check_err(ibtpo_task_create_jsonl("/nonexistent-ibtpo-dir/t.jsonl", 48, &k), IBTPO_ERR_IO,
              "task_create_jsonl(missing file)", NULL, "nonexistent-ibtpo-dir");
    check_err(ibtpo_task_create_jsonl(NULL, 48, &k), ERR_ARG, "task_create_jsonl(path NULL)", NULL, "NULL");
    check_err(ibtpo_task_create_jsonl(jl, 48, NULL), ERR_ARG, "task_create_jsonl(out NULL)", NULL, "NULL");
    const int32_t bad_max[] = {0, -1, 65537, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof bad_max / sizeof bad_max[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "task_create_jsonl(max_tokens %ld)", (long)bad_max[i]);
        check_err(ibtpo_task_create_jsonl(jl, bad_max[i], &k), ERR_ARG, what, NULL, "max_tokens");
    }
    unlink(jl);
    unlink(bad_jl);
}

/* ---- callbacks: setters -------------------------------------------------------------- */

static void test_callback_setters(ibtpo_trainer *t) {
    reward_state r;
    log_state l;
    progress_state p;
    check_err(ibtpo_trainer_set_reward_fn(NULL, test_reward, &r), ERR_ARG, "set_reward_fn(NULL trainer)", NULL, "NULL");
    check_err(ibtpo_trainer_set_log_fn(NULL, test_log, &l), ERR_ARG, "set_log_fn(NULL trainer)", NULL, "NULL");
    check_err(ibtpo_trainer_set_progress_fn(NULL, test_progress, &p), ERR_ARG, "set_progress_fn(NULL trainer)", NULL,
              "NULL");
    check_status(ibtpo_trainer_set_reward_fn(t, NULL, NULL), IBTPO_OK, "set_reward_fn(fn NULL) removes (none set)", t);
    check_status(ibtpo_trainer_set_log_fn(t, NULL, &l), IBTPO_OK, "set_log_fn(fn NULL) removes (none set)", t);
    check_status(ibtpo_trainer_set_progress_fn(t, NULL, NULL), IBTPO_OK, "set_progress_fn(fn NULL) removes", t);
}

/* ---- generate and score ------------------------------------------------------------- */

#define GN 4   /* completions per generate call */
#define GMAX 24 /* max_new_tokens */
#define PLEN 5 /* [BOS] "3+4\n" */

typedef struct {
    int32_t tok[GN * GMAX];
    int64_t len[GN];
    float lp[GN * GMAX];
} gen_out;

static ibtpo_status gen(ibtpo_trainer *t, const int32_t *prompt, int64_t n, const ibtpo_sampling_config *s,
                        uint64_t seed, gen_out *o, int with_logps) {
    for (int i = 0; i < GN * GMAX; i++) o->tok[i] = -99, o->lp[i] = 99.0f;
    for (int i = 0; i < GN; i++) o->len[i] = -99;
    return ibtpo_trainer_generate(t, prompt, PLEN, n, s, seed, o->tok, o->len, with_logps ? o->lp : NULL);
}

/* Rows 0..n-1 of a and b are identical (tokens, lengths and, if lp, log-prob bits). */
static int gen_rows_equal(const gen_out *a, const gen_out *b, int n, int lp) {
    return memcmp(a->tok, b->tok, (size_t)n * GMAX * sizeof(int32_t)) == 0 &&
           memcmp(a->len, b->len, (size_t)n * sizeof(int64_t)) == 0 &&
           (!lp || memcmp(a->lp, b->lp, (size_t)n * GMAX * sizeof(float)) == 0);
}

/* Checks the documented layout of n completions; returns 1 if all rows are well formed. */
static int gen_well_formed(const gen_out *o, int n, int max_new, int stop_at_eos, char *why, size_t whyn) {
    for (int i = 0; i < n; i++) {
        int64_t L = o->len[i];
        if (L < 1 || L > max_new) { snprintf(why, whyn, "row %d: length %lld", i, (long long)L); return 0; }
        for (int j = 0; j < max_new; j++) {
            int32_t tk = o->tok[i * max_new + j];
            float lp = o->lp[i * max_new + j];
            if (j < L) {
                if (tk < 0 || tk >= 259 || !isfinite(lp) || lp > 0) {
                    snprintf(why, whyn, "row %d pos %d: token %d log-prob %g", i, j, (int)tk, (double)lp);
                    return 0;
                }
                if (stop_at_eos && tk == IBTPO_TOKEN_EOS && j != L - 1) {
                    snprintf(why, whyn, "row %d: EOS at %d before the end %lld", i, j, (long long)L);
                    return 0;
                }
            } else if (tk != IBTPO_TOKEN_PAD || lp != 0.0f) {
                snprintf(why, whyn, "row %d pos %d after the end: token %d log-prob %g (want PAD, 0)", i, j, (int)tk,
                         (double)lp);
                return 0;
            }
        }
        if (stop_at_eos && L < max_new && o->tok[i * max_new + L - 1] != IBTPO_TOKEN_EOS) {
            snprintf(why, whyn, "row %d ends at %lld < max_new_tokens without EOS", i, (long long)L);
            return 0;
        }
    }
    return 1;
}

/* Scores prompt + completion i and compares with generate's temperature-1 log-probs.
 * Returns the worst |difference| (or INFINITY if the score call failed). */
static double score_vs_generate(ibtpo_trainer *t, const int32_t *prompt, const gen_out *o, int n, int64_t *compared) {
    int32_t seqs[GN * (PLEN + GMAX)] = {0};
    int64_t lens[GN] = {0};
    float out[GN * (PLEN + GMAX)];
    const int W = PLEN + GMAX;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < W; j++) seqs[i * W + j] = IBTPO_TOKEN_PAD;
        memcpy(seqs + i * W, prompt, PLEN * sizeof(int32_t));
        memcpy(seqs + i * W + PLEN, o->tok + i * GMAX, (size_t)o->len[i] * sizeof(int32_t));
        lens[i] = PLEN + o->len[i];
    }
    if (ibtpo_trainer_score(t, seqs, lens, n, W, out) != IBTPO_OK) return INFINITY;
    double worst = 0;
    *compared = 0;
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < o->len[i]; j++) {
            double d = fabs((double)out[i * W + PLEN - 1 + j] - (double)o->lp[i * GMAX + j]);
            if (d > worst) worst = d;
            ++*compared;
        }
    return worst;
}

static void test_generate(ibtpo_trainer *t, ibtpo_trainer *noslots) {
    int32_t prompt[8];
    int64_t pl = 0;
    ibtpo_tokenize("3+4\n", 4, 1, prompt, 8, &pl);
    ibtpo_sampling_config s = small_sampling();
    static gen_out a, b, c, d;
    char why[256] = "";
    state_snap before;
    snap_take(t, &before, "gen-before.ckpt");

    double t0 = now_seconds();
    check_status(gen(t, prompt, GN, &s, 42, &a, 1), IBTPO_OK, "generate(4 completions, seed 42, T 0.7 top-k 20 top-p 0.95)", t);
    note("generate: 4 x 24 tokens in %.3f s; lengths %lld %lld %lld %lld", now_seconds() - t0, (long long)a.len[0],
         (long long)a.len[1], (long long)a.len[2], (long long)a.len[3]);
    checkf(gen_well_formed(&a, GN, GMAX, 1, why, sizeof why),
           "generate: lengths in 1..24, tokens < 259, log-probs finite <= 0, PAD and 0 after the end, EOS last %s", why);
    check_status(gen(t, prompt, GN, &s, 42, &b, 1), IBTPO_OK, "generate again with seed 42", t);
    check(gen_rows_equal(&a, &b, GN, 1), "same seed -> the same tokens, lengths and log-prob bits", NULL);
    check_status(gen(t, prompt, 2, &s, 42, &c, 1), IBTPO_OK, "generate(n 2, seed 42)", t);
    check(gen_rows_equal(&a, &c, 2, 1), "completion i does not depend on n: rows 0-1 of n=2 == rows 0-1 of n=4", NULL);
    check_status(gen(t, prompt, 1, &s, 42, &c, 1), IBTPO_OK, "generate(n 1, seed 42)", t);
    check(gen_rows_equal(&a, &c, 1, 1), "row 0 of n=1 == row 0 of n=4", NULL);
    check_status(gen(t, prompt, GN, &s, 42, &c, 0), IBTPO_OK, "generate(out_logps NULL)", t);
    check(gen_rows_equal(&a, &c, GN, 0), "  ... the same tokens and lengths without log-probs", NULL);
    check_status(gen(t, prompt, GN, &s, 43, &c, 1), IBTPO_OK, "generate(seed 43)", t);
    check(!gen_rows_equal(&a, &c, GN, 0), "another seed gives other completions", NULL);
    int64_t cmp = 0;
    double worst = score_vs_generate(t, prompt, &a, GN, &cmp);
    checkf(worst <= 1e-4, "score(prompt + completion) == generate's out_logps (temperature-1 policy): %lld tokens, "
           "worst |diff| %.3g <= 1e-4", (long long)cmp, worst);
    note("score vs generate (sampled): worst |diff| %.3g over %lld tokens", worst, (long long)cmp);

    ibtpo_sampling_config g = s;
    g.temperature = 0;
    check_status(gen(t, prompt, GN, &g, 1, &b, 1), IBTPO_OK, "generate(greedy, seed 1)", t);
    check_status(gen(t, prompt, GN, &g, 2, &c, 1), IBTPO_OK, "generate(greedy, seed 2)", t);
    int rows_same = 1;
    for (int i = 1; i < GN; i++)
        rows_same &= b.len[i] == b.len[0] && memcmp(b.tok, b.tok + i * GMAX, GMAX * sizeof(int32_t)) == 0;
    check(gen_rows_equal(&b, &c, GN, 1) && rows_same, "greedy: every row and every seed gives the same completion", NULL);
    checkf(gen_well_formed(&b, GN, GMAX, 1, why, sizeof why), "greedy completions are well formed %s", why);
    worst = score_vs_generate(t, prompt, &b, GN, &cmp);
    checkf(worst <= 1e-4, "score == greedy generate's out_logps: %lld tokens, worst |diff| %.3g", (long long)cmp, worst);
    ibtpo_sampling_config k1 = s;
    k1.top_k = 1;
    check_status(gen(t, prompt, GN, &k1, 99, &c, 1), IBTPO_OK, "generate(top_k 1, T 0.7)", t);
    double wk = 0;
    for (int i = 0; i < GN * GMAX; i++) wk = fmax(wk, fabs((double)c.lp[i] - (double)b.lp[i]));
    checkf(gen_rows_equal(&b, &c, GN, 0) && wk <= 1e-6, "top_k 1 samples the greedy completion (log-probs worst |diff| %.3g)", wk);
    ibtpo_sampling_config ne = s;
    ne.stop_at_eos = 0;
    ne.temperature = 1.5f;
    ne.top_k = 0;
    ne.top_p = 1;
    check_status(gen(t, prompt, GN, &ne, 5, &d, 1), IBTPO_OK, "generate(stop_at_eos 0, T 1.5, no top-k/top-p)", t);
    int full = 1, eos_seen = 0;
    for (int i = 0; i < GN; i++) {
        full &= d.len[i] == GMAX;
        for (int j = 0; j < GMAX; j++) eos_seen |= d.tok[i * GMAX + j] == IBTPO_TOKEN_EOS;
    }
    checkf(full && gen_well_formed(&d, GN, GMAX, 0, why, sizeof why),
           "stop_at_eos 0: every completion has all 24 tokens %s(EOS sampled inside: %s)", why, eos_seen ? "yes" : "no");
    worst = score_vs_generate(t, prompt, &d, GN, &cmp);
    checkf(worst <= 1e-4, "score == generate's out_logps at T 1.5 without filters: %lld tokens, worst |diff| %.3g",
           (long long)cmp, worst);
    check_unchanged(t, &before, "8 generate calls (parameters, optimiser state, step and RNG untouched)", 1);

    /* misuse */
    snap_take(t, &before, "gen-before2.ckpt");
    /* room for 16 rows of 48 tokens, so that a call wrongly accepted cannot overflow */
    static int32_t tk[16 * 48];
    static int64_t ln[16];
    static float lp[16 * 48];
    check_err(ibtpo_trainer_generate(NULL, prompt, PLEN, 2, &s, 1, tk, ln, lp), ERR_ARG, "generate(NULL trainer)", NULL, "NULL");
    check_err(ibtpo_trainer_generate(t, NULL, PLEN, 2, &s, 1, tk, ln, lp), ERR_ARG, "generate(prompt NULL)", t, "NULL");
    check_err(ibtpo_trainer_generate(t, prompt, PLEN, 2, NULL, 1, tk, ln, lp), ERR_ARG, "generate(cfg NULL)", t, "NULL");
    check_err(ibtpo_trainer_generate(t, prompt, PLEN, 2, &s, 1, NULL, ln, lp), ERR_ARG, "generate(out_tokens NULL)", t, "NULL");
    check_err(ibtpo_trainer_generate(t, prompt, PLEN, 2, &s, 1, tk, NULL, lp), ERR_ARG, "generate(out_lengths NULL)", t, "NULL");
    const int64_t bad_pl[] = {0, -1, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < 4; i++) {
        char what[96];
        snprintf(what, sizeof what, "generate(prompt_len %lld)", (long long)bad_pl[i]);
        check_err(ibtpo_trainer_generate(t, prompt, bad_pl[i], 2, &s, 1, tk, ln, lp), ERR_ARG, what, t, "prompt_len");
    }
    const int64_t bad_n[] = {0, -1, 9, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < 5; i++) {
        char what[96];
        snprintf(what, sizeof what, "generate(n %lld%s)", (long long)bad_n[i], bad_n[i] == 9 ? " > 8 rollout slots" : "");
        check_err(ibtpo_trainer_generate(t, prompt, PLEN, bad_n[i], &s, 1, tk, ln, lp), ERR_ARG, what, t, NULL);
    }
    const struct { const char *what, *kw; int field; double v; } bads[] = {
        {"cfg.struct_size 0", "struct_size", 0, 0}, {"cfg.struct_size sizeof-1", "struct_size", 0, sizeof s - 1},
        {"cfg.struct_size 0xFFFFFFFF", "struct_size", 0, 4294967295.0},
        {"temperature -1", "temperature", 1, -1}, {"temperature NaN", "temperature", 1, NAN},
        {"temperature inf", "temperature", 1, INFINITY}, {"top_k -1", "top_k", 2, -1}, {"top_k 260 > vocab", "top_k", 2, 260},
        {"top_p 0", "top_p", 3, 0}, {"top_p 1.5", "top_p", 3, 1.5}, {"top_p NaN", "top_p", 3, NAN},
        {"top_p -0.5", "top_p", 3, -0.5}, {"max_new_tokens 0", "max_new_tokens", 4, 0},
        {"max_new_tokens -1", "max_new_tokens", 4, -1},
        {"max_new_tokens INT32_MAX", "max_new_tokens", 4, INT32_MAX}, {"stop_at_eos 2", "stop_at_eos", 5, 2},
        {"stop_at_eos -1", "stop_at_eos", 5, -1},
    };
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        ibtpo_sampling_config m = s;
        switch (bads[i].field) {
        case 0: m.struct_size = (uint32_t)bads[i].v; break;
        case 1: m.temperature = (float)bads[i].v; break;
        case 2: m.top_k = (int32_t)bads[i].v; break;
        case 3: m.top_p = (float)bads[i].v; break;
        case 4: m.max_new_tokens = (int32_t)bads[i].v; break;
        default: m.stop_at_eos = (int32_t)bads[i].v; break;
        }
        char what[128];
        snprintf(what, sizeof what, "generate(%s)", bads[i].what);
        check_err(ibtpo_trainer_generate(t, prompt, PLEN, 2, &m, 1, tk, ln, lp), ERR_ARG, what, t, bads[i].kw);
    }
    /* "a completion also ends when prompt + completion reach model.max_seq" */
    ibtpo_sampling_config fit = s;
    fit.max_new_tokens = 44; /* 5 + 44 > max_seq 48: cut after 43 */
    fit.stop_at_eos = 0;
    for (int i = 0; i < 3 * 44; i++) tk[i] = -5, lp[i] = 5;
    check_status(ibtpo_trainer_generate(t, prompt, PLEN, 3, &fit, 1, tk, ln, lp), IBTPO_OK,
                 "generate(max_new_tokens 44 > max_seq 48 - prompt 5, stop_at_eos 0)", t);
    int cut_ok = 1;
    for (int i = 0; i < 3; i++) {
        cut_ok &= ln[i] == 43 && tk[i * 44 + 43] == IBTPO_TOKEN_PAD && lp[i * 44 + 43] == 0.0f;
        for (int j = 0; j < 43; j++) cut_ok &= tk[i * 44 + j] >= 0 && tk[i * 44 + j] < 259 && lp[i * 44 + j] <= 0;
    }
    checkf(cut_ok, "  ... every completion ends at max_seq: 43 tokens (got %lld %lld %lld), then PAD and log-prob 0 in "
           "rows of 44", (long long)ln[0], (long long)ln[1], (long long)ln[2]);
    int32_t badp[PLEN];
    memcpy(badp, prompt, sizeof badp);
    badp[2] = 259;
    ibtpo_status st = ibtpo_trainer_generate(t, badp, PLEN, 2, &s, 1, tk, ln, lp);
    checkf((st == ERR_ARG || st == IBTPO_ERR_BAD_DATA) && *ibtpo_last_error(t),
           "generate(prompt token 259) -> %s (INVALID_ARGUMENT or BAD_DATA), error \"%.120s\"", ibtpo_status_string(st),
           ibtpo_last_error(t));
    badp[2] = -1;
    st = ibtpo_trainer_generate(t, badp, PLEN, 2, &s, 1, tk, ln, lp);
    checkf((st == ERR_ARG || st == IBTPO_ERR_BAD_DATA) && *ibtpo_last_error(t),
           "generate(prompt token -1) -> %s (INVALID_ARGUMENT or BAD_DATA), error \"%.120s\"", ibtpo_status_string(st),
           ibtpo_last_error(t));
    if (noslots)
        check_err(ibtpo_trainer_generate(noslots, prompt, PLEN, 1, &s, 1, tk, ln, lp), ERR_ARG,
                  "generate on a trainer with rollout_slots 0", noslots, "rollout_slots");
    check_unchanged(t, &before, "the failed generate calls", 1);
    unlink(before.ckpt);
}

static void test_score(ibtpo_trainer *t) {
    enum { R = 9, W = 24, LONG = 40 };
    static int32_t tok[R * LONG];
    static float out[R * LONG], one[LONG], ref[R * LONG];
    int64_t lens[R];
    uint32_t x = 12345;
    for (int i = 0; i < R * LONG; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        tok[i] = (int32_t)(x % 259u);
    }
    for (int i = 0; i < R; i++) lens[i] = 1 + (i * 5) % W;
    lens[R - 1] = W;
    state_snap before;
    snap_take(t, &before, "score-before.ckpt");

    /* 9 rows of 24 (chunks of batch 4) with lengths 1..24 */
    for (int i = 0; i < R * W; i++) out[i] = 99.0f;
    check_status(ibtpo_trainer_score(t, tok, lens, R, W, out), IBTPO_OK, "score(9 rows x 24, lengths 1..24)", t);
    int zeros = 1, finite = 1;
    for (int i = 0; i < R; i++)
        for (int j = 0; j < W; j++) {
            float v = out[i * W + j];
            if (j + 1 < lens[i]) finite &= isfinite(v) && v <= 0;
            else zeros &= v == 0.0f;
        }
    check(finite && zeros, "score: finite log-probs <= 0 for t+1 < length, 0 elsewhere (incl. the last column)", NULL);
    /* lengths NULL == every row full length */
    int64_t full[R];
    for (int i = 0; i < R; i++) full[i] = W;
    check_status(ibtpo_trainer_score(t, tok, NULL, R, W, ref), IBTPO_OK, "score(lengths NULL)", t);
    check_status(ibtpo_trainer_score(t, tok, full, R, W, out), IBTPO_OK, "score(lengths all 24)", t);
    check(same_float_bits(out, ref, R * W), "lengths NULL == lengths all seq_len, bit for bit", NULL);
    /* chunking: each row alone == the same row in a 9-row call; causal: a row cut to length L
     * keeps the log-probs of its first L-1 positions */
    double worst_chunk = 0, worst_cut = 0;
    for (int i = 0; i < R; i++) {
        if (ibtpo_trainer_score(t, tok + i * W, NULL, 1, W, one) != IBTPO_OK) worst_chunk = INFINITY;
        for (int j = 0; j < W; j++) worst_chunk = fmax(worst_chunk, fabs((double)one[j] - (double)ref[i * W + j]));
    }
    ibtpo_trainer_score(t, tok, lens, R, W, out);
    for (int i = 0; i < R; i++)
        for (int j = 0; j + 1 < lens[i]; j++) worst_cut = fmax(worst_cut, fabs((double)out[i * W + j] - (double)ref[i * W + j]));
    checkf(worst_chunk <= 1e-5, "score: each row alone == in a 9-row call (chunks of 4): worst |diff| %.3g <= 1e-5", worst_chunk);
    checkf(worst_cut <= 1e-5, "score: a row cut by lengths keeps its earlier log-probs (causal): worst |diff| %.3g", worst_cut);
    /* rows longer than the config's seq (32) but within max_seq (48): one row at a time */
    check_status(ibtpo_trainer_score(t, tok, NULL, 3, LONG, out), IBTPO_OK, "score(3 rows x 40 > seq 32, <= max_seq 48)", t);
    double worst_long = 0;
    static int32_t pref[3 * 32];
    static float pout[3 * 32];
    for (int i = 0; i < 3; i++) memcpy(pref + i * 32, tok + i * LONG, 32 * sizeof(int32_t));
    ibtpo_trainer_score(t, pref, NULL, 3, 32, pout);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 31; j++) worst_long = fmax(worst_long, fabs((double)out[i * LONG + j] - (double)pout[i * 32 + j]));
    checkf(worst_long <= 1e-5, "score: the first 31 log-probs of 40-token rows == those of their 32-token prefixes: "
           "worst |diff| %.3g", worst_long);
    note("score: chunking worst |diff| %.3g, length cut %.3g, long rows %.3g", worst_chunk, worst_cut, worst_long);

    /* misuse */
    check_err(ibtpo_trainer_score(NULL, tok, NULL, 2, W, out), ERR_ARG, "score(NULL trainer)", NULL, "NULL");
    check_err(ibtpo_trainer_score(t, NULL, NULL, 2, W, out), ERR_ARG, "score(tokens NULL)", t, "NULL");
    check_err(ibtpo_trainer_score(t, tok, NULL, 2, W, NULL), ERR_ARG, "score(out_logps NULL)", t, "NULL");
    const int64_t bad_n[] = {0, -1, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < 4; i++) {
        char what[96];
        snprintf(what, sizeof what, "score(n_seqs %lld)", (long long)bad_n[i]);
        check_err(ibtpo_trainer_score(t, tok, NULL, bad_n[i], W, out), ERR_ARG, what, t, "n_seqs");
    }
    const int64_t bad_len[] = {0, -1, 49, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < 5; i++) {
        char what[96];
        snprintf(what, sizeof what, "score(seq_len %lld%s)", (long long)bad_len[i], bad_len[i] == 49 ? " > max_seq 48" : "");
        check_err(ibtpo_trainer_score(t, tok, NULL, 2, bad_len[i], out), ERR_ARG, what, t, "seq_len");
    }
    const int64_t bad_l[] = {0, -1, W + 1, INT64_MAX};
    for (size_t i = 0; i < 4; i++) {
        int64_t l2[2] = {W, bad_l[i]};
        char what[96];
        snprintf(what, sizeof what, "score(lengths[1] = %lld)", (long long)bad_l[i]);
        check_err(ibtpo_trainer_score(t, tok, l2, 2, W, out), ERR_ARG, what, t, "length");
    }
    int32_t saved = tok[W + 3];
    tok[W + 3] = 259;
    ibtpo_status st = ibtpo_trainer_score(t, tok, NULL, 2, W, out);
    checkf((st == ERR_ARG || st == IBTPO_ERR_BAD_DATA) && *ibtpo_last_error(t),
           "score(a token 259) -> %s (INVALID_ARGUMENT or BAD_DATA), error \"%.120s\"", ibtpo_status_string(st),
           ibtpo_last_error(t));
    tok[W + 3] = saved;
    check_unchanged(t, &before, "the score calls", 1);
    unlink(before.ckpt);
}

/* ---- SFT on a task and evaluation -------------------------------------------------- */

static int eval_in_range(const ibtpo_eval_result *r, int64_t problems, int max_new) {
    return r->struct_size == sizeof *r && r->problems == problems && r->greedy_accuracy >= 0 &&
           r->greedy_accuracy <= 1 && r->avg_at_k >= 0 && r->avg_at_k <= 1 && r->pass_at_k >= 0 &&
           r->pass_at_k <= 1 && r->mean_length >= 0 && r->mean_length <= max_new && r->truncated_fraction >= 0 &&
           r->truncated_fraction <= 1 && r->seconds >= 0 && isfinite(r->seconds);
}

static int eval_same(const ibtpo_eval_result *a, const ibtpo_eval_result *b) {
    return a->problems == b->problems && a->greedy_accuracy == b->greedy_accuracy && a->avg_at_k == b->avg_at_k &&
           a->pass_at_k == b->pass_at_k && a->mean_length == b->mean_length &&
           a->truncated_fraction == b->truncated_fraction;
}

static void eval_str(const ibtpo_eval_result *r, char *out, size_t n) {
    snprintf(out, n, "problems %lld, greedy %.3f, avg@k %.3f, pass@k %.3f, mean length %.2f, truncated %.3f, %.3f s",
             (long long)r->problems, r->greedy_accuracy, r->avg_at_k, r->pass_at_k, r->mean_length,
             r->truncated_fraction, r->seconds);
}

/* Records what the reward callback receives (prompt, completion bytes). */
typedef struct {
    int n;
    char prompt[8][32];
    char comp[8][64];
    int64_t len[8];
} capture_state;

static int32_t capture_reward(void *user_data, const char *prompt, int64_t prompt_len, const char *completion,
                              int64_t completion_len, const char *answer, double *out_reward) {
    capture_state *c = user_data;
    (void)prompt_len, (void)answer;
    if (c->n < 8 && completion_len < 64) {
        snprintf(c->prompt[c->n], 32, "%s", prompt);
        memcpy(c->comp[c->n], completion, (size_t)completion_len);
        c->len[c->n++] = completion_len;
    }
    *out_reward = 0;
    return 0;
}

static int valid_utf8(const unsigned char *s, int64_t n) {
    for (int64_t i = 0; i < n;) {
        int k = s[i] < 0x80 ? 0 : (s[i] & 0xE0) == 0xC0 ? 1 : (s[i] & 0xF0) == 0xE0 ? 2 : (s[i] & 0xF8) == 0xF0 ? 3 : -1;
        if (k < 0 || i + k >= n + (k == 0)) return 0;
        for (int j = 1; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        i += k + 1;
    }
    return 1;
}

/* "the completion is the raw sampled bytes with special tokens removed (it may contain NUL
 * bytes or invalid UTF-8)": a model taught (step_supervised) to answer every prompt with
 * "\xff\xc3(\0z\x80\n" + EOS; the greedy completions evaluate passes to the reward callback
 * must equal generate's greedy tokens, detokenized, byte for byte. */
static void test_reward_sees_raw_bytes(const ibtpo_task *add) {
    static const unsigned char weird[] = {0xFF, 0xC3, '(', 0x00, 'z', 0x80, '\n'};
    ibtpo_trainer_config cfg = small_config(3, 1);
    cfg.lr = cfg.min_lr = 1e-2f; /* 20 steps suffice (valgrind runs this too) */
    ibtpo_trainer *t = NULL;
    if (ibtpo_trainer_create(&cfg, &t) != IBTPO_OK) { check(0, "create a trainer", ibtpo_last_error(NULL)); return; }
    static int32_t tok[4 * 32], tgt[4 * 32];
    for (int i = 0; i < 4; i++) {
        char q[32] = "";
        int32_t row[33];
        int64_t pl = 0;
        ibtpo_task_get_problem(add, IBTPO_SPLIT_TEST, i, q, NULL, NULL, sizeof q);
        ibtpo_tokenize(q, (int64_t)strlen(q), 1, row, 33, &pl);
        int L = (int)pl;
        for (size_t j = 0; j < sizeof weird; j++) row[L++] = weird[j];
        row[L++] = IBTPO_TOKEN_EOS;
        for (int j = 0; j < 32; j++) {
            tok[i * 32 + j] = j < L ? row[j] : IBTPO_TOKEN_PAD;
            tgt[i * 32 + j] = (j + 1 < L && j + 1 >= pl) ? row[j + 1] : -1; /* loss on the completion only */
        }
    }
    ibtpo_step_stats st = {sizeof st, 0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 20; i++) ibtpo_trainer_step_supervised(t, tok, tgt, NULL, 4, 32, &st);
    capture_state cap;
    memset(&cap, 0, sizeof cap);
    ibtpo_eval_config ec;
    ibtpo_eval_config_default(&ec);
    ec.count = 4;
    ec.k = 0;
    ec.sampling = small_sampling();
    ibtpo_eval_result r = {sizeof r, 0, 0, 0, 0, 0, 0, 0};
    ibtpo_trainer_set_reward_fn(t, capture_reward, &cap);
    check_status(ibtpo_trainer_evaluate(t, add, &ec, &r), IBTPO_OK,
                 "evaluate(4 problems, greedy) of a model taught to write \"\\xff\\xc3(\\0z\\x80\\n\"", t);
    int same = cap.n == 4, nul = 0, invalid = 0;
    for (int i = 0; i < 4 && same; i++) {
        char q[32] = "", txt[64];
        int32_t prompt[16], out[GMAX];
        int64_t pl = 0, len = 0, m = -1;
        ibtpo_task_get_problem(add, IBTPO_SPLIT_TEST, i, q, NULL, NULL, sizeof q);
        ibtpo_tokenize(q, (int64_t)strlen(q), 1, prompt, 16, &pl);
        ibtpo_sampling_config g = ec.sampling;
        g.temperature = 0;
        same &= ibtpo_trainer_generate(t, prompt, pl, 1, &g, 0, out, &len, NULL) == IBTPO_OK &&
                ibtpo_detokenize(out, len, txt, sizeof txt, &m) == IBTPO_OK;
        int found = 0;
        for (int j = 0; j < cap.n; j++)
            if (strcmp(cap.prompt[j], q) == 0) {
                found = 1;
                same &= cap.len[j] == m && memcmp(cap.comp[j], txt, (size_t)m) == 0;
            }
        same &= found;
    }
    for (int j = 0; j < cap.n; j++) {
        nul += memchr(cap.comp[j], 0, (size_t)cap.len[j]) != NULL;
        invalid += !valid_utf8((const unsigned char *)cap.comp[j], cap.len[j]);
    }
    checkf(same && nul > 0 && invalid > 0,
           "the reward callback gets the raw completion bytes: 4 greedy completions == generate's tokens detokenized, "
           "byte for byte; %d contain a NUL byte, %d are not valid UTF-8 (SFT loss %.3f)", nul, invalid, (double)st.loss);
    ibtpo_trainer_free(t);
}

static void test_sft_and_eval(ibtpo_trainer *t, ibtpo_trainer *noslots) {
    ibtpo_task *add = NULL;
    ibtpo_task_create_builtin("add", "digits=1", 3, &add);
    if (!add) { check(0, "create the add task", NULL); return; }
    ibtpo_eval_config ec;
    ibtpo_eval_config_default(&ec);
    ec.count = 4;
    ec.k = 2;
    ec.sampling = small_sampling();
    ibtpo_eval_result r0, r1, r2;
    memset(&r0, 0, sizeof r0);
    r0.struct_size = sizeof r0;
    r1 = r2 = r0;
    char buf[256];
    progress_state ps;
    progress_reset(&ps, NULL);
    ibtpo_trainer_set_progress_fn(t, test_progress, &ps);

    state_snap before;
    snap_take(t, &before, "eval-before.ckpt");
    check_status(ibtpo_trainer_evaluate(t, add, &ec, &r0), IBTPO_OK, "evaluate(add, 4 problems, k 2) before SFT", t);
    eval_str(&r0, buf, sizeof buf);
    checkf(eval_in_range(&r0, 4, 24), "evaluate: rates in [0, 1], 4 problems, mean length in [0, 24] (%s)", buf);
    note("evaluate before SFT: %s", buf);
    char ph[128];
    phases_string(&ps, ph, sizeof ph);
    checkf(progress_saw(&ps, "evaluate") && ps.bad == 0,
           "evaluate reports progress in phase \"evaluate\" with 0 <= done <= total (%lld calls, phases: %s)",
           (long long)ps.calls, ph);
    check_status(ibtpo_trainer_evaluate(t, add, &ec, &r1), IBTPO_OK, "evaluate again", t);
    check(eval_same(&r0, &r1), "evaluate is deterministic (same results twice)", NULL);
    check_unchanged(t, &before, "2 evaluate calls (\"changes nothing in the trainer\")", 1);
    unlink(before.ckpt);
    test_reward_sees_raw_bytes(add);

    /* misuse of step_sft */
    ibtpo_step_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    snap_take(t, &before, "sft-before.ckpt");
    check_err(ibtpo_trainer_step_sft(NULL, add, &st), ERR_ARG, "step_sft(NULL trainer)", NULL, "NULL");
    check_err(ibtpo_trainer_step_sft(t, NULL, &st), ERR_ARG, "step_sft(task NULL)", t, "NULL");
    const uint32_t bad_ss[] = {0, 3, (uint32_t)sizeof st - 1, 0xFFFFFFFFu};
    for (int i = 0; i < 4; i++) {
        char what[96];
        st.struct_size = bad_ss[i];
        snprintf(what, sizeof what, "step_sft(out.struct_size %lu)", (unsigned long)bad_ss[i]);
        check_err(ibtpo_trainer_step_sft(t, add, &st), ERR_ARG, what, t, "struct_size");
    }
    st.struct_size = sizeof st;
    const char *lp[3] = {"a very long prompt that does not fit\n", "another long prompt, longer than 32 tokens\n", "t\n"};
    const char *la[3] = {"1", "2", "3"};
    const int32_t ls[3] = {0, 0, 1};
    ibtpo_task *longt = NULL;
    ibtpo_task_create_memory(lp, la, NULL, ls, 3, &longt);
    if (longt) check_err(ibtpo_trainer_step_sft(t, longt, &st), IBTPO_ERR_BAD_DATA,
                         "step_sft(every train problem longer than seq 32)", t, NULL);
    ibtpo_task_free(longt);
    check_unchanged(t, &before, "the failed step_sft calls", 1);
    unlink(before.ckpt);

    /* 30 SFT steps lower the loss */
    double first = 0, last = 0, t0 = now_seconds();
    int64_t step0 = get_step(t);
    int steps_ok = 1, finite = 1;
    float losses[30];
    for (int i = 0; i < 30; i++) {
        steps_ok &= ibtpo_trainer_step_sft(t, add, &st) == IBTPO_OK && st.step == step0 + i + 1 && st.tokens > 0;
        finite &= isfinite(st.loss) && isfinite(st.grad_norm) && st.loss > 0;
        losses[i] = st.loss;
        if (i < 5) first += st.loss / 5.0;
        if (i >= 25) last += st.loss / 5.0;
    }
    checkf(steps_ok && finite && get_step(t) == step0 + 30,
           "30 step_sft calls succeed, each advances the step by 1 (%lld -> %lld), finite losses", (long long)step0,
           (long long)get_step(t));
    checkf(last < 0.8 * first, "step_sft lowers the loss: mean of steps 1-5 %.3f -> steps 26-30 %.3f (< 0.8x)", first, last);
    note("SFT 30 steps in %.2f s, loss %.3f %.3f %.3f ... %.3f %.3f %.3f", now_seconds() - t0, (double)losses[0],
         (double)losses[1], (double)losses[2], (double)losses[27], (double)losses[28], (double)losses[29]);
    check_status(ibtpo_trainer_step_sft(t, add, NULL), IBTPO_OK, "step_sft(out NULL)", t);

    check_status(ibtpo_trainer_evaluate(t, add, &ec, &r1), IBTPO_OK, "evaluate after SFT", t);
    eval_str(&r1, buf, sizeof buf);
    checkf(eval_in_range(&r1, 4, 24), "evaluate after SFT: values in range (%s)", buf);
    note("evaluate after 31 SFT steps: %s", buf);

    /* After SFT the policy writes EOS: generate stops there (EOS included and counted), pads
     * after it, and score of prompt + completion (EOS inside) still equals generate's log-probs. */
    {
        char q[64] = "";
        int32_t prompt[16];
        int64_t pl = 0, cmp = 0;
        static gen_out o;
        char why[256] = "";
        ibtpo_task_get_problem(add, IBTPO_SPLIT_TEST, 0, q, NULL, NULL, sizeof q);
        ibtpo_tokenize(q, (int64_t)strlen(q), 1, prompt, 16, &pl);
        ibtpo_sampling_config sg = small_sampling();
        check_status(pl == PLEN ? gen(t, prompt, GN, &sg, 7, &o, 1) : ERR_ARG, IBTPO_OK,
                     "generate(4 completions of a test prompt) after SFT", t);
        int ended = 0, text_ok = 1;
        for (int i = 0; i < GN; i++) {
            if (o.len[i] < GMAX && o.tok[i * GMAX + o.len[i] - 1] == IBTPO_TOKEN_EOS) {
                ended++;
                char txt[64];
                int64_t m = -1;
                text_ok &= ibtpo_detokenize(o.tok + i * GMAX, GMAX, txt, sizeof txt, &m) == IBTPO_OK && m == o.len[i] - 1;
            }
        }
        double worst = score_vs_generate(t, prompt, &o, GN, &cmp);
        checkf(gen_well_formed(&o, GN, GMAX, 1, why, sizeof why) && ended >= 1 && text_ok && worst <= 1e-4,
               "after SFT: %d of 4 completions end with EOS (counted in the length, PAD after it, detokenize stops "
               "before it), score == out_logps with EOS inside: worst |diff| %.3g over %lld tokens %s",
               ended, worst, (long long)cmp, why);
    }

    /* k = 0: greedy only; the greedy part does not depend on k */
    ibtpo_eval_config e0 = ec;
    e0.k = 0;
    check_status(ibtpo_trainer_evaluate(t, add, &e0, &r2), IBTPO_OK, "evaluate(k 0: greedy only)", t);
    checkf(eval_in_range(&r2, 4, 24) && r2.avg_at_k == 0 && r2.greedy_accuracy == r1.greedy_accuracy,
           "k 0: avg@k = 0 (got %g), greedy accuracy %g == the k=2 run's %g", r2.avg_at_k, r2.greedy_accuracy,
           r1.greedy_accuracy);

    /* with a reward callback instead of the verifier */
    reward_state rs;
    reward_reset(&rs, RW_CONST);
    rs.value = 1.0;
    ibtpo_trainer_set_reward_fn(t, test_reward, &rs);
    check_status(ibtpo_trainer_evaluate(t, add, &ec, &r2), IBTPO_OK, "evaluate with a reward callback returning 1", t);
    checkf(r2.greedy_accuracy == 1 && r2.avg_at_k == 1 && r2.pass_at_k == 1 && rs.calls == 4 * (1 + 2) && rs.bad_args == 0,
           "  ... greedy %g, avg@k %g, pass@k %g all 1; %lld callback calls (want 4 x (1 + k) = 12), arguments as documented",
           r2.greedy_accuracy, r2.avg_at_k, r2.pass_at_k, (long long)rs.calls);
    reward_reset(&rs, RW_CONST);
    rs.value = 0.0;
    check_status(ibtpo_trainer_evaluate(t, add, &ec, &r2), IBTPO_OK, "evaluate with a reward callback returning 0", t);
    checkf(r2.greedy_accuracy == 0 && r2.avg_at_k == 0 && r2.pass_at_k == 0, "  ... every rate is 0");
    snap_take(t, &before, "eval-cb.ckpt");
    const struct { int mode; double v; const char *what; } badcb[] = {
        {RW_FAIL_AT, 0, "returning 7 at its 5th call"}, {RW_VALUE_AT, NAN, "writing NaN"}, {RW_VALUE_AT, 1.5, "writing 1.5"},
        {RW_VALUE_AT, -0.25, "writing -0.25"}, {RW_VALUE_AT, INFINITY, "writing inf"},
    };
    for (size_t i = 0; i < sizeof badcb / sizeof badcb[0]; i++) {
        reward_reset(&rs, badcb[i].mode);
        rs.value = badcb[i].v;
        rs.fail_at = 4;
        char what[128];
        snprintf(what, sizeof what, "evaluate with a reward callback %s", badcb[i].what);
        check_err(ibtpo_trainer_evaluate(t, add, &ec, &r2), IBTPO_ERR_CALLBACK_FAILED, what, t, "reward");
    }
    progress_reset(&ps, "evaluate");
    reward_reset(&rs, RW_SHAPED);
    check_err(ibtpo_trainer_evaluate(t, add, &ec, &r2), IBTPO_ERR_ABORTED,
              "evaluate with a progress callback that returns 1", t, NULL);
    progress_reset(&ps, NULL);
    check_unchanged(t, &before, "the failed and aborted evaluations", 1);
    unlink(before.ckpt);
    ibtpo_trainer_set_reward_fn(t, NULL, NULL);
    check_status(ibtpo_trainer_evaluate(t, add, &ec, &r2), IBTPO_OK, "evaluate after removing the reward callback", t);
    check(eval_same(&r1, &r2), "  ... gives the verifier's results again (== the first evaluation after SFT)", NULL);

    /* an in-memory task: answers checked by the callback (it sees the right prompt/answer pairs) */
    const char *mp[6] = {"1+1\n", "2+2\n", "3+3\n", "4+4\n", "5+5\n", "6+6\n"};
    const char *ma[6] = {"2", "4", "6", "8", "10", "12"};
    const int32_t msp[6] = {0, 0, 0, 0, 1, 1};
    ibtpo_task *mem = NULL, *noans = NULL;
    ibtpo_task_create_memory(mp, ma, NULL, msp, 6, &mem);
    ibtpo_task_create_memory(mp, NULL, NULL, msp, 6, &noans);
    if (mem && noans) {
        ibtpo_eval_config e2 = ec;
        e2.count = 2;
        reward_reset(&rs, RW_SHAPED);
        rs.known_prompts = mp, rs.known_answers = ma, rs.nknown = 6;
        ibtpo_trainer_set_reward_fn(t, test_reward, &rs);
        check_status(ibtpo_trainer_evaluate(t, mem, &e2, &r2), IBTPO_OK, "evaluate(in-memory task, count 2) with a callback", t);
        checkf(r2.problems == 2 && rs.calls == 6 && rs.answer_mismatch == 0 && rs.bad_args == 0,
               "  ... 2 problems, %lld callback calls, each with a task prompt and its own answer (%d mismatches)",
               (long long)rs.calls, rs.answer_mismatch);
        ibtpo_trainer_set_reward_fn(t, NULL, NULL);
        check_status(ibtpo_trainer_evaluate(t, mem, &e2, &r2), IBTPO_OK, "evaluate(in-memory task) with its verifier", t);
        check_err(ibtpo_trainer_evaluate(t, noans, &e2, &r2), ERR_ARG,
                  "evaluate(task without answers, no reward callback)", t, "reward");
        reward_reset(&rs, RW_SHAPED);
        rs.expect_empty_answer = 1;
        ibtpo_trainer_set_reward_fn(t, test_reward, &rs);
        check_status(ibtpo_trainer_evaluate(t, noans, &e2, &r2), IBTPO_OK,
                     "evaluate(task without answers) once a reward callback is set", t);
        checkf(rs.calls == 6 && rs.nonempty_answer == 0,
               "  ... the reward callback gets answer \"\" for a task without answers (%d of %lld calls got another)",
               rs.nonempty_answer, (long long)rs.calls);
        ibtpo_trainer_set_reward_fn(t, NULL, NULL);
    }
    ibtpo_task_free(mem);
    ibtpo_task_free(noans);

    /* misuse of evaluate */
    snap_take(t, &before, "eval-misuse.ckpt");
    check_err(ibtpo_trainer_evaluate(NULL, add, &ec, &r2), ERR_ARG, "evaluate(NULL trainer)", NULL, "NULL");
    check_err(ibtpo_trainer_evaluate(t, NULL, &ec, &r2), ERR_ARG, "evaluate(task NULL)", t, "NULL");
    check_err(ibtpo_trainer_evaluate(t, add, NULL, &r2), ERR_ARG, "evaluate(cfg NULL)", t, "NULL");
    check_err(ibtpo_trainer_evaluate(t, add, &ec, NULL), ERR_ARG, "evaluate(out NULL)", t, "NULL");
    const struct { const char *what, *kw; int field; double v; } bads[] = {
        {"cfg.struct_size 0", "struct_size", 0, 0}, {"cfg.struct_size sizeof-1", "struct_size", 0, sizeof ec - 1},
        {"cfg.struct_size 0xFFFFFFFF", "struct_size", 0, 4294967295.0}, {"count 0", "count", 1, 0},
        {"count -1", "count", 1, -1}, {"count INT32_MIN", "count", 1, INT32_MIN}, {"k -1", "k", 2, -1},
        {"k 1025", "k", 2, 1025}, {"k INT32_MAX", "k", 2, INT32_MAX},
        {"sampling.struct_size 0", "struct_size", 3, 0}, {"sampling.temperature -1", "temperature", 4, -1},
        {"sampling.max_new_tokens 0", "max_new_tokens", 5, 0}, {"sampling.top_p 0", "top_p", 6, 0},
        {"out.struct_size 0", "struct_size", 7, 0}, {"out.struct_size sizeof-1", "struct_size", 7, sizeof r2 - 1},
    };
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        ibtpo_eval_config m = ec;
        ibtpo_eval_result o = r2;
        o.struct_size = sizeof o;
        switch (bads[i].field) {
        case 0: m.struct_size = (uint32_t)bads[i].v; break;
        case 1: m.count = (int32_t)bads[i].v; break;
        case 2: m.k = (int32_t)bads[i].v; break;
        case 3: m.sampling.struct_size = (uint32_t)bads[i].v; break;
        case 4: m.sampling.temperature = (float)bads[i].v; break;
        case 5: m.sampling.max_new_tokens = (int32_t)bads[i].v; break;
        case 6: m.sampling.top_p = (float)bads[i].v; break;
        default: o.struct_size = (uint32_t)bads[i].v; break;
        }
        char what[128];
        snprintf(what, sizeof what, "evaluate(%s)", bads[i].what);
        const char *kw = bads[i].kw;
        if (strcmp(kw, "k") == 0) kw = NULL; /* "k" alone is no evidence */
        check_err(ibtpo_trainer_evaluate(t, add, &m, &o), ERR_ARG, what, t, kw);
    }
    {
        ibtpo_eval_config cut = ec;
        cut.sampling.max_new_tokens = 48; /* longer than max_seq allows after any prompt: completions end at max_seq */
        cut.sampling.stop_at_eos = 0;
        ibtpo_eval_result o = r2;
        o.struct_size = sizeof o;
        check_status(ibtpo_trainer_evaluate(t, add, &cut, &o), IBTPO_OK,
                     "evaluate(max_new_tokens 48 = max_seq, stop_at_eos 0: completions end at max_seq)", t);
        checkf(o.mean_length == 43 && o.truncated_fraction == 1,
               "  ... mean length %g == 48 - 5 prompt tokens, truncated fraction %g == 1", o.mean_length,
               o.truncated_fraction);
    }
    if (noslots)
        check_err(ibtpo_trainer_evaluate(noslots, add, &ec, &r2), ERR_ARG, "evaluate on a trainer with rollout_slots 0",
                  noslots, "rollout_slots");
    check_unchanged(t, &before, "the failed evaluate calls", 1);
    unlink(before.ckpt);
    ibtpo_trainer_set_progress_fn(t, NULL, NULL);
    ibtpo_task_free(add);
}

/* ---- GRPO and IB-TPO --------------------------------------------------------------- */

/* 2 prompts per step; GRPO G 3; IB-TPO tree (B0 2, L 2, K 1, B 1): G = 2 + 1 = 3;
 * 2 x 3 = 6 <= 8 rollout slots; 24 new tokens; no GRPO probe (its leaves would call the reward). */
static ibtpo_rl_config small_rl(int32_t algo) {
    ibtpo_rl_config r;
    ibtpo_rl_config_default(&r);
    r.algo = algo;
    r.prompts_per_step = 2;
    r.group_size = 3;
    r.tree_b0 = 2;
    r.tree_l = 2;
    r.tree_k = 1;
    r.tree_b = 1;
    r.sampling = small_sampling();
    r.probe_every = 0;
    r.lr = 1e-3f;
    r.seed = 7;
    return r;
}

static void metrics_str(const ibtpo_rl_metrics *m, char *out, size_t n) {
    snprintf(out, n,
             "step %lld, opt steps %lld, avg %.3f, eff %.3f, entropy %.3f, kl %.2g, clip %.3f/%.3f, |g| %.3g, loss %.4g, "
             "ib %.3g, cov %.3g, %lld prompts, %lld traj, %lld gen / %lld trained tokens, %.1f traj/1k, nodes %lld, "
             "branch pts %lld, depth %.2f, %.3f + %.3f s, lr %.3g",
             (long long)m->step, (long long)m->optimizer_steps, m->avg_rate, m->eff_rate, m->entropy, m->kl,
             m->clip_frac_low, m->clip_frac_high, m->grad_norm, m->loss, m->ib_score, m->ib_cov, (long long)m->prompts,
             (long long)m->trajectories, (long long)m->generated_tokens, (long long)m->trained_tokens,
             m->trajectories_per_1k_tokens, (long long)m->tree_nodes, (long long)m->branch_points,
             m->mean_branch_depth, m->sampling_seconds, m->update_seconds, m->lr);
}

#define WHY(...) do { snprintf(why, whyn, __VA_ARGS__); return 0; } while (0)

/* The documented invariants of one step's metrics; `rs` holds the rewards the callback gave
 * during this step (NULL: the task's verifier judged). */
static int metrics_ok(const ibtpo_rl_metrics *m, const ibtpo_rl_config *c, const reward_state *rs, int64_t want_step,
                      int64_t want_opt, char *why, size_t whyn) {
    int64_t G = c->algo == IBTPO_ALGO_GRPO ? c->group_size : c->tree_b0 + (int64_t)(c->tree_l - 1) * c->tree_k * c->tree_b;
    if (m->struct_size != sizeof *m) WHY("struct_size %u", (unsigned)m->struct_size);
    if (m->step != want_step) WHY("step %lld, want %lld", (long long)m->step, (long long)want_step);
    if (m->optimizer_steps != want_opt) WHY("optimizer_steps %lld, want %lld", (long long)m->optimizer_steps, (long long)want_opt);
    if (m->prompts != c->prompts_per_step) WHY("prompts %lld", (long long)m->prompts);
    /* G is exact when K nodes can always be expanded (the root counts, unless expand_root = 0) */
    if (c->branch_rule != IBTPO_BRANCH_FIXED && (c->algo == IBTPO_ALGO_GRPO || c->expand_root) &&
        m->trajectories != c->prompts_per_step * G)
        WHY("trajectories %lld, want %d x %lld", (long long)m->trajectories, (int)c->prompts_per_step, (long long)G);
    if (c->algo == IBTPO_ALGO_IBTPO &&
        (m->trajectories < (int64_t)c->prompts_per_step * c->tree_b0 || m->trajectories > c->prompts_per_step * G))
        WHY("trajectories %lld outside [P x B0, P x G]", (long long)m->trajectories);
    if (!(m->avg_rate >= 0 && m->avg_rate <= 1 && m->eff_rate >= 0 && m->eff_rate <= 1)) WHY("avg/eff rate out of [0, 1]");
    if (rs) {
        if (rs->calls != m->trajectories) WHY("%lld reward calls for %lld trajectories", (long long)rs->calls, (long long)m->trajectories);
        if (rs->bad_args) WHY("%d reward calls broke the argument contract", rs->bad_args);
        if (fabs(m->avg_rate - rs->sum / (double)rs->calls) > 1e-9)
            WHY("avg_rate %.12g != mean callback reward %.12g", m->avg_rate, rs->sum / (double)rs->calls);
        if (rs->ngroups == m->prompts && fabs(m->eff_rate - groups_eff_rate(rs)) > 1e-9)
            WHY("eff_rate %.12g != %.12g from the callback's rewards per prompt", m->eff_rate, groups_eff_rate(rs));
    }
    if (!(isfinite(m->entropy) && m->entropy >= 0)) WHY("entropy %g", m->entropy);
    if (!(isfinite(m->kl) && m->kl >= -1e-6)) WHY("kl %g", m->kl);
    if (!(m->clip_frac_low >= 0 && m->clip_frac_low <= 1 && m->clip_frac_high >= 0 && m->clip_frac_high <= 1))
        WHY("clip fractions %g %g", m->clip_frac_low, m->clip_frac_high);
    if (!(isfinite(m->grad_norm) && m->grad_norm >= 0) || !isfinite(m->loss)) WHY("grad norm %g loss %g", m->grad_norm, m->loss);
    if (c->algo == IBTPO_ALGO_IBTPO && !(isfinite(m->ib_score) && isfinite(m->ib_cov)))
        WHY("IB-TPO: ib_score %g / ib_cov %g not finite (the roots have %d children)", m->ib_score, m->ib_cov, (int)c->tree_b0);
    if (c->algo == IBTPO_ALGO_GRPO && c->probe_every == 0 && !(isnan(m->ib_score) && isnan(m->ib_cov)))
        WHY("GRPO without probe: ib_score %g / ib_cov %g should be NaN (not measured)", m->ib_score, m->ib_cov);
    if (m->generated_tokens < 1 || m->generated_tokens > m->trajectories * c->sampling.max_new_tokens)
        WHY("generated_tokens %lld", (long long)m->generated_tokens);
    if (m->trained_tokens < 1) WHY("trained_tokens %lld", (long long)m->trained_tokens);
    double tpk = 1000.0 * (double)m->trajectories / (double)m->generated_tokens;
    if (fabs(m->trajectories_per_1k_tokens - tpk) > 1e-9 * tpk)
        WHY("trajectories_per_1k_tokens %.12g != 1000 x %lld / %lld", m->trajectories_per_1k_tokens,
            (long long)m->trajectories, (long long)m->generated_tokens);
    if ((c->algo == IBTPO_ALGO_IBTPO && m->tree_nodes < m->trajectories) || m->tree_nodes < 0 || m->branch_points < 0 || !(isfinite(m->mean_branch_depth) && m->mean_branch_depth >= 0))
        WHY("tree shape: %lld nodes, %lld branch points, depth %g", (long long)m->tree_nodes, (long long)m->branch_points,
            m->mean_branch_depth);
    if (!(isfinite(m->sampling_seconds) && m->sampling_seconds >= 0 && isfinite(m->update_seconds) && m->update_seconds >= 0))
        WHY("seconds %g %g", m->sampling_seconds, m->update_seconds);
    if (fabs(m->lr - (double)c->lr) > 1e-12) WHY("lr %.9g, want the config's %.9g", m->lr, (double)c->lr);
    why[0] = '\0';
    return 1;
}

/* One step_rl with a fresh reward state; checks the metrics. Returns the status. */
static ibtpo_status rl_step_checked(ibtpo_trainer *t, const ibtpo_rl_config *c, reward_state *rs, int64_t want_step,
                                    int64_t want_opt, const char *label, ibtpo_rl_metrics *m) {
    char what[256], why[256], line[1200];
    int64_t before = get_step(t);
    if (rs) reward_reset(rs, RW_SHAPED);
    memset(m, 0, sizeof *m);
    m->struct_size = sizeof *m;
    double t0 = now_seconds();
    snprintf(what, sizeof what, "%s: step_rl", label);
    ibtpo_status s = ibtpo_trainer_step_rl(t, m);
    double dt = now_seconds() - t0;
    check_status(s, IBTPO_OK, what, t);
    if (s != IBTPO_OK) return s;
    int ok = metrics_ok(m, c, rs, want_step, want_opt, why, sizeof why);
    checkf(ok && get_step(t) == before + want_opt,
           "%s: metrics as documented (step %lld, %lld optimiser step(s): trainer step %lld -> %lld, finite values, "
           "avg_rate == mean callback reward, trajectories = P x G)%s%s",
           label, (long long)m->step, (long long)m->optimizer_steps, (long long)before, (long long)get_step(t),
           ok ? "" : " -- ", why);
    metrics_str(m, line, sizeof line);
    note("%s (%.2f s): %s", label, dt, line);
    if (rs && rs->replacement_chars)
        note("  %lld of %lld completions the reward callback got contain U+FFFD (bytes re-encoded as UTF-8)",
             (long long)rs->replacement_chars, (long long)rs->calls);
    return s;
}

#define RLF(f) offsetof(ibtpo_rl_config, f)
enum { T_U32, T_I32, T_F32, T_F64 };
typedef struct {
    const char *what, *kw;
    int pre; /* 1: GRPO, 2: rule FIXED */
    size_t off;
    int type;
    double v;
} rl_patch;

static void apply_patch(ibtpo_rl_config *c, const rl_patch *p) {
    if (p->pre == 1) c->algo = IBTPO_ALGO_GRPO;
    if (p->pre == 2) c->branch_rule = IBTPO_BRANCH_FIXED;
    unsigned char *b = (unsigned char *)c + p->off;
    uint32_t u = (uint32_t)p->v;
    int32_t i = (int32_t)p->v;
    float f = (float)p->v;
    double d = p->v;
    switch (p->type) {
    case T_U32: memcpy(b, &u, sizeof u); break;
    case T_I32: memcpy(b, &i, sizeof i); break;
    case T_F32: memcpy(b, &f, sizeof f); break;
    default: memcpy(b, &d, sizeof d); break;
    }
}

static const rl_patch rl_bad[] = {
    {"struct_size 0", "struct_size", 0, RLF(struct_size), T_U32, 0},
    {"struct_size sizeof-1", "struct_size", 0, RLF(struct_size), T_U32, sizeof(ibtpo_rl_config) - 1},
    {"struct_size 0xFFFFFFFF", "struct_size", 0, RLF(struct_size), T_U32, 4294967295.0},
    {"sampling.struct_size 0", "struct_size", 0, RLF(sampling.struct_size), T_U32, 0},
    {"algo 2", "algo", 0, RLF(algo), T_I32, 2},
    {"algo -1", "algo", 0, RLF(algo), T_I32, -1},
    {"algo INT32_MAX", "algo", 0, RLF(algo), T_I32, INT32_MAX},
    {"branch_rule 4", "branch", 0, RLF(branch_rule), T_I32, 4},
    {"branch_rule -1", "branch", 0, RLF(branch_rule), T_I32, -1},
    {"loss_aggregation 3", "aggregation", 0, RLF(loss_aggregation), T_I32, 3},
    {"loss_aggregation -1", "aggregation", 0, RLF(loss_aggregation), T_I32, -1},
    {"pibar_form 2", "pibar", 0, RLF(pibar_form), T_I32, 2},
    {"pibar_form -1", "pibar", 0, RLF(pibar_form), T_I32, -1},
    {"prompts_per_step 0", "prompts_per_step", 0, RLF(prompts_per_step), T_I32, 0},
    {"prompts_per_step -1", "prompts_per_step", 0, RLF(prompts_per_step), T_I32, -1},
    {"GRPO group_size 0", "group_size", 1, RLF(group_size), T_I32, 0},
    {"GRPO group_size -3", "group_size", 1, RLF(group_size), T_I32, -3},
    {"tree_b0 0", "tree", 0, RLF(tree_b0), T_I32, 0},
    {"tree_l 0", "tree", 0, RLF(tree_l), T_I32, 0},
    {"tree_k 0", "tree", 0, RLF(tree_k), T_I32, 0},
    {"tree_b -1", "tree", 0, RLF(tree_b), T_I32, -1},
    {"fixed_max_depth -1 (rule FIXED)", "fixed_max_depth", 2, RLF(fixed_max_depth), T_I32, -1},
    {"beta 0", "beta", 0, RLF(beta), T_F64, 0},
    {"beta -1", "beta", 0, RLF(beta), T_F64, -1},
    {"beta NaN", "beta", 0, RLF(beta), T_F64, NAN},
    {"beta inf", "beta", 0, RLF(beta), T_F64, INFINITY},
    {"lambda -0.1", "lambda", 0, RLF(lambda), T_F64, -0.1},
    {"lambda NaN", "lambda", 0, RLF(lambda), T_F64, NAN},
    {"clip_low 1", "clip_low", 0, RLF(clip_low), T_F64, 1},
    {"clip_low -0.1", "clip_low", 0, RLF(clip_low), T_F64, -0.1},
    {"clip_high -0.1", "clip_high", 0, RLF(clip_high), T_F64, -0.1},
    {"clip_high NaN", "clip_high", 0, RLF(clip_high), T_F64, NAN},
    {"kl_coef -1", "kl", 0, RLF(kl_coef), T_F64, -1},
    {"entropy_coef -1", "entropy", 0, RLF(entropy_coef), T_F64, -1},
    {"epochs 0", "epochs", 0, RLF(epochs), T_I32, 0},
    {"epochs 1001", "epochs", 0, RLF(epochs), T_I32, 1001},
    {"minibatches 0", "minibatches", 0, RLF(minibatches), T_I32, 0},
    {"minibatches -1", "minibatches", 0, RLF(minibatches), T_I32, -1},
    {"ratio_when_parent_zero NaN", "ratio", 0, RLF(ratio_when_parent_zero), T_F64, NAN},
    {"sqrt_n_weighting 2", "sqrt", 0, RLF(sqrt_n_weighting), T_I32, 2},
    {"probe_every -1", "probe", 0, RLF(probe_every), T_I32, -1},
    {"lr 0", "lr", 0, RLF(lr), T_F32, 0},
    {"lr -1e-3", "lr", 0, RLF(lr), T_F32, -1e-3},
    {"lr NaN", "lr", 0, RLF(lr), T_F32, NAN},
    {"reset_optimizer 2", "reset", 0, RLF(reset_optimizer), T_I32, 2},
    {"expand_root 2", "expand_root", 0, RLF(expand_root), T_I32, 2},
    {"expand_root -1", "expand_root", 0, RLF(expand_root), T_I32, -1},
    {"sampling.stop_at_eos 0", "stop_at_eos", 0, RLF(sampling.stop_at_eos), T_I32, 0},
    {"sampling.temperature -1", "temperature", 0, RLF(sampling.temperature), T_F32, -1},
    {"sampling.top_k -1", "top_k", 0, RLF(sampling.top_k), T_I32, -1},
    {"sampling.max_new_tokens 0", "max_new_tokens", 0, RLF(sampling.max_new_tokens), T_I32, 0},
    {"sampling.max_new_tokens 48 (= max_seq: no room for a prompt)", "max_", 0, RLF(sampling.max_new_tokens), T_I32, 48},
    {"prompts_per_step 3 x G 3 = 9 > 8 rollout slots", "slots", 0, RLF(prompts_per_step), T_I32, 3},
    {"GRPO 2 prompts x group_size 5 = 10 > 8 rollout slots", "slots", 1, RLF(group_size), T_I32, 5},
    {"tree_l 4: 2 prompts x G (2 + 3) = 10 > 8 rollout slots", "slots", 0, RLF(tree_l), T_I32, 4},
};

static void test_rl(ibtpo_trainer *t, ibtpo_trainer *noslots) {
    ibtpo_task *task = NULL;
    ibtpo_task_create_builtin("add", "digits=1", 3, &task);
    if (!task) { check(0, "create the add task", NULL); return; }
    reward_state rs;
    log_state ls;
    progress_state ps;
    memset(&ls, 0, sizeof ls);
    progress_reset(&ps, NULL);
    reward_reset(&rs, RW_SHAPED);
    check_status(ibtpo_trainer_set_log_fn(t, test_log, &ls), IBTPO_OK, "set_log_fn", t);
    check_status(ibtpo_trainer_set_progress_fn(t, test_progress, &ps), IBTPO_OK, "set_progress_fn", t);
    check_status(ibtpo_trainer_set_reward_fn(t, test_reward, &rs), IBTPO_OK, "set_reward_fn", t);
    ibtpo_rl_metrics m;
    memset(&m, 0, sizeof m);
    m.struct_size = sizeof m;

    state_snap before;
    snap_take(t, &before, "rl-before.ckpt");
    check_err(ibtpo_trainer_step_rl(t, &m), ERR_ARG, "step_rl before any rl_begin", t, "rl_begin");
    ibtpo_rl_config c = small_rl(IBTPO_ALGO_GRPO);
    uint64_t bytes = 0;
    check_err(ibtpo_trainer_rl_begin(NULL, task, &c, &bytes), ERR_ARG, "rl_begin(NULL trainer)", NULL, "NULL");
    check_err(ibtpo_trainer_rl_begin(t, NULL, &c, &bytes), ERR_ARG, "rl_begin(task NULL)", t, "NULL");
    check_err(ibtpo_trainer_rl_begin(t, task, NULL, &bytes), ERR_ARG, "rl_begin(cfg NULL)", t, "NULL");
    for (size_t i = 0; i < sizeof rl_bad / sizeof rl_bad[0]; i++) {
        ibtpo_rl_config b = small_rl(IBTPO_ALGO_IBTPO);
        apply_patch(&b, &rl_bad[i]);
        char what[160];
        snprintf(what, sizeof what, "rl_begin(%s)", rl_bad[i].what);
        check_err(ibtpo_trainer_rl_begin(t, task, &b, &bytes), ERR_ARG, what, t, rl_bad[i].kw);
    }
    const char *np[3] = {"x\n", "y\n", "z\n"};
    const int32_t nsp[3] = {0, 0, 1};
    ibtpo_task *noans = NULL;
    ibtpo_task_create_memory(np, NULL, NULL, nsp, 3, &noans);
    ibtpo_trainer_set_reward_fn(t, NULL, NULL);
    if (noans) check_err(ibtpo_trainer_rl_begin(t, noans, &c, &bytes), ERR_ARG,
                         "rl_begin(task without answers, no reward callback)", t, "reward");
    if (noslots) {
        ibtpo_rl_config one = c;
        one.prompts_per_step = 1;
        one.group_size = 1;
        check_err(ibtpo_trainer_rl_begin(noslots, task, &one, &bytes), ERR_ARG, "rl_begin on a trainer with rollout_slots 0",
                  noslots, "rollout_slots");
    }
    check_err(ibtpo_trainer_step_rl(t, &m), ERR_ARG, "step_rl after only failed rl_begin calls (RL not begun)", t, NULL);
    check_unchanged(t, &before, "the failed rl_begin / step_rl calls", 1);
    unlink(before.ckpt);

    /* GRPO: 2 steps; the task is released right after rl_begin (the trainer keeps a reference) */
    ibtpo_trainer_set_reward_fn(t, test_reward, &rs);
    ibtpo_memory_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.struct_size = sizeof plan;
    ibtpo_trainer_config tc;
    memset(&tc, 0, sizeof tc);
    tc.struct_size = sizeof tc;
    tc.model.struct_size = sizeof tc.model;
    ibtpo_trainer_get_config(t, &tc);
    ibtpo_memory_plan_for(&tc, &plan);
    int64_t sft_step = get_step(t);
    check_status(ibtpo_trainer_rl_begin(t, task, &c, &bytes), IBTPO_OK, "rl_begin(GRPO, P 2, G 3, reset_optimizer 1)", t);
    checkf(bytes >= 4 * plan.parameter_count && bytes <= plan.parameter_bytes,
           "rl_begin: *out_bytes %llu is one parameter-sized buffer (%llu parameters, parameter_bytes %llu)",
           (unsigned long long)bytes, (unsigned long long)plan.parameter_count, (unsigned long long)plan.parameter_bytes);
    checkf(get_step(t) == 0, "reset_optimizer 1 resets the step counter (%lld after SFT -> %lld)", (long long)sft_step,
           (long long)get_step(t));
    ibtpo_task_free(task);
    task = NULL;
    float fp0[FP_N], fp1[FP_N];
    fingerprint(t, fp0);
    progress_reset(&ps, NULL);
    rl_step_checked(t, &c, &rs, 1, 1, "GRPO step 1 (task already freed by the caller)", &m);
    char ph[128];
    phases_string(&ps, ph, sizeof ph);
    checkf(progress_saw(&ps, "rollout") && progress_saw(&ps, "update") && ps.bad == 0,
           "step_rl reports progress in phases \"rollout\" and \"update\" with 0 <= done <= total (%lld calls: %s)",
           (long long)ps.calls, ph);
    rl_step_checked(t, &c, &rs, 2, 1, "GRPO step 2", &m);
    fingerprint(t, fp1);
    check(!same_float_bits(fp0, fp1, FP_N), "2 GRPO steps changed the policy (scores differ)", NULL);
    ibtpo_task_create_builtin("add", "digits=1", 3, &task);
    {
        /* The GRPO probe grows its own trees (the library's probe shape, not cfg's tree_*), which
         * need more rollout slots than 8: run it on a trainer with 24. */
        ibtpo_rl_config cp = c;
        cp.probe_every = 1;
        ibtpo_trainer_config pc = small_config(5, 1);
        pc.rollout_slots = 24;
        ibtpo_trainer *pt = NULL;
        ibtpo_trainer_create(&pc, &pt);
        ibtpo_trainer_set_reward_fn(pt, test_reward, &rs);
        check_status(ibtpo_trainer_rl_begin(pt, task, &cp, NULL), IBTPO_OK,
                     "rl_begin(GRPO with an IB probe every step, out_bytes NULL) on a trainer with 24 rollout slots", pt);
        reward_reset(&rs, RW_SHAPED);
        memset(&m, 0, sizeof m);
        m.struct_size = sizeof m;
        check_status(ibtpo_trainer_step_rl(pt, &m), IBTPO_OK, "GRPO step with probe_every 1", pt);
        checkf(isfinite(m.ib_score) && isfinite(m.ib_cov) && m.step == 1 && m.trajectories == 6 && rs.calls >= 6,
               "  ... measures IB-Score %.4g and Cov %.4g on the probe tree (finite), %lld trajectories "
               "(%lld reward calls incl. the probe's leaves)", m.ib_score, m.ib_cov, (long long)m.trajectories,
               (long long)rs.calls);
        ibtpo_status ps8 = ibtpo_trainer_rl_begin(t, task, &cp, NULL);
        note("rl_begin(GRPO, probe_every 1) with 8 rollout slots: %s \"%s\"", ibtpo_status_string(ps8),
             ps8 ? ibtpo_last_error(t) : "");
        ibtpo_trainer_free(pt);
    }

    /* IB-TPO: restart without resetting the optimiser */
    ibtpo_rl_config ib = small_rl(IBTPO_ALGO_IBTPO);
    ib.reset_optimizer = 0;
    int64_t s0 = get_step(t);
    check_status(ibtpo_trainer_rl_begin(t, task, &ib, &bytes), IBTPO_OK, "rl_begin(IB-TPO, tree (2,2,1,1), reset_optimizer 0)", t);
    checkf(get_step(t) == s0, "reset_optimizer 0 keeps the step counter (%lld)", (long long)get_step(t));
    rl_step_checked(t, &ib, &rs, 1, 1, "IB-TPO step 1", &m);
    rl_step_checked(t, &ib, &rs, 2, 1, "IB-TPO step 2", &m);
    ibtpo_rl_config em = ib;
    em.epochs = 2;
    em.minibatches = 2;
    check_status(ibtpo_trainer_rl_begin(t, task, &em, NULL), IBTPO_OK, "rl_begin(IB-TPO, 2 epochs x 2 minibatches)", t);
    rl_step_checked(t, &em, &rs, 1, 4, "IB-TPO 2 epochs x 2 minibatches", &m);

    /* ablation settings: one step each */
    static const struct { const char *label; int32_t algo, rule, agg, pibar, sqrtn; double ent, clip_hi; int32_t xroot; } var[] = {
        {"IB-TPO, branch RANDOM, sequence-mean loss", IBTPO_ALGO_IBTPO, IBTPO_BRANCH_RANDOM, IBTPO_LOSS_SEQUENCE_MEAN, 0, 0, 0, 0.2, 1},
        {"IB-TPO, branch ENTROPY, constant loss, pibar product", IBTPO_ALGO_IBTPO, IBTPO_BRANCH_ENTROPY, IBTPO_LOSS_CONSTANT,
         IBTPO_PIBAR_PRODUCT, 0, 0, 0.2, 1},
        {"IB-TPO, branch FIXED depth 0, sqrt(n) weighting", IBTPO_ALGO_IBTPO, IBTPO_BRANCH_FIXED, IBTPO_LOSS_TOKEN_MEAN, 0, 1, 0, 0.2, 1},
        {"IB-TPO, expand_root 0 (only internal nodes branch)", IBTPO_ALGO_IBTPO, IBTPO_BRANCH_IB, IBTPO_LOSS_TOKEN_MEAN, 0, 0, 0, 0.2, 0},
        {"GRPO, clip-higher 0.28, entropy bonus 0.01, constant loss", IBTPO_ALGO_GRPO, 0, IBTPO_LOSS_CONSTANT, 0, 0, 0.01, 0.28, 1},
    };
    for (size_t i = 0; i < sizeof var / sizeof var[0]; i++) {
        ibtpo_rl_config v = small_rl(var[i].algo);
        v.branch_rule = var[i].rule;
        v.fixed_max_depth = 0;
        v.loss_aggregation = var[i].agg;
        v.pibar_form = var[i].pibar;
        v.sqrt_n_weighting = var[i].sqrtn;
        v.entropy_coef = var[i].ent;
        v.clip_high = var[i].clip_hi;
        v.expand_root = var[i].xroot;
        v.reset_optimizer = 0;
        char what[160];
        snprintf(what, sizeof what, "rl_begin(%s)", var[i].label);
        if (ibtpo_trainer_rl_begin(t, task, &v, NULL) != IBTPO_OK) {
            check_status(ibtpo_trainer_rl_begin(t, task, &v, NULL), IBTPO_OK, what, t);
            continue;
        }
        rl_step_checked(t, &v, &rs, 1, 1, var[i].label, &m);
    }

    /* a task without answers works once a reward callback is set */
    if (noans) {
        ibtpo_rl_config g = small_rl(IBTPO_ALGO_GRPO);
        check_status(ibtpo_trainer_rl_begin(t, noans, &g, NULL), IBTPO_OK, "rl_begin(task without answers) with a reward callback", t);
        rl_step_checked(t, &g, &rs, 1, 1, "GRPO on an in-memory task without answers", &m);
        check_err(ibtpo_trainer_set_reward_fn(NULL, NULL, NULL), ERR_ARG, "set_reward_fn(NULL trainer, NULL)", NULL, "NULL");
        ibtpo_trainer_set_reward_fn(t, NULL, NULL);
        memset(&m, 0, sizeof m);
        m.struct_size = sizeof m;
        int64_t st = get_step(t);
        check_err(ibtpo_trainer_step_rl(t, &m), ERR_ARG,
                  "step_rl on a task without answers after the reward callback was removed", t, "reward");
        checkf(get_step(t) == st, "  ... leaves the step at %lld", (long long)st);
        ibtpo_trainer_set_reward_fn(t, test_reward, &rs);
        ibtpo_task_free(noans);
    }

    /* "Before sampling it checks that every prompt of the step fits: prompt tokens +
     * max_new_tokens - 1 <= the trainer's seq, else IBTPO_ERR_BAD_DATA" */
    {
        const char *lp2[3] = {"a prompt of 20 bytes\n", "another prompt, 24 bytes\n", "t\n"};
        const char *la2[3] = {"1", "2", "3"};
        const int32_t ls2[3] = {0, 0, 1};
        ibtpo_task *longt = NULL;
        ibtpo_task_create_memory(lp2, la2, NULL, ls2, 3, &longt);
        ibtpo_rl_config g = small_rl(IBTPO_ALGO_GRPO); /* max_new 24: 22 + 24 - 1 = 45 > seq 32 */
        g.reset_optimizer = 0;
        check_status(longt ? ibtpo_trainer_rl_begin(t, longt, &g, NULL) : ERR_ARG, IBTPO_OK,
                     "rl_begin(GRPO on prompts of 22 and 26 tokens, max_new_tokens 24, seq 32)", t);
        snap_take(t, &before, "rl-long.ckpt");
        reward_reset(&rs, RW_SHAPED);
        check_err(ibtpo_trainer_step_rl(t, NULL), IBTPO_ERR_BAD_DATA, "step_rl with prompts + max_new_tokens - 1 > seq", t,
                  "prompt");
        checkf(rs.calls == 0, "  ... fails before sampling (%lld reward calls)", (long long)rs.calls);
        check_unchanged(t, &before, "the step that did not fit", 1);
        unlink(before.ckpt);
        ibtpo_task_free(longt);
    }

    /* out.struct_size misuse leaves everything unchanged */
    ibtpo_trainer_rl_begin(t, task, &ib, NULL);
    snap_take(t, &before, "rl-ss.ckpt");
    const uint32_t bad_ss[] = {0, 3, (uint32_t)sizeof m - 1, 0xFFFFFFFFu};
    for (int i = 0; i < 4; i++) {
        char what[96];
        m.struct_size = bad_ss[i];
        snprintf(what, sizeof what, "step_rl(out.struct_size %lu)", (unsigned long)bad_ss[i]);
        check_err(ibtpo_trainer_step_rl(t, &m), ERR_ARG, what, t, "struct_size");
    }
    check_err(ibtpo_trainer_step_rl(NULL, NULL), ERR_ARG, "step_rl(NULL trainer)", NULL, "NULL");
    check_unchanged(t, &before, "the step_rl calls with a bad out.struct_size", 1);
    unlink(before.ckpt);
    reward_reset(&rs, RW_SHAPED);
    check_status(ibtpo_trainer_step_rl(t, NULL), IBTPO_OK, "step_rl(out NULL)", t);
    checkf(get_step(t) == before.step + 1 && rs.calls == 6, "  ... advances the step (%lld -> %lld) and judges 6 trajectories",
           (long long)before.step, (long long)get_step(t));

    /* the log callback */
    checkf(ls.calls > 0 && ls.bad == 0,
           "the log callback was called (%lld lines: %d info, %d warn; first \"%.80s\"), levels INFO/WARN, no trailing newline",
           (long long)ls.calls, ls.levels[0], ls.levels[1], ls.first);
    int64_t lc = ls.calls, pc = ps.calls;
    check_status(ibtpo_trainer_set_log_fn(t, NULL, NULL), IBTPO_OK, "set_log_fn(NULL) removes the log callback", t);
    check_status(ibtpo_trainer_set_progress_fn(t, NULL, NULL), IBTPO_OK, "set_progress_fn(NULL) removes the progress callback", t);
    reward_reset(&rs, RW_SHAPED);
    ibtpo_trainer_step_rl(t, NULL);
    checkf(ls.calls == lc && ps.calls == pc, "removed log/progress callbacks are not called any more (%lld, %lld)",
           (long long)ls.calls, (long long)ps.calls);
    ibtpo_trainer_set_reward_fn(t, NULL, NULL);
    ibtpo_task_free(task);
}

/* Failed RL steps (reward callback error or bad value, abort from the progress callback,
 * bad out struct) leave the trainer exactly as it was: a later successful step equals the
 * first step of an identical trainer that never failed, bit for bit. */
static void test_rl_failures_unchanged(void) {
    ibtpo_trainer_config cfg = small_config(31, 1);
    ibtpo_trainer *a = NULL, *b = NULL;
    ibtpo_trainer_create(&cfg, &a);
    ibtpo_trainer_create(&cfg, &b);
    ibtpo_task *task = NULL;
    ibtpo_task_create_builtin("add", "digits=1", 5, &task);
    if (!a || !b || !task) {
        check(0, "create two trainers and a task", NULL);
        ibtpo_trainer_free(a), ibtpo_trainer_free(b), ibtpo_task_free(task);
        return;
    }
    ibtpo_rl_config c = small_rl(IBTPO_ALGO_IBTPO);
    reward_state ra, rb;
    progress_state pa;
    reward_reset(&ra, RW_SHAPED);
    reward_reset(&rb, RW_SHAPED);
    progress_reset(&pa, NULL);
    ibtpo_trainer_set_reward_fn(a, test_reward, &ra);
    ibtpo_trainer_set_reward_fn(b, test_reward, &rb);
    ibtpo_trainer_set_progress_fn(a, test_progress, &pa);
    for (int i = 0; i < 3; i++) ibtpo_trainer_step_sft(a, task, NULL), ibtpo_trainer_step_sft(b, task, NULL);
    check_status(ibtpo_trainer_rl_begin(a, task, &c, NULL), IBTPO_OK, "trainer A: 3 SFT steps, rl_begin(IB-TPO)", a);
    check_status(ibtpo_trainer_rl_begin(b, task, &c, NULL), IBTPO_OK, "trainer B (same seed): 3 SFT steps, rl_begin(IB-TPO)", b);
    state_snap s0;
    snap_take(a, &s0, "fail-a0.ckpt");
    ibtpo_rl_metrics m;
    memset(&m, 0, sizeof m);
    m.struct_size = sizeof m;

    reward_reset(&ra, RW_FAIL_AT);
    ra.fail_at = 3;
    check_err(ibtpo_trainer_step_rl(a, &m), IBTPO_ERR_CALLBACK_FAILED, "A: step_rl, reward callback returns 7 at call 4", a,
              "reward");
    check_unchanged(a, &s0, "the failed reward callback", 1);
    const double badv[] = {NAN, 1.5, -0.5, INFINITY};
    for (int i = 0; i < 4; i++) {
        reward_reset(&ra, RW_VALUE_AT);
        ra.fail_at = 2;
        ra.value = badv[i];
        char what[128];
        snprintf(what, sizeof what, "A: step_rl, reward callback writes %g at call 3", badv[i]);
        check_err(ibtpo_trainer_step_rl(a, &m), IBTPO_ERR_CALLBACK_FAILED, what, a, "reward");
    }
    check_unchanged(a, &s0, "4 rewards outside [0, 1]", 0);
    reward_reset(&ra, RW_SHAPED);
    progress_reset(&pa, "rollout");
    check_err(ibtpo_trainer_step_rl(a, &m), IBTPO_ERR_ABORTED, "A: step_rl, progress callback stops at the first \"rollout\"", a,
              NULL);
    check_unchanged(a, &s0, "the abort during rollouts", 1);
    progress_reset(&pa, NULL);
    reward_reset(&ra, RW_SHAPED);
    ibtpo_rl_metrics ma, mb;
    memset(&ma, 0, sizeof ma);
    ma.struct_size = sizeof ma;
    mb = ma;
    check_status(ibtpo_trainer_step_rl(a, &ma), IBTPO_OK, "A: step_rl after the failures", a);
    check_status(ibtpo_trainer_step_rl(b, &mb), IBTPO_OK, "B: step_rl (never failed)", b);
    ma.sampling_seconds = mb.sampling_seconds = ma.update_seconds = mb.update_seconds = 0;
    checkf(memcmp(&ma, &mb, sizeof ma) == 0 && ra.calls == rb.calls && ra.sum == rb.sum,
           "A's step after 7 failed steps == B's first step: metrics bit-identical except the timings (step %lld, avg %.4f, "
           "loss %.6g), same rewards", (long long)ma.step, ma.avg_rate, ma.loss);
    state_snap sa, sb;
    snap_take(a, &sa, "fail-a1.ckpt");
    snap_take(b, &sb, "fail-b1.ckpt");
    size_t n = 0;
    checkf(same_float_bits(sa.fp, sb.fp, FP_N) && files_equal(sa.ckpt, sb.ckpt, &n) && sa.step == sb.step,
           "A and B then have bit-identical scores and byte-identical checkpoints (%lu bytes: parameters, AdamW, step, RNG)",
           (unsigned long)n);

    /* "An RL step can only be stopped before its first optimiser update": a stop request in
     * phase "update" aborts only if it comes before the first update (done == 0). */
    reward_reset(&ra, RW_SHAPED);
    progress_reset(&pa, "update");
    ibtpo_status s = ibtpo_trainer_step_rl(a, &m);
    if (pa.aborted && pa.aborted_done == 0) {
        check_status(s, IBTPO_ERR_ABORTED, "A: step_rl, progress callback stops at \"update\" 0/N (before the first update)", a);
        check_unchanged(a, &sa, "the abort before the first update", 1);
    } else {
        checkf(pa.aborted && s == IBTPO_OK && get_step(a) == sa.step + 1,
               "A: a stop request at the first \"update\" report (done %lld, after the first update) cannot stop the step: "
               "%s, step %lld -> %lld", (long long)pa.aborted_done, ibtpo_status_string(s), (long long)sa.step,
               (long long)get_step(a));
    }
    progress_reset(&pa, NULL);
    unlink(s0.ckpt), unlink(sa.ckpt), unlink(sb.ckpt);
    ibtpo_trainer_free(a);
    ibtpo_trainer_free(b);
    ibtpo_task_free(task);
}

/* ---- ibtpo_tree_advantages against docs/algorithm.md §3 and §5 -------------------------- */

/* The formulas, computed here independently (double precision):
 *   p̂(s) = mean leaf reward below s; π̄(s) = exp(mean_logp) (or exp(mean_logp·tokens));
 *   r(c) = p̂(c)/p̂(parent) (ratio_when_parent_zero when p̂(parent) = 0);
 *   IB(s) = (1+β)/|C(s)| Σ_c (r(c) − (1 + 1/β))·π̄(c)  (NaN for leaves);
 *   A_GL(s) = (p̂(s) − p̂(root))/(population std of leaf rewards + 1e-4), 0 if all leaf rewards are equal;
 *   A_IB(s) = (r(s) − (1 + 1/β))·π̄(s);  A(s) = A_GL + λ·A_IB (÷ sqrt(n(s)) with sqrt_n_weighting); A(root) = 0. */
static void ref_tree(const ibtpo_rl_config *c, int n, const int32_t *parent, const int32_t *tc, const float *mlp,
                     const float *reward, double *ib, double *adv) {
    double *cnt = calloc((size_t)n, sizeof(double)), *sum = calloc((size_t)n, sizeof(double));
    int *nchild = calloc((size_t)n, sizeof(int));
    for (int i = 1; i < n; i++) nchild[parent[i]]++;
    double lsum = 0, lsq = 0, lfirst = -1;
    int nleaves = 0, constant = 1;
    for (int i = n - 1; i >= 0; i--) {
        if (nchild[i] == 0) {
            cnt[i] += 1, sum[i] += reward[i];
            lsum += reward[i];
            if (nleaves++ == 0) lfirst = reward[i];
            else if (reward[i] != lfirst) constant = 0;
        }
        if (i > 0) cnt[parent[i]] += cnt[i], sum[parent[i]] += sum[i];
    }
    double mean = lsum / nleaves;
    for (int i = 0; i < n; i++)
        if (nchild[i] == 0) lsq += (reward[i] - mean) * (reward[i] - mean);
    double sd = sqrt(lsq / nleaves), off = 1 + 1 / c->beta;
    for (int i = 0; i < n; i++) ib[i] = nchild[i] ? 0 : NAN;
    adv[0] = 0;
    for (int i = 1; i < n; i++) {
        double ph = sum[i] / cnt[i], pp = sum[parent[i]] / cnt[parent[i]];
        double r = pp == 0 ? c->ratio_when_parent_zero : ph / pp;
        double pibar = c->pibar_form == IBTPO_PIBAR_PRODUCT ? exp((double)mlp[i] * tc[i]) : exp((double)mlp[i]);
        ib[parent[i]] += (1 + c->beta) / nchild[parent[i]] * (r - off) * pibar;
        double gl = constant ? 0 : (ph - sum[0] / cnt[0]) / (sd + 1e-4);
        double a = gl + c->lambda * (r - off) * pibar;
        if (c->sqrt_n_weighting) a /= sqrt(cnt[i]);
        adv[i] = a;
    }
    free(cnt), free(sum), free(nchild);
}

/* Runs ibtpo_tree_advantages and the reference; returns the worst |difference| over both
 * outputs (NaN positions must match), or INFINITY on a failed call / NaN mismatch. */
static double tree_vs_ref(const ibtpo_rl_config *c, int n, const int32_t *parent, const int32_t *tc, const float *mlp,
                          const float *reward, ibtpo_status *st) {
    double *ib = malloc(sizeof(double) * (size_t)n), *adv = malloc(sizeof(double) * (size_t)n);
    double *rib = malloc(sizeof(double) * (size_t)n), *radv = malloc(sizeof(double) * (size_t)n);
    *st = ibtpo_tree_advantages(c, n, parent, tc, mlp, reward, ib, adv);
    ref_tree(c, n, parent, tc, mlp, reward, rib, radv);
    double worst = *st == IBTPO_OK ? 0 : INFINITY;
    for (int i = 0; i < n && *st == IBTPO_OK; i++) {
        if (isnan(rib[i]) != isnan(ib[i])) worst = INFINITY;
        else if (!isnan(rib[i])) worst = fmax(worst, fabs(ib[i] - rib[i]));
        worst = fmax(worst, isnan(adv[i]) ? INFINITY : fabs(adv[i] - radv[i]));
    }
    free(ib), free(adv), free(rib), free(radv);
    return worst;
}

/* The reference forms π̄ = exp(mean_logp · token_count) in double; forming the product in
 * float (as the library does) moves the exponent by up to 2^-24 relative (|x| <= 30 here). */
#define PRODUCT_TOL 1e-6

static void test_tree_advantages(void) {
    /*          0 (root)
     *   ┌──────┼───────┐
     *   1      2(0)    6
     * ┌─┼──┐           │
     * 3 4  5           9(0)     leaves: 2, 3(1), 4(0), 7(1), 8(0.5), 9(0); p̂(6) = 0
     *(1)(0)┌┴┐
     *      7 8 (1, 0.5)
     * Rewards of internal nodes are garbage: only leaves' rewards may be read. */
    const int32_t parent[10] = {-1, 0, 0, 1, 1, 1, 0, 5, 5, 6};
    const int32_t tc[10] = {0, 3, 2, 2, 1, 4, 5, 2, 1, 1};
    const float mlp[10] = {0, -0.5f, -0.7f, -0.2f, -1.0f, -0.1f, -0.05f, -0.3f, -2.0f, -0.4f};
    const float reward[10] = {NAN, -5.0f, 0, 1, 0, NAN, 2.0f, 1, 0.5f, 0};
    ibtpo_rl_config c;
    ibtpo_rl_config_default(&c);
    c.ratio_when_parent_zero = 1.0;
    ibtpo_status st;
    double w, worst_all = 0;

    /* by hand, defaults (β 5, λ 0.1, length-normalised π̄): check a few values literally */
    double ib[10], adv[10];
    st = ibtpo_tree_advantages(&c, 10, parent, tc, mlp, reward, ib, adv);
    check_status(st, IBTPO_OK, "tree_advantages(10-node tree, defaults beta 5, lambda 0.1)", NULL);
    {
        double off = 1.2, m = 2.5 / 6, sd = 0, lr[6] = {0, 1, 0, 1, 0.5, 0};
        for (int i = 0; i < 6; i++) sd += (lr[i] - m) * (lr[i] - m);
        sd = sqrt(sd / 6);
        double p1 = 2.5 / 4, p5 = 0.75;
        /* IB(5) = 6/2 [ (1/0.75 − 1.2) e^-0.3 + (0.5/0.75 − 1.2) e^-2 ] */
        /* (the mean log-probs are floats: -0.3f is not -0.3) */
        double ib5 = 3.0 * ((1 / p5 - off) * exp((double)-0.3f) + (0.5 / p5 - off) * exp((double)-2.0f));
        /* A(7) = (1 − m)/(sd + 1e-4) + 0.1 (1/0.75 − 1.2) e^-0.3 ;  A(9): p̂(6) = 0 → r = 1 */
        double a7 = (1 - m) / (sd + 1e-4) + 0.1 * (1 / p5 - off) * exp((double)-0.3f);
        double a9 = (0 - m) / (sd + 1e-4) + 0.1 * (1 - off) * exp((double)-0.4f);
        double a5 = (p5 - m) / (sd + 1e-4) + 0.1 * (p5 / p1 - off) * exp((double)-0.1f);
        double e = fmax(fmax(fabs(ib[5] - ib5), fabs(adv[7] - a7)), fmax(fabs(adv[9] - a9), fabs(adv[5] - a5)));
        checkf(st == IBTPO_OK && e <= 1e-9 && adv[0] == 0 && isnan(ib[2]) && isnan(ib[7]) && isnan(ib[9]),
               "tree_advantages by hand: IB(5) %.9f (want %.9f), A(5) %.9f (%.9f), A(7) %.9f (%.9f), A(9) %.9f (%.9f; "
               "r = 1 under p̂ = 0), A(root) 0, IB(leaf) NaN: worst |diff| %.3g", ib[5], ib5, adv[5], a5, adv[7], a7,
               adv[9], a9, e);
        worst_all = fmax(worst_all, e);
    }
    const struct { const char *what; double beta, lambda, rwpz; int32_t pibar, sqrtn; int all_one; } cases[] = {
        {"defaults", 5, 0.1, 1.0, IBTPO_PIBAR_LENGTH_NORMALIZED, 0, 0},
        {"beta 2, lambda 0.5, pibar product, r|p̂=0 0.7", 2, 0.5, 0.7, IBTPO_PIBAR_PRODUCT, 0, 0},
        {"sqrt(n) weighting", 5, 0.1, 1.0, IBTPO_PIBAR_LENGTH_NORMALIZED, 1, 0},
        {"beta 0.5, lambda 0, r|p̂=0 0", 0.5, 0, 0, IBTPO_PIBAR_LENGTH_NORMALIZED, 0, 0},
        {"all leaf rewards 1 (A_GL = 0), lambda 0.3", 5, 0.3, 1.0, IBTPO_PIBAR_LENGTH_NORMALIZED, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ibtpo_rl_config k = c;
        k.beta = cases[i].beta, k.lambda = cases[i].lambda, k.ratio_when_parent_zero = cases[i].rwpz;
        k.pibar_form = cases[i].pibar, k.sqrt_n_weighting = cases[i].sqrtn;
        float rw[10];
        memcpy(rw, reward, sizeof rw);
        if (cases[i].all_one)
            for (int j = 0; j < 10; j++) rw[j] = (j == 2 || j == 3 || j == 4 || j == 7 || j == 8 || j == 9) ? 1.0f : rw[j];
        w = tree_vs_ref(&k, 10, parent, tc, mlp, rw, &st);
        worst_all = fmax(worst_all, w);
        double tol = k.pibar_form == IBTPO_PIBAR_PRODUCT ? PRODUCT_TOL : 1e-9;
        checkf(w <= tol, "tree_advantages(%s) == the formulas of docs/algorithm.md: worst |diff| %.3g <= %.0e over IB and A of "
               "10 nodes", cases[i].what, w, tol);
    }
    /* a 2-node tree: root + one leaf with reward 0 */
    {
        const int32_t p2[2] = {-1, 0}, t2[2] = {0, 3};
        const float m2[2] = {0, -0.25f}, r2[2] = {0, 0};
        ibtpo_rl_config k = c;
        k.ratio_when_parent_zero = 0.4;
        w = tree_vs_ref(&k, 2, p2, t2, m2, r2, &st);
        double ib2[2], ad2[2];
        ibtpo_tree_advantages(&k, 2, p2, t2, m2, r2, ib2, ad2);
        double want = 6 * (0.4 - 1.2) * exp(-0.25);
        checkf(w <= 1e-9 && fabs(ib2[0] - want) <= 1e-9,
               "tree_advantages(root + 1 leaf, reward 0): IB(root) %.9f == 6 (0.4 − 1.2) e^-0.25 = %.9f, A_GL 0: worst |diff| %.3g",
               ib2[0], want, w);
        worst_all = fmax(worst_all, w);
    }
    /* a random 300-node tree */
    {
        enum { N = 300 };
        static int32_t p[N], t[N];
        static float ml[N], rw[N];
        uint32_t x = 777;
        p[0] = -1, t[0] = 0, ml[0] = 0, rw[0] = 0;
        for (int i = 1; i < N; i++) {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5;
            p[i] = (int32_t)(x % (uint32_t)(i < 40 ? i : 40 + (i - 40) / 2)); /* bushy at the top, deeper below */
            t[i] = 1 + (int32_t)((x >> 8) % 12);
            ml[i] = -(float)((x >> 12) % 1000) / 400.0f;
            rw[i] = (float)((x >> 22) % 5) / 4.0f;
        }
        ibtpo_rl_config k = c;
        k.beta = 3, k.lambda = 0.2, k.sqrt_n_weighting = 1, k.ratio_when_parent_zero = 0.5;
        w = tree_vs_ref(&k, N, p, t, ml, rw, &st);
        worst_all = fmax(worst_all, w);
        checkf(w <= 1e-9, "tree_advantages(random 300-node tree, beta 3, lambda 0.2, sqrt(n)) == the formulas: worst |diff| %.3g", w);
        k.pibar_form = IBTPO_PIBAR_PRODUCT;
        w = tree_vs_ref(&k, N, p, t, ml, rw, &st);
        worst_all = fmax(worst_all, w);
        checkf(w <= PRODUCT_TOL, "  ... and with pibar product: worst |diff| %.3g <= %.0e", w, PRODUCT_TOL);
    }
    note("tree_advantages vs the hand-computed formulas: worst |diff| %.3g over all cases", worst_all);

    /* outputs are optional; the fields tree_advantages does not use are ignored */
    double ib1[10], ad1[10], ib2[10], ad2[10];
    ibtpo_tree_advantages(&c, 10, parent, tc, mlp, reward, ib1, ad1);
    check_status(ibtpo_tree_advantages(&c, 10, parent, tc, mlp, reward, NULL, ad2), IBTPO_OK, "tree_advantages(out_ib_score NULL)", NULL);
    check_status(ibtpo_tree_advantages(&c, 10, parent, tc, mlp, reward, ib2, NULL), IBTPO_OK, "tree_advantages(out_advantage NULL)", NULL);
    check(memcmp(ad1, ad2, sizeof ad1) == 0 && memcmp(ib1, ib2, sizeof ib1) == 0, "  ... each output alone equals the full call, bit for bit", NULL);
    check_status(ibtpo_tree_advantages(&c, 10, parent, tc, mlp, reward, NULL, NULL), IBTPO_OK, "tree_advantages(both outputs NULL)", NULL);
    ibtpo_rl_config junk = c;
    junk.algo = 99, junk.epochs = 0, junk.prompts_per_step = -1, junk.group_size = -5, junk.lr = NAN, junk.branch_rule = 77;
    check_status(ibtpo_tree_advantages(&junk, 10, parent, tc, mlp, reward, ib2, ad2), IBTPO_OK,
                 "tree_advantages ignores the cfg fields it does not use (algo 99, epochs 0, lr NaN, ...)", NULL);
    check(memcmp(ad1, ad2, sizeof ad1) == 0, "  ... and gives the same advantages", NULL);

    /* misuse: every error names the problem (the node, for bad nodes) */
    check_err(ibtpo_tree_advantages(NULL, 10, parent, tc, mlp, reward, ib2, ad2), ERR_ARG, "tree_advantages(cfg NULL)", NULL, "NULL");
    const uint32_t bad_ss[] = {0, 3, (uint32_t)sizeof c - 1, 0xFFFFFFFFu};
    for (int i = 0; i < 4; i++) {
        ibtpo_rl_config k = c;
        k.struct_size = bad_ss[i];
        char what[96];
        snprintf(what, sizeof what, "tree_advantages(cfg.struct_size %lu)", (unsigned long)bad_ss[i]);
        check_err(ibtpo_tree_advantages(&k, 10, parent, tc, mlp, reward, ib2, ad2), ERR_ARG, what, NULL, "struct_size");
    }
    const int64_t bad_n[] = {0, 1, -1, INT64_MIN, INT64_MAX, (1 << 24) + 1};
    for (size_t i = 0; i < sizeof bad_n / sizeof bad_n[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "tree_advantages(n_nodes %lld)", (long long)bad_n[i]);
        check_err(ibtpo_tree_advantages(&c, bad_n[i], parent, tc, mlp, reward, ib2, ad2), ERR_ARG, what, NULL, "n_nodes");
    }
    check_err(ibtpo_tree_advantages(&c, 10, NULL, tc, mlp, reward, ib2, ad2), ERR_ARG, "tree_advantages(parent NULL)", NULL, "NULL");
    check_err(ibtpo_tree_advantages(&c, 10, parent, NULL, mlp, reward, ib2, ad2), ERR_ARG, "tree_advantages(token_count NULL)", NULL, "NULL");
    check_err(ibtpo_tree_advantages(&c, 10, parent, tc, NULL, reward, ib2, ad2), ERR_ARG, "tree_advantages(mean_logp NULL)", NULL, "NULL");
    check_err(ibtpo_tree_advantages(&c, 10, parent, tc, mlp, NULL, ib2, ad2), ERR_ARG, "tree_advantages(reward NULL)", NULL, "NULL");
    const struct { const char *what, *kw; int arr, node; double v; } bn[] = {
        {"parent[0] = 0 (root must be -1)", "parent&0", 0, 0, 0},
        {"parent[7] = 7 (itself)", "parent&7", 0, 7, 7},
        {"parent[7] = 9 (a later node)", "parent&7", 0, 7, 9},
        {"parent[5] = -1 (a second root)", "parent&5", 0, 5, -1},
        {"parent[5] = -2", "parent&5", 0, 5, -2},
        {"parent[9] = INT32_MAX", "parent&9", 0, 9, INT32_MAX},
        {"token_count[0] = 1 (root must be 0)", "token_count&0", 1, 0, 1},
        {"token_count[9] = 0", "token_count&9", 1, 9, 0},
        {"token_count[9] = -3", "token_count&9", 1, 9, -3},
        {"mean_logp[3] = 0.5 (> 0)", "mean_logp&3", 2, 3, 0.5},
        {"mean_logp[3] = NaN", "mean_logp&3", 2, 3, NAN},
        {"mean_logp[3] = -inf", "mean_logp&3", 2, 3, -INFINITY},
        {"reward[8] = 1.5 (leaf)", "reward&8", 3, 8, 1.5},
        {"reward[8] = -0.1 (leaf)", "reward&8", 3, 8, -0.1},
        {"reward[8] = NaN (leaf)", "reward&8", 3, 8, NAN},
        {"reward[2] = inf (leaf)", "reward&2", 3, 2, INFINITY},
    };
    for (size_t i = 0; i < sizeof bn / sizeof bn[0]; i++) {
        int32_t P[10], T[10];
        float M[10], R[10];
        memcpy(P, parent, sizeof P), memcpy(T, tc, sizeof T), memcpy(M, mlp, sizeof M), memcpy(R, reward, sizeof R);
        if (bn[i].arr == 0) P[bn[i].node] = (int32_t)bn[i].v;
        if (bn[i].arr == 1) T[bn[i].node] = (int32_t)bn[i].v;
        if (bn[i].arr == 2) M[bn[i].node] = (float)bn[i].v;
        if (bn[i].arr == 3) R[bn[i].node] = (float)bn[i].v;
        char what[128];
        snprintf(what, sizeof what, "tree_advantages(%s)", bn[i].what);
        check_err(ibtpo_tree_advantages(&c, 10, P, T, M, R, ib2, ad2), ERR_ARG, what, NULL, bn[i].kw);
    }
    const struct { const char *what, *kw; int f; double v; } bc[] = {
        {"beta 0", "beta", 0, 0}, {"beta -1", "beta", 0, -1}, {"beta NaN", "beta", 0, NAN}, {"lambda -0.5", "lambda", 1, -0.5},
        {"lambda NaN", "lambda", 1, NAN}, {"pibar_form 2", "pibar", 2, 2}, {"pibar_form -1", "pibar", 2, -1},
        {"sqrt_n_weighting 2", "sqrt", 3, 2}, {"ratio_when_parent_zero NaN", "ratio", 4, NAN},
        {"ratio_when_parent_zero inf", "ratio", 4, INFINITY},
    };
    for (size_t i = 0; i < sizeof bc / sizeof bc[0]; i++) {
        ibtpo_rl_config k = c;
        if (bc[i].f == 0) k.beta = bc[i].v;
        if (bc[i].f == 1) k.lambda = bc[i].v;
        if (bc[i].f == 2) k.pibar_form = (int32_t)bc[i].v;
        if (bc[i].f == 3) k.sqrt_n_weighting = (int32_t)bc[i].v;
        if (bc[i].f == 4) k.ratio_when_parent_zero = bc[i].v;
        char what[128];
        snprintf(what, sizeof what, "tree_advantages(cfg %s)", bc[i].what);
        check_err(ibtpo_tree_advantages(&k, 10, parent, tc, mlp, reward, ib2, ad2), ERR_ARG, what, NULL, bc[i].kw);
    }
}

/* ---- stale and fake handles (in a child process: reading freed memory may crash) ---- */

/* Calls every handle function with `h`; returns how many did not return INVALID_ARGUMENT
 * with a message in ibtpo_last_error(NULL). */
static int handle_calls_rejected(ibtpo_trainer *h) {
    int bad = 0;
    int64_t s;
    int32_t th, tk[8] = {IBTPO_TOKEN_BOS, 'a'}, out[32];
    int64_t ln[1];
    float lp[32];
    ibtpo_trainer_config cfg;
    ibtpo_trainer_config_default(&cfg);
    ibtpo_sampling_config sc = small_sampling();
    ibtpo_rl_config rc = small_rl(IBTPO_ALGO_GRPO);
    ibtpo_status r[14];
    r[0] = ibtpo_trainer_get_step(h, &s);
    r[1] = ibtpo_trainer_get_config(h, &cfg);
    r[2] = ibtpo_trainer_set_threads(h, 1);
    r[3] = ibtpo_trainer_get_threads(h, &th);
    r[4] = ibtpo_trainer_step_supervised(h, tk, tk, NULL, 1, 2, NULL);
    r[5] = ibtpo_trainer_score(h, tk, NULL, 1, 2, lp);
    r[6] = ibtpo_trainer_generate(h, tk, 2, 1, &sc, 1, out, ln, lp);
    r[7] = ibtpo_trainer_set_reward_fn(h, NULL, NULL);
    r[8] = ibtpo_trainer_set_log_fn(h, NULL, NULL);
    r[9] = ibtpo_trainer_set_progress_fn(h, NULL, NULL);
    r[10] = ibtpo_trainer_step_rl(h, NULL);
    r[11] = ibtpo_trainer_save(h, "/nonexistent-ibtpo-dir/x.ckpt");
    r[12] = ibtpo_trainer_load(h, "/nonexistent-ibtpo-dir/x.ckpt");
    r[13] = ibtpo_trainer_rl_begin(h, NULL, &rc, NULL);
    for (int i = 0; i < 14; i++) {
        if (r[i] != ERR_ARG || !*ibtpo_last_error(NULL)) {
            printf("#   call %d returned %d (%s), last_error(NULL) \"%s\"\n", i, (int)r[i], ibtpo_status_string(r[i]),
                   ibtpo_last_error(NULL));
            bad++;
        }
    }
    fflush(stdout);
    return bad;
}

/* Calls the task functions with `k`; returns how many were not rejected as above. */
static int task_calls_rejected(ibtpo_task *k) {
    int bad = 0;
    int64_t cnt;
    char p[64];
    ibtpo_status r[3];
    r[0] = ibtpo_task_problem_count(k, IBTPO_SPLIT_TRAIN, &cnt);
    r[1] = ibtpo_task_get_problem(k, IBTPO_SPLIT_TRAIN, 0, p, NULL, NULL, sizeof p);
    ibtpo_trainer_config c = small_config(1, 1);
    ibtpo_trainer *t = NULL;
    ibtpo_trainer_create(&c, &t);
    r[2] = t ? ibtpo_trainer_step_sft(t, k, NULL) : ERR_ARG;
    const char *e2 = t ? ibtpo_last_error(t) : "x";
    for (int i = 0; i < 3; i++) {
        if (r[i] != ERR_ARG || !*(i == 2 ? e2 : ibtpo_last_error(NULL))) {
            printf("#   task call %d returned %d (%s)\n", i, (int)r[i], ibtpo_status_string(r[i]));
            bad++;
        }
    }
    ibtpo_trainer_free(t);
    fflush(stdout);
    return bad;
}

enum { BAD_FAKE_TRAINER, BAD_STALE_TRAINER, BAD_FAKE_TASK, BAD_STALE_TASK };

static char *self_path; /* argv[0], to re-execute this program */

/* The body of a child process (test_api --bad-handle KIND): exit status = calls not rejected. */
static int bad_handle_child(int kind) {
    alarm(60);
    void *fake = calloc(1, 4096); /* zeroed memory that is not a handle */
    int bad;
    if (kind == BAD_FAKE_TRAINER || kind == BAD_STALE_TRAINER) {
        ibtpo_trainer *h = fake;
        if (kind == BAD_STALE_TRAINER) {
            ibtpo_trainer_config c = small_config(1, 1);
            if (ibtpo_trainer_create(&c, &h) != IBTPO_OK) return 100;
            ibtpo_trainer_free(h); /* h is now stale */
        }
        bad = handle_calls_rejected(h);
    } else {
        ibtpo_task *k = fake;
        if (kind == BAD_STALE_TASK) {
            if (ibtpo_task_create_builtin("add", NULL, 1, &k) != IBTPO_OK) return 100;
            ibtpo_task_free(k); /* k is now stale */
        }
        bad = task_calls_rejected(k);
    }
    free(fake);
    return bad > 99 ? 99 : bad;
}

/* Runs the calls with a bad handle of `kind` in `reps` fresh processes (this program
 * re-executed: each gets its own heap layout and allocator secrets, so what freed memory
 * holds differs between runs; a fork would share the parent's). */
static void run_in_children(const char *what, int kind, int reps, int ncalls) {
    int crashed = 0, wrong = 0, sig = 0;
    for (int rep = 0; rep < reps; rep++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            char k[8];
            snprintf(k, sizeof k, "%d", kind);
            char *args[] = {self_path, "--bad-handle", k, NULL};
            execvp(self_path, args);
            _exit(bad_handle_child(kind)); /* exec failed: run it in the fork */
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) != pid) {
            checkf(0, "%s: fork/waitpid", what);
            return;
        }
        if (WIFSIGNALED(status)) crashed++, sig = WTERMSIG(status);
        else if (WEXITSTATUS(status) != 0) wrong++;
    }
    checkf(crashed == 0 && wrong == 0,
           "%s: %d functions return INVALID_ARGUMENT with a message, in %d processes (%d died of signal %d, "
           "%d returned something else)", what, ncalls, reps, crashed, sig, wrong);
}

static void test_bad_handles(void) {
    run_in_children("a pointer to zeroed memory used as a trainer", BAD_FAKE_TRAINER, 1, 14);
    run_in_children("a pointer to zeroed memory used as a task", BAD_FAKE_TASK, 1, 3);
    /* (the children run natively even under valgrind, which does not follow exec by default) */
    run_in_children("a stale trainer (used after ibtpo_trainer_free)", BAD_STALE_TRAINER, 16, 14);
    run_in_children("a stale task (used after ibtpo_task_free)", BAD_STALE_TASK, 16, 3);
}

/* ---- main ------------------------------------------------------------------------------ */

#define SECTION(name, call)                                                  \
    do {                                                                     \
        double t0_ = now_seconds();                                          \
        call;                                                                \
        note("section %-28s %7.2f s", name, now_seconds() - t0_);           \
    } while (0)

int main(int argc, char **argv) {
    self_path = argv[0];
    if (argc == 3 && strcmp(argv[1], "--bad-handle") == 0) return bad_handle_child(atoi(argv[2]));
    if (argc > 1) {
        snprintf(scratch, sizeof scratch, "%s", argv[1]);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(scratch, sizeof scratch, "%s/ibtpo-ctest-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(scratch)) { perror("mkdtemp"); return 2; }
    }
    printf("# libibtpo C API test, library version 0x%06lx, scratch %s\n", (unsigned long)ibtpo_version(), scratch);
    double t_start = now_seconds();

    SECTION("bad handles (child process)", test_bad_handles());
    SECTION("version and status", test_version_and_status());
    SECTION("defaults", test_defaults());
    SECTION("memory plan", test_memory_plan());
    SECTION("create misuse", test_create_misuse());

    ibtpo_trainer_config c = tiny_config(7);
    ibtpo_trainer *t = NULL;
    check_status(ibtpo_trainer_create(&c, &t), IBTPO_OK, "trainer_create(tiny config)", NULL);
    check(t != NULL, "trainer_create returns a handle", NULL);
    if (t) {
        SECTION("handle misuse", test_handle_misuse(t));
        SECTION("step misuse", test_step_misuse(t));
        ibtpo_trainer_free(t);
    }
    SECTION("checkpoints", test_checkpoints());
    SECTION("tokenizer", test_tokenizer());
    SECTION("tasks", test_tasks());
    SECTION("tree advantages", test_tree_advantages());

    /* the small model (d_model 32, 2 layers, max_seq 48, 8 rollout slots) and one without slots */
    ibtpo_trainer_config sc = small_config(5, 1), zc = small_config(5, 1);
    zc.rollout_slots = 0;
    ibtpo_trainer *s = NULL, *z = NULL;
    check_status(ibtpo_trainer_create(&sc, &s), IBTPO_OK, "trainer_create(small config: d_model 32, 2 layers, max_seq 48)", NULL);
    check_status(ibtpo_trainer_create(&zc, &z), IBTPO_OK, "trainer_create(rollout_slots 0: valid, no sampling)", NULL);
    if (s) {
        SECTION("callback setters", test_callback_setters(s));
        SECTION("threads", test_threads(s));
        SECTION("generate", test_generate(s, z));
        SECTION("score", test_score(s));
        SECTION("sft and evaluate", test_sft_and_eval(s, z));
        SECTION("rl", test_rl(s, z));
    }
    ibtpo_trainer_free(s);
    ibtpo_trainer_free(z);
    SECTION("rl failures leave no trace", test_rl_failures_unchanged());

    if (argc <= 1) rmdir(scratch);
    note("total %.2f s", now_seconds() - t_start);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
