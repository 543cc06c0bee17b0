/* q5_k.c — AVX2 Q5_K . Q8_K dot product.
 *
 * As Q4_K (scales, mins through bsums) with a fifth bit per element: for
 * chunk c of 64 elements, bit 2c of qh[l] belongs to element l of the low
 * nibbles, bit 2c+1 to element l of the high nibbles. q is 0..31.
 */
#include "kernels/avx2/avx2.h"

void slm_vec_dot_q5_k_q8_k_avx2(int64_t n, float *s, const void *vw, const void *va)
{
    const slm_block_q5_K *w = vw;
    const slm_block_q8_K *a = va;
    const int64_t nb = n / SLM_QK_K;
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i bit = _mm256_set1_epi8(0x01);
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const __m256i sm = slm_avx2_q4_k_scales(w[i].scales);
        const __m256i sc = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sm));
        const float dall = a[i].d * slm_avx2_h2f(w[i].d);
        const float dmin = a[i].d * slm_avx2_h2f(w[i].dmin);
        summ += dmin * (float)slm_avx2_k_mins(_mm256_extracti128_si256(sm, 1), a[i].bsums);

        const uint8_t *q = w[i].qs;
        const int8_t *y = a[i].qs;
        /* qh walks right by 2 per chunk: its bits 0 and 1 are the chunk's */
        __m256i qh = _mm256_loadu_si256((const __m256i *)w[i].qh);
        __m256i sumi0 = _mm256_setzero_si256(), sumi1 = _mm256_setzero_si256();
#define Q5K_CHUNK(c)                                                                              \
        do {                                                                                      \
            const __m256i q4 = _mm256_loadu_si256((const __m256i *)(q + 32 * (c)));              \
            const __m256i hlo = _mm256_slli_epi16(_mm256_and_si256(qh, bit), 4);                 \
            const __m256i hhi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 1), bit), 4); \
            qh = _mm256_srli_epi16(qh, 2);                                                        \
            const __m256i plo = _mm256_maddubs_epi16(_mm256_or_si256(_mm256_and_si256(q4, low4), hlo), \
                _mm256_loadu_si256((const __m256i *)(y + 64 * (c))));                             \
            const __m256i phi = _mm256_maddubs_epi16(                                             \
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q4, 4), low4), hhi),           \
                _mm256_loadu_si256((const __m256i *)(y + 64 * (c) + 32)));                        \
            sumi0 = _mm256_add_epi32(sumi0, _mm256_madd_epi16(plo, SLM_AVX2_LANE16(sc, 2 * (c))));  \
            sumi1 = _mm256_add_epi32(sumi1, _mm256_madd_epi16(phi, SLM_AVX2_LANE16(sc, 2 * (c) + 1))); \
        } while (0)
        Q5K_CHUNK(0);
        Q5K_CHUNK(1);
        Q5K_CHUNK(2);
        Q5K_CHUNK(3);
#undef Q5K_CHUNK
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dall), _mm256_cvtepi32_ps(_mm256_add_epi32(sumi0, sumi1)), acc);
    }
    *s = slm_avx2_hsum_ps(acc) - summ;
}

void slm_vec_dot_x4_q5_k_q8_k_avx2(int64_t n, float *s, size_t ss, const void *vw, const void *va,
                                   size_t as, int na)
{
    const slm_block_q5_K *w = vw;
    const uint8_t *r[4];
    slm_avx2_rows4(va, as, na, r);
    const slm_block_q8_K *a[4] = {(const slm_block_q8_K *)r[0], (const slm_block_q8_K *)r[1],
                                  (const slm_block_q8_K *)r[2], (const slm_block_q8_K *)r[3]};
    const int64_t nb = n / SLM_QK_K;
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i bit = _mm256_set1_epi8(0x01);
    __m256 acc[4];
    float summ[4] = {0};
    SLM_UNROLL
    for (int k = 0; k < 4; k++) acc[k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i sm = slm_avx2_q4_k_scales(w[i].scales);
        const __m256i sc = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sm));
        const __m128i mins = _mm256_extracti128_si256(sm, 1);
        __m256i qh = _mm256_loadu_si256((const __m256i *)w[i].qh);
        __m256i sumi[4];
        SLM_UNROLL
        for (int k = 0; k < 4; k++) sumi[k] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i q4 = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * c));
            const __m256i hlo = _mm256_slli_epi16(_mm256_and_si256(qh, bit), 4);
            const __m256i hhi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 1), bit), 4);
            qh = _mm256_srli_epi16(qh, 2);
            const __m256i qlo = _mm256_or_si256(_mm256_and_si256(q4, low4), hlo);
            const __m256i qhi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q4, 4), low4), hhi);
            const __m256i slo = SLM_AVX2_LANE16(sc, 2 * c), shi = SLM_AVX2_LANE16(sc, 2 * c + 1);
            SLM_UNROLL
            for (int k = 0; k < 4; k++) {
                const int8_t *y = a[k][i].qs + 64 * c;
                const __m256i plo = _mm256_maddubs_epi16(qlo, _mm256_loadu_si256((const __m256i *)y));
                const __m256i phi = _mm256_maddubs_epi16(qhi, _mm256_loadu_si256((const __m256i *)(y + 32)));
                sumi[k] = _mm256_add_epi32(sumi[k], _mm256_add_epi32(_mm256_madd_epi16(plo, slo),
                                                                     _mm256_madd_epi16(phi, shi)));
            }
        }
        const float d = slm_avx2_h2f(w[i].d), dmin = slm_avx2_h2f(w[i].dmin);
        SLM_UNROLL
        for (int k = 0; k < 4; k++) {
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * a[k][i].d), _mm256_cvtepi32_ps(sumi[k]), acc[k]);
            summ[k] += dmin * a[k][i].d * (float)slm_avx2_k_mins(mins, a[k][i].bsums);
        }
    }
    for (int k = 0; k < na; k++) s[(size_t)k * ss] = slm_avx2_hsum_ps(acc[k]) - summ[k];
}
