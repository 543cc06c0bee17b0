/* gemm_f16.c — AVX2 tile GEMM, F16 / BF16 weights x F32 activations
 * (gemm.h; the activation rows are the F32 input itself, never rounded
 * to the weight type).
 *
 * Tiles of 3 weight rows x 4 activation rows: per 8 elements, 3 weight
 * conversions (F16C or a 16-bit shift for BF16) and 4 activation loads
 * feed 12 fmas into 12 accumulators (12 + 3 + 1 of the 16 ymm registers),
 * where the per-row kernel spends 5 conversions on 4 fmas. Each
 * accumulator is summed across its lanes once per tile. Rows and
 * activations past the end repeat the last one (results dropped). The
 * elements past the last multiple of 8 are added in scalar.
 */
#include <string.h>

#include "kernels/avx2/avx2.h"
#include "kernels/gemm.h"

#define TR 3
#define TA 4

static inline __m256 load8_f16(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

static inline __m256 load8_bf16(const uint16_t *p)
{
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

static inline float f16_1(uint16_t h)
{
    return _cvtsh_ss(h);
}

static inline float bf16_1(uint16_t h)
{
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Rows [r0, r0 + TR) x activations [t0, t0 + TA) over elements [e0, e1)
 * (e1 - e0 a multiple of 8; tail [e1, et) in scalar), added to y unless
 * first. */
static inline __attribute__((always_inline)) void tile(const uint8_t *w, size_t ws, int64_t n_rows, int64_t r0,
                                                       const uint8_t *a, size_t as, int64_t n_act, int64_t t0,
                                                       int64_t e0, int64_t e1, int64_t et, float *y, size_t ldy,
                                                       int first, int bf)
{
    const uint16_t *wr[TR];
    for (int i = 0; i < TR; i++) wr[i] = (const uint16_t *)(w + (size_t)(r0 + i < n_rows ? r0 + i : n_rows - 1) * ws);
    const float *ar[TA];
    for (int k = 0; k < TA; k++) ar[k] = (const float *)(a + (size_t)(t0 + k < n_act ? t0 + k : n_act - 1) * as);
    __m256 acc[TR][TA];
    SLM_UNROLL
    for (int i = 0; i < TR; i++)
        SLM_UNROLL
        for (int k = 0; k < TA; k++) acc[i][k] = _mm256_setzero_ps();
    for (int64_t e = e0; e < e1; e += 8) {
        __m256 wv[TR];
        SLM_UNROLL
        for (int i = 0; i < TR; i++) wv[i] = bf ? load8_bf16(wr[i] + e) : load8_f16(wr[i] + e);
        SLM_UNROLL
        for (int k = 0; k < TA; k++) {
            __m256 av = _mm256_loadu_ps(ar[k] + e);
            /* keep av in a register: folded into each fma as a memory
             * operand it costs 12 loads per step instead of 4, more
             * than the 2 loads/cycle the fmas leave room for */
            __asm__("" : "+x"(av));
            SLM_UNROLL
            for (int i = 0; i < TR; i++) acc[i][k] = _mm256_fmadd_ps(wv[i], av, acc[i][k]);
        }
    }
    for (int i = 0; i < TR && r0 + i < n_rows; i++)
        for (int k = 0; k < TA && t0 + k < n_act; k++) {
            float s = slm_avx2_hsum_ps(acc[i][k]);
            for (int64_t e = e1; e < et; e++) s += (bf ? bf16_1(wr[i][e]) : f16_1(wr[i][e])) * ar[k][e];
            float *out = y + (size_t)(t0 + k) * ldy + (size_t)(r0 + i);
            *out = first ? s : *out + s;
        }
}

/* Bands of RB rows (RB * KE * 2 bytes = 48 KiB stay in L2) and K chunks
 * of KE elements (4 activation rows' chunk, 8 KiB, stays in L1 while the
 * band's tiles pass over it). */
#define RB 48
#define KE 512

static inline __attribute__((always_inline)) void gemm_16(int64_t n, const void *w, size_t ws, int64_t n_rows,
                                                          const void *a, size_t as, int64_t n_act, float *y,
                                                          size_t ldy, int bf)
{
    const int64_t n8 = n & ~(int64_t)7;
    for (int64_t rb = 0; rb < n_rows; rb += RB) {
        const int64_t re = rb + RB < n_rows ? rb + RB : n_rows;
        for (int64_t e0 = 0; e0 < n8 || e0 == 0; e0 += KE) {
            const int64_t e1 = e0 + KE < n8 ? e0 + KE : n8;
            const int64_t et = e1 == n8 ? n : e1;
            for (int64_t t0 = 0; t0 < n_act; t0 += TA)
                for (int64_t r0 = rb; r0 < re; r0 += TR)
                    tile(w, ws, re, r0, a, as, n_act, t0, e0, e1, et, y, ldy, e0 == 0, bf);
        }
    }
}

void slm_gemm_f16_f32_avx2(int64_t n, const void *w, size_t ws, int64_t n_rows, const void *a, size_t as,
                           int64_t n_act, float *y, size_t ldy)
{
    gemm_16(n, w, ws, n_rows, a, as, n_act, y, ldy, 0);
}

void slm_gemm_bf16_f32_avx2(int64_t n, const void *w, size_t ws, int64_t n_rows, const void *a, size_t as,
                            int64_t n_act, float *y, size_t ldy)
{
    gemm_16(n, w, ws, n_rows, a, as, n_act, y, ldy, 1);
}

/* F32 activations rounded to F16 (round to nearest even, as F16C and the
 * F16 activation quantizer do) and kept as F32. */
void slm_gemm_act_f16_avx2(const float *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; i++) y[i] = _cvtsh_ss(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT));
}

/* F32 activations rounded to BF16 (nearest even; a NaN stays a quiet NaN),
 * as the BF16 activation quantizer does, and kept as F32. */
void slm_gemm_act_bf16_avx2(const float *x, float *y, int64_t n)
{
    const __m256i hi = _mm256_set1_epi32((int)0xFFFF0000u), one = _mm256_set1_epi32(1);
    const __m256i half = _mm256_set1_epi32(0x7FFF), quiet = _mm256_set1_epi32(0x00400000);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256i u = _mm256_castps_si256(v);
        const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), one);
        const __m256i r = _mm256_and_si256(_mm256_add_epi32(u, _mm256_add_epi32(half, odd)), hi);
        const __m256i nan = _mm256_and_si256(_mm256_or_si256(u, quiet), hi);
        const __m256 isnan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
        _mm256_storeu_ps(y + i, _mm256_blendv_ps(_mm256_castsi256_ps(r), _mm256_castsi256_ps(nan), isnan));
    }
    for (; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        if ((u & 0x7FFFFFFFu) > 0x7F800000u) u = (u | 0x00400000u) & 0xFFFF0000u;
        else u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
        memcpy(y + i, &u, 4);
    }
}
