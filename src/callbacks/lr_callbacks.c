/* Keras 3's ReduceLROnPlateau and LearningRateScheduler, rule for rule.
 *
 * ReduceLROnPlateau (a MonitorCallback, like EarlyStopping):
 * - on_train_begin: cooldown_counter = 0, wait = 0; `best` is NOT reset (Keras keeps it from an
 *   earlier fit of the same callback; it starts as None, which any value improves);
 * - on_epoch_end: logs["learning_rate"] = the current rate; a missing monitored value is a
 *   warning (stderr); else: in cooldown -> cooldown_counter -= 1, wait = 0; an improvement
 *   records best and resets wait; otherwise, out of cooldown, wait += 1 and at wait >= patience
 *   the rate becomes max(rate * factor, min_lr) if the rate is above float32(min_lr), with
 *   cooldown_counter = cooldown and wait = 0.
 * LearningRateScheduler:
 * - on_epoch_begin: rate = schedule(epoch, current rate); set on the optimizer;
 * - on_epoch_end: logs["learning_rate"] = the current rate.
 * Setting the rate of an optimizer driven by a learning-rate schedule is an error, as in Keras
 * (it stops fit with the optimizer's CKERAS_ESTATE). Messages (verbose > 0) print Python's repr
 * of the rate, as Keras does. */
#include "callbacks.h"
#include "optimizers/optimizers.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const ck_field ck_reduce_lr_fields[] = {
    {"monitor", CK_STR, "val_loss", NULL, "quantity to monitor (a logs key)"},
    {"factor", CK_FLOAT, "0.1", "[0,1)", "factor of each reduction, in [0, 1)"},
    {"patience", CK_INT, "10", "[0,)", "epochs without improvement before a reduction"},
    {"verbose", CK_INT, "0", NULL, "0 silent, 1 a message per reduction"},
    {"mode", CK_STR, "auto", "auto|min|max", "direction of improvement"},
    {"min_delta", CK_FLOAT, "0.0001", NULL, "minimum change that counts as an improvement"},
    {"cooldown", CK_INT, "0", "[0,)", "epochs to wait after a reduction"},
    {"min_lr", CK_FLOAT, "0.0", "[0,)", "lower bound of the learning rate"},
};
const int ck_reduce_lr_nfields = (int)(sizeof ck_reduce_lr_fields / sizeof ck_reduce_lr_fields[0]);

const ck_field ck_lr_scheduler_fields[] = {
    {"verbose", CK_INT, "0", NULL, "0 silent, 1 a message per epoch"},
};
const int ck_lr_scheduler_nfields = (int)(sizeof ck_lr_scheduler_fields / sizeof ck_lr_scheduler_fields[0]);

static ckeras_status need_optimizer(const ckeras_callback *cb, const ck_train_ctx *ctx)
{
    if (!ctx->opt)
        return ck_error(CKERAS_ESTATE, "%s: the model has no optimizer", cb->class_name);
    return CKERAS_OK;
}

/* Keras: float(optimizer.learning_rate), the float32 variable's value */
static double current_lr(const ck_train_ctx *ctx)
{
    return (double)ck_optimizer_lr(ctx->opt);
}

static ckeras_status set_lr(const ckeras_callback *cb, ck_train_ctx *ctx, double lr)
{
    ckeras_status st = ck_optimizer_set(ctx->opt, "learning_rate", lr);
    if (st != CKERAS_OK)
        ck_error_prefix("%s", cb->class_name);
    return st;
}

static void log_lr(ck_train_ctx *ctx)
{
    if (ctx->logs)
        ck_logs_set(ctx->logs, "learning_rate", current_lr(ctx));
}

ckeras_status ck_reduce_lr_event(ckeras_callback *cb, ck_train_ctx *ctx, ckeras_event ev, int index,
                                 const ckeras_logs *logs)
{
    if (ev == CKERAS_TRAIN_BEGIN) {
        cb->cooldown_counter = 0;
        cb->wait = 0;
        return need_optimizer(cb, ctx);
    }
    if (ev != CKERAS_EPOCH_END)
        return CKERAS_OK;
    ckeras_status st = need_optimizer(cb, ctx);
    if (st == CKERAS_OK && cb->monitor_op == 0)
        st = ck_monitor_set_op(cb, ctx);
    if (st != CKERAS_OK)
        return st;
    log_lr(ctx);
    const ckeras_logs *l = ctx->logs ? ctx->logs : logs;
    const char *monitor = ck_cfg_str(&cb->cfg, "monitor");
    const double *cur = ck_logs_find(l, monitor ? monitor : "val_loss");
    if (!cur) {
        fprintf(stderr, "Warning: Learning rate reduction is conditioned on metric `%s` which is not available. "
                        "Available metrics are: ", monitor ? monitor : "val_loss");
        for (int i = 0; l && i < l->n; i++)
            fprintf(stderr, "%s%s", i ? "," : "", l->names[i]);
        fprintf(stderr, ".\n");
        return CKERAS_OK;
    }
    if (cb->cooldown_counter > 0) {
        cb->cooldown_counter -= 1;
        cb->wait = 0;
    }
    if (!cb->has_best || ck_monitor_improved(cb, *cur, cb->best)) {
        cb->best = *cur;
        cb->has_best = true;
        cb->wait = 0;
        return CKERAS_OK;
    }
    if (cb->cooldown_counter > 0)
        return CKERAS_OK;
    cb->wait += 1;
    if (cb->wait < ck_cfg_int(&cb->cfg, "patience"))
        return CKERAS_OK;
    double old_lr = current_lr(ctx), min_lr = ck_cfg_float(&cb->cfg, "min_lr");
    if (!(old_lr > (double)(float)min_lr))
        return CKERAS_OK;
    double new_lr = old_lr * ck_cfg_float(&cb->cfg, "factor");
    if (new_lr < min_lr)
        new_lr = min_lr;
    if ((st = set_lr(cb, ctx, new_lr)) != CKERAS_OK)
        return st;
    if (ck_cfg_int(&cb->cfg, "verbose") > 0) {
        char v[CK_PYFLOAT_LEN];
        ck_format_pyfloat(new_lr, v);
        printf("\nEpoch %d: ReduceLROnPlateau reducing learning rate to %s.\n", index + 1, v);
    }
    cb->cooldown_counter = (int)ck_cfg_int(&cb->cfg, "cooldown");
    cb->wait = 0;
    return CKERAS_OK;
}

ckeras_status ck_lr_scheduler_event(ckeras_callback *cb, ck_train_ctx *ctx, ckeras_event ev, int index)
{
    if (ev != CKERAS_EPOCH_BEGIN && ev != CKERAS_EPOCH_END && ev != CKERAS_TRAIN_BEGIN)
        return CKERAS_OK;
    ckeras_status st = need_optimizer(cb, ctx);
    if (st != CKERAS_OK || ev == CKERAS_TRAIN_BEGIN)
        return st;
    if (ev == CKERAS_EPOCH_END) {
        log_lr(ctx);
        return CKERAS_OK;
    }
    double lr = cb->lr_fn(index, current_lr(ctx), cb->user_data);
    if (!isfinite(lr))
        return ck_error(CKERAS_EINVAL, "LearningRateScheduler: the schedule returned %g at epoch %d; it must be a "
                                       "finite number >= 0",
                        lr, index);
    if ((st = set_lr(cb, ctx, lr)) != CKERAS_OK)
        return st;
    if (ck_cfg_int(&cb->cfg, "verbose") > 0) {
        char v[CK_PYFLOAT_LEN];
        ck_format_pyfloat(lr, v);
        printf("\nEpoch %d: LearningRateScheduler setting learning rate to %s.\n", index + 1, v);
    }
    return CKERAS_OK;
}
