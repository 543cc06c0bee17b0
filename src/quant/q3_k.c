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
        const float d = slm_half_to_float(b[i].d);
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

/* Reference quantizer (ggml's quantize_row_q3_K_ref): fit each 16-value
 * sub-block symmetrically to [-4, 3] (x^2-weighted, refined), quantize the
 * 16 signed scales to 6 bits against the one of largest magnitude, re-round
 * every value with the stored scales, then split off the high bit. */
void slm_q3_k_from_float(const float *x, void *dst, int64_t n)
{
    slm_block_q3_K *y = dst;
    int8_t L[SLM_QK_K];
    float scales[SLM_QK_K / 16];

    for (int64_t i = 0; i < n / SLM_QK_K; i++, x += SLM_QK_K) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < SLM_QK_K / 16; j++) {
            scales[j] = slm_make_q3_quants(16, 4, x + 16 * j, L + 16 * j, 1);
            float scale = fabsf(scales[j]);
            if (scale > amax) {
                amax = scale;
                max_scale = scales[j];
            }
        }
        memset(y[i].scales, 0, 12);
        if (max_scale != 0.0f) {
            float iscale = -32.f / max_scale;
            for (int j = 0; j < SLM_QK_K / 16; j++) {
                int l = (int8_t)slm_nearest_int(iscale * scales[j]);
                l = (l < -32 ? -32 : l > 31 ? 31 : l) + 32;
                if (j < 8)
                    y[i].scales[j] = (uint8_t)(l & 0xf);
                else
                    y[i].scales[j - 8] = (uint8_t)(y[i].scales[j - 8] | ((l & 0xf) << 4));
                l >>= 4;
                y[i].scales[j % 4 + 8] = (uint8_t)(y[i].scales[j % 4 + 8] | (l << (2 * (j / 4))));
            }
            y[i].d = slm_fp32_to_fp16(1 / iscale);
        } else {
            y[i].d = slm_fp32_to_fp16(0.f);
        }
        int8_t sc[16];
        slm_q3_k_scales(y[i].scales, sc);
        for (int j = 0; j < SLM_QK_K / 16; j++) {
            const float d = slm_half_to_float(y[i].d) * (float)sc[j];
            if (d == 0.0f) continue;
            for (int ii = 0; ii < 16; ii++) {
                int l = slm_nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)((l < -4 ? -4 : l > 3 ? 3 : l) + 4);
            }
        }
        /* High bit of element j goes to hmask[j % 32], bit j / 32. */
        memset(y[i].hmask, 0, SLM_QK_K / 8);
        for (int j = 0; j < SLM_QK_K; j++) {
            if (L[j] > 3) {
                y[i].hmask[j % 32] = (uint8_t)(y[i].hmask[j % 32] | (1u << (j / 32)));
                L[j] = (int8_t)(L[j] - 4);
            }
        }
        for (int j = 0; j < SLM_QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                               (L[j + l + 96] << 6));
    }
}

/* One row with an importance matrix (ggml's quantize_row_q3_K_impl): sub-block
 * fits weighted by imatrix * sqrt(sigma2 + x^2), then the 16 scales fitted
 * to 6 bits with the sub-blocks' total weights. */
static void q3_k_row_imatrix(const float *x, slm_block_q3_K *y, int64_t n_per_row, const float *qw_row)
{
    int8_t L[SLM_QK_K], Ls[SLM_QK_K / 16];
    float scales[SLM_QK_K / 16], weight[16], sw[SLM_QK_K / 16];
    for (int64_t i = 0; i < n_per_row / SLM_QK_K; i++, x += SLM_QK_K) {
        float sumx2 = 0;
        for (int j = 0; j < SLM_QK_K; j++) sumx2 += x[j] * x[j];
        const float sigma2 = 2 * sumx2 / SLM_QK_K;
        for (int j = 0; j < SLM_QK_K / 16; j++) {
            const float *qw = qw_row + SLM_QK_K * i + 16 * j;
            for (int l = 0; l < 16; l++) weight[l] = qw[l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
            float sumw = 0;
            for (int l = 0; l < 16; l++) sumw += weight[l];
            sw[j] = sumw;
            scales[j] = slm_make_qx_quants(16, 4, x + 16 * j, L + 16 * j, 1, weight);
        }
        memset(y[i].scales, 0, 12);
        float d_block = slm_make_qx_quants(SLM_QK_K / 16, 32, scales, Ls, 1, sw);
        for (int j = 0; j < SLM_QK_K / 16; j++) {
            int l = Ls[j];
            if (j < 8)
                y[i].scales[j] = (uint8_t)(l & 0xf);
            else
                y[i].scales[j - 8] = (uint8_t)(y[i].scales[j - 8] | ((l & 0xf) << 4));
            l >>= 4;
            y[i].scales[j % 4 + 8] = (uint8_t)(y[i].scales[j % 4 + 8] | (l << (2 * (j / 4))));
        }
        y[i].d = slm_fp32_to_fp16(d_block);
        int8_t sc[16];
        slm_q3_k_scales(y[i].scales, sc);
        for (int j = 0; j < SLM_QK_K / 16; j++) {
            const float d = slm_half_to_float(y[i].d) * (float)sc[j];
            if (d == 0.0f) continue;
            for (int ii = 0; ii < 16; ii++) {
                int l = slm_nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)((l < -4 ? -4 : l > 3 ? 3 : l) + 4);
            }
        }
        memset(y[i].hmask, 0, SLM_QK_K / 8);
        for (int j = 0; j < SLM_QK_K; j++) {
            if (L[j] > 3) {
                y[i].hmask[j % 32] = (uint8_t)(y[i].hmask[j % 32] | (1u << (j / 32)));
                L[j] = (int8_t)(L[j] - 4);
            }
        }
        for (int j = 0; j < SLM_QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                               (L[j + l + 96] << 6));
    }
}

size_t slm_q3_k_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix)
{
    const size_t row_size = (size_t)(n_per_row / SLM_QK_K) * sizeof(slm_block_q3_K);
    if (!imatrix) {
        slm_q3_k_from_float(src, dst, nrows * n_per_row);
        return (size_t)nrows * row_size;
    }
    for (int64_t r = 0; r < nrows; r++)
        q3_k_row_imatrix(src + r * n_per_row, (slm_block_q3_K *)((uint8_t *)dst + (size_t)r * row_size), n_per_row, imatrix);
    return (size_t)nrows * row_size;
}
