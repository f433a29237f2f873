/* AUC (ROC and PR, each summation), F1Score / FBetaScore (each average), top-k accuracies and
 * MeanIoU against real Keras 3.11.3's own metric objects and against scikit-learn / NumPy on the
 * same fixed data (tests/fixtures/metrics_toolkit/metrics.json, written by
 * tests/ref/metrics_toolkit_ref.py); accumulation over batches; the config Keras serialises;
 * metrics by name in compile and with parameters through ckeras_model_add_metric(), their
 * errors; a fit's History against Keras' History for the same model (loaded from Keras' own
 * .h5 and .keras, whose compile configs hold the metrics); save and load in ckeras' formats. */
#include "io/io.h"
#include "metrics/metrics.h"
#include "model/model.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static json_t *fixture(void)
{
    return tu_load_json("metrics_toolkit/metrics.json");
}

/* The metric of a case, prepared for (rows, cols) data. */
static void make_metric(json_t *metric, int64_t tcols, int64_t pcols, ck_metric *m)
{
    char *text = json_dumps(metric, JSON_COMPACT);
    ck_tree *t = ck_tree_from_json(text, "test");
    ck_assert_ptr_nonnull(t);
    ck_assert_msg(ck_metric_from_tree(t, m) == CKERAS_OK, "%s: %s", text, ckeras_last_error());
    ck_assert_msg(ck_metric_prepare(m, 2, tcols, 2, pcols) == CKERAS_OK, "%s: %s", text, ckeras_last_error());
    ck_tree_free(t);
    free(text);
}

static void load_data(json_t *root, const char *name, float **yt, float **yp, int64_t *rows, int64_t *tc,
                      int64_t *pc)
{
    json_t *d = json_object_get(tu_get(root, "data"), name);
    ck_assert_ptr_nonnull(d);
    size_t nt, np;
    int64_t st[4], sp[4];
    int dt, dp;
    *yt = tu_floats(json_object_get(d, "y_true"), &nt, st, &dt);
    *yp = tu_floats(json_object_get(d, "y_pred"), &np, sp, &dp);
    ck_assert_int_eq(dt, 2);
    ck_assert_int_eq(dp, 2);
    ck_assert_int_eq(st[0], sp[0]);
    *rows = sp[0];
    *tc = st[1];
    *pc = sp[1];
}

START_TEST(every_case_matches_keras_and_an_independent_computation)
{
    json_t *root = fixture();
    size_t i;
    json_t *c;
    int n = 0;
    json_array_foreach(tu_get(root, "cases"), i, c)
    {
        float *yt, *yp;
        int64_t rows, tc, pc;
        load_data(root, json_string_value(json_object_get(c, "data")), &yt, &yp, &rows, &tc, &pc);
        ck_metric m;
        make_metric(json_object_get(c, "metric"), tc, pc, &m);
        char *what = json_dumps(json_object_get(c, "metric"), JSON_COMPACT);
        ck_metric_update(&m, yt, yp, rows, pc, tc);
        double got = ck_metric_result(&m);
        double keras = tu_number(json_object_get(c, "keras"));
        double indep = tu_number(json_object_get(c, "indep")), tol = tu_number(json_object_get(c, "indep_tol"));
        ck_assert_msg(fabs(got - keras) <= 1e-6, "%s: %.9f, Keras %.9f", what, got, keras);
        ck_assert_msg(fabs(got - indep) <= tol, "%s: %.9f, %s %.9f (tolerance %g)", what, got,
                      json_string_value(json_object_get(c, "indep_what")), indep, tol);
        /* three batches accumulate to the same state as one batch of all the data */
        ck_metric_reset(&m);
        ck_assert(ck_metric_result(&m) == 0.0);
        int64_t a = rows / 3, b = rows / 2;
        ck_metric_update(&m, yt, yp, a, pc, tc);
        ck_metric_update(&m, yt + a * tc, yp + a * pc, b - a, pc, tc);
        ck_metric_update(&m, yt + b * tc, yp + b * pc, rows - b, pc, tc);
        ck_assert_msg(fabs(ck_metric_result(&m) - got) <= 1e-12, "%s: 3 batches %.12f, one %.12f", what,
                      ck_metric_result(&m), got);
        /* larger is better (EarlyStopping's mode "auto") */
        ck_assert_int_eq(ck_metric_direction(&m), 1);
        ck_metric_free(&m);
        free(what);
        free(yt);
        free(yp);
        n++;
    }
    ck_assert_int_ge(n, 30);
    json_decref(root);
}
END_TEST

/* Numbers compared as numbers (Keras writes beta 2.0, ckeras may write 2). */
static int json_same(json_t *a, json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal(a, b);
}

START_TEST(configs_are_written_as_keras_serialises_them)
{
    json_t *root = fixture();
    size_t i;
    json_t *c;
    json_array_foreach(tu_get(root, "cases"), i, c)
    {
        ck_metric m;
        make_metric(json_object_get(c, "metric"), 1, 1, &m);
        ck_tree *t = ck_metric_to_tree(&m);
        ck_assert_ptr_nonnull(t);
        char *text = ck_tree_to_json(t, "test");
        json_t *ours = json_loads(text, 0, NULL), *keras = json_object_get(c, "serialized");
        ck_assert_str_eq(json_string_value(json_object_get(ours, "class_name")),
                         json_string_value(json_object_get(keras, "class_name")));
        json_t *oc = json_object_get(ours, "config"), *kc = json_object_get(keras, "config");
        ck_assert_msg(json_object_size(oc) == json_object_size(kc), "%s: %zu keys, Keras %zu", text,
                      json_object_size(oc), json_object_size(kc));
        /* the same keys in the same order with the same values */
        void *io = json_object_iter(oc), *ik = json_object_iter(kc);
        for (; io && ik; io = json_object_iter_next(oc, io), ik = json_object_iter_next(kc, ik)) {
            ck_assert_str_eq(json_object_iter_key(io), json_object_iter_key(ik));
            if (strcmp(json_object_iter_key(io), "name") == 0 &&
                !json_object_get(json_object_get(json_object_get(c, "metric"), "config"), "name"))
                continue; /* Keras numbers a default name it made ("auc_3") */
            ck_assert_msg(json_same(json_object_iter_value(io), json_object_iter_value(ik)), "%s: key %s", text,
                          json_object_iter_key(io));
        }
        json_decref(ours);
        free(text);
        ck_tree_free(t);
        ck_metric_free(&m);
    }
    json_decref(root);
}
END_TEST

static ckeras_model *small_model(int classes)
{
    ckeras_model *m = ckeras_sequential("m");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){3})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(classes, "softmax")), CKERAS_OK);
    return m;
}

static const char *key_of(const ckeras_model *m, const char *name)
{
    for (int i = 0; i < ckeras_model_metrics_count(m); i++)
        if (strcmp(ckeras_model_metrics_name(m, i), name) == 0)
            return name;
    return NULL;
}

START_TEST(names_in_compile_log_under_the_name_given)
{
    ckeras_model *m = small_model(6);
    ck_assert_msg(ckeras_model_compile(m, ckeras_sgd(0.1, 0, 0), "categorical_crossentropy",
                                       "auc,AUC,f1_score,top_k_categorical_accuracy,TopKCategoricalAccuracy") ==
                      CKERAS_OK,
                  "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_model_metrics_count(m), 6);
    ck_assert_ptr_nonnull(key_of(m, "AUC"));
    ck_assert_ptr_nonnull(key_of(m, "f1_score"));
    ck_assert_ptr_nonnull(key_of(m, "top_k_categorical_accuracy"));
    /* evaluate on one-hot data: top-5 of 6 classes, AUC over all values */
    float x[12] = {0.1f, 0.2f, 0.3f, -1, 0.5f, 2, 1, 1, 1, 0, 0, -0.5f}, y[24] = {0};
    for (int r = 0; r < 4; r++)
        y[r * 6 + r] = 1;
    ckeras_tensor *tx = ckeras_tensor_wrap(x, 2, (const int64_t[]){4, 3});
    ckeras_tensor *ty = ckeras_tensor_wrap(y, 2, (const int64_t[]){4, 6});
    double res[6];
    ck_assert_msg(ckeras_model_evaluate(m, tx, ty, 4, res, 6) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert(res[1] == res[2]); /* "auc" and "AUC": the same metric */
    ck_assert(res[1] >= 0 && res[1] <= 1);
    /* top-5 of 6 classes, counted here from the predictions */
    ckeras_tensor *p = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, tx, 0, &p), CKERAS_OK);
    double in_top5 = 0;
    for (int r = 0; r < 4; r++) {
        const float *row = ckeras_tensor_data(p) + r * 6;
        int above = 0;
        for (int c = 0; c < 6; c++)
            above += row[c] > row[r];
        in_top5 += above < 5;
    }
    ck_assert_msg(fabs(res[4] - in_top5 / 4) < 1e-7, "top-5: %g, counted %g", res[4], in_top5 / 4);
    ck_assert(res[5] == res[4]);
    ckeras_tensor_free(p);
    ckeras_tensor_free(tx);
    ckeras_tensor_free(ty);
    ckeras_model_free(m);
    /* a name given twice: Keras 3 logs the second as "<name>_1" (its CompileMetrics.result);
     * the string "f1_score" and F1Score(average="macro") both name themselves "f1_score" */
    m = small_model(6);
    ck_assert_int_eq(ckeras_model_compile(m, NULL, "categorical_crossentropy", "f1_score,auc,auc"), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add_metric(m, NULL, "{\"class_name\": \"F1Score\", \"config\": {\"average\": \"macro\"}}"),
                     CKERAS_OK);
    tx = ckeras_tensor_wrap(x, 2, (const int64_t[]){4, 3});
    ty = ckeras_tensor_wrap(y, 2, (const int64_t[]){4, 6});
    ck_assert_int_eq(ckeras_model_evaluate(m, tx, ty, 4, res, 5), CKERAS_OK);
    ck_assert_str_eq(ckeras_model_metrics_name(m, 1), "f1_score");
    ck_assert_str_eq(ckeras_model_metrics_name(m, 2), "auc");
    ck_assert_str_eq(ckeras_model_metrics_name(m, 3), "auc_1");
    ck_assert_str_eq(ckeras_model_metrics_name(m, 4), "f1_score_1");
    /* average None logs its vector's mean, which is the macro F1: both against a count here of
     * each class' F1 (the row's largest value is its positive, Keras' threshold None) */
    ck_assert_int_eq(ckeras_model_predict(m, tx, 0, &p), CKERAS_OK);
    double tp[6] = {0}, fp[6] = {0}, fn[6] = {0}, f1 = 0;
    for (int r = 0; r < 4; r++) {
        const float *row = ckeras_tensor_data(p) + r * 6;
        int best = 0;
        for (int c = 1; c < 6; c++)
            best = row[c] > row[best] ? c : best;
        tp[best] += best == r;
        fp[best] += best != r;
        fn[r] += best != r;
    }
    for (int c = 0; c < 6; c++) {
        double prec = tp[c] / (tp[c] + fp[c] + 1e-7), rec = tp[c] / (tp[c] + fn[c] + 1e-7);
        f1 += 2 * prec * rec / (prec + rec + 1e-7) / 6;
    }
    ck_assert_msg(fabs(res[1] - f1) < 1e-5 && fabs(res[4] - f1) < 1e-5, "F1 %g and %g, counted %g", res[1], res[4],
                  f1);
    ckeras_tensor_free(p);
    ckeras_tensor_free(tx);
    ckeras_tensor_free(ty);
    ckeras_model_free(m);
    /* sparse labels */
    m = small_model(6);
    ck_assert_int_eq(ckeras_model_compile(m, NULL, "sparse_categorical_crossentropy",
                                          "sparse_top_k_categorical_accuracy"),
                     CKERAS_OK);
    ck_assert_ptr_nonnull(key_of(m, "sparse_top_k_categorical_accuracy"));
    ckeras_model_free(m);
}
END_TEST

START_TEST(add_metric_errors_are_clear_and_change_nothing)
{
    ckeras_model *m = small_model(3);
    ck_assert_int_eq(ckeras_model_add_metric(m, NULL, "auc"), CKERAS_ESTATE);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "compiled"));
    ck_assert_int_eq(ckeras_model_compile(m, NULL, "categorical_crossentropy", "accuracy"), CKERAS_OK);
    static const struct {
        const char *spec;
        ckeras_status st;
        const char *msg;
    } bad[] = {
        {"{\"class_name\": \"NoSuch\", \"config\": {}}", CKERAS_EINVAL, "unknown metric class 'NoSuch'"},
        {"{\"class_name\": \"MeanIoU\", \"config\": {\"num_classes\": 3, \"colour\": 1}}", CKERAS_EINVAL,
         "unknown key 'colour'"},
        {"{\"class_name\": \"MeanIoU\", \"config\": {\"name\": \"x\"}}", CKERAS_EINVAL, "'num_classes' is required"},
        {"{\"class_name\": \"MeanIoU\", \"config\": {\"num_classes\": 100000}}", CKERAS_EINVAL, "[1, 4096]"},
        {"{\"class_name\": \"AUC\", \"config\": {\"num_thresholds\": 1}}", CKERAS_EINVAL, "num_thresholds"},
        {"{\"class_name\": \"AUC\", \"config\": {\"num_thresholds\": 1000000000}}", CKERAS_EINVAL, "num_thresholds"},
        {"{\"class_name\": \"AUC\", \"config\": {\"curve\": \"XY\"}}", CKERAS_EINVAL, "'curve'"},
        {"{\"class_name\": \"AUC\", \"config\": {\"summation_method\": 3}}", CKERAS_EINVAL, "summation_method"},
        {"{\"class_name\": \"AUC\", \"config\": {\"multi_label\": true}}", CKERAS_EUNSUPPORTED, "multi_label"},
        {"{\"class_name\": \"AUC\", \"config\": {\"thresholds\": [0.5]}}", CKERAS_EUNSUPPORTED, "thresholds"},
        {"{\"class_name\": \"F1Score\", \"config\": {\"average\": \"mean\"}}", CKERAS_EINVAL, "'average'"},
        {"{\"class_name\": \"F1Score\", \"config\": {\"beta\": 2.0}}", CKERAS_EINVAL, "unknown key 'beta'"},
        {"{\"class_name\": \"FBetaScore\", \"config\": {\"beta\": -1}}", CKERAS_EINVAL, "'beta'"},
        {"{\"class_name\": \"F1Score\", \"config\": {\"threshold\": 1.5}}", CKERAS_EINVAL, "'threshold'"},
        {"{\"class_name\": \"TopKCategoricalAccuracy\", \"config\": {\"k\": 0}}", CKERAS_EINVAL, "'k'"},
        {"{\"class_name\": \"MeanIoU\", \"config\": {\"num_classes\": 3, \"axis\": 1}}", CKERAS_EUNSUPPORTED, "axis"},
        {"{\"class_name\": \"AUC\", \"config\": {\"name\": \"\"}}", CKERAS_EINVAL, "'name'"},
        {"{\"config\": {}}", CKERAS_EINVAL, "class_name"},
        {"{\"class_name\": \"AUC\", \"colour\": 1}", CKERAS_EINVAL, "unknown key 'colour'"},
        {"{\"class_name\": \"AUC\",", CKERAS_EFORMAT, "not JSON"},
        {"no_such_metric", CKERAS_EINVAL, "unknown metric 'no_such_metric'"},
        {"MeanIoU", CKERAS_EINVAL, "unknown metric"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(ckeras_model_add_metric(m, NULL, bad[i].spec) == bad[i].st, "%s: %s", bad[i].spec,
                      ckeras_last_error());
        ck_assert_msg(strstr(ckeras_last_error(), bad[i].msg), "%s: '%s' lacks '%s'", bad[i].spec,
                      ckeras_last_error(), bad[i].msg);
        ck_assert_int_eq(ckeras_model_metrics_count(m), 2);
    }
    ck_assert_int_eq(ckeras_model_add_metric(m, "nope", "auc"), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_add_metric(NULL, NULL, "auc"), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_add_metric(m, NULL, NULL), CKERAS_EINVAL);
    /* up to 16 metrics */
    for (int i = 0; i < 15; i++)
        ck_assert_int_eq(ckeras_model_add_metric(m, NULL, "auc"), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add_metric(m, NULL, "auc"), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_metrics_count(m), 17);
    ckeras_model_free(m);
}
END_TEST

/* A shape that does not fit the metric is refused when training starts, with the metric's name. */
START_TEST(shape_mismatch_is_refused_before_training)
{
    ckeras_model *m = small_model(3);
    ck_assert_int_eq(ckeras_model_compile(m, NULL, "sparse_categorical_crossentropy", NULL), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add_metric(m, NULL, "{\"class_name\": \"F1Score\", \"config\": {\"name\": \"f\"}}"),
                     CKERAS_OK);
    float x[6] = {0}, y[2] = {0, 1};
    ckeras_tensor *tx = ckeras_tensor_wrap(x, 2, (const int64_t[]){2, 3});
    ckeras_tensor *ty = ckeras_tensor_wrap(y, 1, (const int64_t[]){2});
    double res[2];
    ck_assert_int_eq(ckeras_model_evaluate(m, tx, ty, 2, res, 2), CKERAS_EINVAL);
    ck_assert_msg(strstr(ckeras_last_error(), "metric 'f'"), "%s", ckeras_last_error());
    ckeras_tensor_free(tx);
    ckeras_tensor_free(ty);
    ckeras_model_free(m);
}
END_TEST

static void check_history(ckeras_model *m, json_t *fit, const char *what)
{
    size_t nx, ny;
    int64_t sx[4], sy[4];
    float *x = tu_floats(json_object_get(fit, "x"), &nx, sx, NULL);
    float *y = tu_floats(json_object_get(fit, "y"), &ny, sy, NULL);
    ckeras_tensor *tx = ckeras_tensor_wrap(x, 2, sx), *ty = ckeras_tensor_wrap(y, 2, sy);
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "epochs", 2);
    ckeras_fit_args_set_int(a, "batch_size", 10);
    ckeras_fit_args_set_int(a, "shuffle", 0);
    ckeras_fit_args_set_int(a, "verbose", 0);
    ckeras_fit_args_set_float(a, "validation_split", 0.25);
    ckeras_history *h = NULL;
    ck_assert_msg(ckeras_model_fit(m, tx, ty, a, &h) == CKERAS_OK, "%s: %s", what, ckeras_last_error());
    const char *key;
    json_t *vals;
    int n = 0;
    json_object_foreach(json_object_get(fit, "history"), key, vals)
    {
        const double *got;
        int ne = 0;
        ck_assert_msg(ckeras_history_values(h, key, &got, &ne) == CKERAS_OK, "%s: no '%s' in History", what, key);
        ck_assert_int_eq(ne, 2);
        for (int e = 0; e < 2; e++) {
            double want = tu_number(json_array_get(vals, (size_t)e));
            ck_assert_msg(fabs(got[e] - want) <= 2e-5 + 2e-5 * fabs(want), "%s: %s epoch %d: %.7f, Keras %.7f", what,
                          key, e + 1, got[e], want);
        }
        n++;
    }
    ck_assert_int_eq(n, 12);
    ck_assert_int_eq(ckeras_history_key_count(h), 12);
    ckeras_history_free(h);
    ckeras_fit_args_free(a);
    ckeras_tensor_free(tx);
    ckeras_tensor_free(ty);
    free(x);
    free(y);
}

START_TEST(fit_history_matches_keras_from_keras_files)
{
    json_t *root = fixture();
    const char *files[] = {"tests/fixtures/metrics_toolkit/fit_model.h5",
                           "tests/fixtures/metrics_toolkit/fit_model.keras"};
    for (int f = 0; f < 2; f++) {
        ckeras_model *m = NULL;
        ck_assert_msg(ckeras_load_model(files[f], 0, &m) == CKERAS_OK, "%s: %s", files[f], ckeras_last_error());
        ck_assert_int_eq(ckeras_model_metrics_count(m), 6);
        check_history(m, tu_get(root, "fit"), files[f]);
        ckeras_model_free(m);
    }
    json_decref(root);
}
END_TEST

/* The same metrics given through the API, saved by ckeras in each format and loaded back: the
 * same configs, and a fit from the loaded copy gives Keras' History. */
START_TEST(metrics_survive_save_and_load)
{
    json_t *root = fixture();
    ckeras_model *src = NULL;
    ck_assert_int_eq(ckeras_load_model("tests/fixtures/metrics_toolkit/fit_model.h5", 0, &src), CKERAS_OK);
    ckeras_model *m = NULL;
    ck_assert_int_eq(ckeras_load_model("tests/fixtures/metrics_toolkit/fit_model.h5", 0, &m), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.1, 0, 0), "categorical_crossentropy", "auc"), CKERAS_OK);
    static const char *specs[] = {
        "{\"module\": \"keras.metrics\", \"class_name\": \"AUC\", \"config\": {\"name\": \"pr_auc\", \"curve\": "
        "\"PR\"}, \"registered_name\": null}",
        "{\"class_name\": \"F1Score\", \"config\": {\"average\": \"macro\"}}",
        "{\"class_name\": \"TopKCategoricalAccuracy\", \"config\": {\"name\": \"top2\", \"k\": 2}}",
        "{\"class_name\": \"MeanIoU\", \"config\": {\"num_classes\": 4, \"name\": \"miou\", \"sparse_y_true\": false, "
        "\"sparse_y_pred\": false}}",
    };
    for (int i = 0; i < 4; i++)
        ck_assert_msg(ckeras_model_add_metric(m, i % 2 ? "out" : NULL, specs[i]) == CKERAS_OK, "%s: %s", specs[i],
                      ckeras_last_error());
    ck_assert_int_eq(ckeras_model_metrics_count(m), 6);
    tu_tmpdir_make("metrics_toolkit");
    const char *names[] = {"a.h5", "b.h5", "c.keras"};
    int flags[] = {0, CKERAS_SAVE_KERAS3, 0};
    for (int f = 0; f < 3; f++) {
        const char *path = tu_tmp(names[f]);
        ck_assert_msg(ckeras_model_save(m, path, flags[f]) == CKERAS_OK, "%s: %s", path, ckeras_last_error());
        ckeras_model *back = NULL;
        ck_assert_msg(ckeras_load_model(path, 0, &back) == CKERAS_OK, "%s: %s", path, ckeras_last_error());
        ck_assert_int_eq(back->nmetrics, m->nmetrics);
        for (int i = 0; i < m->nmetrics; i++) {
            ck_assert_str_eq(back->metric_specs[i], m->metric_specs[i]);
            ck_assert_int_eq(back->metric_cfg[i] != NULL, m->metric_cfg[i] != NULL);
            if (m->metric_cfg[i]) {
                char *a = ck_tree_to_json(m->metric_cfg[i], "t"), *b = ck_tree_to_json(back->metric_cfg[i], "t");
                ck_assert_str_eq(a, b);
                free(a);
                free(b);
            }
            /* the same as what Keras' file gives */
            ck_assert_str_eq(back->metric_specs[i], src->metric_specs[i]);
        }
        check_history(back, tu_get(root, "fit"), path);
        ckeras_model_free(back);
    }
    tu_tmpdir_remove();
    ckeras_model_free(m);
    ckeras_model_free(src);
    json_decref(root);
}
END_TEST

/* EarlyStopping's mode "auto" maximises each new metric (Keras' _direction "up"), by the name
 * it logs under, "val_" or not. */
START_TEST(early_stopping_auto_maximises_the_new_metrics)
{
    ckeras_model *m = small_model(4);
    ck_assert_int_eq(ckeras_model_compile(m, NULL, "categorical_crossentropy", "auc,f1_score,top_k_categorical_accuracy"),
                     CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add_metric(m, NULL, "{\"class_name\": \"MeanIoU\", \"config\": {\"num_classes\": 4, "
                                                      "\"name\": \"miou\", \"sparse_y_true\": false, "
                                                      "\"sparse_y_pred\": false}}"),
                     CKERAS_OK);
    float x[12] = {0}, y[16] = {0};
    for (int r = 0; r < 4; r++)
        y[r * 4 + r] = 1;
    ckeras_tensor *tx = ckeras_tensor_wrap(x, 2, (const int64_t[]){4, 3});
    ckeras_tensor *ty = ckeras_tensor_wrap(y, 2, (const int64_t[]){4, 4});
    double res[5];
    ck_assert_int_eq(ckeras_model_evaluate(m, tx, ty, 4, res, 5), CKERAS_OK); /* resolves the metrics */
    ck_train_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.n_metrics = m->nmetrics;
    for (int i = 0; i < m->nmetrics; i++) {
        ctx.metric_names[i] = m->metrics[i].name;
        ctx.metric_dirs[i] = ck_metric_direction(&m->metrics[i]);
    }
    const char *monitors[] = {"val_auc", "auc", "val_f1_score", "top_k_categorical_accuracy", "val_miou"};
    for (int i = 0; i < 5; i++) {
        ckeras_callback *es = ckeras_early_stopping(monitors[i], 1);
        ck_assert_msg(ck_monitor_set_op(es, &ctx) == CKERAS_OK, "%s: %s", monitors[i], ckeras_last_error());
        ck_assert_int_eq(es->monitor_op, 1);
        ckeras_callback_free(es);
    }
    ckeras_tensor_free(tx);
    ckeras_tensor_free(ty);
    ckeras_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics_toolkit");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_case_matches_keras_and_an_independent_computation);
    tcase_add_test(tc, configs_are_written_as_keras_serialises_them);
    tcase_add_test(tc, names_in_compile_log_under_the_name_given);
    tcase_add_test(tc, add_metric_errors_are_clear_and_change_nothing);
    tcase_add_test(tc, shape_mismatch_is_refused_before_training);
    tcase_add_test(tc, fit_history_matches_keras_from_keras_files);
    tcase_add_test(tc, metrics_survive_save_and_load);
    tcase_add_test(tc, early_stopping_auto_maximises_the_new_metrics);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
