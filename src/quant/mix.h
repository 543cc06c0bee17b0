/* mix.h — which weight type each tensor of a quantized file gets.
 *
 * A "mix" is what llama-quantize calls a file type (llama_ftype): a default
 * tensor type plus per-tensor rules (output head Q6_K, more bits for attn_v
 * and ffn_down in some layers, ...). The rules here are llama.cpp v0.5.0's
 * llama_tensor_get_type for the types slm implements, decided from the tensor
 * name, its row length and a few model counts, so both the quantizer
 * (compress/quantize.c) and the random-model generator (gen/random_model.c)
 * give the same file layout as llama-quantize. No model loading needed.
 */
#ifndef SLM_QUANT_MIX_H
#define SLM_QUANT_MIX_H

#include <stdint.h>

#include "slm.h"

typedef struct slm_mix {
    const char *name;   /* "Q4_K_M" (llama-quantize's spelling) */
    uint32_t file_type; /* llama_ftype, stored as general.file_type */
    slm_type base;      /* the default tensor type */
} slm_mix;

/* Mix by name, case-insensitive: every llama-quantize name whose types slm
 * implements (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q2_K_S,
 * Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K, IQ4_NL,
 * IQ4_XS) and its aliases Q3_K = Q3_K_M, Q4_K = Q4_K_M, Q5_K = Q5_K_M.
 * NULL if unknown. */
const slm_mix *slm_mix_find(const char *name);
/* The table, for listing in messages: i in 0..slm_mix_count()-1. */
int slm_mix_count(void);
const slm_mix *slm_mix_at(int i);

/* What the rules need to know about the model. */
typedef struct slm_mix_model {
    int n_layer;     /* block_count */
    int n_attn_v;    /* number of attn_v/attn_qkv tensors (normally n_layer) */
    int n_gqa;       /* n_head / n_head_kv; 0 or 1 = no GQA */
    int n_expert;    /* expert_count; 0 = dense */
    int tied;        /* 1: no output.weight, token_embd.weight is the output head */
    int has_imatrix; /* an importance matrix will be used */
    int falcon;      /* architecture "falcon" (its own ffn_down/attn_output rules) */
} slm_mix_model;

typedef struct slm_mix_opts {
    int pure;              /* 1: every quantizable tensor gets the base type */
    slm_type output_type;  /* override for output.weight (and a tied token_embd); SLM_TYPE_COUNT = none */
    slm_type embd_type;    /* override for token_embd.weight; SLM_TYPE_COUNT = none */
} slm_mix_opts;

/* 1 if llama-quantize would quantize this tensor at all: at least 2-D, name
 * ending in "weight", not a norm, not the MoE router, not positional or
 * token-type embeddings. Other tensors keep their type. */
int slm_mix_allows(const char *name, int n_dims);

/* The type for tensor `name` of n_dims dims with rows of ne0 elements,
 * currently of type cur. opts may be NULL. *n_fallback (may be NULL) is
 * incremented when the row length forced a different type (k-quants need
 * multiples of 256: Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K ->
 * Q4_0, IQ4_XS -> IQ4_NL, and F16 if even that does not divide the row).
 * Where llama.cpp has no fallback and refuses the model (e.g. Q4_0 or Q8_0
 * on rows of 172), slm gives F16 too and counts a fallback. */
slm_type slm_mix_tensor_type(const slm_mix *mix, const slm_mix_model *mm, const slm_mix_opts *opts,
                             const char *name, int n_dims, slm_type cur, int64_t ne0, int *n_fallback);

/* The layer index of a "blk.N." name, or -1. */
int slm_mix_layer(const char *name);

#endif
