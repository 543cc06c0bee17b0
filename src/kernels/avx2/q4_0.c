/* q4_0.c — AVX2 Q4_0 . Q8_0 dot product, the hottest kernel for Q4_0 files.
 *
 * Per block: sum_j d_w d_a (q_j - 8) y_j. The nibbles q (0..15) go into
 * maddubs as the unsigned operand directly and the -8 is applied as
 * maddubs(8, y); both pair sums stay far below the int16 limit
 * (15*127*2 = 3810), so the integer part is exact.
 */
#include "kernels/avx2/avx2.h"

static inline __m256 block_dot(const slm_block_q4_0 *w, const slm_block_q8_0 *a)
{
    const __m256i q = slm_avx2_nibbles32(w->qs);
    const __m256i y = _mm256_loadu_si256((const __m256i *)a->qs);
    const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, y),
                                       _mm256_maddubs_epi16(_mm256_set1_epi8(8), y));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

void slm_vec_dot_q4_0_q8_0_avx2(int64_t n, float *s, const void *vw, const void *va)
{
    const slm_block_q4_0 *w = vw;
    const slm_block_q8_0 *a = va;
    const int64_t nb = n / SLM_QK4_0;
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

void slm_vec_dot_x4_q4_0_q8_0_avx2(int64_t n, float *s, size_t ss, const void *vw, const void *va,
                                   size_t as, int na)
{
    const slm_block_q4_0 *w = vw;
    const uint8_t *r[4];
    slm_avx2_rows4(va, as, na, r);
    const slm_block_q8_0 *a[4] = {(const slm_block_q8_0 *)r[0], (const slm_block_q8_0 *)r[1],
                                  (const slm_block_q8_0 *)r[2], (const slm_block_q8_0 *)r[3]};
    const int64_t nb = n / SLM_QK4_0;
    __m256 acc[4];
    SLM_UNROLL
    for (int k = 0; k < 4; k++) acc[k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i q = slm_avx2_nibbles32(w[i].qs);
        const float dw = slm_avx2_h2f(w[i].d);
        SLM_UNROLL
        for (int k = 0; k < 4; k++) {
            const __m256i y = _mm256_loadu_si256((const __m256i *)a[k][i].qs);
            const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, y),
                                               _mm256_maddubs_epi16(_mm256_set1_epi8(8), y));
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dw * slm_avx2_h2f(a[k][i].d)),
                                     _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1))), acc[k]);
        }
    }
    for (int k = 0; k < na; k++) s[(size_t)k * ss] = slm_avx2_hsum_ps(acc[k]);
}
