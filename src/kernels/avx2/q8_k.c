/* q8_k.c — AVX2 F32 -> Q8_K activation quantizer (the k-quants' and
 * IQ4_XS's activation type).
 *
 * Byte for byte as the scalar one (llama.cpp's quantize_row_q8_K_ref): per
 * 256 values, max = the first element of largest |x| (with its sign),
 * iscale = -127 / max, q = min(127, nearest-even(iscale * x)), d = 1 / iscale,
 * bsums = sums of q over groups of 16. An all-zero block gets d = 0 and
 * zero quants and sums.
 */
#include "kernels/avx2/avx2.h"

void slm_quant_act_q8_k_avx2(const float *x, void *vy, int64_t n)
{
    slm_block_q8_K *y = vy;
    const int64_t nb = n / SLM_QK_K;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < nb; i++, x += SLM_QK_K) {
        __m256 amax8 = _mm256_setzero_ps();
        for (int k = 0; k < SLM_QK_K; k += 8)
            amax8 = _mm256_max_ps(amax8, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)));
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax8), _mm256_extractf128_ps(amax8, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        const float amax = _mm_cvtss_f32(m);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        /* the first element reaching amax decides the sign, as in the
         * scalar loop's strict ">" */
        float max = amax;
        const __m256 vamax = _mm256_set1_ps(amax);
        for (int k = 0; k < SLM_QK_K; k += 8) {
            const __m256 v = _mm256_loadu_ps(x + k);
            const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, v), vamax, _CMP_EQ_OQ));
            if (hit) {
                max = x[k + __builtin_ctz((unsigned)hit)];
                break;
            }
        }
        const float iscale = -127.f / max;
        const __m256 vs = _mm256_set1_ps(iscale);
        const __m256i q127 = _mm256_set1_epi32(127);
        for (int k = 0; k < SLM_QK_K; k += 32) {
            __m256i q[4];
            SLM_UNROLL
            for (int j = 0; j < 4; j++) {
                const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + k + 8 * j), vs);
                q[j] = _mm256_min_epi32(q127, _mm256_cvtps_epi32(
                    _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
            }
            const __m256i p01 = _mm256_packs_epi32(q[0], q[1]);
            const __m256i p23 = _mm256_packs_epi32(q[2], q[3]);
            const __m256i b = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p01, p23),
                                                          _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)(y[i].qs + k), b);
            /* group sums: int32 lanes 0..3 cover elements k..k+15, 4..7 the next 16 */
            __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), b),
                                          _mm256_set1_epi16(1));
            s = _mm256_hadd_epi32(s, s);
            s = _mm256_hadd_epi32(s, s);
            y[i].bsums[k / 16] = (int16_t)_mm256_extract_epi32(s, 0);
            y[i].bsums[k / 16 + 1] = (int16_t)_mm256_extract_epi32(s, 4);
        }
        y[i].d = 1 / iscale;
    }
}
