/* float.c — dots of F32, F16 and BF16 rows with activations of the same
 * type. As ggml's generic code: each product in float, summed in double.
 */
#include "kernels/scalar/scalar.h"

void slm_vec_dot_f32_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const float *x = w, *y = a;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * y[i]);
    *s = (float)sum;
}

void slm_vec_dot_f16_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_fp16 *x = w, *y = a;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(slm_fp16_to_fp32(x[i]) * slm_fp16_to_fp32(y[i]));
    *s = (float)sum;
}

void slm_vec_dot_bf16_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_bf16 *x = w, *y = a;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(slm_bf16_to_fp32(x[i]) * slm_bf16_to_fp32(y[i]));
    *s = (float)sum;
}
