/* q6_k.c — AVX2 Q6_K . Q8_K dot product.
 *
 * x = d sc (q - 32), q = 4 bits of ql + 2 bits of qh (0..63), 16 int8
 * scales over groups of 16. The unsigned q goes into maddubs directly and
 * the -32 is applied once per block as 32 sum_g sc_g bsums_g.
 * Layout per half h of 128 elements: ql[64h..64h+63], qh[32h..32h+31];
 * element 32k + l (k = 0..3) takes nibble (k >= 2) of ql[64h + l + 32 (k&1)]
 * and bits 2k..2k+1 of qh[32h + l]. Exact: |sum| <= 256*63*127*128 < 2^31.
 */
#include "kernels/avx2/avx2.h"

void slm_vec_dot_q6_k_q8_k_avx2(int64_t n, float *s, const void *vw, const void *va)
{
    const slm_block_q6_K *w = vw;
    const slm_block_q8_K *a = va;
    const int64_t nb = n / SLM_QK_K;
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i low2 = _mm256_set1_epi8(0x03);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const int8_t *sc = w[i].scales;
        const float d = a[i].d * slm_avx2_h2f(w[i].d);
        const int offset = 32 * slm_avx2_k_scaled_bsums(sc, a[i].bsums);
        __m256i sumi0 = _mm256_setzero_si256(), sumi1 = _mm256_setzero_si256();
        SLM_UNROLL
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(w[i].ql + 64 * h));
            const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(w[i].ql + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(w[i].qh + 32 * h));
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(ql0, low4),
                                _mm256_slli_epi16(_mm256_and_si256(qh, low2), 4)),
                _mm256_or_si256(_mm256_and_si256(ql1, low4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), low2), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), low2), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), low2), 4)),
            };
            const int8_t *y = a[i].qs + 128 * h;
            const int8_t *g = sc + 8 * h;
            SLM_UNROLL
            for (int k = 0; k < 4; k += 2) {
                const __m256i p0 = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(y + 32 * k)));
                const __m256i p1 = _mm256_maddubs_epi16(q[k + 1], _mm256_loadu_si256((const __m256i *)(y + 32 * k + 32)));
                sumi0 = _mm256_add_epi32(sumi0, _mm256_madd_epi16(p0, slm_avx2_scale_pair(g[2 * k], g[2 * k + 1])));
                sumi1 = _mm256_add_epi32(sumi1, _mm256_madd_epi16(p1, slm_avx2_scale_pair(g[2 * k + 2], g[2 * k + 3])));
            }
        }
        const int sumi = slm_avx2_hsum_epi32(_mm256_add_epi32(sumi0, sumi1)) - offset;
        sum += d * (float)sumi;
    }
    *s = sum;
}

void slm_vec_dot_x4_q6_k_q8_k_avx2(int64_t n, float *s, size_t ss, const void *vw, const void *va,
                                   size_t as, int na)
{
    const slm_block_q6_K *w = vw;
    const uint8_t *r[4];
    slm_avx2_rows4(va, as, na, r);
    const slm_block_q8_K *a[4] = {(const slm_block_q8_K *)r[0], (const slm_block_q8_K *)r[1],
                                  (const slm_block_q8_K *)r[2], (const slm_block_q8_K *)r[3]};
    const int64_t nb = n / SLM_QK_K;
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i low2 = _mm256_set1_epi8(0x03);
    float sum[4] = {0};
    for (int64_t i = 0; i < nb; i++) {
        const int8_t *sc = w[i].scales;
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
        __m256i sumi[4];
        SLM_UNROLL
        for (int k = 0; k < 4; k++) sumi[k] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(w[i].ql + 64 * h));
            const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(w[i].ql + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(w[i].qh + 32 * h));
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(ql0, low4),
                                _mm256_slli_epi16(_mm256_and_si256(qh, low2), 4)),
                _mm256_or_si256(_mm256_and_si256(ql1, low4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), low2), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), low2), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), low2), 4)),
            };
            SLM_UNROLL
            for (int c = 0; c < 4; c++) {
                const int g = 8 * h + 2 * c;
                const __m256i scale = slm_avx2_scale_pair(sc[g], sc[g + 1]);
                SLM_UNROLL
                for (int k = 0; k < 4; k++) {
                    const __m256i y = _mm256_loadu_si256((const __m256i *)(a[k][i].qs + 128 * h + 32 * c));
                    sumi[k] = _mm256_add_epi32(sumi[k], _mm256_madd_epi16(_mm256_maddubs_epi16(q[c], y), scale));
                }
            }
        }
        const float d = slm_avx2_h2f(w[i].d);
        SLM_UNROLL
        for (int k = 0; k < 4; k++) {
            const __m256i off = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)a[k][i].bsums));
            const __m256i tot = _mm256_sub_epi32(sumi[k], _mm256_slli_epi32(off, 5)); /* - 32 sc bsums */
            sum[k] += d * a[k][i].d * (float)slm_avx2_hsum_epi32(tot);
        }
    }
    for (int k = 0; k < na; k++) s[(size_t)k * ss] = sum[k];
}
