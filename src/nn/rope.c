/* rope.c — rotary position embedding as ggml_rope computes it: angles built
 * by repeated float multiplication theta *= base^(-2/n_rot) starting from
 * the position, divided by per-pair frequency factors, scaled by
 * freq_scale; cos/sin scaled by mscale. Normal mode rotates (2i, 2i+1),
 * neox mode (i, i + n_rot/2). Dimensions past n_rot are left unchanged. */
#include <math.h>

#include "nn/nn.h"

void slm_nn_rope(const slm_rope *r, float *x, int n_head, int head_dim, int32_t pos, float *cache)
{
    const float theta_scale = powf(r->base, -2.0f / (float)r->n_rot);
    float theta = (float)pos;
    for (int i0 = 0; i0 < r->n_rot; i0 += 2) {
        const float ff = r->freq_factors ? r->freq_factors[i0 / 2] : 1.0f;
        const float t = r->freq_scale * (theta / ff);
        cache[i0] = cosf(t) * r->mscale;
        cache[i0 + 1] = sinf(t) * r->mscale;
        theta *= theta_scale;
    }
    const int half = r->n_rot / 2;
    for (int h = 0; h < n_head; h++) {
        float *v = x + (size_t)h * head_dim;
        for (int i0 = 0; i0 < r->n_rot; i0 += 2) {
            const float c = cache[i0], s = cache[i0 + 1];
            const int a = r->neox ? i0 / 2 : i0;
            const int b = r->neox ? i0 / 2 + half : i0 + 1;
            const float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}
