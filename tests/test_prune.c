/* test_prune.c — slm_prune on a generated 4-layer F32 llama (no ../shared
 * needed). Expectations come from the input file itself (which weights are
 * largest, which rows and layers exist) and, for Wanda, from an importance
 * matrix collected by slm_imatrix_collect, a separate code path.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compress/imatrix.h"
#include "gguf/gguf.h"
#include "harness.h"
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

static const char *model_path;
static const char *text_path;

static int make_inputs(void)
{
    static char mp[600], tp[600];
    snprintf(mp, sizeof mp, "%s", tmp("in-F32.gguf"));
    snprintf(tp, sizeof tp, "%s", tmp("cal.txt"));
    slm_gen_params g = slm_gen_default_params();
    g.shape = NULL;
    g.arch = "llama";
    g.n_embd = 64, g.n_layer = 4, g.n_head = 4, g.n_head_kv = 2, g.n_ff = 128, g.n_vocab = 400, g.n_ctx = 64;
    g.type = SLM_TYPE_F32;
    g.n_threads = 1;
    if (slm_gen_model(&g, mp) != SLM_OK) return 0;
    FILE *f = fopen(tp, "w");
    if (!f) return 0;
    for (int i = 0; i < 40; i++)
        fprintf(f, "Once upon a time %d, a little fox ran %s over the hill and met a bird.\n", i,
                i % 3 ? "quickly" : "slowly");
    fclose(f);
    model_path = mp;
    text_path = tp;
    return 1;
}

static slm_prune_params params(const char *method, float ratio)
{
    slm_prune_params p = slm_prune_default_params();
    p.method = method;
    p.ratio = ratio;
    p.data = text_path;
    p.n_ctx = 32;
    p.n_threads = 2;
    return p;
}

/* Logits of a fixed prompt (n_vocab floats x 4 positions); NULL on failure. */
static float *logits_of(const char *path, int32_t *n_vocab)
{
    slm_model *m = NULL;
    slm_session *s = NULL;
    slm_model_params mp = slm_model_default_params();
    slm_session_params sp = slm_session_default_params();
    sp.n_ctx = 32;
    sp.n_threads = 1;
    sp.logits_all = 1;
    int32_t ids[4] = {1, 20, 30, 40};
    float *out = NULL;
    if (slm_model_load(path, &mp, &m) == SLM_OK && slm_session_new(m, &sp, &s) == SLM_OK &&
        slm_session_decode(s, ids, 4, NULL) == SLM_OK) {
        *n_vocab = slm_model_n_vocab(m);
        out = malloc((size_t)*n_vocab * 4 * sizeof *out);
        for (int i = 0; out && i < 4; i++) {
            const float *l = slm_session_logits(s, i);
            if (!l) {
                free(out);
                out = NULL;
                break;
            }
            memcpy(out + (size_t)i * *n_vocab, l, (size_t)*n_vocab * sizeof *out);
        }
    }
    slm_session_free(s);
    slm_model_free(m);
    return out;
}

static int finite_all(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

static int is_pruned_matrix(const char *name)
{
    return strncmp(name, "blk.", 4) == 0 && strstr(name, "norm") == NULL &&
           (strstr(name, ".attn_") || strstr(name, ".ffn_"));
}

static void depth_pruned_model_has_right_block_count_and_decodes(void)
{
    const char *out = tmp("depth.gguf");
    slm_prune_stats stats;
    slm_prune_params p = params("depth", 0.5f);
    p.stats = &stats;
    REQUIRE(slm_prune(model_path, out, &p) == SLM_OK, "prune: %s", slm_last_error());
    CHECK(stats.n_layer_in == 4 && stats.n_layer_out == 2 && stats.n_removed_layers == 2, "layers %u -> %u",
          stats.n_layer_in, stats.n_layer_out);
    slm_gguf *a = NULL, *b = NULL;
    REQUIRE(slm_gguf_open(model_path, 1, &a) == SLM_OK && slm_gguf_open(out, 1, &b) == SLM_OK, "open");
    uint32_t nl = 0;
    CHECK(slm_gguf_get_u32(b, "llama.block_count", &nl) == SLM_OK && nl == 2, "block_count %u", nl);
    /* removed layers from the file's own key; every output blk.j tensor is
     * the input's blk.(j-th kept) tensor, byte for byte */
    slm_gguf_type et;
    uint64_t nrm = 0;
    REQUIRE(slm_gguf_get_arr(b, "slm.prune.removed_layers", &et, &nrm) == SLM_OK && nrm == 2, "removed key");
    int64_t kv = slm_gguf_find_key(b, "slm.prune.removed_layers");
    int removed[4] = {0};
    for (uint64_t i = 0; i < nrm; i++) removed[(int)slm_gguf_arr_num(b, kv, i) & 3] = 1;
    int kept[4], nk = 0;
    for (int l = 0; l < 4; l++)
        if (!removed[l]) kept[nk++] = l;
    REQUIRE(nk == 2, "kept %d", nk);
    int64_t per_layer = 0;
    for (int64_t i = 0; i < slm_gguf_n_tensors(a); i++)
        per_layer += strncmp(slm_gguf_tensor_at(a, i)->name, "blk.0.", 6) == 0;
    CHECK(slm_gguf_n_tensors(b) == slm_gguf_n_tensors(a) - 2 * per_layer, "tensors %lld of %lld",
          (long long)slm_gguf_n_tensors(b), (long long)slm_gguf_n_tensors(a));
    for (int64_t i = 0; i < slm_gguf_n_tensors(b); i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(b, i);
        char src[256];
        int j;
        const char *rest;
        if (sscanf(t->name, "blk.%d.", &j) == 1 && (rest = strchr(t->name + 4, '.')) != NULL) {
            REQUIRE(j >= 0 && j < 2, "output layer %d", j);
            snprintf(src, sizeof src, "blk.%d%s", kept[j], rest);
        } else {
            snprintf(src, sizeof src, "%s", t->name);
        }
        const slm_gguf_tensor *s = slm_gguf_find_tensor(a, src);
        CHECK(s && s->nbytes == t->nbytes && memcmp(s->data, t->data, t->nbytes) == 0, "%s is not %s", t->name, src);
    }
    slm_gguf_close(a);
    slm_gguf_close(b);
    int32_t nv = 0;
    float *l = logits_of(out, &nv);
    CHECK(l && finite_all(l, (size_t)nv * 4), "depth-pruned model does not decode: %s", slm_last_error());
    free(l);
}

/* Every pruned matrix of out against in: per row, the zeroed weights are
 * exactly the expected count (per row, or per group of m) and none of them
 * scores above a kept one (score |w| x scale). */
static void check_sparse(const char *in, const char *out, int n, int m, double ratio, const slm_imatrix *im)
{
    slm_gguf *a = NULL, *b = NULL;
    REQUIRE(slm_gguf_open(in, 1, &a) == SLM_OK && slm_gguf_open(out, 1, &b) == SLM_OK, "open");
    int n_mat = 0, bad_count = 0, bad_order = 0;
    for (int64_t i = 0; i < slm_gguf_n_tensors(b); i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(b, i), *s = slm_gguf_find_tensor(a, t->name);
        REQUIRE(s && s->type == SLM_TYPE_F32 && t->type == SLM_TYPE_F32 && s->nbytes == t->nbytes, "%s", t->name);
        const float *x = s->data, *y = t->data;
        if (!is_pruned_matrix(t->name)) {
            CHECK(memcmp(x, y, t->nbytes) == 0, "%s changed", t->name);
            continue;
        }
        n_mat++;
        const float *sc = NULL;
        if (im) {
            const slm_imatrix_entry *e = slm_imatrix_find(im, t->name);
            REQUIRE(e && e->n == t->ne[0], "imatrix has no %s", t->name);
            sc = e->values;
        }
        const int64_t cols = t->ne[0], rows = t->ne[1];
        const int64_t group = m ? m : cols;
        const int64_t want = m ? m - n : (int64_t)floor(ratio * (double)cols + 0.5);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t g0 = 0; g0 < cols; g0 += group) {
                int64_t zeros = 0;
                double max_zeroed = -1, min_kept = INFINITY;
                for (int64_t j = g0; j < g0 + group; j++) {
                    const double w = x[r * cols + j], v = y[r * cols + j];
                    const double score = fabs(w) * (sc ? sqrt(sc[j]) : 1.0);
                    if (v == 0.0 && w != 0.0) {
                        zeros++;
                        if (score > max_zeroed) max_zeroed = score;
                    } else {
                        if (v != w) bad_count++;
                        if (score < min_kept) min_kept = score;
                    }
                }
                if (zeros != want) bad_count++;
                /* the scale comes from a separately collected imatrix
                 * (float means vs prune's double sums): allow rounding */
                if (max_zeroed > min_kept * (1.0 + 1e-5)) bad_order++;
            }
    }
    CHECK(n_mat == 4 * 7, "pruned matrices %d, expected 28", n_mat);
    CHECK(bad_count == 0, "%d rows/groups with the wrong zero count or a changed kept weight", bad_count);
    CHECK(bad_order == 0, "%d rows/groups zeroed a weight scoring above a kept one", bad_order);
    slm_gguf_close(a);
    slm_gguf_close(b);
}

static void two_four_pattern_holds_on_every_group(void)
{
    const char *out = tmp("mag24.gguf");
    slm_prune_params p = params("magnitude", 0.0f);
    p.pattern_n = 2, p.pattern_m = 4;
    REQUIRE(slm_prune(model_path, out, &p) == SLM_OK, "prune: %s", slm_last_error());
    check_sparse(model_path, out, 2, 4, 0.0, NULL);
    slm_gguf *b = NULL;
    REQUIRE(slm_gguf_open(out, 1, &b) == SLM_OK, "open");
    const char *s;
    size_t len;
    float sp = 0;
    CHECK(slm_gguf_get_str(b, "slm.prune.pattern", &s, &len) == SLM_OK && len == 3 && memcmp(s, "2:4", 3) == 0,
          "pattern key");
    CHECK(slm_gguf_get_f32(b, "slm.prune.sparsity", &sp) == SLM_OK && sp == 0.5f, "sparsity %g", (double)sp);
    slm_gguf_close(b);
}

static void magnitude_ratio_is_exact_per_row(void)
{
    const char *out = tmp("mag30.gguf");
    slm_prune_stats stats;
    slm_prune_params p = params("magnitude", 0.3f);
    p.data = NULL; /* magnitude needs none */
    p.stats = &stats;
    REQUIRE(slm_prune(model_path, out, &p) == SLM_OK, "prune: %s", slm_last_error());
    check_sparse(model_path, out, 0, 0, 0.3, NULL);
    CHECK(stats.n_pruned_elems > 0 && stats.n_params_out == stats.n_params_in && stats.out_bytes == stats.in_bytes,
          "stats");
}

static void wanda_removes_smaller_activation_scores_than_it_keeps(void)
{
    const char *out = tmp("wanda.gguf"), *dat = tmp("cal.dat");
    slm_prune_params p = params("wanda", 0.5f);
    REQUIRE(slm_prune(model_path, out, &p) == SLM_OK, "prune: %s", slm_last_error());
    slm_model *m = NULL;
    slm_model_params mp = slm_model_default_params();
    REQUIRE(slm_model_load(model_path, &mp, &m) == SLM_OK, "load");
    slm_imatrix_params ip = slm_imatrix_default_params();
    ip.n_ctx = 32;
    ip.n_threads = 1;
    slm_status st = slm_imatrix_collect(m, text_path, dat, &ip);
    slm_model_free(m);
    REQUIRE(st == SLM_OK, "imatrix: %s", slm_last_error());
    slm_imatrix *im = NULL;
    REQUIRE(slm_imatrix_read(dat, &im) == SLM_OK, "read imatrix");
    check_sparse(model_path, out, 0, 0, 0.5, im);
    slm_imatrix_free(im);
    /* and Wanda's choice is not magnitude's */
    const char *mag = tmp("mag50.gguf");
    p = params("magnitude", 0.5f);
    REQUIRE(slm_prune(model_path, mag, &p) == SLM_OK, "prune: %s", slm_last_error());
    size_t na = 0, nb = 0;
    void *fa = harness_read_file(out, &na), *fb = harness_read_file(mag, &nb);
    CHECK(fa && fb && na == nb && memcmp(fa, fb, na) != 0, "wanda and magnitude files identical");
    free(fa);
    free(fb);
}

static void pruning_zero_percent_is_the_identity(void)
{
    int32_t nv0 = 0, nv = 0;
    float *base = logits_of(model_path, &nv0);
    REQUIRE(base, "base logits: %s", slm_last_error());
    const char *methods[5] = {"depth", "ffn", "heads", "magnitude", "wanda"};
    for (int k = 0; k < 5; k++) {
        const char *out = tmp("zero.gguf");
        slm_prune_params p = params(methods[k], 0.0f);
        REQUIRE(slm_prune(model_path, out, &p) == SLM_OK, "%s: %s", methods[k], slm_last_error());
        float *l = logits_of(out, &nv);
        CHECK(l && nv == nv0 && memcmp(l, base, (size_t)nv * 4 * sizeof *l) == 0, "%s 0%%: logits differ",
              methods[k]);
        free(l);
    }
    free(base);
}

static void structured_ffn_reduces_n_ff_and_size_and_loads(void)
{
    const char *out = tmp("ffn.gguf");
    slm_prune_stats stats;
    slm_prune_params p = params("ffn", 0.25f);
    p.stats = &stats;
    REQUIRE(slm_prune(model_path, out, &p) == SLM_OK, "prune: %s", slm_last_error());
    CHECK(stats.n_ff_in == 128 && stats.n_ff_out == 96, "n_ff %u -> %u", stats.n_ff_in, stats.n_ff_out);
    size_t na = 0, nb = 0;
    void *fa = harness_read_file(model_path, &na), *fb = harness_read_file(out, &nb);
    /* 3 matrices x 4 layers lose 32 x 64 floats each; the file also gains
     * the slm.prune.* keys */
    CHECK(stats.in_bytes - stats.out_bytes == 12 * 32 * 64 * 4, "tensor bytes %llu -> %llu",
          (unsigned long long)stats.in_bytes, (unsigned long long)stats.out_bytes);
    CHECK(fa && fb && nb < na - 12 * 32 * 64 * 4 + 1024, "file %zu -> %zu bytes", na, nb);
    free(fa);
    free(fb);
    slm_gguf *a = NULL, *b = NULL;
    REQUIRE(slm_gguf_open(model_path, 1, &a) == SLM_OK && slm_gguf_open(out, 1, &b) == SLM_OK, "open");
    uint32_t ff = 0;
    CHECK(slm_gguf_get_u32(b, "llama.feed_forward_length", &ff) == SLM_OK && ff == 96, "feed_forward_length %u", ff);
    /* each kept gate row is an input row, in increasing order, and the same
     * channels appear in up (row) and down (column) */
    for (int l = 0; l < 4; l++) {
        char n1[64], n2[64], n3[64];
        snprintf(n1, sizeof n1, "blk.%d.ffn_gate.weight", l);
        snprintf(n2, sizeof n2, "blk.%d.ffn_up.weight", l);
        snprintf(n3, sizeof n3, "blk.%d.ffn_down.weight", l);
        const slm_gguf_tensor *g0 = slm_gguf_find_tensor(a, n1), *g1 = slm_gguf_find_tensor(b, n1);
        const slm_gguf_tensor *u0 = slm_gguf_find_tensor(a, n2), *u1 = slm_gguf_find_tensor(b, n2);
        const slm_gguf_tensor *d0 = slm_gguf_find_tensor(a, n3), *d1 = slm_gguf_find_tensor(b, n3);
        REQUIRE(g0 && g1 && u0 && u1 && d0 && d1 && g1->ne[1] == 96 && u1->ne[1] == 96 && d1->ne[0] == 96 &&
                    d1->ne[1] == 64,
                "layer %d shapes", l);
        int64_t prev = -1;
        for (int64_t k = 0; k < 96; k++) {
            const float *row = (const float *)g1->data + k * 64;
            int64_t src = -1;
            for (int64_t j = prev + 1; j < 128 && src < 0; j++)
                if (memcmp(row, (const float *)g0->data + j * 64, 64 * sizeof(float)) == 0) src = j;
            REQUIRE(src >= 0, "layer %d: gate row %lld is not a later input row", l, (long long)k);
            CHECK(memcmp((const float *)u1->data + k * 64, (const float *)u0->data + src * 64, 64 * 4) == 0,
                  "layer %d: up row %lld", l, (long long)k);
            for (int64_t e = 0; e < 64; e++)
                CHECK(((const float *)d1->data)[e * 96 + k] == ((const float *)d0->data)[e * 128 + src],
                      "layer %d: down column %lld", l, (long long)k);
            prev = src;
        }
    }
    slm_gguf_close(a);
    slm_gguf_close(b);
    int32_t nv = 0;
    float *lg = logits_of(out, &nv);
    CHECK(lg && finite_all(lg, (size_t)nv * 4), "ffn-pruned model does not decode: %s", slm_last_error());
    free(lg);
}

static void quantized_input_is_requantized_with_the_pattern_kept(void)
{
    /* Q8_0 is symmetric: a pruned zero stays an exact zero after requantization */
    const char *q8 = tmp("q8.gguf"), *out = tmp("q8-24.gguf");
    slm_quantize_params qp = slm_quantize_default_params();
    qp.type = "Q8_0";
    qp.pure = 1;
    qp.n_threads = 1;
    REQUIRE(slm_quantize(model_path, q8, &qp) == SLM_OK, "quantize: %s", slm_last_error());
    slm_prune_params p = params("magnitude", 0.0f);
    p.pattern_n = 2, p.pattern_m = 4;
    REQUIRE(slm_prune(q8, out, &p) == SLM_OK, "prune: %s", slm_last_error());
    slm_gguf *g = NULL;
    REQUIRE(slm_gguf_open(out, 1, &g) == SLM_OK, "open");
    int64_t groups = 0, bad = 0;
    for (int64_t i = 0; i < slm_gguf_n_tensors(g); i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(g, i);
        if (!is_pruned_matrix(t->name)) continue;
        CHECK(t->type == SLM_TYPE_Q8_0, "%s: type %s", t->name, slm_type_name(t->type));
        const slm_type_traits *tr = slm_type_traits_get(t->type);
        const int64_t n = t->ne[0] * t->ne[1];
        float *f = malloc((size_t)n * sizeof *f);
        REQUIRE(f, "malloc");
        tr->to_float(t->data, f, n);
        for (int64_t k = 0; k < n / 4; k++, groups++)
            bad += (f[4 * k] == 0) + (f[4 * k + 1] == 0) + (f[4 * k + 2] == 0) + (f[4 * k + 3] == 0) < 2;
        free(f);
    }
    slm_gguf_close(g);
    CHECK(groups > 0 && bad == 0, "%lld of %lld groups have fewer than 2 zeros", (long long)bad, (long long)groups);
    int32_t nv = 0;
    float *l = logits_of(out, &nv);
    CHECK(l && finite_all(l, (size_t)nv * 4), "pruned Q8_0 model does not decode");
    free(l);
}

/* The test model: 4 query heads in 2 KV groups of 2, head dim 16. Pruning
 * half the heads keeps one group per layer. Expectations: the kept group is
 * the one with the larger sum of mean(x_j^2) x ||W_o[:,j]||^2 over its
 * columns, from an importance matrix that slm_imatrix_collect gathers (a
 * separate code path); its Q/K/V rows and W_o columns are the input's, byte
 * for byte; and the pruned model computes the same function as the input
 * with the dropped heads' W_o columns set to zero (the oracle file below). */
static void heads_pruning_keeps_the_stronger_kv_group_and_computes_the_masked_model(void)
{
    const char *out = tmp("heads.gguf"), *dat = tmp("cal-heads.dat"), *masked = tmp("masked.gguf");
    slm_prune_stats stats;
    slm_prune_params p = params("heads", 0.5f);
    p.stats = &stats;
    REQUIRE(slm_prune(model_path, out, &p) == SLM_OK, "prune: %s", slm_last_error());
    CHECK(stats.n_head_in == 4 && stats.n_head_out == 2 && stats.n_head_kv_in == 2 && stats.n_head_kv_out == 1,
          "heads %u -> %u, kv %u -> %u", stats.n_head_in, stats.n_head_out, stats.n_head_kv_in, stats.n_head_kv_out);
    /* per layer: 32 Q rows, 16 K rows, 16 V rows (x 64 inputs) and 32 W_o columns (x 64 rows) */
    CHECK(stats.n_params_in - stats.n_params_out == 4 * (32 + 16 + 16 + 32) * 64, "params %llu -> %llu",
          (unsigned long long)stats.n_params_in, (unsigned long long)stats.n_params_out);

    slm_model *m = NULL;
    slm_model_params mp = slm_model_default_params();
    REQUIRE(slm_model_load(model_path, &mp, &m) == SLM_OK, "load");
    slm_imatrix_params ip = slm_imatrix_default_params();
    ip.n_ctx = 32;
    ip.n_threads = 1;
    slm_status st = slm_imatrix_collect(m, text_path, dat, &ip);
    slm_model_free(m);
    REQUIRE(st == SLM_OK, "imatrix: %s", slm_last_error());
    slm_imatrix *im = NULL;
    REQUIRE(slm_imatrix_read(dat, &im) == SLM_OK, "read imatrix");

    slm_gguf *a = NULL, *b = NULL;
    REQUIRE(slm_gguf_open(model_path, 1, &a) == SLM_OK && slm_gguf_open(out, 1, &b) == SLM_OK, "open");
    uint32_t nh = 0, nkv = 0, kl = 0, vl = 0;
    CHECK(slm_gguf_get_u32(b, "llama.attention.head_count", &nh) == SLM_OK && nh == 2 &&
              slm_gguf_get_u32(b, "llama.attention.head_count_kv", &nkv) == SLM_OK && nkv == 1 &&
              slm_gguf_get_u32(b, "llama.attention.key_length", &kl) == SLM_OK && kl == 16 &&
              slm_gguf_get_u32(b, "llama.attention.value_length", &vl) == SLM_OK && vl == 16,
          "keys: heads %u kv %u key_length %u value_length %u", nh, nkv, kl, vl);
    float *wo_masked[4] = {NULL, NULL, NULL, NULL};
    for (int l = 0; l < 4; l++) {
        char n[64];
        snprintf(n, sizeof n, "blk.%d.attn_output.weight", l);
        const slm_gguf_tensor *o0 = slm_gguf_find_tensor(a, n), *o1 = slm_gguf_find_tensor(b, n);
        const slm_imatrix_entry *e = slm_imatrix_find(im, n);
        REQUIRE(o0 && o1 && e && e->n == 64 && o1->ne[0] == 32 && o1->ne[1] == 64, "layer %d: W_o shapes", l);
        const float *w0 = o0->data;
        double score[2] = {0, 0};
        for (int64_t r = 0; r < 64; r++)
            for (int64_t j = 0; j < 64; j++) score[j / 32] += (double)w0[r * 64 + j] * w0[r * 64 + j] * e->values[j];
        const int keep = score[1] > score[0];
        /* kept group = query heads 2keep, 2keep+1 = Q rows [32 keep, 32 keep + 32),
         * K and V rows [16 keep, 16 keep + 16), W_o columns [32 keep, 32 keep + 32) */
        const char *proj[3] = {"attn_q", "attn_k", "attn_v"};
        const int64_t rows[3] = {32, 16, 16};
        for (int k = 0; k < 3; k++) {
            snprintf(n, sizeof n, "blk.%d.%s.weight", l, proj[k]);
            const slm_gguf_tensor *t0 = slm_gguf_find_tensor(a, n), *t1 = slm_gguf_find_tensor(b, n);
            REQUIRE(t0 && t1 && t1->ne[1] == rows[k] && t1->ne[0] == 64, "layer %d: %s shape", l, proj[k]);
            CHECK(memcmp(t1->data, (const float *)t0->data + keep * rows[k] * 64, (size_t)rows[k] * 64 * 4) == 0,
                  "layer %d: %s rows are not group %d's", l, proj[k], keep);
        }
        const float *w1 = o1->data;
        int same = 1;
        for (int64_t r = 0; r < 64; r++)
            for (int64_t j = 0; j < 32; j++) same &= w1[r * 32 + j] == w0[r * 64 + keep * 32 + j];
        CHECK(same, "layer %d: W_o columns are not group %d's", l, keep);
        wo_masked[l] = malloc(64 * 64 * sizeof(float));
        REQUIRE(wo_masked[l], "malloc");
        for (int64_t r = 0; r < 64; r++)
            for (int64_t j = 0; j < 64; j++) wo_masked[l][r * 64 + j] = j / 32 == keep ? w0[r * 64 + j] : 0.0f;
    }
    /* the oracle: the input with the dropped heads' output columns zeroed */
    slm_gguf_writer *w = NULL;
    REQUIRE(slm_gguf_writer_new(&w) == SLM_OK, "writer");
    for (int64_t i = 0; i < slm_gguf_n_kv(a); i++) REQUIRE(slm_gguf_copy_kv(w, a, i) == SLM_OK, "copy kv");
    for (int64_t i = 0; i < slm_gguf_n_tensors(a); i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(a, i);
        int l = -1;
        const void *data = t->data;
        if (sscanf(t->name, "blk.%d.", &l) == 1 && strstr(t->name, ".attn_output.weight") && l >= 0 && l < 4)
            data = wo_masked[l];
        REQUIRE(slm_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, data, t->nbytes) == SLM_OK, "add");
    }
    REQUIRE(slm_gguf_writer_write(w, masked) == SLM_OK, "write oracle: %s", slm_last_error());
    slm_gguf_writer_free(w);
    for (int l = 0; l < 4; l++) free(wo_masked[l]);
    slm_gguf_close(a);
    slm_gguf_close(b);
    slm_imatrix_free(im);

    int32_t nv0 = 0, nv1 = 0;
    float *want = logits_of(masked, &nv0), *got = logits_of(out, &nv1);
    REQUIRE(want && got && nv0 == nv1, "logits: %s", slm_last_error());
    double worst = 0;
    for (size_t i = 0; i < (size_t)nv0 * 4; i++) {
        double d = fabs((double)want[i] - got[i]);
        if (!(d <= worst)) worst = d;
    }
    CHECK(finite_all(got, (size_t)nv1 * 4) && worst < 1e-3, "pruned vs masked logits: max |diff| %g", worst);
    free(want);
    free(got);
}

static void heads_pruning_without_data_ranks_by_weights_and_keeps_one_group(void)
{
    const char *out = tmp("heads-nodata.gguf");
    slm_prune_stats stats;
    slm_prune_params p = params("heads", 0.9f); /* rounds to both groups: one is kept anyway */
    p.data = NULL;
    p.stats = &stats;
    REQUIRE(slm_prune(model_path, out, &p) == SLM_OK, "prune: %s", slm_last_error());
    CHECK(stats.n_head_kv_out == 1 && stats.n_head_out == 2, "heads %u kv %u", stats.n_head_out,
          stats.n_head_kv_out);
    int32_t nv = 0;
    float *lg = logits_of(out, &nv);
    CHECK(lg && finite_all(lg, (size_t)nv * 4), "heads-pruned model does not decode: %s", slm_last_error());
    free(lg);
}

static void bad_arguments_give_arg_errors_and_no_file(void)
{
    const char *out = tmp("bad.gguf");
    remove(out);
    slm_prune_params p = params("bogus", 0.5f);
    CHECK(slm_prune(model_path, out, &p) == SLM_ERR_ARG, "unknown method");
    p = params("wanda", 0.5f);
    p.data = NULL;
    CHECK(slm_prune(model_path, out, &p) == SLM_ERR_ARG, "wanda without data");
    p = params("depth", 0.5f);
    p.data = NULL;
    CHECK(slm_prune(model_path, out, &p) == SLM_ERR_ARG, "depth without data");
    p = params("magnitude", 1.0f);
    CHECK(slm_prune(model_path, out, &p) == SLM_ERR_ARG, "ratio 1");
    p = params("magnitude", 0.5f);
    p.pattern_n = 4, p.pattern_m = 2;
    CHECK(slm_prune(model_path, out, &p) == SLM_ERR_ARG, "pattern 4:2");
    p = params("magnitude", 0.5f);
    p.pattern_n = 2, p.pattern_m = 5; /* rows of 64 and 128 */
    CHECK(slm_prune(model_path, out, &p) == SLM_ERR_UNSUPPORTED, "pattern 2:5: %s", slm_last_error());
    p = params("magnitude", 0.5f);
    CHECK(slm_prune(tmp("missing.gguf"), out, &p) == SLM_ERR_IO, "missing input");
    CHECK(access(out, F_OK) != 0, "an output file was left behind");
}

int main(void)
{
    snprintf(dir_buf, sizeof dir_buf, "%s/test_prune_tmp", SLM_BINARY_DIR);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir_buf);
    if (system(cmd) != 0) return 1;
    if (!make_inputs()) {
        fprintf(stderr, "cannot make the test model: %s\n", slm_last_error());
        return 1;
    }
    RUN(depth_pruned_model_has_right_block_count_and_decodes);
    RUN(two_four_pattern_holds_on_every_group);
    RUN(magnitude_ratio_is_exact_per_row);
    RUN(wanda_removes_smaller_activation_scores_than_it_keeps);
    RUN(pruning_zero_percent_is_the_identity);
    RUN(structured_ffn_reduces_n_ff_and_size_and_loads);
    RUN(quantized_input_is_requantized_with_the_pattern_kept);
    RUN(heads_pruning_keeps_the_stronger_kv_group_and_computes_the_masked_model);
    RUN(heads_pruning_without_data_ranks_by_weights_and_keeps_one_group);
    RUN(bad_arguments_give_arg_errors_and_no_file);
    return harness_finish();
}
