/* gemm_dotprod.c — AArch64 tile GEMM with SDOT (gemm.h, gemm_neon.h):
 * Q4_0 and Q8_0 weights x Q8_0 activations, 4 weight rows x 4 activations
 * per tile. Each 16-byte weight vector holds 4 consecutive quants of each of
 * the 4 rows, so one by-element SDOT (the activation's 4 bytes picked by
 * lane) advances all 4 row dots: 8 SDOT per (block, activation), no
 * horizontal sums, and the decoded weights are shared by every activation.
 * Compiled with -march=armv8.2-a+dotprod; gemm.c returns these only at the
 * dotprod level or above (dispatch.c checked HWCAP_ASIMDDP).
 */
#include "kernels/neon/neon.h"

typedef struct {
    float d[4];        /* row scales */
    int8_t q[8][16];   /* [g][4r + c] = row r's quant 4g + c */
} blk4;

static inline void pack(blk4 *o, int8_t q[4][32], const float d[4])
{
    for (int r = 0; r < 4; r++) {
        o->d[r] = d[r];
        for (int g = 0; g < 8; g++) memcpy(&o->q[g][4 * r], &q[r][4 * g], 4);
    }
}

static void tile(const blk4 *wb, int64_t nb, const slm_block_q8_0 *const a[4], float out[4][4])
{
    float32x4_t acc[4];
    for (int k = 0; k < 4; k++) acc[k] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; b++) {
        const float32x4_t dw = vld1q_f32(wb[b].d);
        const int8x16_t w0 = vld1q_s8(wb[b].q[0]), w1 = vld1q_s8(wb[b].q[1]), w2 = vld1q_s8(wb[b].q[2]),
                        w3 = vld1q_s8(wb[b].q[3]), w4 = vld1q_s8(wb[b].q[4]), w5 = vld1q_s8(wb[b].q[5]),
                        w6 = vld1q_s8(wb[b].q[6]), w7 = vld1q_s8(wb[b].q[7]);
        SLM_NEON_UNROLL
        for (int k = 0; k < 4; k++) {
            const int8x16_t x0 = vld1q_s8(a[k][b].qs), x1 = vld1q_s8(a[k][b].qs + 16);
            int32x4_t s = vdotq_laneq_s32(vdupq_n_s32(0), w0, x0, 0);
            int32x4_t t = vdotq_laneq_s32(vdupq_n_s32(0), w4, x1, 0);
            s = vdotq_laneq_s32(s, w1, x0, 1);
            t = vdotq_laneq_s32(t, w5, x1, 1);
            s = vdotq_laneq_s32(s, w2, x0, 2);
            t = vdotq_laneq_s32(t, w6, x1, 2);
            s = vdotq_laneq_s32(s, w3, x0, 3);
            t = vdotq_laneq_s32(t, w7, x1, 3);
            acc[k] = vfmaq_f32(acc[k], vcvtq_f32_s32(vaddq_s32(s, t)), vmulq_n_f32(dw, slm_neon_h2f(a[k][b].d)));
        }
    }
    for (int k = 0; k < 4; k++) vst1q_f32(out[k], acc[k]);
}

#define GEMM_BLOCK blk4
#define GEMM_PACK(o, q, d) pack((o), (q), (d))
#define GEMM_TILE(buf, nb, a, out) tile((buf), (nb), (a), (out))
#include "kernels/neon/gemm_neon.h"

void slm_gemm_q4_0_q8_0_dotprod(int64_t n, const void *w, size_t ws, int64_t n_rows, const void *a,
                                size_t as, int64_t n_act, float *y, size_t ldy)
{
    gemm_run(n, w, ws, SLM_TYPE_Q4_0, n_rows, a, as, n_act, y, ldy);
}

void slm_gemm_q8_0_q8_0_dotprod(int64_t n, const void *w, size_t ws, int64_t n_rows, const void *a,
                                size_t as, int64_t n_act, float *y, size_t ldy)
{
    gemm_run(n, w, ws, SLM_TYPE_Q8_0, n_rows, a, as, n_act, y, ldy);
}
