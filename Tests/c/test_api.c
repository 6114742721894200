/*
 * test_api.c — exercises every function of include/ibtpo.h through the C ABI, including
 * misuse (NULL pointers, bad sizes, wrong struct_size, out-of-range config values,
 * corrupt checkpoints). Built twice by `make test`: against libibtpo.so and libibtpo.a.
 *
 * Usage: test_api [scratch-dir]   (default: a fresh directory from mkdtemp in $TMPDIR or /tmp)
 * Prints one line per check and "N passed, M failed"; exits 1 if any check failed.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, unlink, rmdir; no BLIS header here */

#include "ibtpo.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int passed, failed;

static void check(int ok, const char *what, const char *detail) {
    if (ok) {
        passed++;
        printf("ok   %s\n", what);
    } else {
        failed++;
        printf("FAIL %s%s%s\n", what, detail ? " -- " : "", detail ? detail : "");
    }
    fflush(stdout);
}

/* Checks that `got` equals `want`, printing both codes and the relevant last error. */
static void check_status(ibtpo_status got, ibtpo_status want, const char *what, const ibtpo_trainer *t) {
    char detail[512];
    snprintf(detail, sizeof detail, "got %d (%s), want %d (%s); last error: %s", (int)got, ibtpo_status_string(got),
             (int)want, ibtpo_status_string(want), ibtpo_last_error(t));
    check(got == want, what, detail);
}

/* ---- small helpers -------------------------------------------------------------- */

static char scratch[4096];

static void path_in_scratch(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", scratch, name); }

static int write_file(const char *path, const unsigned char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

static unsigned char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (len == cap) {
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); fclose(f); return NULL; }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    fclose(f);
    *n = len;
    return buf;
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

/* A tiny model so the test (and its valgrind run) stays fast. */
static ibtpo_trainer_config tiny_config(uint64_t seed) {
    ibtpo_trainer_config c;
    ibtpo_trainer_config_default(&c);
    c.model.d_model = 32;
    c.model.n_layers = 2;
    c.model.n_heads = 2;
    c.model.n_kv_heads = 1;
    c.model.d_ff = 64;
    c.model.max_seq = 16;
    c.batch = 2;
    c.seq = 8;
    c.threads = 1;
    c.seed = seed;
    c.warmup_steps = 2;
    c.total_steps = 10;
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

int main(int argc, char **argv) {
    if (argc > 1) {
        snprintf(scratch, sizeof scratch, "%s", argv[1]);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(scratch, sizeof scratch, "%s/ibtpo-ctest-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(scratch)) { perror("mkdtemp"); return 2; }
    }
    printf("# libibtpo C API test, library version 0x%06lx, scratch %s\n", (unsigned long)ibtpo_version(), scratch);

    test_version_and_status();
    test_defaults();
    test_memory_plan();
    test_create_misuse();

    ibtpo_trainer_config c = tiny_config(7);
    ibtpo_trainer *t = NULL;
    check_status(ibtpo_trainer_create(&c, &t), IBTPO_OK, "trainer_create(tiny config)", NULL);
    check(t != NULL, "trainer_create returns a handle", NULL);
    if (t) {
        test_handle_misuse(t);
        test_step_misuse(t);
        ibtpo_trainer_free(t);
    }
    test_checkpoints();

    if (argc <= 1) rmdir(scratch);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
