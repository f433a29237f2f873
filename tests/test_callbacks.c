/* Callbacks, logs and History: EarlyStopping driven exactly as Keras 3 was in
 * tests/fixtures/keras3-traces/callbacks.json, TerminateOnNaN, user callbacks, accessors. */
#include "callbacks/callbacks.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NEPOCHS 15

/* The fixture's (val_loss, val_accuracy) sequence `s` ("A", "B" or "C"). */
static void load_sequence(json_t *root, const char *s, double *val_loss, double *val_acc)
{
    json_t *vl = json_object_get(tu_get(root, "sequences/val_loss"), s);
    json_t *va = json_object_get(tu_get(root, "sequences/val_accuracy"), s);
    ck_assert_ptr_nonnull(vl);
    ck_assert_ptr_nonnull(va);
    ck_assert_int_eq(json_array_size(vl), NEPOCHS);
    ck_assert_int_eq(json_array_size(va), NEPOCHS);
    for (int e = 0; e < NEPOCHS; e++) {
        val_loss[e] = tu_number(json_array_get(vl, (size_t)e));
        val_acc[e] = tu_number(json_array_get(va, (size_t)e));
    }
}

/* A ctx as the README's model gives it: Dense(1) weights [kernel, bias] in params, metric
 * "accuracy" compiled (direction +1) unless with_metric is false. One non-trainable float in
 * state follows the epoch too (10 * epoch), to check it is kept and restored with params. */
static void make_ctx(ck_train_ctx *ctx, float *params, float *state, bool with_metric)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->params = params;
    ctx->n_params = 2;
    ctx->state = state;
    ctx->n_state = 1;
    ctx->epochs = NEPOCHS;
    ctx->steps = 1;
    if (with_metric) {
        ctx->n_metrics = 1;
        ctx->metric_names[0] = "accuracy";
        ctx->metric_dirs[0] = +1;
    }
}

static ckeras_callback *early_stopping_from_kwargs(json_t *kwargs)
{
    json_t *mon = json_object_get(kwargs, "monitor");
    json_t *pat = json_object_get(kwargs, "patience");
    ckeras_callback *cb = ckeras_early_stopping(mon ? json_string_value(mon) : NULL,
                                                pat ? (int)json_integer_value(pat) : 0);
    ck_assert_ptr_nonnull(cb);
    const char *k;
    json_t *v;
    json_object_foreach(kwargs, k, v) {
        if (strcmp(k, "monitor") == 0 || strcmp(k, "patience") == 0)
            continue;
        ckeras_status st;
        if (json_is_string(v))
            st = ckeras_callback_set_str(cb, k, json_string_value(v));
        else if (json_is_boolean(v))
            st = ckeras_callback_set_float(cb, k, json_is_true(v) ? 1.0 : 0.0);
        else
            st = ckeras_callback_set_float(cb, k, tu_number(v));
        ck_assert_msg(st == CKERAS_OK, "setting %s: %s", k, ckeras_last_error());
    }
    return cb;
}

static void set_epoch_logs(ckeras_logs *logs, double val_loss, double val_acc)
{
    ck_logs_clear(logs);
    ck_logs_set(logs, "loss", 1.0);
    ck_logs_set(logs, "accuracy", 0.5);
    ck_logs_set(logs, "val_loss", val_loss);
    ck_logs_set(logs, "val_accuracy", val_acc);
}

static void check_close(double got, double want, const char *key, const char *what)
{
    ck_assert_msg(fabs(got - want) <= 1e-12, "%s: %s is %.17g, Keras %.17g", key, what, got, want);
}

static void run_case(json_t *root, const char *key, json_t *c)
{
    double val_loss[NEPOCHS], val_acc[NEPOCHS];
    load_sequence(root, json_string_value(tu_get(c, "sequence")), val_loss, val_acc);
    ckeras_callback *cb = early_stopping_from_kwargs(tu_get(c, "kwargs"));
    float params[2] = {-1, -1}, state[1] = {-1};
    ck_train_ctx ctx;
    make_ctx(&ctx, params, state, true);
    ckeras_logs logs;
    json_t *per_epoch = tu_get(c, "per_epoch");

    ctx.stop_training = false;
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_TRAIN_BEGIN, 0, NULL), CKERAS_OK);
    int stop_at = -1, epochs_run = 0;
    uint64_t allocs = ck_alloc_count();
    for (int epoch = 0; epoch < NEPOCHS; epoch++) {
        params[0] = (float)epoch;
        params[1] = (float)-epoch;
        state[0] = (float)(10 * epoch);
        set_epoch_logs(&logs, val_loss[epoch], val_acc[epoch]);
        ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_EPOCH_END, epoch, &logs), CKERAS_OK);
        epochs_run++;
        /* per_epoch[epoch]: wait and best (null while best is None). */
        json_t *pe = json_array_get(per_epoch, (size_t)epoch);
        ck_assert_msg(pe != NULL, "%s: Keras ran fewer epochs than we did (%d)", key, epochs_run);
        ck_assert_int_eq(json_integer_value(tu_get(pe, "epoch")), epoch);
        ck_assert_msg(cb->wait == (int)json_integer_value(tu_get(pe, "wait")), "%s: epoch %d wait %d, Keras %d",
                      key, epoch, cb->wait, (int)json_integer_value(tu_get(pe, "wait")));
        json_t *best = tu_get(pe, "best");
        ck_assert_msg(cb->has_best == !json_is_null(best), "%s: epoch %d best is%s None in Keras", key, epoch,
                      json_is_null(best) ? "" : " not");
        if (!json_is_null(best))
            check_close(cb->best, tu_number(best), key, "per-epoch best");
        if (ctx.stop_training) {
            stop_at = epoch;
            break;
        }
    }
    ck_assert_msg(ck_alloc_count() == allocs, "%s: EarlyStopping allocated during epochs", key);
    ck_assert_int_eq(epochs_run, json_integer_value(tu_get(c, "epochs_run")));
    ck_assert_int_eq((size_t)epochs_run, json_array_size(per_epoch));
    json_t *want_stop = tu_get(c, "stop_training_set_at_epoch");
    if (json_is_null(want_stop))
        ck_assert_msg(stop_at == -1, "%s: stopped at %d, Keras never stopped", key, stop_at);
    else
        ck_assert_msg(stop_at == json_integer_value(want_stop), "%s: stopped at %d, Keras at %d", key, stop_at,
                      (int)json_integer_value(want_stop));

    check_close(params[0], tu_number(tu_get(c, "weights_epoch_before_on_train_end")), key, "weights before end");
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_TRAIN_END, 0, NULL), CKERAS_OK);
    double after = tu_number(tu_get(c, "weights_epoch_after_on_train_end"));
    check_close(params[0], after, key, "weights after end");
    check_close(params[1], -after, key, "bias after end");
    check_close(state[0], 10 * after, key, "non-trainable state after end");

    ck_assert_int_eq(ckeras_early_stopping_stopped_epoch(cb), json_integer_value(tu_get(c, "stopped_epoch")));
    ck_assert_int_eq(ckeras_early_stopping_best_epoch(cb), json_integer_value(tu_get(c, "best_epoch")));
    ck_assert_int_eq(cb->wait, json_integer_value(tu_get(c, "wait")));
    ck_assert(cb->has_best);
    check_close(cb->best, tu_number(tu_get(c, "best")), key, "best");
    check_close(cb->min_delta_eff, tu_number(tu_get(c, "min_delta_effective")), key, "min_delta");
    const char *op = json_string_value(tu_get(c, "monitor_op"));
    ck_assert_int_eq(cb->monitor_op, strcmp(op, "less") == 0 ? -1 : +1);
    ckeras_callback_free(cb);
}

START_TEST(early_stopping_matches_keras)
{
    json_t *root = tu_load_json("keras3-traces/callbacks.json");
    json_t *cases = tu_get(root, "early_stopping");
    const char *key;
    json_t *c;
    int runs = 0, errors = 0;
    json_object_foreach(cases, key, c) {
        if (json_object_get(c, "error")) {
            errors++;
            continue;
        }
        run_case(root, key, c);
        runs++;
    }
    ck_assert_int_eq(runs, 48); /* 16 configurations x sequences A, B, C */
    ck_assert_int_eq(errors, 1);
    json_decref(root);
}
END_TEST

/* val_accuracy_mode_auto_without_accuracy_metric/A: mode auto, no compiled metric named
 * "accuracy": the first epoch end is Keras' ValueError. */
START_TEST(early_stopping_auto_mode_without_metric_is_keras_error)
{
    json_t *root = tu_load_json("keras3-traces/callbacks.json");
    json_t *c = json_object_get(tu_get(root, "early_stopping"), "val_accuracy_mode_auto_without_accuracy_metric/A");
    ck_assert_ptr_nonnull(c);
    const char *err = json_string_value(tu_get(c, "error"));
    const char *prefix = "ValueError: ";
    ck_assert(strncmp(err, prefix, strlen(prefix)) == 0);
    double val_loss[NEPOCHS], val_acc[NEPOCHS];
    load_sequence(root, "A", val_loss, val_acc);

    ckeras_callback *cb = ckeras_early_stopping("val_accuracy", 2);
    float params[2], state[1];
    ck_train_ctx ctx;
    make_ctx(&ctx, params, state, false);
    ckeras_logs logs;
    set_epoch_logs(&logs, val_loss[0], val_acc[0]);
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_TRAIN_BEGIN, 0, NULL), CKERAS_OK);
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_EPOCH_END, 0, &logs), CKERAS_EINVAL);
    ck_assert_str_eq(ckeras_last_error(), err + strlen(prefix));
    ck_assert(!ctx.stop_training);
    /* A metric with another name does not help; the same name with its direction does. */
    ctx.n_metrics = 1;
    ctx.metric_names[0] = "precision";
    ctx.metric_dirs[0] = +1;
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_EPOCH_END, 0, &logs), CKERAS_EINVAL);
    ctx.metric_names[0] = "accuracy";
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_EPOCH_END, 0, &logs), CKERAS_OK);
    ck_assert_int_eq(cb->monitor_op, +1);
    /* mode "max" needs no metric at all. */
    ckeras_callback *cb2 = ckeras_early_stopping("val_accuracy", 2);
    ck_assert_int_eq(ckeras_callback_set_str(cb2, "mode", "max"), CKERAS_OK);
    ctx.n_metrics = 0;
    ck_assert_int_eq(ck_callback_event(cb2, &ctx, CKERAS_TRAIN_BEGIN, 0, NULL), CKERAS_OK);
    ck_assert_int_eq(ck_callback_event(cb2, &ctx, CKERAS_EPOCH_END, 0, &logs), CKERAS_OK);
    /* A compiled metric whose direction is down (mse) makes val_mse a "less" monitor. */
    ckeras_callback *cb3 = ckeras_early_stopping("val_mse", 0);
    ctx.n_metrics = 2;
    ctx.metric_names[0] = "accuracy";
    ctx.metric_dirs[0] = +1;
    ctx.metric_names[1] = "mse";
    ctx.metric_dirs[1] = -1;
    ck_logs_set(&logs, "val_mse", 0.25);
    ck_assert_int_eq(ck_callback_event(cb3, &ctx, CKERAS_TRAIN_BEGIN, 0, NULL), CKERAS_OK);
    ck_assert_int_eq(ck_callback_event(cb3, &ctx, CKERAS_EPOCH_END, 0, &logs), CKERAS_OK);
    ck_assert_int_eq(cb3->monitor_op, -1);
    ckeras_callback_free(cb);
    ckeras_callback_free(cb2);
    ckeras_callback_free(cb3);
    json_decref(root);
}
END_TEST

/* A missing monitored value is a warning (stderr, verbose > 0 only), never a stop. */
START_TEST(early_stopping_missing_monitor_warns_only)
{
    for (int verbose = 0; verbose <= 1; verbose++) {
        ckeras_callback *cb = ckeras_early_stopping("val_loss", 0);
        ck_assert_int_eq(ckeras_callback_set_float(cb, "verbose", verbose), CKERAS_OK);
        float params[2] = {0, 0}, state[1] = {0};
        ck_train_ctx ctx;
        make_ctx(&ctx, params, state, true);
        ckeras_logs logs;
        ck_logs_clear(&logs);
        ck_logs_set(&logs, "loss", 0.5);
        ck_logs_set(&logs, "accuracy", 0.75);

        FILE *tmp = tmpfile();
        ck_assert_ptr_nonnull(tmp);
        fflush(stderr);
        int saved = dup(fileno(stderr));
        dup2(fileno(tmp), fileno(stderr));
        ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_TRAIN_BEGIN, 0, NULL), CKERAS_OK);
        for (int e = 0; e < 5; e++)
            ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_EPOCH_END, e, &logs), CKERAS_OK);
        fflush(stderr);
        dup2(saved, fileno(stderr));
        close(saved);
        char buf[1024] = {0};
        rewind(tmp);
        size_t n = fread(buf, 1, sizeof buf - 1, tmp);
        fclose(tmp);

        ck_assert(!ctx.stop_training);
        ck_assert_int_eq(cb->wait, 0);
        ck_assert(!cb->has_best);
        if (verbose == 0) {
            ck_assert_int_eq(n, 0);
        } else {
            ck_assert_ptr_nonnull(strstr(buf, "`val_loss`"));
            ck_assert_ptr_nonnull(strstr(buf, "loss,accuracy"));
        }
        ckeras_callback_free(cb);
    }
}
END_TEST

/* Hand-driven: baseline never beaten keeps wait growing; NaN baseline setting means None;
 * min_delta is taken as an absolute value; reuse resets the state at train begin. */
START_TEST(early_stopping_settings_and_reuse)
{
    ckeras_callback *cb = ckeras_early_stopping(NULL, 1);
    ck_assert_str_eq(ck_cfg_str(&cb->cfg, "monitor"), "val_loss");
    ck_assert_int_eq(ck_cfg_int(&cb->cfg, "patience"), 1);
    ck_assert(ck_cfg_value(&cb->cfg, "baseline")->is_none);
    ck_assert_int_eq(ckeras_callback_set_float(cb, "baseline", 0.5), CKERAS_OK);
    ck_assert(!ck_cfg_value(&cb->cfg, "baseline")->is_none);
    ck_assert_int_eq(ckeras_callback_set_float(cb, "baseline", NAN), CKERAS_OK);
    ck_assert(ck_cfg_value(&cb->cfg, "baseline")->is_none);
    ck_assert_int_eq(ckeras_callback_set_float(cb, "min_delta", -0.1), CKERAS_OK);
    ck_assert_int_eq(ckeras_callback_set_float(cb, "min_delta", NAN), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_callback_set_float(cb, "patience", 1.5), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_callback_set_str(cb, "mode", "maximum"), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "auto|min|max"));
    ck_assert_int_eq(ckeras_callback_set_float(cb, "factor", 0.1), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "restore_best_weights"));
    ck_assert_int_eq(ckeras_callback_set_str(cb, "monitor", NULL), CKERAS_EINVAL);

    float params[2] = {0, 0}, state[1] = {0};
    ck_train_ctx ctx;
    make_ctx(&ctx, params, state, true);
    ckeras_logs logs;
    /* val_loss 1.0, 0.95, 0.92: improvements by less than |min_delta| = 0.1 do not count. */
    const double v[] = {1.0, 0.95, 0.92};
    for (int run = 0; run < 2; run++) {
        ctx.stop_training = false;
        ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_TRAIN_BEGIN, 0, NULL), CKERAS_OK);
        ck_assert_int_eq(cb->wait, 0);
        ck_assert(!cb->has_best);
        int e;
        for (e = 0; e < 3 && !ctx.stop_training; e++) {
            ck_logs_clear(&logs);
            ck_logs_set(&logs, "val_loss", v[e]);
            ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_EPOCH_END, e, &logs), CKERAS_OK);
        }
        ck_assert(ctx.stop_training);
        ck_assert_int_eq(e, 2); /* epoch 1: wait 1 >= patience 1 and epoch > 0 */
        ck_assert_int_eq(ckeras_early_stopping_stopped_epoch(cb), 1);
        ck_assert_int_eq(ckeras_early_stopping_best_epoch(cb), 0);
        ck_assert(cb->min_delta_eff == -0.1);
    }
    /* Changing the mode is taken into account at the next epoch end. */
    ck_assert_int_eq(ckeras_callback_set_str(cb, "mode", "max"), CKERAS_OK);
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_TRAIN_BEGIN, 0, NULL), CKERAS_OK);
    ck_logs_clear(&logs);
    ck_logs_set(&logs, "val_loss", 1.0);
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_EPOCH_END, 0, &logs), CKERAS_OK);
    ck_assert_int_eq(cb->monitor_op, +1);
    ck_assert(cb->min_delta_eff == 0.1);

    /* patience 0 never stops at epoch 0, even when the first value is not an improvement of
     * anything (best None makes it one anyway). */
    ckeras_callback *p0 = ckeras_early_stopping("loss", 0);
    ctx.stop_training = false;
    ck_assert_int_eq(ck_callback_event(p0, &ctx, CKERAS_TRAIN_BEGIN, 0, NULL), CKERAS_OK);
    ck_logs_clear(&logs);
    ck_logs_set(&logs, "loss", 1.0);
    ck_assert_int_eq(ck_callback_event(p0, &ctx, CKERAS_EPOCH_END, 0, &logs), CKERAS_OK);
    ck_assert(!ctx.stop_training);
    ck_assert_int_eq(ck_callback_event(p0, &ctx, CKERAS_EPOCH_END, 1, &logs), CKERAS_OK);
    ck_assert(ctx.stop_training); /* equal is not an improvement */
    ckeras_callback_free(p0);
    ckeras_callback_free(cb);
}
END_TEST

START_TEST(early_stopping_restore_allocates_at_train_begin_only)
{
    ckeras_callback *cb = ckeras_early_stopping("val_loss", 3);
    ck_assert_int_eq(ckeras_callback_set_float(cb, "restore_best_weights", 1), CKERAS_OK);
    float params[2] = {0, 0}, state[1] = {0};
    ck_train_ctx ctx;
    make_ctx(&ctx, params, state, true);
    ck_alloc_fail_at(1);
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_TRAIN_BEGIN, 0, NULL), CKERAS_ENOMEM);
    ck_alloc_fail_at(2);
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_TRAIN_BEGIN, 0, NULL), CKERAS_ENOMEM);
    ck_assert_ptr_null(cb->best_params);
    ck_alloc_fail_at(0);
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_TRAIN_BEGIN, 0, NULL), CKERAS_OK);
    ck_assert_ptr_nonnull(cb->best_params);
    ck_assert_ptr_nonnull(cb->best_state);
    ckeras_callback_free(cb);
}
END_TEST

START_TEST(terminate_on_nan)
{
    ckeras_callback *cb = ckeras_terminate_on_nan();
    ck_assert_ptr_nonnull(cb);
    ck_train_ctx ctx;
    float params[2], state[1];
    make_ctx(&ctx, params, state, false);
    ckeras_logs logs;
    ck_logs_clear(&logs);
    ck_logs_set(&logs, "loss", 0.3);
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_BATCH_END, 0, &logs), CKERAS_OK);
    ck_assert(!ctx.stop_training);
    ck_logs_set(&logs, "loss", NAN);
    /* Only batch ends are looked at. */
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_EPOCH_END, 0, &logs), CKERAS_OK);
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_BATCH_BEGIN, 1, &logs), CKERAS_OK);
    ck_assert(!ctx.stop_training);
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_BATCH_END, 1, &logs), CKERAS_OK);
    ck_assert(ctx.stop_training);
    ctx.stop_training = false;
    ck_logs_set(&logs, "loss", -INFINITY);
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_BATCH_END, 2, &logs), CKERAS_OK);
    ck_assert(ctx.stop_training);
    ctx.stop_training = false;
    ck_logs_clear(&logs);
    ck_logs_set(&logs, "val_loss", NAN); /* no "loss": nothing to judge */
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_BATCH_END, 3, &logs), CKERAS_OK);
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_BATCH_END, 3, NULL), CKERAS_OK);
    ck_assert(!ctx.stop_training);
    ck_assert_int_eq(ckeras_callback_set_float(cb, "patience", 1), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "TerminateOnNaN"));
    ck_assert_int_eq(ckeras_early_stopping_stopped_epoch(cb), -1);
    ck_assert_int_eq(ckeras_early_stopping_best_epoch(cb), -1);
    ckeras_callback_free(cb);
}
END_TEST

typedef struct user_state {
    int calls;
    ckeras_event last_event;
    int last_index;
    int stop_at_epoch;        /* return CKERAS_STOP at this epoch end */
    ckeras_status fail_with;  /* return this at batch end 2 */
    int count;
    char names[4][CK_LOG_NAME];
    double values[4];
    double val_loss;
    ckeras_status get_missing;
    const char *name_out_of_range;
    double value_out_of_range;
} user_state;

static ckeras_status user_fn(ckeras_event ev, int index, const ckeras_logs *logs, void *ud)
{
    user_state *u = ud;
    u->calls++;
    u->last_event = ev;
    u->last_index = index;
    u->count = ckeras_logs_count(logs);
    for (int i = 0; i < u->count && i < 4; i++) {
        snprintf(u->names[i], CK_LOG_NAME, "%s", ckeras_logs_name(logs, i));
        u->values[i] = ckeras_logs_value(logs, i);
    }
    u->val_loss = NAN;
    if (ckeras_logs_value_by_name(logs, "val_loss", &u->val_loss) != CKERAS_OK)
        u->val_loss = -1;
    double dummy;
    u->get_missing = ckeras_logs_value_by_name(logs, "nope", &dummy);
    u->name_out_of_range = ckeras_logs_name(logs, u->count);
    u->value_out_of_range = ckeras_logs_value(logs, -1);
    if (ev == CKERAS_EPOCH_END && index == u->stop_at_epoch)
        return CKERAS_STOP;
    if (ev == CKERAS_BATCH_END && index == 2)
        return u->fail_with;
    return CKERAS_OK;
}

START_TEST(lambda_callbacks)
{
    user_state u;
    memset(&u, 0, sizeof u);
    u.stop_at_epoch = 3;
    u.fail_with = CKERAS_OK;
    ckeras_callback *cb = ckeras_lambda_callback(user_fn, &u);
    ck_assert_ptr_nonnull(cb);
    ck_train_ctx ctx;
    float params[2], state[1];
    make_ctx(&ctx, params, state, false);
    ckeras_logs logs;
    ck_logs_clear(&logs);
    ck_logs_set(&logs, "loss", 0.25);
    ck_logs_set(&logs, "val_loss", 0.5);
    ck_logs_set(&logs, "loss", 0.125); /* replaces, keeps the position */

    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_EPOCH_END, 1, &logs), CKERAS_OK);
    ck_assert_int_eq(u.calls, 1);
    ck_assert_int_eq(u.last_event, CKERAS_EPOCH_END);
    ck_assert_int_eq(u.last_index, 1);
    ck_assert_int_eq(u.count, 2);
    ck_assert_str_eq(u.names[0], "loss");
    ck_assert(u.values[0] == 0.125);
    ck_assert_str_eq(u.names[1], "val_loss");
    ck_assert(u.values[1] == 0.5);
    ck_assert(u.val_loss == 0.5);
    ck_assert_int_eq(u.get_missing, CKERAS_EINVAL);
    ck_assert_ptr_null(u.name_out_of_range);
    ck_assert(isnan(u.value_out_of_range));
    ck_assert(!ctx.stop_training);

    /* NULL logs reach the user as empty logs. */
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_TRAIN_BEGIN, 0, NULL), CKERAS_OK);
    ck_assert_int_eq(u.count, 0);
    ck_assert(u.val_loss == -1);

    /* CKERAS_STOP: a clean stop. */
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_EPOCH_END, 3, &logs), CKERAS_OK);
    ck_assert(ctx.stop_training);

    /* Any other status aborts with that status and says so. */
    ctx.stop_training = false;
    u.fail_with = CKERAS_EIO;
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_BATCH_END, 2, &logs), CKERAS_EIO);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "CKERAS_EIO"));
    ck_assert(!ctx.stop_training);
    u.fail_with = (ckeras_status)42;
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_BATCH_END, 2, &logs), 42);
    ck_assert_int_eq(u.calls, 5);

    ck_assert_int_eq(ckeras_callback_set_str(cb, "mode", "min"), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_early_stopping_stopped_epoch(cb), -1);
    ckeras_callback_free(cb);
}
END_TEST

START_TEST(logs_limits)
{
    ckeras_logs logs;
    ck_logs_clear(&logs);
    char name[CK_LOG_NAME + 40];
    for (int i = 0; i < CK_MAX_LOGS + 3; i++) {
        snprintf(name, sizeof name, "m%d", i);
        ck_logs_set(&logs, name, i);
    }
    ck_assert_int_eq(ckeras_logs_count(&logs), CK_MAX_LOGS);
    snprintf(name, sizeof name, "m%d", CK_MAX_LOGS);
    ck_assert_ptr_null(ck_logs_find(&logs, name));
    snprintf(name, sizeof name, "m%d", CK_MAX_LOGS - 1);
    ck_assert(*ck_logs_find(&logs, name) == (double)(CK_MAX_LOGS - 1));
    /* A long name is kept cut, and found again by the same long name. */
    ck_logs_clear(&logs);
    memset(name, 'x', CK_LOG_NAME + 20);
    name[CK_LOG_NAME + 20] = '\0';
    ck_logs_set(&logs, name, 1.0);
    ck_logs_set(&logs, name, 2.0);
    ck_assert_int_eq(ckeras_logs_count(&logs), 1);
    ck_assert_int_eq(strlen(ckeras_logs_name(&logs, 0)), CK_LOG_NAME - 1);
    ck_assert(*ck_logs_find(&logs, name) == 2.0);
    ck_assert_ptr_null(ck_logs_find(NULL, "loss"));
    ck_assert_ptr_null(ck_logs_find(&logs, NULL));
}
END_TEST

START_TEST(history_records_epochs)
{
    ckeras_history *h = ck_history_new();
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(ckeras_history_epochs(h), 0);
    ckeras_logs logs;
    /* Epoch 0 has accuracy and loss; from epoch 1 on val_loss too; 20 epochs (growth). */
    for (int e = 0; e < 20; e++) {
        ck_logs_clear(&logs);
        ck_logs_set(&logs, "accuracy", 0.5 + e / 100.0);
        ck_logs_set(&logs, "loss", 1.0 / (e + 1));
        if (e >= 1)
            ck_logs_set(&logs, "val_loss", 2.0 * e);
        ck_assert_int_eq(ck_history_append(h, e, &logs), CKERAS_OK);
    }
    ck_assert_int_eq(ckeras_history_epochs(h), 20);
    ck_assert_int_eq(ckeras_history_key_count(h), 3);
    ck_assert_str_eq(ckeras_history_key(h, 0), "accuracy");
    ck_assert_str_eq(ckeras_history_key(h, 1), "loss");
    ck_assert_str_eq(ckeras_history_key(h, 2), "val_loss");
    ck_assert_ptr_null(ckeras_history_key(h, 3));
    ck_assert_ptr_null(ckeras_history_key(h, -1));
    const double *v;
    int n;
    ck_assert_int_eq(ckeras_history_values(h, "loss", &v, &n), CKERAS_OK);
    ck_assert_int_eq(n, 20);
    for (int e = 0; e < 20; e++)
        ck_assert(v[e] == 1.0 / (e + 1));
    ck_assert_int_eq(ckeras_history_values(h, "val_loss", &v, &n), CKERAS_OK);
    ck_assert(isnan(v[0]));
    ck_assert(v[1] == 2.0 && v[19] == 38.0);
    ck_assert_int_eq(ckeras_history_values(h, "accuracy", &v, &n), CKERAS_OK);
    ck_assert(v[10] == 0.5 + 10 / 100.0);
    ck_assert_int_eq(h->epoch_index[7], 7);
    /* A later epoch without a key reads NaN there. */
    ck_logs_clear(&logs);
    ck_logs_set(&logs, "loss", 0.01);
    ck_assert_int_eq(ck_history_append(h, 20, &logs), CKERAS_OK);
    ck_assert_int_eq(ckeras_history_values(h, "accuracy", &v, &n), CKERAS_OK);
    ck_assert_int_eq(n, 21);
    ck_assert(isnan(v[20]));

    ck_assert_int_eq(ckeras_history_values(h, "val_accuracy", &v, &n), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "val_accuracy"));
    ck_assert_int_eq(ckeras_history_values(h, NULL, &v, &n), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_history_values(h, "loss", NULL, &n), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_history_values(h, "loss", &v, NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ck_history_append(h, 21, NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ck_history_append(NULL, 21, &logs), CKERAS_EINVAL);

    /* An allocation failure while adding a key leaves the History as it was. */
    ck_logs_clear(&logs);
    ck_logs_set(&logs, "loss", 0.5);
    ck_logs_set(&logs, "new_a", 1.0);
    ck_logs_set(&logs, "new_b", 2.0);
    ck_alloc_fail_at(2); /* new_a's array succeeds, new_b's fails */
    ck_assert_int_eq(ck_history_append(h, 21, &logs), CKERAS_ENOMEM);
    ck_alloc_fail_at(0);
    ck_assert_int_eq(ckeras_history_epochs(h), 21);
    ck_assert_int_eq(ckeras_history_key_count(h), 3);
    ckeras_history_free(h);
}
END_TEST

START_TEST(null_handles)
{
    ck_assert_ptr_null(ckeras_lambda_callback(NULL, NULL));
    ck_assert_int_eq(strlen(ckeras_last_error()) > 0, 1);
    ck_assert_ptr_null(ckeras_early_stopping("val_loss", -1));
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "patience"));
    ck_assert_ptr_null(ckeras_early_stopping("", 1));
    ck_assert_int_eq(ckeras_callback_set_float(NULL, "patience", 1), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_callback_set_str(NULL, "mode", "min"), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_early_stopping_stopped_epoch(NULL), -1);
    ck_assert_int_eq(ckeras_early_stopping_best_epoch(NULL), -1);
    ckeras_callback_free(NULL);
    ck_assert_int_eq(ckeras_logs_count(NULL), 0);
    ck_assert_ptr_null(ckeras_logs_name(NULL, 0));
    ck_assert(isnan(ckeras_logs_value(NULL, 0)));
    double d;
    ck_assert_int_eq(ckeras_logs_value_by_name(NULL, "loss", &d), CKERAS_EINVAL);
    ckeras_logs logs;
    ck_logs_clear(&logs);
    ck_assert_int_eq(ckeras_logs_value_by_name(&logs, NULL, &d), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_logs_value_by_name(&logs, "loss", NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_history_epochs(NULL), 0);
    ck_assert_int_eq(ckeras_history_key_count(NULL), 0);
    ck_assert_ptr_null(ckeras_history_key(NULL, 0));
    const double *v;
    int n;
    ck_assert_int_eq(ckeras_history_values(NULL, "loss", &v, &n), CKERAS_EINVAL);
    ckeras_history_free(NULL);
    ck_train_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ck_assert_int_eq(ck_callback_event(NULL, &ctx, CKERAS_EPOCH_END, 0, &logs), CKERAS_EINVAL);
    ckeras_callback *cb = ckeras_terminate_on_nan();
    ck_assert_int_eq(ck_callback_event(cb, NULL, CKERAS_EPOCH_END, 0, &logs), CKERAS_EINVAL);
    ckeras_callback_free(cb);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("callbacks");
    TCase *tc = tcase_create("callbacks");
    tcase_add_test(tc, early_stopping_matches_keras);
    tcase_add_test(tc, early_stopping_auto_mode_without_metric_is_keras_error);
    tcase_add_test(tc, early_stopping_missing_monitor_warns_only);
    tcase_add_test(tc, early_stopping_settings_and_reuse);
    tcase_add_test(tc, early_stopping_restore_allocates_at_train_begin_only);
    tcase_add_test(tc, terminate_on_nan);
    tcase_add_test(tc, lambda_callbacks);
    tcase_add_test(tc, logs_limits);
    tcase_add_test(tc, history_records_epochs);
    tcase_add_test(tc, null_handles);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
