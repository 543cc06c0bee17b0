/* kquants.c — dots of the 256-element super-block types (Q2_K .. Q6_K,
 * IQ4_XS) with Q8_K activations. Per super-block: int32 sums of scale *
 * (sub-block int dot), then one float multiply by d_w * d_a; the min terms
 * use the activation's bsums (sum of q8 per 16 elements) so they cost 16
 * multiplies instead of 256.
 */
#include "kernels/scalar/scalar.h"
#include "quant/rows.h"

void slm_vec_dot_q2_k_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_block_q2_K *x = w;
    const slm_block_q8_K *y = a;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / SLM_QK_K; i++) {
        const uint8_t *q2 = x[i].qs, *sc = x[i].scales;
        const int8_t *q8 = y[i].qs;
        int summs = 0;
        for (int j = 0; j < 16; j++) summs += y[i].bsums[j] * (sc[j] >> 4);
        const float dall = y[i].d * slm_half_to_float(x[i].d);
        const float dmin = y[i].d * slm_half_to_float(x[i].dmin);
        int isum = 0, is = 0;
        for (int k = 0; k < SLM_QK_K / 128; k++, q2 += 32) {
            for (int shift = 0; shift < 8; shift += 2, q8 += 32) {
                int s0 = 0, s1 = 0;
                for (int l = 0; l < 16; l++) s0 += q8[l] * ((q2[l] >> shift) & 3);
                for (int l = 16; l < 32; l++) s1 += q8[l] * ((q2[l] >> shift) & 3);
                isum += (sc[is] & 0xf) * s0 + (sc[is + 1] & 0xf) * s1;
                is += 2;
            }
        }
        sumf += dall * (float)isum - dmin * (float)summs;
    }
    *s = sumf;
}

void slm_vec_dot_q3_k_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_block_q3_K *x = w;
    const slm_block_q8_K *y = a;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / SLM_QK_K; i++) {
        int8_t sc[16];
        slm_q3_k_scales(x[i].scales, sc);
        const uint8_t *hm = x[i].hmask;
        const int8_t *q8 = y[i].qs;
        int isum = 0, is = 0;
        for (int half = 0; half < SLM_QK_K / 128; half++) {
            const uint8_t *q = x[i].qs + 32 * half;
            for (int j = 0; j < 4; j++) {
                const int shift = 2 * j;
                const uint8_t m = (uint8_t)(1u << (4 * half + j));
                for (int k = 0; k < 2; k++, q8 += 16) {
                    int sub = 0;
                    for (int l = 16 * k; l < 16 * k + 16; l++) {
                        /* high bit clear means -4 */
                        int v = ((q[l] >> shift) & 3) - (((hm[l] & m) == 0) << 2);
                        sub += v * q8[l - 16 * k];
                    }
                    isum += sc[is++] * sub;
                }
            }
        }
        sumf += slm_half_to_float(x[i].d) * y[i].d * (float)isum;
    }
    *s = sumf;
}

void slm_vec_dot_q4_k_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_block_q4_K *x = w;
    const slm_block_q8_K *y = a;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / SLM_QK_K; i++) {
        const uint8_t *q = x[i].qs;
        const int8_t *q8 = y[i].qs;
        int isum = 0, summs = 0;
        for (int j = 0; j < SLM_QK_K / 64; j++, q += 32) {
            uint8_t sc1, m1, sc2, m2;
            slm_get_scale_min_k4(2 * j, x[i].scales, &sc1, &m1);
            slm_get_scale_min_k4(2 * j + 1, x[i].scales, &sc2, &m2);
            int s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) s0 += (q[l] & 0xf) * q8[l];
            for (int l = 0; l < 32; l++) s1 += (q[l] >> 4) * q8[l + 32];
            q8 += 64;
            isum += sc1 * s0 + sc2 * s1;
            summs += m1 * (y[i].bsums[4 * j] + y[i].bsums[4 * j + 1]) +
                     m2 * (y[i].bsums[4 * j + 2] + y[i].bsums[4 * j + 3]);
        }
        const float d = slm_half_to_float(x[i].d) * y[i].d;
        const float dmin = slm_half_to_float(x[i].dmin) * y[i].d;
        sumf += d * (float)isum - dmin * (float)summs;
    }
    *s = sumf;
}

void slm_vec_dot_q5_k_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_block_q5_K *x = w;
    const slm_block_q8_K *y = a;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / SLM_QK_K; i++) {
        const uint8_t *ql = x[i].qs, *qh = x[i].qh;
        const int8_t *q8 = y[i].qs;
        int isum = 0, summs = 0;
        for (int j = 0; j < SLM_QK_K / 64; j++, ql += 32) {
            uint8_t sc1, m1, sc2, m2;
            slm_get_scale_min_k4(2 * j, x[i].scales, &sc1, &m1);
            slm_get_scale_min_k4(2 * j + 1, x[i].scales, &sc2, &m2);
            const int u1 = 1 << (2 * j), u2 = 2 << (2 * j);
            int s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) s0 += ((ql[l] & 0xf) + ((qh[l] & u1) ? 16 : 0)) * q8[l];
            for (int l = 0; l < 32; l++) s1 += ((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) * q8[l + 32];
            q8 += 64;
            isum += sc1 * s0 + sc2 * s1;
            summs += m1 * (y[i].bsums[4 * j] + y[i].bsums[4 * j + 1]) +
                     m2 * (y[i].bsums[4 * j + 2] + y[i].bsums[4 * j + 3]);
        }
        const float d = slm_half_to_float(x[i].d) * y[i].d;
        const float dmin = slm_half_to_float(x[i].dmin) * y[i].d;
        sumf += d * (float)isum - dmin * (float)summs;
    }
    *s = sumf;
}

void slm_vec_dot_q6_k_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_block_q6_K *x = w;
    const slm_block_q8_K *y = a;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / SLM_QK_K; i++) {
        int isum = 0;
        for (int half = 0; half < SLM_QK_K / 128; half++) {
            const uint8_t *ql = x[i].ql + 64 * half, *qh = x[i].qh + 32 * half;
            const int8_t *sc = x[i].scales + 8 * half, *q8 = y[i].qs + 128 * half;
            /* Quarter k (elements 32k..32k+31 of the half): nibble of
             * ql[l + 32 (k & 1)] (high if k >= 2), bits 2k of qh[l]. The
             * shifts are loop-invariant so the inner loops vectorize. */
            for (int k = 0; k < 4; k++) {
                const uint8_t *lo = ql + 32 * (k & 1);
                const int sh = 4 * (k >> 1), hs = 2 * k;
                for (int g = 0; g < 2; g++) {
                    int sub = 0;
                    for (int l = 16 * g; l < 16 * g + 16; l++) {
                        int q = (((lo[l] >> sh) & 0xf) | (((qh[l] >> hs) & 3) << 4)) - 32;
                        sub += q * q8[32 * k + l];
                    }
                    isum += sc[2 * k + g] * sub;
                }
            }
        }
        sumf += slm_half_to_float(x[i].d) * y[i].d * (float)isum;
    }
    *s = sumf;
}

void slm_vec_dot_iq4_xs_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_block_iq4_xs *x = w;
    const slm_block_q8_K *y = a;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / SLM_QK_K; i++) {
        const float d4d8 = slm_half_to_float(x[i].d) * y[i].d;
        const uint8_t *qs = x[i].qs;
        const int8_t *q8 = y[i].qs;
        for (int ib = 0; ib < SLM_QK_K / 32; ib++, qs += 16, q8 += 32) {
            int ls = ((x[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((x[i].scales_h >> 2 * ib) & 3) << 4);
            int sumi = 0;
            for (int j = 0; j < 16; j++) {
                sumi += q8[j] * slm_kvalues_iq4nl[qs[j] & 0xf];
                sumi += q8[j + 16] * slm_kvalues_iq4nl[qs[j] >> 4];
            }
            sumf += d4d8 * (float)(ls - 32) * (float)sumi;
        }
    }
    *s = sumf;
}
