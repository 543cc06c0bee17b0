/* rows.h — the per-type row functions behind the traits table, and helpers
 * shared by quant/ and kernels/scalar/ (tests may use them too; everyone
 * else goes through slm_type_traits_get).
 *
 * to_float: exact dequantization of n elements (n a multiple of the block
 * size). from_float (the _ref quantizers): bit-exact with ggml's
 * quantize_row_<type>_ref. quantize_<type>: the llama-quantize entry point
 * (nrows x n_per_row, imatrix may be NULL) returning bytes written.
 */
#ifndef SLM_QUANT_ROWS_H
#define SLM_QUANT_ROWS_H

#include <math.h>

#include "quant/types.h"

#define SLM_ROW_FNS(t)                                             \
    void slm_##t##_to_float(const void *src, float *dst, int64_t n); \
    void slm_##t##_from_float(const float *src, void *dst, int64_t n);

SLM_ROW_FNS(f32)
SLM_ROW_FNS(f16)
SLM_ROW_FNS(bf16)
SLM_ROW_FNS(q4_0)
SLM_ROW_FNS(q4_1)
SLM_ROW_FNS(q5_0)
SLM_ROW_FNS(q5_1)
SLM_ROW_FNS(q8_0)
SLM_ROW_FNS(q8_1)
SLM_ROW_FNS(q2_k)
SLM_ROW_FNS(q3_k)
SLM_ROW_FNS(q4_k)
SLM_ROW_FNS(q5_k)
SLM_ROW_FNS(q6_k)
SLM_ROW_FNS(q8_k)
SLM_ROW_FNS(iq4_nl)
SLM_ROW_FNS(iq4_xs)

#undef SLM_ROW_FNS

/* llama-quantize's entry points (ggml's quantize_<type>): without an
 * importance matrix they are the reference quantizer over all rows (except
 * IQ4_NL, which searches); with one, the weighted fits. */
size_t slm_q4_0_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t slm_q4_1_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t slm_q5_0_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t slm_q5_1_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t slm_q2_k_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t slm_q3_k_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t slm_q4_k_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t slm_q5_k_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t slm_q6_k_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *imatrix);
size_t slm_iq4_nl_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                           const float *imatrix);
size_t slm_iq4_xs_quantize(const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                           const float *imatrix);

/* Scale fitting shared by the quantizers (kfit.c), as ggml's make_qx_quants,
 * make_q3_quants, make_qkx2_quants (reference paths) and make_qkx3_quants,
 * make_qp_quants (imatrix paths). */
float slm_make_qx_quants(int n, int nmax, const float *x, int8_t *L, int rmse_type, const float *qw);
float slm_make_q3_quants(int n, int nmax, const float *x, int8_t *L, int do_rmse);
float slm_make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                           float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                           int use_mad);
float slm_make_qkx3_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                           float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                           int use_mad);
float slm_make_qp_quants(int n, int nmax, const float *x, uint8_t *L, const float *qw);
/* Q4_K / Q5_K reference fit of one 256-value super-block (ggml's _ref path,
 * shared by both types): each 32-value sub-block gets a scale and min from
 * make_qkx2_quants (weights av|x| + |x|), the 8 scales and 8 mins are
 * quantized to 6 bits and packed into scales[12] with d/dmin, then every value
 * is re-rounded with the stored (fp16-rounded) scales into L[256], 0..nmax. */
void slm_fit_k4_ref(const float *x, int nmax, float rmin, int nstep, uint8_t *L,
                    uint8_t *scales, slm_fp16 *d, slm_fp16 *dmin);

/* Inline forms of slm_fp16_to_fp32 / slm_bf16_to_fp32 (same results) for
 * the per-element and per-block conversions in hot loops. */
static inline float slm_half_to_float(slm_fp16 h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    uint32_t u;
    float f;
    if (exp != 0 && exp != 0x1f) {
        u = sign | ((exp + 112u) << 23) | (mant << 13);
    } else if (exp == 0x1f) { /* inf, or NaN made quiet as vcvtph2ps does */
        u = sign | 0x7f800000u | (mant ? 0x400000u | (mant << 13) : 0);
    } else { /* zero or denormal: mant * 2^-24, exact */
        f = (float)mant * (1.0f / 16777216.0f);
        return sign ? -f : f;
    }
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float slm_bfloat_to_float(slm_bf16 h)
{
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* (int)v (truncation) for v in [lo, hi]; saturates outside, NaN gives 0.
 * A plain C cast of NaN or an out-of-range float is undefined behaviour, and
 * weights or activations may contain them; for the finite in-range values
 * ggml produces this equals its casts exactly. */
static inline int slm_f2i_sat(float v, int lo, int hi)
{
    if (v >= (float)lo) return v <= (float)hi ? (int)v : hi;
    return v < (float)lo ? lo : 0;
}

/* ggml's nearest_int: round to nearest, ties to even, for |v| < 2^22, by
 * adding 1.5 * 2^23 (exactly what every k-quant quantizer uses). */
static inline int slm_nearest_int(float v)
{
    float val = v + 12582912.f;
    int32_t i;
    memcpy(&i, &val, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* Q4_K / Q5_K: store the 6-bit scale ls and min lm of sub-block j in the 12
 * packed bytes (the inverse of slm_get_scale_min_k4). Sub-blocks must be
 * stored in ascending order: j >= 4 adds high bits to bytes j-4 and j. */
static inline void slm_set_scale_min_k4(int j, uint8_t *q, uint8_t ls, uint8_t lm)
{
    if (j < 4) {
        q[j] = ls;
        q[j + 4] = lm;
    } else {
        q[j + 4] = (uint8_t)((ls & 0xf) | ((lm & 0xf) << 4));
        q[j - 4] = (uint8_t)(q[j - 4] | ((ls >> 4) << 6));
        q[j] = (uint8_t)(q[j] | ((lm >> 4) << 6));
    }
}

/* Q4_K / Q5_K: 6-bit scale and min of sub-block j from the 12 packed bytes. */
static inline void slm_get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q3_K: the 16 signed 6-bit scales (stored + 32) unpacked from 12 bytes. */
static inline void slm_q3_k_scales(const uint8_t packed[12], int8_t out[16])
{
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? (packed[j] & 0xf) : (packed[j - 8] >> 4);
        int hi = (packed[8 + (j % 4)] >> (2 * (j / 4))) & 3;
        out[j] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

#endif
