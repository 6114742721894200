/*
 * test_embedder.c — what a program that embeds libibtpo typically does (SFT steps, an RL
 * step with a C reward callback, evaluation, two worker threads, free), run by
 * `make valgrind` the way an embedder would run valgrind: default leak kinds
 * (`--error-exitcode=1 --leak-check=full`, so "possibly lost" counts) plus the shipped
 * suppression file tools/ibtpo.supp (installed as <prefix>/share/ibtpo/ibtpo.supp). It
 * must be clean: the file hides the Swift runtime's and BLIS's process-lifetime caches, and
 * nothing else leaks.
 */
#define _POSIX_C_SOURCE 200809L

#include "test_util.h"

static int32_t half_reward(void *user, const char *prompt, int64_t prompt_len, const char *completion,
                           int64_t completion_len, const char *answer, double *out_reward) {
    (void)user, (void)prompt, (void)prompt_len, (void)completion, (void)answer;
    *out_reward = (double)(completion_len % 3) / 2;
    return 0;
}

int main(void) {
    ibtpo_trainer_config c = small_config(3, 2);
    ibtpo_trainer *t = NULL;
    check_status(ibtpo_trainer_create(&c, &t), IBTPO_OK, "embedder: trainer_create (2 threads)", NULL);
    ibtpo_task *add = NULL;
    check_status(ibtpo_task_create_builtin("add", "digits=1", 5, &add), IBTPO_OK, "embedder: task add", NULL);
    if (t && add) {
        ibtpo_step_stats st;
        st.struct_size = sizeof st;
        for (int i = 0; i < 3; i++) check_status(ibtpo_trainer_step_sft(t, add, &st), IBTPO_OK, "embedder: step_sft", t);
        ibtpo_rl_config r;
        ibtpo_rl_config_default(&r);
        r.algo = IBTPO_ALGO_GRPO, r.prompts_per_step = 2, r.group_size = 3, r.probe_every = 0, r.seed = 7;
        r.sampling = small_sampling();
        check_status(ibtpo_trainer_set_reward_fn(t, half_reward, NULL), IBTPO_OK, "embedder: set_reward_fn", t);
        check_status(ibtpo_trainer_rl_begin(t, add, &r, NULL), IBTPO_OK, "embedder: rl_begin", t);
        ibtpo_rl_metrics m;
        m.struct_size = sizeof m;
        check_status(ibtpo_trainer_step_rl(t, &m), IBTPO_OK, "embedder: step_rl", t);
        ibtpo_eval_config ec;
        ibtpo_eval_config_default(&ec);
        ec.count = 2, ec.k = 1, ec.sampling = small_sampling();
        ibtpo_eval_result er;
        er.struct_size = sizeof er;
        check_status(ibtpo_trainer_evaluate(t, add, &ec, &er), IBTPO_OK, "embedder: evaluate", t);
    }
    ibtpo_task_free(add);
    ibtpo_trainer_free(t);
    printf("%d passed, %d failed\n", tu_passed, tu_failed);
    return tu_failed ? 1 : 0;
}
