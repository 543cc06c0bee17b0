/* init.c — fills a kernel table with the scalar kernels: every weight type
 * gets a dot, every activation type a quantizer, every type its exact
 * dequantizer from the traits table.
 */
#include "kernels/scalar/scalar.h"

void slm_kernels_init_scalar(slm_kernels *k)
{
    memset(k, 0, sizeof *k);
    k->isa = "scalar";
    k->vec_dot[SLM_TYPE_F32] = slm_vec_dot_f32_scalar;
    k->vec_dot[SLM_TYPE_F16] = slm_vec_dot_f16_scalar;
    k->vec_dot[SLM_TYPE_BF16] = slm_vec_dot_bf16_scalar;
    k->vec_dot[SLM_TYPE_Q4_0] = slm_vec_dot_q4_0_scalar;
    k->vec_dot[SLM_TYPE_Q4_1] = slm_vec_dot_q4_1_scalar;
    k->vec_dot[SLM_TYPE_Q5_0] = slm_vec_dot_q5_0_scalar;
    k->vec_dot[SLM_TYPE_Q5_1] = slm_vec_dot_q5_1_scalar;
    k->vec_dot[SLM_TYPE_Q8_0] = slm_vec_dot_q8_0_scalar;
    k->vec_dot[SLM_TYPE_Q2_K] = slm_vec_dot_q2_k_scalar;
    k->vec_dot[SLM_TYPE_Q3_K] = slm_vec_dot_q3_k_scalar;
    k->vec_dot[SLM_TYPE_Q4_K] = slm_vec_dot_q4_k_scalar;
    k->vec_dot[SLM_TYPE_Q5_K] = slm_vec_dot_q5_k_scalar;
    k->vec_dot[SLM_TYPE_Q6_K] = slm_vec_dot_q6_k_scalar;
    k->vec_dot[SLM_TYPE_IQ4_NL] = slm_vec_dot_iq4_nl_scalar;
    k->vec_dot[SLM_TYPE_IQ4_XS] = slm_vec_dot_iq4_xs_scalar;

    k->quant_act[SLM_TYPE_F32] = slm_quant_act_f32_scalar;
    k->quant_act[SLM_TYPE_F16] = slm_quant_act_f16_scalar;
    k->quant_act[SLM_TYPE_BF16] = slm_quant_act_bf16_scalar;
    k->quant_act[SLM_TYPE_Q8_0] = slm_quant_act_q8_0_scalar;
    k->quant_act[SLM_TYPE_Q8_1] = slm_quant_act_q8_1_scalar;
    k->quant_act[SLM_TYPE_Q8_K] = slm_quant_act_q8_k_scalar;

    for (int t = 0; t < SLM_TYPE_COUNT; t++) {
        const slm_type_traits *tt = slm_type_traits_get((slm_type)t);
        if (tt) k->to_float[t] = tt->to_float;
    }
}
