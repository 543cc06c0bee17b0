/* gemm_q4_0.c — AVX2 tile GEMM, Q4_0 weights x Q8_0 activations (gemm.h).
 *
 * The weight band is re-laid out one K chunk at a time into a stack buffer
 * of "q4_0x8" blocks: the 8 fp16 scales of 8 rows, then 4 x 32 bytes where
 * byte 4r + c of vector h is byte 4h + c of row r's nibbles. The low
 * nibbles of vector h are elements 4h..4h+3 of every row, the high nibbles
 * elements 16+4h..; so after masking, each of 8 registers holds 4
 * consecutive elements of all 8 rows, and one maddubs against 4 activation
 * bytes broadcast to every lane advances all 8 dot products at once. The
 * 8 maddubs of a block add up in int16 without overflow (8 * 2 * 15 * 127
 * = 30480), one madd makes 8 int32 (one per row), and the Q4_0 offset of 8
 * is removed with the activation block's precomputed sum: the integer part
 * is exactly the scalar kernel's. Then one fma per (block, activation row)
 * for all 8 rows, where the per-row kernel needs about eight instructions
 * per (block, row, activation row).
 */
#include <string.h>

#include "kernels/avx2/avx2.h"
#include "kernels/gemm.h"

/* Blocks per K chunk: 64 * 144 B = 9 KiB of re-laid weights stay in L1
 * beside the 4 activation rows' 64 blocks (8.5 KiB). */
#define KC 64

typedef struct {
    slm_fp16 d[8];   /* scale of rows 0..7 */
    uint8_t q[4][32]; /* [h][4r + c] = row r's qs[4h + c] */
} q4_0x8;

/* Rows past n_rows repeat row 0 (results dropped), so nothing outside the
 * band is read. */
static void relayout(q4_0x8 *out, const uint8_t *w, size_t ws, int64_t n_rows, int64_t b0, int64_t nb)
{
    for (int r = 0; r < 8; r++) {
        const slm_block_q4_0 *src = (const slm_block_q4_0 *)(w + (r < n_rows ? (size_t)r * ws : 0)) + b0;
        for (int64_t b = 0; b < nb; b++) {
            out[b].d[r] = src[b].d;
            for (int h = 0; h < 4; h++) memcpy(&out[b].q[h][4 * r], src[b].qs + 4 * h, 4);
        }
    }
}

static inline __m256i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* acc[k] += 8 row dots of chunk blocks [0, nb) with activation rows a[k]. */
static void tile(const q4_0x8 *wb, int64_t nb, const slm_block_q8_0 *const a[4],
                 const int16_t *const sums[4], __m256 acc[4])
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; b++) {
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb[b].d));
        __m256i r[8];
        SLM_UNROLL
        for (int h = 0; h < 4; h++) {
            const __m256i p = _mm256_loadu_si256((const __m256i *)wb[b].q[h]);
            r[h] = _mm256_and_si256(p, m4);
            r[h + 4] = _mm256_and_si256(_mm256_srli_epi16(p, 4), m4);
        }
        SLM_UNROLL
        for (int k = 0; k < 4; k++) {
            const int8_t *y = a[k][b].qs;
            __m256i s = _mm256_maddubs_epi16(r[0], bcast4(y));
            SLM_UNROLL
            for (int g = 1; g < 8; g++) s = _mm256_add_epi16(s, _mm256_maddubs_epi16(r[g], bcast4(y + 4 * g)));
            const __m256i i32 = _mm256_sub_epi32(_mm256_madd_epi16(s, ones), _mm256_set1_epi32(8 * sums[k][b]));
            const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(slm_avx2_h2f(a[k][b].d)));
            acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), d, acc[k]);
        }
    }
}

void slm_gemm_q4_0_q8_0_avx2(int64_t n, const void *w, size_t ws, int64_t n_rows, const void *a,
                             size_t as, int64_t n_act, float *y, size_t ldy)
{
    const int64_t nb = n / SLM_QK4_0;
    const size_t sums_off = slm_gemm_q8_0_sums_offset(n);
    q4_0x8 buf[KC];
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
                if (nr == 8) {
                    for (int k = 0; k < 4; k++)
                        acc[k] = b0 && k < na ? _mm256_loadu_ps(yt + (size_t)k * ldy) : _mm256_setzero_ps();
                } else {
                    for (int k = 0; k < 4; k++) {
                        float tmp[8] = {0};
                        if (b0 && k < na) memcpy(tmp, yt + (size_t)k * ldy, (size_t)nr * sizeof(float));
                        acc[k] = _mm256_loadu_ps(tmp);
                    }
                }
                tile(buf, kc, ab, sb, acc);
                for (int k = 0; k < na; k++) {
                    if (nr == 8) {
                        _mm256_storeu_ps(yt + (size_t)k * ldy, acc[k]);
                    } else {
                        float tmp[8];
                        _mm256_storeu_ps(tmp, acc[k]);
                        memcpy(yt + (size_t)k * ldy, tmp, (size_t)nr * sizeof(float));
                    }
                }
            }
        }
    }
}
