/*
 * api_noop_limits.c — test_api section: a supervised step with nothing to learn (every
 * target -1, or every weight 0) is a no-op (IBTPO_OK, tokens 0, loss 0, step and the whole
 * state unchanged, a warning logged); ibtpo_task_create_memory refuses at creation, naming
 * its index, a problem no trainer could hold, and stores answers whitespace-normalised.
 */
#define _POSIX_C_SOURCE 200809L

#include "api_common.h"

static void check_noop(ibtpo_trainer *t, const int32_t *tok, const int32_t *tgt, const float *w, const char *what) {
    state_snap before;
    snap_take(t, &before, "noop-before.ckpt");
    log_state lg;
    memset(&lg, 0, sizeof lg);
    ibtpo_trainer_set_log_fn(t, test_log, &lg);
    ibtpo_step_stats st;
    memset(&st, 0xAB, sizeof st);
    st.struct_size = sizeof st;
    char name[160];
    snprintf(name, sizeof name, "step_supervised(%s) -> IBTPO_OK", what);
    check_status(ibtpo_trainer_step_supervised(t, tok, tgt, w, 2, 8, &st), IBTPO_OK, name, t);
    checkf(st.tokens == 0 && st.loss == 0 && st.grad_norm == 0 && st.step == before.step,
           "%s: stats say tokens %lld, loss %g, grad_norm %g, step %lld (want 0, 0, 0, %lld)", what,
           (long long)st.tokens, (double)st.loss, (double)st.grad_norm, (long long)st.step, (long long)before.step);
    checkf(lg.levels[IBTPO_LOG_WARN] >= 1 && contains_ci(lg.first, "nothing to learn"),
           "%s: a warning \"nothing to learn\" was logged (\"%s\")", what, lg.first);
    ibtpo_trainer_set_log_fn(t, NULL, NULL);
    snprintf(name, sizeof name, "the no-op step (%s)", what);
    check_unchanged(t, &before, name, 1);
}

void test_nothing_to_learn(void) {
    ibtpo_trainer_config c = tiny_config(17);
    ibtpo_trainer *t = NULL;
    check_status(ibtpo_trainer_create(&c, &t), IBTPO_OK, "no-op: trainer_create(tiny config)", NULL);
    if (!t) return;
    int32_t tok[NTOK], tgt[NTOK], none[NTOK];
    float w[NTOK], zero[NTOK];
    make_batch(tok, tgt, w, 11);
    for (int i = 0; i < NTOK; i++) none[i] = -1, zero[i] = 0;
    check_noop(t, tok, none, NULL, "every target -1");
    check_noop(t, tok, tgt, zero, "every weight 0");
    /* weight 0 where there is a target, weight 1 where the target is -1: still nothing */
    for (int i = 0; i < NTOK; i++) zero[i] = i % 2 ? 1.0f : 0.0f, none[i] = i % 2 ? -1 : tgt[i];
    check_noop(t, tok, none, zero, "weights only on ignored targets");
    ibtpo_step_stats st;
    st.struct_size = sizeof st;
    check_status(ibtpo_trainer_step_supervised(t, tok, tgt, w, 2, 8, &st), IBTPO_OK, "no-op: a normal step afterwards", t);
    checkf(st.tokens > 0 && st.step == 1 && get_step(t) == 1, "the normal step trains: tokens %lld, step %lld",
           (long long)st.tokens, (long long)st.step);
    ibtpo_trainer_free(t);
}

void test_memory_task_limits(void) {
    enum { LONG = 70000, FITS = 65000 };
    char *big = malloc(LONG + 1), *fits = malloc(FITS + 1);
    if (!big || !fits) { check(0, "memory limits: malloc", NULL); free(big); free(fits); return; }
    memset(big, 'x', LONG), big[LONG] = '\0';
    memset(fits, 'y', FITS), fits[FITS] = '\0';
    const char *prompts[4] = {"1+1\n", "2+2\n", big, "3+3\n"};
    const char *answers[4] = {"2", "  4 \t", "7", "6"};
    const int32_t splits[4] = {0, 0, 0, 1};
    ibtpo_task *k = (ibtpo_task *)1;
    check_err(ibtpo_task_create_memory(prompts, answers, NULL, splits, 4, &k), IBTPO_ERR_BAD_DATA,
              "create_memory with a 70000-byte prompts[2]", NULL, "prompts[2]&65536");
    check(k == NULL, "create_memory: *out is NULL after the refusal", NULL);
    k = (ibtpo_task *)1;
    check_err(ibtpo_task_create_memory(prompts, NULL, NULL, splits, 4, &k), IBTPO_ERR_BAD_DATA,
              "create_memory without answers, 70000-byte prompts[2]", NULL, "prompts[2]");
    prompts[2] = fits;
    check_status(ibtpo_task_create_memory(prompts, answers, NULL, splits, 4, &k), IBTPO_OK,
                 "create_memory with a 65000-byte prompt (fits 65536)", NULL);
    char p[64], s[64], a[64];
    if (k && ibtpo_task_get_problem(k, IBTPO_SPLIT_TRAIN, 1, p, s, a, sizeof a) == IBTPO_OK)
        checkf(strcmp(a, "4") == 0 && strcmp(s, "answer: 4") == 0,
               "create_memory stores answers whitespace-normalised, as documented: \"  4 \\t\" -> \"%s\" (solution \"%s\")", a, s);
    else
        check(0, "create_memory: get_problem(train 1)", ibtpo_last_error(NULL));
    ibtpo_task_free(k);
    free(big);
    free(fits);
}
