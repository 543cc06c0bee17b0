/* batch_q.c — AVX2 few-row kernels (batch.h): one weight row at a time
 * against NA = 1..4 activation rows, NA fixed at compile time so the
 * accumulators stay in registers and no padded lane is computed (the x4
 * kernels always run 4).
 *
 * Per block the weight is decoded once; per (block, activation row) the
 * work is one maddubs, one madd, one int->float conversion and one fma,
 * plus a broadcast of the activation's F32 scale from the extended row and
 * one multiply by the weight scale. Q5_0 keeps its quants unsigned (0..31)
 * and takes the offset off in int16 pairs precomputed per activation
 * block (one subtract with a memory operand), so the block's integer dot
 * is exact. Q8_0 moves the weight's sign onto the activation
 * (maddubs wants one unsigned operand), as vec_dot does. Two accumulator
 * sets alternate between even and odd blocks: with NA = 1 or 2 a single
 * fma chain would wait on its own latency.
 */
#include "kernels/avx2/avx2.h"
#include "kernels/batch.h"

#define NA_MAX 4

typedef struct {
    const slm_block_q8_0 *b[NA_MAX]; /* blocks of activation row k */
    const float *d[NA_MAX];          /* F32 block scales */
    const int16_t *c[NA_MAX];        /* 16 int16 offset pairs per block */
} act_rows;

static inline void act_rows_init(act_rows *ar, const void *a, size_t as, int64_t n, int na)
{
    const size_t ext = slm_batch_ext_offset(n);
    const int64_t nb = n / SLM_QK8_0;
    for (int k = 0; k < na; k++) {
        const uint8_t *row = (const uint8_t *)a + (size_t)k * as;
        ar->b[k] = (const slm_block_q8_0 *)row;
        ar->d[k] = (const float *)(row + ext);
        ar->c[k] = (const int16_t *)((const float *)(row + ext) + nb);
    }
}

static inline __m256i q5_quants(const slm_block_q5_0 *b)
{
    const __m256i hi = _mm256_and_si256(slm_avx2_bits32(b->qh), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(slm_avx2_nibbles32(b->qs), hi);
}

/* acc[k] += block i of weight row w . block i of activation row k */
__attribute__((always_inline)) static inline void q5_0_block(const slm_block_q5_0 *w, int64_t i,
                                                             const act_rows *ar, __m256 *acc, const int na)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i q = q5_quants(&w[i]);
    const __m256 dw = _mm256_set1_ps(slm_avx2_h2f(w[i].d));
    SLM_UNROLL
    for (int k = 0; k < na; k++) {
        const __m256i yq = _mm256_loadu_si256((const __m256i *)ar->b[k][i].qs);
        /* pairs: |q . y| <= 2 * 31 * 127, |offset| <= 2 * 16 * 128: no overflow */
        const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, yq),
                                           _mm256_loadu_si256((const __m256i *)(ar->c[k] + 16 * i)));
        const __m256i s = _mm256_madd_epi16(p, ones);
        const __m256 d = _mm256_mul_ps(dw, _mm256_broadcast_ss(&ar->d[k][i]));
        acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), d, acc[k]);
    }
}

__attribute__((always_inline)) static inline void q8_0_block(const slm_block_q8_0 *w, int64_t i,
                                                             const act_rows *ar, __m256 *acc, const int na)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i x = _mm256_loadu_si256((const __m256i *)w[i].qs);
    const __m256i ax = _mm256_sign_epi8(x, x);
    const __m256 dw = _mm256_set1_ps(slm_avx2_h2f(w[i].d));
    SLM_UNROLL
    for (int k = 0; k < na; k++) {
        const __m256i sy = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)ar->b[k][i].qs), x);
        const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), ones);
        const __m256 d = _mm256_mul_ps(dw, _mm256_broadcast_ss(&ar->d[k][i]));
        acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), d, acc[k]);
    }
}

/* Row w against na activation rows, even and odd blocks into separate
 * accumulators (written out, not indexed by parity: an index computed at
 * run time would put the accumulators on the stack). */
#define ROW_FN(name, blk, block_fn)                                                                  \
    __attribute__((always_inline)) static inline void name(int64_t nb, const blk *w, const act_rows *ar, \
                                                           float *y, size_t ldy, const int na)       \
    {                                                                                                \
        __m256 acc0[NA_MAX], acc1[NA_MAX];                                                           \
        SLM_UNROLL                                                                                   \
        for (int k = 0; k < NA_MAX; k++) acc0[k] = acc1[k] = _mm256_setzero_ps();                    \
        int64_t i = 0;                                                                               \
        for (; i + 1 < nb; i += 2) {                                                                 \
            block_fn(w, i, ar, acc0, na);                                                            \
            block_fn(w, i + 1, ar, acc1, na);                                                        \
        }                                                                                            \
        if (i < nb) block_fn(w, i, ar, acc0, na);                                                    \
        for (int k = 0; k < na; k++) y[(size_t)k * ldy] = slm_avx2_hsum_ps(_mm256_add_ps(acc0[k], acc1[k])); \
    }

ROW_FN(q5_0_row, slm_block_q5_0, q5_0_block)
ROW_FN(q8_0_row, slm_block_q8_0, q8_0_block)

/* Per weight row, every group of 4 activation rows, then the rest: the
 * row is read from memory once and stays in L1 for the later groups. */
#define BATCH_KERNEL(name, blk, row_fn)                                                              \
    void name(int64_t n, const void *w, size_t ws, int64_t n_rows, const void *a, size_t as,         \
              int64_t n_act, float *y, size_t ldy)                                                   \
    {                                                                                                \
        const int64_t nb = n / SLM_QK8_0;                                                            \
        for (int64_t r = 0; r < n_rows; r++) {                                                       \
            const blk *wr = (const blk *)((const uint8_t *)w + (size_t)r * ws);                      \
            for (int64_t t = 0; t < n_act; t += NA_MAX) {                                            \
                const int na = n_act - t < NA_MAX ? (int)(n_act - t) : NA_MAX;                       \
                act_rows ar;                                                                         \
                act_rows_init(&ar, (const uint8_t *)a + (size_t)t * as, as, n, na);                  \
                float *yt = y + (size_t)t * ldy + r;                                                 \
                switch (na) {                                                                        \
                case 1: row_fn(nb, wr, &ar, yt, ldy, 1); break;                                      \
                case 2: row_fn(nb, wr, &ar, yt, ldy, 2); break;                                      \
                case 3: row_fn(nb, wr, &ar, yt, ldy, 3); break;                                      \
                default: row_fn(nb, wr, &ar, yt, ldy, 4); break;                                     \
                }                                                                                    \
            }                                                                                        \
        }                                                                                            \
    }

BATCH_KERNEL(slm_batch_q5_0_q8_0_avx2, slm_block_q5_0, q5_0_row)
BATCH_KERNEL(slm_batch_q8_0_q8_0_avx2, slm_block_q8_0, q8_0_row)
