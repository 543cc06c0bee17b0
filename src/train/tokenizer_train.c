/* tokenizer_train.c — BPE tokenizer training over a word-frequency table
 * (the standard algorithm: pair counts with incremental updates, a lazy
 * max-heap of counts, per-pair lists of the words that hold the pair).
 *
 * Owns: counting words, the merge loop, the trainer's own encoder, the
 * tokenizer.ggml.* output. Not: reading the vocabulary back (src/tok).
 * Invariant that makes the runtime reproduce the trainer: every word is
 * always segmented exactly as the runtime merge procedure would segment it
 * with the vocabulary so far (merge_syms below is that procedure), so a new
 * token, having the lowest priority, only continues the runtime's process
 * where it stopped. See tokenizer_train.h for the whitespace rule.
 */
#include "train/tokenizer_train.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/alloc.h"
#include "base/status.h"
#include "gguf/keys.h"

/* Longest piece in bytes (SentencePiece's default max_piece_length is 16
 * characters); longer concatenations are never candidates. */
#define MAX_PIECE 64
#define N_SPM_FIXED 259 /* <unk> <s> </s> and 256 byte tokens */
#define DEAD INT32_MIN

/* ---- hash index ------------------------------------------------------------
 * Open addressing over dense entry indices: a slot holds the high 32 bits of
 * the hash and idx + 1 (0 = empty); hashes are kept per index for growth. */

#define FNV_BASIS 1469598103934665603ull
#define FNV_PRIME 1099511628211ull

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
    return h;
}

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

/* A key: text a+b (tokens, words, SPM pairs) or ids x,y (BPE pairs). */
typedef struct key {
    const char *a, *b;
    size_t an, bn;
    int32_t x, y;
} key;

typedef struct itab {
    uint64_t *slot;
    uint32_t mask;  /* slots - 1 */
    int32_t n;      /* entries */
    uint64_t *hash; /* [cap] hash of entry idx */
    int32_t cap;
} itab;

static void itab_free(itab *t)
{
    slm_free(t->slot);
    slm_free(t->hash);
    memset(t, 0, sizeof *t);
}

/* Make room for one more entry; 0 on allocation failure. */
static int itab_reserve(itab *t)
{
    if (t->n == t->cap) {
        int32_t cap = t->cap ? t->cap * 2 : 64;
        uint64_t *h = slm_realloc(t->hash, (size_t)cap * sizeof *h);
        if (!h) return 0;
        t->hash = h;
        t->cap = cap;
    }
    if (t->slot && (uint64_t)(t->n + 1) * 2 <= (uint64_t)t->mask + 1) return 1;
    uint32_t size = t->slot ? (t->mask + 1) * 2 : 128;
    uint64_t *s = slm_calloc(size, sizeof *s);
    if (!s) return 0;
    for (int32_t i = 0; i < t->n; i++) {
        uint32_t p = (uint32_t)t->hash[i] & (size - 1);
        while (s[p]) p = (p + 1) & (size - 1);
        s[p] = (t->hash[i] >> 32 << 32) | (uint64_t)(i + 1);
    }
    slm_free(t->slot);
    t->slot = s;
    t->mask = size - 1;
    return 1;
}

typedef int (*eq_fn)(const slm_toktrain *t, int32_t idx, const key *k);

/* Index of the entry equal to k, or -1 with *pos = the empty slot to use. */
static int32_t itab_find(const slm_toktrain *tr, const itab *t, uint64_t h, eq_fn eq, const key *k,
                         uint32_t *pos)
{
    if (!t->slot) return -1;
    uint32_t p = (uint32_t)h & t->mask;
    for (;; p = (p + 1) & t->mask) {
        uint64_t s = t->slot[p];
        if (!s) break;
        int32_t idx = (int32_t)(uint32_t)s - 1;
        if ((s >> 32) == (h >> 32) && eq(tr, idx, k)) return idx;
    }
    if (pos) *pos = p;
    return -1;
}

static void itab_put(itab *t, uint32_t pos, uint64_t h)
{
    t->hash[t->n] = h;
    t->slot[pos] = (h >> 32 << 32) | (uint64_t)(t->n + 1);
    t->n++;
}

/* ---- the trainer ------------------------------------------------------------ */

typedef struct tok {
    uint32_t off, len; /* text in tpool */
    int64_t prio;      /* merge priority: higher merges first; INT64_MIN = never a merge result */
    float score;
    uint8_t type;      /* SLM_TOKEN_* */
} tok;

typedef struct word {
    uint32_t off, len;  /* text in wpool (escaped / byte-encoded) */
    int64_t freq;
    uint32_t sym_off, n_sym; /* symbols in syms[] (during run) */
    uint32_t stamp;     /* last merge that visited the word */
} word;

typedef struct pair {
    int32_t a, b;       /* representative token ids (SPM: any split of the text) */
    int64_t count;      /* sum of word frequencies over adjacent occurrences */
    int32_t rank;       /* BPE: merge rank once chosen, else -1 */
    int32_t result;     /* BPE: id of the merged token once chosen */
    int32_t *words;     /* words that held the pair at some point (may repeat or be stale) */
    uint32_t n_words, cap_words;
    uint32_t dirty;     /* merge (stamp) in which the count last grew */
} pair;

typedef struct hent { /* lazy max-heap entry */
    int64_t count;
    int32_t idx;
} hent;

typedef struct cand { /* one merge candidate inside a word */
    int64_t prio;
    int32_t l, lid, rid, res;
} cand;

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

struct slm_toktrain {
    slm_toktrain_config cfg;
    int ran;
    tok *toks;
    int32_t n_toks, cap_toks;
    buf tpool;
    itab tok_tab;
    word *words;
    int32_t n_words, cap_words;
    buf wpool;
    itab word_tab;
    int32_t *syms; /* all words' symbols */
    pair *pairs;
    int32_t n_pairs, cap_pairs;
    itab pair_tab;
    hent *heap;
    size_t n_heap, cap_heap;
    int32_t *dirty; /* pairs whose count grew during the current merge */
    size_t n_dirty, cap_dirty;
    int32_t *rule; /* BPE: pair index of merge rank r */
    int32_t n_merges, cap_rule;
    int32_t first_char, n_chars, n_chars_dropped;
    int counting; /* initial count: no heap pushes */
    uint32_t stamp;
    uint64_t n_docs, n_words_total;
    slm_pretok *pretok; /* BPE */
    /* scratch for merge_syms and encode */
    cand *lh;
    size_t n_lh, cap_lh;
    int32_t *nxt, *prv;
    size_t cap_links;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 16, bytes;
    while (c < need) c *= 2;
    if (!slm_size_mul(c, elem, &bytes)) return 0;
    void *np = slm_realloc(*p, bytes);
    if (!np) return 0;
    *p = np;
    *cap = c;
    return 1;
}

static int grow32(void **p, int32_t *cap, int32_t need, size_t elem)
{
    size_t c = (size_t)*cap;
    if (need < 0 || !grow(p, &c, (size_t)need, elem) || c > INT32_MAX) return 0;
    *cap = (int32_t)c;
    return 1;
}

static int buf_add(buf *b, const char *s, size_t n)
{
    if (!grow((void **)&b->p, &b->cap, b->n + n + 1, 1)) return 0;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    return 1;
}

static const char *tok_text(const slm_toktrain *t, int32_t id) { return t->tpool.p + t->toks[id].off; }

/* ---- tokens ------------------------------------------------------------------ */

static int tok_eq(const slm_toktrain *t, int32_t idx, const key *k)
{
    const tok *e = &t->toks[idx];
    return e->len == k->an + k->bn && memcmp(tok_text(t, idx), k->a, k->an) == 0 &&
           (k->bn == 0 || memcmp(tok_text(t, idx) + k->an, k->b, k->bn) == 0);
}

static uint64_t text_hash(const key *k) { return mix(fnv(fnv(FNV_BASIS, k->a, k->an), k->b, k->bn)); }

/* Id of the token a+b, or -1. */
static int32_t tok_find2(const slm_toktrain *t, const char *a, size_t an, const char *b, size_t bn)
{
    key k = {a, b, an, bn, 0, 0};
    return itab_find(t, &t->tok_tab, text_hash(&k), tok_eq, &k, NULL);
}

/* Append a token (the caller knows the text is new); -1 on allocation failure. */
static int32_t tok_add(slm_toktrain *t, const char *a, size_t an, const char *b, size_t bn,
                       int64_t prio, float score, uint8_t type)
{
    key k = {a, b, an, bn, 0, 0};
    uint64_t h = text_hash(&k);
    uint32_t pos = 0;
    if (!itab_reserve(&t->tok_tab) ||
        !grow32((void **)&t->toks, &t->cap_toks, t->n_toks + 1, sizeof *t->toks))
        return -1;
    if (itab_find(t, &t->tok_tab, h, tok_eq, &k, &pos) >= 0) return -1;
    /* a and b may point into tpool, which may move as it grows */
    char tmp[2 * MAX_PIECE];
    if (an + bn > sizeof tmp) return -1;
    memcpy(tmp, a, an);
    memcpy(tmp + an, b, bn);
    size_t off = t->tpool.n;
    if (!buf_add(&t->tpool, tmp, an + bn)) return -1;
    t->tpool.p[t->tpool.n++] = '\0';
    t->toks[t->n_toks] = (tok){(uint32_t)off, (uint32_t)(an + bn), prio, score, type};
    itab_put(&t->tok_tab, pos, h);
    return t->n_toks++;
}

/* ---- UTF-8 and the GPT-2 byte alphabet ----------------------------------------- */

/* Characters are cut exactly as src/tok/spm.c cuts them (by the lead byte). */
static size_t utf8_len(unsigned char c)
{
    static const unsigned char lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lens[c >> 4];
}

/* Length of the valid UTF-8 character at s[0..n), or 0. */
static size_t valid_utf8(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80) return 1;
    if ((s[0] & 0xE0) == 0xC0) len = 2, cp = s[0] & 0x1F;
    else if ((s[0] & 0xF0) == 0xE0) len = 3, cp = s[0] & 0x0F;
    else if ((s[0] & 0xF8) == 0xF0) len = 4, cp = s[0] & 0x07;
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

/* GPT-2's byte -> printable code point table: printable Latin-1 bytes stand
 * for themselves, the other 68 become U+0100.. in increasing order. */
static size_t encode_byte(unsigned char c, char *dst)
{
    unsigned cp;
    if ((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE) cp = c;
    else if (c <= 0x20) cp = 0x100 + c;
    else if (c <= 0xA0) cp = 0x121 + (c - 0x7F);
    else cp = 0x143;
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    dst[0] = (char)(0xC0 | (cp >> 6));
    dst[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

#define SPACE_MARK "\xe2\x96\x81" /* U+2581 */

static int is_mark(const char *s, size_t n) { return n == 3 && memcmp(s, SPACE_MARK, 3) == 0; }

/* Character classes for word cuts: 0 letters (and every non-ASCII
 * character), 1 digits, 2 other ASCII (punctuation, tabs, controls). */
static int char_class(const char *c, size_t n)
{
    if (n != 1) return 0;
    unsigned char b = (unsigned char)c[0];
    if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')) return 0;
    return b >= '0' && b <= '9' ? 1 : 2;
}

/* Word cuts (SPM), a function of two adjacent characters only, so that a
 * piece (a substring of a word) never contains a cut and the runtime can
 * never merge across one: before a "▁" that follows a non-"▁"; around runs
 * of '\n'; between letters, digits and punctuation (as SentencePiece's
 * split_by_unicode_script, roughly) except after "▁", which joins what
 * follows; between two digits (llama2.c trains with split_digits). */
static int cut_between(const char *p, size_t pn, const char *c, size_t cn)
{
    int pm = is_mark(p, pn), cm = is_mark(c, cn);
    int pl = pn == 1 && p[0] == '\n', cl = cn == 1 && c[0] == '\n';
    if (cm) return !pm;
    if (pl != cl) return 1;
    if (pm || pl) return 0;
    int kp = char_class(p, pn), kc = char_class(c, cn);
    return kp != kc || kp == 1;
}

/* ---- words -------------------------------------------------------------------- */

static int word_eq(const slm_toktrain *t, int32_t idx, const key *k)
{
    const word *w = &t->words[idx];
    return w->len == k->an && memcmp(t->wpool.p + w->off, k->a, k->an) == 0;
}

static slm_status word_add(slm_toktrain *t, const char *s, size_t n)
{
    if (n == 0) return SLM_OK;
    key k = {s, "", n, 0, 0, 0};
    uint64_t h = text_hash(&k);
    uint32_t pos = 0;
    t->n_words_total++;
    int32_t idx = itab_find(t, &t->word_tab, h, word_eq, &k, &pos);
    if (idx >= 0) {
        t->words[idx].freq++;
        return SLM_OK;
    }
    if (!itab_reserve(&t->word_tab) ||
        !grow32((void **)&t->words, &t->cap_words, t->n_words + 1, sizeof *t->words))
        goto nomem;
    itab_find(t, &t->word_tab, h, word_eq, &k, &pos);
    size_t off = t->wpool.n;
    if (n > UINT32_MAX || off > UINT32_MAX - n || !buf_add(&t->wpool, s, n)) goto nomem;
    t->words[t->n_words] = (word){(uint32_t)off, (uint32_t)n, 1, 0, 0, 0};
    itab_put(&t->word_tab, pos, h);
    t->n_words++;
    return SLM_OK;
nomem:
    return slm_fail(SLM_ERR_NOMEM, "tokenizer training: out of memory for %d words",
                    t->n_words + 1);
}

/* SPM: escape one run of valid text and count its words. */
static slm_status add_spm_text(slm_toktrain *t, const char *s, size_t n, buf *esc, int prefix)
{
    esc->n = 0;
    if (prefix && !buf_add(esc, SPACE_MARK, 3)) goto nomem;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == ' ' ? buf_add(esc, SPACE_MARK, 3) : buf_add(esc, s + i, 1))) goto nomem;
    const char *e = esc->p;
    size_t en = esc->n, start = 0, prev = 0, prev_n = 0;
    for (size_t i = 0; i < en;) {
        size_t cn = utf8_len((unsigned char)e[i]);
        if (cn > en - i) cn = en - i;
        if (i > 0 && cut_between(e + prev, prev_n, e + i, cn)) {
            slm_status st = word_add(t, e + start, i - start);
            if (st != SLM_OK) return st;
            start = i;
        }
        prev = i;
        prev_n = cn;
        i += cn;
    }
    return word_add(t, e + start, en - start);
nomem:
    return slm_fail(SLM_ERR_NOMEM, "tokenizer training: out of memory escaping %zu bytes", n);
}

slm_status slm_toktrain_add_doc(slm_toktrain *t, const char *text, size_t len)
{
    slm_status st = SLM_OK;
    buf esc = {0};
    slm_span *spans = NULL;
    size_t n_spans = 0;
    SLM_CHECK(t && (text || len == 0), SLM_ERR_ARG, "tokenizer training: NULL argument");
    SLM_CHECK(!t->ran, SLM_ERR_ARG, "tokenizer training: documents added after training");
    t->n_docs++;
    if (t->cfg.kind == SLM_TOKTRAIN_BPE) {
        SLM_TRY(slm_pretok_split(t->pretok, text, len, &spans, &n_spans));
        for (size_t i = 0; i < n_spans; i++) {
            esc.n = 0;
            for (size_t k = 0; k < spans[i].len; k++) {
                char two[2];
                size_t m = encode_byte((unsigned char)text[spans[i].off + k], two);
                SLM_CHECK(buf_add(&esc, two, m), SLM_ERR_NOMEM, "tokenizer training: out of memory");
            }
            SLM_TRY(word_add(t, esc.p, esc.n));
        }
        goto fail;
    }
    /* SPM: valid UTF-8 runs only (an invalid byte ends a run and is dropped);
     * the dummy prefix goes in front of the document only. */
    int first = 1;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len) {
            size_t k = valid_utf8((const unsigned char *)text + j, len - j);
            if (!k) break;
            j += k;
        }
        if (j > i || first) SLM_TRY(add_spm_text(t, text + i, j - i, &esc, first && !t->cfg.dna));
        first = 0;
        i = j < len ? j + 1 : j;
    }
fail:
    slm_free(esc.p);
    slm_free(spans);
    return st;
}

/* ---- pairs ---------------------------------------------------------------------- */

static int pair_eq(const slm_toktrain *t, int32_t idx, const key *k)
{
    const pair *p = &t->pairs[idx];
    if (t->cfg.kind == SLM_TOKTRAIN_BPE) return p->a == k->x && p->b == k->y;
    size_t an = t->toks[p->a].len, bn = t->toks[p->b].len;
    if (an + bn != k->an + k->bn) return 0;
    /* compare the concatenations p.a+p.b and k.a+k.b without copying */
    const char *pa = tok_text(t, p->a), *pb = tok_text(t, p->b);
    for (size_t i = 0; i < an + bn; i++) {
        char c1 = i < an ? pa[i] : pb[i - an];
        char c2 = i < k->an ? k->a[i] : k->b[i - k->an];
        if (c1 != c2) return 0;
    }
    return 1;
}

static uint64_t pair_key(const slm_toktrain *t, int32_t x, int32_t y, key *k)
{
    *k = (key){tok_text(t, x), tok_text(t, y), t->toks[x].len, t->toks[y].len, x, y};
    if (t->cfg.kind == SLM_TOKTRAIN_BPE)
        return mix(((uint64_t)(uint32_t)x << 32 | (uint32_t)y) * 0x9E3779B97F4A7C15ull);
    return text_hash(k);
}

static int32_t pair_find(const slm_toktrain *t, int32_t x, int32_t y)
{
    key k;
    uint64_t h = pair_key(t, x, y, &k);
    return itab_find(t, &t->pair_tab, h, pair_eq, &k, NULL);
}

static int heap_before(const hent *a, const hent *b)
{
    return a->count > b->count || (a->count == b->count && a->idx < b->idx);
}

static int heap_push(slm_toktrain *t, int64_t count, int32_t idx)
{
    if (!grow((void **)&t->heap, &t->cap_heap, t->n_heap + 1, sizeof *t->heap)) return 0;
    hent e = {count, idx};
    size_t i = t->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_before(&e, &t->heap[p])) break;
        t->heap[i] = t->heap[p];
        i = p;
    }
    t->heap[i] = e;
    return 1;
}

static hent heap_pop(slm_toktrain *t)
{
    hent top = t->heap[0], last = t->heap[--t->n_heap];
    size_t i = 0, n = t->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_before(&t->heap[c + 1], &t->heap[c])) c++;
        if (!heap_before(&t->heap[c], &last)) break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (n) t->heap[i] = last;
    return top;
}

/* Count f more occurrences of the adjacent pair (x, y) in word w. */
static int pair_inc(slm_toktrain *t, int32_t x, int32_t y, int64_t f, int32_t w)
{
    if (x < 0 || y < 0 || t->toks[x].len + t->toks[y].len > MAX_PIECE) return 1;
    key k;
    uint64_t h = pair_key(t, x, y, &k);
    uint32_t pos = 0;
    int32_t idx = itab_find(t, &t->pair_tab, h, pair_eq, &k, &pos);
    if (idx < 0) {
        if (!itab_reserve(&t->pair_tab) ||
            !grow32((void **)&t->pairs, &t->cap_pairs, t->n_pairs + 1, sizeof *t->pairs))
            return 0;
        itab_find(t, &t->pair_tab, h, pair_eq, &k, &pos);
        idx = t->n_pairs++;
        t->pairs[idx] = (pair){x, y, 0, -1, -1, NULL, 0, 0, 0};
        itab_put(&t->pair_tab, pos, h);
    }
    pair *p = &t->pairs[idx];
    p->count += f;
    if (!p->n_words || p->words[p->n_words - 1] != w) {
        size_t cap = p->cap_words;
        if (!grow((void **)&p->words, &cap, (size_t)p->n_words + 1, sizeof *p->words)) return 0;
        p->cap_words = (uint32_t)cap;
        p->words[p->n_words++] = w;
    }
    /* one heap entry per grown pair per merge (apply_merge pushes them),
     * not one per increment: the heap stays small */
    if (t->counting || p->dirty == t->stamp) return 1;
    p->dirty = t->stamp;
    if (!grow((void **)&t->dirty, &t->cap_dirty, t->n_dirty + 1, sizeof *t->dirty)) return 0;
    t->dirty[t->n_dirty++] = idx;
    return 1;
}

static void pair_dec(slm_toktrain *t, int32_t x, int32_t y, int64_t f)
{
    if (x < 0 || y < 0 || t->toks[x].len + t->toks[y].len > MAX_PIECE) return;
    int32_t idx = pair_find(t, x, y);
    if (idx >= 0) t->pairs[idx].count -= f;
}

/* ---- the runtime's merge procedure ----------------------------------------------
 * Symbols id[0..n) linked by nxt/prv (-1 ends). Repeatedly merge the adjacent
 * pair of highest priority, leftmost first: SPM, a pair whose concatenation
 * is a token (priority of that token, as src/tok/spm.c); BPE, a pair that is
 * a merge rule (priority by rank, as src/tok/bpe.c). Unknown symbols (< 0)
 * never merge. With w >= 0 the pair counts of word w (frequency f) follow
 * every merge. */

static int cand_before(const cand *a, const cand *b)
{
    return a->prio > b->prio || (a->prio == b->prio && a->l < b->l);
}

static int cand_push(slm_toktrain *t, const int32_t *id, const int32_t *nxt, int32_t l)
{
    if (l < 0 || nxt[l] < 0) return 1;
    int32_t x = id[l], y = id[nxt[l]];
    if (x < 0 || y < 0) return 1;
    cand c = {0, l, x, y, -1};
    if (t->cfg.kind == SLM_TOKTRAIN_BPE) {
        int32_t p = pair_find(t, x, y);
        if (p < 0 || t->pairs[p].rank < 0) return 1;
        c.prio = -(int64_t)t->pairs[p].rank - 1;
        c.res = t->pairs[p].result;
    } else {
        if (t->toks[x].len + t->toks[y].len > MAX_PIECE) return 1;
        c.res = tok_find2(t, tok_text(t, x), t->toks[x].len, tok_text(t, y), t->toks[y].len);
        if (c.res < 0 || t->toks[c.res].prio == INT64_MIN) return 1;
        c.prio = t->toks[c.res].prio;
    }
    if (!grow((void **)&t->lh, &t->cap_lh, t->n_lh + 1, sizeof *t->lh)) return 0;
    size_t i = t->n_lh++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_before(&c, &t->lh[p])) break;
        t->lh[i] = t->lh[p];
        i = p;
    }
    t->lh[i] = c;
    return 1;
}

static cand cand_pop(slm_toktrain *t)
{
    cand top = t->lh[0], last = t->lh[--t->n_lh];
    size_t i = 0, n = t->n_lh;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && cand_before(&t->lh[c + 1], &t->lh[c])) c++;
        if (!cand_before(&t->lh[c], &last)) break;
        t->lh[i] = t->lh[c];
        i = c;
    }
    if (n) t->lh[i] = last;
    return top;
}

/* Does the pair (x, y) concatenate to token `only`? */
static int concat_is(const slm_toktrain *t, int32_t x, int32_t y, int32_t only)
{
    size_t xn = t->toks[x].len;
    return xn + t->toks[y].len == t->toks[only].len &&
           memcmp(tok_text(t, x), tok_text(t, only), xn) == 0 &&
           memcmp(tok_text(t, y), tok_text(t, only) + xn, t->toks[y].len) == 0;
}

/* only >= 0 (SPM training): the symbols are the runtime's final segmentation
 * before token `only` existed, so only pairs that concatenate to it can
 * start merging (a cheap comparison instead of a lookup per pair). */
static int merge_syms(slm_toktrain *t, int32_t *id, int32_t *nxt, int32_t *prv, int32_t n,
                      int32_t w, int64_t f, int32_t only)
{
    t->n_lh = 0;
    for (int32_t i = 0; i + 1 < n; i++) {
        if (only >= 0 && (id[i] < 0 || id[i + 1] < 0 || !concat_is(t, id[i], id[i + 1], only)))
            continue;
        if (!cand_push(t, id, nxt, i)) return 0;
    }
    while (t->n_lh) {
        cand c = cand_pop(t);
        int32_t l = c.l, r = nxt[l];
        if (id[l] != c.lid || r < 0 || id[r] != c.rid) continue; /* stale */
        int32_t pl = prv[l], nr = nxt[r];
        if (w >= 0) {
            if (pl >= 0) pair_dec(t, id[pl], id[l], f);
            pair_dec(t, id[l], id[r], f);
            if (nr >= 0) pair_dec(t, id[r], id[nr], f);
        }
        id[l] = c.res;
        id[r] = DEAD;
        nxt[l] = nr;
        if (nr >= 0) prv[nr] = l;
        if (w >= 0) {
            if (pl >= 0 && !pair_inc(t, id[pl], id[l], f, w)) return 0;
            if (nr >= 0 && !pair_inc(t, id[l], id[nr], f, w)) return 0;
        }
        if (!cand_push(t, id, nxt, pl) || !cand_push(t, id, nxt, l)) return 0;
    }
    return 1;
}

static int links(slm_toktrain *t, size_t n)
{
    size_t cap = t->cap_links;
    if (n <= cap) return 1;
    if (!grow((void **)&t->nxt, &cap, n, sizeof *t->nxt)) return 0;
    cap = t->cap_links;
    if (!grow((void **)&t->prv, &cap, n, sizeof *t->prv)) return 0;
    t->cap_links = cap;
    return 1;
}

static void link_run(int32_t *nxt, int32_t *prv, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        nxt[i] = i + 1 < n ? i + 1 : -1;
        prv[i] = i - 1;
    }
}

/* Re-run the merge procedure on word w and compact its symbols. */
static int update_word(slm_toktrain *t, int32_t w, int32_t only)
{
    word *wd = &t->words[w];
    int32_t n = (int32_t)wd->n_sym, *id = t->syms + wd->sym_off;
    if (!links(t, (size_t)n)) return 0;
    link_run(t->nxt, t->prv, n);
    if (!merge_syms(t, id, t->nxt, t->prv, n, w, wd->freq, only)) return 0;
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++)
        if (id[i] != DEAD) id[m++] = id[i];
    t->words[w].n_sym = (uint32_t)m;
    return 1;
}

/* ---- training ------------------------------------------------------------------- */

static void free_pairs(slm_toktrain *t)
{
    for (int32_t i = 0; i < t->n_pairs; i++) slm_free(t->pairs[i].words);
    slm_free(t->pairs);
    t->pairs = NULL;
    t->n_pairs = t->cap_pairs = 0;
    itab_free(&t->pair_tab);
    slm_free(t->heap);
    t->heap = NULL;
    t->n_heap = t->cap_heap = 0;
    slm_free(t->dirty);
    t->dirty = NULL;
    t->n_dirty = t->cap_dirty = 0;
}

void slm_toktrain_free(slm_toktrain *t)
{
    if (!t) return;
    free_pairs(t);
    slm_free(t->toks);
    slm_free(t->tpool.p);
    itab_free(&t->tok_tab);
    slm_free(t->words);
    slm_free(t->wpool.p);
    itab_free(&t->word_tab);
    slm_free(t->syms);
    slm_free(t->rule);
    slm_free(t->lh);
    slm_free(t->nxt);
    slm_free(t->prv);
    slm_pretok_free(t->pretok);
    slm_free(t);
}

slm_status slm_toktrain_new(const slm_toktrain_config *c, slm_toktrain **out)
{
    slm_status st = SLM_OK;
    slm_toktrain *t = NULL;
    if (out) *out = NULL;
    SLM_CHECK(c && out, SLM_ERR_ARG, "tokenizer training: NULL argument");
    SLM_CHECK(c->kind == SLM_TOKTRAIN_SPM || c->kind == SLM_TOKTRAIN_BPE, SLM_ERR_ARG,
              "tokenizer training: unknown kind %d (expected spm or bpe)", (int)c->kind);
    int32_t min = c->kind == SLM_TOKTRAIN_SPM ? N_SPM_FIXED + 1 : 258;
    SLM_CHECK(c->n_vocab >= min && c->n_vocab <= (1 << 24), SLM_ERR_ARG,
              "tokenizer training: vocabulary size %d out of range (expected %d..%d)", c->n_vocab,
              min, 1 << 24);
    SLM_CHECK(!(c->dna && c->kind == SLM_TOKTRAIN_BPE), SLM_ERR_ARG,
              "tokenizer training: dna needs the spm kind");
    t = slm_calloc(1, sizeof *t);
    SLM_CHECK(t, SLM_ERR_NOMEM, "tokenizer training: out of memory");
    t->cfg = *c;
    if (c->kind == SLM_TOKTRAIN_BPE) {
        int known = 0;
        SLM_TRY(slm_pretok_new("gpt-2", &t->pretok, &known));
    }
    *out = t;
    return SLM_OK;
fail:
    slm_toktrain_free(t);
    return st;
}

typedef struct chr {
    uint32_t off, len; /* in wpool */
    int64_t count;
} chr;

static int chr_cmp(const void *pa, const void *pb, const char *pool)
{
    const chr *a = pa, *b = pb;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    return memcmp(pool + a->off, pool + b->off, a->len);
}

/* Merge sort: qsort has no context argument in C11. */
static void chr_sort(chr *v, chr *tmp, size_t n, const char *pool)
{
    if (n < 2) return;
    size_t h = n / 2;
    chr_sort(v, tmp, h, pool);
    chr_sort(v + h, tmp, n - h, pool);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = chr_cmp(&v[j], &v[i], pool) < 0 ? v[j++] : v[i++];
    while (i < h) tmp[k++] = v[i++];
    while (j < n) tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

typedef struct chr_set {
    chr *v;
    int32_t n, cap;
    itab tab;
    const char *pool;
} chr_set;

static int chr_eq(const slm_toktrain *t, int32_t idx, const key *k)
{
    (void)t;
    const chr_set *s = (const chr_set *)k->b; /* smuggled: see count_chars */
    return s->v[idx].len == k->an && memcmp(s->pool + s->v[idx].off, k->a, k->an) == 0;
}

/* SPM: the alphabet, most frequent characters first. */
static slm_status count_chars(slm_toktrain *t, chr_set *s)
{
    s->pool = t->wpool.p;
    for (int32_t w = 0; w < t->n_words; w++) {
        const word *wd = &t->words[w];
        const char *p = t->wpool.p + wd->off;
        for (size_t i = 0; i < wd->len;) {
            size_t cn = utf8_len((unsigned char)p[i]);
            if (cn > wd->len - i) cn = wd->len - i;
            key k = {p + i, (const char *)s, cn, 0, 0, 0};
            key hk = {p + i, "", cn, 0, 0, 0};
            uint64_t h = text_hash(&hk);
            uint32_t pos = 0;
            int32_t idx = itab_find(t, &s->tab, h, chr_eq, &k, &pos);
            if (idx < 0) {
                if (!itab_reserve(&s->tab) ||
                    !grow32((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v))
                    return slm_fail(SLM_ERR_NOMEM, "tokenizer training: out of memory");
                itab_find(t, &s->tab, h, chr_eq, &k, &pos);
                idx = s->n++;
                s->v[idx] = (chr){(uint32_t)(wd->off + i), (uint32_t)cn, 0};
                itab_put(&s->tab, pos, h);
            }
            s->v[idx].count += wd->freq;
            i += cn;
        }
    }
    chr *tmp = slm_alloc((size_t)(s->n ? s->n : 1) * sizeof *tmp);
    if (!tmp) return slm_fail(SLM_ERR_NOMEM, "tokenizer training: out of memory");
    chr_sort(s->v, tmp, (size_t)s->n, t->wpool.p);
    slm_free(tmp);
    return SLM_OK;
}

/* Tokens before any merge, and every word as its initial symbols. */
static slm_status init_alphabet(slm_toktrain *t)
{
    slm_status st = SLM_OK;
    chr_set cs = {0};
    uint64_t n_syms = 0;
    char name[8];
    if (t->cfg.kind == SLM_TOKTRAIN_BPE) {
        for (unsigned b = 0; b < 256; b++) {
            char two[2];
            size_t m = encode_byte((unsigned char)b, two);
            SLM_CHECK(tok_add(t, two, m, "", 0, INT64_MIN, 0.0f, SLM_TOKEN_NORMAL) >= 0,
                      SLM_ERR_NOMEM, "tokenizer training: out of memory");
        }
    } else {
        static const char *const fixed[3] = {"<unk>", "<s>", "</s>"};
        static const uint8_t types[3] = {SLM_TOKEN_UNKNOWN, SLM_TOKEN_CONTROL, SLM_TOKEN_CONTROL};
        for (int i = 0; i < 3; i++)
            SLM_CHECK(tok_add(t, fixed[i], strlen(fixed[i]), "", 0, 0, 0.0f, types[i]) >= 0,
                      SLM_ERR_NOMEM, "tokenizer training: out of memory");
        for (int b = 0; b < 256; b++) {
            snprintf(name, sizeof name, "<0x%02X>", b);
            SLM_CHECK(tok_add(t, name, 6, "", 0, 0, 0.0f, SLM_TOKEN_BYTE) >= 0, SLM_ERR_NOMEM,
                      "tokenizer training: out of memory");
        }
        SLM_TRY(count_chars(t, &cs));
        int32_t budget = t->cfg.n_vocab - N_SPM_FIXED;
        t->first_char = t->n_toks;
        for (int32_t i = 0; i < cs.n && i < budget; i++) {
            const chr *c = &cs.v[i];
            /* single characters never result from a merge: lowest priority */
            SLM_CHECK(tok_add(t, t->wpool.p + c->off, c->len, "", 0, INT64_MIN, 0.0f,
                              SLM_TOKEN_NORMAL) >= 0,
                      SLM_ERR_NOMEM, "tokenizer training: out of memory");
        }
        t->n_chars = t->n_toks - t->first_char;
        t->n_chars_dropped = cs.n - t->n_chars;
    }
    for (int32_t w = 0; w < t->n_words; w++) n_syms += t->words[w].len;
    SLM_CHECK(n_syms <= UINT32_MAX && (t->syms = slm_alloc((size_t)(n_syms ? n_syms : 1) *
                                                             sizeof *t->syms)),
              SLM_ERR_NOMEM, "tokenizer training: out of memory for %llu symbols",
              (unsigned long long)n_syms);
    uint32_t o = 0;
    for (int32_t w = 0; w < t->n_words; w++) {
        word *wd = &t->words[w];
        const char *p = t->wpool.p + wd->off;
        wd->sym_off = o;
        for (size_t i = 0; i < wd->len;) {
            size_t cn = utf8_len((unsigned char)p[i]);
            if (cn > wd->len - i) cn = wd->len - i;
            t->syms[o++] = tok_find2(t, p + i, cn, "", 0);
            i += cn;
        }
        wd->n_sym = o - wd->sym_off;
    }
fail:
    slm_free(cs.v);
    itab_free(&cs.tab);
    return st;
}

/* Make pair p (the most frequent) a merge and update every word holding it. */
static slm_status apply_merge(slm_toktrain *t, int32_t pi)
{
    pair *p = &t->pairs[pi];
    int32_t a = p->a, b = p->b;
    const char *at = tok_text(t, a), *bt = tok_text(t, b);
    size_t an = t->toks[a].len, bn = t->toks[b].len;
    int64_t prio = -(int64_t)t->n_merges - 1;
    int32_t id = tok_find2(t, at, an, bt, bn);
    if (t->cfg.kind == SLM_TOKTRAIN_SPM || id < 0) {
        /* SPM: the text is new, since no final segmentation has two adjacent
         * symbols that concatenate to a token */
        if (id >= 0) return slm_fail(SLM_ERR_FORMAT, "tokenizer training: internal: pair is a token");
        id = tok_add(t, at, an, bt, bn, prio, (float)prio, SLM_TOKEN_NORMAL);
        if (id < 0) return slm_fail(SLM_ERR_NOMEM, "tokenizer training: out of memory");
    }
    p = &t->pairs[pi];
    if (!grow32((void **)&t->rule, &t->cap_rule, t->n_merges + 1, sizeof *t->rule))
        return slm_fail(SLM_ERR_NOMEM, "tokenizer training: out of memory");
    t->rule[t->n_merges] = pi;
    p->rank = t->n_merges++;
    p->result = id;
    /* Detach the word list: updates may append to it while we walk it. */
    int32_t *list = p->words;
    uint32_t n = p->n_words;
    p->words = NULL;
    p->n_words = p->cap_words = 0;
    t->stamp++;
    for (uint32_t i = 0; i < n; i++) {
        int32_t w = list[i];
        if (t->words[w].stamp == t->stamp) continue;
        t->words[w].stamp = t->stamp;
        if (!update_word(t, w, t->cfg.kind == SLM_TOKTRAIN_SPM ? id : -1)) {
            slm_free(list);
            return slm_fail(SLM_ERR_NOMEM, "tokenizer training: out of memory");
        }
    }
    slm_free(list);
    for (size_t i = 0; i < t->n_dirty; i++) {
        const pair *d = &t->pairs[t->dirty[i]];
        if (d->count > 0 && d->rank < 0 && !heap_push(t, d->count, t->dirty[i]))
            return slm_fail(SLM_ERR_NOMEM, "tokenizer training: out of memory");
    }
    t->n_dirty = 0;
    return SLM_OK;
}

slm_status slm_toktrain_run(slm_toktrain *t)
{
    slm_status st = SLM_OK;
    SLM_CHECK(t, SLM_ERR_ARG, "tokenizer training: NULL argument");
    SLM_CHECK(!t->ran, SLM_ERR_ARG, "tokenizer training: already trained");
    SLM_CHECK(t->n_words > 0, SLM_ERR_ARG, "tokenizer training: no text to train on");
    t->ran = 1;
    SLM_TRY(init_alphabet(t));
    t->counting = 1;
    for (int32_t w = 0; w < t->n_words; w++) {
        const word *wd = &t->words[w];
        const int32_t *s = t->syms + wd->sym_off;
        for (uint32_t i = 0; i + 1 < wd->n_sym; i++)
            SLM_CHECK(pair_inc(t, s[i], s[i + 1], wd->freq, w), SLM_ERR_NOMEM,
                      "tokenizer training: out of memory counting pairs");
    }
    t->counting = 0;
    for (int32_t i = 0; i < t->n_pairs; i++)
        SLM_CHECK(heap_push(t, t->pairs[i].count, i), SLM_ERR_NOMEM,
                  "tokenizer training: out of memory");
    /* BPE keeps one id for <|endoftext|> */
    int32_t limit = t->cfg.n_vocab - (t->cfg.kind == SLM_TOKTRAIN_BPE ? 1 : 0);
    int32_t total = limit - t->n_toks;
    while (t->n_toks < limit && t->n_heap) {
        hent e = heap_pop(t);
        int64_t now = t->pairs[e.idx].count;
        if (now != e.count) {
            /* decreased since pushed: re-queue; increased: a newer entry exists */
            if (now > 0 && now < e.count)
                SLM_CHECK(heap_push(t, now, e.idx), SLM_ERR_NOMEM, "tokenizer training: out of memory");
            continue;
        }
        if (now <= 0 || t->pairs[e.idx].rank >= 0) continue;
        SLM_TRY(apply_merge(t, e.idx));
        if (t->cfg.progress) t->cfg.progress(t->n_merges, total, t->cfg.user);
    }
    if (t->cfg.kind == SLM_TOKTRAIN_BPE)
        SLM_CHECK(tok_add(t, "<|endoftext|>", 13, "", 0, 0, 0.0f, SLM_TOKEN_CONTROL) >= 0,
                  SLM_ERR_NOMEM, "tokenizer training: out of memory");
    /* Scores: merges -1, -2, ... (set at creation); characters below them. */
    for (int32_t i = 0; i < t->n_chars; i++)
        t->toks[t->first_char + i].score = -(float)(t->n_merges + 1 + i);
fail:
    /* pair statistics are not needed after training (BPE keeps rules) */
    if (t && t->cfg.kind == SLM_TOKTRAIN_SPM) free_pairs(t);
    else if (t) {
        slm_free(t->heap);
        t->heap = NULL;
        t->n_heap = t->cap_heap = 0;
    }
    return st;
}

void slm_toktrain_get_info(const slm_toktrain *t, slm_toktrain_info *info)
{
    memset(info, 0, sizeof *info);
    if (!t) return;
    info->n_docs = t->n_docs;
    info->n_words = t->n_words_total;
    info->n_unique_words = (uint64_t)t->n_words;
    info->n_tokens = t->n_toks;
    info->n_merges = t->n_merges;
    info->n_chars = t->cfg.kind == SLM_TOKTRAIN_BPE ? 256 : t->n_chars;
    info->n_chars_dropped = t->n_chars_dropped;
}

/* Re-segment every training word from its characters with the final
 * vocabulary and compare with the segmentation kept during training. */
int64_t slm_toktrain_verify(const slm_toktrain *tc)
{
    slm_toktrain *t = (slm_toktrain *)tc;
    if (!t || !t->ran) return -1;
    int64_t bad = 0;
    int32_t *id = NULL;
    size_t cap = 0;
    for (int32_t w = 0; w < t->n_words; w++) {
        const word *wd = &t->words[w];
        const char *p = t->wpool.p + wd->off;
        if (!grow((void **)&id, &cap, wd->len + 1, sizeof *id)) goto nomem;
        int32_t n = 0;
        for (size_t i = 0; i < wd->len; n++) {
            /* (BPE: one symbol per original byte, 1 or 2 bytes encoded) */
            size_t cn = utf8_len((unsigned char)p[i]);
            if (cn > wd->len - i) cn = wd->len - i;
            id[n] = tok_find2(t, p + i, cn, "", 0);
            i += cn;
        }
        if (!links(t, (size_t)n)) goto nomem;
        link_run(t->nxt, t->prv, n);
        if (!merge_syms(t, id, t->nxt, t->prv, n, -1, 0, -1)) goto nomem;
        uint32_t k = 0;
        int differ = 0;
        for (int32_t i = 0; i >= 0 && i < n; i = t->nxt[i], k++)
            differ |= k >= wd->n_sym || t->syms[wd->sym_off + k] != id[i];
        bad += differ || k != wd->n_sym;
    }
    slm_free(id);
    return bad;
nomem:
    slm_free(id);
    return -1;
}

/* ---- encoding ----------------------------------------------------------------- */

typedef struct ids {
    int32_t *v;
    size_t n, cap;
} ids;

static int ids_push(ids *b, int32_t id)
{
    if (!grow((void **)&b->v, &b->cap, b->n + 1, sizeof *b->v)) return 0;
    b->v[b->n++] = id;
    return 1;
}

/* Merge one word of n characters (offsets off[], lengths ln[] into s) and
 * append its ids; unknown characters become byte tokens (SPM). */
static int encode_word(slm_toktrain *t, const char *s, const size_t *off, const size_t *ln,
                       int32_t *id, int32_t n, ids *out)
{
    if (!links(t, (size_t)n)) return 0;
    link_run(t->nxt, t->prv, n);
    if (!merge_syms(t, id, t->nxt, t->prv, n, -1, 0, -1)) return 0;
    for (int32_t i = 0; i >= 0 && i < n; i = t->nxt[i]) {
        if (id[i] >= 0) {
            if (!ids_push(out, id[i])) return 0;
            continue;
        }
        for (size_t k = 0; k < ln[i]; k++)
            if (!ids_push(out, 3 + (unsigned char)s[off[i] + k])) return 0;
    }
    return 1;
}

slm_status slm_toktrain_encode(const slm_toktrain *tc, const char *text, size_t len, int32_t **out,
                               size_t *n_out)
{
    slm_status st = SLM_OK;
    slm_toktrain *t = (slm_toktrain *)tc; /* scratch buffers only; not thread safe */
    buf esc = {0};
    ids res = {0};
    size_t *off = NULL, *ln = NULL;
    int32_t *id = NULL;
    slm_span *spans = NULL;
    size_t n_spans = 0, cap_id = 0;
    if (out) *out = NULL;
    if (n_out) *n_out = 0;
    SLM_CHECK(t && out && n_out && (text || len == 0), SLM_ERR_ARG, "tokenizer encode: NULL argument");
    SLM_CHECK(t->ran, SLM_ERR_ARG, "tokenizer encode: the tokenizer is not trained yet");
    if (t->cfg.kind == SLM_TOKTRAIN_BPE) {
        SLM_TRY(slm_pretok_split(t->pretok, text, len, &spans, &n_spans));
        for (size_t i = 0; i < n_spans; i++) {
            size_t n = spans[i].len;
            SLM_CHECK(n <= INT32_MAX && grow((void **)&id, &cap_id, n ? n : 1, sizeof *id),
                      SLM_ERR_NOMEM, "tokenizer encode: out of memory");
            for (size_t k = 0; k < n; k++) id[k] = (unsigned char)text[spans[i].off + k];
            SLM_CHECK(encode_word(t, NULL, NULL, NULL, id, (int32_t)n, &res), SLM_ERR_NOMEM,
                      "tokenizer encode: out of memory");
        }
        goto done;
    }
    if (len && !t->cfg.dna) SLM_CHECK(buf_add(&esc, SPACE_MARK, 3), SLM_ERR_NOMEM, "tokenizer encode: out of memory");
    for (size_t i = 0; i < len; i++)
        SLM_CHECK(text[i] == ' ' ? buf_add(&esc, SPACE_MARK, 3) : buf_add(&esc, text + i, 1),
                  SLM_ERR_NOMEM, "tokenizer encode: out of memory");
    size_t en = esc.n, n = 0;
    SLM_CHECK(en < INT32_MAX && (off = slm_alloc((en + 1) * sizeof *off)) &&
                  (ln = slm_alloc((en + 1) * sizeof *ln)) &&
                  (id = slm_alloc((en + 1) * sizeof *id)),
              SLM_ERR_NOMEM, "tokenizer encode: out of memory for %zu bytes", len);
    for (size_t i = 0; i < en; n++) {
        size_t cn = utf8_len((unsigned char)esc.p[i]);
        if (cn > en - i) cn = en - i;
        off[n] = i;
        ln[n] = cn;
        id[n] = tok_find2(t, esc.p + i, cn, "", 0);
        if (id[n] >= 0 && t->toks[id[n]].type != SLM_TOKEN_NORMAL) id[n] = -1;
        i += cn;
    }
    size_t start = 0;
    for (size_t i = 1; i <= n; i++) {
        if (i < n && !cut_between(esc.p + off[i - 1], ln[i - 1], esc.p + off[i], ln[i])) continue;
        SLM_CHECK(encode_word(t, esc.p, off + start, ln + start, id + start, (int32_t)(i - start),
                              &res),
                  SLM_ERR_NOMEM, "tokenizer encode: out of memory");
        start = i;
    }
done:
    *out = res.v;
    *n_out = res.n;
    res.v = NULL;
fail:
    slm_free(res.v);
    slm_free(esc.p);
    slm_free(off);
    slm_free(ln);
    slm_free(id);
    slm_free(spans);
    return st;
}

/* ---- output --------------------------------------------------------------------- */

typedef struct outv {
    const char **tokens;
    float *scores;
    int32_t *types;
    char **merges;
    int32_t n_merges;
} outv;

static void outv_free(outv *o)
{
    if (o->merges)
        for (int32_t i = 0; i < o->n_merges; i++) slm_free(o->merges[i]);
    slm_free(o->merges);
    slm_free((void *)o->tokens);
    slm_free(o->scores);
    slm_free(o->types);
    memset(o, 0, sizeof *o);
}

static slm_status outv_build(const slm_toktrain *t, outv *o)
{
    memset(o, 0, sizeof *o);
    size_t n = (size_t)t->n_toks;
    o->tokens = slm_alloc(n * sizeof *o->tokens);
    o->scores = slm_alloc(n * sizeof *o->scores);
    o->types = slm_alloc(n * sizeof *o->types);
    if (!o->tokens || !o->scores || !o->types) goto nomem;
    for (size_t i = 0; i < n; i++) {
        o->tokens[i] = tok_text(t, (int32_t)i);
        o->scores[i] = t->toks[i].score;
        o->types[i] = t->toks[i].type;
    }
    if (t->cfg.kind == SLM_TOKTRAIN_BPE) {
        o->merges = slm_calloc((size_t)(t->n_merges ? t->n_merges : 1), sizeof *o->merges);
        if (!o->merges) goto nomem;
        for (int32_t r = 0; r < t->n_merges; r++) {
            const pair *p = &t->pairs[t->rule[r]];
            size_t an = t->toks[p->a].len, bn = t->toks[p->b].len;
            char *m = slm_alloc(an + bn + 2);
            if (!m) goto nomem;
            memcpy(m, tok_text(t, p->a), an);
            m[an] = ' ';
            memcpy(m + an + 1, tok_text(t, p->b), bn);
            m[an + bn + 1] = '\0';
            o->merges[o->n_merges++] = m;
        }
    }
    return SLM_OK;
nomem:
    outv_free(o);
    return slm_fail(SLM_ERR_NOMEM, "tokenizer training: out of memory writing the vocabulary");
}

slm_status slm_toktrain_vocab(const slm_toktrain *t, slm_vocab **out)
{
    slm_status st = SLM_OK;
    outv o = {0};
    if (out) *out = NULL;
    SLM_CHECK(t && out && t->ran, SLM_ERR_ARG, "tokenizer training: not trained");
    SLM_TRY(outv_build(t, &o));
    int bpe = t->cfg.kind == SLM_TOKTRAIN_BPE;
    int32_t eot = t->n_toks - 1;
    slm_vocab_spec spec = {.model = bpe ? "gpt2" : "llama", .pre = bpe ? "gpt-2" : NULL,
                           .tokens = o.tokens, .scores = o.scores, .types = o.types,
                           .n_tokens = t->n_toks, .merges = (const char *const *)o.merges,
                           .n_merges = o.n_merges, .bos = bpe ? eot : 1, .eos = bpe ? eot : 2,
                           .unk = bpe ? -1 : 0, .pad = -1, .add_bos = bpe ? 0 : 1, .add_eos = 0,
                           .add_space_prefix = bpe ? 0 : !t->cfg.dna};
    SLM_TRY(slm_vocab_build(&spec, out));
fail:
    outv_free(&o);
    return st;
}

slm_status slm_toktrain_set_keys(const slm_toktrain *t, slm_gguf_writer *w)
{
    slm_status st = SLM_OK;
    outv o = {0};
    SLM_CHECK(t && w && t->ran, SLM_ERR_ARG, "tokenizer training: not trained");
    SLM_TRY(outv_build(t, &o));
    int bpe = t->cfg.kind == SLM_TOKTRAIN_BPE;
    uint32_t eot = (uint32_t)t->n_toks - 1;
    SLM_TRY(slm_gguf_set_str(w, SLM_KEY_TOK_MODEL, bpe ? "gpt2" : "llama"));
    SLM_TRY(slm_gguf_set_str(w, SLM_KEY_TOK_PRE, bpe ? "gpt-2" : "default"));
    SLM_TRY(slm_gguf_set_arr_str(w, SLM_KEY_TOK_TOKENS, o.tokens, (uint64_t)t->n_toks));
    SLM_TRY(slm_gguf_set_arr_f32(w, SLM_KEY_TOK_SCORES, o.scores, (uint64_t)t->n_toks));
    SLM_TRY(slm_gguf_set_arr_i32(w, SLM_KEY_TOK_TYPES, o.types, (uint64_t)t->n_toks));
    if (bpe)
        SLM_TRY(slm_gguf_set_arr_str(w, SLM_KEY_TOK_MERGES, (const char *const *)o.merges,
                                     (uint64_t)o.n_merges));
    SLM_TRY(slm_gguf_set_u32(w, SLM_KEY_TOK_BOS, bpe ? eot : 1));
    SLM_TRY(slm_gguf_set_u32(w, SLM_KEY_TOK_EOS, bpe ? eot : 2));
    if (!bpe) SLM_TRY(slm_gguf_set_u32(w, SLM_KEY_TOK_UNK, 0));
    SLM_TRY(slm_gguf_set_bool(w, SLM_KEY_TOK_ADD_BOS, !bpe));
    SLM_TRY(slm_gguf_set_bool(w, SLM_KEY_TOK_ADD_EOS, 0));
    if (!bpe) SLM_TRY(slm_gguf_set_bool(w, SLM_KEY_TOK_ADD_SPACE_PREFIX, !t->cfg.dna));
fail:
    outv_free(&o);
    return st;
}

slm_status slm_toktrain_save(const slm_toktrain *t, const char *path)
{
    slm_status st = SLM_OK;
    slm_gguf_writer *w = NULL;
    SLM_CHECK(t && path, SLM_ERR_ARG, "tokenizer training: NULL argument");
    SLM_TRY(slm_gguf_writer_new(&w));
    SLM_TRY(slm_gguf_set_str(w, SLM_KEY_ARCHITECTURE, "llama"));
    SLM_TRY(slm_gguf_set_str(w, SLM_KEY_NAME, "slm-trained-tokenizer"));
    SLM_TRY(slm_toktrain_set_keys(t, w));
    SLM_TRY(slm_gguf_writer_write(w, path));
fail:
    slm_gguf_writer_free(w);
    return st;
}

/* ---- corpora -------------------------------------------------------------------- */

static int is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

/* One document, without the whitespace at its ends. */
static slm_status add_trimmed(slm_toktrain *t, const char *s, size_t n)
{
    while (n && is_ws(s[0])) s++, n--;
    while (n && is_ws(s[n - 1])) n--;
    return n ? slm_toktrain_add_doc(t, s, n) : SLM_OK;
}

static int is_base(char c)
{
    c = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
    return c == 'A' || c == 'C' || c == 'G' || c == 'T' || c == 'N';
}

/* DNA: one sequence per line: '>' header lines are skipped; of the fields
 * of a line (split at commas, tabs, spaces, semicolons) the longest made of
 * A/C/G/T/N only (any case) is the sequence, so CSV rows ("ACGT...,1"),
 * UCI rows ("EI, NAME, ACGT...") and FASTA lines all work, and a header row
 * such as "sequence,label" has none. The sequence is upper-cased and split
 * at N into documents. */
static slm_status add_dna_lines(slm_toktrain *t, char *s, size_t n)
{
    slm_status st = SLM_OK;
    for (size_t i = 0; i < n;) {
        size_t e = i, best = 0, best_len = 0;
        while (e < n && s[e] != '\n') e++;
        for (size_t f = i; s[i] != '>' && f < e;) {
            size_t g = f;
            int ok = 1;
            while (g < e && !strchr(",\t ;\r", s[g])) ok &= is_base(s[g++]);
            if (ok && g - f > best_len) best = f, best_len = g - f;
            f = g + 1;
        }
        for (size_t k = best, run = best; k <= best + best_len; k++) {
            if (k < best + best_len) {
                s[k] = (char)(s[k] >= 'a' && s[k] <= 'z' ? s[k] - 32 : s[k]);
                if (s[k] != 'N') continue;
            }
            if (k > run) SLM_TRY(slm_toktrain_add_doc(t, s + run, k - run));
            run = k + 1;
        }
        i = e + 1;
    }
fail:
    return st;
}

slm_status slm_toktrain_add_file(slm_toktrain *t, const char *path, uint64_t max_bytes,
                                 uint64_t *n_read)
{
    slm_status st = SLM_OK;
    char *data = NULL;
    size_t n = 0, cap = 0;
    gzFile f = NULL;
    if (n_read) *n_read = 0;
    SLM_CHECK(t && path, SLM_ERR_ARG, "tokenizer training: NULL argument");
    f = gzopen(path, "rb");
    SLM_CHECK(f, SLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    for (;;) {
        size_t want = 1 << 20;
        if (max_bytes && max_bytes - n < want) want = (size_t)(max_bytes - n);
        if (want == 0) break;
        SLM_CHECK(grow((void **)&data, &cap, n + want + 1, 1), SLM_ERR_NOMEM,
                  "%s: out of memory after %zu bytes", path, n);
        int got = gzread(f, data + n, (unsigned)want);
        if (got < 0) {
            int zerr = 0;
            const char *msg = gzerror(f, &zerr);
            SLM_CHECK(0, SLM_ERR_IO, "%s: read error after %zu bytes: %s", path, n,
                      zerr == Z_ERRNO ? strerror(errno) : msg);
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    if (t->cfg.dna) {
        SLM_TRY(add_dna_lines(t, data, n));
    } else {
        static const char marker[] = "<|endoftext|>";
        const size_t ml = sizeof marker - 1;
        size_t start = 0;
        for (size_t i = 0; i + ml <= n; i++) {
            if (data[i] != '<' || memcmp(data + i, marker, ml) != 0) continue;
            SLM_TRY(add_trimmed(t, data + start, i - start));
            start = i + ml;
            i = start - 1;
        }
        SLM_TRY(add_trimmed(t, data + start, n - start));
    }
    if (n_read) *n_read = n;
fail:
    if (f) gzclose(f);
    slm_free(data);
    return st;
}

/* ---- public API ------------------------------------------------------------------ */

slm_tokenizer_train_params slm_tokenizer_train_default_params(void)
{
    slm_tokenizer_train_params p;
    memset(&p, 0, sizeof p);
    p.n_vocab = 4096;
    p.type = "spm";
    return p;
}

typedef struct relay {
    const slm_tokenizer_train_params *p;
} relay;

static void relay_progress(int32_t done, int32_t total, void *user)
{
    const relay *r = user;
    r->p->progress((uint32_t)done, (uint32_t)(total > 0 ? total : 0), r->p->user);
}

slm_status slm_tokenizer_train(const slm_tokenizer_train_params *p, const char *const *files,
                               size_t n_files, const char *out_path,
                               slm_tokenizer_train_stats *stats)
{
    slm_status st = SLM_OK;
    slm_toktrain *t = NULL;
    slm_error_clear();
    if (stats) memset(stats, 0, sizeof *stats);
    SLM_CHECK(p && files && n_files && out_path, SLM_ERR_ARG,
              "slm_tokenizer_train: params, files and out_path must be given");
    SLM_CHECK(p->type && (strcmp(p->type, "spm") == 0 || strcmp(p->type, "bpe") == 0), SLM_ERR_ARG,
              "slm_tokenizer_train: type '%s' (expected spm or bpe)", p->type ? p->type : "(null)");
    SLM_CHECK(p->n_vocab <= (1u << 24), SLM_ERR_ARG,
              "slm_tokenizer_train: vocabulary size %u above %u", p->n_vocab, 1u << 24);
    relay r = {p};
    slm_toktrain_config c = {.kind = strcmp(p->type, "bpe") == 0 ? SLM_TOKTRAIN_BPE
                                                                  : SLM_TOKTRAIN_SPM,
                             .n_vocab = (int32_t)p->n_vocab, .dna = p->dna != 0,
                             .progress = p->progress ? relay_progress : NULL, .user = &r};
    SLM_TRY(slm_toktrain_new(&c, &t));
    uint64_t total = 0;
    for (size_t i = 0; i < n_files; i++) {
        SLM_CHECK(files[i], SLM_ERR_ARG, "slm_tokenizer_train: file %zu is NULL", i);
        if (p->max_bytes && total >= p->max_bytes) break;
        uint64_t got = 0;
        SLM_TRY(slm_toktrain_add_file(t, files[i], p->max_bytes ? p->max_bytes - total : 0, &got));
        total += got;
    }
    SLM_TRY(slm_toktrain_run(t));
    SLM_TRY(slm_toktrain_save(t, out_path));
    if (stats) {
        slm_toktrain_info in;
        slm_toktrain_get_info(t, &in);
        *stats = (slm_tokenizer_train_stats){total, in.n_docs, in.n_words, in.n_unique_words,
                                             (uint32_t)in.n_tokens, (uint32_t)in.n_merges,
                                             (uint32_t)in.n_chars, (uint32_t)in.n_chars_dropped};
    }
fail:
    slm_toktrain_free(t);
    return st;
}
