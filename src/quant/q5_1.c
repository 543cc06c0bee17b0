/* q5_1.c — Q5_1: blocks of 32, x = d * q + m, q in 0..31 packed as in Q5_0,
 * m the block minimum, d = (max - min) / 31.
 */
#include "quant/rows.h"

#include <float.h>

void slm_q5_1_to_float(const void *src, float *dst, int64_t n)
{
    const slm_block_q5_1 *b = src;
    for (int64_t i = 0; i < n / SLM_QK5_1; i++, dst += SLM_QK5_1) {
        float d = slm_fp16_to_fp32(b[i].d), m = slm_fp16_to_fp32(b[i].m);
        uint32_t qh;
        memcpy(&qh, b[i].qh, sizeof qh);
        for (int j = 0; j < SLM_QK5_1 / 2; j++) {
            int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
            dst[j] = (float)((b[i].qs[j] & 0xf) | (h0 << 4)) * d + m;
            dst[j + SLM_QK5_1 / 2] = (float)((b[i].qs[j] >> 4) | (h1 << 4)) * d + m;
        }
    }
}

void slm_q5_1_from_float(const float *x, void *dst, int64_t n)
{
    slm_block_q5_1 *b = dst;
    for (int64_t i = 0; i < n / SLM_QK5_1; i++, x += SLM_QK5_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < SLM_QK5_1; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / ((1 << 5) - 1);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = slm_fp32_to_fp16(d);
        b[i].m = slm_fp32_to_fp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < SLM_QK5_1 / 2; j++) {
            /* ggml casts to uint8_t without clamping; the values stay <= 31. */
            int q0 = (int)(uint8_t)((x[j] - min) * id + 0.5f);
            int q1 = (int)(uint8_t)((x[j + SLM_QK5_1 / 2] - min) * id + 0.5f);
            b[i].qs[j] = (uint8_t)((q0 & 0xf) | ((q1 & 0xf) << 4));
            qh |= (uint32_t)((q0 >> 4) & 1) << j;
            qh |= (uint32_t)((q1 >> 4) & 1) << (j + 16);
        }
        memcpy(b[i].qh, &qh, sizeof qh);
    }
}
