/* gguf.h — reading and writing GGUF files (v2 and v3), the trust boundary.
 *
 * The reader validates everything before anyone else sees it: magic, version,
 * every count, string and array length, value type, tensor type, shape,
 * offset and alignment, against the file size with overflow-checked
 * arithmetic. After slm_gguf_open succeeds, every tensor's bytes lie inside
 * the file and every accessor below is safe on any index the caller checks
 * against the counts. Tensor data is zero-copy: pointers into the mapping
 * (or into the buffer given to slm_gguf_open_buffer, which must outlive the
 * handle). Strings inside the file are not NUL-terminated: they come back as
 * (pointer, length). Keys and tensor names are copied and NUL-terminated.
 */
#ifndef SLM_GGUF_H
#define SLM_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "slm.h"

typedef enum slm_gguf_type {
    SLM_GGUF_UINT8 = 0,
    SLM_GGUF_INT8 = 1,
    SLM_GGUF_UINT16 = 2,
    SLM_GGUF_INT16 = 3,
    SLM_GGUF_UINT32 = 4,
    SLM_GGUF_INT32 = 5,
    SLM_GGUF_FLOAT32 = 6,
    SLM_GGUF_BOOL = 7,
    SLM_GGUF_STRING = 8,
    SLM_GGUF_ARRAY = 9,
    SLM_GGUF_UINT64 = 10,
    SLM_GGUF_INT64 = 11,
    SLM_GGUF_FLOAT64 = 12,
    SLM_GGUF_TYPE_COUNT
} slm_gguf_type;

#define SLM_GGUF_MAX_DIMS 4
#define SLM_GGUF_DEFAULT_ALIGNMENT 32

typedef struct slm_gguf slm_gguf;

typedef struct slm_gguf_tensor {
    const char *name;            /* NUL-terminated, owned by the handle */
    slm_type type;               /* a type slm knows (validated) */
    int n_dims;                  /* 1..4 */
    int64_t ne[SLM_GGUF_MAX_DIMS]; /* elements per dimension, innermost first; unused = 1 */
    uint64_t offset;             /* from the start of the data section (aligned) */
    uint64_t nbytes;             /* bytes of data (row size x rows) */
    const void *data;            /* into the mapping; NULL only for a no-data open */
} slm_gguf_tensor;

/* Open and validate a file. use_mmap=0 reads it into memory instead.
 * Errors: SLM_ERR_IO (cannot open/map), SLM_ERR_FORMAT (anything malformed),
 * SLM_ERR_UNSUPPORTED (unknown tensor type, version 1), SLM_ERR_NOMEM. */
slm_status slm_gguf_open(const char *path, int use_mmap, slm_gguf **out);
/* Same over a caller-owned buffer (tests, fuzzing). The buffer must outlive
 * the handle. */
slm_status slm_gguf_open_buffer(const void *data, size_t size, slm_gguf **out);
void slm_gguf_close(slm_gguf *g);

uint32_t slm_gguf_version(const slm_gguf *g);
uint32_t slm_gguf_alignment(const slm_gguf *g);
uint64_t slm_gguf_file_size(const slm_gguf *g);
/* Start of the mapping/buffer and its size (for mlock, repacking). */
const void *slm_gguf_base(const slm_gguf *g);

/* ---- key/value metadata ---- */
int64_t slm_gguf_n_kv(const slm_gguf *g);
const char *slm_gguf_key(const slm_gguf *g, int64_t i);
slm_gguf_type slm_gguf_kv_type(const slm_gguf *g, int64_t i);
/* Index of key, or -1. */
int64_t slm_gguf_find_key(const slm_gguf *g, const char *key);

/* Typed getters by key. Return SLM_OK, or SLM_ERR_ARG if the key is absent,
 * SLM_ERR_FORMAT if it has an incompatible type or out-of-range value (the
 * message names the key, its type and the expected one). Integer getters
 * accept any integer type whose value fits; float getters accept F32/F64. */
slm_status slm_gguf_get_u32(const slm_gguf *g, const char *key, uint32_t *out);
slm_status slm_gguf_get_i64(const slm_gguf *g, const char *key, int64_t *out);
slm_status slm_gguf_get_f32(const slm_gguf *g, const char *key, float *out);
slm_status slm_gguf_get_bool(const slm_gguf *g, const char *key, int *out);
slm_status slm_gguf_get_str(const slm_gguf *g, const char *key, const char **ptr, size_t *len);

/* Arrays: element type and length. SLM_ERR_ARG if absent, SLM_ERR_FORMAT if
 * the key is not an array. */
slm_status slm_gguf_get_arr(const slm_gguf *g, const char *key, slm_gguf_type *elem_type,
                            uint64_t *n);
/* Element i of the array at key index kv (caller checks i < n and the type).
 * Numeric elements are converted; the raw file data may be unaligned. */
double slm_gguf_arr_num(const slm_gguf *g, int64_t kv, uint64_t i);
/* String element i: pointer into the file and its length. */
const char *slm_gguf_arr_str(const slm_gguf *g, int64_t kv, uint64_t i, size_t *len);

/* ---- tensors ---- */
int64_t slm_gguf_n_tensors(const slm_gguf *g);
const slm_gguf_tensor *slm_gguf_tensor_at(const slm_gguf *g, int64_t i);
/* NULL if absent. */
const slm_gguf_tensor *slm_gguf_find_tensor(const slm_gguf *g, const char *name);

/* ---- writer ----
 * Build metadata and a tensor list in memory, then write the file in one
 * pass. Tensor data pointers are borrowed until slm_gguf_writer_write
 * returns. Keys are unique: setting a key twice replaces its value. The
 * output is GGUF v3, little-endian, with general.alignment honoured. */
typedef struct slm_gguf_writer slm_gguf_writer;

slm_status slm_gguf_writer_new(slm_gguf_writer **out);
void slm_gguf_writer_free(slm_gguf_writer *w);
slm_status slm_gguf_set_u32(slm_gguf_writer *w, const char *key, uint32_t v);
slm_status slm_gguf_set_i32(slm_gguf_writer *w, const char *key, int32_t v);
slm_status slm_gguf_set_u64(slm_gguf_writer *w, const char *key, uint64_t v);
slm_status slm_gguf_set_f32(slm_gguf_writer *w, const char *key, float v);
slm_status slm_gguf_set_bool(slm_gguf_writer *w, const char *key, int v);
slm_status slm_gguf_set_str(slm_gguf_writer *w, const char *key, const char *v);
slm_status slm_gguf_set_arr_str(slm_gguf_writer *w, const char *key, const char *const *v,
                                uint64_t n);
slm_status slm_gguf_set_arr_f32(slm_gguf_writer *w, const char *key, const float *v, uint64_t n);
slm_status slm_gguf_set_arr_i32(slm_gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
/* Copy key/value i of a reader (any type, arrays included). */
slm_status slm_gguf_copy_kv(slm_gguf_writer *w, const slm_gguf *src, int64_t i);
/* Add a tensor; nbytes must equal the row size of type x rows. */
slm_status slm_gguf_add_tensor(slm_gguf_writer *w, const char *name, slm_type type, int n_dims,
                               const int64_t *ne, const void *data, uint64_t nbytes);
/* Add a tensor whose nbytes are produced while the file is written:
 * fill(user, name, dst, nbytes) must write exactly nbytes to dst (a buffer
 * the writer owns and reuses) and return SLM_OK, or a status that aborts
 * the write. Tensors are filled in the order they were added, on the
 * writing thread. Lets a quantizer hold one output tensor at a time. */
typedef slm_status (*slm_gguf_fill_fn)(void *user, const char *name, void *dst, uint64_t nbytes);
slm_status slm_gguf_add_tensor_lazy(slm_gguf_writer *w, const char *name, slm_type type, int n_dims,
                                    const int64_t *ne, uint64_t nbytes, slm_gguf_fill_fn fill, void *user);
/* Write to path (via a temporary file renamed into place, so a failed write
 * never leaves a truncated file under the final name). */
slm_status slm_gguf_writer_write(slm_gguf_writer *w, const char *path);

#endif
