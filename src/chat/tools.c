/* tools.c — tool calling: which syntax a chat template asks its model to
 * write tool calls in (from markers in the template source), and the parser
 * that turns a generated reply back into {id, name, arguments} calls plus the
 * remaining content (slm.h's tool-calling section lists the formats).
 *
 * The parser trusts nothing in the text: every call is either complete and
 * well formed (its arguments a JSON object) or it is left in the content as
 * the model wrote it. JSON is delimited by our own scanner (json_skip) so the
 * arguments keep the model's exact bytes; cJSON only decodes strings and
 * checks values. Results are packed into one slm_alloc block.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h> /* free() for cJSON_Print* results (cJSON allocates with malloc) */
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"

#define NPOS SIZE_MAX

/* ---- growing byte buffer ------------------------------------------------ */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom; /* an append failed; the buffer is unusable */
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *np = slm_realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* s[0..n) as a JSON string literal (UTF-8 kept, controls escaped). */
static void sb_json_string(sbuf *b, const char *s, size_t n)
{
    sb_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"') sb_put(b, "\\\"", 2);
        else if (c == '\\') sb_put(b, "\\\\", 2);
        else if (c == '\n') sb_put(b, "\\n", 2);
        else if (c == '\r') sb_put(b, "\\r", 2);
        else if (c == '\t') sb_put(b, "\\t", 2);
        else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, s + i, 1);
        }
    }
    sb_put(b, "\"", 1);
}

/* ---- text scanning ------------------------------------------------------ */

static int is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && is_ws(s[i])) i++;
    return i;
}

/* Position of needle in s[from..n), or NPOS. */
static size_t find(const char *s, size_t n, size_t from, const char *needle)
{
    size_t k = strlen(needle);
    if (k == 0 || from > n || n - from < k) return NPOS;
    for (size_t i = from; i + k <= n; i++)
        if (s[i] == needle[0] && memcmp(s + i, needle, k) == 0) return i;
    return NPOS;
}

/* 1 if s[i..n) starts with lit. */
static int at(const char *s, size_t n, size_t i, const char *lit)
{
    size_t k = strlen(lit);
    return i <= n && n - i >= k && memcmp(s + i, lit, k) == 0;
}

/* ---- JSON delimiting ------------------------------------------------------
 * json_skip returns the end of the JSON value starting at s[i] (no leading
 * whitespace), or NPOS if the bytes there are not one complete value. It
 * follows RFC 8259's grammar closely enough to delimit; cJSON then decodes
 * the pieces we need. Depth is bounded so hostile text cannot recurse deep. */

#define JSON_MAX_DEPTH 128

static size_t json_skip_d(const char *s, size_t n, size_t i, int depth);

static size_t json_skip_string(const char *s, size_t n, size_t i)
{
    if (i >= n || s[i] != '"') return NPOS;
    for (i++; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') return i + 1;
        if (c == '\\') {
            if (++i >= n) return NPOS;
        } else if (c < 0x20) {
            return NPOS;
        }
    }
    return NPOS;
}

static size_t json_skip_d(const char *s, size_t n, size_t i, int depth)
{
    if (i >= n || depth > JSON_MAX_DEPTH) return NPOS;
    char c = s[i];
    if (c == '"') return json_skip_string(s, n, i);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        i = skip_ws(s, n, i + 1);
        if (i < n && s[i] == close) return i + 1;
        for (;;) {
            if (c == '{') {
                if ((i = json_skip_string(s, n, i)) == NPOS) return NPOS;
                i = skip_ws(s, n, i);
                if (i >= n || s[i] != ':') return NPOS;
                i = skip_ws(s, n, i + 1);
            }
            if ((i = json_skip_d(s, n, i, depth + 1)) == NPOS) return NPOS;
            i = skip_ws(s, n, i);
            if (i >= n) return NPOS;
            if (s[i] == close) return i + 1;
            if (s[i] != ',') return NPOS;
            i = skip_ws(s, n, i + 1);
        }
    }
    if (at(s, n, i, "true")) return i + 4;
    if (at(s, n, i, "false")) return i + 5;
    if (at(s, n, i, "null")) return i + 4;
    if (c == '-' || (c >= '0' && c <= '9')) {
        size_t j = i + (c == '-');
        if (j >= n || s[j] < '0' || s[j] > '9') return NPOS;
        if (s[j] == '0') j++;
        else while (j < n && s[j] >= '0' && s[j] <= '9') j++;
        if (j < n && s[j] == '.') {
            j++;
            if (j >= n || s[j] < '0' || s[j] > '9') return NPOS;
            while (j < n && s[j] >= '0' && s[j] <= '9') j++;
        }
        if (j < n && (s[j] == 'e' || s[j] == 'E')) {
            j++;
            if (j < n && (s[j] == '+' || s[j] == '-')) j++;
            if (j >= n || s[j] < '0' || s[j] > '9') return NPOS;
            while (j < n && s[j] >= '0' && s[j] <= '9') j++;
        }
        return j;
    }
    return NPOS;
}

static size_t json_skip(const char *s, size_t n, size_t i) { return json_skip_d(s, n, i, 0); }

/* 1 if s[0..n) is exactly one JSON value (surrounding whitespace allowed). */
static int json_is_value(const char *s, size_t n)
{
    size_t i = skip_ws(s, n, 0);
    size_t e = json_skip(s, n, i);
    return e != NPOS && skip_ws(s, n, e) == n;
}

/* The value of member `key` of the object spanning s[ob..oe): its span in
 * *vs..*ve. 0 if absent (or the object is malformed). */
static int json_member(const char *s, size_t ob, size_t oe, const char *key, size_t *vs, size_t *ve)
{
    size_t klen = strlen(key);
    size_t i = skip_ws(s, oe, ob + 1);
    while (i < oe && s[i] == '"') {
        size_t ke = json_skip_string(s, oe, i);
        if (ke == NPOS) return 0;
        /* keys we look for have no escapes, so a byte compare suffices */
        int match = ke - i - 2 == klen && memcmp(s + i + 1, key, klen) == 0;
        i = skip_ws(s, oe, ke);
        if (i >= oe || s[i] != ':') return 0;
        i = skip_ws(s, oe, i + 1);
        size_t e = json_skip(s, oe, i);
        if (e == NPOS) return 0;
        if (match) {
            *vs = i;
            *ve = e;
            return 1;
        }
        i = skip_ws(s, oe, e);
        if (i < oe && s[i] == ',') i = skip_ws(s, oe, i + 1);
    }
    return 0;
}

/* Decode the JSON string literal s[vs..ve) into a new buffer (NUL-terminated).
 * NULL if it is not a string or on allocation failure (*oom set). */
static char *json_decode_string(const char *s, size_t vs, size_t ve, int *oom)
{
    if (ve <= vs || s[vs] != '"') return NULL;
    cJSON *c = cJSON_ParseWithLength(s + vs, ve - vs);
    char *r = NULL;
    if (c && cJSON_IsString(c)) {
        if (!(r = slm_strdup(c->valuestring))) *oom = 1;
    } else if (!c) {
        /* cJSON may fail on allocation, or on a string it rejects */
    }
    cJSON_Delete(c);
    return r;
}

/* ---- the calls found so far ------------------------------------------- */

typedef struct pcall {
    char *id, *name, *args; /* slm_alloc'd; id may be NULL (generated later) */
} pcall;

typedef struct parser {
    const char *s;
    size_t n;
    const cJSON *tools; /* the tool list, or NULL */
    pcall *calls;
    size_t n_calls, cap_calls;
    sbuf content;
    int oom;
} parser;

static char *dup_n(parser *P, const char *s, size_t n)
{
    char *r = slm_alloc(n + 1);
    if (!r) {
        P->oom = 1;
        return NULL;
    }
    memcpy(r, s, n);
    r[n] = '\0';
    return r;
}

/* Trim whitespace at both ends of s[*b..*e). */
static void trim(const char *s, size_t *b, size_t *e)
{
    while (*b < *e && is_ws(s[*b])) (*b)++;
    while (*e > *b && is_ws(s[*e - 1])) (*e)--;
}

/* 1 if s looks like a function name: no whitespace, quotes, brackets or
 * controls (prose that merely mentions a marker must not become a call). */
static int valid_name(const char *s)
{
    if (!s || !s[0]) return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c == 0x7F || strchr("\"'<>{}[]()`", c)) return 0;
    }
    return 1;
}

/* Take ownership of name/id/args and append a call; 0 (all freed) if the
 * name is not a function name or memory ran out. */
static int add_call(parser *P, char *id, char *name, char *args)
{
    if (name && !valid_name(name)) {
        slm_free(id);
        slm_free(name);
        slm_free(args);
        return 0;
    }
    if (!P->oom && P->n_calls == P->cap_calls) {
        size_t cap = P->cap_calls ? 2 * P->cap_calls : 4;
        pcall *nc = slm_realloc(P->calls, cap * sizeof *nc);
        if (!nc) P->oom = 1;
        else {
            P->calls = nc;
            P->cap_calls = cap;
        }
    }
    if (P->oom || !name || !args) {
        if (!name || !args) P->oom = 1;
        slm_free(id);
        slm_free(name);
        slm_free(args);
        return 0;
    }
    P->calls[P->n_calls++] = (pcall){id, name, args};
    return 1;
}

/* Forget calls added after the first `keep` (a multi-call block that turned
 * out malformed part-way is left whole in the content). */
static void drop_calls(parser *P, size_t keep)
{
    while (P->n_calls > keep) {
        pcall *c = &P->calls[--P->n_calls];
        slm_free(c->id);
        slm_free(c->name);
        slm_free(c->args);
    }
}

/* A call given as a JSON object s[ob..oe) with a name key and an arguments
 * key (each from a list of accepted spellings) and optionally an id key.
 * Arguments may be an object (kept as written) or a string holding one
 * (decoded). 1 if added. */
static int add_json_call(parser *P, size_t ob, size_t oe, const char *const *name_keys,
                         const char *const *arg_keys, const char *const *id_keys)
{
    const char *s = P->s;
    size_t ns = 0, ne = 0, as = 0, ae = 0, is = 0, ie = 0;
    int have_name = 0, have_args = 0, have_id = 0;
    for (const char *const *k = name_keys; *k && !have_name; k++) have_name = json_member(s, ob, oe, *k, &ns, &ne);
    for (const char *const *k = arg_keys; *k && !have_args; k++) have_args = json_member(s, ob, oe, *k, &as, &ae);
    for (const char *const *k = id_keys; k && *k && !have_id; k++) have_id = json_member(s, ob, oe, *k, &is, &ie);
    if (!have_name) return 0;
    char *name = json_decode_string(s, ns, ne, &P->oom);
    if (!name || !name[0]) {
        slm_free(name);
        return 0;
    }
    char *args = NULL;
    if (!have_args) {
        args = dup_n(P, "{}", 2);
    } else if (s[as] == '{') {
        args = dup_n(P, s + as, ae - as);
    } else if (s[as] == '"') {
        char *t = json_decode_string(s, as, ae, &P->oom);
        size_t tb = 0, te = t ? strlen(t) : 0;
        if (t) trim(t, &tb, &te);
        if (t && tb < te && t[tb] == '{' && json_skip(t, te, tb) == te) {
            args = dup_n(P, t + tb, te - tb);
        }
        slm_free(t);
    }
    if (!args) {
        slm_free(name);
        return 0;
    }
    char *id = NULL;
    if (have_id) {
        if (s[is] == '"') id = json_decode_string(s, is, ie, &P->oom);
        else if (s[is] >= '0' && s[is] <= '9') id = dup_n(P, s + is, ie - is);
        if (id && !id[0]) {
            slm_free(id);
            id = NULL;
        }
    }
    return add_call(P, id, name, args);
}

/* The arguments value at s[as] (no leading whitespace) up to n: a JSON object
 * as written, or a JSON string holding one (templates that tojson a string
 * of arguments write it that way), decoded. Its end in *ae; NULL (nothing
 * allocated unless *oom) if it is neither. */
static char *obj_args(parser *P, const char *s, size_t n, size_t as, size_t *ae)
{
    size_t e = json_skip(s, n, as);
    if (e == NPOS) return NULL;
    if (s[as] == '{') {
        *ae = e;
        return dup_n(P, s + as, e - as);
    }
    if (s[as] != '"') return NULL;
    char *t = json_decode_string(s, as, e, &P->oom);
    char *r = NULL;
    size_t tb = 0, te = t ? strlen(t) : 0;
    if (t) trim(t, &tb, &te);
    if (t && tb < te && t[tb] == '{' && json_skip(t, te, tb) == te) r = dup_n(P, t + tb, te - tb);
    slm_free(t);
    if (r) *ae = e;
    return r;
}

static const char *const K_NAME[] = {"name", NULL};
static const char *const K_ARGS[] = {"arguments", "parameters", NULL};
static const char *const K_ID[] = {"id", NULL};

/* ---- typing XML-style values --------------------------------------------- */

/* The JSON Schema type of parameter `param` of tool `tool`, or NULL. */
static const char *param_type(const parser *P, const char *tool, const char *param)
{
    if (!P->tools) return NULL;
    for (const cJSON *t = P->tools->child; t; t = t->next) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        if (!fn) fn = t; /* tolerate a bare function object */
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(fn, "name");
        if (!cJSON_IsString(nm) || strcmp(nm->valuestring, tool) != 0) continue;
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(fn, "parameters"), "properties");
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(props, param), "type");
        return cJSON_IsString(ty) ? ty->valuestring : NULL;
    }
    return NULL;
}

/* Append "key":value to an object under construction. force: 1 = always a
 * string, 0 = decide from the schema / the text, -1 = JSON if it parses. */
static void put_kv(parser *P, sbuf *o, const char *tool, const char *k, size_t kn, const char *v, size_t vn,
                   int force)
{
    if (o->n > 1) sb_put(o, ",", 1);
    sb_json_string(o, k, kn);
    sb_put(o, ":", 1);
    int as_string = force == 1;
    if (force == 0) {
        char *key = dup_n(P, k, kn);
        const char *ty = key ? param_type(P, tool, key) : NULL;
        if (ty && strcmp(ty, "string") == 0) as_string = 1;
        slm_free(key);
    }
    size_t b = 0, e = vn;
    trim(v, &b, &e);
    if (!as_string && b < e && json_is_value(v + b, e - b) && v[b] != '"')
        sb_put(o, v + b, e - b);
    else if (!as_string && b < e && v[b] == '"' && json_is_value(v + b, e - b) && force == -1)
        sb_put(o, v + b, e - b);
    else
        sb_json_string(o, v, vn);
}

static char *finish_obj(parser *P, sbuf *o)
{
    sb_put(o, "}", 1);
    if (o->oom) {
        P->oom = 1;
        slm_free(o->p);
        return NULL;
    }
    return o->p;
}

/* Strip one newline at each end of an XML-style value (templates put the
 * value on its own line: "<parameter=k>\nvalue\n</parameter>"). */
static void strip_nl(const char *s, size_t *b, size_t *e)
{
    if (*b < *e && s[*b] == '\n') (*b)++;
    if (*e > *b && s[*e - 1] == '\n') (*e)--;
}

/* ---- the formats ---------------------------------------------------------
 * Each parse_<format> tries to read calls at s[i] (where a start marker was
 * found) and returns the end of what it consumed, or NPOS (nothing added). */

/* <tool_call> {json} </tool_call>; the closing tag may be missing at the end. */
static size_t parse_hermes(parser *P, size_t i)
{
    const char *s = P->s;
    size_t n = P->n;
    i = skip_ws(s, n, i + strlen("<tool_call>"));
    size_t e = json_skip(s, n, i);
    if (e == NPOS || s[i] != '{') return NPOS;
    size_t j = skip_ws(s, n, e);
    if (at(s, n, j, "</tool_call>")) j += strlen("</tool_call>");
    else if (j != n) return NPOS;
    return add_json_call(P, i, e, K_NAME, K_ARGS, K_ID) ? j : NPOS;
}

/* [<tool_call>] <function=N> (<parameter=K>V</parameter>)* </function> [</tool_call>] */
static size_t parse_qwen3_xml(parser *P, size_t i)
{
    const char *s = P->s;
    size_t n = P->n;
    int wrapped = at(s, n, i, "<tool_call>");
    if (wrapped) i = skip_ws(s, n, i + strlen("<tool_call>"));
    if (!at(s, n, i, "<function=")) return NPOS;
    size_t nb = i + strlen("<function="), ne = find(s, n, nb, ">");
    if (ne == NPOS) return NPOS;
    size_t close = find(s, n, ne, "</function>");
    if (close == NPOS) return NPOS;
    char *name = NULL;
    size_t b = nb, e = ne;
    trim(s, &b, &e);
    if (b == e || !(name = dup_n(P, s + b, e - b))) return NPOS;
    sbuf o = {0};
    sb_put(&o, "{", 1);
    size_t j = skip_ws(s, n, ne + 1);
    while (j < close && at(s, n, j, "<parameter=")) {
        size_t kb = j + strlen("<parameter="), ke = find(s, close, kb, ">");
        if (ke == NPOS) break;
        size_t vb = ke + 1, ve = find(s, close, vb, "</parameter>");
        if (ve == NPOS) break;
        size_t k0 = kb, k1 = ke, v0 = vb, v1 = ve;
        trim(s, &k0, &k1);
        strip_nl(s, &v0, &v1);
        put_kv(P, &o, name, s + k0, k1 - k0, s + v0, v1 - v0, 0);
        j = skip_ws(s, n, ve + strlen("</parameter>"));
    }
    if (j != close) { /* something other than parameters inside */
        slm_free(name);
        slm_free(o.p);
        return NPOS;
    }
    char *args = finish_obj(P, &o);
    j = close + strlen("</function>");
    size_t k = skip_ws(s, n, j);
    if (wrapped) {
        if (at(s, n, k, "</tool_call>")) j = k + strlen("</tool_call>");
        else if (k != n) {
            slm_free(name);
            slm_free(args);
            return NPOS;
        }
    }
    if (!add_call(P, NULL, name, args)) return NPOS;
    return j;
}

/* <function=N>{json}</function> */
static size_t parse_functionary(parser *P, size_t i)
{
    const char *s = P->s;
    size_t n = P->n;
    size_t nb = i + strlen("<function="), ne = find(s, n, nb, ">");
    if (ne == NPOS) return NPOS;
    size_t as = skip_ws(s, n, ne + 1), ae = NPOS;
    char *args = obj_args(P, s, n, as, &ae);
    if (!args) return NPOS;
    size_t j = skip_ws(s, n, ae);
    if (at(s, n, j, "</function>")) j += strlen("</function>");
    else if (j != n) j = NPOS;
    size_t b = nb, e = ne;
    trim(s, &b, &e);
    if (b == e || j == NPOS) {
        slm_free(args);
        return NPOS;
    }
    char *name = dup_n(P, s + b, e - b);
    if (!add_call(P, NULL, name, args)) return NPOS;
    return j;
}

/* <tool_call>N (<arg_key>K</arg_key> <arg_value>V</arg_value>)* </tool_call> */
static size_t parse_glm(parser *P, size_t i)
{
    const char *s = P->s;
    size_t n = P->n;
    size_t nb = i + strlen("<tool_call>");
    size_t close = find(s, n, nb, "</tool_call>");
    if (close == NPOS) return NPOS;
    size_t ne = find(s, close, nb, "<arg_key>");
    if (ne == NPOS) ne = close;
    size_t b = nb, e = ne;
    trim(s, &b, &e);
    if (b == e || memchr(s + b, '<', e - b) || memchr(s + b, '\n', e - b)) return NPOS;
    char *name = dup_n(P, s + b, e - b);
    if (!name) return NPOS;
    sbuf o = {0};
    sb_put(&o, "{", 1);
    size_t j = ne;
    int ok = 1;
    while (j < close) {
        if (!at(s, n, j, "<arg_key>")) {
            ok = 0;
            break;
        }
        size_t kb = j + strlen("<arg_key>"), ke = find(s, close, kb, "</arg_key>");
        if (ke == NPOS) {
            ok = 0;
            break;
        }
        size_t vb = skip_ws(s, n, ke + strlen("</arg_key>"));
        if (!at(s, n, vb, "<arg_value>")) {
            ok = 0;
            break;
        }
        vb += strlen("<arg_value>");
        size_t ve = find(s, close, vb, "</arg_value>");
        if (ve == NPOS) {
            ok = 0;
            break;
        }
        size_t k0 = kb, k1 = ke;
        trim(s, &k0, &k1);
        put_kv(P, &o, name, s + k0, k1 - k0, s + vb, ve - vb, 0);
        j = skip_ws(s, n, ve + strlen("</arg_value>"));
    }
    if (!ok) {
        slm_free(name);
        slm_free(o.p);
        return NPOS;
    }
    if (!add_call(P, NULL, name, finish_obj(P, &o))) return NPOS;
    return close + strlen("</tool_call>");
}

/* JSON objects in an array "[...]" or one after another (optionally
 * separated by ',' or ';'), from s[i] up to `end`; each a call. 1 if at
 * least one call and nothing else was there. */
static int parse_json_calls(parser *P, size_t i, size_t end, const char *const *name_keys,
                            const char *const *arg_keys, const char *const *id_keys)
{
    const char *s = P->s;
    size_t keep = P->n_calls;
    i = skip_ws(s, end, i);
    int array = i < end && s[i] == '[';
    if (array) {
        size_t ae = json_skip(s, end, i);
        if (ae == NPOS || skip_ws(s, end, ae) != end) return 0;
        end = ae - 1;
        i = skip_ws(s, end, i + 1);
    }
    while (i < end) {
        size_t oe = json_skip(s, end, i);
        if (oe == NPOS || s[i] != '{' || !add_json_call(P, i, oe, name_keys, arg_keys, id_keys)) {
            drop_calls(P, keep);
            return 0;
        }
        i = skip_ws(s, end, oe);
        if (i < end && (s[i] == ',' || s[i] == ';')) i = skip_ws(s, end, i + 1);
    }
    if (P->n_calls == keep) return 0;
    return 1;
}

/* OPEN [json array or objects] CLOSE; the close tag may be missing at the end. */
static size_t parse_tagged_json(parser *P, size_t i, const char *open, const char *close,
                                const char *const *name_keys, const char *const *arg_keys,
                                const char *const *id_keys)
{
    const char *s = P->s;
    size_t n = P->n;
    size_t b = i + strlen(open);
    size_t c = find(s, n, b, close);
    size_t end = c == NPOS ? n : c;
    if (!parse_json_calls(P, b, end, name_keys, arg_keys, id_keys)) return NPOS;
    return c == NPOS ? n : c + strlen(close);
}

/* [TOOL_CALLS][{...}] or [TOOL_CALLS]N[CALL_ID]I[ARGS]{...} or [TOOL_CALLS]N[ARGS]{...} */
static size_t parse_mistral(parser *P, size_t i)
{
    const char *s = P->s;
    size_t n = P->n;
    size_t b = skip_ws(s, n, i + strlen("[TOOL_CALLS]"));
    if (b < n && s[b] == '[') {
        size_t ae = json_skip(s, n, b);
        if (ae == NPOS) return NPOS;
        if (!parse_json_calls(P, b, ae, K_NAME, K_ARGS, K_ID)) return NPOS;
        return ae;
    }
    size_t args_tag = find(s, n, b, "[ARGS]");
    if (args_tag == NPOS) return NPOS;
    size_t ne = find(s, args_tag, b, "[CALL_ID]");
    size_t ib = NPOS;
    if (ne == NPOS) ne = args_tag;
    else ib = ne + strlen("[CALL_ID]");
    size_t nb = b, n1 = ne;
    trim(s, &nb, &n1);
    if (nb == n1 || memchr(s + nb, '[', n1 - nb) || memchr(s + nb, '\n', n1 - nb)) return NPOS;
    size_t as = skip_ws(s, n, args_tag + strlen("[ARGS]")), ae = NPOS;
    char *args = obj_args(P, s, n, as, &ae);
    if (!args) return NPOS;
    char *id = NULL;
    if (ib != NPOS) {
        size_t i0 = ib, i1 = args_tag;
        trim(s, &i0, &i1);
        if (i1 > i0) id = dup_n(P, s + i0, i1 - i0);
    }
    if (!add_call(P, id, dup_n(P, s + nb, n1 - nb), args)) return NPOS;
    return ae;
}

/* The whole reply (after an optional <|python_tag|>) is one or more
 * {"name", "parameters"} objects. Handled before the marker loop. */
static int parse_llama3(parser *P)
{
    const char *s = P->s;
    size_t n = P->n;
    size_t i = skip_ws(s, n, 0);
    if (at(s, n, i, "<|python_tag|>")) i += strlen("<|python_tag|>");
    size_t e = n;
    while (e > i && is_ws(s[e - 1])) e--;
    /* <|eom_id|> / <|eot_id|> may be left at the end when specials are rendered */
    if (e >= i + 10 && (memcmp(s + e - 10, "<|eom_id|>", 10) == 0 || memcmp(s + e - 10, "<|eot_id|>", 10) == 0))
        e -= 10;
    return parse_json_calls(P, i, e, K_NAME, K_ARGS, NULL);
}

/* <｜tool▁calls▁begin｜> (<｜tool▁call▁begin｜>TYPE<｜tool▁sep｜>N\n```json\n{...}\n```<｜tool▁call▁end｜>)+ <｜tool▁calls▁end｜> */
#define DS_CALLS_BEGIN "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_CALLS_END "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_CALL_BEGIN "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_CALL_END "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_SEP "<\xef\xbd\x9ctool\xe2\x96\x81" "sep\xef\xbd\x9c>"

static size_t parse_deepseek_r1(parser *P, size_t i)
{
    const char *s = P->s;
    size_t n = P->n, keep = P->n_calls;
    size_t j = skip_ws(s, n, i + strlen(DS_CALLS_BEGIN));
    while (at(s, n, j, DS_CALL_BEGIN)) {
        size_t sep = find(s, n, j, DS_SEP);
        size_t cend = find(s, n, j, DS_CALL_END);
        if (sep == NPOS || cend == NPOS || sep > cend) goto bad;
        size_t nb = sep + strlen(DS_SEP), ne = nb;
        while (ne < cend && s[ne] != '\n') ne++;
        size_t b = nb, e = ne;
        trim(s, &b, &e);
        if (b == e) goto bad;
        size_t k = skip_ws(s, cend, ne);
        if (at(s, cend, k, "```json")) k += 7;
        else if (at(s, cend, k, "```")) k += 3;
        k = skip_ws(s, cend, k);
        size_t ae = NPOS;
        char *args = obj_args(P, s, cend, k, &ae);
        if (!args) goto bad;
        size_t t = skip_ws(s, cend, ae);
        if (at(s, cend, t, "```")) t = skip_ws(s, cend, t + 3);
        if (t != cend) {
            slm_free(args);
            goto bad;
        }
        if (!add_call(P, NULL, dup_n(P, s + b, e - b), args)) goto bad;
        j = skip_ws(s, n, cend + strlen(DS_CALL_END));
    }
    if (P->n_calls == keep) return NPOS;
    if (at(s, n, j, DS_CALLS_END)) return j + strlen(DS_CALLS_END);
    if (j == n) return n;
bad:
    drop_calls(P, keep);
    return NPOS;
}

/* [CONTAINER] (<PFXinvoke name="N"> (<PFXparameter name="K" [string="true|false"]>V</PFXparameter>)* </PFXinvoke>)+ [/CONTAINER]
 * PFX is "" (MiniMax-M2) or "｜DSML｜" (DeepSeek V3.2/V4). */
#define DSML "\xef\xbd\x9c" "DSML" "\xef\xbd\x9c"

static size_t parse_xml_invoke(parser *P, size_t i, const char *open, const char *close, const char *pfx)
{
    const char *s = P->s;
    size_t n = P->n, keep = P->n_calls;
    char inv[64], inv_end[64], par[64], par_end[64];
    snprintf(inv, sizeof inv, "<%sinvoke name=\"", pfx);
    snprintf(inv_end, sizeof inv_end, "</%sinvoke>", pfx);
    snprintf(par, sizeof par, "<%sparameter name=\"", pfx);
    snprintf(par_end, sizeof par_end, "</%sparameter>", pfx);
    size_t j = skip_ws(s, n, i + strlen(open));
    while (at(s, n, j, inv)) {
        size_t nb = j + strlen(inv), ne = find(s, n, nb, "\"");
        size_t iend = find(s, n, nb, inv_end);
        if (ne == NPOS || iend == NPOS || ne > iend) goto bad;
        size_t gt = find(s, iend, ne, ">");
        if (gt == NPOS || ne == nb) goto bad;
        char *name = dup_n(P, s + nb, ne - nb);
        if (!name) goto bad;
        sbuf o = {0};
        sb_put(&o, "{", 1);
        size_t k = skip_ws(s, n, gt + 1);
        while (k < iend && at(s, n, k, par)) {
            size_t kb = k + strlen(par), ke = find(s, iend, kb, "\"");
            if (ke == NPOS) break;
            size_t vgt = find(s, iend, ke, ">"), ve = vgt == NPOS ? NPOS : find(s, iend, vgt, par_end);
            if (ve == NPOS) break;
            int force = 0;
            size_t attr = find(s, vgt, ke, "string=\"");
            if (attr != NPOS) force = at(s, vgt, attr + 8, "true") ? 1 : -1;
            put_kv(P, &o, name, s + kb, ke - kb, s + vgt + 1, ve - vgt - 1, force);
            k = skip_ws(s, n, ve + strlen(par_end));
        }
        if (k != iend) {
            slm_free(name);
            slm_free(o.p);
            goto bad;
        }
        if (!add_call(P, NULL, name, finish_obj(P, &o))) goto bad;
        j = skip_ws(s, n, iend + strlen(inv_end));
    }
    if (P->n_calls == keep) return NPOS;
    if (at(s, n, j, close)) return j + strlen(close);
    if (j == n) return n;
bad:
    drop_calls(P, keep);
    return NPOS;
}

/* gpt-oss (harmony): ...to=functions.N ...<|message|>{json}<|call|>. The span
 * starts at the <|start|> or <|channel|> that opens the call's header. */
static size_t parse_harmony(parser *P, size_t i, size_t *span_start)
{
    const char *s = P->s;
    size_t n = P->n;
    size_t nb = i + strlen("to=functions."), ne = nb;
    while (ne < n && !is_ws(s[ne]) && s[ne] != '<') ne++;
    if (ne == nb) return NPOS;
    size_t msg = find(s, n, ne, "<|message|>");
    if (msg == NPOS) return NPOS;
    /* the header between the name and <|message|> holds no other message */
    size_t other = find(s, msg, ne, "<|end|>");
    if (other != NPOS) return NPOS;
    size_t as = skip_ws(s, n, msg + strlen("<|message|>")), ae = NPOS;
    char *args = obj_args(P, s, n, as, &ae);
    if (!args) return NPOS;
    size_t j = skip_ws(s, n, ae);
    if (at(s, n, j, "<|call|>")) j += strlen("<|call|>");
    else if (j != n) {
        slm_free(args);
        return NPOS;
    }
    /* start of the header: the nearest <|start|> or <|channel|> before i,
     * if no <|message|> lies between */
    size_t st = i;
    for (size_t k = i; k-- > 0;) {
        if (at(s, i, k, "<|message|>") || at(s, i, k, "<|end|>")) break;
        if (at(s, i, k, "<|start|>") || at(s, i, k, "<|channel|>")) {
            st = k;
            if (at(s, i, k, "<|start|>")) break;
        }
    }
    *span_start = st;
    if (!add_call(P, NULL, dup_n(P, s + nb, ne - nb), args)) return NPOS;
    return j;
}

/* ---- literal values (Python / Gemma 4) → JSON ------------------------------
 * lit_value writes the value starting at s[i] (after whitespace) as JSON and
 * returns its end, or NPOS. Python mode: 'x' or "x" strings with backslash
 * escapes, True/False/None, [..], (..), {"k": v}. Gemma mode: strings
 * between <|"|> marks, true/false/null, [..], {key:v} with bare keys. */

#define GEMMA_Q "<|\"|>"

static size_t lit_string(const char *s, size_t n, size_t i, sbuf *o, int gemma)
{
    if (gemma) {
        if (!at(s, n, i, GEMMA_Q)) return NPOS;
        size_t b = i + strlen(GEMMA_Q), e = find(s, n, b, GEMMA_Q);
        if (e == NPOS) return NPOS;
        sb_json_string(o, s + b, e - b);
        return e + strlen(GEMMA_Q);
    }
    char q = s[i];
    if (q != '\'' && q != '"') return NPOS;
    sbuf t = {0};
    sb_put(&t, "", 0);
    size_t j = i + 1;
    for (; j < n && s[j] != q; j++) {
        if (s[j] == '\\' && j + 1 < n) {
            char c = s[++j], r = c;
            if (c == 'n') r = '\n';
            else if (c == 't') r = '\t';
            else if (c == 'r') r = '\r';
            else if (c == '0') r = '\0';
            sb_put(&t, &r, 1);
        } else {
            sb_put(&t, s + j, 1);
        }
    }
    if (j >= n || t.oom) {
        o->oom |= t.oom;
        slm_free(t.p);
        return NPOS;
    }
    sb_json_string(o, t.p, t.n);
    slm_free(t.p);
    return j + 1;
}

static int is_ident(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
}

static size_t lit_value(const char *s, size_t n, size_t i, sbuf *o, int gemma, int depth)
{
    i = skip_ws(s, n, i);
    if (i >= n || depth > JSON_MAX_DEPTH) return NPOS;
    char c = s[i];
    if ((gemma && at(s, n, i, GEMMA_Q)) || (!gemma && (c == '\'' || c == '"'))) return lit_string(s, n, i, o, gemma);
    if (c == '[' || c == '(' || c == '{') {
        char close = c == '[' ? ']' : c == '(' ? ')' : '}';
        int obj = c == '{';
        sb_put(o, obj ? "{" : "[", 1);
        i = skip_ws(s, n, i + 1);
        int first = 1;
        while (i < n && s[i] != close) {
            if (!first) sb_put(o, ",", 1);
            first = 0;
            if (obj) {
                if (gemma && !at(s, n, i, GEMMA_Q)) {
                    size_t e = i;
                    while (e < n && is_ident(s[e])) e++;
                    if (e == i) return NPOS;
                    sb_json_string(o, s + i, e - i);
                    i = e;
                } else if ((i = lit_string(s, n, i, o, gemma)) == NPOS) {
                    return NPOS;
                }
                i = skip_ws(s, n, i);
                if (i >= n || s[i] != ':') return NPOS;
                sb_put(o, ":", 1);
                i++;
            }
            if ((i = lit_value(s, n, i, o, gemma, depth + 1)) == NPOS) return NPOS;
            i = skip_ws(s, n, i);
            if (i < n && s[i] == ',') i = skip_ws(s, n, i + 1);
            else if (i < n && s[i] != close) return NPOS;
        }
        if (i >= n) return NPOS;
        sb_put(o, obj ? "}" : "]", 1);
        return i + 1;
    }
    static const char *const words[][2] = {{"true", "true"}, {"false", "false"}, {"null", "null"},
                                           {"True", "true"}, {"False", "false"}, {"None", "null"}};
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
        size_t l = strlen(words[k][0]);
        if (at(s, n, i, words[k][0]) && (i + l >= n || !is_ident(s[i + l]))) {
            sb_puts(o, words[k][1]);
            return i + l;
        }
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        size_t e = json_skip(s, n, i);
        if (e == NPOS) return NPOS;
        sb_put(o, s + i, e - i);
        return e;
    }
    return NPOS;
}

/* ---- the formats added in session 3 ---------------------------------------- */

/* <|tools_prefix|>[{"N": {args}}, ...]<|tools_suffix|> */
static size_t parse_apertus(parser *P, size_t i)
{
    const char *s = P->s;
    size_t n = P->n, keep = P->n_calls;
    size_t b = skip_ws(s, n, i + strlen("<|tools_prefix|>"));
    size_t ae = json_skip(s, n, b);
    if (ae == NPOS || s[b] != '[') return NPOS;
    size_t j = skip_ws(s, ae, b + 1);
    while (j < ae - 1) {
        size_t oe = json_skip(s, ae, j);
        if (oe == NPOS || s[j] != '{') goto bad;
        size_t k = skip_ws(s, oe, j + 1);
        size_t ke = json_skip_string(s, oe, k);
        if (ke == NPOS) goto bad;
        size_t vs = skip_ws(s, oe, ke);
        if (vs >= oe || s[vs] != ':') goto bad;
        vs = skip_ws(s, oe, vs + 1);
        size_t ve = NPOS;
        char *args = obj_args(P, s, oe, vs, &ve);
        if (!args) goto bad;
        if (skip_ws(s, oe, ve) != oe - 1) {
            slm_free(args);
            goto bad;
        }
        char *name = json_decode_string(s, k, ke, &P->oom);
        if (!add_call(P, NULL, name, args)) goto bad;
        j = skip_ws(s, ae, oe);
        if (j < ae && s[j] == ',') j = skip_ws(s, ae, j + 1);
    }
    if (P->n_calls == keep) return NPOS;
    j = skip_ws(s, n, ae);
    return at(s, n, j, "<|tools_suffix|>") ? j + strlen("<|tools_suffix|>") : ae;
bad:
    drop_calls(P, keep);
    return NPOS;
}

/* Kimi K2: <|tool_calls_section_begin|> (<|tool_call_begin|>[functions.]N:IDX
 * <|tool_call_argument_begin|>{json}<|tool_call_end|>)+ <|tool_calls_section_end|> */
static size_t parse_kimi_k2(parser *P, size_t i)
{
    const char *s = P->s;
    size_t n = P->n, keep = P->n_calls;
    size_t j = skip_ws(s, n, i + strlen("<|tool_calls_section_begin|>"));
    while (at(s, n, j, "<|tool_call_begin|>")) {
        size_t ib = j + strlen("<|tool_call_begin|>");
        size_t ab = find(s, n, ib, "<|tool_call_argument_begin|>");
        if (ab == NPOS) goto bad;
        size_t i0 = ib, i1 = ab;
        trim(s, &i0, &i1);
        size_t nb = i0, ne = i1;
        if (at(s, i1, nb, "functions.")) nb += strlen("functions.");
        for (size_t k = i1; k > nb; k--)
            if (s[k - 1] == ':') {
                ne = k - 1;
                break;
            }
        if (ne <= nb || memchr(s + nb, '<', ne - nb)) goto bad;
        size_t as = skip_ws(s, n, ab + strlen("<|tool_call_argument_begin|>")), ae = json_skip(s, n, as);
        if (ae == NPOS || s[as] != '{') goto bad;
        size_t t = skip_ws(s, n, ae);
        if (at(s, n, t, "<|tool_call_end|>")) t += strlen("<|tool_call_end|>");
        else if (t != n) goto bad;
        if (!add_call(P, dup_n(P, s + i0, i1 - i0), dup_n(P, s + nb, ne - nb), dup_n(P, s + as, ae - as)))
            goto bad;
        j = skip_ws(s, n, t);
    }
    if (P->n_calls == keep) return NPOS;
    if (at(s, n, j, "<|tool_calls_section_end|>")) return j + strlen("<|tool_calls_section_end|>");
    if (j == n) return n;
bad:
    drop_calls(P, keep);
    return NPOS;
}

/* The value of attribute `name` inside the tag text s[b..e) (`name="v"`),
 * with &quot; and &amp; decoded. NULL if absent. */
static char *tag_attr(parser *P, const char *s, size_t b, size_t e, const char *name)
{
    char pat[40];
    snprintf(pat, sizeof pat, " %s=\"", name);
    size_t a = find(s, e, b, pat);
    if (a == NPOS) return NULL;
    a += strlen(pat);
    size_t q = find(s, e, a, "\"");
    if (q == NPOS) return NULL;
    sbuf o = {0};
    sb_put(&o, "", 0);
    for (size_t k = a; k < q;) {
        if (at(s, q, k, "&quot;")) {
            sb_put(&o, "\"", 1);
            k += 6;
        } else if (at(s, q, k, "&amp;")) {
            sb_put(&o, "&", 1);
            k += 5;
        } else {
            sb_put(&o, s + k, 1);
            k++;
        }
    }
    if (o.oom) {
        P->oom = 1;
        slm_free(o.p);
        return NULL;
    }
    return o.p;
}

/* Kimi K3 (XTML): see slm.h. The tools container may be missing around a
 * single call at the end of the reply. */
#define K3_SEP "<|sep|>"
static size_t parse_kimi_k3(parser *P, size_t i)
{
    const char *s = P->s;
    size_t n = P->n, keep = P->n_calls;
    int wrapped = at(s, n, i, "<|open|>tools" K3_SEP);
    size_t j = wrapped ? i + strlen("<|open|>tools" K3_SEP) : i;
    while (at(s, n, j, "<|open|>call ")) {
        size_t hb = j + strlen("<|open|>call") , he = find(s, n, hb, K3_SEP);
        size_t cend = find(s, n, hb, "<|close|>call" K3_SEP);
        if (he == NPOS || cend == NPOS || he > cend) goto bad;
        char *name = tag_attr(P, s, hb - 1, he, "tool");
        if (!name) goto bad;
        char *args = NULL;
        size_t k = he + strlen(K3_SEP);
        if (at(s, cend, k, "<|open|>json")) {
            size_t jb = find(s, cend, k, K3_SEP), je = find(s, cend, k, "<|close|>json" K3_SEP);
            if (jb != NPOS && je != NPOS && jb < je) {
                size_t b = jb + strlen(K3_SEP), e = je;
                trim(s, &b, &e);
                if (b < e && s[b] == '{' && json_skip(s, e, b) == e &&
                    je + strlen("<|close|>json" K3_SEP) == cend)
                    args = dup_n(P, s + b, e - b);
            }
        } else {
            sbuf o = {0};
            sb_put(&o, "{", 1);
            while (k < cend && at(s, cend, k, "<|open|>argument ")) {
                size_t ab = k + strlen("<|open|>argument") - 0, ae = find(s, cend, ab, K3_SEP);
                size_t ve = find(s, cend, ab, "<|close|>argument" K3_SEP);
                if (ae == NPOS || ve == NPOS || ae > ve) break;
                char *key = tag_attr(P, s, ab, ae, "key"), *ty = tag_attr(P, s, ab, ae, "type");
                if (key) {
                    int force = ty && strcmp(ty, "string") == 0 ? 1 : ty ? -1 : 0;
                    put_kv(P, &o, name, key, strlen(key), s + ae + strlen(K3_SEP), ve - ae - strlen(K3_SEP), force);
                }
                slm_free(ty);
                if (!key) break;
                slm_free(key);
                k = ve + strlen("<|close|>argument" K3_SEP);
            }
            if (k == cend) args = finish_obj(P, &o);
            else slm_free(o.p);
        }
        if (!args) {
            slm_free(name);
            goto bad;
        }
        if (!add_call(P, NULL, name, args)) goto bad;
        j = cend + strlen("<|close|>call" K3_SEP);
    }
    if (P->n_calls == keep) return NPOS;
    if (!wrapped) return j;
    if (at(s, n, j, "<|close|>tools" K3_SEP)) return j + strlen("<|close|>tools" K3_SEP);
    if (j == n) return n;
bad:
    drop_calls(P, keep);
    return NPOS;
}

/* <|tool_call_start|>[N(k=v, ...), ...]<|tool_call_end|> with Python literals */
static size_t parse_pythonic(parser *P, size_t i)
{
    const char *s = P->s;
    size_t n = P->n, keep = P->n_calls;
    size_t j = skip_ws(s, n, i + strlen("<|tool_call_start|>"));
    if (j >= n || s[j] != '[') return NPOS;
    j = skip_ws(s, n, j + 1);
    while (j < n && s[j] != ']') {
        size_t nb = j;
        while (j < n && is_ident(s[j])) j++;
        size_t ne = j;
        j = skip_ws(s, n, j);
        if (ne == nb || j >= n || s[j] != '(') goto bad;
        sbuf o = {0};
        sb_put(&o, "{", 1);
        j = skip_ws(s, n, j + 1);
        while (j < n && s[j] != ')') {
            size_t kb = j;
            while (j < n && is_ident(s[j])) j++;
            size_t ke = j;
            j = skip_ws(s, n, j);
            if (ke == kb || j >= n || s[j] != '=') break;
            if (o.n > 1) sb_put(&o, ",", 1);
            sb_json_string(&o, s + kb, ke - kb);
            sb_put(&o, ":", 1);
            if ((j = lit_value(s, n, j + 1, &o, 0, 0)) == NPOS) break;
            j = skip_ws(s, n, j);
            if (j < n && s[j] == ',') j = skip_ws(s, n, j + 1);
        }
        if (j >= n || s[j] != ')') {
            P->oom |= o.oom;
            slm_free(o.p);
            goto bad;
        }
        if (!add_call(P, NULL, dup_n(P, s + nb, ne - nb), finish_obj(P, &o))) goto bad;
        j = skip_ws(s, n, j + 1);
        if (j < n && s[j] == ',') j = skip_ws(s, n, j + 1);
    }
    if (j >= n || P->n_calls == keep) goto bad;
    j = skip_ws(s, n, j + 1);
    if (at(s, n, j, "<|tool_call_end|>")) return j + strlen("<|tool_call_end|>");
    if (j == n) return n;
bad:
    drop_calls(P, keep);
    return NPOS;
}

/* <|tool_call>call:N{k:v,...}<tool_call|>; the braces may also hold one JSON
 * object (arguments given as a JSON string). */
static size_t parse_gemma4(parser *P, size_t i)
{
    const char *s = P->s;
    size_t n = P->n;
    size_t j = skip_ws(s, n, i + strlen("<|tool_call>"));
    if (!at(s, n, j, "call:")) return NPOS;
    size_t nb = j + 5, ne = nb;
    while (ne < n && is_ident(s[ne])) ne++;
    if (ne == nb || ne >= n || s[ne] != '{') return NPOS;
    char *args = NULL;
    size_t e = NPOS, k = skip_ws(s, n, ne + 1);
    if (k < n && s[k] == '{') { /* {{json}} */
        size_t je = json_skip(s, n, k), t = je == NPOS ? NPOS : skip_ws(s, n, je);
        if (t != NPOS && t < n && s[t] == '}') {
            args = dup_n(P, s + k, je - k);
            e = t + 1;
        }
    }
    if (!args) {
        sbuf o = {0};
        e = lit_value(s, n, ne, &o, 1, 0);
        if (e == NPOS) {
            P->oom |= o.oom;
            slm_free(o.p);
            return NPOS;
        }
        if (o.oom) {
            P->oom = 1;
            slm_free(o.p);
            return NPOS;
        }
        args = o.p;
    }
    size_t t = skip_ws(s, n, e);
    if (at(s, n, t, "<tool_call|>")) t += strlen("<tool_call|>");
    else if (t != n) {
        slm_free(args);
        return NPOS;
    }
    if (!add_call(P, NULL, dup_n(P, s + nb, ne - nb), args)) return NPOS;
    return t;
}

/* <function name="N">(<param name="K">V|<![CDATA[V]]></param>)*</function> */
static size_t parse_xml_function(parser *P, size_t i)
{
    const char *s = P->s;
    size_t n = P->n;
    size_t nb = i + strlen("<function name=\""), ne = find(s, n, nb, "\"");
    if (ne == NPOS || ne == nb || !at(s, n, ne, "\">")) return NPOS;
    size_t close = find(s, n, ne, "</function>");
    if (close == NPOS) return NPOS;
    char *name = dup_n(P, s + nb, ne - nb);
    if (!name) return NPOS;
    sbuf o = {0};
    sb_put(&o, "{", 1);
    size_t j = skip_ws(s, n, ne + 2);
    while (j < close && at(s, n, j, "<param name=\"")) {
        size_t kb = j + strlen("<param name=\""), ke = find(s, close, kb, "\">");
        if (ke == NPOS) break;
        size_t vb = ke + 2, ve;
        int cdata = at(s, close, vb, "<![CDATA[");
        if (cdata) {
            size_t ce = find(s, close, vb, "]]>");
            if (ce == NPOS || !at(s, close, ce + 3, "</param>")) break;
            put_kv(P, &o, name, s + kb, ke - kb, s + vb + 9, ce - vb - 9, 1);
            ve = ce + 3;
        } else {
            if ((ve = find(s, close, vb, "</param>")) == NPOS) break;
            put_kv(P, &o, name, s + kb, ke - kb, s + vb, ve - vb, 0);
        }
        j = skip_ws(s, n, ve + strlen("</param>"));
    }
    if (j != close) {
        slm_free(name);
        slm_free(o.p);
        return NPOS;
    }
    if (!add_call(P, NULL, name, finish_obj(P, &o))) return NPOS;
    return close + strlen("</function>");
}

/* [<|tool_calls|>] (<|tool_call:begin|>I<|tool_call:name|>N<|tool_call:args|>{json}<|tool_call:end|>)+ [<|calls|>] */
static size_t parse_solar(parser *P, size_t i)
{
    const char *s = P->s;
    size_t n = P->n, keep = P->n_calls;
    size_t j = i;
    if (at(s, n, j, "<|tool_calls|>")) j = skip_ws(s, n, j + strlen("<|tool_calls|>"));
    while (at(s, n, j, "<|tool_call:begin|>")) {
        size_t ib = j + strlen("<|tool_call:begin|>");
        size_t nm = find(s, n, ib, "<|tool_call:name|>");
        size_t ar = nm == NPOS ? NPOS : find(s, n, nm, "<|tool_call:args|>");
        if (ar == NPOS || memchr(s + ib, '<', nm - ib)) goto bad;
        size_t nb = nm + strlen("<|tool_call:name|>"), ne = ar;
        trim(s, &nb, &ne);
        size_t as = skip_ws(s, n, ar + strlen("<|tool_call:args|>")), ae = json_skip(s, n, as);
        if (ne == nb || ae == NPOS || s[as] != '{') goto bad;
        size_t t = skip_ws(s, n, ae);
        if (at(s, n, t, "<|tool_call:end|>")) t += strlen("<|tool_call:end|>");
        else if (t != n) goto bad;
        size_t i0 = ib, i1 = nm;
        trim(s, &i0, &i1);
        char *id = i1 > i0 ? dup_n(P, s + i0, i1 - i0) : NULL;
        if (!add_call(P, id, dup_n(P, s + nb, ne - nb), dup_n(P, s + as, ae - as))) goto bad;
        j = skip_ws(s, n, t);
    }
    if (P->n_calls == keep) return NPOS;
    if (at(s, n, j, "<|calls|>")) return j + strlen("<|calls|>");
    return j;
bad:
    drop_calls(P, keep);
    return NPOS;
}

/* Hunyuan 3: GLM's layout with ":opensource" tags and <tool_sep:opensource>
 * after the name, inside <tool_calls:opensource> ... </tool_calls:opensource>. */
#define HY(t) "<" t ":opensource>"
static size_t parse_hunyuan(parser *P, size_t i)
{
    const char *s = P->s;
    size_t n = P->n, keep = P->n_calls;
    size_t j = skip_ws(s, n, i + strlen(HY("tool_calls")));
    while (at(s, n, j, HY("tool_call"))) {
        size_t nb = j + strlen(HY("tool_call"));
        size_t close = find(s, n, nb, HY("/tool_call"));
        size_t sep = close == NPOS ? NPOS : find(s, close, nb, HY("tool_sep"));
        if (sep == NPOS) goto bad;
        size_t b = nb, e = sep;
        trim(s, &b, &e);
        if (b == e || memchr(s + b, '<', e - b) || memchr(s + b, '\n', e - b)) goto bad;
        char *name = dup_n(P, s + b, e - b);
        if (!name) goto bad;
        sbuf o = {0};
        sb_put(&o, "{", 1);
        size_t k = skip_ws(s, n, sep + strlen(HY("tool_sep")));
        while (k < close && at(s, n, k, HY("arg_key"))) {
            size_t kb = k + strlen(HY("arg_key")), ke = find(s, close, kb, HY("/arg_key"));
            if (ke == NPOS) break;
            size_t vb = skip_ws(s, n, ke + strlen(HY("/arg_key")));
            if (!at(s, close, vb, HY("arg_value"))) break;
            vb += strlen(HY("arg_value"));
            size_t ve = find(s, close, vb, HY("/arg_value"));
            if (ve == NPOS) break;
            size_t k0 = kb, k1 = ke;
            trim(s, &k0, &k1);
            put_kv(P, &o, name, s + k0, k1 - k0, s + vb, ve - vb, 0);
            k = skip_ws(s, n, ve + strlen(HY("/arg_value")));
        }
        if (k != close) {
            slm_free(name);
            slm_free(o.p);
            goto bad;
        }
        if (!add_call(P, NULL, name, finish_obj(P, &o))) goto bad;
        j = skip_ws(s, n, close + strlen(HY("/tool_call")));
    }
    if (P->n_calls == keep) return NPOS;
    if (at(s, n, j, HY("/tool_calls"))) return j + strlen(HY("/tool_calls"));
    if (j == n) return n;
bad:
    drop_calls(P, keep);
    return NPOS;
}

/* Command R+: Action:\n```json\n[{"tool_name": N, "parameters": {...}}, ...]``` */
static size_t parse_command_r_plus(parser *P, size_t i)
{
    static const char *const K_TN[] = {"tool_name", "name", NULL};
    static const char *const K_TP[] = {"parameters", "arguments", NULL};
    const char *s = P->s;
    size_t n = P->n;
    size_t j = skip_ws(s, n, i + strlen("Action:"));
    int fenced = 0;
    if (at(s, n, j, "```json")) j += 7, fenced = 1;
    else if (at(s, n, j, "```")) j += 3, fenced = 1;
    j = skip_ws(s, n, j);
    size_t ae = json_skip(s, n, j);
    if (ae == NPOS || s[j] != '[') return NPOS;
    if (!parse_json_calls(P, j, ae, K_TN, K_TP, NULL)) return NPOS;
    size_t t = skip_ws(s, n, ae);
    if (fenced && at(s, n, t, "```")) return t + 3;
    return ae;
}

/* ---- detection ------------------------------------------------------------ */

static int has(const char *s, size_t n, const char *needle) { return find(s, n, 0, needle) != NPOS; }

SLM_API slm_tool_format slm_tool_format_detect(const char *t, size_t n)
{
    if (!t) return SLM_TOOL_FORMAT_NONE;
    if (has(t, n, "[TOOL_CALLS]")) return SLM_TOOL_FORMAT_MISTRAL;
    if (has(t, n, "<|tools_prefix|>")) return SLM_TOOL_FORMAT_APERTUS;
    if (has(t, n, "<|tool_calls_section_begin|>")) return SLM_TOOL_FORMAT_KIMI_K2;
    if (has(t, n, "<|open|>") && has(t, n, "'call'")) return SLM_TOOL_FORMAT_KIMI_K3;
    if (has(t, n, "<|tool_call>") && has(t, n, "call:")) return SLM_TOOL_FORMAT_GEMMA4;
    if (has(t, n, "<|tool_call:begin|>")) return SLM_TOOL_FORMAT_SOLAR;
    if (has(t, n, "<tool_sep") && has(t, n, "opensource")) return SLM_TOOL_FORMAT_HUNYUAN;
    if (has(t, n, "<function name=") && has(t, n, "<param name=")) return SLM_TOOL_FORMAT_XML_FUNCTION;
    if (has(t, n, "<atem:function_calls>")) return SLM_TOOL_FORMAT_XML_INVOKE;
    if (has(t, n, "<parameter=")) return SLM_TOOL_FORMAT_QWEN3_XML;
    if (has(t, n, "<arg_key>")) return SLM_TOOL_FORMAT_GLM;
    if (has(t, n, "<function=")) return SLM_TOOL_FORMAT_FUNCTIONARY;
    if (has(t, n, "<minimax:tool_call>") || (has(t, n, DSML) && has(t, n, "invoke name="))) return SLM_TOOL_FORMAT_XML_INVOKE;
    if (has(t, n, DS_CALL_BEGIN)) return SLM_TOOL_FORMAT_DEEPSEEK_R1;
    if (has(t, n, "<|START_ACTION|>")) return SLM_TOOL_FORMAT_COMMAND_R;
    if (has(t, n, "<TOOLCALL>") || has(t, n, "<tool_calls>")) return SLM_TOOL_FORMAT_JSON_ARRAY;
    if (has(t, n, "<tool_call>")) return SLM_TOOL_FORMAT_HERMES;
    if (has(t, n, "<|call|>") && has(t, n, "<|channel|>")) return SLM_TOOL_FORMAT_HARMONY;
    if (has(t, n, "<|CHATBOT_TOKEN|>") && has(t, n, "Action:") && has(t, n, "tool_name"))
        return SLM_TOOL_FORMAT_COMMAND_R_PLUS;
    /* LFM2 lists the tools as "List of tools: [...]" and answers in Python
     * call syntax between <|tool_call_start|> and <|tool_call_end|> */
    if (has(t, n, "<|tool_call_start|>") || has(t, n, "List of tools: ")) return SLM_TOOL_FORMAT_PYTHONIC;
    if (has(t, n, "<|start_header_id|>") && (has(t, n, "<|python_tag|>") || has(t, n, "\"parameters\"")))
        return SLM_TOOL_FORMAT_LLAMA3;
    return SLM_TOOL_FORMAT_NONE;
}

static const char *const format_names[SLM_TOOL_FORMAT_COUNT] = {
    "none", "hermes", "qwen3_xml", "llama3", "mistral", "functionary",
    "glm", "json_array", "deepseek_r1", "command_r", "xml_invoke", "harmony",
    "apertus", "kimi_k2", "kimi_k3", "pythonic", "gemma4", "xml_function", "solar", "hunyuan",
    "command_r_plus",
};

SLM_API const char *slm_tool_format_name(slm_tool_format f)
{
    return (int)f >= 0 && f < SLM_TOOL_FORMAT_COUNT ? format_names[f] : NULL;
}

SLM_API slm_status slm_tool_format_from_name(const char *name, slm_tool_format *out)
{
    slm_error_clear();
    if (!out) return slm_fail(SLM_ERR_ARG, "slm_tool_format_from_name: out is NULL");
    *out = SLM_TOOL_FORMAT_NONE;
    for (int k = 0; name && k < SLM_TOOL_FORMAT_COUNT; k++) {
        if (strcmp(name, format_names[k]) == 0) {
            *out = (slm_tool_format)k;
            return SLM_OK;
        }
    }
    return slm_fail(SLM_ERR_ARG, "unknown tool-call format '%s' (expected none, hermes, qwen3_xml, llama3, "
                    "mistral, functionary, glm, json_array, deepseek_r1, command_r, xml_invoke, harmony, apertus, "
                    "kimi_k2, kimi_k3, pythonic, gemma4, xml_function, solar, hunyuan or command_r_plus)",
                    name ? name : "(null)");
}

/* ---- the parse loop ------------------------------------------------------- */

/* The start markers of a format, in the order they are tried at a position. */
/* The texts that open a call in format f (NULL-terminated), or NULL. */
static const char *const *markers_of(slm_tool_format f)
{
    static const char *const hermes[] = {"<tool_call>", NULL};
    static const char *const qwen3[] = {"<tool_call>", "<function=", NULL};
    static const char *const functionary[] = {"<function=", NULL};
    static const char *const mistral[] = {"[TOOL_CALLS]", NULL};
    static const char *const json_array[] = {"<TOOLCALL>", "<tool_calls>", NULL};
    static const char *const deepseek[] = {DS_CALLS_BEGIN, NULL};
    static const char *const command_r[] = {"<|START_ACTION|>", NULL};
    static const char *const xml_invoke[] = {"<minimax:tool_call>", "<" DSML "function_calls>",
                                             "<" DSML "tool_calls>", "<atem:function_calls>", NULL};
    static const char *const harmony[] = {"to=functions.", NULL};
    static const char *const apertus[] = {"<|tools_prefix|>", NULL};
    static const char *const kimi_k2[] = {"<|tool_calls_section_begin|>", NULL};
    static const char *const kimi_k3[] = {"<|open|>tools<|sep|>", "<|open|>call ", NULL};
    static const char *const pythonic[] = {"<|tool_call_start|>", NULL};
    static const char *const gemma4[] = {"<|tool_call>", NULL};
    static const char *const xml_function[] = {"<function name=\"", NULL};
    static const char *const solar[] = {"<|tool_calls|>", "<|tool_call:begin|>", NULL};
    static const char *const hunyuan[] = {HY("tool_calls"), NULL};
    static const char *const command_r_plus[] = {"Action:", NULL};
    switch (f) {
    case SLM_TOOL_FORMAT_HERMES: return hermes;
    case SLM_TOOL_FORMAT_QWEN3_XML: return qwen3;
    case SLM_TOOL_FORMAT_FUNCTIONARY: return functionary;
    case SLM_TOOL_FORMAT_GLM: return hermes;
    case SLM_TOOL_FORMAT_MISTRAL: return mistral;
    case SLM_TOOL_FORMAT_JSON_ARRAY: return json_array;
    case SLM_TOOL_FORMAT_DEEPSEEK_R1: return deepseek;
    case SLM_TOOL_FORMAT_COMMAND_R: return command_r;
    case SLM_TOOL_FORMAT_XML_INVOKE: return xml_invoke;
    case SLM_TOOL_FORMAT_HARMONY: return harmony;
    case SLM_TOOL_FORMAT_APERTUS: return apertus;
    case SLM_TOOL_FORMAT_KIMI_K2: return kimi_k2;
    case SLM_TOOL_FORMAT_KIMI_K3: return kimi_k3;
    case SLM_TOOL_FORMAT_PYTHONIC: return pythonic;
    case SLM_TOOL_FORMAT_GEMMA4: return gemma4;
    case SLM_TOOL_FORMAT_XML_FUNCTION: return xml_function;
    case SLM_TOOL_FORMAT_SOLAR: return solar;
    case SLM_TOOL_FORMAT_HUNYUAN: return hunyuan;
    case SLM_TOOL_FORMAT_COMMAND_R_PLUS: return command_r_plus;
    default: return NULL;
    }
}

static size_t next_marker(const parser *P, slm_tool_format f, size_t from, const char **which)
{
    const char *const *m = markers_of(f);
    if (!m) return NPOS;
    size_t best = NPOS;
    for (; *m; m++) {
        size_t p = find(P->s, P->n, from, *m);
        if (p < best) {
            best = p;
            *which = *m;
        }
    }
    return best;
}

static size_t parse_at(parser *P, slm_tool_format f, size_t i, const char *marker, size_t *span_start)
{
    static const char *const K_CR_NAME[] = {"tool_name", "name", NULL};
    static const char *const K_CR_ARGS[] = {"parameters", "arguments", NULL};
    static const char *const K_CR_ID[] = {"tool_call_id", "id", NULL};
    *span_start = i;
    switch (f) {
    case SLM_TOOL_FORMAT_HERMES: return parse_hermes(P, i);
    case SLM_TOOL_FORMAT_QWEN3_XML: return parse_qwen3_xml(P, i);
    case SLM_TOOL_FORMAT_FUNCTIONARY: return parse_functionary(P, i);
    case SLM_TOOL_FORMAT_GLM: return parse_glm(P, i);
    case SLM_TOOL_FORMAT_MISTRAL: return parse_mistral(P, i);
    case SLM_TOOL_FORMAT_JSON_ARRAY:
        return strcmp(marker, "<TOOLCALL>") == 0
                   ? parse_tagged_json(P, i, "<TOOLCALL>", "</TOOLCALL>", K_NAME, K_ARGS, K_ID)
                   : parse_tagged_json(P, i, "<tool_calls>", "</tool_calls>", K_NAME, K_ARGS, K_ID);
    case SLM_TOOL_FORMAT_DEEPSEEK_R1: return parse_deepseek_r1(P, i);
    case SLM_TOOL_FORMAT_COMMAND_R:
        return parse_tagged_json(P, i, "<|START_ACTION|>", "<|END_ACTION|>", K_CR_NAME, K_CR_ARGS, K_CR_ID);
    case SLM_TOOL_FORMAT_XML_INVOKE:
        if (strcmp(marker, "<minimax:tool_call>") == 0)
            return parse_xml_invoke(P, i, marker, "</minimax:tool_call>", "");
        if (strcmp(marker, "<" DSML "function_calls>") == 0)
            return parse_xml_invoke(P, i, marker, "</" DSML "function_calls>", DSML);
        if (strcmp(marker, "<atem:function_calls>") == 0)
            return parse_xml_invoke(P, i, marker, "</atem:function_calls>", "atem:");
        return parse_xml_invoke(P, i, marker, "</" DSML "tool_calls>", DSML);
    case SLM_TOOL_FORMAT_HARMONY: return parse_harmony(P, i, span_start);
    case SLM_TOOL_FORMAT_APERTUS: return parse_apertus(P, i);
    case SLM_TOOL_FORMAT_KIMI_K2: return parse_kimi_k2(P, i);
    case SLM_TOOL_FORMAT_KIMI_K3: return parse_kimi_k3(P, i);
    case SLM_TOOL_FORMAT_PYTHONIC: return parse_pythonic(P, i);
    case SLM_TOOL_FORMAT_GEMMA4: return parse_gemma4(P, i);
    case SLM_TOOL_FORMAT_XML_FUNCTION: return parse_xml_function(P, i);
    case SLM_TOOL_FORMAT_SOLAR: return parse_solar(P, i);
    case SLM_TOOL_FORMAT_HUNYUAN: return parse_hunyuan(P, i);
    case SLM_TOOL_FORMAT_COMMAND_R_PLUS: return parse_command_r_plus(P, i);
    default: return NPOS;
    }
}

static void parser_free(parser *P)
{
    drop_calls(P, 0);
    slm_free(P->calls);
    slm_free(P->content.p);
}

SLM_API slm_status slm_tool_calls_parse(slm_tool_format f, const char *text, size_t len,
                                        const char *tools_json, slm_tool_calls **out)
{
    slm_status st = SLM_OK;
    slm_error_clear();
    cJSON *tools = NULL;
    parser P;
    memset(&P, 0, sizeof P);
    if (!out) return slm_fail(SLM_ERR_ARG, "slm_tool_calls_parse: out is NULL");
    *out = NULL;
    if ((int)f < 0 || f >= SLM_TOOL_FORMAT_COUNT)
        return slm_fail(SLM_ERR_ARG, "slm_tool_calls_parse: format %d is not a slm_tool_format (0..%d)", (int)f,
                        SLM_TOOL_FORMAT_COUNT - 1);
    if (!text && len) return slm_fail(SLM_ERR_ARG, "slm_tool_calls_parse: text is NULL");
    if (tools_json) {
        tools = cJSON_Parse(tools_json);
        if (!tools || !(cJSON_IsArray(tools) || cJSON_IsNull(tools))) {
            cJSON_Delete(tools);
            return slm_fail(SLM_ERR_ARG, "slm_tool_calls_parse: tools_json is not a JSON array");
        }
    }
    P.s = text ? text : "";
    P.n = len;
    P.tools = cJSON_IsArray(tools) ? tools : NULL;

    size_t content_from = 0; /* text before this is already in content */
    if (f == SLM_TOOL_FORMAT_LLAMA3) {
        if (parse_llama3(&P)) content_from = P.n;
    } else if (f != SLM_TOOL_FORMAT_NONE) {
        size_t i = 0;
        const char *marker = NULL;
        while ((i = next_marker(&P, f, i, &marker)) != NPOS) {
            size_t span = i;
            size_t e = parse_at(&P, f, i, marker, &span);
            if (P.oom) break;
            if (e == NPOS) {
                i += strlen(marker); /* not a call: its text stays content */
                continue;
            }
            if (span < content_from) span = content_from;
            sb_put(&P.content, P.s + content_from, span - content_from);
            content_from = e;
            i = e;
        }
    }
    sb_put(&P.content, P.s + content_from, P.n - content_from);
    SLM_CHECK(!P.oom && !P.content.oom, SLM_ERR_NOMEM, "slm_tool_calls_parse: out of memory (%zu bytes of text)",
              len);

    /* Pack: header, calls, then every string. */
    size_t cb = 0, ce = P.content.n;
    if (P.content.p) trim(P.content.p, &cb, &ce);
    size_t total = sizeof(slm_tool_calls) + P.n_calls * sizeof(slm_tool_call) + (ce - cb) + 1;
    for (size_t k = 0; k < P.n_calls; k++) {
        total += strlen(P.calls[k].name) + strlen(P.calls[k].args) + 2;
        total += (P.calls[k].id ? strlen(P.calls[k].id) : 24) + 1;
    }
    char *blk = slm_alloc(total);
    SLM_CHECK(blk, SLM_ERR_NOMEM, "slm_tool_calls_parse: cannot allocate %zu bytes for the result", total);
    slm_tool_calls *r = (slm_tool_calls *)blk;
    r->format = f;
    r->n_calls = P.n_calls;
    r->calls = P.n_calls ? (slm_tool_call *)(blk + sizeof *r) : NULL;
    char *w = blk + sizeof *r + P.n_calls * sizeof(slm_tool_call);
    for (size_t k = 0; k < P.n_calls; k++) {
        size_t l;
        if (P.calls[k].id) {
            l = strlen(P.calls[k].id);
            memcpy(w, P.calls[k].id, l + 1);
        } else {
            l = (size_t)snprintf(w, 24, "call_%zu", k);
        }
        r->calls[k].id = w;
        w += l + 1;
        l = strlen(P.calls[k].name);
        memcpy(w, P.calls[k].name, l + 1);
        r->calls[k].name = w;
        w += l + 1;
        l = strlen(P.calls[k].args);
        memcpy(w, P.calls[k].args, l + 1);
        r->calls[k].arguments = w;
        w += l + 1;
    }
    if (ce > cb) memcpy(w, P.content.p + cb, ce - cb);
    w[ce - cb] = '\0';
    r->content = w;
    r->content_len = ce - cb;
    *out = r;
fail:
    parser_free(&P);
    cJSON_Delete(tools);
    return st;
}

SLM_API void slm_tool_calls_free(slm_tool_calls *c) { slm_free(c); }

SLM_API slm_status slm_tool_calls_to_json(const slm_tool_calls *c, char **out)
{
    slm_error_clear();
    if (!out) return slm_fail(SLM_ERR_ARG, "slm_tool_calls_to_json: out is NULL");
    *out = NULL;
    if (!c) return slm_fail(SLM_ERR_ARG, "slm_tool_calls_to_json: calls are NULL");
    sbuf b = {0};
    sb_put(&b, "[", 1);
    for (size_t k = 0; k < c->n_calls; k++) {
        const slm_tool_call *t = &c->calls[k];
        if (k) sb_put(&b, ",", 1);
        sb_puts(&b, "{\"id\":");
        sb_json_string(&b, t->id, strlen(t->id));
        sb_puts(&b, ",\"type\":\"function\",\"function\":{\"name\":");
        sb_json_string(&b, t->name, strlen(t->name));
        sb_puts(&b, ",\"arguments\":");
        sb_json_string(&b, t->arguments, strlen(t->arguments));
        sb_puts(&b, "}}");
    }
    sb_put(&b, "]", 1);
    if (b.oom) {
        slm_free(b.p);
        return slm_fail(SLM_ERR_NOMEM, "slm_tool_calls_to_json: out of memory for %zu calls", c->n_calls);
    }
    *out = b.p;
    return SLM_OK;
}

/* ---- constrained tool calls ------------------------------------------------ */

/* Append GBNF text g with every rule name prefixed by pfx. Rule names are the
 * runs of [A-Za-z0-9_-] outside "literals", [classes], {m,n} counts and
 * # comments. */
static void put_renamed(sbuf *b, const char *g, const char *pfx)
{
    size_t n = strlen(g);
    for (size_t i = 0; i < n;) {
        char c = g[i];
        if (c == '"' || c == '[') {
            char close = c == '"' ? '"' : ']';
            size_t j = i + 1;
            while (j < n && g[j] != close) j += g[j] == '\\' && j + 1 < n ? 2 : 1;
            if (j < n) j++;
            sb_put(b, g + i, j - i);
            i = j;
        } else if (c == '{' || c == '#') {
            size_t j = i;
            while (j < n && g[j] != (c == '{' ? '}' : '\n')) j++;
            sb_put(b, g + i, j - i);
            i = j;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                   c == '_') {
            size_t j = i;
            while (j < n && ((g[j] >= 'a' && g[j] <= 'z') || (g[j] >= 'A' && g[j] <= 'Z') ||
                             (g[j] >= '0' && g[j] <= '9') || g[j] == '-' || g[j] == '_'))
                j++;
            sb_puts(b, pfx);
            sb_put(b, g + i, j - i);
            i = j;
        } else {
            sb_put(b, g + i, 1);
            i++;
        }
    }
}

/* s as the body of a GBNF "literal" (quotes, backslashes, controls escaped). */
static void put_gbnf_lit(sbuf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            sb_put(b, "\\", 1);
            sb_put(b, s, 1);
        } else if (c == '\n') {
            sb_puts(b, "\\n");
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\x%02X", c);
            sb_puts(b, esc);
        } else {
            sb_put(b, s, 1);
        }
    }
}

/* 1 if name is in the JSON array of strings req. */
static int in_required(const cJSON *req, const char *name)
{
    for (const cJSON *r = cJSON_IsArray(req) ? req->child : NULL; r; r = r->next)
        if (cJSON_IsString(r) && strcmp(r->valuestring, name) == 0) return 1;
    return 0;
}

/* The parameters of one tool as XML elements (QWEN3_XML, XML_FUNCTION):
 * defines rule <pfx>args. A plain string parameter is raw text without '<'
 * (the parser keeps it as a string); any other schema is JSON text for that
 * schema (the parser reads JSON values back as such). Properties come in
 * schema order, the optional ones optional. */
static slm_status put_xml_args(sbuf *b, slm_tool_format f, const cJSON *params, const char *pfx)
{
    slm_status st = SLM_OK;
    char *schema = NULL, *g = NULL;
    sbuf seq = {0};
    sb_put(&seq, "", 0);
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(params, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(params, "required");
    SLM_CHECK(!props || cJSON_IsObject(props), SLM_ERR_UNSUPPORTED, "\"properties\" is not an object");
    int j = 0;
    for (const cJSON *p = props ? props->child : NULL; p; p = p->next, j++) {
        char rule[48];
        snprintf(rule, sizeof rule, "%sp%d-", pfx, j);
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(p, "type");
        int raw = cJSON_IsString(ty) && strcmp(ty->valuestring, "string") == 0 &&
                  !cJSON_GetObjectItemCaseSensitive(p, "enum") && !cJSON_GetObjectItemCaseSensitive(p, "const");
        if (raw) {
            sb_puts(b, rule);
            sb_puts(b, "root ::= [^<]*\n");
        } else {
            SLM_CHECK(schema = cJSON_PrintUnformatted(p), SLM_ERR_NOMEM, "out of memory");
            SLM_TRY(slm_json_schema_to_grammar(schema, strlen(schema), &g));
            free(schema);
            schema = NULL;
            put_renamed(b, g, rule);
            sb_put(b, "\n", 1);
            slm_grammar_text_free(g);
            g = NULL;
        }
        int opt = !in_required(req, p->string);
        sb_puts(&seq, opt ? " (\"" : " \"");
        sb_puts(&seq, f == SLM_TOOL_FORMAT_QWEN3_XML ? "<parameter=" : "<param name=\\\"");
        put_gbnf_lit(&seq, p->string);
        sb_puts(&seq, f == SLM_TOOL_FORMAT_QWEN3_XML ? ">\\n\" " : "\\\">\" ");
        sb_puts(&seq, rule);
        sb_puts(&seq, f == SLM_TOOL_FORMAT_QWEN3_XML ? "root \"\\n</parameter>\\n\"" : "root \"</param>\"");
        if (opt) sb_puts(&seq, ")?");
    }
    sb_puts(b, pfx);
    sb_puts(b, "args ::= \"\"");
    sb_put(b, seq.p, seq.n);
    sb_puts(b, "\n");
    SLM_CHECK(!b->oom && !seq.oom, SLM_ERR_NOMEM, "out of memory");
fail:
    free(schema);
    slm_grammar_text_free(g);
    slm_free(seq.p);
    return st;
}

SLM_API slm_status slm_tool_calls_grammar(slm_tool_format f, const char *tools_json, char **out)
{
    slm_status st = SLM_OK;
    slm_error_clear();
    if (!out) return slm_fail(SLM_ERR_ARG, "slm_tool_calls_grammar: out is NULL");
    *out = NULL;
    int xml = f == SLM_TOOL_FORMAT_QWEN3_XML || f == SLM_TOOL_FORMAT_XML_FUNCTION;
    if (f != SLM_TOOL_FORMAT_HERMES && f != SLM_TOOL_FORMAT_LLAMA3 && f != SLM_TOOL_FORMAT_FUNCTIONARY &&
        f != SLM_TOOL_FORMAT_COMMAND_R_PLUS && !xml)
        return slm_fail(SLM_ERR_UNSUPPORTED, "slm_tool_calls_grammar: no grammar for tool-call format '%s' "
                        "(hermes, llama3, functionary, qwen3_xml, xml_function and command_r_plus have one)",
                        slm_tool_format_name(f) ? slm_tool_format_name(f) : "?");
    if (!tools_json) return slm_fail(SLM_ERR_ARG, "slm_tool_calls_grammar: tools_json is NULL");
    sbuf b = {0}, calls = {0};
    char *schema = NULL, *g = NULL;
    cJSON *tools = cJSON_Parse(tools_json);
    SLM_CHECK(cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0, SLM_ERR_ARG,
              "slm_tool_calls_grammar: tools_json is not a non-empty JSON array");
    int k = 0;
    for (const cJSON *t = tools->child; t; t = t->next, k++) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        if (!fn) fn = t;
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(fn, "name");
        SLM_CHECK(cJSON_IsString(nm) && valid_name(nm->valuestring), SLM_ERR_ARG,
                  "slm_tool_calls_grammar: tool %d has no usable \"name\" (found %s)", k,
                  cJSON_IsString(nm) ? nm->valuestring : "none");
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
        char pfx[32];
        snprintf(pfx, sizeof pfx, "tool%d-", k);
        if (xml) {
            st = put_xml_args(&b, f, params, pfx);
            if (st != SLM_OK) {
                slm_error_prefix(nm->valuestring);
                slm_error_prefix("slm_tool_calls_grammar: tool");
                goto fail;
            }
            char rule[64];
            snprintf(rule, sizeof rule, "call%d ::= ", k);
            sb_puts(&b, rule);
            sb_puts(&b, f == SLM_TOOL_FORMAT_QWEN3_XML ? "\"<function=" : "\"<function name=\\\"");
            sb_puts(&b, nm->valuestring);
            sb_puts(&b, f == SLM_TOOL_FORMAT_QWEN3_XML ? ">\\n\" " : "\\\">\" ");
            sb_puts(&b, pfx);
            sb_puts(&b, "args \"</function>\"\n");
            snprintf(rule, sizeof rule, "%scall%d", k ? " | " : "", k);
            sb_puts(&calls, rule);
            continue;
        }
        schema = params ? cJSON_PrintUnformatted(params) : NULL;
        const char *sch = schema ? schema : "{\"type\": \"object\"}";
        st = slm_json_schema_to_grammar(sch, strlen(sch), &g);
        if (st != SLM_OK) {
            slm_error_prefix(nm->valuestring);
            slm_error_prefix("slm_tool_calls_grammar: tool");
            goto fail;
        }
        free(schema);
        schema = NULL;
        put_renamed(&b, g, pfx);
        sb_put(&b, "\n", 1);
        slm_grammar_text_free(g);
        g = NULL;
        /* the call as the family's template writes one */
        char rule[64];
        snprintf(rule, sizeof rule, "call%d ::= ", k);
        sb_puts(&b, rule);
        if (f == SLM_TOOL_FORMAT_FUNCTIONARY) {
            sb_puts(&b, "\"<function=");
            sb_puts(&b, nm->valuestring);
            sb_puts(&b, ">\" ");
        } else if (f == SLM_TOOL_FORMAT_COMMAND_R_PLUS) {
            sb_puts(&b, "\"{\\\"tool_name\\\": \\\"");
            sb_puts(&b, nm->valuestring);
            sb_puts(&b, "\\\", \\\"parameters\\\": \" ");
        } else {
            sb_puts(&b, "\"{\\\"name\\\": \\\"");
            sb_puts(&b, nm->valuestring);
            sb_puts(&b, f == SLM_TOOL_FORMAT_LLAMA3 ? "\\\", \\\"parameters\\\": \" " : "\\\", \\\"arguments\\\": \" ");
        }
        sb_puts(&b, pfx);
        sb_puts(&b, f == SLM_TOOL_FORMAT_FUNCTIONARY ? "root \"</function>\"\n" : "root \"}\"\n");
        snprintf(rule, sizeof rule, "%scall%d", k ? " | " : "", k);
        sb_puts(&calls, rule);
    }
    sb_puts(&b, "call ::= ");
    sb_put(&b, calls.p, calls.n);
    sb_puts(&b, "\n");
    if (f == SLM_TOOL_FORMAT_HERMES || f == SLM_TOOL_FORMAT_QWEN3_XML)
        sb_puts(&b, "root ::= \"<tool_call>\\n\" call \"\\n</tool_call>\"\n");
    else if (f == SLM_TOOL_FORMAT_COMMAND_R_PLUS)
        sb_puts(&b, "root ::= \"Action:\\n```json\\n[\\n\" call \"\\n]```\"\n");
    else sb_puts(&b, "root ::= call\n");
    SLM_CHECK(!b.oom && !calls.oom, SLM_ERR_NOMEM, "slm_tool_calls_grammar: out of memory");
    *out = b.p;
    b.p = NULL;
fail:
    free(schema);
    slm_grammar_text_free(g);
    slm_free(b.p);
    slm_free(calls.p);
    cJSON_Delete(tools);
    return st;
}

/* ---- streaming ------------------------------------------------------------ */

SLM_API size_t slm_tool_calls_content_prefix(slm_tool_format f, const char *text, size_t len)
{
    if (!text) return 0;
    if (f == SLM_TOOL_FORMAT_LLAMA3) {
        /* the whole reply is the call: hold it if it may be JSON or python_tag */
        size_t i = skip_ws(text, len, 0);
        if (i == len) return 0;
        if (text[i] == '{') return 0;
        size_t k = strlen("<|python_tag|>");
        size_t m = len - i < k ? len - i : k;
        return memcmp(text + i, "<|python_tag|>", m) == 0 ? 0 : len;
    }
    /* harmony: a call's header opens with <|start|> or <|channel|> */
    static const char *const harmony_hold[] = {"<|start|>", "<|channel|>", NULL};
    const char *const *m = f == SLM_TOOL_FORMAT_HARMONY ? harmony_hold : markers_of(f);
    if (!m) return len;
    size_t best = len;
    for (; *m; m++) {
        size_t p = find(text, len, 0, *m);
        if (p < best) best = p;
        /* a marker cut off at the end of the text so far */
        size_t k = strlen(*m);
        for (size_t h = k - 1 < len ? k - 1 : len; h >= 1; h--) {
            if (memcmp(text + len - h, *m, h) == 0) {
                if (len - h < best) best = len - h;
                break;
            }
        }
    }
    return best;
}
