/* Keras 3's progress bar (keras.utils.Progbar driven by the ProgbarLogger callback), byte for
 * byte:
 *
 *   epoch line  "Epoch 3/100\n", printed by verbose 1 and 2 when fit has more than one epoch.
 *   verbose 1   frames "\b" x (previous frame's visible width) "\r" then
 *               ESC[1m{step right-aligned to the digits of steps}/{steps}ESC[0m " "
 *               ESC[32m{int(20 * step / steps) x U+2501}ESC[0m (omitted when 0 wide)
 *               ESC[37m{the rest of the 20 x U+2501}ESC[0m
 *               " "ESC[1m{ETA}ESC[0m (intermediate: "7s", "1:05", "1:00:05") or
 *               " "ESC[1m{elapsed %.0f}sESC[0m (final frame)
 *               " {t}s/step" (t >= 1 or 0), " {t*1e3}ms/step" (t >= 1e-3), else
 *               " {t*1e6}us/step", all %.0f
 *               " - {name}: {value}" per logs entry, value %.4f if |value| > 1e-3 else %.4e
 *               spaces when the frame is narrower than the previous one; "\n" after the final
 *               frame. Intermediate frames at most every 0.05 s; the first and the final
 *               frame always.
 *   verbose 2   at the end of the epoch: "{step}/{steps} - {elapsed}s - {t}ms/step -
 *               name: value ...\n" (value %.4f if value > 1e-3, else %.4e: no |.| here).
 *
 *   not a terminal  (verbose 1 when the stream is a file or a pipe: Keras' non-dynamic display,
 *               its `_dynamic_display` False) no intermediate frames; at the end of the epoch
 *               "\n" then the final frame as above without the ESC[...m colour codes, then
 *               "\n": no "\r", no backspaces, no colours. (Keras' own non-dynamic branch keeps
 *               the colour codes and also prints the intermediate frames, each after a "\n";
 *               a log file gets only the epoch's last line here.) A stream without a file
 *               descriptor (open_memstream) counts as a terminal.
 *
 * Known differences from Keras, both only in intermediate or timing-dependent text, both for
 * want of state in ck_progbar: the time per step is (now - start) / step where Keras leaves
 * the first step out once past it, and intermediate frames show the running logs as given
 * where Keras shows their mean over the steps seen so far. */
#include "callbacks/callbacks.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 20
#define INTERVAL 0.05

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Number of decimal digits of n > 0 (Keras: int(log10(n)) + 1). */
static int num_digits(int n)
{
    int d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* Visible width of s: code points outside ESC [ ... m sequences. */
static int visible_width(const char *s)
{
    int w = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == 0x1b) {
            while (*c && *c != 'm')
                c++;
            if (!*c)
                break;
            continue;
        }
        if ((*c & 0xC0) != 0x80)
            w++;
    }
    return w;
}

/* Writes to the bar's stream and counts the visible width. */
typedef struct emitter {
    FILE *out;
    int width;
    bool plain; /* leave the ESC[...m colour codes out */
} emitter;

static void emit(emitter *e, const char *s)
{
    e->width += visible_width(s);
    if (!e->plain) {
        fputs(s, e->out);
        return;
    }
    for (const char *c = s; *c; c++) {
        if (*c == 0x1b) {
            while (*c && *c != 'm')
                c++;
            if (!*c)
                break;
            continue;
        }
        fputc(*c, e->out);
    }
}

static void emitf(emitter *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emitf(emitter *e, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n >= 0)
        emit(e, tmp);
}

/* Python's f"{v:.4f}" / f"{v:.4e}": NaN is "nan" whatever its sign bit. */
static void emit_value(emitter *e, double v, bool fixed)
{
    if (isnan(v))
        emit(e, " nan");
    else if (fixed)
        emitf(e, " %.4f", v);
    else
        emitf(e, " %.4e", v);
}

/* Keras' _format_time: " 4ms/step". */
static void emit_time_per_step(emitter *e, double t)
{
    if (t >= 1.0 || t == 0.0)
        emitf(e, " %.0fs/step", t);
    else if (t >= 1e-3)
        emitf(e, " %.0fms/step", t * 1000.0);
    else
        emitf(e, " %.0fus/step", t * 1000000.0);
}

/* The time per step so far (Keras' estimate without its first-step refinement). */
static double time_per_step(const ck_progbar *p, int current, double now)
{
    return current > 0 ? (now - p->start) / current : 0.0;
}

void ck_progbar_epoch_begin(ck_progbar *p, FILE *out, int verbose, int epoch, int epochs, int steps)
{
    p->out = out ? out : stdout;
    p->verbose = verbose;
    p->target = steps;
    p->start = now_seconds();
    p->last_draw = -1e300; /* the first frame is always drawn */
    p->prev_width = 0;
    int fd = fileno(p->out);
    p->plain = fd >= 0 && !isatty(fd);
    /* epoch is 0-based, as in Keras' on_epoch_begin */
    if (verbose > 0 && epochs > 1) {
        fprintf(p->out, "Epoch %d/%d\n", epoch + 1, epochs);
        fflush(p->out);
    }
}

/* One verbose-1 frame for step `current`. */
static void draw(ck_progbar *p, int current, const ckeras_logs *logs, bool finalize)
{
    double now = now_seconds();
    double tps = time_per_step(p, current, now);
    if (!finalize && now - p->last_draw < INTERVAL)
        return;

    FILE *out = p->out ? p->out : stdout;
    if (p->plain) {
        fputc('\n', out);
    } else {
        for (int i = 0; i < p->prev_width; i++)
            fputc('\b', out);
        fputc('\r', out);
    }

    emitter e = {out, 0, p->plain};
    if (p->target > 0) {
        emitf(&e, "\x1b[1m%*d/%d\x1b[0m ", num_digits(p->target), current, p->target);
        int done = (int)(BAR_WIDTH * ((double)current / p->target));
        if (done > 0) {
            emit(&e, "\x1b[32m");
            for (int i = 0; i < done; i++)
                emit(&e, "\xe2\x94\x81"); /* U+2501 */
            emit(&e, "\x1b[0m");
        }
        emit(&e, "\x1b[37m");
        for (int i = done; i < BAR_WIDTH; i++)
            emit(&e, "\xe2\x94\x81");
        emit(&e, "\x1b[0m");
    } else {
        emitf(&e, "%7d/Unknown", current);
    }

    if (p->target > 0 && !finalize) {
        double eta = tps * (p->target - current);
        if (eta > 3600)
            emitf(&e, " \x1b[1m%lld:%02lld:%02lld\x1b[0m", (long long)floor(eta / 3600),
                  (long long)floor(fmod(eta, 3600) / 60), (long long)fmod(eta, 60));
        else if (eta > 60)
            emitf(&e, " \x1b[1m%lld:%02lld\x1b[0m", (long long)floor(eta / 60), (long long)fmod(eta, 60));
        else
            emitf(&e, " \x1b[1m%llds\x1b[0m", (long long)eta);
    } else {
        emitf(&e, " \x1b[1m%.0fs\x1b[0m", now - p->start);
    }
    emit_time_per_step(&e, tps);

    for (int i = 0; logs && i < logs->n; i++) {
        emitf(&e, " - %s:", logs->names[i]);
        emit_value(&e, logs->values[i], fabs(logs->values[i]) > 1e-3);
    }

    for (int i = e.width; i < p->prev_width; i++)
        fputc(' ', out);
    if (finalize)
        fputc('\n', out);
    fflush(out);
    p->prev_width = e.width;
    p->last_draw = now;
}

void ck_progbar_update(ck_progbar *p, int step, const ckeras_logs *logs)
{
    if (p->verbose == 1 && !p->plain)
        draw(p, step, logs, false);
}

void ck_progbar_epoch_end(ck_progbar *p, const ckeras_logs *logs)
{
    if (p->verbose == 1) {
        draw(p, p->target, logs, true);
        return;
    }
    if (p->verbose != 2 || p->target <= 0)
        return;
    double now = now_seconds();
    FILE *out = p->out ? p->out : stdout;
    emitter e = {out, 0, false};
    emitf(&e, "%*d/%d - %.0fs -", num_digits(p->target), p->target, p->target, now - p->start);
    emit_time_per_step(&e, time_per_step(p, p->target, now));
    for (int i = 0; logs && i < logs->n; i++) {
        emitf(&e, " - %s:", logs->names[i]);
        emit_value(&e, logs->values[i], logs->values[i] > 1e-3);
    }
    fputc('\n', out);
    fflush(out);
    p->last_draw = now;
}
