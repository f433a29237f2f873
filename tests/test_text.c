/* Text output: model.summary() tables and the fit progress bar, against Keras 3's own bytes
 * (tests/fixtures/keras3-traces/text.txt, and two functional-model summaries printed by
 * Keras 3 that are quoted below). */
#include "callbacks/callbacks.h"
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- text.txt by sections --------------------------------------------------------------- */

/* The body of the section whose title contains `key` (lines after "===== title =====" up to
 * the blank line that separates it from the next section). Free with free(). */
static char *section(const char *key)
{
    FILE *f = fopen("tests/fixtures/keras3-traces/text.txt", "rb");
    ck_assert_msg(f != NULL, "cannot open text.txt");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *all = malloc((size_t)n + 1);
    ck_assert(fread(all, 1, (size_t)n, f) == (size_t)n);
    all[n] = '\0';
    fclose(f);

    char *found = NULL;
    for (char *line = all; line && *line;) {
        char *eol = strchr(line, '\n');
        if (strncmp(line, "===== ", 6) == 0) {
            *eol = '\0';
            bool hit = strstr(line, key) != NULL;
            *eol = '\n';
            if (hit) {
                char *body = eol + 1, *end = strstr(body, "\n===== ");
                size_t len = end ? (size_t)(end - body) : strlen(body); /* end: the blank line */
                found = malloc(len + 1);
                memcpy(found, body, len);
                found[len] = '\0';
                break;
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    free(all);
    ck_assert_msg(found != NULL, "no section '%s' in text.txt", key);
    return found;
}

/* Asserts equal strings, reporting the first differing line. */
static void assert_text_eq(const char *got, const char *want, const char *what)
{
    if (strcmp(got, want) == 0)
        return;
    int line = 1;
    const char *g = got, *w = want, *gl = got, *wl = want;
    while (*g && *g == *w) {
        if (*g == '\n') {
            line++;
            gl = g + 1;
            wl = w + 1;
        }
        g++;
        w++;
    }
    ck_abort_msg("%s: line %d differs:\n got: %.*s\nwant: %.*s", what, line, (int)strcspn(gl, "\n"), gl,
                 (int)strcspn(wl, "\n"), wl);
}

/* ---- summary ------------------------------------------------------------------------------- */

static const ck_summary_row mlp_rows[] = {
    {"dense (Dense)", "(None, 100)", 3100, ""},
    {"dense_1 (Dense)", "(None, 50)", 5050, ""},
    {"dense_2 (Dense)", "(None, 50)", 2550, ""},
    {"dense_3 (Dense)", "(None, 1)", 51, ""},
};

/* Conv2D 8 (3x3 on 1 channel, no bias): 72; BatchNormalization(8): 4 x 8 (16 trainable);
 * Conv2D 16 (3x3 on 8, stride 2): 1,168; Dense 10 on 576: 5,770. */
static const ck_summary_row cnn_rows[] = {
    {"conv2d (Conv2D)", "(None, 28, 28, 8)", 72, ""},
    {"batch_normalization (BatchNormalization)", "(None, 28, 28, 8)", 32, ""},
    {"activation (Activation)", "(None, 28, 28, 8)", 0, ""},
    {"max_pooling2d (MaxPooling2D)", "(None, 14, 14, 8)", 0, ""},
    {"conv2d_1 (Conv2D)", "(None, 6, 6, 16)", 1168, ""},
    {"flatten (Flatten)", "(None, 576)", 0, ""},
    {"dense (Dense)", "(None, 10)", 5770, ""},
};

/* Runs ck_summary_format with COLUMNS set to `columns` (NULL: unset) and stdout not a
 * terminal, as in the captures. */
static char *summary_with_columns(const ck_summary *s, const char *columns)
{
    if (columns)
        setenv("COLUMNS", columns, 1);
    else
        unsetenv("COLUMNS");
    int saved = -1;
    if (isatty(STDOUT_FILENO)) {
        fflush(stdout);
        saved = dup(STDOUT_FILENO);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDOUT_FILENO);
        close(devnull);
    }
    char *text = NULL;
    ck_summary_format(s, &text);
    if (saved >= 0) {
        dup2(saved, STDOUT_FILENO);
        close(saved);
    }
    unsetenv("COLUMNS");
    ck_assert_msg(text != NULL, "ck_summary_format failed: %s", ckeras_last_error());
    return text;
}

static void check_summary(const ck_summary *s, const char *columns, const char *key)
{
    char *want = section(key);
    char *got = summary_with_columns(s, columns);
    assert_text_eq(got, want, key);
    ck_free(got);
    free(want);
}

START_TEST(summary_mlp)
{
    ck_summary s = {"sequential", "Sequential", 4, mlp_rows, 10751, 0, 0, 0};
    check_summary(&s, NULL, "seed MLP (Dense 100 relu on 30 inputs, 50 relu, 50 relu, 1 sigmoid), not "
                            "compiled; terminal width 80");
    check_summary(&s, "120", "seed MLP (Dense 100 relu on 30 inputs, 50 relu, 50 relu, 1 sigmoid), not "
                             "compiled; terminal width COLUMNS=120");
    /* an explicit line_length wins over COLUMNS: 76 is the width-80 table */
    s.line_length = 76;
    check_summary(&s, "120", "seed MLP (Dense 100 relu on 30 inputs, 50 relu, 50 relu, 1 sigmoid), not "
                             "compiled; terminal width 80");
    /* COLUMNS=80 is the same as no COLUMNS and no terminal */
    s.line_length = 0;
    check_summary(&s, "80", "seed MLP (Dense 100 relu on 30 inputs, 50 relu, 50 relu, 1 sigmoid), not "
                            "compiled; terminal width 80");
}
END_TEST

START_TEST(summary_cnn)
{
    ck_summary s = {"sequential", "Sequential", 7, cnn_rows, 7026, 16, 0, 0};
    check_summary(&s, NULL, "small CNN with BatchNormalization, not compiled; terminal width 80");
    check_summary(&s, "120", "small CNN with BatchNormalization, not compiled; terminal width COLUMNS=120");
}
END_TEST

START_TEST(summary_optimizer_params)
{
    /* Adam: m and v per weight (2 x 10,751) plus iterations and learning_rate */
    ck_summary s = {"sequential", "Sequential", 4, mlp_rows, 10751, 0, 2 * 10751 + 2, 0};
    check_summary(&s, NULL, "after compile(adam) and one fit epoch (optimizer params line appears); "
                            "terminal width 80");
    check_summary(&s, "120", "after compile(adam) and one fit epoch (optimizer params line appears); "
                             "terminal width COLUMNS=120");
}
END_TEST

/* A functional model's summary as Keras 3 printed it at a terminal width of 80 (a public
 * capture: a feature-stacking classifier "functional_12"). Shows "Connected to", "-" for
 * inputs, and words longer than a cell cut to width - 1 plus an ellipsis. */
static const char *const functional_80[] = {
    "Model: \"functional_12\"",
    "┏━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┓",
    "┃ Layer (type)        ┃ Output Shape      ┃    Param # ┃ Connected to      ┃",
    "┡━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━┩",
    "│ lstm_features       │ (None, 128)       │          0 │ -                 │",
    "│ (InputLayer)        │                   │            │                   │",
    "├─────────────────────┼───────────────────┼────────────┼───────────────────┤",
    "│ unet_features       │ (None, 64)        │          0 │ -                 │",
    "│ (InputLayer)        │                   │            │                   │",
    "├─────────────────────┼───────────────────┼────────────┼───────────────────┤",
    "│ batch_normalization │ (None, 128)       │        512 │ lstm_features[0]… │",
    "│ (BatchNormalizatio… │                   │            │                   │",
    "├─────────────────────┼───────────────────┼────────────┼───────────────────┤",
    "│ batch_normalizatio… │ (None, 64)        │        256 │ unet_features[0]… │",
    "│ (BatchNormalizatio… │                   │            │                   │",
    "├─────────────────────┼───────────────────┼────────────┼───────────────────┤",
    "│ prob_features       │ (None, 4)         │          0 │ -                 │",
    "│ (InputLayer)        │                   │            │                   │",
    "├─────────────────────┼───────────────────┼────────────┼───────────────────┤",
    "│ concatenate_4       │ (None, 196)       │          0 │ batch_normalizat… │",
    "│ (Concatenate)       │                   │            │ batch_normalizat… │",
    "│                     │                   │            │ prob_features[0]… │",
    "├─────────────────────┼───────────────────┼────────────┼───────────────────┤",
    "│ dense_4 (Dense)     │ (None, 64)        │     12,608 │ concatenate_4[0]… │",
    "├─────────────────────┼───────────────────┼────────────┼───────────────────┤",
    "│ dropout_2 (Dropout) │ (None, 64)        │          0 │ dense_4[0][0]     │",
    "├─────────────────────┼───────────────────┼────────────┼───────────────────┤",
    "│ dense_5 (Dense)     │ (None, 32)        │      2,080 │ dropout_2[0][0]   │",
    "├─────────────────────┼───────────────────┼────────────┼───────────────────┤",
    "│ dropout_3 (Dropout) │ (None, 32)        │          0 │ dense_5[0][0]     │",
    "├─────────────────────┼───────────────────┼────────────┼───────────────────┤",
    "│ dense_6 (Dense)     │ (None, 16)        │        528 │ dropout_3[0][0]   │",
    "├─────────────────────┼───────────────────┼────────────┼───────────────────┤",
    "│ dense_7 (Dense)     │ (None, 1)         │         17 │ dense_6[0][0]     │",
    "└─────────────────────┴───────────────────┴────────────┴───────────────────┘",
    " Total params: 16,001 (62.50 KB)",
    " Trainable params: 15,617 (61.00 KB)",
    " Non-trainable params: 384 (1.50 KB)",
    NULL,
};

static const ck_summary_row functional_80_rows[] = {
    {"lstm_features (InputLayer)", "(None, 128)", 0, ""},
    {"unet_features (InputLayer)", "(None, 64)", 0, ""},
    {"batch_normalization (BatchNormalization)", "(None, 128)", 512, "lstm_features[0][0]"},
    {"batch_normalization_1 (BatchNormalization)", "(None, 64)", 256, "unet_features[0][0]"},
    {"prob_features (InputLayer)", "(None, 4)", 0, ""},
    {"concatenate_4 (Concatenate)", "(None, 196)", 0,
     "batch_normalization[0][0], batch_normalization_1[0][0], prob_features[0][0]"},
    {"dense_4 (Dense)", "(None, 64)", 12608, "concatenate_4[0][0]"},
    {"dropout_2 (Dropout)", "(None, 64)", 0, "dense_4[0][0]"},
    {"dense_5 (Dense)", "(None, 32)", 2080, "dropout_2[0][0]"},
    {"dropout_3 (Dropout)", "(None, 32)", 0, "dense_5[0][0]"},
    {"dense_6 (Dense)", "(None, 16)", 528, "dropout_3[0][0]"},
    {"dense_7 (Dense)", "(None, 1)", 17, "dense_6[0][0]"},
};

/* The same at the full functional width of 108 (a public capture of Keras 3 output: a
 * transformer classifier): cells wrap at spaces, "Connected to" keeps a trailing space. */
static const char *const functional_108[] = {
    "Model: \"transformer\"",
    "┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓",
    "┃ Layer (type)                  ┃ Output Shape              ┃         Param # ┃ Connected to               ┃",
    "┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━┩",
    "│ input (InputLayer)            │ (None, 76, 50)            │               0 │ -                          │",
    "├───────────────────────────────┼───────────────────────────┼─────────────────┼────────────────────────────┤",
    "│ multi_head_attention          │ (None, 76, 50)            │         415,794 │ input[0][0], input[0][0],  │",
    "│ (MultiHeadAttention)          │                           │                 │ input[0][0]                │",
    "├───────────────────────────────┼───────────────────────────┼─────────────────┼────────────────────────────┤",
    "│ add (Add)                     │ (None, 76, 50)            │               0 │ input[0][0],               │",
    "│                               │                           │                 │ multi_head_attention[0][0] │",
    "├───────────────────────────────┼───────────────────────────┼─────────────────┼────────────────────────────┤",
    "│ add_2 (Add)                   │ (None, 76, 50)            │               0 │ input[0][0],               │",
    "│                               │                           │                 │ multi_head_attention_1[0]… │",
    "├───────────────────────────────┼───────────────────────────┼─────────────────┼────────────────────────────┤",
    "│ dense_2 (Dense)               │ (None, 1)                 │              51 │ global_average_pooling1d[… │",
    "└───────────────────────────────┴───────────────────────────┴─────────────────┴────────────────────────────┘",
    " Total params: 836,939 (3.19 MB)",
    " Trainable params: 836,939 (3.19 MB)",
    " Non-trainable params: 0 (0.00 B)",
    NULL,
};

static const ck_summary_row functional_108_rows[] = {
    {"input (InputLayer)", "(None, 76, 50)", 0, ""},
    {"multi_head_attention (MultiHeadAttention)", "(None, 76, 50)", 415794,
     "input[0][0], input[0][0], input[0][0]"},
    {"add (Add)", "(None, 76, 50)", 0, "input[0][0], multi_head_attention[0][0]"},
    {"add_2 (Add)", "(None, 76, 50)", 0, "input[0][0], multi_head_attention_1[0][0]"},
    {"dense_2 (Dense)", "(None, 1)", 51, "global_average_pooling1d[0][0]"},
};

static char *join_lines(const char *const *lines)
{
    size_t n = 0;
    for (int i = 0; lines[i]; i++)
        n += strlen(lines[i]) + 1;
    char *s = malloc(n + 1), *o = s;
    for (int i = 0; lines[i]; i++)
        o += sprintf(o, "%s\n", lines[i]);
    *o = '\0';
    return s;
}

START_TEST(summary_functional)
{
    ck_summary s = {"functional_12", "Functional", 12, functional_80_rows, 15617, 384, 0, 0};
    char *want = join_lines(functional_80);
    char *got = summary_with_columns(&s, NULL);
    assert_text_eq(got, want, "functional at width 80");
    ck_free(got);
    free(want);

    /* table width min(108, 120 - 4) */
    ck_summary t = {"transformer", "Functional", 5, functional_108_rows, 836939, 0, 0, 0};
    want = join_lines(functional_108);
    got = summary_with_columns(&t, "120");
    assert_text_eq(got, want, "functional at width 120");
    ck_free(got);
    free(want);
}
END_TEST

START_TEST(summary_sizes_and_errors)
{
    /* 300,000 float32 = 1,200,000 B = 1171.875 KB = 1.14 MB */
    ck_summary_row r = {"dense (Dense)", "(None, 1000)", 300000, ""};
    ck_summary s = {"m", "Sequential", 1, &r, 300000, 0, 0, 0};
    char *got = summary_with_columns(&s, NULL);
    ck_assert_ptr_nonnull(strstr(got, " Total params: 300,000 (1.14 MB)\n"));
    ck_assert_ptr_nonnull(strstr(got, "│       300,000 │"));
    ck_assert_ptr_null(strstr(got, "Optimizer"));
    ck_free(got);
    /* Keras refuses columns narrower than 4: int(0.45 * 8) = 3 */
    s.line_length = 8;
    char *none = NULL;
    ck_assert_int_eq(ck_summary_format(&s, &none), CKERAS_EINVAL);
    ck_assert_ptr_null(none);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "too small"));
    ck_assert_int_eq(ck_summary_format(NULL, &none), CKERAS_EINVAL);
}
END_TEST

/* ---- progress bar ---------------------------------------------------------------------------- */

static void logs_add(ckeras_logs *l, const char *name, double v)
{
    snprintf(l->names[l->n], CK_LOG_NAME, "%s", name);
    l->values[l->n++] = v;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Masks timings as text.txt does: the per-step time with its unit ("4ms/step") becomes
 * "{T}/step", the whole seconds after ESC[1m or " - " ("0s") become "{S}s". Free with free(). */
static char *mask_timings(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(2 * n + 16), *o = out;
    for (size_t i = 0; i < n;) {
        if (is_digit(s[i]) && i > 0 && s[i - 1] == ' ') {
            size_t j = i;
            while (is_digit(s[j]))
                j++;
            size_t u = j;
            if ((s[u] == 'm' || s[u] == 'u') && s[u + 1] == 's')
                u += 2;
            else if (s[u] == 's')
                u += 1;
            if (u > j && strncmp(s + u, "/step", 5) == 0) {
                o += sprintf(o, "{T}/step");
                i = u + 5;
                continue;
            }
        }
        bool after_bold = i >= 4 && strncmp(s + i - 4, "\x1b[1m", 4) == 0;
        bool after_dash = i >= 3 && strncmp(s + i - 3, " - ", 3) == 0;
        if (is_digit(s[i]) && (after_bold || after_dash)) {
            size_t j = i;
            while (is_digit(s[j]))
                j++;
            if (s[j] == 's' && (strncmp(s + j + 1, "\x1b[0m", 4) == 0 || strncmp(s + j + 1, " - ", 3) == 0)) {
                o += sprintf(o, "{S}s");
                i = j + 1;
                continue;
            }
        }
        *o++ = s[i++];
    }
    *o = '\0';
    return out;
}

/* The fit of text.txt: 3 steps, 2 epochs; running logs after step 1 and the epoch logs
 * (values as Keras printed them). */
typedef struct fit_trace {
    double step1[2];   /* accuracy, loss after step 1 */
    double epoch[4];   /* accuracy, loss, val_accuracy, val_loss */
} fit_trace;
static const fit_trace trace[2] = {
    {{0.53125, 0.6782}, {0.5208333, 0.7124, 0.4375, 0.7140}},
    {{0.75, 0.6214}, {0.6458333, 0.6601, 0.5625, 0.6895}},
};

/* Replays the fit through the progress bar into a string (free with free()). Steps 2 and 3
 * come within 0.05 s of the first frame, as in the capture, so they draw nothing. */
static char *replay(int verbose)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    for (int e = 0; e < 2; e++) {
        ck_progbar p;
        ck_progbar_epoch_begin(&p, f, verbose, e, 2, 3);
        for (int step = 1; step <= 3; step++) {
            ckeras_logs l = {0};
            logs_add(&l, "accuracy", trace[e].step1[0]);
            logs_add(&l, "loss", trace[e].step1[1]);
            if (step > 1)
                p.last_draw = p.start + 1e9; /* "just drawn" */
            ck_progbar_update(&p, step, &l);
        }
        ckeras_logs l = {0};
        logs_add(&l, "accuracy", trace[e].epoch[0]);
        logs_add(&l, "loss", trace[e].epoch[1]);
        logs_add(&l, "val_accuracy", trace[e].epoch[2]);
        logs_add(&l, "val_loss", trace[e].epoch[3]);
        ck_progbar_epoch_end(&p, &l);
    }
    fclose(f);
    return buf;
}

START_TEST(progbar_final_frames)
{
    char *raw = replay(1);
    /* keep, of each output line, the text after its last carriage return */
    char *kept = malloc(strlen(raw) + 1), *o = kept;
    for (char *line = raw; *line;) {
        char *eol = strchr(line, '\n');
        ck_assert_msg(eol != NULL, "output does not end with a newline");
        char *from = line;
        for (char *c = line; c < eol; c++)
            if (*c == '\r')
                from = c + 1;
        memcpy(o, from, (size_t)(eol - from) + 1);
        o += eol - from + 1;
        line = eol + 1;
    }
    *o = '\0';
    char *masked = mask_timings(kept);
    char *want = section("fit verbose=1: final frames");
    assert_text_eq(masked, want, "verbose=1 final frames");
    free(want);
    free(masked);
    free(kept);
    free(raw);
}
END_TEST

/* Visible width of a frame: code points outside ESC[...m. */
static int frame_width(const char *s, size_t n)
{
    int w = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == 0x1b) {
            while (i < n && s[i] != 'm')
                i++;
            continue;
        }
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            w++;
    }
    return w;
}

START_TEST(progbar_complete_capture)
{
    char *raw = replay(1);
    /* every run of backspaces is as long as the frame before it (counted here, unmasked) */
    int runs = 0;
    for (char *c = raw; *c; c++) {
        if (*c != '\b')
            continue;
        char *start = c;
        while (*c == '\b')
            c++;
        char *frame = start;
        while (frame > raw && frame[-1] != '\r')
            frame--;
        ck_assert_int_eq((int)(c - start), frame_width(frame, (size_t)(start - frame)));
        ck_assert_int_eq(*c, '\r');
        runs++;
    }
    ck_assert_int_eq(runs, 2);

    /* masked, and with the backspace runs set to the capture's lengths (which depend on the
     * masked timings), the bytes are the capture's */
    char *masked = mask_timings(raw);
    char *want = section("fit verbose=1: one complete stdout capture");
    char *norm = malloc(strlen(masked) + 256), *o = norm;
    const char *w = want;
    for (const char *c = masked; *c;) {
        if (*c == '\b') {
            while (*c == '\b')
                c++;
            while (*w && *w != '\b')
                w++;
            while (*w == '\b') {
                *o++ = '\b';
                w++;
            }
            continue;
        }
        *o++ = *c++;
        if (*w && *w != '\b')
            w++;
    }
    *o = '\0';
    assert_text_eq(norm, want, "verbose=1 complete capture");
    /* the capture itself: a 1/3 frame of 6 green and 14 white bars */
    ck_assert_ptr_nonnull(strstr(want, "\x1b[32m━━━━━━\x1b[0m\x1b[37m━━━━━━━━━━━━━━\x1b[0m"));
    free(norm);
    free(want);
    free(masked);
    free(raw);
}
END_TEST

START_TEST(progbar_verbose2)
{
    char *raw = replay(2);
    char *masked = mask_timings(raw);
    char *want = section("fit verbose=2");
    assert_text_eq(masked, want, "verbose=2");
    free(want);
    free(masked);
    free(raw);
}
END_TEST

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One frame of step `step` of `target` with the bar's clock started `ago` seconds back. */
static char *one_frame(int step, int target, double ago, const ckeras_logs *logs, bool final, int epochs)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_progbar p;
    ck_progbar_epoch_begin(&p, f, 1, 0, epochs, target);
    p.start = mono_now() - ago;
    if (final)
        ck_progbar_epoch_end(&p, logs);
    else
        ck_progbar_update(&p, step, logs);
    fclose(f);
    return buf;
}

START_TEST(progbar_formats)
{
    ckeras_logs l = {0};
    logs_add(&l, "loss", 0.0005);
    logs_add(&l, "mae", -0.5);
    logs_add(&l, "x", 12.0);

    /* Keras: ETA "%ds" under a minute, "m:ss" under an hour, else "h:mm:ss"; bar digits
     * right-aligned to the target's; int(20 * 1 / 3) = 6 green bars. No "Epoch" line for a
     * single epoch. 100 s for step 1 of 3: 200 s to go. */
    char *s = one_frame(1, 3, 100.0, &l, false, 1);
    ck_assert_str_eq(s, "\r\x1b[1m1/3\x1b[0m \x1b[32m━━━━━━\x1b[0m\x1b[37m━━━━━━━━━━━━━━\x1b[0m \x1b[1m3:20\x1b[0m "
                        "100s/step - loss: 5.0000e-04 - mae: -0.5000 - x: 12.0000");
    free(s);
    s = one_frame(1, 3, 4000.0, &l, false, 1);
    ck_assert_ptr_nonnull(strstr(s, "\x1b[1m2:13:20\x1b[0m 4000s/step"));
    free(s);
    s = one_frame(5, 100, 0.0615, &l, false, 2);
    ck_assert_ptr_nonnull(strstr(s, "Epoch 1/2\n\r\x1b[1m  5/100\x1b[0m \x1b[32m━\x1b[0m\x1b[37m"));
    ck_assert_ptr_nonnull(strstr(s, "\x1b[1m1s\x1b[0m 12ms/step")); /* 95 x 12.3 ms = 1.17 s */
    free(s);
    /* no green part at 0 bars; microseconds per step */
    s = one_frame(1000, 100000, 0.5, &l, false, 1);
    ck_assert_ptr_nonnull(strstr(s, "\x1b[1m  1000/100000\x1b[0m \x1b[37m━━━━━━━━━━━━━━━━━━━━\x1b[0m"));
    ck_assert_ptr_nonnull(strstr(s, " 500us/step"));
    free(s);
    /* final frame: elapsed seconds, newline */
    s = one_frame(0, 4, 7.2, &l, true, 1);
    ck_assert_ptr_nonnull(strstr(s, "\x1b[1m4/4\x1b[0m \x1b[32m━━━━━━━━━━━━━━━━━━━━\x1b[0m\x1b[37m\x1b[0m "
                                    "\x1b[1m7s\x1b[0m 2s/step - loss"));
    ck_assert(s[strlen(s) - 1] == '\n');
    free(s);
}
END_TEST

START_TEST(progbar_verbose2_values_and_silence)
{
    ckeras_logs l = {0};
    logs_add(&l, "loss", -0.5);   /* Keras' verbose 2 tests value > 1e-3, not |value| */
    logs_add(&l, "acc", 0.25);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_progbar p;
    ck_progbar_epoch_begin(&p, f, 2, 9, 10, 12);
    ck_progbar_update(&p, 1, &l); /* verbose 2 draws no frames */
    ck_progbar_epoch_end(&p, &l);
    ck_progbar_epoch_begin(&p, f, 0, 0, 10, 12);
    ck_progbar_update(&p, 1, &l);
    ck_progbar_epoch_end(&p, &l);
    fclose(f);
    char *masked = mask_timings(buf);
    ck_assert_str_eq(masked, "Epoch 10/10\n12/12 - {S}s - {T}/step - loss: -5.0000e-01 - acc: 0.2500\n");
    free(masked);
    free(buf);
}
END_TEST

START_TEST(progbar_throttle)
{
    ckeras_logs l = {0};
    logs_add(&l, "loss", 1.0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_progbar p;
    ck_progbar_epoch_begin(&p, f, 1, 0, 1, 1000);
    ck_progbar_update(&p, 1, &l);
    ck_progbar_update(&p, 2, &l); /* within 0.05 s: nothing */
    fflush(f);
    size_t after_two = len;
    ck_assert_ptr_null(strstr(buf, "2/1000"));
    struct timespec ts = {0, 60 * 1000 * 1000};
    nanosleep(&ts, NULL);
    ck_progbar_update(&p, 3, &l);
    fflush(f);
    ck_assert(len > after_two);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "   3/1000"));
    free(buf);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("text");
    TCase *tc = tcase_create("text");
    tcase_add_test(tc, summary_mlp);
    tcase_add_test(tc, summary_cnn);
    tcase_add_test(tc, summary_optimizer_params);
    tcase_add_test(tc, summary_functional);
    tcase_add_test(tc, summary_sizes_and_errors);
    tcase_add_test(tc, progbar_final_frames);
    tcase_add_test(tc, progbar_complete_capture);
    tcase_add_test(tc, progbar_verbose2);
    tcase_add_test(tc, progbar_formats);
    tcase_add_test(tc, progbar_verbose2_values_and_silence);
    tcase_add_test(tc, progbar_throttle);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
