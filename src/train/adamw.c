/* adamw.c — the optimizer step, gradient clipping and the learning-rate
 * schedule. AdamW is Adam with decoupled weight decay: Loshchilov & Hutter,
 * "Decoupled Weight Decay Regularization", ICLR 2019 (arXiv:1711.05101),
 * Algorithm 2: the decay multiplies the parameter directly (p -= lr*wd*p)
 * instead of being added to the gradient, so it is not rescaled by the
 * second moment. Decay applies to matrices (embeddings included), not to
 * norm weights.
 */
#include <math.h>

#include "base/pool.h"
#include "train/trainer.h"

/* Both run on the model's pool, each thread on a fixed slice of every
 * tensor (element-wise: the same result for any thread count), the norm's
 * per-thread partial sums added in thread order (deterministic for a
 * thread count). */
typedef struct opt_job {
    slm_tmodel *m;
    const slm_adamw *o;
    float lr, gscale, c1, c2;
    double part[256]; /* grad norm partials, one per thread (pool cap) */
} opt_job;

static void norm_run(void *ctx, int ith, int nth)
{
    opt_job *j = ctx;
    const float *g = j->m->grads;
    const size_t n = j->m->n_params, lo = n * (size_t)ith / (size_t)nth,
                 hi = n * (size_t)(ith + 1) / (size_t)nth;
    double ss = 0.0;
    for (size_t i = lo; i < hi; i++) ss += (double)g[i] * g[i];
    j->part[ith] = ss;
}

float slm_tmodel_grad_norm(const slm_tmodel *m)
{
    opt_job j = {.m = (slm_tmodel *)m};
    const int nth = m->pool ? slm_pool_n_threads(m->pool) : 1;
    if (nth > 1) slm_pool_run(m->pool, norm_run, &j);
    else norm_run(&j, 0, 1);
    double ss = 0.0;
    for (int t = 0; t < nth; t++) ss += j.part[t];
    return (float)sqrt(ss);
}

static void adamw_run(void *ctx, int ith, int nth)
{
    const opt_job *j = ctx;
    const slm_tmodel *m = j->m;
    const slm_adamw *o = j->o;
    const float b1 = o->beta1, b2 = o->beta2, c1 = j->c1, c2 = j->c2, lr = j->lr;
    const float gscale = j->gscale;
    for (int k = 0; k < m->n_tensors; k++) {
        const slm_ttensor *tt = &m->tensors[k];
        /* a tied output has no row of its own, so nothing is updated twice */
        const float wd = tt->decay ? o->weight_decay : 0.0f;
        const size_t n = (size_t)(tt->n_out * tt->n_in);
        const size_t lo = n * (size_t)ith / (size_t)nth, hi = n * (size_t)(ith + 1) / (size_t)nth;
        float *p = m->params + tt->off, *g = m->grads + tt->off;
        float *mm = m->m + tt->off, *vv = m->v + tt->off;
        for (size_t i = lo; i < hi; i++) {
            const float gi = g[i] * gscale;
            mm[i] = b1 * mm[i] + (1.0f - b1) * gi;
            vv[i] = b2 * vv[i] + (1.0f - b2) * gi * gi;
            const float mh = mm[i] / c1, vh = vv[i] / c2;
            p[i] -= lr * (mh / (sqrtf(vh) + o->eps) + wd * p[i]);
        }
    }
}

void slm_tmodel_adamw(slm_tmodel *m, const slm_adamw *o, float lr, float gscale, int64_t t)
{
    opt_job j = {.m = m, .o = o, .lr = lr, .gscale = gscale,
                 .c1 = 1.0f - powf(o->beta1, (float)t), .c2 = 1.0f - powf(o->beta2, (float)t)};
    if (m->pool && slm_pool_n_threads(m->pool) > 1) slm_pool_run(m->pool, adamw_run, &j);
    else adamw_run(&j, 0, 1);
}

float slm_lr_schedule(int64_t step, int64_t n_steps, int64_t warmup, float lr, float min_frac)
{
    if (step < warmup) return lr * (float)(step + 1) / (float)warmup;
    if (n_steps <= warmup) return lr;
    double r = (double)(step - warmup) / (double)(n_steps - warmup);
    if (r > 1.0) r = 1.0;
    const double cosv = 0.5 * (1.0 + cos(M_PI * r));
    return (float)(lr * (min_frac + (1.0 - min_frac) * cosv));
}
