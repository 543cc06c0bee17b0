/* avx2.h — private to kernels/avx2/: the AVX2+FMA+F16C kernels and the
 * small register helpers they share.
 *
 * Every file in this folder is compiled with -mavx2 -mfma -mf16c -mbmi2 and
 * nothing here may run before dispatch.c has checked the CPU. Each kernel
 * computes exactly what its scalar/ twin computes; only the order of float
 * additions differs (integer parts are exact). register.c fills the table.
 * One file per type family holds its vec_dot, its vec_dot_x4 (one weight
 * row against up to 4 activation rows: the weight block is decoded once)
 * and, for activation types, the quantizer (byte-identical to scalar).
 */
#ifndef SLM_KERNELS_AVX2_H
#define SLM_KERNELS_AVX2_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels.h"

/* ---- dot products: *s = w . a, weight row of n elements ---- */
void slm_vec_dot_f32_f32_avx2(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_f16_f16_avx2(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_bf16_bf16_avx2(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_q4_0_q8_0_avx2(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_q4_1_q8_1_avx2(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_q5_0_q8_0_avx2(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_q5_1_q8_1_avx2(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_q8_0_q8_0_avx2(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_iq4_nl_q8_0_avx2(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_q2_k_q8_k_avx2(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_q3_k_q8_k_avx2(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_q4_k_q8_k_avx2(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_q5_k_q8_k_avx2(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_q6_k_q8_k_avx2(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_iq4_xs_q8_k_avx2(int64_t n, float *s, const void *w, const void *a);

/* ---- one weight row . up to 4 activation rows (kernels.h vec_dot_x4) ---- */
void slm_vec_dot_x4_f32_f32_avx2(int64_t n, float *s, size_t ss, const void *w, const void *a, size_t as, int na);
void slm_vec_dot_x4_f16_f16_avx2(int64_t n, float *s, size_t ss, const void *w, const void *a, size_t as, int na);
void slm_vec_dot_x4_q4_0_q8_0_avx2(int64_t n, float *s, size_t ss, const void *w, const void *a, size_t as, int na);
void slm_vec_dot_x4_q8_0_q8_0_avx2(int64_t n, float *s, size_t ss, const void *w, const void *a, size_t as, int na);
void slm_vec_dot_x4_q4_k_q8_k_avx2(int64_t n, float *s, size_t ss, const void *w, const void *a, size_t as, int na);
void slm_vec_dot_x4_q5_0_q8_0_avx2(int64_t n, float *s, size_t ss, const void *w, const void *a, size_t as, int na);
void slm_vec_dot_x4_iq4_nl_q8_0_avx2(int64_t n, float *s, size_t ss, const void *w, const void *a, size_t as, int na);
void slm_vec_dot_x4_q5_k_q8_k_avx2(int64_t n, float *s, size_t ss, const void *w, const void *a, size_t as, int na);
void slm_vec_dot_x4_bf16_bf16_avx2(int64_t n, float *s, size_t ss, const void *w, const void *a, size_t as, int na);
void slm_vec_dot_x4_q4_1_q8_1_avx2(int64_t n, float *s, size_t ss, const void *w, const void *a, size_t as, int na);
void slm_vec_dot_x4_q5_1_q8_1_avx2(int64_t n, float *s, size_t ss, const void *w, const void *a, size_t as, int na);
void slm_vec_dot_x4_q2_k_q8_k_avx2(int64_t n, float *s, size_t ss, const void *w, const void *a, size_t as, int na);
void slm_vec_dot_x4_q3_k_q8_k_avx2(int64_t n, float *s, size_t ss, const void *w, const void *a, size_t as, int na);
void slm_vec_dot_x4_iq4_xs_q8_k_avx2(int64_t n, float *s, size_t ss, const void *w, const void *a, size_t as, int na);
void slm_vec_dot_x4_q6_k_q8_k_avx2(int64_t n, float *s, size_t ss, const void *w, const void *a, size_t as, int na);

/* ---- four weight rows . one activation row (kernels.h vec_dot_r4) ---- */
void slm_vec_dot_r4_q4_0_q8_0_avx2(int64_t n, float *s, const void *w, size_t ws, const void *a);

/* ---- activation quantizers: F32 row -> activation type ---- */
void slm_quant_act_f16_avx2(const float *x, void *y, int64_t n);
void slm_quant_act_bf16_avx2(const float *x, void *y, int64_t n);
void slm_quant_act_q8_0_avx2(const float *x, void *y, int64_t n);
void slm_quant_act_q8_1_avx2(const float *x, void *y, int64_t n);
void slm_quant_act_q8_k_avx2(const float *x, void *y, int64_t n);

/* ---- shared helpers ---- */

/* Fully unroll a short fixed-count loop: GCC -O2 does not, and the arrays
 * of accumulators it indexes would then live on the stack, not in ymm
 * registers (measured: the x4 kernels ran slower than 4 single dots). */
#define SLM_UNROLL _Pragma("GCC unroll 8")

static inline float slm_avx2_h2f(slm_fp16 h)
{
    return _cvtsh_ss(h);
}

/* The products w_j * a_j (j = 0..3) of four pairs of fp16 block scales,
 * converted in one instruction; lane j of both halves holds product j, so
 * _mm256_permute_ps(v, 0x55 * j) broadcasts it. Measured ~5% faster than
 * four scalar conversions in the Q4_0 GEMV. */
static inline __m256 slm_avx2_dprod4(slm_fp16 w0, slm_fp16 w1, slm_fp16 w2, slm_fp16 w3,
                                     slm_fp16 a0, slm_fp16 a1, slm_fp16 a2, slm_fp16 a3)
{
    const __m128i hw = _mm_setr_epi16((short)w0, (short)w1, (short)w2, (short)w3, 0, 0, 0, 0);
    const __m128i ha = _mm_setr_epi16((short)a0, (short)a1, (short)a2, (short)a3, 0, 0, 0, 0);
    const __m128 d = _mm_mul_ps(_mm_cvtph_ps(hw), _mm_cvtph_ps(ha));
    return _mm256_set_m128(d, d);
}

/* Sum of the 8 floats of x. */
static inline float slm_avx2_hsum_ps(__m256 x)
{
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/* Sum of the 8 int32 of x. */
static inline int slm_avx2_hsum_epi32(__m256i x)
{
    __m128i r = _mm_add_epi32(_mm256_castsi256_si128(x), _mm256_extracti128_si256(x, 1));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, _MM_SHUFFLE(1, 0, 3, 2)));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(r);
}

/* The x4 kernels always run 4 activation rows (fixed trip counts keep the
 * accumulators in registers); rows past n_act alias row 0 and their results
 * are dropped, so nothing past the caller's rows is read. */
static inline void slm_avx2_rows4(const void *a, size_t stride, int n_act, const uint8_t *r[4])
{
    for (int k = 0; k < 4; k++) r[k] = (const uint8_t *)a + (k < n_act ? (size_t)k * stride : 0);
}

/* 16 packed nibble bytes -> 32 bytes 0..15: low nibbles first (elements
 * 0..15), then high nibbles (16..31): the Q4_0 / IQ4_NL / IQ4_XS order. */
static inline __m256i slm_avx2_nibbles32(const uint8_t *p)
{
    const __m128i lo = _mm_loadu_si128((const __m128i *)p);
    const __m128i hi = _mm_srli_epi16(lo, 4);
    return _mm256_and_si256(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(0x0F));
}

/* 32 bits -> 32 bytes, byte j = 0xFF if bit j is set else 0. */
static inline __m256i slm_avx2_bits32(const uint8_t *p)
{
    uint32_t b;
    memcpy(&b, p, 4);
    /* byte j takes source byte j/8, then every bit but j%8 is forced on */
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)b),
        _mm256_setr_epi64x(0x0000000000000000LL, 0x0101010101010101LL,
                           0x0202020202020202LL, 0x0303030303030303LL));
    const __m256i ones = _mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfeLL));
    return _mm256_cmpeq_epi8(ones, _mm256_set1_epi64x(-1));
}

/* Signed int8 x . signed int8 y, as 8 int32 partial sums (4 products each).
 * maddubs wants an unsigned left operand, so move x's sign onto y. Exact as
 * long as no x is -128 with a y of -128 (activations never hold -128). */
static inline __m256i slm_avx2_dot_i8(__m256i x, __m256i y)
{
    const __m256i ax = _mm256_sign_epi8(x, x);
    const __m256i sy = _mm256_sign_epi8(y, x);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
}

/* Unsigned x (0..127) . signed y, as 8 int32 partial sums. */
static inline __m256i slm_avx2_dot_u8(__m256i x, __m256i y)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1));
}

/* Q4_K / Q5_K: unpack the 12 scale bytes into 16 int16: lanes 0..7 the
 * 6-bit scales sc[0..7], lanes 8..15 the mins m[0..7]. Sub-blocks 0..3 keep
 * their 6 bits in bytes 0..3 (scales) and 4..7 (mins); sub-blocks 4..7 keep
 * 4 low bits in bytes 8..11 (scale in the low nibble, min in the high) and
 * their top 2 bits in the top of bytes 0..3 (scales) and 4..7 (mins). */
static inline __m256i slm_avx2_q4_k_scales(const uint8_t *p)
{
    uint32_t u[3];
    memcpy(u, p, 12);
    const uint32_t sc_lo = u[0] & 0x3f3f3f3fu;
    const uint32_t m_lo = u[1] & 0x3f3f3f3fu;
    const uint32_t sc_hi = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
    const uint32_t m_hi = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
    return _mm256_cvtepu8_epi16(_mm_setr_epi32((int)sc_lo, (int)sc_hi, (int)m_lo, (int)m_hi));
}

/* Broadcast int16 lane k (0..7) of both 128-bit halves of v to all lanes. */
#define SLM_AVX2_LANE16(v, k) \
    _mm256_shuffle_epi8((v), _mm256_set1_epi16((short)(0x0100 + 0x0202 * (k))))

/* sum_j m_j * (bsums[2j] + bsums[2j+1]), j = 0..7, m as 8 int16: the
 * 32-element sums of the activations weighted by the mins (exact:
 * 63 * 2 * 32*127 * 8 < 2^31). */
static inline int slm_avx2_k_mins(__m128i m, const int16_t *bsums)
{
    const __m128i b = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)bsums),
                                     _mm_loadu_si128((const __m128i *)(bsums + 8)));
    __m128i p = _mm_madd_epi16(m, b);
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, _MM_SHUFFLE(1, 0, 3, 2)));
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(p);
}

/* sum_j sc_j * bsums[j] over the 16 groups of 16 (int8 scales; exact). */
static inline int slm_avx2_k_scaled_bsums(const int8_t *sc, const int16_t *bsums)
{
    const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
    const __m256i b = _mm256_loadu_si256((const __m256i *)bsums);
    return slm_avx2_hsum_epi32(_mm256_madd_epi16(s16, b));
}

/* int16 lanes 0..7 = lo, 8..15 = hi: the scales of two 16-element groups
 * as they line up with a maddubs result over 32 elements. */
static inline __m256i slm_avx2_scale_pair(int lo, int hi)
{
    return _mm256_set_m128i(_mm_set1_epi16((short)hi), _mm_set1_epi16((short)lo));
}

/* 4 bytes at p broadcast to every 32-bit lane (GEMM tiles: 4 activation
 * quants against the same 4 quants of 8 interleaved weight rows). */
static inline __m256i slm_avx2_bcast4(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* Transpose 8 x 8 32-bit lanes in place: afterwards lane r of v[g] is what
 * lane g of v[r] was. The GEMM re-layouts use it to turn 8 rows of 32
 * unpacked quants into 8 vectors of "4 quants of each row". */
static inline void slm_avx2_transpose8x32(__m256i v[8])
{
    __m256i t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_epi32(v[i], v[i + 1]);     /* a0 b0 a1 b1 | a4 b4 a5 b5 */
        t[i + 1] = _mm256_unpackhi_epi32(v[i], v[i + 1]); /* a2 b2 a3 b3 | a6 b6 a7 b7 */
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);     /* a0 b0 c0 d0 | a4 .. d4 */
        u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]); /* a1 .. d1 | a5 .. d5 */
        u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int g = 0; g < 4; g++) {
        v[g] = _mm256_permute2x128_si256(u[g], u[g + 4], 0x20);
        v[g + 4] = _mm256_permute2x128_si256(u[g], u[g + 4], 0x31);
    }
}

/* GEMM tiles of 8 weight rows x 4 activation rows: the accumulators of
 * activation row k are y[k * ldy + 0..nr-1] (loaded when a previous K
 * chunk left partial sums there, else zero); only nr rows and na
 * activation rows are read or written. */
static inline void slm_avx2_gemm_acc_load(__m256 acc[4], const float *y, size_t ldy, int64_t nr, int na, int partial)
{
    for (int k = 0; k < 4; k++) {
        if (nr == 8 && partial && k < na) {
            acc[k] = _mm256_loadu_ps(y + (size_t)k * ldy);
        } else {
            float tmp[8] = {0};
            if (partial && k < na) memcpy(tmp, y + (size_t)k * ldy, (size_t)nr * sizeof(float));
            acc[k] = _mm256_loadu_ps(tmp);
        }
    }
}

static inline void slm_avx2_gemm_acc_store(const __m256 acc[4], float *y, size_t ldy, int64_t nr, int na)
{
    for (int k = 0; k < na; k++) {
        if (nr == 8) {
            _mm256_storeu_ps(y + (size_t)k * ldy, acc[k]);
        } else {
            float tmp[8];
            _mm256_storeu_ps(tmp, acc[k]);
            memcpy(y + (size_t)k * ldy, tmp, (size_t)nr * sizeof(float));
        }
    }
}

#endif
