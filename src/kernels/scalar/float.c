/* float.c — dots of F32, F16 and BF16 rows with activations of the same
 * type. As ggml's generic code, each product is rounded to float and the
 * products are summed in double; four partial sums (elements i mod 4) keep
 * the additions independent, which makes this ~4x faster and changes the
 * result only within double rounding.
 */
#include <pthread.h>

#include "kernels/scalar/scalar.h"
#include "quant/rows.h"

/* fp16 -> fp32 for all 65536 halves (256 KB, built on first use): a load
 * per element instead of a branchy conversion, as ggml's scalar path. */
static float half_table[65536];
static pthread_once_t half_table_once = PTHREAD_ONCE_INIT;

static void half_table_init(void)
{
    for (uint32_t h = 0; h < 65536; h++) half_table[h] = slm_half_to_float((slm_fp16)h);
}

#define HALF_LOOKUP(v) half_table[(v)]

#define DOT4(conv)                                                         \
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                 \
    int64_t i = 0;                                                         \
    for (; i + 4 <= n; i += 4) {                                           \
        s0 += (double)(conv(x[i + 0]) * conv(y[i + 0]));                   \
        s1 += (double)(conv(x[i + 1]) * conv(y[i + 1]));                   \
        s2 += (double)(conv(x[i + 2]) * conv(y[i + 2]));                   \
        s3 += (double)(conv(x[i + 3]) * conv(y[i + 3]));                   \
    }                                                                      \
    for (; i < n; i++) s0 += (double)(conv(x[i]) * conv(y[i]));            \
    *s = (float)((s0 + s1) + (s2 + s3));

#define AS_IS(v) (v)

void slm_vec_dot_f32_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const float *x = w, *y = a;
    DOT4(AS_IS)
}

void slm_vec_dot_f16_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_fp16 *x = w, *y = a;
    pthread_once(&half_table_once, half_table_init);
    DOT4(HALF_LOOKUP)
}

void slm_vec_dot_bf16_scalar(int64_t n, float *s, const void *w, const void *a)
{
    const slm_bf16 *x = w, *y = a;
    DOT4(slm_bfloat_to_float)
}
