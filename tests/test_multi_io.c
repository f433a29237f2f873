/* Models with several inputs and outputs (Keras `Model([a, b], [cls, reg])`):
 *  - evaluate_multi: each output's loss, the weighted total and the metrics against values this
 *    file computes from predict_outputs' arrays (-log p[y], squared and absolute errors, argmax);
 *    the result names are Keras 3's (["loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"],
 *    measured with Keras 3.11.3);
 *  - fit: History keys exactly Keras 3.11.3's for this model; validation_split cuts every input
 *    and target alike (val_loss = evaluate on the last 20 % of each tensor); validation_data;
 *  - compile by position, by name in another order, an output without a loss (not trained),
 *    one loss name for every output;
 *  - backward through several outputs (one of them also read by another layer) against central
 *    finite differences of the weighted total loss;
 *  - train_on_batch running means (Keras 3: since the last evaluate / fit, measured);
 *  - misuse: counts, sample counts, target shapes, names, weights, NULLs;
 *  - files Keras 3.11.3 wrote (tests/fixtures/multi_io, tests/ref/multi_io_ref.py: compile by
 *    dicts, by lists, with a None loss): loaded with compile, Keras' predictions and evaluate;
 *  - save / load (.h5 in both profiles, .keras): predictions, compile and evaluate restored;
 *    real Keras loads the files with compile and predicts both outputs (tests/keras/
 *    check_multi_io.py, when KERAS_ORACLE_SRC is set);
 *  - `ckeras predict` writes one .npz member per output (checked with numpy when there). */
#include "model/model.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "api_ids.h"

#define N 20

/* ---- the model and its data -------------------------------------------------------------- */

static ckeras_layer *named(ckeras_layer *l, const char *name)
{
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(ckeras_layer_set_name(l, name), CKERAS_OK);
    return l;
}

/* a: 4 features, b: 3 -> Concatenate -> Dense(8, act, "h") -> "cls" Dense(3 softmax),
 * "reg" Dense(1). */
static ckeras_model *two_io(const char *hidden_act)
{
    ckeras_set_random_seed(42);
    ckeras_model *m = ckeras_functional("two_io");
    ck_assert_ptr_nonnull(m);
    int a = id_input(m, named(ckeras_input(1, (const int64_t[]){4}), "a"));
    int b = id_input(m, named(ckeras_input(1, (const int64_t[]){3}), "b"));
    ck_assert_int_ge(a, 0);
    ck_assert_int_ge(b, 0);
    int c = id_call(m, ckeras_concatenate(-1), 2, (const int[]){a, b});
    int h = id_call(m, named(ckeras_dense(8, hidden_act), "h"), 1, &c);
    int cls = id_call(m, named(ckeras_dense(3, "softmax"), "cls"), 1, &h);
    int reg = id_call(m, named(ckeras_dense(1, NULL), "reg"), 1, &h);
    ck_assert_int_ge(cls, 0);
    ck_assert_int_ge(reg, 0);
    ck_assert_int_eq(ckeras_model_set_outputs(m, 2, (const int[]){cls, reg}), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_output_count(m), 2);
    ck_assert_str_eq(ckeras_model_output_name(m, 0), "cls");
    ck_assert_str_eq(ckeras_model_output_name(m, 1), "reg");
    ck_assert_ptr_null(ckeras_model_output_name(m, 2));
    ck_assert_ptr_null(ckeras_model_output_name(m, -1));
    return m;
}

static const char *const LOSSES[2] = {"sparse_categorical_crossentropy", "mse"};
static const double WEIGHTS[2] = {1.0, 0.5};
static const char *const METRICS[2] = {"accuracy", "mae"};

static void compile_two(ckeras_model *m, double lr)
{
    ck_assert_int_eq(ckeras_model_compile_outputs(m, ckeras_sgd(lr, 0, 0), 2, (const char *const[]){"cls", "reg"},
                                                  LOSSES, WEIGHTS, METRICS),
                     CKERAS_OK);
}

/* x = (a, b), y = (class index, regression target), from a fixed LCG. */
typedef struct data {
    ckeras_tensor *xa, *xb, *yc, *yr;
} data;

static float lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffff) / 65536.0f * 2.0f - 1.0f;
}

static data make_data(int64_t n, uint32_t seed)
{
    data d;
    d.xa = ckeras_tensor_new(2, (const int64_t[]){n, 4});
    d.xb = ckeras_tensor_new(2, (const int64_t[]){n, 3});
    d.yc = ckeras_tensor_new(1, (const int64_t[]){n});
    d.yr = ckeras_tensor_new(2, (const int64_t[]){n, 1});
    ck_assert(d.xa && d.xb && d.yc && d.yr);
    for (int64_t i = 0; i < n * 4; i++)
        ckeras_tensor_data(d.xa)[i] = lcg(&seed);
    for (int64_t i = 0; i < n * 3; i++)
        ckeras_tensor_data(d.xb)[i] = lcg(&seed);
    for (int64_t i = 0; i < n; i++) {
        ckeras_tensor_data(d.yc)[i] = (float)((i * 7 + seed) % 3);
        ckeras_tensor_data(d.yr)[i] = 2.0f * lcg(&seed);
    }
    return d;
}

static void free_data(data *d)
{
    ckeras_tensor_free(d->xa);
    ckeras_tensor_free(d->xb);
    ckeras_tensor_free(d->yc);
    ckeras_tensor_free(d->yr);
}

/* Rows [from, from + n) of t, a new tensor. */
static ckeras_tensor *rows_of(ckeras_tensor *t, int64_t from, int64_t n)
{
    int nd = ckeras_tensor_ndim(t);
    int64_t shape[CKERAS_MAX_DIMS], per = 1;
    for (int a = 0; a < nd; a++)
        shape[a] = ckeras_tensor_dim(t, a);
    for (int a = 1; a < nd; a++)
        per *= shape[a];
    shape[0] = n;
    ckeras_tensor *r = ckeras_tensor_copy(ckeras_tensor_data(t) + from * per, nd, shape);
    ck_assert_ptr_nonnull(r);
    return r;
}

static data slice(const data *d, int64_t from, int64_t n)
{
    data s = {rows_of(d->xa, from, n), rows_of(d->xb, from, n), rows_of(d->yc, from, n), rows_of(d->yr, from, n)};
    return s;
}

#define XS(d) ((const ckeras_tensor *const[]){(d).xa, (d).xb})
#define YS(d) ((const ckeras_tensor *const[]){(d).yc, (d).yr})

/* ---- the values computed here ------------------------------------------------------------ */

/* What Keras reports for the two-output model, from its predictions: the mean of -log p[y]
 * (clipped at 1e-7 as Keras clips), the mean squared error, the weighted total, the fraction of
 * argmax == y and the mean absolute error. */
typedef struct expected {
    double loss, cls_loss, reg_loss, acc, mae;
} expected;

static expected expect(ckeras_model *m, const data *d, double w_cls, double w_reg)
{
    ckeras_tensor *outs[2] = {NULL, NULL};
    ck_assert_int_eq(ckeras_model_predict_outputs(m, 2, XS(*d), 0, 2, outs), CKERAS_OK);
    int64_t n = ckeras_tensor_dim(d->xa, 0);
    ck_assert_int_eq(ckeras_tensor_dim(outs[0], 0), n);
    ck_assert_int_eq(ckeras_tensor_dim(outs[0], 1), 3);
    ck_assert_int_eq(ckeras_tensor_dim(outs[1], 1), 1);
    const float *p = ckeras_tensor_data(outs[0]), *r = ckeras_tensor_data(outs[1]);
    const float *yc = ckeras_tensor_data(d->yc), *yr = ckeras_tensor_data(d->yr);
    expected e = {0};
    for (int64_t i = 0; i < n; i++) {
        int y = (int)yc[i];
        double q = p[i * 3 + y];
        q = q < 1e-7 ? 1e-7 : q > 1 - 1e-7 ? 1 - 1e-7 : q;
        e.cls_loss -= log(q);
        int best = 0;
        for (int k = 1; k < 3; k++)
            if (p[i * 3 + k] > p[i * 3 + best])
                best = k;
        e.acc += best == y;
        double diff = (double)r[i] - yr[i];
        e.reg_loss += diff * diff;
        e.mae += fabs(diff);
    }
    e.cls_loss /= (double)n;
    e.reg_loss /= (double)n;
    e.acc /= (double)n;
    e.mae /= (double)n;
    e.loss = w_cls * e.cls_loss + w_reg * e.reg_loss;
    ckeras_tensor_free(outs[0]);
    ckeras_tensor_free(outs[1]);
    return e;
}

static void assert_near(double got, double want, double tol, const char *what)
{
    ck_assert_msg(fabs(got - want) <= tol * (1 + fabs(want)), "%s: %.9g, expected %.9g", what, got, want);
}

/* results of evaluate (loss, cls_loss, reg_loss, cls_accuracy, reg_mae) against e */
static void assert_results(const double *r, const expected *e, double tol, const char *what)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s: loss", what);
    assert_near(r[0], e->loss, tol, buf);
    snprintf(buf, sizeof buf, "%s: cls_loss", what);
    assert_near(r[1], e->cls_loss, tol, buf);
    snprintf(buf, sizeof buf, "%s: reg_loss", what);
    assert_near(r[2], e->reg_loss, tol, buf);
    snprintf(buf, sizeof buf, "%s: cls_accuracy", what);
    assert_near(r[3], e->acc, tol, buf);
    snprintf(buf, sizeof buf, "%s: reg_mae", what);
    assert_near(r[4], e->mae, tol, buf);
}

static const char *const KERAS_NAMES[5] = {"loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"};

static void assert_names(ckeras_model *m, const char *const *names, int n)
{
    ck_assert_int_eq(ckeras_model_metrics_count(m), n);
    for (int i = 0; i < n; i++) {
        const char *got = ckeras_model_metrics_name(m, i);
        ck_assert_msg(got && strcmp(got, names[i]) == 0, "metrics name %d: '%s', expected '%s'", i,
                      got ? got : "(null)", names[i]);
    }
    ck_assert_ptr_null(ckeras_model_metrics_name(m, n));
}

/* A copy of every weight of a layer. */
static float *layer_copy(ckeras_model *m, const char *layer, int i, int64_t *size)
{
    ckeras_layer *l = ckeras_model_layer_by_name(m, layer);
    ck_assert_ptr_nonnull(l);
    const char *name;
    ckeras_tensor *v = NULL;
    ck_assert_int_eq(ckeras_layer_weight(l, i, &name, &v), CKERAS_OK);
    *size = ckeras_tensor_size(v);
    float *c = malloc((size_t)*size * sizeof(float));
    memcpy(c, ckeras_tensor_data(v), (size_t)*size * sizeof(float));
    ckeras_tensor_free(v);
    return c;
}

/* ---- evaluate ----------------------------------------------------------------------------- */

START_TEST(evaluate_matches_losses_computed_from_predictions)
{
    ckeras_model *m = two_io("relu");
    compile_two(m, 0.01);
    assert_names(m, KERAS_NAMES, 5);
    data d = make_data(N, 7);
    expected e = expect(m, &d, 1.0, 0.5);
    ck_assert(e.cls_loss > 0.1 && e.reg_loss > 0.01);
    double r[5];
    /* batch 7 leaves a short last batch: the means are per sample */
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, YS(d), 7, r, 5), CKERAS_OK);
    assert_results(r, &e, 1e-5, "evaluate batch 7");
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, YS(d), 0, r, 5), CKERAS_OK);
    assert_results(r, &e, 1e-5, "evaluate batch 32");
    /* fewer slots than values: only those are written */
    double two[3] = {-1, -1, -1};
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, YS(d), 0, two, 2), CKERAS_OK);
    assert_near(two[0], e.loss, 1e-5, "evaluate (2 slots): loss");
    assert_near(two[1], e.cls_loss, 1e-5, "evaluate (2 slots): cls_loss");
    ck_assert(two[2] == -1);
    /* names after a run are still Keras' */
    assert_names(m, KERAS_NAMES, 5);
    free_data(&d);
    ckeras_model_free(m);
}
END_TEST

/* ---- fit ---------------------------------------------------------------------------------- */

static void assert_keys(const ckeras_history *h, const char *const *keys, int n)
{
    ck_assert_int_eq(ckeras_history_key_count(h), n);
    for (int i = 0; i < n; i++) {
        const double *v;
        int ne;
        ck_assert_msg(ckeras_history_values(h, keys[i], &v, &ne) == CKERAS_OK, "History has no key '%s'", keys[i]);
    }
}

/* Measured: Keras 3.11.3, this model, compile(loss={...}, metrics={"cls": ["accuracy"],
 * "reg": ["mae"]}), fit(validation_split=0.2): list(history.history). */
static const char *const KERAS_KEYS[10] = {"cls_accuracy", "cls_loss", "loss", "reg_loss", "reg_mae",
                                           "val_cls_accuracy", "val_cls_loss", "val_loss", "val_reg_loss",
                                           "val_reg_mae"};

static double last(const ckeras_history *h, const char *key)
{
    const double *v;
    int n;
    ck_assert_msg(ckeras_history_values(h, key, &v, &n) == CKERAS_OK, "no key %s", key);
    return v[n - 1];
}

START_TEST(fit_validation_split_cuts_every_tensor)
{
    ckeras_model *m = two_io("relu");
    compile_two(m, 0.05);
    data d = make_data(N, 11);
    ckeras_fit_args *a = ckeras_fit_args_new();
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "epochs", 3), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "batch_size", 5), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "verbose", 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_float(a, "validation_split", 0.2), CKERAS_OK);
    ckeras_history *h = NULL;
    ck_assert_int_eq(ckeras_model_fit_multi(m, 2, XS(d), 2, YS(d), a, &h), CKERAS_OK);
    ck_assert_int_eq(ckeras_history_epochs(h), 3);
    assert_keys(h, KERAS_KEYS, 10);
    for (int i = 0; i < 10; i++) /* and in Keras' order (list(history.history), measured) */
        ck_assert_str_eq(ckeras_history_key(h, i), KERAS_KEYS[i]);
    /* the validation set is the last 4 samples of every tensor; the weights after fit are
     * those the last validation pass used */
    data v = slice(&d, N - 4, 4);
    expected e = expect(m, &v, 1.0, 0.5);
    assert_near(last(h, "val_loss"), e.loss, 1e-5, "val_loss");
    assert_near(last(h, "val_cls_loss"), e.cls_loss, 1e-5, "val_cls_loss");
    assert_near(last(h, "val_reg_loss"), e.reg_loss, 1e-5, "val_reg_loss");
    assert_near(last(h, "val_cls_accuracy"), e.acc, 1e-6, "val_cls_accuracy");
    assert_near(last(h, "val_reg_mae"), e.mae, 1e-5, "val_reg_mae");
    double r[5];
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(v), 2, YS(v), 0, r, 5), CKERAS_OK);
    assert_near(last(h, "val_loss"), r[0], 1e-6, "val_loss vs evaluate_multi");
    /* the training logs: the total is the weighted sum of the outputs' running means */
    assert_near(last(h, "loss"), last(h, "cls_loss") + 0.5 * last(h, "reg_loss"), 1e-5, "loss = cls + 0.5 reg");
    assert_near(last(h, "val_loss"), last(h, "val_cls_loss") + 0.5 * last(h, "val_reg_loss"), 1e-5,
                "val_loss = cls + 0.5 reg");
    ckeras_history_free(h);
    /* a validation set of other samples than the last: the result differs (the cut is not the
     * first 20 %) */
    data f = slice(&d, 0, 4);
    expected ef = expect(m, &f, 1.0, 0.5);
    ck_assert(fabs(ef.loss - e.loss) > 1e-4);
    /* EarlyStopping on per-output keys: the direction of "auto" is found (accuracy: max, a loss:
     * min), as Keras finds it among the compiled metrics */
    const char *monitors[3] = {"val_cls_accuracy", "val_reg_loss", "reg_mae"};
    for (int i = 0; i < 3; i++) {
        ckeras_callback *es = ckeras_early_stopping(monitors[i], 100);
        ckeras_fit_args *b = ckeras_fit_args_new();
        ck_assert_int_eq(ckeras_fit_args_set_int(b, "verbose", 0), CKERAS_OK);
        ck_assert_int_eq(ckeras_fit_args_set_float(b, "validation_split", 0.2), CKERAS_OK);
        ck_assert_int_eq(ckeras_fit_args_add_callback(b, es), CKERAS_OK);
        ck_assert_msg(ckeras_model_fit_multi(m, 2, XS(d), 2, YS(d), b, NULL) == CKERAS_OK, "monitor %s: %s",
                      monitors[i], ckeras_last_error());
        ckeras_fit_args_free(b);
        ckeras_callback_free(es);
    }
    free_data(&f);
    free_data(&v);
    free_data(&d);
    ckeras_fit_args_free(a);
    ckeras_model_free(m);
}
END_TEST

START_TEST(fit_validation_data_multi)
{
    ckeras_model *m = two_io("relu");
    compile_two(m, 0.05);
    data d = make_data(16, 3), v = make_data(6, 99);
    ckeras_fit_args *a = ckeras_fit_args_new();
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "epochs", 2), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "batch_size", 4), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "verbose", 0), CKERAS_OK);
    /* a validation_split beside validation_data is ignored, as in Keras */
    ck_assert_int_eq(ckeras_fit_args_set_float(a, "validation_split", 0.5), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_validation_data_multi(a, 2, XS(v), 2, YS(v)), CKERAS_OK);
    ckeras_history *h = NULL;
    ck_assert_int_eq(ckeras_model_fit_multi(m, 2, XS(d), 2, YS(d), a, &h), CKERAS_OK);
    assert_keys(h, KERAS_KEYS, 10);
    expected e = expect(m, &v, 1.0, 0.5);
    assert_near(last(h, "val_loss"), e.loss, 1e-5, "val_loss");
    assert_near(last(h, "val_cls_loss"), e.cls_loss, 1e-5, "val_cls_loss");
    assert_near(last(h, "val_reg_loss"), e.reg_loss, 1e-5, "val_reg_loss");
    assert_near(last(h, "val_cls_accuracy"), e.acc, 1e-6, "val_cls_accuracy");
    assert_near(last(h, "val_reg_mae"), e.mae, 1e-5, "val_reg_mae");
    ckeras_history_free(h);
    /* wrong validation data: counts and shapes are checked before training */
    ck_assert_int_eq(ckeras_fit_args_set_validation_data_multi(a, 2, XS(v), 1, YS(v)), CKERAS_OK);
    h = NULL;
    ck_assert_int_eq(ckeras_model_fit_multi(m, 2, XS(d), 2, YS(d), a, &h), CKERAS_EINVAL);
    ck_assert_ptr_null(h);
    ck_assert_int_eq(ckeras_fit_args_set_validation_data_multi(a, 2, (const ckeras_tensor *const[]){v.xa, v.xa},
                                                               2, YS(v)),
                     CKERAS_OK);
    ck_assert_int_eq(ckeras_model_fit_multi(m, 2, XS(d), 2, YS(d), a, &h), CKERAS_ESHAPE);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "validation"));
    /* cleared with 0, 0: no val_ keys */
    ck_assert_int_eq(ckeras_fit_args_set_validation_data_multi(a, 0, NULL, 0, NULL), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_float(a, "validation_split", 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_fit_multi(m, 2, XS(d), 2, YS(d), a, &h), CKERAS_OK);
    assert_keys(h, KERAS_KEYS, 5);
    ckeras_history_free(h);
    free_data(&d);
    free_data(&v);
    ckeras_fit_args_free(a);
    ckeras_model_free(m);
}
END_TEST

/* ---- compile variants ----------------------------------------------------------------------- */

START_TEST(compile_by_position_and_by_name_in_another_order)
{
    data d = make_data(N, 5);
    double r1[5], r2[5];
    ckeras_model *m = two_io("relu");
    /* by position */
    ck_assert_int_eq(ckeras_model_compile_outputs(m, NULL, 2, NULL, LOSSES, WEIGHTS, METRICS), CKERAS_OK);
    assert_names(m, KERAS_NAMES, 5);
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, YS(d), 0, r1, 5), CKERAS_OK);
    expected e = expect(m, &d, 1.0, 0.5);
    assert_results(r1, &e, 1e-5, "by position");
    /* by name, reg first: the same losses; Keras orders results by output (measured: evaluate
     * gives loss, cls_loss, reg_loss, cls_accuracy, reg_mae for dicts in either order) */
    ck_assert_int_eq(ckeras_model_compile_outputs(m, NULL, 2, (const char *const[]){"reg", "cls"},
                                                  (const char *const[]){"mean_squared_error",
                                                                        "sparse_categorical_crossentropy"},
                                                  (const double[]){0.5, 1.0},
                                                  (const char *const[]){"mae", "accuracy"}),
                     CKERAS_OK);
    assert_names(m, KERAS_NAMES, 5);
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, YS(d), 0, r2, 5), CKERAS_OK);
    assert_results(r2, &e, 1e-5, "by name, reg first");
    /* other weights: the total follows them */
    ck_assert_int_eq(ckeras_model_compile_outputs(m, NULL, 2, (const char *const[]){"reg", "cls"},
                                                  (const char *const[]){"mse", "sparse_categorical_crossentropy"},
                                                  (const double[]){2.0, 0.0}, NULL),
                     CKERAS_OK);
    assert_names(m, KERAS_NAMES, 3);
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, YS(d), 0, r2, 3), CKERAS_OK);
    assert_near(r2[0], 2.0 * e.reg_loss, 1e-5, "loss with weights reg 2, cls 0");
    assert_near(r2[1], e.cls_loss, 1e-5, "cls_loss with weight 0");
    assert_near(r2[2], e.reg_loss, 1e-5, "reg_loss with weight 2");
    free_data(&d);
    ckeras_model_free(m);
}
END_TEST

START_TEST(output_without_loss_is_not_trained)
{
    ckeras_model *m = two_io("relu");
    ck_assert_int_eq(ckeras_model_compile_outputs(m, ckeras_sgd(0.1, 0, 0), 1, (const char *const[]){"cls"},
                                                  (const char *const[]){"sparse_categorical_crossentropy"}, NULL,
                                                  (const char *const[]){"accuracy"}),
                     CKERAS_OK);
    /* Keras 3 gives each output's loss only when more than one output has a loss (measured:
     * loss={"cls": None, "reg": "mse"} evaluates to "loss", "reg_mae") */
    assert_names(m, (const char *const[]){"loss", "cls_accuracy"}, 2);
    data d = make_data(N, 8);
    int64_t nk, nb, nh;
    float *k0 = layer_copy(m, "reg", 0, &nk), *b0 = layer_copy(m, "reg", 1, &nb), *h0 = layer_copy(m, "h", 0, &nh);
    ckeras_fit_args *a = ckeras_fit_args_new();
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "epochs", 2), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "batch_size", 8), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "verbose", 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_float(a, "validation_split", 0.2), CKERAS_OK);
    ckeras_history *h = NULL;
    /* the target of the output without a loss may be NULL */
    ck_assert_int_eq(ckeras_model_fit_multi(m, 2, XS(d), 2, (const ckeras_tensor *const[]){d.yc, NULL}, a, &h),
                     CKERAS_OK);
    assert_keys(h, (const char *const[]){"cls_accuracy", "loss", "val_cls_accuracy", "val_loss"}, 4);
    ckeras_history_free(h);
    int64_t n1;
    float *k1 = layer_copy(m, "reg", 0, &n1), *b1 = layer_copy(m, "reg", 1, &n1), *h1 = layer_copy(m, "h", 0, &n1);
    ck_assert(memcmp(k0, k1, (size_t)nk * sizeof(float)) == 0);
    ck_assert(memcmp(b0, b1, (size_t)nb * sizeof(float)) == 0);
    ck_assert(memcmp(h0, h1, (size_t)nh * sizeof(float)) != 0); /* the shared layer trains */
    /* evaluate: the total is the cls loss alone; a given target of reg is ignored */
    double r[2];
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, (const ckeras_tensor *const[]){d.yc, NULL}, 0, r, 2),
                     CKERAS_OK);
    expected e = expect(m, &d, 1.0, 0.0);
    assert_near(r[0], e.cls_loss, 1e-5, "loss");
    assert_near(r[1], e.acc, 1e-6, "cls_accuracy");
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, YS(d), 0, r, 2), CKERAS_OK);
    assert_near(r[0], e.cls_loss, 1e-5, "loss (reg target given)");
    /* train_on_batch does not move reg either */
    ck_assert_int_eq(ckeras_model_train_on_batch_multi(m, 2, XS(d), 2, (const ckeras_tensor *const[]){d.yc, NULL},
                                                       NULL, 0),
                     CKERAS_OK);
    free(k1);
    k1 = layer_copy(m, "reg", 0, &n1);
    ck_assert(memcmp(k0, k1, (size_t)nk * sizeof(float)) == 0);
    free(k0);
    free(b0);
    free(h0);
    free(k1);
    free(b1);
    free(h1);
    free_data(&d);
    ckeras_fit_args_free(a);
    ckeras_model_free(m);
}
END_TEST

START_TEST(one_loss_name_for_every_output)
{
    ckeras_model *m = two_io("relu");
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.01, 0, 0), "mse", "mae"), CKERAS_OK);
    assert_names(m, (const char *const[]){"loss", "cls_loss", "reg_loss", "cls_mae", "reg_mae"}, 5);
    data d = make_data(N, 4);
    /* mse on cls needs a (N, 3) target */
    ckeras_tensor *yc3 = ckeras_tensor_new(2, (const int64_t[]){N, 3});
    for (int i = 0; i < N; i++)
        ckeras_tensor_data(yc3)[i * 3 + (int)ckeras_tensor_data(d.yc)[i]] = 1;
    double r[5];
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, YS(d), 0, r, 5), CKERAS_ESHAPE);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "cls"));
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, (const ckeras_tensor *const[]){yc3, d.yr}, 0, r, 5),
                     CKERAS_OK);
    ckeras_tensor *outs[2];
    ck_assert_int_eq(ckeras_model_predict_outputs(m, 2, XS(d), 0, 2, outs), CKERAS_OK);
    double se0 = 0, ae0 = 0, se1 = 0, ae1 = 0;
    for (int i = 0; i < N * 3; i++) {
        double e = (double)ckeras_tensor_data(outs[0])[i] - ckeras_tensor_data(yc3)[i];
        se0 += e * e;
        ae0 += fabs(e);
    }
    for (int i = 0; i < N; i++) {
        double e = (double)ckeras_tensor_data(outs[1])[i] - ckeras_tensor_data(d.yr)[i];
        se1 += e * e;
        ae1 += fabs(e);
    }
    assert_near(r[1], se0 / (N * 3), 1e-5, "cls_loss (mse)");
    assert_near(r[2], se1 / N, 1e-5, "reg_loss");
    assert_near(r[0], se0 / (N * 3) + se1 / N, 1e-5, "loss");
    assert_near(r[3], ae0 / (N * 3), 1e-5, "cls_mae");
    assert_near(r[4], ae1 / N, 1e-5, "reg_mae");
    ckeras_fit_args *a = ckeras_fit_args_new();
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "verbose", 0), CKERAS_OK);
    ckeras_history *h = NULL;
    ck_assert_int_eq(ckeras_model_fit_multi(m, 2, XS(d), 2, (const ckeras_tensor *const[]){yc3, d.yr}, a, &h),
                     CKERAS_OK);
    assert_keys(h, (const char *const[]){"loss", "cls_loss", "reg_loss", "cls_mae", "reg_mae"}, 5);
    ckeras_history_free(h);
    ckeras_fit_args_free(a);
    ckeras_tensor_free(outs[0]);
    ckeras_tensor_free(outs[1]);
    ckeras_tensor_free(yc3);
    free_data(&d);
    ckeras_model_free(m);
}
END_TEST

/* ---- gradients ---------------------------------------------------------------------------- */

/* Weighted total loss of the current weights on the inputs and targets already in the plan
 * (forward only); with grads, the analytic gradient of it lands in m->grads. */
static double total_loss(ckeras_model *m, int64_t n, bool grads)
{
    ck_plan *p = &m->plan;
    ck_graph_forward(&m->g, p, n, true, &m->rng);
    double total = 0;
    for (int k = 0; k < m->g.noutputs; k++) {
        int node = m->g.outputs[k];
        const ck_shape *os = &m->g.nodes[node].layer->out_shape;
        int64_t cols = os->d[os->ndim - 1], rows = n * ck_shape_size(os) / cols;
        float *g = grads ? p->dact[node] : NULL;
        if (!m->has_loss[k]) {
            if (g)
                memset(g, 0, (size_t)(n * ck_shape_size(os)) * sizeof(float));
            continue;
        }
        double w = m->loss_weight[k];
        total += w * ck_loss_compute(&m->loss[k], p->y_true[k], p->act[node], rows, cols, g,
                                     (float)(w / (double)rows), NULL) / (double)rows;
    }
    if (grads)
        ck_graph_backward(&m->g, p, n);
    return total;
}

/* Fills the plan with inputs and targets (class indices for sparse losses, else values). */
static void fill_plan(ckeras_model *m, int64_t n, const int64_t *ts)
{
    ck_assert_int_eq(ck_plan_ensure(&m->plan, &m->g, n, true, ts), CKERAS_OK);
    memcpy(m->target_size, ts, (size_t)m->g.noutputs * sizeof(int64_t));
    uint32_t s = 77;
    for (int j = 0; j < m->g.ninputs; j++)
        for (int64_t i = 0; i < n * ck_shape_size(&m->g.inputs[j]); i++)
            m->plan.x[j][i] = lcg(&s);
    for (int k = 0; k < m->g.noutputs; k++) {
        const ck_shape *os = &m->g.nodes[m->g.outputs[k]].layer->out_shape;
        int64_t cols = os->d[os->ndim - 1];
        for (int64_t i = 0; i < n * ts[k]; i++) {
            if (m->loss[k].kind == CK_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)
                m->plan.y_true[k][i] = (float)(i % cols);
            else if (m->loss[k].kind == CK_LOSS_CATEGORICAL_CROSSENTROPY)
                m->plan.y_true[k][i] = (float)((i % cols) == (i / cols) % cols);
            else if (m->loss[k].kind == CK_LOSS_BINARY_CROSSENTROPY)
                m->plan.y_true[k][i] = (float)(i % 2);
            else
                m->plan.y_true[k][i] = lcg(&s);
        }
    }
}

static void gradcheck(ckeras_model *m, int64_t n, const int64_t *ts, const char *what)
{
    fill_plan(m, n, ts);
    total_loss(m, n, true);
    float *g = malloc(m->n_params * sizeof(float));
    memcpy(g, m->grads, m->n_params * sizeof(float));
    double gmax = 0;
    for (size_t i = 0; i < m->n_params; i++) {
        float keep = m->params[i];
        const float hh = 1e-2f;
        m->params[i] = keep + hh;
        double lp = total_loss(m, n, false);
        m->params[i] = keep - hh;
        double lm = total_loss(m, n, false);
        m->params[i] = keep;
        double num = (lp - lm) / (2.0 * hh);
        gmax = fmax(gmax, fabs(num));
        ck_assert_msg(fabs(num - g[i]) <= 2e-3 + 2e-2 * fabs(num), "%s: d/dparam[%zu] = %g, numeric %g", what, i,
                      (double)g[i], num);
    }
    ck_assert_msg(gmax > 1e-3, "%s: the gradient is zero", what);
    free(g);
}

START_TEST(gradients_through_several_outputs)
{
    /* the two-output model (tanh hidden: no kinks for the differences), weights 1 and 0.5 */
    ckeras_model *m = two_io("tanh");
    compile_two(m, 0);
    gradcheck(m, 5, (const int64_t[]){1, 1}, "cls + 0.5 reg");
    ckeras_model_free(m);

    /* outputs that are read by other layers: o1 = Dense(h) is an output and the input of
     * o2 = Dense(o1); o3 = Dense(concat(o1, o2)) */
    ckeras_set_random_seed(3);
    m = ckeras_functional("chain");
    int x = id_input(m, ckeras_input(1, (const int64_t[]){3}));
    int h = id_call(m, named(ckeras_dense(4, "tanh"), "h"), 1, &x);
    int o1 = id_call(m, named(ckeras_dense(3, "softmax"), "o1"), 1, &h);
    int o2 = id_call(m, named(ckeras_dense(2, "tanh"), "o2"), 1, &o1);
    int c = id_call(m, ckeras_concatenate(-1), 2, (const int[]){o1, o2});
    int o3 = id_call(m, named(ckeras_dense(1, "sigmoid"), "o3"), 1, &c);
    ck_assert_int_ge(o3, 0);
    ck_assert_int_eq(ckeras_model_set_outputs(m, 3, (const int[]){o2, o1, o3}), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile_outputs(m, ckeras_sgd(0, 0, 0), 3, (const char *const[]){"o1", "o2", "o3"},
                                                  (const char *const[]){"categorical_crossentropy", "mse",
                                                                        "binary_crossentropy"},
                                                  (const double[]){0.7, 1.3, 0.4}, NULL),
                     CKERAS_OK);
    /* outputs in the model's order: o2 (2 values), o1 (3), o3 (1) */
    gradcheck(m, 4, (const int64_t[]){2, 3, 1}, "o2 <- o1 chain");
    /* o1 without a loss: its gradient comes only through o2 and o3 */
    ck_assert_int_eq(ckeras_model_compile_outputs(m, ckeras_sgd(0, 0, 0), 3, NULL,
                                                  (const char *const[]){"mse", NULL, "binary_crossentropy"},
                                                  (const double[]){1.0, 1.0, 2.0}, NULL),
                     CKERAS_OK);
    gradcheck(m, 4, (const int64_t[]){2, 0, 1}, "o1 without a loss");
    ckeras_model_free(m);
}
END_TEST

/* ---- train_on_batch ------------------------------------------------------------------------- */

static void expected_results(const expected *e, double *r)
{
    r[0] = e->loss;
    r[1] = e->cls_loss;
    r[2] = e->reg_loss;
    r[3] = e->acc;
    r[4] = e->mae;
}

START_TEST(train_on_batch_running_means)
{
    ckeras_model *m = two_io("relu");
    compile_two(m, 0.1);
    data d = make_data(N, 21);
    double r[5], want[5];
    /* Keras 3 (measured): train_on_batch reports the loss before the update, and running
     * means since the last evaluate or fit (whose state it continues) */
    expected e0 = expect(m, &d, 1.0, 0.5);
    ck_assert_int_eq(ckeras_model_train_on_batch_multi(m, 2, XS(d), 2, YS(d), r, 5), CKERAS_OK);
    assert_results(r, &e0, 1e-5, "first train_on_batch");
    expected e1 = expect(m, &d, 1.0, 0.5);
    ck_assert(fabs(e1.loss - e0.loss) > 1e-5); /* the step moved the weights */
    ck_assert_int_eq(ckeras_model_train_on_batch_multi(m, 2, XS(d), 2, YS(d), r, 5), CKERAS_OK);
    double w0[5], w1[5];
    expected_results(&e0, w0);
    expected_results(&e1, w1);
    for (int i = 0; i < 5; i++)
        want[i] = (w0[i] + w1[i]) / 2;
    for (int i = 0; i < 5; i++)
        assert_near(r[i], want[i], 1e-5, KERAS_NAMES[i]);
    /* after evaluate: evaluate's state goes on (the same weights: the same means) */
    expected e2 = expect(m, &d, 1.0, 0.5);
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, YS(d), 0, r, 5), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_train_on_batch_multi(m, 2, XS(d), 2, YS(d), r, 5), CKERAS_OK);
    assert_results(r, &e2, 1e-5, "train_on_batch after evaluate");
    /* after fit without validation: the last epoch's state goes on */
    ckeras_fit_args *a = ckeras_fit_args_new();
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "verbose", 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "batch_size", N), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "shuffle", 0), CKERAS_OK);
    expected e3 = expect(m, &d, 1.0, 0.5);
    ckeras_history *h = NULL;
    ck_assert_int_eq(ckeras_model_fit_multi(m, 2, XS(d), 2, YS(d), a, &h), CKERAS_OK);
    assert_near(last(h, "loss"), e3.loss, 1e-5, "fit loss (one full batch)");
    ckeras_history_free(h);
    expected e4 = expect(m, &d, 1.0, 0.5);
    ck_assert_int_eq(ckeras_model_train_on_batch_multi(m, 2, XS(d), 2, YS(d), r, 5), CKERAS_OK);
    expected_results(&e3, w0);
    expected_results(&e4, w1);
    for (int i = 0; i < 5; i++)
        assert_near(r[i], (w0[i] + w1[i]) / 2, 1e-5, KERAS_NAMES[i]);
    /* compile again: a fresh state */
    compile_two(m, 0.1);
    expected e5 = expect(m, &d, 1.0, 0.5);
    ck_assert_int_eq(ckeras_model_train_on_batch_multi(m, 2, XS(d), 2, YS(d), r, 5), CKERAS_OK);
    assert_results(r, &e5, 1e-5, "train_on_batch after compile");
    ckeras_fit_args_free(a);
    free_data(&d);
    ckeras_model_free(m);
}
END_TEST

/* ---- misuse ------------------------------------------------------------------------------- */

START_TEST(bad_arguments_give_clear_errors)
{
    ckeras_model *m = two_io("relu");
    data d = make_data(N, 2);
    double r[5];
    ckeras_tensor *outs[4] = {NULL, NULL, NULL, NULL};
    /* not compiled yet */
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, YS(d), 0, r, 5), CKERAS_ESTATE);
    /* compile_outputs */
    ck_assert_int_eq(ckeras_model_compile_outputs(m, NULL, 2, (const char *const[]){"cls", "nope"}, LOSSES, NULL,
                                                  NULL),
                     CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "nope"));
    ck_assert_int_eq(ckeras_model_compile_outputs(m, NULL, 2, (const char *const[]){"cls", "cls"}, LOSSES, NULL, NULL),
                     CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "twice"));
    ck_assert_int_eq(ckeras_model_compile_outputs(m, NULL, 2, NULL, LOSSES, (const double[]){1.0, -0.5}, NULL),
                     CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "reg"));
    ck_assert_int_eq(ckeras_model_compile_outputs(m, NULL, 2, NULL, LOSSES, (const double[]){NAN, 1.0}, NULL),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_compile_outputs(m, NULL, 2, NULL, (const char *const[]){NULL, NULL}, NULL, NULL),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_compile_outputs(m, NULL, 1, NULL, LOSSES, NULL, NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_compile_outputs(m, NULL, 3, NULL, (const char *const[]){"mse", "mse", "mse"}, NULL,
                                                  NULL),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_compile_outputs(m, NULL, 0, NULL, LOSSES, NULL, NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_compile_outputs(m, NULL, 2, NULL, NULL, NULL, NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_compile_outputs(m, NULL, 2, (const char *const[]){"cls", NULL}, LOSSES, NULL,
                                                  NULL),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_compile_outputs(m, NULL, 2, NULL, (const char *const[]){"mse", "no_such_loss"},
                                                  NULL, NULL),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_compile_outputs(m, NULL, 2, NULL, LOSSES, NULL,
                                                  (const char *const[]){"accuracy", "no_such_metric"}),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_compile_outputs(NULL, NULL, 2, NULL, LOSSES, NULL, NULL), CKERAS_EINVAL);
    /* failed compiles left it uncompiled */
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, YS(d), 0, r, 5), CKERAS_ESTATE);
    compile_two(m, 0.01);
    /* counts of x and y */
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 1, XS(d), 2, YS(d), 0, r, 5), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "2 inputs"));
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 3, (const ckeras_tensor *const[]){d.xa, d.xb, d.xb}, 2, YS(d), 0,
                                                 r, 5),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 1, YS(d), 0, r, 5), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "2 outputs"));
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 3, (const ckeras_tensor *const[]){d.yc, d.yr, d.yr}, 0,
                                                 r, 5),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_fit_multi(m, 2, XS(d), 1, YS(d), NULL, NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_train_on_batch_multi(m, 1, XS(d), 2, YS(d), r, 5), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 0, XS(d), 2, YS(d), 0, r, 5), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, -1, XS(d), 2, YS(d), 0, r, 5), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), -1, YS(d), 0, r, 5), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 1000, YS(d), 0, r, 5), CKERAS_EINVAL);
    /* the inputs swapped: shapes */
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, (const ckeras_tensor *const[]){d.xb, d.xa}, 2, YS(d), 0, r, 5),
                     CKERAS_ESHAPE);
    /* NULL arrays and entries */
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, NULL, 2, YS(d), 0, r, 5), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, NULL, 0, r, 5), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, (const ckeras_tensor *const[]){d.xa, NULL}, 2, YS(d), 0, r, 5),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, (const ckeras_tensor *const[]){d.yc, NULL}, 0, r, 5),
                     CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "reg"));
    ck_assert_int_eq(ckeras_model_evaluate_multi(NULL, 2, XS(d), 2, YS(d), 0, r, 5), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_fit_multi(m, 2, NULL, 2, YS(d), NULL, NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_train_on_batch_multi(m, 2, XS(d), 2, NULL, r, 5), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_predict_outputs(m, 2, XS(d), 0, 2, NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_predict_outputs(m, 2, NULL, 0, 2, outs), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_predict_outputs(m, 2, XS(d), 0, 1, outs), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_predict_outputs(m, 2, XS(d), 0, 3, outs), CKERAS_EINVAL);
    ck_assert_ptr_null(outs[0]);
    ck_assert_int_eq(ckeras_model_predict_outputs(m, 1, XS(d), 0, 2, outs), CKERAS_EINVAL);
    ck_assert_ptr_null(outs[0]);
    /* the one-output calls on this model */
    ckeras_tensor *y = NULL;
    ck_assert_int_eq(ckeras_model_predict_multi(m, 2, XS(d), 0, &y), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "predict_outputs"));
    ck_assert_int_eq(ckeras_model_predict(m, d.xa, 0, &y), CKERAS_EINVAL);
    ck_assert_ptr_null(y);
    ck_assert_int_ne(ckeras_model_evaluate(m, d.xa, d.yc, 0, r, 5), CKERAS_OK);
    ck_assert_int_ne(ckeras_model_fit(m, d.xa, d.yc, NULL, NULL), CKERAS_OK);
    ck_assert_int_ne(ckeras_model_train_on_batch(m, d.xa, d.yc, r, 5), CKERAS_OK);
    /* mismatched sample counts */
    data s = slice(&d, 0, N - 1);
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, (const ckeras_tensor *const[]){d.xa, s.xb}, 2, YS(d), 0, r, 5),
                     CKERAS_ESHAPE);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "samples"));
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, (const ckeras_tensor *const[]){d.yc, s.yr}, 0, r, 5),
                     CKERAS_ESHAPE);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "reg"));
    ck_assert_int_eq(ckeras_model_fit_multi(m, 2, XS(d), 2, (const ckeras_tensor *const[]){s.yc, d.yr}, NULL, NULL),
                     CKERAS_ESHAPE);
    ck_assert_int_eq(ckeras_model_train_on_batch_multi(m, 2, (const ckeras_tensor *const[]){s.xa, d.xb}, 2, YS(d), r,
                                                       5),
                     CKERAS_ESHAPE);
    /* wrong target shape: reg given (N, 3), cls given one-hot (sparse loss needs indices),
     * class index out of range */
    ckeras_tensor *wide = ckeras_tensor_new(2, (const int64_t[]){N, 3});
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, (const ckeras_tensor *const[]){d.yc, wide}, 0, r, 5),
                     CKERAS_ESHAPE);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "reg"));
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, (const ckeras_tensor *const[]){wide, d.yr}, 0, r, 5),
                     CKERAS_ESHAPE);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "cls"));
    ckeras_tensor *bad = rows_of(d.yc, 0, N);
    ckeras_tensor_data(bad)[3] = 3;
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, (const ckeras_tensor *const[]){bad, d.yr}, 0, r, 5),
                     CKERAS_EINVAL);
    ckeras_tensor_data(bad)[3] = NAN;
    ck_assert_int_eq(ckeras_model_fit_multi(m, 2, XS(d), 2, (const ckeras_tensor *const[]){bad, d.yr}, NULL, NULL),
                     CKERAS_ENAN);
    /* validation_data with the wrong counts */
    ckeras_fit_args *a = ckeras_fit_args_new();
    ck_assert_int_ne(ckeras_fit_args_set_validation_data_multi(a, 2, NULL, 2, YS(d)), CKERAS_OK);
    ck_assert_int_ne(ckeras_fit_args_set_validation_data_multi(a, 99, XS(d), 2, YS(d)), CKERAS_OK);
    ck_assert_int_ne(ckeras_fit_args_set_validation_data_multi(NULL, 2, XS(d), 2, YS(d)), CKERAS_OK);
    ckeras_fit_args_free(a);
    /* set_outputs misuse */
    ckeras_model *f = ckeras_functional("f");
    int x = id_input(f, ckeras_input(1, (const int64_t[]){2}));
    int h = id_call(f, ckeras_dense(2, NULL), 1, &x);
    ck_assert_int_eq(ckeras_model_compile_outputs(f, NULL, 1, NULL, LOSSES, NULL, NULL), CKERAS_ESTATE);
    ck_assert_int_ne(ckeras_model_set_outputs(f, 2, (const int[]){h, h}), CKERAS_OK);
    ck_assert_int_ne(ckeras_model_set_outputs(f, 0, (const int[]){h}), CKERAS_OK);
    ck_assert_int_ne(ckeras_model_set_outputs(f, 33, (const int[]){h}), CKERAS_OK);
    ck_assert_int_ne(ckeras_model_set_outputs(f, 1, (const int[]){h + 100}), CKERAS_OK);
    ck_assert_int_ne(ckeras_model_set_outputs(f, 1, NULL), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_output_count(f), 0);
    ck_assert_int_eq(ckeras_model_output_count(NULL), 0);
    ck_assert_ptr_null(ckeras_model_output_name(NULL, 0));
    ckeras_model_free(f);
    /* after all of it the model works */
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, YS(d), 0, r, 5), CKERAS_OK);
    ckeras_tensor_free(bad);
    ckeras_tensor_free(wide);
    free_data(&s);
    free_data(&d);
    ckeras_model_free(m);
}
END_TEST

/* Output names of the longest length (63) with long metric names: the keys are cut to the
 * logs' room (95 characters), nothing overflows, and fit, evaluate and save still work. */
START_TEST(long_output_and_metric_names)
{
    char n1[64], n2[64];
    memset(n1, 'c', 63);
    memset(n2, 'r', 63);
    n1[63] = n2[63] = '\0';
    ckeras_set_random_seed(1);
    ckeras_model *m = ckeras_functional("long");
    int x = id_input(m, ckeras_input(1, (const int64_t[]){4}));
    int h = id_call(m, ckeras_dense(4, "relu"), 1, &x);
    int o1 = id_call(m, named(ckeras_dense(5, "softmax"), n1), 1, &h);
    int o2 = id_call(m, named(ckeras_dense(1, NULL), n2), 1, &h);
    ck_assert_int_eq(ckeras_model_set_outputs(m, 2, (const int[]){o1, o2}), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile_outputs(m, NULL, 2, (const char *const[]){n2, n1},
                                                  (const char *const[]){"huber",
                                                                        "sparse_categorical_crossentropy"},
                                                  NULL,
                                                  (const char *const[]){"mae,mean_squared_error,mean_absolute_error",
                                                                        "sparse_categorical_accuracy,accuracy"}),
                     CKERAS_OK);
    int n = ckeras_model_metrics_count(m);
    ck_assert_int_eq(n, 8);
    for (int i = 0; i < n; i++)
        ck_assert(strlen(ckeras_model_metrics_name(m, i)) < 96);
    data d = make_data(N, 9);
    ckeras_tensor *y5 = rows_of(d.yc, 0, N);
    ckeras_fit_args *a = ckeras_fit_args_new();
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "verbose", 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_float(a, "validation_split", 0.3), CKERAS_OK);
    ckeras_history *hist = NULL;
    ck_assert_msg(ckeras_model_fit_multi(m, 1, (const ckeras_tensor *const[]){d.xa}, 2,
                                         (const ckeras_tensor *const[]){y5, d.yr}, a, &hist) == CKERAS_OK,
                  "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_history_key_count(hist), 2 * n);
    for (int i = 0; i < 2 * n; i++)
        ck_assert(strlen(ckeras_history_key(hist, i)) < 96);
    ckeras_history_free(hist);
    double r[8];
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 1, (const ckeras_tensor *const[]){d.xa}, 2,
                                                 (const ckeras_tensor *const[]){y5, d.yr}, 0, r, 8),
                     CKERAS_OK);
    const char *dir = tu_tmpdir_make("multi_io_long");
    (void)dir;
    ck_assert_int_eq(ckeras_model_save(m, tu_tmp("l.h5"), 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_save(m, tu_tmp("l.keras"), 0), CKERAS_OK);
    ckeras_model *l = NULL;
    ck_assert_msg(ckeras_load_model(tu_tmp("l.h5"), 0, &l) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_model_metrics_count(l), n);
    ckeras_model_free(l);
    ck_assert_msg(ckeras_load_model(tu_tmp("l.keras"), 0, &l) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_model_metrics_count(l), n);
    ckeras_model_free(l);
    tu_tmpdir_remove();
    ckeras_fit_args_free(a);
    ckeras_tensor_free(y5);
    free_data(&d);
    ckeras_model_free(m);
}
END_TEST

/* ---- save and load ------------------------------------------------------------------------ */

static void assert_same_tensor(ckeras_tensor *a, ckeras_tensor *b, const char *what)
{
    ck_assert_int_eq(ckeras_tensor_size(a), ckeras_tensor_size(b));
    tu_assert_close(ckeras_tensor_data(a), ckeras_tensor_data(b), (size_t)ckeras_tensor_size(a), 0, 0, what);
}

static void check_reload(ckeras_model *m, const data *d, const char *path, int flags)
{
    ck_assert_msg(ckeras_model_save(m, path, flags) == CKERAS_OK, "save %s: %s", path, ckeras_last_error());
    ckeras_model *l = NULL;
    ck_assert_msg(ckeras_load_model(path, 0, &l) == CKERAS_OK, "load %s: %s", path, ckeras_last_error());
    ck_assert_int_eq(ckeras_model_output_count(l), 2);
    ck_assert_str_eq(ckeras_model_output_name(l, 0), "cls");
    ck_assert_str_eq(ckeras_model_output_name(l, 1), "reg");
    ckeras_tensor *p[2], *q[2];
    ck_assert_int_eq(ckeras_model_predict_outputs(m, 2, XS(*d), 0, 2, p), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_predict_outputs(l, 2, XS(*d), 0, 2, q), CKERAS_OK);
    assert_same_tensor(p[0], q[0], path);
    assert_same_tensor(p[1], q[1], path);
    /* compile restored: names, weights (evaluate equal) */
    int n = ckeras_model_metrics_count(m);
    ck_assert_int_eq(ckeras_model_metrics_count(l), n);
    for (int i = 0; i < n; i++) {
        char a[64];
        snprintf(a, sizeof a, "%s", ckeras_model_metrics_name(m, i));
        ck_assert_str_eq(ckeras_model_metrics_name(l, i), a);
    }
    double r1[5], r2[5];
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(*d), 2, YS(*d), 0, r1, n), CKERAS_OK);
    ck_assert_msg(ckeras_model_evaluate_multi(l, 2, XS(*d), 2, YS(*d), 0, r2, n) == CKERAS_OK, "%s: %s", path,
                  ckeras_last_error());
    for (int i = 0; i < n; i++)
        assert_near(r2[i], r1[i], 1e-6, ckeras_model_metrics_name(m, i));
    for (int k = 0; k < 2; k++) {
        ckeras_tensor_free(p[k]);
        ckeras_tensor_free(q[k]);
    }
    ckeras_model_free(l);
}

START_TEST(save_and_load_restore_compile)
{
    tu_tmpdir_make("multi_io");
    ckeras_model *m = two_io("relu");
    compile_two(m, 0.05);
    data d = make_data(N, 12);
    double r[5];
    ck_assert_int_eq(ckeras_model_train_on_batch_multi(m, 2, XS(d), 2, YS(d), r, 5), CKERAS_OK);
    check_reload(m, &d, tu_tmp("m.h5"), 0);
    check_reload(m, &d, tu_tmp("m3.h5"), CKERAS_SAVE_KERAS3);
    check_reload(m, &d, tu_tmp("m.keras"), 0);
    check_reload(m, &d, tu_tmp("m_noopt.keras"), CKERAS_SAVE_NO_OPTIMIZER);
    /* compiled by name in another order, with a weight of 0 and no loss on reg */
    ck_assert_int_eq(ckeras_model_compile_outputs(m, NULL, 2, (const char *const[]){"reg", "cls"},
                                                  (const char *const[]){"mae", "sparse_categorical_crossentropy"},
                                                  (const double[]){0.25, 2.0},
                                                  (const char *const[]){"mse", "accuracy"}),
                     CKERAS_OK);
    check_reload(m, &d, tu_tmp("order.h5"), 0);
    check_reload(m, &d, tu_tmp("order.keras"), 0);
    /* one loss for both */
    ck_assert_int_eq(ckeras_model_compile(m, NULL, "mse", NULL), CKERAS_OK);
    ckeras_tensor *yc3 = ckeras_tensor_new(2, (const int64_t[]){N, 3});
    data d3 = {d.xa, d.xb, yc3, d.yr};
    check_reload(m, &d3, tu_tmp("one.h5"), 0);
    check_reload(m, &d3, tu_tmp("one.keras"), 0);
    ckeras_tensor_free(yc3);
    free_data(&d);
    ckeras_model_free(m);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(save_and_load_output_without_loss)
{
    tu_tmpdir_make("multi_io_none");
    ckeras_model *m = two_io("relu");
    ck_assert_int_eq(ckeras_model_compile_outputs(m, NULL, 2, NULL, (const char *const[]){NULL, "mse"}, NULL,
                                                  (const char *const[]){NULL, "mae"}),
                     CKERAS_OK);
    data d = make_data(N, 12);
    const char *paths[3] = {tu_tmp("none.h5"), tu_tmp("none3.h5"), tu_tmp("none.keras")};
    int flags[3] = {0, CKERAS_SAVE_KERAS3, 0};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(ckeras_model_save(m, paths[i], flags[i]), CKERAS_OK);
        ckeras_model *l = NULL;
        ck_assert_msg(ckeras_load_model(paths[i], 0, &l) == CKERAS_OK, "%s: %s", paths[i], ckeras_last_error());
        assert_names(l, (const char *const[]){"loss", "reg_mae"}, 2);
        double r1[2], r2[2];
        ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(d), 2, (const ckeras_tensor *const[]){NULL, d.yr}, 0, r1,
                                                     2),
                         CKERAS_OK);
        ck_assert_int_eq(ckeras_model_evaluate_multi(l, 2, XS(d), 2, (const ckeras_tensor *const[]){NULL, d.yr}, 0, r2,
                                                     2),
                         CKERAS_OK);
        for (int k = 0; k < 2; k++)
            assert_near(r2[k], r1[k], 1e-6, paths[i]);
        ckeras_model_free(l);
    }
    free_data(&d);
    ckeras_model_free(m);
    tu_tmpdir_remove();
}
END_TEST

/* ---- files Keras wrote ------------------------------------------------------------------------ */

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

/* tests/fixtures/multi_io/<name>.{h5,keras}: the model compiled by Keras 3.11.3 with dicts by
 * output name, lists by position, and a None loss (tests/ref/multi_io_ref.py). ckeras loads each
 * with its compile, predicts Keras' predictions and evaluates to Keras' evaluate, under the
 * names Keras gives. */
START_TEST(keras_written_files_load_with_compile)
{
    const char *cases[3] = {"dict", "list", "none"};
    const char *exts[2] = {"h5", "keras"};
    for (int c = 0; c < 3; c++) {
        char rel[64];
        snprintf(rel, sizeof rel, "multi_io/%s.json", cases[c]);
        json_t *root = tu_load_json(rel);
        ckeras_tensor *xa = tensor_from(root, "a"), *xb = tensor_from(root, "b");
        ckeras_tensor *yc = tensor_from(root, "yc"), *yr = tensor_from(root, "yr");
        ckeras_tensor *cls = tensor_from(root, "cls"), *reg = tensor_from(root, "reg");
        json_t *ev = tu_get(root, "evaluate"), *names = tu_get(root, "evaluate_names");
        for (int e = 0; e < 2; e++) {
            char path[128], what[160];
            snprintf(path, sizeof path, "tests/fixtures/multi_io/%s.%s", cases[c], exts[e]);
            ckeras_model *m = NULL;
            ck_assert_msg(ckeras_load_model(path, 0, &m) == CKERAS_OK, "%s: %s", path, ckeras_last_error());
            ck_assert_int_eq(ckeras_model_output_count(m), 2);
            ckeras_tensor *p[2];
            ck_assert_int_eq(ckeras_model_predict_outputs(m, 2, (const ckeras_tensor *const[]){xa, xb}, 0, 2, p),
                             CKERAS_OK);
            snprintf(what, sizeof what, "%s cls", path);
            tu_assert_close(ckeras_tensor_data(p[0]), ckeras_tensor_data(cls), (size_t)ckeras_tensor_size(cls), 1e-5,
                            0, what);
            snprintf(what, sizeof what, "%s reg", path);
            tu_assert_close(ckeras_tensor_data(p[1]), ckeras_tensor_data(reg), (size_t)ckeras_tensor_size(reg), 1e-5,
                            0, what);
            int n = ckeras_model_metrics_count(m);
            ck_assert_msg(n == (int)json_array_size(ev), "%s: %d results, Keras %zu", path, n, json_array_size(ev));
            double r[8];
            ck_assert_int_le(n, 8);
            ck_assert_msg(ckeras_model_evaluate_multi(m, 2, (const ckeras_tensor *const[]){xa, xb}, 2,
                                                      (const ckeras_tensor *const[]){yc, yr}, 0, r, n) == CKERAS_OK,
                          "%s: %s", path, ckeras_last_error());
            for (int i = 0; i < n; i++) {
                const char *nm = ckeras_model_metrics_name(m, i);
                bool known = false;
                for (size_t j = 0; j < json_array_size(names); j++)
                    known = known || strcmp(json_string_value(json_array_get(names, j)), nm) == 0;
                ck_assert_msg(known, "%s: result %d is '%s', not a name Keras gives", path, i, nm);
                snprintf(what, sizeof what, "%s: %s", path, nm);
                assert_near(r[i], tu_number(json_array_get(ev, (size_t)i)), 1e-5, what);
            }
            ckeras_tensor_free(p[0]);
            ckeras_tensor_free(p[1]);
            ckeras_model_free(m);
        }
        ckeras_tensor *all[6] = {xa, xb, yc, yr, cls, reg};
        for (int i = 0; i < 6; i++)
            ckeras_tensor_free(all[i]);
        json_decref(root);
    }
}
END_TEST

/* ---- real Keras loads the files (oracle) ---------------------------------------------------- */

static int run(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* What check_multi_io.py reads for model `stem`: its files in the three forms, its predictions
 * and its evaluate results by name. */
static void write_for_keras(ckeras_model *m, const data *d, const char *stem, const ckeras_tensor *const *y)
{
    char name[64];
    snprintf(name, sizeof name, "%s.h5", stem);
    ck_assert_int_eq(ckeras_model_save(m, tu_tmp(name), 0), CKERAS_OK);
    snprintf(name, sizeof name, "%s.k3.h5", stem);
    ck_assert_int_eq(ckeras_model_save(m, tu_tmp(name), CKERAS_SAVE_KERAS3), CKERAS_OK);
    snprintf(name, sizeof name, "%s.keras", stem);
    ck_assert_int_eq(ckeras_model_save(m, tu_tmp(name), 0), CKERAS_OK);
    ckeras_tensor *p[2];
    ck_assert_int_eq(ckeras_model_predict_outputs(m, 2, XS(*d), 0, 2, p), CKERAS_OK);
    for (int k = 0; k < 2; k++) {
        snprintf(name, sizeof name, "%s.%s.npy", stem, ckeras_model_output_name(m, k));
        ck_assert_int_eq(ckeras_write_npy(tu_tmp(name), p[k]), CKERAS_OK);
        ckeras_tensor_free(p[k]);
    }
    double r[8];
    int n = ckeras_model_metrics_count(m);
    ck_assert_int_le(n, 8);
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 2, XS(*d), 2, y, 0, r, n), CKERAS_OK);
    snprintf(name, sizeof name, "%s.evaluate.txt", stem);
    FILE *f = fopen(tu_tmp(name), "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s %.9g\n", ckeras_model_metrics_name(m, i), r[i]);
    fclose(f);
}

START_TEST(keras_loads_the_files_with_compile)
{
    const char *src = getenv("KERAS_ORACLE_SRC");
    if (!src || !*src) {
        printf("keras_loads_the_files_with_compile: KERAS_ORACLE_SRC is not set (no Keras oracle), skipped\n");
        return;
    }
    const char *dir = tu_tmpdir_make("multi_io_keras");
    data d = make_data(N, 13);
    ck_assert_int_eq(ckeras_write_npy(tu_tmp("a.npy"), d.xa), CKERAS_OK);
    ck_assert_int_eq(ckeras_write_npy(tu_tmp("b.npy"), d.xb), CKERAS_OK);
    ck_assert_int_eq(ckeras_write_npy(tu_tmp("yc.npy"), d.yc), CKERAS_OK);
    ck_assert_int_eq(ckeras_write_npy(tu_tmp("yr.npy"), d.yr), CKERAS_OK);
    /* a loss per output, loss weights, metrics per output, one training step */
    ckeras_model *m = two_io("relu");
    compile_two(m, 0.05);
    double r[5];
    ck_assert_int_eq(ckeras_model_train_on_batch_multi(m, 2, XS(d), 2, YS(d), r, 5), CKERAS_OK);
    write_for_keras(m, &d, "m", YS(d));
    /* no loss on cls (SGD without slots: Keras 3 restores no slot of the tf.keras 2 layout of an
     * .h5 and says so, for any model: tests/keras/README.md) */
    ck_assert_int_eq(ckeras_model_compile_outputs(m, ckeras_sgd(0.01, 0, 0), 2, NULL, (const char *const[]){NULL, "mse"}, NULL,
                                                  (const char *const[]){NULL, "mae"}),
                     CKERAS_OK);
    ck_assert_int_eq(ckeras_model_train_on_batch_multi(m, 2, XS(d), 2, (const ckeras_tensor *const[]){NULL, d.yr},
                                                       NULL, 0),
                     CKERAS_OK);
    write_for_keras(m, &d, "none", (const ckeras_tensor *const[]){NULL, d.yr});
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -W ignore tests/keras/check_multi_io.py '%s'", dir);
    int rc = run(cmd);
    ck_assert_msg(rc == 0, "tests/keras/check_multi_io.py failed (%d)", rc);
    free_data(&d);
    ckeras_model_free(m);
    tu_tmpdir_remove();
}
END_TEST

/* ---- .npz writing and the CLI ---------------------------------------------------------------- */

START_TEST(write_npz_round_trip_and_misuse)
{
    const char *dir = tu_tmpdir_make("multi_io_npz");
    data d = make_data(5, 31);
    const char *names[3] = {"first", "second one", "y"};
    const ckeras_tensor *arrays[3] = {d.xa, d.xb, d.yc};
    ck_assert_int_eq(ckeras_write_npz(tu_tmp("x.npz"), 3, names, arrays), CKERAS_OK);
    int count = 0;
    char **rn = NULL;
    ckeras_tensor **ra = NULL;
    ck_assert_int_eq(ckeras_read_npz(tu_tmp("x.npz"), &count, &rn, &ra), CKERAS_OK);
    ck_assert_int_eq(count, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(rn[i], names[i]);
        ck_assert_int_eq(ckeras_tensor_ndim(ra[i]), ckeras_tensor_ndim(arrays[i]));
        for (int a = 0; a < ckeras_tensor_ndim(ra[i]); a++)
            ck_assert_int_eq(ckeras_tensor_dim(ra[i], a), ckeras_tensor_dim(arrays[i], a));
        ck_assert(memcmp(ckeras_tensor_data(ra[i]), ckeras_tensor_data((ckeras_tensor *)arrays[i]),
                         (size_t)ckeras_tensor_size(ra[i]) * sizeof(float)) == 0);
    }
    ckeras_npz_free(count, rn, ra);
    /* misuse: nothing written, the file in place stays */
    ck_assert_int_eq(ckeras_write_npz(NULL, 3, names, arrays), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_write_npz(tu_tmp("x.npz"), 0, names, arrays), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_write_npz(tu_tmp("x.npz"), -1, names, arrays), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_write_npz(tu_tmp("x.npz"), 3, NULL, arrays), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_write_npz(tu_tmp("x.npz"), 3, names, NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_write_npz(tu_tmp("x.npz"), 2, (const char *const[]){"a", "a"}, arrays), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "twice"));
    ck_assert_int_eq(ckeras_write_npz(tu_tmp("x.npz"), 2, (const char *const[]){"a", NULL}, arrays), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_write_npz(tu_tmp("x.npz"), 2, (const char *const[]){"a", ""}, arrays), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_write_npz(tu_tmp("x.npz"), 2, (const char *const[]){"a", "../b"}, arrays), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_write_npz(tu_tmp("x.npz"), 2, names, (const ckeras_tensor *const[]){d.xa, NULL}),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_write_npz(tu_tmp("no/such/dir.npz"), 3, names, arrays), CKERAS_EIO);
    ck_assert_int_eq(ckeras_read_npz(tu_tmp("x.npz"), &count, &rn, &ra), CKERAS_OK);
    ck_assert_int_eq(count, 3);
    ckeras_npz_free(count, rn, ra);
    /* only x.npz: no temporary file left behind */
    ck_assert_int_eq(tu_count_entries(dir), 1);
    free_data(&d);
    tu_tmpdir_remove();
}
END_TEST

static int have_numpy(void)
{
    return run("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

/* ckeras evaluate with several inputs and outputs: X.npz by input_k, Y.npz by output name (in any
 * order), every value of evaluate printed against the values computed here from the predictions */
START_TEST(cli_evaluate_takes_npz_inputs_and_targets)
{
    if (run("test -x bin/ckeras") != 0) {
        printf("cli_evaluate_takes_npz_inputs_and_targets: bin/ckeras is not built (make all), skipped\n");
        return;
    }
    tu_tmpdir_make("multi_io_cli_eval");
    ckeras_model *m = two_io("relu");
    compile_two(m, 0.05);
    data d = make_data(9, 23);
    expected e = expect(m, &d, 1.0, 0.5);
    ck_assert_int_eq(ckeras_model_save(m, tu_tmp("m.h5"), 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_write_npz(tu_tmp("x.npz"), 2, (const char *const[]){"input_0", "input_1"}, XS(d)),
                     CKERAS_OK);
    /* targets by name, written in the other order */
    ck_assert_int_eq(ckeras_write_npz(tu_tmp("y.npz"), 2, (const char *const[]){"reg", "cls"},
                                      (const ckeras_tensor *const[]){d.yr, d.yc}),
                     CKERAS_OK);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "bin/ckeras evaluate '%s' '%s' '%s' 4 > '%s'", tu_tmp("m.h5"), tu_tmp("x.npz"),
             tu_tmp("y.npz"), tu_tmp("out.txt"));
    ck_assert_msg(run(cmd) == 0, "%s failed", cmd);
    FILE *f = fopen(tu_tmp("out.txt"), "r");
    ck_assert_ptr_nonnull(f);
    char name[64];
    double v, r[5];
    static const char *const want[5] = {"loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"};
    int n = 0;
    while (n < 5 && fscanf(f, "%63[^:]: %lf\n", name, &v) == 2) {
        ck_assert_str_eq(name, want[n]);
        r[n++] = v;
    }
    fclose(f);
    ck_assert_int_eq(n, 5);
    assert_results(r, &e, 2e-6, "cli evaluate");
    /* a .npy Y for a model with two outputs: a clear error */
    ck_assert_int_eq(ckeras_write_npy(tu_tmp("y.npy"), d.yr), CKERAS_OK);
    snprintf(cmd, sizeof cmd, "bin/ckeras evaluate '%s' '%s' '%s' 2>'%s'", tu_tmp("m.h5"), tu_tmp("x.npz"),
             tu_tmp("y.npy"), tu_tmp("err.txt"));
    ck_assert_int_ne(run(cmd), 0);
    f = fopen(tu_tmp("err.txt"), "r");
    ck_assert_ptr_nonnull(f);
    char err[1024] = "";
    size_t got = fread(err, 1, sizeof err - 1, f);
    err[got] = '\0';
    fclose(f);
    ck_assert_msg(strstr(err, "2 outputs") && strstr(err, ".npz"), "stderr: %s", err);
    free_data(&d);
    ckeras_model_free(m);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(cli_predict_writes_one_array_per_output)
{
    if (run("test -x bin/ckeras") != 0) {
        printf("cli_predict_writes_one_array_per_output: bin/ckeras is not built (make all), skipped\n");
        return;
    }
    const char *dir = tu_tmpdir_make("multi_io_cli");
    ckeras_model *m = two_io("relu");
    compile_two(m, 0.05);
    data d = make_data(7, 17);
    ck_assert_int_eq(ckeras_model_save(m, tu_tmp("m.h5"), 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_save(m, tu_tmp("m.keras"), 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_write_npz(tu_tmp("in.npz"), 2, (const char *const[]){"input_0", "input_1"}, XS(d)),
                     CKERAS_OK);
    ckeras_tensor *p[2];
    ck_assert_int_eq(ckeras_model_predict_outputs(m, 2, XS(d), 0, 2, p), CKERAS_OK);
    ck_assert_int_eq(ckeras_write_npy(tu_tmp("cls.npy"), p[0]), CKERAS_OK);
    ck_assert_int_eq(ckeras_write_npy(tu_tmp("reg.npy"), p[1]), CKERAS_OK);
    const char *models[2] = {"m.h5", "m.keras"};
    char cmd[4096], model[1024], out[1024];
    for (int i = 0; i < 2; i++) {
        snprintf(model, sizeof model, "%s", tu_tmp(models[i]));
        snprintf(out, sizeof out, "%s", tu_tmp("out.npz"));
        snprintf(cmd, sizeof cmd, "bin/ckeras predict '%s' '%s' '%s' 3", model, tu_tmp("in.npz"), out);
        ck_assert_msg(run(cmd) == 0, "%s failed", cmd);
        int count = 0;
        char **rn = NULL;
        ckeras_tensor **ra = NULL;
        ck_assert_int_eq(ckeras_read_npz(out, &count, &rn, &ra), CKERAS_OK);
        ck_assert_int_eq(count, 2);
        ck_assert_str_eq(rn[0], "cls");
        ck_assert_str_eq(rn[1], "reg");
        assert_same_tensor(ra[0], p[0], "cli cls");
        assert_same_tensor(ra[1], p[1], "cli reg");
        ckeras_npz_free(count, rn, ra);
        /* numpy reads it as numpy.savez writes it: keys by output name, stored members */
        if (have_numpy()) {
            snprintf(cmd, sizeof cmd,
                     "/usr/bin/python3 -c \"import sys, zipfile, numpy as np; d = sys.argv[1]; "
                     "z = np.load(d + '/out.npz'); "
                     "assert sorted(z.files) == ['cls', 'reg'], z.files; "
                     "assert all(i.compress_type == zipfile.ZIP_STORED for i in zipfile.ZipFile(d + '/out.npz').infolist()); "
                     "assert z['cls'].dtype == np.float32 and z['cls'].shape == (7, 3), z['cls'].shape; "
                     "assert z['reg'].shape == (7, 1), z['reg'].shape; "
                     "assert np.array_equal(z['cls'], np.load(d + '/cls.npy')); "
                     "assert np.array_equal(z['reg'], np.load(d + '/reg.npy'))\" '%s'",
                     dir);
            ck_assert_msg(run(cmd) == 0, "numpy does not read the .npz as expected (%s)", models[i]);
        } else if (i == 0) {
            printf("cli_predict_writes_one_array_per_output: no python3 with numpy, the numpy check skipped\n");
        }
    }
    /* a .npy OUT on a model with several outputs: a clear error, no file */
    snprintf(cmd, sizeof cmd, "bin/ckeras predict '%s' '%s' '%s' 2>'%s'", tu_tmp("m.h5"), tu_tmp("in.npz"),
             tu_tmp("out.npy"), tu_tmp("err.txt"));
    ck_assert_int_ne(run(cmd), 0);
    FILE *f = fopen(tu_tmp("err.txt"), "r");
    ck_assert_ptr_nonnull(f);
    char err[1024] = "";
    size_t got = fread(err, 1, sizeof err - 1, f);
    err[got] = '\0';
    fclose(f);
    ck_assert_msg(strstr(err, ".npz") && strstr(err, "2 outputs") && strstr(err, "cls"), "stderr: %s", err);
    f = fopen(tu_tmp("out.npy"), "r");
    ck_assert_ptr_null(f);
    /* a one-output model still writes .npy */
    ckeras_model *one = ckeras_sequential("one");
    ck_assert_int_eq(ckeras_model_add(one, ckeras_input(1, (const int64_t[]){4})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(one, ckeras_dense(2, NULL)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_save(one, tu_tmp("one.h5"), 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_write_npy(tu_tmp("a.npy"), d.xa), CKERAS_OK);
    snprintf(cmd, sizeof cmd, "bin/ckeras predict '%s' '%s' '%s'", tu_tmp("one.h5"), tu_tmp("a.npy"),
             tu_tmp("one.npy"));
    ck_assert_int_eq(run(cmd), 0);
    ckeras_tensor *y1 = NULL, *y2 = NULL;
    ck_assert_int_eq(ckeras_read_npy(tu_tmp("one.npy"), &y1), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_predict(one, d.xa, 0, &y2), CKERAS_OK);
    assert_same_tensor(y1, y2, "one output");
    ckeras_tensor_free(y1);
    ckeras_tensor_free(y2);
    ckeras_model_free(one);
    ckeras_tensor_free(p[0]);
    ckeras_tensor_free(p[1]);
    free_data(&d);
    ckeras_model_free(m);
    tu_tmpdir_remove();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("multi_io");
    TCase *tc = tcase_create("multi_io");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, evaluate_matches_losses_computed_from_predictions);
    tcase_add_test(tc, fit_validation_split_cuts_every_tensor);
    tcase_add_test(tc, fit_validation_data_multi);
    tcase_add_test(tc, compile_by_position_and_by_name_in_another_order);
    tcase_add_test(tc, output_without_loss_is_not_trained);
    tcase_add_test(tc, one_loss_name_for_every_output);
    tcase_add_test(tc, gradients_through_several_outputs);
    tcase_add_test(tc, train_on_batch_running_means);
    tcase_add_test(tc, bad_arguments_give_clear_errors);
    tcase_add_test(tc, long_output_and_metric_names);
    tcase_add_test(tc, save_and_load_restore_compile);
    tcase_add_test(tc, save_and_load_output_without_loss);
    tcase_add_test(tc, keras_written_files_load_with_compile);
    tcase_add_test(tc, keras_loads_the_files_with_compile);
    tcase_add_test(tc, write_npz_round_trip_and_misuse);
    tcase_add_test(tc, cli_predict_writes_one_array_per_output);
    tcase_add_test(tc, cli_evaluate_takes_npz_inputs_and_targets);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
