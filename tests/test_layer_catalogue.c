/* The layer catalogue against real Keras: every case of tests/fixtures/layers/<group>/ was built,
 * predicted and trained one step by Keras 3.11.3 (tests/keras/layer_cases.py, the oracle). Here
 * ckeras loads each .h5, predicts the same inputs, saves the model in its three formats (.h5 in
 * the tf.keras 2 and Keras 3 layouts, .keras) and reloads each, and trains the same SGD step
 * (learning rate 0.1, mse): outputs, the step's loss and every updated weight must equal Keras' within the case's
 * tolerance (|ckeras - Keras| <= atol (1 + |Keras|), 1e-5 unless the case says otherwise). All
 * cases run; the failures are listed together. */
#include "ckeras.h"
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURES "tests/fixtures/layers"
#define MAX_IO 8

typedef struct npz {
    int n;
    char **names;
    ckeras_tensor **arrays;
} npz;

static ckeras_tensor *npz_get(const npz *z, const char *name)
{
    for (int i = 0; i < z->n; i++)
        if (strcmp(z->names[i], name) == 0)
            return z->arrays[i];
    return NULL;
}

/* Appends a failure line to the report. */
static void fail_line(char *report, size_t cap, int *nfail, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void fail_line(char *report, size_t cap, int *nfail, const char *fmt, ...)
{
    size_t len = strlen(report);
    va_list ap;
    va_start(ap, fmt);
    if (len + 2 < cap) {
        vsnprintf(report + len, cap - len - 1, fmt, ap);
        len = strlen(report);
        report[len] = '\n';
        report[len + 1] = '\0';
    }
    va_end(ap);
    (*nfail)++;
}

/* max over i of |a - b| / (1 + |b|), or INFINITY when the sizes differ or a value is not finite */
static double rel_err(const ckeras_tensor *a, const ckeras_tensor *b)
{
    int64_t n = ckeras_tensor_size(a);
    if (n != ckeras_tensor_size(b))
        return INFINITY;
    const float *pa = ckeras_tensor_data((ckeras_tensor *)a), *pb = ckeras_tensor_data((ckeras_tensor *)b);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)pa[i] - (double)pb[i]) / (1.0 + fabs((double)pb[i]));
        if (!(d <= worst))
            worst = isnan(d) ? INFINITY : d;
    }
    return worst;
}

/* Predicts xs with m and compares every output with z's y<k>; 0 when all match. */
static int check_predict(ckeras_model *m, const npz *z, int nin, const ckeras_tensor *const *xs, int nout,
                         double atol, const char *what, const char *name, char *report, size_t cap, int *nfail)
{
    ckeras_tensor *outs[MAX_IO] = {0};
    if (ckeras_model_predict_outputs(m, nin, xs, 32, nout, outs) != CKERAS_OK) {
        fail_line(report, cap, nfail, "%s: %s predict: %s", name, what, ckeras_last_error());
        return 1;
    }
    int bad = 0;
    for (int k = 0; k < nout; k++) {
        char key[16];
        snprintf(key, sizeof key, "y%d", k);
        double e = rel_err(outs[k], npz_get(z, key));
        if (!(e <= atol)) {
            fail_line(report, cap, nfail, "%s: %s output %d differs from Keras by %g (tolerance %g)", name, what, k, e,
                      atol);
            bad = 1;
        }
        ckeras_tensor_free(outs[k]);
    }
    return bad;
}

static void run_case(const char *dir, json_t *c, char *report, size_t cap, int *nfail, int *ntrained)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    int nin = (int)json_integer_value(json_object_get(c, "inputs"));
    int nout = (int)json_integer_value(json_object_get(c, "outputs"));
    int train = json_is_true(json_object_get(c, "train"));
    double atol = json_real_value(json_object_get(c, "atol"));
    ck_assert_msg(name && nin >= 1 && nin <= MAX_IO && nout >= 1 && nout <= MAX_IO && atol > 0, "bad manifest in %s", dir);

    char path[512];
    snprintf(path, sizeof path, "%s/%s.npz", dir, name);
    npz z = {0};
    ck_assert_msg(ckeras_read_npz(path, &z.n, &z.names, &z.arrays) == CKERAS_OK, "%s: %s", path, ckeras_last_error());
    const ckeras_tensor *xs[MAX_IO], *ts[MAX_IO];
    for (int k = 0; k < nin; k++) {
        char key[16];
        snprintf(key, sizeof key, "x%d", k);
        xs[k] = npz_get(&z, key);
        ck_assert_msg(xs[k] != NULL, "%s: no %s", path, key);
    }

    ckeras_model *m = NULL;
    snprintf(path, sizeof path, "%s/%s.h5", dir, name);
    if (ckeras_load_model(path, CKERAS_LOAD_NO_COMPILE, &m) != CKERAS_OK) {
        fail_line(report, cap, nfail, "%s: load: %s", name, ckeras_last_error());
        ckeras_npz_free(z.n, z.names, z.arrays);
        return;
    }
    if (check_predict(m, &z, nin, xs, nout, atol, "Keras' .h5", name, report, cap, nfail) == 0) {
        /* ckeras' own files of the same model compute the same */
        static const struct {
            const char *ext;
            int flags;
        } fmts[] = {{"h5", 0}, {"k3.h5", CKERAS_SAVE_KERAS3}, {"keras", 0}};
        for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++) {
            char file[64];
            snprintf(file, sizeof file, "copy.%s", fmts[f].ext);
            const char *copy = tu_tmp(file);
            ckeras_model *r = NULL;
            if (ckeras_model_save(m, copy, fmts[f].flags | CKERAS_SAVE_NO_OPTIMIZER) != CKERAS_OK ||
                ckeras_load_model(copy, CKERAS_LOAD_NO_COMPILE, &r) != CKERAS_OK) {
                fail_line(report, cap, nfail, "%s: ckeras' %s: %s", name, file, ckeras_last_error());
                continue;
            }
            check_predict(r, &z, nin, xs, nout, atol, file, name, report, cap, nfail);
            ckeras_model_free(r);
        }
    }

    if (train) {
        double loss = 0;
        for (int k = 0; k < nout; k++) {
            char key[16];
            snprintf(key, sizeof key, "t%d", k);
            ts[k] = npz_get(&z, key);
            ck_assert_msg(ts[k] != NULL, "%s: no %s", name, key);
        }
        if (ckeras_model_compile(m, ckeras_sgd(0.1, 0.0, 0), "mse", NULL) != CKERAS_OK ||
            ckeras_model_train_on_batch_multi(m, nin, xs, nout, ts, &loss, 1) != CKERAS_OK) {
            fail_line(report, cap, nfail, "%s: train: %s", name, ckeras_last_error());
        } else {
            (*ntrained)++;
            /* the step's loss (fixtures from before it was recorded have none) */
            const ckeras_tensor *kl = npz_get(&z, "loss");
            if (kl) {
                double want = ckeras_tensor_data((ckeras_tensor *)kl)[0];
                if (!(fabs(loss - want) <= atol * (1.0 + fabs(want))))
                    fail_line(report, cap, nfail, "%s: the step's loss %.9g differs from Keras' %.9g", name, loss,
                              want);
            }
            int checked = 0;
            for (int i = 0; i < z.n; i++) {
                if (strncmp(z.names[i], "w.", 2) != 0)
                    continue;
                /* w.<layer>.<index>: the layer name may hold dots, the index is after the last */
                char lname[256];
                const char *dot = strrchr(z.names[i], '.');
                size_t len = (size_t)(dot - z.names[i] - 2);
                ck_assert(len < sizeof lname);
                memcpy(lname, z.names[i] + 2, len);
                lname[len] = '\0';
                int wi = atoi(dot + 1);
                ckeras_layer *l = ckeras_model_layer_by_name(m, lname);
                ckeras_tensor *view = NULL;
                const char *wname = NULL;
                if (!l || ckeras_layer_weight(l, wi, &wname, &view) != CKERAS_OK) {
                    fail_line(report, cap, nfail, "%s: no weight %d in layer %s", name, wi, lname);
                    continue;
                }
                double e = rel_err(view, z.arrays[i]);
                if (!(e <= atol))
                    fail_line(report, cap, nfail, "%s: after one step, %s/%s differs from Keras by %g", name, lname,
                              wname, e);
                ckeras_tensor_free(view);
                checked++;
            }
            if (checked == 0)
                fail_line(report, cap, nfail, "%s: trained but no weights to compare", name);
        }
    }
    ckeras_model_free(m);
    ckeras_npz_free(z.n, z.names, z.arrays);
}

START_TEST(every_case_matches_keras)
{
    static char report[1 << 16];
    report[0] = '\0';
    int nfail = 0, ncases = 0, ntrained = 0, ngroups = 0;
    tu_tmpdir_make("catalogue");
    DIR *d = opendir(FIXTURES);
    ck_assert_msg(d != NULL, "no %s", FIXTURES);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char dir[384], man[448];
        snprintf(dir, sizeof dir, "%s/%s", FIXTURES, e->d_name);
        snprintf(man, sizeof man, "%s/MANIFEST.json", dir);
        json_error_t jerr;
        json_t *root = json_load_file(man, 0, &jerr);
        if (!root)
            continue;
        ngroups++;
        json_t *cases = json_object_get(root, "cases");
        size_t i;
        json_t *c;
        json_array_foreach(cases, i, c)
        {
            run_case(dir, c, report, sizeof report, &nfail, &ntrained);
            ncases++;
        }
        json_decref(root);
    }
    closedir(d);
    tu_tmpdir_remove();
    printf("layer catalogue: %d groups, %d cases (%d trained one step), %d mismatches\n", ngroups, ncases, ntrained,
           nfail);
    ck_assert_msg(ncases > 0, "no cases under %s", FIXTURES);
    ck_assert_msg(nfail == 0, "%d mismatches against Keras:\n%s", nfail, report);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("layer_catalogue");
    TCase *tc = tcase_create("layer_catalogue");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_case_matches_keras);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
