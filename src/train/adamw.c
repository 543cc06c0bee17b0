/* adamw.c — the optimizer step, gradient clipping and the learning-rate
 * schedule. AdamW is Adam with decoupled weight decay: Loshchilov & Hutter,
 * "Decoupled Weight Decay Regularization", ICLR 2019 (arXiv:1711.05101),
 * Algorithm 2: the decay multiplies the parameter directly (p -= lr*wd*p)
 * instead of being added to the gradient, so it is not rescaled by the
 * second moment. Decay applies to matrices (embeddings included), not to
 * norm weights.
 */
#include <math.h>

#include "train/trainer.h"

float slm_tmodel_grad_norm(const slm_tmodel *m)
{
    double ss = 0.0;
    for (size_t i = 0; i < m->n_params; i++) ss += (double)m->grads[i] * m->grads[i];
    return (float)sqrt(ss);
}

void slm_tmodel_adamw(slm_tmodel *m, const slm_adamw *o, float lr, float gscale, int64_t t)
{
    const float b1 = o->beta1, b2 = o->beta2;
    const float c1 = 1.0f - powf(b1, (float)t), c2 = 1.0f - powf(b2, (float)t);
    for (int k = 0; k < m->n_tensors; k++) {
        const slm_ttensor *tt = &m->tensors[k];
        /* a tied output has no row of its own, so nothing is updated twice */
        const float wd = tt->decay ? o->weight_decay : 0.0f;
        const size_t n = (size_t)(tt->n_out * tt->n_in);
        float *p = m->params + tt->off, *g = m->grads + tt->off;
        float *mm = m->m + tt->off, *vv = m->v + tt->off;
        for (size_t i = 0; i < n; i++) {
            const float gi = g[i] * gscale;
            mm[i] = b1 * mm[i] + (1.0f - b1) * gi;
            vv[i] = b2 * vv[i] + (1.0f - b2) * gi * gi;
            const float mh = mm[i] / c1, vh = vv[i] / c2;
            p[i] -= lr * (mh / (sqrtf(vh) + o->eps) + wd * p[i]);
        }
    }
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
