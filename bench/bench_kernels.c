/* bench_kernels.c — single-thread GEMV speed of each weight type's dot
 * product, active ISA (B) against scalar (A), on a matrix shaped like
 * Llama-3.2-1B's FFN up/gate projection: 8192 rows of 2048.
 *
 * Each type is first checked against the scalar oracle on every row, then
 * A and B are timed alternately in the same process; we print the median
 * time of one full GEMV, the weight bandwidth it implies and the ratio
 * (and the best run: on a shared machine the median mostly measures the
 * other processes).
 * Types with a vec_dot_r4 also time token generation 4 weight rows per
 * call against one vec_dot per row.
 * Types with a vec_dot_x4 also time a batch of 4 activation rows (prompt
 * processing): 4 vec_dot calls per weight row against one vec_dot_x4.
 *
 * Build (after building the library in build-avx2):
 *   cmake --build build-avx2 --target slm_static
 *   gcc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc bench/bench_kernels.c \
 *       build-avx2/libslm.a -lpcre2-8 -lpthread -lm -o build-avx2/bench_kernels
 * Run:  build-avx2/bench_kernels [reps=15] [TYPE ...]   e.g. Q4_0 Q4_K
 * SLM_ISA=scalar makes B scalar too (a null run: the ratio should be ~1).
 * SLM_BENCH_GEMM=N also times, for types with a tile GEMM (gemm.h), a batch
 * of N activation rows: the per-row path matmul takes below its GEMM
 * threshold (16 weight rows x vec_dot_x4 over 4 activation rows) against
 * the GEMM kernel, both on the activation layout the GEMM reads.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/gemm.h"
#include "kernels/kernels.h"
#include "quant/types.h"

/* SLM_BENCH_ROWS overrides the row count (e.g. 32768 for a matrix that
 * does not fit in L3: then the dot runs at DRAM speed). */
static int ROWS = 8192;
enum { COLS = 2048 };

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng_u64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static float rng_unit(void)
{
    return (float)((double)(rng_u64() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* SLM_BENCH_CPUTIME=1: time the thread's CPU time instead of wall time
 * (on a shared, overloaded machine this leaves out the slices the thread
 * spent descheduled; cache interference from the others remains). */
static double now_s(void)
{
    static int cpu = -1;
    if (cpu < 0) cpu = getenv("SLM_BENCH_CPUTIME") && atoi(getenv("SLM_BENCH_CPUTIME")) > 0;
    struct timespec ts;
    clock_gettime(cpu ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* fp16 scale offsets for block layouts without a reference quantizer yet:
 * random bytes plus sane scales give realistic work (no NaN/denormal). */
static const struct {
    slm_type type;
    int n_half;
    size_t half_at[2];
} layouts[] = {
    {SLM_TYPE_Q2_K, 2, {offsetof(slm_block_q2_K, d), offsetof(slm_block_q2_K, dmin)}},
    {SLM_TYPE_Q3_K, 1, {offsetof(slm_block_q3_K, d)}},
    {SLM_TYPE_Q4_K, 2, {offsetof(slm_block_q4_K, d), offsetof(slm_block_q4_K, dmin)}},
    {SLM_TYPE_Q5_K, 2, {offsetof(slm_block_q5_K, d), offsetof(slm_block_q5_K, dmin)}},
    {SLM_TYPE_Q6_K, 1, {offsetof(slm_block_q6_K, d)}},
    {SLM_TYPE_IQ4_NL, 1, {offsetof(slm_block_iq4_nl, d)}},
    {SLM_TYPE_IQ4_XS, 1, {offsetof(slm_block_iq4_xs, d)}},
};

/* Fill a ROWS x COLS matrix of type t; 0 if we cannot make one. */
static int make_weights(slm_type t, uint8_t *w, size_t row_bytes)
{
    const slm_type_traits *tr = slm_type_traits_get(t);
    if (tr->from_float_ref) {
        float *x = malloc(COLS * sizeof(float));
        if (!x) return 0;
        for (int r = 0; r < ROWS; r++) {
            for (int j = 0; j < COLS; j++) x[j] = 0.05f * rng_unit();
            tr->from_float_ref(x, w + (size_t)r * row_bytes, COLS);
        }
        free(x);
        return 1;
    }
    for (size_t l = 0; l < sizeof layouts / sizeof layouts[0]; l++) {
        if (layouts[l].type != t) continue;
        const size_t total = (size_t)ROWS * row_bytes;
        for (size_t b = 0; b < total; b++) w[b] = (uint8_t)rng_u64();
        for (size_t b = 0; b < total; b += tr->type_size)
            for (int h = 0; h < layouts[l].n_half; h++) {
                const slm_fp16 v = slm_fp32_to_fp16(0.001f + 0.01f * fabsf(rng_unit()));
                memcpy(w + b + layouts[l].half_at[h], &v, 2);
            }
        return 1;
    }
    return 0;
}

static double gemv_seconds(slm_vec_dot_fn dot, const uint8_t *w, size_t row_bytes, const void *a,
                           float *y)
{
    const double t0 = now_s();
    for (int r = 0; r < ROWS; r++) dot(COLS, &y[r], w + (size_t)r * row_bytes, a);
    return now_s() - t0;
}

/* Token generation through vec_dot_r4: 4 weight rows per call against the
 * one activation row, timed alternately with one vec_dot per row. */
static void bench_r4(slm_type t, int reps, const slm_kernels *kb, const uint8_t *w, size_t row_bytes,
                     const void *a)
{
    float *ya = malloc((size_t)ROWS * sizeof(float)), *yb = malloc((size_t)ROWS * sizeof(float));
    double *ta = malloc((size_t)reps * sizeof(double)), *tb = malloc((size_t)reps * sizeof(double));
    if (!ya || !yb || !ta || !tb) goto done;
    for (int k = 0; k < reps; k++) {
        ta[k] = gemv_seconds(kb->vec_dot[t], w, row_bytes, a, ya);
        const double t0 = now_s();
        for (int r = 0; r + 4 <= ROWS; r += 4) kb->vec_dot_r4[t](COLS, &yb[r], w + (size_t)r * row_bytes, row_bytes, a);
        tb[k] = now_s() - t0;
    }
    int bad = 0;
    for (int r = 0; r + 4 <= ROWS; r++)
        if (!(fabsf(ya[r] - yb[r]) <= 1e-4f * (fabsf(ya[r]) + 1.0f))) bad++;
    qsort(ta, (size_t)reps, sizeof(double), cmp_double);
    qsort(tb, (size_t)reps, sizeof(double), cmp_double);
    printf("        4 rows per call: vec_dot %8.3f ms   vec_dot_r4 %8.3f ms   x%.2f   (best %.3f / %.3f)%s\n",
           1e3 * ta[reps / 2], 1e3 * tb[reps / 2], ta[reps / 2] / tb[reps / 2], 1e3 * ta[0], 1e3 * tb[0],
           bad ? "   MISMATCH" : "");
done:
    free(ya);
    free(yb);
    free(ta);
    free(tb);
}

/* A batch of 4 activation rows (prompt processing): every weight row
 * dotted with each of them, by 4 vec_dot calls or by one vec_dot_x4. */
static double batch_seconds(const slm_kernels *k, slm_type t, const uint8_t *w, size_t row_bytes,
                            const uint8_t *a4, size_t a_stride, float *y, int use_x4)
{
    const double t0 = now_s();
    for (int r = 0; r < ROWS; r++) {
        const uint8_t *row = w + (size_t)r * row_bytes;
        if (use_x4) {
            k->vec_dot_x4[t](COLS, &y[r], (size_t)ROWS, row, a4, a_stride, 4);
        } else {
            for (int c = 0; c < 4; c++) k->vec_dot[t](COLS, &y[(size_t)c * ROWS + r], row, a4 + c * a_stride);
        }
    }
    return now_s() - t0;
}

static void bench_x4(slm_type t, int reps, const slm_kernels *kb, const uint8_t *w, size_t row_bytes)
{
    const slm_type at = slm_type_traits_get(t)->vec_dot_type;
    const size_t a_stride = slm_type_row_size(at, COLS);
    uint8_t *a4 = malloc(4 * a_stride);
    float *x = malloc(COLS * sizeof(float));
    float *y1 = malloc(4 * (size_t)ROWS * sizeof(float)), *y4 = malloc(4 * (size_t)ROWS * sizeof(float));
    double *t1 = malloc((size_t)reps * sizeof(double)), *t4 = malloc((size_t)reps * sizeof(double));
    if (!a4 || !x || !y1 || !y4 || !t1 || !t4) goto done;
    for (int c = 0; c < 4; c++) {
        for (int j = 0; j < COLS; j++) x[j] = rng_unit();
        kb->quant_act[at](x, a4 + c * a_stride, COLS);
    }
    batch_seconds(kb, t, w, row_bytes, a4, a_stride, y1, 0);
    batch_seconds(kb, t, w, row_bytes, a4, a_stride, y4, 1);
    int bad = 0;
    for (size_t i = 0; i < 4 * (size_t)ROWS; i++)
        if (!(fabsf(y1[i] - y4[i]) <= 1e-4f * (fabsf(y1[i]) + 1.0f))) bad++;
    if (bad) {
        printf("        x4 MISMATCH on %d results; not timed\n", bad);
        goto done;
    }
    for (int k = 0; k < reps; k++) {
        t1[k] = batch_seconds(kb, t, w, row_bytes, a4, a_stride, y1, 0);
        t4[k] = batch_seconds(kb, t, w, row_bytes, a4, a_stride, y4, 1);
    }
    qsort(t1, (size_t)reps, sizeof(double), cmp_double);
    qsort(t4, (size_t)reps, sizeof(double), cmp_double);
    printf("        batch of 4 rows: 4 x vec_dot %8.3f ms   vec_dot_x4 %8.3f ms   x%.2f   (best %.3f / %.3f)\n",
           1e3 * t1[reps / 2], 1e3 * t4[reps / 2], t1[reps / 2] / t4[reps / 2], 1e3 * t1[0], 1e3 * t4[0]);
done:
    free(a4);
    free(x);
    free(y1);
    free(y4);
    free(t1);
    free(t4);
}

/* N activation rows through the per-row path (A) and the GEMM (B). */
static void bench_gemm(slm_type t, int reps, const slm_kernels *kb, const uint8_t *w, size_t row_bytes, int n_act)
{
    slm_gemm_fn g = slm_gemm_get(t);
    const size_t gs = slm_gemm_act_bytes(t, COLS);
    if (!g || !gs) return;
    const slm_type at = slm_type_traits_get(t)->vec_dot_type;
    const size_t as = (slm_type_row_size(at, COLS) > gs ? slm_type_row_size(at, COLS) : gs) + 64;
    uint8_t *a = malloc((size_t)n_act * as), *ag = malloc((size_t)n_act * as);
    float *x = malloc(COLS * sizeof(float));
    float *ya = malloc((size_t)n_act * (size_t)ROWS * sizeof(float)), *yb = malloc((size_t)n_act * (size_t)ROWS * sizeof(float));
    double *ta = malloc((size_t)reps * sizeof(double)), *tb = malloc((size_t)reps * sizeof(double));
    if (!a || !ag || !x || !ya || !yb || !ta || !tb) goto done;
    for (int c = 0; c < n_act; c++) {
        for (int j = 0; j < COLS; j++) x[j] = rng_unit();
        kb->quant_act[at](x, a + (size_t)c * as, COLS);
        slm_gemm_act_convert(t, x, ag + (size_t)c * as, COLS);
    }
    for (int k = 0; k < reps; k++) {
        double t0 = now_s();
        for (int rb = 0; rb < ROWS; rb += 16)
            for (int c = 0; c < n_act; c += 4)
                for (int r = rb; r < rb + 16 && r < ROWS; r++)
                    kb->vec_dot_x4[t](COLS, &ya[(size_t)c * ROWS + r], (size_t)ROWS, w + (size_t)r * row_bytes,
                                      a + (size_t)c * as, as, n_act - c < 4 ? n_act - c : 4);
        ta[k] = now_s() - t0;
        t0 = now_s();
        g(COLS, w, row_bytes, ROWS, ag, as, n_act, yb, (size_t)ROWS);
        tb[k] = now_s() - t0;
    }
    qsort(ta, (size_t)reps, sizeof(double), cmp_double);
    qsort(tb, (size_t)reps, sizeof(double), cmp_double);
    printf("        batch of %d rows: per-row x4 %8.3f ms   GEMM %8.3f ms   x%.2f   (best %.3f / %.3f)\n", n_act,
           1e3 * ta[reps / 2], 1e3 * tb[reps / 2], ta[reps / 2] / tb[reps / 2], 1e3 * ta[0], 1e3 * tb[0]);
done:
    free(a), free(ag), free(x), free(ya), free(yb), free(ta), free(tb);
}

static void bench_type(slm_type t, int reps, const slm_kernels *ka, const slm_kernels *kb)
{
    const slm_type_traits *tr = slm_type_traits_get(t);
    const slm_type at = tr->vec_dot_type;
    const size_t row_bytes = slm_type_row_size(t, COLS);
    uint8_t *w = malloc((size_t)ROWS * row_bytes);
    float *x = malloc(COLS * sizeof(float));
    void *a = malloc(slm_type_row_size(at, COLS));
    float *ya = malloc((size_t)ROWS * sizeof(float)), *yb = malloc((size_t)ROWS * sizeof(float));
    double *ta = malloc((size_t)reps * sizeof(double)), *tb = malloc((size_t)reps * sizeof(double));
    if (!w || !x || !a || !ya || !yb || !ta || !tb || !make_weights(t, w, row_bytes)) {
        printf("%-7s skipped (no way to build weights, or out of memory)\n", tr->name);
        goto done;
    }
    for (int j = 0; j < COLS; j++) x[j] = rng_unit();
    kb->quant_act[at](x, a, COLS);

    /* correctness first: B within 1e-4 relative of A on every row */
    gemv_seconds(ka->vec_dot[t], w, row_bytes, a, ya);
    gemv_seconds(kb->vec_dot[t], w, row_bytes, a, yb);
    int bad = 0;
    for (int r = 0; r < ROWS; r++)
        if (!(fabsf(ya[r] - yb[r]) <= 1e-4f * (fabsf(ya[r]) + 1.0f))) bad++;
    if (bad) {
        printf("%-7s MISMATCH on %d of %d rows; not timed\n", tr->name, bad, ROWS);
        goto done;
    }
    for (int k = 0; k < reps; k++) {
        ta[k] = gemv_seconds(ka->vec_dot[t], w, row_bytes, a, ya);
        tb[k] = gemv_seconds(kb->vec_dot[t], w, row_bytes, a, yb);
    }
    qsort(ta, (size_t)reps, sizeof(double), cmp_double);
    qsort(tb, (size_t)reps, sizeof(double), cmp_double);
    const double ma = ta[reps / 2], mb = tb[reps / 2];
    const double mbytes = (double)ROWS * (double)row_bytes / 1e6;
    printf("%-7s %7.1f MB  %-6s %8.3f ms %6.2f GB/s   %-6s %8.3f ms %6.2f GB/s   x%.2f   (best %.2f / %.2f GB/s)\n",
           tr->name, mbytes, ka->isa, 1e3 * ma, mbytes / 1e3 / ma, kb->isa, 1e3 * mb, mbytes / 1e3 / mb,
           ma / mb, mbytes / 1e3 / ta[0], mbytes / 1e3 / tb[0]);
    if (kb->vec_dot_r4[t]) bench_r4(t, reps, kb, w, row_bytes, a);
    if (kb->vec_dot_x4[t]) bench_x4(t, reps, kb, w, row_bytes);
    const char *gemm_env = getenv("SLM_BENCH_GEMM");
    if (kb->vec_dot_x4[t] && gemm_env && atoi(gemm_env) > 0) bench_gemm(t, reps, kb, w, row_bytes, atoi(gemm_env));
done:
    free(w);
    free(x);
    free(a);
    free(ya);
    free(yb);
    free(ta);
    free(tb);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 15;
    const char *rows_env = getenv("SLM_BENCH_ROWS");
    if (rows_env && atoi(rows_env) > 0) ROWS = atoi(rows_env);
    if (reps < 1) reps = 1;
    const slm_kernels *ka = slm_kernels_scalar(), *kb = slm_kernels_get();
    printf("GEMV %d x %d, one thread, median of %d; A = %s, B = %s\n", ROWS, COLS, reps, ka->isa,
           kb->isa);
    for (int t = 0; t < SLM_TYPE_COUNT; t++) {
        const slm_type_traits *tr = slm_type_traits_get((slm_type)t);
        if (!tr || !ka->vec_dot[t] || !kb->vec_dot[t]) continue;
        if (argc > 2) {
            int want = 0;
            for (int i = 2; i < argc; i++) want |= strcmp(argv[i], tr->name) == 0;
            if (!want) continue;
        }
        bench_type((slm_type)t, reps, ka, kb);
    }
    return 0;
}
