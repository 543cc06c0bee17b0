/* session.c — sessions: a KV cache and scratch (model/kvcache.c) bound to a
 * model, the position counter, and the logits of the last decode call.
 * Decode validates ids and room first (nothing changes on error), then runs
 * the forward pass in chunks of n_batch tokens. The decode loop allocates
 * nothing, except growing the logits_all buffer when one call holds more
 * than n_batch tokens. slm_decode_multi packs several sessions' tokens into
 * one forward (continuous batching); slm_session_embed returns pooled
 * final-norm hidden states.
 */
#include <math.h>
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
    /* slm_decode_multi scratch, used when this session's state runs the
     * step; grown at warm-up, then reused (the step allocates nothing): */
    slm_seq *segs;          /* [segs_cap] */
    size_t segs_cap;
    float *mlogits;         /* [mlogits_rows][n_vocab] output rows of one step */
    size_t mlogits_rows;
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
    slm_free(s->segs);
    slm_free_aligned(s->mlogits);
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

/* Grow s's logits to hold n rows (logits_all sessions). */
static slm_status ensure_logits(slm_session *s, size_t n)
{
    if (!s->logits_all || n <= s->logits_cap) return SLM_OK;
    float *nl = slm_alloc_aligned(n * s->m->hp.n_vocab * sizeof(float), 64);
    if (!nl) return slm_fail(SLM_ERR_NOMEM, "cannot allocate logits for %zu rows", n);
    slm_free_aligned(s->logits);
    s->logits = nl;
    s->logits_cap = n;
    return SLM_OK;
}

/* Pack the pending tokens of the k sessions into steps of at most nb rows,
 * in session order (a session that does not fit continues in the next
 * step). With run 0 only count: *max_segs and *max_out receive the largest
 * number of sequences and of output rows in one step. With run 1, w's
 * segs/mlogits are large enough: run each step on w's scratch and copy the
 * output rows to each session's logits. */
static void multi_steps(slm_session *w, slm_session *const *ss, const int32_t *const *ids,
                        const size_t *n_ids, size_t k, uint32_t nb, int run, size_t *max_segs,
                        size_t *max_out)
{
    const size_t n_vocab = w->m->hp.n_vocab;
    size_t i = 0, done = 0; /* next token: ids[i][done] */
    while (i < k && n_ids[i] == 0) i++;
    while (i < k) {
        size_t n_seg = 0, n_out = 0, used = 0;
        const size_t i0 = i, done0 = done;
        while (i < k && used < nb) {
            const slm_session *s = ss[i];
            const size_t rem = n_ids[i] - done;
            const uint32_t c = (uint32_t)(rem < nb - used ? rem : nb - used);
            const int last = done + c == n_ids[i];
            const uint32_t first_out = s->logits_all ? 0 : last ? c - 1 : c;
            if (run)
                /* n_past already counts this call's earlier steps */
                w->segs[n_seg] = (slm_seq){s->st, ids[i] + done, c, s->n_past, first_out};
            n_seg++;
            n_out += c - first_out;
            used += c;
            done += c;
            if (last) {
                done = 0;
                do i++; while (i < k && n_ids[i] == 0);
            }
        }
        if (!run) {
            if (n_seg > *max_segs) *max_segs = n_seg;
            if (n_out > *max_out) *max_out = n_out;
            continue;
        }
        slm_forward_seqs(w->st, w->segs, (uint32_t)n_seg, n_out ? w->mlogits : NULL);
        /* hand each sequence its output rows; positions advance */
        const float *src = w->mlogits;
        size_t si = i0, sd = done0;
        for (size_t q = 0; q < n_seg; q++) {
            while (n_ids[si] == 0) si++;
            slm_session *s = ss[si];
            const slm_seq *sg = &w->segs[q];
            const size_t n_rows_out = sg->n - sg->first_out;
            float *dst = s->logits_all ? s->logits + (sd + sg->first_out) * n_vocab : s->logits;
            if (n_rows_out) memcpy(dst, src, n_rows_out * n_vocab * sizeof(float));
            src += n_rows_out * n_vocab;
            s->n_past += sg->n;
            sd += sg->n;
            if (sd == n_ids[si]) {
                sd = 0;
                si++;
            }
        }
    }
}

slm_status slm_decode_multi(slm_session *const *sessions, const int32_t *const *ids,
                            const size_t *n_ids, size_t n_sessions)
{
    slm_status st = SLM_OK;
    slm_error_clear();
    if (n_sessions == 0) return SLM_OK;
    SLM_CHECK(sessions && ids && n_ids, SLM_ERR_ARG, "slm_decode_multi: NULL argument");
    slm_session *w = NULL; /* the session whose scratch runs the steps */
    for (size_t i = 0; i < n_sessions; i++) {
        slm_session *s = sessions[i];
        SLM_CHECK(s, SLM_ERR_ARG, "slm_decode_multi: session %zu is NULL", i);
        SLM_CHECK(s->m == sessions[0]->m, SLM_ERR_ARG,
                  "slm_decode_multi: session %zu belongs to model %s, session 0 to %s", i, s->m->path,
                  sessions[0]->m->path);
        for (size_t j = 0; j < i; j++)
            SLM_CHECK(sessions[j] != s, SLM_ERR_ARG,
                      "slm_decode_multi: sessions %zu and %zu are the same session", j, i);
        SLM_CHECK(ids[i] || n_ids[i] == 0, SLM_ERR_ARG, "slm_decode_multi: session %zu: NULL ids",
                  i);
        const uint32_t n_vocab = s->m->hp.n_vocab;
        for (size_t t = 0; t < n_ids[i]; t++)
            SLM_CHECK(ids[i][t] >= 0 && (uint32_t)ids[i][t] < n_vocab, SLM_ERR_ARG,
                      "session %zu, token %zu of %zu: id %d outside the vocabulary [0, %u)", i, t,
                      n_ids[i], ids[i][t], n_vocab);
        SLM_CHECK(n_ids[i] <= s->st->n_ctx - s->n_past, SLM_ERR_FULL,
                  "session %zu: %zu tokens do not fit: %u of n_ctx %u positions used", i, n_ids[i],
                  s->n_past, s->st->n_ctx);
        /* the attention scratch is sized by n_ctx: the largest runs the step */
        if (n_ids[i] && (!w || s->st->n_ctx > w->st->n_ctx)) w = s;
    }
    if (!w) return SLM_OK;
    /* size everything first, so a failure changes nothing */
    size_t max_segs = 0, max_out = 0;
    multi_steps(w, sessions, ids, n_ids, n_sessions, w->st->n_batch, 0, &max_segs, &max_out);
    if (max_segs > w->segs_cap) {
        slm_seq *ns = slm_alloc(max_segs * sizeof *ns);
        SLM_CHECK(ns, SLM_ERR_NOMEM, "slm_decode_multi: cannot allocate %zu sequences", max_segs);
        slm_free(w->segs);
        w->segs = ns;
        w->segs_cap = max_segs;
    }
    if (max_out > w->mlogits_rows) {
        float *nl = slm_alloc_aligned(max_out * w->m->hp.n_vocab * sizeof(float), 64);
        SLM_CHECK(nl, SLM_ERR_NOMEM, "slm_decode_multi: cannot allocate logits for %zu rows", max_out);
        slm_free_aligned(w->mlogits);
        w->mlogits = nl;
        w->mlogits_rows = max_out;
    }
    for (size_t i = 0; i < n_sessions; i++) SLM_TRY(ensure_logits(sessions[i], n_ids[i]));
    for (size_t i = 0; i < n_sessions; i++)
        if (n_ids[i]) {
            sessions[i]->last = NULL;
            sessions[i]->n_rows = 0;
        }
    multi_steps(w, sessions, ids, n_ids, n_sessions, w->st->n_batch, 1, NULL, NULL);
    for (size_t i = 0; i < n_sessions; i++) {
        slm_session *s = sessions[i];
        if (!n_ids[i]) continue;
        s->n_rows = s->logits_all ? n_ids[i] : 0;
        s->last = s->logits_all ? s->logits + (n_ids[i] - 1) * s->m->hp.n_vocab : s->logits;
    }
    return SLM_OK;
fail:
    return st;
}

const float *slm_session_last_logits(const slm_session *s) { return s ? s->last : NULL; }

slm_status slm_session_embed(slm_session *s, const int32_t *ids, size_t n, slm_pooling pooling,
                             int normalize, float *out)
{
    slm_status st = SLM_OK;
    slm_error_clear();
    SLM_CHECK(s && ids && out, SLM_ERR_ARG, "slm_session_embed: NULL argument");
    SLM_CHECK(pooling == SLM_POOLING_MEAN || pooling == SLM_POOLING_LAST, SLM_ERR_ARG,
              "slm_session_embed: pooling %d is not MEAN (0) or LAST (1)", (int)pooling);
    SLM_CHECK(n > 0, SLM_ERR_ARG, "slm_session_embed: no tokens to embed");
    const uint32_t n_vocab = s->m->hp.n_vocab;
    for (size_t i = 0; i < n; i++)
        SLM_CHECK(ids[i] >= 0 && (uint32_t)ids[i] < n_vocab, SLM_ERR_ARG,
                  "token %zu of %zu: id %d outside the vocabulary [0, %u)", i, n, ids[i], n_vocab);
    SLM_CHECK(n <= s->st->n_ctx, SLM_ERR_FULL, "%zu tokens do not fit in n_ctx %u", n,
              s->st->n_ctx);
    const size_t E = s->m->hp.n_embd;
    s->n_past = 0;
    s->last = NULL;
    s->n_rows = 0;
    memset(out, 0, E * sizeof(float));
    const uint32_t nb = s->st->n_batch;
    for (size_t i = 0; i < n; i += nb) {
        const uint32_t c = (uint32_t)(n - i < nb ? n - i : nb);
        const int last_chunk = i + c == n;
        const uint32_t first_out = pooling == SLM_POOLING_MEAN ? 0 : last_chunk ? c - 1 : c;
        const slm_seq sg = {s->st, ids + i, c, s->n_past, first_out};
        slm_forward_seqs(s->st, &sg, 1, NULL);
        for (uint32_t r = 0; r < c - first_out; r++) {
            const float *h = s->st->h + (size_t)r * E;
            for (size_t j = 0; j < E; j++) out[j] += h[j];
        }
        s->n_past += c;
    }
    if (pooling == SLM_POOLING_MEAN)
        for (size_t j = 0; j < E; j++) out[j] /= (float)n;
    if (normalize) {
        double ss = 0.0;
        for (size_t j = 0; j < E; j++) ss += (double)out[j] * out[j];
        if (ss > 0.0) {
            const float inv = (float)(1.0 / sqrt(ss));
            for (size_t j = 0; j < E; j++) out[j] *= inv;
        }
    }
    return SLM_OK;
fail:
    return st;
}
