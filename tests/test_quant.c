/* test_quant.c — the weight types: fp16/bf16 conversion, the traits table,
 * exact dequantization, reference quantizers, activation quantizers, scalar
 * dot products and the kernel dispatch.
 *
 * Table-driven: every type in the traits table goes through every generic
 * test, so a new type needs a row in traits.c and (for the hand-built block
 * test) one element-wise encoder below. Expectations come from the format
 * definitions (element-wise encoders written independently of quant/),
 * hand-computed values, a double-precision oracle and /proc/cpuinfo.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "harness.h"
#include "kernels/kernels.h"
#include "quant/types.h"

/* ---- helpers ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static float rng_uniform(void) { return (float)((rng_next() >> 11) * (1.0 / 9007199254740992.0)); }
static float rng_gauss(void)
{
    float u = rng_uniform() + 1e-12f, v = rng_uniform();
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

#define MAX_N 4096
#define MAX_BYTES (MAX_N * 4 + 4096)

/* Every type slm implements, from the table. */
static int all_types(slm_type *out)
{
    int n = 0;
    for (int t = 0; t < SLM_TYPE_COUNT; t++)
        if (slm_type_traits_get((slm_type)t)) out[n++] = (slm_type)t;
    return n;
}

/* ---- fp16 / bf16 ---- */

static void fp16_converts_special_values_like_f16c(void)
{
    struct { float f; uint16_t h; } cases[] = {
        { 0.0f, 0x0000 },           { -0.0f, 0x8000 },
        { 1.0f, 0x3C00 },           { -2.0f, 0xC000 },
        { 65504.0f, 0x7BFF },       /* largest finite */
        { 65519.99f, 0x7BFF },      /* below the halfway point to 2^16 */
        { 65520.0f, 0x7C00 },       /* halfway, ties to even = infinity */
        { INFINITY, 0x7C00 },       { -INFINITY, 0xFC00 },
        { 0x1p-24f, 0x0001 },       /* smallest denormal */
        { 0x1p-25f, 0x0000 },       /* half of it: tie to even (0) */
        { 0x1.000002p-25f, 0x0001 },/* just above half */
        { 0x3p-25f, 0x0002 },       /* 1.5 denormal units: tie to even (2) */
        { 0x1p-14f, 0x0400 },       /* smallest normal */
        { 0x3FFp-24f, 0x03FF },     /* largest denormal */
        { 0x1.002p0f, 0x3C00 },     /* 1 + 2^-11: tie, to even (1.0) */
        { 0x1.006p0f, 0x3C02 },     /* 1 + 3*2^-11: tie, to even (1 + 2^-9) */
        { 0x1.0021p0f, 0x3C01 },    /* just above the tie */
        { 1e-10f, 0x0000 },         { -1e10f, 0xFC00 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t h = slm_fp32_to_fp16(cases[i].f);
        CHECK(h == cases[i].h, "fp32 %a -> fp16 0x%04x, expected 0x%04x", cases[i].f, h, cases[i].h);
    }
    uint16_t hn = slm_fp32_to_fp16(NAN);
    CHECK((hn & 0x7C00) == 0x7C00 && (hn & 0x03FF) != 0, "NaN -> 0x%04x, expected a NaN", hn);
    CHECK((hn & 0x0200) != 0, "NaN -> 0x%04x, expected a quiet NaN", hn);
}

static void fp16_to_fp32_is_exact_and_round_trips(void)
{
    CHECK(slm_fp16_to_fp32(0x0001) == 0x1p-24f, "0x0001 -> %a", slm_fp16_to_fp32(0x0001));
    CHECK(slm_fp16_to_fp32(0x7BFF) == 65504.0f, "0x7BFF -> %g", slm_fp16_to_fp32(0x7BFF));
    CHECK(slm_fp16_to_fp32(0x3555) == 0.333251953125f, "0x3555 -> %.12g", slm_fp16_to_fp32(0x3555));
    CHECK(slm_fp16_to_fp32(0x03FF) == 0x3FFp-24f, "0x03FF -> %a", slm_fp16_to_fp32(0x03FF));
    float nz = slm_fp16_to_fp32(0x8000);
    CHECK(nz == 0.0f && signbit(nz), "0x8000 -> %g, expected -0", nz);
    CHECK(isinf(slm_fp16_to_fp32(0xFC00)) && slm_fp16_to_fp32(0xFC00) < 0, "0xFC00 is not -inf");
    CHECK(isnan(slm_fp16_to_fp32(0x7E00)), "0x7E00 is not NaN");
    CHECK(isnan(slm_fp16_to_fp32(0x7C01)), "0x7C01 is not NaN");
    /* Every non-NaN half survives half -> float -> half; and the float is
     * the value the bit pattern defines: (-1)^s * 2^(e-15) * (1 + m/1024). */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        uint32_t e = (h >> 10) & 31, m = h & 1023;
        if (e == 31 && m) continue;
        double expect = e == 0 ? ldexp((double)m, -24)
                      : e == 31 ? INFINITY : ldexp(1.0 + m / 1024.0, (int)e - 15);
        if (h & 0x8000) expect = -expect;
        float f = slm_fp16_to_fp32((slm_fp16)h);
        if ((double)f != expect || slm_fp32_to_fp16(f) != h) bad++;
    }
    CHECK(bad == 0, "%d half values decode wrongly or do not round-trip", bad);
}

static void fp32_to_fp16_rounds_to_nearest_even_everywhere(void)
{
    /* Oracle: the nearest half by exhaustive comparison in double over the
     * two neighbouring halves, ties to the even pattern. Sampled floats. */
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        float f = bits_f32((uint32_t)rng_next());
        if (isnan(f) || fabsf(f) >= 65520.0f) continue;
        uint16_t h = slm_fp32_to_fp16(f);
        double v = slm_fp16_to_fp32(h);
        double err = fabs(v - f);
        uint16_t up = (uint16_t)(h + 1), dn = (uint16_t)(h - 1);
        double vu = (h & 0x7FFF) == 0x7BFF ? 65536.0 * (h & 0x8000 ? -1 : 1) : slm_fp16_to_fp32(up);
        double vd = (h & 0x7FFF) == 0 ? -slm_fp16_to_fp32(h ^ 0x0001) : slm_fp16_to_fp32(dn);
        if (fabs(vu - f) < err || fabs(vd - f) < err) bad++;
        else if ((fabs(vu - f) == err || fabs(vd - f) == err) && err != 0 && (h & 1)) bad++;
    }
    CHECK(bad == 0, "%d sampled floats not rounded to the nearest (even) half", bad);
}

static void bf16_rounds_to_nearest_even_and_keeps_nan_quiet(void)
{
    CHECK(slm_fp32_to_bf16(1.0f) == 0x3F80, "1.0 -> 0x%04x", slm_fp32_to_bf16(1.0f));
    CHECK(slm_fp32_to_bf16(0x1.01p0f) == 0x3F80, "1+2^-8 (tie) -> 0x%04x", slm_fp32_to_bf16(0x1.01p0f));
    CHECK(slm_fp32_to_bf16(0x1.03p0f) == 0x3F82, "1+3*2^-8 (tie) -> 0x%04x", slm_fp32_to_bf16(0x1.03p0f));
    CHECK(slm_fp32_to_bf16(0x1.0101p0f) == 0x3F81, "just above tie -> 0x%04x", slm_fp32_to_bf16(0x1.0101p0f));
    CHECK(slm_fp32_to_bf16(-INFINITY) == 0xFF80, "-inf -> 0x%04x", slm_fp32_to_bf16(-INFINITY));
    CHECK(slm_fp32_to_bf16(-0.0f) == 0x8000, "-0 -> 0x%04x", slm_fp32_to_bf16(-0.0f));
    /* A signalling NaN whose payload lies only in the low 16 bits must not
     * become infinity; it becomes a quiet NaN. */
    uint16_t n = slm_fp32_to_bf16(bits_f32(0x7F800001u));
    CHECK((n & 0x7F80) == 0x7F80 && (n & 0x0040), "sNaN -> 0x%04x, expected quiet NaN", n);
    CHECK(slm_bf16_to_fp32(0x3F82) == 0x1.04p0f, "0x3F82 -> %a", slm_bf16_to_fp32(0x3F82));
    CHECK(slm_bf16_to_fp32(0x0001) == 0x1p-133f, "0x0001 -> %a", slm_bf16_to_fp32(0x0001));
}

/* ---- traits ---- */

static void row_size_is_blocks_times_block_bytes(void)
{
    struct { slm_type t; int64_t n; size_t bytes; } cases[] = {
        { SLM_TYPE_F32, 4096, 16384 },   { SLM_TYPE_F16, 4096, 8192 },
        { SLM_TYPE_BF16, 4096, 8192 },   { SLM_TYPE_Q4_0, 4096, 2304 },
        { SLM_TYPE_Q4_1, 4096, 2560 },   { SLM_TYPE_Q5_0, 4096, 2816 },
        { SLM_TYPE_Q5_1, 4096, 3072 },   { SLM_TYPE_Q8_0, 4096, 4352 },
        { SLM_TYPE_Q8_1, 4096, 4608 },   { SLM_TYPE_Q2_K, 4096, 1344 },
        { SLM_TYPE_Q3_K, 4096, 1760 },   { SLM_TYPE_Q4_K, 4096, 2304 },
        { SLM_TYPE_Q5_K, 4096, 2816 },   { SLM_TYPE_Q6_K, 4096, 3360 },
        { SLM_TYPE_Q8_K, 4096, 4672 },   { SLM_TYPE_IQ4_NL, 4096, 2304 },
        { SLM_TYPE_IQ4_XS, 4096, 2176 }, { SLM_TYPE_Q4_K, 4000, 0 },
        { SLM_TYPE_Q4_0, 33, 0 },        { SLM_TYPE_F32, -4, 0 },
        { (slm_type)4, 4096, 0 },        { (slm_type)39, 32, 0 },
        { (slm_type)-1, 32, 0 },         { SLM_TYPE_COUNT, 32, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t got = slm_type_row_size(cases[i].t, cases[i].n);
        CHECK(got == cases[i].bytes, "row_size(type %d, %lld) = %zu, expected %zu", (int)cases[i].t,
              (long long)cases[i].n, got, cases[i].bytes);
    }
    /* Overflow is refused, not wrapped. */
    CHECK(slm_type_row_size(SLM_TYPE_F32, INT64_MAX - 7) == 0 || sizeof(size_t) > 8, "huge row wraps");
}

static void vec_dot_types_match_llama_cpp_cpu_backend(void)
{
    /* From llama.cpp's ggml-cpu type_traits_cpu. */
    struct { slm_type w, a; } map[] = {
        { SLM_TYPE_F32, SLM_TYPE_F32 },   { SLM_TYPE_F16, SLM_TYPE_F16 },
        { SLM_TYPE_BF16, SLM_TYPE_BF16 }, { SLM_TYPE_Q4_0, SLM_TYPE_Q8_0 },
        { SLM_TYPE_Q4_1, SLM_TYPE_Q8_1 }, { SLM_TYPE_Q5_0, SLM_TYPE_Q8_0 },
        { SLM_TYPE_Q5_1, SLM_TYPE_Q8_1 }, { SLM_TYPE_Q8_0, SLM_TYPE_Q8_0 },
        { SLM_TYPE_Q2_K, SLM_TYPE_Q8_K }, { SLM_TYPE_Q3_K, SLM_TYPE_Q8_K },
        { SLM_TYPE_Q4_K, SLM_TYPE_Q8_K }, { SLM_TYPE_Q5_K, SLM_TYPE_Q8_K },
        { SLM_TYPE_Q6_K, SLM_TYPE_Q8_K }, { SLM_TYPE_IQ4_NL, SLM_TYPE_Q8_0 },
        { SLM_TYPE_IQ4_XS, SLM_TYPE_Q8_K },
    };
    const slm_kernels *k = slm_kernels_scalar();
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        const slm_type_traits *tt = slm_type_traits_get(map[i].w);
        REQUIRE(tt != NULL, "type %d missing from the table", (int)map[i].w);
        CHECK(tt->vec_dot_type == map[i].a, "%s: vec_dot_type %d, expected %d", tt->name,
              (int)tt->vec_dot_type, (int)map[i].a);
        CHECK(k->vec_dot[map[i].w] != NULL, "%s: no scalar dot", tt->name);
        CHECK(k->quant_act[map[i].a] != NULL, "%s: no activation quantizer for %d", tt->name, (int)map[i].a);
    }
}

static void type_names_parse_case_insensitively(void)
{
    slm_type all[SLM_TYPE_COUNT];
    int n = all_types(all);
    CHECK(n == 17, "%d types in the table, expected 17", n);
    for (int i = 0; i < n; i++) {
        const char *name = slm_type_name(all[i]);
        REQUIRE(name != NULL, "type %d has no name", (int)all[i]);
        char lower[32];
        size_t j = 0;
        for (; name[j] && j < sizeof lower - 1; j++) lower[j] = (char)(name[j] >= 'A' && name[j] <= 'Z' ? name[j] + 32 : name[j]);
        lower[j] = '\0';
        slm_type t = SLM_TYPE_COUNT;
        CHECK(slm_type_from_name(lower, &t) == SLM_OK && t == all[i], "'%s' does not parse to %d", lower, (int)all[i]);
    }
    slm_type t;
    CHECK(strcmp(slm_type_name(SLM_TYPE_Q4_K), "Q4_K") == 0, "Q4_K name is %s", slm_type_name(SLM_TYPE_Q4_K));
    CHECK(slm_type_from_name("Q4_K_M", &t) == SLM_ERR_ARG, "Q4_K_M parsed as a type");
    CHECK(strstr(slm_last_error(), "Q4_K_M") != NULL, "message does not name the input: %s", slm_last_error());
    CHECK(slm_type_from_name("Q4", &t) == SLM_ERR_ARG, "Q4 parsed as a type");
    CHECK(slm_type_from_name("", &t) == SLM_ERR_ARG, "empty name parsed");
    CHECK(slm_type_name((slm_type)4) == NULL, "type 4 has a name");
    CHECK(slm_type_name((slm_type)100) == NULL, "type 100 has a name");
}

/* ---- hand-built blocks: element-wise encoders from the format definitions ----
 * Each encoder writes one block whose element e holds the code c(e), and
 * the value the format defines for it. Scales are powers of two and codes
 * small integers, so every expected value is exact in float. */

typedef void (*encode_fn)(uint8_t *blk, float *expect);

static void put_fp16(uint8_t *p, float v)
{
    uint16_t h = slm_fp32_to_fp16(v);
    memcpy(p, &h, 2);
}
static void set_bits(uint8_t *p, int bit, int nbits, unsigned v)
{
    for (int i = 0; i < nbits; i++) {
        int b = bit + i;
        if ((v >> i) & 1) p[b / 8] |= (uint8_t)(1u << (b % 8));
        else p[b / 8] &= (uint8_t)~(1u << (b % 8));
    }
}
static unsigned code(int e, int mod) { return (unsigned)((e * 7 + 3) % mod); }

/* 32-element nibble layout: element j < 16 low nibble of byte j, else high nibble of byte j-16. */
static void put_nibble32(uint8_t *qs, int j, unsigned q) { set_bits(qs, (j % 16) * 8 + (j / 16) * 4, 4, q); }

static void enc_q4_0(uint8_t *b, float *x)
{
    put_fp16(b, 0.25f);
    for (int e = 0; e < 32; e++) { put_nibble32(b + 2, e, code(e, 16)); x[e] = 0.25f * ((float)code(e, 16) - 8); }
}
static void enc_q4_1(uint8_t *b, float *x)
{
    put_fp16(b, 0.5f);
    put_fp16(b + 2, -2.0f);
    for (int e = 0; e < 32; e++) { put_nibble32(b + 4, e, code(e, 16)); x[e] = 0.5f * (float)code(e, 16) - 2.0f; }
}
static void enc_q5_0(uint8_t *b, float *x)
{
    put_fp16(b, 0.125f);
    for (int e = 0; e < 32; e++) {
        unsigned q = code(e, 32);
        set_bits(b + 2, e, 1, q >> 4);    /* qh: bit e */
        put_nibble32(b + 6, e, q & 15);
        x[e] = 0.125f * ((float)q - 16);
    }
}
static void enc_q5_1(uint8_t *b, float *x)
{
    put_fp16(b, 0.25f);
    put_fp16(b + 2, 1.5f);
    for (int e = 0; e < 32; e++) {
        unsigned q = code(e, 32);
        set_bits(b + 4, e, 1, q >> 4);
        put_nibble32(b + 8, e, q & 15);
        x[e] = 0.25f * (float)q + 1.5f;
    }
}
static void enc_q8_0(uint8_t *b, float *x)
{
    put_fp16(b, 0.0625f);
    for (int e = 0; e < 32; e++) { int q = (int)code(e, 256) - 128; b[2 + e] = (uint8_t)q; x[e] = 0.0625f * (float)q; }
}
static void enc_q8_1(uint8_t *b, float *x)
{
    put_fp16(b, 2.0f);
    put_fp16(b + 2, 0.0f);
    for (int e = 0; e < 32; e++) { int q = (int)code(e, 256) - 128; b[4 + e] = (uint8_t)q; x[e] = 2.0f * (float)q; }
}
/* Q2_K: scales[16] | qs[64] | d | dmin. Element e: sub-block e/16; 2-bit
 * code at qs[32*(e/128) + e%32], bits 2*((e%128)/32). */
static void enc_q2_k(uint8_t *b, float *x)
{
    const float d = 0.5f, dmin = 0.25f;
    put_fp16(b + 80, d);
    put_fp16(b + 82, dmin);
    for (int s = 0; s < 16; s++) b[s] = (uint8_t)(code(s, 16) | (code(s + 5, 16) << 4));
    for (int e = 0; e < 256; e++) {
        unsigned q = code(e, 4);
        set_bits(b + 16 + 32 * (e / 128) + e % 32, 2 * ((e % 128) / 32), 2, q);
        x[e] = d * (float)code(e / 16, 16) * (float)q - dmin * (float)code(e / 16 + 5, 16);
    }
}
/* Q3_K: hmask[32] | qs[64] | scales[12] | d. 6-bit scale s: low 4 bits in
 * scales[s % 8] (nibble s / 8), high 2 bits in scales[8 + s % 4] at bit
 * 2*(s/4); element e: low 2 bits as Q2_K, bit e/32 of hmask[e % 32] set
 * means "no -4". */
static void enc_q3_k(uint8_t *b, float *x)
{
    const float d = 0.25f;
    memset(b, 0, 110);
    put_fp16(b + 108, d);
    for (int s = 0; s < 16; s++) {
        unsigned sc = code(s, 64);
        set_bits(b + 96 + s % 8, 4 * (s / 8), 4, sc & 15);
        set_bits(b + 96 + 8 + s % 4, 2 * (s / 4), 2, sc >> 4);
    }
    for (int e = 0; e < 256; e++) {
        unsigned q = code(e, 8);
        set_bits(b + 32 + 32 * (e / 128) + e % 32, 2 * ((e % 128) / 32), 2, q & 3);
        set_bits(b + e % 32, e / 32, 1, q >> 2);
        x[e] = d * ((float)code(e / 16, 64) - 32) * ((float)(q & 3) - ((q >> 2) ? 0 : 4));
    }
}
/* Q4_K/Q5_K 12-byte scales: sub-block s < 4: scale = low 6 bits of byte s,
 * min = low 6 bits of byte s+4; s >= 4: low 4 bits in byte s+4 (scale low
 * nibble, min high nibble), high 2 bits in the top bits of byte s-4 (scale)
 * and byte s (min). */
static void put_k4_scales(uint8_t *sc, int s, unsigned scale, unsigned min)
{
    if (s < 4) {
        set_bits(sc + s, 0, 6, scale);
        set_bits(sc + s + 4, 0, 6, min);
    } else {
        set_bits(sc + s + 4, 0, 4, scale & 15);
        set_bits(sc + s + 4, 4, 4, min & 15);
        set_bits(sc + s - 4, 6, 2, scale >> 4);
        set_bits(sc + s, 6, 2, min >> 4);
    }
}
static void enc_q4_k(uint8_t *b, float *x)
{
    const float d = 0.125f, dmin = 0.5f;
    memset(b, 0, 144);
    put_fp16(b, d);
    put_fp16(b + 2, dmin);
    for (int s = 0; s < 8; s++) put_k4_scales(b + 4, s, code(s, 64), code(s + 3, 64));
    for (int e = 0; e < 256; e++) {
        unsigned q = code(e, 16);
        set_bits(b + 16 + 32 * (e / 64) + e % 32, 4 * ((e % 64) / 32), 4, q);
        x[e] = d * (float)code(e / 32, 64) * (float)q - dmin * (float)code(e / 32 + 3, 64);
    }
}
static void enc_q5_k(uint8_t *b, float *x)
{
    const float d = 0.0625f, dmin = 0.25f;
    memset(b, 0, 176);
    put_fp16(b, d);
    put_fp16(b + 2, dmin);
    for (int s = 0; s < 8; s++) put_k4_scales(b + 4, s, code(s + 1, 64), code(s + 6, 64));
    for (int e = 0; e < 256; e++) {
        unsigned q = code(e, 32);
        set_bits(b + 48 + 32 * (e / 64) + e % 32, 4 * ((e % 64) / 32), 4, q & 15);
        set_bits(b + 16 + e % 32, e / 32, 1, q >> 4); /* qh[e % 32], bit e / 32 */
        x[e] = d * (float)code(e / 32 + 1, 64) * (float)q - dmin * (float)code(e / 32 + 6, 64);
    }
}
/* Q6_K: ql[128] | qh[64] | scales[16] | d. Element e, half h = e/128,
 * r = e%128, k = r/32, l = r%32: low nibble in ql[64h + l + 32(k&1)]
 * (high nibble if k >= 2), high 2 bits in qh[32h + l] at bit 2k. */
static void enc_q6_k(uint8_t *b, float *x)
{
    const float d = 0.03125f;
    memset(b, 0, 210);
    put_fp16(b + 208, d);
    for (int s = 0; s < 16; s++) b[192 + s] = (uint8_t)(int8_t)((int)code(s, 256) - 128);
    for (int e = 0; e < 256; e++) {
        int h = e / 128, r = e % 128, k = r / 32, l = r % 32;
        unsigned q = code(e, 64);
        set_bits(b + 64 * h + l + 32 * (k & 1), k >= 2 ? 4 : 0, 4, q & 15);
        set_bits(b + 128 + 32 * h + l, 2 * k, 2, q >> 4);
        x[e] = d * (float)((int)code(e / 16, 256) - 128) * ((float)q - 32);
    }
}
static void enc_q8_k(uint8_t *b, float *x)
{
    const float d = 0.375f;
    memset(b, 0, 292);
    memcpy(b, &d, 4);
    for (int e = 0; e < 256; e++) { int q = (int)code(e, 255) - 127; b[4 + e] = (uint8_t)q; x[e] = d * (float)q; }
}
static const int8_t iq4_codebook[16] = { -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 };
static void enc_iq4_nl(uint8_t *b, float *x)
{
    put_fp16(b, 0.5f);
    for (int e = 0; e < 32; e++) { put_nibble32(b + 2, e, code(e, 16)); x[e] = 0.5f * (float)iq4_codebook[code(e, 16)]; }
}
/* IQ4_XS: d | scales_h (u16) | scales_l[4] | qs[128]. Sub-block s: 6-bit
 * ls, low 4 bits in scales_l[s/2] (high nibble if s odd), high 2 bits at
 * bit 2s of scales_h; element r of sub-block s in qs[16s..] as IQ4_NL. */
static void enc_iq4_xs(uint8_t *b, float *x)
{
    const float d = 0.25f;
    memset(b, 0, 136);
    put_fp16(b, d);
    for (int s = 0; s < 8; s++) {
        unsigned ls = code(s + 2, 64);
        set_bits(b + 4 + s / 2, 4 * (s % 2), 4, ls & 15);
        set_bits(b + 2, 2 * s, 2, ls >> 4);
    }
    for (int e = 0; e < 256; e++) {
        put_nibble32(b + 8 + 16 * (e / 32), e % 32, code(e, 16));
        x[e] = d * ((float)code(e / 32 + 2, 64) - 32) * (float)iq4_codebook[code(e, 16)];
    }
}
static void enc_f32(uint8_t *b, float *x)
{
    x[0] = -1.5f;
    memcpy(b, x, 4);
}
static void enc_f16(uint8_t *b, float *x)
{
    b[0] = 0x00; b[1] = 0xBE; /* 0xBE00 = -(1 + 512/1024) * 2^0 = -1.5 */
    x[0] = -1.5f;
}
static void enc_bf16(uint8_t *b, float *x)
{
    b[0] = 0x40; b[1] = 0x40; /* 0x4040 = 3.0 */
    x[0] = 3.0f;
}

static encode_fn encoder_for(slm_type t)
{
    switch (t) {
    case SLM_TYPE_F32: return enc_f32;
    case SLM_TYPE_F16: return enc_f16;
    case SLM_TYPE_BF16: return enc_bf16;
    case SLM_TYPE_Q4_0: return enc_q4_0;
    case SLM_TYPE_Q4_1: return enc_q4_1;
    case SLM_TYPE_Q5_0: return enc_q5_0;
    case SLM_TYPE_Q5_1: return enc_q5_1;
    case SLM_TYPE_Q8_0: return enc_q8_0;
    case SLM_TYPE_Q8_1: return enc_q8_1;
    case SLM_TYPE_Q2_K: return enc_q2_k;
    case SLM_TYPE_Q3_K: return enc_q3_k;
    case SLM_TYPE_Q4_K: return enc_q4_k;
    case SLM_TYPE_Q5_K: return enc_q5_k;
    case SLM_TYPE_Q6_K: return enc_q6_k;
    case SLM_TYPE_Q8_K: return enc_q8_k;
    case SLM_TYPE_IQ4_NL: return enc_iq4_nl;
    case SLM_TYPE_IQ4_XS: return enc_iq4_xs;
    default: return NULL;
    }
}

static void hand_built_blocks_dequantize_to_their_defined_values(void)
{
    slm_type all[SLM_TYPE_COUNT];
    int n = all_types(all);
    for (int i = 0; i < n; i++) {
        const slm_type_traits *tt = slm_type_traits_get(all[i]);
        encode_fn enc = encoder_for(all[i]);
        CHECK(enc != NULL, "%s: no element-wise encoder in the test", tt->name);
        if (!enc) continue;
        uint8_t blk[2][512];
        float expect[256], got[512];
        memset(blk, 0, sizeof blk);
        enc(blk[0], expect);
        /* Two copies: the second block must decode independently of the first. */
        memcpy(blk[1], blk[0], tt->type_size);
        memmove((uint8_t *)blk + tt->type_size, blk[1], tt->type_size);
        tt->to_float(blk, got, 2 * tt->block_size);
        int bad = 0;
        for (int e = 0; e < 2 * tt->block_size; e++) {
            if (got[e] != expect[e % tt->block_size]) {
                if (bad < 3) fprintf(stderr, "  %s element %d: got %g, expected %g\n", tt->name, e, got[e], expect[e % tt->block_size]);
                bad++;
            }
        }
        CHECK(bad == 0, "%s: %d elements differ from the format definition", tt->name, bad);
        /* The kernel table's dequantizer agrees (it may be an ISA version). */
        const slm_kernels *k = slm_kernels_get();
        if (k->to_float[all[i]]) {
            float got2[512];
            k->to_float[all[i]](blk, got2, 2 * tt->block_size);
            CHECK(memcmp(got, got2, sizeof(float) * 2 * (size_t)tt->block_size) == 0,
                  "%s: %s to_float differs from the exact one", tt->name, k->isa);
        }
    }
}

static void q4_0_block_decodes_by_hand(void)
{
    /* d = 0.5 (fp16 0x3800); qs[0] = 0x1F: element 0 = (15 - 8) * 0.5 = 3.5,
     * element 16 = (1 - 8) * 0.5 = -3.5; other bytes 0x88: elements = 0. */
    uint8_t b[18] = { 0x00, 0x38, 0x1F };
    memset(b + 3, 0x88, 15);
    float y[32];
    slm_type_traits_get(SLM_TYPE_Q4_0)->to_float(b, y, 32);
    CHECK(y[0] == 3.5f && y[16] == -3.5f && y[1] == 0.0f && y[31] == 0.0f, "got %g %g %g %g", y[0], y[16], y[1], y[31]);
}

/* ---- reference quantizers ---- */

/* Largest acceptable rms error relative to the data's rms, for Gaussian
 * data: a b-bit grid over a 32-value block spans about +-2.5 sigma, step
 * 5 sigma / 2^b, rms error step / sqrt(12); bounds leave ~1.5x room. */
static double rel_rmse_bound(slm_type t)
{
    switch (t) {
    case SLM_TYPE_F32: return 0.0;
    case SLM_TYPE_F16: return 4e-4;   /* 2^-11 / sqrt(3) relative */
    case SLM_TYPE_BF16: return 3e-3;  /* 2^-8 / sqrt(3) */
    case SLM_TYPE_Q8_0: case SLM_TYPE_Q8_1: case SLM_TYPE_Q8_K: return 0.01;
    case SLM_TYPE_Q6_K: return 0.03;
    case SLM_TYPE_Q5_0: case SLM_TYPE_Q5_1: case SLM_TYPE_Q5_K: return 0.06;
    case SLM_TYPE_Q4_0: case SLM_TYPE_Q4_1: case SLM_TYPE_Q4_K:
    case SLM_TYPE_IQ4_NL: case SLM_TYPE_IQ4_XS: return 0.12;
    case SLM_TYPE_Q3_K: return 0.25;
    case SLM_TYPE_Q2_K: return 0.5;
    default: return 0.0;
    }
}

static void every_type_round_trips_within_its_error_bound(void)
{
    static float x[MAX_N], y[MAX_N];
    static uint8_t q[MAX_BYTES];
    slm_type all[SLM_TYPE_COUNT];
    int n = all_types(all);
    for (int i = 0; i < n; i++) {
        const slm_type_traits *tt = slm_type_traits_get(all[i]);
        CHECK(tt->from_float_ref != NULL, "%s: no reference quantizer", tt->name);
        if (!tt->from_float_ref) continue;
        /* 7 blocks (an odd count), and 16 for the 32-element types. */
        const int64_t counts[2] = { 7 * tt->block_size, tt->block_size == 1 ? 4096 : 16 * tt->block_size };
        for (int c = 0; c < 2; c++) {
            const int64_t m = counts[c] > MAX_N ? MAX_N : counts[c];
            double ss = 0, se = 0;
            for (int64_t j = 0; j < m; j++) {
                x[j] = rng_gauss() * 0.05f;
                ss += (double)x[j] * x[j];
            }
            size_t bytes = slm_type_row_size(all[i], m);
            memset(q, 0xA5, bytes + 16);
            tt->from_float_ref(x, q, m);
            CHECK(q[bytes] == 0xA5, "%s: reference quantizer wrote past %zu bytes", tt->name, bytes);
            tt->to_float(q, y, m);
            for (int64_t j = 0; j < m; j++) se += ((double)x[j] - y[j]) * ((double)x[j] - y[j]);
            double rel = sqrt(se / ss);
            CHECK(rel <= rel_rmse_bound(all[i]), "%s (%lld values): relative rms error %.4g > %.4g", tt->name,
                  (long long)m, rel, rel_rmse_bound(all[i]));
        }
    }
}

static void reference_quantizers_handle_zero_and_constant_blocks(void)
{
    static float x[512], y[512];
    static uint8_t q[4096];
    slm_type all[SLM_TYPE_COUNT];
    int n = all_types(all);
    for (int i = 0; i < n; i++) {
        const slm_type_traits *tt = slm_type_traits_get(all[i]);
        if (!tt->from_float_ref || tt->block_size == 1) continue;
        const int64_t m = 2 * tt->block_size;
        for (int64_t j = 0; j < m; j++) x[j] = j < tt->block_size ? 0.0f : -0.75f;
        tt->from_float_ref(x, q, m);
        tt->to_float(q, y, m);
        int bad = 0;
        for (int64_t j = 0; j < m; j++) {
            if (!isfinite(y[j])) bad++;
            else if (j < tt->block_size && y[j] != 0.0f) bad++;
            else if (j >= tt->block_size && fabsf(y[j] + 0.75f) > 0.75f * 0.02f) bad++;
        }
        CHECK(bad == 0, "%s: %d values of a zero block + a constant -0.75 block decode wrongly (e.g. %g, %g)",
              tt->name, bad, y[0], y[m - 1]);
    }
}

static void nan_and_inf_inputs_stay_inside_their_block(void)
{
    /* A row of [good block, block with NaN/inf/huge values, good block]:
     * quantizing must not crash (or hit undefined float->int casts under
     * UBSan), and the good blocks' bytes must equal those of quantizing
     * them alone: blocks are independent. Same for activation quantizers. */
    static float x[3 * 256];
    static uint8_t q[4096], q1[2048];
    slm_type all[SLM_TYPE_COUNT];
    int n = all_types(all);
    const slm_kernels *k = slm_kernels_scalar();
    for (int i = 0; i < n; i++) {
        const slm_type_traits *tt = slm_type_traits_get(all[i]);
        const int64_t bs = tt->block_size == 1 ? 32 : tt->block_size;
        for (int64_t j = 0; j < 3 * bs; j++) x[j] = rng_gauss();
        x[bs + 0] = NAN; x[bs + 1] = INFINITY; x[bs + 2] = -INFINITY; x[bs + 3] = 3e38f; x[bs + 5] = -NAN;
        const size_t bb = slm_type_row_size(all[i], bs);
        /* pass 0: reference quantizer; 1: scalar activation quantizer;
         * 2: the active table's (its good blocks must equal scalar's). */
        for (int pass = 0; pass < 3; pass++) {
            const slm_kernels *kk = pass == 2 ? slm_kernels_get() : k;
            if (pass > 0 && !kk->quant_act[all[i]]) continue;
            const char *what = pass == 0 ? "reference" : pass == 1 ? "scalar activation" : kk->isa;
            for (int blk = 0; blk < 3; blk += 2) {
                if (pass == 0) {
                    tt->from_float_ref(x, q, 3 * bs);
                    tt->from_float_ref(x + blk * bs, q1, bs);
                } else {
                    kk->quant_act[all[i]](x, q, 3 * bs);
                    k->quant_act[all[i]](x + blk * bs, q1, bs);
                }
                CHECK(memcmp(q + blk * bb, q1, bb) == 0, "%s %s quantizer: a NaN block changed block %d",
                      tt->name, what, blk);
            }
        }
        if (tt->quantize) {
            float imat[768];
            for (int j = 0; j < 768; j++) imat[j] = 1.0f + (float)(j % 3);
            tt->quantize(x, q, 1, 3 * bs, tt->is_quantized ? imat : NULL);
        }
    }
}

static void legacy_reference_quantizers_round_as_ggml(void)
{
    /* Q4_0: x_j = j - 16. The largest magnitude is x_0 = -16, so
     * d = -16 / -8 = 2, q_j = min(15, trunc((j - 16) / 2 + 8.5)). */
    float x[32];
    slm_block_q4_0 b4;
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16);
    slm_type_traits_get(SLM_TYPE_Q4_0)->from_float_ref(x, &b4, 32);
    CHECK(b4.d == 0x4000, "Q4_0 d = 0x%04x, expected 0x4000 (2.0)", b4.d);
    int bad = 0;
    for (int j = 0; j < 32; j++) {
        int expect = (int)((float)(j - 16) / 2 + 8.5f);
        if (expect > 15) expect = 15;
        int got = j < 16 ? (b4.qs[j] & 15) : (b4.qs[j - 16] >> 4);
        if (got != expect) bad++;
    }
    CHECK(bad == 0, "Q4_0: %d codes differ", bad);

    /* Q8_0 reference: amax 127 -> d = 1, q = roundf(x): halves go away from zero. */
    slm_block_q8_0 b8;
    for (int j = 0; j < 32; j++) x[j] = 0.0f;
    x[0] = 127.0f; x[1] = 2.5f; x[2] = -2.5f; x[3] = 3.5f; x[4] = 0.49f;
    slm_type_traits_get(SLM_TYPE_Q8_0)->from_float_ref(x, &b8, 32);
    CHECK(b8.d == 0x3C00, "Q8_0 d = 0x%04x", b8.d);
    CHECK(b8.qs[0] == 127 && b8.qs[1] == 3 && b8.qs[2] == -3 && b8.qs[3] == 4 && b8.qs[4] == 0,
          "Q8_0 ref codes %d %d %d %d %d, expected 127 3 -3 4 0", b8.qs[0], b8.qs[1], b8.qs[2], b8.qs[3], b8.qs[4]);
}

/* ---- quantize (the llama-quantize entry point) ---- */

static void quantize_without_imatrix_is_the_reference_per_row(void)
{
    static float x[MAX_N];
    static uint8_t q1[MAX_BYTES], q2[MAX_BYTES];
    slm_type all[SLM_TYPE_COUNT];
    int n = all_types(all);
    for (int i = 0; i < n; i++) {
        const slm_type_traits *tt = slm_type_traits_get(all[i]);
        if (!tt->quantize) continue;
        /* llama.cpp's IQ4_NL quantize searches 15 scales; its _ref does not. */
        if (all[i] == SLM_TYPE_IQ4_NL) continue;
        const int64_t per_row = tt->block_size == 1 ? 256 : 2 * tt->block_size, rows = 3;
        for (int64_t j = 0; j < rows * per_row; j++) x[j] = rng_gauss() * (j < per_row ? 0.01f : 1.0f);
        size_t row = slm_type_row_size(all[i], per_row);
        for (int64_t r = 0; r < rows; r++) tt->from_float_ref(x + r * per_row, q1 + r * row, per_row);
        size_t got = tt->quantize(x, q2, rows, per_row, NULL);
        CHECK(got == rows * row, "%s: quantize returned %zu bytes, expected %zu", tt->name, got, rows * row);
        CHECK(memcmp(q1, q2, rows * row) == 0, "%s: quantize(imatrix NULL) differs from the reference", tt->name);
    }
}

static void imatrix_lowers_the_error_where_it_weighs(void)
{
    /* An importance matrix of 100 on every 4th column and 1 elsewhere must
     * lower the error on the important columns relative to no imatrix:
     * that is what the weighted fits are for. Averaged over 8 rows. */
    static float x[MAX_N], y[MAX_N], imat[1024];
    static uint8_t q[MAX_BYTES];
    slm_type all[SLM_TYPE_COUNT];
    int n = all_types(all);
    for (int i = 0; i < n; i++) {
        const slm_type_traits *tt = slm_type_traits_get(all[i]);
        if (!tt->quantize || !tt->is_quantized || all[i] == SLM_TYPE_Q8_0) continue; /* Q8_0 ignores it */
        const int64_t per_row = 512, rows = 8;
        for (int64_t j = 0; j < per_row; j++) imat[j] = j % 4 == 0 ? 100.0f : 1.0f;
        for (int64_t j = 0; j < rows * per_row; j++) x[j] = rng_gauss();
        double err[2] = { 0, 0 };
        for (int with = 0; with < 2; with++) {
            size_t bytes = tt->quantize(x, q, rows, per_row, with ? imat : NULL);
            CHECK(bytes == (size_t)rows * slm_type_row_size(all[i], per_row), "%s: %zu bytes", tt->name, bytes);
            tt->to_float(q, y, rows * per_row);
            for (int64_t j = 0; j < rows * per_row; j += 4) err[with] += ((double)x[j] - y[j]) * ((double)x[j] - y[j]);
        }
        CHECK(err[1] < err[0], "%s: important columns' squared error %.4g with imatrix, %.4g without", tt->name,
              err[1], err[0]);
    }
}

/* ---- activation quantizers ---- */

static void q8_0_activations_round_half_to_even(void)
{
    /* llama.cpp's x86 quantize_row_q8_0: id = 127 / amax, round to nearest
     * even (_mm256_round_ps). amax 127 -> id 1. */
    float x[64] = { 127.0f, 2.5f, -2.5f, 3.5f, 0.5f, -0.5f, 1.5f };
    slm_block_q8_0 b[2];
    slm_kernels_scalar()->quant_act[SLM_TYPE_Q8_0](x, b, 64);
    CHECK(b[0].d == 0x3C00, "d = 0x%04x, expected 1.0", b[0].d);
    CHECK(b[0].qs[1] == 2 && b[0].qs[2] == -2 && b[0].qs[3] == 4 && b[0].qs[4] == 0 && b[0].qs[5] == 0 &&
          b[0].qs[6] == 2, "codes %d %d %d %d %d %d, expected 2 -2 4 0 0 2", b[0].qs[1], b[0].qs[2], b[0].qs[3],
          b[0].qs[4], b[0].qs[5], b[0].qs[6]);
    CHECK(b[1].d == 0 && b[1].qs[0] == 0, "all-zero block: d 0x%04x q %d", b[1].d, b[1].qs[0]);

    /* Q8_1 adds s = d * sum(q) as fp16: here 1 * (127 + 2 - 2 + 4 + 2) = 133. */
    slm_block_q8_1 c[2];
    slm_kernels_scalar()->quant_act[SLM_TYPE_Q8_1](x, c, 64);
    CHECK(slm_fp16_to_fp32(c[0].s) == 133.0f, "Q8_1 s = %g, expected 133", slm_fp16_to_fp32(c[0].s));
    CHECK(memcmp(c[0].qs, b[0].qs, 32) == 0, "Q8_1 codes differ from Q8_0's");
}

static void q8_k_activations_scale_by_the_signed_extreme(void)
{
    /* Largest magnitude is +127 at element 0 -> iscale = -127/127 = -1,
     * q = round_half_even(-x), d = 1 / iscale = -1. */
    float x[256] = { 127.0f, 2.5f, -3.5f, 0.5f, 1.5f, -126.0f };
    slm_block_q8_K b;
    slm_kernels_scalar()->quant_act[SLM_TYPE_Q8_K](x, &b, 256);
    CHECK(b.d == -1.0f, "d = %g, expected -1", b.d);
    CHECK(b.qs[0] == -127 && b.qs[1] == -2 && b.qs[2] == 4 && b.qs[3] == 0 && b.qs[4] == -2 && b.qs[5] == 126,
          "codes %d %d %d %d %d %d", b.qs[0], b.qs[1], b.qs[2], b.qs[3], b.qs[4], b.qs[5]);
    CHECK(b.bsums[0] == -127 - 2 + 4 + 0 - 2 + 126 && b.bsums[1] == 0, "bsums %d %d", b.bsums[0], b.bsums[1]);
    float z[256] = { 0 };
    slm_kernels_scalar()->quant_act[SLM_TYPE_Q8_K](z, &b, 256);
    CHECK(b.d == 0.0f && b.qs[0] == 0 && b.bsums[0] == 0, "zero block: d %g", b.d);
}

/* ---- dot products ---- */

/* Expected dot in double from the dequantized weight and activation rows.
 * Q8_1 activations carry s = fp16(d * sum q); llama.cpp uses s for the
 * weight's min term, so the oracle does too. */
static double oracle_dot(slm_type at, const float *w, const float *a, const void *act, int64_t n,
                         const void *wq, slm_type wt, double *abs_sum)
{
    double s = 0, as = 0;
    for (int64_t i = 0; i < n; i++) {
        s += (double)w[i] * a[i];
        as += fabs((double)w[i] * a[i]);
    }
    if (at == SLM_TYPE_Q8_1) {
        const slm_block_q8_1 *y = act;
        for (int64_t b = 0; b < n / 32; b++) {
            double sum_q = 0, m;
            for (int j = 0; j < 32; j++) sum_q += y[b].qs[j];
            m = wt == SLM_TYPE_Q4_1 ? slm_fp16_to_fp32(((const slm_block_q4_1 *)wq)[b].m)
                                    : slm_fp16_to_fp32(((const slm_block_q5_1 *)wq)[b].m);
            double corr = m * ((double)slm_fp16_to_fp32(y[b].s) - slm_fp16_to_fp32(y[b].d) * sum_q);
            s += corr;
            as += fabs(corr);
        }
    }
    *abs_sum = as;
    return s;
}

static void check_dots(const slm_kernels *k, const char *what)
{
    static float x[MAX_N], a[MAX_N], wd[MAX_N], ad[MAX_N];
    static uint8_t wq[MAX_BYTES], aq[MAX_BYTES];
    slm_type all[SLM_TYPE_COUNT];
    int n = all_types(all);
    for (int i = 0; i < n; i++) {
        const slm_type_traits *tt = slm_type_traits_get(all[i]);
        if (!k->vec_dot[all[i]]) continue;
        const slm_type at = tt->vec_dot_type;
        const slm_type_traits *att = slm_type_traits_get(at);
        const int64_t bs = tt->block_size > att->block_size ? tt->block_size : att->block_size;
        const int64_t counts[3] = { bs, 7 * bs, 16 * bs > MAX_N ? MAX_N : 16 * bs };
        for (int c = 0; c < 3; c++) {
            const int64_t m = counts[c];
            for (int64_t j = 0; j < m; j++) {
                x[j] = rng_gauss() * 0.1f;
                a[j] = rng_gauss() + (j % 5 == 0 ? 2.0f : 0.0f);
            }
            tt->from_float_ref(x, wq, m);
            tt->to_float(wq, wd, m);
            k->quant_act[at](a, aq, m);
            att->to_float(aq, ad, m);
            double abs_sum;
            double expect = oracle_dot(at, wd, ad, aq, m, wq, all[i], &abs_sum);
            float got = NAN;
            k->vec_dot[all[i]](m, &got, wq, aq);
            CHECK(fabs(got - expect) <= 1e-5 * abs_sum + 1e-30, "%s %s dot (%lld values): %.9g, expected %.9g (|sum| %.3g)",
                  what, tt->name, (long long)m, got, expect, abs_sum);
        }
    }
}

static void scalar_dots_match_double_dot_of_dequantized_rows(void) { check_dots(slm_kernels_scalar(), "scalar"); }

static void active_kernels_agree_with_scalar_on_every_type(void)
{
    const slm_kernels *k = slm_kernels_get(), *s = slm_kernels_scalar();
    printf("     (active kernel set: %s)\n", k->isa);
    check_dots(k, k->isa);
    /* Activation quantizers must be bit-identical to scalar: they define
     * the numbers llama.cpp's references contain. */
    static float a[MAX_N];
    static uint8_t q1[MAX_BYTES], q2[MAX_BYTES];
    for (int t = 0; t < SLM_TYPE_COUNT; t++) {
        if (!s->quant_act[t]) continue;
        CHECK(k->quant_act[t] != NULL, "type %d: active table lost its activation quantizer", t);
        if (!k->quant_act[t]) continue;
        const int64_t m = 1024;
        for (int64_t j = 0; j < m; j++) a[j] = rng_gauss() * (j % 97 == 0 ? 20.0f : 1.0f);
        a[5] = 0.5f; a[6] = -2.5f; /* exact ties */
        size_t bytes = slm_type_row_size((slm_type)t, m);
        s->quant_act[t](a, q1, m);
        k->quant_act[t](a, q2, m);
        CHECK(memcmp(q1, q2, bytes) == 0, "%s: %s activation quantizer differs from scalar",
              slm_type_name((slm_type)t), k->isa);
    }
}

/* ---- dispatch and CPU features ---- */

static const char *self_path;

/* The ISA a child process of this test picks with SLM_ISA=value. */
static void isa_with_env(const char *value, char *out, size_t cap)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "SLM_ISA=%s '%s' --print-isa", value, self_path);
    out[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p) return;
    if (!fgets(out, (int)cap, p)) out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    if (pclose(p) != 0) out[0] = '\0';
}

static void slm_isa_scalar_forces_the_scalar_table(void)
{
    char isa[64];
    isa_with_env("scalar", isa, sizeof isa);
    CHECK(strcmp(isa, "scalar") == 0, "SLM_ISA=scalar gave '%s'", isa);
    CHECK(strcmp(slm_kernels_scalar()->isa, "scalar") == 0, "scalar table says %s", slm_kernels_scalar()->isa);
    /* An unknown value is ignored: the same level as with an empty one. */
    char dflt[64];
    isa_with_env("", dflt, sizeof dflt);
    isa_with_env("bogus", isa, sizeof isa);
    CHECK(dflt[0] && strcmp(isa, dflt) == 0, "SLM_ISA=bogus gave '%s', default is '%s'", isa, dflt);
    /* avx2 is a cap, not a request: never above what the CPU has. */
    isa_with_env("avx2", isa, sizeof isa);
    const slm_cpu_features *f = slm_cpu_get();
    const char *expect = f->avx2 && f->fma && f->f16c && f->bmi2 ? "avx2" : "scalar";
    CHECK(strcmp(isa, expect) == 0, "SLM_ISA=avx2 gave '%s', expected '%s'", isa, expect);
}

static int cpuinfo_has(const char *flags, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = flags; (p = strstr(p, name)) != NULL; p += n)
        if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0')) return 1;
    return 0;
}

static void cpu_features_agree_with_proc_cpuinfo(void)
{
    const slm_cpu_features *f = slm_cpu_get();
    CHECK(f == slm_cpu_get(), "slm_cpu_get returns different pointers");
    FILE *fp = fopen("/proc/cpuinfo", "r");
    if (!fp) {
        printf("     (no /proc/cpuinfo: checking implications only)\n");
    } else {
        static char line[8192];
        int found = 0;
        while (fgets(line, sizeof line, fp))
            if (strncmp(line, "flags", 5) == 0) { found = 1; break; }
        fclose(fp);
        if (found && strstr(line, "sse2")) { /* an x86 Linux kernel's flag list */
            struct { const char *name; int have; } m[] = {
                { "avx2", f->avx2 }, { "fma", f->fma }, { "f16c", f->f16c }, { "bmi2", f->bmi2 },
                { "avx512f", f->avx512f }, { "avx512bw", f->avx512bw }, { "avx512vl", f->avx512vl },
                { "avx512dq", f->avx512dq }, { "avx512_vnni", f->avx512vnni },
                { "avx512_bf16", f->avx512bf16 }, { "avx_vnni", f->avx_vnni },
            };
            for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
                CHECK(cpuinfo_has(line, m[i].name) == m[i].have, "%s: cpuinfo %d, slm %d", m[i].name,
                      cpuinfo_has(line, m[i].name), m[i].have);
        }
    }
    CHECK(!f->avx512bw || f->avx512f, "avx512bw without avx512f");
    CHECK(!f->avx512vl || f->avx512f, "avx512vl without avx512f");
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--print-isa") == 0) {
        printf("%s\n", slm_kernels_get()->isa);
        return 0;
    }
    self_path = argv[0];
    RUN(fp16_converts_special_values_like_f16c);
    RUN(fp16_to_fp32_is_exact_and_round_trips);
    RUN(fp32_to_fp16_rounds_to_nearest_even_everywhere);
    RUN(bf16_rounds_to_nearest_even_and_keeps_nan_quiet);
    RUN(row_size_is_blocks_times_block_bytes);
    RUN(vec_dot_types_match_llama_cpp_cpu_backend);
    RUN(type_names_parse_case_insensitively);
    RUN(hand_built_blocks_dequantize_to_their_defined_values);
    RUN(q4_0_block_decodes_by_hand);
    RUN(every_type_round_trips_within_its_error_bound);
    RUN(reference_quantizers_handle_zero_and_constant_blocks);
    RUN(nan_and_inf_inputs_stay_inside_their_block);
    RUN(legacy_reference_quantizers_round_as_ggml);
    RUN(quantize_without_imatrix_is_the_reference_per_row);
    RUN(imatrix_lowers_the_error_where_it_weighs);
    RUN(q8_0_activations_round_half_to_even);
    RUN(q8_k_activations_scale_by_the_signed_extreme);
    RUN(scalar_dots_match_double_dot_of_dequantized_rows);
    RUN(active_kernels_agree_with_scalar_on_every_type);
    RUN(slm_isa_scalar_forces_the_scalar_table);
    RUN(cpu_features_agree_with_proc_cpuinfo);
    return harness_finish();
}
