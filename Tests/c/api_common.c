/*
 * api_common.c — the fixtures the sections of test_api share (declared in api_common.h):
 * the scratch directory, the tiny model's config and batch, the state snapshot behind every
 * "a failed call leaves the state unchanged" check, the reward/log/progress callbacks, the
 * generate helpers and the small RL config.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, unlink, rmdir, fork, clock_gettime; no BLIS header here */

#include "api_common.h"

/* ---- scratch directory, tiny model -------------------------------------------------- */

char scratch[4096];

void path_in_scratch(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", scratch, name); }

int write_file(const char *path, const unsigned char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

/* A tiny model so the test (and its valgrind run) stays fast: small_config's shape with
 * 16 positions, batch 2 × 8, 1 thread and the default cosine schedule over 10 steps. */
ibtpo_trainer_config tiny_config(uint64_t seed) {
    ibtpo_trainer_config c = small_config(seed, 1), d;
    ibtpo_trainer_config_default(&d);
    c.model.max_seq = 16;
    c.batch = 2;
    c.seq = 8;
    c.lr = d.lr;
    c.min_lr = d.min_lr;
    c.total_steps = 10;
    c.rollout_slots = d.rollout_slots;
    return c;
}

void make_batch(int32_t *tokens, int32_t *targets, float *weights, uint32_t salt) {
    uint32_t x = 2463534242u ^ salt;
    for (int i = 0; i < NTOK; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        tokens[i] = (int32_t)(x % 259u);
        targets[i] = (i % 8 == 7) ? -1 : (int32_t)((x >> 9) % 259u);
        weights[i] = 0.5f + (float)(i % 3);
    }
}

int64_t get_step(ibtpo_trainer *t) {
    int64_t s = -12345;
    if (ibtpo_trainer_get_step(t, &s) != IBTPO_OK) return -99999;
    return s;
}

int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static void fp_tokens(int32_t *tok) {
    uint32_t x = 0x9E3779B9u;
    for (int i = 0; i < FP_N; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        tok[i] = (i % FP_LEN == 0) ? IBTPO_TOKEN_BOS : (int32_t)(x % 256u);
    }
}

ibtpo_status fingerprint(ibtpo_trainer *t, float *out) {
    int32_t tok[FP_N];
    fp_tokens(tok);
    return ibtpo_trainer_score(t, tok, NULL, FP_ROWS, FP_LEN, out);
}

void snap_take(ibtpo_trainer *t, state_snap *s, const char *name) {
    s->step = get_step(t);
    if (fingerprint(t, s->fp) != IBTPO_OK) memset(s->fp, 0xFF, sizeof s->fp);
    path_in_scratch(s->ckpt, sizeof s->ckpt, name);
    if (ibtpo_trainer_save(t, s->ckpt) != IBTPO_OK) s->ckpt[0] = '\0';
}

/* Checks that `t` is still in the state `before` (step, bit-identical scores, and, when
 * full, a byte-identical checkpoint: parameters, AdamW moments, step, RNG). */
void check_unchanged(ibtpo_trainer *t, const state_snap *before, const char *after_what, int full) {
    state_snap now;
    char name[64];
    snprintf(name, sizeof name, "snap-now-%d.ckpt", passed + failed);
    if (full) {
        snap_take(t, &now, name);
    } else {
        now.step = get_step(t);
        if (fingerprint(t, now.fp) != IBTPO_OK) memset(now.fp, 0xFF, sizeof now.fp);
    }
    int fp_same = same_float_bits(before->fp, now.fp, FP_N);
    if (!full) {
        checkf(now.step == before->step && fp_same, "after %s: step %lld == %lld and %d scored log-probs bit-identical",
               after_what, (long long)now.step, (long long)before->step, FP_N);
        return;
    }
    size_t n = 0;
    int ck_same = before->ckpt[0] && now.ckpt[0] && files_equal(before->ckpt, now.ckpt, &n);
    checkf(now.step == before->step && fp_same && ck_same,
           "after %s: step %lld == %lld, %d scored log-probs bit-identical, checkpoint (%lu bytes) byte-identical",
           after_what, (long long)now.step, (long long)before->step, FP_N, (unsigned long)n);
    if (now.ckpt[0]) unlink(now.ckpt);
}

/* ---- reward, log and progress callbacks ---------------------------------------------- */

void reward_reset(reward_state *r, int mode) {
    memset(r, 0, sizeof *r);
    r->mode = mode;
}

/* A deterministic, varied reward: 1 for the right answer line, else (completion bytes mod 5)/4,
 * so that groups rarely share one reward and the policy gradient is not zero. */
static double shaped_reward(const char *completion, int64_t len, const char *answer) {
    if (answer && *answer && answer_line_matches(completion, len, answer)) return 1.0;
    return 0.25 * (double)(len % 5);
}

int32_t test_reward(void *user_data, const char *prompt, int64_t prompt_len, const char *completion,
                    int64_t completion_len, const char *answer, double *out_reward) {
    reward_state *r = user_data;
    int64_t i = r->calls++;
    if (!prompt || !completion || !answer || !out_reward || prompt_len < 0 || completion_len < 0 ||
        (int64_t)strlen(prompt) != prompt_len || completion[completion_len] != '\0')
        r->bad_args++;
    if (!prompt || !completion || !answer || !out_reward) return 1;
    if (r->expect_empty_answer && answer[0]) r->nonempty_answer++;
    for (int64_t j = 0; j + 2 < completion_len; j++)
        if ((unsigned char)completion[j] == 0xEF && (unsigned char)completion[j + 1] == 0xBF &&
            (unsigned char)completion[j + 2] == 0xBD) {
            r->replacement_chars++;
            break;
        }
    if (r->known_prompts) {
        int found = 0;
        for (int k = 0; k < r->nknown; k++)
            if (strcmp(prompt, r->known_prompts[k]) == 0)
                found = 1, r->answer_mismatch += strcmp(answer, r->known_answers[k]) != 0;
        if (!found) r->answer_mismatch++;
    }
    double v;
    switch (r->mode) {
    case RW_CONST: v = r->value; break;
    case RW_FAIL_AT:
        if (i == r->fail_at) return 7;
        v = shaped_reward(completion, completion_len, answer);
        break;
    case RW_VALUE_AT: v = (i == r->fail_at) ? r->value : shaped_reward(completion, completion_len, answer); break;
    default: v = shaped_reward(completion, completion_len, answer); break;
    }
    *out_reward = v;
    r->sum += v;
    int g = 0;
    while (g < r->ngroups && strncmp(r->gprompt[g], prompt, 63) != 0) g++;
    if (g == r->ngroups && g < MAX_GROUPS) {
        snprintf(r->gprompt[g], sizeof r->gprompt[g], "%s", prompt);
        r->gmin[g] = r->gmax[g] = v;
        r->ngroups++;
    } else if (g < MAX_GROUPS) {
        if (v < r->gmin[g]) r->gmin[g] = v;
        if (v > r->gmax[g]) r->gmax[g] = v;
    }
    return 0;
}

double groups_eff_rate(const reward_state *r) {
    int eff = 0;
    for (int g = 0; g < r->ngroups; g++) eff += r->gmin[g] != r->gmax[g];
    return r->ngroups ? (double)eff / r->ngroups : 0;
}

void test_log(void *user_data, int32_t level, const char *message) {
    log_state *l = user_data;
    l->calls++;
    if (!message || !*message || message[strlen(message) - 1] == '\n' || (level != IBTPO_LOG_INFO && level != IBTPO_LOG_WARN)) {
        l->bad++;
    } else {
        l->levels[level]++;
        if (!l->first[0]) snprintf(l->first, sizeof l->first, "%s", message);
    }
}

void progress_reset(progress_state *p, const char *abort_phase) {
    memset(p, 0, sizeof *p);
    p->abort_phase = abort_phase;
}

int progress_saw(const progress_state *p, const char *phase) {
    for (int i = 0; i < p->nphases; i++)
        if (strcmp(p->phases[i], phase) == 0) return 1;
    return 0;
}

int32_t test_progress(void *user_data, const char *phase, int64_t done, int64_t total) {
    progress_state *p = user_data;
    static const char *known[] = {"rollout", "update", "evaluate", "generate", "score"};
    p->calls++;
    int ok = 0;
    for (size_t i = 0; phase && i < sizeof known / sizeof known[0]; i++) ok |= strcmp(phase, known[i]) == 0;
    if (!ok || total < 1 || done < 0 || done > total) p->bad++;
    if (!phase) return 0;
    if (strcmp(p->last_phase, phase) == 0 && done < p->last_done) p->bad++;
    snprintf(p->last_phase, sizeof p->last_phase, "%s", phase);
    p->last_done = done;
    if (!progress_saw(p, phase) && p->nphases < MAX_PHASES) snprintf(p->phases[p->nphases++], 16, "%s", phase);
    if (p->abort_phase && !p->aborted && (!*p->abort_phase || strcmp(p->abort_phase, phase) == 0)) {
        p->aborted = 1;
        p->aborted_done = done;
        return 1;
    }
    return 0;
}

void phases_string(const progress_state *p, char *out, size_t n) {
    out[0] = '\0';
    for (int i = 0; i < p->nphases; i++) {
        size_t l = strlen(out);
        snprintf(out + l, n - l, "%s%s", i ? "," : "", p->phases[i]);
    }
}

ibtpo_status gen(ibtpo_trainer *t, const int32_t *prompt, int64_t n, const ibtpo_sampling_config *s,
                 uint64_t seed, gen_out *o, int with_logps) {
    for (int i = 0; i < GN * GMAX; i++) o->tok[i] = -99, o->lp[i] = 99.0f;
    for (int i = 0; i < GN; i++) o->len[i] = -99;
    return ibtpo_trainer_generate(t, prompt, PLEN, n, s, seed, o->tok, o->len, with_logps ? o->lp : NULL);
}

/* Checks the documented layout of n completions; returns 1 if all rows are well formed. */
int gen_well_formed(const gen_out *o, int n, int max_new, int stop_at_eos, char *why, size_t whyn) {
    for (int i = 0; i < n; i++) {
        int64_t L = o->len[i];
        if (L < 1 || L > max_new) { snprintf(why, whyn, "row %d: length %lld", i, (long long)L); return 0; }
        for (int j = 0; j < max_new; j++) {
            int32_t tk = o->tok[i * max_new + j];
            float lp = o->lp[i * max_new + j];
            if (j < L) {
                if (tk < 0 || tk >= 259 || !isfinite(lp) || lp > 0) {
                    snprintf(why, whyn, "row %d pos %d: token %d log-prob %g", i, j, (int)tk, (double)lp);
                    return 0;
                }
                if (stop_at_eos && tk == IBTPO_TOKEN_EOS && j != L - 1) {
                    snprintf(why, whyn, "row %d: EOS at %d before the end %lld", i, j, (long long)L);
                    return 0;
                }
            } else if (tk != IBTPO_TOKEN_PAD || lp != 0.0f) {
                snprintf(why, whyn, "row %d pos %d after the end: token %d log-prob %g (want PAD, 0)", i, j, (int)tk,
                         (double)lp);
                return 0;
            }
        }
        if (stop_at_eos && L < max_new && o->tok[i * max_new + L - 1] != IBTPO_TOKEN_EOS) {
            snprintf(why, whyn, "row %d ends at %lld < max_new_tokens without EOS", i, (long long)L);
            return 0;
        }
    }
    return 1;
}

/* Scores prompt + completion i and compares with generate's temperature-1 log-probs.
 * Returns the worst |difference| (or INFINITY if the score call failed). */
double score_vs_generate(ibtpo_trainer *t, const int32_t *prompt, const gen_out *o, int n, int64_t *compared) {
    int32_t seqs[GN * (PLEN + GMAX)] = {0};
    int64_t lens[GN] = {0};
    float out[GN * (PLEN + GMAX)];
    const int W = PLEN + GMAX;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < W; j++) seqs[i * W + j] = IBTPO_TOKEN_PAD;
        memcpy(seqs + i * W, prompt, PLEN * sizeof(int32_t));
        memcpy(seqs + i * W + PLEN, o->tok + i * GMAX, (size_t)o->len[i] * sizeof(int32_t));
        lens[i] = PLEN + o->len[i];
    }
    if (ibtpo_trainer_score(t, seqs, lens, n, W, out) != IBTPO_OK) return INFINITY;
    double worst = 0;
    *compared = 0;
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < o->len[i]; j++) {
            double d = fabs((double)out[i * W + PLEN - 1 + j] - (double)o->lp[i * GMAX + j]);
            if (d > worst) worst = d;
            ++*compared;
        }
    return worst;
}

/* 2 prompts per step; GRPO G 3; IB-TPO tree (B0 2, L 2, K 1, B 1): G = 2 + 1 = 3;
 * 2 x 3 = 6 <= 8 rollout slots; 24 new tokens; no GRPO probe (its leaves would call the reward). */
ibtpo_rl_config small_rl(int32_t algo) {
    ibtpo_rl_config r;
    ibtpo_rl_config_default(&r);
    r.algo = algo;
    r.prompts_per_step = 2;
    r.group_size = 3;
    r.tree_b0 = 2;
    r.tree_l = 2;
    r.tree_k = 1;
    r.tree_b = 1;
    r.sampling = small_sampling();
    r.probe_every = 0;
    r.lr = 1e-3f;
    r.seed = 7;
    return r;
}
