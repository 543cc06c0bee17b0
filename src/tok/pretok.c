/* pretok.c — byte-level BPE pre-tokenizers: the regular expressions each
 * tokenizer.ggml.pre name stands for, run with PCRE2 (UTF + UCP, so \p{L},
 * \s etc. follow Unicode). This is the only file that uses PCRE2.
 *
 * A pre-tokenizer is a list of expressions applied in turn: each one splits
 * every current piece into its matches and the text between them (Hugging
 * Face's Split(..., behavior = Isolated); llama.cpp's unicode_regex_split).
 * A match never crosses a piece boundary, and lookaheads do not see past it.
 * The expressions are the ones in the models' tokenizer.json files, as
 * llama.cpp lists them per pre-tokenizer type.
 *
 * A build without PCRE2 (SLM_NO_PCRE2: -DSLM_MINIMAL=ON) keeps the names but
 * refuses every pre-tokenizer with SLM_ERR_UNSUPPORTED, so byte-level BPE
 * vocabularies fail to load by name while SentencePiece ones still work.
 */
#ifndef SLM_NO_PCRE2
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#endif

#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "tok/vocab.h"

#define MAX_EXPRS 6

/* ---- expressions --------------------------------------------------------- */

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_LLAMA3                                                                         \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" \
                    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                       \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" \
                    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* Words split at lower-to-upper case changes (tekken, gpt-4o); suffix is an
 * optional contraction or nothing. */
#define RE_CASED_WORDS(suffix, digits)                                                  \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+" \
    suffix "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" \
    suffix "|" digits "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_OPT_CONTRACTION "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"

/* DeepSeek LLM's letter class (from its tokenizer.json), in UTF-8. */
#define RE_DSLLM_LETTERS                                                                     \
    "\\s?[A-Za-z\xc2\xb5\xc3\x80-\xc3\x96\xc3\x98-\xc3\xb6\xc3\xb8-\xc6\xba\xc6\xbc-\xc6\xbf" \
    "\xc7\x84-\xca\x93\xca\x95-\xca\xaf\xcd\xb0-\xcd\xb3\xcd\xb6\xcd\xb7\xcd\xbb-\xcd\xbd"     \
    "\xcd\xbf\xce\x86\xce\x88-\xce\x8a\xce\x8c\xce\x8e-\xce\xa1\xce\xa3-\xcf\xb5\xcf\xb7-"     \
    "\xd2\x81\xd2\x8a-\xd4\xaf\xd4\xb1-\xd5\x96\xe1\x82\xa0-\xe1\x83\x85\xe1\x8e\xa0-"        \
    "\xe1\x8f\xb5\xe1\x8f\xb8-\xe1\x8f\xbd\xe1\xb2\x90-\xe1\xb2\xba\xe1\xb2\xbd-\xe1\xb2\xbf"  \
    "\xe1\xb4\x80-\xe1\xb4\xab\xe1\xb5\xab-\xe1\xb5\xb7\xe1\xb5\xb9-\xe1\xb6\x9a\xe1\xb8\x80-" \
    "\xe1\xbc\x95\xe1\xbc\x98-\xe1\xbc\x9d\xe1\xbc\xa0-\xe1\xbd\x85\xe1\xbd\x88-\xe1\xbd\x8d"  \
    "\xe1\xbd\x90-\xe1\xbd\x97\xe1\xbd\x99\xe1\xbd\x9b\xe1\xbd\x9d\xe1\xbd\x9f-\xe1\xbd\xbd"  \
    "\xe1\xbe\x80-\xe1\xbe\xb4\xe1\xbe\xb6-\xe1\xbe\xbc\xe1\xbe\xbe\xe1\xbf\x82-\xe1\xbf\x84"  \
    "\xe1\xbf\x86-\xe1\xbf\x8c\xe1\xbf\x90-\xe1\xbf\x93\xe1\xbf\x96-\xe1\xbf\x9b\xe1\xbf\xa0-" \
    "\xe1\xbf\xac\xe1\xbf\xb2-\xe1\xbf\xb4\xe1\xbf\xb6-\xe1\xbf\xbc\xe2\x84\x82\xe2\x84\x87"  \
    "\xe2\x84\x8a-\xe2\x84\x93\xe2\x84\x95\xe2\x84\x99-\xe2\x84\x9d\xe2\x84\xa4\xe2\x84\xa6"  \
    "\xe2\x84\xa8\xe2\x84\xaa-\xe2\x84\xad\xe2\x84\xaf-\xe2\x84\xb4\xe2\x84\xb9\xe2\x84\xbc-" \
    "\xe2\x84\xbf\xe2\x85\x85-\xe2\x85\x89\xe2\x85\x8e\xe2\x86\x83\xe2\x86\x84\xe2\xb0\x80-"  \
    "\xe2\xb1\xbb\xe2\xb1\xbe-\xe2\xb3\xa4\xe2\xb3\xab-\xe2\xb3\xae\xe2\xb3\xb2\xe2\xb3\xb3"  \
    "\xea\x99\x80-\xea\x99\xad\xea\x9a\x80-\xea\x9a\x9b\xea\x9c\xa2-\xea\x9d\xaf\xea\x9d\xb1-" \
    "\xea\x9e\x87\xea\x9e\x8b-\xea\x9e\x8e\xea\xad\xb0-\xea\xae\xbf\xef\xac\x80-\xef\xac\x86"  \
    "\xef\xac\x93-\xef\xac\x97\xef\xbc\xa1-\xef\xbc\xba\xef\xbd\x81-\xef\xbd\x9a"              \
    "\xf0\x90\x90\x80-\xf0\x90\x91\x8f\xf0\x90\x92\xb0-\xf0\x90\x93\x93\xf0\x90\x93\x98-"     \
    "\xf0\x90\x93\xbb\xf0\x90\xb2\x80-\xf0\x90\xb2\xb2\xf0\x90\xb3\x80-\xf0\x90\xb3\xb2"      \
    "\xf0\x91\xa2\xa0-\xf0\x91\xa3\x9f\xf0\x9e\xa4\x80-\xf0\x9e\xa5\x83]+"
/* [!-/:-~！-／：-～‘-‟　-。] */
#define RE_DSLLM_PUNCT                                                                  \
    "\\s?[!-/:-~\xef\xbc\x81-\xef\xbc\x8f\xef\xbc\x9a-\xef\xbd\x9e\xe2\x80\x98-\xe2\x80\x9f" \
    "\xe3\x80\x80-\xe3\x80\x82]+"
/* [一-龥ࠀ-一가-퟿]+ */
#define RE_CJK_HANGUL "[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+"
/* [一-龥぀-ゟ゠-ヿ]+ */
#define RE_CJK_KANA "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+"

typedef struct pretok_def {
    const char *names; /* '|'-separated tokenizer.ggml.pre values */
    const char *exprs[MAX_EXPRS];
} pretok_def;

static const pretok_def defs[] = {
    {"gpt-2|gpt2|mpt|olmo|jais|phi-2|jina-es|jina-de|gigachat|jina-v2-es|jina-v2-de|a.x-4.0|"
     "mellum|modern-bert|trillion|granite-docling|exaone4|jina-v1-en|jina-v2-code|roberta-bpe",
     {RE_GPT2}},
    {"llama3|llama-v3|llama-bpe|falcon3|falcon-h1|pixtral|midm-2.0|lfm2|dbrx|smaug-bpe|glm4|"
     "chatglm-bpe",
     {RE_LLAMA3}},
    {"qwen2|deepseek-r1-qwen|kormo|f2llmv2|stablelm2|megrez|hunyuan|solar-open|grok-2",
     {RE_QWEN2}},
    {"qwen35",
     {RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+"
                      "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b|mellum2", {"\\p{N}", RE_GPT2}},
    {"deepseek-llm",
     {"[\\r\\n]", RE_DSLLM_LETTERS, RE_DSLLM_PUNCT, "\\s+$", RE_CJK_HANGUL, "\\p{N}+"}},
    {"deepseek-coder", {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK_HANGUL, "\\p{N}"}},
    {"deepseek-v3|hunyuan-dense",
     {"\\p{N}{1,3}", RE_CJK_KANA,
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?"
      "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"falcon",
     {"[\\p{P}\\$\\+<=>\\^~\\|`]+",
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
      "[0-9][0-9][0-9]"}},
    {"tekken", {RE_CASED_WORDS("", "\\p{N}")}},
    {"gpt-4o|llama4|kanana2|talkie|minimax-m2", {RE_CASED_WORDS(RE_OPT_CONTRACTION, "\\p{N}{1,3}")}},
    {"seed-coder",
     {RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+"
                      "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"bailingmoe|bailingmoe2|llada-moe",
     {"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
      "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"}},
    {"poro-chat|bloom|gpt3-finnish",
     {" ?[^(\\s|.,!?\xe2\x80\xa6\xe3\x80\x82\xef\xbc\x8c\xe3\x80\x81\xe0\xa5\xa4\xdb\x94\xd8\x8c)]+"}},
    /* SentencePiece-style BPE: only runs of newlines are split off. */
    {"gemma4", {"[^\\n]+|[\\n]+"}},
    {"default",
     {"[\\p{P}\\$\\+<=>\\^~\\|]+",
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)", "\\p{N}+",
      "[0-9][0-9][0-9]"}},
};

static int name_in_list(const char *list, const char *name);

#ifdef SLM_NO_PCRE2

struct slm_pretok {
    int unused;
};

void slm_pretok_free(slm_pretok *p) { slm_free(p); }

slm_status slm_pretok_new(const char *pre, slm_pretok **out, int *known)
{
    *out = NULL;
    *known = 0;
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        if (name_in_list(defs[i].names, pre)) *known = 1;
    return slm_fail(SLM_ERR_UNSUPPORTED,
                    "pre-tokenizer '%s': byte-level BPE tokenizers need PCRE2, and this is a "
                    "minimal build without it (configure with -DSLM_MINIMAL=OFF)", pre);
}

slm_status slm_pretok_split(const slm_pretok *p, const char *text, size_t len, slm_span **spans,
                            size_t *n)
{
    (void)p, (void)text, (void)len;
    *spans = NULL;
    *n = 0;
    return slm_fail(SLM_ERR_UNSUPPORTED, "pre-tokenizer: this build has no PCRE2");
}

static int name_in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

#else /* PCRE2 */

/* ---- PCRE2 plumbing ----------------------------------------------------- */

struct slm_pretok {
    pcre2_general_context *gctx;
    pcre2_code *code[MAX_EXPRS];
    int n;
};

static void *re_alloc(size_t n, void *user)
{
    (void)user;
    return slm_alloc(n);
}

static void re_free(void *p, void *user)
{
    (void)user;
    slm_free(p);
}

static int name_in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

void slm_pretok_free(slm_pretok *p)
{
    if (!p) return;
    for (int i = 0; i < p->n; i++) pcre2_code_free(p->code[i]);
    pcre2_general_context_free(p->gctx);
    slm_free(p);
}

slm_status slm_pretok_new(const char *pre, slm_pretok **out, int *known)
{
    slm_status st = SLM_OK;
    *out = NULL;
    const pretok_def *def = NULL;
    size_t n_defs = sizeof defs / sizeof defs[0];
    for (size_t i = 0; i < n_defs && !def; i++)
        if (name_in_list(defs[i].names, pre)) def = &defs[i];
    *known = def != NULL;
    if (!def) def = &defs[0]; /* gpt-2 */

    slm_pretok *p = slm_calloc(1, sizeof *p);
    SLM_CHECK(p, SLM_ERR_NOMEM, "pre-tokenizer '%s': out of memory", pre);
    p->gctx = pcre2_general_context_create(re_alloc, re_free, NULL);
    SLM_CHECK(p->gctx, SLM_ERR_NOMEM, "pre-tokenizer '%s': out of memory", pre);
    pcre2_compile_context *cctx = pcre2_compile_context_create(p->gctx);
    SLM_CHECK(cctx, SLM_ERR_NOMEM, "pre-tokenizer '%s': out of memory", pre);
    for (int i = 0; i < MAX_EXPRS && def->exprs[i]; i++) {
        int err = 0;
        PCRE2_SIZE at = 0;
        /* MATCH_INVALID_UTF: text from callers may be malformed UTF-8; such
         * bytes then never match and end up in the gaps, one piece each run. */
        p->code[i] = pcre2_compile((PCRE2_SPTR)def->exprs[i], PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &at,
                                   cctx);
        if (!p->code[i]) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(err, msg, sizeof msg);
            pcre2_compile_context_free(cctx);
            st = slm_fail(err == PCRE2_ERROR_HEAP_FAILED ? SLM_ERR_NOMEM : SLM_ERR_UNSUPPORTED, "pre-tokenizer '%s': expression %d: %s at %zu", pre,
                          i, (const char *)msg, (size_t)at);
            goto fail;
        }
        p->n++;
        pcre2_jit_compile(p->code[i], PCRE2_JIT_COMPLETE); /* best effort */
    }
    pcre2_compile_context_free(cctx);
    *out = p;
    return SLM_OK;
fail:
    slm_pretok_free(p);
    return st;
}

/* ---- splitting ----------------------------------------------------------- */

typedef struct span_list {
    slm_span *v;
    size_t n, cap;
} span_list;

static int span_push(span_list *l, size_t off, size_t len)
{
    if (len == 0) return 1;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64, bytes;
        if (!slm_size_mul(cap, sizeof *l->v, &bytes)) return 0;
        slm_span *nv = slm_realloc(l->v, bytes);
        if (!nv) return 0;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n].off = off;
    l->v[l->n].len = len;
    l->n++;
    return 1;
}

/* Length of the UTF-8 sequence starting with byte c (1 for stray bytes). */
static size_t utf8_len(unsigned char c)
{
    static const unsigned char lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lens[c >> 4];
}

slm_status slm_pretok_split(const slm_pretok *p, const char *text, size_t len, slm_span **spans,
                            size_t *n)
{
    slm_status st = SLM_OK;
    span_list cur = {0}, next = {0};
    pcre2_match_data *md = NULL;
    *spans = NULL;
    *n = 0;
    SLM_CHECK(span_push(&cur, 0, len) || len == 0, SLM_ERR_NOMEM, "pre-tokenizer: out of memory");
    md = pcre2_match_data_create(4, p->gctx);
    SLM_CHECK(md, SLM_ERR_NOMEM, "pre-tokenizer: out of memory");

    for (int r = 0; r < p->n; r++) {
        next.n = 0;
        for (size_t s = 0; s < cur.n; s++) {
            const char *piece = text + cur.v[s].off;
            size_t plen = cur.v[s].len, pos = 0, gap = 0;
            while (pos < plen) {
                int rc = pcre2_match(p->code[r], (PCRE2_SPTR)piece, plen, pos, 0, md, NULL);
                if (rc == PCRE2_ERROR_NOMATCH) break;
                SLM_CHECK(rc != PCRE2_ERROR_NOMEMORY, SLM_ERR_NOMEM, "pre-tokenizer: out of memory");
                SLM_CHECK(rc >= 0, SLM_ERR_FORMAT, "pre-tokenizer: regex match failed (%d)", rc);
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                size_t m0 = ov[0], m1 = ov[1];
                if (m1 == m0) {
                    /* An empty match splits nothing; step over one character. */
                    pos = m0 + utf8_len((unsigned char)piece[m0]);
                    if (pos > plen) pos = plen;
                    continue;
                }
                SLM_CHECK(span_push(&next, cur.v[s].off + gap, m0 - gap) &&
                              span_push(&next, cur.v[s].off + m0, m1 - m0),
                          SLM_ERR_NOMEM, "pre-tokenizer: out of memory");
                gap = pos = m1;
            }
            SLM_CHECK(span_push(&next, cur.v[s].off + gap, plen - gap), SLM_ERR_NOMEM,
                      "pre-tokenizer: out of memory");
        }
        span_list t = cur;
        cur = next;
        next = t;
    }
    pcre2_match_data_free(md);
    slm_free(next.v);
    *spans = cur.v;
    *n = cur.n;
    return SLM_OK;
fail:
    pcre2_match_data_free(md);
    slm_free(cur.v);
    slm_free(next.v);
    return st;
}

#endif /* SLM_NO_PCRE2 */
