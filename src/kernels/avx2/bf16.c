/* bf16.c — AVX2 BF16 dot product and the F32 -> BF16 activation conversion.
 * A bf16 is the top half of an f32, so widening is a 16-bit shift (exact).
 * The conversion rounds to nearest even and turns NaN into a quiet NaN,
 * bit for bit as slm_fp32_to_bf16 (and ggml) do.
 */
#include "kernels/avx2/avx2.h"

static inline __m256 load_bf16(const slm_bf16 *p)
{
    const __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}

static inline float bf16_to_f32(slm_bf16 h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

void slm_vec_dot_bf16_bf16_avx2(int64_t n, float *s, const void *vw, const void *va)
{
    const slm_bf16 *w = vw, *a = va;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(load_bf16(w + i), load_bf16(a + i), acc0);
        acc1 = _mm256_fmadd_ps(load_bf16(w + i + 8), load_bf16(a + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(load_bf16(w + i + 16), load_bf16(a + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(load_bf16(w + i + 24), load_bf16(a + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(load_bf16(w + i), load_bf16(a + i), acc0);
    float sum = slm_avx2_hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) sum += bf16_to_f32(w[i]) * bf16_to_f32(a[i]);
    *s = sum;
}

static inline slm_bf16 f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (slm_bf16)((u >> 16) | 64);
    return (slm_bf16)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

void slm_quant_act_bf16_avx2(const float *x, void *vy, int64_t n)
{
    slm_bf16 *y = vy;
    const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
    const __m256i inf = _mm256_set1_epi32(0x7f800000);
    const __m256i bias = _mm256_set1_epi32(0x7fff);
    const __m256i one = _mm256_set1_epi32(1);
    const __m256i quiet = _mm256_set1_epi32(64);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i r[2];
        SLM_UNROLL
        for (int k = 0; k < 2; k++) {
            const __m256i u = _mm256_loadu_si256((const __m256i *)(x + i + 8 * k));
            const __m256i hi = _mm256_srli_epi32(u, 16);
            /* u + 0x7fff + lsb cannot overflow into a wrong answer: for
             * finite u the carry is the rounding; NaN is handled apart */
            const __m256i rounded = _mm256_srli_epi32(
                _mm256_add_epi32(u, _mm256_add_epi32(bias, _mm256_and_si256(hi, one))), 16);
            const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), inf);
            r[k] = _mm256_blendv_epi8(rounded, _mm256_or_si256(hi, quiet), nan);
        }
        /* packus works per 128-bit lane: fix the order with a 64-bit permute */
        __m256i p = _mm256_packus_epi32(r[0], r[1]);
        p = _mm256_permute4x64_epi64(p, _MM_SHUFFLE(3, 1, 2, 0));
        _mm256_storeu_si256((__m256i *)(y + i), p);
    }
    for (; i < n; i++) y[i] = f32_to_bf16(x[i]);
}

void slm_vec_dot_x4_bf16_bf16_avx2(int64_t n, float *s, size_t ss, const void *vw, const void *va,
                                   size_t as, int na)
{
    const slm_bf16 *w = vw;
    const uint8_t *r[4];
    slm_avx2_rows4(va, as, na, r);
    const slm_bf16 *a[4] = {(const slm_bf16 *)r[0], (const slm_bf16 *)r[1], (const slm_bf16 *)r[2],
                            (const slm_bf16 *)r[3]};
    __m256 acc[4];
    SLM_UNROLL
    for (int k = 0; k < 4; k++) acc[k] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 wv = load_bf16(w + i);
        SLM_UNROLL
        for (int k = 0; k < 4; k++) acc[k] = _mm256_fmadd_ps(wv, load_bf16(a[k] + i), acc[k]);
    }
    for (int k = 0; k < na; k++) {
        float sum = slm_avx2_hsum_ps(acc[k]);
        for (int64_t j = i; j < n; j++) sum += bf16_to_f32(w[j]) * bf16_to_f32(a[k][j]);
        s[(size_t)k * ss] = sum;
    }
}
