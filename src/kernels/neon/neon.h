/* neon.h — private to kernels/neon/: the ARM Advanced SIMD kernels and the
 * small register helpers they share.
 *
 * The folder builds for AArch64 (NEON is baseline) and for 32-bit ARMv7
 * with -mfpu=neon-vfpv4 (see CMakeLists.txt); helpers hide the few AArch64-
 * only instructions (across-vector adds, round-to-nearest conversion). Each
 * kernel computes what its scalar/ twin computes; only the order of float
 * additions differs (integer parts are exact), and the activation
 * quantizers are byte-identical to scalar. register.c fills the table.
 *
 * The integer-dot kernels are written once, in intdot.h, against one
 * primitive — 16 int8 x int8 products added into 4 int32 lanes — and
 * compiled twice: intdot.c with plain NEON (SMULL + SADALP), and on AArch64
 * intdot_dotprod.c with SDOT (ARMv8.2 FEAT_DotProd, -march=armv8.2-a+dotprod),
 * which dispatch.c enables only when HWCAP_ASIMDDP is set.
 */
#ifndef SLM_KERNELS_NEON_H
#define SLM_KERNELS_NEON_H

#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels.h"

/* ---- float types (float.c) ---- */
void slm_vec_dot_f32_f32_neon(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_f16_f16_neon(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_bf16_bf16_neon(int64_t n, float *s, const void *w, const void *a);
void slm_quant_act_f16_neon(const float *x, void *y, int64_t n);

/* ---- activation quantizers (act.c) ---- */
void slm_quant_act_q8_0_neon(const float *x, void *y, int64_t n);
void slm_quant_act_q8_k_neon(const float *x, void *y, int64_t n);

/* ---- integer dots (intdot.h, one set per primitive) ---- */
#define SLM_NEON_INTDOT_DECLARE(sfx)                                                      \
    void slm_vec_dot_q4_0_q8_0_##sfx(int64_t n, float *s, const void *w, const void *a);  \
    void slm_vec_dot_q8_0_q8_0_##sfx(int64_t n, float *s, const void *w, const void *a);  \
    void slm_vec_dot_q4_k_q8_k_##sfx(int64_t n, float *s, const void *w, const void *a);  \
    void slm_vec_dot_q5_k_q8_k_##sfx(int64_t n, float *s, const void *w, const void *a);  \
    void slm_vec_dot_q6_k_q8_k_##sfx(int64_t n, float *s, const void *w, const void *a);  \
    void slm_vec_dot_iq4_xs_q8_k_##sfx(int64_t n, float *s, const void *w, const void *a);
SLM_NEON_INTDOT_DECLARE(neon)
SLM_NEON_INTDOT_DECLARE(dotprod)

/* ---- shared helpers ---- */

/* Fully unroll a short constant loop (lane indices must be constants). */
#define SLM_NEON_UNROLL _Pragma("GCC unroll 8")

/* Sum of the 4 lanes. */
static inline float slm_neon_hsum_f32(float32x4_t v)
{
#if defined(__aarch64__)
    return vaddvq_f32(v);
#else
    const float32x2_t p = vadd_f32(vget_low_f32(v), vget_high_f32(v));
    return vget_lane_f32(vpadd_f32(p, p), 0);
#endif
}

static inline int32_t slm_neon_hsum_s32(int32x4_t v)
{
#if defined(__aarch64__)
    return vaddvq_s32(v);
#else
    const int32x2_t p = vadd_s32(vget_low_s32(v), vget_high_s32(v));
    return vget_lane_s32(vpadd_s32(p, p), 0);
#endif
}

static inline float slm_neon_hmax_f32(float32x4_t v)
{
#if defined(__aarch64__)
    return vmaxvq_f32(v);
#else
    const float32x2_t p = vmax_f32(vget_low_f32(v), vget_high_f32(v));
    return vget_lane_f32(vpmax_f32(p, p), 0);
#endif
}

/* Round to the nearest integer, ties to even (the default rounding mode of
 * both scalar C and llama.cpp's quantizers). ARMv7 has no FCVTNS: adding and
 * subtracting 1.5 * 2^23 rounds |v| < 2^22 in the current mode (NEON's is
 * always round-to-nearest-even) and leaves an integer-valued float. */
static inline int32x4_t slm_neon_round_s32(float32x4_t v)
{
#if defined(__aarch64__)
    return vcvtnq_s32_f32(v);
#else
    const float32x4_t magic = vdupq_n_f32(12582912.0f);
    return vcvtq_s32_f32(vsubq_f32(vaddq_f32(v, magic), magic));
#endif
}

/* One IEEE half (as stored in a block) to float. */
static inline float slm_neon_h2f(uint16_t h)
{
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* 8 halves -> two float vectors. */
static inline void slm_neon_h2f8(const uint16_t *p, float32x4_t *lo, float32x4_t *hi)
{
    const uint16x8_t h = vld1q_u16(p);
    *lo = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h)));
    *hi = vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h)));
}

/* Q4_K / Q5_K: the 12 scale bytes -> sc[0..7] (6-bit scales) and m[0..7]
 * (6-bit mins). Sub-blocks 0..3 keep their 6 bits in bytes 0..3 (scales)
 * and 4..7 (mins); sub-blocks 4..7 keep 4 low bits in bytes 8..11 (scale in
 * the low nibble, min in the high) and their top 2 bits in the top of bytes
 * 0..3 (scales) and 4..7 (mins). */
static inline void slm_neon_q4_k_scales(const uint8_t *p, uint8_t sc[8], uint8_t m[8])
{
    uint32_t u[3];
    memcpy(u, p, 12);
    const uint32_t v[4] = {
        u[0] & 0x3f3f3f3fu,
        (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4),
        u[1] & 0x3f3f3f3fu,
        ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4),
    };
    memcpy(sc, &v[0], 8);
    memcpy(m, &v[2], 8);
}

#endif
