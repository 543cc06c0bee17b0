/* prune.c — slm_prune: a GGUF model in, a pruned GGUF out. Five methods
 * (contracts in slm.h): whole blocks by residual-stream similarity (depth),
 * FFN channels and attention heads (KV groups) by activation-aware
 * importance (ffn, heads), and unstructured or N:M sparsity by |W|
 * (magnitude) or |W| x ||x|| (wanda).
 *
 * Owns: the calibration pass (the forward pass's matmul and residual
 * observers on an slm_state, as imatrix_collect.c), the choice of what to
 * remove, and the rewritten file. The input stays mapped; tensors that
 * change are produced while the file is written (the writer's lazy tensors),
 * rows spread over the pool, so one output tensor is in memory at a time.
 * Sparse tensors stay dense in their input type (no sparse kernel yet): the
 * slm.prune.* keys record the pattern for one.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/pool.h"
#include "base/status.h"
#include "eval/text.h"
#include "gguf/gguf.h"
#include "gguf/keys.h"
#include "model/model.h"
#include "quant/types.h"

slm_prune_params slm_prune_default_params(void)
{
    slm_prune_params p;
    memset(&p, 0, sizeof p);
    p.method = "magnitude";
    p.ratio = 0.5f;
    p.n_ctx = 512;
    return p;
}

enum { M_DEPTH, M_FFN, M_MAGNITUDE, M_WANDA, M_HEADS };

/* Layer matrices whose inputs the calibration pass records (names after "blk.N."). */
static const char *const slot_names[] = {
    "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_qkv.weight", "attn_output.weight",
    "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight",
};
#define N_SLOTS ((int)(sizeof slot_names / sizeof slot_names[0]))
#define SLOT_ATTN_OUT 4
#define SLOT_FFN_DOWN 7

static int slot_of(const char *rest)
{
    for (int i = 0; i < N_SLOTS; i++)
        if (strcmp(rest, slot_names[i]) == 0) return i;
    return -1;
}

/* Layer of "blk.N.…" and the part after "blk.N.", or -1. */
static int layer_of(const char *name, const char **rest)
{
    if (strncmp(name, "blk.", 4) != 0) return -1;
    char *end;
    long l = strtol(name + 4, &end, 10);
    if (end == name + 4 || *end != '.' || l < 0 || l >= SLM_MAX_LAYERS) return -1;
    if (rest) *rest = end + 1;
    return (int)l;
}

/* ---- calibration ---- */

typedef struct calib {
    uint32_t n_layer;
    int64_t n_embd;
    double *cos_sum;   /* [n_layer] sum over tokens of cos(x_in, x_out) */
    uint64_t cos_n;    /* tokens per layer */
    float *prev;       /* [n_ctx][n_embd] the residual before the current block */
    int have_prev;
    double *col[SLM_MAX_LAYERS][N_SLOTS]; /* sum of x^2 per input column, or NULL */
    int64_t col_n[SLM_MAX_LAYERS][N_SLOTS];
    uint64_t rows[SLM_MAX_LAYERS][N_SLOTS];
    slm_status st;
} calib;

static void on_matmul(void *user, int layer, const char *tensor, int expert, const float *x, int64_t ld,
                      int64_t n_tok, int64_t n_in)
{
    calib *c = user;
    int sl = slot_of(tensor);
    if (c->st != SLM_OK || expert >= 0 || sl < 0 || layer < 0 || layer >= SLM_MAX_LAYERS) return;
    if (!c->col[layer][sl]) {
        c->col[layer][sl] = slm_calloc((size_t)n_in, sizeof(double));
        if (!c->col[layer][sl]) {
            c->st = slm_fail(SLM_ERR_NOMEM, "prune: cannot allocate %lld column sums", (long long)n_in);
            return;
        }
        c->col_n[layer][sl] = n_in;
    }
    if (c->col_n[layer][sl] != n_in) return;
    double *sum = c->col[layer][sl];
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t j = 0; j < n_in; j++) sum[j] += (double)x[t * ld + j] * x[t * ld + j];
    c->rows[layer][sl] += (uint64_t)n_tok;
}

static void on_resid(void *user, int layer, const float *x, int64_t n_tok, int64_t n_embd)
{
    calib *c = user;
    if (layer > 0 && c->have_prev) {
        for (int64_t t = 0; t < n_tok; t++) {
            const float *a = c->prev + t * n_embd, *b = x + t * n_embd;
            double ab = 0, aa = 0, bb = 0;
            for (int64_t i = 0; i < n_embd; i++) {
                ab += (double)a[i] * b[i];
                aa += (double)a[i] * a[i];
                bb += (double)b[i] * b[i];
            }
            c->cos_sum[layer - 1] += aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 1.0;
        }
        if (layer == (int)c->n_layer) c->cos_n += (uint64_t)n_tok;
    }
    memcpy(c->prev, x, (size_t)(n_tok * n_embd) * sizeof(float));
    c->have_prev = 1;
}

static slm_status calibrate(const char *in_path, const slm_prune_params *p, calib *c)
{
    slm_status st = SLM_OK;
    slm_model *m = NULL;
    slm_state *s = NULL;
    int32_t *tok = NULL;
    size_t n_tok = 0;
    slm_model_params mp = slm_model_default_params();
    SLM_TRY(slm_model_load(in_path, &mp, &m));
    const uint32_t n_ctx = p->n_ctx;
    SLM_CHECK(n_ctx >= 2, SLM_ERR_ARG, "prune: n_ctx %u, expected >= 2", n_ctx);
    SLM_TRY(slm_eval_tokenize_file(m, p->data, 0, &tok, &n_tok));
    SLM_CHECK(n_tok >= n_ctx, SLM_ERR_ARG, "prune: '%s' gives %zu tokens, fewer than one chunk of %u", p->data,
              n_tok, n_ctx);
    uint32_t n_chunk = (uint32_t)(n_tok / n_ctx);
    if (p->n_chunks && p->n_chunks < n_chunk) n_chunk = p->n_chunks;
    c->n_layer = m->hp.n_layer;
    c->n_embd = m->hp.n_embd;
    c->cos_sum = slm_calloc(c->n_layer ? c->n_layer : 1, sizeof *c->cos_sum);
    c->prev = slm_alloc((size_t)n_ctx * (size_t)c->n_embd * sizeof *c->prev);
    SLM_CHECK(c->cos_sum && c->prev, SLM_ERR_NOMEM, "prune: cannot allocate calibration buffers");
    SLM_TRY(slm_state_new(m, n_ctx, n_ctx, SLM_TYPE_F16, p->n_threads, &s));
    s->observe = on_matmul;
    s->observe_resid = on_resid;
    s->observe_user = c;
    const int32_t bos = slm_token_bos(m);
    const int add_bos = bos >= 0 && tok[0] == bos;
    for (uint32_t k = 0; k < n_chunk; k++) {
        int32_t *chunk = tok + (size_t)k * n_ctx;
        int32_t saved = chunk[0];
        if (add_bos) chunk[0] = bos;
        c->have_prev = 0;
        slm_forward(s, chunk, n_ctx, 0, n_ctx, NULL);
        chunk[0] = saved;
        SLM_TRY(c->st);
        SLM_CHECK(!p->progress || !p->progress(k + 1, n_chunk, p->user), SLM_ERR_CANCELLED,
                  "prune: cancelled after calibration chunk %u", k + 1);
    }
fail:
    slm_state_free(s);
    slm_model_free(m);
    slm_free(tok);
    return st;
}

static void calib_free(calib *c)
{
    slm_free(c->cos_sum);
    slm_free(c->prev);
    for (int l = 0; l < SLM_MAX_LAYERS; l++)
        for (int k = 0; k < N_SLOTS; k++) slm_free(c->col[l][k]);
}

/* ---- choosing what to remove ---- */

typedef struct scored {
    double s;
    int64_t i;
} scored;

/* Ascending score, ties by index: deterministic. */
static int by_score(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->s != y->s) return x->s < y->s ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static int by_index(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Zero the lowest-scoring weights of one row w[n] (score |w_j| x scale_j).
 * Returns the number zeroed. buf holds n entries. */
static int64_t prune_row(float *w, const float *scale, int64_t n, float ratio, int pn, int pm, scored *buf)
{
    int64_t zeroed = 0;
    for (int64_t j = 0; j < n; j++) {
        buf[j].s = fabs((double)w[j]) * (scale ? scale[j] : 1.0);
        buf[j].i = j;
    }
    if (pm > 0) {
        for (int64_t g = 0; g + pm <= n; g += pm) {
            qsort(buf + g, (size_t)pm, sizeof *buf, by_score);
            for (int k = 0; k < pm - pn; k++) {
                zeroed += w[buf[g + k].i] != 0.0f;
                w[buf[g + k].i] = 0.0f;
            }
        }
    } else {
        int64_t k = (int64_t)floor((double)ratio * (double)n + 0.5);
        if (k <= 0) return 0;
        qsort(buf, (size_t)n, sizeof *buf, by_score);
        for (int64_t j = 0; j < k; j++) {
            zeroed += w[buf[j].i] != 0.0f;
            w[buf[j].i] = 0.0f;
        }
    }
    return zeroed;
}

/* ---- the output tensors ---- */

/* OP_ROWSEL / OP_COLSEL (heads): keep the rows / input columns listed in
 * ptensor.sel; rows are copied, columns dequantized, picked and requantized. */
enum { OP_SPARSE, OP_FFN_ROWS, OP_FFN_DOWN, OP_ROWSEL, OP_COLSEL };

typedef struct ptensor {
    const slm_gguf_tensor *src;
    char *name;          /* output name (owned) */
    int op;
    int layer;           /* original layer */
    const float *scale;  /* OP_SPARSE wanda: [ne0] ||x_j||, or NULL */
    int64_t ne[4];       /* output shape */
    int fused;           /* OP_FFN_ROWS: phi3 ffn_up holds gate | up (2F rows) */
    int32_t *sel;        /* OP_ROWSEL / OP_COLSEL: kept row / column indices, ascending (owned) */
} ptensor;

typedef struct pctx {
    slm_gguf *in;
    slm_pool *pool;
    ptensor *t;          /* [n_t] */
    int64_t n_t;
    const slm_prune_params *p;
    int pn, pm;
    int32_t *keep;       /* ffn: [n_layer][n_keep] kept channels, ascending */
    int64_t n_keep, n_ff;
    int32_t *ukeep;      /* heads: [n_layer][n_ukeep] kept KV groups, ascending */
    int64_t n_ukeep, n_unit, group; /* kept and total KV groups; query heads per group */
    int64_t hd_k, hd_v;  /* head dimensions of K (and Q) and V */
    float **fbuf;        /* [nth] scratch floats */
    scored **sbuf;       /* [nth] scratch scores */
    size_t fcap;
    int nth;
    int64_t zeroed[64];  /* per thread */
    uint64_t pruned_elems;
} pctx;

typedef struct row_job {
    pctx *q;
    const ptensor *pt;
    uint8_t *dst;
    int64_t n_rows;
} row_job;

static void row_worker(void *ctx, int ith, int nth)
{
    const row_job *j = ctx;
    const ptensor *pt = j->pt;
    pctx *q = j->q;
    const slm_gguf_tensor *t = pt->src;
    const slm_type_traits *tr = slm_type_traits_get(t->type);
    const int64_t n_in = t->ne[0], n_out = pt->ne[0];
    const size_t src_row = slm_type_row_size(t->type, n_in), dst_row = slm_type_row_size(t->type, n_out);
    float *f = q->fbuf[ith], *g = f + n_in;
    int64_t zeroed = 0;
    for (int64_t r = ith; r < j->n_rows; r += nth) {
        const uint8_t *src = (const uint8_t *)t->data + (size_t)r * src_row;
        uint8_t *dst = j->dst + (size_t)r * dst_row;
        tr->to_float(src, f, n_in);
        if (pt->op == OP_SPARSE) {
            zeroed += prune_row(f, pt->scale, n_in, q->p->ratio, q->pn, q->pm, q->sbuf[ith]);
            tr->quantize(f, dst, 1, n_in, NULL);
        } else { /* OP_FFN_DOWN, OP_COLSEL: keep the chosen input columns */
            const int32_t *keep = pt->op == OP_COLSEL ? pt->sel : q->keep + (size_t)pt->layer * (size_t)q->n_keep;
            for (int64_t k = 0; k < n_out; k++) g[k] = f[keep[k]];
            tr->quantize(g, dst, 1, n_out, NULL);
        }
    }
    q->zeroed[ith] += zeroed;
}

static slm_status fill_tensor(void *user, const char *name, void *dst, uint64_t nbytes)
{
    pctx *q = user;
    slm_status st = SLM_OK;
    const ptensor *pt = NULL;
    for (int64_t i = 0; i < q->n_t && !pt; i++)
        if (strcmp(q->t[i].name, name) == 0) pt = &q->t[i];
    SLM_CHECK(pt != NULL, SLM_ERR_ARG, "prune: internal: no plan for tensor '%s'", name);
    const slm_gguf_tensor *t = pt->src;
    const int64_t n_rows = t->ne[1] * t->ne[2] * t->ne[3];
    if (pt->op == OP_FFN_ROWS) {
        /* whole rows are copied: no requantization */
        const size_t row = slm_type_row_size(t->type, t->ne[0]);
        const int32_t *keep = q->keep + (size_t)pt->layer * (size_t)q->n_keep;
        uint8_t *out = dst;
        for (int part = 0; part < (pt->fused ? 2 : 1); part++)
            for (int64_t k = 0; k < q->n_keep; k++, out += row)
                memcpy(out, (const uint8_t *)t->data + (size_t)(part * q->n_ff + keep[k]) * row, row);
        SLM_CHECK((uint64_t)(out - (uint8_t *)dst) == nbytes, SLM_ERR_ARG, "prune: internal: '%s' size", name);
    } else if (pt->op == OP_ROWSEL) {
        const size_t row = slm_type_row_size(t->type, t->ne[0]);
        const int64_t n_out = pt->ne[1];
        SLM_CHECK((uint64_t)row * (uint64_t)n_out == nbytes, SLM_ERR_ARG, "prune: internal: '%s' size", name);
        for (int64_t k = 0; k < n_out; k++)
            memcpy((uint8_t *)dst + (size_t)k * row, (const uint8_t *)t->data + (size_t)pt->sel[k] * row, row);
    } else {
        row_job j = {q, pt, dst, n_rows};
        if (pt->op == OP_SPARSE) q->pruned_elems += (uint64_t)(t->ne[0] * n_rows);
        slm_pool_run(q->pool, row_worker, &j);
    }
fail:
    return st;
}

/* ---- metadata ---- */

static slm_status arch_key(const slm_gguf *g, const char *suffix, char *key, size_t cap)
{
    slm_status st = SLM_OK;
    const char *a;
    size_t n;
    SLM_CHECK(slm_gguf_get_str(g, SLM_KEY_ARCHITECTURE, &a, &n) == SLM_OK && n + strlen(suffix) < cap,
              SLM_ERR_FORMAT, "prune: no usable general.architecture");
    memcpy(key, a, n);
    memcpy(key + n, suffix, strlen(suffix) + 1);
fail:
    return st;
}

static int method_of(const char *s)
{
    if (!s) return -1;
    if (strcmp(s, "depth") == 0) return M_DEPTH;
    if (strcmp(s, "ffn") == 0) return M_FFN;
    if (strcmp(s, "magnitude") == 0) return M_MAGNITUDE;
    if (strcmp(s, "wanda") == 0) return M_WANDA;
    if (strcmp(s, "heads") == 0) return M_HEADS;
    return -1;
}

/* Wanda's scale for a tensor: sqrt(mean x_j^2) from the calibration. */
static slm_status wanda_scale(const calib *c, int layer, const char *rest, int64_t n_in, float **out)
{
    slm_status st = SLM_OK;
    int sl = slot_of(rest);
    *out = NULL;
    SLM_CHECK(sl >= 0 && c->col[layer][sl] && c->col_n[layer][sl] == n_in && c->rows[layer][sl] > 0,
              SLM_ERR_UNSUPPORTED, "prune: wanda: no calibration activations for 'blk.%d.%s' (%lld inputs)", layer,
              rest, (long long)n_in);
    float *v = slm_alloc((size_t)n_in * sizeof *v);
    SLM_CHECK(v != NULL, SLM_ERR_NOMEM, "prune: cannot allocate %lld floats", (long long)n_in);
    for (int64_t j = 0; j < n_in; j++) v[j] = (float)sqrt(c->col[layer][sl][j] / (double)c->rows[layer][sl]);
    *out = v;
fail:
    return st;
}

/* FFN channel choice per layer: keep the n_keep highest scores. */
static slm_status choose_channels(pctx *q, const calib *c, uint32_t n_layer, int have_data)
{
    slm_status st = SLM_OK;
    float *f = NULL;
    scored *sc = slm_alloc((size_t)q->n_ff * sizeof *sc);
    double *cn = slm_alloc((size_t)q->n_ff * sizeof *cn);
    SLM_CHECK(sc && cn, SLM_ERR_NOMEM, "prune: cannot allocate channel scores");
    for (uint32_t l = 0; l < n_layer; l++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%u.ffn_down.weight", l);
        const slm_gguf_tensor *d = slm_gguf_find_tensor(q->in, name);
        snprintf(name, sizeof name, "blk.%u.ffn_up.weight", l);
        const slm_gguf_tensor *u = slm_gguf_find_tensor(q->in, name);
        SLM_CHECK(d && u && d->n_dims == 2 && d->ne[0] == q->n_ff, SLM_ERR_UNSUPPORTED,
                  "prune: ffn: layer %u has no dense ffn_down of %lld inputs (MoE or unusual layout)", l,
                  (long long)q->n_ff);
        const slm_type_traits *dt = slm_type_traits_get(d->type), *ut = slm_type_traits_get(u->type);
        SLM_CHECK(dt && dt->to_float && ut && ut->to_float, SLM_ERR_UNSUPPORTED, "prune: ffn: layer %u: type", l);
        size_t need = (size_t)(q->n_ff > u->ne[0] ? q->n_ff : u->ne[0]);
        float *nf = slm_realloc(f, need * sizeof *f);
        SLM_CHECK(nf != NULL, SLM_ERR_NOMEM, "prune: cannot allocate a row");
        f = nf;
        /* column norms of W_down: sum over its E rows */
        for (int64_t j = 0; j < q->n_ff; j++) cn[j] = 0;
        const size_t drow = slm_type_row_size(d->type, d->ne[0]);
        for (int64_t r = 0; r < d->ne[1]; r++) {
            dt->to_float((const uint8_t *)d->data + (size_t)r * drow, f, q->n_ff);
            for (int64_t j = 0; j < q->n_ff; j++) cn[j] += (double)f[j] * f[j];
        }
        const double *xs = have_data && l < SLM_MAX_LAYERS ? c->col[l][SLOT_FFN_DOWN] : NULL;
        const uint64_t xr = have_data ? c->rows[l][SLOT_FFN_DOWN] : 0;
        SLM_CHECK(!have_data || (xs && xr && c->col_n[l][SLOT_FFN_DOWN] == q->n_ff), SLM_ERR_UNSUPPORTED,
                  "prune: ffn: no calibration activations for layer %u's ffn_down", l);
        const size_t urow = slm_type_row_size(u->type, u->ne[0]);
        for (int64_t j = 0; j < q->n_ff; j++) {
            double s = sqrt(cn[j]);
            if (xs) {
                s *= sqrt(xs[j] / (double)xr);
            } else {
                ut->to_float((const uint8_t *)u->data + (size_t)(u->ne[1] == 2 * q->n_ff ? q->n_ff + j : j) * urow,
                             f, u->ne[0]);
                double un = 0;
                for (int64_t i = 0; i < u->ne[0]; i++) un += (double)f[i] * f[i];
                s *= sqrt(un);
            }
            sc[j].s = s;
            sc[j].i = j;
        }
        qsort(sc, (size_t)q->n_ff, sizeof *sc, by_score);
        scored *kept = sc + (q->n_ff - q->n_keep); /* the highest scores */
        qsort(kept, (size_t)q->n_keep, sizeof *kept, by_index);
        for (int64_t k = 0; k < q->n_keep; k++) q->keep[(size_t)l * (size_t)q->n_keep + (size_t)k] = (int32_t)kept[k].i;
    }
fail:
    slm_free(f);
    slm_free(sc);
    slm_free(cn);
    return st;
}

/* Attention-head choice per layer: keep the n_ukeep KV groups (a KV head
 * and the group query heads that share it; one head when there is no GQA)
 * whose outputs matter most. The attention output projection's input is the
 * concatenation of the query heads' outputs, so a head's contribution is
 * sum over its hd_v columns j of ||x_j||^2 x ||W_o[:,j]||^2 (x = that input
 * on the calibration text), or without data ||W_o[:,j]||^2 alone; a group
 * scores the sum over its heads. */
static slm_status choose_heads(pctx *q, const calib *c, uint32_t n_layer, int have_data)
{
    slm_status st = SLM_OK;
    const int64_t n_in = q->n_unit * q->group * q->hd_v;
    float *f = slm_alloc((size_t)n_in * sizeof *f);
    double *cn = slm_alloc((size_t)n_in * sizeof *cn);
    scored *sc = slm_alloc((size_t)q->n_unit * sizeof *sc);
    SLM_CHECK(f && cn && sc, SLM_ERR_NOMEM, "prune: cannot allocate head scores");
    for (uint32_t l = 0; l < n_layer; l++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%u.attn_output.weight", l);
        const slm_gguf_tensor *o = slm_gguf_find_tensor(q->in, name);
        SLM_CHECK(o && o->n_dims == 2 && o->ne[0] == n_in, SLM_ERR_UNSUPPORTED,
                  "prune: heads: layer %u has no attn_output of %lld inputs (%lld heads x %lld)", l,
                  (long long)n_in, (long long)(q->n_unit * q->group), (long long)q->hd_v);
        const slm_type_traits *ot = slm_type_traits_get(o->type);
        SLM_CHECK(ot && ot->to_float, SLM_ERR_UNSUPPORTED, "prune: heads: '%s': type %s", name,
                  slm_type_name(o->type));
        for (int64_t j = 0; j < n_in; j++) cn[j] = 0;
        const size_t orow = slm_type_row_size(o->type, n_in);
        for (int64_t r = 0; r < o->ne[1]; r++) {
            ot->to_float((const uint8_t *)o->data + (size_t)r * orow, f, n_in);
            for (int64_t j = 0; j < n_in; j++) cn[j] += (double)f[j] * f[j];
        }
        const double *xs = have_data ? c->col[l][SLOT_ATTN_OUT] : NULL;
        const uint64_t xr = have_data ? c->rows[l][SLOT_ATTN_OUT] : 0;
        SLM_CHECK(!have_data || (xs && xr && c->col_n[l][SLOT_ATTN_OUT] == n_in), SLM_ERR_UNSUPPORTED,
                  "prune: heads: no calibration activations for layer %u's attn_output", l);
        for (int64_t u = 0; u < q->n_unit; u++) {
            double s = 0;
            for (int64_t j = u * q->group * q->hd_v; j < (u + 1) * q->group * q->hd_v; j++)
                s += cn[j] * (xs ? xs[j] / (double)xr : 1.0);
            sc[u].s = s;
            sc[u].i = u;
        }
        qsort(sc, (size_t)q->n_unit, sizeof *sc, by_score);
        scored *kept = sc + (q->n_unit - q->n_ukeep);
        qsort(kept, (size_t)q->n_ukeep, sizeof *kept, by_index);
        for (int64_t k = 0; k < q->n_ukeep; k++)
            q->ukeep[(size_t)l * (size_t)q->n_ukeep + (size_t)k] = (int32_t)kept[k].i;
    }
fail:
    slm_free(f);
    slm_free(cn);
    slm_free(sc);
    return st;
}

/* The kept indices along a head-major axis of one layer: per kept KV group,
 * its `per_unit` heads of `hd` entries each (per_unit = group for query
 * rows and attn_output columns, 1 for K and V rows). */
static slm_status head_sel(const pctx *q, int layer, int64_t per_unit, int64_t hd, int32_t **out, int64_t *n)
{
    slm_status st = SLM_OK;
    *n = q->n_ukeep * per_unit * hd;
    int32_t *v = slm_alloc((size_t)*n * sizeof *v);
    SLM_CHECK(v != NULL, SLM_ERR_NOMEM, "prune: cannot allocate a head index list");
    int64_t k = 0;
    for (int64_t i = 0; i < q->n_ukeep; i++) {
        const int64_t u = q->ukeep[(size_t)layer * (size_t)q->n_ukeep + (size_t)i];
        for (int64_t e = u * per_unit * hd; e < (u + 1) * per_unit * hd; e++) v[k++] = (int32_t)e;
    }
    *out = v;
fail:
    return st;
}

slm_status slm_prune(const char *in_path, const char *out_path, const slm_prune_params *p)
{
    slm_status st = SLM_OK;
    pctx q;
    memset(&q, 0, sizeof q);
    calib *c = NULL;
    slm_gguf_writer *w = NULL;
    float **scales = NULL;
    int32_t *new_index = NULL;
    slm_prune_stats stats;
    memset(&stats, 0, sizeof stats);
    slm_prune_params dp = slm_prune_default_params();
    if (!p) p = &dp;
    slm_error_clear();
    SLM_CHECK(in_path && out_path, SLM_ERR_ARG, "prune: NULL path");
    const int method = method_of(p->method);
    SLM_CHECK(method >= 0, SLM_ERR_ARG, "prune: method '%s' unknown (expected depth, ffn, heads, magnitude or wanda)",
              p->method ? p->method : "(null)");
    SLM_CHECK(p->ratio >= 0.0f && p->ratio < 1.0f, SLM_ERR_ARG, "prune: ratio %g, expected 0 <= ratio < 1",
              (double)p->ratio);
    const int nm = p->pattern_m > 0 || p->pattern_n > 0;
    SLM_CHECK(!nm || (p->pattern_n > 0 && p->pattern_n < p->pattern_m && p->pattern_m <= 64), SLM_ERR_ARG,
              "prune: pattern %d:%d, expected N:M with 0 < N < M <= 64", p->pattern_n, p->pattern_m);
    SLM_CHECK(!nm || method == M_MAGNITUDE || method == M_WANDA, SLM_ERR_ARG,
              "prune: an N:M pattern applies to magnitude and wanda, not %s", p->method);
    SLM_CHECK(p->data || (method != M_DEPTH && method != M_WANDA), SLM_ERR_ARG,
              "prune: %s needs calibration data", p->method);
    q.p = p;
    q.pn = nm ? p->pattern_n : 0;
    q.pm = nm ? p->pattern_m : 0;

    SLM_TRY(slm_gguf_open(in_path, 1, &q.in));
    char key_layer[160], key_ff[160];
    SLM_TRY(arch_key(q.in, SLM_KEY_SUFFIX_N_LAYER, key_layer, sizeof key_layer));
    SLM_TRY(arch_key(q.in, SLM_KEY_SUFFIX_N_FF, key_ff, sizeof key_ff));
    uint32_t n_layer = 0, n_ff = 0;
    SLM_CHECK(slm_gguf_get_u32(q.in, key_layer, &n_layer) == SLM_OK && n_layer > 0 && n_layer <= SLM_MAX_LAYERS,
              SLM_ERR_FORMAT, "prune: '%s': %s missing or out of range", in_path, key_layer);
    if (slm_gguf_get_u32(q.in, key_ff, &n_ff) != SLM_OK) n_ff = 0;
    stats.n_layer_in = stats.n_layer_out = n_layer;
    stats.n_ff_in = stats.n_ff_out = n_ff;

    if (p->data && (method == M_DEPTH || method == M_WANDA || method == M_FFN || method == M_HEADS)) {
        c = slm_calloc(1, sizeof *c);
        SLM_CHECK(c != NULL, SLM_ERR_NOMEM, "prune: cannot allocate the calibration state");
        SLM_TRY(calibrate(in_path, p, c));
    }

    /* depth: which layers go */
    new_index = slm_alloc(n_layer * sizeof *new_index);
    SLM_CHECK(new_index != NULL, SLM_ERR_NOMEM, "prune: cannot allocate the layer map");
    for (uint32_t l = 0; l < n_layer; l++) new_index[l] = (int32_t)l;
    if (method == M_DEPTH) {
        scored sc[SLM_MAX_LAYERS];
        uint32_t n_remove = (uint32_t)floor((double)p->ratio * n_layer + 0.5);
        if (n_remove >= n_layer) n_remove = n_layer - 1;
        for (uint32_t l = 0; l < n_layer; l++) {
            /* most similar first: sort by -cos */
            double cosv = c->cos_n ? c->cos_sum[l] / (double)c->cos_n : 0.0;
            sc[l].s = -cosv;
            sc[l].i = l;
            if (l < 64) stats.layer_score[l] = cosv;
        }
        qsort(sc, n_layer, sizeof *sc, by_score);
        for (uint32_t k = 0; k < n_remove; k++) new_index[sc[k].i] = -1;
        int32_t next = 0;
        for (uint32_t l = 0; l < n_layer; l++) {
            if (new_index[l] < 0) {
                if (stats.n_removed_layers < 64) stats.removed_layers[stats.n_removed_layers] = (int32_t)l;
                stats.n_removed_layers++;
            } else {
                new_index[l] = next++;
            }
        }
        stats.n_layer_out = (uint32_t)next;
    }

    /* ffn: which channels stay */
    if (method == M_FFN) {
        SLM_CHECK(n_ff > 0, SLM_ERR_UNSUPPORTED, "prune: ffn: '%s' has no %s (MoE?)", in_path, key_ff);
        q.n_ff = n_ff;
        q.n_keep = (int64_t)n_ff - (int64_t)floor((double)p->ratio * n_ff + 0.5);
        const slm_gguf_tensor *d0 = slm_gguf_find_tensor(q.in, "blk.0.ffn_down.weight");
        SLM_CHECK(d0 != NULL, SLM_ERR_UNSUPPORTED, "prune: ffn: no blk.0.ffn_down.weight (MoE?)");
        int64_t blk = slm_type_traits_get(d0->type)->block_size;
        q.n_keep = q.n_keep / blk * blk;
        SLM_CHECK(q.n_keep > 0, SLM_ERR_UNSUPPORTED, "prune: ffn: keeping %lld of %u channels leaves no block of %lld",
                  (long long)q.n_keep, n_ff, (long long)blk);
        q.keep = slm_alloc((size_t)n_layer * (size_t)q.n_keep * sizeof *q.keep);
        SLM_CHECK(q.keep != NULL, SLM_ERR_NOMEM, "prune: cannot allocate the channel lists");
        SLM_TRY(choose_channels(&q, c, n_layer, c != NULL));
        stats.n_ff_out = (uint32_t)q.n_keep;
    }

    /* heads: which KV groups stay (the same number in every layer, so the
     * head counts stay scalars that slm and llama.cpp read) */
    uint32_t n_head = 0, n_head_kv = 0, hd_k = 0, hd_v = 0, n_embd = 0;
    char key_head[160], key_head_kv[160], key_kl[160], key_vl[160], key_embd[160];
    if (method == M_HEADS) {
        SLM_TRY(arch_key(q.in, SLM_KEY_SUFFIX_N_HEAD, key_head, sizeof key_head));
        SLM_TRY(arch_key(q.in, SLM_KEY_SUFFIX_N_HEAD_KV, key_head_kv, sizeof key_head_kv));
        SLM_TRY(arch_key(q.in, SLM_KEY_SUFFIX_KEY_LENGTH, key_kl, sizeof key_kl));
        SLM_TRY(arch_key(q.in, SLM_KEY_SUFFIX_VALUE_LENGTH, key_vl, sizeof key_vl));
        SLM_TRY(arch_key(q.in, SLM_KEY_SUFFIX_N_EMBD, key_embd, sizeof key_embd));
        SLM_CHECK(slm_gguf_get_u32(q.in, key_head, &n_head) == SLM_OK && n_head > 0, SLM_ERR_UNSUPPORTED,
                  "prune: heads: '%s': %s missing or not one number (per-layer head counts are not supported)",
                  in_path, key_head);
        if (slm_gguf_get_u32(q.in, key_head_kv, &n_head_kv) != SLM_OK) n_head_kv = n_head;
        SLM_CHECK(n_head_kv > 0 && n_head % n_head_kv == 0, SLM_ERR_FORMAT,
                  "prune: heads: %s %u is not a divisor of %s %u", key_head_kv, n_head_kv, key_head, n_head);
        SLM_CHECK(slm_gguf_get_u32(q.in, key_embd, &n_embd) == SLM_OK && n_embd > 0, SLM_ERR_FORMAT,
                  "prune: heads: '%s': %s missing", in_path, key_embd);
        if (slm_gguf_get_u32(q.in, key_kl, &hd_k) != SLM_OK) hd_k = n_embd / n_head;
        if (slm_gguf_get_u32(q.in, key_vl, &hd_v) != SLM_OK) hd_v = hd_k;
        SLM_CHECK(hd_k > 0 && hd_v > 0, SLM_ERR_FORMAT, "prune: heads: head dimension 0");
        q.n_unit = n_head_kv;
        q.group = n_head / n_head_kv;
        q.hd_k = hd_k;
        q.hd_v = hd_v;
        q.n_ukeep = (int64_t)n_head_kv - (int64_t)floor((double)p->ratio * n_head_kv + 0.5);
        if (q.n_ukeep < 1) q.n_ukeep = 1;
        q.ukeep = slm_alloc((size_t)n_layer * (size_t)q.n_ukeep * sizeof *q.ukeep);
        SLM_CHECK(q.ukeep != NULL, SLM_ERR_NOMEM, "prune: cannot allocate the head lists");
        SLM_TRY(choose_heads(&q, c, n_layer, c != NULL));
    }
    stats.n_head_in = stats.n_head_out = n_head;
    stats.n_head_kv_in = stats.n_head_kv_out = n_head_kv;
    if (method == M_HEADS) {
        stats.n_head_kv_out = (uint32_t)q.n_ukeep;
        stats.n_head_out = (uint32_t)(q.n_ukeep * q.group);
    }

    /* the tensor plan */
    q.n_t = slm_gguf_n_tensors(q.in);
    q.t = slm_calloc(q.n_t > 0 ? (size_t)q.n_t : 1, sizeof *q.t);
    scales = slm_calloc(q.n_t > 0 ? (size_t)q.n_t : 1, sizeof *scales);
    SLM_CHECK(q.t && scales, SLM_ERR_NOMEM, "prune: cannot allocate the tensor plan");
    SLM_TRY(slm_pool_new(p->n_threads, &q.pool));
    q.nth = slm_pool_n_threads(q.pool);
    SLM_CHECK(q.nth <= 64, SLM_ERR_ARG, "prune: %d threads, at most 64", q.nth);
    q.fbuf = slm_calloc((size_t)q.nth, sizeof *q.fbuf);
    q.sbuf = slm_calloc((size_t)q.nth, sizeof *q.sbuf);
    SLM_CHECK(q.fbuf && q.sbuf, SLM_ERR_NOMEM, "prune: cannot allocate scratch pointers");

    SLM_TRY(slm_gguf_writer_new(&w));
    for (int64_t i = 0; i < slm_gguf_n_kv(q.in); i++) SLM_TRY(slm_gguf_copy_kv(w, q.in, i));
    SLM_TRY(slm_gguf_set_str(w, "slm.prune.method", p->method));
    SLM_TRY(slm_gguf_set_f32(w, "slm.prune.ratio", method == M_DEPTH || method == M_FFN || !nm
                                                       ? p->ratio
                                                       : (float)(q.pm - q.pn) / (float)q.pm));
    char pat[32] = "structured";
    if (method == M_MAGNITUDE || method == M_WANDA) {
        if (nm) snprintf(pat, sizeof pat, "%d:%d", q.pn, q.pm);
        else snprintf(pat, sizeof pat, "unstructured");
    }
    SLM_TRY(slm_gguf_set_str(w, "slm.prune.pattern", pat));
    if (method == M_DEPTH) {
        SLM_TRY(slm_gguf_set_u32(w, key_layer, stats.n_layer_out));
        int32_t rm[SLM_MAX_LAYERS];
        uint32_t nr = 0;
        for (uint32_t l = 0; l < n_layer; l++)
            if (new_index[l] < 0) rm[nr++] = (int32_t)l;
        SLM_TRY(slm_gguf_set_arr_i32(w, "slm.prune.removed_layers", rm, nr));
    }
    if (method == M_FFN) SLM_TRY(slm_gguf_set_u32(w, key_ff, (uint32_t)q.n_keep));
    if (method == M_HEADS) {
        /* head dims written explicitly: n_embd / n_head no longer gives them */
        SLM_TRY(slm_gguf_set_u32(w, key_head, stats.n_head_out));
        SLM_TRY(slm_gguf_set_u32(w, key_head_kv, stats.n_head_kv_out));
        SLM_TRY(slm_gguf_set_u32(w, key_kl, hd_k));
        SLM_TRY(slm_gguf_set_u32(w, key_vl, hd_v));
    }

    size_t fneed = 1;
    int64_t n_out_t = 0;
    uint64_t plan_zero = 0, plan_elems = 0; /* weights the sparse methods remove, of how many */
    for (int64_t i = 0; i < q.n_t; i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(q.in, i);
        const char *rest = NULL;
        const int layer = layer_of(t->name, &rest);
        const uint64_t elems = (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        stats.n_params_in += elems;
        stats.in_bytes += t->nbytes;
        if (layer >= (int)n_layer) {
            st = slm_fail(SLM_ERR_FORMAT, "prune: tensor '%s' is past block_count %u", t->name, n_layer);
            goto fail;
        }
        if (layer >= 0 && new_index[layer] < 0) continue; /* depth: dropped */
        ptensor *pt = &q.t[n_out_t];
        pt->src = t;
        pt->layer = layer;
        pt->op = -1;
        memcpy(pt->ne, t->ne, sizeof pt->ne);
        char name[256];
        if (layer >= 0) snprintf(name, sizeof name, "blk.%d.%s", new_index[layer], rest);
        else snprintf(name, sizeof name, "%s", t->name);
        pt->name = slm_alloc(strlen(name) + 1);
        SLM_CHECK(pt->name != NULL, SLM_ERR_NOMEM, "prune: cannot allocate a name");
        memcpy(pt->name, name, strlen(name) + 1);
        n_out_t++;

        const slm_type_traits *tr = slm_type_traits_get(t->type);
        const int is_matrix = layer >= 0 && t->n_dims >= 2 && strstr(rest, "norm") == NULL &&
                              strncmp(rest, "ffn_gate_inp", 12) != 0 &&
                              (strncmp(rest, "attn_", 5) == 0 || strncmp(rest, "ffn_", 4) == 0);
        if (method == M_MAGNITUDE || method == M_WANDA) {
            if (is_matrix) {
                pt->op = OP_SPARSE;
                if (method == M_WANDA) {
                    SLM_CHECK(t->n_dims == 2, SLM_ERR_UNSUPPORTED,
                              "prune: wanda: '%s' is an expert tensor (use magnitude)", t->name);
                    SLM_TRY(wanda_scale(c, layer, rest, t->ne[0], &scales[i]));
                    pt->scale = scales[i];
                }
                SLM_CHECK(!nm || t->ne[0] % q.pm == 0, SLM_ERR_UNSUPPORTED,
                          "prune: '%s': rows of %lld are not a multiple of the pattern's %d", t->name,
                          (long long)t->ne[0], q.pm);
                const uint64_t rows = (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
                const uint64_t per_row = nm ? (uint64_t)(t->ne[0] / q.pm * (q.pm - q.pn))
                                            : (uint64_t)floor((double)p->ratio * (double)t->ne[0] + 0.5);
                plan_zero += per_row * rows;
                plan_elems += (uint64_t)t->ne[0] * rows;
            }
        } else if (method == M_FFN && layer >= 0) {
            if (strcmp(rest, "ffn_gate.weight") == 0 || strcmp(rest, "ffn_up.weight") == 0) {
                pt->op = OP_FFN_ROWS;
                pt->fused = t->ne[1] == 2 * q.n_ff;
                SLM_CHECK(t->n_dims == 2 && (t->ne[1] == q.n_ff || pt->fused), SLM_ERR_UNSUPPORTED,
                          "prune: ffn: '%s' has %lld rows, expected %lld", t->name, (long long)t->ne[1],
                          (long long)q.n_ff);
                pt->ne[1] = pt->fused ? 2 * q.n_keep : q.n_keep;
            } else if (strcmp(rest, "ffn_down.weight") == 0) {
                pt->op = OP_FFN_DOWN;
                pt->ne[0] = q.n_keep;
            }
        } else if (method == M_HEADS && layer >= 0) {
            /* [axis: 0 = columns (input), 1 = rows], heads per kept group, head dim */
            int axis = -1;
            int64_t per = 0, hd = 0;
            if (strcmp(rest, "attn_q.weight") == 0) axis = 1, per = q.group, hd = q.hd_k;
            else if (strcmp(rest, "attn_k.weight") == 0) axis = 1, per = 1, hd = q.hd_k;
            else if (strcmp(rest, "attn_v.weight") == 0) axis = 1, per = 1, hd = q.hd_v;
            else if (strcmp(rest, "attn_output.weight") == 0) axis = 0, per = q.group, hd = q.hd_v;
            else if (strcmp(rest, "attn_q.bias") == 0) axis = 0, per = q.group, hd = q.hd_k;
            else if (strcmp(rest, "attn_k.bias") == 0) axis = 0, per = 1, hd = q.hd_k;
            else if (strcmp(rest, "attn_v.bias") == 0) axis = 0, per = 1, hd = q.hd_v;
            else SLM_CHECK(strcmp(rest, "attn_qkv.weight") != 0 && strcmp(rest, "attn_sinks.weight") != 0 &&
                               strcmp(rest, "attn_sinks") != 0,
                           SLM_ERR_UNSUPPORTED, "prune: heads: '%s' (fused QKV or per-head sinks) is not supported",
                           t->name);
            if (axis >= 0) {
                const int64_t full = q.n_unit * per * hd;
                SLM_CHECK(t->ne[axis] == full && (axis == 1 ? t->n_dims == 2 : t->n_dims <= 2), SLM_ERR_UNSUPPORTED,
                          "prune: heads: '%s' has %lld %s, expected %lld (%lld x %lld x %lld)", t->name,
                          (long long)t->ne[axis], axis ? "rows" : "columns", (long long)full,
                          (long long)q.n_unit, (long long)per, (long long)hd);
                int64_t n_sel = 0;
                SLM_TRY(head_sel(&q, layer, per, hd, &pt->sel, &n_sel));
                pt->op = axis ? OP_ROWSEL : OP_COLSEL;
                pt->ne[axis] = n_sel;
            }
        }
        uint64_t bytes = t->nbytes;
        if (pt->op < 0) {
            SLM_TRY(slm_gguf_add_tensor(w, pt->name, t->type, t->n_dims, t->ne, t->data, t->nbytes));
        } else {
            SLM_CHECK(tr && tr->to_float && tr->quantize, SLM_ERR_UNSUPPORTED,
                      "prune: '%s': cannot convert type %s", t->name, slm_type_name(t->type));
            size_t row = slm_type_row_size(t->type, pt->ne[0]);
            bytes = (uint64_t)row * (uint64_t)(pt->ne[1] * pt->ne[2] * pt->ne[3]);
            SLM_CHECK(row != 0, SLM_ERR_UNSUPPORTED, "prune: '%s': rows of %lld do not fit type %s", t->name,
                      (long long)pt->ne[0], slm_type_name(t->type));
            if (tr->is_quantized && pt->op == OP_SPARSE)
                slm_log(1, "prune: requantizing %s (%s) after pruning", t->name, slm_type_name(t->type));
            SLM_TRY(slm_gguf_add_tensor_lazy(w, pt->name, t->type, t->n_dims, pt->ne, bytes, fill_tensor, &q));
            if ((size_t)(t->ne[0] + pt->ne[0]) > fneed) fneed = (size_t)(t->ne[0] + pt->ne[0]);
        }
        stats.out_bytes += bytes;
        stats.n_params_out += (uint64_t)(pt->ne[0] * pt->ne[1] * pt->ne[2] * pt->ne[3]);
    }
    q.n_t = n_out_t;
    for (int k = 0; k < q.nth; k++) {
        q.fbuf[k] = slm_alloc(fneed * sizeof(float));
        q.sbuf[k] = slm_alloc(fneed * sizeof(scored));
        SLM_CHECK(q.fbuf[k] && q.sbuf[k], SLM_ERR_NOMEM, "prune: cannot allocate scratch rows of %zu", fneed);
    }
    /* by construction (per row, or per group of the pattern) */
    SLM_TRY(slm_gguf_set_f32(w, "slm.prune.sparsity", plan_elems ? (float)((double)plan_zero / plan_elems) : 0.0f));
    SLM_TRY(slm_gguf_writer_write(w, out_path));
    for (int k = 0; k < q.nth; k++) stats.n_zeroed += (uint64_t)q.zeroed[k];
    stats.n_pruned_elems = q.pruned_elems;
    if (p->stats) *p->stats = stats;

fail:
    slm_gguf_writer_free(w);
    if (q.t)
        for (int64_t i = 0; i < slm_gguf_n_tensors(q.in); i++) {
            slm_free(q.t[i].name);
            slm_free(q.t[i].sel);
        }
    slm_free(q.t);
    if (scales)
        for (int64_t i = 0; i < slm_gguf_n_tensors(q.in); i++) slm_free(scales[i]);
    slm_free(scales);
    if (q.fbuf)
        for (int k = 0; k < q.nth; k++) slm_free(q.fbuf[k]);
    if (q.sbuf)
        for (int k = 0; k < q.nth; k++) slm_free(q.sbuf[k]);
    slm_free(q.fbuf);
    slm_free(q.sbuf);
    slm_free(q.keep);
    slm_free(q.ukeep);
    slm_free(new_index);
    slm_pool_free(q.pool);
    if (c) calib_free(c);
    slm_free(c);
    slm_gguf_close(q.in);
    return st;
}
