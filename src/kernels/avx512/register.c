/* register.c — AVX-512 kernels: none yet (the development machine has no
 * AVX-512), so the AVX2 entries stay in place on AVX-512 CPUs. */
#include "kernels/kernels.h"

void slm_kernels_add_avx512(slm_kernels *k) { (void)k; }
