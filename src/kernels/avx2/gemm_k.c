/* gemm_k.c — AVX2 tile GEMM, Q4_K / Q5_K / Q6_K weights x Q8_K activations
 * (gemm.h).
 *
 * All three are "x = d sc q - dmin m" over 256-element super-blocks:
 *   Q4_K, Q5_K: 8 groups of 32, 6-bit sc and m, q 0..15 / 0..31;
 *   Q6_K: 16 groups of 16, int8 sc, q 0..63, x = d sc (q - 32), i.e.
 *         dmin = d and m = 32 sc per group of 16.
 * A K chunk of an 8-row band is re-laid out into "kx8" blocks: q unpacked
 * to bytes and interleaved so that 32-bit lane r of vector g holds elements
 * 4g..4g+3 of row r (SIMD unpack of each row, then 8x8 transposes of 32-bit
 * lanes), the group scales as int16 pairs (sc, sc) per row, the mins as
 * int16 pairs lined up with the Q8_K bsums (two 16-element sums), and d,
 * dmin as floats. One maddubs against 4 activation bytes broadcast to every
 * lane advances the 8 row dots; W maddubs add up in int16 before one madd
 * with the scale pairs widens them (W = 8, 4, 2: W * 2 * qmax * 128 <
 * 32768), and the mins meet the bsums in 8 madds per block. Per (block,
 * activation row) one fma for d and one for dmin cover all 8 rows. Integer
 * parts are exact: |sum sc q y| <= 256 * 63 * 128 * 128 < 2^31.
 */
#include <string.h>

#include "kernels/avx2/avx2.h"
#include "kernels/gemm.h"

/* 4 blocks * 2.9 KiB = 11.5 KiB of re-laid weights per K chunk, beside 4
 * activation rows' 4 blocks (4.6 KiB). */
#define KC 4

typedef struct {
    float d[8], dmin[8];      /* per row */
    int16_t sc[16][16];       /* [group][2r], [2r + 1]: scale of the group in row r */
    int16_t m[8][16];         /* [p][2r + e]: min of row r against bsums[2p + e] */
    uint8_t q[64][32];        /* [g][4r + c] = row r's element 4g + c */
} kx8;

/* Q4_K / Q5_K 6-bit scale and min of group j (0..7) from the 12 bytes. */
static inline void k4_scale_min(const uint8_t *s, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* Element order, 256 bytes: row r of block b unpacked into e. */
static inline void unpack_q4_k(const slm_block_q4_K *x, uint8_t *e)
{
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    for (int c = 0; c < 4; c++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * c));
        _mm256_storeu_si256((__m256i *)(e + 64 * c), _mm256_and_si256(q, low4));
        _mm256_storeu_si256((__m256i *)(e + 64 * c + 32), _mm256_and_si256(_mm256_srli_epi16(q, 4), low4));
    }
}

static inline void unpack_q5_k(const slm_block_q5_K *x, uint8_t *e)
{
    const __m256i low4 = _mm256_set1_epi8(0x0F), bit = _mm256_set1_epi8(0x01);
    const __m256i qh = _mm256_loadu_si256((const __m256i *)x->qh);
    for (int c = 0; c < 4; c++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * c));
        const __m256i hlo = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), bit), 4);
        const __m256i hhi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), bit), 4);
        _mm256_storeu_si256((__m256i *)(e + 64 * c), _mm256_or_si256(_mm256_and_si256(q, low4), hlo));
        _mm256_storeu_si256((__m256i *)(e + 64 * c + 32),
                            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4), hhi));
    }
}

/* Half h, k = 0..3: element 128h + 32k + l is nibble (k >= 2) of
 * ql[64h + 32(k & 1) + l] with bits 2k, 2k+1 of qh[32h + l] on top. */
static inline void unpack_q6_k(const slm_block_q6_K *x, uint8_t *e)
{
    const __m256i low4 = _mm256_set1_epi8(0x0F), low2 = _mm256_set1_epi8(0x03);
    for (int h = 0; h < 2; h++) {
        const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
        const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
        const __m256i lo[4] = {_mm256_and_si256(ql0, low4), _mm256_and_si256(ql1, low4),
                               _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                               _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4)};
        for (int k = 0; k < 4; k++) {
            const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), low2);
            _mm256_storeu_si256((__m256i *)(e + 128 * h + 32 * k), _mm256_or_si256(lo[k], _mm256_slli_epi16(hb, 4)));
        }
    }
}

/* Scales, mins and d of row r of one block into out. */
static inline void params_q4_k(kx8 *out, int r, slm_fp16 d, slm_fp16 dmin, const uint8_t *scales)
{
    out->d[r] = slm_avx2_h2f(d);
    out->dmin[r] = slm_avx2_h2f(dmin);
    for (int j = 0; j < 8; j++) {
        int sc, m;
        k4_scale_min(scales, j, &sc, &m);
        out->sc[j][2 * r] = out->sc[j][2 * r + 1] = (int16_t)sc;
        out->m[j][2 * r] = out->m[j][2 * r + 1] = (int16_t)m;
    }
}

static inline void params_q6_k(kx8 *out, int r, const slm_block_q6_K *x)
{
    out->d[r] = out->dmin[r] = slm_avx2_h2f(x->d);
    for (int g = 0; g < 16; g++) {
        out->sc[g][2 * r] = out->sc[g][2 * r + 1] = x->scales[g];
        out->m[g / 2][2 * r + (g & 1)] = (int16_t)(32 * x->scales[g]);
    }
}

enum { K_Q4, K_Q5, K_Q6 };

/* Blocks [b0, b0 + nb) of an 8-row band (rows past n_rows repeat row 0,
 * results dropped). */
static inline __attribute__((always_inline)) void relayout(kx8 *out, const uint8_t *w, size_t ws, int64_t n_rows,
                                                           int64_t b0, int64_t nb, int kind)
{
    const size_t bs = kind == K_Q4 ? sizeof(slm_block_q4_K) : kind == K_Q5 ? sizeof(slm_block_q5_K) : sizeof(slm_block_q6_K);
    _Alignas(32) uint8_t e[8][SLM_QK_K];
    for (int64_t b = 0; b < nb; b++) {
        for (int r = 0; r < 8; r++) {
            const uint8_t *x = w + (r < n_rows ? (size_t)r * ws : 0) + (size_t)(b0 + b) * bs;
            if (kind == K_Q4) {
                const slm_block_q4_K *q = (const slm_block_q4_K *)x;
                params_q4_k(&out[b], r, q->d, q->dmin, q->scales);
                unpack_q4_k(q, e[r]);
            } else if (kind == K_Q5) {
                const slm_block_q5_K *q = (const slm_block_q5_K *)x;
                params_q4_k(&out[b], r, q->d, q->dmin, q->scales);
                unpack_q5_k(q, e[r]);
            } else {
                const slm_block_q6_K *q = (const slm_block_q6_K *)x;
                params_q6_k(&out[b], r, q);
                unpack_q6_k(q, e[r]);
            }
        }
        for (int v = 0; v < 8; v++) {
            __m256i t[8];
            for (int r = 0; r < 8; r++) t[r] = _mm256_load_si256((const __m256i *)(e[r] + 32 * v));
            slm_avx2_transpose8x32(t);
            for (int g = 0; g < 8; g++) _mm256_storeu_si256((__m256i *)out[b].q[8 * v + g], t[g]);
        }
    }
}

/* acc[k] += 8 row dots of chunk blocks [0, nb) with activation rows a[k].
 * W maddubs per widening, GS elements per scale group. */
static inline __attribute__((always_inline)) void tile(const kx8 *wb, int64_t nb, const slm_block_q8_K *const a[4],
                                                       __m256 acc[4], const int W, const int GS)
{
    for (int64_t b = 0; b < nb; b++) {
        __m256i isum[4], msum[4];
        SLM_UNROLL
        for (int k = 0; k < 4; k++) isum[k] = msum[k] = _mm256_setzero_si256();
        for (int c = 0; c < 64 / W; c++) {
            __m256i s[4];
            SLM_UNROLL
            for (int k = 0; k < 4; k++) s[k] = _mm256_setzero_si256();
            SLM_UNROLL
            for (int u = 0; u < W; u++) {
                const int g = c * W + u;
                const __m256i q = _mm256_loadu_si256((const __m256i *)wb[b].q[g]);
                SLM_UNROLL
                for (int k = 0; k < 4; k++) {
                    s[k] = _mm256_add_epi16(s[k], _mm256_maddubs_epi16(q, slm_avx2_bcast4(a[k][b].qs + 4 * g)));
                    /* opaque to GCC's reassociation, which otherwise turns
                     * the 4 chains into one tree of all W * 4 maddubs and
                     * spills them (measured) */
                    __asm__("" : "+x"(s[k]));
                }
            }
            const __m256i sc = _mm256_loadu_si256((const __m256i *)wb[b].sc[c * W * 4 / GS]);
            SLM_UNROLL
            for (int k = 0; k < 4; k++) isum[k] = _mm256_add_epi32(isum[k], _mm256_madd_epi16(s[k], sc));
        }
        SLM_UNROLL
        for (int p = 0; p < 8; p++) {
            const __m256i m = _mm256_loadu_si256((const __m256i *)wb[b].m[p]);
            SLM_UNROLL
            for (int k = 0; k < 4; k++)
                msum[k] = _mm256_add_epi32(msum[k], _mm256_madd_epi16(m, slm_avx2_bcast4(a[k][b].bsums + 2 * p)));
        }
        const __m256 d = _mm256_loadu_ps(wb[b].d), dmin = _mm256_loadu_ps(wb[b].dmin);
        SLM_UNROLL
        for (int k = 0; k < 4; k++) {
            const __m256 da = _mm256_set1_ps(a[k][b].d);
            acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[k]), _mm256_mul_ps(d, da), acc[k]);
            acc[k] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum[k]), _mm256_mul_ps(dmin, da), acc[k]);
        }
    }
}

static inline __attribute__((always_inline)) void gemm_k(int64_t n, const void *w, size_t ws, int64_t n_rows,
                                                         const void *a, size_t as, int64_t n_act, float *y,
                                                         size_t ldy, int kind)
{
    const int64_t nb = n / SLM_QK_K;
    kx8 buf[KC];
    for (int64_t r0 = 0; r0 < n_rows; r0 += 8) {
        const int64_t nr = n_rows - r0 < 8 ? n_rows - r0 : 8;
        const uint8_t *wr = (const uint8_t *)w + (size_t)r0 * ws;
        for (int64_t b0 = 0; b0 < nb; b0 += KC) {
            const int64_t kc = nb - b0 < KC ? nb - b0 : KC;
            relayout(buf, wr, ws, nr, b0, kc, kind);
            for (int64_t t = 0; t < n_act; t += 4) {
                const int na = n_act - t < 4 ? (int)(n_act - t) : 4;
                const uint8_t *ar[4];
                slm_avx2_rows4((const uint8_t *)a + (size_t)t * as, as, na, ar);
                const slm_block_q8_K *ab[4];
                for (int k = 0; k < 4; k++) ab[k] = (const slm_block_q8_K *)ar[k] + b0;
                float *yt = y + (size_t)t * ldy + r0;
                __m256 acc[4];
                slm_avx2_gemm_acc_load(acc, yt, ldy, nr, na, b0 > 0);
                if (kind == K_Q4) tile(buf, kc, ab, acc, 8, 32);
                else if (kind == K_Q5) tile(buf, kc, ab, acc, 4, 32);
                else tile(buf, kc, ab, acc, 2, 16);
                slm_avx2_gemm_acc_store(acc, yt, ldy, nr, na);
            }
        }
    }
}

void slm_gemm_q4_k_q8_k_avx2(int64_t n, const void *w, size_t ws, int64_t n_rows, const void *a, size_t as,
                             int64_t n_act, float *y, size_t ldy)
{
    gemm_k(n, w, ws, n_rows, a, as, n_act, y, ldy, K_Q4);
}

void slm_gemm_q5_k_q8_k_avx2(int64_t n, const void *w, size_t ws, int64_t n_rows, const void *a, size_t as,
                             int64_t n_act, float *y, size_t ldy)
{
    gemm_k(n, w, ws, n_rows, a, as, n_act, y, ldy, K_Q5);
}

void slm_gemm_q6_k_q8_k_avx2(int64_t n, const void *w, size_t ws, int64_t n_rows, const void *a, size_t as,
                             int64_t n_act, float *y, size_t ldy)
{
    gemm_k(n, w, ws, n_rows, a, as, n_act, y, ldy, K_Q6);
}
