/* batch.h — kernels for a few activation rows (2..7: one decode step of
 * continuous batching over a few sequences), next to the per-row table of
 * kernels.h and the tile GEMMs of gemm.h.
 *
 * At 2..4 activation rows the tile GEMM's re-layout of each weight band is
 * paid for too few rows, and vec_dot_x4 always computes 4 lanes and spends
 * most of its per-row work on things that depend on the activation alone
 * (its fp16 scale, the Q5_0 offset term). These kernels walk one weight
 * row at a time, decode each block once, and take from an extended
 * activation row the per-block values that do not depend on the weight:
 *
 *   row bytes [0, q8)        the Q8_0 blocks (what every Q8_0 reader reads)
 *   [q8, q8 + 2 nb)          int16 per block: gemm.h's sums (left alone)
 *   [ext, ext + 4 nb)        float per block: the block scale d as F32
 *   [ext + 4 nb, ext + 36 nb) 16 int16 per block: 16 (y_2j + y_2j+1), the
 *                            Q5_0 offset term as maddubs pairs it:
 *                            (q - 16) . y = q . y - sum_j 16 (y_2j + y_2j+1)
 *
 * with nb = n / 32, q8 = 34 nb, ext = 36 nb (4-aligned since n % 32 == 0):
 * 72 bytes per 32 elements, within matmul's 4 bytes per element. Results
 * equal vec_dot per (row, activation) up to float summation order; the
 * integer part of every block is exact. The scalar vec_dot is the oracle
 * (tests/test_batch_kernels.c).
 */
#ifndef SLM_KERNELS_BATCH_H
#define SLM_KERNELS_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/gemm.h"
#include "quant/types.h"

/* Y[t * ldy + r] = W_r . A_t for r < n_rows, t < n_act (any n_act >= 1;
 * best for 2..4), activation rows in the layout above. Same signature as
 * slm_gemm_fn. */
typedef slm_gemm_fn slm_batch_fn;

/* The few-row kernel for weight type t under the active kernel level
 * (SLM_ISA respected), or NULL. SLM_BATCH=off in the environment always
 * gives NULL (A/B runs). AVX2: Q5_0 and Q8_0. */
slm_batch_fn slm_batch_get(slm_type t);

/* Bytes of an extended activation row of n elements (0 if n % 32). */
size_t slm_batch_act_bytes(int64_t n);

/* Fill the per-block F32 scales and offset pairs of a row whose Q8_0
 * blocks are already written. */
void slm_batch_act_extend(void *row, int64_t n);

static inline size_t slm_batch_ext_offset(int64_t n)
{
    return (size_t)(n / SLM_QK8_0) * (sizeof(slm_block_q8_0) + sizeof(int16_t));
}

#if SLM_HAVE_X86
void slm_batch_q5_0_q8_0_avx2(int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                              const void *a, size_t a_stride, int64_t n_act, float *y, size_t ldy);
void slm_batch_q8_0_q8_0_avx2(int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                              const void *a, size_t a_stride, int64_t n_act, float *y, size_t ldy);
#endif

#endif
