/* glm.c — the gLM classifier: fine-tuning (full or linear probe), class
 * probabilities, pooled embeddings and log-likelihood scoring, all on
 * src/train's F32 model (slm_tmodel), so the same forward serves training
 * and inference. See glm.h for the file layout and the pooling rule.
 *
 * Fine-tuning backward starts at the pooled hidden state: d(loss)/d(pooled)
 * is spread over the pooled positions of hf (the output_norm'ed final
 * stream), then flows through output_norm and the blocks with the layer
 * pairs of src/train (the same order as slm_tmodel_backward, minus the
 * vocabulary head, which the classifier does not use).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/status.h"
#include "dna/fasta.h"
#include "dna/glm.h"
#include "dna/pretrain_int.h"
#include "gguf/gguf.h"
#include "gguf/keys.h"
#include "quant/types.h"
#include "sample/rng.h"

slm_dna_finetune_params slm_dna_finetune_default_params(void)
{
    slm_dna_finetune_params p = {.epochs = 3, .patience = 2, .pool = SLM_DNA_POOL_MEAN,
                                 .lr = 1e-3f, .lr_head = 3e-2f, .weight_decay = 0.01f,
                                 .batch = 16, .rc_augment = 0, .seed = 42};
    return p;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- a gLM (and optional head) loaded into a training model ---- */

typedef struct glm {
    slm_gguf *file;
    slm_dna_tok tok;
    slm_tconfig c;
    slm_tmodel *m;
    int n_class;          /* 0: no head in the file */
    float *head_w, *head_b; /* [n_class][E], [n_class] (slm_alloc'd) */
    slm_dna_pool pool;
} glm;

static void glm_close(glm *g)
{
    slm_tmodel_free(g->m);
    slm_dna_tok_close(&g->tok);
    slm_gguf_close(g->file);
    slm_free(g->head_w);
    slm_free(g->head_b);
    memset(g, 0, sizeof *g);
}

static slm_status read_u32(const slm_gguf *f, const char *path, const char *key, int *out)
{
    slm_status st = SLM_OK;
    uint32_t v = 0;
    st = slm_gguf_get_u32(f, key, &v);
    SLM_CHECK(st == SLM_OK && v > 0 && v < (1u << 24), SLM_ERR_FORMAT,
              "%s: key %s missing or out of range (%u): not a llama-architecture gLM", path, key,
              v);
    *out = (int)v;
fail:
    return st;
}

/* Tensor name -> F32 floats into dst (n elements expected). */
static slm_status load_tensor(const slm_gguf *f, const char *path, const char *name, float *dst,
                              int64_t n_in, int64_t n_out)
{
    slm_status st = SLM_OK;
    const slm_gguf_tensor *t = slm_gguf_find_tensor(f, name);
    SLM_CHECK(t, SLM_ERR_FORMAT, "%s: tensor %s missing", path, name);
    SLM_CHECK(t->ne[0] == n_in && (t->n_dims == 1 ? 1 : t->ne[1]) == n_out, SLM_ERR_FORMAT,
              "%s: tensor %s has shape {%lld, %lld}, expected {%lld, %lld}", path, name,
              (long long)t->ne[0], (long long)(t->n_dims == 1 ? 1 : t->ne[1]), (long long)n_in,
              (long long)n_out);
    const slm_type_traits *tr = slm_type_traits_get(t->type);
    SLM_CHECK(tr && tr->to_float && n_in % tr->block_size == 0, SLM_ERR_UNSUPPORTED,
              "%s: tensor %s has type %s, which cannot be read as F32 here", path, name,
              slm_type_name(t->type));
    const size_t row = (size_t)(n_in / tr->block_size) * tr->type_size;
    SLM_CHECK(t->nbytes >= row * (size_t)n_out, SLM_ERR_FORMAT, "%s: tensor %s is truncated",
              path, name);
    for (int64_t r = 0; r < n_out; r++)
        tr->to_float((const char *)t->data + (size_t)r * row, dst + (size_t)r * (size_t)n_in,
                     n_in);
fail:
    return st;
}

/* Open a gLM for micro-batches of B x T (T <= its context; 0 = the context). */
static slm_status glm_open(const char *path, int B, int T, int n_threads, glm *g)
{
    slm_status st = SLM_OK;
    memset(g, 0, sizeof *g);
    SLM_TRY(slm_gguf_open(path, 1, &g->file));
    const char *arch = NULL;
    size_t alen = 0;
    SLM_CHECK(slm_gguf_get_str(g->file, SLM_KEY_ARCHITECTURE, &arch, &alen) == SLM_OK &&
                  alen == 5 && memcmp(arch, "llama", 5) == 0,
              SLM_ERR_FORMAT, "%s: general.architecture is not llama: not an slm gLM", path);
    slm_tconfig c = {.eps = 1e-5f, .rope_base = 10000.0f};
    SLM_TRY(read_u32(g->file, path, "llama" SLM_KEY_SUFFIX_N_CTX, &c.n_ctx));
    SLM_TRY(read_u32(g->file, path, "llama" SLM_KEY_SUFFIX_N_EMBD, &c.n_embd));
    SLM_TRY(read_u32(g->file, path, "llama" SLM_KEY_SUFFIX_N_LAYER, &c.n_layer));
    SLM_TRY(read_u32(g->file, path, "llama" SLM_KEY_SUFFIX_N_FF, &c.n_ff));
    SLM_TRY(read_u32(g->file, path, "llama" SLM_KEY_SUFFIX_N_HEAD, &c.n_head));
    c.n_head_kv = c.n_head;
    uint32_t u = 0;
    if (slm_gguf_get_u32(g->file, "llama" SLM_KEY_SUFFIX_N_HEAD_KV, &u) == SLM_OK && u) c.n_head_kv = (int)u;
    float fv = 0;
    if (slm_gguf_get_f32(g->file, "llama" SLM_KEY_SUFFIX_RMS_EPS, &fv) == SLM_OK) c.eps = fv;
    if (slm_gguf_get_f32(g->file, "llama" SLM_KEY_SUFFIX_ROPE_BASE, &fv) == SLM_OK) c.rope_base = fv;
    slm_error_clear();
    SLM_TRY(slm_dna_tok_open(path, NULL, &g->tok));
    c.n_vocab = slm_vocab_n_tokens(g->tok.vocab);
    c.tied = slm_gguf_find_tensor(g->file, "output.weight") == NULL;
    g->c = c;
    if (T <= 0 || T > c.n_ctx) T = c.n_ctx;
    SLM_TRY(slm_tmodel_new(&c, B, T, n_threads, &g->m));
    for (int i = 0; i < g->m->n_tensors; i++) {
        const slm_ttensor *t = &g->m->tensors[i];
        SLM_TRY(load_tensor(g->file, path, t->name, g->m->params + t->off, t->n_in, t->n_out));
    }
    /* the classifier head, if any */
    const slm_gguf_tensor *hw = slm_gguf_find_tensor(g->file, "cls.weight");
    if (hw) {
        uint32_t nc = 0;
        SLM_CHECK(slm_gguf_get_u32(g->file, "dna.n_class", &nc) == SLM_OK && nc >= 2 &&
                      nc < 65536,
                  SLM_ERR_FORMAT, "%s: cls.weight present but dna.n_class missing or < 2", path);
        g->n_class = (int)nc;
        g->head_w = slm_alloc((size_t)nc * (size_t)c.n_embd * sizeof(float));
        g->head_b = slm_alloc((size_t)nc * sizeof(float));
        SLM_CHECK(g->head_w && g->head_b, SLM_ERR_NOMEM, "%s: out of memory", path);
        SLM_TRY(load_tensor(g->file, path, "cls.weight", g->head_w, c.n_embd, nc));
        SLM_TRY(load_tensor(g->file, path, "cls.bias", g->head_b, nc, 1));
        const char *pool = NULL;
        size_t plen = 0;
        if (slm_gguf_get_str(g->file, "dna.pooling", &pool, &plen) == SLM_OK && plen == 4 &&
            memcmp(pool, "last", 4) == 0)
            g->pool = SLM_DNA_POOL_LAST;
        slm_error_clear();
    }
    return SLM_OK;
fail:
    glm_close(g);
    return st;
}

/* ---- batches ---- */

/* Tokens of seq (reverse-complemented first if rc) into row[0..T): BOS,
 * then the tokens, cut at T, padded with BOS. Returns the real length. */
static slm_status encode_row(const glm *g, const char *seq, int rc, int32_t *row, int T,
                             char *rcbuf, int32_t *scratch, size_t scap, int *len)
{
    slm_status st = SLM_OK;
    size_t n = strlen(seq), got = 0;
    const char *s = seq;
    if (rc) {
        memcpy(rcbuf, seq, n);
        slm_dna_revcomp(rcbuf, n);
        s = rcbuf;
    }
    st = slm_dna_tok_encode(&g->tok, s, n, scratch, scap, &got);
    if (st == SLM_ERR_FULL) {
        st = SLM_OK;
        slm_error_clear();
        got = scap;
    }
    SLM_TRY(st);
    int k = (int)(got < (size_t)(T - 1) ? got : (size_t)(T - 1));
    row[0] = g->tok.bos;
    memcpy(row + 1, scratch, (size_t)k * sizeof *row);
    for (int i = k + 1; i < T; i++) row[i] = g->tok.bos;
    *len = k + 1;
fail:
    return st;
}

/* Pooled vector of row b into out[E] from hf; positions pooled: 1..len-1
 * (mean), len-1 (last); BOS alone when the sequence is empty. */
static void pool_row(const slm_tmodel *m, int b, int len, slm_dna_pool pool, float *out,
                     int *first, int *count)
{
    const int E = m->c.n_embd, T = m->T;
    int lo = len > 1 ? 1 : 0, hi = len; /* [lo, hi) */
    if (pool == SLM_DNA_POOL_LAST) lo = len - 1;
    memset(out, 0, (size_t)E * sizeof *out);
    for (int t = lo; t < hi; t++) {
        const float *h = m->hf + ((size_t)b * T + t) * E;
        for (int j = 0; j < E; j++) out[j] += h[j];
    }
    const float inv = 1.0f / (float)(hi - lo);
    for (int j = 0; j < E; j++) out[j] *= inv;
    *first = lo;
    *count = hi - lo;
}

static void head_logits(const float *w, const float *bias, int n_class, int E, const float *x,
                        float *logit)
{
    for (int c = 0; c < n_class; c++) {
        double s = bias[c];
        for (int j = 0; j < E; j++) s += (double)w[(size_t)c * E + j] * x[j];
        logit[c] = (float)s;
    }
}

static void softmax(float *p, int n)
{
    float mx = p[0];
    for (int i = 1; i < n; i++) mx = p[i] > mx ? p[i] : mx;
    double s = 0;
    for (int i = 0; i < n; i++) s += (p[i] = expf(p[i] - mx));
    for (int i = 0; i < n; i++) p[i] = (float)(p[i] / s);
}

/* Matthews correlation (Gorodkin's K-class form; binary = the usual MCC). */
static float mcc_of(const int32_t *y, const int32_t *pred, size_t n, int K)
{
    double *t = slm_calloc((size_t)K * 2, sizeof *t);
    if (!t) return NAN;
    double *tk = t, *pk = t + K, c = 0;
    for (size_t i = 0; i < n; i++) {
        tk[y[i]] += 1;
        pk[pred[i]] += 1;
        c += y[i] == pred[i];
    }
    double s = (double)n, pt = 0, pp = 0, tt = 0;
    for (int k = 0; k < K; k++) {
        pt += pk[k] * tk[k];
        pp += pk[k] * pk[k];
        tt += tk[k] * tk[k];
    }
    slm_free(t);
    double den = sqrt((s * s - pp) * (s * s - tt));
    return den > 0 ? (float)((c * s - pt) / den) : 0.0f;
}

/* Forward a batch of rows [i0, i0+nb) of s (nb <= B; the rest repeat the
 * last row) and fill pooled[nb][E]. lens gets each row's length. */
static slm_status forward_pooled(glm *g, const slm_seqset *s, const size_t *order, size_t i0,
                                 size_t nb, const uint8_t *rc, int32_t *ids, int *lens,
                                 float *pooled, char *rcbuf, int32_t *scratch, size_t scap,
                                 slm_dna_pool pool)
{
    slm_status st = SLM_OK;
    slm_tmodel *m = g->m;
    const int B = m->B, T = m->T, E = m->c.n_embd;
    for (int b = 0; b < B; b++) {
        const size_t r = order ? order[i0 + ((size_t)b < nb ? (size_t)b : nb - 1)]
                               : i0 + ((size_t)b < nb ? (size_t)b : nb - 1);
        SLM_TRY(encode_row(g, s->seq[r], rc ? rc[(size_t)b < nb ? b : (int)nb - 1] : 0,
                           ids + (size_t)b * T, T, rcbuf, scratch, scap, &lens[b]));
    }
    slm_tmodel_forward(m, ids, NULL);
    for (size_t b = 0; b < nb; b++) {
        int first, count;
        pool_row(m, (int)b, lens[b], pool, pooled + b * E, &first, &count);
    }
fail:
    return st;
}

/* Backward from d(loss)/d(hf) already written into m->dh (all BT rows). */
static void backward_from_hidden(slm_tmodel *m, const int32_t *ids)
{
    const slm_tconfig *c = &m->c;
    const int B = m->B, T = m->T, BT = B * T, E = c->n_embd, hd = E / c->n_head;
    const int H = c->n_head, G = c->n_head_kv, HQ = H * hd, HKV = G * hd, F = c->n_ff;
    const float *P = m->params;
    float *D = m->grads;
    const size_t nE = (size_t)BT * E;
    memset(m->dx, 0, nE * sizeof(float));
    slm_tl_rmsnorm_backward(m->dx, D + m->output_norm, m->dh, m->xf, m->rsf, P + m->output_norm,
                            BT, E);
    for (int l = c->n_layer - 1; l >= 0; l--) {
        const slm_tlayer *L = &m->layers[l];
        const slm_tacts_layer *A = &m->al[l];
        memset(m->da, 0, (size_t)BT * F * sizeof(float));
        slm_tl_matmul_backward(m->pool, m->da, D + L->down, m->dx, A->a, P + L->down, BT, F, E);
        memset(m->dg, 0, (size_t)BT * F * sizeof(float));
        memset(m->du, 0, (size_t)BT * F * sizeof(float));
        slm_tl_swiglu_backward(m->dg, m->du, m->da, A->g, A->u, (size_t)BT * F);
        memset(m->dh, 0, nE * sizeof(float));
        slm_tl_matmul_backward(m->pool, m->dh, D + L->gate, m->dg, A->h2, P + L->gate, BT, E, F);
        slm_tl_matmul_backward(m->pool, m->dh, D + L->up, m->du, A->h2, P + L->up, BT, E, F);
        slm_tl_rmsnorm_backward(m->dx, D + L->ffn_norm, m->dh, A->x2, A->rs2, P + L->ffn_norm,
                                BT, E);
        memset(m->datt, 0, (size_t)BT * HQ * sizeof(float));
        slm_tl_matmul_backward(m->pool, m->datt, D + L->wo, m->dx, A->att, P + L->wo, BT, HQ, E);
        memset(m->dq, 0, (size_t)BT * HQ * sizeof(float));
        memset(m->dk, 0, (size_t)BT * HKV * sizeof(float));
        memset(m->dv, 0, (size_t)BT * HKV * sizeof(float));
        slm_tl_attention_backward(m->pool, m->dq, m->dk, m->dv, m->datt, A->p, A->q, A->k, A->v,
                                  B, T, H, G, hd, m->dp);
        slm_tl_rope_backward(m->dq, m->rope, B, T, H, hd);
        slm_tl_rope_backward(m->dk, m->rope, B, T, G, hd);
        memset(m->dh, 0, nE * sizeof(float));
        slm_tl_matmul_backward(m->pool, m->dh, D + L->wq, m->dq, A->h1, P + L->wq, BT, E, HQ);
        slm_tl_matmul_backward(m->pool, m->dh, D + L->wk, m->dk, A->h1, P + L->wk, BT, E, HKV);
        slm_tl_matmul_backward(m->pool, m->dh, D + L->wv, m->dv, A->h1, P + L->wv, BT, E, HKV);
        slm_tl_rmsnorm_backward(m->dx, D + L->attn_norm, m->dh, A->x, A->rs1, P + L->attn_norm,
                                BT, E);
    }
    for (int t = 0; t < BT; t++) {
        float *de = D + m->tok_embd + (size_t)ids[t] * E;
        const float *dxt = m->dx + (size_t)t * E;
        for (int i = 0; i < E; i++) de[i] += dxt[i];
    }
}

/* ---- writing the classifier ---- */

static slm_status save_classifier(const glm *g, const float *params, const float *hw,
                                  const float *hb, int n_class, slm_dna_pool pool,
                                  const char *path)
{
    slm_status st = SLM_OK;
    slm_gguf_writer *w = NULL;
    const slm_tmodel *m = g->m;
    const int E = g->c.n_embd;
    SLM_TRY(slm_gguf_writer_new(&w));
    for (int64_t i = 0; i < slm_gguf_n_kv(g->file); i++) {
        const char *k = slm_gguf_key(g->file, i);
        if (strncmp(k, "dna.", 4) == 0 || strcmp(k, SLM_KEY_FILE_TYPE) == 0) continue;
        SLM_TRY(slm_gguf_copy_kv(w, g->file, i));
    }
    SLM_TRY(slm_gguf_set_u32(w, SLM_KEY_FILE_TYPE, 0));
    SLM_TRY(slm_gguf_set_u32(w, "dna.n_class", (uint32_t)n_class));
    SLM_TRY(slm_gguf_set_str(w, "dna.pooling", pool == SLM_DNA_POOL_LAST ? "last" : "mean"));
    for (int i = 0; i < m->n_tensors; i++) {
        const slm_ttensor *t = &m->tensors[i];
        const int64_t ne[2] = {t->n_in, t->n_out};
        SLM_TRY(slm_gguf_add_tensor(w, t->name, SLM_TYPE_F32, t->n_out == 1 ? 1 : 2, ne,
                                    params + t->off,
                                    (uint64_t)(t->n_in * t->n_out) * sizeof(float)));
    }
    const int64_t wne[2] = {E, n_class}, bne[1] = {n_class};
    SLM_TRY(slm_gguf_add_tensor(w, "cls.weight", SLM_TYPE_F32, 2, wne, hw,
                                (uint64_t)E * (uint64_t)n_class * sizeof(float)));
    SLM_TRY(slm_gguf_add_tensor(w, "cls.bias", SLM_TYPE_F32, 1, bne, hb,
                                (uint64_t)n_class * sizeof(float)));
    SLM_TRY(slm_gguf_writer_write(w, path));
fail:
    slm_gguf_writer_free(w);
    return st;
}

/* ---- fine-tuning ---- */

typedef struct head_opt {
    float *m, *v; /* AdamW moments of [w | b] */
    int64_t t;
} head_opt;

static void head_adamw(float *wb, const float *g, head_opt *o, size_t n_w, size_t n, float lr,
                       float wd)
{
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    o->t++;
    const float c1 = 1.0f - powf(b1, (float)o->t), c2 = 1.0f - powf(b2, (float)o->t);
    for (size_t i = 0; i < n; i++) {
        o->m[i] = b1 * o->m[i] + (1 - b1) * g[i];
        o->v[i] = b2 * o->v[i] + (1 - b2) * g[i] * g[i];
        const float upd = (o->m[i] / c1) / (sqrtf(o->v[i] / c2) + eps);
        wb[i] -= lr * (upd + (i < n_w ? wd * wb[i] : 0.0f));
    }
}

/* Head forward + cross-entropy + gradients for nb pooled rows. Adds into
 * gw/gb (mean over the rows), writes dpooled[nb][E] if non-NULL. Returns
 * the summed loss. */
static double head_step(const float *hw, const float *hb, int K, int E, const float *pooled,
                        const int32_t *y, size_t nb, float *gw, float *gb, float *dpooled)
{
    double loss = 0;
    float p[64];
    const float inv = 1.0f / (float)nb;
    for (size_t b = 0; b < nb; b++) {
        const float *x = pooled + b * E;
        head_logits(hw, hb, K, E, x, p);
        softmax(p, K);
        loss -= log(p[y[b]] > 1e-30f ? p[y[b]] : 1e-30f);
        if (dpooled) memset(dpooled + b * E, 0, (size_t)E * sizeof(float));
        for (int c = 0; c < K; c++) {
            const float d = (p[c] - (c == y[b] ? 1.0f : 0.0f)) * inv;
            gb[c] += d;
            for (int j = 0; j < E; j++) {
                gw[(size_t)c * E + j] += d * x[j];
                if (dpooled) dpooled[b * E + j] += d * hw[(size_t)c * E + j];
            }
        }
    }
    return loss;
}

static void shuffle(size_t *idx, size_t n, slm_rng *r)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(slm_rng_next(r) % i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

/* Predicted classes of the rows of s (dev evaluation) with the current
 * weights. */
static slm_status predict_labels(glm *g, const slm_seqset *s, size_t n, const float *hw,
                                 const float *hb, int K, slm_dna_pool pool, int32_t *pred,
                                 int32_t *ids, int *lens, float *pooled, char *rcbuf,
                                 int32_t *scratch, size_t scap)
{
    slm_status st = SLM_OK;
    const int B = g->m->B, E = g->c.n_embd;
    float p[64];
    for (size_t i = 0; i < n; i += (size_t)B) {
        const size_t nb = n - i < (size_t)B ? n - i : (size_t)B;
        SLM_TRY(forward_pooled(g, s, NULL, i, nb, NULL, ids, lens, pooled, rcbuf, scratch, scap,
                               pool));
        for (size_t b = 0; b < nb; b++) {
            head_logits(hw, hb, K, E, pooled + b * E, p);
            int best = 0;
            for (int c = 1; c < K; c++)
                if (p[c] > p[best]) best = c;
            pred[i + b] = best;
        }
    }
fail:
    return st;
}

static size_t tokens_needed(const slm_seqset *s, size_t n, const slm_dna_tok *tok)
{
    size_t mx = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(s->seq[i]), got = len;
        if (!tok->direct) {
            slm_status st = slm_vocab_tokenize(tok->vocab, s->seq[i], len, 0, 0, NULL, 0, &got);
            (void)st;
            slm_error_clear();
        }
        if (got > mx) mx = got;
    }
    return mx + 1; /* BOS */
}

slm_status slm_dna_finetune(const slm_dna_finetune_params *p, const slm_seqset *train,
                            const slm_seqset *dev, const char *base_model, const char *out_path,
                            slm_dna_finetune_stats *st_out)
{
    slm_status st = SLM_OK;
    glm g = {0};
    slm_seqset sub = {0};
    size_t *order = NULL;
    int32_t *ids = NULL, *ylab = NULL, *pred = NULL, *dev_y = NULL;
    int *lens = NULL;
    float *pooled = NULL, *dpooled = NULL, *hw = NULL, *hb = NULL, *gw = NULL, *best = NULL;
    float *feats = NULL, *dev_feats = NULL, *mu = NULL, *sd = NULL, *fold = NULL;
    head_opt ho = {0};
    char *rcbuf = NULL;
    int32_t *scratch = NULL;
    uint8_t *rcflag = NULL;
    slm_error_clear();
    if (st_out) memset(st_out, 0, sizeof *st_out);
    SLM_CHECK(p && train && base_model && out_path, SLM_ERR_ARG,
              "slm_dna_finetune: params, training set, base model and output path are required");
    SLM_CHECK(train->n > 0, SLM_ERR_ARG, "dna finetune: the training set is empty");
    SLM_CHECK(p->epochs > 0 && p->batch > 0 && p->lr > 0 && p->lr_head > 0, SLM_ERR_ARG,
              "dna finetune: epochs %d, batch %d, lr %g, lr_head %g: expected positive values",
              p->epochs, p->batch, (double)p->lr, (double)p->lr_head);
    const double t0 = now_s();
    int K = train->n_class;
    if (dev && dev->n_class > K) K = dev->n_class;
    SLM_CHECK(K >= 2 && K <= 64, SLM_ERR_ARG, "dna finetune: %d classes, expected 2..64", K);
    for (size_t i = 0; i < train->n; i++)
        SLM_CHECK(train->label[i] >= 0 && train->label[i] < K, SLM_ERR_ARG,
                  "dna finetune: training row %zu has label %d, expected 0..%d", i,
                  train->label[i], K - 1);
    slm_rng rng;
    slm_rng_seed(&rng, p->seed ^ 0xf1e7u);
    const slm_seqset *tr = train;
    if (p->max_train && p->max_train < train->n) {
        size_t *idx = slm_alloc(train->n * sizeof *idx);
        SLM_CHECK(idx, SLM_ERR_NOMEM, "dna finetune: out of memory");
        for (size_t i = 0; i < train->n; i++) idx[i] = i;
        shuffle(idx, train->n, &rng);
        st = slm_seqset_subset(train, idx, p->max_train, &sub);
        slm_free(idx);
        SLM_TRY(st);
        tr = &sub;
    }
    const size_t n_dev = dev ? (p->max_dev && p->max_dev < dev->n ? p->max_dev : dev->n) : 0;

    /* context: the longest sequence (train and dev) + BOS, within the model's */
    {
        slm_dna_tok probe_tok;
        SLM_TRY(slm_dna_tok_open(base_model, NULL, &probe_tok));
        size_t need = tokens_needed(tr, tr->n, &probe_tok);
        if (dev) {
            size_t nd = tokens_needed(dev, n_dev, &probe_tok);
            need = nd > need ? nd : need;
        }
        slm_dna_tok_close(&probe_tok);
        SLM_TRY(glm_open(base_model, p->batch, (int)need, p->n_threads, &g));
    }
    slm_tmodel *m = g.m;
    const int B = m->B, T = m->T, E = g.c.n_embd;
    size_t maxlen = 0;
    for (size_t i = 0; i < tr->n; i++) {
        size_t l = strlen(tr->seq[i]);
        maxlen = l > maxlen ? l : maxlen;
    }
    for (size_t i = 0; i < n_dev; i++) {
        size_t l = strlen(dev->seq[i]);
        maxlen = l > maxlen ? l : maxlen;
    }
    const size_t scap = maxlen + 8;
    const size_t nhead = (size_t)K * E + (size_t)K;
    ids = slm_alloc((size_t)B * T * sizeof *ids);
    lens = slm_alloc((size_t)B * sizeof *lens);
    pooled = slm_alloc((size_t)B * E * sizeof *pooled);
    dpooled = slm_alloc((size_t)B * E * sizeof *dpooled);
    hw = slm_alloc(nhead * sizeof *hw); /* [w | b] in one block */
    gw = slm_alloc(nhead * sizeof *gw);
    ho.m = slm_calloc(nhead, sizeof *ho.m);
    ho.v = slm_calloc(nhead, sizeof *ho.v);
    best = slm_alloc((m->n_params + nhead) * sizeof *best);
    fold = slm_alloc(nhead * sizeof *fold);
    order = slm_alloc(tr->n * sizeof *order);
    ylab = slm_alloc((size_t)B * sizeof *ylab);
    pred = slm_alloc((n_dev ? n_dev : 1) * sizeof *pred);
    dev_y = slm_alloc((n_dev ? n_dev : 1) * sizeof *dev_y);
    rcbuf = slm_alloc(maxlen + 1);
    scratch = slm_alloc(scap * sizeof *scratch);
    rcflag = slm_alloc((size_t)B);
    SLM_CHECK(ids && lens && pooled && dpooled && hw && gw && ho.m && ho.v && best && order &&
                  ylab && pred && dev_y && rcbuf && scratch && rcflag && fold,
              SLM_ERR_NOMEM, "dna finetune: out of memory");
    hb = hw + (size_t)K * E;
    float *gb = gw + (size_t)K * E;
    /* head init: small normal weights, zero bias */
    for (size_t i = 0; i < (size_t)K * E; i++) hw[i] = (float)slm_rng_normal(&rng) * 0.02f;
    memset(hb, 0, (size_t)K * sizeof *hb);
    memset(m->m, 0, m->n_params * sizeof(float));
    memset(m->v, 0, m->n_params * sizeof(float));
    for (size_t i = 0; i < n_dev; i++) dev_y[i] = dev->label[i];

    /* probe: features are fixed, computed once (both strands with augmentation) */
    const int strands = p->rc_augment ? 2 : 1;
    if (p->probe) {
        feats = slm_alloc(tr->n * (size_t)strands * E * sizeof *feats);
        SLM_CHECK(feats, SLM_ERR_NOMEM, "dna finetune: out of memory for %zu probe features",
                  tr->n * (size_t)strands);
        for (int sd = 0; sd < strands; sd++)
            for (size_t i = 0; i < tr->n; i += (size_t)B) {
                const size_t nb = tr->n - i < (size_t)B ? tr->n - i : (size_t)B;
                memset(rcflag, sd, (size_t)B);
                SLM_TRY(forward_pooled(&g, tr, NULL, i, nb, rcflag, ids, lens, pooled, rcbuf,
                                       scratch, scap, p->pool));
                memcpy(feats + ((size_t)sd * tr->n + i) * E, pooled, nb * E * sizeof(float));
                if (p->progress) {
                    slm_dna_finetune_progress pr = {0, p->epochs, i + nb + (size_t)sd * tr->n,
                                                    tr->n * (size_t)strands, NAN, NAN,
                                                    now_s() - t0};
                    SLM_CHECK(!p->progress(&pr, p->user), SLM_ERR_CANCELLED,
                              "dna finetune: cancelled");
                }
            }
    }

    /* probe: the dev rows' features too (forward_pooled is batch-invariant,
     * so these are the features predict_labels would compute every epoch) */
    if (p->probe && n_dev) {
        dev_feats = slm_alloc(n_dev * (size_t)E * sizeof *dev_feats);
        SLM_CHECK(dev_feats, SLM_ERR_NOMEM, "dna finetune: out of memory for %zu dev features", n_dev);
        for (size_t i = 0; i < n_dev; i += (size_t)B) {
            const size_t nb = n_dev - i < (size_t)B ? n_dev - i : (size_t)B;
            SLM_TRY(forward_pooled(&g, dev, NULL, i, nb, NULL, ids, lens, pooled, rcbuf, scratch, scap,
                                   p->pool));
            memcpy(dev_feats + i * E, pooled, nb * E * sizeof(float));
        }
    }

    /* probe: standardise each feature over the training rows (the head is
     * trained on z-scores and folded back into raw-feature weights below) */
    if (p->probe) {
        mu = slm_calloc((size_t)E, sizeof *mu);
        sd = slm_calloc((size_t)E, sizeof *sd);
        SLM_CHECK(mu && sd, SLM_ERR_NOMEM, "dna finetune: out of memory");
        const size_t rows = tr->n * (size_t)strands;
        for (size_t r = 0; r < rows; r++)
            for (int j = 0; j < E; j++) mu[j] += feats[r * E + j] / (float)rows;
        for (size_t r = 0; r < rows; r++)
            for (int j = 0; j < E; j++) {
                const float d = feats[r * E + j] - mu[j];
                sd[j] += d * d / (float)rows;
            }
        for (int j = 0; j < E; j++) sd[j] = sqrtf(sd[j]) + 1e-6f;
        for (size_t r = 0; r < rows; r++)
            for (int j = 0; j < E; j++) feats[r * E + j] = (feats[r * E + j] - mu[j]) / sd[j];
    }

    const size_t steps_per_epoch = (tr->n + (size_t)B - 1) / (size_t)B;
    const int64_t total_steps = (int64_t)steps_per_epoch * p->epochs;
    const int64_t warmup = total_steps / 20;
    const slm_adamw opt = {.lr = p->lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                           .weight_decay = p->weight_decay};
    float best_mcc = -2.0f, last_loss = NAN;
    int best_epoch = 0, since_best = 0, epochs_run = 0;
    int64_t step = 0;
    uint64_t tokens = 0;
    for (size_t i = 0; i < tr->n; i++) order[i] = i;
    for (int ep = 1; ep <= p->epochs; ep++) {
        shuffle(order, tr->n, &rng);
        double lsum = 0;
        for (size_t i = 0; i < tr->n; i += (size_t)B, step++) {
            const size_t nb = tr->n - i < (size_t)B ? tr->n - i : (size_t)B;
            for (size_t b = 0; b < (size_t)B; b++)
                rcflag[b] = p->rc_augment && (slm_rng_next(&rng) >> 63);
            for (size_t b = 0; b < nb; b++) ylab[b] = tr->label[order[i + b]];
            memset(gw, 0, nhead * sizeof *gw);
            const float lr_scale =
                slm_lr_schedule(step, total_steps, warmup, 1.0f, 0.1f);
            if (p->probe) {
                for (size_t b = 0; b < nb; b++)
                    memcpy(pooled + b * E,
                           feats + ((size_t)rcflag[b] * tr->n + order[i + b]) * E,
                           (size_t)E * sizeof(float));
                lsum += head_step(hw, hb, K, E, pooled, ylab, nb, gw, gb, NULL);
            } else {
                SLM_TRY(forward_pooled(&g, tr, order, i, nb, rcflag, ids, lens, pooled, rcbuf,
                                       scratch, scap, p->pool));
                for (size_t b = 0; b < nb; b++) tokens += (uint64_t)lens[b];
                lsum += head_step(hw, hb, K, E, pooled, ylab, nb, gw, gb, dpooled);
                /* spread d(pooled) over the pooled positions of hf */
                memset(m->dh, 0, (size_t)B * T * E * sizeof(float));
                for (size_t b = 0; b < nb; b++) {
                    int first, count;
                    pool_row(m, (int)b, lens[b], p->pool, pooled + b * E, &first, &count);
                    const float inv = 1.0f / (float)count;
                    for (int t = first; t < first + count; t++) {
                        float *d = m->dh + ((size_t)b * T + t) * E;
                        for (int j = 0; j < E; j++) d[j] = dpooled[b * E + j] * inv;
                    }
                }
                slm_tmodel_zero_grad(m);
                backward_from_hidden(m, ids);
                const float norm = slm_tmodel_grad_norm(m);
                const float gscale = norm > 1.0f ? 1.0f / norm : 1.0f;
                slm_tmodel_adamw(m, &opt, p->lr * lr_scale, gscale, step + 1);
            }
            head_adamw(hw, gw, &ho, (size_t)K * E, nhead, p->lr_head * lr_scale,
                       p->weight_decay);
            if (p->progress && (step % 8 == 0 || i + nb == tr->n)) {
                slm_dna_finetune_progress pr = {ep, p->epochs, i + nb, tr->n,
                                                (float)(lsum / (double)(i + nb)), NAN,
                                                now_s() - t0};
                SLM_CHECK(!p->progress(&pr, p->user), SLM_ERR_CANCELLED,
                          "dna finetune: cancelled in epoch %d", ep);
            }
        }
        last_loss = (float)(lsum / (double)tr->n);
        epochs_run = ep;
        float mcc = NAN;
        if (p->probe) { /* raw-feature weights: w / sd, b - sum w mu / sd */
            for (int c = 0; c < K; c++) {
                double bias = hb[c];
                for (int j = 0; j < E; j++) {
                    const float wj = hw[(size_t)c * E + j] / sd[j];
                    fold[(size_t)c * E + j] = wj;
                    bias -= (double)wj * mu[j];
                }
                fold[(size_t)K * E + c] = (float)bias;
            }
        } else {
            memcpy(fold, hw, nhead * sizeof *fold);
        }
        if (n_dev && dev_feats) { /* probe: the base is frozen, its dev features were cached */
            float lg[64];
            for (size_t i = 0; i < n_dev; i++) {
                head_logits(fold, fold + (size_t)K * E, K, E, dev_feats + i * E, lg);
                int bc = 0;
                for (int c = 1; c < K; c++)
                    if (lg[c] > lg[bc]) bc = c;
                pred[i] = bc;
            }
            mcc = mcc_of(dev_y, pred, n_dev, K);
        } else if (n_dev) {
            SLM_TRY(predict_labels(&g, dev, n_dev, fold, fold + (size_t)K * E, K, p->pool, pred,
                                   ids, lens, pooled, rcbuf, scratch, scap));
            mcc = mcc_of(dev_y, pred, n_dev, K);
        }
        if (!n_dev || mcc > best_mcc) {
            best_mcc = n_dev ? mcc : NAN;
            best_epoch = ep;
            since_best = 0;
            memcpy(best, m->params, m->n_params * sizeof(float));
            memcpy(best + m->n_params, fold, nhead * sizeof(float));
        } else {
            since_best++;
        }
        if (p->progress) {
            slm_dna_finetune_progress pr = {ep, p->epochs, tr->n, tr->n, last_loss, mcc,
                                            now_s() - t0};
            SLM_CHECK(!p->progress(&pr, p->user), SLM_ERR_CANCELLED,
                      "dna finetune: cancelled after epoch %d", ep);
        }
        if (n_dev && p->patience > 0 && since_best >= p->patience) break;
    }
    SLM_TRY(save_classifier(&g, best, best + m->n_params, best + m->n_params + (size_t)K * E, K,
                            p->pool, out_path));
    if (st_out) {
        st_out->epochs_run = epochs_run;
        st_out->best_epoch = best_epoch;
        st_out->best_dev_mcc = best_mcc;
        st_out->final_train_loss = last_loss;
        st_out->n_params = m->n_params + nhead;
        st_out->train_tokens = tokens;
        st_out->elapsed_s = now_s() - t0;
    }
fail:
    glm_close(&g);
    slm_seqset_free(&sub);
    slm_free(order);
    slm_free(ids);
    slm_free(ylab);
    slm_free(pred);
    slm_free(dev_y);
    slm_free(lens);
    slm_free(pooled);
    slm_free(dpooled);
    slm_free(hw);
    slm_free(gw);
    slm_free(best);
    slm_free(feats);
    slm_free(dev_feats);
    slm_free(mu);
    slm_free(sd);
    slm_free(fold);
    slm_free(ho.m);
    slm_free(ho.v);
    slm_free(rcbuf);
    slm_free(scratch);
    slm_free(rcflag);
    return st;
}

/* ---- inference ---- */

/* Pooled vectors (and, with a head, probabilities) of every row of s. */
static slm_status run_rows(const char *path, const slm_seqset *s, int n_threads, int want_head,
                           int pool_override, float **vec_out, float *proba, int *dim_out,
                           int *n_class_out)
{
    slm_status st = SLM_OK;
    glm g = {0};
    int32_t *ids = NULL, *scratch = NULL;
    int *lens = NULL;
    float *pooled = NULL, *vec = NULL;
    char *rcbuf = NULL;
    const int B = 16;
    size_t maxlen = 0;
    for (size_t i = 0; i < s->n; i++) {
        size_t l = strlen(s->seq[i]);
        maxlen = l > maxlen ? l : maxlen;
    }
    {
        slm_dna_tok probe_tok;
        SLM_TRY(slm_dna_tok_open(path, NULL, &probe_tok));
        size_t need = tokens_needed(s, s->n, &probe_tok);
        slm_dna_tok_close(&probe_tok);
        SLM_TRY(glm_open(path, B, (int)need, n_threads, &g));
    }
    SLM_CHECK(!want_head || g.n_class >= 2, SLM_ERR_FORMAT,
              "%s: no cls.weight/cls.bias tensors: not a classifier (use slm dna finetune)",
              path);
    const int E = g.c.n_embd, T = g.m->T, K = g.n_class;
    const slm_dna_pool pool = pool_override >= 0 ? (slm_dna_pool)pool_override : g.pool;
    const size_t scap = maxlen + 8;
    ids = slm_alloc((size_t)B * T * sizeof *ids);
    lens = slm_alloc((size_t)B * sizeof *lens);
    pooled = slm_alloc((size_t)B * E * sizeof *pooled);
    rcbuf = slm_alloc(maxlen + 1);
    scratch = slm_alloc(scap * sizeof *scratch);
    if (vec_out) vec = slm_alloc((s->n ? s->n : 1) * (size_t)E * sizeof *vec);
    SLM_CHECK(ids && lens && pooled && rcbuf && scratch && (!vec_out || vec), SLM_ERR_NOMEM,
              "%s: out of memory", path);
    for (size_t i = 0; i < s->n; i += (size_t)B) {
        const size_t nb = s->n - i < (size_t)B ? s->n - i : (size_t)B;
        SLM_TRY(forward_pooled(&g, s, NULL, i, nb, NULL, ids, lens, pooled, rcbuf, scratch, scap,
                               pool));
        for (size_t b = 0; b < nb; b++) {
            if (vec) memcpy(vec + (i + b) * E, pooled + b * E, (size_t)E * sizeof(float));
            if (want_head) {
                float *pr = proba + (i + b) * (size_t)K;
                head_logits(g.head_w, g.head_b, K, E, pooled + b * E, pr);
                softmax(pr, K);
            }
        }
    }
    if (dim_out) *dim_out = E;
    if (n_class_out) *n_class_out = K;
    if (vec_out) *vec_out = vec, vec = NULL;
fail:
    glm_close(&g);
    slm_free(ids);
    slm_free(lens);
    slm_free(pooled);
    slm_free(rcbuf);
    slm_free(scratch);
    slm_free(vec);
    return st;
}

slm_status slm_dna_classifier_n_class(const char *clf_model, int32_t *n_class)
{
    slm_status st = SLM_OK;
    slm_gguf *f = NULL;
    uint32_t nc = 0;
    SLM_CHECK(clf_model && n_class, SLM_ERR_ARG, "slm_dna_classifier_n_class: NULL argument");
    SLM_TRY(slm_gguf_open(clf_model, 1, &f));
    SLM_CHECK(slm_gguf_get_u32(f, "dna.n_class", &nc) == SLM_OK && nc >= 2, SLM_ERR_FORMAT,
              "%s: no dna.n_class key: not a classifier (use slm dna finetune)", clf_model);
    *n_class = (int32_t)nc;
fail:
    slm_gguf_close(f);
    return st;
}

slm_status slm_dna_predict_proba(const char *clf_model, const slm_seqset *s, int n_threads,
                                 float *proba)
{
    slm_status st = SLM_OK;
    SLM_CHECK(clf_model && s && proba, SLM_ERR_ARG, "slm_dna_predict_proba: NULL argument");
    if (s->n == 0) return SLM_OK;
    SLM_TRY(run_rows(clf_model, s, n_threads, 1, -1, NULL, proba, NULL, NULL));
fail:
    return st;
}

slm_status slm_dna_embed(const char *model, const slm_seqset *s, slm_dna_pool pool,
                         int n_threads, float **out, int *dim)
{
    slm_status st = SLM_OK;
    SLM_CHECK(model && s && out && dim, SLM_ERR_ARG, "slm_dna_embed: NULL argument");
    *out = NULL;
    SLM_CHECK(s->n > 0, SLM_ERR_ARG, "slm_dna_embed: no sequences");
    SLM_TRY(run_rows(model, s, n_threads, 0, (int)pool, out, NULL, dim, NULL));
fail:
    return st;
}

/* ---- log-likelihood ---- */

slm_status slm_dna_loglik(const char *model, const char *seq, int n_threads, double *loglik,
                          size_t *n_tokens)
{
    slm_status st = SLM_OK;
    glm g = {0};
    slm_dna_tok tok = {0};
    int32_t *toks = NULL, *ids = NULL, *tgt = NULL;
    char *norm = NULL;
    SLM_CHECK(model && seq && loglik, SLM_ERR_ARG, "slm_dna_loglik: NULL argument");
    const size_t n = strlen(seq);
    norm = slm_alloc(n + 1);
    SLM_CHECK(norm, SLM_ERR_NOMEM, "dna score: out of memory");
    for (size_t i = 0; i < n; i++) {
        char b = slm_seqset_base(seq[i]);
        SLM_CHECK(b, SLM_ERR_ARG, "dna score: character %zu '%c' is not a nucleotide code", i + 1,
                  seq[i]);
        norm[i] = b;
    }
    norm[n] = 0;
    SLM_CHECK(n > 0, SLM_ERR_ARG, "dna score: empty sequence");
    SLM_TRY(slm_dna_tok_open(model, NULL, &tok));
    size_t nt = 0;
    st = slm_dna_tok_encode(&tok, norm, n, NULL, 0, &nt);
    if (st == SLM_ERR_FULL) st = SLM_OK, slm_error_clear();
    SLM_TRY(st);
    toks = slm_alloc((nt + 1) * sizeof *toks);
    SLM_CHECK(toks, SLM_ERR_NOMEM, "dna score: out of memory");
    SLM_TRY(slm_dna_tok_encode(&tok, norm, n, toks, nt + 1, &nt));
    /* windows of at most the context, each from BOS */
    uint32_t ctx = 0;
    {
        slm_gguf *f = NULL;
        SLM_TRY(slm_gguf_open(model, 1, &f));
        st = slm_gguf_get_u32(f, "llama" SLM_KEY_SUFFIX_N_CTX, &ctx);
        slm_gguf_close(f);
        SLM_CHECK(st == SLM_OK && ctx >= 2, SLM_ERR_FORMAT, "%s: no context length", model);
    }
    const size_t W = nt < ctx ? nt : ctx;
    SLM_TRY(glm_open(model, 1, (int)W, n_threads, &g));
    ids = slm_alloc(W * sizeof *ids);
    tgt = slm_alloc(W * sizeof *tgt);
    SLM_CHECK(ids && tgt, SLM_ERR_NOMEM, "dna score: out of memory");
    double sum = 0;
    for (size_t at = 0; at < nt; at += W) {
        const size_t k = nt - at < W ? nt - at : W;
        ids[0] = tok.bos;
        for (size_t i = 1; i < W; i++) ids[i] = i < k ? toks[at + i - 1] : tok.bos;
        for (size_t i = 0; i < W; i++) tgt[i] = i < k ? toks[at + i] : tok.bos;
        slm_tmodel_forward(g.m, ids, tgt);
        for (size_t i = 0; i < k; i++) sum -= g.m->losses[i];
    }
    *loglik = sum;
    if (n_tokens) *n_tokens = nt;
fail:
    glm_close(&g);
    slm_dna_tok_close(&tok);
    slm_free(toks);
    slm_free(ids);
    slm_free(tgt);
    slm_free(norm);
    return st;
}

/* ---- gradient check (tests) ---- */

/* Mean head loss of all rows of s (one batch) with the model's current
 * parameters. */
static double batch_loss(glm *g, const slm_seqset *s, const float *hw, const float *hb, int K,
                         slm_dna_pool pool, int32_t *ids, int *lens, float *pooled, char *rcbuf,
                         int32_t *scratch, size_t scap, slm_status *st)
{
    const int E = g->c.n_embd;
    *st = forward_pooled(g, s, NULL, 0, s->n, NULL, ids, lens, pooled, rcbuf, scratch, scap,
                         pool);
    double loss = 0;
    float p[64];
    for (size_t b = 0; b < s->n; b++) {
        head_logits(hw, hb, K, E, pooled + b * E, p);
        softmax(p, K);
        loss -= log(p[s->label[b]]);
    }
    return loss / (double)s->n;
}

slm_status slm_dna_glm_grad_check(const char *model, const slm_seqset *s, slm_dna_pool pool,
                                  int n_probe, uint64_t seed, double *max_rel_err)
{
    slm_status st = SLM_OK, st2 = SLM_OK;
    glm g = {0};
    int32_t *ids = NULL, *scratch = NULL;
    int *lens = NULL;
    float *pooled = NULL, *dpooled = NULL, *hw = NULL, *gw = NULL, *grad = NULL;
    char *rcbuf = NULL;
    SLM_CHECK(model && s && s->n > 0 && s->n <= 64 && max_rel_err, SLM_ERR_ARG,
              "grad check: 1..64 sequences needed");
    const int K = s->n_class < 2 ? 2 : s->n_class;
    size_t maxlen = 0;
    for (size_t i = 0; i < s->n; i++) {
        size_t l = strlen(s->seq[i]);
        maxlen = l > maxlen ? l : maxlen;
    }
    SLM_TRY(glm_open(model, (int)s->n, (int)maxlen + 1, 1, &g));
    slm_tmodel *m = g.m;
    const int T = m->T, E = g.c.n_embd, B = m->B;
    const size_t scap = maxlen + 8, nhead = (size_t)K * E + (size_t)K;
    ids = slm_alloc((size_t)B * T * sizeof *ids);
    lens = slm_alloc((size_t)B * sizeof *lens);
    pooled = slm_alloc((size_t)B * E * sizeof *pooled);
    dpooled = slm_alloc((size_t)B * E * sizeof *dpooled);
    hw = slm_alloc(nhead * sizeof *hw);
    gw = slm_calloc(nhead, sizeof *gw);
    rcbuf = slm_alloc(maxlen + 1);
    scratch = slm_alloc(scap * sizeof *scratch);
    grad = slm_alloc(m->n_params * sizeof *grad);
    SLM_CHECK(ids && lens && pooled && dpooled && hw && gw && rcbuf && scratch && grad,
              SLM_ERR_NOMEM, "grad check: out of memory");
    slm_rng rng;
    slm_rng_seed(&rng, seed);
    for (size_t i = 0; i < nhead; i++) hw[i] = (float)slm_rng_normal(&rng) * 0.5f;
    const float *hb = hw + (size_t)K * E;
    /* analytic */
    SLM_TRY(forward_pooled(&g, s, NULL, 0, s->n, NULL, ids, lens, pooled, rcbuf, scratch, scap,
                           pool));
    head_step(hw, hb, K, E, pooled, s->label, s->n, gw, gw + (size_t)K * E, dpooled);
    memset(m->dh, 0, (size_t)B * T * E * sizeof(float));
    for (size_t b = 0; b < s->n; b++) {
        int first, count;
        pool_row(m, (int)b, lens[b], pool, pooled + b * E, &first, &count);
        for (int t = first; t < first + count; t++)
            for (int j = 0; j < E; j++)
                m->dh[((size_t)b * T + t) * E + j] = dpooled[b * E + j] / (float)count;
    }
    slm_tmodel_zero_grad(m);
    backward_from_hidden(m, ids);
    memcpy(grad, m->grads, m->n_params * sizeof *grad);
    /* numeric, on the parameters with the largest gradients of random tensors */
    double worst = 0;
    for (int k = 0; k < n_probe; k++) {
        const slm_ttensor *t = &m->tensors[slm_rng_next(&rng) % (uint64_t)m->n_tensors];
        const size_t n = (size_t)(t->n_in * t->n_out);
        size_t at = t->off;
        for (int tries = 0; tries < 64; tries++) { /* prefer a parameter that matters */
            size_t c = t->off + (size_t)(slm_rng_next(&rng) % n);
            if (fabsf(grad[c]) > fabsf(grad[at])) at = c;
        }
        const float keep = m->params[at], h = 1e-2f * (fabsf(keep) > 0.1f ? fabsf(keep) : 0.1f);
        m->params[at] = keep + h;
        const double lp = batch_loss(&g, s, hw, hb, K, pool, ids, lens, pooled, rcbuf, scratch,
                                     scap, &st2);
        m->params[at] = keep - h;
        const double lm = batch_loss(&g, s, hw, hb, K, pool, ids, lens, pooled, rcbuf, scratch,
                                     scap, &st2);
        m->params[at] = keep;
        SLM_TRY(st2);
        const double num = (lp - lm) / (2.0 * h), ana = grad[at];
        const double err = fabs(num - ana) / (fabs(num) + fabs(ana) + 1e-4);
        if (err > worst) worst = err;
    }
    *max_rel_err = worst;
fail:
    glm_close(&g);
    slm_free(ids);
    slm_free(lens);
    slm_free(pooled);
    slm_free(dpooled);
    slm_free(hw);
    slm_free(gw);
    slm_free(rcbuf);
    slm_free(scratch);
    slm_free(grad);
    return st;
}

/* ---- file-level entry points (slm.h) ---- */

slm_dna_finetune_opts slm_dna_finetune_default_opts(void)
{
    slm_dna_finetune_params d = slm_dna_finetune_default_params();
    slm_dna_finetune_opts o = {.epochs = d.epochs, .patience = d.patience, .lr = d.lr,
                               .lr_head = d.lr_head, .batch = d.batch, .seed = d.seed};
    return o;
}

typedef struct progress_bridge {
    const slm_dna_finetune_opts *o;
} progress_bridge;

static int bridge_progress(const slm_dna_finetune_progress *pr, void *user)
{
    const progress_bridge *b = user;
    return b->o->progress(pr->epoch, pr->n_epochs, pr->done, pr->total, pr->loss, pr->dev_mcc,
                          b->o->user);
}

slm_status slm_dna_finetune_csv(const slm_dna_finetune_opts *o, const char *base_model,
                                const char *train_csv, const char *dev_csv, const char *out_path,
                                slm_dna_finetune_result *res)
{
    slm_status st = SLM_OK;
    slm_seqset tr = {0}, dv = {0};
    SLM_CHECK(o && base_model && train_csv && out_path, SLM_ERR_ARG,
              "slm_dna_finetune_csv: options, base model, training file and output are required");
    SLM_TRY(slm_seqset_read_csv(train_csv, &tr));
    if (dev_csv) SLM_TRY(slm_seqset_read_csv(dev_csv, &dv));
    slm_dna_finetune_params p = slm_dna_finetune_default_params();
    p.epochs = o->epochs;
    p.patience = o->patience;
    p.probe = o->probe;
    p.pool = o->pool_last ? SLM_DNA_POOL_LAST : SLM_DNA_POOL_MEAN;
    p.lr = o->lr;
    p.lr_head = o->lr_head;
    p.batch = o->batch;
    p.max_train = (size_t)o->max_train;
    p.rc_augment = o->rc_augment;
    p.seed = o->seed;
    p.n_threads = o->n_threads;
    progress_bridge br = {o};
    if (o->progress) {
        p.progress = bridge_progress;
        p.user = &br;
    }
    slm_dna_finetune_stats fs;
    SLM_TRY(slm_dna_finetune(&p, &tr, dev_csv ? &dv : NULL, base_model, out_path, &fs));
    if (res) {
        res->epochs_run = fs.epochs_run;
        res->best_epoch = fs.best_epoch;
        res->best_dev_mcc = fs.best_dev_mcc;
        res->final_train_loss = fs.final_train_loss;
        res->n_params = fs.n_params;
        res->train_tokens = fs.train_tokens;
        res->elapsed_s = fs.elapsed_s;
    }
fail:
    slm_seqset_free(&tr);
    slm_seqset_free(&dv);
    return st;
}

/* A CSV (labelled) or FASTA/FASTQ (label -1, names kept) as a seqset. */
static slm_status read_any(const char *path, slm_seqset *s, int32_t **label, char ***names)
{
    slm_status st = SLM_OK;
    slm_fasta f = {0};
    char first = 0;
    {
        /* FASTA/FASTQ start with '>' or '@' once decompressed: ask the reader */
        slm_status fs = slm_fasta_read(path, 1, &f);
        first = fs == SLM_OK ? '>' : 0;
        slm_fasta_free(&f);
        slm_error_clear();
    }
    if (first != '>') {
        SLM_TRY(slm_seqset_read_csv(path, s));
        *label = slm_alloc((s->n ? s->n : 1) * sizeof **label);
        SLM_CHECK(*label, SLM_ERR_NOMEM, "%s: out of memory", path);
        memcpy(*label, s->label, s->n * sizeof **label);
        if (names) *names = NULL;
        return SLM_OK;
    }
    SLM_TRY(slm_fasta_read(path, 0, &f));
    for (size_t i = 0; i < f.n; i++) SLM_TRY(slm_seqset_push(s, f.rec[i].seq, 0));
    *label = slm_alloc((s->n ? s->n : 1) * sizeof **label);
    SLM_CHECK(*label, SLM_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < s->n; i++) (*label)[i] = -1;
    if (names) {
        *names = slm_calloc(f.n ? f.n : 1, sizeof **names);
        SLM_CHECK(*names, SLM_ERR_NOMEM, "%s: out of memory", path);
        for (size_t i = 0; i < f.n; i++) {
            (*names)[i] = f.rec[i].name;
            f.rec[i].name = NULL;
        }
    }
fail:
    slm_fasta_free(&f);
    return st;
}

slm_status slm_dna_predict_csv(const char *clf_model, const char *data, int n_threads, size_t *n,
                               int32_t *n_class, float **proba, int32_t **label)
{
    slm_status st = SLM_OK;
    slm_seqset s = {0};
    int32_t *lab = NULL;
    float *pr = NULL;
    SLM_CHECK(clf_model && data && n && n_class && proba && label, SLM_ERR_ARG,
              "slm_dna_predict_csv: NULL argument");
    *proba = NULL;
    *label = NULL;
    int32_t K = 0;
    SLM_TRY(slm_dna_classifier_n_class(clf_model, &K));
    SLM_TRY(read_any(data, &s, &lab, NULL));
    pr = slm_alloc((s.n ? s.n : 1) * (size_t)K * sizeof *pr);
    SLM_CHECK(pr, SLM_ERR_NOMEM, "dna predict: out of memory");
    SLM_TRY(slm_dna_predict_proba(clf_model, &s, n_threads, pr));
    *n = s.n;
    *n_class = K;
    *proba = pr, pr = NULL;
    *label = lab, lab = NULL;
fail:
    slm_seqset_free(&s);
    slm_free(lab);
    slm_free(pr);
    return st;
}

slm_status slm_dna_embed_file(const char *model, const char *data, int pool_last, int n_threads,
                              size_t *n, int *dim, float **vec, char ***names)
{
    slm_status st = SLM_OK;
    slm_seqset s = {0};
    int32_t *lab = NULL;
    char **nm = NULL;
    SLM_CHECK(model && data && n && dim && vec, SLM_ERR_ARG, "slm_dna_embed_file: NULL argument");
    *vec = NULL;
    if (names) *names = NULL;
    SLM_TRY(read_any(data, &s, &lab, &nm));
    SLM_TRY(slm_dna_embed(model, &s, pool_last ? SLM_DNA_POOL_LAST : SLM_DNA_POOL_MEAN, n_threads,
                          vec, dim));
    if (names) {
        if (!nm) { /* CSV: the label as text */
            nm = slm_calloc(s.n ? s.n : 1, sizeof *nm);
            SLM_CHECK(nm, SLM_ERR_NOMEM, "dna embed: out of memory");
            for (size_t i = 0; i < s.n; i++) {
                nm[i] = slm_alloc(16);
                SLM_CHECK(nm[i], SLM_ERR_NOMEM, "dna embed: out of memory");
                snprintf(nm[i], 16, "%d", lab[i]);
            }
        }
        *names = nm, nm = NULL;
    }
    *n = s.n;
fail:
    if (st != SLM_OK && vec && *vec) {
        slm_free(*vec);
        *vec = NULL;
    }
    slm_dna_free_names(nm, s.n);
    slm_seqset_free(&s);
    slm_free(lab);
    return st;
}

void slm_dna_free(void *p)
{
    slm_free(p);
}

void slm_dna_free_names(char **names, size_t n)
{
    if (!names) return;
    for (size_t i = 0; i < n; i++) slm_free(names[i]);
    slm_free(names);
}
