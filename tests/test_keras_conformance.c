/* Keras conformance, without Keras: every committed tests/keras/fixtures/<stem>.h5 (written by
 * ckeras, tests/keras/make_models.c) that has a <stem>.keras_expected.npy (Keras 3's predictions on
 * the fixture's inputs, written by tests/keras/oracle_predict.py with the real Keras) is loaded
 * here, predicted on its inputs, and compared with Keras' values: |ckeras - Keras| <= 1e-5.
 * The expected values come from real Keras only, never from ckeras. Files Keras refused to load
 * have no .keras_expected.npy (tests/keras/fixtures/ORACLE.json says why) and are not checked.
 * See tests/keras/README.md. */
#include <ckeras.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define FIXTURES "tests/keras/fixtures"
#define ATOL 1e-5

/* Models (<name>, in any form) where ckeras and the oracle (Keras 3.11.3, torch backend) differ
 * for a reason outside ckeras; they are compared and reported, not asserted. */
static const struct {
    const char *name;
    const char *why;
} known[] = {
    {"average_pooling2d_same",
     "AveragePooling2D padding='same' with uneven padding: the oracle's torch backend gives values that match "
     "neither convention; ckeras follows TensorFlow-backed Keras (padded cells never enter the average, the "
     "extra padded row/column at the end), as ../shared/DESIGN.md says new models do"},
};

/* The reason @p file (<name>.h5 or <name>.k3.h5) is a known difference, or NULL. */
static const char *known_reason(const char *file)
{
    size_t n = strlen(file);
    n -= n > 6 && strcmp(file + n - 6, ".k3.h5") == 0 ? 6 : n > 6 && strcmp(file + n - 6, ".keras") == 0 ? 6 : 3;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i].name) == n && strncmp(known[i].name, file, n) == 0)
            return known[i].why;
    return NULL;
}

static int is_h5(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return (n > 3 && strcmp(e->d_name + n - 3, ".h5") == 0) || (n > 6 && strcmp(e->d_name + n - 6, ".keras") == 0);
}

/* Compares one fixture. Returns 1 checked and within tolerance, 0 checked and different (the
 * reason in msg), -1 not checked (no Keras expectation). */
static int check_one(const char *file, char *msg, size_t cap, double *maxdiff)
{
    char stem[512], path[1024], exp_path[1024], in_path[1024];
    /* <name>.keras (Keras 3's native archive) has Keras' predictions in <name>.native.* */
    size_t fl = strlen(file);
    if (fl > 6 && strcmp(file + fl - 6, ".keras") == 0)
        snprintf(stem, sizeof stem, "%.*s.native", (int)(fl - 6), file);
    else
        snprintf(stem, sizeof stem, "%.*s", (int)(fl - 3), file);
    snprintf(exp_path, sizeof exp_path, FIXTURES "/%s.keras_expected.npy", stem);
    if (access(exp_path, R_OK) != 0)
        return -1;
    /* <name>.k3.h5 (the Keras 3 profile) shares <name>.inputs.npy */
    size_t sl = strlen(stem);
    if (sl > 3 && strcmp(stem + sl - 3, ".k3") == 0)
        stem[sl - 3] = 0;
    else if (sl > 7 && strcmp(stem + sl - 7, ".native") == 0)
        stem[sl - 7] = 0;
    snprintf(in_path, sizeof in_path, FIXTURES "/%s.inputs.npy", stem);
    snprintf(path, sizeof path, FIXTURES "/%s", file);

    ckeras_model *m = NULL;
    ckeras_tensor *x = NULL, *y = NULL, *e = NULL;
    int ok = 0;
    if (ckeras_load_model(path, 0, &m) != CKERAS_OK) {
        snprintf(msg, cap, "ckeras cannot load it: %s", ckeras_last_error());
        goto done;
    }
    if (ckeras_read_npy(in_path, &x) != CKERAS_OK || ckeras_read_npy(exp_path, &e) != CKERAS_OK) {
        snprintf(msg, cap, "cannot read the inputs or Keras' predictions: %s", ckeras_last_error());
        goto done;
    }
    if (ckeras_model_predict(m, x, 32, &y) != CKERAS_OK) {
        snprintf(msg, cap, "predict failed: %s", ckeras_last_error());
        goto done;
    }
    int same_shape = ckeras_tensor_ndim(y) == ckeras_tensor_ndim(e);
    for (int a = 0; same_shape && a < ckeras_tensor_ndim(y); a++)
        same_shape = ckeras_tensor_dim(y, a) == ckeras_tensor_dim(e, a);
    if (!same_shape) {
        snprintf(msg, cap, "output shape differs from Keras' (%d axes, %lld values vs %d axes, %lld values)",
                 ckeras_tensor_ndim(y), (long long)ckeras_tensor_size(y), ckeras_tensor_ndim(e),
                 (long long)ckeras_tensor_size(e));
        goto done;
    }
    const float *a = ckeras_tensor_data(y), *b = ckeras_tensor_data(e);
    double md = 0;
    int64_t worst = 0;
    for (int64_t i = 0; i < ckeras_tensor_size(y); i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= md)) { /* NaN counts as the worst */
            md = isnan(d) ? INFINITY : d;
            worst = i;
        }
    }
    *maxdiff = md;
    if (md <= ATOL)
        ok = 1;
    else
        snprintf(msg, cap, "max |ckeras - Keras| = %.3g at flat index %lld (ckeras %.8g, Keras %.8g)", md,
                 (long long)worst, (double)a[worst], (double)b[worst]);
done:
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_tensor_free(e);
    ckeras_model_free(m);
    return ok;
}

START_TEST(test_ckeras_matches_keras_predictions)
{
    struct dirent **list = NULL;
    int n = scandir(FIXTURES, &list, is_h5, alphasort);
    ck_assert_msg(n > 0, "no .h5 fixtures in " FIXTURES " (run from the source root)");
    int checked = 0, skipped = 0, known_diff = 0, failed = 0;
    char failures[8192] = "";
    for (int i = 0; i < n; i++) {
        const char *file = list[i]->d_name;
        char msg[1024] = "";
        double md = NAN;
        int r = check_one(file, msg, sizeof msg, &md);
        const char *why = known_reason(file);
        if (r < 0) {
            skipped++;
            printf("  %-34s not checked: Keras refused it (see ORACLE.json)\n", file);
        } else if (why) {
            known_diff++;
            printf("  %-34s KNOWN DIFFERENCE (%s): %s\n", file, r ? "now matches: drop it from the list" : msg, why);
        } else if (r == 1) {
            checked++;
            printf("  %-34s matches Keras (max diff %.2g)\n", file, md);
        } else {
            failed++;
            printf("  %-34s DIFFERS: %s\n", file, msg);
            size_t used = strlen(failures);
            snprintf(failures + used, sizeof failures - used, "\n  %s: %s", file, msg);
        }
        free(list[i]);
    }
    free(list);
    printf("keras conformance: %d match Keras within %g, %d known differences, %d differ, %d not checked\n",
           checked, ATOL, known_diff, failed, skipped);
    ck_assert_msg(failed == 0, "%d fixtures differ from Keras' predictions:%s", failed, failures);
    ck_assert_msg(checked > 0, "no fixture had Keras' predictions (.keras_expected.npy)");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("keras_conformance");
    TCase *tc = tcase_create("fixtures");
    tcase_add_test(tc, test_ckeras_matches_keras_predictions);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
