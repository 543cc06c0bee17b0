/* fp16.c — IEEE half and bfloat16 conversion, and the F32/F16/BF16 row
 * functions of the traits table.
 *
 * Conversions are exact bit manipulations (no FPU mode dependence):
 * fp32 -> fp16 rounds to nearest even and treats denormals, infinities and
 * NaNs as the F16C instruction vcvtps2ph does; fp32 -> bf16 is ggml's
 * ggml_compute_fp32_to_bf16 (round to nearest even, NaN made quiet, no
 * flush of denormals).
 */
#include "quant/rows.h"

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

float slm_fp16_to_fp32(slm_fp16 h) { return slm_half_to_float(h); }

slm_fp16 slm_fp32_to_fp16(float f)
{
    uint32_t x = f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;

    if (ax > 0x7f800000u) /* NaN: quiet, payload truncated (F16C) */
        return (slm_fp16)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    /* 65520 = 0x477ff000 is halfway between 65504 (odd mantissa) and 2^16:
     * ties go to even, i.e. to infinity. */
    if (ax >= 0x477ff000u) return (slm_fp16)(sign | 0x7c00u);
    if (ax >= 0x38800000u) { /* normal half: >= 2^-14 */
        uint32_t r = ax + 0xfffu + ((ax >> 13) & 1u);
        return (slm_fp16)(sign | ((r >> 13) - (112u << 10)));
    }
    /* Denormal half: h = round(|f| * 2^24), may round up to 2^-14 (0x400). */
    uint32_t e = ax >> 23;
    if (e < 102) return (slm_fp16)sign; /* below 2^-25: rounds to zero */
    uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e; /* 14..24 */
    uint32_t h = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (h & 1u))) h++;
    return (slm_fp16)(sign | h);
}

float slm_bf16_to_fp32(slm_bf16 h) { return slm_bfloat_to_float(h); }

slm_bf16 slm_fp32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (slm_bf16)((u >> 16) | 64u);
    return (slm_bf16)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

/* ---- rows ---- */

void slm_f32_to_float(const void *src, float *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void slm_f32_from_float(const float *src, void *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void slm_f16_to_float(const void *src, float *dst, int64_t n)
{
    const slm_fp16 *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = slm_half_to_float(h[i]);
}

void slm_f16_from_float(const float *src, void *dst, int64_t n)
{
    slm_fp16 *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = slm_fp32_to_fp16(src[i]);
}

void slm_bf16_to_float(const void *src, float *dst, int64_t n)
{
    const slm_bf16 *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = slm_bfloat_to_float(h[i]);
}

void slm_bf16_from_float(const float *src, void *dst, int64_t n)
{
    slm_bf16 *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = slm_fp32_to_bf16(src[i]);
}
