/* cnn.c — a small 1-D convolutional network on one-hot DNA (see baseline.h
 * for the architecture), trained with Adam and early stopping on dev MCC.
 *
 * Convolutions are im2col + one matrix product each (slm_tl_matmul_*: y =
 * x w^T, OpenBLAS when built with it), so nearly all time is in GEMMs of
 * (batch × positions) rows. Layouts, per batch of B sequences padded to L:
 *   x1  [B*L][k1*4]       im2col of the one-hot input, patch index tap*4 + base
 *   h1  [B*L][c1]         ReLU(conv1)
 *   p1  [B*L2][c1]        max-pool (stride pool), L2 = ceil(L / pool); a1 argmax row
 *   x2  [B*L2][k2*c1]     im2col of p1, patch index tap*c1 + channel
 *   h2  [B*L2][c2]        ReLU(conv2)
 *   g   [B][c2]           max over each sequence's valid positions; ag argmax row
 *   z   [B][n_class]      logits
 * Positions past a sequence's end are zero in the im2col (same padding) and
 * never win a pool, so padding does not change a sequence's output.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/pool.h"
#include "base/status.h"
#include "dna/baseline.h"
#include "dna/cnn_int.h"
#include "dna/metrics.h"
#include "sample/rng.h"
#include "train/trainer.h"

static void views(slm_cnn *m)
{
    float *p = m->w;
    m->W1 = p; p += (size_t)m->c1 * m->k1 * 4;
    m->b1 = p; p += m->c1;
    m->W2 = p; p += (size_t)m->c2 * m->k2 * m->c1;
    m->b2 = p; p += m->c2;
    m->Wd = p; p += (size_t)m->n_class * m->c2;
    m->bd = p;
}

static size_t n_params(const slm_cnn *m)
{
    return (size_t)m->c1 * m->k1 * 4 + m->c1 + (size_t)m->c2 * m->k2 * m->c1 + m->c2 +
           (size_t)m->n_class * m->c2 + m->n_class;
}

void slm_cnn_free(slm_cnn *m)
{
    if (!m) return;
    slm_free(m->w);
    slm_free(m);
}

int slm_cnn_n_class(const slm_cnn *m) { return m->n_class; }
uint64_t slm_cnn_n_params(const slm_cnn *m) { return m->n_w; }

slm_cnn_params slm_cnn_default_params(void)
{
    slm_cnn_params p;
    memset(&p, 0, sizeof p);
    p.c1 = 64;
    p.k1 = 11;
    p.pool = 4;
    p.c2 = 64;
    p.k2 = 7;
    p.epochs = 8;
    p.patience = 2;
    p.batch = 64;
    p.lr = 2e-3f;
    p.weight_decay = 1e-4f;
    p.seed = 1;
    return p;
}

void slm_cnn_work_free(slm_cnn_work *w)
{
    float *f[] = {w->x1, w->h1, w->p1, w->x2, w->h2, w->g, w->z, w->dz, w->dg, w->dh2, w->dx2, w->dp1, w->dh1, w->dx1};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) slm_free(f[i]);
    slm_free(w->a1);
    slm_free(w->ag);
    slm_free(w->len);
    slm_free(w->len2);
    memset(w, 0, sizeof *w);
}

slm_status slm_cnn_work_new(const slm_cnn *m, int B, int L, int grads, slm_cnn_work *w)
{
    memset(w, 0, sizeof *w);
    w->B = B;
    w->L = L;
    w->L2 = (L + m->pool - 1) / m->pool;
    size_t BL = (size_t)B * L, BL2 = (size_t)B * w->L2;
    w->x1 = slm_alloc(BL * m->k1 * 4 * sizeof(float));
    w->h1 = slm_alloc(BL * m->c1 * sizeof(float));
    w->p1 = slm_alloc(BL2 * m->c1 * sizeof(float));
    w->a1 = slm_alloc(BL2 * m->c1 * sizeof(int32_t));
    w->x2 = slm_alloc(BL2 * m->k2 * m->c1 * sizeof(float));
    w->h2 = slm_alloc(BL2 * m->c2 * sizeof(float));
    w->g = slm_alloc((size_t)B * m->c2 * sizeof(float));
    w->ag = slm_alloc((size_t)B * m->c2 * sizeof(int32_t));
    w->z = slm_alloc((size_t)B * m->n_class * sizeof(float));
    w->len = slm_alloc((size_t)B * sizeof(int32_t));
    w->len2 = slm_alloc((size_t)B * sizeof(int32_t));
    int ok = w->x1 && w->h1 && w->p1 && w->a1 && w->x2 && w->h2 && w->g && w->ag && w->z && w->len && w->len2;
    if (ok && grads) {
        w->dz = slm_alloc((size_t)B * m->n_class * sizeof(float));
        w->dg = slm_alloc((size_t)B * m->c2 * sizeof(float));
        w->dh2 = slm_alloc(BL2 * m->c2 * sizeof(float));
        w->dx2 = slm_alloc(BL2 * m->k2 * m->c1 * sizeof(float));
        w->dp1 = slm_alloc(BL2 * m->c1 * sizeof(float));
        w->dh1 = slm_alloc(BL * m->c1 * sizeof(float));
        w->dx1 = slm_alloc(BL * m->k1 * 4 * sizeof(float));
        ok = w->dz && w->dg && w->dh2 && w->dx2 && w->dp1 && w->dh1 && w->dx1;
    }
    if (!ok) {
        slm_cnn_work_free(w);
        return slm_fail(SLM_ERR_NOMEM, "cnn: cannot allocate work buffers for %d sequences of %d bases", B, L);
    }
    return SLM_OK;
}

static void one_hot(char b, float *v)
{
    switch (b) {
    case 'A': v[0] = 1; v[1] = v[2] = v[3] = 0; break;
    case 'C': v[1] = 1; v[0] = v[2] = v[3] = 0; break;
    case 'G': v[2] = 1; v[0] = v[1] = v[3] = 0; break;
    case 'T': v[3] = 1; v[0] = v[1] = v[2] = 0; break;
    default: v[0] = v[1] = v[2] = v[3] = 0.25f; break;
    }
}

static char complement(char b)
{
    switch (b) {
    case 'A': return 'T';
    case 'C': return 'G';
    case 'G': return 'C';
    case 'T': return 'A';
    default: return 'N';
    }
}

void slm_cnn_forward(const slm_cnn *m, slm_cnn_work *w, const char *const *seq, const uint8_t *rc,
                     const float *drop, int nb, int L, slm_pool *pool)
{
    const int k1 = m->k1, c1 = m->c1, k2 = m->k2, c2 = m->c2, P = m->pool;
    const int L2 = (L + P - 1) / P;
    const int h1off = k1 / 2, h2off = k2 / 2;
    size_t n1 = (size_t)k1 * 4, n2 = (size_t)k2 * c1;
    /* im2col of the one-hot input */
    for (int b = 0; b < nb; b++) {
        const char *s = seq[b];
        int len = (int)strlen(s);
        if (len > L) len = L;
        w->len[b] = len;
        w->len2[b] = (len + P - 1) / P;
        for (int t = 0; t < L; t++) {
            float *row = w->x1 + ((size_t)b * L + t) * n1;
            for (int j = 0; j < k1; j++) {
                int u = t + j - h1off;
                float *v = row + (size_t)j * 4;
                if (t >= len || u < 0 || u >= len) {
                    v[0] = v[1] = v[2] = v[3] = 0;
                    continue;
                }
                char base = rc && rc[b] ? complement(s[len - 1 - u]) : s[u];
                one_hot(base, v);
            }
        }
    }
    size_t BL = (size_t)nb * L, BL2 = (size_t)nb * L2;
    slm_tl_matmul_forward(pool, w->h1, w->x1, m->W1, (int)BL, (int)n1, c1);
    for (size_t r = 0; r < BL; r++) {
        float *h = w->h1 + r * c1;
        for (int c = 0; c < c1; c++) {
            float v = h[c] + m->b1[c];
            h[c] = v > 0 ? v : 0;
        }
    }
    /* max-pool over valid positions */
    for (int b = 0; b < nb; b++)
        for (int t2 = 0; t2 < L2; t2++) {
            float *po = w->p1 + ((size_t)b * L2 + t2) * c1;
            int32_t *ao = w->a1 + ((size_t)b * L2 + t2) * c1;
            int t0 = t2 * P, t1 = t0 + P;
            if (t1 > w->len[b]) t1 = w->len[b];
            if (t0 >= t1) {
                for (int c = 0; c < c1; c++) {
                    po[c] = 0;
                    ao[c] = -1;
                }
                continue;
            }
            for (int c = 0; c < c1; c++) {
                float best = w->h1[((size_t)b * L + t0) * c1 + c];
                int32_t arg = (int32_t)((size_t)b * L + t0);
                for (int t = t0 + 1; t < t1; t++) {
                    float v = w->h1[((size_t)b * L + t) * c1 + c];
                    if (v > best) {
                        best = v;
                        arg = (int32_t)((size_t)b * L + t);
                    }
                }
                po[c] = best;
                ao[c] = arg;
            }
        }
    /* im2col of p1 */
    for (int b = 0; b < nb; b++)
        for (int t = 0; t < L2; t++) {
            float *row = w->x2 + ((size_t)b * L2 + t) * n2;
            for (int j = 0; j < k2; j++) {
                int u = t + j - h2off;
                float *v = row + (size_t)j * c1;
                if (t >= w->len2[b] || u < 0 || u >= w->len2[b]) memset(v, 0, (size_t)c1 * sizeof *v);
                else memcpy(v, w->p1 + ((size_t)b * L2 + u) * c1, (size_t)c1 * sizeof *v);
            }
        }
    slm_tl_matmul_forward(pool, w->h2, w->x2, m->W2, (int)BL2, (int)n2, c2);
    for (size_t r = 0; r < BL2; r++) {
        float *h = w->h2 + r * c2;
        for (int c = 0; c < c2; c++) {
            float v = h[c] + m->b2[c];
            h[c] = v > 0 ? v : 0;
        }
    }
    /* global max over valid positions */
    for (int b = 0; b < nb; b++)
        for (int c = 0; c < c2; c++) {
            float best = -1;
            int32_t arg = -1;
            for (int t = 0; t < w->len2[b]; t++) {
                float v = w->h2[((size_t)b * L2 + t) * c2 + c];
                if (v > best) {
                    best = v;
                    arg = (int32_t)((size_t)b * L2 + t);
                }
            }
            w->g[(size_t)b * c2 + c] = (arg >= 0 ? best : 0) * (drop ? drop[(size_t)b * c2 + c] : 1.0f);
            w->ag[(size_t)b * c2 + c] = arg;
        }
    slm_tl_matmul_forward(pool, w->z, w->g, m->Wd, nb, c2, m->n_class);
    for (int b = 0; b < nb; b++)
        for (int c = 0; c < m->n_class; c++) w->z[(size_t)b * m->n_class + c] += m->bd[c];
}

void slm_cnn_softmax_rows(float *z, int nb, int C)
{
    for (int b = 0; b < nb; b++) {
        float *r = z + (size_t)b * C;
        float mx = r[0];
        for (int c = 1; c < C; c++) mx = r[c] > mx ? r[c] : mx;
        float s = 0;
        for (int c = 0; c < C; c++) {
            r[c] = expf(r[c] - mx);
            s += r[c];
        }
        for (int c = 0; c < C; c++) r[c] /= s;
    }
}

double slm_cnn_backward(const slm_cnn *m, slm_cnn_work *w, const int32_t *label, const float *drop, int nb,
                        int L, float *grad, slm_pool *pool)
{
    const int c1 = m->c1, c2 = m->c2, C = m->n_class, P = m->pool;
    const int L2 = (L + P - 1) / P;
    const int k2 = m->k2, h2off = k2 / 2;
    size_t n1 = (size_t)m->k1 * 4, n2 = (size_t)k2 * c1;
    size_t BL = (size_t)nb * L, BL2 = (size_t)nb * L2;
    float *gW1 = grad, *gb1 = gW1 + (size_t)c1 * n1, *gW2 = gb1 + c1, *gb2 = gW2 + (size_t)c2 * n2;
    float *gWd = gb2 + c2, *gbd = gWd + (size_t)C * c2;
    double loss = 0;
    float inv = 1.0f / (float)nb;
    for (int b = 0; b < nb; b++) {
        const float *p = w->z + (size_t)b * C;
        float *d = w->dz + (size_t)b * C;
        float py = p[label[b]];
        loss -= log(py > 1e-30f ? py : 1e-30f);
        for (int c = 0; c < C; c++) d[c] = (p[c] - (c == label[b] ? 1.0f : 0.0f)) * inv;
        for (int c = 0; c < C; c++) gbd[c] += d[c];
    }
    memset(w->dg, 0, (size_t)nb * c2 * sizeof(float));
    slm_tl_matmul_backward(pool, w->dg, gWd, w->dz, w->g, m->Wd, nb, c2, C);
    if (drop)
        for (size_t j = 0; j < (size_t)nb * c2; j++) w->dg[j] *= drop[j];
    /* global max -> h2, through ReLU (the max is > 0 only where the unit is active) */
    memset(w->dh2, 0, BL2 * c2 * sizeof(float));
    for (int b = 0; b < nb; b++)
        for (int c = 0; c < c2; c++) {
            int32_t a = w->ag[(size_t)b * c2 + c];
            if (a >= 0 && w->h2[(size_t)a * c2 + c] > 0) w->dh2[(size_t)a * c2 + c] = w->dg[(size_t)b * c2 + c];
        }
    for (size_t r = 0; r < BL2; r++)
        for (int c = 0; c < c2; c++) gb2[c] += w->dh2[r * c2 + c];
    memset(w->dx2, 0, BL2 * n2 * sizeof(float));
    slm_tl_matmul_backward(pool, w->dx2, gW2, w->dh2, w->x2, m->W2, (int)BL2, (int)n2, c2);
    /* col2im into dp1 */
    memset(w->dp1, 0, BL2 * c1 * sizeof(float));
    for (int b = 0; b < nb; b++)
        for (int t = 0; t < w->len2[b]; t++) {
            const float *row = w->dx2 + ((size_t)b * L2 + t) * n2;
            for (int j = 0; j < k2; j++) {
                int u = t + j - h2off;
                if (u < 0 || u >= w->len2[b]) continue;
                float *dst = w->dp1 + ((size_t)b * L2 + u) * c1;
                const float *src = row + (size_t)j * c1;
                for (int c = 0; c < c1; c++) dst[c] += src[c];
            }
        }
    /* pool -> h1, through ReLU */
    memset(w->dh1, 0, BL * c1 * sizeof(float));
    for (size_t r = 0; r < BL2; r++)
        for (int c = 0; c < c1; c++) {
            int32_t a = w->a1[r * c1 + c];
            if (a >= 0 && w->h1[(size_t)a * c1 + c] > 0) w->dh1[(size_t)a * c1 + c] += w->dp1[r * c1 + c];
        }
    for (size_t r = 0; r < BL; r++)
        for (int c = 0; c < c1; c++) gb1[c] += w->dh1[r * c1 + c];
    memset(w->dx1, 0, BL * n1 * sizeof(float));
    slm_tl_matmul_backward(pool, w->dx1, gW1, w->dh1, w->x1, m->W1, (int)BL, (int)n1, c1);
    return loss;
}

slm_status slm_cnn_model_new(const slm_cnn_params *p, int C, slm_cnn **out)
{
    slm_cnn *m = slm_calloc(1, sizeof *m);
    if (!m) return slm_fail(SLM_ERR_NOMEM, "cnn: cannot allocate a model");
    m->c1 = p->c1;
    m->k1 = p->k1;
    m->pool = p->pool;
    m->c2 = p->c2;
    m->k2 = p->k2;
    m->n_class = C;
    m->rc_average = p->rc_average;
    m->n_w = n_params(m);
    m->w = slm_calloc(m->n_w, sizeof *m->w);
    if (!m->w) {
        slm_free(m);
        return slm_fail(SLM_ERR_NOMEM, "cnn: cannot allocate %zu parameters", m->n_w);
    }
    views(m);
    *out = m;
    return SLM_OK;
}

void slm_cnn_init_weights(slm_cnn *m, uint64_t seed)
{
    slm_rng r;
    slm_rng_seed(&r, seed);
    struct { float *w; size_t n; int fan_in; } t[] = {
        {m->W1, (size_t)m->c1 * m->k1 * 4, m->k1 * 4},
        {m->W2, (size_t)m->c2 * m->k2 * m->c1, m->k2 * m->c1},
        {m->Wd, (size_t)m->n_class * m->c2, m->c2},
    };
    for (size_t i = 0; i < 3; i++) {
        float bound = sqrtf(6.0f / (float)t[i].fan_in);
        for (size_t j = 0; j < t[i].n; j++) t[i].w[j] = (float)((2 * slm_rng_uniform(&r) - 1) * bound);
    }
}

/* Probabilities of every row of s into proba, batches of w->B; with
 * m->rc_average the mean of the sequence's and its reverse complement's. */
static void predict_all(const slm_cnn *m, slm_cnn_work *w, const slm_seqset *s, float *proba, slm_pool *pool)
{
    uint8_t ones[4096];
    memset(ones, 1, sizeof ones);
    for (size_t i0 = 0; i0 < s->n; i0 += (size_t)w->B) {
        int nb = (int)(s->n - i0 < (size_t)w->B ? s->n - i0 : (size_t)w->B);
        int L = 1;
        for (int b = 0; b < nb; b++) {
            int l = (int)strlen(s->seq[i0 + b]);
            if (l > L) L = l;
        }
        if (L > w->L) L = w->L;
        float *out = proba + i0 * m->n_class;
        slm_cnn_forward(m, w, (const char *const *)(s->seq + i0), NULL, NULL, nb, L, pool);
        slm_cnn_softmax_rows(w->z, nb, m->n_class);
        memcpy(out, w->z, (size_t)nb * m->n_class * sizeof(float));
        if (!m->rc_average) continue;
        slm_cnn_forward(m, w, (const char *const *)(s->seq + i0), ones, NULL, nb, L, pool);
        slm_cnn_softmax_rows(w->z, nb, m->n_class);
        for (size_t j = 0; j < (size_t)nb * m->n_class; j++) out[j] = 0.5f * (out[j] + w->z[j]);
    }
}

slm_status slm_cnn_predict(const slm_cnn *m, const slm_seqset *s, float *proba)
{
    slm_status st = SLM_OK;
    slm_cnn_work w = {0};
    slm_pool *pool = NULL;
    if (s->n == 0) return SLM_OK;
    size_t L = slm_seqset_max_len(s);
    SLM_CHECK(L >= 1 && L <= 1000000, SLM_ERR_ARG, "cnn_predict: longest sequence %zu bases, expected 1..1000000", L);
    SLM_TRY(slm_pool_new(0, &pool));
    SLM_TRY(slm_cnn_work_new(m, 64, (int)L, 0, &w));
    predict_all(m, &w, s, proba, pool);
fail:
    slm_cnn_work_free(&w);
    slm_pool_free(pool);
    return st;
}

static slm_status check_labels(const slm_seqset *s, const char *what, int C)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->label[i] < 0 || s->label[i] >= C)
            return slm_fail(SLM_ERR_ARG, "cnn: %s label[%zu] = %d, expected 0..%d", what, i, (int)s->label[i], C - 1);
    return SLM_OK;
}

slm_status slm_cnn_train(const slm_cnn_params *p, const slm_seqset *train, const slm_seqset *dev, slm_cnn **out,
                         slm_cnn_stats *stats)
{
    slm_status st = SLM_OK;
    slm_cnn *m = NULL;
    slm_pool *pool = NULL;
    slm_cnn_work w = {0};
    float *grad = NULL, *adam_m = NULL, *adam_v = NULL, *best = NULL, *proba = NULL, *drop = NULL;
    size_t *order = NULL;
    uint8_t *rc = NULL;
    int32_t *blabel = NULL;
    const char **bseq = NULL;
    *out = NULL;
    SLM_CHECK(train && train->n >= 2, SLM_ERR_ARG, "cnn: training set has %zu rows, expected >= 2", train ? train->n : 0);
    SLM_CHECK(p->c1 >= 1 && p->c2 >= 1 && p->k1 >= 1 && p->k2 >= 1 && p->pool >= 1 && p->c1 <= 4096 &&
                  p->c2 <= 4096 && p->k1 <= 64 && p->k2 <= 64 && p->pool <= 64,
              SLM_ERR_ARG, "cnn: shape c1 %d k1 %d pool %d c2 %d k2 %d out of range", p->c1, p->k1, p->pool, p->c2,
              p->k2);
    SLM_CHECK(p->epochs >= 1 && p->batch >= 1 && p->batch <= 4096 && p->lr > 0 && p->dropout >= 0 &&
                  p->dropout < 1 && p->patience >= 1,
              SLM_ERR_ARG, "cnn: epochs %d batch %d lr %g dropout %g patience %d out of range", p->epochs, p->batch,
              (double)p->lr, (double)p->dropout, p->patience);
    int C = train->n_class;
    if (dev && dev->n_class > C) C = dev->n_class;
    SLM_CHECK(C >= 2, SLM_ERR_ARG, "cnn: %d classes, expected >= 2", C);
    SLM_TRY(check_labels(train, "train", C));
    int use_dev = dev && dev->n > 0;
    if (use_dev) SLM_TRY(check_labels(dev, "dev", C));
    size_t L = slm_seqset_max_len(train);
    if (use_dev && slm_seqset_max_len(dev) > L) L = slm_seqset_max_len(dev);
    SLM_CHECK(L >= 1 && L <= 1000000, SLM_ERR_ARG, "cnn: longest sequence %zu bases, expected 1..1000000", L);

    SLM_TRY(slm_cnn_model_new(p, C, &m));
    slm_cnn_init_weights(m, p->seed);
    SLM_TRY(slm_pool_new(p->n_threads, &pool));
    slm_tl_set_threads(slm_pool_n_threads(pool));
    int B = p->batch;
    SLM_TRY(slm_cnn_work_new(m, B, (int)L, 1, &w));
    grad = slm_calloc(m->n_w, sizeof *grad);
    adam_m = slm_calloc(m->n_w, sizeof *adam_m);
    adam_v = slm_calloc(m->n_w, sizeof *adam_v);
    best = slm_alloc(m->n_w * sizeof *best);
    order = slm_alloc(train->n * sizeof *order);
    rc = slm_calloc((size_t)B, 1);
    blabel = slm_alloc((size_t)B * sizeof *blabel);
    bseq = slm_alloc((size_t)B * sizeof *bseq);
    if (use_dev) proba = slm_alloc(dev->n * (size_t)C * sizeof *proba);
    if (p->dropout > 0) {
        drop = slm_alloc((size_t)B * m->c2 * sizeof *drop);
        SLM_CHECK(drop, SLM_ERR_NOMEM, "cnn: cannot allocate a dropout mask");
    }
    SLM_CHECK(grad && adam_m && adam_v && best && order && rc && blabel && bseq && (!use_dev || proba),
              SLM_ERR_NOMEM, "cnn: cannot allocate optimiser state for %zu parameters", m->n_w);
    memcpy(best, m->w, m->n_w * sizeof *best);

    slm_rng rng;
    slm_rng_seed(&rng, p->seed ^ 0x9e3779b97f4a7c15ull);
    for (size_t i = 0; i < train->n; i++) order[i] = i;
    /* Weight decay applies to the three weight matrices, not biases. */
    size_t off_b1 = (size_t)m->c1 * m->k1 * 4, off_W2 = off_b1 + m->c1;
    size_t off_b2 = off_W2 + (size_t)m->c2 * m->k2 * m->c1, off_Wd = off_b2 + m->c2;
    size_t off_bd = off_Wd + (size_t)C * m->c2;
    const float b1c = 0.9f, b2c = 0.999f, eps = 1e-8f;
    int64_t step = 0;
    slm_cnn_stats s = {0};
    s.best_dev_mcc = NAN;
    double best_mcc = -2;
    int since_best = 0;
    size_t n_batches = (train->n + (size_t)B - 1) / (size_t)B;
    for (int ep = 1; ep <= p->epochs; ep++) {
        for (size_t i = train->n; i > 1; i--) {
            size_t j = (size_t)(slm_rng_next(&rng) % i);
            size_t t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        double loss_sum = 0;
        for (size_t bi = 0; bi < n_batches; bi++) {
            size_t i0 = bi * (size_t)B;
            int nb = (int)(train->n - i0 < (size_t)B ? train->n - i0 : (size_t)B);
            int Lb = 1;
            for (int b = 0; b < nb; b++) {
                size_t r = order[i0 + b];
                bseq[b] = train->seq[r];
                blabel[b] = train->label[r];
                rc[b] = p->rc_augment ? (uint8_t)(slm_rng_next(&rng) & 1) : 0;
                int l = (int)strlen(bseq[b]);
                if (l > Lb) Lb = l;
            }
            if (drop) {
                float keep = 1.0f / (1.0f - p->dropout);
                for (size_t j = 0; j < (size_t)nb * m->c2; j++)
                    drop[j] = slm_rng_uniform(&rng) < (double)p->dropout ? 0.0f : keep;
            }
            slm_cnn_forward(m, &w, bseq, rc, drop, nb, Lb, pool);
            slm_cnn_softmax_rows(w.z, nb, C);
            memset(grad, 0, m->n_w * sizeof *grad);
            loss_sum += slm_cnn_backward(m, &w, blabel, drop, nb, Lb, grad, pool);
            step++;
            float bc1 = 1.0f - powf(b1c, (float)step), bc2 = 1.0f - powf(b2c, (float)step);
            for (size_t j = 0; j < m->n_w; j++) {
                float g = grad[j];
                adam_m[j] = b1c * adam_m[j] + (1 - b1c) * g;
                adam_v[j] = b2c * adam_v[j] + (1 - b2c) * g * g;
                float upd = (adam_m[j] / bc1) / (sqrtf(adam_v[j] / bc2) + eps);
                int is_w = j < off_b1 || (j >= off_W2 && j < off_b2) || (j >= off_Wd && j < off_bd);
                if (is_w) upd += p->weight_decay * m->w[j];
                m->w[j] -= p->lr * upd;
            }
            if (p->progress && (bi % 16 == 0 || bi + 1 == n_batches)) {
                char stage[64];
                snprintf(stage, sizeof stage, "epoch %d/%d loss %.4f", ep, p->epochs, loss_sum / (double)(i0 + nb));
                double frac = ((double)(ep - 1) + (double)(bi + 1) / n_batches) / p->epochs;
                SLM_CHECK(!p->progress(stage, frac, p->user), SLM_ERR_CANCELLED, "cnn: cancelled");
            }
        }
        double mean_loss = loss_sum / (double)train->n;
        if (ep == 1) s.first_loss = mean_loss;
        s.final_loss = mean_loss;
        s.epochs_run = ep;
        if (use_dev) {
            predict_all(m, &w, dev, proba, pool);
            slm_dna_metrics mt;
            SLM_TRY(slm_dna_metrics_compute(dev->label, proba, dev->n, C, &mt));
            if (mt.mcc > best_mcc + 1e-12) {
                best_mcc = mt.mcc;
                s.best_dev_mcc = mt.mcc;
                s.best_epoch = ep;
                memcpy(best, m->w, m->n_w * sizeof *best);
                since_best = 0;
            } else if (++since_best >= p->patience) {
                break;
            }
        } else {
            s.best_epoch = ep;
            memcpy(best, m->w, m->n_w * sizeof *best);
        }
    }
    memcpy(m->w, best, m->n_w * sizeof *best);
    if (stats) *stats = s;
    *out = m;
    m = NULL;
fail:
    slm_cnn_free(m);
    slm_cnn_work_free(&w);
    slm_pool_free(pool);
    slm_free(grad);
    slm_free(adam_m);
    slm_free(adam_v);
    slm_free(best);
    slm_free(order);
    slm_free(rc);
    slm_free(blabel);
    slm_free(bseq);
    slm_free(proba);
    slm_free(drop);
    return st;
}
