/* kernels.h — the table of compute kernels, filled once at startup.
 *
 * scalar/ implements every entry and is the oracle; each ISA folder
 * (avx2/, avx512/, neon/) overwrites only the entries it speeds up, in
 * ascending order of capability, as cpu.c detects them. SLM_ISA=scalar|avx2|
 * avx512 (x86) or scalar|neon|dotprod (ARM) in the environment caps the
 * level (tests and A/B runs); SLM_ROWS4=off drops the vec_dot_r4 entries
 * (A/B runs of token generation). Kernels are
 * pure functions: no allocation, no global state, no threads of their own.
 */
#ifndef SLM_KERNELS_H
#define SLM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "quant/types.h"

/* Dot product of one weight row (type t, n elements) with one activation row
 * already converted to traits(t)->vec_dot_type: *s = sum_i w[i] * a[i]. */
typedef void (*slm_vec_dot_fn)(int64_t n, float *s, const void *w, const void *a);

/* Convert an F32 activation row to an activation type (Q8_0, Q8_K, F16,
 * BF16, F32 copy). n a multiple of that type's block size. Must round
 * exactly as llama.cpp does (see ../shared/testdata/README.md section 4). */
typedef void (*slm_act_quant_fn)(const float *x, void *y, int64_t n);

/* Optional, for batches of activation rows (prompt processing): one weight
 * row w against n_act (1..4) activation rows, the c-th at a + c * a_stride
 * bytes: s[c * s_stride] = w . a_c. Same result as vec_dot on each row up to
 * float summation order; each weight block is decoded once for all rows.
 * A NULL entry means: call vec_dot once per activation row. */
typedef void (*slm_vec_dot_x4_fn)(int64_t n, float *s, size_t s_stride, const void *w,
                                  const void *a, size_t a_stride, int n_act);

/* Optional, for one activation row (token generation): four weight rows,
 * the r-th at w + r * w_stride bytes, against one activation row:
 * s[r] = w_r . a, r = 0..3. Same result as vec_dot on each row up to float
 * summation order; each activation block is loaded once for the four rows.
 * A NULL entry means: call vec_dot once per weight row. */
typedef void (*slm_vec_dot_r4_fn)(int64_t n, float *s, const void *w, size_t w_stride, const void *a);

typedef struct slm_kernels {
    const char *isa;                          /* "scalar", "avx2", ... */
    slm_vec_dot_fn vec_dot[SLM_TYPE_COUNT];   /* indexed by weight type */
    slm_act_quant_fn quant_act[SLM_TYPE_COUNT]; /* indexed by activation type */
    slm_to_float_fn to_float[SLM_TYPE_COUNT]; /* fast dequantization (rows) */
    slm_vec_dot_x4_fn vec_dot_x4[SLM_TYPE_COUNT]; /* optional (NULL: vec_dot per row) */
    slm_vec_dot_r4_fn vec_dot_r4[SLM_TYPE_COUNT]; /* optional (NULL: vec_dot per row) */
} slm_kernels;

/* The active table (initialised on first call, thread-safe). */
const slm_kernels *slm_kernels_get(void);
/* The scalar table regardless of CPU (oracle for tests). */
const slm_kernels *slm_kernels_scalar(void);

/* Registration, called by dispatch.c in ascending order. */
void slm_kernels_init_scalar(slm_kernels *k);
void slm_kernels_add_avx2(slm_kernels *k);
void slm_kernels_add_avx512(slm_kernels *k);
void slm_kernels_add_neon(slm_kernels *k);         /* AArch64, ARMv7 with NEON+VFPv4 */
void slm_kernels_add_neon_dotprod(slm_kernels *k); /* AArch64 with SDOT (HWCAP_ASIMDDP) */

#endif
