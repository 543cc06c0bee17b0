/* test_batch_kernels.c — the few-row kernels of kernels/batch.h (one
 * decode step over a few sequences) against the scalar vec_dot, the
 * oracle, one (weight row, activation row) pair at a time; and
 * slm_nn_matmul over 2..11 rows (which takes them) against the same oracle,
 * alone and in a fused job of a Q5_0 and a Q8_0 matrix. Weights come from
 * the reference quantizer, activations from the scalar quantizer, so the
 * oracle shares nothing with the AVX2 code but the block formats.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "harness.h"
#include "kernels/batch.h"
#include "kernels/kernels.h"
#include "nn/nn.h"
#include "quant/types.h"

static uint32_t rng = 777;
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

/* n_rows weight rows of type t (a gap after each, so reading past a row
 * shows under ASan), their decoded values in wf */
static uint8_t *make_weights(slm_type t, int64_t n, int64_t n_rows, size_t *ws, float *wf)
{
    const slm_type_traits *tr = slm_type_traits_get(t);
    *ws = slm_type_row_size(t, n) + 10;
    uint8_t *w = malloc(*ws * (size_t)n_rows);
    float *x = malloc(sizeof(float) * (size_t)n);
    if (!w || !x) {
        free(w), free(x);
        return NULL;
    }
    for (int64_t r = 0; r < n_rows; r++) {
        /* rows of different scales; some blocks all zero (d = 0) */
        for (int64_t i = 0; i < n; i++) x[i] = (r % 5 == 4 && i < 32) ? 0.0f : frand() * (1.0f + (float)(r % 3));
        tr->from_float_ref(x, w + (size_t)r * *ws, n);
        tr->to_float(w + (size_t)r * *ws, wf + r * n, n);
    }
    free(x);
    return w;
}

static void few_row_kernel_matches_scalar_dot(slm_type type)
{
    slm_batch_fn fn = slm_batch_get(type);
    if (!fn) {
        printf("     (no %s few-row kernel at this ISA level: nothing to test)\n", slm_type_traits_get(type)->name);
        return;
    }
    const slm_kernels *sk = slm_kernels_scalar();
    static const int64_t ns[] = {32, 64, 96, 896, 4864};
    static const int64_t rows[] = {1, 3, 16};
    static const int64_t acts[] = {1, 2, 3, 4, 5, 7, 8, 11};
    for (size_t in = 0; in < sizeof ns / sizeof ns[0]; in++)
        for (size_t ir = 0; ir < sizeof rows / sizeof rows[0]; ir++)
            for (size_t ia = 0; ia < sizeof acts / sizeof acts[0]; ia++) {
                const int64_t n = ns[in], nr = rows[ir], na = acts[ia];
                size_t ws;
                float *wf = malloc(sizeof(float) * (size_t)(n * nr)), *af = malloc(sizeof(float) * (size_t)n);
                uint8_t *w = wf ? make_weights(type, n, nr, &ws, wf) : NULL;
                /* rows 4-byte aligned with a gap; the extension read as the kernel reads it */
                const size_t as = (slm_batch_act_bytes(n) + 8 + 3) & ~(size_t)3;
                uint8_t *a = calloc((size_t)na, as);
                const size_t ldy = (size_t)nr + 3;
                float *y = malloc(sizeof(float) * ldy * (size_t)na);
                float *x = malloc(sizeof(float) * (size_t)n);
                REQUIRE(wf && af && w && a && y && x, "allocation");
                for (size_t i = 0; i < ldy * (size_t)na; i++) y[i] = -777.0f;
                for (int64_t t = 0; t < na; t++) {
                    /* one activation row with a large outlier: q = +-127 */
                    for (int64_t i = 0; i < n; i++) x[i] = frand() * 2.0f + (t == 1 && i % 32 == 5 ? 40.0f : 0.0f);
                    sk->quant_act[SLM_TYPE_Q8_0](x, a + (size_t)t * as, n);
                    slm_batch_act_extend(a + (size_t)t * as, n);
                }
                fn(n, w, ws, nr, a, as, na, y, ldy);
                int bad = 0;
                for (int64_t t = 0; t < na; t++) {
                    const uint8_t *row = a + (size_t)t * as;
                    slm_type_traits_get(SLM_TYPE_Q8_0)->to_float(row, af, n);
                    for (int64_t r = 0; r < nr; r++) {
                        float want;
                        sk->vec_dot[type](n, &want, w + (size_t)r * ws, row);
                        double mag = 0;
                        for (int64_t i = 0; i < n; i++) mag += fabs((double)wf[r * n + i] * af[i]);
                        const double got = y[(size_t)t * ldy + (size_t)r];
                        if (!(fabs(got - want) <= 1e-5 * mag + 1e-30) && bad++ < 3)
                            CHECK(0, "%s n=%lld rows=%lld acts=%lld (t %lld, r %lld): few-row %.9g, scalar %.9g",
                                  slm_type_traits_get(type)->name, (long long)n, (long long)nr, (long long)na,
                                  (long long)t, (long long)r, got, (double)want);
                    }
                    for (size_t r = (size_t)nr; r < ldy; r++)
                        if (y[(size_t)t * ldy + r] != -777.0f && bad++ < 3)
                            CHECK(0, "%s: wrote y outside its rows (t %lld, r %zu)", slm_type_traits_get(type)->name,
                                  (long long)t, r);
                }
                free(wf), free(af), free(w), free(a), free(y), free(x);
            }
}

static void q5_0_few_rows(void) { few_row_kernel_matches_scalar_dot(SLM_TYPE_Q5_0); }
static void q8_0_few_rows(void) { few_row_kernel_matches_scalar_dot(SLM_TYPE_Q8_0); }

/* slm_nn_matmul_n over n_tok = 1..11 rows with a Q5_0 and a Q8_0 matrix in
 * one job (as Q/K/V of a Q4_K_M file are) on 2 threads: every output
 * equals the scalar dot of the scalar-quantized row. */
static void matmul_few_rows_matches_scalar(void)
{
    const int64_t n = 896, nr0 = 40, nr1 = 24;
    const slm_kernels *sk = slm_kernels_scalar();
    float *wf0 = malloc(sizeof(float) * (size_t)(n * nr0)), *wf1 = malloc(sizeof(float) * (size_t)(n * nr1));
    size_t ws0, ws1;
    uint8_t *w0 = wf0 ? make_weights(SLM_TYPE_Q5_0, n, nr0, &ws0, wf0) : NULL;
    uint8_t *w1 = wf1 ? make_weights(SLM_TYPE_Q8_0, n, nr1, &ws1, wf1) : NULL;
    float *x = malloc(sizeof(float) * (size_t)(n * 11)), *af = malloc(sizeof(float) * (size_t)n);
    float *y0 = malloc(sizeof(float) * (size_t)(nr0 * 11)), *y1 = malloc(sizeof(float) * (size_t)(nr1 * 11));
    void *act = malloc(slm_nn_act_bytes(n, 11));
    uint8_t *q = malloc(sizeof(slm_block_q8_0) * (size_t)(n / 32));
    slm_pool *pool = NULL;
    REQUIRE(w0 && w1 && x && af && y0 && y1 && act && q && slm_pool_new(2, &pool) == SLM_OK, "allocation");
    /* the matrices as matmul sees them: rows packed, no gap */
    uint8_t *p0 = malloc(slm_type_row_size(SLM_TYPE_Q5_0, n) * (size_t)nr0);
    uint8_t *p1 = malloc(slm_type_row_size(SLM_TYPE_Q8_0, n) * (size_t)nr1);
    REQUIRE(p0 && p1, "allocation");
    const size_t rb0 = slm_type_row_size(SLM_TYPE_Q5_0, n), rb1 = slm_type_row_size(SLM_TYPE_Q8_0, n);
    for (int64_t r = 0; r < nr0; r++) memcpy(p0 + (size_t)r * rb0, w0 + (size_t)r * ws0, rb0);
    for (int64_t r = 0; r < nr1; r++) memcpy(p1 + (size_t)r * rb1, w1 + (size_t)r * ws1, rb1);
    const slm_mat m0 = {SLM_TYPE_Q5_0, n, nr0, rb0, p0}, m1 = {SLM_TYPE_Q8_0, n, nr1, rb1, p1};
    for (int64_t i = 0; i < n * 11; i++) x[i] = frand() * 1.5f;
    for (int64_t nt = 1; nt <= 11; nt++) {
        const slm_mat *ws[2] = {&m0, &m1};
        float *ys[2] = {y0, y1};
        const int64_t ld[2] = {nr0, nr1};
        slm_nn_matmul_n(pool, 2, ws, x, n, nt, ys, ld, act);
        int bad = 0;
        for (int64_t t = 0; t < nt; t++) {
            sk->quant_act[SLM_TYPE_Q8_0](x + t * n, q, n);
            slm_type_traits_get(SLM_TYPE_Q8_0)->to_float(q, af, n);
            for (int m = 0; m < 2; m++) {
                const int64_t nr = m ? nr1 : nr0;
                const float *wf = m ? wf1 : wf0;
                for (int64_t r = 0; r < nr; r++) {
                    float want;
                    sk->vec_dot[m ? SLM_TYPE_Q8_0 : SLM_TYPE_Q5_0](n, &want, (m ? p1 : p0) + (size_t)r * (m ? rb1 : rb0), q);
                    double mag = 0;
                    for (int64_t i = 0; i < n; i++) mag += fabs((double)wf[r * n + i] * af[i]);
                    const double got = (m ? y1 : y0)[t * nr + r];
                    if (!(fabs(got - want) <= 1e-5 * mag + 1e-30) && bad++ < 3)
                        CHECK(0, "n_tok %lld matrix %d (t %lld, r %lld): matmul %.9g, scalar %.9g", (long long)nt, m,
                              (long long)t, (long long)r, got, (double)want);
                }
            }
        }
    }
    slm_pool_free(pool);
    free(wf0), free(wf1), free(w0), free(w1), free(x), free(af), free(y0), free(y1), free(act), free(q);
    free(p0), free(p1);
}

int main(void)
{
    RUN(q5_0_few_rows);
    RUN(q8_0_few_rows);
    RUN(matmul_few_rows_matches_scalar);
    return harness_finish();
}
