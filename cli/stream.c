/* stream.c — text output for the tool: token pieces streamed without ever
 * splitting a UTF-8 character across flushes, and JSON string literals. */
#include <string.h>

#include "cli.h"

/* Length of the UTF-8 sequence a lead byte starts, or 0 if c cannot lead. */
static size_t utf8_len(unsigned char c)
{
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 0;
}

size_t cli_utf8_incomplete_tail(const char *s, size_t n)
{
    /* Look back over at most 3 continuation bytes for a lead byte. */
    for (size_t k = 1; k <= 4 && k <= n; k++) {
        unsigned char c = (unsigned char)s[n - k];
        if ((c & 0xC0) == 0x80) continue; /* continuation byte */
        size_t need = utf8_len(c);
        return (need > k) ? k : 0;        /* invalid leads are not held */
    }
    return 0;
}

void cli_utf8_write(cli_utf8_out *o, const char *s, size_t n)
{
    /* Complete the pending sequence first, byte by byte. */
    while (o->n_pending > 0 && n > 0) {
        o->pending[o->n_pending++] = *s++;
        n--;
        if (cli_utf8_incomplete_tail(o->pending, o->n_pending) == 0 ||
            o->n_pending >= sizeof o->pending - 1) {
            fwrite(o->pending, 1, o->n_pending, o->f);
            o->n_pending = 0;
        }
    }
    if (n == 0) {
        fflush(o->f);
        return;
    }
    size_t tail = cli_utf8_incomplete_tail(s, n);
    fwrite(s, 1, n - tail, o->f);
    memcpy(o->pending, s + n - tail, tail);
    o->n_pending = tail;
    fflush(o->f);
}

void cli_utf8_flush(cli_utf8_out *o)
{
    if (o->n_pending) fwrite(o->pending, 1, o->n_pending, o->f);
    o->n_pending = 0;
    fflush(o->f);
}

size_t cli_utf8_valid_len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80) return 1;
    if ((s[0] & 0xE0) == 0xC0) len = 2, cp = s[0] & 0x1F;
    else if ((s[0] & 0xF0) == 0xE0) len = 3, cp = s[0] & 0x0F;
    else if ((s[0] & 0xF8) == 0xF0) len = 4, cp = s[0] & 0x07;
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

void cli_json_string(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (c < 0x20 || c == 0x7F) {
                fprintf(f, "\\u%04x", c);
            } else if (c >= 0x80) {
                /* JSON text must be UTF-8: a byte that does not start a valid
                 * sequence (random models emit lone byte tokens) becomes U+FFFD. */
                size_t k = cli_utf8_valid_len((const unsigned char *)s + i, n - i);
                if (k == 0) {
                    fputs("\\ufffd", f);
                } else {
                    fwrite(s + i, 1, k, f);
                    i += k - 1;
                }
            } else {
                fputc(c, f);
            }
        }
    }
    fputc('"', f);
}
