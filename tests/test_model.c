/* Models end to end: layers against Keras' numbers, whole-model gradients against finite
 * differences, fit semantics against Keras' traces, determinism, allocation-free steps,
 * API misuse. */
#include "model/model.h"
#include "kernels/kernels.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers -------------------------------------------------------------------------------- */

static ckeras_tensor *tensor_of(json_t *arr)
{
    int64_t shape[8];
    int nd = 0;
    size_t n;
    float *v = tu_floats(arr, &n, shape, &nd);
    ckeras_tensor *t = ckeras_tensor_copy(v, nd, shape);
    free(v);
    ck_assert_ptr_nonnull(t);
    return t;
}

static void set_weight(ckeras_layer *l, int i, json_t *value)
{
    size_t n;
    float *v = tu_floats(value, &n, NULL, NULL);
    ck_assert_int_eq((int64_t)n, l->w[i].size);
    memcpy(l->w[i].data, v, n * sizeof(float));
    free(v);
}

/* ---- layers against Keras 3 ---------------------------------------------------------------- */

START_TEST(dense_rank3_matches_keras)
{
    json_t *root = tu_load_json("keras3-traces/layers.json");
    json_t *c = tu_get(root, "cases/dense_rank3");
    ckeras_tensor *x = tensor_of(tu_get(root, "inputs/x_r3/value"));
    ckeras_model *m = ckeras_sequential(NULL);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(2, (const int64_t[]){3, 4})), CKERAS_OK);
    char *cfg = json_dumps(tu_get(c, "config"), 0);
    ckeras_layer *d = ckeras_layer_from_config("Dense", cfg);
    free(cfg);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(ckeras_model_add(m, d), CKERAS_OK);
    set_weight(d, 0, tu_get(c, "weights/0/value"));
    set_weight(d, 1, tu_get(c, "weights/1/value"));
    ckeras_tensor *y = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &y), CKERAS_OK);
    ck_assert_int_eq(ckeras_tensor_ndim(y), 3);
    ck_assert_int_eq(ckeras_tensor_dim(y, 2), 5);
    size_t n;
    float *want = tu_floats(tu_get(c, "output"), &n, NULL, NULL);
    ck_assert_int_eq((int64_t)n, ckeras_tensor_size(y));
    tu_assert_close(ckeras_tensor_data(y), want, n, 1e-6, 1e-6, "dense_rank3");
    free(want);
    ckeras_tensor_free(y);
    ckeras_tensor_free(x);
    ckeras_model_free(m);
    json_decref(root);
}
END_TEST

START_TEST(flatten_matches_keras)
{
    json_t *root = tu_load_json("keras3-traces/layers.json");
    ckeras_tensor *x = tensor_of(tu_get(root, "inputs/x_flat/value"));
    ckeras_model *m = ckeras_sequential(NULL);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(3, (const int64_t[]){3, 2, 2})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_flatten()), CKERAS_OK);
    ckeras_tensor *y = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &y), CKERAS_OK);
    ck_assert_int_eq(ckeras_tensor_dim(y, 1), 12);
    size_t n;
    float *want = tu_floats(tu_get(root, "cases/flatten/output"), &n, NULL, NULL);
    tu_assert_close(ckeras_tensor_data(y), want, n, 0, 0, "flatten");
    free(want);
    ckeras_tensor_free(y);
    ckeras_tensor_free(x);
    ckeras_model_free(m);
    json_decref(root);
}
END_TEST

/* Dropout: identity in inference; in training each value is 0 or x/(1-rate), and about rate of
 * them are dropped. */
START_TEST(dropout_training_and_inference)
{
    ckeras_layer *l = ckeras_dropout(0.25);
    ck_assert_int_eq(ck_layer_build(l, &(ck_shape){1, {1000}}), CKERAS_OK);
    float *x = malloc(4000 * sizeof(float)), *y = malloc(4000 * sizeof(float)), *mask = malloc(4000 * sizeof(float));
    for (int i = 0; i < 4000; i++)
        x[i] = 1.0f + (float)(i % 7);
    ck_rng r;
    ck_rng_seed(&r, 3);
    ck_fwd f = {.n = 4, .x = x, .y = y, .saved = mask, .training = true, .rng = &r};
    l->vt->forward(l, &f);
    int dropped = 0;
    for (int i = 0; i < 4000; i++) {
        ck_assert(y[i] == 0.0f || fabsf(y[i] - x[i] / 0.75f) < 1e-6f);
        dropped += y[i] == 0.0f;
    }
    /* binomial(4000, 0.25): mean 1000, sd 27 */
    ck_assert_int_gt(dropped, 1000 - 140);
    ck_assert_int_lt(dropped, 1000 + 140);
    /* backward: the same mask */
    float *dx = malloc(4000 * sizeof(float));
    ck_bwd b = {.n = 4, .x = x, .y = y, .dy = x, .dx = dx, .saved = mask};
    l->vt->backward(l, &b);
    for (int i = 0; i < 4000; i++)
        ck_assert(fabsf(dx[i] - y[i]) < 1e-6f); /* dy = x, so dx = x * mask = y */
    f.training = false;
    l->vt->forward(l, &f);
    for (int i = 0; i < 4000; i++)
        ck_assert(y[i] == x[i]);
    free(x);
    free(y);
    free(mask);
    free(dx);
    ck_layer_free(l);
}
END_TEST

/* Initialisers: bounds and spread against Keras' parameters (initializers.json). */
START_TEST(initializers_match_keras_parameters)
{
    json_t *root = tu_load_json("keras3-traces/initializers.json");
    static const char *names[] = {"glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                                  "lecun_uniform", "lecun_normal", "random_normal", "random_uniform",
                                  "truncated_normal"};
    static const char *shapes[] = {"dense_30x100", "conv_3x3x16x32"};
    ck_shape sh[2] = {{2, {30, 100}}, {4, {3, 3, 16, 32}}};
    ck_rng r;
    ck_rng_seed(&r, 11);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        for (int s = 0; s < 2; s++) {
            char path[128];
            snprintf(path, sizeof path, "results/%s/%s", names[i], shapes[s]);
            json_t *c = tu_get(root, path);
            double fin, fout;
            ck_init_fans(&sh[s], &fin, &fout);
            json_t *fi = json_object_get(json_object_get(c, "params"), "fan_in");
            if (fi) {
                ck_assert(fabs(fin - tu_number(fi)) < 1e-9);
                ck_assert(fabs(fout - tu_number(tu_get(c, "params/fan_out"))) < 1e-9);
            }
            int64_t n = ck_shape_size(&sh[s]);
            /* several draws, so the sample std is tight enough to compare */
            int draws = (int)(200000 / n) + 1;
            float *w = malloc((size_t)n * sizeof(float));
            double sum = 0, sum2 = 0, mx = 0;
            for (int d = 0; d < draws; d++) {
                ck_assert_int_eq(ck_init_fill(names[i], w, &sh[s], &r), CKERAS_OK);
                for (int64_t k = 0; k < n; k++) {
                    sum += w[k];
                    sum2 += (double)w[k] * w[k];
                    if (fabs(w[k]) > mx)
                        mx = fabs(w[k]);
                }
            }
            double cnt = (double)n * draws, mean = sum / cnt, sd = sqrt(sum2 / cnt - mean * mean);
            double ksd = tu_number(tu_get(c, "empirical/std"));
            ck_assert_msg(fabs(sd - ksd) < 0.02 * ksd, "%s %s: std %g, Keras %g", names[i], shapes[s], sd, ksd);
            json_t *lim = json_object_get(json_object_get(c, "params"), "limit");
            if (lim)
                ck_assert_msg(mx <= tu_number(lim) * (1 + 1e-6), "%s: %g beyond limit", names[i], mx);
            free(w);
        }
    }
    json_decref(root);
}
END_TEST

/* ---- whole-model gradients against central finite differences ------------------------------ */

/* Loss of the model on (x, y) for the current weights (double from float forward). */
static double model_loss(ckeras_model *m, const float *x, const float *y, int64_t n)
{
    ck_plan *p = &m->plan;
    memcpy(p->x[0], x, (size_t)(n * ck_shape_size(&m->g.inputs[0])) * sizeof(float));
    memcpy(p->y_true[0], y, (size_t)(n * m->target_size[0]) * sizeof(float));
    ck_graph_forward(&m->g, p, n, true, &m->rng);
    const ck_shape *out = ck_model_output_shape(m);
    int64_t cols = out->d[out->ndim - 1], rows = n * ck_shape_size(out) / cols;
    return ck_loss_compute(&m->loss[0], p->y_true[0], p->act[m->g.outputs[0]], rows, cols, NULL, 1, NULL) / (double)rows;
}

static void gradcheck(const char *hidden_act, const char *out_act, int64_t out_units, const char *loss,
                      bool sparse)
{
    ckeras_set_random_seed(5);
    ckeras_model *m = ckeras_sequential(NULL);
    const int64_t n = 4, in = 3;
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, &in)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(5, hidden_act)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_activation("tanh")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(out_units, out_act)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.0, 0.0, 0), loss, NULL), CKERAS_OK);
    float x[12], y[12];
    ck_rng r;
    ck_rng_seed(&r, 9);
    for (int i = 0; i < 12; i++)
        x[i] = (float)(ck_rng_uniform(&r) * 2 - 1);
    int64_t ts = sparse ? 1 : out_units;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < ts; k++)
            y[i * ts + k] = sparse ? (float)(i % out_units)
                                   : (strstr(loss, "crossentropy") ? (float)((i + k) % 2) : (float)ck_rng_normal(&r));
    if (strcmp(loss, "categorical_crossentropy") == 0)
        for (int i = 0; i < n; i++)
            for (int k = 0; k < ts; k++)
                y[i * ts + k] = k == i % out_units;
    m->target_size[0] = ts;
    ck_assert_int_eq(ck_plan_ensure(&m->plan, &m->g, n, true, &ts), CKERAS_OK);
    /* analytic gradient */
    model_loss(m, x, y, n);
    const ck_shape *os = ck_model_output_shape(m);
    int64_t rows = n;
    ck_loss_compute(&m->loss[0], m->plan.y_true[0], m->plan.act[m->g.outputs[0]], rows, os->d[0], m->plan.dact[m->g.outputs[0]],
                    1.0f / (float)rows, NULL);
    ck_graph_backward(&m->g, &m->plan, n);
    float *g = malloc(m->n_params * sizeof(float));
    memcpy(g, m->grads, m->n_params * sizeof(float));
    for (size_t i = 0; i < m->n_params; i++) {
        float keep = m->params[i];
        const float h = 1e-2f;
        m->params[i] = keep + h;
        double lp = model_loss(m, x, y, n);
        m->params[i] = keep - h;
        double lm = model_loss(m, x, y, n);
        m->params[i] = keep;
        double num = (lp - lm) / (2.0 * h);
        ck_assert_msg(fabs(num - g[i]) <= 2e-3 + 2e-2 * fabs(num), "%s/%s/%s: d/dparam[%zu] = %g, numeric %g",
                      hidden_act, out_act, loss, i, (double)g[i], num);
    }
    free(g);
    ckeras_model_free(m);
}

START_TEST(gradients_match_finite_differences)
{
    gradcheck("linear", "sigmoid", 1, "binary_crossentropy", false);
    gradcheck("tanh", "softmax", 3, "categorical_crossentropy", false);
    gradcheck("sigmoid", "softmax", 3, "sparse_categorical_crossentropy", true);
    gradcheck("elu", "linear", 2, "mean_squared_error", false);
    gradcheck("softplus", "linear", 2, "huber", false);
    gradcheck("swish", "tanh", 2, "mean_absolute_error", false);
}
END_TEST

/* ---- fit semantics against Keras' traces -------------------------------------------------- */

/* fit_semantics.json: x[i] = (i, 1), y[i] = 2^i; a zero Dense trained with SGD(0) and MAE.
 * Predictions stay 0, so the losses decode which samples each part saw: the validation
 * split must take the LAST 20 % (samples 8 and 9: val_loss = (256 + 512) / 2 = 384) and
 * training sees 0..7 (loss = 255 / 8 = 31.875). */
START_TEST(validation_split_takes_the_last_samples)
{
    json_t *root = tu_load_json("keras3-traces/fit_semantics.json");
    ckeras_tensor *x = tensor_of(tu_get(root, "data/x"));
    ckeras_tensor *y = tensor_of(tu_get(root, "data/y"));
    for (int shuffle = 0; shuffle <= 1; shuffle++) {
        ckeras_model *m = ckeras_sequential(NULL);
        ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){2})), CKERAS_OK);
        ckeras_layer *d = ckeras_dense(1, NULL);
        ck_assert_int_eq(ckeras_layer_set_str(d, "kernel_initializer", "zeros"), CKERAS_OK);
        ck_assert_int_eq(ckeras_model_add(m, d), CKERAS_OK);
        ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.0, 0.0, 0), "mean_absolute_error",
                                              "mean_absolute_error"), CKERAS_OK);
        ckeras_fit_args *a = ckeras_fit_args_new();
        ckeras_fit_args_set_float(a, "validation_split", 0.2);
        ckeras_fit_args_set_int(a, "epochs", 2);
        ckeras_fit_args_set_int(a, "batch_size", 3);
        ckeras_fit_args_set_int(a, "shuffle", shuffle);
        ckeras_fit_args_set_int(a, "verbose", 0);
        ckeras_history *h = NULL;
        ck_assert_int_eq(ckeras_model_fit(m, x, y, a, &h), CKERAS_OK);
        const char *key = shuffle ? "validation_split_shuffle_true/history" : "validation_split_shuffle_false/history";
        json_t *want = tu_get(root, key);
        ck_assert_int_eq(ckeras_history_key_count(h), (int)json_object_size(want));
        const char *k;
        json_t *v;
        int idx = 0;
        json_object_foreach(want, k, v) {
            const double *vals;
            int ne;
            ck_assert_int_eq(ckeras_history_values(h, k, &vals, &ne), CKERAS_OK);
            ck_assert_int_eq(ne, 2);
            for (int e = 0; e < 2; e++)
                ck_assert_msg(fabs(vals[e] - tu_number(json_array_get(v, (size_t)e))) < 1e-4, "%s[%d] = %g", k, e,
                              vals[e]);
            ck_assert_str_eq(ckeras_history_key(h, idx++), k);
        }
        ckeras_history_free(h);
        ckeras_fit_args_free(a);
        ckeras_model_free(m);
    }
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    json_decref(root);
}
END_TEST

/* Keras' history keys: metrics and loss sorted by name, then the val_ ones. */
START_TEST(history_keys_in_keras_order)
{
    json_t *root = tu_load_json("keras3-traces/fit_semantics.json");
    float xs[16], ys[16];
    for (int i = 0; i < 16; i++) {
        xs[i] = (float)i / 16;
        ys[i] = (float)(i % 2);
    }
    ckeras_tensor *x = ckeras_tensor_copy(xs, 2, (const int64_t[]){16, 1});
    ckeras_tensor *y = ckeras_tensor_copy(ys, 2, (const int64_t[]){16, 1});
    ckeras_model *m = ckeras_sequential(NULL);
    ckeras_model_add(m, ckeras_input(1, (const int64_t[]){1}));
    ckeras_model_add(m, ckeras_dense(1, "sigmoid"));
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.01, 0, 0), "binary_crossentropy", "accuracy"), CKERAS_OK);
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "epochs", 2);
    ckeras_fit_args_set_int(a, "verbose", 0);
    ckeras_fit_args_set_float(a, "validation_split", 0.25);
    ckeras_history *h = NULL;
    ck_assert_int_eq(ckeras_model_fit(m, x, y, a, &h), CKERAS_OK);
    json_t *keys = tu_get(root, "history/history_keys_with_validation");
    ck_assert_int_eq(ckeras_history_key_count(h), (int)json_array_size(keys));
    for (size_t i = 0; i < json_array_size(keys); i++)
        ck_assert_str_eq(ckeras_history_key(h, (int)i), json_string_value(json_array_get(keys, i)));
    ck_assert_int_eq(ckeras_history_epochs(h), 2);
    ckeras_history_free(h);
    ckeras_fit_args_free(a);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    json_decref(root);
}
END_TEST

/* ---- determinism and allocation-free steps --------------------------------------------------- */

static ckeras_model *seed_model(uint64_t seed)
{
    ckeras_set_random_seed(seed);
    ckeras_model *m = ckeras_sequential(NULL);
    ckeras_model_add(m, ckeras_input(1, (const int64_t[]){6}));
    ckeras_model_add(m, ckeras_dense(16, "relu"));
    ckeras_model_add(m, ckeras_dropout(0.2));
    ckeras_model_add(m, ckeras_dense(1, "sigmoid"));
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(0.01), "binary_crossentropy", "accuracy"), CKERAS_OK);
    return m;
}

static void toy_data(ckeras_tensor **x, ckeras_tensor **y, int64_t n)
{
    *x = ckeras_tensor_new(2, (const int64_t[]){n, 6});
    *y = ckeras_tensor_new(2, (const int64_t[]){n, 1});
    ck_rng r;
    ck_rng_seed(&r, 99);
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int k = 0; k < 6; k++) {
            float v = (float)ck_rng_normal(&r);
            ckeras_tensor_data(*x)[i * 6 + k] = v;
            s += v * (k % 2 ? 1 : -0.5);
        }
        ckeras_tensor_data(*y)[i] = s > 0;
    }
}

START_TEST(same_seed_same_training)
{
    ckeras_tensor *x, *y;
    toy_data(&x, &y, 200);
    ckeras_model *a = seed_model(77), *b = seed_model(77), *c = seed_model(78);
    ckeras_fit_args *fa = ckeras_fit_args_new();
    ckeras_fit_args_set_int(fa, "epochs", 3);
    ckeras_fit_args_set_int(fa, "verbose", 0);
    ck_assert_int_eq(ckeras_model_fit(a, x, y, fa, NULL), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_fit(b, x, y, fa, NULL), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_fit(c, x, y, fa, NULL), CKERAS_OK);
    ck_assert(a->n_params == b->n_params);
    ck_assert_int_eq(memcmp(a->params, b->params, a->n_params * sizeof(float)), 0);
    ck_assert_int_ne(memcmp(a->params, c->params, a->n_params * sizeof(float)), 0);
    ckeras_fit_args_free(fa);
    ckeras_model_free(a);
    ckeras_model_free(b);
    ckeras_model_free(c);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

START_TEST(training_step_allocates_nothing)
{
    ckeras_tensor *x, *y;
    toy_data(&x, &y, 32);
    ckeras_model *m = seed_model(1);
    double res[2];
    ck_assert_int_eq(ckeras_model_train_on_batch(m, x, y, res, 2), CKERAS_OK); /* builds the plan */
    uint64_t before = ck_alloc_count();
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(ckeras_model_train_on_batch(m, x, y, res, 2), CKERAS_OK);
    ck_assert_msg(ck_alloc_count() == before, "%llu allocations in 5 steps",
                  (unsigned long long)(ck_alloc_count() - before));
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

/* The model learns: a separable toy problem reaches high accuracy. */
START_TEST(fit_learns_a_separable_problem)
{
    ckeras_tensor *x, *y;
    toy_data(&x, &y, 400);
    ckeras_model *m = seed_model(3);
    ckeras_fit_args *fa = ckeras_fit_args_new();
    ckeras_fit_args_set_int(fa, "epochs", 30);
    ckeras_fit_args_set_int(fa, "verbose", 0);
    ck_assert_int_eq(ckeras_model_fit(m, x, y, fa, NULL), CKERAS_OK);
    double res[2];
    ck_assert_int_eq(ckeras_model_evaluate(m, x, y, 0, res, 2), CKERAS_OK);
    ck_assert_msg(res[1] > 0.95, "accuracy %g", res[1]);
    ck_assert_str_eq(ckeras_model_metrics_name(m, 1), "accuracy");
    ckeras_fit_args_free(fa);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

/* Regularizers: the reported loss is the data loss plus l1*sum|W| + l2*sum W^2 of the trainable
 * kernels (computed here by hand from predictions and weights), and training reduces the norm. */
START_TEST(regularizers_add_keras_penalties)
{
    ckeras_set_random_seed(8);
    ckeras_model *m = ckeras_sequential(NULL);
    ckeras_model_add(m, ckeras_input(1, (const int64_t[]){3}));
    ckeras_layer *d = ckeras_dense(4, "tanh");
    ck_assert_int_eq(ckeras_layer_set_str(d, "kernel_regularizer", "L1L2(l1=0.01,l2=0.1)"), CKERAS_OK);
    ckeras_model_add(m, d);
    ckeras_layer *o = ckeras_dense(1, NULL);
    ck_assert_int_eq(ckeras_layer_set_str(o, "kernel_regularizer", "l2"), CKERAS_OK); /* 0.01 */
    ckeras_model_add(m, o);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.1, 0, 0), "mse", NULL), CKERAS_OK);
    float xs[12], ys[4];
    for (int i = 0; i < 12; i++)
        xs[i] = (float)(i % 5) / 5 - 0.3f;
    for (int i = 0; i < 4; i++)
        ys[i] = (float)i / 4;
    ckeras_tensor *x = ckeras_tensor_copy(xs, 2, (const int64_t[]){4, 3});
    ckeras_tensor *y = ckeras_tensor_copy(ys, 2, (const int64_t[]){4, 1});
    ckeras_tensor *p = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &p), CKERAS_OK);
    double mse = 0, l1 = 0, l2a = 0, l2b = 0;
    for (int i = 0; i < 4; i++)
        mse += pow(ckeras_tensor_data(p)[i] - ys[i], 2) / 4;
    for (int k = 0; k < 12; k++) {
        l1 += fabs(d->w[0].data[k]);
        l2a += pow(d->w[0].data[k], 2);
    }
    for (int k = 0; k < 4; k++)
        l2b += pow(o->w[0].data[k], 2);
    double want = mse + 0.01 * l1 + 0.1 * l2a + 0.01 * l2b, res[1];
    ck_assert_int_eq(ckeras_model_evaluate(m, x, y, 0, res, 1), CKERAS_OK);
    ck_assert_msg(fabs(res[0] - want) < 1e-6, "loss %g, by hand %g", res[0], want);
    ckeras_model *bad = ckeras_sequential(NULL);
    ckeras_model_add(bad, ckeras_input(1, (const int64_t[]){3}));
    ck_assert_int_eq(ckeras_model_add(bad, ckeras_layer_from_config("Dense", "{\"units\": 2, \"kernel_regularizer\": \"l3\"}")),
                     CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "kernel_regularizer"));
    ckeras_model_free(bad);
    ckeras_tensor_free(p);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);
}
END_TEST

/* A diverging run: a huge learning rate drives the loss to Inf/NaN; TerminateOnNaN stops the
 * fit, and the weights stay finite (the last finite ones). */
START_TEST(terminate_on_nan_keeps_finite_weights)
{
    ckeras_set_random_seed(2);
    ckeras_model *m = ckeras_sequential(NULL);
    ckeras_model_add(m, ckeras_input(1, (const int64_t[]){4}));
    ckeras_model_add(m, ckeras_dense(8, "relu"));
    ckeras_model_add(m, ckeras_dense(1, NULL));
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(1e6, 0, 0), "mse", NULL), CKERAS_OK);
    float xs[64 * 4], ys[64];
    for (int i = 0; i < 64 * 4; i++)
        xs[i] = (float)((i * 37) % 11) - 5.0f;
    for (int i = 0; i < 64; i++)
        ys[i] = (float)i * 100.0f;
    ckeras_tensor *x = ckeras_tensor_copy(xs, 2, (const int64_t[]){64, 4});
    ckeras_tensor *y = ckeras_tensor_copy(ys, 2, (const int64_t[]){64, 1});
    ckeras_callback *nan = ckeras_terminate_on_nan();
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "epochs", 50);
    ckeras_fit_args_set_int(a, "batch_size", 8);
    ckeras_fit_args_set_int(a, "verbose", 0);
    ckeras_fit_args_add_callback(a, nan);
    ckeras_history *h = NULL;
    ck_assert_int_eq(ckeras_model_fit(m, x, y, a, &h), CKERAS_OK);
    ck_assert_int_lt(ckeras_history_epochs(h), 50); /* it stopped */
    const double *loss;
    int ne;
    ckeras_history_values(h, "loss", &loss, &ne);
    ck_assert(!isfinite(loss[ne - 1]));
    ck_assert_int_eq(ck_first_nonfinite(m->params, (int64_t)m->n_params), -1);
    ckeras_history_free(h);
    ckeras_fit_args_free(a);
    ckeras_callback_free(nan);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);
}
END_TEST

/* ---- summary, trainable, misuse ------------------------------------------------------------- */

static char *section(const char *title_start)
{
    FILE *f = fopen("tests/fixtures/keras3-traces/text.txt", "r");
    ck_assert_ptr_nonnull(f);
    static char line[4096];
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(cap, 1);
    int in = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "===== ", 6) == 0) {
            if (in)
                break;
            in = strncmp(line + 6, title_start, strlen(title_start)) == 0;
            continue;
        }
        if (in && len + strlen(line) < cap) {
            memcpy(out + len, line, strlen(line));
            len += strlen(line);
        }
    }
    fclose(f);
    while (len > 0 && out[len - 1] == '\n' && len > 1 && out[len - 2] == '\n')
        out[--len] = '\0';
    return out;
}

START_TEST(summary_of_the_seed_mlp_is_keras_text)
{
    unsetenv("COLUMNS");
    ckeras_model *m = ckeras_sequential(NULL);
    ckeras_model_add(m, ckeras_input(1, (const int64_t[]){30}));
    ckeras_model_add(m, ckeras_dense(100, "relu"));
    ckeras_model_add(m, ckeras_dense(50, "relu"));
    ckeras_model_add(m, ckeras_dense(50, "relu"));
    ckeras_model_add(m, ckeras_dense(1, "sigmoid"));
    char *text = NULL;
    ck_assert_int_eq(ckeras_model_summary_string(m, 0, &text), CKERAS_OK);
    char *want = section("summary: seed MLP (Dense 100 relu on 30 inputs, 50 relu, 50 relu, 1 sigmoid), not "
                         "compiled; terminal width 80");
    /* compare ignoring trailing blank lines */
    size_t a = strlen(text), b = strlen(want);
    while (a && text[a - 1] == '\n')
        a--;
    while (b && want[b - 1] == '\n')
        b--;
    ck_assert_msg(a == b && memcmp(text, want, a) == 0, "summary differs:\n%s\n--- expected ---\n%s", text, want);
    free(want);
    ckeras_free(text);
    int64_t total, tr, ntr;
    ckeras_model_count_params(m, &total, &tr, &ntr);
    ck_assert_int_eq(total, 10751);
    /* freeze the first Dense: its 3100 weights become non-trainable at the next compile */
    ckeras_layer_set_trainable(ckeras_model_layer(m, 0), 0);
    ck_assert_int_eq(ckeras_model_compile(m, NULL, "binary_crossentropy", NULL), CKERAS_OK);
    ckeras_model_count_params(m, &total, &tr, &ntr);
    ck_assert_int_eq(tr, 10751 - 3100);
    ck_assert_int_eq(ntr, 3100);
    ck_assert(m->n_params == (size_t)(10751 - 3100));
    ckeras_model_free(m);
}
END_TEST

START_TEST(frozen_layer_gets_no_update)
{
    ckeras_tensor *x, *y;
    toy_data(&x, &y, 64);
    ckeras_model *m = seed_model(4);
    ckeras_layer *first = ckeras_model_layer(m, 0);
    ckeras_layer_set_trainable(first, 0);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(0.01), "binary_crossentropy", NULL), CKERAS_OK);
    float before[6 * 16];
    memcpy(before, first->w[0].data, sizeof before);
    ckeras_layer *last = ckeras_model_layer(m, 2);
    float last_before = last->w[0].data[0];
    ck_assert_int_eq(ckeras_model_train_on_batch(m, x, y, NULL, 0), CKERAS_OK);
    ck_assert_int_eq(memcmp(before, first->w[0].data, sizeof before), 0);
    ck_assert(last->w[0].data[0] != last_before);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

START_TEST(misuse_gives_status_and_message)
{
    ck_assert_int_eq(ckeras_model_add(NULL, ckeras_dense(3, "relu")), CKERAS_EINVAL);
    ck_assert_ptr_null(ckeras_dense(3, "relux"));
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "relux"));
    ck_assert_ptr_null(ckeras_dense(0, "relu"));
    ckeras_model *m = ckeras_sequential(NULL);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(3, "relux")), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(3, "relu")), CKERAS_ESHAPE); /* no input shape */
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "input shape"));
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){4})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(2, "softmax")), CKERAS_OK);
    ckeras_tensor *x = ckeras_tensor_new(2, (const int64_t[]){3, 4});
    ckeras_tensor *y = ckeras_tensor_new(2, (const int64_t[]){3, 2});
    ck_assert_int_eq(ckeras_model_fit(m, x, y, NULL, NULL), CKERAS_ESTATE);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "compile"));
    ck_assert_int_eq(ckeras_model_compile(m, NULL, "categorical_crossentropyy", NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_compile(m, NULL, "categorical_crossentropy", "accuracy,bogus"), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "bogus"));
    ck_assert_int_eq(ckeras_model_compile(m, NULL, "categorical_crossentropy", "accuracy"), CKERAS_OK);
    ckeras_tensor *bad = ckeras_tensor_new(2, (const int64_t[]){3, 5});
    ck_assert_int_eq(ckeras_model_fit(m, bad, y, NULL, NULL), CKERAS_ESHAPE);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "(3, 5)"));
    ckeras_tensor *ybad = ckeras_tensor_new(2, (const int64_t[]){2, 2});
    ck_assert_int_eq(ckeras_model_fit(m, x, ybad, NULL, NULL), CKERAS_ESHAPE);
    ckeras_tensor_data(x)[5] = NAN;
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "verbose", 0);
    ck_assert_int_eq(ckeras_model_fit(m, x, y, a, NULL), CKERAS_ENAN);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "sample 1"));
    ck_assert_int_eq(ckeras_model_fit(m, NULL, y, a, NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_predict(NULL, x, 0, NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "epochz", 3), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_fit_args_set_float(a, "validation_split", 1.5), CKERAS_EINVAL);
    ck_assert_ptr_null(ckeras_layer_from_config("Conv7D", "{}"));
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "Conv7D"));
    ck_assert_ptr_null(ckeras_layer_from_config("Dense", "{\"units\": \"ten\"}"));
    ckeras_fit_args_free(a);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_tensor_free(bad);
    ckeras_tensor_free(ybad);
    ckeras_model_free(m);
    ckeras_model_free(NULL);
    ckeras_layer_free(NULL);
}
END_TEST

/* Keras 2.0 wrote `lr` for the learning rate; a config key of that name once broke the reader's
 * walk over the config (a fuzz find): the keys after it must still be read. 3 inputs x 4 units
 * + 4 biases = 16 parameters, counted by hand. */
START_TEST(keras2_lr_key_does_not_stop_the_config)
{
    ckeras_layer *d = ckeras_layer_from_config("Dense", "{\"lr\": 0.5, \"units\": 4, \"name\": \"after_lr\"}");
    ck_assert_ptr_nonnull(d);
    ck_assert_str_eq(ckeras_layer_name(d), "after_lr");
    int64_t in_shape[1] = {3};
    ckeras_model *m = ckeras_sequential("s");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, in_shape)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, d), CKERAS_OK);
    int64_t total = 0, trainable = 0, frozen = 0;
    ck_assert_int_eq(ckeras_model_count_params(m, &total, &trainable, &frozen), CKERAS_OK);
    ck_assert_int_eq(total, 16);
    ckeras_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, dense_rank3_matches_keras);
    tcase_add_test(tc, flatten_matches_keras);
    tcase_add_test(tc, dropout_training_and_inference);
    tcase_add_test(tc, initializers_match_keras_parameters);
    tcase_add_test(tc, gradients_match_finite_differences);
    tcase_add_test(tc, validation_split_takes_the_last_samples);
    tcase_add_test(tc, history_keys_in_keras_order);
    tcase_add_test(tc, same_seed_same_training);
    tcase_add_test(tc, training_step_allocates_nothing);
    tcase_add_test(tc, fit_learns_a_separable_problem);
    tcase_add_test(tc, summary_of_the_seed_mlp_is_keras_text);
    tcase_add_test(tc, frozen_layer_gets_no_update);
    tcase_add_test(tc, misuse_gives_status_and_message);
    tcase_add_test(tc, regularizers_add_keras_penalties);
    tcase_add_test(tc, terminate_on_nan_keeps_finite_weights);
    tcase_add_test(tc, keras2_lr_key_does_not_stop_the_config);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
