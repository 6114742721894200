/*
 * api_tokenizer.c — test_api section: ibtpo_tokenize / ibtpo_detokenize (round trip of all
 * 256 bytes, size queries, misuse) and the per-thread last error.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, unlink, rmdir, fork, clock_gettime; no BLIS header here */

#include "api_common.h"

#include <pthread.h>

/* ---- tokenizer --------------------------------------------------------------------------- */

static void *tok_thread(void *arg) {
    int64_t n = 0;
    ibtpo_status s = ibtpo_tokenize(NULL, 3, 0, NULL, 0, &n); /* fails on this thread */
    ((int *)arg)[0] = s == ERR_ARG && *ibtpo_last_error(NULL) != '\0';
    return NULL;
}

void test_tokenizer(void) {
    const char text[] = {'a', '\0', 'b', (char)0xFF, '\n'};
    const int32_t want[] = {IBTPO_TOKEN_BOS, 'a', 0, 'b', 255, '\n'};
    int32_t out[16];
    int64_t n = -1;
    check_status(ibtpo_tokenize(text, 5, 1, out, 16, &n), IBTPO_OK, "tokenize(\"a\\0b\\xff\\n\", BOS)", NULL);
    checkf(n == 6 && memcmp(out, want, sizeof want) == 0, "tokenize: [BOS, 'a', 0, 'b', 255, '\\n'] (%lld tokens)",
           (long long)n);
    n = -1;
    check_status(ibtpo_tokenize(text, 5, 0, out, 16, &n), IBTPO_OK, "tokenize(no BOS)", NULL);
    checkf(n == 5 && memcmp(out, want + 1, 5 * sizeof *out) == 0, "tokenize without BOS: the 5 bytes (%lld tokens)",
           (long long)n);

    /* size query: capacity 0 / too small -> INVALID_ARGUMENT, *out_len = tokens needed, nothing written */
    n = -1;
    check_err(ibtpo_tokenize(text, 5, 1, NULL, 0, &n), ERR_ARG, "tokenize size query (out NULL, capacity 0)", NULL,
              "capacity");
    checkf(n == 6, "  ... sets *out_len to the 6 tokens needed (got %lld)", (long long)n);
    for (int i = 0; i < 16; i++) out[i] = -77;
    n = -1;
    check_err(ibtpo_tokenize(text, 5, 1, out, 5, &n), ERR_ARG, "tokenize(capacity 5 < 6 needed)", NULL, "capacity");
    int untouched = 1;
    for (int i = 0; i < 16; i++) untouched &= out[i] == -77;
    checkf(n == 6 && untouched, "  ... sets *out_len = 6 (got %lld) and writes nothing", (long long)n);
    n = -1;
    check_status(ibtpo_tokenize(text, 5, 1, out, 6, &n), IBTPO_OK, "tokenize(capacity exactly 6)", NULL);
    check(n == 6 && memcmp(out, want, sizeof want) == 0 && out[6] == -77, "  ... writes exactly 6 tokens", NULL);
    n = -1;
    check_status(ibtpo_tokenize("", 0, 0, NULL, 0, &n), IBTPO_OK, "tokenize(len 0, no BOS, out NULL, capacity 0)", NULL);
    checkf(n == 0, "  ... needs 0 tokens (got %lld)", (long long)n);
    n = -1;
    check_status(ibtpo_tokenize("", 0, 1, out, 16, &n), IBTPO_OK, "tokenize(len 0, BOS)", NULL);
    checkf(n == 1 && out[0] == IBTPO_TOKEN_BOS, "  ... is [BOS] (%lld tokens)", (long long)n);

    check_err(ibtpo_tokenize(NULL, 5, 1, out, 16, &n), ERR_ARG, "tokenize(text NULL, len 5)", NULL, "NULL");
    check_err(ibtpo_tokenize(text, -1, 1, out, 16, &n), ERR_ARG, "tokenize(len -1)", NULL, "len");
    check_err(ibtpo_tokenize(text, INT64_MIN, 1, out, 16, &n), ERR_ARG, "tokenize(len INT64_MIN)", NULL, "len");
    check_err(ibtpo_tokenize(text, INT64_MAX, 1, out, 16, &n), ERR_ARG, "tokenize(len INT64_MAX, BOS: overflow)", NULL,
              NULL);
    check_err(ibtpo_tokenize(text, 5, 2, out, 16, &n), ERR_ARG, "tokenize(add_bos 2)", NULL, "add_bos");
    check_err(ibtpo_tokenize(text, 5, -1, out, 16, &n), ERR_ARG, "tokenize(add_bos -1)", NULL, "add_bos");
    check_err(ibtpo_tokenize(text, 5, 1, NULL, 16, &n), ERR_ARG, "tokenize(out NULL, capacity 16)", NULL, "NULL");
    check_err(ibtpo_tokenize(text, 5, 1, out, -1, &n), ERR_ARG, "tokenize(capacity -1)", NULL, "capacity");
    check_err(ibtpo_tokenize(text, 5, 1, out, INT64_MIN, &n), ERR_ARG, "tokenize(capacity INT64_MIN)", NULL,
              "capacity");
    check_err(ibtpo_tokenize(text, 5, 1, out, 16, NULL), ERR_ARG, "tokenize(out_len NULL)", NULL, "NULL");

    /* detokenize: round trip with the NUL byte, then the size-query contract */
    char buf[64];
    int64_t m = -1;
    memset(buf, 'Z', sizeof buf);
    check_status(ibtpo_detokenize(want, 6, buf, 64, &m), IBTPO_OK, "detokenize the tokens of \"a\\0b\\xff\\n\"", NULL);
    checkf(m == 5 && memcmp(buf, text, 5) == 0 && buf[5] == '\0', "round trip: 5 bytes back, NUL byte kept, "
           "NUL-terminated (%lld bytes)", (long long)m);
    memset(buf, 'Z', sizeof buf);
    m = -1;
    check_err(ibtpo_detokenize(want, 6, buf, 5, &m), ERR_ARG, "detokenize(capacity 5 < 5 bytes + NUL)", NULL,
              "capacity");
    checkf(m == 5 && buf[0] == 'Z' && buf[4] == 'Z', "  ... sets *out_len = 5 (got %lld) and writes nothing",
           (long long)m);
    m = -1;
    check_err(ibtpo_detokenize(want, 6, NULL, 0, &m), ERR_ARG, "detokenize size query (out NULL, capacity 0)", NULL,
              "capacity");
    checkf(m == 5, "  ... sets *out_len = 5 (got %lld)", (long long)m);
    m = -1;
    check_status(ibtpo_detokenize(want, 6, buf, 6, &m), IBTPO_OK, "detokenize(capacity exactly 6)", NULL);
    check(m == 5 && buf[5] == '\0' && buf[6] == 'Z', "  ... writes 5 bytes and the NUL, nothing after", NULL);
    const int32_t special[] = {IBTPO_TOKEN_BOS, 'h', 'i', IBTPO_TOKEN_PAD, '!', IBTPO_TOKEN_EOS, 'x', 'y'};
    m = -1;
    check_status(ibtpo_detokenize(special, 8, buf, 64, &m), IBTPO_OK, "detokenize([BOS h i PAD ! EOS x y])", NULL);
    checkf(m == 3 && strcmp(buf, "hi!") == 0, "  ... drops BOS/PAD and stops at EOS: \"%s\" (%lld bytes)", buf,
           (long long)m);
    m = -1;
    check_status(ibtpo_detokenize(special, 0, buf, 1, &m), IBTPO_OK, "detokenize(n 0, capacity 1)", NULL);
    check(m == 0 && buf[0] == '\0', "  ... gives \"\"", NULL);
    int32_t all[256];
    char bytes[257];
    for (int i = 0; i < 256; i++) all[i] = i, bytes[i] = (char)i;
    n = m = -1;
    int32_t tk[300];
    ibtpo_status s1 = ibtpo_tokenize(bytes, 256, 0, tk, 300, &n);
    char back[300];
    ibtpo_status s2 = ibtpo_detokenize(tk, n > 0 ? n : 0, back, 300, &m);
    checkf(s1 == IBTPO_OK && s2 == IBTPO_OK && n == 256 && memcmp(tk, all, sizeof all) == 0 && m == 256 &&
               memcmp(back, bytes, 256) == 0,
           "all 256 byte values: token t == byte t and the round trip is exact");

    const int32_t after_eos[] = {'o', 'k', IBTPO_TOKEN_EOS, 999};
    check_err(ibtpo_detokenize(after_eos, 4, buf, 64, &m), ERR_ARG, "detokenize(token 999 after the EOS)", NULL, "999");
    const int32_t bad1[] = {'a', 259, 'b'}, bad2[] = {'a', -1, 'b'}, bad3[] = {INT32_MAX};
    check_err(ibtpo_detokenize(bad1, 3, buf, 64, &m), ERR_ARG, "detokenize(token 259)", NULL, "259");
    check_err(ibtpo_detokenize(bad2, 3, buf, 64, &m), ERR_ARG, "detokenize(token -1)", NULL, "-1");
    check_err(ibtpo_detokenize(bad3, 1, buf, 64, &m), ERR_ARG, "detokenize(token INT32_MAX)", NULL, "2147483647");
    check_err(ibtpo_detokenize(NULL, 3, buf, 64, &m), ERR_ARG, "detokenize(tokens NULL, n 3)", NULL, "NULL");
    check_err(ibtpo_detokenize(want, -1, buf, 64, &m), ERR_ARG, "detokenize(n -1)", NULL, NULL);
    check_err(ibtpo_detokenize(want, INT64_MIN, buf, 64, &m), ERR_ARG, "detokenize(n INT64_MIN)", NULL, NULL);
    check_err(ibtpo_detokenize(want, INT64_MAX, buf, 64, &m), ERR_ARG, "detokenize(n INT64_MAX: byte size overflows)",
              NULL, NULL);
    check_err(ibtpo_detokenize(want, 6, NULL, 64, &m), ERR_ARG, "detokenize(out NULL, capacity 64)", NULL, "NULL");
    check_err(ibtpo_detokenize(want, 6, buf, -1, &m), ERR_ARG, "detokenize(capacity -1)", NULL, "capacity");
    check_err(ibtpo_detokenize(want, 6, buf, 64, NULL), ERR_ARG, "detokenize(out_len NULL)", NULL, "NULL");

    /* ibtpo_last_error(NULL) is per thread: a failure on another thread does not change ours. */
    ibtpo_tokenize(text, 5, 7, out, 16, &n); /* add_bos 7: our own error */
    char mine[256];
    snprintf(mine, sizeof mine, "%s", ibtpo_last_error(NULL));
    int other_ok = 0;
    pthread_t th;
    if (pthread_create(&th, NULL, tok_thread, &other_ok) == 0) pthread_join(th, NULL);
    checkf(other_ok && strcmp(mine, ibtpo_last_error(NULL)) == 0,
           "ibtpo_last_error(NULL) is per thread (ours still \"%.60s\" after another thread failed)", mine);
}
