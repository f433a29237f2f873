/* model.summary(): Keras 3's table, as its rich console renders it without a terminal (no
 * ANSI styling). Layout rules (facts of Keras 3.11 and rich):
 *
 *   width L   = line_length if > 0, else min(88, columns - 4) for Sequential-like models,
 *               min(108, columns - 4) when the "Connected to" column is shown; columns is
 *               $COLUMNS, else the size of the terminal on stdout, else 80.
 *   columns   = int(p * L) - previous boundary for p in (0.45, 0.80, 1.0), or
 *               (0.30, 0.56, 0.74, 1.0) with "Connected to"; each must be >= 4.
 *   rich then adds one space of padding on each side of every cell (+2 per column), finds
 *   the table too wide for L minus its borders (ncols + 1), and takes the excess back
 *   evenly from left to right: column i gives up round(remaining / columns_left) cells,
 *   Python's round (half to even).
 *   cells     = words wrapped to the cell width (a word longer than the cell is cut to
 *               width - 1 characters plus U+2026), top-aligned; "Param #" right-aligned.
 *   sizes     = 4 bytes per float32 parameter, printed in B/KB/MB/... (1024 steps, %.2f).
 *
 * The "Connected to" layout is used when model_class is not "Sequential" and a row has a
 * non-empty `connected` (the model room fills it only for models that are not a simple
 * chain, as Keras does); there an empty `connected` prints "-".
 *
 * Sizes: the products here are of small counts (list lengths grow by ck_grow, key and name
 * lengths) or constants; none is a size from outside. */
#include "callbacks/callbacks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MAX_COLS 4
#define MAX_CELL 512 /* code points in one cell's text */

/* ---- a growing string --------------------------------------------------------------- */


/* ---- numbers ------------------------------------------------------------------------ */

/* Python's f"{n:,}": 10751 -> "10,751". buf holds >= 32 bytes. */
static void format_count(int64_t n, char *buf)
{
    char digits[24];
    bool neg = n < 0;
    uint64_t u = neg ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)u);
    char *o = buf;
    if (neg)
        *o++ = '-';
    for (int i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0)
            *o++ = ',';
        *o++ = digits[i];
    }
    *o = '\0';
}

/* Keras' readable_memory_size: "42.00 KB", "0.00 B". buf holds >= 64 bytes. */
static void format_size(double bytes, char *buf)
{
    static const char *units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
    for (int i = 0; i < 6; i++) {
        if (bytes / 1024.0 < 1.0) {
            snprintf(buf, 64, "%.2f %s", bytes, units[i]);
            return;
        }
        bytes /= 1024.0;
    }
    snprintf(buf, 64, "%.2f %s", bytes, units[5]);
}

/* ---- terminal width ----------------------------------------------------------------- */

/* Python's shutil.get_terminal_size().columns: $COLUMNS if a positive integer, else the
 * terminal on stdout, else 80. */
static int terminal_columns(void)
{
    const char *env = getenv("COLUMNS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\n')
            end++;
        if (*end == '\0' && v > 0 && v < 1000000)
            return (int)v;
    }
    struct winsize ws;
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/* ---- cells -------------------------------------------------------------------------- */

/* A cell's text as code points: off[i] is the byte offset of code point i, off[n] the end. */
typedef struct cell_text {
    const char *s;
    int n;
    int off[MAX_CELL + 1];
} cell_text;

/* One rendered line of a cell: code points [a, e) of the text, cut with an ellipsis if set. */
typedef struct cell_line {
    int a, e;
    bool ellipsis;
} cell_line;

static void cell_decode(cell_text *t, const char *s)
{
    t->s = s;
    t->n = 0;
    size_t i = 0;
    while (s[i] && t->n < MAX_CELL) {
        t->off[t->n++] = (int)i;
        i++;
        while (((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
    }
    t->off[t->n] = (int)i;
}

static bool cp_space(const cell_text *t, int i)
{
    char c = t->s[t->off[i]];
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Wraps code points [a, b) (no newline inside) to `width` as rich does (words are runs of
 * whitespace-then-non-whitespace-then-whitespace; a word moves to a new line when it does not
 * fit; a word longer than a line starts a line of its own and is cut later). Appends the
 * lines to out (capacity cap); returns the new count. */
static int wrap_segment(const cell_text *t, int a, int b, int width, cell_line *out, int nout, int cap)
{
    int breaks[MAX_CELL + 1];
    int nb = 0;
    int offset = 0; /* cells used on the current line */
    int pos = a;
    while (pos < b) {
        int start = pos, q = pos;
        while (q < b && cp_space(t, q))
            q++;
        if (q == b)
            break; /* only whitespace left: no word */
        while (q < b && !cp_space(t, q))
            q++;
        int word_end = q; /* end without trailing whitespace */
        while (q < b && cp_space(t, q))
            q++;
        int len_stripped = word_end - start, len_full = q - start;
        if (width - offset >= len_stripped) {
            offset += len_full;
        } else if (len_stripped > width) {
            if (start > a)
                breaks[nb++] = start;
            offset = len_full;
        } else if (offset > 0 && start > a) {
            breaks[nb++] = start;
            offset = len_full;
        }
        pos = q;
    }
    int s = a;
    for (int k = 0; k <= nb && nout < cap; k++) {
        int e = k < nb ? breaks[k] : b;
        out[nout].a = s;
        out[nout].e = e;
        out[nout].ellipsis = false;
        nout++;
        s = e;
    }
    return nout;
}

/* Lines of a cell's content `width` wide, justified; returns the count (>= 1). */
static int cell_layout(const cell_text *t, int width, bool right, cell_line *out, int cap)
{
    int n = 0, a = 0;
    for (int i = 0; i <= t->n && n < cap; i++) {
        if (i == t->n || t->s[t->off[i]] == '\n') {
            n = wrap_segment(t, a, i, width, out, n, cap);
            a = i + 1;
        }
    }
    for (int k = 0; k < n; k++) {
        cell_line *l = &out[k];
        /* trailing whitespace past the width goes first (rich's rstrip_end) */
        int excess = (l->e - l->a) - width;
        while (excess > 0 && l->e > l->a && cp_space(t, l->e - 1)) {
            l->e--;
            excess--;
        }
        if (right)
            while (l->e > l->a && cp_space(t, l->e - 1))
                l->e--;
        if (l->e - l->a > width) {
            l->e = l->a + (width > 1 ? width - 1 : 0);
            l->ellipsis = true;
        }
    }
    return n;
}

/* s written count times. */
static void sb_rep(ck_strbuf *b, const char *s, int count)
{
    size_t n = strlen(s);
    for (int i = 0; i < count; i++)
        ck_sb_put(b, s, n);
}

static void put_cell_line(ck_strbuf *b, const cell_text *t, const cell_line *l, int width, bool right)
{
    int len = l->e - l->a + (l->ellipsis ? 1 : 0);
    int pad = width > len ? width - len : 0;
    ck_sb_put(b, " ", 1);
    if (right)
        sb_rep(b, " ", pad);
    ck_sb_put(b, t->s + t->off[l->a], (size_t)(t->off[l->e] - t->off[l->a]));
    if (l->ellipsis)
        ck_sb_puts(b, "\xe2\x80\xa6"); /* U+2026 */
    if (!right)
        sb_rep(b, " ", pad);
    ck_sb_put(b, " ", 1);
}

/* Scratch for one row (about 32 KB, allocated once per summary). */
typedef struct row_work {
    cell_text t[MAX_COLS];
    cell_line lines[MAX_COLS][MAX_CELL];
} row_work;

/* One table row (header or layer): cells top-aligned, each column's lines padded with blanks. */
static void put_row(ck_strbuf *b, row_work *w, const char *const *texts, int ncols, const int *widths,
                    const bool *right, const char *vbar)
{
    cell_text *t = w->t;
    cell_line(*lines)[MAX_CELL] = w->lines;
    int nl[MAX_COLS], height = 0;
    for (int c = 0; c < ncols; c++) {
        cell_decode(&t[c], texts[c]);
        nl[c] = cell_layout(&t[c], widths[c] - 2, right[c], lines[c], MAX_CELL);
        if (nl[c] > height)
            height = nl[c];
    }
    for (int y = 0; y < height; y++) {
        for (int c = 0; c < ncols; c++) {
            ck_sb_puts(b, vbar);
            if (y < nl[c])
                put_cell_line(b, &t[c], &lines[c][y], widths[c] - 2, right[c]);
            else
                sb_rep(b, " ", widths[c]);
        }
        ck_sb_puts(b, vbar);
        ck_sb_puts(b, "\n");
    }
}

static void put_rule(ck_strbuf *b, const int *widths, int ncols, const char *left, const char *fill,
                     const char *mid, const char *right)
{
    ck_sb_puts(b, left);
    for (int c = 0; c < ncols; c++) {
        if (c > 0)
            ck_sb_puts(b, mid);
        sb_rep(b, fill, widths[c]);
    }
    ck_sb_puts(b, right);
    ck_sb_puts(b, "\n");
}

/* Python's round(x / y) for non-negative integers: halves go to the even neighbour. */
static int round_div_even(int x, int y)
{
    int q = x / y, r = x % y;
    if (2 * r > y || (2 * r == y && (q & 1)))
        q++;
    return q;
}

/* ---- the summary -------------------------------------------------------------------- */

ckeras_status ck_summary_format(const ck_summary *s, char **text)
{
    *text = NULL;
    if (!s || (s->nrows > 0 && !s->rows) || s->nrows < 0)
        return ck_error(CKERAS_EINVAL, "summary: no model description");
    if (s->line_length > CK_SUMMARY_MAX_LINE)
        return ck_error(CKERAS_EINVAL, "summary: line_length %d is too large (at most %d)", s->line_length,
                        CK_SUMMARY_MAX_LINE);
    bool sequential_like = true;
    if (s->model_class && strcmp(s->model_class, "Sequential") != 0)
        for (int i = 0; i < s->nrows; i++)
            if (s->rows[i].connected[0])
                sequential_like = false;

    static const double pos_seq[] = {0.45, 0.80, 1.0};
    static const double pos_fun[] = {0.3, 0.56, 0.74, 1.0};
    static const char *const head[] = {"Layer (type)", "Output Shape", "Param #", "Connected to"};
    static const bool right[] = {false, false, true, false};
    int ncols = sequential_like ? 3 : 4;
    const double *pos = sequential_like ? pos_seq : pos_fun;

    int line_length = s->line_length;
    if (line_length <= 0) {
        int def = sequential_like ? 88 : 108;
        int term = terminal_columns() - 4;
        line_length = term < def ? term : def;
    }

    /* Keras' column widths, then rich's: +2 padding, capped at the room inside the borders,
     * and the excess taken back evenly. */
    int widths[MAX_COLS], current = 0;
    for (int c = 0; c < ncols; c++) {
        int w = (int)(pos[c] * (double)line_length) - current;
        if (w < 4)
            return ck_error(CKERAS_EINVAL, "summary: line_length %d is too small (a column of %d < 4)",
                            line_length, w);
        widths[c] = w;
        current += w;
    }
    int room = line_length - (ncols + 1), total = 0;
    for (int c = 0; c < ncols; c++) {
        widths[c] += 2;
        if (widths[c] > room)
            widths[c] = room;
        total += widths[c];
    }
    if (total > room) {
        int remaining = total - room, left = ncols;
        for (int c = 0; c < ncols; c++) {
            int d = round_div_even(remaining, left);
            if (d > widths[c])
                d = widths[c];
            widths[c] -= d;
            remaining -= d;
            left--;
        }
    }
    for (int c = 0; c < ncols; c++)
        if (widths[c] < 3)
            return ck_error(CKERAS_EINVAL, "summary: line_length %d is too small", line_length);

    row_work *work = ck_malloc(sizeof *work);
    if (!work)
        return CKERAS_ENOMEM;
    ck_strbuf b = {0};
    ck_sb_puts(&b, "Model: \"");
    ck_sb_puts(&b, s->model_name ? s->model_name : "");
    ck_sb_puts(&b, "\"\n");
    put_rule(&b, widths, ncols, "\xe2\x94\x8f", "\xe2\x94\x81", "\xe2\x94\xb3", "\xe2\x94\x93"); /* ┏━┳┓ */
    put_row(&b, work, head, ncols, widths, right, "\xe2\x94\x83");                                    /* ┃ */
    put_rule(&b, widths, ncols, "\xe2\x94\xa1", "\xe2\x94\x81", "\xe2\x95\x87", "\xe2\x94\xa9"); /* ┡━╇┩ */
    for (int i = 0; i < s->nrows; i++) {
        const ck_summary_row *r = &s->rows[i];
        char params[32];
        format_count(r->params, params);
        const char *texts[MAX_COLS] = {r->name, r->shape, params, r->connected[0] ? r->connected : "-"};
        if (i > 0) /* ├─┼┤ */
            put_rule(&b, widths, ncols, "\xe2\x94\x9c", "\xe2\x94\x80", "\xe2\x94\xbc", "\xe2\x94\xa4");
        put_row(&b, work, texts, ncols, widths, right, "\xe2\x94\x82"); /* │ */
    }
    put_rule(&b, widths, ncols, "\xe2\x94\x94", "\xe2\x94\x80", "\xe2\x94\xb4", "\xe2\x94\x98"); /* └─┴┘ */

    int64_t total_params = s->trainable + s->non_trainable + s->optimizer_params;
    struct {
        const char *label;
        int64_t count;
    } lines[] = {
        {"Total", total_params},
        {"Trainable", s->trainable},
        {"Non-trainable", s->non_trainable},
        {"Optimizer", s->optimizer_params},
    };
    int nlines = s->optimizer_params > 0 ? 4 : 3;
    for (int i = 0; i < nlines; i++) {
        char count[32], size[64];
        format_count(lines[i].count, count);
        format_size((double)lines[i].count * 32.0 / 8.0, size);
        ck_sb_printf(&b, " %s params: %s (%s)\n", lines[i].label, count, size);
    }
    ck_free(work);
    if (b.failed || !b.p) {
        ck_free(b.p);
        return ck_error(CKERAS_ENOMEM, "summary: out of memory");
    }
    *text = b.p;
    return CKERAS_OK;
}
