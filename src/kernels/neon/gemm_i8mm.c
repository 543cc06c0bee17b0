/* gemm_i8mm.c — AArch64 tile GEMM with SMMLA (ARMv8.6 FEAT_I8MM; gemm.h,
 * gemm_neon.h): Q4_0 and Q8_0 weights x Q8_0 activations, 4 weight rows x
 * 4 activations per tile as 2 x 2 SMMLA tiles. SMMLA multiplies a 2x8 int8
 * matrix by the transpose of another into a 2x2 int32 tile, so a weight
 * vector holds 8 consecutive quants of 2 rows, an activation vector 8 of 2
 * activations (zipped from the Q8_0 blocks as they are), and one
 * instruction does 32 products: 16 SMMLA per (block, 4 x 4 tile) where
 * SDOT needs 32. Compiled with -march=armv8.2-a+dotprod+i8mm; gemm.c
 * returns these only at the i8mm level (dispatch.c checked HWCAP2_I8MM).
 */
#include "kernels/neon/neon.h"

typedef struct {
    float d[2][4];      /* pair p: {d[2p], d[2p], d[2p+1], d[2p+1]} (the 2x2 tile's row order) */
    int8_t q[2][4][16]; /* [p][c] = row 2p's quants 8c..8c+7, then row 2p+1's */
} blk4;

static inline void pack(blk4 *o, int8_t q[4][32], const float d[4])
{
    for (int p = 0; p < 2; p++) {
        o->d[p][0] = o->d[p][1] = d[2 * p];
        o->d[p][2] = o->d[p][3] = d[2 * p + 1];
        for (int c = 0; c < 4; c++) {
            memcpy(o->q[p][c], &q[2 * p][8 * c], 8);
            memcpy(o->q[p][c] + 8, &q[2 * p + 1][8 * c], 8);
        }
    }
}

static void tile(const blk4 *wb, int64_t nb, const slm_block_q8_0 *const a[4], float out[4][4])
{
    /* acc[p][h]: rows 2p, 2p+1 x activations 2h, 2h+1, lanes
     * {(2p, 2h), (2p, 2h+1), (2p+1, 2h), (2p+1, 2h+1)} */
    float32x4_t acc[2][2];
    for (int p = 0; p < 2; p++) acc[p][0] = acc[p][1] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t x[2][4];
        float32x4_t da[2];
        for (int h = 0; h < 2; h++) {
            const slm_block_q8_0 *u = &a[2 * h][b], *v = &a[2 * h + 1][b];
            const int64x2_t ul = vreinterpretq_s64_s8(vld1q_s8(u->qs)), uh = vreinterpretq_s64_s8(vld1q_s8(u->qs + 16));
            const int64x2_t vl = vreinterpretq_s64_s8(vld1q_s8(v->qs)), vh = vreinterpretq_s64_s8(vld1q_s8(v->qs + 16));
            x[h][0] = vreinterpretq_s8_s64(vzip1q_s64(ul, vl));
            x[h][1] = vreinterpretq_s8_s64(vzip2q_s64(ul, vl));
            x[h][2] = vreinterpretq_s8_s64(vzip1q_s64(uh, vh));
            x[h][3] = vreinterpretq_s8_s64(vzip2q_s64(uh, vh));
            const float du = slm_neon_h2f(u->d), dv = slm_neon_h2f(v->d);
            const float dd[4] = {du, dv, du, dv};
            da[h] = vld1q_f32(dd);
        }
        SLM_NEON_UNROLL
        for (int p = 0; p < 2; p++) {
            const int8x16_t w0 = vld1q_s8(wb[b].q[p][0]), w1 = vld1q_s8(wb[b].q[p][1]),
                            w2 = vld1q_s8(wb[b].q[p][2]), w3 = vld1q_s8(wb[b].q[p][3]);
            const float32x4_t dw = vld1q_f32(wb[b].d[p]);
            SLM_NEON_UNROLL
            for (int h = 0; h < 2; h++) {
                int32x4_t s = vmmlaq_s32(vdupq_n_s32(0), w0, x[h][0]);
                int32x4_t t = vmmlaq_s32(vdupq_n_s32(0), w1, x[h][1]);
                s = vmmlaq_s32(s, w2, x[h][2]);
                t = vmmlaq_s32(t, w3, x[h][3]);
                acc[p][h] = vfmaq_f32(acc[p][h], vcvtq_f32_s32(vaddq_s32(s, t)), vmulq_f32(dw, da[h]));
            }
        }
    }
    for (int p = 0; p < 2; p++)
        for (int h = 0; h < 2; h++) {
            float v[4];
            vst1q_f32(v, acc[p][h]);
            out[2 * h][2 * p] = v[0];
            out[2 * h + 1][2 * p] = v[1];
            out[2 * h][2 * p + 1] = v[2];
            out[2 * h + 1][2 * p + 1] = v[3];
        }
}

#define GEMM_BLOCK blk4
#define GEMM_PACK(o, q, d) pack((o), (q), (d))
#define GEMM_TILE(buf, nb, a, out) tile((buf), (nb), (a), (out))
#include "kernels/neon/gemm_neon.h"

void slm_gemm_q4_0_q8_0_i8mm(int64_t n, const void *w, size_t ws, int64_t n_rows, const void *a,
                             size_t as, int64_t n_act, float *y, size_t ldy)
{
    gemm_run(n, w, ws, SLM_TYPE_Q4_0, n_rows, a, as, n_act, y, ldy);
}

void slm_gemm_q8_0_q8_0_i8mm(int64_t n, const void *w, size_t ws, int64_t n_rows, const void *a,
                             size_t as, int64_t n_act, float *y, size_t ldy)
{
    gemm_run(n, w, ws, SLM_TYPE_Q8_0, n_rows, a, as, n_act, y, ldy);
}
