/* CSV of numbers -> rows x cols float32 array.
 *
 * Accepted: ',' separators, spaces or tabs around cells, LF or CRLF line ends, a UTF-8 byte
 * order mark, blank lines (skipped), header lines before the first all-numeric line (skipped).
 * Once data started, every non-blank line must have the same number of cells and every cell
 * must be a number (decimal, optional exponent, nan, inf); otherwise CKERAS_EFORMAT names the
 * line and the column. Numbers are parsed without the C library's locale, so a host program
 * that called setlocale() still reads "1.5" as one and a half.
 *
 * Sizes: a header's element count is computed without overflow and checked against the bytes
 * the file holds before it is multiplied by an element size; text is read in chunks whose sizes
 * are checked (src/io/file.c). */
#include "io/io.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* ---- numbers ---------------------------------------------------------------------------- */

static bool word_eq(const char *s, size_t n, const char *w)
{
    size_t m = strlen(w);
    if (n != m)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != w[i])
            return false;
    }
    return true;
}

/* Parses the whole of s[0..n) (already trimmed) as a number. Decimal mantissas of up to 19
 * significant digits with |exponent| <= 22 and a mantissa below 2^53 are converted exactly
 * (one correctly rounded double multiply or divide); others through long double. */
static bool parse_number(const char *s, size_t n, double *out)
{
    static const double p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = 0;
    bool neg = false;
    if (n == 0)
        return false;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        i = 1;
    }
    if (word_eq(s + i, n - i, "nan")) {
        *out = neg ? -NAN : NAN;
        return true;
    }
    if (word_eq(s + i, n - i, "inf") || word_eq(s + i, n - i, "infinity")) {
        *out = neg ? -INFINITY : INFINITY;
        return true;
    }
    uint64_t m = 0;
    int sig = 0;            /* significant digits kept in m */
    int64_t dexp = 0;       /* value = m * 10^dexp */
    int ndig = 0;
    bool seen_nonzero = false;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, ndig++) {
        int d = s[i] - '0';
        if (d || seen_nonzero) {
            seen_nonzero = true;
            if (sig < 19) {
                m = m * 10 + (uint64_t)d;
                sig++;
            } else {
                dexp++;
            }
        }
    }
    if (i < n && s[i] == '.') {
        i++;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, ndig++) {
            int d = s[i] - '0';
            if (d || seen_nonzero) {
                seen_nonzero = true;
                if (sig < 19) {
                    m = m * 10 + (uint64_t)d;
                    sig++;
                    dexp--;
                }
            } else {
                dexp--;
            }
        }
    }
    if (ndig == 0)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            eneg = s[i] == '-';
            i++;
        }
        if (i >= n || s[i] < '0' || s[i] > '9')
            return false;
        int64_t e = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if (e < 100000)
                e = e * 10 + (s[i] - '0');
        dexp += eneg ? -e : e;
    }
    if (i != n)
        return false;
    double v;
    if (m == 0) {
        v = 0.0;
    } else if (m < (1ULL << 53) && dexp >= -22 && dexp <= 22) {
        v = dexp >= 0 ? (double)m * p10[dexp] : (double)m / p10[-dexp];
    } else if (dexp > 400) {
        v = INFINITY;
    } else if (dexp < -400) {
        v = 0.0;
    } else {
        v = (double)((long double)m * powl(10.0L, (long double)dexp));
    }
    *out = neg ? -v : v;
    return true;
}

/* ---- lines and cells -------------------------------------------------------------------- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Trims [*b, *e) of spaces. */
static void trim(const char **b, const char **e)
{
    while (*b < *e && is_space(**b))
        (*b)++;
    while (*e > *b && is_space((*e)[-1]))
        (*e)--;
}

/* Growable float array. */
typedef struct fbuf {
    float *v;
    size_t n, cap;
} fbuf;

static bool fbuf_push(fbuf *b, float x)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        float *v = ck_realloc_n(b->v, cap, sizeof *v);
        if (!v)
            return false;
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = x;
    return true;
}

ckeras_status ck_csv_read(const char *path, float **data, int64_t *rows, int64_t *cols)
{
    if (!path || !data || !rows || !cols)
        return ck_error(CKERAS_EINVAL, "csv_read: NULL argument");
    uint8_t *text = NULL;
    size_t len = 0;
    ckeras_status st = ck_read_text(path, &text, &len);
    if (st != CKERAS_OK) {
        ck_error_prefix("csv_read");
        return st;
    }
    const char *p = (const char *)text;
    const char *end = p + len;
    if (len >= 3 && (uint8_t)p[0] == 0xEF && (uint8_t)p[1] == 0xBB && (uint8_t)p[2] == 0xBF)
        p += 3;
    fbuf out = {0};
    int64_t ncols = -1, nrows = 0, lineno = 0;
    st = CKERAS_OK;
    while (p < end && st == CKERAS_OK) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        lineno++;
        const char *lb = p, *le = eol;
        p = eol < end ? eol + 1 : end;
        trim(&lb, &le);
        if (lb == le)
            continue; /* blank line */
        if (memchr(lb, '\0', (size_t)(le - lb))) {
            st = ck_error(CKERAS_EFORMAT, "csv_read: %s: line %lld: NUL byte (not a text file)", path,
                          (long long)lineno);
            break;
        }
        /* Count cells first so a ragged line is reported as such. */
        int64_t ncell = 1;
        for (const char *q = lb; q < le; q++)
            ncell += *q == ',';
        if (ncols < 0) {
            /* Before the data: the line is data only if every cell is a number. */
            bool numeric = true;
            const char *cb = lb;
            for (int64_t c = 0; c < ncell && numeric; c++) {
                const char *ce = memchr(cb, ',', (size_t)(le - cb));
                if (!ce)
                    ce = le;
                const char *tb = cb, *te = ce;
                trim(&tb, &te);
                double v;
                numeric = parse_number(tb, (size_t)(te - tb), &v);
                cb = ce + 1;
            }
            if (!numeric)
                continue; /* a header */
            ncols = ncell;
        } else if (ncell != ncols) {
            st = ck_error(CKERAS_EFORMAT, "csv_read: %s: line %lld has %lld columns, expected %lld", path,
                          (long long)lineno, (long long)ncell, (long long)ncols);
            break;
        }
        const char *cb = lb;
        for (int64_t c = 0; c < ncell; c++) {
            const char *ce = memchr(cb, ',', (size_t)(le - cb));
            if (!ce)
                ce = le;
            const char *tb = cb, *te = ce;
            trim(&tb, &te);
            double v;
            if (!parse_number(tb, (size_t)(te - tb), &v)) {
                int shown = (int)(te - tb) > 40 ? 40 : (int)(te - tb);
                st = ck_error(CKERAS_EFORMAT, "csv_read: %s: line %lld, column %lld: '%.*s' is not a number",
                              path, (long long)lineno, (long long)(c + 1), shown, tb);
                break;
            }
            if (!fbuf_push(&out, (float)v)) {
                st = CKERAS_ENOMEM;
                break;
            }
            cb = ce + 1;
        }
        if (st == CKERAS_OK)
            nrows++;
    }
    ck_free(text);
    if (st == CKERAS_OK && nrows == 0)
        st = ck_error(CKERAS_EFORMAT, "csv_read: %s: no numeric rows", path);
    if (st != CKERAS_OK) {
        ck_free(out.v);
        return st;
    }
    *data = out.v;
    *rows = nrows;
    *cols = ncols;
    return CKERAS_OK;
}
