/* test_model.c — unit tests of the model runtime that need nothing outside
 * the repository: tiny models are written with the GGUF writer, then
 * loaded and run. Expectations come from an independent float64 forward
 * pass written here from the architecture descriptions (oracle), and from
 * invariants (batched == one-by-one, threads agree, truncate + replay).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/pool.h"
#include "gguf/gguf.h"
#include "harness.h"
#include "slm.h"

/* ---- building tiny models ---- */

typedef struct spec {
    const char *arch;
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    int n_expert, n_used, n_ff_exp, n_ff_shexp;
    int n_swa;
    float rope_base, rope_base_swa;
    float rope_linear;      /* > 0: rope.scaling.type linear with this factor */
    const char *omit;       /* tensor name left out */
    const char *bad_shape;  /* tensor written with one row too many */
    int bad_head_kv;        /* write head_count_kv that does not divide */
    int tied;
    int with_vocab;
    uint32_t seed;
} spec;

typedef struct wt {
    char name[64];
    int n_dims;
    int64_t ne[3];
    float *data;
} wt;

typedef struct tmodel {
    spec sp;
    wt w[256];
    int n;
} tmodel;

static uint32_t rng_state;
static float frand(void) /* uniform in [-1, 1) */
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) & 0xFFFFFF) / 8388608.0f - 1.0f;
}

static wt *add_w(tmodel *tm, const char *name, int n_dims, int64_t a, int64_t b, int64_t c,
                 float scale, float offset)
{
    wt *w = &tm->w[tm->n++];
    snprintf(w->name, sizeof w->name, "%s", name);
    w->n_dims = n_dims;
    w->ne[0] = a;
    w->ne[1] = b;
    w->ne[2] = c;
    size_t n = (size_t)(a * b * c);
    w->data = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) w->data[i] = offset + scale * frand();
    return w;
}

static const float *get_w(const tmodel *tm, const char *name)
{
    for (int i = 0; i < tm->n; i++)
        if (strcmp(tm->w[i].name, name) == 0) return tm->w[i].data;
    return NULL;
}

static int is_arch(const spec *s, const char *a) { return strcmp(s->arch, a) == 0; }

static void make_weights(tmodel *tm, const spec *s)
{
    memset(tm, 0, sizeof *tm);
    tm->sp = *s;
    rng_state = s->seed ? s->seed : 12345;
    const int E = s->n_embd, hd = E / s->n_head, Hk = s->n_head * hd, Gk = s->n_head_kv * hd;
    const int gemma = is_arch(s, "gemma3"), qwen = strncmp(s->arch, "qwen2", 5) == 0;
    const int qk_norm = gemma || strncmp(s->arch, "qwen3", 5) == 0;
    char nm[64];
    add_w(tm, "token_embd.weight", 2, E, s->n_vocab, 1, 0.5f, 0);
    add_w(tm, "output_norm.weight", 1, E, 1, 1, 0.1f, 1.0f);
    if (!s->tied) add_w(tm, "output.weight", 2, E, s->n_vocab, 1, 0.2f, 0);
    for (int il = 0; il < s->n_layer; il++) {
#define N(fmt) (snprintf(nm, sizeof nm, "blk.%d." fmt, il), nm)
        add_w(tm, N("attn_norm.weight"), 1, E, 1, 1, 0.1f, 1.0f);
        add_w(tm, N("attn_q.weight"), 2, E, Hk, 1, 0.3f, 0);
        add_w(tm, N("attn_k.weight"), 2, E, Gk, 1, 0.3f, 0);
        add_w(tm, N("attn_v.weight"), 2, E, Gk, 1, 0.3f, 0);
        add_w(tm, N("attn_output.weight"), 2, Hk, E, 1, 0.2f, 0);
        if (qwen) {
            add_w(tm, N("attn_q.bias"), 1, Hk, 1, 1, 0.1f, 0);
            add_w(tm, N("attn_k.bias"), 1, Gk, 1, 1, 0.1f, 0);
            add_w(tm, N("attn_v.bias"), 1, Gk, 1, 1, 0.1f, 0);
        }
        if (qk_norm) {
            add_w(tm, N("attn_q_norm.weight"), 1, hd, 1, 1, 0.1f, 1.0f);
            add_w(tm, N("attn_k_norm.weight"), 1, hd, 1, 1, 0.1f, 1.0f);
        }
        if (gemma) {
            add_w(tm, N("post_attention_norm.weight"), 1, E, 1, 1, 0.1f, 1.0f);
            add_w(tm, N("post_ffw_norm.weight"), 1, E, 1, 1, 0.1f, 1.0f);
        }
        add_w(tm, N("ffn_norm.weight"), 1, E, 1, 1, 0.1f, 1.0f);
        if (s->n_expert) {
            add_w(tm, N("ffn_gate_inp.weight"), 2, E, s->n_expert, 1, 0.5f, 0);
            add_w(tm, N("ffn_gate_exps.weight"), 3, E, s->n_ff_exp, s->n_expert, 0.3f, 0);
            add_w(tm, N("ffn_up_exps.weight"), 3, E, s->n_ff_exp, s->n_expert, 0.3f, 0);
            add_w(tm, N("ffn_down_exps.weight"), 3, s->n_ff_exp, E, s->n_expert, 0.3f, 0);
            if (s->n_ff_shexp) {
                add_w(tm, N("ffn_gate_inp_shexp.weight"), 1, E, 1, 1, 0.3f, 0);
                add_w(tm, N("ffn_gate_shexp.weight"), 2, E, s->n_ff_shexp, 1, 0.3f, 0);
                add_w(tm, N("ffn_up_shexp.weight"), 2, E, s->n_ff_shexp, 1, 0.3f, 0);
                add_w(tm, N("ffn_down_shexp.weight"), 2, s->n_ff_shexp, E, 1, 0.3f, 0);
            }
        } else {
            add_w(tm, N("ffn_gate.weight"), 2, E, s->n_ff, 1, 0.3f, 0);
            add_w(tm, N("ffn_up.weight"), 2, E, s->n_ff, 1, 0.3f, 0);
            add_w(tm, N("ffn_down.weight"), 2, s->n_ff, E, 1, 0.2f, 0);
        }
#undef N
    }
}

static void free_weights(tmodel *tm)
{
    for (int i = 0; i < tm->n; i++) free(tm->w[i].data);
    tm->n = 0;
}

static void temp_path(char *buf, size_t cap, const char *tag)
{
    snprintf(buf, cap, "%s/test_model_%s_%d.gguf", SLM_BINARY_DIR, tag, (int)getpid());
}

static int write_model(const tmodel *tm, const char *path)
{
    const spec *s = &tm->sp;
    slm_gguf_writer *w;
    if (slm_gguf_writer_new(&w) != SLM_OK) return 0;
    char k[128];
#define KEY(suffix) (snprintf(k, sizeof k, "%s.%s", s->arch, suffix), k)
    slm_gguf_set_str(w, "general.architecture", s->arch);
    slm_gguf_set_str(w, "general.name", "unit-test-model");
    slm_gguf_set_u32(w, KEY("context_length"), (uint32_t)s->n_ctx);
    slm_gguf_set_u32(w, KEY("embedding_length"), (uint32_t)s->n_embd);
    slm_gguf_set_u32(w, KEY("block_count"), (uint32_t)s->n_layer);
    slm_gguf_set_u32(w, KEY("feed_forward_length"), (uint32_t)s->n_ff);
    slm_gguf_set_u32(w, KEY("attention.head_count"), (uint32_t)s->n_head);
    slm_gguf_set_u32(w, KEY("attention.head_count_kv"),
                     (uint32_t)(s->bad_head_kv ? s->n_head - 1 : s->n_head_kv));
    slm_gguf_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
    slm_gguf_set_f32(w, KEY("rope.freq_base"), s->rope_base > 0 ? s->rope_base : 10000.0f);
    if (s->rope_base_swa > 0) slm_gguf_set_f32(w, KEY("rope.freq_base_swa"), s->rope_base_swa);
    if (s->rope_linear > 0) {
        slm_gguf_set_str(w, KEY("rope.scaling.type"), "linear");
        slm_gguf_set_f32(w, KEY("rope.scaling.factor"), s->rope_linear);
    }
    if (s->n_expert) {
        slm_gguf_set_u32(w, KEY("expert_count"), (uint32_t)s->n_expert);
        slm_gguf_set_u32(w, KEY("expert_used_count"), (uint32_t)s->n_used);
        slm_gguf_set_u32(w, KEY("expert_feed_forward_length"), (uint32_t)s->n_ff_exp);
        if (s->n_ff_shexp)
            slm_gguf_set_u32(w, KEY("expert_shared_feed_forward_length"), (uint32_t)s->n_ff_shexp);
    }
    if (s->n_swa) slm_gguf_set_u32(w, KEY("attention.sliding_window"), (uint32_t)s->n_swa);
#undef KEY
    char **toks = NULL;
    if (s->with_vocab) {
        toks = malloc((size_t)s->n_vocab * sizeof *toks);
        float *scores = malloc((size_t)s->n_vocab * sizeof(float));
        int32_t *types = malloc((size_t)s->n_vocab * sizeof(int32_t));
        for (int i = 0; i < s->n_vocab; i++) {
            toks[i] = malloc(16);
            if (i == 0) strcpy(toks[i], "<unk>");
            else if (i == 1) strcpy(toks[i], "<s>");
            else if (i == 2) strcpy(toks[i], "</s>");
            else if (i < 3 + 26) snprintf(toks[i], 16, "%c", 'a' + (i - 3));
            else snprintf(toks[i], 16, "\xe2\x96\x81w%d", i);
            scores[i] = -(float)i;
            types[i] = i == 0 ? 2 : (i < 3 ? 3 : 1);
        }
        slm_gguf_set_str(w, "tokenizer.ggml.model", "llama");
        slm_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks,
                             (uint64_t)s->n_vocab);
        slm_gguf_set_arr_f32(w, "tokenizer.ggml.scores", scores, (uint64_t)s->n_vocab);
        slm_gguf_set_arr_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)s->n_vocab);
        slm_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
        slm_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
        free(scores);
        free(types);
    }
    for (int i = 0; i < tm->n; i++) {
        const wt *t = &tm->w[i];
        if (s->omit && strcmp(s->omit, t->name) == 0) continue;
        int64_t ne[3] = {t->ne[0], t->ne[1], t->ne[2]};
        if (s->bad_shape && strcmp(s->bad_shape, t->name) == 0 && t->n_dims >= 2) ne[1] -= 1;
        slm_gguf_add_tensor(w, t->name, SLM_TYPE_F32, t->n_dims, ne, t->data,
                            (uint64_t)(ne[0] * ne[1] * ne[2]) * 4);
    }
    slm_status st = slm_gguf_writer_write(w, path);
    slm_gguf_writer_free(w);
    if (toks) {
        for (int i = 0; i < s->n_vocab; i++) free(toks[i]);
        free(toks);
    }
    return st == SLM_OK;
}

/* ---- float64 oracle: the architectures as documented (README section 2) ---- */

static void o_rmsnorm(double *y, const double *x, const float *w, int n)
{
    double ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    double sc = 1.0 / sqrt(ss / n + 1e-5);
    for (int i = 0; i < n; i++) y[i] = x[i] * sc * (w ? w[i] : 1.0);
}

static void o_matvec(double *y, const float *w, const double *x, int n_in, int n_out)
{
    for (int r = 0; r < n_out; r++) {
        double s = 0;
        for (int i = 0; i < n_in; i++) s += (double)w[(size_t)r * n_in + i] * x[i];
        y[r] = s;
    }
}

static double o_rope_scale = 1.0; /* linear scaling: positions divided by the factor */

static void o_rope(double *v, int hd, int pos, double base, int neox)
{
    for (int i = 0; i < hd / 2; i++) {
        double th = pos * pow(base, -2.0 * i / hd) / o_rope_scale;
        int a = neox ? i : 2 * i, b = neox ? i + hd / 2 : 2 * i + 1;
        double x0 = v[a], x1 = v[b];
        v[a] = x0 * cos(th) - x1 * sin(th);
        v[b] = x0 * sin(th) + x1 * cos(th);
    }
}

static double o_silu(double x) { return x / (1 + exp(-x)); }
static double o_gelu(double x)
{
    return 0.5 * x * (1 + tanh(0.7978845608028654 * x * (1 + 0.044715 * x * x)));
}

static void o_ffn(const tmodel *tm, int il, const double *h, double *out, int gelu)
{
    const spec *s = &tm->sp;
    const int E = s->n_embd, F = s->n_ff;
    char nm[64];
    double *g = malloc(F * sizeof *g), *u = malloc(F * sizeof *u);
    snprintf(nm, sizeof nm, "blk.%d.ffn_gate.weight", il);
    o_matvec(g, get_w(tm, nm), h, E, F);
    snprintf(nm, sizeof nm, "blk.%d.ffn_up.weight", il);
    o_matvec(u, get_w(tm, nm), h, E, F);
    for (int i = 0; i < F; i++) g[i] = (gelu ? o_gelu(g[i]) : o_silu(g[i])) * u[i];
    snprintf(nm, sizeof nm, "blk.%d.ffn_down.weight", il);
    o_matvec(out, get_w(tm, nm), g, F, E);
    free(g);
    free(u);
}

static void o_moe(const tmodel *tm, int il, const double *h, double *out)
{
    const spec *s = &tm->sp;
    const int E = s->n_embd, X = s->n_expert, Fe = s->n_ff_exp;
    char nm[64];
    double lg[16], pr[16];
    snprintf(nm, sizeof nm, "blk.%d.ffn_gate_inp.weight", il);
    o_matvec(lg, get_w(tm, nm), h, E, X);
    double mx = lg[0], sum = 0;
    for (int e = 1; e < X; e++) mx = lg[e] > mx ? lg[e] : mx;
    for (int e = 0; e < X; e++) sum += pr[e] = exp(lg[e] - mx);
    for (int e = 0; e < X; e++) pr[e] /= sum;
    int used[16] = {0}, sel[16];
    double wsum = 0;
    for (int k = 0; k < s->n_used; k++) {
        int b = -1;
        for (int e = 0; e < X; e++)
            if (!used[e] && (b < 0 || pr[e] > pr[b])) b = e;
        used[b] = 1;
        sel[k] = b;
        wsum += pr[b];
    }
    const int norm = !is_arch(s, "qwen2moe");
    for (int i = 0; i < E; i++) out[i] = 0;
    double *g = malloc(Fe * sizeof *g), *u = malloc(Fe * sizeof *u), *d = malloc(E * sizeof *d);
    for (int k = 0; k < s->n_used; k++) {
        int e = sel[k];
        double wk = norm ? pr[e] / wsum : pr[e];
        snprintf(nm, sizeof nm, "blk.%d.ffn_gate_exps.weight", il);
        o_matvec(g, get_w(tm, nm) + (size_t)e * E * Fe, h, E, Fe);
        snprintf(nm, sizeof nm, "blk.%d.ffn_up_exps.weight", il);
        o_matvec(u, get_w(tm, nm) + (size_t)e * E * Fe, h, E, Fe);
        for (int i = 0; i < Fe; i++) g[i] = o_silu(g[i]) * u[i];
        snprintf(nm, sizeof nm, "blk.%d.ffn_down_exps.weight", il);
        o_matvec(d, get_w(tm, nm) + (size_t)e * E * Fe, g, Fe, E);
        for (int i = 0; i < E; i++) out[i] += wk * d[i];
    }
    free(g);
    free(u);
    free(d);
    if (s->n_ff_shexp) {
        const int Fs = s->n_ff_shexp;
        double gl;
        snprintf(nm, sizeof nm, "blk.%d.ffn_gate_inp_shexp.weight", il);
        o_matvec(&gl, get_w(tm, nm), h, E, 1);
        double gate = 1 / (1 + exp(-gl));
        double *g2 = malloc(Fs * sizeof *g2), *u2 = malloc(Fs * sizeof *u2),
               *d2 = malloc(E * sizeof *d2);
        snprintf(nm, sizeof nm, "blk.%d.ffn_gate_shexp.weight", il);
        o_matvec(g2, get_w(tm, nm), h, E, Fs);
        snprintf(nm, sizeof nm, "blk.%d.ffn_up_shexp.weight", il);
        o_matvec(u2, get_w(tm, nm), h, E, Fs);
        for (int i = 0; i < Fs; i++) g2[i] = o_silu(g2[i]) * u2[i];
        snprintf(nm, sizeof nm, "blk.%d.ffn_down_shexp.weight", il);
        o_matvec(d2, get_w(tm, nm), g2, Fs, E);
        for (int i = 0; i < E; i++) out[i] += gate * d2[i];
        free(g2);
        free(u2);
        free(d2);
    }
}

/* Logits [n][n_vocab] for ids at positions 0..n-1. */
static double *oracle(const tmodel *tm, const int32_t *ids, int n)
{
    const spec *s = &tm->sp;
    const int E = s->n_embd, V = s->n_vocab, nh = s->n_head, nkv = s->n_head_kv, hd = E / nh;
    const int gemma = is_arch(s, "gemma3"), neox = !is_arch(s, "llama"),
              qwen = strncmp(s->arch, "qwen2", 5) == 0;
    const int qk_norm = gemma || strncmp(s->arch, "qwen3", 5) == 0;
    double *x = calloc((size_t)n * E, sizeof *x), *K = calloc((size_t)n * nkv * hd, sizeof *K),
           *Vc = calloc((size_t)n * nkv * hd, sizeof *Vc), *h = malloc(E * sizeof *h),
           *q = malloc(nh * hd * sizeof *q), *att = malloc(nh * hd * sizeof *att),
           *o = malloc(E * sizeof *o), *sc = malloc(n * sizeof *sc);
    double *logits = malloc((size_t)n * V * sizeof *logits);
    const float *emb = get_w(tm, "token_embd.weight");
    o_rope_scale = s->rope_linear > 0 ? s->rope_linear : 1.0;
    char nm[64];
    for (int t = 0; t < n; t++)
        for (int i = 0; i < E; i++) x[t * E + i] = emb[(size_t)ids[t] * E + i] * (gemma ? sqrt(E) : 1.0);
    for (int il = 0; il < s->n_layer; il++) {
#define W(fmt) (snprintf(nm, sizeof nm, "blk.%d." fmt, il), get_w(tm, nm))
        const int swa = gemma && s->n_swa && (il % 6) < 5;
        const double base = swa ? s->rope_base_swa : s->rope_base;
        /* K/V for all positions first (causal attention reads earlier ones) */
        for (int t = 0; t < n; t++) {
            o_rmsnorm(h, x + t * E, W("attn_norm.weight"), E);
            double *k = K + (size_t)t * nkv * hd, *v = Vc + (size_t)t * nkv * hd;
            o_matvec(k, W("attn_k.weight"), h, E, nkv * hd);
            o_matvec(v, W("attn_v.weight"), h, E, nkv * hd);
            if (qwen) {
                const float *bk = W("attn_k.bias");
                for (int i = 0; i < nkv * hd; i++) k[i] += bk[i];
                const float *bv = W("attn_v.bias");
                for (int i = 0; i < nkv * hd; i++) v[i] += bv[i];
            }
            for (int j = 0; j < nkv; j++) {
                if (qk_norm) o_rmsnorm(k + j * hd, k + j * hd, W("attn_k_norm.weight"), hd);
                o_rope(k + j * hd, hd, t, base, neox);
            }
        }
        for (int t = 0; t < n; t++) {
            double *xt = x + t * E;
            o_rmsnorm(h, xt, W("attn_norm.weight"), E);
            o_matvec(q, W("attn_q.weight"), h, E, nh * hd);
            if (qwen) {
                const float *bq = W("attn_q.bias");
                for (int i = 0; i < nh * hd; i++) q[i] += bq[i];
            }
            for (int hh = 0; hh < nh; hh++) {
                double *qh = q + hh * hd;
                if (qk_norm) o_rmsnorm(qh, qh, W("attn_q_norm.weight"), hd);
                o_rope(qh, hd, t, base, neox);
                const int kvh = hh / (nh / nkv);
                int j0 = swa && t - s->n_swa + 1 > 0 ? t - s->n_swa + 1 : 0;
                double mx = -INFINITY, sum = 0;
                for (int j = j0; j <= t; j++) {
                    double d = 0;
                    for (int i = 0; i < hd; i++) d += qh[i] * K[((size_t)j * nkv + kvh) * hd + i];
                    sc[j] = d / sqrt(hd);
                    mx = sc[j] > mx ? sc[j] : mx;
                }
                for (int j = j0; j <= t; j++) sum += sc[j] = exp(sc[j] - mx);
                for (int i = 0; i < hd; i++) {
                    double a = 0;
                    for (int j = j0; j <= t; j++) a += sc[j] / sum * Vc[((size_t)j * nkv + kvh) * hd + i];
                    att[hh * hd + i] = a;
                }
            }
            o_matvec(o, W("attn_output.weight"), att, nh * hd, E);
            if (gemma) o_rmsnorm(o, o, W("post_attention_norm.weight"), E);
            for (int i = 0; i < E; i++) xt[i] += o[i];
            o_rmsnorm(h, xt, W("ffn_norm.weight"), E);
            if (s->n_expert) o_moe(tm, il, h, o);
            else o_ffn(tm, il, h, o, gemma);
            if (gemma) o_rmsnorm(o, o, W("post_ffw_norm.weight"), E);
            for (int i = 0; i < E; i++) xt[i] += o[i];
        }
#undef W
    }
    const float *out = s->tied ? emb : get_w(tm, "output.weight");
    for (int t = 0; t < n; t++) {
        o_rmsnorm(h, x + t * E, get_w(tm, "output_norm.weight"), E);
        o_matvec(logits + (size_t)t * V, out, h, E, V);
    }
    free(x); free(K); free(Vc); free(h); free(q); free(att); free(o); free(sc);
    return logits;
}

/* ---- helpers ---- */

static spec base_spec(void)
{
    spec s = {
        .arch = "llama", .n_embd = 64, .n_layer = 2, .n_head = 4, .n_head_kv = 2, .n_ff = 96,
        .n_vocab = 64, .n_ctx = 64, .rope_base = 10000.0f, .seed = 7,
    };
    return s;
}

static slm_model *build_and_load(const spec *s, tmodel *tm, const char *tag, slm_status *st_out)
{
    char path[512];
    temp_path(path, sizeof path, tag);
    make_weights(tm, s);
    if (!write_model(tm, path)) {
        fprintf(stderr, "cannot write %s: %s\n", path, slm_last_error());
        *st_out = SLM_ERR_IO;
        return NULL;
    }
    slm_model *m = NULL;
    slm_model_params mp = slm_model_default_params();
    *st_out = slm_model_load(path, &mp, &m);
    unlink(path);
    return m;
}

static slm_session *new_session(slm_model *m, uint32_t n_ctx, uint32_t n_batch, int threads,
                                int logits_all, slm_type kv)
{
    slm_session_params sp = slm_session_default_params();
    sp.n_ctx = n_ctx;
    sp.n_batch = n_batch;
    sp.n_threads = threads;
    sp.logits_all = logits_all;
    sp.kv_type = kv;
    slm_session *s = NULL;
    if (slm_session_new(m, &sp, &s) != SLM_OK) fprintf(stderr, "session: %s\n", slm_last_error());
    return s;
}

static const int32_t prompt[12] = {1, 5, 17, 33, 2, 60, 9, 9, 41, 3, 22, 63};

/* Compare our logits_all batch with the float64 oracle. */
static double oracle_diff(const spec *sp)
{
    tmodel tm;
    slm_status st;
    slm_model *m = build_and_load(sp, &tm, sp->arch, &st);
    if (!m) {
        fprintf(stderr, "%s: load failed: %s\n", sp->arch, slm_last_error());
        free_weights(&tm);
        return INFINITY;
    }
    slm_session *s = new_session(m, 64, 64, 2, 1, SLM_TYPE_F32);
    double worst = INFINITY;
    if (s && slm_session_decode(s, prompt, 12, NULL) == SLM_OK) {
        double *ref = oracle(&tm, prompt, 12);
        worst = 0;
        for (int t = 0; t < 12; t++) {
            const float *l = slm_session_logits(s, (size_t)t);
            for (int i = 0; i < sp->n_vocab; i++) {
                double d = fabs(l[i] - ref[(size_t)t * sp->n_vocab + i]);
                if (d > worst) worst = d;
            }
        }
        free(ref);
    }
    slm_session_free(s);
    slm_model_free(m);
    free_weights(&tm);
    printf("     %s: max abs diff vs float64 oracle %.2e\n", sp->arch, worst);
    return worst;
}

/* ---- tests ---- */

typedef struct pool_job {
    int counts[8];
    int bad_nth;
} pool_job;

static void pool_count(void *ctx, int ith, int nth)
{
    pool_job *j = ctx;
    if (nth != 3) j->bad_nth = 1;
    __atomic_fetch_add(&j->counts[ith], 1, __ATOMIC_RELAXED);
}

static void pool_runs_every_chunk_once_per_job(void)
{
    slm_pool *p;
    REQUIRE(slm_pool_new(3, &p) == SLM_OK, "pool");
    CHECK(slm_pool_n_threads(p) == 3, "threads");
    pool_job j;
    memset(&j, 0, sizeof j);
    for (int r = 0; r < 20000; r++) slm_pool_run(p, pool_count, &j);
    CHECK(!j.bad_nth, "nth passed through");
    for (int i = 0; i < 3; i++) CHECK(j.counts[i] == 20000, "chunk %d ran %d times", i, j.counts[i]);
    CHECK(j.counts[3] == 0, "no chunk beyond nth");
    slm_pool_free(p);
    slm_pool_free(NULL);
}

static void llama_matches_float64_oracle(void)
{
    spec sp = base_spec();
    double d = oracle_diff(&sp);
    CHECK(d < 1e-4, "max abs diff %.3g", d);
}

static void linear_rope_scaling_divides_positions(void)
{
    spec sp = base_spec();
    sp.rope_linear = 4.0f;
    double d = oracle_diff(&sp);
    CHECK(d < 1e-4, "max abs diff %.3g", d);
}

static void tied_output_uses_token_embd(void)
{
    spec sp = base_spec();
    sp.tied = 1;
    double d = oracle_diff(&sp);
    CHECK(d < 1e-4, "max abs diff %.3g", d);
}

static void qwen2moe_with_shared_expert_matches_oracle(void)
{
    spec sp = base_spec();
    sp.arch = "qwen2moe";
    sp.n_expert = 4;
    sp.n_used = 2;
    sp.n_ff_exp = 32;
    sp.n_ff_shexp = 48;
    sp.rope_base = 1e6f;
    double d = oracle_diff(&sp);
    CHECK(d < 1e-4, "max abs diff %.3g", d);
}

static void llama_moe_top3_of_6_matches_oracle(void)
{
    spec sp = base_spec();
    sp.n_expert = 6;
    sp.n_used = 3;
    sp.n_ff_exp = 32;
    double d = oracle_diff(&sp);
    CHECK(d < 1e-4, "max abs diff %.3g", d);
}

static void qwen3moe_with_qk_norms_matches_oracle(void)
{
    spec sp = base_spec();
    sp.arch = "qwen3moe";
    sp.n_expert = 8;
    sp.n_used = 2;
    sp.n_ff_exp = 32;
    sp.rope_base = 1e6f;
    double d = oracle_diff(&sp);
    CHECK(d < 1e-4, "max abs diff %.3g", d);
}

static void gemma3_local_global_layers_match_oracle(void)
{
    spec sp = base_spec();
    sp.arch = "gemma3";
    sp.n_layer = 7; /* layers 0-4 and 6 sliding, 5 global */
    sp.n_swa = 4;
    sp.rope_base = 1e6f;
    sp.rope_base_swa = 10000.0f;
    /* fp16-table GELU differs from exact GELU by ~1e-3 relative */
    double d = oracle_diff(&sp);
    CHECK(d < 5e-3, "max abs diff %.3g", d);
}

static void decode_one_by_one_equals_batched(void)
{
    spec sp = base_spec();
    tmodel tm;
    slm_status st;
    slm_model *m = build_and_load(&sp, &tm, "seq", &st);
    REQUIRE(m, "load: %s", slm_last_error());
    slm_session *a = new_session(m, 64, 64, 1, 1, SLM_TYPE_F32);
    slm_session *b = new_session(m, 64, 64, 1, 0, SLM_TYPE_F32);
    slm_session *c = new_session(m, 64, 5, 3, 1, SLM_TYPE_F32); /* chunks of 5, 3 threads */
    REQUIRE(a && b && c, "sessions");
    CHECK(slm_session_decode(a, prompt, 12, NULL) == SLM_OK, "%s", slm_last_error());
    CHECK(slm_session_decode(c, prompt, 12, NULL) == SLM_OK, "%s", slm_last_error());
    for (int t = 0; t < 12; t++) {
        const float *lb;
        CHECK(slm_session_decode(b, &prompt[t], 1, &lb) == SLM_OK, "%s", slm_last_error());
        const float *la = slm_session_logits(a, (size_t)t), *lc = slm_session_logits(c, (size_t)t);
        REQUIRE(la && lb && lc, "logits row %d", t);
        /* batched matmuls may use the 4-row kernels, which sum F32 in
         * another order: equal up to float rounding, not bit for bit */
        double dab = 0, dac = 0;
        for (int i = 0; i < 64; i++) {
            dab = fmax(dab, fabs(la[i] - lb[i]));
            dac = fmax(dac, fabs(la[i] - lc[i]));
        }
        CHECK(dab < 2e-5, "position %d: batched vs one by one differ by %.3g", t, dab);
        CHECK(dac < 2e-5, "position %d: n_batch 5 x 3 threads differs by %.3g", t, dac);
    }
    CHECK(slm_session_n_past(a) == 12 && slm_session_n_past(b) == 12, "n_past");
    CHECK(slm_session_logits(b, 0) == NULL, "logits_all off gives no rows");
    CHECK(slm_session_logits(a, 12) == NULL, "row past the call gives NULL");
    slm_session_free(a);
    slm_session_free(b);
    slm_session_free(c);
    slm_model_free(m);
    free_weights(&tm);
}

static void truncate_then_replay_gives_same_logits(void)
{
    spec sp = base_spec();
    tmodel tm;
    slm_status st;
    slm_model *m = build_and_load(&sp, &tm, "trunc", &st);
    REQUIRE(m, "load: %s", slm_last_error());
    slm_session *s = new_session(m, 32, 8, 2, 0, SLM_TYPE_F16);
    REQUIRE(s, "session");
    const float *l;
    float first[64];
    REQUIRE(slm_session_decode(s, prompt, 12, &l) == SLM_OK, "%s", slm_last_error());
    memcpy(first, l, sizeof first);
    CHECK(slm_session_truncate(s, 6) == SLM_OK, "truncate");
    CHECK(slm_session_n_past(s) == 6, "n_past after truncate is %u", slm_session_n_past(s));
    REQUIRE(slm_session_decode(s, prompt + 6, 6, &l) == SLM_OK, "%s", slm_last_error());
    CHECK(memcmp(first, l, sizeof first) == 0, "replayed logits differ");
    CHECK(slm_session_truncate(s, 0) == SLM_OK && slm_session_n_past(s) == 0, "clear");
    slm_session_free(s);
    slm_model_free(m);
    free_weights(&tm);
}

static void decode_reports_full_and_bad_ids_without_changing_state(void)
{
    spec sp = base_spec();
    tmodel tm;
    slm_status st;
    slm_model *m = build_and_load(&sp, &tm, "full", &st);
    REQUIRE(m, "load: %s", slm_last_error());
    slm_session *s = new_session(m, 8, 4, 1, 0, SLM_TYPE_F16);
    REQUIRE(s, "session");
    CHECK(slm_session_n_ctx(s) == 8, "n_ctx %u", slm_session_n_ctx(s));
    const float *l = (const float *)1;
    CHECK(slm_session_decode(s, prompt, 6, &l) == SLM_OK, "%s", slm_last_error());
    CHECK(slm_session_decode(s, prompt, 3, &l) == SLM_ERR_FULL, "3 more tokens into 2 free slots");
    CHECK(l == NULL, "logits NULL on failure");
    CHECK(strstr(slm_last_error(), "n_ctx 8") != NULL, "message: %s", slm_last_error());
    CHECK(slm_session_n_past(s) == 6, "n_past unchanged: %u", slm_session_n_past(s));
    int32_t bad[2] = {3, 64};
    CHECK(slm_session_decode(s, bad, 2, &l) == SLM_ERR_ARG, "id 64 of a 64-token vocabulary");
    CHECK(strstr(slm_last_error(), "64") != NULL, "message: %s", slm_last_error());
    int32_t neg = -1;
    CHECK(slm_session_decode(s, &neg, 1, &l) == SLM_ERR_ARG, "negative id");
    CHECK(slm_session_n_past(s) == 6, "n_past unchanged: %u", slm_session_n_past(s));
    CHECK(slm_session_decode(s, prompt, 2, &l) == SLM_OK && l, "exactly fills the context");
    slm_session_free(s);
    slm_model_free(m);
    free_weights(&tm);
}

static void decode_loop_allocates_nothing(void)
{
    spec sp = base_spec();
    sp.n_expert = 4;
    sp.n_used = 2;
    sp.n_ff_exp = 32;
    tmodel tm;
    slm_status st;
    slm_model *m = build_and_load(&sp, &tm, "alloc", &st);
    REQUIRE(m, "load: %s", slm_last_error());
    slm_session *s = new_session(m, 64, 16, 2, 1, SLM_TYPE_F16);
    REQUIRE(s, "session");
    const float *l;
    REQUIRE(slm_session_decode(s, prompt, 12, &l) == SLM_OK, "%s", slm_last_error());
    uint64_t before = slm_alloc_count();
    int32_t tok = 5;
    for (int i = 0; i < 20; i++) {
        REQUIRE(slm_session_decode(s, &tok, 1, &l) == SLM_OK, "%s", slm_last_error());
        tok = (tok * 7 + 3) % 64;
    }
    CHECK(slm_alloc_count() == before, "%llu allocations in 20 decode steps",
          (unsigned long long)(slm_alloc_count() - before));
    CHECK(slm_session_memory_bytes(s) > 0, "memory bytes");
    slm_session_free(s);
    slm_model_free(m);
    free_weights(&tm);
}

static void load_rejects_missing_tensor_naming_it(void)
{
    spec sp = base_spec();
    sp.omit = "blk.1.ffn_up.weight";
    tmodel tm;
    slm_status st;
    slm_model *m = build_and_load(&sp, &tm, "missing", &st);
    CHECK(m == NULL && st == SLM_ERR_FORMAT, "status %s", slm_status_name(st));
    CHECK(strstr(slm_last_error(), "blk.1.ffn_up.weight") != NULL, "message: %s", slm_last_error());
    CHECK(strstr(slm_last_error(), "missing") != NULL, "message: %s", slm_last_error());
    slm_model_free(m);
    free_weights(&tm);
}

static void load_rejects_wrong_shape_with_found_and_expected(void)
{
    spec sp = base_spec();
    sp.bad_shape = "blk.0.attn_k.weight";
    tmodel tm;
    slm_status st;
    slm_model *m = build_and_load(&sp, &tm, "shape", &st);
    CHECK(m == NULL && st == SLM_ERR_FORMAT, "status %s", slm_status_name(st));
    CHECK(strstr(slm_last_error(), "blk.0.attn_k.weight") && strstr(slm_last_error(), "[64, 31]") &&
              strstr(slm_last_error(), "[64, 32]"),
          "message: %s", slm_last_error());
    slm_model_free(m);
    free_weights(&tm);
}

static void load_rejects_head_count_kv_not_dividing(void)
{
    spec sp = base_spec();
    sp.bad_head_kv = 1;
    tmodel tm;
    slm_status st;
    slm_model *m = build_and_load(&sp, &tm, "hkv", &st);
    CHECK(m == NULL && st == SLM_ERR_FORMAT, "status %s", slm_status_name(st));
    CHECK(strstr(slm_last_error(), "head_count_kv is 3") != NULL, "message: %s", slm_last_error());
    slm_model_free(m);
    free_weights(&tm);
}

static void load_rejects_unknown_architecture_by_name(void)
{
    spec sp = base_spec();
    sp.arch = "mamba9";
    tmodel tm;
    slm_status st;
    slm_model *m = build_and_load(&sp, &tm, "arch", &st);
    CHECK(m == NULL && st == SLM_ERR_UNSUPPORTED, "status %s", slm_status_name(st));
    CHECK(strstr(slm_last_error(), "'mamba9'") != NULL, "message: %s", slm_last_error());
    slm_model_free(m);
    free_weights(&tm);
}

static void load_survives_every_allocation_failure(void)
{
    spec sp = base_spec();
    sp.with_vocab = 1;
    char path[512];
    temp_path(path, sizeof path, "oom");
    tmodel tm;
    make_weights(&tm, &sp);
    REQUIRE(write_model(&tm, path), "write: %s", slm_last_error());
    int ok_at = -1;
    for (long k = 0; k < 2000 && ok_at < 0; k++) {
        slm_model *m = NULL;
        slm_session *s = NULL;
        slm_alloc_fail_after(k);
        slm_status st = slm_model_load(path, NULL, &m);
        if (st == SLM_OK) {
            st = slm_session_new(m, NULL, &s);
            if (st != SLM_OK) CHECK(s == NULL, "session left non-NULL");
        } else {
            CHECK(m == NULL, "model left non-NULL");
        }
        slm_alloc_fail_after(-1);
        if (st == SLM_OK) ok_at = (int)k;
        else CHECK(st == SLM_ERR_NOMEM, "failure %ld gave %s: %s", k, slm_status_name(st),
                   slm_last_error());
        slm_session_free(s);
        slm_model_free(m);
    }
    CHECK(ok_at > 0, "never succeeded");
    unlink(path);
    free_weights(&tm);
}

static void metadata_tokenizer_and_describe_work(void)
{
    spec sp = base_spec();
    sp.with_vocab = 1;
    tmodel tm;
    slm_status st;
    slm_model *m = build_and_load(&sp, &tm, "meta", &st);
    REQUIRE(m, "load: %s", slm_last_error());
    CHECK(strcmp(slm_model_arch(m), "llama") == 0, "arch %s", slm_model_arch(m));
    CHECK(slm_model_n_vocab(m) == 64 && slm_model_n_embd(m) == 64 && slm_model_n_layer(m) == 2 &&
              slm_model_n_ctx_train(m) == 64, "hyperparameters");
    uint64_t np = 64 * 64 * 2 + 64; /* embd, output, output_norm */
    np += 2 * (64 + 64 * 64 + 2 * 64 * 32 + 64 * 64 + 64 + 3 * 64 * 96);
    CHECK(slm_model_n_params(m) == np, "n_params %llu expected %llu",
          (unsigned long long)slm_model_n_params(m), (unsigned long long)np);
    CHECK(slm_model_size_bytes(m) == np * 4, "size bytes");
    const char *name = NULL;
    CHECK(slm_model_meta_str(m, "general.name", &name) == SLM_OK && strcmp(name, "unit-test-model") == 0,
          "general.name");
    int64_t v = 0;
    CHECK(slm_model_meta_int(m, "llama.block_count", &v) == SLM_OK && v == 2, "block_count %lld",
          (long long)v);
    CHECK(slm_model_meta_int(m, "general.name", &v) == SLM_ERR_ARG, "string read as int");
    CHECK(slm_model_meta_str(m, "no.such.key", &name) == SLM_ERR_ARG && name == NULL, "absent key");
    CHECK(slm_token_bos(m) == 1 && slm_token_eos(m) == 2, "bos/eos");
    CHECK(slm_token_is_eog(m, 2) && !slm_token_is_eog(m, 5), "eog");
    int32_t ids[16];
    size_t n = 0;
    CHECK(slm_tokenize(m, "ab", 2, 1, 0, ids, 16, &n) == SLM_OK, "%s", slm_last_error());
    CHECK(n >= 2 && ids[0] == 1, "tokenize gives BOS first (n %zu)", n);
    char piece[16];
    size_t pl = slm_token_to_piece(m, 3, 0, piece, sizeof piece);
    CHECK(pl == 1 && piece[0] == 'a', "piece of id 3");

    size_t need = slm_model_describe(m, 32, 1, NULL, 0);
    char *buf = malloc(need + 1);
    CHECK(slm_model_describe(m, 32, 1, buf, need + 1) == need, "same length when it fits");
    CHECK(strlen(buf) == need, "NUL-terminated full text");
    CHECK(strstr(buf, "\"architecture\":\"llama\"") && strstr(buf, "\"n_ctx\":32") &&
              strstr(buf, "\"F32\":{\"tensors\":21") && strstr(buf, "\"n_tokens\":64"),
          "json: %s", buf);
    char small[10];
    CHECK(slm_model_describe(m, 32, 0, small, sizeof small) > sizeof small && strlen(small) == 9,
          "truncated like snprintf");
    free(buf);
    slm_model_free(m);
    free_weights(&tm);
}

static void vocab_only_load_has_tokenizer_but_no_session(void)
{
    spec sp = base_spec();
    sp.with_vocab = 1;
    char path[512];
    temp_path(path, sizeof path, "vocab");
    tmodel tm;
    make_weights(&tm, &sp);
    free_weights(&tm); /* keeps the spec: a file with metadata and no tensors */
    REQUIRE(write_model(&tm, path), "write");
    slm_model_params mp = slm_model_default_params();
    mp.vocab_only = 1;
    slm_model *m = NULL;
    CHECK(slm_model_load(path, &mp, &m) == SLM_OK, "%s", slm_last_error());
    if (m) {
        CHECK(slm_model_n_vocab(m) == 64, "n_vocab from the vocabulary");
        int32_t ids[8];
        size_t n;
        CHECK(slm_tokenize(m, "a", 1, 0, 0, ids, 8, &n) == SLM_OK && n >= 1, "tokenize");
        slm_session *s = NULL;
        CHECK(slm_session_new(m, NULL, &s) == SLM_ERR_ARG && s == NULL, "no session on vocab-only");
    }
    slm_model_free(m);
    mp.vocab_only = 0;
    CHECK(slm_model_load(path, &mp, &m) == SLM_ERR_FORMAT && m == NULL, "full load needs tensors");
    unlink(path);
}

int main(void)
{
    RUN(llama_matches_float64_oracle);
    RUN(tied_output_uses_token_embd);
    RUN(linear_rope_scaling_divides_positions);
    RUN(qwen2moe_with_shared_expert_matches_oracle);
    RUN(llama_moe_top3_of_6_matches_oracle);
    RUN(qwen3moe_with_qk_norms_matches_oracle);
    RUN(gemma3_local_global_layers_match_oracle);
    RUN(pool_runs_every_chunk_once_per_job);
    RUN(decode_one_by_one_equals_batched);
    RUN(truncate_then_replay_gives_same_logits);
    RUN(decode_reports_full_and_bad_ids_without_changing_state);
    RUN(decode_loop_allocates_nothing);
    RUN(load_rejects_missing_tensor_naming_it);
    RUN(load_rejects_wrong_shape_with_found_and_expected);
    RUN(load_rejects_head_count_kv_not_dividing);
    RUN(load_rejects_unknown_architecture_by_name);
    RUN(load_survives_every_allocation_failure);
    RUN(metadata_tokenizer_and_describe_work);
    RUN(vocab_only_load_has_tokenizer_but_no_session);
    return harness_finish();
}
