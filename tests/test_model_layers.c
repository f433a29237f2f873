/* Models as layers, shared layers, layer outputs and models cut from another model's tensors.
 *
 * Gradients are checked through the public API alone: with SGD(learning_rate=1, momentum=0)
 * one train_on_batch step moves every trainable weight by minus its gradient, so the step is
 * the analytic gradient, compared with central differences of evaluate's loss. */
#include "testutil.h"

#include <ckeras.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api_ids.h"

#define OK(x) ck_assert_msg((x) == CKERAS_OK, "%s: %s", #x, ckeras_last_error())

static ckeras_tensor *tensor(int ndim, const int64_t *shape, unsigned seed, double lo, double hi)
{
    ckeras_tensor *t = ckeras_tensor_new(ndim, shape);
    ck_assert_ptr_nonnull(t);
    srand(seed);
    float *d = ckeras_tensor_data(t);
    for (int64_t i = 0; i < ckeras_tensor_size(t); i++)
        d[i] = (float)(lo + (hi - lo) * rand() / (double)RAND_MAX);
    return t;
}

static ckeras_layer *named(ckeras_layer *l, const char *name)
{
    ck_assert_ptr_nonnull(l);
    OK(ckeras_layer_set_name(l, name));
    return l;
}

/* Every weight of the model's layers, concatenated (first use of each layer). */
static float *weights(ckeras_model *m, size_t *n)
{
    size_t cap = 1 << 16, tot = 0;
    float *buf = malloc(cap * sizeof *buf);
    ckeras_layer *seen[64];
    int nseen = 0;
    for (int i = 0; i < ckeras_model_layer_count(m); i++) {
        ckeras_layer *l = ckeras_model_layer(m, i);
        bool dup = false;
        for (int j = 0; j < nseen; j++)
            dup = dup || seen[j] == l;
        if (dup)
            continue;
        seen[nseen++] = l;
        const char *nm;
        ckeras_tensor *v;
        for (int k = 0; ckeras_layer_weight(l, k, &nm, &v) == CKERAS_OK; k++) {
            size_t s = (size_t)ckeras_tensor_size(v);
            ck_assert(tot + s <= cap);
            memcpy(buf + tot, ckeras_tensor_data(v), s * sizeof *buf);
            tot += s;
            ckeras_tensor_free(v);
        }
    }
    *n = tot;
    return buf;
}

static double eval_loss(ckeras_model *m, const ckeras_tensor *x, const ckeras_tensor *y)
{
    double r[4];
    OK(ckeras_model_evaluate(m, x, y, 1024, r, 1));
    return r[0];
}

/* The SGD step of train_on_batch against central differences of the loss, for every weight. */
static void gradcheck(ckeras_model *m, const ckeras_tensor *x, const ckeras_tensor *y, const char *what)
{
    size_t n, n2;
    float *w0 = weights(m, &n);
    ck_assert_int_gt((int)n, 0);
    double loss0 = eval_loss(m, x, y);
    (void)loss0;
    /* numeric, weight by weight through the layers' weight views */
    double *num = calloc(n, sizeof *num);
    size_t at = 0;
    ckeras_layer *seen[64];
    int nseen = 0;
    for (int i = 0; i < ckeras_model_layer_count(m); i++) {
        ckeras_layer *l = ckeras_model_layer(m, i);
        bool dup = false;
        for (int j = 0; j < nseen; j++)
            dup = dup || seen[j] == l;
        if (dup)
            continue;
        seen[nseen++] = l;
        const char *nm;
        ckeras_tensor *v;
        for (int k = 0; ckeras_layer_weight(l, k, &nm, &v) == CKERAS_OK; k++) {
            float *d = ckeras_tensor_data(v);
            for (int64_t e = 0; e < ckeras_tensor_size(v); e++, at++) {
                const float h = 1e-2f, keep = d[e];
                d[e] = keep + h;
                double up = eval_loss(m, x, y);
                d[e] = keep - h;
                double down = eval_loss(m, x, y);
                d[e] = keep;
                num[at] = (up - down) / (2.0 * h);
            }
            ckeras_tensor_free(v);
        }
    }
    double r[2];
    OK(ckeras_model_train_on_batch(m, x, y, r, 1));
    float *w1 = weights(m, &n2);
    ck_assert_uint_eq(n, n2);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double ana = (double)w0[i] - (double)w1[i]; /* learning rate 1 */
        double err = fabs(ana - num[i]) / (1e-2 + fabs(num[i]));
        if (getenv("CK_GRAD_DEBUG") && err > 1e-2)
            printf("  weight %zu: analytic %g numeric %g\n", i, ana, num[i]);
        if (err > worst)
            worst = err;
    }
    printf("%s: %zu weights, worst relative gradient error %.2e\n", what, n, worst);
    ck_assert_msg(worst < 2e-2, "%s: gradient error %g", what, worst);
    free(w0);
    free(w1);
    free(num);
}

/* A small CNN "pretrained" for a few steps: c1 (Conv2D) - bn - c2 (Conv2D) - Flatten - head. */
static ckeras_model *pretrained(ckeras_tensor *x)
{
    ckeras_model *base = ckeras_sequential("pre");
    OK(ckeras_model_add(base, ckeras_input(3, (const int64_t[]){8, 8, 1})));
    OK(ckeras_model_add(base, named(ckeras_conv2d(4, 3, 3, "relu"), "c1")));
    OK(ckeras_model_add(base, named(ckeras_batch_normalization(), "bn")));
    OK(ckeras_model_add(base, named(ckeras_conv2d(4, 3, 3, "relu"), "c2")));
    OK(ckeras_model_add(base, ckeras_flatten()));
    OK(ckeras_model_add(base, named(ckeras_dense(3, "softmax"), "head")));
    OK(ckeras_model_compile(base, NULL, "sparse_categorical_crossentropy", NULL));
    ckeras_tensor *y = ckeras_tensor_new(1, (const int64_t[]){64});
    for (int i = 0; i < 64; i++)
        ckeras_tensor_data(y)[i] = (float)(i % 3);
    ckeras_fit_args *fa = ckeras_fit_args_new();
    OK(ckeras_fit_args_set_int(fa, "verbose", 0));
    OK(ckeras_model_fit(base, x, y, fa, NULL));
    ckeras_fit_args_free(fa);
    ckeras_tensor_free(y);
    return base;
}

/* The transfer model: input - RandomFlip - trunk(training) - GAP - Dropout - Dense(2). */
static ckeras_model *transfer(ckeras_model *trunk, int training)
{
    ckeras_model *m = ckeras_functional("transfer");
    int t = id_input(m, ckeras_input(3, (const int64_t[]){8, 8, 1}));
    t = id_call(m, ckeras_random_flip("horizontal"), 1, &t);
    t = id_call_model(m, trunk, 1, &t, training);
    ck_assert_msg(t >= 0, "%s", ckeras_last_error());
    t = id_call(m, ckeras_global_average_pooling2d(), 1, &t);
    t = id_call(m, ckeras_dropout(0.2), 1, &t);
    t = id_call(m, ckeras_dense(2, "softmax"), 1, &t);
    OK(ckeras_model_set_outputs(m, 1, &t));
    OK(ckeras_model_compile(m, NULL, "sparse_categorical_crossentropy", NULL));
    return m;
}

static ckeras_model *cut(ckeras_model *base, const char *layer)
{
    int in = id_input_tensor(base, 0), out = id_layer_output_by_name(base, layer);
    ck_assert_int_ge(in, 0);
    ck_assert_int_ge(out, 0);
    ckeras_model *trunk = ckeras_model_from_tensors(base, 1, &in, 1, &out, "trunk");
    ck_assert_msg(trunk != NULL, "%s", ckeras_last_error());
    return trunk;
}

static void fit2(ckeras_model *m, const ckeras_tensor *x, int epochs)
{
    ckeras_tensor *y = ckeras_tensor_new(1, (const int64_t[]){64});
    for (int i = 0; i < 64; i++)
        ckeras_tensor_data(y)[i] = (float)(i % 2);
    ckeras_fit_args *fa = ckeras_fit_args_new();
    OK(ckeras_fit_args_set_int(fa, "verbose", 0));
    OK(ckeras_fit_args_set_int(fa, "epochs", epochs));
    OK(ckeras_model_fit(m, x, y, fa, NULL));
    ckeras_fit_args_free(fa);
    ckeras_tensor_free(y);
}

/* The calls that give a tensor id return a status and put the id last (-1 on failure). */
START_TEST(tensor_id_calls_return_a_status_and_the_id_last)
{
    ckeras_model *m = ckeras_functional("ids");
    int x = -7, h = -7, y = -7, got = -7;
    ck_assert_int_eq(ckeras_model_input(m, ckeras_input(1, (const int64_t[]){3}), &x), CKERAS_OK);
    ck_assert_int_ge(x, 0);
    ck_assert_int_eq(ckeras_model_call(m, ckeras_dense(2, "relu"), 1, &x, &h), CKERAS_OK);
    ck_assert_int_gt(h, x);
    /* the id may be the input's own variable */
    y = h;
    ck_assert_int_eq(ckeras_model_call(m, ckeras_dense(1, NULL), 1, &y, &y), CKERAS_OK);
    ck_assert_int_gt(y, h);
    ck_assert_int_eq(ckeras_model_set_outputs(m, 1, &y), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_input_tensor(m, 0, &got), CKERAS_OK);
    ck_assert_int_eq(got, x);
    ck_assert_int_eq(ckeras_model_layer_output_at(m, -1, &got), CKERAS_OK);
    ck_assert_int_eq(got, y);
    ck_assert_int_eq(ckeras_model_layer_output_by_name(m, ckeras_layer_name(ckeras_model_layer(m, 0)), &got),
                     CKERAS_OK);
    ck_assert_int_eq(got, h);
    /* failures: the status says why, the id is -1 */
    got = 5;
    ck_assert_int_eq(ckeras_model_call(m, ckeras_dense(2, NULL), 1, (const int[]){99}, &got), CKERAS_EINVAL);
    ck_assert_int_eq(got, -1);
    got = 5;
    ck_assert_int_eq(ckeras_model_input_tensor(m, 3, &got), CKERAS_EINVAL);
    ck_assert_int_eq(got, -1);
    got = 5;
    ck_assert_int_eq(ckeras_model_layer_output_at(m, 9, &got), CKERAS_EINVAL);
    ck_assert_int_eq(got, -1);
    got = 5;
    ck_assert_int_eq(ckeras_model_layer_output_by_name(m, "nope", &got), CKERAS_EINVAL);
    ck_assert_int_eq(got, -1);
    got = 5;
    ck_assert_int_eq(ckeras_model_call(m, ckeras_add(), 2, (const int[]){x, h}, &got), CKERAS_ESHAPE); /* (3) + (2) */
    ck_assert_int_eq(got, -1);
    /* a NULL id is CKERAS_EINVAL; the layer is still taken (ASan: no leak) */
    ck_assert_int_eq(ckeras_model_call(m, ckeras_dense(2, NULL), 1, &x, NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_input(m, ckeras_input(1, (const int64_t[]){3}), NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_input_tensor(m, 0, NULL), CKERAS_EINVAL);
    /* a Sequential model has no model_input: CKERAS_ESTATE */
    ckeras_model *seq = ckeras_sequential(NULL);
    got = 5;
    ck_assert_int_eq(ckeras_model_input(seq, ckeras_input(1, (const int64_t[]){3}), &got), CKERAS_ESTATE);
    ck_assert_int_eq(got, -1);
    ckeras_model_free(seq);
    ckeras_model_free(m);
}
END_TEST

START_TEST(frozen_base_called_with_training_false_is_unchanged_by_fit)
{
    ckeras_set_random_seed(11);
    ckeras_tensor *x = tensor(4, (const int64_t[]){64, 8, 8, 1}, 3, 0, 1);
    ckeras_model *base = pretrained(x);
    ckeras_model *trunk = cut(base, "c2");
    OK(ckeras_model_set_trainable(trunk, 0));
    ckeras_model *m = transfer(trunk, 0);
    size_t n0, n1;
    float *before = weights(trunk, &n0); /* c1 kernel+bias, bn gamma/beta/mean/variance, c2 */
    ck_assert_uint_eq(n0, 4 * 9 + 4 + 4 * 4 + 4 * 4 * 9 + 4);
    int64_t total, trainable, frozen;
    OK(ckeras_model_count_params(m, &total, &trainable, &frozen));
    ck_assert_int_eq(trainable, 4 * 2 + 2);        /* the new head only */
    ck_assert_int_eq(frozen, (int64_t)n0);         /* every base weight, statistics included */
    fit2(m, x, 3);
    float *after = weights(trunk, &n1);
    ck_assert_uint_eq(n0, n1);
    ck_assert_msg(memcmp(before, after, n0 * sizeof(float)) == 0, "a base weight or statistic changed");
    /* summary: the nested model is one row with its parameter count */
    char *text = NULL;
    OK(ckeras_model_summary_string(m, 0, &text));
    ck_assert_ptr_nonnull(strstr(text, "trunk (Functional)"));
    char row[32];
    snprintf(row, sizeof row, "%zu", n0);
    ck_assert_ptr_nonnull(strstr(strstr(text, "trunk (Functional)"), row));
    ck_assert_ptr_null(strstr(text, "c1 (Conv2D)"));
    ckeras_free(text);
    /* plot_model: the nested model's layers in a cluster of its name, the others outside */
    char *dot = NULL;
    OK(ckeras_model_to_dot(m, 0, &dot));
    const char *cl = strstr(dot, "subgraph \"cluster_trunk\"");
    ck_assert_ptr_nonnull(cl);
    const char *end = strchr(cl, '}');
    const char *c1 = strstr(dot, "c1 (Conv2D)"), *bnr = strstr(dot, "bn (BatchNormalization)");
    const char *head = strstr(dot, "dense (Dense)");
    ck_assert(c1 > cl && c1 < end && bnr > cl && bnr < end);
    ck_assert(head > end);
    ckeras_free(dot);
    /* saved and loaded: still frozen, still in inference mode inside fit */
    const char *path = tu_tmp("transfer.h5");
    OK(ckeras_model_save(m, path, 0));
    ckeras_model *r = NULL;
    OK(ckeras_load_model(path, 0, &r));
    OK(ckeras_model_load_weights(r, path, 0)); /* the nested model's group, in Keras' order */
    OK(ckeras_model_load_weights(r, path, CKERAS_WEIGHTS_BY_NAME));
    ckeras_tensor *p0, *p1;
    OK(ckeras_model_predict(m, x, 0, &p0));
    OK(ckeras_model_predict(r, x, 0, &p1));
    ck_assert_int_eq(memcmp(ckeras_tensor_data(p0), ckeras_tensor_data(p1), 64 * 2 * sizeof(float)), 0);
    OK(ckeras_model_count_params(r, &total, &trainable, &frozen));
    ck_assert_int_eq(frozen, (int64_t)n0);
    /* loaded back as one nested model: one summary row, nested again in its config */
    OK(ckeras_model_summary_string(r, 0, &text));
    ck_assert_ptr_nonnull(strstr(text, "trunk (Functional)"));
    ck_assert_ptr_null(strstr(text, "c1 (Conv2D)"));
    ckeras_free(text);
    char *json = NULL;
    OK(ckeras_model_to_json(r, &json));
    ck_assert_ptr_nonnull(strstr(json, "\"class_name\":\"Functional\",\"config\":{\"name\":\"trunk\""));
    ck_assert_ptr_nonnull(strstr(json, "\"training\":false"));
    ckeras_free(json);
    float *loaded = weights(r, &n1);
    fit2(r, x, 2);
    size_t n2;
    float *refit = weights(r, &n2);
    /* the first n0 floats are the base's layers (they come first in the loaded model) */
    ck_assert_msg(memcmp(loaded, refit, n0 * sizeof(float)) == 0, "a loaded base weight changed in fit");
    free(loaded);
    free(refit);
    ckeras_tensor_free(p0);
    ckeras_tensor_free(p1);
    ckeras_model_free(r);
    free(before);
    free(after);
    ckeras_model_free(m);
    ckeras_model_free(trunk);
    ckeras_model_free(base);
    ckeras_tensor_free(x);
}
END_TEST

START_TEST(base_called_without_training_false_updates_its_statistics)
{
    ckeras_set_random_seed(12);
    ckeras_tensor *x = tensor(4, (const int64_t[]){64, 8, 8, 1}, 4, 0, 1);
    ckeras_model *base = pretrained(x);
    ckeras_model *trunk = cut(base, "c2");
    OK(ckeras_model_set_trainable(trunk, 0));
    ckeras_model *m = transfer(trunk, -1);
    ckeras_layer *bn = ckeras_model_layer_by_name(base, "bn");
    const char *nm;
    ckeras_tensor *mean;
    OK(ckeras_layer_weight(bn, 2, &nm, &mean));
    ck_assert_str_eq(nm, "moving_mean");
    float keep[4];
    memcpy(keep, ckeras_tensor_data(mean), sizeof keep);
    fit2(m, x, 1);
    /* Keras: a frozen BatchNormalization runs in inference mode, so its statistics stay */
    ck_assert_int_eq(memcmp(keep, ckeras_tensor_data(mean), sizeof keep), 0);
    /* unfrozen and called without training=False, fit moves them */
    OK(ckeras_model_set_trainable(trunk, 1));
    OK(ckeras_model_compile(m, ckeras_sgd(0.01, 0, 0), "sparse_categorical_crossentropy", NULL));
    fit2(m, x, 1);
    ckeras_tensor_free(mean); /* a view of the storage before compile laid the weights out again */
    OK(ckeras_layer_weight(bn, 2, &nm, &mean));
    ck_assert_int_ne(memcmp(keep, ckeras_tensor_data(mean), sizeof keep), 0);
    ckeras_tensor_free(mean);
    ckeras_model_free(m);
    ckeras_model_free(trunk);
    ckeras_model_free(base);
    ckeras_tensor_free(x);
}
END_TEST

/* The guide's fine-tuning: fit with the base frozen, unfreeze its top layer, compile again, fit:
 * the top layer trains and the rest stays (the plan of the first fit must not keep it frozen). */
START_TEST(unfreezing_the_top_layer_after_a_frozen_fit_trains_it)
{
    ckeras_set_random_seed(14);
    ckeras_tensor *x = tensor(4, (const int64_t[]){64, 8, 8, 1}, 5, 0, 1);
    ckeras_model *base = pretrained(x);
    ckeras_model *trunk = cut(base, "c2");
    OK(ckeras_model_set_trainable(trunk, 0));
    ckeras_model *m = transfer(trunk, 0);
    fit2(m, x, 1);
    OK(ckeras_layer_set_trainable(ckeras_model_layer_by_name(base, "c2"), 1));
    OK(ckeras_model_compile(m, ckeras_sgd(0.05, 0, 0), "sparse_categorical_crossentropy", NULL));
    size_t n0, n1;
    float *before = weights(trunk, &n0); /* c1 kernel+bias, bn (4 x 4), c2 kernel+bias */
    fit2(m, x, 1);
    float *after = weights(trunk, &n1);
    ck_assert_uint_eq(n0, n1);
    const size_t c2 = 4 * 9 + 4 + 4 * 4;
    ck_assert_msg(memcmp(before, after, c2 * sizeof(float)) == 0, "c1 or bn changed");
    ck_assert_msg(memcmp(before + c2, after + c2, (n0 - c2) * sizeof(float)) != 0, "the unfrozen c2 did not train");
    free(before);
    free(after);
    ckeras_model_free(m);
    ckeras_model_free(trunk);
    ckeras_model_free(base);
    ckeras_tensor_free(x);
}
END_TEST

START_TEST(freeing_in_any_order_keeps_the_weights)
{
    ckeras_set_random_seed(13);
    ckeras_tensor *x = tensor(4, (const int64_t[]){64, 8, 8, 1}, 5, 0, 1);
    ckeras_model *base = pretrained(x);
    ckeras_model *trunk = cut(base, "c2");
    ckeras_model *m = transfer(trunk, 0);
    fit2(m, x, 1); /* m lays the shared weights out in its buffers */
    ckeras_tensor *p0, *p1;
    OK(ckeras_model_predict(m, x, 0, &p0));
    ckeras_model_free(base);
    ckeras_model_free(trunk);
    OK(ckeras_model_predict(m, x, 0, &p1));
    ck_assert_int_eq(memcmp(ckeras_tensor_data(p0), ckeras_tensor_data(p1), 64 * 2 * sizeof(float)), 0);
    fit2(m, x, 1);
    ckeras_tensor_free(p0);
    ckeras_tensor_free(p1);
    /* the other way round: the outer model freed first, the base trains on */
    base = pretrained(x);
    trunk = cut(base, "c2");
    ckeras_model *m2 = transfer(trunk, -1);
    fit2(m2, x, 1);
    OK(ckeras_model_predict(base, x, 0, &p0));
    ckeras_model_free(m2);
    OK(ckeras_model_predict(base, x, 0, &p1));
    ck_assert_int_eq(memcmp(ckeras_tensor_data(p0), ckeras_tensor_data(p1), 64 * 3 * sizeof(float)), 0);
    ckeras_tensor *y = ckeras_tensor_new(1, (const int64_t[]){64});
    memset(ckeras_tensor_data(y), 0, 64 * sizeof(float));
    ckeras_fit_args *fa = ckeras_fit_args_new();
    OK(ckeras_fit_args_set_int(fa, "verbose", 0));
    OK(ckeras_model_fit(base, x, y, fa, NULL)); /* takes its weights back from the freed model */
    ckeras_fit_args_free(fa);
    ckeras_tensor_free(y);
    ckeras_tensor_free(p0);
    ckeras_tensor_free(p1);
    ckeras_model_free(trunk);
    ckeras_model_free(base);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
}
END_TEST

START_TEST(cut_model_computes_the_layer_output)
{
    /* Dense(3, relu) "a" then Dense(2) "b": the model cut at "a" gives relu(x W + c) */
    ckeras_set_random_seed(14);
    ckeras_model *mlp = ckeras_sequential("mlp");
    OK(ckeras_model_add(mlp, ckeras_input(1, (const int64_t[]){4})));
    OK(ckeras_model_add(mlp, named(ckeras_dense(3, "relu"), "a")));
    OK(ckeras_model_add(mlp, named(ckeras_dense(2, NULL), "b")));
    int in = id_input_tensor(mlp, 0), out = id_layer_output_at(mlp, -2);
    ck_assert_int_eq(out, id_layer_output_by_name(mlp, "a"));
    ckeras_model *cutm = ckeras_model_from_tensors(mlp, 1, &in, 1, &out, NULL);
    ck_assert_ptr_nonnull(cutm);
    ck_assert_int_eq(ckeras_model_layer_count(cutm), 1);
    ckeras_tensor *x = tensor(2, (const int64_t[]){5, 4}, 6, -1, 1), *p = NULL;
    OK(ckeras_model_predict(cutm, x, 0, &p));
    const char *nm;
    ckeras_tensor *W, *c;
    OK(ckeras_layer_weight(ckeras_model_layer_by_name(mlp, "a"), 0, &nm, &W));
    OK(ckeras_layer_weight(ckeras_model_layer_by_name(mlp, "a"), 1, &nm, &c));
    for (int s = 0; s < 5; s++)
        for (int j = 0; j < 3; j++) {
            double v = ckeras_tensor_data(c)[j];
            for (int i = 0; i < 4; i++)
                v += (double)ckeras_tensor_data(x)[s * 4 + i] * ckeras_tensor_data(W)[i * 3 + j];
            v = v > 0 ? v : 0;
            ck_assert_double_eq_tol(ckeras_tensor_data(p)[s * 3 + j], v, 1e-5);
        }
    /* bad tensors: a layer output as an input, an id the model does not have */
    ck_assert_ptr_null(ckeras_model_from_tensors(mlp, 1, &out, 1, &out, NULL));
    int bad = 999;
    ck_assert_ptr_null(ckeras_model_from_tensors(mlp, 1, &in, 1, &bad, NULL));
    ck_assert_int_eq(id_layer_output_by_name(mlp, "nope"), -1);
    ck_assert_int_eq(id_layer_output_at(mlp, 7), -1);
    ckeras_tensor_free(W);
    ckeras_tensor_free(c);
    ckeras_tensor_free(p);
    ckeras_tensor_free(x);
    ckeras_model_free(mlp); /* the cut model keeps the shared layer */
    ckeras_model_free(cutm);
}
END_TEST

START_TEST(shared_layer_has_one_set_of_weights_and_summed_gradients)
{
    ckeras_set_random_seed(15);
    ckeras_model *m = ckeras_functional("siamese");
    int a = id_input(m, named(ckeras_input(1, (const int64_t[]){3}), "a"));
    int b = id_input(m, named(ckeras_input(1, (const int64_t[]){3}), "b"));
    ckeras_layer *shared = named(ckeras_dense(2, "tanh"), "shared");
    int ha = id_call(m, shared, 1, &a);
    int hb = id_call(m, shared, 1, &b); /* the same layer again */
    ck_assert_msg(hb >= 0, "%s", ckeras_last_error());
    int s = id_call(m, ckeras_concatenate(-1), 2, (const int[]){ha, hb});
    int y = id_call(m, named(ckeras_dense(1, NULL), "out"), 1, &s);
    OK(ckeras_model_set_outputs(m, 1, &y));
    int64_t total;
    OK(ckeras_model_count_params(m, &total, NULL, NULL));
    ck_assert_int_eq(total, (3 * 2 + 2) + (4 + 1));
    /* a call on another shape is refused and changes nothing */
    int c = id_input(m, ckeras_input(1, (const int64_t[]){5}));
    ck_assert_int_eq(id_call(m, shared, 1, &c), -1);
    ck_assert_int_eq(ckeras_model_layer_count(m), 4);
    ckeras_model_free(m);

    m = ckeras_functional("siamese");
    a = id_input(m, ckeras_input(1, (const int64_t[]){3}));
    shared = named(ckeras_dense(3, "tanh"), "shared");
    ha = id_call(m, shared, 1, &a);
    hb = id_call(m, shared, 1, &ha); /* a shared layer applied twice in a row */
    ck_assert_msg(hb >= 0, "%s", ckeras_last_error());
    y = id_call(m, ckeras_dense(1, NULL), 1, &hb);
    OK(ckeras_model_set_outputs(m, 1, &y));
    OK(ckeras_model_compile(m, ckeras_sgd(1.0, 0, 0), "mse", NULL));
    ckeras_tensor *x = tensor(2, (const int64_t[]){6, 3}, 7, -1, 1);
    ckeras_tensor *t = tensor(2, (const int64_t[]){6, 1}, 8, -1, 1);
    gradcheck(m, x, t, "shared Dense called twice");
    /* a further call whose output nothing reads adds no gradient; checked at a second step, when the
     * gradient buffers hold the first step's values */
    ckeras_model *dead = ckeras_functional("dead_branch");
    int d0 = id_input(dead, ckeras_input(1, (const int64_t[]){3}));
    ckeras_layer *sd = ckeras_dense(3, "tanh");
    int dh = id_call(dead, sd, 1, &d0);
    ck_assert_int_ge(id_call(dead, sd, 1, &dh), 0); /* unread */
    int dy = id_call(dead, ckeras_dense(1, NULL), 1, &dh);
    OK(ckeras_model_set_outputs(dead, 1, &dy));
    OK(ckeras_model_compile(dead, ckeras_sgd(1.0, 0, 0), "mse", NULL));
    gradcheck(dead, x, t, "shared Dense, its second call unread (step 1)");
    gradcheck(dead, x, t, "shared Dense, its second call unread (step 2)");
    ckeras_model_free(dead);
    /* saved and loaded in every format: one layer with two calls, the same predictions */
    static const struct {
        const char *file;
        int flags;
    } forms[] = {{"shared.h5", 0}, {"shared_k3.h5", CKERAS_SAVE_KERAS3}, {"shared.keras", 0}};
    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
        OK(ckeras_model_save(m, tu_tmp(forms[f].file), forms[f].flags));
        ckeras_model *r = NULL;
        OK(ckeras_load_model(tu_tmp(forms[f].file), 0, &r));
        int64_t t0, t1;
        OK(ckeras_model_count_params(m, &t0, NULL, NULL));
        OK(ckeras_model_count_params(r, &t1, NULL, NULL));
        ck_assert_int_eq(t0, t1);
        ck_assert_int_eq(ckeras_model_layer_count(r), ckeras_model_layer_count(m));
        ckeras_tensor *p0, *p1;
        OK(ckeras_model_predict(m, x, 0, &p0));
        OK(ckeras_model_predict(r, x, 0, &p1));
        ck_assert_msg(memcmp(ckeras_tensor_data(p0), ckeras_tensor_data(p1), 6 * sizeof(float)) == 0, "%s",
                      forms[f].file);
        ckeras_tensor_free(p0);
        ckeras_tensor_free(p1);
        ckeras_model_free(r);
    }
    ckeras_tensor_free(x);
    ckeras_tensor_free(t);
    ckeras_model_free(m);
}
END_TEST

START_TEST(nested_model_gradients)
{
    ckeras_set_random_seed(16);
    ckeras_model *inner = ckeras_functional("inner");
    int i0 = id_input(inner, ckeras_input(1, (const int64_t[]){3}));
    int h = id_call(inner, ckeras_dense(4, "sigmoid"), 1, &i0);
    int r = id_call(inner, ckeras_add(), 2, (const int[]){h, id_call(inner, ckeras_dense(4, NULL), 1, &i0)});
    OK(ckeras_model_set_outputs(inner, 1, &r));
    ckeras_model *m = ckeras_functional("outer");
    int x0 = id_input(m, ckeras_input(1, (const int64_t[]){3}));
    int t = id_call(m, ckeras_dense(3, "tanh"), 1, &x0);
    t = id_call_model(m, inner, 1, &t, -1);
    ck_assert_msg(t >= 0, "%s", ckeras_last_error());
    t = id_call(m, ckeras_dense(2, "softmax"), 1, &t);
    OK(ckeras_model_set_outputs(m, 1, &t));
    OK(ckeras_model_compile(m, ckeras_sgd(1.0, 0, 0), "categorical_crossentropy", NULL));
    ckeras_tensor *x = tensor(2, (const int64_t[]){5, 3}, 9, -1, 1);
    ckeras_tensor *y = ckeras_tensor_new(2, (const int64_t[]){5, 2});
    for (int s = 0; s < 5; s++) {
        ckeras_tensor_data(y)[2 * s] = (float)(s % 2);
        ckeras_tensor_data(y)[2 * s + 1] = (float)(1 - s % 2);
    }
    gradcheck(m, x, y, "dense - nested(dense, dense, add) - dense");
    /* misuse: wrong input count, itself, twice */
    ck_assert_int_eq(id_call_model(m, inner, 2, (const int[]){x0, x0}, -1), -1);
    ck_assert_int_eq(id_call_model(m, m, 1, &x0, -1), -1);
    ck_assert_int_eq(id_call_model(m, inner, 1, &x0, 1), -1);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(inner);
    ckeras_model_free(m);
}
END_TEST

static double sigm(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

START_TEST(lstm_return_state_outputs_and_gradients)
{
    /* LSTM(3, return_sequences, return_state) on (T=4, F=2): outputs [sequence, h, c], checked
     * against Keras' equations in double (gates i, f, g, o; c = f c' + i g; h = o tanh(c)) */
    ckeras_set_random_seed(17);
    const int64_t T = 4, F = 2, U = 3, N = 5;
    ckeras_model *m = ckeras_functional("states");
    int x0 = id_input(m, ckeras_input(2, (const int64_t[]){T, F}));
    ckeras_layer *lstm = named(ckeras_lstm(U, 1), "lstm");
    OK(ckeras_layer_set_bool(lstm, "return_state", 1));
    OK(ckeras_layer_set_str(lstm, "bias_initializer", "random_normal"));
    int seq = id_call(m, lstm, 1, &x0);
    ck_assert_msg(seq >= 0, "%s", ckeras_last_error());
    int h = seq + 1, c = seq + 2;
    ck_assert_int_eq(id_layer_output_by_name(m, "lstm"), seq);
    OK(ckeras_model_set_outputs(m, 3, (const int[]){seq, h, c}));
    ck_assert_int_eq(ckeras_model_layer_count(m), 1); /* the outputs are not layers */
    ckeras_tensor *x = tensor(3, (const int64_t[]){N, T, F}, 10, -1, 1), *out[3];
    OK(ckeras_model_predict_outputs(m, 1, (const ckeras_tensor *const[]){x}, 0, 3, out));
    const char *nm;
    ckeras_tensor *W, *R, *B;
    OK(ckeras_layer_weight(lstm, 0, &nm, &W));
    OK(ckeras_layer_weight(lstm, 1, &nm, &R));
    OK(ckeras_layer_weight(lstm, 2, &nm, &B));
    const float *w = ckeras_tensor_data(W), *r = ckeras_tensor_data(R), *bb = ckeras_tensor_data(B);
    for (int64_t s = 0; s < N; s++) {
        double hp[3] = {0}, cp[3] = {0};
        for (int64_t t = 0; t < T; t++) {
            double z[12];
            for (int g = 0; g < 4 * U; g++) {
                z[g] = bb[g];
                for (int f = 0; f < F; f++)
                    z[g] += (double)ckeras_tensor_data(x)[(s * T + t) * F + f] * w[f * 4 * U + g];
                for (int u = 0; u < U; u++)
                    z[g] += hp[u] * r[u * 4 * U + g];
            }
            for (int u = 0; u < U; u++) {
                double ig = sigm(z[u]), fg = sigm(z[U + u]), gg = tanh(z[2 * U + u]), og = sigm(z[3 * U + u]);
                cp[u] = fg * cp[u] + ig * gg;
                hp[u] = og * tanh(cp[u]);
                ck_assert_double_eq_tol(ckeras_tensor_data(out[0])[(s * T + t) * U + u], hp[u], 1e-5);
            }
        }
        for (int u = 0; u < U; u++) {
            ck_assert_double_eq_tol(ckeras_tensor_data(out[1])[s * U + u], hp[u], 1e-5);
            ck_assert_double_eq_tol(ckeras_tensor_data(out[2])[s * U + u], cp[u], 1e-5);
        }
    }
    for (int k = 0; k < 3; k++)
        ckeras_tensor_free(out[k]);
    ckeras_tensor_free(W);
    ckeras_tensor_free(R);
    ckeras_tensor_free(B);
    /* saved and loaded: the three outputs come back as (lstm, 0, k) */
    OK(ckeras_model_save(m, tu_tmp("states.h5"), 0));
    ckeras_model *back = NULL;
    OK(ckeras_load_model(tu_tmp("states.h5"), 0, &back));
    ck_assert_int_eq(ckeras_model_output_count(back), 3);
    ckeras_tensor *o1[3], *o2[3];
    OK(ckeras_model_predict_outputs(m, 1, (const ckeras_tensor *const[]){x}, 0, 3, o1));
    OK(ckeras_model_predict_outputs(back, 1, (const ckeras_tensor *const[]){x}, 0, 3, o2));
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(memcmp(ckeras_tensor_data(o1[k]), ckeras_tensor_data(o2[k]),
                                (size_t)ckeras_tensor_size(o1[k]) * sizeof(float)), 0);
        ckeras_tensor_free(o1[k]);
        ckeras_tensor_free(o2[k]);
    }
    ckeras_model_free(back);
    ckeras_model_free(m);

    /* gradients through the sequence, h and c: a head reads all three; c alone too (h unused) */
    for (int variant = 0; variant < 2; variant++) {
        m = ckeras_functional("states_head");
        x0 = id_input(m, ckeras_input(2, (const int64_t[]){T, F}));
        lstm = ckeras_lstm(U, variant == 0);
        OK(ckeras_layer_set_bool(lstm, "return_state", 1));
        /* (a zero bias gets unit_forget_bias at the first forward, which the check would see) */
        OK(ckeras_layer_set_str(lstm, "bias_initializer", "random_normal"));
        seq = id_call(m, lstm, 1, &x0);
        int y;
        if (variant == 0) {
            int flat = id_call(m, ckeras_flatten(), 1, &seq);
            int cat = id_call(m, ckeras_concatenate(-1), 3, (const int[]){flat, seq + 1, seq + 2});
            y = id_call(m, ckeras_dense(2, NULL), 1, &cat);
        } else {
            y = id_call(m, ckeras_dense(2, NULL), 1, (const int[]){seq + 2});
        }
        OK(ckeras_model_set_outputs(m, 1, &y));
        OK(ckeras_model_compile(m, ckeras_sgd(1.0, 0, 0), "mse", NULL));
        ckeras_tensor *t = tensor(2, (const int64_t[]){N, 2}, 11, -1, 1);
        gradcheck(m, x, t, variant == 0 ? "LSTM return_state: sequence, h and c read" : "LSTM return_state: c only");
        ckeras_tensor_free(t);
        ckeras_model_free(m);
    }
    ckeras_tensor_free(x);
}
END_TEST

static void setup(void)
{
    tu_tmpdir_make("model_layers");
}

static void teardown(void)
{
    tu_tmpdir_remove();
}

int main(void)
{
    Suite *s = suite_create("model_layers");
    TCase *tc = tcase_create("model_layers");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, tensor_id_calls_return_a_status_and_the_id_last);
    tcase_add_test(tc, frozen_base_called_with_training_false_is_unchanged_by_fit);
    tcase_add_test(tc, base_called_without_training_false_updates_its_statistics);
    tcase_add_test(tc, unfreezing_the_top_layer_after_a_frozen_fit_trains_it);
    tcase_add_test(tc, freeing_in_any_order_keeps_the_weights);
    tcase_add_test(tc, cut_model_computes_the_layer_output);
    tcase_add_test(tc, shared_layer_has_one_set_of_weights_and_summed_gradients);
    tcase_add_test(tc, nested_model_gradients);
    tcase_add_test(tc, lstm_return_state_outputs_and_gradients);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
