/* seqset.c — labelled DNA sequence sets: CSV (GUE) and UCI readers, subsets,
 * stratified k-fold.
 *
 * Files are read whole through zlib's gzread, which passes plain files
 * through, so `.csv` and `.csv.gz` take one path. Every parser error names
 * the file and the 1-based line. Sequences are normalised on entry (see
 * slm_seqset_base), so downstream code only ever sees ACGTN.
 */
#include "dna/seqset.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/alloc.h"
#include "base/status.h"
#include "sample/rng.h"

char slm_seqset_base(char c)
{
    switch (c) {
    case 'A': case 'a': return 'A';
    case 'C': case 'c': return 'C';
    case 'G': case 'g': return 'G';
    case 'T': case 't': return 'T';
    case 'U': case 'u': return 'T';
    case 'N': case 'n': case 'R': case 'r': case 'Y': case 'y': case 'S': case 's':
    case 'W': case 'w': case 'K': case 'k': case 'M': case 'm': case 'B': case 'b':
    case 'D': case 'd': case 'H': case 'h': case 'V': case 'v': case '.': case '-':
        return 'N';
    default: return 0;
    }
}

void slm_seqset_free(slm_seqset *s)
{
    if (!s) return;
    if (s->seq)
        for (size_t i = 0; i < s->n; i++) slm_free(s->seq[i]);
    slm_free(s->seq);
    slm_free(s->label);
    memset(s, 0, sizeof *s);
}

size_t slm_seqset_max_len(const slm_seqset *s)
{
    size_t m = 0;
    for (size_t i = 0; i < s->n; i++) {
        size_t l = strlen(s->seq[i]);
        if (l > m) m = l;
    }
    return m;
}

/* Room for one more row: capacity doubles. */
static slm_status grow(slm_seqset *s)
{
    if (s->n < s->cap) return SLM_OK;
    size_t cap = s->cap ? s->cap * 2 : 16;
    char **seq = slm_realloc(s->seq, cap * sizeof *seq);
    if (!seq) return slm_fail(SLM_ERR_NOMEM, "seqset: cannot grow to %zu rows", cap);
    s->seq = seq;
    int32_t *lab = slm_realloc(s->label, cap * sizeof *lab);
    if (!lab) return slm_fail(SLM_ERR_NOMEM, "seqset: cannot grow to %zu rows", cap);
    s->label = lab;
    s->cap = cap;
    return SLM_OK;
}

/* Append seq[0..len) normalised. Returns SLM_ERR_ARG with the offending
 * character's offset in *bad when one is not a nucleotide code. */
static slm_status push_n(slm_seqset *s, const char *seq, size_t len, int32_t label, size_t *bad)
{
    slm_status st = grow(s);
    if (st != SLM_OK) return st;
    char *copy = slm_alloc(len + 1);
    if (!copy) return slm_fail(SLM_ERR_NOMEM, "seqset: cannot allocate a %zu-base sequence", len);
    for (size_t i = 0; i < len; i++) {
        char b = slm_seqset_base(seq[i]);
        if (!b) {
            slm_free(copy);
            if (bad) *bad = i;
            return SLM_ERR_ARG;
        }
        copy[i] = b;
    }
    copy[len] = 0;
    s->seq[s->n] = copy;
    s->label[s->n] = label;
    s->n++;
    if (label + 1 > s->n_class) s->n_class = label + 1;
    return SLM_OK;
}

slm_status slm_seqset_push(slm_seqset *s, const char *seq, int32_t label)
{
    if (!s || !seq) return slm_fail(SLM_ERR_ARG, "seqset_push: NULL argument");
    if (label < 0) return slm_fail(SLM_ERR_ARG, "seqset_push: label %d is negative", (int)label);
    size_t bad = 0;
    slm_status st = push_n(s, seq, strlen(seq), label, &bad);
    if (st == SLM_ERR_ARG)
        return slm_fail(SLM_ERR_ARG, "seqset_push: character '%c' (0x%02x) at offset %zu is not a nucleotide code",
                        isprint((unsigned char)seq[bad]) ? seq[bad] : '?', (unsigned char)seq[bad], bad);
    return st;
}

/* The whole file, decompressed if gzip, NUL-terminated. */
static slm_status slurp(const char *path, char **out, size_t *out_len)
{
    slm_status st = SLM_OK;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    gzFile f = gzopen(path, "rb");
    SLM_CHECK(f, SLM_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    for (;;) {
        if (cap - n < 65537) {
            size_t nc = cap ? cap * 2 : 1 << 20;
            char *nb = slm_realloc(buf, nc);
            SLM_CHECK(nb, SLM_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, nc);
            buf = nb;
            cap = nc;
        }
        int got = gzread(f, buf + n, 65536);
        SLM_CHECK(got >= 0, SLM_ERR_IO, "%s: read error after %zu bytes (corrupt gzip?)", path, n);
        if (got == 0) break;
        n += (size_t)got;
    }
    gzclose(f);
    f = NULL;
    buf[n] = 0;
    *out = buf;
    *out_len = n;
    return SLM_OK;
fail:
    if (f) gzclose(f);
    slm_free(buf);
    return st;
}

/* Trim spaces and tabs (and a CR) from both ends of [*b, *e). */
static void trim(const char **b, const char **e)
{
    while (*b < *e && (**b == ' ' || **b == '\t' || **b == '\r')) (*b)++;
    while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r')) (*e)--;
}

static int field_is(const char *b, const char *e, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(e - b) == n && memcmp(b, word, n) == 0;
}

/* Parse a non-negative decimal label in [b, e). */
static int parse_label(const char *b, const char *e, int32_t *out)
{
    if (b == e) return 0;
    long v = 0;
    for (const char *p = b; p < e; p++) {
        if (*p < '0' || *p > '9') return 0;
        v = v * 10 + (*p - '0');
        if (v > INT32_MAX / 2) return 0;
    }
    *out = (int32_t)v;
    return 1;
}

enum format { FMT_CSV, FMT_SPLICE, FMT_PROMOTERS };

static slm_status parse(const char *path, enum format fmt, slm_seqset *out)
{
    slm_status st = SLM_OK;
    char *buf = NULL;
    size_t len = 0;
    slm_seqset s = {0};
    memset(out, 0, sizeof *out);
    SLM_TRY(slurp(path, &buf, &len));
    size_t line_no = 0;
    int header_seen = (fmt != FMT_CSV);
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *lb = p;
        p = nl ? nl + 1 : end;
        line_no++;
        const char *tb = lb, *te = le;
        trim(&tb, &te);
        if (tb == te) continue; /* blank */
        /* Split into comma-separated fields (at most 3 used). */
        const char *fb[3], *fe[3];
        int nf = 0;
        const char *q = lb;
        while (nf < 3) {
            const char *c = memchr(q, ',', (size_t)(le - q));
            fb[nf] = q;
            fe[nf] = c ? c : le;
            trim(&fb[nf], &fe[nf]);
            nf++;
            if (!c) break;
            q = c + 1;
            if (nf == 3 && q <= le) {
                /* a fourth field: extend the last to the line end so the check below sees it */
                fe[2] = le;
                trim(&fb[2], &fe[2]);
            }
        }
        const char *sb, *se;
        int32_t label = 0;
        if (fmt == FMT_CSV) {
            SLM_CHECK(nf == 2, SLM_ERR_FORMAT, "%s:%zu: expected 2 comma-separated fields (sequence,label), found %d",
                      path, line_no, nf);
            if (!header_seen) {
                SLM_CHECK((field_is(fb[0], fe[0], "sequence") || field_is(fb[0], fe[0], "seq")) &&
                              field_is(fb[1], fe[1], "label"),
                          SLM_ERR_FORMAT, "%s:%zu: header is '%.*s', expected 'sequence,label'", path, line_no,
                          (int)(te - tb > 60 ? 60 : te - tb), tb);
                header_seen = 1;
                continue;
            }
            sb = fb[0];
            se = fe[0];
            SLM_CHECK(parse_label(fb[1], fe[1], &label), SLM_ERR_FORMAT,
                      "%s:%zu: label '%.*s' is not a non-negative integer", path, line_no,
                      (int)(fe[1] - fb[1] > 20 ? 20 : fe[1] - fb[1]), fb[1]);
        } else {
            SLM_CHECK(nf == 3, SLM_ERR_FORMAT, "%s:%zu: expected 3 comma-separated fields (class,name,sequence), found %d",
                      path, line_no, nf);
            sb = fb[2];
            se = fe[2];
            if (fmt == FMT_SPLICE) {
                if (field_is(fb[0], fe[0], "EI")) label = 0;
                else if (field_is(fb[0], fe[0], "IE")) label = 1;
                else if (field_is(fb[0], fe[0], "N")) label = 2;
                else
                    SLM_CHECK(0, SLM_ERR_FORMAT, "%s:%zu: class '%.*s', expected EI, IE or N", path, line_no,
                              (int)(fe[0] - fb[0] > 20 ? 20 : fe[0] - fb[0]), fb[0]);
            } else {
                if (field_is(fb[0], fe[0], "-")) label = 0;
                else if (field_is(fb[0], fe[0], "+")) label = 1;
                else
                    SLM_CHECK(0, SLM_ERR_FORMAT, "%s:%zu: class '%.*s', expected + or -", path, line_no,
                              (int)(fe[0] - fb[0] > 20 ? 20 : fe[0] - fb[0]), fb[0]);
            }
        }
        SLM_CHECK(se > sb, SLM_ERR_FORMAT, "%s:%zu: empty sequence", path, line_no);
        size_t bad = 0;
        st = push_n(&s, sb, (size_t)(se - sb), label, &bad);
        if (st == SLM_ERR_ARG) {
            unsigned char c = (unsigned char)sb[bad];
            SLM_CHECK(0, SLM_ERR_FORMAT, "%s:%zu: character '%c' (0x%02x) at column %zu of the sequence is not a nucleotide code",
                      path, line_no, isprint(c) ? c : '?', c, bad + 1);
        }
        if (st != SLM_OK) goto fail;
    }
    SLM_CHECK(header_seen, SLM_ERR_FORMAT, "%s: empty file, expected a 'sequence,label' header", path);
    SLM_CHECK(s.n > 0, SLM_ERR_FORMAT, "%s: no sequences", path);
    if (s.n_class < 2) s.n_class = 2;
    slm_free(buf);
    *out = s;
    return SLM_OK;
fail:
    slm_free(buf);
    slm_seqset_free(&s);
    return st;
}

slm_status slm_seqset_read_csv(const char *path, slm_seqset *out)
{
    if (!path || !out) return slm_fail(SLM_ERR_ARG, "seqset_read_csv: NULL argument");
    return parse(path, FMT_CSV, out);
}

slm_status slm_seqset_read_uci_splice(const char *path, slm_seqset *out)
{
    if (!path || !out) return slm_fail(SLM_ERR_ARG, "seqset_read_uci_splice: NULL argument");
    slm_status st = parse(path, FMT_SPLICE, out);
    if (st == SLM_OK) out->n_class = 3;
    return st;
}

slm_status slm_seqset_read_uci_promoters(const char *path, slm_seqset *out)
{
    if (!path || !out) return slm_fail(SLM_ERR_ARG, "seqset_read_uci_promoters: NULL argument");
    return parse(path, FMT_PROMOTERS, out);
}

slm_status slm_seqset_subset(const slm_seqset *s, const size_t *idx, size_t n_idx, slm_seqset *out)
{
    slm_status st = SLM_OK;
    slm_seqset r = {0};
    memset(out, 0, sizeof *out);
    if (n_idx) {
        r.seq = slm_calloc(n_idx, sizeof *r.seq);
        r.label = slm_calloc(n_idx, sizeof *r.label);
        SLM_CHECK(r.seq && r.label, SLM_ERR_NOMEM, "seqset_subset: cannot allocate %zu rows", n_idx);
    }
    for (size_t i = 0; i < n_idx; i++) {
        SLM_CHECK(idx[i] < s->n, SLM_ERR_ARG, "seqset_subset: index %zu is %zu, set has %zu rows", i, idx[i], s->n);
        r.seq[i] = slm_strdup(s->seq[idx[i]]);
        SLM_CHECK(r.seq[i], SLM_ERR_NOMEM, "seqset_subset: cannot copy row %zu", idx[i]);
        r.label[i] = s->label[idx[i]];
        r.n = i + 1;
    }
    r.n = n_idx;
    r.cap = n_idx;
    r.n_class = s->n_class;
    *out = r;
    return SLM_OK;
fail:
    slm_seqset_free(&r);
    return st;
}

slm_status slm_seqset_kfold(const slm_seqset *s, int k, uint64_t seed, int32_t *fold)
{
    if (k < 2 || (size_t)k > s->n)
        return slm_fail(SLM_ERR_ARG, "seqset_kfold: k = %d, expected 2..%zu (the number of rows)", k, s->n);
    size_t *ord = slm_alloc(s->n * sizeof *ord);
    if (!ord) return slm_fail(SLM_ERR_NOMEM, "seqset_kfold: cannot allocate %zu indices", s->n);
    slm_rng rng;
    slm_rng_seed(&rng, seed);
    size_t next = 0; /* the deal continues across classes so fold sizes stay within one */
    for (int32_t c = 0; c < s->n_class; c++) {
        size_t m = 0;
        for (size_t i = 0; i < s->n; i++)
            if (s->label[i] == c) ord[m++] = i;
        for (size_t i = m; i > 1; i--) { /* Fisher-Yates */
            size_t j = (size_t)(slm_rng_next(&rng) % i);
            size_t t = ord[i - 1];
            ord[i - 1] = ord[j];
            ord[j] = t;
        }
        for (size_t i = 0; i < m; i++) fold[ord[i]] = (int32_t)(next++ % (size_t)k);
    }
    slm_free(ord);
    return SLM_OK;
}

slm_status slm_seqset_split_fold(const slm_seqset *s, const int32_t *fold, int32_t f, slm_seqset *train,
                                 slm_seqset *test)
{
    slm_status st = SLM_OK;
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    size_t *a = slm_alloc((s->n ? s->n : 1) * sizeof *a);
    size_t *b = slm_alloc((s->n ? s->n : 1) * sizeof *b);
    SLM_CHECK(a && b, SLM_ERR_NOMEM, "seqset_split_fold: cannot allocate %zu indices", s->n);
    size_t na = 0, nb = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (fold[i] == f) b[nb++] = i;
        else a[na++] = i;
    }
    SLM_TRY(slm_seqset_subset(s, a, na, train));
    SLM_TRY(slm_seqset_subset(s, b, nb, test));
    slm_free(a);
    slm_free(b);
    return SLM_OK;
fail:
    slm_free(a);
    slm_free(b);
    slm_seqset_free(train);
    slm_seqset_free(test);
    return st;
}
