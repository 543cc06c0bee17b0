/* test_conf_perplexity.c — slm_perplexity on stories260K (the llama2.c model
 * trained on TinyStories) over a slice of the TinyStories validation text:
 * the value agrees with a plain token-by-token oracle written here from
 * llama-perplexity's rule (chunk from an empty cache, BOS replaces the first
 * token, second half scored), is in the range a model trained on this text
 * gives, and the KL machinery gives exactly 0 / 100% for a model against
 * itself and a small positive KL for its Q8_0 quantization.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "harness.h"
#include "slm.h"

#define MODEL SLM_TESTDATA_DIR "/stories260K/stories260K-F32.gguf"
#define DATA SLM_SHARED_DATA_DIR "/text/tinystories/tinystories_valid_prefix.txt.gz"
#define N_CTX 128
#define SLICE 40000 /* bytes of text: ~20000 tokens, far more than the chunks used */

static char base_path[600], q8_path[600];
static slm_model *model;

static slm_perplexity_params params(uint32_t n_chunks)
{
    slm_perplexity_params p = slm_perplexity_default_params();
    p.n_ctx = N_CTX;
    p.n_chunks = n_chunks;
    p.max_bytes = SLICE;
    p.n_threads = 2;
    return p;
}

/* The oracle: decode each chunk one token at a time and sum -log p(next)
 * over the second half. */
static double oracle_ppl(uint32_t n_chunks)
{
    gzFile f = gzopen(DATA, "rb");
    char *text = malloc(SLICE + 1);
    int n = f ? gzread(f, text, SLICE) : -1;
    if (f) gzclose(f);
    if (n <= 0) {
        free(text);
        return NAN;
    }
    size_t n_tok = 0, cap = (size_t)n + 16;
    int32_t *tok = malloc(cap * sizeof *tok);
    slm_tokenize(model, text, (size_t)n, 1, 0, tok, cap, &n_tok);
    slm_session_params sp = slm_session_default_params();
    sp.n_ctx = N_CTX;
    sp.n_threads = 1;
    slm_session *s = NULL;
    double nll = 0;
    long count = 0;
    if (slm_session_new(model, &sp, &s) != SLM_OK) n_chunks = 0;
    for (uint32_t c = 0; c < n_chunks; c++) {
        slm_session_truncate(s, 0);
        for (int j = 0; j < N_CTX - 1; j++) {
            int32_t id = j == 0 ? slm_token_bos(model) : tok[c * N_CTX + j];
            const float *lg = NULL;
            slm_session_decode(s, &id, 1, &lg);
            if (j < N_CTX / 2) continue;
            double mx = lg[0], sum = 0;
            for (int v = 1; v < slm_model_n_vocab(model); v++) mx = lg[v] > mx ? lg[v] : mx;
            for (int v = 0; v < slm_model_n_vocab(model); v++) sum += exp(lg[v] - mx);
            nll -= lg[tok[c * N_CTX + j + 1]] - mx - log(sum);
            count++;
        }
    }
    slm_session_free(s);
    free(tok);
    free(text);
    return count ? exp(nll / (double)count) : NAN;
}

static void perplexity_matches_a_token_by_token_oracle_and_is_plausible(void)
{
    slm_perplexity_params p = params(4);
    slm_perplexity_result r;
    REQUIRE(slm_perplexity(model, DATA, &p, &r) == SLM_OK, "%s", slm_last_error());
    CHECK(r.chunks == 4 && r.n_ctx == N_CTX && r.tokens == 4 * (N_CTX - 1 - N_CTX / 2), "chunks %u tokens %llu",
          r.chunks, (unsigned long long)r.tokens);
    CHECK(r.text_tokens > 10 * N_CTX, "text tokens %llu", (unsigned long long)r.text_tokens);
    double o = oracle_ppl(4);
    CHECK(fabs(r.ppl - o) <= 1e-4 * o, "ppl %.6f, oracle %.6f", r.ppl, o);
    /* stories260K reaches a validation loss of about 1.3 nats on TinyStories */
    CHECK(isfinite(r.ppl) && r.ppl > 2.0 && r.ppl < 8.0, "ppl %.4f out of range", r.ppl);
    CHECK(r.ppl_err > 0 && r.ppl_err < 0.5 * r.ppl, "ppl_err %.4f", r.ppl_err);
    printf("     stories260K, %u chunks of %u: ppl %.4f +/- %.4f (oracle %.4f)\n", r.chunks, r.n_ctx, r.ppl, r.ppl_err,
           o);
}

static void a_model_against_itself_has_zero_kl_and_full_top1(void)
{
    slm_perplexity_params p = params(6);
    slm_perplexity_result a, b;
    p.save_logits = base_path;
    REQUIRE(slm_perplexity(model, DATA, &p, &a) == SLM_OK, "%s", slm_last_error());
    CHECK(!a.has_kl, "no base given");
    p.save_logits = NULL;
    p.kl_base = base_path;
    REQUIRE(slm_perplexity(model, DATA, &p, &b) == SLM_OK, "%s", slm_last_error());
    CHECK(b.has_kl && b.kld == 0.0 && b.kld_max == 0.0 && b.kld_p99 == 0.0, "kld %g max %g", b.kld, b.kld_max);
    CHECK(b.top1 == 1.0 && b.dppl == 0.0 && b.base_ppl == a.ppl, "top1 %g dppl %g", b.top1, b.dppl);
}

static void q8_0_costs_a_small_positive_kl(void)
{
    slm_quantize_params qp = slm_quantize_default_params();
    qp.type = "Q8_0";
    REQUIRE(slm_quantize(MODEL, q8_path, &qp) == SLM_OK, "%s", slm_last_error());
    slm_model *q8 = NULL;
    slm_model_params mp = slm_model_default_params();
    REQUIRE(slm_model_load(q8_path, &mp, &q8) == SLM_OK, "%s", slm_last_error());
    slm_perplexity_params p = params(6);
    p.kl_base = base_path;
    slm_perplexity_result r;
    slm_status st = slm_perplexity(q8, DATA, &p, &r);
    CHECK(st == SLM_OK, "%s", slm_last_error());
    if (st == SLM_OK) {
        CHECK(r.kld > 0 && r.kld < 0.01, "Q8_0 mean KLD %g", r.kld);
        CHECK(r.kld_median <= r.kld_p99 && r.kld_p99 <= r.kld_max, "order");
        CHECK(r.top1 > 0.9 && r.top1 < 1.0, "top1 %g", r.top1);
        CHECK(fabs(r.dppl) < 0.05 * r.base_ppl, "dppl %g", r.dppl);
        printf("     Q8_0 vs F32: KLD %.6f +/- %.6f, p99 %.6f, top-1 %.2f%%, dppl %+.4f\n", r.kld, r.kld_err,
               r.kld_p99, 100 * r.top1, r.dppl);
    }
    /* a base saved with another context length does not match */
    p.n_ctx = 64;
    CHECK(slm_perplexity(q8, DATA, &p, &r) == SLM_ERR_FORMAT, "n_ctx mismatch: %s", slm_last_error());
    slm_model_free(q8);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    long n = -1;
    if (f && fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (f) fclose(f);
    return n;
}

/* Saved rows are float16 by default (a float32 next-token value + n_vocab
 * halves); save_f32 writes the original layout (format field 0, n_vocab
 * floats per row), which is still read. The two bases give the Q8_0 model
 * the same Δppl exactly (the next-token values are stored exactly) and a
 * mean KLD within 2%. Sizes from the documented layout: 24-byte header,
 * 4 bytes per token, (n_ctx - 1 - n_ctx/2) rows per chunk. */
static void float16_logits_are_half_the_size_and_give_the_float32_kl(void)
{
    char b32[640];
    snprintf(b32, sizeof b32, "%s.f32", base_path);
    slm_perplexity_params p = params(6);
    slm_perplexity_result a, r16, r32;
    p.save_logits = b32;
    p.save_f32 = 1;
    REQUIRE(slm_perplexity(model, DATA, &p, &a) == SLM_OK, "%s", slm_last_error());
    const long rows = (N_CTX - 1 - N_CTX / 2) * 6, head = 24 + 4L * N_CTX * 6;
    CHECK(file_size(b32) == head + rows * 512 * 4, "float32 file %ld bytes", file_size(b32));
    CHECK(file_size(base_path) == head + rows * (4 + 512 * 2), "float16 file %ld bytes", file_size(base_path));
    FILE *f = fopen(b32, "rb");
    unsigned char hdr[24] = {0};
    CHECK(f && fread(hdr, 1, 24, f) == 24 && memcmp(hdr, "SLMLOGP1", 8) == 0 && hdr[20] == 0 && hdr[21] == 0 &&
              hdr[22] == 0 && hdr[23] == 0,
          "float32 file: old header (format field 0)");
    if (f) fclose(f);

    slm_model *q8 = NULL;
    slm_model_params mp = slm_model_default_params();
    REQUIRE(slm_model_load(q8_path, &mp, &q8) == SLM_OK, "%s", slm_last_error());
    p = params(6);
    p.kl_base = b32;
    slm_status st = slm_perplexity(q8, DATA, &p, &r32);
    p.kl_base = base_path;
    if (st == SLM_OK) st = slm_perplexity(q8, DATA, &p, &r16);
    slm_model_free(q8);
    remove(b32);
    REQUIRE(st == SLM_OK, "%s", slm_last_error());
    CHECK(r16.dppl == r32.dppl && r16.base_ppl == r32.base_ppl, "dppl %g vs %g", r16.dppl, r32.dppl);
    CHECK(fabs(r16.kld - r32.kld) < 0.02 * r32.kld, "mean KLD %.7f (f16 base) vs %.7f (f32 base)", r16.kld, r32.kld);
    CHECK(fabs(r16.top1 - r32.top1) < 0.01, "top-1 %.4f vs %.4f", r16.top1, r32.top1);
    printf("     Q8_0 mean KLD: %.7f with a float16 base, %.7f with float32; p99 %.6f vs %.6f\n", r16.kld, r32.kld,
           r16.kld_p99, r32.kld_p99);
}

static void too_little_text_is_an_argument_error(void)
{
    slm_perplexity_params p = params(0);
    p.max_bytes = 200; /* far fewer than 2 x 128 tokens */
    slm_perplexity_result r;
    CHECK(slm_perplexity(model, DATA, &p, &r) == SLM_ERR_ARG, "%s", slm_last_error());
    CHECK(slm_perplexity(model, "/nonexistent/file.txt", &p, &r) == SLM_ERR_IO, "%s", slm_last_error());
}

int main(void)
{
    harness_need_dir(SLM_TESTDATA_DIR);
    harness_need_dir(SLM_SHARED_DATA_DIR "/text/tinystories");
    snprintf(base_path, sizeof base_path, "%s/test_conf_perplexity_%d.lp", SLM_BINARY_DIR, (int)getpid());
    snprintf(q8_path, sizeof q8_path, "%s/test_conf_perplexity_%d.gguf", SLM_BINARY_DIR, (int)getpid());
    slm_model_params mp = slm_model_default_params();
    if (slm_model_load(MODEL, &mp, &model) != SLM_OK) {
        printf("cannot load %s: %s\n", MODEL, slm_last_error());
        return 1;
    }
    RUN(perplexity_matches_a_token_by_token_oracle_and_is_plausible);
    RUN(a_model_against_itself_has_zero_kl_and_full_top1);
    RUN(q8_0_costs_a_small_positive_kl);
    RUN(float16_logits_are_half_the_size_and_give_the_float32_kl);
    RUN(too_little_text_is_an_argument_error);
    slm_model_free(model);
    remove(base_path);
    remove(q8_path);
    return harness_finish();
}
