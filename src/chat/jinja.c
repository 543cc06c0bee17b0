/* jinja.c — the Jinja2 subset of jinja.h: lexer, parser to an AST, and a
 * tree-walking evaluator over Python-like values.
 *
 * Memory: everything a render allocates (tokens, nodes, values, output
 * buffers) comes from one arena freed at the end, so values are shared
 * freely and never freed one by one. Errors unwind with longjmp to the
 * single entry point jinja_render(); that is safe because nothing between
 * holds memory outside the arena. Recursion (parser and evaluator) is depth
 * limited so hostile templates cannot overflow the stack.
 */
#include "chat/jinja.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/status.h"

#define JJ_MAX_DEPTH 200      /* nesting of expressions, statements and calls */
#define JJ_MAX_OUTPUT (64u << 20) /* rendered bytes */
#define JJ_MAX_STEPS 10000000L    /* loop iterations + calls (stops runaway templates) */

/* ---- arena and errors ---------------------------------------------------- */

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
} arena_chunk;

typedef struct jj {
    arena_chunk *chunks;
    size_t total;
    jmp_buf jmp;
    slm_status st;
    char msg[512];
    int depth;
    long steps;
    int cur_line;
} jj;

_Noreturn static void jj_fail(jj *J, slm_status st, int line, const char *fmt, ...) SLM_PRINTF(4, 5);

_Noreturn static void jj_fail(jj *J, slm_status st, int line, const char *fmt, ...)
{
    char buf[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(J->msg, sizeof J->msg, "template line %d: %s", line, buf);
    else
        snprintf(J->msg, sizeof J->msg, "template: %s", buf);
    J->st = st;
    longjmp(J->jmp, 1);
}

#define RT_FAIL(J, ...) jj_fail((J), SLM_ERR_FORMAT, (J)->cur_line, __VA_ARGS__)

static void *jj_alloc(jj *J, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    arena_chunk *c = J->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        if (J->total + cap > ((size_t)1 << 30))
            jj_fail(J, SLM_ERR_NOMEM, J->cur_line, "template render needs more than 1 GiB");
        c = slm_alloc(sizeof *c + cap);
        if (!c) jj_fail(J, SLM_ERR_NOMEM, 0, "out of memory");
        c->used = 0;
        c->cap = cap;
        c->next = J->chunks;
        J->chunks = c;
        J->total += cap;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

static void jj_free_all(jj *J)
{
    arena_chunk *c = J->chunks;
    while (c) {
        arena_chunk *n = c->next;
        slm_free(c);
        c = n;
    }
    J->chunks = NULL;
}

static char *jj_strndup(jj *J, const char *s, size_t n)
{
    char *p = jj_alloc(J, n + 1);
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* ---- output buffers ------------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void buf_put(jj *J, buf *b, const char *s, size_t n)
{
    if (n == 0) return;
    if (b->n + n > JJ_MAX_OUTPUT) RT_FAIL(J, "rendered output exceeds %u bytes", JJ_MAX_OUTPUT);
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = jj_alloc(J, cap);
        if (b->n) memcpy(p, b->p, b->n);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void buf_puts(jj *J, buf *b, const char *s) { buf_put(J, b, s, strlen(s)); }

static void buf_printf(jj *J, buf *b, const char *fmt, ...) SLM_PRINTF(3, 4);
static void buf_printf(jj *J, buf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) buf_put(J, b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ---- values ---------------------------------------------------------------- */

typedef enum {
    V_UNDEF, V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_LIST, V_DICT, V_FUNC, V_LOOP
} vtype;

typedef struct value value;
typedef struct vlist vlist;
typedef struct vdict vdict;
typedef struct vfunc vfunc;
typedef struct vloop vloop;

struct value {
    vtype t;
    int markup; /* V_STR from |safe: Python Markup, which HTML-escapes what is added to it */
    union {
        int b;
        int64_t i;
        double f;
        struct {
            const char *p;
            size_t n;
        } s;
        vlist *l;
        vdict *d;
        vfunc *fn;
        vloop *loop;
    } u;
};

struct vlist {
    value *v;
    size_t n, cap;
    int tuple;     /* prints as (a, b) */
    int generator; /* result of map/select...: iterable once, not JSON */
};

struct vdict {
    value *k, *v;
    size_t n, cap;
    int ns; /* a namespace(): attributes assignable with set ns.x */
};

typedef struct node node;
typedef enum { F_MACRO, F_BUILTIN, F_METHOD } fkind;
struct vfunc {
    fkind kind;
    const char *name;
    value self;   /* F_METHOD: the receiver */
    node *macro;  /* F_MACRO */
};

struct vloop {
    size_t index0, length;
    vlist *items;
};

static const value V_UNDEFINED = {V_UNDEF, 0, {0}};
static const value V_NONEV = {V_NONE, 0, {0}};

static value mk_bool(int b) { value v = {V_BOOL, 0, {0}}; v.u.b = b != 0; return v; }
static value mk_int(int64_t i) { value v = {V_INT, 0, {0}}; v.u.i = i; return v; }
static value mk_float(double f) { value v = {V_FLOAT, 0, {0}}; v.u.f = f; return v; }
static value mk_str(const char *p, size_t n) { value v = {V_STR, 0, {0}}; v.u.s.p = p; v.u.s.n = n; return v; }
static value mk_cstr(const char *p) { return mk_str(p, strlen(p)); }
static value mk_strdup(jj *J, const char *p, size_t n) { return mk_str(jj_strndup(J, p, n), n); }

static vlist *list_new(jj *J)
{
    vlist *l = jj_alloc(J, sizeof *l);
    memset(l, 0, sizeof *l);
    return l;
}
static value mk_list(vlist *l) { value v = {V_LIST, 0, {0}}; v.u.l = l; return v; }

static void list_push(jj *J, vlist *l, value x)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        value *nv = jj_alloc(J, cap * sizeof *nv);
        if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = x;
}

static vdict *dict_new(jj *J)
{
    vdict *d = jj_alloc(J, sizeof *d);
    memset(d, 0, sizeof *d);
    return d;
}
static value mk_dict(vdict *d) { value v = {V_DICT, 0, {0}}; v.u.d = d; return v; }

static value mk_func(jj *J, fkind kind, const char *name, value self, node *macro)
{
    vfunc *f = jj_alloc(J, sizeof *f);
    f->kind = kind;
    f->name = name;
    f->self = self;
    f->macro = macro;
    value v = {V_FUNC, 0, {0}};
    v.u.fn = f;
    return v;
}

static int is_num(value v) { return v.t == V_INT || v.t == V_FLOAT || v.t == V_BOOL; }
static double num_f(value v) { return v.t == V_FLOAT ? v.u.f : v.t == V_INT ? (double)v.u.i : (double)v.u.b; }
static int64_t num_i(value v) { return v.t == V_INT ? v.u.i : v.t == V_BOOL ? v.u.b : (int64_t)v.u.f; }

static int str_eq(value a, const char *s)
{
    size_t n = strlen(s);
    return a.t == V_STR && a.u.s.n == n && memcmp(a.u.s.p, s, n) == 0;
}

static int val_eq(value a, value b);

static int val_eq(value a, value b)
{
    if (is_num(a) && is_num(b)) {
        if (a.t == V_FLOAT || b.t == V_FLOAT) return num_f(a) == num_f(b);
        return num_i(a) == num_i(b);
    }
    if (a.t != b.t) return 0;
    switch (a.t) {
    case V_UNDEF:
    case V_NONE: return 1;
    case V_STR: return a.u.s.n == b.u.s.n && memcmp(a.u.s.p, b.u.s.p, a.u.s.n) == 0;
    case V_LIST:
        if (a.u.l->n != b.u.l->n) return 0;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!val_eq(a.u.l->v[i], b.u.l->v[i])) return 0;
        return 1;
    case V_DICT:
        if (a.u.d->n != b.u.d->n) return 0;
        for (size_t i = 0; i < a.u.d->n; i++) {
            size_t j;
            for (j = 0; j < b.u.d->n; j++)
                if (val_eq(a.u.d->k[i], b.u.d->k[j])) break;
            if (j == b.u.d->n || !val_eq(a.u.d->v[i], b.u.d->v[j])) return 0;
        }
        return 1;
    case V_FUNC: return a.u.fn == b.u.fn;
    case V_LOOP: return a.u.loop == b.u.loop;
    default: return 0;
    }
}

static value *dict_find(vdict *d, value k)
{
    for (size_t i = 0; i < d->n; i++)
        if (val_eq(d->k[i], k)) return &d->v[i];
    return NULL;
}

static value *dict_find_s(vdict *d, const char *k)
{
    for (size_t i = 0; i < d->n; i++)
        if (str_eq(d->k[i], k)) return &d->v[i];
    return NULL;
}

static void dict_set(jj *J, vdict *d, value k, value v)
{
    value *p = dict_find(d, k);
    if (p) {
        *p = v;
        return;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        value *nk = jj_alloc(J, cap * sizeof *nk), *nv = jj_alloc(J, cap * sizeof *nv);
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof *nk);
            memcpy(nv, d->v, d->n * sizeof *nv);
        }
        d->k = nk;
        d->v = nv;
        d->cap = cap;
    }
    d->k[d->n] = k;
    d->v[d->n] = v;
    d->n++;
}

static int truthy(value v)
{
    switch (v.t) {
    case V_UNDEF:
    case V_NONE: return 0;
    case V_BOOL: return v.u.b;
    case V_INT: return v.u.i != 0;
    case V_FLOAT: return v.u.f != 0.0;
    case V_STR: return v.u.s.n != 0;
    case V_LIST: return v.u.l->generator || v.u.l->n != 0;
    case V_DICT: return v.u.d->ns || v.u.d->n != 0;
    default: return 1;
    }
}

static const char *type_name(value v)
{
    switch (v.t) {
    case V_UNDEF: return "Undefined";
    case V_NONE: return "NoneType";
    case V_BOOL: return "bool";
    case V_INT: return "int";
    case V_FLOAT: return "float";
    case V_STR: return "str";
    case V_LIST: return v.u.l->generator ? "generator" : v.u.l->tuple ? "tuple" : "list";
    case V_DICT: return v.u.d->ns ? "Namespace" : "dict";
    case V_FUNC: return "function";
    case V_LOOP: return "LoopContext";
    }
    return "object";
}

/* ---- UTF-8 and Unicode whitespace ----------------------------------------- */

/* Decode one code point at s[*i] (advancing *i); invalid bytes decode as themselves. */
static uint32_t utf8_next(const char *s, size_t n, size_t *i)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t c = u[*i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (*i + len > n) len = 1;
    if (len == 1) {
        (*i)++;
        return c;
    }
    uint32_t cp = c & (0x3F >> (len - 1));
    for (size_t k = 1; k < len; k++) {
        if ((u[*i + k] & 0xC0) != 0x80) {
            (*i)++;
            return c;
        }
        cp = (cp << 6) | (u[*i + k] & 0x3F);
    }
    *i += len;
    return cp;
}

static size_t utf8_len(const char *s, size_t n)
{
    size_t i = 0, k = 0;
    while (i < n) {
        utf8_next(s, n, &i);
        k++;
    }
    return k;
}

static int uni_space(uint32_t c)
{
    return (c >= 9 && c <= 13) || c == ' ' || (c >= 0x1c && c <= 0x1f) || c == 0x85 || c == 0xa0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

static void put_utf8(jj *J, buf *b, uint32_t c)
{
    char t[4];
    size_t n;
    if (c < 0x80) { t[0] = (char)c; n = 1; }
    else if (c < 0x800) { t[0] = (char)(0xC0 | (c >> 6)); t[1] = (char)(0x80 | (c & 63)); n = 2; }
    else if (c < 0x10000) {
        t[0] = (char)(0xE0 | (c >> 12)); t[1] = (char)(0x80 | ((c >> 6) & 63));
        t[2] = (char)(0x80 | (c & 63)); n = 3;
    } else {
        t[0] = (char)(0xF0 | (c >> 18)); t[1] = (char)(0x80 | ((c >> 12) & 63));
        t[2] = (char)(0x80 | ((c >> 6) & 63)); t[3] = (char)(0x80 | (c & 63)); n = 4;
    }
    buf_put(J, b, t, n);
}

/* ---- printing: Python str(), repr() and json.dumps() ----------------------- */

/* Python's float repr: the shortest digits that round-trip, scientific
 * notation below 1e-4 and from 1e16. */
static void put_float(jj *J, buf *b, double f)
{
    if (isnan(f)) { buf_puts(J, b, "nan"); return; }
    if (isinf(f)) { buf_puts(J, b, f < 0 ? "-inf" : "inf"); return; }
    char tmp[64];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    /* tmp = d.ddde[+-]XX */
    char digits[32];
    size_t nd = 0;
    const char *p = tmp;
    int neg = 0;
    if (*p == '-') { neg = 1; p++; }
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    if (neg) buf_puts(J, b, "-");
    if (exp10 < -4 || exp10 >= 16) {
        buf_put(J, b, digits, 1);
        if (nd > 1) {
            buf_puts(J, b, ".");
            buf_put(J, b, digits + 1, nd - 1);
        }
        buf_printf(J, b, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    } else if (exp10 < 0) {
        buf_puts(J, b, "0.");
        for (int k = -1; k > exp10; k--) buf_puts(J, b, "0");
        buf_put(J, b, digits, nd);
    } else {
        size_t ip = (size_t)exp10 + 1;
        for (size_t k = 0; k < ip; k++) buf_put(J, b, k < nd ? &digits[k] : "0", 1);
        buf_puts(J, b, ".");
        if (nd > ip) buf_put(J, b, digits + ip, nd - ip);
        else buf_puts(J, b, "0");
    }
}

static void put_repr(jj *J, buf *b, value v);

static void put_str(jj *J, buf *b, value v)
{
    switch (v.t) {
    case V_UNDEF: return;
    case V_NONE: buf_puts(J, b, "None"); return;
    case V_BOOL: buf_puts(J, b, v.u.b ? "True" : "False"); return;
    case V_INT: buf_printf(J, b, "%lld", (long long)v.u.i); return;
    case V_FLOAT: put_float(J, b, v.u.f); return;
    case V_STR: buf_put(J, b, v.u.s.p, v.u.s.n); return;
    default: put_repr(J, b, v); return;
    }
}

static void put_repr(jj *J, buf *b, value v)
{
    switch (v.t) {
    case V_STR: {
        int has_sq = memchr(v.u.s.p, '\'', v.u.s.n) != NULL;
        int has_dq = memchr(v.u.s.p, '"', v.u.s.n) != NULL;
        char q = has_sq && !has_dq ? '"' : '\'';
        buf_put(J, b, &q, 1);
        size_t i = 0;
        while (i < v.u.s.n) {
            size_t st = i;
            uint32_t c = utf8_next(v.u.s.p, v.u.s.n, &i);
            if (c == (uint32_t)q || c == '\\') {
                buf_puts(J, b, "\\");
                buf_put(J, b, v.u.s.p + st, 1);
            } else if (c == '\n') buf_puts(J, b, "\\n");
            else if (c == '\r') buf_puts(J, b, "\\r");
            else if (c == '\t') buf_puts(J, b, "\\t");
            else if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0)) buf_printf(J, b, "\\x%02x", c);
            else buf_put(J, b, v.u.s.p + st, i - st);
        }
        buf_put(J, b, &q, 1);
        return;
    }
    case V_LIST: {
        vlist *l = v.u.l;
        if (l->generator) { buf_puts(J, b, "<generator object>"); return; }
        buf_puts(J, b, l->tuple ? "(" : "[");
        for (size_t i = 0; i < l->n; i++) {
            if (i) buf_puts(J, b, ", ");
            put_repr(J, b, l->v[i]);
        }
        if (l->tuple && l->n == 1) buf_puts(J, b, ",");
        buf_puts(J, b, l->tuple ? ")" : "]");
        return;
    }
    case V_DICT: {
        vdict *d = v.u.d;
        buf_puts(J, b, d->ns ? "<Namespace {" : "{");
        for (size_t i = 0; i < d->n; i++) {
            if (i) buf_puts(J, b, ", ");
            put_repr(J, b, d->k[i]);
            buf_puts(J, b, ": ");
            put_repr(J, b, d->v[i]);
        }
        buf_puts(J, b, d->ns ? "}>" : "}");
        return;
    }
    case V_FUNC: buf_printf(J, b, "<function %s>", v.u.fn->name); return;
    case V_LOOP: buf_puts(J, b, "<LoopContext>"); return;
    case V_UNDEF: return;
    default: put_str(J, b, v); return;
    }
}

static value to_string(jj *J, value v)
{
    if (v.t == V_STR) return v;
    buf b = {0};
    put_str(J, &b, v);
    return mk_str(b.p ? b.p : "", b.n);
}

typedef struct json_opts {
    const char *indent; /* NULL: one line */
    const char *item_sep, *key_sep;
    int sort_keys;
    int ascii;
} json_opts;

static void json_string(jj *J, buf *b, const char *s, size_t n, int ascii)
{
    buf_puts(J, b, "\"");
    size_t i = 0;
    while (i < n) {
        size_t st = i;
        uint32_t c = utf8_next(s, n, &i);
        switch (c) {
        case '"': buf_puts(J, b, "\\\""); break;
        case '\\': buf_puts(J, b, "\\\\"); break;
        case '\n': buf_puts(J, b, "\\n"); break;
        case '\r': buf_puts(J, b, "\\r"); break;
        case '\t': buf_puts(J, b, "\\t"); break;
        case '\b': buf_puts(J, b, "\\b"); break;
        case '\f': buf_puts(J, b, "\\f"); break;
        default:
            if (c < 0x20) buf_printf(J, b, "\\u%04x", c);
            else if (ascii && c >= 0x80) {
                if (c >= 0x10000) {
                    uint32_t x = c - 0x10000;
                    buf_printf(J, b, "\\u%04x\\u%04x", 0xD800 + (x >> 10), 0xDC00 + (x & 0x3FF));
                } else buf_printf(J, b, "\\u%04x", c);
            } else buf_put(J, b, s + st, i - st);
        }
    }
    buf_puts(J, b, "\"");
}

static void json_newline(jj *J, buf *b, const json_opts *o, int level)
{
    buf_puts(J, b, "\n");
    for (int k = 0; k < level; k++) buf_puts(J, b, o->indent);
}

static int key_cmp(const void *a, const void *b);

static void put_json(jj *J, buf *b, value v, const json_opts *o, int level)
{
    if (level > JJ_MAX_DEPTH) RT_FAIL(J, "tojson: value nested too deeply");
    switch (v.t) {
    case V_NONE: buf_puts(J, b, "null"); return;
    case V_BOOL: buf_puts(J, b, v.u.b ? "true" : "false"); return;
    case V_INT: buf_printf(J, b, "%lld", (long long)v.u.i); return;
    case V_FLOAT:
        if (isnan(v.u.f)) buf_puts(J, b, "NaN");
        else if (isinf(v.u.f)) buf_puts(J, b, v.u.f < 0 ? "-Infinity" : "Infinity");
        else put_float(J, b, v.u.f);
        return;
    case V_STR: json_string(J, b, v.u.s.p, v.u.s.n, o->ascii); return;
    case V_LIST: {
        vlist *l = v.u.l;
        if (l->generator) RT_FAIL(J, "Object of type generator is not JSON serializable");
        if (l->n == 0) { buf_puts(J, b, "[]"); return; }
        buf_puts(J, b, "[");
        for (size_t i = 0; i < l->n; i++) {
            if (i) buf_puts(J, b, o->item_sep);
            if (o->indent) json_newline(J, b, o, level + 1);
            put_json(J, b, l->v[i], o, level + 1);
        }
        if (o->indent) json_newline(J, b, o, level);
        buf_puts(J, b, "]");
        return;
    }
    case V_DICT: {
        vdict *d = v.u.d;
        if (d->ns) RT_FAIL(J, "Object of type Namespace is not JSON serializable");
        if (d->n == 0) { buf_puts(J, b, "{}"); return; }
        size_t *order = jj_alloc(J, d->n * sizeof *order);
        for (size_t i = 0; i < d->n; i++) order[i] = i;
        if (o->sort_keys) {
            for (size_t i = 0; i < d->n; i++)
                if (d->k[i].t != V_STR) RT_FAIL(J, "tojson: sort_keys needs string keys");
            /* insertion sort by key bytes (== code point order for UTF-8) */
            for (size_t i = 1; i < d->n; i++) {
                size_t x = order[i], j = i;
                while (j > 0 && key_cmp(&d->k[order[j - 1]], &d->k[x]) > 0) {
                    order[j] = order[j - 1];
                    j--;
                }
                order[j] = x;
            }
        }
        buf_puts(J, b, "{");
        for (size_t i = 0; i < d->n; i++) {
            value k = d->k[order[i]];
            if (i) buf_puts(J, b, o->item_sep);
            if (o->indent) json_newline(J, b, o, level + 1);
            if (k.t == V_STR) json_string(J, b, k.u.s.p, k.u.s.n, o->ascii);
            else if (k.t == V_INT || k.t == V_FLOAT || k.t == V_BOOL || k.t == V_NONE) {
                buf kb = {0};
                put_json(J, &kb, k, o, level + 1);
                json_string(J, b, kb.p, kb.n, o->ascii);
            } else RT_FAIL(J, "keys must be str, int, float, bool or None, not %s", type_name(k));
            buf_puts(J, b, o->key_sep);
            put_json(J, b, d->v[order[i]], o, level + 1);
        }
        if (o->indent) json_newline(J, b, o, level);
        buf_puts(J, b, "}");
        return;
    }
    default: RT_FAIL(J, "Object of type %s is not JSON serializable", type_name(v));
    }
}

static int key_cmp(const void *a, const void *b)
{
    const value *x = a, *y = b;
    size_t n = x->u.s.n < y->u.s.n ? x->u.s.n : y->u.s.n;
    int c = memcmp(x->u.s.p, y->u.s.p, n);
    if (c) return c;
    return x->u.s.n < y->u.s.n ? -1 : x->u.s.n > y->u.s.n;
}

/* ---- JSON context -> values --------------------------------------------- */

/* cJSON keeps every number as a double, but Python's json distinguishes 1
 * from 1.0 and keeps big integers exact. The numbers of the source, in
 * order (the order cJSON's tree lists them depth-first), are scanned here:
 * is_float when the token has '.', 'e' or 'E', else its exact value. */
typedef struct num_tok {
    int is_float, exact; /* exact: the integer fits in int64 */
    int64_t i;
} num_tok;

typedef struct num_scan {
    num_tok *t;
    size_t n, next;
} num_scan;

static void scan_numbers(jj *J, const char *s, size_t n, num_scan *ns)
{
    size_t cap = 0;
    ns->t = NULL;
    ns->n = ns->next = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"') {
            for (i++; i < n && s[i] != '"'; i++)
                if (s[i] == '\\') i++;
            continue;
        }
        if (c != '-' && !(c >= '0' && c <= '9')) continue;
        size_t st = i;
        int isf = 0;
        while (i < n && ((s[i] >= '0' && s[i] <= '9') || strchr("+-.eE", s[i]))) {
            if (s[i] == '.' || s[i] == 'e' || s[i] == 'E') isf = 1;
            i++;
        }
        if (ns->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            num_tok *t = jj_alloc(J, nc * sizeof *t);
            if (ns->n) memcpy(t, ns->t, ns->n * sizeof *t);
            ns->t = t;
            cap = nc;
        }
        num_tok *k = &ns->t[ns->n++];
        k->is_float = isf;
        k->exact = 0;
        k->i = 0;
        if (!isf) {
            char tmp[32];
            size_t len = i - st;
            if (len < sizeof tmp) {
                memcpy(tmp, s + st, len);
                tmp[len] = 0;
                char *end;
                errno = 0;
                long long v = strtoll(tmp, &end, 10);
                if (errno == 0 && *end == 0) {
                    k->exact = 1;
                    k->i = v;
                }
            }
        }
        i--;
    }
}

static value from_cjson(jj *J, const cJSON *c, int depth, num_scan *ns)
{
    if (depth > JJ_MAX_DEPTH) jj_fail(J, SLM_ERR_FORMAT, 0, "context JSON nested too deeply");
    if (cJSON_IsNull(c)) return V_NONEV;
    if (cJSON_IsBool(c)) return mk_bool(cJSON_IsTrue(c));
    if (cJSON_IsNumber(c)) {
        double d = c->valuedouble;
        if (ns->next < ns->n) {
            num_tok *k = &ns->t[ns->next++];
            if (k->is_float) return mk_float(d);
            if (k->exact) return mk_int(k->i);
        }
        if (d == floor(d) && fabs(d) < 9.2e18) return mk_int((int64_t)d);
        return mk_float(d);
    }
    if (cJSON_IsString(c)) return mk_strdup(J, c->valuestring, strlen(c->valuestring));
    if (cJSON_IsArray(c)) {
        vlist *l = list_new(J);
        for (const cJSON *e = c->child; e; e = e->next) list_push(J, l, from_cjson(J, e, depth + 1, ns));
        return mk_list(l);
    }
    if (cJSON_IsObject(c)) {
        vdict *d = dict_new(J);
        for (const cJSON *e = c->child; e; e = e->next)
            dict_set(J, d, mk_strdup(J, e->string, strlen(e->string)), from_cjson(J, e, depth + 1, ns));
        return mk_dict(d);
    }
    return V_NONEV;
}

static value parse_json_text(jj *J, const char *s, size_t n, int *ok)
{
    cJSON *c = cJSON_ParseWithLength(s, n);
    if (!c) {
        *ok = 0;
        return V_UNDEFINED;
    }
    *ok = 1;
    /* from_cjson may longjmp: convert into the arena first, free cJSON after */
    jmp_buf saved;
    memcpy(&saved, &J->jmp, sizeof saved);
    if (setjmp(J->jmp)) {
        cJSON_Delete(c);
        memcpy(&J->jmp, &saved, sizeof saved);
        longjmp(J->jmp, 1);
    }
    num_scan ns;
    scan_numbers(J, s, n, &ns);
    value v = from_cjson(J, c, 0, &ns);
    memcpy(&J->jmp, &saved, sizeof saved);
    cJSON_Delete(c);
    return v;
}

/* ---- lexer ------------------------------------------------------------------ */

typedef enum {
    T_TEXT, T_VAR_BEGIN, T_VAR_END, T_BLOCK_BEGIN, T_BLOCK_END,
    T_NAME, T_STRING, T_INT, T_FLOAT, T_OP, T_EOF
} ttype;

typedef struct token {
    ttype t;
    int line;
    const char *p; /* NUL-terminated (arena): text, name, unescaped string or operator */
    size_t n;
    value num;
} token;

typedef struct lexer {
    jj *J;
    const char *s;
    size_t n, pos;
    int line;
    token *toks;
    size_t nt, cap;
} lexer;

static void lex_push(lexer *L, ttype t, const char *p, size_t n, int line)
{
    jj *J = L->J;
    if (L->nt == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        token *nt = jj_alloc(J, cap * sizeof *nt);
        if (L->nt) memcpy(nt, L->toks, L->nt * sizeof *nt);
        L->toks = nt;
        L->cap = cap;
    }
    token *k = &L->toks[L->nt++];
    memset(k, 0, sizeof *k);
    k->t = t;
    k->line = line;
    k->p = p ? jj_strndup(J, p, n) : "";
    k->n = p ? n : 0;
}

static int count_lines(const char *s, size_t a, size_t b)
{
    int k = 0;
    for (size_t i = a; i < b; i++) k += s[i] == '\n';
    return k;
}

static void lex_text(lexer *L, const char *p, size_t n, int line)
{
    if (n == 0) return;
    if (!memchr(p, '\r', n)) {
        lex_push(L, T_TEXT, p, n, line);
        return;
    }
    buf b = {0};
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\r') {
            buf_puts(L->J, &b, "\n");
            if (i + 1 < n && p[i + 1] == '\n') i++;
        } else buf_put(L->J, &b, p + i, 1);
    }
    lex_push(L, T_TEXT, b.p, b.n, line);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Lex the inside of one {{ }} or {% %}; returns the position after the end
 * delimiter and sets *strip_after for "-}}" / "-%}". */
static void lex_tag(lexer *L, int block, int *strip_after)
{
    jj *J = L->J;
    const char *s = L->s;
    size_t n = L->n, i = L->pos;
    int bal = 0;
    for (;;) {
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) {
            if (s[i] == '\n') L->line++;
            i++;
        }
        if (i >= n) jj_fail(J, SLM_ERR_FORMAT, L->line, "unexpected end of template inside a %s tag",
                            block ? "{% %}" : "{{ }}");
        char e = block ? '%' : '}';
        if (bal == 0) {
            if (s[i] == '-' && i + 2 < n && s[i + 1] == e && s[i + 2] == '}') {
                lex_push(L, block ? T_BLOCK_END : T_VAR_END, NULL, 0, L->line);
                *strip_after = 1;
                L->pos = i + 3;
                return;
            }
            if (s[i] == '+' && block && i + 2 < n && s[i + 1] == e && s[i + 2] == '}') {
                lex_push(L, T_BLOCK_END, NULL, 0, L->line);
                *strip_after = 2; /* +%}: no trim_blocks */
                L->pos = i + 3;
                return;
            }
            if (s[i] == e && i + 1 < n && s[i + 1] == '}') {
                lex_push(L, block ? T_BLOCK_END : T_VAR_END, NULL, 0, L->line);
                *strip_after = 0;
                L->pos = i + 2;
                return;
            }
        }
        char c = s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
            size_t st = i;
            while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                             (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
                i++;
            lex_push(L, T_NAME, s + st, i - st, L->line);
        } else if (c >= '0' && c <= '9') {
            size_t st = i;
            int isf = 0;
            while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_')) i++;
            if (i + 1 < n && s[i] == '.' && s[i + 1] >= '0' && s[i + 1] <= '9') {
                isf = 1;
                i++;
                while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_')) i++;
            }
            if (i < n && (s[i] == 'e' || s[i] == 'E')) {
                size_t j = i + 1;
                if (j < n && (s[j] == '+' || s[j] == '-')) j++;
                if (j < n && s[j] >= '0' && s[j] <= '9') {
                    isf = 1;
                    i = j;
                    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
                }
            }
            char tmp[64];
            size_t k = 0;
            for (size_t j = st; j < i && k < sizeof tmp - 1; j++)
                if (s[j] != '_') tmp[k++] = s[j];
            tmp[k] = 0;
            lex_push(L, isf ? T_FLOAT : T_INT, s + st, i - st, L->line);
            L->toks[L->nt - 1].num = isf ? mk_float(strtod(tmp, NULL)) : mk_int(strtoll(tmp, NULL, 10));
        } else if (c == '\'' || c == '"') {
            int line = L->line;
            buf b = {0};
            i++;
            for (;;) {
                if (i >= n) jj_fail(J, SLM_ERR_FORMAT, line, "unterminated string literal");
                char d = s[i];
                if (d == c) { i++; break; }
                if (d == '\n') L->line++;
                if (d == '\\' && i + 1 < n) {
                    char x = s[i + 1];
                    i += 2;
                    switch (x) {
                    case 'n': buf_puts(J, &b, "\n"); break;
                    case 't': buf_puts(J, &b, "\t"); break;
                    case 'r': buf_puts(J, &b, "\r"); break;
                    case 'b': buf_puts(J, &b, "\b"); break;
                    case 'f': buf_puts(J, &b, "\f"); break;
                    case 'v': buf_puts(J, &b, "\v"); break;
                    case 'a': buf_puts(J, &b, "\a"); break;
                    case '0': buf_put(J, &b, "\0", 1); break;
                    case '\\': buf_puts(J, &b, "\\"); break;
                    case '\'': buf_puts(J, &b, "'"); break;
                    case '"': buf_puts(J, &b, "\""); break;
                    case '\n': L->line++; break;
                    case 'x': case 'u': case 'U': {
                        int nd = x == 'x' ? 2 : x == 'u' ? 4 : 8;
                        uint32_t cp = 0;
                        int k;
                        for (k = 0; k < nd && i + (size_t)k < n && hexval(s[i + k]) >= 0; k++)
                            cp = cp * 16 + (uint32_t)hexval(s[i + k]);
                        if (k != nd || cp > 0x10FFFF)
                            jj_fail(J, SLM_ERR_FORMAT, line, "bad \\%c escape in string literal", x);
                        i += (size_t)nd;
                        put_utf8(J, &b, cp);
                        break;
                    }
                    default: buf_put(J, &b, s + i - 2, 2); break;
                    }
                    continue;
                }
                buf_put(J, &b, s + i, 1);
                i++;
            }
            lex_push(L, T_STRING, b.p, b.n, line);
        } else {
            static const char *ops2[] = {"//", "**", "==", "!=", "<=", ">="};
            size_t len = 0;
            for (size_t k = 0; k < sizeof ops2 / sizeof *ops2; k++)
                if (i + 1 < n && s[i] == ops2[k][0] && s[i + 1] == ops2[k][1]) len = 2;
            if (!len) {
                if (!strchr("+-*/%~<>=()[]{},.:|", c))
                    jj_fail(J, SLM_ERR_FORMAT, L->line, "unexpected character '%c' in a tag", c);
                len = 1;
                if (c == '(' || c == '[' || c == '{') bal++;
                if (c == ')' || c == ']' || c == '}') bal--;
            }
            lex_push(L, T_OP, s + i, len, L->line);
            i += len;
        }
    }
}

static void lex(lexer *L)
{
    const char *s = L->s;
    size_t n = L->n;
    int line_starting = 1;
    L->line = 1;
    while (L->pos < n) {
        size_t k = L->pos;
        int kind = 0; /* 1 var, 2 block, 3 comment */
        while (k + 1 < n) {
            if (s[k] == '{' && (s[k + 1] == '{' || s[k + 1] == '%' || s[k + 1] == '#')) {
                kind = s[k + 1] == '{' ? 1 : s[k + 1] == '%' ? 2 : 3;
                break;
            }
            k++;
        }
        if (!kind) {
            lex_text(L, s + L->pos, n - L->pos, L->line);
            break;
        }
        size_t tlen = k - L->pos;
        char mod = k + 2 < n ? s[k + 2] : 0;
        const char *t = s + L->pos;
        if (mod == '-') {
            while (tlen > 0 && (t[tlen - 1] == ' ' || t[tlen - 1] == '\t' || t[tlen - 1] == '\n' ||
                                t[tlen - 1] == '\r' || t[tlen - 1] == '\f' || t[tlen - 1] == '\v'))
                tlen--;
        } else if (mod != '+' && kind != 1) {
            size_t lpos = tlen;
            while (lpos > 0 && t[lpos - 1] != '\n') lpos--;
            int only_ws = 1;
            for (size_t j = lpos; j < tlen; j++)
                if (t[j] != ' ' && t[j] != '\t') only_ws = 0;
            if (only_ws && (lpos > 0 || line_starting)) tlen = lpos;
        }
        int text_line = L->line;
        lex_text(L, t, tlen, text_line);
        L->line += count_lines(s, L->pos, k);
        size_t body = k + 2 + (mod == '-' || mod == '+');
        int strip_after = 0;
        if (kind == 3) {
            size_t e = body;
            while (e + 1 < n && !(s[e] == '#' && s[e + 1] == '}')) e++;
            if (e + 1 >= n) jj_fail(L->J, SLM_ERR_FORMAT, L->line, "unterminated comment");
            L->line += count_lines(s, body, e);
            strip_after = e > body && s[e - 1] == '-' ? 1 : (e > body && s[e - 1] == '+') ? 2 : 0;
            L->pos = e + 2;
        } else {
            L->pos = body;
            lex_push(L, kind == 1 ? T_VAR_BEGIN : T_BLOCK_BEGIN, NULL, 0, L->line);
            lex_tag(L, kind == 2, &strip_after);
        }
        if (strip_after == 1) {
            while (L->pos < n && (s[L->pos] == ' ' || s[L->pos] == '\t' || s[L->pos] == '\n' ||
                                  s[L->pos] == '\r' || s[L->pos] == '\f' || s[L->pos] == '\v')) {
                if (s[L->pos] == '\n') L->line++;
                L->pos++;
            }
        } else if (strip_after == 0 && kind != 1) {
            if (L->pos < n && s[L->pos] == '\n') {
                L->pos++;
                L->line++;
            } else if (L->pos + 1 < n && s[L->pos] == '\r' && s[L->pos + 1] == '\n') {
                L->pos += 2;
                L->line++;
            }
        }
        line_starting = L->pos > 0 && s[L->pos - 1] == '\n';
    }
    lex_push(L, T_EOF, NULL, 0, L->line);
}

/* ---- AST and parser --------------------------------------------------------- */

typedef enum {
    /* expressions */
    N_CONST, N_NAME, N_ATTR, N_ITEM, N_SLICE, N_CALL, N_FILTER, N_TEST, N_NEG, N_POS, N_NOT,
    N_BIN, N_AND, N_OR, N_COND, N_LIST, N_TUPLE, N_DICT,
    /* statements */
    S_TEXT, S_OUT, S_FOR, S_IF, S_SET, S_SETBLOCK, S_MACRO, S_BREAK, S_CONTINUE, S_SCOPE,
    S_FILTERBLOCK
} nkind;

typedef enum {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_CONCAT,
    OP_EQ, OP_NE, OP_LT, OP_GT, OP_LE, OP_GE, OP_IN, OP_NOTIN
} binop;

struct node {
    nkind kind;
    int line;
    int op;          /* binop; N_TEST: negated */
    const char *name; /* N_NAME, N_ATTR, N_FILTER, N_TEST, S_SET target, S_MACRO name */
    const char *attr; /* S_SET: ns attribute */
    value val;        /* N_CONST, S_TEXT */
    node *a, *b, *c;  /* operands; N_SLICE: a[b:c:d] uses list */
    node **list;      /* args / items / body / params' defaults */
    size_t n;
    node **list2;     /* kw values / dict values / else body */
    size_t n2;
    const char **names; /* kw names / loop targets / macro params */
    size_t nnames;
};

typedef struct parser {
    jj *J;
    token *t;
    size_t pos;
    int depth;
} parser;

static node *new_node(parser *P, nkind k, int line)
{
    node *x = jj_alloc(P->J, sizeof *x);
    memset(x, 0, sizeof *x);
    x->kind = k;
    x->line = line;
    return x;
}

typedef struct nvec {
    node **v;
    size_t n, cap;
} nvec;

static void nvec_push(jj *J, nvec *a, node *x)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4;
        node **nv = jj_alloc(J, cap * sizeof *nv);
        if (a->n) memcpy(nv, a->v, a->n * sizeof *nv);
        a->v = nv;
        a->cap = cap;
    }
    a->v[a->n++] = x;
}

typedef struct svec {
    const char **v;
    size_t n, cap;
} svec;

static void svec_push(jj *J, svec *a, const char *x)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4;
        const char **nv = jj_alloc(J, cap * sizeof *nv);
        if (a->n) memcpy(nv, a->v, a->n * sizeof *nv);
        a->v = nv;
        a->cap = cap;
    }
    a->v[a->n++] = x;
}

static token *peek(parser *P) { return &P->t[P->pos]; }
static token *peek2(parser *P) { return P->t[P->pos].t == T_EOF ? &P->t[P->pos] : &P->t[P->pos + 1]; }
static token *advance(parser *P)
{
    token *k = &P->t[P->pos];
    if (k->t != T_EOF) P->pos++;
    return k;
}
static int is_op(token *k, const char *op) { return k->t == T_OP && strcmp(k->p, op) == 0; }
static int is_name(token *k, const char *nm) { return k->t == T_NAME && strcmp(k->p, nm) == 0; }

static const char *tok_desc(token *k)
{
    switch (k->t) {
    case T_EOF: return "end of template";
    case T_BLOCK_END: return "end of statement block";
    case T_VAR_END: return "end of print statement";
    case T_TEXT: return "template text";
    default: return k->p;
    }
}

static void syntax(parser *P, const char *what)
{
    token *k = peek(P);
    jj_fail(P->J, SLM_ERR_FORMAT, k->line, "syntax error: expected %s, found '%s'", what, tok_desc(k));
}

static void expect_op(parser *P, const char *op)
{
    if (!is_op(peek(P), op)) {
        char w[16];
        snprintf(w, sizeof w, "'%s'", op);
        syntax(P, w);
    }
    advance(P);
}

static const char *expect_name(parser *P)
{
    if (peek(P)->t != T_NAME) syntax(P, "a name");
    return advance(P)->p;
}

static node *parse_expr(parser *P);
static node *parse_unary(parser *P, int with_filter);
static node *parse_or(parser *P);

static void enter(parser *P)
{
    if (++P->depth > JJ_MAX_DEPTH)
        jj_fail(P->J, SLM_ERR_UNSUPPORTED, peek(P)->line, "template nested too deeply");
}

/* (args) with keyword arguments; the '(' is the current token. */
static void parse_args(parser *P, node *call)
{
    jj *J = P->J;
    nvec args = {0}, kw = {0};
    svec kwn = {0};
    expect_op(P, "(");
    while (!is_op(peek(P), ")")) {
        if (args.n + kw.n) expect_op(P, ",");
        if (is_op(peek(P), ")")) break;
        if (peek(P)->t == T_NAME && is_op(peek2(P), "=")) {
            svec_push(J, &kwn, advance(P)->p);
            advance(P);
            nvec_push(J, &kw, parse_expr(P));
        } else {
            if (is_op(peek(P), "*"))
                jj_fail(J, SLM_ERR_UNSUPPORTED, peek(P)->line, "unsupported: *args in a call");
            nvec_push(J, &args, parse_expr(P));
        }
    }
    advance(P);
    call->list = args.v;
    call->n = args.n;
    call->list2 = kw.v;
    call->n2 = kw.n;
    call->names = kwn.v;
    call->nnames = kwn.n;
}

static node *parse_primary(parser *P)
{
    jj *J = P->J;
    token *k = peek(P);
    node *x;
    enter(P);
    if (k->t == T_NAME) {
        advance(P);
        if (!strcmp(k->p, "true") || !strcmp(k->p, "True")) { x = new_node(P, N_CONST, k->line); x->val = mk_bool(1); }
        else if (!strcmp(k->p, "false") || !strcmp(k->p, "False")) { x = new_node(P, N_CONST, k->line); x->val = mk_bool(0); }
        else if (!strcmp(k->p, "none") || !strcmp(k->p, "None")) { x = new_node(P, N_CONST, k->line); x->val = V_NONEV; }
        else { x = new_node(P, N_NAME, k->line); x->name = k->p; }
    } else if (k->t == T_STRING) {
        buf b = {0};
        while (peek(P)->t == T_STRING) {
            token *s = advance(P);
            buf_put(J, &b, s->p, s->n);
        }
        x = new_node(P, N_CONST, k->line);
        x->val = mk_str(b.p ? b.p : "", b.n);
    } else if (k->t == T_INT || k->t == T_FLOAT) {
        advance(P);
        x = new_node(P, N_CONST, k->line);
        x->val = k->num;
    } else if (is_op(k, "(")) {
        advance(P);
        nvec items = {0};
        int tuple = 0;
        while (!is_op(peek(P), ")")) {
            if (items.n) {
                expect_op(P, ",");
                tuple = 1;
                if (is_op(peek(P), ")")) break;
            }
            nvec_push(J, &items, parse_expr(P));
        }
        advance(P);
        if (items.n == 1 && !tuple) x = items.v[0];
        else {
            x = new_node(P, N_TUPLE, k->line);
            x->list = items.v;
            x->n = items.n;
        }
    } else if (is_op(k, "[")) {
        advance(P);
        nvec items = {0};
        while (!is_op(peek(P), "]")) {
            if (items.n) {
                expect_op(P, ",");
                if (is_op(peek(P), "]")) break;
            }
            nvec_push(J, &items, parse_expr(P));
        }
        advance(P);
        x = new_node(P, N_LIST, k->line);
        x->list = items.v;
        x->n = items.n;
    } else if (is_op(k, "{")) {
        advance(P);
        nvec keys = {0}, vals = {0};
        while (!is_op(peek(P), "}")) {
            if (keys.n) {
                expect_op(P, ",");
                if (is_op(peek(P), "}")) break;
            }
            nvec_push(J, &keys, parse_expr(P));
            expect_op(P, ":");
            nvec_push(J, &vals, parse_expr(P));
        }
        advance(P);
        x = new_node(P, N_DICT, k->line);
        x->list = keys.v;
        x->n = keys.n;
        x->list2 = vals.v;
        x->n2 = vals.n;
    } else {
        syntax(P, "an expression");
        return NULL;
    }
    P->depth--;
    return x;
}

static node *parse_postfix(parser *P, node *x)
{
    for (;;) {
        token *k = peek(P);
        if (is_op(k, ".")) {
            advance(P);
            token *a = peek(P);
            node *y = new_node(P, N_ATTR, k->line);
            if (a->t == T_NAME) {
                y->name = advance(P)->p;
            } else if (a->t == T_INT) {
                /* x.0 is x[0] */
                advance(P);
                y->kind = N_ITEM;
                y->b = new_node(P, N_CONST, k->line);
                y->b->val = a->num;
            } else syntax(P, "an attribute name");
            y->a = x;
            x = y;
        } else if (is_op(k, "[")) {
            advance(P);
            node *parts[3] = {NULL, NULL, NULL};
            int np = 0, is_slice = 0;
            for (;;) {
                if (is_op(peek(P), ":")) {
                    advance(P);
                    is_slice = 1;
                    np++;
                    if (np > 2) syntax(P, "']'");
                    continue;
                }
                if (is_op(peek(P), "]")) break;
                if (parts[np]) syntax(P, "':' or ']'");
                parts[np] = parse_expr(P);
            }
            advance(P);
            node *y = new_node(P, is_slice ? N_SLICE : N_ITEM, k->line);
            y->a = x;
            if (is_slice) {
                y->list = jj_alloc(P->J, 3 * sizeof *y->list);
                memcpy(y->list, parts, sizeof parts);
                y->n = 3;
            } else {
                if (!parts[0]) syntax(P, "a subscript");
                y->b = parts[0];
            }
            x = y;
        } else if (is_op(k, "(")) {
            node *y = new_node(P, N_CALL, k->line);
            y->a = x;
            parse_args(P, y);
            x = y;
        } else return x;
    }
}

static node *parse_filters(parser *P, node *x)
{
    for (;;) {
        token *k = peek(P);
        if (is_op(k, "|")) {
            advance(P);
            node *y = new_node(P, N_FILTER, k->line);
            y->name = expect_name(P);
            while (is_op(peek(P), ".")) { /* dotted filter names */
                advance(P);
                char tmp[128];
                snprintf(tmp, sizeof tmp, "%s.%s", y->name, expect_name(P));
                y->name = jj_strndup(P->J, tmp, strlen(tmp));
            }
            y->a = x;
            if (is_op(peek(P), "(")) parse_args(P, y);
            x = y;
        } else if (is_name(k, "is")) {
            advance(P);
            node *y = new_node(P, N_TEST, k->line);
            if (is_name(peek(P), "not")) {
                advance(P);
                y->op = 1;
            }
            y->name = expect_name(P);
            y->a = x;
            token *n = peek(P);
            if (is_op(n, "(")) parse_args(P, y);
            else if ((n->t == T_NAME && strcmp(n->p, "else") && strcmp(n->p, "or") && strcmp(n->p, "and") &&
                      strcmp(n->p, "if") && strcmp(n->p, "is") && strcmp(n->p, "in") && strcmp(n->p, "not")) ||
                     n->t == T_STRING || n->t == T_INT || n->t == T_FLOAT || is_op(n, "[") || is_op(n, "{")) {
                node *arg = parse_postfix(P, parse_primary(P));
                y->list = jj_alloc(P->J, sizeof *y->list);
                y->list[0] = arg;
                y->n = 1;
            }
            x = y;
        } else if (is_op(k, "(")) {
            node *y = new_node(P, N_CALL, k->line);
            y->a = x;
            parse_args(P, y);
            x = y;
        } else return x;
    }
}

static node *parse_unary(parser *P, int with_filter)
{
    token *k = peek(P);
    node *x;
    enter(P);
    if (is_op(k, "-") || is_op(k, "+")) {
        advance(P);
        x = new_node(P, is_op(k, "-") ? N_NEG : N_POS, k->line);
        x->a = parse_unary(P, 0);
    } else {
        x = parse_postfix(P, parse_primary(P));
    }
    if (with_filter) x = parse_filters(P, x);
    P->depth--;
    return x;
}

static node *mk_bin(parser *P, int op, node *a, node *b, int line)
{
    node *x = new_node(P, N_BIN, line);
    x->op = op;
    x->a = a;
    x->b = b;
    return x;
}

static node *parse_pow(parser *P)
{
    node *x = parse_unary(P, 1);
    while (is_op(peek(P), "**")) {
        int line = advance(P)->line;
        x = mk_bin(P, OP_POW, x, parse_unary(P, 1), line);
    }
    return x;
}

static node *parse_math2(parser *P)
{
    node *x = parse_pow(P);
    for (;;) {
        token *k = peek(P);
        int op = is_op(k, "*") ? OP_MUL : is_op(k, "/") ? OP_DIV : is_op(k, "//") ? OP_FLOORDIV
                 : is_op(k, "%") ? OP_MOD : -1;
        if (op < 0) return x;
        advance(P);
        x = mk_bin(P, op, x, parse_pow(P), k->line);
    }
}

static node *parse_concat(parser *P)
{
    node *x = parse_math2(P);
    while (is_op(peek(P), "~")) {
        int line = advance(P)->line;
        x = mk_bin(P, OP_CONCAT, x, parse_math2(P), line);
    }
    return x;
}

static node *parse_math1(parser *P)
{
    node *x = parse_concat(P);
    for (;;) {
        token *k = peek(P);
        int op = is_op(k, "+") ? OP_ADD : is_op(k, "-") ? OP_SUB : -1;
        if (op < 0) return x;
        advance(P);
        x = mk_bin(P, op, x, parse_concat(P), k->line);
    }
}

static node *parse_compare(parser *P)
{
    node *x = parse_math1(P);
    for (;;) {
        token *k = peek(P);
        int op;
        if (is_op(k, "==")) op = OP_EQ;
        else if (is_op(k, "!=")) op = OP_NE;
        else if (is_op(k, "<")) op = OP_LT;
        else if (is_op(k, ">")) op = OP_GT;
        else if (is_op(k, "<=")) op = OP_LE;
        else if (is_op(k, ">=")) op = OP_GE;
        else if (is_name(k, "in")) op = OP_IN;
        else if (is_name(k, "not") && is_name(peek2(P), "in")) {
            advance(P);
            op = OP_NOTIN;
        } else return x;
        advance(P);
        node *y = parse_math1(P);
        x = mk_bin(P, op, x, y, k->line);
    }
}

static node *parse_not(parser *P)
{
    token *k = peek(P);
    if (is_name(k, "not")) {
        advance(P);
        enter(P);
        node *x = new_node(P, N_NOT, k->line);
        x->a = parse_not(P);
        P->depth--;
        return x;
    }
    return parse_compare(P);
}

static node *parse_and(parser *P)
{
    node *x = parse_not(P);
    while (is_name(peek(P), "and")) {
        int line = advance(P)->line;
        node *y = new_node(P, N_AND, line);
        y->a = x;
        y->b = parse_not(P);
        x = y;
    }
    return x;
}

static node *parse_or(parser *P)
{
    node *x = parse_and(P);
    while (is_name(peek(P), "or")) {
        int line = advance(P)->line;
        node *y = new_node(P, N_OR, line);
        y->a = x;
        y->b = parse_and(P);
        x = y;
    }
    return x;
}

static node *parse_expr(parser *P)
{
    enter(P);
    node *x = parse_or(P);
    while (is_name(peek(P), "if")) {
        int line = advance(P)->line;
        node *y = new_node(P, N_COND, line);
        y->a = x;
        y->b = parse_or(P);
        if (is_name(peek(P), "else")) {
            advance(P);
            y->c = parse_expr(P);
        }
        x = y;
    }
    P->depth--;
    return x;
}

/* An expression, or a bare tuple "a, b" (for set / for targets' values). */
static node *parse_tuple_expr(parser *P)
{
    int line = peek(P)->line;
    node *x = parse_expr(P);
    if (!is_op(peek(P), ",")) return x;
    nvec items = {0};
    nvec_push(P->J, &items, x);
    while (is_op(peek(P), ",")) {
        advance(P);
        if (peek(P)->t == T_BLOCK_END || peek(P)->t == T_VAR_END) break;
        nvec_push(P->J, &items, parse_expr(P));
    }
    node *t = new_node(P, N_TUPLE, line);
    t->list = items.v;
    t->n = items.n;
    return t;
}

static void expect_block_end(parser *P)
{
    if (peek(P)->t != T_BLOCK_END) syntax(P, "end of statement block");
    advance(P);
}

/* Parse statements until "{% <one of ends> ...": leaves pos on that name. */
static nvec parse_body(parser *P, const char *const *ends);

static node *parse_statement(parser *P)
{
    jj *J = P->J;
    token *k = peek(P);
    if (k->t != T_NAME) syntax(P, "a statement name");
    const char *w = k->p;
    int line = k->line;
    advance(P);
    node *x;
    if (!strcmp(w, "for")) {
        x = new_node(P, S_FOR, line);
        svec tg = {0};
        int paren = 0;
        if (is_op(peek(P), "(")) { advance(P); paren = 1; }
        svec_push(J, &tg, expect_name(P));
        while (is_op(peek(P), ",")) {
            advance(P);
            svec_push(J, &tg, expect_name(P));
        }
        if (paren) expect_op(P, ")");
        x->names = tg.v;
        x->nnames = tg.n;
        if (!is_name(peek(P), "in")) syntax(P, "'in'");
        advance(P);
        x->a = parse_or(P); /* the iterable: no inline if (that is the loop filter) */
        if (is_name(peek(P), "if")) {
            advance(P);
            x->b = parse_expr(P);
        }
        if (is_name(peek(P), "recursive"))
            jj_fail(J, SLM_ERR_UNSUPPORTED, line, "unsupported: recursive for loops");
        expect_block_end(P);
        static const char *const ends[] = {"endfor", "else", NULL};
        nvec body = parse_body(P, ends);
        x->list = body.v;
        x->n = body.n;
        if (is_name(peek(P), "else")) {
            advance(P);
            expect_block_end(P);
            static const char *const ends2[] = {"endfor", NULL};
            nvec eb = parse_body(P, ends2);
            x->list2 = eb.v;
            x->n2 = eb.n;
        }
        advance(P);
        expect_block_end(P);
        return x;
    }
    if (!strcmp(w, "if")) {
        x = new_node(P, S_IF, line);
        x->a = parse_expr(P);
        expect_block_end(P);
        static const char *const ends[] = {"endif", "elif", "else", NULL};
        nvec body = parse_body(P, ends);
        x->list = body.v;
        x->n = body.n;
        node *cur = x;
        for (;;) {
            token *e = peek(P);
            if (is_name(e, "elif")) {
                advance(P);
                node *y = new_node(P, S_IF, e->line);
                y->a = parse_expr(P);
                expect_block_end(P);
                nvec b2 = parse_body(P, ends);
                y->list = b2.v;
                y->n = b2.n;
                cur->list2 = jj_alloc(J, sizeof *cur->list2);
                cur->list2[0] = y;
                cur->n2 = 1;
                cur = y;
            } else if (is_name(e, "else")) {
                advance(P);
                expect_block_end(P);
                static const char *const ends2[] = {"endif", NULL};
                nvec eb = parse_body(P, ends2);
                cur->list2 = eb.v;
                cur->n2 = eb.n;
            } else {
                advance(P);
                expect_block_end(P);
                return x;
            }
        }
    }
    if (!strcmp(w, "set")) {
        const char *name = expect_name(P);
        const char *attr = NULL;
        if (is_op(peek(P), ".")) {
            advance(P);
            attr = expect_name(P);
        }
        if (is_op(peek(P), ","))
            jj_fail(J, SLM_ERR_UNSUPPORTED, line, "unsupported: {%% set a, b = ... %%} (tuple assignment)");
        if (is_op(peek(P), "=")) {
            advance(P);
            x = new_node(P, S_SET, line);
            x->name = name;
            x->attr = attr;
            x->a = parse_tuple_expr(P);
            expect_block_end(P);
            return x;
        }
        x = new_node(P, S_SETBLOCK, line);
        x->name = name;
        x->attr = attr;
        if (is_op(peek(P), "|")) {
            /* {% set x | filter %} */
            node *f = parse_filters(P, new_node(P, N_CONST, line));
            x->a = f;
        }
        expect_block_end(P);
        static const char *const ends[] = {"endset", NULL};
        nvec body = parse_body(P, ends);
        x->list = body.v;
        x->n = body.n;
        advance(P);
        expect_block_end(P);
        return x;
    }
    if (!strcmp(w, "macro")) {
        x = new_node(P, S_MACRO, line);
        x->name = expect_name(P);
        svec params = {0};
        nvec defs = {0};
        expect_op(P, "(");
        while (!is_op(peek(P), ")")) {
            if (params.n) expect_op(P, ",");
            if (is_op(peek(P), ")")) break;
            svec_push(J, &params, expect_name(P));
            if (is_op(peek(P), "=")) {
                advance(P);
                nvec_push(J, &defs, parse_expr(P));
            } else nvec_push(J, &defs, NULL);
        }
        advance(P);
        expect_block_end(P);
        x->names = params.v;
        x->nnames = params.n;
        x->list2 = defs.v;
        x->n2 = defs.n;
        static const char *const ends[] = {"endmacro", NULL};
        nvec body = parse_body(P, ends);
        x->list = body.v;
        x->n = body.n;
        advance(P);
        expect_block_end(P);
        return x;
    }
    if (!strcmp(w, "break") || !strcmp(w, "continue")) {
        x = new_node(P, w[0] == 'b' ? S_BREAK : S_CONTINUE, line);
        expect_block_end(P);
        return x;
    }
    if (!strcmp(w, "generation")) {
        x = new_node(P, S_SCOPE, line);
        expect_block_end(P);
        static const char *const ends[] = {"endgeneration", NULL};
        nvec body = parse_body(P, ends);
        x->list = body.v;
        x->n = body.n;
        advance(P);
        expect_block_end(P);
        return x;
    }
    if (!strcmp(w, "filter")) {
        x = new_node(P, S_FILTERBLOCK, line);
        /* the filter chain applied to a placeholder constant */
        node *ph = new_node(P, N_CONST, line);
        P->pos--; /* parse "| name(...)" chain: fake the pipe */
        P->t[P->pos].t = T_OP;
        P->t[P->pos].p = "|";
        x->a = parse_filters(P, ph);
        expect_block_end(P);
        static const char *const ends[] = {"endfilter", NULL};
        nvec body = parse_body(P, ends);
        x->list = body.v;
        x->n = body.n;
        x->b = ph;
        advance(P);
        expect_block_end(P);
        return x;
    }
    jj_fail(J, SLM_ERR_UNSUPPORTED, line, "unsupported statement: {%% %s %%}", w);
    return NULL;
}

static nvec parse_body(parser *P, const char *const *ends)
{
    jj *J = P->J;
    nvec body = {0};
    enter(P);
    for (;;) {
        token *k = peek(P);
        if (k->t == T_EOF) {
            if (ends) {
                char w[64];
                snprintf(w, sizeof w, "'{%% %s %%}'", ends[0]);
                syntax(P, w);
            }
            break;
        }
        if (k->t == T_TEXT) {
            advance(P);
            node *x = new_node(P, S_TEXT, k->line);
            x->val = mk_str(k->p, k->n);
            nvec_push(J, &body, x);
        } else if (k->t == T_VAR_BEGIN) {
            advance(P);
            node *x = new_node(P, S_OUT, k->line);
            x->a = parse_tuple_expr(P);
            if (peek(P)->t != T_VAR_END) syntax(P, "end of print statement '}}'");
            advance(P);
            nvec_push(J, &body, x);
        } else if (k->t == T_BLOCK_BEGIN) {
            token *w = peek2(P);
            if (ends && w->t == T_NAME) {
                int hit = 0;
                for (size_t i = 0; ends[i]; i++)
                    if (!strcmp(w->p, ends[i])) hit = 1;
                if (hit) {
                    advance(P);
                    break;
                }
            }
            if (w->t == T_NAME && (!strncmp(w->p, "end", 3) || !strcmp(w->p, "else") || !strcmp(w->p, "elif")))
                jj_fail(J, SLM_ERR_FORMAT, w->line, "syntax error: unexpected '{%% %s %%}'", w->p);
            advance(P);
            nvec_push(J, &body, parse_statement(P));
        } else {
            syntax(P, "template text or a tag");
        }
    }
    P->depth--;
    return body;
}

/* ---- evaluator -------------------------------------------------------------- */

typedef struct scope {
    struct scope *parent;
    vdict *vars;
} scope;

typedef struct ev {
    jj *J;
    scope *globals;
} ev;

static scope *scope_new(jj *J, scope *parent)
{
    scope *s = jj_alloc(J, sizeof *s);
    s->parent = parent;
    s->vars = dict_new(J);
    return s;
}

static value lookup(scope *s, const char *name)
{
    for (; s; s = s->parent) {
        value *v = dict_find_s(s->vars, name);
        if (v) return *v;
    }
    return V_UNDEFINED;
}

static void scope_set(jj *J, scope *s, const char *name, value v)
{
    dict_set(J, s->vars, mk_cstr(name), v);
}

static value eval(ev *E, node *x, scope *s);
static int exec_body(ev *E, node **body, size_t n, scope *s, buf *out);

/* Items of an iterable (list, tuple, generator, string chars, dict keys). */
static vlist *iter_items(ev *E, value v)
{
    jj *J = E->J;
    switch (v.t) {
    case V_UNDEF: return list_new(J);
    case V_LIST: return v.u.l;
    case V_DICT: {
        vlist *l = list_new(J);
        if (v.u.d->ns) RT_FAIL(J, "'Namespace' object is not iterable");
        for (size_t i = 0; i < v.u.d->n; i++) list_push(J, l, v.u.d->k[i]);
        return l;
    }
    case V_STR: {
        vlist *l = list_new(J);
        size_t i = 0;
        while (i < v.u.s.n) {
            size_t st = i;
            utf8_next(v.u.s.p, v.u.s.n, &i);
            list_push(J, l, mk_str(v.u.s.p + st, i - st));
        }
        return l;
    }
    default: RT_FAIL(J, "'%s' object is not iterable", type_name(v));
    }
    return NULL;
}

/* Python comparison for <, sort, min: -1, 0, 1. */
static int val_cmp(ev *E, value a, value b, int casefold)
{
    if (is_num(a) && is_num(b)) {
        double x = num_f(a), y = num_f(b);
        if (a.t != V_FLOAT && b.t != V_FLOAT) {
            int64_t p = num_i(a), q = num_i(b);
            return p < q ? -1 : p > q;
        }
        return x < y ? -1 : x > y;
    }
    if (a.t == V_STR && b.t == V_STR) {
        size_t n = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
        for (size_t i = 0; i < n; i++) {
            unsigned char p = (unsigned char)a.u.s.p[i], q = (unsigned char)b.u.s.p[i];
            if (casefold) {
                if (p >= 'A' && p <= 'Z') p += 32;
                if (q >= 'A' && q <= 'Z') q += 32;
            }
            if (p != q) return p < q ? -1 : 1;
        }
        return a.u.s.n < b.u.s.n ? -1 : a.u.s.n > b.u.s.n;
    }
    if (a.t == V_LIST && b.t == V_LIST) {
        size_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (size_t i = 0; i < n; i++) {
            int c = val_cmp(E, a.u.l->v[i], b.u.l->v[i], casefold);
            if (c) return c;
        }
        return a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n;
    }
    RT_FAIL(E->J, "'<' not supported between instances of '%s' and '%s'", type_name(a), type_name(b));
    return 0;
}

static int contains(ev *E, value hay, value needle)
{
    switch (hay.t) {
    case V_UNDEF: return 0;
    case V_STR:
        if (needle.t != V_STR)
            RT_FAIL(E->J, "'in <string>' requires string as left operand, not %s", type_name(needle));
        if (needle.u.s.n == 0) return 1;
        for (size_t i = 0; i + needle.u.s.n <= hay.u.s.n; i++)
            if (memcmp(hay.u.s.p + i, needle.u.s.p, needle.u.s.n) == 0) return 1;
        return 0;
    case V_DICT: return dict_find(hay.u.d, needle) != NULL;
    case V_LIST:
        for (size_t i = 0; i < hay.u.l->n; i++)
            if (val_eq(hay.u.l->v[i], needle)) return 1;
        return 0;
    default: RT_FAIL(E->J, "argument of type '%s' is not iterable", type_name(hay));
    }
    return 0;
}

static int64_t floordiv_i(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

static void put_html_escaped(jj *J, buf *o, value s)
{
    if (s.markup) {
        buf_put(J, o, s.u.s.p, s.u.s.n);
        return;
    }
    for (size_t i = 0; i < s.u.s.n; i++) {
        char c = s.u.s.p[i];
        switch (c) {
        case '&': buf_puts(J, o, "&amp;"); break;
        case '<': buf_puts(J, o, "&lt;"); break;
        case '>': buf_puts(J, o, "&gt;"); break;
        case '"': buf_puts(J, o, "&#34;"); break;
        case '\'': buf_puts(J, o, "&#39;"); break;
        default: buf_put(J, o, &c, 1);
        }
    }
}

/* Python's printf-style "fmt % args": %s %r %d %i %f %e %g %x %o %c %%,
 * flags - + space 0, width and precision, %(name)s with a dict. */
static value percent_format(ev *E, value fmt, value args)
{
    jj *J = E->J;
    vlist one = {&args, 1, 1, 1, 0};
    vlist *av = args.t == V_LIST && args.u.l->tuple ? args.u.l : &one;
    size_t ai = 0;
    buf o = {0};
    const char *p = fmt.u.s.p;
    size_t n = fmt.u.s.n;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '%') {
            buf_put(J, &o, p + i, 1);
            continue;
        }
        if (++i >= n) RT_FAIL(J, "incomplete format");
        if (p[i] == '%') {
            buf_puts(J, &o, "%");
            continue;
        }
        value v;
        if (p[i] == '(') {
            size_t e = i + 1;
            while (e < n && p[e] != ')') e++;
            if (e >= n || args.t != V_DICT) RT_FAIL(J, "format requires a mapping");
            value *f = dict_find(args.u.d, mk_str(p + i + 1, e - i - 1));
            if (!f) RT_FAIL(J, "format: key '%.*s' missing", (int)(e - i - 1), p + i + 1);
            v = *f;
            i = e + 1;
        } else {
            if (ai >= av->n) RT_FAIL(J, "not enough arguments for format string");
            v = av->v[ai++];
        }
        char spec[32];
        size_t k = 0;
        spec[k++] = '%';
        while (i < n && k < 20 && strchr("-+ 0#", p[i])) spec[k++] = p[i++];
        while (i < n && k < 24 && ((p[i] >= '0' && p[i] <= '9') || p[i] == '.')) spec[k++] = p[i++];
        if (i >= n) RT_FAIL(J, "incomplete format");
        char conv = p[i];
        char tmp[512];
        spec[k] = 0;
        if (conv == 's' || conv == 'r') {
            buf sb = {0};
            if (conv == 's') put_str(J, &sb, v);
            else put_repr(J, &sb, v);
            /* width pads, precision truncates (both in code points) */
            int left = strchr(spec, '-') != NULL;
            const char *dot = strchr(spec, '.');
            const char *w = spec + 1;
            while (*w && strchr("-+ 0#", *w)) w++;
            long width = atol(w);
            size_t len = utf8_len(sb.p ? sb.p : "", sb.n), bytes = sb.n;
            if (dot) {
                long prec = atol(dot + 1);
                if ((size_t)prec < len) {
                    size_t b = 0;
                    for (long c = 0; c < prec; c++) utf8_next(sb.p, sb.n, &b);
                    bytes = b;
                    len = (size_t)prec;
                }
            }
            if (!left)
                for (long c = (long)len; c < width; c++) buf_puts(J, &o, " ");
            buf_put(J, &o, sb.p ? sb.p : "", bytes);
            if (left)
                for (long c = (long)len; c < width; c++) buf_puts(J, &o, " ");
        } else if (strchr("diouxXc", conv)) {
            if (!is_num(v)) RT_FAIL(J, "%%%c format: a number is required, not %s", conv, type_name(v));
            if (conv == 'c') {
                put_utf8(J, &o, (uint32_t)num_i(v));
                continue;
            }
            spec[k++] = 'l';
            spec[k++] = 'l';
            spec[k++] = conv == 'i' || conv == 'u' ? 'd' : conv;
            spec[k] = 0;
            snprintf(tmp, sizeof tmp, spec, (long long)(v.t == V_FLOAT ? (int64_t)v.u.f : num_i(v)));
            buf_puts(J, &o, tmp);
        } else if (strchr("eEfFgG", conv)) {
            if (!is_num(v)) RT_FAIL(J, "%%%c format: a number is required, not %s", conv, type_name(v));
            spec[k++] = conv;
            spec[k] = 0;
            snprintf(tmp, sizeof tmp, spec, num_f(v));
            buf_puts(J, &o, tmp);
        } else {
            RT_FAIL(J, "unsupported format character '%c'", conv);
        }
    }
    if (ai < av->n && args.t != V_DICT) RT_FAIL(J, "not all arguments converted during string formatting");
    return mk_str(o.p ? o.p : "", o.n);
}

static value binop_eval(ev *E, int op, value a, value b)
{
    jj *J = E->J;
    switch (op) {
    case OP_CONCAT: {
        buf o = {0};
        put_str(J, &o, a);
        put_str(J, &o, b);
        return mk_str(o.p ? o.p : "", o.n);
    }
    case OP_EQ: return mk_bool(val_eq(a, b));
    case OP_NE: return mk_bool(!val_eq(a, b));
    case OP_LT: return mk_bool(val_cmp(E, a, b, 0) < 0);
    case OP_GT: return mk_bool(val_cmp(E, a, b, 0) > 0);
    case OP_LE: return mk_bool(val_cmp(E, a, b, 0) <= 0);
    case OP_GE: return mk_bool(val_cmp(E, a, b, 0) >= 0);
    case OP_IN: return mk_bool(contains(E, b, a));
    case OP_NOTIN: return mk_bool(!contains(E, b, a));
    default: break;
    }
    if (a.t == V_UNDEF || b.t == V_UNDEF) RT_FAIL(J, "arithmetic on an undefined value");
    if (op == OP_ADD) {
        if (a.t == V_STR && b.t == V_STR && (a.markup || b.markup)) {
            /* Markup + str escapes the str (and str + Markup too) */
            buf o = {0};
            put_html_escaped(J, &o, a);
            put_html_escaped(J, &o, b);
            value r = mk_str(o.p ? o.p : "", o.n);
            r.markup = 1;
            return r;
        }
        if (a.t == V_STR && b.t == V_STR) {
            char *p = jj_alloc(J, a.u.s.n + b.u.s.n + 1);
            memcpy(p, a.u.s.p, a.u.s.n);
            memcpy(p + a.u.s.n, b.u.s.p, b.u.s.n);
            p[a.u.s.n + b.u.s.n] = 0;
            return mk_str(p, a.u.s.n + b.u.s.n);
        }
        if (a.t == V_LIST && b.t == V_LIST && !a.u.l->generator && !b.u.l->generator) {
            vlist *l = list_new(J);
            for (size_t i = 0; i < a.u.l->n; i++) list_push(J, l, a.u.l->v[i]);
            for (size_t i = 0; i < b.u.l->n; i++) list_push(J, l, b.u.l->v[i]);
            l->tuple = a.u.l->tuple;
            return mk_list(l);
        }
    }
    if (op == OP_MUL && ((a.t == V_STR && (b.t == V_INT || b.t == V_BOOL)) || (b.t == V_STR && (a.t == V_INT || a.t == V_BOOL)))) {
        value s = a.t == V_STR ? a : b;
        int64_t k = a.t == V_STR ? num_i(b) : num_i(a);
        buf o = {0};
        if (k > 0 && (uint64_t)k * s.u.s.n > JJ_MAX_OUTPUT) RT_FAIL(J, "string repetition too large");
        for (int64_t i = 0; i < k; i++) buf_put(J, &o, s.u.s.p, s.u.s.n);
        return mk_str(o.p ? o.p : "", o.n);
    }
    if (op == OP_MOD && a.t == V_STR) return percent_format(E, a, b);
    if (!is_num(a) || !is_num(b)) {
        static const char *names[] = {"+", "-", "*", "/", "//", "%", "**"};
        RT_FAIL(J, "unsupported operand type(s) for %s: '%s' and '%s'", names[op], type_name(a), type_name(b));
    }
    int fl = a.t == V_FLOAT || b.t == V_FLOAT;
    double x = num_f(a), y = num_f(b);
    int64_t p = num_i(a), q = num_i(b);
    switch (op) {
    case OP_ADD:
    case OP_SUB:
    case OP_MUL: {
        if (fl) return mk_float(op == OP_ADD ? x + y : op == OP_SUB ? x - y : x * y);
        int64_t r;
        int ovf = op == OP_ADD ? __builtin_add_overflow(p, q, &r)
                  : op == OP_SUB ? __builtin_sub_overflow(p, q, &r) : __builtin_mul_overflow(p, q, &r);
        if (ovf) RT_FAIL(J, "integer overflow (integers are 64-bit here, unbounded in Python)");
        return mk_int(r);
    }
    case OP_DIV:
        if (y == 0) RT_FAIL(J, "division by zero");
        return mk_float(x / y);
    case OP_FLOORDIV:
        if (y == 0) RT_FAIL(J, "integer division or modulo by zero");
        if (fl) return mk_float(floor(x / y));
        if (p == INT64_MIN && q == -1) RT_FAIL(J, "integer overflow");
        return mk_int(floordiv_i(p, q));
    case OP_MOD:
        if (y == 0) RT_FAIL(J, "integer division or modulo by zero");
        if (fl) {
            double r = fmod(x, y);
            if (r != 0 && ((r < 0) != (y < 0))) r += y;
            return mk_float(r);
        }
        if (p == INT64_MIN && q == -1) return mk_int(0);
        return mk_int(p - floordiv_i(p, q) * q);
    case OP_POW:
        if (!fl && q >= 0) {
            int64_t r = 1;
            for (int64_t i = 0; i < q; i++) {
                if (__builtin_mul_overflow(r, p, &r))
                    RT_FAIL(J, "integer overflow (integers are 64-bit here, unbounded in Python)");
                if (r == 0 || r == 1) break;
                if (r == -1) { r = (q - i - 1) % 2 ? -r : r; break; }
            }
            return mk_int(r);
        }
        return mk_float(pow(x, y));
    }
    return V_NONEV;
}

/* Python-style index normalisation for slices. */
static void slice_bounds(ev *E, node *x, scope *s, int64_t len, int64_t *start, int64_t *stop, int64_t *step)
{
    value v[3];
    for (int k = 0; k < 3; k++) {
        v[k] = x->list[k] ? eval(E, x->list[k], s) : V_NONEV;
        if (v[k].t != V_NONE && v[k].t != V_INT && v[k].t != V_BOOL)
            RT_FAIL(E->J, "slice indices must be integers or None");
    }
    *step = v[2].t == V_NONE ? 1 : num_i(v[2]);
    if (*step == 0) RT_FAIL(E->J, "slice step cannot be zero");
    int64_t lo, hi;
    if (*step > 0) { lo = 0; hi = len; } else { lo = -1; hi = len - 1; }
    if (v[0].t == V_NONE) *start = *step > 0 ? lo : hi;
    else {
        *start = num_i(v[0]);
        if (*start < 0) { *start += len; if (*start < lo) *start = lo; }
        else if (*start > hi) *start = hi;
    }
    if (v[1].t == V_NONE) *stop = *step > 0 ? hi : lo;
    else {
        *stop = num_i(v[1]);
        if (*stop < 0) { *stop += len; if (*stop < lo) *stop = lo; }
        else if (*stop > hi) *stop = hi;
    }
}

/* Byte offsets of each code point of a string (n+1 entries). */
static size_t *cp_offsets(jj *J, value s, size_t *ncp)
{
    size_t n = utf8_len(s.u.s.p, s.u.s.n);
    size_t *off = jj_alloc(J, (n + 1) * sizeof *off);
    size_t i = 0, k = 0;
    while (i < s.u.s.n) {
        off[k++] = i;
        utf8_next(s.u.s.p, s.u.s.n, &i);
    }
    off[k] = s.u.s.n;
    *ncp = n;
    return off;
}

static value getattr_v(ev *E, value obj, const char *name);

static value getitem_v(ev *E, value obj, value key)
{
    jj *J = E->J;
    if (obj.t == V_UNDEF) RT_FAIL(J, "cannot subscript an undefined value");
    if (obj.t == V_DICT) {
        value *p = dict_find(obj.u.d, key);
        if (p) return *p;
    } else if (obj.t == V_LIST && (key.t == V_INT || key.t == V_BOOL)) {
        int64_t i = num_i(key), n = (int64_t)obj.u.l->n;
        if (obj.u.l->generator) RT_FAIL(J, "'generator' object is not subscriptable");
        if (i < 0) i += n;
        if (i >= 0 && i < n) return obj.u.l->v[i];
    } else if (obj.t == V_STR && (key.t == V_INT || key.t == V_BOOL)) {
        size_t ncp;
        size_t *off = cp_offsets(J, obj, &ncp);
        int64_t i = num_i(key), n = (int64_t)ncp;
        if (i < 0) i += n;
        if (i >= 0 && i < n) return mk_str(obj.u.s.p + off[i], off[i + 1] - off[i]);
    } else if (obj.t == V_LOOP && key.t == V_STR) {
        return getattr_v(E, obj, jj_strndup(J, key.u.s.p, key.u.s.n));
    }
    if (key.t == V_STR && obj.t != V_DICT) return getattr_v(E, obj, jj_strndup(J, key.u.s.p, key.u.s.n));
    if (key.t == V_STR && obj.t == V_DICT && obj.u.d->ns) return V_UNDEFINED;
    if (key.t == V_STR) {
        /* dict: the attribute (method) comes second */
        value m = getattr_v(E, obj, jj_strndup(J, key.u.s.p, key.u.s.n));
        return m;
    }
    return V_UNDEFINED;
}

static const char *const str_methods[] = {
    "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "replace",
    "upper", "lower", "title", "capitalize", "format", "find", "rfind", "index", "rindex", "count", "join",
    "isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower", "isnumeric", "isdecimal",
    "removeprefix", "removesuffix", "swapcase", "casefold", "partition", "rpartition", "zfill", "center",
    "ljust", "rjust", "encode", "expandtabs", "istitle", "isidentifier", "isprintable", "format_map",
    "translate", "maketrans", "isascii", NULL};
static const char *const dict_methods[] = {"items", "keys", "values", "get", "copy", NULL};
static const char *const list_methods[] = {"index", "count", "copy", NULL};
static const char *const mutating[] = {"append", "pop", "update", "insert", "extend", "remove", "clear",
                                       "sort", "reverse", "setdefault", "popitem", "add", "discard", NULL};

static int in_names(const char *const *names, const char *s)
{
    for (size_t i = 0; names[i]; i++)
        if (!strcmp(names[i], s)) return 1;
    return 0;
}

static value getattr_v(ev *E, value obj, const char *name)
{
    jj *J = E->J;
    switch (obj.t) {
    case V_UNDEF: RT_FAIL(J, "cannot read attribute '%s' of an undefined value", name);
    case V_STR:
        if (in_names(str_methods, name)) return mk_func(J, F_METHOD, name, obj, NULL);
        break;
    case V_DICT:
        if (obj.u.d->ns) {
            value *p = dict_find_s(obj.u.d, name);
            return p ? *p : V_UNDEFINED;
        }
        if (in_names(dict_methods, name) || in_names(mutating, name))
            return mk_func(J, F_METHOD, name, obj, NULL);
        {
            value *p = dict_find_s(obj.u.d, name);
            if (p) return *p;
        }
        break;
    case V_LIST:
        if (in_names(list_methods, name) || in_names(mutating, name))
            return mk_func(J, F_METHOD, name, obj, NULL);
        break;
    case V_LOOP: {
        vloop *l = obj.u.loop;
        if (!strcmp(name, "index")) return mk_int((int64_t)l->index0 + 1);
        if (!strcmp(name, "index0")) return mk_int((int64_t)l->index0);
        if (!strcmp(name, "first")) return mk_bool(l->index0 == 0);
        if (!strcmp(name, "last")) return mk_bool(l->index0 + 1 == l->length);
        if (!strcmp(name, "length")) return mk_int((int64_t)l->length);
        if (!strcmp(name, "revindex")) return mk_int((int64_t)(l->length - l->index0));
        if (!strcmp(name, "revindex0")) return mk_int((int64_t)(l->length - l->index0 - 1));
        if (!strcmp(name, "depth")) return mk_int(1);
        if (!strcmp(name, "depth0")) return mk_int(0);
        if (!strcmp(name, "previtem")) return l->index0 > 0 ? l->items->v[l->index0 - 1] : V_UNDEFINED;
        if (!strcmp(name, "nextitem"))
            return l->index0 + 1 < l->length ? l->items->v[l->index0 + 1] : V_UNDEFINED;
        if (!strcmp(name, "cycle")) return mk_func(J, F_METHOD, "cycle", obj, NULL);
        break;
    }
    case V_FLOAT:
    case V_INT:
        if (!strcmp(name, "real")) return obj;
        break;
    default: break;
    }
    return V_UNDEFINED;
}

/* ---- calls: arguments, string methods, globals, macros ---------------------- */

typedef struct args {
    value *pos;
    size_t npos;
    const char **kwn;
    value *kw;
    size_t nkw;
} args;

static args eval_args(ev *E, node *call, scope *s, value first, int has_first)
{
    jj *J = E->J;
    args a;
    a.npos = call->n + (has_first ? 1 : 0);
    a.pos = jj_alloc(J, (a.npos + 1) * sizeof *a.pos);
    size_t k = 0;
    if (has_first) a.pos[k++] = first;
    for (size_t i = 0; i < call->n; i++) a.pos[k++] = eval(E, call->list[i], s);
    a.nkw = call->n2;
    a.kwn = call->names;
    a.kw = jj_alloc(J, (a.nkw + 1) * sizeof *a.kw);
    for (size_t i = 0; i < call->n2; i++) a.kw[i] = eval(E, call->list2[i], s);
    return a;
}

/* Argument i by position or keyword name; def if absent. */
static value arg(args *a, size_t i, const char *name, value def)
{
    if (i < a->npos) return a->pos[i];
    for (size_t k = 0; k < a->nkw; k++)
        if (name && !strcmp(a->kwn[k], name)) return a->kw[k];
    return def;
}

static value need_str(ev *E, value v, const char *what)
{
    if (v.t != V_STR) RT_FAIL(E->J, "%s: expected a string, got %s", what, type_name(v));
    return v;
}

static int has_prefix_at(value s, size_t at, value p)
{
    return at + p.u.s.n <= s.u.s.n && memcmp(s.u.s.p + at, p.u.s.p, p.u.s.n) == 0;
}

/* strip / lstrip / rstrip: chars = NULL strips Unicode whitespace. */
static value do_strip(ev *E, value s, value chars, int left, int right)
{
    size_t a = 0, b = s.u.s.n;
    int ws = chars.t == V_NONE || chars.t == V_UNDEF;
    if (!ws) need_str(E, chars, "strip");
    if (left) {
        while (a < b) {
            size_t i = a;
            uint32_t c = utf8_next(s.u.s.p, b, &i);
            int hit;
            if (ws) hit = uni_space(c);
            else {
                hit = 0;
                size_t j = 0;
                while (j < chars.u.s.n)
                    if (utf8_next(chars.u.s.p, chars.u.s.n, &j) == c) hit = 1;
            }
            if (!hit) break;
            a = i;
        }
    }
    if (right) {
        while (b > a) {
            size_t st = b - 1;
            while (st > a && ((unsigned char)s.u.s.p[st] & 0xC0) == 0x80) st--;
            size_t i = st;
            uint32_t c = utf8_next(s.u.s.p, b, &i);
            int hit;
            if (ws) hit = uni_space(c);
            else {
                hit = 0;
                size_t j = 0;
                while (j < chars.u.s.n)
                    if (utf8_next(chars.u.s.p, chars.u.s.n, &j) == c) hit = 1;
            }
            if (!hit) break;
            b = st;
        }
    }
    return mk_str(s.u.s.p + a, b - a);
}

static value do_split(ev *E, value s, value sep, int64_t maxsplit)
{
    jj *J = E->J;
    vlist *l = list_new(J);
    if (sep.t == V_NONE || sep.t == V_UNDEF) {
        size_t i = 0, n = s.u.s.n;
        int64_t splits = 0;
        for (;;) {
            while (i < n) { /* skip whitespace */
                size_t j = i;
                if (!uni_space(utf8_next(s.u.s.p, n, &j))) break;
                i = j;
            }
            if (i >= n) break;
            if (maxsplit >= 0 && splits >= maxsplit) {
                value rest = do_strip(E, mk_str(s.u.s.p + i, n - i), V_NONEV, 0, 1);
                list_push(J, l, rest);
                break;
            }
            size_t st = i;
            while (i < n) {
                size_t j = i;
                if (uni_space(utf8_next(s.u.s.p, n, &j))) break;
                i = j;
            }
            list_push(J, l, mk_str(s.u.s.p + st, i - st));
            splits++;
        }
        return mk_list(l);
    }
    need_str(E, sep, "split");
    if (sep.u.s.n == 0) RT_FAIL(J, "empty separator");
    size_t st = 0, i = 0;
    int64_t splits = 0;
    while (i + sep.u.s.n <= s.u.s.n) {
        if ((maxsplit < 0 || splits < maxsplit) && has_prefix_at(s, i, sep)) {
            list_push(J, l, mk_str(s.u.s.p + st, i - st));
            i += sep.u.s.n;
            st = i;
            splits++;
        } else i++;
    }
    list_push(J, l, mk_str(s.u.s.p + st, s.u.s.n - st));
    return mk_list(l);
}

static value do_replace(ev *E, value s, value old, value new_, int64_t count)
{
    jj *J = E->J;
    need_str(E, old, "replace");
    need_str(E, new_, "replace");
    buf o = {0};
    size_t i = 0;
    int64_t done = 0;
    if (old.u.s.n == 0) {
        /* Python inserts new_ between every character */
        size_t j = 0;
        while (count < 0 || done < count) {
            buf_put(J, &o, new_.u.s.p, new_.u.s.n);
            done++;
            if (j >= s.u.s.n) break;
            size_t st = j;
            utf8_next(s.u.s.p, s.u.s.n, &j);
            buf_put(J, &o, s.u.s.p + st, j - st);
        }
        buf_put(J, &o, s.u.s.p + j, s.u.s.n - j);
        return mk_str(o.p ? o.p : "", o.n);
    }
    while (i < s.u.s.n) {
        if ((count < 0 || done < count) && has_prefix_at(s, i, old)) {
            buf_put(J, &o, new_.u.s.p, new_.u.s.n);
            i += old.u.s.n;
            done++;
        } else {
            buf_put(J, &o, s.u.s.p + i, 1);
            i++;
        }
    }
    return mk_str(o.p ? o.p : "", o.n);
}

/* Simple case mapping: ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic
 * (one code point to one; Python's special cases like ß -> SS are not done). */
static uint32_t cp_upper(uint32_t c)
{
    if (c >= 'a' && c <= 'z') return c - 32;
    if (c < 0x80) return c;
    if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
    if (c == 0xFF) return 0x178;
    if (c == 0xB5) return 0x39C;
    if (c >= 0x100 && c <= 0x17F) {
        int odd_lower = (c <= 0x137) || (c >= 0x14A && c <= 0x177);
        if (odd_lower && (c & 1)) return c - 1;
        if (!odd_lower && c != 0x138 && c != 0x149 && c != 0x178 && !(c & 1)) return c - 1;
        return c;
    }
    if (c >= 0x3B1 && c <= 0x3C9) return c == 0x3C2 ? 0x3A3 : c - 32;
    if (c >= 0x430 && c <= 0x44F) return c - 32;
    if (c >= 0x450 && c <= 0x45F) return c - 80;
    return c;
}

static uint32_t cp_lower(uint32_t c)
{
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c < 0x80) return c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
    if (c == 0x178) return 0xFF;
    if (c >= 0x100 && c <= 0x17F) {
        int even_upper = (c <= 0x137) || (c >= 0x14A && c <= 0x177);
        if (even_upper && !(c & 1)) return c + 1;
        if (!even_upper && c != 0x138 && c != 0x149 && c != 0x178 && c != 0x17F && (c & 1)) return c + 1;
        return c;
    }
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    return c;
}

static value case_map(ev *E, value s, int mode) /* 0 lower, 1 upper, 2 title, 3 capitalize */
{
    jj *J = E->J;
    buf b = {0};
    int start = 1;
    size_t i = 0;
    while (i < s.u.s.n) {
        uint32_t c = utf8_next(s.u.s.p, s.u.s.n, &i);
        int up = mode == 1 || ((mode == 2 || mode == 3) && start);
        uint32_t m = up ? cp_upper(c) : cp_lower(c);
        put_utf8(J, &b, m);
        int alpha = cp_upper(c) != cp_lower(c) || c >= 0x80;
        if (mode == 2) start = !alpha;
        else if (mode == 3) start = 0;
    }
    return mk_str(b.p ? b.p : "", b.n);
}

static value str_format(ev *E, value fmt, args *a)
{
    jj *J = E->J;
    buf o = {0};
    size_t auto_i = 0;
    const char *p = fmt.u.s.p;
    size_t n = fmt.u.s.n;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '{' && i + 1 < n && p[i + 1] == '{') { buf_puts(J, &o, "{"); i++; continue; }
        if (p[i] == '}' && i + 1 < n && p[i + 1] == '}') { buf_puts(J, &o, "}"); i++; continue; }
        if (p[i] != '{') { buf_put(J, &o, p + i, 1); continue; }
        size_t e = i + 1;
        while (e < n && p[e] != '}') e++;
        if (e >= n) RT_FAIL(J, "format: single '{' encountered in format string");
        const char *f = p + i + 1;
        size_t fl = e - i - 1;
        value v;
        if (fl == 0) v = arg(a, auto_i++, NULL, V_UNDEFINED);
        else if (f[0] >= '0' && f[0] <= '9') v = arg(a, (size_t)atoi(f), NULL, V_UNDEFINED);
        else {
            char nm[64];
            snprintf(nm, sizeof nm, "%.*s", (int)fl, f);
            v = arg(a, (size_t)-1, nm, V_UNDEFINED);
        }
        if (v.t == V_UNDEF) RT_FAIL(J, "format: replacement field {%.*s} has no argument", (int)fl, f);
        put_str(J, &o, v);
        i = e;
    }
    return mk_str(o.p ? o.p : "", o.n);
}

static value call_str_method(ev *E, value s, const char *m, args *a)
{
    jj *J = E->J;
    if (!strcmp(m, "strip")) return do_strip(E, s, arg(a, 0, "chars", V_NONEV), 1, 1);
    if (!strcmp(m, "lstrip")) return do_strip(E, s, arg(a, 0, "chars", V_NONEV), 1, 0);
    if (!strcmp(m, "rstrip")) return do_strip(E, s, arg(a, 0, "chars", V_NONEV), 0, 1);
    if (!strcmp(m, "split") || !strcmp(m, "rsplit")) {
        value ms = arg(a, 1, "maxsplit", mk_int(-1));
        value sep = arg(a, 0, "sep", V_NONEV);
        if (!strcmp(m, "rsplit") && num_i(ms) >= 0 && sep.t == V_STR) {
            /* rsplit with a limit: split from the right */
            vlist *all = do_split(E, s, sep, -1).u.l;
            int64_t keep = (int64_t)all->n - num_i(ms);
            if (keep <= 1) return mk_list(all);
            vlist *l = list_new(J);
            buf o = {0};
            for (int64_t i = 0; i < keep; i++) {
                if (i) buf_put(J, &o, sep.u.s.p, sep.u.s.n);
                buf_put(J, &o, all->v[i].u.s.p, all->v[i].u.s.n);
            }
            list_push(J, l, mk_str(o.p ? o.p : "", o.n));
            for (size_t i = (size_t)keep; i < all->n; i++) list_push(J, l, all->v[i]);
            return mk_list(l);
        }
        return do_split(E, s, sep, num_i(ms));
    }
    if (!strcmp(m, "splitlines")) {
        vlist *l = list_new(J);
        size_t st = 0, i = 0;
        while (i < s.u.s.n) {
            if (s.u.s.p[i] == '\n' || s.u.s.p[i] == '\r') {
                list_push(J, l, mk_str(s.u.s.p + st, i - st));
                if (s.u.s.p[i] == '\r' && i + 1 < s.u.s.n && s.u.s.p[i + 1] == '\n') i++;
                st = ++i;
            } else i++;
        }
        if (st < s.u.s.n) list_push(J, l, mk_str(s.u.s.p + st, s.u.s.n - st));
        return mk_list(l);
    }
    if (!strcmp(m, "startswith") || !strcmp(m, "endswith")) {
        value p = arg(a, 0, NULL, V_UNDEFINED);
        vlist one = {&p, 1, 1, 1, 0};
        vlist *cands = p.t == V_LIST ? p.u.l : &one;
        for (size_t i = 0; i < cands->n; i++) {
            value c = need_str(E, cands->v[i], m);
            if (c.u.s.n > s.u.s.n) continue;
            size_t at = m[0] == 's' ? 0 : s.u.s.n - c.u.s.n;
            if (has_prefix_at(s, at, c)) return mk_bool(1);
        }
        return mk_bool(0);
    }
    if (!strcmp(m, "replace"))
        return do_replace(E, s, arg(a, 0, "old", V_UNDEFINED), arg(a, 1, "new", V_UNDEFINED),
                          num_i(arg(a, 2, "count", mk_int(-1))));
    if (!strcmp(m, "upper")) return case_map(E, s, 1);
    if (!strcmp(m, "lower") || !strcmp(m, "casefold")) return case_map(E, s, 0);
    if (!strcmp(m, "title")) return case_map(E, s, 2);
    if (!strcmp(m, "capitalize")) return case_map(E, s, 3);
    if (!strcmp(m, "format")) return str_format(E, s, a);
    if (!strcmp(m, "find") || !strcmp(m, "rfind") || !strcmp(m, "index") || !strcmp(m, "rindex") ||
        !strcmp(m, "count")) {
        value sub = need_str(E, arg(a, 0, NULL, V_UNDEFINED), m);
        int64_t found = -1, cnt = 0;
        for (size_t i = 0; i + sub.u.s.n <= s.u.s.n; i++) {
            if (has_prefix_at(s, i, sub)) {
                if (found < 0 || m[0] == 'r') found = (int64_t)i;
                cnt++;
                if (m[0] == 'c' && sub.u.s.n) i += sub.u.s.n - 1;
            }
        }
        if (m[0] == 'c') return mk_int(cnt);
        if (found >= 0) found = (int64_t)utf8_len(s.u.s.p, (size_t)found);
        if (found < 0 && (!strcmp(m, "index") || !strcmp(m, "rindex"))) RT_FAIL(J, "substring not found");
        return mk_int(found);
    }
    if (!strcmp(m, "join")) {
        vlist *l = iter_items(E, arg(a, 0, NULL, V_UNDEFINED));
        buf o = {0};
        for (size_t i = 0; i < l->n; i++) {
            if (i) buf_put(J, &o, s.u.s.p, s.u.s.n);
            buf_put(J, &o, need_str(E, l->v[i], "join").u.s.p, l->v[i].u.s.n);
        }
        return mk_str(o.p ? o.p : "", o.n);
    }
    if (!strncmp(m, "is", 2)) {
        if (s.u.s.n == 0) return mk_bool(0);
        int ok = 1;
        for (size_t i = 0; i < s.u.s.n; i++) {
            unsigned char c = (unsigned char)s.u.s.p[i];
            int d = c >= '0' && c <= '9', al = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
            if (!strcmp(m, "isdigit") || !strcmp(m, "isnumeric") || !strcmp(m, "isdecimal")) ok &= d;
            else if (!strcmp(m, "isalpha")) ok &= al;
            else if (!strcmp(m, "isalnum")) ok &= al || d;
            else if (!strcmp(m, "isspace")) ok &= c == ' ' || (c >= 9 && c <= 13);
            else if (!strcmp(m, "isupper")) ok &= !(c >= 'a' && c <= 'z');
            else if (!strcmp(m, "islower")) ok &= !(c >= 'A' && c <= 'Z');
            else if (!strcmp(m, "isascii")) ok &= c < 0x80;
            else RT_FAIL(J, "unsupported string method '%s'", m);
        }
        return mk_bool(ok);
    }
    if (!strcmp(m, "removeprefix") || !strcmp(m, "removesuffix")) {
        value p = need_str(E, arg(a, 0, NULL, V_UNDEFINED), m);
        if (p.u.s.n <= s.u.s.n) {
            if (m[6] == 'p' && has_prefix_at(s, 0, p)) return mk_str(s.u.s.p + p.u.s.n, s.u.s.n - p.u.s.n);
            if (m[6] == 's' && has_prefix_at(s, s.u.s.n - p.u.s.n, p)) return mk_str(s.u.s.p, s.u.s.n - p.u.s.n);
        }
        return s;
    }
    RT_FAIL(J, "unsupported string method '%s'", m);
    return V_NONEV;
}

static value call_value(ev *E, value fn, args *a, node *where, scope *s);

static value call_method(ev *E, vfunc *f, args *a, scope *s)
{
    jj *J = E->J;
    value self = f->self;
    const char *m = f->name;
    if (in_names(mutating, m) && self.t != V_LOOP)
        RT_FAIL(J, "access to attribute '%s' of '%s' object is unsafe", m, type_name(self));
    if (self.t == V_STR) return call_str_method(E, self, m, a);
    if (self.t == V_DICT) {
        vdict *d = self.u.d;
        if (!strcmp(m, "items")) {
            vlist *l = list_new(J);
            for (size_t i = 0; i < d->n; i++) {
                vlist *t = list_new(J);
                t->tuple = 1;
                list_push(J, t, d->k[i]);
                list_push(J, t, d->v[i]);
                list_push(J, l, mk_list(t));
            }
            return mk_list(l);
        }
        if (!strcmp(m, "keys") || !strcmp(m, "values")) {
            vlist *l = list_new(J);
            for (size_t i = 0; i < d->n; i++) list_push(J, l, m[0] == 'k' ? d->k[i] : d->v[i]);
            return mk_list(l);
        }
        if (!strcmp(m, "get")) {
            value *p = dict_find(d, arg(a, 0, NULL, V_UNDEFINED));
            return p ? *p : arg(a, 1, "default", V_NONEV);
        }
        if (!strcmp(m, "copy")) {
            vdict *c = dict_new(J);
            for (size_t i = 0; i < d->n; i++) dict_set(J, c, d->k[i], d->v[i]);
            return mk_dict(c);
        }
    }
    if (self.t == V_LIST) {
        if (!strcmp(m, "index") || !strcmp(m, "count")) {
            value x = arg(a, 0, NULL, V_UNDEFINED);
            int64_t c = 0;
            for (size_t i = 0; i < self.u.l->n; i++)
                if (val_eq(self.u.l->v[i], x)) {
                    if (m[0] == 'i') return mk_int((int64_t)i);
                    c++;
                }
            if (m[0] == 'i') RT_FAIL(J, "value is not in list");
            return mk_int(c);
        }
        if (!strcmp(m, "copy")) {
            vlist *l = list_new(J);
            for (size_t i = 0; i < self.u.l->n; i++) list_push(J, l, self.u.l->v[i]);
            return mk_list(l);
        }
    }
    if (self.t == V_LOOP && !strcmp(m, "cycle")) {
        if (a->npos == 0) RT_FAIL(J, "no items for cycling given");
        return a->pos[self.u.loop->index0 % a->npos];
    }
    RT_FAIL(J, "unsupported method '%s' of %s", m, type_name(self));
    return V_NONEV;
}

static value call_builtin(ev *E, const char *name, args *a)
{
    jj *J = E->J;
    if (!strcmp(name, "raise_exception")) {
        value m = to_string(J, arg(a, 0, NULL, mk_cstr("")));
        jj_fail(J, SLM_ERR_FORMAT, J->cur_line, "raise_exception: %.*s", (int)(m.u.s.n > 360 ? 360 : m.u.s.n), m.u.s.p);
    }
    if (!strcmp(name, "namespace") || !strcmp(name, "dict")) {
        vdict *d = dict_new(J);
        d->ns = name[0] == 'n';
        for (size_t i = 0; i < a->npos; i++) {
            value p = a->pos[i];
            if (p.t != V_DICT) RT_FAIL(J, "%s() positional argument must be a dict", name);
            for (size_t k = 0; k < p.u.d->n; k++) dict_set(J, d, p.u.d->k[k], p.u.d->v[k]);
        }
        for (size_t i = 0; i < a->nkw; i++) dict_set(J, d, mk_cstr(a->kwn[i]), a->kw[i]);
        return mk_dict(d);
    }
    if (!strcmp(name, "range")) {
        int64_t start = 0, stop, step = 1;
        for (size_t i = 0; i < a->npos; i++)
            if (a->pos[i].t != V_INT && a->pos[i].t != V_BOOL)
                RT_FAIL(J, "range() arguments must be integers, not %s", type_name(a->pos[i]));
        if (a->npos == 1) stop = num_i(a->pos[0]);
        else if (a->npos == 2 || a->npos == 3) {
            start = num_i(a->pos[0]);
            stop = num_i(a->pos[1]);
            if (a->npos == 3) step = num_i(a->pos[2]);
        } else RT_FAIL(J, "range() expects 1 to 3 arguments");
        if (step == 0) RT_FAIL(J, "range() arg 3 must not be zero");
        vlist *l = list_new(J);
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
            if (l->n >= 1000000) RT_FAIL(J, "range() too large");
            list_push(J, l, mk_int(i));
        }
        return mk_list(l);
    }
    if (!strcmp(name, "strftime_now")) {
        value f = need_str(E, arg(a, 0, NULL, V_UNDEFINED), "strftime_now");
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        tm.tm_year = 2024 - 1900;
        tm.tm_mon = 6;
        tm.tm_mday = 26;
        tm.tm_wday = 5;
        tm.tm_yday = 207;
        char fmt[256], outb[512];
        snprintf(fmt, sizeof fmt, "%.*s", (int)f.u.s.n, f.u.s.p);
        size_t n = strftime(outb, sizeof outb, fmt, &tm);
        return mk_strdup(J, outb, n);
    }
    RT_FAIL(J, "'%s' is not callable", name);
    return V_NONEV;
}

static value call_macro(ev *E, node *m, args *a)
{
    jj *J = E->J;
    if (++J->depth > JJ_MAX_DEPTH) RT_FAIL(J, "macro calls nested too deeply");
    scope *s = scope_new(J, E->globals);
    if (a->npos > m->nnames) RT_FAIL(J, "macro '%s' takes not more than %zu argument(s)", m->name, m->nnames);
    for (size_t i = 0; i < m->nnames; i++) {
        value v = V_UNDEFINED;
        int have = 0;
        if (i < a->npos) { v = a->pos[i]; have = 1; }
        for (size_t k = 0; k < a->nkw; k++)
            if (!strcmp(a->kwn[k], m->names[i])) { v = a->kw[k]; have = 1; }
        if (!have && m->list2[i]) v = eval(E, m->list2[i], s);
        scope_set(J, s, m->names[i], v);
    }
    for (size_t k = 0; k < a->nkw; k++) {
        size_t i;
        for (i = 0; i < m->nnames; i++)
            if (!strcmp(a->kwn[k], m->names[i])) break;
        if (i == m->nnames) RT_FAIL(J, "macro '%s' takes no keyword argument '%s'", m->name, a->kwn[k]);
    }
    buf out = {0};
    exec_body(E, m->list, m->n, s, &out);
    J->depth--;
    return mk_str(out.p ? out.p : "", out.n);
}

static value call_value(ev *E, value fn, args *a, node *where, scope *s)
{
    jj *J = E->J;
    if (++J->steps > JJ_MAX_STEPS) RT_FAIL(J, "template runs too long");
    if (fn.t != V_FUNC) {
        if (fn.t == V_UNDEF && where && where->a && where->a->kind == N_NAME)
            RT_FAIL(J, "'%s' is undefined", where->a->name);
        if (fn.t == V_UNDEF && where && where->a && where->a->kind == N_ATTR)
            RT_FAIL(J, "'%s' is undefined or not a callable method", where->a->name);
        RT_FAIL(J, "'%s' object is not callable", type_name(fn));
    }
    switch (fn.u.fn->kind) {
    case F_MACRO: return call_macro(E, fn.u.fn->macro, a);
    case F_BUILTIN: return call_builtin(E, fn.u.fn->name, a);
    case F_METHOD: return call_method(E, fn.u.fn, a, s);
    }
    return V_NONEV;
}

/* ---- filters and tests --------------------------------------------------------- */

static int apply_test(ev *E, const char *name, value v, args *a, int line);

static value apply_filter(ev *E, const char *name, value v, args *a, int line, scope *s);

static vlist *list_of(ev *E, value v)
{
    vlist *src = iter_items(E, v), *l = list_new(E->J);
    for (size_t i = 0; i < src->n; i++) list_push(E->J, l, src->v[i]);
    return l;
}

/* Attribute lookup used by selectattr/map/sort/join(attribute=): "a.b" paths, items. */
static value attr_path(ev *E, value v, value attr)
{
    if (attr.t == V_INT) return getitem_v(E, v, attr);
    need_str(E, attr, "attribute");
    size_t st = 0;
    for (size_t i = 0; i <= attr.u.s.n; i++) {
        if (i == attr.u.s.n || attr.u.s.p[i] == '.') {
            value key = mk_str(attr.u.s.p + st, i - st);
            int isnum = i > st;
            for (size_t k = st; k < i; k++)
                if (attr.u.s.p[k] < '0' || attr.u.s.p[k] > '9') isnum = 0;
            if (isnum) key = mk_int(strtoll(jj_strndup(E->J, attr.u.s.p + st, i - st), NULL, 10));
            if (v.t == V_UNDEF) return v;
            v = getitem_v(E, v, key);
            st = i + 1;
        }
    }
    return v;
}

static void sort_values(ev *E, value *v, size_t n, value attr, int casefold, int reverse)
{
    /* stable insertion sort (lists in templates are short) */
    for (size_t i = 1; i < n; i++) {
        value x = v[i];
        value kx = attr.t == V_NONE ? x : attr_path(E, x, attr);
        size_t j = i;
        while (j > 0) {
            value ky = attr.t == V_NONE ? v[j - 1] : attr_path(E, v[j - 1], attr);
            int c = val_cmp(E, ky, kx, casefold);
            if (reverse ? c >= 0 : c <= 0) break;
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

static value apply_filter(ev *E, const char *f, value v, args *a, int line, scope *s)
{
    jj *J = E->J;
    J->cur_line = line;
    if (!strcmp(f, "tojson")) {
        json_opts o = {NULL, ", ", ": ", 0, 0};
        value ind = arg(a, 0, "indent", V_NONEV);
        char spaces[64];
        if (ind.t == V_INT) {
            int64_t k = ind.u.i < 0 ? 0 : ind.u.i > 60 ? 60 : ind.u.i;
            memset(spaces, ' ', (size_t)k);
            spaces[k] = 0;
            o.indent = spaces;
        } else if (ind.t == V_STR) o.indent = jj_strndup(J, ind.u.s.p, ind.u.s.n);
        else if (ind.t != V_NONE) RT_FAIL(J, "tojson: indent must be an int or a string");
        if (o.indent) o.item_sep = ",";
        value sep = arg(a, 2, "separators", V_NONEV);
        if (sep.t == V_LIST && sep.u.l->n == 2 && sep.u.l->v[0].t == V_STR && sep.u.l->v[1].t == V_STR) {
            o.item_sep = jj_strndup(J, sep.u.l->v[0].u.s.p, sep.u.l->v[0].u.s.n);
            o.key_sep = jj_strndup(J, sep.u.l->v[1].u.s.p, sep.u.l->v[1].u.s.n);
        }
        o.ascii = truthy(arg(a, 1, "ensure_ascii", mk_bool(0)));
        o.sort_keys = truthy(arg(a, 3, "sort_keys", mk_bool(0)));
        buf b = {0};
        put_json(J, &b, v, &o, 0);
        return mk_str(b.p ? b.p : "", b.n);
    }
    if (!strcmp(f, "length") || !strcmp(f, "count")) {
        switch (v.t) {
        case V_UNDEF: return mk_int(0);
        case V_STR: return mk_int((int64_t)utf8_len(v.u.s.p, v.u.s.n));
        case V_LIST:
            if (v.u.l->generator) RT_FAIL(J, "object of type 'generator' has no len()");
            return mk_int((int64_t)v.u.l->n);
        case V_DICT:
            if (!v.u.d->ns) return mk_int((int64_t)v.u.d->n);
            /* fall through */
        default: RT_FAIL(J, "object of type '%s' has no len()", type_name(v));
        }
    }
    if (!strcmp(f, "trim")) return do_strip(E, to_string(J, v), arg(a, 0, "chars", V_NONEV), 1, 1);
    if (!strcmp(f, "string")) return to_string(J, v);
    if (!strcmp(f, "safe")) {
        value r = to_string(J, v);
        r.markup = 1;
        return r;
    }
    if (!strcmp(f, "default") || !strcmp(f, "d")) {
        int boolean = truthy(arg(a, 1, "boolean", mk_bool(0)));
        if (v.t == V_UNDEF || (boolean && !truthy(v))) return arg(a, 0, "default_value", mk_cstr(""));
        return v;
    }
    if (!strcmp(f, "join")) {
        value sep = to_string(J, arg(a, 0, "d", mk_cstr("")));
        value attr = arg(a, 1, "attribute", V_NONEV);
        vlist *l = iter_items(E, v);
        buf b = {0};
        for (size_t i = 0; i < l->n; i++) {
            if (i) buf_put(J, &b, sep.u.s.p, sep.u.s.n);
            put_str(J, &b, attr.t == V_NONE ? l->v[i] : attr_path(E, l->v[i], attr));
        }
        return mk_str(b.p ? b.p : "", b.n);
    }
    if (!strcmp(f, "items")) {
        if (v.t == V_UNDEF) return mk_list(list_new(J));
        if (v.t != V_DICT || v.u.d->ns) RT_FAIL(J, "Can only get item pairs from a mapping.");
        args none = {0};
        vfunc fn = {F_METHOD, "items", v, NULL};
        return call_method(E, &fn, &none, s);
    }
    if (!strcmp(f, "list")) return mk_list(list_of(E, v));
    if (!strcmp(f, "lower")) return case_map(E, to_string(J, v), 0);
    if (!strcmp(f, "upper")) return case_map(E, to_string(J, v), 1);
    if (!strcmp(f, "title")) return case_map(E, to_string(J, v), 2);
    if (!strcmp(f, "capitalize")) return case_map(E, to_string(J, v), 3);
    if (!strcmp(f, "replace"))
        return do_replace(E, to_string(J, v), to_string(J, arg(a, 0, "old", mk_cstr(""))),
                          to_string(J, arg(a, 1, "new", mk_cstr(""))), num_i(arg(a, 2, "count", mk_int(-1))));
    if (!strcmp(f, "selectattr") || !strcmp(f, "rejectattr") || !strcmp(f, "select") || !strcmp(f, "reject")) {
        int by_attr = strstr(f, "attr") != NULL, want = f[0] == 's';
        vlist *src = truthy(v) ? iter_items(E, v) : list_new(J), *l = list_new(J);
        size_t base = by_attr ? 1 : 0;
        value attr = by_attr ? arg(a, 0, "attribute", V_UNDEFINED) : V_NONEV;
        value tname = arg(a, base, NULL, V_UNDEFINED);
        args targs = {a->pos + (a->npos > base + 1 ? base + 1 : a->npos), a->npos > base + 1 ? a->npos - base - 1 : 0, NULL, NULL, 0};
        for (size_t i = 0; i < src->n; i++) {
            value x = by_attr ? attr_path(E, src->v[i], attr) : src->v[i];
            int ok;
            if (tname.t == V_UNDEF) ok = truthy(x);
            else ok = apply_test(E, jj_strndup(J, need_str(E, tname, f).u.s.p, tname.u.s.n), x, &targs, line);
            if (ok == want) list_push(J, l, src->v[i]);
        }
        l->generator = 1;
        return mk_list(l);
    }
    if (!strcmp(f, "map")) {
        vlist *src = truthy(v) ? iter_items(E, v) : list_new(J), *l = list_new(J);
        value attr = arg(a, (size_t)-1, "attribute", V_UNDEFINED);
        for (size_t i = 0; i < src->n; i++) {
            if (attr.t != V_UNDEF) {
                value x = attr_path(E, src->v[i], attr);
                if (x.t == V_UNDEF) x = arg(a, (size_t)-1, "default", V_UNDEFINED);
                list_push(J, l, x);
            } else {
                value fname = need_str(E, arg(a, 0, NULL, V_UNDEFINED), "map");
                args fa = {a->pos + 1, a->npos - 1, a->kwn, a->kw, a->nkw};
                list_push(J, l, apply_filter(E, jj_strndup(J, fname.u.s.p, fname.u.s.n), src->v[i], &fa, line, s));
            }
        }
        l->generator = 1;
        return mk_list(l);
    }
    if (!strcmp(f, "dictsort")) {
        if (v.t != V_DICT) RT_FAIL(J, "You can only sort by either \"key\" or \"value\"");
        int cs = truthy(arg(a, 0, "case_sensitive", mk_bool(0)));
        value by = arg(a, 1, "by", mk_cstr("key"));
        int rev = truthy(arg(a, 2, "reverse", mk_bool(0)));
        args none = {0};
        vfunc fn = {F_METHOD, "items", v, NULL};
        vlist *l = call_method(E, &fn, &none, s).u.l;
        sort_values(E, l->v, l->n, mk_int(str_eq(by, "value") ? 1 : 0), !cs, rev);
        return mk_list(l);
    }
    if (!strcmp(f, "sort")) {
        vlist *l = list_of(E, v);
        int rev = truthy(arg(a, 0, "reverse", mk_bool(0)));
        int cs = truthy(arg(a, 1, "case_sensitive", mk_bool(0)));
        sort_values(E, l->v, l->n, arg(a, 2, "attribute", V_NONEV), !cs, rev);
        return mk_list(l);
    }
    if (!strcmp(f, "unique")) {
        vlist *src = iter_items(E, v), *l = list_new(J);
        int cs = truthy(arg(a, 0, "case_sensitive", mk_bool(0)));
        for (size_t i = 0; i < src->n; i++) {
            value x = src->v[i];
            int seen = 0;
            for (size_t k = 0; k < l->n && !seen; k++) {
                value y = l->v[k];
                if (!cs && x.t == V_STR && y.t == V_STR) seen = val_cmp(E, x, y, 1) == 0;
                else seen = val_eq(x, y);
            }
            if (!seen) list_push(J, l, x);
        }
        l->generator = 1;
        return mk_list(l);
    }
    if (!strcmp(f, "min") || !strcmp(f, "max")) {
        vlist *l = list_of(E, v);
        if (l->n == 0) return V_UNDEFINED;
        int cs = truthy(arg(a, 0, "case_sensitive", mk_bool(0)));
        value attr = arg(a, 1, "attribute", V_NONEV);
        value best = l->v[0];
        for (size_t i = 1; i < l->n; i++) {
            value x = attr.t == V_NONE ? l->v[i] : attr_path(E, l->v[i], attr);
            value y = attr.t == V_NONE ? best : attr_path(E, best, attr);
            int c = val_cmp(E, x, y, !cs);
            if (f[1] == 'i' ? c < 0 : c > 0) best = l->v[i];
        }
        return best;
    }
    if (!strcmp(f, "first")) {
        vlist *l = iter_items(E, v);
        return l->n ? l->v[0] : V_UNDEFINED;
    }
    if (!strcmp(f, "last")) {
        vlist *l = iter_items(E, v);
        return l->n ? l->v[l->n - 1] : V_UNDEFINED;
    }
    if (!strcmp(f, "reverse")) {
        if (v.t == V_STR) {
            vlist *cs = iter_items(E, v);
            buf b = {0};
            for (size_t i = cs->n; i-- > 0;) buf_put(J, &b, cs->v[i].u.s.p, cs->v[i].u.s.n);
            return mk_str(b.p ? b.p : "", b.n);
        }
        vlist *src = iter_items(E, v), *l = list_new(J);
        for (size_t i = src->n; i-- > 0;) list_push(J, l, src->v[i]);
        l->generator = 1;
        return mk_list(l);
    }
    if (!strcmp(f, "int")) {
        value def = arg(a, 0, "default", mk_int(0));
        if (v.t == V_INT) return v;
        if (v.t == V_BOOL) return mk_int(v.u.b);
        if (v.t == V_FLOAT) return isfinite(v.u.f) ? mk_int((int64_t)v.u.f) : def;
        if (v.t == V_STR) {
            char *t = jj_strndup(J, v.u.s.p, v.u.s.n), *end;
            long long k = strtoll(t, &end, 10);
            while (*end == ' ' || *end == '\n' || *end == '\t') end++;
            if (end != t && !*end) return mk_int(k);
            double d = strtod(t, &end);
            if (end != t && !*end && isfinite(d)) return mk_int((int64_t)d);
        }
        return def;
    }
    if (!strcmp(f, "float")) {
        value def = arg(a, 0, "default", mk_float(0));
        if (is_num(v)) return mk_float(num_f(v));
        if (v.t == V_STR) {
            char *t = jj_strndup(J, v.u.s.p, v.u.s.n), *end;
            double d = strtod(t, &end);
            if (end != t && !*end) return mk_float(d);
        }
        return def;
    }
    if (!strcmp(f, "abs")) {
        if (v.t == V_INT) return mk_int(v.u.i < 0 ? -v.u.i : v.u.i);
        if (v.t == V_FLOAT) return mk_float(fabs(v.u.f));
        RT_FAIL(J, "bad operand type for abs(): '%s'", type_name(v));
    }
    if (!strcmp(f, "indent")) {
        value s0 = to_string(J, v);
        value w = arg(a, 0, "width", mk_int(4));
        int first = truthy(arg(a, 1, "first", mk_bool(0)));
        int blank = truthy(arg(a, 2, "blank", mk_bool(0)));
        buf ind = {0};
        if (w.t == V_STR) buf_put(J, &ind, w.u.s.p, w.u.s.n);
        else for (int64_t k = 0; k < num_i(w) && k < 256; k++) buf_puts(J, &ind, " ");
        buf t = {0};
        buf_put(J, &t, s0.u.s.p, s0.u.s.n);
        buf_puts(J, &t, "\n");
        args none = {0};
        vlist *lines = call_str_method(E, mk_str(t.p, t.n), "splitlines", &none).u.l;
        buf o = {0};
        for (size_t i = 0; i < lines->n; i++) {
            value ln = lines->v[i];
            if (i) buf_puts(J, &o, "\n");
            if ((i > 0 || first) && (blank || ln.u.s.n > 0)) buf_put(J, &o, ind.p, ind.n);
            else if (i == 0 && first) buf_put(J, &o, ind.p, ind.n);
            buf_put(J, &o, ln.u.s.p, ln.u.s.n);
        }
        return mk_str(o.p ? o.p : "", o.n);
    }
    if (!strcmp(f, "sum")) {
        vlist *l = iter_items(E, v);
        value attr = arg(a, 0, "attribute", V_NONEV);
        value acc = arg(a, 1, "start", mk_int(0));
        for (size_t i = 0; i < l->n; i++)
            acc = binop_eval(E, OP_ADD, acc, attr.t == V_NONE ? l->v[i] : attr_path(E, l->v[i], attr));
        return acc;
    }
    if (!strcmp(f, "round")) {
        double x = num_f(v);
        int64_t p = num_i(arg(a, 0, "precision", mk_int(0)));
        double m = pow(10, (double)p);
        return mk_float(round(x * m) / m);
    }
    if (!strcmp(f, "wordcount")) return mk_int((int64_t)do_split(E, to_string(J, v), V_NONEV, -1).u.l->n);
    RT_FAIL(J, "No filter named '%s' found.", f);
    return V_NONEV;
}

static int apply_test(ev *E, const char *t, value v, args *a, int line)
{
    jj *J = E->J;
    J->cur_line = line;
    if (!strcmp(t, "defined")) return v.t != V_UNDEF;
    if (!strcmp(t, "undefined")) return v.t == V_UNDEF;
    if (!strcmp(t, "none")) return v.t == V_NONE;
    if (!strcmp(t, "string")) return v.t == V_STR;
    if (!strcmp(t, "mapping")) return v.t == V_DICT && !v.u.d->ns;
    if (!strcmp(t, "iterable")) return v.t == V_STR || v.t == V_LIST || (v.t == V_DICT && !v.u.d->ns) || v.t == V_UNDEF;
    if (!strcmp(t, "sequence"))
        return v.t == V_STR || (v.t == V_LIST && !v.u.l->generator) || (v.t == V_DICT && !v.u.d->ns) || v.t == V_UNDEF;
    if (!strcmp(t, "boolean")) return v.t == V_BOOL;
    if (!strcmp(t, "false")) return v.t == V_BOOL && !v.u.b;
    if (!strcmp(t, "true")) return v.t == V_BOOL && v.u.b;
    if (!strcmp(t, "number")) return v.t == V_INT || v.t == V_FLOAT || v.t == V_BOOL;
    if (!strcmp(t, "integer")) return v.t == V_INT;
    if (!strcmp(t, "float")) return v.t == V_FLOAT;
    if (!strcmp(t, "callable")) return v.t == V_FUNC;
    if (!strcmp(t, "lower") || !strcmp(t, "upper")) {
        if (v.t != V_STR) return 0;
        value c = case_map(E, v, t[0] == 'u');
        return val_eq(c, v);
    }
    value o = arg(a, 0, NULL, V_UNDEFINED);
    if (!strcmp(t, "sameas")) return v.t == o.t && val_eq(v, o); /* identity: same type and value */
    if (!strcmp(t, "equalto") || !strcmp(t, "eq") || !strcmp(t, "==")) return val_eq(v, o);
    if (!strcmp(t, "ne") || !strcmp(t, "!=")) return !val_eq(v, o);
    if (!strcmp(t, "lt") || !strcmp(t, "lessthan") || !strcmp(t, "<")) return val_cmp(E, v, o, 0) < 0;
    if (!strcmp(t, "gt") || !strcmp(t, "greaterthan") || !strcmp(t, ">")) return val_cmp(E, v, o, 0) > 0;
    if (!strcmp(t, "le") || !strcmp(t, "<=")) return val_cmp(E, v, o, 0) <= 0;
    if (!strcmp(t, "ge") || !strcmp(t, ">=")) return val_cmp(E, v, o, 0) >= 0;
    if (!strcmp(t, "in")) return contains(E, o, v);
    if (!strcmp(t, "odd") || !strcmp(t, "even")) {
        if (v.t != V_INT && v.t != V_BOOL) RT_FAIL(J, "test '%s' needs an integer", t);
        return (num_i(v) % 2 != 0) == (t[0] == 'o');
    }
    if (!strcmp(t, "divisibleby")) {
        if (num_i(o) == 0) RT_FAIL(J, "integer division or modulo by zero");
        return num_i(v) % num_i(o) == 0;
    }
    if (!strcmp(t, "escaped")) return 0;
    RT_FAIL(J, "No test named '%s'.", t);
    return 0;
}

/* ---- expressions and statements ---------------------------------------------- */

static value eval(ev *E, node *x, scope *s)
{
    jj *J = E->J;
    if (++J->depth > JJ_MAX_DEPTH) RT_FAIL(J, "expression nested too deeply");
    J->cur_line = x->line;
    value r = V_NONEV;
    switch (x->kind) {
    case N_CONST: r = x->val; break;
    case N_NAME: r = lookup(s, x->name); break;
    case N_ATTR: {
        value o = eval(E, x->a, s);
        J->cur_line = x->line;
        if (o.t == V_UNDEF) {
            if (x->a->kind == N_NAME) RT_FAIL(J, "'%s' is undefined (reading .%s)", x->a->name, x->name);
            RT_FAIL(J, "undefined value has no attribute '%s'", x->name);
        }
        r = getattr_v(E, o, x->name);
        break;
    }
    case N_ITEM: {
        value o = eval(E, x->a, s);
        value k = eval(E, x->b, s);
        J->cur_line = x->line;
        if (o.t == V_UNDEF) {
            if (x->a->kind == N_NAME) RT_FAIL(J, "'%s' is undefined (subscripted)", x->a->name);
            RT_FAIL(J, "cannot subscript an undefined value");
        }
        r = getitem_v(E, o, k);
        break;
    }
    case N_SLICE: {
        value o = eval(E, x->a, s);
        int64_t st, sp, step;
        if (o.t == V_STR) {
            size_t ncp;
            size_t *off = cp_offsets(J, o, &ncp);
            slice_bounds(E, x, s, (int64_t)ncp, &st, &sp, &step);
            buf b = {0};
            for (int64_t i = st; step > 0 ? i < sp : i > sp; i += step)
                buf_put(J, &b, o.u.s.p + off[i], off[i + 1] - off[i]);
            r = mk_str(b.p ? b.p : "", b.n);
        } else if (o.t == V_LIST && !o.u.l->generator) {
            slice_bounds(E, x, s, (int64_t)o.u.l->n, &st, &sp, &step);
            vlist *l = list_new(J);
            l->tuple = o.u.l->tuple;
            for (int64_t i = st; step > 0 ? i < sp : i > sp; i += step) list_push(J, l, o.u.l->v[i]);
            r = mk_list(l);
        } else if (o.t == V_UNDEF) {
            RT_FAIL(J, "cannot slice an undefined value");
        } else r = V_UNDEFINED;
        break;
    }
    case N_CALL: {
        value fn = eval(E, x->a, s);
        args a = eval_args(E, x, s, V_NONEV, 0);
        J->cur_line = x->line;
        r = call_value(E, fn, &a, x, s);
        break;
    }
    case N_FILTER: {
        value v = eval(E, x->a, s);
        args a = eval_args(E, x, s, V_NONEV, 0);
        r = apply_filter(E, x->name, v, &a, x->line, s);
        break;
    }
    case N_TEST: {
        value v = eval(E, x->a, s);
        args a = eval_args(E, x, s, V_NONEV, 0);
        int t = apply_test(E, x->name, v, &a, x->line);
        r = mk_bool(x->op ? !t : t);
        break;
    }
    case N_NEG:
    case N_POS: {
        value v = eval(E, x->a, s);
        if (v.t == V_INT) r = x->kind == N_NEG ? mk_int((int64_t)(0 - (uint64_t)v.u.i)) : v;
        else if (v.t == V_BOOL) r = mk_int(x->kind == N_NEG ? -v.u.b : v.u.b);
        else if (v.t == V_FLOAT) r = x->kind == N_NEG ? mk_float(-v.u.f) : v;
        else RT_FAIL(J, "bad operand type for unary %c: '%s'", x->kind == N_NEG ? '-' : '+', type_name(v));
        break;
    }
    case N_NOT: r = mk_bool(!truthy(eval(E, x->a, s))); break;
    case N_AND: {
        value a = eval(E, x->a, s);
        r = truthy(a) ? eval(E, x->b, s) : a;
        break;
    }
    case N_OR: {
        value a = eval(E, x->a, s);
        r = truthy(a) ? a : eval(E, x->b, s);
        break;
    }
    case N_BIN: {
        value a = eval(E, x->a, s);
        value b = eval(E, x->b, s);
        J->cur_line = x->line;
        r = binop_eval(E, x->op, a, b);
        break;
    }
    case N_COND:
        if (truthy(eval(E, x->b, s))) r = eval(E, x->a, s);
        else r = x->c ? eval(E, x->c, s) : V_UNDEFINED;
        break;
    case N_LIST:
    case N_TUPLE: {
        vlist *l = list_new(J);
        l->tuple = x->kind == N_TUPLE;
        for (size_t i = 0; i < x->n; i++) list_push(J, l, eval(E, x->list[i], s));
        r = mk_list(l);
        break;
    }
    case N_DICT: {
        vdict *d = dict_new(J);
        for (size_t i = 0; i < x->n; i++) {
            value k = eval(E, x->list[i], s);
            if (k.t == V_LIST && !k.u.l->tuple) RT_FAIL(J, "unhashable type: 'list'");
            if (k.t == V_DICT) RT_FAIL(J, "unhashable type: 'dict'");
            dict_set(J, d, k, eval(E, x->list2[i], s));
        }
        r = mk_dict(d);
        break;
    }
    default: RT_FAIL(J, "internal: statement used as an expression");
    }
    J->depth--;
    return r;
}

static void bind_targets(ev *E, node *x, scope *s, value item)
{
    jj *J = E->J;
    if (x->nnames == 1) {
        scope_set(J, s, x->names[0], item);
        return;
    }
    vlist *l = iter_items(E, item);
    if (l->n != x->nnames)
        RT_FAIL(J, "cannot unpack %zu values into %zu loop variables", l->n, x->nnames);
    for (size_t i = 0; i < x->nnames; i++) scope_set(J, s, x->names[i], l->v[i]);
}

enum { FLOW_NORMAL, FLOW_BREAK, FLOW_CONTINUE };

static int exec_node(ev *E, node *x, scope *s, buf *out)
{
    jj *J = E->J;
    J->cur_line = x->line;
    switch (x->kind) {
    case S_TEXT: buf_put(J, out, x->val.u.s.p, x->val.u.s.n); return FLOW_NORMAL;
    case S_OUT: {
        value v = eval(E, x->a, s);
        put_str(J, out, v);
        return FLOW_NORMAL;
    }
    case S_IF:
        if (truthy(eval(E, x->a, s))) return exec_body(E, x->list, x->n, s, out);
        return exec_body(E, x->list2, x->n2, s, out);
    case S_FOR: {
        value it = eval(E, x->a, s);
        J->cur_line = x->line;
        if (it.t == V_NONE) RT_FAIL(J, "'NoneType' object is not iterable");
        vlist *items = iter_items(E, it);
        scope *ls = scope_new(J, s);
        if (x->b) { /* loop filter */
            vlist *kept = list_new(J);
            for (size_t i = 0; i < items->n; i++) {
                bind_targets(E, x, ls, items->v[i]);
                if (truthy(eval(E, x->b, ls))) list_push(J, kept, items->v[i]);
            }
            items = kept;
        }
        vloop *lp = jj_alloc(J, sizeof *lp);
        lp->items = items;
        lp->length = items->n;
        value lv = {V_LOOP, 0, {0}};
        lv.u.loop = lp;
        for (size_t i = 0; i < items->n; i++) {
            if (++J->steps > JJ_MAX_STEPS) RT_FAIL(J, "template runs too long");
            /* each iteration starts from the enclosing values: a set in the
             * body is seen later in the same iteration only (as in Jinja2) */
            scope *is = scope_new(J, s);
            lp->index0 = i;
            bind_targets(E, x, is, items->v[i]);
            scope_set(J, is, "loop", lv);
            if (exec_body(E, x->list, x->n, is, out) == FLOW_BREAK) break;
        }
        if (items->n == 0 && x->n2) exec_body(E, x->list2, x->n2, ls, out);
        return FLOW_NORMAL;
    }
    case S_SET:
    case S_SETBLOCK: {
        value v;
        if (x->kind == S_SET) v = eval(E, x->a, s);
        else {
            buf b = {0};
            exec_body(E, x->list, x->n, scope_new(J, s), &b);
            v = mk_str(b.p ? b.p : "", b.n);
            if (x->a) {
                node *ph = x->a;
                while (ph->a) ph = ph->a;
                ph->val = v;
                v = eval(E, x->a, s);
            }
        }
        J->cur_line = x->line;
        if (x->attr) {
            value ns = lookup(s, x->name);
            if (ns.t != V_DICT || !ns.u.d->ns)
                RT_FAIL(J, "cannot assign attribute on non-namespace object '%s'", x->name);
            dict_set(J, ns.u.d, mk_cstr(x->attr), v);
        } else scope_set(J, s, x->name, v);
        return FLOW_NORMAL;
    }
    case S_MACRO: scope_set(J, s, x->name, mk_func(J, F_MACRO, x->name, V_NONEV, x)); return FLOW_NORMAL;
    case S_BREAK: return FLOW_BREAK;
    case S_CONTINUE: return FLOW_CONTINUE;
    case S_SCOPE: return exec_body(E, x->list, x->n, scope_new(J, s), out);
    case S_FILTERBLOCK: {
        buf b = {0};
        exec_body(E, x->list, x->n, scope_new(J, s), &b);
        x->b->val = mk_str(b.p ? b.p : "", b.n);
        put_str(J, out, eval(E, x->a, s));
        return FLOW_NORMAL;
    }
    default: RT_FAIL(J, "internal: expression used as a statement");
    }
    return FLOW_NORMAL;
}

static int exec_body(ev *E, node **body, size_t n, scope *s, buf *out)
{
    jj *J = E->J;
    if (++J->depth > JJ_MAX_DEPTH) RT_FAIL(J, "statements nested too deeply");
    int flow = FLOW_NORMAL;
    for (size_t i = 0; i < n; i++) {
        flow = exec_node(E, body[i], s, out);
        if (flow != FLOW_NORMAL) break;
    }
    J->depth--;
    return flow;
}

/* ---- entry point ----------------------------------------------------------------- */

slm_status jinja_render(const char *src, size_t src_len, const char *ctx_json, size_t ctx_len,
                        char **out, size_t *out_len)
{
    if (!out) return slm_fail(SLM_ERR_ARG, "jinja_render: out is NULL");
    *out = NULL;
    if (out_len) *out_len = 0;
    if (!src && src_len) return slm_fail(SLM_ERR_ARG, "jinja_render: template is NULL");
    jj *J = slm_calloc(1, sizeof *J);
    if (!J) return slm_fail(SLM_ERR_NOMEM, "jinja_render: out of memory");
    if (setjmp(J->jmp)) {
        slm_status st = J->st;
        slm_fail(st, "%s", J->msg);
        jj_free_all(J);
        slm_free(J);
        return st;
    }
    /* keep_trailing_newline = False: drop one final newline */
    size_t n = src_len;
    if (n && src[n - 1] == '\n') {
        n--;
        if (n && src[n - 1] == '\r') n--;
    }
    lexer L = {0};
    L.J = J;
    L.s = src ? src : "";
    L.n = n;
    lex(&L);
    parser P = {J, L.toks, 0, 0};
    nvec body = parse_body(&P, NULL);

    scope *builtins = scope_new(J, NULL);
    static const char *const fns[] = {"raise_exception", "namespace", "range", "strftime_now", "dict", NULL};
    for (size_t i = 0; fns[i]; i++) scope_set(J, builtins, fns[i], mk_func(J, F_BUILTIN, fns[i], V_NONEV, NULL));
    scope *top = scope_new(J, builtins);
    if (ctx_json && ctx_len) {
        int ok;
        value ctx = parse_json_text(J, ctx_json, ctx_len, &ok);
        if (!ok) jj_fail(J, SLM_ERR_FORMAT, 0, "context is not valid JSON");
        if (ctx.t != V_DICT) jj_fail(J, SLM_ERR_FORMAT, 0, "context JSON must be an object, found %s", type_name(ctx));
        top->vars = ctx.u.d;
    }
    ev E = {J, top};
    buf o = {0};
    J->depth = 0;
    exec_body(&E, body.v, body.n, top, &o);
    char *res = slm_alloc(o.n + 1);
    if (!res) jj_fail(J, SLM_ERR_NOMEM, 0, "out of memory for the rendered text (%zu bytes)", o.n);
    if (o.n) memcpy(res, o.p, o.n);
    res[o.n] = 0;
    *out = res;
    if (out_len) *out_len = o.n;
    jj_free_all(J);
    slm_free(J);
    return SLM_OK;
}
