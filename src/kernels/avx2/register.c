/* register.c — slm_kernels_add_avx2: overwrite the scalar table's entries
 * that have an AVX2+FMA+F16C version. dispatch.c calls it only after cpu.c
 * has found those features; entries not listed keep the scalar kernel.
 */
#include "kernels/avx2/avx2.h"

void slm_kernels_add_avx2(slm_kernels *k)
{
    k->isa = "avx2";

    k->vec_dot[SLM_TYPE_F32] = slm_vec_dot_f32_f32_avx2;
    k->vec_dot[SLM_TYPE_F16] = slm_vec_dot_f16_f16_avx2;
    k->vec_dot[SLM_TYPE_BF16] = slm_vec_dot_bf16_bf16_avx2;
    k->vec_dot[SLM_TYPE_Q4_0] = slm_vec_dot_q4_0_q8_0_avx2;
    k->vec_dot[SLM_TYPE_Q4_1] = slm_vec_dot_q4_1_q8_1_avx2;
    k->vec_dot[SLM_TYPE_Q5_0] = slm_vec_dot_q5_0_q8_0_avx2;
    k->vec_dot[SLM_TYPE_Q5_1] = slm_vec_dot_q5_1_q8_1_avx2;
    k->vec_dot[SLM_TYPE_Q8_0] = slm_vec_dot_q8_0_q8_0_avx2;
    k->vec_dot[SLM_TYPE_IQ4_NL] = slm_vec_dot_iq4_nl_q8_0_avx2;
    k->vec_dot[SLM_TYPE_Q2_K] = slm_vec_dot_q2_k_q8_k_avx2;
    k->vec_dot[SLM_TYPE_Q3_K] = slm_vec_dot_q3_k_q8_k_avx2;
    k->vec_dot[SLM_TYPE_Q4_K] = slm_vec_dot_q4_k_q8_k_avx2;
    k->vec_dot[SLM_TYPE_Q5_K] = slm_vec_dot_q5_k_q8_k_avx2;
    k->vec_dot[SLM_TYPE_Q6_K] = slm_vec_dot_q6_k_q8_k_avx2;
    k->vec_dot[SLM_TYPE_IQ4_XS] = slm_vec_dot_iq4_xs_q8_k_avx2;

    k->vec_dot_x4[SLM_TYPE_F32] = slm_vec_dot_x4_f32_f32_avx2;
    k->vec_dot_x4[SLM_TYPE_F16] = slm_vec_dot_x4_f16_f16_avx2;
    k->vec_dot_x4[SLM_TYPE_Q4_0] = slm_vec_dot_x4_q4_0_q8_0_avx2;
    k->vec_dot_x4[SLM_TYPE_Q8_0] = slm_vec_dot_x4_q8_0_q8_0_avx2;
    k->vec_dot_x4[SLM_TYPE_Q4_K] = slm_vec_dot_x4_q4_k_q8_k_avx2;
    k->vec_dot_x4[SLM_TYPE_Q5_0] = slm_vec_dot_x4_q5_0_q8_0_avx2;
    k->vec_dot_x4[SLM_TYPE_IQ4_NL] = slm_vec_dot_x4_iq4_nl_q8_0_avx2;
    k->vec_dot_x4[SLM_TYPE_Q5_K] = slm_vec_dot_x4_q5_k_q8_k_avx2;
    k->vec_dot_x4[SLM_TYPE_Q6_K] = slm_vec_dot_x4_q6_k_q8_k_avx2;
    k->vec_dot_x4[SLM_TYPE_BF16] = slm_vec_dot_x4_bf16_bf16_avx2;
    k->vec_dot_x4[SLM_TYPE_Q4_1] = slm_vec_dot_x4_q4_1_q8_1_avx2;
    k->vec_dot_x4[SLM_TYPE_Q5_1] = slm_vec_dot_x4_q5_1_q8_1_avx2;
    k->vec_dot_x4[SLM_TYPE_Q2_K] = slm_vec_dot_x4_q2_k_q8_k_avx2;
    k->vec_dot_x4[SLM_TYPE_Q3_K] = slm_vec_dot_x4_q3_k_q8_k_avx2;
    k->vec_dot_x4[SLM_TYPE_IQ4_XS] = slm_vec_dot_x4_iq4_xs_q8_k_avx2;

    k->vec_dot_r4[SLM_TYPE_Q4_0] = slm_vec_dot_r4_q4_0_q8_0_avx2;

    k->quant_act[SLM_TYPE_F16] = slm_quant_act_f16_avx2;
    k->quant_act[SLM_TYPE_BF16] = slm_quant_act_bf16_avx2;
    k->quant_act[SLM_TYPE_Q8_0] = slm_quant_act_q8_0_avx2;
    k->quant_act[SLM_TYPE_Q8_1] = slm_quant_act_q8_1_avx2;
    k->quant_act[SLM_TYPE_Q8_K] = slm_quant_act_q8_k_avx2;
}
