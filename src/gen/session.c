/* session.c — sessions: a KV cache and scratch (model/kvcache.c) bound to a
 * model, the position counter, and the logits of the last decode call.
 * Decode validates ids and room first (nothing changes on error), then runs
 * the forward pass in chunks of n_batch tokens. The decode loop allocates
 * nothing, except growing the logits_all buffer when one call holds more
 * than n_batch tokens.
 */
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "model/model.h"

#define SESSION_MAX_CTX (1u << 20)

struct slm_session {
    slm_model *m;
    slm_state *st;          /* KV cache + scratch + pool, owned */
    uint32_t n_past;        /* positions holding valid K/V */
    int logits_all;
    float *logits;          /* [logits_cap][n_vocab] */
    size_t logits_cap;      /* rows allocated */
    size_t n_rows;          /* rows valid from the last decode (logits_all) */
    const float *last;      /* last token's logits of the last decode, or NULL */
};

slm_session_params slm_session_default_params(void)
{
    slm_session_params p;
    memset(&p, 0, sizeof p);
    p.n_ctx = 0;
    p.n_batch = 512;
    p.n_threads = 0;
    p.kv_type = SLM_TYPE_F16;
    p.logits_all = 0;
    return p;
}

slm_status slm_session_new(slm_model *m, const slm_session_params *p, slm_session **out)
{
    slm_status st = SLM_OK;
    slm_session *s = NULL;
    slm_error_clear();
    if (out) *out = NULL;
    SLM_CHECK(m && out, SLM_ERR_ARG, "slm_session_new: model and out must not be NULL");
    SLM_CHECK(!m->vocab_only, SLM_ERR_ARG, "%s: loaded vocab_only, has no weights to run",
              m->path);
    slm_session_params dp = slm_session_default_params();
    if (!p) p = &dp;
    uint32_t n_ctx = p->n_ctx;
    if (n_ctx == 0) n_ctx = m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096;
    SLM_CHECK(n_ctx <= SESSION_MAX_CTX, SLM_ERR_ARG, "n_ctx %u exceeds the limit %u", n_ctx,
              SESSION_MAX_CTX);
    uint32_t n_batch = p->n_batch ? p->n_batch : 512;
    if (n_batch > n_ctx) n_batch = n_ctx;
    SLM_CHECK(p->kv_type == SLM_TYPE_F16 || p->kv_type == SLM_TYPE_F32, SLM_ERR_ARG,
              "kv_type %d is not supported (expected F16 or F32)", (int)p->kv_type);

    s = slm_calloc(1, sizeof *s);
    SLM_CHECK(s, SLM_ERR_NOMEM, "out of memory");
    s->m = m;
    s->logits_all = p->logits_all != 0;
    SLM_TRY(slm_state_new(m, n_ctx, n_batch, p->kv_type, p->n_threads, &s->st));
    s->logits_cap = s->logits_all ? n_batch : 1;
    s->logits = slm_alloc_aligned(s->logits_cap * m->hp.n_vocab * sizeof(float), 64);
    SLM_CHECK(s->logits, SLM_ERR_NOMEM, "cannot allocate logits for %zu rows of %u", s->logits_cap,
              m->hp.n_vocab);
    *out = s;
    return SLM_OK;
fail:
    slm_session_free(s);
    return st;
}

void slm_session_free(slm_session *s)
{
    if (!s) return;
    slm_state_free(s->st);
    slm_free_aligned(s->logits);
    slm_free(s);
}

slm_status slm_session_decode(slm_session *s, const int32_t *ids, size_t n, const float **logits)
{
    slm_status st = SLM_OK;
    slm_error_clear();
    if (logits) *logits = NULL;
    SLM_CHECK(s && (ids || n == 0), SLM_ERR_ARG, "slm_session_decode: NULL argument");
    const uint32_t n_vocab = s->m->hp.n_vocab;
    for (size_t i = 0; i < n; i++)
        SLM_CHECK(ids[i] >= 0 && (uint32_t)ids[i] < n_vocab, SLM_ERR_ARG,
                  "token %zu of %zu: id %d outside the vocabulary [0, %u)", i, n, ids[i], n_vocab);
    SLM_CHECK(n <= s->st->n_ctx - s->n_past, SLM_ERR_FULL,
              "%zu tokens do not fit: %u of n_ctx %u positions used", n, s->n_past, s->st->n_ctx);
    if (n == 0) return SLM_OK;
    if (s->logits_all && n > s->logits_cap) {
        float *nl = slm_alloc_aligned(n * n_vocab * sizeof(float), 64);
        SLM_CHECK(nl, SLM_ERR_NOMEM, "cannot allocate logits for %zu rows", n);
        slm_free_aligned(s->logits);
        s->logits = nl;
        s->logits_cap = n;
    }
    s->last = NULL;
    s->n_rows = 0;
    const uint32_t nb = s->st->n_batch;
    for (size_t i = 0; i < n; i += nb) {
        const uint32_t c = (uint32_t)(n - i < nb ? n - i : nb);
        const int last_chunk = i + c == n;
        if (s->logits_all)
            slm_forward(s->st, ids + i, c, s->n_past, 0, s->logits + i * n_vocab);
        else
            slm_forward(s->st, ids + i, c, s->n_past, last_chunk ? c - 1 : c, s->logits);
        s->n_past += c;
    }
    s->n_rows = s->logits_all ? n : 0;
    s->last = s->logits_all ? s->logits + (n - 1) * n_vocab : s->logits;
    if (logits) *logits = s->last;
    return SLM_OK;
fail:
    return st;
}

const float *slm_session_logits(const slm_session *s, size_t i)
{
    if (!s || !s->logits_all || i >= s->n_rows) return NULL;
    return s->logits + i * s->m->hp.n_vocab;
}

uint32_t slm_session_n_past(const slm_session *s) { return s ? s->n_past : 0; }
uint32_t slm_session_n_ctx(const slm_session *s) { return s ? s->st->n_ctx : 0; }

slm_status slm_session_truncate(slm_session *s, uint32_t pos)
{
    if (!s) return slm_fail(SLM_ERR_ARG, "slm_session_truncate: NULL session");
    if (pos < s->n_past) s->n_past = pos;
    s->n_rows = 0;
    s->last = NULL;
    return SLM_OK;
}

uint64_t slm_session_memory_bytes(const slm_session *s)
{
    if (!s) return 0;
    return s->st->kv_bytes + s->st->scratch_bytes +
           (uint64_t)s->logits_cap * s->m->hp.n_vocab * sizeof(float);
}
