/* bench.c — the end-to-end DNA benchmark behind `slm dna bench` (issue 8):
 * every task × method, same splits, same metrics.
 *
 * A GUE task is a folder TASK/{train,dev,test}.csv[.gz]: train on train,
 * select hyper-parameters / epochs on dev, report on test. uci_splice has no
 * official split: stratified k-fold CV (default 10) where, in fold f, fold f
 * is the test part, fold (f+1) mod k the dev part and the rest train; the
 * metrics are computed once on the pooled out-of-fold predictions of all
 * 3190 rows. max_train caps the training rows by a seeded random subset
 * (the same subset for every method). The glm method is D1's classifier
 * (glm.h): fine-tune the base model, predict, delete the temporary file.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/status.h"
#include "dna/baseline.h"
#include "dna/glm.h"
#include "dna/metrics.h"
#include "dna/seqset.h"
#include "sample/rng.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

slm_dna_bench_params slm_dna_bench_default_params(void)
{
    slm_dna_bench_params p;
    memset(&p, 0, sizeof p);
    p.seed = 42;
    p.n_boot = 1000;
    p.folds = 10;
    p.cnn_epochs = 20;
    p.glm_epochs = 3;
    return p;
}

/* ---- small string lists ---------------------------------------------- */

typedef struct strlist {
    size_t n;
    char **s;
} strlist;

static void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++) slm_free(l->s[i]);
    slm_free(l->s);
    memset(l, 0, sizeof *l);
}

static slm_status strlist_add(strlist *l, const char *b, size_t len)
{
    char **ns = slm_realloc(l->s, (l->n + 1) * sizeof *ns);
    if (!ns) return slm_fail(SLM_ERR_NOMEM, "bench: cannot grow a name list");
    l->s = ns;
    char *c = slm_alloc(len + 1);
    if (!c) return slm_fail(SLM_ERR_NOMEM, "bench: cannot copy a name");
    memcpy(c, b, len);
    c[len] = 0;
    l->s[l->n++] = c;
    return SLM_OK;
}

static slm_status split_commas(const char *s, strlist *out)
{
    memset(out, 0, sizeof *out);
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len) {
            slm_status st = strlist_add(out, p, len);
            if (st != SLM_OK) {
                strlist_free(out);
                return st;
            }
        }
        if (!e) break;
        p = e + 1;
    }
    return SLM_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* path of TASK/SPLIT.csv.gz or TASK/SPLIT.csv; 0 if neither exists. */
static int split_path(const char *dir, const char *task, const char *split, char *out, size_t n)
{
    snprintf(out, n, "%s/%s/%s.csv.gz", dir, task, split);
    if (file_exists(out)) return 1;
    snprintf(out, n, "%s/%s/%s.csv", dir, task, split);
    return file_exists(out);
}

/* Every sub-folder of dir holding a train split, sorted. */
static slm_status list_tasks(const char *dir, strlist *out)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) return slm_fail(SLM_ERR_IO, "%s: cannot open the benchmark folder", dir);
    struct dirent *e;
    char path[4096];
    slm_status st = SLM_OK;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (!split_path(dir, e->d_name, "train", path, sizeof path)) continue;
        st = strlist_add(out, e->d_name, strlen(e->d_name));
        if (st != SLM_OK) break;
    }
    closedir(d);
    if (st != SLM_OK) {
        strlist_free(out);
        return st;
    }
    if (out->n) qsort(out->s, out->n, sizeof *out->s, cmp_str);
    return SLM_OK;
}

/* ---- one method on one split ------------------------------------------ */

typedef struct run_ctx {
    const slm_dna_bench_params *p;
    const char *task, *method;
    double frac0, frac_span;   /* this fit's share of the task × method progress */
} run_ctx;

static int baseline_progress(const char *stage, double frac, void *user)
{
    const run_ctx *c = user;
    return c->p->progress(c->task, c->method, stage, c->frac0 + frac * c->frac_span, c->p->user);
}

static int glm_progress(const slm_dna_finetune_progress *pr, void *user)
{
    const run_ctx *c = user;
    char stage[96];
    double frac = pr->n_epochs > 0 && pr->total > 0
                      ? ((double)(pr->epoch > 0 ? pr->epoch - 1 : 0) + (double)pr->done / (double)pr->total) /
                            pr->n_epochs
                      : 0;
    if (isnan(pr->dev_mcc)) snprintf(stage, sizeof stage, "epoch %d/%d loss %.4f", pr->epoch, pr->n_epochs, pr->loss);
    else snprintf(stage, sizeof stage, "epoch %d/%d dev MCC %.3f", pr->epoch, pr->n_epochs, pr->dev_mcc);
    return c->p->progress(c->task, c->method, stage, c->frac0 + frac * c->frac_span, c->p->user);
}

/* The CNN configurations tried per task: filters and kernel widths of the
 * two convolutions, dropout on the pooled features, and reverse-complement
 * augmentation with strand-averaged predictions. */
static const struct {
    int c1, k1, c2, k2;
    float dropout;
    int rc;
} cnn_grid[] = {{64, 11, 64, 7, 0.2f, 0}, {64, 11, 64, 7, 0.2f, 1}};
/* A wider {128, 15, 128, 7, 0.3, 1} was tried on prom_core_tata and tf_2
 * (2026-11-23): 3x the time, no better on test (tf_2 65.1 vs 66.4 MCC). */

typedef struct fit_out {
    uint64_t params;
    double train_s, predict_s;
    char detail[128];
} fit_out;

/* Train `method` on tr (select on dv), write test probabilities (te->n × C). */
static slm_status fit_predict(run_ctx *c, int C, const slm_seqset *tr, const slm_seqset *dv, const slm_seqset *te,
                              float *proba, fit_out *o)
{
    slm_status st = SLM_OK;
    const slm_dna_bench_params *p = c->p;
    double t0 = now_s();
    if (strcmp(c->method, "kmer_lr") == 0) {
        slm_kmer_lr_params kp = slm_kmer_lr_default_params();
        if (p->progress) {
            kp.progress = baseline_progress;
            kp.user = c;
        }
        slm_kmer_lr *m = NULL;
        slm_kmer_lr_stats ks;
        SLM_TRY(slm_kmer_lr_train(&kp, tr, dv, &m, &ks));
        o->train_s += now_s() - t0;
        double t1 = now_s();
        st = slm_kmer_lr_predict(m, te, proba);
        o->predict_s += now_s() - t1;
        o->params = slm_kmer_lr_n_params(m);
        snprintf(o->detail, sizeof o->detail, "k=%d%s l2=%g dev MCC %.3f", ks.best_k,
                 ks.best_both_strands ? " folded" : "", ks.best_l2, ks.best_dev_mcc);
        slm_kmer_lr_free(m);
        return st;
    }
    if (strcmp(c->method, "cnn") == 0) {
        /* The configurations of cnn_grid are trained in turn; the best dev
         * MCC (early-stopped epoch) wins; without dev the first is used. */
        slm_cnn *best = NULL;
        slm_cnn_stats best_st = {0};
        int best_i = 0;
        size_t n_cfg = dv && dv->n ? sizeof cnn_grid / sizeof *cnn_grid : 1;
        for (size_t g = 0; g < n_cfg; g++) {
            slm_cnn_params cp = slm_cnn_default_params();
            cp.epochs = p->cnn_epochs;
            cp.patience = 3;
            cp.c1 = cnn_grid[g].c1;
            cp.k1 = cnn_grid[g].k1;
            cp.c2 = cnn_grid[g].c2;
            cp.k2 = cnn_grid[g].k2;
            cp.dropout = cnn_grid[g].dropout;
            cp.rc_augment = cp.rc_average = cnn_grid[g].rc;
            cp.seed = p->seed;
            cp.n_threads = p->n_threads;
            if (p->progress) {
                cp.progress = baseline_progress;
                cp.user = c;
            }
            slm_cnn *m = NULL;
            slm_cnn_stats cs;
            st = slm_cnn_train(&cp, tr, dv, &m, &cs);
            if (st != SLM_OK) {
                slm_cnn_free(best);
                return st;
            }
            if (!best || cs.best_dev_mcc > best_st.best_dev_mcc + 1e-12) {
                slm_cnn_free(best);
                best = m;
                best_st = cs;
                best_i = (int)g;
            } else {
                slm_cnn_free(m);
            }
        }
        o->train_s += now_s() - t0;
        double t1 = now_s();
        st = slm_cnn_predict(best, te, proba);
        o->predict_s += now_s() - t1;
        o->params = slm_cnn_n_params(best);
        snprintf(o->detail, sizeof o->detail, "%dx%d,%dx%d dropout %g%s, best epoch %d of %d, dev MCC %.3f",
                 cnn_grid[best_i].c1, cnn_grid[best_i].k1, cnn_grid[best_i].c2, cnn_grid[best_i].k2,
                 (double)cnn_grid[best_i].dropout, cnn_grid[best_i].rc ? ", RC aug+avg" : "", best_st.best_epoch,
                 best_st.epochs_run, best_st.best_dev_mcc);
        slm_cnn_free(best);
        return st;
    }
    if (strcmp(c->method, "glm") == 0 || strcmp(c->method, "glm_probe") == 0) {
        const int probe = strcmp(c->method, "glm_probe") == 0;
        SLM_CHECK(p->model, SLM_ERR_ARG, "%s: no base model given (--model)", c->method);
        char out_path[4096];
        snprintf(out_path, sizeof out_path, "%s/slm_bench_%ld_%s.gguf", p->work_dir ? p->work_dir : "/tmp",
                 (long)getpid(), c->task);
        slm_dna_finetune_params fp = slm_dna_finetune_default_params();
        fp.epochs = p->glm_epochs;
        if (probe) { /* the head alone on cached features: cheap epochs (slm dna finetune --probe's defaults) */
            fp.probe = 1;
            fp.epochs = 30;
            fp.patience = 10;
            fp.lr_head = 1e-2f;
        }
        fp.max_train = (size_t)p->glm_max_train;
        fp.max_dev = (size_t)p->glm_max_dev;
        fp.seed = p->seed;
        fp.n_threads = p->n_threads;
        if (p->progress) {
            fp.progress = glm_progress;
            fp.user = c;
        }
        slm_dna_finetune_stats fs;
        st = slm_dna_finetune(&fp, tr, dv, p->model, out_path, &fs);
        o->train_s += now_s() - t0;
        if (st == SLM_OK) {
            int32_t fc = 0;
            st = slm_dna_classifier_n_class(out_path, &fc);
            if (st == SLM_OK && fc != C)
                st = slm_fail(SLM_ERR_FORMAT, "glm: classifier has %d classes, task has %d", (int)fc, C);
            double t1 = now_s();
            if (st == SLM_OK) st = slm_dna_predict_proba(out_path, te, p->n_threads, proba);
            o->predict_s += now_s() - t1;
            o->params = fs.n_params;
            size_t n_tr = fp.max_train && fp.max_train < tr->n ? fp.max_train : tr->n;
            size_t n_dv = dv ? (fp.max_dev && fp.max_dev < dv->n ? fp.max_dev : dv->n) : 0;
            snprintf(o->detail, sizeof o->detail, "%s%zu train / %zu dev rows, best epoch %d of %d, dev MCC %.3f",
                     probe ? "probe, " : "", n_tr, n_dv, fs.best_epoch, fs.epochs_run, (double)fs.best_dev_mcc);
        }
        remove(out_path);
        return st;
    }
    SLM_CHECK(0, SLM_ERR_ARG, "unknown method '%s', expected glm, glm_probe, kmer_lr or cnn", c->method);
fail:
    return st;
}

/* ---- rows ------------------------------------------------------------- */

static void fill_metrics(slm_dna_bench_row *r, const slm_dna_metrics *m, const slm_dna_metrics *lo,
                         const slm_dna_metrics *hi)
{
    r->mcc = m->mcc;
    r->accuracy = m->accuracy;
    r->f1 = m->f1;
    r->auroc = m->auroc;
    r->mcc_lo = lo->mcc;
    r->mcc_hi = hi->mcc;
    r->accuracy_lo = lo->accuracy;
    r->accuracy_hi = hi->accuracy;
    r->f1_lo = lo->f1;
    r->f1_hi = hi->f1;
    r->auroc_lo = lo->auroc;
    r->auroc_hi = hi->auroc;
}

/* Seeded subset of at most max rows (row order kept). */
static slm_status cap_rows(const slm_seqset *s, uint64_t max, uint64_t seed, slm_seqset *out)
{
    size_t n = s->n, k = (max && max < n) ? (size_t)max : n;
    size_t *idx = slm_alloc((n ? n : 1) * sizeof *idx);
    if (!idx) return slm_fail(SLM_ERR_NOMEM, "bench: cannot allocate %zu indices", n);
    for (size_t i = 0; i < n; i++) idx[i] = i;
    if (k < n) {
        slm_rng r;
        slm_rng_seed(&r, seed);
        for (size_t i = 0; i < k; i++) { /* partial Fisher-Yates: the first k are a uniform sample */
            size_t j = i + (size_t)(slm_rng_next(&r) % (n - i));
            size_t t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        /* keep file order among the chosen */
        for (size_t i = 1; i < k; i++) {
            size_t v = idx[i], j = i;
            while (j > 0 && idx[j - 1] > v) {
                idx[j] = idx[j - 1];
                j--;
            }
            idx[j] = v;
        }
    }
    slm_status st = slm_seqset_subset(s, idx, k, out);
    slm_free(idx);
    return st;
}

typedef struct task_data {
    slm_seqset train, dev, test; /* GUE */
    slm_seqset all;              /* uci_splice */
    int32_t *fold;               /* [all.n] */
    int cv;
    int n_class;
} task_data;

static void task_free(task_data *t)
{
    slm_seqset_free(&t->train);
    slm_seqset_free(&t->dev);
    slm_seqset_free(&t->test);
    slm_seqset_free(&t->all);
    slm_free(t->fold);
    memset(t, 0, sizeof *t);
}

static slm_status task_load(const slm_dna_bench_params *p, const char *task, task_data *t)
{
    slm_status st = SLM_OK;
    memset(t, 0, sizeof *t);
    if (strcmp(task, "uci_splice") == 0) {
        SLM_CHECK(p->splice_path, SLM_ERR_ARG, "task uci_splice: no splice.data path given");
        SLM_TRY(slm_seqset_read_uci_splice(p->splice_path, &t->all));
        t->cv = 1;
        t->n_class = t->all.n_class;
        t->fold = slm_alloc(t->all.n * sizeof *t->fold);
        SLM_CHECK(t->fold, SLM_ERR_NOMEM, "bench: cannot allocate folds");
        SLM_TRY(slm_seqset_kfold(&t->all, p->folds, p->seed, t->fold));
        return SLM_OK;
    }
    SLM_CHECK(p->data_dir, SLM_ERR_ARG, "task %s: no data folder given", task);
    char path[4096];
    const char *names[3] = {"train", "dev", "test"};
    slm_seqset *sets[3] = {&t->train, &t->dev, &t->test};
    for (int i = 0; i < 3; i++) {
        SLM_CHECK(split_path(p->data_dir, task, names[i], path, sizeof path), SLM_ERR_IO,
                  "task %s: %s/%s/%s.csv.gz (or .csv) not found", task, p->data_dir, task, names[i]);
        SLM_TRY(slm_seqset_read_csv(path, sets[i]));
    }
    t->n_class = t->train.n_class;
    for (int i = 1; i < 3; i++)
        if (sets[i]->n_class > t->n_class) t->n_class = sets[i]->n_class;
    for (int i = 0; i < 3; i++) sets[i]->n_class = t->n_class;
    return SLM_OK;
fail:
    task_free(t);
    return st;
}

/* Run one method on a loaded task into r. A method failure becomes a
 * missing row (the message in detail) and SLM_OK; only SLM_ERR_CANCELLED and
 * SLM_ERR_NOMEM are returned. */
static slm_status run_one(const slm_dna_bench_params *p, const char *task, const char *method, task_data *t,
                          slm_dna_bench_row *r)
{
    slm_status st = SLM_OK;
    float *proba = NULL, *fp = NULL;
    size_t *it = NULL, *id = NULL, *ie = NULL;
    slm_seqset tr = {0}, dv = {0}, te = {0}, tr_cap = {0};
    fit_out o;
    memset(&o, 0, sizeof o);
    memset(r, 0, sizeof *r);
    snprintf(r->task, sizeof r->task, "%s", task);
    snprintf(r->method, sizeof r->method, "%s", method);
    r->n_class = t->n_class;
    int C = t->n_class;
    run_ctx c = {p, task, method, 0, 1};
    const int32_t *label;
    size_t n_eval;
    if (!t->cv) {
        SLM_TRY(cap_rows(&t->train, p->max_train, p->seed, &tr_cap));
        proba = slm_alloc(t->test.n * (size_t)C * sizeof *proba);
        SLM_CHECK(proba, SLM_ERR_NOMEM, "bench: cannot allocate test probabilities");
        r->n_train = tr_cap.n;
        r->n_dev = t->dev.n;
        r->n_test = t->test.n;
        st = fit_predict(&c, C, &tr_cap, &t->dev, &t->test, proba, &o);
        label = t->test.label;
        n_eval = t->test.n;
    } else {
        size_t n = t->all.n;
        proba = slm_alloc(n * (size_t)C * sizeof *proba);
        it = slm_alloc(n * sizeof *it);
        id = slm_alloc(n * sizeof *id);
        ie = slm_alloc(n * sizeof *ie);
        SLM_CHECK(proba && it && id && ie, SLM_ERR_NOMEM, "bench: cannot allocate CV buffers for %zu rows", n);
        for (int f = 0; f < p->folds && st == SLM_OK; f++) {
            int fd = (f + 1) % p->folds;
            size_t nt = 0, nd = 0, ne = 0;
            for (size_t i = 0; i < n; i++) {
                if (t->fold[i] == f) ie[ne++] = i;
                else if (t->fold[i] == fd) id[nd++] = i;
                else it[nt++] = i;
            }
            SLM_TRY(slm_seqset_subset(&t->all, it, nt, &tr));
            SLM_TRY(slm_seqset_subset(&t->all, id, nd, &dv));
            SLM_TRY(slm_seqset_subset(&t->all, ie, ne, &te));
            SLM_TRY(cap_rows(&tr, p->max_train, p->seed + (uint64_t)f, &tr_cap));
            fp = slm_alloc((ne ? ne : 1) * (size_t)C * sizeof *fp);
            SLM_CHECK(fp, SLM_ERR_NOMEM, "bench: cannot allocate fold probabilities");
            c.frac0 = (double)f / p->folds;
            c.frac_span = 1.0 / p->folds;
            st = fit_predict(&c, C, &tr_cap, &dv, &te, fp, &o);
            if (st == SLM_OK)
                for (size_t j = 0; j < ne; j++)
                    memcpy(proba + ie[j] * (size_t)C, fp + j * (size_t)C, (size_t)C * sizeof *fp);
            slm_free(fp);
            fp = NULL;
            r->n_train += tr_cap.n;
            r->n_dev += dv.n;
            slm_seqset_free(&tr);
            slm_seqset_free(&dv);
            slm_seqset_free(&te);
            slm_seqset_free(&tr_cap);
        }
        /* rows per fold, on average */
        r->n_train = (r->n_train + (uint64_t)p->folds / 2) / (uint64_t)p->folds;
        r->n_dev = (r->n_dev + (uint64_t)p->folds / 2) / (uint64_t)p->folds;
        r->n_test = n;
        label = t->all.label;
        n_eval = n;
    }
    r->params = o.params;
    r->train_s = o.train_s;
    r->predict_s = o.predict_s;
    if (st == SLM_OK) {
        slm_dna_metrics m, lo, hi;
        SLM_TRY(slm_dna_metrics_compute(label, proba, n_eval, C, &m));
        SLM_TRY(slm_dna_metrics_bootstrap(label, proba, n_eval, C, p->n_boot, p->seed, &lo, &hi));
        fill_metrics(r, &m, &lo, &hi);
        snprintf(r->detail, sizeof r->detail, "%s%s", o.detail, t->cv ? " (last fold)" : "");
    } else if (st != SLM_ERR_CANCELLED && st != SLM_ERR_NOMEM) {
        r->missing = 1;
        r->mcc = r->accuracy = r->f1 = r->auroc = NAN;
        r->mcc_lo = r->mcc_hi = r->accuracy_lo = r->accuracy_hi = NAN;
        r->f1_lo = r->f1_hi = r->auroc_lo = r->auroc_hi = NAN;
        snprintf(r->detail, sizeof r->detail, "%s", slm_last_error());
        st = SLM_OK;
    }
fail:
    slm_free(proba);
    slm_free(fp);
    slm_free(it);
    slm_free(id);
    slm_free(ie);
    slm_seqset_free(&tr);
    slm_seqset_free(&dv);
    slm_seqset_free(&te);
    slm_seqset_free(&tr_cap);
    return st;
}

slm_status slm_dna_bench(const slm_dna_bench_params *p, slm_dna_bench_row **rows, size_t *n_rows)
{
    slm_status st = SLM_OK;
    strlist tasks = {0}, methods = {0};
    slm_dna_bench_row *out = NULL;
    task_data t;
    memset(&t, 0, sizeof t);
    slm_error_clear();
    if (rows) *rows = NULL;
    if (n_rows) *n_rows = 0;
    SLM_CHECK(p && rows && n_rows, SLM_ERR_ARG, "dna_bench: NULL argument");
    SLM_CHECK(p->n_boot >= 2 && p->folds >= 2 && p->cnn_epochs >= 1 && p->glm_epochs >= 1, SLM_ERR_ARG,
              "dna_bench: n_boot %d, folds %d, cnn_epochs %d, glm_epochs %d out of range", p->n_boot, p->folds,
              p->cnn_epochs, p->glm_epochs);
    if (p->tasks) {
        SLM_TRY(split_commas(p->tasks, &tasks));
    } else {
        if (p->data_dir) SLM_TRY(list_tasks(p->data_dir, &tasks));
        if (p->splice_path) SLM_TRY(strlist_add(&tasks, "uci_splice", 10));
    }
    SLM_CHECK(tasks.n > 0, SLM_ERR_ARG, "dna_bench: no tasks (data folder '%s' holds no TASK/train.csv[.gz])",
              p->data_dir ? p->data_dir : "(none)");
    SLM_TRY(split_commas(p->methods ? p->methods : "glm,kmer_lr,cnn", &methods));
    SLM_CHECK(methods.n > 0, SLM_ERR_ARG, "dna_bench: empty method list");
    for (size_t j = 0; j < methods.n; j++)
        SLM_CHECK(strcmp(methods.s[j], "glm") == 0 || strcmp(methods.s[j], "glm_probe") == 0 ||
                      strcmp(methods.s[j], "kmer_lr") == 0 || strcmp(methods.s[j], "cnn") == 0,
                  SLM_ERR_ARG, "dna_bench: unknown method '%s', expected glm, glm_probe, kmer_lr or cnn",
                  methods.s[j]);
    out = slm_calloc(tasks.n * methods.n, sizeof *out);
    SLM_CHECK(out, SLM_ERR_NOMEM, "dna_bench: cannot allocate %zu rows", tasks.n * methods.n);
    size_t k = 0;
    for (size_t i = 0; i < tasks.n; i++) {
        SLM_TRY(task_load(p, tasks.s[i], &t));
        for (size_t j = 0; j < methods.n; j++) {
            slm_dna_bench_row *r = &out[k];
            if (strncmp(methods.s[j], "glm", 3) == 0 && !p->model) {
                memset(r, 0, sizeof *r);
                snprintf(r->task, sizeof r->task, "%s", tasks.s[i]);
                snprintf(r->method, sizeof r->method, "%s", methods.s[j]);
                r->n_class = t.n_class;
                r->missing = 1;
                r->mcc = r->accuracy = r->f1 = r->auroc = NAN;
                r->mcc_lo = r->mcc_hi = r->accuracy_lo = r->accuracy_hi = NAN;
                r->f1_lo = r->f1_hi = r->auroc_lo = r->auroc_hi = NAN;
                snprintf(r->detail, sizeof r->detail, "no base model given (--model)");
            } else {
                SLM_TRY(run_one(p, tasks.s[i], methods.s[j], &t, r));
            }
            k++;
            if (p->on_row) p->on_row(r, p->user);
        }
        task_free(&t);
    }
    strlist_free(&tasks);
    strlist_free(&methods);
    *rows = out;
    *n_rows = k;
    return SLM_OK;
fail:
    task_free(&t);
    strlist_free(&tasks);
    strlist_free(&methods);
    slm_free(out);
    return st;
}
