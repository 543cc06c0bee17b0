/* test_conf_imatrix.c — slm_imatrix_collect on stories260K over a slice of
 * the TinyStories validation text. Oracle: the input of blk.0.attn_q (and k,
 * v) is rmsnorm(token embedding) x attn_norm, computable straight from the
 * GGUF tensors, so its per-column mean square over every token of every
 * chunk (BOS in place of each chunk's first token) is known independently
 * of the forward pass. Also: every dense layer matrix gets an entry of the
 * right width, ncall is the chunk count, and the file drives the quantizer.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "compress/imatrix.h"
#include "gguf/gguf.h"
#include "harness.h"
#include "slm.h"

#define MODEL SLM_TESTDATA_DIR "/stories260K/stories260K-F32.gguf"
#define DATA SLM_SHARED_DATA_DIR "/text/tinystories/tinystories_valid_prefix.txt.gz"
#define N_CTX 64
#define N_CHUNKS 5
#define SLICE 20000

static char dat[600], q4[600];

static void imatrix_matches_the_layer0_input_oracle(void)
{
    slm_model *m = NULL;
    slm_model_params mp = slm_model_default_params();
    REQUIRE(slm_model_load(MODEL, &mp, &m) == SLM_OK, "%s", slm_last_error());
    slm_imatrix_params p = slm_imatrix_default_params();
    p.n_ctx = N_CTX;
    p.n_chunks = N_CHUNKS;
    p.max_bytes = SLICE;
    p.n_threads = 2;
    slm_status st = slm_imatrix_collect(m, DATA, dat, &p);
    REQUIRE(st == SLM_OK, "%s", slm_last_error());
    slm_imatrix *im = NULL;
    REQUIRE(slm_imatrix_read(dat, &im) == SLM_OK, "%s", slm_last_error());
    CHECK(im->n_entries == 7 * slm_model_n_layer(m), "%d entries, expected 7 per layer", im->n_entries);
    CHECK(im->last_chunk == N_CHUNKS, "last_chunk %d", im->last_chunk);
    for (int i = 0; i < im->n_entries; i++) {
        CHECK(im->e[i].ncall == N_CHUNKS, "%s: ncall %d", im->e[i].name, im->e[i].ncall);
        CHECK(i == 0 || strcmp(im->e[i - 1].name, im->e[i].name) < 0, "not sorted at %s", im->e[i].name);
    }

    /* the oracle, from the file's tensors */
    slm_gguf *g = NULL;
    REQUIRE(slm_gguf_open(MODEL, 1, &g) == SLM_OK, "%s", slm_last_error());
    const slm_gguf_tensor *emb = slm_gguf_find_tensor(g, "token_embd.weight");
    const slm_gguf_tensor *nrm = slm_gguf_find_tensor(g, "blk.0.attn_norm.weight");
    float eps = 1e-5f;
    slm_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &eps);
    REQUIRE(emb && nrm && emb->type == SLM_TYPE_F32 && nrm->type == SLM_TYPE_F32, "tensors");
    const int64_t E = emb->ne[0];
    gzFile f = gzopen(DATA, "rb");
    char *text = malloc(SLICE);
    int n = gzread(f, text, SLICE);
    gzclose(f);
    size_t n_tok = 0;
    int32_t *tok = malloc(((size_t)n + 16) * sizeof *tok);
    slm_tokenize(m, text, (size_t)n, 1, 0, tok, (size_t)n + 16, &n_tok);
    REQUIRE(n_tok >= N_CTX * N_CHUNKS, "only %zu tokens", n_tok);
    double *want = calloc((size_t)E, sizeof *want);
    const float *ew = emb->data, *nw = nrm->data;
    for (int c = 0; c < N_CHUNKS; c++)
        for (int j = 0; j < N_CTX; j++) {
            int32_t id = j == 0 ? slm_token_bos(m) : tok[c * N_CTX + j];
            const float *x = ew + (size_t)id * E;
            double ss = 0;
            for (int64_t i = 0; i < E; i++) ss += (double)x[i] * x[i];
            double scale = 1.0 / sqrt(ss / (double)E + eps);
            for (int64_t i = 0; i < E; i++) {
                double h = x[i] * scale * nw[i];
                want[i] += h * h / (N_CHUNKS * N_CTX);
            }
        }
    static const char *const same_input[] = {"blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight"};
    for (int k = 0; k < 3; k++) {
        const slm_imatrix_entry *e = slm_imatrix_find(im, same_input[k]);
        REQUIRE(e && e->n == E, "%s missing or %lld wide", same_input[k], e ? (long long)e->n : -1LL);
        double worst = 0;
        for (int64_t i = 0; i < E; i++) {
            double d = fabs(e->values[i] - want[i]) / (want[i] + 1e-12);
            if (d > worst) worst = d;
        }
        CHECK(worst < 1e-4, "%s: worst relative difference %.3g", same_input[k], worst);
    }
    const slm_imatrix_entry *down = slm_imatrix_find(im, "blk.4.ffn_down.weight");
    const slm_gguf_tensor *wd = slm_gguf_find_tensor(g, "blk.4.ffn_down.weight");
    CHECK(down && wd && down->n == wd->ne[0], "ffn_down width");

    /* the file drives the quantizer, and the result runs */
    slm_quantize_params qp = slm_quantize_default_params();
    slm_quantize_stats qs;
    qp.type = "Q4_K_M";
    qp.imatrix = dat;
    qp.stats = &qs;
    CHECK(slm_quantize(MODEL, q4, &qp) == SLM_OK, "%s", slm_last_error());
    CHECK(qs.n_imatrix == im->n_entries, "imatrix used for %d tensors, expected %d", qs.n_imatrix, im->n_entries);
    free(want);
    free(tok);
    free(text);
    slm_gguf_close(g);
    slm_imatrix_free(im);
    slm_model_free(m);
}

/* A mixture of experts: one entry per expert tensor with n_embd x n_expert
 * values, each expert's block the mean over the tokens routed to it; the
 * quantizer takes it for the 3-D expert tensors. */
static void moe_experts_get_per_expert_statistics(void)
{
    slm_model *m = NULL;
    slm_model_params mp = slm_model_default_params();
    REQUIRE(slm_model_load(SLM_TESTDATA_DIR "/models/tiny-moe-F32.gguf", &mp, &m) == SLM_OK, "%s",
            slm_last_error());
    slm_imatrix_params p = slm_imatrix_default_params();
    p.n_ctx = 64;
    p.n_chunks = 4;
    p.max_bytes = 4000;
    p.n_threads = 2;
    REQUIRE(slm_imatrix_collect(m, DATA, dat, &p) == SLM_OK, "%s", slm_last_error());
    slm_imatrix *im = NULL;
    REQUIRE(slm_imatrix_read(dat, &im) == SLM_OK, "%s", slm_last_error());
    const slm_imatrix_entry *g = slm_imatrix_find(im, "blk.1.ffn_gate_exps.weight");
    const slm_imatrix_entry *d = slm_imatrix_find(im, "blk.1.ffn_down_exps.weight");
    const slm_imatrix_entry *q = slm_imatrix_find(im, "blk.1.attn_q.weight");
    CHECK(g && g->n == 256 * 4, "gate_exps: %lld values", g ? (long long)g->n : -1LL);
    CHECK(d && d->n == 160 * 4, "down_exps: %lld values", d ? (long long)d->n : -1LL);
    /* top-2 of 4 experts: together they saw 2 x 4 x 64 rows, the busiest >= 128 */
    CHECK(g && g->ncall >= 2 && g->ncall <= 4, "gate_exps ncall %d", g ? g->ncall : -1);
    /* gate and up see the same rows; every expert's block has positive means */
    const slm_imatrix_entry *u = slm_imatrix_find(im, "blk.1.ffn_up_exps.weight");
    CHECK(u && g && memcmp(u->values, g->values, (size_t)g->n * sizeof(float)) == 0, "gate/up differ");
    CHECK(q && q->n == 256 && q->ncall == 4, "attn_q");
    slm_quantize_params qp = slm_quantize_default_params();
    slm_quantize_stats qs;
    qp.type = "Q4_K_M";
    qp.imatrix = dat;
    qp.stats = &qs;
    CHECK(slm_quantize(SLM_TESTDATA_DIR "/models/tiny-moe-F32.gguf", q4, &qp) == SLM_OK, "%s", slm_last_error());
    CHECK(qs.n_imatrix == im->n_entries, "imatrix used on %d tensors of %d", qs.n_imatrix, im->n_entries);
    slm_imatrix_free(im);
    slm_model_free(m);
}

int main(void)
{
    harness_need_dir(SLM_TESTDATA_DIR);
    harness_need_dir(SLM_SHARED_DATA_DIR "/text/tinystories");
    snprintf(dat, sizeof dat, "%s/test_conf_imatrix_%d.dat", SLM_BINARY_DIR, (int)getpid());
    snprintf(q4, sizeof q4, "%s/test_conf_imatrix_%d.gguf", SLM_BINARY_DIR, (int)getpid());
    RUN(imatrix_matches_the_layer0_input_oracle);
    RUN(moe_experts_get_per_expert_statistics);
    remove(dat);
    remove(q4);
    return harness_finish();
}
