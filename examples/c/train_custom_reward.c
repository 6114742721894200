/*
 * train_custom_reward.c — libibtpo from C in one page: a small byte-level model learns
 * 2-digit addition ("35+47\n" -> "5+7+0=12\n3+4+1=8\nanswer: 82") with a few supervised
 * steps, then IB-TPO reinforcement learning with a reward function written in C.
 *
 *   cc train_custom_reward.c -o train_custom_reward $(pkg-config --cflags --libs ibtpo) -lm
 *   ./train_custom_reward [sft_steps [rl_steps]]          (defaults: 400 and 10, ~1-2 min)
 */
#include <ibtpo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ibtpo_trainer *trainer;

/* Every call returns a status; on failure, ibtpo_last_error says what was wrong. */
#define CHECK(call)                                                                         \
    do {                                                                                    \
        ibtpo_status s_ = (call);                                                           \
        if (s_ != IBTPO_OK) {                                                               \
            fprintf(stderr, "%s: %s: %s\n", #call, ibtpo_status_string(s_),                  \
                    ibtpo_last_error(trainer));                                             \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)

/* Our reward, used instead of the task's verifier: 1 when the last line is exactly
 * "answer: <answer>", 0.1 for an answer line with a wrong number (a little shaping),
 * else 0. The completion comes with its length: it may contain NUL bytes. */
static int32_t my_reward(void *user_data, const char *prompt, int64_t prompt_len, const char *completion,
                         int64_t completion_len, const char *answer, double *out_reward) {
    (void)prompt, (void)prompt_len;
    ++*(int64_t *)user_data; /* count the calls */
    int64_t end = completion_len, start;
    if (end > 0 && completion[end - 1] == '\n') end--; /* one trailing newline is fine */
    for (start = end; start > 0 && completion[start - 1] != '\n'; start--) {}
    const char *line = completion + start;
    int64_t n = end - start;
    if (n < 8 || memcmp(line, "answer: ", 8) != 0) *out_reward = 0.0;
    else if (n - 8 == (int64_t)strlen(answer) && memcmp(line + 8, answer, (size_t)(n - 8)) == 0) *out_reward = 1.0;
    else *out_reward = 0.1;
    return 0; /* non-zero would abort the step and leave the trainer unchanged */
}

static void evaluate(const ibtpo_task *task, const char *when) {
    ibtpo_eval_config ec;
    ibtpo_eval_config_default(&ec);
    ec.count = 64; /* the first 64 test problems, greedy + 4 samples each */
    ec.k = 4;
    ec.sampling.max_new_tokens = 32;
    ibtpo_eval_result r = {.struct_size = sizeof r};
    CHECK(ibtpo_trainer_evaluate(trainer, task, &ec, &r));
    printf("%-13s greedy %.3f  avg@4 %.3f  pass@4 %.3f  (%lld problems, %.1f s)\n", when, r.greedy_accuracy, r.avg_at_k,
           r.pass_at_k, (long long)r.problems, r.seconds);
}

int main(int argc, char **argv) {
    int sft_steps = argc > 1 ? atoi(argv[1]) : 400, rl_steps = argc > 2 ? atoi(argv[2]) : 10;
    if ((ibtpo_version() >> 16) != IBTPO_VERSION_MAJOR) {
        fprintf(stderr, "libibtpo %#x is not ABI-compatible with this header\n", (unsigned)ibtpo_version());
        return 1;
    }

    ibtpo_trainer_config cfg;
    ibtpo_trainer_config_default(&cfg); /* the "tiny" model: d_model 128, 4 layers */
    cfg.model.max_seq = 64;             /* prompt + completion, in bytes (tokens) */
    cfg.seq = 48;
    cfg.batch = 32;
    cfg.threads = 2;
    cfg.rollout_slots = 96;             /* 8 prompts x 12 trajectories of the default IBTree */
    CHECK(ibtpo_trainer_create(&cfg, &trainer));

    ibtpo_task *task;
    CHECK(ibtpo_task_create_builtin("add", "digits=2", 1, &task));
    int64_t reward_calls = 0;
    CHECK(ibtpo_trainer_set_reward_fn(trainer, my_reward, &reward_calls));

    evaluate(task, "untrained");
    ibtpo_step_stats st = {.struct_size = sizeof st};
    for (int i = 1; i <= sft_steps; i++) {
        CHECK(ibtpo_trainer_step_sft(trainer, task, &st)); /* prompt -> reference solution */
        if (i % 50 == 0 || i == sft_steps) printf("sft %4d  loss %.3f\n", i, st.loss);
    }
    evaluate(task, "after SFT");

    ibtpo_rl_config rl;
    ibtpo_rl_config_default(&rl); /* IB-TPO: IBTree (4, 9, 1, 1), beta 5, lambda 0.1, 8 prompts per step */
    rl.sampling.max_new_tokens = 32;
    CHECK(ibtpo_trainer_rl_begin(trainer, task, &rl, NULL));
    for (int i = 1; i <= rl_steps; i++) {
        ibtpo_rl_metrics m = {.struct_size = sizeof m};
        CHECK(ibtpo_trainer_step_rl(trainer, &m));
        printf("rl %3lld  reward %.3f  eff-rate %.2f  IB-score %+.3f  kl %.4f  %lld trajectories from %lld tokens\n",
               (long long)m.step, m.avg_rate, m.eff_rate, m.ib_score, m.kl, (long long)m.trajectories,
               (long long)m.generated_tokens);
    }
    evaluate(task, "after IB-TPO");
    printf("the reward function was called %lld times\n", (long long)reward_calls);

    ibtpo_task_free(task);
    ibtpo_trainer_free(trainer);
    return 0;
}
