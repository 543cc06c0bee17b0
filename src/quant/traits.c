/* traits.c — the weight-type table: one row per type slm implements, in the
 * order of the slm_type enum (values equal ggml's). Everything per-type that
 * is not speed goes here; kernels/dispatch.c holds the speed side.
 * vec_dot_type is the activation type llama.cpp's CPU backend converts the
 * input row to for that weight type (ggml-cpu.c type_traits_cpu).
 */
#include <ctype.h>

#include "base/alloc.h"
#include "base/status.h"
#include "quant/rows.h"

/* "quantize" for the types whose llama.cpp quantize ignores the importance
 * matrix (F32, F16, BF16, Q8_0): rows of the _ref quantizer. The others
 * live beside their type (slm_<type>_quantize). */
#define ROWS_QUANTIZE(t, blk, bytes)                                                   \
    static size_t quantize_##t(const float *src, void *dst, int64_t nrows, int64_t n_per_row, \
                               const float *imatrix)                                  \
    {                                                                                 \
        (void)imatrix;                                                                \
        size_t row = (size_t)(n_per_row / (blk)) * (bytes);                           \
        for (int64_t r = 0; r < nrows; r++)                                           \
            slm_##t##_from_float(src + r * n_per_row, (char *)dst + (size_t)r * row, n_per_row); \
        return row * (size_t)nrows;                                                   \
    }

ROWS_QUANTIZE(f32, 1, sizeof(float))
ROWS_QUANTIZE(f16, 1, sizeof(slm_fp16))
ROWS_QUANTIZE(bf16, 1, sizeof(slm_bf16))
ROWS_QUANTIZE(q8_0, SLM_QK8_0, sizeof(slm_block_q8_0))

#define ROW(T, blk, size, quantized, t, ref, q, vdt)                            \
    [SLM_TYPE_##T] = { #T, (blk), (size), (quantized), slm_##t##_to_float, (ref), (q), \
                       SLM_TYPE_##vdt }

static const slm_type_traits traits[SLM_TYPE_COUNT] = {
    ROW(F32, 1, sizeof(float), 0, f32, slm_f32_from_float, quantize_f32, F32),
    ROW(F16, 1, sizeof(slm_fp16), 0, f16, slm_f16_from_float, quantize_f16, F16),
    ROW(BF16, 1, sizeof(slm_bf16), 0, bf16, slm_bf16_from_float, quantize_bf16, BF16),
    ROW(Q4_0, SLM_QK4_0, sizeof(slm_block_q4_0), 1, q4_0, slm_q4_0_from_float, slm_q4_0_quantize, Q8_0),
    ROW(Q4_1, SLM_QK4_1, sizeof(slm_block_q4_1), 1, q4_1, slm_q4_1_from_float, slm_q4_1_quantize, Q8_1),
    ROW(Q5_0, SLM_QK5_0, sizeof(slm_block_q5_0), 1, q5_0, slm_q5_0_from_float, slm_q5_0_quantize, Q8_0),
    ROW(Q5_1, SLM_QK5_1, sizeof(slm_block_q5_1), 1, q5_1, slm_q5_1_from_float, slm_q5_1_quantize, Q8_1),
    ROW(Q8_0, SLM_QK8_0, sizeof(slm_block_q8_0), 1, q8_0, slm_q8_0_from_float, quantize_q8_0, Q8_0),
    ROW(Q8_1, SLM_QK8_1, sizeof(slm_block_q8_1), 1, q8_1, slm_q8_1_from_float, NULL, Q8_1),
    ROW(Q2_K, SLM_QK_K, sizeof(slm_block_q2_K), 1, q2_k, slm_q2_k_from_float, slm_q2_k_quantize, Q8_K),
    ROW(Q3_K, SLM_QK_K, sizeof(slm_block_q3_K), 1, q3_k, slm_q3_k_from_float, slm_q3_k_quantize, Q8_K),
    ROW(Q4_K, SLM_QK_K, sizeof(slm_block_q4_K), 1, q4_k, slm_q4_k_from_float, slm_q4_k_quantize, Q8_K),
    ROW(Q5_K, SLM_QK_K, sizeof(slm_block_q5_K), 1, q5_k, slm_q5_k_from_float, slm_q5_k_quantize, Q8_K),
    ROW(Q6_K, SLM_QK_K, sizeof(slm_block_q6_K), 1, q6_k, slm_q6_k_from_float, slm_q6_k_quantize, Q8_K),
    ROW(Q8_K, SLM_QK_K, sizeof(slm_block_q8_K), 1, q8_k, slm_q8_k_from_float, NULL, Q8_K),
    ROW(IQ4_NL, SLM_QK4_NL, sizeof(slm_block_iq4_nl), 1, iq4_nl, slm_iq4_nl_from_float, slm_iq4_nl_quantize, Q8_0),
    ROW(IQ4_XS, SLM_QK_K, sizeof(slm_block_iq4_xs), 1, iq4_xs, slm_iq4_xs_from_float, slm_iq4_xs_quantize, Q8_K),
};

const slm_type_traits *slm_type_traits_get(slm_type t)
{
    if ((int)t < 0 || t >= SLM_TYPE_COUNT || traits[t].name == NULL) return NULL;
    return &traits[t];
}

size_t slm_type_row_size(slm_type t, int64_t n)
{
    const slm_type_traits *tt = slm_type_traits_get(t);
    if (!tt || n < 0 || n % tt->block_size != 0) return 0;
    size_t out;
    if (!slm_size_mul((size_t)(n / tt->block_size), tt->type_size, &out)) return 0;
    return out;
}

const char *slm_type_name(slm_type t)
{
    const slm_type_traits *tt = slm_type_traits_get(t);
    return tt ? tt->name : NULL;
}

slm_status slm_type_from_name(const char *name, slm_type *out)
{
    if (!name || !out) return slm_fail(SLM_ERR_ARG, "type name: NULL argument");
    for (int t = 0; t < SLM_TYPE_COUNT; t++) {
        const char *a = traits[t].name, *b = name;
        if (!a) continue;
        while (*a && *b && toupper((unsigned char)*a) == toupper((unsigned char)*b)) a++, b++;
        if (*a == '\0' && *b == '\0') {
            *out = (slm_type)t;
            return SLM_OK;
        }
    }
    return slm_fail(SLM_ERR_ARG, "unknown weight type '%s' (expected F32, F16, BF16, Q4_0, "
                    "Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL or IQ4_XS)", name);
}
