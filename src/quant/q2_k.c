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
        const float d = slm_half_to_float(b[i].d), dmin = slm_half_to_float(b[i].dmin);
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

/* Reference quantizer (ggml's quantize_row_q2_K_ref): fit each 16-value
 * sub-block with scale and min (|x| weights, mean absolute error), quantize
 * the 16 scales and 16 mins to 4 bits against their maxima, then re-round
 * every value with the stored (fp16-rounded) scales. */
void slm_q2_k_from_float(const float *x, void *dst, int64_t n)
{
    slm_block_q2_K *y = dst;
    uint8_t L[SLM_QK_K], Laux[16];
    float weights[16], mins[SLM_QK_K / 16], scales[SLM_QK_K / 16];
    const float q4scale = 15.f;

    for (int64_t i = 0; i < n / SLM_QK_K; i++, x += SLM_QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < SLM_QK_K / 16; j++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
            scales[j] = slm_make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux,
                                             -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            float iscale = q4scale / max_scale;
            for (int j = 0; j < SLM_QK_K / 16; j++) y[i].scales[j] = (uint8_t)slm_nearest_int(iscale * scales[j]);
            y[i].d = slm_fp32_to_fp16(max_scale / q4scale);
        } else {
            for (int j = 0; j < SLM_QK_K / 16; j++) y[i].scales[j] = 0;
            y[i].d = slm_fp32_to_fp16(0.f);
        }
        if (max_min > 0) {
            float iscale = q4scale / max_min;
            for (int j = 0; j < SLM_QK_K / 16; j++)
                y[i].scales[j] = (uint8_t)(y[i].scales[j] | (slm_nearest_int(iscale * mins[j]) << 4));
            y[i].dmin = slm_fp32_to_fp16(max_min / q4scale);
        } else {
            y[i].dmin = slm_fp32_to_fp16(0.f);
        }
        for (int j = 0; j < SLM_QK_K / 16; j++) {
            const float d = slm_half_to_float(y[i].d) * (float)(y[i].scales[j] & 0xf);
            if (d == 0.0f) continue;
            const float dm = slm_half_to_float(y[i].dmin) * (float)(y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ii++) {
                int l = slm_nearest_int((x[16 * j + ii] + dm) / d);
                L[16 * j + ii] = (uint8_t)(l < 0 ? 0 : l > 3 ? 3 : l);
            }
        }
        for (int j = 0; j < SLM_QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                               (L[j + l + 96] << 6));
    }
}

/* One row with an importance matrix (ggml's quantize_row_q2_K_impl): per
 * sub-block a weighted asymmetric fit, then the 16 scales and mins
 * quantized by a weighted fit of their own (make_qp_quants). */
static void q2_k_row_imatrix(const float *x, slm_block_q2_K *y, int64_t n_per_row, const float *qw_row)
{
    uint8_t L[SLM_QK_K], Laux[16], Ls[SLM_QK_K / 16], Lm[SLM_QK_K / 16];
    float mins[SLM_QK_K / 16], scales[SLM_QK_K / 16], sw[SLM_QK_K / 16], weight[16];
    for (int64_t i = 0; i < n_per_row / SLM_QK_K; i++, x += SLM_QK_K) {
        memset(sw, 0, sizeof sw);
        float sumx2 = 0;
        for (int j = 0; j < SLM_QK_K; j++) sumx2 += x[j] * x[j];
        const float sigma2 = sumx2 / SLM_QK_K;
        for (int j = 0; j < SLM_QK_K / 16; j++) {
            const float *qw = qw_row + SLM_QK_K * i + 16 * j;
            for (int l = 0; l < 16; l++) weight[l] = qw[l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
            for (int l = 0; l < 16; l++) sw[j] += weight[l];
            scales[j] = slm_make_qkx3_quants(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36, 0);
        }
        float dm = slm_make_qp_quants(SLM_QK_K / 16, 15, scales, Ls, sw);
        float mm = slm_make_qp_quants(SLM_QK_K / 16, 15, mins, Lm, sw);
        y[i].d = slm_fp32_to_fp16(dm);
        y[i].dmin = slm_fp32_to_fp16(mm);
        dm = slm_half_to_float(y[i].d);
        mm = slm_half_to_float(y[i].dmin);
        for (int j = 0; j < SLM_QK_K / 16; j++) y[i].scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
        for (int j = 0; j < SLM_QK_K / 16; j++) {
            const float d = dm * (float)(y[i].scales[j] & 0xf);
            if (d == 0.0f) continue;
            const float m = mm * (float)(y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ii++) {
                int l = slm_nearest_int((x[16 * j + ii] + m) / d);
                L[16 * j + ii] = (uint8_t)(l < 0 ? 0 : l > 3 ? 3 : l);
            }
        }
        for (int j = 0; j < SLM_QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                               (L[j + l + 96] << 6));
    }
}

size_t slm_q2_k_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix)
{
    const size_t row_size = (size_t)(n_per_row / SLM_QK_K) * sizeof(slm_block_q2_K);
    if (!imatrix) {
        slm_q2_k_from_float(src, dst, nrows * n_per_row);
        return (size_t)nrows * row_size;
    }
    for (int64_t r = 0; r < nrows; r++)
        q2_k_row_imatrix(src + r * n_per_row, (slm_block_q2_K *)((uint8_t *)dst + (size_t)r * row_size), n_per_row, imatrix);
    return (size_t)nrows * row_size;
}
