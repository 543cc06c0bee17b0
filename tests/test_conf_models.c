/* test_conf_models.c — conformance of the forward pass with llama.cpp
 * v0.5.0 reference logits (../shared/testdata/models and stories260K; see
 * its README sections 3-6). For every model file: the prompt as one batch
 * (logits_all, F32 KV) on 1 and 2 threads against NAME.logits.f32 with the
 * README's tolerance for an implementation that converts activations like
 * llama.cpp; top-1 where the reference gap exceeds twice the limit; greedy
 * one-token-at-a-time decoding reproducing NAME.greedy.txt (F32 files);
 * teacher-forced continuation logits (F32 files); and an F16-KV run
 * against README 5d. Prints one table row per file.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "slm.h"

#define MAX_TOK 256

typedef struct limits {
    double max_abs, rms;
    double pre_flip; /* > 0: quantized file: max per position before the first flip */
} limits;

static int read_ids(const char *path, int32_t *ids, int cap)
{
    size_t sz;
    char *txt = harness_read_file(path, &sz);
    if (!txt) return -1;
    char *buf = realloc(txt, sz + 1);
    if (!buf) { free(txt); return -1; }
    buf[sz] = '\0';
    int n = 0;
    char *p = buf, *end;
    for (;;) {
        long v = strtol(p, &end, 10);
        if (end == p || n >= cap) break;
        ids[n++] = (int32_t)v;
        p = end;
    }
    free(buf);
    return n;
}

static float *read_f32(const char *path, size_t *n)
{
    size_t sz;
    float *f = harness_read_file(path, &sz);
    if (f) *n = sz / sizeof(float);
    return f;
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static float top_gap(const float *x, int n)
{
    int b = argmax(x, n);
    float second = -INFINITY;
    for (int i = 0; i < n; i++)
        if (i != b && x[i] > second) second = x[i];
    return x[b] - second;
}

static limits limits_for(const char *name)
{
    limits l = {1e-4, 1e-5, 0};
    if (strstr(name, "stories260K")) l.rms = 2e-5;
    if (strstr(name, "gemma2-F32")) l = (limits){1e-3, 1e-4, 0};
    if (strstr(name, "-F16")) l = (limits){5e-3, 1e-3, 0};
    if (strstr(name, "-BF16")) l = (limits){3e-2, 5e-3, 0};
    if (strstr(name, "-Q8_0") || strstr(name, "-Q4_0")) l = (limits){0.15, 0.03, 1e-5};
    if (strstr(name, "-Q6_K") || strstr(name, "-Q4_K_M")) l = (limits){0.25, 0.06, 1e-5};
    if (strstr(name, "tiny-moe-Q")) l = (limits){1.2, 0.08, 1e-5};
    return l;
}

typedef struct cmp {
    double max_abs, rms;
    int top1_agree, top1_required, top1_required_ok;
    int first_over;      /* first position with max diff > 1e-4, or -1 */
    double max_before;   /* max diff over positions before first_over */
} cmp;

static cmp compare(const float *ours, const float *ref, int n_pos, int n_vocab, double lim)
{
    cmp c = {0, 0, 0, 0, 0, -1, 0};
    double ss = 0;
    for (int p = 0; p < n_pos; p++) {
        double pm = 0;
        for (int i = 0; i < n_vocab; i++) {
            double d = fabs((double)ours[p * n_vocab + i] - (double)ref[p * n_vocab + i]);
            if (d > pm) pm = d;
            ss += d * d;
        }
        if (pm > c.max_abs) c.max_abs = pm;
        if (c.first_over < 0 && pm > 1e-4) c.first_over = p;
        if (c.first_over < 0 && pm > c.max_before) c.max_before = pm;
        int a = argmax(ours + p * n_vocab, n_vocab), b = argmax(ref + p * n_vocab, n_vocab);
        c.top1_agree += a == b;
        if (top_gap(ref + p * n_vocab, n_vocab) > 2 * lim) {
            c.top1_required++;
            c.top1_required_ok += a == b;
        }
    }
    c.rms = sqrt(ss / ((double)n_pos * n_vocab));
    return c;
}

/* Prompt as one batch with logits_all; returns a malloc'd [n][n_vocab]. */
static float *run_prompt(slm_model *m, const int32_t *ids, int n, int threads, slm_type kv)
{
    slm_session_params sp = slm_session_default_params();
    sp.n_ctx = 256;
    sp.n_batch = 256;
    sp.n_threads = threads;
    sp.kv_type = kv;
    sp.logits_all = 1;
    slm_session *s;
    if (slm_session_new(m, &sp, &s) != SLM_OK) return NULL;
    int nv = slm_model_n_vocab(m);
    float *out = malloc((size_t)n * nv * sizeof(float));
    if (out && slm_session_decode(s, ids, (size_t)n, NULL) == SLM_OK) {
        for (int i = 0; i < n; i++) memcpy(out + (size_t)i * nv, slm_session_logits(s, (size_t)i),
                                           (size_t)nv * sizeof(float));
    } else {
        free(out);
        out = NULL;
    }
    slm_session_free(s);
    return out;
}

static int fails_total;

static void check_file(const char *dir, const char *name)
{
    char path[1024];
    int32_t prompt[MAX_TOK], greedy[MAX_TOK];
    snprintf(path, sizeof path, "%s/%s.tokens.txt", dir, name);
    int n = read_ids(path, prompt, MAX_TOK);
    snprintf(path, sizeof path, "%s/%s.greedy.txt", dir, name);
    int n_greedy = read_ids(path, greedy, MAX_TOK);
    size_t n_ref = 0, n_gl = 0;
    snprintf(path, sizeof path, "%s/%s.logits.f32", dir, name);
    float *ref = read_f32(path, &n_ref);
    snprintf(path, sizeof path, "%s/%s.greedy_logits.f32", dir, name);
    float *gref = read_f32(path, &n_gl);
    snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
    slm_model *m = NULL;
    slm_model_params mp = slm_model_default_params();
    slm_status st = slm_model_load(path, &mp, &m);
    CHECK(st == SLM_OK, "%s: load failed: %s", name, slm_last_error());
    if (st != SLM_OK || n <= 0 || !ref) {
        CHECK(n > 0 && ref, "%s: reference files missing", name);
        free(ref);
        free(gref);
        slm_model_free(m);
        return;
    }
    const int nv = slm_model_n_vocab(m);
    const int is_f32 = strstr(name, "-F32") != NULL;
    limits lim = limits_for(name);
    CHECK(n_ref == (size_t)n * nv, "%s: %zu reference logits, expected %d x %d", name, n_ref, n, nv);

    float *l1 = run_prompt(m, prompt, n, 1, SLM_TYPE_F32);
    float *l2 = run_prompt(m, prompt, n, 2, SLM_TYPE_F32);
    CHECK(l1 && l2, "%s: decode failed: %s", name, slm_last_error());
    if (!l1 || !l2) goto done;
    cmp c = compare(l1, ref, n, nv, lim.max_abs);
    int before = harness_failed_checks;
    CHECK(c.max_abs <= lim.max_abs, "%s: max abs %.3g > %.3g", name, c.max_abs, lim.max_abs);
    CHECK(c.rms <= lim.rms, "%s: rms %.3g > %.3g", name, c.rms, lim.rms);
    if (lim.pre_flip > 0)
        CHECK(c.max_before <= lim.pre_flip, "%s: %.3g before the first flip (position %d) > %.3g",
              name, c.max_before, c.first_over, lim.pre_flip);
    CHECK(c.top1_required_ok == c.top1_required, "%s: top-1 differs at %d of %d clear positions",
          name, c.top1_required - c.top1_required_ok, c.top1_required);
    CHECK(memcmp(l1, l2, (size_t)n * nv * sizeof(float)) == 0,
          "%s: 2 threads differ from 1 thread", name);

    /* greedy, one token per call, after the prompt as one batch */
    int prefix = 0;
    double tf_max = 0;
    {
        slm_session_params sp = slm_session_default_params();
        sp.n_ctx = 256;
        sp.kv_type = SLM_TYPE_F32;
        sp.n_threads = 1;
        slm_session *s;
        REQUIRE(slm_session_new(m, &sp, &s) == SLM_OK, "%s: %s", name, slm_last_error());
        const float *lg;
        REQUIRE(slm_session_decode(s, prompt, (size_t)n, &lg) == SLM_OK, "%s", slm_last_error());
        int same = 1;
        for (int k = 0; k < n_greedy; k++) {
            int32_t tok = argmax(lg, nv);
            if (same && tok == greedy[k]) prefix++;
            else same = 0;
            if (slm_session_decode(s, &tok, 1, &lg) != SLM_OK) break;
        }
        /* teacher forcing on the reference continuation */
        if (gref && n_gl >= (size_t)nv) {
            int rows = (int)(n_gl / (size_t)nv);
            slm_session_truncate(s, (uint32_t)n);
            for (int k = 0; k < rows && k < n_greedy; k++) {
                REQUIRE(slm_session_decode(s, &greedy[k], 1, &lg) == SLM_OK, "%s", slm_last_error());
                for (int i = 0; i < nv; i++) {
                    double d = fabs((double)lg[i] - gref[(size_t)k * nv + i]);
                    if (d > tf_max) tf_max = d;
                }
            }
            /* the continuation runs further from the prompt; README 5a: stories 3.4e-5 */
            CHECK(tf_max <= lim.max_abs, "%s: teacher-forced continuation max abs %.3g > %.3g", name,
                  tf_max, lim.max_abs);
        }
        slm_session_free(s);
        if (is_f32)
            CHECK(prefix == n_greedy, "%s: greedy continuation matches %d of %d tokens", name,
                  prefix, n_greedy);
    }

    /* F16 KV cache (llama.cpp's default) against README 5d: measured up to
     * 3.6e-3 max / 5.5e-4 rms for llama.cpp itself; allow twice that. */
    double kv16_max = -1;
    if (is_f32) {
        float *lh = run_prompt(m, prompt, n, 1, SLM_TYPE_F16);
        CHECK(lh != NULL, "%s: F16 KV decode failed", name);
        if (lh) {
            /* stories260K's logits are ~7.75x larger (std 6.2 vs 0.8): scale */
            double k = strstr(name, "stories260K") ? 7.75 : 1.0;
            cmp ch = compare(lh, ref, n, nv, 7.2e-3);
            kv16_max = ch.max_abs;
            CHECK(ch.max_abs <= 7.2e-3 * k, "%s: F16 KV max abs %.3g", name, ch.max_abs);
            CHECK(ch.rms <= 1.1e-3 * k, "%s: F16 KV rms %.3g", name, ch.rms);
            CHECK(ch.top1_agree == n, "%s: F16 KV top-1 agrees at %d of %d", name, ch.top1_agree, n);
            free(lh);
        }
    }
    int ok = harness_failed_checks == before;
    char flip[32] = "-", tf[32] = "-", kv16[32] = "-";
    if (c.first_over >= 0) snprintf(flip, sizeof flip, "%d (%.1e)", c.first_over, c.max_before);
    if (gref) snprintf(tf, sizeof tf, "%.2e", tf_max);
    if (kv16_max >= 0) snprintf(kv16, sizeof kv16, "%.2e", kv16_max);
    printf("| %-22s | %8.2e | %8.2e | %2d/%-2d | %-12s | %3d/%-3d | %-8s | %-8s | %s |\n", name,
           c.max_abs, c.rms, c.top1_agree, n, flip, prefix, n_greedy, tf, kv16, ok ? "ok" : "FAIL");
    fflush(stdout);
done:
    free(l1);
    free(l2);
    free(ref);
    free(gref);
    slm_model_free(m);
}

/* Reading the file into memory instead of mapping it gives the same bits. */
static void read_instead_of_mmap_gives_identical_logits(void)
{
    const char *path = SLM_TESTDATA_DIR "/models/tiny-llama-Q4_K_M.gguf";
    int32_t prompt[MAX_TOK];
    int n = read_ids(SLM_TESTDATA_DIR "/models/tiny-llama-Q4_K_M.tokens.txt", prompt, MAX_TOK);
    REQUIRE(n > 0, "tokens");
    slm_model *a = NULL, *b = NULL;
    slm_model_params mp = slm_model_default_params();
    REQUIRE(slm_model_load(path, &mp, &a) == SLM_OK, "%s", slm_last_error());
    mp.use_mmap = 0;
    REQUIRE(slm_model_load(path, &mp, &b) == SLM_OK, "%s", slm_last_error());
    float *la = run_prompt(a, prompt, n, 1, SLM_TYPE_F16);
    float *lb = run_prompt(b, prompt, n, 2, SLM_TYPE_F16);
    CHECK(la && lb && memcmp(la, lb, (size_t)n * slm_model_n_vocab(a) * sizeof(float)) == 0,
          "mmap and read differ");
    free(la);
    free(lb);
    slm_model_free(a);
    slm_model_free(b);
}

static const char *const tiny_models[] = {
    "tiny-llama-F32", "tiny-llama-F16", "tiny-llama-BF16", "tiny-llama-Q8_0", "tiny-llama-Q6_K",
    "tiny-llama-Q4_K_M", "tiny-llama-Q4_0", "tiny-llama-tied-F32", "tiny-llama-tied-Q8_0",
    "tiny-llama-tied-Q4_0", "tiny-qwen2-F32", "tiny-qwen2-Q8_0", "tiny-qwen2-Q4_0",
    "tiny-qwen3-F32", "tiny-qwen3-Q8_0", "tiny-qwen3-Q4_0", "tiny-gemma2-F32", "tiny-gemma2-Q8_0",
    "tiny-gemma2-Q4_0", "tiny-phi3-F32", "tiny-phi3-Q8_0", "tiny-phi3-Q4_0", "tiny-moe-F32",
    "tiny-moe-Q8_0", "tiny-moe-Q4_0",
};

static void models_match_llama_cpp_reference_logits(void)
{
    printf("| file                   | max abs  | rms      | top-1 | >1e-4 from   | greedy  | tf max   | kv16 max | result |\n"
           "|------------------------|----------|----------|-------|--------------|---------|----------|----------|--------|\n");
    const char *filter = getenv("SLM_CONF_FILTER");
    for (size_t i = 0; i < sizeof tiny_models / sizeof *tiny_models; i++) {
        if (filter && !strstr(tiny_models[i], filter)) continue;
        check_file(SLM_TESTDATA_DIR "/models", tiny_models[i]);
    }
    if (!filter || strstr("stories260K-F32", filter))
        check_file(SLM_TESTDATA_DIR "/stories260K", "stories260K-F32");
}

int main(void)
{
    harness_need_dir(SLM_TESTDATA_DIR);
    RUN(models_match_llama_cpp_reference_logits);
    RUN(read_instead_of_mmap_gives_identical_logits);
    (void)fails_total;
    return harness_finish();
}
