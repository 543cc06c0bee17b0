/* pretrain_int.h — pieces shared by pretrain.c and glm.c (internal to
 * src/dna): a DNA tokenizer opened from a spec or a file, and the GGUF
 * model <-> training-model bridge.
 */
#ifndef SLM_DNA_PRETRAIN_INT_H
#define SLM_DNA_PRETRAIN_INT_H

#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "slm.h"
#include "tok/vocab.h"
#include "train/trainer.h"

typedef struct slm_dna_tok {
    char *path;        /* the tokenizer GGUF (a temporary file when tmp) */
    int tmp;           /* 1: written from a spec, removed by close */
    slm_gguf *file;
    slm_vocab *vocab;
    int32_t bos;
    int direct;        /* 1: one token per base, map[] gives it */
    int32_t map[256];
} slm_dna_tok;

/* spec "nuc" / "kmer:K" (written to tmp_path) or a tokenizer/model GGUF. */
slm_status slm_dna_tok_open(const char *spec, const char *tmp_path, slm_dna_tok *t);
void slm_dna_tok_close(slm_dna_tok *t);
/* Tokens of s[0..n) without BOS (slm_vocab_tokenize's contract). */
slm_status slm_dna_tok_encode(const slm_dna_tok *t, const char *s, size_t n, int32_t *ids,
                              size_t cap, size_t *n_out);

#endif
