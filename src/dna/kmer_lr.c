/* kmer_lr.c — k-mer spectrum features + L2 multinomial logistic regression
 * trained by L-BFGS, (k, l2) chosen on dev MCC (see baseline.h).
 *
 * Features are sparse (a sequence of length L has at most L-k+1 non-zero
 * k-mers out of 4^k), stored as CSR; one objective/gradient pass costs
 * O(nnz · n_class). L-BFGS is the two-loop recursion of Nocedal & Wright
 * (Numerical Optimization, 2nd ed., Alg. 7.4) with an Armijo backtracking
 * line search; a pair is kept only if its curvature s·y is positive.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "dna/baseline.h"
#include "dna/metrics.h"

#define LBFGS_M 10

struct slm_kmer_lr {
    int k, both_strands, n_class;
    int n_feat;          /* 4^k, or the number of canonical k-mers */
    int32_t *fmap;       /* [4^k] k-mer code -> feature index */
    float *inv_rms;      /* [n_feat] 1 / RMS of the frequency over train (0 if never seen) */
    double *theta;       /* [n_class × n_feat + n_class] W row-major, then biases */
};

typedef struct csr {
    size_t n;
    size_t *row;  /* [n + 1] */
    int32_t *col; /* [nnz] */
    float *val;   /* [nnz] */
} csr;

static void csr_free(csr *x)
{
    slm_free(x->row);
    slm_free(x->col);
    slm_free(x->val);
    memset(x, 0, sizeof *x);
}

static int code_of(char b)
{
    switch (b) {
    case 'A': return 0;
    case 'C': return 1;
    case 'G': return 2;
    case 'T': return 3;
    default: return -1;
    }
}

/* Reverse complement of a k-mer code (2 bits per base, first base highest). */
static uint32_t rc_code(uint32_t c, int k)
{
    uint32_t r = 0;
    for (int i = 0; i < k; i++) {
        r = (r << 2) | (3u - (c & 3u));
        c >>= 2;
    }
    return r;
}

static slm_status make_fmap(slm_kmer_lr *m)
{
    uint32_t n = 1u << (2 * m->k);
    m->fmap = slm_alloc(n * sizeof *m->fmap);
    if (!m->fmap) return slm_fail(SLM_ERR_NOMEM, "kmer_lr: cannot allocate a %u-entry k-mer map", n);
    int f = 0;
    for (uint32_t c = 0; c < n; c++) {
        if (m->both_strands) {
            uint32_t r = rc_code(c, m->k);
            if (r < c) {
                m->fmap[c] = m->fmap[r];
                continue;
            }
        }
        m->fmap[c] = f++;
    }
    m->n_feat = f;
    return SLM_OK;
}

/* CSR frequency features of s (unscaled). dense: n_feat scratch of zeros. */
static slm_status featurize(const slm_kmer_lr *m, const slm_seqset *s, csr *x)
{
    slm_status st = SLM_OK;
    float *dense = NULL;
    int32_t *touched = NULL;
    memset(x, 0, sizeof *x);
    size_t nnz = 0;
    for (size_t i = 0; i < s->n; i++) {
        size_t l = strlen(s->seq[i]);
        if (l >= (size_t)m->k) nnz += l - (size_t)m->k + 1;
    }
    x->n = s->n;
    x->row = slm_alloc((s->n + 1) * sizeof *x->row);
    x->col = slm_alloc((nnz ? nnz : 1) * sizeof *x->col);
    x->val = slm_alloc((nnz ? nnz : 1) * sizeof *x->val);
    dense = slm_calloc((size_t)m->n_feat, sizeof *dense);
    touched = slm_alloc((size_t)m->n_feat * sizeof *touched);
    SLM_CHECK(x->row && x->col && x->val && dense && touched, SLM_ERR_NOMEM,
              "kmer_lr: cannot allocate features for %zu sequences (%zu k-mers)", s->n, nnz);
    uint32_t mask = (1u << (2 * m->k)) - 1u;
    size_t at = 0;
    for (size_t i = 0; i < s->n; i++) {
        x->row[i] = at;
        const char *q = s->seq[i];
        uint32_t code = 0;
        int run = 0, n_touched = 0;
        size_t windows = 0;
        for (; *q; q++) {
            int b = code_of(*q);
            if (b < 0) {
                run = 0;
                continue;
            }
            code = ((code << 2) | (uint32_t)b) & mask;
            if (++run < m->k) continue;
            int f = m->fmap[code];
            if (dense[f] == 0) touched[n_touched++] = f;
            dense[f] += 1;
            windows++;
        }
        /* emit in feature order so rows are deterministic */
        for (int a = 1; a < n_touched; a++) { /* insertion sort: rows are short */
            int32_t v = touched[a];
            int b = a - 1;
            while (b >= 0 && touched[b] > v) {
                touched[b + 1] = touched[b];
                b--;
            }
            touched[b + 1] = v;
        }
        for (int a = 0; a < n_touched; a++) {
            int f = touched[a];
            x->col[at] = f;
            x->val[at] = dense[f] / (float)windows;
            dense[f] = 0;
            at++;
        }
    }
    x->row[s->n] = at;
    slm_free(dense);
    slm_free(touched);
    return SLM_OK;
fail:
    slm_free(dense);
    slm_free(touched);
    csr_free(x);
    return st;
}

static void scale(csr *x, const float *inv_rms)
{
    size_t nnz = x->row[x->n];
    for (size_t a = 0; a < nnz; a++) x->val[a] *= inv_rms[x->col[a]];
}

/* Softmax of z[0..C) in place. */
static void softmax(double *z, int C)
{
    double mx = z[0];
    for (int c = 1; c < C; c++)
        if (z[c] > mx) mx = z[c];
    double sum = 0;
    for (int c = 0; c < C; c++) {
        z[c] = exp(z[c] - mx);
        sum += z[c];
    }
    for (int c = 0; c < C; c++) z[c] /= sum;
}

/* Objective and gradient (g may be NULL) at theta. */
static double objective(const csr *x, const int32_t *label, int C, int F, double l2,
                        const double *theta, double *g)
{
    size_t np = (size_t)C * (size_t)F + (size_t)C;
    const double *b = theta + (size_t)C * (size_t)F;
    if (g) memset(g, 0, np * sizeof *g);
    double loss = 0, z[64];
    for (size_t i = 0; i < x->n; i++) {
        for (int c = 0; c < C; c++) {
            const double *w = theta + (size_t)c * (size_t)F;
            double acc = b[c];
            for (size_t a = x->row[i]; a < x->row[i + 1]; a++) acc += w[x->col[a]] * x->val[a];
            z[c] = acc;
        }
        softmax(z, C);
        loss -= log(z[label[i]] > 1e-300 ? z[label[i]] : 1e-300);
        if (!g) continue;
        z[label[i]] -= 1.0;
        for (int c = 0; c < C; c++) {
            double *gw = g + (size_t)c * (size_t)F;
            double d = z[c];
            for (size_t a = x->row[i]; a < x->row[i + 1]; a++) gw[x->col[a]] += d * x->val[a];
            g[(size_t)C * (size_t)F + (size_t)c] += d;
        }
    }
    double inv_n = 1.0 / (double)x->n;
    loss *= inv_n;
    double reg = 0;
    for (size_t j = 0; j < (size_t)C * (size_t)F; j++) reg += theta[j] * theta[j];
    loss += 0.5 * l2 * reg;
    if (g) {
        for (size_t j = 0; j < np; j++) g[j] *= inv_n;
        for (size_t j = 0; j < (size_t)C * (size_t)F; j++) g[j] += l2 * theta[j];
    }
    return loss;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Minimise the objective from theta (in place). trace (may be NULL) gets
 * the objective after each iteration. Returns the final objective. */
static slm_status lbfgs(const csr *x, const int32_t *label, int C, int F, double l2, int max_iter,
                        double *theta, double *trace, int *n_iter, double *f_out)
{
    slm_status st = SLM_OK;
    size_t np = (size_t)C * (size_t)F + (size_t)C;
    double *buf = slm_alloc(np * (5 + 2 * LBFGS_M) * sizeof *buf);
    if (!buf) return slm_fail(SLM_ERR_NOMEM, "kmer_lr: cannot allocate L-BFGS state for %zu parameters", np);
    double *g = buf, *d = g + np, *tn = d + np, *gn = tn + np, *q = gn + np;
    double *S = q + np, *Y = S + np * LBFGS_M;
    double rho[LBFGS_M], alpha[LBFGS_M];
    int m = 0, head = 0, it = 0;
    double f = objective(x, label, C, F, l2, theta, g);
    for (it = 0; it < max_iter; it++) {
        double gmax = 0;
        for (size_t j = 0; j < np; j++) gmax = fmax(gmax, fabs(g[j]));
        if (gmax < 1e-6) break;
        /* two-loop recursion: d = -H g */
        memcpy(q, g, np * sizeof *q);
        for (int a = 0; a < m; a++) {
            int i = (head - 1 - a + LBFGS_M) % LBFGS_M;
            alpha[i] = rho[i] * dot(S + (size_t)i * np, q, np);
            const double *y = Y + (size_t)i * np;
            for (size_t j = 0; j < np; j++) q[j] -= alpha[i] * y[j];
        }
        double gamma = 1.0;
        if (m > 0) {
            int i = (head - 1 + LBFGS_M) % LBFGS_M;
            const double *y = Y + (size_t)i * np;
            gamma = 1.0 / (rho[i] * dot(y, y, np));
        } else {
            gamma = 1.0 / fmax(sqrt(dot(g, g, np)), 1e-12);
        }
        for (size_t j = 0; j < np; j++) q[j] *= gamma;
        for (int a = m - 1; a >= 0; a--) {
            int i = (head - 1 - a + LBFGS_M) % LBFGS_M;
            double beta = rho[i] * dot(Y + (size_t)i * np, q, np);
            const double *s = S + (size_t)i * np;
            for (size_t j = 0; j < np; j++) q[j] += s[j] * (alpha[i] - beta);
        }
        for (size_t j = 0; j < np; j++) d[j] = -q[j];
        double gd = dot(g, d, np);
        if (gd >= 0) { /* not a descent direction: restart from steepest descent */
            m = 0;
            double gn2 = sqrt(dot(g, g, np));
            for (size_t j = 0; j < np; j++) d[j] = -g[j] / fmax(gn2, 1e-12);
            gd = dot(g, d, np);
        }
        double step = 1.0, fn = 0;
        int ok = 0;
        for (int ls = 0; ls < 40; ls++) {
            for (size_t j = 0; j < np; j++) tn[j] = theta[j] + step * d[j];
            fn = objective(x, label, C, F, l2, tn, gn);
            if (fn <= f + 1e-4 * step * gd) {
                ok = 1;
                break;
            }
            step *= 0.5;
        }
        if (!ok) break; /* no decrease possible at machine precision */
        double *s = S + (size_t)head * np, *y = Y + (size_t)head * np;
        for (size_t j = 0; j < np; j++) {
            s[j] = tn[j] - theta[j];
            y[j] = gn[j] - g[j];
        }
        double sy = dot(s, y, np);
        if (sy > 1e-12) {
            rho[head] = 1.0 / sy;
            head = (head + 1) % LBFGS_M;
            if (m < LBFGS_M) m++;
        }
        memcpy(theta, tn, np * sizeof *theta);
        memcpy(g, gn, np * sizeof *g);
        double rel = (f - fn) / fmax(fabs(f), 1e-12);
        f = fn;
        if (trace) trace[it] = f;
        if (rel < 1e-9) {
            it++;
            break;
        }
    }
    *n_iter = it;
    *f_out = f;
    slm_free(buf);
    return st;
}

slm_kmer_lr_params slm_kmer_lr_default_params(void)
{
    slm_kmer_lr_params p;
    memset(&p, 0, sizeof p);
    p.k_min = 3;
    p.k_max = 7;
    p.max_iter = 150;
    p.both_strands = -1;
    p.l2_patience = 2;
    return p;
}

void slm_kmer_lr_free(slm_kmer_lr *m)
{
    if (!m) return;
    slm_free(m->fmap);
    slm_free(m->inv_rms);
    slm_free(m->theta);
    slm_free(m);
}

int slm_kmer_lr_n_class(const slm_kmer_lr *m) { return m->n_class; }

uint64_t slm_kmer_lr_n_params(const slm_kmer_lr *m)
{
    return (uint64_t)m->n_class * (uint64_t)m->n_feat + (uint64_t)m->n_class;
}

/* A model shell for k: map, scaling from train features x (unscaled). */
static slm_status shell_new(int k, int both, int C, slm_kmer_lr **out)
{
    slm_status st = SLM_OK;
    slm_kmer_lr *m = slm_calloc(1, sizeof *m);
    SLM_CHECK(m, SLM_ERR_NOMEM, "kmer_lr: cannot allocate a model");
    m->k = k;
    m->both_strands = both;
    m->n_class = C;
    SLM_TRY(make_fmap(m));
    m->inv_rms = slm_calloc((size_t)m->n_feat, sizeof *m->inv_rms);
    m->theta = slm_calloc((size_t)C * (size_t)m->n_feat + (size_t)C, sizeof *m->theta);
    SLM_CHECK(m->inv_rms && m->theta, SLM_ERR_NOMEM, "kmer_lr: cannot allocate %d x %d weights", C, m->n_feat);
    *out = m;
    return SLM_OK;
fail:
    slm_kmer_lr_free(m);
    return st;
}

static void fit_scaling(slm_kmer_lr *m, const csr *x)
{
    double *ss = slm_calloc((size_t)m->n_feat, sizeof *ss);
    if (!ss) { /* fall back to no scaling rather than fail: still a valid model */
        for (int f = 0; f < m->n_feat; f++) m->inv_rms[f] = 1.0f;
        return;
    }
    size_t nnz = x->row[x->n];
    for (size_t a = 0; a < nnz; a++) ss[x->col[a]] += (double)x->val[a] * x->val[a];
    for (int f = 0; f < m->n_feat; f++)
        m->inv_rms[f] = ss[f] > 0 ? (float)(1.0 / sqrt(ss[f] / (double)x->n)) : 0.0f;
    slm_free(ss);
}

static slm_status check_set(const slm_seqset *s, const char *what, int C)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->label[i] < 0 || s->label[i] >= C)
            return slm_fail(SLM_ERR_ARG, "kmer_lr: %s label[%zu] = %d, expected 0..%d", what, i,
                            (int)s->label[i], C - 1);
    return SLM_OK;
}

static slm_status predict_csr(const slm_kmer_lr *m, const csr *x, float *proba)
{
    int C = m->n_class, F = m->n_feat;
    const double *b = m->theta + (size_t)C * (size_t)F;
    double z[64];
    for (size_t i = 0; i < x->n; i++) {
        for (int c = 0; c < C; c++) {
            const double *w = m->theta + (size_t)c * (size_t)F;
            double acc = b[c];
            for (size_t a = x->row[i]; a < x->row[i + 1]; a++) acc += w[x->col[a]] * x->val[a];
            z[c] = acc;
        }
        softmax(z, C);
        for (int c = 0; c < C; c++) proba[i * (size_t)C + (size_t)c] = (float)z[c];
    }
    return SLM_OK;
}

slm_status slm_kmer_lr_predict(const slm_kmer_lr *m, const slm_seqset *s, float *proba)
{
    csr x;
    slm_status st = featurize(m, s, &x);
    if (st != SLM_OK) return st;
    scale(&x, m->inv_rms);
    predict_csr(m, &x, proba);
    csr_free(&x);
    return SLM_OK;
}

static const double default_l2[] = {10, 3, 1, 3e-1, 1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 1e-4};

slm_status slm_kmer_lr_train(const slm_kmer_lr_params *p, const slm_seqset *train,
                             const slm_seqset *dev, slm_kmer_lr **out, slm_kmer_lr_stats *stats)
{
    slm_status st = SLM_OK;
    slm_kmer_lr *m = NULL, *best = NULL;
    csr xt = {0}, xd = {0};
    float *proba = NULL;
    double *best_theta = NULL;
    *out = NULL;
    const double *grid = p->l2 ? p->l2 : default_l2;
    int n_l2 = p->l2 ? p->n_l2 : (int)(sizeof default_l2 / sizeof *default_l2);
    SLM_CHECK(train && train->n >= 2, SLM_ERR_ARG, "kmer_lr: training set has %zu rows, expected >= 2",
              train ? train->n : 0);
    SLM_CHECK(p->k_min >= 1 && p->k_max <= 8 && p->k_min <= p->k_max, SLM_ERR_ARG,
              "kmer_lr: k range %d..%d, expected within 1..8", p->k_min, p->k_max);
    SLM_CHECK(n_l2 >= 1 && p->max_iter >= 1 && p->l2_patience >= 0, SLM_ERR_ARG,
              "kmer_lr: %d L2 values, %d iterations, L2 patience %d", n_l2, p->max_iter, p->l2_patience);
    SLM_CHECK(p->both_strands >= -1 && p->both_strands <= 1, SLM_ERR_ARG,
              "kmer_lr: both_strands %d, expected 0, 1 or -1 (choose on dev)", p->both_strands);
    int C = train->n_class;
    if (dev && dev->n_class > C) C = dev->n_class;
    SLM_CHECK(C >= 2 && C <= 64, SLM_ERR_ARG, "kmer_lr: %d classes, expected 2..64", C);
    SLM_TRY(check_set(train, "train", C));
    int use_dev = dev && dev->n > 0;
    if (use_dev) {
        SLM_TRY(check_set(dev, "dev", C));
        proba = slm_alloc(dev->n * (size_t)C * sizeof *proba);
        SLM_CHECK(proba, SLM_ERR_NOMEM, "kmer_lr: cannot allocate dev probabilities");
    }
    /* strand variants: unfolded first, so ties keep the unfolded model */
    int modes[2], n_modes = 0;
    if (p->both_strands <= 0) modes[n_modes++] = 0;
    if (p->both_strands != 0 && (use_dev || n_modes == 0)) modes[n_modes++] = 1;
    double best_mcc = -2;
    slm_kmer_lr_stats s = {0};
    s.best_dev_mcc = NAN;
    int n_total = (p->k_max - p->k_min + 1) * n_modes * n_l2, done = 0;
    for (int k = p->k_min; k <= p->k_max; k++) {
        for (int mi = 0; mi < n_modes; mi++) {
            SLM_TRY(shell_new(k, modes[mi], C, &m));
            SLM_TRY(featurize(m, train, &xt));
            fit_scaling(m, &xt);
            scale(&xt, m->inv_rms);
            if (use_dev) {
                SLM_TRY(featurize(m, dev, &xd));
                scale(&xd, m->inv_rms);
            }
            size_t np = (size_t)C * (size_t)m->n_feat + (size_t)C;
            double sweep_best = -2;
            int worse = 0;
            for (int li = 0; li < n_l2; li++) {
                if (p->progress) {
                    char stage[64];
                    snprintf(stage, sizeof stage, "k=%d%s l2=%g", k, modes[mi] ? " folded" : "", grid[li]);
                    SLM_CHECK(!p->progress(stage, (double)done / n_total, p->user), SLM_ERR_CANCELLED,
                              "kmer_lr: cancelled");
                }
                int iters = 0;
                double f = 0;
                /* warm start: theta still holds the previous (stronger) l2's solution */
                SLM_TRY(lbfgs(&xt, train->label, C, m->n_feat, grid[li], p->max_iter, m->theta, NULL, &iters,
                              &f));
                done++;
                s.n_fits++;
                double mcc = 0;
                if (use_dev) {
                    predict_csr(m, &xd, proba);
                    slm_dna_metrics mt;
                    SLM_TRY(slm_dna_metrics_compute(dev->label, proba, dev->n, C, &mt));
                    mcc = mt.mcc;
                }
                if (best == NULL || (use_dev && mcc > best_mcc + 1e-12)) {
                    /* keep a copy of this fit: the model shell of this (k, strands) and its weights */
                    if (best && best != m) slm_kmer_lr_free(best);
                    slm_free(best_theta);
                    best_theta = slm_alloc(np * sizeof *best_theta);
                    SLM_CHECK(best_theta, SLM_ERR_NOMEM, "kmer_lr: cannot copy %zu weights", np);
                    memcpy(best_theta, m->theta, np * sizeof *best_theta);
                    best = m;
                    best_mcc = mcc;
                    s.best_k = k;
                    s.best_l2 = grid[li];
                    s.best_both_strands = modes[mi];
                    s.best_dev_mcc = use_dev ? mcc : NAN;
                    s.final_loss = f;
                    s.iters = iters;
                }
                if (!use_dev) break;
                if (mcc > sweep_best + 1e-12) {
                    sweep_best = mcc;
                    worse = 0;
                } else if (p->l2_patience > 0 && ++worse >= p->l2_patience) {
                    done += n_l2 - 1 - li;
                    break;
                }
            }
            csr_free(&xt);
            csr_free(&xd);
            if (best != m) slm_kmer_lr_free(m);
            m = NULL;
            if (!use_dev) break;
        }
        if (!use_dev) break;
    }
    memcpy(best->theta, best_theta, ((size_t)C * (size_t)best->n_feat + (size_t)C) * sizeof *best_theta);
    slm_free(best_theta);
    slm_free(proba);
    if (stats) *stats = s;
    *out = best;
    return SLM_OK;
fail:
    csr_free(&xt);
    csr_free(&xd);
    if (m != best) slm_kmer_lr_free(m);
    slm_kmer_lr_free(best);
    slm_free(best_theta);
    slm_free(proba);
    return st;
}

slm_status slm_kmer_lr_fit_trace(int k, double l2, int both_strands, int max_iter, const slm_seqset *train,
                                 double *loss, int *n_loss)
{
    slm_status st = SLM_OK;
    slm_kmer_lr *m = NULL;
    csr x = {0};
    SLM_CHECK(train && train->n >= 2 && k >= 1 && k <= 8 && max_iter >= 1 && train->n_class <= 64, SLM_ERR_ARG,
              "kmer_lr_fit_trace: bad arguments (k %d, %d iterations)", k, max_iter);
    SLM_TRY(shell_new(k, both_strands, train->n_class, &m));
    SLM_TRY(featurize(m, train, &x));
    fit_scaling(m, &x);
    scale(&x, m->inv_rms);
    double f;
    SLM_TRY(lbfgs(&x, train->label, m->n_class, m->n_feat, l2, max_iter, m->theta, loss, n_loss, &f));
fail:
    csr_free(&x);
    slm_kmer_lr_free(m);
    return st;
}
