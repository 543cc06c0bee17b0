/* vocab.h — the tokenizer: a vocabulary read from GGUF tokenizer.ggml.* keys,
 * text → ids and id → bytes, matching llama.cpp's tokenizers exactly.
 *
 * Models: "llama" (SentencePiece-style BPE by score, byte fallback), "gpt2"
 * (byte-level BPE by merge rank, after a pre-tokenizer regex chosen by
 * tokenizer.ggml.pre), "gemma4" (BPE by merge rank over text with spaces
 * written as U+2581). An slm_vocab is immutable after loading and may be used
 * from any number of threads at once. Piece strings are copied at load, so
 * the vocab does not borrow from the GGUF handle.
 */
#ifndef SLM_TOK_VOCAB_H
#define SLM_TOK_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "slm.h"

typedef struct slm_vocab slm_vocab;

/* Token types as stored in tokenizer.ggml.token_type (llama.cpp's values). */
enum {
    SLM_TOKEN_NORMAL = 1,
    SLM_TOKEN_UNKNOWN = 2,
    SLM_TOKEN_CONTROL = 3,
    SLM_TOKEN_USER_DEFINED = 4,
    SLM_TOKEN_UNUSED = 5,
    SLM_TOKEN_BYTE = 6,
};

/* Read tokenizer.ggml.{model,pre,tokens,scores,token_type,merges,
 * bos_token_id,eos_token_id,...,add_bos_token,add_eos_token,add_space_prefix}.
 * Errors: SLM_ERR_FORMAT (missing tokens, wrong types, ids out of range,
 * array length mismatch, malformed merge), SLM_ERR_UNSUPPORTED (a model type
 * other than llama/gpt2/gemma4), SLM_ERR_NOMEM. On failure *out is NULL.
 * An unknown tokenizer.ggml.pre falls back to "gpt-2" with a log warning. */
slm_status slm_vocab_load(const slm_gguf *g, slm_vocab **out);
void slm_vocab_free(slm_vocab *v); /* NULL is a no-op */

/* A vocabulary described in memory (tests, synthetic models). Arrays are
 * copied; scores/types/merges may be NULL (scores 0, types NORMAL, no
 * merges). Ids < 0 mean "none". Same validation and errors as slm_vocab_load. */
typedef struct slm_vocab_spec {
    const char *model;          /* "llama", "gpt2", "gemma4" */
    const char *pre;            /* tokenizer.ggml.pre, NULL = "default" */
    const char *const *tokens;  /* n_tokens NUL-terminated pieces, as stored */
    const float *scores;        /* n_tokens, or NULL */
    const int32_t *types;       /* n_tokens SLM_TOKEN_*, or NULL */
    int32_t n_tokens;
    const char *const *merges;  /* "left right", rank = index; or NULL */
    int32_t n_merges;
    int32_t bos, eos, unk, pad; /* -1 = none */
    int add_bos, add_eos;       /* -1 = the model type's default */
    int add_space_prefix;       /* -1 = the model type's default */
} slm_vocab_spec;
slm_status slm_vocab_build(const slm_vocab_spec *spec, slm_vocab **out);

int32_t slm_vocab_n_tokens(const slm_vocab *v);
int32_t slm_vocab_bos(const slm_vocab *v); /* -1 if none */
int32_t slm_vocab_eos(const slm_vocab *v); /* -1 if none */
/* 1 if id ends generation: eos, eot, eom, or a control token such as
 * <|im_end|>, <|endoftext|>, <|eot_id|>, <end_of_turn>, <|end|>. */
int slm_vocab_is_eog(const slm_vocab *v, int32_t id);
int slm_vocab_add_bos(const slm_vocab *v);
int slm_vocab_add_eos(const slm_vocab *v);
/* tokenizer.ggml.model ("llama", "gpt2", "gemma4") and the effective
 * pre-tokenizer name ("default", "llama-bpe", ...); never NULL. */
const char *slm_vocab_model_name(const slm_vocab *v);
const char *slm_vocab_pre_name(const slm_vocab *v);
/* SLM_TOKEN_* of id, or 0 if out of range. */
int slm_vocab_token_type(const slm_vocab *v, int32_t id);

/* Tokenize len bytes of text (semantics of slm_tokenize in slm.h): writes at
 * most cap ids, *n_out is always the full count, SLM_ERR_FULL when it
 * exceeds cap. add_special adds BOS/EOS as the vocab's flags say;
 * parse_special matches control/user-defined token texts first. Invalid
 * UTF-8 is handled byte by byte (never an error). SLM_ERR_NOMEM possible. */
slm_status slm_vocab_tokenize(const slm_vocab *v, const char *text, size_t len, int add_special,
                              int parse_special, int32_t *ids, size_t cap, size_t *n_out);

/* Bytes of one token (semantics of slm_token_to_piece): returns the full
 * length, writes at most cap bytes, no NUL. 0 for an out-of-range id. */
size_t slm_vocab_token_to_piece(const slm_vocab *v, int32_t id, int render_special, char *buf,
                                size_t cap);

/* The piece exactly as stored (NUL-terminated; *len excludes the NUL), or
 * NULL for an out-of-range id. Valid while v lives. */
const char *slm_vocab_token_text(const slm_vocab *v, int32_t id, size_t *len);

/* Id of the piece stored exactly as text[0..len), or -1. */
int32_t slm_vocab_find(const slm_vocab *v, const char *text, size_t len);

#endif
