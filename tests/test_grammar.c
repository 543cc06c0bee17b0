/* test_grammar.c — the GBNF parser and the constrained sampler (src/grammar).
 *
 * Expectations are independent of the code: which strings a grammar matches
 * is worked out by hand from the grammar's meaning; error positions are
 * counted in the grammar text; the token mask is compared with an oracle that
 * feeds prefix + piece byte by byte to a fresh grammar (a different code
 * path from apply's shared-prefix walk) on hand-written vocabularies with
 * multi-character and split UTF-8 tokens.
 */
#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "grammar/grammar.h"
#include "harness.h"
#include "sample/rng.h"
#include "slm.h"

/* A matcher over a tiny vocabulary of single bytes 0x00..0xFF (token = byte),
 * so slm_grammar_matches tests the grammar alone. */
static slm_grammar *compile(const char *gbnf, slm_status *st_out)
{
    static char bytes[256];
    const char *pc[256];
    size_t len[256];
    for (int i = 0; i < 256; i++) {
        bytes[i] = (char)i;
        pc[i] = &bytes[i];
        len[i] = 1;
    }
    slm_gram *gram = NULL;
    slm_grammar *g = NULL;
    slm_status st = slm_gram_parse(gbnf, strlen(gbnf), NULL, &gram);
    if (st == SLM_OK) st = slm_grammar_new_vocab(gram, pc, len, NULL, 256, &g);
    if (st_out) *st_out = st;
    return g;
}

typedef struct {
    const char *gbnf;
    const char *text;
    int match;
} match_case;

static void grammar_matches_what_the_gbnf_says(void)
{
    static const match_case cases[] = {
        {"root ::= \"abc\"", "abc", 1},
        {"root ::= \"abc\"", "ab", 0},
        {"root ::= \"abc\"", "abcd", 0},
        {"root ::= \"a\" | \"b\" | \"cd\"", "cd", 1},
        {"root ::= \"a\" | \"b\" | \"cd\"", "c", 0},
        {"root ::= [a-c]+", "abcabc", 1},
        {"root ::= [a-c]+", "", 0},
        {"root ::= [a-c]+", "abd", 0},
        {"root ::= [a-c]*", "", 1},
        {"root ::= [^a-c]", "d", 1},
        {"root ::= [^a-c]", "b", 0},
        {"root ::= [^a-c]", "\xC3\xA9", 1},           /* é is not in a-c */
        {"root ::= [^a-c]", "\xC3", 0},               /* half a character */
        {"root ::= \"x\"?", "", 1},
        {"root ::= \"x\"?", "x", 1},
        {"root ::= \"x\"?", "xx", 0},
        {"root ::= \"ab\"{3}", "ababab", 1},
        {"root ::= \"ab\"{3}", "abab", 0},
        {"root ::= \"a\"{2,}", "a", 0},
        {"root ::= \"a\"{2,}", "aaaaa", 1},
        {"root ::= \"a\"{1,3}", "aaa", 1},
        {"root ::= \"a\"{1,3}", "aaaa", 0},
        {"root ::= \"a\"{,2}", "", 1},
        {"root ::= \"a\"{,2}", "aaa", 0},
        {"root ::= \"a\"{0}", "", 1},
        {"root ::= (\"a\" | \"b\")* \"c\"", "ababbc", 1},
        {"root ::= (\"a\" | \"b\")* \"c\"", "abab", 0},
        {"root ::= .", "\xF0\x9F\x98\x80", 1},        /* U+1F600 */
        {"root ::= .", "\xED\xA0\x80", 0},            /* a surrogate is not a character */
        {"root ::= .", "\xC0\x80", 0},                /* overlong */
        {"root ::= . .", "a\xE2\x82\xAC", 1},         /* a€ */
        {"root ::= \"\\n\\t\\\\\\\"\"", "\n\t\\\"", 1},
        {"root ::= \"\\x41\\u00e9\\U0001F600\"", "A\xC3\xA9\xF0\x9F\x98\x80", 1},
        {"root ::= \"\\xe9\"", "\xC3\xA9", 1},        /* \xNN is a code point, as in llama.cpp */
        {"root ::= [\\u0100-\\u017F]", "\xC4\x80", 1},
        {"root ::= [\\u0100-\\u017F]", "\xC5\xBF", 1},
        {"root ::= [\\u0100-\\u017F]", "\xC6\x80", 0},
        {"root ::= [\\u07FF-\\u0801]", "\xDF\xBF", 1}, /* range across the 2/3-byte boundary */
        {"root ::= [\\u07FF-\\u0801]", "\xE0\xA0\x81", 1},
        {"root ::= [\\u07FF-\\u0801]", "\xE0\xA0\x82", 0},
        {"root ::= [\\]\\[\\-]+", "][-", 1},
        {"root ::= [a-]", "-", 1},                    /* trailing '-' is literal */
        {"root ::= []", "", 0},                       /* empty class matches nothing */
        {"root ::= x y\nx ::= \"1\"\ny ::= \"2\" | x", "11", 1},
        {"root ::= x y\nx ::= \"1\"\ny ::= \"2\" | x", "13", 0},
        /* a rule continues on the next line unless that line defines a rule */
        {"root ::= \"a\"\n  \"b\"\n  | \"c\"\n", "ab", 1},
        {"root ::= \"a\"\n  \"b\"\n  | \"c\"\n", "c", 1},
        {"root ::= (\n  \"a\" # comment\n  \"b\"\n)\n", "ab", 1},
        {"# leading comment\nroot ::= item+ # trailing\nitem ::= [0-9] \",\"?\n", "1,2,3", 1},
        /* right recursion: nested parentheses */
        {"root ::= \"(\" root \")\" | \"\"", "((()))", 1},
        {"root ::= \"(\" root \")\" | \"\"", "(()", 0},
        /* nullable items inside a repetition that is not itself empty */
        {"root ::= (\"a\"? \"b\")*", "babab", 1},
        {"root ::= (\"a\"? \"b\")*", "aab", 0},
        /* ambiguity: both branches alive until the end */
        {"root ::= \"a\" \"b\"* | \"a\" \"c\"", "ac", 1},
        {"root ::= (\"a\" | \"a\")* \"b\"", "aaaaaaaaaaaaaaaaaaaaaaaaab", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        slm_status st;
        slm_grammar *g = compile(cases[i].gbnf, &st);
        if (!g) {
            CHECK(0, "case %zu: %s: %s", i, slm_status_name(st), slm_last_error());
            continue;
        }
        int m = slm_grammar_matches(g, cases[i].text, strlen(cases[i].text));
        CHECK(m == cases[i].match, "case %zu: grammar %s on \"%s\": got %d, expected %d", i,
              cases[i].gbnf, cases[i].text, m, cases[i].match);
        slm_grammar_free(g);
    }
}

typedef struct {
    const char *gbnf;
    const char *where; /* expected "L:C" prefix */
    const char *what;  /* expected part of the message */
} error_case;

static void grammar_reports_each_error_with_line_and_column(void)
{
    static const error_case cases[] = {
        {"root ::= \"abc", "1:10", "unterminated string"},
        {"root ::= [abc", "1:10", "unterminated character class"},
        {"root ::= \"a\"\nfoo ::= \"b\" )", "2:13", "unmatched ')'"},
        {"root ::= (\"a\"", "1:10", "expected ')'"},
        {"root ::= \"a\" bar", "1:14", "undefined rule 'bar'"},
        {"root := \"a\"", "1:6", "expected '::='"},
        {"::= \"a\"", "1:1", "expected a rule name"},
        {"root ::= *", "1:10", "nothing before it"},
        {"root ::= \"a\"{3,1}", "1:13", "max below min"},
        {"root ::= \"a\"{x}", "1:14", "expected a number"},
        {"root ::= \"a\"{1", "1:13", "expected '}'"},
        {"root ::= \"a\"{999999}", "1:14", "too large"},
        {"root ::= \"\\q\"", "1:11", "unknown escape"},
        {"root ::= \"\\x4\"", "1:13", "hex digits"},
        {"root ::= \"\\uD800\"", "1:13", "not a Unicode scalar"},
        {"root ::= [z-a]", "1:12", "backwards"},
        {"root ::= \"a\"\nroot ::= \"b\"", "2:1", "defined twice"},
        {"root ::= \"\xC3\"", "1:11", "invalid UTF-8"},
        {"root ::= \"a\" @", "1:14", "unexpected '@'"},
        {"root ::= expr\nexpr ::= expr \"+\" \"1\" | \"1\"", "2:1", "left recursion"},
        {"root ::= a\na ::= b? a \"x\" | \"y\"\nb ::= \"z\"", "2:1", "left recursion"},
        {"root ::= (\"\")*", "1:", "left recursion"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        slm_gram *g = NULL;
        slm_status st = slm_gram_parse(cases[i].gbnf, strlen(cases[i].gbnf), NULL, &g);
        CHECK(st == SLM_ERR_FORMAT && g == NULL, "case %zu (%s): status %s", i, cases[i].gbnf,
              slm_status_name(st));
        char want[32];
        snprintf(want, sizeof want, "grammar:%s", cases[i].where);
        const char *msg = slm_last_error();
        CHECK(strncmp(msg, want, strlen(want)) == 0 && strstr(msg, cases[i].what),
              "case %zu (%s): message \"%s\", expected \"%s...%s\"", i, cases[i].gbnf, msg, want,
              cases[i].what);
        slm_gram_free(g);
    }
    slm_gram *g = NULL;
    CHECK(slm_gram_parse("start ::= \"a\"", 13, NULL, &g) == SLM_ERR_FORMAT &&
              strstr(slm_last_error(), "no rule named 'root'"),
          "missing root: %s", slm_last_error());
    CHECK(slm_gram_parse("start ::= \"a\"", 13, "start", &g) == SLM_OK, "explicit root: %s",
          slm_last_error());
    slm_gram_free(g);
    g = NULL;
    /* repetition that expands past the element budget */
    char big[1024] = "root ::=";
    for (int k = 0; k < 45; k++) strcat(big, " x{100000}");
    strcat(big, "\nx ::= \"a\"");
    CHECK(slm_gram_parse(big, strlen(big), NULL, &g) == SLM_ERR_FORMAT && strstr(slm_last_error(), "too large"),
          "huge repetition: %s", slm_last_error());
    slm_gram_free(g);
}

/* ---- the matcher on hand-written vocabularies ------------------------------ */

typedef struct vocab {
    const char *piece[32];
    size_t len[32];
    uint8_t eog[32];
    int n;
} vocab;

static void vocab_add(vocab *v, const char *p, int eog)
{
    v->piece[v->n] = p;
    v->len[v->n] = strlen(p);
    v->eog[v->n] = (uint8_t)eog;
    v->n++;
}

static slm_grammar *compile_vocab(const char *gbnf, const vocab *v)
{
    slm_gram *gram = NULL;
    slm_grammar *g = NULL;
    slm_status st = slm_gram_parse(gbnf, strlen(gbnf), NULL, &gram);
    if (st == SLM_OK) st = slm_grammar_new_vocab(gram, v->piece, v->len, v->eog, v->n, &g);
    CHECK(st == SLM_OK, "compile %s: %s", gbnf, slm_last_error());
    return g;
}

/* The allowed set as a string of token indices ("0 2 5"). */
static void allowed(slm_grammar *g, int n, char *out, size_t cap)
{
    float logits[32];
    for (int i = 0; i < n; i++) logits[i] = 1.0f;
    slm_status st = slm_grammar_apply(g, logits, n);
    CHECK(st == SLM_OK, "apply: %s", slm_last_error());
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        CHECK(logits[i] == 1.0f || (isinf(logits[i]) && logits[i] < 0), "logit %d = %g", i, logits[i]);
        if (logits[i] == 1.0f) snprintf(out + strlen(out), cap - strlen(out), "%s%d", out[0] ? " " : "", i);
    }
}

static void matcher_masks_multi_character_and_split_utf8_tokens(void)
{
    vocab v = {0};
    vocab_add(&v, "a", 0);          /* 0 */
    vocab_add(&v, "b", 0);          /* 1 */
    vocab_add(&v, "ab", 0);         /* 2 */
    vocab_add(&v, "\xC3\xA9", 0);   /* 3: é whole */
    vocab_add(&v, "\xC3", 0);       /* 4: first byte of é (and of other 2-byte chars) */
    vocab_add(&v, "\xA9", 0);       /* 5: second byte of é */
    vocab_add(&v, "\xA9" "b", 0);   /* 6: rest of é, then b */
    vocab_add(&v, "</s>", 1);       /* 7: end of generation */
    vocab_add(&v, "", 0);           /* 8: a control token (no text) */
    vocab_add(&v, "\xA8", 0);       /* 9: second byte of è */
    vocab_add(&v, "ba", 0);         /* 10 */
    /* root: "a", then any number of é, then "b" */
    slm_grammar *g = compile_vocab("root ::= \"a\" \"\\u00e9\"* \"b\"", &v);
    REQUIRE(g, "compile");
    char got[128];
    allowed(g, v.n, got, sizeof got);
    CHECK(strcmp(got, "0 2") == 0, "start: allowed {%s}, expected {0 2}", got);
    CHECK(slm_grammar_accept(g, 1) == SLM_ERR_ARG, "b at the start must be refused");
    CHECK(slm_grammar_accept(g, 0) == SLM_OK, "a: %s", slm_last_error());
    allowed(g, v.n, got, sizeof got);
    CHECK(strcmp(got, "1 3 4") == 0, "after a: allowed {%s}, expected {1 3 4}", got);
    CHECK(slm_grammar_accept(g, 4) == SLM_OK, "half of e-acute: %s", slm_last_error());
    allowed(g, v.n, got, sizeof got);
    CHECK(strcmp(got, "5 6") == 0, "inside e-acute: allowed {%s}, expected {5 6} (not 9: that is e-grave)", got);
    CHECK(!slm_grammar_can_end(g), "cannot end inside a character");
    CHECK(slm_grammar_accept(g, 7) == SLM_ERR_ARG, "EOG before the end must be refused");
    CHECK(slm_grammar_accept(g, 6) == SLM_OK, "rest of e-acute + b: %s", slm_last_error());
    CHECK(slm_grammar_can_end(g) && slm_grammar_is_done(g), "complete after b");
    allowed(g, v.n, got, sizeof got);
    CHECK(strcmp(got, "7") == 0, "done: allowed {%s}, expected only EOG {7}", got);
    CHECK(slm_grammar_accept(g, 7) == SLM_OK, "EOG when complete: %s", slm_last_error());
    slm_grammar_reset(g);
    allowed(g, v.n, got, sizeof got);
    CHECK(strcmp(got, "0 2") == 0, "after reset: allowed {%s}", got);
    CHECK(slm_grammar_accept(g, 8) == SLM_ERR_ARG, "a control token is never accepted");
    CHECK(slm_grammar_accept(g, 99) == SLM_ERR_ARG, "out of range token");
    float lg[4];
    CHECK(slm_grammar_apply(g, lg, 4) == SLM_ERR_ARG, "n_vocab mismatch");
    slm_grammar_free(g);

    /* can end but may continue: EOG and continuations both allowed */
    g = compile_vocab("root ::= \"a\"+", &v);
    REQUIRE(g, "compile");
    CHECK(slm_grammar_accept(g, 0) == SLM_OK, "a");
    allowed(g, v.n, got, sizeof got);
    CHECK(strcmp(got, "0 7") == 0, "a+ after a: allowed {%s}, expected {0 7}", got);
    CHECK(slm_grammar_can_end(g) && !slm_grammar_is_done(g), "a+ after a can end, is not done");
    slm_grammar_free(g);
}

/* Grammars over the same vocabulary share its sorted pieces (a process-wide
 * cache): a vocabulary that differs in one byte, or only in which token ends
 * generation, must never be served from the cache, and a grammar must keep
 * working after every other grammar on its vocabulary has been freed. */
static void vocabulary_cache_never_mixes_vocabularies(void)
{
    vocab v1 = {0}, v2 = {0}, v3 = {0};
    const char *p1[] = {"a", "b", "ab", "ba", "</s>"};
    const char *p2[] = {"a", "c", "ab", "ba", "</s>"}; /* token 1 differs, same sizes */
    for (int i = 0; i < 5; i++) {
        vocab_add(&v1, p1[i], i == 4);
        vocab_add(&v2, p2[i], i == 4);
        vocab_add(&v3, p1[i], i == 3); /* same pieces, another EOG token */
    }
    const char *gb = "root ::= [ab]+";
    char got[64];
    for (int round = 0; round < 3; round++) { /* cold, then cached */
        slm_grammar *g1 = compile_vocab(gb, &v1), *g2 = compile_vocab(gb, &v2), *g3 = compile_vocab(gb, &v3);
        REQUIRE(g1 && g2 && g3, "compile");
        allowed(g1, v1.n, got, sizeof got);
        CHECK(strcmp(got, "0 1 2 3") == 0, "round %d vocabulary 1: {%s}", round, got);
        allowed(g2, v2.n, got, sizeof got);
        CHECK(strcmp(got, "0 2 3") == 0, "round %d vocabulary 2 (no b token): {%s}", round, got);
        allowed(g3, v3.n, got, sizeof got);
        CHECK(strcmp(got, "0 1 2") == 0, "round %d vocabulary 3 (ba ends generation): {%s}", round, got);
        slm_grammar_free(g1);
        slm_grammar_free(g3);
        CHECK(slm_grammar_accept(g2, 0) == SLM_OK, "a on vocabulary 2: %s", slm_last_error());
        allowed(g2, v2.n, got, sizeof got);
        CHECK(strcmp(got, "0 2 3 4") == 0, "round %d vocabulary 2 after a: {%s}", round, got);
        slm_grammar_free(g2);
    }
}

static void accept_text_leaves_the_state_unchanged_when_refused(void)
{
    vocab v = {0};
    vocab_add(&v, "x", 0);
    vocab_add(&v, "y", 0);
    slm_grammar *g = compile_vocab("root ::= \"xy\" \"x\"*", &v);
    REQUIRE(g, "compile");
    CHECK(slm_grammar_accept_text(g, "xx", 2) == SLM_ERR_ARG, "xx refused");
    CHECK(slm_grammar_accept_text(g, "x", 1) == SLM_OK, "x after a refused text: %s", slm_last_error());
    CHECK(slm_grammar_accept(g, 1) == SLM_OK, "y: %s", slm_last_error());
    CHECK(slm_grammar_accept_text(g, "xxy", 3) == SLM_ERR_ARG, "xxy refused");
    CHECK(slm_grammar_can_end(g), "still complete after the refused text");
    CHECK(slm_grammar_accept_text(g, "xx", 2) == SLM_OK, "xx: %s", slm_last_error());
    slm_grammar_free(g);
}

/* Random vocabularies and JSON-like grammars: apply's mask equals, token by
 * token, whether a fresh grammar accepts prefix + piece. The second grammar
 * has unbounded strings and numbers, so the walk returns to committed states
 * it has seen and apply serves their masks from its cache. */
static void oracle_run(const char *gbnf)
{
    static const char *alphabet[] = {"{", "}", "[", "]", "\"", ":", ",", " ", "1", "2", "-", "a",
                                     "t", "r", "u", "e", "n", "l", "\xC3\xA9", "\xC3", "\xA9", "\\"};
    const int n_alpha = (int)(sizeof alphabet / sizeof alphabet[0]);
    slm_rng rng;
    slm_rng_seed(&rng, 42);
    enum { NV = 200 };
    static char store[NV][16];
    const char *pc[NV];
    size_t len[NV];
    uint8_t eog[NV] = {0};
    for (int t = 0; t < NV; t++) {
        store[t][0] = '\0';
        int parts = 1 + (int)((uint32_t)(slm_rng_next(&rng) >> 32) % 3);
        for (int k = 0; k < parts; k++) strcat(store[t], alphabet[(uint32_t)(slm_rng_next(&rng) >> 32) % (uint32_t)n_alpha]);
        pc[t] = store[t];
        len[t] = strlen(store[t]);
    }
    len[NV - 1] = 0; /* a control token */
    eog[NV - 2] = 1;
    slm_gram *gram = NULL;
    slm_grammar *g = NULL;
    REQUIRE(slm_gram_parse(gbnf, strlen(gbnf), NULL, &gram) == SLM_OK, "parse: %s", slm_last_error());
    REQUIRE(slm_grammar_new_vocab(gram, pc, len, eog, NV, &g) == SLM_OK, "new: %s", slm_last_error());
    char text[512];
    int mismatches = 0, steps = 0;
    for (int run = 0; run < 20; run++) {
        slm_grammar_reset(g);
        size_t tl = 0;
        for (int step = 0; step < 40; step++) {
            float logits[NV];
            for (int t = 0; t < NV; t++) logits[t] = 0.0f;
            REQUIRE(slm_grammar_apply(g, logits, NV) == SLM_OK, "apply: %s", slm_last_error());
            int n_ok = 0, pick = -1;
            for (int t = 0; t < NV; t++) {
                int want;
                if (eog[t]) {
                    slm_gram *g2 = NULL;
                    slm_grammar *o = NULL;
                    slm_gram_parse(gbnf, strlen(gbnf), NULL, &g2);
                    slm_grammar_new_vocab(g2, pc, len, eog, NV, &o);
                    want = slm_grammar_accept_text(o, text, tl) == SLM_OK && slm_grammar_can_end(o);
                    slm_grammar_free(o);
                } else if (len[t] == 0) {
                    want = 0;
                } else {
                    slm_gram *g2 = NULL;
                    slm_grammar *o = NULL;
                    slm_gram_parse(gbnf, strlen(gbnf), NULL, &g2);
                    slm_grammar_new_vocab(g2, pc, len, eog, NV, &o);
                    want = slm_grammar_accept_text(o, text, tl) == SLM_OK &&
                           slm_grammar_accept_text(o, pc[t], len[t]) == SLM_OK;
                    slm_grammar_free(o);
                }
                int got = logits[t] == 0.0f;
                if (got != want) mismatches++;
                if (got && !eog[t]) {
                    n_ok++;
                    if ((uint32_t)(slm_rng_next(&rng) >> 32) % (uint32_t)n_ok == 0) pick = t;
                }
            }
            steps++;
            if (pick < 0 || tl + len[pick] >= sizeof text) break;
            REQUIRE(slm_grammar_accept(g, pick) == SLM_OK, "accept %d: %s", pick, slm_last_error());
            memcpy(text + tl, pc[pick], len[pick]);
            tl += len[pick];
        }
    }
    CHECK(mismatches == 0, "%d tokens masked differently from the oracle over %d steps", mismatches, steps);
    CHECK(steps > 100, "only %d steps", steps);
    slm_grammar_free(g);
}

static void mask_equals_a_byte_by_byte_oracle(void)
{
    oracle_run("root ::= value\n"
               "value ::= obj | arr | str | num | \"true\" | \"null\"\n"
               "obj ::= \"{\" ws (str ws \":\" ws value (\",\" ws str ws \":\" ws value)*)? \"}\"\n"
               "arr ::= \"[\" ws (value (\",\" ws value)*)? \"]\"\n"
               "str ::= \"\\\"\" [^\"\\\\]{0,6} \"\\\"\"\n"
               "num ::= \"-\"? [0-9]{1,3}\n"
               "ws ::= \" \"?\n");
    oracle_run("root ::= value\n"
               "value ::= obj | arr | str | num | \"true\" | \"null\"\n"
               "obj ::= \"{\" ws (str ws \":\" ws value (\",\" ws str ws \":\" ws value)*)? \"}\"\n"
               "arr ::= \"[\" ws (value (\",\" ws value)*)? \"]\"\n"
               "str ::= \"\\\"\" [^\"\\\\]* \"\\\"\"\n"
               "num ::= \"-\"? [0-9]+\n"
               "ws ::= \" \"*\n");
}

static void parser_fails_cleanly_on_every_allocation_failure(void)
{
    const char *gbnf = "root ::= (\"a\" | [\\u0100-\\uFFFF] | .)* x{2,4}\nx ::= \"q\"?\n";
    int ok = 0;
    for (long n = 0; n < 2000 && !ok; n++) {
        slm_gram *gram = NULL;
        slm_alloc_fail_after(n);
        slm_status st = slm_gram_parse(gbnf, strlen(gbnf), NULL, &gram);
        slm_alloc_fail_after(-1);
        if (st == SLM_OK) {
            ok = 1;
            slm_gram_free(gram);
        } else {
            CHECK(st == SLM_ERR_NOMEM && gram == NULL, "failure %ld: %s %s", n, slm_status_name(st),
                  slm_last_error());
        }
    }
    CHECK(ok, "never succeeded");
}

static void pathological_ambiguity_fails_instead_of_hanging(void)
{
    /* (a|a|a|a)* twenty levels deep: the closure dedupes, so this stays
     * small; a grammar whose stacks really multiply must hit the limit. */
    slm_status st;
    slm_grammar *g = compile("root ::= x*\nx ::= \"a\" | \"a\" | \"a\" x x", &st);
    REQUIRE(g, "compile: %s", slm_last_error());
    char text[64];
    memset(text, 'a', sizeof text);
    /* Either a clean refusal (limit) or a correct answer; never a hang. */
    int m = slm_grammar_matches(g, text, sizeof text);
    CHECK(m == 1 || strstr(slm_last_error(), "ambiguous"), "ambiguous grammar: %d %s", m, slm_last_error());
    slm_grammar_free(g);
}

int main(void)
{
    RUN(grammar_matches_what_the_gbnf_says);
    RUN(grammar_reports_each_error_with_line_and_column);
    RUN(matcher_masks_multi_character_and_split_utf8_tokens);
    RUN(vocabulary_cache_never_mixes_vocabularies);
    RUN(accept_text_leaves_the_state_unchanged_when_refused);
    RUN(mask_equals_a_byte_by_byte_oracle);
    RUN(parser_fails_cleanly_on_every_allocation_failure);
    RUN(pathological_ambiguity_fails_instead_of_hanging);
    return harness_finish();
}
