/* Metrics: resolution of "accuracy" and accumulated values against Keras 3
 * (tests/fixtures/keras3-traces/metrics.json) and hand computations. */
#include "metrics/metrics.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void assert_near(double got, double want, double tol, const char *what)
{
    ck_assert_msg(fabs(got - want) <= tol, "%s: got %.9g, expected %.9g", what, got, want);
}

/* The rank and last dimension of a JSON shape list. */
static void shape_of(json_t *shape, int *rank, int64_t *last)
{
    *rank = (int)json_array_size(shape);
    *last = (int64_t)json_integer_value(json_array_get(shape, json_array_size(shape) - 1));
}

START_TEST(compiled_accuracy_matches_keras)
{
    json_t *root = tu_load_json("keras3-traces/metrics.json");
    json_t *cases = tu_get(root, "compiled_accuracy");
    const char *key;
    json_t *c;
    int seen = 0;
    json_object_foreach(cases, key, c) {
        int tr, pr;
        int64_t tc, pc;
        shape_of(tu_get(c, "y_true_shape"), &tr, &tc);
        shape_of(tu_get(c, "y_pred_shape"), &pr, &pc);
        ck_metric m;
        ck_assert_int_eq(ck_metric_parse("accuracy", tr, tc, pr, pc, &m), CKERAS_OK);
        const char *cls = json_string_value(tu_get(c, "accuracy_resolves_to/0/class"));
        ck_metric_kind want = strcmp(cls, "BinaryAccuracy") == 0        ? CK_METRIC_BINARY_ACCURACY
                              : strcmp(cls, "CategoricalAccuracy") == 0 ? CK_METRIC_CATEGORICAL_ACCURACY
                                                                        : CK_METRIC_SPARSE_CATEGORICAL_ACCURACY;
        ck_assert_msg(strcmp(cls, "BinaryAccuracy") == 0 || strcmp(cls, "CategoricalAccuracy") == 0 ||
                          strcmp(cls, "SparseCategoricalAccuracy") == 0,
                      "%s: unexpected class %s", key, cls);
        ck_assert_msg(m.kind == want, "%s: resolved to kind %d, Keras says %s", key, (int)m.kind, cls);
        ck_assert_str_eq(m.name, json_string_value(tu_get(c, "accuracy_resolves_to/0/name")));
        ck_assert_int_eq(ck_metric_direction(&m), +1);

        size_t nt, np;
        float *yt = tu_floats(tu_get(c, "y_true"), &nt, NULL, NULL);
        float *yp = tu_floats(tu_get(c, "y_pred"), &np, NULL, NULL);
        int64_t rows = 8, true_cols = tr < pr ? 1 : tc;
        ck_assert_int_eq((int64_t)np, rows * pc);
        ck_assert_int_eq((int64_t)nt, rows * true_cols);
        /* evaluate(batch_size=4): two batches, accumulated. */
        ck_metric_reset(&m);
        ck_metric_update(&m, yt, yp, 4, pc, true_cols);
        ck_metric_update(&m, yt + 4 * true_cols, yp + 4 * pc, 4, pc, true_cols);
        assert_near(ck_metric_result(&m), tu_number(tu_get(c, "evaluate_result/accuracy")), 1e-6, key);
        free(yt);
        free(yp);
        seen++;
    }
    ck_assert_int_eq(seen, 5);
    json_decref(root);
}
END_TEST

START_TEST(standalone_metrics_match_keras)
{
    json_t *root = tu_load_json("keras3-traces/metrics.json");
    json_t *cases = tu_get(root, "standalone");
    const char *keys[] = {"binary_accuracy", "precision", "recall", "categorical_accuracy"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        json_t *c = tu_get(cases, keys[k]);
        ck_metric m;
        /* Shapes given as for a compiled metric; explicit names do not depend on them. */
        ck_assert_int_eq(ck_metric_parse(keys[k], 2, 1, 2, 1, &m), CKERAS_OK);
        ck_assert_str_eq(m.name, json_string_value(tu_get(c, "config/name")));
        ck_metric_reset(&m);
        const char *batches[] = {"batch1", "batch2"};
        const char *results[] = {"result_after_batch1", "result_after_batch2"};
        for (int b = 0; b < 2; b++) {
            json_t *batch = tu_get(c, batches[b]);
            int64_t shape[8];
            int nd;
            size_t nt, np;
            float *yt = tu_floats(tu_get(batch, "y_true"), &nt, NULL, NULL);
            float *yp = tu_floats(tu_get(batch, "y_pred"), &np, shape, &nd);
            ck_assert_int_eq(nd, 2);
            ck_assert_int_eq(nt, np);
            ck_metric_update(&m, yt, yp, shape[0], shape[1], shape[1]);
            char what[96];
            snprintf(what, sizeof what, "%s %s", keys[k], results[b]);
            assert_near(ck_metric_result(&m), tu_number(tu_get(c, results[b])), 1e-6, what);
            free(yt);
            free(yp);
        }
    }
    json_decref(root);
}
END_TEST

START_TEST(accuracy_resolution_rule)
{
    ck_metric m;
    /* (batch, 1) outputs: binary, whatever y_true looks like. */
    ck_assert_int_eq(ck_metric_parse("accuracy", 2, 1, 2, 1, &m), CKERAS_OK);
    ck_assert_int_eq(m.kind, CK_METRIC_BINARY_ACCURACY);
    ck_assert(m.threshold == 0.5f);
    ck_assert_int_eq(ck_metric_parse("acc", 1, 32, 2, 1, &m), CKERAS_OK);
    ck_assert_int_eq(m.kind, CK_METRIC_BINARY_ACCURACY);
    ck_assert_str_eq(m.name, "acc");
    /* Integer labels (rank 1, or a last dim of 1) against a distribution: sparse. */
    ck_assert_int_eq(ck_metric_parse("accuracy", 1, 32, 2, 10, &m), CKERAS_OK);
    ck_assert_int_eq(m.kind, CK_METRIC_SPARSE_CATEGORICAL_ACCURACY);
    ck_assert_int_eq(ck_metric_parse("acc", 2, 1, 2, 10, &m), CKERAS_OK);
    ck_assert_int_eq(m.kind, CK_METRIC_SPARSE_CATEGORICAL_ACCURACY);
    /* Same shapes with several columns: categorical, even for a multi-label output. */
    ck_assert_int_eq(ck_metric_parse("accuracy", 2, 10, 2, 10, &m), CKERAS_OK);
    ck_assert_int_eq(m.kind, CK_METRIC_CATEGORICAL_ACCURACY);
    ck_assert_str_eq(m.name, "accuracy");
}
END_TEST

START_TEST(names_directions_and_errors)
{
    ck_metric m;
    struct {
        const char *name;
        ck_metric_kind kind;
        int dir;
    } t[] = {
        {"binary_accuracy", CK_METRIC_BINARY_ACCURACY, 1},
        {"categorical_accuracy", CK_METRIC_CATEGORICAL_ACCURACY, 1},
        {"sparse_categorical_accuracy", CK_METRIC_SPARSE_CATEGORICAL_ACCURACY, 1},
        {"precision", CK_METRIC_PRECISION, 1},
        {"recall", CK_METRIC_RECALL, 1},
        {"mse", CK_METRIC_MEAN_SQUARED_ERROR, -1},
        {"mean_squared_error", CK_METRIC_MEAN_SQUARED_ERROR, -1},
        {"mae", CK_METRIC_MEAN_ABSOLUTE_ERROR, -1},
        {"mean_absolute_error", CK_METRIC_MEAN_ABSOLUTE_ERROR, -1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        ck_assert_int_eq(ck_metric_parse(t[i].name, 2, 3, 2, 3, &m), CKERAS_OK);
        ck_assert_int_eq(m.kind, t[i].kind);
        /* Keras 3 keys a metric given as a string by that string (fit_semantics.json shows
         * "mean_absolute_error" for metrics=["mean_absolute_error"]). */
        ck_assert_str_eq(m.name, t[i].name);
        ck_assert_int_eq(ck_metric_direction(&m), t[i].dir);
    }
    ck_assert_int_eq(ck_metric_parse("fbeta_score", 2, 3, 2, 3, &m), CKERAS_EINVAL); /* Keras refuses it too */
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "fbeta_score"));
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "sparse_categorical_accuracy"));
    ck_assert_int_eq(ck_metric_parse(NULL, 2, 3, 2, 3, &m), CKERAS_EINVAL);
    ck_assert_int_eq(ck_metric_parse("mse", 2, 3, 2, 3, NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ck_metric_parse("Accuracy", 2, 3, 2, 3, &m), CKERAS_EINVAL);
}
END_TEST

START_TEST(hand_computed_values)
{
    ck_metric m;
    /* mse / mae, y_true (2, 2), y_pred (2, 2): per-sample means (0.125, 2.5) and (0.25, 1.5). */
    const float yt[] = {1, 2, 3, 4}, yp[] = {1.5f, 2, 2, 6};
    ck_assert_int_eq(ck_metric_parse("mse", 2, 2, 2, 2, &m), CKERAS_OK);
    ck_assert(ck_metric_result(&m) == 0.0);
    ck_metric_update(&m, yt, yp, 2, 2, 2);
    assert_near(ck_metric_result(&m), 1.3125, 1e-12, "mse");
    ck_metric_update(&m, yt, yt, 2, 2, 2); /* two perfect samples halve it */
    assert_near(ck_metric_result(&m), 1.3125 / 2, 1e-12, "mse accumulated");
    ck_metric_reset(&m);
    ck_assert(ck_metric_result(&m) == 0.0);
    ck_assert_int_eq(ck_metric_parse("mae", 2, 2, 2, 2, &m), CKERAS_OK);
    ck_metric_update(&m, yt, yp, 2, 2, 2);
    assert_near(ck_metric_result(&m), 0.875, 1e-12, "mae");

    /* Binary accuracy over 3 columns: (1,0,1) vs (0.6,0.5,0.4) -> 2/3; (0,0,1) vs
     * (0.2,0.7,0.9) -> 2/3 (0.5 is not above the threshold). */
    const float bt[] = {1, 0, 1, 0, 0, 1}, bp[] = {0.6f, 0.5f, 0.4f, 0.2f, 0.7f, 0.9f};
    ck_assert_int_eq(ck_metric_parse("binary_accuracy", 2, 3, 2, 3, &m), CKERAS_OK);
    ck_metric_update(&m, bt, bp, 2, 3, 3);
    assert_near(ck_metric_result(&m), 2.0 / 3.0, 1e-12, "binary accuracy 3 columns");
    /* The same data as categorical accuracy: argmax (0 vs 0) hit, (2 vs 2) hit. */
    ck_assert_int_eq(ck_metric_parse("categorical_accuracy", 2, 3, 2, 3, &m), CKERAS_OK);
    ck_metric_update(&m, bt, bp, 2, 3, 3);
    assert_near(ck_metric_result(&m), 1.0, 1e-12, "categorical accuracy");
    /* Ties go to the first maximum: (0.4, 0.4, 0.2) predicts class 0. */
    const float tie[] = {0.4f, 0.4f, 0.2f, 0.4f, 0.4f, 0.2f};
    const float labels[] = {0, 1};
    ck_assert_int_eq(ck_metric_parse("sparse_categorical_accuracy", 1, 2, 2, 3, &m), CKERAS_OK);
    ck_metric_update(&m, labels, tie, 2, 3, 1);
    assert_near(ck_metric_result(&m), 0.5, 1e-12, "sparse accuracy with a tie");
    const float onehot[] = {0, 1, 0, 1, 0, 0};
    ck_assert_int_eq(ck_metric_parse("categorical_accuracy", 2, 3, 2, 3, &m), CKERAS_OK);
    ck_metric_update(&m, onehot, tie, 2, 3, 3);
    assert_near(ck_metric_result(&m), 0.5, 1e-12, "categorical accuracy with a tie");

    /* Precision / recall over 5 samples: predictions > 0.5 at 0, 1, 3; truths at 0, 2, 3, 4.
     * tp = 2 (0, 3), fp = 1 (1), fn = 2 (2, 4): precision 2/3, recall 1/2. */
    const float pt[] = {1, 0, 1, 1, 1}, pp[] = {0.9f, 0.8f, 0.5f, 0.51f, 0.1f};
    ck_assert_int_eq(ck_metric_parse("precision", 2, 1, 2, 1, &m), CKERAS_OK);
    ck_assert(ck_metric_result(&m) == 0.0); /* nothing predicted positive yet */
    ck_metric_update(&m, pt, pp, 5, 1, 1);
    assert_near(ck_metric_result(&m), 2.0 / 3.0, 1e-12, "precision");
    ck_assert_int_eq(ck_metric_parse("recall", 2, 1, 2, 1, &m), CKERAS_OK);
    ck_metric_update(&m, pt, pp, 2, 1, 1); /* batch 1: samples 0, 1 -> tp 1, fn 0 */
    assert_near(ck_metric_result(&m), 1.0, 1e-12, "recall batch 1");
    ck_metric_update(&m, pt + 2, pp + 2, 3, 1, 1); /* batch 2: tp 1, fn 2 */
    assert_near(ck_metric_result(&m), 0.5, 1e-12, "recall accumulated");

    /* A y_true that does not fit is ignored, not read out of bounds. */
    ck_assert_int_eq(ck_metric_parse("mse", 2, 2, 2, 3, &m), CKERAS_OK);
    ck_metric_update(&m, yt, bp, 2, 3, 2);
    ck_assert(m.count == 0.0);
    ck_metric_update(NULL, yt, bp, 2, 3, 3);
    ck_assert(ck_metric_result(NULL) == 0.0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, compiled_accuracy_matches_keras);
    tcase_add_test(tc, standalone_metrics_match_keras);
    tcase_add_test(tc, accuracy_resolution_rule);
    tcase_add_test(tc, names_directions_and_errors);
    tcase_add_test(tc, hand_computed_values);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
