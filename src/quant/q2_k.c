/* q2_k.c — Q2_K: super-blocks of 256 = 16 sub-blocks of 16. Each sub-block
 * has a 4-bit scale and 4-bit min (scales[i] = sc | m << 4); elements are
 * 2-bit: x = d * sc * q - dmin * m. qs packs four 32-element groups per
 * 32 bytes: element 32*g + l of a 128-half is (qs[l] >> 2g) & 3.
 */
#include "quant/rows.h"

void slm_q2_k_to_float(const void *src, float *dst, int64_t n)
{
    const slm_block_q2_K *b = src;
    for (int64_t i = 0; i < n / SLM_QK_K; i++) {
        const float d = slm_fp16_to_fp32(b[i].d), dmin = slm_fp16_to_fp32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        int is = 0;
        for (int half = 0; half < SLM_QK_K / 128; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int k = 0; k < 2; k++) {
                    uint8_t sc = b[i].scales[is++];
                    float dl = d * (float)(sc & 0xf), ml = dmin * (float)(sc >> 4);
                    for (int l = 0; l < 16; l++)
                        *dst++ = dl * (float)((q[l + 16 * k] >> shift) & 3) - ml;
                }
            }
        }
    }
}
