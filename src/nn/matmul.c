/* matmul.c — y = W x for a batch of activation rows, through the kernel
 * table: each activation row is converted once to the weight's vec_dot type
 * (F32 stays F32, F16 -> F16, Q4_0..Q8_0 -> Q8_0, k-quants -> Q8_K), then
 * each thread takes a contiguous range of output rows and dots every row
 * with every converted activation row. No allocation: the converted rows
 * live in the caller's workspace.
 */
#include <string.h>

#include "kernels/kernels.h"
#include "nn/nn.h"
#include "quant/types.h"

size_t slm_nn_act_bytes(int64_t n_in, int64_t n_tok)
{
    /* Widest activation type is F32 (4 bytes/element); Q8_K is 292 bytes per
     * 256, Q8_0 34 per 32. Round each row to 64 bytes for alignment. */
    size_t row = ((size_t)n_in * 4 + 63) & ~(size_t)63;
    return row * (size_t)n_tok;
}

int slm_nn_type_supported(slm_type t)
{
    const slm_type_traits *tr = slm_type_traits_get(t);
    const slm_kernels *k = slm_kernels_get();
    if (!tr || !k) return 0;
    if (!k->vec_dot[t]) return 0;
    if (tr->vec_dot_type != SLM_TYPE_F32 && !k->quant_act[tr->vec_dot_type]) return 0;
    return 1;
}

typedef struct mm_job {
    const slm_mat *w;
    const float *x;
    int64_t ldx, n_tok, ldy;
    float *y;
    uint8_t *act;        /* converted rows, act_stride apart */
    size_t act_stride;
    slm_type vdt;
    const slm_kernels *k;
} mm_job;

static void mm_convert(void *ctx, int ith, int nth)
{
    mm_job *j = ctx;
    for (int64_t t = ith; t < j->n_tok; t += nth)
        j->k->quant_act[j->vdt](j->x + t * j->ldx, j->act + (size_t)t * j->act_stride, j->w->n_in);
}

/* Rows are handed out in blocks of 16 so neighbouring threads do not share
 * output cache lines for a single token. */
static void mm_rows(void *ctx, int ith, int nth)
{
    mm_job *j = ctx;
    const slm_mat *w = j->w;
    const int64_t blk = 16;
    const int64_t n_blk = (w->n_out + blk - 1) / blk;
    const int64_t b0 = n_blk * ith / nth, b1 = n_blk * (ith + 1) / nth;
    const int64_t r0 = b0 * blk, r1 = b1 * blk < w->n_out ? b1 * blk : w->n_out;
    slm_vec_dot_fn dot = j->k->vec_dot[w->type];
    slm_vec_dot_x4_fn dot4 = j->k->vec_dot_x4[w->type];
    const uint8_t *base = w->data;
    /* activation row t at a0 + t * as bytes */
    const uint8_t *a0 = j->act ? j->act : (const uint8_t *)j->x;
    const size_t as = j->act ? j->act_stride : (size_t)j->ldx * sizeof(float);
    /* Tiles of 16 weight rows x 4 activation rows: both stay in L1 while
     * the 64 dots run, instead of streaming every activation row from L2
     * once per weight row. */
    for (int64_t rb = r0; rb < r1; rb += blk) {
        const int64_t re = rb + blk < r1 ? rb + blk : r1;
        int64_t t = 0;
        if (dot4)
            for (; t + 1 < j->n_tok; t += 4) {
                const int na = j->n_tok - t < 4 ? (int)(j->n_tok - t) : 4;
                for (int64_t r = rb; r < re; r++)
                    dot4(w->n_in, &j->y[t * j->ldy + r], (size_t)j->ldy, base + (size_t)r * w->row_bytes,
                         a0 + (size_t)t * as, as, na);
            }
        for (; t < j->n_tok; t++)
            for (int64_t r = rb; r < re; r++)
                dot(w->n_in, &j->y[t * j->ldy + r], base + (size_t)r * w->row_bytes, a0 + (size_t)t * as);
    }
}

void slm_nn_matmul(slm_pool *pool, const slm_mat *w, const float *x, int64_t ldx, int64_t n_tok,
                   float *y, int64_t ldy, void *act)
{
    const slm_kernels *k = slm_kernels_get();
    mm_job j = {
        .w = w, .x = x, .ldx = ldx, .n_tok = n_tok, .ldy = ldy, .y = y,
        .act = NULL, .act_stride = ((size_t)w->n_in * 4 + 63) & ~(size_t)63,
        .vdt = slm_type_traits_get(w->type)->vec_dot_type, .k = k,
    };
    if (j.vdt != SLM_TYPE_F32) {
        j.act = act;
        if (n_tok >= 4) slm_pool_run(pool, mm_convert, &j);
        else mm_convert(&j, 0, 1);
    }
    slm_pool_run(pool, mm_rows, &j);
}
