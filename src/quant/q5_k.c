/* q5_k.c — Q5_K: as Q4_K with a fifth bit per element: for the sub-block
 * pair j (64 elements), bit 2j of qh[l] is the high bit of element l of the
 * first sub-block, bit 2j+1 that of the second.
 */
#include "quant/rows.h"

void slm_q5_k_to_float(const void *src, float *dst, int64_t n)
{
    const slm_block_q5_K *b = src;
    for (int64_t i = 0; i < n / SLM_QK_K; i++) {
        const float d = slm_half_to_float(b[i].d), dmin = slm_half_to_float(b[i].dmin);
        const uint8_t *ql = b[i].qs, *qh = b[i].qh;
        for (int j = 0; j < SLM_QK_K / 64; j++, ql += 32) {
            uint8_t sc, m;
            slm_get_scale_min_k4(2 * j, b[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            slm_get_scale_min_k4(2 * j + 1, b[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            const uint8_t u1 = (uint8_t)(1u << (2 * j)), u2 = (uint8_t)(2u << (2 * j));
            for (int l = 0; l < 32; l++)
                *dst++ = d1 * (float)((ql[l] & 0xf) + ((qh[l] & u1) ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *dst++ = d2 * (float)((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
        }
    }
}

/* Reference quantizer (ggml's quantize_row_q5_K_ref): the fit shared with
 * the other 6-bit-scale k-quant (slm_fit_k4_ref, kfit.c), then bit packing. */
void slm_q5_k_from_float(const float *x, void *dst, int64_t n)
{
    slm_block_q5_K *y = dst;
    uint8_t L[SLM_QK_K];
    for (int64_t i = 0; i < n / SLM_QK_K; i++, x += SLM_QK_K) {
        slm_fit_k4_ref(x, 31, -0.5f, 15, L, y[i].scales, &y[i].d, &y[i].dmin);
        uint8_t *qh = y[i].qh, *ql = y[i].qs;
        memset(qh, 0, SLM_QK_K / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int j = 0; j < SLM_QK_K; j += 64, ql += 32) {
            for (int l = 0; l < 32; l++) {
                int l1 = L[j + l], l2 = L[j + l + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    qh[l] |= m1;
                }
                if (l2 > 15) {
                    l2 -= 16;
                    qh[l] |= m2;
                }
                ql[l] = (uint8_t)(l1 | (l2 << 4));
            }
            m1 = (uint8_t)(m1 << 2);
            m2 = (uint8_t)(m2 << 2);
        }
    }
}

/* One row with an importance matrix (ggml's quantize_row_q5_K_impl):
 * sub-block fits weighted by imatrix * sqrt(sigma2 + x^2) (make_qkx3_quants),
 * then the 8 scales and 8 mins fitted to 6 bits with the sub-blocks' total
 * weights (make_qp_quants). */
static void q5_k_row_imatrix(const float *x, slm_block_q5_K *y, int64_t n_per_row, const float *qw_row)
{
    uint8_t L[SLM_QK_K], Laux[32], Ls[SLM_QK_K / 32], Lm[SLM_QK_K / 32];
    float weights[32], sw[SLM_QK_K / 32], mins[SLM_QK_K / 32], scales[SLM_QK_K / 32];
    for (int64_t i = 0; i < n_per_row / SLM_QK_K; i++, x += SLM_QK_K) {
        float sum_x2 = 0;
        for (int l = 0; l < SLM_QK_K; l++) sum_x2 += x[l] * x[l];
        const float sigma2 = 2 * sum_x2 / SLM_QK_K;
        for (int j = 0; j < SLM_QK_K / 32; j++) {
            const float *qw = qw_row + SLM_QK_K * i + 32 * j;
            for (int l = 0; l < 32; l++) weights[l] = qw[l] * sqrtf(sigma2 + x[32 * j + l] * x[32 * j + l]);
            float sumw = 0;
            for (int l = 0; l < 32; l++) sumw += weights[l];
            sw[j] = sumw;
            scales[j] = slm_make_qkx3_quants(32, 31, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36, 0);
        }
        float d_block = slm_make_qp_quants(SLM_QK_K / 32, 63, scales, Ls, sw);
        float m_block = slm_make_qp_quants(SLM_QK_K / 32, 63, mins, Lm, sw);
        for (int j = 0; j < SLM_QK_K / 32; j++) {
            uint8_t ls = Ls[j] < 63 ? Ls[j] : 63, lm = Lm[j] < 63 ? Lm[j] : 63;
            slm_set_scale_min_k4(j, y[i].scales, ls, lm);
        }
        y[i].d = slm_fp32_to_fp16(d_block);
        y[i].dmin = slm_fp32_to_fp16(m_block);
        for (int j = 0; j < SLM_QK_K / 32; j++) {
            uint8_t sc, m;
            slm_get_scale_min_k4(j, y[i].scales, &sc, &m);
            const float d = slm_half_to_float(y[i].d) * (float)sc;
            if (d == 0.0f) continue;
            const float dm = slm_half_to_float(y[i].dmin) * (float)m;
            for (int ii = 0; ii < 32; ii++) {
                int l = slm_nearest_int((x[32 * j + ii] + dm) / d);
                L[32 * j + ii] = (uint8_t)(l < 0 ? 0 : l > 31 ? 31 : l);
            }
        }
        uint8_t *qh = y[i].qh, *ql = y[i].qs;
        memset(qh, 0, SLM_QK_K / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int j = 0; j < SLM_QK_K; j += 64, ql += 32) {
            for (int l = 0; l < 32; l++) {
                int l1 = L[j + l], l2 = L[j + l + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    qh[l] |= m1;
                }
                if (l2 > 15) {
                    l2 -= 16;
                    qh[l] |= m2;
                }
                ql[l] = (uint8_t)(l1 | (l2 << 4));
            }
            m1 = (uint8_t)(m1 << 2);
            m2 = (uint8_t)(m2 << 2);
        }
    }
}

size_t slm_q5_k_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix)
{
    const size_t row_size = (size_t)(n_per_row / SLM_QK_K) * sizeof(slm_block_q5_K);
    if (!imatrix) {
        slm_q5_k_from_float(src, dst, nrows * n_per_row);
        return (size_t)nrows * row_size;
    }
    for (int64_t r = 0; r < nrows; r++)
        q5_k_row_imatrix(src + r * n_per_row, (slm_block_q5_K *)((uint8_t *)dst + (size_t)r * row_size), n_per_row, imatrix);
    return (size_t)nrows * row_size;
}
