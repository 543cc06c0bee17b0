/* test_random_model.c — slm_gen_model: generated files load and run in slm,
 * are byte-identical per seed whatever the thread count, hold weights with
 * the requested statistics, and pick tensor types like llama-quantize (the
 * Q4_K_M check compares with llama.cpp's own tiny-llama-Q4_K_M.gguf when
 * ../shared/testdata is present). */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "gguf/gguf.h"
#include "harness.h"
#include "quant/types.h"
#include "slm.h"

/* The generator's internals (llama3_rope_factors) are checked directly, so
 * this test compiles random_model.c itself (llama2.c's test.c pattern); the
 * library's copy is then never pulled from the static archive. */
#include "gen/random_model.c"

static char path_a[512], path_b[512];

static void set_paths(void)
{
    snprintf(path_a, sizeof path_a, "%s/test_random_model_a.gguf", SLM_BINARY_DIR);
    snprintf(path_b, sizeof path_b, "%s/test_random_model_b.gguf", SLM_BINARY_DIR);
}

static slm_gen_params custom(const char *arch, uint32_t e, uint32_t l, uint32_t h, uint32_t hkv, uint32_t ff,
                             uint32_t v)
{
    slm_gen_params p = slm_gen_default_params();
    p.arch = arch;
    p.n_embd = e;
    p.n_layer = l;
    p.n_head = h;
    p.n_head_kv = hkv;
    p.n_ff = ff;
    p.n_vocab = v;
    p.n_ctx = 128;
    p.n_threads = 2;
    return p;
}

static int gen(const slm_gen_params *p, const char *path)
{
    slm_status st = slm_gen_model(p, path);
    CHECK(st == SLM_OK, "slm_gen_model(%s): %s %s", path, slm_status_name(st), slm_last_error());
    return st == SLM_OK;
}

/* Load, decode a short prompt, check the logits are finite. */
static void check_runs(const char *path, const char *arch, int32_t n_vocab, int32_t n_layer)
{
    slm_model *m = NULL;
    slm_model_params mp = slm_model_default_params();
    slm_status st = slm_model_load(path, &mp, &m);
    REQUIRE(st == SLM_OK, "%s: load: %s %s", arch, slm_status_name(st), slm_last_error());
    CHECK(strcmp(slm_model_arch(m), arch) == 0, "arch '%s', expected '%s'", slm_model_arch(m), arch);
    CHECK(slm_model_n_vocab(m) == n_vocab, "%s: n_vocab %d, expected %d", arch, slm_model_n_vocab(m), n_vocab);
    CHECK(slm_model_n_layer(m) == n_layer, "%s: n_layer %d, expected %d", arch, slm_model_n_layer(m), n_layer);
    slm_session *s = NULL;
    slm_session_params sp = slm_session_default_params();
    sp.n_ctx = 64;
    sp.n_threads = 1;
    st = slm_session_new(m, &sp, &s);
    if (st == SLM_OK) {
        int32_t ids[4] = {1, 300, 301, 302};
        const float *logits = NULL;
        st = slm_session_decode(s, ids, 4, &logits);
        CHECK(st == SLM_OK && logits, "%s: decode: %s %s", arch, slm_status_name(st), slm_last_error());
        if (st == SLM_OK && logits) {
            int finite = 1;
            double sum2 = 0;
            for (int32_t i = 0; i < n_vocab; i++) {
                finite &= isfinite(logits[i]) != 0;
                sum2 += (double)logits[i] * logits[i];
            }
            CHECK(finite, "%s: non-finite logits", arch);
            CHECK(sum2 > 0, "%s: all-zero logits", arch);
        }
    } else {
        CHECK(0, "%s: session: %s %s", arch, slm_status_name(st), slm_last_error());
    }
    slm_session_free(s);
    slm_model_free(m);
}

static void tiny_shape_loads_and_decodes(void)
{
    slm_gen_params p = slm_gen_default_params();
    p.shape = "tiny";
    p.n_threads = 2;
    if (!gen(&p, path_a)) return;
    check_runs(path_a, "llama", 512, 2);
}

static void every_architecture_loads_and_decodes(void)
{
    static const char *const archs[] = {"llama", "qwen2", "qwen3", "gemma2", "phi3"};
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++) {
        slm_gen_params p = custom(archs[i], 128, 2, 4, 2, 256, 400);
        p.type = SLM_TYPE_Q8_0;
        if (!gen(&p, path_a)) continue;
        check_runs(path_a, archs[i], 400, 2);
    }
}

static int files_equal(const char *a, const char *b)
{
    size_t na, nb;
    void *da = harness_read_file(a, &na), *db = harness_read_file(b, &nb);
    int eq = da && db && na == nb && memcmp(da, db, na) == 0;
    free(da);
    free(db);
    return eq;
}

static void same_seed_gives_identical_files_whatever_the_thread_count(void)
{
    slm_gen_params p = custom("llama", 256, 2, 4, 2, 512, 600);
    p.type = SLM_TYPE_Q4_K;
    p.seed = 7;
    p.n_threads = 1;
    if (!gen(&p, path_a)) return;
    p.n_threads = 2;
    if (!gen(&p, path_b)) return;
    CHECK(files_equal(path_a, path_b), "seed 7 with 1 and 2 threads gave different files");
    p.seed = 8;
    if (!gen(&p, path_b)) return;
    CHECK(!files_equal(path_a, path_b), "seeds 7 and 8 gave the same file");
}

static void weights_have_std_0_02_and_norms_are_one(void)
{
    slm_gen_params p = custom("llama", 256, 1, 4, 2, 512, 512);
    p.type = SLM_TYPE_F32;
    if (!gen(&p, path_a)) return;
    slm_gguf *g = NULL;
    slm_status st = slm_gguf_open(path_a, 1, &g);
    REQUIRE(st == SLM_OK, "open: %s", slm_last_error());
    const slm_gguf_tensor *t = slm_gguf_find_tensor(g, "blk.0.ffn_up.weight");
    CHECK(t && t->type == SLM_TYPE_F32, "ffn_up missing or not F32");
    if (t && t->type == SLM_TYPE_F32) {
        int64_t n = t->ne[0] * t->ne[1];
        const float *x = t->data;
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < n; i++) {
            s += x[i];
            s2 += (double)x[i] * x[i];
        }
        double mean = s / n, sd = sqrt(s2 / n - mean * mean);
        CHECK(fabs(mean) < 0.001, "mean %g", mean);
        CHECK(fabs(sd - 0.02) < 0.0005, "std %g, expected 0.02", sd);
    }
    t = slm_gguf_find_tensor(g, "blk.0.attn_norm.weight");
    CHECK(t && t->type == SLM_TYPE_F32 && t->n_dims == 1 && t->ne[0] == 256, "attn_norm shape/type");
    if (t) {
        const float *x = t->data;
        int ones = 1;
        for (int64_t i = 0; i < t->ne[0]; i++) ones &= x[i] == 1.0f;
        CHECK(ones, "attn_norm is not all ones");
    }
    slm_gguf_close(g);
}

/* Compare our Q4_K_M choice, tensor by tensor, with a file llama-quantize wrote. */
static void q4_k_m_types_match_llama_quantize(void)
{
    char ref[512];
    snprintf(ref, sizeof ref, "%s/models/tiny-llama-Q4_K_M.gguf", SLM_TESTDATA_DIR);
    if (access(ref, R_OK) != 0) {
        printf("  (skipped: %s absent)\n", ref);
        return;
    }
    /* tiny-llama's shape: 256, 2 layers, 8 heads, 2 KV, ff 768, vocab 512, separate output */
    slm_gen_params p = custom("llama", 256, 2, 8, 2, 768, 512);
    p.mix = "Q4_K_M";
    if (!gen(&p, path_a)) return;
    slm_gguf *ours = NULL, *theirs = NULL;
    REQUIRE(slm_gguf_open(path_a, 1, &ours) == SLM_OK, "open ours: %s", slm_last_error());
    if (slm_gguf_open(ref, 1, &theirs) != SLM_OK) {
        CHECK(0, "open reference: %s", slm_last_error());
        slm_gguf_close(ours);
        return;
    }
    CHECK(slm_gguf_n_tensors(ours) == slm_gguf_n_tensors(theirs), "%lld tensors, reference %lld",
          (long long)slm_gguf_n_tensors(ours), (long long)slm_gguf_n_tensors(theirs));
    for (int64_t i = 0; i < slm_gguf_n_tensors(theirs); i++) {
        const slm_gguf_tensor *r = slm_gguf_tensor_at(theirs, i);
        const slm_gguf_tensor *o = slm_gguf_find_tensor(ours, r->name);
        CHECK(o != NULL, "tensor '%s' missing", r->name);
        if (!o) continue;
        CHECK(o->type == r->type, "'%s': %s, llama-quantize chose %s", r->name, slm_type_name(o->type),
              slm_type_name(r->type));
        CHECK(o->ne[0] == r->ne[0] && o->ne[1] == r->ne[1] && o->n_dims == r->n_dims, "'%s': shape differs",
              r->name);
    }
    slm_gguf_close(ours);
    slm_gguf_close(theirs);
}

/* rope_freqs.weight of tiny-llama-tied was written by llama.cpp's converter
 * logic with Llama-3 scaling (factor 32, low 1, high 4, original 8192) for
 * head dim 32 and freq_base 500000: our factors must equal it. */
static void llama3_rope_factors_match_the_reference_model(void)
{
    char ref[512];
    snprintf(ref, sizeof ref, "%s/models/tiny-llama-tied-F32.gguf", SLM_TESTDATA_DIR);
    if (access(ref, R_OK) != 0) {
        printf("  (skipped: %s absent)\n", ref);
        return;
    }
    slm_gguf *g = NULL;
    REQUIRE(slm_gguf_open(ref, 1, &g) == SLM_OK, "open: %s", slm_last_error());
    const slm_gguf_tensor *t = slm_gguf_find_tensor(g, "rope_freqs.weight");
    CHECK(t && t->type == SLM_TYPE_F32 && t->ne[0] == 16, "reference rope_freqs");
    if (t && t->type == SLM_TYPE_F32 && t->ne[0] == 16) {
        float ours[16], want[16];
        memcpy(want, t->data, sizeof want);
        llama3_rope_factors(ours, 32, 500000.0f);
        for (int i = 0; i < 16; i++)
            CHECK(fabsf(ours[i] - want[i]) <= 1e-5f * want[i], "factor %d: %.7g, reference %.7g", i,
                  (double)ours[i], (double)want[i]);
    }
    slm_gguf_close(g);
}

static slm_type type_of(slm_gguf *g, const char *name)
{
    const slm_gguf_tensor *t = slm_gguf_find_tensor(g, name);
    return t ? t->type : (slm_type)-1;
}

static void q4_k_m_on_8_layers_promotes_attn_v_and_ffn_down_of_layers_0_3_6_7(void)
{
    /* llama.cpp: use_more_bits(i, 8) = i < 1 || i >= 7 || (i - 1) % 3 == 2 */
    slm_gen_params p = custom("qwen2", 256, 8, 4, 2, 512, 512);
    p.mix = "Q4_K_M";
    if (!gen(&p, path_a)) return;
    slm_gguf *g = NULL;
    REQUIRE(slm_gguf_open(path_a, 1, &g) == SLM_OK, "open: %s", slm_last_error());
    char nm[64];
    for (int l = 0; l < 8; l++) {
        slm_type want = (l == 0 || l == 3 || l == 6 || l == 7) ? SLM_TYPE_Q6_K : SLM_TYPE_Q4_K;
        snprintf(nm, sizeof nm, "blk.%d.attn_v.weight", l);
        CHECK(type_of(g, nm) == want, "%s", nm);
        snprintf(nm, sizeof nm, "blk.%d.ffn_down.weight", l);
        CHECK(type_of(g, nm) == want, "%s", nm);
        snprintf(nm, sizeof nm, "blk.%d.attn_q.weight", l);
        CHECK(type_of(g, nm) == SLM_TYPE_Q4_K, "%s", nm);
        snprintf(nm, sizeof nm, "blk.%d.attn_q.bias", l);
        CHECK(type_of(g, nm) == SLM_TYPE_F32, "%s", nm);
    }
    /* qwen2 is tied: token_embd is the output head, so it gets Q6_K. */
    CHECK(type_of(g, "token_embd.weight") == SLM_TYPE_Q6_K, "tied token_embd");
    CHECK(type_of(g, "output.weight") == (slm_type)-1, "a tied model has no output.weight");
    slm_gguf_close(g);
}

static void k_quants_fall_back_on_rows_that_are_not_multiples_of_256(void)
{
    /* n_embd 320: rows of 320 cannot hold 256-blocks; ffn_down rows (n_ff 512) can. */
    slm_gen_params p = custom("llama", 320, 1, 5, 1, 512, 512);
    p.type = SLM_TYPE_Q4_K;
    if (!gen(&p, path_a)) return;
    slm_gguf *g = NULL;
    REQUIRE(slm_gguf_open(path_a, 1, &g) == SLM_OK, "open: %s", slm_last_error());
    CHECK(type_of(g, "blk.0.attn_q.weight") == SLM_TYPE_Q5_0, "Q4_K on 320-rows falls back to Q5_0");
    CHECK(type_of(g, "blk.0.ffn_down.weight") == SLM_TYPE_Q4_K, "512-rows keep Q4_K");
    slm_gguf_close(g);
}

static void vocabulary_tokenizes_and_detokenizes_text_exactly(void)
{
    slm_gen_params p = custom("llama", 64, 1, 2, 1, 128, 2000);
    if (!gen(&p, path_a)) return;
    slm_model *m = NULL;
    slm_model_params mp = slm_model_default_params();
    mp.vocab_only = 1;
    slm_status st = slm_model_load(path_a, &mp, &m);
    REQUIRE(st == SLM_OK, "load: %s", slm_last_error());
    CHECK(slm_token_bos(m) == 1 && slm_token_eos(m) == 2, "bos %d eos %d", slm_token_bos(m), slm_token_eos(m));
    const char *text = "Once upon a time, the cat sat on the mat. 42% of {ünïcödé} too!";
    int32_t ids[256];
    size_t n = 0;
    st = slm_tokenize(m, text, strlen(text), 1, 0, ids, 256, &n);
    REQUIRE(st == SLM_OK, "tokenize: %s", slm_last_error());
    CHECK(n > 2 && ids[0] == 1, "BOS first (n %zu)", n);
    CHECK(n < strlen(text), "%zu tokens for %zu bytes: merges are not used", n, strlen(text));
    char out[512];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = slm_token_to_piece(m, ids[i], 0, out + len, sizeof out - len);
        REQUIRE(len + k < sizeof out, "overflow");
        len += k;
    }
    out[len] = '\0';
    /* SentencePiece adds one leading space to the text. */
    CHECK(len == strlen(text) + 1 && out[0] == ' ' && strcmp(out + 1, text) == 0, "round trip gave '%s'", out);
    slm_model_free(m);
}

static void bad_parameters_are_rejected_without_writing_a_file(void)
{
    unlink(path_b);
    slm_gen_params p = slm_gen_default_params();
    p.shape = "GPT-5";
    CHECK(slm_gen_model(&p, path_b) == SLM_ERR_ARG, "unknown shape");
    CHECK(strstr(slm_last_error(), "GPT-5") != NULL, "message '%s' should name the shape", slm_last_error());
    p = custom("llama", 64, 1, 2, 1, 128, 100);
    CHECK(slm_gen_model(&p, path_b) == SLM_ERR_ARG, "n_vocab 100 is too small for the vocabulary");
    p = custom("mamba", 64, 1, 2, 1, 128, 512);
    CHECK(slm_gen_model(&p, path_b) == SLM_ERR_ARG, "unknown architecture");
    p = custom("llama", 64, 1, 3, 2, 128, 512);
    CHECK(slm_gen_model(&p, path_b) == SLM_ERR_ARG, "3 heads over 2 KV heads");
    p = custom("llama", 64, 1, 2, 1, 128, 512);
    p.mix = "Q4_K_XL";
    CHECK(slm_gen_model(&p, path_b) == SLM_ERR_ARG, "unknown mix");
    p.mix = NULL;
    p.type = SLM_TYPE_Q8_K;
    CHECK(slm_gen_model(&p, path_b) == SLM_ERR_ARG, "Q8_K is not a weight type");
    p = slm_gen_default_params();
    CHECK(slm_gen_model(&p, path_b) == SLM_ERR_ARG, "neither shape nor arch");
    CHECK(slm_gen_model(NULL, path_b) == SLM_ERR_ARG, "NULL params");
    CHECK(access(path_b, F_OK) != 0, "a file was written");
}

static void allocation_failures_are_reported_and_leak_nothing(void)
{
    slm_gen_params p = custom("llama", 64, 1, 2, 1, 128, 400);
    p.n_threads = 1;
    int ok = 0;
    for (long n = 0; n < 400 && !ok; n++) {
        slm_alloc_fail_after(n);
        slm_status st = slm_gen_model(&p, path_b);
        slm_alloc_fail_after(-1);
        if (st == SLM_OK) {
            ok = 1;
            break;
        }
        CHECK(st == SLM_ERR_NOMEM, "allocation %ld failing gave %s (%s)", n, slm_status_name(st), slm_last_error());
    }
    CHECK(ok, "never succeeded within 400 allocations");
}

int main(void)
{
    set_paths();
    RUN(tiny_shape_loads_and_decodes);
    RUN(every_architecture_loads_and_decodes);
    RUN(same_seed_gives_identical_files_whatever_the_thread_count);
    RUN(weights_have_std_0_02_and_norms_are_one);
    RUN(q4_k_m_types_match_llama_quantize);
    RUN(llama3_rope_factors_match_the_reference_model);
    RUN(q4_k_m_on_8_layers_promotes_attn_v_and_ffn_down_of_layers_0_3_6_7);
    RUN(k_quants_fall_back_on_rows_that_are_not_multiples_of_256);
    RUN(vocabulary_tokenizes_and_detokenizes_text_exactly);
    RUN(bad_parameters_are_rejected_without_writing_a_file);
    RUN(allocation_failures_are_reported_and_leak_nothing);
    unlink(path_a);
    unlink(path_b);
    return harness_finish();
}
