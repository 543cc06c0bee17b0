/* sampler.c — choosing the next token from logits (the sampler part of slm.h).
 *
 * Pipeline, in this order: penalties over the last penalty_last_n accepted
 * tokens, top-k, temperature, softmax, top-p, min-p, draw. Temperature <= 0
 * is greedy: argmax after the penalties, lowest id on ties. The caller's
 * logits are never modified: candidates are copied into a scratch buffer
 * that grows only when n_vocab does, so sampling allocates nothing in the
 * steady state. Candidates are ordered by (logit descending, id ascending),
 * so every step is deterministic for a given seed.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "sample/rng.h"
#include "slm.h"

typedef struct cand {
    float v;    /* logit, then probability after softmax */
    int32_t id; /* token id */
} cand;

struct slm_sampler {
    slm_sampler_params p;
    slm_rng rng;
    int32_t *hist;      /* [penalty_last_n] ring buffer of accepted tokens */
    int32_t *hist_tmp;  /* [penalty_last_n] sorted copy for counting */
    int32_t n_hist;     /* tokens currently in hist (<= penalty_last_n) */
    int32_t hist_head;  /* next slot to overwrite */
    cand *cands;        /* [cap_cands] scratch candidates */
    int32_t cap_cands;
};

slm_sampler_params slm_sampler_default_params(void)
{
    slm_sampler_params p;
    memset(&p, 0, sizeof p);
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.0f;
    p.penalty_last_n = 64;
    p.seed = 0xC0FFEE;
    return p;
}

slm_status slm_sampler_new(const slm_sampler_params *p, slm_sampler **out)
{
    slm_status st = SLM_OK;
    slm_sampler *s = NULL;
    slm_error_clear();
    SLM_CHECK(out != NULL, SLM_ERR_ARG, "slm_sampler_new: out is NULL");
    *out = NULL;
    SLM_CHECK(p != NULL, SLM_ERR_ARG, "slm_sampler_new: params is NULL");
    SLM_CHECK(isfinite(p->temperature), SLM_ERR_ARG,
              "sampler: temperature %g is not a finite number", (double)p->temperature);
    SLM_CHECK(p->top_k >= 0, SLM_ERR_ARG, "sampler: top_k %d is negative (expected >= 0, 0 = off)",
              (int)p->top_k);
    SLM_CHECK(p->top_p > 0.0f && p->top_p <= 1.0f, SLM_ERR_ARG,
              "sampler: top_p %g outside (0, 1] (1 = off)", (double)p->top_p);
    SLM_CHECK(p->min_p >= 0.0f && p->min_p <= 1.0f, SLM_ERR_ARG,
              "sampler: min_p %g outside [0, 1] (0 = off)", (double)p->min_p);
    SLM_CHECK(p->repeat_penalty > 0.0f && isfinite(p->repeat_penalty), SLM_ERR_ARG,
              "sampler: repeat_penalty %g must be > 0 (1 = off)", (double)p->repeat_penalty);
    SLM_CHECK(isfinite(p->frequency_penalty) && isfinite(p->presence_penalty), SLM_ERR_ARG,
              "sampler: frequency_penalty %g / presence_penalty %g must be finite",
              (double)p->frequency_penalty, (double)p->presence_penalty);
    SLM_CHECK(p->penalty_last_n >= 0, SLM_ERR_ARG,
              "sampler: penalty_last_n %d is negative (expected >= 0)", (int)p->penalty_last_n);

    s = slm_calloc(1, sizeof *s);
    SLM_CHECK(s != NULL, SLM_ERR_NOMEM, "sampler: cannot allocate %zu bytes", sizeof *s);
    s->p = *p;
    if (p->penalty_last_n > 0) {
        s->hist = slm_calloc((size_t)p->penalty_last_n, sizeof *s->hist);
        s->hist_tmp = slm_calloc((size_t)p->penalty_last_n, sizeof *s->hist_tmp);
        SLM_CHECK(s->hist && s->hist_tmp, SLM_ERR_NOMEM,
                  "sampler: cannot allocate a penalty history of %d tokens", (int)p->penalty_last_n);
    }
    slm_rng_seed(&s->rng, p->seed);
    *out = s;
    return SLM_OK;
fail:
    slm_sampler_free(s);
    return st;
}

void slm_sampler_free(slm_sampler *s)
{
    if (!s) return;
    slm_free(s->hist);
    slm_free(s->hist_tmp);
    slm_free(s->cands);
    slm_free(s);
}

void slm_sampler_reset(slm_sampler *s)
{
    if (!s) return;
    s->n_hist = 0;
    s->hist_head = 0;
    slm_rng_seed(&s->rng, s->p.seed);
}

void slm_sampler_accept(slm_sampler *s, int32_t tok)
{
    if (!s || s->p.penalty_last_n <= 0) return;
    s->hist[s->hist_head] = tok;
    s->hist_head = (s->hist_head + 1) % s->p.penalty_last_n;
    if (s->n_hist < s->p.penalty_last_n) s->n_hist++;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Does a rank before b? Larger value first, then smaller id. */
static inline int ranks_before(const cand *a, const cand *b)
{
    return a->v > b->v || (a->v == b->v && a->id < b->id);
}

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (ranks_before(x, y)) return -1;
    if (ranks_before(y, x)) return 1;
    return 0;
}

/* Penalties on the candidate array, which still holds all n tokens in id
 * order (cands[i].id == i). llama.cpp's rule: a token seen c > 0 times has a
 * positive logit divided by repeat_penalty and a negative one multiplied;
 * then (OpenAI) logit -= c * frequency_penalty + presence_penalty. */
static void apply_penalties(slm_sampler *s, cand *c, int32_t n)
{
    const slm_sampler_params *p = &s->p;
    if (s->n_hist == 0) return;
    if (p->repeat_penalty == 1.0f && p->frequency_penalty == 0.0f && p->presence_penalty == 0.0f)
        return;
    memcpy(s->hist_tmp, s->hist, (size_t)s->n_hist * sizeof *s->hist);
    qsort(s->hist_tmp, (size_t)s->n_hist, sizeof *s->hist_tmp, cmp_i32);
    for (int32_t i = 0; i < s->n_hist;) {
        int32_t tok = s->hist_tmp[i], count = 0;
        while (i < s->n_hist && s->hist_tmp[i] == tok) {
            count++;
            i++;
        }
        if (tok < 0 || tok >= n) continue;
        float v = c[tok].v;
        if (v <= 0.0f)
            v *= p->repeat_penalty;
        else
            v /= p->repeat_penalty;
        v -= (float)count * p->frequency_penalty + p->presence_penalty;
        c[tok].v = v;
    }
}

/* Sift-down for a min-heap whose root is the candidate ranking LAST. */
static void heap_down(cand *h, int32_t n, int32_t i)
{
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && ranks_before(&h[m], &h[l])) m = l;
        if (r < n && ranks_before(&h[m], &h[r])) m = r;
        if (m == i) return;
        cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Move the k best candidates to c[0..k-1], sorted best first. O(n log k). */
static void keep_top_k(cand *c, int32_t n, int32_t k)
{
    for (int32_t i = k / 2 - 1; i >= 0; i--) heap_down(c, k, i);
    for (int32_t i = k; i < n; i++) {
        if (ranks_before(&c[i], &c[0])) {
            c[0] = c[i];
            heap_down(c, k, 0);
        }
    }
    qsort(c, (size_t)k, sizeof *c, cmp_cand);
}

int32_t slm_sampler_sample(slm_sampler *s, const float *logits, int32_t n_vocab)
{
    if (!s || !logits || n_vocab <= 0) return -1;
    if (n_vocab > s->cap_cands) {
        cand *nc = slm_alloc((size_t)n_vocab * sizeof *nc);
        if (!nc) {
            slm_fail(SLM_ERR_NOMEM, "sampler: cannot allocate candidates for %d tokens", (int)n_vocab);
            return -1;
        }
        slm_free(s->cands);
        s->cands = nc;
        s->cap_cands = n_vocab;
    }
    const slm_sampler_params *p = &s->p;
    cand *c = s->cands;
    int32_t n = n_vocab;
    for (int32_t i = 0; i < n; i++) {
        c[i].v = logits[i];
        c[i].id = i;
    }
    apply_penalties(s, c, n);

    if (p->temperature <= 0.0f) {
        int32_t best = 0;
        for (int32_t i = 1; i < n; i++)
            if (c[i].v > c[best].v) best = i;
        return c[best].id;
    }

    int sorted = 0;
    if (p->top_k > 0 && p->top_k < n) {
        keep_top_k(c, n, p->top_k);
        n = p->top_k;
        sorted = 1;
    }

    /* temperature + softmax; double accumulation keeps large vocabularies exact. */
    float vmax = c[0].v;
    for (int32_t i = 1; i < n; i++)
        if (c[i].v > vmax) vmax = c[i].v;
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        float e = expf((c[i].v - vmax) / p->temperature);
        c[i].v = e;
        sum += e;
    }
    for (int32_t i = 0; i < n; i++) c[i].v = (float)(c[i].v / sum);

    if (p->top_p < 1.0f) {
        int32_t n_sorted = n;
        if (!sorted) {
            /* Sorting a whole vocabulary per token is slow (150k+ entries).
             * The kept prefix is made of the largest probabilities, so if
             * the candidates above a small threshold already hold top_p of
             * the mass, the cut falls among them: sort only those. */
            float pmax = (float)(1.0 / sum), thr = pmax * 1e-4f;
            int32_t m = 0;
            double mass = 0.0;
            for (int32_t i = 0; i < n; i++) {
                if (c[i].v >= thr) {
                    cand t = c[m];
                    c[m] = c[i];
                    c[i] = t;
                    mass += c[m].v;
                    m++;
                }
            }
            if (mass >= p->top_p) n_sorted = m;
            qsort(c, (size_t)n_sorted, sizeof *c, cmp_cand);
            sorted = 1;
        }
        double cum = 0.0;
        int32_t keep = n_sorted; /* also when rounding keeps cum just under top_p */
        for (int32_t i = 0; i < n_sorted; i++) {
            cum += c[i].v;
            if (cum >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }

    if (p->min_p > 0.0f) {
        float pmax = 0.0f;
        for (int32_t i = 0; i < n; i++)
            if (c[i].v > pmax) pmax = c[i].v;
        float thr = p->min_p * pmax;
        int32_t m = 0;
        for (int32_t i = 0; i < n; i++)
            if (c[i].v >= thr) c[m++] = c[i]; /* keeps the order, and the max */
        n = m;
    }

    double total = 0.0;
    for (int32_t i = 0; i < n; i++) total += c[i].v;
    double u = slm_rng_uniform(&s->rng) * total, acc = 0.0;
    for (int32_t i = 0; i < n; i++) {
        acc += c[i].v;
        if (u < acc) return c[i].id;
    }
    return c[n - 1].id; /* u landed on the rounding slack at the top */
}
