/* spm.c — SentencePiece-style BPE (tokenizer.ggml.model "llama").
 *
 * The caller has already prefixed the dummy space and written spaces as
 * U+2581. The text is cut into UTF-8 characters; then, repeatedly, the
 * adjacent pair whose concatenation is a token with the highest score is
 * merged (ties: leftmost pair). A final symbol that is not a token is
 * emitted as its bytes through the <0xNN> byte tokens (unk if the
 * vocabulary has none). Same procedure as llama.cpp's
 * llm_tokenizer_spm_session, whose merged symbols are always tokens.
 */
#include "base/alloc.h"
#include "base/status.h"
#include "tok/vocab.h"

typedef struct sym {
    const char *text;
    uint32_t n; /* bytes; 0 once merged into the left neighbour */
    int32_t prev, next;
} sym;

typedef struct bigram {
    int32_t left, right;
    float score;
    uint32_t size; /* bytes of the pair when queued (a later change makes it stale) */
} bigram;

/* Heap order: higher score first, then the leftmost pair. */
static int before(const bigram *a, const bigram *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

typedef struct heap {
    bigram *v;
    size_t n, cap;
} heap;

static int heap_push(heap *h, const bigram *b)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64, bytes;
        if (!slm_size_mul(cap, sizeof *h->v, &bytes)) return 0;
        bigram *nv = slm_realloc(h->v, bytes);
        if (!nv) return 0;
        h->v = nv;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(b, &h->v[parent])) break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = *b;
    return 1;
}

static bigram heap_pop(heap *h)
{
    bigram top = h->v[0], last = h->v[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && before(&h->v[c + 1], &h->v[c])) c++;
        if (!before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (n) h->v[i] = last;
    return top;
}

/* Queue (left, right) if their concatenation is a token. Symbols are
 * adjacent in the text, so the pair's text is contiguous. */
static int try_pair(const slm_vocab *v, const sym *syms, heap *h, int32_t left, int32_t right)
{
    if (left < 0 || right < 0) return 1;
    uint32_t size = syms[left].n + syms[right].n;
    int32_t id = slm_vocab_lookup(v, syms[left].text, size);
    if (id < 0) return 1;
    bigram b = {left, right, v->tokens[id].score, size};
    return heap_push(h, &b);
}

static size_t utf8_len(unsigned char c)
{
    static const unsigned char lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lens[c >> 4];
}

slm_status slm_spm_tokenize(const slm_vocab *v, const char *text, size_t len, slm_idbuf *out)
{
    slm_status st = SLM_OK;
    heap h = {0};
    sym *syms = NULL;
    if (len == 0) return SLM_OK;
    size_t bytes;
    SLM_CHECK(slm_size_mul(len, sizeof *syms, &bytes) && (syms = slm_alloc(bytes)), SLM_ERR_NOMEM,
              "tokenizer: out of memory for %zu bytes of text", len);
    int32_t n_syms = 0;
    for (size_t off = 0; off < len;) {
        size_t n = utf8_len((unsigned char)text[off]);
        if (n > len - off) n = len - off;
        syms[n_syms] = (sym){text + off, (uint32_t)n, n_syms - 1, off + n == len ? -1 : n_syms + 1};
        n_syms++;
        off += n;
    }
    for (int32_t i = 1; i < n_syms; i++)
        SLM_CHECK(try_pair(v, syms, &h, i - 1, i), SLM_ERR_NOMEM, "tokenizer: out of memory");

    while (h.n) {
        bigram b = heap_pop(&h);
        sym *l = &syms[b.left], *r = &syms[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) syms[r->next].prev = b.left;
        SLM_CHECK(try_pair(v, syms, &h, l->prev, b.left) && try_pair(v, syms, &h, b.left, l->next),
                  SLM_ERR_NOMEM, "tokenizer: out of memory");
    }

    for (int32_t i = 0; i != -1; i = syms[i].next) {
        int32_t id = slm_vocab_lookup(v, syms[i].text, syms[i].n);
        if (id >= 0) {
            SLM_TRY(slm_idbuf_push(out, id));
            continue;
        }
        for (uint32_t k = 0; k < syms[i].n; k++) {
            unsigned char c = (unsigned char)syms[i].text[k];
            int32_t bid = v->byte_token[c];
            if (bid < 0) bid = slm_vocab_lookup(v, syms[i].text + k, 1);
            if (bid < 0) bid = v->unk;
            if (bid >= 0) SLM_TRY(slm_idbuf_push(out, bid));
        }
    }
fail:
    slm_free(h.v);
    slm_free(syms);
    return st;
}
