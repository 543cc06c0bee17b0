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

/* Row formats (the header's fifth u32; 0 in every file written before F16):
 *  F32: n_vocab float32 log-softmax values;
 *  F16: float32 log-probability of the row's actual next token, then
 *       n_vocab float16 log-softmax values (half the size). A reader
 *       renormalizes the F16 row (subtracts its logsumexp) and puts the
 *       exact next-token value back, so perplexity differences stay exact. */
enum { SLM_LOGP_F32 = 0, SLM_LOGP_F16 = 1 };

typedef struct slm_logp_header {
    uint32_t n_vocab, n_ctx, n_chunk;
    uint32_t format; /* SLM_LOGP_F32 or SLM_LOGP_F16 */
} slm_logp_header;

/* Write the header and the tokens of the chunks. */
slm_status slm_logp_write_header(FILE *f, const char *path, const slm_logp_header *h, const int32_t *tokens);
/* Read and validate the header (against the file size) and the tokens
 * (caller frees *tokens with slm_free). */
slm_status slm_logp_read_header(FILE *f, const char *path, slm_logp_header *h, int32_t **tokens);

/* Bytes of one saved row. */
uint64_t slm_logp_row_bytes(uint32_t format, uint32_t n_vocab);
/* Write one row lp[n_vocab] (next = the actual next token); scratch holds
 * n_vocab uint16. */
slm_status slm_logp_write_row(FILE *f, const char *path, uint32_t format, const float *lp, int32_t n_vocab,
                              int32_t next, uint16_t *scratch);
/* Read one row into lp[n_vocab] (F16: renormalized, next-token value exact). */
slm_status slm_logp_read_row(FILE *f, const char *path, uint32_t format, float *lp, int32_t n_vocab, int32_t next,
                             uint16_t *scratch);
/* The row a F16 file would give back for lp (in place): round through F16,
 * renormalize, keep lp[next]. Comparing a model against an F16 base uses
 * this on the model's own row, so both sides see the same rounding and a
 * model against itself still gives KL 0 exactly. */
void slm_logp_round_f16(float *lp, int32_t n_vocab, int32_t next, uint16_t *scratch);

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
