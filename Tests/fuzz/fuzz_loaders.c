/*
 * fuzz_loaders.c — a mutation fuzzer for libibtpo's two file loaders, through the C API:
 * ibtpo_trainer_load (checkpoints) and ibtpo_task_create_jsonl (JSON Lines datasets).
 *
 *   fuzz_loaders [seconds [seed [findings-dir [max-files]]]]   (defaults: 20 s, seed 1, none, no limit)
 *
 * Deterministic: file k of a run with seed s is the same on every run (mutations come from a
 * xorshift generator seeded by s and k); the time budget only decides how many are tried.
 * Each file is loaded in a forked child with a 10 s alarm and a 2 GiB address-space limit,
 * so a crash, an abort or a hang is counted instead of ending the run.
 *
 * Checkpoints: a good checkpoint of a tiny trainer (after one training step, so the AdamW
 * moments are non-zero) is mutated — bit flips, random bytes, structural fields set to
 * boundary values (0, 1, 2, -1, 2^31, 2^32-1, 2^53(+1), INT64_MAX), special floats (NaN, ±inf,
 * negative, -0, subnormal, 3e38) in the tensor data, truncation, appended or deleted bytes —
 * and in 90% of the files the CRC is re-sealed after the mutation, so that the parser
 * behind the checksum is reached. The oracle is docs/checkpoint-format.md, implemented here
 * independently for a file loaded into this trainer: same size as the good file; every byte
 * outside the step, the RNG state, the writer's version field, the tensor data and the CRC
 * equal to the good file's (same config, names, ranks, shapes and counts); step <= 2^53; RNG
 * state not all zero; parameters and first moments finite; second moments finite and >= 0;
 * CRC valid. After every OK load one training step runs (it may fail with a status, e.g. for
 * huge finite weights, but must not trap, and an OK step must have a finite loss). A "wrong
 * OK" is a load that returns OK for a file the oracle refuses (or an OK step with a
 * non-finite loss); a "wrong refusal" is the reverse. (Mutations that keep a file valid,
 * e.g. a changed finite weight, must load.)
 *
 * JSONL: valid seed files (escapes, BOM, CRLF, blank lines, solutions, splits, non-ASCII) are
 * mutated byte-wise and with JSON-ish tokens ("\u0000", lone surrogates, quotes, braces,
 * invalid UTF-8, duplicate keys, NFD keys, deep nesting). The oracle here is partial (the full
 * grammar is tested in Swift): a load that returns OK is wrong if the file is not valid UTF-8
 * (after an optional BOM), if a non-blank line does not start with '{' and end with '}', if
 * the problem count differs from the number of non-blank lines, or if a problem cannot be
 * read back with ibtpo_task_get_problem or has an empty prompt.
 *
 * Output: the counts (files tried, crashes/hangs, wrong OKs, wrong refusals, per loader) and
 * the status histogram; exit status 1 if any crash, hang, wrong OK or wrong refusal was seen.
 * With a findings directory, every such input is written there for reproduction.
 */
#define _GNU_SOURCE
#include "ibtpo.h"

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers -------------------------------------------------------------------------- */

static uint64_t rng_state;
static uint64_t next_u64(void) {
    uint64_t x = rng_state;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return rng_state = x;
}
static size_t below(size_t n) { return n ? (size_t)(next_u64() % n) : 0; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint32_t crc32_ieee(const unsigned char *p, size_t n) {
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static uint64_t get_le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static void put_le(unsigned char *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static int write_all(const char *path, const unsigned char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) { free(b); b = NULL; }
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* ---- the mutable byte buffer ---------------------------------------------------------- */

typedef struct { unsigned char *p; size_t n, cap; } buf_t;

static void buf_set(buf_t *b, const unsigned char *src, size_t n) {
    if (b->cap < n + 256) { b->cap = n + 4096; b->p = realloc(b->p, b->cap); }
    memcpy(b->p, src, n);
    b->n = n;
}
static void buf_insert(buf_t *b, size_t at, const void *src, size_t n) {
    if (at > b->n) at = b->n;
    if (b->cap < b->n + n + 1) { b->cap = (b->n + n) * 2 + 64; b->p = realloc(b->p, b->cap); }
    memmove(b->p + at + n, b->p + at, b->n - at);
    memcpy(b->p + at, src, n);
    b->n += n;
}
static void buf_delete(buf_t *b, size_t at, size_t n) {
    if (at >= b->n) return;
    if (n > b->n - at) n = b->n - at;
    memmove(b->p + at, b->p + at + n, b->n - at - n);
    b->n -= n;
}

/* ---- checkpoints ---------------------------------------------------------------------- */

enum { MAX_TENSORS = 256 };
typedef struct { size_t data, count; int kind; } region_t; /* kind 0 params, 1 adam.m, 2 adam.v */
static region_t regions[MAX_TENSORS];
static size_t n_regions;
static size_t structural[4 * MAX_TENSORS]; /* offsets of length/rank/dim/count fields */
static int structural_bytes[4 * MAX_TENSORS];
static size_t n_structural;

/* Records where the good file's tensor data and structural fields are. */
static int map_checkpoint(const unsigned char *b, size_t n) {
    if (n < 144) return -1;
    uint32_t k = (uint32_t)get_le(b + 136, 4);
    if (k > MAX_TENSORS) return -1;
    size_t pos = 140;
    for (uint32_t t = 0; t < k; t++) {
        structural[n_structural] = pos, structural_bytes[n_structural++] = 4;
        uint32_t len = (uint32_t)get_le(b + pos, 4);
        int kind = len > 7 && memcmp(b + pos + 4, "adam.m.", 7) == 0 ? 1 : len > 7 && memcmp(b + pos + 4, "adam.v.", 7) == 0 ? 2 : 0;
        pos += 4 + len;
        structural[n_structural] = pos, structural_bytes[n_structural++] = 4;
        uint32_t rank = (uint32_t)get_le(b + pos, 4);
        pos += 4;
        if (rank) structural[n_structural] = pos, structural_bytes[n_structural++] = 8;
        pos += 8 * rank;
        structural[n_structural] = pos, structural_bytes[n_structural++] = 8;
        uint64_t count = get_le(b + pos, 8);
        pos += 8;
        regions[n_regions++] = (region_t){pos, (size_t)count, kind};
        pos += 4 * count;
    }
    return pos + 4 == n ? 0 : -1;
}

/* The oracle (see the top of the file): 1 if `b` is a checkpoint this trainer must load. */
static int oracle_checkpoint(const unsigned char *b, size_t n, const unsigned char *good, size_t good_n) {
    if (n != good_n) return 0;
    if (get_le(b + n - 4, 4) != crc32_ieee(b, n - 4)) return 0;
    if (memcmp(b, good, 12) != 0 || memcmp(b + 16, good + 16, 96 - 16) != 0 || memcmp(b + 136, good + 136, 4) != 0) return 0;
    if (get_le(b + 96, 8) > ((uint64_t)1 << 53)) return 0;
    if ((get_le(b + 104, 8) | get_le(b + 112, 8) | get_le(b + 120, 8) | get_le(b + 128, 8)) == 0) return 0;
    size_t pos = 140;
    for (size_t r = 0; r < n_regions; r++) {
        if (memcmp(b + pos, good + pos, regions[r].data - pos) != 0) return 0;
        for (size_t j = 0; j < regions[r].count; j++) {
            uint32_t bits = (uint32_t)get_le(b + regions[r].data + 4 * j, 4);
            float x;
            memcpy(&x, &bits, 4);
            if (!isfinite(x) || (regions[r].kind == 2 && x < 0)) return 0;
        }
        pos = regions[r].data + 4 * regions[r].count;
    }
    return 1;
}

static const uint64_t boundary[] = {0, 1, 2, 3, 8, 9, 255, 4096, 4097, 65536, 1u << 20, (1u << 20) + 1, 0x7FFFFFFF,
                                    0x80000000u, 0xFFFFFFFFu, (uint64_t)1 << 32, (uint64_t)1 << 40, ((uint64_t)1 << 40) + 1,
                                    (uint64_t)1 << 53, ((uint64_t)1 << 53) + 1, (uint64_t)INT64_MAX, (uint64_t)INT64_MAX - 1,
                                    (uint64_t)INT64_MIN, UINT64_MAX};

static void mutate_checkpoint(buf_t *b) {
    int ops = 1 + (int)below(3);
    for (int o = 0; o < ops; o++) {
        switch (below(10)) {
        case 0: /* flip a bit anywhere */
            if (b->n) b->p[below(b->n)] ^= (unsigned char)(1u << below(8));
            break;
        case 1: /* flip a bit in the header */
            if (b->n >= 140) b->p[below(140)] ^= (unsigned char)(1u << below(8));
            break;
        case 2: { /* a header field set to a boundary value */
            static const size_t fields[] = {8, 12, 16, 24, 32, 40, 48, 56, 64, 72, 80, 96, 104, 112, 120, 128};
            size_t at = fields[below(sizeof fields / sizeof fields[0])];
            int bytes = at < 16 ? 4 : 8;
            if (at + (size_t)bytes <= b->n) put_le(b->p + at, boundary[below(sizeof boundary / sizeof boundary[0])], bytes);
            if (below(4) == 0 && b->n >= 88 + 8) { /* rope_theta / norm_eps */
                static const uint32_t fb[] = {0x7FC00000u, 0x7F800000u, 0xFF800000u, 0, 0x80000000u, 1, 0x3F800000u, 0x3F7FFFFFu};
                put_le(b->p + 88 + 4 * below(2), fb[below(8)], 4);
            }
            break;
        }
        case 3: { /* a record's length, rank, dimension or count set to a boundary value */
            size_t s = below(n_structural);
            if (structural[s] + (size_t)structural_bytes[s] <= b->n)
                put_le(b->p + structural[s], boundary[below(sizeof boundary / sizeof boundary[0])], structural_bytes[s]);
            break;
        }
        case 4: case 5: { /* a special float in some tensor's data */
            static const uint32_t sp[] = {0x7FC00000u, 0xFFC00001u, 0x7F800000u, 0xFF800000u, 0xBF800000u, 0x80000000u,
                                          0x00000001u, 0x80000001u, 0x7F7FFFFFu, 0xFF7FFFFFu, 0x3F800000u, 0x00000000u};
            region_t *r = &regions[below(n_regions)];
            size_t at = r->data + 4 * below(r->count);
            if (at + 4 <= b->n) put_le(b->p + at, sp[below(sizeof sp / sizeof sp[0])], 4);
            break;
        }
        case 6: /* truncate */
            b->n = below(b->n + 1);
            break;
        case 7: { /* append or insert random bytes */
            unsigned char junk[16];
            size_t k = 1 + below(sizeof junk);
            for (size_t i = 0; i < k; i++) junk[i] = (unsigned char)next_u64();
            buf_insert(b, below(2) ? b->n : below(b->n + 1), junk, k);
            break;
        }
        case 8: /* delete a range */
            buf_delete(b, below(b->n + 1), 1 + below(64));
            break;
        default: /* a random byte anywhere */
            if (b->n) b->p[below(b->n)] = (unsigned char)next_u64();
            break;
        }
    }
    if (below(10) != 0 && b->n >= 4) put_le(b->p + b->n - 4, crc32_ieee(b->p, b->n - 4), 4); /* re-seal */
}

/* ---- JSONL ---------------------------------------------------------------------------- */

static const char *jsonl_seeds[] = {
    "{\"prompt\": \"1+2\\n\", \"answer\": \"3\", \"split\": \"train\"}\n"
    "{\"prompt\": \"2+2\\n\", \"answer\": \"4\", \"solution\": \"2+2=4\\nanswer: 4\", \"split\": \"test\"}\n",
    "\xEF\xBB\xBF{\"prompt\":\"caf\\u00e9?\",\"answer\":\"ok\",\"split\":\"train\",\"x\":[1,2.5e3,{\"y\":null}]}\r\n"
    "\r\n   \n{\"prompt\":\"\xC3\xA9t\xC3\xA9 \\ud83d\\ude00\",\"answer\":\" a  b \",\"solution\":null,\"split\":\"test\"}\n",
    "{\"answer\": \"7\", \"prompt\": \"3+4=?\\t\", \"split\": \"train\", \"e\\u0301\": true, \"\\u00e9\": false}\n"
    "{\"prompt\": \"q\\\"uote\\\\\", \"answer\": \"x\", \"split\": \"test\"}\n"
    "{\"prompt\": \"w\", \"answer\": \"y\", \"solution\": \"step\\nanswer: y\\n\"}\n",
};

static const char *json_tokens[] = {"\"", "\\", "\\u0000", "\\ud800", "\\udc00", "\\ud83d", "{", "}", "[", "]", ",", ":",
                                    "\n", "\r", "\t", " ", "\xFF", "\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80",
                                    "e\\u0301", "\"prompt\"", "\"answer\": \"1\", ", "\"prompt\": \"p\", ", "null",
                                    "true", "1e999", "-0", "0123", "[[[[[[[[[[[[[[[[[[[[", "\"split\": \"test\"",
                                    "\"split\": \"train\"", "\\n", "answer: ", "\x00"};

static void mutate_jsonl(buf_t *b) {
    int ops = 1 + (int)below(4);
    for (int o = 0; o < ops; o++) {
        switch (below(7)) {
        case 0: if (b->n) b->p[below(b->n)] ^= (unsigned char)(1u << below(8)); break;
        case 1: if (b->n) b->p[below(b->n)] = (unsigned char)next_u64(); break;
        case 2: case 3: {
            const char *t = json_tokens[below(sizeof json_tokens / sizeof json_tokens[0])];
            buf_insert(b, below(b->n + 1), t, t[0] ? strlen(t) : 1);
            break;
        }
        case 4: buf_delete(b, below(b->n + 1), 1 + below(8)); break;
        case 5: b->n = below(b->n + 1); break;
        default: { /* duplicate a slice */
            if (!b->n) break;
            size_t at = below(b->n), len = 1 + below(b->n - at);
            unsigned char *tmp = malloc(len);
            memcpy(tmp, b->p + at, len);
            buf_insert(b, below(b->n + 1), tmp, len);
            free(tmp);
            break;
        }
        }
    }
}

/* 1 if p[0..n) is valid UTF-8 (RFC 3629: no overlongs, surrogates or > U+10FFFF). */
static int valid_utf8(const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80) { i++; continue; }
        else if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c == 0xE0) len = 3, lo = 0xA0;
        else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) len = 3;
        else if (c == 0xED) len = 3, hi = 0x9F;
        else if (c == 0xF0) len = 4, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3) len = 4;
        else if (c == 0xF4) len = 4, hi = 0x8F;
        else return 0;
        if (n - i < len || p[i + 1] < lo || p[i + 1] > hi) return 0;
        for (size_t k = 2; k < len; k++)
            if ((p[i + k] & 0xC0) != 0x80) return 0;
        i += len;
    }
    return 1;
}

/* The partial JSONL oracle: the number of problems a successful load must have, or -1 if
 * the file must be refused. */
static long oracle_jsonl(const unsigned char *p, size_t n) {
    if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3, n -= 3;
    if (!valid_utf8(p, n)) return -1;
    long lines = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && p[i] != '\n') continue;
        size_t a = start, z = i;
        start = i + 1;
        while (a < z && (p[a] == ' ' || p[a] == '\t' || p[a] == '\r')) a++;
        while (z > a && (p[z - 1] == ' ' || p[z - 1] == '\t' || p[z - 1] == '\r')) z--;
        if (a == z) continue;
        if (p[a] != '{' || p[z - 1] != '}') return -1;
        lines++;
    }
    return lines;
}

/* ---- the run -------------------------------------------------------------------------- */

typedef struct { long tried, crashes, hangs, wrong_ok, wrong_refusal, resealed, step_refused, status[16]; } counts_t;

static ibtpo_trainer *trainer;
static int32_t tokens[16], targets[16];
static const char *findings;

static void save_finding(const char *kind, long k, const buf_t *b) {
    if (!findings) return;
    char path[512];
    snprintf(path, sizeof path, "%s/%s-%ld", findings, kind, k);
    write_all(path, b->p, b->n);
    printf("  finding: %s\n", path);
}

/* Child exit codes: the load's status (0..15); 64 + status when a training step after an OK
 * load returns an error status or skips a non-finite step (step counter unchanged); 80 when it returns OK with a
 * non-finite loss and moved the step counter; JSONL: 96 when a loaded task breaks the oracle
 * (count or problem read back), with the detail on stdout. */
static int child_checkpoint(const char *path) {
    ibtpo_status st = ibtpo_trainer_load(trainer, path);
    if (st != IBTPO_OK) return (int)st & 15;
    ibtpo_step_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    int64_t before = -1, after = -2;
    ibtpo_trainer_get_step(trainer, &before);
    ibtpo_status st2 = ibtpo_trainer_step_supervised(trainer, tokens, targets, NULL, 2, 8, &s);
    if (st2 != IBTPO_OK) return 64 + ((int)st2 & 15);
    if (isfinite(s.loss) && isfinite(s.grad_norm)) return 0;
    /* A non-finite loss must have been skipped (the divergence policy): step unchanged. */
    ibtpo_trainer_get_step(trainer, &after);
    return after == before && s.step == before ? 64 : 80;
}

static int child_jsonl(const char *path, long expect) {
    ibtpo_task *t = NULL;
    ibtpo_status st = ibtpo_task_create_jsonl(path, 4096, &t);
    if (st != IBTPO_OK) return (int)st & 15;
    long total = 0;
    static char prompt[1 << 16], sol[1 << 16], ans[1 << 16];
    for (int32_t split = 0; split < 2; split++) {
        int64_t count = -1;
        if (ibtpo_task_problem_count(t, split, &count) != IBTPO_OK || count < 0) return 96;
        for (int64_t i = 0; i < count; i++) {
            if (ibtpo_task_get_problem(t, split, i, prompt, sol, ans, sizeof prompt) != IBTPO_OK) {
                printf("  problem %lld of split %d cannot be read back: %s\n", (long long)i, split, ibtpo_last_error(NULL));
                return 96;
            }
            if (!prompt[0]) { printf("  empty prompt\n"); return 96; }
        }
        total += count;
    }
    ibtpo_task_free(t);
    if (expect >= 0 && total != expect) {
        printf("  %ld problems loaded from %ld non-blank lines\n", total, expect);
        return 96;
    }
    return 0;
}

/* Runs one file in a child; classifies the outcome into `c`. `valid` is the oracle's verdict
 * (1 must load, 0 must be refused, -1 unknown: only crashes and post-load checks count). */
static void run_one(const char *kind, const char *path, long k, const buf_t *b, int is_ckpt, long expect, int valid,
                    counts_t *c) {
    c->tried++;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {(rlim_t)2 << 30, (rlim_t)2 << 30};
        setrlimit(RLIMIT_AS, &rl);
        alarm(10);
        int rc = is_ckpt ? child_checkpoint(path) : child_jsonl(path, expect);
        fflush(stdout);
        _exit(rc);
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    if (WIFSIGNALED(ws)) {
        if (WTERMSIG(ws) == SIGALRM) c->hangs++;
        else c->crashes++;
        printf("%s %ld: %s by signal %d\n", kind, k, WTERMSIG(ws) == SIGALRM ? "HANG, killed" : "CRASH", WTERMSIG(ws));
        save_finding(kind, k, b);
        return;
    }
    int rc = WEXITSTATUS(ws);
    if (rc < 16) c->status[rc]++;
    if (rc >= 64 && rc < 80) c->step_refused++, c->status[0]++, rc = 0; /* loaded; the step then failed cleanly */
    int ok = rc == 0;
    if (rc >= 64) {
        c->wrong_ok++;
        printf("%s %ld: WRONG OK: loaded, then %s (exit %d)\n", kind, k,
               rc == 96 ? "the loaded task broke the oracle" : "the next step returned OK with a non-finite loss", rc);
        save_finding(kind, k, b);
    } else if (ok && valid == 0) {
        c->wrong_ok++;
        printf("%s %ld: WRONG OK: loaded a file the oracle refuses\n", kind, k);
        save_finding(kind, k, b);
    } else if (!ok && valid == 1) {
        c->wrong_refusal++;
        printf("%s %ld: WRONG REFUSAL: status %d for a file the oracle accepts\n", kind, k, rc);
        save_finding(kind, k, b);
    }
}

static void print_counts(const char *kind, const counts_t *c) {
    printf("%-11s files tried %6ld  crashes %ld  hangs %ld  wrong OKs %ld  wrong refusals %ld", kind, c->tried, c->crashes,
           c->hangs, c->wrong_ok, c->wrong_refusal);
    if (c->resealed) printf("  (CRC valid: %ld)", c->resealed);
    if (c->step_refused) printf("  (loaded, then the training step refused with a status: %ld)", c->step_refused);
    printf("\n            statuses:");
    for (int s = 0; s < 16; s++)
        if (c->status[s]) printf(" %s %ld", ibtpo_status_string((ibtpo_status)s), c->status[s]);
    printf("\n");
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 20;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    findings = argc > 3 && argv[3][0] ? argv[3] : NULL;
    long max_files = argc > 4 ? atol(argv[4]) : -1;
    if (findings) mkdir(findings, 0755);
    char dir[] = "/tmp/ibtpo-fuzz-XXXXXX";
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 2; }
    char ckpt[300], file[300];
    snprintf(ckpt, sizeof ckpt, "%s/good.ckpt", dir);
    snprintf(file, sizeof file, "%s/input", dir);

    /* A tiny trainer, one step so the moments are non-zero, and its checkpoint. */
    ibtpo_trainer_config cfg;
    ibtpo_trainer_config_default(&cfg);
    cfg.model.d_model = 16, cfg.model.n_layers = 2, cfg.model.n_heads = 2, cfg.model.n_kv_heads = 1;
    cfg.model.d_ff = 32, cfg.model.max_seq = 16, cfg.batch = 2, cfg.seq = 8, cfg.threads = 1, cfg.seed = 7;
    if (ibtpo_trainer_create(&cfg, &trainer) != IBTPO_OK) { printf("create: %s\n", ibtpo_last_error(NULL)); return 2; }
    for (int i = 0; i < 16; i++) tokens[i] = 60 + i % 7, targets[i] = 60 + (i + 1) % 7;
    ibtpo_step_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    if (ibtpo_trainer_step_supervised(trainer, tokens, targets, NULL, 2, 8, &s) != IBTPO_OK ||
        ibtpo_trainer_save(trainer, ckpt) != IBTPO_OK) {
        printf("setup: %s\n", ibtpo_last_error(trainer));
        return 2;
    }
    size_t good_n = 0;
    unsigned char *good = read_all(ckpt, &good_n);
    if (!good || map_checkpoint(good, good_n) != 0 || !oracle_checkpoint(good, good_n, good, good_n)) {
        printf("setup: the good checkpoint does not parse as docs/checkpoint-format.md says\n");
        return 2;
    }
    printf("fuzz_loaders: seed %llu, %.0f s; checkpoint of %zu bytes (%zu tensors), %zu JSONL seeds\n",
           (unsigned long long)seed, seconds, good_n, n_regions, sizeof jsonl_seeds / sizeof jsonl_seeds[0]);

    counts_t ck = {0}, js = {0};
    buf_t b = {0};
    double t0 = now_s();
    for (long k = 0; now_s() - t0 < seconds && (max_files < 0 || k < max_files); k++) {
        rng_state = (seed * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)k * 0xD1B54A32D192ED03ull) ^ 0x5DEECE66Dull;
        for (int w = 0; w < 4; w++) next_u64();
        if (k % 2 == 0) {
            buf_set(&b, good, good_n);
            mutate_checkpoint(&b);
            if (b.n >= 4 && get_le(b.p + b.n - 4, 4) == crc32_ieee(b.p, b.n - 4)) ck.resealed++;
            write_all(file, b.p, b.n);
            int valid = oracle_checkpoint(b.p, b.n, good, good_n);
            run_one("checkpoint", file, k, &b, 1, 0, valid, &ck);
        } else {
            const char *seed_text = jsonl_seeds[below(sizeof jsonl_seeds / sizeof jsonl_seeds[0])];
            buf_set(&b, (const unsigned char *)seed_text, strlen(seed_text));
            mutate_jsonl(&b);
            write_all(file, b.p, b.n);
            long expect = oracle_jsonl(b.p, b.n);
            run_one("jsonl", file, k, &b, 0, expect, expect < 0 ? 0 : -1, &js);
        }
    }
    double took = now_s() - t0;
    printf("fuzz_loaders: %.1f s, %ld files (%.0f/s)\n", took, ck.tried + js.tried, (ck.tried + js.tried) / took);
    print_counts("checkpoint", &ck);
    print_counts("jsonl", &js);
    unlink(file), unlink(ckpt), rmdir(dir);
    free(good), free(b.p);
    ibtpo_trainer_free(trainer);
    long bad = ck.crashes + ck.hangs + ck.wrong_ok + ck.wrong_refusal + js.crashes + js.hangs + js.wrong_ok + js.wrong_refusal;
    printf("fuzz_loaders: %s\n", bad ? "FAILED" : "no crash, hang, wrong OK or wrong refusal");
    return bad ? 1 : 0;
}
