/* f16.c — AVX2 F32 and F16 dot products and the F32 -> F16 activation
 * conversion. F16 values are widened with F16C (exact); products are
 * accumulated in F32 with FMA in four independent accumulators so the FMA
 * latency is hidden. Tails (n not a multiple of 32) run one element at a time.
 */
#include "kernels/avx2/avx2.h"

void slm_vec_dot_f32_f32_avx2(int64_t n, float *s, const void *vw, const void *va)
{
    const float *w = vw, *a = va;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(a + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(a + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(a + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(a + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(a + i), acc0);
    float sum = slm_avx2_hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) sum += w[i] * a[i];
    *s = sum;
}

static inline __m256 load_f16(const slm_fp16 *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

void slm_vec_dot_f16_f16_avx2(int64_t n, float *s, const void *vw, const void *va)
{
    const slm_fp16 *w = vw, *a = va;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(load_f16(w + i), load_f16(a + i), acc0);
        acc1 = _mm256_fmadd_ps(load_f16(w + i + 8), load_f16(a + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(load_f16(w + i + 16), load_f16(a + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(load_f16(w + i + 24), load_f16(a + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(load_f16(w + i), load_f16(a + i), acc0);
    float sum = slm_avx2_hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) sum += slm_avx2_h2f(w[i]) * slm_avx2_h2f(a[i]);
    *s = sum;
}

/* F16C rounds to nearest even, as slm_fp32_to_fp16 and ggml do. */
void slm_quant_act_f16_avx2(const float *x, void *vy, int64_t n)
{
    slm_fp16 *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}
