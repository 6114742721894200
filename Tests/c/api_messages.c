/*
 * api_messages.c — test_api section: error messages name things that exist. An embedded
 * struct's bad struct_size names its enclosing struct's filler (there is no
 * ibtpo_rl_config.sampling_default()); ibtpo_last_error(trainer) is "" after a successful
 * call; ibtpo_last_error(NULL) keeps the last handle-less failure, as documented.
 */
#define _POSIX_C_SOURCE 200809L

#include "api_common.h"

void test_messages(void) {
    ibtpo_trainer_config c = small_config(2, 1);
    ibtpo_trainer *t = NULL;
    ibtpo_task *add = NULL;
    check_status(ibtpo_trainer_create(&c, &t), IBTPO_OK, "messages: trainer_create", NULL);
    check_status(ibtpo_task_create_builtin("add", "digits=1", 3, &add), IBTPO_OK, "messages: task add", NULL);
    if (!t || !add) { ibtpo_trainer_free(t); ibtpo_task_free(add); return; }

    ibtpo_rl_config r = small_rl(IBTPO_ALGO_GRPO);
    r.sampling.struct_size = 0;
    check_err(ibtpo_trainer_rl_begin(t, add, &r, NULL), ERR_ARG, "rl_begin(sampling.struct_size 0)", t,
              "ibtpo_rl_config.sampling.struct_size&ibtpo_rl_config_default()&embedded");
    check(strstr(ibtpo_last_error(t), "sampling_default") == NULL,
          "the message does not name a nonexistent ibtpo_rl_config.sampling_default()", ibtpo_last_error(t));
    ibtpo_eval_config ec;
    ibtpo_eval_config_default(&ec);
    ec.sampling.struct_size = 3;
    ibtpo_eval_result er;
    er.struct_size = sizeof er;
    check_err(ibtpo_trainer_evaluate(t, add, &ec, &er), ERR_ARG, "evaluate(sampling.struct_size 3)", t,
              "ibtpo_eval_config_default()&embedded");
    r.sampling.struct_size = 3, r.struct_size = 0;
    check_err(ibtpo_trainer_rl_begin(t, add, &r, NULL), ERR_ARG, "rl_begin(struct_size 0)", t,
              "ibtpo_rl_config.struct_size&sizeof(ibtpo_rl_config)&ibtpo_rl_config_default()");

    int64_t step = -1;
    check_status(ibtpo_trainer_get_step(t, &step), IBTPO_OK, "messages: get_step after the failures", t);
    check(*ibtpo_last_error(t) == '\0', "ibtpo_last_error(trainer) is \"\" after a successful call", ibtpo_last_error(t));

    ibtpo_task *none = NULL;
    check_err(ibtpo_task_create_builtin("no-such-task", NULL, 1, &none), ERR_ARG, "task_create_builtin(unknown name)",
              NULL, "no-such-task");
    char kept[256];
    snprintf(kept, sizeof kept, "%s", ibtpo_last_error(NULL));
    ibtpo_task *again = NULL;
    check_status(ibtpo_task_create_builtin("add", NULL, 1, &again), IBTPO_OK, "messages: a successful handle-less call", NULL);
    check(strcmp(ibtpo_last_error(NULL), kept) == 0,
          "ibtpo_last_error(NULL) still holds the last handle-less failure after a success (documented)", ibtpo_last_error(NULL));
    ibtpo_task_free(again);
    ibtpo_task_free(add);
    ibtpo_trainer_free(t);
}
