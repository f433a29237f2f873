/* A growable NUL-terminated text buffer for the writers of text (summary, plot_model's DOT). */
#include "core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ck_sb_put(ck_strbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (b->n + n + 1 > cap)
            cap *= 2;
        char *q = ck_realloc(b->p, cap);
        if (!q) {
            b->failed = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void ck_sb_puts(ck_strbuf *b, const char *s)
{
    ck_sb_put(b, s, strlen(s));
}

void ck_sb_printf(ck_strbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->failed = true; /* only short texts and numbers go through here */
        return;
    }
    ck_sb_put(b, tmp, (size_t)n);
}
