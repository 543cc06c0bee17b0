/* gemm_q8_0.c — AVX2 tile GEMM, Q8_0 weights x Q8_0 activations (gemm.h).
 *
 * Same scheme as gemm_q4_0.c: a K chunk of an 8-row band is re-laid out in
 * a stack buffer so that one 32-bit lane holds 4 consecutive quants of one
 * row, and a broadcast of 4 activation bytes advances the 8 row dots at
 * once. Weights are signed, so the buffer keeps |q| (maddubs' unsigned
 * operand) and q (whose sign moves onto the activation, as
 * slm_avx2_dot_i8 does); a maddubs pair sum reaches 2 * 128 * 127 = 32512,
 * so each group goes to int32 on its own (two would overflow int16).
 */
#include <string.h>

#include "kernels/avx2/avx2.h"
#include "kernels/gemm.h"

/* 16 blocks * 528 B = 8.3 KiB of re-laid weights per K chunk. */
#define KC 16

typedef struct {
    slm_fp16 d[8];      /* scale of rows 0..7 */
    uint8_t aq[8][32];  /* [g][4r + c] = |row r's qs[4g + c]| */
    int8_t sq[8][32];   /* [g][4r + c] = row r's qs[4g + c] */
} q8_0x8;

static void relayout(q8_0x8 *out, const uint8_t *w, size_t ws, int64_t n_rows, int64_t b0, int64_t nb)
{
    for (int r = 0; r < 8; r++) {
        const slm_block_q8_0 *src = (const slm_block_q8_0 *)(w + (r < n_rows ? (size_t)r * ws : 0)) + b0;
        for (int64_t b = 0; b < nb; b++) {
            out[b].d[r] = src[b].d;
            for (int g = 0; g < 8; g++) memcpy(&out[b].sq[g][4 * r], src[b].qs + 4 * g, 4);
        }
    }
    for (int64_t b = 0; b < nb; b++)
        for (int g = 0; g < 8; g++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)out[b].sq[g]);
            _mm256_storeu_si256((__m256i *)out[b].aq[g], _mm256_abs_epi8(q));
        }
}

static inline __m256i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

static void tile(const q8_0x8 *wb, int64_t nb, const slm_block_q8_0 *const a[4], __m256 acc[4])
{
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; b++) {
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb[b].d));
        SLM_UNROLL
        for (int k = 0; k < 4; k++) {
            const int8_t *y = a[k][b].qs;
            __m256i s = _mm256_setzero_si256();
            SLM_UNROLL
            for (int g = 0; g < 8; g++) {
                const __m256i sy = _mm256_sign_epi8(bcast4(y + 4 * g), _mm256_loadu_si256((const __m256i *)wb[b].sq[g]));
                const __m256i p = _mm256_maddubs_epi16(_mm256_loadu_si256((const __m256i *)wb[b].aq[g]), sy);
                s = _mm256_add_epi32(s, _mm256_madd_epi16(p, ones));
            }
            const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(slm_avx2_h2f(a[k][b].d)));
            acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), d, acc[k]);
        }
    }
}

void slm_gemm_q8_0_q8_0_avx2(int64_t n, const void *w, size_t ws, int64_t n_rows, const void *a,
                             size_t as, int64_t n_act, float *y, size_t ldy)
{
    const int64_t nb = n / SLM_QK8_0;
    q8_0x8 buf[KC];
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
                for (int k = 0; k < 4; k++) ab[k] = (const slm_block_q8_0 *)ar[k] + b0;
                float *yt = y + (size_t)t * ldy + r0;
                __m256 acc[4];
                for (int k = 0; k < 4; k++) {
                    float tmp[8] = {0};
                    if (b0 && k < na) memcpy(tmp, yt + (size_t)k * ldy, (size_t)nr * sizeof(float));
                    acc[k] = _mm256_loadu_ps(tmp);
                }
                tile(buf, kc, ab, acc);
                for (int k = 0; k < na; k++) {
                    float tmp[8];
                    _mm256_storeu_ps(tmp, acc[k]);
                    memcpy(yt + (size_t)k * ldy, tmp, (size_t)nr * sizeof(float));
                }
            }
        }
    }
}
