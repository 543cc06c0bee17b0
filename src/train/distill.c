/* distill.c — slm_distill: train a student (src/train) against a teacher
 * run in the inference engine (slm_model_load + a session with
 * logits_all, any quant type). The loss and its gradient are in
 * slm_distill_row (see distill.h for the formula and the top-K rule).
 *
 * Windows. Unlike slm_train's random offsets, the stream is cut into fixed
 * windows of n_ctx + 1 tokens (window w starts at token w * n_ctx) and each
 * micro-batch draws `batch` window indices from the seeded RNG. Fixed
 * windows are what makes the teacher's output cacheable: the teacher sees
 * exactly the student's context, from an empty KV cache, and its top K of
 * window w is computed once (on first use) and kept in memory and, with
 * teacher_cache, on disk for the next run. With alpha = 0 the teacher is
 * never run and the loop is plain cross-entropy training on the same
 * windows: the "from scratch" baseline of a distillation experiment.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/status.h"
#include "gguf/gguf.h"
#include "train/distill.h"
#include "train/train_data.h"

/* ---- loss ---- */

int slm_distill_teacher_probs(const float *zt, int V, int k, float T, int32_t *ids, float *p)
{
    int n = 0;
    if (k <= 0 || k >= V) {
        for (int i = 0; i < V; i++) ids[i] = i;
        n = V;
    } else {
        /* insertion into a descending list of k; a later equal logit does not
         * displace an earlier id */
        for (int i = 0; i < V; i++) {
            const float z = zt[i];
            if (n == k && !(z > zt[ids[k - 1]])) continue;
            int j = n < k ? n++ : k - 1;
            while (j > 0 && z > zt[ids[j - 1]]) {
                ids[j] = ids[j - 1];
                j--;
            }
            ids[j] = i;
        }
    }
    float mx = zt[ids[0]];
    for (int i = 1; i < n; i++)
        if (zt[ids[i]] > mx) mx = zt[ids[i]];
    double s = 0.0;
    for (int i = 0; i < n; i++) s += p[i] = expf((zt[ids[i]] - mx) / T);
    const float inv = (float)(1.0 / s);
    for (int i = 0; i < n; i++) p[i] *= inv;
    return n;
}

float slm_distill_row(float *grad, const float *z, int V, const int32_t *ids, const float *p,
                      int n, int32_t target, float T, float alpha, float scale, float *kl,
                      float *ce)
{
    float mx = z[0];
    for (int j = 1; j < V; j++)
        if (z[j] > mx) mx = z[j];
    double sT = 0.0, s1 = 0.0;
    for (int j = 0; j < V; j++) {
        sT += exp((double)(z[j] - mx) / T);
        s1 += exp((double)(z[j] - mx));
    }
    const double lsT = log(sT), ls1 = log(s1);
    double k_l = 0.0, c_e = 0.0;
    if (alpha > 0.0f)
        for (int i = 0; i < n; i++)
            if (p[i] > 0.0f)
                k_l += p[i] * (log((double)p[i]) - ((double)(z[ids[i]] - mx) / T - lsT));
    if (alpha < 1.0f) c_e = ls1 - (double)(z[target] - mx);
    const float a = alpha, wk = scale * a * T, wc = scale * (1.0f - a);
    for (int j = 0; j < V; j++) {
        const double d = (double)(z[j] - mx);
        grad[j] = wk * (float)exp(d / T - lsT) + wc * (float)exp(d - ls1);
    }
    if (alpha < 1.0f) grad[target] -= wc;
    if (alpha > 0.0f)
        for (int i = 0; i < n; i++) grad[ids[i]] -= wk * p[i];
    if (kl) *kl = (float)k_l;
    if (ce) *ce = (float)c_e;
    return (float)((double)a * T * T * k_l + (1.0 - a) * c_e);
}

slm_status slm_distill_check_vocab(const slm_vocab *teacher, const char *teacher_path,
                                   const slm_vocab *student, const char *student_path)
{
    const int32_t nt = slm_vocab_n_tokens(teacher), ns = slm_vocab_n_tokens(student);
    if (nt != ns)
        return slm_fail(SLM_ERR_ARG,
                        "tokenizer mismatch: teacher %s has %d tokens, student tokenizer %s has "
                        "%d: student and teacher must share the tokenizer",
                        teacher_path, nt, student_path, ns);
    for (int32_t i = 0; i < nt; i++) {
        size_t la = 0, lb = 0;
        const char *a = slm_vocab_token_text(teacher, i, &la);
        const char *b = slm_vocab_token_text(student, i, &lb);
        if (la != lb || (la && memcmp(a, b, la) != 0))
            return slm_fail(SLM_ERR_ARG,
                            "tokenizer mismatch: token %d is '%.*s' in teacher %s but '%.*s' in "
                            "student tokenizer %s: student and teacher must share the tokenizer",
                            (int)i, (int)(la > 40 ? 40 : la), a ? a : "", teacher_path,
                            (int)(lb > 40 ? 40 : lb), b ? b : "", student_path);
    }
    return SLM_OK;
}

/* ---- cache file ---- */

static const char cache_magic[8] = {'S', 'L', 'M', 'D', 'K', 'D', '0', '1'};
#define CACHE_VERSION 1u
#define CACHE_HEADER 64u

static size_t done_bytes(uint64_t n_win)
{
    return (size_t)((n_win + 7) / 8 * 8);
}

/* Entries per array; 0 on overflow. */
static size_t cache_entries(const slm_dcache *c)
{
    const uint64_t per = (uint64_t)c->n_ctx * c->k;
    if (!per || c->n_win > (uint64_t)SIZE_MAX / 8 / per) return 0;
    return (size_t)(c->n_win * per);
}

slm_status slm_dcache_alloc(slm_dcache *c)
{
    const size_t n = cache_entries(c);
    if (!n || !c->n_win)
        return slm_fail(SLM_ERR_ARG,
                        "teacher cache: %llu windows x %u positions x top %u is not a valid size",
                        (unsigned long long)c->n_win, c->n_ctx, c->k);
    c->done = slm_calloc(done_bytes(c->n_win), 1);
    c->ids = slm_calloc(n, sizeof *c->ids);
    c->p = slm_calloc(n, sizeof *c->p);
    c->n_done = 0;
    if (!c->done || !c->ids || !c->p) {
        slm_dcache_free(c);
        return slm_fail(SLM_ERR_NOMEM, "teacher cache: out of memory for %zu entries (%.1f MiB)",
                        n, (double)n * 8 / (1 << 20));
    }
    return SLM_OK;
}

void slm_dcache_free(slm_dcache *c)
{
    slm_free(c->done);
    slm_free(c->ids);
    slm_free(c->p);
    c->done = NULL;
    c->ids = NULL;
    c->p = NULL;
    c->n_done = 0;
}

static void put32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *b)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)b[i] << (8 * i);
    return v;
}

static uint64_t get64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static void header_bytes(const slm_dcache *c, unsigned char *h)
{
    memset(h, 0, CACHE_HEADER);
    memcpy(h, cache_magic, 8);
    put32(h + 8, CACHE_VERSION);
    put32(h + 12, c->n_vocab);
    put32(h + 16, c->k);
    uint32_t tb;
    memcpy(&tb, &c->temperature, 4);
    put32(h + 20, tb);
    put32(h + 24, c->n_ctx);
    put64(h + 32, c->n_tokens);
    put64(h + 40, c->data_hash);
    put64(h + 48, c->teacher_hash);
    put64(h + 56, c->n_win);
}

/* The arrays are written in host order: the project's targets are little-endian. */
slm_status slm_dcache_save(const slm_dcache *c, const char *path)
{
    slm_status st = SLM_OK;
    const size_t n = cache_entries(c), pl = strlen(path);
    char *tmp = slm_alloc(pl + 8);
    FILE *f = NULL;
    SLM_CHECK(tmp, SLM_ERR_NOMEM, "teacher cache: out of memory");
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    f = fopen(tmp, "wb");
    SLM_CHECK(f, SLM_ERR_IO, "%s: cannot create the teacher cache", tmp);
    unsigned char h[CACHE_HEADER];
    header_bytes(c, h);
    SLM_CHECK(fwrite(h, 1, CACHE_HEADER, f) == CACHE_HEADER &&
                  fwrite(c->done, 1, done_bytes(c->n_win), f) == done_bytes(c->n_win) &&
                  fwrite(c->ids, sizeof *c->ids, n, f) == n &&
                  fwrite(c->p, sizeof *c->p, n, f) == n,
              SLM_ERR_IO, "%s: write failed (disk full?)", tmp);
    const int bad = fclose(f);
    f = NULL;
    SLM_CHECK(!bad, SLM_ERR_IO, "%s: write failed on close", tmp);
    SLM_CHECK(rename(tmp, path) == 0, SLM_ERR_IO, "%s: cannot rename %s into place", path, tmp);
    slm_free(tmp);
    return SLM_OK;
fail:
    if (f) fclose(f);
    if (tmp) remove(tmp);
    slm_free(tmp);
    return st;
}

slm_status slm_dcache_load(slm_dcache *c, const char *path)
{
    slm_status st = SLM_OK;
    FILE *f = fopen(path, "rb");
    SLM_CHECK(f, SLM_ERR_IO, "%s: cannot open the teacher cache", path);
    unsigned char h[CACHE_HEADER];
    SLM_CHECK(fread(h, 1, CACHE_HEADER, f) == CACHE_HEADER && memcmp(h, cache_magic, 8) == 0,
              SLM_ERR_FORMAT, "%s: not a teacher cache (magic \"SLMDKD01\" expected)", path);
    SLM_CHECK(get32(h + 8) == CACHE_VERSION, SLM_ERR_FORMAT,
              "%s: teacher cache version %u, expected %u", path, get32(h + 8), CACHE_VERSION);
    float temp;
    const uint32_t tb = get32(h + 20);
    memcpy(&temp, &tb, 4);
#define FIELD(name, found, want)                                                              \
    SLM_CHECK((found) == (want), SLM_ERR_ARG,                                                 \
              "%s: teacher cache does not match this run: %s %llu, expected %llu (delete it " \
              "or pass another --teacher-cache)",                                            \
              path, name, (unsigned long long)(found), (unsigned long long)(want))
    FIELD("vocabulary size", get32(h + 12), c->n_vocab);
    FIELD("top-k", get32(h + 16), c->k);
    SLM_CHECK(temp == c->temperature, SLM_ERR_ARG,
              "%s: teacher cache does not match this run: temperature %g, expected %g (delete "
              "it or pass another --teacher-cache)",
              path, (double)temp, (double)c->temperature);
    FIELD("context (window length)", get32(h + 24), c->n_ctx);
    FIELD("token count", get64(h + 32), c->n_tokens);
    FIELD("data hash", get64(h + 40), c->data_hash);
    FIELD("teacher fingerprint", get64(h + 48), c->teacher_hash);
    FIELD("window count", get64(h + 56), c->n_win);
#undef FIELD
    SLM_TRY(slm_dcache_alloc(c));
    const size_t n = cache_entries(c);
    SLM_CHECK(fread(c->done, 1, done_bytes(c->n_win), f) == done_bytes(c->n_win) &&
                  fread(c->ids, sizeof *c->ids, n, f) == n && fread(c->p, sizeof *c->p, n, f) == n,
              SLM_ERR_FORMAT, "%s: teacher cache truncated (expected %zu bytes)", path,
              (size_t)CACHE_HEADER + done_bytes(c->n_win) + n * 8);
    SLM_CHECK(fgetc(f) == EOF, SLM_ERR_FORMAT, "%s: teacher cache has trailing bytes", path);
    for (uint64_t w = 0; w < c->n_win; w++) {
        SLM_CHECK(c->done[w] <= 1, SLM_ERR_FORMAT, "%s: window %llu flag %u, expected 0 or 1",
                  path, (unsigned long long)w, c->done[w]);
        c->n_done += c->done[w];
    }
    for (size_t i = 0; i < n; i++)
        SLM_CHECK(c->ids[i] >= 0 && (uint32_t)c->ids[i] < c->n_vocab && c->p[i] >= 0.0f &&
                      c->p[i] <= 1.0f,
                  SLM_ERR_FORMAT, "%s: entry %zu (id %d, p %g) out of range (vocab %u)", path, i,
                  (int)c->ids[i], (double)c->p[i], c->n_vocab);
    fclose(f);
    return SLM_OK;
fail:
    if (f) fclose(f);
    slm_dcache_free(c);
    return st;
}

slm_status slm_distill_file_hash(const char *path, uint64_t *out)
{
    slm_status st = SLM_OK;
    unsigned char *buf = NULL;
    FILE *f = fopen(path, "rb");
    SLM_CHECK(f, SLM_ERR_IO, "%s: cannot open", path);
    SLM_CHECK(fseek(f, 0, SEEK_END) == 0, SLM_ERR_IO, "%s: cannot seek", path);
    const long size = ftell(f);
    SLM_CHECK(size >= 0, SLM_ERR_IO, "%s: cannot tell its size", path);
    const size_t mib = 1 << 20, part = (size_t)size < mib ? (size_t)size : mib;
    buf = slm_alloc(part ? part : 1);
    SLM_CHECK(buf, SLM_ERR_NOMEM, "%s: out of memory", path);
    uint64_t hsh = 1469598103934665603ull;
    for (int i = 0; i < 8; i++) hsh = (hsh ^ (unsigned char)((uint64_t)size >> (8 * i))) * 1099511628211ull;
    for (int end = 0; end < 2; end++) {
        SLM_CHECK(fseek(f, end ? size - (long)part : 0, SEEK_SET) == 0 &&
                      fread(buf, 1, part, f) == part,
                  SLM_ERR_IO, "%s: read failed", path);
        for (size_t i = 0; i < part; i++) hsh = (hsh ^ buf[i]) * 1099511628211ull;
    }
    *out = hsh;
fail:
    if (f) fclose(f);
    slm_free(buf);
    return st;
}

/* ---- the run ---- */

slm_distill_params slm_distill_default_params(void)
{
    slm_distill_params p = {.train = slm_train_default_params(), .temperature = 1.0f,
                            .alpha = 0.5f, .top_k = 0};
    p.train.checkpoint_every = 0;
    return p;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct teacher {
    slm_model *model;
    slm_session *sess;
    int T;
    uint64_t tokens;
    double secs;
} teacher;

/* Run the teacher on one window of T tokens from an empty cache; rows via
 * slm_session_logits. */
static slm_status teacher_window(teacher *t, const int32_t *ids)
{
    const double t0 = now_s();
    slm_status st = slm_session_truncate(t->sess, 0);
    if (st == SLM_OK) st = slm_session_decode(t->sess, ids, (size_t)t->T, NULL);
    t->tokens += (uint64_t)t->T;
    t->secs += now_s() - t0;
    return st;
}

/* Validation: mean student cross-entropy and mean KL(teacher || student) at
 * temperature 1 over the full vocabulary, on up to n_batches micro-batches
 * of consecutive windows from the start of the stream (NaN if no full
 * micro-batch fits). */
static slm_status evaluate(slm_tmodel *m, teacher *tc, const slm_tokens *val, int n_batches,
                           int32_t *ids, int32_t *tg, int32_t *tids, float *tp, float *ce_out,
                           float *kl_out)
{
    const size_t T = (size_t)m->T, B = (size_t)m->B;
    const int V = m->c.n_vocab;
    const size_t n_win = val->n > T ? (val->n - 1) / T : 0;
    *ce_out = *kl_out = NAN;
    if (n_win < B) return SLM_OK;
    double ce = 0.0, kl = 0.0;
    size_t n = 0;
    int done = 0;
    float *scratch = slm_alloc((size_t)V * sizeof *scratch);
    if (!scratch) return slm_fail(SLM_ERR_NOMEM, "distill: out of memory");
    for (size_t w0 = 0; done < n_batches && w0 + B <= n_win; w0 += B, done++) {
        for (size_t b = 0; b < B; b++) {
            memcpy(ids + b * T, val->ids + (w0 + b) * T, T * sizeof *ids);
            memcpy(tg + b * T, val->ids + (w0 + b) * T + 1, T * sizeof *tg);
        }
        slm_tmodel_forward(m, ids, NULL);
        for (size_t b = 0; b < B; b++) {
            slm_status st = teacher_window(tc, ids + b * T);
            if (st != SLM_OK) {
                slm_free(scratch);
                return st;
            }
            for (size_t t = 0; t < T; t++) {
                const float *zt = slm_session_logits(tc->sess, t);
                const int nn = slm_distill_teacher_probs(zt, V, 0, 1.0f, tids, tp);
                float k1 = 0.0f, c1 = 0.0f;
                slm_distill_row(scratch, m->logits + (b * T + t) * (size_t)V, V, tids, tp, nn,
                                tg[b * T + t], 1.0f, 0.5f, 1.0f, &k1, &c1);
                ce += c1;
                kl += k1;
                n++;
            }
        }
    }
    slm_free(scratch);
    *ce_out = (float)(ce / (double)n);
    *kl_out = (float)(kl / (double)n);
    return SLM_OK;
}

static slm_status hist_push(slm_ckpt_state *s, size_t *cap, int64_t step, float loss, float val)
{
    if (s->n_hist == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        slm_loss_point *nh = slm_realloc(s->hist, nc * sizeof *nh);
        if (!nh) return slm_fail(SLM_ERR_NOMEM, "distill: out of memory for the loss history");
        s->hist = nh;
        *cap = nc;
    }
    s->hist[s->n_hist++] = (slm_loss_point){step, loss, val};
    return SLM_OK;
}

slm_status slm_distill(const slm_distill_params *dp, const char *teacher_path,
                       const char *const *files, size_t n_files, const char *const *val_files,
                       size_t n_val, const char *out_path, slm_distill_stats *stats)
{
    slm_status st = SLM_OK;
    slm_gguf *g_tok = NULL, *g_teach = NULL;
    slm_vocab *vocab = NULL, *tvocab = NULL;
    slm_tokens data = {0}, val = {0};
    slm_tmodel *m = NULL;
    teacher tc = {0};
    slm_dcache cache = {0};
    int32_t *ids = NULL, *tgt = NULL, *tids = NULL;
    float *tp = NULL;
    size_t *win = NULL;
    slm_ckpt_state s = {0};
    size_t hist_cap = 0;
    int cache_dirty = 0;
    slm_error_clear();
    const char *eb = getenv("SLM_TRAIN_BLAS");
    slm_tl_use_blas = !(eb && strcmp(eb, "0") == 0);
    if (stats) memset(stats, 0, sizeof *stats);
    SLM_CHECK(dp && teacher_path && files && n_files > 0 && out_path, SLM_ERR_ARG,
              "slm_distill: params, teacher, at least one data file and an output path are "
              "required");
    const slm_train_params *p = &dp->train;
    float Temp = dp->temperature, alpha = dp->alpha;
    SLM_CHECK(p->batch > 0 && p->accum > 0 && p->n_steps > 0 && p->lr > 0.0f &&
                  p->beta1 >= 0.0f && p->beta1 < 1.0f && p->beta2 >= 0.0f && p->beta2 < 1.0f,
              SLM_ERR_ARG,
              "slm_distill: batch %u, accum %u, steps %u, lr %g, betas %g %g: expected positive "
              "counts, lr > 0, betas in [0, 1)",
              p->batch, p->accum, p->n_steps, (double)p->lr, (double)p->beta1, (double)p->beta2);
    SLM_CHECK(Temp > 0.0f && Temp <= 100.0f && alpha >= 0.0f && alpha <= 1.0f, SLM_ERR_ARG,
              "slm_distill: temperature %g, alpha %g: expected temperature in (0, 100] and "
              "alpha in [0, 1]",
              (double)Temp, (double)alpha);
    SLM_CHECK(!dp->teacher_cache || dp->top_k > 0, SLM_ERR_ARG,
              "slm_distill: a teacher cache needs top_k > 0 (the full distribution of every "
              "position would be too large)");

    /* tokenizer: the teacher's, or one that must equal it */
    const char *tok_path = dp->tokenizer ? dp->tokenizer : teacher_path;
    SLM_TRY(slm_gguf_open(tok_path, 1, &g_tok));
    st = slm_vocab_load(g_tok, &vocab);
    if (st != SLM_OK) {
        slm_error_prefix(tok_path);
        goto fail;
    }
    if (dp->tokenizer) {
        SLM_TRY(slm_gguf_open(teacher_path, 1, &g_teach));
        st = slm_vocab_load(g_teach, &tvocab);
        if (st != SLM_OK) {
            slm_error_prefix(teacher_path);
            goto fail;
        }
        SLM_TRY(slm_distill_check_vocab(tvocab, teacher_path, vocab, tok_path));
    }
    const int V = slm_vocab_n_tokens(vocab);

    slm_tconfig c = {
        .n_vocab = V, .n_embd = (int)p->n_embd, .n_layer = (int)p->n_layer,
        .n_head = (int)p->n_head, .n_head_kv = (int)(p->n_head_kv ? p->n_head_kv : p->n_head),
        .n_ff = (int)p->n_ff, .n_ctx = (int)p->n_ctx, .tied = p->tied ? 1 : 0, .eps = 1e-5f,
        .rope_base = 10000.0f,
    };
    /* the run's settings; a checkpoint's replace them (as slm_train) */
    s = (slm_ckpt_state){
        .batch = (int32_t)p->batch, .accum = (int32_t)p->accum, .n_steps = (int32_t)p->n_steps,
        .warmup = (int32_t)p->warmup, .eval_every = (int32_t)p->eval_every, .lr = p->lr,
        .min_lr_frac = p->min_lr_frac, .weight_decay = p->weight_decay, .clip = p->clip,
        .beta1 = p->beta1, .beta2 = p->beta2, .seed = p->seed, .distill = 1,
        .temperature = Temp, .alpha = alpha, .top_k = dp->top_k,
    };
    SLM_TRY(slm_distill_file_hash(teacher_path, &s.teacher_hash));
    const uint64_t teacher_hash = s.teacher_hash;
    int32_t n_steps_override = 0;
    if (p->resume) {
        SLM_TRY(slm_ckpt_read_config(p->resume, &c, &s));
        SLM_CHECK(c.n_vocab == V, SLM_ERR_ARG, "%s: checkpoint vocabulary %d, tokenizer %s has %d "
                  "tokens", p->resume, c.n_vocab, tok_path, V);
        if ((int32_t)p->n_steps > s.n_steps || (int64_t)p->n_steps == s.step)
            n_steps_override = (int32_t)p->n_steps;
    }
    for (size_t i = 0; i < n_files; i++) SLM_TRY(slm_tokens_add_file(&data, vocab, files[i]));
    for (size_t i = 0; i < n_val; i++) SLM_TRY(slm_tokens_add_file(&val, vocab, val_files[i]));
    SLM_CHECK(data.n > (size_t)c.n_ctx + 1, SLM_ERR_ARG,
              "training text gives %zu tokens, need more than n_ctx + 1 = %d", data.n,
              c.n_ctx + 1);
    SLM_TRY(slm_tmodel_new(&c, s.batch, c.n_ctx, p->n_threads, &m));
    const uint64_t data_hash = slm_tokens_hash(&data);
    if (p->resume) {
        SLM_TRY(slm_ckpt_load(m, &s, p->resume));
        hist_cap = s.n_hist;
        if (n_steps_override) s.n_steps = n_steps_override;
        SLM_CHECK(s.distill, SLM_ERR_ARG,
                  "%s: a training checkpoint, not a distillation one (slm train --resume "
                  "continues it)", p->resume);
        SLM_CHECK(s.data_hash == data_hash, SLM_ERR_ARG,
                  "%s: checkpoint was distilled on other data (token hash %016llx, these files "
                  "give %016llx)", p->resume, (unsigned long long)s.data_hash,
                  (unsigned long long)data_hash);
        SLM_CHECK(s.teacher_hash == teacher_hash, SLM_ERR_ARG,
                  "%s: checkpoint was distilled from another teacher than %s", p->resume,
                  teacher_path);
        Temp = s.temperature, alpha = s.alpha;
    } else {
        slm_tmodel_init(m, s.seed);
        slm_rng_seed(&s.rng, s.seed ^ 0x5eed0da7aull);
        s.data_hash = data_hash;
    }
    const uint32_t top_k = s.top_k;

    const size_t T = (size_t)c.n_ctx, B = (size_t)s.batch, BT = B * T;
    const size_t n_win = (data.n - 1) / T;
    ids = slm_alloc(BT * sizeof *ids);
    tgt = slm_alloc(BT * sizeof *tgt);
    tids = slm_alloc((size_t)V * sizeof *tids);
    tp = slm_alloc((size_t)V * sizeof *tp);
    win = slm_alloc(B * sizeof *win);
    SLM_CHECK(ids && tgt && tids && tp && win, SLM_ERR_NOMEM, "distill: out of memory");

    /* the teacher, in the inference engine */
    const int need_teacher = alpha > 0.0f || val.n > 0;
    if (need_teacher) {
        slm_model_params mp = slm_model_default_params();
        mp.n_threads = p->n_threads;
        SLM_TRY(slm_model_load(teacher_path, &mp, &tc.model));
        SLM_CHECK(slm_model_n_vocab(tc.model) == V, SLM_ERR_ARG,
                  "tokenizer mismatch: teacher %s produces %d logits, the tokenizer has %d "
                  "tokens: student and teacher must share the tokenizer",
                  teacher_path, (int)slm_model_n_vocab(tc.model), V);
        slm_session_params sp = slm_session_default_params();
        sp.n_ctx = (uint32_t)T;
        sp.n_batch = (uint32_t)T;
        sp.n_threads = p->n_threads;
        sp.logits_all = 1;
        SLM_TRY(slm_session_new(tc.model, &sp, &tc.sess));
        tc.T = (int)T;
    }
    const int K = top_k > 0 && (int)top_k < V ? (int)top_k : 0;
    if (dp->teacher_cache) {
        cache = (slm_dcache){.n_vocab = (uint32_t)V, .k = (uint32_t)(K ? K : V),
                             .n_ctx = (uint32_t)T, .temperature = Temp, .n_tokens = data.n,
                             .data_hash = data_hash, .teacher_hash = teacher_hash,
                             .n_win = n_win};
        FILE *probe = fopen(dp->teacher_cache, "rb");
        if (probe) {
            fclose(probe);
            SLM_TRY(slm_dcache_load(&cache, dp->teacher_cache));
        } else {
            SLM_TRY(slm_dcache_alloc(&cache));
        }
        if (stats) stats->cache_windows_loaded = cache.n_done;
    }

    const slm_adamw opt = {.lr = s.lr, .beta1 = s.beta1, .beta2 = s.beta2, .eps = 1e-8f,
                           .weight_decay = s.weight_decay};
    const int eval_batches = p->eval_batches ? (int)p->eval_batches : 8;
    const int64_t n_steps = s.n_steps, step0 = s.step;
    const float gscale = 1.0f / (float)(BT * (size_t)s.accum);
    double train_s = 0.0;
    const double t_start = now_s(), elapsed0 = s.elapsed_s;
    float loss = NAN, vce = NAN, vkl = NAN, last_kl = NAN, last_ce = NAN;
    while (s.step < n_steps) {
        const int64_t step = s.step;
        const double t0 = now_s();
        slm_tmodel_zero_grad(m);
        double lsum = 0.0, klsum = 0.0, cesum = 0.0;
        for (int32_t a = 0; a < s.accum; a++) {
            for (size_t b = 0; b < B; b++) {
                win[b] = (size_t)(slm_rng_next(&s.rng) % (uint64_t)n_win);
                memcpy(ids + b * T, data.ids + win[b] * T, T * sizeof *ids);
                memcpy(tgt + b * T, data.ids + win[b] * T + 1, T * sizeof *tgt);
            }
            slm_tmodel_forward(m, ids, NULL);
            for (size_t b = 0; b < B; b++) {
                const size_t w = win[b];
                const int cached = cache.done != NULL && alpha > 0.0f;
                if (alpha > 0.0f && (!cached || !cache.done[w])) {
                    SLM_TRY(teacher_window(&tc, ids + b * T));
                    if (cached) {
                        for (size_t t = 0; t < T; t++) {
                            const size_t o = (w * T + t) * cache.k;
                            slm_distill_teacher_probs(slm_session_logits(tc.sess, t), V, K, Temp,
                                                      cache.ids + o, cache.p + o);
                        }
                        cache.done[w] = 1;
                        cache.n_done++;
                        cache_dirty = 1;
                    }
                }
                for (size_t t = 0; t < T; t++) {
                    const int32_t *ri = tids;
                    const float *rp = tp;
                    int n = 0;
                    if (cached) {
                        const size_t o = (w * T + t) * cache.k;
                        ri = cache.ids + o, rp = cache.p + o, n = (int)cache.k;
                    } else if (alpha > 0.0f) {
                        n = slm_distill_teacher_probs(slm_session_logits(tc.sess, t), V, K, Temp,
                                                      tids, tp);
                    }
                    float *z = m->logits + (b * T + t) * (size_t)V;
                    float k1 = 0.0f, c1 = 0.0f;
                    lsum += slm_distill_row(z, z, V, ri, rp, n, tgt[b * T + t], Temp, alpha,
                                            gscale, &k1, &c1);
                    klsum += k1;
                    cesum += c1;
                }
            }
            slm_tmodel_backward_logits(m, ids);
        }
        const double denom = (double)BT * s.accum;
        loss = (float)(lsum / denom);
        last_kl = (float)(klsum / denom);
        last_ce = (float)(cesum / denom);
        const float norm = slm_tmodel_grad_norm(m);
        const float gs = s.clip > 0.0f && norm > s.clip ? s.clip / norm : 1.0f;
        const float lr = slm_lr_schedule(step, n_steps, s.warmup, s.lr, s.min_lr_frac);
        slm_tmodel_adamw(m, &opt, lr, gs, step + 1);
        s.step++;
        s.tokens_seen += BT * (uint64_t)s.accum;
        train_s += now_s() - t0;
        SLM_CHECK(isfinite(loss), SLM_ERR_ARG,
                  "distill: loss became %g at step %lld (lr %g too high?)", (double)loss,
                  (long long)s.step, (double)lr);
        float v = NAN;
        const int last = s.step == n_steps;
        if (val.n && (last || (s.eval_every > 0 && s.step % s.eval_every == 0))) {
            SLM_TRY(evaluate(m, &tc, &val, eval_batches, ids, tgt, tids, tp, &vce, &vkl));
            v = vce;
        }
        SLM_TRY(hist_push(&s, &hist_cap, s.step, loss, v));
        s.elapsed_s = elapsed0 + (now_s() - t_start);
        int ck = 0;
        if (p->checkpoint && (last || (p->checkpoint_every && s.step % p->checkpoint_every == 0))) {
            /* the teacher cache first: a resumed run finds the windows paid for */
            if (cache_dirty) SLM_TRY(slm_dcache_save(&cache, dp->teacher_cache));
            cache_dirty = 0;
            SLM_TRY(slm_ckpt_save(m, &s, p->checkpoint));
            ck = 1;
        }
        if (p->progress) {
            const double per = train_s / (double)(s.step - step0);
            slm_train_progress pr = {
                .step = (uint32_t)s.step, .n_steps = (uint32_t)n_steps, .loss = loss,
                .val_loss = v, .lr = lr, .grad_norm = norm,
                .tokens_per_s = (double)(s.step - step0) * BT * s.accum / train_s,
                .elapsed_s = s.elapsed_s, .eta_s = per * (double)(n_steps - s.step),
                .tokens_seen = s.tokens_seen, .checkpointed = ck,
            };
            if (p->progress(&pr, p->user)) {
                if (cache_dirty) SLM_TRY(slm_dcache_save(&cache, dp->teacher_cache));
                cache_dirty = 0;
                if (p->checkpoint && !ck) SLM_TRY(slm_ckpt_save(m, &s, p->checkpoint));
                SLM_CHECK(0, SLM_ERR_CANCELLED, "distill: cancelled at step %lld",
                          (long long)s.step);
            }
        }
    }
    if (cache_dirty) SLM_TRY(slm_dcache_save(&cache, dp->teacher_cache));
    SLM_TRY(slm_tmodel_save_gguf(m, tok_path, "slm-distilled", out_path));
    if (p->loss_svg) {
        char title[200];
        snprintf(title, sizeof title,
                 "slm distill: %d layers, dim %d, ctx %d, %zu params, T %g, alpha %g, top-k %u",
                 c.n_layer, c.n_embd, c.n_ctx, m->n_params, (double)Temp, (double)alpha,
                 top_k);
        SLM_TRY(slm_plot_loss_svg(s.hist, s.n_hist, title, p->loss_svg));
    }
    if (stats) {
        stats->train.n_params = m->n_params;
        stats->train.n_train_tokens = data.n;
        stats->train.n_val_tokens = val.n;
        stats->train.tokens_seen = s.tokens_seen;
        stats->train.final_loss = loss;
        stats->train.final_val_loss = vce;
        stats->train.elapsed_s = s.elapsed_s;
        stats->final_kl = last_kl;
        stats->final_ce = last_ce;
        stats->final_val_kld = vkl;
        stats->teacher_tokens = tc.tokens;
        stats->teacher_s = tc.secs;
        stats->cache_windows = cache.n_done;
        stats->n_windows = n_win;
    }
fail:
    slm_free(ids);
    slm_free(tgt);
    slm_free(tids);
    slm_free(tp);
    slm_free(win);
    slm_free(s.hist);
    slm_dcache_free(&cache);
    slm_session_free(tc.sess);
    slm_model_free(tc.model);
    slm_tmodel_free(m);
    slm_tokens_free(&data);
    slm_tokens_free(&val);
    slm_vocab_free(vocab);
    slm_vocab_free(tvocab);
    slm_gguf_close(g_tok);
    slm_gguf_close(g_teach);
    return st;
}
