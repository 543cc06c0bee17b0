/* q4_0.c — Q4_0: blocks of 32, x = d * (q - 8), q in 0..15.
 * The reference quantizer picks d = max / -8 where max is the element of
 * largest magnitude (sign kept), so that element maps exactly to q = 0.
 */
#include "quant/rows.h"

void slm_q4_0_to_float(const void *src, float *dst, int64_t n)
{
    const slm_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / SLM_QK4_0; i++, dst += SLM_QK4_0) {
        float d = slm_half_to_float(b[i].d);
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
            int q0 = slm_f2i_sat(x[j] * id + 8.5f, -128, 127);
            int q1 = slm_f2i_sat(x[j + SLM_QK4_0 / 2] * id + 8.5f, -128, 127);
            if (q0 > 15) q0 = 15;
            if (q1 > 15) q1 = 15;
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* With an importance matrix (ggml's quantize_row_q4_0_impl): per block, a
 * weighted symmetric fit with weights imatrix * sqrt(sigma2 + x^2), sigma2
 * the row's mean square. */
size_t slm_q4_0_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix)
{
    const size_t row_size = (size_t)(n_per_row / SLM_QK4_0) * sizeof(slm_block_q4_0);
    if (!imatrix) {
        slm_q4_0_from_float(src, dst, nrows * n_per_row);
        return (size_t)nrows * row_size;
    }
    for (int64_t r = 0; r < nrows; r++, src += n_per_row) {
        slm_block_q4_0 *y = (slm_block_q4_0 *)((uint8_t *)dst + (size_t)r * row_size);
        float sum_x2 = 0, weight[SLM_QK4_0];
        int8_t L[SLM_QK4_0];
        for (int64_t j = 0; j < n_per_row; j++) sum_x2 += src[j] * src[j];
        const float sigma2 = sum_x2 / (float)n_per_row;
        for (int64_t ib = 0; ib < n_per_row / SLM_QK4_0; ib++) {
            const float *xb = src + SLM_QK4_0 * ib, *qw = imatrix + SLM_QK4_0 * ib;
            for (int j = 0; j < SLM_QK4_0; j++) weight[j] = qw[j] * sqrtf(sigma2 + xb[j] * xb[j]);
            y[ib].d = slm_fp32_to_fp16(slm_make_qx_quants(SLM_QK4_0, 8, xb, L, 1, weight));
            for (int j = 0; j < 16; j++) y[ib].qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
        }
    }
    return (size_t)nrows * row_size;
}
