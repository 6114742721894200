/*
 * api_config.c — test_api sections: version and status strings, the config defaults against
 * the header's documentation, ibtpo_memory_plan_for, and ibtpo_trainer_create rejecting every
 * invalid config field.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, unlink, rmdir, fork, clock_gettime; no BLIS header here */

#include "api_common.h"

void test_version_and_status(void) {
    uint32_t v = ibtpo_version();
    check(v == (uint32_t)IBTPO_VERSION_NUMBER, "ibtpo_version() == IBTPO_VERSION_NUMBER", NULL);
    check((v >> 16) == IBTPO_VERSION_MAJOR, "major version matches the header", NULL);
    int all = 1, distinct = 1;
    for (int s = 0; s <= IBTPO_ERR_PARTIAL; s++) {
        const char *a = ibtpo_status_string(s);
        if (!a || !*a || strcmp(a, "unknown status") == 0) all = 0;
        for (int u = 0; u < s; u++)
            if (a && strcmp(a, ibtpo_status_string(u)) == 0) distinct = 0;
    }
    check(all, "ibtpo_status_string(0..12) are known, non-empty", NULL);
    check(distinct, "ibtpo_status_string(0..12) are distinct", NULL);
    const int32_t unknown[] = {-1, IBTPO_ERR_PARTIAL + 1, 99, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *s = ibtpo_status_string(unknown[i]);
        char what[96];
        snprintf(what, sizeof what, "ibtpo_status_string(%ld) is \"unknown status\"", (long)unknown[i]);
        check(s && strcmp(s, "unknown status") == 0, what, s);
    }
    check(strcmp(ibtpo_status_string(IBTPO_OK), "ok") == 0, "ibtpo_status_string(IBTPO_OK) == \"ok\"", NULL);
}

void test_defaults(void) {
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
        /* Do the default configs work together? The header's rl_begin rules decide: it fails if
         * prompts_per_step x G exceeds the rollout slots or if sampling.max_new_tokens + 1 >= seq. */
        ibtpo_trainer *dt = NULL;
        ibtpo_task *dk = NULL;
        ibtpo_trainer_create(&c, &dt);
        ibtpo_task_create_builtin("add", NULL, 1, &dk);
        ibtpo_status ds = dt && dk ? ibtpo_trainer_rl_begin(dt, dk, &r, NULL) : IBTPO_ERR_INTERNAL;
        int64_t G = r.algo == IBTPO_ALGO_GRPO ? r.group_size : r.tree_b0 + (int64_t)(r.tree_l - 1) * r.tree_k * r.tree_b;
        int fits_seq = r.sampling.max_new_tokens + 1 < c.seq, fits_slots = (int64_t)r.prompts_per_step * G <= c.rollout_slots;
        const char *de = dt ? ibtpo_last_error(dt) : "";
        int named = (!fits_seq && contains_ci(de, "max_new_tokens")) || (!fits_slots && contains_ci(de, "slots"));
        checkf(fits_seq && fits_slots ? ds == IBTPO_OK : ds == ERR_ARG && named,
               "default trainer config + default rl config: rl_begin -> %s%s%.200s (the header's rules: %d prompts x G %lld "
               "%s %d rollout slots, max_new_tokens %d + 1 %s seq %d)", ibtpo_status_string(ds), ds ? ": " : "", ds ? de : "",
               (int)r.prompts_per_step, (long long)G, fits_slots ? "<=" : ">", (int)c.rollout_slots,
               (int)r.sampling.max_new_tokens, fits_seq ? "<" : ">=", (int)c.seq);
        ibtpo_trainer_free(dt);
        ibtpo_task_free(dk);
    }
    note("rl defaults not fixed by the header: pibar_form %d, ratio_when_parent_zero %g, sqrt_n_weighting %d, "
         "entropy_coef %g, fixed_max_depth %d",
         (int)r.pibar_form, r.ratio_when_parent_zero, (int)r.sqrt_n_weighting, r.entropy_coef, (int)r.fixed_max_depth);
}

void test_memory_plan(void) {
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

void test_create_misuse(void) {
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
