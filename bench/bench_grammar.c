/* bench_grammar.c — per-token cost of constrained decoding (slm_grammar_apply
 * + slm_grammar_accept) on a model's vocabulary, next to the cost of the
 * plain sampler on the same logits, in one process, interleaved per token.
 *
 * Logits are random (no forward pass: only the grammar is measured); the
 * token taken is the best allowed one, so the walk visits the grammar's
 * states as a real generation would. When the grammar completes, it is reset.
 * "new" is the first slm_grammar_new of each grammar (the first case pays
 * for sorting the vocabulary; later ones find it in the cache), "new again"
 * the median of 3 more builds of the same grammar.
 *
 *   cc -O2 -Iinclude bench/bench_grammar.c build/libslm.a -lpcre2-8 -lz -lcjson -lm -lpthread -o bench_grammar
 *   ./bench_grammar MODEL.gguf [N_TOKENS]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slm.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n ? v[n / 2] : 0.0;
}

static const char *const SCHEMA =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":20},"
    "\"age\":{\"type\":\"integer\",\"minimum\":0},\"email\":{\"type\":\"string\",\"format\":\"email\"},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":10},\"maxItems\":4}},"
    "\"required\":[\"name\",\"age\"]}";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [N_TOKENS]\n", argv[0]);
        return 2;
    }
    int n_tok = argc > 2 ? atoi(argv[2]) : 200;
    slm_model *m = NULL;
    slm_model_params mp = slm_model_default_params();
    mp.vocab_only = 1;
    if (slm_model_load(argv[1], &mp, &m) != SLM_OK) {
        fprintf(stderr, "load: %s\n", slm_last_error());
        return 1;
    }
    int32_t nv = slm_model_n_vocab(m);
    char *schema_gbnf = NULL;
    if (slm_json_schema_to_grammar(SCHEMA, strlen(SCHEMA), &schema_gbnf) != SLM_OK) {
        fprintf(stderr, "schema: %s\n", slm_last_error());
        return 1;
    }
    struct {
        const char *name, *gbnf;
    } cases[] = {
        {"json_object (any JSON object)", slm_grammar_json_object()},
        {"JSON Schema (person, 4 properties)", schema_gbnf},
        {"word list ([a-z]{1,8} separated by \", \")", "root ::= word (\", \" word){0,30}\nword ::= [a-z]{1,8}\n"},
        {"free text ([^\\x00]*: almost every token allowed)", "root ::= [^\\x00]*\n"},
    };
    float *logits = malloc((size_t)nv * sizeof *logits), *work = malloc((size_t)nv * sizeof *work);
    double *t_apply = malloc((size_t)n_tok * sizeof *t_apply), *t_accept = malloc((size_t)n_tok * sizeof *t_accept),
           *t_sample = malloc((size_t)n_tok * sizeof *t_sample);
    slm_sampler *smp = NULL;
    slm_sampler_params sp = slm_sampler_default_params();
    slm_sampler_new(&sp, &smp);
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    printf("vocabulary: %d tokens (%s); %d tokens per grammar\n\n", (int)nv, argv[1], n_tok);
    printf("| grammar | new (ms) | new again (ms) | apply median (ms/token) | apply mean (ms/token) | accept median (ms) | sampler alone median (ms) | allowed tokens (mean) |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        slm_grammar *g = NULL;
        double t0 = now_ms();
        if (slm_grammar_new(m, cases[c].gbnf, strlen(cases[c].gbnf), NULL, &g) != SLM_OK) {
            fprintf(stderr, "%s: %s\n", cases[c].name, slm_last_error());
            return 1;
        }
        double t_new = now_ms() - t0, t_again[3];
        for (int r = 0; r < 3; r++) {
            slm_grammar *g2 = NULL;
            t0 = now_ms();
            if (slm_grammar_new(m, cases[c].gbnf, strlen(cases[c].gbnf), NULL, &g2) != SLM_OK) return 1;
            t_again[r] = now_ms() - t0;
            slm_grammar_free(g2);
        }
        double allowed_sum = 0;
        for (int i = 0; i < n_tok; i++) {
            for (int32_t t = 0; t < nv; t++) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                logits[t] = (float)(rng >> 40) / (float)(1 << 24) * 4.0f;
            }
            /* A: the plain sampler on the raw logits */
            double a0 = now_ms();
            (void)slm_sampler_sample(smp, logits, nv);
            t_sample[i] = now_ms() - a0;
            /* B: mask, then take the best allowed token */
            memcpy(work, logits, (size_t)nv * sizeof *work);
            a0 = now_ms();
            if (slm_grammar_apply(g, work, nv) != SLM_OK) {
                fprintf(stderr, "apply: %s\n", slm_last_error());
                return 1;
            }
            t_apply[i] = now_ms() - a0;
            int32_t best = -1;
            int n_ok = 0;
            for (int32_t t = 0; t < nv; t++) {
                if (isinf(work[t])) continue;
                n_ok++;
                if (slm_token_is_eog(m, t)) continue;
                if (best < 0 || work[t] > work[best]) best = t;
            }
            allowed_sum += n_ok;
            if (best < 0) {
                slm_grammar_reset(g);
                t_accept[i] = 0;
                continue;
            }
            a0 = now_ms();
            if (slm_grammar_accept(g, best) != SLM_OK) {
                fprintf(stderr, "accept: %s\n", slm_last_error());
                return 1;
            }
            t_accept[i] = now_ms() - a0;
            if (slm_grammar_is_done(g)) slm_grammar_reset(g);
        }
        double apply_sum = 0;
        for (int i = 0; i < n_tok; i++) apply_sum += t_apply[i];
        printf("| %s | %.1f | %.1f | %.3f | %.3f | %.4f | %.3f | %.0f |\n", cases[c].name, t_new, median(t_again, 3),
               median(t_apply, n_tok), apply_sum / n_tok,
               median(t_accept, n_tok), median(t_sample, n_tok), allowed_sum / n_tok);
        fflush(stdout);
        slm_grammar_free(g);
    }
    slm_sampler_free(smp);
    slm_grammar_text_free(schema_gbnf);
    free(logits);
    free(work);
    free(t_apply);
    free(t_accept);
    free(t_sample);
    slm_model_free(m);
    return 0;
}
