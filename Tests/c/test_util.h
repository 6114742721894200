/*
 * test_util.h — helpers shared by the C tests of libibtpo (test_api: test_api_main.c and
 * api_*.c; test_misuse.c; test_two_trainers.c). Static inline, strict C99; the check counters
 * are defined once, in test_util.c, which every C test links.
 *
 * Output convention: one line per check, "ok   <what>" or "FAIL <what> -- <detail>";
 * lines starting with "# " are notes (numbers, timings) that `make` shows even when it
 * hides the "ok" lines; the last line is "N passed, M failed".
 */
#ifndef IBTPO_TEST_UTIL_H
#define IBTPO_TEST_UTIL_H

#include "ibtpo.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The scratch directory of a C test: argv[1] when given, else a fresh directory
 * $TMPDIR/<prefix>-XXXXXX (or /tmp). Writes it into out; returns 0, or -1 after perror. */
int tu_scratch_dir(char *out, size_t size, int argc, char **argv, const char *prefix);

/* Checks passed and failed so far (defined in test_util.c). */
extern int tu_passed, tu_failed;

static inline void check(int ok, const char *what, const char *detail) {
    if (ok) {
        tu_passed++;
        printf("ok   %s\n", what);
    } else {
        tu_failed++;
        printf("FAIL %s%s%s\n", what, detail ? " -- " : "", detail ? detail : "");
    }
    fflush(stdout);
}

/* printf-style check: the message is formatted once and used for both outcomes. */
static inline void checkf(int ok, const char *fmt, ...) {
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    check(ok, what, NULL);
}

/* A "# " note line (shown by make even when ok lines are filtered out). */
static inline void note(const char *fmt, ...) {
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* Checks that `got` equals `want`, printing both codes and the relevant last error. */
static inline void check_status(ibtpo_status got, ibtpo_status want, const char *what, const ibtpo_trainer *t) {
    char detail[2600];
    snprintf(detail, sizeof detail, "got %d (%s), want %d (%s); last error: %s", (int)got, ibtpo_status_string(got),
             (int)want, ibtpo_status_string(want), ibtpo_last_error(t));
    check(got == want, what, detail);
}

/* Case-insensitive substring search (the keyword naming the problem may be capitalised);
 * '_' in the needle also matches a space ("group_size" matches "group size"). */
static inline int contains_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    if (n == 0) return 1;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               (tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]) || (needle[i] == '_' && hay[i] == ' ')))
            i++;
        if (i == n) return 1;
    }
    return 0;
}

/* 1 if `hay` contains every '&'-separated word of `keywords` (case-insensitive). */
static inline int contains_all_ci(const char *hay, const char *keywords) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", keywords);
    for (char *w = buf, *amp; w; w = amp ? amp + 1 : NULL) {
        amp = strchr(w, '&');
        if (amp) *amp = '\0';
        if (!contains_ci(hay, w)) return 0;
    }
    return 1;
}

/* A failing call: the status must be `want`, and ibtpo_last_error(t) must be non-empty and
 * contain every '&'-separated word of `keyword` (case-insensitive; NULL = only non-empty).
 * One check line. */
static inline void check_err(ibtpo_status got, ibtpo_status want, const char *what, const ibtpo_trainer *t,
                             const char *keyword) {
    const char *e = ibtpo_last_error(t);
    char line[3400];
    int named = e && *e && (!keyword || contains_all_ci(e, keyword));
    snprintf(line, sizeof line, "%s -> %s, error \"%.200s\"%s%s%s", what, ibtpo_status_string(got), e ? e : "(NULL)",
             keyword ? " (names '" : "", keyword ? keyword : "", keyword ? "')" : "");
    if (got == want && named) {
        check(1, line, NULL);
    } else {
        char detail[256];
        snprintf(detail, sizeof detail, "want %s%s", ibtpo_status_string(want),
                 named ? "" : (e && *e ? " and a message naming the problem" : " and a non-empty last error"));
        check(0, line, detail);
    }
}

static inline int same_float_bits(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof *a) == 0;
}

static inline double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline unsigned char *tu_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) { fclose(f); return NULL; }
    for (;;) {
        if (len == cap) {
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); fclose(f); return NULL; }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    fclose(f);
    *n = len;
    return buf;
}

/* 1 if both files exist and are byte-for-byte equal; *size gets the first file's size. */
static inline int files_equal(const char *a, const char *b, size_t *size) {
    size_t na = 0, nb = 0;
    unsigned char *x = tu_read_file(a, &na), *y = tu_read_file(b, &nb);
    int eq = x && y && na == nb && memcmp(x, y, na) == 0;
    if (size) *size = na;
    free(x);
    free(y);
    return eq;
}

/* The small model of the task-level tests: d_model 32, 2 layers, sequences of up to 48
 * tokens (enough for 1-digit addition: BOS + "9+9\n" + "9+9+0=18\nanswer: 18" + EOS = 25),
 * 8 rollout slots. Constant learning rate after 2 warmup steps. */
static inline ibtpo_trainer_config small_config(uint64_t seed, int32_t threads) {
    ibtpo_trainer_config c;
    ibtpo_trainer_config_default(&c);
    c.model.d_model = 32;
    c.model.n_layers = 2;
    c.model.n_heads = 2;
    c.model.n_kv_heads = 1;
    c.model.d_ff = 64;
    c.model.max_seq = 48;
    c.batch = 4;
    c.seq = 32;
    c.threads = threads;
    c.seed = seed;
    c.lr = 3e-3f;
    c.min_lr = 3e-3f;
    c.warmup_steps = 2;
    c.total_steps = 0;
    c.rollout_slots = 8;
    return c;
}

/* Rollout sampling for the small model: the paper's filters, 24 new tokens. */
static inline ibtpo_sampling_config small_sampling(void) {
    ibtpo_sampling_config s;
    ibtpo_sampling_config_default(&s);
    s.max_new_tokens = 24;
    return s;
}

/* 1 if the completion's last line (one trailing "\n" allowed) is exactly "answer: <answer>".
 * Works on raw bytes: the completion may contain NUL bytes. */
static inline int answer_line_matches(const char *completion, int64_t len, const char *answer) {
    int64_t end = len;
    if (end > 0 && completion[end - 1] == '\n') end--;
    int64_t start = end;
    while (start > 0 && completion[start - 1] != '\n') start--;
    size_t al = strlen(answer);
    return end - start == (int64_t)(8 + al) && memcmp(completion + start, "answer: ", 8) == 0 &&
           memcmp(completion + start + 8, answer, al) == 0;
}

/* Checks that every float is finite and prints the first bad one. */
static inline int all_finite_d(const double *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

#endif /* IBTPO_TEST_UTIL_H */
