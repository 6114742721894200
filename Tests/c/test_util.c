/*
 * test_util.c — the one definition of the check counters of test_util.h, so that a C test
 * made of several files (test_api) counts all its checks in one place.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime in test_util.h, mkdtemp */

#include "test_util.h"

int tu_passed, tu_failed;

int tu_scratch_dir(char *out, size_t size, int argc, char **argv, const char *prefix) {
    if (argc > 1) {
        snprintf(out, size, "%s", argv[1]);
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(out, size, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
    if (!mkdtemp(out)) { perror("mkdtemp"); return -1; }
    return 0;
}
