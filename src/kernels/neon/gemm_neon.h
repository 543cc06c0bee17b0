/* gemm_neon.h — private to kernels/neon/: the part of the AArch64 tile GEMMs
 * (gemm.h) shared by gemm_dotprod.c (SDOT) and gemm_i8mm.c (SMMLA).
 *
 * Q4_0 and Q8_0 weights (Q8_0 activations) both become int8 blocks: a
 * band of 4 weight rows, one K chunk of GEMM_KC blocks at a time, is
 * decoded (Q4_0: q - 8) and re-laid out by the includer's pack function in
 * a stack buffer (stays in L1, no resident copy), then every tile of 4
 * activation rows runs over it with the 4 row results in one vector.
 * Integer sums are exact (|q| <= 128, 32 products per block); the float
 * work is one multiply-add per (block, row, activation), so results equal
 * vec_dot's up to float summation order.
 *
 * The includer defines, before including this file:
 *   GEMM_BLOCK            its re-laid block type (4 rows of one K block)
 *   GEMM_PACK(out, q, d)  fill *out from q[4][32] (int8) and d[4] (float)
 *   GEMM_TILE(buf, nb, a, out)  out[k][r] = sum over the nb blocks of
 *                         buf of row r . activation k (a[k]: Q8_0 blocks)
 * and gets gemm_run(n, w, ws, type, n_rows, a, as, n_act, y, ldy).
 */
#ifndef SLM_KERNELS_NEON_GEMM_NEON_H
#define SLM_KERNELS_NEON_GEMM_NEON_H

#include "kernels/gemm.h"
#include "kernels/neon/neon.h"

/* 32 blocks of 32: 1024 K elements (4.5-5 KiB re-laid) per chunk */
#define GEMM_KC 32

/* Block b of a weight row as 32 int8 (the value's integer part) and its scale. */
static inline void gemm_unpack(slm_type t, const uint8_t *row, int64_t b, int8_t q[32], float *d)
{
    if (t == SLM_TYPE_Q8_0) {
        const slm_block_q8_0 *x = (const slm_block_q8_0 *)row + b;
        vst1q_s8(q, vld1q_s8(x->qs));
        vst1q_s8(q + 16, vld1q_s8(x->qs + 16));
        *d = slm_neon_h2f(x->d);
    } else { /* Q4_0: low nibbles are elements 0..15, high 16..31 */
        const slm_block_q4_0 *x = (const slm_block_q4_0 *)row + b;
        const uint8x16_t v = vld1q_u8(x->qs);
        const int8x16_t eight = vdupq_n_s8(8);
        vst1q_s8(q, vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f))), eight));
        vst1q_s8(q + 16, vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), eight));
        *d = slm_neon_h2f(x->d);
    }
}
#endif

#ifdef GEMM_BLOCK
static void gemm_run(int64_t n, const void *w, size_t ws, slm_type type, int64_t n_rows, const void *a,
                     size_t as, int64_t n_act, float *y, size_t ldy)
{
    const int64_t nb = n / SLM_QK8_0;
    GEMM_BLOCK buf[GEMM_KC];
    for (int64_t r0 = 0; r0 < n_rows; r0 += 4) {
        const int nr = n_rows - r0 < 4 ? (int)(n_rows - r0) : 4;
        const uint8_t *wr = (const uint8_t *)w + (size_t)r0 * ws;
        for (int64_t b0 = 0; b0 < nb; b0 += GEMM_KC) {
            const int64_t kc = nb - b0 < GEMM_KC ? nb - b0 : GEMM_KC;
            for (int64_t b = 0; b < kc; b++) {
                int8_t q[4][32];
                float d[4];
                /* rows past the band's end repeat row 0 (results dropped) */
                for (int r = 0; r < 4; r++) gemm_unpack(type, wr + (size_t)(r < nr ? r : 0) * ws, b0 + b, q[r], &d[r]);
                GEMM_PACK(&buf[b], q, d);
            }
            for (int64_t t = 0; t < n_act; t += 4) {
                const int na = n_act - t < 4 ? (int)(n_act - t) : 4;
                const slm_block_q8_0 *ab[4];
                for (int k = 0; k < 4; k++)
                    ab[k] = (const slm_block_q8_0 *)((const uint8_t *)a + (size_t)(t + (k < na ? k : 0)) * as) + b0;
                float out[4][4];
                GEMM_TILE(buf, kc, ab, out);
                for (int k = 0; k < na; k++) {
                    float *yk = y + (size_t)(t + k) * ldy + r0;
                    for (int r = 0; r < nr; r++) yk[r] = b0 ? yk[r] + out[k][r] : out[k][r];
                }
            }
        }
    }
}
#endif
