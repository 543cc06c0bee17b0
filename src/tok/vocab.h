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
 * Errors: SLM_ERR_FORMAT (tokens, scores, types or merges missing where
 * required, of the wrong type, or shorter than the token list; duplicate
 * pieces; an id key that is not an integer), SLM_ERR_UNSUPPORTED (a model
 * type other than llama/gpt2/gemma4), SLM_ERR_NOMEM. On failure *out is NULL.
 * Like llama.cpp, a special id outside the vocabulary is ignored (default
 * kept) and an unknown tokenizer.ggml.pre falls back to "gpt-2", each with a
 * log warning. Loading 256k tokens and 500k merges takes about 60 ms. */
slm_status slm_vocab_load(const slm_gguf *g, slm_vocab **out);
void slm_vocab_free(slm_vocab *v); /* NULL is a no-op */

/* A vocabulary described in memory (tests, synthetic models). Arrays are
 * copied; scores/types/merges may be NULL (scores 0, types NORMAL, no
 * merges). Special ids: -1 = none, below -1 = the model type's default
 * (llama: bos 1, eos 2, unk 0). Flags: negative = the default. Same
 * validation and errors as slm_vocab_load. */
typedef struct slm_vocab_spec {
    const char *model;          /* "llama", "gpt2", "gemma4" */
    const char *pre;            /* tokenizer.ggml.pre, NULL = "default" */
    const char *const *tokens;  /* n_tokens NUL-terminated pieces, as stored */
    const float *scores;        /* n_tokens, or NULL */
    const int32_t *types;       /* n_tokens SLM_TOKEN_*, or NULL */
    int32_t n_tokens;
    const char *const *merges;  /* "left right", rank = index; or NULL */
    int32_t n_merges;
    int32_t bos, eos, unk, pad; /* -1 = none, < -1 = default */
    int add_bos, add_eos;       /* < 0 = the model type's default */
    int add_space_prefix;       /* < 0 = the model type's default */
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
 * parse_special makes control-token texts (e.g. "<|im_start|>") single ids;
 * user-defined tokens are split out of the text either way (as llama.cpp and
 * Hugging Face do). Invalid UTF-8 is handled byte by byte (never an error).
 * SLM_ERR_NOMEM possible. Thread safe. */
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

/* ---- inside src/tok only ------------------------------------------------
 * The layout below is shared by vocab.c (loading, special tokens,
 * detokenization), spm.c, bpe.c and pretok.c. Nothing outside src/tok may
 * depend on it (tests may read it). */

/* Attribute bits (llama.cpp's llama_token_attr): a token's type plus flags
 * the loader adds (an EOG-looking token becomes CONTROL, "unused" control
 * tokens UNUSED, phi-3 special tokens RSTRIP). */
enum {
    SLM_ATTR_UNKNOWN = 1 << 0,
    SLM_ATTR_UNUSED = 1 << 1,
    SLM_ATTR_NORMAL = 1 << 2,
    SLM_ATTR_CONTROL = 1 << 3,
    SLM_ATTR_USER_DEFINED = 1 << 4,
    SLM_ATTR_BYTE = 1 << 5,
    SLM_ATTR_LSTRIP = 1 << 7,
    SLM_ATTR_RSTRIP = 1 << 8,
};

typedef enum slm_vocab_kind { SLM_VOCAB_SPM, SLM_VOCAB_BPE } slm_vocab_kind;

typedef struct slm_vocab_token {
    const char *text; /* NUL-terminated piece, inside slm_vocab.pool */
    uint32_t len;     /* bytes, excluding the NUL */
    float score;      /* SentencePiece log-probability (0 if absent) */
    uint8_t type;     /* SLM_TOKEN_* as stored (0 if not a known type) */
    uint16_t attr;    /* SLM_ATTR_* bits */
} slm_vocab_token;

/* Hash-table slot: the high 32 bits of the key's hash (so most probes need
 * no string comparison) and the entry's index + 1 (0 = empty). */
typedef struct slm_vocab_slot {
    uint32_t tag;
    int32_t idx1;
} slm_vocab_slot;

typedef struct slm_pretok slm_pretok;

#define SLM_VOCAB_MAX_EOG 64

struct slm_vocab {
    slm_vocab_kind kind;
    char model[16];  /* "llama", "gpt2", "gemma4" */
    char pre[32];    /* effective pre-tokenizer name */
    int32_t n_tokens;
    slm_vocab_token *tokens; /* [n_tokens] */
    char *pool;              /* all piece texts, NUL-separated */
    slm_vocab_slot *hash;    /* piece -> id; [hash_mask + 1] */
    uint32_t hash_mask;
    /* BPE merges, kept as the strings "left right" (rank = index), so a pair
     * is found by its texts exactly as llama.cpp's bpe_ranks map does. */
    char *merge_pool;        /* all merge strings back to back */
    uint64_t *merge_off;     /* [n_merges + 1] start of each string in merge_pool */
    slm_vocab_slot *merge_hash; /* "left right" -> rank; [merge_mask + 1] or NULL */
    uint32_t merge_mask;
    int32_t n_merges;
    int32_t bos, eos, eot, eom, unk, pad; /* -1 = none */
    int32_t eog[SLM_VOCAB_MAX_EOG];
    int n_eog;
    int add_bos, add_eos, add_space_prefix;
    int escape_whitespace; /* ' ' -> U+2581 before tokenizing (spm, gemma4) */
    int byte_encode;       /* BPE over the GPT-2 byte alphabet (gpt2) or raw UTF-8 (gemma4) */
    int ignore_merges;     /* a pre-token that is itself a token is emitted whole (llama3) */
    int newline_whole;     /* gemma4: a run of newlines that is a token is emitted whole */
    int32_t byte_token[256]; /* id of "<0xNN>" per byte, or -1 */
    int32_t *special;        /* ids with CONTROL/USER_DEFINED/UNKNOWN, longest text first */
    int32_t n_special;
    slm_pretok *pretok;      /* BPE only */
};

/* A growable id list used while tokenizing. */
typedef struct slm_idbuf {
    int32_t *ids;
    size_t n, cap;
} slm_idbuf;
slm_status slm_idbuf_push(slm_idbuf *b, int32_t id);

/* Piece lookup by bytes (the hash above). */
int32_t slm_vocab_lookup(const slm_vocab *v, const char *text, size_t len);
/* Rank of the merge (left, right), or -1. */
int32_t slm_vocab_merge_rank(const slm_vocab *v, const char *left, size_t left_len,
                             const char *right, size_t right_len);

/* spm.c: SentencePiece BPE over text already escaped (spaces as U+2581,
 * prefix added). Appends ids. */
slm_status slm_spm_tokenize(const slm_vocab *v, const char *text, size_t len, slm_idbuf *out);

/* bpe.c: pre-tokenize, byte-encode (if v->byte_encode) and merge by rank. */
slm_status slm_bpe_tokenize(const slm_vocab *v, const char *text, size_t len, slm_idbuf *out);
/* bpe.c: undo the GPT-2 byte alphabet: writes the bytes of piece to buf
 * (at most cap), returns the full length. Code points outside the alphabet
 * are copied as their UTF-8. */
size_t slm_bpe_decode(const char *piece, size_t len, char *buf, size_t cap);

/* pretok.c: the pre-tokenizer regexes of a tokenizer.ggml.pre name, via
 * PCRE2 (UTF + UCP). *known = 0 if the name is not one we know (the
 * "gpt-2" expressions are used then). Compiled patterns are read-only and
 * shared by all threads. */
slm_status slm_pretok_new(const char *pre, slm_pretok **out, int *known);
void slm_pretok_free(slm_pretok *p);
/* A piece of text: offset and length in bytes. */
typedef struct slm_span {
    size_t off, len;
} slm_span;
/* Split text into pieces: every regex in turn splits every piece into its
 * matches and the text between them. *spans is allocated (slm_free) and
 * holds *n pieces covering text in order. */
slm_status slm_pretok_split(const slm_pretok *p, const char *text, size_t len, slm_span **spans,
                            size_t *n);

#endif
