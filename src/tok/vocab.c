/* vocab.c — the vocabulary: loading tokenizer.ggml.* from GGUF (or a spec
 * built in code), piece and merge hash tables, special tokens and the EOG
 * set, the special-token partition that runs before the model tokenizers
 * (spm.c, bpe.c), and detokenization of single tokens.
 *
 * Behaviour follows llama.cpp's llama_vocab (v0.5.0 and later): the same
 * defaults per model type, the same text-based detection of end-of-generation
 * and FIM tokens, the same order of special-token matching (longest text
 * first, each token split out of every text fragment in turn).
 * Everything here is read-only after loading; any number of threads may
 * tokenize with one vocabulary at once.
 */
#include "tok/vocab.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"

/* ---- hashing ------------------------------------------------------------- */

#define FNV_BASIS 1469598103934665603ull
#define FNV_PRIME 1099511628211ull

static uint64_t fnv_more(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* Final mix so that both the low bits (slot) and high bits (tag) are good. */
static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static uint32_t table_size(size_t n) /* power of two >= 2n, at least 16 */
{
    uint32_t c = 16;
    while (c < 2 * n && c < (1u << 31)) c <<= 1;
    return c;
}

int32_t slm_vocab_lookup(const slm_vocab *v, const char *text, size_t len)
{
    uint64_t h = mix(fnv_more(FNV_BASIS, text, len));
    uint32_t tag = (uint32_t)(h >> 32), i = (uint32_t)h & v->hash_mask;
    for (;;) {
        const slm_vocab_slot *e = &v->hash[i];
        if (e->idx1 == 0) return -1;
        if (e->tag == tag) {
            const slm_vocab_token *t = &v->tokens[e->idx1 - 1];
            if (t->len == len && memcmp(t->text, text, len) == 0) return e->idx1 - 1;
        }
        i = (i + 1) & v->hash_mask;
    }
}

int32_t slm_vocab_find(const slm_vocab *v, const char *text, size_t len)
{
    return v ? slm_vocab_lookup(v, text, len) : -1;
}

int32_t slm_vocab_merge_rank(const slm_vocab *v, const char *left, size_t left_len,
                             const char *right, size_t right_len)
{
    if (!v->merge_hash || left_len == 0) return -1;
    /* llama.cpp splits each merge at its first space after the first byte,
     * so a left part with a space after its first byte never matches. */
    if (left_len > 1 && memchr(left + 1, ' ', left_len - 1)) return -1;
    uint64_t h = fnv_more(FNV_BASIS, left, left_len);
    h = fnv_more(h, " ", 1);
    h = mix(fnv_more(h, right, right_len));
    uint32_t tag = (uint32_t)(h >> 32), i = (uint32_t)h & v->merge_mask;
    size_t len = left_len + 1 + right_len;
    for (;;) {
        const slm_vocab_slot *e = &v->merge_hash[i];
        if (e->idx1 == 0) return -1;
        if (e->tag == tag) {
            int32_t r = e->idx1 - 1;
            const char *m = v->merge_pool + v->merge_off[r];
            if (v->merge_off[r + 1] - v->merge_off[r] == len && memcmp(m, left, left_len) == 0 &&
                m[left_len] == ' ' && memcmp(m + left_len + 1, right, right_len) == 0)
                return r;
        }
        i = (i + 1) & v->merge_mask;
    }
}

slm_status slm_idbuf_push(slm_idbuf *b, int32_t id)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64, bytes;
        int32_t *p = NULL;
        if (slm_size_mul(cap, sizeof *p, &bytes)) p = slm_realloc(b->ids, bytes);
        if (!p) return slm_fail(SLM_ERR_NOMEM, "tokenizer: out of memory for %zu ids", cap);
        b->ids = p;
        b->cap = cap;
    }
    b->ids[b->n++] = id;
    return SLM_OK;
}

/* ---- where the arrays come from: a GGUF file or a spec ------------------- */

typedef struct source {
    const slm_gguf *g; /* GGUF source, or NULL */
    int64_t kv_tokens, kv_scores, kv_types, kv_merges; /* -1 = absent */
    const slm_vocab_spec *spec; /* spec source, or NULL */
    uint64_t n_merges;
} source;

static const char *src_token(const source *s, int32_t i, size_t *len)
{
    if (s->g) {
        const char *t = slm_gguf_arr_str(s->g, s->kv_tokens, (uint64_t)i, len);
        return t ? t : (*len = 0, "");
    }
    *len = strlen(s->spec->tokens[i]);
    return s->spec->tokens[i];
}

static float src_score(const source *s, int32_t i)
{
    if (s->g) return s->kv_scores >= 0 ? (float)slm_gguf_arr_num(s->g, s->kv_scores, (uint64_t)i) : 0.0f;
    return s->spec->scores ? s->spec->scores[i] : 0.0f;
}

static int src_type(const source *s, int32_t i)
{
    if (s->g)
        return s->kv_types >= 0 ? (int)slm_gguf_arr_num(s->g, s->kv_types, (uint64_t)i)
                                : SLM_TOKEN_NORMAL;
    return s->spec->types ? s->spec->types[i] : SLM_TOKEN_NORMAL;
}

static const char *src_merge(const source *s, uint64_t i, size_t *len)
{
    if (s->g) {
        const char *m = slm_gguf_arr_str(s->g, s->kv_merges, i, len);
        return m ? m : (*len = 0, "");
    }
    *len = strlen(s->spec->merges[i]);
    return s->spec->merges[i];
}

/* ---- building ------------------------------------------------------------ */

void slm_vocab_free(slm_vocab *v)
{
    if (!v) return;
    slm_pretok_free(v->pretok);
    slm_free(v->tokens);
    slm_free(v->pool);
    slm_free(v->hash);
    slm_free(v->merge_pool);
    slm_free(v->merge_off);
    slm_free(v->merge_hash);
    slm_free(v->special);
    slm_free(v);
}

static uint16_t attr_of_type(int type)
{
    switch (type) {
    case SLM_TOKEN_NORMAL: return SLM_ATTR_NORMAL;
    case SLM_TOKEN_UNKNOWN: return SLM_ATTR_UNKNOWN;
    case SLM_TOKEN_CONTROL: return SLM_ATTR_CONTROL;
    case SLM_TOKEN_USER_DEFINED: return SLM_ATTR_USER_DEFINED;
    case SLM_TOKEN_UNUSED: return SLM_ATTR_UNUSED;
    case SLM_TOKEN_BYTE: return SLM_ATTR_BYTE;
    default: return 0; /* undefined: never emitted as text */
    }
}

/* Copy the pieces into one pool and index them. */
static slm_status build_tokens(slm_vocab *v, const source *s)
{
    slm_status st = SLM_OK;
    uint64_t *hashes = NULL;
    size_t pool_bytes = 0, bytes;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        size_t len;
        src_token(s, i, &len);
        SLM_CHECK(len < UINT32_MAX && slm_size_add(pool_bytes, len + 1, &pool_bytes),
                  SLM_ERR_FORMAT, "tokenizer.ggml.tokens: token %d is %zu bytes long", i, len);
    }
    SLM_CHECK(slm_size_mul((size_t)v->n_tokens, sizeof *v->tokens, &bytes) &&
                  (v->tokens = slm_alloc(bytes)) && (v->pool = slm_alloc(pool_bytes ? pool_bytes : 1)),
              SLM_ERR_NOMEM, "tokenizer: out of memory for %d tokens (%zu bytes of text)",
              v->n_tokens, pool_bytes);
    uint32_t cap = table_size((size_t)v->n_tokens);
    v->hash = slm_calloc(cap, sizeof *v->hash);
    hashes = slm_alloc((size_t)v->n_tokens * sizeof *hashes);
    SLM_CHECK(v->hash && hashes, SLM_ERR_NOMEM, "tokenizer: out of memory for a %u-slot table",
              cap);
    v->hash_mask = cap - 1;

    char *p = v->pool;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        size_t len;
        const char *text = src_token(s, i, &len);
        memcpy(p, text, len);
        p[len] = '\0';
        slm_vocab_token *t = &v->tokens[i];
        t->text = p;
        t->len = (uint32_t)len;
        t->score = src_score(s, i);
        int type = src_type(s, i);
        t->type = (uint8_t)(type >= 0 && type <= 6 ? type : 0);
        t->attr = attr_of_type(type);
        p += len + 1;
        hashes[i] = mix(fnv_more(FNV_BASIS, text, len));
    }
    /* Insert in a second pass, prefetching slots ahead: with 256k tokens the
     * table is far larger than the caches and each insert is a miss. */
    for (int32_t i = 0; i < v->n_tokens; i++) {
        if (i + 16 < v->n_tokens) __builtin_prefetch(&v->hash[(uint32_t)hashes[i + 16] & v->hash_mask]);
        const slm_vocab_token *t = &v->tokens[i];
        if (t->len == 0) continue; /* an empty piece can never be matched */
        uint32_t tag = (uint32_t)(hashes[i] >> 32), h = (uint32_t)hashes[i] & v->hash_mask;
        while (v->hash[h].idx1 != 0) {
            const slm_vocab_token *o = &v->tokens[v->hash[h].idx1 - 1];
            SLM_CHECK(!(v->hash[h].tag == tag && o->len == t->len &&
                        memcmp(o->text, t->text, t->len) == 0),
                      SLM_ERR_FORMAT, "tokenizer.ggml.tokens: duplicate token '%.*s' at ids %d and %d",
                      (int)(t->len > 64 ? 64 : t->len), t->text, v->hash[h].idx1 - 1, i);
            h = (h + 1) & v->hash_mask;
        }
        v->hash[h].tag = tag;
        v->hash[h].idx1 = i + 1;
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        v->byte_token[b] = slm_vocab_lookup(v, name, 6);
    }
fail:
    slm_free(hashes);
    return st;
}

static slm_status build_merges(slm_vocab *v, const source *s)
{
    slm_status st = SLM_OK;
    uint64_t *hashes = NULL;
    size_t pool_bytes = 0;
    SLM_CHECK(s->n_merges < (1u << 30), SLM_ERR_FORMAT,
              "tokenizer.ggml.merges: %llu merges (at most 2^30 supported)",
              (unsigned long long)s->n_merges);
    int32_t n = (int32_t)s->n_merges;
    for (int32_t r = 0; r < n; r++) {
        size_t len;
        src_merge(s, (uint64_t)r, &len);
        SLM_CHECK(slm_size_add(pool_bytes, len, &pool_bytes), SLM_ERR_FORMAT,
                  "tokenizer.ggml.merges: merge %d is %zu bytes long", r, len);
    }
    uint32_t cap = table_size((size_t)n);
    v->merge_pool = slm_alloc(pool_bytes ? pool_bytes : 1);
    v->merge_off = slm_alloc(((size_t)n + 1) * sizeof *v->merge_off);
    v->merge_hash = slm_calloc(cap, sizeof *v->merge_hash);
    hashes = slm_alloc(((size_t)n + 1) * sizeof *hashes);
    SLM_CHECK(v->merge_pool && v->merge_off && v->merge_hash && hashes, SLM_ERR_NOMEM,
              "tokenizer: out of memory for %d merges (%zu bytes)", n, pool_bytes);
    v->merge_mask = cap - 1;
    v->n_merges = n;

    uint64_t off = 0;
    for (int32_t r = 0; r < n; r++) {
        size_t len;
        const char *m = src_merge(s, (uint64_t)r, &len);
        memcpy(v->merge_pool + off, m, len);
        v->merge_off[r] = off;
        off += len;
        hashes[r] = mix(fnv_more(FNV_BASIS, m, len));
    }
    v->merge_off[n] = off;
    for (int32_t r = 0; r < n; r++) {
        if (r + 16 < n) __builtin_prefetch(&v->merge_hash[(uint32_t)hashes[r + 16] & v->merge_mask]);
        const char *m = v->merge_pool + v->merge_off[r];
        size_t len = v->merge_off[r + 1] - v->merge_off[r];
        uint32_t tag = (uint32_t)(hashes[r] >> 32), h = (uint32_t)hashes[r] & v->merge_mask;
        int dup = 0;
        while (v->merge_hash[h].idx1 != 0 && !dup) {
            const slm_vocab_slot *e = &v->merge_hash[h];
            int32_t o = e->idx1 - 1;
            dup = e->tag == tag && v->merge_off[o + 1] - v->merge_off[o] == len &&
                  memcmp(v->merge_pool + v->merge_off[o], m, len) == 0;
            h = (h + 1) & v->merge_mask;
        }
        if (dup) continue; /* the first occurrence keeps its rank */
        v->merge_hash[h].tag = tag;
        v->merge_hash[h].idx1 = r + 1;
    }
fail:
    slm_free(hashes);
    return st;
}

static void eog_add(slm_vocab *v, int32_t id)
{
    if (id < 0) return;
    for (int i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return;
    if (v->n_eog < SLM_VOCAB_MAX_EOG) v->eog[v->n_eog++] = id;
}

static void eog_remove(slm_vocab *v, int32_t id)
{
    for (int i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) v->eog[i--] = v->eog[--v->n_eog];
}

/* Texts by which llama.cpp recognises end-of-generation tokens. */
static const char *const eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", "[e~[", NULL};
/* FIM tokens (made control; pad, repo and file-separator also end generation). */
static const char *const fim_texts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<PRE>", "\xe2\x96\x81<PRE>",
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<SUF>", "\xe2\x96\x81<SUF>",
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<MID>", "\xe2\x96\x81<MID>",
    "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>", "<\xef\xbd\x9c" "fim\xe2\x96\x81hole\xef\xbd\x9c>",
    "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>", NULL};
static const char *const fim_eog_texts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>",
                                            "[PAD]", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
                                            "<REPO>", "<reponame>", "<|file_sep|>", NULL};

static int cmp_special(const void *pa, const void *pb, const slm_vocab *v)
{
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    uint32_t la = v->tokens[a].len, lb = v->tokens[b].len;
    if (la != lb) return la > lb ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Stable merge sort: C11 qsort takes no context for the token lengths. */
static void sort_special(slm_vocab *v, int32_t *a, int32_t *tmp, int32_t n)
{
    if (n < 2) return;
    int32_t h = n / 2;
    sort_special(v, a, tmp, h);
    sort_special(v, a + h, tmp, n - h);
    int32_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = cmp_special(&a[j], &a[i], v) < 0 ? a[j++] : a[i++];
    while (i < h) tmp[k++] = a[i++];
    while (j < n) tmp[k++] = a[j++];
    memcpy(a, tmp, (size_t)n * sizeof *a);
}

/* Attributes by text, the EOG set and the special-token list. `name` is
 * general.name (lowercased comparison), or NULL. */
static slm_status build_special(slm_vocab *v, const char *name)
{
    slm_status st = SLM_OK;
    int32_t *tmp = NULL;
    int32_t id;
    for (const char *const *t = eog_texts; *t; t++)
        if ((id = slm_vocab_lookup(v, *t, strlen(*t))) >= 0) {
            eog_add(v, id);
            v->tokens[id].attr |= SLM_ATTR_CONTROL;
        }
    for (const char *const *t = fim_texts; *t; t++)
        if ((id = slm_vocab_lookup(v, *t, strlen(*t))) >= 0) v->tokens[id].attr |= SLM_ATTR_CONTROL;
    for (const char *const *t = fim_eog_texts; *t; t++)
        if ((id = slm_vocab_lookup(v, *t, strlen(*t))) >= 0) {
            eog_add(v, id);
            v->tokens[id].attr |= SLM_ATTR_CONTROL;
        }
    for (int32_t i = 0; i < v->n_tokens; i++) {
        slm_vocab_token *t = &v->tokens[i];
        if ((t->attr & SLM_ATTR_CONTROL) && strstr(t->text, "unused")) t->attr |= SLM_ATTR_UNUSED;
    }
    /* gpt-oss: these are always rendered. */
    static const char *const rendered[] = {"<|channel|>", "<|message|>", "<|start|>",
                                           "<|constrain|>", NULL};
    for (const char *const *t = rendered; *t; t++)
        if ((id = slm_vocab_lookup(v, *t, strlen(*t))) >= 0)
            v->tokens[id].attr = SLM_ATTR_USER_DEFINED;
#define HAS(s) (slm_vocab_lookup(v, s, strlen(s)) >= 0)
    int has_tool_response = HAS("<|tool_response>"), has_return = HAS("<|return|>");
    int has_call = HAS("<|call|>") || HAS("<|calls|>"), has_flush = HAS("<|flush|>");
#undef HAS
    int32_t s_id = slm_vocab_lookup(v, "</s>", 4), end_id = slm_vocab_lookup(v, "<|end|>", 7);
    eog_add(v, v->eos);
    eog_add(v, v->eot);
    eog_add(v, v->eom);
    /* o200k_harmony / solar-open: <|end|> ends a message, not generation. */
    if (end_id >= 0 && ((has_return && has_call) || (has_call && has_flush))) {
        eog_remove(v, end_id);
        v->tokens[end_id].attr = SLM_ATTR_USER_DEFINED;
    }
    /* gemma4: </s> is an ordinary token. */
    if (has_tool_response && s_id >= 0) {
        eog_remove(v, s_id);
        v->tokens[s_id].attr = SLM_ATTR_NORMAL;
    }

    int32_t n = 0;
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (v->tokens[i].attr & (SLM_ATTR_CONTROL | SLM_ATTR_USER_DEFINED | SLM_ATTR_UNKNOWN)) n++;
    v->special = slm_alloc((size_t)(n ? n : 1) * sizeof *v->special);
    tmp = slm_alloc((size_t)(n ? n : 1) * sizeof *tmp);
    SLM_CHECK(v->special && tmp, SLM_ERR_NOMEM, "tokenizer: out of memory for %d special tokens", n);
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (v->tokens[i].attr & (SLM_ATTR_CONTROL | SLM_ATTR_USER_DEFINED | SLM_ATTR_UNKNOWN))
            v->special[v->n_special++] = i;
    sort_special(v, v->special, tmp, v->n_special);

    /* Phi-3: special tokens swallow the whitespace after them. */
    if (name) {
        char low[128];
        size_t k = 0;
        for (; name[k] && k + 1 < sizeof low; k++) low[k] = (char)tolower((unsigned char)name[k]);
        low[k] = '\0';
        if (strstr(low, "phi-3") || strstr(low, "phi3")) {
            for (int32_t i = 0; i < v->n_special; i++) v->tokens[v->special[i]].attr |= SLM_ATTR_RSTRIP;
            int32_t id = slm_vocab_lookup(v, "</s>", 4);
            if (id >= 0) v->tokens[id].attr |= SLM_ATTR_RSTRIP;
            const char *keep[] = {"<unk>", "<s>", "<|endoftext|>"};
            for (int j = 0; j < 3; j++) {
                id = slm_vocab_lookup(v, keep[j], strlen(keep[j]));
                if (id >= 0) v->tokens[id].attr &= (uint16_t)~SLM_ATTR_RSTRIP;
            }
        }
    }
fail:
    slm_free(tmp);
    return st;
}

/* Settings that follow from the model type and pre-tokenizer name. */
static slm_status configure(slm_vocab *v, const char *model, size_t model_len, const char *pre,
                            size_t pre_len)
{
    slm_status st = SLM_OK;
    int known = 1;
    char pre_name[sizeof v->pre];
    SLM_CHECK(model_len < sizeof v->model, SLM_ERR_UNSUPPORTED,
              "tokenizer.ggml.model '%.*s' is not supported (expected llama, gpt2 or gemma4)",
              (int)(model_len > 40 ? 40 : model_len), model);
    memcpy(v->model, model, model_len);
    v->model[model_len] = '\0';
    if (pre && pre_len >= sizeof pre_name) pre_len = sizeof pre_name - 1;
    if (pre) {
        memcpy(pre_name, pre, pre_len);
        pre_name[pre_len] = '\0';
    } else {
        strcpy(pre_name, "default");
        if (strcmp(v->model, "gpt2") == 0)
            slm_log(1, "tokenizer: tokenizer.ggml.pre is missing; using the 'default' pre-tokenizer");
    }

    v->bos = v->eos = v->eot = v->eom = v->unk = v->pad = -1;
    if (strcmp(v->model, "llama") == 0) {
        v->kind = SLM_VOCAB_SPM;
        v->bos = 1;
        v->eos = 2;
        v->unk = 0;
        v->add_bos = 1;
        v->add_space_prefix = 1;
        v->escape_whitespace = 1;
        strcpy(v->pre, "default");
        return SLM_OK;
    }
    if (strcmp(v->model, "gpt2") == 0) {
        v->kind = SLM_VOCAB_BPE;
        v->bos = v->eos = 11; /* llama.cpp's defaults for this type */
        v->byte_encode = 1;
    } else if (strcmp(v->model, "gemma4") == 0) {
        v->kind = SLM_VOCAB_BPE;
        strcpy(pre_name, "gemma4");
    } else {
        SLM_CHECK(0, SLM_ERR_UNSUPPORTED,
                  "tokenizer.ggml.model '%s' is not supported (expected llama, gpt2 or gemma4)",
                  v->model);
    }
    if (strcmp(pre_name, "gemma4") == 0) {
        v->byte_encode = 0;
        v->escape_whitespace = 1;
        v->newline_whole = 1;
        v->add_bos = 1; /* llama.cpp forces it for Gemma 4 */
    }
    static const char *const llama3[] = {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1",
                                         "pixtral", "midm-2.0", "lfm2", "tekken", NULL};
    for (int i = 0; llama3[i]; i++)
        if (strcmp(pre_name, llama3[i]) == 0) v->ignore_merges = v->add_bos = 1;
    SLM_TRY(slm_pretok_new(pre_name, &v->pretok, &known));
    if (!known) {
        slm_log(1, "tokenizer: unknown pre-tokenizer '%s', using 'gpt-2'", pre_name);
        strcpy(pre_name, "gpt-2");
    }
    strcpy(v->pre, pre_name);
fail:
    return st;
}

/* The special ids and flags given explicitly (spec or GGUF keys). */
typedef struct overrides {
    int64_t bos, eos, eot, eom, unk, pad; /* < -1: not given */
    int add_bos, add_eos, add_space_prefix; /* -1: not given */
} overrides;

static void set_id(slm_vocab *v, int32_t *slot, int64_t given, const char *what)
{
    if (*slot >= v->n_tokens) *slot = -1; /* a default outside the vocabulary */
    if (given < -1) return;
    if (given >= v->n_tokens) {
        slm_log(1, "tokenizer: %s token id %lld is outside the vocabulary (%d tokens); ignored",
                what, (long long)given, v->n_tokens);
        return;
    }
    *slot = (int32_t)given;
}

static slm_status finish(slm_vocab *v, const source *s, const overrides *o, const char *name)
{
    slm_status st = SLM_OK;
    SLM_TRY(build_tokens(v, s));
    if (v->kind == SLM_VOCAB_BPE) SLM_TRY(build_merges(v, s));
    set_id(v, &v->bos, o->bos, "BOS");
    set_id(v, &v->eos, o->eos, "EOS");
    set_id(v, &v->eot, o->eot, "EOT");
    set_id(v, &v->eom, o->eom, "EOM");
    set_id(v, &v->unk, o->unk, "UNK");
    set_id(v, &v->pad, o->pad, "PAD");
    if (o->add_bos >= 0 && !(strcmp(v->pre, "gemma4") == 0)) v->add_bos = o->add_bos;
    if (o->add_eos >= 0) v->add_eos = o->add_eos;
    if (o->add_space_prefix >= 0) v->add_space_prefix = o->add_space_prefix;
    if (v->add_bos && v->bos < 0) v->add_bos = 0;
    if (v->add_eos && v->eos < 0) v->add_eos = 0;
    SLM_TRY(build_special(v, name));
fail:
    return st;
}

slm_status slm_vocab_build(const slm_vocab_spec *spec, slm_vocab **out)
{
    slm_status st = SLM_OK;
    slm_vocab *v = NULL;
    *out = NULL;
    SLM_CHECK(spec && spec->model && spec->tokens && spec->n_tokens > 0, SLM_ERR_ARG,
              "vocab spec: model and at least one token are required");
    SLM_CHECK(spec->n_tokens < (1 << 30) && spec->n_merges >= 0, SLM_ERR_ARG,
              "vocab spec: %d tokens, %d merges", spec->n_tokens, spec->n_merges);
    SLM_CHECK(spec->n_merges == 0 || spec->merges, SLM_ERR_ARG,
              "vocab spec: %d merges but no merge array", spec->n_merges);
    v = slm_calloc(1, sizeof *v);
    SLM_CHECK(v, SLM_ERR_NOMEM, "vocab: out of memory");
    v->n_tokens = spec->n_tokens;
    SLM_TRY(configure(v, spec->model, strlen(spec->model), spec->pre,
                      spec->pre ? strlen(spec->pre) : 0));
    source s = {.kv_tokens = -1, .kv_scores = -1, .kv_types = -1, .kv_merges = -1,
                .spec = spec, .n_merges = spec->n_merges > 0 ? (uint64_t)spec->n_merges : 0};
    overrides o = {spec->bos, spec->eos, -2, -2, spec->unk, spec->pad,
                   spec->add_bos, spec->add_eos, spec->add_space_prefix};
    SLM_TRY(finish(v, &s, &o, NULL));
    *out = v;
    return SLM_OK;
fail:
    slm_vocab_free(v);
    return st;
}

/* ---- GGUF ---------------------------------------------------------------- */

static slm_status get_id_key(const slm_gguf *g, const char *key, int64_t *out)
{
    int64_t x;
    *out = -2;
    slm_status st = slm_gguf_get_i64(g, key, &x);
    if (st == SLM_ERR_ARG) return SLM_OK; /* absent */
    if (st != SLM_OK) return st;
    *out = x < 0 ? -2 : x;
    return SLM_OK;
}

static slm_status get_bool_key(const slm_gguf *g, const char *key, int *out)
{
    int x;
    *out = -1;
    slm_status st = slm_gguf_get_bool(g, key, &x);
    if (st == SLM_ERR_ARG) return SLM_OK;
    if (st != SLM_OK) return st;
    *out = x != 0;
    return SLM_OK;
}

/* Key index of an array of elem_type with at least n elements, or -1 if the
 * key is absent and not required. */
static slm_status find_array(const slm_gguf *g, const char *key, int required, int type_a,
                             int type_b, uint64_t n_min, int64_t *kv, uint64_t *n)
{
    slm_status st = SLM_OK;
    slm_gguf_type et;
    *kv = -1;
    *n = 0;
    st = slm_gguf_get_arr(g, key, &et, n);
    if (st == SLM_ERR_ARG && !required) return SLM_OK;
    SLM_CHECK(st != SLM_ERR_ARG, SLM_ERR_FORMAT, "%s: key is missing", key);
    if (st != SLM_OK) return st;
    SLM_CHECK((int)et == type_a || (int)et == type_b, SLM_ERR_FORMAT,
              "%s: array of element type %d (expected %d)", key, (int)et, type_a);
    SLM_CHECK(*n >= n_min, SLM_ERR_FORMAT, "%s: %llu elements (expected at least %llu)", key,
              (unsigned long long)*n, (unsigned long long)n_min);
    *kv = slm_gguf_find_key(g, key);
fail:
    return st;
}

slm_status slm_vocab_load(const slm_gguf *g, slm_vocab **out)
{
    slm_status st = SLM_OK;
    slm_vocab *v = NULL;
    *out = NULL;
    const char *model, *pre = NULL, *name_raw = NULL;
    size_t model_len, pre_len = 0, name_len = 0;
    uint64_t n_tokens = 0, n = 0;
    source s = {.g = g, .kv_scores = -1, .kv_types = -1, .kv_merges = -1};
    overrides o;
    char name[128];

    st = slm_gguf_get_str(g, "tokenizer.ggml.model", &model, &model_len);
    SLM_CHECK(st != SLM_ERR_ARG, SLM_ERR_FORMAT, "tokenizer.ggml.model: key is missing");
    if (st != SLM_OK) goto fail;
    st = slm_gguf_get_str(g, "tokenizer.ggml.pre", &pre, &pre_len);
    if (st == SLM_ERR_ARG) pre = NULL;
    else if (st != SLM_OK) goto fail;
    st = SLM_OK;

    SLM_TRY(find_array(g, "tokenizer.ggml.tokens", 1, SLM_GGUF_STRING, SLM_GGUF_STRING, 1,
                       &s.kv_tokens, &n_tokens));
    SLM_CHECK(n_tokens < (1u << 30), SLM_ERR_FORMAT,
              "tokenizer.ggml.tokens: %llu tokens (at most 2^30 supported)",
              (unsigned long long)n_tokens);
    SLM_TRY(find_array(g, "tokenizer.ggml.scores", 0, SLM_GGUF_FLOAT32, SLM_GGUF_INT32, n_tokens,
                       &s.kv_scores, &n));
    SLM_TRY(find_array(g, "tokenizer.ggml.token_type", 0, SLM_GGUF_INT32, SLM_GGUF_INT32, n_tokens,
                       &s.kv_types, &n));

    v = slm_calloc(1, sizeof *v);
    SLM_CHECK(v, SLM_ERR_NOMEM, "vocab: out of memory");
    v->n_tokens = (int32_t)n_tokens;
    SLM_TRY(configure(v, model, model_len, pre, pre_len));
    if (v->kind == SLM_VOCAB_BPE)
        SLM_TRY(find_array(g, "tokenizer.ggml.merges", 1, SLM_GGUF_STRING, SLM_GGUF_STRING, 0,
                           &s.kv_merges, &s.n_merges));

    SLM_TRY(get_id_key(g, "tokenizer.ggml.bos_token_id", &o.bos));
    SLM_TRY(get_id_key(g, "tokenizer.ggml.eos_token_id", &o.eos));
    SLM_TRY(get_id_key(g, "tokenizer.ggml.eot_token_id", &o.eot));
    SLM_TRY(get_id_key(g, "tokenizer.ggml.eom_token_id", &o.eom));
    SLM_TRY(get_id_key(g, "tokenizer.ggml.unknown_token_id", &o.unk));
    SLM_TRY(get_id_key(g, "tokenizer.ggml.padding_token_id", &o.pad));
    SLM_TRY(get_bool_key(g, "tokenizer.ggml.add_bos_token", &o.add_bos));
    SLM_TRY(get_bool_key(g, "tokenizer.ggml.add_eos_token", &o.add_eos));
    SLM_TRY(get_bool_key(g, "tokenizer.ggml.add_space_prefix", &o.add_space_prefix));
    if (slm_gguf_get_str(g, "general.name", &name_raw, &name_len) == SLM_OK) {
        if (name_len >= sizeof name) name_len = sizeof name - 1;
        memcpy(name, name_raw, name_len);
    }
    name[name_len] = '\0';
    slm_error_clear();
    SLM_TRY(finish(v, &s, &o, name));
    *out = v;
    return SLM_OK;
fail:
    slm_vocab_free(v);
    return st;
}

/* ---- accessors ----------------------------------------------------------- */

int32_t slm_vocab_n_tokens(const slm_vocab *v) { return v ? v->n_tokens : 0; }
int32_t slm_vocab_bos(const slm_vocab *v) { return v ? v->bos : -1; }
int32_t slm_vocab_eos(const slm_vocab *v) { return v ? v->eos : -1; }
int slm_vocab_add_bos(const slm_vocab *v) { return v ? v->add_bos : 0; }
int slm_vocab_add_eos(const slm_vocab *v) { return v ? v->add_eos : 0; }
const char *slm_vocab_model_name(const slm_vocab *v) { return v ? v->model : ""; }
const char *slm_vocab_pre_name(const slm_vocab *v) { return v ? v->pre : ""; }

int slm_vocab_is_eog(const slm_vocab *v, int32_t id)
{
    if (!v || id < 0) return 0;
    for (int i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return 1;
    return 0;
}

int slm_vocab_token_type(const slm_vocab *v, int32_t id)
{
    return v && id >= 0 && id < v->n_tokens ? v->tokens[id].type : 0;
}

const char *slm_vocab_token_text(const slm_vocab *v, int32_t id, size_t *len)
{
    if (!v || id < 0 || id >= v->n_tokens) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = v->tokens[id].len;
    return v->tokens[id].text;
}

/* ---- tokenize ------------------------------------------------------------ */

typedef struct frag {
    int32_t id; /* special token, or -1 for text[off, off + len) */
    size_t off, len;
} frag;

typedef struct frag_list {
    frag *v;
    size_t n, cap;
} frag_list;

static int frag_push(frag_list *l, int32_t id, size_t off, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16, bytes;
        frag *p = NULL;
        if (slm_size_mul(cap, sizeof *p, &bytes)) p = slm_realloc(l->v, bytes);
        if (!p) return 0;
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = (frag){id, off, len};
    return 1;
}

static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0 || m > n) return NULL;
    const char *end = hay + n - m;
    for (const char *p = hay; p <= end; p++) {
        p = memchr(p, needle[0], (size_t)(end - p) + 1);
        if (!p) return NULL;
        if (memcmp(p, needle, m) == 0) return p;
    }
    return NULL;
}

/* Split special tokens out of the text (llama.cpp's tokenizer_st_partition):
 * for each special token, longest first, every text fragment is cut at
 * each occurrence. Without parse_special only user-defined tokens count. */
static slm_status partition(const slm_vocab *v, const char *text, size_t len, int parse_special,
                            frag_list *out)
{
    frag_list cur = {0}, next = {0};
    if (len && !frag_push(&cur, -1, 0, len)) goto nomem;
    for (int32_t k = 0; k < v->n_special && cur.n; k++) {
        const slm_vocab_token *t = &v->tokens[v->special[k]];
        if (!parse_special && (t->attr & (SLM_ATTR_CONTROL | SLM_ATTR_UNKNOWN))) continue;
        if (t->len == 0) continue;
        int hit = 0;
        for (size_t f = 0; f < cur.n && !hit; f++)
            hit = cur.v[f].id < 0 && find_bytes(text + cur.v[f].off, cur.v[f].len, t->text, t->len);
        if (!hit) continue;
        next.n = 0;
        for (size_t f = 0; f < cur.n; f++) {
            frag fr = cur.v[f];
            if (fr.id >= 0) {
                if (!frag_push(&next, fr.id, 0, 0)) goto nomem;
                continue;
            }
            size_t base = fr.off, blen = fr.len;
            for (;;) {
                const char *m = find_bytes(text + base, blen, t->text, t->len);
                if (!m) {
                    if (blen && !frag_push(&next, -1, base, blen)) goto nomem;
                    break;
                }
                size_t at = (size_t)(m - text), left = at - base;
                if (t->attr & SLM_ATTR_LSTRIP)
                    while (left > 0 && isspace((unsigned char)text[base + left - 1])) left--;
                if (left && !frag_push(&next, -1, base, left)) goto nomem;
                if (!frag_push(&next, v->special[k], 0, 0)) goto nomem;
                size_t roff = at + t->len, rlen = base + blen - roff;
                if (t->attr & SLM_ATTR_RSTRIP)
                    while (rlen > 0 && isspace((unsigned char)text[roff])) roff++, rlen--;
                base = roff;
                blen = rlen;
                if (blen == 0) break;
            }
        }
        frag_list tmp = cur;
        cur = next;
        next = tmp;
    }
    slm_free(next.v);
    *out = cur;
    return SLM_OK;
nomem:
    slm_free(cur.v);
    slm_free(next.v);
    return slm_fail(SLM_ERR_NOMEM, "tokenizer: out of memory splitting special tokens");
}

/* Copy text with every ' ' written as U+2581, optionally after one more. */
static char *escape_spaces(const char *text, size_t len, int prefix, size_t *out_len)
{
    size_t spaces = prefix ? 1 : 0, n, extra;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    if (!slm_size_mul(spaces, 3, &extra) || !slm_size_add(len - (spaces - (prefix ? 1 : 0)), extra, &n))
        return NULL;
    char *buf = slm_alloc(n ? n : 1);
    if (!buf) return NULL;
    size_t o = 0;
    if (prefix) {
        memcpy(buf, "\xe2\x96\x81", 3);
        o = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(buf + o, "\xe2\x96\x81", 3);
            o += 3;
        } else {
            buf[o++] = text[i];
        }
    }
    *out_len = o;
    return buf;
}

slm_status slm_vocab_tokenize(const slm_vocab *v, const char *text, size_t len, int add_special,
                              int parse_special, int32_t *ids, size_t cap, size_t *n_out)
{
    slm_status st = SLM_OK;
    frag_list frags = {0};
    slm_idbuf out = {0};
    char *esc = NULL;
    if (n_out) *n_out = 0;
    SLM_CHECK(v && n_out && (text || len == 0) && (ids || cap == 0), SLM_ERR_ARG,
              "tokenize: NULL argument");
    SLM_TRY(partition(v, text, len, parse_special, &frags));

    if (add_special && v->add_bos) SLM_TRY(slm_idbuf_push(&out, v->bos));
    int prev_special = 1; /* SentencePiece adds the dummy space after BOS/specials */
    for (size_t f = 0; f < frags.n; f++) {
        const frag *fr = &frags.v[f];
        if (fr->id >= 0) {
            SLM_TRY(slm_idbuf_push(&out, fr->id));
            prev_special = 1;
            continue;
        }
        const char *piece = text + fr->off;
        size_t plen = fr->len;
        if (v->escape_whitespace) {
            int prefix = v->kind == SLM_VOCAB_SPM && v->add_space_prefix && prev_special;
            esc = escape_spaces(piece, plen, prefix, &plen);
            SLM_CHECK(esc, SLM_ERR_NOMEM, "tokenizer: out of memory for %zu bytes of text",
                      fr->len);
            piece = esc;
        }
        if (v->kind == SLM_VOCAB_SPM)
            SLM_TRY(slm_spm_tokenize(v, piece, plen, &out));
        else
            SLM_TRY(slm_bpe_tokenize(v, piece, plen, &out));
        slm_free(esc);
        esc = NULL;
        prev_special = 0;
    }
    if (add_special && v->add_eos) SLM_TRY(slm_idbuf_push(&out, v->eos));

    *n_out = out.n;
    if (out.n && cap) memcpy(ids, out.ids, (out.n < cap ? out.n : cap) * sizeof *ids);
    if (out.n > cap)
        st = slm_fail(SLM_ERR_FULL, "tokenize: %zu tokens do not fit in %zu", out.n, cap);
fail:
    slm_free(esc);
    slm_free(frags.v);
    slm_free(out.ids);
    return st;
}

/* ---- detokenize ---------------------------------------------------------- */

static size_t copy_out(const char *s, size_t n, char *buf, size_t cap)
{
    if (buf && cap) memcpy(buf, s, n < cap ? n : cap);
    return n;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

size_t slm_vocab_token_to_piece(const slm_vocab *v, int32_t id, int render_special, char *buf,
                                size_t cap)
{
    if (!v || id < 0 || id >= v->n_tokens) return 0;
    if (!buf) cap = 0;
    const slm_vocab_token *t = &v->tokens[id];
    if (!render_special && (t->attr & (SLM_ATTR_UNKNOWN | SLM_ATTR_CONTROL))) return 0;
    if (t->attr & (SLM_ATTR_UNKNOWN | SLM_ATTR_CONTROL | SLM_ATTR_USER_DEFINED))
        return copy_out(t->text, t->len, buf, cap);
    if (t->attr & SLM_ATTR_NORMAL) {
        if (v->escape_whitespace) { /* U+2581 -> ' ' */
            size_t o = 0;
            for (size_t i = 0; i < t->len;) {
                if (i + 3 <= t->len && memcmp(t->text + i, "\xe2\x96\x81", 3) == 0) {
                    if (o < cap) buf[o] = ' ';
                    o++;
                    i += 3;
                } else {
                    if (o < cap) buf[o] = t->text[i];
                    o++;
                    i++;
                }
            }
            return o;
        }
        return slm_bpe_decode(t->text, t->len, buf, cap);
    }
    if (t->attr & SLM_ATTR_BYTE) {
        if (t->len != 6 || memcmp(t->text, "<0x", 3) != 0 || t->text[5] != '>') return 0;
        int hi = hex_digit(t->text[3]), lo = hex_digit(t->text[4]);
        if (hi < 0 || lo < 0) return 0;
        char c = (char)(hi * 16 + lo);
        return copy_out(&c, 1, buf, cap);
    }
    return 0;
}
