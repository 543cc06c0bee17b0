/* matmul.c — y = W x for a batch of activation rows, through the kernel
 * table: each activation row is converted once to the weight's vec_dot type
 * (F32 stays F32, F16 -> F16, Q4_0..Q8_0 -> Q8_0, k-quants -> Q8_K), then
 * each thread takes a contiguous range of output rows and dots every row
 * with every converted activation row. No allocation: the converted rows
 * live in the caller's workspace.
 */
#include <string.h>

#include "kernels/batch.h"
#include "kernels/gemm.h"
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

#define MM_MAX 4
#define MM_BLK 16
/* Batches of at least this many rows use the GEMM kernels (gemm.h) where
 * the weight type has one: below it, re-laying the weight band out costs
 * more than the tile saves. Measured with bench/bench_kernels
 * (SLM_BENCH_GEMM=4|8|16, thread CPU time, 512 x 2048 weights): Q4_0,
 * Q5_0, BF16 gain from 4 rows (1.35-1.6x), the k-quants and F16 from 8
 * (1.1-1.5x), Q8_0 only from 16 (0.82x at 8, 1.13x at 16). Below the
 * threshold, 2+ rows take the few-row kernel (batch.h) where the type has
 * one: Q5_0 moves to 8 for it (896 x 4864 weights from DRAM, per
 * activation row vs one vec_dot: GEMM 0.58 at 4 rows, 0.40 at 8; few-row
 * 0.44 at 4), Q8_0 keeps 12 (few-row 0.41 at 4 and 8, GEMM 0.52 at 8). */
static int64_t mm_gemm_min(slm_type t)
{
    switch (t) {
    case SLM_TYPE_Q5_0: return slm_batch_get(t) ? 8 : 4;
    case SLM_TYPE_Q4_0:
    case SLM_TYPE_BF16: return 4;
    case SLM_TYPE_Q8_0: return 12;
    default: return 8;
    }
}

typedef struct mm_job {
    int n_mats;
    const slm_mat *w[MM_MAX];  /* same n_in and activation type */
    slm_gemm_fn gemm[MM_MAX];  /* GEMM kernel of w[m] or NULL */
    float *y[MM_MAX];
    int64_t ldy[MM_MAX];
    int64_t blk_end[MM_MAX];   /* cumulative 16-row block counts */
    const float *x;
    int64_t ldx, n_tok, n_in;
    uint8_t *act;              /* converted rows, act_stride apart */
    size_t act_stride;
    slm_type vdt;
    slm_type gemm_sums;        /* weight type whose GEMM sums follow each row, or 0 */
    int f32_gemm;              /* every matrix is F16/BF16 in a GEMM: rows are rounded F32 */
    int batch_ext;             /* a few-row kernel reads the rows: extend them (batch.h) */
    const slm_kernels *k;
} mm_job;

static void mm_convert(void *ctx, int ith, int nth)
{
    mm_job *j = ctx;
    for (int64_t t = ith; t < j->n_tok; t += nth)
    {
        uint8_t *row = j->act + (size_t)t * j->act_stride;
        if (j->f32_gemm) {
            slm_gemm_act_convert(j->w[0]->type, j->x + t * j->ldx, row, j->n_in);
            continue;
        }
        j->k->quant_act[j->vdt](j->x + t * j->ldx, row, j->n_in);
        if (j->gemm_sums) slm_gemm_act_sums(j->gemm_sums, row, j->n_in);
        if (j->batch_ext) slm_batch_act_extend(row, j->n_in);
    }
}

/* Rows [r0, r1) of matrix m. Tiles of 16 weight rows x 4 activation rows:
 * both stay in L1 while the 64 dots run, instead of streaming every
 * activation row from L2 once per weight row. */
static void mm_range(const mm_job *j, int m, int64_t r0, int64_t r1)
{
    const slm_mat *w = j->w[m];
    float *y = j->y[m];
    const int64_t ldy = j->ldy[m];
    slm_vec_dot_fn dot = j->k->vec_dot[w->type];
    slm_vec_dot_x4_fn dot4 = j->k->vec_dot_x4[w->type];
    slm_vec_dot_r4_fn dotr4 = j->k->vec_dot_r4[w->type];
    const uint8_t *base = w->data;
    /* activation row t at a0 + t * as bytes */
    const uint8_t *a0 = j->act ? j->act : (const uint8_t *)j->x;
    const size_t as = j->act ? j->act_stride : (size_t)j->ldx * sizeof(float);
    if (j->gemm[m]) {
        j->gemm[m](w->n_in, base + (size_t)r0 * w->row_bytes, w->row_bytes, r1 - r0, a0, as, j->n_tok,
                   y + r0, (size_t)ldy);
        return;
    }
    for (int64_t rb = r0; rb < r1; rb += MM_BLK) {
        const int64_t re = rb + MM_BLK < r1 ? rb + MM_BLK : r1;
        int64_t t = 0;
        if (dot4)
            for (; t + 1 < j->n_tok; t += 4) {
                const int na = j->n_tok - t < 4 ? (int)(j->n_tok - t) : 4;
                for (int64_t r = rb; r < re; r++)
                    dot4(w->n_in, &y[t * ldy + r], (size_t)ldy, base + (size_t)r * w->row_bytes,
                         a0 + (size_t)t * as, as, na);
            }
        for (; t < j->n_tok; t++) {
            int64_t r = rb;
            if (dotr4)
                for (; r + 4 <= re; r += 4)
                    dotr4(w->n_in, &y[t * ldy + r], base + (size_t)r * w->row_bytes, w->row_bytes,
                          a0 + (size_t)t * as);
            for (; r < re; r++)
                dot(w->n_in, &y[t * ldy + r], base + (size_t)r * w->row_bytes, a0 + (size_t)t * as);
        }
    }
}

/* Blocks of 16 rows, numbered across all matrices of the job, are split
 * evenly between the chunks (neighbouring chunks never share an output
 * cache line for a single token). */
static void mm_rows(void *ctx, int ith, int nth)
{
    mm_job *j = ctx;
    const int64_t total = j->blk_end[j->n_mats - 1];
    const int64_t g0 = total * ith / nth, g1 = total * (ith + 1) / nth;
    int64_t first = 0;
    for (int m = 0; m < j->n_mats; m++) {
        const int64_t last = j->blk_end[m];
        const int64_t a = g0 > first ? g0 : first, b = g1 < last ? g1 : last;
        if (a < b) {
            const int64_t n_out = j->w[m]->n_out;
            const int64_t r0 = (a - first) * MM_BLK;
            const int64_t r1 = (b - first) * MM_BLK < n_out ? (b - first) * MM_BLK : n_out;
            mm_range(j, m, r0, r1);
        }
        first = last;
    }
}

void slm_nn_matmul_n(slm_pool *pool, int n_mats, const slm_mat *const *w, const float *x,
                     int64_t ldx, int64_t n_tok, float *const *y, const int64_t *ldy, void *act)
{
    const slm_kernels *k = slm_kernels_get();
    const slm_type vdt = slm_type_traits_get(w[0]->type)->vec_dot_type;
    int same = n_mats <= MM_MAX;
    for (int m = 1; m < n_mats && same; m++)
        same = w[m]->n_in == w[0]->n_in && slm_type_traits_get(w[m]->type)->vec_dot_type == vdt;
    if (!same) {
        for (int m = 0; m < n_mats; m++) slm_nn_matmul_n(pool, 1, &w[m], x, ldx, n_tok, &y[m], &ldy[m], act);
        return;
    }
    mm_job j = {
        .n_mats = n_mats, .x = x, .ldx = ldx, .n_tok = n_tok, .n_in = w[0]->n_in,
        .act = NULL, .act_stride = ((size_t)w[0]->n_in * 4 + 63) & ~(size_t)63, .vdt = vdt, .k = k,
    };
    int64_t cum = 0;
    int f32_gemm = 1; /* every matrix takes (rounded) F32 rows in a GEMM */
    for (int m = 0; m < n_mats; m++) {
        j.w[m] = w[m];
        j.y[m] = y[m];
        j.ldy[m] = ldy[m];
        cum += (w[m]->n_out + MM_BLK - 1) / MM_BLK;
        j.blk_end[m] = cum;
        /* The GEMM activation layout is the vec_dot type's rows (+ per-block
         * sums for Q4_0 / Q5_0, which every other consumer ignores), or
         * the F32 input rows themselves for F16 / BF16 weights. */
        const size_t gb = slm_gemm_act_bytes(w[m]->type, w[0]->n_in);
        j.gemm[m] = NULL;
        if (vdt != SLM_TYPE_F32 && n_tok >= mm_gemm_min(w[m]->type) && gb && gb <= j.act_stride)
            j.gemm[m] = slm_gemm_get(w[m]->type);
        /* 2 rows up to the GEMM threshold: the few-row kernel (same
         * signature; its rows extend the Q8_0 + sums layout) */
        const size_t bb = slm_batch_act_bytes(w[0]->n_in);
        int few = 0;
        if (!j.gemm[m] && n_tok >= 2 && vdt == SLM_TYPE_Q8_0 && bb && bb <= j.act_stride &&
            (j.gemm[m] = slm_batch_get(w[m]->type)) != NULL)
            j.batch_ext = few = 1;
        if (j.gemm[m] && !few && (w[m]->type == SLM_TYPE_Q4_0 || w[m]->type == SLM_TYPE_Q5_0)) j.gemm_sums = SLM_TYPE_Q4_0;
        f32_gemm &= j.gemm[m] && slm_gemm_act_type(w[m]->type) == SLM_TYPE_F32;
    }
    /* An F32-row GEMM next to a matrix that needs converted rows: all take
     * the per-row kernels (the job has one activation layout). */
    if (!f32_gemm)
        for (int m = 0; m < n_mats; m++)
            if (j.gemm[m] && slm_gemm_act_type(w[m]->type) == SLM_TYPE_F32) j.gemm[m] = NULL;
    /* Small products run on the calling thread: a pool run costs a few
     * microseconds idle and up to a scheduler slice on a loaded machine
     * (a worker that claimed a chunk and was descheduled), more than
     * 2^18 multiply-adds take (tiny models: stories260K's first token went
     * from 0.3 ms at -t 1 to up to 25 ms at -t 2). */
    const int serial = (double)j.blk_end[n_mats - 1] * MM_BLK * (double)j.n_in * (double)n_tok < (1 << 18);
    j.f32_gemm = f32_gemm;
    if (vdt != SLM_TYPE_F32) {
        j.act = act;
        if (n_tok >= 4 && !serial) slm_pool_run(pool, mm_convert, &j);
        else mm_convert(&j, 0, 1);
    }
    if (serial) mm_rows(&j, 0, 1);
    else slm_pool_run(pool, mm_rows, &j);
}

void slm_nn_matmul(slm_pool *pool, const slm_mat *w, const float *x, int64_t ldx, int64_t n_tok,
                   float *y, int64_t ldy, void *act)
{
    slm_nn_matmul_n(pool, 1, &w, x, ldx, n_tok, &y, &ldy, act);
}
