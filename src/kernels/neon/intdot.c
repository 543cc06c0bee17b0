/* intdot.c — the integer-dot kernels of intdot.h with plain NEON: 16 int8
 * products as two SMULLs (int16, exact: |x * y| <= 128 * 128) pairwise added
 * into int32 lanes (SADALP). Runs on every AArch64 and ARMv7-NEON core.
 */
#include "kernels/neon/neon.h"

static inline int32x4_t intdot_smull(int32x4_t acc, int8x16_t x, int8x16_t y)
{
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x), vget_low_s8(y)));
    return vpadalq_s16(acc, vmull_s8(vget_high_s8(x), vget_high_s8(y)));
}

#define INTDOT_FN(name) name##_neon
#define INTDOT(acc, x, y) intdot_smull((acc), (x), (y))
#include "kernels/neon/intdot.h"
