/* io.c — files of a training run: the model as a llama GGUF (standard
 * tensor names, tokenizer.* keys copied from the tokenizer GGUF, so
 * slm_model_load and llama.cpp read it as a downloaded model), and the
 * checkpoint, our own little-endian binary:
 *
 *   OFFSET  SIZE            DESCRIPTION
 *        0  8               magic "SLMCKPT1"
 *        8  4               version (1)
 *       12  8 x 4           config: n_vocab n_embd n_layer n_head n_head_kv n_ff n_ctx tied (i32)
 *       44  2 x 4           eps, rope_base (f32)
 *       52  ...             state: step, rng[4], data_hash, tokens_seen, elapsed_s,
 *                           batch accum n_steps warmup eval_every, lr min_lr_frac
 *                           weight_decay clip beta1 beta2, seed
 *        .  8 + n_hist x 16 history: count, then (step i64, loss f32, val f32)
 *        .  8               n_params (u64)
 *        .  3 x 4 n_params  params, first moment, second moment (f32)
 *        .  32              distillation only: magic "SLMDIST1", temperature f32,
 *                           alpha f32, top_k u32, 0 u32, teacher hash u64
 *
 * Resuming restores all of it, so the continued run is bit-identical to
 * one that never stopped (same thread count).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "gguf/gguf.h"
#include "gguf/keys.h"
#include "train/train_data.h"

slm_status slm_tmodel_save_gguf(const slm_tmodel *m, const char *tok_path, const char *name,
                                const char *path)
{
    slm_status st = SLM_OK;
    slm_gguf *tok = NULL;
    slm_gguf_writer *w = NULL;
    const slm_tconfig *c = &m->c;
    SLM_TRY(slm_gguf_open(tok_path, 1, &tok));
    SLM_TRY(slm_gguf_writer_new(&w));
    SLM_TRY(slm_gguf_set_str(w, SLM_KEY_ARCHITECTURE, "llama"));
    SLM_TRY(slm_gguf_set_str(w, SLM_KEY_NAME, name ? name : "slm-trained"));
    SLM_TRY(slm_gguf_set_u32(w, SLM_KEY_FILE_TYPE, 0)); /* all F32 */
    SLM_TRY(slm_gguf_set_u32(w, "llama" SLM_KEY_SUFFIX_N_CTX, (uint32_t)c->n_ctx));
    SLM_TRY(slm_gguf_set_u32(w, "llama" SLM_KEY_SUFFIX_N_EMBD, (uint32_t)c->n_embd));
    SLM_TRY(slm_gguf_set_u32(w, "llama" SLM_KEY_SUFFIX_N_LAYER, (uint32_t)c->n_layer));
    SLM_TRY(slm_gguf_set_u32(w, "llama" SLM_KEY_SUFFIX_N_FF, (uint32_t)c->n_ff));
    SLM_TRY(slm_gguf_set_u32(w, "llama" SLM_KEY_SUFFIX_N_HEAD, (uint32_t)c->n_head));
    SLM_TRY(slm_gguf_set_u32(w, "llama" SLM_KEY_SUFFIX_N_HEAD_KV, (uint32_t)c->n_head_kv));
    SLM_TRY(slm_gguf_set_f32(w, "llama" SLM_KEY_SUFFIX_RMS_EPS, c->eps));
    SLM_TRY(slm_gguf_set_u32(w, "llama" SLM_KEY_SUFFIX_ROPE_DIM,
                             (uint32_t)(c->n_embd / c->n_head)));
    SLM_TRY(slm_gguf_set_f32(w, "llama" SLM_KEY_SUFFIX_ROPE_BASE, c->rope_base));
    SLM_TRY(slm_gguf_set_u32(w, "llama" SLM_KEY_SUFFIX_VOCAB_SIZE, (uint32_t)c->n_vocab));
    int64_t n_tok = -1;
    for (int64_t i = 0; i < slm_gguf_n_kv(tok); i++)
        if (strncmp(slm_gguf_key(tok, i), "tokenizer.", 10) == 0)
            SLM_TRY(slm_gguf_copy_kv(w, tok, i));
    slm_gguf_type et;
    uint64_t nt = 0;
    if (slm_gguf_get_arr(tok, SLM_KEY_TOK_TOKENS, &et, &nt) == SLM_OK) n_tok = (int64_t)nt;
    SLM_CHECK(n_tok == c->n_vocab, SLM_ERR_ARG,
              "%s: tokenizer has %lld tokens, the model's vocabulary is %d", tok_path,
              (long long)n_tok, c->n_vocab);
    for (int i = 0; i < m->n_tensors; i++) {
        const slm_ttensor *t = &m->tensors[i];
        const int64_t ne[2] = {t->n_in, t->n_out};
        SLM_TRY(slm_gguf_add_tensor(w, t->name, SLM_TYPE_F32, t->n_out == 1 ? 1 : 2, ne,
                                    m->params + t->off,
                                    (uint64_t)(t->n_in * t->n_out) * sizeof(float)));
    }
    SLM_TRY(slm_gguf_writer_write(w, path));
fail:
    slm_gguf_writer_free(w);
    slm_gguf_close(tok);
    return st;
}

/* ---- checkpoint ---- */

static int put(FILE *f, const void *p, size_t n)
{
    return fwrite(p, 1, n, f) == n;
}

static int put_i32(FILE *f, int32_t v) { return put(f, &v, 4); }
static int put_f32(FILE *f, float v) { return put(f, &v, 4); }
static int put_u64(FILE *f, uint64_t v) { return put(f, &v, 8); }

static int put_state(FILE *f, const slm_ckpt_state *s)
{
    int ok = put_u64(f, (uint64_t)s->step);
    for (int i = 0; i < 4; i++) ok = ok && put_u64(f, s->rng.s[i]);
    ok = ok && put_u64(f, s->data_hash) && put_u64(f, s->tokens_seen) && put(f, &s->elapsed_s, 8);
    ok = ok && put_i32(f, s->batch) && put_i32(f, s->accum) && put_i32(f, s->n_steps) &&
         put_i32(f, s->warmup) && put_i32(f, s->eval_every);
    ok = ok && put_f32(f, s->lr) && put_f32(f, s->min_lr_frac) && put_f32(f, s->weight_decay) &&
         put_f32(f, s->clip) && put_f32(f, s->beta1) && put_f32(f, s->beta2);
    ok = ok && put_u64(f, s->seed) && put_u64(f, (uint64_t)s->n_hist);
    for (size_t i = 0; ok && i < s->n_hist; i++)
        ok = put_u64(f, (uint64_t)s->hist[i].step) && put_f32(f, s->hist[i].loss) &&
             put_f32(f, s->hist[i].val);
    return ok;
}

slm_status slm_ckpt_save(const slm_tmodel *m, const slm_ckpt_state *s, const char *path)
{
    slm_status st = SLM_OK;
    char tmp[4096];
    FILE *f = NULL;
    SLM_CHECK(snprintf(tmp, sizeof tmp, "%s.tmp", path) < (int)sizeof tmp, SLM_ERR_ARG,
              "checkpoint path too long");
    f = fopen(tmp, "wb");
    SLM_CHECK(f, SLM_ERR_IO, "%s: cannot create", tmp);
    const slm_tconfig *c = &m->c;
    int ok = put(f, "SLMCKPT1", 8) && put_i32(f, 1);
    const int32_t cfg[8] = {c->n_vocab, c->n_embd, c->n_layer, c->n_head,
                            c->n_head_kv, c->n_ff, c->n_ctx, c->tied};
    ok = ok && put(f, cfg, sizeof cfg) && put_f32(f, c->eps) && put_f32(f, c->rope_base);
    ok = ok && put_state(f, s) && put_u64(f, m->n_params);
    ok = ok && put(f, m->params, m->n_params * sizeof(float)) &&
         put(f, m->m, m->n_params * sizeof(float)) && put(f, m->v, m->n_params * sizeof(float));
    if (s->distill)
        ok = ok && put(f, "SLMDIST1", 8) && put_f32(f, s->temperature) && put_f32(f, s->alpha) &&
             put_i32(f, (int32_t)s->top_k) && put_i32(f, 0) && put_u64(f, s->teacher_hash);
    ok = fclose(f) == 0 && ok;
    f = NULL;
    SLM_CHECK(ok, SLM_ERR_IO, "%s: write failed (disk full?)", tmp);
    SLM_CHECK(rename(tmp, path) == 0, SLM_ERR_IO, "%s: cannot rename to %s", tmp, path);
    return SLM_OK;
fail:
    if (f) fclose(f);
    remove(tmp);
    return st;
}

static int get(FILE *f, void *p, size_t n)
{
    return fread(p, 1, n, f) == n;
}

static slm_status read_head(FILE *f, const char *path, slm_tconfig *c, slm_ckpt_state *s,
                            int with_hist)
{
    slm_status st = SLM_OK;
    char magic[8];
    int32_t ver = 0, cfg[8];
    uint64_t u = 0, n_hist = 0;
    SLM_CHECK(get(f, magic, 8) && memcmp(magic, "SLMCKPT1", 8) == 0, SLM_ERR_FORMAT,
              "%s: not an slm training checkpoint (magic 'SLMCKPT1' expected)", path);
    SLM_CHECK(get(f, &ver, 4) && ver == 1, SLM_ERR_UNSUPPORTED,
              "%s: checkpoint version %d, expected 1", path, ver);
    int ok = get(f, cfg, sizeof cfg) && get(f, &c->eps, 4) && get(f, &c->rope_base, 4);
    c->n_vocab = cfg[0], c->n_embd = cfg[1], c->n_layer = cfg[2], c->n_head = cfg[3];
    c->n_head_kv = cfg[4], c->n_ff = cfg[5], c->n_ctx = cfg[6], c->tied = cfg[7];
    ok = ok && get(f, &u, 8);
    s->step = (int64_t)u;
    for (int i = 0; i < 4; i++) ok = ok && get(f, &s->rng.s[i], 8);
    ok = ok && get(f, &s->data_hash, 8) && get(f, &s->tokens_seen, 8) && get(f, &s->elapsed_s, 8);
    ok = ok && get(f, &s->batch, 4) && get(f, &s->accum, 4) && get(f, &s->n_steps, 4) &&
         get(f, &s->warmup, 4) && get(f, &s->eval_every, 4);
    ok = ok && get(f, &s->lr, 4) && get(f, &s->min_lr_frac, 4) && get(f, &s->weight_decay, 4) &&
         get(f, &s->clip, 4) && get(f, &s->beta1, 4) && get(f, &s->beta2, 4);
    ok = ok && get(f, &s->seed, 8) && get(f, &n_hist, 8);
    SLM_CHECK(ok, SLM_ERR_FORMAT, "%s: checkpoint header truncated", path);
    SLM_CHECK(n_hist < (1u << 26), SLM_ERR_FORMAT, "%s: %llu history points, expected < 2^26",
              path, (unsigned long long)n_hist);
    s->hist = NULL;
    s->n_hist = 0;
    if (!with_hist) return SLM_OK;
    if (n_hist) {
        s->hist = slm_calloc((size_t)n_hist, sizeof *s->hist);
        SLM_CHECK(s->hist, SLM_ERR_NOMEM, "%s: out of memory", path);
    }
    for (uint64_t i = 0; i < n_hist; i++) {
        ok = get(f, &u, 8) && get(f, &s->hist[i].loss, 4) && get(f, &s->hist[i].val, 4);
        s->hist[i].step = (int64_t)u;
        SLM_CHECK(ok, SLM_ERR_FORMAT, "%s: history truncated at point %llu", path,
                  (unsigned long long)i);
    }
    s->n_hist = (size_t)n_hist;
    return SLM_OK;
fail:
    slm_free(s->hist);
    s->hist = NULL;
    s->n_hist = 0;
    return st;
}

slm_status slm_ckpt_read_config(const char *path, slm_tconfig *c, slm_ckpt_state *s)
{
    FILE *f = fopen(path, "rb");
    if (!f) return slm_fail(SLM_ERR_IO, "%s: cannot open checkpoint", path);
    slm_status st = read_head(f, path, c, s, 0);
    fclose(f);
    return st;
}

slm_status slm_ckpt_load(slm_tmodel *m, slm_ckpt_state *s, const char *path)
{
    slm_status st = SLM_OK;
    slm_tconfig c;
    uint64_t n = 0;
    FILE *f = fopen(path, "rb");
    SLM_CHECK(f, SLM_ERR_IO, "%s: cannot open checkpoint", path);
    SLM_TRY(read_head(f, path, &c, s, 1));
    SLM_CHECK(memcmp(&c, &m->c, sizeof c) == 0, SLM_ERR_ARG,
              "%s: checkpoint model shape differs from the model being resumed", path);
    SLM_CHECK(get(f, &n, 8) && n == m->n_params, SLM_ERR_FORMAT,
              "%s: %llu parameters, expected %zu", path, (unsigned long long)n, m->n_params);
    SLM_CHECK(get(f, m->params, n * 4) && get(f, m->m, n * 4) && get(f, m->v, n * 4),
              SLM_ERR_FORMAT, "%s: checkpoint truncated in the parameter blocks", path);
    char magic[8];
    s->distill = 0;
    if (get(f, magic, 8)) {
        int32_t pad = 0;
        SLM_CHECK(memcmp(magic, "SLMDIST1", 8) == 0, SLM_ERR_FORMAT,
                  "%s: unexpected bytes after the parameter blocks", path);
        SLM_CHECK(get(f, &s->temperature, 4) && get(f, &s->alpha, 4) && get(f, &s->top_k, 4) &&
                      get(f, &pad, 4) && get(f, &s->teacher_hash, 8),
                  SLM_ERR_FORMAT, "%s: distillation trailer truncated", path);
        s->distill = 1;
    }
    fclose(f);
    return SLM_OK;
fail:
    if (f) fclose(f);
    slm_free(s->hist);
    s->hist = NULL;
    s->n_hist = 0;
    return st;
}
