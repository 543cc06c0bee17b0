/* cnn_int.h — the CNN baseline's model, work buffers and forward/backward
 * passes (internal to src/dna; cnn.c implements them). Exposed for
 * tests/test_dna_cnn_grad.c, which checks the backward pass against finite
 * differences of the forward loss.
 */
#ifndef SLM_DNA_CNN_INT_H
#define SLM_DNA_CNN_INT_H

#include <stddef.h>
#include <stdint.h>

#include "base/pool.h"
#include "dna/baseline.h"
#include "slm.h"

struct slm_cnn {
    int c1, k1, pool, c2, k2, n_class;
    size_t n_w;   /* total parameters */
    float *w;     /* [n_w] all parameters: W1 b1 W2 b2 Wd bd */
    float *W1;    /* [c1][k1*4] */
    float *b1;    /* [c1] */
    float *W2;    /* [c2][k2*c1] */
    float *b2;    /* [c2] */
    float *Wd;    /* [n_class][c2] */
    float *bd;    /* [n_class] */
    int rc_average; /* predictions average the sequence and its reverse complement */
};

typedef struct slm_cnn_work {
    int B, L, L2;          /* capacity: batch rows, positions, pooled positions */
    float *x1, *h1, *p1, *x2, *h2, *g, *z;
    int32_t *a1, *ag;
    int32_t *len, *len2;   /* [B] valid positions per sequence, before and after pooling */
    /* gradients (training only) */
    float *dz, *dg, *dh2, *dx2, *dp1, *dh1, *dx1;
} slm_cnn_work;

/* A model of p's shape for C classes, weights zero. */
slm_status slm_cnn_model_new(const slm_cnn_params *p, int C, slm_cnn **out);
/* He-uniform weights (bound sqrt(6 / fan_in)), zero biases. */
void slm_cnn_init_weights(slm_cnn *m, uint64_t seed);
/* Buffers for batches of up to B sequences of up to L bases; grads: also
 * the backward buffers. */
slm_status slm_cnn_work_new(const slm_cnn *m, int B, int L, int grads, slm_cnn_work *w);
void slm_cnn_work_free(slm_cnn_work *w);
/* Logits of nb sequences into w->z (rc[i] nonzero: reverse complement;
 * rc may be NULL), positions truncated to L <= w->L. drop (may be NULL):
 * [nb × c2] multipliers of the pooled features (inverted dropout: 0 or
 * 1/(1-p)). pool may be NULL (one thread). */
void slm_cnn_forward(const slm_cnn *m, slm_cnn_work *w, const char *const *seq, const uint8_t *rc,
                     const float *drop, int nb, int L, slm_pool *pool);
/* Softmax of each row of z[nb × C] in place. */
void slm_cnn_softmax_rows(float *z, int nb, int C);
/* Backward of the mean cross-entropy over the batch after slm_cnn_forward
 * (same drop) and slm_cnn_softmax_rows; adds into grad (layout of m->w).
 * Returns the summed loss. */
double slm_cnn_backward(const slm_cnn *m, slm_cnn_work *w, const int32_t *label, const float *drop, int nb,
                        int L, float *grad, slm_pool *pool);

#endif
