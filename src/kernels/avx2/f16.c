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

void slm_vec_dot_x4_f32_f32_avx2(int64_t n, float *s, size_t ss, const void *vw, const void *va,
                                 size_t as, int na)
{
    const float *w = vw;
    const uint8_t *r[4];
    slm_avx2_rows4(va, as, na, r);
    const float *a0 = (const float *)r[0], *a1 = (const float *)r[1];
    const float *a2 = (const float *)r[2], *a3 = (const float *)r[3];
    __m256 acc[4][2];
    SLM_UNROLL
    for (int k = 0; k < 4; k++) acc[k][0] = acc[k][1] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        SLM_UNROLL
        for (int h = 0; h < 2; h++) {
            const __m256 wv = _mm256_loadu_ps(w + i + 8 * h);
            acc[0][h] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(a0 + i + 8 * h), acc[0][h]);
            acc[1][h] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(a1 + i + 8 * h), acc[1][h]);
            acc[2][h] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(a2 + i + 8 * h), acc[2][h]);
            acc[3][h] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(a3 + i + 8 * h), acc[3][h]);
        }
    }
    if (i + 8 <= n) { /* short rows (attention over a few positions) */
        const __m256 wv = _mm256_loadu_ps(w + i);
        acc[0][0] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(a0 + i), acc[0][0]);
        acc[1][0] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(a1 + i), acc[1][0]);
        acc[2][0] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(a2 + i), acc[2][0]);
        acc[3][0] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(a3 + i), acc[3][0]);
        i += 8;
    }
    const float *a[4] = {a0, a1, a2, a3};
    for (int k = 0; k < na; k++) {
        float sum = slm_avx2_hsum_ps(_mm256_add_ps(acc[k][0], acc[k][1]));
        for (int64_t j = i; j < n; j++) sum += w[j] * a[k][j];
        s[(size_t)k * ss] = sum;
    }
}

void slm_vec_dot_x4_f16_f16_avx2(int64_t n, float *s, size_t ss, const void *vw, const void *va,
                                 size_t as, int na)
{
    const slm_fp16 *w = vw;
    const uint8_t *r[4];
    slm_avx2_rows4(va, as, na, r);
    const slm_fp16 *a0 = (const slm_fp16 *)r[0], *a1 = (const slm_fp16 *)r[1];
    const slm_fp16 *a2 = (const slm_fp16 *)r[2], *a3 = (const slm_fp16 *)r[3];
    __m256 acc[4][2];
    SLM_UNROLL
    for (int k = 0; k < 4; k++) acc[k][0] = acc[k][1] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        SLM_UNROLL
        for (int h = 0; h < 2; h++) {
            const __m256 wv = load_f16(w + i + 8 * h);
            acc[0][h] = _mm256_fmadd_ps(wv, load_f16(a0 + i + 8 * h), acc[0][h]);
            acc[1][h] = _mm256_fmadd_ps(wv, load_f16(a1 + i + 8 * h), acc[1][h]);
            acc[2][h] = _mm256_fmadd_ps(wv, load_f16(a2 + i + 8 * h), acc[2][h]);
            acc[3][h] = _mm256_fmadd_ps(wv, load_f16(a3 + i + 8 * h), acc[3][h]);
        }
    }
    if (i + 8 <= n) { /* short rows (attention over a few positions) */
        const __m256 wv = load_f16(w + i);
        acc[0][0] = _mm256_fmadd_ps(wv, load_f16(a0 + i), acc[0][0]);
        acc[1][0] = _mm256_fmadd_ps(wv, load_f16(a1 + i), acc[1][0]);
        acc[2][0] = _mm256_fmadd_ps(wv, load_f16(a2 + i), acc[2][0]);
        acc[3][0] = _mm256_fmadd_ps(wv, load_f16(a3 + i), acc[3][0]);
        i += 8;
    }
    const slm_fp16 *a[4] = {a0, a1, a2, a3};
    for (int k = 0; k < na; k++) {
        float sum = slm_avx2_hsum_ps(_mm256_add_ps(acc[k][0], acc[k][1]));
        for (int64_t j = i; j < n; j++) sum += slm_avx2_h2f(w[j]) * slm_avx2_h2f(a[k][j]);
        s[(size_t)k * ss] = sum;
    }
}
