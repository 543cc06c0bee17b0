/* act.c — NEON F32 -> Q8_0 and Q8_K activation quantizers, byte for byte as
 * the scalar ones (kernels/scalar/act.c, quant/q8_k.c): the same single
 * float multiply per element, rounding to nearest even, saturation to int8.
 */
#include "kernels/neon/neon.h"

#include "quant/types.h"

/* 4 float32x4 -> 16 int8 (saturating, as slm_f2i_sat to [-128, 127]). */
static inline int8x16_t narrow16(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d)
{
    const int16x8_t lo = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
    const int16x8_t hi = vcombine_s16(vqmovn_s32(c), vqmovn_s32(d));
    return vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi));
}

/* Q8_0: d = amax / 127, q = nearest-even(x * (127 / amax)). */
void slm_quant_act_q8_0_neon(const float *x, void *vy, int64_t n)
{
    slm_block_q8_0 *y = vy;
    for (int64_t b = 0; b < n / SLM_QK8_0; b++, x += SLM_QK8_0) {
        float32x4_t v[8];
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int k = 0; k < 8; k++) {
            v[k] = vld1q_f32(x + 4 * k);
            m = vmaxq_f32(m, vabsq_f32(v[k]));
        }
        const float amax = slm_neon_hmax_f32(m);
        const float d = amax / 127.f;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        y[b].d = slm_fp32_to_fp16(d);
        int32x4_t q[8];
        for (int k = 0; k < 8; k++) q[k] = slm_neon_round_s32(vmulq_n_f32(v[k], id));
        vst1q_s8(y[b].qs, narrow16(q[0], q[1], q[2], q[3]));
        vst1q_s8(y[b].qs + 16, narrow16(q[4], q[5], q[6], q[7]));
    }
}

/* Q8_K: max = the first element of largest |x| (with its sign), iscale =
 * -127 / max, q = min(127, nearest-even(iscale * x)), d = 1 / iscale,
 * bsums = sums of q over groups of 16; an all-zero block is all zeros. */
void slm_quant_act_q8_k_neon(const float *x, void *vy, int64_t n)
{
    slm_block_q8_K *y = vy;
    for (int64_t b = 0; b < n / SLM_QK_K; b++, x += SLM_QK_K) {
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int k = 0; k < SLM_QK_K; k += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + k)));
        const float amax = slm_neon_hmax_f32(m);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        float max = amax;
        for (int k = 0; k < SLM_QK_K; k++)
            if (x[k] == amax || x[k] == -amax) {
                max = x[k];
                break;
            }
        const float iscale = -127.f / max;
        const int32x4_t q127 = vdupq_n_s32(127);
        for (int k = 0; k < SLM_QK_K; k += 16) {
            int32x4_t q[4];
            for (int j = 0; j < 4; j++)
                q[j] = vminq_s32(q127, slm_neon_round_s32(vmulq_n_f32(vld1q_f32(x + k + 4 * j), iscale)));
            vst1q_s8(y[b].qs + k, narrow16(q[0], q[1], q[2], q[3]));
            y[b].bsums[k / 16] = (int16_t)slm_neon_hsum_s32(vaddq_s32(vaddq_s32(q[0], q[1]), vaddq_s32(q[2], q[3])));
        }
        y[b].d = 1 / iscale;
    }
}
