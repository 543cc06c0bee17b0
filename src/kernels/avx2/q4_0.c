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

/* 16 packed nibble bytes -> 32 bytes 0..15 (low nibbles, then high), from
 * one 128-bit broadcast load: the upper half is shifted right by 4 before
 * the mask, so no cross-lane insert is needed. */
static inline __m256i nibbles32_bcast(const uint8_t *p)
{
    const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
    return _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0F));
}

/* acc + d * (q - 8) . y for one block: m8 = maddubs(8, y) */
static inline __m256 r4_step(__m256 acc, const uint8_t *qs, __m256i y, __m256i m8, __m256 d)
{
    const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(nibbles32_bcast(qs), y), m8);
    return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1))), acc);
}

/* Four weight rows (ws bytes apart) against one activation row: each
 * activation block is loaded once, and its -8 term maddubs(8, y) and scale
 * are shared by the four rows; the row scales of two blocks are converted
 * in one instruction, and the four sums come out of one horizontal-add
 * tree. Four interleaved row streams defeat the hardware prefetcher (from
 * L3/DRAM this ran at 0.65x of four vec_dot calls without the software
 * prefetch below, 1.1-1.3x with it; bench/bench_kernels, 2048 x 8192 and
 * x 32768 Q4_0, thread CPU time). */
void slm_vec_dot_r4_q4_0_q8_0_avx2(int64_t n, float *s, const void *vw, size_t ws, const void *va)
{
    const slm_block_q4_0 *w0 = vw;
    const slm_block_q4_0 *w1 = (const slm_block_q4_0 *)((const uint8_t *)vw + ws);
    const slm_block_q4_0 *w2 = (const slm_block_q4_0 *)((const uint8_t *)vw + 2 * ws);
    const slm_block_q4_0 *w3 = (const slm_block_q4_0 *)((const uint8_t *)vw + 3 * ws);
    const slm_block_q8_0 *a = va;
    const int64_t nb = n / SLM_QK4_0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        /* the same blocks two groups of four rows ahead (one group ahead:
         * 1.06-1.10x, two: 1.13-1.33x) */
        _mm_prefetch((const char *)(w0 + i) + 8 * ws, _MM_HINT_T0);
        _mm_prefetch((const char *)(w1 + i) + 8 * ws, _MM_HINT_T0);
        _mm_prefetch((const char *)(w2 + i) + 8 * ws, _MM_HINT_T0);
        _mm_prefetch((const char *)(w3 + i) + 8 * ws, _MM_HINT_T0);
        /* lanes 0..3: rows 0..3 of block i; lanes 4..7: of block i + 1 */
        const __m256 dw = _mm256_cvtph_ps(_mm_setr_epi16(
            (short)w0[i].d, (short)w1[i].d, (short)w2[i].d, (short)w3[i].d,
            (short)w0[i + 1].d, (short)w1[i + 1].d, (short)w2[i + 1].d, (short)w3[i + 1].d));
        const __m256 d = _mm256_mul_ps(dw, _mm256_set_m128(_mm_set1_ps(slm_avx2_h2f(a[i + 1].d)),
                                                          _mm_set1_ps(slm_avx2_h2f(a[i].d))));
        const __m256 d_lo = _mm256_permute2f128_ps(d, d, 0x00), d_hi = _mm256_permute2f128_ps(d, d, 0x11);
        const __m256i y = _mm256_loadu_si256((const __m256i *)a[i].qs);
        const __m256i m8 = _mm256_maddubs_epi16(_mm256_set1_epi8(8), y);
        acc0 = r4_step(acc0, w0[i].qs, y, m8, _mm256_permute_ps(d_lo, 0x00));
        acc1 = r4_step(acc1, w1[i].qs, y, m8, _mm256_permute_ps(d_lo, 0x55));
        acc2 = r4_step(acc2, w2[i].qs, y, m8, _mm256_permute_ps(d_lo, 0xAA));
        acc3 = r4_step(acc3, w3[i].qs, y, m8, _mm256_permute_ps(d_lo, 0xFF));
        const __m256i y1 = _mm256_loadu_si256((const __m256i *)a[i + 1].qs);
        const __m256i m81 = _mm256_maddubs_epi16(_mm256_set1_epi8(8), y1);
        acc0 = r4_step(acc0, w0[i + 1].qs, y1, m81, _mm256_permute_ps(d_hi, 0x00));
        acc1 = r4_step(acc1, w1[i + 1].qs, y1, m81, _mm256_permute_ps(d_hi, 0x55));
        acc2 = r4_step(acc2, w2[i + 1].qs, y1, m81, _mm256_permute_ps(d_hi, 0xAA));
        acc3 = r4_step(acc3, w3[i + 1].qs, y1, m81, _mm256_permute_ps(d_hi, 0xFF));
    }
    for (; i < nb; i++) {
        const __m256i y = _mm256_loadu_si256((const __m256i *)a[i].qs);
        const __m256i m8 = _mm256_maddubs_epi16(_mm256_set1_epi8(8), y);
        const __m128 d4 = _mm_mul_ps(
            _mm_cvtph_ps(_mm_setr_epi16((short)w0[i].d, (short)w1[i].d, (short)w2[i].d, (short)w3[i].d, 0, 0, 0, 0)),
            _mm_set1_ps(slm_avx2_h2f(a[i].d)));
        const __m256 d = _mm256_set_m128(d4, d4);
        acc0 = r4_step(acc0, w0[i].qs, y, m8, _mm256_permute_ps(d, 0x00));
        acc1 = r4_step(acc1, w1[i].qs, y, m8, _mm256_permute_ps(d, 0x55));
        acc2 = r4_step(acc2, w2[i].qs, y, m8, _mm256_permute_ps(d, 0xAA));
        acc3 = r4_step(acc3, w3[i].qs, y, m8, _mm256_permute_ps(d, 0xFF));
    }
    /* lane r of each 128-bit half: the half-sum of row r */
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(acc0, acc1), _mm256_hadd_ps(acc2, acc3));
    _mm_storeu_ps(s, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}
