/* q4_1.c — AVX2 Q4_1 . Q8_1 dot product.
 *
 * Per block: d_w d_a sum_j q_j y_j + m_w s_a, where s_a = d_a sum_j y_j is
 * stored in the Q8_1 activation block. q is 0..15, so maddubs takes it as
 * the unsigned operand directly (exact: 15*127*2 < 32767).
 */
#include "kernels/avx2/avx2.h"

void slm_vec_dot_q4_1_q8_1_avx2(int64_t n, float *s, const void *vw, const void *va)
{
    const slm_block_q4_1 *w = vw;
    const slm_block_q8_1 *a = va;
    const int64_t nb = n / SLM_QK4_1;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const __m256i q = slm_avx2_nibbles32(w[i].qs);
        const __m256i y = _mm256_loadu_si256((const __m256i *)a[i].qs);
        const __m256 d = _mm256_set1_ps(slm_avx2_h2f(w[i].d) * slm_avx2_h2f(a[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(slm_avx2_dot_u8(q, y)), acc);
        summ += slm_avx2_h2f(w[i].m) * slm_avx2_h2f(a[i].s);
    }
    *s = slm_avx2_hsum_ps(acc) + summ;
}

void slm_vec_dot_x4_q4_1_q8_1_avx2(int64_t n, float *s, size_t ss, const void *vw, const void *va,
                                   size_t as, int na)
{
    const slm_block_q4_1 *w = vw;
    const uint8_t *r[4];
    slm_avx2_rows4(va, as, na, r);
    const slm_block_q8_1 *a[4] = {(const slm_block_q8_1 *)r[0], (const slm_block_q8_1 *)r[1],
                                  (const slm_block_q8_1 *)r[2], (const slm_block_q8_1 *)r[3]};
    const int64_t nb = n / SLM_QK4_1;
    __m256 acc[4];
    float summ[4] = {0};
    SLM_UNROLL
    for (int k = 0; k < 4; k++) acc[k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i q = slm_avx2_nibbles32(w[i].qs);
        const float dw = slm_avx2_h2f(w[i].d), mw = slm_avx2_h2f(w[i].m);
        SLM_UNROLL
        for (int k = 0; k < 4; k++) {
            const __m256i y = _mm256_loadu_si256((const __m256i *)a[k][i].qs);
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dw * slm_avx2_h2f(a[k][i].d)),
                                     _mm256_cvtepi32_ps(slm_avx2_dot_u8(q, y)), acc[k]);
            summ[k] += mw * slm_avx2_h2f(a[k][i].s);
        }
    }
    for (int k = 0; k < na; k++) s[(size_t)k * ss] = slm_avx2_hsum_ps(acc[k]) + summ[k];
}
