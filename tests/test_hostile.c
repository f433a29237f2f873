/* Hostile callers (issue #16, "every documented contract holds"): arguments the header says may
 * be NULL, calls made from a callback on the model being fitted, setters given what the
 * constructors refuse, unknown flag bits, out-of-range sizes, and error messages that quote
 * themselves or outgrow the buffer. Each case must give a clear status and message, never a
 * crash (run under ASan + UBSan too). */
#include "testutil.h"

#include "ckeras.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api_ids.h"

#define N 16
#define D 4

static ckeras_tensor *x_data(void)
{
    ckeras_tensor *t = ckeras_tensor_new(2, (const int64_t[]){N, D});
    for (int64_t i = 0; i < N * D; i++)
        ckeras_tensor_data(t)[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
    return t;
}

static ckeras_tensor *y_data(void)
{
    ckeras_tensor *t = ckeras_tensor_new(2, (const int64_t[]){N, 1});
    for (int64_t i = 0; i < N; i++)
        ckeras_tensor_data(t)[i] = (float)(i % 2);
    return t;
}

/* Input(4) -> Dense(3, relu) -> Dense(1, sigmoid), compiled with a metric. */
static ckeras_model *small_model(void)
{
    ckeras_model *m = ckeras_sequential("hostile");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){D})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(3, "relu")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(1, "sigmoid")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.01, 0, 0), "binary_crossentropy", "accuracy"), CKERAS_OK);
    return m;
}

/* Silent fit keywords with callback cb (NULL: none). */
static ckeras_fit_args *quiet_args(ckeras_callback *cb, int epochs)
{
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "verbose", 0);
    ckeras_fit_args_set_int(a, "epochs", epochs);
    if (cb)
        ckeras_fit_args_add_callback(a, cb);
    return a;
}

static void assert_error(ckeras_status got, ckeras_status want, const char *part)
{
    ck_assert_msg(got == want, "status %s, expected %s (%s)", ckeras_status_name(got), ckeras_status_name(want),
                  ckeras_last_error());
    ck_assert_msg(strstr(ckeras_last_error(), part) != NULL, "message '%s' lacks '%s'", ckeras_last_error(), part);
}

/* ---- results "may be NULL" ---------------------------------------------------------------- */

START_TEST(results_may_be_null)
{
    ckeras_tensor *x = x_data(), *y = y_data();
    ckeras_model *m = small_model();
    const ckeras_tensor *xs[] = {x}, *ys[] = {y};
    ck_assert_int_eq(ckeras_model_train_on_batch(m, x, y, NULL, 2), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_evaluate(m, x, y, 0, NULL, 2), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_train_on_batch_multi(m, 1, xs, 1, ys, NULL, 2), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 1, xs, 1, ys, 0, NULL, 2), CKERAS_OK);
    /* a capacity below the count, or negative, writes what fits */
    double r[1] = {-1};
    ck_assert_int_eq(ckeras_model_evaluate(m, x, y, 0, r, 1), CKERAS_OK);
    ck_assert(r[0] >= 0);
    ck_assert_int_eq(ckeras_model_evaluate(m, x, y, 0, r, -5), CKERAS_OK);
    /* count_params: any pointer may be NULL; fit: history may be NULL */
    ck_assert_int_eq(ckeras_model_count_params(m, NULL, NULL, NULL), CKERAS_OK);
    ckeras_fit_args *a = quiet_args(NULL, 1);
    ck_assert_int_eq(ckeras_model_fit(m, x, y, a, NULL), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_fit(m, x, y, NULL, NULL), CKERAS_OK);
    ckeras_fit_args_free(a);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

/* Every other argument the header says may be NULL. */
START_TEST(documented_nulls_hold)
{
    tu_tmpdir_make("hostile");
    ckeras_tensor *x = x_data(), *y = y_data();
    ckeras_layer *l = ckeras_random_flip(NULL);
    ck_assert_ptr_nonnull(l);
    ckeras_layer_free(l);
    l = ckeras_bidirectional(ckeras_lstm(2, 0), NULL);
    ck_assert_ptr_nonnull(l);
    ckeras_layer_free(l);
    ckeras_callback *cb = ckeras_model_checkpoint(tu_tmp("ck.h5"), NULL, 0);
    ck_assert_ptr_nonnull(cb);
    ckeras_callback_free(cb);
    ckeras_fit_args *a = quiet_args(NULL, 1);
    ck_assert_int_eq(ckeras_fit_args_set_validation_data(a, NULL, NULL), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_validation_data_multi(a, 0, NULL, 0, NULL), CKERAS_OK);

    /* two outputs, the second without a loss (NULL) and so without a target (NULL) */
    ckeras_model *m = ckeras_functional(NULL);
    int in = id_input(m, ckeras_input(1, (const int64_t[]){D}));
    int o[2] = {id_call(m, ckeras_dense(1, "sigmoid"), 1, &in), id_call(m, ckeras_dense(2, NULL), 1, &in)};
    ck_assert_int_eq(ckeras_model_set_outputs(m, 2, o), CKERAS_OK);
    ck_assert_ptr_null(ckeras_model_layer_by_name(m, NULL));
    ck_assert_int_eq(ckeras_model_compile_outputs(m, NULL, 2, NULL, (const char *const[]){"binary_crossentropy", NULL},
                                                  NULL, NULL),
                     CKERAS_OK);
    const ckeras_tensor *xs[] = {x}, *ys[] = {y, NULL};
    ck_assert_int_eq(ckeras_model_fit_multi(m, 1, xs, 2, ys, a, NULL), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_fit_multi(m, 1, xs, 2, ys, NULL, NULL), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_evaluate_multi(m, 1, xs, 2, ys, 0, NULL, 3), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_train_on_batch_multi(m, 1, xs, 2, ys, NULL, 3), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile_outputs(m, NULL, 1, (const char *const[]){ckeras_model_output_name(m, 0)},
                                                  (const char *const[]){"mse"}, NULL, (const char *const[]){NULL}),
                     CKERAS_OK);
    ck_assert_int_eq(ckeras_model_train_on_batch_multi(m, 1, xs, 2, ys, NULL, 0), CKERAS_OK);
    ckeras_model_free(m);
    ckeras_fit_args_free(a);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    tu_tmpdir_remove();
}
END_TEST

/* ---- calls from a callback on the model being fitted ------------------------------------- */

enum { TRY_ADD, TRY_POP, TRY_COMPILE, TRY_SET_TRAINABLE, TRY_LAYER_TRAINABLE, TRY_LOSS, TRY_LOAD_WEIGHTS,
       TRY_CALL_MODEL, TRY_FREE, TRY_CALLBACK_FREE, TRY_PREDICT, TRY_FIT, TRY_SAVE, TRY_SAVE_WEIGHTS, TRY_COUNT };

typedef struct reentry {
    ckeras_model *m, *other;
    ckeras_callback *self;
    ckeras_fit_args *args; /* freed by the callback: fit runs on its own copy */
    const ckeras_tensor *x, *y;
    const char *h5, *weights;
    bool done;
    ckeras_status st[TRY_COUNT];
    char msg[TRY_COUNT][160];
} reentry;

static ckeras_status reenter(ckeras_event ev, int index, const ckeras_logs *logs, void *user)
{
    reentry *r = user;
    if (ev != CKERAS_BATCH_END || r->done)
        return CKERAS_OK;
    r->done = true;
    ckeras_tensor *out = NULL;
    for (int k = 0; k < TRY_COUNT; k++) {
        ckeras_status st = CKERAS_OK;
        switch (k) {
        case TRY_ADD: st = ckeras_model_add(r->m, ckeras_dense(2, NULL)); break;
        case TRY_POP: st = ckeras_model_pop(r->m); break;
        case TRY_COMPILE: st = ckeras_model_compile(r->m, NULL, "mse", NULL); break;
        case TRY_SET_TRAINABLE: st = ckeras_model_set_trainable(r->m, 0); break;
        case TRY_LAYER_TRAINABLE: st = ckeras_layer_set_trainable(ckeras_model_layer(r->m, 0), 0); break;
        case TRY_LOSS: st = ckeras_model_set_loss_float(r->m, "from_logits", 1); break;
        case TRY_LOAD_WEIGHTS: st = ckeras_model_load_weights(r->m, r->weights, 0); break;
        case TRY_CALL_MODEL: {
            int in = id_input(r->other, ckeras_input(1, (const int64_t[]){D}));
            int id = id_call_model(r->other, r->m, 1, &in, -1);
            st = id >= 0 ? CKERAS_OK : strstr(ckeras_last_error(), "in use") ? CKERAS_ESTATE : CKERAS_EINVAL;
            break;
        }
        case TRY_FREE:
            ckeras_model_free(r->m); /* refused: the model lives on */
            st = strstr(ckeras_last_error(), "not freed") ? CKERAS_ESTATE : CKERAS_OK;
            break;
        case TRY_CALLBACK_FREE:
            ckeras_callback_free(r->self); /* refused: fit is running it */
            st = strstr(ckeras_last_error(), "not freed") ? CKERAS_ESTATE : CKERAS_OK;
            break;
        case TRY_PREDICT: st = ckeras_model_predict(r->m, r->x, 0, &out); break;
        case TRY_FIT: st = ckeras_model_fit(r->m, r->x, r->y, NULL, NULL); break;
        case TRY_SAVE: st = ckeras_model_save(r->m, r->h5, 0); break;
        case TRY_SAVE_WEIGHTS: st = ckeras_model_save_weights(r->m, r->weights); break;
        }
        r->st[k] = st;
        snprintf(r->msg[k], sizeof r->msg[k], "%s", st == CKERAS_OK ? "" : ckeras_last_error());
    }
    ckeras_tensor_free(out);
    ckeras_fit_args_free(r->args);
    r->args = NULL;
    return CKERAS_OK;
}

START_TEST(callback_reentry_rule)
{
    tu_tmpdir_make("hostile");
    ckeras_tensor *x = x_data(), *y = y_data();
    ckeras_model *m = small_model();
    int64_t before = 0;
    ckeras_model_count_params(m, &before, NULL, NULL);
    reentry r = {.m = m, .other = ckeras_functional("outer"), .x = x, .y = y};
    r.h5 = tu_tmp("from_callback.h5");
    char weights[512];
    snprintf(weights, sizeof weights, "%s", tu_tmp("from_callback_w.h5"));
    r.weights = weights;
    ck_assert_int_eq(ckeras_model_save_weights(m, r.weights), CKERAS_OK);
    ckeras_callback *cb = ckeras_lambda_callback(reenter, &r);
    ckeras_fit_args *a = quiet_args(cb, 2);
    r.self = cb;
    r.args = a;
    ckeras_history *h = NULL;
    ck_assert_int_eq(ckeras_model_fit(m, x, y, a, &h), CKERAS_OK);
    ck_assert_int_eq(ckeras_history_epochs(h), 2); /* the keywords freed in epoch 0 still held */
    ckeras_history_free(h);
    ck_assert(r.done);
    ck_assert_ptr_null(r.args);
    for (int k = 0; k < TRY_COUNT; k++) {
        ckeras_status want = k == TRY_SAVE || k == TRY_SAVE_WEIGHTS ? CKERAS_OK : CKERAS_ESTATE;
        ck_assert_msg(r.st[k] == want, "call %d from a callback: %s, expected %s (%s)", k, ckeras_status_name(r.st[k]),
                      ckeras_status_name(want), r.msg[k]);
        if (want == CKERAS_ESTATE && k != TRY_FREE && k != TRY_CALLBACK_FREE && k != TRY_CALL_MODEL)
            ck_assert_msg(strstr(r.msg[k], "in use") != NULL, "call %d: %s", k, r.msg[k]);
    }
    /* the model is whole, and the file saved from the callback loads */
    ck_assert_int_eq(ckeras_model_layer_count(m), 2);
    int64_t after = 0;
    ckeras_model_count_params(m, &after, NULL, NULL);
    ck_assert_int_eq(after, before);
    ck_assert_int_eq(ckeras_layer_trainable(ckeras_model_layer(m, 0)), 1);
    ckeras_model *back = NULL;
    ck_assert_int_eq(ckeras_load_model(r.h5, 0, &back), CKERAS_OK);
    ckeras_model_free(back);
    /* after fit, everything is allowed again */
    ck_assert_int_eq(ckeras_model_pop(m), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(1, "sigmoid")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, NULL, "binary_crossentropy", NULL), CKERAS_OK);
    ckeras_callback_free(cb);
    ckeras_model_free(r.other);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    tu_tmpdir_remove();
}
END_TEST

/* A base model called inside the model being fitted shares its layers: changing or training the
 * base from a callback would lay their weights out under the running fit. */
typedef struct base_try {
    ckeras_model *base;
    const ckeras_tensor *x;
    int tried;
    ckeras_status st[3];
    char msg[3][200];
} base_try;

static ckeras_status touch_base(ckeras_event ev, int index, const ckeras_logs *logs, void *user)
{
    base_try *b = user;
    if (ev != CKERAS_EPOCH_END || b->tried)
        return CKERAS_OK;
    ckeras_tensor *y = ckeras_tensor_new(2, (const int64_t[]){N, 3});
    b->st[0] = ckeras_model_compile(b->base, NULL, "mse", NULL);
    snprintf(b->msg[0], sizeof b->msg[0], "%s", ckeras_last_error());
    b->st[1] = ckeras_model_train_on_batch(b->base, b->x, y, NULL, 0);
    snprintf(b->msg[1], sizeof b->msg[1], "%s", ckeras_last_error());
    b->st[2] = ckeras_model_pop(b->base);
    snprintf(b->msg[2], sizeof b->msg[2], "%s", ckeras_last_error());
    b->tried = 1;
    ckeras_tensor_free(y);
    return CKERAS_OK;
}

START_TEST(base_of_a_running_fit)
{
    ckeras_tensor *x = x_data(), *y = y_data();
    ckeras_model *base = ckeras_sequential("base");
    ck_assert_int_eq(ckeras_model_add(base, ckeras_input(1, (const int64_t[]){D})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(base, ckeras_dense(3, "relu")), CKERAS_OK);
    ckeras_model *m = ckeras_functional("outer");
    int in = id_input(m, ckeras_input(1, (const int64_t[]){D}));
    int h = id_call_model(m, base, 1, &in, -1);
    ck_assert_int_ge(h, 0);
    int o = id_call(m, ckeras_dense(1, "sigmoid"), 1, &h);
    ck_assert_int_eq(ckeras_model_set_outputs(m, 1, &o), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, NULL, "binary_crossentropy", NULL), CKERAS_OK);
    base_try b = {.base = base, .x = x};
    ckeras_callback *cb = ckeras_lambda_callback(touch_base, &b);
    ckeras_fit_args *a = quiet_args(cb, 1);
    ck_assert_int_eq(ckeras_model_fit(m, x, y, a, NULL), CKERAS_OK);
    ck_assert_int_eq(b.tried, 1);
    for (int k = 0; k < 3; k++) {
        ck_assert_msg(b.st[k] == CKERAS_ESTATE, "call %d: %s (%s)", k, ckeras_status_name(b.st[k]), b.msg[k]);
        ck_assert_msg(strstr(b.msg[k], "shares layer") != NULL, "call %d: %s", k, b.msg[k]);
    }
    ck_assert_int_eq(ckeras_model_fit(m, x, y, a, NULL), CKERAS_OK); /* the outer model is whole */
    ckeras_fit_args_free(a);
    ckeras_callback_free(cb);
    ckeras_model_free(m);
    ckeras_model_free(base);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

/* ---- setters are as strict as constructors ------------------------------------------------ */

START_TEST(setters_match_constructors)
{
    ckeras_callback *es = ckeras_early_stopping(NULL, 3);
    ck_assert_ptr_null(ckeras_early_stopping(NULL, -1));
    assert_error(ckeras_callback_set_float(es, "patience", -1), CKERAS_EINVAL, "patience");
    assert_error(ckeras_callback_set_float(es, "start_from_epoch", -2), CKERAS_EINVAL, "start_from_epoch");
    assert_error(ckeras_callback_set_float(es, "patience", 1.5), CKERAS_EINVAL, "int");
    assert_error(ckeras_callback_set_float(es, "patience", NAN), CKERAS_EINVAL, "patience");
    assert_error(ckeras_callback_set_float(es, "min_delta", INFINITY), CKERAS_EINVAL, "finite");
    assert_error(ckeras_callback_set_float(es, "restore_best_weights", 2), CKERAS_EINVAL, "bool");
    ck_assert_int_eq(ckeras_callback_set_float(es, "baseline", NAN), CKERAS_OK); /* None */
    ck_assert_int_eq(ckeras_callback_set_float(es, "patience", 0), CKERAS_OK);
    ck_assert_ptr_null(ckeras_early_stopping("", 1));
    assert_error(ckeras_callback_set_str(es, "monitor", ""), CKERAS_EINVAL, "monitor");
    ckeras_callback_free(es);
    ck_assert_ptr_null(ckeras_model_checkpoint("m.h5", "", 0));
    ckeras_callback *ck = ckeras_model_checkpoint("m.h5", NULL, 0);
    assert_error(ckeras_callback_set_str(ck, "filepath", ""), CKERAS_EINVAL, "filepath");
    assert_error(ckeras_callback_set_float(ck, "verbose", NAN), CKERAS_EINVAL, "verbose");
    ckeras_callback_free(ck);

    /* layers: the values the typed constructors refuse */
    ck_assert_ptr_null(ckeras_dense(0, NULL));
    ckeras_layer *d = ckeras_dense(2, NULL);
    assert_error(ckeras_layer_set_int(d, "units", 0), CKERAS_EINVAL, "units");
    assert_error(ckeras_layer_set_float(d, "units", NAN), CKERAS_EINVAL, "units");
    ck_assert_int_eq(ckeras_layer_set_int(d, "units", 5), CKERAS_OK);
    assert_error(ckeras_layer_set_trainable(d, 7), CKERAS_EINVAL, "0 or 1");
    ck_assert_ptr_null(ckeras_dense(2, "bogus"));
    assert_error(ckeras_layer_set_str(d, "activation", "bogus"), CKERAS_EINVAL, "bogus");
    assert_error(ckeras_layer_set_str(d, "kernel_initializer", "bogus_init"), CKERAS_EINVAL, "bogus_init");
    ck_assert_int_eq(ckeras_layer_set_str(d, "activation", "tanh"), CKERAS_OK);
    ck_assert_int_eq(ckeras_layer_set_str(d, "kernel_initializer", "he_normal"), CKERAS_OK);
    ckeras_layer_free(d);
    ck_assert_ptr_null(ckeras_dropout(1.5));
    ckeras_layer *dr = ckeras_dropout(0.5);
    assert_error(ckeras_layer_set_float(dr, "rate", 1.5), CKERAS_EINVAL, "rate");
    assert_error(ckeras_layer_set_float(dr, "rate", NAN), CKERAS_EINVAL, "rate");
    ckeras_layer_free(dr);
    ck_assert_ptr_null(ckeras_conv2d(4, 0, 3, NULL));
    ckeras_layer *c = ckeras_conv2d(4, 3, 3, NULL);
    assert_error(ckeras_layer_set_ints(c, "kernel_size", 2, (const int64_t[]){3, 0}), CKERAS_EINVAL, "kernel_size");
    assert_error(ckeras_layer_set_int(c, "strides", -1), CKERAS_EINVAL, "strides");
    assert_error(ckeras_layer_set_int(c, "filters", 0), CKERAS_EINVAL, "filters");
    ckeras_layer_free(c);
    ck_assert_ptr_null(ckeras_lstm(0, 0));
    ckeras_layer *l = ckeras_lstm(4, 0);
    assert_error(ckeras_layer_set_int(l, "units", -3), CKERAS_EINVAL, "units");
    ckeras_layer_free(l);
    ck_assert_ptr_null(ckeras_embedding(0, 2));
    ckeras_layer *e = ckeras_embedding(10, 2);
    assert_error(ckeras_layer_set_int(e, "input_dim", 0), CKERAS_EINVAL, "input_dim");
    ckeras_layer_free(e);
    /* the same rule holds for configs */
    ck_assert_ptr_null(ckeras_layer_from_config("Dense", "{\"units\": -4}"));
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "units"));
    ck_assert_ptr_null(ckeras_layer_from_config("Dropout", "{\"rate\": 2.0}"));

    /* optimizers: constructors and setters share one check */
    ckeras_optimizer *o = ckeras_sgd(0.01, 0.5, 0);
    assert_error(ckeras_optimizer_set_float(o, "momentum", 1.5), CKERAS_EINVAL, "momentum");
    assert_error(ckeras_optimizer_set_float(o, "learning_rate", NAN), CKERAS_EINVAL, "learning_rate");
    ckeras_optimizer_free(o);
    ck_assert_ptr_null(ckeras_sgd(0.01, 1.5, 0));

    /* loss settings */
    ckeras_model *m = small_model();
    assert_error(ckeras_model_set_loss_float(m, "from_logits", NAN), CKERAS_EINVAL, "from_logits");
    assert_error(ckeras_model_set_loss_float(m, "from_logits", 0.5), CKERAS_EINVAL, "from_logits");
    assert_error(ckeras_model_set_loss_float(m, "delta", INFINITY), CKERAS_EINVAL, "delta");
    assert_error(ckeras_model_set_loss_float(m, "delta", NAN), CKERAS_EINVAL, "delta");
    ck_assert_int_eq(ckeras_model_set_loss_float(m, "from_logits", 1), CKERAS_OK);
    ckeras_model_free(m);

    /* fit keywords */
    ckeras_fit_args *a = ckeras_fit_args_new();
    assert_error(ckeras_fit_args_set_float(a, "epochs", NAN), CKERAS_EINVAL, "epochs");
    assert_error(ckeras_fit_args_set_float(a, "epochs", 1e300), CKERAS_EINVAL, "epochs");
    assert_error(ckeras_fit_args_set_int(a, "batch_size", 0), CKERAS_EINVAL, "batch_size");
    assert_error(ckeras_fit_args_set_float(a, "validation_split", NAN), CKERAS_EINVAL, "validation_split");
    ckeras_fit_args_free(a);
}
END_TEST

/* ---- flags -------------------------------------------------------------------------------- */

START_TEST(unknown_flags_refused)
{
    tu_tmpdir_make("hostile");
    ckeras_model *m = small_model();
    const char *path = tu_tmp("flags.h5");
    assert_error(ckeras_model_save(m, path, 8), CKERAS_EINVAL, "unknown flags");
    ck_assert_int_eq(ckeras_model_save(m, path, 0), CKERAS_OK);
    assert_error(ckeras_model_load_weights(m, path, -1), CKERAS_EINVAL, "unknown flags");
    assert_error(ckeras_model_load_weights(m, path, 4), CKERAS_EINVAL, "CKERAS_WEIGHTS_BY_NAME");
    ck_assert_int_eq(ckeras_model_load_weights(m, path, CKERAS_WEIGHTS_BY_NAME | CKERAS_WEIGHTS_SKIP_MISMATCH),
                     CKERAS_OK);
    ckeras_model *back = (ckeras_model *)1;
    assert_error(ckeras_load_model(path, 2, &back), CKERAS_EINVAL, "unknown flags");
    ck_assert_ptr_null(back);
    assert_error(ckeras_load_model(path, INT_MIN, &back), CKERAS_EINVAL, "CKERAS_LOAD_NO_COMPILE");
    char *dot = NULL;
    assert_error(ckeras_model_to_dot(m, 16, &dot), CKERAS_EINVAL, "unknown flags");
    ck_assert_ptr_null(dot);
    ckeras_model_free(m);
    tu_tmpdir_remove();
}
END_TEST

/* ---- summary line length ------------------------------------------------------------------ */

START_TEST(summary_line_length)
{
    ckeras_model *m = small_model();
    char *s = NULL;
    assert_error(ckeras_model_summary_string(m, 9, &s), CKERAS_EINVAL, "too small");
    ck_assert_ptr_null(s);
    assert_error(ckeras_model_summary_string(m, INT_MAX, &s), CKERAS_EINVAL, "too large");
    assert_error(ckeras_model_summary_string(m, 1 << 26, &s), CKERAS_EINVAL, "at most 1024");
    assert_error(ckeras_model_summary(m, 1025, NULL), CKERAS_EINVAL, "too large");
    ck_assert_int_eq(ckeras_model_summary_string(m, 1024, &s), CKERAS_OK);
    ck_assert_ptr_nonnull(strstr(s, "Total params"));
    ckeras_free(s);
    ck_assert_int_eq(ckeras_model_summary_string(m, 0, &s), CKERAS_OK);
    ckeras_free(s);
    ck_assert_int_eq(ckeras_model_summary_string(m, INT_MIN, &s), CKERAS_OK); /* <= 0: Keras' width */
    ckeras_free(s);
    ckeras_model_free(m);
}
END_TEST

/* ---- error messages ----------------------------------------------------------------------- */

START_TEST(message_quoting_itself)
{
    ck_assert_ptr_null(ckeras_dense(0, NULL));
    char cause[256];
    snprintf(cause, sizeof cause, "%s", ckeras_last_error());
    ck_assert_ptr_nonnull(strstr(cause, "units must be > 0"));
    ck_assert_ptr_null(ckeras_bidirectional(NULL, NULL));
    const char *msg = ckeras_last_error();
    ck_assert_msg(strncmp(msg, "bidirectional: layer is NULL", 28) == 0, "%s", msg);
    ck_assert_msg(strstr(msg, cause) != NULL, "'%s' lacks the cause '%s'", msg, cause);
    /* and again, quoting a message that already quotes one */
    ckeras_model *m = ckeras_sequential(NULL);
    ck_assert_int_eq(ckeras_model_add(m, NULL), CKERAS_EINVAL);
    msg = ckeras_last_error();
    ck_assert_msg(strncmp(msg, "model_add: layer is NULL", 24) == 0, "%s", msg);
    ck_assert_msg(strstr(msg, cause) != NULL, "'%s' lacks the cause '%s'", msg, cause);
    ckeras_model_free(m);
}
END_TEST

START_TEST(long_message_keeps_its_cause)
{
    char path[4001];
    memset(path, 'a', sizeof path - 1);
    path[0] = '/';
    memcpy(path + 1, "no_such_dir/", 12);
    memcpy(path + sizeof path - 4, ".h5", 3);
    path[sizeof path - 1] = '\0';
    ckeras_model *m = NULL;
    ckeras_status st = ckeras_load_model(path, 0, &m);
    ck_assert_int_ne(st, CKERAS_OK);
    ck_assert_ptr_null(m);
    const char *msg = ckeras_last_error();
    size_t n = strlen(msg);
    ck_assert_msg(n > 900 && n < 1024, "length %zu", n);
    ck_assert_msg(strncmp(msg, "load_model", 10) == 0, "%s", msg);
    ck_assert_ptr_nonnull(strstr(msg, "..."));
    /* ends with the reason, not inside the path */
    const char *why = strerror(ENOENT);
    ck_assert_msg(n > strlen(why) && strcmp(msg + n - strlen(why), why) == 0, "the cause is lost: ...%s",
                  msg + n - 80);

    /* a short message is untouched; a long ck_error_prefix keeps the new prefix and the old cause */
    ckeras_layer *d = ckeras_dense(2, NULL);
    char name[1500];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    assert_error(ckeras_layer_set_int(d, name, 1), CKERAS_EINVAL, "Dense: unknown setting");
    msg = ckeras_last_error();
    n = strlen(msg);
    ck_assert_msg(n < 1024 && strstr(msg, "accepted: units") != NULL, "%s", msg);
    ckeras_layer_free(d);
}
END_TEST

/* A layer call refused after its node was appended (here: BatchNormalization over a None axis,
 * whose weights would depend on it) takes the node out again; the model's output must go back
 * to the last call that stood, not name the freed layer (found by fuzz_api: a use after free
 * in model_to_json under ASan). */
START_TEST(refused_call_keeps_the_last_output)
{
    ckeras_model *m = ckeras_functional("f");
    int in = id_input(m, ckeras_input(2, (const int64_t[]){-1, 4}));
    int d = id_call(m, ckeras_dense(3, NULL), 1, &in);
    ck_assert_int_ge(d, 0);
    ckeras_layer *bn = ckeras_batch_normalization();
    ck_assert_int_eq(ckeras_layer_set_int(bn, "axis", 1), CKERAS_OK);
    ck_assert_int_eq(id_call(m, bn, 1, &d), -1);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "None"));
    char *json = NULL;
    ck_assert_int_eq(ckeras_model_to_json(m, &json), CKERAS_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"output_layers\":[[\"dense\""));
    ckeras_free(json);
    ckeras_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("contracts");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, results_may_be_null);
    tcase_add_test(tc, documented_nulls_hold);
    tcase_add_test(tc, callback_reentry_rule);
    tcase_add_test(tc, base_of_a_running_fit);
    tcase_add_test(tc, setters_match_constructors);
    tcase_add_test(tc, unknown_flags_refused);
    tcase_add_test(tc, summary_line_length);
    tcase_add_test(tc, message_quoting_itself);
    tcase_add_test(tc, long_message_keeps_its_cause);
    tcase_add_test(tc, refused_call_keeps_the_last_output);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
