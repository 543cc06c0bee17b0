/* intdot_dotprod.c — the integer-dot kernels of intdot.h with SDOT (4 int8
 * products per int32 lane in one instruction). Compiled with
 * -march=armv8.2-a+dotprod on AArch64 only; dispatch.c enables it when the
 * kernel reports HWCAP_ASIMDDP. Also holds slm_kernels_add_neon_dotprod, so
 * nothing outside this file needs the extension.
 */
#include "kernels/neon/neon.h"

#define INTDOT_FN(name) name##_dotprod
#define INTDOT(acc, x, y) vdotq_s32((acc), (x), (y))
#include "kernels/neon/intdot.h"

void slm_kernels_add_neon_dotprod(slm_kernels *k)
{
    k->isa = "dotprod";
    k->vec_dot[SLM_TYPE_Q4_0] = slm_vec_dot_q4_0_q8_0_dotprod;
    k->vec_dot[SLM_TYPE_Q8_0] = slm_vec_dot_q8_0_q8_0_dotprod;
    k->vec_dot[SLM_TYPE_Q4_K] = slm_vec_dot_q4_k_q8_k_dotprod;
    k->vec_dot[SLM_TYPE_Q5_K] = slm_vec_dot_q5_k_q8_k_dotprod;
    k->vec_dot[SLM_TYPE_Q6_K] = slm_vec_dot_q6_k_q8_k_dotprod;
    k->vec_dot[SLM_TYPE_IQ4_XS] = slm_vec_dot_iq4_xs_q8_k_dotprod;
}
