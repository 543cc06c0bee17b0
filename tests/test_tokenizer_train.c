/* test_tokenizer_train.c — tokenizer training (src/train/tokenizer_train.c).
 *
 * The expectation for every encoding is the runtime tokenizer (src/tok,
 * itself checked against llama.cpp's vocabularies in test_conf_tok), so the
 * trainer's segmentation is checked by an independent implementation of the
 * merge procedure, on text the trainer never saw.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "gguf/gguf.h"
#include "harness.h"
#include "slm.h"
#include "tok/vocab.h"
#include "train/tokenizer_train.h"

static const char *corpus[] = {
    "Once upon a time there was a little girl named Lily. She liked to play in the park with "
    "her red ball. One day she saw a big dog. The dog was happy and wanted to play too.",
    "Tom had a small boat. He liked to sail the boat on the lake with his dad. They saw "
    "fish and birds. \"Look, a duck!\" said Tom. His dad smiled and said, \"Yes, it is a duck.\"",
    "The sun was hot and the sky was blue.  The children ran to the sea\nand played in the "
    "sand.\n\nThey built a big castle with towers and a moat, and then they ate ice cream.",
    "  Leading spaces, trailing spaces   \n\n\n and numbers 1234 5678 90 in the text,\tand tabs.",
    "A cat sat on the mat. The cat was fat. The mat was flat. That cat, this hat, then that.",
    "There were three bears: the papa bear, the mama bear and the baby bear. They lived in a "
    "house in the woods, and every morning they had porridge for breakfast.",
};

static const char *held_out[] = {
    "Once upon a time, a happy dog named Max played with a ball in the sun.",
    "the theme then there these thesis Thermos", /* overlaps of "th", "the", "he" */
    "   many    spaces   \n\n and\nnewlines\n",
    "Unseen: Zürich, naïve, 東京, emoji \xF0\x9F\x98\x80 and <s> </s> <unk> <0x41> text",
    "invalid \xE2 utf8 \xFF\xFE bytes \xE2\x96 and a lone continuation \x80 byte",
    "aaaaaaaaaaaaaaaa bbbbbbbb abababab the the the thethethe",
    "",
    " ",
    "\n",
    "x",
};

static int quiet; /* allocation-failure sweep: failures are expected */

/* Train on docs[0..n) (default: the corpus above). */
static slm_toktrain *train_on(slm_toktrain_kind kind, int32_t n_vocab, const char *const *docs,
                              size_t n_docs)
{
    slm_toktrain_config c = {.kind = kind, .n_vocab = n_vocab};
    slm_toktrain *t = NULL;
    if (slm_toktrain_new(&c, &t) != SLM_OK) return NULL;
    for (size_t i = 0; i < n_docs; i++)
        if (slm_toktrain_add_doc(t, docs[i], strlen(docs[i])) != SLM_OK) goto fail;
    if (slm_toktrain_run(t) != SLM_OK) goto fail;
    return t;
fail:
    if (!quiet) fprintf(stderr, "train: %s\n", slm_last_error());
    slm_toktrain_free(t);
    return NULL;
}

static slm_toktrain *train(slm_toktrain_kind kind, int32_t n_vocab)
{
    return train_on(kind, n_vocab, corpus, sizeof corpus / sizeof *corpus);
}

/* Compare the trainer's encoding of text with the runtime's; 1 if equal. */
static int same_ids(const slm_toktrain *t, const slm_vocab *v, const char *text, size_t len,
                    const char *what)
{
    int32_t *mine = NULL;
    size_t n_mine = 0, n_rt = 0;
    if (slm_toktrain_encode(t, text, len, &mine, &n_mine) != SLM_OK) {
        CHECK(0, "%s: encode: %s", what, slm_last_error());
        return 0;
    }
    int32_t *rt = malloc((n_mine + len + 8) * sizeof *rt);
    slm_status st = slm_vocab_tokenize(v, text, len, 0, 0, rt, n_mine + len + 8, &n_rt);
    int ok = st == SLM_OK && n_rt == n_mine && (n_mine == 0 || memcmp(rt, mine, n_mine * sizeof *rt) == 0);
    if (!ok) {
        fprintf(stderr, "%s: trainer %zu ids, runtime %zu ids (st %d) for '%.*s'\n", what, n_mine,
                n_rt, (int)st, (int)(len > 60 ? 60 : len), text);
        for (size_t i = 0; i < n_mine || i < n_rt; i++) {
            if (i < n_mine && i < n_rt && mine[i] == rt[i]) continue;
            fprintf(stderr, "  first difference at %zu: trainer %d, runtime %d\n", i,
                    i < n_mine ? mine[i] : -1, i < n_rt ? rt[i] : -1);
            break;
        }
    }
    slm_free(mine);
    free(rt);
    return ok;
}

static void check_held_out(slm_toktrain_kind kind, int32_t n_vocab)
{
    slm_toktrain *t = train(kind, n_vocab);
    REQUIRE(t, "training failed");
    /* the segmentation the pair counts came from is the runtime's */
    CHECK(slm_toktrain_verify(t) == 0, "%lld training words segmented unlike the runtime",
          (long long)slm_toktrain_verify(t));
    slm_vocab *v = NULL;
    REQUIRE(slm_toktrain_vocab(t, &v) == SLM_OK, "vocab: %s", slm_last_error());
    for (size_t i = 0; i < sizeof held_out / sizeof *held_out; i++)
        CHECK(same_ids(t, v, held_out[i], strlen(held_out[i]), "held-out"), "text %zu", i);
    /* the training documents themselves */
    for (size_t i = 0; i < sizeof corpus / sizeof *corpus; i++)
        CHECK(same_ids(t, v, corpus[i], strlen(corpus[i]), "corpus"), "doc %zu", i);
    /* random byte strings, and random mixes of corpus fragments */
    uint64_t s = 12345 + (uint64_t)n_vocab;
    char buf[256];
    for (int r = 0; r < 300; r++) {
        size_t n = 0, want = 1 + (size_t)(r % 200);
        while (n < want) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            unsigned x = (unsigned)(s >> 33);
            if (r % 3 == 0) {
                buf[n++] = (char)(x & 0xFF);
            } else {
                const char *src = corpus[x % (sizeof corpus / sizeof *corpus)];
                size_t sl = strlen(src), at = (x >> 8) % sl, k = 1 + (x >> 20) % 12;
                for (size_t j = 0; j < k && at + j < sl && n < want; j++) buf[n++] = src[at + j];
            }
        }
        if (!same_ids(t, v, buf, n, "random")) {
            CHECK(0, "random text %d differs", r);
            break;
        }
    }
    slm_vocab_free(v);
    slm_toktrain_free(t);
}

static void spm_runtime_reproduces_trainer_on_held_out_text(void)
{
    check_held_out(SLM_TOKTRAIN_SPM, 330);
    check_held_out(SLM_TOKTRAIN_SPM, 400);
    check_held_out(SLM_TOKTRAIN_SPM, 600);
}

static void bpe_runtime_reproduces_trainer_on_held_out_text(void)
{
    check_held_out(SLM_TOKTRAIN_BPE, 300);
    check_held_out(SLM_TOKTRAIN_BPE, 450);
}

/* Why the trainer cannot just replay merge rules for SPM: with pieces
 * "bc" (made first), "ab", then "abc" made as ab+c, replaying the rules on
 * "abc" gives a|bc (no rule joins a and bc), but the runtime joins any two
 * adjacent pieces whose concatenation is a piece and gives abc. */
static void spm_runtime_merges_by_concatenation_not_by_rule(void)
{
    const char *tokens[] = {"<unk>", "<s>", "</s>", "a", "b", "c", "\xe2\x96\x81",
                            "bc", "ab", "abc"};
    float scores[] = {0, 0, 0, -10, -11, -12, -13, -1, -2, -3};
    int32_t types[] = {2, 3, 3, 1, 1, 1, 1, 1, 1, 1};
    slm_vocab_spec spec = {.model = "llama", .tokens = tokens, .scores = scores, .types = types,
                           .n_tokens = 10, .bos = 1, .eos = 2, .unk = 0, .pad = -1, .add_bos = 0,
                           .add_eos = 0, .add_space_prefix = 0};
    slm_vocab *v = NULL;
    REQUIRE(slm_vocab_build(&spec, &v) == SLM_OK, "%s", slm_last_error());
    int32_t ids[8];
    size_t n = 0;
    REQUIRE(slm_vocab_tokenize(v, "abc", 3, 0, 0, ids, 8, &n) == SLM_OK, "%s", slm_last_error());
    CHECK(n == 1 && ids[0] == 9, "runtime gives %zu ids (first %d), expected abc", n, ids[0]);
    slm_vocab_free(v);
    /* and the trainer meets exactly such cases on real text, yet agrees */
    slm_toktrain *t = train(SLM_TOKTRAIN_SPM, 600);
    REQUIRE(t, "training failed");
    slm_vocab *tv = NULL;
    REQUIRE(slm_toktrain_vocab(t, &tv) == SLM_OK, "vocab");
    int ambiguous = 0;
    for (int32_t id = 259; id < slm_vocab_n_tokens(tv); id++) {
        size_t len;
        const char *p = slm_vocab_token_text(tv, id, &len);
        int splits = 0;
        for (size_t k = 1; k < len; k++)
            splits += slm_vocab_find(tv, p, k) >= 0 && slm_vocab_find(tv, p + k, len - k) >= 0;
        ambiguous += splits > 1;
    }
    CHECK(ambiguous > 0, "no piece with two splits: the case above was not exercised");
    printf("  %d of %d pieces have more than one split into two pieces\n", ambiguous,
           slm_vocab_n_tokens(tv) - 259);
    slm_vocab_free(tv);
    slm_toktrain_free(t);
}

/* Pieces after the characters are formed by merges of two earlier pieces
 * and their scores fall strictly in merge order: what the runtime's greedy
 * highest-score merge needs. */
static void spm_scores_fall_strictly_and_pieces_are_merges(void)
{
    slm_toktrain *t = train(SLM_TOKTRAIN_SPM, 400);
    REQUIRE(t, "training failed");
    slm_vocab *v = NULL;
    REQUIRE(slm_toktrain_vocab(t, &v) == SLM_OK, "vocab: %s", slm_last_error());
    slm_toktrain_info in;
    slm_toktrain_get_info(t, &in);
    CHECK(in.n_tokens == 400, "n_tokens %d", in.n_tokens);
    CHECK(in.n_chars + in.n_merges + 259 == in.n_tokens, "chars %d merges %d", in.n_chars,
          in.n_merges);
    int32_t first_merge = 259 + in.n_chars;
    float prev = 1e30f;
    for (int32_t id = first_merge; id < in.n_tokens; id++) {
        float sc = v->tokens[id].score;
        CHECK(sc < prev, "score of %d (%g) not below the previous (%g)", id, sc, prev);
        prev = sc;
        size_t len;
        const char *p = slm_vocab_token_text(v, id, &len);
        int found = 0;
        for (size_t k = 1; k < len && !found; k++) {
            int32_t a = slm_vocab_find(v, p, k), b = slm_vocab_find(v, p + k, len - k);
            found = a >= 0 && b >= 0 && a < id && b < id;
        }
        CHECK(found, "piece %d '%s' is not two earlier pieces", id, p);
    }
    /* characters score below every merge */
    for (int32_t id = 259; id < first_merge; id++)
        CHECK(v->tokens[id].score < prev, "char %d score %g", id, v->tokens[id].score);
    CHECK(slm_vocab_token_type(v, 0) == SLM_TOKEN_UNKNOWN && slm_vocab_bos(v) == 1 &&
              slm_vocab_eos(v) == 2,
          "specials");
    size_t len;
    CHECK(strcmp(slm_vocab_token_text(v, 3 + 0x41, &len), "<0x41>") == 0, "byte token");
    slm_vocab_free(v);
    slm_toktrain_free(t);
}

static void spm_unseen_characters_fall_back_to_bytes(void)
{
    slm_toktrain *t = train(SLM_TOKTRAIN_SPM, 330);
    REQUIRE(t, "training failed");
    slm_vocab *v = NULL;
    REQUIRE(slm_toktrain_vocab(t, &v) == SLM_OK, "vocab: %s", slm_last_error());
    const char *text = "東";
    int32_t *ids = NULL;
    size_t n = 0;
    REQUIRE(slm_toktrain_encode(t, text, strlen(text), &ids, &n) == SLM_OK, "%s", slm_last_error());
    /* "▁" then the three bytes of U+6771 (E6 9D B1) as <0xE6> <0x9D> <0xB1> */
    REQUIRE(n == 4, "%zu ids", n);
    size_t len;
    CHECK(strcmp(slm_vocab_token_text(v, ids[0], &len), "\xe2\x96\x81") == 0, "space piece");
    CHECK(ids[1] == 3 + 0xE6 && ids[2] == 3 + 0x9D && ids[3] == 3 + 0xB1, "bytes %d %d %d",
          ids[1], ids[2], ids[3]);
    /* detokenizing gives the text back */
    const char *text2 = "Zürich 東京 is far";
    slm_free(ids);
    REQUIRE(slm_toktrain_encode(t, text2, strlen(text2), &ids, &n) == SLM_OK, "%s",
            slm_last_error());
    char out[128];
    size_t o = 0;
    for (size_t i = 0; i < n; i++) o += slm_vocab_token_to_piece(v, ids[i], 0, out + o, sizeof out - o);
    CHECK(o == strlen(text2) + 1 && out[0] == ' ' && memcmp(out + 1, text2, o - 1) == 0,
          "round trip '%.*s'", (int)o, out);
    slm_free(ids);
    slm_vocab_free(v);
    slm_toktrain_free(t);
}

static void training_is_deterministic(void)
{
    for (int kind = 0; kind < 2; kind++) {
        slm_toktrain *a = train((slm_toktrain_kind)kind, 380), *b = train((slm_toktrain_kind)kind, 380);
        REQUIRE(a && b, "training failed");
        slm_vocab *va = NULL, *vb = NULL;
        REQUIRE(slm_toktrain_vocab(a, &va) == SLM_OK && slm_toktrain_vocab(b, &vb) == SLM_OK,
                "vocab");
        CHECK(slm_vocab_n_tokens(va) == slm_vocab_n_tokens(vb), "sizes");
        for (int32_t i = 0; i < slm_vocab_n_tokens(va) && i < slm_vocab_n_tokens(vb); i++) {
            size_t la, lb;
            const char *pa = slm_vocab_token_text(va, i, &la), *pb = slm_vocab_token_text(vb, i, &lb);
            CHECK(la == lb && memcmp(pa, pb, la) == 0 && va->tokens[i].score == vb->tokens[i].score,
                  "token %d differs", i);
        }
        CHECK(va->n_merges == vb->n_merges, "merges");
        slm_vocab_free(va);
        slm_vocab_free(vb);
        slm_toktrain_free(a);
        slm_toktrain_free(b);
    }
}

static void vocabulary_size_is_respected(void)
{
    int32_t sizes[] = {260, 300, 333, 512};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        for (int kind = 0; kind < 2; kind++) {
            slm_toktrain *t = train((slm_toktrain_kind)kind, sizes[i]);
            REQUIRE(t, "training failed");
            slm_toktrain_info in;
            slm_toktrain_get_info(t, &in);
            CHECK(in.n_tokens <= sizes[i], "kind %d: %d tokens for %d", kind, in.n_tokens, sizes[i]);
            /* the small corpus has enough pairs for these sizes, except 512 */
            if (sizes[i] < 512) CHECK(in.n_tokens == sizes[i], "kind %d: %d tokens", kind, in.n_tokens);
            slm_toktrain_free(t);
        }
    }
    /* 260 leaves one slot: the most frequent character ("▁"); the rest are bytes */
    slm_toktrain *t = train(SLM_TOKTRAIN_SPM, 260);
    REQUIRE(t, "training failed");
    slm_toktrain_info in;
    slm_toktrain_get_info(t, &in);
    CHECK(in.n_chars == 1 && in.n_merges == 0 && in.n_chars_dropped > 10, "chars %d dropped %d",
          in.n_chars, in.n_chars_dropped);
    slm_vocab *v = NULL;
    REQUIRE(slm_toktrain_vocab(t, &v) == SLM_OK, "vocab");
    CHECK(same_ids(t, v, corpus[0], strlen(corpus[0]), "260"), "all bytes");
    slm_vocab_free(v);
    slm_toktrain_free(t);
}

static void bad_arguments_are_refused(void)
{
    slm_toktrain *t = NULL;
    slm_toktrain_config c = {.kind = SLM_TOKTRAIN_SPM, .n_vocab = 259};
    CHECK(slm_toktrain_new(&c, &t) == SLM_ERR_ARG && !t, "vocab 259");
    c.n_vocab = 4096;
    c.kind = (slm_toktrain_kind)7;
    CHECK(slm_toktrain_new(&c, &t) == SLM_ERR_ARG && !t, "kind 7");
    CHECK(slm_toktrain_new(NULL, &t) == SLM_ERR_ARG, "NULL config");
    c.kind = SLM_TOKTRAIN_SPM;
    REQUIRE(slm_toktrain_new(&c, &t) == SLM_OK, "new");
    CHECK(slm_toktrain_run(t) == SLM_ERR_ARG, "no text");
    int32_t *ids;
    size_t n;
    CHECK(slm_toktrain_encode(t, "x", 1, &ids, &n) == SLM_ERR_ARG, "encode before training");
    slm_toktrain_free(t);

    slm_tokenizer_train_params p = slm_tokenizer_train_default_params();
    CHECK(p.n_vocab == 4096 && strcmp(p.type, "spm") == 0, "defaults");
    const char *files[] = {"/nonexistent/corpus.txt"};
    CHECK(slm_tokenizer_train(NULL, files, 1, "/tmp/x.gguf", NULL) == SLM_ERR_ARG, "NULL params");
    CHECK(slm_tokenizer_train(&p, NULL, 0, "/tmp/x.gguf", NULL) == SLM_ERR_ARG, "no files");
    CHECK(slm_tokenizer_train(&p, files, 1, NULL, NULL) == SLM_ERR_ARG, "no output");
    p.type = "wordpiece";
    CHECK(slm_tokenizer_train(&p, files, 1, "/tmp/x.gguf", NULL) == SLM_ERR_ARG, "type");
    p.type = "spm";
    p.n_vocab = 100;
    CHECK(slm_tokenizer_train(&p, files, 1, "/tmp/x.gguf", NULL) == SLM_ERR_ARG, "n_vocab 100");
    p.n_vocab = 512;
    CHECK(slm_tokenizer_train(&p, files, 1, "/tmp/x.gguf", NULL) == SLM_ERR_IO, "missing file");
    CHECK(strstr(slm_last_error(), "/nonexistent/corpus.txt") != NULL, "message: %s",
          slm_last_error());
}

/* The public entry point: files with <|endoftext|> separators, a GGUF that
 * the model loader reads back as a vocabulary-only model. */
static void public_train_writes_a_loadable_gguf(void)
{
    char dir[] = "/tmp/slm_toktrain_XXXXXX";
    REQUIRE(mkdtemp(dir), "mkdtemp");
    char in_path[96], out_path[96];
    snprintf(in_path, sizeof in_path, "%s/corpus.txt", dir);
    snprintf(out_path, sizeof out_path, "%s/tok.gguf", dir);
    FILE *f = fopen(in_path, "wb");
    REQUIRE(f, "fopen");
    for (size_t i = 0; i < sizeof corpus / sizeof *corpus; i++)
        fprintf(f, "%s\n<|endoftext|>\n", corpus[i]);
    fclose(f);
    slm_tokenizer_train_params p = slm_tokenizer_train_default_params();
    p.n_vocab = 350;
    slm_tokenizer_train_stats stats;
    slm_status st = slm_tokenizer_train(&p, (const char *const[]){in_path}, 1, out_path, &stats);
    REQUIRE(st == SLM_OK, "train: %s", slm_last_error());
    CHECK(stats.n_docs == sizeof corpus / sizeof *corpus, "%llu docs",
          (unsigned long long)stats.n_docs);
    CHECK(stats.n_tokens == 350, "%u tokens", stats.n_tokens);

    slm_model_params mp = slm_model_default_params();
    mp.vocab_only = 1;
    slm_model *m = NULL;
    REQUIRE(slm_model_load(out_path, &mp, &m) == SLM_OK, "load: %s", slm_last_error());
    CHECK(slm_model_n_vocab(m) == 350, "n_vocab %d", slm_model_n_vocab(m));
    CHECK(slm_token_bos(m) == 1 && slm_token_eos(m) == 2, "bos/eos");
    const char *model_name = NULL;
    CHECK(slm_model_meta_str(m, "tokenizer.ggml.model", &model_name) == SLM_OK &&
              strcmp(model_name, "llama") == 0,
          "model");
    /* the marker was a separator and document ends are trimmed: the same
     * documents, trimmed here, trained in memory give the same ids */
    char trimmed[sizeof corpus / sizeof *corpus][512];
    const char *docs[sizeof corpus / sizeof *corpus];
    for (size_t i = 0; i < sizeof corpus / sizeof *corpus; i++) {
        const char *b = corpus[i], *e = corpus[i] + strlen(corpus[i]);
        while (b < e && strchr(" \t\r\n", *b)) b++;
        while (e > b && strchr(" \t\r\n", e[-1])) e--;
        snprintf(trimmed[i], sizeof trimmed[i], "%.*s", (int)(e - b), b);
        docs[i] = trimmed[i];
    }
    slm_toktrain *t = train_on(SLM_TOKTRAIN_SPM, 350, docs, sizeof docs / sizeof *docs);
    REQUIRE(t, "train");
    for (size_t i = 0; i < sizeof held_out / sizeof *held_out; i++) {
        int32_t *mine = NULL, rt[512];
        size_t n_mine = 0, n_rt = 0;
        REQUIRE(slm_toktrain_encode(t, held_out[i], strlen(held_out[i]), &mine, &n_mine) == SLM_OK,
                "encode");
        st = slm_tokenize(m, held_out[i], strlen(held_out[i]), 0, 0, rt, 512, &n_rt);
        CHECK(st == SLM_OK && n_rt == n_mine && (n_mine == 0 || memcmp(rt, mine, n_mine * sizeof *rt) == 0),
              "text %zu: %zu vs %zu ids", i, n_rt, n_mine);
        slm_free(mine);
    }
    slm_toktrain_free(t);
    slm_model_free(m);
    unlink(in_path);
    unlink(out_path);
    rmdir(dir);
}

static void dna_sequences_train_without_space_prefix(void)
{
    slm_toktrain_config c = {.kind = SLM_TOKTRAIN_SPM, .n_vocab = 300, .dna = 1};
    slm_toktrain *t = NULL;
    REQUIRE(slm_toktrain_new(&c, &t) == SLM_OK, "new");
    char seq[241];
    uint64_t s = 7;
    for (int d = 0; d < 40; d++) {
        for (int i = 0; i < 240; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            seq[i] = "ACGT"[(s >> 40) % 4];
            if (i % 12 < 4) seq[i] = "TATA"[i % 4]; /* a repeated motif */
        }
        REQUIRE(slm_toktrain_add_doc(t, seq, 240) == SLM_OK, "add");
    }
    REQUIRE(slm_toktrain_run(t) == SLM_OK, "run: %s", slm_last_error());
    slm_vocab *v = NULL;
    REQUIRE(slm_toktrain_vocab(t, &v) == SLM_OK, "vocab");
    CHECK(v->add_space_prefix == 0, "no space prefix");
    CHECK(same_ids(t, v, seq, 240, "dna"), "dna sequence");
    CHECK(same_ids(t, v, "TATAACGTNNACGT", 14, "dna"), "dna with N");
    int32_t *ids = NULL;
    size_t n = 0;
    REQUIRE(slm_toktrain_encode(t, seq, 240, &ids, &n) == SLM_OK, "encode");
    CHECK(n < 120, "%zu tokens for 240 bases", n);
    slm_free(ids);
    slm_vocab_free(v);
    slm_toktrain_free(t);
}

/* Fail the 1st, 2nd, ... allocation of a whole training run until it
 * succeeds: every failure must come back as SLM_ERR_NOMEM and free
 * everything (ASan's leak check). */
/* --dna reading: FASTA headers skipped, the sequence field of CSV and UCI
 * rows, header rows dropped, lower case folded, N splits. */
static void dna_files_give_one_document_per_sequence_run(void)
{
    char path[] = "/tmp/slm_dna_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0, "mkstemp");
    const char *text = ">chr1 some header\nACGTACGTNNACGT\nsequence,label\nacgtacgt,1\n"
                       "EI, NAME-1,   CCAGCTGA\n\n>x\nTTTT";
    REQUIRE(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write");
    close(fd);
    slm_toktrain_config c = {.kind = SLM_TOKTRAIN_SPM, .n_vocab = 270, .dna = 1};
    slm_toktrain *t = NULL;
    REQUIRE(slm_toktrain_new(&c, &t) == SLM_OK, "new");
    uint64_t got = 0;
    CHECK(slm_toktrain_add_file(t, path, 0, &got) == SLM_OK, "%s", slm_last_error());
    CHECK(got == strlen(text), "%llu bytes", (unsigned long long)got);
    REQUIRE(slm_toktrain_run(t) == SLM_OK, "%s", slm_last_error());
    slm_toktrain_info in;
    slm_toktrain_get_info(t, &in);
    /* ACGTACGT, ACGT, ACGTACGT, CCAGCTGA, TTTT */
    CHECK(in.n_docs == 5 && in.n_unique_words == 4, "%llu docs, %llu distinct",
          (unsigned long long)in.n_docs, (unsigned long long)in.n_unique_words);
    CHECK(in.n_chars == 4, "%d characters (A C G T expected)", in.n_chars);
    slm_toktrain_free(t);
    unlink(path);
}

static void allocation_failures_are_reported(void)
{
    quiet = 1;
    int ok = 0, bad_status = 0;
    long k;
    for (k = 0; k < 5000 && !ok; k++) {
        slm_toktrain_config c = {.kind = (slm_toktrain_kind)(k % 2), .n_vocab = 300};
        slm_toktrain *t = NULL;
        slm_alloc_fail_after(k);
        slm_status st = slm_toktrain_new(&c, &t);
        for (size_t i = 0; st == SLM_OK && i < sizeof corpus / sizeof *corpus; i++)
            st = slm_toktrain_add_doc(t, corpus[i], strlen(corpus[i]));
        if (st == SLM_OK) st = slm_toktrain_run(t);
        int32_t *ids = NULL;
        size_t n = 0;
        if (st == SLM_OK) st = slm_toktrain_encode(t, held_out[0], strlen(held_out[0]), &ids, &n);
        slm_alloc_fail_after(-1);
        if (st != SLM_OK && st != SLM_ERR_NOMEM) bad_status++;
        ok = st == SLM_OK;
        slm_free(ids);
        slm_toktrain_free(t);
    }
    quiet = 0;
    CHECK(ok, "never succeeded in %ld attempts", k);
    CHECK(bad_status == 0, "%d failures with a status other than SLM_ERR_NOMEM", bad_status);
}

int main(void)
{
    RUN(spm_runtime_reproduces_trainer_on_held_out_text);
    RUN(bpe_runtime_reproduces_trainer_on_held_out_text);
    RUN(spm_runtime_merges_by_concatenation_not_by_rule);
    RUN(spm_scores_fall_strictly_and_pieces_are_merges);
    RUN(spm_unseen_characters_fall_back_to_bytes);
    RUN(training_is_deterministic);
    RUN(vocabulary_size_is_respected);
    RUN(bad_arguments_are_refused);
    RUN(public_train_writes_a_loadable_gguf);
    RUN(dna_sequences_train_without_space_prefix);
    RUN(dna_files_give_one_document_per_sequence_run);
    RUN(allocation_failures_are_reported);
    return harness_finish();
}
