/* bpe.c — byte-level BPE (tokenizer.ggml.model "gpt2", and "gemma4").
 *
 * Text is split by the pre-tokenizer (pretok.c); each piece is written in
 * the GPT-2 byte alphabet (every byte becomes one printable code point; not
 * for gemma4, which works on raw UTF-8 with spaces already turned into
 * U+2581), cut into characters, and adjacent symbols are merged lowest
 * merge rank first (ties: leftmost), until no pair is a known merge. Symbols
 * that are not tokens fall back to byte tokens. This reproduces llama.cpp's
 * llm_tokenizer_bpe_session step for step, merges looked up by text.
 */
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "tok/vocab.h"

/* ---- the GPT-2 byte alphabet ----------------------------------------------
 * Bytes that are printable Latin-1 ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) stand
 * for themselves; the other 68 bytes, in increasing order, become U+0100,
 * U+0101, ... so that no piece contains whitespace or control characters. */

static int printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* The 68 others, in order: 0x00..0x20 -> U+0100..U+0120, 0x7F..0xA0 ->
 * U+0121..U+0142, 0xAD -> U+0143. */
static uint32_t byte_cp(unsigned b)
{
    if (printable(b)) return b;
    if (b <= 0x20) return 0x100 + b;
    if (b <= 0xA0) return 0x121 + (b - 0x7F);
    return 0x143;
}

static int cp_byte(uint32_t cp)
{
    if (cp < 0x100) return printable(cp) ? (int)cp : -1;
    if (cp <= 0x120) return (int)(cp - 0x100);
    if (cp <= 0x142) return (int)(cp - 0x121 + 0x7F);
    if (cp == 0x143) return 0xAD;
    return -1;
}

/* Append the encoded form of byte c (1 or 2 bytes of UTF-8); returns bytes. */
static size_t encode_byte(unsigned char c, char *dst)
{
    uint32_t cp = byte_cp(c);
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    dst[0] = (char)(0xC0 | (cp >> 6));
    dst[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

static size_t utf8_len(unsigned char c)
{
    static const unsigned char lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lens[c >> 4];
}

/* Decode one UTF-8 sequence of n bytes (no validation beyond the length). */
static uint32_t utf8_cp(const unsigned char *s, size_t n)
{
    switch (n) {
    case 1: return s[0];
    case 2: return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    case 3: return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    default:
        return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
               ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    }
}

size_t slm_bpe_decode(const char *piece, size_t len, char *buf, size_t cap)
{
    size_t out = 0;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_len((unsigned char)piece[i]);
        if (n > len - i) n = len - i;
        int b = n >= 2 ? cp_byte(utf8_cp((const unsigned char *)piece + i, n))
                       : cp_byte((unsigned char)piece[i]);
        if (b >= 0) {
            if (out < cap) buf[out] = (char)b;
            out++;
        } else {
            for (size_t k = 0; k < n; k++, out++)
                if (out < cap) buf[out] = piece[i + k];
        }
        i += n;
    }
    return out;
}

/* ---- merging ------------------------------------------------------------- */

typedef struct sym {
    const char *text;
    uint32_t n;     /* bytes; 0 once merged into the left neighbour */
    int32_t prev, next;
} sym;

typedef struct bigram {
    int32_t left, right;   /* symbol indices */
    uint32_t ln, rn;       /* their lengths when queued: symbols only grow to the
                              right, so equal lengths mean equal texts */
    int32_t rank;
} bigram;

typedef struct work {
    sym *syms;
    size_t n_syms, cap_syms;
    bigram *heap;
    size_t n_heap, cap_heap;
    char *enc;          /* byte-encoded piece */
    size_t cap_enc;
} work;

/* Heap order: lower rank first, then the leftmost pair (llama.cpp's
 * llm_bigram_bpe::comparator). */
static int before(const bigram *a, const bigram *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

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

static int heap_push(work *w, const bigram *b)
{
    if (!grow((void **)&w->heap, &w->cap_heap, w->n_heap + 1, sizeof *w->heap)) return 0;
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(b, &w->heap[parent])) break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = *b;
    return 1;
}

static bigram heap_pop(work *w)
{
    bigram top = w->heap[0], last = w->heap[--w->n_heap];
    size_t i = 0, n = w->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && before(&w->heap[c + 1], &w->heap[c])) c++;
        if (!before(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n) w->heap[i] = last;
    return top;
}

static int add_bigram(const slm_vocab *v, work *w, int32_t left, int32_t right)
{
    if (left < 0 || right < 0) return 1;
    const sym *l = &w->syms[left], *r = &w->syms[right];
    int32_t rank = slm_vocab_merge_rank(v, l->text, l->n, r->text, r->n);
    if (rank < 0) return 1;
    bigram b = {left, right, l->n, r->n, rank};
    return heap_push(w, &b);
}

static int all_newlines(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != '\n') return 0;
    return 1;
}

/* Merge one pre-token and append its ids. */
static slm_status merge_word(const slm_vocab *v, work *w, const char *word, size_t len,
                             slm_idbuf *out)
{
    w->n_syms = 0;
    w->n_heap = 0;
    int whole = 0;
    if (v->ignore_merges || (v->newline_whole && all_newlines(word, len)))
        whole = slm_vocab_lookup(v, word, len) >= 0;
    size_t need = whole ? 1 : len;
    if (!grow((void **)&w->syms, &w->cap_syms, need, sizeof *w->syms))
        return slm_fail(SLM_ERR_NOMEM, "tokenizer: out of memory for %zu symbols", need);
    if (whole) {
        w->syms[0] = (sym){word, (uint32_t)len, -1, -1};
        w->n_syms = 1;
    } else {
        for (size_t off = 0; off < len;) {
            size_t n = utf8_len((unsigned char)word[off]);
            if (n > len - off) n = len - off;
            int32_t i = (int32_t)w->n_syms++;
            w->syms[i] = (sym){word + off, (uint32_t)n, i - 1, off + n == len ? -1 : i + 1};
            off += n;
        }
    }
    for (size_t i = 1; i < w->n_syms; i++)
        if (!add_bigram(v, w, (int32_t)i - 1, (int32_t)i)) goto nomem;

    while (w->n_heap) {
        bigram b = heap_pop(w);
        sym *l = &w->syms[b.left], *r = &w->syms[b.right];
        if (l->n == 0 || r->n == 0 || l->n != b.ln || r->n != b.rn) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) w->syms[r->next].prev = b.left;
        if (!add_bigram(v, w, l->prev, b.left) || !add_bigram(v, w, b.left, l->next)) goto nomem;
    }

    for (int32_t i = w->n_syms ? 0 : -1; i != -1; i = w->syms[i].next) {
        const sym *s = &w->syms[i];
        if (s->n == 0) continue;
        int32_t id = slm_vocab_lookup(v, s->text, s->n);
        if (id >= 0) {
            if (slm_idbuf_push(out, id) != SLM_OK) return SLM_ERR_NOMEM;
            continue;
        }
        /* Not a token: one token per byte, if the vocabulary has it. */
        for (uint32_t k = 0; k < s->n; k++) {
            unsigned char c = (unsigned char)s->text[k];
            int32_t bid = v->byte_encode ? slm_vocab_lookup(v, s->text + k, 1) : v->byte_token[c];
            if (bid >= 0 && slm_idbuf_push(out, bid) != SLM_OK) return SLM_ERR_NOMEM;
        }
    }
    return SLM_OK;
nomem:
    return slm_fail(SLM_ERR_NOMEM, "tokenizer: out of memory merging a %zu-byte piece", len);
}

slm_status slm_bpe_tokenize(const slm_vocab *v, const char *text, size_t len, slm_idbuf *out)
{
    slm_status st = SLM_OK;
    slm_span *spans = NULL;
    size_t n_spans = 0;
    work w = {0};
    SLM_TRY(slm_pretok_split(v->pretok, text, len, &spans, &n_spans));
    for (size_t s = 0; s < n_spans; s++) {
        const char *word = text + spans[s].off;
        size_t wlen = spans[s].len;
        if (v->byte_encode) {
            size_t need;
            SLM_CHECK(slm_size_mul(wlen, 2, &need) &&
                          grow((void **)&w.enc, &w.cap_enc, need ? need : 1, 1),
                      SLM_ERR_NOMEM, "tokenizer: out of memory for a %zu-byte piece", wlen);
            size_t o = 0;
            for (size_t i = 0; i < wlen; i++) o += encode_byte((unsigned char)word[i], w.enc + o);
            word = w.enc;
            wlen = o;
        }
        SLM_TRY(merge_word(v, &w, word, wlen, out));
    }
fail:
    slm_free(spans);
    slm_free(w.syms);
    slm_free(w.heap);
    slm_free(w.enc);
    return st;
}
