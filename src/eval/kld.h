/* kld.h — saved log-probabilities and the KL-divergence statistics that
 * compare a model with a base model on the same tokens (format in slm.h,
 * slm_perplexity). The file is written and read one row at a time, so
 * neither side holds more than a row of n_vocab floats.
 */
#ifndef SLM_EVAL_KLD_H
#define SLM_EVAL_KLD_H

#include <stdint.h>
#include <stdio.h>

#include "slm.h"

#define SLM_LOGP_MAGIC "SLMLOGP1"

typedef struct slm_logp_header {
    uint32_t n_vocab, n_ctx, n_chunk;
} slm_logp_header;

/* Write the header and the tokens of the chunks. */
slm_status slm_logp_write_header(FILE *f, const char *path, const slm_logp_header *h, const int32_t *tokens);
/* Read and validate the header (against the file size) and the tokens
 * (caller frees *tokens with slm_free). */
slm_status slm_logp_read_header(FILE *f, const char *path, slm_logp_header *h, int32_t **tokens);

/* Running KL statistics. */
typedef struct slm_kld_acc {
    double sum, sum2;          /* KL per token */
    double dnll, dnll2;        /* NLL(this) - NLL(base) per token */
    double base_nll, base_nll2;
    uint64_t n, n_top1;
    float *all;                /* [n] every KL value (for median / percentiles) */
    uint64_t cap;
    double max;
} slm_kld_acc;

/* One token: base and current log-softmax rows, the actual next token. */
slm_status slm_kld_add(slm_kld_acc *a, const float *base_lp, const float *cur_lp, int32_t n_vocab, int32_t next);
/* Fill the KL fields of r (ppl fields of r must already hold this model's). */
void slm_kld_finish(slm_kld_acc *a, slm_perplexity_result *r);
void slm_kld_free(slm_kld_acc *a);

#endif
