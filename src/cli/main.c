/* ckeras: the command-line tool.
 *   ckeras summary FILE.h5                 Keras-style summary of a model file
 *   ckeras predict FILE.h5 IN.npy OUT.npy  run the model on float32 NumPy arrays
 *                                          (IN.npz with arrays input_0, input_1, ... for
 *                                          several inputs; OUT.npz with one array per output,
 *                                          named after the output layers, for several outputs)
 *   ckeras evaluate FILE.h5 X Y            loss and metrics of a compiled model file (X as
 *                                          predict's IN; Y.npy, or Y.npz with one array per
 *                                          output named after the output layers)
 *   ckeras plot-model FILE.h5 OUT.dot      the model's graph as graphviz DOT (Keras' plot_model;
 *                                          OUT "-" is stdout)
 *   ckeras plot-history LOG.csv OUT.svg    a CSVLogger file drawn as SVG: loss and each metric
 *                                          per epoch, training solid, validation dashed
 *   ckeras version                         version and build information
 */
#include "ckeras.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr, "usage: ckeras summary FILE.h5\n"
                    "       ckeras predict FILE.h5 IN.npy|IN.npz OUT.npy|OUT.npz [BATCH]\n"
                    "       ckeras evaluate FILE.h5 X.npy|X.npz Y.npy|Y.npz [BATCH]\n"
                    "       ckeras plot-model FILE.h5 OUT.dot [--no-shapes] [--rankdir TB|LR] [--show-dtype]\n"
                    "                         [--show-trainable]\n"
                    "       ckeras plot-history LOG.csv OUT.svg [--title TEXT]\n"
                    "       ckeras version\n");
    return 2;
}

static int fail(const char *what)
{
    fprintf(stderr, "ckeras %s: %s\n", what, ckeras_last_error());
    return 1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Runs the model and writes its predictions to out: a .npy for one output; a .npz holds one
 * array per output, named after the output layers (as Keras' dict of outputs). */
static int predict_to(ckeras_model *m, int n, const ckeras_tensor *const *xs, int batch, const char *out)
{
    int nout = ckeras_model_output_count(m);
    int npz = ends_with(out, ".npz");
    if (nout > 1 && !npz) {
        fprintf(stderr, "ckeras predict: model '%s' has %d outputs (", ckeras_model_name(m), nout);
        for (int k = 0; k < nout; k++)
            fprintf(stderr, "%s%s", k ? ", " : "", ckeras_model_output_name(m, k));
        fprintf(stderr, "); give an OUT ending in .npz to get one array per output\n");
        return 1;
    }
    if (nout < 1 || nout > 32) {
        fprintf(stderr, "ckeras predict: model '%s' has %d outputs\n", ckeras_model_name(m), nout);
        return 1;
    }
    ckeras_tensor *ys[32] = {NULL};
    const char *names[32];
    int rc = 0;
    if (ckeras_model_predict_outputs(m, n, xs, batch, nout, ys) != CKERAS_OK) {
        rc = fail("predict");
    } else {
        for (int k = 0; k < nout; k++)
            names[k] = ckeras_model_output_name(m, k);
        ckeras_status st = npz ? ckeras_write_npz(out, nout, names, (const ckeras_tensor *const *)ys)
                               : ckeras_write_npy(out, ys[0]);
        if (st != CKERAS_OK)
            rc = fail("predict");
    }
    for (int k = 0; k < nout; k++)
        ckeras_tensor_free(ys[k]);
    return rc;
}

/* input_0, input_1, ... in that order; else the members in file order */
static int npz_inputs(const char *path, int *n, ckeras_tensor ***xs)
{
    char **names = NULL;
    ckeras_tensor **arrays = NULL;
    int count = 0;
    if (ckeras_read_npz(path, &count, &names, &arrays) != CKERAS_OK)
        return -1;
    ckeras_tensor **out = calloc((size_t)(count ? count : 1), sizeof *out);
    if (!out) {
        ckeras_npz_free(count, names, arrays);
        return -1;
    }
    for (int j = 0; j < count; j++) {
        char key[32];
        snprintf(key, sizeof key, "input_%d", j);
        int found = -1;
        for (int k = 0; k < count; k++)
            if (arrays[k] && strcmp(names[k], key) == 0)
                found = k;
        if (found < 0)
            found = j;
        out[j] = arrays[found];
        arrays[found] = NULL;
    }
    for (int j = 0; j < count; j++)
        if (!out[j])
            for (int k = 0; k < count; k++)
                if (arrays[k]) {
                    out[j] = arrays[k];
                    arrays[k] = NULL;
                    break;
                }
    ckeras_npz_free(count, names, arrays);
    *n = count;
    *xs = out;
    return 0;
}

/* X.npy or X.npz (inputs as predict reads them) into *n tensors; 0 on success. */
static int read_inputs(const char *path, int *n, ckeras_tensor ***xs)
{
    if (ends_with(path, ".npz"))
        return npz_inputs(path, n, xs);
    *xs = calloc(1, sizeof **xs);
    *n = 1;
    if (!*xs || ckeras_read_npy(path, &(*xs)[0]) != CKERAS_OK) {
        free(*xs);
        *xs = NULL;
        return -1;
    }
    return 0;
}

/* Y.npy (one output) or Y.npz: one array per output, named after the output layers (as predict
 * writes them) or, when the names do not match, in the archive's order. 0 on success. */
static int read_targets(ckeras_model *m, const char *path, int nout, ckeras_tensor **ys)
{
    if (!ends_with(path, ".npz")) {
        if (nout != 1) {
            fprintf(stderr, "ckeras evaluate: model '%s' has %d outputs; give Y as a .npz with one array per "
                            "output\n", ckeras_model_name(m), nout);
            return -1;
        }
        return ckeras_read_npy(path, &ys[0]) == CKERAS_OK ? 0 : fail("evaluate");
    }
    char **names = NULL;
    ckeras_tensor **arrays = NULL;
    int count = 0;
    if (ckeras_read_npz(path, &count, &names, &arrays) != CKERAS_OK)
        return fail("evaluate");
    if (count != nout) {
        fprintf(stderr, "ckeras evaluate: %s holds %d arrays; model '%s' has %d outputs\n", path, count,
                ckeras_model_name(m), nout);
        ckeras_npz_free(count, names, arrays);
        return -1;
    }
    int by_name = 1;
    for (int k = 0; k < nout && by_name; k++) {
        int found = -1;
        for (int j = 0; j < count; j++)
            if (arrays[j] && strcmp(names[j], ckeras_model_output_name(m, k)) == 0)
                found = j;
        by_name = found >= 0;
    }
    for (int k = 0; k < nout; k++) {
        int take = k;
        for (int j = 0; by_name && j < count; j++)
            if (arrays[j] && strcmp(names[j], ckeras_model_output_name(m, k)) == 0)
                take = j;
        ys[k] = arrays[take];
        arrays[take] = NULL;
    }
    ckeras_npz_free(count, names, arrays);
    return 0;
}

/* evaluate FILE X Y [BATCH]: prints each value of Keras' evaluate (loss first) as "name: value". */
static int evaluate(ckeras_model *m, const char *file, const char *xpath, const char *ypath, int batch)
{
    int k = ckeras_model_metrics_count(m), nout = ckeras_model_output_count(m);
    if (k <= 0) {
        fprintf(stderr, "ckeras evaluate: %s has no training config (loss); cannot evaluate\n", file);
        return 1;
    }
    if (nout < 1 || nout > 32) {
        fprintf(stderr, "ckeras evaluate: model '%s' has %d outputs\n", ckeras_model_name(m), nout);
        return 1;
    }
    int nin = 0, rc = 0;
    ckeras_tensor **xs = NULL, *ys[32] = {NULL};
    double *res = calloc((size_t)k, sizeof *res);
    if (!res) {
        fprintf(stderr, "ckeras evaluate: out of memory\n");
        return 1;
    }
    if (read_inputs(xpath, &nin, &xs) != 0)
        rc = fail("evaluate");
    else if (read_targets(m, ypath, nout, ys) != 0)
        rc = 1;
    else if (ckeras_model_evaluate_multi(m, nin, (const ckeras_tensor *const *)xs, nout,
                                         (const ckeras_tensor *const *)ys, batch, res, k) != CKERAS_OK)
        rc = fail("evaluate");
    else
        for (int i = 0; i < k; i++)
            printf("%s: %.6f\n", ckeras_model_metrics_name(m, i), res[i]);
    for (int j = 0; j < nin; j++)
        ckeras_tensor_free(xs[j]);
    for (int j = 0; j < nout; j++)
        ckeras_tensor_free(ys[j]);
    free(xs);
    free(res);
    return rc;
}

/* plot-model FILE OUT [options]: options may come anywhere after the command. Returns the exit
 * status. */
static int plot_model(int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    int flags = CKERAS_DOT_SHAPES;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--no-shapes") == 0) {
            flags &= ~CKERAS_DOT_SHAPES;
        } else if (strcmp(a, "--show-dtype") == 0) {
            flags |= CKERAS_DOT_DTYPE;
        } else if (strcmp(a, "--show-trainable") == 0) {
            flags |= CKERAS_DOT_TRAINABLE;
        } else if (strcmp(a, "--rankdir") == 0 && i + 1 < argc &&
                   (strcmp(argv[i + 1], "LR") == 0 || strcmp(argv[i + 1], "TB") == 0)) {
            flags = strcmp(argv[++i], "LR") == 0 ? (flags | CKERAS_DOT_LR) : (flags & ~CKERAS_DOT_LR);
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "ckeras plot-model: unknown option '%s' (accepted: --no-shapes, --rankdir TB|LR, "
                            "--show-dtype, --show-trainable)\n", a);
            return 2;
        } else if (npos < 2) {
            pos[npos++] = a;
        } else {
            return usage();
        }
    }
    if (npos != 2)
        return usage();
    ckeras_model *m = NULL;
    char *dot = NULL;
    if (ckeras_load_model(pos[0], CKERAS_LOAD_NO_COMPILE, &m) != CKERAS_OK)
        return fail("plot-model");
    int rc = 0;
    if (ckeras_model_to_dot(m, flags, &dot) != CKERAS_OK) {
        rc = fail("plot-model");
    } else if (strcmp(pos[1], "-") == 0) {
        if (fputs(dot, stdout) == EOF || fflush(stdout) != 0) {
            fprintf(stderr, "ckeras plot-model: cannot write to standard output\n");
            rc = 1;
        }
    } else {
        FILE *f = fopen(pos[1], "w");
        int bad = !f || fputs(dot, f) == EOF;
        if (f && fclose(f) != 0)
            bad = 1;
        if (bad) {
            fprintf(stderr, "ckeras plot-model: cannot write '%s'\n", pos[1]);
            rc = 1;
        }
    }
    ckeras_free(dot);
    ckeras_model_free(m);
    return rc;
}

/* plot-history LOG.csv OUT.svg [--title TEXT] (title by default: the CSV's file name). */
static int plot_history(int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL}, *title = NULL;
    int npos = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--title") == 0 && i + 1 < argc) {
            title = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "ckeras plot-history: unknown option '%s' (accepted: --title TEXT)\n", argv[i]);
            return 2;
        } else if (npos < 2) {
            pos[npos++] = argv[i];
        } else {
            return usage();
        }
    }
    if (npos != 2)
        return usage();
    if (!title) {
        const char *slash = strrchr(pos[0], '/');
        title = slash ? slash + 1 : pos[0];
    }
    ckeras_history *h = NULL;
    if (ckeras_history_read_csv(pos[0], &h) != CKERAS_OK)
        return fail("plot-history");
    int rc = ckeras_history_plot_svg(h, pos[1], title) == CKERAS_OK ? 0 : fail("plot-history");
    ckeras_history_free(h);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *cmd = argv[1];
    if (strcmp(cmd, "version") == 0) {
        printf("%s\n", ckeras_build_info());
        return 0;
    }
    if (strcmp(cmd, "plot-model") == 0)
        return plot_model(argc, argv);
    if (strcmp(cmd, "plot-history") == 0)
        return plot_history(argc, argv);
    if (argc < 3)
        return usage();
    ckeras_model *m = NULL;
    int rc = 0;
    if (strcmp(cmd, "summary") == 0) {
        if (ckeras_load_model(argv[2], CKERAS_LOAD_NO_COMPILE, &m) != CKERAS_OK)
            return fail("summary");
        if (ckeras_model_summary(m, 0, stdout) != CKERAS_OK)
            rc = fail("summary");
    } else if (strcmp(cmd, "predict") == 0 && argc >= 5) {
        int batch = argc > 5 ? atoi(argv[5]) : 0;
        if (ckeras_load_model(argv[2], CKERAS_LOAD_NO_COMPILE, &m) != CKERAS_OK)
            return fail("predict");
        int n = 0;
        ckeras_tensor **xs = NULL;
        if (read_inputs(argv[3], &n, &xs) != 0) {
            ckeras_model_free(m);
            return fail("predict");
        }
        rc = predict_to(m, n, (const ckeras_tensor *const *)xs, batch, argv[4]);
        for (int j = 0; j < n; j++)
            ckeras_tensor_free(xs[j]);
        free(xs);
    } else if (strcmp(cmd, "evaluate") == 0 && argc >= 5) {
        int batch = argc > 5 ? atoi(argv[5]) : 0;
        if (ckeras_load_model(argv[2], 0, &m) != CKERAS_OK)
            return fail("evaluate");
        rc = evaluate(m, argv[2], argv[3], argv[4], batch);
    } else {
        return usage();
    }
    ckeras_model_free(m);
    return rc;
}
