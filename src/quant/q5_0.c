/* q5_0.c — Q5_0: blocks of 32, x = d * (q - 16), q in 0..31: the low four
 * bits are packed as in Q4_0, bit 4 of element j is bit j of qh (little
 * endian 32-bit word). d = max / -16, max the element of largest magnitude.
 */
#include "quant/rows.h"

void slm_q5_0_to_float(const void *src, float *dst, int64_t n)
{
    const slm_block_q5_0 *b = src;
    for (int64_t i = 0; i < n / SLM_QK5_0; i++, dst += SLM_QK5_0) {
        float d = slm_half_to_float(b[i].d);
        uint32_t qh;
        memcpy(&qh, b[i].qh, sizeof qh);
        for (int j = 0; j < SLM_QK5_0 / 2; j++) {
            int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
            dst[j] = (float)(((b[i].qs[j] & 0xf) | (h0 << 4)) - 16) * d;
            dst[j + SLM_QK5_0 / 2] = (float)(((b[i].qs[j] >> 4) | (h1 << 4)) - 16) * d;
        }
    }
}

void slm_q5_0_from_float(const float *x, void *dst, int64_t n)
{
    slm_block_q5_0 *b = dst;
    for (int64_t i = 0; i < n / SLM_QK5_0; i++, x += SLM_QK5_0) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < SLM_QK5_0; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = slm_fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < SLM_QK5_0 / 2; j++) {
            int q0 = slm_f2i_sat(x[j] * id + 16.5f, -128, 127);
            int q1 = slm_f2i_sat(x[j + SLM_QK5_0 / 2] * id + 16.5f, -128, 127);
            if (q0 > 31) q0 = 31;
            if (q1 > 31) q1 = 31;
            b[i].qs[j] = (uint8_t)((q0 & 0xf) | ((q1 & 0xf) << 4));
            qh |= (uint32_t)((q0 >> 4) & 1) << j;
            qh |= (uint32_t)((q1 >> 4) & 1) << (j + 16);
        }
        memcpy(b[i].qh, &qh, sizeof qh);
    }
}

/* With an importance matrix: as Q4_0's, 5-bit. */
size_t slm_q5_0_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix)
{
    const size_t row_size = (size_t)(n_per_row / SLM_QK5_0) * sizeof(slm_block_q5_0);
    if (!imatrix) {
        slm_q5_0_from_float(src, dst, nrows * n_per_row);
        return (size_t)nrows * row_size;
    }
    for (int64_t r = 0; r < nrows; r++, src += n_per_row) {
        slm_block_q5_0 *y = (slm_block_q5_0 *)((uint8_t *)dst + (size_t)r * row_size);
        float sum_x2 = 0, weight[SLM_QK5_0];
        int8_t L[SLM_QK5_0];
        for (int64_t j = 0; j < n_per_row; j++) sum_x2 += src[j] * src[j];
        const float sigma2 = sum_x2 / (float)n_per_row;
        for (int64_t ib = 0; ib < n_per_row / SLM_QK5_0; ib++) {
            const float *xb = src + SLM_QK5_0 * ib, *qw = imatrix + SLM_QK5_0 * ib;
            for (int j = 0; j < SLM_QK5_0; j++) weight[j] = qw[j] * sqrtf(sigma2 + xb[j] * xb[j]);
            y[ib].d = slm_fp32_to_fp16(slm_make_qx_quants(SLM_QK5_0, 16, xb, L, 1, weight));
            uint32_t qh = 0;
            for (int j = 0; j < 16; j++) {
                const uint8_t q0 = (uint8_t)L[j], q1 = (uint8_t)L[j + 16];
                y[ib].qs[j] = (uint8_t)((q0 & 0xf) | ((q1 & 0xf) << 4));
                qh |= (uint32_t)((q0 >> 4) & 1) << j;
                qh |= (uint32_t)((q1 >> 4) & 1) << (j + 16);
            }
            memcpy(y[ib].qh, &qh, sizeof qh);
        }
    }
    return (size_t)nrows * row_size;
}
