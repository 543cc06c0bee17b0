/* trainer.h — training a llama-architecture model in F32 (issue 5).
 *
 * Owns: the training model (parameters, gradients and AdamW moments in four
 * blocks with one layout, carved by a named tensor table), the activations
 * kept for backward (one block carved by a named table), each layer's
 * *_forward / *_backward pair (backward accumulates with +=, llm.c style),
 * AdamW, the LR schedule, clipping, checkpoints, the GGUF export and the
 * token data. Does not own tokenization rules (src/tok) or inference
 * (src/model): a saved model is a plain llama GGUF that slm_model_load reads.
 *
 * Conventions match the inference engine exactly (src/model/forward.c):
 * weights are [n_out][n_in] row-major (GGUF ne = {n_in, n_out}); RMSNorm
 * y = x / sqrt(mean(x^2) + eps) * w; RoPE "normal" pairs (2i, 2i+1) with
 * angles built by repeated float multiplication as ggml does; causal
 * attention scaled by 1/sqrt(head_dim); SwiGLU silu(gate) * up; output tied
 * to token_embd when tied.
 */
#ifndef SLM_TRAIN_TRAINER_H
#define SLM_TRAIN_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "base/pool.h"
#include "sample/rng.h"
#include "slm.h"

/* Per-phase wall time of forward/backward/optimizer (seconds, summed over
 * calls) when slm_tmodel.prof_on: SLM_TRAIN_PROFILE=FILE makes slm_train
 * write the table to FILE at the end. */
enum {
    SLM_TP_EMBED, SLM_TP_NORM, SLM_TP_MM_QKV, SLM_TP_ROPE, SLM_TP_ATTN, SLM_TP_MM_O,
    SLM_TP_RESID, SLM_TP_MM_FFN, SLM_TP_SWIGLU, SLM_TP_MM_OUT, SLM_TP_XENT,
    SLM_TP_B_XENT, SLM_TP_B_MM_OUT, SLM_TP_B_NORM, SLM_TP_B_MM_FFN, SLM_TP_B_SWIGLU,
    SLM_TP_B_MM_O, SLM_TP_B_ATTN, SLM_TP_B_ROPE, SLM_TP_B_MM_QKV, SLM_TP_B_EMBED, SLM_TP_ZERO,
    SLM_TP_GRADNORM, SLM_TP_ADAMW, SLM_TP_DATA, SLM_TP_N
};
extern const char *const slm_tprof_names[SLM_TP_N];
double slm_tprof_now(void);

/* Model shape. head_dim = n_embd / n_head. */
typedef struct slm_tconfig {
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    int tied;          /* 1: output = token_embd */
    float eps;         /* RMSNorm epsilon (1e-5) */
    float rope_base;   /* 10000 */
} slm_tconfig;

/* Offsets (in floats) of one block's tensors inside a parameter-shaped
 * block; the same offsets address parameters, gradients and both moments. */
typedef struct slm_tlayer {
    size_t attn_norm; /* [E] */
    size_t wq;        /* [H*hd][E] */
    size_t wk;        /* [G*hd][E] */
    size_t wv;        /* [G*hd][E] */
    size_t wo;        /* [E][H*hd] */
    size_t ffn_norm;  /* [E] */
    size_t gate;      /* [F][E] */
    size_t up;        /* [F][E] */
    size_t down;      /* [E][F] */
} slm_tlayer;

/* One named tensor of the parameter table. */
typedef struct slm_ttensor {
    char name[48];    /* GGUF name, e.g. "blk.3.attn_q.weight" */
    int64_t n_out;    /* rows (1 for vectors) */
    int64_t n_in;     /* elements per row */
    size_t off;       /* offset in floats */
    int decay;        /* 1: weight decay applies (matrices) */
} slm_ttensor;

/* Activations of one layer kept for backward; all [B*T][...] row-major. */
typedef struct slm_tacts_layer {
    float *x;       /* [BT][E] residual stream entering the layer */
    float *rs1;     /* [BT] 1/rms of x */
    float *h1;      /* [BT][E] normed x (input of Q/K/V) */
    float *q;       /* [BT][H*hd] after RoPE */
    float *k;       /* [BT][G*hd] after RoPE */
    float *v;       /* [BT][G*hd] */
    float *p;       /* [B][H][T][T] attention probabilities (causal, upper part 0) */
    float *att;     /* [BT][H*hd] attention output (input of wo) */
    float *x2;      /* [BT][E] residual after attention */
    float *rs2;     /* [BT] */
    float *h2;      /* [BT][E] */
    float *g;       /* [BT][F] gate before SiLU */
    float *u;       /* [BT][F] up */
    float *a;       /* [BT][F] silu(g) * u (input of down) */
} slm_tacts_layer;

typedef struct slm_tmodel {
    slm_tconfig c;
    int B, T;                  /* micro-batch shape the activations are sized for */
    size_t n_params;           /* floats in each parameter-shaped block */
    float *params, *grads, *m, *v;
    slm_ttensor *tensors;      /* the named table, n_tensors rows */
    int n_tensors;
    size_t tok_embd, output_norm, output; /* offsets; output == tok_embd when tied */
    slm_tlayer *layers;        /* n_layer */
    /* activations (one block) */
    float *acts;
    size_t n_acts;
    slm_tacts_layer *al;       /* n_layer */
    float *xf;                 /* [BT][E] final residual */
    float *rsf;                /* [BT] */
    float *hf;                 /* [BT][E] normed final */
    float *logits;             /* [BT][V]; after backward starts, d(logits) */
    float *rope;               /* [T][hd] cos,sin pairs */
    /* gradient scratch (one set, reused per layer) */
    float *dx;                 /* [BT][E] gradient of the residual stream */
    float *dh;                 /* [BT][E] */
    float *dq, *dk, *dv;       /* [BT][H*hd], [BT][G*hd] x2 */
    float *datt;               /* [BT][H*hd] */
    float *dg, *du, *da;       /* [BT][F] */
    float *dp;                 /* [nth][SLM_TL_ATTN_SCRATCH(T)] attention scratch */
    float *losses;             /* [BT] per-token loss of the last forward */
    slm_pool *pool;
    int n_threads;
    int prof_on;               /* 1: accumulate prof[] */
    double prof[SLM_TP_N];     /* seconds per phase */
    float *lse;                /* [BT] log-sum-exp of each logits row (last forward with targets) */
    float *dwn;                /* [nth][E] per-thread RMSNorm weight-gradient partials */
} slm_tmodel;

/* Allocate for micro-batches of B x T (T <= n_ctx) with n_threads threads.
 * Parameters are zero until slm_tmodel_init. Errors: SLM_ERR_ARG (bad
 * shape, named), SLM_ERR_NOMEM. */
slm_status slm_tmodel_new(const slm_tconfig *c, int B, int T, int n_threads, slm_tmodel **out);
void slm_tmodel_free(slm_tmodel *m);
/* N(0, 0.02) matrices (residual projections wo, down scaled by
 * 1/sqrt(2*n_layer), GPT-2's rule), norms 1; m and v zeroed. */
void slm_tmodel_init(slm_tmodel *m, uint64_t seed);
const slm_ttensor *slm_tmodel_find(const slm_tmodel *m, const char *name);

/* Forward over ids [B*T]; targets [B*T] (may be NULL: logits only). Returns
 * the mean cross-entropy over the B*T positions (0 without targets). */
float slm_tmodel_forward(slm_tmodel *m, const int32_t *ids, const int32_t *targets);
/* Backward of the last forward (targets were given): grads += d(loss *
 * scale)/d(params). Gradients are zeroed only by slm_tmodel_zero_grad. */
void slm_tmodel_backward(slm_tmodel *m, const int32_t *ids, const int32_t *targets, float scale);
void slm_tmodel_zero_grad(slm_tmodel *m);
/* Backward from a loss gradient the caller wrote into m->logits ([B*T][V],
 * d(loss)/d(logits) already scaled as wanted) after a forward: grads +=.
 * slm_tmodel_backward is the cross-entropy gradient followed by this
 * (distillation, src/train/distill.c, supplies its own). */
void slm_tmodel_backward_logits(slm_tmodel *m, const int32_t *ids);

/* ---- layer pairs (exposed for the gradient checks) ----
 * BT rows. Backward functions ADD into their input gradients. */
void slm_tl_rmsnorm_forward(float *y, float *rs, const float *x, const float *w, int BT, int n,
                            float eps);
void slm_tl_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                             const float *rs, const float *w, int BT, int n);
/* y[BT][n_out] = x[BT][n_in] W^T. pool (may be NULL) is used only by the
 * fallback kernel; OpenBLAS uses its own threads (slm_tl_set_threads). */
void slm_tl_matmul_forward(slm_pool *pool, float *y, const float *x, const float *w, int BT,
                           int n_in, int n_out);
void slm_tl_matmul_backward(slm_pool *pool, float *dx, float *dw, const float *dy, const float *x,
                            const float *w, int BT, int n_in, int n_out);
/* 1 (default): OpenBLAS when built with it; 0: our pool-threaded loops (A/B). */
extern int slm_tl_use_blas;
/* RoPE in place on [BT][n_head*hd] with the table [T][hd] of (cos, sin) pairs. */
void slm_tl_rope_table(float *tab, int T, int hd, float base);
void slm_tl_rope_forward(float *x, const float *tab, int B, int T, int n_head, int hd);
void slm_tl_rope_backward(float *dx, const float *tab, int B, int T, int n_head, int hd);
/* Causal GQA attention. q [BT][H*hd], k,v [BT][G*hd] -> out [BT][H*hd];
 * p [B][H][T][T]. pool may be NULL (one thread). scratch: SLM_TL_ATTN_SCRATCH
 * (T) floats per thread (the BLAS path works on blocks of SLM_TL_ATTN_BLOCK
 * query rows; the scalar path needs T). */
#define SLM_TL_ATTN_BLOCK 64
#define SLM_TL_ATTN_SCRATCH(T) ((size_t)(T) * ((T) < SLM_TL_ATTN_BLOCK ? (T) : SLM_TL_ATTN_BLOCK))
void slm_tl_attention_forward(slm_pool *pool, float *out, float *p, const float *q,
                              const float *k, const float *v, int B, int T, int H, int G, int hd);
void slm_tl_attention_backward(slm_pool *pool, float *dq, float *dk, float *dv, const float *dout,
                               const float *p, const float *q, const float *k, const float *v,
                               int B, int T, int H, int G, int hd, float *scratch);
/* a = silu(g) * u */
void slm_tl_swiglu_forward(float *a, const float *g, const float *u, size_t n);
void slm_tl_swiglu_backward(float *dg, float *du, const float *da, const float *g, const float *u,
                            size_t n);
/* Softmax cross-entropy: logits [BT][V] -> losses [BT]; backward overwrites
 * logits with scale * (softmax - onehot). */
void slm_tl_xent_forward(float *losses, const float *logits, const int32_t *targets, int BT, int V);
void slm_tl_xent_backward(float *logits, const int32_t *targets, int BT, int V, float scale);
/* Threads for the matrix products (OpenBLAS or our fallback). */
void slm_tl_set_threads(int n);

/* ---- optimisation (adamw.c) ---- */
typedef struct slm_adamw {
    float lr, beta1, beta2, eps, weight_decay;
} slm_adamw;
/* Global L2 norm of the gradients (double accumulation). */
float slm_tmodel_grad_norm(const slm_tmodel *m);
/* One AdamW step number t (1-based) with learning rate lr; grads scaled by
 * gscale first (clipping). */
void slm_tmodel_adamw(slm_tmodel *m, const slm_adamw *o, float lr, float gscale, int64_t t);
/* Linear warmup over `warmup` steps to lr, cosine decay to lr*min_frac at
 * n_steps. step is 0-based. */
float slm_lr_schedule(int64_t step, int64_t n_steps, int64_t warmup, float lr, float min_frac);

/* ---- files (io.c) ---- */
/* Write the model as a llama GGUF, tokenizer.* keys copied from tok_path. */
slm_status slm_tmodel_save_gguf(const slm_tmodel *m, const char *tok_path, const char *name,
                                const char *path);

#endif
