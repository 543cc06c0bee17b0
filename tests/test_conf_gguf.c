/* test_conf_gguf.c — the GGUF reader and writer on llama.cpp's own files
 * (../shared/testdata; skipped with exit 77 when absent).
 *
 * Expectations are the testdata README's tables (file sizes, tensor types
 * per file, vocabulary sizes), and the files themselves: a copy through
 * slm's writer must reproduce every key, type, value and tensor byte.
 */
#include <dirent.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/status.h"
#include "gguf/gguf.h"
#include "harness.h"

static char tmp_dir[64];

/* From testdata/README.md, section 2 ("Files and weight types"). */
static const struct {
    const char *file;
    uint64_t size;
    slm_type type; /* the main matrix type */
    int n_type;    /* how many tensors have it */
    const char *q6k[3]; /* tensors the README says are Q6_K in a mixed file */
} model_table[] = {
    {"tiny-llama-F32.gguf", 7095936, SLM_TYPE_F32, 21, {0}},
    {"tiny-llama-F16.gguf", 3557024, SLM_TYPE_F16, 16, {0}},
    {"tiny-llama-BF16.gguf", 3557024, SLM_TYPE_BF16, 16, {0}},
    {"tiny-llama-Q8_0.gguf", 1898144, SLM_TYPE_Q8_0, 16, {0}},
    {"tiny-llama-Q6_K.gguf", 1469600, SLM_TYPE_Q6_K, 16, {0}},
    {"tiny-llama-Q4_K_M.gguf", 1102112, SLM_TYPE_Q4_K, 13,
     {"output.weight", "blk.1.attn_v.weight", "blk.1.ffn_down.weight"}},
    {"tiny-llama-Q4_0.gguf", 1047200, SLM_TYPE_Q4_0, 15, {"output.weight"}},
    {"tiny-llama-tied-Q8_0.gguf", 1132256, SLM_TYPE_Q8_0, 15, {0}},
    {"tiny-llama-tied-Q4_0.gguf", 641760, SLM_TYPE_Q4_0, 14, {"token_embd.weight"}},
    {"tiny-qwen2-Q4_0.gguf", 645024, SLM_TYPE_Q4_0, 14, {"token_embd.weight"}},
    {"tiny-qwen3-Q8_0.gguf", 1481632, SLM_TYPE_Q8_0, 15, {0}},
    {"tiny-gemma2-Q4_0.gguf", 646144, SLM_TYPE_Q4_0, 14, {"token_embd.weight"}},
    {"tiny-phi3-Q8_0.gguf", 1271104, SLM_TYPE_Q8_0, 10, {0}},
    {"tiny-phi3-Q4_0.gguf", 715072, SLM_TYPE_Q4_0, 9, {"output.weight"}},
    {"tiny-moe-Q8_0.gguf", 1697728, SLM_TYPE_Q8_0, 16, {0}},
    {"tiny-moe-Q4_0.gguf", 945088, SLM_TYPE_Q4_0, 15, {"output.weight"}},
};

/* From testdata/README.md, section 1. */
static const struct {
    const char *name;
    uint64_t n_tokens;
    const char *model;
} vocab_table[] = {
    {"llama-spm", 32000, "llama"},  {"phi-3", 32064, "llama"},
    {"llama-bpe", 128256, "gpt2"},  {"qwen2", 151936, "gpt2"},
    {"gpt-2", 50257, "gpt2"},       {"starcoder", 49152, "gpt2"},
    {"deepseek-llm", 102400, "gpt2"}, {"command-r", 256000, "gpt2"},
    {"gemma-4", 262144, "gemma4"},
};

static void conf_gguf_model_types_match_readme(void)
{
    for (size_t f = 0; f < sizeof model_table / sizeof model_table[0]; f++) {
        char path[512];
        snprintf(path, sizeof path, "%s/models/%s", SLM_TESTDATA_DIR, model_table[f].file);
        for (int mm = 0; mm < 2; mm++) {
            slm_gguf *g;
            slm_status st = slm_gguf_open(path, mm, &g);
            CHECK(st == SLM_OK, "%s: %s", path, slm_last_error());
            if (st != SLM_OK) continue;
            CHECK(slm_gguf_file_size(g) == model_table[f].size, "%s: size %llu",
                  model_table[f].file, (unsigned long long)slm_gguf_file_size(g));
            int n_type = 0, n_q6k = 0, want_q6k = 0;
            for (int64_t i = 0; i < slm_gguf_n_tensors(g); i++)
                n_type += slm_gguf_tensor_at(g, i)->type == model_table[f].type;
            for (int q = 0; q < 3 && model_table[f].q6k[q]; q++) {
                want_q6k++;
                const slm_gguf_tensor *t = slm_gguf_find_tensor(g, model_table[f].q6k[q]);
                n_q6k += t && t->type == SLM_TYPE_Q6_K;
            }
            CHECK(n_type == model_table[f].n_type, "%s: %d tensors of the main type, README says %d",
                  model_table[f].file, n_type, model_table[f].n_type);
            CHECK(n_q6k == want_q6k, "%s: %d of %d named Q6_K tensors", model_table[f].file, n_q6k,
                  want_q6k);
            const char *arch;
            size_t len;
            CHECK(slm_gguf_get_str(g, "general.architecture", &arch, &len) == SLM_OK && len > 0,
                  "%s: architecture", model_table[f].file);
            uint32_t n_embd;
            char key[128];
            snprintf(key, sizeof key, "%.*s.embedding_length", (int)len, arch);
            CHECK(slm_gguf_get_u32(g, key, &n_embd) == SLM_OK && n_embd == 256, "%s: %s",
                  model_table[f].file, key);
            slm_gguf_close(g);
        }
    }
}

static void conf_gguf_vocab_sizes_match_readme(void)
{
    for (size_t v = 0; v < sizeof vocab_table / sizeof vocab_table[0]; v++) {
        char path[512];
        snprintf(path, sizeof path, "%s/tokenizer/ggml-vocab-%s.gguf", SLM_TESTDATA_DIR,
                 vocab_table[v].name);
        slm_gguf *g;
        slm_status st = slm_gguf_open(path, 1, &g);
        CHECK(st == SLM_OK, "%s: %s", path, slm_last_error());
        if (st != SLM_OK) continue;
        slm_gguf_type et;
        uint64_t n = 0;
        CHECK(slm_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) == SLM_OK &&
                  et == SLM_GGUF_STRING && n == vocab_table[v].n_tokens,
              "%s: %llu tokens, README says %llu", vocab_table[v].name, (unsigned long long)n,
              (unsigned long long)vocab_table[v].n_tokens);
        const char *model;
        size_t len;
        CHECK(slm_gguf_get_str(g, "tokenizer.ggml.model", &model, &len) == SLM_OK &&
                  len == strlen(vocab_table[v].model) && memcmp(model, vocab_table[v].model, len) == 0,
              "%s: tokenizer.ggml.model", vocab_table[v].name);
        CHECK(slm_gguf_n_tensors(g) == 0, "%s: vocab-only file has tensors", vocab_table[v].name);
        slm_gguf_close(g);
    }
}

/* Same keys (in order), types and values; same tensors and bytes. */
static int same_contents(const slm_gguf *a, const slm_gguf *b, const char *name)
{
    int before = harness_failed_checks;
    CHECK(slm_gguf_n_kv(a) == slm_gguf_n_kv(b), "%s: n_kv", name);
    for (int64_t i = 0; i < slm_gguf_n_kv(a) && i < slm_gguf_n_kv(b); i++) {
        const char *k = slm_gguf_key(a, i);
        CHECK(strcmp(k, slm_gguf_key(b, i)) == 0, "%s: key %lld", name, (long long)i);
        slm_gguf_type t = slm_gguf_kv_type(a, i);
        CHECK(t == slm_gguf_kv_type(b, i), "%s: type of %s", name, k);
        const char *sa, *sb;
        size_t la, lb;
        int64_t ia, ib;
        float fa, fb;
        if (t == SLM_GGUF_STRING) {
            slm_gguf_get_str(a, k, &sa, &la);
            slm_gguf_get_str(b, k, &sb, &lb);
            CHECK(la == lb && memcmp(sa, sb, la) == 0, "%s: %s", name, k);
        } else if (t == SLM_GGUF_FLOAT32) {
            slm_gguf_get_f32(a, k, &fa);
            slm_gguf_get_f32(b, k, &fb);
            CHECK(memcmp(&fa, &fb, 4) == 0, "%s: %s", name, k);
        } else if (slm_gguf_get_i64(a, k, &ia) == SLM_OK) {
            CHECK(slm_gguf_get_i64(b, k, &ib) == SLM_OK && ia == ib, "%s: %s", name, k);
        } else if (t == SLM_GGUF_ARRAY) {
            slm_gguf_type ea, eb;
            uint64_t na, nb;
            slm_gguf_get_arr(a, k, &ea, &na);
            slm_gguf_get_arr(b, k, &eb, &nb);
            CHECK(ea == eb && na == nb, "%s: array %s", name, k);
            int bad = 0;
            for (uint64_t j = 0; j < na && j < nb && ea == eb; j++) {
                if (ea == SLM_GGUF_STRING) {
                    sa = slm_gguf_arr_str(a, i, j, &la);
                    sb = slm_gguf_arr_str(b, i, j, &lb);
                    bad += la != lb || memcmp(sa, sb, la) != 0;
                } else {
                    bad += slm_gguf_arr_num(a, i, j) != slm_gguf_arr_num(b, i, j);
                }
            }
            CHECK(bad == 0, "%s: %d elements of %s differ", name, bad, k);
        }
    }
    CHECK(slm_gguf_n_tensors(a) == slm_gguf_n_tensors(b), "%s: n_tensors", name);
    for (int64_t i = 0; i < slm_gguf_n_tensors(a) && i < slm_gguf_n_tensors(b); i++) {
        const slm_gguf_tensor *ta = slm_gguf_tensor_at(a, i), *tb = slm_gguf_tensor_at(b, i);
        CHECK(strcmp(ta->name, tb->name) == 0 && ta->type == tb->type &&
                  ta->n_dims == tb->n_dims && memcmp(ta->ne, tb->ne, sizeof ta->ne) == 0 &&
                  ta->nbytes == tb->nbytes && memcmp(ta->data, tb->data, ta->nbytes) == 0,
              "%s: tensor %s", name, ta->name);
    }
    return harness_failed_checks == before;
}

/* Copy src through the writer to path. */
static slm_status copy_file(const slm_gguf *src, const char *path)
{
    slm_status st = SLM_OK;
    slm_gguf_writer *w = NULL;
    SLM_TRY(slm_gguf_writer_new(&w));
    for (int64_t i = 0; i < slm_gguf_n_kv(src); i++) SLM_TRY(slm_gguf_copy_kv(w, src, i));
    for (int64_t i = 0; i < slm_gguf_n_tensors(src); i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(src, i);
        SLM_TRY(slm_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes));
    }
    SLM_TRY(slm_gguf_writer_write(w, path));
fail:
    slm_gguf_writer_free(w);
    return st;
}

/* Every GGUF in a testdata folder, copied through the writer, reopens with
 * identical contents; files written by llama.cpp/gguf-py come back byte for
 * byte (same order, same padding rules). */
static void copy_dir(const char *sub, int *n_files, int *n_identical)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", SLM_TESTDATA_DIR, sub);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (nl < 5 || strcmp(e->d_name + nl - 5, ".gguf") != 0) continue;
        char path[1024], out[256];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        snprintf(out, sizeof out, "%s/copy.gguf", tmp_dir);
        slm_gguf *a = NULL, *b = NULL;
        slm_status st = slm_gguf_open(path, 1, &a);
        CHECK(st == SLM_OK, "%s: %s", path, slm_last_error());
        if (st == SLM_OK) st = copy_file(a, out);
        CHECK(st == SLM_OK, "copy %s: %s", e->d_name, slm_last_error());
        if (st == SLM_OK) st = slm_gguf_open(out, 1, &b);
        CHECK(st == SLM_OK, "reopen copy of %s: %s", e->d_name, slm_last_error());
        if (st == SLM_OK && same_contents(a, b, e->d_name)) {
            (*n_files)++;
            *n_identical += slm_gguf_file_size(a) == slm_gguf_file_size(b) &&
                            memcmp(slm_gguf_base(a), slm_gguf_base(b), slm_gguf_file_size(a)) == 0;
        }
        slm_gguf_close(a);
        slm_gguf_close(b);
        unlink(out);
    }
    if (d) closedir(d);
}

static void conf_gguf_copy_through_writer_reproduces_every_file(void)
{
    int n_files = 0, n_identical = 0;
    copy_dir("models", &n_files, &n_identical);
    copy_dir("stories260K", &n_files, &n_identical);
    copy_dir("tokenizer", &n_files, &n_identical);
    printf("     %d files copied with identical contents, %d byte-identical\n", n_files,
           n_identical);
    CHECK(n_files >= 35, "only %d files copied", n_files);
    CHECK(n_identical == n_files, "%d of %d copies differ in bytes", n_files - n_identical, n_files);
}

int main(void)
{
    harness_need_dir(SLM_TESTDATA_DIR);
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/slm_conf_gguf_XXXXXX");
    if (!mkdtemp(tmp_dir)) return 1;
    RUN(conf_gguf_model_types_match_readme);
    RUN(conf_gguf_vocab_sizes_match_readme);
    RUN(conf_gguf_copy_through_writer_reproduces_every_file);
    rmdir(tmp_dir);
    return harness_finish();
}
