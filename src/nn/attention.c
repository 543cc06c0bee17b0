/* attention.c — causal multi-head attention (GQA/MQA) over the KV cache,
 * the non-flash path of llama.cpp: scores = K q (F32, or F16 with q rounded
 * to F16), optional soft-cap c*tanh(s/c), softmax(scale * s) with the
 * exponent sum in double, then out = V^T p (p rounded to F16 for an F16
 * cache). Work is split across threads by (token, head) pairs; each thread
 * uses its own n_ctx slice of `scores`.
 */
#include <math.h>
#include <string.h>

#include "nn/nn.h"
#include "quant/types.h"

typedef struct attn_job {
    const slm_attn *a;
    const float *q;
    int64_t n_tok;
    int32_t pos0;
    float *out;
    float *scores;
} attn_job;

static void attn_one(const slm_attn *a, const float *q, int32_t pos, int h, float *out, float *s)
{
    const int group = a->n_head / a->n_head_kv;
    const int kvh = h / group;
    const int32_t j0 = a->n_swa > 0 && pos - a->n_swa + 1 > 0 ? pos - a->n_swa + 1 : 0;
    const int32_t n = pos + 1 - j0;
    const uint8_t *kb = a->k, *vb = a->v;
    const int f16 = a->kv_type == SLM_TYPE_F16;
    float qh[512];
    const float *qv = q;
    if (f16) {
        for (int d = 0; d < a->hd_k; d++) qh[d] = slm_fp16_to_fp32(slm_fp32_to_fp16(q[d]));
        qv = qh;
    }
    for (int32_t j = 0; j < n; j++) {
        const uint8_t *row = kb + (size_t)(j0 + j) * a->k_row_bytes;
        float sum = 0.0f;
        if (f16) {
            const slm_fp16 *kr = (const slm_fp16 *)row + (size_t)kvh * a->hd_k;
            for (int d = 0; d < a->hd_k; d++) sum += qv[d] * slm_fp16_to_fp32(kr[d]);
        } else {
            const float *kr = (const float *)row + (size_t)kvh * a->hd_k;
            for (int d = 0; d < a->hd_k; d++) sum += qv[d] * kr[d];
        }
        s[j] = sum;
    }
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
    for (int32_t j = 0; j < n; j++) {
        s[j] *= inv;
        if (f16) s[j] = slm_fp16_to_fp32(slm_fp32_to_fp16(s[j]));
    }
    for (int d = 0; d < a->hd_v; d++) out[d] = 0.0f;
    for (int32_t j = 0; j < n; j++) {
        const uint8_t *row = vb + (size_t)(j0 + j) * a->v_row_bytes;
        const float p = s[j];
        if (f16) {
            const slm_fp16 *vr = (const slm_fp16 *)row + (size_t)kvh * a->hd_v;
            for (int d = 0; d < a->hd_v; d++) out[d] += p * slm_fp16_to_fp32(vr[d]);
        } else {
            const float *vr = (const float *)row + (size_t)kvh * a->hd_v;
            for (int d = 0; d < a->hd_v; d++) out[d] += p * vr[d];
        }
    }
}

static void attn_run(void *ctx, int ith, int nth)
{
    attn_job *j = ctx;
    const slm_attn *a = j->a;
    float *s = j->scores + (size_t)ith * a->n_ctx;
    const int64_t n_items = j->n_tok * a->n_head;
    for (int64_t it = ith; it < n_items; it += nth) {
        const int64_t t = it / a->n_head;
        const int h = (int)(it % a->n_head);
        attn_one(a, j->q + (t * a->n_head + h) * a->hd_k, j->pos0 + (int32_t)t, h,
                 j->out + (t * a->n_head + h) * a->hd_v, s);
    }
}

void slm_nn_attention(slm_pool *pool, const slm_attn *a, const float *q, int64_t n_tok,
                      int32_t pos0, float *out, float *scores)
{
    attn_job j = {a, q, n_tok, pos0, out, scores};
    slm_pool_run(pool, attn_run, &j);
}

void slm_nn_kv_store(slm_type kv_type, void *dst, size_t row_bytes, const float *src,
                     int64_t ld, int64_t n, int64_t n_tok)
{
    uint8_t *d = dst;
    for (int64_t t = 0; t < n_tok; t++) {
        const float *x = src + t * ld;
        if (kv_type == SLM_TYPE_F16) {
            slm_fp16 *o = (slm_fp16 *)(d + (size_t)t * row_bytes);
            for (int64_t i = 0; i < n; i++) o[i] = slm_fp32_to_fp16(x[i]);
        } else {
            memcpy(d + (size_t)t * row_bytes, x, (size_t)n * sizeof(float));
        }
    }
}
