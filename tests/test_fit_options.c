/* fit options: sample_weight (fit, evaluate, train_on_batch), class_weight, validation_freq,
 * steps_per_epoch, validation_batch_size, validation_steps and weighted_metrics.
 *
 * Expected values come from
 *  - real Keras 3.11.3 (tests/ref/fit_options_ref.py -> tests/fixtures/fit_options/<case>.{h5,json}:
 *    the models saved before training, loaded here with their compile config, weighted_metrics
 *    included, then evaluate / train_on_batch / fit on the same data as Keras);
 *  - hand computations (Keras' sum_over_batch_size: the weighted sum over the number of rows);
 *  - central finite differences of the weighted loss (its gradient, read off one SGD(1) step). */
#include "ckeras.h"
#include "core/core.h"
#include "testutil.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api_ids.h"

static ckeras_tensor *tensor_from(json_t *root, const char *key)
{
    int64_t shape[8];
    int nd = 0;
    size_t n;
    float *v = tu_floats(tu_get(root, key), &n, shape, &nd);
    ckeras_tensor *t = ckeras_tensor_copy(v, nd, shape);
    free(v);
    ck_assert_ptr_nonnull(t);
    return t;
}

static ckeras_model *load(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/fit_options/%s.h5", name);
    ckeras_model *m = NULL;
    ck_assert_msg(ckeras_load_model(path, 0, &m) == CKERAS_OK, "%s: %s", path, ckeras_last_error());
    return m;
}

static void assert_near(double got, double want, double tol, const char *what)
{
    ck_assert_msg(fabs(got - want) <= tol * (1.0 + fabs(want)), "%s: %.9g, expected %.9g", what, got, want);
}

/* The model's results (evaluate / train_on_batch) against Keras' dict, by name. */
static void check_results(const ckeras_model *m, const double *r, json_t *want, const char *what)
{
    int n = ckeras_model_metrics_count(m);
    ck_assert_int_eq(n, (int)json_object_size(want));
    for (int i = 0; i < n; i++) {
        const char *name = ckeras_model_metrics_name(m, i);
        json_t *v = json_object_get(want, name);
        char msg[160];
        snprintf(msg, sizeof msg, "%s %s", what, name);
        ck_assert_msg(v != NULL, "%s: Keras has no '%s'", what, name);
        assert_near(r[i], tu_number(v), 2e-6, msg);
    }
}

/* Every weight of m, in Keras' get_weights order, against the fixture's list. */
static void check_weights(ckeras_model *m, json_t *want, double tol, const char *what)
{
    size_t w = 0;
    for (int l = 0; l < ckeras_model_layer_count(m); l++) {
        ckeras_layer *layer = ckeras_model_layer(m, l);
        for (int i = 0; i < ckeras_layer_weight_count(layer); i++, w++) {
            const char *name;
            ckeras_tensor *view = NULL;
            ck_assert_int_eq(ckeras_layer_weight(layer, i, &name, &view), CKERAS_OK);
            size_t n;
            float *ref = tu_floats(json_array_get(want, w), &n, NULL, NULL);
            ck_assert_int_eq((int64_t)n, ckeras_tensor_size(view));
            char msg[160];
            snprintf(msg, sizeof msg, "%s: %s/%s", what, ckeras_layer_name(layer), name);
            tu_assert_close(ckeras_tensor_data(view), ref, n, tol, tol, msg);
            free(ref);
            ckeras_tensor_free(view);
        }
    }
    ck_assert_int_eq(w, json_array_size(want));
}

/* History against Keras': Keras' lists hold only the epochs that have the key (validation_freq);
 * ckeras' History has NaN at the others. */
static void check_history(const ckeras_history *h, json_t *want, int epochs, const bool *val_epoch,
                          const char *what)
{
    ck_assert_int_eq(ckeras_history_epochs(h), epochs);
    ck_assert_int_eq(ckeras_history_key_count(h), (int)json_object_size(want));
    const char *key;
    json_t *vals;
    json_object_foreach(want, key, vals) {
        const double *v = NULL;
        int n = 0;
        ck_assert_msg(ckeras_history_values(h, key, &v, &n) == CKERAS_OK, "%s: no '%s' in History", what, key);
        ck_assert_int_eq(n, epochs);
        bool val = strncmp(key, "val_", 4) == 0;
        size_t j = 0;
        for (int e = 0; e < epochs; e++) {
            char msg[160];
            snprintf(msg, sizeof msg, "%s: %s epoch %d", what, key, e);
            if (val && val_epoch && !val_epoch[e]) {
                ck_assert_msg(isnan(v[e]), "%s is %g, expected absent (NaN)", msg, v[e]);
                continue;
            }
            assert_near(v[e], tu_number(json_array_get(vals, j++)), 1e-5, msg);
        }
        ck_assert_int_eq(j, json_array_size(vals));
    }
}

typedef struct counter {
    int epochs;
    int batches[16];
    int val_keys[16]; /* "val_" keys in each epoch's logs */
} counter;

static ckeras_status count_batches(ckeras_event ev, int index, const ckeras_logs *logs, void *user)
{
    counter *c = user;
    if (ev == CKERAS_EPOCH_BEGIN && c->epochs < 16)
        c->batches[c->epochs++] = 0;
    else if (ev == CKERAS_BATCH_END && c->epochs > 0)
        c->batches[c->epochs - 1]++;
    else if (ev == CKERAS_EPOCH_END && c->epochs > 0) {
        int n = 0;
        for (int i = 0; i < ckeras_logs_count(logs); i++)
            n += strncmp(ckeras_logs_name(logs, i), "val_", 4) == 0;
        c->val_keys[c->epochs - 1] = n;
    }
    (void)index;
    return CKERAS_OK;
}

/* ---- real Keras --------------------------------------------------------------------------- */

START_TEST(keras_binary_evaluate_and_step)
{
    json_t *root = tu_load_json("fit_options/binary.json");
    ckeras_tensor *x = tensor_from(root, "x"), *y = tensor_from(root, "y"), *sw = tensor_from(root, "sw");
    ckeras_model *m = load("binary");
    /* Keras' names: accuracy in both lists -> "weighted_accuracy"; mse only weighted -> "mse" */
    ck_assert_int_eq(ckeras_model_metrics_count(m), 4);
    ck_assert_str_eq(ckeras_model_metrics_name(m, 0), "loss");
    ck_assert_str_eq(ckeras_model_metrics_name(m, 1), "accuracy");
    ck_assert_str_eq(ckeras_model_metrics_name(m, 2), "weighted_accuracy");
    ck_assert_str_eq(ckeras_model_metrics_name(m, 3), "mse");
    double r[4];
    const ckeras_tensor *xs[] = {x}, *ys[] = {y}, *ws[] = {sw};
    ck_assert_msg(ckeras_model_evaluate_weighted(m, 1, xs, 1, ys, 1, ws, 4, r, 4) == CKERAS_OK, "%s",
                  ckeras_last_error());
    check_results(m, r, tu_get(root, "evaluate_weighted"), "evaluate weighted");
    ck_assert_int_eq(ckeras_model_evaluate(m, x, y, 4, r, 4), CKERAS_OK);
    check_results(m, r, tu_get(root, "evaluate_plain"), "evaluate plain");
    /* a fresh model (train_on_batch reports running means since the last evaluate, as Keras) */
    ckeras_model_free(m);
    m = load("binary");
    ck_assert_msg(ckeras_model_train_on_batch_weighted(m, 1, xs, 1, ys, 1, ws, r, 4) == CKERAS_OK, "%s",
                  ckeras_last_error());
    check_results(m, r, tu_get(root, "train_on_batch"), "train_on_batch");
    check_weights(m, tu_get(root, "train_on_batch_weights"), 1e-6, "one SGD step");
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_tensor_free(sw);
    json_decref(root);
}
END_TEST

START_TEST(keras_binary_fits)
{
    json_t *root = tu_load_json("fit_options/binary.json");
    ckeras_tensor *x = tensor_from(root, "x"), *y = tensor_from(root, "y"), *sw = tensor_from(root, "sw");
    ckeras_tensor *xv = tensor_from(root, "xv"), *yv = tensor_from(root, "yv"), *swv = tensor_from(root, "swv");
    const ckeras_tensor *ws[] = {sw}, *wv[] = {swv};
    ckeras_history *h = NULL;

    /* validation_freq 2, steps_per_epoch 3 of 4 batches, weighted validation_data */
    ckeras_model *m = load("binary");
    ckeras_fit_args *a = ckeras_fit_args_new();
    counter c;
    memset(&c, 0, sizeof c);
    ckeras_callback *cb = ckeras_lambda_callback(count_batches, &c);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "epochs", 3), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "batch_size", 3), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "steps_per_epoch", 3), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "validation_freq", 2), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "shuffle", 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "verbose", 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_validation_sample_weight(a, 1, wv), CKERAS_ESTATE); /* no data yet */
    ck_assert_int_eq(ckeras_fit_args_set_validation_data(a, xv, yv), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_validation_sample_weight(a, 1, wv), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_sample_weight(a, 1, ws), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_add_callback(a, cb), CKERAS_OK);
    ck_assert_msg(ckeras_model_fit(m, x, y, a, &h) == CKERAS_OK, "%s", ckeras_last_error());
    json_t *ff = tu_get(root, "fit_freq");
    const bool val_epochs[3] = {false, true, false};
    check_history(h, tu_get(ff, "history"), 3, val_epochs, "validation_freq");
    json_t *batches = tu_get(ff, "batches");
    ck_assert_int_eq(c.epochs, 3);
    for (int e = 0; e < 3; e++) {
        ck_assert_int_eq(c.batches[e], (int)json_integer_value(json_array_get(batches, (size_t)e)));
        ck_assert_int_eq(c.val_keys[e], e == 1 ? 4 : 0); /* val_ keys only in the validated epoch */
    }
    check_weights(m, tu_get(ff, "weights"), 1e-5, "validation_freq fit");
    ckeras_history_free(h);
    ckeras_model_free(m);
    ckeras_fit_args_free(a);
    ckeras_callback_free(cb);

    /* validation_split cuts the weights alike; validation_batch_size 2 (and validation_steps 1) */
    for (int steps = 0; steps < 2; steps++) {
        m = load("binary");
        a = ckeras_fit_args_new();
        ck_assert_int_eq(ckeras_fit_args_set_int(a, "epochs", steps ? 1 : 2), CKERAS_OK);
        ck_assert_int_eq(ckeras_fit_args_set_int(a, "batch_size", 4), CKERAS_OK);
        ck_assert_int_eq(ckeras_fit_args_set_int(a, "validation_batch_size", 2), CKERAS_OK);
        ck_assert_int_eq(ckeras_fit_args_set_int(a, "validation_steps", steps), CKERAS_OK);
        ck_assert_int_eq(ckeras_fit_args_set_float(a, "validation_split", 0.3), CKERAS_OK);
        ck_assert_int_eq(ckeras_fit_args_set_int(a, "shuffle", 0), CKERAS_OK);
        ck_assert_int_eq(ckeras_fit_args_set_int(a, "verbose", 0), CKERAS_OK);
        ck_assert_int_eq(ckeras_fit_args_set_sample_weight(a, 1, ws), CKERAS_OK);
        ck_assert_msg(ckeras_model_fit(m, x, y, a, &h) == CKERAS_OK, "%s", ckeras_last_error());
        json_t *fs = tu_get(root, steps ? "fit_split_steps" : "fit_split");
        check_history(h, tu_get(fs, "history"), steps ? 1 : 2, NULL, steps ? "validation_steps" : "validation_split");
        check_weights(m, tu_get(fs, "weights"), 1e-5, "validation_split fit");
        ckeras_history_free(h);
        ckeras_model_free(m);
        ckeras_fit_args_free(a);
    }

    /* steps_per_epoch beyond the data: each epoch is one pass */
    m = load("binary");
    a = ckeras_fit_args_new();
    memset(&c, 0, sizeof c);
    cb = ckeras_lambda_callback(count_batches, &c);
    ckeras_fit_args_set_int(a, "epochs", 2);
    ckeras_fit_args_set_int(a, "batch_size", 4);
    ckeras_fit_args_set_int(a, "steps_per_epoch", 5);
    ckeras_fit_args_set_int(a, "shuffle", 0);
    ckeras_fit_args_set_int(a, "verbose", 0);
    ckeras_fit_args_add_callback(a, cb);
    ck_assert_msg(ckeras_model_fit(m, x, y, a, &h) == CKERAS_OK, "%s", ckeras_last_error());
    json_t *fl = tu_get(root, "fit_long_steps");
    check_history(h, tu_get(fl, "history"), 2, NULL, "steps_per_epoch 5");
    ck_assert_int_eq(c.batches[0], 3);
    ck_assert_int_eq(c.batches[1], 3);
    check_weights(m, tu_get(fl, "weights"), 1e-5, "steps_per_epoch 5 fit");
    ckeras_history_free(h);
    ckeras_model_free(m);
    ckeras_fit_args_free(a);
    ckeras_callback_free(cb);

    /* class_weight on a binary output */
    m = load("binary");
    a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "epochs", 2);
    ckeras_fit_args_set_int(a, "batch_size", 4);
    ckeras_fit_args_set_int(a, "shuffle", 0);
    ckeras_fit_args_set_int(a, "verbose", 0);
    ck_assert_int_eq(ckeras_fit_args_set_class_weight(a, 2, (const int64_t[]){1, 0}, (const double[]){3.0, 0.5}),
                     CKERAS_OK);
    ck_assert_msg(ckeras_model_fit(m, x, y, a, &h) == CKERAS_OK, "%s", ckeras_last_error());
    json_t *fc = tu_get(root, "fit_class_weight");
    check_history(h, tu_get(fc, "history"), 2, NULL, "class_weight binary");
    check_weights(m, tu_get(fc, "weights"), 1e-5, "class_weight binary fit");
    ckeras_history_free(h);
    ckeras_model_free(m);
    ckeras_fit_args_free(a);

    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_tensor_free(sw);
    ckeras_tensor_free(xv);
    ckeras_tensor_free(yv);
    ckeras_tensor_free(swv);
    json_decref(root);
}
END_TEST

START_TEST(keras_class_weight_softmax)
{
    const char *cases[] = {"onehot", "sparse"};
    for (int c = 0; c < 2; c++) {
        char rel[64];
        snprintf(rel, sizeof rel, "fit_options/%s.json", cases[c]);
        json_t *root = tu_load_json(rel);
        ckeras_tensor *x = tensor_from(root, "x"), *y = tensor_from(root, "y");
        ckeras_model *m = load(cases[c]);
        /* the class weights as sample weights: evaluate */
        float swv[9] = {1.0f, 2.0f, 0.5f, 0.5f, 2.0f, 1.0f, 2.0f, 2.0f, 0.5f};
        ckeras_tensor *sw = ckeras_tensor_wrap(swv, 1, (const int64_t[]){9});
        const ckeras_tensor *xs[] = {x}, *ys[] = {y}, *ws[] = {sw};
        double r[3];
        ck_assert_msg(ckeras_model_evaluate_weighted(m, 1, xs, 1, ys, 1, ws, 4, r, 3) == CKERAS_OK, "%s",
                      ckeras_last_error());
        check_results(m, r, tu_get(root, "evaluate_weighted"), cases[c]);
        ckeras_fit_args *a = ckeras_fit_args_new();
        ckeras_fit_args_set_int(a, "epochs", 2);
        ckeras_fit_args_set_int(a, "batch_size", 4);
        ckeras_fit_args_set_int(a, "shuffle", 0);
        ckeras_fit_args_set_int(a, "verbose", 0);
        ck_assert_int_eq(ckeras_fit_args_set_class_weight(a, 3, (const int64_t[]){0, 1, 2},
                                                          (const double[]){1.0, 2.0, 0.5}), CKERAS_OK);
        ckeras_history *h = NULL;
        ck_assert_msg(ckeras_model_fit(m, x, y, a, &h) == CKERAS_OK, "%s", ckeras_last_error());
        json_t *fc = tu_get(root, "fit_class_weight");
        check_history(h, tu_get(fc, "history"), 2, NULL, cases[c]);
        check_weights(m, tu_get(fc, "weights"), 1e-5, cases[c]);
        ckeras_history_free(h);
        ckeras_fit_args_free(a);
        ckeras_model_free(m);
        ckeras_tensor_free(sw);
        ckeras_tensor_free(x);
        ckeras_tensor_free(y);
        json_decref(root);
    }
}
END_TEST

START_TEST(keras_masked_weighted)
{
    json_t *root = tu_load_json("fit_options/masked.json");
    ckeras_tensor *x = tensor_from(root, "x"), *y = tensor_from(root, "y"), *sw = tensor_from(root, "sw");
    ckeras_model *m = load("masked");
    const ckeras_tensor *xs[] = {x}, *ys[] = {y}, *ws[] = {sw};
    double r[2];
    ck_assert_int_eq(ckeras_model_metrics_count(m), 2);
    ck_assert_msg(ckeras_model_evaluate_weighted(m, 1, xs, 1, ys, 1, ws, 3, r, 2) == CKERAS_OK, "%s",
                  ckeras_last_error());
    check_results(m, r, tu_get(root, "evaluate_weighted"), "masked evaluate");
    ck_assert_msg(ckeras_model_train_on_batch_weighted(m, 1, xs, 1, ys, 1, ws, r, 2) == CKERAS_OK, "%s",
                  ckeras_last_error());
    check_results(m, r, tu_get(root, "train_on_batch"), "masked train_on_batch");
    check_weights(m, tu_get(root, "train_on_batch_weights"), 1e-6, "masked SGD step");
    ckeras_model_free(m);
    /* Keras' temporal weights (one per step, (N, 5)) with the mask */
    ckeras_tensor *swt = tensor_from(root, "swt");
    const ckeras_tensor *wt[] = {swt};
    m = load("masked");
    ck_assert_msg(ckeras_model_evaluate_weighted(m, 1, xs, 1, ys, 1, wt, 3, r, 2) == CKERAS_OK, "%s",
                  ckeras_last_error());
    check_results(m, r, tu_get(root, "evaluate_temporal"), "masked evaluate, temporal weights");
    ck_assert_msg(ckeras_model_train_on_batch_weighted(m, 1, xs, 1, ys, 1, wt, r, 2) == CKERAS_OK, "%s",
                  ckeras_last_error());
    check_weights(m, tu_get(root, "train_on_batch_temporal_weights"), 1e-6, "masked SGD step, temporal weights");
    ckeras_tensor_free(swt);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_tensor_free(sw);
    json_decref(root);
}
END_TEST

/* Two outputs (a: mse with loss weight 0.5 and metric mae; b: sparse cross-entropy with weighted
 * metric accuracy): one weight vector for both, or one each, against Keras. */
START_TEST(keras_two_outputs)
{
    json_t *root = tu_load_json("fit_options/two_outputs.json");
    ckeras_tensor *x = tensor_from(root, "x"), *ya = tensor_from(root, "ya"), *yb = tensor_from(root, "yb");
    ckeras_tensor *wa = tensor_from(root, "wa"), *wb = tensor_from(root, "wb");
    const ckeras_tensor *xs[] = {x}, *ys[] = {ya, yb}, *shared[] = {wa}, *each[] = {wa, wb};
    ckeras_model *m = load("two_outputs");
    double r[5];
    ck_assert_int_eq(ckeras_model_metrics_count(m), 5);
    ck_assert_msg(ckeras_model_evaluate_weighted(m, 1, xs, 2, ys, 1, shared, 8, r, 5) == CKERAS_OK, "%s",
                  ckeras_last_error());
    check_results(m, r, tu_get(root, "evaluate_shared"), "one weight vector for both outputs");
    ck_assert_int_eq(ckeras_model_evaluate_weighted(m, 1, xs, 2, ys, 2, each, 8, r, 5), CKERAS_OK);
    check_results(m, r, tu_get(root, "evaluate_each"), "one weight vector per output");
    ckeras_model_free(m);
    m = load("two_outputs");
    ck_assert_int_eq(ckeras_model_train_on_batch_weighted(m, 1, xs, 2, ys, 2, each, r, 5), CKERAS_OK);
    check_weights(m, tu_get(root, "train_on_batch_weights"), 1e-6, "two outputs, SGD step");
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(ya);
    ckeras_tensor_free(yb);
    ckeras_tensor_free(wa);
    ckeras_tensor_free(wb);
    json_decref(root);
}
END_TEST

/* ---- hand computations -------------------------------------------------------------------- */

/* Dense(1) without activation, kernel (2, 1) = [1, -1], bias 0.5: y_pred = x0 - x1 + 0.5. */
static ckeras_model *linear(const char *loss)
{
    ckeras_model *m = ckeras_sequential("lin");
    ckeras_layer *in = ckeras_input(1, (const int64_t[]){2});
    ck_assert_int_eq(ckeras_model_add(m, in), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(1, NULL)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.1, 0.0, 0), loss, "mae"), CKERAS_OK);
    ckeras_layer *d = ckeras_model_layer(m, 0);
    ckeras_tensor *k = NULL, *b = NULL;
    const char *nm;
    ck_assert_int_eq(ckeras_layer_weight(d, 0, &nm, &k), CKERAS_OK);
    ck_assert_int_eq(ckeras_layer_weight(d, 1, &nm, &b), CKERAS_OK);
    ckeras_tensor_data(k)[0] = 1.0f;
    ckeras_tensor_data(k)[1] = -1.0f;
    ckeras_tensor_data(b)[0] = 0.5f;
    ckeras_tensor_free(k);
    ckeras_tensor_free(b);
    return m;
}

START_TEST(hand_weighted_mse)
{
    ckeras_model *m = linear("mse");
    ck_assert_int_eq(ckeras_model_set_weighted_metrics(m, NULL, "mae"), CKERAS_OK);
    float xv[8] = {1, 0, 0, 1, 2, 2, -1, 0}; /* y_pred 1.5, -0.5, 0.5, -0.5 */
    float yv[4] = {1, 0, 1, 0.5f};           /* errors 0.5, -0.5, -0.5, -1 */
    float wv[4] = {2, 0, 1, 3};
    ckeras_tensor *x = ckeras_tensor_wrap(xv, 2, (const int64_t[]){4, 2});
    ckeras_tensor *y = ckeras_tensor_wrap(yv, 2, (const int64_t[]){4, 1});
    ckeras_tensor *w = ckeras_tensor_wrap(wv, 1, (const int64_t[]){4});
    const ckeras_tensor *xs[] = {x}, *ys[] = {y}, *ws[] = {w};
    double r[3];
    ck_assert_int_eq(ckeras_model_evaluate_weighted(m, 1, xs, 1, ys, 1, ws, 4, r, 3), CKERAS_OK);
    /* sum_over_batch_size: (2*0.25 + 0 + 1*0.25 + 3*1) / 4 rows = 0.9375 (not / sum(w) = 6) */
    assert_near(r[0], (2 * 0.25 + 1 * 0.25 + 3 * 1.0) / 4, 1e-7, "weighted mse");
    assert_near(r[1], (0.5 + 0.5 + 0.5 + 1) / 4, 1e-7, "mae (not weighted)");
    assert_near(r[2], (2 * 0.5 + 1 * 0.5 + 3 * 1.0) / 6, 1e-7, "weighted mae (weighted mean)");
    ck_assert_str_eq(ckeras_model_metrics_name(m, 2), "weighted_mae");
    /* batches of 3 and 1: each batch over its own rows, the batches by their sizes (Keras) */
    ck_assert_int_eq(ckeras_model_evaluate_weighted(m, 1, xs, 1, ys, 1, ws, 3, r, 3), CKERAS_OK);
    assert_near(r[0], ((2 * 0.25 + 1 * 0.25) / 3 * 3 + 3 * 1.0) / 4, 1e-7, "weighted mse in 2 batches");
    /* one weight vector per output (1 output) is the same */
    ck_assert_int_eq(ckeras_model_evaluate_weighted(m, 1, xs, 1, ys, 1, ws, 4, r, 3), CKERAS_OK);
    /* the SGD step: d/dw of sum(w_i e_i^2)/4 */
    double gk0 = 0, gk1 = 0, gb = 0;
    for (int i = 0; i < 4; i++) {
        double e = (xv[2 * i] - xv[2 * i + 1] + 0.5) - yv[i];
        gk0 += wv[i] * 2 * e * xv[2 * i] / 4;
        gk1 += wv[i] * 2 * e * xv[2 * i + 1] / 4;
        gb += wv[i] * 2 * e / 4;
    }
    ck_assert_int_eq(ckeras_model_train_on_batch_weighted(m, 1, xs, 1, ys, 1, ws, r, 3), CKERAS_OK);
    ckeras_tensor *k = NULL, *b = NULL;
    const char *nm;
    ckeras_layer_weight(ckeras_model_layer(m, 0), 0, &nm, &k);
    ckeras_layer_weight(ckeras_model_layer(m, 0), 1, &nm, &b);
    assert_near(ckeras_tensor_data(k)[0], 1.0 - 0.1 * gk0, 1e-6, "kernel[0] after the step");
    assert_near(ckeras_tensor_data(k)[1], -1.0 - 0.1 * gk1, 1e-6, "kernel[1] after the step");
    assert_near(ckeras_tensor_data(b)[0], 0.5 - 0.1 * gb, 1e-6, "bias after the step");
    ckeras_tensor_free(k);
    ckeras_tensor_free(b);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_tensor_free(w);
}
END_TEST

/* class_weight {0: 0.25, 2: 4} on sparse labels, by hand: one epoch, one batch, SGD(0.1). */
START_TEST(hand_class_weight)
{
    ckeras_model *m = ckeras_sequential("cls");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){2})), CKERAS_OK);
    ckeras_layer *d = ckeras_dense(3, "softmax");
    ckeras_layer_set_str(d, "kernel_initializer", "zeros");
    ck_assert_int_eq(ckeras_model_add(m, d), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.1, 0.0, 0), "sparse_categorical_crossentropy", NULL), CKERAS_OK);
    float xv[8] = {1, 2, -1, 0, 0.5f, 0.5f, 2, -1};
    float yv[4] = {0, 2, 1, 2};
    ckeras_tensor *x = ckeras_tensor_wrap(xv, 2, (const int64_t[]){4, 2});
    ckeras_tensor *y = ckeras_tensor_wrap(yv, 1, (const int64_t[]){4});
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "verbose", 0);
    ckeras_fit_args_set_int(a, "shuffle", 0);
    ck_assert_int_eq(ckeras_fit_args_set_class_weight(a, 2, (const int64_t[]){2, 0}, (const double[]){4, 0.25}),
                     CKERAS_OK);
    ckeras_history *h = NULL;
    ck_assert_msg(ckeras_model_fit(m, x, y, a, &h) == CKERAS_OK, "%s", ckeras_last_error());
    /* zero kernel and bias: every probability 1/3, loss per sample ln 3; weights 0.25, 4, 1, 4 */
    const double *loss;
    int n;
    ck_assert_int_eq(ckeras_history_values(h, "loss", &loss, &n), CKERAS_OK);
    assert_near(loss[0], (0.25 + 4 + 1 + 4) * log(3.0) / 4, 1e-6, "class-weighted loss");
    /* bias gradient: sum_i w_i (p - onehot_i) / 4 with p = 1/3 */
    double w[4] = {0.25, 4, 1, 4}, gb[3] = {0, 0, 0};
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < 3; c++)
            gb[c] += w[i] * (1.0 / 3 - (c == (int)yv[i])) / 4;
    ckeras_tensor *b = NULL;
    const char *nm;
    ckeras_layer_weight(ckeras_model_layer(m, 0), 1, &nm, &b);
    for (int c = 0; c < 3; c++)
        assert_near(ckeras_tensor_data(b)[c], -0.1 * gb[c], 1e-6, "bias after the class-weighted step");
    ckeras_tensor_free(b);
    ckeras_history_free(h);
    ckeras_fit_args_free(a);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

/* ---- gradient check ------------------------------------------------------------------------ */

/* The weighted loss's gradient (one SGD(1) step: w - w') against central differences of
 * evaluate's weighted loss, on a Dense(3, tanh) -> Dense(2) model with binary cross-entropy. */
START_TEST(weighted_gradient_fd)
{
    ckeras_model *m = ckeras_sequential("g");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){3})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(3, "tanh")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(2, "sigmoid")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(1.0, 0.0, 0), "binary_crossentropy", NULL), CKERAS_OK);
    float xv[15], yv[10], wv[5] = {0.5f, 2.0f, 0.0f, 1.25f, 3.0f};
    for (int i = 0; i < 15; i++)
        xv[i] = (float)sin(1.7 * i + 0.3);
    for (int i = 0; i < 10; i++)
        yv[i] = (float)(i % 3 == 0);
    ckeras_tensor *x = ckeras_tensor_wrap(xv, 2, (const int64_t[]){5, 3});
    ckeras_tensor *y = ckeras_tensor_wrap(yv, 2, (const int64_t[]){5, 2});
    ckeras_tensor *w = ckeras_tensor_wrap(wv, 1, (const int64_t[]){5});
    const ckeras_tensor *xs[] = {x}, *ys[] = {y}, *ws[] = {w};
    /* every weight, and its analytic gradient from one step */
    float *view[4];
    int64_t size[4];
    ckeras_tensor *t[4];
    int nw = 0;
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < 2; i++, nw++) {
            const char *nm;
            ck_assert_int_eq(ckeras_layer_weight(ckeras_model_layer(m, l), i, &nm, &t[nw]), CKERAS_OK);
            view[nw] = ckeras_tensor_data(t[nw]);
            size[nw] = ckeras_tensor_size(t[nw]);
        }
    float before[64], grad[64];
    int total = 0;
    for (int v = 0; v < nw; v++)
        for (int64_t j = 0; j < size[v]; j++)
            before[total++] = view[v][j];
    double r[1];
    ck_assert_int_eq(ckeras_model_train_on_batch_weighted(m, 1, xs, 1, ys, 1, ws, r, 1), CKERAS_OK);
    total = 0;
    for (int v = 0; v < nw; v++)
        for (int64_t j = 0; j < size[v]; j++, total++) {
            grad[total] = before[total] - view[v][j];
            view[v][j] = before[total];
        }
    total = 0;
    double worst = 0;
    for (int v = 0; v < nw; v++)
        for (int64_t j = 0; j < size[v]; j++, total++) {
            const float eps = 1e-2f;
            double lp, lm;
            view[v][j] = before[total] + eps;
            ck_assert_int_eq(ckeras_model_evaluate_weighted(m, 1, xs, 1, ys, 1, ws, 5, &lp, 1), CKERAS_OK);
            view[v][j] = before[total] - eps;
            ck_assert_int_eq(ckeras_model_evaluate_weighted(m, 1, xs, 1, ys, 1, ws, 5, &lm, 1), CKERAS_OK);
            view[v][j] = before[total];
            double fd = (lp - lm) / (2 * eps);
            double err = fabs(fd - grad[total]) / (1e-3 + fabs(fd));
            worst = err > worst ? err : worst;
            ck_assert_msg(fabs(fd - grad[total]) < 2e-3 * (1 + fabs(fd)), "weight %d/%lld: analytic %.6g, FD %.6g", v,
                          (long long)j, grad[total], fd);
        }
    for (int v = 0; v < nw; v++)
        ckeras_tensor_free(t[v]);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_tensor_free(w);
}
END_TEST

/* ---- bad input ------------------------------------------------------------------------------ */

static void params_of(ckeras_model *m, float *out, int *n)
{
    *n = 0;
    for (int l = 0; l < ckeras_model_layer_count(m); l++) {
        ckeras_layer *layer = ckeras_model_layer(m, l);
        for (int i = 0; i < ckeras_layer_weight_count(layer); i++) {
            const char *nm;
            ckeras_tensor *v = NULL;
            ckeras_layer_weight(layer, i, &nm, &v);
            memcpy(out + *n, ckeras_tensor_data(v), (size_t)ckeras_tensor_size(v) * sizeof(float));
            *n += (int)ckeras_tensor_size(v);
            ckeras_tensor_free(v);
        }
    }
}

START_TEST(bad_weights)
{
    ckeras_model *m = linear("mse");
    float xv[8] = {1, 0, 0, 1, 2, 2, -1, 0}, yv[4] = {1, 0, 1, 0.5f};
    ckeras_tensor *x = ckeras_tensor_wrap(xv, 2, (const int64_t[]){4, 2});
    ckeras_tensor *y = ckeras_tensor_wrap(yv, 2, (const int64_t[]){4, 1});
    float w3[3] = {1, 1, 1}, wneg[4] = {1, -1, 1, 1}, wnan[4] = {1, 1, NAN, 1}, w41[4] = {1, 2, 3, 4}, w42[8] = {0};
    ckeras_tensor *short_w = ckeras_tensor_wrap(w3, 1, (const int64_t[]){3});
    ckeras_tensor *neg = ckeras_tensor_wrap(wneg, 1, (const int64_t[]){4});
    ckeras_tensor *nan_w = ckeras_tensor_wrap(wnan, 1, (const int64_t[]){4});
    ckeras_tensor *col = ckeras_tensor_wrap(w41, 2, (const int64_t[]){4, 1});
    ckeras_tensor *mat = ckeras_tensor_wrap(w42, 2, (const int64_t[]){4, 2});
    const ckeras_tensor *xs[] = {x}, *ys[] = {y};
    float p0[16], p1[16];
    int n0, n1;
    params_of(m, p0, &n0);
    double r[2];
    struct {
        const ckeras_tensor *w;
        ckeras_status st;
        const char *msg;
    } bad[] = {{short_w, CKERAS_ESHAPE, "4 samples but sample_weight has 3 weights"},
               {neg, CKERAS_EINVAL, "sample_weight of sample 1 is -1"},
               {nan_w, CKERAS_ENAN, "sample_weight of sample 2 is nan"},
               {mat, CKERAS_ESHAPE, "one weight per sample"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const ckeras_tensor *ws[] = {bad[i].w};
        ck_assert_int_eq(ckeras_model_train_on_batch_weighted(m, 1, xs, 1, ys, 1, ws, r, 2), bad[i].st);
        ck_assert_msg(strstr(ckeras_last_error(), bad[i].msg), "%s", ckeras_last_error());
        ck_assert_int_eq(ckeras_model_evaluate_weighted(m, 1, xs, 1, ys, 1, ws, 4, r, 2), bad[i].st);
        ckeras_fit_args *a = ckeras_fit_args_new();
        ckeras_fit_args_set_int(a, "verbose", 0);
        ck_assert_int_eq(ckeras_fit_args_set_sample_weight(a, 1, ws), CKERAS_OK);
        ck_assert_int_eq(ckeras_model_fit(m, x, y, a, NULL), bad[i].st);
        ckeras_fit_args_free(a);
    }
    params_of(m, p1, &n1);
    ck_assert_int_eq(n0, n1);
    ck_assert_int_eq(memcmp(p0, p1, (size_t)n0 * sizeof(float)), 0); /* nothing trained */
    /* (N, 1) weights are fine; two vectors for one output are not */
    const ckeras_tensor *wc[] = {col, col, col};
    ck_assert_int_eq(ckeras_model_evaluate_weighted(m, 1, xs, 1, ys, 1, wc, 4, r, 2), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_evaluate_weighted(m, 1, xs, 1, ys, 2, wc, 4, r, 2), CKERAS_EINVAL); /* 1 output */
    ck_assert_int_eq(ckeras_model_evaluate_weighted(m, 1, xs, 1, ys, 3, wc, 4, r, 2), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_evaluate_weighted(m, 1, xs, 1, ys, -1, wc, 4, r, 2), CKERAS_EINVAL);
    /* class_weight: with sample_weight, out of range, bad values */
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "verbose", 0);
    const ckeras_tensor *wsc[] = {col};
    ck_assert_int_eq(ckeras_fit_args_set_sample_weight(a, 1, wsc), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_class_weight(a, 1, (const int64_t[]){1}, (const double[]){2}), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_fit(m, x, y, a, NULL), CKERAS_EINVAL);
    ck_assert_msg(strstr(ckeras_last_error(), "You cannot `class_weight` and `sample_weight` at the same time."),
                  "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_fit_args_set_sample_weight(a, 0, NULL), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_class_weight(a, 1, (const int64_t[]){2}, (const double[]){2}), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_fit(m, x, y, a, NULL), CKERAS_EINVAL); /* one unit: classes 0 and 1 */
    ck_assert_msg(strstr(ckeras_last_error(), "class 2"), "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_fit_args_set_class_weight(a, 1, (const int64_t[]){-1}, (const double[]){2}),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_fit_args_set_class_weight(a, 1, (const int64_t[]){0}, (const double[]){NAN}),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_fit_args_set_class_weight(a, 1, (const int64_t[]){0}, (const double[]){-2}),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_fit_args_set_class_weight(a, 2, (const int64_t[]){0, 0}, (const double[]){1, 2}),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "validation_freq", 0), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "steps_per_epoch", -1), CKERAS_EINVAL);
    ckeras_fit_args_free(a);
    params_of(m, p1, &n1);
    ck_assert_int_eq(memcmp(p0, p1, (size_t)n0 * sizeof(float)), 0);
    /* weighted metrics: unknown name, unknown output, before compile */
    ck_assert_int_eq(ckeras_model_set_weighted_metrics(m, NULL, "nope"), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_set_weighted_metrics(m, "nope", "mae"), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_metrics_count(m), 2);
    ckeras_model *u = ckeras_sequential(NULL);
    ck_assert_int_eq(ckeras_model_set_weighted_metrics(u, NULL, "mae"), CKERAS_ESTATE);
    ckeras_model_free(u);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_tensor_free(short_w);
    ckeras_tensor_free(neg);
    ckeras_tensor_free(nan_w);
    ckeras_tensor_free(col);
    ckeras_tensor_free(mat);
}
END_TEST

/* Two outputs: one weight vector for both or one per output; class_weight refused with Keras'
 * message; weighted metrics named per output. */
START_TEST(multi_output)
{
    ckeras_model *m = ckeras_functional("two");
    int in = id_input(m, ckeras_input(1, (const int64_t[]){2}));
    ckeras_layer *la = ckeras_dense(1, NULL), *lb = ckeras_dense(1, NULL);
    ck_assert_int_eq(ckeras_layer_set_name(la, "a"), CKERAS_OK);
    ck_assert_int_eq(ckeras_layer_set_name(lb, "b"), CKERAS_OK);
    ckeras_layer_set_str(la, "kernel_initializer", "ones");
    ckeras_layer_set_str(lb, "kernel_initializer", "zeros");
    int oa = id_call(m, la, 1, &in), ob = id_call(m, lb, 1, &in);
    ck_assert_int_eq(ckeras_model_set_outputs(m, 2, (const int[]){oa, ob}), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile_outputs(m, ckeras_sgd(0.1, 0.0, 0), 2, NULL, (const char *const[]){"mse", "mae"},
                                                  NULL, (const char *const[]){"mae", NULL}),
                     CKERAS_OK);
    ck_assert_int_eq(ckeras_model_set_weighted_metrics(m, NULL, "mae"), CKERAS_OK);
    /* loss, a_loss, b_loss, a_mae, a_weighted_mae, b_mae */
    ck_assert_int_eq(ckeras_model_metrics_count(m), 6);
    ck_assert_str_eq(ckeras_model_metrics_name(m, 3), "a_mae");
    ck_assert_str_eq(ckeras_model_metrics_name(m, 4), "a_weighted_mae");
    ck_assert_str_eq(ckeras_model_metrics_name(m, 5), "b_mae");
    float xv[4] = {1, 1, 2, 0}, ya[2] = {1, 1}, yb[2] = {1, -1}, wa[2] = {1, 3}, wb[2] = {2, 0};
    ckeras_tensor *x = ckeras_tensor_wrap(xv, 2, (const int64_t[]){2, 2});
    ckeras_tensor *ta = ckeras_tensor_wrap(ya, 2, (const int64_t[]){2, 1});
    ckeras_tensor *tb = ckeras_tensor_wrap(yb, 2, (const int64_t[]){2, 1});
    ckeras_tensor *twa = ckeras_tensor_wrap(wa, 1, (const int64_t[]){2});
    ckeras_tensor *twb = ckeras_tensor_wrap(wb, 1, (const int64_t[]){2});
    const ckeras_tensor *xs[] = {x}, *ys[] = {ta, tb};
    double r[6];
    /* predictions a: 2, 2 (errors 1, 1), b: 0, 0 (errors -1, 1) */
    const ckeras_tensor *one[] = {twa};
    ck_assert_int_eq(ckeras_model_evaluate_weighted(m, 1, xs, 2, ys, 1, one, 2, r, 6), CKERAS_OK);
    assert_near(r[1], (1 * 1 + 3 * 1) / 2.0, 1e-7, "a_loss, shared weights");
    assert_near(r[2], (1 * 1 + 3 * 1) / 2.0, 1e-7, "b_loss, shared weights");
    assert_near(r[0], r[1] + r[2], 1e-7, "loss");
    const ckeras_tensor *per[] = {twa, twb};
    ck_assert_int_eq(ckeras_model_evaluate_weighted(m, 1, xs, 2, ys, 2, per, 2, r, 6), CKERAS_OK);
    assert_near(r[1], 2.0, 1e-7, "a_loss");
    assert_near(r[2], (2 * 1 + 0) / 2.0, 1e-7, "b_loss, its own weights");
    assert_near(r[4], 1.0, 1e-7, "a_weighted_mae");
    const ckeras_tensor *only_b[] = {NULL, twb};
    ck_assert_int_eq(ckeras_model_evaluate_weighted(m, 1, xs, 2, ys, 2, only_b, 2, r, 6), CKERAS_OK);
    assert_near(r[1], 1.0, 1e-7, "a_loss unweighted (NULL)");
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "verbose", 0);
    ck_assert_int_eq(ckeras_fit_args_set_class_weight(a, 1, (const int64_t[]){0}, (const double[]){2}), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_fit_multi(m, 1, xs, 2, ys, a, NULL), CKERAS_EINVAL);
    ck_assert_msg(strstr(ckeras_last_error(), "`class_weight` is only supported for Models with a single output."),
                  "%s", ckeras_last_error());
    ckeras_fit_args_free(a);
    /* saved and loaded back, in every format */
    const char *dir = tu_tmpdir_make("fitopts");
    (void)dir;
    const char *files[] = {"two.h5", "two.keras"};
    for (int f = 0; f < 2; f++) {
        const char *path = tu_tmp(files[f]);
        ck_assert_msg(ckeras_model_save(m, path, 0) == CKERAS_OK, "%s", ckeras_last_error());
        ckeras_model *back = NULL;
        ck_assert_msg(ckeras_load_model(path, 0, &back) == CKERAS_OK, "%s", ckeras_last_error());
        ck_assert_int_eq(ckeras_model_metrics_count(back), 6);
        for (int i = 0; i < 6; i++)
            ck_assert_str_eq(ckeras_model_metrics_name(back, i), ckeras_model_metrics_name(m, i));
        ckeras_model_free(back);
    }
    tu_tmpdir_remove();
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(ta);
    ckeras_tensor_free(tb);
    ckeras_tensor_free(twa);
    ckeras_tensor_free(twb);
}
END_TEST

/* steps_per_epoch smaller than a pass: the next epoch goes on where the last stopped (Keras'
 * EpochIterator); with shuffle, a new order only at each new pass. Counted with a callback. */
START_TEST(steps_per_epoch_continues)
{
    ckeras_model *m = linear("mse");
    float xv[20], yv[10];
    for (int i = 0; i < 20; i++)
        xv[i] = (float)i / 10;
    for (int i = 0; i < 10; i++)
        yv[i] = 1;
    ckeras_tensor *x = ckeras_tensor_wrap(xv, 2, (const int64_t[]){10, 2});
    ckeras_tensor *y = ckeras_tensor_wrap(yv, 2, (const int64_t[]){10, 1});
    counter c;
    memset(&c, 0, sizeof c);
    ckeras_callback *cb = ckeras_lambda_callback(count_batches, &c);
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "verbose", 0);
    ckeras_fit_args_set_int(a, "epochs", 5);
    ckeras_fit_args_set_int(a, "batch_size", 1); /* 10 batches a pass */
    ckeras_fit_args_set_int(a, "steps_per_epoch", 4);
    ckeras_fit_args_add_callback(a, cb);
    ck_assert_int_eq(ckeras_model_fit(m, x, y, a, NULL), CKERAS_OK);
    const int want[5] = {4, 4, 2, 4, 4};
    for (int e = 0; e < 5; e++)
        ck_assert_int_eq(c.batches[e], want[e]);
    ckeras_fit_args_free(a);
    ckeras_callback_free(cb);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

/* A metric added from its config (MeanIoU) next to weighted_metrics: both kinds keep their
 * settings and order, are computed as a hand count says, and survive saving in both formats. */
START_TEST(config_metric_and_weighted_metrics)
{
    ckeras_set_random_seed(7);
    ckeras_model *m = ckeras_sequential("cfgw");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){3})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(3, "softmax")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.1, 0, 0), "sparse_categorical_crossentropy", "accuracy"),
                     CKERAS_OK);
    static const char miou[] = "{\"class_name\": \"MeanIoU\", \"config\": {\"num_classes\": 3, "
                               "\"sparse_y_pred\": false, \"name\": \"miou\"}}";
    ck_assert_msg(ckeras_model_add_metric(m, NULL, miou) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_msg(ckeras_model_set_weighted_metrics(m, NULL, "accuracy") == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_model_metrics_count(m), 4); /* with "loss" */
    enum { N = 12 };
    ckeras_tensor *x = ckeras_tensor_new(2, (const int64_t[]){N, 3}), *y = ckeras_tensor_new(1, (const int64_t[]){N});
    ckeras_tensor *w = ckeras_tensor_new(1, (const int64_t[]){N}), *p = NULL;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < 3; j++)
            ckeras_tensor_data(x)[i * 3 + j] = (float)sin(1.1 * i + 2.3 * j);
        ckeras_tensor_data(y)[i] = (float)(i % 3);
        ckeras_tensor_data(w)[i] = (float)(i % 4) * 0.5f;
    }
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &p), CKERAS_OK);
    /* by hand: accuracy, weighted accuracy, and the mean IoU over the classes that occur */
    double correct = 0, wc = 0, ws = 0, cm[3][3] = {{0}};
    for (int i = 0; i < N; i++) {
        const float *r = ckeras_tensor_data(p) + i * 3;
        int pred = r[1] > r[0] ? 1 : 0;
        pred = r[2] > r[pred] ? 2 : pred;
        int t = i % 3;
        correct += pred == t;
        wc += (pred == t) * ckeras_tensor_data(w)[i];
        ws += ckeras_tensor_data(w)[i];
        cm[t][pred] += 1; /* MeanIoU is not a weighted metric here: every sample counts once */
    }
    double iou = 0;
    int classes = 0;
    for (int c = 0; c < 3; c++) {
        double row = 0, col = 0;
        for (int j = 0; j < 3; j++) {
            row += cm[c][j];
            col += cm[j][c];
        }
        double denom = row + col - cm[c][c];
        if (denom > 0) {
            iou += cm[c][c] / denom;
            classes++;
        }
    }
    iou /= classes;
    const ckeras_tensor *xs[1] = {x}, *ys[1] = {y}, *wsv[1] = {w};
    double r[4], r2[4];
    ck_assert_msg(ckeras_model_evaluate_weighted(m, 1, xs, 1, ys, 1, wsv, 5, r, 4) == CKERAS_OK, "%s",
                  ckeras_last_error());
    const char *names[3] = {"accuracy", "miou", "weighted_accuracy"};
    const double want[3] = {correct / N, iou, wc / ws};
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(ckeras_model_metrics_name(m, i + 1), names[i]);
        ck_assert_msg(fabs(r[1 + i] - want[i]) < 1e-6, "%s: %g, by hand %g", names[i], r[1 + i], want[i]);
    }
    ck_assert_ptr_nonnull(tu_tmpdir_make("cfgw"));
    for (int flags = 0; flags <= CKERAS_SAVE_KERAS3; flags += CKERAS_SAVE_KERAS3) {
        const char *path = tu_tmp(flags ? "k3.h5" : "k2.h5");
        ck_assert_msg(ckeras_model_save(m, path, flags) == CKERAS_OK, "%s", ckeras_last_error());
        ckeras_model *back = NULL;
        ck_assert_msg(ckeras_load_model(path, 0, &back) == CKERAS_OK, "%s", ckeras_last_error());
        ck_assert_int_eq(ckeras_model_metrics_count(back), 4);
        ck_assert_msg(ckeras_model_evaluate_weighted(back, 1, xs, 1, ys, 1, wsv, 5, r2, 4) == CKERAS_OK, "%s",
                      ckeras_last_error());
        for (int i = 0; i < 3; i++) {
            ck_assert_str_eq(ckeras_model_metrics_name(back, i + 1), names[i]);
            ck_assert_msg(fabs(r2[1 + i] - r[1 + i]) < 1e-12, "%s after reload", names[i]);
        }
        ckeras_model_free(back);
    }
    tu_tmpdir_remove();
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_tensor_free(w);
    ckeras_tensor_free(p);
    ckeras_model_free(m);
}
END_TEST

/* ---- the copy of the weights a fit keeps ------------------------------------------------- */

static ckeras_status do_nothing(ckeras_event ev, int index, const ckeras_logs *logs, void *user)
{
    (void)ev, (void)index, (void)logs, (void)user;
    return CKERAS_OK;
}

#define WIDE_WEIGHTS (784 * 384 + 384 + 384 + 1)

static ckeras_model *wide_model(void)
{
    ckeras_set_random_seed(11);
    ckeras_model *m = ckeras_sequential("wide");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){784})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(384, "relu")), CKERAS_OK); /* 301,440 weights */
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(1, "sigmoid")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.01, 0.9, 0), "binary_crossentropy", "accuracy"), CKERAS_OK);
    return m;
}

static ckeras_status fit_with(ckeras_model *m, ckeras_tensor *x, ckeras_tensor *y, int epochs, int freq, bool callback,
                              ckeras_history **h)
{
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_callback *cb = ckeras_lambda_callback(do_nothing, NULL);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "epochs", epochs), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "batch_size", 16), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "validation_freq", freq), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "verbose", 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_float(a, "validation_split", 0.25), CKERAS_OK);
    if (callback)
        ck_assert_int_eq(ckeras_fit_args_add_callback(a, cb), CKERAS_OK);
    ckeras_status st = ckeras_model_fit(m, x, y, a, h);
    ckeras_callback_free(cb);
    ckeras_fit_args_free(a);
    return st;
}

/* A fit with no callbacks, no data source and one process keeps no copy of the weights to go
 * back to (nothing can fail once it has begun: the History's room is made first). Its History
 * and weights are those of the same fit with a callback (which keeps the copy), bit for bit,
 * also when validation_freq leaves the validation out of every epoch or of the first ones; and
 * under an allocation limit below the weights' size it trains where the fit with a callback
 * fails, out of memory, with the weights as they were. */
START_TEST(no_weights_copy_without_callbacks)
{
    const int64_t n = 64;
    ckeras_tensor *x = ckeras_tensor_new(2, (const int64_t[]){n, 784}), *y = ckeras_tensor_new(2, (const int64_t[]){n, 1});
    for (int64_t i = 0; i < n * 784; i++)
        ckeras_tensor_data(x)[i] = (float)((i * 7919) % 1000) / 1000.0f;
    for (int64_t i = 0; i < n; i++)
        ckeras_tensor_data(y)[i] = (float)(i % 3 == 0);
    static const int cases[][2] = {{2, 3}, {3, 3}, {2, 1}, {4, 2}}; /* epochs, validation_freq */
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ckeras_history *h[2];
        ckeras_model *m[2];
        for (int k = 0; k < 2; k++) {
            m[k] = wide_model();
            ck_assert_int_eq(fit_with(m[k], x, y, cases[c][0], cases[c][1], k == 1, &h[k]), CKERAS_OK);
        }
        ck_assert_int_eq(ckeras_history_epochs(h[0]), cases[c][0]);
        ck_assert_int_eq(ckeras_history_epochs(h[1]), cases[c][0]);
        ck_assert_int_eq(ckeras_history_key_count(h[0]), ckeras_history_key_count(h[1]));
        ck_assert_int_eq(ckeras_history_key_count(h[0]), cases[c][0] >= cases[c][1] ? 4 : 2); /* val_ ones? */
        for (int i = 0; i < ckeras_history_key_count(h[0]); i++) {
            ck_assert_str_eq(ckeras_history_key(h[0], i), ckeras_history_key(h[1], i));
            const double *v[2];
            int ne[2];
            for (int k = 0; k < 2; k++)
                ck_assert_int_eq(ckeras_history_values(h[k], ckeras_history_key(h[0], i), &v[k], &ne[k]), CKERAS_OK);
            for (int e = 0; e < ne[0]; e++)
                ck_assert_msg(v[0][e] == v[1][e] || (isnan(v[0][e]) && isnan(v[1][e])), "case %zu: %s[%d]", c,
                              ckeras_history_key(h[0], i), e);
        }
        float *w[2];
        int nw[2];
        for (int k = 0; k < 2; k++) {
            w[k] = malloc(WIDE_WEIGHTS * sizeof(float));
            params_of(m[k], w[k], &nw[k]);
        }
        ck_assert_int_eq(nw[0], WIDE_WEIGHTS);
        ck_assert(memcmp(w[0], w[1], WIDE_WEIGHTS * sizeof(float)) == 0);
        for (int k = 0; k < 2; k++) {
            free(w[k]);
            ckeras_history_free(h[k]);
            ckeras_model_free(m[k]);
        }
    }
    /* the weights are 1.2 MB: a limit of 1 MB on any one allocation */
    ckeras_model *m = wide_model();
    ckeras_history *h = NULL;
    ck_assert_int_eq(fit_with(m, x, y, 1, 1, false, &h), CKERAS_OK); /* its buffers made */
    ckeras_history_free(h);
    float *before = malloc(WIDE_WEIGHTS * sizeof(float)), *after = malloc(WIDE_WEIGHTS * sizeof(float));
    int nb, na;
    params_of(m, before, &nb);
    ck_alloc_set_limit((size_t)1 << 20);
    ck_assert_int_eq(fit_with(m, x, y, 2, 1, true, &h), CKERAS_ENOMEM);
    ck_assert_ptr_null(h);
    params_of(m, after, &na);
    ck_assert(memcmp(before, after, WIDE_WEIGHTS * sizeof(float)) == 0); /* as they were */
    ck_assert_int_eq(fit_with(m, x, y, 2, 1, false, &h), CKERAS_OK);
    ck_alloc_set_limit(0);
    ck_assert_int_eq(ckeras_history_epochs(h), 2);
    params_of(m, after, &na);
    ck_assert(memcmp(before, after, WIDE_WEIGHTS * sizeof(float)) != 0); /* it trained */
    free(before);
    free(after);
    ckeras_history_free(h);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fit_options");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, keras_binary_evaluate_and_step);
    tcase_add_test(tc, keras_binary_fits);
    tcase_add_test(tc, keras_class_weight_softmax);
    tcase_add_test(tc, keras_masked_weighted);
    tcase_add_test(tc, keras_two_outputs);
    tcase_add_test(tc, hand_weighted_mse);
    tcase_add_test(tc, hand_class_weight);
    tcase_add_test(tc, weighted_gradient_fd);
    tcase_add_test(tc, bad_weights);
    tcase_add_test(tc, multi_output);
    tcase_add_test(tc, steps_per_epoch_continues);
    tcase_add_test(tc, config_metric_and_weighted_metrics);
    tcase_add_test(tc, no_weights_copy_without_callbacks);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
