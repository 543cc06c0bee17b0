/* write.c — the GGUF writer: metadata and a tensor list built in memory,
 * written in one pass as GGUF v3 (layout: see read.c).
 *
 * Each value is kept serialized exactly as it will appear in the file (the
 * bytes after its type field), so copy_kv copies any type, arrays included,
 * byte for byte. Tensor data is borrowed from the caller until
 * slm_gguf_writer_write returns. The file is written to "<path>.tmp.<pid>.<n>"
 * and renamed over path only when complete, so a failure never leaves a
 * truncated file under the final name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/status.h"
#include "gguf/gguf.h"
#include "gguf/keys.h"
#include "quant/types.h"

/* Defined in read.c, kept out of gguf.h because only the writer needs it:
 * the stored bytes of key/value i after its type field. */
slm_status slm_gguf_raw_value(const slm_gguf *g, int64_t i, const void **bytes, size_t *n);

typedef struct wkv {
    char *key;           /* owned, NUL-terminated */
    slm_gguf_type type;
    uint8_t *val;        /* owned: the value as stored in the file */
    size_t val_len;      /* bytes in val */
} wkv;

typedef struct wtensor {
    char *name;          /* owned */
    slm_type type;
    int n_dims;
    int64_t ne[SLM_GGUF_MAX_DIMS]; /* unused dimensions = 1 */
    const void *data;    /* borrowed until write returns */
    uint64_t nbytes;
    slm_gguf_fill_fn fill; /* or: produces the bytes at write time (data NULL) */
    void *fill_user;
} wtensor;

struct slm_gguf_writer {
    wkv *kv;             /* [n_kv], in insertion order */
    size_t n_kv, cap_kv;
    wtensor *t;          /* [n_t], in insertion order (= file order) */
    size_t n_t, cap_t;
};

/* ---- little-endian encoding --------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- building ----------------------------------------------------------- */

slm_status slm_gguf_writer_new(slm_gguf_writer **out)
{
    if (!out) return slm_fail(SLM_ERR_ARG, "gguf writer: NULL out");
    *out = slm_calloc(1, sizeof **out);
    if (!*out) return slm_fail(SLM_ERR_NOMEM, "cannot allocate a GGUF writer");
    return SLM_OK;
}

void slm_gguf_writer_free(slm_gguf_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        slm_free(w->kv[i].key);
        slm_free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++) slm_free(w->t[i].name);
    slm_free(w->kv);
    slm_free(w->t);
    slm_free(w);
}

/* Grow an array of elem-size entries to hold one more; 0 on failure. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) return 1;
    size_t new_cap = *cap ? *cap * 2 : 16, bytes;
    if (!slm_size_mul(new_cap, elem, &bytes)) return 0;
    void *p = slm_realloc(*arr, bytes);
    if (!p) return 0;
    *arr = p;
    *cap = new_cap;
    return 1;
}

/* Set key to a value already serialized in val (ownership passes to the
 * writer, also on failure). Replaces an existing value of the same key. */
static slm_status set_owned(slm_gguf_writer *w, const char *key, slm_gguf_type type, uint8_t *val,
                            size_t val_len)
{
    slm_status st = SLM_OK;
    char *k = NULL;
    SLM_CHECK(w && key, SLM_ERR_ARG, "gguf writer: NULL writer or key");
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) != 0) continue;
        slm_free(w->kv[i].val);
        w->kv[i].type = type;
        w->kv[i].val = val;
        w->kv[i].val_len = val_len;
        return SLM_OK;
    }
    k = slm_strdup(key);
    SLM_CHECK(k && grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv), SLM_ERR_NOMEM,
              "gguf writer: cannot allocate key '%s'", key);
    w->kv[w->n_kv++] = (wkv){k, type, val, val_len};
    return SLM_OK;

fail:
    slm_free(k);
    slm_free(val);
    return st;
}

/* Set key to a copy of n bytes. */
static slm_status set_copy(slm_gguf_writer *w, const char *key, slm_gguf_type type,
                           const void *bytes, size_t n)
{
    uint8_t *val = slm_alloc(n);
    if (!val) return slm_fail(SLM_ERR_NOMEM, "gguf writer: cannot allocate %zu bytes for key '%s'",
                              n, key ? key : "(null)");
    if (n) memcpy(val, bytes, n);
    return set_owned(w, key, type, val, n);
}

static slm_status set_scalar(slm_gguf_writer *w, const char *key, slm_gguf_type type, uint64_t bits,
                             int n)
{
    uint8_t buf[8];
    put_le(buf, bits, n);
    return set_copy(w, key, type, buf, (size_t)n);
}

slm_status slm_gguf_set_u32(slm_gguf_writer *w, const char *key, uint32_t v)
{
    return set_scalar(w, key, SLM_GGUF_UINT32, v, 4);
}

slm_status slm_gguf_set_i32(slm_gguf_writer *w, const char *key, int32_t v)
{
    return set_scalar(w, key, SLM_GGUF_INT32, (uint32_t)v, 4);
}

slm_status slm_gguf_set_u64(slm_gguf_writer *w, const char *key, uint64_t v)
{
    return set_scalar(w, key, SLM_GGUF_UINT64, v, 8);
}

slm_status slm_gguf_set_f32(slm_gguf_writer *w, const char *key, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return set_scalar(w, key, SLM_GGUF_FLOAT32, bits, 4);
}

slm_status slm_gguf_set_bool(slm_gguf_writer *w, const char *key, int v)
{
    return set_scalar(w, key, SLM_GGUF_BOOL, v != 0, 1);
}

slm_status slm_gguf_set_str(slm_gguf_writer *w, const char *key, const char *v)
{
    if (!v) return slm_fail(SLM_ERR_ARG, "gguf writer: key '%s': NULL string", key ? key : "(null)");
    size_t n = strlen(v), total;
    if (!slm_size_add(n, 8, &total)) return slm_fail(SLM_ERR_NOMEM, "gguf writer: string too long");
    uint8_t *val = slm_alloc(total);
    if (!val) return slm_fail(SLM_ERR_NOMEM, "gguf writer: cannot allocate %zu bytes for key '%s'",
                              total, key ? key : "(null)");
    put_le(val, n, 8);
    memcpy(val + 8, v, n);
    return set_owned(w, key, SLM_GGUF_STRING, val, total);
}

slm_status slm_gguf_set_arr_str(slm_gguf_writer *w, const char *key, const char *const *v,
                                uint64_t n)
{
    const char *kname = key ? key : "(null)";
    size_t total = 12;
    if (n && !v) return slm_fail(SLM_ERR_ARG, "gguf writer: key '%s': NULL array", kname);
    if (n > SIZE_MAX / 8) return slm_fail(SLM_ERR_NOMEM, "gguf writer: key '%s': %llu strings",
                                          kname, (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        if (!v[i])
            return slm_fail(SLM_ERR_ARG, "gguf writer: key '%s': element %llu is NULL", kname,
                            (unsigned long long)i);
        if (!slm_size_add(total, 8, &total) || !slm_size_add(total, strlen(v[i]), &total))
            return slm_fail(SLM_ERR_NOMEM, "gguf writer: key '%s': array too large", kname);
    }
    uint8_t *val = slm_alloc(total);
    if (!val) return slm_fail(SLM_ERR_NOMEM, "gguf writer: cannot allocate %zu bytes for key '%s'",
                              total, kname);
    put_le(val, SLM_GGUF_STRING, 4);
    put_le(val + 4, n, 8);
    uint8_t *p = val + 12;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = strlen(v[i]);
        put_le(p, len, 8);
        memcpy(p + 8, v[i], len);
        p += 8 + len;
    }
    return set_owned(w, key, SLM_GGUF_ARRAY, val, total);
}

/* An array of n 4-byte elements given as host values. */
static slm_status set_arr_4(slm_gguf_writer *w, const char *key, slm_gguf_type et,
                            const void *v, uint64_t n)
{
    const char *kname = key ? key : "(null)";
    size_t total;
    if (n && !v) return slm_fail(SLM_ERR_ARG, "gguf writer: key '%s': NULL array", kname);
    if (n > SIZE_MAX / 4 || !slm_size_add((size_t)n * 4, 12, &total))
        return slm_fail(SLM_ERR_NOMEM, "gguf writer: key '%s': array of %llu too large", kname,
                        (unsigned long long)n);
    uint8_t *val = slm_alloc(total);
    if (!val) return slm_fail(SLM_ERR_NOMEM, "gguf writer: cannot allocate %zu bytes for key '%s'",
                              total, kname);
    put_le(val, et, 4);
    put_le(val + 4, n, 8);
    for (uint64_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, (const uint8_t *)v + 4 * i, 4);
        put_le(val + 12 + 4 * i, bits, 4);
    }
    return set_owned(w, key, SLM_GGUF_ARRAY, val, total);
}

slm_status slm_gguf_set_arr_f32(slm_gguf_writer *w, const char *key, const float *v, uint64_t n)
{
    return set_arr_4(w, key, SLM_GGUF_FLOAT32, v, n);
}

slm_status slm_gguf_set_arr_i32(slm_gguf_writer *w, const char *key, const int32_t *v, uint64_t n)
{
    return set_arr_4(w, key, SLM_GGUF_INT32, v, n);
}

slm_status slm_gguf_copy_kv(slm_gguf_writer *w, const slm_gguf *src, int64_t i)
{
    const void *bytes;
    size_t n;
    if (!src) return slm_fail(SLM_ERR_ARG, "gguf writer: copy_kv from NULL reader");
    slm_status st = slm_gguf_raw_value(src, i, &bytes, &n);
    if (st != SLM_OK) return st;
    return set_copy(w, slm_gguf_key(src, i), slm_gguf_kv_type(src, i), bytes, n);
}

static slm_status add_tensor(slm_gguf_writer *w, const char *name, slm_type type, int n_dims,
                             const int64_t *ne, const void *data, uint64_t nbytes, slm_gguf_fill_fn fill,
                             void *fill_user)
{
    slm_status st = SLM_OK;
    char *nm = NULL;
    SLM_CHECK(w && name && ne, SLM_ERR_ARG, "gguf writer: add_tensor: NULL writer, name or shape");
    SLM_CHECK(n_dims >= 1 && n_dims <= SLM_GGUF_MAX_DIMS, SLM_ERR_ARG,
              "gguf writer: tensor '%s': n_dims is %d, expected 1..%d", name, n_dims,
              SLM_GGUF_MAX_DIMS);
    const slm_type_traits *tr = slm_type_traits_get(type);
    SLM_CHECK(tr != NULL, SLM_ERR_ARG, "gguf writer: tensor '%s': unknown type %d", name,
              (int)type);
    for (size_t i = 0; i < w->n_t; i++)
        SLM_CHECK(strcmp(w->t[i].name, name) != 0, SLM_ERR_ARG,
                  "gguf writer: tensor '%s' added twice", name);
    wtensor t = {NULL, type, n_dims, {1, 1, 1, 1}, data, nbytes, fill, fill_user};
    uint64_t rows = 1;
    for (int d = 0; d < n_dims; d++) {
        SLM_CHECK(ne[d] >= 0, SLM_ERR_ARG, "gguf writer: tensor '%s': ne[%d] = %lld is negative",
                  name, d, (long long)ne[d]);
        t.ne[d] = ne[d];
        SLM_CHECK(d == 0 || slm_u64_mul(rows, (uint64_t)ne[d], &rows), SLM_ERR_ARG,
                  "gguf writer: tensor '%s': size overflows", name);
    }
    SLM_CHECK(ne[0] % tr->block_size == 0, SLM_ERR_ARG,
              "gguf writer: tensor '%s': ne[0] = %lld is not a multiple of the %s block size %lld",
              name, (long long)ne[0], tr->name, (long long)tr->block_size);
    uint64_t expect;
    SLM_CHECK(slm_u64_mul((uint64_t)(ne[0] / tr->block_size), tr->type_size, &expect) &&
                  slm_u64_mul(expect, rows, &expect),
              SLM_ERR_ARG, "gguf writer: tensor '%s': size overflows", name);
    SLM_CHECK(nbytes == expect, SLM_ERR_ARG,
              "gguf writer: tensor '%s': nbytes is %llu, expected %llu for %s", name,
              (unsigned long long)nbytes, (unsigned long long)expect, tr->name);
    SLM_CHECK(data || fill || nbytes == 0, SLM_ERR_ARG, "gguf writer: tensor '%s': NULL data", name);
    nm = slm_strdup(name);
    SLM_CHECK(nm && grow((void **)&w->t, &w->cap_t, w->n_t, sizeof *w->t), SLM_ERR_NOMEM,
              "gguf writer: cannot allocate tensor '%s'", name);
    t.name = nm;
    w->t[w->n_t++] = t;
    return SLM_OK;

fail:
    slm_free(nm);
    return st;
}

slm_status slm_gguf_add_tensor(slm_gguf_writer *w, const char *name, slm_type type, int n_dims,
                               const int64_t *ne, const void *data, uint64_t nbytes)
{
    return add_tensor(w, name, type, n_dims, ne, data, nbytes, NULL, NULL);
}

slm_status slm_gguf_add_tensor_lazy(slm_gguf_writer *w, const char *name, slm_type type, int n_dims,
                                    const int64_t *ne, uint64_t nbytes, slm_gguf_fill_fn fill, void *user)
{
    if (!fill) return slm_fail(SLM_ERR_ARG, "gguf writer: tensor '%s': NULL fill function", name ? name : "?");
    return add_tensor(w, name, type, n_dims, ne, NULL, nbytes, fill, user);
}

/* ---- writing ------------------------------------------------------------ */

typedef struct out_file {
    FILE *f;
    const char *path; /* for messages: the final path */
    uint64_t pos;     /* bytes written so far */
} out_file;

static slm_status out_bytes(out_file *o, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, o->f) != n)
        return slm_fail(SLM_ERR_IO, "%s: write failed at byte %llu: %s", o->path,
                        (unsigned long long)o->pos, strerror(errno));
    o->pos += n;
    return SLM_OK;
}

static slm_status out_le(out_file *o, uint64_t v, int n)
{
    uint8_t buf[8];
    put_le(buf, v, n);
    return out_bytes(o, buf, (size_t)n);
}

static slm_status out_str(out_file *o, const char *s)
{
    size_t n = strlen(s);
    slm_status st = out_le(o, n, 8);
    return st != SLM_OK ? st : out_bytes(o, s, n);
}

/* Zeros up to the next multiple of align. */
static slm_status out_pad(out_file *o, uint32_t align)
{
    static const uint8_t zeros[256];
    uint64_t pad = (align - o->pos % align) % align;
    while (pad > 0) {
        size_t n = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
        slm_status st = out_bytes(o, zeros, n);
        if (st != SLM_OK) return st;
        pad -= n;
    }
    return SLM_OK;
}

/* general.alignment as set by the caller (UINT32, nonzero power of two), or
 * the default. */
static slm_status writer_alignment(const slm_gguf_writer *w, uint32_t *align)
{
    *align = SLM_GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, SLM_KEY_ALIGNMENT) != 0) continue;
        if (w->kv[i].type != SLM_GGUF_UINT32 || w->kv[i].val_len != 4)
            return slm_fail(SLM_ERR_ARG, "gguf writer: general.alignment must be UINT32");
        const uint8_t *v = w->kv[i].val;
        uint32_t a = (uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 |
                     (uint32_t)v[3] << 24;
        if (a == 0 || (a & (a - 1)) != 0)
            return slm_fail(SLM_ERR_ARG,
                            "gguf writer: general.alignment is %u, expected a nonzero power of two",
                            (unsigned)a);
        *align = a;
    }
    return SLM_OK;
}

static slm_status write_all(const slm_gguf_writer *w, out_file *o, uint32_t align)
{
    slm_status st = SLM_OK;
    uint8_t *buf = NULL;
    size_t buf_cap = 0;
    SLM_TRY(out_bytes(o, "GGUF", 4));
    SLM_TRY(out_le(o, 3, 4));
    SLM_TRY(out_le(o, w->n_t, 8));
    SLM_TRY(out_le(o, w->n_kv, 8));
    for (size_t i = 0; i < w->n_kv; i++) {
        SLM_TRY(out_str(o, w->kv[i].key));
        SLM_TRY(out_le(o, (uint32_t)w->kv[i].type, 4));
        SLM_TRY(out_bytes(o, w->kv[i].val, w->kv[i].val_len));
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        SLM_TRY(out_str(o, t->name));
        SLM_TRY(out_le(o, (uint32_t)t->n_dims, 4));
        for (int d = 0; d < t->n_dims; d++) SLM_TRY(out_le(o, (uint64_t)t->ne[d], 8));
        SLM_TRY(out_le(o, (uint32_t)t->type, 4));
        SLM_TRY(out_le(o, offset, 8));
        uint64_t padded = t->nbytes + (align - t->nbytes % align) % align;
        SLM_CHECK(slm_u64_add(offset, padded, &offset), SLM_ERR_ARG,
                  "%s: tensor data exceeds 2^64 bytes", o->path);
    }
    /* Every tensor, the last included, is padded to the alignment, as
     * llama.cpp's writer does; a file without tensors ends unpadded after
     * its metadata, as gguf-py writes vocab-only files (so copies of both
     * come back byte for byte). */
    if (w->n_t > 0) SLM_TRY(out_pad(o, align));
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        const void *data = t->data;
        if (t->fill) {
            /* one buffer, reused: a lazy tensor lives only while it is written */
            if (t->nbytes > buf_cap) {
                slm_free(buf);
                buf_cap = 0;
                buf = slm_alloc((size_t)t->nbytes);
                SLM_CHECK(buf != NULL, SLM_ERR_NOMEM, "%s: tensor '%s': cannot allocate %llu bytes", o->path,
                          t->name, (unsigned long long)t->nbytes);
                buf_cap = (size_t)t->nbytes;
            }
            SLM_TRY(t->fill(t->fill_user, t->name, buf, t->nbytes));
            data = buf;
        }
        SLM_TRY(out_bytes(o, data, (size_t)t->nbytes));
        SLM_TRY(out_pad(o, align));
    }
    slm_free(buf);
    return SLM_OK;

fail:
    slm_free(buf);
    return st;
}

/* Distinguishes temporary names of concurrent writes in one process. */
static _Atomic unsigned tmp_counter;

slm_status slm_gguf_writer_write(slm_gguf_writer *w, const char *path)
{
    slm_status st = SLM_OK;
    char *tmp = NULL;
    int fd = -1, created = 0;
    out_file o = {NULL, path, 0};
    uint32_t align;
    SLM_CHECK(w && path, SLM_ERR_ARG, "gguf writer: NULL writer or path");
    SLM_TRY(writer_alignment(w, &align));

    /* open(O_EXCL) rather than mkstemp: mkstemp creates mode 0600, and the
     * finished file should get the usual 0666 & ~umask. */
    size_t n = strlen(path) + 64;
    tmp = slm_alloc(n);
    SLM_CHECK(tmp != NULL, SLM_ERR_NOMEM, "%s: cannot allocate the temporary name", path);
    for (unsigned attempt = 0; fd < 0; attempt++) {
        snprintf(tmp, n, "%s.tmp.%ld.%u", path, (long)getpid(), tmp_counter++);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        SLM_CHECK(fd >= 0 || (errno == EEXIST && attempt < 100), SLM_ERR_IO,
                  "%s: cannot create temporary file %s: %s", path, tmp, strerror(errno));
    }
    created = 1;
    o.f = fdopen(fd, "wb");
    SLM_CHECK(o.f != NULL, SLM_ERR_IO, "%s: fdopen failed: %s", tmp, strerror(errno));
    fd = -1; /* owned by o.f now */

    SLM_TRY(write_all(w, &o, align));
    SLM_CHECK(fflush(o.f) == 0 && fsync(fileno(o.f)) == 0, SLM_ERR_IO, "%s: flush failed: %s",
              tmp, strerror(errno));
    int rc = fclose(o.f);
    o.f = NULL;
    SLM_CHECK(rc == 0, SLM_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    SLM_CHECK(rename(tmp, path) == 0, SLM_ERR_IO, "cannot rename %s to %s: %s", tmp, path,
              strerror(errno));
    slm_free(tmp);
    return SLM_OK;

fail:
    if (o.f) fclose(o.f);
    if (fd >= 0) close(fd);
    if (created) unlink(tmp);
    slm_free(tmp);
    return st;
}
