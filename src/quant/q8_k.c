/* q8_k.c — Q8_K: the activation type of the k-quant dot products. Blocks of
 * 256, x = d * q with d a float; bsums[g] = sum of q over 16-element group g
 * (lets dots subtract a min term without touching the weights' mins twice).
 * This quantizer is ggml's quantize_row_q8_K_ref, which is also what the x86
 * CPU backend uses at run time.
 */
#include "quant/rows.h"

void slm_q8_k_to_float(const void *src, float *dst, int64_t n)
{
    const slm_block_q8_K *b = src;
    for (int64_t i = 0; i < n / SLM_QK_K; i++, dst += SLM_QK_K)
        for (int j = 0; j < SLM_QK_K; j++) dst[j] = b[i].d * (float)b[i].qs[j];
}

void slm_q8_k_from_float(const float *x, void *dst, int64_t n)
{
    slm_block_q8_K *b = dst;
    for (int64_t i = 0; i < n / SLM_QK_K; i++, x += SLM_QK_K) {
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < SLM_QK_K; j++) {
            float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        /* Scale by the signed extreme: it maps to exactly -127, and the
         * opposite side may reach +128, hence the clamp to 127. */
        const float iscale = -127.f / max;
        for (int j = 0; j < SLM_QK_K; j++) {
            int v = slm_nearest_int(iscale * x[j]);
            b[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int g = 0; g < SLM_QK_K / 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += b[i].qs[g * 16 + l];
            b[i].bsums[g] = (int16_t)sum;
        }
        b[i].d = 1 / iscale;
    }
}
