/* quantize.c — slm_quantize: a GGUF model in, a quantized GGUF out, the way
 * llama-quantize (llama.cpp v0.5.0, src/llama-quant.cpp) writes it, so the
 * same input and type give the same tensors, types and order.
 *
 * Owns: the tensor order, the per-tensor conversion (to F32 via the input
 * type's to_float, then the target type's imatrix-aware quantize, rows split
 * over the thread pool) and the metadata updates. The type decisions live in
 * quant/mix.c (shared with gen/random_model.c). Memory: the input stays
 * mapped; tensors are converted while the file is written (the GGUF
 * writer's lazy tensors), through per-thread F32 scratch of a few rows, so
 * at most one output tensor is in memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/pool.h"
#include "base/status.h"
#include "compress/imatrix.h"
#include "gguf/gguf.h"
#include "gguf/keys.h"
#include "quant/mix.h"
#include "quant/types.h"

#define QUANT_VERSION 2          /* GGML_QNT_VERSION */
#define CHUNK_FLOATS (32 * 512)  /* rows per work item: at least this many weights (llama.cpp) */

slm_quantize_params slm_quantize_default_params(void)
{
    slm_quantize_params p;
    memset(&p, 0, sizeof p);
    p.type = "Q4_K_M";
    return p;
}

/* ---- tensor order: llama.cpp's weights_map (layer, then name) ---- */

static int by_layer_then_name(const void *a, const void *b)
{
    const slm_gguf_tensor *x = *(const slm_gguf_tensor *const *)a, *y = *(const slm_gguf_tensor *const *)b;
    int lx = slm_mix_layer(x->name), ly = slm_mix_layer(y->name);
    if (lx != ly) return lx < ly ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* ---- one tensor, rows over the pool ---- */

typedef struct conv_job {
    const slm_type_traits *src_tr, *dst_tr;
    const uint8_t *src;
    uint8_t *dst;
    size_t src_row, dst_row;
    int64_t n_per_row, n_rows, rows_per_expert, rows_per_chunk;
    const float *imatrix; /* [n_expert][n_per_row] or NULL */
    float **scratch;      /* [nth] rows_per_chunk * n_per_row floats */
} conv_job;

static void conv_worker(void *ctx, int ith, int nth)
{
    const conv_job *j = ctx;
    float *f = j->scratch[ith];
    int64_t n_chunks = (j->n_rows + j->rows_per_chunk - 1) / j->rows_per_chunk;
    for (int64_t c = ith; c < n_chunks; c += nth) {
        int64_t r0 = c * j->rows_per_chunk;
        int64_t nr = j->n_rows - r0 < j->rows_per_chunk ? j->n_rows - r0 : j->rows_per_chunk;
        j->src_tr->to_float(j->src + (size_t)r0 * j->src_row, f, nr * j->n_per_row);
        /* a chunk may straddle two experts, each with its own importance row */
        for (int64_t r = r0; r < r0 + nr;) {
            int64_t e = r / j->rows_per_expert;
            int64_t end = (e + 1) * j->rows_per_expert;
            if (end > r0 + nr) end = r0 + nr;
            const float *im = j->imatrix ? j->imatrix + e * j->n_per_row : NULL;
            j->dst_tr->quantize(f + (r - r0) * j->n_per_row, j->dst + (size_t)r * j->dst_row, end - r,
                                j->n_per_row, im);
            r = end;
        }
    }
}

/* A tensor to convert while the file is written. */
typedef struct qtensor {
    const slm_gguf_tensor *src;
    slm_type to;
    const float *imatrix; /* [n_expert][ne0] or NULL */
} qtensor;

typedef struct qctx {
    slm_gguf *in;
    slm_gguf_writer *w;
    slm_pool *pool;
    float **scratch;
    size_t scratch_floats;
    int nth;
    qtensor *jobs;        /* [n_tensors]; the fill callback's user data */
    const slm_quantize_params *p;
    uint64_t done, total; /* elements, for progress */
    int64_t i_done, n_t;
} qctx;

static slm_status ensure_scratch(qctx *q, size_t floats)
{
    if (floats <= q->scratch_floats) return SLM_OK;
    for (int i = 0; i < q->nth; i++) {
        slm_free(q->scratch[i]);
        q->scratch[i] = slm_alloc(floats * sizeof(float));
        if (!q->scratch[i]) {
            q->scratch_floats = 0;
            return slm_fail(SLM_ERR_NOMEM, "quantize: cannot allocate %zu floats of scratch", floats);
        }
    }
    q->scratch_floats = floats;
    return SLM_OK;
}

/* Convert tensor t to type `to` into dst (nbytes, checked by the caller). */
static slm_status convert(qctx *q, const slm_gguf_tensor *t, slm_type to, const float *imatrix, uint8_t *dst)
{
    slm_status st = SLM_OK;
    const slm_type_traits *src_tr = slm_type_traits_get(t->type), *dst_tr = slm_type_traits_get(to);
    int64_t n_per_row = t->ne[0];
    int64_t n_rows = t->ne[1] * t->ne[2] * t->ne[3];
    if (n_rows > 0) {
        conv_job j;
        j.src_tr = src_tr;
        j.dst_tr = dst_tr;
        j.src = t->data;
        j.dst = dst;
        j.src_row = slm_type_row_size(t->type, n_per_row);
        j.dst_row = slm_type_row_size(to, n_per_row);
        j.n_per_row = n_per_row;
        j.n_rows = n_rows;
        j.rows_per_expert = t->ne[1] > 0 ? t->ne[1] : 1;
        j.rows_per_chunk = n_per_row >= CHUNK_FLOATS ? 1 : (CHUNK_FLOATS + n_per_row - 1) / n_per_row;
        j.imatrix = imatrix;
        SLM_TRY(ensure_scratch(q, (size_t)(j.rows_per_chunk * n_per_row)));
        j.scratch = q->scratch;
        slm_pool_run(q->pool, conv_worker, &j);
    }
fail:
    return st;
}

static void progress(qctx *q, const slm_gguf_tensor *t, slm_type to, slm_status *st)
{
    q->done += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
    q->i_done++;
    if (q->p->progress && q->p->progress(q->done, q->total, t->name, to, q->p->user))
        *st = slm_fail(SLM_ERR_CANCELLED, "quantize: cancelled after tensor '%s'", t->name);
}

/* The writer's fill callback: convert one tensor into the file buffer. */
static slm_status fill_tensor(void *user, const char *name, void *dst, uint64_t nbytes)
{
    qctx *q = user;
    slm_status st = SLM_OK;
    (void)nbytes;
    const qtensor *j = NULL;
    for (int64_t i = q->i_done; i < q->n_t && !j; i++)
        if (q->jobs[i].src && strcmp(q->jobs[i].src->name, name) == 0) j = &q->jobs[i];
    SLM_CHECK(j != NULL, SLM_ERR_ARG, "quantize: internal: no job for tensor '%s'", name);
    SLM_TRY(convert(q, j->src, j->to, j->imatrix, dst));
    progress(q, j->src, j->to, &st);
fail:
    return st;
}

/* ---- model facts the mix rules need ---- */

static int get_int(const slm_gguf *g, const char *arch, const char *suffix, int dflt)
{
    char key[256];
    uint32_t v;
    snprintf(key, sizeof key, "%s%s", arch, suffix);
    return slm_gguf_get_u32(g, key, &v) == SLM_OK && v <= 1u << 30 ? (int)v : dflt;
}

static void model_facts(const slm_gguf *g, slm_mix_model *mm)
{
    const char *s;
    size_t n;
    char arch[128] = "llama";
    if (slm_gguf_get_str(g, SLM_KEY_ARCHITECTURE, &s, &n) == SLM_OK && n < sizeof arch) {
        memcpy(arch, s, n);
        arch[n] = '\0';
    }
    memset(mm, 0, sizeof *mm);
    mm->n_layer = get_int(g, arch, SLM_KEY_SUFFIX_N_LAYER, 0);
    int n_head = get_int(g, arch, SLM_KEY_SUFFIX_N_HEAD, 0);
    int n_head_kv = get_int(g, arch, SLM_KEY_SUFFIX_N_HEAD_KV, n_head);
    mm->n_gqa = n_head_kv > 0 ? n_head / n_head_kv : 0;
    mm->n_expert = get_int(g, arch, SLM_KEY_SUFFIX_N_EXPERT, 0);
    mm->falcon = strcmp(arch, "falcon") == 0;
    mm->tied = slm_gguf_find_tensor(g, "output.weight") == NULL;
    for (int64_t i = 0; i < slm_gguf_n_tensors(g); i++) {
        const char *name = slm_gguf_tensor_at(g, i)->name;
        if (strstr(name, "attn_v.weight") || strstr(name, "attn_qkv.weight") || strstr(name, "attn_kv_b.weight"))
            mm->n_attn_v++;
    }
}

static const char *known_types(char *buf, size_t cap)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < slm_mix_count() && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%s", i ? ", " : "", slm_mix_at(i)->name);
    return buf;
}

slm_status slm_quantize(const char *in_path, const char *out_path, const slm_quantize_params *p)
{
    slm_status st = SLM_OK;
    qctx q;
    memset(&q, 0, sizeof q);
    slm_imatrix *im = NULL;
    const slm_gguf_tensor **order = NULL;
    slm_quantize_stats stats;
    memset(&stats, 0, sizeof stats);
    slm_quantize_params dp = slm_quantize_default_params();
    if (!p) p = &dp;
    slm_error_clear();
    SLM_CHECK(in_path && out_path, SLM_ERR_ARG, "quantize: NULL path");
    char list[512];
    const slm_mix *mix = slm_mix_find(p->type);
    SLM_CHECK(mix != NULL, SLM_ERR_ARG, "quantize: type '%s' unknown (expected one of %s)",
              p->type ? p->type : "(null)", known_types(list, sizeof list));

    SLM_TRY(slm_gguf_open(in_path, 1, &q.in));
    if (p->imatrix) SLM_TRY(slm_imatrix_read(p->imatrix, &im));

    slm_mix_model mm;
    model_facts(q.in, &mm);
    mm.has_imatrix = im != NULL;
    slm_mix_opts opts = {p->pure, p->keep_output_f16 ? SLM_TYPE_F16 : SLM_TYPE_COUNT, SLM_TYPE_COUNT};

    int64_t n_t = slm_gguf_n_tensors(q.in);
    order = slm_calloc(n_t > 0 ? (size_t)n_t : 1, sizeof *order);
    SLM_CHECK(order != NULL, SLM_ERR_NOMEM, "quantize: cannot allocate the tensor list (%lld)", (long long)n_t);
    q.jobs = slm_calloc(n_t > 0 ? (size_t)n_t : 1, sizeof *q.jobs);
    SLM_CHECK(q.jobs != NULL, SLM_ERR_NOMEM, "quantize: cannot allocate the tensor list (%lld)", (long long)n_t);
    q.p = p;
    q.n_t = n_t;
    uint64_t total = 0;
    for (int64_t i = 0; i < n_t; i++) {
        order[i] = slm_gguf_tensor_at(q.in, i);
        total += (uint64_t)(order[i]->ne[0] * order[i]->ne[1] * order[i]->ne[2] * order[i]->ne[3]);
    }
    qsort(order, (size_t)n_t, sizeof *order, by_layer_then_name);

    SLM_TRY(slm_pool_new(p->n_threads, &q.pool));
    q.nth = slm_pool_n_threads(q.pool);
    q.scratch = slm_calloc((size_t)q.nth, sizeof *q.scratch);
    SLM_CHECK(q.scratch != NULL, SLM_ERR_NOMEM, "quantize: cannot allocate scratch pointers");

    /* metadata: everything copied, then the two keys llama-quantize sets
     * (gguf_set_val removes a key and appends it: they move to the end) */
    SLM_TRY(slm_gguf_writer_new(&q.w));
    for (int64_t i = 0; i < slm_gguf_n_kv(q.in); i++) {
        const char *key = slm_gguf_key(q.in, i);
        if (strcmp(key, SLM_KEY_QUANT_VERSION) == 0 || strcmp(key, SLM_KEY_FILE_TYPE) == 0) continue;
        SLM_TRY(slm_gguf_copy_kv(q.w, q.in, i));
    }
    SLM_TRY(slm_gguf_set_u32(q.w, SLM_KEY_QUANT_VERSION, QUANT_VERSION));
    SLM_TRY(slm_gguf_set_u32(q.w, SLM_KEY_FILE_TYPE, mix->file_type));

    /* decide every type and add the tensors; conversion happens during the
     * write (fill_tensor), one tensor in memory at a time */
    for (int64_t i = 0; i < n_t; i++) {
        const slm_gguf_tensor *t = order[i];
        slm_type to = slm_mix_tensor_type(mix, &mm, &opts, t->name, t->n_dims, t->type, t->ne[0], &stats.n_fallback);
        SLM_CHECK(to != SLM_TYPE_COUNT, SLM_ERR_UNSUPPORTED,
                  "quantize: tensor '%s': rows of %lld elements fit no fallback of type %s", t->name,
                  (long long)t->ne[0], slm_type_name(mix->base));
        uint64_t bytes = t->nbytes;
        if (to == t->type) {
            SLM_TRY(slm_gguf_add_tensor(q.w, t->name, to, t->n_dims, t->ne, t->data, bytes));
        } else {
            const float *imv = NULL;
            const slm_imatrix_entry *e = im ? slm_imatrix_find(im, t->name) : NULL;
            if (im && !e) slm_log(1, "quantize: no importance data for %s", t->name);
            if (e) {
                if (e->n == t->ne[0] * t->ne[2]) {
                    imv = e->values;
                    stats.n_imatrix++;
                } else {
                    /* llama.cpp tolerates this only for the token embedding */
                    SLM_CHECK(strcmp(t->name, "token_embd.weight") == 0, SLM_ERR_FORMAT,
                              "quantize: imatrix '%s': entry '%s' has %lld values, expected %lld", p->imatrix,
                              t->name, (long long)e->n, (long long)(t->ne[0] * t->ne[2]));
                }
            }
            SLM_CHECK(imv || !(mix->file_type == 21 && to == SLM_TYPE_Q2_K &&
                               strcmp(t->name, "token_embd.weight") && strcmp(t->name, "output.weight")),
                      SLM_ERR_ARG, "quantize: Q2_K_S needs an importance matrix (tensor '%s')", t->name);
            const slm_type_traits *src_tr = slm_type_traits_get(t->type), *dst_tr = slm_type_traits_get(to);
            SLM_CHECK(src_tr && src_tr->to_float, SLM_ERR_UNSUPPORTED, "quantize: tensor '%s': cannot read type %s",
                      t->name, slm_type_name(t->type) ? slm_type_name(t->type) : "?");
            SLM_CHECK(dst_tr && dst_tr->quantize, SLM_ERR_UNSUPPORTED,
                      "quantize: tensor '%s': cannot write type %s", t->name,
                      slm_type_name(to) ? slm_type_name(to) : "?");
            size_t row = slm_type_row_size(to, t->ne[0]);
            SLM_CHECK(row != 0 && slm_u64_mul(row, (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]), &bytes),
                      SLM_ERR_UNSUPPORTED, "quantize: tensor '%s': rows of %lld do not fit type %s", t->name,
                      (long long)t->ne[0], slm_type_name(to));
            if (src_tr->is_quantized)
                slm_log(1, "quantize: requantizing %s from %s to %s loses quality", t->name,
                        slm_type_name(t->type), slm_type_name(to));
            q.jobs[i] = (qtensor){t, to, imv};
            q.total += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
            SLM_TRY(slm_gguf_add_tensor_lazy(q.w, t->name, to, t->n_dims, t->ne, bytes, fill_tensor, &q));
            stats.n_converted++;
        }
        stats.in_bytes += t->nbytes;
        stats.out_bytes += bytes;
        stats.n_tensors++;
        slm_log(3, "quantize: [%4lld/%4lld] %-32s %-6s -> %-6s %10llu -> %10llu bytes", (long long)i + 1,
                (long long)n_t, t->name, slm_type_name(t->type), slm_type_name(to),
                (unsigned long long)t->nbytes, (unsigned long long)bytes);
    }
    stats.n_elements = total;
    SLM_TRY(slm_gguf_writer_write(q.w, out_path));
    if (stats.n_fallback)
        slm_log(1, "quantize: %d of %lld tensors required a fallback type (row length)", stats.n_fallback,
                (long long)n_t);
    if (p->stats) *p->stats = stats;

fail:
    slm_gguf_writer_free(q.w);
    slm_free(q.jobs);
    if (q.scratch)
        for (int i = 0; i < q.nth; i++) slm_free(q.scratch[i]);
    slm_free(q.scratch);
    slm_pool_free(q.pool);
    slm_free(order);
    slm_imatrix_free(im);
    slm_gguf_close(q.in);
    return st;
}
