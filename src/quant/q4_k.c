/* q4_k.c — Q4_K: super-blocks of 256 = 8 sub-blocks of 32, each with a 6-bit
 * scale and 6-bit min (packed in 12 bytes, see slm_get_scale_min_k4);
 * x = d * sc * q - dmin * m, q 4-bit. Each 32 bytes of qs hold two sub-blocks:
 * low nibbles the first, high nibbles the second.
 */
#include "quant/rows.h"

void slm_q4_k_to_float(const void *src, float *dst, int64_t n)
{
    const slm_block_q4_K *b = src;
    for (int64_t i = 0; i < n / SLM_QK_K; i++) {
        const float d = slm_fp16_to_fp32(b[i].d), dmin = slm_fp16_to_fp32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int j = 0; j < SLM_QK_K / 64; j++, q += 32) {
            uint8_t sc, m;
            slm_get_scale_min_k4(2 * j, b[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            slm_get_scale_min_k4(2 * j + 1, b[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *dst++ = d1 * (float)(q[l] & 0xf) - m1;
            for (int l = 0; l < 32; l++) *dst++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}
