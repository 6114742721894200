/*
 * api_common.h — what the sections of test_api share: the fixtures of api_common.c (scratch
 * directory, tiny model, state snapshots, reward/log/progress callbacks, generate helpers, the
 * small RL config) and the section functions that test_api_main.c runs in order.
 * Include it first, after defining _POSIX_C_SOURCE 200809L.
 */
#ifndef IBTPO_API_COMMON_H
#define IBTPO_API_COMMON_H

#include "test_util.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define passed tu_passed
#define failed tu_failed
#define read_file tu_read_file
#define ERR_ARG IBTPO_ERR_INVALID_ARGUMENT

/* ---- scratch directory, tiny model ------------------------------------------------------ */

/* The directory for checkpoints and task files (argv[1], or a fresh mkdtemp directory). */
extern char scratch[4096];
void path_in_scratch(char *out, size_t n, const char *name);
int write_file(const char *path, const unsigned char *data, size_t n);
/* small_config's shape with 16 positions, batch 2 x 8, 1 thread, cosine schedule over 10 steps. */
ibtpo_trainer_config tiny_config(uint64_t seed);
#define NTOK (2 * 8)
/* A deterministic batch of NTOK tokens/targets/weights for tiny_config (2 rows of 8). */
void make_batch(int32_t *tokens, int32_t *targets, float *weights, uint32_t salt);
int64_t get_step(ibtpo_trainer *t);
int same_bits(float a, float b);

/* ---- state snapshots: "a failed call leaves the state unchanged" -------------------------- */

/* Fixed sequences whose scores serve as a fingerprint of the parameters (3 rows < batch 4,
 * 20 tokens <= seq 32 of small_config). */
#define FP_ROWS 3
#define FP_LEN 20
#define FP_N (FP_ROWS * FP_LEN)
ibtpo_status fingerprint(ibtpo_trainer *t, float *out);

/* Step counter, fingerprint and checkpoint bytes: "the state" for unchanged-state checks. */
typedef struct {
    int64_t step;
    float fp[FP_N];
    char ckpt[4200];
} state_snap;

void snap_take(ibtpo_trainer *t, state_snap *s, const char *name);
/* Checks that `t` is still in the state `before` (step, bit-identical scores, and, when
 * full, a byte-identical checkpoint: parameters, AdamW moments, step, RNG). */
void check_unchanged(ibtpo_trainer *t, const state_snap *before, const char *after_what, int full);

/* ---- reward, log and progress callbacks --------------------------------------------------- */

enum { RW_SHAPED, RW_CONST, RW_FAIL_AT, RW_VALUE_AT };

#define MAX_GROUPS 32
typedef struct {
    int mode;
    double value;    /* RW_CONST: every reward; RW_VALUE_AT: the (bad) reward written at call fail_at */
    int64_t fail_at; /* RW_FAIL_AT / RW_VALUE_AT: the 0-based call that misbehaves */
    int64_t calls;
    double sum;
    int bad_args;    /* calls whose arguments broke the documented contract */
    int answer_mismatch;
    /* rewards grouped by prompt, for Eff-Rate */
    int ngroups;
    char gprompt[MAX_GROUPS][64];
    double gmin[MAX_GROUPS], gmax[MAX_GROUPS];
    int expect_empty_answer; /* a task without answers: the callback must get answer "" */
    int nonempty_answer;
    int64_t replacement_chars; /* completions containing U+FFFD (bytes re-encoded as UTF-8) */
    /* optional: the (prompt -> answer) table of an in-memory task */
    const char *const *known_prompts;
    const char *const *known_answers;
    int nknown;
} reward_state;

void reward_reset(reward_state *r, int mode);
/* The reward callback: records what it gets in the reward_state and answers by its mode. */
int32_t test_reward(void *user_data, const char *prompt, int64_t prompt_len, const char *completion,
                    int64_t completion_len, const char *answer, double *out_reward);
/* The fraction of prompt groups whose rewards differ (Eff-Rate from the callback's view). */
double groups_eff_rate(const reward_state *r);

typedef struct {
    int64_t calls;
    int bad;         /* NULL / empty message, trailing newline or unknown level */
    int levels[2];
    char first[160];
} log_state;

void test_log(void *user_data, int32_t level, const char *message);

#define MAX_PHASES 8
typedef struct {
    int64_t calls;
    int bad;                     /* unknown phase, total < 1, done outside [0, total], done decreasing */
    int nphases;
    char phases[MAX_PHASES][16]; /* distinct phases seen, in order */
    char last_phase[16];
    int64_t last_done;
    const char *abort_phase;     /* abort at the first call of this phase ("" = any phase, NULL = never) */
    int aborted;
    int64_t aborted_done;
} progress_state;

void progress_reset(progress_state *p, const char *abort_phase);
int progress_saw(const progress_state *p, const char *phase);
int32_t test_progress(void *user_data, const char *phase, int64_t done, int64_t total);
void phases_string(const progress_state *p, char *out, size_t n);

/* ---- generate ------------------------------------------------------------------------------ */

#define GN 4   /* completions per generate call */
#define GMAX 24 /* max_new_tokens */
#define PLEN 5 /* [BOS] "3+4\n" */

typedef struct {
    int32_t tok[GN * GMAX];
    int64_t len[GN];
    float lp[GN * GMAX];
} gen_out;

/* generate(n rows of GMAX) from a PLEN-token prompt into o (filled with sentinels first). */
ibtpo_status gen(ibtpo_trainer *t, const int32_t *prompt, int64_t n, const ibtpo_sampling_config *s, uint64_t seed,
                 gen_out *o, int with_logps);
/* Checks the documented layout of n completions; returns 1 if all rows are well formed. */
int gen_well_formed(const gen_out *o, int n, int max_new, int stop_at_eos, char *why, size_t whyn);
/* The worst |score(prompt + completion) - generate's log-prob| over the n rows. */
double score_vs_generate(ibtpo_trainer *t, const int32_t *prompt, const gen_out *o, int n, int64_t *compared);

/* ---- RL ------------------------------------------------------------------------------------ */

/* 2 prompts per step, GRPO G 3, IB-TPO tree (2, 2, 1, 1), 24 new tokens, no probe, lr 1e-3. */
ibtpo_rl_config small_rl(int32_t algo);

/* ---- the sections, in the order test_api_main.c runs them ---------------------------------- */

/* api_handles.c; self_path is argv[0], to re-execute this program for the bad-handle children. */
extern char *self_path;
int bad_handle_child(int kind);
void test_bad_handles(void);
/* api_config.c */
void test_version_and_status(void);
void test_defaults(void);
void test_memory_plan(void);
void test_create_misuse(void);
/* api_trainer.c (the first two on a trainer of tiny_config(7)) */
void test_handle_misuse(ibtpo_trainer *t);
void test_step_misuse(ibtpo_trainer *t);
void test_checkpoints(void);
/* api_tokenizer.c, api_tasks.c, api_tree_advantages.c */
void test_tokenizer(void);
void test_tasks(void);
void test_tree_advantages(void);
/* on the small model s (and z, the same without rollout slots) */
void test_callback_setters(ibtpo_trainer *s);               /* api_trainer.c */
void test_threads(ibtpo_trainer *s);                        /* api_trainer.c */
void test_generate(ibtpo_trainer *s, ibtpo_trainer *z);     /* api_generate_score.c */
void test_score(ibtpo_trainer *s);                          /* api_generate_score.c */
void test_sft_and_eval(ibtpo_trainer *s, ibtpo_trainer *z); /* api_sft_eval.c */
void test_rl(ibtpo_trainer *s, ibtpo_trainer *z);           /* api_rl.c */
void test_rl_failures_unchanged(void);                      /* api_rl.c */
void test_busy(ibtpo_trainer *s, ibtpo_trainer *z);         /* api_busy.c */
void test_abort_points(ibtpo_trainer *s);                   /* api_abort.c */
void test_nothing_to_learn(void);                           /* api_noop_limits.c */
void test_memory_task_limits(void);                         /* api_noop_limits.c */
void test_messages(void);                                   /* api_messages.c */

#endif /* IBTPO_API_COMMON_H */
