/* test_kernels.c — every ISA kernel against the scalar oracle.
 *
 * Loops over the type table, so a new type (or a new kernel registered in
 * an ISA's register.c) is tested with no new code: for every weight type
 * whose ISA vec_dot differs from the scalar one, random rows of 1, 3 and 7
 * blocks (and longer odd lengths for the 1-element types) are dotted by
 * both; the results may differ only by float summation order (1e-5 of
 * sum |w_i a_i|). Activation quantizers must agree byte for byte, ties
 * included. Every ISA table this build has and this CPU runs is tested in
 * turn: AVX2 on x86; NEON and NEON+dotprod on AArch64 (under qemu-user the
 * emulated CPU decides: QEMU_CPU=cortex-a53 has no dotprod); NEON on ARMv7.
 * An ISA the CPU lacks is skipped (and passes) with a message.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/cpu.h"
#include "harness.h"
#include "kernels/kernels.h"
#include "quant/types.h"

static slm_kernels scalar_k, isa_k; /* isa_k: the ISA table under test */
static int have_isa;                 /* the ISA under test runs here */
static int n_dots, n_quants; /* comparisons made, printed at the end */

/* ---- deterministic random numbers (splitmix64) ---- */
static uint64_t rng_state = 0x5eed1234abcdULL;
static uint64_t rng_u64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static float rng_unit(void) /* [-1, 1) */
{
    return (float)((double)(rng_u64() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* n values in [-1, 1), each run of 32 scaled by 10^[-2, 2] so that block
 * scales vary the way real activations do. */
static void random_floats(float *x, int64_t n)
{
    float scale = 1.0f;
    for (int64_t i = 0; i < n; i++) {
        if (i % 32 == 0) scale = powf(10.0f, 2.0f * rng_unit());
        x[i] = scale * rng_unit();
    }
}

static int64_t block_size(slm_type t)
{
    const slm_type_traits *tr = slm_type_traits_get(t);
    return tr ? tr->block_size : 0;
}

/* Row lengths (elements) tried for a type: 1, 3 and 7 blocks, plus odd
 * lengths that exercise the vector tails of the 1-element types. */
static int row_lengths(slm_type t, int64_t *len)
{
    const int64_t bs = block_size(t);
    int k = 0;
    len[k++] = bs;
    len[k++] = 3 * bs;
    len[k++] = 7 * bs;
    if (bs == 1) {
        len[k++] = 29; /* 16 + 8 + 5: every loop stride and a tail */
        len[k++] = 61; /* 32 + 2 * 8 + 5 */
        len[k++] = 259;
        len[k++] = 4101;
    } else {
        len[k++] = 33 * bs;
    }
    return k;
}

/* Dot w (type t) with the activation row x (F32): both ISAs on the same
 * bytes, compared within 1e-5 of sum |w_i a_i| computed from the
 * dequantized rows. Returns 0 on mismatch (after reporting). */
static int compare_dot(slm_type t, const void *w, const float *x, int64_t n, const char *what)
{
    const slm_type_traits *tr = slm_type_traits_get(t);
    const slm_type at = tr->vec_dot_type;
    const slm_type_traits *atr = slm_type_traits_get(at);
    void *a = calloc(1, slm_type_row_size(at, n));
    float *wf = malloc((size_t)n * sizeof(float));
    float *af = malloc((size_t)n * sizeof(float));
    int ok = 1;
    if (!a || !wf || !af || !atr || !scalar_k.quant_act[at]) {
        CHECK(0, "%s: setup failed (activation type %d)", tr->name, (int)at);
        ok = 0;
        goto done;
    }
    scalar_k.quant_act[at](x, a, n); /* both kernels see the same activation bytes */
    tr->to_float(w, wf, n);
    atr->to_float(a, af, n);
    double mag = 0.0;
    for (int64_t i = 0; i < n; i++) mag += fabs((double)wf[i] * (double)af[i]);

    float ref = NAN, got = NAN;
    n_dots++;
    scalar_k.vec_dot[t](n, &ref, w, a);
    isa_k.vec_dot[t](n, &got, w, a);
    const double tol = 1e-5 * mag + 1e-30;
    if (!(fabs((double)got - (double)ref) <= tol)) {
        CHECK(0, "%s %s %s n=%lld: isa %.9g, scalar %.9g, |diff| %.3g > tol %.3g", isa_k.isa, tr->name, what,
              (long long)n, got, ref, fabs((double)got - (double)ref), tol);
        ok = 0;
    }
done:
    free(a);
    free(wf);
    free(af);
    return ok;
}

static void isa_dots_match_scalar_on_quantized_rows(void)
{
    if (!have_isa) return;
    int tested = 0;
    for (int t = 0; t < SLM_TYPE_COUNT; t++) {
        const slm_type_traits *tr = slm_type_traits_get((slm_type)t);
        if (!tr || !tr->from_float_ref || !isa_k.vec_dot[t]) continue;
        if (isa_k.vec_dot[t] == scalar_k.vec_dot[t]) continue;
        int64_t len[8];
        const int nl = row_lengths((slm_type)t, len);
        for (int k = 0; k < nl; k++) {
            const int64_t n = len[k];
            float *xw = malloc((size_t)n * sizeof(float));
            float *xa = malloc((size_t)n * sizeof(float));
            void *w = calloc(1, slm_type_row_size((slm_type)t, n));
            REQUIRE(xw && xa && w, "allocation");
            random_floats(xw, n);
            random_floats(xa, n);
            tr->from_float_ref(xw, w, n);
            compare_dot((slm_type)t, w, xa, n, "quantized");
            free(xw);
            free(xa);
            free(w);
        }
        tested++;
    }
    CHECK(tested >= 3, "%s: only %d types had both a reference quantizer and an ISA dot", isa_k.isa, tested);
}

/* Byte offsets of the fp16 scale fields of each block layout in which every
 * other bit pattern is valid: random bytes + sane scales cover the full
 * range of quants and sub-block scales, which reference-quantized rows
 * rarely reach. */
static const struct {
    slm_type type;
    int n_half;
    size_t half_at[2];
} random_layouts[] = {
    {SLM_TYPE_Q4_0, 1, {offsetof(slm_block_q4_0, d)}},
    {SLM_TYPE_Q4_1, 2, {offsetof(slm_block_q4_1, d), offsetof(slm_block_q4_1, m)}},
    {SLM_TYPE_Q5_0, 1, {offsetof(slm_block_q5_0, d)}},
    {SLM_TYPE_Q5_1, 2, {offsetof(slm_block_q5_1, d), offsetof(slm_block_q5_1, m)}},
    {SLM_TYPE_Q8_0, 1, {offsetof(slm_block_q8_0, d)}},
    {SLM_TYPE_Q2_K, 2, {offsetof(slm_block_q2_K, d), offsetof(slm_block_q2_K, dmin)}},
    {SLM_TYPE_Q3_K, 1, {offsetof(slm_block_q3_K, d)}},
    {SLM_TYPE_Q4_K, 2, {offsetof(slm_block_q4_K, d), offsetof(slm_block_q4_K, dmin)}},
    {SLM_TYPE_Q5_K, 2, {offsetof(slm_block_q5_K, d), offsetof(slm_block_q5_K, dmin)}},
    {SLM_TYPE_Q6_K, 1, {offsetof(slm_block_q6_K, d)}},
    {SLM_TYPE_IQ4_NL, 1, {offsetof(slm_block_iq4_nl, d)}},
    {SLM_TYPE_IQ4_XS, 1, {offsetof(slm_block_iq4_xs, d)}},
};

static void isa_dots_match_scalar_on_random_block_bytes(void)
{
    if (!have_isa) return;
    for (size_t r = 0; r < sizeof random_layouts / sizeof random_layouts[0]; r++) {
        const slm_type t = random_layouts[r].type;
        const slm_type_traits *tr = slm_type_traits_get(t);
        if (!tr || !isa_k.vec_dot[t] || isa_k.vec_dot[t] == scalar_k.vec_dot[t]) continue;
        int64_t len[8];
        const int nl = row_lengths(t, len);
        for (int k = 0; k < nl; k++) {
            const int64_t n = len[k], nb = n / tr->block_size;
            uint8_t *w = malloc(slm_type_row_size(t, n));
            float *xa = malloc((size_t)n * sizeof(float));
            REQUIRE(w && xa, "allocation");
            for (size_t b = 0; b < slm_type_row_size(t, n); b++) w[b] = (uint8_t)rng_u64();
            for (int64_t i = 0; i < nb; i++)
                for (int h = 0; h < random_layouts[r].n_half; h++) {
                    /* |scale| in [1e-3, 1e-1], either sign */
                    const float v = (rng_unit() < 0 ? -1.0f : 1.0f) * powf(10.0f, -2.0f + rng_unit());
                    const slm_fp16 hv = slm_fp32_to_fp16(v);
                    memcpy(w + (size_t)i * tr->type_size + random_layouts[r].half_at[h], &hv, 2);
                }
            random_floats(xa, n);
            compare_dot(t, w, xa, n, "random bytes");
            free(w);
            free(xa);
        }
    }
}

/* Fill a weight row of type t: reference-quantized random floats when the
 * type has a reference quantizer, else random bytes with sane scales (the
 * layouts of random_layouts). Returns 0 if neither applies. */
static int make_row(slm_type t, void *w, int64_t n)
{
    const slm_type_traits *tr = slm_type_traits_get(t);
    if (tr->from_float_ref) {
        float *x = malloc((size_t)n * sizeof(float));
        if (!x) return 0;
        random_floats(x, n);
        tr->from_float_ref(x, w, n);
        free(x);
        return 1;
    }
    for (size_t r = 0; r < sizeof random_layouts / sizeof random_layouts[0]; r++) {
        if (random_layouts[r].type != t) continue;
        uint8_t *b = w;
        for (size_t i = 0; i < slm_type_row_size(t, n); i++) b[i] = (uint8_t)rng_u64();
        for (int64_t i = 0; i < n / tr->block_size; i++)
            for (int h = 0; h < random_layouts[r].n_half; h++) {
                const float v = (rng_unit() < 0 ? -1.0f : 1.0f) * powf(10.0f, -2.0f + rng_unit());
                const slm_fp16 hv = slm_fp32_to_fp16(v);
                memcpy(b + (size_t)i * tr->type_size + random_layouts[r].half_at[h], &hv, 2);
            }
        return 1;
    }
    return 0;
}

/* vec_dot_x4: one weight row against 1..4 activation rows (stride larger
 * than a row, results strided): each result within tolerance of the scalar
 * vec_dot on that row, and no write outside s[c * s_stride], c < n_act. */
static void isa_x4_dots_match_scalar_per_activation_row(void)
{
    if (!have_isa) return;
    int tested = 0;
    for (int t = 0; t < SLM_TYPE_COUNT; t++) {
        const slm_type_traits *tr = slm_type_traits_get((slm_type)t);
        if (!tr || !isa_k.vec_dot_x4[t]) continue;
        const slm_type at = tr->vec_dot_type;
        int64_t len[8];
        const int nl = row_lengths((slm_type)t, len);
        for (int k = 0; k < nl; k++) {
            const int64_t n = len[k];
            const size_t a_row = slm_type_row_size(at, n), a_stride = a_row + 40;
            void *w = malloc(slm_type_row_size((slm_type)t, n));
            uint8_t *a = calloc(4, a_stride);
            float *x = malloc((size_t)n * sizeof(float));
            float *wf = malloc((size_t)n * sizeof(float)), *af = malloc((size_t)n * sizeof(float));
            REQUIRE(w && a && x && wf && af, "allocation");
            REQUIRE(make_row((slm_type)t, w, n), "%s: no way to build a weight row", tr->name);
            tr->to_float(w, wf, n);
            float ref[4];
            double mag[4];
            for (int c = 0; c < 4; c++) {
                random_floats(x, n);
                scalar_k.quant_act[at](x, a + c * a_stride, n);
                scalar_k.vec_dot[t](n, &ref[c], w, a + c * a_stride);
                slm_type_traits_get(at)->to_float(a + c * a_stride, af, n);
                mag[c] = 0.0;
                for (int64_t i = 0; i < n; i++) mag[c] += fabs((double)wf[i] * (double)af[i]);
            }
            for (int na = 1; na <= 4; na++) {
                enum { SS = 3 };
                float s[4 * SS];
                for (int i = 0; i < 4 * SS; i++) s[i] = -12345.0f;
                isa_k.vec_dot_x4[t](n, s, SS, w, a, a_stride, na);
                n_dots += na;
                for (int c = 0; c < 4; c++) {
                    if (c < na)
                        CHECK(fabs((double)s[c * SS] - ref[c]) <= 1e-5 * mag[c] + 1e-30,
                              "%s %s n=%lld n_act=%d row %d: x4 %.9g, scalar %.9g", isa_k.isa, tr->name,
                              (long long)n, na, c, s[c * SS], ref[c]);
                    else
                        CHECK(s[c * SS] == -12345.0f, "%s n_act=%d wrote result %d", tr->name, na, c);
                    CHECK(s[c * SS + 1] == -12345.0f && s[c * SS + 2] == -12345.0f,
                          "%s n_act=%d wrote between strided results", tr->name, na);
                }
            }
            free(w);
            free(a);
            free(x);
            free(wf);
            free(af);
        }
        tested++;
    }
    /* vec_dot_x4 is optional for an ISA; AVX2 has it for the hot types */
    CHECK(tested >= 4 || strcmp(isa_k.isa, "avx2") != 0, "only %d types have an AVX2 vec_dot_x4", tested);
}

/* vec_dot_r4: four weight rows (stride larger than a row) against one
 * activation row: each of the 4 results within tolerance of the scalar
 * vec_dot of that row, and nothing written past s[3]. */
static void isa_r4_dots_match_scalar_per_weight_row(void)
{
    if (!have_isa) return;
    int tested = 0;
    for (int t = 0; t < SLM_TYPE_COUNT; t++) {
        const slm_type_traits *tr = slm_type_traits_get((slm_type)t);
        if (!tr || !isa_k.vec_dot_r4[t]) continue;
        const slm_type at = tr->vec_dot_type;
        int64_t len[8];
        const int nl = row_lengths((slm_type)t, len);
        for (int k = 0; k < nl; k++) {
            const int64_t n = len[k];
            const size_t w_row = slm_type_row_size((slm_type)t, n), w_stride = w_row + 6;
            uint8_t *w = calloc(4, w_stride);
            void *a = malloc(slm_type_row_size(at, n));
            float *x = malloc((size_t)n * sizeof(float));
            float *wf = malloc((size_t)n * sizeof(float)), *af = malloc((size_t)n * sizeof(float));
            REQUIRE(w && a && x && wf && af, "allocation");
            random_floats(x, n);
            scalar_k.quant_act[at](x, a, n);
            slm_type_traits_get(at)->to_float(a, af, n);
            float ref[4];
            double mag[4];
            for (int r = 0; r < 4; r++) {
                REQUIRE(make_row((slm_type)t, w + r * w_stride, n), "%s: no way to build a weight row", tr->name);
                scalar_k.vec_dot[t](n, &ref[r], w + r * w_stride, a);
                tr->to_float(w + r * w_stride, wf, n);
                mag[r] = 0.0;
                for (int64_t i = 0; i < n; i++) mag[r] += fabs((double)wf[i] * (double)af[i]);
            }
            float s[5] = {-12345.0f, -12345.0f, -12345.0f, -12345.0f, -12345.0f};
            isa_k.vec_dot_r4[t](n, s, w, w_stride, a);
            n_dots += 4;
            for (int r = 0; r < 4; r++)
                CHECK(fabs((double)s[r] - ref[r]) <= 1e-5 * mag[r] + 1e-30,
                      "%s %s n=%lld weight row %d: r4 %.9g, scalar %.9g", isa_k.isa, tr->name, (long long)n, r,
                      s[r], ref[r]);
            CHECK(s[4] == -12345.0f, "%s r4 wrote past its 4 results", tr->name);
            free(w);
            free(a);
            free(x);
            free(wf);
            free(af);
        }
        tested++;
    }
    /* vec_dot_r4 is optional; AVX2 has it for Q4_0 */
    CHECK(tested >= 1 || strcmp(isa_k.isa, "avx2") != 0, "no AVX2 vec_dot_r4");
}

/* Run the scalar and AVX2 quantizer of activation type t on x (n values)
 * and require identical bytes; both buffers start zeroed so bytes a
 * quantizer leaves alone compare equal. */
static void compare_quant(slm_type t, const float *x, int64_t n, const char *what)
{
    const size_t size = slm_type_row_size(t, n);
    uint8_t *ya = calloc(1, size + 1), *yb = calloc(1, size + 1);
    if (!ya || !yb) {
        CHECK(0, "allocation");
    } else {
        n_quants++;
        scalar_k.quant_act[t](x, ya, n);
        isa_k.quant_act[t](x, yb, n);
        size_t first = size;
        for (size_t i = 0; i < size; i++)
            if (ya[i] != yb[i]) {
                first = i;
                break;
            }
        CHECK(first == size, "%s %s %s n=%lld: first differing byte %zu (scalar 0x%02x, isa 0x%02x)",
              isa_k.isa, slm_type_traits_get(t)->name, what, (long long)n, first, first < size ? ya[first] : 0,
              first < size ? yb[first] : 0);
    }
    free(ya);
    free(yb);
}

static void isa_act_quantizers_match_scalar_byte_for_byte(void)
{
    if (!have_isa) return;
    int tested = 0;
    for (int t = 0; t < SLM_TYPE_COUNT; t++) {
        if (!slm_type_traits_get((slm_type)t) || !isa_k.quant_act[t]) continue;
        if (isa_k.quant_act[t] == scalar_k.quant_act[t]) continue;
        int64_t len[8];
        const int nl = row_lengths((slm_type)t, len);
        for (int k = 0; k < nl; k++) {
            float *x = malloc((size_t)len[k] * sizeof(float));
            REQUIRE(x, "allocation");
            random_floats(x, len[k]);
            compare_quant((slm_type)t, x, len[k], "random");
            free(x);
        }
        tested++;
    }
    CHECK(tested >= 2, "%s: only %d activation quantizers have an ISA version", isa_k.isa, tested);
}

/* Rows built so that the scaled values land exactly on .5 (amax 127 makes
 * the Q8_0 factor 127/amax and the Q8_K factor -127/max exactly +-1), plus
 * all-zero blocks, a +-amax tie (the first one sets Q8_K's sign), and for
 * F16/BF16 rounding ties, overflow, subnormals, infinities and NaN. */
static void isa_act_quantizers_round_ties_like_scalar(void)
{
    if (!have_isa) return;
    enum { N = 512 };
    static float x[N];
    for (int t = 0; t < SLM_TYPE_COUNT; t++) {
        if (!slm_type_traits_get((slm_type)t) || !isa_k.quant_act[t]) continue;
        if (isa_k.quant_act[t] == scalar_k.quant_act[t]) continue;
        /* halves: -126.5 .. 126.5 with +-127 in each block of 32 */
        for (int i = 0; i < N; i++) x[i] = (float)((i * 37) % 254 - 127) + 0.5f;
        for (int i = 0; i < N; i += 32) x[i + 5] = (i / 32) % 2 ? 127.0f : -127.0f;
        compare_quant((slm_type)t, x, N, "ties");
        /* zeros, then a block whose extremes +-3 tie (positive first) */
        memset(x, 0, sizeof x);
        for (int i = 256; i < N; i++) x[i] = 0.01f * (float)(i % 17) - 0.08f;
        x[300] = 3.0f;
        x[400] = -3.0f;
        compare_quant((slm_type)t, x, N, "zero block and sign tie");
        x[300] = -3.0f;
        x[400] = 3.0f;
        compare_quant((slm_type)t, x, N, "sign tie, negative first");
        /* float edge cases: only meaningful for the float types */
        if (block_size((slm_type)t) == 1) {
            for (int i = 0; i < N; i++) {
                uint32_t u = (uint32_t)rng_u64();
                switch (i % 8) {
                case 0: u = (u & 0xffff0000u) | 0x8000u; break; /* bf16 tie */
                case 1: u = (u & 0x80000000u) | 0x47800000u | (u & 0x7fffu); break; /* >= 65536 */
                case 2: u = (u & 0x80000000u) | 0x33000000u | (u & 0x00ffffffu); break; /* fp16 subnormal */
                case 3: u = (u & 0x80000000u) | 0x7f800000u; break; /* inf */
                case 4: u = 0x7fc00000u | (u & 0x3fffffu); break; /* NaN */
                case 5: u = (u & 0xffffe000u) | 0x1000u; break; /* fp16 tie */
                default: break;
                }
                memcpy(&x[i], &u, 4);
            }
            compare_quant((slm_type)t, x, N, "float edge cases");
        }
    }
}

/* The kernels a real Q4_0 / Q8_0 / Q4_K / Q6_K / F16 model spends its time
 * in must not silently fall back to scalar (AVX2 also has batch kernels;
 * ARMv7's F16 activations stay scalar: its NEON flushes subnormals). */
static void isa_covers_the_hot_kernels(void)
{
    if (!have_isa) return;
    const int is_avx2 = strcmp(isa_k.isa, "avx2") == 0;
    const slm_type dots[] = {SLM_TYPE_F32, SLM_TYPE_F16, SLM_TYPE_Q4_0, SLM_TYPE_Q8_0,
                             SLM_TYPE_Q4_K, SLM_TYPE_Q6_K};
    for (size_t i = 0; i < sizeof dots / sizeof dots[0]; i++)
        CHECK(isa_k.vec_dot[dots[i]] && isa_k.vec_dot[dots[i]] != scalar_k.vec_dot[dots[i]],
              "%s: type %d has no vec_dot", isa_k.isa, (int)dots[i]);
    for (size_t i = 0; is_avx2 && i < sizeof dots / sizeof dots[0]; i++)
        CHECK(isa_k.vec_dot_x4[dots[i]] != NULL, "type %d has no AVX2 vec_dot_x4 (batches)", (int)dots[i]);
    const slm_type acts[] = {SLM_TYPE_Q8_0, SLM_TYPE_Q8_K, SLM_TYPE_F16};
#if defined(__arm__)
    const size_t n_acts = 2;
#else
    const size_t n_acts = 3;
#endif
    for (size_t i = 0; i < n_acts; i++)
        CHECK(isa_k.quant_act[acts[i]] && isa_k.quant_act[acts[i]] != scalar_k.quant_act[acts[i]],
              "%s: type %d has no quant_act", isa_k.isa, (int)acts[i]);
}

/* Run every test above on the table k (named isa) if the CPU has it. */
static void test_isa(const char *isa, int runs, void (*add)(slm_kernels *), void (*add2)(slm_kernels *))
{
    isa_k = scalar_k;
    have_isa = runs;
    if (!runs) {
        printf("SKIP (%s half): this CPU lacks the extensions; only the scalar table is built\n", isa);
        return;
    }
    if (add) add(&isa_k);
    if (add2) add2(&isa_k);
    printf("-- %s\n", isa);
    CHECK(strcmp(isa_k.isa, isa) == 0, "isa name '%s', expected '%s'", isa_k.isa, isa);
    RUN(isa_covers_the_hot_kernels);
    RUN(isa_dots_match_scalar_on_quantized_rows);
    RUN(isa_dots_match_scalar_on_random_block_bytes);
    RUN(isa_x4_dots_match_scalar_per_activation_row);
    RUN(isa_r4_dots_match_scalar_per_weight_row);
    RUN(isa_act_quantizers_match_scalar_byte_for_byte);
    RUN(isa_act_quantizers_round_ties_like_scalar);
}

int main(void)
{
    const slm_cpu_features *f = slm_cpu_get();
    slm_kernels_init_scalar(&scalar_k);
    int tables = 0;
#if SLM_HAVE_X86
    test_isa("avx2", f->avx2 && f->fma && f->f16c && f->bmi2, slm_kernels_add_avx2, NULL);
    tables++;
#endif
#if SLM_HAVE_NEON
    test_isa("neon", f->neon, slm_kernels_add_neon, NULL);
    tables++;
#endif
#if SLM_HAVE_NEON_DOTPROD
    test_isa("dotprod", f->neon && f->neon_dotprod, slm_kernels_add_neon, slm_kernels_add_neon_dotprod);
    tables++;
#endif
    (void)f;
    if (!tables) printf("SKIP: no ISA kernels on this architecture; only the scalar table is built\n");
    printf("%d dot comparisons, %d quantizer comparisons\n", n_dots, n_quants);
    return harness_finish();
}
