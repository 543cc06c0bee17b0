/* slm.h — the public API of libslm: small language models at the edge.
 *
 * Basic usage (error handling shortened; every call returns slm_status):
 *
 *     slm_model *model;
 *     slm_model_params mp = slm_model_default_params();
 *     if (slm_model_load("model.gguf", &mp, &model) != SLM_OK)
 *         fprintf(stderr, "%s\n", slm_last_error());
 *     slm_session *s;
 *     slm_session_params sp = slm_session_default_params();
 *     slm_session_new(model, &sp, &s);
 *     int32_t ids[256]; size_t n;
 *     slm_tokenize(model, "Once upon a time", 16, 1, 0, ids, 256, &n);
 *     const float *logits;
 *     slm_session_decode(s, ids, n, &logits);       // logits of the last token
 *     slm_sampler *smp; slm_sampler_params pp = slm_sampler_default_params();
 *     slm_sampler_new(&pp, &smp);
 *     int32_t next = slm_sampler_sample(smp, logits, slm_model_n_vocab(model));
 *     ...
 *     slm_sampler_free(smp); slm_session_free(s); slm_model_free(model);
 *
 * Conventions. Every fallible call returns slm_status; results go through
 * out-pointers, which are left NULL/0 on failure. The detail of the last
 * failure on the calling thread is in slm_last_error(). The library never
 * prints, exits or aborts on bad input (files, flags, callers' arguments).
 * Parameter structs come from *_default_params() so new fields can be added
 * without breaking callers. Objects created by *_new or *_load are released by
 * the matching *_free; *_free(NULL) is a no-op.
 *
 * Thread safety: an slm_model is read-only after loading and may be shared by
 * any number of sessions on any threads. A session or sampler must be used by
 * one thread at a time.
 */
#ifndef SLM_H
#define SLM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define SLM_API __declspec(dllexport)
#else
#define SLM_API __attribute__((visibility("default")))
#endif

#define SLM_VERSION_MAJOR 0
#define SLM_VERSION_MINOR 1
#define SLM_VERSION_PATCH 0
#define SLM_VERSION_STRING "0.1.0"

/* "0.1.0": the version of the library actually linked. */
SLM_API const char *slm_version(void);

/* ---- status ------------------------------------------------------------ */

typedef enum slm_status {
    SLM_OK = 0,
    SLM_ERR_IO,          /* a file could not be opened, read, mapped or written */
    SLM_ERR_FORMAT,      /* the input is malformed (truncated, corrupt, inconsistent) */
    SLM_ERR_UNSUPPORTED, /* well-formed, but uses something slm does not implement */
    SLM_ERR_NOMEM,       /* an allocation failed or a size limit was exceeded */
    SLM_ERR_ARG,         /* the caller passed an invalid argument */
    SLM_ERR_CANCELLED,   /* a callback asked to stop */
    SLM_ERR_FULL,        /* the context (KV cache) has no room for the tokens */
} slm_status;

/* "SLM_ERR_FORMAT" etc.; never NULL. */
SLM_API const char *slm_status_name(slm_status st);

/* Detail of the calling thread's last failure, e.g. "model.gguf: tensor
 * 'blk.0.attn_q.weight': 4718592 bytes at offset 812 past end of file (90112)".
 * Empty string if none. Valid until the thread's next failing call. */
SLM_API const char *slm_last_error(void);

/* Optional log sink for warnings and progress notes from the library
 * (level: 0 error, 1 warning, 2 info, 3 debug). NULL restores the default,
 * which discards everything. Not thread safe: set it once at startup. */
typedef void (*slm_log_fn)(int level, const char *msg, void *user);
SLM_API void slm_set_log(slm_log_fn fn, void *user);

/* ---- weight / cache types (values equal ggml's, as stored in GGUF) ------- */

typedef enum slm_type {
    SLM_TYPE_F32 = 0,
    SLM_TYPE_F16 = 1,
    SLM_TYPE_Q4_0 = 2,
    SLM_TYPE_Q4_1 = 3,
    SLM_TYPE_Q5_0 = 6,
    SLM_TYPE_Q5_1 = 7,
    SLM_TYPE_Q8_0 = 8,
    SLM_TYPE_Q8_1 = 9,
    SLM_TYPE_Q2_K = 10,
    SLM_TYPE_Q3_K = 11,
    SLM_TYPE_Q4_K = 12,
    SLM_TYPE_Q5_K = 13,
    SLM_TYPE_Q6_K = 14,
    SLM_TYPE_Q8_K = 15,
    SLM_TYPE_IQ4_NL = 20,
    SLM_TYPE_IQ4_XS = 23,
    SLM_TYPE_BF16 = 30,
    SLM_TYPE_COUNT = 40 /* one past the largest value; not every value below is a type */
} slm_type;

/* "Q4_K" etc., or NULL if t is not a type slm knows. */
SLM_API const char *slm_type_name(slm_type t);
/* Parse "q4_k", "Q4_K", "f16"...; returns SLM_ERR_ARG for unknown names. */
SLM_API slm_status slm_type_from_name(const char *name, slm_type *out);

/* ---- model ------------------------------------------------------------- */

typedef struct slm_model slm_model;     /* weights + vocabulary; read-only, shareable */
typedef struct slm_session slm_session; /* KV cache + scratch; one thread at a time */
typedef struct slm_sampler slm_sampler; /* sampling state (RNG, penalty history) */

typedef struct slm_model_params {
    int use_mmap;   /* 1 (default): map the file read-only; 0: read it into memory */
    int use_mlock;  /* 1: lock the weights in RAM (mlock); default 0 */
    int vocab_only; /* 1: load only metadata and the tokenizer (no tensors needed) */
    int n_threads;  /* threads used at load time (repacking); 0 = all cores */
    uint64_t max_memory_bytes; /* refuse to load if weights would exceed this; 0 = no limit */
} slm_model_params;

SLM_API slm_model_params slm_model_default_params(void);

/* Load a GGUF file. Validates the whole file structure (every count, length,
 * offset, type and shape against the file size) and the tensors the
 * architecture needs before anything is computed. On failure *out is NULL. */
SLM_API slm_status slm_model_load(const char *path, const slm_model_params *p, slm_model **out);
SLM_API void slm_model_free(slm_model *m);

SLM_API int32_t slm_model_n_vocab(const slm_model *m);
SLM_API int32_t slm_model_n_ctx_train(const slm_model *m);
SLM_API int32_t slm_model_n_embd(const slm_model *m);
SLM_API int32_t slm_model_n_layer(const slm_model *m);
SLM_API uint64_t slm_model_n_params(const slm_model *m);   /* 0 for vocab-only */
SLM_API uint64_t slm_model_size_bytes(const slm_model *m); /* bytes of tensor data */
/* general.architecture, e.g. "llama"; never NULL. */
SLM_API const char *slm_model_arch(const slm_model *m);

/* Write a human-readable description (architecture, hyperparameters, tensor
 * types, tokenizer, memory at n_ctx) as text or, with as_json=1, one JSON
 * object. Returns the number of bytes the full text needs (excluding NUL);
 * writes at most cap bytes including the NUL, like snprintf. n_ctx 0 = the
 * trained context length. */
SLM_API size_t slm_model_describe(const slm_model *m, uint32_t n_ctx, int as_json,
                                  char *buf, size_t cap);

/* Metadata lookup by GGUF key. Returns SLM_ERR_ARG if the key is absent or
 * has another type. The string stays valid while the model lives. */
SLM_API slm_status slm_model_meta_str(const slm_model *m, const char *key, const char **out);
SLM_API slm_status slm_model_meta_int(const slm_model *m, const char *key, int64_t *out);

/* ---- tokenizer --------------------------------------------------------- */

SLM_API int32_t slm_token_bos(const slm_model *m); /* -1 if none */
SLM_API int32_t slm_token_eos(const slm_model *m); /* -1 if none */
/* 1 if the token ends generation (EOS, EOT, <|im_end|>, ...). */
SLM_API int slm_token_is_eog(const slm_model *m, int32_t tok);

/* Tokenize len bytes of UTF-8 text. add_special: add BOS/EOS as the
 * vocabulary's add_bos/add_eos flags say. parse_special: recognise special
 * and control tokens written as text (e.g. "<|im_start|>"). Writes up to cap
 * ids; *n_out is always set to the number of ids the full result has, and
 * SLM_ERR_FULL is returned when that exceeds cap. */
SLM_API slm_status slm_tokenize(const slm_model *m, const char *text, size_t len,
                                int add_special, int parse_special,
                                int32_t *ids, size_t cap, size_t *n_out);

/* The bytes a token stands for (byte tokens decoded, "▁" turned into a
 * space, GPT-2 byte alphabet undone). Control tokens give "" unless
 * render_special. Returns the full length, writes at most cap bytes (no NUL
 * added). A piece may be an incomplete UTF-8 sequence: concatenate pieces
 * before printing. Returns 0 for an out-of-range id. */
SLM_API size_t slm_token_to_piece(const slm_model *m, int32_t tok, int render_special,
                                  char *buf, size_t cap);

/* ---- session (context) ------------------------------------------------- */

typedef struct slm_session_params {
    uint32_t n_ctx;     /* context length in tokens; 0 = min(trained length, 4096) */
    uint32_t n_batch;   /* max tokens evaluated in one forward pass; default 512 */
    int n_threads;      /* compute threads; 0 = all cores */
    slm_type kv_type;   /* SLM_TYPE_F16 (default) or SLM_TYPE_F32 */
    int logits_all;     /* 1: keep logits of every token of a decode call */
} slm_session_params;

SLM_API slm_session_params slm_session_default_params(void);
SLM_API slm_status slm_session_new(slm_model *m, const slm_session_params *p, slm_session **out);
SLM_API void slm_session_free(slm_session *s);

/* Evaluate n tokens at positions n_past .. n_past+n-1 (batched in chunks of
 * n_batch) and append them to the KV cache. *logits (if non-NULL) receives
 * the n_vocab logits of the last token; with logits_all, slm_session_logits
 * gives each token's row. Returns SLM_ERR_FULL (cache unchanged) if the
 * tokens do not fit in n_ctx, SLM_ERR_ARG for an id outside the vocabulary.
 * The returned pointer is valid until the next decode or reset. */
SLM_API slm_status slm_session_decode(slm_session *s, const int32_t *ids, size_t n,
                                      const float **logits);
/* Row i (0-based within the last decode call) of the logits, or NULL if
 * logits_all was not set or i is out of range. */
SLM_API const float *slm_session_logits(const slm_session *s, size_t i);
SLM_API uint32_t slm_session_n_past(const slm_session *s);
SLM_API uint32_t slm_session_n_ctx(const slm_session *s);
/* Forget cached tokens from position pos on (0 = clear everything). */
SLM_API slm_status slm_session_truncate(slm_session *s, uint32_t pos);
/* Bytes allocated for the KV cache and scratch buffers. */
SLM_API uint64_t slm_session_memory_bytes(const slm_session *s);

/* ---- sampling ---------------------------------------------------------- */

typedef struct slm_sampler_params {
    float temperature;      /* <= 0: greedy (argmax, lowest id on ties); default 0.8 */
    int32_t top_k;          /* 0 = off; default 40 */
    float top_p;            /* 1 = off; default 0.95 */
    float min_p;            /* 0 = off; default 0.05 */
    float repeat_penalty;   /* 1 = off; default 1.0 */
    float frequency_penalty;/* 0 = off */
    float presence_penalty; /* 0 = off */
    int32_t penalty_last_n; /* tokens of history the penalties look at; default 64 */
    uint64_t seed;          /* RNG seed; default 0xC0FFEE */
} slm_sampler_params;

SLM_API slm_sampler_params slm_sampler_default_params(void);
SLM_API slm_status slm_sampler_new(const slm_sampler_params *p, slm_sampler **out);
SLM_API void slm_sampler_free(slm_sampler *s);
/* Choose the next token from n_vocab logits (not modified). Order: penalties,
 * top-k, temperature, softmax, top-p, min-p, draw. Returns -1 if n_vocab <= 0. */
SLM_API int32_t slm_sampler_sample(slm_sampler *s, const float *logits, int32_t n_vocab);
/* Record a token (prompt or generated) in the penalty history. */
SLM_API void slm_sampler_accept(slm_sampler *s, int32_t tok);
SLM_API void slm_sampler_reset(slm_sampler *s);

/* ---- model files ------------------------------------------------------- */

/* Write a random-weight GGUF with the shapes of a real model, for benchmarks
 * and tests. shape: "SmolLM2-135M", "Qwen2.5-0.5B", "Llama-3.2-1B",
 * "Gemma-2-2B", "Phi-3-mini", or "tiny" (a few MB). type: the weight type of
 * the matrices; mixes such as Q4_K_M are given by name in mix (NULL = pure
 * type). Norms stay F32. */
typedef struct slm_gen_params {
    const char *shape;  /* named shape, or NULL to use the fields below */
    const char *arch;   /* "llama", "qwen2", "qwen3", "gemma2", "phi3" */
    uint32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    slm_type type;      /* weight type (default SLM_TYPE_F16) */
    const char *mix;    /* "Q4_K_M" etc., overrides type; NULL = none */
    uint64_t seed;
    int n_threads;
} slm_gen_params;

SLM_API slm_gen_params slm_gen_default_params(void);
SLM_API slm_status slm_gen_model(const slm_gen_params *p, const char *out_path);

/* ---- tokenizer training -------------------------------------------------- */

/* Train a tokenizer on text files and write it as a vocabulary-only GGUF
 * (general.architecture "llama" and the tokenizer.ggml.* keys exactly as
 * slm_model_load reads them, so the keys can be copied into a model file).
 * type "spm" (default): SentencePiece-style BPE like llama2.c's tok512:
 * <unk>=0 <s>=1 </s>=2, byte tokens <0x00>..<0xFF>, the characters of the
 * corpus, then merged pieces ("▁" for spaces) with scores falling strictly
 * in merge order; tokenizer.ggml.model "llama", add_space_prefix. type
 * "bpe": byte-level BPE (tokenizer.ggml.model "gpt2", pre-tokenizer
 * "gpt-2", merges, <|endoftext|> last). slm_tokenize on the result gives
 * exactly the trainer's own segmentation of any text. spm pieces never
 * cross a word start (a space joins the word after it), a run of newlines,
 * a change between letters, digits and ASCII punctuation, or two digits.
 * Files: plain text or gzip; "<|endoftext|>" separates documents (it is not
 * text) and whitespace at both ends of a document is dropped. dna: one
 * sequence per line (the longest A/C/G/T/N field of a CSV/TSV row; FASTA
 * '>' lines skipped), split at N; no space prefix. Deterministic.
 * Errors: SLM_ERR_ARG (bad params, no text), SLM_ERR_IO (a file, named in
 * the message), SLM_ERR_NOMEM. */
typedef struct slm_tokenizer_train_params {
    uint32_t n_vocab;    /* total tokens, specials and bytes included (at most;
                            fewer if the corpus runs out of pairs); default 4096;
                            spm needs >= 260, bpe >= 258 */
    const char *type;    /* "spm" (default) or "bpe" */
    uint64_t max_bytes;  /* read at most this many bytes of text over all files; 0 = all */
    int dna;             /* 1: DNA sequences (spm only) */
    /* Called after each merge (may be NULL); runs on the calling thread. */
    void (*progress)(uint32_t done, uint32_t total, void *user);
    void *user;
} slm_tokenizer_train_params;

typedef struct slm_tokenizer_train_stats {
    uint64_t bytes_read;     /* text bytes used */
    uint64_t n_docs, n_words, n_unique_words;
    uint32_t n_tokens;       /* vocabulary size written */
    uint32_t n_merges;
    uint32_t n_chars;        /* base characters (bpe: 256 bytes) */
    uint32_t n_chars_dropped;/* characters left to byte fallback (no room) */
} slm_tokenizer_train_stats;

SLM_API slm_tokenizer_train_params slm_tokenizer_train_default_params(void);
/* stats may be NULL. out_path is written through a temporary file. */
SLM_API slm_status slm_tokenizer_train(const slm_tokenizer_train_params *p,
                                       const char *const *files, size_t n_files,
                                       const char *out_path, slm_tokenizer_train_stats *stats);

/* ---- quantization (compress/) ---------------------------------------- */

/* Write a quantized copy of a GGUF model, as llama-quantize does: every
 * key/value copied, general.file_type set, tensors in llama.cpp's order
 * (non-layer tensors, then layer by layer, by name), each quantizable
 * matrix converted to the type the mix gives it (llama.cpp v0.5.0's
 * per-tensor rules: output head Q6_K, more bits for attn_v/ffn_down in some
 * layers, fallbacks when a row is not a multiple of the block size); norms,
 * biases, the MoE router and 1-D tensors keep their type. Input tensors may
 * be F32, F16, BF16 or quantized (requantizing loses quality: a warning is
 * logged). The input is mapped and each tensor converted while the output
 * is written (through a temporary file renamed into place), so at most one
 * output tensor is in memory. Multithreaded over rows.
 * Errors: SLM_ERR_ARG (unknown type: the message lists the known ones),
 * SLM_ERR_IO, SLM_ERR_FORMAT (bad input or imatrix file), SLM_ERR_NOMEM,
 * SLM_ERR_UNSUPPORTED (a row length no type fits), SLM_ERR_CANCELLED. */
typedef struct slm_quantize_stats {
    uint64_t in_bytes, out_bytes; /* tensor data before and after */
    uint64_t n_elements;          /* weights in all tensors */
    int n_tensors;                /* tensors written */
    int n_converted;              /* tensors whose type changed */
    int n_fallback;               /* tensors given a fallback type (row length) */
    int n_imatrix;                /* tensors quantized with importance weights */
} slm_quantize_stats;

typedef struct slm_quantize_params {
    const char *type;     /* llama-quantize's name: Q4_K_M (default), Q4_K_S, Q5_K_M, Q5_K_S,
                             Q3_K_S/M/L, Q2_K, Q2_K_S, Q6_K, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
                             IQ4_NL, IQ4_XS, F16, BF16, F32 (case-insensitive) */
    const char *imatrix;  /* llama.cpp's legacy imatrix .dat file (as written by
                             `slm imatrix` or llama-imatrix --output-format dat), or NULL */
    int keep_output_f16;  /* 1: store the output head (or tied token embedding) as F16 */
    int pure;             /* 1: every quantizable tensor gets the base type (no mix rules) */
    int n_threads;        /* 0 = all cores */
    /* Called after each tensor (may be NULL) on the calling thread with the
     * elements done so far, the total, and the tensor just written; a
     * nonzero return cancels (SLM_ERR_CANCELLED, no output file). */
    int (*progress)(uint64_t done, uint64_t total, const char *tensor, slm_type type, void *user);
    void *user;
    slm_quantize_stats *stats; /* filled on success if non-NULL */
} slm_quantize_params;

SLM_API slm_quantize_params slm_quantize_default_params(void);
SLM_API slm_status slm_quantize(const char *in_path, const char *out_path, const slm_quantize_params *p);

/* ---- model training (train/) --------------------------------------------- */

/* Train a llama-architecture model from scratch in F32 and save it as a
 * llama GGUF that slm_model_load (and llama.cpp) read like a downloaded
 * model: standard tensor names, tokenizer.* keys copied from the tokenizer
 * GGUF. Text files (plain or gzip) are cut into documents at
 * "<|endoftext|>" and blank lines, each tokenized with BOS, and joined;
 * every micro-batch takes `batch` random windows of n_ctx+1 tokens from a
 * seeded RNG. Loss: mean cross-entropy. AdamW (decoupled weight decay),
 * linear warmup then cosine decay to lr*min_lr_frac, gradient clipping by
 * global norm, `accum` micro-batches per step. Deterministic for a seed and
 * thread count; resuming a checkpoint continues bit-exactly (the run
 * settings come from the checkpoint; n_steps from p if larger, which
 * stretches the cosine schedule; n_steps equal to the checkpoint's steps
 * done writes its model without training).
 * Errors: SLM_ERR_ARG (bad sizes, tokenizer/vocab mismatch, too little
 * text), SLM_ERR_IO, SLM_ERR_FORMAT (bad checkpoint), SLM_ERR_NOMEM,
 * SLM_ERR_CANCELLED (progress returned nonzero; a checkpoint is still
 * written if configured, the model is not). */
typedef struct slm_train_progress {
    uint32_t step, n_steps;    /* steps done (1-based), total */
    float loss;                /* train loss of this step (mean over its micro-batches) */
    float val_loss;            /* validation loss if evaluated at this step, else NaN */
    float lr, grad_norm;       /* before clipping */
    double tokens_per_s;       /* over this run (excludes evaluation) */
    double elapsed_s, eta_s;
    uint64_t tokens_seen;      /* training tokens processed in all runs */
    int checkpointed;          /* 1: a checkpoint was written after this step */
} slm_train_progress;

typedef struct slm_train_params {
    /* model shape */
    uint32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx; /* default 128 4 4 4 384 256 */
    int tied;               /* 1 (default): output shares token_embd */
    /* optimisation */
    uint32_t batch;         /* sequences per micro-batch; default 8 */
    uint32_t accum;         /* micro-batches per step; default 1 */
    uint32_t n_steps;       /* default 1000 */
    uint32_t warmup;        /* default 100 */
    float lr, min_lr_frac;  /* default 1e-3, 0.1 */
    float weight_decay;     /* default 0.1 */
    float clip;             /* max global gradient norm; <= 0 off; default 1 */
    float beta1, beta2;     /* default 0.9, 0.95 */
    uint64_t seed;          /* init and data order; default 1234 */
    int n_threads;          /* 0 = all cores */
    uint32_t eval_every;    /* validation every K steps (and at the end); 0 = only at the end */
    uint32_t eval_batches;  /* validation micro-batches (fixed windows); default 8 */
    const char *checkpoint; /* write here every checkpoint_every steps and at the end; NULL = no */
    uint32_t checkpoint_every; /* default 200 */
    const char *resume;     /* continue from this checkpoint; NULL = fresh */
    const char *loss_svg;   /* write the loss curve here at the end; NULL = no */
    /* Called after every step on the calling thread (may be NULL); nonzero cancels. */
    int (*progress)(const slm_train_progress *p, void *user);
    void *user;
} slm_train_params;

typedef struct slm_train_stats {
    uint64_t n_params;
    uint64_t n_train_tokens, n_val_tokens; /* sizes of the token streams */
    uint64_t tokens_seen;
    float final_loss, final_val_loss;      /* NaN when no validation text */
    double elapsed_s;                      /* all runs */
} slm_train_stats;

SLM_API slm_train_params slm_train_default_params(void);
/* val_files may be empty (n_val 0). stats may be NULL. */
SLM_API slm_status slm_train(const slm_train_params *p, const char *tokenizer_path,
                             const char *const *files, size_t n_files,
                             const char *const *val_files, size_t n_val, const char *out_path,
                             slm_train_stats *stats);

/* ---- evaluation: perplexity and KL divergence (eval/) ------------------- */

/* Perplexity on a text file with llama.cpp's method (llama-perplexity):
 * tokenize the whole file (BOS added as the vocabulary says), split it into
 * non-overlapping chunks of n_ctx tokens (at least 2 chunks' worth of text
 * needed), evaluate each chunk from an empty cache with its first token
 * replaced by BOS, and score only the second half: the logits at positions
 * n_ctx/2 .. n_ctx-2 predicting the next token. ppl = exp(mean NLL);
 * ppl_err = ppl x standard error of the mean NLL.
 * save_logits writes every scored token's log-probabilities for a later
 * comparison; kl_base compares against such a file (same tokenizer, n_ctx
 * and text): mean KL(base || this) with its standard error, median, 99th
 * percentile and max, top-1 agreement (same argmax), and Δppl. File format
 * (little-endian, slm's own): "SLMLOGP1", u32 n_vocab, u32 n_ctx, u32
 * n_chunk, u32 format, i32 tokens[n_chunk * n_ctx], then per chunk
 * (n_ctx - 1 - n_ctx/2) rows. format 1 (written by default): float32
 * log-probability of the row's next token, then n_vocab float16
 * log-softmax values (half the size of format 0); a comparison renormalizes
 * the F16 row and rounds this model's row the same way, so a model against
 * itself still gives KL 0 and Δppl 0 exactly. format 0 (save_f32, and
 * files from before): n_vocab float32 values. Both are read. The data file
 * may be gzip-compressed.
 * Errors: SLM_ERR_IO (files), SLM_ERR_ARG (too little text, bad params),
 * SLM_ERR_FORMAT (a base file that is malformed or does not match). */
typedef struct slm_perplexity_params {
    uint32_t n_ctx;          /* tokens per chunk; default 512 */
    uint32_t n_chunks;       /* evaluate at most this many chunks; 0 = all */
    uint64_t max_bytes;      /* read at most this many bytes of the data file; 0 = all */
    int n_threads;           /* 0 = all cores */
    const char *save_logits; /* write log-probs here (NULL = no) */
    const char *kl_base;     /* compare with this saved file (NULL = no) */
    int save_f32;            /* 1: save_logits rows in float32 (format 0) instead of float16 */
    /* Called after each chunk (may be NULL) with the running estimate; a
     * nonzero return cancels (SLM_ERR_CANCELLED). */
    int (*progress)(uint32_t chunk, uint32_t n_chunks, double ppl, void *user);
    void *user;
} slm_perplexity_params;

typedef struct slm_perplexity_result {
    double ppl, ppl_err;     /* exp(mean NLL) and its standard error */
    double nll, nll_err;     /* mean NLL (nats) and its standard error */
    uint32_t n_ctx, chunks;  /* chunks evaluated */
    uint64_t tokens;         /* tokens scored */
    uint64_t text_tokens;    /* tokens in the (possibly truncated) data */
    int has_kl;              /* 1 when kl_base was given: the fields below */
    double base_ppl, base_ppl_err;
    double dppl, dppl_err;   /* ppl - base_ppl; error from the per-token NLL differences */
    double kld, kld_err;     /* mean KL(base || this) in nats, standard error */
    double kld_median, kld_p99, kld_max;
    double top1, top1_err;   /* fraction of tokens whose argmax agrees with the base */
} slm_perplexity_result;

SLM_API slm_perplexity_params slm_perplexity_default_params(void);
SLM_API slm_status slm_perplexity(slm_model *m, const char *data_path, const slm_perplexity_params *p,
                                  slm_perplexity_result *out);

/* ---- importance matrix (compress/) ------------------------------------- */

/* Collect activation statistics on calibration text, as llama-imatrix does:
 * the text is tokenized whole and cut into chunks of n_ctx tokens, each run
 * from an empty context with BOS in place of its first token; for every
 * layer matrix (attn_q/k/v/qkv/output, ffn_gate/up/down, MoE experts per
 * expert over the tokens routed to it) the mean of the squared input
 * activation of each column is stored in llama.cpp's legacy imatrix .dat
 * format at out_path, which `slm quantize --imatrix` and llama-quantize
 * read. Not collected: the output head (llama-imatrix skips it by default).
 * Errors as slm_perplexity, plus SLM_ERR_IO for the output. */
typedef struct slm_imatrix_params {
    uint32_t n_ctx;      /* tokens per chunk; default 512 */
    uint32_t n_chunks;   /* at most this many chunks; 0 = all */
    uint64_t max_bytes;  /* read at most this many bytes of the data; 0 = all */
    int n_threads;       /* 0 = all cores */
    int (*progress)(uint32_t chunk, uint32_t n_chunks, void *user); /* nonzero cancels */
    void *user;
} slm_imatrix_params;

SLM_API slm_imatrix_params slm_imatrix_default_params(void);
SLM_API slm_status slm_imatrix_collect(slm_model *m, const char *data_path, const char *out_path,
                                       const slm_imatrix_params *p);

/* ---- chat templates (chat/) ------------------------------------------- */

/* Render a chat template (the Jinja of a model's tokenizer.chat_template)
 * as Hugging Face transformers' apply_chat_template does: Jinja2 with
 * trim_blocks, lstrip_blocks, loop controls, an immutable sandbox,
 * raise_exception(msg), strftime_now(fmt) (a fixed clock, 2024-07-26) and a
 * tojson that writes like Python's json.dumps. context_json is a JSON object
 * whose keys become the template's variables (messages, add_generation_prompt,
 * bos_token, eos_token, tools, ...); object key order is kept.
 * On success *out is a NUL-terminated string of *out_len bytes (the exact
 * rendering; it may itself contain NUL bytes only if the context does), freed
 * with slm_chat_free. Errors (*out NULL): SLM_ERR_FORMAT for a syntax error,
 * a runtime error the reference would raise (undefined attribute access,
 * type errors, unknown filter, mutating method) or raise_exception (the
 * message ends with "raise_exception: " + the template's text); SLM_ERR_UNSUPPORTED for a
 * construct outside the implemented subset (the message names it and the
 * line); SLM_ERR_ARG for NULL arguments. */
SLM_API slm_status slm_chat_template_render(const char *template_src, size_t template_len,
                                            const char *context_json, size_t context_len,
                                            char **out, size_t *out_len);
SLM_API void slm_chat_free(char *s);

/* The model's own template (GGUF key tokenizer.chat_template), valid while the
 * model lives; SLM_ERR_ARG (and *out NULL) if the model has none. */
SLM_API slm_status slm_model_chat_template(const slm_model *m, const char **out);

/* ---- pruning (compress/) ------------------------------------------------ */

/* Write a pruned copy of a GGUF model. Methods:
 *  "depth":     remove round(ratio x n_layer) whole blocks (at least one
 *               kept): those whose output residual stream is most similar to
 *               their input (mean cosine over the calibration tokens; needs
 *               data). The rest are renumbered blk.0.. and block_count set.
 *  "ffn":       remove round(ratio x n_ff) FFN channels in every layer (the
 *               same number everywhere, so n_ff stays uniform and llama.cpp
 *               loads the file; per-layer widths would need loader support):
 *               the channels with the smallest ||x_j|| x ||W_down[:,j]||
 *               (x = the down projection's input on the data), or without
 *               data ||W_down[:,j]|| x ||W_up[j,:]||. Smaller ffn_gate/up/down
 *               are written and feed_forward_length updated. Dense models
 *               only. For a quantized ffn_down the kept count is rounded down
 *               to its block size.
 *  "heads":     remove round(ratio x n_head_kv) KV groups (a KV head and the
 *               n_head/n_head_kv query heads that share it; one head without
 *               GQA) in every layer, at least one kept: those with the
 *               smallest sum over their attn_output input columns j of
 *               ||x_j||^2 x ||W_o[:,j]||^2 (x on the data; without data
 *               ||W_o[:,j]||^2). Rows of attn_q/k/v (and their biases) and
 *               columns of attn_output are removed; head_count,
 *               head_count_kv, key_length and value_length are written
 *               (uniform across layers). llama.cpp v0.5.0 loads the result
 *               for llama, qwen3 and gemma2; its qwen2 loader wants attn_q
 *               of n_embd x n_embd and refuses it (slm loads all).
 *               Separate Q/K/V only (no fused attn_qkv).
 *  "magnitude": zero the weights with the smallest |W| in each output row of
 *               every layer matrix (attention and FFN; not embeddings, the
 *               output head, norms or routers): round(ratio x row) per row,
 *               or with pattern_n:pattern_m (2:4) the pattern_m - pattern_n
 *               smallest of every pattern_m consecutive inputs.
 *  "wanda":     the same with score |W_ij| x ||x_j|| (Wanda, Sun et al. 2023),
 *               ||x_j|| from the calibration activations (needs data; dense
 *               matrices only).
 * Sparse tensors stay dense, in their input type: F32/F16/BF16 hold exact
 * zeros; quantized tensors are dequantized, pruned and requantized to the
 * same type (zeros exact for symmetric types only). Keys written:
 * slm.prune.method, slm.prune.ratio, slm.prune.pattern ("unstructured",
 * "2:4", or "structured"), slm.prune.sparsity (zero fraction of the pruned
 * matrices), slm.prune.removed_layers (depth). Calibration follows
 * slm_imatrix_collect (chunks of n_ctx from an empty context, BOS first).
 * Errors: SLM_ERR_ARG (bad method/ratio/pattern, missing data),
 * SLM_ERR_IO, SLM_ERR_FORMAT, SLM_ERR_NOMEM, SLM_ERR_UNSUPPORTED (MoE for
 * wanda/ffn, rows the pattern or a block size does not fit). */
typedef struct slm_prune_stats {
    uint64_t in_bytes, out_bytes;     /* tensor data before and after */
    uint64_t n_params_in, n_params_out; /* elements before and after */
    uint64_t n_zeroed;                /* weights set to zero (magnitude, wanda) */
    uint64_t n_pruned_elems;          /* elements of the matrices pruned */
    uint32_t n_layer_in, n_layer_out;
    uint32_t n_ff_in, n_ff_out;
    int32_t removed_layers[64];       /* depth: original indices (first 64) */
    uint32_t n_removed_layers;
    double layer_score[64];           /* depth: mean cosine(in, out) per original layer (first 64) */
    uint32_t n_head_in, n_head_out;   /* query heads per layer (heads; else unchanged) */
    uint32_t n_head_kv_in, n_head_kv_out;
} slm_prune_stats;

typedef struct slm_prune_params {
    const char *method;   /* "depth", "ffn", "heads", "magnitude", "wanda" */
    float ratio;          /* fraction removed, 0 <= ratio < 1; default 0.5 */
    int pattern_n, pattern_m; /* N:M semi-structured (2, 4); 0, 0 = unstructured (default) */
    const char *data;     /* calibration text (plain or gzip), or NULL */
    uint32_t n_ctx;       /* calibration tokens per chunk; default 512 */
    uint32_t n_chunks;    /* at most this many chunks; 0 = all */
    int n_threads;        /* 0 = all cores */
    /* Called after each calibration chunk (may be NULL) on the calling
     * thread; nonzero cancels (SLM_ERR_CANCELLED, no output file). */
    int (*progress)(uint32_t chunk, uint32_t n_chunks, void *user);
    void *user;
    slm_prune_stats *stats; /* filled on success if non-NULL */
} slm_prune_params;

SLM_API slm_prune_params slm_prune_default_params(void);
SLM_API slm_status slm_prune(const char *in_path, const char *out_path, const slm_prune_params *p);

/* ---- tool calling (chat/tools.c) ------------------------------------------ */

/* Tool definitions reach the model through the chat template: pass them, in
 * OpenAI's form ([{"type": "function", "function": {"name", "description",
 * "parameters"}}]), as the `tools` variable of slm_chat_template_render's
 * context. The model then answers with calls written in its family's own
 * syntax; the functions below recognise that syntax from the template source
 * and turn the generated text back into structured calls.
 *
 * Formats (the call as the family's template writes an assistant tool call):
 *  HERMES       <tool_call>{"name": N, "arguments": {...}}</tool_call> ...
 *               (Qwen2.5, QwQ, Hermes 2/3, Granite 4, MiMo, Bielik, SmolLM3)
 *  QWEN3_XML    <tool_call><function=N><parameter=K>V</parameter>...</function></tool_call>
 *               (Qwen3-Coder, Qwen3.5, StepFun)
 *  LLAMA3       {"name": N, "parameters": {...}} as the whole reply, optionally
 *               after <|python_tag|>, several separated by ';' (Llama 3.1-3.3)
 *  MISTRAL      [TOOL_CALLS][{"name": N, "arguments": {...}, "id": I}, ...] (Nemo)
 *               or [TOOL_CALLS]N[CALL_ID]I[ARGS]{...} / [TOOL_CALLS]N[ARGS]{...}
 *               (Mistral Small 3.2, Devstral, Ministral)
 *  FUNCTIONARY  <function=N>{...}</function> (functionary v3.1)
 *  GLM          <tool_call>N<arg_key>K</arg_key><arg_value>V</arg_value>...</tool_call>
 *               (GLM-4.6/4.7, Ling, Laguna, Spark)
 *  JSON_ARRAY   a JSON array of {"name", "arguments"} between family tags:
 *               <TOOLCALL>[...]</TOOLCALL> (Nemotron), <tool_calls>[...]</tool_calls>
 *               (Apriel), <tool_calls>one object per line</tool_calls> (MiniMax-M1)
 *  DEEPSEEK_R1  <｜tool▁call▁begin｜>function<｜tool▁sep｜>N\n```json\n{...}\n```<｜tool▁call▁end｜>
 *  COMMAND_R    <|START_ACTION|>[{"tool_call_id", "tool_name", "parameters"}]<|END_ACTION|>
 *  XML_INVOKE   <invoke name="N"><parameter name="K">V</parameter></invoke>
 *               (MiniMax-M2 <minimax:tool_call>, DeepSeek V3.2/V4 DSML)
 *  HARMONY      to=functions.N<|channel|>commentary json<|message|>{...}<|call|> (gpt-oss)
 *  APERTUS      <|tools_prefix|>[{N: {...}}, ...]<|tools_suffix|> (Apertus)
 *  KIMI_K2      <|tool_calls_section_begin|><|tool_call_begin|>functions.N:0
 *               <|tool_call_argument_begin|>{...}<|tool_call_end|>...<|tool_calls_section_end|>
 *  KIMI_K3      <|open|>tools<|sep|><|open|>call tool="N" index="1"<|sep|>
 *               <|open|>argument key="K" type="T"<|sep|>V<|close|>argument<|sep|>...
 *               (or <|open|>json type="object"<|sep|>{...}<|close|>json<|sep|>)
 *               <|close|>call<|sep|><|close|>tools<|sep|> (Kimi K3)
 *  PYTHONIC     <|tool_call_start|>[N(k="v", n=1), ...]<|tool_call_end|> with
 *               Python literals (LFM2, LFM2.5)
 *  GEMMA4       <|tool_call>call:N{k:<|"|>text<|"|>,n:1}<tool_call|> (Gemma 4)
 *  XML_FUNCTION <function name="N"><param name="K">V or <![CDATA[V]]></param></function>
 *               (MiniCPM5)
 *  SOLAR        <|tool_calls|><|tool_call:begin|>I<|tool_call:name|>N<|tool_call:args|>{...}
 *               <|tool_call:end|>...<|calls|> (Solar Open)
 *  HUNYUAN      <tool_calls:opensource><tool_call:opensource>N<tool_sep:opensource>
 *               <arg_key:opensource>K</arg_key:opensource><arg_value:opensource>V
 *               </arg_value:opensource>...</tool_call:opensource></tool_calls:opensource> (Hunyuan 3)
 *  COMMAND_R_PLUS  Action:\n```json\n[{"tool_name": N, "parameters": {...}}]``` (Command R+)
 * XML_INVOKE also reads Muse Glimmer's <atem:function_calls><atem:invoke ...>.
 * XML-style values (K/V pairs) become JSON values: the tool's parameter
 * schema type decides when tools_json is given ("string" keeps the text),
 * otherwise text that parses as a JSON number, boolean, null, object or
 * array is taken as that, anything else as a string.
 * Generated text must keep its special tokens written out (render them with
 * slm_token_to_piece(..., render_special=1, ...)): markers such as
 * [TOOL_CALLS] or <|python_tag|> are control tokens in their vocabularies. */
typedef enum slm_tool_format {
    SLM_TOOL_FORMAT_NONE = 0, /* no tool-call syntax recognised: all text is content */
    SLM_TOOL_FORMAT_HERMES,
    SLM_TOOL_FORMAT_QWEN3_XML,
    SLM_TOOL_FORMAT_LLAMA3,
    SLM_TOOL_FORMAT_MISTRAL,
    SLM_TOOL_FORMAT_FUNCTIONARY,
    SLM_TOOL_FORMAT_GLM,
    SLM_TOOL_FORMAT_JSON_ARRAY,
    SLM_TOOL_FORMAT_DEEPSEEK_R1,
    SLM_TOOL_FORMAT_COMMAND_R,
    SLM_TOOL_FORMAT_XML_INVOKE,
    SLM_TOOL_FORMAT_HARMONY,
    SLM_TOOL_FORMAT_APERTUS,
    SLM_TOOL_FORMAT_KIMI_K2,
    SLM_TOOL_FORMAT_KIMI_K3,
    SLM_TOOL_FORMAT_PYTHONIC,
    SLM_TOOL_FORMAT_GEMMA4,
    SLM_TOOL_FORMAT_XML_FUNCTION,
    SLM_TOOL_FORMAT_SOLAR,
    SLM_TOOL_FORMAT_HUNYUAN,
    SLM_TOOL_FORMAT_COMMAND_R_PLUS,
    SLM_TOOL_FORMAT_COUNT
} slm_tool_format;

/* The format a chat template asks its model to write calls in, from markers
 * in the template source; SLM_TOOL_FORMAT_NONE if it has none we know
 * (templates without tool support, or a syntax not listed above). */
SLM_API slm_tool_format slm_tool_format_detect(const char *template_src, size_t len);
/* "hermes", "qwen3_xml", "llama3", ... ("none"); NULL for an invalid value. */
SLM_API const char *slm_tool_format_name(slm_tool_format f);
/* Parse a name as printed by slm_tool_format_name; SLM_ERR_ARG if unknown. */
SLM_API slm_status slm_tool_format_from_name(const char *name, slm_tool_format *out);

typedef struct slm_tool_call {
    const char *id;        /* the model's id if it wrote one, else "call_<i>" (i = index in the reply) */
    const char *name;      /* function name */
    const char *arguments; /* a JSON object as text: the model's own JSON as written
                              (trimmed), or built from K/V pairs (compact); "{}" if none */
} slm_tool_call;

typedef struct slm_tool_calls {
    slm_tool_format format;
    size_t n_calls;
    slm_tool_call *calls;  /* n_calls entries (NULL when 0) */
    const char *content;   /* the text outside the calls, whitespace at both ends
                              trimmed; NUL-terminated, content_len bytes */
    size_t content_len;
} slm_tool_calls;

/* Split a model reply text[0..len) into tool calls and content. tools_json
 * (may be NULL) is the tool list as given to the template; it is used only
 * to type XML-style values. A call whose syntax is incomplete or malformed
 * (e.g. generation stopped inside it, or its arguments are not a JSON
 * object) is not a call: its text stays in content. Never fails on any
 * model text; with SLM_TOOL_FORMAT_NONE everything is content.
 * On success *out (one allocation, strings inside it) is freed with
 * slm_tool_calls_free. Errors: SLM_ERR_ARG (NULL out, invalid format,
 * tools_json that is not a JSON array), SLM_ERR_NOMEM. Thread safe. */
SLM_API slm_status slm_tool_calls_parse(slm_tool_format format, const char *text, size_t len,
                                        const char *tools_json, slm_tool_calls **out);
SLM_API void slm_tool_calls_free(slm_tool_calls *c);

/* The calls as OpenAI's message field `tool_calls`: a compact JSON array
 * [{"id": I, "type": "function", "function": {"name": N, "arguments": "<JSON
 * text as a string>"}}, ...] ("[]" for none). *out is NUL-terminated, freed
 * with slm_chat_free. Errors: SLM_ERR_ARG, SLM_ERR_NOMEM. */
SLM_API slm_status slm_tool_calls_to_json(const slm_tool_calls *c, char **out);

/* GBNF (for slm_grammar_new) that matches exactly one tool call, in the
 * syntax of format, to one of the tools of tools_json with arguments valid
 * for that tool's "parameters" schema (slm_json_schema_to_grammar's subset):
 * "tool_choice": "required" as a constraint. Formats: HERMES (<tool_call>\n
 * {"name": N, "arguments": A}\n</tool_call>), LLAMA3 ({"name": N,
 * "parameters": A}), FUNCTIONARY (<function=N>A</function>), QWEN3_XML
 * (<tool_call>\n<function=N>\n<parameter=K>\nV\n</parameter>\n...</function>\n
 * </tool_call>), XML_FUNCTION (<function name="N"><param name="K">V</param>...
 * </function>) and COMMAND_R_PLUS (Action:\n```json\n[\n{"tool_name": N,
 * "parameters": A}\n]```); in the XML formats a plain string parameter is
 * text without '<', others JSON for their schema, in schema order. The
 * others give SLM_ERR_UNSUPPORTED (their markers are control tokens). *out is freed with slm_chat_free. Errors also:
 * SLM_ERR_ARG (tools_json not a non-empty array of named tools), the schema
 * converter's errors (message prefixed with the tool's name), SLM_ERR_NOMEM. */
SLM_API slm_status slm_tool_calls_grammar(slm_tool_format format, const char *tools_json, char **out);

/* Streaming: how many bytes at the start of a partial reply text[0..len)
 * are plain content for sure. The rest opens a tool call (complete or not),
 * or may be the beginning of a call marker cut off at the end; stream the
 * prefix as content and hold the rest until the reply ends, then parse the
 * whole reply with slm_tool_calls_parse. LLAMA3 replies that start with '{'
 * or <|python_tag|> are held whole; HARMONY holds from the first <|start|>
 * or <|channel|>. Never more than len; 0 for NULL text. */
SLM_API size_t slm_tool_calls_content_prefix(slm_tool_format format, const char *text, size_t len);

/* ---- continuous batching and embeddings (gen/session.c) --------------- */

/* Decode several sessions of the same model in shared forward passes:
 * session i appends its n_ids[i] tokens ids[i][0..n_ids[i]) (0 = skip it)
 * at its own positions, as slm_session_decode would, but every weight
 * matrix is read once per step for the rows of all sessions (attention
 * runs per session against its own KV cache). Steps hold at most n_batch
 * rows of the session with the largest n_ctx; a session that does not fit
 * continues in the next step. Results equal per-session decodes up to
 * float rounding. Afterwards slm_session_last_logits (and, with
 * logits_all, slm_session_logits) give each session's rows. Validates
 * everything first: SLM_ERR_ARG (NULL, ids outside the vocabulary, mixed
 * models, a session listed twice) or SLM_ERR_FULL leave every session
 * unchanged. The sessions must not be used by other threads meanwhile; the
 * compute threads of one of them run the step. After a warm-up call with
 * the same number of sessions, a call allocates nothing. */
SLM_API slm_status slm_decode_multi(slm_session *const *sessions, const int32_t *const *ids,
                                    const size_t *n_ids, size_t n_sessions);
/* The n_vocab logits of the last token of the last decode (single or
 * multi) of s, or NULL if none since the last truncate/embed. Valid until
 * the next decode. */
SLM_API const float *slm_session_last_logits(const slm_session *s);

typedef enum slm_pooling {
    SLM_POOLING_MEAN = 0, /* mean over all tokens (the default) */
    SLM_POOLING_LAST = 1, /* the last token's state */
} slm_pooling;

/* Embed the n tokens ids: clear s, run them from position 0 (the cache
 * then holds them) and write to out (slm_model_n_embd floats) the pooled
 * final-norm hidden states (the vector the output head would multiply),
 * L2-normalized if normalize. SLM_ERR_FULL if n > n_ctx, SLM_ERR_ARG for
 * n == 0 or a bad id. The attention is the model's own (causal). */
SLM_API slm_status slm_session_embed(slm_session *s, const int32_t *ids, size_t n,
                                     slm_pooling pooling, int normalize, float *out);

/* ---- constrained decoding (grammar/) ------------------------------------ */

/* A grammar constrains generation so that the output always parses. The
 * format is llama.cpp's GBNF: rules `name ::= alternatives`, `|`, sequences,
 * ( ) groups, * + ? {m} {m,} {m,n} repetition, "literals" and [classes] with
 * escapes (\n \r \t \\ \" \[ \] \xNN \uNNNN \UNNNNNNNN), [^...], `.` (any
 * character), # comments. Matching is on the bytes of the UTF-8 text, so a
 * token may end inside a multi-byte character and the next one finish it.
 *
 * Use per generated token:
 *     slm_grammar_apply(g, logits, n_vocab);   // copy of the logits, masked
 *     tok = slm_sampler_sample(smp, logits, n_vocab);
 *     if (slm_token_is_eog(m, tok)) break;     // allowed only if can_end
 *     slm_grammar_accept(g, tok);
 *     if (slm_grammar_is_done(g)) break;       // nothing more may follow
 *
 * An slm_grammar holds the parse state of one generation; one thread at a
 * time. It keeps no pointer to the model (its vocabulary is copied). */
typedef struct slm_grammar slm_grammar;

/* Compile len bytes of GBNF text for m's vocabulary, starting at rule root
 * (NULL = "root"). Errors (*out NULL): SLM_ERR_FORMAT for a malformed grammar
 * (message "grammar:LINE:COL: ..."), an undefined or missing root rule, left
 * recursion, or a grammar too large (over 4M elements); SLM_ERR_ARG for NULL
 * arguments; SLM_ERR_NOMEM. Cost: sorts the vocabulary's pieces once
 * (about 20 ms for 150k tokens). m may be NULL: a grammar for checking text
 * only (slm_grammar_accept_text, can_end; apply and accept refuse). */
SLM_API slm_status slm_grammar_new(const slm_model *m, const char *gbnf, size_t len,
                                   const char *root, slm_grammar **out);
SLM_API void slm_grammar_free(slm_grammar *g);

/* Set logits[t] = -INFINITY for every token t whose piece cannot continue the
 * text accepted so far. End-of-generation tokens stay allowed only when the
 * grammar can end here; tokens with an empty piece (control tokens) are
 * masked. n_vocab must be the model's. Errors: SLM_ERR_ARG (n_vocab
 * mismatch), SLM_ERR_UNSUPPORTED (a pathologically ambiguous grammar
 * exceeded the parse-stack limit). If no token at all is allowed, every
 * logit is -INFINITY and SLM_OK is returned: the caller should stop. */
SLM_API slm_status slm_grammar_apply(slm_grammar *g, float *logits, int32_t n_vocab);

/* Advance the parse state over token tok. Errors: SLM_ERR_ARG if the
 * grammar does not allow tok here (state unchanged) or tok is out of range.
 * An end-of-generation token is accepted only when the grammar can end. */
SLM_API slm_status slm_grammar_accept(slm_grammar *g, int32_t tok);
/* The same over raw text (e.g. a forced prefix); SLM_ERR_ARG (state
 * unchanged) if the text cannot continue the grammar. */
SLM_API slm_status slm_grammar_accept_text(slm_grammar *g, const char *text, size_t len);

/* 1 if the text accepted so far is a complete match of root (an EOG token
 * is allowed now), else 0. */
SLM_API int slm_grammar_can_end(const slm_grammar *g);
/* 1 if the match is complete and no further text is possible: stop. */
SLM_API int slm_grammar_is_done(const slm_grammar *g);
/* Back to the start (nothing accepted). */
SLM_API void slm_grammar_reset(slm_grammar *g);

/* Convert a JSON Schema (len bytes of JSON) to GBNF text whose root rule
 * matches exactly the JSON documents the schema accepts (compact or with
 * bounded whitespace). Supported: type (object, array, string, number,
 * integer, boolean, null, or a list of them), properties, required (required
 * properties first in schema order, then optional ones in schema order),
 * additionalProperties (default false here: only listed properties; true or
 * a schema allows extra keys after them), enum, const, items, prefixItems,
 * minItems/maxItems, minLength/maxLength, minimum/maximum/exclusiveMinimum/
 * exclusiveMaximum on integers (|bound| < 10^15), minimum 0 on numbers (other
 * number bounds are refused), anyOf/oneOf (exclusivity not enforced), allOf of one schema,
 * $ref to #/$defs/... and #/definitions/..., format date, time, date-time,
 * uuid, email; title/description/$schema/$id/examples/default are ignored.
 * Numbers have at most 16 integer and 16 fraction digits. An empty schema {}
 * means any JSON value. Errors: SLM_ERR_FORMAT (not JSON, bad $ref),
 * SLM_ERR_UNSUPPORTED (the message names the keyword, e.g. "pattern", and
 * its JSON path). On success *gbnf_out is a NUL-terminated string freed with
 * slm_grammar_text_free. */
SLM_API slm_status slm_json_schema_to_grammar(const char *schema_json, size_t len,
                                              char **gbnf_out);
SLM_API void slm_grammar_text_free(char *text);

/* GBNF for any JSON object (OpenAI's response_format {"type":"json_object"});
 * a static string, root rule "root". */
SLM_API const char *slm_grammar_json_object(void);

/* ---- genomics (dna/) ---------------------------------------------------- */

/* -- genomic language model (engineer D1): pretraining, tokenizers, scoring -- */

/* Write a DNA tokenizer as a vocabulary-only GGUF that slm_model_load and
 * slm_train read like any other: spec "nuc" (one token per nucleotide:
 * <unk> <s> </s> A C G T N) or "kmer:K", K = 3..6 (non-overlapping K-mers
 * cut from the left of every A/C/G/T run, a shorter piece at its end, N on
 * its own). BOS is added, no space prefix. BPE on DNA is
 * slm_tokenizer_train with dna = 1.
 * Errors: SLM_ERR_ARG (bad spec), SLM_ERR_IO. */
SLM_API slm_status slm_dna_tokenizer_write(const char *spec, const char *path);

/* Causal LM pretraining on genome sequence (FASTA/FASTQ, plain, gzip or xz;
 * every record, letters normalised to ACGTN, records joined by one N). The
 * last val_bases of the joined sequence are held out for validation (fixed
 * consecutive windows, forward strand); training windows are drawn at
 * random from the rest with the seeded RNG, reverse-complemented with
 * probability rc_prob, and redrawn (up to 64 times) while more than
 * max_n_frac of their bases are N. Each window is tokenized and prefixed
 * with BOS: n_ctx + 1 tokens, the model predicts tokens 1..n_ctx. Shape,
 * optimisation, checkpoint/resume (bit-exact), loss curve and progress are
 * train's fields with slm_train's meaning (eval_every/eval_batches on the
 * held-out windows). The output is a llama GGUF carrying the tokenizer.
 * stats as slm_train (n_train_tokens/n_val_tokens count bases).
 * Errors: as slm_train, plus SLM_ERR_FORMAT for a bad sequence file and
 * SLM_ERR_ARG when the sequence is shorter than a few windows. */
typedef struct slm_dna_pretrain_params {
    slm_train_params train;  /* slm_train_default_params() but 2000 steps and
                                n_head_kv 0 (= n_head) */
    const char *tokenizer;   /* "nuc" (default), "kmer:K", or a tokenizer GGUF path */
    float rc_prob;           /* default 0.5 */
    float max_n_frac;        /* default 0.1 */
    uint64_t val_bases;      /* default 1,000,000 (at most a fifth of the sequence) */
    uint64_t max_bases;      /* read at most this many bases per file; 0 = all */
} slm_dna_pretrain_params;

SLM_API slm_dna_pretrain_params slm_dna_pretrain_default_params(void);
SLM_API slm_status slm_dna_pretrain(const slm_dna_pretrain_params *p, const char *const *fasta,
                                    size_t n_fasta, const char *out_path, slm_train_stats *stats);

/* Fine-tuning, prediction and embeddings on labelled CSV files
 * (`sequence,label`, plain or gzip; the same reader as slm dna bench).
 * Classifier GGUF: the base model plus tensors cls.weight {n_embd, n_class},
 * cls.bias {n_class} and keys dna.n_class, dna.pooling ("mean"/"last");
 * it still loads as a normal model. Pooling reads the final normed hidden
 * states at every position after BOS (mean) or the last one. */
typedef struct slm_dna_finetune_opts {
    int epochs;          /* default 3 */
    int patience;        /* epochs without a better dev MCC before stopping; default 2 */
    int probe;           /* 1: frozen base, head only */
    int pool_last;       /* 1: last-token pooling (default mean) */
    float lr, lr_head;   /* defaults 1e-3 (base), 3e-2 (head) */
    int batch;           /* default 16 */
    uint64_t max_train;  /* at most this many training rows (seeded subset); 0 = all */
    int rc_augment;      /* 1: reverse-complement training rows with p 0.5 (default 0) */
    uint64_t seed;       /* default 42 */
    int n_threads;       /* 0 = all cores */
    /* Called every few steps (dev_mcc NaN) and after each epoch; nonzero cancels. */
    int (*progress)(int epoch, int n_epochs, uint64_t done, uint64_t total, float loss,
                    float dev_mcc, void *user);
    void *user;
} slm_dna_finetune_opts;

typedef struct slm_dna_finetune_result {
    int epochs_run, best_epoch;
    float best_dev_mcc, final_train_loss;
    uint64_t n_params, train_tokens;
    double elapsed_s;
} slm_dna_finetune_result;

SLM_API slm_dna_finetune_opts slm_dna_finetune_default_opts(void);
/* dev_csv may be NULL (the last epoch is kept). res may be NULL. */
SLM_API slm_status slm_dna_finetune_csv(const slm_dna_finetune_opts *o, const char *base_model,
                                        const char *train_csv, const char *dev_csv,
                                        const char *out_path, slm_dna_finetune_result *res);

/* Class probabilities for every row of a `sequence,label` CSV or every
 * record of a FASTA/FASTQ file (its labels are -1).
 * *proba holds n x n_class floats, *label n true labels; free both with
 * slm_dna_free. */
SLM_API slm_status slm_dna_predict_csv(const char *clf_model, const char *data, int n_threads,
                                       size_t *n, int32_t *n_class, float **proba,
                                       int32_t **label);

/* Pooled embeddings of every sequence of a CSV or FASTA/FASTQ file:
 * *vec holds n x dim floats; *names (may be NULL) n strings (FASTA record
 * names, or the CSV label as text); free with slm_dna_free / slm_dna_free_names. */
SLM_API slm_status slm_dna_embed_file(const char *model, const char *data, int pool_last,
                                      int n_threads, size_t *n, int *dim, float **vec,
                                      char ***names);

/* Log-likelihood (natural log) of seq under a gLM: the sum over its tokens
 * of log p(token | BOS, earlier tokens), evaluated in windows of the
 * model's context. *n_tokens (may be NULL) receives the token count. */
SLM_API slm_status slm_dna_loglik(const char *model, const char *seq, int n_threads,
                                  double *loglik, size_t *n_tokens);

SLM_API void slm_dna_free(void *p);
SLM_API void slm_dna_free_names(char **names, size_t n);

/* -- benchmark (engineer D2): baselines, metrics, slm dna bench ----------- */

/* One result of slm_dna_bench: a method on a task. Metrics are on the test
 * split (uci_splice: on the pooled out-of-fold predictions of k-fold CV),
 * with percentile-bootstrap 95% intervals (lo/hi). f1 is macro-F1; auroc is
 * binary, or one-vs-rest macro for 3 classes (scikit-learn's definitions).
 * A method that could not run has missing = 1 and the reason in detail. */
typedef struct slm_dna_bench_row {
    char task[64];
    char method[32];         /* "glm", "kmer_lr" or "cnn" */
    int32_t n_class;
    uint64_t n_train, n_dev, n_test; /* rows used (after max_train) */
    double mcc, accuracy, f1, auroc;
    double mcc_lo, mcc_hi, accuracy_lo, accuracy_hi, f1_lo, f1_hi, auroc_lo, auroc_hi;
    uint64_t params;         /* trained parameters (glm: base + head) */
    double train_s;          /* wall time of training incl. model selection (all folds) */
    double predict_s;        /* wall time of predicting the test rows */
    char detail[160];        /* chosen hyper-parameters / epochs, or why missing */
    int missing;
} slm_dna_bench_row;

typedef struct slm_dna_bench_params {
    const char *data_dir;    /* GUE layout: TASK/{train,dev,test}.csv[.gz] */
    const char *splice_path; /* UCI splice.data for task "uci_splice"; NULL: not run */
    const char *tasks;       /* comma list; NULL = every task folder of data_dir + uci_splice */
    const char *methods;     /* comma list of glm, glm_probe, kmer_lr, cnn; NULL = glm,kmer_lr,cnn */
    const char *model;       /* base gLM for "glm" (full fine-tuning) and "glm_probe" (linear
                                probe on the frozen base); NULL: their rows are missing */
    const char *work_dir;    /* where glm classifier files are written; NULL = "/tmp" */
    uint64_t seed;           /* default 42: subsets, folds, CNN init, bootstrap */
    uint64_t max_train;      /* cap on training rows per task (seeded subset); 0 = all */
    int n_boot;              /* bootstrap resamples; default 1000 */
    int folds;               /* uci_splice CV folds; default 10 */
    int cnn_epochs;          /* default 20 (early stopping on dev MCC, patience 3) */
    int glm_epochs;          /* default 3 */
    int n_threads;           /* 0 = all cores */
    /* Progress (may be NULL): frac in [0, 1] of the current task × method;
     * nonzero return cancels (SLM_ERR_CANCELLED). */
    int (*progress)(const char *task, const char *method, const char *stage, double frac, void *user);
    /* Called with each finished row (may be NULL). */
    void (*on_row)(const slm_dna_bench_row *row, void *user);
    void *user;
    /* glm and glm_probe only (fine-tuning costs a transformer pass per row):
     * at most this many training rows (a seeded subset, within max_train) /
     * dev rows (the first ones); 0 = all. The test split is always whole. */
    uint64_t glm_max_train, glm_max_dev;
} slm_dna_bench_params;

SLM_API slm_dna_bench_params slm_dna_bench_default_params(void);
/* Run every task × method. *rows (free with slm_dna_free) gets one row per
 * pair in task, method order. A task whose files are missing or malformed
 * fails the call (SLM_ERR_IO / SLM_ERR_FORMAT naming the file); a method
 * that fails on one task gives a missing row and the run continues. */
SLM_API slm_status slm_dna_bench(const slm_dna_bench_params *p, slm_dna_bench_row **rows,
                                 size_t *n_rows);
/* Markdown report of rows next to the published DNABERT-2 / NT numbers
 * (shared/data/README.md §2.2), with `command` and `machine` recorded, and
 * (svg_path non-NULL) an SVG bar chart of MCC per task per method. */
SLM_API slm_status slm_dna_bench_report(const slm_dna_bench_row *rows, size_t n_rows,
                                        const char *md_path, const char *svg_path,
                                        const char *command, const char *machine,
                                        double total_s);

/* ---- knowledge distillation (train/) ------------------------------------ */

/* Train a student (shape and optimisation in `train`, as slm_train) against
 * a teacher GGUF run by the inference engine (any architecture slm loads,
 * any quant type), and save the student like slm_train does. Loss per
 * position: alpha * T^2 * KL(softmax(z_t/T) || softmax(z_s/T)) +
 * (1 - alpha) * CE(label), averaged over the batch. With top_k = K > 0 only
 * the teacher's K largest logits are used, softmaxed at T over those K
 * (the rest of the teacher's mass is dropped: probability 0 outside the
 * top K, while the student stays normalised over the whole vocabulary).
 * The text is cut into fixed windows of n_ctx + 1 tokens (window w starts
 * at token w * n_ctx), each micro-batch draws `batch` windows from the
 * seeded RNG, and the teacher sees the student's exact window from an
 * empty cache. teacher_cache (needs top_k): the top K of each window is
 * computed once, kept, and written to this file at the end; a later run
 * reads it and runs the teacher only for windows not yet in it. The file
 * records version, vocabulary size, K, T, window length, token count, the
 * data hash and a teacher fingerprint, and is refused (SLM_ERR_ARG naming
 * the field) when any differs. alpha = 0 never runs the teacher during
 * training: the same windows, steps and schedule with plain cross-entropy
 * (the from-scratch baseline). Student and teacher must share the
 * tokenizer: the student uses the teacher's tokenizer.* keys, or
 * `tokenizer` if given, which must have the teacher's vocabulary size and
 * token texts (SLM_ERR_ARG "tokenizer mismatch" otherwise). Validation
 * (val_files) reports the student's cross-entropy as val_loss and the mean
 * KL(teacher || student) at T = 1 over the full vocabulary. Checkpoints
 * (train.checkpoint, written with the teacher cache) and resume
 * (train.resume) work as in slm_train: the continuation is bit-exact, the
 * checkpoint's settings win (temperature, alpha and top_k included), and a
 * checkpoint from other data, another teacher or slm_train is refused
 * (SLM_ERR_ARG). Errors as slm_train, plus SLM_ERR_FORMAT for a malformed cache file. */
typedef struct slm_distill_params {
    slm_train_params train;  /* student shape, optimisation, progress, loss_svg */
    const char *tokenizer;   /* NULL: the teacher's */
    float temperature;       /* T; default 1 */
    float alpha;             /* weight of the KL term in [0, 1]; default 0.5 */
    uint32_t top_k;          /* 0 (default): the full teacher distribution */
    const char *teacher_cache; /* top-K cache file (read if present, then written); NULL = none */
} slm_distill_params;

typedef struct slm_distill_stats {
    slm_train_stats train;   /* final_val_loss: student cross-entropy */
    float final_kl, final_ce;  /* last step's KL term (at T, unweighted) and cross-entropy */
    float final_val_kld;     /* mean KL(teacher || student) at T = 1 on validation; NaN without */
    uint64_t teacher_tokens; /* tokens the teacher evaluated in this run (training + validation) */
    double teacher_s;        /* seconds spent in the teacher */
    uint64_t n_windows;      /* windows in the training stream */
    uint64_t cache_windows_loaded; /* windows found in the cache file at the start */
    uint64_t cache_windows;  /* windows in the cache at the end */
} slm_distill_stats;

SLM_API slm_distill_params slm_distill_default_params(void);
/* val_files may be empty (n_val 0). stats may be NULL. */
SLM_API slm_status slm_distill(const slm_distill_params *p, const char *teacher_path,
                               const char *const *files, size_t n_files,
                               const char *const *val_files, size_t n_val, const char *out_path,
                               slm_distill_stats *stats);

/* ---- memory estimate (edge targets) ------------------------------------ */

/* What loading a model and opening one session on it would take, computed
 * before anything large is mapped, read or allocated, so a caller can refuse
 * a model that will not fit instead of being OOM-killed. */
typedef struct slm_memory_estimate {
    uint64_t weights_bytes; /* tensor data the forward pass reads (mapped and touched, or read) */
    uint64_t file_bytes;    /* the whole file: header, metadata and vocabulary included */
    uint64_t kv_bytes;      /* KV cache at the session's n_ctx and kv_type */
    uint64_t scratch_bytes; /* activations, attention scores and the logits buffer */
    uint64_t total_bytes;   /* file_bytes + kv_bytes + scratch_bytes */
    uint32_t n_ctx;         /* the context length the estimate is for (0 resolved) */
} slm_memory_estimate;

/* Estimate for slm_model_load(path, mp) followed by slm_session_new(model,
 * sp): opens and validates the file's structure (mapping only the pages the
 * header, metadata and vocabulary occupy), resolves sp's defaults the way
 * slm_session_new does, and fills *out. mp and sp may be NULL (defaults);
 * mp->max_memory_bytes is ignored here. On failure *out is zeroed. */
SLM_API slm_status slm_model_memory_estimate(const char *path, const slm_model_params *mp,
                                             const slm_session_params *sp,
                                             slm_memory_estimate *out);

#ifdef __cplusplus
}
#endif
#endif /* SLM_H */
