/* test_grammar_schema.c — JSON Schema → GBNF (src/grammar/schema.c).
 *
 * Each case is a schema, a JSON document and whether the schema accepts it,
 * worked out by hand from the JSON Schema specification (draft 2020-12); the
 * converted grammar must match exactly the accepted documents (checked with a
 * text-only grammar). The end-to-end check against an independent validator
 * (python3-jsonschema) is tests/cli_grammar.sh.
 */
#include <string.h>

#include "base/alloc.h"
#include "harness.h"
#include "slm.h"

static int doc_matches(const char *schema, const char *doc, slm_status *st_out)
{
    char *gbnf = NULL;
    slm_grammar *g = NULL;
    slm_status st = slm_json_schema_to_grammar(schema, strlen(schema), &gbnf);
    if (st == SLM_OK) st = slm_grammar_new(NULL, gbnf, strlen(gbnf), NULL, &g);
    if (st_out) *st_out = st;
    if (st != SLM_OK) {
        slm_grammar_text_free(gbnf);
        return -1;
    }
    int m = slm_grammar_accept_text(g, doc, strlen(doc)) == SLM_OK && slm_grammar_can_end(g);
    slm_grammar_free(g);
    slm_grammar_text_free(gbnf);
    return m;
}

typedef struct {
    const char *schema, *doc;
    int valid;
} doc_case;

static void schema_grammar_accepts_exactly_the_valid_documents(void)
{
    static const doc_case cases[] = {
        {"{\"type\":\"integer\"}", "-12", 1},
        {"{\"type\":\"integer\"}", "1.5", 0},
        {"{\"type\":\"integer\"}", "012", 0}, /* JSON has no leading zeros */
        {"{\"type\":\"integer\",\"minimum\":0}", "-1", 0},
        {"{\"type\":\"integer\",\"minimum\":0}", "0", 1},
        {"{\"type\":\"integer\",\"minimum\":1}", "0", 0},
        {"{\"type\":\"integer\",\"minimum\":1}", "7", 1},
        {"{\"type\":\"number\"}", "-0.25e+3", 1},
        {"{\"type\":\"number\"}", ".5", 0},
        {"{\"type\":\"boolean\"}", "false", 1},
        {"{\"type\":\"null\"}", "null", 1},
        {"{\"type\":[\"string\",\"null\"]}", "null", 1},
        {"{\"type\":[\"string\",\"null\"]}", "\"x\"", 1},
        {"{\"type\":[\"string\",\"null\"]}", "1", 0},
        {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"ab\"", 1},
        {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"a\"", 0},
        {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"abcd\"", 0},
        {"{\"type\":\"string\",\"maxLength\":2}", "\"\\u00e9\\n\"", 1}, /* escapes count as one character */
        {"{\"type\":\"string\",\"maxLength\":2}", "\"\xC3\xA9\xC3\xA9\"", 1}, /* so do multi-byte ones */
        {"{\"type\":\"string\"}", "\"a\nb\"", 0},                        /* raw control character */
        {"{\"enum\":[\"red\",1,null,{\"a\":[true]}]}", "{\"a\":[true]}", 1},
        {"{\"enum\":[\"red\",1,null]}", "\"blue\"", 0},
        {"{\"const\":\"x\\\"y\"}", "\"x\\\"y\"", 1},
        {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}", "[]", 0},
        {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}", "[1, 2]", 1},
        {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}", "[1,2,3]", 0},
        {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}", "[ ]", 1},
        {"{\"type\":\"array\",\"prefixItems\":[{\"type\":\"integer\"},{\"type\":\"boolean\"}]}", "[1,true]", 1},
        {"{\"type\":\"array\",\"prefixItems\":[{\"type\":\"integer\"},{\"type\":\"boolean\"}]}", "[true,1]", 0},
        /* required first, optional ones in schema order; no extra keys */
        {"{\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"boolean\"}},\"required\":[\"b\"]}",
         "{\"b\":true,\"a\":1}", 1},
        {"{\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"boolean\"}},\"required\":[\"b\"]}",
         "{\"a\":1}", 0},
        {"{\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"boolean\"}},\"required\":[\"b\"]}",
         "{\"b\":true,\"c\":1}", 0},
        {"{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{},\"c\":{}}}", "{}", 1},
        {"{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{},\"c\":{}}}", "{\"b\":[1,{}]}", 1},
        {"{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{},\"c\":{}}}", "{\"a\":1,\"c\":\"x\"}", 1},
        {"{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{},\"c\":{}}}", "{\"a\":1,}", 0},
        {"{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"}},\"required\":[\"id\"],"
         "\"additionalProperties\":{\"type\":\"integer\"}}",
         "{\"id\":1,\"x\":2}", 1},
        {"{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"}},\"required\":[\"id\"],"
         "\"additionalProperties\":{\"type\":\"integer\"}}",
         "{\"id\":1,\"x\":\"s\"}", 0},
        {"{\"type\":\"object\"}", "{\"any\": {\"thing\": [1, \"two\", null]}}", 1},
        {"{\"type\":\"object\"}", "[]", 0},
        {"{}", "[1, {\"a\": false}]", 1},
        {"{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\",\"maxLength\":1}]}", "\"a\"", 1},
        {"{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"string\",\"maxLength\":1}]}", "\"ab\"", 0},
        {"{\"allOf\":[{\"type\":\"integer\"}]}", "3", 1},
        {"{\"type\":\"string\",\"format\":\"date\"}", "\"2024-02-28\"", 1},
        {"{\"type\":\"string\",\"format\":\"date\"}", "\"2024-02-30\"", 0},
        {"{\"type\":\"string\",\"format\":\"date\"}", "\"2024-13-01\"", 0},
        {"{\"type\":\"string\",\"format\":\"time\"}", "\"23:59:60Z\"", 0},
        {"{\"type\":\"string\",\"format\":\"time\"}", "\"23:59:59.5+01:00\"", 1},
        {"{\"type\":\"string\",\"format\":\"date-time\"}", "\"2021-06-30T12:00:00Z\"", 1},
        {"{\"type\":\"string\",\"format\":\"uuid\"}", "\"123e4567-e89b-12d3-a456-426614174000\"", 1},
        {"{\"type\":\"string\",\"format\":\"uuid\"}", "\"123e4567e89b12d3a456426614174000\"", 0},
        {"{\"type\":\"string\",\"format\":\"email\"}", "\"a.b@example.org\"", 1},
        {"{\"type\":\"string\",\"format\":\"email\"}", "\"no-at-sign\"", 0},
        {"{\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":{\"next\":{\"$ref\":\"#/$defs/n\"}}}},"
         "\"$ref\":\"#/$defs/n\"}",
         "{\"next\":{\"next\":{}}}", 1},
        {"{\"definitions\":{\"p\":{\"type\":\"integer\"}},\"type\":\"array\",\"items\":{\"$ref\":\"#/definitions/p\"}}",
         "[1,\"2\"]", 0},
        {"{\"title\":\"t\",\"description\":\"d\",\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
         "\"type\":\"boolean\"}",
         "true", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        slm_status st;
        int m = doc_matches(cases[i].schema, cases[i].doc, &st);
        CHECK(m == cases[i].valid, "case %zu: schema %s, document %s: got %d, expected %d (%s)", i,
              cases[i].schema, cases[i].doc, m, cases[i].valid, st == SLM_OK ? "" : slm_last_error());
    }
}

typedef struct {
    const char *schema;
    slm_status st;
    const char *what; /* part of the message */
} refuse_case;

static void schema_refuses_what_it_cannot_enforce_naming_the_keyword(void)
{
    static const refuse_case cases[] = {
        {"{\"type\":\"string\",\"pattern\":\"^a$\"}", SLM_ERR_UNSUPPORTED, "'pattern'"},
        {"{\"type\":\"array\",\"uniqueItems\":true}", SLM_ERR_UNSUPPORTED, "'uniqueItems'"},
        {"{\"type\":\"number\",\"maximum\":9}", SLM_ERR_UNSUPPORTED, "'maximum'"},
        {"{\"type\":\"number\",\"minimum\":5}", SLM_ERR_UNSUPPORTED, "minimum 5"},
        {"{\"type\":\"integer\",\"minimum\":1e16}", SLM_ERR_UNSUPPORTED, "10^15"},
        {"{\"type\":\"integer\",\"minimum\":5,\"maximum\":4}", SLM_ERR_FORMAT, "no integer"},
        {"{\"type\":\"string\",\"format\":\"ipv4\"}", SLM_ERR_UNSUPPORTED, "'ipv4'"},
        {"{\"properties\":{\"a\":{\"not\":{}}}}", SLM_ERR_UNSUPPORTED, "#/properties/a"},
        {"{\"$ref\":\"other.json#/x\"}", SLM_ERR_UNSUPPORTED, "within the schema"},
        {"{\"$ref\":\"#/$defs/missing\"}", SLM_ERR_FORMAT, "points to nothing"},
        {"{\"type\":\"strin\"}", SLM_ERR_FORMAT, "unknown type 'strin'"},
        {"{\"type\":\"string\",\"minLength\":3,\"maxLength\":2}", SLM_ERR_FORMAT, "below"},
        {"{\"enum\":[]}", SLM_ERR_FORMAT, "empty"},
        {"{\"type\":", SLM_ERR_FORMAT, "not valid JSON"},
        {"[1]", SLM_ERR_FORMAT, "object or a boolean"},
        {"{\"allOf\":[{},{}]}", SLM_ERR_UNSUPPORTED, "allOf"},
        {"{\"frobnicate\":1}", SLM_ERR_UNSUPPORTED, "'frobnicate'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *gbnf = (char *)"unchanged";
        slm_status st = slm_json_schema_to_grammar(cases[i].schema, strlen(cases[i].schema), &gbnf);
        CHECK(st == cases[i].st && gbnf == NULL && strstr(slm_last_error(), cases[i].what),
              "case %zu (%s): %s \"%s\", expected %s with \"%s\"", i, cases[i].schema, slm_status_name(st),
              slm_last_error(), slm_status_name(cases[i].st), cases[i].what);
        if (st == SLM_OK) slm_grammar_text_free(gbnf);
    }
}

static void json_object_grammar_matches_objects_only(void)
{
    const char *g = slm_grammar_json_object();
    slm_grammar *gr = NULL;
    REQUIRE(slm_grammar_new(NULL, g, strlen(g), NULL, &gr) == SLM_OK, "%s", slm_last_error());
    static const struct {
        const char *doc;
        int ok;
    } docs[] = {
        {"{}", 1},
        {"{\"a\": [1, 2.5, -3e2, {\"b\": null}], \"c\": \"\\u00e9\"}", 1},
        {"{\n  \"k\": true\n}", 1},
        {"[1]", 0},
        {"\"s\"", 0},
        {"{\"a\":}", 0},
        {"{\"a\":1", 0},
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        slm_grammar_reset(gr);
        int m = slm_grammar_accept_text(gr, docs[i].doc, strlen(docs[i].doc)) == SLM_OK && slm_grammar_can_end(gr);
        CHECK(m == docs[i].ok, "json_object on %s: %d", docs[i].doc, m);
    }
    slm_grammar_free(gr);
}

static void schema_conversion_fails_cleanly_on_every_allocation_failure(void)
{
    const char *s = "{\"$defs\":{\"p\":{\"type\":\"integer\"}},\"type\":\"object\",\"properties\":{"
                    "\"a\":{\"$ref\":\"#/$defs/p\"},\"b\":{\"type\":\"array\",\"items\":{}},"
                    "\"c\":{\"enum\":[\"x\",2]},\"d\":{\"type\":\"string\",\"format\":\"date-time\"}}}";
    int ok = 0;
    for (long n = 0; n < 5000 && !ok; n++) {
        char *gbnf = NULL;
        slm_alloc_fail_after(n);
        slm_status st = slm_json_schema_to_grammar(s, strlen(s), &gbnf);
        slm_alloc_fail_after(-1);
        if (st == SLM_OK) {
            ok = 1;
            slm_grammar_text_free(gbnf);
        } else {
            CHECK(st == SLM_ERR_NOMEM && gbnf == NULL, "failure %ld: %s %s", n, slm_status_name(st), slm_last_error());
        }
    }
    CHECK(ok, "never succeeded");
}

/* Every integer in a window around the bounds is accepted iff it lies in
 * them (the expectation is integer arithmetic, not the grammar). */
static void integer_bounds_accept_exactly_the_integers_in_range(void)
{
    static const struct {
        const char *bounds;
        long lo, hi; /* LONG_MIN/LONG_MAX = none */
    } cases[] = {
        {"\"minimum\":0,\"maximum\":150", 0, 150},
        {"\"minimum\":-20,\"maximum\":7", -20, 7},
        {"\"exclusiveMinimum\":99", 100, 1000000},
        {"\"maximum\":-5", -1000000, -5},
        {"\"minimum\":1234,\"maximum\":9876", 1234, 9876},
        {"\"minimum\":-999,\"exclusiveMaximum\":-100", -999, -101},
        {"\"minimum\":7.5,\"maximum\":10.5", 8, 10},
        {"\"minimum\":0", 0, 1000000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char schema[160];
        snprintf(schema, sizeof schema, "{\"type\":\"integer\",%s}", cases[i].bounds);
        char *gbnf = NULL;
        slm_grammar *g = NULL;
        slm_status st = slm_json_schema_to_grammar(schema, strlen(schema), &gbnf);
        if (st == SLM_OK) st = slm_grammar_new(NULL, gbnf, strlen(gbnf), NULL, &g);
        slm_grammar_text_free(gbnf);
        if (st != SLM_OK) {
            CHECK(0, "%s: %s", schema, slm_last_error());
            continue;
        }
        int bad = 0;
        for (long v = -12000; v <= 12000; v++) {
            char txt[32];
            snprintf(txt, sizeof txt, "%ld", v);
            slm_grammar_reset(g);
            int m = slm_grammar_accept_text(g, txt, strlen(txt)) == SLM_OK && slm_grammar_can_end(g);
            int want = v >= cases[i].lo && v <= cases[i].hi;
            if (m != want && bad++ < 3) CHECK(0, "%s on %ld: got %d, expected %d", schema, v, m, want);
        }
        const char *zeros[] = {"007", "-0", "00"};
        for (size_t z = 0; z < 3; z++) {
            slm_grammar_reset(g);
            CHECK(!(slm_grammar_accept_text(g, zeros[z], strlen(zeros[z])) == SLM_OK && slm_grammar_can_end(g)),
                  "%s accepted %s", schema, zeros[z]);
        }
        slm_grammar_free(g);
    }
}

int main(void)
{
    RUN(integer_bounds_accept_exactly_the_integers_in_range);
    RUN(schema_grammar_accepts_exactly_the_valid_documents);
    RUN(schema_refuses_what_it_cannot_enforce_naming_the_keyword);
    RUN(json_object_grammar_matches_objects_only);
    RUN(schema_conversion_fails_cleanly_on_every_allocation_failure);
    return harness_finish();
}
