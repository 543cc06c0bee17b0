/* perplexity.c — slm_perplexity: llama-perplexity's measurement (llama.cpp
 * v0.5.0 tools/perplexity, perplexity()): whole-file tokenization,
 * non-overlapping chunks of n_ctx tokens each evaluated from an empty cache
 * with BOS in place of its first token, and only the second half of each
 * chunk scored. Optionally saves the scored log-probabilities and/or compares
 * them with a base model's (kld.c).
 *
 * Memory: the text and its tokens, one chunk's logits (the session's), and
 * one row of log-probabilities; saved files are streamed.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "base/alloc.h"
#include "base/status.h"
#include "eval/kld.h"
#include "eval/text.h"

slm_perplexity_params slm_perplexity_default_params(void)
{
    slm_perplexity_params p;
    memset(&p, 0, sizeof p);
    p.n_ctx = 512;
    return p;
}

/* Read a plain or gzip file (zlib reads both), at most max_bytes (0 = all). */
static slm_status read_text(const char *path, uint64_t max_bytes, char **out, size_t *len)
{
    slm_status st = SLM_OK;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    gzFile f = gzopen(path, "rb");
    SLM_CHECK(f != NULL, SLM_ERR_IO, "perplexity: data file '%s': cannot open", path);
    for (;;) {
        if (n + 65536 + 1 > cap) {
            size_t nc = cap ? cap * 2 : 1 << 20;
            char *nb = slm_realloc(buf, nc);
            SLM_CHECK(nb != NULL, SLM_ERR_NOMEM, "perplexity: data file '%s': cannot allocate %zu bytes", path, nc);
            buf = nb;
            cap = nc;
        }
        unsigned want = 65536;
        if (max_bytes && n + want > max_bytes) want = (unsigned)(max_bytes - n);
        if (want == 0) break;
        int got = gzread(f, buf + n, want);
        SLM_CHECK(got >= 0, SLM_ERR_IO, "perplexity: data file '%s': read error", path);
        if (got == 0) break;
        n += (size_t)got;
    }
    gzclose(f);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return SLM_OK;
fail:
    if (f) gzclose(f);
    slm_free(buf);
    return st;
}

slm_status slm_eval_tokenize_file(const slm_model *m, const char *path, uint64_t max_bytes, int32_t **tokens,
                                  size_t *n_tokens)
{
    slm_status st = SLM_OK;
    char *text = NULL;
    int32_t *tok = NULL;
    size_t len = 0, n = 0;
    *tokens = NULL;
    *n_tokens = 0;
    SLM_TRY(read_text(path, max_bytes, &text, &len));
    size_t cap = len + 16; /* a byte never gives more than one token */
    tok = slm_alloc(cap * sizeof *tok);
    SLM_CHECK(tok != NULL, SLM_ERR_NOMEM, "'%s': cannot allocate %zu tokens", path, cap);
    st = slm_tokenize(m, text, len, 1, 0, tok, cap, &n);
    if (st == SLM_ERR_FULL) {
        slm_free(tok);
        cap = n;
        tok = slm_alloc(cap * sizeof *tok);
        SLM_CHECK(tok != NULL, SLM_ERR_NOMEM, "'%s': cannot allocate %zu tokens", path, cap);
        st = slm_tokenize(m, text, len, 1, 0, tok, cap, &n);
    }
    SLM_TRY(st);
    slm_free(text);
    *tokens = tok;
    *n_tokens = n;
    return SLM_OK;
fail:
    slm_free(text);
    slm_free(tok);
    return st;
}

/* log-softmax of one row of logits, in double for the sum. */
static void log_softmax(const float *logits, float *lp, int32_t n)
{
    float mx = logits[0];
    for (int32_t i = 1; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) sum += exp((double)logits[i] - mx);
    double lse = (double)mx + log(sum);
    for (int32_t i = 0; i < n; i++) lp[i] = (float)((double)logits[i] - lse);
}

slm_status slm_perplexity(slm_model *m, const char *data_path, const slm_perplexity_params *p,
                          slm_perplexity_result *out)
{
    slm_status st = SLM_OK;
    size_t n_tok = 0;
    int32_t *tok = NULL, *base_tok = NULL;
    float *lp = NULL, *base_lp = NULL, *cur_lp = NULL;
    uint16_t *scratch = NULL;
    uint32_t base_format = SLM_LOGP_F32;
    const uint32_t save_format = p && p->save_f32 ? SLM_LOGP_F32 : SLM_LOGP_F16;
    slm_session *s = NULL;
    FILE *save = NULL, *base = NULL;
    slm_kld_acc acc;
    memset(&acc, 0, sizeof acc);
    slm_perplexity_params dp = slm_perplexity_default_params();
    if (!p) p = &dp;
    slm_error_clear();
    SLM_CHECK(m && data_path && out, SLM_ERR_ARG, "perplexity: NULL argument");
    memset(out, 0, sizeof *out);
    const uint32_t n_ctx = p->n_ctx;
    SLM_CHECK(n_ctx >= 4, SLM_ERR_ARG, "perplexity: n_ctx %u, expected >= 4", n_ctx);
    const int32_t n_vocab = slm_model_n_vocab(m);

    SLM_TRY(slm_eval_tokenize_file(m, data_path, p->max_bytes, &tok, &n_tok));
    out->text_tokens = n_tok;
    SLM_CHECK(n_tok >= 2 * (size_t)n_ctx, SLM_ERR_ARG,
              "perplexity: '%s' gives %zu tokens; a context of %u needs at least %u (two chunks)", data_path, n_tok,
              n_ctx, 2 * n_ctx);
    uint32_t n_chunk = (uint32_t)(n_tok / n_ctx);
    if (p->n_chunks && p->n_chunks < n_chunk) n_chunk = p->n_chunks;
    const uint32_t first = n_ctx / 2;

    if (p->kl_base) {
        slm_logp_header h;
        base = fopen(p->kl_base, "rb");
        SLM_CHECK(base != NULL, SLM_ERR_IO, "perplexity: base logits '%s': cannot open", p->kl_base);
        SLM_TRY(slm_logp_read_header(base, p->kl_base, &h, &base_tok));
        SLM_CHECK(h.n_vocab == (uint32_t)n_vocab && h.n_ctx == n_ctx, SLM_ERR_FORMAT,
                  "perplexity: base logits '%s': n_vocab %u, n_ctx %u; this run has n_vocab %d, n_ctx %u",
                  p->kl_base, h.n_vocab, h.n_ctx, n_vocab, n_ctx);
        if (h.n_chunk < n_chunk) n_chunk = h.n_chunk;
        base_format = h.format;
        for (size_t i = 0; i < (size_t)n_chunk * n_ctx; i++)
            SLM_CHECK(base_tok[i] == tok[i], SLM_ERR_FORMAT,
                      "perplexity: base logits '%s': token %zu is %d, this run's is %d (different text or tokenizer)",
                      p->kl_base, i, base_tok[i], tok[i]);
        base_lp = slm_alloc((size_t)n_vocab * sizeof *base_lp);
        cur_lp = slm_alloc((size_t)n_vocab * sizeof *cur_lp);
        SLM_CHECK(base_lp && cur_lp, SLM_ERR_NOMEM, "perplexity: cannot allocate a row");
    }
    if (p->save_logits) {
        save = fopen(p->save_logits, "wb");
        SLM_CHECK(save != NULL, SLM_ERR_IO, "perplexity: cannot create '%s'", p->save_logits);
        slm_logp_header h = {(uint32_t)n_vocab, n_ctx, n_chunk, save_format};
        SLM_TRY(slm_logp_write_header(save, p->save_logits, &h, tok));
    }

    slm_session_params sp = slm_session_default_params();
    sp.n_ctx = n_ctx;
    sp.n_batch = n_ctx;
    sp.n_threads = p->n_threads;
    sp.logits_all = 1;
    SLM_TRY(slm_session_new(m, &sp, &s));
    lp = slm_alloc((size_t)n_vocab * sizeof *lp);
    scratch = slm_alloc((size_t)n_vocab * sizeof *scratch);
    SLM_CHECK(lp && scratch, SLM_ERR_NOMEM, "perplexity: cannot allocate a row of %d", n_vocab);

    const int32_t bos = slm_token_bos(m);
    const int add_bos = n_tok > 0 && bos >= 0 && tok[0] == bos; /* the tokenizer added one */
    double nll = 0.0, nll2 = 0.0;
    uint64_t count = 0;
    for (uint32_t c = 0; c < n_chunk; c++) {
        int32_t *chunk = tok + (size_t)c * n_ctx;
        int32_t saved = chunk[0];
        if (add_bos) chunk[0] = bos;
        SLM_TRY(slm_session_truncate(s, 0));
        st = slm_session_decode(s, chunk, n_ctx, NULL);
        chunk[0] = saved;
        SLM_TRY(st);
        for (uint32_t j = first; j < n_ctx - 1; j++) {
            const float *logits = slm_session_logits(s, j);
            SLM_CHECK(logits != NULL, SLM_ERR_ARG, "perplexity: no logits for position %u", j);
            log_softmax(logits, lp, n_vocab);
            int32_t next = chunk[j + 1];
            double v = -(double)lp[next];
            nll += v;
            nll2 += v * v;
            count++;
            if (save) SLM_TRY(slm_logp_write_row(save, p->save_logits, save_format, lp, n_vocab, next, scratch));
            if (base) {
                SLM_TRY(slm_logp_read_row(base, p->kl_base, base_format, base_lp, n_vocab, next, scratch));
                memcpy(cur_lp, lp, (size_t)n_vocab * sizeof *cur_lp);
                if (base_format == SLM_LOGP_F16) slm_logp_round_f16(cur_lp, n_vocab, next, scratch);
                SLM_TRY(slm_kld_add(&acc, base_lp, cur_lp, n_vocab, next));
            }
        }
        if (p->progress && p->progress(c + 1, n_chunk, exp(nll / (double)count), p->user)) {
            st = slm_fail(SLM_ERR_CANCELLED, "perplexity: cancelled after chunk %u", c + 1);
            goto fail;
        }
    }
    /* llama.cpp: ppl = exp(mean), error = ppl * sqrt(var / (count - 1)) */
    double mean = nll / (double)count, var = nll2 / (double)count - mean * mean;
    out->nll = mean;
    out->nll_err = var > 0 && count > 1 ? sqrt(var / (double)(count - 1)) : 0.0;
    out->ppl = exp(mean);
    out->ppl_err = out->ppl * out->nll_err;
    out->n_ctx = n_ctx;
    out->chunks = n_chunk;
    out->tokens = count;
    if (base) slm_kld_finish(&acc, out);
    if (save) {
        int rc = fclose(save);
        save = NULL;
        SLM_CHECK(rc == 0, SLM_ERR_IO, "perplexity: closing '%s' failed", p->save_logits);
    }

fail:
    if (save) {
        fclose(save);
        remove(p->save_logits); /* no half-written file */
    }
    if (base) fclose(base);
    slm_kld_free(&acc);
    slm_session_free(s);
    slm_free(lp);
    slm_free(base_lp);
    slm_free(cur_lp);
    slm_free(scratch);
    slm_free(base_tok);
    slm_free(tok);
    return st;
}
