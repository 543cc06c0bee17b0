/* gemm.h — optional tile GEMM kernels for batches of activation rows
 * (prompt processing), next to the per-row table of kernels.h.
 *
 * A GEMM kernel multiplies a band of weight rows, read in place from the
 * mapped file, by many activation rows. It re-lays the band's blocks out in
 * a small stack buffer (8 rows interleaved, one K chunk at a time, so the
 * copy stays in L1 and costs nothing at load and no resident memory), then
 * runs each 8-row x 4-activation tile with all 8 row results in one vector.
 * Same result as vec_dot per (row, activation) pair up to float summation
 * order; the integer parts are exact. The scalar vec_dot is the oracle.
 */
#ifndef SLM_KERNELS_GEMM_H
#define SLM_KERNELS_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "quant/types.h"

/* Y[t * ldy + r] = W_r . A_t for r < n_rows, t < n_act. Weight row r (n
 * elements) at w + r * w_stride; activation row t at a + t * a_stride, in
 * the GEMM activation layout of slm_gemm_act_bytes (the vec_dot type's
 * blocks, then the per-block sums written by slm_gemm_act_sums, which
 * kernels that do not need them ignore). */
typedef void (*slm_gemm_fn)(int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                            const void *a, size_t a_stride, int64_t n_act, float *y, size_t ldy);

/* The GEMM kernel for weight type t under the active kernel level
 * (SLM_ISA respected), or NULL: then use vec_dot / vec_dot_x4. SLM_GEMM=off
 * in the environment always gives NULL (A/B runs). */
slm_gemm_fn slm_gemm_get(slm_type t);

/* Bytes of one GEMM activation row of n elements for weight type t: the
 * vec_dot type's row followed by one int16 per block (sum of its quants)
 * for Q4_0 and Q5_0; the Q8_K row as it is for Q4_K, Q5_K, Q6_K (they use
 * its bsums); the F32 row for F16 and BF16 (see slm_gemm_act_type).
 * 0 if t has no GEMM layout. Never more than 4 * n + 64. */
size_t slm_gemm_act_bytes(slm_type t, int64_t n);

/* The type the GEMM of weight type t reads its activation rows as: F32
 * for F16 and BF16 weights (F32 rows holding the values of the vec_dot
 * type's rounding, so the tile needs no conversion), else the vec_dot
 * type. */
slm_type slm_gemm_act_type(slm_type t);

/* Convert F32 row x (n elements) to the GEMM activation layout of weight
 * type t (slm_gemm_act_bytes(t, n) bytes at row): the active quant_act of
 * the vec_dot type plus the per-block sums; for F16 / BF16, x rounded to
 * F16 / BF16 exactly as the activation quantizer rounds, stored as F32.
 * Only for types that have a GEMM kernel (slm_gemm_get non-NULL). */
void slm_gemm_act_convert(slm_type t, const float *x, void *row, int64_t n);

/* Fill the per-block sums of a GEMM activation row whose blocks are
 * already quantized (Q8_0: sum of the 32 int8 of each block); a no-op for
 * the types that need none. */
void slm_gemm_act_sums(slm_type t, void *row, int64_t n);

/* Byte offset of the sums inside a Q8_0 GEMM activation row of n elements. */
static inline size_t slm_gemm_q8_0_sums_offset(int64_t n)
{
    return (size_t)(n / SLM_QK8_0) * sizeof(slm_block_q8_0);
}

#if SLM_HAVE_X86
void slm_gemm_q4_0_q8_0_avx2(int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                             const void *a, size_t a_stride, int64_t n_act, float *y, size_t ldy);
void slm_gemm_q8_0_q8_0_avx2(int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                             const void *a, size_t a_stride, int64_t n_act, float *y, size_t ldy);
void slm_gemm_q5_0_q8_0_avx2(int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                             const void *a, size_t a_stride, int64_t n_act, float *y, size_t ldy);
void slm_gemm_q4_k_q8_k_avx2(int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                             const void *a, size_t a_stride, int64_t n_act, float *y, size_t ldy);
void slm_gemm_q5_k_q8_k_avx2(int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                             const void *a, size_t a_stride, int64_t n_act, float *y, size_t ldy);
void slm_gemm_q6_k_q8_k_avx2(int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                             const void *a, size_t a_stride, int64_t n_act, float *y, size_t ldy);
void slm_gemm_f16_f32_avx2(int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                           const void *a, size_t a_stride, int64_t n_act, float *y, size_t ldy);
void slm_gemm_act_f16_avx2(const float *x, float *y, int64_t n);
void slm_gemm_act_bf16_avx2(const float *x, float *y, int64_t n);
void slm_gemm_bf16_f32_avx2(int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                            const void *a, size_t a_stride, int64_t n_act, float *y, size_t ldy);
#endif

#if SLM_HAVE_NEON_DOTPROD
/* AArch64 (kernels/neon/gemm_dotprod.c, gemm_i8mm.c): Q4_0 and Q8_0 with
 * SDOT at the dotprod level, with SMMLA at the i8mm level. */
void slm_gemm_q4_0_q8_0_dotprod(int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                                const void *a, size_t a_stride, int64_t n_act, float *y, size_t ldy);
void slm_gemm_q8_0_q8_0_dotprod(int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                                const void *a, size_t a_stride, int64_t n_act, float *y, size_t ldy);
void slm_gemm_q4_0_q8_0_i8mm(int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                             const void *a, size_t a_stride, int64_t n_act, float *y, size_t ldy);
void slm_gemm_q8_0_q8_0_i8mm(int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                             const void *a, size_t a_stride, int64_t n_act, float *y, size_t ldy);
#endif

#endif
