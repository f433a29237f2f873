/* A growable NUL-terminated text buffer for the writers of text (summary, plot_model's DOT). */
#include "core.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
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

void ck_format_pyfloat(double v, char out[CK_PYFLOAT_LEN])
{
    if (isnan(v)) {
        snprintf(out, CK_PYFLOAT_LEN, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(out, CK_PYFLOAT_LEN, "%sinf", v < 0 ? "-" : "");
        return;
    }
    /* the fewest significant digits that read back as v (Python's repr is the shortest such
     * string: with printf's correct rounding the first precision that round-trips gives it) */
    char e[40];
    int p = 1;
    for (; p < 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    snprintf(e, sizeof e, "%.*e", p - 1, v);
    /* e is "[-]d[.ddd]e[+-]XX": digits and the decimal exponent */
    const char *s = e;
    bool neg = *s == '-';
    if (neg)
        s++;
    char digits[24];
    int nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9')
            digits[nd++] = *s;
    int exp10 = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    char *o = out;
    size_t left = CK_PYFLOAT_LEN;
#define PUT(...)                                                                                             \
    do {                                                                                                     \
        int k_ = snprintf(o, left, __VA_ARGS__);                                                             \
        o += k_;                                                                                             \
        left -= (size_t)k_;                                                                                  \
    } while (0)
    if (neg)
        PUT("-");
    if (exp10 < -4 || exp10 >= 16) { /* Python's repr switches to exponents outside [1e-4, 1e16) */
        PUT("%c", digits[0]);
        if (nd > 1)
            PUT(".%s", digits + 1);
        PUT("e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    } else if (exp10 < 0) {
        PUT("0.");
        for (int i = 0; i < -exp10 - 1; i++)
            PUT("0");
        PUT("%s", digits);
    } else {
        for (int i = 0; i <= exp10; i++)
            PUT("%c", i < nd ? digits[i] : '0');
        PUT(".");
        if (nd > exp10 + 1)
            PUT("%s", digits + exp10 + 1);
        else
            PUT("0");
    }
#undef PUT
}
