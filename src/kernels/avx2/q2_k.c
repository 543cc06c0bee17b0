/* q2_k.c — AVX2 Q2_K . Q8_K dot product.
 *
 * x = d sc q - dmin m, q 2 bits, per group of 16 a 4-bit scale (low nibble
 * of scales[g]) and a 4-bit min (high nibble). The mins go through bsums.
 * Element 128h + 32j + l takes bits 2j..2j+1 of qs[32h + l]; its group is
 * 8h + 2j + (l >= 16).
 */
#include "kernels/avx2/avx2.h"

void slm_vec_dot_q2_k_q8_k_avx2(int64_t n, float *s, const void *vw, const void *va)
{
    const slm_block_q2_K *w = vw;
    const slm_block_q8_K *a = va;
    const int64_t nb = n / SLM_QK_K;
    const __m256i low2 = _mm256_set1_epi8(0x03);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *sc = w[i].scales;
        const float d = a[i].d * slm_avx2_h2f(w[i].d);
        const float dmin = a[i].d * slm_avx2_h2f(w[i].dmin);
        /* sum_g m_g bsums_g with m_g = scales[g] >> 4 */
        const __m256i m16 = _mm256_srli_epi16(
            _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)sc)), 4);
        const int summ = slm_avx2_hsum_epi32(
            _mm256_madd_epi16(m16, _mm256_loadu_si256((const __m256i *)a[i].bsums)));
        __m256i sumi = _mm256_setzero_si256();
        SLM_UNROLL
        for (int h = 0; h < 2; h++) {
            const __m256i qs = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * h));
            SLM_UNROLL
            for (int j = 0; j < 4; j++) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * j), low2);
                const __m256i y = _mm256_loadu_si256((const __m256i *)(a[i].qs + 128 * h + 32 * j));
                const int g = 8 * h + 2 * j;
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(q, y),
                                                                slm_avx2_scale_pair(sc[g] & 0x0F, sc[g + 1] & 0x0F)));
            }
        }
        sum += d * (float)slm_avx2_hsum_epi32(sumi) - dmin * (float)summ;
    }
    *s = sum;
}

void slm_vec_dot_x4_q2_k_q8_k_avx2(int64_t n, float *s, size_t ss, const void *vw, const void *va,
                                   size_t as, int na)
{
    const slm_block_q2_K *w = vw;
    const uint8_t *r[4];
    slm_avx2_rows4(va, as, na, r);
    const slm_block_q8_K *a[4] = {(const slm_block_q8_K *)r[0], (const slm_block_q8_K *)r[1],
                                  (const slm_block_q8_K *)r[2], (const slm_block_q8_K *)r[3]};
    const int64_t nb = n / SLM_QK_K;
    const __m256i low2 = _mm256_set1_epi8(0x03);
    float sum[4] = {0};
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *sc = w[i].scales;
        __m256i sumi[4];
        SLM_UNROLL
        for (int k = 0; k < 4; k++) sumi[k] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i qs = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * h));
            for (int j = 0; j < 4; j++) {
                const __m256i q = _mm256_and_si256(qs, low2);
                const int g = 8 * h + 2 * j;
                const __m256i scale = slm_avx2_scale_pair(sc[g] & 0x0F, sc[g + 1] & 0x0F);
                SLM_UNROLL
                for (int k = 0; k < 4; k++) {
                    const __m256i y = _mm256_loadu_si256((const __m256i *)(a[k][i].qs + 128 * h + 32 * j));
                    sumi[k] = _mm256_add_epi32(sumi[k], _mm256_madd_epi16(_mm256_maddubs_epi16(q, y), scale));
                }
                qs = _mm256_srli_epi16(qs, 2);
            }
        }
        const __m256i m16 = _mm256_srli_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)sc)), 4);
        const float d = slm_avx2_h2f(w[i].d), dmin = slm_avx2_h2f(w[i].dmin);
        SLM_UNROLL
        for (int k = 0; k < 4; k++) {
            const int summ = slm_avx2_hsum_epi32(
                _mm256_madd_epi16(m16, _mm256_loadu_si256((const __m256i *)a[k][i].bsums)));
            sum[k] += a[k][i].d * (d * (float)slm_avx2_hsum_epi32(sumi[k]) - dmin * (float)summ);
        }
    }
    for (int k = 0; k < na; k++) s[(size_t)k * ss] = sum[k];
}
