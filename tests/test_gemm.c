/* test_gemm.c — the tile GEMM kernels of kernels/gemm.h against the scalar
 * vec_dot (the oracle), one (weight row, activation row) pair at a time;
 * and slm_nn_matmul on a batch (which takes the GEMM path) against the same
 * oracle. Shapes cover partial 8-row bands, partial 4-activation tiles and
 * K longer than one 64-block chunk.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "harness.h"
#include "kernels/gemm.h"
#include "kernels/kernels.h"
#include "nn/nn.h"
#include "quant/types.h"

static uint32_t rng = 12345;
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

/* Weights W (n_rows x n, type t, rows ws bytes apart with a gap so a band
 * never reads past its rows unnoticed under ASan), activation rows in the
 * GEMM layout, the scalar results ref[t][r] and their magnitudes. */
typedef struct {
    int64_t n, n_rows, n_act;
    size_t ws, as;
    uint8_t *w, *a;
    float *ref;
    double *mag;
} case_t;

static int make_case(case_t *c, slm_type t, int64_t n, int64_t n_rows, int64_t n_act)
{
    const slm_type_traits *tr = slm_type_traits_get(t);
    const slm_type at = tr->vec_dot_type;
    const slm_kernels *sk = slm_kernels_scalar();
    memset(c, 0, sizeof *c);
    c->n = n, c->n_rows = n_rows, c->n_act = n_act;
    c->ws = slm_type_row_size(t, n) + 18;
    c->as = slm_gemm_act_bytes(t, n) + 6;
    c->w = malloc(c->ws * (size_t)n_rows);
    c->a = calloc((size_t)n_act, c->as);
    c->ref = malloc(sizeof(float) * (size_t)(n_rows * n_act));
    c->mag = malloc(sizeof(double) * (size_t)(n_rows * n_act));
    float *x = malloc(sizeof(float) * (size_t)n), *wf = malloc(sizeof(float) * (size_t)n * (size_t)n_rows);
    float *af = malloc(sizeof(float) * (size_t)n);
    if (!c->w || !c->a || !c->ref || !c->mag || !x || !wf || !af) return 0;
    for (int64_t r = 0; r < n_rows; r++) {
        for (int64_t i = 0; i < n; i++) x[i] = frand() * (1.0f + (float)(r % 3));
        tr->from_float_ref(x, c->w + (size_t)r * c->ws, n);
        tr->to_float(c->w + (size_t)r * c->ws, wf + r * n, n);
    }
    for (int64_t t2 = 0; t2 < n_act; t2++) {
        uint8_t *row = c->a + (size_t)t2 * c->as;
        for (int64_t i = 0; i < n; i++) x[i] = frand() * 3.0f;
        sk->quant_act[at](x, row, n);
        slm_gemm_act_sums(t, row, n);
        slm_type_traits_get(at)->to_float(row, af, n);
        for (int64_t r = 0; r < n_rows; r++) {
            sk->vec_dot[t](n, &c->ref[t2 * n_rows + r], c->w + (size_t)r * c->ws, row);
            double m = 0;
            for (int64_t i = 0; i < n; i++) m += fabs((double)wf[r * n + i] * af[i]);
            c->mag[t2 * n_rows + r] = m;
        }
    }
    free(x), free(wf), free(af);
    return 1;
}

static void free_case(case_t *c)
{
    free(c->w), free(c->a), free(c->ref), free(c->mag);
}

static void gemm_matches_scalar_dot_for_every_pair(slm_type type)
{
    slm_gemm_fn g = slm_gemm_get(type);
    if (!g) {
        printf("     (no %s GEMM kernel at this ISA level: nothing to test)\n", slm_type_traits_get(type)->name);
        return;
    }
    static const int64_t ns[] = {32, 96, 2048, 64 * 32 + 96};
    static const int64_t rows[] = {8, 3, 13, 16};
    static const int64_t acts[] = {1, 4, 7, 9};
    for (size_t in = 0; in < 4; in++)
        for (size_t ir = 0; ir < 4; ir++)
            for (size_t ia = 0; ia < 4; ia++) {
                case_t c;
                REQUIRE(make_case(&c, type, ns[in], rows[ir], acts[ia]), "allocation");
                /* y has a stride wider than a band, and a guard value
                 * everywhere the kernel must not write */
                const size_t ldy = (size_t)c.n_rows + 5;
                float *y = malloc(sizeof(float) * ldy * (size_t)c.n_act);
                REQUIRE(y, "allocation");
                for (size_t i = 0; i < ldy * (size_t)c.n_act; i++) y[i] = -777.0f;
                g(c.n, c.w, c.ws, c.n_rows, c.a, c.as, c.n_act, y, ldy);
                int bad = 0;
                for (int64_t t = 0; t < c.n_act; t++) {
                    for (int64_t r = 0; r < c.n_rows; r++) {
                        const double got = y[(size_t)t * ldy + (size_t)r], want = c.ref[t * c.n_rows + r];
                        if (!(fabs(got - want) <= 1e-5 * c.mag[t * c.n_rows + r] + 1e-30) && bad++ < 3)
                            CHECK(0, "%s n=%lld rows=%lld acts=%lld (t %lld, r %lld): gemm %.9g, scalar %.9g",
                                  slm_type_traits_get(type)->name, (long long)c.n, (long long)c.n_rows, (long long)c.n_act, (long long)t,
                                  (long long)r, got, want);
                    }
                    for (size_t r = (size_t)c.n_rows; r < ldy; r++)
                        if (y[(size_t)t * ldy + r] != -777.0f && bad++ < 3)
                            CHECK(0, "n=%lld rows=%lld: wrote column %zu of activation row %lld",
                                  (long long)c.n, (long long)c.n_rows, r, (long long)t);
                }
                free(y);
                free_case(&c);
            }
}

static void gemm_q4_0_matches_scalar_dot_for_every_pair(void)
{
    gemm_matches_scalar_dot_for_every_pair(SLM_TYPE_Q4_0);
}

static void gemm_q8_0_matches_scalar_dot_for_every_pair(void)
{
    gemm_matches_scalar_dot_for_every_pair(SLM_TYPE_Q8_0);
}

/* The batched matmul (GEMM path at >= 8 rows, threaded) gives the scalar
 * per-pair dots, for a fused pair of a Q4_0 and a Q8_0 matrix (one
 * activation layout serves both). */
static void matmul_batch_on_q4_0_and_q8_0_matches_scalar_dots(void)
{
    enum { N = 256, R0 = 40, R1 = 24, T = 19 };
    case_t c0, c1;
    REQUIRE(make_case(&c0, SLM_TYPE_Q4_0, N, R0, 1), "allocation");
    REQUIRE(make_case(&c1, SLM_TYPE_Q8_0, N, R1, 1), "allocation");
    const size_t rb = slm_type_row_size(SLM_TYPE_Q4_0, N), rb1 = slm_type_row_size(SLM_TYPE_Q8_0, N);
    uint8_t *w0 = malloc(rb * R0), *w1 = malloc(rb1 * R1);
    float *x = malloc(sizeof(float) * N * T), *y0 = malloc(sizeof(float) * R0 * T);
    float *y1 = malloc(sizeof(float) * R1 * T);
    void *act = malloc(slm_nn_act_bytes(N, T));
    uint8_t *q = malloc(slm_type_row_size(SLM_TYPE_Q8_0, N));
    REQUIRE(w0 && w1 && x && y0 && y1 && act && q, "allocation");
    for (int r = 0; r < R0; r++) memcpy(w0 + (size_t)r * rb, c0.w + (size_t)r * c0.ws, rb);
    for (int r = 0; r < R1; r++) memcpy(w1 + (size_t)r * rb1, c1.w + (size_t)r * c1.ws, rb1);
    for (int i = 0; i < N * T; i++) x[i] = frand() * 2.0f;
    slm_pool *pool = NULL;
    REQUIRE(slm_pool_new(2, &pool) == SLM_OK, "pool");
    const slm_mat m0 = {SLM_TYPE_Q4_0, N, R0, rb, w0}, m1 = {SLM_TYPE_Q8_0, N, R1, rb1, w1};
    const slm_mat *ms[2] = {&m0, &m1};
    float *ys[2] = {y0, y1};
    const int64_t ldys[2] = {R0, R1};
    slm_nn_matmul_n(pool, 2, ms, x, N, T, ys, ldys, act);
    const slm_kernels *sk = slm_kernels_scalar();
    int bad = 0;
    for (int t = 0; t < T; t++) {
        sk->quant_act[SLM_TYPE_Q8_0](x + t * N, q, N);
        for (int m = 0; m < 2; m++)
            for (int r = 0; r < (m ? R1 : R0); r++) {
                float want;
                if (m) sk->vec_dot[SLM_TYPE_Q8_0](N, &want, w1 + (size_t)r * rb1, q);
                else sk->vec_dot[SLM_TYPE_Q4_0](N, &want, w0 + (size_t)r * rb, q);
                const float got = ys[m][t * ldys[m] + r];
                if (!(fabs(got - want) <= 1e-4 * (1.0 + fabs(want))) && bad++ < 3)
                    CHECK(0, "matrix %d token %d row %d: matmul %.9g, scalar %.9g", m, t, r, got, want);
            }
    }
    slm_pool_free(pool);
    free(w0), free(w1), free(x), free(y0), free(y1), free(act), free(q);
    free_case(&c0), free_case(&c1);
}

int main(void)
{
    RUN(gemm_q4_0_matches_scalar_dot_for_every_pair);
    RUN(gemm_q8_0_matches_scalar_dot_for_every_pair);
    RUN(matmul_batch_on_q4_0_and_q8_0_matches_scalar_dots);
    return harness_finish();
}
