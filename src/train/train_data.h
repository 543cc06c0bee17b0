/* train_data.h — training text as one token stream (data.c), checkpoints
 * and the loss-curve SVG (io.c, plot.c). Internal to src/train.
 */
#ifndef SLM_TRAIN_TRAIN_DATA_H
#define SLM_TRAIN_TRAIN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "slm.h"
#include "tok/vocab.h"
#include "train/trainer.h"

typedef struct slm_tokens {
    int32_t *ids;    /* n ids, owned (slm_free via slm_tokens_free) */
    size_t n, cap;
    uint64_t n_docs, n_bytes;
} slm_tokens;

/* Append a file's documents (see data.c for the cutting rule).
 * Errors: SLM_ERR_IO (named), SLM_ERR_NOMEM. */
slm_status slm_tokens_add_file(slm_tokens *t, const slm_vocab *v, const char *path);
void slm_tokens_free(slm_tokens *t);
/* FNV-1a of the stream: a checkpoint refuses to resume on other data. */
uint64_t slm_tokens_hash(const slm_tokens *t);

/* One point of the loss history. val is NaN when not evaluated. */
typedef struct slm_loss_point {
    int64_t step;
    float loss, val;
} slm_loss_point;

/* Everything a resumed run needs besides the model blocks. */
typedef struct slm_ckpt_state {
    int64_t step;              /* optimizer steps done */
    slm_rng rng;               /* window sampler state after `step` steps */
    uint64_t data_hash;        /* slm_tokens_hash of the training stream */
    uint64_t tokens_seen;
    double elapsed_s;
    /* run settings, restored on resume */
    int32_t batch, accum, n_steps, warmup, eval_every;
    float lr, min_lr_frac, weight_decay, clip, beta1, beta2;
    uint64_t seed;
    slm_loss_point *hist;      /* n_hist points, owned */
    size_t n_hist;
    /* distillation (slm_distill): written as a trailer when `distill` */
    int32_t distill;
    float temperature, alpha;
    uint32_t top_k;
    uint64_t teacher_hash;     /* slm_distill_file_hash of the teacher */
} slm_ckpt_state;

/* Write params, both moments, config and state (through a temporary file
 * renamed into place). */
slm_status slm_ckpt_save(const slm_tmodel *m, const slm_ckpt_state *s, const char *path);
/* Read the config first (to build the model), then the rest. */
slm_status slm_ckpt_read_config(const char *path, slm_tconfig *c, slm_ckpt_state *s);
/* Fills m's params/m/v and s (hist allocated). m must have c's shape. */
slm_status slm_ckpt_load(slm_tmodel *m, slm_ckpt_state *s, const char *path);

/* Loss curve: train loss (and validation points) against step, as SVG. */
slm_status slm_plot_loss_svg(const slm_loss_point *p, size_t n, const char *title,
                             const char *path);

#endif
