/* test_compress.c — the quantizer on generated models (no ../shared needed):
 * every type llama-quantize offers turns a random F32 model into a file that
 * loads and decodes; bad input gives the right status and no output file;
 * the legacy imatrix format round-trips and changes what the k-quants do;
 * the mix rules give llama.cpp's layer pattern and row-length fallbacks.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compress/imatrix.h"
#include "gguf/gguf.h"
#include "harness.h"
#include "quant/mix.h"
#include "quant/types.h"
#include "slm.h"

static char dir_buf[512];

static const char *tmp(const char *tag)
{
    static char bufs[8][600];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", dir_buf, tag);
    return b;
}

static int file_exists(const char *p) { return access(p, F_OK) == 0; }

/* A tiny random F32 llama; n_ff 160 gives rows of 160 (not a multiple of
 * 256) in ffn_down, so the k-quant fallbacks are exercised. */
static const char *model_f32(int odd_ff)
{
    const char *path = tmp(odd_ff ? "odd-F32.gguf" : "tiny-F32.gguf");
    if (file_exists(path)) return path;
    slm_gen_params g = slm_gen_default_params();
    if (odd_ff) {
        g.shape = NULL;
        g.arch = "llama";
        g.n_embd = 256, g.n_layer = 2, g.n_head = 4, g.n_head_kv = 1, g.n_ff = 160, g.n_vocab = 400, g.n_ctx = 64;
    } else {
        g.shape = "tiny";
    }
    g.type = SLM_TYPE_F32;
    g.n_threads = 2;
    if (slm_gen_model(&g, path) != SLM_OK) return NULL;
    return path;
}

static int decode_ok(const char *path, const char *what)
{
    slm_model *m = NULL;
    slm_session *s = NULL;
    slm_model_params mp = slm_model_default_params();
    slm_session_params sp = slm_session_default_params();
    sp.n_ctx = 32;
    sp.n_threads = 1;
    const float *logits = NULL;
    int32_t ids[4] = {1, 20, 30, 40};
    int ok = slm_model_load(path, &mp, &m) == SLM_OK && slm_session_new(m, &sp, &s) == SLM_OK &&
             slm_session_decode(s, ids, 4, &logits) == SLM_OK && logits != NULL;
    CHECK(ok, "%s: load/decode: %s", what, slm_last_error());
    if (ok) {
        int finite = 1;
        for (int32_t v = 0; v < slm_model_n_vocab(m); v++) finite &= isfinite(logits[v]) != 0;
        CHECK(finite, "%s: non-finite logits", what);
        ok = finite;
    }
    slm_session_free(s);
    slm_model_free(m);
    return ok;
}

static void every_type_quantizes_loads_and_decodes(void)
{
    const char *in[2] = {model_f32(0), model_f32(1)};
    REQUIRE(in[0] && in[1], "gen: %s", slm_last_error());
    const char *out = tmp("every.gguf");
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < slm_mix_count(); i++) {
            const slm_mix *mix = slm_mix_at(i);
            if (!strcmp(mix->name, "Q2_K_S")) continue; /* needs an imatrix: tested below */
            slm_quantize_params p = slm_quantize_default_params();
            slm_quantize_stats stats;
            p.type = mix->name;
            p.n_threads = 2;
            p.stats = &stats;
            slm_status st = slm_quantize(in[k], out, &p);
            CHECK(st == SLM_OK, "%s (%s): %s", mix->name, k ? "n_ff 160" : "tiny", slm_last_error());
            if (st != SLM_OK) continue;
            char what[64];
            snprintf(what, sizeof what, "%s/%s", mix->name, k ? "n_ff 160" : "tiny");
            decode_ok(out, what);
            slm_gguf *g = NULL;
            REQUIRE(slm_gguf_open(out, 1, &g) == SLM_OK, "%s", slm_last_error());
            uint32_t ft = 0;
            CHECK(slm_gguf_get_u32(g, "general.file_type", &ft) == SLM_OK && ft == mix->file_type,
                  "%s: file_type %u, expected %u", mix->name, ft, mix->file_type);
            /* rows of 160 cannot be k-quants: every matrix type must divide its rows */
            for (int64_t t = 0; t < slm_gguf_n_tensors(g); t++) {
                const slm_gguf_tensor *tt = slm_gguf_tensor_at(g, t);
                CHECK(tt->ne[0] % slm_type_traits_get(tt->type)->block_size == 0, "%s: %s", what, tt->name);
                if (strstr(tt->name, "norm")) CHECK(tt->type == SLM_TYPE_F32, "%s: %s is %s", what, tt->name,
                                                    slm_type_name(tt->type));
            }
            CHECK(k == 0 || mix->base == SLM_TYPE_F32 || !slm_type_traits_get(mix->base)->is_quantized ||
                      slm_type_traits_get(mix->base)->block_size == 32 || stats.n_fallback > 0,
                  "%s: rows of 160 gave no fallback", mix->name);
            slm_gguf_close(g);
        }
    }
    remove(out);
}

static void unknown_type_is_an_argument_error_and_writes_nothing(void)
{
    const char *in = model_f32(0), *out = tmp("unknown.gguf");
    REQUIRE(in, "gen");
    remove(out);
    slm_quantize_params p = slm_quantize_default_params();
    p.type = "Q7_K";
    CHECK(slm_quantize(in, out, &p) == SLM_ERR_ARG, "status");
    CHECK(strstr(slm_last_error(), "Q7_K") && strstr(slm_last_error(), "Q4_K_M"), "message: %s", slm_last_error());
    CHECK(!file_exists(out), "output written");
}

static void truncated_input_is_a_format_error_and_writes_nothing(void)
{
    const char *in = model_f32(0), *cut = tmp("cut.gguf"), *out = tmp("cut-out.gguf");
    REQUIRE(in, "gen");
    size_t n = 0;
    char *buf = harness_read_file(in, &n);
    REQUIRE(buf && n > 1000, "read");
    FILE *f = fopen(cut, "wb");
    REQUIRE(f, "create");
    fwrite(buf, 1, n - 1000, f);
    fclose(f);
    free(buf);
    remove(out);
    slm_quantize_params p = slm_quantize_default_params();
    slm_status st = slm_quantize(cut, out, &p);
    CHECK(st == SLM_ERR_FORMAT, "status %s: %s", slm_status_name(st), slm_last_error());
    CHECK(!file_exists(out), "output written");
    CHECK(slm_quantize(tmp("missing.gguf"), out, &p) == SLM_ERR_IO, "missing input: %s", slm_last_error());
    remove(cut);
}

static void requantizing_a_quantized_model_works(void)
{
    const char *in = model_f32(0), *q8 = tmp("rq8.gguf"), *q4 = tmp("rq4.gguf");
    REQUIRE(in, "gen");
    slm_quantize_params p = slm_quantize_default_params();
    p.type = "Q8_0";
    REQUIRE(slm_quantize(in, q8, &p) == SLM_OK, "%s", slm_last_error());
    p.type = "Q4_K_M";
    CHECK(slm_quantize(q8, q4, &p) == SLM_OK, "%s", slm_last_error());
    decode_ok(q4, "Q8_0 -> Q4_K_M");
    remove(q8);
    remove(q4);
}

/* An imatrix made by hand (one entry per matrix, strongly uneven weights). */
static slm_imatrix *make_imatrix(const char *model)
{
    slm_gguf *g = NULL;
    if (slm_gguf_open(model, 1, &g) != SLM_OK) return NULL;
    slm_imatrix *m = calloc(1, sizeof *m);
    m->e = calloc((size_t)slm_gguf_n_tensors(g), sizeof *m->e);
    for (int64_t i = 0; i < slm_gguf_n_tensors(g); i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(g, i);
        if (t->n_dims < 2 || strstr(t->name, "token_embd")) continue;
        slm_imatrix_entry *e = &m->e[m->n_entries++];
        e->name = strdup(t->name);
        e->n = t->ne[0];
        e->ncall = 7;
        e->values = malloc((size_t)e->n * sizeof(float));
        for (int64_t j = 0; j < e->n; j++) e->values[j] = (j % 5 == 0) ? 100.0f : 0.01f * (float)(1 + j % 3);
    }
    m->last_chunk = 7;
    m->dataset = strdup("made-up.txt");
    slm_gguf_close(g);
    return m;
}

static void free_imatrix(slm_imatrix *m)
{
    for (int i = 0; i < m->n_entries; i++) {
        free(m->e[i].name);
        free(m->e[i].values);
    }
    free(m->e);
    free(m->dataset);
    free(m);
}

static void imatrix_file_round_trips_and_weights_the_k_quants(void)
{
    const char *in = model_f32(0), *dat = tmp("im.dat"), *a = tmp("im-a.gguf"), *b = tmp("im-b.gguf");
    REQUIRE(in, "gen");
    slm_imatrix *m = make_imatrix(in);
    REQUIRE(m && m->n_entries > 0, "imatrix");
    REQUIRE(slm_imatrix_write(m, dat) == SLM_OK, "%s", slm_last_error());
    slm_imatrix *r = NULL;
    REQUIRE(slm_imatrix_read(dat, &r) == SLM_OK, "%s", slm_last_error());
    CHECK(r->n_entries == m->n_entries && r->last_chunk == 7 && r->dataset && !strcmp(r->dataset, "made-up.txt"),
          "header");
    for (int i = 0; i < m->n_entries && i < r->n_entries; i++) {
        CHECK(!strcmp(r->e[i].name, m->e[i].name) && r->e[i].n == m->e[i].n && r->e[i].ncall == 7, "entry %d", i);
        for (int64_t j = 0; j < m->e[i].n; j++)
            if (fabsf(r->e[i].values[j] - m->e[i].values[j]) > 1e-6f * m->e[i].values[j]) {
                CHECK(0, "entry %d value %lld: %g vs %g", i, (long long)j, r->e[i].values[j], m->e[i].values[j]);
                break;
            }
    }
    slm_imatrix_free(r);

    /* with the imatrix, Q4_K matrices differ; without, they equal the plain run */
    slm_quantize_params p = slm_quantize_default_params();
    slm_quantize_stats sa, sb;
    p.type = "Q4_K_S";
    p.stats = &sa;
    REQUIRE(slm_quantize(in, a, &p) == SLM_OK, "%s", slm_last_error());
    p.imatrix = dat;
    p.stats = &sb;
    REQUIRE(slm_quantize(in, b, &p) == SLM_OK, "%s", slm_last_error());
    CHECK(sa.n_imatrix == 0 && sb.n_imatrix == m->n_entries, "imatrix used on %d tensors, expected %d",
          sb.n_imatrix, m->n_entries);
    slm_gguf *ga = NULL, *gb = NULL;
    REQUIRE(slm_gguf_open(a, 1, &ga) == SLM_OK && slm_gguf_open(b, 1, &gb) == SLM_OK, "open");
    const slm_gguf_tensor *ta = slm_gguf_find_tensor(ga, "blk.1.attn_q.weight");
    const slm_gguf_tensor *tb = slm_gguf_find_tensor(gb, "blk.1.attn_q.weight");
    REQUIRE(ta && tb && ta->type == SLM_TYPE_Q4_K && tb->type == SLM_TYPE_Q4_K, "types");
    CHECK(memcmp(ta->data, tb->data, ta->nbytes) != 0, "imatrix did not change the Q4_K blocks");
    /* the weighted error on the heavy columns is lower with the imatrix */
    int64_t n = ta->ne[0] * ta->ne[1];
    float *x = malloc((size_t)n * 4), *ya = malloc((size_t)n * 4), *yb = malloc((size_t)n * 4);
    slm_gguf *gi = NULL;
    REQUIRE(slm_gguf_open(in, 1, &gi) == SLM_OK, "open in");
    memcpy(x, slm_gguf_find_tensor(gi, "blk.1.attn_q.weight")->data, (size_t)n * 4);
    slm_type_traits_get(SLM_TYPE_Q4_K)->to_float(ta->data, ya, n);
    slm_type_traits_get(SLM_TYPE_Q4_K)->to_float(tb->data, yb, n);
    double ea = 0, eb = 0;
    for (int64_t i = 0; i < n; i++) {
        double w = (i % ta->ne[0]) % 5 == 0 ? 100.0 : 0.01 * (double)(1 + (i % ta->ne[0]) % 3);
        ea += w * (x[i] - ya[i]) * (x[i] - ya[i]);
        eb += w * (x[i] - yb[i]) * (x[i] - yb[i]);
    }
    CHECK(eb < ea, "weighted error with imatrix %.4g, without %.4g", eb, ea);
    free(x), free(ya), free(yb);
    slm_gguf_close(gi);
    slm_gguf_close(ga);
    slm_gguf_close(gb);

    /* Q2_K_S refuses to run without one, runs with one */
    p.type = "Q2_K_S";
    p.imatrix = NULL;
    CHECK(slm_quantize(in, a, &p) == SLM_ERR_ARG, "Q2_K_S without imatrix");
    p.imatrix = dat;
    CHECK(slm_quantize(in, a, &p) == SLM_OK, "Q2_K_S: %s", slm_last_error());
    free_imatrix(m);
    remove(a);
    remove(b);
    remove(dat);
}

static void imatrix_of_the_wrong_size_or_truncated_is_rejected(void)
{
    const char *in = model_f32(0), *dat = tmp("bad.dat"), *out = tmp("bad.gguf");
    REQUIRE(in, "gen");
    slm_imatrix *m = make_imatrix(in);
    REQUIRE(m, "imatrix");
    m->e[0].n -= 32; /* one entry 32 columns short */
    REQUIRE(slm_imatrix_write(m, dat) == SLM_OK, "%s", slm_last_error());
    slm_quantize_params p = slm_quantize_default_params();
    p.imatrix = dat;
    CHECK(slm_quantize(in, out, &p) == SLM_ERR_FORMAT, "wrong size: %s", slm_last_error());
    m->e[0].n += 32;
    REQUIRE(slm_imatrix_write(m, dat) == SLM_OK, "%s", slm_last_error());
    size_t n = 0;
    char *buf = harness_read_file(dat, &n);
    for (size_t cut = 0; cut + 40 < n; cut += 37) { /* every prefix that ends inside an entry */
        FILE *f = fopen(dat, "wb");
        fwrite(buf, 1, cut, f);
        fclose(f);
        slm_imatrix *r = NULL;
        slm_status st = slm_imatrix_read(dat, &r);
        CHECK(st == SLM_ERR_FORMAT && r == NULL, "prefix %zu: %s", cut, slm_status_name(st));
        slm_imatrix_free(r);
    }
    free(buf);
    free_imatrix(m);
    remove(dat);
}

static slm_type ty(const char *mixname, const slm_mix_model *mm, const char *name, int64_t ne0)
{
    return slm_mix_tensor_type(slm_mix_find(mixname), mm, NULL, name, 2, SLM_TYPE_F32, ne0, NULL);
}

static void mix_rules_follow_llama_quantize(void)
{
    slm_mix_model mm = {32, 32, 4, 0, 0, 0, 0};
    /* Q4_K_M: attn_v/ffn_down get Q6_K on layers i < 4, i >= 28, (i - 4) % 3 == 2 */
    char name[64];
    for (int i = 0; i < 32; i++) {
        int more = i < 4 || i >= 28 || (i - 4) % 3 == 2;
        snprintf(name, sizeof name, "blk.%d.attn_v.weight", i);
        CHECK(ty("Q4_K_M", &mm, name, 4096) == (more ? SLM_TYPE_Q6_K : SLM_TYPE_Q4_K), "%s", name);
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", i);
        CHECK(ty("Q4_K_M", &mm, name, 4096) == (more ? SLM_TYPE_Q6_K : SLM_TYPE_Q4_K), "%s", name);
        snprintf(name, sizeof name, "blk.%d.attn_q.weight", i);
        CHECK(ty("Q4_K_M", &mm, name, 4096) == SLM_TYPE_Q4_K, "%s", name);
    }
    CHECK(ty("Q4_K_M", &mm, "output.weight", 4096) == SLM_TYPE_Q6_K, "output");
    CHECK(ty("Q4_K_M", &mm, "token_embd.weight", 4096) == SLM_TYPE_Q4_K, "embd");
    CHECK(ty("Q8_0", &mm, "output.weight", 4096) == SLM_TYPE_Q8_0, "Q8_0 output stays Q8_0");
    CHECK(ty("Q4_0", &mm, "output.weight", 4096) == SLM_TYPE_Q6_K, "Q4_0 output");
    CHECK(ty("Q4_0", &mm, "output.weight", 96) == SLM_TYPE_Q8_0, "Q4_0 output of 96 columns");
    mm.tied = 1;
    CHECK(ty("Q4_0", &mm, "token_embd.weight", 4096) == SLM_TYPE_Q6_K, "tied embd is the output head");
    /* Q3_K_M: attn_v Q5_K on layers 0-1, Q4_K after; attn_output Q4_K; ffn_down Q5_K below n/16 */
    CHECK(ty("Q3_K_M", &mm, "blk.1.attn_v.weight", 4096) == SLM_TYPE_Q5_K, "q3km v1");
    CHECK(ty("Q3_K_M", &mm, "blk.2.attn_v.weight", 4096) == SLM_TYPE_Q4_K, "q3km v2");
    CHECK(ty("Q3_K_M", &mm, "blk.9.attn_output.weight", 4096) == SLM_TYPE_Q4_K, "q3km o");
    CHECK(ty("Q3_K_M", &mm, "blk.1.ffn_down.weight", 4096) == SLM_TYPE_Q5_K, "q3km down1");
    CHECK(ty("Q3_K_M", &mm, "blk.2.ffn_down.weight", 4096) == SLM_TYPE_Q4_K, "q3km down2");
    CHECK(ty("Q3_K_S", &mm, "blk.2.ffn_down.weight", 4096) == SLM_TYPE_Q3_K, "q3ks");
    CHECK(ty("Q2_K", &mm, "blk.2.attn_v.weight", 4096) == SLM_TYPE_Q4_K, "q2k v with gqa 4");
    CHECK(ty("IQ4_XS", &mm, "blk.2.attn_v.weight", 4096) == SLM_TYPE_Q5_K, "iq4xs v with gqa 4");
    /* fallbacks for rows that are not multiples of 256 */
    CHECK(ty("Q4_K_S", &mm, "blk.9.ffn_down.weight", 172) == SLM_TYPE_F16, "172: Q5_0 does not fit either");
    CHECK(ty("Q4_0", &mm, "blk.9.ffn_down.weight", 172) == SLM_TYPE_F16, "172: F16 (llama.cpp refuses)");
    CHECK(ty("Q4_K_S", &mm, "blk.9.ffn_down.weight", 160) == SLM_TYPE_Q5_0, "Q4_K -> Q5_0");
    CHECK(ty("Q5_K_S", &mm, "blk.9.ffn_down.weight", 160) == SLM_TYPE_Q5_1, "Q5_K -> Q5_1");
    CHECK(ty("Q6_K", &mm, "blk.9.ffn_down.weight", 160) == SLM_TYPE_Q8_0, "Q6_K -> Q8_0");
    CHECK(ty("Q3_K_S", &mm, "blk.9.ffn_up.weight", 160) == SLM_TYPE_Q4_0, "Q3_K -> Q4_0");
    CHECK(ty("IQ4_XS", &mm, "blk.9.ffn_up.weight", 160) == SLM_TYPE_IQ4_NL, "IQ4_XS -> IQ4_NL");
    CHECK(ty("Q6_K", &mm, "blk.9.ffn_up.weight", 48) == SLM_TYPE_F16, "Q6_K on 48 -> F16");
    /* never quantized */
    CHECK(ty("Q4_0", &mm, "blk.0.attn_norm.weight", 4096) == SLM_TYPE_F32, "norm");
    CHECK(ty("Q4_0", &mm, "blk.0.ffn_gate_inp.weight", 4096) == SLM_TYPE_F32, "router");
    CHECK(slm_mix_tensor_type(slm_mix_find("Q4_0"), &mm, NULL, "blk.0.attn_q.bias", 1, SLM_TYPE_F32, 4096, NULL) ==
              SLM_TYPE_F32, "bias");
    CHECK(slm_mix_find("q4_k") == slm_mix_find("Q4_K_M") && slm_mix_find("Q7") == NULL, "names");
}

static void output_is_identical_for_any_thread_count_and_keeps_f16_head_on_request(void)
{
    const char *in = model_f32(0), *a = tmp("t1.gguf"), *b = tmp("t2.gguf");
    REQUIRE(in, "gen");
    slm_quantize_params p = slm_quantize_default_params();
    p.type = "Q4_K_M";
    p.n_threads = 1;
    REQUIRE(slm_quantize(in, a, &p) == SLM_OK, "%s", slm_last_error());
    p.n_threads = 3;
    REQUIRE(slm_quantize(in, b, &p) == SLM_OK, "%s", slm_last_error());
    size_t na = 0, nb = 0;
    char *x = harness_read_file(a, &na), *y = harness_read_file(b, &nb);
    CHECK(x && y && na == nb && memcmp(x, y, na) == 0, "1 and 3 threads give different files");
    free(x);
    free(y);
    p.keep_output_f16 = 1;
    REQUIRE(slm_quantize(in, b, &p) == SLM_OK, "%s", slm_last_error());
    slm_gguf *g = NULL;
    REQUIRE(slm_gguf_open(b, 1, &g) == SLM_OK, "%s", slm_last_error());
    const slm_gguf_tensor *o = slm_gguf_find_tensor(g, "output.weight");
    const slm_gguf_tensor *e = slm_gguf_find_tensor(g, "token_embd.weight");
    CHECK(o && o->type == SLM_TYPE_F16, "output %s", o ? slm_type_name(o->type) : "missing");
    CHECK(e && e->type == SLM_TYPE_Q4_K, "token_embd %s", e ? slm_type_name(e->type) : "missing");
    slm_gguf_close(g);
    decode_ok(b, "Q4_K_M --keep-output-f16");
    remove(a);
    remove(b);
}

int main(void)
{
    snprintf(dir_buf, sizeof dir_buf, "%s/test_compress_%d", SLM_BINARY_DIR, (int)getpid());
    char cmd[700];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir_buf);
    if (system(cmd) != 0) return 1;
    RUN(mix_rules_follow_llama_quantize);
    RUN(every_type_quantizes_loads_and_decodes);
    RUN(unknown_type_is_an_argument_error_and_writes_nothing);
    RUN(truncated_input_is_a_format_error_and_writes_nothing);
    RUN(requantizing_a_quantized_model_works);
    RUN(output_is_identical_for_any_thread_count_and_keeps_f16_head_on_request);
    RUN(imatrix_file_round_trips_and_weights_the_k_quants);
    RUN(imatrix_of_the_wrong_size_or_truncated_is_rejected);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir_buf);
    if (system(cmd) != 0) return 1;
    return harness_finish();
}
