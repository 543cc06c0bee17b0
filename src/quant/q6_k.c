/* q6_k.c — Q6_K: super-blocks of 256 = 16 sub-blocks of 16 with int8 scales;
 * x = d * sc * (q - 32), q 6-bit: low four bits in ql, high two in qh. Per
 * 128-element half (64 bytes of ql, 32 of qh), element l + 32k takes the
 * nibble (k & 1 ? ql[l + 32] : ql[l]) >> (k >= 2 ? 4 : 0) and bits
 * (qh[l] >> 2k) & 3; its scale is sc[l / 16 + 2k].
 */
#include "quant/rows.h"

void slm_q6_k_to_float(const void *src, float *dst, int64_t n)
{
    const slm_block_q6_K *b = src;
    for (int64_t i = 0; i < n / SLM_QK_K; i++) {
        const float d = slm_fp16_to_fp32(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int half = 0; half < SLM_QK_K / 128; half++, ql += 64, qh += 32, sc += 8, dst += 128) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                dst[l] = d * (float)sc[is + 0] * (float)q1;
                dst[l + 32] = d * (float)sc[is + 2] * (float)q2;
                dst[l + 64] = d * (float)sc[is + 4] * (float)q3;
                dst[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}
