/* activation.c — SiLU, ggml's fp16-table GELU, gated units, soft-capping and
 * MoE routing, each rounded the way llama.cpp's CPU ops round. */
#include <math.h>

#include "nn/nn.h"
#include "quant/types.h"

float slm_nn_silu(float x) { return x / (1.0f + expf(-x)); }

/* ggml builds a 65536-entry table gelu(fp16 x) rounded to fp16 and looks the
 * fp16-rounded input up in it; computing the same two roundings on the fly
 * gives the identical value without the table. */
float slm_nn_gelu_fp16(float x)
{
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    const float c_a = 0.044715f, sqrt_2_over_pi = 0.79788456080286535587989211986876f;
    float xh = slm_fp16_to_fp32(slm_fp32_to_fp16(x));
    float g = 0.5f * xh * (1.0f + tanhf(sqrt_2_over_pi * xh * (1.0f + c_a * xh * xh)));
    return slm_fp16_to_fp32(slm_fp32_to_fp16(g));
}

void slm_nn_glu(float *g, const float *u, int64_t n, int act)
{
    if (act == SLM_ACT_GELU) {
        for (int64_t i = 0; i < n; i++) {
            /* ggml_vec_geglu_f32: x >= 10 passes x through unrounded */
            float x = g[i];
            float a = x >= 10.0f ? x : slm_nn_gelu_fp16(x);
            g[i] = a * u[i];
        }
    } else {
        for (int64_t i = 0; i < n; i++) g[i] = slm_nn_silu(g[i]) * u[i];
    }
}

typedef struct glu_job {
    float *g;
    const float *u;
    int64_t n;
    int act;
} glu_job;

static void glu_run(void *ctx, int ith, int nth)
{
    glu_job *j = ctx;
    /* 16-float (cache line) granules so chunks never share a line */
    const int64_t n16 = (j->n + 15) / 16;
    int64_t i0 = n16 * ith / nth * 16, i1 = n16 * (ith + 1) / nth * 16;
    if (i1 > j->n) i1 = j->n;
    if (i0 < i1) slm_nn_glu(j->g + i0, j->u + i0, i1 - i0, j->act);
}

void slm_nn_glu_pool(slm_pool *pool, float *g, const float *u, int64_t n, int act)
{
    glu_job j = {g, u, n, act};
    if (n < 8192) slm_nn_glu(g, u, n, act); /* a pool run costs more than this */
    else slm_pool_run(pool, glu_run, &j);
}

void slm_nn_softcap(float *x, int64_t n, float c)
{
    const float inv = 1.0f / c;
    for (int64_t i = 0; i < n; i++) x[i] = tanhf(x[i] * inv) * c;
}

void slm_nn_moe_route(const float *logits, int n_expert, int n_used, int norm, int32_t *ids,
                      float *weights, float *probs)
{
    float max = -INFINITY;
    for (int e = 0; e < n_expert; e++)
        if (logits[e] > max) max = logits[e];
    double sum = 0.0;
    for (int e = 0; e < n_expert; e++) {
        probs[e] = expf(logits[e] - max);
        sum += (double)probs[e];
    }
    const float inv = (float)(1.0 / sum);
    for (int e = 0; e < n_expert; e++) probs[e] *= inv;
    /* selection: n_used passes of argmax, lower index wins ties */
    for (int k = 0; k < n_used; k++) {
        int best = -1;
        for (int e = 0; e < n_expert; e++) {
            int taken = 0;
            for (int j = 0; j < k; j++)
                if (ids[j] == e) taken = 1;
            if (taken) continue;
            if (best < 0 || probs[e] > probs[best]) best = e;
        }
        ids[k] = best;
        weights[k] = probs[best];
    }
    if (norm) {
        double s = 0.0;
        for (int k = 0; k < n_used; k++) s += (double)weights[k];
        const float fs = (float)s;
        for (int k = 0; k < n_used; k++) weights[k] = weights[k] / fs;
    }
}
