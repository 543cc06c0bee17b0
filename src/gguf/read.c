/* read.c — the GGUF reader: the trust boundary between files and slm.
 *
 * Owns the parse and validation of a whole GGUF file (v2, v3) and the
 * handle the rest of slm reads metadata and tensors through. It does not
 * interpret keys (model/ does) or tensor data (quant/ does). The invariant:
 * once slm_gguf_open returns SLM_OK, every offset stored in the handle lies
 * inside the buffer, so no accessor needs to check anything but its index.
 *
 * File layout (all integers little-endian; "str" = u64 byte length + bytes,
 * no NUL):
 *
 *   OFFSET   SIZE    DESCRIPTION
 *      0       4     Magic "GGUF" (47 47 55 46)
 *      4       4     u32 version: 2 or 3 (1 used u32 counts: unsupported)
 *      8       8     u64 n_tensors
 *     16       8     u64 n_kv
 *     24       -     n_kv key/value pairs:
 *                       str key, u32 value type (slm_gguf_type), value:
 *                         UINT8 INT8 BOOL: 1 byte; UINT16 INT16: 2;
 *                         UINT32 INT32 FLOAT32: 4; UINT64 INT64 FLOAT64: 8;
 *                         STRING: str;
 *                         ARRAY: u32 element type, u64 count, count elements
 *                                (arrays of arrays: rejected, unsupported)
 *      -       -     n_tensors tensor infos:
 *                       str name, u32 n_dims (1..4), n_dims x u64 ne
 *                       (innermost first), u32 type (slm_type),
 *                       u64 offset (from the data section start; a multiple
 *                       of the alignment)
 *      -       -     zero padding to a multiple of general.alignment
 *                    (UINT32 key, power of two; default 32)
 *      -       -     data section: tensor bytes at their offsets
 *
 * Every count is checked against the bytes left before anything
 * proportional to it is allocated (a minimal entry is 13 bytes for a
 * key/value pair, 32 for a tensor info, 8 for a string array element), so a
 * hostile header cannot ask for more memory than the file's size justifies.
 * Opening is O(file): one pass, no allocation per string (string arrays get
 * one offsets table each; all key and tensor names share one block).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/mapfile.h"
#include "base/status.h"
#include "gguf/gguf.h"
#include "gguf/keys.h"
#include "quant/types.h"

#define MIN_KV_BYTES 13     /* str len 8 + type 4 + 1-byte value */
#define MIN_TENSOR_BYTES 32 /* str len 8 + n_dims 4 + one ne 8 + type 4 + offset 8 */
#define NAME_SHOW 64        /* bytes of a key/tensor name quoted in a message */

/* One key/value pair. Offsets index the file buffer and were validated. */
typedef struct kv_entry {
    const char *key;         /* NUL-terminated, in the handle's names block */
    size_t key_off, key_len; /* the key in the buffer (used before names exist) */
    slm_gguf_type type;
    slm_gguf_type elem_type; /* ARRAY only */
    uint64_t n;              /* ARRAY: element count; STRING: byte length */
    size_t val;              /* scalar bytes, string bytes, or first array element */
    size_t raw_begin;        /* the value as stored, after the type u32 ... */
    size_t raw_end;          /* ... up to here (copy_kv copies these bytes) */
    size_t *str_off;         /* STRING arrays: offset of each element's u64 length */
} kv_entry;

struct slm_gguf {
    const uint8_t *base; /* file bytes (the mapping, or the caller's buffer) */
    size_t size;         /* bytes in base */
    slm_mapfile map;     /* owned mapping; zeroed for open_buffer */
    uint32_t version;
    uint32_t alignment;
    size_t data_offset;  /* start of the data section, <= size */

    int64_t n_kv;
    kv_entry *kv;        /* [n_kv] */
    int64_t n_tensors;
    slm_gguf_tensor *tensors; /* [n_tensors] */
    char *names;         /* every key and tensor name, NUL-terminated, one block */

    size_t *key_hash;    /* [hash_cap]: kv index + 1, 0 = empty */
    size_t *tensor_hash; /* [hash_cap]: tensor index + 1, 0 = empty */
    size_t key_cap, tensor_cap; /* powers of two, > 2 x entries */
};

/* ---- little-endian decoding (the host may be either) -------------------- */

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }
static float lef32(const uint8_t *p)
{
    uint32_t u = le32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static double lef64(const uint8_t *p)
{
    uint64_t u = le64(p);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* ---- value types -------------------------------------------------------- */

static const char *const type_names[SLM_GGUF_TYPE_COUNT] = {
    "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
    "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
};

static const char *gguf_type_name(uint32_t t)
{
    return t < SLM_GGUF_TYPE_COUNT ? type_names[t] : "(invalid)";
}

/* Bytes of a fixed-size value, 0 for STRING/ARRAY/invalid. */
static size_t scalar_size(uint32_t t)
{
    switch (t) {
    case SLM_GGUF_UINT8: case SLM_GGUF_INT8: case SLM_GGUF_BOOL: return 1;
    case SLM_GGUF_UINT16: case SLM_GGUF_INT16: return 2;
    case SLM_GGUF_UINT32: case SLM_GGUF_INT32: case SLM_GGUF_FLOAT32: return 4;
    case SLM_GGUF_UINT64: case SLM_GGUF_INT64: case SLM_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static int is_int_type(slm_gguf_type t)
{
    return t == SLM_GGUF_UINT8 || t == SLM_GGUF_INT8 || t == SLM_GGUF_UINT16 ||
           t == SLM_GGUF_INT16 || t == SLM_GGUF_UINT32 || t == SLM_GGUF_INT32 ||
           t == SLM_GGUF_UINT64 || t == SLM_GGUF_INT64;
}

/* Decode an integer value at p: *neg = 1 and *s set for negative values,
 * otherwise *u holds the value. */
static void decode_int(slm_gguf_type t, const uint8_t *p, int *neg, int64_t *s, uint64_t *u)
{
    int64_t sv = 0;
    *neg = 0;
    *u = 0;
    switch (t) {
    case SLM_GGUF_UINT8: *u = p[0]; return;
    case SLM_GGUF_UINT16: *u = le16(p); return;
    case SLM_GGUF_UINT32: *u = le32(p); return;
    case SLM_GGUF_UINT64: *u = le64(p); return;
    case SLM_GGUF_INT8: sv = (int8_t)p[0]; break;
    case SLM_GGUF_INT16: sv = (int16_t)le16(p); break;
    case SLM_GGUF_INT32: sv = (int32_t)le32(p); break;
    case SLM_GGUF_INT64: sv = (int64_t)le64(p); break;
    default: return;
    }
    if (sv < 0) {
        *neg = 1;
        *s = sv;
    } else {
        *u = (uint64_t)sv;
    }
}

/* Any fixed-size value at p as a double (BOOL: 0 or 1). */
static double decode_num(slm_gguf_type t, const uint8_t *p)
{
    switch (t) {
    case SLM_GGUF_FLOAT32: return lef32(p);
    case SLM_GGUF_FLOAT64: return lef64(p);
    case SLM_GGUF_BOOL: return p[0] != 0;
    default: break;
    }
    if (!is_int_type(t)) return 0.0;
    int neg = 0;
    int64_t s = 0;
    uint64_t u;
    decode_int(t, p, &neg, &s, &u);
    return neg ? (double)s : (double)u;
}

/* ---- tensor types ------------------------------------------------------- */

/* Block size and bytes per block of a tensor type slm implements (the
 * quant/traits.c table); 0 if unknown. */
static int type_layout(uint32_t t, int64_t *block, size_t *bytes)
{
    const slm_type_traits *tr = t < SLM_TYPE_COUNT ? slm_type_traits_get((slm_type)t) : NULL;
    if (!tr || tr->block_size <= 0 || tr->type_size == 0) return 0;
    *block = tr->block_size;
    *bytes = tr->type_size;
    return 1;
}

/* ---- the bounds-checked cursor ------------------------------------------ */

typedef struct cursor {
    const uint8_t *p; /* file bytes */
    size_t size;      /* bytes in the file */
    size_t pos;       /* next byte to read; always <= size */
} cursor;

static size_t left(const cursor *c) { return c->size - c->pos; }

/* Fail unless n more bytes can be read; `what` names the field. */
static slm_status need(const cursor *c, uint64_t n, const char *what)
{
    if (n <= left(c)) return SLM_OK;
    return slm_fail(SLM_ERR_FORMAT, "%s at offset %zu needs %llu bytes, file has %zu left (of %zu)",
                    what, c->pos, (unsigned long long)n, left(c), c->size);
}

static slm_status rd_u32(cursor *c, uint32_t *v, const char *what)
{
    slm_status st = need(c, 4, what);
    if (st != SLM_OK) return st;
    *v = le32(c->p + c->pos);
    c->pos += 4;
    return SLM_OK;
}

static slm_status rd_u64(cursor *c, uint64_t *v, const char *what)
{
    slm_status st = need(c, 8, what);
    if (st != SLM_OK) return st;
    *v = le64(c->p + c->pos);
    c->pos += 8;
    return SLM_OK;
}

/* A string: its bytes stay in the file; *off and *len locate them. */
static slm_status rd_str(cursor *c, size_t *off, size_t *len, const char *what)
{
    uint64_t n;
    slm_status st = rd_u64(c, &n, what);
    if (st != SLM_OK) return st;
    st = need(c, n, what);
    if (st != SLM_OK) return st;
    *off = c->pos;
    *len = (size_t)n;
    c->pos += (size_t)n;
    return SLM_OK;
}

/* Prefix the current message with context (a key or tensor name) and
 * return st: turns "value at offset 90 needs 8 bytes" into "key 'x': ...". */
static slm_status wrap(slm_status st, const char *fmt, ...) SLM_PRINTF(2, 3);
static slm_status wrap(slm_status st, const char *fmt, ...)
{
    char ctx[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    slm_error_prefix(ctx);
    return st;
}

/* SLM_TRY, naming the object on failure. */
#define TRY_IN(expr, ...)                        \
    do {                                         \
        st = (expr);                             \
        if (st != SLM_OK) {                      \
            wrap(st, __VA_ARGS__);               \
            goto fail;                           \
        }                                        \
    } while (0)

/* ---- name hashing (FNV-1a) ---------------------------------------------- */

static uint64_t hash_name(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static size_t hash_cap_for(int64_t n)
{
    size_t cap = 8;
    while (cap < (size_t)n * 2 + 1) cap <<= 1;
    return cap;
}

/* Slot of name in table (its entry, or the empty slot where it would go). */
static size_t hash_slot(const size_t *table, size_t cap, const char *name,
                        const char *(*name_of)(const slm_gguf *, size_t), const slm_gguf *g)
{
    size_t i = (size_t)hash_name(name) & (cap - 1);
    while (table[i] && strcmp(name_of(g, table[i] - 1), name) != 0) i = (i + 1) & (cap - 1);
    return i;
}

static const char *key_name_of(const slm_gguf *g, size_t i) { return g->kv[i].key; }
static const char *tensor_name_of(const slm_gguf *g, size_t i) { return g->tensors[i].name; }

/* ---- parsing ------------------------------------------------------------ */

/* The value of key/value pair e, whose type u32 has just been read. */
static slm_status parse_value(cursor *c, kv_entry *e)
{
    slm_status st = SLM_OK;
    const int klen = e->key_len < NAME_SHOW ? (int)e->key_len : NAME_SHOW;
    const char *kname = (const char *)c->p + e->key_off;
    e->raw_begin = c->pos;

    SLM_CHECK(e->type < SLM_GGUF_TYPE_COUNT, SLM_ERR_FORMAT,
              "key '%.*s': value type %u is not a GGUF type (expected 0..%d)", klen, kname,
              (unsigned)e->type, SLM_GGUF_TYPE_COUNT - 1);
    if (e->type == SLM_GGUF_STRING) {
        size_t off, len;
        TRY_IN(rd_str(c, &off, &len, "string value"), "key '%.*s'", klen, kname);
        e->val = off;
        e->n = len;
    } else if (e->type == SLM_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        TRY_IN(rd_u32(c, &et, "array element type"), "key '%.*s'", klen, kname);
        TRY_IN(rd_u64(c, &n, "array length"), "key '%.*s'", klen, kname);
        SLM_CHECK(et < SLM_GGUF_TYPE_COUNT, SLM_ERR_FORMAT,
                  "key '%.*s': array element type %u is not a GGUF type (expected 0..%d)", klen,
                  kname, (unsigned)et, SLM_GGUF_TYPE_COUNT - 1);
        SLM_CHECK(et != SLM_GGUF_ARRAY, SLM_ERR_UNSUPPORTED,
                  "key '%.*s': arrays of arrays are not supported", klen, kname);
        e->elem_type = (slm_gguf_type)et;
        e->n = n;
        e->val = c->pos;
        if (et == SLM_GGUF_STRING) {
            /* Each element takes at least its 8-byte length: bound the
             * count by the bytes left before allocating the offsets. */
            SLM_CHECK(n <= left(c) / 8, SLM_ERR_FORMAT,
                      "key '%.*s': array of %llu strings needs at least %llu bytes, %zu left",
                      klen, kname, (unsigned long long)n,
                      (unsigned long long)(n > UINT64_MAX / 8 ? UINT64_MAX : n * 8), left(c));
            e->str_off = slm_alloc((size_t)n * sizeof *e->str_off);
            SLM_CHECK(e->str_off != NULL, SLM_ERR_NOMEM,
                      "key '%.*s': cannot allocate offsets for %llu strings", klen, kname,
                      (unsigned long long)n);
            for (uint64_t i = 0; i < n; i++) {
                size_t off, len;
                e->str_off[i] = c->pos;
                TRY_IN(rd_str(c, &off, &len, "string"), "key '%.*s': element %llu of %llu",
                       klen, kname, (unsigned long long)i, (unsigned long long)n);
            }
        } else {
            uint64_t bytes;
            SLM_CHECK(slm_u64_mul(n, scalar_size(et), &bytes) && bytes <= left(c),
                      SLM_ERR_FORMAT,
                      "key '%.*s': array of %llu %s needs %llu bytes, %zu left (of %zu)", klen,
                      kname, (unsigned long long)n, gguf_type_name(et),
                      (unsigned long long)(n > UINT64_MAX / scalar_size(et) ? UINT64_MAX
                                                                            : n * scalar_size(et)),
                      left(c), c->size);
            c->pos += (size_t)bytes;
        }
    } else {
        TRY_IN(need(c, scalar_size(e->type), gguf_type_name(e->type)), "key '%.*s'", klen,
               kname);
        e->val = c->pos;
        c->pos += scalar_size(e->type);
    }
    e->raw_end = c->pos;
    return SLM_OK;

fail:
    slm_free(e->str_off);
    e->str_off = NULL;
    return st;
}

/* general.alignment, if present: a nonzero power of two stored as UINT32. */
static slm_status find_alignment(slm_gguf *g)
{
    static const char name[] = SLM_KEY_ALIGNMENT;
    g->alignment = SLM_GGUF_DEFAULT_ALIGNMENT;
    for (int64_t i = 0; i < g->n_kv; i++) {
        const kv_entry *e = &g->kv[i];
        if (e->key_len != sizeof name - 1 || memcmp(g->base + e->key_off, name, e->key_len) != 0)
            continue;
        if (e->type != SLM_GGUF_UINT32)
            return slm_fail(SLM_ERR_FORMAT, "key 'general.alignment' has type %s, expected UINT32",
                            gguf_type_name(e->type));
        uint32_t a = le32(g->base + e->val);
        if (a == 0 || (a & (a - 1)) != 0)
            return slm_fail(SLM_ERR_FORMAT,
                            "key 'general.alignment' is %u, expected a nonzero power of two",
                            (unsigned)a);
        g->alignment = a;
        return SLM_OK;
    }
    return SLM_OK;
}

/* Tensor info i: name, shape, type; the offset is checked later, once the
 * data section is known. name_off/len locate the name in the buffer. */
static slm_status parse_tensor_info(cursor *c, slm_gguf_tensor *t, int64_t i, size_t *name_off,
                                    size_t *name_len)
{
    slm_status st = SLM_OK;
    uint32_t n_dims, type;
    TRY_IN(rd_str(c, name_off, name_len, "name"), "tensor %lld", (long long)i);
    const int nlen = *name_len < NAME_SHOW ? (int)*name_len : NAME_SHOW;
    const char *tname = (const char *)c->p + *name_off;
    SLM_CHECK(memchr(tname, 0, *name_len) == NULL, SLM_ERR_FORMAT,
              "tensor %lld: name '%.*s' contains a NUL byte", (long long)i, nlen, tname);

    TRY_IN(rd_u32(c, &n_dims, "n_dims"), "tensor '%.*s'", nlen, tname);
    SLM_CHECK(n_dims >= 1 && n_dims <= SLM_GGUF_MAX_DIMS, SLM_ERR_FORMAT,
              "tensor '%.*s': n_dims is %u, expected 1..%d", nlen, tname, (unsigned)n_dims,
              SLM_GGUF_MAX_DIMS);
    t->n_dims = (int)n_dims;
    uint64_t n_elems = 1;
    for (int d = 0; d < SLM_GGUF_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if (d < (int)n_dims) {
            TRY_IN(rd_u64(c, &ne, "dimension"), "tensor '%.*s'", nlen, tname);
        }
        SLM_CHECK(ne <= (uint64_t)INT64_MAX, SLM_ERR_FORMAT,
                  "tensor '%.*s': ne[%d] = %lld is negative", nlen, tname, d, (long long)ne);
        SLM_CHECK(slm_u64_mul(n_elems, ne, &n_elems) && n_elems <= (uint64_t)INT64_MAX,
                  SLM_ERR_FORMAT, "tensor '%.*s': element count overflows at ne[%d] = %llu", nlen,
                  tname, d, (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
    }

    TRY_IN(rd_u32(c, &type, "tensor type"), "tensor '%.*s'", nlen, tname);
    int64_t block;
    size_t block_bytes;
    SLM_CHECK(type_layout(type, &block, &block_bytes), SLM_ERR_UNSUPPORTED,
              "tensor '%.*s': type %u is not a type slm supports", nlen, tname, (unsigned)type);
    t->type = (slm_type)type;
    SLM_CHECK(t->ne[0] % block == 0, SLM_ERR_FORMAT,
              "tensor '%.*s': row length ne[0] = %lld is not a multiple of the %s block size %lld",
              nlen, tname, (long long)t->ne[0], slm_type_name(t->type), (long long)block);
    uint64_t nbytes = (uint64_t)(t->ne[0] / block);
    for (int d = 1; d <= SLM_GGUF_MAX_DIMS; d++) {
        uint64_t f = d == 1 ? block_bytes : (uint64_t)t->ne[d - 1];
        SLM_CHECK(slm_u64_mul(nbytes, f, &nbytes), SLM_ERR_FORMAT,
                  "tensor '%.*s': byte size overflows", nlen, tname);
    }
    t->nbytes = nbytes;

    TRY_IN(rd_u64(c, &t->offset, "tensor offset"), "tensor '%.*s'", nlen, tname);
    return SLM_OK;

fail:
    return st;
}

/* Copy every key and tensor name into one block and index them by hash,
 * rejecting duplicates. */
static slm_status build_names(slm_gguf *g, const size_t *tname_off, const size_t *tname_len)
{
    slm_status st = SLM_OK;
    size_t total = 0;
    for (int64_t i = 0; i < g->n_kv; i++) total += g->kv[i].key_len + 1;
    for (int64_t i = 0; i < g->n_tensors; i++) total += tname_len[i] + 1;
    /* No overflow: each name lies in the file and each entry used >= 13 bytes of it. */
    g->names = slm_alloc(total);
    SLM_CHECK(g->names != NULL, SLM_ERR_NOMEM, "cannot allocate %zu bytes of names", total);
    char *p = g->names;
    for (int64_t i = 0; i < g->n_kv; i++) {
        memcpy(p, g->base + g->kv[i].key_off, g->kv[i].key_len);
        p[g->kv[i].key_len] = '\0';
        g->kv[i].key = p;
        p += g->kv[i].key_len + 1;
    }
    for (int64_t i = 0; i < g->n_tensors; i++) {
        memcpy(p, g->base + tname_off[i], tname_len[i]);
        p[tname_len[i]] = '\0';
        g->tensors[i].name = p;
        p += tname_len[i] + 1;
    }

    g->key_cap = hash_cap_for(g->n_kv);
    g->tensor_cap = hash_cap_for(g->n_tensors);
    g->key_hash = slm_calloc(g->key_cap, sizeof *g->key_hash);
    g->tensor_hash = slm_calloc(g->tensor_cap, sizeof *g->tensor_hash);
    SLM_CHECK(g->key_hash && g->tensor_hash, SLM_ERR_NOMEM, "cannot allocate name index");
    for (int64_t i = 0; i < g->n_kv; i++) {
        size_t s = hash_slot(g->key_hash, g->key_cap, g->kv[i].key, key_name_of, g);
        SLM_CHECK(g->key_hash[s] == 0, SLM_ERR_FORMAT, "key '%.*s' appears twice (%zu and %lld)",
                  NAME_SHOW, g->kv[i].key, g->key_hash[s] - 1, (long long)i);
        g->key_hash[s] = (size_t)i + 1;
    }
    for (int64_t i = 0; i < g->n_tensors; i++) {
        size_t s = hash_slot(g->tensor_hash, g->tensor_cap, g->tensors[i].name, tensor_name_of, g);
        SLM_CHECK(g->tensor_hash[s] == 0, SLM_ERR_FORMAT,
                  "tensor name '%.*s' appears twice (tensors %zu and %lld)", NAME_SHOW,
                  g->tensors[i].name, g->tensor_hash[s] - 1, (long long)i);
        g->tensor_hash[s] = (size_t)i + 1;
    }
    return SLM_OK;

fail:
    return st;
}

static slm_status parse(slm_gguf *g)
{
    slm_status st = SLM_OK;
    cursor c = {g->base, g->size, 0};
    size_t *tname_off = NULL, *tname_len = NULL;
    uint32_t magic;
    uint64_t n_tensors, n_kv;

    SLM_TRY(rd_u32(&c, &magic, "magic"));
    SLM_CHECK(magic == 0x46554747u, SLM_ERR_FORMAT,
              "not a GGUF file: magic is %02x %02x %02x %02x, expected 47 47 55 46 (\"GGUF\")",
              g->base[0], g->base[1], g->base[2], g->base[3]);
    SLM_TRY(rd_u32(&c, &g->version, "version"));
    SLM_CHECK(g->version != 1, SLM_ERR_UNSUPPORTED,
              "GGUF version 1 is not supported (expected 2 or 3; re-convert the model)");
    SLM_CHECK(g->version == 2 || g->version == 3, SLM_ERR_UNSUPPORTED,
              "GGUF version %u is not supported (expected 2 or 3%s)", (unsigned)g->version,
              (g->version & 0xffff) == 0 ? "; a big-endian file?" : "");
    SLM_TRY(rd_u64(&c, &n_tensors, "n_tensors"));
    SLM_TRY(rd_u64(&c, &n_kv, "n_kv"));
    SLM_CHECK(n_kv <= left(&c) / MIN_KV_BYTES, SLM_ERR_FORMAT,
              "n_kv is %llu, but %zu bytes left hold at most %zu key/value pairs",
              (unsigned long long)n_kv, left(&c), left(&c) / MIN_KV_BYTES);
    SLM_CHECK(n_tensors <= left(&c) / MIN_TENSOR_BYTES, SLM_ERR_FORMAT,
              "n_tensors is %llu, but %zu bytes left hold at most %zu tensor infos",
              (unsigned long long)n_tensors, left(&c), left(&c) / MIN_TENSOR_BYTES);

    g->kv = slm_calloc((size_t)n_kv, sizeof *g->kv);
    g->tensors = slm_calloc((size_t)n_tensors, sizeof *g->tensors);
    tname_off = slm_calloc((size_t)n_tensors, sizeof *tname_off);
    tname_len = slm_calloc((size_t)n_tensors, sizeof *tname_len);
    SLM_CHECK(g->kv && g->tensors && tname_off && tname_len, SLM_ERR_NOMEM,
              "cannot allocate tables for %llu keys and %llu tensors", (unsigned long long)n_kv,
              (unsigned long long)n_tensors);

    for (uint64_t i = 0; i < n_kv; i++) {
        kv_entry *e = &g->kv[i];
        uint32_t type;
        TRY_IN(rd_str(&c, &e->key_off, &e->key_len, "key"), "key/value %llu of %llu",
               (unsigned long long)i, (unsigned long long)n_kv);
        const char *kname = (const char *)g->base + e->key_off;
        const int klen = e->key_len < NAME_SHOW ? (int)e->key_len : NAME_SHOW;
        SLM_CHECK(memchr(kname, 0, e->key_len) == NULL, SLM_ERR_FORMAT,
                  "key %llu: '%.*s' contains a NUL byte", (unsigned long long)i, klen, kname);
        TRY_IN(rd_u32(&c, &type, "value type"), "key '%.*s'", klen, kname);
        e->type = (slm_gguf_type)type;
        g->n_kv = (int64_t)i + 1; /* from here on e is freed by close */
        SLM_TRY(parse_value(&c, e));
    }
    SLM_TRY(find_alignment(g));

    for (uint64_t i = 0; i < n_tensors; i++)
        SLM_TRY(parse_tensor_info(&c, &g->tensors[i], (int64_t)i, &tname_off[i], &tname_len[i]));
    g->n_tensors = (int64_t)n_tensors;

    /* The data section starts at the next multiple of the alignment. A file
     * without tensors may end before that padding (vocab-only files do). */
    size_t pad = (g->alignment - c.pos % g->alignment) % g->alignment;
    SLM_CHECK(n_tensors == 0 || pad <= left(&c), SLM_ERR_FORMAT,
              "data section would start at %zu (alignment %u), past end of file (%zu bytes)",
              c.pos + pad, (unsigned)g->alignment, c.size);
    g->data_offset = pad <= left(&c) ? c.pos + pad : c.size;
    const uint64_t data_size = g->size - g->data_offset;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        slm_gguf_tensor *t = &g->tensors[i];
        const int nlen = tname_len[i] < NAME_SHOW ? (int)tname_len[i] : NAME_SHOW;
        const char *tname = (const char *)g->base + tname_off[i];
        SLM_CHECK(t->offset % g->alignment == 0, SLM_ERR_FORMAT,
                  "tensor '%.*s': offset %llu is not a multiple of the alignment %u", nlen, tname,
                  (unsigned long long)t->offset, (unsigned)g->alignment);
        SLM_CHECK(t->offset <= data_size && t->nbytes <= data_size - t->offset, SLM_ERR_FORMAT,
                  "tensor '%.*s': data [%llu, %llu) past end of file (%zu bytes)", nlen, tname,
                  (unsigned long long)(g->data_offset + t->offset),
                  (unsigned long long)(g->data_offset + t->offset + t->nbytes), g->size);
        t->data = g->base + g->data_offset + t->offset;
    }

    SLM_TRY(build_names(g, tname_off, tname_len));
    slm_free(tname_off);
    slm_free(tname_len);
    return SLM_OK;

fail:
    slm_free(tname_off);
    slm_free(tname_len);
    return st;
}

/* ---- open / close ------------------------------------------------------- */

static slm_status open_bytes(const void *data, size_t size, const slm_mapfile *map,
                             const char *name, slm_gguf **out)
{
    slm_status st = SLM_OK;
    slm_gguf *g = slm_calloc(1, sizeof *g);
    SLM_CHECK(g != NULL, SLM_ERR_NOMEM, "%s: cannot allocate the GGUF handle", name);
    g->base = data;
    g->size = size;
    if (map) g->map = *map;
    st = parse(g);
    if (st != SLM_OK) {
        slm_error_prefix(name);
        goto fail;
    }
    *out = g;
    return SLM_OK;

fail:
    if (g) {
        memset(&g->map, 0, sizeof g->map); /* the caller still owns the mapping */
        slm_gguf_close(g);
    }
    return st;
}

slm_status slm_gguf_open(const char *path, int use_mmap, slm_gguf **out)
{
    slm_mapfile map;
    if (!out) return slm_fail(SLM_ERR_ARG, "slm_gguf_open: NULL out");
    *out = NULL;
    slm_error_clear();
    if (!path) return slm_fail(SLM_ERR_ARG, "slm_gguf_open: NULL path");
    slm_status st = slm_mapfile_open(path, use_mmap, &map);
    if (st != SLM_OK) return st;
    st = open_bytes(map.data, map.size, &map, path, out);
    if (st != SLM_OK) slm_mapfile_close(&map);
    return st;
}

slm_status slm_gguf_open_buffer(const void *data, size_t size, slm_gguf **out)
{
    if (!out) return slm_fail(SLM_ERR_ARG, "slm_gguf_open_buffer: NULL out");
    *out = NULL;
    slm_error_clear();
    if (!data && size) return slm_fail(SLM_ERR_ARG, "slm_gguf_open_buffer: NULL data, size %zu", size);
    static const uint8_t empty[1];
    return open_bytes(data ? data : empty, size, NULL, "<buffer>", out);
}

void slm_gguf_close(slm_gguf *g)
{
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++) slm_free(g->kv[i].str_off);
    slm_free(g->kv);
    slm_free(g->tensors);
    slm_free(g->names);
    slm_free(g->key_hash);
    slm_free(g->tensor_hash);
    slm_mapfile_close(&g->map);
    slm_free(g);
}

/* ---- accessors ---------------------------------------------------------- */

uint32_t slm_gguf_version(const slm_gguf *g) { return g->version; }
uint32_t slm_gguf_alignment(const slm_gguf *g) { return g->alignment; }
uint64_t slm_gguf_file_size(const slm_gguf *g) { return g->size; }
const void *slm_gguf_base(const slm_gguf *g) { return g->base; }

int64_t slm_gguf_n_kv(const slm_gguf *g) { return g->n_kv; }

const char *slm_gguf_key(const slm_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}

slm_gguf_type slm_gguf_kv_type(const slm_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_kv ? g->kv[i].type : SLM_GGUF_TYPE_COUNT;
}

int64_t slm_gguf_find_key(const slm_gguf *g, const char *key)
{
    if (!key) return -1;
    size_t s = hash_slot(g->key_hash, g->key_cap, key, key_name_of, g);
    return g->key_hash[s] ? (int64_t)g->key_hash[s] - 1 : -1;
}

/* The entry for key, or NULL with SLM_ERR_ARG recorded. */
static const kv_entry *lookup(const slm_gguf *g, const char *key, slm_status *st)
{
    int64_t i = slm_gguf_find_key(g, key);
    if (i < 0) {
        *st = slm_fail(SLM_ERR_ARG, "key '%s' not found", key ? key : "(null)");
        return NULL;
    }
    *st = SLM_OK;
    return &g->kv[i];
}

static slm_status wrong_type(const kv_entry *e, const char *expected)
{
    return slm_fail(SLM_ERR_FORMAT, "key '%s' has type %s, expected %s", e->key,
                    gguf_type_name(e->type), expected);
}

/* Integer value of key: signed (neg=1, *s) or unsigned (*u). */
static slm_status get_int(const slm_gguf *g, const char *key, int *neg, int64_t *s, uint64_t *u,
                          const kv_entry **ep)
{
    slm_status st;
    const kv_entry *e = lookup(g, key, &st);
    if (!e) return st;
    if (!is_int_type(e->type)) return wrong_type(e, "an integer type");
    decode_int(e->type, g->base + e->val, neg, s, u);
    *ep = e;
    return SLM_OK;
}

slm_status slm_gguf_get_u32(const slm_gguf *g, const char *key, uint32_t *out)
{
    const kv_entry *e = NULL;
    int neg = 0;
    int64_t s = 0;
    uint64_t u = 0;
    slm_status st = get_int(g, key, &neg, &s, &u, &e);
    if (st != SLM_OK) return st;
    if (neg)
        return slm_fail(SLM_ERR_FORMAT, "key '%s' is %lld (%s), expected 0..4294967295", key,
                        (long long)s, gguf_type_name(e->type));
    if (u > UINT32_MAX)
        return slm_fail(SLM_ERR_FORMAT, "key '%s' is %llu (%s), expected 0..4294967295", key,
                        (unsigned long long)u, gguf_type_name(e->type));
    *out = (uint32_t)u;
    return SLM_OK;
}

slm_status slm_gguf_get_i64(const slm_gguf *g, const char *key, int64_t *out)
{
    const kv_entry *e = NULL;
    int neg = 0;
    int64_t s = 0;
    uint64_t u = 0;
    slm_status st = get_int(g, key, &neg, &s, &u, &e);
    if (st != SLM_OK) return st;
    if (neg) {
        *out = s;
        return SLM_OK;
    }
    if (u > (uint64_t)INT64_MAX)
        return slm_fail(SLM_ERR_FORMAT, "key '%s' is %llu (%s), expected at most %lld", key,
                        (unsigned long long)u, gguf_type_name(e->type), (long long)INT64_MAX);
    *out = (int64_t)u;
    return SLM_OK;
}

slm_status slm_gguf_get_f32(const slm_gguf *g, const char *key, float *out)
{
    slm_status st;
    const kv_entry *e = lookup(g, key, &st);
    if (!e) return st;
    if (e->type == SLM_GGUF_FLOAT32)
        *out = lef32(g->base + e->val);
    else if (e->type == SLM_GGUF_FLOAT64)
        *out = (float)lef64(g->base + e->val);
    else
        return wrong_type(e, "FLOAT32 or FLOAT64");
    return SLM_OK;
}

slm_status slm_gguf_get_bool(const slm_gguf *g, const char *key, int *out)
{
    slm_status st;
    const kv_entry *e = lookup(g, key, &st);
    if (!e) return st;
    if (e->type != SLM_GGUF_BOOL) return wrong_type(e, "BOOL");
    *out = g->base[e->val] != 0;
    return SLM_OK;
}

slm_status slm_gguf_get_str(const slm_gguf *g, const char *key, const char **ptr, size_t *len)
{
    slm_status st;
    const kv_entry *e = lookup(g, key, &st);
    if (!e) return st;
    if (e->type != SLM_GGUF_STRING) return wrong_type(e, "STRING");
    *ptr = (const char *)g->base + e->val;
    *len = (size_t)e->n;
    return SLM_OK;
}

slm_status slm_gguf_get_arr(const slm_gguf *g, const char *key, slm_gguf_type *elem_type,
                            uint64_t *n)
{
    slm_status st;
    const kv_entry *e = lookup(g, key, &st);
    if (!e) return st;
    if (e->type != SLM_GGUF_ARRAY) return wrong_type(e, "ARRAY");
    *elem_type = e->elem_type;
    *n = e->n;
    return SLM_OK;
}

/* Out-of-range indices and non-numeric arrays give 0 (the caller was
 * supposed to check; this keeps a mistake from reading outside the file). */
double slm_gguf_arr_num(const slm_gguf *g, int64_t kv, uint64_t i)
{
    if (kv < 0 || kv >= g->n_kv) return 0.0;
    const kv_entry *e = &g->kv[kv];
    size_t sz = scalar_size(e->elem_type);
    if (e->type != SLM_GGUF_ARRAY || sz == 0 || i >= e->n) return 0.0;
    return decode_num(e->elem_type, g->base + e->val + (size_t)i * sz);
}

/* Out-of-range or non-string: NULL and *len = 0. */
const char *slm_gguf_arr_str(const slm_gguf *g, int64_t kv, uint64_t i, size_t *len)
{
    *len = 0;
    if (kv < 0 || kv >= g->n_kv) return NULL;
    const kv_entry *e = &g->kv[kv];
    if (e->type != SLM_GGUF_ARRAY || e->elem_type != SLM_GGUF_STRING || i >= e->n) return NULL;
    size_t off = e->str_off[i];
    *len = (size_t)le64(g->base + off);
    return (const char *)g->base + off + 8;
}

int64_t slm_gguf_n_tensors(const slm_gguf *g) { return g->n_tensors; }

const slm_gguf_tensor *slm_gguf_tensor_at(const slm_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const slm_gguf_tensor *slm_gguf_find_tensor(const slm_gguf *g, const char *name)
{
    if (!name) return NULL;
    size_t s = hash_slot(g->tensor_hash, g->tensor_cap, name, tensor_name_of, g);
    return g->tensor_hash[s] ? &g->tensors[g->tensor_hash[s] - 1] : NULL;
}

/* ---- for write.c: the raw bytes of a value ------------------------------ */

/* The stored bytes of key/value i after its type field (for copy_kv). */
slm_status slm_gguf_raw_value(const slm_gguf *g, int64_t i, const void **bytes, size_t *n);
slm_status slm_gguf_raw_value(const slm_gguf *g, int64_t i, const void **bytes, size_t *n)
{
    if (i < 0 || i >= g->n_kv)
        return slm_fail(SLM_ERR_ARG, "key/value index %lld out of range (0..%lld)", (long long)i,
                        (long long)g->n_kv - 1);
    *bytes = g->base + g->kv[i].raw_begin;
    *n = g->kv[i].raw_end - g->kv[i].raw_begin;
    return SLM_OK;
}
