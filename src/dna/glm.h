/* glm.h — the genomic language model (issue 8): a llama-architecture causal
 * LM over DNA tokens (pretrain.c), a classification head on its pooled
 * final hidden states (finetune / predict), pooled embeddings, zero-shot
 * log-likelihood scoring and sampling (glm.c).
 *
 * Owns: the classifier GGUF layout and the training loops. Builds on
 * src/train (the F32 training model, its layers, AdamW, checkpoints) and on
 * the runtime's tokenizer (slm_vocab) for every tokenization, so a sequence
 * is cut the same way here and in `slm run`.
 *
 * Classifier file: the base model's GGUF (every key and tensor, weights F32
 * after fine-tuning) plus
 *   cls.weight   F32, ne {n_embd, n_class}  (logit_c = w_c . pooled + b_c)
 *   cls.bias     F32, ne {n_class}
 *   dna.n_class  u32
 *   dna.pooling  string "mean" | "last"
 * It still loads as a normal model in `slm run` (the runtime ignores cls.*).
 *
 * Sequences: upper-case A/C/G/T/N strings (slm_seqset's invariant). Each is
 * tokenized with BOS first and cut to the model's context; pooling reads
 * the final normed hidden states (output_norm applied) at every real token
 * position after BOS ("mean") or at the last one ("last"). Causal
 * attention makes right padding invisible to the real positions, so
 * sequences of different lengths share a batch exactly.
 */
#ifndef SLM_DNA_GLM_H
#define SLM_DNA_GLM_H

#include <stddef.h>
#include <stdint.h>

#include "dna/seqset.h"
#include "slm.h"

typedef enum slm_dna_pool { SLM_DNA_POOL_MEAN = 0, SLM_DNA_POOL_LAST = 1 } slm_dna_pool;

typedef struct slm_dna_finetune_progress {
    int epoch, n_epochs;     /* 1-based epoch being run */
    size_t done, total;      /* training sequences done in this epoch, total per epoch */
    float loss;              /* running mean cross-entropy of this epoch */
    float dev_mcc;           /* MCC on dev after the epoch; NaN inside an epoch */
    double elapsed_s;
} slm_dna_finetune_progress;

typedef struct slm_dna_finetune_params {
    int epochs;          /* default 3 */
    int patience;        /* stop after this many epochs without a better dev MCC; default 2 */
    int probe;           /* 1: frozen base, train the head only (linear probe) */
    slm_dna_pool pool;   /* default SLM_DNA_POOL_MEAN */
    float lr;            /* base learning rate (full fine-tuning); default 1e-3 */
    float lr_head;       /* head learning rate; default 3e-2 (probe: features are
                            standardised, the head folded back on save) */
    float weight_decay;  /* AdamW on matrices; default 0.01 */
    int batch;           /* sequences per step; default 16 */
    int rc_augment;      /* 1: each training sequence reverse-complemented with p 0.5;
                            default 0 (labels of oriented tasks such as promoters are
                            not strand-symmetric) */
    size_t max_train;    /* use at most this many training rows (seeded subset); 0 = all */
    size_t max_dev;      /* evaluate on at most this many dev rows; 0 = all */
    uint64_t seed;       /* head init, order, augmentation; default 42 */
    int n_threads;       /* 0 = all cores */
    /* Called every few steps and after each epoch (may be NULL); nonzero cancels. */
    int (*progress)(const slm_dna_finetune_progress *p, void *user);
    void *user;
} slm_dna_finetune_params;

typedef struct slm_dna_finetune_stats {
    int epochs_run, best_epoch;   /* best_epoch 1-based: the weights saved */
    float best_dev_mcc;
    float final_train_loss;
    uint64_t n_params;            /* base + head */
    uint64_t train_tokens;        /* tokens processed in training */
    double elapsed_s;
} slm_dna_finetune_stats;

slm_dna_finetune_params slm_dna_finetune_default_params(void);

/* Fine-tune base_model (a gLM GGUF: F32/F16/quantized weights are read as
 * F32) on train, select the epoch by dev MCC (dev may be NULL or empty: the
 * last epoch is kept), write the classifier GGUF to out_path. n_class is
 * max(train->n_class, dev->n_class). st may be NULL.
 * Errors: SLM_ERR_ARG (empty train set, a label out of range, bad params),
 * SLM_ERR_IO/SLM_ERR_FORMAT (model file), SLM_ERR_NOMEM, SLM_ERR_CANCELLED. */
slm_status slm_dna_finetune(const slm_dna_finetune_params *p, const slm_seqset *train,
                            const slm_seqset *dev, const char *base_model, const char *out_path,
                            slm_dna_finetune_stats *st);

/* Class probabilities of every sequence: proba[i * n_class + c], n_class
 * from the file (slm_dna_classifier_n_class). n_threads 0 = all cores.
 * Errors: SLM_ERR_FORMAT (no cls.* tensors: not a classifier), SLM_ERR_IO. */
slm_status slm_dna_predict_proba(const char *clf_model, const slm_seqset *s, int n_threads,
                                 float *proba);
/* dna.n_class of a classifier file (SLM_ERR_FORMAT if absent). */
slm_status slm_dna_classifier_n_class(const char *clf_model, int32_t *n_class);

/* Pooled final hidden states of every sequence: *out (slm_alloc'd, freed
 * with slm_free) holds s->n rows of *dim = n_embd floats. pool as above.
 * Any gLM or classifier file. */
slm_status slm_dna_embed(const char *model, const slm_seqset *s, slm_dna_pool pool,
                         int n_threads, float **out, int *dim);

/* Test hook: the classification loss gradient of the base parameters
 * (backward from the pooled states) against central finite differences on
 * n_probe parameters, with a random head. s: 1..64 sequences (one batch).
 * *max_rel_err = max |num - ana| / (|num| + |ana| + 1e-4). */
slm_status slm_dna_glm_grad_check(const char *model, const slm_seqset *s, slm_dna_pool pool,
                                  int n_probe, uint64_t seed, double *max_rel_err);

#endif
