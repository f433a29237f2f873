/* Keras 3's EarlyStopping, rule for rule:
 * - on_train_begin: wait = 0, stopped_epoch = 0, best = None, best_weights = None, best_epoch = 0;
 * - on_epoch_end: the direction is decided once (first epoch end); a missing monitored value
 *   is a warning (stderr, verbose > 0 only), never a stop; epochs before start_from_epoch are
 *   ignored; with restore_best_weights the first monitored epoch's weights are kept when no
 *   copy exists yet; wait += 1; an improvement over best (None always improves) records best,
 *   best_epoch and the weights, and resets wait only if it also beats the baseline (when one
 *   is set); otherwise training stops when wait >= patience and epoch > 0;
 * - on_train_end: with restore_best_weights the kept weights are copied back, stopped or not.
 * Comparisons are made in float32, as Keras' ops.less/ops.greater on Python floats are.
 *
 * Sizes: the products here are of a batch (at most the rows of a checked tensor or plan) and
 * per-sample sizes of checked shapes, or counts of checked buffers (core.h, checked size
 * arithmetic; the plan checks every batch buffer), so none passes 2^48. */
#include "callbacks.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const ck_field ck_early_stopping_fields[] = {
    {"monitor", CK_STR, "val_loss", NULL, "quantity to monitor (a logs key)"},
    {"min_delta", CK_FLOAT, "0", NULL, "minimum change that counts as an improvement"},
    {"patience", CK_INT, "0", "[0,)", "epochs without improvement before stopping"},
    {"verbose", CK_INT, "0", NULL, "0 silent, 1 messages"},
    {"mode", CK_STR, "auto", "auto|min|max", "direction of improvement"},
    {"baseline", CK_FLOAT, NULL, NULL, "value an improvement must also beat to reset patience"},
    {"restore_best_weights", CK_BOOL, "false", NULL, "restore the best epoch's weights at the end"},
    {"start_from_epoch", CK_INT, "0", "[0,)", "epochs to wait before monitoring"},
};
const int ck_early_stopping_nfields = (int)(sizeof ck_early_stopping_fields / sizeof ck_early_stopping_fields[0]);

void ck_early_stopping_reset_mode(ckeras_callback *cb)
{
    cb->monitor_op = 0;
}

/* Keras' _set_monitor_op: "min" -> less, "max" -> greater; "auto": the direction of the
 * compiled metric named like the monitor without "val_", else "less" for a loss; min_delta is
 * negated for "less". */
ckeras_status ck_monitor_set_op(ckeras_callback *cb, const ck_train_ctx *ctx)
{
    const char *mode = ck_cfg_str(&cb->cfg, "mode");
    const char *monitor = ck_cfg_str(&cb->cfg, "monitor");
    if (!monitor)
        monitor = "val_loss";
    int op = 0;
    if (mode && strcmp(mode, "min") == 0) {
        op = -1;
    } else if (mode && strcmp(mode, "max") == 0) {
        op = +1;
    } else {
        const char *name = strncmp(monitor, "val_", 4) == 0 ? monitor + 4 : monitor;
        int n = ctx->n_metrics < 0 ? 0 : ctx->n_metrics > 16 ? 16 : ctx->n_metrics;
        for (int i = 0; i < n; i++)
            if (ctx->metric_names[i] && strcmp(ctx->metric_names[i], name) == 0 && ctx->metric_dirs[i] != 0)
                op = ctx->metric_dirs[i] > 0 ? +1 : -1;
        if (op == 0 && strstr(name, "loss"))
            op = -1;
    }
    if (op == 0)
        return ck_error(CKERAS_EINVAL,
                        "%s callback received monitor=%s, but Keras isn't able to automatically "
                        "determine whether that metric should be maximized or minimized. Pass `mode='max'` in "
                        "order to monitor based on the highest metric value, or pass `mode='min'` in order to "
                        "use the lowest value.",
                        cb->class_name, monitor);
    cb->monitor_op = op;
    double md = fabs(ck_cfg_float(&cb->cfg, "min_delta"));
    cb->min_delta_eff = op < 0 ? -md : md;
    return CKERAS_OK;
}

/* Keras' _is_improvement: monitor_op(value - min_delta, reference), evaluated in float32. */
bool ck_monitor_improved(const ckeras_callback *cb, double value, double reference)
{
    float a = (float)(value - cb->min_delta_eff);
    float b = (float)reference;
    return cb->monitor_op < 0 ? a < b : a > b;
}

static void keep_weights(ckeras_callback *cb, const ck_train_ctx *ctx)
{
    if (cb->best_params && ctx->params)
        memcpy(cb->best_params, ctx->params,
               (cb->n_best_params < ctx->n_params ? cb->n_best_params : ctx->n_params) * sizeof(float));
    if (cb->best_state && ctx->state)
        memcpy(cb->best_state, ctx->state,
               (cb->n_best_state < ctx->n_state ? cb->n_best_state : ctx->n_state) * sizeof(float));
    cb->has_best_weights = true;
}

static void restore_weights(const ckeras_callback *cb, ck_train_ctx *ctx)
{
    if (cb->best_params && ctx->params)
        memcpy(ctx->params, cb->best_params,
               (cb->n_best_params < ctx->n_params ? cb->n_best_params : ctx->n_params) * sizeof(float));
    if (cb->best_state && ctx->state)
        memcpy(ctx->state, cb->best_state,
               (cb->n_best_state < ctx->n_state ? cb->n_best_state : ctx->n_state) * sizeof(float));
}

static void free_best(ckeras_callback *cb)
{
    ck_free(cb->best_params);
    ck_free(cb->best_state);
    cb->best_params = cb->best_state = NULL;
    cb->n_best_params = cb->n_best_state = 0;
    cb->has_best_weights = false;
}

static ckeras_status train_begin(ckeras_callback *cb, const ck_train_ctx *ctx)
{
    cb->wait = 0;
    cb->stopped_epoch = 0;
    cb->has_best = false;
    cb->best = 0.0;
    cb->best_epoch = 0;
    free_best(cb);
    if (!ck_cfg_bool(&cb->cfg, "restore_best_weights"))
        return CKERAS_OK;
    /* Buffers for the best weights: (n_params) and (n_state) floats. */
    if (ctx->n_params > 0) {
        cb->best_params = ck_malloc_n(ctx->n_params, sizeof(float));
        if (!cb->best_params)
            return ck_error(CKERAS_ENOMEM, "EarlyStopping: cannot keep %zu weights for restore_best_weights",
                            ctx->n_params);
        cb->n_best_params = ctx->n_params;
    }
    if (ctx->n_state > 0) {
        cb->best_state = ck_malloc_n(ctx->n_state, sizeof(float));
        if (!cb->best_state) {
            free_best(cb);
            return ck_error(CKERAS_ENOMEM,
                            "EarlyStopping: cannot keep %zu non-trainable weights for restore_best_weights",
                            ctx->n_state);
        }
        cb->n_best_state = ctx->n_state;
    }
    return CKERAS_OK;
}

static ckeras_status epoch_end(ckeras_callback *cb, ck_train_ctx *ctx, int epoch, const ckeras_logs *logs)
{
    if (cb->monitor_op == 0) {
        ckeras_status st = ck_monitor_set_op(cb, ctx);
        if (st != CKERAS_OK)
            return st;
    }
    const char *monitor = ck_cfg_str(&cb->cfg, "monitor");
    if (!monitor)
        monitor = "val_loss";
    const double *cur = ck_logs_find(logs, monitor);
    if (!cur) {
        if (ck_cfg_int(&cb->cfg, "verbose") > 0) {
            fprintf(stderr, "Warning: early stopping conditioned on metric `%s` which is not available. "
                            "Available metrics are: ", monitor);
            for (int i = 0; logs && i < logs->n; i++)
                fprintf(stderr, "%s%s", i ? "," : "", logs->names[i]);
            fprintf(stderr, "\n");
        }
        return CKERAS_OK;
    }
    if (epoch < ck_cfg_int(&cb->cfg, "start_from_epoch"))
        return CKERAS_OK;
    bool restore = ck_cfg_bool(&cb->cfg, "restore_best_weights");
    if (restore && !cb->has_best_weights) {
        /* No copy yet: the current weights are the best so far. */
        keep_weights(cb, ctx);
        cb->best_epoch = epoch;
    }
    cb->wait += 1;
    if (!cb->has_best || ck_monitor_improved(cb, *cur, cb->best)) {
        cb->best = *cur;
        cb->has_best = true;
        cb->best_epoch = epoch;
        if (restore)
            keep_weights(cb, ctx);
        const ck_value *base = ck_cfg_value(&cb->cfg, "baseline");
        if (!base || base->is_none || ck_monitor_improved(cb, *cur, base->f))
            cb->wait = 0;
        return CKERAS_OK;
    }
    if (cb->wait >= ck_cfg_int(&cb->cfg, "patience") && epoch > 0) {
        cb->stopped_epoch = epoch;
        ctx->stop_training = true;
    }
    return CKERAS_OK;
}

static void train_end(ckeras_callback *cb, ck_train_ctx *ctx)
{
    bool verbose = ck_cfg_int(&cb->cfg, "verbose") > 0;
    if (cb->stopped_epoch > 0 && verbose)
        printf("Epoch %d: early stopping\n", cb->stopped_epoch + 1);
    if (ck_cfg_bool(&cb->cfg, "restore_best_weights") && cb->has_best_weights) {
        if (verbose)
            printf("Restoring model weights from the end of the best epoch: %d.\n", cb->best_epoch + 1);
        restore_weights(cb, ctx);
    }
}

ckeras_status ck_early_stopping_event(ckeras_callback *cb, ck_train_ctx *ctx, ckeras_event ev, int index,
                                      const ckeras_logs *logs)
{
    switch (ev) {
    case CKERAS_TRAIN_BEGIN:
        return train_begin(cb, ctx);
    case CKERAS_EPOCH_END:
        return epoch_end(cb, ctx, index, logs);
    case CKERAS_TRAIN_END:
        train_end(cb, ctx);
        return CKERAS_OK;
    default:
        return CKERAS_OK;
    }
}
