/* iq4.c — AVX2 IQ4_NL . Q8_0 and IQ4_XS . Q8_K dot products.
 *
 * The 16-entry codebook fits one register: pshufb maps each nibble to its
 * int8 value (|v| <= 127, so the sign trick of slm_avx2_dot_i8 is exact).
 */
#include "kernels/avx2/avx2.h"

static inline __m256i codebook(void)
{
    const __m128i t = _mm_loadu_si128((const __m128i *)slm_kvalues_iq4nl);
    return _mm256_set_m128i(t, t);
}

void slm_vec_dot_iq4_nl_q8_0_avx2(int64_t n, float *s, const void *vw, const void *va)
{
    const slm_block_iq4_nl *w = vw;
    const slm_block_q8_0 *a = va;
    const int64_t nb = n / SLM_QK4_NL;
    const __m256i values = codebook();
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i q = _mm256_shuffle_epi8(values, slm_avx2_nibbles32(w[i].qs));
        const __m256i y = _mm256_loadu_si256((const __m256i *)a[i].qs);
        const __m256 d = _mm256_set1_ps(slm_avx2_h2f(w[i].d) * slm_avx2_h2f(a[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(slm_avx2_dot_i8(q, y)), acc);
    }
    *s = slm_avx2_hsum_ps(acc);
}

/* IQ4_XS: 8 sub-blocks of 32, each with a 6-bit scale ls (low 4 bits in
 * scales_l, high 2 in scales_h) and value d (ls - 32) codebook[q]; the
 * nibble order within a sub-block is that of IQ4_NL. */
void slm_vec_dot_iq4_xs_q8_k_avx2(int64_t n, float *s, const void *vw, const void *va)
{
    const slm_block_iq4_xs *w = vw;
    const slm_block_q8_K *a = va;
    const int64_t nb = n / SLM_QK_K;
    const __m256i values = codebook();
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i sumi = _mm256_setzero_si256();
        for (int ib = 0; ib < SLM_QK_K / 32; ib++) {
            const int ls = ((w[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) |
                           (((w[i].scales_h >> 2 * ib) & 3) << 4);
            const __m256i q = _mm256_shuffle_epi8(values, slm_avx2_nibbles32(w[i].qs + 16 * ib));
            const __m256i y = _mm256_loadu_si256((const __m256i *)(a[i].qs + 32 * ib));
            /* int16 pair sums, then scaled: |sum| <= 32*127*127*31 < 2^31 */
            const __m256i ax = _mm256_sign_epi8(q, q);
            const __m256i sy = _mm256_sign_epi8(y, q);
            const __m256i p16 = _mm256_maddubs_epi16(ax, sy);
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p16, _mm256_set1_epi16((short)(ls - 32))));
        }
        const __m256 d = _mm256_set1_ps(slm_avx2_h2f(w[i].d) * a[i].d);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = slm_avx2_hsum_ps(acc);
}

void slm_vec_dot_x4_iq4_nl_q8_0_avx2(int64_t n, float *s, size_t ss, const void *vw, const void *va,
                                     size_t as, int na)
{
    const slm_block_iq4_nl *w = vw;
    const uint8_t *r[4];
    slm_avx2_rows4(va, as, na, r);
    const slm_block_q8_0 *a[4] = {(const slm_block_q8_0 *)r[0], (const slm_block_q8_0 *)r[1],
                                  (const slm_block_q8_0 *)r[2], (const slm_block_q8_0 *)r[3]};
    const int64_t nb = n / SLM_QK4_NL;
    const __m256i values = codebook();
    __m256 acc[4];
    SLM_UNROLL
    for (int k = 0; k < 4; k++) acc[k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i q = _mm256_shuffle_epi8(values, slm_avx2_nibbles32(w[i].qs));
        const __m256i aq = _mm256_sign_epi8(q, q);
        const float dw = slm_avx2_h2f(w[i].d);
        SLM_UNROLL
        for (int k = 0; k < 4; k++) {
            const __m256i sy = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)a[k][i].qs), q);
            const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aq, sy), _mm256_set1_epi16(1));
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dw * slm_avx2_h2f(a[k][i].d)), _mm256_cvtepi32_ps(p), acc[k]);
        }
    }
    for (int k = 0; k < na; k++) s[(size_t)k * ss] = slm_avx2_hsum_ps(acc[k]);
}

void slm_vec_dot_x4_iq4_xs_q8_k_avx2(int64_t n, float *s, size_t ss, const void *vw, const void *va,
                                     size_t as, int na)
{
    const slm_block_iq4_xs *w = vw;
    const uint8_t *r[4];
    slm_avx2_rows4(va, as, na, r);
    const slm_block_q8_K *a[4] = {(const slm_block_q8_K *)r[0], (const slm_block_q8_K *)r[1],
                                  (const slm_block_q8_K *)r[2], (const slm_block_q8_K *)r[3]};
    const int64_t nb = n / SLM_QK_K;
    const __m256i values = codebook();
    __m256 acc[4];
    SLM_UNROLL
    for (int k = 0; k < 4; k++) acc[k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i sumi[4];
        SLM_UNROLL
        for (int k = 0; k < 4; k++) sumi[k] = _mm256_setzero_si256();
        for (int ib = 0; ib < SLM_QK_K / 32; ib++) {
            const int ls = ((w[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) |
                           (((w[i].scales_h >> 2 * ib) & 3) << 4);
            const __m256i scale = _mm256_set1_epi16((short)(ls - 32));
            const __m256i q = _mm256_shuffle_epi8(values, slm_avx2_nibbles32(w[i].qs + 16 * ib));
            const __m256i aq = _mm256_sign_epi8(q, q);
            SLM_UNROLL
            for (int k = 0; k < 4; k++) {
                const __m256i sy = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(a[k][i].qs + 32 * ib)), q);
                sumi[k] = _mm256_add_epi32(sumi[k], _mm256_madd_epi16(_mm256_maddubs_epi16(aq, sy), scale));
            }
        }
        const float dw = slm_avx2_h2f(w[i].d);
        SLM_UNROLL
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dw * a[k][i].d), _mm256_cvtepi32_ps(sumi[k]), acc[k]);
    }
    for (int k = 0; k < na; k++) s[(size_t)k * ss] = slm_avx2_hsum_ps(acc[k]);
}
