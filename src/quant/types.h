/* types.h — the weight types: block layouts bit-identical to ggml's (so real
 * GGUF files load), fp16/bf16 conversion, and the per-type traits table.
 *
 * A quantized row of n elements is n / block_size consecutive blocks. Each
 * block struct carries its math in a comment and a size check. The reference
 * quantizers (quant/<type>.c) are bit-exact with llama.cpp's
 * quantize_row_<type>_ref; the dequantizers are exact.
 */
#ifndef SLM_QUANT_TYPES_H
#define SLM_QUANT_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "slm.h"

typedef uint16_t slm_fp16; /* IEEE half, stored as bits */
typedef uint16_t slm_bf16; /* bfloat16, stored as bits */

#define SLM_QK4_0 32
#define SLM_QK4_1 32
#define SLM_QK5_0 32
#define SLM_QK5_1 32
#define SLM_QK8_0 32
#define SLM_QK8_1 32
#define SLM_QK_K 256
#define SLM_K_SCALE_SIZE 12
#define SLM_QK4_NL 32

/* Q4_0: x = d * (q - 8), q in 0..15; qs[j] low nibble = element j, high = j+16. 4.5 bpw */
typedef struct { slm_fp16 d; uint8_t qs[SLM_QK4_0 / 2]; } slm_block_q4_0;
_Static_assert(sizeof(slm_block_q4_0) == 18, "q4_0 block size");

/* Q4_1: x = d * q + m, q in 0..15. 5 bpw */
typedef struct { slm_fp16 d, m; uint8_t qs[SLM_QK4_1 / 2]; } slm_block_q4_1;
_Static_assert(sizeof(slm_block_q4_1) == 20, "q4_1 block size");

/* Q5_0: x = d * (q - 16), q 5 bits: low nibble in qs as Q4_0, bit 4 of element j in qh bit j. 5.5 bpw */
typedef struct { slm_fp16 d; uint8_t qh[4]; uint8_t qs[SLM_QK5_0 / 2]; } slm_block_q5_0;
_Static_assert(sizeof(slm_block_q5_0) == 22, "q5_0 block size");

/* Q5_1: x = d * q + m, q 5 bits as Q5_0. 6 bpw */
typedef struct { slm_fp16 d, m; uint8_t qh[4]; uint8_t qs[SLM_QK5_1 / 2]; } slm_block_q5_1;
_Static_assert(sizeof(slm_block_q5_1) == 24, "q5_1 block size");

/* Q8_0: x = d * q, q int8. 8.5 bpw. Also the activation type for Q4_0..Q8_0, IQ4_NL. */
typedef struct { slm_fp16 d; int8_t qs[SLM_QK8_0]; } slm_block_q8_0;
_Static_assert(sizeof(slm_block_q8_0) == 34, "q8_0 block size");

/* Q8_1: x = d * q; s = d * sum(q) (used by ggml as activations for Q4_1/Q5_1 on some paths). */
typedef struct { slm_fp16 d, s; int8_t qs[SLM_QK8_1]; } slm_block_q8_1;
_Static_assert(sizeof(slm_block_q8_1) == 36, "q8_1 block size");

/* Q2_K: 16 sub-blocks of 16; scales[i] = 4-bit scale | 4-bit min << 4;
 * x = d * sc * q - dmin * m, q 2 bits. 2.625 bpw */
typedef struct {
    uint8_t scales[SLM_QK_K / 16];
    uint8_t qs[SLM_QK_K / 4];
    slm_fp16 d, dmin;
} slm_block_q2_K;
_Static_assert(sizeof(slm_block_q2_K) == 84, "q2_K block size");

/* Q3_K: 16 sub-blocks of 16; 6-bit scales packed in 12 bytes; q = 2 low bits
 * in qs + high bit in hmask; x = d * (sc - 32) * (q - 4 if high bit clear). 3.4375 bpw */
typedef struct {
    uint8_t hmask[SLM_QK_K / 8];
    uint8_t qs[SLM_QK_K / 4];
    uint8_t scales[12];
    slm_fp16 d;
} slm_block_q3_K;
_Static_assert(sizeof(slm_block_q3_K) == 110, "q3_K block size");

/* Q4_K: 8 sub-blocks of 32, 6-bit scale and min each (12 bytes);
 * x = d * sc * q - dmin * m, q 4 bits. 4.5 bpw */
typedef struct {
    slm_fp16 d, dmin;
    uint8_t scales[SLM_K_SCALE_SIZE];
    uint8_t qs[SLM_QK_K / 2];
} slm_block_q4_K;
_Static_assert(sizeof(slm_block_q4_K) == 144, "q4_K block size");

/* Q5_K: as Q4_K with a fifth bit per element in qh. 5.5 bpw */
typedef struct {
    slm_fp16 d, dmin;
    uint8_t scales[SLM_K_SCALE_SIZE];
    uint8_t qh[SLM_QK_K / 8];
    uint8_t qs[SLM_QK_K / 2];
} slm_block_q5_K;
_Static_assert(sizeof(slm_block_q5_K) == 176, "q5_K block size");

/* Q6_K: 16 sub-blocks of 16, int8 scales; q = 4 low bits (ql) + 2 high (qh);
 * x = d * sc * (q - 32). 6.5625 bpw */
typedef struct {
    uint8_t ql[SLM_QK_K / 2];
    uint8_t qh[SLM_QK_K / 4];
    int8_t scales[SLM_QK_K / 16];
    slm_fp16 d;
} slm_block_q6_K;
_Static_assert(sizeof(slm_block_q6_K) == 210, "q6_K block size");

/* Q8_K: activations for the k-quants. x = d * q; bsums[i] = sum of q over 16-element group i. */
typedef struct {
    float d;
    int8_t qs[SLM_QK_K];
    int16_t bsums[SLM_QK_K / 16];
} slm_block_q8_K;
_Static_assert(sizeof(slm_block_q8_K) == 292, "q8_K block size");

/* IQ4_NL: x = d * kvalues_iq4nl[q], q 4 bits, non-linear codebook. 4.5 bpw */
typedef struct { slm_fp16 d; uint8_t qs[SLM_QK4_NL / 2]; } slm_block_iq4_nl;
_Static_assert(sizeof(slm_block_iq4_nl) == 18, "iq4_nl block size");

/* IQ4_XS: 8 sub-blocks of 32 with 6-bit scales (low 4 bits in scales_l,
 * high 2 in scales_h); x = d * (ls - 32) * kvalues_iq4nl[q]. 4.25 bpw */
typedef struct {
    slm_fp16 d;
    uint16_t scales_h;
    uint8_t scales_l[SLM_QK_K / 64];
    uint8_t qs[SLM_QK_K / 2];
} slm_block_iq4_xs;
_Static_assert(sizeof(slm_block_iq4_xs) == 136, "iq4_xs block size");

/* The IQ4_NL / IQ4_XS codebook. */
extern const int8_t slm_kvalues_iq4nl[16];

/* ---- fp16 / bf16 ---- */
float slm_fp16_to_fp32(slm_fp16 h);
slm_fp16 slm_fp32_to_fp16(float f);    /* round to nearest even, as F16C / ggml */
float slm_bf16_to_fp32(slm_bf16 h);
slm_bf16 slm_fp32_to_bf16(float f);    /* round to nearest even; NaN stays quiet NaN (ggml) */

/* ---- traits ---- */
typedef void (*slm_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*slm_from_float_fn)(const float *src, void *dst, int64_t n);
/* Quantize nrows rows of n_per_row values; imatrix (n_per_row weights, may
 * be NULL) weights the rounding error. Returns bytes written. */
typedef size_t (*slm_quantize_fn)(const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                                  const float *imatrix);

typedef struct slm_type_traits {
    const char *name;            /* "Q4_K" */
    int64_t block_size;          /* elements per block */
    size_t type_size;            /* bytes per block */
    int is_quantized;
    slm_to_float_fn to_float;        /* exact dequantization; n a multiple of block_size */
    slm_from_float_fn from_float_ref;/* reference quantizer, bit-exact with ggml's _ref */
    slm_quantize_fn quantize;        /* what llama-quantize calls (imatrix-aware); may be NULL */
    slm_type vec_dot_type;           /* activation type in llama.cpp's dot product */
} slm_type_traits;

/* NULL if t is not a type slm implements. */
const slm_type_traits *slm_type_traits_get(slm_type t);

/* Bytes of a row of n elements, or 0 if t is unknown or n is not a multiple
 * of the block size. */
size_t slm_type_row_size(slm_type t, int64_t n);

#endif
