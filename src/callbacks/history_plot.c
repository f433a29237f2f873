/* Looking at training: a History read back from a CSVLogger file, and drawn as plain SVG.
 *
 * CSV: the first line names the columns ("epoch", then the logs' keys, as Keras' CSVLogger
 * writes them); the separator is the first of ',', ';', tab or '|' found in that line. A cell
 * is a number, "nan"/"inf" (any case), "NA" or empty (missing: NaN), or a quoted list
 * "[0.5, 0.25]" (Keras' CSVLogger writes a metric with one value per class so): its mean.
 *
 * SVG: one panel per quantity (the keys without "val_", "loss" first), the training values
 * as a solid polyline and, when the file has "val_<key>", the validation values dashed; x is
 * the epoch counted from 1 (Keras' "Epoch 1/N"; the CSV's epoch column counts from 0), axes
 * with tick labels, a legend and a title. Each panel's <g> carries its data ranges and plot
 * box (data-xmin, data-xmax, data-ymin, data-ymax, data-left, data-top, data-width,
 * data-height), so a reader can map the points back to values; a NaN value breaks a curve.
 */
#include "callbacks.h"
#include "io/io.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading a CSVLogger file -------------------------------------------------------------- */

/* The next cell of line [*p, end) into buf (quotes removed, "" kept as "); false after the
 * last (*p is end + 1 then; a separator at the end of the line is followed by an empty cell). */
static bool next_cell(const char **p, const char *end, char sep, char *buf, size_t cap)
{
    const char *c = *p;
    if (c > end)
        return false;
    size_t n = 0;
    if (c < end && *c == '"') {
        c++;
        while (c < end) {
            if (*c == '"' && c + 1 < end && c[1] == '"') {
                if (n + 1 < cap)
                    buf[n++] = '"';
                c += 2;
            } else if (*c == '"') {
                c++;
                break;
            } else {
                if (n + 1 < cap)
                    buf[n++] = *c;
                c++;
            }
        }
        while (c < end && *c != sep)
            c++;
    } else {
        while (c < end && *c != sep) {
            if (n + 1 < cap)
                buf[n++] = *c;
            c++;
        }
    }
    buf[n] = '\0';
    *p = c < end ? c + 1 : end + 1;
    return true;
}

/* A cell's value: a number, nan/inf, NA or empty (NaN), or "[a, b, ...]" (their mean). */
static bool cell_value(char *s, double *out)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    if (n == 0 || strcmp(s, "NA") == 0) {
        *out = NAN;
        return true;
    }
    if (s[0] == '[' && s[n - 1] == ']') {
        s[n - 1] = '\0';
        double sum = 0;
        int k = 0;
        char *save = NULL;
        for (char *t = strtok_r(s + 1, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
            char *e;
            double v = strtod(t, &e);
            if (e == t || *e)
                return false;
            sum += v;
            k++;
        }
        *out = k ? sum / k : NAN;
        return true;
    }
    char *e;
    *out = strtod(s, &e);
    return e != s && *e == '\0';
}

ckeras_status ck_history_read_csv(const char *path, ckeras_history **out)
{
    uint8_t *text = NULL;
    size_t len = 0;
    ckeras_status st = ck_read_text(path, &text, &len);
    if (st != CKERAS_OK) {
        ck_error_prefix("history_read_csv");
        return st;
    }
    const char *p = (const char *)text, *end = p + len;
    if (len >= 3 && (uint8_t)p[0] == 0xEF && (uint8_t)p[1] == 0xBB && (uint8_t)p[2] == 0xBF)
        p += 3;
    ckeras_history *h = ck_history_new();
    ckeras_logs *logs = ck_calloc(1, sizeof *logs); /* 12 KB: not on the stack */
    char (*names)[CK_LOG_NAME] = ck_calloc(CK_MAX_LOGS, CK_LOG_NAME);
    char cell[512];
    int ncols = 0, epoch_col = -1, lineno = 0, rows = 0;
    char sep = ',';
    if (!h || !names || !logs)
        st = CKERAS_ENOMEM;
    while (st == CKERAS_OK && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *le = eol;
        if (le > p && le[-1] == '\r')
            le--;
        const char *line = p;
        p = eol < end ? eol + 1 : end;
        lineno++;
        if (le == line)
            continue;
        if (ncols == 0) { /* the header */
            const char *s = strpbrk(line, ",;\t|");
            sep = s && s < le ? *s : ',';
            while (next_cell(&line, le, sep, cell, sizeof cell)) {
                if (ncols == CK_MAX_LOGS) {
                    st = ck_error(CKERAS_EFORMAT, "history_read_csv: %s: more than %d columns", path, CK_MAX_LOGS);
                    break;
                }
                if (strlen(cell) >= CK_LOG_NAME) {
                    st = ck_error(CKERAS_EFORMAT, "history_read_csv: %s: column name '%.40s...' is too long", path,
                                  cell);
                    break;
                }
                memcpy(names[ncols], cell, strlen(cell) + 1);
                if (strcmp(cell, "epoch") == 0)
                    epoch_col = ncols;
                ncols++;
            }
            continue;
        }
        ck_logs_clear(logs);
        int col = 0, epoch = rows;
        while (st == CKERAS_OK && next_cell(&line, le, sep, cell, sizeof cell)) {
            double v;
            if (col >= ncols)
                st = ck_error(CKERAS_EFORMAT, "history_read_csv: %s: line %d has more cells than the %d columns of "
                              "the header", path, lineno, ncols);
            else if (!cell_value(cell, &v))
                st = ck_error(CKERAS_EFORMAT, "history_read_csv: %s: line %d, column '%s': '%.40s' is not a number",
                              path, lineno, names[col], cell);
            else if (col == epoch_col)
                epoch = isfinite(v) ? (int)v : rows;
            else
                ck_logs_set(logs, names[col], v);
            col++;
        }
        if (st == CKERAS_OK && col != ncols)
            st = ck_error(CKERAS_EFORMAT, "history_read_csv: %s: line %d has %d cells, the header %d", path, lineno,
                          col, ncols);
        if (st == CKERAS_OK)
            st = ck_history_append(h, epoch, logs);
        rows++;
    }
    if (st == CKERAS_OK && ncols == 0)
        st = ck_error(CKERAS_EFORMAT, "history_read_csv: %s: empty (no header line)", path);
    ck_free(names);
    ck_free(logs);
    ck_free(text);
    if (st != CKERAS_OK) {
        ck_history_free(h);
        return st;
    }
    *out = h;
    return CKERAS_OK;
}

/* ---- SVG ------------------------------------------------------------------------------------ */

#define W 760.0
#define PANEL_H 300.0
#define TITLE_H 50.0
#define LEFT 80.0
#define RIGHT 170.0 /* room for the legend */
#define TOP 36.0    /* inside a panel: its title */
#define BOTTOM 50.0 /* inside a panel: x tick labels and axis label */

static void put_escaped(ck_strbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': ck_sb_puts(b, "&amp;"); break;
        case '<': ck_sb_puts(b, "&lt;"); break;
        case '>': ck_sb_puts(b, "&gt;"); break;
        case '"': ck_sb_puts(b, "&quot;"); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\t')
                ck_sb_put(b, s, 1);
        }
    }
}

/* A "nice" step (1, 2 or 5 times a power of ten) for about n ticks over span. */
static double nice_step(double span, int n)
{
    double raw = span / n, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    return (f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0) * mag;
}

static void range_of(const double *v, int n, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; v && i < n; i++)
        if (isfinite(v[i])) {
            *lo = fmin(*lo, v[i]);
            *hi = fmax(*hi, v[i]);
        }
}

static const char *const colours[2] = {"#1f77b4", "#d62728"};

/* One curve of a panel: a polyline per run of finite values. */
static void curve(ck_strbuf *b, const ckeras_history *h, int key, bool val, double x0, double y0, double pw,
                  double ph, double xmin, double xmax, double ymin, double ymax)
{
    bool open = false;
    for (int e = 0; e <= h->epochs; e++) {
        double v = e < h->epochs ? h->values[key][e] : NAN;
        if (!isfinite(v)) {
            if (open)
                ck_sb_puts(b, "\"/>\n");
            open = false;
            continue;
        }
        double x = x0 + ((double)h->epoch_index[e] + 1.0 - xmin) / (xmax - xmin) * pw;
        double y = y0 + ph - (v - ymin) / (ymax - ymin) * ph;
        if (!open) {
            ck_sb_printf(b, "<polyline class=\"%s\" data-key=\"", val ? "validation" : "training");
            put_escaped(b, h->keys[key]);
            ck_sb_printf(b, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", colours[val],
                         val ? " stroke-dasharray=\"7,4\"" : "");
        } else {
            ck_sb_puts(b, " ");
        }
        ck_sb_printf(b, "%.3f,%.3f", x, y);
        open = true;
    }
}

static void panel(ck_strbuf *b, const ckeras_history *h, int tk, int vk, int index)
{
    const double top = TITLE_H + index * PANEL_H, x0 = LEFT, y0 = top + TOP;
    const double pw = W - LEFT - RIGHT, ph = PANEL_H - TOP - BOTTOM;
    /* x: epochs counted from 1 */
    double xmin = INFINITY, xmax = -INFINITY;
    for (int e = 0; e < h->epochs; e++) {
        xmin = fmin(xmin, h->epoch_index[e] + 1.0);
        xmax = fmax(xmax, h->epoch_index[e] + 1.0);
    }
    if (!(xmax > xmin)) {
        xmin -= 1;
        xmax += 1;
    }
    double lo, hi, vlo, vhi;
    range_of(h->values[tk], h->epochs, &lo, &hi);
    range_of(vk >= 0 ? h->values[vk] : NULL, h->epochs, &vlo, &vhi);
    lo = fmin(lo, vlo);
    hi = fmax(hi, vhi);
    if (!isfinite(lo)) { /* nothing finite to draw */
        lo = 0;
        hi = 1;
    }
    double pad = hi > lo ? 0.05 * (hi - lo) : (lo != 0 ? 0.05 * fabs(lo) : 0.5);
    double ymin = lo - pad, ymax = hi + pad;
    ck_sb_printf(b, "<g class=\"panel\" data-key=\"");
    put_escaped(b, h->keys[tk]);
    ck_sb_printf(b, "\" data-xmin=\"%.17g\" data-xmax=\"%.17g\" data-ymin=\"%.17g\" data-ymax=\"%.17g\" "
                    "data-left=\"%g\" data-top=\"%g\" data-width=\"%g\" data-height=\"%g\">\n",
                 xmin, xmax, ymin, ymax, x0, y0, pw, ph);
    ck_sb_printf(b, "<text x=\"%g\" y=\"%g\" font-size=\"15\" font-weight=\"bold\">", x0, top + 22);
    put_escaped(b, h->keys[tk]);
    ck_sb_puts(b, "</text>\n");
    ck_sb_printf(b, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"#ffffff\" stroke=\"#333333\"/>\n",
                 x0, y0, pw, ph);
    /* y ticks and grid */
    double step = nice_step(ymax - ymin, 7);
    for (double t = ceil(ymin / step) * step; t <= ymax + 1e-9 * step; t += step) {
        double y = y0 + ph - (t - ymin) / (ymax - ymin) * ph;
        double shown = fabs(t) < 1e-12 * step ? 0.0 : t;
        ck_sb_printf(b, "<line x1=\"%.3f\" y1=\"%.3f\" x2=\"%.3f\" y2=\"%.3f\" stroke=\"#dddddd\"/>\n", x0, y, x0 + pw,
                     y);
        ck_sb_printf(b, "<text class=\"ytick\" x=\"%.3f\" y=\"%.3f\" font-size=\"11\" text-anchor=\"end\">%.4g</text>\n",
                     x0 - 6, y + 4, shown);
    }
    /* x ticks at whole epochs */
    double xs = fmax(1.0, round(nice_step(xmax - xmin, 8)));
    for (double t = ceil(xmin / xs) * xs; t <= xmax + 1e-9; t += xs) {
        double x = x0 + (t - xmin) / (xmax - xmin) * pw;
        ck_sb_printf(b, "<line x1=\"%.3f\" y1=\"%.3f\" x2=\"%.3f\" y2=\"%.3f\" stroke=\"#333333\"/>\n", x, y0 + ph, x,
                     y0 + ph + 5);
        ck_sb_printf(b, "<text class=\"xtick\" x=\"%.3f\" y=\"%.3f\" font-size=\"11\" text-anchor=\"middle\">%.0f</text>\n",
                     x, y0 + ph + 18, t);
    }
    ck_sb_printf(b, "<text x=\"%g\" y=\"%g\" font-size=\"12\" text-anchor=\"middle\">epoch</text>\n", x0 + pw / 2,
                 y0 + ph + 38);
    curve(b, h, tk, false, x0, y0, pw, ph, xmin, xmax, ymin, ymax);
    if (vk >= 0)
        curve(b, h, vk, true, x0, y0, pw, ph, xmin, xmax, ymin, ymax);
    /* legend */
    for (int s = 0; s < (vk >= 0 ? 2 : 1); s++) {
        double ly = y0 + 14 + 20 * s, lx = x0 + pw + 14;
        ck_sb_printf(b, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", lx, ly,
                     lx + 28, ly, colours[s], s ? " stroke-dasharray=\"7,4\"" : "");
        ck_sb_printf(b, "<text class=\"legend\" x=\"%g\" y=\"%g\" font-size=\"12\">", lx + 34, ly + 4);
        put_escaped(b, h->keys[s ? vk : tk]);
        ck_sb_puts(b, "</text>\n");
    }
    ck_sb_puts(b, "</g>\n");
}

ckeras_status ck_history_plot_svg(const ckeras_history *h, const char *path, const char *title)
{
    if (!h || h->epochs == 0)
        return ck_error(CKERAS_EINVAL, "history_plot_svg: the History has no epochs");
    int order[CK_MAX_LOGS], n = 0;
    int loss = ck_history_find(h, "loss");
    if (loss >= 0)
        order[n++] = loss;
    for (int k = 0; k < h->nkeys; k++)
        if (k != loss && strncmp(h->keys[k], "val_", 4) != 0)
            order[n++] = k;
    /* a validation key whose training key is absent gets a panel of its own */
    for (int k = 0; k < h->nkeys; k++)
        if (strncmp(h->keys[k], "val_", 4) == 0 && ck_history_find(h, h->keys[k] + 4) < 0)
            order[n++] = k;
    if (n == 0)
        return ck_error(CKERAS_EINVAL, "history_plot_svg: the History has no values");
    ck_strbuf b = {0};
    double height = TITLE_H + n * PANEL_H + 10;
    ck_sb_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\" "
                     "font-family=\"sans-serif\">\n",
                 W, height, W, height);
    ck_sb_printf(&b, "<rect x=\"0\" y=\"0\" width=\"%g\" height=\"%g\" fill=\"#ffffff\"/>\n", W, height);
    ck_sb_printf(&b, "<text class=\"title\" x=\"%g\" y=\"32\" font-size=\"20\" text-anchor=\"middle\">", W / 2);
    put_escaped(&b, title && *title ? title : "Training history");
    ck_sb_puts(&b, "</text>\n");
    for (int i = 0; i < n; i++) {
        int tk = order[i], vk = -1;
        if (strncmp(h->keys[tk], "val_", 4) != 0) {
            char vname[CK_LOG_NAME + 4];
            snprintf(vname, sizeof vname, "val_%s", h->keys[tk]);
            vk = ck_history_find(h, vname);
        }
        panel(&b, h, tk, vk, i);
    }
    ck_sb_puts(&b, "</svg>\n");
    if (b.failed) {
        ck_free(b.p);
        return ck_error(CKERAS_ENOMEM, "history_plot_svg: out of memory");
    }
    ckeras_status st = ck_save_bytes(path, b.p, b.n);
    ck_free(b.p);
    if (st != CKERAS_OK)
        ck_error_prefix("history_plot_svg");
    return st;
}
