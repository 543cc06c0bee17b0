/* test_conf_quant.c — our reference quantizers and dequantizers against
 * files written by llama.cpp v0.5.0's llama-quantize (../shared/testdata).
 *
 * Each quantized tiny model has an all-F32 sibling from the same
 * conversion. Quantizing the sibling's tensors with our from_float_ref must
 * give the bytes llama-quantize wrote (it calls the _ref quantizers when no
 * importance matrix is given), and dequantizing llama.cpp's bytes must give
 * back the F32 weights within each type's error. Skips (77) without
 * ../shared/testdata.
 *
 * When llama.cpp v0.5.0's own libraries are installed (bench/compare puts
 * them under $SLM_BENCH_CACHE, default ~/.cache/slm-bench, or set
 * SLM_GGML_LIB_DIR), a second test loads them with dlopen and compares every
 * type on synthetic data: reference quantizers, imatrix quantize, exact
 * dequantization, activation quantizers and dot products. Without them that
 * test prints SKIP and passes.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cpu.h"
#include "gguf/gguf.h"
#include "harness.h"
#include "kernels/kernels.h"
#include "quant/types.h"

#define MODELS SLM_TESTDATA_DIR "/models/"

static const struct { const char *f32, *quant; } pairs[] = {
    { "tiny-llama-F32", "tiny-llama-F16" },     { "tiny-llama-F32", "tiny-llama-BF16" },
    { "tiny-llama-F32", "tiny-llama-Q8_0" },    { "tiny-llama-F32", "tiny-llama-Q4_0" },
    { "tiny-llama-F32", "tiny-llama-Q6_K" },    { "tiny-llama-F32", "tiny-llama-Q4_K_M" },
    { "tiny-llama-tied-F32", "tiny-llama-tied-Q8_0" }, { "tiny-llama-tied-F32", "tiny-llama-tied-Q4_0" },
    { "tiny-qwen2-F32", "tiny-qwen2-Q8_0" },    { "tiny-qwen2-F32", "tiny-qwen2-Q4_0" },
    { "tiny-qwen3-F32", "tiny-qwen3-Q8_0" },    { "tiny-qwen3-F32", "tiny-qwen3-Q4_0" },
    { "tiny-gemma2-F32", "tiny-gemma2-Q8_0" },  { "tiny-gemma2-F32", "tiny-gemma2-Q4_0" },
    { "tiny-phi3-F32", "tiny-phi3-Q8_0" },      { "tiny-phi3-F32", "tiny-phi3-Q4_0" },
    { "tiny-moe-F32", "tiny-moe-Q8_0" },        { "tiny-moe-F32", "tiny-moe-Q4_0" },
};

/* Relative rms error allowed when dequantizing llama.cpp's bytes (random
 * weights, blocks of 32/256; same reasoning as test_quant's bounds). */
static double rel_bound(slm_type t)
{
    switch (t) {
    case SLM_TYPE_F16: return 4e-4;
    case SLM_TYPE_BF16: return 3e-3;
    case SLM_TYPE_Q8_0: return 0.01;
    case SLM_TYPE_Q6_K: return 0.03;
    case SLM_TYPE_Q4_0: case SLM_TYPE_Q4_K: return 0.12;
    default: return 0.0;
    }
}

static int64_t n_elements(const slm_gguf_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->n_dims; d++) n *= t->ne[d];
    return n;
}

static slm_gguf *open_model(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, MODELS "%s.gguf", name);
    slm_gguf *g = NULL;
    slm_status st = slm_gguf_open(path, 1, &g);
    CHECK(st == SLM_OK, "%s: %s", path, slm_last_error());
    return st == SLM_OK ? g : NULL;
}

/* Per file: tensors byte-identical / quantized tensors, and every tensor's
 * dequantization error. Totals per type feed the summary line. */
static int type_exact[SLM_TYPE_COUNT], type_total[SLM_TYPE_COUNT];

static void check_pair(const char *f32_name, const char *q_name)
{
    slm_gguf *gf = open_model(f32_name), *gq = open_model(q_name);
    if (!gf || !gq) goto done;
    int n_quant = 0, n_exact = 0;
    for (int64_t i = 0; i < slm_gguf_n_tensors(gq); i++) {
        const slm_gguf_tensor *tq = slm_gguf_tensor_at(gq, i);
        const slm_gguf_tensor *tf = slm_gguf_find_tensor(gf, tq->name);
        CHECK(tf != NULL, "%s: tensor '%s' missing from %s", q_name, tq->name, f32_name);
        if (!tf || tq->type == SLM_TYPE_F32) continue;
        CHECK(tf->type == SLM_TYPE_F32, "%s: '%s' is not F32", f32_name, tf->name);
        CHECK(n_elements(tf) == n_elements(tq), "%s: '%s' shapes differ", q_name, tq->name);
        if (tf->type != SLM_TYPE_F32 || n_elements(tf) != n_elements(tq)) continue;
        const slm_type_traits *tt = slm_type_traits_get(tq->type);
        REQUIRE(tt != NULL && tt->from_float_ref != NULL, "%s: '%s' has type %d without a reference quantizer",
                q_name, tq->name, (int)tq->type);
        const int64_t n = n_elements(tq);
        const size_t bytes = slm_type_row_size(tq->type, n);
        CHECK(bytes == tq->nbytes, "%s: '%s' %zu bytes, row size says %zu", q_name, tq->name,
              (size_t)tq->nbytes, bytes);
        uint8_t *mine = slm_alloc(bytes);
        float *deq = slm_alloc((size_t)n * sizeof(float));
        REQUIRE(mine && deq, "out of memory");

        /* 1. Our reference quantizer reproduces llama-quantize's bytes. */
        tt->from_float_ref(tf->data, mine, n);
        n_quant++;
        type_total[tq->type]++;
        if (memcmp(mine, tq->data, bytes) == 0) {
            n_exact++;
            type_exact[tq->type]++;
        } else {
            int64_t nb = n / tt->block_size, diff = 0, first = -1;
            for (int64_t b = 0; b < nb; b++)
                if (memcmp(mine + b * tt->type_size, (const uint8_t *)tq->data + b * tt->type_size, tt->type_size)) {
                    if (first < 0) first = b;
                    diff++;
                }
            CHECK(0, "%s: '%s' (%s): %lld of %lld blocks differ from llama-quantize's (first: block %lld)",
                  q_name, tq->name, tt->name, (long long)diff, (long long)nb, (long long)first);
        }

        /* 2. Dequantizing llama.cpp's bytes gives back the F32 weights. */
        tt->to_float(tq->data, deq, n);
        const float *w = tf->data;
        double ss = 0, se = 0;
        for (int64_t j = 0; j < n; j++) {
            ss += (double)w[j] * w[j];
            se += ((double)w[j] - deq[j]) * ((double)w[j] - deq[j]);
        }
        double rel = ss > 0 ? sqrt(se / ss) : 0;
        CHECK(rel <= rel_bound(tq->type), "%s: '%s' (%s) dequantizes with relative rms error %.4g > %.4g",
              q_name, tq->name, tt->name, rel, rel_bound(tq->type));
        slm_free(mine);
        slm_free(deq);
    }
    printf("     %-22s %d/%d quantized tensors byte-identical\n", q_name, n_exact, n_quant);
done:
    slm_gguf_close(gq);
    slm_gguf_close(gf);
}

static void reference_quantizers_reproduce_llama_quantize_files(void)
{
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) check_pair(pairs[i].f32, pairs[i].quant);
    for (int t = 0; t < SLM_TYPE_COUNT; t++)
        if (type_total[t])
            printf("     %-6s %d/%d tensors byte-identical\n", slm_type_name((slm_type)t), type_exact[t], type_total[t]);
}

/* ---- against libggml itself ---- */

typedef void (*g_to_float_fn)(const void *, float *, int64_t);
typedef void (*g_from_float_fn)(const float *, void *, int64_t);
typedef void (*g_vec_dot_fn)(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nrc);
/* ggml.h's struct ggml_type_traits and ggml-cpu.h's ggml_type_traits_cpu (v0.5.0). */
struct g_traits {
    const char *type_name;
    int64_t blck_size, blck_size_interleave;
    size_t type_size;
    bool is_quantized;
    g_to_float_fn to_float;
    g_from_float_fn from_float_ref;
};
struct g_traits_cpu {
    g_from_float_fn from_float;
    g_vec_dot_fn vec_dot;
    int vec_dot_type;
    int64_t nrows;
};

static void *open_ggml(const char *dir, const char *lib)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, lib);
    return dlopen(path, RTLD_NOW | RTLD_LOCAL);
}

static uint64_t xs = 0x2545F4914F6CDD1Dull;
static float urand(void)
{
    xs ^= xs << 13;
    xs ^= xs >> 7;
    xs ^= xs << 17;
    return (float)((xs >> 11) * (1.0 / 9007199254740992.0));
}

/* Eight kinds of rows: uniform, small Gaussian-ish, outliers, many zeros,
 * tiny, constant/zero blocks (not first: llama.cpp leaves an all-zero first
 * IQ4_NL block's indices uninitialised), exact ties, offsets. */
static void fill_kind(float *x, int64_t n, int kind)
{
    for (int64_t i = 0; i < n; i++) {
        float g = (urand() + urand() + urand() - 1.5f) * 2.0f, v;
        switch (kind) {
        case 0: v = urand() * 2 - 1; break;
        case 1: v = g * 0.02f; break;
        case 2: v = urand() < 0.02f ? g * 30 : g; break;
        case 3: v = urand() < 0.25f ? 0.0f : g; break;
        case 4: v = g * 1e-6f; break;
        case 5: v = i < 32 ? g : (i / 32) % 3 == 0 ? 0.0f : (i / 32) % 3 == 1 ? 0.5f : g * 100; break;
        case 6: v = (float)(int)(g * 8) / 8.0f; break;
        default: v = g + ((i / 256) % 2 ? 3.0f : -3.0f); break;
        }
        x[i] = v;
    }
}

static void everything_matches_llama_cpp_libggml_when_installed(void)
{
    char dir[1536];
    const char *env = getenv("SLM_GGML_LIB_DIR");
    if (env) {
        snprintf(dir, sizeof dir, "%s", env);
    } else {
        const char *cache = getenv("SLM_BENCH_CACHE"), *home = getenv("HOME");
        char base[1024];
        if (cache) snprintf(base, sizeof base, "%s", cache);
        else snprintf(base, sizeof base, "%s/.cache/slm-bench", home ? home : "");
        snprintf(dir, sizeof dir, "%s/node-llama-cpp/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64", base);
    }
    const slm_cpu_features *f = slm_cpu_get();
    void *hb = open_ggml(dir, "libggml-base.so");
    void *hc = hb ? open_ggml(dir, f->avx2 && f->fma && f->f16c ? "libggml-cpu-haswell.so" : "libggml-cpu-x64.so") : NULL;
    if (!hb || !hc) {
        printf("     SKIP: llama.cpp's libggml not found in %s (run bench/compare once, or set SLM_GGML_LIB_DIR)\n", dir);
        if (hb) dlclose(hb);
        return;
    }
    const struct g_traits *(*get_traits)(int) = (const struct g_traits *(*)(int))dlsym(hb, "ggml_get_type_traits");
    size_t (*quantize_chunk)(int, const float *, void *, int64_t, int64_t, int64_t, const float *) =
        (size_t (*)(int, const float *, void *, int64_t, int64_t, int64_t, const float *))dlsym(hb, "ggml_quantize_chunk");
    const struct g_traits_cpu *(*get_cpu)(int) = (const struct g_traits_cpu *(*)(int))dlsym(hc, "ggml_get_type_traits_cpu");
    void (*cpu_init)(void) = (void (*)(void))dlsym(hc, "ggml_cpu_init");
    REQUIRE(get_traits && quantize_chunk && get_cpu && cpu_init, "libggml in %s lacks an expected symbol", dir);
    cpu_init();

    enum { N = 256 * 16, ROW = 1024 };
    float *x = slm_alloc(N * sizeof(float)), *a = slm_alloc(N * sizeof(float)), *im = slm_alloc(N * sizeof(float));
    float *y1 = slm_alloc(N * sizeof(float)), *y2 = slm_alloc(N * sizeof(float));
    uint8_t *b1 = slm_alloc(N * 4 + 4096), *b2 = slm_alloc(N * 4 + 4096);
    REQUIRE(x && a && im && y1 && y2 && b1 && b2, "out of memory");
    const slm_kernels *k = slm_kernels_scalar();
    for (int t = 0; t < SLM_TYPE_COUNT; t++) {
        const slm_type_traits *st = slm_type_traits_get((slm_type)t);
        if (!st) continue;
        const struct g_traits *gt = get_traits(t);
        CHECK(gt->type_size == st->type_size && gt->blck_size == st->block_size,
              "%s: block %lld x %zu bytes, ggml %lld x %zu", st->name, (long long)st->block_size, st->type_size,
              (long long)gt->blck_size, gt->type_size);
        const size_t bytes = slm_type_row_size((slm_type)t, N);
        int ref_bad = 0, deq_bad = 0, quant_bad = 0, act_bad = 0;
        int ref_n = 0, deq_n = 0, quant_n = 0, act_n = 0; /* comparisons made */
        double dot_rel = 0;
        for (int kind = 0; kind < 8; kind++) {
            fill_kind(x, N, kind);
            if (gt->from_float_ref && st->from_float_ref) {
                st->from_float_ref(x, b1, N);
                gt->from_float_ref(x, b2, N);
                ref_bad += memcmp(b1, b2, bytes) != 0;
                ref_n++;
            }
            if (gt->to_float) { /* dequantize the same bytes both ways, bit for bit */
                st->to_float(b2, y1, N);
                gt->to_float(b2, y2, N);
                deq_bad += memcmp(y1, y2, N * sizeof(float)) != 0;
                deq_n++;
            }
            if (st->quantize && t != SLM_TYPE_F32) {
                for (int j = 0; j < ROW; j++) im[j] = kind == 0 ? 1.0f : urand() * urand() * (kind % 3 ? 1 : 1000);
                for (int with = 0; with < 2; with++) {
                    size_t s1 = st->quantize(x, b1, N / ROW, ROW, with ? im : NULL);
                    size_t s2 = quantize_chunk(t, x, b2, 0, N / ROW, ROW, with ? im : NULL);
                    quant_bad += s1 != s2 || memcmp(b1, b2, s1) != 0;
                    quant_n++;
                }
            }
            if (k->vec_dot[t]) {
                const slm_type at = st->vec_dot_type;
                CHECK(get_cpu(t)->vec_dot_type == (int)at, "%s: activation type %d, ggml %d", st->name, (int)at,
                      get_cpu(t)->vec_dot_type);
                fill_kind(a, N, (kind + 3) % 8);
                k->quant_act[at](a, b1, N);
                get_cpu(at)->from_float(a, b2, N);
                act_bad += memcmp(b1, b2, slm_type_row_size(at, N)) != 0;
                act_n++;
                st->from_float_ref(x, b1, N);
                for (int64_t len = st->block_size > 32 ? st->block_size : 256; len <= N; len *= 4) {
                    float s1, s2, s2abs;
                    k->vec_dot[t](len, &s1, b1, b2);
                    get_cpu(t)->vec_dot((int)len, &s2, 0, b1, 0, b2, 0, 1);
                    st->to_float(b1, y1, len);
                    slm_type_traits_get(at)->to_float(b2, y2, len);
                    s2abs = 0;
                    for (int64_t j = 0; j < len; j++) s2abs += fabsf(y1[j] * y2[j]);
                    double rel = fabs((double)s1 - s2) / (s2abs + 1e-30);
                    if (rel > dot_rel) dot_rel = rel;
                }
            }
        }
        CHECK(ref_bad == 0, "%s: reference quantizer differs from ggml's on %d of 8 row kinds", st->name, ref_bad);
        CHECK(deq_bad == 0, "%s: dequantization differs from ggml's on %d of 8 row kinds", st->name, deq_bad);
        CHECK(quant_bad == 0, "%s: quantize differs from ggml_quantize_chunk in %d of 16 cases", st->name, quant_bad);
        CHECK(act_bad == 0, "%s: activation quantizer differs from ggml's in %d of 8 rows", st->name, act_bad);
        CHECK(dot_rel < 1e-5, "%s: dot differs from ggml's by %.3g of sum|w*a|", st->name, dot_rel);
#define VERDICT(bad, n) ((n) == 0 ? "-" : (bad) ? "DIFF" : "same")
        printf("     %-6s vs ggml: ref %s, dequant %s, quantize(+imatrix) %s, activations %s, dot %.1e\n",
               st->name, VERDICT(ref_bad, ref_n), VERDICT(deq_bad, deq_n), VERDICT(quant_bad, quant_n),
               VERDICT(act_bad, act_n), dot_rel);
#undef VERDICT
    }
    slm_free(x); slm_free(a); slm_free(im); slm_free(y1); slm_free(y2); slm_free(b1); slm_free(b2);
    dlclose(hc);
    dlclose(hb);
}

int main(void)
{
    harness_need_dir(SLM_TESTDATA_DIR);
    RUN(reference_quantizers_reproduce_llama_quantize_files);
    RUN(everything_matches_llama_cpp_libggml_when_installed);
    return harness_finish();
}
