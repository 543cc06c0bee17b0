/* test_conf_tokenizer.c — tokenizers against llama.cpp's test vectors.
 *
 * For every ../shared/testdata/tokenizer/ggml-vocab-*.gguf: each input of
 * the .inp file (split on "\n__ggml_vocab_test__\n") must give exactly the
 * ids of the matching .out line (no BOS/EOS, no special parsing), and
 * detokenizing must give the input back (SentencePiece: after the one
 * dummy space it adds). Plus the stories260K prompt and the tiny models'
 * prompt with BOS, whose ids come from llama.cpp's reference files.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf/gguf.h"
#include "harness.h"
#include "tok/vocab.h"

#define TOKDIR SLM_TESTDATA_DIR "/tokenizer"
#define SEP "\n__ggml_vocab_test__\n"

/* CPU time of this thread: the machine is shared, so wall time says more
 * about the neighbours than about us. */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static slm_vocab *load_vocab(const char *path, double *ms)
{
    slm_gguf *g = NULL;
    slm_vocab *v = NULL;
    if (slm_gguf_open(path, 1, &g) != SLM_OK) {
        fprintf(stderr, "%s: %s\n", path, slm_last_error());
        return NULL;
    }
    double t0 = now_ms();
    slm_status st = slm_vocab_load(g, &v);
    if (ms) *ms = now_ms() - t0;
    if (st != SLM_OK) fprintf(stderr, "%s: %s\n", path, slm_last_error());
    slm_gguf_close(g);
    return v;
}

/* A whole file, NUL-terminated (so strtol cannot run off its end). */
static char *read_text(const char *path, size_t *len)
{
    size_t n = 0;
    char *p = harness_read_file(path, &n);
    char *q = p ? realloc(p, n + 1) : NULL;
    if (!q) {
        free(p);
        return NULL;
    }
    q[n] = '\0';
    if (len) *len = n;
    return q;
}

/* Parse up to cap decimal ids from a line; returns the count. */
static size_t parse_ids(const char *s, const char *end, int32_t *ids, size_t cap)
{
    size_t n = 0;
    while (s < end) {
        while (s < end && (*s == ' ' || *s == '\t' || *s == '\r')) s++;
        if (s >= end) break;
        char *e;
        long x = strtol(s, &e, 10);
        if (e == s) break;
        if (n < cap) ids[n] = (int32_t)x;
        n++;
        s = e;
    }
    return n;
}

typedef struct result {
    char name[64];
    int pass, total, roundtrip_pass;
    double load_ms;
} result;

static result results[32];
static int n_results;

#define MAX_IDS 4096

static void run_vocab(const char *name)
{
    char path[1024], inp_path[1100], out_path[1100];
    snprintf(path, sizeof path, "%s/%s", TOKDIR, name);
    snprintf(inp_path, sizeof inp_path, "%s.inp", path);
    snprintf(out_path, sizeof out_path, "%s.out", path);
    size_t inp_len = 0, out_len = 0;
    char *inp = read_text(inp_path, &inp_len);
    char *out = read_text(out_path, &out_len);
    result *r = &results[n_results++];
    snprintf(r->name, sizeof r->name, "%.*s", (int)(strlen(name) - 16), name + 11);
    CHECK(inp && out, "%s: missing .inp/.out", name);
    slm_vocab *v = load_vocab(path, &r->load_ms);
    CHECK(v != NULL, "%s: vocabulary did not load", name);
    if (!inp || !out || !v) goto done;

    int32_t *got = malloc(MAX_IDS * sizeof *got), *want = malloc(MAX_IDS * sizeof *want);
    char *text = malloc(1 << 16);
    const char *ip = inp, *iend = inp + inp_len, *op = out, *oend = out + out_len;
    int spm = v->kind == SLM_VOCAB_SPM;
    while (ip <= iend && op < oend) {
        const char *sep = NULL;
        for (const char *q = ip; q + strlen(SEP) <= iend; q++)
            if (memcmp(q, SEP, strlen(SEP)) == 0) {
                sep = q;
                break;
            }
        const char *case_end = sep ? sep : iend;
        if (!sep && ip == iend) break; /* nothing after the last separator */
        size_t clen = (size_t)(case_end - ip);
        const char *nl = memchr(op, '\n', (size_t)(oend - op));
        const char *line_end = nl ? nl : oend;
        size_t n_want = parse_ids(op, line_end, want, MAX_IDS);
        size_t n_got = 0;
        slm_status st = slm_vocab_tokenize(v, ip, clen, 0, 0, got, MAX_IDS, &n_got);
        int ok = st == SLM_OK && n_got == n_want && memcmp(got, want, n_got * sizeof *got) == 0;
        r->total++;
        r->pass += ok;
        if (!ok) {
            fprintf(stderr, "%s case %d: input '%.*s'\n  want:", r->name, r->total, (int)clen, ip);
            for (size_t i = 0; i < n_want; i++) fprintf(stderr, " %d", want[i]);
            fprintf(stderr, "\n  got: ");
            for (size_t i = 0; i < n_got && i < MAX_IDS; i++) fprintf(stderr, " %d", got[i]);
            fprintf(stderr, "\n");
        }
        /* Round trip through the pieces. */
        size_t tl = 0;
        for (size_t i = 0; i < n_got && i < MAX_IDS; i++)
            tl += slm_vocab_token_to_piece(v, got[i], 0, text + tl, (1 << 16) - tl);
        const char *expect = ip;
        size_t elen = clen;
        int rt;
        if (spm && clen > 0) rt = tl == elen + 1 && text[0] == ' ' && memcmp(text + 1, expect, elen) == 0;
        else rt = tl == elen && memcmp(text, expect, elen) == 0;
        r->roundtrip_pass += rt;
        if (!rt) fprintf(stderr, "%s case %d: round trip gave '%.*s'\n", r->name, r->total, (int)tl, text);
        ip = sep ? sep + strlen(SEP) : iend + 1;
        op = nl ? nl + 1 : oend;
    }
    CHECK(r->pass == r->total, "%s: %d of %d cases match", r->name, r->pass, r->total);
    CHECK(r->roundtrip_pass == r->total, "%s: %d of %d cases round-trip", r->name,
          r->roundtrip_pass, r->total);
    CHECK(r->total >= 40, "%s: only %d cases read", r->name, r->total);
    /* Guards against pathological (e.g. quadratic) loading only; the
     * measured times are printed below (about 60 ms CPU for 262k tokens and
     * 515k merges in a Release build). */
    CHECK(r->load_ms < 3000, "%s: loading took %.0f ms of CPU", r->name, r->load_ms);
    free(got);
    free(want);
    free(text);
done:
    slm_vocab_free(v);
    free(inp);
    free(out);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void tokenizer_vectors_match_llama_cpp(void)
{
    DIR *d = opendir(TOKDIR);
    REQUIRE(d, "cannot open %s", TOKDIR);
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strncmp(e->d_name, "ggml-vocab-", 11) == 0 &&
            strcmp(e->d_name + l - 5, ".gguf") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    CHECK(n >= 9, "found %d vocabularies", n);
    for (int i = 0; i < n; i++) {
        run_vocab(names[i]);
        free(names[i]);
    }
    printf("%-14s %6s %10s %12s\n", "vocabulary", "cases", "roundtrip", "load cpu ms");
    for (int i = 0; i < n_results; i++)
        printf("%-14s %3d/%-3d %4d/%-3d %9.1f\n", results[i].name, results[i].pass, results[i].total,
               results[i].roundtrip_pass, results[i].total, results[i].load_ms);
}

static void check_prompt(const char *gguf, const char *text, const char *ids_path)
{
    slm_vocab *v = load_vocab(gguf, NULL);
    REQUIRE(v, "%s did not load", gguf);
    size_t flen = 0;
    char *f = read_text(ids_path, &flen);
    int32_t want[256], got[256];
    size_t n_want = f ? parse_ids(f, f + flen, want, 256) : 0, n_got = 0;
    CHECK(f && n_want > 0, "%s: no ids", ids_path);
    slm_status st = slm_vocab_tokenize(v, text, strlen(text), 1, 0, got, 256, &n_got);
    CHECK(st == SLM_OK, "tokenize: %s", slm_last_error());
    int ok = n_got == n_want && memcmp(got, want, n_got * sizeof *got) == 0;
    CHECK(ok, "%s: got %zu ids, want %zu", gguf, n_got, n_want);
    if (!ok) {
        for (size_t i = 0; i < n_got; i++) fprintf(stderr, " %d", got[i]);
        fprintf(stderr, "\n");
    }
    free(f);
    slm_vocab_free(v);
}

static void stories260k_prompt_tokenizes_like_llama_cpp(void)
{
    char prompt[256] = {0};
    size_t n = 0;
    char *p = read_text(SLM_TESTDATA_DIR "/stories260K/stories260K-F32.prompt.txt", &n);
    REQUIRE(p, "no prompt file");
    while (n && (p[n - 1] == '\n' || p[n - 1] == '\r')) n--;
    memcpy(prompt, p, n < 255 ? n : 255);
    free(p);
    CHECK(strcmp(prompt, "Once upon a time") == 0, "prompt is '%s'", prompt);
    check_prompt(SLM_TESTDATA_DIR "/stories260K/stories260K-F32.gguf", prompt,
                 SLM_TESTDATA_DIR "/stories260K/stories260K-F32.tokens.txt");
}

static void tiny_model_prompt_tokenizes_like_llama_cpp(void)
{
    check_prompt(SLM_TESTDATA_DIR "/models/tiny-llama-F32.gguf",
                 "The quick brown fox jumps over the lazy dog.",
                 SLM_TESTDATA_DIR "/models/tiny-llama-F32.tokens.txt");
}

/* A key of the vocabulary file read directly, or -1. */
static int64_t file_key(const char *path, const char *key)
{
    slm_gguf *g = NULL;
    int64_t x = -1;
    if (slm_gguf_open(path, 1, &g) != SLM_OK) return -1;
    if (slm_gguf_get_i64(g, key, &x) != SLM_OK) x = -1;
    slm_gguf_close(g);
    return x;
}

static void special_tokens_in_text_are_single_ids_with_parse_special(void)
{
    const char *path = TOKDIR "/ggml-vocab-llama-bpe.gguf";
    slm_vocab *v = load_vocab(path, NULL);
    REQUIRE(v, "llama-bpe");
    int64_t bos = file_key(path, "tokenizer.ggml.bos_token_id");
    int32_t a[64], b[64];
    size_t na = 0, nb = 0;
    const char *t = "<|begin_of_text|>Hello world";
    CHECK(slm_vocab_tokenize(v, t, strlen(t), 0, 1, a, 64, &na) == SLM_OK, "tokenize");
    CHECK(slm_vocab_tokenize(v, "Hello world", 11, 1, 0, b, 64, &nb) == SLM_OK, "tokenize");
    CHECK(bos >= 0 && na >= 2 && a[0] == bos, "parsed <|begin_of_text|> is BOS %lld", (long long)bos);
    CHECK(na == nb && memcmp(a, b, na * sizeof *a) == 0, "same as add_special (llama3 adds BOS)");
    CHECK(slm_vocab_tokenize(v, t, strlen(t), 0, 0, a, 64, &na) == SLM_OK && na > 5 && a[0] != bos,
          "without parse_special the marker is text");
    int32_t eot = slm_vocab_find(v, "<|eot_id|>", 10);
    CHECK(eot >= 0 && slm_vocab_is_eog(v, eot), "<|eot_id|> ends generation");
    CHECK(slm_vocab_is_eog(v, (int32_t)file_key(path, "tokenizer.ggml.eos_token_id")), "EOS is EOG");
    char piece[32];
    CHECK(slm_vocab_token_to_piece(v, (int32_t)bos, 0, piece, sizeof piece) == 0 &&
              slm_vocab_token_to_piece(v, (int32_t)bos, 1, piece, sizeof piece) == 17,
          "BOS renders only on request");
    slm_vocab_free(v);

    path = TOKDIR "/ggml-vocab-qwen2.gguf";
    v = load_vocab(path, NULL);
    REQUIRE(v, "qwen2");
    t = "<|im_start|>user\nHi<|im_end|>";
    CHECK(slm_vocab_tokenize(v, t, strlen(t), 1, 1, a, 64, &na) == SLM_OK, "tokenize");
    int32_t ims = slm_vocab_find(v, "<|im_start|>", 12), ime = slm_vocab_find(v, "<|im_end|>", 10);
    CHECK(na >= 3 && a[0] == ims && a[na - 1] == ime, "chat markers are single ids");
    CHECK(slm_vocab_is_eog(v, ime) && !slm_vocab_is_eog(v, ims), "<|im_end|> ends generation");
    slm_vocab_free(v);

    path = TOKDIR "/ggml-vocab-gemma-4.gguf";
    v = load_vocab(path, NULL);
    REQUIRE(v, "gemma-4");
    CHECK(slm_vocab_tokenize(v, "Hi", 2, 1, 0, a, 64, &na) == SLM_OK && na >= 2 &&
              a[0] == file_key(path, "tokenizer.ggml.bos_token_id"),
          "Gemma 4 always adds BOS");
    int32_t turn = slm_vocab_find(v, "<turn|>", 7);
    CHECK(turn >= 0 && slm_vocab_is_eog(v, turn), "<turn|> ends generation");
    slm_vocab_free(v);

    path = TOKDIR "/ggml-vocab-llama-spm.gguf";
    v = load_vocab(path, NULL);
    REQUIRE(v, "llama-spm");
    t = "<s>Hi";
    CHECK(slm_vocab_tokenize(v, t, strlen(t), 0, 1, a, 64, &na) == SLM_OK && na >= 2 &&
              a[0] == file_key(path, "tokenizer.ggml.bos_token_id"),
          "<s> parsed as BOS");
    slm_vocab_free(v);
}

/* Random bytes (valid and invalid UTF-8, chat markers, spaces) through every
 * vocabulary: ids stay in range, and the BPE ones give back exactly the
 * input when special tokens are rendered. Raw bytes stay below 0xC0: some
 * vocabularies have no token for bytes that never occur in UTF-8 (StarCoder
 * lacks C0, C1, F5..FF; DeepSeek has them as user-defined "À"... tokens), and
 * a U+2581 formed by chance comes back from Gemma 4 as a space; llama.cpp
 * does the same in both cases. */
static void random_bytes_tokenize_safely_and_round_trip(void)
{
    static const char *names[] = {"gpt-2", "llama-bpe", "qwen2", "starcoder", "deepseek-llm",
                                  "command-r", "gemma-4", "llama-spm", "phi-3"};
    static const char *bits[] = {" ", "  ", "\n", "a", "The", "\xc3\xa9", "\xe2\x96", "\xf0\x9f\x98\x80",
                                 "<|im_end|>", "<s>", "123", "'s", "\t", "<|endoftext|>", "<0x41>"};
    uint64_t state = 99;
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", TOKDIR, names[k]);
        slm_vocab *v = load_vocab(path, NULL);
        if (!v) {
            CHECK(0, "%s did not load", names[k]);
            continue;
        }
        int byte_level = v->kind == SLM_VOCAB_BPE, bad_range = 0, bad_trip = 0;
        for (int t = 0; t < 200; t++) {
            char text[256], back[2048];
            size_t len = 0;
            for (int p = 0; p < 12; p++) {
                state = state * 6364136223846793005ull + 1442695040888963407ull;
                unsigned r = (unsigned)(state >> 33);
                if (r % 4 == 0) {
                    text[len++] = (char)((r >> 8) % 0xC0);
                } else {
                    const char *b = bits[(r >> 8) % (sizeof bits / sizeof *bits)];
                    memcpy(text + len, b, strlen(b));
                    len += strlen(b);
                }
            }
            int32_t ids[512];
            size_t n = 0, blen = 0;
            int parse = (int)(state >> 62) & 1;
            if (slm_vocab_tokenize(v, text, len, 0, parse, ids, 512, &n) != SLM_OK) {
                bad_range++;
                continue;
            }
            for (size_t i = 0; i < n; i++) {
                bad_range += ids[i] < 0 || ids[i] >= slm_vocab_n_tokens(v);
                blen += slm_vocab_token_to_piece(v, ids[i], 1, back + blen, sizeof back - blen);
            }
            int has_sp = 0;
            for (size_t i = 0; i + 3 <= len; i++) has_sp |= memcmp(text + i, "\xe2\x96\x81", 3) == 0;
            if (byte_level && !(has_sp && v->escape_whitespace) && (blen != len || memcmp(back, text, len) != 0)) {
                if (!bad_trip++) {
                    fprintf(stderr, "%s: '", names[k]);
                    for (size_t i = 0; i < len; i++) fprintf(stderr, "\\x%02x", (unsigned char)text[i]);
                    fprintf(stderr, "' came back as '");
                    for (size_t i = 0; i < blen; i++) fprintf(stderr, "\\x%02x", (unsigned char)back[i]);
                    fprintf(stderr, "'\n");
                }
            }
        }
        CHECK(bad_range == 0, "%s: %d bad tokenizations", names[k], bad_range);
        CHECK(bad_trip == 0, "%s: %d of 200 random texts did not round-trip", names[k], bad_trip);
        slm_vocab_free(v);
    }
}

/* Throughput on a long text (the llama-bpe inputs repeated): a measurement,
 * printed; the check only guards against pathological slowness. */
static void tokenizer_throughput_is_reported(void)
{
    static const char *names[] = {"llama-bpe", "llama-spm", "gemma-4"};
    size_t in_len = 0;
    char *in = read_text(TOKDIR "/ggml-vocab-llama-bpe.gguf.inp", &in_len);
    REQUIRE(in, "inputs");
    size_t reps = 60, len = in_len * reps;
    char *text = malloc(len);
    for (size_t r = 0; r < reps; r++) memcpy(text + r * in_len, in, in_len);
    int32_t *ids = malloc(len * sizeof *ids);
    for (int i = 0; i < 3; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", TOKDIR, names[i]);
        slm_vocab *v = load_vocab(path, NULL);
        if (!v) continue;
        size_t n = 0;
        double t0 = now_ms();
        slm_status st = slm_vocab_tokenize(v, text, len, 0, 0, ids, len, &n);
        double dt = now_ms() - t0;
        CHECK(st == SLM_OK, "%s: %s", names[i], slm_last_error());
        printf("%-10s %zu bytes -> %zu tokens in %.1f ms (%.2f MB/s)\n", names[i], len, n, dt,
               len / dt / 1e3);
        CHECK(dt < 5000, "%s: %.0f ms", names[i], dt);
        slm_vocab_free(v);
    }
    free(ids);
    free(text);
    free(in);
}

int main(void)
{
    harness_need_dir(SLM_TESTDATA_DIR);
    RUN(tokenizer_vectors_match_llama_cpp);
    RUN(stories260k_prompt_tokenizes_like_llama_cpp);
    RUN(tiny_model_prompt_tokenizes_like_llama_cpp);
    RUN(special_tokens_in_text_are_single_ids_with_parse_special);
    RUN(random_bytes_tokenize_safely_and_round_trip);
    RUN(tokenizer_throughput_is_reported);
    return harness_finish();
}
