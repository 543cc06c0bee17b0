/* q4_1.c — Q4_1: blocks of 32, x = d * q + m, q in 0..15, with m the block
 * minimum and d = (max - min) / 15.
 */
#include "quant/rows.h"

#include <float.h>

void slm_q4_1_to_float(const void *src, float *dst, int64_t n)
{
    const slm_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / SLM_QK4_1; i++, dst += SLM_QK4_1) {
        float d = slm_fp16_to_fp32(b[i].d), m = slm_fp16_to_fp32(b[i].m);
        for (int j = 0; j < SLM_QK4_1 / 2; j++) {
            dst[j] = (float)(b[i].qs[j] & 0xf) * d + m;
            dst[j + SLM_QK4_1 / 2] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

void slm_q4_1_from_float(const float *x, void *dst, int64_t n)
{
    slm_block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / SLM_QK4_1; i++, x += SLM_QK4_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < SLM_QK4_1; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / ((1 << 4) - 1);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = slm_fp32_to_fp16(d);
        b[i].m = slm_fp32_to_fp16(min);
        for (int j = 0; j < SLM_QK4_1 / 2; j++) {
            int q0 = (int)(int8_t)((x[j] - min) * id + 0.5f);
            int q1 = (int)(int8_t)((x[j + SLM_QK4_1 / 2] - min) * id + 0.5f);
            if (q0 > 15) q0 = 15;
            if (q1 > 15) q1 = 15;
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}
