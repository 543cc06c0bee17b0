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
        const float d = slm_half_to_float(b[i].d);
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
        const float d = slm_half_to_float(b[i].d);
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

/* Index of the codebook entry nearest to x (val sorted, n a power of two):
 * entry i is chosen once x reaches the midpoint of val[i-1] and val[i];
 * comparing 2x with val[i-1] + val[i] keeps both sides exact (ties go up). */
static int best_index(int n, const int8_t *val, float x)
{
    const float x2 = x + x;
    int idx = 0;
    for (int step = n >> 1; step > 0; step >>= 1) {
        const int j = idx + step;
        if (x2 >= (float)(val[j - 1] + val[j])) idx = j;
    }
    return idx;
}

/* ggml's quantize_row_iq4_nl_impl for the codebook above: per 32-value block
 * a weighted least-squares scale (searched over 2*ntry+1 starting points when
 * ntry > 0), then for super-blocks (IQ4_XS) 6-bit block scales against the
 * largest and a final re-rounding. qw: importance of each value or NULL
 * (then x^2). The IQ4_NL reference uses ntry = -1 (no search). L (indices,
 * super_block_size bytes) is the caller's and persists across calls. */
static void iq4_impl(int super_block_size, const float *x, slm_fp16 *dh, uint8_t *q4,
                     uint16_t *scales_h, uint8_t *scales_l, float *scales, uint8_t *L,
                     const float *qw, int ntry)
{
    const int block_size = 32;
    const int8_t *values = slm_kvalues_iq4nl;
    float weight[32];

    float sigma2 = 0;
    for (int j = 0; j < super_block_size; j++) sigma2 += x[j] * x[j];
    sigma2 *= 2.f / (float)super_block_size;

    memset(q4, 0, (size_t)super_block_size / 2);
    dh[0] = slm_fp32_to_fp16(0.f);

    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < super_block_size / block_size; ib++) {
        const float *xb = x + ib * block_size;
        uint8_t *Lb = L + ib * block_size;
        if (qw) {
            for (int j = 0; j < block_size; j++)
                weight[j] = qw[ib * block_size + j] * sqrtf(sigma2 + xb[j] * xb[j]);
        } else {
            for (int j = 0; j < block_size; j++) weight[j] = xb[j] * xb[j];
        }
        float amax = 0, max = 0;
        for (int j = 0; j < block_size; j++) {
            float ax = fabsf(xb[j]);
            if (ax > amax) {
                amax = ax;
                max = xb[j];
            }
        }
        if (amax < 1e-15f) { /* ggml's GROUP_MAX_EPS */
            /* L is left as it is, as llama.cpp v0.5.0 does: an all-zero
             * IQ4_NL block stores the previous block's indices (d = 0, so
             * they decode to zeros). */
            scales[ib] = 0;
            continue;
        }
        float d = ntry > 0 ? -max / values[0] : max / values[0];
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < block_size; j++) {
            int l = best_index(16, values, id * xb[j]);
            Lb[j] = (uint8_t)l;
            float q = values[l], w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
        float best = d * sumqx;
        for (int itry = -ntry; itry <= ntry; itry++) {
            id = ((float)itry + values[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < block_size; j++) {
                int l = best_index(16, values, id * xb[j]);
                float q = values[l], w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        if (fabsf(d) > amax_scale) {
            amax_scale = fabsf(d);
            max_scale = d;
        }
    }

    if (super_block_size / block_size > 1) {
        const int nb = super_block_size / block_size;
        memset(scales_h, 0, (size_t)((nb + 7) / 8) * sizeof(uint16_t));
        float d = -max_scale / 32;
        dh[0] = slm_fp32_to_fp16(d);
        float id = d != 0.0f ? 1 / d : 0.f;
        for (int ib = 0; ib < nb; ib++) {
            int l = slm_nearest_int(id * scales[ib]);
            l = l < -32 ? -32 : l > 31 ? 31 : l;
            float dl = d * (float)l;
            float idl = dl != 0.0f ? 1 / dl : 0.f;
            uint8_t *Lb = L + ib * block_size;
            const float *xb = x + ib * block_size;
            for (int j = 0; j < block_size; j++) Lb[j] = (uint8_t)best_index(16, values, idl * xb[j]);
            l += 32;
            uint8_t l_l = (uint8_t)(l & 0xf), l_h = (uint8_t)(l >> 4);
            if (ib % 2 == 0)
                scales_l[ib / 2] = l_l;
            else
                scales_l[ib / 2] = (uint8_t)(scales_l[ib / 2] | (l_l << 4));
            scales_h[ib / 8] = (uint16_t)(scales_h[ib / 8] | (l_h << 2 * (ib % 8)));
        }
    } else {
        dh[0] = slm_fp32_to_fp16(scales[0]);
        if (ntry > 0) {
            float id = scales[0] != 0.0f ? 1 / scales[0] : 0;
            for (int j = 0; j < super_block_size; j++) L[j] = (uint8_t)best_index(16, values, id * x[j]);
        }
    }
    for (int i = 0; i < super_block_size / 32; i++)
        for (int j = 0; j < 16; j++) q4[16 * i + j] = (uint8_t)(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
}

void slm_iq4_nl_from_float(const float *x, void *dst, int64_t n)
{
    slm_block_iq4_nl *y = dst;
    float scale;
    uint16_t unused_h;
    uint8_t L[SLM_QK4_NL] = { 0 };
    for (int64_t i = 0; i < n / SLM_QK4_NL; i++)
        iq4_impl(SLM_QK4_NL, x + i * SLM_QK4_NL, &y[i].d, y[i].qs, &unused_h, NULL, &scale, L, NULL, -1);
}

/* llama-quantize's IQ4_NL: unlike the reference it searches (ntry = 7). */
size_t slm_iq4_nl_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                           const float *imatrix)
{
    slm_block_iq4_nl *y = dst;
    const int64_t nb = n_per_row / SLM_QK4_NL;
    float scale;
    uint16_t unused_h;
    uint8_t L[SLM_QK4_NL] = { 0 };
    for (int64_t r = 0; r < nrows; r++, src += n_per_row, y += nb)
        for (int64_t i = 0; i < nb; i++)
            iq4_impl(SLM_QK4_NL, src + i * SLM_QK4_NL, &y[i].d, y[i].qs, &unused_h, NULL, &scale, L,
                     imatrix ? imatrix + i * SLM_QK4_NL : NULL, 7);
    return (size_t)(nrows * nb) * sizeof(slm_block_iq4_nl);
}

size_t slm_iq4_xs_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                           const float *imatrix)
{
    slm_block_iq4_xs *y = dst;
    const int64_t nb = n_per_row / SLM_QK_K;
    float scales[SLM_QK_K / 32];
    uint8_t L[SLM_QK_K] = { 0 };
    for (int64_t r = 0; r < nrows; r++, src += n_per_row, y += nb)
        for (int64_t i = 0; i < nb; i++)
            iq4_impl(SLM_QK_K, src + i * SLM_QK_K, &y[i].d, y[i].qs, &y[i].scales_h, y[i].scales_l, scales, L,
                     imatrix ? imatrix + i * SLM_QK_K : NULL, 7);
    return (size_t)(nrows * nb) * sizeof(slm_block_iq4_xs);
}

/* The IQ4_XS reference is llama-quantize's path without an imatrix. */
void slm_iq4_xs_from_float(const float *x, void *dst, int64_t n)
{
    slm_iq4_xs_quantize(x, dst, 1, n, NULL);
}
