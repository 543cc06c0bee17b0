/* q3_k.c — AVX2 Q3_K . Q8_K dot product.
 *
 * x = d (sc - 32) (q - 4), q = 2 bits of qs + 1 bit of hmask (0..7), 16
 * 6-bit scales over groups of 16. Unsigned q goes into maddubs directly and
 * the -4 is applied once per block as 4 sum_g sc_g bsums_g.
 * Element 128h + 32j + l (h = 0..1, j = 0..3, l = 0..31) takes bits 2j..2j+1
 * of qs[32h + l] and bit 4h + j of hmask[l]; its scale is 8h + 2j + (l >= 16).
 */
#include "kernels/avx2/avx2.h"

/* The 16 scales (6 bits, minus 32) as int16: low 4 bits are the nibbles of
 * bytes 0..7 (scale g in byte g % 8, high nibble for g >= 8), the top 2 bits
 * are the 2-bit fields of bytes 8..11 (scale g in byte 8 + g % 4, field
 * g / 4). Done in registers: the scalar version cost more than the dot. */
static inline void q3_k_scales(const uint8_t *p, int16_t *sc)
{
    uint64_t lo8;
    uint32_t hi4;
    memcpy(&lo8, p, 8);
    memcpy(&hi4, p + 8, 4);
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m128i v = _mm_cvtsi64_si128((long long)lo8);
    const __m128i lo = _mm_unpacklo_epi64(_mm_and_si128(v, m4), _mm_and_si128(_mm_srli_epi16(v, 4), m4));
    /* dword k holds the four bytes 8..11 shifted right by 2k: byte g % 4 of
     * dword g / 4 is then exactly scale g's field */
    const __m128i h = _mm_srlv_epi32(_mm_set1_epi32((int)hi4), _mm_setr_epi32(0, 2, 4, 6));
    const __m128i hi = _mm_slli_epi16(_mm_and_si128(h, _mm_set1_epi8(0x03)), 4);
    const __m128i s8 = _mm_sub_epi8(_mm_or_si128(lo, hi), _mm_set1_epi8(32));
    _mm256_storeu_si256((__m256i *)sc, _mm256_cvtepi8_epi16(s8));
}

void slm_vec_dot_q3_k_q8_k_avx2(int64_t n, float *s, const void *vw, const void *va)
{
    const slm_block_q3_K *w = vw;
    const slm_block_q8_K *a = va;
    const int64_t nb = n / SLM_QK_K;
    const __m256i low2 = _mm256_set1_epi8(0x03);
    const __m256i bit = _mm256_set1_epi8(0x01);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int16_t sc[16];
        q3_k_scales(w[i].scales, sc);
        const float d = a[i].d * slm_avx2_h2f(w[i].d);
        const int offset = 4 * slm_avx2_hsum_epi32(_mm256_madd_epi16(
            _mm256_loadu_si256((const __m256i *)sc), _mm256_loadu_si256((const __m256i *)a[i].bsums)));
        /* running shifts (by constants) walk the 2-bit fields and the hmask bits */
        __m256i hm = _mm256_loadu_si256((const __m256i *)w[i].hmask);
        __m256i sumi = _mm256_setzero_si256();
        const int8_t *y = a[i].qs;
        const int16_t *g = sc;
        SLM_UNROLL
        for (int h = 0; h < 2; h++) {
            __m256i qs = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * h));
            SLM_UNROLL
            for (int j = 0; j < 4; j++, y += 32, g += 2) {
                const __m256i lo = _mm256_and_si256(qs, low2);
                const __m256i hi = _mm256_slli_epi16(_mm256_and_si256(hm, bit), 2);
                const __m256i p = _mm256_maddubs_epi16(_mm256_or_si256(lo, hi),
                                                       _mm256_loadu_si256((const __m256i *)y));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, slm_avx2_scale_pair(g[0], g[1])));
                qs = _mm256_srli_epi16(qs, 2);
                hm = _mm256_srli_epi16(hm, 1);
            }
        }
        sum += d * (float)(slm_avx2_hsum_epi32(sumi) - offset);
    }
    *s = sum;
}

void slm_vec_dot_x4_q3_k_q8_k_avx2(int64_t n, float *s, size_t ss, const void *vw, const void *va,
                                   size_t as, int na)
{
    const slm_block_q3_K *w = vw;
    const uint8_t *r[4];
    slm_avx2_rows4(va, as, na, r);
    const slm_block_q8_K *a[4] = {(const slm_block_q8_K *)r[0], (const slm_block_q8_K *)r[1],
                                  (const slm_block_q8_K *)r[2], (const slm_block_q8_K *)r[3]};
    const int64_t nb = n / SLM_QK_K;
    const __m256i low2 = _mm256_set1_epi8(0x03);
    const __m256i bit = _mm256_set1_epi8(0x01);
    float sum[4] = {0};
    for (int64_t i = 0; i < nb; i++) {
        int16_t sc[16];
        q3_k_scales(w[i].scales, sc);
        __m256i hm = _mm256_loadu_si256((const __m256i *)w[i].hmask);
        __m256i sumi[4];
        SLM_UNROLL
        for (int k = 0; k < 4; k++) sumi[k] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i qs = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * h));
            for (int j = 0; j < 4; j++) {
                const __m256i q = _mm256_or_si256(_mm256_and_si256(qs, low2),
                                                  _mm256_slli_epi16(_mm256_and_si256(hm, bit), 2));
                const int g = 8 * h + 2 * j;
                const __m256i scale = slm_avx2_scale_pair(sc[g], sc[g + 1]);
                SLM_UNROLL
                for (int k = 0; k < 4; k++) {
                    const __m256i y = _mm256_loadu_si256((const __m256i *)(a[k][i].qs + 128 * h + 32 * j));
                    sumi[k] = _mm256_add_epi32(sumi[k], _mm256_madd_epi16(_mm256_maddubs_epi16(q, y), scale));
                }
                qs = _mm256_srli_epi16(qs, 2);
                hm = _mm256_srli_epi16(hm, 1);
            }
        }
        const __m256i sc16 = _mm256_loadu_si256((const __m256i *)sc);
        const float d = slm_avx2_h2f(w[i].d);
        SLM_UNROLL
        for (int k = 0; k < 4; k++) {
            const __m256i off = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)a[k][i].bsums));
            const __m256i tot = _mm256_sub_epi32(sumi[k], _mm256_slli_epi32(off, 2)); /* - 4 sc bsums */
            sum[k] += d * a[k][i].d * (float)slm_avx2_hsum_epi32(tot);
        }
    }
    for (int k = 0; k < na; k++) s[(size_t)k * ss] = sum[k];
}
