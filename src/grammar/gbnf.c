/* gbnf.c — the GBNF parser: text → slm_gram (grammar.h), byte level.
 *
 * Syntax (llama.cpp's grammars/README.md):
 *   rule     ::= name "::=" alts           one rule per line; inside ( ) and
 *   alts     ::= seq ("|" seq)*             after "::=" or "|" newlines are
 *   seq      ::= (item repeat?)*            free; a line that does not start
 *   item     ::= "lit" | [class] | . | name | "(" alts ")"   a new rule
 *   repeat   ::= * | + | ? | {m} | {m,} | {m,n} | {,n}       continues it
 *   comments # to end of line; names [A-Za-z0-9_-]+.
 * Characters are code points (escapes \xNN \uNNNN \UNNNNNNNN name code
 * points, not bytes); each is lowered to its UTF-8 bytes, and a class to
 * alternatives of byte-range sequences. Repetitions become helper rules:
 * x* → R ::= x R | "" (right recursion, which the matcher runs as a loop).
 * Every error carries line:column; hostile input is bounded by the limits in
 * grammar.h (the parser is fuzzed by fuzz/fuzz_grammar.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "grammar/grammar.h"

/* ---- builder: rules as vectors of alternatives --------------------------- */

typedef struct evec {
    slm_gram_elem *v;
    size_t n, cap;
} evec;

typedef struct brule {
    evec *alts;
    size_t n_alts, cap_alts;
    char *name;       /* user name, or "<parent>_<n>" for helper rules */
    int defined;
    size_t def_off;   /* where it was defined (or first referenced) */
    size_t ref_off;   /* first reference, for "undefined rule" */
    int referenced;
} brule;

typedef struct crange {
    uint32_t lo, hi;
} crange;

typedef struct parser {
    const char *s;
    size_t n, i;
    brule *rules;
    size_t n_rules, cap_rules;
    uint32_t *named;  /* ids of the rules named in the text */
    size_t n_named, cap_named;
    uint64_t (*sets)[4];
    size_t n_sets, cap_sets;
    size_t n_elems;   /* elements emitted so far (budget) */
    int depth;
    uint32_t any_rule; /* rule for `.`, UINT32_MAX until needed */
    slm_status st;
} parser;

static void line_col(const parser *p, size_t off, unsigned *line, unsigned *col)
{
    unsigned l = 1, c = 1;
    for (size_t k = 0; k < off && k < p->n; k++) {
        if (p->s[k] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* Record "grammar:L:C: msg" once (the first error wins); returns the status. */
static slm_status perr(parser *p, size_t off, const char *fmt, ...) SLM_PRINTF(3, 4);
static slm_status perr(parser *p, size_t off, const char *fmt, ...)
{
    if (p->st != SLM_OK) return p->st;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    unsigned line, col;
    line_col(p, off, &line, &col);
    p->st = slm_fail(SLM_ERR_FORMAT, "grammar:%u:%u: %s", line, col, msg);
    return p->st;
}

static slm_status nomem(parser *p)
{
    if (p->st == SLM_OK) p->st = slm_fail(SLM_ERR_NOMEM, "grammar: out of memory");
    return p->st;
}

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 1;
    size_t nc = *cap ? *cap * 2 : 8;
    while (nc < need) nc *= 2;
    size_t bytes;
    if (!slm_size_mul(nc, elem, &bytes)) return 0;
    void *nv = slm_realloc(*v, bytes);
    if (!nv) return 0;
    *v = nv;
    *cap = nc;
    return 1;
}

static slm_status push_elem(parser *p, evec *e, uint32_t kind, uint32_t arg)
{
    if (p->n_elems >= SLM_GRAM_MAX_ELEMS)
        return perr(p, p->i, "grammar too large (over %u elements after expanding repetitions)",
                    SLM_GRAM_MAX_ELEMS);
    if (!grow((void **)&e->v, &e->cap, e->n + 1, sizeof *e->v)) return nomem(p);
    e->v[e->n].kind = kind;
    e->v[e->n].arg = arg;
    e->n++;
    p->n_elems++;
    return SLM_OK;
}

static slm_status push_alt(parser *p, uint32_t r, evec *alt)
{
    brule *b = &p->rules[r];
    if (!grow((void **)&b->alts, &b->cap_alts, b->n_alts + 1, sizeof *b->alts)) {
        slm_free(alt->v);
        alt->v = NULL;
        return nomem(p);
    }
    b->alts[b->n_alts++] = *alt;
    p->n_elems++; /* its GRAM_END */
    memset(alt, 0, sizeof *alt);
    return SLM_OK;
}

static slm_status new_rule(parser *p, const char *name, size_t name_len, size_t off, uint32_t *out)
{
    if (p->n_rules >= (1u << 28)) return perr(p, off, "too many rules");
    if (!grow((void **)&p->rules, &p->cap_rules, p->n_rules + 1, sizeof *p->rules)) return nomem(p);
    brule *b = &p->rules[p->n_rules];
    memset(b, 0, sizeof *b);
    b->name = slm_alloc(name_len + 1);
    if (!b->name) return nomem(p);
    memcpy(b->name, name, name_len);
    b->name[name_len] = '\0';
    b->def_off = off;
    *out = (uint32_t)p->n_rules++;
    return SLM_OK;
}

/* A helper rule named after the rule being defined ("value_3"). */
static slm_status helper_rule(parser *p, uint32_t parent, uint32_t *out)
{
    char name[96];
    snprintf(name, sizeof name, "%.60s_%zu", p->rules[parent].name, p->n_rules);
    slm_status st = new_rule(p, name, strlen(name), p->i, out);
    if (st != SLM_OK) return st;
    p->rules[*out].defined = 1;
    return SLM_OK;
}

/* Named rules only (helper rules are never looked up by name, and there may
 * be a hundred thousand of them after {0,n}). */
static slm_status find_rule(parser *p, const char *name, size_t len, size_t off, uint32_t *out)
{
    for (size_t k = 0; k < p->n_named; k++) {
        const char *nm = p->rules[p->named[k]].name;
        if (strlen(nm) == len && memcmp(nm, name, len) == 0) {
            *out = p->named[k];
            return SLM_OK;
        }
    }
    if (!grow((void **)&p->named, &p->cap_named, p->n_named + 1, sizeof *p->named)) return nomem(p);
    slm_status st = new_rule(p, name, len, off, out);
    if (st == SLM_OK) p->named[p->n_named++] = *out;
    return st;
}

static uint32_t set_index(parser *p, const uint64_t set[4])
{
    for (size_t k = 0; k < p->n_sets; k++)
        if (memcmp(p->sets[k], set, sizeof p->sets[k]) == 0) return (uint32_t)k;
    if (p->n_sets >= (1u << 28)) {
        perr(p, p->i, "too many character sets");
        return UINT32_MAX;
    }
    if (!grow((void **)&p->sets, &p->cap_sets, p->n_sets + 1, sizeof *p->sets)) {
        nomem(p);
        return UINT32_MAX;
    }
    memcpy(p->sets[p->n_sets], set, sizeof p->sets[0]);
    return (uint32_t)p->n_sets++;
}

static slm_status push_set(parser *p, evec *e, const uint64_t set[4])
{
    uint32_t k = set_index(p, set);
    if (k == UINT32_MAX) return p->st;
    return push_elem(p, e, GRAM_SET, k);
}

static slm_status push_byte(parser *p, evec *e, unsigned b)
{
    uint64_t set[4] = {0, 0, 0, 0};
    set[b >> 6] |= 1ull << (b & 63);
    return push_set(p, e, set);
}

/* ---- lexing -------------------------------------------------------------- */

static int peek(const parser *p) { return p->i < p->n ? (unsigned char)p->s[p->i] : -1; }
static int peek_at(const parser *p, size_t k) { return k < p->n ? (unsigned char)p->s[k] : -1; }

static int is_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Skip blanks and comments from k; newlines too if newline_ok. */
static size_t skip_from(const parser *p, size_t k, int newline_ok)
{
    while (k < p->n) {
        char c = p->s[k];
        if (c == ' ' || c == '\t' || c == '\r' || (newline_ok && c == '\n')) {
            k++;
        } else if (c == '#') {
            while (k < p->n && p->s[k] != '\n') k++;
        } else {
            break;
        }
    }
    return k;
}

static void skip_space(parser *p, int newline_ok) { p->i = skip_from(p, p->i, newline_ok); }

/* Does a rule definition (name ::=) start at k? */
static int rule_starts_at(const parser *p, size_t k)
{
    size_t j = k;
    while (j < p->n && is_name_char((unsigned char)p->s[j])) j++;
    if (j == k) return 0;
    j = skip_from(p, j, 0);
    return j + 3 <= p->n && memcmp(p->s + j, "::=", 3) == 0;
}

/* Decode one UTF-8 code point of the grammar text. */
static slm_status utf8_char(parser *p, uint32_t *cp)
{
    size_t off = p->i;
    unsigned c = (unsigned char)p->s[p->i];
    int n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        p->i++;
        return SLM_OK;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 1; v = c & 0x1F; min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 2; v = c & 0x0F; min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 3; v = c & 0x07; min = 0x10000;
    } else {
        return perr(p, off, "invalid UTF-8 byte 0x%02X", c);
    }
    for (int k = 1; k <= n; k++) {
        int b = peek_at(p, off + (size_t)k);
        if (b < 0 || (b & 0xC0) != 0x80) return perr(p, off, "invalid UTF-8 sequence");
        v = (v << 6) | ((unsigned)b & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return perr(p, off, "invalid UTF-8 sequence");
    p->i = off + (size_t)n + 1;
    *cp = v;
    return SLM_OK;
}

static slm_status hex_escape(parser *p, int digits, uint32_t *cp)
{
    uint32_t v = 0;
    size_t off = p->i;
    for (int k = 0; k < digits; k++) {
        int c = peek(p);
        int d = (c >= '0' && c <= '9') ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0) return perr(p, off, "expected %d hex digits after '\\%c'", digits,
                               digits == 2 ? 'x' : digits == 4 ? 'u' : 'U');
        v = v * 16 + (uint32_t)d;
        p->i++;
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return perr(p, off, "escape U+%X is not a Unicode scalar value", (unsigned)v);
    *cp = v;
    return SLM_OK;
}

/* One character of a literal or class (the caller checked p->i < n). */
static slm_status parse_char(parser *p, uint32_t *cp)
{
    if (p->s[p->i] != '\\') return utf8_char(p, cp);
    size_t off = p->i;
    p->i++;
    int c = peek(p);
    if (c < 0) return perr(p, off, "unexpected end of grammar after '\\'");
    p->i++;
    switch (c) {
    case 'x': return hex_escape(p, 2, cp);
    case 'u': return hex_escape(p, 4, cp);
    case 'U': return hex_escape(p, 8, cp);
    case 'n': *cp = '\n'; return SLM_OK;
    case 'r': *cp = '\r'; return SLM_OK;
    case 't': *cp = '\t'; return SLM_OK;
    case '\\': case '"': case '[': case ']': case '-': case '^': case '/':
        *cp = (uint32_t)c;
        return SLM_OK;
    default:
        if (c >= 0x20 && c < 0x7F) return perr(p, off, "unknown escape '\\%c'", c);
        return perr(p, off, "unknown escape '\\' followed by byte 0x%02X", (unsigned)c);
    }
}

static int utf8_encode(uint32_t cp, unsigned char out[4])
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    } else if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    } else if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- character classes → UTF-8 byte-range sequences ----------------------- */

typedef struct seqs {
    /* sequences of byte ranges: each has len 2..4, lo[k]..hi[k] per byte */
    struct { uint8_t len, lo[4], hi[4]; } *v;
    size_t n, cap;
} seqs;

/* Split [lo, hi] (same UTF-8 length, no surrogates) until each piece is a
 * product of byte ranges; the standard construction (Russ Cox, "Regular
 * Expression Matching", and Rust's utf8-ranges). */
static int add_seqs(seqs *out, uint32_t lo, uint32_t hi)
{
    static const uint32_t bounds[] = {0x7F, 0x7FF, 0xFFFF};
    for (int k = 0; k < 3; k++) {
        if (lo <= bounds[k] && hi > bounds[k])
            return add_seqs(out, lo, bounds[k]) && add_seqs(out, bounds[k] + 1, hi);
    }
    if (hi < 0x80) return 1; /* ASCII goes into one set, not here */
    unsigned char a[4], b[4];
    int n = utf8_encode(lo, a);
    for (int i = 1; i < n; i++) {
        uint32_t m = (1u << (6 * i)) - 1;
        if ((lo & ~m) != (hi & ~m)) {
            if ((lo & m) != 0) return add_seqs(out, lo, lo | m) && add_seqs(out, (lo | m) + 1, hi);
            if ((hi & m) != m) return add_seqs(out, lo, (hi & ~m) - 1) && add_seqs(out, hi & ~m, hi);
        }
    }
    utf8_encode(hi, b);
    if (!grow((void **)&out->v, &out->cap, out->n + 1, sizeof *out->v)) return 0;
    out->v[out->n].len = (uint8_t)n;
    for (int i = 0; i < n; i++) {
        out->v[out->n].lo[i] = a[i];
        out->v[out->n].hi[i] = b[i];
    }
    out->n++;
    return 1;
}

static int crange_cmp(const void *a, const void *b)
{
    const crange *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Emit the class (sorted, merged, optionally negated ranges) into e: one
 * GRAM_SET when it is ASCII only, else a reference to a helper rule. */
static slm_status emit_class(parser *p, uint32_t parent, evec *e, crange *r, size_t n, int negate)
{
    slm_status st = SLM_OK;
    seqs sq = {0};
    evec alt = {0};
    if (n) qsort(r, n, sizeof *r, crange_cmp);
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        if (m > 0 && r[k].lo <= r[m - 1].hi + 1) {
            if (r[k].hi > r[m - 1].hi) r[m - 1].hi = r[k].hi;
        } else {
            r[m++] = r[k];
        }
    }
    /* The final ranges, without surrogates: complement if negated. */
    crange fin[2 * 64 + 4];
    crange *f = fin;
    size_t nf = 0, capf = sizeof fin / sizeof fin[0];
    crange *heap = NULL;
    if (2 * m + 4 > capf) {
        heap = slm_alloc((2 * m + 4) * sizeof *heap);
        if (!heap) return nomem(p);
        f = heap;
    }
    if (negate) {
        uint32_t next = 0;
        for (size_t k = 0; k < m; k++) {
            if (r[k].lo > next) f[nf++] = (crange){next, r[k].lo - 1};
            next = r[k].hi + 1;
        }
        if (next <= 0x10FFFF) f[nf++] = (crange){next, 0x10FFFF};
    } else {
        if (m) memcpy(f, r, m * sizeof *r);
        nf = m;
    }
    uint64_t ascii[4] = {0, 0, 0, 0};
    int has_ascii = 0;
    for (size_t k = 0; k < nf; k++) {
        uint32_t lo = f[k].lo, hi = f[k].hi;
        for (uint32_t c = lo; c <= hi && c < 0x80; c++) {
            ascii[c >> 6] |= 1ull << (c & 63);
            has_ascii = 1;
        }
        if (hi < 0x80) continue;
        if (lo < 0x80) lo = 0x80;
        /* surrogates are not characters */
        int ok = 1;
        if (lo < 0xD800 && hi > 0xDFFF) {
            ok = add_seqs(&sq, lo, 0xD7FF) && add_seqs(&sq, 0xE000, hi);
        } else if (lo >= 0xD800 && hi <= 0xDFFF) {
            ok = 1;
        } else if (lo >= 0xD800 && lo <= 0xDFFF) {
            ok = add_seqs(&sq, 0xE000, hi);
        } else if (hi >= 0xD800 && hi <= 0xDFFF) {
            ok = add_seqs(&sq, lo, 0xD7FF);
        } else {
            ok = add_seqs(&sq, lo, hi);
        }
        if (!ok) {
            st = nomem(p);
            goto done;
        }
    }
    if (sq.n == 0) {
        /* ASCII only (possibly empty: a class that matches nothing) */
        st = push_set(p, e, ascii);
        goto done;
    }
    /* Merge sequences whose tails are equal: their lead bytes share a set. */
    uint32_t rule;
    if ((st = helper_rule(p, parent, &rule)) != SLM_OK) goto done;
    if (has_ascii) {
        if ((st = push_set(p, &alt, ascii)) != SLM_OK) goto done;
        if ((st = push_alt(p, rule, &alt)) != SLM_OK) goto done;
    }
    for (size_t k = 0; k < sq.n; k++) {
        if (sq.v[k].len == 0) continue; /* merged into an earlier one */
        uint64_t lead[4] = {0, 0, 0, 0};
        for (size_t j = k; j < sq.n; j++) {
            if (sq.v[j].len != sq.v[k].len) continue;
            if (j != k && (memcmp(sq.v[j].lo + 1, sq.v[k].lo + 1, sq.v[k].len - 1u) != 0 ||
                           memcmp(sq.v[j].hi + 1, sq.v[k].hi + 1, sq.v[k].len - 1u) != 0))
                continue;
            for (unsigned b = sq.v[j].lo[0]; b <= sq.v[j].hi[0]; b++) lead[b >> 6] |= 1ull << (b & 63);
            if (j != k) sq.v[j].len = 0;
        }
        if ((st = push_set(p, &alt, lead)) != SLM_OK) goto done;
        for (int i = 1; i < sq.v[k].len; i++) {
            uint64_t s[4] = {0, 0, 0, 0};
            for (unsigned b = sq.v[k].lo[i]; b <= sq.v[k].hi[i]; b++) s[b >> 6] |= 1ull << (b & 63);
            if ((st = push_set(p, &alt, s)) != SLM_OK) goto done;
        }
        if ((st = push_alt(p, rule, &alt)) != SLM_OK) goto done;
    }
    st = push_elem(p, e, GRAM_REF, rule);
done:
    slm_free(alt.v);
    slm_free(sq.v);
    slm_free(heap);
    return st;
}

/* [ ... ] at p->i */
static slm_status parse_class(parser *p, uint32_t parent, evec *e)
{
    size_t open = p->i;
    crange *r = NULL;
    size_t n = 0, cap = 0;
    slm_status st = SLM_OK;
    p->i++;
    int negate = 0;
    if (peek(p) == '^') {
        negate = 1;
        p->i++;
    }
    for (;;) {
        int c = peek(p);
        if (c < 0) {
            st = perr(p, open, "unterminated character class");
            goto done;
        }
        if (c == ']') break;
        uint32_t lo = 0, hi;
        if ((st = parse_char(p, &lo)) != SLM_OK) goto done;
        hi = lo;
        if (peek(p) == '-' && peek_at(p, p->i + 1) >= 0 && peek_at(p, p->i + 1) != ']') {
            size_t dash = p->i;
            p->i++;
            if ((st = parse_char(p, &hi)) != SLM_OK) goto done;
            if (hi < lo) {
                st = perr(p, dash, "character range is backwards (U+%X > U+%X)", (unsigned)lo,
                          (unsigned)hi);
                goto done;
            }
        }
        if (!grow((void **)&r, &cap, n + 1, sizeof *r)) {
            st = nomem(p);
            goto done;
        }
        r[n++] = (crange){lo, hi};
    }
    p->i++; /* ] */
    st = emit_class(p, parent, e, r, n, negate);
done:
    slm_free(r);
    return st;
}

static slm_status parse_literal(parser *p, evec *e)
{
    size_t open = p->i;
    p->i++;
    for (;;) {
        int c = peek(p);
        if (c < 0) return perr(p, open, "unterminated string literal");
        if (c == '"') break;
        uint32_t cp;
        slm_status st = parse_char(p, &cp);
        if (st != SLM_OK) return st;
        unsigned char b[4];
        int nb = utf8_encode(cp, b);
        for (int k = 0; k < nb; k++)
            if ((st = push_byte(p, e, b[k])) != SLM_OK) return st;
    }
    p->i++;
    return SLM_OK;
}

static slm_status parse_int(parser *p, unsigned long *out)
{
    size_t off = p->i;
    unsigned long v = 0;
    if (!(peek(p) >= '0' && peek(p) <= '9')) return perr(p, off, "expected a number in { }");
    while (peek(p) >= '0' && peek(p) <= '9') {
        v = v * 10 + (unsigned long)(peek(p) - '0');
        if (v > SLM_GRAM_MAX_REPEAT)
            return perr(p, off, "repetition count too large (limit %u)", SLM_GRAM_MAX_REPEAT);
        p->i++;
    }
    *out = v;
    return SLM_OK;
}

static slm_status copy_elems(parser *p, evec *dst, const evec *src)
{
    for (size_t k = 0; k < src->n; k++) {
        slm_status st = push_elem(p, dst, src->v[k].kind, src->v[k].arg);
        if (st != SLM_OK) return st;
    }
    return SLM_OK;
}

/* R ::= item R | "" (the loop for x*) */
static slm_status star_rule(parser *p, uint32_t parent, const evec *item, uint32_t *out)
{
    slm_status st;
    evec alt = {0};
    if ((st = helper_rule(p, parent, out)) != SLM_OK) return st;
    if ((st = copy_elems(p, &alt, item)) != SLM_OK) goto fail;
    if ((st = push_elem(p, &alt, GRAM_REF, *out)) != SLM_OK) goto fail;
    if ((st = push_alt(p, *out, &alt)) != SLM_OK) goto fail;
    return push_alt(p, *out, &alt); /* the empty alternative */
fail:
    slm_free(alt.v);
    return st;
}

/* Apply a repetition {min,max} (max = ULONG_MAX: unbounded) to the last
 * item of seq, which starts at element `start`. */
static slm_status repeat(parser *p, uint32_t parent, evec *seq, size_t start, unsigned long min,
                         unsigned long max)
{
    slm_status st = SLM_OK;
    evec item = {0}, alt = {0};
    if (start == seq->n) return SLM_OK; /* repeating "" matches "" */
    /* the item as one element: wrap a multi-element item in a rule */
    if (seq->n - start > 1) {
        uint32_t w;
        if ((st = helper_rule(p, parent, &w)) != SLM_OK) return st;
        for (size_t k = start; k < seq->n; k++)
            if ((st = push_elem(p, &alt, seq->v[k].kind, seq->v[k].arg)) != SLM_OK) goto done;
        if ((st = push_alt(p, w, &alt)) != SLM_OK) goto done;
        if ((st = push_elem(p, &item, GRAM_REF, w)) != SLM_OK) goto done;
    } else {
        if ((st = push_elem(p, &item, seq->v[start].kind, seq->v[start].arg)) != SLM_OK) goto done;
    }
    p->n_elems -= seq->n - start;
    seq->n = start;
    for (unsigned long k = 0; k < min; k++)
        if ((st = copy_elems(p, seq, &item)) != SLM_OK) goto done;
    if (max == (unsigned long)-1) {
        uint32_t r;
        if ((st = star_rule(p, parent, &item, &r)) != SLM_OK) goto done;
        st = push_elem(p, seq, GRAM_REF, r);
    } else if (max > min) {
        /* nested optionals: O1 ::= item O2 | "", ..., On ::= item | "" */
        uint32_t next = UINT32_MAX;
        for (unsigned long k = max - min; k > 0; k--) {
            uint32_t r;
            if ((st = helper_rule(p, parent, &r)) != SLM_OK) goto done;
            if ((st = copy_elems(p, &alt, &item)) != SLM_OK) goto done;
            if (next != UINT32_MAX && (st = push_elem(p, &alt, GRAM_REF, next)) != SLM_OK) goto done;
            if ((st = push_alt(p, r, &alt)) != SLM_OK) goto done;
            if ((st = push_alt(p, r, &alt)) != SLM_OK) goto done;
            next = r;
        }
        st = push_elem(p, seq, GRAM_REF, next);
    }
done:
    slm_free(item.v);
    slm_free(alt.v);
    return st;
}

static slm_status parse_alts(parser *p, uint32_t rule, int nested);

static slm_status parse_seq(parser *p, uint32_t rule, evec *seq, int nested)
{
    slm_status st = SLM_OK;
    size_t last = SIZE_MAX; /* start of the last item in seq */
    for (;;) {
        int c = peek(p);
        size_t start = seq->n;
        if (c == '"') {
            if ((st = parse_literal(p, seq)) != SLM_OK) return st;
            last = start;
        } else if (c == '[') {
            if ((st = parse_class(p, rule, seq)) != SLM_OK) return st;
            last = start;
        } else if (c == '.') {
            p->i++;
            if (p->any_rule == UINT32_MAX) {
                crange none = {0, 0};
                evec tmp = {0};
                /* [^] would need an empty negated class; build U+0000..U+10FFFF */
                none.hi = 0x10FFFF;
                st = emit_class(p, rule, &tmp, &none, 1, 0);
                if (st == SLM_OK && tmp.n == 1 && tmp.v[0].kind == GRAM_REF) p->any_rule = tmp.v[0].arg;
                if (tmp.n) p->n_elems -= tmp.n;
                slm_free(tmp.v);
                if (st != SLM_OK) return st;
            }
            if ((st = push_elem(p, seq, GRAM_REF, p->any_rule)) != SLM_OK) return st;
            last = start;
        } else if (is_name_char(c)) {
            size_t off = p->i;
            while (is_name_char(peek(p))) p->i++;
            uint32_t r;
            if ((st = find_rule(p, p->s + off, p->i - off, off, &r)) != SLM_OK) return st;
            if (!p->rules[r].referenced) {
                p->rules[r].referenced = 1;
                p->rules[r].ref_off = off;
            }
            if ((st = push_elem(p, seq, GRAM_REF, r)) != SLM_OK) return st;
            last = start;
        } else if (c == '(') {
            size_t open = p->i;
            if (p->depth >= SLM_GRAM_MAX_DEPTH)
                return perr(p, open, "groups nested deeper than %d", SLM_GRAM_MAX_DEPTH);
            p->i++;
            skip_space(p, 1);
            uint32_t g;
            if ((st = helper_rule(p, rule, &g)) != SLM_OK) return st;
            p->depth++;
            st = parse_alts(p, g, 1);
            p->depth--;
            if (st != SLM_OK) return st;
            if (peek(p) != ')') return perr(p, open, "expected ')' to close this '('");
            p->i++;
            if ((st = push_elem(p, seq, GRAM_REF, g)) != SLM_OK) return st;
            last = start;
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            size_t off = p->i;
            if (last == SIZE_MAX) return perr(p, off, "'%c' with nothing before it to repeat", c);
            p->i++;
            unsigned long min = 0, max = (unsigned long)-1;
            if (c == '+') min = 1;
            if (c == '?') max = 1;
            if (c == '{') {
                skip_space(p, nested);
                if (peek(p) != ',') {
                    if ((st = parse_int(p, &min)) != SLM_OK) return st;
                }
                skip_space(p, nested);
                if (peek(p) == '}') {
                    max = min;
                } else if (peek(p) == ',') {
                    p->i++;
                    skip_space(p, nested);
                    if (peek(p) != '}') {
                        if ((st = parse_int(p, &max)) != SLM_OK) return st;
                        skip_space(p, nested);
                    }
                } else if (peek(p) < 0) {
                    return perr(p, off, "expected '}' to close this '{'");
                } else {
                    return perr(p, p->i, "expected ',' or '}' in repetition");
                }
                if (peek(p) != '}') return perr(p, off, "expected '}' to close this '{'");
                p->i++;
                if (max < min) return perr(p, off, "repetition {%lu,%lu}: max below min", min, max);
            }
            if ((st = repeat(p, rule, seq, last, min, max)) != SLM_OK) return st;
            last = SIZE_MAX; /* x** is an error, as in llama.cpp */
        } else {
            return SLM_OK;
        }
        skip_space(p, nested);
        if (!nested && peek(p) == '\n') {
            /* a top-level rule continues on the next line unless that line
             * starts a new rule or the grammar ends */
            size_t j = skip_from(p, p->i, 1);
            if (j >= p->n || rule_starts_at(p, j)) return SLM_OK;
            int d = peek_at(p, j);
            if (d == '|' || d == '"' || d == '[' || d == '.' || d == '(' || is_name_char(d)) p->i = j;
        }
    }
}

static slm_status parse_alts(parser *p, uint32_t rule, int nested)
{
    slm_status st;
    for (;;) {
        evec seq = {0};
        st = parse_seq(p, rule, &seq, nested);
        if (st == SLM_OK) st = push_alt(p, rule, &seq);
        slm_free(seq.v);
        if (st != SLM_OK) return st;
        if (peek(p) != '|') return SLM_OK;
        p->i++;
        skip_space(p, 1);
    }
}

/* ---- checks on the whole grammar ----------------------------------------- */

/* Left recursion: r -> s when s can be reached at the start of one of r's
 * alternatives (after nullable rules only). A cycle would expand forever.
 * Linear in the grammar's size (it may hold millions of elements). */
static slm_status check_left_recursion(parser *p, const slm_gram *g)
{
    slm_status st = SLM_OK;
    size_t nr = g->n_rules, na = g->n_alts, nel = g->n_elems;
    uint8_t *nullable = slm_calloc(nr + 1, 1);
    uint8_t *color = slm_calloc(nr + 1, 1);
    uint32_t *alt_of = slm_alloc((nel + 1) * sizeof *alt_of);   /* element -> alternative */
    uint32_t *rule_of = slm_alloc((na + 1) * sizeof *rule_of);  /* alternative -> rule */
    uint32_t *left = slm_calloc(na + 1, sizeof *left);          /* elements not yet nullable */
    uint32_t *occ_at = slm_calloc(nr + 2, sizeof *occ_at);      /* CSR: references to each rule */
    uint32_t *occ = slm_alloc((nel + 1) * sizeof *occ);
    uint32_t *work = slm_alloc((nr + 1) * sizeof *work);
    uint32_t *edge_at = slm_calloc(nr + 2, sizeof *edge_at);    /* CSR: left edges of each rule */
    uint32_t *edge = slm_alloc((nel + 1) * sizeof *edge);
    uint32_t *stk = slm_alloc((nr + 1) * 2 * sizeof *stk);
    if (!nullable || !color || !alt_of || !rule_of || !left || !occ_at || !occ || !work || !edge_at ||
        !edge || !stk) {
        st = nomem(p);
        goto done;
    }
    for (uint32_t r = 0; r < nr; r++)
        for (uint32_t a = g->rule_alt[r]; a < g->rule_alt[r + 1]; a++) rule_of[a] = r;
    for (uint32_t a = 0; a < na; a++)
        for (uint32_t k = g->alt_start[a]; g->elems[k].kind != GRAM_END; k++) {
            alt_of[k] = a;
            left[a]++;
            if (g->elems[k].kind == GRAM_REF) occ_at[g->elems[k].arg + 1]++;
        }
    for (size_t r = 0; r < nr; r++) occ_at[r + 1] += occ_at[r];
    {
        uint32_t *fill = edge_at; /* borrow as a cursor, reset below */
        memcpy(fill, occ_at, (nr + 1) * sizeof *fill);
        for (uint32_t k = 0; k < nel; k++)
            if (g->elems[k].kind == GRAM_REF) occ[fill[g->elems[k].arg]++] = k;
        memset(edge_at, 0, (nr + 2) * sizeof *edge_at);
    }
    /* nullable: a worklist over alternatives whose elements all became nullable */
    size_t nw = 0;
    for (uint32_t a = 0; a < na; a++)
        if (left[a] == 0 && !nullable[rule_of[a]]) {
            nullable[rule_of[a]] = 1;
            work[nw++] = rule_of[a];
        }
    while (nw) {
        uint32_t s = work[--nw];
        for (uint32_t o = occ_at[s]; o < occ_at[s + 1]; o++) {
            uint32_t a = alt_of[occ[o]];
            if (--left[a] == 0 && !nullable[rule_of[a]]) {
                nullable[rule_of[a]] = 1;
                work[nw++] = rule_of[a];
            }
        }
    }
    /* left edges */
    size_t ne = 0;
    for (uint32_t r = 0; r < nr; r++) {
        edge_at[r] = (uint32_t)ne;
        for (uint32_t a = g->rule_alt[r]; a < g->rule_alt[r + 1]; a++)
            for (uint32_t k = g->alt_start[a]; g->elems[k].kind == GRAM_REF; k++) {
                edge[ne++] = g->elems[k].arg;
                if (!nullable[g->elems[k].arg]) break;
            }
    }
    edge_at[nr] = (uint32_t)ne;
    /* iterative DFS; stk holds (rule, next edge) pairs; grey = on the path */
    for (uint32_t r0 = 0; r0 < nr; r0++) {
        if (color[r0]) continue;
        size_t sp = 0;
        stk[sp++] = r0;
        stk[sp++] = edge_at[r0];
        color[r0] = 1;
        while (sp) {
            uint32_t r = stk[sp - 2], e = stk[sp - 1];
            if (e == edge_at[r + 1]) {
                color[r] = 2;
                sp -= 2;
                continue;
            }
            stk[sp - 1] = e + 1;
            uint32_t s = edge[e];
            if (color[s] == 1) {
                const brule *b = &p->rules[s];
                st = perr(p, b->def_off,
                          "left recursion: rule '%s' can reach itself without consuming input "
                          "(rewrite it right-recursively, or check for a repetition of something "
                          "that can be empty)",
                          b->name);
                goto done;
            }
            if (color[s] == 0) {
                color[s] = 1;
                stk[sp++] = s;
                stk[sp++] = edge_at[s];
            }
        }
    }
done:
    slm_free(nullable);
    slm_free(color);
    slm_free(alt_of);
    slm_free(rule_of);
    slm_free(left);
    slm_free(occ_at);
    slm_free(occ);
    slm_free(work);
    slm_free(edge_at);
    slm_free(edge);
    slm_free(stk);
    return st;
}

/* ---- entry point ---------------------------------------------------------- */

void slm_gram_free(slm_gram *g)
{
    if (!g) return;
    slm_free(g->elems);
    slm_free(g->alt_start);
    slm_free(g->rule_alt);
    slm_free(g->sets);
    slm_free(g);
}

slm_status slm_gram_parse(const char *text, size_t len, const char *root, slm_gram **out)
{
    slm_status st = SLM_OK;
    parser P = {0}, *p = &P;
    slm_gram *g = NULL;
    if (out) *out = NULL;
    SLM_CHECK(text && out, SLM_ERR_ARG, "grammar: NULL argument");
    if (!root) root = "root";
    p->s = text;
    p->n = len;
    p->any_rule = UINT32_MAX;

    skip_space(p, 1);
    while (p->i < p->n && p->st == SLM_OK) {
        size_t off = p->i;
        while (is_name_char(peek(p))) p->i++;
        if (p->i == off) {
            int c = peek(p);
            if (c >= 0x21 && c < 0x7F)
                perr(p, off, "expected a rule name, found '%c'", c);
            else
                perr(p, off, "expected a rule name, found byte 0x%02X", (unsigned)c);
            break;
        }
        size_t name_end = p->i;
        skip_space(p, 0);
        if (!(p->i + 3 <= p->n && memcmp(p->s + p->i, "::=", 3) == 0)) {
            perr(p, p->i, "expected '::=' after rule name '%.*s'", (int)(name_end - off), p->s + off);
            break;
        }
        uint32_t r;
        if (find_rule(p, p->s + off, name_end - off, off, &r) != SLM_OK) break;
        if (p->rules[r].defined) {
            unsigned l, c;
            line_col(p, p->rules[r].def_off, &l, &c);
            perr(p, off, "rule '%s' defined twice (first at %u:%u)", p->rules[r].name, l, c);
            break;
        }
        p->rules[r].defined = 1;
        p->rules[r].def_off = off;
        p->i += 3;
        skip_space(p, 1);
        if (parse_alts(p, r, 0) != SLM_OK) break;
        skip_space(p, 0);
        int c = peek(p);
        if (c >= 0 && c != '\n') {
            if (c == ')')
                perr(p, p->i, "unmatched ')'");
            else if (c >= 0x21 && c < 0x7F)
                perr(p, p->i, "unexpected '%c'", c);
            else
                perr(p, p->i, "unexpected byte 0x%02X", (unsigned)c);
            break;
        }
        skip_space(p, 1);
    }
    if (p->st != SLM_OK) {
        st = p->st;
        goto fail;
    }
    uint32_t root_id = UINT32_MAX;
    for (size_t r = 0; r < p->n_rules; r++) {
        if (!p->rules[r].defined) {
            perr(p, p->rules[r].ref_off, "undefined rule '%s'", p->rules[r].name);
            st = p->st;
            goto fail;
        }
        if (strcmp(p->rules[r].name, root) == 0) root_id = (uint32_t)r;
    }
    SLM_CHECK(root_id != UINT32_MAX, SLM_ERR_FORMAT, "grammar: no rule named '%s' (the start rule)",
              root);

    /* flatten */
    g = slm_calloc(1, sizeof *g);
    SLM_CHECK(g, SLM_ERR_NOMEM, "grammar: out of memory");
    size_t n_alts = 0, n_elems = 0;
    for (size_t r = 0; r < p->n_rules; r++) {
        n_alts += p->rules[r].n_alts;
        for (size_t a = 0; a < p->rules[r].n_alts; a++) n_elems += p->rules[r].alts[a].n + 1;
    }
    SLM_CHECK(n_elems < UINT32_MAX / 2, SLM_ERR_FORMAT, "grammar: too large (%zu elements)", n_elems);
    g->n_rules = (uint32_t)p->n_rules;
    g->n_alts = (uint32_t)n_alts;
    g->n_elems = (uint32_t)n_elems;
    g->n_sets = (uint32_t)p->n_sets;
    g->root = root_id;
    g->elems = slm_alloc((n_elems + 1) * sizeof *g->elems);
    g->alt_start = slm_alloc((n_alts + 1) * sizeof *g->alt_start);
    g->rule_alt = slm_alloc((p->n_rules + 1) * sizeof *g->rule_alt);
    g->sets = slm_alloc((p->n_sets + 1) * sizeof *g->sets);
    SLM_CHECK(g->elems && g->alt_start && g->rule_alt && g->sets, SLM_ERR_NOMEM,
              "grammar: out of memory (%zu elements)", n_elems);
    if (p->n_sets) memcpy(g->sets, p->sets, p->n_sets * sizeof *g->sets);
    uint32_t ne = 0, na = 0;
    for (size_t r = 0; r < p->n_rules; r++) {
        g->rule_alt[r] = na;
        for (size_t a = 0; a < p->rules[r].n_alts; a++) {
            const evec *e = &p->rules[r].alts[a];
            g->alt_start[na++] = ne;
            if (e->n) memcpy(g->elems + ne, e->v, e->n * sizeof *e->v);
            ne += (uint32_t)e->n;
            g->elems[ne].kind = GRAM_END;
            g->elems[ne].arg = 0;
            ne++;
        }
    }
    g->rule_alt[p->n_rules] = na;
    g->n_elems = ne;
    if ((st = check_left_recursion(p, g)) != SLM_OK) goto fail;

    for (size_t r = 0; r < p->n_rules; r++) {
        for (size_t a = 0; a < p->rules[r].n_alts; a++) slm_free(p->rules[r].alts[a].v);
        slm_free(p->rules[r].alts);
        slm_free(p->rules[r].name);
    }
    slm_free(p->rules);
    slm_free(p->named);
    slm_free(p->sets);
    *out = g;
    return SLM_OK;

fail:
    for (size_t r = 0; r < p->n_rules; r++) {
        for (size_t a = 0; a < p->rules[r].n_alts; a++) slm_free(p->rules[r].alts[a].v);
        slm_free(p->rules[r].alts);
        slm_free(p->rules[r].name);
    }
    slm_free(p->rules);
    slm_free(p->named);
    slm_free(p->sets);
    slm_gram_free(g);
    return st;
}
