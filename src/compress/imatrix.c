/* imatrix.c — read and write llama.cpp's legacy imatrix .dat files (layout
 * in imatrix.h). The file is untrusted: every count and length is checked
 * against the bytes that remain before anything is allocated.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "compress/imatrix.h"

void slm_imatrix_free(slm_imatrix *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_entries; i++) {
        slm_free(m->e[i].name);
        slm_free(m->e[i].values);
    }
    slm_free(m->e);
    slm_free(m->dataset);
    slm_free(m);
}

const slm_imatrix_entry *slm_imatrix_find(const slm_imatrix *m, const char *name)
{
    if (!m || !name) return NULL;
    for (int i = 0; i < m->n_entries; i++)
        if (strcmp(m->e[i].name, name) == 0) return &m->e[i];
    return NULL;
}

/* A bounds-checked cursor over the file bytes. */
typedef struct cursor {
    const uint8_t *p;
    size_t n, at;
} cursor;

static int take(cursor *c, void *dst, size_t n)
{
    if (n > c->n - c->at) return 0;
    memcpy(dst, c->p + c->at, n);
    c->at += n;
    return 1;
}

static int take_i32(cursor *c, int32_t *v)
{
    uint8_t b[4];
    if (!take(c, b, 4)) return 0;
    *v = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
    return 1;
}

static slm_status read_all(const char *path, uint8_t **buf, size_t *len)
{
    slm_status st = SLM_OK;
    uint8_t *b = NULL;
    FILE *f = fopen(path, "rb");
    SLM_CHECK(f != NULL, SLM_ERR_IO, "imatrix '%s': cannot open", path);
    SLM_CHECK(fseek(f, 0, SEEK_END) == 0, SLM_ERR_IO, "imatrix '%s': cannot seek", path);
    long size = ftell(f);
    SLM_CHECK(size >= 0 && fseek(f, 0, SEEK_SET) == 0, SLM_ERR_IO, "imatrix '%s': cannot size", path);
    b = slm_alloc((size_t)size + 1);
    SLM_CHECK(b != NULL, SLM_ERR_NOMEM, "imatrix '%s': cannot allocate %ld bytes", path, size);
    SLM_CHECK(fread(b, 1, (size_t)size, f) == (size_t)size, SLM_ERR_IO, "imatrix '%s': short read", path);
    fclose(f);
    *buf = b;
    *len = (size_t)size;
    return SLM_OK;
fail:
    if (f) fclose(f);
    slm_free(b);
    return st;
}

slm_status slm_imatrix_read(const char *path, slm_imatrix **out)
{
    slm_status st = SLM_OK;
    uint8_t *buf = NULL;
    size_t len = 0;
    slm_imatrix *m = NULL;
    if (out) *out = NULL;
    SLM_CHECK(path && out, SLM_ERR_ARG, "imatrix: NULL argument");
    SLM_TRY(read_all(path, &buf, &len));
    cursor c = {buf, len, 0};
    int32_t n_entries = 0;
    SLM_CHECK(take_i32(&c, &n_entries), SLM_ERR_FORMAT, "imatrix '%s': %zu bytes, too short for a header",
              path, len);
    /* each entry needs at least 12 bytes: this bounds the allocation */
    SLM_CHECK(n_entries >= 0 && (size_t)n_entries <= (len - 4) / 12, SLM_ERR_FORMAT,
              "imatrix '%s': %d entries in a %zu-byte file", path, n_entries, len);
    m = slm_calloc(1, sizeof *m);
    SLM_CHECK(m != NULL, SLM_ERR_NOMEM, "imatrix '%s': cannot allocate", path);
    if (n_entries > 0) {
        m->e = slm_calloc((size_t)n_entries, sizeof *m->e);
        SLM_CHECK(m->e != NULL, SLM_ERR_NOMEM, "imatrix '%s': cannot allocate %d entries", path, n_entries);
    }
    for (int i = 0; i < n_entries; i++) {
        slm_imatrix_entry *e = &m->e[i];
        int32_t name_len = 0, ncall = 0, nval = 0;
        SLM_CHECK(take_i32(&c, &name_len) && name_len > 0 && (size_t)name_len <= c.n - c.at, SLM_ERR_FORMAT,
                  "imatrix '%s': entry %d: name length %d does not fit (%zu bytes left)", path, i, name_len,
                  c.n - c.at);
        e->name = slm_alloc((size_t)name_len + 1);
        SLM_CHECK(e->name != NULL, SLM_ERR_NOMEM, "imatrix '%s': cannot allocate a name", path);
        m->n_entries = i + 1;
        take(&c, e->name, (size_t)name_len);
        e->name[name_len] = '\0';
        SLM_CHECK(take_i32(&c, &ncall) && take_i32(&c, &nval), SLM_ERR_FORMAT,
                  "imatrix '%s': entry '%s': truncated header", path, e->name);
        SLM_CHECK(nval > 0 && (size_t)nval <= (c.n - c.at) / 4, SLM_ERR_FORMAT,
                  "imatrix '%s': entry '%s': %d values, %zu bytes left", path, e->name, nval, c.n - c.at);
        SLM_CHECK(ncall >= 0, SLM_ERR_FORMAT, "imatrix '%s': entry '%s': ncall %d, expected >= 0", path,
                  e->name, ncall);
        e->values = slm_alloc((size_t)nval * sizeof(float));
        SLM_CHECK(e->values != NULL, SLM_ERR_NOMEM, "imatrix '%s': cannot allocate %d values", path, nval);
        take(&c, e->values, (size_t)nval * sizeof(float));
        e->n = nval;
        e->ncall = ncall;
        for (int32_t j = 0; j < nval; j++) {
            SLM_CHECK(isfinite(e->values[j]), SLM_ERR_FORMAT,
                      "imatrix '%s': entry '%s': value %d is not finite", path, e->name, j);
            if (ncall > 0) e->values[j] /= (float)ncall;
        }
    }
    /* optional trailer: last chunk and dataset name */
    int32_t last_chunk = 0, ds_len = 0;
    if (take_i32(&c, &last_chunk)) {
        m->last_chunk = last_chunk;
        if (take_i32(&c, &ds_len) && ds_len >= 0 && (size_t)ds_len <= c.n - c.at) {
            m->dataset = slm_alloc((size_t)ds_len + 1);
            SLM_CHECK(m->dataset != NULL, SLM_ERR_NOMEM, "imatrix '%s': cannot allocate", path);
            take(&c, m->dataset, (size_t)ds_len);
            m->dataset[ds_len] = '\0';
        }
    }
    slm_free(buf);
    *out = m;
    return SLM_OK;
fail:
    slm_free(buf);
    slm_imatrix_free(m);
    return st;
}

static int put_i32(FILE *f, int32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)((uint32_t)v >> 8), (uint8_t)((uint32_t)v >> 16),
                    (uint8_t)((uint32_t)v >> 24)};
    return fwrite(b, 1, 4, f) == 4;
}

slm_status slm_imatrix_write(const slm_imatrix *m, const char *path)
{
    slm_status st = SLM_OK;
    FILE *f = NULL;
    float *tmp = NULL;
    SLM_CHECK(m && path, SLM_ERR_ARG, "imatrix: NULL argument");
    f = fopen(path, "wb");
    SLM_CHECK(f != NULL, SLM_ERR_IO, "imatrix '%s': cannot create", path);
    int ok = put_i32(f, m->n_entries);
    for (int i = 0; i < m->n_entries && ok; i++) {
        const slm_imatrix_entry *e = &m->e[i];
        size_t nl = strlen(e->name);
        int32_t ncall = e->ncall > 0 ? e->ncall : 1;
        tmp = slm_alloc((size_t)e->n * sizeof(float));
        SLM_CHECK(tmp != NULL, SLM_ERR_NOMEM, "imatrix '%s': cannot allocate %lld values", path,
                  (long long)e->n);
        for (int64_t j = 0; j < e->n; j++) tmp[j] = e->values[j] * (float)ncall;
        ok = put_i32(f, (int32_t)nl) && fwrite(e->name, 1, nl, f) == nl && put_i32(f, ncall) &&
             put_i32(f, (int32_t)e->n) && fwrite(tmp, sizeof(float), (size_t)e->n, f) == (size_t)e->n;
        slm_free(tmp);
        tmp = NULL;
    }
    size_t dl = m->dataset ? strlen(m->dataset) : 0;
    ok = ok && put_i32(f, m->last_chunk) && put_i32(f, (int32_t)dl) && fwrite(m->dataset ? m->dataset : "", 1, dl, f) == dl;
    SLM_CHECK(ok, SLM_ERR_IO, "imatrix '%s': write failed", path);
    int rc = fclose(f);
    f = NULL;
    SLM_CHECK(rc == 0, SLM_ERR_IO, "imatrix '%s': close failed", path);
    return SLM_OK;
fail:
    slm_free(tmp);
    if (f) fclose(f);
    return st;
}
