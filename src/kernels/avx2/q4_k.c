/* q4_k.c — AVX2 Q4_K . Q8_K dot product.
 *
 * A Q4_K block is 8 sub-blocks of 32 with 6-bit scales sc and mins m:
 * x = d sc q - dmin m. So w . a = d d_a sum_j sc_j (q . y)_j
 *                               - dmin d_a sum_j m_j (sum of y over j),
 * and the sums of y come free from the Q8_K bsums (two per sub-block).
 * qs holds 4 chunks of 32 bytes: low nibbles are sub-block 2c, high 2c+1.
 * Integer parts are exact: |sum| <= 256*15*127*63 < 2^31.
 */
#include "kernels/avx2/avx2.h"

void slm_vec_dot_q4_k_q8_k_avx2(int64_t n, float *s, const void *vw, const void *va)
{
    const slm_block_q4_K *w = vw;
    const slm_block_q8_K *a = va;
    const int64_t nb = n / SLM_QK_K;
    const __m256i low4 = _mm256_set1_epi8(0x0F);
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
        __m256i sumi0 = _mm256_setzero_si256(), sumi1 = _mm256_setzero_si256();
#define Q4K_CHUNK(c)                                                                              \
        do {                                                                                      \
            const __m256i q4 = _mm256_loadu_si256((const __m256i *)(q + 32 * (c)));              \
            const __m256i plo = _mm256_maddubs_epi16(_mm256_and_si256(q4, low4),                  \
                _mm256_loadu_si256((const __m256i *)(y + 64 * (c))));                             \
            const __m256i phi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q4, 4), low4), \
                _mm256_loadu_si256((const __m256i *)(y + 64 * (c) + 32)));                        \
            sumi0 = _mm256_add_epi32(sumi0, _mm256_madd_epi16(plo, SLM_AVX2_LANE16(sc, 2 * (c))));  \
            sumi1 = _mm256_add_epi32(sumi1, _mm256_madd_epi16(phi, SLM_AVX2_LANE16(sc, 2 * (c) + 1))); \
        } while (0)
        Q4K_CHUNK(0);
        Q4K_CHUNK(1);
        Q4K_CHUNK(2);
        Q4K_CHUNK(3);
#undef Q4K_CHUNK
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dall), _mm256_cvtepi32_ps(_mm256_add_epi32(sumi0, sumi1)), acc);
    }
    *s = slm_avx2_hsum_ps(acc) - summ;
}

void slm_vec_dot_x4_q4_k_q8_k_avx2(int64_t n, float *s, size_t ss, const void *vw, const void *va,
                                   size_t as, int na)
{
    const slm_block_q4_K *w = vw;
    const uint8_t *r[4];
    slm_avx2_rows4(va, as, na, r);
    const slm_block_q8_K *a[4] = {(const slm_block_q8_K *)r[0], (const slm_block_q8_K *)r[1],
                                  (const slm_block_q8_K *)r[2], (const slm_block_q8_K *)r[3]};
    const int64_t nb = n / SLM_QK_K;
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    __m256 acc[4];
    float summ[4] = {0};
    SLM_UNROLL
    for (int k = 0; k < 4; k++) acc[k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i sm = slm_avx2_q4_k_scales(w[i].scales);
        const __m256i sc = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sm));
        const __m128i mins = _mm256_extracti128_si256(sm, 1);
        __m256i sumi[4];
        SLM_UNROLL
        for (int k = 0; k < 4; k++) sumi[k] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i q4 = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * c));
            const __m256i qlo = _mm256_and_si256(q4, low4);
            const __m256i qhi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), low4);
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
