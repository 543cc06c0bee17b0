/* test_gguf.c — the GGUF reader and writer (unit; needs nothing from ../shared).
 *
 * Expectations come from files built byte by byte in this test (a second,
 * independent encoder of the format in read.c's table), from round trips
 * through the writer, and from invariants that must hold for any input
 * (every tensor inside the buffer, every failure a clean status).
 */
#include <dirent.h>
#include <sys/stat.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/status.h"
#include "gguf/gguf.h"
#include "harness.h"
#include "quant/types.h"

static char tmp_dir[64];

/* ---- a byte builder: an encoder independent of write.c ------------------ */

typedef struct bb {
    uint8_t *p;
    size_t n, cap;
} bb;

static void bb_bytes(bb *b, const void *s, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void bb_le(bb *b, uint64_t v, int n)
{
    uint8_t t[8];
    for (int i = 0; i < n; i++) t[i] = (uint8_t)(v >> (8 * i));
    bb_bytes(b, t, (size_t)n);
}
static void bb_u32(bb *b, uint32_t v) { bb_le(b, v, 4); }
static void bb_u64(bb *b, uint64_t v) { bb_le(b, v, 8); }
static void bb_str(bb *b, const char *s)
{
    bb_u64(b, strlen(s));
    bb_bytes(b, s, strlen(s));
}
static void bb_pad(bb *b, size_t align)
{
    while (b->n % align) bb_le(b, 0, 1);
}

/* ---- handcrafted files: one valid layout and its corruptions ------------ */

enum corruption {
    C_NONE,
    C_BAD_MAGIC,
    C_VERSION_1,
    C_VERSION_4,
    C_VERSION_2, /* valid: v2 has the same layout */
    C_HUGE_N_KV,
    C_HUGE_N_TENSORS,
    C_HUGE_KEY_LENGTH,
    C_HUGE_STRING_VALUE,
    C_NUMERIC_ARRAY_OVERFLOW,
    C_STRING_ARRAY_TOO_LONG,
    C_ARRAY_OF_ARRAYS,
    C_ARRAY_BAD_ELEM_TYPE,
    C_BAD_VALUE_TYPE,
    C_KEY_WITH_NUL,
    C_DUPLICATE_KEY,
    C_NDIMS_0,
    C_NDIMS_5,
    C_NEGATIVE_NE,
    C_NE_PRODUCT_OVERFLOW,
    C_UNKNOWN_TYPE,
    C_REMOVED_TYPE,
    C_ROW_NOT_BLOCK_MULTIPLE,
    C_MISALIGNED_OFFSET,
    C_TENSOR_PAST_EOF,
    C_OFFSET_WRAPS,
    C_DUPLICATE_TENSOR,
    C_TENSOR_NAME_NUL,
    C_ALIGNMENT_0,
    C_ALIGNMENT_3,
    C_ALIGNMENT_WRONG_TYPE,
    C_TRUNCATED_HEADER,
    C_DATA_START_PAST_EOF,
    C_COUNT
};

static const struct {
    const char *name;
    slm_status expect;
    const char *msg_part; /* must appear in slm_last_error() */
} corruption_info[C_COUNT] = {
    [C_NONE] = {"none", SLM_OK, NULL},
    [C_BAD_MAGIC] = {"bad magic", SLM_ERR_FORMAT, "magic"},
    [C_VERSION_1] = {"version 1", SLM_ERR_UNSUPPORTED, "version 1"},
    [C_VERSION_4] = {"version 4", SLM_ERR_UNSUPPORTED, "version 4"},
    [C_VERSION_2] = {"version 2", SLM_OK, NULL},
    [C_HUGE_N_KV] = {"huge n_kv", SLM_ERR_FORMAT, "n_kv"},
    [C_HUGE_N_TENSORS] = {"huge n_tensors", SLM_ERR_FORMAT, "n_tensors"},
    [C_HUGE_KEY_LENGTH] = {"huge key length", SLM_ERR_FORMAT, "key"},
    [C_HUGE_STRING_VALUE] = {"huge string value", SLM_ERR_FORMAT, "general.architecture"},
    [C_NUMERIC_ARRAY_OVERFLOW] = {"array count overflow", SLM_ERR_FORMAT, "general.alignment"},
    [C_STRING_ARRAY_TOO_LONG] = {"string array too long", SLM_ERR_FORMAT, "tokenizer.ggml.tokens"},
    [C_ARRAY_OF_ARRAYS] = {"array of arrays", SLM_ERR_UNSUPPORTED, "arrays of arrays"},
    [C_ARRAY_BAD_ELEM_TYPE] = {"array element type 13", SLM_ERR_FORMAT, "element type 13"},
    [C_BAD_VALUE_TYPE] = {"value type 13", SLM_ERR_FORMAT, "value type 13"},
    [C_KEY_WITH_NUL] = {"key with NUL", SLM_ERR_FORMAT, "NUL"},
    [C_DUPLICATE_KEY] = {"duplicate key", SLM_ERR_FORMAT, "twice"},
    [C_NDIMS_0] = {"n_dims 0", SLM_ERR_FORMAT, "n_dims is 0"},
    [C_NDIMS_5] = {"n_dims 5", SLM_ERR_FORMAT, "n_dims is 5"},
    [C_NEGATIVE_NE] = {"negative ne", SLM_ERR_FORMAT, "negative"},
    [C_NE_PRODUCT_OVERFLOW] = {"ne product overflow", SLM_ERR_FORMAT, "overflow"},
    [C_UNKNOWN_TYPE] = {"tensor type 99", SLM_ERR_UNSUPPORTED, "type 99"},
    [C_REMOVED_TYPE] = {"tensor type 4 (removed Q4_2)", SLM_ERR_UNSUPPORTED, "type 4"},
    [C_ROW_NOT_BLOCK_MULTIPLE] = {"ne[0] not a block multiple", SLM_ERR_FORMAT, "block size"},
    [C_MISALIGNED_OFFSET] = {"misaligned offset", SLM_ERR_FORMAT, "alignment"},
    [C_TENSOR_PAST_EOF] = {"tensor past EOF", SLM_ERR_FORMAT, "'out': data [320, 356) past end"},
    [C_OFFSET_WRAPS] = {"offset wraps", SLM_ERR_FORMAT, "past end of file"},
    [C_DUPLICATE_TENSOR] = {"duplicate tensor name", SLM_ERR_FORMAT, "'tok' appears twice"},
    [C_TENSOR_NAME_NUL] = {"tensor name with NUL", SLM_ERR_FORMAT, "NUL"},
    [C_ALIGNMENT_0] = {"alignment 0", SLM_ERR_FORMAT, "power of two"},
    [C_ALIGNMENT_3] = {"alignment 3", SLM_ERR_FORMAT, "power of two"},
    [C_ALIGNMENT_WRONG_TYPE] = {"alignment as INT64", SLM_ERR_FORMAT, "UINT32"},
    [C_TRUNCATED_HEADER] = {"truncated header", SLM_ERR_FORMAT, "n_tensors"},
    [C_DATA_START_PAST_EOF] = {"data section past EOF", SLM_ERR_FORMAT, "past end"},
};

/* The valid layout (C_NONE), 32-byte aligned:
 *   kv general.architecture = "llama"; general.alignment = 32 (UINT32);
 *   tokenizer.ggml.tokens = ["a", "bc"]
 *   tensor "tok": Q4_0 [32, 2] at 0 (2 blocks, 36 bytes)
 *   tensor "out": F32 [8] at 64 (32 bytes), ending exactly at end of file. */
static uint8_t *make_file(enum corruption c, size_t *size)
{
    bb b = {0};
    bb_bytes(&b, c == C_BAD_MAGIC ? "GGUG" : "GGUF", 4);
    bb_u32(&b, c == C_VERSION_1 ? 1 : c == C_VERSION_4 ? 4 : c == C_VERSION_2 ? 2 : 3);
    if (c == C_TRUNCATED_HEADER) {
        bb_u32(&b, 2); /* half of n_tensors */
        *size = b.n;
        return b.p;
    }
    bb_u64(&b, c == C_HUGE_N_TENSORS ? UINT64_MAX / 16 : 2);
    bb_u64(&b, c == C_HUGE_N_KV ? (uint64_t)1 << 60 : c == C_DUPLICATE_KEY ? 4 : 3);

    if (c == C_HUGE_KEY_LENGTH) {
        bb_u64(&b, (uint64_t)1 << 62);
        bb_bytes(&b, "general.architecture", 20);
    } else {
        bb_str(&b, c == C_KEY_WITH_NUL ? "general.arch" : "general.architecture");
        if (c == C_KEY_WITH_NUL) { /* patch a NUL into the key */
            b.p[b.n - 3] = 0;
        }
    }
    bb_u32(&b, c == C_BAD_VALUE_TYPE ? 13 : SLM_GGUF_STRING);
    if (c == C_HUGE_STRING_VALUE) {
        bb_u64(&b, UINT64_MAX - 3);
        bb_bytes(&b, "llama", 5);
    } else {
        bb_str(&b, "llama");
    }

    bb_str(&b, "general.alignment");
    if (c == C_NUMERIC_ARRAY_OVERFLOW) {
        bb_u32(&b, SLM_GGUF_ARRAY);
        bb_u32(&b, SLM_GGUF_UINT32);
        bb_u64(&b, ((uint64_t)1 << 62) + 1); /* x 4 bytes wraps to 4 */
        bb_u32(&b, 32);
    } else if (c == C_ALIGNMENT_WRONG_TYPE) {
        bb_u32(&b, SLM_GGUF_INT64);
        bb_u64(&b, 32);
    } else {
        bb_u32(&b, SLM_GGUF_UINT32);
        bb_u32(&b, c == C_ALIGNMENT_0 ? 0 : c == C_ALIGNMENT_3 ? 3 : 32);
    }

    bb_str(&b, "tokenizer.ggml.tokens");
    bb_u32(&b, SLM_GGUF_ARRAY);
    bb_u32(&b, c == C_ARRAY_OF_ARRAYS ? SLM_GGUF_ARRAY
               : c == C_ARRAY_BAD_ELEM_TYPE ? 13 : SLM_GGUF_STRING);
    bb_u64(&b, c == C_STRING_ARRAY_TOO_LONG ? (uint64_t)1 << 40 : 2);
    bb_str(&b, "a");
    bb_str(&b, "bc");

    if (c == C_DUPLICATE_KEY) {
        bb_str(&b, "general.architecture");
        bb_u32(&b, SLM_GGUF_STRING);
        bb_str(&b, "qwen2");
    }

    /* tensor "tok" */
    bb_str(&b, c == C_TENSOR_NAME_NUL ? "to_" : "tok");
    if (c == C_TENSOR_NAME_NUL) b.p[b.n - 1] = 0;
    uint32_t n_dims = c == C_NDIMS_0 ? 0 : c == C_NDIMS_5 ? 5 : 2;
    bb_u32(&b, n_dims);
    if (c == C_NEGATIVE_NE) {
        bb_u64(&b, 32);
        bb_u64(&b, (uint64_t)-2);
    } else if (c == C_NE_PRODUCT_OVERFLOW) {
        bb_u64(&b, (uint64_t)1 << 32);
        bb_u64(&b, (uint64_t)1 << 32);
    } else {
        bb_u64(&b, c == C_ROW_NOT_BLOCK_MULTIPLE ? 33 : 32);
        bb_u64(&b, 2);
        for (uint32_t d = 2; d < n_dims; d++) bb_u64(&b, 1);
    }
    bb_u32(&b, c == C_UNKNOWN_TYPE ? 99 : c == C_REMOVED_TYPE ? 4 : SLM_TYPE_Q4_0);
    bb_u64(&b, c == C_MISALIGNED_OFFSET ? 16 : 0);

    /* tensor "out" */
    bb_str(&b, c == C_DUPLICATE_TENSOR ? "tok" : "out");
    bb_u32(&b, 1);
    bb_u64(&b, c == C_TENSOR_PAST_EOF ? 9 : 8);
    bb_u32(&b, SLM_TYPE_F32);
    bb_u64(&b, c == C_OFFSET_WRAPS ? UINT64_MAX - 31 : 64);

    if (c == C_DATA_START_PAST_EOF) {
        *size = b.n + 1; /* one byte of padding, then nothing */
        bb_le(&b, 0, 1);
        return b.p;
    }
    bb_pad(&b, 32);
    for (int i = 0; i < 36; i++) bb_le(&b, (uint64_t)(0x40 + i), 1); /* tok */
    bb_pad(&b, 32);
    for (int i = 0; i < 8; i++) { /* out: 0.5 * i */
        float f = 0.5f * (float)i;
        uint32_t u;
        memcpy(&u, &f, 4);
        bb_u32(&b, u);
    }
    *size = b.n;
    return b.p;
}

/* Copy into an exact-size heap buffer so ASan sees any over-read. */
static slm_status open_exact(const uint8_t *p, size_t n, uint8_t **copy, slm_gguf **g)
{
    *copy = malloc(n ? n : 1);
    if (n) memcpy(*copy, p, n);
    return slm_gguf_open_buffer(n ? *copy : NULL, n, g);
}

/* Read everything a consumer could read; checks the reader's promise that
 * every tensor lies inside the buffer. Returns 0 if a promise is broken. */
static int walk_all(const slm_gguf *g, const uint8_t *buf, size_t size)
{
    int ok = 1;
    volatile double sink = 0;
    for (int64_t i = 0; i < slm_gguf_n_kv(g); i++) {
        const char *k = slm_gguf_key(g, i);
        if (!k || slm_gguf_find_key(g, k) != i) ok = 0;
        slm_gguf_type t = slm_gguf_kv_type(g, i);
        const char *s;
        size_t len;
        uint32_t u32;
        int64_t i64;
        float f;
        int bo;
        slm_gguf_type et;
        uint64_t n;
        (void)slm_gguf_get_u32(g, k, &u32);
        (void)slm_gguf_get_i64(g, k, &i64);
        (void)slm_gguf_get_f32(g, k, &f);
        (void)slm_gguf_get_bool(g, k, &bo);
        if (slm_gguf_get_str(g, k, &s, &len) == SLM_OK) {
            if ((const uint8_t *)s < buf || (const uint8_t *)s + len > buf + size) ok = 0;
            for (size_t j = 0; j < len; j++) sink += s[j];
        }
        if (slm_gguf_get_arr(g, k, &et, &n) == SLM_OK) {
            if (t != SLM_GGUF_ARRAY) ok = 0;
            for (uint64_t j = 0; j < n; j++) {
                if (et == SLM_GGUF_STRING) {
                    s = slm_gguf_arr_str(g, i, j, &len);
                    if (!s || (const uint8_t *)s < buf || (const uint8_t *)s + len > buf + size)
                        ok = 0;
                    else if (len)
                        sink += s[0] + s[len - 1];
                } else {
                    sink += slm_gguf_arr_num(g, i, j);
                }
            }
        }
    }
    for (int64_t i = 0; i < slm_gguf_n_tensors(g); i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(g, i);
        if (slm_gguf_find_tensor(g, t->name) != t) ok = 0;
        const uint8_t *d = t->data;
        if (d < buf || t->nbytes > size || d + t->nbytes > buf + size) ok = 0;
        if (t->n_dims < 1 || t->n_dims > 4) ok = 0;
        if (ok && t->nbytes) sink += d[0] + d[t->nbytes - 1];
    }
    (void)sink;
    return ok;
}

/* ---- handcrafted files -------------------------------------------------- */

static void gguf_reads_handcrafted_file(void)
{
    size_t n;
    uint8_t *file = make_file(C_NONE, &n), *copy;
    slm_gguf *g;
    slm_status st = open_exact(file, n, &copy, &g);
    REQUIRE(st == SLM_OK, "open: %s %s", slm_status_name(st), slm_last_error());
    CHECK(slm_gguf_version(g) == 3, "version %u", slm_gguf_version(g));
    CHECK(slm_gguf_alignment(g) == 32, "alignment %u", slm_gguf_alignment(g));
    CHECK(slm_gguf_file_size(g) == n, "file size");
    CHECK(slm_gguf_base(g) == copy, "base");
    CHECK(slm_gguf_n_kv(g) == 3 && slm_gguf_n_tensors(g) == 2, "counts");
    const char *s;
    size_t len;
    CHECK(slm_gguf_get_str(g, "general.architecture", &s, &len) == SLM_OK && len == 5 &&
              memcmp(s, "llama", 5) == 0, "architecture");
    int64_t k = slm_gguf_find_key(g, "tokenizer.ggml.tokens");
    CHECK(k == 2, "tokens key at %lld", (long long)k);
    s = slm_gguf_arr_str(g, k, 1, &len);
    CHECK(s && len == 2 && memcmp(s, "bc", 2) == 0, "token 1");
    CHECK(slm_gguf_arr_str(g, k, 2, &len) == NULL && len == 0, "out of range element");
    const slm_gguf_tensor *tok = slm_gguf_find_tensor(g, "tok");
    const slm_gguf_tensor *out = slm_gguf_find_tensor(g, "out");
    REQUIRE(tok && out, "tensors not found");
    CHECK(tok->type == SLM_TYPE_Q4_0 && tok->n_dims == 2 && tok->ne[0] == 32 && tok->ne[1] == 2 &&
              tok->ne[2] == 1 && tok->ne[3] == 1 && tok->nbytes == 36, "tok shape");
    /* The header here is 4+4+8+8 + kvs + infos; data starts at the next
     * multiple of 32 and "out" 64 bytes later, ending at the end of file. */
    CHECK((const uint8_t *)out->data + 32 == copy + n, "out ends at end of file");
    CHECK((const uint8_t *)tok->data + 64 == (const uint8_t *)out->data, "tok 64 bytes before");
    CHECK(((const uint8_t *)tok->data)[0] == 0x40 && ((const uint8_t *)tok->data)[35] == 0x63,
          "tok bytes");
    float f;
    memcpy(&f, (const uint8_t *)out->data + 28, 4);
    CHECK(f == 3.5f, "out[7] = %g", f);
    CHECK(slm_gguf_find_tensor(g, "nope") == NULL, "absent tensor");
    CHECK(slm_gguf_find_key(g, "nope") == -1, "absent key");
    CHECK(slm_gguf_tensor_at(g, 2) == NULL && slm_gguf_tensor_at(g, -1) == NULL, "tensor_at range");
    CHECK(slm_gguf_key(g, 3) == NULL, "key range");
    CHECK(walk_all(g, copy, n), "walk");
    slm_gguf_close(g);
    free(copy);
    free(file);
}

static void gguf_rejects_each_handcrafted_corruption(void)
{
    for (int c = 0; c < C_COUNT; c++) {
        size_t n;
        uint8_t *file = make_file((enum corruption)c, &n), *copy;
        slm_gguf *g = (slm_gguf *)&n; /* must be reset to NULL on failure */
        slm_status st = open_exact(file, n, &copy, &g);
        CHECK(st == corruption_info[c].expect, "%s: got %s (%s), expected %s",
              corruption_info[c].name, slm_status_name(st), slm_last_error(),
              slm_status_name(corruption_info[c].expect));
        if (st == SLM_OK) {
            CHECK(walk_all(g, copy, n), "%s: walk", corruption_info[c].name);
            slm_gguf_close(g);
        } else {
            CHECK(g == NULL, "%s: output not NULL on failure", corruption_info[c].name);
            const char *msg = slm_last_error();
            CHECK(strncmp(msg, "<buffer>: ", 10) == 0, "%s: message '%s' does not name the file",
                  corruption_info[c].name, msg);
            if (corruption_info[c].msg_part)
                CHECK(strstr(msg, corruption_info[c].msg_part) != NULL,
                      "%s: message '%s' lacks '%s'", corruption_info[c].name, msg,
                      corruption_info[c].msg_part);
        }
        free(copy);
        free(file);
    }
}

static void gguf_rejects_every_truncation(void)
{
    size_t n;
    uint8_t *file = make_file(C_NONE, &n);
    for (size_t len = 0; len < n; len++) {
        uint8_t *copy;
        slm_gguf *g;
        slm_status st = open_exact(file, len, &copy, &g);
        CHECK(st == SLM_ERR_FORMAT && g == NULL, "length %zu of %zu: %s", len, n,
              slm_status_name(st));
        if (st == SLM_OK) slm_gguf_close(g);
        free(copy);
    }
    free(file);
}

static void gguf_survives_byte_corruption(void)
{
    size_t n;
    uint8_t *file = make_file(C_NONE, &n);
    static const uint8_t vals[] = {0x00, 0x01, 0x02, 0x05, 0x0d, 0x20, 0x7f, 0x80, 0xfe, 0xff};
    size_t header = n - 96; /* everything before the data section */
    int n_ok = 0, n_err = 0, broken = 0;
    for (size_t off = 0; off < header; off++) {
        for (size_t v = 0; v < sizeof vals + 1; v++) {
            uint8_t *mut = malloc(n), *copy;
            memcpy(mut, file, n);
            mut[off] = v < sizeof vals ? vals[v] : (uint8_t)(file[off] ^ 0x40);
            slm_gguf *g;
            slm_status st = open_exact(mut, n, &copy, &g);
            if (st == SLM_OK) {
                n_ok++;
                if (!walk_all(g, copy, n)) broken++;
                slm_gguf_close(g);
            } else {
                n_err++;
                if (g != NULL || (st != SLM_ERR_FORMAT && st != SLM_ERR_UNSUPPORTED)) broken++;
            }
            free(copy);
            free(mut);
        }
    }
    CHECK(broken == 0, "%d corrupted inputs broke a promise", broken);
    CHECK(n_ok > 0 && n_err > 0, "ok %d, errors %d", n_ok, n_err);
    printf("     byte corruption: %d opened, %d rejected\n", n_ok, n_err);
    free(file);
}

static void gguf_open_fails_cleanly_on_every_allocation_failure(void)
{
    size_t n;
    uint8_t *file = make_file(C_NONE, &n);
    long i;
    for (i = 0; i < 1000; i++) {
        slm_gguf *g;
        slm_alloc_fail_after(i);
        slm_status st = slm_gguf_open_buffer(file, n, &g);
        slm_alloc_fail_after(-1);
        if (st == SLM_OK) {
            CHECK(walk_all(g, file, n), "walk after %ld", i);
            slm_gguf_close(g);
            break;
        }
        CHECK(st == SLM_ERR_NOMEM && g == NULL, "failing allocation %ld: %s (%s)", i,
              slm_status_name(st), slm_last_error());
    }
    CHECK(i > 2 && i < 1000, "open needed %ld allocations", i);
    free(file);
}

/* A tensor with a zero dimension holds no bytes and may sit at the end of
 * the data section (llama.cpp accepts ne = 0 too). */
static void gguf_accepts_zero_sized_tensor(void)
{
    bb b = {0};
    bb_bytes(&b, "GGUF", 4);
    bb_u32(&b, 3);
    bb_u64(&b, 1);
    bb_u64(&b, 0);
    bb_str(&b, "empty");
    bb_u32(&b, 2);
    bb_u64(&b, 256);
    bb_u64(&b, 0);
    bb_u32(&b, SLM_TYPE_Q4_K);
    bb_u64(&b, 0);
    bb_pad(&b, 32);
    uint8_t *copy;
    slm_gguf *g;
    slm_status st = open_exact(b.p, b.n, &copy, &g);
    REQUIRE(st == SLM_OK, "open: %s", slm_last_error());
    const slm_gguf_tensor *t = slm_gguf_find_tensor(g, "empty");
    CHECK(t && t->nbytes == 0 && t->ne[0] == 256 && t->ne[1] == 0, "zero-sized tensor");
    slm_gguf_close(g);
    free(copy);
    free(b.p);
}

/* ---- typed getters ------------------------------------------------------ */

/* A file with one key of each scalar type and numeric arrays of several. */
static uint8_t *make_typed_file(size_t *size)
{
    bb b = {0};
    bb_bytes(&b, "GGUF", 4);
    bb_u32(&b, 3);
    bb_u64(&b, 0);
    bb_u64(&b, 17);
    bb_str(&b, "u8"); bb_u32(&b, SLM_GGUF_UINT8); bb_le(&b, 200, 1);
    bb_str(&b, "i8"); bb_u32(&b, SLM_GGUF_INT8); bb_le(&b, (uint8_t)-5, 1);
    bb_str(&b, "u16"); bb_u32(&b, SLM_GGUF_UINT16); bb_le(&b, 65535, 2);
    bb_str(&b, "i16"); bb_u32(&b, SLM_GGUF_INT16); bb_le(&b, (uint16_t)-300, 2);
    bb_str(&b, "u32"); bb_u32(&b, SLM_GGUF_UINT32); bb_u32(&b, 4000000000u);
    bb_str(&b, "i32"); bb_u32(&b, SLM_GGUF_INT32); bb_u32(&b, (uint32_t)-7);
    bb_str(&b, "u64"); bb_u32(&b, SLM_GGUF_UINT64); bb_u64(&b, (uint64_t)1 << 40);
    bb_str(&b, "u64big"); bb_u32(&b, SLM_GGUF_UINT64); bb_u64(&b, UINT64_MAX);
    bb_str(&b, "i64"); bb_u32(&b, SLM_GGUF_INT64); bb_u64(&b, (uint64_t)INT64_MIN);
    float f = 1.25f;
    uint32_t fu;
    memcpy(&fu, &f, 4);
    bb_str(&b, "f32"); bb_u32(&b, SLM_GGUF_FLOAT32); bb_u32(&b, fu);
    double d = -2.5e-3;
    uint64_t du;
    memcpy(&du, &d, 8);
    bb_str(&b, "f64"); bb_u32(&b, SLM_GGUF_FLOAT64); bb_u64(&b, du);
    bb_str(&b, "bool"); bb_u32(&b, SLM_GGUF_BOOL); bb_le(&b, 2, 1); /* nonzero = true */
    bb_str(&b, "str"); bb_u32(&b, SLM_GGUF_STRING); bb_str(&b, "");
    bb_str(&b, "arr_u8"); bb_u32(&b, SLM_GGUF_ARRAY); bb_u32(&b, SLM_GGUF_UINT8); bb_u64(&b, 3);
    bb_le(&b, 1, 1); bb_le(&b, 2, 1); bb_le(&b, 255, 1);
    bb_str(&b, "arr_i64"); bb_u32(&b, SLM_GGUF_ARRAY); bb_u32(&b, SLM_GGUF_INT64); bb_u64(&b, 2);
    bb_u64(&b, (uint64_t)-9); bb_u64(&b, (uint64_t)1 << 50);
    bb_str(&b, "arr_f64"); bb_u32(&b, SLM_GGUF_ARRAY); bb_u32(&b, SLM_GGUF_FLOAT64); bb_u64(&b, 1);
    bb_u64(&b, du);
    bb_str(&b, "arr_empty"); bb_u32(&b, SLM_GGUF_ARRAY); bb_u32(&b, SLM_GGUF_BOOL); bb_u64(&b, 0);
    *size = b.n;
    return b.p;
}

static void gguf_getters_convert_as_documented(void)
{
    size_t n;
    uint8_t *file = make_typed_file(&n), *copy;
    slm_gguf *g;
    slm_status st = open_exact(file, n, &copy, &g);
    REQUIRE(st == SLM_OK, "open: %s", slm_last_error());
    CHECK(slm_gguf_n_tensors(g) == 0 && slm_gguf_n_kv(g) == 17, "counts");
    uint32_t u = 0;
    int64_t i = 0;
    float f = 0;
    int b = 0;
    CHECK(slm_gguf_get_u32(g, "u8", &u) == SLM_OK && u == 200, "u8 -> u32");
    CHECK(slm_gguf_get_u32(g, "u16", &u) == SLM_OK && u == 65535, "u16 -> u32");
    CHECK(slm_gguf_get_u32(g, "u32", &u) == SLM_OK && u == 4000000000u, "u32");
    CHECK(slm_gguf_get_u32(g, "u64", &u) == SLM_ERR_FORMAT, "2^40 does not fit u32");
    CHECK(strstr(slm_last_error(), "u64") != NULL, "message names key: %s", slm_last_error());
    CHECK(slm_gguf_get_u32(g, "i8", &u) == SLM_ERR_FORMAT, "-5 does not fit u32");
    CHECK(slm_gguf_get_u32(g, "f32", &u) == SLM_ERR_FORMAT, "float is not an integer");
    CHECK(strstr(slm_last_error(), "FLOAT32") != NULL, "message names type: %s", slm_last_error());
    CHECK(slm_gguf_get_u32(g, "absent", &u) == SLM_ERR_ARG, "absent");
    CHECK(slm_gguf_get_i64(g, "i8", &i) == SLM_OK && i == -5, "i8 -> i64");
    CHECK(slm_gguf_get_i64(g, "i16", &i) == SLM_OK && i == -300, "i16 -> i64");
    CHECK(slm_gguf_get_i64(g, "i32", &i) == SLM_OK && i == -7, "i32 -> i64");
    CHECK(slm_gguf_get_i64(g, "i64", &i) == SLM_OK && i == INT64_MIN, "i64");
    CHECK(slm_gguf_get_i64(g, "u64", &i) == SLM_OK && i == (int64_t)1 << 40, "u64 -> i64");
    CHECK(slm_gguf_get_i64(g, "u64big", &i) == SLM_ERR_FORMAT, "2^64-1 does not fit i64");
    CHECK(slm_gguf_get_i64(g, "bool", &i) == SLM_ERR_FORMAT, "bool is not an integer");
    CHECK(slm_gguf_get_f32(g, "f32", &f) == SLM_OK && f == 1.25f, "f32");
    CHECK(slm_gguf_get_f32(g, "f64", &f) == SLM_OK && f == (float)-2.5e-3, "f64 -> f32");
    CHECK(slm_gguf_get_f32(g, "u8", &f) == SLM_ERR_FORMAT, "u8 is not a float");
    CHECK(slm_gguf_get_bool(g, "bool", &b) == SLM_OK && b == 1, "bool 2 is true");
    CHECK(slm_gguf_get_bool(g, "u8", &b) == SLM_ERR_FORMAT, "u8 is not a bool");
    const char *s = NULL;
    size_t len = 99;
    CHECK(slm_gguf_get_str(g, "str", &s, &len) == SLM_OK && len == 0 && s != NULL, "empty str");
    CHECK(slm_gguf_get_str(g, "u8", &s, &len) == SLM_ERR_FORMAT, "u8 is not a string");
    slm_gguf_type et;
    uint64_t na;
    CHECK(slm_gguf_get_arr(g, "u8", &et, &na) == SLM_ERR_FORMAT, "u8 is not an array");
    CHECK(slm_gguf_get_arr(g, "absent", &et, &na) == SLM_ERR_ARG, "absent array");
    CHECK(slm_gguf_get_arr(g, "arr_u8", &et, &na) == SLM_OK && et == SLM_GGUF_UINT8 && na == 3,
          "arr_u8");
    int64_t k = slm_gguf_find_key(g, "arr_u8");
    CHECK(slm_gguf_arr_num(g, k, 2) == 255.0, "arr_u8[2]");
    CHECK(slm_gguf_arr_num(g, k, 3) == 0.0, "arr_u8[3] out of range gives 0");
    k = slm_gguf_find_key(g, "arr_i64");
    CHECK(slm_gguf_arr_num(g, k, 0) == -9.0 && slm_gguf_arr_num(g, k, 1) == 0x1p50, "arr_i64");
    k = slm_gguf_find_key(g, "arr_f64");
    CHECK(slm_gguf_arr_num(g, k, 0) == -2.5e-3, "arr_f64");
    CHECK(slm_gguf_get_arr(g, "arr_empty", &et, &na) == SLM_OK && et == SLM_GGUF_BOOL && na == 0,
          "empty array");
    CHECK(slm_gguf_kv_type(g, slm_gguf_find_key(g, "i16")) == SLM_GGUF_INT16, "kv_type");
    CHECK(walk_all(g, copy, n), "walk");
    slm_gguf_close(g);
    free(copy);
    free(file);
}

/* ---- writer round trips -------------------------------------------------- */

static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tmp_dir, name);
}

static const char *const vocab_words[] = {"<unk>", "", "hello", "\xe2\x96\x81world", "x"};

/* Fill a writer with every setter, a copy of every typed key, and tensors of
 * several types; data[] must stay alive until the write. */
static slm_status fill_writer(slm_gguf_writer *w, const slm_gguf *typed, uint8_t *data,
                              uint32_t align)
{
    slm_status st = SLM_OK;
    const float farr[3] = {1.5f, -0.0f, 1e30f};
    const int32_t iarr[4] = {INT32_MIN, -1, 0, INT32_MAX};
    if (align) SLM_TRY(slm_gguf_set_u32(w, "general.alignment", align));
    SLM_TRY(slm_gguf_set_str(w, "general.architecture", "placeholder"));
    SLM_TRY(slm_gguf_set_u32(w, "w.u32", 4000000000u));
    SLM_TRY(slm_gguf_set_i32(w, "w.i32", -123456));
    SLM_TRY(slm_gguf_set_u64(w, "w.u64", UINT64_MAX));
    SLM_TRY(slm_gguf_set_f32(w, "w.f32", 0.1f));
    SLM_TRY(slm_gguf_set_bool(w, "w.bool", 7));
    SLM_TRY(slm_gguf_set_str(w, "general.architecture", "llama")); /* replaces */
    SLM_TRY(slm_gguf_set_arr_str(w, "w.arr_str", vocab_words, 5));
    SLM_TRY(slm_gguf_set_arr_f32(w, "w.arr_f32", farr, 3));
    SLM_TRY(slm_gguf_set_arr_i32(w, "w.arr_i32", iarr, 4));
    SLM_TRY(slm_gguf_set_arr_i32(w, "w.arr_none", NULL, 0));
    for (int64_t i = 0; typed && i < slm_gguf_n_kv(typed); i++)
        SLM_TRY(slm_gguf_copy_kv(w, typed, i));
    /* Tensors: F32 [3] (12 bytes, unaligned length), Q4_0 [64, 3], Q8_0
     * [32], Q4_K [256, 2], F16 [2, 2, 2, 2]. */
    const int64_t ne_f32[1] = {3}, ne_q40[2] = {64, 3}, ne_q80[1] = {32}, ne_q4k[2] = {256, 2},
                  ne_f16[4] = {2, 2, 2, 2};
    size_t off = 0;
    SLM_TRY(slm_gguf_add_tensor(w, "t.f32", SLM_TYPE_F32, 1, ne_f32, data + off, 12));
    off += 12;
    SLM_TRY(slm_gguf_add_tensor(w, "t.q4_0", SLM_TYPE_Q4_0, 2, ne_q40, data + off, 6 * 18));
    off += 6 * 18;
    SLM_TRY(slm_gguf_add_tensor(w, "t.q8_0", SLM_TYPE_Q8_0, 1, ne_q80, data + off, 34));
    off += 34;
    SLM_TRY(slm_gguf_add_tensor(w, "t.q4_k", SLM_TYPE_Q4_K, 2, ne_q4k, data + off, 2 * 144));
    off += 2 * 144;
    SLM_TRY(slm_gguf_add_tensor(w, "t.f16", SLM_TYPE_F16, 4, ne_f16, data + off, 32));
fail:
    return st;
}

#define TENSOR_BYTES (12 + 6 * 18 + 34 + 2 * 144 + 32)

static void check_round_trip(const char *path, const slm_gguf *typed, const uint8_t *data,
                             uint32_t align, int use_mmap)
{
    slm_gguf *g;
    slm_status st = slm_gguf_open(path, use_mmap, &g);
    REQUIRE(st == SLM_OK, "reopen %s: %s", path, slm_last_error());
    CHECK(slm_gguf_version(g) == 3, "writer writes v3");
    CHECK(slm_gguf_alignment(g) == align, "alignment %u, expected %u", slm_gguf_alignment(g),
          align);
    const uint8_t *base = slm_gguf_base(g);
    uint32_t u;
    int64_t i;
    float f;
    int b;
    const char *s;
    size_t len;
    CHECK(base[0] == 'G' && base[3] == 'F' && base[4] == 3 && base[5] == 0, "header bytes");
    CHECK(slm_gguf_get_str(g, "general.architecture", &s, &len) == SLM_OK && len == 5 &&
              memcmp(s, "llama", 5) == 0, "replaced string");
    CHECK(slm_gguf_get_u32(g, "w.u32", &u) == SLM_OK && u == 4000000000u, "u32");
    CHECK(slm_gguf_get_i64(g, "w.i32", &i) == SLM_OK && i == -123456, "i32");
    CHECK(slm_gguf_kv_type(g, slm_gguf_find_key(g, "w.i32")) == SLM_GGUF_INT32, "i32 type");
    CHECK(slm_gguf_kv_type(g, slm_gguf_find_key(g, "w.u64")) == SLM_GGUF_UINT64, "u64 type");
    CHECK(slm_gguf_get_i64(g, "w.u64", &i) == SLM_ERR_FORMAT, "u64 max does not fit i64");
    CHECK(slm_gguf_get_f32(g, "w.f32", &f) == SLM_OK && f == 0.1f, "f32");
    CHECK(slm_gguf_get_bool(g, "w.bool", &b) == SLM_OK && b == 1, "bool");
    slm_gguf_type et;
    uint64_t n;
    CHECK(slm_gguf_get_arr(g, "w.arr_str", &et, &n) == SLM_OK && et == SLM_GGUF_STRING && n == 5,
          "arr_str");
    int64_t k = slm_gguf_find_key(g, "w.arr_str");
    for (uint64_t j = 0; j < 5 && j < n; j++) {
        s = slm_gguf_arr_str(g, k, j, &len);
        CHECK(s && len == strlen(vocab_words[j]) && memcmp(s, vocab_words[j], len) == 0,
              "arr_str[%llu]", (unsigned long long)j);
    }
    k = slm_gguf_find_key(g, "w.arr_f32");
    CHECK(slm_gguf_get_arr(g, "w.arr_f32", &et, &n) == SLM_OK && et == SLM_GGUF_FLOAT32 && n == 3,
          "arr_f32");
    CHECK(slm_gguf_arr_num(g, k, 0) == 1.5 && slm_gguf_arr_num(g, k, 2) == (double)1e30f &&
              signbit(slm_gguf_arr_num(g, k, 1)), "arr_f32 values");
    k = slm_gguf_find_key(g, "w.arr_i32");
    CHECK(slm_gguf_arr_num(g, k, 0) == (double)INT32_MIN &&
              slm_gguf_arr_num(g, k, 3) == (double)INT32_MAX, "arr_i32 values");
    CHECK(slm_gguf_get_arr(g, "w.arr_none", &et, &n) == SLM_OK && n == 0, "empty array");
    /* Every copied key has the same type and the same stored value. */
    for (int64_t j = 0; typed && j < slm_gguf_n_kv(typed); j++) {
        const char *key = slm_gguf_key(typed, j);
        int64_t m = slm_gguf_find_key(g, key);
        REQUIRE(m >= 0, "copied key %s missing", key);
        CHECK(slm_gguf_kv_type(g, m) == slm_gguf_kv_type(typed, j), "type of %s", key);
        int64_t a, c;
        int ra = slm_gguf_get_i64(g, key, &a), rc = slm_gguf_get_i64(typed, key, &c);
        CHECK(ra == rc && (ra != SLM_OK || a == c), "value of %s", key);
        slm_gguf_type ea, ec;
        uint64_t na, nc;
        if (slm_gguf_get_arr(typed, key, &ec, &nc) == SLM_OK) {
            CHECK(slm_gguf_get_arr(g, key, &ea, &na) == SLM_OK && ea == ec && na == nc,
                  "array %s", key);
            for (uint64_t q = 0; q < nc && q < na; q++)
                CHECK(slm_gguf_arr_num(g, m, q) == slm_gguf_arr_num(typed, j, q), "%s[%llu]", key,
                      (unsigned long long)q);
        }
    }
    /* Tensors: in order, same shape and bytes, aligned offsets and pointers. */
    static const char *const names[] = {"t.f32", "t.q4_0", "t.q8_0", "t.q4_k", "t.f16"};
    static const size_t sizes[] = {12, 108, 34, 288, 32};
    REQUIRE(slm_gguf_n_tensors(g) == 5, "n_tensors %lld", (long long)slm_gguf_n_tensors(g));
    size_t off = 0;
    uint64_t data_start = 0;
    for (int j = 0; j < 5; j++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(g, j);
        CHECK(strcmp(t->name, names[j]) == 0, "tensor %d is %s", j, t->name);
        CHECK(t->nbytes == sizes[j], "%s nbytes %llu", t->name, (unsigned long long)t->nbytes);
        CHECK(memcmp(t->data, data + off, sizes[j]) == 0, "%s bytes differ", t->name);
        CHECK(t->offset % align == 0, "%s offset %llu not aligned to %u", t->name,
              (unsigned long long)t->offset, align);
        if (j == 0) data_start = (uint64_t)((const uint8_t *)t->data - base);
        CHECK(data_start % align == 0, "data section at %llu", (unsigned long long)data_start);
        CHECK((uint64_t)((const uint8_t *)t->data - base) == data_start + t->offset, "pointer");
        CHECK((uintptr_t)t->data % align == 0, "%s: data at %p not %u-aligned in memory (mmap=%d)",
              t->name, t->data, align, use_mmap);
        off += sizes[j];
    }
    const slm_gguf_tensor *t = slm_gguf_find_tensor(g, "t.f16");
    CHECK(t && t->n_dims == 4 && t->ne[3] == 2 && t->type == SLM_TYPE_F16, "f16 shape");
    t = slm_gguf_find_tensor(g, "t.q4_0");
    CHECK(t && t->n_dims == 2 && t->ne[0] == 64 && t->ne[1] == 3 && t->ne[2] == 1, "q4_0 shape");
    /* The last tensor is padded too, like llama.cpp's writer. */
    CHECK(slm_gguf_file_size(g) % align == 0, "file size %llu",
          (unsigned long long)slm_gguf_file_size(g));
    slm_gguf_close(g);
}

static void gguf_writer_round_trips_every_type(void)
{
    size_t n;
    uint8_t *typed_file = make_typed_file(&n);
    slm_gguf *typed;
    REQUIRE(slm_gguf_open_buffer(typed_file, n, &typed) == SLM_OK, "typed: %s", slm_last_error());
    uint8_t data[TENSOR_BYTES];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 7 + 3);
    static const uint32_t aligns[] = {0, 64, 1, 256};
    for (int a = 0; a < 4; a++) {
        char path[128];
        tmp_path(path, sizeof path, "round_trip.gguf");
        slm_gguf_writer *w;
        REQUIRE(slm_gguf_writer_new(&w) == SLM_OK, "writer");
        slm_status st = fill_writer(w, typed, data, aligns[a]);
        CHECK(st == SLM_OK, "fill: %s", slm_last_error());
        st = slm_gguf_writer_write(w, path);
        CHECK(st == SLM_OK, "write: %s", slm_last_error());
        slm_gguf_writer_free(w);
        uint32_t align = aligns[a] ? aligns[a] : SLM_GGUF_DEFAULT_ALIGNMENT;
        check_round_trip(path, typed, data, align, a % 2);
        unlink(path);
    }
    slm_gguf_close(typed);
    free(typed_file);
}

static void gguf_writer_rejects_bad_tensors_and_alignment(void)
{
    slm_gguf_writer *w;
    REQUIRE(slm_gguf_writer_new(&w) == SLM_OK, "writer");
    uint8_t data[64] = {0};
    const int64_t ne[2] = {32, 1}, ne_bad[1] = {33}, ne_neg[1] = {-32};
    CHECK(slm_gguf_add_tensor(w, "a", SLM_TYPE_Q8_0, 2, ne, data, 34) == SLM_OK, "valid");
    CHECK(slm_gguf_add_tensor(w, "a", SLM_TYPE_Q8_0, 2, ne, data, 34) == SLM_ERR_ARG, "duplicate");
    CHECK(slm_gguf_add_tensor(w, "b", SLM_TYPE_Q8_0, 2, ne, data, 32) == SLM_ERR_ARG, "nbytes");
    CHECK(strstr(slm_last_error(), "expected 34") != NULL, "message: %s", slm_last_error());
    CHECK(slm_gguf_add_tensor(w, "b", SLM_TYPE_Q8_0, 1, ne_bad, data, 34) == SLM_ERR_ARG, "block");
    CHECK(slm_gguf_add_tensor(w, "b", SLM_TYPE_F32, 1, ne_neg, data, 0) == SLM_ERR_ARG, "neg");
    CHECK(slm_gguf_add_tensor(w, "b", SLM_TYPE_F32, 0, ne, data, 128) == SLM_ERR_ARG, "n_dims 0");
    CHECK(slm_gguf_add_tensor(w, "b", SLM_TYPE_F32, 5, ne, data, 128) == SLM_ERR_ARG, "n_dims 5");
    CHECK(slm_gguf_add_tensor(w, "b", (slm_type)4, 1, ne, data, 128) == SLM_ERR_ARG, "type 4");
    char path[128];
    tmp_path(path, sizeof path, "bad_align.gguf");
    CHECK(slm_gguf_set_u32(w, "general.alignment", 48) == SLM_OK, "set");
    CHECK(slm_gguf_writer_write(w, path) == SLM_ERR_ARG, "alignment 48 must be refused");
    CHECK(access(path, F_OK) != 0, "no file written");
    CHECK(slm_gguf_set_i32(w, "general.alignment", 64) == SLM_OK, "set");
    CHECK(slm_gguf_writer_write(w, path) == SLM_ERR_ARG, "INT32 alignment must be refused");
    slm_gguf_writer_free(w);
}

/* No "<name>.tmp.*" file is left in tmp_dir. */
static int no_temp_files(void)
{
    DIR *d = opendir(tmp_dir);
    struct dirent *e;
    int clean = 1;
    while (d && (e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp.")) clean = 0;
    if (d) closedir(d);
    return clean;
}

/* Lazy tensors: bytes produced at write time land exactly where an eager
 * tensor's would (same file), and a failing producer aborts the write
 * without touching the final name. */
typedef struct lazy_src {
    const uint8_t *bytes;
    int calls;
    int fail;
} lazy_src;

static slm_status lazy_fill(void *user, const char *name, void *dst, uint64_t nbytes)
{
    lazy_src *l = user;
    l->calls++;
    if (l->fail) return slm_fail(SLM_ERR_CANCELLED, "tensor '%s': producer says stop", name);
    memcpy(dst, l->bytes, (size_t)nbytes);
    return SLM_OK;
}

static void gguf_writer_lazy_tensor_equals_eager_and_failure_aborts(void)
{
    uint8_t a[34 * 4], b[34 * 8];
    for (size_t i = 0; i < sizeof a; i++) a[i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i < sizeof b; i++) b[i] = (uint8_t)(i * 13 + 5);
    const int64_t ne_a[2] = {32, 4}, ne_b[2] = {64, 4};
    char p1[128], p2[128];
    tmp_path(p1, sizeof p1, "eager.gguf");
    tmp_path(p2, sizeof p2, "lazy.gguf");
    slm_gguf_writer *w1 = NULL, *w2 = NULL;
    REQUIRE(slm_gguf_writer_new(&w1) == SLM_OK && slm_gguf_writer_new(&w2) == SLM_OK, "writers");
    lazy_src lb = {b, 0, 0};
    REQUIRE(slm_gguf_set_str(w1, "general.name", "x") == SLM_OK && slm_gguf_set_str(w2, "general.name", "x") == SLM_OK,
            "kv");
    REQUIRE(slm_gguf_add_tensor(w1, "a", SLM_TYPE_Q8_0, 2, ne_a, a, sizeof a) == SLM_OK, "%s", slm_last_error());
    REQUIRE(slm_gguf_add_tensor(w1, "b", SLM_TYPE_Q8_0, 2, ne_b, b, sizeof b) == SLM_OK, "%s", slm_last_error());
    REQUIRE(slm_gguf_add_tensor(w2, "a", SLM_TYPE_Q8_0, 2, ne_a, a, sizeof a) == SLM_OK, "%s", slm_last_error());
    REQUIRE(slm_gguf_add_tensor_lazy(w2, "b", SLM_TYPE_Q8_0, 2, ne_b, sizeof b, lazy_fill, &lb) == SLM_OK, "%s",
            slm_last_error());
    CHECK(slm_gguf_add_tensor_lazy(w2, "c", SLM_TYPE_Q8_0, 2, ne_b, sizeof b - 1, lazy_fill, &lb) == SLM_ERR_ARG,
          "wrong size accepted");
    REQUIRE(slm_gguf_writer_write(w1, p1) == SLM_OK && slm_gguf_writer_write(w2, p2) == SLM_OK, "%s",
            slm_last_error());
    CHECK(lb.calls == 1, "fill called %d times", lb.calls);
    size_t n1 = 0, n2 = 0;
    uint8_t *f1 = harness_read_file(p1, &n1), *f2 = harness_read_file(p2, &n2);
    CHECK(f1 && f2 && n1 == n2 && memcmp(f1, f2, n1) == 0, "lazy file differs from eager file");
    free(f1);
    free(f2);
    lb.fail = 1;
    slm_status st = slm_gguf_writer_write(w2, p2);
    CHECK(st == SLM_ERR_CANCELLED && strstr(slm_last_error(), "producer says stop"), "%s", slm_last_error());
    slm_gguf *g = NULL;
    CHECK(slm_gguf_open(p2, 1, &g) == SLM_OK, "previous file damaged");
    slm_gguf_close(g);
    CHECK(no_temp_files(), "temporary file left behind");
    slm_gguf_writer_free(w1);
    slm_gguf_writer_free(w2);
    remove(p1);
    remove(p2);
}

static void gguf_writer_fails_cleanly_and_atomically(void)
{
    uint8_t data[TENSOR_BYTES] = {0};
    char path[128];
    tmp_path(path, sizeof path, "atomic.gguf");
    /* A path in a missing directory: SLM_ERR_IO naming it. */
    slm_gguf_writer *w;
    REQUIRE(slm_gguf_writer_new(&w) == SLM_OK, "writer");
    REQUIRE(fill_writer(w, NULL, data, 0) == SLM_OK, "fill");
    slm_status st = slm_gguf_writer_write(w, "/nonexistent-dir/x.gguf");
    CHECK(st == SLM_ERR_IO && strstr(slm_last_error(), "/nonexistent-dir/x.gguf"), "%s: %s",
          slm_status_name(st), slm_last_error());
    /* An old file under the final name survives until the new one is done. */
    FILE *f = fopen(path, "wb");
    fputs("old", f);
    fclose(f);
    mode_t old_mask = umask(022);
    REQUIRE(slm_gguf_writer_write(w, path) == SLM_OK, "write: %s", slm_last_error());
    umask(old_mask);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0644, "mode %o, expected 644 (umask 022)",
          (unsigned)(sb.st_mode & 0777));
    slm_gguf *g;
    CHECK(slm_gguf_open(path, 1, &g) == SLM_OK, "replaced file opens");
    if (g) slm_gguf_close(g);
    slm_gguf_writer_free(w);
    CHECK(no_temp_files(), "temporary file left behind");

    /* Allocation failures while building and writing: NOMEM, no leak, and
     * the final name untouched (it still holds the previous complete file). */
    long i;
    for (i = 0; i < 2000; i++) {
        slm_alloc_fail_after(i);
        w = NULL;
        st = slm_gguf_writer_new(&w);
        if (st == SLM_OK) st = fill_writer(w, NULL, data, 64);
        if (st == SLM_OK) st = slm_gguf_writer_write(w, path);
        slm_alloc_fail_after(-1);
        slm_gguf_writer_free(w);
        if (st == SLM_OK) break;
        CHECK(st == SLM_ERR_NOMEM, "allocation %ld: %s (%s)", i, slm_status_name(st),
              slm_last_error());
        g = NULL;
        CHECK(slm_gguf_open(path, 0, &g) == SLM_OK && slm_gguf_alignment(g) == 32,
              "allocation %ld: previous file damaged", i);
        slm_gguf_close(g);
    }
    CHECK(i > 5 && i < 2000, "writer needed %ld allocations", i);
    CHECK(no_temp_files(), "temporary file left behind");
    unlink(path);
}

/* ---- files, scale -------------------------------------------------------- */

static void gguf_open_reports_io_errors_with_the_path(void)
{
    slm_gguf *g = (slm_gguf *)&g;
    slm_status st = slm_gguf_open("/nonexistent/model.gguf", 1, &g);
    CHECK(st == SLM_ERR_IO && g == NULL, "missing: %s", slm_status_name(st));
    CHECK(strstr(slm_last_error(), "/nonexistent/model.gguf") != NULL &&
              strstr(slm_last_error(), "No such file") != NULL, "message: %s", slm_last_error());
    st = slm_gguf_open(tmp_dir, 0, &g);
    CHECK(st == SLM_ERR_IO && g == NULL, "directory: %s", slm_status_name(st));
    /* A corrupt file on disk: the message starts with its path. */
    char path[128];
    tmp_path(path, sizeof path, "corrupt.gguf");
    size_t n;
    uint8_t *file = make_file(C_TENSOR_PAST_EOF, &n);
    FILE *f = fopen(path, "wb");
    fwrite(file, 1, n, f);
    fclose(f);
    for (int mm = 0; mm < 2; mm++) {
        st = slm_gguf_open(path, mm, &g);
        CHECK(st == SLM_ERR_FORMAT && strncmp(slm_last_error(), path, strlen(path)) == 0,
              "mmap=%d: %s", mm, slm_last_error());
    }
    /* An empty file is a format error, not an I/O error. */
    f = fopen(path, "wb");
    fclose(f);
    st = slm_gguf_open(path, 1, &g);
    CHECK(st == SLM_ERR_FORMAT, "empty file: %s", slm_status_name(st));
    unlink(path);
    free(file);
    /* Allocation failures when reading the file into memory. */
    file = make_file(C_NONE, &n);
    f = fopen(path, "wb");
    fwrite(file, 1, n, f);
    fclose(f);
    long i;
    for (i = 0; i < 100; i++) {
        slm_alloc_fail_after(i);
        st = slm_gguf_open(path, 0, &g);
        slm_alloc_fail_after(-1);
        if (st == SLM_OK) break;
        CHECK(st == SLM_ERR_NOMEM && g == NULL, "allocation %ld: %s", i, slm_status_name(st));
    }
    CHECK(st == SLM_OK, "never opened");
    slm_gguf_close(g);
    unlink(path);
    free(file);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A 256k-string vocabulary opens without an allocation per string, and
 * 1000 tensors are all found by name. */
static void gguf_opens_large_vocab_and_many_tensors_quickly(void)
{
    enum { N_TOK = 262144, N_T = 1000 };
    bb b = {0};
    bb_bytes(&b, "GGUF", 4);
    bb_u32(&b, 3);
    bb_u64(&b, N_T);
    bb_u64(&b, 1);
    bb_str(&b, "tokenizer.ggml.tokens");
    bb_u32(&b, SLM_GGUF_ARRAY);
    bb_u32(&b, SLM_GGUF_STRING);
    bb_u64(&b, N_TOK);
    char s[32];
    for (int i = 0; i < N_TOK; i++) {
        snprintf(s, sizeof s, "tok%d", i);
        bb_str(&b, s);
    }
    for (int i = 0; i < N_T; i++) {
        snprintf(s, sizeof s, "blk.%d.w", i);
        bb_str(&b, s);
        bb_u32(&b, 1);
        bb_u64(&b, 8);
        bb_u32(&b, SLM_TYPE_F32);
        bb_u64(&b, (uint64_t)i * 32);
    }
    bb_pad(&b, 32);
    for (int i = 0; i < N_T * 32; i++) bb_le(&b, (uint64_t)i, 1);
    uint64_t allocs = slm_alloc_count();
    double t0 = now_s();
    slm_gguf *g;
    slm_status st = slm_gguf_open_buffer(b.p, b.n, &g);
    double dt = now_s() - t0;
    allocs = slm_alloc_count() - allocs;
    REQUIRE(st == SLM_OK, "open: %s", slm_last_error());
    printf("     %d strings + %d tensors (%zu bytes): open %.2f ms, %llu allocations\n", N_TOK,
           N_T, b.n, dt * 1e3, (unsigned long long)allocs);
    CHECK(allocs <= 16, "%llu allocations", (unsigned long long)allocs);
    int64_t k = slm_gguf_find_key(g, "tokenizer.ggml.tokens");
    size_t len;
    const char *p = slm_gguf_arr_str(g, k, 123456, &len);
    CHECK(p && len == 9 && memcmp(p, "tok123456", 9) == 0, "token 123456");
    int found = 0;
    t0 = now_s();
    for (int i = 0; i < N_T; i++) {
        snprintf(s, sizeof s, "blk.%d.w", i);
        const slm_gguf_tensor *t = slm_gguf_find_tensor(g, s);
        found += t && t == slm_gguf_tensor_at(g, i) && ((const uint8_t *)t->data)[0] == (uint8_t)(i * 32);
    }
    dt = now_s() - t0;
    CHECK(found == N_T, "found %d of %d", found, N_T);
    CHECK(dt < 0.05, "1000 lookups took %.3f s", dt);
    slm_gguf_close(g);
    free(b.p);
}

int main(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/slm_test_gguf_XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(gguf_reads_handcrafted_file);
    RUN(gguf_rejects_each_handcrafted_corruption);
    RUN(gguf_rejects_every_truncation);
    RUN(gguf_survives_byte_corruption);
    RUN(gguf_open_fails_cleanly_on_every_allocation_failure);
    RUN(gguf_accepts_zero_sized_tensor);
    RUN(gguf_getters_convert_as_documented);
    RUN(gguf_writer_round_trips_every_type);
    RUN(gguf_writer_lazy_tensor_equals_eager_and_failure_aborts);
    RUN(gguf_writer_rejects_bad_tensors_and_alignment);
    RUN(gguf_writer_fails_cleanly_and_atomically);
    RUN(gguf_open_reports_io_errors_with_the_path);
    RUN(gguf_opens_large_vocab_and_many_tensors_quickly);
    rmdir(tmp_dir);
    return harness_finish();
}
