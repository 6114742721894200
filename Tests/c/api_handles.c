/*
 * api_handles.c — test_api section: fake and stale trainer/task handles, used in child
 * processes (this program re-executed with --bad-handle KIND), must be rejected with
 * INVALID_ARGUMENT and a message, never crash.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, unlink, rmdir, fork, clock_gettime; no BLIS header here */

#include "api_common.h"

#include <sys/types.h>
#include <sys/wait.h>

/* ---- stale and fake handles (in a child process: reading freed memory may crash) ---- */

/* Calls every handle function with `h`; returns how many did not return INVALID_ARGUMENT
 * with a message in ibtpo_last_error(NULL). */
static int handle_calls_rejected(ibtpo_trainer *h) {
    int bad = 0;
    int64_t s;
    int32_t th, tk[8] = {IBTPO_TOKEN_BOS, 'a'}, out[32];
    int64_t ln[1];
    float lp[32];
    ibtpo_trainer_config cfg;
    ibtpo_trainer_config_default(&cfg);
    ibtpo_sampling_config sc = small_sampling();
    ibtpo_rl_config rc = small_rl(IBTPO_ALGO_GRPO);
    ibtpo_status r[14];
    r[0] = ibtpo_trainer_get_step(h, &s);
    r[1] = ibtpo_trainer_get_config(h, &cfg);
    r[2] = ibtpo_trainer_set_threads(h, 1);
    r[3] = ibtpo_trainer_get_threads(h, &th);
    r[4] = ibtpo_trainer_step_supervised(h, tk, tk, NULL, 1, 2, NULL);
    r[5] = ibtpo_trainer_score(h, tk, NULL, 1, 2, lp);
    r[6] = ibtpo_trainer_generate(h, tk, 2, 1, &sc, 1, out, ln, lp);
    r[7] = ibtpo_trainer_set_reward_fn(h, NULL, NULL);
    r[8] = ibtpo_trainer_set_log_fn(h, NULL, NULL);
    r[9] = ibtpo_trainer_set_progress_fn(h, NULL, NULL);
    r[10] = ibtpo_trainer_step_rl(h, NULL);
    r[11] = ibtpo_trainer_save(h, "/nonexistent-ibtpo-dir/x.ckpt");
    r[12] = ibtpo_trainer_load(h, "/nonexistent-ibtpo-dir/x.ckpt");
    r[13] = ibtpo_trainer_rl_begin(h, NULL, &rc, NULL);
    for (int i = 0; i < 14; i++) {
        if (r[i] != ERR_ARG || !*ibtpo_last_error(NULL)) {
            printf("#   call %d returned %d (%s), last_error(NULL) \"%s\"\n", i, (int)r[i], ibtpo_status_string(r[i]),
                   ibtpo_last_error(NULL));
            bad++;
        }
    }
    fflush(stdout);
    return bad;
}

/* Calls the task functions with `k`; returns how many were not rejected as above. */
static int task_calls_rejected(ibtpo_task *k) {
    int bad = 0;
    int64_t cnt;
    char p[64];
    ibtpo_status r[3];
    r[0] = ibtpo_task_problem_count(k, IBTPO_SPLIT_TRAIN, &cnt);
    r[1] = ibtpo_task_get_problem(k, IBTPO_SPLIT_TRAIN, 0, p, NULL, NULL, sizeof p);
    ibtpo_trainer_config c = small_config(1, 1);
    ibtpo_trainer *t = NULL;
    ibtpo_trainer_create(&c, &t);
    r[2] = t ? ibtpo_trainer_step_sft(t, k, NULL) : ERR_ARG;
    const char *e2 = t ? ibtpo_last_error(t) : "x";
    for (int i = 0; i < 3; i++) {
        if (r[i] != ERR_ARG || !*(i == 2 ? e2 : ibtpo_last_error(NULL))) {
            printf("#   task call %d returned %d (%s)\n", i, (int)r[i], ibtpo_status_string(r[i]));
            bad++;
        }
    }
    ibtpo_trainer_free(t);
    fflush(stdout);
    return bad;
}

enum { BAD_FAKE_TRAINER, BAD_STALE_TRAINER, BAD_FAKE_TASK, BAD_STALE_TASK };

char *self_path; /* argv[0], to re-execute this program */

/* The body of a child process (test_api --bad-handle KIND): exit status = calls not rejected. */
int bad_handle_child(int kind) {
    alarm(60);
    void *fake = calloc(1, 4096); /* zeroed memory that is not a handle */
    int bad;
    if (kind == BAD_FAKE_TRAINER || kind == BAD_STALE_TRAINER) {
        ibtpo_trainer *h = fake;
        if (kind == BAD_STALE_TRAINER) {
            ibtpo_trainer_config c = small_config(1, 1);
            if (ibtpo_trainer_create(&c, &h) != IBTPO_OK) return 100;
            ibtpo_trainer_free(h); /* h is now stale */
        }
        bad = handle_calls_rejected(h);
    } else {
        ibtpo_task *k = fake;
        if (kind == BAD_STALE_TASK) {
            if (ibtpo_task_create_builtin("add", NULL, 1, &k) != IBTPO_OK) return 100;
            ibtpo_task_free(k); /* k is now stale */
        }
        bad = task_calls_rejected(k);
    }
    free(fake);
    return bad > 99 ? 99 : bad;
}

/* Runs the calls with a bad handle of `kind` in `reps` fresh processes (this program
 * re-executed: each gets its own heap layout and allocator secrets, so what freed memory
 * holds differs between runs; a fork would share the parent's). */
static void run_in_children(const char *what, int kind, int reps, int ncalls) {
    int crashed = 0, wrong = 0, sig = 0;
    for (int rep = 0; rep < reps; rep++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            char k[8];
            snprintf(k, sizeof k, "%d", kind);
            char *args[] = {self_path, "--bad-handle", k, NULL};
            execvp(self_path, args);
            _exit(bad_handle_child(kind)); /* exec failed: run it in the fork */
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) != pid) {
            checkf(0, "%s: fork/waitpid", what);
            return;
        }
        if (WIFSIGNALED(status)) crashed++, sig = WTERMSIG(status);
        else if (WEXITSTATUS(status) != 0) wrong++;
    }
    checkf(crashed == 0 && wrong == 0,
           "%s: %d functions return INVALID_ARGUMENT with a message, in %d processes (%d died of signal %d, "
           "%d returned something else)", what, ncalls, reps, crashed, sig, wrong);
}

void test_bad_handles(void) {
    run_in_children("a pointer to zeroed memory used as a trainer", BAD_FAKE_TRAINER, 1, 14);
    run_in_children("a pointer to zeroed memory used as a task", BAD_FAKE_TASK, 1, 3);
    /* (the children run natively even under valgrind, which does not follow exec by default) */
    run_in_children("a stale trainer (used after ibtpo_trainer_free)", BAD_STALE_TRAINER, 16, 14);
    run_in_children("a stale task (used after ibtpo_task_free)", BAD_STALE_TASK, 16, 3);
}
