/* test_train.c — the training engine (src/train): finite-difference
 * gradient checks of every layer pair and of the whole tiny model, loss
 * falling on a tiny corpus, AdamW against its formula, a saved model
 * reloaded by the inference engine giving the training forward's logits,
 * and bit-exact resume from a checkpoint.
 *
 * Gradient checks: each layer's loss is L = sum_i y_i r_i for fixed random
 * r, so dL/dy = r; central differences in float with step 1e-2..1e-3 are
 * compared with the analytic gradient by the relative error
 * |g_fd - g| / max(|g_fd| + |g|, floor) per element and by the norm of the
 * difference over the norm of the gradient for the whole vector.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "base/alloc.h"
#include "base/pool.h"
#include "gguf/gguf.h"
#include "harness.h"
#include "sample/rng.h"
#include "slm.h"
#include "train/fexp.h"
#include "train/train_data.h"
#include "train/trainer.h"

static slm_rng rng;

static void fill(float *p, size_t n, float s)
{
    for (size_t i = 0; i < n; i++) p[i] = (float)slm_rng_normal(&rng) * s;
}

static double dotr(const float *y, const float *r, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)y[i] * r[i];
    return s;
}

/* Loss through a closure; the FD check perturbs x[i] and calls it. */
typedef double (*loss_fn)(void);

/* Relative error of the whole vector ||fd - g|| / ||fd||, fd by central
 * differences over every element of x (n small). */
static double fd_check(loss_fn f, float *x, const float *g, size_t n, float h)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float x0 = x[i];
        x[i] = x0 + h;
        const double lp = f();
        x[i] = x0 - h;
        const double lm = f();
        x[i] = x0;
        const double fd = (lp - lm) / (2.0 * h);
        num += (fd - g[i]) * (fd - g[i]);
        den += fd * fd;
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* ---- fast exp ---- */
static void fexp_is_within_2_ulp_of_exp(void)
{
    double worst = 0.0;
    for (float x = -87.0f; x <= 88.0f; x += 0.0007f) {
        const double e = exp((double)x), d = fabs(slm_fexp(x) - e) / e;
        worst = d > worst ? d : worst;
    }
    printf("  fexp: worst relative error %.2e on [-87, 88]\n", worst);
    CHECK(worst < 2.4e-7, "fexp error %g", worst); /* 2 ulp at 1: 2 * 2^-23 */
    CHECK(slm_fexp(-1000.0f) > 0.0f && slm_fexp(-1000.0f) < 1e-37f && isfinite(slm_fexp(1000.0f)),
          "clamping");
}

/* ---- rmsnorm ---- */
enum { R_BT = 3, R_N = 16 };
static float r_x[R_BT * R_N], r_w[R_N], r_y[R_BT * R_N], r_r[R_BT * R_N], r_rs[R_BT];
static double rms_loss(void)
{
    slm_tl_rmsnorm_forward(r_y, r_rs, r_x, r_w, R_BT, R_N, 1e-5f);
    return dotr(r_y, r_r, R_BT * R_N);
}

static void rmsnorm_backward_matches_finite_differences(void)
{
    slm_rng_seed(&rng, 1);
    fill(r_x, R_BT * R_N, 1.0f);
    fill(r_w, R_N, 1.0f);
    fill(r_r, R_BT * R_N, 1.0f);
    float dx[R_BT * R_N] = {0}, dw[R_N] = {0};
    rms_loss();
    slm_tl_rmsnorm_backward(dx, dw, r_r, r_x, r_rs, r_w, R_BT, R_N);
    const double ex = fd_check(rms_loss, r_x, dx, R_BT * R_N, 1e-2f);
    const double ew = fd_check(rms_loss, r_w, dw, R_N, 1e-2f);
    printf("  rmsnorm: rel err dx %.2e dw %.2e\n", ex, ew);
    CHECK(ex < 1e-3 && ew < 1e-3, "dx %g dw %g", ex, ew);
}

/* ---- matmul ---- */
enum { M_BT = 4, M_IN = 12, M_OUT = 7 };
static float m_x[M_BT * M_IN], m_w[M_OUT * M_IN], m_y[M_BT * M_OUT], m_r[M_BT * M_OUT];
static double mm_loss(void)
{
    slm_tl_matmul_forward(NULL, m_y, m_x, m_w, M_BT, M_IN, M_OUT);
    return dotr(m_y, m_r, M_BT * M_OUT);
}

static void matmul_backward_matches_finite_differences_with_blas_and_without(void)
{
    for (int blas = 1; blas >= 0; blas--) {
        slm_tl_use_blas = blas;
        slm_rng_seed(&rng, 2);
        fill(m_x, M_BT * M_IN, 1.0f);
        fill(m_w, M_OUT * M_IN, 1.0f);
        fill(m_r, M_BT * M_OUT, 1.0f);
        float dx[M_BT * M_IN], dw[M_OUT * M_IN];
        for (int i = 0; i < M_BT * M_IN; i++) dx[i] = 0.5f; /* backward must add */
        for (int i = 0; i < M_OUT * M_IN; i++) dw[i] = 0.25f;
        mm_loss();
        slm_tl_matmul_backward(NULL, dx, dw, m_r, m_x, m_w, M_BT, M_IN, M_OUT);
        for (int i = 0; i < M_BT * M_IN; i++) dx[i] -= 0.5f;
        for (int i = 0; i < M_OUT * M_IN; i++) dw[i] -= 0.25f;
        const double ex = fd_check(mm_loss, m_x, dx, M_BT * M_IN, 1e-2f);
        const double ew = fd_check(mm_loss, m_w, dw, M_OUT * M_IN, 1e-2f);
        printf("  matmul (%s): rel err dx %.2e dw %.2e\n", blas ? "blas" : "own", ex, ew);
        CHECK(ex < 1e-3 && ew < 1e-3, "blas %d: dx %g dw %g", blas, ex, ew);
    }
    slm_tl_use_blas = 1;
}

/* ---- rope ---- */
enum { P_B = 2, P_T = 5, P_H = 3, P_HD = 8 };
static float p_x[P_B * P_T * P_H * P_HD], p_y[P_B * P_T * P_H * P_HD], p_r[P_B * P_T * P_H * P_HD];
static float p_tab[P_T * P_HD];
static double rope_loss(void)
{
    memcpy(p_y, p_x, sizeof p_x);
    slm_tl_rope_forward(p_y, p_tab, P_B, P_T, P_H, P_HD);
    return dotr(p_y, p_r, sizeof p_y / sizeof(float));
}

static void rope_backward_matches_finite_differences(void)
{
    slm_rng_seed(&rng, 3);
    const size_t n = sizeof p_x / sizeof(float);
    fill(p_x, n, 1.0f);
    fill(p_r, n, 1.0f);
    slm_tl_rope_table(p_tab, P_T, P_HD, 10000.0f);
    float d[sizeof p_x / sizeof(float)];
    memcpy(d, p_r, sizeof d);
    slm_tl_rope_backward(d, p_tab, P_B, P_T, P_H, P_HD);
    const double e = fd_check(rope_loss, p_x, d, n, 1e-2f);
    printf("  rope: rel err dx %.2e\n", e);
    CHECK(e < 1e-3, "dx %g", e);
}

/* ---- attention ---- */
enum { A_B = 2, A_T = 6, A_H = 4, A_G = 2, A_HD = 4 };
#define A_NQ (A_B * A_T * A_H * A_HD)
#define A_NK (A_B * A_T * A_G * A_HD)
static float a_q[A_NQ], a_k[A_NK], a_v[A_NK], a_o[A_NQ], a_r[A_NQ], a_p[A_B * A_H * A_T * A_T];
static double attn_loss(void)
{
    slm_tl_attention_forward(NULL, a_o, a_p, a_q, a_k, a_v, A_B, A_T, A_H, A_G, A_HD);
    return dotr(a_o, a_r, A_NQ);
}

static void attention_backward_matches_finite_differences_with_gqa(void)
{
    for (int blas = 1; blas >= 0; blas--) {
        slm_tl_use_blas = blas;
        slm_rng_seed(&rng, 4);
        fill(a_q, A_NQ, 1.0f);
        fill(a_k, A_NK, 1.0f);
        fill(a_v, A_NK, 1.0f);
        fill(a_r, A_NQ, 1.0f);
        float dq[A_NQ] = {0}, dk[A_NK] = {0}, dv[A_NK] = {0}, scratch[A_T * A_T];
        attn_loss();
        slm_tl_attention_backward(NULL, dq, dk, dv, a_r, a_p, a_q, a_k, a_v, A_B, A_T, A_H, A_G,
                                  A_HD, scratch);
        const double eq = fd_check(attn_loss, a_q, dq, A_NQ, 1e-2f);
        const double ek = fd_check(attn_loss, a_k, dk, A_NK, 1e-2f);
        const double ev = fd_check(attn_loss, a_v, dv, A_NK, 1e-2f);
        printf("  attention (%s): rel err dq %.2e dk %.2e dv %.2e\n", blas ? "blas" : "own", eq,
               ek, ev);
        CHECK(eq < 1e-3 && ek < 1e-3 && ev < 1e-3, "blas %d: dq %g dk %g dv %g", blas, eq, ek, ev);
        /* causality: the last position's value does not reach the first query */
        CHECK(a_p[1] == 0.0f && fabsf(a_p[0] - 1.0f) < 1e-6f, "p[0][1] %g p[0][0] %g", a_p[1],
              a_p[0]);
    }
    slm_tl_use_blas = 1;
}

/* max |a - b| / max(max |b|, 1e-3) */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0.0, mx = 1e-3;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        mx = fmax(mx, fabs((double)b[i]));
    }
    return d / mx;
}

/* The BLAS attention works in blocks of SLM_TL_ATTN_BLOCK query rows on a
 * pool and the matrix products in per-thread slices: with T past one block
 * and sizes that are not multiples of 8, 2 threads give what the
 * single-threaded scalar loops (checked by finite differences above) give. */
static void blas_paths_on_two_threads_match_the_scalar_loops(void)
{
    enum { B = 2, T = SLM_TL_ATTN_BLOCK + 17, H = 4, G = 2, HD = 8 };
    const size_t nq = (size_t)B * T * H * HD, nk = (size_t)B * T * G * HD, np = (size_t)B * H * T * T;
    slm_pool *pool = NULL;
    REQUIRE(slm_pool_new(2, &pool) == SLM_OK, "%s", slm_last_error());
    float *q = calloc(nq, 4), *k = calloc(nk, 4), *v = calloc(nk, 4), *r = calloc(nq, 4);
    float *scratch = calloc(SLM_TL_ATTN_SCRATCH(T) * 2 + T, 4);
    float *o[2], *p[2], *dq[2], *dk[2], *dv[2];
    for (int i = 0; i < 2; i++) {
        o[i] = calloc(nq, 4), p[i] = calloc(np, 4), dq[i] = calloc(nq, 4);
        dk[i] = calloc(nk, 4), dv[i] = calloc(nk, 4);
        REQUIRE(o[i] && p[i] && dq[i] && dk[i] && dv[i], "out of memory");
    }
    REQUIRE(q && k && v && r && scratch, "out of memory");
    slm_rng_seed(&rng, 11);
    fill(q, nq, 1.0f), fill(k, nk, 1.0f), fill(v, nk, 1.0f), fill(r, nq, 1.0f);
    for (int blas = 1; blas >= 0; blas--) {
        const int i = 1 - blas; /* 0: blas on 2 threads, 1: scalar on 1 */
        slm_tl_use_blas = blas;
        slm_tl_attention_forward(blas ? pool : NULL, o[i], p[i], q, k, v, B, T, H, G, HD);
        slm_tl_attention_backward(blas ? pool : NULL, dq[i], dk[i], dv[i], r, p[i], q, k, v, B, T,
                                  H, G, HD, scratch);
    }
    const double eo = rel_diff(o[0], o[1], nq), ep = rel_diff(p[0], p[1], np);
    const double eq = rel_diff(dq[0], dq[1], nq), ek = rel_diff(dk[0], dk[1], nk);
    const double ev = rel_diff(dv[0], dv[1], nk);
    printf("  attention T=%d blas/2 threads vs scalar: out %.1e p %.1e dq %.1e dk %.1e dv %.1e\n",
           T, eo, ep, eq, ek, ev);
    CHECK(eo < 1e-5 && ep < 1e-5 && eq < 1e-5 && ek < 1e-5 && ev < 1e-5, "attention differs");

    /* matmul: BT 37, n_in 20, n_out 19 */
    enum { BT = 37, NI = 20, NO = 19 };
    float x[BT * NI], w[NO * NI], dy[BT * NO], y[2][BT * NO], dx[2][BT * NI], dw[2][NO * NI];
    fill(x, BT * NI, 1.0f), fill(w, NO * NI, 1.0f), fill(dy, BT * NO, 1.0f);
    for (int blas = 1; blas >= 0; blas--) {
        const int i = 1 - blas;
        slm_tl_use_blas = blas;
        for (int j = 0; j < BT * NI; j++) dx[i][j] = 0.5f;
        for (int j = 0; j < NO * NI; j++) dw[i][j] = 0.25f;
        slm_tl_matmul_forward(blas ? pool : NULL, y[i], x, w, BT, NI, NO);
        slm_tl_matmul_backward(blas ? pool : NULL, dx[i], dw[i], dy, x, w, BT, NI, NO);
    }
    const double my = rel_diff(y[0], y[1], BT * NO), mx = rel_diff(dx[0], dx[1], BT * NI);
    const double mw = rel_diff(dw[0], dw[1], NO * NI);
    printf("  matmul blas/2 threads vs scalar: y %.1e dx %.1e dw %.1e\n", my, mx, mw);
    CHECK(my < 1e-5 && mx < 1e-5 && mw < 1e-5, "matmul differs");
    slm_tl_use_blas = 1;
    for (int i = 0; i < 2; i++) free(o[i]), free(p[i]), free(dq[i]), free(dk[i]), free(dv[i]);
    free(q), free(k), free(v), free(r), free(scratch);
    slm_pool_free(pool);
}

/* ---- swiglu ---- */
enum { S_N = 40 };
static float s_g[S_N], s_u[S_N], s_a[S_N], s_r[S_N];
static double swiglu_loss(void)
{
    slm_tl_swiglu_forward(s_a, s_g, s_u, S_N);
    return dotr(s_a, s_r, S_N);
}

static void swiglu_backward_matches_finite_differences(void)
{
    slm_rng_seed(&rng, 5);
    fill(s_g, S_N, 2.0f);
    fill(s_u, S_N, 1.0f);
    fill(s_r, S_N, 1.0f);
    float dg[S_N] = {0}, du[S_N] = {0};
    slm_tl_swiglu_backward(dg, du, s_r, s_g, s_u, S_N);
    const double eg = fd_check(swiglu_loss, s_g, dg, S_N, 1e-2f);
    const double eu = fd_check(swiglu_loss, s_u, du, S_N, 1e-2f);
    printf("  swiglu: rel err dg %.2e du %.2e\n", eg, eu);
    CHECK(eg < 1e-3 && eu < 1e-3, "dg %g du %g", eg, eu);
}

/* ---- cross-entropy ---- */
enum { X_BT = 3, X_V = 11 };
static float x_z[X_BT * X_V], x_l[X_BT];
static const int32_t x_t[X_BT] = {0, 5, 10};
static double xent_loss(void)
{
    slm_tl_xent_forward(x_l, x_z, x_t, X_BT, X_V);
    return (double)x_l[0] + x_l[1] + x_l[2];
}

static void xent_backward_matches_finite_differences(void)
{
    slm_rng_seed(&rng, 6);
    fill(x_z, X_BT * X_V, 2.0f);
    float d[X_BT * X_V];
    memcpy(d, x_z, sizeof d);
    slm_tl_xent_backward(d, x_t, X_BT, X_V, 1.0f);
    const double e = fd_check(xent_loss, x_z, d, X_BT * X_V, 1e-2f);
    printf("  cross-entropy: rel err dz %.2e\n", e);
    CHECK(e < 1e-3, "dz %g", e);
    /* the loss of a uniform row is log V */
    float z[X_V] = {0}, l;
    int32_t t = 3;
    slm_tl_xent_forward(&l, z, &t, 1, X_V);
    CHECK(fabsf(l - logf((float)X_V)) < 1e-6f, "uniform loss %g, expected log %d", l, X_V);
}

/* ---- whole model ---- */
static slm_tmodel *g_m;
static int32_t g_ids[64], g_tg[64];
static double model_loss(void)
{
    return slm_tmodel_forward(g_m, g_ids, g_tg);
}

static void whole_model(int tied)
{
    const slm_tconfig c = {.n_vocab = 23, .n_embd = 16, .n_layer = 2, .n_head = 4,
                           .n_head_kv = 2, .n_ff = 24, .n_ctx = 8, .tied = tied, .eps = 1e-5f,
                           .rope_base = 10000.0f};
    const int B = 2, T = 6;
    REQUIRE(slm_tmodel_new(&c, B, T, 2, &g_m) == SLM_OK, "%s", slm_last_error());
    slm_tmodel_init(g_m, 7);
    /* larger weights than the init so every path carries signal */
    slm_rng_seed(&rng, 8);
    for (int i = 0; i < g_m->n_tensors; i++) {
        const slm_ttensor *t = &g_m->tensors[i];
        float *p = g_m->params + t->off;
        for (int64_t j = 0; j < t->n_out * t->n_in; j++)
            p[j] = t->n_out == 1 ? 1.0f + 0.3f * (float)slm_rng_normal(&rng)
                                 : 0.3f * (float)slm_rng_normal(&rng);
    }
    for (int i = 0; i < B * T; i++) {
        g_ids[i] = (int32_t)(slm_rng_next(&rng) % (uint64_t)c.n_vocab);
        g_tg[i] = (int32_t)(slm_rng_next(&rng) % (uint64_t)c.n_vocab);
    }
    slm_tmodel_zero_grad(g_m);
    slm_tmodel_forward(g_m, g_ids, g_tg);
    slm_tmodel_backward(g_m, g_ids, g_tg, 1.0f);
    double worst = 0.0;
    const char *worst_name = "";
    for (int i = 0; i < g_m->n_tensors; i++) {
        const slm_ttensor *t = &g_m->tensors[i];
        const size_t n = (size_t)(t->n_out * t->n_in);
        /* token_embd: only rows of used ids carry gradient; check them all */
        const double e = fd_check(model_loss, g_m->params + t->off, g_m->grads + t->off, n, 1e-2f);
        if (e > worst) {
            worst = e;
            worst_name = t->name;
        }
        CHECK(e < 1e-2, "%s tensor %s: rel err %g", tied ? "tied" : "untied", t->name, e);
    }
    printf("  whole model (%s, %d tensors): worst rel err %.2e (%s)\n", tied ? "tied" : "untied",
           g_m->n_tensors, worst, worst_name);
    slm_tmodel_free(g_m);
    g_m = NULL;
}

static void whole_model_backward_matches_finite_differences_untied(void)
{
    whole_model(0);
}

static void whole_model_backward_matches_finite_differences_tied(void)
{
    whole_model(1);
}

static void adamw_step_follows_the_decoupled_formula(void)
{
    const slm_tconfig c = {.n_vocab = 5, .n_embd = 4, .n_layer = 1, .n_head = 1,
                           .n_head_kv = 1, .n_ff = 4, .n_ctx = 2, .tied = 1, .eps = 1e-5f,
                           .rope_base = 10000.0f};
    slm_tmodel *m;
    REQUIRE(slm_tmodel_new(&c, 1, 2, 1, &m) == SLM_OK, "%s", slm_last_error());
    slm_tmodel_init(m, 1);
    for (size_t i = 0; i < m->n_params; i++) m->grads[i] = 0.1f;
    const float p0 = m->params[0]; /* token_embd: decayed */
    const size_t ni = m->output_norm;
    const float n0 = m->params[ni]; /* norm: not decayed */
    slm_adamw o = {.lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};
    slm_tmodel_adamw(m, &o, o.lr, 2.0f, 1);
    /* step 1: mhat = g, vhat = g^2, so the update is lr * (sign(g) + wd p) */
    const double g = 0.2;
    const double exp_p = p0 - 0.01 * (g / (sqrt(g * g) + 1e-8) + 0.1 * p0);
    const double exp_n = n0 - 0.01 * (g / (sqrt(g * g) + 1e-8));
    CHECK(fabs(m->params[0] - exp_p) < 1e-6, "p %g expected %g", m->params[0], exp_p);
    CHECK(fabs(m->params[ni] - exp_n) < 1e-6, "norm %g expected %g", m->params[ni], exp_n);
    slm_tmodel_free(m);
    /* schedule: warmup reaches lr, cosine ends at min */
    CHECK(fabsf(slm_lr_schedule(9, 100, 10, 1.0f, 0.1f) - 1.0f) < 1e-6f, "warmup end");
    CHECK(fabsf(slm_lr_schedule(0, 100, 10, 1.0f, 0.1f) - 0.1f) < 1e-6f, "warmup start");
    CHECK(fabsf(slm_lr_schedule(100, 100, 10, 1.0f, 0.1f) - 0.1f) < 1e-6f, "end");
    CHECK(fabsf(slm_lr_schedule(55, 100, 10, 1.0f, 0.1f) - 0.55f) < 1e-6f, "middle");
}

/* ---- end to end: files, inference, resume ---- */

static char tmpdir[256];

static void tmp_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

/* A small corpus of repetitive stories and an SPM tokenizer trained on it. */
static int make_corpus(char *text_path, char *tok_path, size_t n)
{
    static const char *const sent[] = {
        "Once upon a time there was a little cat named Tom.",
        "Tom liked to play in the garden with his red ball.",
        "One day the ball rolled away and Tom was sad.",
        "His friend the dog found the ball and gave it back.",
        "Tom was happy and they played together all day.",
    };
    tmp_path(text_path, n, "corpus.txt");
    tmp_path(tok_path, n, "tok.gguf");
    FILE *f = fopen(text_path, "w");
    if (!f) return 0;
    slm_rng r;
    slm_rng_seed(&r, 11);
    for (int d = 0; d < 60; d++) {
        for (int k = 0; k < 5; k++) fprintf(f, "%s ", sent[(d + k + slm_rng_next(&r) % 2) % 5]);
        fprintf(f, "\n<|endoftext|>\n");
    }
    fclose(f);
    slm_tokenizer_train_params tp = slm_tokenizer_train_default_params();
    tp.n_vocab = 300;
    const char *files[1] = {text_path};
    return slm_tokenizer_train(&tp, files, 1, tok_path, NULL) == SLM_OK;
}

static void saved_model_gives_the_training_forward_logits_in_the_inference_engine(void)
{
    char text[300], tok[300], out[300];
    REQUIRE(make_corpus(text, tok, sizeof text), "corpus/tokenizer: %s", slm_last_error());
    tmp_path(out, sizeof out, "fwd.gguf");
    slm_model *vm = NULL;
    slm_model_params mp = slm_model_default_params();
    mp.vocab_only = 1;
    REQUIRE(slm_model_load(tok, &mp, &vm) == SLM_OK, "%s", slm_last_error());
    const int V = slm_model_n_vocab(vm);
    slm_model_free(vm);
    for (int tied = 0; tied <= 1; tied++) {
        const slm_tconfig c = {.n_vocab = V, .n_embd = 32, .n_layer = 2, .n_head = 4,
                               .n_head_kv = 2, .n_ff = 48, .n_ctx = 16, .tied = tied,
                               .eps = 1e-5f, .rope_base = 10000.0f};
        const int B = 2, T = 12;
        slm_tmodel *m;
        REQUIRE(slm_tmodel_new(&c, B, T, 2, &m) == SLM_OK, "%s", slm_last_error());
        slm_tmodel_init(m, 3);
        slm_rng_seed(&rng, 9); /* weights large enough that attention is not uniform */
        for (size_t i = 0; i < m->n_params; i++) m->params[i] += 0.1f * (float)slm_rng_normal(&rng);
        int32_t ids[24];
        for (int i = 0; i < B * T; i++) ids[i] = (int32_t)(slm_rng_next(&rng) % (uint64_t)V);
        slm_tmodel_forward(m, ids, NULL);
        REQUIRE(slm_tmodel_save_gguf(m, tok, "test", out) == SLM_OK, "%s", slm_last_error());
        slm_model *im = NULL;
        mp.vocab_only = 0;
        REQUIRE(slm_model_load(out, &mp, &im) == SLM_OK, "%s", slm_last_error());
        slm_session_params sp = slm_session_default_params();
        sp.kv_type = SLM_TYPE_F32;
        sp.logits_all = 1;
        sp.n_threads = 1;
        slm_session *s = NULL;
        REQUIRE(slm_session_new(im, &sp, &s) == SLM_OK, "%s", slm_last_error());
        double worst = 0.0, scale = 0.0;
        for (int b = 0; b < B; b++) {
            slm_session_truncate(s, 0);
            REQUIRE(slm_session_decode(s, ids + b * T, (size_t)T, NULL) == SLM_OK, "%s",
                    slm_last_error());
            for (int t = 0; t < T; t++) {
                const float *li = slm_session_logits(s, (size_t)t);
                const float *lt = m->logits + ((size_t)b * T + t) * V;
                for (int i = 0; i < V; i++) {
                    const double d = fabs((double)li[i] - lt[i]);
                    if (d > worst) worst = d;
                    if (fabs(lt[i]) > scale) scale = fabs(lt[i]);
                }
            }
        }
        printf("  %s: max |logit diff| %.2e (max |logit| %.2f)\n", tied ? "tied" : "untied", worst,
               scale);
        CHECK(worst < 1e-4 && scale > 0.5, "tied %d: max diff %g, scale %g", tied, worst, scale);
        slm_session_free(s);
        slm_model_free(im);
        slm_tmodel_free(m);
    }
    remove(out);
}

typedef struct loss_log {
    float loss[64];
    int n, stop_at;
} loss_log;

static int log_loss(const slm_train_progress *p, void *user)
{
    loss_log *l = user;
    if (p->step >= 1 && p->step <= 64) l->loss[p->step - 1] = p->loss;
    if ((int)p->step > l->n) l->n = (int)p->step;
    return l->stop_at > 0 && (int)p->step == l->stop_at;
}

static slm_train_params tiny_params(void)
{
    slm_train_params p = slm_train_default_params();
    p.n_embd = 32, p.n_layer = 2, p.n_head = 4, p.n_head_kv = 2, p.n_ff = 64, p.n_ctx = 32;
    p.batch = 4, p.accum = 2, p.n_steps = 40, p.warmup = 5, p.lr = 1e-2f, p.n_threads = 2;
    p.progress = log_loss;
    return p;
}

static void loss_falls_on_a_tiny_corpus(void)
{
    char text[300], tok[300], out[300], svg[300];
    REQUIRE(make_corpus(text, tok, sizeof text), "corpus/tokenizer: %s", slm_last_error());
    tmp_path(out, sizeof out, "fall.gguf");
    tmp_path(svg, sizeof svg, "fall.svg");
    slm_train_params p = tiny_params();
    loss_log l = {0};
    p.user = &l;
    p.loss_svg = svg;
    const char *files[1] = {text};
    slm_train_stats st;
    REQUIRE(slm_train(&p, tok, files, 1, files, 1, out, &st) == SLM_OK, "%s", slm_last_error());
    printf("  loss %.3f -> %.3f (val %.3f, %llu params)\n", l.loss[0], l.loss[39],
           st.final_val_loss, (unsigned long long)st.n_params);
    CHECK(l.n == 40, "steps %d", l.n);
    /* step 1 is near log(V) = 5.7 (uniform); the corpus repeats five sentences */
    CHECK(l.loss[39] < 0.6f * l.loss[0], "loss %g -> %g", l.loss[0], l.loss[39]);
    CHECK(st.final_val_loss < 0.6f * l.loss[0], "val %g", st.final_val_loss);
    FILE *f = fopen(svg, "r");
    CHECK(f != NULL, "no svg");
    if (f) {
        char head[5] = {0};
        CHECK(fread(head, 1, 4, f) == 4 && strcmp(head, "<svg") == 0, "svg starts '%s'", head);
        fclose(f);
    }
    remove(out);
    remove(svg);
}

static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static void resume_after_a_checkpoint_continues_bit_exactly(void)
{
    char text[300], tok[300], out1[300], out2[300], ck[300];
    REQUIRE(make_corpus(text, tok, sizeof text), "corpus/tokenizer: %s", slm_last_error());
    tmp_path(out1, sizeof out1, "full.gguf");
    tmp_path(out2, sizeof out2, "resumed.gguf");
    tmp_path(ck, sizeof ck, "run.ckpt");
    const char *files[1] = {text};
    slm_train_params p = tiny_params();
    p.n_steps = 16;
    loss_log full = {0}, part = {.stop_at = 7}, rest = {0};
    p.user = &full;
    REQUIRE(slm_train(&p, tok, files, 1, NULL, 0, out1, NULL) == SLM_OK, "%s", slm_last_error());
    p.user = &part;
    p.checkpoint = ck;
    p.checkpoint_every = 100; /* the cancel at step 7 writes it */
    CHECK(slm_train(&p, tok, files, 1, NULL, 0, out2, NULL) == SLM_ERR_CANCELLED, "cancel");
    /* --steps equal to the steps done exports the checkpoint without training */
    slm_train_params e = tiny_params();
    loss_log none = {0};
    e.user = &none;
    e.resume = ck;
    e.n_steps = 7;
    CHECK(slm_train(&e, tok, files, 1, NULL, 0, out2, NULL) == SLM_OK, "%s", slm_last_error());
    CHECK(none.n == 0, "export ran %d steps", none.n);
    p.user = &rest;
    p.resume = ck;
    p.lr = 5.0f; /* ignored: the checkpoint's settings win */
    REQUIRE(slm_train(&p, tok, files, 1, NULL, 0, out2, NULL) == SLM_OK, "%s", slm_last_error());
    for (int i = 0; i < 7; i++)
        CHECK(part.loss[i] == full.loss[i], "step %d: %.9g vs %.9g", i + 1, part.loss[i],
              full.loss[i]);
    for (int i = 7; i < 16; i++)
        CHECK(memcmp(&rest.loss[i], &full.loss[i], sizeof(float)) == 0,
              "step %d: resumed %.9g, uninterrupted %.9g", i + 1, rest.loss[i], full.loss[i]);
    CHECK(same_file(out1, out2), "resumed model file differs from the uninterrupted one");
    /* a larger --steps extends a finished run */
    loss_log more = {0};
    p.user = &more;
    p.n_steps = 18;
    CHECK(slm_train(&p, tok, files, 1, NULL, 0, out2, NULL) == SLM_OK, "%s", slm_last_error());
    CHECK(more.n == 18 && more.loss[15] == 0.0f && more.loss[16] > 0.0f,
          "extension ran up to step %d", more.n);
    remove(out1);
    remove(out2);
    remove(ck);
}

static void data_cuts_documents_and_reads_gzip_like_plain_text(void)
{
    char text[300], tok[300], plain[300], gz[300];
    REQUIRE(make_corpus(text, tok, sizeof text), "corpus/tokenizer: %s", slm_last_error());
    tmp_path(plain, sizeof plain, "docs.txt");
    tmp_path(gz, sizeof gz, "docs.txt.gz");
    static const char body[] = "Tom was happy.\n\nThe dog found the ball.<|endoftext|>\n"
                               "One day the cat was sad.\n\n\n  \n<|endoftext|>";
    FILE *f = fopen(plain, "w");
    REQUIRE(f, "create %s", plain);
    fputs(body, f);
    fclose(f);
    gzFile z = gzopen(gz, "wb");
    REQUIRE(z, "create %s", gz);
    gzputs(z, body);
    gzclose(z);
    slm_gguf *g = NULL;
    slm_vocab *v = NULL;
    REQUIRE(slm_gguf_open(tok, 1, &g) == SLM_OK && slm_vocab_load(g, &v) == SLM_OK, "%s",
            slm_last_error());
    slm_tokens a = {0}, b = {0};
    CHECK(slm_tokens_add_file(&a, v, plain) == SLM_OK, "%s", slm_last_error());
    CHECK(slm_tokens_add_file(&b, v, gz) == SLM_OK, "%s", slm_last_error());
    /* three documents (blank-only pieces dropped), each opened by BOS */
    CHECK(a.n_docs == 3, "docs %llu", (unsigned long long)a.n_docs);
    size_t n_bos = 0;
    for (size_t i = 0; i < a.n; i++) n_bos += a.ids[i] == slm_vocab_bos(v);
    CHECK(n_bos == 3 && a.ids[0] == slm_vocab_bos(v), "BOS count %zu", n_bos);
    CHECK(a.n == b.n && a.n > 0 && memcmp(a.ids, b.ids, a.n * sizeof *a.ids) == 0,
          "gzip stream differs from plain (%zu vs %zu tokens)", a.n, b.n);
    /* the first document alone, tokenized by the runtime, is the stream's start */
    int32_t ids[64];
    size_t n = 0;
    CHECK(slm_vocab_tokenize(v, "Tom was happy.", 14, 1, 0, ids, 64, &n) == SLM_OK, "tokenize");
    CHECK(n < a.n && memcmp(ids, a.ids, n * sizeof *ids) == 0 && a.ids[n] == slm_vocab_bos(v),
          "first document");
    slm_tokens_free(&a);
    slm_tokens_free(&b);
    slm_vocab_free(v);
    slm_gguf_close(g);
    remove(plain);
    remove(gz);
}

static void bad_inputs_are_reported_not_fatal(void)
{
    char text[300], tok[300], out[300];
    REQUIRE(make_corpus(text, tok, sizeof text), "corpus/tokenizer: %s", slm_last_error());
    tmp_path(out, sizeof out, "bad.gguf");
    slm_train_params p = tiny_params();
    const char *missing[1] = {"/nonexistent/corpus.txt"};
    CHECK(slm_train(&p, tok, missing, 1, NULL, 0, out, NULL) == SLM_ERR_IO, "missing file");
    CHECK(strstr(slm_last_error(), "/nonexistent/corpus.txt") != NULL, "message: %s",
          slm_last_error());
    const char *files[1] = {text};
    p.n_embd = 30; /* not a multiple of 4 heads with an even head dim */
    CHECK(slm_train(&p, tok, files, 1, NULL, 0, out, NULL) == SLM_ERR_ARG, "bad shape");
    p = tiny_params();
    p.resume = text; /* not a checkpoint */
    CHECK(slm_train(&p, tok, files, 1, NULL, 0, out, NULL) == SLM_ERR_FORMAT, "bad checkpoint: %s",
          slm_last_error());
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/test_train_tmp", SLM_BINARY_DIR);
    mkdir(tmpdir, 0755);
    RUN(fexp_is_within_2_ulp_of_exp);
    RUN(rmsnorm_backward_matches_finite_differences);
    RUN(matmul_backward_matches_finite_differences_with_blas_and_without);
    RUN(rope_backward_matches_finite_differences);
    RUN(attention_backward_matches_finite_differences_with_gqa);
    RUN(blas_paths_on_two_threads_match_the_scalar_loops);
    RUN(swiglu_backward_matches_finite_differences);
    RUN(xent_backward_matches_finite_differences);
    RUN(whole_model_backward_matches_finite_differences_untied);
    RUN(whole_model_backward_matches_finite_differences_tied);
    RUN(adamw_step_follows_the_decoupled_formula);
    RUN(saved_model_gives_the_training_forward_logits_in_the_inference_engine);
    RUN(loss_falls_on_a_tiny_corpus);
    RUN(resume_after_a_checkpoint_continues_bit_exactly);
    RUN(data_cuts_documents_and_reads_gzip_like_plain_text);
    RUN(bad_inputs_are_reported_not_fatal);
    return harness_finish();
}
