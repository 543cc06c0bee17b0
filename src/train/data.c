/* data.c — training text to one token stream. Files are plain or gzip
 * (zlib's gzread passes plain files through). Documents are cut at
 * "<|endoftext|>" and at blank lines, trimmed, and each is tokenized with
 * the tokenizer's add_special rule (BOS first for SPM vocabularies), so a
 * window of the stream looks like what the runtime sees for a prompt.
 * Windows are drawn by the caller's RNG.
 */
#include <string.h>
#include <zlib.h>

#include "base/alloc.h"
#include "base/status.h"
#include "train/train_data.h"

static slm_status read_all(const char *path, char **out, size_t *len)
{
    slm_status st = SLM_OK;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    gzFile f = gzopen(path, "rb");
    SLM_CHECK(f, SLM_ERR_IO, "%s: cannot open", path);
    for (;;) {
        if (cap - n < 65536) {
            size_t nc = cap ? cap * 2 : 1 << 20;
            char *nb = slm_realloc(buf, nc + 1);
            SLM_CHECK(nb, SLM_ERR_NOMEM, "%s: out of memory at %zu bytes", path, n);
            buf = nb;
            cap = nc;
        }
        int got = gzread(f, buf + n, 65536);
        SLM_CHECK(got >= 0, SLM_ERR_IO, "%s: read error after %zu bytes (corrupt gzip?)", path,
                  n);
        if (got == 0) break;
        n += (size_t)got;
    }
    gzclose(f);
    f = NULL;
    buf[n] = 0;
    *out = buf;
    *len = n;
    return SLM_OK;
fail:
    if (f) gzclose(f);
    slm_free(buf);
    return st;
}

static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static slm_status push_doc(slm_tokens *t, const slm_vocab *v, const char *s, size_t len)
{
    slm_status st = SLM_OK;
    while (len && is_space(s[0])) s++, len--;
    while (len && is_space(s[len - 1])) len--;
    if (!len) return SLM_OK;
    size_t need = 0;
    st = slm_vocab_tokenize(v, s, len, 1, 0, NULL, 0, &need);
    if (st != SLM_OK && st != SLM_ERR_FULL) return st;
    if (t->n + need > t->cap) {
        size_t nc = t->cap ? t->cap : 1 << 16;
        while (nc < t->n + need) nc *= 2;
        int32_t *ni = slm_realloc(t->ids, nc * sizeof *ni);
        if (!ni) return slm_fail(SLM_ERR_NOMEM, "train data: out of memory for %zu tokens", nc);
        t->ids = ni;
        t->cap = nc;
    }
    size_t got = 0;
    SLM_TRY(slm_vocab_tokenize(v, s, len, 1, 0, t->ids + t->n, need, &got));
    t->n += got;
    t->n_docs++;
fail:
    return st;
}

slm_status slm_tokens_add_file(slm_tokens *t, const slm_vocab *v, const char *path)
{
    slm_status st = SLM_OK;
    char *text = NULL;
    size_t len = 0;
    SLM_TRY(read_all(path, &text, &len));
    t->n_bytes += len;
    static const char marker[] = "<|endoftext|>";
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        size_t cut = 0;
        if (i == len) cut = 0;
        else if (text[i] == '<' && len - i >= sizeof marker - 1 &&
                 memcmp(text + i, marker, sizeof marker - 1) == 0)
            cut = sizeof marker - 1;
        else if (text[i] == '\n' && i + 1 < len && text[i + 1] == '\n')
            cut = 2;
        else if (text[i] == '\n' && i + 2 < len && text[i + 1] == '\r' && text[i + 2] == '\n')
            cut = 3;
        else
            continue;
        SLM_TRY(push_doc(t, v, text + start, i - start));
        if (i == len) break;
        i += cut - 1;
        start = i + 1;
    }
    slm_free(text);
    return SLM_OK;
fail:
    slm_error_prefix(path);
    slm_free(text);
    return st;
}

void slm_tokens_free(slm_tokens *t)
{
    slm_free(t->ids);
    memset(t, 0, sizeof *t);
}

uint64_t slm_tokens_hash(const slm_tokens *t)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the ids' bytes */
    for (size_t i = 0; i < t->n; i++) {
        uint32_t x = (uint32_t)t->ids[i];
        for (int b = 0; b < 4; b++) {
            h ^= (x >> (8 * b)) & 0xff;
            h *= 1099511628211ull;
        }
    }
    return h;
}
