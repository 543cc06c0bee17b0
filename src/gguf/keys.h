/* keys.h — names of the standard GGUF metadata keys (as llama.cpp's
 * gguf-py constants spell them), so writers (train/, compress/) and readers
 * agree on spelling. Header only; the values' meaning belongs to model/ and
 * tok/. Per-architecture keys are suffixes: snprintf(buf, n, "%s%s", arch,
 * SLM_KEY_SUFFIX_N_EMBD) gives "llama.embedding_length".
 */
#ifndef SLM_GGUF_KEYS_H
#define SLM_GGUF_KEYS_H

/* general.* */
#define SLM_KEY_ARCHITECTURE "general.architecture"       /* STRING: "llama", "qwen2"... */
#define SLM_KEY_NAME "general.name"                       /* STRING */
#define SLM_KEY_ALIGNMENT "general.alignment"             /* UINT32, power of two; default 32 */
#define SLM_KEY_FILE_TYPE "general.file_type"             /* UINT32: llama_ftype of the mix */
#define SLM_KEY_QUANT_VERSION "general.quantization_version" /* UINT32: 2 for current blocks */

/* <arch>.* hyperparameters (append to the architecture name) */
#define SLM_KEY_SUFFIX_N_CTX ".context_length"               /* UINT32 */
#define SLM_KEY_SUFFIX_N_EMBD ".embedding_length"            /* UINT32 */
#define SLM_KEY_SUFFIX_N_LAYER ".block_count"                /* UINT32 */
#define SLM_KEY_SUFFIX_N_FF ".feed_forward_length"           /* UINT32 */
#define SLM_KEY_SUFFIX_N_HEAD ".attention.head_count"        /* UINT32 */
#define SLM_KEY_SUFFIX_N_HEAD_KV ".attention.head_count_kv"  /* UINT32 */
#define SLM_KEY_SUFFIX_KEY_LENGTH ".attention.key_length"    /* UINT32: head dim of K */
#define SLM_KEY_SUFFIX_VALUE_LENGTH ".attention.value_length"/* UINT32: head dim of V */
#define SLM_KEY_SUFFIX_RMS_EPS ".attention.layer_norm_rms_epsilon" /* FLOAT32 */
#define SLM_KEY_SUFFIX_ROPE_DIM ".rope.dimension_count"      /* UINT32 */
#define SLM_KEY_SUFFIX_ROPE_BASE ".rope.freq_base"           /* FLOAT32 */
#define SLM_KEY_SUFFIX_N_EXPERT ".expert_count"              /* UINT32 */
#define SLM_KEY_SUFFIX_N_EXPERT_USED ".expert_used_count"    /* UINT32 */
#define SLM_KEY_SUFFIX_VOCAB_SIZE ".vocab_size"              /* UINT32 (optional) */

/* tokenizer.ggml.* */
#define SLM_KEY_TOK_MODEL "tokenizer.ggml.model"           /* STRING: "llama", "gpt2"... */
#define SLM_KEY_TOK_PRE "tokenizer.ggml.pre"               /* STRING: pre-tokenizer name */
#define SLM_KEY_TOK_TOKENS "tokenizer.ggml.tokens"         /* ARRAY of STRING */
#define SLM_KEY_TOK_SCORES "tokenizer.ggml.scores"         /* ARRAY of FLOAT32 */
#define SLM_KEY_TOK_TYPES "tokenizer.ggml.token_type"      /* ARRAY of INT32 */
#define SLM_KEY_TOK_MERGES "tokenizer.ggml.merges"         /* ARRAY of STRING "a b" */
#define SLM_KEY_TOK_BOS "tokenizer.ggml.bos_token_id"      /* UINT32 */
#define SLM_KEY_TOK_EOS "tokenizer.ggml.eos_token_id"      /* UINT32 */
#define SLM_KEY_TOK_EOT "tokenizer.ggml.eot_token_id"      /* UINT32 */
#define SLM_KEY_TOK_UNK "tokenizer.ggml.unknown_token_id"  /* UINT32 */
#define SLM_KEY_TOK_PAD "tokenizer.ggml.padding_token_id"  /* UINT32 */
#define SLM_KEY_TOK_ADD_BOS "tokenizer.ggml.add_bos_token" /* BOOL */
#define SLM_KEY_TOK_ADD_EOS "tokenizer.ggml.add_eos_token" /* BOOL */
#define SLM_KEY_TOK_ADD_SPACE_PREFIX "tokenizer.ggml.add_space_prefix" /* BOOL */
#define SLM_KEY_CHAT_TEMPLATE "tokenizer.chat_template"    /* STRING (Jinja) */

#endif
