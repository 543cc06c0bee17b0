/* model.h — a loaded model: hyperparameters, weight views bound to GGUF
 * tensors (zero-copy, pointing into the mapping), the vocabulary, and the
 * forward pass over a per-session state (KV cache + scratch).
 *
 * The loader (load.c) is the only place that reads metadata; arch.c maps
 * each architecture to its hyperparameter rules and tensor list; forward.c
 * composes nn layers; kvcache.c owns the state. After slm_model_load
 * returns, every weight has been checked for presence, shape and a type the
 * kernels can multiply, so the forward pass does no validation.
 */
#ifndef SLM_MODEL_H
#define SLM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "base/pool.h"
#include "gguf/gguf.h"
#include "nn/nn.h"
#include "slm.h"
#include "tok/vocab.h"

typedef enum slm_arch {
    SLM_ARCH_LLAMA,
    SLM_ARCH_QWEN2,
    SLM_ARCH_QWEN3,
    SLM_ARCH_GEMMA2,
    SLM_ARCH_GEMMA3,
    SLM_ARCH_PHI3,
    SLM_ARCH_QWEN2MOE,
    SLM_ARCH_QWEN3MOE,
    SLM_ARCH_COUNT
} slm_arch;

#define SLM_MAX_LAYERS 512
#define SLM_MAX_HEAD_DIM SLM_NN_MAX_HEAD_DIM
#define SLM_MAX_EXPERTS 256

typedef struct slm_hparams {
    slm_arch arch;
    uint32_t n_vocab;       /* rows of token_embd */
    uint32_t n_ctx_train;
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_ff;          /* dense FFN width (0 for pure MoE) */
    uint32_t n_head, n_head_kv;
    uint32_t hd_k, hd_v;    /* per-head key / value dims */
    uint32_t n_rot;         /* rotated dims per head (rope.dimension_count) */
    uint32_t n_expert, n_expert_used;
    uint32_t n_ff_exp;      /* per-expert FFN width */
    uint32_t n_ff_shexp;    /* shared-expert width (qwen2moe) */
    float eps;              /* RMS norm epsilon */
    float rope_base;        /* rope.freq_base */
    float rope_base_swa;    /* base for sliding-window layers (gemma3) */
    float rope_freq_scale;  /* 1 / rope.scaling.factor for linear scaling */
    float rope_attn_factor; /* multiplies cos/sin (LongRoPE) */
    uint32_t n_ctx_orig;    /* rope.scaling.original_context_length (LongRoPE choice) */
    int rope_neox;          /* 1: pairs (i, i+d/2) */
    uint32_t n_swa;         /* sliding window; 0 none */
    uint32_t swa_pattern;   /* layer il uses the window if il % pattern < pattern-1 */
    float attn_softcap;     /* 0 none */
    float final_softcap;    /* 0 none */
    float q_scale;          /* > 0: q *= q_scale after RoPE and softmax scale 1 */
    float embd_scale;       /* > 0: embeddings multiplied by it (gemma) */
    int act;                /* SLM_ACT_SILU / SLM_ACT_GELU */
    int moe_norm_w;         /* renormalise the top-k weights */
} slm_hparams;

/* Weights of one block. NULL = absent (optional for the architecture).
 * Shapes as GGUF ne (innermost first); E = n_embd, Hk = n_head*hd_k,
 * Gk = n_head_kv*hd_k, Gv = n_head_kv*hd_v, F = n_ff. */
typedef struct slm_layer {
    const float *attn_norm;      /* [E] */
    slm_mat wq, wk, wv;          /* [E, Hk] [E, Gk] [E, Gv] (unused if wqkv) */
    slm_mat wqkv;                /* [E, Hk+Gk+Gv] phi3; data NULL otherwise */
    const float *bq, *bk, *bv;   /* [Hk] [Gk] [Gv] qwen2 */
    const float *q_norm, *k_norm;/* [hd_k] qwen3, gemma3 */
    slm_mat wo;                  /* [Hv, E] */
    const float *attn_post_norm; /* [E] gemma */
    const float *ffn_norm;       /* [E] */
    slm_mat ffn_gate, ffn_up;    /* [E, F] each; phi3: ffn_up [E, 2F] gate|up, no gate */
    slm_mat ffn_down;            /* [F, E] */
    const float *ffn_post_norm;  /* [E] gemma */
    slm_mat gate_inp;            /* [E, n_expert] router (F32 in practice) */
    slm_mat gate_exps, up_exps;  /* expert e: [E, Fe] at data + e*expert_bytes */
    slm_mat down_exps;           /* expert e: [Fe, E] */
    size_t gate_exp_bytes, up_exp_bytes, down_exp_bytes; /* bytes per expert */
    const float *gate_inp_shexp; /* [E] sigmoid gate of the shared expert */
    slm_mat gate_shexp, up_shexp, down_shexp;
    int swa;                     /* 1: sliding-window layer */
    float rope_base;             /* per-layer base (gemma3 local layers) */
} slm_layer;

struct slm_model {
    char *path;
    slm_gguf *gguf;              /* owns the mapping the weights point into */
    slm_vocab *vocab;
    int vocab_only;
    char *arch_name;             /* general.architecture, NUL-terminated */
    char **meta;                 /* per key index: NUL-terminated copy of string values, else NULL */
    slm_hparams hp;
    const slm_gguf_tensor *tok_embd; /* [E, n_vocab], any type (rows dequantized) */
    const float *output_norm;    /* [E] */
    slm_mat output;              /* [E, n_vocab]; = token_embd when tied */
    const float *rope_freqs;     /* [n_rot/2] or NULL */
    const float *rope_long, *rope_short; /* LongRoPE factors or NULL */
    slm_layer *layers;           /* n_layer */
    uint64_t n_params;
    uint64_t size_bytes;
};

/* arch.c: name -> enum (SLM_ERR_UNSUPPORTED naming it) and the rules. */
slm_status slm_arch_from_name(const char *name, slm_arch *out);
const char *slm_arch_name(slm_arch a);
/* Read hyperparameters of m->hp.arch from g (validated, bounded). */
slm_status slm_arch_read_hparams(slm_model *m);
/* Bind and check every tensor the architecture needs. */
slm_status slm_arch_bind_tensors(slm_model *m);

/* ---- per-session state (kvcache.c) and the forward pass (forward.c) ---- */

typedef struct slm_state {
    const slm_model *m;
    slm_pool *pool;
    uint32_t n_ctx, n_batch;
    slm_type kv_type;
    size_t k_row_bytes;          /* K: one position, all KV heads */
    size_t vt_row_bytes;         /* V (transposed): one dim of one KV head, all n_ctx positions */
    uint8_t *kv;                 /* K of all layers, then V of all layers */
    uint8_t *k, *v;              /* layer il: k + il*n_ctx*k_row_bytes, v + il*Gv*vt_row_bytes */
    uint64_t kv_bytes, scratch_bytes;
    uint8_t *scratch;            /* one block carved into the buffers below */
    /* activations, T = n_batch rows: */
    float *x;      /* [T][E] residual stream */
    float *h;      /* [T][E] normed input of a sub-block */
    float *q;      /* [T][Hk] */
    float *kc;     /* [T][Gk] */
    float *vc;     /* [T][Gv] */
    float *qkv;    /* [T][Hk+Gk+Gv] fused output (phi3) */
    float *att;    /* [T][Hv] */
    float *o;      /* [T][E] */
    float *g;      /* [T][max(F, Fe, Fs, 2F)] */
    float *u;      /* [T][max(F, Fe, Fs)] */
    void *act;     /* activation conversion workspace */
    float *scores; /* [nth][slm_nn_attn_scratch_floats(n_ctx)] */
    float *rope_cache; /* [SLM_MAX_HEAD_DIM] */
    float *router; /* [T][n_expert] */
    float *probs;  /* [n_expert] */
    int32_t *sel;  /* [T][n_used] */
    float *selw;   /* [T][n_used] */
    int32_t *erows;/* [T] tokens routed to the current expert */
    int32_t *eslot;/* [T] their rank slot */
    float *ex;     /* [T][E] gathered expert inputs */
    float *ey;     /* [T][n_used][E] expert outputs by rank */
    float *shx;    /* [T] shared-expert gate logits */
    /* Optional observer of matrix-multiplication inputs (imatrix collection,
     * compress/imatrix_collect.c): called before each layer matmul with the
     * layer, the tensor name after "blk.N." ("attn_q.weight",
     * "ffn_up_exps.weight"...), the expert (-1 for dense matrices) and n_tok
     * input rows of n_in floats at stride ld (for an expert: the tokens
     * routed to it). NULL (the default) costs nothing. The output head and
     * the MoE router are not observed. */
    void (*observe)(void *user, int layer, const char *tensor, int expert, const float *x, int64_t ld,
                    int64_t n_tok, int64_t n_in);
    void *observe_user;
    /* Optional observer of the residual stream (layer pruning,
     * compress/prune.c), also given observe_user: called with layer il and
     * the n_tok rows x[n_tok][n_embd] before block il runs, and with
     * il = n_layer after the last block. NULL (the default) costs nothing. */
    void (*observe_resid)(void *user, int layer, const float *x, int64_t n_tok, int64_t n_embd);
} slm_state;

/* Allocate the KV cache (kv_type F16 or F32) and scratch for n_batch tokens
 * per forward and a pool of n_threads. */
slm_status slm_state_new(const slm_model *m, uint32_t n_ctx, uint32_t n_batch, slm_type kv_type,
                         int n_threads, slm_state **out);
void slm_state_free(slm_state *s);
/* Bytes slm_state_new would allocate (for describe). */
uint64_t slm_state_bytes(const slm_model *m, uint32_t n_ctx, uint32_t n_batch, slm_type kv_type,
                         int n_threads, uint64_t *kv_bytes);

/* One forward pass over n <= n_batch tokens at positions pos0..pos0+n-1
 * (ids already validated, pos0+n <= n_ctx). Writes K/V into the cache.
 * Logits of tokens first_logit..n-1 go to rows 0.. of `logits` (n_vocab
 * floats each); first_logit >= n computes none. Cannot fail. */
void slm_forward(slm_state *s, const int32_t *ids, uint32_t n, uint32_t pos0, uint32_t first_logit,
                 float *logits);

/* One sequence of a multi-sequence forward: n tokens ids[0..n) at positions
 * pos0..pos0+n-1 that attend to, and are appended to, kv's cache. Rows
 * first_out..n-1 produce output (first_out = n: none). */
typedef struct slm_seq {
    slm_state *kv;
    const int32_t *ids;
    uint32_t n, pos0, first_out;
} slm_seq;

/* One forward pass over the rows of n_seq sequences, packed in order
 * (sum of n <= s->n_batch): every weight matrix is applied once to all rows,
 * while RoPE, the KV store and attention run per sequence against its own
 * cache. s supplies the scratch and the pool; every kv must be a state of
 * the same model with n_ctx <= s->n_ctx (the attention scratch), and
 * pos0 + n <= its n_ctx (validated by the caller). The output rows, in
 * sequence order, get logits (n_vocab floats each) if logits is non-NULL;
 * either way s->h holds their final-norm hidden states ([n_out][n_embd])
 * on return. slm_forward is the one-sequence case. Cannot fail. */
void slm_forward_seqs(slm_state *s, const slm_seq *seqs, uint32_t n_seq, float *logits);

#endif
