/* test_kernels_arm.c — the AArch64 tile GEMMs (kernels/neon/gemm_*.c)
 * against the scalar vec_dot, sized to run in seconds under qemu-user
 * (test_gemm covers the same contract with larger cases, too slow there).
 *
 * Whatever slm_gemm_get returns for Q4_0 and Q8_0 at the active level is
 * checked, on every target: odd band and tile remainders (rows 1..13,
 * activations 1..9), K of one block, a few, and past one re-layout chunk,
 * a y stride wider than the band with guard values where nothing may be
 * written. SLM_TEST_EXPECT_GEMM=dotprod|i8mm|none makes the test fail
 * unless that kernel was the one picked (.ci/cross sets it per level, so a
 * broken HWCAP check cannot silently test the wrong path).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kernels/gemm.h"
#include "kernels/kernels.h"
#include "quant/types.h"

static uint32_t rng = 2024;
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

static const char *gemm_name(slm_type t, slm_gemm_fn g)
{
    if (!g) return "none";
#if SLM_HAVE_NEON_DOTPROD
    if (g == (t == SLM_TYPE_Q4_0 ? slm_gemm_q4_0_q8_0_dotprod : slm_gemm_q8_0_q8_0_dotprod)) return "dotprod";
    if (g == (t == SLM_TYPE_Q4_0 ? slm_gemm_q4_0_q8_0_i8mm : slm_gemm_q8_0_q8_0_i8mm)) return "i8mm";
#else
    (void)t;
#endif
    return "other";
}

static void check_type(slm_type type)
{
    const slm_type_traits *tr = slm_type_traits_get(type);
    const slm_kernels *sk = slm_kernels_scalar();
    slm_gemm_fn g = slm_gemm_get(type);
    const char *name = gemm_name(type, g);
    printf("     %s: GEMM kernel %s (kernel level %s)\n", tr->name, name, slm_kernels_get()->isa);
    const char *want = getenv("SLM_TEST_EXPECT_GEMM");
    if (want && *want) CHECK(strcmp(want, name) == 0, "%s: expected the %s GEMM, got %s", tr->name, want, name);
    if (!g) return;
    static const int64_t ns[] = {32, 96, 37 * 32};
    static const int64_t rows[] = {1, 3, 4, 5, 13};
    static const int64_t acts[] = {1, 2, 3, 4, 5, 9};
    for (size_t in = 0; in < sizeof ns / sizeof ns[0]; in++) {
        const int64_t n = ns[in], nr_max = 13, na_max = 9;
        /* rows with a gap after each (a read past a row shows under ASan) */
        const size_t ws = slm_type_row_size(type, n) + 18, as = (slm_gemm_act_bytes(type, n) + 6 + 3) & ~(size_t)3;
        uint8_t *w = malloc(ws * nr_max), *a = calloc(na_max, as);
        float *x = malloc(sizeof(float) * (size_t)n), *ref = malloc(sizeof(float) * nr_max * na_max);
        float *y = malloc(sizeof(float) * (nr_max + 5) * na_max);
        double *mag = malloc(sizeof(double) * nr_max * na_max);
        float *wf = malloc(sizeof(float) * (size_t)n * nr_max), *af = malloc(sizeof(float) * (size_t)n);
        REQUIRE(w && a && x && ref && y && mag && wf && af, "allocation");
        for (int64_t r = 0; r < nr_max; r++) {
            for (int64_t i = 0; i < n; i++) x[i] = frand() * (1.0f + (float)(r % 3));
            tr->from_float_ref(x, w + (size_t)r * ws, n);
            tr->to_float(w + (size_t)r * ws, wf + r * n, n);
        }
        for (int64_t t = 0; t < na_max; t++) {
            uint8_t *row = a + (size_t)t * as;
            for (int64_t i = 0; i < n; i++) x[i] = frand() * 3.0f;
            sk->quant_act[tr->vec_dot_type](x, row, n);
            slm_gemm_act_sums(type, row, n);
            slm_type_traits_get(tr->vec_dot_type)->to_float(row, af, n);
            for (int64_t r = 0; r < nr_max; r++) {
                sk->vec_dot[type](n, &ref[t * nr_max + r], w + (size_t)r * ws, row);
                double m = 0;
                for (int64_t i = 0; i < n; i++) m += fabs((double)wf[r * n + i] * af[i]);
                mag[t * nr_max + r] = m;
            }
        }
        for (size_t ir = 0; ir < sizeof rows / sizeof rows[0]; ir++)
            for (size_t ia = 0; ia < sizeof acts / sizeof acts[0]; ia++) {
                const int64_t nr = rows[ir], na = acts[ia];
                const size_t ldy = (size_t)nr + 5;
                for (size_t i = 0; i < ldy * (size_t)na; i++) y[i] = -777.0f;
                g(n, w, ws, nr, a, as, na, y, ldy);
                int bad = 0;
                for (int64_t t = 0; t < na; t++) {
                    for (int64_t r = 0; r < nr; r++) {
                        const double got = y[(size_t)t * ldy + (size_t)r], want_v = ref[t * nr_max + r];
                        if (!(fabs(got - want_v) <= 1e-5 * mag[t * nr_max + r] + 1e-30) && bad++ < 3)
                            CHECK(0, "%s n=%lld rows=%lld acts=%lld (t %lld, r %lld): gemm %.9g, scalar %.9g", tr->name,
                                  (long long)n, (long long)nr, (long long)na, (long long)t, (long long)r, got, want_v);
                    }
                    for (size_t r = (size_t)nr; r < ldy; r++)
                        if (y[(size_t)t * ldy + r] != -777.0f && bad++ < 3)
                            CHECK(0, "%s n=%lld rows=%lld: wrote column %zu of activation row %lld", tr->name,
                                  (long long)n, (long long)nr, r, (long long)t);
                }
            }
        free(w), free(a), free(x), free(ref), free(y), free(mag), free(wf), free(af);
    }
}

static void gemm_q4_0_matches_scalar_dot(void)
{
    check_type(SLM_TYPE_Q4_0);
}

static void gemm_q8_0_matches_scalar_dot(void)
{
    check_type(SLM_TYPE_Q8_0);
}

int main(void)
{
    RUN(gemm_q4_0_matches_scalar_dot);
    RUN(gemm_q8_0_matches_scalar_dot);
    return harness_finish();
}
