/* q8_0.c — AVX2 Q8_0 . Q8_0 dot product and the F32 -> Q8_0 / Q8_1
 * activation quantizers.
 *
 * The quantizers must match the scalar ones byte for byte: d = amax / 127
 * (stored fp16), q = x * (127 / amax) rounded to nearest even, as llama.cpp's
 * x86 code does (../shared/testdata/README.md section 4).
 */
#include "kernels/avx2/avx2.h"

static inline __m256 block_dot(const slm_block_q8_0 *w, const slm_block_q8_0 *a)
{
    return _mm256_cvtepi32_ps(slm_avx2_dot_i8(_mm256_loadu_si256((const __m256i *)w->qs),
                                              _mm256_loadu_si256((const __m256i *)a->qs)));
}

void slm_vec_dot_q8_0_q8_0_avx2(int64_t n, float *s, const void *vw, const void *va)
{
    const slm_block_q8_0 *w = vw;
    const slm_block_q8_0 *a = va;
    const int64_t nb = n / SLM_QK8_0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        const __m256 d = slm_avx2_dprod4(w[i].d, w[i + 1].d, w[i + 2].d, w[i + 3].d,
                                         a[i].d, a[i + 1].d, a[i + 2].d, a[i + 3].d);
        acc0 = _mm256_fmadd_ps(_mm256_permute_ps(d, 0x00), block_dot(w + i, a + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_permute_ps(d, 0x55), block_dot(w + i + 1, a + i + 1), acc1);
        acc0 = _mm256_fmadd_ps(_mm256_permute_ps(d, 0xAA), block_dot(w + i + 2, a + i + 2), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_permute_ps(d, 0xFF), block_dot(w + i + 3, a + i + 3), acc1);
    }
    for (; i < nb; i++) {
        const __m256 d = _mm256_set1_ps(slm_avx2_h2f(w[i].d) * slm_avx2_h2f(a[i].d));
        acc0 = _mm256_fmadd_ps(d, block_dot(w + i, a + i), acc0);
    }
    *s = slm_avx2_hsum_ps(_mm256_add_ps(acc0, acc1));
}

/* Quantize 32 floats: returns the 32 int8 in element order, the scale in
 * *d, and the int32 sum of the quants in *qsum. */
static inline __m256i quant32(const float *x, float *d, int *qsum)
{
    __m256 v[4];
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 amax = _mm256_setzero_ps();
    SLM_UNROLL
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[k]));
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float max = _mm_cvtss_f32(m);
    *d = max / 127.f;
    const __m256 id = _mm256_set1_ps(max != 0.0f ? 127.f / max : 0.0f);
    __m256i q[4];
    SLM_UNROLL
    for (int k = 0; k < 4; k++)
        q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], id),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    *qsum = slm_avx2_hsum_epi32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]),
                                                 _mm256_add_epi32(q[2], q[3])));
    /* the packs interleave 128-bit lanes; one dword permute restores order */
    const __m256i p01 = _mm256_packs_epi32(q[0], q[1]);
    const __m256i p23 = _mm256_packs_epi32(q[2], q[3]);
    const __m256i b = _mm256_packs_epi16(p01, p23);
    return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

void slm_quant_act_q8_0_avx2(const float *x, void *vy, int64_t n)
{
    slm_block_q8_0 *y = vy;
    const int64_t nb = n / SLM_QK8_0;
    for (int64_t i = 0; i < nb; i++) {
        float d;
        int qsum;
        const __m256i q = quant32(x + i * SLM_QK8_0, &d, &qsum);
        y[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_si256((__m256i *)y[i].qs, q);
    }
}

void slm_quant_act_q8_1_avx2(const float *x, void *vy, int64_t n)
{
    slm_block_q8_1 *y = vy;
    const int64_t nb = n / SLM_QK8_1;
    for (int64_t i = 0; i < nb; i++) {
        float d;
        int qsum;
        const __m256i q = quant32(x + i * SLM_QK8_1, &d, &qsum);
        y[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        y[i].s = _cvtss_sh(d * (float)qsum, _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_si256((__m256i *)y[i].qs, q);
    }
}

void slm_vec_dot_x4_q8_0_q8_0_avx2(int64_t n, float *s, size_t ss, const void *vw, const void *va,
                                   size_t as, int na)
{
    const slm_block_q8_0 *w = vw;
    const uint8_t *r[4];
    slm_avx2_rows4(va, as, na, r);
    const slm_block_q8_0 *a[4] = {(const slm_block_q8_0 *)r[0], (const slm_block_q8_0 *)r[1],
                                  (const slm_block_q8_0 *)r[2], (const slm_block_q8_0 *)r[3]};
    const int64_t nb = n / SLM_QK8_0;
    __m256 acc[4];
    SLM_UNROLL
    for (int k = 0; k < 4; k++) acc[k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i x = _mm256_loadu_si256((const __m256i *)w[i].qs);
        const __m256i ax = _mm256_sign_epi8(x, x);
        const float dw = slm_avx2_h2f(w[i].d);
        SLM_UNROLL
        for (int k = 0; k < 4; k++) {
            const __m256i sy = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)a[k][i].qs), x);
            const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dw * slm_avx2_h2f(a[k][i].d)), _mm256_cvtepi32_ps(p), acc[k]);
        }
    }
    for (int k = 0; k < na; k++) s[(size_t)k * ss] = slm_avx2_hsum_ps(acc[k]);
}
