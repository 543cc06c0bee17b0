/* test_batch.c — multi-sequence decode (slm_decode_multi) and embeddings
 * (slm_session_embed) on random-weight models written by slm_gen_model.
 * Expectations come from the single-session path: every session of a
 * multi step must get the logits it gets when decoded alone (up to the
 * float rounding of a different row count in the matmuls), and pooled
 * embeddings are checked against per-prefix states and against the output
 * head multiplied by hand from the GGUF's F32 weights.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "gguf/gguf.h"
#include "harness.h"
#include "slm.h"

static char tmpdir[256];

/* A small random model of arch and weight type, written once per name. */
static slm_model *gen_model(const char *arch, slm_type type, const char *name, char *path_out)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.gguf", tmpdir, name);
    slm_gen_params gp = slm_gen_default_params();
    gp.shape = NULL;
    gp.arch = arch;
    gp.n_embd = 64;
    gp.n_layer = 2;
    gp.n_head = 4;
    gp.n_head_kv = 2;
    gp.n_ff = 128;
    gp.n_vocab = 400;
    gp.n_ctx = 128;
    gp.type = type;
    gp.seed = 7;
    gp.n_threads = 1;
    if (slm_gen_model(&gp, path) != SLM_OK) {
        fprintf(stderr, "gen %s: %s\n", name, slm_last_error());
        return NULL;
    }
    slm_model *m = NULL;
    slm_model_params mp = slm_model_default_params();
    if (slm_model_load(path, &mp, &m) != SLM_OK) {
        fprintf(stderr, "load %s: %s\n", path, slm_last_error());
        return NULL;
    }
    if (path_out) snprintf(path_out, 512, "%s", path);
    return m;
}

static slm_session *new_session(slm_model *m, uint32_t n_ctx, uint32_t n_batch, int n_threads)
{
    slm_session_params sp = slm_session_default_params();
    sp.n_ctx = n_ctx;
    sp.n_batch = n_batch;
    sp.n_threads = n_threads;
    slm_session *s = NULL;
    if (slm_session_new(m, &sp, &s) != SLM_OK) return NULL;
    return s;
}

/* max |a - b| / max(1, max |b|) over n floats */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0.0, scale = 1.0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(b[i]) > scale) scale = fabs(b[i]);
        if (fabs((double)a[i] - b[i]) > d) d = fabs((double)a[i] - b[i]);
    }
    return d / scale;
}

static int32_t tok_at(int seq, int i, int n_vocab) { return (int32_t)((seq * 31 + i * 17 + 3) % n_vocab); }

#define K_SEQ 4

/* Sessions at different positions and lengths, some decoding several
 * tokens, one idle (0 tokens): each gets the logits of decoding alone. */
static void check_matches_alone(const char *arch, slm_type type, const char *name, double tol)
{
    slm_model *m = gen_model(arch, type, name, NULL);
    REQUIRE(m, "model %s", name);
    const int V = slm_model_n_vocab(m);
    slm_session *ms[K_SEQ], *solo[K_SEQ];
    for (int i = 0; i < K_SEQ; i++) {
        ms[i] = new_session(m, 64, 16, 1);
        solo[i] = new_session(m, 64, 16, 1);
        REQUIRE(ms[i] && solo[i], "session: %s", slm_last_error());
    }
    /* prompts of different lengths through the multi path (one spills over
     * n_batch = 16 into a second step), the same alone */
    static const size_t plen[K_SEQ] = {5, 19, 1, 9};
    int32_t prompts[K_SEQ][32];
    const int32_t *pp[K_SEQ];
    for (int i = 0; i < K_SEQ; i++) {
        for (size_t t = 0; t < plen[i]; t++) prompts[i][t] = tok_at(i, (int)t, V);
        pp[i] = prompts[i];
    }
    REQUIRE(slm_decode_multi(ms, pp, plen, K_SEQ) == SLM_OK, "prefill: %s", slm_last_error());
    for (int i = 0; i < K_SEQ; i++) {
        const float *ref = NULL;
        REQUIRE(slm_session_decode(solo[i], prompts[i], plen[i], &ref) == SLM_OK, "%s", slm_last_error());
        const float *got = slm_session_last_logits(ms[i]);
        REQUIRE(got, "seq %d has logits after prefill", i);
        CHECK(slm_session_n_past(ms[i]) == plen[i], "seq %d n_past %u, expected %zu", i,
              slm_session_n_past(ms[i]), plen[i]);
        double d = rel_diff(got, ref, (size_t)V);
        CHECK(d <= tol, "%s prefill seq %d: rel diff %.3g > %.3g", name, i, d, tol);
    }
    /* decode steps: K = 4, then 3 (seq 2 finished: 0 tokens), then K = 1;
     * seq 1 appends 2 tokens at once in the first step */
    for (int step = 0; step < 6; step++) {
        int32_t tk[K_SEQ][2];
        size_t n[K_SEQ];
        const int32_t *tp[K_SEQ];
        for (int i = 0; i < K_SEQ; i++) {
            n[i] = step == 0 && i == 1 ? 2 : 1;
            if (step >= 2 && i == 2) n[i] = 0;
            if (step >= 4 && i != 3) n[i] = 0;
            tk[i][0] = tok_at(i + 5, step, V);
            tk[i][1] = tok_at(i + 9, step, V);
            tp[i] = tk[i];
        }
        REQUIRE(slm_decode_multi(ms, tp, n, K_SEQ) == SLM_OK, "step %d: %s", step, slm_last_error());
        for (int i = 0; i < K_SEQ; i++) {
            if (!n[i]) continue;
            const float *ref = NULL;
            REQUIRE(slm_session_decode(solo[i], tk[i], n[i], &ref) == SLM_OK, "%s", slm_last_error());
            const float *got = slm_session_last_logits(ms[i]);
            REQUIRE(got, "step %d seq %d logits", step, i);
            double d = rel_diff(got, ref, (size_t)V);
            CHECK(d <= tol, "%s step %d seq %d: rel diff %.3g > %.3g", name, step, i, d, tol);
            CHECK(slm_session_n_past(ms[i]) == slm_session_n_past(solo[i]), "positions agree");
        }
    }
    for (int i = 0; i < K_SEQ; i++) {
        slm_session_free(ms[i]);
        slm_session_free(solo[i]);
    }
    slm_model_free(m);
}

/* The tolerance is that of the single-session path itself: the larger of
 * running the same decode on 1 vs 2 threads (different summation splits)
 * and of decoding a 19-token prompt in one call (chunks of 16 rows) vs
 * token by token, then 6 more tokens on each (matmuls over 8+ rows take the
 * GEMM kernels, which round F16 activations differently), times 4, with a
 * floor of 1e-5. */
static double thread_tolerance(const char *arch, slm_type type, const char *name)
{
    slm_model *m = gen_model(arch, type, name, NULL);
    if (!m) return 1e-5;
    const int V = slm_model_n_vocab(m);
    slm_session *a = new_session(m, 64, 16, 1), *b = new_session(m, 64, 16, 2), *c = new_session(m, 64, 16, 1);
    int32_t ids[25];
    for (int t = 0; t < 25; t++) ids[t] = tok_at(1, t, V);
    const float *la = NULL, *lb = NULL, *lc = NULL;
    double d = 0.0;
    if (a && b && c && slm_session_decode(a, ids, 19, &la) == SLM_OK &&
        slm_session_decode(b, ids, 19, &lb) == SLM_OK) {
        d = rel_diff(la, lb, (size_t)V);
        for (int t = 0; t < 19; t++)
            if (slm_session_decode(c, &ids[t], 1, &lc) != SLM_OK) lc = NULL;
        if (lc) d = fmax(d, rel_diff(lc, la, (size_t)V));
        for (int t = 19; t < 25 && lc; t++)
            if (slm_session_decode(a, &ids[t], 1, &la) == SLM_OK && slm_session_decode(c, &ids[t], 1, &lc) == SLM_OK)
                d = fmax(d, rel_diff(lc, la, (size_t)V));
    }
    slm_session_free(a);
    slm_session_free(b);
    slm_session_free(c);
    slm_model_free(m);
    fprintf(stderr, "%s: tolerance %.3g\n", name, d > 2.5e-6 ? 4 * d : 1e-5);
    return d > 2.5e-6 ? 4 * d : 1e-5;
}

static void multi_matches_alone_llama_f32(void)
{
    check_matches_alone("llama", SLM_TYPE_F32, "llama_f32", thread_tolerance("llama", SLM_TYPE_F32, "llama_f32"));
}
static void multi_matches_alone_qwen2_q8_0(void)
{
    check_matches_alone("qwen2", SLM_TYPE_Q8_0, "qwen2_q8", thread_tolerance("qwen2", SLM_TYPE_Q8_0, "qwen2_q8"));
}
/* Q5_0 and Q8_0 take the few-row kernels (kernels/batch.h) at 2..7 rows */
static void multi_matches_alone_qwen2_q5_0(void)
{
    check_matches_alone("qwen2", SLM_TYPE_Q5_0, "qwen2_q5", thread_tolerance("qwen2", SLM_TYPE_Q5_0, "qwen2_q5"));
}
static void multi_matches_alone_gemma2_q4_0(void)
{
    check_matches_alone("gemma2", SLM_TYPE_Q4_0, "gemma2_q4", thread_tolerance("gemma2", SLM_TYPE_Q4_0, "gemma2_q4"));
}
static void multi_matches_alone_phi3_f16(void)
{
    check_matches_alone("phi3", SLM_TYPE_F16, "phi3_f16", thread_tolerance("phi3", SLM_TYPE_F16, "phi3_f16"));
}

static void multi_rejects_bad_input_and_changes_nothing(void)
{
    slm_model *m = gen_model("llama", SLM_TYPE_F32, "llama_f32", NULL);
    REQUIRE(m, "model");
    slm_model *m2 = gen_model("qwen2", SLM_TYPE_Q8_0, "qwen2_q8", NULL);
    REQUIRE(m2, "model 2");
    slm_session *a = new_session(m, 8, 8, 1), *b = new_session(m, 64, 16, 1), *c = new_session(m2, 64, 16, 1);
    REQUIRE(a && b && c, "sessions");
    int32_t ok[3] = {1, 2, 3}, bad[2] = {1, 400};
    size_t n2[2] = {3, 3};
    const int32_t *p2[2] = {ok, ok};
    slm_session *dup[2] = {a, a};
    CHECK(slm_decode_multi(dup, p2, n2, 2) == SLM_ERR_ARG, "a session listed twice");
    slm_session *mixed[2] = {a, c};
    CHECK(slm_decode_multi(mixed, p2, n2, 2) == SLM_ERR_ARG, "sessions of two models");
    slm_session *ab[2] = {a, b};
    const int32_t *pb[2] = {ok, bad};
    size_t nb[2] = {3, 2};
    CHECK(slm_decode_multi(ab, pb, nb, 2) == SLM_ERR_ARG, "id 400 outside the vocabulary");
    CHECK(strstr(slm_last_error(), "400") != NULL, "message names the id: %s", slm_last_error());
    int32_t many[9] = {0};
    const int32_t *pf[2] = {ok, many};
    size_t nf[2] = {3, 9};
    slm_session *ba[2] = {b, a};
    CHECK(slm_decode_multi(ba, pf, nf, 2) == SLM_ERR_FULL, "9 tokens in n_ctx 8");
    CHECK(slm_session_n_past(a) == 0 && slm_session_n_past(b) == 0, "nothing decoded: %u %u",
          slm_session_n_past(a), slm_session_n_past(b));
    CHECK(slm_decode_multi(NULL, p2, n2, 2) == SLM_ERR_ARG, "NULL sessions");
    CHECK(slm_decode_multi(NULL, NULL, NULL, 0) == SLM_OK, "no sessions is a no-op");
    slm_session_free(a);
    slm_session_free(b);
    slm_session_free(c);
    slm_model_free(m);
    slm_model_free(m2);
}

static void multi_step_allocates_nothing_after_warmup(void)
{
    slm_model *m = gen_model("qwen2", SLM_TYPE_Q8_0, "qwen2_q8", NULL);
    REQUIRE(m, "model");
    slm_session *ss[3];
    for (int i = 0; i < 3; i++) REQUIRE((ss[i] = new_session(m, 64, 16, 2)), "session");
    int32_t tk[3] = {1, 2, 3};
    const int32_t *tp[3] = {&tk[0], &tk[1], &tk[2]};
    size_t n[3] = {1, 1, 1};
    REQUIRE(slm_decode_multi(ss, tp, n, 3) == SLM_OK, "warm-up: %s", slm_last_error());
    uint64_t before = slm_alloc_count();
    for (int step = 0; step < 20; step++) {
        for (int i = 0; i < 3; i++) tk[i] = (tk[i] * 7 + 3) % 400;
        REQUIRE(slm_decode_multi(ss, tp, n, 3) == SLM_OK, "%s", slm_last_error());
    }
    CHECK(slm_alloc_count() == before, "%llu allocations in 20 multi steps",
          (unsigned long long)(slm_alloc_count() - before));
    for (int i = 0; i < 3; i++) slm_session_free(ss[i]);
    slm_model_free(m);
}

static double l2(const float *v, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)v[i] * v[i];
    return sqrt(s);
}

/* Mean pooling equals the mean of the per-token states (each the LAST
 * state of its prefix, attention being causal), and the LAST state times
 * the output matrix (read from the file) gives the logits. */
static void embedding_is_the_mean_of_final_norm_states(void)
{
    char path[512];
    slm_model *m = gen_model("llama", SLM_TYPE_F32, "llama_f32", path);
    REQUIRE(m, "model");
    const int E = slm_model_n_embd(m), V = slm_model_n_vocab(m);
    slm_session *s = new_session(m, 64, 4, 1); /* n_batch 4: 10 tokens take 3 chunks */
    REQUIRE(s, "session");
    int32_t ids[10];
    for (int t = 0; t < 10; t++) ids[t] = tok_at(3, t, V);
    float *mean = malloc(sizeof(float) * (size_t)E), *h = malloc(sizeof(float) * (size_t)E);
    double *acc = calloc((size_t)E, sizeof(double));
    REQUIRE(slm_session_embed(s, ids, 10, SLM_POOLING_MEAN, 0, mean) == SLM_OK, "%s", slm_last_error());
    CHECK(slm_session_n_past(s) == 10, "cache holds the tokens");
    for (int t = 1; t <= 10; t++) {
        REQUIRE(slm_session_embed(s, ids, (size_t)t, SLM_POOLING_LAST, 0, h) == SLM_OK, "%s", slm_last_error());
        for (int j = 0; j < E; j++) acc[j] += h[j];
    }
    double d = 0.0, sc = 0.0;
    for (int j = 0; j < E; j++) {
        d = fmax(d, fabs(acc[j] / 10.0 - mean[j]));
        sc = fmax(sc, fabs(mean[j]));
    }
    CHECK(d <= 1e-5 * fmax(1.0, sc), "mean pooled vs manual mean: %.3g", d);

    /* h = the last state of all 10 tokens; logits = W h */
    const float *logits = NULL;
    slm_session *r = new_session(m, 64, 16, 1);
    REQUIRE(r && slm_session_decode(r, ids, 10, &logits) == SLM_OK, "%s", slm_last_error());
    slm_gguf *g = NULL;
    REQUIRE(slm_gguf_open(path, 1, &g) == SLM_OK, "%s", slm_last_error());
    const slm_gguf_tensor *w = slm_gguf_find_tensor(g, "output.weight");
    if (!w) w = slm_gguf_find_tensor(g, "token_embd.weight");
    REQUIRE(w && w->type == SLM_TYPE_F32, "F32 output matrix");
    const float *wd = (const float *)w->data;
    double dl = 0.0, ls = 1.0;
    for (int v = 0; v < V; v++) {
        double z = 0.0;
        for (int j = 0; j < E; j++) z += (double)wd[(size_t)v * E + j] * h[j];
        dl = fmax(dl, fabs(z - logits[v]));
        ls = fmax(ls, fabs(logits[v]));
    }
    CHECK(dl <= 1e-4 * ls, "W h vs logits: %.3g (scale %.3g)", dl, ls);

    /* normalized: unit length, same direction */
    float *nrm = malloc(sizeof(float) * (size_t)E);
    REQUIRE(slm_session_embed(s, ids, 10, SLM_POOLING_MEAN, 1, nrm) == SLM_OK, "%s", slm_last_error());
    CHECK(fabs(l2(nrm, (size_t)E) - 1.0) < 1e-5, "unit length: %.8f", l2(nrm, (size_t)E));
    const double lm = l2(mean, (size_t)E);
    double dn = 0.0;
    for (int j = 0; j < E; j++) dn = fmax(dn, fabs(nrm[j] - mean[j] / lm));
    CHECK(dn < 1e-6, "normalized = mean / |mean|: %.3g", dn);

    CHECK(slm_session_embed(s, ids, 0, SLM_POOLING_MEAN, 1, nrm) == SLM_ERR_ARG, "no tokens");
    int32_t big[65] = {0};
    CHECK(slm_session_embed(s, big, 65, SLM_POOLING_MEAN, 1, nrm) == SLM_ERR_FULL, "65 tokens in n_ctx 64");
    CHECK(slm_session_embed(s, ids, 10, (slm_pooling)7, 1, nrm) == SLM_ERR_ARG, "unknown pooling");

    slm_gguf_close(g);
    free(nrm);
    free(mean);
    free(h);
    free(acc);
    slm_session_free(r);
    slm_session_free(s);
    slm_model_free(m);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/slm_test_batch_%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", tmpdir);
    if (system(cmd) != 0) return 1;
    RUN(multi_matches_alone_llama_f32);
    RUN(multi_matches_alone_qwen2_q8_0);
    RUN(multi_matches_alone_qwen2_q5_0);
    RUN(multi_matches_alone_gemma2_q4_0);
    RUN(multi_matches_alone_phi3_f16);
    RUN(multi_rejects_bad_input_and_changes_nothing);
    RUN(multi_step_allocates_nothing_after_warmup);
    RUN(embedding_is_the_mean_of_final_norm_states);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) return 1;
    return harness_finish();
}
