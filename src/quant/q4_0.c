/* q4_0.c — Q4_0: blocks of 32, x = d * (q - 8), q in 0..15.
 * The reference quantizer picks d = max / -8 where max is the element of
 * largest magnitude (sign kept), so that element maps exactly to q = 0.
 */
#include "quant/rows.h"

void slm_q4_0_to_float(const void *src, float *dst, int64_t n)
{
    const slm_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / SLM_QK4_0; i++, dst += SLM_QK4_0) {
        float d = slm_fp16_to_fp32(b[i].d);
        for (int j = 0; j < SLM_QK4_0 / 2; j++) {
            dst[j] = (float)((b[i].qs[j] & 0xf) - 8) * d;
            dst[j + SLM_QK4_0 / 2] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void slm_q4_0_from_float(const float *x, void *dst, int64_t n)
{
    slm_block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / SLM_QK4_0; i++, x += SLM_QK4_0) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < SLM_QK4_0; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = slm_fp32_to_fp16(d);
        for (int j = 0; j < SLM_QK4_0 / 2; j++) {
            /* x*id lies in [-8, 8]; +8.5 then truncation rounds half up. */
            int q0 = (int)(int8_t)(x[j] * id + 8.5f);
            int q1 = (int)(int8_t)(x[j + SLM_QK4_0 / 2] * id + 8.5f);
            if (q0 > 15) q0 = 15;
            if (q1 > 15) q1 = 15;
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}
