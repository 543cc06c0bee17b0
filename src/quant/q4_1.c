/* q4_1.c — Q4_1: blocks of 32, x = d * q + m, q in 0..15, with m the block
 * minimum and d = (max - min) / 15.
 */
#include "quant/rows.h"

#include <float.h>

void slm_q4_1_to_float(const void *src, float *dst, int64_t n)
{
    const slm_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / SLM_QK4_1; i++, dst += SLM_QK4_1) {
        float d = slm_half_to_float(b[i].d), m = slm_half_to_float(b[i].m);
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
            int q0 = slm_f2i_sat((x[j] - min) * id + 0.5f, -128, 127);
            int q1 = slm_f2i_sat((x[j + SLM_QK4_1 / 2] - min) * id + 0.5f, -128, 127);
            if (q0 > 15) q0 = 15;
            if (q1 > 15) q1 = 15;
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* With an importance matrix: per block, a weighted asymmetric fit
 * (make_qkx3_quants), weights imatrix * sqrt(sigma2 + x^2). */
size_t slm_q4_1_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix)
{
    const size_t row_size = (size_t)(n_per_row / SLM_QK4_1) * sizeof(slm_block_q4_1);
    if (!imatrix) {
        slm_q4_1_from_float(src, dst, nrows * n_per_row);
        return (size_t)nrows * row_size;
    }
    for (int64_t r = 0; r < nrows; r++, src += n_per_row) {
        slm_block_q4_1 *y = (slm_block_q4_1 *)((uint8_t *)dst + (size_t)r * row_size);
        float sum_x2 = 0, weight[SLM_QK4_1];
        uint8_t L[SLM_QK4_1], Laux[SLM_QK4_1];
        for (int64_t j = 0; j < n_per_row; j++) sum_x2 += src[j] * src[j];
        const float sigma2 = sum_x2 / (float)n_per_row;
        for (int64_t ib = 0; ib < n_per_row / SLM_QK4_1; ib++) {
            const float *xb = src + SLM_QK4_1 * ib, *qw = imatrix + SLM_QK4_1 * ib;
            for (int j = 0; j < SLM_QK4_1; j++) weight[j] = qw[j] * sqrtf(sigma2 + xb[j] * xb[j]);
            float min;
            float d = slm_make_qkx3_quants(SLM_QK4_1, 15, xb, weight, L, &min, Laux, -0.9f, 0.05f, 36, 0);
            y[ib].d = slm_fp32_to_fp16(d);
            y[ib].m = slm_fp32_to_fp16(-min);
            for (int j = 0; j < 16; j++) y[ib].qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
        }
    }
    return (size_t)nrows * row_size;
}
