/* fasta.c — FASTA/FASTQ records from plain, gzip/bgzip (htslib's BGZF, or
 * zlib when built without htslib) or xz (liblzma) files. The compression is
 * told by the first bytes (xz: FD 37 7A 58 5A 00; anything else goes to the
 * BGZF reader, which passes plain files through). Lines are parsed one at a
 * time from a 64 KiB decoded buffer, so memory is the sequence itself.
 */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "dna/fasta.h"

#ifdef SLM_HAVE_HTSLIB
#include <htslib/bgzf.h>
#include <htslib/hts_log.h>
#else
#include <zlib.h>
#endif
#ifdef SLM_HAVE_LZMA
#include <lzma.h>
#endif

/* ---- decoded byte source ---- */

enum { SRC_BUF = 1 << 16 };

typedef struct src {
    const char *path;
#ifdef SLM_HAVE_HTSLIB
    BGZF *bg;
#else
    gzFile gz;
#endif
#ifdef SLM_HAVE_LZMA
    FILE *xf;
    lzma_stream xs;
    int xs_init, xs_end;
    uint8_t xin[SRC_BUF];
#endif
    unsigned char buf[SRC_BUF];
    size_t pos, len;
    int eof;
} src;

static slm_status src_open(src *s, const char *path)
{
    slm_status st = SLM_OK;
    memset(s, 0, sizeof *s);
    s->path = path;
    unsigned char magic[6] = {0};
    FILE *f = fopen(path, "rb");
    SLM_CHECK(f, SLM_ERR_IO, "%s: cannot open", path);
    size_t got = fread(magic, 1, sizeof magic, f);
    const int xz = got == 6 && memcmp(magic, "\xFD" "7zXZ\0", 6) == 0;
    if (xz) {
#ifdef SLM_HAVE_LZMA
        rewind(f);
        s->xf = f;
        lzma_stream init = LZMA_STREAM_INIT;
        s->xs = init;
        SLM_CHECK(lzma_stream_decoder(&s->xs, UINT64_MAX, LZMA_CONCATENATED) == LZMA_OK,
                  SLM_ERR_NOMEM, "%s: cannot start the xz decoder", path);
        s->xs_init = 1;
        return SLM_OK;
#else
        fclose(f);
        SLM_CHECK(0, SLM_ERR_UNSUPPORTED, "%s: xz-compressed, but slm was built without liblzma",
                  path);
#endif
    }
    fclose(f);
#ifdef SLM_HAVE_HTSLIB
    hts_set_log_level(HTS_LOG_OFF); /* the library never prints */
    s->bg = bgzf_open(path, "r");
    SLM_CHECK(s->bg, SLM_ERR_IO, "%s: cannot open", path);
#else
    s->gz = gzopen(path, "rb");
    SLM_CHECK(s->gz, SLM_ERR_IO, "%s: cannot open", path);
#endif
    return SLM_OK;
fail:
    return st;
}

static void src_close(src *s)
{
#ifdef SLM_HAVE_HTSLIB
    if (s->bg) bgzf_close(s->bg);
#else
    if (s->gz) gzclose(s->gz);
#endif
#ifdef SLM_HAVE_LZMA
    if (s->xs_init) lzma_end(&s->xs);
    if (s->xf) fclose(s->xf);
#endif
    memset(s, 0, sizeof *s);
}

/* Refill buf; sets eof when nothing is left. */
static slm_status src_fill(src *s)
{
    slm_status st = SLM_OK;
    s->pos = s->len = 0;
#ifdef SLM_HAVE_LZMA
    if (s->xs_init) {
        if (s->xs_end) {
            s->eof = 1;
            return SLM_OK;
        }
        s->xs.next_out = s->buf;
        s->xs.avail_out = SRC_BUF;
        while (s->xs.avail_out == SRC_BUF) {
            lzma_action act = LZMA_RUN;
            if (s->xs.avail_in == 0) {
                size_t n = fread(s->xin, 1, SRC_BUF, s->xf);
                SLM_CHECK(!ferror(s->xf), SLM_ERR_IO, "%s: read error", s->path);
                s->xs.next_in = s->xin;
                s->xs.avail_in = n;
                if (n == 0) act = LZMA_FINISH;
            }
            lzma_ret r = lzma_code(&s->xs, act);
            if (r == LZMA_STREAM_END) {
                s->xs_end = 1;
                break;
            }
            SLM_CHECK(r == LZMA_OK, SLM_ERR_IO,
                      "%s: corrupt or truncated xz data after %llu decoded bytes (liblzma code %d)",
                      s->path, (unsigned long long)s->xs.total_out, (int)r);
        }
        s->len = SRC_BUF - s->xs.avail_out;
        if (s->len == 0) s->eof = 1;
        return SLM_OK;
    }
#endif
#ifdef SLM_HAVE_HTSLIB
    ssize_t n = bgzf_read(s->bg, s->buf, SRC_BUF);
    SLM_CHECK(n >= 0, SLM_ERR_IO, "%s: read error (corrupt gzip?)", s->path);
#else
    int n = gzread(s->gz, s->buf, SRC_BUF);
    SLM_CHECK(n >= 0, SLM_ERR_IO, "%s: read error (corrupt gzip?)", s->path);
#endif
    s->len = (size_t)n;
    if (n == 0) s->eof = 1;
    return SLM_OK;
fail:
    return st;
}

/* One line without its '\n' (a trailing '\r' is kept; callers skip it).
 * *got = 0 at end of file. */
static slm_status src_line(src *s, char **line, size_t *n, size_t *cap, int *got)
{
    slm_status st = SLM_OK;
    *n = 0;
    *got = 0;
    for (;;) {
        if (s->pos == s->len) {
            if (s->eof) break;
            SLM_TRY(src_fill(s));
            if (s->eof) break;
        }
        unsigned char *start = s->buf + s->pos;
        unsigned char *nl = memchr(start, '\n', s->len - s->pos);
        size_t take = nl ? (size_t)(nl - start) : s->len - s->pos;
        if (*n + take + 1 > *cap) {
            size_t nc = *cap ? *cap * 2 : 256;
            while (nc < *n + take + 1) nc *= 2;
            char *nb = slm_realloc(*line, nc);
            SLM_CHECK(nb, SLM_ERR_NOMEM, "%s: out of memory for a line", s->path);
            *line = nb;
            *cap = nc;
        }
        memcpy(*line + *n, start, take);
        *n += take;
        *got = 1;
        s->pos += take + (nl ? 1 : 0);
        if (nl) break;
    }
    if (*cap) (*line)[*n] = 0;
    return SLM_OK;
fail:
    return st;
}

/* ---- normalisation ---- */

/* 'A','C','G','T','N', 1 for skipped whitespace, 0 for a bad letter. */
static char norm_base(unsigned char c)
{
    switch (c) {
    case 'A': case 'a': return 'A';
    case 'C': case 'c': return 'C';
    case 'G': case 'g': return 'G';
    case 'T': case 't': return 'T';
    case 'U': case 'u': return 'T';
    case 'N': case 'n': case 'R': case 'r': case 'Y': case 'y': case 'S': case 's':
    case 'W': case 'w': case 'K': case 'k': case 'M': case 'm': case 'B': case 'b':
    case 'D': case 'd': case 'H': case 'h': case 'V': case 'v': case '-': case '.':
        return 'N';
    case ' ': case '\t': case '\r': return 1;
    default: return 0;
    }
}

static char comp(char b)
{
    return b == 'A' ? 'T' : b == 'T' ? 'A' : b == 'C' ? 'G' : b == 'G' ? 'C' : b;
}

void slm_dna_revcomp(char *s, size_t n)
{
    for (size_t i = 0; i < n / 2; i++) {
        char a = s[i];
        s[i] = comp(s[n - 1 - i]);
        s[n - 1 - i] = comp(a);
    }
    if (n % 2) s[n / 2] = comp(s[n / 2]);
}

/* ---- records ---- */

typedef struct recbuf {
    char *seq;
    size_t len, cap;
} recbuf;

static slm_status rec_append(recbuf *r, const char *line, size_t n, const char *path,
                             uint64_t lineno)
{
    slm_status st = SLM_OK;
    if (r->len + n + 1 > r->cap) {
        size_t nc = r->cap ? r->cap : 4096;
        while (nc < r->len + n + 1) nc *= 2;
        char *nb = slm_realloc(r->seq, nc);
        SLM_CHECK(nb, SLM_ERR_NOMEM, "%s: out of memory at %zu bases", path, r->len);
        r->seq = nb;
        r->cap = nc;
    }
    for (size_t i = 0; i < n; i++) {
        char b = norm_base((unsigned char)line[i]);
        SLM_CHECK(b != 0, SLM_ERR_FORMAT,
                  "%s: line %llu: character '%c' (0x%02x) is not a nucleotide code "
                  "(expected ACGTU, IUPAC ambiguity codes, N, '-' or '.')",
                  path, (unsigned long long)lineno,
                  line[i] >= 32 && line[i] < 127 ? line[i] : '?', (unsigned char)line[i]);
        if (b != 1) r->seq[r->len++] = b;
    }
    r->seq[r->len] = 0;
    return SLM_OK;
fail:
    return st;
}

static slm_status push_rec(slm_fasta *f, size_t *cap, const char *name, recbuf *r,
                           const char *path)
{
    slm_status st = SLM_OK;
    if (f->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        slm_fasta_rec *nr = slm_realloc(f->rec, nc * sizeof *nr);
        SLM_CHECK(nr, SLM_ERR_NOMEM, "%s: out of memory for records", path);
        f->rec = nr;
        *cap = nc;
    }
    size_t nl = strlen(name);
    char *nm = slm_alloc(nl + 1);
    SLM_CHECK(nm, SLM_ERR_NOMEM, "%s: out of memory", path);
    memcpy(nm, name, nl + 1);
    if (!r->seq) {
        r->seq = slm_alloc(1);
        if (!r->seq) slm_free(nm);
        SLM_CHECK(r->seq, SLM_ERR_NOMEM, "%s: out of memory", path);
        r->seq[0] = 0;
    } else if (r->cap > r->len + 1 + 4096) {
        char *shrunk = slm_realloc(r->seq, r->len + 1); /* give back the doubling slack */
        if (shrunk) r->seq = shrunk;
    }
    f->rec[f->n++] = (slm_fasta_rec){nm, r->seq, r->len};
    f->total_len += r->len;
    *r = (recbuf){0};
    return SLM_OK;
fail:
    return st;
}

static void copy_name(char *dst, size_t cap, const char *line, size_t n)
{
    size_t k = 0;
    for (size_t i = 1; i < n && k + 1 < cap; i++) {
        if (line[i] == ' ' || line[i] == '\t' || line[i] == '\r') break;
        dst[k++] = line[i];
    }
    dst[k] = 0;
}

slm_status slm_fasta_read(const char *path, uint64_t max_bases, slm_fasta *out)
{
    slm_status st = SLM_OK;
    src s;
    int opened = 0;
    char *line = NULL, name[256] = "";
    size_t n = 0, cap = 0, rcap = 0;
    recbuf r = {0};
    int have = 0, got = 0, fastq = -1;
    uint64_t lineno = 0;
    SLM_CHECK(path && out, SLM_ERR_ARG, "slm_fasta_read: NULL argument");
    memset(out, 0, sizeof *out);
    SLM_TRY(src_open(&s, path));
    opened = 1;
    for (;;) {
        SLM_TRY(src_line(&s, &line, &n, &cap, &got));
        if (!got) break;
        lineno++;
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t')) n--;
        if (n == 0) continue;
        if (fastq < 0) {
            SLM_CHECK(line[0] == '>' || line[0] == '@', SLM_ERR_FORMAT,
                      "%s: line %llu: expected a FASTA header '>' or a FASTQ header '@', found "
                      "'%c'", path, (unsigned long long)lineno,
                      line[0] >= 32 && line[0] < 127 ? line[0] : '?');
            fastq = line[0] == '@';
        }
        if (fastq) {
            /* four lines: @name, sequence, +[name], quality */
            SLM_CHECK(line[0] == '@', SLM_ERR_FORMAT,
                      "%s: line %llu: expected a FASTQ record header '@'", path,
                      (unsigned long long)lineno);
            copy_name(name, sizeof name, line, n);
            SLM_TRY(src_line(&s, &line, &n, &cap, &got));
            lineno++;
            SLM_CHECK(got, SLM_ERR_FORMAT, "%s: line %llu: FASTQ record '%s' has no sequence",
                      path, (unsigned long long)lineno, name);
            while (n && line[n - 1] == '\r') n--;
            SLM_TRY(rec_append(&r, line, n, path, lineno));
            const size_t seq_chars = n;
            SLM_TRY(src_line(&s, &line, &n, &cap, &got));
            lineno++;
            SLM_CHECK(got && n && line[0] == '+', SLM_ERR_FORMAT,
                      "%s: line %llu: FASTQ record '%s': expected the '+' line", path,
                      (unsigned long long)lineno, name);
            SLM_TRY(src_line(&s, &line, &n, &cap, &got));
            lineno++;
            while (n && line[n - 1] == '\r') n--;
            SLM_CHECK(got && n == seq_chars, SLM_ERR_FORMAT,
                      "%s: line %llu: FASTQ record '%s': quality has %zu characters, sequence "
                      "%zu", path, (unsigned long long)lineno, name, got ? n : 0, seq_chars);
            SLM_TRY(push_rec(out, &rcap, name, &r, path));
        } else if (line[0] == '>') {
            if (have) SLM_TRY(push_rec(out, &rcap, name, &r, path));
            copy_name(name, sizeof name, line, n);
            have = 1;
        } else if (line[0] == ';') {
            continue; /* old-style comment */
        } else {
            SLM_TRY(rec_append(&r, line, n, path, lineno));
        }
        if (max_bases && out->total_len + r.len >= max_bases) {
            const uint64_t over = out->total_len + r.len - max_bases;
            if (r.len) {
                r.len -= (size_t)over;
                r.seq[r.len] = 0;
            } else if (out->n) { /* FASTQ: the record was pushed already */
                slm_fasta_rec *last = &out->rec[out->n - 1];
                last->len -= (size_t)over;
                last->seq[last->len] = 0;
                out->total_len -= over;
            }
            break;
        }
    }
    if (have) SLM_TRY(push_rec(out, &rcap, name, &r, path));
    SLM_CHECK(out->n > 0, SLM_ERR_FORMAT, "%s: no FASTA/FASTQ records (empty file?)", path);
    slm_free(line);
    src_close(&s);
    return SLM_OK;
fail:
    slm_free(line);
    slm_free(r.seq);
    if (opened) src_close(&s);
    if (out) slm_fasta_free(out);
    return st;
}

void slm_fasta_free(slm_fasta *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) {
        slm_free(f->rec[i].name);
        slm_free(f->rec[i].seq);
    }
    slm_free(f->rec);
    memset(f, 0, sizeof *f);
}
