/* fuzz_grammar.c — libFuzzer target for the GBNF parser and the matcher
 * (src/grammar): any bytes as a grammar must compile or fail with
 * SLM_ERR_FORMAT / SLM_ERR_NOMEM and a "grammar:" message, never crash,
 * hang, leak or read outside the input. A grammar that compiles is then run
 * over a small fixed vocabulary (apply, accept of the first allowed token)
 * for a few steps, and must also report any limit as a clean status. The
 * input is split at the first NUL: before it the grammar, after it text fed
 * to slm_grammar_accept_text. A second apply on the same state must give the
 * same mask (it is served from the mask cache). The text after the NUL is
 * also a model reply for the tool-call parser in every format: it must
 * succeed, and every call it returns must have a name and a JSON object as
 * arguments. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"

static void tool_calls(const uint8_t *text, size_t n)
{
    static const char *const tools =
        "[{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\", "
        "\"properties\": {\"s\": {\"type\": \"string\"}, \"n\": {\"type\": \"integer\"}}}}}]";
    char *t = malloc(n ? n : 1); /* exact size */
    if (!t) return;
    memcpy(t, text, n);
    for (int f = 0; f < SLM_TOOL_FORMAT_COUNT; f++) {
        slm_tool_calls *c = NULL;
        slm_status st = slm_tool_calls_parse((slm_tool_format)f, t, n, f & 1 ? tools : NULL, &c);
        if (st == SLM_ERR_NOMEM) continue;
        if (st != SLM_OK || !c) abort();
        if (c->content_len > n || c->content[c->content_len] != 0) abort(); /* content may hold NULs */
        for (size_t k = 0; k < c->n_calls; k++) {
            cJSON *a = cJSON_Parse(c->calls[k].arguments);
            if (!c->calls[k].name[0] || !c->calls[k].id[0] || (a && !cJSON_IsObject(a))) abort();
            cJSON_Delete(a); /* NULL only when cJSON ran out of memory or nesting */
        }
        slm_tool_calls_free(c);
    }
    free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t glen = nul ? (size_t)(nul - data) : size;
    char *src = malloc(glen ? glen : 1); /* exact size: ASan sees any overread */
    if (!src) return 0;
    memcpy(src, data, glen);
    slm_gram *gram = NULL;
    slm_status st = slm_gram_parse(src, glen, NULL, &gram);
    free(src);
    if (st != SLM_OK) {
        if (gram || (st != SLM_ERR_FORMAT && st != SLM_ERR_NOMEM)) abort();
        if (st == SLM_ERR_FORMAT && strncmp(slm_last_error(), "grammar", 7) != 0) abort();
        return 0;
    }
    static const char *const pieces[] = {"a", "b", "ab", "{", "}", "\"", " ", "0", "12", "\xC3", "\xA9",
                                         "\xC3\xA9", "x\n", "", "</s>", "[", "]", ",", ":", "-"};
    enum { NV = sizeof pieces / sizeof pieces[0] };
    size_t len[NV];
    uint8_t eog[NV] = {0};
    for (int i = 0; i < NV; i++) len[i] = strlen(pieces[i]);
    eog[14] = 1;
    slm_grammar *g = NULL;
    st = slm_grammar_new_vocab(gram, pieces, len, eog, NV, &g);
    if (st != SLM_OK) {
        if (g) abort();
        return 0;
    }
    if (nul) {
        tool_calls(nul + 1, size - glen - 1);
        slm_grammar_accept_text(g, (const char *)nul + 1, size - glen - 1);
    }
    slm_grammar_reset(g);
    for (int step = 0; step < 8; step++) {
        float logits[NV];
        for (int i = 0; i < NV; i++) logits[i] = 0.0f;
        if (slm_grammar_apply(g, logits, NV) != SLM_OK) break;
        float again[NV];
        for (int i = 0; i < NV; i++) again[i] = 0.0f;
        if (slm_grammar_apply(g, again, NV) != SLM_OK) abort();
        for (int i = 0; i < NV; i++)
            if ((logits[i] == 0.0f) != (again[i] == 0.0f)) abort();
        int ok[NV], n_ok = 0;
        for (int i = 0; i < NV; i++)
            if (logits[i] == 0.0f && !eog[i]) ok[n_ok++] = i;
        int pick = n_ok ? ok[(step * 7) % n_ok] : -1;
        if (pick < 0) break;
        if (slm_grammar_accept(g, pick) != SLM_OK) abort(); /* apply said it was allowed */
    }
    slm_grammar_free(g);
    return 0;
}
