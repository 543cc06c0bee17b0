/* test_conf_quantize.c — slm_quantize against llama-quantize (llama.cpp
 * v0.5.0): every quantized tiny model in ../shared/testdata/models was made by
 * `llama-quantize NAME-F32.gguf NAME-TYPE.gguf TYPE`. We run slm_quantize on
 * the same F32 input and require per tensor the same name order, type,
 * shape and bytes (then the whole file, byte for byte), and for the
 * tiny-llama files that the result loads and gives llama.cpp's logits
 * within the tolerances test_conf_models uses for those types.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "harness.h"
#include "slm.h"

static const char *models_dir(void) { return SLM_TESTDATA_DIR "/models"; }

static void tmp_path(char *buf, size_t n, const char *tag)
{
    snprintf(buf, n, "%s/test_conf_quantize_%s_%d.gguf", SLM_BINARY_DIR, tag, (int)getpid());
}

/* Compare two files tensor by tensor; returns the number of mismatches. */
static int compare_tensors(const char *name, const char *ours_path, const char *ref_path)
{
    slm_gguf *a = NULL, *b = NULL;
    int bad = 0;
    if (slm_gguf_open(ours_path, 1, &a) != SLM_OK || slm_gguf_open(ref_path, 1, &b) != SLM_OK) {
        CHECK(0, "%s: cannot open: %s", name, slm_last_error());
        slm_gguf_close(a);
        return 1;
    }
    CHECK(slm_gguf_n_tensors(a) == slm_gguf_n_tensors(b), "%s: %lld tensors, llama.cpp has %lld", name,
          (long long)slm_gguf_n_tensors(a), (long long)slm_gguf_n_tensors(b));
    for (int64_t i = 0; i < slm_gguf_n_tensors(a) && i < slm_gguf_n_tensors(b); i++) {
        const slm_gguf_tensor *x = slm_gguf_tensor_at(a, i), *y = slm_gguf_tensor_at(b, i);
        int same_name = strcmp(x->name, y->name) == 0;
        const slm_gguf_tensor *yy = same_name ? y : slm_gguf_find_tensor(b, x->name);
        CHECK(same_name, "%s: tensor %lld is '%s', llama.cpp's is '%s'", name, (long long)i, x->name, y->name);
        if (!yy) {
            bad++;
            continue;
        }
        int ok_type = x->type == yy->type;
        CHECK(ok_type, "%s: %s: type %s, llama.cpp %s", name, x->name, slm_type_name(x->type),
              slm_type_name(yy->type));
        int ok_bytes = ok_type && x->nbytes == yy->nbytes && memcmp(x->data, yy->data, x->nbytes) == 0;
        CHECK(!ok_type || ok_bytes, "%s: %s (%s): bytes differ", name, x->name, slm_type_name(x->type));
        bad += !same_name + !ok_type + !ok_bytes;
    }
    slm_gguf_close(a);
    slm_gguf_close(b);
    return bad;
}

static int files_equal(const char *p, const char *q)
{
    size_t na = 0, nb = 0;
    char *a = harness_read_file(p, &na), *b = harness_read_file(q, &nb);
    int eq = a && b && na == nb && memcmp(a, b, na) == 0;
    free(a);
    free(b);
    return eq;
}

/* Every quantized reference file: same tensors, same bytes, same file. */
static void quantize_reproduces_every_llama_quantize_reference_file(void)
{
    static const char *const files[] = {
        "tiny-llama-Q8_0", "tiny-llama-Q6_K", "tiny-llama-Q4_K_M", "tiny-llama-Q4_0", "tiny-llama-F16",
        "tiny-llama-BF16", "tiny-llama-tied-Q8_0", "tiny-llama-tied-Q4_0", "tiny-qwen2-Q8_0",
        "tiny-qwen2-Q4_0", "tiny-qwen3-Q8_0", "tiny-qwen3-Q4_0", "tiny-gemma2-Q8_0", "tiny-gemma2-Q4_0",
        "tiny-phi3-Q8_0", "tiny-phi3-Q4_0", "tiny-moe-Q8_0", "tiny-moe-Q4_0",
    };
    char out[512], in[512], ref[512];
    tmp_path(out, sizeof out, "ref");
    int n_identical = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        const char *f = files[i];
        const char *dash = strrchr(f, '-');
        snprintf(in, sizeof in, "%s/%.*s-F32.gguf", models_dir(), (int)(dash - f), f);
        snprintf(ref, sizeof ref, "%s/%s.gguf", models_dir(), f);
        slm_quantize_params p = slm_quantize_default_params();
        p.type = dash + 1;
        p.n_threads = 2;
        slm_status st = slm_quantize(in, out, &p);
        CHECK(st == SLM_OK, "%s: %s: %s", f, slm_status_name(st), slm_last_error());
        if (st != SLM_OK) continue;
        int bad = compare_tensors(f, out, ref);
        int same = files_equal(out, ref);
        CHECK(bad == 0 && same, "%s: %d tensor mismatches, whole file %s", f, bad, same ? "equal" : "differs");
        n_identical += same;
    }
    printf("     %d of %zu files byte-identical to llama-quantize's\n", n_identical,
           sizeof files / sizeof files[0]);
    remove(out);
}

static float *read_f32(const char *path, size_t *n)
{
    size_t bytes = 0;
    float *f = harness_read_file(path, &bytes);
    *n = bytes / sizeof(float);
    return f;
}

static int32_t *read_tokens(const char *path, size_t *n)
{
    size_t sz = 0;
    char *txt = harness_read_file(path, &sz);
    int32_t *ids = calloc(sz + 1, sizeof *ids);
    *n = 0;
    if (!txt || !ids) {
        free(txt);
        free(ids);
        return NULL;
    }
    txt = realloc(txt, sz + 1);
    txt[sz] = '\0';
    for (char *p = txt, *end; *p; p = end) {
        long v = strtol(p, &end, 10);
        if (end == p) break;
        ids[(*n)++] = (int32_t)v;
    }
    free(txt);
    return ids;
}

/* The quantized files load and give llama.cpp's logits for the prompt. */
static void quantized_tiny_llama_loads_and_matches_llama_cpp_logits(void)
{
    static const struct { const char *type; double max_abs; } cases[] = {
        {"Q8_0", 0.15}, {"Q4_0", 0.15}, {"Q6_K", 0.25}, {"Q4_K_M", 0.25},
    };
    char out[512], in[512], path[512];
    tmp_path(out, sizeof out, "logits");
    snprintf(in, sizeof in, "%s/tiny-llama-F32.gguf", models_dir());
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        slm_quantize_params p = slm_quantize_default_params();
        p.type = cases[c].type;
        REQUIRE(slm_quantize(in, out, &p) == SLM_OK, "%s: %s", cases[c].type, slm_last_error());
        size_t n_tok = 0, n_ref = 0;
        snprintf(path, sizeof path, "%s/tiny-llama-%s.tokens.txt", models_dir(), cases[c].type);
        int32_t *tok = read_tokens(path, &n_tok);
        snprintf(path, sizeof path, "%s/tiny-llama-%s.logits.f32", models_dir(), cases[c].type);
        float *ref = read_f32(path, &n_ref);
        slm_model *m = NULL;
        slm_session *s = NULL;
        slm_model_params mp = slm_model_default_params();
        slm_session_params sp = slm_session_default_params();
        sp.logits_all = 1;
        sp.n_threads = 1;
        sp.kv_type = SLM_TYPE_F32;
        int ok = tok && ref && slm_model_load(out, &mp, &m) == SLM_OK && slm_session_new(m, &sp, &s) == SLM_OK &&
                 slm_session_decode(s, tok, n_tok, NULL) == SLM_OK;
        CHECK(ok, "%s: load/decode failed: %s", cases[c].type, slm_last_error());
        if (ok) {
            int32_t nv = slm_model_n_vocab(m);
            CHECK(n_ref == n_tok * (size_t)nv, "%s: reference has %zu floats, expected %zu", cases[c].type, n_ref,
                  n_tok * (size_t)nv);
            double worst = 0;
            for (size_t i = 0; i < n_tok && n_ref == n_tok * (size_t)nv; i++) {
                const float *row = slm_session_logits(s, i);
                for (int32_t v = 0; v < nv; v++) {
                    double d = fabs((double)row[v] - ref[i * (size_t)nv + (size_t)v]);
                    if (!(d <= worst)) worst = d;
                }
            }
            CHECK(worst <= cases[c].max_abs, "%s: max |logit - llama.cpp| = %.4g > %.3g", cases[c].type, worst,
                  cases[c].max_abs);
        }
        slm_session_free(s);
        slm_model_free(m);
        free(tok);
        free(ref);
    }
    remove(out);
}


/* llama.cpp (the libllama bench/compare installs from npm, driven by
 * bench/llamacpp_bench.c) loads every file slm_quantize writes, for every
 * mix, on a model whose rows take k-quants (tiny-llama) and one whose FFN
 * rows of 384 need fallbacks (tiny-qwen2), and computes the same logits as
 * slm on them. Skipped (with a note) when the driver is not installed. */
static void every_mix_loads_in_llama_cpp_with_the_same_logits(void)
{
    char cache[512], driver[600], libdir[800], cmd[4096], out[512], lg[512], in[512], path[512];
    const char *c = getenv("SLM_BENCH_CACHE"), *home = getenv("HOME");
    snprintf(cache, sizeof cache, "%s", c ? c : home ? home : "/nonexistent");
    if (!c) strncat(cache, "/.cache/slm-bench", sizeof cache - strlen(cache) - 1);
    snprintf(driver, sizeof driver, "%s/bin/llamacpp_bench", cache);
    snprintf(libdir, sizeof libdir, "%s/node-llama-cpp/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64", cache);
    if (access(driver, X_OK) != 0 || access(libdir, R_OK) != 0) {
        printf("     (skipped: no llama.cpp driver at %s; run bench/compare --check-load once to install it)\n",
               driver);
        return;
    }
    static const char *const bases[] = {"tiny-llama", "tiny-qwen2"};
    static const char *const types[] = {"Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S",
                                        "Q5_K_M", "Q6_K", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL",
                                        "IQ4_XS", "F16", "BF16"};
    tmp_path(out, sizeof out, "llama");
    snprintf(lg, sizeof lg, "%s/test_conf_quantize_%d.f32", SLM_BINARY_DIR, (int)getpid());
    size_t n_tok = 0;
    snprintf(path, sizeof path, "%s/tiny-llama-F32.tokens.txt", models_dir());
    int32_t *tok = read_tokens(path, &n_tok);
    REQUIRE(tok && n_tok > 0, "tokens");
    char ids[1024] = "";
    for (size_t i = 0; i < n_tok; i++)
        snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%d", i ? " " : "", tok[i]);
    int n_ok = 0, n_all = 0;
    double worst_all = 0;
    for (size_t b = 0; b < 2; b++)
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            snprintf(in, sizeof in, "%s/%s-F32.gguf", models_dir(), bases[b]);
            slm_quantize_params p = slm_quantize_default_params();
            p.type = types[t];
            n_all++;
            if (slm_quantize(in, out, &p) != SLM_OK) {
                CHECK(0, "%s %s: %s", bases[b], types[t], slm_last_error());
                continue;
            }
            remove(lg);
            snprintf(cmd, sizeof cmd, "'%s' --backend-dir '%s' -m '%s' --tokens '%s' -t 1 --logits-out '%s' 2>/dev/null",
                     driver, libdir, out, ids, lg);
            int rc = system(cmd);
            size_t n_ref = 0;
            float *ref = rc == 0 ? read_f32(lg, &n_ref) : NULL;
            CHECK(rc == 0 && ref, "%s %s: llama.cpp did not load/decode it (rc %d)", bases[b], types[t], rc);
            if (!ref) continue;
            slm_model *m = NULL;
            slm_session *s = NULL;
            slm_model_params mp = slm_model_default_params();
            slm_session_params sp = slm_session_default_params();
            sp.logits_all = 1;
            sp.n_threads = 1;
            int ok = slm_model_load(out, &mp, &m) == SLM_OK && slm_session_new(m, &sp, &s) == SLM_OK &&
                     slm_session_decode(s, tok, n_tok, NULL) == SLM_OK;
            CHECK(ok, "%s %s: slm: %s", bases[b], types[t], slm_last_error());
            if (ok) {
                int32_t nv = slm_model_n_vocab(m);
                double worst = 0;
                if (n_ref == n_tok * (size_t)nv)
                    for (size_t i = 0; i < n_tok; i++)
                        for (int32_t v = 0; v < nv; v++) {
                            double d = fabs((double)slm_session_logits(s, i)[v] - ref[i * (size_t)nv + (size_t)v]);
                            if (!(d <= worst)) worst = d;
                        }
                else
                    worst = INFINITY;
                /* same weights: the tolerances test_conf_models allows between slm and llama.cpp on
                 * llama.cpp's own files of these types (activation conversion differs, README sec. 4) */
                double tol = !strcmp(types[t], "F16") ? 0.01 : !strcmp(types[t], "BF16") ? 0.03
                             : strstr(types[t], "_K") || strstr(types[t], "IQ4_XS") ? 0.25 : 0.15;
                CHECK(worst <= tol, "%s %s: max |slm - llama.cpp| = %.4g > %.3g", bases[b], types[t], worst, tol);
                n_ok += worst <= tol;
                if (getenv("SLM_TEST_VERBOSE")) printf("     %s %s: %.3g\n", bases[b], types[t], worst);
                if (worst > worst_all) worst_all = worst;
            }
            slm_session_free(s);
            slm_model_free(m);
            free(ref);
        }
    printf("     llama.cpp loads %d of %d slm-quantized files with the same logits (worst max diff %.3g)\n", n_ok,
           n_all, worst_all);
    free(tok);
    remove(out);
    remove(lg);
}

int main(void)
{
    harness_need_dir(SLM_TESTDATA_DIR);
    RUN(quantize_reproduces_every_llama_quantize_reference_file);
    RUN(quantized_tiny_llama_loads_and_matches_llama_cpp_logits);
    RUN(every_mix_loads_in_llama_cpp_with_the_same_logits);
    return harness_finish();
}
