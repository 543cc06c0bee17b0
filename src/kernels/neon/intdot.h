/* intdot.h — the integer-dot kernels (Q4_0, Q8_0 with Q8_0 activations;
 * Q4_K, Q5_K, Q6_K, IQ4_XS with Q8_K), written once and included by
 * intdot.c (plain NEON) and intdot_dotprod.c (SDOT). The includer defines:
 *   INTDOT_FN(name)      the kernel's name with its ISA suffix
 *   INTDOT(acc, x, y)    acc + 16 int8 x int8 products, as 4 int32 lanes
 *                        (which products land in which lane is unspecified:
 *                        only the lane sum is used)
 * Integer sums are exact (bounds beside each); float work is one multiply-
 * add per block, so results equal scalar up to float summation order.
 */
#include "kernels/neon/neon.h"

#include "quant/types.h"

/* 16 nibble indices (0..15) looked up in a 16-entry int8 table. */
static inline int8x16_t intdot_lut16(int8x16_t table, uint8x16_t idx)
{
#if defined(__aarch64__)
    return vqtbl1q_s8(table, idx);
#else
    const int8x8x2_t t = {{vget_low_s8(table), vget_high_s8(table)}};
    return vcombine_s8(vtbl2_s8(t, vreinterpret_s8_u8(vget_low_u8(idx))),
                       vtbl2_s8(t, vreinterpret_s8_u8(vget_high_u8(idx))));
#endif
}

/* Q4_0: x = d * (q - 8); per block |sum| <= 32 * 8 * 128. */
void INTDOT_FN(slm_vec_dot_q4_0_q8_0)(int64_t n, float *s, const void *vw, const void *va)
{
    const slm_block_q4_0 *w = vw;
    const slm_block_q8_0 *a = va;
    const int64_t nb = n / SLM_QK4_0;
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    const int8x16_t eight = vdupq_n_s8(8);
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    int64_t i = 0;
    /* two blocks per step: two independent accumulator chains */
    for (; i + 2 <= nb; i += 2) {
        const uint8x16_t q0 = vld1q_u8(w[i].qs), q1 = vld1q_u8(w[i + 1].qs);
        const int8x16_t l0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q0, m4)), eight);
        const int8x16_t h0 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), eight);
        const int8x16_t l1 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q1, m4)), eight);
        const int8x16_t h1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)), eight);
        int32x4_t p0 = INTDOT(vdupq_n_s32(0), l0, vld1q_s8(a[i].qs));
        p0 = INTDOT(p0, h0, vld1q_s8(a[i].qs + 16));
        int32x4_t p1 = INTDOT(vdupq_n_s32(0), l1, vld1q_s8(a[i + 1].qs));
        p1 = INTDOT(p1, h1, vld1q_s8(a[i + 1].qs + 16));
        acc0 = vmlaq_n_f32(acc0, vcvtq_f32_s32(p0), slm_neon_h2f(w[i].d) * slm_neon_h2f(a[i].d));
        acc1 = vmlaq_n_f32(acc1, vcvtq_f32_s32(p1), slm_neon_h2f(w[i + 1].d) * slm_neon_h2f(a[i + 1].d));
    }
    for (; i < nb; i++) {
        const uint8x16_t q0 = vld1q_u8(w[i].qs);
        const int8x16_t l0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q0, m4)), eight);
        const int8x16_t h0 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), eight);
        int32x4_t p0 = INTDOT(vdupq_n_s32(0), l0, vld1q_s8(a[i].qs));
        p0 = INTDOT(p0, h0, vld1q_s8(a[i].qs + 16));
        acc0 = vmlaq_n_f32(acc0, vcvtq_f32_s32(p0), slm_neon_h2f(w[i].d) * slm_neon_h2f(a[i].d));
    }
    *s = slm_neon_hsum_f32(vaddq_f32(acc0, acc1));
}

/* Q8_0: per block |sum| <= 32 * 128 * 128. */
void INTDOT_FN(slm_vec_dot_q8_0_q8_0)(int64_t n, float *s, const void *vw, const void *va)
{
    const slm_block_q8_0 *w = vw;
    const slm_block_q8_0 *a = va;
    const int64_t nb = n / SLM_QK8_0;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        int32x4_t p0 = INTDOT(vdupq_n_s32(0), vld1q_s8(w[i].qs), vld1q_s8(a[i].qs));
        p0 = INTDOT(p0, vld1q_s8(w[i].qs + 16), vld1q_s8(a[i].qs + 16));
        int32x4_t p1 = INTDOT(vdupq_n_s32(0), vld1q_s8(w[i + 1].qs), vld1q_s8(a[i + 1].qs));
        p1 = INTDOT(p1, vld1q_s8(w[i + 1].qs + 16), vld1q_s8(a[i + 1].qs + 16));
        acc0 = vmlaq_n_f32(acc0, vcvtq_f32_s32(p0), slm_neon_h2f(w[i].d) * slm_neon_h2f(a[i].d));
        acc1 = vmlaq_n_f32(acc1, vcvtq_f32_s32(p1), slm_neon_h2f(w[i + 1].d) * slm_neon_h2f(a[i + 1].d));
    }
    for (; i < nb; i++) {
        int32x4_t p0 = INTDOT(vdupq_n_s32(0), vld1q_s8(w[i].qs), vld1q_s8(a[i].qs));
        p0 = INTDOT(p0, vld1q_s8(w[i].qs + 16), vld1q_s8(a[i].qs + 16));
        acc0 = vmlaq_n_f32(acc0, vcvtq_f32_s32(p0), slm_neon_h2f(w[i].d) * slm_neon_h2f(a[i].d));
    }
    *s = slm_neon_hsum_f32(vaddq_f32(acc0, acc1));
}

/* sum_j m_j * (bsums[2j] + bsums[2j+1]), j = 0..7 (exact: 63 * 8 * 2 * 16 * 127). */
static inline int32_t intdot_k_mins(const uint8_t m[8], const int16_t *bsums)
{
    const int16x8_t b = vcombine_s16(vpadd_s16(vld1_s16(bsums), vld1_s16(bsums + 4)),
                                     vpadd_s16(vld1_s16(bsums + 8), vld1_s16(bsums + 12)));
    const int16x8_t mv = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(m)));
    const int32x4_t p = vmlal_s16(vmull_s16(vget_low_s16(mv), vget_low_s16(b)), vget_high_s16(mv),
                                  vget_high_s16(b));
    return slm_neon_hsum_s32(p);
}

/* Q4_K: 8 sub-blocks of 32, x = d * sc_j * q - dmin * m_j; per super-block
 * |isum| <= 256 * 15 * 128 * 63. */
void INTDOT_FN(slm_vec_dot_q4_k_q8_k)(int64_t n, float *s, const void *vw, const void *va)
{
    const slm_block_q4_K *w = vw;
    const slm_block_q8_K *a = va;
    const int64_t nb = n / SLM_QK_K;
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8], m[8];
        slm_neon_q4_k_scales(w[i].scales, sc, m);
        const uint8_t *q = w[i].qs;
        const int8_t *q8 = a[i].qs;
        int32x4_t isum = vdupq_n_s32(0);
        for (int j = 0; j < 4; j++, q += 32, q8 += 64) {
            const uint8x16_t b0 = vld1q_u8(q), b1 = vld1q_u8(q + 16);
            int32x4_t lo = INTDOT(vdupq_n_s32(0), vreinterpretq_s8_u8(vandq_u8(b0, m4)), vld1q_s8(q8));
            lo = INTDOT(lo, vreinterpretq_s8_u8(vandq_u8(b1, m4)), vld1q_s8(q8 + 16));
            int32x4_t hi = INTDOT(vdupq_n_s32(0), vreinterpretq_s8_u8(vshrq_n_u8(b0, 4)), vld1q_s8(q8 + 32));
            hi = INTDOT(hi, vreinterpretq_s8_u8(vshrq_n_u8(b1, 4)), vld1q_s8(q8 + 48));
            isum = vmlaq_n_s32(isum, lo, sc[2 * j]);
            isum = vmlaq_n_s32(isum, hi, sc[2 * j + 1]);
        }
        const float d = slm_neon_h2f(w[i].d) * a[i].d;
        const float dmin = slm_neon_h2f(w[i].dmin) * a[i].d;
        sumf += d * (float)slm_neon_hsum_s32(isum) - dmin * (float)intdot_k_mins(m, a[i].bsums);
    }
    *s = sumf;
}

/* Q5_K: Q4_K plus a fifth bit per element in qh (bit 2j for sub-block 2j,
 * bit 2j+1 for 2j+1); |isum| <= 256 * 31 * 128 * 63. */
void INTDOT_FN(slm_vec_dot_q5_k_q8_k)(int64_t n, float *s, const void *vw, const void *va)
{
    const slm_block_q5_K *w = vw;
    const slm_block_q8_K *a = va;
    const int64_t nb = n / SLM_QK_K;
    const uint8x16_t m4 = vdupq_n_u8(0x0f), b16 = vdupq_n_u8(16);
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8], m[8];
        slm_neon_q4_k_scales(w[i].scales, sc, m);
        const uint8_t *q = w[i].qs;
        const int8_t *q8 = a[i].qs;
        const uint8x16_t qh0 = vld1q_u8(w[i].qh), qh1 = vld1q_u8(w[i].qh + 16);
        int32x4_t isum = vdupq_n_s32(0);
        for (int j = 0; j < 4; j++, q += 32, q8 += 64) {
            const uint8x16_t u1 = vdupq_n_u8((uint8_t)(1u << (2 * j)));
            const uint8x16_t u2 = vdupq_n_u8((uint8_t)(2u << (2 * j)));
            const uint8x16_t b0 = vld1q_u8(q), b1 = vld1q_u8(q + 16);
            const uint8x16_t l0 = vorrq_u8(vandq_u8(b0, m4), vandq_u8(vtstq_u8(qh0, u1), b16));
            const uint8x16_t l1 = vorrq_u8(vandq_u8(b1, m4), vandq_u8(vtstq_u8(qh1, u1), b16));
            const uint8x16_t h0 = vorrq_u8(vshrq_n_u8(b0, 4), vandq_u8(vtstq_u8(qh0, u2), b16));
            const uint8x16_t h1 = vorrq_u8(vshrq_n_u8(b1, 4), vandq_u8(vtstq_u8(qh1, u2), b16));
            int32x4_t lo = INTDOT(vdupq_n_s32(0), vreinterpretq_s8_u8(l0), vld1q_s8(q8));
            lo = INTDOT(lo, vreinterpretq_s8_u8(l1), vld1q_s8(q8 + 16));
            int32x4_t hi = INTDOT(vdupq_n_s32(0), vreinterpretq_s8_u8(h0), vld1q_s8(q8 + 32));
            hi = INTDOT(hi, vreinterpretq_s8_u8(h1), vld1q_s8(q8 + 48));
            isum = vmlaq_n_s32(isum, lo, sc[2 * j]);
            isum = vmlaq_n_s32(isum, hi, sc[2 * j + 1]);
        }
        const float d = slm_neon_h2f(w[i].d) * a[i].d;
        const float dmin = slm_neon_h2f(w[i].dmin) * a[i].d;
        sumf += d * (float)slm_neon_hsum_s32(isum) - dmin * (float)intdot_k_mins(m, a[i].bsums);
    }
    *s = sumf;
}

/* Q6_K: 16 groups of 16 with int8 scales, x = d * sc_g * (q - 32), q 6 bits
 * (4 in ql, 2 in qh); |isum| <= 256 * 32 * 128 * 128. Within each half of
 * 128: quarter k (elements 32k..32k+31) takes the nibble of ql[l + 32 (k & 1)]
 * (the high one if k >= 2) and bits 2k, 2k+1 of qh[l], l = 0..31. */
void INTDOT_FN(slm_vec_dot_q6_k_q8_k)(int64_t n, float *s, const void *vw, const void *va)
{
    const slm_block_q6_K *w = vw;
    const slm_block_q8_K *a = va;
    const int64_t nb = n / SLM_QK_K;
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m3 = vdupq_n_u8(0x30);
    const int8x16_t off = vdupq_n_s8(32);
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32x4_t isum = vdupq_n_s32(0);
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = w[i].ql + 64 * half, *qh = w[i].qh + 32 * half;
            const int8_t *sc = w[i].scales + 8 * half, *q8 = a[i].qs + 128 * half;
            const uint8x16_t h[2] = {vld1q_u8(qh), vld1q_u8(qh + 16)};
            const uint8x16_t l[4] = {vld1q_u8(ql), vld1q_u8(ql + 16), vld1q_u8(ql + 32), vld1q_u8(ql + 48)};
            for (int g = 0; g < 2; g++) { /* elements l = 16g .. 16g+15 of each quarter */
                const uint8x16_t v0 = vorrq_u8(vandq_u8(l[g], m4), vandq_u8(vshlq_n_u8(h[g], 4), m3));
                const uint8x16_t v1 = vorrq_u8(vandq_u8(l[2 + g], m4), vandq_u8(vshlq_n_u8(h[g], 2), m3));
                const uint8x16_t v2 = vorrq_u8(vshrq_n_u8(l[g], 4), vandq_u8(h[g], m3));
                const uint8x16_t v3 = vorrq_u8(vshrq_n_u8(l[2 + g], 4), vandq_u8(vshrq_n_u8(h[g], 2), m3));
                const int32x4_t z = vdupq_n_s32(0);
                const int32x4_t p0 = INTDOT(z, vsubq_s8(vreinterpretq_s8_u8(v0), off), vld1q_s8(q8 + 16 * g));
                const int32x4_t p1 = INTDOT(z, vsubq_s8(vreinterpretq_s8_u8(v1), off), vld1q_s8(q8 + 32 + 16 * g));
                const int32x4_t p2 = INTDOT(z, vsubq_s8(vreinterpretq_s8_u8(v2), off), vld1q_s8(q8 + 64 + 16 * g));
                const int32x4_t p3 = INTDOT(z, vsubq_s8(vreinterpretq_s8_u8(v3), off), vld1q_s8(q8 + 96 + 16 * g));
                isum = vmlaq_n_s32(isum, p0, sc[g]);
                isum = vmlaq_n_s32(isum, p1, sc[2 + g]);
                isum = vmlaq_n_s32(isum, p2, sc[4 + g]);
                isum = vmlaq_n_s32(isum, p3, sc[6 + g]);
            }
        }
        sumf += slm_neon_h2f(w[i].d) * a[i].d * (float)slm_neon_hsum_s32(isum);
    }
    *s = sumf;
}

/* IQ4_XS: 8 sub-blocks of 32, x = d * (ls - 32) * kvalues[q]; per super-block
 * |isum| <= 256 * 32 * 127 * 128. */
void INTDOT_FN(slm_vec_dot_iq4_xs_q8_k)(int64_t n, float *s, const void *vw, const void *va)
{
    const slm_block_iq4_xs *w = vw;
    const slm_block_q8_K *a = va;
    const int64_t nb = n / SLM_QK_K;
    const int8x16_t table = vld1q_s8(slm_kvalues_iq4nl);
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *qs = w[i].qs;
        const int8_t *q8 = a[i].qs;
        int32x4_t isum = vdupq_n_s32(0);
        for (int ib = 0; ib < SLM_QK_K / 32; ib++, qs += 16, q8 += 32) {
            const int ls = ((w[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((w[i].scales_h >> 2 * ib) & 3) << 4);
            const uint8x16_t b = vld1q_u8(qs);
            int32x4_t p = INTDOT(vdupq_n_s32(0), intdot_lut16(table, vandq_u8(b, m4)), vld1q_s8(q8));
            p = INTDOT(p, intdot_lut16(table, vshrq_n_u8(b, 4)), vld1q_s8(q8 + 16));
            isum = vmlaq_n_s32(isum, p, ls - 32);
        }
        sumf += slm_neon_h2f(w[i].d) * a[i].d * (float)slm_neon_hsum_s32(isum);
    }
    *s = sumf;
}
