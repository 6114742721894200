/*
 * api_generate_score.c — test_api sections: ibtpo_trainer_generate (determinism, rows
 * independent of n, the documented layout, log-probs against score, greedy/top-k 1,
 * max_seq cut, misuse) and ibtpo_trainer_score (chunking, causality, long rows, misuse).
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, unlink, rmdir, fork, clock_gettime; no BLIS header here */

#include "api_common.h"

/* Rows 0..n-1 of a and b are identical (tokens, lengths and, if lp, log-prob bits). */
static int gen_rows_equal(const gen_out *a, const gen_out *b, int n, int lp) {
    return memcmp(a->tok, b->tok, (size_t)n * GMAX * sizeof(int32_t)) == 0 &&
           memcmp(a->len, b->len, (size_t)n * sizeof(int64_t)) == 0 &&
           (!lp || memcmp(a->lp, b->lp, (size_t)n * GMAX * sizeof(float)) == 0);
}

void test_generate(ibtpo_trainer *t, ibtpo_trainer *noslots) {
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

void test_score(ibtpo_trainer *t) {
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
