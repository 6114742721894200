/*
 * api_tasks.c — test_api section: tasks (built-in generators, in memory, JSON Lines): problem
 * counts and contents, determinism of the generator seed, optional answers and solutions,
 * and misuse.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, unlink, rmdir, fork, clock_gettime; no BLIS header here */

#include "api_common.h"

/* ---- tasks ------------------------------------------------------------------------------ */

/* Parses "a+b\n" and checks answer == a+b and that the solution's last line is "answer: <answer>". */
static int add_problem_ok(const char *prompt, const char *solution, const char *answer) {
    long a = -1, b = -1;
    char nl = 0;
    if (sscanf(prompt, "%ld+%ld%c", &a, &b, &nl) != 3 || nl != '\n' || a < 0 || a > 9 || b < 0 || b > 9) return 0;
    char want[32];
    snprintf(want, sizeof want, "%ld", a + b);
    return strcmp(answer, want) == 0 && answer_line_matches(solution, (int64_t)strlen(solution), answer);
}

void test_tasks(void) {
    ibtpo_task *k = (ibtpo_task *)&passed; /* any non-NULL value: a failed create must reset it */
    check_err(ibtpo_task_create_builtin(NULL, NULL, 1, &k), ERR_ARG, "task_create_builtin(name NULL)", NULL, "NULL");
    check(k == NULL, "  ... sets *out = NULL", NULL);
    check_err(ibtpo_task_create_builtin("add", NULL, 1, NULL), ERR_ARG, "task_create_builtin(out NULL)", NULL, "NULL");
    const struct { const char *name, *opts, *keyword; } bad[] = {
        {"mul", NULL, "mul"},           {"", NULL, "task"},           {"add", "digit=1", "digit"},
        {"add", "digits=99", "digits"}, {"add", "digits=0", "digits"}, {"add", "digits", "digits"},
        {"add", "digits=abc", "digits"}, {"add", "=3", NULL},          {"add", "digits=-1", "digits"},
        {"countdown", "numbers=9", "numbers"}, {"modchain", "mod=2", "mod"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char what[160];
        snprintf(what, sizeof what, "task_create_builtin(\"%s\", \"%s\")", bad[i].name, bad[i].opts ? bad[i].opts : "NULL");
        k = (ibtpo_task *)&passed;
        check_err(ibtpo_task_create_builtin(bad[i].name, bad[i].opts, 1, &k), ERR_ARG, what, NULL, bad[i].keyword);
        if (k) check(0, "  ... must set *out = NULL", NULL);
    }
    const struct { const char *name, *opts; } good[] = {
        {"add", NULL}, {"add", ""}, {"countdown", "numbers=4,max_number=10"}, {"modchain", "steps=2 mod=7"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char what[160];
        snprintf(what, sizeof what, "task_create_builtin(\"%s\", %s%s%s)", good[i].name, good[i].opts ? "\"" : "",
                 good[i].opts ? good[i].opts : "NULL", good[i].opts ? "\"" : "");
        k = NULL;
        check_status(ibtpo_task_create_builtin(good[i].name, good[i].opts, 1, &k), IBTPO_OK, what, NULL);
        int64_t c = 0;
        char p[256];
        ibtpo_status s = k ? ibtpo_task_problem_count(k, IBTPO_SPLIT_TRAIN, &c) : ERR_ARG;
        ibtpo_status s2 = k ? ibtpo_task_get_problem(k, IBTPO_SPLIT_TEST, 3, p, NULL, NULL, sizeof p) : ERR_ARG;
        checkf(s == IBTPO_OK && c == -1 && s2 == IBTPO_OK && strlen(p) > 1 && p[strlen(p) - 1] == '\n',
               "  ... an unbounded generator (count %lld) whose test prompt 3 ends with \\n", (long long)c);
        ibtpo_task_free(k);
    }
    ibtpo_task_free(NULL);
    check(1, "ibtpo_task_free(NULL) is a no-op", NULL);

    ibtpo_task *add = NULL, *add2 = NULL, *add7 = NULL;
    check_status(ibtpo_task_create_builtin("add", "digits=1", 3, &add), IBTPO_OK, "task_create_builtin(add, digits=1)", NULL);
    ibtpo_task_create_builtin("add", "digits=1", 3, &add2);
    ibtpo_task_create_builtin("add", "digits=1", 7, &add7);
    if (!add || !add2 || !add7) { ibtpo_task_free(add); ibtpo_task_free(add2); ibtpo_task_free(add7); return; }
    int64_t cnt = 0;
    check_status(ibtpo_task_problem_count(add, IBTPO_SPLIT_TEST, &cnt), IBTPO_OK, "problem_count(add, test)", NULL);
    checkf(cnt == -1, "  ... is -1 (unbounded generator; got %lld)", (long long)cnt);
    check_err(ibtpo_task_problem_count(NULL, IBTPO_SPLIT_TRAIN, &cnt), ERR_ARG, "problem_count(task NULL)", NULL, "NULL");
    check_err(ibtpo_task_problem_count(add, 2, &cnt), ERR_ARG, "problem_count(split 2)", NULL, "split");
    check_err(ibtpo_task_problem_count(add, -1, &cnt), ERR_ARG, "problem_count(split -1)", NULL, "split");
    check_err(ibtpo_task_problem_count(add, IBTPO_SPLIT_TRAIN, NULL), ERR_ARG, "problem_count(out_count NULL)", NULL,
              "NULL");
    int good_add = 1, same_seed = 1, other_differs = 0;
    for (int split = 0; split < 2; split++)
        for (int i = 0; i < 20; i++) {
            char p[64], s[64], a[64], p2[64], s2[64], a2[64], p7[64];
            ibtpo_status st = ibtpo_task_get_problem(add, split, i, p, s, a, 64);
            ibtpo_task_get_problem(add2, split, i, p2, s2, a2, 64);
            ibtpo_task_get_problem(add7, split, i, p7, NULL, NULL, 64);
            good_add &= st == IBTPO_OK && add_problem_ok(p, s, a);
            same_seed &= strcmp(p, p2) == 0 && strcmp(s, s2) == 0 && strcmp(a, a2) == 0;
            other_differs |= strcmp(p, p7) != 0;
        }
    check(good_add, "get_problem(add digits=1): 40 problems are \"a+b\\n\" with answer a+b and a solution ending "
          "\"answer: <answer>\"", NULL);
    check(same_seed, "the same generator seed gives the same 40 problems", NULL);
    check(other_differs, "another generator seed gives other problems", NULL);
    char p[64], s[64], a[64];
    memset(p, 'Z', sizeof p);
    memset(s, 'Z', sizeof s);
    memset(a, 'Z', sizeof a);
    check_err(ibtpo_task_get_problem(add, IBTPO_SPLIT_TRAIN, 0, p, s, a, 4), ERR_ARG, "get_problem(capacity 4)", NULL,
              "capacity");
    check(p[0] == 'Z' && s[0] == 'Z' && a[0] == 'Z', "  ... writes nothing", NULL);
    check_err(ibtpo_task_get_problem(add, IBTPO_SPLIT_TRAIN, 0, p, s, a, 0), ERR_ARG, "get_problem(capacity 0)", NULL,
              "capacity");
    check_err(ibtpo_task_get_problem(add, IBTPO_SPLIT_TRAIN, 0, p, s, a, -1), ERR_ARG, "get_problem(capacity -1)",
              NULL, "capacity");
    check_err(ibtpo_task_get_problem(add, IBTPO_SPLIT_TRAIN, -1, p, s, a, 64), ERR_ARG, "get_problem(index -1)", NULL,
              "index");
    check_err(ibtpo_task_get_problem(add, IBTPO_SPLIT_TRAIN, INT64_MIN, p, s, a, 64), ERR_ARG,
              "get_problem(index INT64_MIN)", NULL, "index");
    check_err(ibtpo_task_get_problem(add, 2, 0, p, s, a, 64), ERR_ARG, "get_problem(split 2)", NULL, "split");
    check_err(ibtpo_task_get_problem(NULL, 0, 0, p, s, a, 64), ERR_ARG, "get_problem(task NULL)", NULL, "NULL");
    check_status(ibtpo_task_get_problem(add, IBTPO_SPLIT_TRAIN, 0, NULL, NULL, NULL, 64), IBTPO_OK,
                 "get_problem(all three buffers NULL: nothing to copy)", NULL);
    memset(p, 0, sizeof p), memset(s, 0, sizeof s), memset(a, 0, sizeof a);
    check_status(ibtpo_task_get_problem(add, IBTPO_SPLIT_TEST, INT64_MAX, p, s, a, 64), IBTPO_OK,
                 "get_problem(generator, index INT64_MAX: any index >= 0)", NULL);
    check(add_problem_ok(p, s, a), "  ... is a well-formed problem", p);
    ibtpo_task_free(add);
    ibtpo_task_free(add2);
    ibtpo_task_free(add7);

    /* In memory: explicit splits, copied strings, index ranges, answers/solutions optional. */
    char pr[6][16], an[6][8], so[6][32];
    const char *P[6], *A[6], *S[6];
    const int32_t sp[6] = {0, 0, 0, 0, 1, 1};
    for (int i = 0; i < 6; i++) {
        snprintf(pr[i], sizeof pr[i], "%d+%d\n", i + 1, i + 1);
        snprintf(an[i], sizeof an[i], "%d", 2 * (i + 1));
        snprintf(so[i], sizeof so[i], "%d+%d+0=%d\nanswer: %d", i + 1, i + 1, 2 * (i + 1), 2 * (i + 1));
        P[i] = pr[i], A[i] = an[i], S[i] = so[i];
    }
    ibtpo_task *mem = NULL;
    check_status(ibtpo_task_create_memory(P, A, S, sp, 6, &mem), IBTPO_OK, "task_create_memory(6 problems, 4 train / 2 test)", NULL);
    if (mem) {
        for (int i = 0; i < 6; i++) pr[i][0] = 'X', an[i][0] = 'X', so[i][0] = 'X'; /* the library copied them */
        int64_t ntr = -5, nte = -5;
        ibtpo_task_problem_count(mem, IBTPO_SPLIT_TRAIN, &ntr);
        ibtpo_task_problem_count(mem, IBTPO_SPLIT_TEST, &nte);
        checkf(ntr == 4 && nte == 2, "problem_count: train %lld, test %lld (want 4, 2)", (long long)ntr, (long long)nte);
        /* every stored problem is one of the inputs, of the right split, each exactly once */
        int seen[6] = {0}, ok = 1;
        for (int split = 0; split < 2; split++)
            for (int i = 0; i < (split ? 2 : 4); i++) {
                char gp[64], gs[64], ga[64];
                if (ibtpo_task_get_problem(mem, split, i, gp, gs, ga, 64) != IBTPO_OK) { ok = 0; continue; }
                int a1 = 0, b1 = 0;
                if (sscanf(gp, "%d+%d", &a1, &b1) != 2 || a1 < 1 || a1 > 6 || seen[a1 - 1]++ || sp[a1 - 1] != split) {
                    ok = 0;
                    continue;
                }
                char wp[16], wa[8], ws[32];
                snprintf(wp, sizeof wp, "%d+%d\n", a1, a1);
                snprintf(wa, sizeof wa, "%d", 2 * a1);
                snprintf(ws, sizeof ws, "%d+%d+0=%d\nanswer: %d", a1, a1, 2 * a1, 2 * a1);
                ok &= strcmp(gp, wp) == 0 && strcmp(ga, wa) == 0 && strcmp(gs, ws) == 0;
            }
        check(ok, "get_problem returns each in-memory problem (prompt, solution, answer) once, in its split, "
              "unaffected by later changes to the caller's strings", NULL);
        check_err(ibtpo_task_get_problem(mem, IBTPO_SPLIT_TEST, 2, p, s, a, 64), ERR_ARG,
                  "get_problem(test index 2 == count)", NULL, "index");
        check_err(ibtpo_task_get_problem(mem, IBTPO_SPLIT_TRAIN, INT64_MAX, p, s, a, 64), ERR_ARG,
                  "get_problem(index INT64_MAX)", NULL, "index");
        ibtpo_task_free(mem);
    }
    for (int i = 0; i < 6; i++) { /* restore */
        snprintf(pr[i], sizeof pr[i], "%d+%d\n", i + 1, i + 1);
        snprintf(an[i], sizeof an[i], "%d", 2 * (i + 1));
        snprintf(so[i], sizeof so[i], "%d+%d+0=%d\nanswer: %d", i + 1, i + 1, 2 * (i + 1), 2 * (i + 1));
    }
    mem = NULL;
    check_status(ibtpo_task_create_memory(P, NULL, NULL, sp, 6, &mem), IBTPO_OK,
                 "task_create_memory(answers NULL, solutions NULL)", NULL);
    if (mem) {
        char ga[8] = "ZZZ", gs[8] = "ZZZ";
        check_status(ibtpo_task_get_problem(mem, IBTPO_SPLIT_TRAIN, 0, NULL, gs, ga, 8), IBTPO_OK,
                     "get_problem of a task without answers or solutions", NULL);
        checkf(ga[0] == '\0' && gs[0] == '\0', "  ... the answer is \"\" (got \"%s\") and the solution \"\" (got \"%s\")",
               ga, gs);
        ibtpo_task_free(mem);
    }
    mem = NULL;
    check_status(ibtpo_task_create_memory(P, A, NULL, sp, 6, &mem), IBTPO_OK, "task_create_memory(answers, solutions NULL)",
                 NULL);
    if (mem) {
        char gp[16] = "", ga[8] = "", gs[32] = "", want[32];
        ibtpo_task_get_problem(mem, IBTPO_SPLIT_TRAIN, 0, gp, gs, ga, 32);
        snprintf(want, sizeof want, "answer: %s", ga);
        checkf(ga[0] && strcmp(gs, want) == 0, "  ... the solution is the line \"answer: <answer>\" (got \"%s\")", gs);
        ibtpo_task_free(mem);
    }
    mem = NULL;
    /* answers NULL with solutions: the header allows it (a reward callback judges); the solutions
     * are only references for SFT */
    const char *S_free[6] = {"two", "four", "six", "eight", "ten", "twelve"};
    ibtpo_status ms = ibtpo_task_create_memory(P, NULL, S_free, sp, 6, &mem);
    checkf(ms == IBTPO_OK, "task_create_memory(answers NULL, solutions given) -> %s%s%.160s%s", ibtpo_status_string(ms),
           ms ? ": \"" : "", ms ? ibtpo_last_error(NULL) : "", ms ? "\"" : "");
    if (mem) {
        char gs[16] = "";
        ibtpo_task_get_problem(mem, IBTPO_SPLIT_TEST, 0, NULL, gs, NULL, 16);
        checkf(strcmp(gs, "ten") == 0, "  ... test problem 0 keeps its solution (\"%s\")", gs);
        ibtpo_task_free(mem);
    }
    const int64_t bad_counts[] = {0, -1, INT64_MIN, INT64_MAX, (1 << 24) + 1};
    for (size_t i = 0; i < sizeof bad_counts / sizeof bad_counts[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "task_create_memory(count %lld)", (long long)bad_counts[i]);
        k = (ibtpo_task *)&passed;
        check_err(ibtpo_task_create_memory(P, A, S, sp, bad_counts[i], &k), ERR_ARG, what, NULL, "count");
        if (k) check(0, "  ... must set *out = NULL", NULL);
    }
    check_err(ibtpo_task_create_memory(NULL, A, S, sp, 6, &k), ERR_ARG, "task_create_memory(prompts NULL)", NULL, "NULL");
    check_err(ibtpo_task_create_memory(P, A, S, sp, 6, NULL), ERR_ARG, "task_create_memory(out NULL)", NULL, "NULL");
    const char *P_null[6] = {P[0], P[1], NULL, P[3], P[4], P[5]};
    check_err(ibtpo_task_create_memory(P_null, A, S, sp, 6, &k), ERR_ARG, "task_create_memory(prompts[2] NULL)", NULL,
              "prompt&2");
    const char *A_null[6] = {A[0], A[1], A[2], A[3], NULL, A[5]};
    check_err(ibtpo_task_create_memory(P, A_null, S, sp, 6, &k), ERR_ARG, "task_create_memory(answers[4] NULL)", NULL,
              "answer&4");
    const int32_t sp_bad[6] = {0, 0, 2, 0, 1, 1}, sp_all_train[6] = {0, 0, 0, 0, 0, 0}, sp_neg[6] = {0, -1, 0, 0, 1, 1};
    check_err(ibtpo_task_create_memory(P, A, S, sp_bad, 6, &k), ERR_ARG, "task_create_memory(splits[2] = 2)", NULL,
              "split");
    check_err(ibtpo_task_create_memory(P, A, S, sp_neg, 6, &k), ERR_ARG, "task_create_memory(splits[1] = -1)", NULL,
              "split");
    /* The header does not say which status an empty split gets: INVALID_ARGUMENT or BAD_DATA. */
    ibtpo_status es = ibtpo_task_create_memory(P, A, S, sp_all_train, 6, &k);
    checkf((es == ERR_ARG || es == IBTPO_ERR_BAD_DATA) && contains_all_ci(ibtpo_last_error(NULL), "test&split"),
           "task_create_memory(every problem in train: empty test split) -> %s (INVALID_ARGUMENT or BAD_DATA), error "
           "\"%.120s\" (names the test split)", ibtpo_status_string(es), ibtpo_last_error(NULL));
    es = ibtpo_task_create_memory(P, A, S, NULL, 1, &k);
    checkf((es == ERR_ARG || es == IBTPO_ERR_BAD_DATA) && contains_ci(ibtpo_last_error(NULL), "split"),
           "task_create_memory(1 problem, hash split: one split is empty) -> %s (INVALID_ARGUMENT or BAD_DATA), error "
           "\"%.120s\"", ibtpo_status_string(es), ibtpo_last_error(NULL));
    /* 100 prompts split by hash: about 10% test, both non-empty */
    char many[100][16];
    const char *M[100];
    for (int i = 0; i < 100; i++) snprintf(many[i], sizeof many[i], "q%d\n", i), M[i] = many[i];
    mem = NULL;
    check_status(ibtpo_task_create_memory(M, NULL, NULL, NULL, 100, &mem), IBTPO_OK,
                 "task_create_memory(100 prompts, splits NULL: by hash)", NULL);
    if (mem) {
        int64_t ntr = 0, nte = 0;
        ibtpo_task_problem_count(mem, IBTPO_SPLIT_TRAIN, &ntr);
        ibtpo_task_problem_count(mem, IBTPO_SPLIT_TEST, &nte);
        checkf(ntr + nte == 100 && nte >= 1 && nte <= 30, "  ... %lld train + %lld test (about 10%% test)",
               (long long)ntr, (long long)nte);
        ibtpo_task_free(mem);
    }

    /* JSON Lines */
    char jl[4200], bad_jl[4200];
    path_in_scratch(jl, sizeof jl, "task.jsonl");
    path_in_scratch(bad_jl, sizeof bad_jl, "bad.jsonl");
    const char *lines =
        "{\"prompt\": \"What is 6*7?\\n\", \"answer\": \"42\", \"solution\": \"6*7=42\\nanswer: 42\", \"split\": \"train\"}\n"
        "\n"
        "{\"prompt\": \"2+2\\n\", \"answer\": \"4\", \"split\": \"train\"}\n"
        "{\"prompt\": \"3+3\\n\", \"answer\": \"6\", \"solution\": null, \"split\": \"train\", \"extra\": [1, 2]}\n"
        "{\"prompt\": \"4+4\\n\", \"answer\": \"8\", \"split\": \"test\"}\n";
    write_file(jl, (const unsigned char *)lines, strlen(lines));
    ibtpo_task *j = NULL;
    check_status(ibtpo_task_create_jsonl(jl, 48, &j), IBTPO_OK, "task_create_jsonl(4 problems, a blank line)", NULL);
    if (j) {
        int64_t ntr = 0, nte = 0;
        ibtpo_task_problem_count(j, IBTPO_SPLIT_TRAIN, &ntr);
        ibtpo_task_problem_count(j, IBTPO_SPLIT_TEST, &nte);
        char gp[64] = "", gs[64] = "", ga[64] = "";
        ibtpo_task_get_problem(j, IBTPO_SPLIT_TEST, 0, gp, gs, ga, 64);
        checkf(ntr == 3 && nte == 1 && strcmp(gp, "4+4\n") == 0 && strcmp(ga, "8") == 0 && strcmp(gs, "answer: 8") == 0,
               "  ... train %lld, test %lld; test problem 0 is \"4+4\\n\" with answer \"8\" and solution \"%s\" "
               "(\"answer: 8\" when none is given)", (long long)ntr, (long long)nte, gs);
        ibtpo_task_free(j);
    }
    const char *badlines = "{\"prompt\": \"a\\n\", \"answer\": \"1\", \"split\": \"train\"}\n"
                           "{\"prompt\": \"b\\n\", \"answer\": \"2\", \"split\": \"test\"}\n"
                           "{\"prompt\": \"c\\n\", \"answer\": 3,}\n";
    write_file(bad_jl, (const unsigned char *)badlines, strlen(badlines));
    k = (ibtpo_task *)&passed;
    check_err(ibtpo_task_create_jsonl(bad_jl, 48, &k), IBTPO_ERR_BAD_DATA, "task_create_jsonl(invalid JSON on line 3)",
              NULL, "bad.jsonl&3");
    check(k == NULL, "  ... creates no task (*out = NULL)", NULL);
    check_err(ibtpo_task_create_jsonl(jl, 8, &k), IBTPO_ERR_BAD_DATA, "task_create_jsonl(max_tokens 8: line 1 too long)",
              NULL, "task.jsonl&1");
    check_err(ibtpo_task_create_jsonl("/nonexistent-ibtpo-dir/t.jsonl", 48, &k), IBTPO_ERR_IO,
              "task_create_jsonl(missing file)", NULL, "nonexistent-ibtpo-dir");
    check_err(ibtpo_task_create_jsonl(NULL, 48, &k), ERR_ARG, "task_create_jsonl(path NULL)", NULL, "NULL");
    check_err(ibtpo_task_create_jsonl(jl, 48, NULL), ERR_ARG, "task_create_jsonl(out NULL)", NULL, "NULL");
    const int32_t bad_max[] = {0, -1, 65537, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof bad_max / sizeof bad_max[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "task_create_jsonl(max_tokens %ld)", (long)bad_max[i]);
        check_err(ibtpo_task_create_jsonl(jl, bad_max[i], &k), ERR_ARG, what, NULL, "max_tokens");
    }

    /* Step delimiters (the _ex creators). The oracle is the verifier itself: a solution must
     * end in an answer step, which " | " makes "3+4=7 | answer: 7" and "\n" does not. */
    const char *dl = "{\"prompt\": \"3+4\\n\", \"answer\": \"7\", \"solution\": \"3+4=7 | answer: 7\", \"split\": \"train\"}\n"
                     "{\"prompt\": \"1+1\\n\", \"answer\": \"2\", \"split\": \"test\"}\n";
    write_file(jl, (const unsigned char *)dl, strlen(dl));
    k = NULL;
    check_status(ibtpo_task_create_jsonl_ex(jl, 48, " | ", &k), IBTPO_OK,
                 "task_create_jsonl_ex(step_delimiter \" | \", solution \"3+4=7 | answer: 7\")", NULL);
    ibtpo_task_free(k);
    k = (ibtpo_task *)&passed;
    check_err(ibtpo_task_create_jsonl_ex(jl, 48, NULL, &k), IBTPO_ERR_BAD_DATA,
              "task_create_jsonl_ex(the same file, step_delimiter NULL = \\n)", NULL, "task.jsonl&1");
    check(k == NULL, "  ... creates no task (*out = NULL)", NULL);
    check_err(ibtpo_task_create_jsonl(jl, 48, &k), IBTPO_ERR_BAD_DATA, "task_create_jsonl(the same file)", NULL,
              "task.jsonl&1");
    const char *bad_delims[] = {"", "\xff\xfe", "0123456789012345678901234567890123456789012345678901234567890123x"};
    for (size_t i = 0; i < sizeof bad_delims / sizeof bad_delims[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "task_create_jsonl_ex(bad step_delimiter %zu)", i);
        check_err(ibtpo_task_create_jsonl_ex(jl, 48, bad_delims[i], &k), ERR_ARG, what, NULL, "step_delimiter");
        snprintf(what, sizeof what, "task_create_memory_ex(bad step_delimiter %zu)", i);
        const char *one[] = {"1+1\n"};
        check_err(ibtpo_task_create_memory_ex(one, NULL, NULL, NULL, 1, bad_delims[i], &k), ERR_ARG, what, NULL,
                  "step_delimiter");
    }
    {
        const char *mp[] = {"1+2\n", "2+2\n"}, *ma[] = {"3", "4"}, *ms[] = {"1+2=3;;answer: 3", "2+2=4;;answer: 4"};
        const char *bad_a[] = {"3", "4;;5"};
        const int32_t msp[] = {IBTPO_SPLIT_TRAIN, IBTPO_SPLIT_TEST};
        ibtpo_task *m = NULL;
        check_status(ibtpo_task_create_memory_ex(mp, ma, ms, msp, 2, ";;", &m), IBTPO_OK,
                     "task_create_memory_ex(step_delimiter \";;\", solutions \"1+2=3;;answer: 3\" ...)", NULL);
        char gs[64] = "";
        if (m) ibtpo_task_get_problem(m, IBTPO_SPLIT_TRAIN, 0, NULL, gs, NULL, 64);
        checkf(strcmp(gs, "1+2=3;;answer: 3") == 0, "  ... keeps the solution (got \"%s\")", gs);
        ibtpo_task_free(m);
        check_err(ibtpo_task_create_memory_ex(mp, ma, ms, msp, 2, NULL, &k), IBTPO_ERR_BAD_DATA,
                  "task_create_memory_ex(the same solutions, step_delimiter NULL = \\n)", NULL, "memory");
        check_err(ibtpo_task_create_memory_ex(mp, bad_a, NULL, msp, 2, ";;", &k), IBTPO_ERR_BAD_DATA,
                  "task_create_memory_ex(answers[1] contains the delimiter)", NULL, "delimiter");
    }
    unlink(jl);
    unlink(bad_jl);
}
