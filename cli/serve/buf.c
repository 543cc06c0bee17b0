/* buf.c — growable byte buffers for response bodies, SSE chunks and cache
 * keys. A failed growth sets oom and drops later appends, so callers check
 * once at the end instead of after every append. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli.h"
#include "serve.h"

static int grow(srv_buf *b, size_t extra)
{
    if (b->oom) return -1;
    if (extra > (size_t)-1 / 2 - b->n - 1) {
        b->oom = 1;
        return -1;
    }
    size_t need = b->n + extra + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void srv_buf_append(srv_buf *b, const char *s, size_t n)
{
    if (grow(b, n)) return;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void srv_buf_puts(srv_buf *b, const char *s)
{
    srv_buf_append(b, s, strlen(s));
}

void srv_buf_printf(srv_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int k = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if ((size_t)k < sizeof small) {
        srv_buf_append(b, small, (size_t)k);
        return;
    }
    if (grow(b, (size_t)k)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

void srv_buf_json_str(srv_buf *b, const char *s, size_t n)
{
    srv_buf_append(b, "\"", 1);
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t k = cli_utf8_valid_len((const unsigned char *)s + i, n - i);
            if (k == 0) {
                srv_buf_append(b, "\xEF\xBF\xBD", 3); /* U+FFFD */
                i++;
            } else {
                srv_buf_append(b, s + i, k);
                i += k;
            }
            continue;
        }
        switch (c) {
        case '"': srv_buf_append(b, "\\\"", 2); break;
        case '\\': srv_buf_append(b, "\\\\", 2); break;
        case '\n': srv_buf_append(b, "\\n", 2); break;
        case '\r': srv_buf_append(b, "\\r", 2); break;
        case '\t': srv_buf_append(b, "\\t", 2); break;
        default:
            if (c < 0x20 || c == 0x7f) srv_buf_printf(b, "\\u%04x", c);
            else srv_buf_append(b, (const char *)&s[i], 1);
        }
        i++;
    }
    srv_buf_append(b, "\"", 1);
}

void srv_buf_free(srv_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void srv_buf_base64(srv_buf *b, const void *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = p;
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        const size_t k = n - i < 3 ? n - i : 3;
        const uint32_t v = (uint32_t)s[i] << 16 | (k > 1 ? (uint32_t)s[i + 1] << 8 : 0) | (k > 2 ? s[i + 2] : 0);
        q[0] = tab[v >> 18 & 63];
        q[1] = tab[v >> 12 & 63];
        q[2] = k > 1 ? tab[v >> 6 & 63] : '=';
        q[3] = k > 2 ? tab[v & 63] : '=';
        srv_buf_append(b, q, 4);
    }
}
