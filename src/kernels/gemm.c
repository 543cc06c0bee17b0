/* gemm.c — picks the GEMM kernels of gemm.h for the active kernel level and
 * owns the GEMM activation layout (blocks + per-block sums). Q4_0 and
 * Q8_0 on AVX2 so far; every other (type, ISA) returns NULL and matmul falls back
 * to the per-row kernels.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm.h"
#include "kernels/kernels.h"

slm_gemm_fn slm_gemm_get(slm_type t)
{
    /* SLM_GEMM=off: per-row kernels only (A/B runs, like SLM_ISA) */
    const char *env = getenv("SLM_GEMM");
    if (env && strcmp(env, "off") == 0) return NULL;
#if SLM_HAVE_X86
    const slm_kernels *k = slm_kernels_get();
    /* "avx2" and "avx512" both imply the AVX2 folder was enabled by
     * dispatch.c after the CPU check (and SLM_ISA allowed it). */
    const int avx2 = k && (strcmp(k->isa, "avx2") == 0 || strcmp(k->isa, "avx512") == 0);
    if (avx2 && t == SLM_TYPE_Q4_0) return slm_gemm_q4_0_q8_0_avx2;
    if (avx2 && t == SLM_TYPE_Q8_0) return slm_gemm_q8_0_q8_0_avx2;
#else
    (void)t;
#endif
    return NULL;
}

size_t slm_gemm_act_bytes(slm_type t, int64_t n)
{
    if ((t != SLM_TYPE_Q4_0 && t != SLM_TYPE_Q8_0) || n % SLM_QK8_0) return 0;
    return slm_gemm_q8_0_sums_offset(n) + (size_t)(n / SLM_QK8_0) * sizeof(int16_t);
}

void slm_gemm_act_sums(slm_type t, void *row, int64_t n)
{
    if (t != SLM_TYPE_Q4_0) return;
    const slm_block_q8_0 *b = row;
    uint8_t *out = (uint8_t *)row + slm_gemm_q8_0_sums_offset(n);
    for (int64_t i = 0; i < n / SLM_QK8_0; i++) {
        int s = 0;
        for (int j = 0; j < SLM_QK8_0; j++) s += b[i].qs[j];
        const int16_t s16 = (int16_t)s; /* |s| <= 32 * 128 */
        memcpy(out + (size_t)i * sizeof s16, &s16, sizeof s16);
    }
}
