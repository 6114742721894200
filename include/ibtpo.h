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
 *    ibtpo_*_free(NULL) is a no-op.
 *  - Argument order: handle first, then inputs, then out-parameters.
 *  - Structs that cross the ABI start with `uint32_t struct_size`, which the caller sets
 *    to sizeof(the struct) (the *_default() fillers do this). Fields are only ever
 *    appended. This version requires struct_size >= the size declared here and reads
 *    only the fields it knows; accepting smaller structs from older headers (reading the
 *    missing fields as defaults) starts with the first version that appends a field.
 *    ibtpo_model_config is embedded in ibtpo_trainer_config, so its layout is frozen.
 *  - Enum-like values are int32_t constants with explicit values that are never reused.
 *  - Strings returned as `const char *` are owned by the library: static strings live
 *    forever; per-handle strings live until the next call on the same handle.
 *
 * Thread safety: distinct handles may be used concurrently from different threads. One
 * handle must not be used by two threads at the same time. Functions without a handle
 * argument are thread-safe. ibtpo_last_error(NULL) is per calling thread.
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
#define IBTPO_VERSION_MINOR 1
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

/** Library version as (major << 16) | (minor << 8) | patch. Thread-safe. */
uint32_t ibtpo_version(void);

/** Static, NUL-terminated description of a status code ("unknown status" for others). */
const char *ibtpo_status_string(ibtpo_status status);

/* ---- Opaque handle -------------------------------------------------------------- */

/** A trainer: a model, its optimiser state, step counter, RNG and thread pool, all in
 *  one arena allocated at creation. Nothing is allocated by training steps. */
typedef struct ibtpo_trainer ibtpo_trainer;

/** The message of the last failed call on `trainer` (valid until the next call on it),
 *  or, for trainer == NULL, of the last failed handle-less call on this thread (such as
 *  ibtpo_trainer_create). Returns "" when there is none. Never returns NULL. */
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
} ibtpo_trainer_config;

/** Fills `cfg` with defaults: the tiny model, batch 32, seq 64, 2 threads, seed 1,
 *  lr 3e-3 → 3e-4 cosine over 1000 steps after 20 warmup steps, AdamW (0.9, 0.95, 1e-8),
 *  weight decay 0.01, clip 1.0. */
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
} ibtpo_memory_plan;

/** Computes the memory plan of `cfg` into `out` (out->struct_size must be set). */
ibtpo_status ibtpo_memory_plan_for(const ibtpo_trainer_config *cfg, ibtpo_memory_plan *out);

/* ---- Trainer lifetime ----------------------------------------------------------- */

/** Validates `cfg`, allocates the arena and initialises parameters from cfg->seed.
 *  On success *out owns a new trainer (free it with ibtpo_trainer_free). On failure *out
 *  is set to NULL and ibtpo_last_error(NULL) describes the problem. */
ibtpo_status ibtpo_trainer_create(const ibtpo_trainer_config *cfg, ibtpo_trainer **out);

/** Releases the trainer and all its memory and threads. NULL is a no-op. */
void ibtpo_trainer_free(ibtpo_trainer *trainer);

/** Copies the configuration the trainer was created with into `out`
 *  (out->struct_size and out->model.struct_size must be set). */
ibtpo_status ibtpo_trainer_get_config(ibtpo_trainer *trainer, ibtpo_trainer_config *out);

/* ---- Training ---------------------------------------------------------------------- */

/** Statistics of one optimisation step. */
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
 *  during the call. */
ibtpo_status ibtpo_trainer_step_supervised(ibtpo_trainer *trainer, const int32_t *tokens, const int32_t *targets,
                                           const float *weights, int64_t n_seqs, int64_t seq_len,
                                           ibtpo_step_stats *out);

/** Optimiser steps taken so far (restored by ibtpo_trainer_load). */
ibtpo_status ibtpo_trainer_get_step(ibtpo_trainer *trainer, int64_t *out_step);

/* ---- Checkpoints ------------------------------------------------------------------- */

/** Writes parameters, AdamW state, step and RNG state to `path` atomically (temporary
 *  file, fsync, rename). The format is documented in docs/checkpoint-format.md. */
ibtpo_status ibtpo_trainer_save(ibtpo_trainer *trainer, const char *path);

/** Loads a checkpoint written for the same model config. Validates the whole file
 *  (magic, version, config, tensor names and shapes, checksum) before changing anything. */
ibtpo_status ibtpo_trainer_load(ibtpo_trainer *trainer, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* IBTPO_H */
