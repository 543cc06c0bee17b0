/* metrics.h — classification metrics for the DNA benchmarks, with the
 * definitions GUE/DNABERT-2 use (scikit-learn's): MCC (Gorodkin's
 * multi-class R_K, equal to Matthews' coefficient for 2 classes), accuracy,
 * macro-averaged F1, and AUROC (binary: the positive-class probability;
 * 3+ classes: one-vs-rest, macro average), plus percentile-bootstrap 95%
 * intervals from a seeded resampler.
 *
 * Predictions are the argmax of the class probabilities (first maximum wins,
 * as numpy.argmax). Degenerate cases follow scikit-learn: MCC 0 when a
 * denominator is 0; an F1 term with no predictions and no truths is 0;
 * an AUROC class with no positive or no negative is skipped (NaN if every
 * class is skipped).
 */
#ifndef SLM_DNA_METRICS_H
#define SLM_DNA_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "slm.h"

typedef struct slm_dna_metrics {
    double mcc;      /* [-1, 1] */
    double accuracy; /* [0, 1] */
    double f1;       /* macro F1, [0, 1] */
    double auroc;    /* [0, 1]; NaN when undefined */
} slm_dna_metrics;

/* Metrics of proba (n × n_class, row-major) against label[n] (each in
 * [0, n_class)). SLM_ERR_ARG on n == 0, n_class < 2 or a label out of range.
 * Allocates scratch (n ranks) only for the AUROC. */
slm_status slm_dna_metrics_compute(const int32_t *label, const float *proba, size_t n, int n_class,
                                   slm_dna_metrics *out);

/* Percentile bootstrap: n_boot resamples of the n rows with replacement
 * (xoshiro seeded with `seed`), the metrics of each, and the 2.5th and
 * 97.5th percentiles of each metric into *lo and *hi. A resample whose AUROC
 * is undefined is left out of the AUROC interval. */
slm_status slm_dna_metrics_bootstrap(const int32_t *label, const float *proba, size_t n, int n_class,
                                     int n_boot, uint64_t seed, slm_dna_metrics *lo,
                                     slm_dna_metrics *hi);

#endif
