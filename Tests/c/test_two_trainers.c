/*
 * test_two_trainers.c — the header's thread-safety rule: "distinct handles may be used
 * concurrently from different threads". One trainer is first run alone; then two trainers
 * with the same seed and thread count are created in the same process and driven
 * concurrently from two pthreads (started together at a barrier), sharing one task object.
 * Each runs: SFT steps on the task, rl_begin + IB-TPO steps with a C reward callback,
 * generate, score, evaluate, save. Every result of each concurrent trainer must be bit for
 * bit the solo run's: SFT losses and gradient norms, RL metrics (all but wall times),
 * generated tokens and log-probs, scores, evaluation results, rewards, and the checkpoint
 * file byte for byte. The reward callback must run on the thread that called the library.
 *
 * Usage: test_two_trainers [scratch-dir [rounds]]   (rounds of the concurrent pair, default 2)
 */
#define _POSIX_C_SOURCE 200809L

#include "test_util.h"

#include <pthread.h>
#include <unistd.h>

#define NSFT 6
#define NRL 2
#define GEN_N 4
#define GEN_MAX 16
#define SC_ROWS 3
#define SC_LEN 24

typedef struct {
    const char *tag;
    const ibtpo_task *task;
    pthread_barrier_t *barrier;
    char ckpt[4200];
    /* results */
    ibtpo_status status;
    char failed_call[96], error[512];
    float sft_loss[NSFT], sft_gnorm[NSFT];
    ibtpo_rl_metrics rl[NRL];
    int32_t gen_tok[GEN_N * GEN_MAX];
    int64_t gen_len[GEN_N];
    float gen_lp[GEN_N * GEN_MAX];
    float score[SC_ROWS * SC_LEN];
    ibtpo_eval_result ev;
    int64_t final_step;
    /* reward callback state */
    pthread_t self;
    int64_t reward_calls, wrong_thread;
    double reward_sum;
    double seconds;
} run_t;

static int32_t reward(void *user_data, const char *prompt, int64_t prompt_len, const char *completion,
                      int64_t completion_len, const char *answer, double *out_reward) {
    run_t *r = user_data;
    (void)prompt, (void)prompt_len;
    r->reward_calls++;
    if (!pthread_equal(pthread_self(), r->self)) r->wrong_thread++;
    double v = answer_line_matches(completion, completion_len, answer) ? 1.0 : 0.25 * (double)(completion_len % 5);
    r->reward_sum += v;
    *out_reward = v;
    return 0;
}

#define STEP(call, name)                                                    \
    do {                                                                    \
        ibtpo_status s_ = (call);                                           \
        if (s_ != IBTPO_OK) {                                               \
            r->status = s_;                                                 \
            snprintf(r->failed_call, sizeof r->failed_call, "%s", name);    \
            snprintf(r->error, sizeof r->error, "%s", ibtpo_last_error(t)); \
            goto done;                                                      \
        }                                                                   \
    } while (0)

static void *run_trainer(void *arg) {
    run_t *r = arg;
    ibtpo_trainer *t = NULL;
    r->self = pthread_self();
    ibtpo_trainer_config cfg = small_config(2024, 2);
    if (r->barrier) pthread_barrier_wait(r->barrier);
    double t0 = now_seconds();
    STEP(ibtpo_trainer_create(&cfg, &t), "ibtpo_trainer_create");
    STEP(ibtpo_trainer_set_reward_fn(t, reward, r), "ibtpo_trainer_set_reward_fn");
    for (int i = 0; i < NSFT; i++) {
        ibtpo_step_stats st;
        memset(&st, 0, sizeof st);
        st.struct_size = sizeof st;
        STEP(ibtpo_trainer_step_sft(t, r->task, &st), "ibtpo_trainer_step_sft");
        r->sft_loss[i] = st.loss, r->sft_gnorm[i] = st.grad_norm;
    }
    ibtpo_rl_config rc;
    ibtpo_rl_config_default(&rc);
    rc.algo = IBTPO_ALGO_IBTPO;
    rc.prompts_per_step = 2;
    rc.tree_b0 = 2, rc.tree_l = 2, rc.tree_k = 1, rc.tree_b = 1;
    rc.sampling = small_sampling();
    rc.sampling.max_new_tokens = GEN_MAX;
    rc.lr = 1e-3f;
    rc.seed = 77;
    STEP(ibtpo_trainer_rl_begin(t, r->task, &rc, NULL), "ibtpo_trainer_rl_begin");
    for (int i = 0; i < NRL; i++) {
        memset(&r->rl[i], 0, sizeof r->rl[i]);
        r->rl[i].struct_size = sizeof r->rl[i];
        STEP(ibtpo_trainer_step_rl(t, &r->rl[i]), "ibtpo_trainer_step_rl");
        r->rl[i].sampling_seconds = r->rl[i].update_seconds = 0; /* wall times differ */
    }
    int32_t prompt[8];
    int64_t pl = 0;
    STEP(ibtpo_tokenize("5+6\n", 4, 1, prompt, 8, &pl), "ibtpo_tokenize");
    STEP(ibtpo_trainer_generate(t, prompt, pl, GEN_N, &rc.sampling, 99, r->gen_tok, r->gen_len, r->gen_lp),
         "ibtpo_trainer_generate");
    int32_t seqs[SC_ROWS * SC_LEN];
    for (int i = 0; i < SC_ROWS * SC_LEN; i++) seqs[i] = (i % SC_LEN == 0) ? IBTPO_TOKEN_BOS : (i * 31 + 7) % 256;
    STEP(ibtpo_trainer_score(t, seqs, NULL, SC_ROWS, SC_LEN, r->score), "ibtpo_trainer_score");
    ibtpo_eval_config ec;
    ibtpo_eval_config_default(&ec);
    ec.count = 2;
    ec.k = 1;
    ec.sampling = rc.sampling;
    memset(&r->ev, 0, sizeof r->ev);
    r->ev.struct_size = sizeof r->ev;
    STEP(ibtpo_trainer_evaluate(t, r->task, &ec, &r->ev), "ibtpo_trainer_evaluate");
    r->ev.seconds = 0;
    STEP(ibtpo_trainer_get_step(t, &r->final_step), "ibtpo_trainer_get_step");
    STEP(ibtpo_trainer_save(t, r->ckpt), "ibtpo_trainer_save");
done:
    ibtpo_trainer_free(t);
    r->seconds = now_seconds() - t0;
    return NULL;
}

static void compare(const run_t *x, const run_t *solo, const char *label) {
    if (x->status != IBTPO_OK) {
        char what[700];
        snprintf(what, sizeof what, "%s: %s failed: %s (%s)", label, x->failed_call, ibtpo_status_string(x->status), x->error);
        check(0, what, NULL);
        return;
    }
    checkf(memcmp(x->sft_loss, solo->sft_loss, sizeof x->sft_loss) == 0 &&
               memcmp(x->sft_gnorm, solo->sft_gnorm, sizeof x->sft_gnorm) == 0,
           "%s: %d SFT losses and gradient norms bit-identical to the solo run (last loss %.6f)", label, NSFT,
           (double)x->sft_loss[NSFT - 1]);
    checkf(memcmp(x->rl, solo->rl, sizeof x->rl) == 0 && x->reward_calls == solo->reward_calls &&
               x->reward_sum == solo->reward_sum,
           "%s: %d IB-TPO steps: metrics bit-identical except wall times (avg %.4f, loss %.6g, %lld tokens); "
           "%lld reward calls, same rewards", label, NRL, x->rl[NRL - 1].avg_rate, x->rl[NRL - 1].loss,
           (long long)x->rl[NRL - 1].generated_tokens, (long long)x->reward_calls);
    checkf(memcmp(x->gen_tok, solo->gen_tok, sizeof x->gen_tok) == 0 &&
               memcmp(x->gen_len, solo->gen_len, sizeof x->gen_len) == 0 &&
               memcmp(x->gen_lp, solo->gen_lp, sizeof x->gen_lp) == 0,
           "%s: generate(%d x %d tokens): tokens, lengths and log-prob bits identical", label, GEN_N, GEN_MAX);
    checkf(same_float_bits(x->score, solo->score, SC_ROWS * SC_LEN), "%s: score(%d x %d): log-prob bits identical", label,
           SC_ROWS, SC_LEN);
    checkf(memcmp(&x->ev, &solo->ev, sizeof x->ev) == 0, "%s: evaluate: results identical except the wall time "
           "(greedy %.3f, mean length %.2f)", label, x->ev.greedy_accuracy, x->ev.mean_length);
    size_t n = 0;
    int same = files_equal(x->ckpt, solo->ckpt, &n);
    checkf(same && x->final_step == solo->final_step,
           "%s: checkpoint (%lu bytes: parameters, AdamW moments, step %lld, RNG) byte-identical to the solo run's", label,
           (unsigned long)n, (long long)x->final_step);
    checkf(x->wrong_thread == 0, "%s: all %lld reward callbacks ran on the thread that called the library", label,
           (long long)x->reward_calls);
}

int main(int argc, char **argv) {
    char scratch[4096];
    int rounds = argc > 2 ? atoi(argv[2]) : 2;
    if (tu_scratch_dir(scratch, sizeof scratch, argc, argv, "ibtpo-two") != 0) return 2;
    printf("# libibtpo two-trainers test, library version 0x%06lx: same seed, 2 threads each; %d SFT steps, rl_begin + "
           "%d IB-TPO steps, generate, score, evaluate, save; %d concurrent round(s)\n",
           (unsigned long)ibtpo_version(), NSFT, NRL, rounds);
    ibtpo_task *task = NULL;
    if (ibtpo_task_create_builtin("add", "digits=1", 3, &task) != IBTPO_OK) {
        printf("FAIL create the task: %s\n", ibtpo_last_error(NULL));
        return 1;
    }
    static run_t solo, a, b;
    memset(&solo, 0, sizeof solo);
    solo.tag = "solo", solo.task = task;
    snprintf(solo.ckpt, sizeof solo.ckpt, "%s/solo.ckpt", scratch);
    run_trainer(&solo);
    checkf(solo.status == IBTPO_OK, "solo run on the main thread (%.2f s)%s%s", solo.seconds, solo.status ? ": " : "",
           solo.status ? solo.error : "");
    if (solo.status != IBTPO_OK) {
        printf("FAIL %s: %s\n", solo.failed_call, solo.error);
        ibtpo_task_free(task);
        printf("%d passed, %d failed\n", tu_passed, tu_failed + 1);
        return 1;
    }
    for (int round = 1; round <= rounds; round++) {
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, 2);
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        a.tag = "A", b.tag = "B";
        a.task = b.task = task; /* one task object shared by both threads */
        a.barrier = b.barrier = &barrier;
        snprintf(a.ckpt, sizeof a.ckpt, "%s/a.ckpt", scratch);
        snprintf(b.ckpt, sizeof b.ckpt, "%s/b.ckpt", scratch);
        pthread_t ta, tb;
        double t0 = now_seconds();
        int ok = pthread_create(&ta, NULL, run_trainer, &a) == 0;
        ok &= pthread_create(&tb, NULL, run_trainer, &b) == 0;
        if (ok) pthread_join(ta, NULL), pthread_join(tb, NULL);
        double wall = now_seconds() - t0;
        checkf(ok, "round %d: two pthreads drove trainers A and B concurrently (A %.2f s, B %.2f s, wall %.2f s)", round,
               a.seconds, b.seconds, wall);
        char label[32];
        snprintf(label, sizeof label, "round %d, trainer A", round);
        compare(&a, &solo, label);
        snprintf(label, sizeof label, "round %d, trainer B", round);
        compare(&b, &solo, label);
        pthread_barrier_destroy(&barrier);
        unlink(a.ckpt), unlink(b.ckpt);
    }
    ibtpo_task_free(task);
    unlink(solo.ckpt);
    if (argc <= 1) rmdir(scratch);
    printf("%d passed, %d failed\n", tu_passed, tu_failed);
    return tu_failed ? 1 : 0;
}
