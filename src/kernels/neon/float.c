/* float.c — NEON dots of F32, F16 and BF16 rows with activations of the
 * same type (16 elements per step in four float accumulators, fused
 * multiply-add), and the F32 -> F16 activation converter.
 */
#include "kernels/neon/neon.h"

#include "quant/types.h"

/* Four float32x4 accumulators over 16 elements per step; LOAD4(p, i, k)
 * gives elements i + 4k .. i + 4k + 3 of row p as float32x4_t and ONE(p, i)
 * element i as float. */
#define FLOAT_DOT(LOAD4, ONE)                                                      \
    float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), \
                          vdupq_n_f32(0.0f)};                                      \
    int64_t i = 0;                                                                 \
    for (; i + 16 <= n; i += 16)                                                   \
        for (int k = 0; k < 4; k++) acc[k] = vfmaq_f32(acc[k], LOAD4(x, i, k), LOAD4(y, i, k)); \
    for (; i + 4 <= n; i += 4) acc[0] = vfmaq_f32(acc[0], LOAD4(x, i, 0), LOAD4(y, i, 0)); \
    float sum = slm_neon_hsum_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3]))); \
    for (; i < n; i++) sum += ONE(x, i) * ONE(y, i);                               \
    *s = sum;

#define F32_LOAD4(p, i, k) vld1q_f32((p) + (i) + 4 * (k))
#define F32_ONE(p, i) ((p)[i])

void slm_vec_dot_f32_f32_neon(int64_t n, float *s, const void *w, const void *a)
{
    const float *x = w, *y = a;
    FLOAT_DOT(F32_LOAD4, F32_ONE)
}

#define F16_LOAD4(p, i, k) vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((p) + (i) + 4 * (k))))
#define F16_ONE(p, i) slm_neon_h2f((p)[i])

void slm_vec_dot_f16_f16_neon(int64_t n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    FLOAT_DOT(F16_LOAD4, F16_ONE)
}

/* bf16 is the top half of an f32: widen by a 16-bit left shift. */
#define BF16_LOAD4(p, i, k) vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((p) + (i) + 4 * (k)), 16))
#define BF16_ONE(p, i) slm_bf16_to_fp32((p)[i])

void slm_vec_dot_bf16_bf16_neon(int64_t n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    FLOAT_DOT(BF16_LOAD4, BF16_ONE)
}

/* F32 -> F16 with FCVTN: round to nearest even, overflow to infinity,
 * subnormal halves kept, NaN quieted with its top payload bits — what the
 * scalar converter and x86's VCVTPS2PH do. AArch64 only (registered there):
 * ARMv7's NEON always flushes subnormals to zero. */
void slm_quant_act_f16_neon(const float *x, void *vy, int64_t n)
{
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; i++) y[i] = slm_fp32_to_fp16(x[i]);
}
