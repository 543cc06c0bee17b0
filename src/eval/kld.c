/* kld.c — the saved log-probability file and KL(base || model) statistics
 * (llama-perplexity --kl-divergence reports the same quantities: mean KLD
 * with its standard error, median and 99th percentile, top-1 agreement,
 * and the perplexity difference).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "eval/kld.h"
#include "quant/types.h"

static int put_u32(FILE *f, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return fwrite(b, 1, 4, f) == 4;
}

static int get_u32(FILE *f, uint32_t *v)
{
    uint8_t b[4];
    if (fread(b, 1, 4, f) != 4) return 0;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 1;
}

slm_status slm_logp_write_header(FILE *f, const char *path, const slm_logp_header *h, const int32_t *tokens)
{
    size_t n = (size_t)h->n_ctx * h->n_chunk;
    int ok = fwrite(SLM_LOGP_MAGIC, 1, 8, f) == 8 && put_u32(f, h->n_vocab) && put_u32(f, h->n_ctx) &&
             put_u32(f, h->n_chunk) && put_u32(f, h->format);
    for (size_t i = 0; ok && i < n; i++) ok = put_u32(f, (uint32_t)tokens[i]);
    return ok ? SLM_OK : slm_fail(SLM_ERR_IO, "logits file '%s': write failed", path);
}

slm_status slm_logp_read_header(FILE *f, const char *path, slm_logp_header *h, int32_t **tokens)
{
    slm_status st = SLM_OK;
    char magic[8];
    int32_t *t = NULL;
    *tokens = NULL;
    SLM_CHECK(fread(magic, 1, 8, f) == 8 && memcmp(magic, SLM_LOGP_MAGIC, 8) == 0, SLM_ERR_FORMAT,
              "logits file '%s': not an slm log-probability file (expected magic %s)", path, SLM_LOGP_MAGIC);
    SLM_CHECK(get_u32(f, &h->n_vocab) && get_u32(f, &h->n_ctx) && get_u32(f, &h->n_chunk) && get_u32(f, &h->format),
              SLM_ERR_FORMAT, "logits file '%s': truncated header", path);
    SLM_CHECK(h->n_vocab > 0 && h->n_ctx >= 4 && h->n_chunk > 0, SLM_ERR_FORMAT,
              "logits file '%s': n_vocab %u, n_ctx %u, n_chunk %u (expected all > 0, n_ctx >= 4)", path,
              h->n_vocab, h->n_ctx, h->n_chunk);
    SLM_CHECK(h->format == SLM_LOGP_F32 || h->format == SLM_LOGP_F16, SLM_ERR_FORMAT,
              "logits file '%s': row format %u, expected 0 (float32) or 1 (float16)", path, h->format);
    /* the file must hold the tokens and every row: check before allocating */
    long here = ftell(f);
    SLM_CHECK(here >= 0 && fseek(f, 0, SEEK_END) == 0, SLM_ERR_IO, "logits file '%s': cannot seek", path);
    long end = ftell(f);
    SLM_CHECK(end >= 0 && fseek(f, here, SEEK_SET) == 0, SLM_ERR_IO, "logits file '%s': cannot seek", path);
    uint64_t rows = (uint64_t)(h->n_ctx - 1 - h->n_ctx / 2) * h->n_chunk;
    uint64_t need = 4ull * h->n_ctx * h->n_chunk + rows * slm_logp_row_bytes(h->format, h->n_vocab);
    SLM_CHECK((uint64_t)(end - here) == need, SLM_ERR_FORMAT,
              "logits file '%s': %ld bytes of data, expected %llu for %u chunks of %u tokens x %u", path,
              end - here, (unsigned long long)need, h->n_chunk, h->n_ctx, h->n_vocab);
    size_t n = (size_t)h->n_ctx * h->n_chunk;
    t = slm_alloc(n * sizeof *t);
    SLM_CHECK(t != NULL, SLM_ERR_NOMEM, "logits file '%s': cannot allocate %zu tokens", path, n);
    for (size_t i = 0; i < n; i++) {
        uint32_t v;
        SLM_CHECK(get_u32(f, &v), SLM_ERR_FORMAT, "logits file '%s': truncated tokens", path);
        t[i] = (int32_t)v;
    }
    *tokens = t;
    return SLM_OK;
fail:
    slm_free(t);
    return st;
}

uint64_t slm_logp_row_bytes(uint32_t format, uint32_t n_vocab)
{
    return format == SLM_LOGP_F16 ? 4ull + 2ull * n_vocab : 4ull * n_vocab;
}

/* F16 bits back to floats, minus their logsumexp; lp[next] = exact. */
static void f16_row_to_lp(const uint16_t *h, float *lp, int32_t n_vocab, int32_t next, float exact)
{
    float mx = -INFINITY;
    for (int32_t v = 0; v < n_vocab; v++) {
        lp[v] = slm_fp16_to_fp32(h[v]);
        if (lp[v] > mx) mx = lp[v];
    }
    double sum = 0.0;
    for (int32_t v = 0; v < n_vocab; v++) sum += exp((double)lp[v] - mx);
    const double lse = (double)mx + log(sum);
    for (int32_t v = 0; v < n_vocab; v++) lp[v] = (float)((double)lp[v] - lse);
    lp[next] = exact;
}

slm_status slm_logp_write_row(FILE *f, const char *path, uint32_t format, const float *lp, int32_t n_vocab,
                              int32_t next, uint16_t *scratch)
{
    int ok;
    if (format == SLM_LOGP_F16) {
        uint8_t *b = (uint8_t *)scratch; /* little-endian on disk, like the header */
        for (int32_t v = 0; v < n_vocab; v++) {
            const uint16_t h = slm_fp32_to_fp16(lp[v]);
            b[2 * v] = (uint8_t)h;
            b[2 * v + 1] = (uint8_t)(h >> 8);
        }
        uint32_t bits;
        memcpy(&bits, &lp[next], 4);
        ok = put_u32(f, bits) && fwrite(scratch, 2, (size_t)n_vocab, f) == (size_t)n_vocab;
    } else {
        ok = fwrite(lp, sizeof *lp, (size_t)n_vocab, f) == (size_t)n_vocab;
    }
    return ok ? SLM_OK : slm_fail(SLM_ERR_IO, "logits file '%s': write failed", path);
}

slm_status slm_logp_read_row(FILE *f, const char *path, uint32_t format, float *lp, int32_t n_vocab, int32_t next,
                             uint16_t *scratch)
{
    if (format != SLM_LOGP_F16) {
        if (fread(lp, sizeof *lp, (size_t)n_vocab, f) != (size_t)n_vocab)
            return slm_fail(SLM_ERR_FORMAT, "logits file '%s': truncated", path);
        return SLM_OK;
    }
    uint32_t bits;
    float exact;
    if (!get_u32(f, &bits) || fread(scratch, 2, (size_t)n_vocab, f) != (size_t)n_vocab)
        return slm_fail(SLM_ERR_FORMAT, "logits file '%s': truncated", path);
    memcpy(&exact, &bits, 4);
    for (int32_t v = 0; v < n_vocab; v++) { /* little-endian on disk */
        const uint8_t *b = (const uint8_t *)&scratch[v];
        scratch[v] = (uint16_t)(b[0] | b[1] << 8);
    }
    if (!isfinite(exact)) return slm_fail(SLM_ERR_FORMAT, "logits file '%s': non-finite log-probability", path);
    f16_row_to_lp(scratch, lp, n_vocab, next, exact);
    return SLM_OK;
}

void slm_logp_round_f16(float *lp, int32_t n_vocab, int32_t next, uint16_t *scratch)
{
    const float exact = lp[next];
    for (int32_t v = 0; v < n_vocab; v++) scratch[v] = slm_fp32_to_fp16(lp[v]);
    f16_row_to_lp(scratch, lp, n_vocab, next, exact);
}

slm_status slm_kld_add(slm_kld_acc *a, const float *base_lp, const float *cur_lp, int32_t n_vocab, int32_t next)
{
    double kl = 0.0;
    int32_t am_b = 0, am_c = 0;
    for (int32_t v = 0; v < n_vocab; v++) {
        double pb = exp((double)base_lp[v]);
        if (pb > 0 && base_lp[v] != cur_lp[v]) kl += pb * ((double)base_lp[v] - (double)cur_lp[v]);
        if (base_lp[v] > base_lp[am_b]) am_b = v;
        if (cur_lp[v] > cur_lp[am_c]) am_c = v;
    }
    if (kl < 0) kl = 0; /* rounding: KL is never negative */
    if (a->n == a->cap) {
        uint64_t cap = a->cap ? 2 * a->cap : 4096;
        float *p = slm_realloc(a->all, (size_t)cap * sizeof *p);
        if (!p) return slm_fail(SLM_ERR_NOMEM, "kl: cannot grow to %llu values", (unsigned long long)cap);
        a->all = p;
        a->cap = cap;
    }
    a->all[a->n++] = (float)kl;
    a->sum += kl;
    a->sum2 += kl * kl;
    if (kl > a->max) a->max = kl;
    a->n_top1 += am_b == am_c;
    double nb = -(double)base_lp[next], nc = -(double)cur_lp[next];
    a->base_nll += nb;
    a->base_nll2 += nb * nb;
    a->dnll += nc - nb;
    a->dnll2 += (nc - nb) * (nc - nb);
    return SLM_OK;
}

static int cmp_float(const void *x, const void *y)
{
    float a = *(const float *)x, b = *(const float *)y;
    return (a > b) - (a < b);
}

/* Standard error of a mean from sums of x and x^2 over n samples. */
static double stderr_of(double sum, double sum2, uint64_t n)
{
    if (n < 2) return 0.0;
    double m = sum / (double)n, var = sum2 / (double)n - m * m;
    return var > 0 ? sqrt(var / (double)(n - 1)) : 0.0;
}

void slm_kld_finish(slm_kld_acc *a, slm_perplexity_result *r)
{
    r->has_kl = 1;
    if (a->n == 0) return;
    double n = (double)a->n;
    r->kld = a->sum / n;
    r->kld_err = stderr_of(a->sum, a->sum2, a->n);
    r->kld_max = a->max;
    qsort(a->all, (size_t)a->n, sizeof *a->all, cmp_float);
    r->kld_median = a->n % 2 ? a->all[a->n / 2] : 0.5 * ((double)a->all[a->n / 2 - 1] + a->all[a->n / 2]);
    /* nearest-rank 99th percentile */
    uint64_t k = (uint64_t)ceil(0.99 * n);
    r->kld_p99 = a->all[k > 0 ? k - 1 : 0];
    r->top1 = (double)a->n_top1 / n;
    r->top1_err = a->n > 1 ? sqrt(r->top1 * (1.0 - r->top1) / (n - 1.0)) : 0.0;
    r->base_ppl = exp(a->base_nll / n);
    r->base_ppl_err = r->base_ppl * stderr_of(a->base_nll, a->base_nll2, a->n);
    r->dppl = r->ppl - r->base_ppl;
    /* ppl / base_ppl = exp(mean of the per-token NLL differences) */
    r->dppl_err = r->ppl * stderr_of(a->dnll, a->dnll2, a->n);
}

void slm_kld_free(slm_kld_acc *a)
{
    slm_free(a->all);
    memset(a, 0, sizeof *a);
}
