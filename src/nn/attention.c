/* attention.c — causal multi-head attention (GQA/MQA) over the KV cache,
 * the non-flash path of llama.cpp, through the kernel table:
 *   scores = K q          (vec_dot of the cache type; q converted to it)
 *   scores = c*tanh(s/c)  (optional soft-cap)
 *   p = softmax(scale*s)  (exponent sum in double)
 *   out = V^T p           (V stored transposed, so each output element is
 *                          one vec_dot over positions; p converted to the
 *                          cache type first, as ggml's mul_mat does)
 * Work is split across threads by (token, head) pairs; each chunk uses its
 * own slice of the scratch.
 */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "nn/nn.h"
#include "quant/types.h"

size_t slm_nn_attn_scratch_floats(uint32_t n_ctx) { return 2 * (size_t)n_ctx + SLM_NN_MAX_HEAD_DIM + 16; }

typedef struct attn_job {
    const slm_attn *a;
    const float *q;
    int64_t n_tok;
    int32_t pos0;
    float *out;
    float *scratch;
    const slm_kernels *k;
} attn_job;

static void attn_one(const attn_job *jb, const float *q, int32_t pos, int h, float *out, float *s)
{
    const slm_attn *a = jb->a;
    const slm_kernels *kt = jb->k;
    const slm_type kvt = a->kv_type;
    const int group = a->n_head / a->n_head_kv;
    const int kvh = h / group;
    const int32_t j0 = a->n_swa > 0 && pos - a->n_swa + 1 > 0 ? pos - a->n_swa + 1 : 0;
    const int32_t n = pos + 1 - j0;
    const size_t esz = kvt == SLM_TYPE_F16 ? 2 : 4;
    void *pc = s + a->n_ctx;                   /* converted probabilities */
    void *qc = s + 2 * (size_t)a->n_ctx;       /* converted query */
    slm_vec_dot_fn dot = kt->vec_dot[kvt];
    const void *qv = q;
    if (kvt != SLM_TYPE_F32) {
        kt->quant_act[kvt](q, qc, a->hd_k);
        qv = qc;
    }
    /* The 4-row kernels take q as the "weight" row and four K rows (or four
     * V^T rows) as activations: one call per 4 positions (dims). */
    slm_vec_dot_x4_fn dot4 = kt->vec_dot_x4[kvt];
    const uint8_t *kb = (const uint8_t *)a->k + (size_t)kvh * a->hd_k * esz + (size_t)j0 * a->k_row_bytes;
    int32_t j = 0;
    if (dot4)
        for (; j + 4 <= n; j += 4)
            dot4(a->hd_k, &s[j], 1, qv, kb + (size_t)j * a->k_row_bytes, a->k_row_bytes, 4);
    for (; j < n; j++) dot(a->hd_k, &s[j], kb + (size_t)j * a->k_row_bytes, qv);
    if (a->softcap > 0.0f) slm_nn_softcap(s, n, a->softcap);
    float max = -INFINITY;
    for (int32_t j = 0; j < n; j++) {
        s[j] *= a->kq_scale;
        if (s[j] > max) max = s[j];
    }
    double sum = 0.0;
    for (int32_t j = 0; j < n; j++) {
        s[j] = expf(s[j] - max);
        sum += (double)s[j];
    }
    const float inv = (float)(1.0 / sum);
    for (int32_t j = 0; j < n; j++) s[j] *= inv;
    const void *pv = s;
    if (kvt != SLM_TYPE_F32) {
        kt->quant_act[kvt](s, pc, n);
        pv = pc;
    }
    const uint8_t *vb = (const uint8_t *)a->vt + (size_t)kvh * a->hd_v * a->vt_row_bytes + (size_t)j0 * esz;
    int d = 0;
    if (dot4)
        for (; d + 4 <= a->hd_v; d += 4)
            dot4(n, &out[d], 1, pv, vb + (size_t)d * a->vt_row_bytes, a->vt_row_bytes, 4);
    for (; d < a->hd_v; d++) dot(n, &out[d], vb + (size_t)d * a->vt_row_bytes, pv);
}

static void attn_run(void *ctx, int ith, int nth)
{
    attn_job *j = ctx;
    const slm_attn *a = j->a;
    float *s = j->scratch + (size_t)ith * slm_nn_attn_scratch_floats(a->n_ctx);
    const int64_t n_items = j->n_tok * a->n_head;
    const int64_t i0 = n_items * ith / nth, i1 = n_items * (ith + 1) / nth;
    for (int64_t it = i0; it < i1; it++) {
        const int64_t t = it / a->n_head;
        const int h = (int)(it % a->n_head);
        attn_one(j, j->q + (t * a->n_head + h) * a->hd_k, j->pos0 + (int32_t)t, h,
                 j->out + (t * a->n_head + h) * a->hd_v, s);
    }
}

void slm_nn_attention(slm_pool *pool, const slm_attn *a, const float *q, int64_t n_tok,
                      int32_t pos0, float *out, float *scratch)
{
    attn_job j = {a, q, n_tok, pos0, out, scratch, slm_kernels_get()};
    /* Below ~64K multiply-adds a pool run costs more than it saves, and on a
     * loaded machine one descheduled worker holding a chunk stalls the
     * whole step (stories260K: first token 0.3 ms at -t 1, up to 25 ms
     * with 2 threads). */
    const int64_t work = n_tok * a->n_head * (int64_t)(pos0 + n_tok) * (a->hd_k + a->hd_v);
    if (work < (1 << 16)) attn_run(&j, 0, 1);
    else slm_pool_run(pool, attn_run, &j);
}

void slm_nn_kv_store(slm_type kv_type, void *dst, size_t row_bytes, const float *src,
                     int64_t ld, int64_t n, int64_t n_tok)
{
    const slm_kernels *k = slm_kernels_get();
    uint8_t *d = dst;
    for (int64_t t = 0; t < n_tok; t++) {
        if (kv_type == SLM_TYPE_F16) k->quant_act[SLM_TYPE_F16](src + t * ld, d + (size_t)t * row_bytes, n);
        else memcpy(d + (size_t)t * row_bytes, src + t * ld, (size_t)n * sizeof(float));
    }
}

void slm_nn_kv_store_t(slm_type kv_type, void *dst, size_t row_bytes, int32_t pos,
                       const float *src, int64_t ld, int64_t n, int64_t n_tok)
{
    uint8_t *d = dst;
    for (int64_t i = 0; i < n; i++) {
        uint8_t *row = d + (size_t)i * row_bytes;
        for (int64_t t = 0; t < n_tok; t++) {
            const float x = src[t * ld + i];
            if (kv_type == SLM_TYPE_F16) ((slm_fp16 *)row)[pos + t] = slm_fp32_to_fp16(x);
            else ((float *)row)[pos + t] = x;
        }
    }
}
