/* TimeDistributed: forwards against the wrapped layer's maths applied step by step (written out
 * here), central finite differences of the backward (Dense, Conv2D, LSTM, BatchNormalization,
 * Conv1D wrapped), refusals, a small model trained with fit,
 * save/load round trips in every format, and models written by Keras 3.11.3
 * (tests/ref/time_distributed_ref.py -> tests/fixtures/time_distributed/) loading with Keras'
 * predictions. */
#include "model/model.h"
#include "io/io.h"
#include "layer_harness.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* TimeDistributed around a layer of class cls with config json (the "layer" field's tree) */
static ckeras_layer *td(const char *cls, const char *json)
{
    ckeras_layer *l = ck_layer_new_by_class("TimeDistributed");
    ck_assert_ptr_nonnull(l);
    snprintf(l->name, sizeof l->name, "time_distributed_under_test");
    char lay[512];
    snprintf(lay, sizeof lay, "{\"class_name\": \"%s\", \"config\": %s}", cls, json);
    ck_tree *spec = ck_tree_from_json(lay, "test");
    ck_assert_ptr_nonnull(spec);
    ck_assert_int_eq(ck_config_set_tree(&l->cfg, "TimeDistributed", "layer", spec), CKERAS_OK);
    ck_tree_free(spec);
    return l;
}

/* dx and every weight gradient against central differences (float32: eps 1e-2) */
static void td_fd_check(harness *h, const char *what)
{
    h_fd_check(h, 1e-2, 2e-3, 2e-3, what);
}

/* TimeDistributed(Dense(3, tanh)) on (2, 4, 5): y[b, t] = tanh(x[b, t] K + bias) for every step. */
START_TEST(dense_per_step)
{
    h_seed(11);
    const int64_t n = 2, T = 4, F = 5, U = 3;
    ckeras_layer *l = td("Dense", "{\"units\": 3, \"activation\": \"tanh\"}");
    harness h;
    h_init(&h, l, &(ck_shape){2, {T, F}}, n);
    ck_assert_int_eq(l->out_shape.ndim, 2);
    ck_assert_int_eq(l->out_shape.d[0], T);
    ck_assert_int_eq(l->out_shape.d[1], U);
    ck_assert_int_eq(l->nw, 2);
    ck_assert_str_eq(l->w[0].name, "kernel");
    ck_assert_str_eq(l->w[1].name, "bias");
    ck_assert_int_eq(l->w[0].shape.ndim, 2);
    ck_assert_int_eq(l->w[0].shape.d[0], F);
    ck_assert_int_eq(l->w[0].shape.d[1], U);
    ck_assert_str_eq(l->w[0].init_default, "glorot_uniform");
    ck_assert_str_eq(l->w[1].init_default, "zeros");
    fill(h.x, h.in_size, -1, 1);
    fill(l->w[0].data, F * U, -1, 1);
    fill(l->w[1].data, U, -0.5, 0.5);
    h_forward(&h);
    const float *K = l->w[0].data, *bias = l->w[1].data;
    float want[2 * 4 * 3];
    for (int64_t b = 0; b < n; b++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t u = 0; u < U; u++) {
                double s = bias[u];
                for (int64_t f = 0; f < F; f++)
                    s += (double)h.x[(b * T + t) * F + f] * K[f * U + u];
                want[(b * T + t) * U + u] = (float)tanh(s);
            }
    tu_assert_close(h.y, want, (size_t)(n * T * U), 1e-6, 1e-5, "TimeDistributed(Dense) forward");
    td_fd_check(&h, "TimeDistributed(Dense)");
    h_free(&h);
}
END_TEST

/* TimeDistributed(Conv2D(2, 3x3, strides 2, same)) on (2, 3, 5, 5, 2): a direct convolution of
 * every frame. */
START_TEST(conv2d_per_step)
{
    h_seed(12);
    const int64_t n = 2, T = 3, H = 5, W = 5, C = 2, O = 2, K = 3, S = 2, OH = 3, OW = 3;
    ckeras_layer *l = td("Conv2D", "{\"filters\": 2, \"kernel_size\": [3, 3], \"strides\": [2, 2], "
                                   "\"padding\": \"same\"}");
    harness h;
    h_init(&h, l, &(ck_shape){4, {T, H, W, C}}, n);
    ck_assert_int_eq(l->out_shape.ndim, 4);
    ck_assert_int_eq(l->out_shape.d[0], T);
    ck_assert_int_eq(l->out_shape.d[1], OH);
    ck_assert_int_eq(l->out_shape.d[2], OW);
    ck_assert_int_eq(l->out_shape.d[3], O);
    ck_assert_int_eq(l->nw, 2);
    fill(h.x, h.in_size, -1, 1);
    fill(l->w[0].data, l->w[0].size, -1, 1);
    fill(l->w[1].data, O, -0.5, 0.5);
    h_forward(&h);
    const float *k = l->w[0].data, *bias = l->w[1].data; /* kernel (K, K, C, O) */
    /* "same" with stride 2 on 5: output 3, padding (total 2) split 1 before, 1 after */
    float *want = xcalloc(n * T * OH * OW * O);
    for (int64_t f = 0; f < n * T; f++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++)
                for (int64_t o = 0; o < O; o++) {
                    double s = bias[o];
                    for (int64_t ky = 0; ky < K; ky++)
                        for (int64_t kx = 0; kx < K; kx++) {
                            int64_t iy = oy * S + ky - 1, ix = ox * S + kx - 1;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                continue;
                            for (int64_t c = 0; c < C; c++)
                                s += (double)h.x[((f * H + iy) * W + ix) * C + c] * k[((ky * K + kx) * C + c) * O + o];
                        }
                    want[((f * OH + oy) * OW + ox) * O + o] = (float)s;
                }
    tu_assert_close(h.y, want, (size_t)(n * T * OH * OW * O), 1e-5, 1e-5, "TimeDistributed(Conv2D) forward");
    free(want);
    td_fd_check(&h, "TimeDistributed(Conv2D)");
    h_free(&h);
}
END_TEST

/* Backwards of other wrapped layers (their forwards: the Keras-written td_bn_lstm below):
 * LSTM on (T, T2, F) steps, BatchNormalization with batch statistics over n * T rows. */
static const struct {
    const char *cls, *json;
    ck_shape in;
} fd_cases[] = {
    {"LSTM", "{\"units\": 2, \"bias_initializer\": \"random_uniform\"}", {3, {2, 3, 2}}},
    {"BatchNormalization", "{}", {2, {3, 4}}},
    {"Conv1D", "{\"filters\": 2, \"kernel_size\": 2, \"padding\": \"causal\"}", {3, {2, 4, 3}}},
};

START_TEST(other_layers_finite_differences)
{
    h_seed(20 + (uint64_t)_i);
    ckeras_layer *l = td(fd_cases[_i].cls, fd_cases[_i].json);
    harness h;
    h_init(&h, l, &fd_cases[_i].in, 2);
    fill(h.x, h.in_size, -1, 1);
    for (int k = 0; k < l->nw; k++)
        fill(l->w[k].data, l->w[k].size, strstr(l->w[k].name, "variance") ? 0.5 : -0.5, 1.0);
    char what[64];
    snprintf(what, sizeof what, "TimeDistributed(%s)", fd_cases[_i].cls);
    td_fd_check(&h, what);
    h_free(&h);
}
END_TEST

static void expect_refusal(ckeras_layer *l, const ck_shape *in, ckeras_status want, const char *needle)
{
    ck_assert_int_eq(ck_layer_build(l, in), want);
    ck_assert_msg(strstr(ckeras_last_error(), needle) != NULL, "'%s' not in: %s", needle, ckeras_last_error());
    ck_layer_free(l);
}

START_TEST(refusals)
{
    const ck_shape in = {2, {4, 3}};
    expect_refusal(td("Add", "{}"), &in, CKERAS_EUNSUPPORTED, "'Add'");
    expect_refusal(td("Concatenate", "{}"), &in, CKERAS_EUNSUPPORTED, "'Concatenate'");
    expect_refusal(td("Bidirectional", "{\"layer\": {\"class_name\": \"LSTM\", \"config\": {\"units\": 2}}}"), &in,
                   CKERAS_EUNSUPPORTED, "'Bidirectional'");
    expect_refusal(td("TimeDistributed", "{\"layer\": {\"class_name\": \"Dense\", \"config\": {\"units\": 2}}}"),
                   &in, CKERAS_EUNSUPPORTED, "'TimeDistributed'");
    expect_refusal(td("NoSuchLayer", "{}"), &in, CKERAS_EUNSUPPORTED, "'NoSuchLayer'");
    expect_refusal(td("Dense", "{\"units\": 2, \"activity_regularizer\": \"l2\"}"), &in, CKERAS_EUNSUPPORTED,
                   "activity_regularizer");
    expect_refusal(td("Dense", "{\"units\": 2}"), &(ck_shape){1, {4}}, CKERAS_ESHAPE, "at least 3");
    ckeras_layer *l = ck_layer_new_by_class("TimeDistributed");
    expect_refusal(l, &in, CKERAS_EINVAL, "needs a layer");
    /* the wrapped layer's own errors name the wrapper */
    expect_refusal(td("Conv2D", "{\"filters\": 2, \"kernel_size\": [3, 3]}"), &in, CKERAS_ESHAPE,
                   "TimeDistributed");
}
END_TEST

/* Input(T, 5, 5, 2) -> TimeDistributed(Conv2D) -> TimeDistributed(Flatten) ->
 * TimeDistributed(Dense(2)): a per-frame model. */
static ckeras_model *frames_model(void)
{
    ckeras_model *m = ckeras_sequential("frames");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(4, (const int64_t[]){3, 5, 5, 2})), CKERAS_OK);
    ckeras_layer *c = ckeras_layer_from_config(
        "TimeDistributed", "{\"layer\": {\"class_name\": \"Conv2D\", \"config\": {\"filters\": 3, "
                           "\"kernel_size\": [3, 3], \"activation\": \"relu\", \"bias_initializer\": \"ones\"}}}");
    ck_assert_msg(c != NULL, "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_model_add(m, c), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_layer_from_config(
                                             "TimeDistributed", "{\"layer\": {\"class_name\": \"Flatten\", "
                                                                "\"config\": {}}}")),
                     CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_layer_from_config(
                                             "TimeDistributed", "{\"layer\": {\"class_name\": \"Dense\", "
                                                                "\"config\": {\"units\": 2}}}")),
                     CKERAS_OK);
    return m;
}

START_TEST(save_load_round_trips)
{
    h_seed(13);
    ckeras_model *m = frames_model();
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(0.01), "mse", NULL), CKERAS_OK);
    int64_t total = 0, trainable = 0, frozen = 0;
    ck_assert_int_eq(ckeras_model_count_params(m, &total, &trainable, &frozen), CKERAS_OK);
    ck_assert_int_eq(total, (3 * 3 * 2 * 3 + 3) + (27 * 2 + 2));
    const int64_t N = 4;
    ckeras_tensor *x = ckeras_tensor_new(5, (const int64_t[]){N, 3, 5, 5, 2});
    ckeras_tensor *y = ckeras_tensor_new(3, (const int64_t[]){N, 3, 2});
    fill(ckeras_tensor_data(x), N * 150, -1, 1);
    fill(ckeras_tensor_data(y), N * 6, -1, 1);
    ckeras_fit_args *fa = ckeras_fit_args_new();
    ckeras_fit_args_set_int(fa, "epochs", 2);
    ckeras_fit_args_set_int(fa, "verbose", 0);
    ck_assert_msg(ckeras_model_fit(m, x, y, fa, NULL) == CKERAS_OK, "%s", ckeras_last_error());
    ckeras_fit_args_free(fa);
    ckeras_tensor *p = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &p), CKERAS_OK);
    tu_tmpdir_make("td");
    static const struct { const char *file; int flags; } fmts[] = {
        {"m.h5", 0}, {"m3.h5", CKERAS_SAVE_KERAS3}, {"m.keras", 0}};
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        const char *path = tu_tmp(fmts[i].file);
        ck_assert_msg(ckeras_model_save(m, path, fmts[i].flags) == CKERAS_OK, "%s: %s", fmts[i].file,
                      ckeras_last_error());
        ckeras_model *m2 = NULL;
        ck_assert_msg(ckeras_load_model(path, 0, &m2) == CKERAS_OK, "%s: %s", fmts[i].file, ckeras_last_error());
        ckeras_tensor *p2 = NULL;
        ck_assert_int_eq(ckeras_model_predict(m2, x, 0, &p2), CKERAS_OK);
        tu_assert_close(ckeras_tensor_data(p2), ckeras_tensor_data(p), (size_t)(N * 6), 0, 0, fmts[i].file);
        ckeras_layer *l = ckeras_model_layer(m2, 0);
        ck_assert_str_eq(l->vt->class_name, "TimeDistributed");
        ck_assert_int_eq(l->nw, 2);
        ckeras_tensor_free(p2);
        ckeras_model_free(m2);
    }
    tu_tmpdir_remove();
    ckeras_tensor_free(p);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);
}
END_TEST

/* TimeDistributed(Dense(1)) learns y[t] = x[t, 0] - 2 x[t, 1] + 0.5 at every step. */
START_TEST(learns_per_step_map)
{
    h_seed(14);
    const int64_t N = 128, T = 5;
    ckeras_tensor *x = ckeras_tensor_new(3, (const int64_t[]){N, T, 2});
    ckeras_tensor *y = ckeras_tensor_new(3, (const int64_t[]){N, T, 1});
    float *xd = ckeras_tensor_data(x), *yd = ckeras_tensor_data(y);
    fill(xd, N * T * 2, -1, 1);
    for (int64_t i = 0; i < N * T; i++)
        yd[i] = xd[2 * i] - 2 * xd[2 * i + 1] + 0.5f;
    ckeras_model *m = ckeras_sequential("per_step");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(2, (const int64_t[]){T, 2})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_layer_from_config(
                                             "TimeDistributed", "{\"layer\": {\"class_name\": \"Dense\", "
                                                                "\"config\": {\"units\": 1}}}")),
                     CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(0.05), "mse", NULL), CKERAS_OK);
    ckeras_fit_args *fa = ckeras_fit_args_new();
    ckeras_fit_args_set_int(fa, "epochs", 60);
    ckeras_fit_args_set_int(fa, "verbose", 0);
    ck_assert_msg(ckeras_model_fit(m, x, y, fa, NULL) == CKERAS_OK, "%s", ckeras_last_error());
    ckeras_fit_args_free(fa);
    const ckeras_layer *l = ckeras_model_layer(m, 0);
    const float *K = l->w[0].data, *b = l->w[1].data;
    printf("learns_per_step_map: kernel (%.4f, %.4f), bias %.4f\n", K[0], K[1], b[0]);
    ck_assert_msg(fabsf(K[0] - 1) < 0.02f && fabsf(K[1] + 2) < 0.02f && fabsf(b[0] - 0.5f) < 0.02f,
                  "kernel (%g, %g) bias %g", K[0], K[1], b[0]);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

/* Models written by Keras 3.11.3 (legacy .h5 and .keras) predict what Keras predicted. */
static const char *const keras_files[] = {"td_dense.h5", "td_dense.keras", "td_conv2d.h5", "td_conv2d.keras",
                                          "td_bn_lstm.h5", "td_bn_lstm.keras"};

START_TEST(keras_written_models)
{
    const char *file = keras_files[_i];
    char rel[128], path[160];
    snprintf(rel, sizeof rel, "time_distributed/%.*s.json", (int)(strchr(file, '.') - file), file);
    snprintf(path, sizeof path, "tests/fixtures/time_distributed/%s", file);
    json_t *ref = tu_load_json(rel);
    size_t nx = 0, ny = 0;
    float *xv = tu_floats(tu_get(ref, "x"), &nx, NULL, NULL), *yv = tu_floats(tu_get(ref, "y"), &ny, NULL, NULL);
    json_t *xs = tu_get(ref, "x_shape");
    int64_t shape[8];
    int nd = (int)json_array_size(xs);
    for (int d = 0; d < nd; d++)
        shape[d] = (int64_t)tu_number(json_array_get(xs, (size_t)d));
    ckeras_model *m = NULL;
    ck_assert_msg(ckeras_load_model(path, 0, &m) == CKERAS_OK, "%s: %s", file, ckeras_last_error());
    ckeras_tensor *x = ckeras_tensor_new(nd, shape), *y = NULL;
    memcpy(ckeras_tensor_data(x), xv, nx * sizeof(float));
    ck_assert_msg(ckeras_model_predict(m, x, 0, &y) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_int_eq((int64_t)ny, ckeras_tensor_size(y));
    tu_assert_close(ckeras_tensor_data(y), yv, ny, 1e-5, 1e-5, file);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);
    free(xv);
    free(yv);
    json_decref(ref);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("time_distributed");
    TCase *t = tcase_create("time_distributed");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, dense_per_step);
    tcase_add_test(t, conv2d_per_step);
    tcase_add_loop_test(t, other_layers_finite_differences, 0, (int)(sizeof fd_cases / sizeof fd_cases[0]));
    tcase_add_test(t, refusals);
    tcase_add_test(t, save_load_round_trips);
    tcase_add_test(t, learns_per_step_map);
    tcase_add_loop_test(t, keras_written_models, 0, (int)(sizeof keras_files / sizeof keras_files[0]));
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
