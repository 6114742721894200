/*
 * api_rl.c — test_api sections: GRPO and IB-TPO through rl_begin / step_rl (every invalid
 * config field, the documented metrics, ablation settings, callbacks) and "failed RL steps
 * leave the trainer exactly as it was" (bit-identical to a trainer that never failed).
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, unlink, rmdir, fork, clock_gettime; no BLIS header here */

#include "api_common.h"

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

void test_rl(ibtpo_trainer *t, ibtpo_trainer *noslots) {
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
        check_err(ibtpo_trainer_rl_begin(t, task, &cp, NULL), ERR_ARG,
                  "rl_begin(GRPO, probe_every 1) with 8 rollout slots (the probe tree needs 2 x 12)", t, "probe&slots");
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
void test_rl_failures_unchanged(void) {
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
