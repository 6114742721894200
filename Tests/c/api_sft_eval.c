/*
 * api_sft_eval.c — test_api section: ibtpo_trainer_step_sft (misuse, 30 steps lower the
 * loss), ibtpo_trainer_evaluate (determinism, reward callbacks, in-memory tasks, misuse) and
 * the raw completion bytes the reward callback sees.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, unlink, rmdir, fork, clock_gettime; no BLIS header here */

#include "api_common.h"

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

void test_sft_and_eval(ibtpo_trainer *t, ibtpo_trainer *noslots) {
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
