/* iq4.c — IQ4_NL (blocks of 32, x = d * kvalues[q]) and IQ4_XS (super-blocks
 * of 256 = 8 sub-blocks of 32 with 6-bit scales ls, x = d * (ls - 32) *
 * kvalues[q]); both index the same non-linear 16-entry codebook. Nibbles are
 * packed as in Q4_0 (low = element j, high = element j + 16).
 */
#include "quant/rows.h"

const int8_t slm_kvalues_iq4nl[16] = {
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
};

void slm_iq4_nl_to_float(const void *src, float *dst, int64_t n)
{
    const slm_block_iq4_nl *b = src;
    for (int64_t i = 0; i < n / SLM_QK4_NL; i++, dst += SLM_QK4_NL) {
        const float d = slm_fp16_to_fp32(b[i].d);
        for (int j = 0; j < SLM_QK4_NL / 2; j++) {
            dst[j] = d * (float)slm_kvalues_iq4nl[b[i].qs[j] & 0xf];
            dst[j + SLM_QK4_NL / 2] = d * (float)slm_kvalues_iq4nl[b[i].qs[j] >> 4];
        }
    }
}

void slm_iq4_xs_to_float(const void *src, float *dst, int64_t n)
{
    const slm_block_iq4_xs *b = src;
    for (int64_t i = 0; i < n / SLM_QK_K; i++) {
        const float d = slm_fp16_to_fp32(b[i].d);
        const uint8_t *qs = b[i].qs;
        for (int ib = 0; ib < SLM_QK_K / 32; ib++, qs += 16, dst += 32) {
            int ls = ((b[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((b[i].scales_h >> 2 * ib) & 3) << 4);
            const float dl = d * (float)(ls - 32);
            for (int j = 0; j < 16; j++) {
                dst[j] = dl * (float)slm_kvalues_iq4nl[qs[j] & 0xf];
                dst[j + 16] = dl * (float)slm_kvalues_iq4nl[qs[j] >> 4];
            }
        }
    }
}
