/* batch.c — picks the few-row kernels of batch.h for the active kernel
 * level and fills the extended activation row they read.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels/batch.h"
#include "kernels/kernels.h"

slm_batch_fn slm_batch_get(slm_type t)
{
    const char *env = getenv("SLM_BATCH");
    if (env && strcmp(env, "off") == 0) return NULL;
#if SLM_HAVE_X86
    const slm_kernels *k = slm_kernels_get();
    const int avx2 = k && (strcmp(k->isa, "avx2") == 0 || strcmp(k->isa, "avx512") == 0);
    if (!avx2) return NULL;
    switch (t) {
    case SLM_TYPE_Q5_0: return slm_batch_q5_0_q8_0_avx2;
    case SLM_TYPE_Q8_0: return slm_batch_q8_0_q8_0_avx2;
    default: return NULL;
    }
#else
    (void)t;
    return NULL;
#endif
}

size_t slm_batch_act_bytes(int64_t n)
{
    if (n <= 0 || n % SLM_QK8_0) return 0;
    return slm_batch_ext_offset(n) + (size_t)(n / SLM_QK8_0) * (sizeof(float) + 16 * sizeof(int16_t));
}

void slm_batch_act_extend(void *row, int64_t n)
{
    const slm_block_q8_0 *b = row;
    const int64_t nb = n / SLM_QK8_0;
    uint8_t *ext = (uint8_t *)row + slm_batch_ext_offset(n);
    for (int64_t i = 0; i < nb; i++) {
        const float d = slm_fp16_to_fp32(b[i].d);
        memcpy(ext + (size_t)i * sizeof d, &d, sizeof d);
        int16_t pair[16];
        for (int j = 0; j < 16; j++) pair[j] = (int16_t)(16 * (b[i].qs[2 * j] + b[i].qs[2 * j + 1]));
        memcpy(ext + (size_t)nb * sizeof d + (size_t)i * sizeof pair, pair, sizeof pair);
    }
}
