/*
 * api_trainer.c — test_api sections on one trainer handle: get_config/get_step/save/load
 * misuse, step_supervised misuse, checkpoints (bit-identical resume; every corrupt file is
 * BAD_CHECKPOINT and changes nothing), thread count (scores bit-identical for 1, 2 and 64
 * threads) and the callback setters.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, unlink, rmdir, fork, clock_gettime; no BLIS header here */

#include "api_common.h"

/* zlib-compatible CRC-32, to craft checkpoints that pass the checksum. */
static uint32_t crc32_ieee(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static void fix_crc(unsigned char *p, size_t n) {
    uint32_t c = crc32_ieee(p, n - 4);
    for (int i = 0; i < 4; i++) p[n - 4 + i] = (unsigned char)(c >> (8 * i));
}

void test_handle_misuse(ibtpo_trainer *t) {
    ibtpo_trainer_config got;
    memset(&got, 0, sizeof got);
    got.struct_size = sizeof got;
    got.model.struct_size = sizeof got.model;
    check_status(ibtpo_trainer_get_config(NULL, &got), IBTPO_ERR_INVALID_ARGUMENT, "get_config(NULL trainer)", NULL);
    check_status(ibtpo_trainer_get_config(t, NULL), IBTPO_ERR_INVALID_ARGUMENT, "get_config(NULL out)", t);
    check(*ibtpo_last_error(t) != '\0', "ibtpo_last_error(t) is set after a failed call on t", NULL);
    const uint32_t bad[] = {0, 3, (uint32_t)sizeof got - 1};
    for (int i = 0; i < 3; i++) {
        char what[96];
        got.struct_size = bad[i];
        snprintf(what, sizeof what, "get_config(out.struct_size=%lu)", (unsigned long)bad[i]);
        check_status(ibtpo_trainer_get_config(t, &got), IBTPO_ERR_INVALID_ARGUMENT, what, t);
    }
    got.struct_size = sizeof got;
    check_status(ibtpo_trainer_get_config(t, &got), IBTPO_OK, "get_config", t);
    check(*ibtpo_last_error(t) == '\0', "ibtpo_last_error(t) is \"\" after a successful call", ibtpo_last_error(t));
    ibtpo_trainer_config want = tiny_config(7);
    check(got.struct_size == sizeof got && got.model.struct_size == sizeof got.model && got.model.vocab == 259 &&
              got.model.d_model == want.model.d_model && got.model.n_layers == want.model.n_layers &&
              got.model.n_heads == want.model.n_heads && got.model.n_kv_heads == want.model.n_kv_heads &&
              got.model.d_ff == want.model.d_ff && got.model.max_seq == want.model.max_seq &&
              got.model.rope_theta == want.model.rope_theta && got.model.norm_eps == want.model.norm_eps &&
              got.model.tie_embeddings == want.model.tie_embeddings && got.batch == want.batch &&
              got.seq == want.seq && got.threads == want.threads && got.seed == want.seed && got.lr == want.lr &&
              got.min_lr == want.min_lr && got.warmup_steps == want.warmup_steps &&
              got.total_steps == want.total_steps && got.beta1 == want.beta1 && got.beta2 == want.beta2 &&
              got.adam_eps == want.adam_eps && got.weight_decay == want.weight_decay &&
              got.grad_clip == want.grad_clip,
          "get_config returns the creation config", NULL);

    int64_t s = -1;
    check_status(ibtpo_trainer_get_step(NULL, &s), IBTPO_ERR_INVALID_ARGUMENT, "get_step(NULL trainer)", NULL);
    check_status(ibtpo_trainer_get_step(t, NULL), IBTPO_ERR_INVALID_ARGUMENT, "get_step(NULL out)", t);
    check_status(ibtpo_trainer_get_step(t, &s), IBTPO_OK, "get_step", t);
    check(s == 0, "a new trainer is at step 0", NULL);

    check_status(ibtpo_trainer_save(NULL, "x.ckpt"), IBTPO_ERR_INVALID_ARGUMENT, "save(NULL trainer)", NULL);
    check_status(ibtpo_trainer_save(t, NULL), IBTPO_ERR_INVALID_ARGUMENT, "save(NULL path)", t);
    check_status(ibtpo_trainer_save(t, ""), IBTPO_ERR_IO, "save(\"\")", t);
    check_status(ibtpo_trainer_save(t, "/nonexistent-ibtpo-dir/x.ckpt"), IBTPO_ERR_IO, "save(path in missing dir)", t);
    check_status(ibtpo_trainer_load(NULL, "x.ckpt"), IBTPO_ERR_INVALID_ARGUMENT, "load(NULL trainer)", NULL);
    check_status(ibtpo_trainer_load(t, NULL), IBTPO_ERR_INVALID_ARGUMENT, "load(NULL path)", t);
    check_status(ibtpo_trainer_load(t, ""), IBTPO_ERR_IO, "load(\"\")", t);
    check_status(ibtpo_trainer_load(t, "/nonexistent-ibtpo-dir/x.ckpt"), IBTPO_ERR_IO, "load(missing file)", t);
    check_status(ibtpo_trainer_load(t, scratch), IBTPO_ERR_IO, "load(a directory)", t);
    check(get_step(t) == 0, "failed save/load calls leave the step at 0", NULL);

    ibtpo_trainer_free(NULL);
    check(1, "ibtpo_trainer_free(NULL) is a no-op", NULL);
}

void test_step_misuse(ibtpo_trainer *t) {
    int32_t tok[NTOK], tgt[NTOK];
    float w[NTOK];
    make_batch(tok, tgt, w, 1);
    ibtpo_step_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    int64_t before = get_step(t);

    check_status(ibtpo_trainer_step_supervised(NULL, tok, tgt, w, 2, 8, &st), IBTPO_ERR_INVALID_ARGUMENT,
                 "step_supervised(NULL trainer)", NULL);
    check_status(ibtpo_trainer_step_supervised(t, NULL, tgt, w, 2, 8, &st), IBTPO_ERR_INVALID_ARGUMENT,
                 "step_supervised(NULL tokens)", t);
    check_status(ibtpo_trainer_step_supervised(t, tok, NULL, w, 2, 8, &st), IBTPO_ERR_INVALID_ARGUMENT,
                 "step_supervised(NULL targets)", t);
    const int64_t shapes[][2] = {{0, 8}, {2, 0}, {-1, 8}, {2, -8}, {1, 8}, {2, 7}, {4, 4}, {INT64_MAX, 8},
                                 {2, INT64_MAX}, {INT64_MIN, INT64_MIN}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        char what[128];
        snprintf(what, sizeof what, "step_supervised(n_seqs=%lld, seq_len=%lld)", (long long)shapes[i][0],
                 (long long)shapes[i][1]);
        check_status(ibtpo_trainer_step_supervised(t, tok, tgt, w, shapes[i][0], shapes[i][1], &st),
                     IBTPO_ERR_INVALID_ARGUMENT, what, t);
    }
    const uint32_t bad[] = {0, 3, (uint32_t)sizeof st - 1};
    for (int i = 0; i < 3; i++) {
        char what[96];
        st.struct_size = bad[i];
        snprintf(what, sizeof what, "step_supervised(out.struct_size=%lu)", (unsigned long)bad[i]);
        check_status(ibtpo_trainer_step_supervised(t, tok, tgt, w, 2, 8, &st), IBTPO_ERR_INVALID_ARGUMENT, what, t);
    }
    st.struct_size = sizeof st;

    /* Out-of-range inputs: must fail with BAD_DATA and leave the step counter unchanged. */
    const int32_t bad_tok[] = {259, -1, INT32_MAX, INT32_MIN};
    for (int i = 0; i < 4; i++) {
        char what[96];
        int32_t tk[NTOK];
        memcpy(tk, tok, sizeof tk);
        tk[NTOK - 1 - i] = bad_tok[i];
        snprintf(what, sizeof what, "step_supervised(token %ld out of range)", (long)bad_tok[i]);
        check_status(ibtpo_trainer_step_supervised(t, tk, tgt, w, 2, 8, &st), IBTPO_ERR_BAD_DATA, what, t);
    }
    const int32_t bad_tgt[] = {259, -2, INT32_MAX};
    for (int i = 0; i < 3; i++) {
        char what[96];
        int32_t tg[NTOK];
        memcpy(tg, tgt, sizeof tg);
        tg[3 + i] = bad_tgt[i];
        snprintf(what, sizeof what, "step_supervised(target %ld out of range)", (long)bad_tgt[i]);
        check_status(ibtpo_trainer_step_supervised(t, tok, tg, w, 2, 8, &st), IBTPO_ERR_BAD_DATA, what, t);
    }
    const float bad_w[] = {-1.0f, NAN, INFINITY, -INFINITY, 1e31f};
    for (int i = 0; i < 5; i++) {
        char what[96];
        float ww[NTOK];
        memcpy(ww, w, sizeof ww);
        ww[i] = bad_w[i];
        snprintf(what, sizeof what, "step_supervised(weight %g)", (double)bad_w[i]);
        check_status(ibtpo_trainer_step_supervised(t, tok, tgt, ww, 2, 8, &st), IBTPO_ERR_BAD_DATA, what, t);
    }
    check(get_step(t) == before, "failed supervised steps leave the step counter unchanged", NULL);

    check_status(ibtpo_trainer_step_supervised(t, tok, tgt, NULL, 2, 8, NULL), IBTPO_OK,
                 "step_supervised(weights NULL, out NULL)", t);
    check(get_step(t) == before + 1, "a successful step advances the step counter by 1", NULL);
    check_status(ibtpo_trainer_step_supervised(t, tok, tgt, w, 2, 8, &st), IBTPO_OK, "step_supervised(weights)", t);
    check(st.struct_size == sizeof st && st.step == before + 2 && isfinite(st.loss) && st.loss > 0 &&
              isfinite(st.grad_norm) && st.lr > 0 && st.tokens == 14 && st.seconds >= 0,
          "step stats are filled in (step, finite loss, grad norm, lr, 14 targets)", NULL);
}

/* Save after one step; continuing on trainer A and loading into a fresh trainer B must
 * produce bit-identical further steps. Failed loads in between must change nothing. */
void test_checkpoints(void) {
    char ck[4200], bad[4200], other[4200];
    path_in_scratch(ck, sizeof ck, "a.ckpt");
    path_in_scratch(bad, sizeof bad, "bad.ckpt");
    path_in_scratch(other, sizeof other, "other.ckpt");
    int32_t tok[NTOK], tgt[NTOK], tok2[NTOK], tgt2[NTOK];
    float w[NTOK], w2[NTOK];
    make_batch(tok, tgt, w, 11);
    make_batch(tok2, tgt2, w2, 22);

    ibtpo_trainer_config ca = tiny_config(7), cb = tiny_config(99); /* another seed: load must overwrite init */
    ibtpo_trainer *a = NULL, *b = NULL, *o = NULL;
    check_status(ibtpo_trainer_create(&ca, &a), IBTPO_OK, "create trainer A", NULL);
    check_status(ibtpo_trainer_create(&cb, &b), IBTPO_OK, "create trainer B (other seed)", NULL);
    if (!a || !b) { ibtpo_trainer_free(a); ibtpo_trainer_free(b); return; }

    ibtpo_step_stats sa1, sa2, sb1, sb2;
    memset(&sa1, 0, sizeof sa1);
    sa1.struct_size = sizeof sa1;
    sa2 = sb1 = sb2 = sa1;
    check_status(ibtpo_trainer_step_supervised(a, tok, tgt, w, 2, 8, NULL), IBTPO_OK, "A: step 1", a);
    check_status(ibtpo_trainer_save(a, ck), IBTPO_OK, "A: save after step 1", a);
    check_status(ibtpo_trainer_step_supervised(a, tok2, tgt2, w2, 2, 8, &sa1), IBTPO_OK, "A: step 2", a);
    check_status(ibtpo_trainer_step_supervised(a, tok, tgt, NULL, 2, 8, &sa2), IBTPO_OK, "A: step 3", a);

    check_status(ibtpo_trainer_load(b, ck), IBTPO_OK, "B: load A's checkpoint", b);
    check(get_step(b) == 1, "B: step is 1 after load", NULL);

    /* Corrupt inputs: every one must be BAD_CHECKPOINT, and B must stay as loaded. */
    size_t n = 0;
    unsigned char *good = read_file(ck, &n);
    check(good != NULL && n > 200, "read back the checkpoint file", NULL);
    if (good && n > 200) {
        unsigned char *buf = malloc(n + 16);
        const char *text = "this is not a checkpoint\n";
        write_file(bad, (const unsigned char *)text, strlen(text));
        check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, "load(text file)", b);
        write_file(bad, good, 0);
        check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, "load(empty file)", b);
        const size_t cuts[] = {3, 8, 16, 100, n / 2, n - 5, n - 1};
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            char what[96];
            write_file(bad, good, cuts[i]);
            snprintf(what, sizeof what, "load(truncated to %lu of %lu bytes)", (unsigned long)cuts[i],
                     (unsigned long)n);
            check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, what, b);
        }
        memcpy(buf, good, n);
        buf[n / 2] ^= 0x10;
        write_file(bad, buf, n);
        check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, "load(one flipped bit)", b);
        memcpy(buf, good, n);
        memcpy(buf + n, "trailing", 8);
        write_file(bad, buf, n + 8);
        check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, "load(trailing bytes)", b);
        memcpy(buf, good, n);
        buf[0] = 'X';
        fix_crc(buf, n);
        write_file(bad, buf, n);
        check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, "load(bad magic, valid CRC)", b);
        memcpy(buf, good, n);
        buf[8] = 2; /* format version */
        fix_crc(buf, n);
        write_file(bad, buf, n);
        check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, "load(format version 2, valid CRC)", b);
        memcpy(buf, good, n);
        memset(buf + 96, 0xFF, 8); /* step = 2^64-1 */
        fix_crc(buf, n);
        write_file(bad, buf, n);
        check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, "load(step 2^64-1, valid CRC)", b);
        memcpy(buf, good, n);
        memset(buf + 16, 0xFF, 8); /* vocab = -1 */
        fix_crc(buf, n);
        write_file(bad, buf, n);
        check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, "load(vocab -1, valid CRC)", b);
        memcpy(buf, good, n);
        memset(buf + 96 + 8 + 32, 0xFF, 4); /* tensor count = 2^32-1 */
        fix_crc(buf, n);
        write_file(bad, buf, n);
        check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, "load(tensor count 2^32-1, valid CRC)", b);
        memcpy(buf, good, n);
        memset(buf + 96 + 8 + 32 + 4, 0xFF, 4); /* first name length = 2^32-1 */
        fix_crc(buf, n);
        write_file(bad, buf, n);
        check_status(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, "load(name length 2^32-1, valid CRC)", b);
        free(buf);
        unlink(bad);
    }
    free(good);

    /* Another configuration: IBTPO_ERR_CONFIG_MISMATCH in both directions. */
    ibtpo_trainer_config co = tiny_config(7);
    co.model.d_model = 64;
    check_status(ibtpo_trainer_create(&co, &o), IBTPO_OK, "create trainer O (d_model 64)", NULL);
    if (o) {
        check_status(ibtpo_trainer_load(o, ck), IBTPO_ERR_CONFIG_MISMATCH, "O: load A's checkpoint", o);
        check(get_step(o) == 0, "O: step unchanged after the mismatch", NULL);
        check_status(ibtpo_trainer_save(o, other), IBTPO_OK, "O: save", o);
        check_status(ibtpo_trainer_load(b, other), IBTPO_ERR_CONFIG_MISMATCH, "B: load O's checkpoint", b);
        ibtpo_trainer_free(o);
        unlink(other);
    }
    check(get_step(b) == 1, "B: step still 1 after the failed loads", NULL);

    check_status(ibtpo_trainer_step_supervised(b, tok2, tgt2, w2, 2, 8, &sb1), IBTPO_OK, "B: step 2", b);
    check_status(ibtpo_trainer_step_supervised(b, tok, tgt, NULL, 2, 8, &sb2), IBTPO_OK, "B: step 3", b);
    char detail[256];
    snprintf(detail, sizeof detail, "A %.9g %.9g / B %.9g %.9g", (double)sa1.loss, (double)sa2.loss, (double)sb1.loss,
             (double)sb2.loss);
    check(same_bits(sa1.loss, sb1.loss) && same_bits(sa2.loss, sb2.loss),
          "losses after load are bit-identical to continuing (2 steps)", detail);
    check(same_bits(sa1.grad_norm, sb1.grad_norm) && same_bits(sa2.grad_norm, sb2.grad_norm) &&
              same_bits(sa1.lr, sb1.lr) && sa2.step == sb2.step && sb2.step == 3,
          "grad norms, lr and step after load match continuing", NULL);

    ibtpo_trainer_free(a);
    ibtpo_trainer_free(b);
    unlink(ck);
}

/* ---- threads --------------------------------------------------------------------------- */

void test_threads(ibtpo_trainer *t) {
    int32_t th = -7;
    check_err(ibtpo_trainer_get_threads(NULL, &th), ERR_ARG, "get_threads(NULL trainer)", NULL, "NULL");
    check_err(ibtpo_trainer_get_threads(t, NULL), ERR_ARG, "get_threads(NULL out_threads)", t, "NULL");
    check_status(ibtpo_trainer_get_threads(t, &th), IBTPO_OK, "get_threads", t);
    check(th == 1, "get_threads returns the creation config's 1", NULL);
    check_err(ibtpo_trainer_set_threads(NULL, 2), ERR_ARG, "set_threads(NULL trainer, 2)", NULL, "NULL");
    const int32_t bad[] = {0, -1, 65, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "set_threads(%ld)", (long)bad[i]);
        check_err(ibtpo_trainer_set_threads(t, bad[i]), ERR_ARG, what, t, "threads");
    }
    th = -7;
    ibtpo_trainer_get_threads(t, &th);
    checkf(th == 1, "failed set_threads calls leave the thread count at 1 (got %d)", (int)th);

    float fp1[FP_N], fp2[FP_N], fp64[FP_N];
    check_status(fingerprint(t, fp1), IBTPO_OK, "score the fingerprint rows with 1 thread", t);
    check_status(ibtpo_trainer_set_threads(t, 2), IBTPO_OK, "set_threads(2)", t);
    ibtpo_trainer_get_threads(t, &th);
    checkf(th == 2, "get_threads returns 2 after set_threads(2) (got %d)", (int)th);
    check_status(fingerprint(t, fp2), IBTPO_OK, "score the fingerprint rows with 2 threads", t);
    checkf(same_float_bits(fp1, fp2, FP_N), "score: %d log-probs bit-identical with 1 and 2 threads", FP_N);
    check_status(ibtpo_trainer_set_threads(t, 64), IBTPO_OK, "set_threads(64) (the maximum)", t);
    check_status(fingerprint(t, fp64), IBTPO_OK, "score the fingerprint rows with 64 threads", t);
    checkf(same_float_bits(fp1, fp64, FP_N), "score: %d log-probs bit-identical with 1 and 64 threads", FP_N);
    check_status(ibtpo_trainer_set_threads(t, 1), IBTPO_OK, "set_threads(1)", t);
}

/* ---- callbacks: setters -------------------------------------------------------------- */

void test_callback_setters(ibtpo_trainer *t) {
    reward_state r;
    log_state l;
    progress_state p;
    check_err(ibtpo_trainer_set_reward_fn(NULL, test_reward, &r), ERR_ARG, "set_reward_fn(NULL trainer)", NULL, "NULL");
    check_err(ibtpo_trainer_set_log_fn(NULL, test_log, &l), ERR_ARG, "set_log_fn(NULL trainer)", NULL, "NULL");
    check_err(ibtpo_trainer_set_progress_fn(NULL, test_progress, &p), ERR_ARG, "set_progress_fn(NULL trainer)", NULL,
              "NULL");
    check_status(ibtpo_trainer_set_reward_fn(t, NULL, NULL), IBTPO_OK, "set_reward_fn(fn NULL) removes (none set)", t);
    check_status(ibtpo_trainer_set_log_fn(t, NULL, &l), IBTPO_OK, "set_log_fn(fn NULL) removes (none set)", t);
    check_status(ibtpo_trainer_set_progress_fn(t, NULL, NULL), IBTPO_OK, "set_progress_fn(fn NULL) removes", t);
}
