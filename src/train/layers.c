/* layers.c — the training layers, each *_forward beside its *_backward
 * (llm.c's layout). Backward functions ADD into the gradients they produce,
 * so a model zeroes its gradients once per optimizer step and micro-batches
 * accumulate. The math equals src/nn's inference ops (same RoPE angle
 * recurrence, same RMSNorm), so a saved model gives the same logits.
 *
 * Matrix products go to OpenBLAS's cblas_sgemm when the build found it
 * (SLM_HAVE_OPENBLAS, set only for src/train), else to a pool-threaded loop.
 * Both are deterministic for a fixed thread count.
 */
/* before any function: lets GCC vectorize the clamps and max of fexp.h */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <math.h>
#include <string.h>

#include "train/fexp.h"
#include "train/trainer.h"

#ifdef SLM_HAVE_OPENBLAS
#include <cblas.h>
#endif

/* ---- RMSNorm ---------------------------------------------------------- */

void slm_tl_rmsnorm_forward(float *y, float *rs, const float *x, const float *w, int BT, int n,
                            float eps)
{
    for (int t = 0; t < BT; t++) {
        const float *xt = x + (size_t)t * n;
        float *yt = y + (size_t)t * n;
        double ss = 0.0; /* double sum of squares, as ggml_rms_norm */
        for (int i = 0; i < n; i++) ss += (double)xt[i] * xt[i];
        const float r = 1.0f / sqrtf((float)(ss / n) + eps);
        rs[t] = r;
        for (int i = 0; i < n; i++) yt[i] = xt[i] * r * w[i];
    }
}

/* y_i = x_i r w_i, r = (mean(x^2)+eps)^(-1/2), dr/dx_j = -r^3 x_j / n, so
 * dx_j = r (w_j dy_j) - x_j r^3 / n * sum_i (w_i dy_i x_i). */
void slm_tl_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                             const float *rs, const float *w, int BT, int n)
{
    for (int t = 0; t < BT; t++) {
        const float *xt = x + (size_t)t * n, *dyt = dy + (size_t)t * n;
        float *dxt = dx + (size_t)t * n;
        const float r = rs[t];
        double dot = 0.0;
        for (int i = 0; i < n; i++) {
            dot += (double)w[i] * dyt[i] * xt[i];
            dw[i] += dyt[i] * xt[i] * r;
        }
        const float c = (float)(dot * r * r * r / n);
        for (int i = 0; i < n; i++) dxt[i] += r * w[i] * dyt[i] - c * xt[i];
    }
}

/* ---- matmul ------------------------------------------------------------ */

typedef struct mm_job {
    int kind; /* 0 forward, 1 dx, 2 dw */
    float *out;
    const float *a, *b;
    int BT, n_in, n_out;
} mm_job;

static void mm_run(void *ctx, int ith, int nth)
{
    const mm_job *j = ctx;
    const int n_in = j->n_in, n_out = j->n_out;
    if (j->kind == 0) { /* y[t][o] = x[t] . w[o]; split tokens */
        for (int t = ith; t < j->BT; t += nth) {
            const float *xt = j->a + (size_t)t * n_in;
            float *yt = j->out + (size_t)t * n_out;
            for (int o = 0; o < n_out; o++) {
                const float *wo = j->b + (size_t)o * n_in;
                float s = 0.0f;
                for (int i = 0; i < n_in; i++) s += xt[i] * wo[i];
                yt[o] = s;
            }
        }
    } else if (j->kind == 1) { /* dx[t] += sum_o dy[t][o] w[o]; split tokens */
        for (int t = ith; t < j->BT; t += nth) {
            const float *dyt = j->a + (size_t)t * n_out;
            float *dxt = j->out + (size_t)t * n_in;
            for (int o = 0; o < n_out; o++) {
                const float d = dyt[o];
                const float *wo = j->b + (size_t)o * n_in;
                for (int i = 0; i < n_in; i++) dxt[i] += d * wo[i];
            }
        }
    } else { /* dw[o] += sum_t dy[t][o] x[t]; split output rows */
        for (int o = ith; o < n_out; o += nth) {
            float *dwo = j->out + (size_t)o * n_in;
            for (int t = 0; t < j->BT; t++) {
                const float d = j->a[(size_t)t * n_out + o];
                const float *xt = j->b + (size_t)t * n_in;
                for (int i = 0; i < n_in; i++) dwo[i] += d * xt[i];
            }
        }
    }
}

static void mm(slm_pool *pool, mm_job *j)
{
    if (pool) slm_pool_run(pool, mm_run, j);
    else mm_run(j, 0, 1);
}

/* OpenBLAS runs single-threaded inside our pool's threads: every product
 * is cut into one slice per pool thread (rows of x for y and dx, output
 * rows of W for dW, so no two threads write the same float). One set of
 * threads does the BLAS and the loops in between, instead of OpenBLAS's
 * spinning workers competing with ours for the same cores. */
void slm_tl_set_threads(int n)
{
#ifdef SLM_HAVE_OPENBLAS
    (void)n;
    openblas_set_num_threads(1);
#else
    (void)n;
#endif
}

int slm_tl_use_blas = 1;

#ifdef SLM_HAVE_OPENBLAS
/* [lo, hi) of n for thread ith of nth, boundaries on multiples of 8. */
static void slice8(int n, int ith, int nth, int *lo, int *hi)
{
    const int per = ((n + nth - 1) / nth + 7) & ~7;
    *lo = per * ith < n ? per * ith : n;
    *hi = per * (ith + 1) < n ? per * (ith + 1) : n;
}

static void blas_run(void *ctx, int ith, int nth)
{
    const mm_job *j = ctx;
    const int n_in = j->n_in, n_out = j->n_out;
    int lo, hi;
    if (j->kind == 0) { /* y[lo:hi] = x[lo:hi] W^T */
        slice8(j->BT, ith, nth, &lo, &hi);
        if (hi > lo)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, hi - lo, n_out, n_in, 1.0f,
                        j->a + (size_t)lo * n_in, n_in, j->b, n_in, 0.0f,
                        j->out + (size_t)lo * n_out, n_out);
    } else if (j->kind == 1) { /* dx[lo:hi] += dy[lo:hi] W */
        slice8(j->BT, ith, nth, &lo, &hi);
        if (hi > lo)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, hi - lo, n_in, n_out, 1.0f,
                        j->a + (size_t)lo * n_out, n_out, j->b, n_in, 1.0f,
                        j->out + (size_t)lo * n_in, n_in);
    } else { /* dW[lo:hi] += dy[:, lo:hi]^T x */
        slice8(n_out, ith, nth, &lo, &hi);
        if (hi > lo)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, hi - lo, n_in, j->BT, 1.0f,
                        j->a + lo, n_out, j->b, n_in, 1.0f, j->out + (size_t)lo * n_in, n_in);
    }
}

static void blas(slm_pool *pool, mm_job *j)
{
    if (pool && slm_pool_n_threads(pool) > 1) slm_pool_run(pool, blas_run, j);
    else blas_run(j, 0, 1);
}
#endif

void slm_tl_matmul_forward(slm_pool *pool, float *y, const float *x, const float *w, int BT,
                           int n_in, int n_out)
{
    mm_job j = {0, y, x, w, BT, n_in, n_out};
#ifdef SLM_HAVE_OPENBLAS
    if (slm_tl_use_blas) {
        blas(pool, &j);
        return;
    }
#endif
    mm(pool, &j);
}

void slm_tl_matmul_backward(slm_pool *pool, float *dx, float *dw, const float *dy, const float *x,
                            const float *w, int BT, int n_in, int n_out)
{
    mm_job j1 = {1, dx, dy, w, BT, n_in, n_out};
    mm_job j2 = {2, dw, dy, x, BT, n_in, n_out};
#ifdef SLM_HAVE_OPENBLAS
    if (slm_tl_use_blas) {
        blas(pool, &j1);
        blas(pool, &j2);
        return;
    }
#endif
    mm(pool, &j1);
    mm(pool, &j2);
}

/* ---- RoPE -------------------------------------------------------------- */

/* The angle recurrence of nn/rope.c (theta *= base^(-2/hd) in float from
 * theta = pos), so training and inference rotate by identical cos/sin. */
void slm_tl_rope_table(float *tab, int T, int hd, float base)
{
    const float theta_scale = powf(base, -2.0f / (float)hd);
    for (int t = 0; t < T; t++) {
        float theta = (float)t;
        for (int i0 = 0; i0 < hd; i0 += 2) {
            tab[(size_t)t * hd + i0] = cosf(theta);
            tab[(size_t)t * hd + i0 + 1] = sinf(theta);
            theta *= theta_scale;
        }
    }
}

void slm_tl_rope_forward(float *x, const float *tab, int B, int T, int n_head, int hd)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *cs = tab + (size_t)t * hd;
            float *row = x + ((size_t)b * T + t) * n_head * hd;
            for (int h = 0; h < n_head; h++) {
                float *v = row + (size_t)h * hd;
                for (int i = 0; i < hd; i += 2) {
                    const float c = cs[i], s = cs[i + 1], x0 = v[i], x1 = v[i + 1];
                    v[i] = x0 * c - x1 * s;
                    v[i + 1] = x0 * s + x1 * c;
                }
            }
        }
}

/* The rotation is orthogonal: the gradient rotates back by -angle. The
 * gradient of the pre-RoPE tensor replaces the post-RoPE one in place. */
void slm_tl_rope_backward(float *dx, const float *tab, int B, int T, int n_head, int hd)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *cs = tab + (size_t)t * hd;
            float *row = dx + ((size_t)b * T + t) * n_head * hd;
            for (int h = 0; h < n_head; h++) {
                float *v = row + (size_t)h * hd;
                for (int i = 0; i < hd; i += 2) {
                    const float c = cs[i], s = cs[i + 1], d0 = v[i], d1 = v[i + 1];
                    v[i] = d0 * c + d1 * s;
                    v[i + 1] = -d0 * s + d1 * c;
                }
            }
        }
}

/* ---- causal GQA attention ---------------------------------------------- */

/* Dot product with eight partial sums: a plain float reduction does not
 * vectorize (the compiler may not reorder it); eight lanes do. */
static inline float dot8(const float *a, const float *b, int n)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[i + k] * b[i + k];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

typedef struct attn_job {
    float *out, *p, *dq, *dk, *dv, *scratch;
    const float *dout, *q, *k, *v, *pc;
    int B, T, H, G, hd;
} attn_job;

/* One (b, h) per unit of work: scores, softmax, weighted sum of V. */
static void attn_fwd_run(void *ctx, int ith, int nth)
{
    const attn_job *j = ctx;
    const int T = j->T, H = j->H, G = j->G, hd = j->hd, per = H / G;
    const float scale = 1.0f / sqrtf((float)hd);
    for (int bh = ith; bh < j->B * H; bh += nth) {
        const int b = bh / H, h = bh % H, g = h / per;
        for (int t = 0; t < T; t++) {
            const float *qt = j->q + ((size_t)b * T + t) * H * hd + (size_t)h * hd;
            float *pt = j->p + (((size_t)b * H + h) * T + t) * T;
            float mx = -INFINITY;
            for (int s = 0; s <= t; s++) {
                const float *ks = j->k + ((size_t)b * T + s) * G * hd + (size_t)g * hd;
                const float d = dot8(qt, ks, hd) * scale;
                pt[s] = d;
                if (d > mx) mx = d;
            }
            float sum = 0.0f;
            for (int s = 0; s <= t; s++) {
                pt[s] = expf(pt[s] - mx);
                sum += pt[s];
            }
            const float inv = 1.0f / sum;
            for (int s = 0; s <= t; s++) pt[s] *= inv;
            for (int s = t + 1; s < T; s++) pt[s] = 0.0f;
            float *ot = j->out + ((size_t)b * T + t) * H * hd + (size_t)h * hd;
            memset(ot, 0, (size_t)hd * sizeof(float));
            for (int s = 0; s <= t; s++) {
                const float *vs = j->v + ((size_t)b * T + s) * G * hd + (size_t)g * hd;
                const float w = pt[s];
                for (int i = 0; i < hd; i++) ot[i] += w * vs[i];
            }
        }
    }
}

#ifdef SLM_HAVE_OPENBLAS
/* Softmax of row t of the scores in place over s <= t; 0 above. */
static void causal_softmax_row(float *pt, int t, int T)
{
    const float mx = slm_vmax(pt, t + 1);
    const float inv = 1.0f / slm_vexp_sum(pt, pt, mx, t + 1);
    for (int s = 0; s <= t; s++) pt[s] *= inv;
    for (int s = t + 1; s < T; s++) pt[s] = 0.0f;
}

/* The same attention as matrix products per (b, h), in blocks of
 * SLM_TL_ATTN_BLOCK query rows: block [r0, r1) needs keys [0, r1) only,
 * so the causal upper triangle beyond the diagonal blocks is never
 * computed. S = scale Q K^T, P = softmax(S), O = P V. */
static void attn_fwd_blas(void *ctx, int ith, int nth)
{
    const attn_job *j = ctx;
    const int T = j->T, H = j->H, G = j->G, hd = j->hd, per = H / G;
    const int HQ = H * hd, HKV = G * hd, RB = SLM_TL_ATTN_BLOCK;
    const float scale = 1.0f / sqrtf((float)hd);
    for (int bh = ith; bh < j->B * H; bh += nth) {
        const int b = bh / H, h = bh % H, g = h / per;
        const float *Q = j->q + (size_t)b * T * HQ + (size_t)h * hd;
        const float *K = j->k + (size_t)b * T * HKV + (size_t)g * hd;
        const float *V = j->v + (size_t)b * T * HKV + (size_t)g * hd;
        float *O = j->out + (size_t)b * T * HQ + (size_t)h * hd;
        float *Pm = j->p + ((size_t)b * H + h) * T * T;
        for (int r0 = 0; r0 < T; r0 += RB) {
            const int r1 = r0 + RB < T ? r0 + RB : T, nr = r1 - r0;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, r1, hd, scale,
                        Q + (size_t)r0 * HQ, HQ, K, HKV, 0.0f, Pm + (size_t)r0 * T, T);
            for (int t = r0; t < r1; t++) causal_softmax_row(Pm + (size_t)t * T, t, T);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, hd, r1, 1.0f,
                        Pm + (size_t)r0 * T, T, V, HKV, 0.0f, O + (size_t)r0 * HQ, HQ);
        }
    }
}

/* Backward per (b, kv head) (a thread owns the dK/dV rows it writes), per
 * head of the group and block of query rows [r0, r1):
 *   dP = dO V^T; dS = P (dP - rowsum(P dP)) scale (in the scratch block);
 *   dV[0:r1] += P^T dO; dQ[r0:r1] += dS K; dK[0:r1] += dS^T Q. */
static void attn_bwd_blas(void *ctx, int ith, int nth)
{
    const attn_job *j = ctx;
    const int T = j->T, H = j->H, G = j->G, hd = j->hd, per = H / G;
    const int HQ = H * hd, HKV = G * hd, RB = SLM_TL_ATTN_BLOCK;
    const float scale = 1.0f / sqrtf((float)hd);
    float *dS = j->scratch + (size_t)ith * T * (T < RB ? T : RB);
    for (int bg = ith; bg < j->B * G; bg += nth) {
        const int b = bg / G, g = bg % G;
        const float *K = j->k + (size_t)b * T * HKV + (size_t)g * hd;
        const float *V = j->v + (size_t)b * T * HKV + (size_t)g * hd;
        float *dK = j->dk + (size_t)b * T * HKV + (size_t)g * hd;
        float *dV = j->dv + (size_t)b * T * HKV + (size_t)g * hd;
        for (int h = g * per; h < (g + 1) * per; h++) {
            const size_t qo = (size_t)b * T * HQ + (size_t)h * hd;
            const float *Q = j->q + qo, *dO = j->dout + qo;
            float *dQ = j->dq + qo;
            const float *Pm = j->pc + ((size_t)b * H + h) * T * T;
            for (int r0 = 0; r0 < T; r0 += RB) {
                const int r1 = r0 + RB < T ? r0 + RB : T, nr = r1 - r0;
                const float *Pb = Pm + (size_t)r0 * T;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, r1, hd, 1.0f,
                            dO + (size_t)r0 * HQ, HQ, V, HKV, 0.0f, dS, T);
                for (int i = 0; i < nr; i++) {
                    const int t = r0 + i;
                    const float *pt = Pb + (size_t)i * T;
                    float *st = dS + (size_t)i * T;
                    float acc = 0.0f;
                    for (int s = 0; s <= t; s++) acc += pt[s] * st[s];
                    for (int s = 0; s <= t; s++) st[s] = pt[s] * (st[s] - acc) * scale;
                    for (int s = t + 1; s < r1; s++) st[s] = 0.0f;
                }
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1, hd, nr, 1.0f, Pb, T,
                            dO + (size_t)r0 * HQ, HQ, 1.0f, dV, HKV);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, hd, r1, 1.0f, dS, T, K,
                            HKV, 1.0f, dQ + (size_t)r0 * HQ, HQ);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1, hd, nr, 1.0f, dS, T,
                            Q + (size_t)r0 * HQ, HQ, 1.0f, dK, HKV);
            }
        }
    }
}
#endif

void slm_tl_attention_forward(slm_pool *pool, float *out, float *p, const float *q,
                              const float *k, const float *v, int B, int T, int H, int G, int hd)
{
    attn_job j = {.out = out, .p = p, .q = q, .k = k, .v = v, .B = B, .T = T, .H = H, .G = G,
                  .hd = hd};
    slm_pool_fn fn = attn_fwd_run;
#ifdef SLM_HAVE_OPENBLAS
    if (slm_tl_use_blas) fn = attn_fwd_blas;
#endif
    if (pool) slm_pool_run(pool, fn, &j);
    else fn(&j, 0, 1);
}

/* One (b, kv head) per unit, so a thread owns the dk/dv rows it writes.
 * dp_s = dout . v_s; ds_s = p_s (dp_s - sum_r p_r dp_r) (softmax backward);
 * dq += scale sum_s ds_s k_s; dk_s += scale ds_s q; dv_s += p_s dout. */
static void attn_bwd_run(void *ctx, int ith, int nth)
{
    const attn_job *j = ctx;
    const int T = j->T, H = j->H, G = j->G, hd = j->hd, per = H / G;
    const float scale = 1.0f / sqrtf((float)hd);
    float *dp = j->scratch + (size_t)ith * T;
    for (int bg = ith; bg < j->B * G; bg += nth) {
        const int b = bg / G, g = bg % G;
        for (int h = g * per; h < (g + 1) * per; h++)
            for (int t = 0; t < T; t++) {
                const size_t qo = ((size_t)b * T + t) * H * hd + (size_t)h * hd;
                const float *qt = j->q + qo, *dot = j->dout + qo;
                float *dqt = j->dq + qo;
                const float *pt = j->pc + (((size_t)b * H + h) * T + t) * T;
                float acc = 0.0f;
                for (int s = 0; s <= t; s++) {
                    const size_t ko = ((size_t)b * T + s) * G * hd + (size_t)g * hd;
                    const float *vs = j->v + ko;
                    float *dvs = j->dv + ko;
                    const float d = dot8(dot, vs, hd);
                    for (int i = 0; i < hd; i++) dvs[i] += pt[s] * dot[i];
                    dp[s] = d;
                    acc += pt[s] * d;
                }
                for (int s = 0; s <= t; s++) {
                    const size_t ko = ((size_t)b * T + s) * G * hd + (size_t)g * hd;
                    const float ds = pt[s] * (dp[s] - acc) * scale;
                    const float *ks = j->k + ko;
                    float *dks = j->dk + ko;
                    for (int i = 0; i < hd; i++) {
                        dqt[i] += ds * ks[i];
                        dks[i] += ds * qt[i];
                    }
                }
            }
    }
}

void slm_tl_attention_backward(slm_pool *pool, float *dq, float *dk, float *dv, const float *dout,
                               const float *p, const float *q, const float *k, const float *v,
                               int B, int T, int H, int G, int hd, float *scratch)
{
    attn_job j = {.dq = dq, .dk = dk, .dv = dv, .scratch = scratch, .dout = dout, .pc = p,
                  .q = q, .k = k, .v = v, .B = B, .T = T, .H = H, .G = G, .hd = hd};
    slm_pool_fn fn = attn_bwd_run;
#ifdef SLM_HAVE_OPENBLAS
    if (slm_tl_use_blas) fn = attn_bwd_blas;
#endif
    if (pool) slm_pool_run(pool, fn, &j);
    else fn(&j, 0, 1);
}

/* ---- SwiGLU ------------------------------------------------------------ */

void slm_tl_swiglu_forward(float *a, const float *g, const float *u, size_t n)
{
    for (size_t i = 0; i < n; i++) a[i] = g[i] / (1.0f + slm_fexp(-g[i])) * u[i];
}

/* d silu(g)/dg = sig(g) (1 + g (1 - sig(g))). */
void slm_tl_swiglu_backward(float *dg, float *du, const float *da, const float *g, const float *u,
                            size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const float sg = 1.0f / (1.0f + slm_fexp(-g[i]));
        dg[i] += da[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
        du[i] += da[i] * g[i] * sg;
    }
}

/* ---- softmax cross-entropy -------------------------------------------- */

void slm_tl_xent_forward(float *losses, const float *logits, const int32_t *targets, int BT, int V)
{
    for (int t = 0; t < BT; t++) {
        const float *z = logits + (size_t)t * V;
        float mx = -INFINITY;
        for (int i = 0; i < V; i++) mx = z[i] > mx ? z[i] : mx;
        double sum = 0.0;
        for (int i = 0; i < V; i++) sum += exp((double)(z[i] - mx));
        losses[t] = (float)(log(sum) - (double)(z[targets[t]] - mx));
    }
}

void slm_tl_xent_backward(float *logits, const int32_t *targets, int BT, int V, float scale)
{
    for (int t = 0; t < BT; t++) {
        float *z = logits + (size_t)t * V;
        float mx = -INFINITY;
        for (int i = 0; i < V; i++) mx = z[i] > mx ? z[i] : mx;
        double sum = 0.0;
        for (int i = 0; i < V; i++) sum += exp((double)(z[i] - mx));
        const float inv = (float)(1.0 / sum);
        for (int i = 0; i < V; i++) z[i] = expf(z[i] - mx) * inv * scale;
        z[targets[t]] -= scale;
    }
}
