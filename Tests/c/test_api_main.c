/*
 * test_api_main.c — the C API test (test_api). It exercises every function of include/ibtpo.h
 * through the C ABI, including misuse (NULL pointers, zero/negative/huge sizes, wrong struct_size, unknown enum values,
 * configs that do not fit, NULL and stale handles, corrupt checkpoints) and the functional
 * contracts: tokenizer round trip and size queries, tasks (built-in, JSONL, in memory),
 * generate determinism and its log-probs against score, thread-count independence, SFT on
 * a task, evaluation, GRPO and IB-TPO steps with a C reward callback, log/progress
 * callbacks, "a failed call leaves the state unchanged", and ibtpo_tree_advantages against
 * the formulas of docs/docs/algorithm.md §3 and §5 computed here by hand.
 * The sections live in Tests/c/api_*.c by concern and share the fixtures of api_common.c;
 * this file runs them in a fixed order. Built three ways by `make test`: against libibtpo.so,
 * libibtpo.a, and the installed copy through pkg-config (all of Tests/c/api_*.c, this file
 * and test_util.c).
 *
 * Usage: test_api [scratch-dir]   (default: a fresh directory from mkdtemp in $TMPDIR or /tmp)
 * Prints one line per check, "# " notes (numbers, timings) and "N passed, M failed"; exits 1
 * if any check failed.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, rmdir */

#include "api_common.h"

/* ---- main ------------------------------------------------------------------------------ */

#define SECTION(name, call)                                                  \
    do {                                                                     \
        double t0_ = now_seconds();                                          \
        call;                                                                \
        note("section %-28s %7.2f s", name, now_seconds() - t0_);           \
    } while (0)

int main(int argc, char **argv) {
    self_path = argv[0];
    if (argc == 3 && strcmp(argv[1], "--bad-handle") == 0) return bad_handle_child(atoi(argv[2]));
    if (tu_scratch_dir(scratch, sizeof scratch, argc, argv, "ibtpo-ctest") != 0) return 2;
    printf("# libibtpo C API test, library version 0x%06lx, scratch %s\n", (unsigned long)ibtpo_version(), scratch);
    double t_start = now_seconds();

    SECTION("bad handles (child process)", test_bad_handles());
    SECTION("version and status", test_version_and_status());
    SECTION("defaults", test_defaults());
    SECTION("memory plan", test_memory_plan());
    SECTION("create misuse", test_create_misuse());

    ibtpo_trainer_config c = tiny_config(7);
    ibtpo_trainer *t = NULL;
    check_status(ibtpo_trainer_create(&c, &t), IBTPO_OK, "trainer_create(tiny config)", NULL);
    check(t != NULL, "trainer_create returns a handle", NULL);
    if (t) {
        SECTION("handle misuse", test_handle_misuse(t));
        SECTION("step misuse", test_step_misuse(t));
        ibtpo_trainer_free(t);
    }
    SECTION("checkpoints", test_checkpoints());
    SECTION("nothing to learn (no-op step)", test_nothing_to_learn());
    SECTION("in-memory task limits", test_memory_task_limits());
    SECTION("messages", test_messages());
    SECTION("tokenizer", test_tokenizer());
    SECTION("tasks", test_tasks());
    SECTION("tree advantages", test_tree_advantages());

    /* the small model (d_model 32, 2 layers, max_seq 48, 8 rollout slots) and one without slots */
    ibtpo_trainer_config sc = small_config(5, 1), zc = small_config(5, 1);
    zc.rollout_slots = 0;
    ibtpo_trainer *s = NULL, *z = NULL;
    check_status(ibtpo_trainer_create(&sc, &s), IBTPO_OK, "trainer_create(small config: d_model 32, 2 layers, max_seq 48)", NULL);
    check_status(ibtpo_trainer_create(&zc, &z), IBTPO_OK, "trainer_create(rollout_slots 0: valid, no sampling)", NULL);
    if (s) {
        SECTION("callback setters", test_callback_setters(s));
        SECTION("threads", test_threads(s));
        SECTION("generate", test_generate(s, z));
        SECTION("score", test_score(s));
        SECTION("sft and evaluate", test_sft_and_eval(s, z));
        SECTION("rl", test_rl(s, z));
        SECTION("busy (re-entrant and concurrent calls)", test_busy(s, z));
        SECTION("progress abort points", test_abort_points(s));
    }
    ibtpo_trainer_free(s);
    ibtpo_trainer_free(z);
    SECTION("rl failures leave no trace", test_rl_failures_unchanged());

    if (argc <= 1) rmdir(scratch);
    note("total %.2f s", now_seconds() - t_start);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
