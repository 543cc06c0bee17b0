/* fexp.h — exp for the training loops (softmax, SiLU, cross-entropy) in a
 * form the compiler vectorizes: no calls, no branches. Range reduction
 * x = n ln2 + r (|r| <= ln2/2, ln2 split in two so n ln2 is exact), e^r by
 * the degree-6 minimax polynomial of the Cephes library's expf, 2^n built
 * in the exponent bits. Input clamped to [-87, 88] (so e^x is a normal
 * float); relative error within 2 ulp of expf over that range
 * (tests/test_train.c checks it). Internal to src/train.
 *
 * GCC keeps a float compare out of a vectorized loop under the default
 * -ftrapping-math (a compare may raise an FP exception), so the files that
 * use these loops say `#pragma GCC optimize("no-trapping-math")` first:
 * nothing in the library reads FP exception flags.
 */
#ifndef SLM_TRAIN_FEXP_H
#define SLM_TRAIN_FEXP_H

#include <stdint.h>
#include <string.h>

static inline float slm_fexp(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    /* n = round(x / ln2): adding 1.5 * 2^23 rounds to an integer */
    const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return p * s;
}

/* max of x[0..n), eight lanes (n >= 1) */
static inline float slm_vmax(const float *x, int n)
{
    float acc[8];
    for (int k = 0; k < 8; k++) acc[k] = x[0];
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] = x[i + k] > acc[k] ? x[i + k] : acc[k];
    float m = acc[0];
    for (int k = 1; k < 8; k++) m = acc[k] > m ? acc[k] : m;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

/* y[i] = e^(x[i] - sub) over [0, n) (y may be x); returns their sum,
 * eight lanes */
static inline float slm_vexp_sum(float *y, const float *x, float sub, int n)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += y[i + k] = slm_fexp(x[i + k] - sub);
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += y[i] = slm_fexp(x[i] - sub);
    return s;
}

/* the sum alone */
static inline float slm_exp_sum(const float *x, float sub, int n)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += slm_fexp(x[i + k] - sub);
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += slm_fexp(x[i] - sub);
    return s;
}

#endif
