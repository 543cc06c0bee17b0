/* trainer.c — slm_train: the training loop. Owns the run (data, schedule,
 * evaluation, checkpoints, export); the math is in model.c/layers.c and the
 * optimizer in adamw.c. Everything that decides the next step (params,
 * moments, step, window RNG) lives in the checkpoint, so a resumed run
 * continues bit-exactly.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/status.h"
#include "gguf/gguf.h"
#include "train/train_data.h"

slm_train_params slm_train_default_params(void)
{
    slm_train_params p = {
        .n_embd = 128, .n_layer = 4, .n_head = 4, .n_head_kv = 4, .n_ff = 384, .n_ctx = 256,
        .tied = 1, .batch = 8, .accum = 1, .n_steps = 1000, .warmup = 100, .lr = 1e-3f,
        .min_lr_frac = 0.1f, .weight_decay = 0.1f, .clip = 1.0f, .beta1 = 0.9f, .beta2 = 0.95f,
        .seed = 1234, .eval_every = 0, .eval_batches = 8, .checkpoint_every = 200,
    };
    return p;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Mean loss over up to n_batches micro-batches of consecutive windows from
 * the start of the stream (the same windows every time). NaN if the stream
 * holds no full window. */
static float evaluate(slm_tmodel *m, const slm_tokens *val, int n_batches, int32_t *ids,
                      int32_t *tg)
{
    const size_t T = (size_t)m->T, B = (size_t)m->B;
    const size_t n_win = val->n > T ? (val->n - 1) / T : 0;
    if (n_win < B) return NAN;
    double sum = 0.0;
    int done = 0;
    for (size_t w0 = 0; done < n_batches && w0 + B <= n_win; w0 += B, done++) {
        for (size_t b = 0; b < B; b++) {
            memcpy(ids + b * T, val->ids + (w0 + b) * T, T * sizeof *ids);
            memcpy(tg + b * T, val->ids + (w0 + b) * T + 1, T * sizeof *tg);
        }
        sum += slm_tmodel_forward(m, ids, tg);
    }
    return (float)(sum / done);
}

/* SLM_TRAIN_PROFILE=FILE: the per-phase times of the training steps
 * (evaluation excluded), best effort (a file that cannot be opened is
 * skipped: profiling never fails a run). */
static void write_profile(const slm_tmodel *m, const char *path, double train_s, int64_t steps)
{
    FILE *f = fopen(path, "w");
    if (!f) return;
    double sum = 0.0;
    fprintf(f, "# slm train profile: %lld steps, %d threads, %.3f s in steps\n",
            (long long)steps, m->n_threads, train_s);
    fprintf(f, "%-18s %10s %7s\n", "phase", "ms/step", "%");
    for (int i = 0; i < SLM_TP_N; i++) {
        sum += m->prof[i];
        fprintf(f, "%-18s %10.2f %6.1f%%\n", slm_tprof_names[i],
                steps ? 1e3 * m->prof[i] / (double)steps : 0.0,
                train_s > 0 ? 100.0 * m->prof[i] / train_s : 0.0);
    }
    fprintf(f, "%-18s %10.2f %6.1f%%\n", "other",
            steps ? 1e3 * (train_s - sum) / (double)steps : 0.0,
            train_s > 0 ? 100.0 * (train_s - sum) / train_s : 0.0);
    fclose(f);
}

static slm_status hist_push(slm_ckpt_state *s, size_t *cap, int64_t step, float loss, float val)
{
    if (s->n_hist == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        slm_loss_point *nh = slm_realloc(s->hist, nc * sizeof *nh);
        if (!nh) return slm_fail(SLM_ERR_NOMEM, "train: out of memory for the loss history");
        s->hist = nh;
        *cap = nc;
    }
    s->hist[s->n_hist++] = (slm_loss_point){step, loss, val};
    return SLM_OK;
}

slm_status slm_train(const slm_train_params *p, const char *tokenizer_path,
                     const char *const *files, size_t n_files, const char *const *val_files,
                     size_t n_val, const char *out_path, slm_train_stats *stats)
{
    slm_status st = SLM_OK;
    slm_gguf *tg_file = NULL;
    slm_vocab *vocab = NULL;
    slm_tokens data = {0}, val = {0};
    slm_tmodel *m = NULL;
    slm_ckpt_state s = {0};
    int32_t *ids = NULL, *tgt = NULL;
    size_t hist_cap = 0;
    slm_error_clear();
    /* SLM_TRAIN_BLAS=0 forces our own matmul loops (A/B measurements) */
    const char *eb = getenv("SLM_TRAIN_BLAS");
    slm_tl_use_blas = !(eb && strcmp(eb, "0") == 0);
    if (stats) memset(stats, 0, sizeof *stats);
    SLM_CHECK(p && tokenizer_path && files && n_files > 0 && out_path, SLM_ERR_ARG,
              "slm_train: params, tokenizer, at least one data file and an output path are required");
    SLM_CHECK(p->batch > 0 && p->accum > 0 && p->n_steps > 0 && p->lr > 0.0f &&
                  p->beta1 >= 0.0f && p->beta1 < 1.0f && p->beta2 >= 0.0f && p->beta2 < 1.0f,
              SLM_ERR_ARG,
              "slm_train: batch %u, accum %u, steps %u, lr %g, betas %g %g: expected positive "
              "counts, lr > 0, betas in [0, 1)",
              p->batch, p->accum, p->n_steps, (double)p->lr, (double)p->beta1, (double)p->beta2);

    SLM_TRY(slm_gguf_open(tokenizer_path, 1, &tg_file));
    st = slm_vocab_load(tg_file, &vocab);
    if (st != SLM_OK) {
        slm_error_prefix(tokenizer_path);
        goto fail;
    }

    slm_tconfig c = {
        .n_vocab = slm_vocab_n_tokens(vocab), .n_embd = (int)p->n_embd,
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
        SLM_CHECK(c.n_vocab == slm_vocab_n_tokens(vocab), SLM_ERR_ARG,
                  "%s: checkpoint vocabulary %d, tokenizer %s has %d tokens", p->resume,
                  c.n_vocab, tokenizer_path, slm_vocab_n_tokens(vocab));
        /* a longer run extends the schedule; n_steps equal to the steps done
         * exports the checkpoint's model without training */
        if ((int32_t)p->n_steps > s.n_steps || (int64_t)p->n_steps == s.step)
            n_steps_override = (int32_t)p->n_steps;
    }

    for (size_t i = 0; i < n_files; i++) SLM_TRY(slm_tokens_add_file(&data, vocab, files[i]));
    for (size_t i = 0; i < n_val; i++) SLM_TRY(slm_tokens_add_file(&val, vocab, val_files[i]));
    SLM_CHECK(data.n > (size_t)c.n_ctx + 1, SLM_ERR_ARG,
              "training text gives %zu tokens, need more than n_ctx + 1 = %d", data.n,
              c.n_ctx + 1);

    SLM_TRY(slm_tmodel_new(&c, s.batch, c.n_ctx, p->n_threads, &m));
    const uint64_t hash = slm_tokens_hash(&data);
    if (p->resume) {
        SLM_TRY(slm_ckpt_load(m, &s, p->resume));
        s.distill = 0; /* a distilled student continues as plain training */
        hist_cap = s.n_hist;
        if (n_steps_override) s.n_steps = n_steps_override;
        SLM_CHECK(s.data_hash == hash, SLM_ERR_ARG,
                  "%s: checkpoint was trained on other data (token hash %016llx, these files "
                  "give %016llx)", p->resume, (unsigned long long)s.data_hash,
                  (unsigned long long)hash);
    } else {
        slm_tmodel_init(m, s.seed);
        slm_rng_seed(&s.rng, s.seed ^ 0x5eed0da7aull);
        s.data_hash = hash;
    }
    const size_t T = (size_t)c.n_ctx, B = (size_t)s.batch, BT = B * T;
    ids = slm_alloc(BT * sizeof *ids);
    tgt = slm_alloc(BT * sizeof *tgt);
    SLM_CHECK(ids && tgt, SLM_ERR_NOMEM, "train: out of memory");

    const slm_adamw opt = {.lr = s.lr, .beta1 = s.beta1, .beta2 = s.beta2, .eps = 1e-8f,
                           .weight_decay = s.weight_decay};
    const int eval_batches = p->eval_batches ? (int)p->eval_batches : 8;
    const int64_t step0 = s.step;
    double train_s = 0.0;
    const double t_start = now_s(), elapsed0 = s.elapsed_s;
    float loss = NAN, vloss = NAN;
    const char *prof_path = getenv("SLM_TRAIN_PROFILE");
    m->prof_on = prof_path && *prof_path;
    while (s.step < s.n_steps) {
        const double t0 = now_s();
        double tp = now_s();
        slm_tmodel_zero_grad(m);
        if (m->prof_on) m->prof[SLM_TP_ZERO] += now_s() - tp;
        double lsum = 0.0;
        for (int a = 0; a < s.accum; a++) {
            tp = now_s();
            for (size_t b = 0; b < B; b++) {
                const size_t start = (size_t)(slm_rng_next(&s.rng) % (uint64_t)(data.n - T));
                memcpy(ids + b * T, data.ids + start, T * sizeof *ids);
                memcpy(tgt + b * T, data.ids + start + 1, T * sizeof *tgt);
            }
            if (m->prof_on) m->prof[SLM_TP_DATA] += now_s() - tp;
            lsum += slm_tmodel_forward(m, ids, tgt);
            slm_tmodel_backward(m, ids, tgt, 1.0f / (float)s.accum);
        }
        loss = (float)(lsum / s.accum);
        tp = now_s();
        const float norm = slm_tmodel_grad_norm(m);
        if (m->prof_on) m->prof[SLM_TP_GRADNORM] += now_s() - tp;
        const float gscale = s.clip > 0.0f && norm > s.clip ? s.clip / norm : 1.0f;
        const float lr = slm_lr_schedule(s.step, s.n_steps, s.warmup, s.lr, s.min_lr_frac);
        tp = now_s();
        slm_tmodel_adamw(m, &opt, lr, gscale, s.step + 1);
        if (m->prof_on) m->prof[SLM_TP_ADAMW] += now_s() - tp;
        s.step++;
        s.tokens_seen += BT * (uint64_t)s.accum;
        train_s += now_s() - t0;
        SLM_CHECK(isfinite(loss), SLM_ERR_ARG,
                  "train: loss became %g at step %lld (lr %g too high?)", (double)loss,
                  (long long)s.step, (double)lr);

        float v = NAN;
        const int last = s.step == s.n_steps;
        if (val.n && (last || (s.eval_every > 0 && s.step % s.eval_every == 0))) {
            v = evaluate(m, &val, eval_batches, ids, tgt);
            vloss = v;
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
                SLM_CHECK(0, SLM_ERR_CANCELLED, "train: cancelled at step %lld",
                          (long long)s.step);
            }
        }
    }
    if (m->prof_on) write_profile(m, prof_path, train_s, s.step - step0);
    m->prof_on = 0;
    if (val.n && isnan(vloss)) vloss = evaluate(m, &val, eval_batches, ids, tgt);
    SLM_TRY(slm_tmodel_save_gguf(m, tokenizer_path, "slm-trained", out_path));
    if (p->loss_svg) {
        char title[160];
        snprintf(title, sizeof title,
                 "slm train: %d layers, dim %d, ctx %d, %zu params, %llu tokens seen", c.n_layer,
                 c.n_embd, c.n_ctx, m->n_params, (unsigned long long)s.tokens_seen);
        SLM_TRY(slm_plot_loss_svg(s.hist, s.n_hist, title, p->loss_svg));
    }
    if (stats) {
        stats->n_params = m->n_params;
        stats->n_train_tokens = data.n;
        stats->n_val_tokens = val.n;
        stats->tokens_seen = s.tokens_seen;
        stats->final_loss = loss;
        stats->final_val_loss = vloss;
        stats->elapsed_s = s.elapsed_s;
    }
fail:
    slm_free(ids);
    slm_free(tgt);
    slm_free(s.hist);
    slm_tmodel_free(m);
    slm_tokens_free(&data);
    slm_tokens_free(&val);
    slm_vocab_free(vocab);
    slm_gguf_close(tg_file);
    return st;
}
