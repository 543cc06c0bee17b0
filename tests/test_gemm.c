/* test_gemm.c — the tile GEMM kernels of kernels/gemm.h against the scalar
 * vec_dot (the oracle), one (weight row, activation row) pair at a time;
 * and slm_nn_matmul on a batch (which takes the GEMM path) against the same
 * oracle. Shapes cover partial 8-row bands (and 3-row tiles, 48-row
 * bands for F16/BF16), n_act 1..17 (partial 4-activation tiles) and K
 * longer than one re-layout chunk. F16 and BF16 GEMMs read F32 rows
 * rounded to the activation type: the rounding is checked bit for bit
 * against the scalar quantizer, the products against a double dot.
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
    /* a gap after each row; rows 4-byte aligned (Q8_K and F32 rows hold floats) */
    c->as = (slm_gemm_act_bytes(t, n) + 6 + 3) & ~(size_t)3;
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
    const int f32_act = slm_gemm_act_type(t) == SLM_TYPE_F32;
    for (int64_t t2 = 0; t2 < n_act; t2++) {
        uint8_t *row = c->a + (size_t)t2 * c->as;
        for (int64_t i = 0; i < n; i++) x[i] = frand() * 3.0f;
        if (f32_act) {
            /* F16 / BF16 GEMMs read F32 rows holding the activation type's
             * rounding, which must be the scalar quantizer's, bit for bit;
             * the oracle is the double dot of the decoded weights with them */
            uint16_t *h = malloc(sizeof(uint16_t) * (size_t)n);
            if (!h) return 0;
            sk->quant_act[at](x, h, n);
            slm_type_traits_get(at)->to_float(h, af, n);
            free(h);
            slm_gemm_act_convert(t, x, row, n);
            if (memcmp(row, af, sizeof(float) * (size_t)n) != 0) {
                CHECK(0, "%s: GEMM activation rounding differs from the scalar quantizer", tr->name);
                return 0;
            }
            for (int64_t r = 0; r < n_rows; r++) {
                double d = 0, m = 0;
                for (int64_t i = 0; i < n; i++) {
                    d += (double)wf[r * n + i] * af[i];
                    m += fabs((double)wf[r * n + i] * af[i]);
                }
                c->ref[t2 * n_rows + r] = (float)d;
                c->mag[t2 * n_rows + r] = m;
            }
            continue;
        }
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
    /* K: one block, a few, over one re-layout chunk (64 / 32 / 16 blocks
     * of 32, 4 of 256, 2048 F16 elements), F16 also with a tail of < 8.
     * Rows: partial bands of 8 (and of 3, and F16's 48-row bands); n_act
     * 1..17 covers partial tiles of 4. */
    static const int64_t ns32[] = {32, 96, 2048, 64 * 32 + 96};
    static const int64_t ns256[] = {256, 768, 2048, 9 * 256};
    static const int64_t ns1[] = {7, 96, 2048 + 40, 4096 + 11};
    const int64_t bs = slm_type_traits_get(type)->block_size;
    const int64_t *ns = bs == 256 ? ns256 : bs == 32 ? ns32 : ns1;
    static const int64_t rows[] = {8, 3, 13, 16, 50};
    static const int64_t acts[] = {1, 2, 3, 4, 5, 7, 9, 16, 17};
    for (size_t in = 0; in < 4; in++)
        for (size_t ir = 0; ir < sizeof rows / sizeof rows[0]; ir++)
            for (size_t ia = 0; ia < sizeof acts / sizeof acts[0]; ia++) {
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

static void gemm_q5_0_matches_scalar_dot_for_every_pair(void)
{
    gemm_matches_scalar_dot_for_every_pair(SLM_TYPE_Q5_0);
}

static void gemm_q4_k_matches_scalar_dot_for_every_pair(void)
{
    gemm_matches_scalar_dot_for_every_pair(SLM_TYPE_Q4_K);
}

static void gemm_q5_k_matches_scalar_dot_for_every_pair(void)
{
    gemm_matches_scalar_dot_for_every_pair(SLM_TYPE_Q5_K);
}

static void gemm_q6_k_matches_scalar_dot_for_every_pair(void)
{
    gemm_matches_scalar_dot_for_every_pair(SLM_TYPE_Q6_K);
}

static void gemm_f16_matches_double_dot_for_every_pair(void)
{
    gemm_matches_scalar_dot_for_every_pair(SLM_TYPE_F16);
}

static void gemm_bf16_matches_double_dot_for_every_pair(void)
{
    gemm_matches_scalar_dot_for_every_pair(SLM_TYPE_BF16);
}

/* The batched matmul (GEMM path at >= 8 rows, threaded) of a fused pair
 * of matrices of types t0, t1 (one activation layout serves both) gives,
 * for every (row, token), the scalar vec_dot on the scalar-converted
 * activation row (F16 / BF16: the double dot with the activation rounded
 * to that type). */
static void matmul_batch_matches_scalar(slm_type t0, slm_type t1, int64_t N, int64_t T)
{
    enum { R0 = 40, R1 = 24 };
    const slm_type ts[2] = {t0, t1};
    const int64_t rs[2] = {R0, R1};
    const slm_kernels *sk = slm_kernels_scalar();
    case_t c[2];
    uint8_t *w[2];
    float *ys[2];
    size_t rb[2];
    for (int m = 0; m < 2; m++) {
        REQUIRE(make_case(&c[m], ts[m], N, rs[m], 1), "allocation");
        rb[m] = slm_type_row_size(ts[m], N);
        w[m] = malloc(rb[m] * (size_t)rs[m]);
        ys[m] = malloc(sizeof(float) * (size_t)(rs[m] * T));
        REQUIRE(w[m] && ys[m], "allocation");
        for (int64_t r = 0; r < rs[m]; r++) memcpy(w[m] + (size_t)r * rb[m], c[m].w + (size_t)r * c[m].ws, rb[m]);
    }
    float *x = malloc(sizeof(float) * (size_t)(N * T)), *xf = malloc(sizeof(float) * (size_t)N);
    float *wf = malloc(sizeof(float) * (size_t)N);
    void *act = malloc(slm_nn_act_bytes(N, T));
    uint8_t *q = malloc(slm_nn_act_bytes(N, 1));
    REQUIRE(x && xf && wf && act && q, "allocation");
    for (int64_t i = 0; i < N * T; i++) x[i] = frand() * 2.0f;
    slm_pool *pool = NULL;
    REQUIRE(slm_pool_new(2, &pool) == SLM_OK, "pool");
    const slm_mat m0 = {t0, N, R0, rb[0], w[0]}, m1 = {t1, N, R1, rb[1], w[1]};
    const slm_mat *ms[2] = {&m0, &m1};
    const int64_t ldys[2] = {R0, R1};
    slm_nn_matmul_n(pool, 2, ms, x, N, T, ys, ldys, act);
    const slm_type at = slm_type_traits_get(t0)->vec_dot_type;
    int bad = 0;
    for (int64_t t = 0; t < T; t++) {
        sk->quant_act[at](x + t * N, q, N);
        if (at == SLM_TYPE_F16 || at == SLM_TYPE_BF16) slm_type_traits_get(at)->to_float(q, xf, N);
        for (int m = 0; m < 2; m++)
            for (int64_t r = 0; r < rs[m]; r++) {
                const uint8_t *wr = w[m] + (size_t)r * rb[m];
                float want;
                if (at == SLM_TYPE_F16 || at == SLM_TYPE_BF16) {
                    slm_type_traits_get(ts[m])->to_float(wr, wf, N);
                    double d = 0;
                    for (int64_t i = 0; i < N; i++) d += (double)wf[i] * xf[i];
                    want = (float)d;
                } else {
                    sk->vec_dot[ts[m]](N, &want, wr, q);
                }
                const float got = ys[m][t * ldys[m] + r];
                if (!(fabs(got - want) <= 1e-4 * (1.0 + fabs(want))) && bad++ < 3)
                    CHECK(0, "%s/%s matrix %d token %lld row %lld: matmul %.9g, scalar %.9g",
                          slm_type_traits_get(t0)->name, slm_type_traits_get(t1)->name, m, (long long)t,
                          (long long)r, got, want);
            }
    }
    slm_pool_free(pool);
    for (int m = 0; m < 2; m++) free(w[m]), free(ys[m]), free_case(&c[m]);
    free(x), free(xf), free(wf), free(act), free(q);
}

static void matmul_batch_on_q4_0_and_q8_0_matches_scalar_dots(void)
{
    matmul_batch_matches_scalar(SLM_TYPE_Q4_0, SLM_TYPE_Q8_0, 256, 19);
}

static void matmul_batch_on_q5_0_and_q4_0_matches_scalar_dots(void)
{
    matmul_batch_matches_scalar(SLM_TYPE_Q5_0, SLM_TYPE_Q4_0, 256, 19);
}

static void matmul_batch_on_q4_k_and_q6_k_matches_scalar_dots(void)
{
    matmul_batch_matches_scalar(SLM_TYPE_Q4_K, SLM_TYPE_Q6_K, 512, 17);
}

static void matmul_batch_on_q5_k_and_q4_k_matches_scalar_dots(void)
{
    matmul_batch_matches_scalar(SLM_TYPE_Q5_K, SLM_TYPE_Q4_K, 256, 9);
}

static void matmul_batch_on_f16_matches_double_dots(void)
{
    matmul_batch_matches_scalar(SLM_TYPE_F16, SLM_TYPE_F16, 200, 13);
}

static void matmul_batch_on_bf16_matches_double_dots(void)
{
    matmul_batch_matches_scalar(SLM_TYPE_BF16, SLM_TYPE_BF16, 96, 11);
}

int main(void)
{
    RUN(gemm_q4_0_matches_scalar_dot_for_every_pair);
    RUN(gemm_q8_0_matches_scalar_dot_for_every_pair);
    RUN(gemm_q5_0_matches_scalar_dot_for_every_pair);
    RUN(gemm_q4_k_matches_scalar_dot_for_every_pair);
    RUN(gemm_q5_k_matches_scalar_dot_for_every_pair);
    RUN(gemm_q6_k_matches_scalar_dot_for_every_pair);
    RUN(gemm_f16_matches_double_dot_for_every_pair);
    RUN(gemm_bf16_matches_double_dot_for_every_pair);
    RUN(matmul_batch_on_q4_0_and_q8_0_matches_scalar_dots);
    RUN(matmul_batch_on_q5_0_and_q4_0_matches_scalar_dots);
    RUN(matmul_batch_on_q4_k_and_q6_k_matches_scalar_dots);
    RUN(matmul_batch_on_q5_k_and_q4_k_matches_scalar_dots);
    RUN(matmul_batch_on_f16_matches_double_dots);
    RUN(matmul_batch_on_bf16_matches_double_dots);
    return harness_finish();
}
