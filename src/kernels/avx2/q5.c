/* q5.c — AVX2 Q5_0 . Q8_0 and Q5_1 . Q8_1 dot products.
 *
 * The fifth bit of element j is bit j of qh; it is spread to a byte mask and
 * merged as 16, giving q in 0..31 for maddubs' unsigned operand. Q5_0 takes
 * off 16 with maddubs(16, y); Q5_1 adds m_w s_a from the activation block.
 * Pair sums stay below 31*127*2 = 7874: exact.
 */
#include "kernels/avx2/avx2.h"

static inline __m256i q5_quants(const uint8_t *qs, const uint8_t *qh)
{
    const __m256i hi = _mm256_and_si256(slm_avx2_bits32(qh), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(slm_avx2_nibbles32(qs), hi);
}

void slm_vec_dot_q5_0_q8_0_avx2(int64_t n, float *s, const void *vw, const void *va)
{
    const slm_block_q5_0 *w = vw;
    const slm_block_q8_0 *a = va;
    const int64_t nb = n / SLM_QK5_0;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i q = q5_quants(w[i].qs, w[i].qh);
        const __m256i y = _mm256_loadu_si256((const __m256i *)a[i].qs);
        const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, y),
                                           _mm256_maddubs_epi16(_mm256_set1_epi8(16), y));
        const __m256 d = _mm256_set1_ps(slm_avx2_h2f(w[i].d) * slm_avx2_h2f(a[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1))), acc);
    }
    *s = slm_avx2_hsum_ps(acc);
}

void slm_vec_dot_q5_1_q8_1_avx2(int64_t n, float *s, const void *vw, const void *va)
{
    const slm_block_q5_1 *w = vw;
    const slm_block_q8_1 *a = va;
    const int64_t nb = n / SLM_QK5_1;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const __m256i q = q5_quants(w[i].qs, w[i].qh);
        const __m256i y = _mm256_loadu_si256((const __m256i *)a[i].qs);
        const __m256 d = _mm256_set1_ps(slm_avx2_h2f(w[i].d) * slm_avx2_h2f(a[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(slm_avx2_dot_u8(q, y)), acc);
        summ += slm_avx2_h2f(w[i].m) * slm_avx2_h2f(a[i].s);
    }
    *s = slm_avx2_hsum_ps(acc) + summ;
}

void slm_vec_dot_x4_q5_0_q8_0_avx2(int64_t n, float *s, size_t ss, const void *vw, const void *va,
                                   size_t as, int na)
{
    const slm_block_q5_0 *w = vw;
    const uint8_t *r[4];
    slm_avx2_rows4(va, as, na, r);
    const slm_block_q8_0 *a[4] = {(const slm_block_q8_0 *)r[0], (const slm_block_q8_0 *)r[1],
                                  (const slm_block_q8_0 *)r[2], (const slm_block_q8_0 *)r[3]};
    const int64_t nb = n / SLM_QK5_0;
    __m256 acc[4];
    SLM_UNROLL
    for (int k = 0; k < 4; k++) acc[k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i q = q5_quants(w[i].qs, w[i].qh);
        const float dw = slm_avx2_h2f(w[i].d);
        SLM_UNROLL
        for (int k = 0; k < 4; k++) {
            const __m256i y = _mm256_loadu_si256((const __m256i *)a[k][i].qs);
            const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, y),
                                               _mm256_maddubs_epi16(_mm256_set1_epi8(16), y));
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dw * slm_avx2_h2f(a[k][i].d)),
                                     _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1))), acc[k]);
        }
    }
    for (int k = 0; k < na; k++) s[(size_t)k * ss] = slm_avx2_hsum_ps(acc[k]);
}

void slm_vec_dot_x4_q5_1_q8_1_avx2(int64_t n, float *s, size_t ss, const void *vw, const void *va,
                                   size_t as, int na)
{
    const slm_block_q5_1 *w = vw;
    const uint8_t *r[4];
    slm_avx2_rows4(va, as, na, r);
    const slm_block_q8_1 *a[4] = {(const slm_block_q8_1 *)r[0], (const slm_block_q8_1 *)r[1],
                                  (const slm_block_q8_1 *)r[2], (const slm_block_q8_1 *)r[3]};
    const int64_t nb = n / SLM_QK5_1;
    __m256 acc[4];
    float summ[4] = {0};
    SLM_UNROLL
    for (int k = 0; k < 4; k++) acc[k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i q = q5_quants(w[i].qs, w[i].qh);
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
