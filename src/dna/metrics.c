/* metrics.c — MCC, accuracy, macro-F1, AUROC and their bootstrap intervals.
 *
 * Every metric is computed from row weights (w[i] = how many times row i is
 * drawn), so the plain metrics are the all-ones case and a bootstrap
 * resample costs O(n · n_class) with no re-sorting: the rows are sorted by
 * each class's score once, and the AUROC of a weighted sample is the
 * Mann-Whitney count over that fixed order, ties counting one half.
 */
#include "dna/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "sample/rng.h"

typedef struct prep {
    size_t n;
    int n_class;
    const int32_t *label; /* [n] */
    const float *proba;   /* [n × n_class] */
    int32_t *pred;        /* [n] argmax */
    size_t *order;        /* [n_auc × n] rows by ascending score of class k (k = 1 if binary) */
    int n_auc;            /* 1 for binary, n_class otherwise */
} prep;

typedef struct scored {
    float s;
    size_t i;
} scored;

/* Ascending score, then row index (a total order, so qsort is deterministic). */
static int by_score(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->s < y->s) return -1;
    if (x->s > y->s) return 1;
    return (x->i > y->i) - (x->i < y->i);
}

static void prep_free(prep *p)
{
    slm_free(p->pred);
    slm_free(p->order);
    memset(p, 0, sizeof *p);
}

static slm_status prep_new(const int32_t *label, const float *proba, size_t n, int n_class, prep *p)
{
    slm_status st = SLM_OK;
    scored *tmp = NULL;
    memset(p, 0, sizeof *p);
    SLM_CHECK(n > 0, SLM_ERR_ARG, "metrics: no rows");
    SLM_CHECK(n_class >= 2, SLM_ERR_ARG, "metrics: n_class %d, expected >= 2", n_class);
    for (size_t i = 0; i < n; i++)
        SLM_CHECK(label[i] >= 0 && label[i] < n_class, SLM_ERR_ARG,
                  "metrics: label[%zu] = %d, expected 0..%d", i, (int)label[i], n_class - 1);
    p->n = n;
    p->n_class = n_class;
    p->label = label;
    p->proba = proba;
    p->n_auc = n_class == 2 ? 1 : n_class;
    size_t bytes;
    SLM_CHECK(slm_size_mul(n, (size_t)p->n_auc * sizeof(size_t), &bytes), SLM_ERR_NOMEM,
              "metrics: %zu rows overflow", n);
    p->pred = slm_alloc(n * sizeof *p->pred);
    p->order = slm_alloc(bytes);
    SLM_CHECK(p->pred && p->order, SLM_ERR_NOMEM, "metrics: cannot allocate scratch for %zu rows", n);
    for (size_t i = 0; i < n; i++) {
        const float *r = proba + i * (size_t)n_class;
        for (int k = 0; k < n_class; k++)
            SLM_CHECK(isfinite(r[k]), SLM_ERR_ARG, "metrics: proba[%zu][%d] is not finite", i, k);
        int best = 0;
        for (int k = 1; k < n_class; k++)
            if (r[k] > r[best]) best = k;
        p->pred[i] = best;
    }
    tmp = slm_alloc(n * sizeof *tmp);
    SLM_CHECK(tmp, SLM_ERR_NOMEM, "metrics: cannot allocate scratch for %zu rows", n);
    for (int a = 0; a < p->n_auc; a++) {
        int col = n_class == 2 ? 1 : a;
        for (size_t i = 0; i < n; i++) tmp[i] = (scored){proba[i * (size_t)n_class + (size_t)col], i};
        qsort(tmp, n, sizeof *tmp, by_score);
        size_t *o = p->order + (size_t)a * n;
        for (size_t i = 0; i < n; i++) o[i] = tmp[i].i;
    }
    slm_free(tmp);
    return SLM_OK;
fail:
    slm_free(tmp);
    prep_free(p);
    return st;
}

/* AUROC of class `col` (rows in `order`) under weights w; NaN if one side is empty. */
static double auc_weighted(const prep *p, const size_t *order, int col, const double *w)
{
    double neg_below = 0, num = 0, pos = 0, neg = 0;
    size_t n = p->n;
    for (size_t g = 0; g < n;) {
        float s = p->proba[order[g] * (size_t)p->n_class + (size_t)col];
        double gp = 0, gn = 0;
        size_t e = g;
        do { /* one tie group; at least one row, so the loop always advances */
            size_t i = order[e];
            double wi = w ? w[i] : 1.0;
            if (p->label[i] == col) gp += wi;
            else gn += wi;
            e++;
        } while (e < n && p->proba[order[e] * (size_t)p->n_class + (size_t)col] == s);
        num += gp * (neg_below + 0.5 * gn);
        neg_below += gn;
        pos += gp;
        neg += gn;
        g = e;
    }
    if (pos == 0 || neg == 0) return NAN;
    return num / (pos * neg);
}

static void compute_weighted(const prep *p, const double *w, double *cm /* n_class² scratch */,
                             slm_dna_metrics *out)
{
    int K = p->n_class;
    memset(cm, 0, (size_t)K * (size_t)K * sizeof *cm);
    for (size_t i = 0; i < p->n; i++) cm[(size_t)p->label[i] * (size_t)K + (size_t)p->pred[i]] += w ? w[i] : 1.0;
    double s = 0, c = 0, sum_pt = 0, sum_pp = 0, sum_tt = 0, f1 = 0;
    int f1_n = 0;
    for (int k = 0; k < K; k++) {
        double t = 0, pr = 0;
        for (int j = 0; j < K; j++) {
            t += cm[(size_t)k * (size_t)K + (size_t)j];
            pr += cm[(size_t)j * (size_t)K + (size_t)k];
        }
        double tp = cm[(size_t)k * (size_t)K + (size_t)k];
        s += t;
        c += tp;
        sum_pt += pr * t;
        sum_pp += pr * pr;
        sum_tt += t * t;
        double den = t + pr; /* 2tp + fp + fn */
        if (den > 0) {
            f1 += 2 * tp / den;
            f1_n++;
        }
    }
    double den = sqrt(s * s - sum_pp) * sqrt(s * s - sum_tt);
    out->mcc = den > 0 ? (c * s - sum_pt) / den : 0.0;
    out->accuracy = s > 0 ? c / s : 0.0;
    out->f1 = f1_n ? f1 / f1_n : 0.0;
    if (K == 2) {
        out->auroc = auc_weighted(p, p->order, 1, w);
    } else {
        double sum = 0;
        int m = 0;
        for (int k = 0; k < K; k++) {
            double a = auc_weighted(p, p->order + (size_t)k * p->n, k, w);
            if (!isnan(a)) {
                sum += a;
                m++;
            }
        }
        out->auroc = m ? sum / m : NAN;
    }
}

slm_status slm_dna_metrics_compute(const int32_t *label, const float *proba, size_t n, int n_class,
                                   slm_dna_metrics *out)
{
    prep p;
    slm_status st = prep_new(label, proba, n, n_class, &p);
    if (st != SLM_OK) return st;
    double *cm = slm_alloc((size_t)n_class * (size_t)n_class * sizeof *cm);
    if (!cm) {
        prep_free(&p);
        return slm_fail(SLM_ERR_NOMEM, "metrics: cannot allocate a %d-class confusion matrix", n_class);
    }
    compute_weighted(&p, NULL, cm, out);
    slm_free(cm);
    prep_free(&p);
    return SLM_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.percentile's default (linear interpolation between order statistics). */
static double percentile(double *v, int n, double q)
{
    if (n == 0) return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double pos = q / 100.0 * (n - 1);
    int i = (int)floor(pos);
    if (i >= n - 1) return v[n - 1];
    double f = pos - i;
    return v[i] + f * (v[i + 1] - v[i]);
}

slm_status slm_dna_metrics_bootstrap(const int32_t *label, const float *proba, size_t n, int n_class,
                                     int n_boot, uint64_t seed, slm_dna_metrics *lo,
                                     slm_dna_metrics *hi)
{
    slm_status st = SLM_OK;
    prep p;
    double *w = NULL, *cm = NULL, *v = NULL;
    memset(&p, 0, sizeof p);
    SLM_CHECK(n_boot >= 2, SLM_ERR_ARG, "metrics_bootstrap: n_boot %d, expected >= 2", n_boot);
    SLM_TRY(prep_new(label, proba, n, n_class, &p));
    w = slm_alloc(n * sizeof *w);
    cm = slm_alloc((size_t)n_class * (size_t)n_class * sizeof *cm);
    v = slm_alloc((size_t)n_boot * 4 * sizeof *v);
    SLM_CHECK(w && cm && v, SLM_ERR_NOMEM, "metrics_bootstrap: cannot allocate %d resamples of %zu rows",
              n_boot, n);
    slm_rng rng;
    slm_rng_seed(&rng, seed);
    int n_auc = 0;
    for (int b = 0; b < n_boot; b++) {
        memset(w, 0, n * sizeof *w);
        for (size_t i = 0; i < n; i++) w[slm_rng_next(&rng) % n] += 1.0;
        slm_dna_metrics m;
        compute_weighted(&p, w, cm, &m);
        v[b] = m.mcc;
        v[n_boot + b] = m.accuracy;
        v[2 * n_boot + b] = m.f1;
        if (!isnan(m.auroc)) v[3 * n_boot + n_auc++] = m.auroc;
    }
    lo->mcc = percentile(v, n_boot, 2.5);
    hi->mcc = percentile(v, n_boot, 97.5);
    lo->accuracy = percentile(v + n_boot, n_boot, 2.5);
    hi->accuracy = percentile(v + n_boot, n_boot, 97.5);
    lo->f1 = percentile(v + 2 * n_boot, n_boot, 2.5);
    hi->f1 = percentile(v + 2 * n_boot, n_boot, 97.5);
    lo->auroc = percentile(v + 3 * n_boot, n_auc, 2.5);
    hi->auroc = percentile(v + 3 * n_boot, n_auc, 97.5);
fail:
    slm_free(w);
    slm_free(cm);
    slm_free(v);
    prep_free(&p);
    return st;
}
