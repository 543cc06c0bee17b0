/* test_conf_prune.c — slm_prune on a real trained model: stories260K from
 * ../shared/testdata (exit 77 without it), calibrated on TinyStories text
 * from ../shared/data (the quality checks skip without it). Checks that
 * every method's output loads and decodes, that the structure is what was
 * asked for, and that pruning costs what it should: Wanda's activation-aware
 * choice loses less than plain magnitude at the same 50% sparsity, and
 * nothing is free (ppl rises).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "harness.h"
#include "slm.h"

#define MODEL SLM_TESTDATA_DIR "/stories260K/stories260K-F32.gguf"
#define CAL SLM_SHARED_DATA_DIR "/text/tinystories/tinystories_sample_cs336.txt"
#define HELDOUT SLM_SHARED_DATA_DIR "/text/tinystories/tinystories_valid_prefix.txt.gz"

static char dir_buf[512];

static const char *tmp(const char *tag)
{
    static char bufs[8][600];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", dir_buf, tag);
    return b;
}

static int have(const char *path) { return access(path, R_OK) == 0; }

static slm_prune_params params(const char *method, float ratio)
{
    slm_prune_params p = slm_prune_default_params();
    p.method = method;
    p.ratio = ratio;
    p.data = CAL;
    p.n_ctx = 128;
    p.n_threads = 2;
    return p;
}

/* Greedy-decode the reference prompt; returns the first token's logits argmax or -1. */
static int decodes(const char *path)
{
    slm_model *m = NULL;
    slm_session *s = NULL;
    slm_model_params mp = slm_model_default_params();
    slm_session_params sp = slm_session_default_params();
    sp.n_ctx = 64;
    sp.n_threads = 1;
    int32_t ids[8] = {1, 403, 407, 261, 378, 425, 378, 260};
    const float *l = NULL;
    int best = -1;
    if (slm_model_load(path, &mp, &m) == SLM_OK && slm_session_new(m, &sp, &s) == SLM_OK &&
        slm_session_decode(s, ids, 8, &l) == SLM_OK && l) {
        best = 0;
        for (int v = 0; v < slm_model_n_vocab(m); v++) {
            if (!isfinite(l[v])) {
                best = -1;
                break;
            }
            if (l[v] > l[best]) best = v;
        }
    }
    slm_session_free(s);
    slm_model_free(m);
    return best;
}

static double kld_vs(const char *path, const char *base_lp, double *ppl)
{
    slm_model *m = NULL;
    slm_model_params mp = slm_model_default_params();
    slm_perplexity_params pp = slm_perplexity_default_params();
    pp.n_ctx = 128;
    pp.n_chunks = 16;
    pp.n_threads = 2;
    pp.kl_base = base_lp;
    slm_perplexity_result r;
    double kld = NAN;
    if (slm_model_load(path, &mp, &m) == SLM_OK && slm_perplexity(m, HELDOUT, &pp, &r) == SLM_OK) {
        kld = r.kld;
        *ppl = r.ppl;
    }
    slm_model_free(m);
    return kld;
}

static void stories_depth_pruned_has_fewer_blocks_and_decodes(void)
{
    if (!have(CAL)) return;
    const char *out = tmp("depth.gguf");
    slm_prune_stats st;
    slm_prune_params p = params("depth", 0.4f);
    p.stats = &st;
    REQUIRE(slm_prune(MODEL, out, &p) == SLM_OK, "prune: %s", slm_last_error());
    CHECK(st.n_layer_in == 5 && st.n_layer_out == 3, "layers %u -> %u", st.n_layer_in, st.n_layer_out);
    for (uint32_t l = 0; l < 5; l++)
        CHECK(st.layer_score[l] > 0.0 && st.layer_score[l] <= 1.0 + 1e-9, "layer %u cosine %g", l, st.layer_score[l]);
    /* the removed layers are the two most similar ones */
    for (uint32_t i = 0; i < st.n_removed_layers; i++)
        for (uint32_t l = 0; l < 5; l++) {
            int removed = 0;
            for (uint32_t k = 0; k < st.n_removed_layers; k++) removed |= st.removed_layers[k] == (int32_t)l;
            if (!removed)
                CHECK(st.layer_score[st.removed_layers[i]] >= st.layer_score[l], "removed layer %d (%g) below kept %u (%g)",
                      st.removed_layers[i], st.layer_score[st.removed_layers[i]], l, st.layer_score[l]);
        }
    slm_model *m = NULL;
    slm_model_params mp = slm_model_default_params();
    REQUIRE(slm_model_load(out, &mp, &m) == SLM_OK, "load: %s", slm_last_error());
    CHECK(slm_model_n_layer(m) == 3, "n_layer %d", slm_model_n_layer(m));
    slm_model_free(m);
    CHECK(decodes(out) >= 0, "does not decode");
}

static void stories_two_four_wanda_holds_the_pattern_and_loads(void)
{
    if (!have(CAL)) return;
    const char *out = tmp("wanda24.gguf");
    slm_prune_params p = params("wanda", 0.0f);
    p.pattern_n = 2, p.pattern_m = 4;
    REQUIRE(slm_prune(MODEL, out, &p) == SLM_OK, "prune: %s", slm_last_error());
    slm_gguf *g = NULL;
    REQUIRE(slm_gguf_open(out, 1, &g) == SLM_OK, "open");
    int64_t groups = 0, bad = 0;
    for (int64_t i = 0; i < slm_gguf_n_tensors(g); i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(g, i);
        if (strncmp(t->name, "blk.", 4) != 0 || strstr(t->name, "norm")) continue;
        REQUIRE(t->type == SLM_TYPE_F32 && t->ne[0] % 4 == 0, "%s", t->name);
        const float *w = t->data;
        for (int64_t k = 0; k < t->ne[0] * t->ne[1] / 4; k++, groups++) {
            int z = (w[4 * k] == 0) + (w[4 * k + 1] == 0) + (w[4 * k + 2] == 0) + (w[4 * k + 3] == 0);
            bad += z != 2;
        }
    }
    slm_gguf_close(g);
    /* per layer: Q and O 64x64, K and V 64x32 (4 KV heads), 3 FFN matrices of 64x172 */
    CHECK(groups == 5 * (2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 172) / 4, "groups %lld", (long long)groups);
    CHECK(bad == 0, "%lld of %lld groups without exactly 2 zeros", (long long)bad, (long long)groups);
    CHECK(decodes(out) >= 0, "does not decode");
}

static void stories_ffn_pruned_is_smaller_and_decodes(void)
{
    if (!have(CAL)) return;
    const char *out = tmp("ffn.gguf");
    slm_prune_stats st;
    slm_prune_params p = params("ffn", 0.25f);
    p.stats = &st;
    REQUIRE(slm_prune(MODEL, out, &p) == SLM_OK, "prune: %s", slm_last_error());
    CHECK(st.n_ff_in == 172 && st.n_ff_out == 129, "n_ff %u -> %u", st.n_ff_in, st.n_ff_out);
    /* 5 layers x 3 matrices x 43 channels x 64 floats */
    CHECK(st.in_bytes - st.out_bytes == 5 * 3 * 43 * 64 * 4, "bytes %llu -> %llu", (unsigned long long)st.in_bytes,
          (unsigned long long)st.out_bytes);
    struct stat a, b;
    CHECK(stat(MODEL, &a) == 0 && stat(out, &b) == 0 && b.st_size < a.st_size, "file not smaller");
    CHECK(decodes(out) >= 0, "does not decode");
}

/* Heads: stories260K has 8 query heads in 4 KV groups of head dim 8; half
 * the groups go in each of its 5 layers: Q loses 32 rows, K and V 16 rows
 * each, attn_output 32 columns (of 64 floats). The file decodes in slm and,
 * when the llama.cpp driver that bench/compare installs is present, loads in
 * llama.cpp with the same logits (F16 KV cache there: 0.05 absolute). */
static void stories_heads_pruned_is_smaller_and_loads_in_llama_cpp(void)
{
    if (!have(CAL)) return;
    const char *out = tmp("heads.gguf");
    slm_prune_stats st;
    slm_prune_params p = params("heads", 0.5f);
    p.stats = &st;
    REQUIRE(slm_prune(MODEL, out, &p) == SLM_OK, "prune: %s", slm_last_error());
    CHECK(st.n_head_in == 8 && st.n_head_out == 4 && st.n_head_kv_in == 4 && st.n_head_kv_out == 2,
          "heads %u -> %u, kv %u -> %u", st.n_head_in, st.n_head_out, st.n_head_kv_in, st.n_head_kv_out);
    CHECK(st.n_params_in - st.n_params_out == 5 * (32 + 16 + 16 + 32) * 64, "params %llu -> %llu",
          (unsigned long long)st.n_params_in, (unsigned long long)st.n_params_out);
    REQUIRE(decodes(out) >= 0, "does not decode");

    char cache[512], driver[600], libdir[800], cmd[4096], lg[700];
    const char *c = getenv("SLM_BENCH_CACHE"), *home = getenv("HOME");
    snprintf(cache, sizeof cache, "%s", c ? c : home ? home : "/nonexistent");
    if (!c) strncat(cache, "/.cache/slm-bench", sizeof cache - strlen(cache) - 1);
    snprintf(driver, sizeof driver, "%s/bin/llamacpp_bench", cache);
    snprintf(libdir, sizeof libdir, "%s/node-llama-cpp/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64", cache);
    if (access(driver, X_OK) != 0 || access(libdir, R_OK) != 0) {
        printf("     (llama.cpp load skipped: no driver at %s; run bench/compare --check-load once)\n", driver);
        return;
    }
    snprintf(lg, sizeof lg, "%s", tmp("heads.f32"));
    remove(lg);
    int32_t ids[8] = {1, 403, 407, 261, 378, 425, 378, 260};
    snprintf(cmd, sizeof cmd,
             "'%s' --backend-dir '%s' -m '%s' --tokens '1 403 407 261 378 425 378 260' -t 1 --logits-out '%s' "
             "2>/dev/null",
             driver, libdir, out, lg);
    int rc = system(cmd);
    FILE *f = rc == 0 ? fopen(lg, "rb") : NULL;
    CHECK(f != NULL, "llama.cpp did not load/decode the heads-pruned model (rc %d)", rc);
    if (!f) return;
    float *ref = malloc(8 * 512 * sizeof *ref);
    size_t n = ref ? fread(ref, sizeof *ref, 8 * 512, f) : 0;
    fclose(f);
    slm_model *m = NULL;
    slm_session *s = NULL;
    slm_model_params mp = slm_model_default_params();
    slm_session_params sp = slm_session_default_params();
    sp.logits_all = 1;
    sp.n_threads = 1;
    sp.n_ctx = 64;
    double worst = INFINITY;
    if (n == 8 * 512 && slm_model_load(out, &mp, &m) == SLM_OK && slm_session_new(m, &sp, &s) == SLM_OK &&
        slm_session_decode(s, ids, 8, NULL) == SLM_OK) {
        worst = 0;
        for (int i = 0; i < 8; i++)
            for (int v = 0; v < 512; v++) {
                double d = fabs((double)slm_session_logits(s, i)[v] - ref[i * 512 + v]);
                if (!(d <= worst)) worst = d;
            }
    }
    CHECK(worst < 0.05, "heads-pruned: max |slm - llama.cpp| logit %g", worst);
    printf("     heads-pruned stories260K in llama.cpp: max |logit diff| %.4f\n", worst);
    slm_session_free(s);
    slm_model_free(m);
    free(ref);
}

static void stories_wanda_costs_less_than_magnitude(void)
{
    if (!have(CAL) || !have(HELDOUT)) {
        printf("  (skipped: %s or %s missing)\n", CAL, HELDOUT);
        return;
    }
    const char *base = tmp("base.lp");
    slm_model *m = NULL;
    slm_model_params mp = slm_model_default_params();
    REQUIRE(slm_model_load(MODEL, &mp, &m) == SLM_OK, "load");
    slm_perplexity_params pp = slm_perplexity_default_params();
    pp.n_ctx = 128;
    pp.n_chunks = 16;
    pp.n_threads = 2;
    pp.save_logits = base;
    slm_perplexity_result r;
    slm_status s = slm_perplexity(m, HELDOUT, &pp, &r);
    slm_model_free(m);
    REQUIRE(s == SLM_OK, "base ppl: %s", slm_last_error());
    const char *mag = tmp("mag.gguf"), *wan = tmp("wanda.gguf");
    slm_prune_params p = params("magnitude", 0.5f);
    REQUIRE(slm_prune(MODEL, mag, &p) == SLM_OK, "magnitude: %s", slm_last_error());
    p = params("wanda", 0.5f);
    REQUIRE(slm_prune(MODEL, wan, &p) == SLM_OK, "wanda: %s", slm_last_error());
    double ppl_m = 0, ppl_w = 0;
    double km = kld_vs(mag, base, &ppl_m), kw = kld_vs(wan, base, &ppl_w);
    printf("  base ppl %.4f; 50%%: magnitude ppl %.4f KLD %.4f, wanda ppl %.4f KLD %.4f\n", r.ppl, ppl_m, km, ppl_w,
           kw);
    CHECK(isfinite(km) && isfinite(kw) && kw < km, "wanda KLD %g not below magnitude %g", kw, km);
    CHECK(ppl_w > r.ppl && ppl_m > r.ppl, "pruning 50%% did not raise ppl");
}

int main(void)
{
    harness_need_dir(SLM_TESTDATA_DIR);
    if (!have(MODEL)) {
        printf("SKIP: %s missing\n", MODEL);
        return 77;
    }
    if (!have(CAL)) printf("note: %s missing; calibrated checks skipped\n", CAL);
    snprintf(dir_buf, sizeof dir_buf, "%s/test_conf_prune_tmp", SLM_BINARY_DIR);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir_buf);
    if (system(cmd) != 0) return 1;
    RUN(stories_depth_pruned_has_fewer_blocks_and_decodes);
    RUN(stories_two_four_wanda_holds_the_pattern_and_loads);
    RUN(stories_ffn_pruned_is_smaller_and_decodes);
    RUN(stories_wanda_costs_less_than_magnitude);
    RUN(stories_heads_pruned_is_smaller_and_loads_in_llama_cpp);
    return harness_finish();
}
