/* q8_0.c — Q8_0 (x = d * q, q int8, blocks of 32) and Q8_1 (the same plus
 * s = d * sum(q), the activation type of Q4_1/Q5_1 dot products).
 * These are ggml's _ref quantizers (d = amax / 127, q = roundf(x / d), ties
 * away from zero); the activation quantizers llama.cpp uses at run time
 * round differently and live in kernels/scalar/.
 */
#include "quant/rows.h"

void slm_q8_0_to_float(const void *src, float *dst, int64_t n)
{
    const slm_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / SLM_QK8_0; i++, dst += SLM_QK8_0) {
        float d = slm_half_to_float(b[i].d);
        for (int j = 0; j < SLM_QK8_0; j++) dst[j] = (float)b[i].qs[j] * d;
    }
}

void slm_q8_0_from_float(const float *x, void *dst, int64_t n)
{
    slm_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / SLM_QK8_0; i++, x += SLM_QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < SLM_QK8_0; j++)
            if (amax < fabsf(x[j])) amax = fabsf(x[j]);
        const float d = amax / ((1 << 7) - 1);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = slm_fp32_to_fp16(d);
        for (int j = 0; j < SLM_QK8_0; j++) b[i].qs[j] = (int8_t)slm_f2i_sat(roundf(x[j] * id), -128, 127);
    }
}

void slm_q8_1_to_float(const void *src, float *dst, int64_t n)
{
    const slm_block_q8_1 *b = src;
    for (int64_t i = 0; i < n / SLM_QK8_1; i++, dst += SLM_QK8_1) {
        float d = slm_half_to_float(b[i].d);
        for (int j = 0; j < SLM_QK8_1; j++) dst[j] = (float)b[i].qs[j] * d;
    }
}

void slm_q8_1_from_float(const float *x, void *dst, int64_t n)
{
    slm_block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / SLM_QK8_1; i++, x += SLM_QK8_1) {
        float amax = 0.0f;
        for (int j = 0; j < SLM_QK8_1; j++)
            if (amax < fabsf(x[j])) amax = fabsf(x[j]);
        const float d = amax / ((1 << 7) - 1);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = slm_fp32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < SLM_QK8_1; j++) {
            b[i].qs[j] = (int8_t)slm_f2i_sat(roundf(x[j] * id), -128, 127);
            sum += b[i].qs[j];
        }
        b[i].s = slm_fp32_to_fp16((float)sum * d);
    }
}
