/*
 * api_busy.c — test_api section: one call at a time per trainer. A progress or reward
 * callback that calls its own trainer (generate, score, evaluate, step_sft, step_supervised,
 * step_rl, rl_begin, load, save, set_threads, get_step, the setters) gets IBTPO_ERR_BUSY, with
 * the message in ibtpo_last_error(NULL) and the trainer's own last error untouched, while
 * calls on another trainer from the same callback succeed; the outer call is unaffected.
 * A second thread calling a trainer while a call on it runs gets IBTPO_ERR_BUSY too.
 */
#define _POSIX_C_SOURCE 200809L

#include "api_common.h"

#include <pthread.h>
#include <time.h>

/* Sleeps one millisecond. */
static void nap(void) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

#define NREENTER 14

typedef struct {
    ibtpo_trainer *self, *other;
    const ibtpo_task *task;
    int entered;                  /* the callback ran its attempts (once) */
    ibtpo_status st[NREENTER];    /* statuses of the calls on its own trainer */
    int thread_msg_busy;          /* ibtpo_last_error(NULL) named "busy" after each refused call */
    int own_error_untouched;      /* ibtpo_last_error(self) stayed "" */
    ibtpo_status other_status;    /* a call on the other trainer from inside the callback */
} reenter_state;

static const char *const reenter_names[NREENTER] = {
    "generate", "score", "evaluate", "step_sft", "step_supervised", "step_rl", "rl_begin", "load",
    "save", "set_threads", "get_step", "set_progress_fn", "set_reward_fn", "get_config",
};

/* Calls every kind of function on r->self (all would otherwise succeed or fail on their
 * arguments), recording the statuses. */
static void reenter_all(reenter_state *r) {
    ibtpo_trainer *t = r->self;
    int32_t prompt[PLEN] = {256, '1', '+', '2', '\n'};
    static gen_out g;
    ibtpo_sampling_config s = small_sampling();
    static float scores[2 * 8];
    int32_t seqs[2 * 8] = {256, '1', '+', '2', '\n', '3', 257, 258, 256, '2', '+', '2', '\n', '4', 257, 258};
    ibtpo_eval_config ec;
    ibtpo_eval_config_default(&ec);
    ec.count = 2;
    ec.k = 1;
    ibtpo_eval_result er;
    er.struct_size = sizeof er;
    ibtpo_step_stats ss;
    ss.struct_size = sizeof ss;
    int32_t tok[NTOK], tgt[NTOK];
    float w[NTOK];
    make_batch(tok, tgt, w, 3);
    ibtpo_rl_metrics m;
    m.struct_size = sizeof m;
    ibtpo_rl_config rc = small_rl(IBTPO_ALGO_GRPO);
    uint64_t ref = 0;
    char path[4200];
    path_in_scratch(path, sizeof path, "busy.ckpt");
    int32_t threads = 0;
    int64_t step = 0;
    ibtpo_trainer_config cfg;
    ibtpo_trainer_config_default(&cfg);
    int k = 0;
    r->thread_msg_busy = 1;
    r->own_error_untouched = 1;
#define TRY(call)                                                                  \
    do {                                                                           \
        r->st[k++] = (call);                                                       \
        if (!contains_ci(ibtpo_last_error(NULL), "busy")) r->thread_msg_busy = 0;  \
        if (*ibtpo_last_error(t) != '\0') r->own_error_untouched = 0;              \
    } while (0)
    TRY(gen(t, prompt, 2, &s, 1, &g, 1));
    TRY(ibtpo_trainer_score(t, seqs, NULL, 2, 8, scores));
    TRY(ibtpo_trainer_evaluate(t, r->task, &ec, &er));
    TRY(ibtpo_trainer_step_sft(t, r->task, &ss));
    TRY(ibtpo_trainer_step_supervised(t, tok, tgt, w, 2, 8, &ss));
    TRY(ibtpo_trainer_step_rl(t, &m));
    TRY(ibtpo_trainer_rl_begin(t, r->task, &rc, &ref));
    TRY(ibtpo_trainer_load(t, path));
    TRY(ibtpo_trainer_save(t, path));
    TRY(ibtpo_trainer_set_threads(t, 1));
    TRY(ibtpo_trainer_get_step(t, &step));
    TRY(ibtpo_trainer_set_progress_fn(t, NULL, NULL));
    TRY(ibtpo_trainer_set_reward_fn(t, NULL, NULL));
    TRY(ibtpo_trainer_get_config(t, &cfg));
#undef TRY
    r->other_status = ibtpo_trainer_get_threads(r->other, &threads);
}

static int32_t reenter_progress(void *user, const char *phase, int64_t done, int64_t total) {
    (void)phase, (void)done, (void)total;
    reenter_state *r = user;
    if (!r->entered) {
        r->entered = 1;
        reenter_all(r);
    }
    return 0;
}

static int32_t reenter_reward(void *user, const char *prompt, int64_t prompt_len, const char *completion,
                              int64_t completion_len, const char *answer, double *out_reward) {
    (void)prompt, (void)prompt_len, (void)completion, (void)completion_len, (void)answer;
    reenter_progress(user, "reward", 0, 1);
    *out_reward = 0.5;
    return 0;
}

static void check_reentered(const reenter_state *r, const char *from) {
    char what[160];
    snprintf(what, sizeof what, "%s ran its re-entrant calls", from);
    check(r->entered, what, NULL);
    for (int i = 0; i < NREENTER; i++) {
        snprintf(what, sizeof what, "%s: %s on its own trainer -> IBTPO_ERR_BUSY", from, reenter_names[i]);
        check_status(r->st[i], IBTPO_ERR_BUSY, what, NULL);
    }
    snprintf(what, sizeof what, "%s: each refusal's message (\"busy\") is in ibtpo_last_error(NULL)", from);
    check(r->thread_msg_busy, what, ibtpo_last_error(NULL));
    snprintf(what, sizeof what, "%s: the refusals leave ibtpo_last_error(trainer) untouched", from);
    check(r->own_error_untouched, what, NULL);
    snprintf(what, sizeof what, "%s: a call on another trainer from the callback succeeds", from);
    check_status(r->other_status, IBTPO_OK, what, r->other);
}

typedef struct {
    ibtpo_trainer *t;
    int inside, attempted; /* accessed with __atomic builtins */
    ibtpo_status outer;
} two_thread_state;

/* The progress callback of the long call: on its first call, waits (up to 30 s) until the
 * main thread has made its attempts on the same trainer. */
static int32_t wait_progress(void *user, const char *phase, int64_t done, int64_t total) {
    (void)phase, (void)done, (void)total;
    two_thread_state *s = user;
    if (!__atomic_load_n(&s->inside, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&s->inside, 1, __ATOMIC_RELEASE);
        double t0 = now_seconds();
        while (!__atomic_load_n(&s->attempted, __ATOMIC_ACQUIRE) && now_seconds() - t0 < 30) nap();
    }
    return 0;
}

static void *long_call(void *user) {
    two_thread_state *s = user;
    int32_t prompt[PLEN] = {256, '1', '+', '2', '\n'};
    static gen_out g;
    ibtpo_sampling_config sc = small_sampling();
    s->outer = gen(s->t, prompt, 2, &sc, 5, &g, 1);
    return NULL;
}

void test_busy(ibtpo_trainer *s, ibtpo_trainer *z) {
    ibtpo_task *add = NULL;
    check_status(ibtpo_task_create_builtin("add", "digits=1", 3, &add), IBTPO_OK, "busy: task_create_builtin(add)", NULL);
    int32_t prompt[PLEN] = {256, '1', '+', '2', '\n'};
    ibtpo_sampling_config sc = small_sampling();
    static gen_out plain, withcb;
    check_status(gen(s, prompt, 2, &sc, 9, &plain, 1), IBTPO_OK, "busy: generate without callbacks (reference)", s);
    state_snap before;
    snap_take(s, &before, "busy-before.ckpt");

    /* a progress callback calling its own trainer during generate */
    reenter_state r;
    memset(&r, 0, sizeof r);
    r.self = s, r.other = z, r.task = add;
    check_status(ibtpo_trainer_set_progress_fn(s, reenter_progress, &r), IBTPO_OK, "busy: set_progress_fn", s);
    check_status(gen(s, prompt, 2, &sc, 9, &withcb, 1), IBTPO_OK, "busy: generate whose progress callback re-enters", s);
    check(memcmp(plain.tok, withcb.tok, sizeof plain.tok) == 0 && memcmp(plain.len, withcb.len, sizeof plain.len) == 0,
          "busy: that generate returned the same completions as without the callback", NULL);
    check(*ibtpo_last_error(s) == '\0', "busy: ibtpo_last_error(trainer) is \"\" after the successful outer call",
          ibtpo_last_error(s));
    check_reentered(&r, "progress callback in generate");
    ibtpo_trainer_set_progress_fn(s, NULL, NULL);
    check_unchanged(s, &before, "the refused re-entrant calls", 1);

    /* a reward callback calling its own trainer during evaluate */
    memset(&r, 0, sizeof r);
    r.self = s, r.other = z, r.task = add;
    ibtpo_eval_config ec;
    ibtpo_eval_config_default(&ec);
    ec.count = 2;
    ec.k = 1;
    ec.sampling = sc;
    ibtpo_eval_result er;
    er.struct_size = sizeof er;
    check_status(ibtpo_trainer_set_reward_fn(s, reenter_reward, &r), IBTPO_OK, "busy: set_reward_fn", s);
    check_status(ibtpo_trainer_evaluate(s, add, &ec, &er), IBTPO_OK, "busy: evaluate whose reward callback re-enters", s);
    check_reentered(&r, "reward callback in evaluate");
    ibtpo_trainer_set_reward_fn(s, NULL, NULL);
    check_unchanged(s, &before, "the refused re-entrant calls from the reward callback", 1);

    /* a second thread on a trainer that is running a call */
    two_thread_state ts;
    memset(&ts, 0, sizeof ts);
    ts.t = s;
    ts.outer = -1;
    int32_t threads_before = 0;
    ibtpo_trainer_get_threads(s, &threads_before);
    ibtpo_trainer_set_progress_fn(s, wait_progress, &ts);
    pthread_t th;
    int started = pthread_create(&th, NULL, long_call, &ts) == 0;
    check(started, "busy: pthread_create", NULL);
    if (started) {
        double t0 = now_seconds();
        while (!__atomic_load_n(&ts.inside, __ATOMIC_ACQUIRE) && now_seconds() - t0 < 30) nap();
        check(__atomic_load_n(&ts.inside, __ATOMIC_ACQUIRE), "busy: the other thread's generate is running", NULL);
        int64_t step = -7;
        ibtpo_status st1 = ibtpo_trainer_get_step(s, &step);
        int msg = contains_ci(ibtpo_last_error(NULL), "busy");
        ibtpo_status st2 = ibtpo_trainer_set_threads(s, threads_before == 2 ? 1 : 2);
        int32_t prompt2[PLEN] = {256, '2', '+', '2', '\n'};
        static gen_out g2;
        ibtpo_status st3 = gen(s, prompt2, 1, &sc, 3, &g2, 1);
        __atomic_store_n(&ts.attempted, 1, __ATOMIC_RELEASE);
        pthread_join(th, NULL);
        check_status(st1, IBTPO_ERR_BUSY, "busy: get_step from a second thread during generate", NULL);
        check(step == -7, "busy: the refused get_step wrote nothing", NULL);
        check(msg, "busy: its message (\"busy\") is in the second thread's ibtpo_last_error(NULL)", ibtpo_last_error(NULL));
        check_status(st2, IBTPO_ERR_BUSY, "busy: set_threads from a second thread during generate", NULL);
        check_status(st3, IBTPO_ERR_BUSY, "busy: generate from a second thread during generate", NULL);
        check_status(ts.outer, IBTPO_OK, "busy: the running generate itself succeeds", s);
        int32_t threads = 0;
        ibtpo_trainer_get_threads(s, &threads);
        check(threads == threads_before, "busy: the refused set_threads changed nothing", NULL);
    }
    ibtpo_trainer_set_progress_fn(s, NULL, NULL);
    int64_t step = -1;
    check_status(ibtpo_trainer_get_step(s, &step), IBTPO_OK, "busy: the trainer is usable again afterwards", s);
    check_unchanged(s, &before, "the second thread's refused calls", 1);
    ibtpo_task_free(add);
}
