/* gemm.c — picks the GEMM kernels of gemm.h for the active kernel level and
 * owns the GEMM activation layout (blocks + per-block sums). AVX2 has
 * Q4_0, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K, F16 and BF16; AArch64 has Q4_0 and
 * Q8_0 (SDOT, or SMMLA with FEAT_I8MM); every other (type, ISA)
 * returns NULL and matmul falls back to the per-row kernels.
 */
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
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
    if (!avx2) return NULL;
    switch (t) {
    case SLM_TYPE_Q4_0: return slm_gemm_q4_0_q8_0_avx2;
    case SLM_TYPE_Q5_0: return slm_gemm_q5_0_q8_0_avx2;
    case SLM_TYPE_Q8_0: return slm_gemm_q8_0_q8_0_avx2;
    case SLM_TYPE_Q4_K: return slm_gemm_q4_k_q8_k_avx2;
    case SLM_TYPE_Q5_K: return slm_gemm_q5_k_q8_k_avx2;
    case SLM_TYPE_Q6_K: return slm_gemm_q6_k_q8_k_avx2;
    case SLM_TYPE_F16: return slm_gemm_f16_f32_avx2;
    case SLM_TYPE_BF16: return slm_gemm_bf16_f32_avx2;
    default: return NULL;
    }
#elif SLM_HAVE_NEON_DOTPROD
    /* AArch64: SDOT tiles at the dotprod level; SMMLA tiles when the CPU
     * has FEAT_I8MM (HWCAP2) and SLM_ISA is unset or "i8mm" (the top ARM
     * level, which has no per-row kernels of its own: the table stays
     * dotprod's) */
    const slm_kernels *k = slm_kernels_get();
    if (!k || strcmp(k->isa, "dotprod") != 0) return NULL;
    const char *isa = getenv("SLM_ISA");
    const int i8mm = slm_cpu_get()->neon_i8mm && (!isa || !*isa || strcmp(isa, "i8mm") == 0);
    switch (t) {
    case SLM_TYPE_Q4_0: return i8mm ? slm_gemm_q4_0_q8_0_i8mm : slm_gemm_q4_0_q8_0_dotprod;
    case SLM_TYPE_Q8_0: return i8mm ? slm_gemm_q8_0_q8_0_i8mm : slm_gemm_q8_0_q8_0_dotprod;
    default: return NULL;
    }
#else
    (void)t;
    return NULL;
#endif
}

static int has_sums(slm_type t)
{
    return t == SLM_TYPE_Q4_0 || t == SLM_TYPE_Q5_0;
}

slm_type slm_gemm_act_type(slm_type t)
{
    if (t == SLM_TYPE_F16 || t == SLM_TYPE_BF16) return SLM_TYPE_F32;
    const slm_type_traits *tr = slm_type_traits_get(t);
    return tr ? tr->vec_dot_type : SLM_TYPE_F32;
}

size_t slm_gemm_act_bytes(slm_type t, int64_t n)
{
    switch (t) {
    case SLM_TYPE_Q4_0:
    case SLM_TYPE_Q5_0:
    case SLM_TYPE_Q8_0:
        if (n % SLM_QK8_0) return 0;
        return slm_gemm_q8_0_sums_offset(n) + (has_sums(t) ? (size_t)(n / SLM_QK8_0) * sizeof(int16_t) : 0);
    case SLM_TYPE_Q4_K:
    case SLM_TYPE_Q5_K:
    case SLM_TYPE_Q6_K:
        if (n % SLM_QK_K) return 0;
        return (size_t)(n / SLM_QK_K) * sizeof(slm_block_q8_K);
    case SLM_TYPE_F16:
    case SLM_TYPE_BF16:
        return (size_t)n * sizeof(float);
    default:
        return 0;
    }
}

void slm_gemm_act_sums(slm_type t, void *row, int64_t n)
{
    if (!has_sums(t)) return;
    const slm_block_q8_0 *b = row;
    uint8_t *out = (uint8_t *)row + slm_gemm_q8_0_sums_offset(n);
    for (int64_t i = 0; i < n / SLM_QK8_0; i++) {
        int s = 0;
        for (int j = 0; j < SLM_QK8_0; j++) s += b[i].qs[j];
        const int16_t s16 = (int16_t)s; /* |s| <= 32 * 128 */
        memcpy(out + (size_t)i * sizeof s16, &s16, sizeof s16);
    }
}

void slm_gemm_act_convert(slm_type t, const float *x, void *row, int64_t n)
{
    if (t == SLM_TYPE_F16 || t == SLM_TYPE_BF16) {
#if SLM_HAVE_X86
        if (slm_gemm_get(t)) {
            if (t == SLM_TYPE_F16) slm_gemm_act_f16_avx2(x, row, n);
            else slm_gemm_act_bf16_avx2(x, row, n);
            return;
        }
#endif
        /* portable form of the same rounding (no GEMM reads it here, but
         * the layout is defined on every target) */
        float *y = row;
        for (int64_t i = 0; i < n; i++)
            y[i] = t == SLM_TYPE_F16 ? slm_fp16_to_fp32(slm_fp32_to_fp16(x[i]))
                                     : slm_bf16_to_fp32(slm_fp32_to_bf16(x[i]));
        return;
    }
    const slm_type_traits *tr = slm_type_traits_get(t);
    slm_kernels_get()->quant_act[tr->vec_dot_type](x, row, n);
    slm_gemm_act_sums(t, row, n);
}
