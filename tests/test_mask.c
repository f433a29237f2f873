/* Keras' masks and variable-length (None) axes.
 *
 * Forwards: masked models (Embedding(mask_zero=True) or Masking before SimpleRNN, LSTM, GRU,
 * Bidirectional in every merge mode, Dropout/Dense/TimeDistributed passing the mask on,
 * GlobalAveragePooling1D consuming it) against REAL Keras 3.11.3 (tests/ref/mask_ref.py ->
 * tests/fixtures/mask/cases.json: Keras' JSON, weights, inputs and predictions); and a SimpleRNN
 * with one unit worked out by hand. Backwards: every masked path against central finite
 * differences of sum(y * R). None axes: one model predicting on several lengths equals fixed-length
 * models with the same weights; None survives .h5 and .keras round trips and shows in summary();
 * fit and train_on_batch on several lengths; layers whose weights would depend on a None axis
 * are refused. */
#include "model/model.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api_ids.h"

/* ---- helpers ---------------------------------------------------------------------------------- */

/* The model of fixture case name, with Keras' weights; *x, *y (and their shapes) from the case. */
static ckeras_model *case_model(const char *name, float **x, int64_t *xs, int *xnd, float **y, int64_t *ys,
                                int *ynd)
{
    json_t *root = tu_load_json("mask/cases.json");
    json_t *c = tu_get(root, name);
    ckeras_model *m = NULL;
    ck_assert_msg(ckeras_model_from_json(json_string_value(tu_get(c, "json")), &m) == CKERAS_OK, "%s: %s", name,
                  ckeras_last_error());
    json_t *ws = tu_get(c, "weights");
    const char *lname;
    json_t *list;
    json_object_foreach(ws, lname, list) {
        ckeras_layer *l = ckeras_model_layer_by_name(m, lname);
        ck_assert_msg(l != NULL, "%s: no layer '%s'", name, lname);
        ck_assert_int_eq(ckeras_layer_weight_count(l), (int)json_array_size(list));
        for (int k = 0; k < (int)json_array_size(list); k++) {
            size_t n;
            float *v = tu_floats(tu_get(json_array_get(list, (size_t)k), "data"), &n, NULL, NULL);
            const char *wn;
            ckeras_tensor *view;
            ck_assert_int_eq(ckeras_layer_weight(l, k, &wn, &view), CKERAS_OK);
            ck_assert_msg((size_t)ckeras_tensor_size(view) == n, "%s: %s/%s has %lld values, Keras %zu", name, lname,
                          wn, (long long)ckeras_tensor_size(view), n);
            memcpy(ckeras_tensor_data(view), v, n * sizeof(float));
            ckeras_tensor_free(view);
            free(v);
        }
    }
    size_t n;
    *x = tu_floats(tu_get(c, "x"), &n, xs, xnd);
    if (y)
        *y = tu_floats(tu_get(c, "y"), &n, ys, ynd);
    json_decref(root);
    return m;
}

static ckeras_tensor *predict(ckeras_model *m, float *x, int nd, const int64_t *shape)
{
    ckeras_tensor *xt = ckeras_tensor_wrap(x, nd, shape), *out = NULL;
    ck_assert_msg(ckeras_model_predict(m, xt, 32, &out) == CKERAS_OK, "%s", ckeras_last_error());
    ckeras_tensor_free(xt);
    return out;
}

/* ---- forwards against Keras ------------------------------------------------------------------- */

static const char *const cases[] = {
    "simple_last", "simple_seq", "simple_back_seq", "lstm_last", "lstm_seq", "lstm_back_last", "gru_last",
    "gru_v1_seq", "bidi_lstm_last", "bidi_lstm_seq", "bidi_gru_sum_seq", "bidi_simple_mul_seq",
    "bidi_simple_ave_last", "chain_gap", "embedding_gap", "masking_gru_seq", "simple_zero_out_seq",
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

START_TEST(keras_forward)
{
    const char *name = cases[_i];
    float *x, *y;
    int64_t xs[4], ys[4];
    int xnd, ynd;
    ckeras_model *m = case_model(name, &x, xs, &xnd, &y, ys, &ynd);
    ckeras_tensor *out = predict(m, x, xnd, xs);
    ck_assert_int_eq(out->ndim, ynd);
    for (int k = 0; k < ynd; k++)
        ck_assert_int_eq(out->shape[k], ys[k]);
    tu_assert_close(out->data, y, (size_t)ckeras_tensor_size(out), 2e-6, 1e-5, name);
    ckeras_tensor_free(out);
    ckeras_model_free(m);
    free(x);
    free(y);
}
END_TEST

/* Keras 3 functional files hold the mask as a NotEqual op node given to the recurrent layers by
 * their "mask" call keyword; ckeras makes that mask itself and predicts Keras' outputs. */
START_TEST(keras3_functional_mask_files)
{
    ckeras_tensor *x = NULL, *want = NULL;
    ck_assert_int_eq(ckeras_read_npy("tests/fixtures/mask/k3_func_mask.inputs.npy", &x), CKERAS_OK);
    ck_assert_int_eq(ckeras_read_npy("tests/fixtures/mask/k3_func_mask.expected.npy", &want), CKERAS_OK);
    static const char *const files[] = {"tests/fixtures/mask/k3_func_mask.keras", "tests/fixtures/mask/k3_func_mask.h5"};
    for (int k = 0; k < 2; k++) {
        ckeras_model *m = NULL;
        ck_assert_msg(ckeras_load_model(files[k], 0, &m) == CKERAS_OK, "%s: %s", files[k], ckeras_last_error());
        ck_assert_uint_eq(m->g.none[0], 1u);
        ckeras_tensor *out = NULL;
        ck_assert_int_eq(ckeras_model_predict(m, x, 32, &out), CKERAS_OK);
        ck_assert_int_eq(ckeras_tensor_size(out), ckeras_tensor_size(want));
        tu_assert_close(out->data, want->data, (size_t)ckeras_tensor_size(want), 1e-6, 1e-5, files[k]);
        ckeras_tensor_free(out);
        ckeras_model_free(m);
    }
    ckeras_tensor_free(x);
    ckeras_tensor_free(want);
}
END_TEST

/* SimpleRNN(1) with kernel (1, 1) = 1, recurrent 1, bias 0, on Embedding(4, 1) rows e = (9, 0.5,
 * -0.25, 1) (row 0 never read: index 0 is masked). x = [1, 0, 2, 0, 3]: h1 = tanh(0.5),
 * step 2 masked (h stays, output repeats), h3 = tanh(-0.25 + h1), step 4 masked,
 * h5 = tanh(1 + h3). With pre-padding [0, 0, 1, 2, 3] the first two outputs are 0. */
START_TEST(hand_simple_rnn)
{
    for (int back = 0; back < 2; back++) {
        ckeras_model *m = ckeras_functional("hand");
        int t = id_input(m, ckeras_input(1, (const int64_t[]){-1}));
        ckeras_layer *e = ckeras_embedding(4, 1);
        ck_assert_int_eq(ckeras_layer_set_bool(e, "mask_zero", 1), CKERAS_OK);
        t = id_call(m, e, 1, &t);
        ckeras_layer *r = ckeras_simple_rnn(1, 1);
        ck_assert_int_eq(ckeras_layer_set_bool(r, "go_backwards", back), CKERAS_OK);
        t = id_call(m, r, 1, &t);
        ck_assert_int_ge(t, 0);
        ck_assert_int_eq(ckeras_model_set_outputs(m, 1, &t), CKERAS_OK);
        const float ew[4] = {9, 0.5f, -0.25f, 1}, rw[3] = {1, 1, 0};
        ckeras_layer *ls[2] = {ckeras_model_layer_by_name(m, "embedding"), ckeras_model_layer_by_name(m, "simple_rnn")};
        ck_assert_ptr_nonnull(ls[0]);
        ck_assert_ptr_nonnull(ls[1]);
        const char *wn;
        ckeras_tensor *v;
        ck_assert_int_eq(ckeras_layer_weight(ls[0], 0, &wn, &v), CKERAS_OK);
        memcpy(ckeras_tensor_data(v), ew, sizeof ew);
        ckeras_tensor_free(v);
        for (int k = 0; k < 3; k++) {
            ck_assert_int_eq(ckeras_layer_weight(ls[1], k, &wn, &v), CKERAS_OK);
            ckeras_tensor_data(v)[0] = rw[k];
            ckeras_tensor_free(v);
        }
        float x[10] = {1, 0, 2, 0, 3, 0, 0, 1, 2, 3};
        ckeras_tensor *out = predict(m, x, 2, (const int64_t[]){2, 5});
        double h1 = tanh(0.5), h3 = tanh(-0.25 + h1), h5 = tanh(1 + h3);
        double a1 = tanh(0.5), a2 = tanh(-0.25 + a1), a3 = tanh(1 + a2);
        if (!back) {
            const double want[10] = {h1, h1, h3, h3, h5, 0, 0, a1, a2, a3};
            for (int k = 0; k < 10; k++)
                ck_assert_msg(fabs(out->data[k] - want[k]) < 1e-6, "step %d: %g, want %g", k, out->data[k], want[k]);
        } else {
            /* go_backwards: processing order [3 0 2 0 1] and [3 2 1 0 0], outputs in that order */
            double b1 = tanh(1.0), b2 = tanh(-0.25 + b1), b3 = tanh(0.5 + b2);
            const double want[10] = {b1, b1, b2, b2, b3, b1, b2, b3, b3, b3};
            for (int k = 0; k < 10; k++)
                ck_assert_msg(fabs(out->data[k] - want[k]) < 1e-6, "back step %d: %g, want %g", k, out->data[k],
                              want[k]);
        }
        ckeras_tensor_free(out);
        ckeras_model_free(m);
    }
}
END_TEST

/* ---- backwards against finite differences ------------------------------------------------------ */

static double loss_of(ckeras_model *m, int64_t n, const float *R)
{
    ck_graph_forward(&m->g, &m->plan, n, false, &m->rng);
    const float *y = m->plan.act[m->g.outputs[0]];
    int64_t k = n * ck_shape_size(&m->g.nodes[m->g.outputs[0]].layer->out_shape);
    double s = 0;
    for (int64_t i = 0; i < k; i++)
        s += (double)y[i] * R[i];
    return s;
}

/* Every trainable weight's gradient of sum(y * R) (and dx for float inputs, which Masking reads)
 * against central differences; checks up to 40 entries of each weight. */
static void model_fd_check(const char *name)
{
    float *x;
    int64_t xs[4];
    int xnd;
    ckeras_model *m = case_model(name, &x, xs, &xnd, NULL, NULL, NULL);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.01, 0, 0), "mse", NULL), CKERAS_OK);
    ckeras_tensor *xt = ckeras_tensor_wrap(x, xnd, xs), *probe = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, xt, 32, &probe), CKERAS_OK); /* builds for the length */
    ckeras_tensor_free(probe);
    ckeras_tensor_free(xt);
    int64_t n = xs[0];
    int64_t ysize = n * ck_shape_size(&m->g.nodes[m->g.outputs[0]].layer->out_shape);
    ck_assert_int_eq(ck_plan_ensure(&m->plan, &m->g, n, true, (const int64_t[]){1}), CKERAS_OK);
    memcpy(m->plan.x[0], x, (size_t)(n * ck_shape_size(&m->g.inputs[0])) * sizeof(float));
    float *R = malloc((size_t)ysize * sizeof(float));
    uint64_t s = 12345;
    for (int64_t i = 0; i < ysize; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        R[i] = (float)((double)(s >> 40) / (double)(1ULL << 24)) - 0.5f;
    }
    loss_of(m, n, R);
    memcpy(m->plan.dact[m->g.outputs[0]], R, (size_t)ysize * sizeof(float));
    ck_graph_backward(&m->g, &m->plan, n);
    int checked = 0;
    for (int i = 0; i < m->g.n; i++) {
        ckeras_layer *l = m->g.nodes[i].layer;
        for (int k = 0; k < l->nw; k++) {
            ck_weight *w = &l->w[k];
            if (!w->grad)
                continue;
            int64_t step = w->size > 40 ? w->size / 40 : 1;
            for (int64_t e = 0; e < w->size; e += step) {
                float keep = w->data[e];
                const float eps = 1e-2f;
                w->data[e] = keep + eps;
                double lp = loss_of(m, n, R);
                w->data[e] = keep - eps;
                double lm = loss_of(m, n, R);
                w->data[e] = keep;
                double num = (lp - lm) / (2.0 * eps), g = w->grad[e];
                ck_assert_msg(fabs(num - g) <= 2e-3 + 2e-3 * fabs(num), "%s: %s/%s[%lld]: backward %g, finite "
                              "differences %g", name, l->name, w->name, (long long)e, g, num);
                checked++;
            }
        }
    }
    ck_assert_int_gt(checked, 0);
    free(R);
    free(x);
    ckeras_model_free(m);
}

START_TEST(masked_backward)
{
    model_fd_check(cases[_i]);
}
END_TEST

/* dx through Masking then a recurrent layer: masked steps get no gradient */
START_TEST(masking_dx)
{
    float *x;
    int64_t xs[4];
    int xnd;
    ckeras_model *m = case_model("masking_gru_seq", &x, xs, &xnd, NULL, NULL, NULL);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.01, 0, 0), "mse", NULL), CKERAS_OK);
    ckeras_tensor *xt = ckeras_tensor_wrap(x, xnd, xs), *probe = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, xt, 32, &probe), CKERAS_OK);
    ckeras_tensor_free(probe);
    ckeras_tensor_free(xt);
    int64_t n = xs[0], nx = n * ck_shape_size(&m->g.inputs[0]);
    ck_assert_int_eq(ck_plan_ensure(&m->plan, &m->g, n, true, (const int64_t[]){1}), CKERAS_OK);
    memcpy(m->plan.x[0], x, (size_t)nx * sizeof(float));
    int64_t ysize = n * ck_shape_size(&m->g.nodes[m->g.outputs[0]].layer->out_shape);
    float *R = malloc((size_t)ysize * sizeof(float));
    for (int64_t i = 0; i < ysize; i++)
        R[i] = (float)sin(0.7 * (double)i);
    /* the Masking node's dx: call its backward on the gradient the GRU gives it */
    ck_assert_int_eq(m->g.nodes[0].layer->vt == &ck_masking_vt, 1);
    loss_of(m, n, R);
    memcpy(m->plan.dact[m->g.outputs[0]], R, (size_t)ysize * sizeof(float));
    m->plan.need_grad[0] = true; /* the GRU writes the Masking node's output gradient */
    ck_graph_backward(&m->g, &m->plan, n);
    float *dx = calloc((size_t)nx, sizeof(float));
    ck_bwd b = {.n = n, .x = m->plan.x[0], .y = m->plan.act[0], .dy = m->plan.dact[0], .dx = dx};
    m->g.nodes[0].layer->vt->backward(m->g.nodes[0].layer, &b);
    for (int64_t e = 0; e < nx; e++) {
        float keep = m->plan.x[0][e];
        const float eps = 1e-2f;
        m->plan.x[0][e] = keep + eps;
        double lp = loss_of(m, n, R);
        m->plan.x[0][e] = keep - eps;
        double lm = loss_of(m, n, R);
        m->plan.x[0][e] = keep;
        double num = (lp - lm) / (2.0 * eps);
        if (keep == 0.0f)
            continue; /* perturbing a masked step's zero unmasks it: not differentiable there */
        ck_assert_msg(fabs(num - dx[e]) <= 2e-3 + 2e-3 * fabs(num), "dx[%lld]: %g, finite differences %g",
                      (long long)e, dx[e], num);
    }
    /* x[0, 3:] is masked (zeros): no gradient there */
    for (int64_t e = 3 * 2; e < 5 * 2; e++)
        ck_assert_float_eq(dx[e], 0.0f);
    free(dx);
    free(R);
    free(x);
    ckeras_model_free(m);
}
END_TEST

/* ---- training: the loss weighs rows by the output's mask --------------------------------------- */

/* One target per step with padding: evaluate (loss over the kept steps, accuracy over all of them,
 * as Keras 3), one SGD step (the weights after it), evaluate again; Keras' numbers from
 * tests/ref/mask_ref.py. */
START_TEST(masked_loss_training)
{
    float *x;
    int64_t xs[4], ys[4];
    int xnd, ynd;
    ckeras_model *m = case_model("tagger_training", &x, xs, &xnd, NULL, NULL, NULL);
    json_t *root = tu_load_json("mask/cases.json");
    json_t *c = tu_get(root, "tagger_training");
    size_t n;
    float *y = tu_floats(tu_get(c, "y_true"), &n, ys, &ynd);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.5, 0, 0), "sparse_categorical_crossentropy", "accuracy"),
                     CKERAS_OK);
    ckeras_tensor *tx = ckeras_tensor_wrap(x, xnd, xs), *ty = ckeras_tensor_wrap(y, ynd, ys);
    double r[2], r2[2];
    ck_assert_int_eq(ckeras_model_evaluate(m, tx, ty, 32, r, 2), CKERAS_OK);
    for (int k = 0; k < 2; k++)
        ck_assert_msg(fabs(r[k] - tu_number(json_array_get(tu_get(c, "eval_before"), (size_t)k))) < 1e-6,
                      "evaluate[%d] %.8f", k, r[k]);
    ck_assert_int_eq(ckeras_model_train_on_batch(m, tx, ty, r2, 2), CKERAS_OK);
    ck_assert_msg(fabs(r2[0] - r[0]) < 1e-5, "train_on_batch loss %.8f (forward before the step)", r2[0]);
    json_t *after = tu_get(c, "weights_after");
    const char *lname;
    json_t *list;
    json_object_foreach(after, lname, list) {
        ckeras_layer *l = ckeras_model_layer_by_name(m, lname);
        for (int k = 0; k < (int)json_array_size(list); k++) {
            float *v = tu_floats(tu_get(json_array_get(list, (size_t)k), "data"), &n, NULL, NULL);
            const char *wn;
            ckeras_tensor *view;
            ck_assert_int_eq(ckeras_layer_weight(l, k, &wn, &view), CKERAS_OK);
            char what[128];
            snprintf(what, sizeof what, "%s/%s after one step", lname, wn);
            tu_assert_close(ckeras_tensor_data(view), v, n, 1e-6, 1e-5, what);
            ckeras_tensor_free(view);
            free(v);
        }
    }
    ck_assert_int_eq(ckeras_model_evaluate(m, tx, ty, 32, r, 2), CKERAS_OK);
    for (int k = 0; k < 2; k++)
        ck_assert_msg(fabs(r[k] - tu_number(json_array_get(tu_get(c, "eval_after"), (size_t)k))) < 1e-6,
                      "evaluate after[%d] %.8f", k, r[k]);
    ckeras_tensor_free(tx);
    ckeras_tensor_free(ty);
    json_decref(root);
    free(x);
    free(y);
    ckeras_model_free(m);
}
END_TEST

/* ---- None axes --------------------------------------------------------------------------------- */

/* Input(len) -> Embedding(20, 4, mask_zero) -> LSTM(5, return_sequences=seq) -> Dense(3); len < 0:
 * None. Weights drawn after ckeras_set_random_seed(seed). */
static ckeras_model *seq_model(int64_t len, bool seq, uint64_t seed)
{
    ckeras_set_random_seed(seed);
    ckeras_model *m = ckeras_sequential("seq");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){len})), CKERAS_OK);
    ckeras_layer *e = ckeras_embedding(20, 4);
    ck_assert_int_eq(ckeras_layer_set_bool(e, "mask_zero", 1), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, e), CKERAS_OK);
    ck_assert_msg(ckeras_model_add(m, ckeras_lstm(5, seq)) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(3, "softmax")), CKERAS_OK);
    return m;
}

static void fill_idx(float *x, int64_t n, int64_t T, unsigned salt)
{
    for (int64_t i = 0; i < n * T; i++)
        x[i] = (float)((i * 7 + salt * 3 + (i / T) * 5) % 20);
}

START_TEST(none_lengths_match_fixed)
{
    for (int seq = 0; seq < 2; seq++) {
        ckeras_model *var = seq_model(-1, seq, 7);
        static const int64_t lens[] = {5, 9, 5, 2};
        for (int r = 0; r < 4; r++) {
            int64_t T = lens[r];
            ckeras_model *fixed = seq_model(T, seq, 7); /* same seed: same weights */
            float x[3 * 9];
            fill_idx(x, 3, T, (unsigned)r);
            ckeras_tensor *a = predict(var, x, 2, (const int64_t[]){3, T});
            ckeras_tensor *b = predict(fixed, x, 2, (const int64_t[]){3, T});
            ck_assert_int_eq(a->ndim, b->ndim);
            for (int k = 0; k < a->ndim; k++)
                ck_assert_int_eq(a->shape[k], b->shape[k]);
            tu_assert_close(a->data, b->data, (size_t)ckeras_tensor_size(a), 0, 0, "None vs fixed length");
            ckeras_tensor_free(a);
            ckeras_tensor_free(b);
            ckeras_model_free(fixed);
        }
        ckeras_model_free(var);
    }
}
END_TEST

/* Input(len, 3) -> Conv1D(4, 3) -> Conv1D(3, 9) -> MaxPooling1D(2) -> GlobalAveragePooling1D ->
 * Dense(2): no mask */
static ckeras_model *conv_model(int64_t len)
{
    ckeras_set_random_seed(21);
    ckeras_model *m = ckeras_sequential("conv");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(2, (const int64_t[]){len, 3})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_conv1d(4, 3, "relu")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_conv1d(3, 9, "relu")), CKERAS_OK); /* longer than 8 */
    ck_assert_int_eq(ckeras_model_add(m, ckeras_max_pooling1d(2)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_layer_from_config("GlobalAveragePooling1D", "{}")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(2, NULL)), CKERAS_OK);
    return m;
}

START_TEST(none_conv1d_lengths)
{
    ckeras_model *var = conv_model(-1);
    static const int64_t lens[] = {14, 23, 12};
    float x[2 * 23 * 3];
    for (int i = 0; i < 2 * 23 * 3; i++)
        x[i] = (float)sin(0.37 * i);
    for (int r = 0; r < 3; r++) {
        int64_t T = lens[r];
        ckeras_model *fixed = conv_model(T);
        ckeras_tensor *a = predict(var, x, 3, (const int64_t[]){2, T, 3});
        ckeras_tensor *b = predict(fixed, x, 3, (const int64_t[]){2, T, 3});
        tu_assert_close(a->data, b->data, 4, 0, 0, "Conv1D: None vs fixed length");
        ckeras_tensor_free(a);
        ckeras_tensor_free(b);
        ckeras_model_free(fixed);
    }
    /* a wrong rank names None where the length varies */
    ckeras_tensor *flat = ckeras_tensor_wrap(x, 2, (const int64_t[]){2, 9}), *none = NULL;
    ck_assert_int_eq(ckeras_model_predict(var, flat, 32, &none), CKERAS_ESHAPE);
    ck_assert_msg(strstr(ckeras_last_error(), "(batch, None, 3)") != NULL, "%s", ckeras_last_error());
    ckeras_tensor_free(flat);
    /* too short for the kernel: an error naming the layer; the model still works afterwards */
    ckeras_tensor *xt = ckeras_tensor_wrap(x, 3, (const int64_t[]){2, 9, 3}), *out = NULL;
    ck_assert_int_eq(ckeras_model_predict(var, xt, 32, &out), CKERAS_ESHAPE);
    ck_assert_msg(strstr(ckeras_last_error(), "conv1d") != NULL, "%s", ckeras_last_error());
    ckeras_tensor_free(xt);
    ckeras_tensor *again = predict(var, x, 3, (const int64_t[]){2, 12, 3});
    ckeras_tensor_free(again);
    ckeras_model_free(var);
}
END_TEST

START_TEST(none_summary_and_refusals)
{
    ckeras_model *m = seq_model(-1, true, 1);
    char *text = NULL;
    ck_assert_int_eq(ckeras_model_summary_string(m, 0, &text), CKERAS_OK);
    ck_assert_msg(strstr(text, "(None, None, 4)") && strstr(text, "(None, None, 5)") && strstr(text, "(None, None, 3)"),
                  "%s", text);
    ckeras_free(text);
    ckeras_model_free(m);
    /* Flatten over a None axis makes Dense's kernel depend on the length: refused when added */
    m = ckeras_sequential("flat");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(2, (const int64_t[]){-1, 3})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_flatten()), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(2, NULL)), CKERAS_ESHAPE);
    ck_assert_msg(strstr(ckeras_last_error(), "None") != NULL, "%s", ckeras_last_error());
    ckeras_model_free(m);
    /* 0 is not a size */
    m = ckeras_sequential("zero");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){0})), CKERAS_EINVAL);
    ckeras_model_free(m);
}
END_TEST

static void roundtrip(const char *file)
{
    ckeras_model *m = seq_model(-1, false, 3);
    float x[2 * 7];
    fill_idx(x, 2, 7, 1);
    ckeras_tensor *want = predict(m, x, 2, (const int64_t[]){2, 7});
    const char *path = tu_tmp(file);
    ck_assert_msg(ckeras_model_save(m, path, 0) == CKERAS_OK, "%s", ckeras_last_error());
    ckeras_model *back = NULL;
    ck_assert_msg(ckeras_load_model(path, 0, &back) == CKERAS_OK, "%s: %s", file, ckeras_last_error());
    ck_assert_uint_eq(back->g.none[0], 1u);
    char *text = NULL;
    ck_assert_int_eq(ckeras_model_summary_string(back, 0, &text), CKERAS_OK);
    ck_assert_msg(strstr(text, "(None, None, 4)") != NULL, "%s", text);
    ckeras_free(text);
    ckeras_tensor *got = predict(back, x, 2, (const int64_t[]){2, 7});
    tu_assert_close(got->data, want->data, (size_t)ckeras_tensor_size(want), 0, 0, file);
    /* another length after loading */
    float x2[2 * 3] = {1, 2, 0, 4, 0, 0};
    ckeras_tensor *g2 = predict(back, x2, 2, (const int64_t[]){2, 3});
    ckeras_tensor *w2 = predict(m, x2, 2, (const int64_t[]){2, 3});
    tu_assert_close(g2->data, w2->data, (size_t)ckeras_tensor_size(w2), 0, 0, file);
    char *json = NULL;
    ck_assert_int_eq(ckeras_model_to_json(back, &json), CKERAS_OK);
    ck_assert_msg(strstr(json, "[null,null]") != NULL, "%s", json);
    ckeras_free(json);
    ckeras_tensor_free(g2);
    ckeras_tensor_free(w2);
    ckeras_tensor_free(got);
    ckeras_tensor_free(want);
    ckeras_model_free(back);
    ckeras_model_free(m);
}

START_TEST(none_save_load)
{
    tu_tmpdir_make("mask");
    roundtrip("none.h5");
    roundtrip("none.keras");
    tu_tmpdir_remove();
}
END_TEST

/* fit, evaluate and train_on_batch with one target per step on sequences of several lengths */
START_TEST(none_fit)
{
    ckeras_set_random_seed(11);
    ckeras_model *m = ckeras_sequential("tagger");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){-1})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_embedding(10, 8)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_gru(8, 1)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(2, "softmax")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(0.02), "sparse_categorical_crossentropy", "accuracy"),
                     CKERAS_OK);
    /* the target of a step: whether its index is odd */
    enum { N = 32 };
    float x6[N * 6], y6[N * 6], x4[N * 4], y4[N * 4];
    for (int i = 0; i < N * 6; i++) {
        x6[i] = (float)((i * 7 + i / 6) % 10);
        y6[i] = (float)((int)x6[i] % 2);
    }
    for (int i = 0; i < N * 4; i++) {
        x4[i] = (float)((i * 3 + 1) % 10);
        y4[i] = (float)((int)x4[i] % 2);
    }
    ckeras_tensor *tx6 = ckeras_tensor_wrap(x6, 2, (const int64_t[]){N, 6});
    ckeras_tensor *ty6 = ckeras_tensor_wrap(y6, 2, (const int64_t[]){N, 6});
    ckeras_tensor *tx4 = ckeras_tensor_wrap(x4, 2, (const int64_t[]){N, 4});
    ckeras_tensor *ty4 = ckeras_tensor_wrap(y4, 2, (const int64_t[]){N, 4});
    double first[2], last[2];
    ck_assert_int_eq(ckeras_model_evaluate(m, tx4, ty4, 32, first, 2), CKERAS_OK);
    ckeras_fit_args *fa = ckeras_fit_args_new();
    ckeras_fit_args_set_int(fa, "epochs", 30);
    ckeras_fit_args_set_int(fa, "verbose", 0);
    ckeras_fit_args_set_int(fa, "batch_size", 8);
    ckeras_history *h = NULL;
    ck_assert_msg(ckeras_model_fit(m, tx6, ty6, fa, &h) == CKERAS_OK, "%s", ckeras_last_error());
    ckeras_history_free(h);
    double r[2];
    for (int k = 0; k < 5; k++)
        ck_assert_msg(ckeras_model_train_on_batch(m, tx4, ty4, r, 2) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_model_evaluate(m, tx4, ty4, 32, last, 2), CKERAS_OK);
    ck_assert_msg(last[0] < 0.5 * first[0] && last[1] > 0.95, "loss %g -> %g, accuracy %g", first[0], last[0],
                  last[1]);
    /* a mismatched target length is an error that names the shapes */
    ck_assert_int_eq(ckeras_model_evaluate(m, tx6, ty4, 32, last, 2), CKERAS_ESHAPE);
    ckeras_fit_args_free(fa);
    ckeras_tensor_free(tx6);
    ckeras_tensor_free(ty6);
    ckeras_tensor_free(tx4);
    ckeras_tensor_free(ty4);
    ckeras_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("mask");
    TCase *tc = tcase_create("mask");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, keras_forward, 0, NCASES);
    tcase_add_test(tc, hand_simple_rnn);
    tcase_add_test(tc, keras3_functional_mask_files);
    tcase_add_loop_test(tc, masked_backward, 0, NCASES);
    tcase_add_test(tc, masking_dx);
    tcase_add_test(tc, masked_loss_training);
    tcase_add_test(tc, none_lengths_match_fixed);
    tcase_add_test(tc, none_conv1d_lengths);
    tcase_add_test(tc, none_summary_and_refusals);
    tcase_add_test(tc, none_save_load);
    tcase_add_test(tc, none_fit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
