/* q3_k.c — Q3_K: super-blocks of 256 = 16 sub-blocks of 16 with signed 6-bit
 * scales (stored + 32, packed in 12 bytes: low nibbles in bytes 0..7, high
 * two bits in bytes 8..11). Elements are 3-bit: the low two bits in qs
 * (packed as Q2_K), the third in hmask, set meaning "no -4":
 * x = d * (sc - 32) * (q2 - (hbit ? 0 : 4)).
 */
#include "quant/rows.h"

void slm_q3_k_to_float(const void *src, float *dst, int64_t n)
{
    const slm_block_q3_K *b = src;
    for (int64_t i = 0; i < n / SLM_QK_K; i++) {
        const float d = slm_fp16_to_fp32(b[i].d);
        int8_t sc[16];
        slm_q3_k_scales(b[i].scales, sc);
        const uint8_t *q = b[i].qs, *hm = b[i].hmask;
        int is = 0;
        uint8_t m = 1;
        for (int half = 0; half < SLM_QK_K / 128; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m = (uint8_t)(m << 1)) {
                for (int k = 0; k < 2; k++) {
                    float dl = d * (float)sc[is++];
                    for (int l = 0; l < 16; l++) {
                        int v = ((q[l + 16 * k] >> shift) & 3) - ((hm[l + 16 * k] & m) ? 0 : 4);
                        *dst++ = dl * (float)v;
                    }
                }
            }
        }
    }
}
