/* pretrain.c — slm_dna_pretrain: causal LM pretraining on genome windows.
 *
 * Owns the window sampler (random start, strand, N filter), the held-out
 * validation windows and the run loop. The model, its math, AdamW, the
 * checkpoint format, the loss-curve SVG and the GGUF export are
 * src/train's; the window RNG lives in the checkpoint's state, so a
 * resumed run continues bit-exactly as slm_train does.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/status.h"
#include "dna/fasta.h"
#include "dna/pretrain_int.h"
#include "gguf/gguf.h"
#include "train/train_data.h"

slm_dna_pretrain_params slm_dna_pretrain_default_params(void)
{
    slm_dna_pretrain_params p = {.train = slm_train_default_params(), .tokenizer = "nuc",
                                 .rc_prob = 0.5f, .max_n_frac = 0.1f, .val_bases = 1000000};
    p.train.n_steps = 2000;
    p.train.n_head_kv = 0; /* = n_head */
    return p;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- tokenizer ---- */

slm_status slm_dna_tok_open(const char *spec, const char *tmp_path, slm_dna_tok *t)
{
    slm_status st = SLM_OK;
    memset(t, 0, sizeof *t);
    const char *path = spec;
    if (strcmp(spec, "nuc") == 0 || strncmp(spec, "kmer:", 5) == 0) {
        SLM_TRY(slm_dna_tokenizer_write(spec, tmp_path));
        path = tmp_path;
        t->tmp = 1;
    }
    size_t n = strlen(path);
    t->path = slm_alloc(n + 1);
    SLM_CHECK(t->path, SLM_ERR_NOMEM, "dna tokenizer: out of memory");
    memcpy(t->path, path, n + 1);
    SLM_TRY(slm_gguf_open(path, 1, &t->file));
    st = slm_vocab_load(t->file, &t->vocab);
    if (st != SLM_OK) {
        slm_error_prefix(path);
        goto fail;
    }
    t->bos = slm_vocab_bos(t->vocab);
    SLM_CHECK(t->bos >= 0, SLM_ERR_ARG, "%s: the tokenizer has no BOS token", path);
    /* one token per base? then windows are mapped directly */
    t->direct = 1;
    for (int i = 0; i < 5; i++) {
        const char b = "ACGTN"[i];
        int32_t ids[4];
        size_t got = 0;
        if (slm_vocab_tokenize(t->vocab, &b, 1, 0, 0, ids, 4, &got) != SLM_OK || got != 1) {
            t->direct = 0;
            break;
        }
        t->map[(unsigned char)b] = ids[0];
    }
    if (t->direct) { /* a 2-mer must stay two tokens */
        int32_t ids[4];
        size_t got = 0;
        if (slm_vocab_tokenize(t->vocab, "AC", 2, 0, 0, ids, 4, &got) != SLM_OK || got != 2)
            t->direct = 0;
    }
    slm_error_clear();
    return SLM_OK;
fail:
    slm_dna_tok_close(t);
    return st;
}

void slm_dna_tok_close(slm_dna_tok *t)
{
    if (!t) return;
    slm_vocab_free(t->vocab);
    slm_gguf_close(t->file);
    if (t->tmp && t->path) remove(t->path);
    slm_free(t->path);
    memset(t, 0, sizeof *t);
}

slm_status slm_dna_tok_encode(const slm_dna_tok *t, const char *s, size_t n, int32_t *ids,
                              size_t cap, size_t *n_out)
{
    if (t->direct) {
        size_t k = n < cap ? n : cap;
        for (size_t i = 0; i < k; i++) ids[i] = t->map[(unsigned char)s[i]];
        *n_out = n;
        return n <= cap ? SLM_OK : SLM_ERR_FULL;
    }
    return slm_vocab_tokenize(t->vocab, s, n, 0, 0, ids, cap, n_out);
}

/* ---- the genome ---- */

typedef struct genome {
    char *seq;       /* joined records, ACGTN */
    size_t n;        /* bases */
    size_t n_train;  /* [0, n_train) train, [n_train, n) validation */
} genome;

static slm_status genome_read(genome *g, const char *const *files, size_t n_files,
                              uint64_t max_bases)
{
    slm_status st = SLM_OK;
    slm_fasta f = {0};
    size_t cap = 0;
    for (size_t i = 0; i < n_files; i++) {
        SLM_TRY(slm_fasta_read(files[i], max_bases, &f));
        for (size_t r = 0; r < f.n; r++) {
            const size_t need = g->n + f.rec[r].len + 2;
            if (need > cap) {
                size_t nc = cap ? cap : 1 << 20;
                while (nc < need) nc *= 2;
                char *ns = slm_realloc(g->seq, nc);
                SLM_CHECK(ns, SLM_ERR_NOMEM, "%s: out of memory at %zu bases", files[i], g->n);
                g->seq = ns;
                cap = nc;
            }
            if (g->n) g->seq[g->n++] = 'N';
            memcpy(g->seq + g->n, f.rec[r].seq, f.rec[r].len);
            g->n += f.rec[r].len;
            g->seq[g->n] = 0;
        }
        slm_fasta_free(&f);
    }
    return SLM_OK;
fail:
    slm_fasta_free(&f);
    return st;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static size_t count_n(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += s[i] == 'N';
    return c;
}

/* Bases per window: enough for n_ctx tokens. */
static size_t window_bases(const slm_dna_tok *t, int T, int kmax)
{
    return t->direct ? (size_t)T : (size_t)T * (size_t)kmax;
}

/* Tokens of one window into full[0..T] (BOS first). 1 if it gave T tokens. */
static slm_status window_tokens(const slm_dna_tok *t, const char *w, size_t wb, int T,
                                int32_t *full, int32_t *scratch, size_t scratch_cap, int *ok)
{
    slm_status st = SLM_OK;
    size_t got = 0;
    *ok = 0;
    st = slm_dna_tok_encode(t, w, wb, scratch, scratch_cap, &got);
    if (st == SLM_ERR_FULL) {
        st = SLM_OK;
        slm_error_clear();
        got = scratch_cap;
    }
    SLM_TRY(st);
    if (got < (size_t)T) return SLM_OK;
    full[0] = t->bos;
    memcpy(full + 1, scratch, (size_t)T * sizeof *full);
    *ok = 1;
fail:
    return st;
}

static slm_status hist_push(slm_ckpt_state *s, size_t *cap, int64_t step, float loss, float val)
{
    if (s->n_hist == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        slm_loss_point *nh = slm_realloc(s->hist, nc * sizeof *nh);
        if (!nh) return slm_fail(SLM_ERR_NOMEM, "dna pretrain: out of memory for the loss history");
        s->hist = nh;
        *cap = nc;
    }
    s->hist[s->n_hist++] = (slm_loss_point){step, loss, val};
    return SLM_OK;
}

slm_status slm_dna_pretrain(const slm_dna_pretrain_params *dp, const char *const *fasta,
                            size_t n_fasta, const char *out_path, slm_train_stats *stats)
{
    slm_status st = SLM_OK;
    slm_dna_tok tok = {0};
    genome g = {0};
    slm_tmodel *m = NULL;
    slm_ckpt_state s = {0};
    int32_t *ids = NULL, *tgt = NULL, *full = NULL, *scratch = NULL, *val_ids = NULL;
    char *wbuf = NULL, *tmp_tok = NULL;
    size_t hist_cap = 0, n_val_win = 0;
    slm_error_clear();
    if (stats) memset(stats, 0, sizeof *stats);
    SLM_CHECK(dp && fasta && n_fasta > 0 && out_path, SLM_ERR_ARG,
              "slm_dna_pretrain: params, at least one sequence file and an output path are "
              "required");
    const slm_train_params *p = &dp->train;
    SLM_CHECK(p->batch > 0 && p->accum > 0 && p->n_steps > 0 && p->lr > 0.0f &&
                  p->beta1 >= 0.0f && p->beta1 < 1.0f && p->beta2 >= 0.0f && p->beta2 < 1.0f &&
                  dp->rc_prob >= 0.0f && dp->rc_prob <= 1.0f && dp->max_n_frac >= 0.0f &&
                  dp->max_n_frac <= 1.0f,
              SLM_ERR_ARG,
              "dna pretrain: batch %u, accum %u, steps %u, lr %g, rc_prob %g, max_n_frac %g: "
              "expected positive counts, lr > 0, probabilities in [0, 1]",
              p->batch, p->accum, p->n_steps, (double)p->lr, (double)dp->rc_prob,
              (double)dp->max_n_frac);
    const char *const eb = getenv("SLM_TRAIN_BLAS");
    slm_tl_use_blas = !(eb && strcmp(eb, "0") == 0);

    const size_t on = strlen(out_path);
    tmp_tok = slm_alloc(on + 16);
    SLM_CHECK(tmp_tok, SLM_ERR_NOMEM, "dna pretrain: out of memory");
    snprintf(tmp_tok, on + 16, "%s.tok.tmp", out_path);
    SLM_TRY(slm_dna_tok_open(dp->tokenizer ? dp->tokenizer : "nuc", tmp_tok, &tok));

    slm_tconfig c = {
        .n_vocab = slm_vocab_n_tokens(tok.vocab), .n_embd = (int)p->n_embd,
        .n_layer = (int)p->n_layer, .n_head = (int)p->n_head,
        .n_head_kv = (int)(p->n_head_kv ? p->n_head_kv : p->n_head), .n_ff = (int)p->n_ff,
        .n_ctx = (int)p->n_ctx, .tied = p->tied ? 1 : 0, .eps = 1e-5f, .rope_base = 10000.0f,
    };
    s = (slm_ckpt_state){
        .batch = (int32_t)p->batch, .accum = (int32_t)p->accum, .n_steps = (int32_t)p->n_steps,
        .warmup = (int32_t)p->warmup, .eval_every = (int32_t)p->eval_every, .lr = p->lr,
        .min_lr_frac = p->min_lr_frac, .weight_decay = p->weight_decay, .clip = p->clip,
        .beta1 = p->beta1, .beta2 = p->beta2, .seed = p->seed,
    };
    int32_t n_steps_override = 0;
    if (p->resume) {
        SLM_TRY(slm_ckpt_read_config(p->resume, &c, &s));
        SLM_CHECK(c.n_vocab == slm_vocab_n_tokens(tok.vocab), SLM_ERR_ARG,
                  "%s: checkpoint vocabulary %d, tokenizer %s has %d tokens", p->resume,
                  c.n_vocab, dp->tokenizer ? dp->tokenizer : "nuc", slm_vocab_n_tokens(tok.vocab));
        if ((int32_t)p->n_steps > s.n_steps || (int64_t)p->n_steps == s.step)
            n_steps_override = (int32_t)p->n_steps;
    }

    SLM_TRY(genome_read(&g, fasta, n_fasta, dp->max_bases));
    const int T = c.n_ctx;
    int kmax = 1;
    for (int32_t i = 0; i < c.n_vocab; i++) {
        size_t len = 0;
        slm_vocab_token_text(tok.vocab, i, &len);
        if (slm_vocab_token_type(tok.vocab, i) == SLM_TOKEN_NORMAL && (int)len > kmax) kmax = (int)len;
    }
    const size_t wb = window_bases(&tok, T, kmax);
    uint64_t vb = dp->val_bases;
    if (vb > g.n / 5) vb = g.n / 5;
    g.n_train = g.n - (size_t)vb;
    SLM_CHECK(g.n_train > 4 * wb, SLM_ERR_ARG,
              "dna pretrain: %zu training bases (after holding out %llu for validation), need "
              "more than 4 windows of %zu bases", g.n_train, (unsigned long long)vb, wb);

    SLM_TRY(slm_tmodel_new(&c, s.batch, T, p->n_threads, &m));
    uint64_t hash = fnv1a(0xcbf29ce484222325ull, g.seq, g.n_train);
    hash = fnv1a(hash, &c.n_vocab, sizeof c.n_vocab);
    hash = fnv1a(hash, &wb, sizeof wb);
    if (p->resume) {
        SLM_TRY(slm_ckpt_load(m, &s, p->resume));
        hist_cap = s.n_hist;
        if (n_steps_override) s.n_steps = n_steps_override;
        SLM_CHECK(s.data_hash == hash, SLM_ERR_ARG,
                  "%s: checkpoint was trained on other sequence or tokenizer (hash %016llx, "
                  "these files give %016llx)", p->resume, (unsigned long long)s.data_hash,
                  (unsigned long long)hash);
    } else {
        slm_tmodel_init(m, s.seed);
        slm_rng_seed(&s.rng, s.seed ^ 0xd7a5eedull);
        s.data_hash = hash;
    }
    const size_t B = (size_t)s.batch, BT = B * (size_t)T;
    const size_t scap = wb + 8;
    ids = slm_alloc(BT * sizeof *ids);
    tgt = slm_alloc(BT * sizeof *tgt);
    full = slm_alloc(((size_t)T + 1) * sizeof *full);
    scratch = slm_alloc(scap * sizeof *scratch);
    wbuf = slm_alloc(wb + 1);
    SLM_CHECK(ids && tgt && full && scratch && wbuf, SLM_ERR_NOMEM, "dna pretrain: out of memory");

    /* held-out windows: consecutive, forward strand, N filter */
    const int eval_batches = p->eval_batches ? (int)p->eval_batches : 8;
    const size_t max_val_win = (size_t)eval_batches * B;
    if (vb >= wb) {
        val_ids = slm_alloc(max_val_win * ((size_t)T + 1) * sizeof *val_ids);
        SLM_CHECK(val_ids, SLM_ERR_NOMEM, "dna pretrain: out of memory");
        for (size_t at = g.n_train; at + wb <= g.n && n_val_win < max_val_win; at += wb) {
            if ((float)count_n(g.seq + at, wb) > dp->max_n_frac * (float)wb) continue;
            int ok = 0;
            SLM_TRY(window_tokens(&tok, g.seq + at, wb, T, val_ids + n_val_win * ((size_t)T + 1),
                                  scratch, scap, &ok));
            n_val_win += (size_t)ok;
        }
        n_val_win -= n_val_win % B;
    }

    const slm_adamw opt = {.lr = s.lr, .beta1 = s.beta1, .beta2 = s.beta2, .eps = 1e-8f,
                           .weight_decay = s.weight_decay};
    const int64_t step0 = s.step;
    double train_s = 0.0;
    const double t_start = now_s(), elapsed0 = s.elapsed_s;
    float loss = NAN, vloss = NAN;
    const uint64_t rc_cut = (uint64_t)((double)dp->rc_prob * 18446744073709551615.0);
    while (s.step < s.n_steps) {
        const double t0 = now_s();
        slm_tmodel_zero_grad(m);
        double lsum = 0.0;
        for (int a = 0; a < s.accum; a++) {
            for (size_t b = 0; b < B; b++) {
                int ok = 0;
                for (int tries = 0; !ok; tries++) {
                    const size_t start =
                        (size_t)(slm_rng_next(&s.rng) % (uint64_t)(g.n_train - wb + 1));
                    const int rc = dp->rc_prob >= 1.0f || slm_rng_next(&s.rng) < rc_cut;
                    if (tries < 64 &&
                        (float)count_n(g.seq + start, wb) > dp->max_n_frac * (float)wb)
                        continue;
                    memcpy(wbuf, g.seq + start, wb);
                    if (rc) slm_dna_revcomp(wbuf, wb);
                    SLM_TRY(window_tokens(&tok, wbuf, wb, T, full, scratch, scap, &ok));
                    SLM_CHECK(ok || tries < 256, SLM_ERR_ARG,
                              "dna pretrain: windows of %zu bases give fewer than %d tokens",
                              wb, T);
                }
                memcpy(ids + b * T, full, (size_t)T * sizeof *ids);
                memcpy(tgt + b * T, full + 1, (size_t)T * sizeof *tgt);
            }
            lsum += slm_tmodel_forward(m, ids, tgt);
            slm_tmodel_backward(m, ids, tgt, 1.0f / (float)s.accum);
        }
        loss = (float)(lsum / s.accum);
        const float norm = slm_tmodel_grad_norm(m);
        const float gscale = s.clip > 0.0f && norm > s.clip ? s.clip / norm : 1.0f;
        const float lr = slm_lr_schedule(s.step, s.n_steps, s.warmup, s.lr, s.min_lr_frac);
        slm_tmodel_adamw(m, &opt, lr, gscale, s.step + 1);
        s.step++;
        s.tokens_seen += BT * (uint64_t)s.accum;
        train_s += now_s() - t0;
        SLM_CHECK(isfinite(loss), SLM_ERR_ARG,
                  "dna pretrain: loss became %g at step %lld (lr %g too high?)", (double)loss,
                  (long long)s.step, (double)lr);

        float v = NAN;
        const int last = s.step == s.n_steps;
        if (n_val_win && (last || (s.eval_every > 0 && s.step % s.eval_every == 0))) {
            double sum = 0.0;
            size_t nb = 0;
            for (size_t w0 = 0; w0 + B <= n_val_win; w0 += B, nb++) {
                for (size_t b = 0; b < B; b++) {
                    const int32_t *f = val_ids + (w0 + b) * ((size_t)T + 1);
                    memcpy(ids + b * T, f, (size_t)T * sizeof *ids);
                    memcpy(tgt + b * T, f + 1, (size_t)T * sizeof *tgt);
                }
                sum += slm_tmodel_forward(m, ids, tgt);
            }
            v = vloss = (float)(sum / (double)nb);
        }
        SLM_TRY(hist_push(&s, &hist_cap, s.step, loss, v));
        s.elapsed_s = elapsed0 + (now_s() - t_start);
        int ck = 0;
        if (p->checkpoint && (last || (p->checkpoint_every && s.step % p->checkpoint_every == 0))) {
            SLM_TRY(slm_ckpt_save(m, &s, p->checkpoint));
            ck = 1;
        }
        if (p->progress) {
            const double per = train_s / (double)(s.step - step0);
            slm_train_progress pr = {
                .step = (uint32_t)s.step, .n_steps = (uint32_t)s.n_steps, .loss = loss,
                .val_loss = v, .lr = lr, .grad_norm = norm,
                .tokens_per_s = (double)(s.step - step0) * BT * s.accum / train_s,
                .elapsed_s = s.elapsed_s, .eta_s = per * (double)(s.n_steps - s.step),
                .tokens_seen = s.tokens_seen, .checkpointed = ck,
            };
            if (p->progress(&pr, p->user)) {
                if (p->checkpoint && !ck) SLM_TRY(slm_ckpt_save(m, &s, p->checkpoint));
                SLM_CHECK(0, SLM_ERR_CANCELLED, "dna pretrain: cancelled at step %lld",
                          (long long)s.step);
            }
        }
    }
    SLM_TRY(slm_tmodel_save_gguf(m, tok.path, "slm-dna-glm", out_path));
    if (p->loss_svg) {
        char title[200];
        snprintf(title, sizeof title,
                 "slm dna pretrain: %d layers, dim %d, ctx %d, %zu params, %llu tokens seen",
                 c.n_layer, c.n_embd, c.n_ctx, m->n_params, (unsigned long long)s.tokens_seen);
        SLM_TRY(slm_plot_loss_svg(s.hist, s.n_hist, title, p->loss_svg));
    }
    if (stats) {
        stats->n_params = m->n_params;
        stats->n_train_tokens = g.n_train;
        stats->n_val_tokens = g.n - g.n_train;
        stats->tokens_seen = s.tokens_seen;
        stats->final_loss = loss;
        stats->final_val_loss = vloss;
        stats->elapsed_s = s.elapsed_s;
    }
fail:
    slm_free(ids);
    slm_free(tgt);
    slm_free(full);
    slm_free(scratch);
    slm_free(wbuf);
    slm_free(val_ids);
    slm_free(s.hist);
    slm_tmodel_free(m);
    slm_free(g.seq);
    slm_dna_tok_close(&tok);
    slm_free(tmp_tok);
    return st;
}
