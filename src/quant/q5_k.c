/* q5_k.c — Q5_K: as Q4_K with a fifth bit per element: for the sub-block
 * pair j (64 elements), bit 2j of qh[l] is the high bit of element l of the
 * first sub-block, bit 2j+1 that of the second.
 */
#include "quant/rows.h"

void slm_q5_k_to_float(const void *src, float *dst, int64_t n)
{
    const slm_block_q5_K *b = src;
    for (int64_t i = 0; i < n / SLM_QK_K; i++) {
        const float d = slm_fp16_to_fp32(b[i].d), dmin = slm_fp16_to_fp32(b[i].dmin);
        const uint8_t *ql = b[i].qs, *qh = b[i].qh;
        for (int j = 0; j < SLM_QK_K / 64; j++, ql += 32) {
            uint8_t sc, m;
            slm_get_scale_min_k4(2 * j, b[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            slm_get_scale_min_k4(2 * j + 1, b[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            const uint8_t u1 = (uint8_t)(1u << (2 * j)), u2 = (uint8_t)(2u << (2 * j));
            for (int l = 0; l < 32; l++)
                *dst++ = d1 * (float)((ql[l] & 0xf) + ((qh[l] & u1) ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *dst++ = d2 * (float)((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
        }
    }
}
