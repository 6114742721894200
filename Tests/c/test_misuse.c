/*
 * test_misuse.c — a table-driven misuse sweep over every function of include/ibtpo.h.
 *
 * Each function has a row in `fns`: its argument names, the kind of each argument and a
 * setup that fills valid arguments. From that the sweep derives, for every function:
 *   - the valid call (must succeed: proves the other cases fail for the reason tested);
 *   - every pointer argument set to NULL (required ones must give INVALID_ARGUMENT,
 *     optional ones must succeed), including a NULL trainer/task handle;
 *   - every size/int argument set to 0, -1, INT64_MIN/INT32_MIN, INT64_MAX/INT32_MAX
 *     (per-argument expectations: e.g. len 0 is valid for the tokenizer);
 *   - every struct argument with struct_size 0, 1, sizeof-1, 0x80000000, 0xFFFFFFFF
 *     (INVALID_ARGUMENT) and sizeof+8 (a newer caller: accepted);
 * then `extra` adds value cases: unknown enum values, out-of-range fields, configs that do
 * not fit, bad array entries, handles without rollout slots or without rl_begin.
 * The process must survive every call; each call must return the documented status and,
 * on failure, a non-empty ibtpo_last_error. One line per call, then a summary.
 *
 * Usage: test_misuse [scratch-dir]
 */
#define _POSIX_C_SOURCE 200809L

#include "test_util.h"

#include <stddef.h>
#include <unistd.h>

#define EINV IBTPO_ERR_INVALID_ARGUMENT
#define NARG 10

typedef struct {
    void *p[NARG];
    int64_t i[NARG];
} Args;

/* ---- live objects and buffers the valid calls use ------------------------------------ */

static ibtpo_trainer *T;     /* small model, 8 rollout slots, reward callback set, RL begun */
static ibtpo_trainer *FRESH; /* never used: rl_begin not called */
static ibtpo_trainer *NOSLOTS;
static ibtpo_trainer *PT;    /* a pretrained model (the llama_tied GGUF fixture) with its ChatML template */
static char gguf_path[4200];
static int32_t pt_ids[3] = {5, 17, 42};
static const char *pt_roles[2] = {"system", "user"}, *pt_contents[2] = {"Be terse.", "hi"};
static char big_out[8192];
static ibtpo_task *ADD, *MEM;
static char scratch[4096], ckpt_path[4200], jsonl_path[4200], junk_path[4200], export_path[4200];

#define NP 100
static char mem_prompt[NP][16], mem_answer[NP][8], mem_solution[NP][32];

static struct {
    ibtpo_model_config mc;
    ibtpo_trainer_config tc;
    ibtpo_memory_plan plan;
    ibtpo_step_stats stats;
    ibtpo_sampling_config samp;
    ibtpo_eval_config ec;
    ibtpo_eval_result er;
    ibtpo_rl_config rc;
    ibtpo_rl_metrics rm;
    int32_t tok[128], tgt[128], prompt[8], seqs[4 * 48], out_tok[16 * 48];
    float w[128], logps[16 * 48];
    int64_t lens[4], out_len[16], n, bytes_n;
    int32_t th;
    uint64_t bytes;
    char text[16], out[64], pb[64], sb[64], ab[64];
    const char *prompts[NP], *answers[NP], *solutions[NP];
    int32_t splits[NP];
    int32_t parent[10], tcount[10];
    float mlp[10], rw[10];
    double ib[10], adv[10];
    ibtpo_trainer *tout;
    ibtpo_task *kout;
} B;

static int32_t reward_cb(void *u, const char *p, int64_t pl, const char *c, int64_t cl, const char *a, double *out) {
    (void)u, (void)p, (void)pl, (void)c, (void)a;
    *out = 0.25 * (double)(cl % 5);
    return 0;
}
static void log_cb(void *u, int32_t level, const char *m) { (void)u, (void)level, (void)m; }
static int32_t progress_cb(void *u, const char *ph, int64_t d, int64_t t) { (void)u, (void)ph, (void)d, (void)t; return 0; }

static void reset_buffers(void) {
    pt_ids[0] = 5, pt_ids[1] = 17, pt_ids[2] = 42;
    memset(&B, 0, sizeof B);
    ibtpo_model_config_default(&B.mc);
    B.tc = small_config(5, 1);
    B.plan.struct_size = sizeof B.plan;
    B.stats.struct_size = sizeof B.stats;
    B.samp = small_sampling();
    B.samp.max_new_tokens = 16;
    ibtpo_eval_config_default(&B.ec);
    B.ec.count = 2;
    B.ec.k = 1;
    B.ec.sampling = B.samp;
    B.er.struct_size = sizeof B.er;
    ibtpo_rl_config_default(&B.rc);
    B.rc.algo = IBTPO_ALGO_GRPO;
    B.rc.prompts_per_step = 2;
    B.rc.group_size = 2;
    B.rc.tree_b0 = 2, B.rc.tree_l = 2, B.rc.tree_k = 1, B.rc.tree_b = 1;
    B.rc.sampling = B.samp;
    B.rc.probe_every = 0;
    B.rm.struct_size = sizeof B.rm;
    for (int i = 0; i < 128; i++) B.tok[i] = (i * 37 + 11) % 256, B.tgt[i] = (i * 53 + 7) % 256, B.w[i] = 1;
    B.prompt[0] = IBTPO_TOKEN_BOS, B.prompt[1] = '3', B.prompt[2] = '+', B.prompt[3] = '4', B.prompt[4] = '\n';
    for (int i = 0; i < 4 * 48; i++) B.seqs[i] = (i * 29 + 3) % 259;
    for (int i = 0; i < 4; i++) B.lens[i] = 20 - i;
    memcpy(B.text, "a\0b\xff\n", 5);
    for (int i = 0; i < NP; i++) {
        B.prompts[i] = mem_prompt[i], B.answers[i] = mem_answer[i], B.solutions[i] = mem_solution[i];
        B.splits[i] = i % 10 == 0; /* 10 test, 90 train */
    }
    const int32_t parent[10] = {-1, 0, 0, 1, 1, 1, 0, 5, 5, 6}, tcount[10] = {0, 3, 2, 2, 1, 4, 5, 2, 1, 1};
    const float mlp[10] = {0, -0.5f, -0.7f, -0.2f, -1, -0.1f, -0.05f, -0.3f, -2, -0.4f};
    const float rw[10] = {0, 0, 0, 1, 0, 0, 0, 1, 0.5f, 0};
    memcpy(B.parent, parent, sizeof parent), memcpy(B.tcount, tcount, sizeof tcount);
    memcpy(B.mlp, mlp, sizeof mlp), memcpy(B.rw, rw, sizeof rw);
}

/* ---- one caller and one setup per function ------------------------------------------- */

#define CALL(name) static ibtpo_status c_##name(Args *a)
CALL(model_config_default) { return ibtpo_model_config_default(a->p[0]); }
CALL(trainer_config_default) { return ibtpo_trainer_config_default(a->p[0]); }
CALL(sampling_config_default) { return ibtpo_sampling_config_default(a->p[0]); }
CALL(eval_config_default) { return ibtpo_eval_config_default(a->p[0]); }
CALL(rl_config_default) { return ibtpo_rl_config_default(a->p[0]); }
CALL(memory_plan_for) { return ibtpo_memory_plan_for(a->p[0], a->p[1]); }
CALL(trainer_create) { return ibtpo_trainer_create(a->p[0], a->p[1]); }
CALL(trainer_get_config) { return ibtpo_trainer_get_config(a->p[0], a->p[1]); }
CALL(trainer_step_supervised) {
    return ibtpo_trainer_step_supervised(a->p[0], a->p[1], a->p[2], a->p[3], a->i[4], a->i[5], a->p[6]);
}
CALL(trainer_get_step) { return ibtpo_trainer_get_step(a->p[0], a->p[1]); }
CALL(trainer_set_threads) { return ibtpo_trainer_set_threads(a->p[0], (int32_t)a->i[1]); }
CALL(trainer_get_threads) { return ibtpo_trainer_get_threads(a->p[0], a->p[1]); }
CALL(tokenize) { return ibtpo_tokenize(a->p[0], a->i[1], (int32_t)a->i[2], a->p[3], a->i[4], a->p[5]); }
CALL(detokenize) { return ibtpo_detokenize(a->p[0], a->i[1], a->p[2], a->i[3], a->p[4]); }
CALL(task_create_builtin) { return ibtpo_task_create_builtin(a->p[0], a->p[1], (uint64_t)a->i[2], a->p[3]); }
CALL(task_create_jsonl) { return ibtpo_task_create_jsonl(a->p[0], (int32_t)a->i[1], a->p[2]); }
CALL(task_create_memory) {
    return ibtpo_task_create_memory(a->p[0], a->p[1], a->p[2], a->p[3], a->i[4], a->p[5]);
}
CALL(task_problem_count) { return ibtpo_task_problem_count(a->p[0], (int32_t)a->i[1], a->p[2]); }
CALL(task_get_problem) {
    return ibtpo_task_get_problem(a->p[0], (int32_t)a->i[1], a->i[2], a->p[3], a->p[4], a->p[5], a->i[6]);
}
CALL(trainer_set_reward_fn) { return ibtpo_trainer_set_reward_fn(a->p[0], a->p[1] ? reward_cb : NULL, a->p[2]); }
CALL(trainer_set_log_fn) { return ibtpo_trainer_set_log_fn(a->p[0], a->p[1] ? log_cb : NULL, a->p[2]); }
CALL(trainer_set_progress_fn) { return ibtpo_trainer_set_progress_fn(a->p[0], a->p[1] ? progress_cb : NULL, a->p[2]); }
CALL(trainer_generate) {
    return ibtpo_trainer_generate(a->p[0], a->p[1], a->i[2], a->i[3], a->p[4], (uint64_t)a->i[5], a->p[6], a->p[7], a->p[8]);
}
CALL(trainer_score) { return ibtpo_trainer_score(a->p[0], a->p[1], a->p[2], a->i[3], a->i[4], a->p[5]); }
CALL(trainer_step_sft) { return ibtpo_trainer_step_sft(a->p[0], a->p[1], a->p[2]); }
CALL(trainer_evaluate) { return ibtpo_trainer_evaluate(a->p[0], a->p[1], a->p[2], a->p[3]); }
CALL(trainer_rl_begin) { return ibtpo_trainer_rl_begin(a->p[0], a->p[1], a->p[2], a->p[3]); }
CALL(trainer_step_rl) { return ibtpo_trainer_step_rl(a->p[0], a->p[1]); }
CALL(tree_advantages) {
    return ibtpo_tree_advantages(a->p[0], a->i[1], a->p[2], a->p[3], a->p[4], a->p[5], a->p[6], a->p[7]);
}
CALL(trainer_save) { return ibtpo_trainer_save(a->p[0], a->p[1]); }
CALL(trainer_load) { return ibtpo_trainer_load(a->p[0], a->p[1]); }
CALL(trainer_create_from_model) { return ibtpo_trainer_create_from_model(a->p[0], a->p[1], (int32_t)a->i[2], a->p[3], a->p[4]); }
CALL(trainer_tokenize) { return ibtpo_trainer_tokenize(a->p[0], a->p[1], a->i[2], a->p[3], a->i[4], a->p[5]); }
CALL(trainer_detokenize) { return ibtpo_trainer_detokenize(a->p[0], a->p[1], a->i[2], a->p[3], a->i[4], a->p[5]); }
CALL(trainer_apply_chat_template) {
    return ibtpo_trainer_apply_chat_template(a->p[0], a->p[1], a->p[2], a->i[3], (int32_t)a->i[4], a->p[5], a->i[6], a->p[7]);
}
CALL(trainer_chat_template) { return ibtpo_trainer_chat_template(a->p[0], a->p[1], a->i[2], a->p[3]); }
CALL(trainer_special_tokens) { return ibtpo_trainer_special_tokens(a->p[0], a->p[1], a->p[2], a->p[3], a->p[4]); }
CALL(trainer_export) { return ibtpo_trainer_export(a->p[0], a->p[1], a->p[2], a->p[3]); }
CALL(task_create_jsonl_ex) { return ibtpo_task_create_jsonl_ex(a->p[0], (int32_t)a->i[1], a->p[2], a->p[3]); }
CALL(task_create_memory_ex) {
    return ibtpo_task_create_memory_ex(a->p[0], a->p[1], a->p[2], a->p[3], a->i[4], a->p[5], a->p[6]);
}

static void *cb_marker = (void *)&cb_marker; /* "a callback" in p[1] of the set_*_fn rows */

/* Valid arguments, by function. The pointer slots point into B (reset before each call). */
static void setup(int fn, Args *a) {
    memset(a, 0, sizeof *a);
    switch (fn) {
    case 0: a->p[0] = &B.mc; break;
    case 1: a->p[0] = &B.tc; break;
    case 2: a->p[0] = &B.samp; break;
    case 3: a->p[0] = &B.ec; break;
    case 4: a->p[0] = &B.rc; break;
    case 5: a->p[0] = &B.tc, a->p[1] = &B.plan; break;
    case 6: a->p[0] = &B.tc, a->p[1] = &B.tout; break;
    case 7: a->p[0] = T, a->p[1] = &B.tc; break;
    case 8: a->p[0] = T, a->p[1] = B.tok, a->p[2] = B.tgt, a->p[3] = B.w, a->i[4] = 4, a->i[5] = 32, a->p[6] = &B.stats;
        break;
    case 9: a->p[0] = T, a->p[1] = &B.n; break;
    case 10: a->p[0] = T, a->i[1] = 1; break;
    case 11: a->p[0] = T, a->p[1] = &B.th; break;
    case 12: a->p[0] = B.text, a->i[1] = 5, a->i[2] = 1, a->p[3] = B.out_tok, a->i[4] = 16, a->p[5] = &B.n; break;
    case 13: a->p[0] = B.prompt, a->i[1] = 5, a->p[2] = B.out, a->i[3] = 64, a->p[4] = &B.n; break;
    case 14: a->p[0] = "add", a->p[1] = "digits=1", a->i[2] = 3, a->p[3] = &B.kout; break;
    case 15: a->p[0] = jsonl_path, a->i[1] = 48, a->p[2] = &B.kout; break;
    case 16: a->p[0] = B.prompts, a->p[1] = B.answers, a->p[2] = B.solutions, a->p[3] = B.splits, a->i[4] = NP,
             a->p[5] = &B.kout; break;
    case 17: a->p[0] = ADD, a->i[1] = IBTPO_SPLIT_TRAIN, a->p[2] = &B.n; break;
    case 18: a->p[0] = MEM, a->i[1] = IBTPO_SPLIT_TRAIN, a->i[2] = 0, a->p[3] = B.pb, a->p[4] = B.sb, a->p[5] = B.ab,
             a->i[6] = 64; break;
    case 19: case 20: case 21: a->p[0] = T, a->p[1] = cb_marker, a->p[2] = NULL; break;
    case 22: a->p[0] = T, a->p[1] = B.prompt, a->i[2] = 5, a->i[3] = 2, a->p[4] = &B.samp, a->i[5] = 1,
             a->p[6] = B.out_tok, a->p[7] = B.out_len, a->p[8] = B.logps; break;
    case 23: a->p[0] = T, a->p[1] = B.seqs, a->p[2] = B.lens, a->i[3] = 4, a->i[4] = 24, a->p[5] = B.logps; break;
    case 24: a->p[0] = T, a->p[1] = ADD, a->p[2] = &B.stats; break;
    case 25: a->p[0] = T, a->p[1] = ADD, a->p[2] = &B.ec, a->p[3] = &B.er; break;
    case 26: a->p[0] = T, a->p[1] = ADD, a->p[2] = &B.rc, a->p[3] = &B.bytes; break;
    case 27: a->p[0] = T, a->p[1] = &B.rm; break;
    case 28: a->p[0] = &B.rc, a->i[1] = 10, a->p[2] = B.parent, a->p[3] = B.tcount, a->p[4] = B.mlp, a->p[5] = B.rw,
             a->p[6] = B.ib, a->p[7] = B.adv; break;
    case 29: a->p[0] = T, a->p[1] = ckpt_path; break;
    case 30: a->p[0] = T, a->p[1] = ckpt_path; break;
    case 31: a->p[0] = gguf_path, a->p[1] = &B.tc, a->i[2] = 1, a->p[3] = NULL, a->p[4] = &B.tout; break;
    case 32: a->p[0] = PT, a->p[1] = (void *)"hello", a->i[2] = 5, a->p[3] = B.out_tok, a->i[4] = 16, a->p[5] = &B.n; break;
    case 33: a->p[0] = PT, a->p[1] = pt_ids, a->i[2] = 3, a->p[3] = B.out, a->i[4] = 64, a->p[5] = &B.n; break;
    case 34: a->p[0] = PT, a->p[1] = (void *)pt_roles, a->p[2] = (void *)pt_contents, a->i[3] = 2, a->i[4] = 1,
             a->p[5] = big_out, a->i[6] = (int64_t)sizeof big_out, a->p[7] = &B.n; break;
    case 35: a->p[0] = PT, a->p[1] = big_out, a->i[2] = (int64_t)sizeof big_out, a->p[3] = &B.n; break;
    case 36: a->p[0] = PT, a->p[1] = &B.n, a->p[2] = &B.th, a->p[3] = &B.th, a->p[4] = &B.th; break;
    case 37: a->p[0] = PT, a->p[1] = export_path, a->p[2] = (void *)"gguf", a->p[3] = (void *)"q8_0"; break;
    case 38: a->p[0] = jsonl_path, a->i[1] = 48, a->p[2] = (void *)"\n", a->p[3] = &B.kout; break;
    case 39: a->p[0] = B.prompts, a->p[1] = B.answers, a->p[2] = B.solutions, a->p[3] = B.splits, a->i[4] = NP,
             a->p[5] = (void *)"\n", a->p[6] = &B.kout; break;
    default: break;
    }
}

/* Argument kinds: h trainer handle, k task handle, p required pointer, o optional pointer
 * (NULL is valid), s required struct (struct_size checked), S optional struct, l int64 size,
 * i int32, u uint64 (any value valid), f callback (NULL = remove: valid). */
typedef struct {
    const char *name;
    const char *args[NARG];
    const char *kinds;
    ibtpo_status (*call)(Args *);
    uint32_t ssize[NARG];         /* sizeof of the struct at each s/S position */
    const char *expect[NARG];     /* l/i positions: expectation for 0, -1, MIN, MAX (I invalid, O ok, A either); NULL = IIII */
    int creates;                  /* 1: trainer in B.tout, 2: task in B.kout (freed after a successful call) */
} Fn;

#define SZ(t) (uint32_t)sizeof(t)
static const Fn fns[] = {
    {"ibtpo_model_config_default", {"cfg"}, "p", c_model_config_default, {0}, {0}, 0},
    {"ibtpo_trainer_config_default", {"cfg"}, "p", c_trainer_config_default, {0}, {0}, 0},
    {"ibtpo_sampling_config_default", {"cfg"}, "p", c_sampling_config_default, {0}, {0}, 0},
    {"ibtpo_eval_config_default", {"cfg"}, "p", c_eval_config_default, {0}, {0}, 0},
    {"ibtpo_rl_config_default", {"cfg"}, "p", c_rl_config_default, {0}, {0}, 0},
    {"ibtpo_memory_plan_for", {"cfg", "out"}, "ss", c_memory_plan_for, {SZ(ibtpo_trainer_config), SZ(ibtpo_memory_plan)}, {0}, 0},
    {"ibtpo_trainer_create", {"cfg", "out"}, "sp", c_trainer_create, {SZ(ibtpo_trainer_config)}, {0}, 1},
    {"ibtpo_trainer_get_config", {"trainer", "out"}, "hs", c_trainer_get_config, {0, SZ(ibtpo_trainer_config)}, {0}, 0},
    {"ibtpo_trainer_step_supervised", {"trainer", "tokens", "targets", "weights", "n_seqs", "seq_len", "out"}, "hppollS",
     c_trainer_step_supervised, {0, 0, 0, 0, 0, 0, SZ(ibtpo_step_stats)}, {0}, 0},
    {"ibtpo_trainer_get_step", {"trainer", "out_step"}, "hp", c_trainer_get_step, {0}, {0}, 0},
    {"ibtpo_trainer_set_threads", {"trainer", "threads"}, "hi", c_trainer_set_threads, {0}, {0}, 0},
    {"ibtpo_trainer_get_threads", {"trainer", "out_threads"}, "hp", c_trainer_get_threads, {0}, {0}, 0},
    {"ibtpo_tokenize", {"text", "len", "add_bos", "out", "capacity", "out_len"}, "plipl" "p", c_tokenize, {0},
     {0, "OIII", "OIII", 0, "IIIA"}, 0},
    {"ibtpo_detokenize", {"tokens", "n", "out", "capacity", "out_len"}, "plplp", c_detokenize, {0}, {0, "OIII", 0, "IIIA"}, 0},
    {"ibtpo_task_create_builtin", {"name", "options", "seed", "out"}, "poup", c_task_create_builtin, {0}, {0}, 2},
    {"ibtpo_task_create_jsonl", {"path", "max_tokens", "out"}, "pip", c_task_create_jsonl, {0}, {0}, 2},
    {"ibtpo_task_create_memory", {"prompts", "answers", "solutions", "splits", "count", "out"}, "poool" "p",
     c_task_create_memory, {0}, {0}, 2},
    {"ibtpo_task_problem_count", {"task", "split", "out_count"}, "kip", c_task_problem_count, {0}, {0, "OIII"}, 0},
    {"ibtpo_task_get_problem", {"task", "split", "index", "prompt", "solution", "answer", "capacity"}, "kilooo" "l",
     c_task_get_problem, {0}, {0, "OIII", "OIII", 0, 0, 0, "IIIA"}, 0},
    {"ibtpo_trainer_set_reward_fn", {"trainer", "fn", "user_data"}, "hfo", c_trainer_set_reward_fn, {0}, {0}, 0},
    {"ibtpo_trainer_set_log_fn", {"trainer", "fn", "user_data"}, "hfo", c_trainer_set_log_fn, {0}, {0}, 0},
    {"ibtpo_trainer_set_progress_fn", {"trainer", "fn", "user_data"}, "hfo", c_trainer_set_progress_fn, {0}, {0}, 0},
    {"ibtpo_trainer_generate",
     {"trainer", "prompt", "prompt_len", "n", "cfg", "seed", "out_tokens", "out_lengths", "out_logps"}, "hpllsuppo",
     c_trainer_generate, {0, 0, 0, 0, SZ(ibtpo_sampling_config)}, {0}, 0},
    {"ibtpo_trainer_score", {"trainer", "tokens", "lengths", "n_seqs", "seq_len", "out_logps"}, "hpollp", c_trainer_score,
     {0}, {0}, 0},
    {"ibtpo_trainer_step_sft", {"trainer", "task", "out"}, "hkS", c_trainer_step_sft, {0, 0, SZ(ibtpo_step_stats)}, {0}, 0},
    {"ibtpo_trainer_evaluate", {"trainer", "task", "cfg", "out"}, "hkss", c_trainer_evaluate,
     {0, 0, SZ(ibtpo_eval_config), SZ(ibtpo_eval_result)}, {0}, 0},
    {"ibtpo_trainer_rl_begin", {"trainer", "task", "cfg", "out_bytes"}, "hkso", c_trainer_rl_begin,
     {0, 0, SZ(ibtpo_rl_config)}, {0}, 0},
    {"ibtpo_trainer_step_rl", {"trainer", "out"}, "hS", c_trainer_step_rl, {0, SZ(ibtpo_rl_metrics)}, {0}, 0},
    {"ibtpo_tree_advantages",
     {"cfg", "n_nodes", "parent", "token_count", "mean_logp", "reward", "out_ib_score", "out_advantage"}, "slppppoo",
     c_tree_advantages, {SZ(ibtpo_rl_config)}, {0}, 0},
    {"ibtpo_trainer_save", {"trainer", "path"}, "hp", c_trainer_save, {0}, {0}, 0},
    {"ibtpo_trainer_load", {"trainer", "path"}, "hp", c_trainer_load, {0}, {0}, 0},
    {"ibtpo_trainer_create_from_model", {"path", "cfg", "chat", "system", "out"}, "psiop", c_trainer_create_from_model,
     {0, SZ(ibtpo_trainer_config)}, {0, 0, "OIII"}, 1},
    {"ibtpo_trainer_tokenize", {"trainer", "text", "len", "out", "capacity", "out_len"}, "hplplp", c_trainer_tokenize, {0},
     {0, 0, "OIII", 0, "IIIA"}, 0},
    {"ibtpo_trainer_detokenize", {"trainer", "tokens", "n", "out", "capacity", "out_len"}, "hplplp", c_trainer_detokenize,
     {0}, {0, 0, "OIII", 0, "IIIA"}, 0},
    {"ibtpo_trainer_apply_chat_template", {"trainer", "roles", "contents", "n", "add_generation_prompt", "out", "capacity",
     "out_len"}, "hpplipl" "p", c_trainer_apply_chat_template, {0}, {0, 0, 0, "OIII", "OIII", 0, "IIIA"}, 0},
    {"ibtpo_trainer_chat_template", {"trainer", "out", "capacity", "out_len"}, "hplp", c_trainer_chat_template, {0},
     {0, 0, "IIIA"}, 0},
    {"ibtpo_trainer_special_tokens", {"trainer", "out_vocab", "out_bos", "out_eos", "out_pad"}, "hoooo",
     c_trainer_special_tokens, {0}, {0}, 0},
    {"ibtpo_trainer_export", {"trainer", "path", "format", "dtype"}, "hppo", c_trainer_export, {0}, {0}, 0},
    {"ibtpo_task_create_jsonl_ex", {"path", "max_tokens", "step_delimiter", "out"}, "piop", c_task_create_jsonl_ex, {0},
     {0}, 2},
    {"ibtpo_task_create_memory_ex", {"prompts", "answers", "solutions", "splits", "count", "step_delimiter", "out"},
     "poool" "op", c_task_create_memory_ex, {0}, {0}, 2},
};
#define NFN (int)(sizeof fns / sizeof fns[0])

/* ---- value cases -------------------------------------------------------------------- */

enum { P_SCALAR, P_U32, P_I32, P_I64, P_F32, P_F64, P_PTR, P_STR };
typedef struct {
    int fn;
    const char *what;
    int pos;      /* argument */
    int type;     /* P_SCALAR: a->i[pos] = v; P_PTR: a->p[pos] = ptr; P_STR: a->p[pos] = str; else write at p[pos] + off */
    size_t off;
    double v;
    void **ptr;   /* P_PTR: the object (read at call time) */
    const char *str;
    char want;    /* I invalid, O ok, B bad data, A invalid or bad data, X I/O, K bad checkpoint, N not supported */
} Extra;

#define TC(f) offsetof(ibtpo_trainer_config, f)
#define SC(f) offsetof(ibtpo_sampling_config, f)
#define EC(f) offsetof(ibtpo_eval_config, f)
#define RC(f) offsetof(ibtpo_rl_config, f)
static const Extra extra[] = {
    {31, "path names no file", 0, P_STR, 0, 0, 0, "/nonexistent/model.gguf", 'X'},
    {38, "step_delimiter = \"\"", 2, P_STR, 0, 0, 0, "", 'I'},
    {38, "step_delimiter is invalid UTF-8", 2, P_STR, 0, 0, 0, "\xff", 'I'},
    {38, "step_delimiter of 65 bytes", 2, P_STR, 0, 0, 0, "01234567890123456789012345678901234567890123456789012345678901234", 'I'},
    {39, "step_delimiter = \"\"", 5, P_STR, 0, 0, 0, "", 'I'},
    {39, "step_delimiter = \":\" (splits the solutions' answer: marker)", 5, P_STR, 0, 0, 0, ":", 'B'},
    {37, "path = \"\"", 1, P_STR, 0, 0, 0, "", 'I'},
    {37, "path in a directory that cannot be created", 1, P_STR, 0, 0, 0, "/proc/ibtpo-no/model.gguf", 'X'},
    {37, "format = \"onnx\"", 2, P_STR, 0, 0, 0, "onnx", 'I'},
    {37, "dtype = \"bf16\" for gguf", 3, P_STR, 0, 0, 0, "bf16", 'I'},
    {37, "dtype = \"q4_0\" (not written)", 3, P_STR, 0, 0, 0, "q4_0", 'I'},
    {37, "format = \"hf\" with dtype q8_0", 2, P_STR, 0, 0, 0, "hf", 'I'},
    {37, "path is invalid UTF-8", 1, P_STR, 0, 0, 0, "\xff\xfe.gguf", 'B'},
    {31, "path names a file that is not a model", 0, P_PTR, 0, 0, 0, 0, 'N'},
    {31, "cfg->seq = 100000 > any context", 1, P_I32, TC(seq), 100000, 0, 0, 'I'},
    {32, "text is invalid UTF-8", 1, P_STR, 0, 0, 0, "\xff\xfe\xfd\xfc\xfb", 'B'},
    {33, "tokens[0] = 1000000 (outside the vocab)", 1, P_I32, 0, 1000000, 0, 0, 'I'},
    {33, "tokens[1] = -1", 1, P_I32, sizeof(int32_t), -1, 0, 0, 'I'},
    {5, "cfg->model.struct_size = 0", 0, P_U32, TC(model.struct_size), 0, 0, 0, 'I'},
    {5, "out->struct_size = 64 (the 0.1 size)", 1, P_U32, 0, 64, 0, 0, 'O'},
    {5, "out->struct_size = 65 (between the 0.1 and 0.2 sizes: not documented)", 1, P_U32, 0, 65, 0, 0, 'E'},
    {5, "cfg->rollout_slots = -1", 0, P_I32, TC(rollout_slots), -1, 0, 0, 'I'},
    {5, "cfg->rollout_slots = 65537", 0, P_I32, TC(rollout_slots), 65537, 0, 0, 'I'},
    {6, "cfg->model.struct_size = sizeof-1", 0, P_U32, TC(model.struct_size), sizeof(ibtpo_model_config) - 1, 0, 0, 'I'},
    {6, "cfg->threads = 0", 0, P_I32, TC(threads), 0, 0, 0, 'I'},
    {6, "cfg->model.vocab = 258", 0, P_I32, TC(model.vocab), 258, 0, 0, 'I'},
    {7, "out->model.struct_size = 0", 1, P_U32, TC(model.struct_size), 0, 0, 0, 'I'},
    {8, "n_seqs = batch + 1", 4, P_SCALAR, 0, 5, 0, 0, 'I'},
    {8, "seq_len = seq - 1", 5, P_SCALAR, 0, 31, 0, 0, 'I'},
    {8, "tokens[3] = 259", 1, P_I32, 3 * sizeof(int32_t), 259, 0, 0, 'B'},
    {8, "targets[3] = -2", 2, P_I32, 3 * sizeof(int32_t), -2, 0, 0, 'B'},
    {8, "weights[0] = NaN", 3, P_F32, 0, NAN, 0, 0, 'B'},
    {10, "threads = 65", 1, P_SCALAR, 0, 65, 0, 0, 'I'},
    {12, "add_bos = 2", 2, P_SCALAR, 0, 2, 0, 0, 'I'},
    {12, "capacity = 5 < 6 needed", 4, P_SCALAR, 0, 5, 0, 0, 'I'},
    {12, "len = 0 with text NULL", 1, P_SCALAR, 0, 0, 0, 0, 'E'}, /* the header does not say */
    {13, "tokens[2] = 259", 0, P_I32, 2 * sizeof(int32_t), 259, 0, 0, 'I'},
    {13, "tokens[2] = -1", 0, P_I32, 2 * sizeof(int32_t), -1, 0, 0, 'I'},
    {13, "capacity = 4 < 4 bytes + NUL", 3, P_SCALAR, 0, 4, 0, 0, 'I'},
    /* one 8-byte write sets tokens[3] = EOS (257) and tokens[4] = 999 (little-endian) */
    {13, "tokens[3..4] = {EOS, 999}: a bad token after the EOS", 0, P_I64, 3 * sizeof(int32_t), 999.0 * 4294967296.0 + 257,
     0, 0, 'I'},
    {14, "name = \"mul\"", 0, P_STR, 0, 0, 0, "mul", 'I'},
    {14, "name = \"\"", 0, P_STR, 0, 0, 0, "", 'I'},
    {14, "options = \"digits=99\"", 1, P_STR, 0, 0, 0, "digits=99", 'I'},
    {14, "options = \"digit=1\"", 1, P_STR, 0, 0, 0, "digit=1", 'I'},
    {14, "options = \"digits\"", 1, P_STR, 0, 0, 0, "digits", 'I'},
    {14, "options = \",,=,\"", 1, P_STR, 0, 0, 0, ",,=,", 'I'},
    {15, "path = a missing file", 0, P_STR, 0, 0, 0, "/nonexistent-ibtpo-dir/x.jsonl", 'X'},
    {15, "path = a file that is not JSON", 0, P_PTR, 0, 0, (void **)0, 0, 'B'}, /* set to junk_path in main */
    {15, "max_tokens = 65537", 1, P_SCALAR, 0, 65537, 0, 0, 'I'},
    {15, "max_tokens = 8 (line 1 does not fit)", 1, P_SCALAR, 0, 8, 0, 0, 'B'},
    {16, "count = 2^24 + 1", 4, P_SCALAR, 0, (1 << 24) + 1, 0, 0, 'I'},
    {16, "splits[0] = 2", 3, P_I32, 0, 2, 0, 0, 'I'},
    {16, "splits[5] = -1", 3, P_I32, 5 * sizeof(int32_t), -1, 0, 0, 'I'},
    {17, "split = 2", 1, P_SCALAR, 0, 2, 0, 0, 'I'},
    {18, "split = 2", 1, P_SCALAR, 0, 2, 0, 0, 'I'},
    {18, "index = 90 (the train split has 90)", 2, P_SCALAR, 0, 90, 0, 0, 'I'},
    {18, "capacity = 3 (too small)", 6, P_SCALAR, 0, 3, 0, 0, 'I'},
    {22, "n = 9 > 8 rollout slots", 3, P_SCALAR, 0, 9, 0, 0, 'I'},
    {22, "prompt[1] = 259", 1, P_I32, sizeof(int32_t), 259, 0, 0, 'A'},
    {22, "cfg->temperature = -1", 4, P_F32, SC(temperature), -1, 0, 0, 'I'},
    {22, "cfg->temperature = NaN", 4, P_F32, SC(temperature), NAN, 0, 0, 'I'},
    {22, "cfg->top_k = 260 > vocab", 4, P_I32, SC(top_k), 260, 0, 0, 'I'},
    {22, "cfg->top_p = 0", 4, P_F32, SC(top_p), 0, 0, 0, 'I'},
    {22, "cfg->top_p = 1.5", 4, P_F32, SC(top_p), 1.5, 0, 0, 'I'},
    {22, "cfg->max_new_tokens = 0", 4, P_I32, SC(max_new_tokens), 0, 0, 0, 'I'},
    {22, "cfg->max_new_tokens = 44 (prompt 5 + 44 > max_seq 48: cut at max_seq)", 4, P_I32, SC(max_new_tokens), 44, 0, 0, 'O'},
    {22, "cfg->stop_at_eos = 2", 4, P_I32, SC(stop_at_eos), 2, 0, 0, 'I'},
    {22, "trainer with rollout_slots 0", 0, P_PTR, 0, 0, (void **)&NOSLOTS, 0, 'I'},
    {23, "seq_len = 49 > max_seq", 4, P_SCALAR, 0, 49, 0, 0, 'I'},
    {23, "lengths[1] = 0", 2, P_I64, sizeof(int64_t), 0, 0, 0, 'I'},
    {23, "lengths[1] = seq_len + 1", 2, P_I64, sizeof(int64_t), 25, 0, 0, 'I'},
    {23, "lengths[2] = -1", 2, P_I64, 2 * sizeof(int64_t), -1, 0, 0, 'I'},
    {23, "tokens[3] = 259", 1, P_I32, 3 * sizeof(int32_t), 259, 0, 0, 'A'},
    {25, "cfg->count = 0", 2, P_I32, EC(count), 0, 0, 0, 'I'},
    {25, "cfg->k = -1", 2, P_I32, EC(k), -1, 0, 0, 'I'},
    {25, "cfg->k = 1025", 2, P_I32, EC(k), 1025, 0, 0, 'I'},
    {25, "cfg->sampling.struct_size = 0", 2, P_U32, EC(sampling.struct_size), 0, 0, 0, 'I'},
    {25, "cfg->sampling.top_p = 0", 2, P_F32, EC(sampling.top_p), 0, 0, 0, 'I'},
    {25, "trainer with rollout_slots 0", 0, P_PTR, 0, 0, (void **)&NOSLOTS, 0, 'I'},
    {26, "cfg->algo = 2", 2, P_I32, RC(algo), 2, 0, 0, 'I'},
    {26, "cfg->algo = -1", 2, P_I32, RC(algo), -1, 0, 0, 'I'},
    {26, "cfg->branch_rule = 4", 2, P_I32, RC(branch_rule), 4, 0, 0, 'I'},
    {26, "cfg->loss_aggregation = 3", 2, P_I32, RC(loss_aggregation), 3, 0, 0, 'I'},
    {26, "cfg->pibar_form = 2", 2, P_I32, RC(pibar_form), 2, 0, 0, 'I'},
    {26, "cfg->sqrt_n_weighting = 2", 2, P_I32, RC(sqrt_n_weighting), 2, 0, 0, 'I'},
    {26, "cfg->reset_optimizer = -1", 2, P_I32, RC(reset_optimizer), -1, 0, 0, 'I'},
    {26, "cfg->expand_root = 2", 2, P_I32, RC(expand_root), 2, 0, 0, 'I'},
    {26, "cfg->prompts_per_step = 5 (x G 2 = 10 > 8 rollout slots)", 2, P_I32, RC(prompts_per_step), 5, 0, 0, 'I'},
    {26, "cfg->group_size = 0", 2, P_I32, RC(group_size), 0, 0, 0, 'I'},
    {26, "cfg->beta = NaN", 2, P_F64, RC(beta), NAN, 0, 0, 'I'},
    {26, "cfg->clip_low = 1", 2, P_F64, RC(clip_low), 1, 0, 0, 'I'},
    {26, "cfg->epochs = 0", 2, P_I32, RC(epochs), 0, 0, 0, 'I'},
    {26, "cfg->minibatches = 0", 2, P_I32, RC(minibatches), 0, 0, 0, 'I'},
    {26, "cfg->lr = 0", 2, P_F32, RC(lr), 0, 0, 0, 'I'},
    {26, "cfg->sampling.stop_at_eos = 0", 2, P_I32, RC(sampling.stop_at_eos), 0, 0, 0, 'I'},
    {26, "cfg->sampling.struct_size = 0", 2, P_U32, RC(sampling.struct_size), 0, 0, 0, 'I'},
    {26, "cfg->sampling.max_new_tokens = 48 (= max_seq)", 2, P_I32, RC(sampling.max_new_tokens), 48, 0, 0, 'I'},
    {26, "trainer with rollout_slots 0", 0, P_PTR, 0, 0, (void **)&NOSLOTS, 0, 'I'},
    {27, "a trainer without rl_begin", 0, P_PTR, 0, 0, (void **)&FRESH, 0, 'I'},
    {28, "parent[0] = 0", 2, P_I32, 0, 0, 0, 0, 'I'},
    {28, "parent[5] = 7 (a later node)", 2, P_I32, 5 * sizeof(int32_t), 7, 0, 0, 'I'},
    {28, "parent[5] = -1 (a second root)", 2, P_I32, 5 * sizeof(int32_t), -1, 0, 0, 'I'},
    {28, "token_count[0] = 1", 3, P_I32, 0, 1, 0, 0, 'I'},
    {28, "token_count[3] = 0", 3, P_I32, 3 * sizeof(int32_t), 0, 0, 0, 'I'},
    {28, "mean_logp[2] = 1", 4, P_F32, 2 * sizeof(float), 1, 0, 0, 'I'},
    {28, "mean_logp[2] = NaN", 4, P_F32, 2 * sizeof(float), NAN, 0, 0, 'I'},
    {28, "reward[2] = 2 (a leaf)", 5, P_F32, 2 * sizeof(float), 2, 0, 0, 'I'},
    {28, "reward[1] = NaN (not a leaf: ignored)", 5, P_F32, 1 * sizeof(float), NAN, 0, 0, 'O'},
    {28, "cfg->beta = 0", 0, P_F64, RC(beta), 0, 0, 0, 'I'},
    {28, "cfg->lambda = -1", 0, P_F64, RC(lambda), -1, 0, 0, 'I'},
    {28, "cfg->pibar_form = 2", 0, P_I32, RC(pibar_form), 2, 0, 0, 'I'},
    {28, "cfg->algo = 99 (ignored)", 0, P_I32, RC(algo), 99, 0, 0, 'O'},
    {29, "path = \"\"", 1, P_STR, 0, 0, 0, "", 'X'},
    {29, "path in a missing directory", 1, P_STR, 0, 0, 0, "/nonexistent-ibtpo-dir/x.ckpt", 'X'},
    {30, "path = a missing file", 1, P_STR, 0, 0, 0, "/nonexistent-ibtpo-dir/x.ckpt", 'X'},
    {30, "path = a file that is not a checkpoint", 1, P_PTR, 0, 0, (void **)0, 0, 'K'}, /* junk_path */
};
#define NEXTRA (int)(sizeof extra / sizeof extra[0])

/* ---- the sweep ------------------------------------------------------------------------ */

static int ncalls, nunexpected;
static int by_status[16];

static int want_ok(char want, ibtpo_status s) {
    switch (want) {
    case 'O': return s == IBTPO_OK;
    case 'I': return s == EINV;
    case 'B': return s == IBTPO_ERR_BAD_DATA;
    case 'A': return s == EINV || s == IBTPO_ERR_BAD_DATA;
    case 'X': return s == IBTPO_ERR_IO;
    case 'K': return s == IBTPO_ERR_BAD_CHECKPOINT;
    case 'N': return s == IBTPO_ERR_NOT_SUPPORTED;
    case 'E': return s == EINV || s == IBTPO_OK; /* either is documented */
    default: return 0;
    }
}

static const char *want_name(char want) {
    switch (want) {
    case 'O': return "ok";
    case 'I': return "invalid argument";
    case 'B': return "bad data";
    case 'A': return "invalid argument or bad data";
    case 'X': return "I/O error";
    case 'K': return "bad checkpoint";
    case 'N': return "not supported";
    default: return "ok or invalid argument";
    }
}

/* Runs one prepared call and prints its line. */
static void run(int fn, Args *a, const char *desc, char want) {
    const Fn *f = &fns[fn];
    ibtpo_status s = f->call(a);
    ncalls++;
    if (s >= 0 && s < 16) by_status[s]++;
    /* where the message goes: the trainer (when the call is on a live one) or the thread */
    const ibtpo_trainer *sink = (f->kinds[0] == 'h' && a->p[0]) ? a->p[0] : NULL;
    const char *e = ibtpo_last_error(sink);
    int ok = want_ok(want, s) && (s == IBTPO_OK || (e && *e));
    if (!ok) nunexpected++;
    char what[1400];
    snprintf(what, sizeof what, "%s(%s) -> %s%s%.160s%s", f->name, desc, ibtpo_status_string(s), s ? ": \"" : "",
             s ? e : "", s ? "\"" : "");
    char detail[160];
    snprintf(detail, sizeof detail, "want %s%s", want_name(want),
             want_ok(want, s) ? " with a non-empty ibtpo_last_error" : "");
    check(ok, what, ok ? NULL : detail);
    if (s == IBTPO_OK && f->creates == 1 && B.tout) ibtpo_trainer_free(B.tout), B.tout = NULL;
    if (s == IBTPO_OK && f->creates == 2 && B.kout) ibtpo_task_free(B.kout), B.kout = NULL;
}

static const char *i64_name(int k) {
    static const char *n[] = {"0", "-1", "INT64_MIN", "INT64_MAX"};
    return n[k];
}
static const char *i32_name(int k) {
    static const char *n[] = {"0", "-1", "INT32_MIN", "INT32_MAX"};
    return n[k];
}

static void sweep_function(int fn) {
    const Fn *f = &fns[fn];
    Args a;
    char desc[256];
    int nargs = (int)strlen(f->kinds);

    reset_buffers();
    setup(fn, &a);
    run(fn, &a, "valid arguments", 'O');

    for (int k = 0; k < nargs; k++) {
        char kind = f->kinds[k];
        if (kind == 'h' || kind == 'k' || kind == 'p' || kind == 's' || kind == 'o' || kind == 'S' || kind == 'f') {
            reset_buffers();
            setup(fn, &a);
            a.p[k] = NULL;
            snprintf(desc, sizeof desc, "%s = NULL", f->args[k]);
            char want = (kind == 'o' || kind == 'S' || kind == 'f') ? 'O' : 'I';
            /* tokenize/detokenize: a NULL output buffer is only valid with capacity 0 */
            run(fn, &a, desc, want);
        }
        if (kind == 'l' || kind == 'i') {
            const char *ex = f->expect[k] ? f->expect[k] : "IIII";
            for (int v = 0; v < 4; v++) {
                if (ex[v] == '-') continue;
                reset_buffers();
                setup(fn, &a);
                if (kind == 'l') {
                    const int64_t vals[] = {0, -1, INT64_MIN, INT64_MAX};
                    a.i[k] = vals[v];
                    snprintf(desc, sizeof desc, "%s = %s", f->args[k], i64_name(v));
                } else {
                    const int64_t vals[] = {0, -1, INT32_MIN, INT32_MAX};
                    a.i[k] = vals[v];
                    snprintf(desc, sizeof desc, "%s = %s", f->args[k], i32_name(v));
                }
                run(fn, &a, desc, ex[v] == 'A' ? 'E' : ex[v]);
            }
        }
        if (kind == 's' || kind == 'S') {
            const uint32_t sz = f->ssize[k];
            const uint32_t bad[] = {0, 1, sz - 1, 0x80000000u, 0xFFFFFFFFu, sz + 8};
            const char *bn[] = {"0", "1", "sizeof-1", "0x80000000", "0xFFFFFFFF", "sizeof+8 (a newer caller)"};
            for (int v = 0; v < 6; v++) {
                reset_buffers();
                setup(fn, &a);
                memcpy(a.p[k], &bad[v], sizeof(uint32_t));
                snprintf(desc, sizeof desc, "%s->struct_size = %s", f->args[k], bn[v]);
                run(fn, &a, desc, v == 5 ? 'O' : 'I');
            }
        }
    }
    for (int x = 0; x < NEXTRA; x++) {
        const Extra *e = &extra[x];
        if (e->fn != fn) continue;
        reset_buffers();
        setup(fn, &a);
        unsigned char *base = a.p[e->pos];
        switch (e->type) {
        case P_SCALAR: a.i[e->pos] = (int64_t)e->v; break;
        case P_PTR: a.p[e->pos] = e->ptr ? *e->ptr : junk_path; break;
        case P_STR: a.p[e->pos] = (void *)e->str; break;
        case P_U32: { uint32_t u = (uint32_t)e->v; memcpy(base + e->off, &u, sizeof u); } break;
        case P_I32: { int32_t u = (int32_t)e->v; memcpy(base + e->off, &u, sizeof u); } break;
        case P_I64: { int64_t u = (int64_t)e->v; memcpy(base + e->off, &u, sizeof u); } break;
        case P_F32: { float u = (float)e->v; memcpy(base + e->off, &u, sizeof u); } break;
        default: { double u = e->v; memcpy(base + e->off, &u, sizeof u); } break;
        }
        if (fn == 12 && e->type == P_SCALAR && e->pos == 1 && e->v == 0) a.p[0] = NULL; /* len 0, text NULL */
        run(fn, &a, e->what, e->want);
    }
}

int main(int argc, char **argv) {
    if (tu_scratch_dir(scratch, sizeof scratch, argc, argv, "ibtpo-misuse") != 0) return 2;
    double t0 = now_seconds();
    printf("# libibtpo misuse sweep, library version 0x%06lx, %d functions\n", (unsigned long)ibtpo_version(), NFN + 5);
    snprintf(ckpt_path, sizeof ckpt_path, "%s/misuse.ckpt", scratch);
    snprintf(jsonl_path, sizeof jsonl_path, "%s/misuse.jsonl", scratch);
    snprintf(junk_path, sizeof junk_path, "%s/junk.bin", scratch);
    snprintf(export_path, sizeof export_path, "%s/export.gguf", scratch);
    FILE *f = fopen(jsonl_path, "w");
    if (f) {
        fputs("{\"prompt\": \"1+1\\n\", \"answer\": \"2\", \"split\": \"train\"}\n", f);
        fputs("{\"prompt\": \"2+2\\n\", \"answer\": \"4\", \"split\": \"test\"}\n", f);
        fclose(f);
    }
    f = fopen(junk_path, "w");
    if (f) { fputs("this is neither JSON Lines nor a checkpoint\n", f); fclose(f); }
    for (int i = 0; i < NP; i++) {
        snprintf(mem_prompt[i], sizeof mem_prompt[i], "q%d\n", i);
        snprintf(mem_answer[i], sizeof mem_answer[i], "%d", i);
        snprintf(mem_solution[i], sizeof mem_solution[i], "answer: %d", i);
    }

    ibtpo_trainer_config c = small_config(5, 1), z = small_config(5, 1);
    z.rollout_slots = 0;
    reset_buffers();
    if (ibtpo_trainer_create(&c, &T) || ibtpo_trainer_create(&c, &FRESH) || ibtpo_trainer_create(&z, &NOSLOTS) ||
        ibtpo_task_create_builtin("add", "digits=1", 3, &ADD) ||
        ibtpo_task_create_memory(B.prompts, B.answers, B.solutions, B.splits, NP, &MEM)) {
        printf("FAIL setup: %s\n", ibtpo_last_error(NULL));
        return 1;
    }
    const char *fixture = getenv("IBTPO_TEST_FIXTURES");
    snprintf(gguf_path, sizeof gguf_path, "%s/models/llama_tied.gguf", fixture ? fixture : "Tests/fixtures");
    ibtpo_trainer_config pc = small_config(5, 1);
    if (ibtpo_trainer_create_from_model(gguf_path, &pc, 1, NULL, &PT)) {
        printf("FAIL setup: %s (%s)\n", ibtpo_last_error(NULL), gguf_path);
        return 1;
    }
    ibtpo_trainer_set_reward_fn(T, reward_cb, NULL);
    B.rc.struct_size = sizeof B.rc;
    if (ibtpo_trainer_save(T, ckpt_path) || ibtpo_trainer_rl_begin(T, ADD, &B.rc, NULL)) {
        printf("FAIL setup: %s\n", ibtpo_last_error(T));
        return 1;
    }

    /* functions without a status */
    uint32_t v = ibtpo_version();
    checkf((v >> 16) == IBTPO_VERSION_MAJOR, "ibtpo_version() -> 0x%06lx (major %u)", (unsigned long)v, (unsigned)(v >> 16));
    const int32_t codes[] = {INT32_MIN, -1, IBTPO_ERR_PARTIAL + 1, 1000, INT32_MAX};
    for (int i = 0; i < 5; i++) {
        const char *s = ibtpo_status_string(codes[i]);
        checkf(s && strcmp(s, "unknown status") == 0, "ibtpo_status_string(%ld) -> \"%s\"", (long)codes[i], s ? s : "(NULL)");
    }
    checkf(ibtpo_last_error(NULL) != NULL, "ibtpo_last_error(NULL) -> a string (never NULL)");
    checkf(ibtpo_last_error(T) != NULL, "ibtpo_last_error(trainer) -> a string (never NULL)");
    ibtpo_trainer_free(NULL);
    check(1, "ibtpo_trainer_free(NULL) -> returns (no-op)", NULL);
    ibtpo_task_free(NULL);
    check(1, "ibtpo_task_free(NULL) -> returns (no-op)", NULL);
    ncalls += 10;

    for (int fn = 0; fn < NFN; fn++) sweep_function(fn);

    /* the trainer still works after the sweep */
    int64_t step = -1;
    float lp[24];
    int32_t seq[24];
    for (int i = 0; i < 24; i++) seq[i] = (i * 7) % 256;
    ibtpo_status s1 = ibtpo_trainer_get_step(T, &step), s2 = ibtpo_trainer_score(T, seq, NULL, 1, 24, lp);
    checkf(s1 == IBTPO_OK && s2 == IBTPO_OK && isfinite(lp[0]), "after the sweep the trainer still works (step %lld, "
           "score ok)", (long long)step);

    ibtpo_trainer_free(T);
    ibtpo_trainer_free(FRESH);
    ibtpo_trainer_free(NOSLOTS);
    ibtpo_trainer_free(PT);
    ibtpo_task_free(ADD);
    ibtpo_task_free(MEM);
    unlink(ckpt_path), unlink(jsonl_path), unlink(junk_path), unlink(export_path);
    if (argc <= 1) rmdir(scratch);
    note("%d calls in %.2f s; %d not as documented; statuses: ok %d, invalid argument %d, bad data %d, I/O %d, "
         "bad checkpoint %d, other %d", ncalls, now_seconds() - t0, nunexpected, by_status[0], by_status[1], by_status[9],
         by_status[3], by_status[4],
         ncalls - 10 - by_status[0] - by_status[1] - by_status[9] - by_status[3] - by_status[4]);
    printf("%d passed, %d failed\n", tu_passed, tu_failed);
    return tu_failed ? 1 : 0;
}
