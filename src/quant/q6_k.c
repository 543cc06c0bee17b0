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
        const float d = slm_half_to_float(b[i].d);
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

/* Reference quantizer (ggml's quantize_row_q6_K_ref): fit each 16-value
 * sub-block symmetrically to [-32, 31] (x^2-weighted search), quantize the
 * 16 scales to int8 against the one of largest magnitude (-128 / max), then
 * re-round every value with the stored scales. */
void slm_q6_k_from_float(const float *x, void *dst, int64_t n)
{
    slm_block_q6_K *y = dst;
    int8_t L[SLM_QK_K];
    float scales[SLM_QK_K / 16];

    for (int64_t i = 0; i < n / SLM_QK_K; i++, x += SLM_QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < SLM_QK_K / 16; ib++) {
            const float scale = slm_make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1, NULL);
            scales[ib] = scale;
            if (fabsf(scale) > max_abs_scale) {
                max_abs_scale = fabsf(scale);
                max_scale = scale;
            }
        }
        if (max_abs_scale < 1e-15f) { /* ggml's GROUP_MAX_EPS */
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -128.f / max_scale;
        y[i].d = slm_fp32_to_fp16(1 / iscale);
        for (int ib = 0; ib < SLM_QK_K / 16; ib++) {
            int v = slm_nearest_int(iscale * scales[ib]);
            y[i].scales[ib] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < SLM_QK_K / 16; j++) {
            const float d = slm_half_to_float(y[i].d) * (float)y[i].scales[j];
            if (d == 0.0f) continue;
            for (int ii = 0; ii < 16; ii++) {
                int l = slm_nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)((l < -32 ? -32 : l > 31 ? 31 : l) + 32);
            }
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < SLM_QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const int q1 = L[j + l] & 0xf, q2 = L[j + l + 32] & 0xf;
                const int q3 = L[j + l + 64] & 0xf, q4 = L[j + l + 96] & 0xf;
                ql[l] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                  ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}

/* With an importance matrix (ggml's quantize_row_q6_K_impl): as the
 * reference, with the sub-block fits weighted by the imatrix itself. */
static void q6_k_row_imatrix(const float *x, slm_block_q6_K *y, int64_t n_per_row, const float *qw_row)
{
    int8_t L[SLM_QK_K];
    float scales[SLM_QK_K / 16];
    for (int64_t i = 0; i < n_per_row / SLM_QK_K; i++, x += SLM_QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < SLM_QK_K / 16; ib++) {
            const float scale = slm_make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1, qw_row + SLM_QK_K * i + 16 * ib);
            scales[ib] = scale;
            if (fabsf(scale) > max_abs_scale) {
                max_abs_scale = fabsf(scale);
                max_scale = scale;
            }
        }
        if (max_abs_scale < 1e-15f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -128.f / max_scale;
        y[i].d = slm_fp32_to_fp16(1 / iscale);
        for (int ib = 0; ib < SLM_QK_K / 16; ib++) {
            int v = slm_nearest_int(iscale * scales[ib]);
            y[i].scales[ib] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < SLM_QK_K / 16; j++) {
            const float d = slm_half_to_float(y[i].d) * (float)y[i].scales[j];
            if (d == 0.0f) continue;
            for (int ii = 0; ii < 16; ii++) {
                int l = slm_nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)((l < -32 ? -32 : l > 31 ? 31 : l) + 32);
            }
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < SLM_QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const int q1 = L[j + l] & 0xf, q2 = L[j + l + 32] & 0xf;
                const int q3 = L[j + l + 64] & 0xf, q4 = L[j + l + 96] & 0xf;
                ql[l] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                  ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}

size_t slm_q6_k_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix)
{
    const size_t row_size = (size_t)(n_per_row / SLM_QK_K) * sizeof(slm_block_q6_K);
    if (!imatrix) {
        slm_q6_k_from_float(src, dst, nrows * n_per_row);
        return (size_t)nrows * row_size;
    }
    for (int64_t r = 0; r < nrows; r++)
        q6_k_row_imatrix(src + r * n_per_row, (slm_block_q6_K *)((uint8_t *)dst + (size_t)r * row_size), n_per_row, imatrix);
    return (size_t)nrows * row_size;
}
