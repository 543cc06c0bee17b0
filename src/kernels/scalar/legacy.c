/* legacy.c — dots of the 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1,
 * Q8_0, IQ4_NL) with Q8_0 or Q8_1 activations: an int32 dot per block, then
 * scaled by the two fp16 scales in float, in ggml's generic order.
 */
#include "kernels/scalar/scalar.h"

void slm_vec_dot_q4_0_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_block_q4_0 *x = w;
    const slm_block_q8_0 *y = a;
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < n / SLM_QK4_0; ib++) {
        int sumi = 0;
        for (int j = 0; j < SLM_QK4_0 / 2; j++) {
            sumi += ((x[ib].qs[j] & 0xf) - 8) * y[ib].qs[j];
            sumi += ((x[ib].qs[j] >> 4) - 8) * y[ib].qs[j + SLM_QK4_0 / 2];
        }
        sumf += (float)sumi * slm_fp16_to_fp32(x[ib].d) * slm_fp16_to_fp32(y[ib].d);
    }
    *s = sumf;
}

void slm_vec_dot_q4_1_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_block_q4_1 *x = w;
    const slm_block_q8_1 *y = a;
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < n / SLM_QK4_1; ib++) {
        int sumi = 0;
        for (int j = 0; j < SLM_QK4_1 / 2; j++) {
            sumi += (x[ib].qs[j] & 0xf) * y[ib].qs[j];
            sumi += (x[ib].qs[j] >> 4) * y[ib].qs[j + SLM_QK4_1 / 2];
        }
        /* sum(d*q + m)(dy*qy) = d*dy*sumi + m * (dy * sum(qy)) = ... + m * s */
        sumf += (slm_fp16_to_fp32(x[ib].d) * slm_fp16_to_fp32(y[ib].d)) * (float)sumi +
                slm_fp16_to_fp32(x[ib].m) * slm_fp16_to_fp32(y[ib].s);
    }
    *s = sumf;
}

void slm_vec_dot_q5_0_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_block_q5_0 *x = w;
    const slm_block_q8_0 *y = a;
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < n / SLM_QK5_0; ib++) {
        uint32_t qh;
        memcpy(&qh, x[ib].qh, sizeof qh);
        int sumi = 0;
        for (int j = 0; j < SLM_QK5_0 / 2; j++) {
            int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
            sumi += (((x[ib].qs[j] & 0xf) | (h0 << 4)) - 16) * y[ib].qs[j];
            sumi += (((x[ib].qs[j] >> 4) | (h1 << 4)) - 16) * y[ib].qs[j + SLM_QK5_0 / 2];
        }
        sumf += (slm_fp16_to_fp32(x[ib].d) * slm_fp16_to_fp32(y[ib].d)) * (float)sumi;
    }
    *s = sumf;
}

void slm_vec_dot_q5_1_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_block_q5_1 *x = w;
    const slm_block_q8_1 *y = a;
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < n / SLM_QK5_1; ib++) {
        uint32_t qh;
        memcpy(&qh, x[ib].qh, sizeof qh);
        int sumi = 0;
        for (int j = 0; j < SLM_QK5_1 / 2; j++) {
            int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
            sumi += ((x[ib].qs[j] & 0xf) | (h0 << 4)) * y[ib].qs[j];
            sumi += ((x[ib].qs[j] >> 4) | (h1 << 4)) * y[ib].qs[j + SLM_QK5_1 / 2];
        }
        sumf += (slm_fp16_to_fp32(x[ib].d) * slm_fp16_to_fp32(y[ib].d)) * (float)sumi +
                slm_fp16_to_fp32(x[ib].m) * slm_fp16_to_fp32(y[ib].s);
    }
    *s = sumf;
}

void slm_vec_dot_q8_0_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_block_q8_0 *x = w;
    const slm_block_q8_0 *y = a;
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < n / SLM_QK8_0; ib++) {
        int sumi = 0;
        for (int j = 0; j < SLM_QK8_0; j++) sumi += x[ib].qs[j] * y[ib].qs[j];
        sumf += (float)sumi * (slm_fp16_to_fp32(x[ib].d) * slm_fp16_to_fp32(y[ib].d));
    }
    *s = sumf;
}

void slm_vec_dot_iq4_nl_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_block_iq4_nl *x = w;
    const slm_block_q8_0 *y = a;
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < n / SLM_QK4_NL; ib++) {
        const float d = slm_fp16_to_fp32(x[ib].d) * slm_fp16_to_fp32(y[ib].d);
        int sumi1 = 0, sumi2 = 0;
        for (int j = 0; j < SLM_QK4_NL / 2; j++) {
            sumi1 += y[ib].qs[j] * slm_kvalues_iq4nl[x[ib].qs[j] & 0xf];
            sumi2 += y[ib].qs[j + SLM_QK4_NL / 2] * slm_kvalues_iq4nl[x[ib].qs[j] >> 4];
        }
        sumf += d * (float)(sumi1 + sumi2);
    }
    *s = sumf;
}
