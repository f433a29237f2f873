/* Looking at training (issue #11 item 5): the progress output of a fit whose stdout is a file
 * (no '\r', no backspaces, no ANSI codes; per epoch the "Epoch i/N" line, then Keras'
 * non-dynamic frame: "\n" + the final frame + "\n"), and the CSVLogger file of a fit read back
 * into a History (ckeras_history_read_csv) equal to fit's History, drawn as SVG
 * (ckeras_history_plot_svg; tests/test_plot_history.sh parses and renders the SVG), and the
 * errors of both. */
#include "ckeras.h"
#include "testutil.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A Dense(2, softmax) model on 12 fixed samples. */
static ckeras_model *model(void)
{
    ckeras_model *m = ckeras_sequential("view");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){3})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(2, "softmax")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.1, 0, 0), "categorical_crossentropy", "accuracy,auc"),
                     CKERAS_OK);
    return m;
}

static float X[36], Y[24];

static void data(ckeras_tensor **x, ckeras_tensor **y)
{
    for (int i = 0; i < 36; i++)
        X[i] = (float)((i * 7) % 11) / 5.0f - 1.0f;
    for (int r = 0; r < 12; r++) {
        Y[r * 2] = (float)(X[r * 3] > 0);
        Y[r * 2 + 1] = 1.0f - Y[r * 2];
    }
    *x = ckeras_tensor_wrap(X, 2, (const int64_t[]){12, 3});
    *y = ckeras_tensor_wrap(Y, 2, (const int64_t[]){12, 2});
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    ck_assert_int_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* "3/3 ━━━━━━━━━━━━━━━━━━━━ 0s 5ms/step - accuracy: 0.5000 - auc: 0.5000 - loss: 0.6931 -
 * val_accuracy: ... " : checks the shape of one frame line and returns how many values it has. */
static int check_frame(const char *line, int steps)
{
    char head[16];
    snprintf(head, sizeof head, "%d/%d ", steps, steps);
    ck_assert_msg(strncmp(line, head, strlen(head)) == 0, "frame '%s'", line);
    const char *p = line + strlen(head);
    for (int i = 0; i < 20; i++, p += 3)
        ck_assert_msg(strncmp(p, "\xe2\x94\x81", 3) == 0, "bar of '%s'", line); /* 20 x U+2501 */
    ck_assert_msg(*p == ' ' && p[1] >= '0' && p[1] <= '9', "time of '%s'", line);
    ck_assert_ptr_nonnull(strstr(p, "s/step"));
    int n = 0;
    for (const char *q = strstr(p, " - "); q; q = strstr(q + 3, " - ")) {
        const char *colon = strchr(q + 3, ':');
        ck_assert_msg(colon && colon[1] == ' ', "'%s'", q);
        char *end;
        strtod(colon + 2, &end);
        ck_assert_msg(end > colon + 2 && (*end == '\0' || *end == ' '), "value in '%s'", q);
        n++;
    }
    return n;
}

START_TEST(fit_to_a_file_prints_plain_lines)
{
    tu_tmpdir_make("view");
    const char *path = tu_tmp("out.txt");
    ckeras_model *m = model();
    ckeras_tensor *x, *y;
    data(&x, &y);
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "epochs", 3);
    ckeras_fit_args_set_int(a, "batch_size", 4);
    ckeras_fit_args_set_int(a, "verbose", 1);
    ckeras_fit_args_set_float(a, "validation_split", 0.25);
    /* stdout to a file for the fit */
    fflush(stdout);
    int saved = dup(1), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert(saved >= 0 && fd >= 0);
    dup2(fd, 1);
    close(fd);
    ckeras_status st = ckeras_model_fit(m, x, y, a, NULL);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    ck_assert_msg(st == CKERAS_OK, "%s", ckeras_last_error());
    char *out = read_all(path);
    for (const char *c = out; *c; c++)
        ck_assert_msg(*c != '\r' && *c != '\b' && *c != 0x1b, "control code 0x%02x at byte %ld of:\n%s", *c,
                      (long)(c - out), out);
    /* per epoch: "Epoch i/3", "" (Keras' non-dynamic "\n" before a frame), the final frame */
    char *save = NULL, *line = out;
    int lines = 0;
    for (int e = 1; e <= 3; e++) {
        char want[32];
        snprintf(want, sizeof want, "Epoch %d/3", e);
        char *eol = strchr(line, '\n');
        ck_assert_ptr_nonnull(eol);
        *eol = '\0';
        ck_assert_str_eq(line, want);
        line = eol + 1;
        ck_assert_int_eq(*line, '\n');
        line++;
        eol = strchr(line, '\n');
        ck_assert_ptr_nonnull(eol);
        *eol = '\0';
        /* 9 training samples in batches of 4: 3 steps; accuracy, auc, loss and their val_ */
        ck_assert_int_eq(check_frame(line, 3), 6);
        ck_assert_ptr_nonnull(strstr(line, " - val_auc: "));
        line = eol + 1;
        lines += 3;
    }
    ck_assert_msg(*line == '\0', "more output: '%s'", line);
    ck_assert_int_eq(lines, 9);
    (void)save;
    free(out);
    /* verbose 2 is plain already: one line per epoch after the epoch line */
    ckeras_fit_args_set_int(a, "verbose", 2);
    fflush(stdout);
    saved = dup(1);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    close(fd);
    st = ckeras_model_fit(m, x, y, a, NULL);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    ck_assert_int_eq(st, CKERAS_OK);
    out = read_all(path);
    ck_assert_ptr_null(strpbrk(out, "\r\b\x1b"));
    ck_assert_ptr_nonnull(strstr(out, "Epoch 1/3\n3/3 - "));
    free(out);
    ckeras_fit_args_free(a);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(csv_logger_file_reads_back_as_the_history)
{
    tu_tmpdir_make("view");
    const char *csv = tu_tmp("log.csv");
    char csvp[512];
    snprintf(csvp, sizeof csvp, "%s", csv);
    ckeras_model *m = model();
    ckeras_tensor *x, *y;
    data(&x, &y);
    ckeras_callback *logger = ckeras_csv_logger(csvp, NULL, 0);
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "epochs", 4);
    ckeras_fit_args_set_int(a, "batch_size", 4);
    ckeras_fit_args_set_int(a, "verbose", 0);
    ckeras_fit_args_set_float(a, "validation_split", 0.25);
    ckeras_fit_args_add_callback(a, logger);
    ckeras_history *h = NULL, *back = NULL;
    ck_assert_int_eq(ckeras_model_fit(m, x, y, a, &h), CKERAS_OK);
    ck_assert_msg(ckeras_history_read_csv(csvp, &back) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_history_epochs(back), 4);
    ck_assert_int_eq(ckeras_history_key_count(back), ckeras_history_key_count(h));
    for (int k = 0; k < ckeras_history_key_count(h); k++) {
        const char *key = ckeras_history_key(h, k);
        const double *a1, *b1;
        int n1, n2;
        ck_assert_int_eq(ckeras_history_values(h, key, &a1, &n1), CKERAS_OK);
        ck_assert_msg(ckeras_history_values(back, key, &b1, &n2) == CKERAS_OK, "%s", key);
        ck_assert_int_eq(n1, n2);
        for (int e = 0; e < n1; e++) /* Python's repr of a float reads back exactly */
            ck_assert_msg(a1[e] == b1[e], "%s epoch %d: %.17g, CSV %.17g", key, e, a1[e], b1[e]);
    }
    const char *svg = tu_tmp("h.svg");
    char svgp[512];
    snprintf(svgp, sizeof svgp, "%s", svg);
    ck_assert_int_eq(ckeras_history_plot_svg(back, svgp, NULL), CKERAS_OK);
    char *text = read_all(svgp);
    ck_assert_ptr_nonnull(strstr(text, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    ck_assert_ptr_nonnull(strstr(text, ">Training history</text>"));
    ck_assert_ptr_nonnull(strstr(text, "data-key=\"val_auc\""));
    ck_assert_ptr_nonnull(strstr(text, "<g class=\"panel\" data-key=\"loss\""));
    free(text);
    /* ';' separator, quoted per-class lists (their mean), NA and empty cells (NaN), CRLF */
    {
        const char *p = tu_tmp("semi.csv");
        FILE *f = fopen(p, "w");
        fputs("epoch;loss;f1_score;val_loss\r\n0;1.5;\"[0.5, 0.25]\";NA\r\n1;1.25;\"[0.75, 0.25]\";\r\n", f);
        fclose(f);
        ckeras_history *sh = NULL;
        const double *v;
        int ne;
        ck_assert_msg(ckeras_history_read_csv(p, &sh) == CKERAS_OK, "%s", ckeras_last_error());
        ck_assert_int_eq(ckeras_history_values(sh, "f1_score", &v, &ne), CKERAS_OK);
        ck_assert(ne == 2 && v[0] == 0.375);
        ck_assert_int_eq(ckeras_history_values(sh, "val_loss", &v, &ne), CKERAS_OK);
        ck_assert(isnan(v[0]) && isnan(v[1]));
        ck_assert_int_eq(ckeras_history_plot_svg(sh, svgp, "a <title> & more"), CKERAS_OK);
        char *t = read_all(svgp);
        ck_assert_ptr_nonnull(strstr(t, ">a &lt;title&gt; &amp; more</text>"));
        ck_assert_ptr_null(strstr(t, "class=\"validation\"")); /* nothing finite to draw */
        free(t);
        ckeras_history_free(sh);
    }
    /* errors */
    ck_assert_int_eq(ckeras_history_plot_svg(NULL, svgp, NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_history_plot_svg(back, NULL, NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_history_read_csv(NULL, &back), CKERAS_EINVAL);
    ckeras_history *none = NULL;
    ck_assert_int_ne(ckeras_history_read_csv(tu_tmp("missing.csv"), &none), CKERAS_OK);
    ck_assert_ptr_null(none);
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"epoch,loss\n0,0.5,1\n", "line 2 has more cells"},
        {"epoch,loss,acc\n0,0.5\n", "line 2 has 2 cells, the header 3"},
        {"epoch,loss\n0,x1\n", "line 2, column 'loss': 'x1' is not a number"},
        {"", "empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *p = tu_tmp("bad.csv");
        FILE *f = fopen(p, "w");
        fputs(bad[i].text, f);
        fclose(f);
        ck_assert_int_eq(ckeras_history_read_csv(p, &none), CKERAS_EFORMAT);
        ck_assert_msg(strstr(ckeras_last_error(), bad[i].msg), "'%s' lacks '%s'", ckeras_last_error(), bad[i].msg);
        ck_assert_ptr_null(none);
    }
    ckeras_history_free(h);
    ckeras_history_free(back);
    ckeras_callback_free(logger);
    ckeras_fit_args_free(a);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);
    tu_tmpdir_remove();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("training_view");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fit_to_a_file_prints_plain_lines);
    tcase_add_test(tc, csv_logger_file_reads_back_as_the_history);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
