/* legacy.c — dots of the 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1,
 * Q8_0, IQ4_NL) with Q8_0 or Q8_1 activations: an int32 dot per block, then
 * scaled by the two fp16 scales in float, in ggml's generic order.
 */
#include "kernels/scalar/scalar.h"
#include "quant/rows.h"

/* Q5_0/Q5_1: bit j of the 32-bit qh (little endian) as 0 or 16, in hb[j]:
 * byte-wise with fixed shifts so the dot loops stay vectorizable. */
static void high_bits(const uint8_t qh[4], uint8_t hb[32])
{
    for (int byte = 0; byte < 4; byte++)
        for (int bit = 0; bit < 8; bit++) hb[8 * byte + bit] = (uint8_t)(((qh[byte] >> bit) & 1) << 4);
}

void slm_vec_dot_q4_0_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_block_q4_0 *x = w;
    const slm_block_q8_0 *y = a;
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < n / SLM_QK4_0; ib++) {
        const uint8_t *qs = x[ib].qs;
        const int8_t *q8 = y[ib].qs;
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < SLM_QK4_0 / 2; j++) sumi0 += ((qs[j] & 0xf) - 8) * q8[j];
        for (int j = 0; j < SLM_QK4_0 / 2; j++) sumi1 += ((qs[j] >> 4) - 8) * q8[j + SLM_QK4_0 / 2];
        const int sumi = sumi0 + sumi1;
        sumf += (float)sumi * slm_half_to_float(x[ib].d) * slm_half_to_float(y[ib].d);
    }
    *s = sumf;
}

void slm_vec_dot_q4_1_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_block_q4_1 *x = w;
    const slm_block_q8_1 *y = a;
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < n / SLM_QK4_1; ib++) {
        const uint8_t *qs = x[ib].qs;
        const int8_t *q8 = y[ib].qs;
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < SLM_QK4_1 / 2; j++) sumi0 += (qs[j] & 0xf) * q8[j];
        for (int j = 0; j < SLM_QK4_1 / 2; j++) sumi1 += (qs[j] >> 4) * q8[j + SLM_QK4_1 / 2];
        const int sumi = sumi0 + sumi1;
        /* sum(d*q + m)(dy*qy) = d*dy*sumi + m * (dy * sum(qy)) = ... + m * s */
        sumf += (slm_half_to_float(x[ib].d) * slm_half_to_float(y[ib].d)) * (float)sumi +
                slm_half_to_float(x[ib].m) * slm_half_to_float(y[ib].s);
    }
    *s = sumf;
}

void slm_vec_dot_q5_0_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_block_q5_0 *x = w;
    const slm_block_q8_0 *y = a;
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < n / SLM_QK5_0; ib++) {
        uint8_t hb[SLM_QK5_0];
        high_bits(x[ib].qh, hb);
        const uint8_t *qs = x[ib].qs;
        const int8_t *q8 = y[ib].qs;
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < SLM_QK5_0 / 2; j++) sumi0 += (((qs[j] & 0xf) | hb[j]) - 16) * q8[j];
        for (int j = 0; j < SLM_QK5_0 / 2; j++) sumi1 += (((qs[j] >> 4) | hb[j + 16]) - 16) * q8[j + 16];
        const int sumi = sumi0 + sumi1;
        sumf += (slm_half_to_float(x[ib].d) * slm_half_to_float(y[ib].d)) * (float)sumi;
    }
    *s = sumf;
}

void slm_vec_dot_q5_1_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_block_q5_1 *x = w;
    const slm_block_q8_1 *y = a;
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < n / SLM_QK5_1; ib++) {
        uint8_t hb[SLM_QK5_1];
        high_bits(x[ib].qh, hb);
        const uint8_t *qs = x[ib].qs;
        const int8_t *q8 = y[ib].qs;
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < SLM_QK5_1 / 2; j++) sumi0 += ((qs[j] & 0xf) | hb[j]) * q8[j];
        for (int j = 0; j < SLM_QK5_1 / 2; j++) sumi1 += ((qs[j] >> 4) | hb[j + 16]) * q8[j + 16];
        const int sumi = sumi0 + sumi1;
        sumf += (slm_half_to_float(x[ib].d) * slm_half_to_float(y[ib].d)) * (float)sumi +
                slm_half_to_float(x[ib].m) * slm_half_to_float(y[ib].s);
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
        sumf += (float)sumi * (slm_half_to_float(x[ib].d) * slm_half_to_float(y[ib].d));
    }
    *s = sumf;
}

void slm_vec_dot_iq4_nl_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_block_iq4_nl *x = w;
    const slm_block_q8_0 *y = a;
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < n / SLM_QK4_NL; ib++) {
        const float d = slm_half_to_float(x[ib].d) * slm_half_to_float(y[ib].d);
        int sumi1 = 0, sumi2 = 0;
        for (int j = 0; j < SLM_QK4_NL / 2; j++) {
            sumi1 += y[ib].qs[j] * slm_kvalues_iq4nl[x[ib].qs[j] & 0xf];
            sumi2 += y[ib].qs[j + SLM_QK4_NL / 2] * slm_kvalues_iq4nl[x[ib].qs[j] >> 4];
        }
        sumf += d * (float)(sumi1 + sumi2);
    }
    *s = sumf;
}
