/* imatrix_collect.c — slm_imatrix: activation statistics for the importance
 * matrix (llama.cpp tools/imatrix, legacy output). Runs the model's forward
 * pass directly on an slm_state with its matmul observer set, chunk by
 * chunk like slm_perplexity, and sums x^2 per input column of every layer
 * matrix (per expert for MoE expert tensors: n_in x n_expert values). The
 * file stores mean(x^2) x ncall with ncall = ceil(most rows seen by one
 * expert / n_ctx), as llama-imatrix does, so llama-quantize reads back the
 * mean.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "compress/imatrix.h"
#include "eval/text.h"
#include "model/model.h"

slm_imatrix_params slm_imatrix_default_params(void)
{
    slm_imatrix_params p;
    memset(&p, 0, sizeof p);
    p.n_ctx = 512;
    return p;
}

typedef struct col_stat {
    char name[96];
    double *sum;     /* [n_mat][n_in] sum of x^2 per column, per expert */
    uint64_t *rows;  /* [n_mat] activation rows seen, per expert */
    int64_t n_in;
    int n_mat;       /* 1, or n_expert for expert tensors */
} col_stat;

typedef struct collector {
    col_stat *s;
    int n, cap;
    int n_expert;
    slm_status st; /* first failure inside the callback */
} collector;

static col_stat *find_or_add(collector *c, const char *name, int64_t n_in, int n_mat)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->s[i].name, name) == 0)
            return c->s[i].n_in == n_in && c->s[i].n_mat == n_mat ? &c->s[i] : NULL;
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        col_stat *ns = slm_realloc(c->s, (size_t)cap * sizeof *ns);
        if (!ns) return NULL;
        c->s = ns;
        c->cap = cap;
    }
    col_stat *s = &c->s[c->n];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->sum = slm_calloc((size_t)n_in * (size_t)n_mat, sizeof *s->sum);
    s->rows = slm_calloc((size_t)n_mat, sizeof *s->rows);
    if (!s->sum || !s->rows) {
        slm_free(s->sum);
        slm_free(s->rows);
        return NULL;
    }
    s->n_in = n_in;
    s->n_mat = n_mat;
    c->n++;
    return s;
}

static void on_matmul(void *user, int layer, const char *tensor, int expert, const float *x, int64_t ld,
                      int64_t n_tok, int64_t n_in)
{
    collector *c = user;
    char name[96];
    if (c->st != SLM_OK) return;
    snprintf(name, sizeof name, "blk.%d.%s", layer, tensor);
    int n_mat = expert >= 0 ? c->n_expert : 1;
    col_stat *s = expert < n_mat ? find_or_add(c, name, n_in, n_mat) : NULL;
    if (!s) {
        c->st = slm_fail(SLM_ERR_NOMEM, "imatrix: cannot record '%s' (%lld columns, expert %d of %d)", name,
                         (long long)n_in, expert, c->n_expert);
        return;
    }
    int e = expert >= 0 ? expert : 0;
    double *sum = s->sum + (int64_t)e * n_in;
    for (int64_t t = 0; t < n_tok; t++) {
        const float *r = x + t * ld;
        for (int64_t j = 0; j < n_in; j++) sum[j] += (double)r[j] * r[j];
    }
    s->rows[e] += (uint64_t)n_tok;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const col_stat *)a)->name, ((const col_stat *)b)->name);
}

slm_status slm_imatrix_collect(slm_model *m, const char *data_path, const char *out_path,
                               const slm_imatrix_params *p)
{
    slm_status st = SLM_OK;
    int32_t *tok = NULL;
    size_t n_tok = 0;
    slm_state *s = NULL;
    collector c;
    memset(&c, 0, sizeof c);
    slm_imatrix out;
    memset(&out, 0, sizeof out);
    slm_imatrix_params dp = slm_imatrix_default_params();
    if (!p) p = &dp;
    slm_error_clear();
    SLM_CHECK(m && data_path && out_path, SLM_ERR_ARG, "imatrix: NULL argument");
    const uint32_t n_ctx = p->n_ctx;
    SLM_CHECK(n_ctx >= 2, SLM_ERR_ARG, "imatrix: n_ctx %u, expected >= 2", n_ctx);
    SLM_TRY(slm_eval_tokenize_file(m, data_path, p->max_bytes, &tok, &n_tok));
    SLM_CHECK(n_tok >= n_ctx, SLM_ERR_ARG, "imatrix: '%s' gives %zu tokens, fewer than one chunk of %u", data_path,
              n_tok, n_ctx);
    uint32_t n_chunk = (uint32_t)(n_tok / n_ctx);
    if (p->n_chunks && p->n_chunks < n_chunk) n_chunk = p->n_chunks;

    SLM_TRY(slm_state_new(m, n_ctx, n_ctx, SLM_TYPE_F16, p->n_threads, &s));
    c.n_expert = (int)m->hp.n_expert;
    s->observe = on_matmul;
    s->observe_user = &c;
    const int32_t bos = slm_token_bos(m);
    const int add_bos = bos >= 0 && tok[0] == bos;
    for (uint32_t k = 0; k < n_chunk; k++) {
        int32_t *chunk = tok + (size_t)k * n_ctx;
        int32_t saved = chunk[0];
        if (add_bos) chunk[0] = bos;
        slm_forward(s, chunk, n_ctx, 0, n_ctx, NULL); /* first_logit = n: no logits needed */
        chunk[0] = saved;
        SLM_TRY(c.st);
        if (p->progress && p->progress(k + 1, n_chunk, p->user)) {
            st = slm_fail(SLM_ERR_CANCELLED, "imatrix: cancelled after chunk %u", k + 1);
            goto fail;
        }
    }

    qsort(c.s, (size_t)c.n, sizeof *c.s, by_name); /* llama.cpp writes entries sorted by name */
    out.e = slm_calloc(c.n > 0 ? (size_t)c.n : 1, sizeof *out.e);
    SLM_CHECK(out.e != NULL, SLM_ERR_NOMEM, "imatrix: cannot allocate %d entries", c.n);
    for (int i = 0; i < c.n; i++) {
        const col_stat *cs = &c.s[i];
        slm_imatrix_entry *e = &out.e[out.n_entries++];
        uint64_t max_rows = 0;
        for (int k = 0; k < cs->n_mat; k++) max_rows = cs->rows[k] > max_rows ? cs->rows[k] : max_rows;
        e->name = (char *)cs->name; /* borrowed: out is not freed with slm_imatrix_free */
        e->n = cs->n_in * cs->n_mat;
        e->ncall = (int32_t)((max_rows + n_ctx - 1) / n_ctx);
        e->values = slm_alloc((size_t)e->n * sizeof *e->values);
        SLM_CHECK(e->values != NULL, SLM_ERR_NOMEM, "imatrix: cannot allocate %lld values", (long long)e->n);
        /* an expert no token reached gets 1s, as llama-imatrix stores for partial data */
        for (int k = 0; k < cs->n_mat; k++)
            for (int64_t j = 0; j < cs->n_in; j++)
                e->values[k * cs->n_in + j] =
                    cs->rows[k] ? (float)(cs->sum[k * cs->n_in + j] / (double)cs->rows[k]) : 1.0f;
    }
    out.last_chunk = (int32_t)n_chunk;
    out.dataset = (char *)data_path;
    SLM_TRY(slm_imatrix_write(&out, out_path));

fail:
    for (int i = 0; i < out.n_entries; i++) slm_free(out.e[i].values);
    slm_free(out.e);
    for (int i = 0; i < c.n; i++) {
        slm_free(c.s[i].sum);
        slm_free(c.s[i].rows);
    }
    slm_free(c.s);
    slm_state_free(s);
    slm_free(tok);
    return st;
}
