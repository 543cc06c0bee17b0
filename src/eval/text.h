/* text.h — evaluation text: read a plain or gzip file and tokenize it whole
 * (BOS added as the vocabulary says), as llama-perplexity and llama-imatrix
 * do. Shared by eval/perplexity.c and compress/imatrix_collect.c.
 */
#ifndef SLM_EVAL_TEXT_H
#define SLM_EVAL_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "slm.h"

/* At most max_bytes (0 = all) of the file, tokenized with add_special. On
 * success *tokens (free with slm_free) holds *n_tokens ids. */
slm_status slm_eval_tokenize_file(const slm_model *m, const char *path, uint64_t max_bytes, int32_t **tokens,
                                  size_t *n_tokens);

#endif
