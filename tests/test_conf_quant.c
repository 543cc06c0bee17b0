/* test_conf_quant.c — our reference quantizers and dequantizers against
 * files written by llama.cpp v0.5.0's llama-quantize (../shared/testdata).
 *
 * Each quantized tiny model has an all-F32 sibling from the same
 * conversion. Quantizing the sibling's tensors with our from_float_ref must
 * give the bytes llama-quantize wrote (it calls the _ref quantizers when no
 * importance matrix is given), and dequantizing llama.cpp's bytes must give
 * back the F32 weights within each type's error. Skips (77) without
 * ../shared/testdata.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "gguf/gguf.h"
#include "harness.h"
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

int main(void)
{
    harness_need_dir(SLM_TESTDATA_DIR);
    RUN(reference_quantizers_reproduce_llama_quantize_files);
    return harness_finish();
}
