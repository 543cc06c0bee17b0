/* forward.c — the transformer forward pass for every supported family,
 * composed from nn layers in the order llama.cpp's graph builders use
 * (llama, qwen2/3, gemma2/3, phi3, MoE). One batch of rows at a time, from
 * one sequence or several (continuous batching): the matmuls run over the
 * whole batch, RoPE and causal attention per sequence over its KV cache.
 * All buffers are the state's; nothing here allocates or fails.
 */
#include <math.h>
#include <string.h>

#include "model/model.h"
#include "quant/types.h"

static void add_bias(float *y, int64_t ld, const float *b, int64_t n, int64_t n_tok)
{
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < n; i++) y[t * ld + i] += b[i];
}

static void add_into(float *x, const float *o, int64_t n)
{
    for (int64_t i = 0; i < n; i++) x[i] += o[i];
}

static slm_mat expert(const slm_mat *w, size_t stride, int e)
{
    slm_mat r = *w;
    r.data = (const uint8_t *)w->data + (size_t)e * stride;
    return r;
}

/* Report a matmul input to the optional observer (imatrix collection). */
static void observe(const slm_state *s, uint32_t il, const char *tensor, const float *x, int64_t ld, uint32_t n,
                    int64_t n_in)
{
    if (s->observe) s->observe(s->observe_user, (int)il, tensor, -1, x, ld, n, n_in);
}

static void observe_expert(const slm_state *s, uint32_t il, const char *tensor, int e, const float *x, int64_t ld,
                           int64_t n, int64_t n_in)
{
    if (s->observe) s->observe(s->observe_user, (int)il, tensor, e, x, ld, n, n_in);
}

/* Mixture of experts on the normed rows h[n][E] -> o[n][E]: route each
 * token, then run each expert once over the tokens routed to it, keeping
 * each (token, rank) output so the final sum follows rank order as
 * llama.cpp's chain of adds does. */
static void moe_ffn(slm_state *s, const slm_layer *L, uint32_t il, uint32_t n)
{
    const slm_hparams *hp = &s->m->hp;
    const int64_t E = hp->n_embd, X = hp->n_expert, K = hp->n_expert_used, Fe = hp->n_ff_exp;
    slm_nn_matmul(s->pool, &L->gate_inp, s->h, E, n, s->router, X, s->act);
    for (uint32_t t = 0; t < n; t++)
        slm_nn_moe_route(s->router + t * X, (int)X, (int)K, hp->moe_norm_w, s->sel + t * K,
                         s->selw + t * K, s->probs);
    for (int e = 0; e < X; e++) {
        int64_t cnt = 0;
        for (uint32_t t = 0; t < n; t++)
            for (int64_t k = 0; k < K; k++)
                if (s->sel[t * K + k] == e) {
                    s->erows[cnt] = (int32_t)t;
                    s->eslot[cnt] = (int32_t)k;
                    memcpy(s->ex + cnt * E, s->h + (int64_t)t * E, (size_t)E * sizeof(float));
                    cnt++;
                }
        if (cnt == 0) continue;
        slm_mat g = expert(&L->gate_exps, L->gate_exp_bytes, e);
        slm_mat u = expert(&L->up_exps, L->up_exp_bytes, e);
        slm_mat d = expert(&L->down_exps, L->down_exp_bytes, e);
        const slm_mat *w2[2] = {&g, &u};
        float *y2[2] = {s->g, s->u};
        const int64_t ld2[2] = {Fe, Fe};
        observe_expert(s, il, "ffn_gate_exps.weight", e, s->ex, E, cnt, E);
        observe_expert(s, il, "ffn_up_exps.weight", e, s->ex, E, cnt, E);
        slm_nn_matmul_n(s->pool, 2, w2, s->ex, E, cnt, y2, ld2, s->act);
        slm_nn_glu_pool(s->pool, s->g, s->u, cnt * Fe, SLM_ACT_SILU);
        observe_expert(s, il, "ffn_down_exps.weight", e, s->g, Fe, cnt, Fe);
        slm_nn_matmul(s->pool, &d, s->g, Fe, cnt, s->o, E, s->act);
        for (int64_t c = 0; c < cnt; c++) {
            const int64_t t = s->erows[c], k = s->eslot[c];
            const float w = s->selw[t * K + k];
            float *dst = s->ey + (t * K + k) * E;
            const float *src = s->o + c * E;
            for (int64_t i = 0; i < E; i++) dst[i] = src[i] * w;
        }
    }
    for (uint32_t t = 0; t < n; t++) {
        float *dst = s->o + (int64_t)t * E;
        memcpy(dst, s->ey + (int64_t)t * K * E, (size_t)E * sizeof(float));
        for (int64_t k = 1; k < K; k++) add_into(dst, s->ey + ((int64_t)t * K + k) * E, E);
    }
    if (L->gate_inp_shexp) {
        /* qwen2moe shared expert, gated by sigmoid(w . h) */
        const int64_t Fs = hp->n_ff_shexp;
        slm_mat gi = {SLM_TYPE_F32, E, 1, (size_t)E * sizeof(float), L->gate_inp_shexp};
        slm_nn_matmul(s->pool, &gi, s->h, E, n, s->shx, 1, s->act);
        observe(s, il, "ffn_gate_shexp.weight", s->h, E, n, E);
        observe(s, il, "ffn_up_shexp.weight", s->h, E, n, E);
        slm_nn_matmul(s->pool, &L->gate_shexp, s->h, E, n, s->g, Fs, s->act);
        slm_nn_matmul(s->pool, &L->up_shexp, s->h, E, n, s->u, Fs, s->act);
        slm_nn_glu_pool(s->pool, s->g, s->u, (int64_t)n * Fs, SLM_ACT_SILU);
        observe(s, il, "ffn_down_shexp.weight", s->g, Fs, n, Fs);
        slm_nn_matmul(s->pool, &L->down_shexp, s->g, Fs, n, s->ex, E, s->act);
        for (uint32_t t = 0; t < n; t++) {
            const float gate = 1.0f / (1.0f + expf(-s->shx[t]));
            float *dst = s->o + (int64_t)t * E;
            const float *src = s->ex + (int64_t)t * E;
            for (int64_t i = 0; i < E; i++) dst[i] += src[i] * gate;
        }
    }
}

void slm_forward_seqs(slm_state *s, const slm_seq *seqs, uint32_t n_seq, float *logits)
{
    const slm_model *m = s->m;
    const slm_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, Hk = (int64_t)hp->n_head * hp->hd_k,
                  Hv = (int64_t)hp->n_head * hp->hd_v, Gk = (int64_t)hp->n_head_kv * hp->hd_k,
                  Gv = (int64_t)hp->n_head_kv * hp->hd_v, F = hp->n_ff;
    const float eps = hp->eps;
    uint32_t n = 0;
    for (uint32_t q = 0; q < n_seq; q++) n += seqs[q].n;

    /* token embeddings: rows dequantized exactly */
    const slm_type_traits *et = slm_type_traits_get(m->tok_embd->type);
    const size_t erb = slm_type_row_size(m->tok_embd->type, E);
    for (uint32_t sq = 0, t = 0; sq < n_seq; sq++)
        for (uint32_t j = 0; j < seqs[sq].n; j++, t++) {
            float *x = s->x + (int64_t)t * E;
            et->to_float((const uint8_t *)m->tok_embd->data + (size_t)seqs[sq].ids[j] * erb, x, E);
            if (hp->embd_scale > 0.0f)
                for (int64_t i = 0; i < E; i++) x[i] *= hp->embd_scale;
        }


    for (uint32_t il = 0; il < hp->n_layer; il++) {
        const slm_layer *L = &m->layers[il];
        if (s->observe_resid) s->observe_resid(s->observe_user, (int)il, s->x, n, E);
        for (uint32_t t = 0; t < n; t++)
            slm_nn_rmsnorm(s->h + t * E, s->x + t * E, L->attn_norm, E, eps);

        /* Q, K, V */
        if (L->wqkv.data) {
            const int64_t W = Hk + Gk + Gv;
            observe(s, il, "attn_qkv.weight", s->h, E, n, E);
            slm_nn_matmul(s->pool, &L->wqkv, s->h, E, n, s->qkv, W, s->act);
            for (uint32_t t = 0; t < n; t++) {
                memcpy(s->q + t * Hk, s->qkv + t * W, (size_t)Hk * sizeof(float));
                memcpy(s->kc + t * Gk, s->qkv + t * W + Hk, (size_t)Gk * sizeof(float));
                memcpy(s->vc + t * Gv, s->qkv + t * W + Hk + Gk, (size_t)Gv * sizeof(float));
            }
        } else {
            const slm_mat *w3[3] = {&L->wq, &L->wk, &L->wv};
            float *y3[3] = {s->q, s->kc, s->vc};
            const int64_t ld3[3] = {Hk, Gk, Gv};
            observe(s, il, "attn_q.weight", s->h, E, n, E);
            observe(s, il, "attn_k.weight", s->h, E, n, E);
            observe(s, il, "attn_v.weight", s->h, E, n, E);
            slm_nn_matmul_n(s->pool, 3, w3, s->h, E, n, y3, ld3, s->act);
        }
        if (L->bq) add_bias(s->q, Hk, L->bq, Hk, n);
        if (L->bk) add_bias(s->kc, Gk, L->bk, Gk, n);
        if (L->bv) add_bias(s->vc, Gv, L->bv, Gv, n);
        if (L->q_norm)
            for (int64_t r = 0; r < (int64_t)n * hp->n_head; r++)
                slm_nn_rmsnorm(s->q + r * hp->hd_k, s->q + r * hp->hd_k, L->q_norm, hp->hd_k, eps);
        if (L->k_norm)
            for (int64_t r = 0; r < (int64_t)n * hp->n_head_kv; r++)
                slm_nn_rmsnorm(s->kc + r * hp->hd_k, s->kc + r * hp->hd_k, L->k_norm, hp->hd_k, eps);

        /* RoPE, KV store and attention per sequence: each has its own
         * positions and cache; the matmuls around them see all rows. */
        uint32_t row0 = 0;
        for (uint32_t sq = 0; sq < n_seq; sq++) {
            const slm_seq *sg = &seqs[sq];
            slm_state *kv = sg->kv;
            const uint32_t ns = sg->n, pos0 = sg->pos0;
            const float *rope_ff = m->rope_freqs;
            if (m->rope_long && m->rope_short)
                rope_ff = kv->n_ctx > hp->n_ctx_orig ? m->rope_long : m->rope_short;
            slm_rope rp = {
                .n_rot = (int)hp->n_rot, .neox = hp->rope_neox, .base = L->rope_base,
                .freq_scale = (hp->arch == SLM_ARCH_GEMMA3 && L->swa) ? 1.0f : hp->rope_freq_scale,
                .mscale = hp->rope_attn_factor, .freq_factors = rope_ff,
            };
            float *qs = s->q + (int64_t)row0 * Hk, *ks = s->kc + (int64_t)row0 * Gk;
            for (uint32_t t = 0; t < ns; t++) {
                slm_nn_rope(&rp, qs + t * Hk, (int)hp->n_head, (int)hp->hd_k, (int32_t)(pos0 + t),
                            s->rope_cache);
                slm_nn_rope(&rp, ks + t * Gk, (int)hp->n_head_kv, (int)hp->hd_k,
                            (int32_t)(pos0 + t), s->rope_cache);
            }
            if (hp->q_scale > 0.0f)
                for (int64_t i = 0; i < (int64_t)ns * Hk; i++) qs[i] *= hp->q_scale;

            uint8_t *kl = kv->k + (size_t)il * kv->n_ctx * kv->k_row_bytes;
            uint8_t *vl = kv->v + (size_t)il * Gv * kv->vt_row_bytes;
            slm_nn_kv_store(kv->kv_type, kl + (size_t)pos0 * kv->k_row_bytes, kv->k_row_bytes, ks,
                            Gk, Gk, ns);
            slm_nn_kv_store_t(kv->kv_type, vl, kv->vt_row_bytes, (int32_t)pos0,
                              s->vc + (int64_t)row0 * Gv, Gv, Gv, ns);
            slm_attn at = {
                .n_head = (int)hp->n_head, .n_head_kv = (int)hp->n_head_kv,
                .hd_k = (int)hp->hd_k, .hd_v = (int)hp->hd_v,
                .kq_scale = hp->q_scale > 0.0f ? 1.0f : 1.0f / sqrtf((float)hp->hd_k),
                .softcap = hp->attn_softcap, .n_swa = L->swa ? (int32_t)hp->n_swa : 0,
                .kv_type = kv->kv_type, .k = kl, .vt = vl,
                .k_row_bytes = kv->k_row_bytes, .vt_row_bytes = kv->vt_row_bytes,
                .n_ctx = kv->n_ctx,
            };
            slm_nn_attention(s->pool, &at, qs, ns, (int32_t)pos0, s->att + (int64_t)row0 * Hv,
                             s->scores);
            row0 += ns;
        }
        observe(s, il, "attn_output.weight", s->att, Hv, n, Hv);
        slm_nn_matmul(s->pool, &L->wo, s->att, Hv, n, s->o, E, s->act);
        for (uint32_t t = 0; t < n; t++) {
            if (L->attn_post_norm)
                slm_nn_rmsnorm(s->o + t * E, s->o + t * E, L->attn_post_norm, E, eps);
            add_into(s->x + t * E, s->o + t * E, E);
        }

        /* feed-forward */
        for (uint32_t t = 0; t < n; t++)
            slm_nn_rmsnorm(s->h + t * E, s->x + t * E, L->ffn_norm, E, eps);
        if (hp->n_expert > 0) {
            moe_ffn(s, L, il, n);
        } else if (!L->ffn_gate.data) {
            /* phi3: fused up = [gate | up], 2F rows */
            observe(s, il, "ffn_up.weight", s->h, E, n, E);
            slm_nn_matmul(s->pool, &L->ffn_up, s->h, E, n, s->g, 2 * F, s->act);
            for (uint32_t t = 0; t < n; t++)
                slm_nn_glu(s->g + t * 2 * F, s->g + t * 2 * F + F, F, hp->act);
            observe(s, il, "ffn_down.weight", s->g, 2 * F, n, F);
            slm_nn_matmul(s->pool, &L->ffn_down, s->g, 2 * F, n, s->o, E, s->act);
        } else {
            const slm_mat *w2[2] = {&L->ffn_gate, &L->ffn_up};
            float *y2[2] = {s->g, s->u};
            const int64_t ld2[2] = {F, F};
            observe(s, il, "ffn_gate.weight", s->h, E, n, E);
            observe(s, il, "ffn_up.weight", s->h, E, n, E);
            slm_nn_matmul_n(s->pool, 2, w2, s->h, E, n, y2, ld2, s->act);
            slm_nn_glu_pool(s->pool, s->g, s->u, (int64_t)n * F, hp->act);
            observe(s, il, "ffn_down.weight", s->g, F, n, F);
            slm_nn_matmul(s->pool, &L->ffn_down, s->g, F, n, s->o, E, s->act);
        }
        for (uint32_t t = 0; t < n; t++) {
            if (L->ffn_post_norm)
                slm_nn_rmsnorm(s->o + t * E, s->o + t * E, L->ffn_post_norm, E, eps);
            add_into(s->x + t * E, s->o + t * E, E);
        }
    }

    if (s->observe_resid) s->observe_resid(s->observe_user, (int)hp->n_layer, s->x, n, E);
    /* output rows: the final norm of each sequence's rows first_out.., packed
     * into h (the head reads every weight once for all of them) */
    uint32_t n_out = 0, row0 = 0;
    for (uint32_t sq = 0; sq < n_seq; sq++) {
        for (uint32_t t = seqs[sq].first_out; t < seqs[sq].n; t++, n_out++)
            slm_nn_rmsnorm(s->h + (int64_t)n_out * E, s->x + (int64_t)(row0 + t) * E, m->output_norm,
                           E, eps);
        row0 += seqs[sq].n;
    }
    if (n_out == 0 || !logits) return;
    slm_nn_matmul(s->pool, &m->output, s->h, E, n_out, logits, hp->n_vocab, s->act);
    if (hp->final_softcap > 0.0f)
        slm_nn_softcap(logits, (int64_t)n_out * hp->n_vocab, hp->final_softcap);
}

void slm_forward(slm_state *s, const int32_t *ids, uint32_t n, uint32_t pos0, uint32_t first_logit,
                 float *logits)
{
    const slm_seq one = {s, ids, n, pos0, first_logit < n ? first_logit : n};
    slm_forward_seqs(s, &one, 1, logits);
}
