/* gemm_q5_0.c — AVX2 tile GEMM, Q5_0 weights x Q8_0 activations (gemm.h).
 *
 * The scheme of gemm_q4_0.c with the quants unpacked: a K chunk of an
 * 8-row band is re-laid out into "q5_0x8" blocks, the 8 fp16 scales then 8
 * vectors where 32-bit lane r of vector g holds elements 4g..4g+3 of row r
 * as bytes 0..31 (nibble | fifth bit << 4; unpacked with SIMD, one row per
 * vector, then an 8x8 transpose of 32-bit lanes). One maddubs against 4
 * activation bytes broadcast to every lane advances the 8 row dots. Four
 * maddubs add up in int16 (4 * 2 * 31 * 127 = 31496 < 32768), so a block
 * takes two madds to int32; the Q5_0 offset of 16 is removed with the
 * activation block's precomputed sum (the GEMM layout's int16 per block,
 * as for Q4_0). The integer part is exactly the scalar kernel's.
 */
#include <string.h>

#include "kernels/avx2/avx2.h"
#include "kernels/gemm.h"

/* 32 blocks * 272 B = 8.5 KiB of re-laid weights per K chunk, beside 4
 * activation rows' 32 blocks (4.3 KiB). */
#define KC 32

typedef struct {
    slm_fp16 d[8];     /* scale of rows 0..7 */
    uint8_t q[8][32];  /* [g][4r + c] = row r's element 4g + c, 0..31 */
} q5_0x8;

/* Rows past n_rows repeat row 0 (results dropped), so nothing outside the
 * band is read. */
static void relayout(q5_0x8 *out, const uint8_t *w, size_t ws, int64_t n_rows, int64_t b0, int64_t nb)
{
    const slm_block_q5_0 *src[8];
    for (int r = 0; r < 8; r++) src[r] = (const slm_block_q5_0 *)(w + (r < n_rows ? (size_t)r * ws : 0)) + b0;
    const __m256i five = _mm256_set1_epi8(0x10);
    for (int64_t b = 0; b < nb; b++) {
        __m256i v[8];
        for (int r = 0; r < 8; r++) {
            out[b].d[r] = src[r][b].d;
            v[r] = _mm256_or_si256(slm_avx2_nibbles32(src[r][b].qs),
                                   _mm256_and_si256(slm_avx2_bits32(src[r][b].qh), five));
        }
        slm_avx2_transpose8x32(v);
        for (int g = 0; g < 8; g++) _mm256_storeu_si256((__m256i *)out[b].q[g], v[g]);
    }
}

/* acc[k] += 8 row dots of chunk blocks [0, nb) with activation rows a[k]. */
static void tile(const q5_0x8 *wb, int64_t nb, const slm_block_q8_0 *const a[4],
                 const int16_t *const sums[4], __m256 acc[4])
{
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; b++) {
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb[b].d));
        __m256i r[8];
        SLM_UNROLL
        for (int g = 0; g < 8; g++) r[g] = _mm256_loadu_si256((const __m256i *)wb[b].q[g]);
        SLM_UNROLL
        for (int k = 0; k < 4; k++) {
            const int8_t *y = a[k][b].qs;
            __m256i s0 = _mm256_maddubs_epi16(r[0], slm_avx2_bcast4(y));
            __m256i s1 = _mm256_maddubs_epi16(r[4], slm_avx2_bcast4(y + 16));
            SLM_UNROLL
            for (int g = 1; g < 4; g++) {
                s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(r[g], slm_avx2_bcast4(y + 4 * g)));
                s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(r[g + 4], slm_avx2_bcast4(y + 16 + 4 * g)));
            }
            const __m256i i32 = _mm256_sub_epi32(_mm256_add_epi32(_mm256_madd_epi16(s0, ones), _mm256_madd_epi16(s1, ones)),
                                                 _mm256_set1_epi32(16 * sums[k][b]));
            const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(slm_avx2_h2f(a[k][b].d)));
            acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), d, acc[k]);
        }
    }
}

void slm_gemm_q5_0_q8_0_avx2(int64_t n, const void *w, size_t ws, int64_t n_rows, const void *a,
                             size_t as, int64_t n_act, float *y, size_t ldy)
{
    const int64_t nb = n / SLM_QK5_0;
    const size_t sums_off = slm_gemm_q8_0_sums_offset(n);
    q5_0x8 buf[KC];
    for (int64_t r0 = 0; r0 < n_rows; r0 += 8) {
        const int64_t nr = n_rows - r0 < 8 ? n_rows - r0 : 8;
        const uint8_t *wr = (const uint8_t *)w + (size_t)r0 * ws;
        for (int64_t b0 = 0; b0 < nb; b0 += KC) {
            const int64_t kc = nb - b0 < KC ? nb - b0 : KC;
            relayout(buf, wr, ws, nr, b0, kc);
            for (int64_t t = 0; t < n_act; t += 4) {
                const int na = n_act - t < 4 ? (int)(n_act - t) : 4;
                const uint8_t *ar[4];
                slm_avx2_rows4((const uint8_t *)a + (size_t)t * as, as, na, ar);
                const slm_block_q8_0 *ab[4];
                const int16_t *sb[4];
                for (int k = 0; k < 4; k++) {
                    ab[k] = (const slm_block_q8_0 *)ar[k] + b0;
                    sb[k] = (const int16_t *)(ar[k] + sums_off) + b0;
                }
                float *yt = y + (size_t)t * ldy + r0;
                __m256 acc[4];
                slm_avx2_gemm_acc_load(acc, yt, ldy, nr, na, b0 > 0);
                tile(buf, kc, ab, sb, acc);
                slm_avx2_gemm_acc_store(acc, yt, ldy, nr, na);
            }
        }
    }
}
