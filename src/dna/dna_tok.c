/* dna_tok.c — the nucleotide and k-mer vocabularies (see dna_tok.h for why
 * score-ordered SPM merging cuts non-overlapping k-mers from the left: with
 * j-mers scored j, the pair that extends the leftmost unfinished piece
 * always outranks every fresh 2-mer to its right, ties going left).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "dna/dna_tok.h"
#include "gguf/gguf.h"
#include "gguf/keys.h"

enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3 };

slm_status slm_dna_tokenizer_write(const char *spec, const char *path)
{
    slm_status st = SLM_OK;
    slm_gguf_writer *w = NULL;
    char **tok = NULL;
    float *score = NULL;
    int32_t *type = NULL;
    size_t n = 0;
    int k = 0;
    SLM_CHECK(spec && path, SLM_ERR_ARG, "dna tokenizer: NULL argument");
    if (strcmp(spec, "nuc") == 0) {
        k = 1;
    } else if (strncmp(spec, "kmer:", 5) == 0) {
        char *end = NULL;
        long v = strtol(spec + 5, &end, 10);
        SLM_CHECK(end != spec + 5 && *end == 0 && v >= 3 && v <= 6, SLM_ERR_ARG,
                  "dna tokenizer '%s': k must be 3..6 (e.g. kmer:6)", spec);
        k = (int)v;
    } else {
        SLM_CHECK(0, SLM_ERR_ARG,
                  "dna tokenizer '%s': expected nuc, kmer:K (K = 3..6) or a tokenizer .gguf file",
                  spec);
    }
    size_t cap = 4;
    for (int j = 1, p = 4; j <= k; j++, p *= 4) cap += (size_t)p;
    tok = slm_calloc(cap, sizeof *tok);
    score = slm_calloc(cap, sizeof *score);
    type = slm_calloc(cap, sizeof *type);
    SLM_CHECK(tok && score && type, SLM_ERR_NOMEM, "dna tokenizer: out of memory");
    static const char *const special[3] = {"<unk>", "<s>", "</s>"};
    for (int i = 0; i < 3; i++) {
        tok[n] = slm_alloc(strlen(special[i]) + 1);
        SLM_CHECK(tok[n], SLM_ERR_NOMEM, "dna tokenizer: out of memory");
        strcpy(tok[n], special[i]);
        type[n++] = i == 0 ? TOK_UNKNOWN : TOK_CONTROL;
    }
    if (k > 1) { /* N first, then the j-mers */
        tok[n] = slm_alloc(2);
        SLM_CHECK(tok[n], SLM_ERR_NOMEM, "dna tokenizer: out of memory");
        strcpy(tok[n], "N");
        score[n] = 1.0f;
        type[n++] = TOK_NORMAL;
    }
    static const char base[4] = {'A', 'C', 'G', 'T'};
    for (int j = 1; j <= k; j++) {
        size_t count = (size_t)1 << (2 * j);
        for (size_t c = 0; c < count; c++) {
            tok[n] = slm_alloc((size_t)j + 1);
            SLM_CHECK(tok[n], SLM_ERR_NOMEM, "dna tokenizer: out of memory");
            for (int i = 0; i < j; i++) tok[n][i] = base[(c >> (2 * (j - 1 - i))) & 3];
            tok[n][j] = 0;
            score[n] = (float)j;
            type[n++] = TOK_NORMAL;
        }
    }
    if (k == 1) { /* nuc: N after ACGT */
        tok[n] = slm_alloc(2);
        SLM_CHECK(tok[n], SLM_ERR_NOMEM, "dna tokenizer: out of memory");
        strcpy(tok[n], "N");
        score[n] = 1.0f;
        type[n++] = TOK_NORMAL;
    }
    SLM_TRY(slm_gguf_writer_new(&w));
    SLM_TRY(slm_gguf_set_str(w, SLM_KEY_ARCHITECTURE, "llama"));
    SLM_TRY(slm_gguf_set_str(w, SLM_KEY_NAME, k == 1 ? "slm-dna-nuc" : "slm-dna-kmer"));
    SLM_TRY(slm_gguf_set_str(w, SLM_KEY_TOK_MODEL, "llama"));
    SLM_TRY(slm_gguf_set_str(w, SLM_KEY_TOK_PRE, "default"));
    SLM_TRY(slm_gguf_set_arr_str(w, SLM_KEY_TOK_TOKENS, (const char *const *)tok, n));
    SLM_TRY(slm_gguf_set_arr_f32(w, SLM_KEY_TOK_SCORES, score, n));
    SLM_TRY(slm_gguf_set_arr_i32(w, SLM_KEY_TOK_TYPES, type, n));
    SLM_TRY(slm_gguf_set_u32(w, SLM_KEY_TOK_BOS, 1));
    SLM_TRY(slm_gguf_set_u32(w, SLM_KEY_TOK_EOS, 2));
    SLM_TRY(slm_gguf_set_u32(w, SLM_KEY_TOK_UNK, 0));
    SLM_TRY(slm_gguf_set_bool(w, SLM_KEY_TOK_ADD_BOS, 1));
    SLM_TRY(slm_gguf_set_bool(w, SLM_KEY_TOK_ADD_EOS, 0));
    SLM_TRY(slm_gguf_set_bool(w, SLM_KEY_TOK_ADD_SPACE_PREFIX, 0));
    SLM_TRY(slm_gguf_set_u32(w, "dna.tokenizer_k", (uint32_t)k));
    SLM_TRY(slm_gguf_writer_write(w, path));
fail:
    slm_gguf_writer_free(w);
    if (tok)
        for (size_t i = 0; i < n; i++) slm_free(tok[i]);
    slm_free(tok);
    slm_free(score);
    slm_free(type);
    return st;
}
