/* register.c — slm_kernels_add_neon: overwrite the scalar table's entries
 * that have a NEON version. dispatch.c calls it only when cpu.c has found
 * NEON (HWCAP_ASIMD on AArch64, HWCAP_NEON + HWCAP_VFPv4 on ARMv7); entries
 * not listed keep the scalar kernel. The SDOT versions of the integer dots
 * are registered on top by intdot_dotprod.c.
 */
#include "kernels/neon/neon.h"

void slm_kernels_add_neon(slm_kernels *k)
{
    k->isa = "neon";

    k->vec_dot[SLM_TYPE_F32] = slm_vec_dot_f32_f32_neon;
    k->vec_dot[SLM_TYPE_F16] = slm_vec_dot_f16_f16_neon;
    k->vec_dot[SLM_TYPE_BF16] = slm_vec_dot_bf16_bf16_neon;
    k->vec_dot[SLM_TYPE_Q4_0] = slm_vec_dot_q4_0_q8_0_neon;
    k->vec_dot[SLM_TYPE_Q8_0] = slm_vec_dot_q8_0_q8_0_neon;
    k->vec_dot[SLM_TYPE_Q4_K] = slm_vec_dot_q4_k_q8_k_neon;
    k->vec_dot[SLM_TYPE_Q5_K] = slm_vec_dot_q5_k_q8_k_neon;
    k->vec_dot[SLM_TYPE_Q6_K] = slm_vec_dot_q6_k_q8_k_neon;
    k->vec_dot[SLM_TYPE_IQ4_XS] = slm_vec_dot_iq4_xs_q8_k_neon;

    k->quant_act[SLM_TYPE_Q8_0] = slm_quant_act_q8_0_neon;
    k->quant_act[SLM_TYPE_Q8_K] = slm_quant_act_q8_k_neon;
#if defined(__aarch64__)
    k->quant_act[SLM_TYPE_F16] = slm_quant_act_f16_neon;
#endif
}
