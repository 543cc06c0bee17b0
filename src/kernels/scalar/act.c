/* act.c — activation quantizers: convert an F32 input row to the vec_dot
 * type of a weight. These reproduce llama.cpp's x86 CPU backend exactly
 * (../shared/testdata/README.md section 4), which differs from ggml's _ref
 * quantizers for Q8_0/Q8_1: the scale inverse is 127/amax (not 1/(amax/127))
 * and rounding is to nearest even (_mm256_round_ps), not roundf.
 */
#include <math.h>

#include "kernels/scalar/scalar.h"
#include "quant/rows.h"

void slm_quant_act_f32_scalar(const float *x, void *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

void slm_quant_act_f16_scalar(const float *x, void *y, int64_t n) { slm_f16_from_float(x, y, n); }

void slm_quant_act_bf16_scalar(const float *x, void *y, int64_t n) { slm_bf16_from_float(x, y, n); }

/* One Q8_0/Q8_1 block of 32: returns d as float, writes d (fp16) and q. */
static float q8_block(const float *x, slm_fp16 *d_out, int8_t *q)
{
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.f;
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    *d_out = slm_fp32_to_fp16(d);
    /* nearbyintf rounds in the current mode: nearest even by default. */
    for (int j = 0; j < 32; j++) q[j] = (int8_t)slm_f2i_sat(nearbyintf(x[j] * id), -128, 127);
    return d;
}

void slm_quant_act_q8_0_scalar(const float *x, void *y, int64_t n)
{
    slm_block_q8_0 *b = y;
    for (int64_t i = 0; i < n / SLM_QK8_0; i++) q8_block(x + i * SLM_QK8_0, &b[i].d, b[i].qs);
}

void slm_quant_act_q8_1_scalar(const float *x, void *y, int64_t n)
{
    slm_block_q8_1 *b = y;
    for (int64_t i = 0; i < n / SLM_QK8_1; i++) {
        float d = q8_block(x + i * SLM_QK8_1, &b[i].d, b[i].qs);
        int sum = 0;
        for (int j = 0; j < SLM_QK8_1; j++) sum += b[i].qs[j];
        b[i].s = slm_fp32_to_fp16(d * (float)sum);
    }
}

void slm_quant_act_q8_k_scalar(const float *x, void *y, int64_t n) { slm_q8_k_from_float(x, y, n); }
