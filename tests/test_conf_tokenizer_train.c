/* test_conf_tokenizer_train.c — tokenizer training on real text: the
 * TinyStories train sample of ../shared/data (skipped, exit 77, without it).
 *
 * Trains SPM and byte-level BPE vocabularies of 512, 2048 and 4096 on the
 * 1.4 MB train file, checks that the runtime tokenizer gives exactly the
 * trainer's ids on every line of the validation prefix (text the trainer
 * never saw), and prints training time and compression (bytes per token)
 * on the validation text next to llama2.c's tok512 (the SentencePiece
 * vocabulary of stories260K, ../shared/data/models/tok512.bin) measured on
 * the same lines through the same runtime.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "base/alloc.h"
#include "harness.h"
#include "slm.h"
#include "tok/vocab.h"
#include "train/tokenizer_train.h"

#define TS_DIR SLM_SHARED_DATA_DIR "/text/tinystories"
#define TRAIN_FILE TS_DIR "/tinystoriesV2_train_first10000lines.txt.gz"
#define VALID_FILE TS_DIR "/tinystories_valid_prefix.txt.gz"
#define TOK512_FILE SLM_SHARED_DATA_DIR "/models/tok512.bin"

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static size_t n_train_docs; /* "<|endoftext|>" markers + 1, counted below */
static char *valid_text;
static size_t valid_len;

static char *read_gz(const char *path, size_t *len)
{
    gzFile f = gzopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, n = 0;
    char *p = malloc(cap);
    int got;
    while (p && (got = gzread(f, p + n, (unsigned)(cap - n))) > 0) {
        n += (size_t)got;
        if (n == cap) p = realloc(p, cap *= 2);
    }
    gzclose(f);
    *len = n;
    return p;
}

/* Tokenize every non-empty line of the validation text with v; with t, also
 * check the trainer's ids. Returns tokens (without BOS); *bytes = line bytes. */
static size_t run_valid(const slm_vocab *v, const slm_toktrain *t, size_t *bytes, int *mismatch)
{
    size_t total = 0, cap = 1 << 16;
    int32_t *ids = malloc(cap * sizeof *ids);
    *bytes = 0;
    *mismatch = 0;
    for (size_t i = 0; i < valid_len;) {
        size_t e = i;
        while (e < valid_len && valid_text[e] != '\n') e++;
        if (e > i) {
            size_t n = 0;
            slm_status st = slm_vocab_tokenize(v, valid_text + i, e - i, 0, 0, ids, cap, &n);
            CHECK(st == SLM_OK, "tokenize: %s", slm_last_error());
            total += n;
            *bytes += e - i;
            if (t) {
                int32_t *mine = NULL;
                size_t n_mine = 0;
                if (slm_toktrain_encode(t, valid_text + i, e - i, &mine, &n_mine) != SLM_OK ||
                    n_mine != n || memcmp(mine, ids, n * sizeof *ids) != 0)
                    (*mismatch)++;
                slm_free(mine);
            }
        }
        i = e + 1;
    }
    free(ids);
    return total;
}

static void train_and_measure(slm_toktrain_kind kind, int32_t n_vocab)
{
    slm_toktrain_config c = {.kind = kind, .n_vocab = n_vocab};
    slm_toktrain *t = NULL;
    REQUIRE(slm_toktrain_new(&c, &t) == SLM_OK, "new: %s", slm_last_error());
    double t0 = cpu_s();
    uint64_t got = 0;
    REQUIRE(slm_toktrain_add_file(t, TRAIN_FILE, 0, &got) == SLM_OK, "read: %s", slm_last_error());
    double t1 = cpu_s();
    REQUIRE(slm_toktrain_run(t) == SLM_OK, "run: %s", slm_last_error());
    double t2 = cpu_s();
    slm_toktrain_info in;
    slm_toktrain_get_info(t, &in);
    CHECK(in.n_tokens == n_vocab, "%d tokens", in.n_tokens);
    CHECK(in.n_docs == n_train_docs, "%llu documents, expected %zu",
          (unsigned long long)in.n_docs, n_train_docs);
    CHECK(t2 - t0 < 20.0, "training took %.1f s", t2 - t0);
    CHECK(slm_toktrain_verify(t) == 0, "%lld training words segmented unlike the runtime",
          (long long)slm_toktrain_verify(t));
    slm_vocab *v = NULL;
    REQUIRE(slm_toktrain_vocab(t, &v) == SLM_OK, "vocab: %s", slm_last_error());
    size_t bytes = 0;
    int mismatch = 0;
    double t3 = cpu_s();
    size_t n_tok = run_valid(v, t, &bytes, &mismatch);
    double t4 = cpu_s();
    CHECK(mismatch == 0, "%d validation lines where the runtime differs from the trainer", mismatch);
    printf("  %s %5d: %llu bytes, %llu docs, %llu words (%llu unique), %d chars (+%d to bytes), "
           "%d merges; read %.2f s, train %.2f s CPU; valid %zu bytes -> %zu tokens = %.3f "
           "bytes/token (checked both ways in %.2f s)\n",
           kind == SLM_TOKTRAIN_SPM ? "spm" : "bpe", n_vocab, (unsigned long long)got,
           (unsigned long long)in.n_docs, (unsigned long long)in.n_words,
           (unsigned long long)in.n_unique_words, in.n_chars, in.n_chars_dropped, in.n_merges,
           t1 - t0, t2 - t1, bytes, n_tok, (double)bytes / (double)n_tok, t4 - t3);
    slm_vocab_free(v);
    slm_toktrain_free(t);
}

static void spm_512_trains_and_runtime_agrees_on_validation(void) { train_and_measure(SLM_TOKTRAIN_SPM, 512); }
static void spm_2048_trains_and_runtime_agrees_on_validation(void) { train_and_measure(SLM_TOKTRAIN_SPM, 2048); }
static void spm_4096_trains_in_seconds_and_runtime_agrees_on_validation(void)
{
    train_and_measure(SLM_TOKTRAIN_SPM, 4096);
}
static void bpe_512_2048_4096_train_and_runtime_agrees_on_validation(void)
{
    train_and_measure(SLM_TOKTRAIN_BPE, 512);
    train_and_measure(SLM_TOKTRAIN_BPE, 2048);
    train_and_measure(SLM_TOKTRAIN_BPE, 4096);
}

/* llama2.c's export: u32 max_token_length, then per token f32 score, i32
 * length, bytes. */
static void tok512_reference_compression(void)
{
    size_t size = 0;
    unsigned char *d = harness_read_file(TOK512_FILE, &size);
    if (!d) {
        printf("  (no %s: reference skipped)\n", TOK512_FILE);
        return;
    }
    enum { N = 512 };
    static char texts[N][160];
    static const char *tokens[N];
    static float scores[N];
    static int32_t types[N];
    size_t o = 4;
    for (int i = 0; i < N; i++) {
        REQUIRE(o + 8 <= size, "tok512 truncated");
        int32_t len;
        memcpy(&scores[i], d + o, 4);
        memcpy(&len, d + o + 4, 4);
        o += 8;
        REQUIRE(len >= 0 && len < 64 && o + (size_t)len <= size, "tok512 token %d", i);
        /* llama2.c's export wrote "▁" as ' ': put it back */
        size_t k = 0;
        for (int32_t j = 0; j < len && k + 4 < sizeof texts[i]; j++) {
            if (d[o + j] == ' ') memcpy(texts[i] + k, "\xe2\x96\x81", 3), k += 3;
            else texts[i][k++] = (char)d[o + j];
        }
        texts[i][k] = '\0';
        o += (size_t)len;
        tokens[i] = texts[i];
        types[i] = i == 0 ? SLM_TOKEN_UNKNOWN : i < 3 ? SLM_TOKEN_CONTROL : i < 259 ? SLM_TOKEN_BYTE
                                                                              : SLM_TOKEN_NORMAL;
    }
    free(d);
    slm_vocab_spec spec = {.model = "llama", .tokens = tokens, .scores = scores, .types = types,
                           .n_tokens = N, .bos = 1, .eos = 2, .unk = 0, .pad = -1, .add_bos = 1,
                           .add_eos = 0, .add_space_prefix = 1};
    slm_vocab *v = NULL;
    REQUIRE(slm_vocab_build(&spec, &v) == SLM_OK, "tok512: %s", slm_last_error());
    size_t bytes = 0;
    int mismatch = 0;
    size_t n_tok = run_valid(v, NULL, &bytes, &mismatch);
    printf("  llama2.c tok512 (SentencePiece, trained on TinyStories): valid %zu bytes -> %zu "
           "tokens = %.3f bytes/token\n",
           bytes, n_tok, (double)bytes / (double)n_tok);
    slm_vocab_free(v);
}

int main(void)
{
    harness_need_dir(TS_DIR);
    valid_text = read_gz(VALID_FILE, &valid_len);
    if (!valid_text) {
        printf("SKIP: cannot read %s\n", VALID_FILE);
        return 77;
    }
    size_t train_len = 0;
    char *train_text = read_gz(TRAIN_FILE, &train_len);
    if (!train_text) {
        printf("SKIP: cannot read %s\n", TRAIN_FILE);
        return 77;
    }
    n_train_docs = 1;
    for (const char *p = train_text; (p = strstr(p, "<|endoftext|>")); p++) n_train_docs++;
    free(train_text);
    RUN(tok512_reference_compression);
    RUN(spm_512_trains_and_runtime_agrees_on_validation);
    RUN(spm_2048_trains_and_runtime_agrees_on_validation);
    RUN(spm_4096_trains_in_seconds_and_runtime_agrees_on_validation);
    RUN(bpe_512_2048_4096_train_and_runtime_agrees_on_validation);
    free(valid_text);
    return harness_finish();
}
