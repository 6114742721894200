/*
 * test_loaders.c — loads that refuse impossible state, and ibtpo_tree_advantages' bounds
 * (issue 12), through the C API:
 *   - checkpoints with state no trainer writes (NaN weight, negative adam.v, zero RNG,
 *     tie_embeddings 2, reserved 1, step INT64_MAX), CRC re-sealed: BAD_CHECKPOINT naming the
 *     path, trainer unchanged;
 *   - /dev/zero, /dev/urandom and a FIFO as a checkpoint or a JSONL file: IBTPO_ERR_IO at once
 *     (each probe runs in a child with a 10 s alarm and a 4 GiB address-space limit, so the
 *     old behaviour — read until memory runs out, block forever — fails instead of hanging);
 *   - "\u0000" in a JSONL prompt: BAD_DATA naming file:line; NFC and NFD keys are different keys;
 *   - ibtpo_tree_advantages under an address-space limit: OUT_OF_MEMORY instead of an abort,
 *     success within 24 bytes per node, and non-finite outputs refused with outputs untouched.
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];

/* (own names: test_api.c's helpers may move into test_util.h) */
static int ld_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

/* Re-seals the trailing zlib CRC-32 of a checkpoint after a mutation. */
static void ld_fix_crc(unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n - 4; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    c ^= 0xFFFFFFFFu;
    for (int i = 0; i < 4; i++) p[n - 4 + i] = (unsigned char)(c >> (8 * i));
}

/* A tiny model: small_config's shape with 16 positions, batch 2 × 8, 1 thread. */
static ibtpo_trainer_config tiny_config(uint64_t seed) {
    ibtpo_trainer_config c = small_config(seed, 1);
    c.model.max_seq = 16;
    c.batch = 2;
    c.seq = 8;
    return c;
}

/* Runs fn in a child with an alarm and an address-space limit; returns a description of how
 * it ended into `how` and 1 if it exited with status 0. */
static int in_child(void (*fn)(void *), void *arg, unsigned seconds, char *how, size_t howlen) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        tu_passed = tu_failed = 0; /* the child's own checks decide its exit status */
        struct rlimit rl = {(rlim_t)4 << 30, (rlim_t)4 << 30};
        setrlimit(RLIMIT_AS, &rl);
        alarm(seconds);
        fn(arg);
        fflush(stdout);
        _exit(tu_failed ? 1 : 0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st)) snprintf(how, howlen, "killed by signal %d%s", WTERMSIG(st), WTERMSIG(st) == SIGALRM ? " (hang)" : "");
    else snprintf(how, howlen, "exit %d", WEXITSTATUS(st));
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* ---- checkpoints ---------------------------------------------------------------------- */

static size_t data_offset(const unsigned char *b, const char *name, size_t j) {
    size_t pos = 140;
    for (;;) {
        uint32_t len = (uint32_t)b[pos] | (uint32_t)b[pos + 1] << 8 | (uint32_t)b[pos + 2] << 16 | (uint32_t)b[pos + 3] << 24;
        int match = strlen(name) == len && memcmp(b + pos + 4, name, len) == 0;
        pos += 4 + len;
        uint32_t rank = b[pos];
        pos += 4 + 8 * rank;
        uint64_t count = 0;
        for (int i = 0; i < 8; i++) count |= (uint64_t)b[pos + i] << (8 * i);
        pos += 8;
        if (match) return pos + 4 * j;
        pos += 4 * count;
    }
}

static void put(unsigned char *b, size_t at, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) b[at + i] = (unsigned char)(v >> (8 * i));
}

static void test_impossible_checkpoints(void) {
    ibtpo_trainer_config c = tiny_config(3);
    ibtpo_trainer *a = NULL, *b = NULL;
    check_status(ibtpo_trainer_create(&c, &a), IBTPO_OK, "create trainer A", NULL);
    check_status(ibtpo_trainer_create(&c, &b), IBTPO_OK, "create trainer B", NULL);
    if (!a || !b) return;
    char ck[300], bad[300];
    snprintf(ck, sizeof ck, "%s/good.ckpt", tmpdir);
    snprintf(bad, sizeof bad, "%s/impossible.ckpt", tmpdir);
    check_status(ibtpo_trainer_save(a, ck), IBTPO_OK, "save a good checkpoint", a);
    size_t n = 0;
    unsigned char *good = tu_read_file(ck, &n), *buf = malloc(n);
    if (!good || !buf) { check(0, "read the good checkpoint", NULL); return; }
    float nanf_ = NAN, neg = -1e-3f;
    uint32_t nanbits, negbits;
    memcpy(&nanbits, &nanf_, 4), memcpy(&negbits, &neg, 4);
    const struct { const char *what; size_t at; uint64_t v; int bytes; const char *keyword; } cases[] = {
        {"NaN weight", data_offset(good, "layers.0.attention.wq", 5), nanbits, 4, "finite"},
        {"NaN adam.m", data_offset(good, "adam.m.norm", 1), nanbits, 4, "finite"},
        {"negative adam.v", data_offset(good, "adam.v.layers.1.feed_forward.w_up", 7), negbits, 4, "negative"},
        {"all-zero RNG state", 104, 0, 32, "RNG"},
        {"tie_embeddings 2", 16 + 7 * 8, 2, 8, "tie_embeddings"},
        {"reserved field 1", 16 + 8 * 8, 1, 8, "reserved"},
        {"step INT64_MAX", 96, (uint64_t)INT64_MAX, 8, "step"},
    };
    int64_t step0 = -1, step1 = -1;
    ibtpo_trainer_get_step(b, &step0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(buf, good, n);
        if (cases[i].bytes == 32) memset(buf + cases[i].at, 0, 32);
        else put(buf, cases[i].at, cases[i].v, cases[i].bytes);
        ld_fix_crc(buf, n);
        ld_write_file(bad, buf, n);
        char what[200], kw[400];
        snprintf(what, sizeof what, "load(%s, CRC re-sealed)", cases[i].what);
        snprintf(kw, sizeof kw, "%s&%s", bad, cases[i].keyword);
        check_err(ibtpo_trainer_load(b, bad), IBTPO_ERR_BAD_CHECKPOINT, what, b, kw);
    }
    ibtpo_trainer_get_step(b, &step1);
    check(step0 == step1, "  ... the trainer's step is unchanged after every refused load", NULL);
    unlink(ck), unlink(bad);
    free(good), free(buf);
    ibtpo_trainer_free(a), ibtpo_trainer_free(b);
}

/* ---- non-regular files ---------------------------------------------------------------- */

static const char *probe_path;

static void probe_jsonl(void *arg) {
    (void)arg;
    ibtpo_task *t = NULL;
    char what[300], kw[300];
    snprintf(what, sizeof what, "task_create_jsonl(%s)", probe_path);
    snprintf(kw, sizeof kw, "%s&not a regular file", probe_path);
    check_err(ibtpo_task_create_jsonl(probe_path, 64, &t), IBTPO_ERR_IO, what, NULL, kw);
    ibtpo_task_free(t);
}

static void probe_checkpoint(void *arg) {
    ibtpo_trainer *t = arg;
    char what[300], kw[300];
    snprintf(what, sizeof what, "trainer_load(%s)", probe_path);
    snprintf(kw, sizeof kw, "%s&not a regular file", probe_path);
    check_err(ibtpo_trainer_load(t, probe_path), IBTPO_ERR_IO, what, t, kw);
}

static void test_non_regular_files(void) {
    char fifo[300];
    snprintf(fifo, sizeof fifo, "%s/fifo", tmpdir);
    check(mkfifo(fifo, 0600) == 0, "mkfifo", NULL);
    ibtpo_trainer_config c = tiny_config(3);
    ibtpo_trainer *t = NULL;
    ibtpo_trainer_create(&c, &t);
    const char *paths[] = {"/dev/zero", "/dev/urandom", fifo};
    for (int i = 0; i < 3; i++) {
        probe_path = paths[i];
        char how[80];
        int ok = in_child(probe_jsonl, NULL, 10, how, sizeof how);
        checkf(ok, "JSONL %s: refused at once in a child (%s; limit 4 GiB, 10 s)", paths[i], how);
        ok = in_child(probe_checkpoint, t, 10, how, sizeof how);
        checkf(ok, "checkpoint %s: refused at once in a child (%s; limit 4 GiB, 10 s)", paths[i], how);
    }
    ibtpo_trainer_free(t);
    unlink(fifo);
}

/* ---- JSONL strings -------------------------------------------------------------------- */

static void test_jsonl_strings(void) {
    char path[300];
    snprintf(path, sizeof path, "%s/nul.jsonl", tmpdir);
    const char *nul = "{\"prompt\": \"1+1\\n\", \"answer\": \"2\", \"split\": \"train\"}\n"
                      "{\"prompt\": \"2+2\\n\", \"answer\": \"4\", \"split\": \"test\"}\n"
                      "{\"prompt\": \"3+\\u00003\\n\", \"answer\": \"6\"}\n";
    ld_write_file(path, nul, strlen(nul));
    ibtpo_task *t = NULL;
    char kw[400];
    snprintf(kw, sizeof kw, "%s:3:&NUL", path);
    check_err(ibtpo_task_create_jsonl(path, 64, &t), IBTPO_ERR_BAD_DATA, "task_create_jsonl(\"\\u0000\" in a prompt)", NULL, kw);
    ibtpo_task_free(t), t = NULL;
    const char *keys = "{\"prompt\": \"1+1\\n\", \"answer\": \"2\", \"split\": \"train\", \"\\u00e9\": 1, \"e\\u0301\": 2}\n"
                       "{\"prompt\": \"2+2\\n\", \"answer\": \"4\", \"split\": \"test\"}\n";
    ld_write_file(path, keys, strlen(keys));
    check_status(ibtpo_task_create_jsonl(path, 64, &t), IBTPO_OK,
                 "task_create_jsonl(keys \"\\u00e9\" and \"e\\u0301\" in one object: two different keys)", NULL);
    ibtpo_task_free(t);
    unlink(path);
}

/* ---- tree advantages ------------------------------------------------------------------ */

static size_t vm_size(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) { if (fscanf(f, "%lu", &pages) != 1) pages = 0; fclose(f); }
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

static int64_t tree_n;
static size_t tree_headroom;

/* A bushy random tree of tree_n nodes; the call runs under RLIMIT_AS = VmSize + headroom. */
static void tree_under_limit(void *arg) {
    ibtpo_status want = *(ibtpo_status *)arg;
    int64_t n = tree_n;
    int32_t *parent = malloc(sizeof(int32_t) * (size_t)n), *tc = malloc(sizeof(int32_t) * (size_t)n);
    float *mlp = malloc(sizeof(float) * (size_t)n), *rw = malloc(sizeof(float) * (size_t)n);
    double *ib = malloc(sizeof(double) * (size_t)n), *adv = malloc(sizeof(double) * (size_t)n);
    if (!parent || !tc || !mlp || !rw || !ib || !adv) { check(0, "allocate the inputs", NULL); return; }
    uint32_t x = 12345;
    parent[0] = -1, tc[0] = 0, mlp[0] = 0, rw[0] = 0;
    for (int64_t i = 1; i < n; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        parent[i] = (int32_t)((i - 1) / 3);
        tc[i] = 1 + (int32_t)(x % 7);
        mlp[i] = -(float)(x % 1000) / 500.0f;
        rw[i] = (float)((x >> 10) % 2);
    }
    memset(ib, 0, sizeof(double) * (size_t)n), memset(adv, 0, sizeof(double) * (size_t)n); /* touch them now */
    ibtpo_rl_config c;
    ibtpo_rl_config_default(&c);
    size_t limit = vm_size() + tree_headroom;
    struct rlimit rl = {limit, limit};
    setrlimit(RLIMIT_AS, &rl);
    ibtpo_status st = ibtpo_tree_advantages(&c, n, parent, tc, mlp, rw, ib, adv);
    char what[200];
    snprintf(what, sizeof what, "tree_advantages(%lld nodes) with %zu MiB of address space to spare -> %s",
             (long long)n, tree_headroom >> 20, ibtpo_status_string(st));
    check_status(st, want, what, NULL);
    if (st == IBTPO_OK) check(all_finite_d(adv, (size_t)n), "  ... every advantage finite", NULL);
}

static void test_tree_advantages_bounds(void) {
    char how[80];
    ibtpo_status oom = IBTPO_ERR_OUT_OF_MEMORY, ok = IBTPO_OK;
    tree_n = (int64_t)1 << 24, tree_headroom = (size_t)128 << 20;
    checkf(in_child(tree_under_limit, &oom, 60, how, sizeof how),
           "2^24 nodes (needs 384 MiB of scratch) under a limit of +128 MiB: OUT_OF_MEMORY, no abort (%s)", how);
    tree_n = (int64_t)1 << 22, tree_headroom = ((size_t)24 << 22) + ((size_t)32 << 20);
    checkf(in_child(tree_under_limit, &ok, 60, how, sizeof how),
           "2^22 nodes under a limit of 24 bytes per node + 32 MiB: OK (%s)", how);

    /* settings whose outputs cannot be finite: refused, outputs untouched */
    /* leaves 3..6 under node 1 (reward 0: p̂(1) = 0, so ratio_when_parent_zero is used below it)
     * and 7 under node 2 (reward 1): p̂(root) = 1/5, r(2) = 5, A_IB(2) = (5 − 1.2)·e^-0.2 ≈ 3.1 */
    enum { N = 8 };
    const int32_t parent[N] = {-1, 0, 0, 1, 1, 1, 1, 2};
    const int32_t tc[N] = {0, 2, 3, 1, 1, 2, 1, 4};
    const float mlp[N] = {0, -0.5f, -0.2f, -1.0f, -0.3f, -0.1f, -0.7f, -0.4f};
    const float reward[N] = {0, 0, 0, 0, 0, 0, 0, 1};
    const struct { const char *what; double beta, lambda, rwpz; } cases[] = {
        {"beta 1e-310", 1e-310, 0.1, 1}, {"lambda 1e308", 5, 1e308, 1}, {"ratio_when_parent_zero 1e308", 5, 0.1, 1e308}};
    for (size_t i = 0; i < 3; i++) {
        ibtpo_rl_config c;
        ibtpo_rl_config_default(&c);
        c.beta = cases[i].beta, c.lambda = cases[i].lambda, c.ratio_when_parent_zero = cases[i].rwpz;
        double ib[N], adv[N];
        for (int k = 0; k < N; k++) ib[k] = adv[k] = 42;
        char what[200];
        snprintf(what, sizeof what, "tree_advantages(%s)", cases[i].what);
        check_err(ibtpo_tree_advantages(&c, N, parent, tc, mlp, reward, ib, adv), IBTPO_ERR_INVALID_ARGUMENT, what, NULL,
                  "finite");
        int untouched = 1;
        for (int k = 0; k < N; k++) untouched &= ib[k] == 42 && adv[k] == 42;
        check(untouched, "  ... both output arrays untouched", NULL);
    }
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ibtpo-test-loaders-XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    test_impossible_checkpoints();
    test_non_regular_files();
    test_jsonl_strings();
    test_tree_advantages_bounds();
    rmdir(tmpdir);
    printf("%d passed, %d failed\n", tu_passed, tu_failed);
    return tu_failed ? 1 : 0;
}
