/* The data-parallel training step (src/model/split.c): with two threads, a batch of a
 * convolutional model runs in two parts whose weight gradients are added. Each test trains the
 * same model from the same weights with the split on and off (the plain step: every layer on
 * the whole batch); the two sum the batch's gradient in another order, so they agree within
 * a relative tolerance, not bit for bit. Models the split does not take must give the same
 * bits both ways. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "ckeras.h"
#include "model/model.h"
#include "testutil.h"

#define OK(x) ck_assert_int_eq((x), CKERAS_OK)

static void setup(void)
{
    ckeras_set_num_threads(2);
}

static void teardown(void)
{
    ckeras_set_num_threads(0);
    ck_split_set_enabled(true);
}

static ckeras_layer *conv(int64_t filters, const char *padding)
{
    ckeras_layer *l = ckeras_conv2d(filters, 3, 3, "relu");
    ck_assert_ptr_nonnull(l);
    OK(ckeras_layer_set_str(l, "padding", padding));
    return l;
}

/* 8x8x2 -> conv 4 same -> maxpool 2 -> conv 6 valid -> flatten -> [mid] -> dense 3 softmax,
 * every weight from seed 7 */
static ckeras_model *small_cnn(ckeras_layer *mid)
{
    ckeras_set_random_seed(7);
    ckeras_model *m = ckeras_sequential("cnn");
    OK(ckeras_model_add(m, ckeras_input(3, (const int64_t[]){8, 8, 2})));
    OK(ckeras_model_add(m, conv(4, "same")));
    OK(ckeras_model_add(m, ckeras_max_pooling2d(2, 2)));
    OK(ckeras_model_add(m, conv(6, "valid")));
    OK(ckeras_model_add(m, ckeras_flatten()));
    if (mid)
        OK(ckeras_model_add(m, mid));
    OK(ckeras_model_add(m, ckeras_dense(3, "softmax")));
    return m;
}

/* x (n, 8, 8, 2) in [-1, 1) and labels 0..2, from a fixed formula */
static void data(int64_t n, ckeras_tensor **x, ckeras_tensor **y)
{
    *x = ckeras_tensor_new(4, (const int64_t[]){n, 8, 8, 2});
    *y = ckeras_tensor_new(1, (const int64_t[]){n});
    float *xd = ckeras_tensor_data(*x), *yd = ckeras_tensor_data(*y);
    for (int64_t i = 0; i < n * 128; i++)
        xd[i] = (float)((i * 7919) % 2000) / 1000.0f - 1.0f;
    for (int64_t i = 0; i < n; i++)
        yd[i] = (float)((i * 5) % 3);
}

/* |a - b| <= rtol * max|b| over the n values (the gradients' sums differ in order only) */
static void assert_near(const float *a, const float *b, size_t n, double rtol, const char *what)
{
    double big = 0, worst = 0;
    for (size_t e = 0; e < n; e++) {
        big = fmax(big, fabs(b[e]));
        worst = fmax(worst, fabs((double)a[e] - b[e]));
    }
    ck_assert_msg(big > 0, "%s: all zero", what);
    ck_assert_msg(worst <= rtol * big, "%s: differ by %g (largest value %g)", what, worst, big);
}

/* Two SGD steps (learning rate 0.1) on n samples with the split on or
 * off; the model's last gradient and new weights, the last step's loss and accuracy, and how far
 * the first layer's kernel moved in the second step. */
typedef struct step_out {
    float *grads, *params;
    size_t n;
    double res[2];
    bool split_ran;
    float frozen_moved; /* largest change of the first layer's kernel */
} step_out;

/* o's copies of m's gradients and weights and whether the split ran; frees m, x and y */
static step_out finish(step_out *o, ckeras_model *m, ckeras_tensor *x, ckeras_tensor *y)
{
    o->n = m->n_params;
    o->grads = malloc(o->n * sizeof(float));
    o->params = malloc(o->n * sizeof(float));
    memcpy(o->grads, m->grads, o->n * sizeof(float));
    memcpy(o->params, m->params, o->n * sizeof(float));
    o->split_ran = m->split != NULL;
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);
    return *o;
}

static step_out one_step(ckeras_layer *mid, bool split, int64_t n, bool freeze_first)
{
    ck_split_set_enabled(split);
    ckeras_model *m = small_cnn(mid);
    if (freeze_first)
        OK(ckeras_layer_set_trainable(ckeras_model_layer(m, 0), 0));
    OK(ckeras_model_compile(m, ckeras_sgd(0.1, 0.0, 0), "sparse_categorical_crossentropy", "accuracy"));
    ckeras_tensor *x, *y;
    data(n, &x, &y);
    step_out o = {0};
    OK(ckeras_model_train_on_batch(m, x, y, o.res, 2)); /* lays the weights out */
    const ck_weight *k0 = &ckeras_model_layer(m, 0)->w[0];
    float *k0_before = malloc((size_t)k0->size * sizeof(float));
    memcpy(k0_before, k0->data, (size_t)k0->size * sizeof(float));
    OK(ckeras_model_train_on_batch(m, x, y, o.res, 2));
    for (int64_t e = 0; e < k0->size; e++)
        o.frozen_moved = fmaxf(o.frozen_moved, fabsf(k0->data[e] - k0_before[e]));
    free(k0_before);
    return finish(&o, m, x, y);
}

static void step_free(step_out *o)
{
    free(o->grads);
    free(o->params);
}

START_TEST(split_step_equals_plain_step)
{
    /* 64 samples: parts of 32; 41: parts of 21 and 20 */
    const int64_t sizes[] = {64, 41};
    for (int s = 0; s < 2; s++) {
        step_out on = one_step(NULL, true, sizes[s], false);
        step_out off = one_step(NULL, false, sizes[s], false);
        ck_assert_msg(on.split_ran && !off.split_ran, "the split ran %d / %d", on.split_ran, off.split_ran);
        ck_assert_uint_eq(on.n, off.n);
        assert_near(on.grads, off.grads, on.n, 1e-6, "gradient");
        assert_near(on.params, off.params, on.n, 1e-6, "weights");
        ck_assert_msg(fabs(on.res[0] - off.res[0]) <= 1e-6 * fabs(off.res[0]), "loss %.9g vs %.9g", on.res[0],
                      off.res[0]);
        ck_assert_double_eq(on.res[1], off.res[1]); /* accuracy: the same predictions */
        step_free(&on);
        step_free(&off);
    }
}
END_TEST

/* A recurrent layer treats each sequence apart: its batch runs in parts too (each part steps
 * through time with its own half of the batch), with the same results as the plain step up to
 * the order of the gradients' sums. Input (6, 3) -> [the layer (5 units, the whole sequence)] ->
 * the layer (5 units, the last output) -> Dense 3 softmax; two SGD steps (the first sets the LSTM's forget-gate bias, so only the second may
 * split), for SimpleRNN, LSTM and GRU, one layer or two, and an LSTM after an Embedding. */
static step_out recurrent_step(int kind, bool seq, bool split)
{
    ck_split_set_enabled(split);
    ckeras_set_random_seed(11);
    ckeras_model *m = ckeras_sequential("rnn");
    const bool emb = kind == 3; /* kind 3: Embedding(20, 3) -> LSTM */
    if (emb) {
        OK(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){6})));
        OK(ckeras_model_add(m, ckeras_embedding(20, 3)));
        kind = 1;
    } else {
        OK(ckeras_model_add(m, ckeras_input(2, (const int64_t[]){6, 3})));
    }
    for (int k = seq ? 0 : 1; k < 2; k++) {
        const int s = k == 0; /* with seq, a first layer passes its sequence to a second one */
        OK(ckeras_model_add(m, kind == 0 ? ckeras_simple_rnn(5, s) : kind == 1 ? ckeras_lstm(5, s) : ckeras_gru(5, s)));
    }
    OK(ckeras_model_add(m, ckeras_dense(3, "softmax")));
    OK(ckeras_model_compile(m, ckeras_sgd(0.1, 0.0, 0), "sparse_categorical_crossentropy", "accuracy"));
    const int64_t n = 37; /* parts of 19 and 18 */
    ckeras_tensor *x = emb ? ckeras_tensor_new(2, (const int64_t[]){n, 6}) : ckeras_tensor_new(3, (const int64_t[]){n, 6, 3});
    ckeras_tensor *y = ckeras_tensor_new(1, (const int64_t[]){n});
    float *xd = ckeras_tensor_data(x), *yd = ckeras_tensor_data(y);
    for (int64_t i = 0; i < ckeras_tensor_size(x); i++)
        xd[i] = emb ? (float)((i * 7) % 20) : (float)((i * 7919) % 2000) / 1000.0f - 1.0f;
    for (int64_t i = 0; i < n; i++)
        yd[i] = (float)((i * 5) % 3);
    step_out o = {0};
    OK(ckeras_model_train_on_batch(m, x, y, o.res, 2));
    OK(ckeras_model_train_on_batch(m, x, y, o.res, 2));
    return finish(&o, m, x, y);
}

START_TEST(split_recurrent_equals_plain)
{
    for (int kind = 0; kind < 4; kind++)
        for (int seq = 0; seq < 2; seq++) {
            step_out on = recurrent_step(kind, seq, true);
            step_out off = recurrent_step(kind, seq, false);
            char what[64];
            snprintf(what, sizeof what, "kind %d seq %d: gradient", kind, seq);
            ck_assert_msg(on.split_ran && !off.split_ran, "kind %d seq %d: the split ran %d / %d", kind, seq,
                          on.split_ran, off.split_ran);
            ck_assert_uint_eq(on.n, off.n);
            assert_near(on.grads, off.grads, on.n, 1e-6, what);
            snprintf(what, sizeof what, "kind %d seq %d: weights", kind, seq);
            assert_near(on.params, off.params, on.n, 1e-6, what);
            ck_assert_msg(fabs(on.res[0] - off.res[0]) <= 1e-6 * fabs(off.res[0]), "loss %.9g vs %.9g", on.res[0],
                          off.res[0]);
            step_free(&on);
            step_free(&off);
        }
}
END_TEST

START_TEST(split_frozen_layer_stays)
{
    step_out on = one_step(NULL, true, 64, true);
    step_out off = one_step(NULL, false, 64, true);
    ck_assert(on.split_ran);
    assert_near(on.params, off.params, on.n, 1e-6, "weights");
    assert_near(on.grads, off.grads, on.n, 1e-6, "gradient");
    ck_assert_float_eq(on.frozen_moved, 0.0f); /* the frozen convolution kept every weight */
    step_free(&on);
    step_free(&off);
}
END_TEST

START_TEST(split_dropout_same_seed_same_run)
{
    step_out a = one_step(ckeras_dropout(0.5), true, 64, false);
    step_out b = one_step(ckeras_dropout(0.5), true, 64, false);
    ck_assert(a.split_ran);
    ck_assert_int_eq(memcmp(a.params, b.params, a.n * sizeof(float)), 0);
    /* rate 0: the dropout passes everything, and the run matches the plain one */
    step_out c = one_step(ckeras_dropout(0.0), true, 64, false);
    step_out d = one_step(ckeras_dropout(0.0), false, 64, false);
    assert_near(c.params, d.params, c.n, 1e-6, "weights");
    step_free(&a);
    step_free(&b);
    step_free(&c);
    step_free(&d);
}
END_TEST

START_TEST(split_not_taken_gives_same_bits)
{
    /* case 0: BatchNormalization's statistics couple the samples; case 1: a batch of 12 has
     * parts under 8 samples */
    for (int c = 0; c < 2; c++) {
        const int64_t n = c == 0 ? 64 : 12;
        step_out on = one_step(c == 0 ? ckeras_batch_normalization() : NULL, true, n, false);
        step_out off = one_step(c == 0 ? ckeras_batch_normalization() : NULL, false, n, false);
        ck_assert_msg(!on.split_ran, "case %d: the split ran", c);
        ck_assert_int_eq(memcmp(on.params, off.params, on.n * sizeof(float)), 0);
        ck_assert_double_eq(on.res[0], off.res[0]);
        step_free(&on);
        step_free(&off);
    }
}
END_TEST

/* A functional model with two outputs: a softmax head and a linear one, loss weights 1 and
 * 0.25 (mse on a one-value target). */
static ckeras_model *two_heads(void)
{
    ckeras_set_random_seed(11);
    ckeras_model *m = ckeras_functional("heads");
    int x, h, p, f, a, b;
    OK(ckeras_model_input(m, ckeras_input(3, (const int64_t[]){8, 8, 2}), &x));
    OK(ckeras_model_call(m, conv(4, "same"), 1, &x, &h));
    OK(ckeras_model_call(m, ckeras_max_pooling2d(2, 2), 1, &h, &p));
    OK(ckeras_model_call(m, ckeras_flatten(), 1, &p, &f));
    OK(ckeras_model_call(m, ckeras_dense(3, "softmax"), 1, &f, &a));
    OK(ckeras_model_call(m, ckeras_dense(1, NULL), 1, &f, &b));
    OK(ckeras_model_set_outputs(m, 2, (const int[]){a, b}));
    OK(ckeras_model_compile_outputs(m, ckeras_sgd(0.5, 0.0, 0), 2, NULL,
                                    (const char *const[]){"sparse_categorical_crossentropy", "mse"},
                                    (const double[]){1.0, 0.25}, NULL));
    return m;
}

START_TEST(split_two_outputs_equal_plain)
{
    ckeras_tensor *x, *y;
    data(48, &x, &y);
    ckeras_tensor *t = ckeras_tensor_new(2, (const int64_t[]){48, 1});
    for (int64_t i = 0; i < 48; i++)
        ckeras_tensor_data(t)[i] = (float)i / 48.0f - 0.5f;
    const ckeras_tensor *ys[2] = {y, t};
    const ckeras_tensor *xs[1] = {x};
    float *params[2];
    double res[2][3];
    size_t np = 0;
    for (int s = 0; s < 2; s++) {
        ck_split_set_enabled(s == 0);
        ckeras_model *m = two_heads();
        OK(ckeras_model_train_on_batch_multi(m, 1, xs, 2, ys, res[s], 3));
        ck_assert(s == 0 ? m->split != NULL : m->split == NULL);
        np = m->n_params;
        params[s] = malloc(np * sizeof(float));
        memcpy(params[s], m->params, np * sizeof(float));
        ckeras_model_free(m);
    }
    assert_near(params[0], params[1], np, 1e-6, "weights");
    for (int k = 0; k < 3; k++) /* the total loss and each output's */
        ck_assert_msg(fabs(res[0][k] - res[1][k]) <= 1e-6 * fabs(res[1][k]), "result %d: %.9g vs %.9g", k,
                      res[0][k], res[1][k]);
    free(params[0]);
    free(params[1]);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_tensor_free(t);
}
END_TEST

/* Called inside another parallel region, the step's team has one thread, which runs both
 * parts (their own buffers, rows and generators): the same bits as two threads. */
START_TEST(split_team_of_one_runs_every_part)
{
    float *params[2];
    size_t np = 0;
    for (int s = 0; s < 2; s++) {
        ckeras_model *m = small_cnn(ckeras_dropout(0.3));
        OK(ckeras_model_compile(m, ckeras_sgd(0.1, 0.0, 0), "sparse_categorical_crossentropy", NULL));
        ckeras_tensor *x, *y;
        data(64, &x, &y);
        double res[1];
        ckeras_status st = CKERAS_OK;
        if (s == 0) {
            st = ckeras_model_train_on_batch(m, x, y, res, 1);
        } else {
#pragma omp parallel num_threads(2)
            {
#pragma omp master
                st = ckeras_model_train_on_batch(m, x, y, res, 1);
            }
        }
        OK(st);
        ck_assert(m->split != NULL);
        np = m->n_params;
        params[s] = malloc(np * sizeof(float));
        memcpy(params[s], m->params, np * sizeof(float));
        ckeras_tensor_free(x);
        ckeras_tensor_free(y);
        ckeras_model_free(m);
    }
    ck_assert_int_eq(memcmp(params[0], params[1], np * sizeof(float)), 0);
    free(params[0]);
    free(params[1]);
}
END_TEST

START_TEST(split_predict_and_evaluate_same_bits)
{
    /* the forward in parts: on AVX-512 every row of every product is summed in the same order
     * at any batch size, so the outputs are the plain forward's bit for bit */
    ckeras_tensor *x, *y;
    data(70, &x, &y);
    ckeras_tensor *out[2];
    double res[2][2];
    for (int s = 0; s < 2; s++) {
        ck_split_set_enabled(s == 0);
        ckeras_model *m = small_cnn(NULL);
        OK(ckeras_model_compile(m, ckeras_adam(1e-3), "sparse_categorical_crossentropy", "accuracy"));
        OK(ckeras_model_predict(m, x, 35, &out[s])); /* parts of 18 and 17 */
        ck_assert(s == 0 ? m->split != NULL : m->split == NULL);
        OK(ckeras_model_evaluate(m, x, y, 70, res[s], 2));
        ckeras_model_free(m);
    }
    if (ck_gemm_driver()) { /* AVX-512: every product row is summed in one order at any batch size */
        ck_assert_int_eq(memcmp(ckeras_tensor_data(out[0]), ckeras_tensor_data(out[1]), 70 * 3 * sizeof(float)), 0);
        ck_assert_double_eq(res[0][0], res[1][0]);
    } else { /* BLIS may block a product of another size its own way */
        assert_near(ckeras_tensor_data(out[0]), ckeras_tensor_data(out[1]), 70 * 3, 1e-6, "predictions");
        ck_assert(fabs(res[0][0] - res[1][0]) <= 1e-6 * fabs(res[1][0]));
    }
    ck_assert_double_eq(res[0][1], res[1][1]);
    ckeras_tensor_free(out[0]);
    ckeras_tensor_free(out[1]);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("split");
    TCase *tc = tcase_create("split");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, split_step_equals_plain_step);
    tcase_add_test(tc, split_frozen_layer_stays);
    tcase_add_test(tc, split_dropout_same_seed_same_run);
    tcase_add_test(tc, split_not_taken_gives_same_bits);
    tcase_add_test(tc, split_two_outputs_equal_plain);
    tcase_add_test(tc, split_predict_and_evaluate_same_bits);
    tcase_add_test(tc, split_team_of_one_runs_every_part);
    tcase_add_test(tc, split_recurrent_equals_plain);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
