/* scalar.h — the portable kernels (the oracle every ISA is tested against).
 * Dots follow ggml's generic code: an integer dot product per (sub-)block,
 * scaled and accumulated in float (F32/F16/BF16: products summed in double).
 */
#ifndef SLM_KERNELS_SCALAR_H
#define SLM_KERNELS_SCALAR_H

#include "kernels/kernels.h"

void slm_vec_dot_f32_scalar(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_f16_scalar(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_bf16_scalar(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_q4_0_scalar(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_q4_1_scalar(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_q5_0_scalar(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_q5_1_scalar(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_q8_0_scalar(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_q2_k_scalar(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_q3_k_scalar(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_q4_k_scalar(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_q5_k_scalar(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_q6_k_scalar(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_iq4_nl_scalar(int64_t n, float *s, const void *w, const void *a);
void slm_vec_dot_iq4_xs_scalar(int64_t n, float *s, const void *w, const void *a);

/* Activation quantizers, rounding exactly as llama.cpp's x86 CPU backend. */
void slm_quant_act_f32_scalar(const float *x, void *y, int64_t n);
void slm_quant_act_f16_scalar(const float *x, void *y, int64_t n);
void slm_quant_act_bf16_scalar(const float *x, void *y, int64_t n);
void slm_quant_act_q8_0_scalar(const float *x, void *y, int64_t n);
void slm_quant_act_q8_1_scalar(const float *x, void *y, int64_t n);
void slm_quant_act_q8_k_scalar(const float *x, void *y, int64_t n);

#endif
