/*
 * api_tree_advantages.c — test_api section: ibtpo_tree_advantages against the formulas of
 * docs/docs/algorithm.md §3 and §5, computed here independently in double precision, and its misuse.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, unlink, rmdir, fork, clock_gettime; no BLIS header here */

#include "api_common.h"

/* ---- ibtpo_tree_advantages against docs/docs/algorithm.md §3 and §5 -------------------------- */

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

void test_tree_advantages(void) {
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
        checkf(w <= tol, "tree_advantages(%s) == the formulas of ib-tpo.md: worst |diff| %.3g <= %.0e over IB and A of "
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
