/* schema.c — JSON Schema → GBNF text (slm_json_schema_to_grammar), and the
 * built-in "any JSON object" grammar.
 *
 * Each sub-schema becomes a rule named after its path (root, root-name,
 * root-tags-item, ...); identical bodies share one rule. Values are written
 * without surrounding whitespace; objects and arrays allow bounded
 * whitespace after { [ , : and before } ] (llama.cpp's convention, so a
 * model may pretty-print). Everything the grammar cannot enforce (pattern,
 * uniqueItems, numeric bounds other than sign, ...) is refused with
 * SLM_ERR_UNSUPPORTED naming the keyword and the schema path, never silently
 * dropped: the output must validate.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/alloc.h"
#include "base/status.h"
#include "grammar/grammar.h"

#define MAX_DEPTH 64

typedef struct sbuf {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        while (nc < b->n + n + 1) nc *= 2;
        char *ns = slm_realloc(b->s, nc);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) SLM_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        sb_putn(b, tmp, (size_t)n);
        return;
    }
    char *big = slm_alloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_putn(b, big, (size_t)n);
    slm_free(big);
}

/* A GBNF string literal for raw bytes s[0..n). */
static void sb_literal(sbuf *b, const char *s, size_t n)
{
    sb_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[3] = {'\\', (char)c, 0};
            sb_puts(b, e);
        } else if (c == '\n') {
            sb_puts(b, "\\n");
        } else if (c == '\r') {
            sb_puts(b, "\\r");
        } else if (c == '\t') {
            sb_puts(b, "\\t");
        } else if (c < 0x20 || c == 0x7F) {
            sb_printf(b, "\\x%02X", c);
        } else {
            sb_putn(b, (const char *)&c, 1);
        }
    }
    sb_puts(b, "\"");
}

typedef struct rule {
    char *name;
    char *body; /* NULL while a $ref target is being built */
} rule;

typedef struct refmap {
    char *ref;
    char *name;
} refmap;

typedef struct ctx {
    const cJSON *root;
    rule *rules;
    size_t n_rules, cap_rules;
    refmap *refs;
    size_t n_refs, cap_refs;
    int depth;
    slm_status st;
} ctx;

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 1;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *nv = slm_realloc(*v, nc * elem);
    if (!nv) return 0;
    *v = nv;
    *cap = nc;
    return 1;
}

static slm_status nomem(ctx *c)
{
    if (c->st == SLM_OK) c->st = slm_fail(SLM_ERR_NOMEM, "json schema: out of memory");
    return c->st;
}

static slm_status unsupported(ctx *c, const char *path, const char *fmt, ...) SLM_PRINTF(3, 4);
static slm_status unsupported(ctx *c, const char *path, const char *fmt, ...)
{
    if (c->st != SLM_OK) return c->st;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->st = slm_fail(SLM_ERR_UNSUPPORTED, "json schema at %s: %s", path, msg);
    return c->st;
}

static slm_status bad(ctx *c, const char *path, const char *fmt, ...) SLM_PRINTF(3, 4);
static slm_status bad(ctx *c, const char *path, const char *fmt, ...)
{
    if (c->st != SLM_OK) return c->st;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->st = slm_fail(SLM_ERR_FORMAT, "json schema at %s: %s", path, msg);
    return c->st;
}

static const rule *find_name(const ctx *c, const char *name)
{
    for (size_t k = 0; k < c->n_rules; k++)
        if (strcmp(c->rules[k].name, name) == 0) return &c->rules[k];
    return NULL;
}

/* Rule name from a hint: [a-zA-Z0-9-] only, made unique. Returns a slot. */
static rule *new_slot(ctx *c, const char *hint)
{
    char base[80];
    size_t n = 0;
    for (const char *s = hint; *s && n < 60; s++) {
        char ch = *s;
        base[n++] = ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) ? ch : '-';
    }
    if (n == 0) base[n++] = 'r';
    base[n] = '\0';
    char name[96];
    snprintf(name, sizeof name, "%s", base);
    for (int k = 2; find_name(c, name); k++) snprintf(name, sizeof name, "%s-%d", base, k);
    if (!grow((void **)&c->rules, &c->cap_rules, c->n_rules + 1, sizeof *c->rules)) {
        nomem(c);
        return NULL;
    }
    rule *r = &c->rules[c->n_rules];
    r->name = slm_strdup(name);
    r->body = NULL;
    if (!r->name) {
        nomem(c);
        return NULL;
    }
    c->n_rules++;
    return r;
}

/* Add (or share) a rule with this body; returns its name (owned by ctx). */
/* The rule whose body is *body (an existing rule with the same body is
 * reused), named after hint; every converter ends with it. Consumes the
 * buffer (freed and emptied); NULL on failure, with the error recorded in c. */
static const char *add_rule(ctx *c, const char *hint, sbuf *body)
{
    const char *name = NULL;
    if (body->oom) {
        nomem(c);
        goto done;
    }
    const char *text = body->s ? body->s : "\"\"";
    for (size_t k = 0; k < c->n_rules; k++)
        if (c->rules[k].body && strcmp(c->rules[k].body, text) == 0) {
            name = c->rules[k].name;
            goto done;
        }
    rule *r = new_slot(c, hint);
    if (!r) goto done;
    r->body = slm_strdup(text);
    if (!r->body) {
        nomem(c);
        goto done;
    }
    name = r->name;
done:
    slm_free(body->s);
    *body = (sbuf){0}; /* empty, ready for the next rule */
    return name;
}

static const char *add_rule_text(ctx *c, const char *hint, const char *text)
{
    sbuf b = {0};
    sb_puts(&b, text);
    return add_rule(c, hint, &b);
}

/* ---- primitives ------------------------------------------------------------- */

static const char *ws(ctx *c) { return add_rule_text(c, "ws", "| \" \" | \"\\n\" [ \\t]{0,20}"); }

static const char *str_char(ctx *c)
{
    return add_rule_text(c, "char",
                         "[^\"\\\\\\x00-\\x1F\\x7F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})");
}

static const char *int_digits(ctx *c, int positive)
{
    return positive ? add_rule_text(c, "int-pos", "[1-9] [0-9]{0,15}")
                    : add_rule_text(c, "int-nonneg", "\"0\" | [1-9] [0-9]{0,15}");
}

/* any JSON value (strings and numbers bounded as above); rule "value" */
static const char *any_value(ctx *c)
{
    const rule *have = find_name(c, "value");
    if (have) return have->name;
    if (!new_slot(c, "value")) return NULL; /* "value" is never a hint elsewhere */
    size_t slot = c->n_rules - 1;
    const char *w = ws(c), *ch = str_char(c), *in = int_digits(c, 0);
    if (!w || !ch || !in) return NULL;
    sbuf b = {0};
    sb_printf(&b, "\"\\\"\" %s* \"\\\"\"", ch);
    const char *str = add_rule(c, "string", &b);
    sb_printf(&b, "\"-\"? (%s) (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?", in);
    const char *num = add_rule(c, "number", &b);
    if (!str || !num) return NULL;
    sb_printf(&b, "\"{\" %s (%s %s \":\" %s value %s (\",\" %s %s %s \":\" %s value %s)*)? \"}\"", w, str, w,
              w, w, w, str, w, w, w);
    const char *obj = add_rule(c, "object", &b);
    sb_printf(&b, "\"[\" %s (value %s (\",\" %s value %s)*)? \"]\"", w, w, w, w);
    const char *arr = add_rule(c, "array", &b);
    if (!obj || !arr) return NULL;
    sb_printf(&b, "%s | %s | %s | %s | \"true\" | \"false\" | \"null\"", obj, arr, str, num);
    if (b.oom) return nomem(c), NULL;
    c->rules[slot].body = b.s;
    return c->rules[slot].name;
}

/* ---- keywords ------------------------------------------------------------------ */

static const char *const ignored_keys[] = {
    "$schema", "$id", "$comment", "title", "description", "examples", "default", "$defs",
    "definitions", "readOnly", "writeOnly", "deprecated", "format_hint",
};

static int is_ignored(const char *k)
{
    for (size_t i = 0; i < sizeof ignored_keys / sizeof ignored_keys[0]; i++)
        if (strcmp(k, ignored_keys[i]) == 0) return 1;
    return 0;
}

static int key_in(const char *k, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(k, *list) == 0) return 1;
    return 0;
}

static const char *visit(ctx *c, const cJSON *s, const char *hint, const char *path);

static int get_count(ctx *c, const cJSON *s, const char *key, const char *path, long *out, long dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, key);
    *out = dflt;
    if (!v) return 1;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 100000 ||
        v->valuedouble != floor(v->valuedouble)) {
        bad(c, path, "'%s' must be a whole number 0..100000", key);
        return 0;
    }
    *out = (long)v->valuedouble;
    return 1;
}

static const char *literal_rule(ctx *c, const cJSON *values, int n_is_one, const char *hint, const char *path)
{
    sbuf b = {0};
    int first = 1;
    const cJSON *v;
    if (n_is_one) {
        char *txt = cJSON_PrintUnformatted(values);
        if (!txt) return nomem(c), NULL;
        sb_literal(&b, txt, strlen(txt));
        cJSON_free(txt);
    } else {
        cJSON_ArrayForEach(v, values)
        {
            char *txt = cJSON_PrintUnformatted(v);
            if (!txt) {
                slm_free(b.s);
                return nomem(c), NULL;
            }
            if (!first) sb_puts(&b, " | ");
            sb_literal(&b, txt, strlen(txt));
            cJSON_free(txt);
            first = 0;
        }
        if (first) {
            slm_free(b.s);
            bad(c, path, "'enum' is empty (nothing could validate)");
            return NULL;
        }
    }
    return add_rule(c, hint, &b);
}

static const char *string_rule(ctx *c, const cJSON *s, const char *hint, const char *path)
{
    static const char *const known[] = {"type", "minLength", "maxLength", "format", NULL};
    const cJSON *k;
    cJSON_ArrayForEach(k, s)
    {
        if (is_ignored(k->string) || key_in(k->string, known)) continue;
        return unsupported(c, path, "keyword '%s' on a string is not supported", k->string), NULL;
    }
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(s, "format");
    long lo, hi;
    if (!get_count(c, s, "minLength", path, &lo, 0) || !get_count(c, s, "maxLength", path, &hi, -1)) return NULL;
    sbuf b = {0};
    if (fmt) {
        if (!cJSON_IsString(fmt)) return bad(c, path, "'format' must be a string"), NULL;
        if (cJSON_GetObjectItemCaseSensitive(s, "minLength") || cJSON_GetObjectItemCaseSensitive(s, "maxLength"))
            return unsupported(c, path, "minLength/maxLength together with format"), NULL;
        const char *f = fmt->valuestring;
        /* dates are valid calendar dates (no Feb 29, so no leap-year logic) */
        static const char date[] =
            "[1-9] [0-9]{3} \"-\" ((\"0\" [13578] | \"1\" [02]) \"-\" (\"0\" [1-9] | [12] [0-9] | \"3\" [01])"
            " | (\"0\" [469] | \"11\") \"-\" (\"0\" [1-9] | [12] [0-9] | \"30\")"
            " | \"02-\" (\"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8]))";
        static const char time[] =
            "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]{1,6})?"
            " (\"Z\" | [+-] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])";
        const char *body = NULL;
        if (strcmp(f, "date") == 0) {
            body = add_rule_text(c, "date", date);
        } else if (strcmp(f, "time") == 0) {
            body = add_rule_text(c, "time", time);
        } else if (strcmp(f, "date-time") == 0) {
            const char *d = add_rule_text(c, "date", date), *t = add_rule_text(c, "time", time);
            if (!d || !t) return NULL;
            sb_printf(&b, "%s \"T\" %s", d, t);
            body = add_rule(c, "date-time", &b);
        } else if (strcmp(f, "uuid") == 0) {
            body = add_rule_text(c, "uuid",
                                 "[0-9a-f]{8} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{12}");
        } else if (strcmp(f, "email") == 0) {
            body = add_rule_text(c, "email",
                                 "[a-zA-Z0-9_+-] [a-zA-Z0-9._+-]{0,31} \"@\" [a-zA-Z0-9] [a-zA-Z0-9-]{0,31}"
                                 " (\".\" [a-zA-Z] [a-zA-Z0-9-]{0,15}){1,3}");
        } else {
            return unsupported(c, path, "string format '%s' (supported: date, time, date-time, uuid, email)", f),
                   NULL;
        }
        if (!body) return NULL;
        sb_printf(&b, "\"\\\"\" %s \"\\\"\"", body);
    } else {
        const char *ch = str_char(c);
        if (!ch) return NULL;
        if (hi >= 0 && hi < lo) return bad(c, path, "maxLength %ld below minLength %ld", hi, lo), NULL;
        if (hi < 0 && lo == 0)
            sb_printf(&b, "\"\\\"\" %s* \"\\\"\"", ch);
        else if (hi < 0)
            sb_printf(&b, "\"\\\"\" %s{%ld,} \"\\\"\"", ch, lo);
        else
            sb_printf(&b, "\"\\\"\" %s{%ld,%ld} \"\\\"\"", ch, lo, hi);
    }
    return add_rule(c, hint, &b);
}

/* Equal-length digit strings lo..hi (n digits each, lo <= hi). */
static void digits_range(sbuf *b, const char *lo, const char *hi, size_t n)
{
    if (n == 1) {
        sb_printf(b, "[%c-%c]", lo[0], hi[0]);
        return;
    }
    if (lo[0] == hi[0]) {
        sb_printf(b, "\"%c\" ", lo[0]);
        digits_range(b, lo + 1, hi + 1, n - 1);
        return;
    }
    char nines[20], zeros[20];
    memset(nines, '9', n - 1);
    memset(zeros, '0', n - 1);
    int lo_zeros = memcmp(lo + 1, zeros, n - 1) == 0, hi_nines = memcmp(hi + 1, nines, n - 1) == 0;
    char first = lo[0], last = hi[0];
    int alts = 0;
    sb_puts(b, "(");
    if (!lo_zeros) {
        sb_printf(b, "\"%c\" ", lo[0]);
        digits_range(b, lo + 1, nines, n - 1);
        first++;
        alts++;
    }
    if (!hi_nines) last--;
    if (first <= last) {
        sb_printf(b, "%s[%c-%c] [0-9]{%zu}", alts ? " | " : "", first, last, n - 1);
        alts++;
    }
    if (!hi_nines) {
        sb_printf(b, "%s\"%c\" ", alts ? " | " : "", hi[0]);
        digits_range(b, zeros, hi + 1, n - 1);
    }
    sb_puts(b, ")");
}

#define INT_LIMIT 1000000000000000ull /* 10^15: bounds beyond are refused */

/* Non-negative integers in [lo, hi] without leading zeros; hi == UINT64_MAX
 * means up to 16 digits. */
static void uint_range(sbuf *b, uint64_t lo, uint64_t hi)
{
    char a[24], z[24];
    int alts = 0;
    uint64_t p = 1;
    sb_puts(b, "(");
    for (size_t len = 1; len <= 16; len++, p *= 10) {
        uint64_t first = len == 1 ? 0 : p, last = p * 10 - 1;
        if (hi != UINT64_MAX && first > hi) break;
        if (last < lo) continue;
        if (hi == UINT64_MAX && lo <= first && len > 1) {
            /* every longer number: one alternative */
            sb_printf(b, "%s[1-9] [0-9]{%zu,15}", alts ? " | " : "", len - 1);
            alts++;
            break;
        }
        uint64_t x = lo > first ? lo : first, y = (hi != UINT64_MAX && hi < last) ? hi : last;
        snprintf(a, sizeof a, "%0*llu", (int)len, (unsigned long long)x);
        snprintf(z, sizeof z, "%0*llu", (int)len, (unsigned long long)y);
        if (alts) sb_puts(b, " | ");
        digits_range(b, a, z, len);
        alts++;
    }
    sb_puts(b, ")");
}

static int get_bound(ctx *c, const cJSON *s, const char *key, const char *path, int *has, double *v)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(s, key);
    *has = 0;
    if (!j) return 1;
    if (!cJSON_IsNumber(j)) {
        bad(c, path, "'%s' must be a number", key);
        return 0;
    }
    *has = 1;
    *v = j->valuedouble;
    return 1;
}

static const char *number_rule(ctx *c, const cJSON *s, int integer, const char *hint, const char *path)
{
    static const char *const known_int[] = {"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                                            NULL};
    static const char *const known_num[] = {"type", "minimum", NULL};
    const cJSON *k;
    cJSON_ArrayForEach(k, s)
    {
        if (is_ignored(k->string) || key_in(k->string, integer ? known_int : known_num)) continue;
        return unsupported(c, path, "keyword '%s' on a %s is not supported%s", k->string,
                           integer ? "integer" : "number", integer ? "" : " (only minimum 0)"),
               NULL;
    }
    sbuf b = {0};
    if (integer) {
        int has_min, has_max, has_xmin, has_xmax;
        double mn = 0, mx = 0, xmn = 0, xmx = 0;
        if (!get_bound(c, s, "minimum", path, &has_min, &mn) || !get_bound(c, s, "maximum", path, &has_max, &mx) ||
            !get_bound(c, s, "exclusiveMinimum", path, &has_xmin, &xmn) ||
            !get_bound(c, s, "exclusiveMaximum", path, &has_xmax, &xmx))
            return NULL;
        /* integer bounds: the tightest of minimum and exclusiveMinimum, etc. */
        int has_lo = has_min || has_xmin, has_hi = has_max || has_xmax;
        double lo = -1e300, hi = 1e300;
        if (has_min) lo = ceil(mn);
        if (has_xmin && floor(xmn) + 1 > lo) lo = floor(xmn) + 1;
        if (has_max) hi = floor(mx);
        if (has_xmax && ceil(xmx) - 1 < hi) hi = ceil(xmx) - 1;
        if ((has_lo && fabs(lo) >= (double)INT_LIMIT) || (has_hi && fabs(hi) >= (double)INT_LIMIT))
            return unsupported(c, path, "integer bounds beyond +-10^15"), NULL;
        if (has_lo && has_hi && lo > hi) return bad(c, path, "no integer lies within the bounds"), NULL;
        int64_t L = has_lo ? (int64_t)lo : 0, H = has_hi ? (int64_t)hi : 0; /* unset bounds stay unused */
        if (!has_lo && !has_hi) {
            const char *digits = int_digits(c, 0);
            if (!digits) return NULL;
            sb_printf(&b, "\"-\"? (%s)", digits);
        } else if (has_lo && L >= 0) {
            uint_range(&b, (uint64_t)L, has_hi ? (uint64_t)H : UINT64_MAX);
        } else if (has_hi && H < 0) {
            sb_puts(&b, "\"-\" ");
            uint_range(&b, (uint64_t)-H, has_lo ? (uint64_t)-L : UINT64_MAX);
        } else {
            /* the range crosses zero: negatives, then 0 and up */
            sb_puts(&b, "\"-\" ");
            uint_range(&b, 1, has_lo ? (uint64_t)-L : UINT64_MAX);
            sb_puts(&b, " | ");
            uint_range(&b, 0, has_hi ? (uint64_t)H : UINT64_MAX);
        }
    } else {
        const cJSON *mn = cJSON_GetObjectItemCaseSensitive(s, "minimum");
        int sign = 1;
        if (mn) {
            if (!cJSON_IsNumber(mn)) return bad(c, path, "'minimum' must be a number"), NULL;
            if (mn->valuedouble != 0)
                return unsupported(c, path, "minimum %g on a number (only 0 can be enforced)", mn->valuedouble), NULL;
            sign = 0;
        }
        const char *digits = int_digits(c, 0);
        if (!digits) return NULL;
        sb_printf(&b, "%s(%s) (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?", sign ? "\"-\"? " : "", digits);
    }
    return add_rule(c, hint, &b);
}

static const char *array_rule(ctx *c, const cJSON *s, const char *hint, const char *path)
{
    static const char *const known[] = {"type", "items", "prefixItems", "minItems", "maxItems", NULL};
    const cJSON *k;
    cJSON_ArrayForEach(k, s)
    {
        if (is_ignored(k->string) || key_in(k->string, known)) continue;
        return unsupported(c, path, "keyword '%s' on an array is not supported", k->string), NULL;
    }
    const char *w = ws(c);
    if (!w) return NULL;
    long lo, hi;
    if (!get_count(c, s, "minItems", path, &lo, 0) || !get_count(c, s, "maxItems", path, &hi, -1)) return NULL;
    if (hi >= 0 && hi < lo) return bad(c, path, "maxItems %ld below minItems %ld", hi, lo), NULL;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(s, "prefixItems");
    char sub_hint[128], sub_path[512];
    sbuf b = {0};
    if (prefix) {
        if (!cJSON_IsArray(prefix)) return bad(c, path, "'prefixItems' must be an array"), NULL;
        if (cJSON_GetObjectItemCaseSensitive(s, "minItems") || cJSON_GetObjectItemCaseSensitive(s, "maxItems") ||
            (items && !cJSON_IsFalse(items)))
            return unsupported(c, path, "prefixItems with items/minItems/maxItems (a fixed tuple is supported)"),
                   NULL;
        int i = 0;
        const cJSON *it;
        sb_printf(&b, "\"[\" %s", w);
        cJSON_ArrayForEach(it, prefix)
        {
            snprintf(sub_hint, sizeof sub_hint, "%s-%d", hint, i);
            snprintf(sub_path, sizeof sub_path, "%s/prefixItems/%d", path, i);
            const char *r = visit(c, it, sub_hint, sub_path);
            if (!r) {
                slm_free(b.s);
                return NULL;
            }
            sb_printf(&b, "%s %s %s", i ? " \",\" " : "", i ? w : "", r);
            sb_printf(&b, " %s", w);
            i++;
        }
        sb_puts(&b, " \"]\"");
    } else {
        const char *item;
        snprintf(sub_hint, sizeof sub_hint, "%s-item", hint);
        snprintf(sub_path, sizeof sub_path, "%s/items", path);
        if (!items || cJSON_IsTrue(items)) {
            item = any_value(c);
        } else if (cJSON_IsFalse(items)) {
            if (lo > 0) return bad(c, path, "items false with minItems %ld", lo), NULL;
            hi = 0;
            item = "\"\"";
        } else {
            item = visit(c, items, sub_hint, sub_path);
        }
        if (!item) return NULL;
        if (hi == 0) {
            sb_printf(&b, "\"[\" %s \"]\"", w);
        } else {
            /* item ("," item){lo-1, hi-1}, optional as a whole when lo == 0 */
            sbuf more = {0};
            long rlo = lo > 0 ? lo - 1 : 0;
            if (hi < 0)
                sb_printf(&more, "(\",\" %s %s %s){%ld,}", w, item, w, rlo);
            else
                sb_printf(&more, "(\",\" %s %s %s){%ld,%ld}", w, item, w, rlo, hi - 1);
            if (more.oom) return nomem(c), NULL;
            sb_printf(&b, "\"[\" %s %s%s %s %s%s \"]\"", w, lo == 0 ? "(" : "", item, w, more.s, lo == 0 ? ")?" : "");
            slm_free(more.s);
        }
    }
    return add_rule(c, hint, &b);
}

static const char *object_rule(ctx *c, const cJSON *s, const char *hint, const char *path)
{
    static const char *const known[] = {"type", "properties", "required", "additionalProperties", NULL};
    const cJSON *k;
    cJSON_ArrayForEach(k, s)
    {
        if (is_ignored(k->string) || key_in(k->string, known)) continue;
        return unsupported(c, path, "keyword '%s' on an object is not supported", k->string), NULL;
    }
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
    const cJSON *addl = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
    if (props && !cJSON_IsObject(props)) return bad(c, path, "'properties' must be an object"), NULL;
    if (req && !cJSON_IsArray(req)) return bad(c, path, "'required' must be an array"), NULL;
    const char *w = ws(c);
    if (!w) return NULL;
    /* key-value rules: required ones first (schema order), then optional */
    enum { MAXP = 256 };
    const char *kv[MAXP];
    int is_req[MAXP];
    int n = 0;
    char sub_hint[128], sub_path[512];
    const cJSON *p;
    cJSON_ArrayForEach(p, props)
    {
        if (n >= MAXP) return unsupported(c, path, "more than %d properties", MAXP), NULL;
        int r = 0;
        const cJSON *q;
        cJSON_ArrayForEach(q, req)
        {
            if (!cJSON_IsString(q)) return bad(c, path, "'required' must list strings"), NULL;
            if (strcmp(q->valuestring, p->string) == 0) r = 1;
        }
        snprintf(sub_hint, sizeof sub_hint, "%s-%s", hint, p->string);
        snprintf(sub_path, sizeof sub_path, "%s/properties/%s", path, p->string);
        const char *val = visit(c, p, sub_hint, sub_path);
        if (!val) return NULL;
        /* the key exactly as JSON writes it */
        sbuf b = {0};
        cJSON *tmp = cJSON_CreateString(p->string);
        char *txt = tmp ? cJSON_PrintUnformatted(tmp) : NULL;
        cJSON_Delete(tmp);
        if (!txt) return nomem(c), NULL;
        sb_literal(&b, txt, strlen(txt));
        cJSON_free(txt);
        sb_printf(&b, " %s \":\" %s %s", w, w, val);
        snprintf(sub_hint, sizeof sub_hint, "%s-%s-kv", hint, p->string);
        kv[n] = add_rule(c, sub_hint, &b);
        if (!kv[n]) return NULL;
        is_req[n] = r;
        n++;
    }
    /* required names that are not properties: any value */
    const cJSON *q;
    cJSON_ArrayForEach(q, req)
    {
        if (!cJSON_IsString(q)) return bad(c, path, "'required' must list strings"), NULL;
        if (props && cJSON_GetObjectItemCaseSensitive(props, q->valuestring)) continue;
        if (n >= MAXP) return unsupported(c, path, "more than %d properties", MAXP), NULL;
        const char *val = any_value(c);
        if (!val) return NULL;
        sbuf b = {0};
        cJSON *tmp = cJSON_CreateString(q->valuestring);
        char *txt = tmp ? cJSON_PrintUnformatted(tmp) : NULL;
        cJSON_Delete(tmp);
        if (!txt) return nomem(c), NULL;
        sb_literal(&b, txt, strlen(txt));
        cJSON_free(txt);
        sb_printf(&b, " %s \":\" %s %s", w, w, val);
        snprintf(sub_hint, sizeof sub_hint, "%s-%s-kv", hint, q->valuestring);
        kv[n] = add_rule(c, sub_hint, &b);
        if (!kv[n]) return NULL;
        is_req[n++] = 1;
    }
    /* extra keys: additionalProperties true/schema, or no properties at all */
    const char *extra = NULL;
    if ((addl && !cJSON_IsFalse(addl)) || (!addl && !props && !req)) {
        const char *val;
        snprintf(sub_hint, sizeof sub_hint, "%s-additional", hint);
        snprintf(sub_path, sizeof sub_path, "%s/additionalProperties", path);
        if (!addl || cJSON_IsTrue(addl))
            val = any_value(c);
        else
            val = visit(c, addl, sub_hint, sub_path);
        if (!val) return NULL;
        const char *ch = str_char(c);
        if (!ch) return NULL;
        sbuf b = {0};
        sb_printf(&b, "\"\\\"\" %s* \"\\\"\" %s \":\" %s %s", ch, w, w, val);
        snprintf(sub_hint, sizeof sub_hint, "%s-additional-kv", hint);
        extra = add_rule(c, sub_hint, &b);
        if (!extra) return NULL;
    }
    int order[MAXP], m = 0, n_req = 0;
    for (int i = 0; i < n; i++)
        if (is_req[i]) order[m++] = i;
    n_req = m;
    for (int i = 0; i < n; i++)
        if (!is_req[i]) order[m++] = i;
    sbuf b = {0};
    sb_printf(&b, "\"{\" %s", w);
    for (int i = 0; i < n_req; i++) {
        if (i) sb_printf(&b, " \",\" %s", w);
        sb_printf(&b, " %s %s", kv[order[i]], w);
    }
    int n_opt = n - n_req;
    if (n_req > 0) {
        for (int i = n_req; i < n; i++) sb_printf(&b, " (\",\" %s %s %s)?", w, kv[order[i]], w);
        if (extra) sb_printf(&b, " (\",\" %s %s %s)*", w, extra, w);
    } else if (n_opt > 0 || extra) {
        /* nothing required: choose the first present key, the rest follow */
        sb_puts(&b, " (");
        for (int first = n_req; first <= n; first++) {
            if (first == n && !extra) break;
            if (first > n_req) sb_puts(&b, " |");
            if (first < n) {
                sb_printf(&b, " %s %s", kv[order[first]], w);
                for (int i = first + 1; i < n; i++) sb_printf(&b, " (\",\" %s %s %s)?", w, kv[order[i]], w);
            } else {
                sb_printf(&b, " %s %s", extra, w);
            }
            if (extra) sb_printf(&b, " (\",\" %s %s %s)*", w, extra, w);
        }
        sb_puts(&b, " )?");
    }
    sb_puts(&b, " \"}\"");
    return add_rule(c, hint, &b);
}

/* Resolve a local $ref ("#", "#/$defs/x", "#/definitions/x", any JSON
 * pointer into the document). */
static const cJSON *resolve(ctx *c, const char *ref, const char *path)
{
    if (ref[0] != '#') {
        unsupported(c, path, "$ref '%s' (only references within the schema, starting with '#')", ref);
        return NULL;
    }
    const cJSON *cur = c->root;
    const char *p = ref + 1;
    while (*p) {
        if (*p != '/') {
            bad(c, path, "$ref '%s' is not a JSON pointer", ref);
            return NULL;
        }
        p++;
        char seg[256];
        size_t n = 0;
        while (*p && *p != '/') {
            char ch = *p++;
            if (ch == '~' && *p == '0') {
                ch = '~';
                p++;
            } else if (ch == '~' && *p == '1') {
                ch = '/';
                p++;
            }
            if (n + 1 >= sizeof seg) {
                bad(c, path, "$ref '%s': segment too long", ref);
                return NULL;
            }
            seg[n++] = ch;
        }
        seg[n] = '\0';
        if (cJSON_IsArray(cur)) {
            char *end;
            long idx = strtol(seg, &end, 10);
            cur = (*seg && !*end && idx >= 0) ? cJSON_GetArrayItem(cur, (int)idx) : NULL;
        } else {
            cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
        }
        if (!cur) {
            bad(c, path, "$ref '%s' points to nothing in the schema", ref);
            return NULL;
        }
    }
    return cur;
}

static const char *visit_ref(ctx *c, const char *ref, const char *path)
{
    for (size_t k = 0; k < c->n_refs; k++)
        if (strcmp(c->refs[k].ref, ref) == 0) return c->refs[k].name;
    const cJSON *target = resolve(c, ref, path);
    if (!target) return NULL;
    const char *tail = strrchr(ref, '/');
    char hint[96];
    snprintf(hint, sizeof hint, "ref-%s", tail && tail[1] ? tail + 1 : "root");
    rule *slot = new_slot(c, hint);
    if (!slot) return NULL;
    char *name = slot->name; /* stable: rules may move, the string does not */
    if (!grow((void **)&c->refs, &c->cap_refs, c->n_refs + 1, sizeof *c->refs)) return nomem(c), NULL;
    c->refs[c->n_refs].ref = slm_strdup(ref);
    c->refs[c->n_refs].name = name;
    if (!c->refs[c->n_refs].ref) return nomem(c), NULL;
    c->n_refs++;
    size_t slot_idx = c->n_rules - 1;
    const char *body = visit(c, target, hint, ref);
    if (!body) return NULL;
    c->rules[slot_idx].body = slm_strdup(body);
    if (!c->rules[slot_idx].body) return nomem(c), NULL;
    return name;
}

static const char *visit_type(ctx *c, const cJSON *s, const char *type, const char *hint, const char *path)
{
    if (strcmp(type, "string") == 0) return string_rule(c, s, hint, path);
    if (strcmp(type, "number") == 0) return number_rule(c, s, 0, hint, path);
    if (strcmp(type, "integer") == 0) return number_rule(c, s, 1, hint, path);
    if (strcmp(type, "object") == 0) return object_rule(c, s, hint, path);
    if (strcmp(type, "array") == 0) return array_rule(c, s, hint, path);
    static const char *const only_type[] = {"type", NULL};
    const cJSON *k;
    cJSON_ArrayForEach(k, s)
    {
        if (is_ignored(k->string) || key_in(k->string, only_type)) continue;
        return unsupported(c, path, "keyword '%s' on a %s", k->string, type), NULL;
    }
    if (strcmp(type, "boolean") == 0) return add_rule_text(c, "boolean", "\"true\" | \"false\"");
    if (strcmp(type, "null") == 0) return add_rule_text(c, "null", "\"null\"");
    bad(c, path, "unknown type '%s'", type);
    return NULL;
}

static const char *visit(ctx *c, const cJSON *s, const char *hint, const char *path)
{
    if (c->st != SLM_OK) return NULL;
    if (cJSON_IsTrue(s)) return any_value(c);
    if (cJSON_IsFalse(s)) return bad(c, path, "schema false matches nothing"), NULL;
    if (!cJSON_IsObject(s)) return bad(c, path, "a schema must be an object or a boolean"), NULL;
    if (c->depth >= MAX_DEPTH) return unsupported(c, path, "schema nested deeper than %d", MAX_DEPTH), NULL;
    c->depth++;
    const char *out = NULL;
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
    const cJSON *cn = cJSON_GetObjectItemCaseSensitive(s, "const");
    const cJSON *any = cJSON_GetObjectItemCaseSensitive(s, "anyOf");
    if (!any) any = cJSON_GetObjectItemCaseSensitive(s, "oneOf");
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(s, "allOf");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(s, "type");
    /* keywords that constrain nothing we could enforce */
    static const char *const refused[] = {
        "pattern", "patternProperties", "propertyNames", "minProperties", "maxProperties", "uniqueItems",
        "contains", "minContains", "maxContains", "multipleOf", "not", "if", "then", "else", "dependentRequired", "dependentSchemas",
        "dependencies", "unevaluatedProperties", "unevaluatedItems", "additionalItems", "contentEncoding",
        "contentMediaType", "$dynamicRef", "$recursiveRef", NULL};
    const cJSON *k;
    cJSON_ArrayForEach(k, s)
    {
        if (key_in(k->string, refused)) {
            unsupported(c, path, "keyword '%s' is not supported", k->string);
            goto done;
        }
    }
    if (ref) {
        if (!cJSON_IsString(ref)) {
            bad(c, path, "'$ref' must be a string");
            goto done;
        }
        out = visit_ref(c, ref->valuestring, path);
    } else if (cn) {
        out = literal_rule(c, cn, 1, hint, path);
    } else if (en) {
        if (!cJSON_IsArray(en)) {
            bad(c, path, "'enum' must be an array");
            goto done;
        }
        out = literal_rule(c, en, 0, hint, path);
    } else if (any || all) {
        const cJSON *list = any ? any : all;
        const char *kw = any ? (cJSON_GetObjectItemCaseSensitive(s, "anyOf") ? "anyOf" : "oneOf") : "allOf";
        if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0) {
            bad(c, path, "'%s' must be a non-empty array", kw);
            goto done;
        }
        if (all && cJSON_GetArraySize(list) != 1) {
            unsupported(c, path, "allOf with %d schemas (only one)", cJSON_GetArraySize(list));
            goto done;
        }
        if (type || (any && all)) {
            unsupported(c, path, "'%s' together with type or another combinator", kw);
            goto done;
        }
        sbuf b = {0};
        int i = 0;
        const cJSON *sub;
        cJSON_ArrayForEach(sub, list)
        {
            char sub_hint[128], sub_path[512];
            snprintf(sub_hint, sizeof sub_hint, "%s-%d", hint, i);
            snprintf(sub_path, sizeof sub_path, "%s/%s/%d", path, kw, i);
            const char *r = visit(c, sub, sub_hint, sub_path);
            if (!r) {
                slm_free(b.s);
                goto done;
            }
            sb_printf(&b, "%s%s", i ? " | " : "", r);
            i++;
        }
        out = add_rule(c, hint, &b);
    } else if (type) {
        if (cJSON_IsString(type)) {
            out = visit_type(c, s, type->valuestring, hint, path);
        } else if (cJSON_IsArray(type) && cJSON_GetArraySize(type) > 0) {
            sbuf b = {0};
            int i = 0;
            const cJSON *t;
            cJSON_ArrayForEach(t, type)
            {
                char sub_hint[128];
                if (!cJSON_IsString(t)) {
                    slm_free(b.s);
                    bad(c, path, "'type' lists a non-string");
                    goto done;
                }
                snprintf(sub_hint, sizeof sub_hint, "%s-%s", hint, t->valuestring);
                const char *r = visit_type(c, s, t->valuestring, sub_hint, path);
                if (!r) {
                    slm_free(b.s);
                    goto done;
                }
                sb_printf(&b, "%s%s", i ? " | " : "", r);
                i++;
            }
            out = add_rule(c, hint, &b);
        } else {
            bad(c, path, "'type' must be a string or a non-empty array of strings");
        }
    } else if (cJSON_GetObjectItemCaseSensitive(s, "properties") ||
               cJSON_GetObjectItemCaseSensitive(s, "required") ||
               cJSON_GetObjectItemCaseSensitive(s, "additionalProperties")) {
        out = object_rule(c, s, hint, path);
    } else if (cJSON_GetObjectItemCaseSensitive(s, "items") || cJSON_GetObjectItemCaseSensitive(s, "prefixItems")) {
        out = array_rule(c, s, hint, path);
    } else {
        cJSON_ArrayForEach(k, s)
        {
            if (is_ignored(k->string)) continue;
            unsupported(c, path, "keyword '%s' is not supported", k->string);
            goto done;
        }
        out = any_value(c);
    }
done:
    c->depth--;
    return c->st == SLM_OK ? out : NULL;
}

slm_status slm_json_schema_to_grammar(const char *schema_json, size_t len, char **gbnf_out)
{
    slm_status st = SLM_OK;
    ctx C = {0}, *c = &C;
    cJSON *doc = NULL;
    sbuf out = {0};
    if (gbnf_out) *gbnf_out = NULL;
    slm_error_clear();
    SLM_CHECK(schema_json && gbnf_out, SLM_ERR_ARG, "slm_json_schema_to_grammar: NULL argument");
    doc = cJSON_ParseWithLength(schema_json, len);
    if (!doc) {
        const char *e = cJSON_GetErrorPtr();
        size_t at = (e && e >= schema_json && e <= schema_json + len) ? (size_t)(e - schema_json) : 0;
        SLM_CHECK(0, SLM_ERR_FORMAT, "json schema: not valid JSON (near byte %zu)", at);
    }
    c->root = doc;
    const char *top = visit(c, doc, "root-value", "#");
    if (!top) {
        st = c->st != SLM_OK ? c->st : slm_fail(SLM_ERR_FORMAT, "json schema: conversion failed");
        goto fail;
    }
    sb_puts(&out, "root ::= ");
    sb_puts(&out, top);
    sb_puts(&out, "\n");
    for (size_t k = 0; k < c->n_rules; k++) {
        if (!c->rules[k].body) continue;
        sb_puts(&out, c->rules[k].name);
        sb_puts(&out, " ::= ");
        sb_puts(&out, c->rules[k].body);
        sb_puts(&out, "\n");
    }
    SLM_CHECK(!out.oom, SLM_ERR_NOMEM, "json schema: out of memory");
    *gbnf_out = out.s;
    out.s = NULL;
fail:
    for (size_t k = 0; k < c->n_rules; k++) {
        slm_free(c->rules[k].name);
        slm_free(c->rules[k].body);
    }
    for (size_t k = 0; k < c->n_refs; k++) slm_free(c->refs[k].ref);
    slm_free(c->rules);
    slm_free(c->refs);
    slm_free(out.s);
    cJSON_Delete(doc);
    return st;
}

void slm_grammar_text_free(char *text) { slm_free(text); }

const char *slm_grammar_json_object(void)
{
    return "root ::= \"{\" ws (string ws \":\" ws value ws (\",\" ws string ws \":\" ws value ws)*)? \"}\"\n"
           "value ::= object | array | string | number | \"true\" | \"false\" | \"null\"\n"
           "object ::= \"{\" ws (string ws \":\" ws value ws (\",\" ws string ws \":\" ws value ws)*)? \"}\"\n"
           "array ::= \"[\" ws (value ws (\",\" ws value ws)*)? \"]\"\n"
           "string ::= \"\\\"\" char* \"\\\"\"\n"
           "char ::= [^\"\\\\\\x00-\\x1F\\x7F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})\n"
           "number ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15}) (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?\n"
           "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n";
}
