/* baseline.h — the strong supervised baselines of the DNA benchmark (issue
 * 8): a k-mer spectrum + L2 logistic regression (kmer_lr.c) and a small
 * 1-D CNN on one-hot input (cnn.c). Both train on a slm_seqset, choose
 * their hyper-parameters / stopping epoch on a dev set by MCC, are
 * deterministic for a seed and thread count, and predict class
 * probabilities in the layout of slm_dna_predict_proba (n × n_class).
 *
 * Not saved to files: the bench trains and evaluates in one process.
 */
#ifndef SLM_DNA_BASELINE_H
#define SLM_DNA_BASELINE_H

#include <stddef.h>
#include <stdint.h>

#include "dna/seqset.h"
#include "slm.h"

/* Progress: stage is a short label ("k=5 l2=1e-3", "epoch 3"), frac in
 * [0, 1] of the whole training. Nonzero return cancels (SLM_ERR_CANCELLED). */
typedef int (*slm_baseline_progress)(const char *stage, double frac, void *user);

/* ---- k-mer spectrum + L2 logistic regression ---------------------------- */

/* Features: counts of every k-mer (windows containing N are skipped) divided
 * by the number of counted windows, then each feature divided by its RMS
 * over the training set (scaling without centring keeps them sparse, and
 * makes one L2 strength mean the same for every k). both_strands folds a
 * k-mer and its reverse complement into one feature (0: never, 1: always,
 * -1: both variants are fitted and dev chooses). The model is
 * multinomial softmax regression (W: n_class × n_feat, bias unpenalised),
 * minimising mean cross-entropy + l2/2 ||W||^2 by L-BFGS (memory 10,
 * backtracking Armijo line search). Every (k, l2) of the grid is fitted on
 * train (l2 descending, warm-started) and the best dev MCC wins (ties: the
 * smaller k, unfolded before folded, then the larger l2). With l2_patience
 * > 0 the sweep of one (k, strands) stops after that many consecutive L2
 * values whose dev MCC is below the sweep's best so far (the weaker L2
 * values are the slow fits). Without a dev set the first grid point is
 * used. */
typedef struct slm_kmer_lr_params {
    int k_min, k_max;       /* default 3..7 */
    const double *l2;       /* grid, NULL = default {10, 3, 1, 0.3, ..., 1e-3, 1e-4} (half decades) */
    int n_l2;
    int both_strands;       /* 0, 1 or -1 (choose on dev, the default) */
    int max_iter;           /* L-BFGS iterations per fit; default 150 */
    slm_baseline_progress progress;
    void *user;
    int l2_patience;        /* default 2; 0 = fit the whole grid */
} slm_kmer_lr_params;

typedef struct slm_kmer_lr_stats {
    int best_k;
    double best_l2;
    double best_dev_mcc;    /* NaN without dev */
    int n_fits;
    double final_loss;      /* training objective of the chosen fit */
    int iters;              /* L-BFGS iterations of the chosen fit */
    int best_both_strands;  /* 1 if the chosen fit folds reverse complements */
} slm_kmer_lr_stats;

typedef struct slm_kmer_lr slm_kmer_lr;

slm_kmer_lr_params slm_kmer_lr_default_params(void);
/* dev may be NULL. train must hold at least 2 rows. st may be NULL. */
slm_status slm_kmer_lr_train(const slm_kmer_lr_params *p, const slm_seqset *train,
                             const slm_seqset *dev, slm_kmer_lr **out, slm_kmer_lr_stats *st);
/* proba: s->n × slm_kmer_lr_n_class(m). */
slm_status slm_kmer_lr_predict(const slm_kmer_lr *m, const slm_seqset *s, float *proba);
int slm_kmer_lr_n_class(const slm_kmer_lr *m);
uint64_t slm_kmer_lr_n_params(const slm_kmer_lr *m); /* weights + biases */
void slm_kmer_lr_free(slm_kmer_lr *m);

/* Fit one (k, l2) on train with no selection and return the objective after
 * each L-BFGS iteration in loss[0..*n_loss) (loss has room for max_iter).
 * For tests (the objective must fall). */
slm_status slm_kmer_lr_fit_trace(int k, double l2, int both_strands, int max_iter,
                                 const slm_seqset *train, double *loss, int *n_loss);

/* ---- 1-D CNN on one-hot input ------------------------------------------ */

/* One-hot input (A C G T channels; N = all 0.25), then
 *   conv1 4 -> c1 (kernel k1, same padding) + ReLU + max-pool `pool` (stride pool)
 *   conv2 c1 -> c2 (kernel k2, same padding) + ReLU
 *   global max-pool over positions -> (dropout) -> dense c2 -> n_class.
 * Cross-entropy, Adam (He-uniform init from the seed), reverse-complement
 * augmentation optional, and so is averaging the predictions for a
 * sequence and its reverse complement. After each epoch the dev MCC is measured; the best
 * epoch's weights are kept and training stops after `patience` epochs
 * without improvement. Sequences of one batch are right-padded with zeros to
 * the longest; padded positions are excluded from the global max. Matrix
 * products go through src/train's matmul (OpenBLAS when the build has it). */
typedef struct slm_cnn_params {
    int c1, k1, pool, c2, k2;  /* default 64, 11, 4, 64, 7 */
    int epochs;                /* default 8 */
    int patience;              /* default 2 */
    int batch;                 /* default 64 */
    float lr;                  /* Adam; default 2e-3 */
    float weight_decay;        /* decoupled, on conv/dense weights; default 1e-4 */
    int rc_augment;            /* default 0 */
    uint64_t seed;             /* default 1 */
    int n_threads;             /* 0 = all cores */
    slm_baseline_progress progress;
    void *user;
    float dropout;             /* on the pooled features while training; default 0 */
    int rc_average;            /* predict the mean over both strands; default 0 */
} slm_cnn_params;

typedef struct slm_cnn_stats {
    int epochs_run, best_epoch;  /* best_epoch 1-based */
    double best_dev_mcc;         /* NaN without dev */
    double first_loss, final_loss; /* mean training cross-entropy of the first and last epoch */
} slm_cnn_stats;

typedef struct slm_cnn slm_cnn;

slm_cnn_params slm_cnn_default_params(void);
/* dev may be NULL (the last epoch is kept). st may be NULL. */
slm_status slm_cnn_train(const slm_cnn_params *p, const slm_seqset *train, const slm_seqset *dev,
                         slm_cnn **out, slm_cnn_stats *st);
slm_status slm_cnn_predict(const slm_cnn *m, const slm_seqset *s, float *proba);
int slm_cnn_n_class(const slm_cnn *m);
uint64_t slm_cnn_n_params(const slm_cnn *m);
void slm_cnn_free(slm_cnn *m);

#endif
