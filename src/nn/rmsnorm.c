/* rmsnorm.c — RMS normalisation as ggml_rms_norm + ggml_mul compute it:
 * squares formed in float, summed in double, one float scale, then the
 * weight multiplied in a separate rounding step. */
#include <math.h>

#include "nn/nn.h"

void slm_nn_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    if (w) {
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] * scale;
            y[i] = v * w[i];
        }
    } else {
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale;
    }
}
