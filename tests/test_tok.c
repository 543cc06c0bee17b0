/* test_tok.c — tokenizer unit tests on small vocabularies built in code.
 *
 * Expected ids are derived by hand from the merge rules, or come from a
 * naive oracle written here (repeatedly scan every adjacent pair, merge the
 * best one) that shares no code with src/tok. Needs nothing from ../shared.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "gguf/gguf.h"
#include "harness.h"
#include "tok/vocab.h"

#define SP "\xe2\x96\x81" /* U+2581, SentencePiece's space */

/* ---- a SentencePiece vocabulary -------------------------------------------
 * 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then the pieces below. */

static const char *spm_pieces[] = {SP, "a", "b", "c", "ab", "bc", SP "a", SP "b", "abc",
                                   SP SP, "<user>", "<|im_end|>"};
static const float spm_piece_scores[] = {-1, -2, -2, -2, -3, -2.5f, -1.5f, -1.5f, -4, -5, 0, 0};
enum { SPM_FIRST = 259, SPM_N = 259 + 12 };
/* ids of the pieces */
enum { T_SP = 259, T_A, T_B, T_C, T_AB, T_BC, T_SPA, T_SPB, T_ABC, T_SPSP, T_USER, T_IMEND };

static char spm_names[259][8];
static const char *spm_tokens[SPM_N];
static float spm_scores[SPM_N];
static int32_t spm_types[SPM_N];

static slm_vocab *spm_vocab(int add_space_prefix, float score_ab)
{
    spm_tokens[0] = "<unk>";
    spm_tokens[1] = "<s>";
    spm_tokens[2] = "</s>";
    spm_types[0] = SLM_TOKEN_UNKNOWN;
    spm_types[1] = spm_types[2] = SLM_TOKEN_CONTROL;
    for (int b = 0; b < 256; b++) {
        snprintf(spm_names[3 + b], sizeof spm_names[0], "<0x%02X>", b);
        spm_tokens[3 + b] = spm_names[3 + b];
        spm_types[3 + b] = SLM_TOKEN_BYTE;
    }
    for (int i = 0; i < SPM_N - SPM_FIRST; i++) {
        spm_tokens[SPM_FIRST + i] = spm_pieces[i];
        spm_scores[SPM_FIRST + i] = spm_piece_scores[i];
        spm_types[SPM_FIRST + i] = SLM_TOKEN_NORMAL;
    }
    spm_scores[T_AB] = score_ab;
    spm_types[T_USER] = SLM_TOKEN_USER_DEFINED;
    spm_types[T_IMEND] = SLM_TOKEN_CONTROL;
    slm_vocab_spec spec = {.model = "llama", .tokens = spm_tokens, .scores = spm_scores,
                           .types = spm_types, .n_tokens = SPM_N, .bos = 1, .eos = 2, .unk = 0,
                           .pad = -1, .add_bos = -2, .add_eos = -2,
                           .add_space_prefix = add_space_prefix};
    slm_vocab *v = NULL;
    slm_status st = slm_vocab_build(&spec, &v);
    CHECK(st == SLM_OK, "spm vocab: %s", slm_last_error());
    return v;
}

static size_t tok(const slm_vocab *v, const char *text, int add_special, int parse_special,
                  int32_t *ids, size_t cap)
{
    size_t n = 0;
    slm_status st = slm_vocab_tokenize(v, text, strlen(text), add_special, parse_special, ids, cap, &n);
    CHECK(st == SLM_OK, "tokenize '%s': %s", text, slm_last_error());
    return n;
}

#define EXPECT_IDS(v, text, add, parse, ...)                                          \
    do {                                                                              \
        const int32_t want_[] = {__VA_ARGS__};                                        \
        int32_t got_[64];                                                             \
        size_t n_ = tok(v, text, add, parse, got_, 64);                               \
        size_t nw_ = sizeof want_ / sizeof want_[0];                                  \
        int same_ = n_ == nw_ && memcmp(got_, want_, sizeof want_) == 0;              \
        CHECK(same_, "'%s': got %zu ids (first %d), want %zu (first %d)", text, n_,   \
              n_ ? got_[0] : -1, nw_, want_[0]);                                      \
    } while (0)

static void spm_merges_the_highest_scoring_pair_first(void)
{
    /* "abc": ab scores -3, bc -2.5, so bc merges first and ab never forms;
     * then a+bc = abc is a token (-4) and merges too. */
    slm_vocab *v = spm_vocab(0, -3);
    EXPECT_IDS(v, "abc", 0, 0, T_ABC);
    EXPECT_IDS(v, "ab", 0, 0, T_AB);
    EXPECT_IDS(v, "bcab", 0, 0, T_BC, T_AB);
    slm_vocab_free(v);
    /* With ab at -2.2 it beats bc: ab + c, and "abc" is not ab+c's merge
     * (ab, c concatenated is abc, which is a token: it merges again). */
    v = spm_vocab(0, -2.2f);
    EXPECT_IDS(v, "abc", 0, 0, T_ABC);
    EXPECT_IDS(v, "abcb", 0, 0, T_ABC, T_B);
    slm_vocab_free(v);
}

static void spm_adds_one_dummy_space_and_escapes_spaces(void)
{
    slm_vocab *v = spm_vocab(1, -3);
    EXPECT_IDS(v, "a b", 0, 0, T_SPA, T_SPB);      /* "▁a▁b" */
    EXPECT_IDS(v, " a", 0, 0, T_SP, T_SPA);        /* "▁▁a": ▁a (-1.5) beats ▁▁ (-5) */
    EXPECT_IDS(v, " ", 0, 0, T_SPSP);              /* "▁▁" */
    int32_t ids[4];
    CHECK(tok(v, "", 0, 0, ids, 4) == 0, "empty text gives no tokens");
    slm_vocab_free(v);
}

static void spm_falls_back_to_byte_tokens(void)
{
    slm_vocab *v = spm_vocab(0, -3);
    /* é is C3 A9; \x01 is byte 1 */
    EXPECT_IDS(v, "a\xc3\xa9\x01", 0, 0, T_A, 3 + 0xC3, 3 + 0xA9, 3 + 0x01);
    slm_vocab_free(v);
}

/* Naive SentencePiece oracle: strings, quadratic scanning. */
static size_t oracle_spm(const slm_vocab *v, const char *text, int32_t *out)
{
    char syms[256][64];
    int n = 0;
    for (size_t i = 0; text[i];) {
        unsigned char c = (unsigned char)text[i];
        size_t l = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        memcpy(syms[n], text + i, l);
        syms[n++][l] = '\0';
        i += l;
    }
    for (;;) {
        int best = -1;
        float best_score = 0;
        for (int i = 0; i + 1 < n; i++) {
            char cat[128];
            snprintf(cat, sizeof cat, "%.63s%.63s", syms[i], syms[i + 1]);
            for (int id = 0; id < SPM_N; id++)
                if (strcmp(spm_tokens[id], cat) == 0 && (best < 0 || spm_scores[id] > best_score)) {
                    best = i;
                    best_score = spm_scores[id];
                }
        }
        if (best < 0) break;
        char joined[64];
        snprintf(joined, sizeof joined, "%.31s%.31s", syms[best], syms[best + 1]);
        memcpy(syms[best], joined, sizeof joined);
        memmove(syms[best + 1], syms[best + 2], (size_t)(n - best - 2) * sizeof syms[0]);
        n--;
    }
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        int found = -1;
        for (int id = 0; id < SPM_N && found < 0; id++)
            if (strcmp(spm_tokens[id], syms[i]) == 0) found = id;
        if (found >= 0) out[k++] = found;
        else
            for (const char *p = syms[i]; *p; p++) out[k++] = 3 + (unsigned char)*p;
    }
    (void)v;
    return k;
}

static uint64_t rng_state = 12345;
static unsigned rnd(unsigned n)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)(rng_state >> 33) % n;
}

static void spm_matches_a_naive_oracle_on_random_text(void)
{
    slm_vocab *v = spm_vocab(0, -3);
    static const char *alphabet[] = {"a", "b", "c", SP, "x", "\xc3\xa9"};
    int bad = 0;
    for (int t = 0; t < 300; t++) {
        char text[128] = "";
        int len = 1 + (int)rnd(12);
        for (int i = 0; i < len; i++) strcat(text, alphabet[rnd(6)]);
        int32_t got[128], want[128];
        size_t ng = tok(v, text, 0, 0, got, 128), nw = oracle_spm(v, text, want);
        if (ng != nw || memcmp(got, want, nw * sizeof *got) != 0) bad++;
    }
    CHECK(bad == 0, "%d of 300 random texts differ from the oracle", bad);
    slm_vocab_free(v);
}

static void control_tokens_are_parsed_only_when_asked(void)
{
    slm_vocab *v = spm_vocab(0, -3);
    EXPECT_IDS(v, "a<s>", 0, 1, T_A, 1);
    int32_t ids[32];
    size_t n = tok(v, "a<s>", 0, 0, ids, 32);
    CHECK(n == 4 && ids[0] == T_A && ids[1] == 3 + '<', "without parse_special <s> is text (%zu)", n);
    slm_vocab_free(v);
}

static void user_defined_tokens_are_always_split_out(void)
{
    slm_vocab *v = spm_vocab(1, -3);
    /* Text after a special token gets the dummy space again. */
    EXPECT_IDS(v, "a<user>b", 0, 0, T_SPA, T_USER, T_SPB);
    slm_vocab_free(v);
}

static void add_special_follows_the_bos_and_eos_flags(void)
{
    slm_vocab *v = spm_vocab(0, -3);
    CHECK(slm_vocab_add_bos(v) == 1 && slm_vocab_add_eos(v) == 0, "SentencePiece defaults");
    EXPECT_IDS(v, "a", 1, 0, 1, T_A);
    EXPECT_IDS(v, "", 1, 0, 1);
    slm_vocab_free(v);

    slm_vocab_spec spec = {.model = "llama", .tokens = spm_tokens, .scores = spm_scores,
                           .types = spm_types, .n_tokens = SPM_N, .bos = 1, .eos = 2,
                           .unk = 0, .pad = -1, .add_bos = 0, .add_eos = 1, .add_space_prefix = 0};
    REQUIRE(slm_vocab_build(&spec, &v) == SLM_OK, "%s", slm_last_error());
    EXPECT_IDS(v, "a", 1, 0, T_A, 2);
    slm_vocab_free(v);
}

static void tokenize_reports_the_full_count_when_ids_do_not_fit(void)
{
    slm_vocab *v = spm_vocab(0, -3);
    int32_t ids[2] = {-7, -7};
    size_t n = 0;
    slm_status st = slm_vocab_tokenize(v, "x\x01x", 3, 1, 0, ids, 1, &n);
    CHECK(st == SLM_ERR_FULL, "status %s", slm_status_name(st));
    CHECK(n == 4, "n_out %zu, want 4 (BOS + 3)", n);
    CHECK(ids[0] == 1 && ids[1] == -7, "wrote only cap ids");
    st = slm_vocab_tokenize(v, "x", 1, 0, 0, NULL, 0, &n);
    CHECK(st == SLM_ERR_FULL && n == 1, "cap 0 gives the count");
    slm_vocab_free(v);
}

static void pieces_decode_bytes_spaces_and_hide_control_tokens(void)
{
    slm_vocab *v = spm_vocab(0, -3);
    char buf[16];
    CHECK(slm_vocab_token_to_piece(v, T_SPA, 0, buf, sizeof buf) == 2 && memcmp(buf, " a", 2) == 0,
          "▁a -> ' a'");
    CHECK(slm_vocab_token_to_piece(v, 3 + 0xA9, 0, buf, sizeof buf) == 1 && (unsigned char)buf[0] == 0xA9,
          "<0xA9> -> byte A9");
    CHECK(slm_vocab_token_to_piece(v, 1, 0, buf, sizeof buf) == 0, "<s> hidden");
    CHECK(slm_vocab_token_to_piece(v, 1, 1, buf, sizeof buf) == 3 && memcmp(buf, "<s>", 3) == 0,
          "<s> rendered");
    CHECK(slm_vocab_token_to_piece(v, T_USER, 0, buf, sizeof buf) == 6, "user-defined shown");
    CHECK(slm_vocab_token_to_piece(v, T_ABC, 0, buf, 2) == 3 && memcmp(buf, "ab", 2) == 0,
          "truncated copy returns the full length");
    CHECK(slm_vocab_token_to_piece(v, SPM_N, 1, buf, sizeof buf) == 0, "out of range -> 0");
    CHECK(slm_vocab_token_to_piece(v, -1, 1, buf, sizeof buf) == 0, "negative -> 0");
    size_t len = 0;
    CHECK(strcmp(slm_vocab_token_text(v, T_SPA, &len), SP "a") == 0 && len == 4, "raw text");
    slm_vocab_free(v);
}

static void end_of_generation_covers_eos_and_known_texts(void)
{
    slm_vocab *v = spm_vocab(0, -3);
    CHECK(slm_vocab_is_eog(v, 2), "</s> (EOS)");
    CHECK(slm_vocab_is_eog(v, T_IMEND), "<|im_end|>");
    CHECK(!slm_vocab_is_eog(v, 1) && !slm_vocab_is_eog(v, T_A) && !slm_vocab_is_eog(v, -1),
          "BOS, normal tokens and -1 are not EOG");
    CHECK(slm_vocab_bos(v) == 1 && slm_vocab_eos(v) == 2 && slm_vocab_n_tokens(v) == SPM_N, "ids");
    CHECK(strcmp(slm_vocab_model_name(v), "llama") == 0, "model name");
    slm_vocab_free(v);
}

/* ---- a byte-level BPE vocabulary ------------------------------------------
 * ids 0..255: the GPT-2 alphabet's 256 one-character tokens (in byte order),
 * then merged pieces; merges ranked as listed. */

static char bpe_chars[256][4];
static const char *bpe_tokens[300];
static int32_t bpe_types[300];
static int bpe_n;

static void byte_char(unsigned b, char *out)
{
    unsigned cp;
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) cp = b;
    else { /* the 68 others map to U+0100.. in increasing byte order */
        unsigned k = 0;
        for (unsigned c = 0; c < b; c++)
            if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE)) k++;
        cp = 0x100 + k;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

static const char *bpe_merges[] = {"b c", "a b", "\xc4\xa0 a", "a bc", "\xc4\xa0" "a b", "c c"};
static const char *bpe_extra[] = {"bc", "ab", "\xc4\xa0" "a", "abc", "\xc4\xa0" "ab", "cc",
                                  "<|endoftext|>"};
enum { B_BC = 256, B_AB, B_GA, B_ABC, B_GAB, B_CC, B_EOT };

static slm_vocab *bpe_vocab(const char *pre)
{
    bpe_n = 0;
    for (unsigned b = 0; b < 256; b++) {
        byte_char(b, bpe_chars[b]);
        bpe_types[bpe_n] = SLM_TOKEN_NORMAL;
        bpe_tokens[bpe_n++] = bpe_chars[b];
    }
    for (size_t i = 0; i < sizeof bpe_extra / sizeof *bpe_extra; i++) {
        bpe_types[bpe_n] = SLM_TOKEN_NORMAL;
        bpe_tokens[bpe_n++] = bpe_extra[i];
    }
    bpe_types[B_EOT] = SLM_TOKEN_CONTROL;
    slm_vocab_spec spec = {.model = "gpt2", .pre = pre, .tokens = bpe_tokens, .types = bpe_types,
                           .n_tokens = bpe_n, .merges = bpe_merges,
                           .n_merges = (int32_t)(sizeof bpe_merges / sizeof *bpe_merges),
                           .bos = B_EOT, .eos = B_EOT, .unk = -1, .pad = -1, .add_bos = -2,
                           .add_eos = -2, .add_space_prefix = -2};
    slm_vocab *v = NULL;
    CHECK(slm_vocab_build(&spec, &v) == SLM_OK, "bpe vocab: %s", slm_last_error());
    return v;
}

static void bpe_merges_the_lowest_rank_first(void)
{
    slm_vocab *v = bpe_vocab("gpt-2");
    REQUIRE(v, "vocab");
    /* "abc": "b c" (rank 0) before "a b" (rank 1), then "a bc" (rank 3). */
    EXPECT_IDS(v, "abc", 0, 0, B_ABC);
    /* "abcc": b c first -> a bc c; then a bc -> abc; "c c" cannot apply. */
    EXPECT_IDS(v, "abcc", 0, 0, B_ABC, 'c');
    /* " ab": pre-token " ab" = Ġ a b: "a b" (1) before "Ġ a" (2) -> Ġ ab; no "Ġ ab" merge. */
    EXPECT_IDS(v, " ab", 0, 0, ' ', B_AB); /* id of Ġ is the byte value 32 */
    /* The pre-tokenizer splits "ab ab" into "ab" and " ab". */
    EXPECT_IDS(v, "ab ab", 0, 0, B_AB, ' ', B_AB);
    slm_vocab_free(v);
}

static void bpe_round_trips_every_byte_value(void)
{
    slm_vocab *v = bpe_vocab("gpt-2");
    REQUIRE(v, "vocab");
    char text[256];
    for (int i = 0; i < 256; i++) text[i] = (char)(255 - i); /* invalid UTF-8 included */
    int32_t ids[600];
    size_t n = 0;
    slm_status st = slm_vocab_tokenize(v, text, 256, 0, 0, ids, 600, &n);
    REQUIRE(st == SLM_OK, "%s", slm_last_error());
    char back[600];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) len += slm_vocab_token_to_piece(v, ids[i], 0, back + len, 600 - len);
    CHECK(len == 256 && memcmp(back, text, 256) == 0, "round trip gave %zu bytes", len);
    slm_vocab_free(v);
}

static void bpe_special_tokens_need_parse_special(void)
{
    slm_vocab *v = bpe_vocab("gpt-2");
    REQUIRE(v, "vocab");
    EXPECT_IDS(v, "ab<|endoftext|>", 0, 1, B_AB, B_EOT);
    int32_t ids[32];
    size_t n = tok(v, "<|endoftext|>", 0, 0, ids, 32);
    CHECK(n > 1, "without parse_special it is text (%zu ids)", n);
    CHECK(slm_vocab_is_eog(v, B_EOT), "<|endoftext|> ends generation");
    CHECK(slm_vocab_add_bos(v) == 0, "gpt2 vocabularies add no BOS by default");
    slm_vocab_free(v);
}

static char *log_seen;
static void capture_log(int level, const char *msg, void *user)
{
    (void)user;
    if (level == 1 && !log_seen) log_seen = strdup(msg);
}

static void unknown_pre_tokenizer_falls_back_to_gpt2_with_a_warning(void)
{
    slm_set_log(capture_log, NULL);
    slm_vocab *v = bpe_vocab("no-such-pre");
    slm_set_log(NULL, NULL);
    REQUIRE(v, "vocab");
    CHECK(log_seen && strstr(log_seen, "no-such-pre"), "warning names the pre-tokenizer");
    CHECK(strcmp(slm_vocab_pre_name(v), "gpt-2") == 0, "pre is %s", slm_vocab_pre_name(v));
    EXPECT_IDS(v, "ab ab", 0, 0, B_AB, ' ', B_AB);
    free(log_seen);
    log_seen = NULL;
    slm_vocab_free(v);
}

static void pretokenizers_split_like_their_regexes(void)
{
    /* llama-bpe: digits in runs of at most 3, contractions, newlines kept
     * with the preceding whitespace; expected pieces worked out by hand. */
    slm_pretok *p = NULL;
    int known = 0;
    REQUIRE(slm_pretok_new("llama-bpe", &p, &known) == SLM_OK && known, "llama-bpe");
    const char *text = "I'm 12345 ok\n\n x";
    const char *want[] = {"I", "'m", " ", "123", "45", " ok", "\n\n", " x"};
    slm_span *sp = NULL;
    size_t n = 0;
    REQUIRE(slm_pretok_split(p, text, strlen(text), &sp, &n) == SLM_OK, "split");
    CHECK(n == 8, "%zu pieces", n);
    for (size_t i = 0; i < n && i < 8; i++)
        CHECK(sp[i].len == strlen(want[i]) && memcmp(text + sp[i].off, want[i], sp[i].len) == 0,
              "piece %zu is '%.*s', want '%s'", i, (int)sp[i].len, text + sp[i].off, want[i]);
    slm_free(sp);
    slm_pretok_free(p);
    /* qwen2: every digit alone. */
    REQUIRE(slm_pretok_new("qwen2", &p, &known) == SLM_OK && known, "qwen2");
    REQUIRE(slm_pretok_split(p, "x123", 4, &sp, &n) == SLM_OK, "split");
    CHECK(n == 4, "x 1 2 3 -> %zu pieces", n);
    slm_free(sp);
    slm_pretok_free(p);
}

/* Pieces of text under pre-tokenizer pre, joined with '|'. */
static void split_joined(const char *pre, const char *text, char *out, size_t cap)
{
    slm_pretok *p = NULL;
    int known = 0;
    slm_span *sp = NULL;
    size_t n = 0, o = 0;
    out[0] = '\0';
    if (slm_pretok_new(pre, &p, &known) != SLM_OK || !known) {
        snprintf(out, cap, "<%s: %s>", pre, slm_last_error());
        slm_pretok_free(p);
        return;
    }
    if (slm_pretok_split(p, text, strlen(text), &sp, &n) == SLM_OK)
        for (size_t i = 0; i < n; i++)
            o += (size_t)snprintf(out + o, cap - o, "%s%.*s", i ? "|" : "", (int)sp[i].len,
                                  text + sp[i].off);
    slm_free(sp);
    slm_pretok_free(p);
}

static void every_supported_pre_tokenizer_compiles_and_splits(void)
{
    static const char *names[] = {"gpt-2", "llama-bpe", "llama3", "qwen2", "qwen35", "starcoder",
                                  "smollm", "command-r", "refact", "deepseek-llm", "deepseek-coder",
                                  "deepseek-v3", "falcon", "tekken", "gpt-4o", "seed-coder",
                                  "bailingmoe", "poro-chat", "gemma4", "default", "olmo", "mpt",
                                  "dbrx", "chatglm-bpe", "stablelm2", "exaone", "phi-2"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char out[256];
        split_joined(names[i], "Hello world 123 don't\n", out, sizeof out);
        CHECK(out[0] != '<', "%s", out);
    }
    /* Expected pieces worked out from each expression by hand. */
    static const char *cases[][3] = {
        {"tekken", "HelloWorld", "Hello|World"},
        {"gpt-4o", "don't stop", "don't| stop"},
        {"llama-bpe", "don't stop", "don|'t| stop"},
        {"deepseek-coder", "foo123 bar", "foo|1|2|3| bar"},
        {"starcoder", "a123 b", "a|1|2|3| b"},
        {"falcon", "x+y=3", "x|+|y|=|3"},
        {"gemma4", "a\xe2\x96\x81" "b\n\nc", "a\xe2\x96\x81" "b|\n\n|c"},
        {"gpt-2", "a  b", "a| | b"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[256];
        split_joined(cases[i][0], cases[i][1], out, sizeof out);
        CHECK(strcmp(out, cases[i][2]) == 0, "%s: '%s' -> '%s', want '%s'", cases[i][0], cases[i][1],
              out, cases[i][2]);
    }
}

static void bpe_round_trips_random_bytes(void)
{
    slm_vocab *v = bpe_vocab("llama-bpe");
    REQUIRE(v, "vocab");
    int bad = 0;
    for (int t = 0; t < 500; t++) {
        char text[64], back[256];
        int32_t ids[256];
        size_t len = rnd(64), n = 0, blen = 0;
        for (size_t i = 0; i < len; i++) {
            unsigned c = rnd(3) ? (unsigned char)"ab c\n1'\xc3\xa9"[rnd(9)] : rnd(256);
            text[i] = (char)c;
        }
        if (slm_vocab_tokenize(v, text, len, 0, rnd(2), ids, 256, &n) != SLM_OK) {
            bad++;
            continue;
        }
        for (size_t i = 0; i < n; i++) blen += slm_vocab_token_to_piece(v, ids[i], 1, back + blen, 256 - blen);
        bad += blen != len || memcmp(back, text, len) != 0;
    }
    CHECK(bad == 0, "%d of 500 random byte strings did not round-trip", bad);
    slm_vocab_free(v);
}

/* Two threads tokenizing with one vocabulary get what one thread gets. */
typedef struct job {
    const slm_vocab *v;
    int mismatches;
} job;

static const char *thread_texts[] = {"abc ab abcc", "I'm 12345 ok\n\n x", "b c a", "ccc abab",
                                     "\xc3\xa9t\xc3\xa9 ab"};

static void *tokenize_many(void *arg)
{
    job *j = arg;
    for (int r = 0; r < 300; r++)
        for (int k = 0; k < 5; k++) {
            int32_t a[64], b[64];
            size_t na = 0, nb = 0;
            slm_vocab_tokenize(j->v, thread_texts[k], strlen(thread_texts[k]), 1, 1, a, 64, &na);
            slm_vocab_tokenize(j->v, thread_texts[(k + 1) % 5], strlen(thread_texts[(k + 1) % 5]), 0, 0,
                               b, 64, &nb);
            int32_t c[64];
            size_t nc = 0;
            slm_vocab_tokenize(j->v, thread_texts[k], strlen(thread_texts[k]), 1, 1, c, 64, &nc);
            j->mismatches += na != nc || memcmp(a, c, na * sizeof *a) != 0;
        }
    return NULL;
}

static void one_vocabulary_serves_two_threads(void)
{
    slm_vocab *v = bpe_vocab("llama-bpe");
    REQUIRE(v, "vocab");
    job jobs[2] = {{v, 0}, {v, 0}};
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, tokenize_many, &jobs[0]) == 0, "thread");
    tokenize_many(&jobs[1]);
    pthread_join(th, NULL);
    CHECK(jobs[0].mismatches == 0 && jobs[1].mismatches == 0, "results differ between calls");
    slm_vocab_free(v);
}

/* ---- loading from GGUF and failure paths ---------------------------------- */

static void vocab_loads_from_gguf_like_the_spec(void)
{
    slm_vocab *ref = spm_vocab(1, -3);
    slm_gguf_writer *w = NULL;
    REQUIRE(slm_gguf_writer_new(&w) == SLM_OK, "writer");
    slm_gguf_set_str(w, "general.architecture", "llama");
    slm_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    slm_gguf_set_arr_str(w, "tokenizer.ggml.tokens", spm_tokens, SPM_N);
    slm_gguf_set_arr_f32(w, "tokenizer.ggml.scores", spm_scores, SPM_N);
    slm_gguf_set_arr_i32(w, "tokenizer.ggml.token_type", spm_types, SPM_N);
    slm_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    slm_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    slm_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", 1);
    const char *path = SLM_BINARY_DIR "/test_tok_vocab.gguf";
    slm_status st = slm_gguf_writer_write(w, path);
    slm_gguf_writer_free(w);
    REQUIRE(st == SLM_OK, "write: %s", slm_last_error());
    slm_gguf *g = NULL;
    REQUIRE(slm_gguf_open(path, 1, &g) == SLM_OK, "open: %s", slm_last_error());
    slm_vocab *v = NULL;
    st = slm_vocab_load(g, &v);
    slm_gguf_close(g); /* the vocabulary must not borrow from the file */
    remove(path);
    REQUIRE(st == SLM_OK, "load: %s", slm_last_error());
    const char *text = "a b  abc\xc3\xa9<user>bc";
    int32_t a[64], b[64];
    size_t na = tok(ref, text, 0, 0, a, 64), nb = tok(v, text, 0, 0, b, 64);
    CHECK(na == nb && memcmp(a, b, na * sizeof *a) == 0, "same ids as the spec vocabulary");
    CHECK(slm_vocab_add_eos(v) == 1, "add_eos_token read");
    slm_vocab_free(v);
    slm_vocab_free(ref);
}

static slm_status load_from(slm_gguf_writer *w, slm_vocab **v)
{
    const char *path = SLM_BINARY_DIR "/test_tok_bad.gguf";
    slm_status st = slm_gguf_writer_write(w, path);
    slm_gguf_writer_free(w);
    if (st != SLM_OK) return st;
    slm_gguf *g = NULL;
    st = slm_gguf_open(path, 1, &g);
    remove(path);
    if (st != SLM_OK) return st;
    st = slm_vocab_load(g, v);
    slm_gguf_close(g);
    return st;
}

static void vocab_rejects_malformed_metadata(void)
{
    slm_vocab_free(spm_vocab(0, -3)); /* fills the arrays */
    slm_vocab *v = NULL;
    slm_gguf_writer *w = NULL;
    /* no token list */
    slm_gguf_writer_new(&w);
    slm_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    CHECK(load_from(w, &v) == SLM_ERR_FORMAT && !v, "missing tokens: %s", slm_last_error());
    CHECK(strstr(slm_last_error(), "tokenizer.ggml.tokens"), "message names the key");
    /* token types shorter than the token list */
    slm_gguf_writer_new(&w);
    slm_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    slm_gguf_set_arr_str(w, "tokenizer.ggml.tokens", spm_tokens, SPM_N);
    slm_gguf_set_arr_i32(w, "tokenizer.ggml.token_type", spm_types, 10);
    CHECK(load_from(w, &v) == SLM_ERR_FORMAT && !v, "short token_type: %s", slm_last_error());
    /* unsupported model */
    slm_gguf_writer_new(&w);
    slm_gguf_set_str(w, "tokenizer.ggml.model", "t5");
    slm_gguf_set_arr_str(w, "tokenizer.ggml.tokens", spm_tokens, SPM_N);
    CHECK(load_from(w, &v) == SLM_ERR_UNSUPPORTED && !v, "t5: %s", slm_last_error());
    /* BPE without merges */
    slm_gguf_writer_new(&w);
    slm_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    slm_gguf_set_arr_str(w, "tokenizer.ggml.tokens", spm_tokens, SPM_N);
    CHECK(load_from(w, &v) == SLM_ERR_FORMAT && !v, "no merges: %s", slm_last_error());
    /* token list of numbers */
    slm_gguf_writer_new(&w);
    slm_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    slm_gguf_set_arr_i32(w, "tokenizer.ggml.tokens", spm_types, SPM_N);
    CHECK(load_from(w, &v) == SLM_ERR_FORMAT && !v, "numeric tokens: %s", slm_last_error());
    /* scores as strings */
    slm_gguf_writer_new(&w);
    slm_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    slm_gguf_set_arr_str(w, "tokenizer.ggml.tokens", spm_tokens, SPM_N);
    slm_gguf_set_arr_str(w, "tokenizer.ggml.scores", spm_tokens, SPM_N);
    CHECK(load_from(w, &v) == SLM_ERR_FORMAT && !v, "string scores: %s", slm_last_error());
    CHECK(strstr(slm_last_error(), "tokenizer.ggml.scores"), "message names the key");
    /* BOS id of the wrong type */
    slm_gguf_writer_new(&w);
    slm_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    slm_gguf_set_arr_str(w, "tokenizer.ggml.tokens", spm_tokens, SPM_N);
    slm_gguf_set_str(w, "tokenizer.ggml.bos_token_id", "1");
    CHECK(load_from(w, &v) == SLM_ERR_FORMAT && !v, "string BOS id: %s", slm_last_error());
    /* an out-of-range BOS id is ignored (llama.cpp warns and keeps the default) */
    slm_gguf_writer_new(&w);
    slm_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    slm_gguf_set_arr_str(w, "tokenizer.ggml.tokens", spm_tokens, SPM_N);
    slm_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 999999);
    CHECK(load_from(w, &v) == SLM_OK && v && slm_vocab_bos(v) == 1, "BOS default kept");
    slm_vocab_free(v);
    v = NULL;
    /* duplicate pieces */
    const char *dup[] = {"x", "y", "x"};
    slm_vocab_spec spec = {.model = "llama", .tokens = dup, .n_tokens = 3, .bos = -1, .eos = -1,
                           .unk = -1, .pad = -1, .add_bos = -1, .add_eos = -1, .add_space_prefix = -1};
    CHECK(slm_vocab_build(&spec, &v) == SLM_ERR_FORMAT && !v, "duplicate: %s", slm_last_error());
    CHECK(strstr(slm_last_error(), "duplicate"), "message: %s", slm_last_error());
}

static void allocation_failures_are_reported_and_leak_nothing(void)
{
    slm_vocab_free(bpe_vocab("gpt-2")); /* fills the arrays */
    int failures = 0, ok_seen = 0;
    for (long k = 0; k < 400 && !ok_seen; k++) {
        slm_vocab *v = NULL;
        slm_vocab_spec spec = {.model = "gpt2", .pre = "llama-bpe", .tokens = bpe_tokens,
                               .types = bpe_types, .n_tokens = bpe_n, .merges = bpe_merges,
                               .n_merges = 6, .bos = -1, .eos = -1, .unk = -1, .pad = -1,
                               .add_bos = -1, .add_eos = -1, .add_space_prefix = -1};
        slm_alloc_fail_after(k);
        slm_status st = slm_vocab_build(&spec, &v);
        int32_t ids[64];
        size_t n = 0;
        if (st == SLM_OK) st = slm_vocab_tokenize(v, "abc ab 123 x", 12, 0, 0, ids, 64, &n);
        slm_alloc_fail_after(-1);
        if (st == SLM_OK) ok_seen = 1;
        else if (st == SLM_ERR_NOMEM) failures++;
        else CHECK(0, "allocation %ld: status %s (%s)", k, slm_status_name(st), slm_last_error());
        slm_vocab_free(v);
    }
    CHECK(ok_seen, "eventually succeeds");
    CHECK(failures > 5, "%d allocation points exercised", failures);
}

int main(void)
{
    RUN(spm_merges_the_highest_scoring_pair_first);
    RUN(spm_adds_one_dummy_space_and_escapes_spaces);
    RUN(spm_falls_back_to_byte_tokens);
    RUN(spm_matches_a_naive_oracle_on_random_text);
    RUN(control_tokens_are_parsed_only_when_asked);
    RUN(user_defined_tokens_are_always_split_out);
    RUN(add_special_follows_the_bos_and_eos_flags);
    RUN(tokenize_reports_the_full_count_when_ids_do_not_fit);
    RUN(pieces_decode_bytes_spaces_and_hide_control_tokens);
    RUN(end_of_generation_covers_eos_and_known_texts);
    RUN(bpe_merges_the_lowest_rank_first);
    RUN(bpe_round_trips_every_byte_value);
    RUN(bpe_special_tokens_need_parse_special);
    RUN(unknown_pre_tokenizer_falls_back_to_gpt2_with_a_warning);
    RUN(pretokenizers_split_like_their_regexes);
    RUN(every_supported_pre_tokenizer_compiles_and_splits);
    RUN(bpe_round_trips_random_bytes);
    RUN(one_vocabulary_serves_two_threads);
    RUN(vocab_loads_from_gguf_like_the_spec);
    RUN(vocab_rejects_malformed_metadata);
    RUN(allocation_failures_are_reported_and_leak_nothing);
    return harness_finish();
}
