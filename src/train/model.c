/* model.c — the training model: the named parameter table, the blocks it
 * carves (parameters, gradients, AdamW moments share one layout), the
 * activation block, and the whole-model forward and backward composed from
 * layers.c. Shapes follow src/model/forward.c's llama path exactly.
 */
/* before any function: lets GCC vectorize the clamps and max of fexp.h */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/status.h"
#include "train/fexp.h"
#include "train/trainer.h"

const char *const slm_tprof_names[SLM_TP_N] = {
    "embed", "rmsnorm", "matmul qkv", "rope", "attention", "matmul o", "residual",
    "matmul ffn", "swiglu", "matmul logits", "xent", "b xent", "b matmul logits", "b rmsnorm",
    "b matmul ffn", "b swiglu", "b matmul o", "b attention", "b rope", "b matmul qkv",
    "b embed", "zero grads", "grad norm", "adamw", "data",
};

double slm_tprof_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Sizes a table row can name, resolved against the config. */
enum { D_1, D_E, D_HQ, D_HKV, D_F, D_V };

/* One row per tensor of a block: GGUF name suffix, shape, where its offset
 * goes. The whole model is this table repeated n_layer times plus the three
 * global tensors below; nothing else knows the order. */
static const struct {
    const char *name;
    int n_out, n_in;
    size_t field; /* offsetof(slm_tlayer, ...) */
} layer_table[] = {
    {"attn_norm.weight", D_1, D_E, offsetof(slm_tlayer, attn_norm)},
    {"attn_q.weight", D_HQ, D_E, offsetof(slm_tlayer, wq)},
    {"attn_k.weight", D_HKV, D_E, offsetof(slm_tlayer, wk)},
    {"attn_v.weight", D_HKV, D_E, offsetof(slm_tlayer, wv)},
    {"attn_output.weight", D_E, D_HQ, offsetof(slm_tlayer, wo)},
    {"ffn_norm.weight", D_1, D_E, offsetof(slm_tlayer, ffn_norm)},
    {"ffn_gate.weight", D_F, D_E, offsetof(slm_tlayer, gate)},
    {"ffn_up.weight", D_F, D_E, offsetof(slm_tlayer, up)},
    {"ffn_down.weight", D_E, D_F, offsetof(slm_tlayer, down)},
};
#define N_LAYER_TENSORS (int)(sizeof layer_table / sizeof layer_table[0])

static int64_t dim_of(const slm_tconfig *c, int d)
{
    const int64_t hd = c->n_embd / c->n_head;
    switch (d) {
    case D_E: return c->n_embd;
    case D_HQ: return (int64_t)c->n_head * hd;
    case D_HKV: return (int64_t)c->n_head_kv * hd;
    case D_F: return c->n_ff;
    case D_V: return c->n_vocab;
    default: return 1;
    }
}

static void add_tensor(slm_tmodel *m, const char *name, int64_t n_out, int64_t n_in, size_t *off)
{
    slm_ttensor *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_out = n_out;
    t->n_in = n_in;
    t->off = *off;
    t->decay = n_out > 1;
    *off += (size_t)(n_out * n_in);
}

/* Builds the table and returns the floats per parameter block. */
static size_t build_table(slm_tmodel *m)
{
    const slm_tconfig *c = &m->c;
    size_t off = 0;
    char name[48];
    add_tensor(m, "token_embd.weight", c->n_vocab, c->n_embd, &off);
    m->tok_embd = m->tensors[0].off;
    for (int l = 0; l < c->n_layer; l++)
        for (int i = 0; i < N_LAYER_TENSORS; i++) {
            snprintf(name, sizeof name, "blk.%d.%s", l, layer_table[i].name);
            *(size_t *)((char *)&m->layers[l] + layer_table[i].field) = off;
            add_tensor(m, name, dim_of(c, layer_table[i].n_out), dim_of(c, layer_table[i].n_in),
                       &off);
        }
    m->output_norm = off;
    add_tensor(m, "output_norm.weight", 1, c->n_embd, &off);
    m->output = m->tok_embd;
    if (!c->tied) {
        m->output = off;
        add_tensor(m, "output.weight", c->n_vocab, c->n_embd, &off);
    }
    return off;
}

const slm_ttensor *slm_tmodel_find(const slm_tmodel *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

/* The activation table: name (for the reader), floats, where it goes. */
typedef struct act_row {
    const char *name;
    size_t n;
    float **dst;
} act_row;

slm_status slm_tmodel_new(const slm_tconfig *c, int B, int T, int n_threads, slm_tmodel **out)
{
    slm_status st = SLM_OK;
    slm_tmodel *m = NULL;
    act_row *rows = NULL;
    *out = NULL;
    SLM_CHECK(c && c->n_vocab > 0 && c->n_embd > 0 && c->n_layer > 0 && c->n_head > 0 &&
                  c->n_head_kv > 0 && c->n_ff > 0 && c->n_ctx > 0,
              SLM_ERR_ARG, "train config: every size must be positive");
    SLM_CHECK(c->n_embd % c->n_head == 0 && (c->n_embd / c->n_head) % 2 == 0, SLM_ERR_ARG,
              "train config: n_embd %d must be a multiple of n_head %d with an even head dim",
              c->n_embd, c->n_head);
    SLM_CHECK(c->n_head % c->n_head_kv == 0, SLM_ERR_ARG,
              "train config: n_head %d must be a multiple of n_head_kv %d", c->n_head,
              c->n_head_kv);
    SLM_CHECK(B > 0 && T > 0 && T <= c->n_ctx, SLM_ERR_ARG,
              "train config: batch %d x %d tokens, expected positive and T <= n_ctx %d", B, T,
              c->n_ctx);
    SLM_CHECK((int64_t)c->n_embd * c->n_vocab < (1ll << 31) && (int64_t)B * T < (1 << 24),
              SLM_ERR_ARG, "train config: too large");

    m = slm_calloc(1, sizeof *m);
    SLM_CHECK(m, SLM_ERR_NOMEM, "train: out of memory");
    m->c = *c;
    m->B = B;
    m->T = T;
    m->layers = slm_calloc((size_t)c->n_layer, sizeof *m->layers);
    m->al = slm_calloc((size_t)c->n_layer, sizeof *m->al);
    m->tensors = slm_calloc((size_t)c->n_layer * N_LAYER_TENSORS + 3, sizeof *m->tensors);
    SLM_CHECK(m->layers && m->al && m->tensors, SLM_ERR_NOMEM, "train: out of memory");
    m->n_params = build_table(m);
    m->params = slm_calloc(m->n_params, sizeof(float));
    m->grads = slm_calloc(m->n_params, sizeof(float));
    m->m = slm_calloc(m->n_params, sizeof(float));
    m->v = slm_calloc(m->n_params, sizeof(float));
    SLM_CHECK(m->params && m->grads && m->m && m->v, SLM_ERR_NOMEM,
              "train: out of memory for %zu parameters", m->n_params);

    SLM_TRY(slm_pool_new(n_threads, &m->pool));
    m->n_threads = slm_pool_n_threads(m->pool);
    slm_tl_set_threads(m->n_threads);

    const size_t BT = (size_t)B * T, E = (size_t)c->n_embd, hd = E / (size_t)c->n_head;
    const size_t HQ = (size_t)c->n_head * hd, HKV = (size_t)c->n_head_kv * hd, F = (size_t)c->n_ff;
    const size_t V = (size_t)c->n_vocab, P = (size_t)B * c->n_head * T * T;
    const size_t n_rows = 14 * (size_t)c->n_layer + 20;
    rows = slm_calloc(n_rows, sizeof *rows);
    SLM_CHECK(rows, SLM_ERR_NOMEM, "train: out of memory");
    size_t nr = 0;
    for (int l = 0; l < c->n_layer; l++) {
        slm_tacts_layer *A = &m->al[l];
        rows[nr++] = (act_row){"x", BT * E, &A->x};
        rows[nr++] = (act_row){"rs1", BT, &A->rs1};
        rows[nr++] = (act_row){"h1", BT * E, &A->h1};
        rows[nr++] = (act_row){"q", BT * HQ, &A->q};
        rows[nr++] = (act_row){"k", BT * HKV, &A->k};
        rows[nr++] = (act_row){"v", BT * HKV, &A->v};
        rows[nr++] = (act_row){"p", P, &A->p};
        rows[nr++] = (act_row){"att", BT * HQ, &A->att};
        rows[nr++] = (act_row){"x2", BT * E, &A->x2};
        rows[nr++] = (act_row){"rs2", BT, &A->rs2};
        rows[nr++] = (act_row){"h2", BT * E, &A->h2};
        rows[nr++] = (act_row){"g", BT * F, &A->g};
        rows[nr++] = (act_row){"u", BT * F, &A->u};
        rows[nr++] = (act_row){"a", BT * F, &A->a};
    }
    rows[nr++] = (act_row){"xf", BT * E, &m->xf};
    rows[nr++] = (act_row){"rsf", BT, &m->rsf};
    rows[nr++] = (act_row){"hf", BT * E, &m->hf};
    rows[nr++] = (act_row){"logits", BT * V, &m->logits};
    rows[nr++] = (act_row){"rope", (size_t)T * hd, &m->rope};
    rows[nr++] = (act_row){"dx", BT * E, &m->dx};
    rows[nr++] = (act_row){"dh", BT * E, &m->dh};
    rows[nr++] = (act_row){"dq", BT * HQ, &m->dq};
    rows[nr++] = (act_row){"dk", BT * HKV, &m->dk};
    rows[nr++] = (act_row){"dv", BT * HKV, &m->dv};
    rows[nr++] = (act_row){"datt", BT * HQ, &m->datt};
    rows[nr++] = (act_row){"dg", BT * F, &m->dg};
    rows[nr++] = (act_row){"du", BT * F, &m->du};
    rows[nr++] = (act_row){"da", BT * F, &m->da};
    rows[nr++] = (act_row){"dp", (size_t)m->n_threads * SLM_TL_ATTN_SCRATCH(T), &m->dp};
    rows[nr++] = (act_row){"losses", BT, &m->losses};
    rows[nr++] = (act_row){"lse", BT, &m->lse};
    rows[nr++] = (act_row){"dwn", (size_t)m->n_threads * E, &m->dwn};
    size_t total = 0;
    for (size_t i = 0; i < nr; i++) total += rows[i].n;
    m->n_acts = total;
    m->acts = slm_calloc(total, sizeof(float));
    SLM_CHECK(m->acts, SLM_ERR_NOMEM, "train: out of memory for %zu activation floats (batch %d x %d)",
              total, B, T);
    size_t off = 0;
    for (size_t i = 0; i < nr; i++) {
        *rows[i].dst = m->acts + off;
        off += rows[i].n;
    }
    slm_tl_rope_table(m->rope, T, (int)hd, c->rope_base);
    slm_free(rows);
    *out = m;
    return SLM_OK;
fail:
    slm_free(rows);
    slm_tmodel_free(m);
    return st;
}

void slm_tmodel_free(slm_tmodel *m)
{
    if (!m) return;
    slm_pool_free(m->pool);
    slm_free(m->params);
    slm_free(m->grads);
    slm_free(m->m);
    slm_free(m->v);
    slm_free(m->acts);
    slm_free(m->tensors);
    slm_free(m->layers);
    slm_free(m->al);
    slm_free(m);
}

void slm_tmodel_init(slm_tmodel *m, uint64_t seed)
{
    slm_rng rng;
    slm_rng_seed(&rng, seed);
    const float std_res = 0.02f / sqrtf(2.0f * (float)m->c.n_layer);
    for (int i = 0; i < m->n_tensors; i++) {
        const slm_ttensor *t = &m->tensors[i];
        float *p = m->params + t->off;
        const size_t n = (size_t)(t->n_out * t->n_in);
        const size_t len = strlen(t->name);
        const int res = (len > 18 && strcmp(t->name + len - 18, "attn_output.weight") == 0) ||
                        (len > 15 && strcmp(t->name + len - 15, "ffn_down.weight") == 0);
        for (size_t j = 0; j < n; j++)
            p[j] = t->n_out == 1 ? 1.0f : (float)slm_rng_normal(&rng) * (res ? std_res : 0.02f);
    }
    memset(m->m, 0, m->n_params * sizeof(float));
    memset(m->v, 0, m->n_params * sizeof(float));
}

void slm_tmodel_zero_grad(slm_tmodel *m)
{
    memset(m->grads, 0, m->n_params * sizeof(float));
}

/* Phase timers (SLM_TRAIN_PROFILE): TP_BEGIN/TP_END around a call add its
 * wall time to m->prof[id]; a function using them declares double tp0. */
#define TP_BEGIN() (tp0 = m->prof_on ? slm_tprof_now() : 0.0)
#define TP_END(id) (m->prof_on ? (void)(m->prof[id] += slm_tprof_now() - tp0) : (void)0)
#define TP(id, call) (TP_BEGIN(), (call), TP_END(id))

/* ---- row-parallel element-wise steps --------------------------------- *
 * The loops between the matrix products run on the pool, each thread on a
 * contiguous block of rows (fixed for a thread count, so deterministic),
 * and neighbouring steps are fused into one pass where the data allows:
 * residual add + RMSNorm, the softmax cross-entropy's loss and log-sum-exp. */
enum { RJ_ADD_NORM, RJ_SWIGLU, RJ_SWIGLU_B, RJ_XENT, RJ_XENT_B, RJ_NORM_B };

typedef struct row_job {
    int op, n_rows, n; /* rows, floats per row */
    float *y, *rs, *acc, *dx, *dw;
    const float *x, *add, *w, *dy, *g, *u, *rsc; /* rsc: 1/rms read by RJ_NORM_B */
    const int32_t *targets;
    float *losses, *lse, scale, eps;
} row_job;

static void rows_of(int n_rows, int ith, int nth, int *lo, int *hi)
{
    *lo = (int)((int64_t)n_rows * ith / nth);
    *hi = (int)((int64_t)n_rows * (ith + 1) / nth);
}

static void row_run(void *ctx, int ith, int nth)
{
    const row_job *j = ctx;
    const size_t n = (size_t)j->n;
    int lo, hi;
    rows_of(j->n_rows, ith, nth, &lo, &hi);
    if (hi <= lo) {
        if (j->op == RJ_NORM_B) memset(j->dw + (size_t)ith * n, 0, n * sizeof(float));
        return;
    }
    const size_t o = (size_t)lo * n, cnt = (size_t)(hi - lo);
    switch (j->op) {
    case RJ_ADD_NORM: /* acc += add (if any); y = rmsnorm(acc) */
        if (j->add)
            for (size_t i = 0; i < cnt * n; i++) j->acc[o + i] += j->add[o + i];
        slm_tl_rmsnorm_forward(j->y + o, j->rs + lo, j->acc + o, j->w, (int)cnt, (int)n, j->eps);
        break;
    case RJ_SWIGLU:
        slm_tl_swiglu_forward(j->y + o, j->g + o, j->u + o, cnt * n);
        break;
    case RJ_SWIGLU_B: /* dg, du overwritten (not accumulated) */
        for (size_t i = o; i < o + cnt * n; i++) {
            const float g = j->g[i], sg = 1.0f / (1.0f + slm_fexp(-g)), da = j->dy[i];
            j->dx[i] = da * j->u[i] * sg * (1.0f + g * (1.0f - sg));
            j->y[i] = da * g * sg;
        }
        break;
    case RJ_XENT: /* losses and log-sum-exp per row */
        for (int t = lo; t < hi; t++) {
            const float *z = j->x + (size_t)t * n;
            const float mx = slm_vmax(z, (int)n);
            const float lse = mx + logf(slm_exp_sum(z, mx, (int)n));
            j->lse[t] = lse;
            j->losses[t] = lse - z[j->targets[t]];
        }
        break;
    case RJ_XENT_B: /* logits := scale * (softmax - onehot) */
        for (int t = lo; t < hi; t++) {
            float *z = j->y + (size_t)t * n;
            const float lse = j->lse[t], sc = j->scale;
            for (size_t i = 0; i < n; i++) z[i] = slm_fexp(z[i] - lse) * sc;
            z[j->targets[t]] -= sc;
        }
        break;
    case RJ_NORM_B: { /* dx += ...; this thread's dw partial in dw[ith] */
        float *dw = j->dw + (size_t)ith * n;
        memset(dw, 0, n * sizeof(float));
        slm_tl_rmsnorm_backward(j->dx + o, dw, j->dy + o, j->x + o, j->rsc + lo, j->w, (int)cnt,
                                (int)n);
        break;
    }
    }
}

static void rows_run(slm_tmodel *m, row_job *j)
{
    slm_pool_run(m->pool, row_run, j);
}

/* RMSNorm backward on the pool: dx += (rows), dw += the per-thread
 * partials summed in thread order. */
static void norm_backward(slm_tmodel *m, float *dx, float *dw, const float *dy, const float *x,
                          const float *rs, const float *w)
{
    const int E = m->c.n_embd;
    row_job j = {.op = RJ_NORM_B, .n_rows = m->B * m->T, .n = E, .dx = dx, .dw = m->dwn,
                 .dy = dy, .x = x, .rsc = rs, .w = w};
    rows_run(m, &j);
    for (int t = 0; t < m->n_threads; t++) {
        const float *p = m->dwn + (size_t)t * E;
        for (int i = 0; i < E; i++) dw[i] += p[i];
    }
}

float slm_tmodel_forward(slm_tmodel *m, const int32_t *ids, const int32_t *targets)
{
    const slm_tconfig *c = &m->c;
    const int B = m->B, T = m->T, BT = B * T, E = c->n_embd, hd = E / c->n_head;
    const int H = c->n_head, G = c->n_head_kv, HQ = H * hd, HKV = G * hd, F = c->n_ff;
    const float *P = m->params;
    double tp0 = 0.0;

    TP_BEGIN();
    for (int t = 0; t < BT; t++)
        memcpy(m->al[0].x + (size_t)t * E, P + m->tok_embd + (size_t)ids[t] * E,
               (size_t)E * sizeof(float));
    TP_END(SLM_TP_EMBED);
    row_job nj = {.op = RJ_ADD_NORM, .n_rows = BT, .n = E, .eps = c->eps};
    nj.acc = m->al[0].x, nj.y = m->al[0].h1, nj.rs = m->al[0].rs1;
    nj.w = P + m->layers[0].attn_norm;
    TP(SLM_TP_NORM, rows_run(m, &nj));
    for (int l = 0; l < c->n_layer; l++) {
        const slm_tlayer *L = &m->layers[l];
        slm_tacts_layer *A = &m->al[l];
        TP_BEGIN();
        slm_tl_matmul_forward(m->pool, A->q, A->h1, P + L->wq, BT, E, HQ);
        slm_tl_matmul_forward(m->pool, A->k, A->h1, P + L->wk, BT, E, HKV);
        slm_tl_matmul_forward(m->pool, A->v, A->h1, P + L->wv, BT, E, HKV);
        TP_END(SLM_TP_MM_QKV);
        TP_BEGIN();
        slm_tl_rope_forward(A->q, m->rope, B, T, H, hd);
        slm_tl_rope_forward(A->k, m->rope, B, T, G, hd);
        TP_END(SLM_TP_ROPE);
        TP(SLM_TP_ATTN,
           slm_tl_attention_forward(m->pool, A->att, A->p, A->q, A->k, A->v, B, T, H, G, hd));
        TP(SLM_TP_MM_O, slm_tl_matmul_forward(m->pool, A->x2, A->att, P + L->wo, BT, HQ, E));
        /* x2 += x; h2 = rmsnorm(x2) */
        nj.acc = A->x2, nj.add = A->x, nj.y = A->h2, nj.rs = A->rs2, nj.w = P + L->ffn_norm;
        TP(SLM_TP_NORM, rows_run(m, &nj));
        TP_BEGIN();
        slm_tl_matmul_forward(m->pool, A->g, A->h2, P + L->gate, BT, E, F);
        slm_tl_matmul_forward(m->pool, A->u, A->h2, P + L->up, BT, E, F);
        TP_END(SLM_TP_MM_FFN);
        row_job sj = {.op = RJ_SWIGLU, .n_rows = BT, .n = F, .y = A->a, .g = A->g, .u = A->u};
        TP(SLM_TP_SWIGLU, rows_run(m, &sj));
        /* x_next = x2 + down(a); then the next RMSNorm in the same pass */
        float *x_next = l + 1 < c->n_layer ? m->al[l + 1].x : m->xf;
        TP(SLM_TP_MM_FFN, slm_tl_matmul_forward(m->pool, x_next, A->a, P + L->down, BT, F, E));
        nj.acc = x_next, nj.add = A->x2;
        if (l + 1 < c->n_layer) {
            nj.y = m->al[l + 1].h1, nj.rs = m->al[l + 1].rs1, nj.w = P + m->layers[l + 1].attn_norm;
        } else {
            nj.y = m->hf, nj.rs = m->rsf, nj.w = P + m->output_norm;
        }
        TP(SLM_TP_NORM, rows_run(m, &nj));
    }
    TP(SLM_TP_MM_OUT,
       slm_tl_matmul_forward(m->pool, m->logits, m->hf, P + m->output, BT, E, c->n_vocab));
    if (!targets) return 0.0f;
    row_job xj = {.op = RJ_XENT, .n_rows = BT, .n = c->n_vocab, .x = m->logits,
                  .targets = targets, .losses = m->losses, .lse = m->lse};
    TP(SLM_TP_XENT, rows_run(m, &xj));
    double sum = 0.0;
    for (int t = 0; t < BT; t++) sum += m->losses[t];
    return (float)(sum / BT);
}

static void zero(float *p, size_t n)
{
    memset(p, 0, n * sizeof(float));
}

void slm_tmodel_backward(slm_tmodel *m, const int32_t *ids, const int32_t *targets, float scale)
{
    const int BT = m->B * m->T;
    double tp0 = 0.0;
    /* the loss is the mean over BT positions; uses the forward's log-sum-exp */
    row_job xj = {.op = RJ_XENT_B, .n_rows = BT, .n = m->c.n_vocab, .y = m->logits,
                  .targets = targets, .lse = m->lse, .scale = scale / (float)BT};
    TP(SLM_TP_B_XENT, rows_run(m, &xj));
    slm_tmodel_backward_logits(m, ids);
}

void slm_tmodel_backward_logits(slm_tmodel *m, const int32_t *ids)
{
    const slm_tconfig *c = &m->c;
    const int B = m->B, T = m->T, BT = B * T, E = c->n_embd, hd = E / c->n_head;
    const int H = c->n_head, G = c->n_head_kv, HQ = H * hd, HKV = G * hd, F = c->n_ff;
    const float *P = m->params;
    float *D = m->grads;
    const size_t nE = (size_t)BT * E;
    double tp0 = 0.0;

    zero(m->dh, nE);
    TP(SLM_TP_B_MM_OUT, slm_tl_matmul_backward(m->pool, m->dh, D + m->output, m->logits, m->hf,
                                               P + m->output, BT, E, c->n_vocab));
    zero(m->dx, nE);
    TP(SLM_TP_B_NORM, norm_backward(m, m->dx, D + m->output_norm, m->dh, m->xf, m->rsf,
                                    P + m->output_norm));
    for (int l = c->n_layer - 1; l >= 0; l--) {
        const slm_tlayer *L = &m->layers[l];
        const slm_tacts_layer *A = &m->al[l];
        /* x_next = x2 + down(a): dx passes through to x2 unchanged */
        zero(m->da, (size_t)BT * F);
        TP(SLM_TP_B_MM_FFN, slm_tl_matmul_backward(m->pool, m->da, D + L->down, m->dx, A->a,
                                                   P + L->down, BT, F, E));
        row_job sj = {.op = RJ_SWIGLU_B, .n_rows = BT, .n = F, .dx = m->dg, .y = m->du,
                      .dy = m->da, .g = A->g, .u = A->u};
        TP(SLM_TP_B_SWIGLU, rows_run(m, &sj));
        zero(m->dh, nE);
        TP_BEGIN();
        slm_tl_matmul_backward(m->pool, m->dh, D + L->gate, m->dg, A->h2, P + L->gate, BT, E, F);
        slm_tl_matmul_backward(m->pool, m->dh, D + L->up, m->du, A->h2, P + L->up, BT, E, F);
        TP_END(SLM_TP_B_MM_FFN);
        TP(SLM_TP_B_NORM,
           norm_backward(m, m->dx, D + L->ffn_norm, m->dh, A->x2, A->rs2, P + L->ffn_norm));
        /* x2 = x + wo(att) */
        zero(m->datt, (size_t)BT * HQ);
        TP(SLM_TP_B_MM_O, slm_tl_matmul_backward(m->pool, m->datt, D + L->wo, m->dx, A->att,
                                                 P + L->wo, BT, HQ, E));
        zero(m->dq, (size_t)BT * HQ);
        zero(m->dk, (size_t)BT * HKV);
        zero(m->dv, (size_t)BT * HKV);
        TP(SLM_TP_B_ATTN, slm_tl_attention_backward(m->pool, m->dq, m->dk, m->dv, m->datt, A->p,
                                                    A->q, A->k, A->v, B, T, H, G, hd, m->dp));
        TP_BEGIN();
        slm_tl_rope_backward(m->dq, m->rope, B, T, H, hd);
        slm_tl_rope_backward(m->dk, m->rope, B, T, G, hd);
        TP_END(SLM_TP_B_ROPE);
        zero(m->dh, nE);
        TP_BEGIN();
        slm_tl_matmul_backward(m->pool, m->dh, D + L->wq, m->dq, A->h1, P + L->wq, BT, E, HQ);
        slm_tl_matmul_backward(m->pool, m->dh, D + L->wk, m->dk, A->h1, P + L->wk, BT, E, HKV);
        slm_tl_matmul_backward(m->pool, m->dh, D + L->wv, m->dv, A->h1, P + L->wv, BT, E, HKV);
        TP_END(SLM_TP_B_MM_QKV);
        TP(SLM_TP_B_NORM,
           norm_backward(m, m->dx, D + L->attn_norm, m->dh, A->x, A->rs1, P + L->attn_norm));
    }
    TP_BEGIN();
    for (int t = 0; t < BT; t++) {
        float *de = D + m->tok_embd + (size_t)ids[t] * E;
        const float *dxt = m->dx + (size_t)t * E;
        for (int i = 0; i < E; i++) de[i] += dxt[i];
    }
    TP_END(SLM_TP_B_EMBED);
}
