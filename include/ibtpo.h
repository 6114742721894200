/*
 * ibtpo.h — the stable C API of libibtpo, an IB-TPO / GRPO trainer for small
 * Llama-style policies on the CPU (float32, BLIS).
 *
 * Conventions (the same for every function):
 *  - Every function that can fail returns an ibtpo_status; IBTPO_OK (0) is success.
 *    No function aborts, exits or traps on bad arguments: NULL pointers, negative or huge
 *    sizes, wrong struct_size values and unknown enum values all return a status.
 *  - A failed call leaves the handle's state unchanged (parameters, optimiser state,
 *    step counter and RNG), and sets the handle's last error message.
 *  - Handles are opaque, created by ibtpo_*_create and released by ibtpo_*_free;
 *    ibtpo_*_free(NULL) is a no-op. The library keeps a registry of live handles: a freed,
 *    foreign or wrong-kind handle is rejected with IBTPO_ERR_INVALID_ARGUMENT (and freeing
 *    it again is a no-op) instead of being dereferenced.
 *  - Argument order: handle first, then inputs, then out-parameters.
 *  - Structs that cross the ABI start with `uint32_t struct_size`, which the caller sets
 *    to sizeof(the struct) (the *_default() fillers do this; always start from them, so
 *    that fields a newer header appends get their defaults). Fields are only ever appended.
 *    Input structs must have struct_size >= the size declared here; output structs that
 *    grew accept the older size and are filled up to it (ibtpo_memory_plan: 64 bytes in
 *    0.1, before kv_cache_bytes). ibtpo_model_config and ibtpo_sampling_config are
 *    embedded in other structs, so their layouts are frozen.
 *  - 0.2 added rollout_slots to ibtpo_trainer_config (in what was tail padding, so
 *    sizeof is unchanged; 0.1 programs that filled the struct with the default filler get
 *    the default) and kv_cache_bytes to ibtpo_memory_plan, and 23 functions.
 *  - 0.3 added ibtpo_sgemm_kernel().
 *  - Enum-like values are int32_t constants with explicit values that are never reused.
 *  - Strings returned as `const char *` are owned by the library: static strings live
 *    forever; per-handle strings live until the next call on the same handle.
 *
 * Thread safety: distinct handles may be used concurrently from different threads. One
 * trainer runs one call at a time: a call on a trainer made while another call on it is
 * running returns IBTPO_ERR_BUSY at once and does nothing, whether it comes from another
 * thread or from a callback (reward, log, progress) of the running call on its own
 * trainer (an atomic flag per trainer; the library never waits for it, so callbacks that
 * use other trainers cannot deadlock in the library). The refused call leaves the
 * trainer and ibtpo_last_error(trainer) untouched; its message is in
 * ibtpo_last_error(NULL) of the calling thread. Exceptions: ibtpo_last_error(trainer)
 * is not refused (from another thread it may show a message being written), and
 * ibtpo_trainer_free is not refused (the handle is unregistered at once; a running call
 * finishes and the memory is released when it returns; avoid it). Functions without a
 * handle argument are thread-safe. ibtpo_last_error(NULL) is per calling thread.
 *
 * Versioning: same IBTPO_VERSION_MAJOR means ABI-compatible (libuv's rule). Compare
 * IBTPO_VERSION_MAJOR with ibtpo_version() >> 16 at load time.
 */
#ifndef IBTPO_H
#define IBTPO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IBTPO_VERSION_MAJOR 0
#define IBTPO_VERSION_MINOR 3
#define IBTPO_VERSION_PATCH 0
/** (major << 16) | (minor << 8) | patch, as a compile-time constant. */
#define IBTPO_VERSION_NUMBER ((IBTPO_VERSION_MAJOR << 16) | (IBTPO_VERSION_MINOR << 8) | IBTPO_VERSION_PATCH)

/* ---- Status codes -------------------------------------------------------------- */

typedef int32_t ibtpo_status;
#define IBTPO_OK 0
#define IBTPO_ERR_INVALID_ARGUMENT 1 /* NULL, out-of-range value, bad struct_size, unknown enum */
#define IBTPO_ERR_OUT_OF_MEMORY 2    /* the arena could not be allocated or does not fit */
#define IBTPO_ERR_IO 3               /* a file could not be opened, read or written */
#define IBTPO_ERR_BAD_CHECKPOINT 4   /* not a checkpoint, corrupt, truncated, or wrong version */
#define IBTPO_ERR_CONFIG_MISMATCH 5  /* checkpoint written for another model configuration */
#define IBTPO_ERR_ABORTED 6          /* a callback asked to stop; state unchanged */
#define IBTPO_ERR_CALLBACK_FAILED 7  /* a callback reported an error; state unchanged */
#define IBTPO_ERR_NOT_SUPPORTED 8
#define IBTPO_ERR_BAD_DATA 9         /* a dataset or input sequence is malformed */
#define IBTPO_ERR_INTERNAL 10
#define IBTPO_ERR_BUSY 11            /* another call on the trainer is running (0.4); nothing done */
#define IBTPO_ERR_PARTIAL 12         /* reserved: failed part-way with some effects applied; no 0.4
                                        call returns it (step_rl skips a non-finite update instead) */

/** Library version as (major << 16) | (minor << 8) | patch. Thread-safe. */
uint32_t ibtpo_version(void);

/** Static, NUL-terminated description of a status code ("unknown status" for others). */
const char *ibtpo_status_string(ibtpo_status status);

/* ---- Opaque handle -------------------------------------------------------------- */

/** A trainer: a model, its optimiser state, step counter, RNG and thread pool, all in
 *  one arena allocated at creation; no call allocates tensors, activations or KV caches.
 *  Heap allocations per call (counted with an interposed malloc after warm-up,
 *  Tests/IBTPOTests/AllocationTests.swift and APIAllocationTests.swift):
 *  - ibtpo_trainer_step_supervised, ibtpo_trainer_score: none.
 *  - ibtpo_trainer_step_sft: none, except on the step that starts a new epoch of a finite
 *    train split (one array of train-split-size indices for the new permutation) and
 *    whatever a built-in generator task needs to format a long problem string.
 *  - ibtpo_trainer_generate: a few small arrays per completion (prompt copy, token and
 *    log-prob lists, results): 27 calls at n = 4, 63 at n = 16.
 *  - ibtpo_trainer_evaluate: about 45 small arrays and strings per problem (prompt, greedy
 *    and k sampled completions, decoded text for the verifier): 751 for 16 problems, k 4.
 *  - ibtpo_trainer_step_rl: arrays per trajectory and tree node (rollout trees, training
 *    rows, advantages, metrics): about 1,200 for 2 prompts × 12 IB-TPO trajectories.
 *  These bounds scale with the work of the call, never with the model size. */
typedef struct ibtpo_trainer ibtpo_trainer;

/** The message of the last failed call on `trainer` (valid until the next call on it;
 *  every call on the trainer that is not refused with IBTPO_ERR_BUSY clears it first, so
 *  it is "" after a successful call), or, for trainer == NULL, of the last call on this
 *  thread that failed without a usable trainer: a handle-less call (such as
 *  ibtpo_trainer_create), or a call given a NULL, stale or busy trainer. The NULL message
 *  is not cleared by successful calls: read it only right after a call that returned a
 *  non-zero status. Returns "" when there is none. Never returns NULL. */
const char *ibtpo_last_error(const ibtpo_trainer *trainer);

/* ---- Configuration ---------------------------------------------------------------- */

/** Llama-style decoder shape. */
typedef struct ibtpo_model_config {
    uint32_t struct_size;   /* sizeof(ibtpo_model_config) */
    int32_t vocab;          /* >= 259 for the byte tokenizer (256 bytes + BOS, EOS, PAD) */
    int32_t d_model;
    int32_t n_layers;
    int32_t n_heads;
    int32_t n_kv_heads;     /* divides n_heads (grouped-query attention) */
    int32_t d_ff;           /* SwiGLU hidden size */
    int32_t max_seq;        /* longest sequence (prompt + completion) in tokens */
    float rope_theta;
    float norm_eps;
    int32_t tie_embeddings; /* 1: the LM head reuses the token embedding; 0: separate */
} ibtpo_model_config;

/** Fills `cfg` with the default ("tiny") model: vocab 259, d_model 128, 4 layers,
 *  4 heads, 4 KV heads, d_ff 384, max_seq 128, rope_theta 10000, eps 1e-5, tied. */
ibtpo_status ibtpo_model_config_default(ibtpo_model_config *cfg);

/** Everything a trainer needs: model, training batch shape, threads, seed, optimiser. */
typedef struct ibtpo_trainer_config {
    uint32_t struct_size;         /* sizeof(ibtpo_trainer_config) */
    ibtpo_model_config model;     /* model.struct_size must be set too */
    int32_t batch;                /* sequences per training step */
    int32_t seq;                  /* tokens per training sequence, <= model.max_seq */
    int32_t threads;              /* worker threads, 1..64; the thread count is explicit */
    uint64_t seed;                /* parameter init and all sampling randomness */
    float lr;                     /* peak learning rate */
    float min_lr;                 /* final learning rate of the cosine schedule */
    int32_t warmup_steps;         /* linear warmup steps */
    int32_t total_steps;          /* cosine decay length (0 = constant after warmup) */
    float beta1, beta2, adam_eps; /* AdamW */
    float weight_decay;           /* decoupled; applied to matrices only */
    float grad_clip;              /* global-norm clip, 0 = off */
    int32_t rollout_slots;        /* concurrent sequences of the KV-cached sampler, 0..65536
                                     (0 = no sampling: generate, evaluate and RL fail) */
} ibtpo_trainer_config;

/** Fills `cfg` with defaults: the tiny model, batch 32, seq 64, 2 threads, seed 1,
 *  lr 3e-3 → 3e-4 cosine over 1000 steps after 20 warmup steps, AdamW (0.9, 0.95, 1e-8),
 *  weight decay 0.01, clip 1.0, 64 rollout slots. */
ibtpo_status ibtpo_trainer_config_default(ibtpo_trainer_config *cfg);

/* ---- Memory plan ------------------------------------------------------------------ */

/** Bytes the trainer's single arena needs, by group. Computed without allocating. */
typedef struct ibtpo_memory_plan {
    uint32_t struct_size;        /* sizeof(ibtpo_memory_plan) */
    uint64_t total_bytes;        /* the one allocation ibtpo_trainer_create makes for tensors */
    uint64_t parameter_bytes;
    uint64_t gradient_bytes;
    uint64_t optimizer_bytes;    /* AdamW first and second moments */
    uint64_t activation_bytes;   /* saved forward activations, logits, RoPE tables */
    uint64_t scratch_bytes;      /* backward scratch, inputs, reduction partials */
    uint64_t parameter_count;    /* trainable scalars */
    uint64_t kv_cache_bytes;     /* the sampler's KV cache and decode buffers (part of scratch_bytes) */
} ibtpo_memory_plan;

/** Computes the memory plan of `cfg` into `out` (out->struct_size must be set). */
ibtpo_status ibtpo_memory_plan_for(const ibtpo_trainer_config *cfg, ibtpo_memory_plan *out);

/* ---- Trainer lifetime ----------------------------------------------------------- */

/** Validates `cfg`, allocates the arena and initialises parameters from cfg->seed.
 *  On success *out owns a new trainer (free it with ibtpo_trainer_free). On failure *out
 *  is set to NULL and ibtpo_last_error(NULL) describes the problem. */
ibtpo_status ibtpo_trainer_create(const ibtpo_trainer_config *cfg, ibtpo_trainer **out);

/** Releases the trainer and all its memory and threads. NULL is a no-op. Do not call it
 *  while a call on the trainer is running (see "Thread safety" above). */
void ibtpo_trainer_free(ibtpo_trainer *trainer);

/** Copies the configuration the trainer was created with into `out`
 *  (out->struct_size and out->model.struct_size must be set), except `threads`, which is
 *  the current thread count (ibtpo_trainer_set_threads changes it; it does not change
 *  results, so the config still re-creates an identical trainer). */
ibtpo_status ibtpo_trainer_get_config(ibtpo_trainer *trainer, ibtpo_trainer_config *out);

/* ---- Training ---------------------------------------------------------------------- */

/** Statistics of one optimisation step. A step whose loss or gradient norm is not finite
 *  is skipped and still returns IBTPO_OK: parameters, AdamW moments and the step counter
 *  are unchanged, `step` is then the unchanged count and loss / grad_norm show the
 *  non-finite values (test them with isfinite to detect the skip). */
typedef struct ibtpo_step_stats {
    uint32_t struct_size;   /* sizeof(ibtpo_step_stats) */
    int64_t step;           /* optimiser steps taken after this one */
    float loss;             /* weighted mean token loss before the update */
    float grad_norm;        /* global gradient norm before clipping */
    float lr;               /* learning rate used */
    int64_t tokens;         /* tokens with a target */
    double seconds;         /* wall time of the step */
} ibtpo_step_stats;

/** One supervised (cross-entropy) step on a caller-provided batch.
 *  tokens, targets: n_seqs × seq_len int32, row-major; tokens in [0, vocab), targets in
 *  [0, vocab) or -1 (ignored). weights: n_seqs × seq_len per-token loss weights >= 0, or
 *  NULL for 1 on every target. n_seqs must equal the config's batch and seq_len its seq.
 *  The loss is Σ w·(−log p(target)) / Σ w. `out` may be NULL. The arrays are only read
 *  during the call. A batch with nothing to learn (Σ w = 0: every target -1, or every
 *  weight of a target 0) is a no-op that returns IBTPO_OK with out->tokens = 0, loss 0,
 *  grad_norm 0 and out->step unchanged: no optimiser update, no weight decay, the step
 *  counter and schedule do not advance (a warning goes to the log callback). */
ibtpo_status ibtpo_trainer_step_supervised(ibtpo_trainer *trainer, const int32_t *tokens, const int32_t *targets,
                                           const float *weights, int64_t n_seqs, int64_t seq_len,
                                           ibtpo_step_stats *out);

/** Optimiser steps taken so far (restored by ibtpo_trainer_load). */
ibtpo_status ibtpo_trainer_get_step(ibtpo_trainer *trainer, int64_t *out_step);

/** Changes the number of worker threads (1..64) used by every later call on `trainer`.
 *  Results do not depend on the thread count: training, sampling and scoring are
 *  bit-identical for any count (only speed changes). */
ibtpo_status ibtpo_trainer_set_threads(ibtpo_trainer *trainer, int32_t threads);

/** The current number of worker threads. */
ibtpo_status ibtpo_trainer_get_threads(ibtpo_trainer *trainer, int32_t *out_threads);

/* ---- Tokenizer ---------------------------------------------------------------------- */

/* libibtpo's models read bytes: token t < 256 is the byte t; three special tokens follow. */
#define IBTPO_TOKEN_BOS 256
#define IBTPO_TOKEN_EOS 257
#define IBTPO_TOKEN_PAD 258

/** Encodes `len` bytes of `text` (any bytes; NUL is a byte like the others) as tokens,
 *  preceded by IBTPO_TOKEN_BOS when add_bos is 1 (0 or 1 only). Writes at most `capacity`
 *  tokens to `out` and always sets *out_len to the number of tokens needed; if that exceeds
 *  `capacity`, returns IBTPO_ERR_INVALID_ARGUMENT and writes nothing (call again with a
 *  larger buffer). `out` may be NULL when capacity is 0. Thread-safe. */
ibtpo_status ibtpo_tokenize(const char *text, int64_t len, int32_t add_bos, int32_t *out, int64_t capacity,
                            int64_t *out_len);

/** Decodes `n` tokens to bytes: bytes are copied, BOS and PAD are dropped, and decoding
 *  stops at the first EOS. Writes the bytes and a terminating NUL into `out` (capacity
 *  bytes, NUL included) and always sets *out_len to the byte count without the NUL; if the
 *  text and its NUL need more than `capacity` bytes, returns IBTPO_ERR_INVALID_ARGUMENT and
 *  writes nothing (call again with *out_len + 1 bytes). Any token outside [0, 259), even
 *  after the EOS, is IBTPO_ERR_INVALID_ARGUMENT. Thread-safe. */
ibtpo_status ibtpo_detokenize(const int32_t *tokens, int64_t n, char *out, int64_t capacity, int64_t *out_len);

/* ---- Tasks -------------------------------------------------------------------------- */

/** A set of problems (prompt, reference solution, answer) split into train and test, with
 *  a verifier. Immutable after creation, so one task may be shared by several trainers and
 *  threads. A trainer that uses a task keeps its own reference: ibtpo_task_free may be
 *  called at any time after the task was passed to a trainer. */
typedef struct ibtpo_task ibtpo_task;

#define IBTPO_SPLIT_TRAIN 0
#define IBTPO_SPLIT_TEST 1

/** A built-in task by name ("add", "countdown", "modchain") with options given as
 *  "name=value" pairs separated by commas or spaces (e.g. "numbers=4,max_number=10"; NULL or
 *  "" for the defaults) and the problem generator's seed. docs/tasks.md lists the options.
 *  On failure *out is NULL and ibtpo_last_error(NULL) names the bad option. */
ibtpo_status ibtpo_task_create_builtin(const char *name, const char *options, uint64_t seed, ibtpo_task **out);

/** A JSON Lines file (docs/tasks.md "User datasets"): one {"prompt", "answer", optional
 *  "solution" and "split"} object per line. Every problem's prompt + solution must fit in
 *  `max_tokens` tokens (1..65536; pass the model's max_seq). All or nothing: an error names
 *  the file and line, and no task is created. The file must be a regular file of at most
 *  1 GiB (FIFOs, devices and directories are refused before anything is read, with
 *  IBTPO_ERR_IO); prompts, answers and solutions may not contain "\u0000"; object keys are
 *  compared by their exact Unicode scalars ("\u00e9" and "e\u0301" are different keys). */
ibtpo_status ibtpo_task_create_jsonl(const char *path, int32_t max_tokens, ibtpo_task **out);

/** A task from `count` (1..2^24) prompts passed in memory, NUL-terminated UTF-8 strings.
 *  answers: `count` strings checked by the built-in verifier (the completion's last line
 *  must be "answer: <answer>"), or NULL when a reward callback will judge completions
 *  (RL and evaluation then fail with IBTPO_ERR_INVALID_ARGUMENT until one is set).
 *  solutions: `count` reference completions for SFT, or NULL (SFT then uses the answer line;
 *  with neither answers nor solutions, ibtpo_trainer_step_sft fails).
 *  splits: `count` IBTPO_SPLIT_* values, or NULL to split by a stable hash of the prompt
 *  (about 10% test). Both splits must be non-empty. The strings are copied; answers are
 *  stored whitespace-normalised, as in JSONL files (trimmed, each run of whitespace one
 *  space; docs/tasks.md), and ibtpo_task_get_problem returns them so. A problem whose SFT
 *  row (prompt + solution, or prompt + "answer: <answer>", plus 2 special tokens) needs more
 *  than 65536 positions (the largest max_seq) is refused with IBTPO_ERR_BAD_DATA naming
 *  prompts[i]. Shorter problems that still exceed a trainer's seq make
 *  ibtpo_trainer_step_sft fail with IBTPO_ERR_BAD_DATA (naming the train problem) whenever
 *  the batch reaches them; to filter by a trainer's length, use ibtpo_task_create_jsonl
 *  with max_tokens = its max_seq. */
ibtpo_status ibtpo_task_create_memory(const char *const *prompts, const char *const *answers,
                                      const char *const *solutions, const int32_t *splits, int64_t count,
                                      ibtpo_task **out);

/** ibtpo_task_create_jsonl and ibtpo_task_create_memory with a step delimiter other than
 *  "\n" (appended in 0.3; the plain functions are these with step_delimiter NULL).
 *  step_delimiter: 1..64 bytes of UTF-8, or NULL for "\n". It is what separates a
 *  completion's steps: the verifier reads the answer from the completion's last step
 *  ("answer: <answer>" after the last delimiter; one trailing delimiter is allowed), an
 *  answer may not contain it (IBTPO_ERR_BAD_DATA naming the line, or prompts[i] as line
 *  i + 1 of "<memory>"), a solution must end in a step the verifier accepts, and IB-TPO's
 *  tree sampler branches where a completion's tokens spell it. Built-in tasks always use
 *  "\n". Other errors as the plain functions. */
ibtpo_status ibtpo_task_create_jsonl_ex(const char *path, int32_t max_tokens, const char *step_delimiter,
                                        ibtpo_task **out);
ibtpo_status ibtpo_task_create_memory_ex(const char *const *prompts, const char *const *answers,
                                         const char *const *solutions, const int32_t *splits, int64_t count,
                                         const char *step_delimiter, ibtpo_task **out);

/** Releases the caller's reference. NULL is a no-op. */
void ibtpo_task_free(ibtpo_task *task);

/** Problems in `split` (IBTPO_SPLIT_*), or -1 for an unbounded generator (built-in tasks). */
ibtpo_status ibtpo_task_problem_count(const ibtpo_task *task, int32_t split, int64_t *out_count);

/** Copies problem `index` (0 <= index < the split's count; any index >= 0 for an unbounded
 *  generator) of `split` into caller buffers: each of prompt, solution and answer (any of
 *  them may be NULL to skip it) gets at most `capacity` bytes including a NUL. Fails with
 *  IBTPO_ERR_INVALID_ARGUMENT, writing nothing, if the index is out of range or a string does
 *  not fit (the message says which, and how many bytes it needs). For an in-memory task
 *  created without answers the answer is "" (and the solution "" if it had no solutions;
 *  with answers but no solutions the solution is the line "answer: <answer>"). */
ibtpo_status ibtpo_task_get_problem(const ibtpo_task *task, int32_t split, int64_t index, char *prompt,
                                    char *solution, char *answer, int64_t capacity);

/* ---- Callbacks (stored per trainer) --------------------------------------------------- */

/** Judges one completion. prompt, completion and answer are NUL-terminated and also come
 *  with their byte lengths; the completion is the raw sampled bytes with special tokens
 *  removed (it may contain NUL bytes or invalid UTF-8); answer is "" for tasks without
 *  answers. They are valid only during the call. Write a reward in [0, 1] to
 *  *out_reward and return 0. A non-zero return aborts the running step or evaluation with
 *  IBTPO_ERR_CALLBACK_FAILED and leaves the trainer unchanged; so does a reward that is
 *  not a finite number in [0, 1]. Called on the thread that called the library. It may use
 *  other trainers; a call on its own trainer returns IBTPO_ERR_BUSY. */
typedef int32_t (*ibtpo_reward_fn)(void *user_data, const char *prompt, int64_t prompt_len, const char *completion,
                                   int64_t completion_len, const char *answer, double *out_reward);

/** Receives log lines (NUL-terminated, no trailing newline, valid during the call). */
typedef void (*ibtpo_log_fn)(void *user_data, int32_t level, const char *message);
#define IBTPO_LOG_INFO 0
#define IBTPO_LOG_WARN 1

/** Reports progress of long calls: `phase` ("rollout", "update", "evaluate", "generate",
 *  "score"; static strings), `done` of `total` units. Return 0 to continue; a non-zero
 *  return stops the call with IBTPO_ERR_ABORTED and leaves the trainer unchanged, at these
 *  reports only: every "rollout" report, and the "evaluate", "generate" and "score" reports
 *  with done < total. The return value is ignored (the call goes on and can succeed) at:
 *   - every "update" report: it comes after an optimiser update was applied, and an RL step
 *     that has started updating always completes all its epochs x minibatches;
 *   - the final report of evaluate, generate and score (done == total): the work is
 *     finished, and the call returns IBTPO_OK with its results.
 *  It may call other trainers; a call on its own trainer returns IBTPO_ERR_BUSY. */
typedef int32_t (*ibtpo_progress_fn)(void *user_data, const char *phase, int64_t done, int64_t total);

/** Sets (or, with fn = NULL, removes) the reward callback used by RL steps and evaluation
 *  instead of the task's verifier. user_data is passed back untouched; the caller keeps
 *  it alive while the callback is set. */
ibtpo_status ibtpo_trainer_set_reward_fn(ibtpo_trainer *trainer, ibtpo_reward_fn fn, void *user_data);

/** Sets or removes (NULL) the log callback. Without one, the library prints nothing. */
ibtpo_status ibtpo_trainer_set_log_fn(ibtpo_trainer *trainer, ibtpo_log_fn fn, void *user_data);

/** Sets or removes (NULL) the progress/abort callback. */
ibtpo_status ibtpo_trainer_set_progress_fn(ibtpo_trainer *trainer, ibtpo_progress_fn fn, void *user_data);

/* ---- Sampling, generation and scoring ----------------------------------------------- */

/** How tokens are drawn. temperature 0 = greedy. */
typedef struct ibtpo_sampling_config {
    uint32_t struct_size;    /* sizeof(ibtpo_sampling_config) */
    float temperature;       /* >= 0 */
    int32_t top_k;           /* 0 = off, else 1..vocab */
    float top_p;             /* (0, 1]; 1 = off */
    int32_t max_new_tokens;  /* >= 1; a completion also ends when prompt + completion reach model.max_seq */
    int32_t stop_at_eos;     /* 1: a sequence ends after sampling EOS (included in the output); 0: never */
} ibtpo_sampling_config;

/** Fills `cfg` with the paper's sampling: temperature 0.7, top-k 20, top-p 0.95, 64 new
 *  tokens, stop at EOS. */
ibtpo_status ibtpo_sampling_config_default(ibtpo_sampling_config *cfg);

/** Samples `n` (1..rollout_slots) completions of one prompt with the KV-cached sampler.
 *  prompt: prompt_len (>= 1) tokens in [0, vocab), usually [BOS] + bytes.
 *  out_tokens: n × cfg->max_new_tokens int32, row i holds completion i, padded with
 *  IBTPO_TOKEN_PAD after its end; out_lengths: n int64 (EOS counted); out_logps: NULL or
 *  n × max_new_tokens floats, the log-prob of each sampled token under the policy at
 *  temperature 1 (0 after the end). Completion i depends only on (seed, i), not on n.
 *  Parameters, optimiser state and the trainer's RNG are not touched. */
ibtpo_status ibtpo_trainer_generate(ibtpo_trainer *trainer, const int32_t *prompt, int64_t prompt_len, int64_t n,
                                    const ibtpo_sampling_config *cfg, uint64_t seed, int32_t *out_tokens,
                                    int64_t *out_lengths, float *out_logps);

/** Per-token log-probabilities of given sequences under the current policy.
 *  tokens: n_seqs × seq_len int32 in [0, vocab), row-major, seq_len in 1..model.max_seq.
 *  lengths: NULL (every row is seq_len long) or n_seqs values in 1..seq_len.
 *  out_logps: n_seqs × seq_len floats; out_logps[i][t] = log p(tokens[i][t+1] | tokens[i][0..t])
 *  for t + 1 < length, and 0 elsewhere. n_seqs >= 1, processed in as many rows per pass
 *  as the trainer's arena holds (batch × seq tokens, batch × seq² attention scores); a
 *  seq_len whose single row does not fit is IBTPO_ERR_INVALID_ARGUMENT. Results do not
 *  depend on n_seqs or on the other rows. Parameters and optimiser state are not modified. */
ibtpo_status ibtpo_trainer_score(ibtpo_trainer *trainer, const int32_t *tokens, const int64_t *lengths,
                                 int64_t n_seqs, int64_t seq_len, float *out_logps);

/* ---- Supervised training and evaluation on a task ------------------------------------ */

/** One supervised step on `batch` problems of `task`'s train split (prompt, then the
 *  reference solution and EOS; loss on the completion only), drawn in a seeded shuffled
 *  order that the trainer remembers between calls. A problem longer than the config's seq
 *  is IBTPO_ERR_BAD_DATA (the order stays where it was, so the next call fails at the same
 *  problem). A batch with nothing to learn is a no-op, as for ibtpo_trainer_step_supervised
 *  (out->tokens = 0, step unchanged). `out` may be NULL. */
ibtpo_status ibtpo_trainer_step_sft(ibtpo_trainer *trainer, const ibtpo_task *task, ibtpo_step_stats *out);

typedef struct ibtpo_eval_config {
    uint32_t struct_size;             /* sizeof(ibtpo_eval_config) */
    int32_t count;                    /* first `count` problems of the test split, >= 1 (fewer if the
                                         split is smaller: see ibtpo_eval_result.problems) */
    int32_t k;                        /* samples per problem for avg@k / pass@k, 0..1024 (0 = greedy only) */
    ibtpo_sampling_config sampling;   /* for the k samples; greedy uses temperature 0 */
    uint64_t seed;                    /* evaluation seed (the trainer's RNG is not used) */
} ibtpo_eval_config;

/** count 256, k 8, the default sampling, seed 12345. */
ibtpo_status ibtpo_eval_config_default(ibtpo_eval_config *cfg);

typedef struct ibtpo_eval_result {
    uint32_t struct_size;     /* sizeof(ibtpo_eval_result) */
    int64_t problems;
    double greedy_accuracy;   /* mean reward of the greedy completions */
    double avg_at_k;          /* mean reward over the k samples (0 when k = 0) */
    double pass_at_k;         /* fraction of problems with a sample of reward 1 */
    double mean_length;       /* completion tokens, EOS excluded */
    double truncated_fraction;/* completions cut at max_new_tokens */
    double seconds;
} ibtpo_eval_result;

/** Evaluates the policy on `task`'s test split with the task's verifier, or with the
 *  trainer's reward callback when one is set. Changes nothing in the trainer. */
ibtpo_status ibtpo_trainer_evaluate(ibtpo_trainer *trainer, const ibtpo_task *task, const ibtpo_eval_config *cfg,
                                    ibtpo_eval_result *out);

/* ---- Reinforcement learning: GRPO and IB-TPO ------------------------------------------ */

#define IBTPO_ALGO_GRPO 0
#define IBTPO_ALGO_IBTPO 1

#define IBTPO_BRANCH_IB 0       /* IB-Score (the paper's IBTree) */
#define IBTPO_BRANCH_RANDOM 1
#define IBTPO_BRANCH_ENTROPY 2  /* TreeRL: lowest-probability sampled tokens */
#define IBTPO_BRANCH_FIXED 3    /* TreePO: every node up to fixed_max_depth */

#define IBTPO_LOSS_TOKEN_MEAN 0     /* DAPO / default */
#define IBTPO_LOSS_SEQUENCE_MEAN 1  /* original GRPO */
#define IBTPO_LOSS_CONSTANT 2       /* Dr. GRPO: / (max_new_tokens × sequences) */

#define IBTPO_PIBAR_LENGTH_NORMALIZED 0  /* exp(mean token log-prob) */
#define IBTPO_PIBAR_PRODUCT 1            /* exp(sum of token log-probs) */

/** An RL run's settings (docs/algorithm.md explains every choice). */
typedef struct ibtpo_rl_config {
    uint32_t struct_size;         /* sizeof(ibtpo_rl_config) */
    int32_t algo;                 /* IBTPO_ALGO_* */
    int32_t prompts_per_step;     /* train problems per step, >= 1 */
    int32_t group_size;           /* GRPO: G samples per prompt */
    int32_t tree_b0, tree_l, tree_k, tree_b; /* IB-TPO tree (B0, L, K, B); G = B0 + (L-1)·K·B */
    int32_t branch_rule;          /* IBTPO_BRANCH_* */
    int32_t fixed_max_depth;      /* for IBTPO_BRANCH_FIXED */
    double beta;                  /* IB trade-off β > 0 */
    double lambda;                /* weight of A_IB, >= 0 */
    double clip_low, clip_high;   /* PPO ε_low in [0, 1), ε_high >= 0 (0.28 = clip-higher) */
    double kl_coef;               /* β_KL to the policy at ibtpo_trainer_rl_begin, >= 0 */
    double entropy_coef;          /* entropy bonus, >= 0 */
    int32_t loss_aggregation;     /* IBTPO_LOSS_* */
    int32_t epochs;               /* optimisation epochs per rollout batch, 1..1000 */
    int32_t minibatches;          /* optimiser steps per epoch, >= 1 */
    int32_t pibar_form;           /* IBTPO_PIBAR_* */
    double ratio_when_parent_zero;/* r(c) when p̂(parent) = 0 */
    int32_t sqrt_n_weighting;     /* 1: scale A(s) by 1/sqrt(n(s)) */
    int32_t probe_every;          /* GRPO: measure IB-Score on a probe tree every N steps (0 = never) */
    ibtpo_sampling_config sampling; /* rollout sampling (stop_at_eos must be 1) */
    float lr;                     /* learning rate of RL updates (constant) */
    int32_t reset_optimizer;      /* 1: clear AdamW moments and the step counter at rl_begin */
    uint64_t seed;                /* rollout seed */
    int32_t expand_root;          /* 1: the root is expandable in rounds 2..L (a fresh independent
                                     sample; docs/algorithm.md §4 [choice]); 0: only internal nodes,
                                     so completions of one step cannot branch: a step that samples
                                     fewer than prompts × G trajectories logs a warning, and
                                     ibtpo_rl_metrics.trajectories counts those sampled */
} ibtpo_rl_config;

/** IB-TPO with IBTree (4, 9, 1, 1), β 5, λ 0.1, 8 prompts per step, G 8 for GRPO,
 *  ε 0.2/0.2, β_KL 0.001, token-mean loss, 1 epoch × 1 minibatch, the default sampling,
 *  lr 1e-4, reset_optimizer 1, probe_every 1, seed 1, expand_root 1. */
ibtpo_status ibtpo_rl_config_default(ibtpo_rl_config *cfg);

/** Every metric of one RL step (docs/algorithm.md §7). */
typedef struct ibtpo_rl_metrics {
    uint32_t struct_size;         /* sizeof(ibtpo_rl_metrics) */
    int64_t step;                 /* RL steps completed */
    int64_t optimizer_steps;      /* optimiser updates in this step */
    double avg_rate;              /* mean reward of the trajectories */
    double eff_rate;              /* prompts whose rewards are not all equal */
    double entropy;               /* mean token entropy of the policy */
    double kl;                    /* k3 KL to the reference policy */
    double clip_frac_low, clip_frac_high;
    double grad_norm;
    double loss;
    double ib_score;              /* mean IB-Score (NaN when not measured this step) */
    double ib_cov;                /* mean Cov(η1, η2) (NaN when not measured) */
    int64_t prompts, trajectories, generated_tokens, trained_tokens;
    double trajectories_per_1k_tokens;
    int64_t tree_nodes, branch_points;
    double mean_branch_depth;
    double sampling_seconds, update_seconds;
    double lr;
} ibtpo_rl_metrics;

/** Starts (or restarts) RL on `task`: validates `cfg`, copies the current parameters as
 *  the frozen reference policy of the KL term (one parameter-sized buffer, reported by
 *  *out_bytes when out_bytes is not NULL) and starts at the first train problem.
 *  Fails without changing anything if cfg is invalid, if prompts_per_step × G exceeds the
 *  rollout slots (GRPO with probe_every > 0 also needs 2 × 12 slots for its IB probe tree), if sampling.max_new_tokens + 1 >= the trainer's seq (training rows hold
 *  prompt + completion), or if the task has no answers and no reward callback is set.
 *  With reset_optimizer = 1, success clears the AdamW moments and the step counter. */
ibtpo_status ibtpo_trainer_rl_begin(ibtpo_trainer *trainer, const ibtpo_task *task, const ibtpo_rl_config *cfg,
                                    uint64_t *out_bytes);

/** One RL step: rollouts (independent for GRPO, IBTrees for IB-TPO) → rewards →
 *  advantages → PPO-clip update(s). Before sampling it checks that every prompt of the
 *  step fits: prompt tokens + max_new_tokens − 1 <= the trainer's seq, else
 *  IBTPO_ERR_BAD_DATA naming the problem. A reward callback failure or an abort from the
 *  progress callback leaves the trainer unchanged. An update whose loss or gradient norm
 *  is not finite is skipped (no parameter, moment or step-counter change) and the step
 *  goes on with its other updates and returns IBTPO_OK (the RL step and prompt cursor
 *  advance); out->optimizer_steps counts only the applied updates, so fewer than
 *  epochs × min(minibatches, trajectories) means some were skipped. Requires
 *  ibtpo_trainer_rl_begin. `out` may be NULL. */
ibtpo_status ibtpo_trainer_step_rl(ibtpo_trainer *trainer, ibtpo_rl_metrics *out);

/** IB-TPO credit assignment for a tree sampled by another engine (docs/algorithm.md §3, §5).
 *  n_nodes (2..2^24) nodes; node 0 is the root (the prompt): parent[0] = -1 and
 *  token_count[0] = 0. For i >= 1: 0 <= parent[i] < i, token_count[i] >= 1, and
 *  mean_logp[i] (finite, <= 0) is the mean sampling log-prob of node i's segment.
 *  reward[i] (finite, in [0, 1]) is read for leaves (nodes without children) only; every
 *  leaf is a finished trajectory. NULL inputs, a cycle-free violation or a bad value give
 *  IBTPO_ERR_INVALID_ARGUMENT naming the node.
 *  Uses cfg's beta, lambda, pibar_form, ratio_when_parent_zero and sqrt_n_weighting (the
 *  rest of cfg is ignored, but struct_size must be right).
 *  Outputs, n_nodes doubles each, NULL to skip: out_ib_score[i] = IB-Score of node i as a
 *  branching point (NaN for leaves); out_advantage[i] = A_GL(i) + λ·A_IB(i), the advantage
 *  of every token of node i's segment (0 for the root). The outputs are written only on
 *  success: settings for which an output would not be finite (e.g. beta so small that 1/beta
 *  overflows, or a huge lambda or ratio_when_parent_zero) give IBTPO_ERR_INVALID_ARGUMENT
 *  and leave both arrays untouched.
 *  Memory: 24 bytes of scratch per node (at most 384 MiB at 2^24 nodes), one malloc freed
 *  before returning; IBTPO_ERR_OUT_OF_MEMORY if it cannot be allocated.
 *  Thread-safe; no trainer needed. */
ibtpo_status ibtpo_tree_advantages(const ibtpo_rl_config *cfg, int64_t n_nodes, const int32_t *parent,
                                   const int32_t *token_count, const float *mean_logp, const float *reward,
                                   double *out_ib_score, double *out_advantage);

/* ---- Checkpoints ------------------------------------------------------------------- */

/** Writes parameters, AdamW state, step and RNG state to `path` atomically (temporary
 *  file, fsync, rename). The format is documented in docs/checkpoint-format.md. A state
 *  with a non-finite weight or moment or a negative second moment is never written:
 *  IBTPO_ERR_BAD_DATA, naming the first bad tensor and element, and `path` is untouched. */
ibtpo_status ibtpo_trainer_save(ibtpo_trainer *trainer, const char *path);

/** Loads a checkpoint written for the same model config. Validates the whole file before
 *  changing anything: magic, version, config (tie_embeddings 0 or 1, reserved field 0),
 *  step <= 2^53, a non-zero RNG state, then the file size the header's model implies and
 *  the config against the trainer's (IBTPO_ERR_CONFIG_MISMATCH) before the rest is read,
 *  then the checksum, tensor names and shapes, and every value (parameters and moments
 *  finite, second moments >= 0). `path` must be a regular file (IBTPO_ERR_IO otherwise).
 *  The file is read into one buffer of its size (IBTPO_ERR_OUT_OF_MEMORY if that fails).
 *  Every error message names the path. */
ibtpo_status ibtpo_trainer_load(ibtpo_trainer *trainer, const char *path);

/* ---- Pretrained models -------------------------------------------------------------- */

/** Creates a trainer whose model is a pretrained one: `path` names a GGUF file (architectures
 *  llama and qwen2, any tensor type of docs/model-formats.md, dequantised to float32), a
 *  Hugging Face directory (config.json, safetensors F32/F16/BF16, tokenizer.json) or a
 *  checkpoint of a pretrained model (which names the file it started from and restores its
 *  weights, moments, step and RNG). The model config (sizes, head_dim, biases, RoPE) comes
 *  from the file: cfg->model is ignored except cfg->model.max_seq, which caps the context
 *  (the RoPE tables and the KV cache are sized by it; cfg->seq must fit in it). The rest of
 *  cfg (batch, seq, optimiser, rollout slots) applies as for ibtpo_trainer_create.
 *  chat = 1 renders task prompts through the model's chat template (ChatML or Llama 3;
 *  IBTPO_ERR_NOT_SUPPORTED naming any other), with `system` as the system message (NULL:
 *  the template's default); chat = 0 uses raw prompt text. BOS is added when the model's
 *  tokenizer asks for it. Errors name the file, tensor or field; *out is NULL on failure. */
ibtpo_status ibtpo_trainer_create_from_model(const char *path, const ibtpo_trainer_config *cfg, int32_t chat,
                                             const char *system, ibtpo_trainer **out);

/** Encodes `len` bytes of UTF-8 `text` with the trainer's own tokenizer, as Hugging Face's
 *  tokenizer(text, add_special_tokens=False).input_ids does: special tokens written in the
 *  text are recognised, no BOS is added. (For a model libibtpo initialised this is the byte
 *  tokenizer.) Buffer contract as ibtpo_tokenize: *out_len is always the count needed;
 *  IBTPO_ERR_INVALID_ARGUMENT and nothing written if it exceeds capacity. Invalid UTF-8 is
 *  IBTPO_ERR_BAD_DATA. */
ibtpo_status ibtpo_trainer_tokenize(ibtpo_trainer *trainer, const char *text, int64_t len, int32_t *out,
                                    int64_t capacity, int64_t *out_len);

/** Decodes `n` tokens with the trainer's tokenizer into bytes (special tokens dropped), NUL-
 *  terminated, with ibtpo_detokenize's buffer contract. A token outside the vocabulary is
 *  IBTPO_ERR_INVALID_ARGUMENT. */
ibtpo_status ibtpo_trainer_detokenize(ibtpo_trainer *trainer, const int32_t *tokens, int64_t n, char *out,
                                      int64_t capacity, int64_t *out_len);

/** Renders `n` messages (roles[i], contents[i]: NUL-terminated UTF-8, e.g. "system", "user",
 *  "assistant") through the trainer's chat template, followed by an assistant header when
 *  add_generation_prompt is 1. Buffer contract as ibtpo_detokenize. IBTPO_ERR_NOT_SUPPORTED
 *  when the model has no template of a recognised family (ibtpo_trainer_chat_template gives
 *  its source, for a Jinja engine). */
ibtpo_status ibtpo_trainer_apply_chat_template(ibtpo_trainer *trainer, const char *const *roles,
                                               const char *const *contents, int64_t n, int32_t add_generation_prompt,
                                               char *out, int64_t capacity, int64_t *out_len);

/** The Jinja source of the model's chat template (empty when it has none), NUL-terminated,
 *  with ibtpo_detokenize's buffer contract. */
ibtpo_status ibtpo_trainer_chat_template(ibtpo_trainer *trainer, char *out, int64_t capacity, int64_t *out_len);

/** The tokenizer's vocabulary size and BOS, EOS and PAD ids (any pointer may be NULL). */
ibtpo_status ibtpo_trainer_special_tokens(ibtpo_trainer *trainer, int64_t *out_vocab, int32_t *out_bos,
                                          int32_t *out_eos, int32_t *out_pad);

/** Writes the trainer's current model (its parameters now, after any training) for other tools:
 *  format "hf" writes a Hugging Face directory at `path` (created with its parents when
 *  missing; config.json, generation_config.json, model.safetensors and the tokenizer files,
 *  which transformers' AutoModelForCausalLM.from_pretrained loads), dtype "f32" (exact, the
 *  default when dtype is NULL) or "bf16"; format "gguf" writes one llama.cpp GGUF v3 file,
 *  dtype "f32", "f16" or "q8_0" (norms and biases stay f32). For a trainer of a pretrained
 *  model the export carries its tokenizer and chat template (a Hugging Face source's
 *  tokenizer files are copied verbatim; the source named at creation is read again for
 *  them, and its context length is written); a model libibtpo initialised has no tokenizer
 *  files. Every file is written to a temporary and renamed, so a failed call leaves no
 *  partial file under its final name. Reports phase "export" (bytes written of the total)
 *  to the progress callback, whose return value is ignored here. The trainer is unchanged.
 *  Errors: IBTPO_ERR_INVALID_ARGUMENT (NULL or empty path, unknown format or dtype, a Q8_0
 *  weight that is not finite), IBTPO_ERR_NOT_SUPPORTED (RoPE factors config.json cannot
 *  express), IBTPO_ERR_IO (the path, a missing source model). */
ibtpo_status ibtpo_trainer_export(ibtpo_trainer *trainer, const char *path, const char *format, const char *dtype);

/* ---- Kernels ----------------------------------------------------------------------- */

/** Static, NUL-terminated name of the sgemm micro-kernel the library uses on this CPU,
 *  e.g. "avx512 16x24 (ours)" or "zen3 (BLIS)". Chosen once per process by cpuid; the
 *  environment variable IBTPO_KERNEL=auto|blis|avx512 (read at the first product)
 *  overrides it, and an unknown or unsupported value keeps the automatic choice with a
 *  warning on stderr. Thread-safe; valid for the life of the process. */
const char *ibtpo_sgemm_kernel(void);

#ifdef __cplusplus
}
#endif

#endif /* IBTPO_H */
