/* nn.h — layer math for the forward pass: threaded matmul through the kernel
 * table, RMS norm, RoPE, causal attention over a KV cache, activations and
 * MoE routing. Every function here computes exactly what llama.cpp's CPU
 * backend computes for the same op (rounding steps included, see
 * ../shared/testdata/README.md section 4), so logits agree to ~1e-6.
 *
 * nn knows nothing of models or files: weights come as slm_mat views, all
 * buffers are the caller's (a session's scratch), and nothing allocates.
 */
#ifndef SLM_NN_H
#define SLM_NN_H

#include <stddef.h>
#include <stdint.h>

#include "base/pool.h"
#include "slm.h"

/* A weight matrix: n_out rows of n_in elements of `type`, row r at
 * data + r * row_bytes. Points into the mapped file. */
typedef struct slm_mat {
    slm_type type;
    int64_t n_in;     /* elements per row (GGUF ne[0]) */
    int64_t n_out;    /* rows (GGUF ne[1]) */
    size_t row_bytes; /* bytes per row */
    const void *data;
} slm_mat;

/* Bytes of activation workspace slm_nn_matmul needs for n_tok rows of n_in
 * elements converted to the activation type of weight type t (an upper
 * bound valid for every type: 4 bytes per element plus block headers). */
size_t slm_nn_act_bytes(int64_t n_in, int64_t n_tok);

/* 1 if the kernel table can multiply weights of type t (vec_dot and the
 * activation converter exist); used by the loader to reject early. */
int slm_nn_type_supported(slm_type t);

/* y[t*ldy + r] = sum_i W[r][i] * x[t*ldx + i], t < n_tok, r < n_out.
 * Each activation row is converted ONCE to the weight's vec_dot type
 * (llama.cpp's rule), then output rows are split across the pool's threads.
 * act: workspace of slm_nn_act_bytes(w->n_in, n_tok) bytes. */
void slm_nn_matmul(slm_pool *pool, const slm_mat *w, const float *x, int64_t ldx, int64_t n_tok,
                   float *y, int64_t ldy, void *act);

/* Up to 4 matrices with the same input rows (Q, K, V; gate, up) in one
 * pass: the activations are converted once and all rows of all matrices are
 * split across the threads in one pool run. Matrices whose n_in or
 * activation type differ from w[0]'s are run one by one. y[m] gets matrix
 * m's output with row stride ldy[m]. */
void slm_nn_matmul_n(slm_pool *pool, int n_mats, const slm_mat *const *w, const float *x,
                     int64_t ldx, int64_t n_tok, float *const *y, const int64_t *ldy, void *act);

/* y = x / sqrt(mean(x^2) + eps) * w (w may be NULL); y may equal x.
 * Sum of squares in double as ggml_rms_norm does. */
void slm_nn_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps);

/* RoPE over n_head heads of head_dim floats (stride head_dim) at position
 * pos, rotating the first n_rot dims. neox: pairs (i, i+n_rot/2); else
 * (2i, 2i+1). freq_factors (n_rot/2, may be NULL) divide the angles
 * (llama3 rope_freqs, LongRoPE); freq_scale multiplies them (linear
 * scaling); mscale multiplies cos and sin. cache: n_rot floats scratch. */
typedef struct slm_rope {
    int n_rot;
    int neox;
    float base;
    float freq_scale;
    float mscale;
    const float *freq_factors;
} slm_rope;
void slm_nn_rope(const slm_rope *r, float *x, int n_head, int head_dim, int32_t pos, float *cache);

/* Causal attention of n_tok queries at positions pos0.. over the cache rows
 * 0..pos0+n_tok-1 (already holding this batch's K and V).
 * q: [n_tok][n_head*hd_k]; out: [n_tok][n_head*hd_v].
 * K cache: position p's row at k + p*k_row_bytes, KV head j at element
 * j*hd_k. V cache transposed: row (j*hd_v + d) at vt + row*vt_row_bytes
 * holds dim d of KV head j for every position. kv_type F32, or F16 (then
 * q and the probabilities are rounded to F16, as llama.cpp's non-flash
 * path does). scratch: nth * slm_nn_attn_scratch_floats(n_ctx) floats. */
#define SLM_NN_MAX_HEAD_DIM 512
typedef struct slm_attn {
    int n_head, n_head_kv, hd_k, hd_v;
    float kq_scale;  /* multiplies scores inside the softmax */
    float softcap;   /* > 0: s = c * tanh(s / c) before scaling */
    int32_t n_swa;   /* > 0: key j visible to query i only if i - j < n_swa */
    slm_type kv_type;
    const void *k;
    const void *vt;
    size_t k_row_bytes, vt_row_bytes;
    uint32_t n_ctx;
} slm_attn;
size_t slm_nn_attn_scratch_floats(uint32_t n_ctx);
void slm_nn_attention(slm_pool *pool, const slm_attn *a, const float *q, int64_t n_tok,
                      int32_t pos0, float *out, float *scratch);

/* Store n_tok rows of n floats (row stride ld) into a cache of kv_type:
 * kv_store at row stride row_bytes (row t = position), kv_store_t
 * transposed (element i of token t at row i, column pos + t). */
void slm_nn_kv_store(slm_type kv_type, void *dst, size_t row_bytes, const float *src,
                     int64_t ld, int64_t n, int64_t n_tok);
void slm_nn_kv_store_t(slm_type kv_type, void *dst, size_t row_bytes, int32_t pos,
                       const float *src, int64_t ld, int64_t n, int64_t n_tok);

/* ggml's SiLU x / (1 + exp(-x)) and its fp16-table GELU (tanh form; input
 * and output rounded to fp16, x <= -10 -> 0, x >= 10 -> x). */
float slm_nn_silu(float x);
float slm_nn_gelu_fp16(float x);
/* g[i] = act(g[i]) * u[i] over n elements; act: 0 SiLU, 1 GELU. */
enum { SLM_ACT_SILU = 0, SLM_ACT_GELU = 1 };
void slm_nn_glu(float *g, const float *u, int64_t n, int act);
/* The same split across the pool's threads for large n (batches). */
void slm_nn_glu_pool(slm_pool *pool, float *g, const float *u, int64_t n, int act);
/* x = c * tanh(x / c) over n elements (c > 0). */
void slm_nn_softcap(float *x, int64_t n, float c);

/* MoE router: softmax over n_expert logits, the n_used largest (ties to the
 * lower index), weights renormalised to sum 1 if norm. Writes ids and
 * weights in rank order. probs: n_expert floats scratch. */
void slm_nn_moe_route(const float *logits, int n_expert, int n_used, int norm, int32_t *ids,
                      float *weights, float *probs);

#endif
