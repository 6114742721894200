/*
 * api_abort.c — test_api section: the progress callback's documented abort points. A stop
 * request at the final report of generate, score and evaluate (done == total) is ignored:
 * the call returns IBTPO_OK with the same results as without the callback. One at an
 * earlier report (done < total) stops the call with IBTPO_ERR_ABORTED.
 */
#define _POSIX_C_SOURCE 200809L

#include "api_common.h"

typedef struct {
    int64_t finals, asked; /* final reports seen; stop requests made */
    int at_final;          /* 1: ask to stop at done == total; 0: at the first report with done < total */
} final_stop;

static int32_t stop_progress(void *user, const char *phase, int64_t done, int64_t total) {
    (void)phase;
    final_stop *f = user;
    if (done == total) f->finals++;
    if (f->at_final ? done == total : done < total) {
        f->asked++;
        return 1;
    }
    return 0;
}

void test_abort_points(ibtpo_trainer *s) {
    int32_t prompt[PLEN] = {256, '3', '+', '4', '\n'};
    ibtpo_sampling_config sc = small_sampling();
    static gen_out plain, late, early;
    check_status(gen(s, prompt, 2, &sc, 21, &plain, 1), IBTPO_OK, "abort points: generate without a callback", s);
    int32_t seqs[2 * 8] = {256, '1', '+', '2', '\n', '3', 257, 258, 256, '2', '+', '2', '\n', '4', 257, 258};
    float sc_plain[16], sc_late[16];
    check_status(ibtpo_trainer_score(s, seqs, NULL, 2, 8, sc_plain), IBTPO_OK, "abort points: score without a callback", s);
    ibtpo_task *add = NULL;
    ibtpo_task_create_builtin("add", "digits=1", 3, &add);
    ibtpo_eval_config ec;
    ibtpo_eval_config_default(&ec);
    ec.count = 2, ec.k = 1, ec.sampling = sc;
    ibtpo_eval_result e_plain, e_late;
    e_plain.struct_size = e_late.struct_size = sizeof e_plain;
    check_status(ibtpo_trainer_evaluate(s, add, &ec, &e_plain), IBTPO_OK, "abort points: evaluate without a callback", s);

    final_stop f = {0, 0, 1};
    ibtpo_trainer_set_progress_fn(s, stop_progress, &f);
    check_status(gen(s, prompt, 2, &sc, 21, &late, 1), IBTPO_OK, "generate: a stop request at done == total is ignored", s);
    check(f.asked >= 1, "generate: the final report was made and asked to stop", NULL);
    check(memcmp(plain.tok, late.tok, sizeof plain.tok) == 0 && memcmp(plain.len, late.len, sizeof plain.len) == 0,
          "generate: the results are those of a call without the callback", NULL);
    f.asked = 0;
    check_status(ibtpo_trainer_score(s, seqs, NULL, 2, 8, sc_late), IBTPO_OK, "score: a stop request at done == total is ignored", s);
    check(f.asked >= 1 && memcmp(sc_plain, sc_late, sizeof sc_plain) == 0,
          "score: the final report asked to stop; the scores are those of a call without the callback", NULL);
    f.asked = 0;
    check_status(ibtpo_trainer_evaluate(s, add, &ec, &e_late), IBTPO_OK, "evaluate: a stop request at done == total is ignored", s);
    check(f.asked >= 1 && e_late.greedy_accuracy == e_plain.greedy_accuracy && e_late.avg_at_k == e_plain.avg_at_k,
          "evaluate: the final report asked to stop; the results are those of a call without the callback", NULL);

    final_stop g = {0, 0, 0};
    ibtpo_trainer_set_progress_fn(s, stop_progress, &g);
    check_status(gen(s, prompt, 2, &sc, 21, &early, 1), IBTPO_ERR_ABORTED, "generate: a stop request at done < total aborts", s);
    g.asked = 0;
    check_status(ibtpo_trainer_evaluate(s, add, &ec, &e_late), IBTPO_ERR_ABORTED, "evaluate: a stop request at done < total aborts", s);
    ibtpo_trainer_set_progress_fn(s, NULL, NULL);
    ibtpo_task_free(add);
}
