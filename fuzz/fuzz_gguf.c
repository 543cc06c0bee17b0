/* fuzz_gguf.c — libFuzzer target for the GGUF reader (gguf/read.c).
 *
 * Opens the input with slm_gguf_open_buffer and, when it is accepted, reads
 * everything a consumer could: every key through every typed getter, every
 * array element, every tensor's first and last byte. ASan/UBSan turn any
 * read outside the input or any overflow into a finding; the explicit
 * checks below turn a broken promise of the reader (a tensor or string
 * outside the buffer, a failure that leaves an output set) into a crash.
 *
 * Build and run (see fuzz/CMakeLists.txt):
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DSLM_FUZZ=ON \
 *         -DSLM_BUILD_TESTS=OFF -DSLM_BUILD_CLI=OFF
 *   cmake --build build-fuzz --target fuzz_gguf
 *   cp -r fuzz/corpus_gguf /tmp/corpus && build-fuzz/fuzz/fuzz_gguf /tmp/corpus
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void promise(int cond)
{
    if (!cond) abort();
}

static int inside(const void *p, size_t n, const uint8_t *base, size_t size)
{
    const uint8_t *q = p;
    return q >= base && n <= size && (size_t)(q - base) <= size - n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    slm_gguf *g = (slm_gguf *)&g;
    slm_status st = slm_gguf_open_buffer(data, size, &g);
    if (st != SLM_OK) {
        promise(g == NULL);
        promise(st == SLM_ERR_FORMAT || st == SLM_ERR_UNSUPPORTED || st == SLM_ERR_ARG);
        return 0;
    }
    volatile double sink = 0;
    for (int64_t i = 0; i < slm_gguf_n_kv(g); i++) {
        const char *k = slm_gguf_key(g, i);
        promise(k != NULL && slm_gguf_find_key(g, k) == i);
        uint32_t u;
        int64_t v;
        float f;
        int b;
        const char *s;
        size_t len;
        slm_gguf_type et;
        uint64_t n;
        if (slm_gguf_get_u32(g, k, &u) == SLM_OK) sink += u;
        if (slm_gguf_get_i64(g, k, &v) == SLM_OK) sink += (double)v;
        if (slm_gguf_get_f32(g, k, &f) == SLM_OK) sink += f;
        if (slm_gguf_get_bool(g, k, &b) == SLM_OK) sink += b;
        if (slm_gguf_get_str(g, k, &s, &len) == SLM_OK) {
            promise(inside(s, len, data, size));
            if (len) sink += s[0] + s[len - 1];
        }
        if (slm_gguf_get_arr(g, k, &et, &n) == SLM_OK) {
            for (uint64_t j = 0; j < n; j++) {
                if (et == SLM_GGUF_STRING) {
                    s = slm_gguf_arr_str(g, i, j, &len);
                    promise(s != NULL && inside(s, len, data, size));
                    if (len) sink += s[0] + s[len - 1];
                } else {
                    sink += slm_gguf_arr_num(g, i, j);
                }
            }
            /* Out-of-range and wrong-type reads are harmless. */
            sink += slm_gguf_arr_num(g, i, n);
            s = slm_gguf_arr_str(g, i, n, &len);
            promise(s == NULL);
        }
    }
    for (int64_t i = 0; i < slm_gguf_n_tensors(g); i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(g, i);
        promise(t != NULL && slm_gguf_find_tensor(g, t->name) == t);
        promise(t->n_dims >= 1 && t->n_dims <= SLM_GGUF_MAX_DIMS);
        promise(t->offset % slm_gguf_alignment(g) == 0);
        promise(inside(t->data, t->nbytes, data, size));
        if (t->nbytes) sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
    }
    promise(slm_gguf_tensor_at(g, slm_gguf_n_tensors(g)) == NULL);
    promise(slm_gguf_key(g, slm_gguf_n_kv(g)) == NULL);
    (void)sink;
    slm_gguf_close(g);
    return 0;
}
