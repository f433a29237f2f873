/* Callbacks: construction, settings, and delivery of events (user functions and the built-in
 * callbacks). */
#include "callbacks.h"

#include <math.h>
#include <string.h>

static const char *event_name(ckeras_event ev)
{
    switch (ev) {
    case CKERAS_TRAIN_BEGIN: return "train begin";
    case CKERAS_TRAIN_END: return "train end";
    case CKERAS_EPOCH_BEGIN: return "epoch begin";
    case CKERAS_EPOCH_END: return "epoch end";
    case CKERAS_BATCH_BEGIN: return "batch begin";
    case CKERAS_BATCH_END: return "batch end";
    }
    return "unknown event";
}

ckeras_callback *ck_callback_new(ck_cb_kind kind)
{
    ckeras_callback *cb = ck_calloc(1, sizeof *cb);
    if (!cb)
        return NULL;
    cb->kind = kind;
    ckeras_status st;
    switch (kind) {
    case CK_CB_EARLY_STOPPING:
        cb->class_name = "EarlyStopping";
        st = ck_config_init(&cb->cfg, ck_early_stopping_fields, ck_early_stopping_nfields);
        break;
    case CK_CB_TERMINATE_ON_NAN:
        cb->class_name = "TerminateOnNaN";
        st = ck_config_init(&cb->cfg, NULL, 0);
        break;
    case CK_CB_MODEL_CHECKPOINT:
        cb->class_name = "ModelCheckpoint";
        st = ck_config_init(&cb->cfg, ck_checkpoint_fields, ck_checkpoint_nfields);
        break;
    case CK_CB_REDUCE_LR:
        cb->class_name = "ReduceLROnPlateau";
        st = ck_config_init(&cb->cfg, ck_reduce_lr_fields, ck_reduce_lr_nfields);
        break;
    case CK_CB_LR_SCHEDULER:
        cb->class_name = "LearningRateScheduler";
        st = ck_config_init(&cb->cfg, ck_lr_scheduler_fields, ck_lr_scheduler_nfields);
        break;
    case CK_CB_BACKUP:
        cb->class_name = "BackupAndRestore";
        st = ck_config_init(&cb->cfg, ck_backup_fields, ck_backup_nfields);
        break;
    case CK_CB_CSV_LOGGER:
        cb->class_name = "CSVLogger";
        cb->ncsv_keys = -1;
        st = ck_config_init(&cb->cfg, ck_csv_logger_fields, ck_csv_logger_nfields);
        break;
    default:
        cb->kind = CK_CB_LAMBDA;
        cb->class_name = "LambdaCallback";
        st = ck_config_init(&cb->cfg, NULL, 0);
        break;
    }
    if (st != CKERAS_OK) {
        ck_free(cb);
        return NULL;
    }
    return cb;
}

void ck_callback_free(ckeras_callback *cb)
{
    if (!cb)
        return;
    ck_free(cb->best_params);
    ck_free(cb->best_state);
    ck_csv_logger_close(cb);
    ck_config_free(&cb->cfg);
    ck_free(cb);
}

static ckeras_status check_settable(const ckeras_callback *cb, const char *name)
{
    if (!cb)
        return ck_error(CKERAS_EINVAL, "callback_set: callback is NULL");
    if (cb->cfg.n == 0)
        return ck_error(CKERAS_EINVAL, "%s: has no settings (got '%s')", cb->class_name,
                        name ? name : "(null)");
    return CKERAS_OK;
}

ckeras_status ck_callback_set_float(ckeras_callback *cb, const char *name, double value)
{
    ckeras_status st = check_settable(cb, name);
    if (st != CKERAS_OK)
        return st;
    st = ck_config_set_float(&cb->cfg, cb->class_name, name, value); /* NaN: None where None is the default */
    if (st == CKERAS_OK && (cb->kind == CK_CB_EARLY_STOPPING || cb->kind == CK_CB_REDUCE_LR))
        ck_early_stopping_reset_mode(cb);
    return st;
}

ckeras_status ck_callback_set_str(ckeras_callback *cb, const char *name, const char *value)
{
    ckeras_status st = check_settable(cb, name);
    if (st != CKERAS_OK)
        return st;
    if (!value || !*value) /* as the constructors: no empty monitor or filepath */
        return ck_error(CKERAS_EINVAL, "%s: '%s' needs a value, got %s", cb->class_name, name ? name : "(null)",
                        value ? "\"\"" : "NULL");
    if (cb->kind == CK_CB_CSV_LOGGER && name && strcmp(name, "separator") == 0 && strlen(value) != 1)
        return ck_error(CKERAS_EINVAL, "CSVLogger: the separator must be one character, got \"%s\"", value);
    st = ck_config_set_str(&cb->cfg, cb->class_name, name, value);
    if (st == CKERAS_OK && (cb->kind == CK_CB_EARLY_STOPPING || cb->kind == CK_CB_REDUCE_LR))
        ck_early_stopping_reset_mode(cb);
    return st;
}

/* Keras' TerminateOnNaN: a batch whose loss is NaN or infinite stops training. */
static ckeras_status terminate_on_nan(ck_train_ctx *ctx, ckeras_event ev, const ckeras_logs *logs)
{
    if (ev != CKERAS_BATCH_END)
        return CKERAS_OK;
    const double *loss = ck_logs_find(logs, "loss");
    if (loss && !isfinite(*loss))
        ctx->stop_training = true;
    return CKERAS_OK;
}

static ckeras_status lambda(ckeras_callback *cb, ck_train_ctx *ctx, ckeras_event ev, int index,
                            const ckeras_logs *logs)
{
    if (!cb->fn)
        return CKERAS_OK;
    ckeras_logs empty;
    if (!logs) {
        empty.n = 0;
        logs = &empty;
    }
    ckeras_status st = cb->fn(ev, index, logs, cb->user_data);
    if (st == CKERAS_OK)
        return CKERAS_OK;
    if (st == CKERAS_STOP) {
        ctx->stop_training = true;
        return CKERAS_OK;
    }
    return ck_error(st, "fit: user callback returned %s at %s %d", ckeras_status_name(st), event_name(ev), index);
}

ckeras_status ck_callback_event(ckeras_callback *cb, ck_train_ctx *ctx, ckeras_event ev, int index,
                                const ckeras_logs *logs)
{
    if (!cb)
        return ck_error(CKERAS_EINVAL, "callback: callback is NULL");
    if (!ctx)
        return ck_error(CKERAS_EINVAL, "%s: training context is NULL", cb->class_name);
    if (ctx->no_files &&
        (cb->kind == CK_CB_MODEL_CHECKPOINT || cb->kind == CK_CB_CSV_LOGGER || cb->kind == CK_CB_BACKUP))
        return CKERAS_OK;
    switch (cb->kind) {
    case CK_CB_EARLY_STOPPING:
        return ck_early_stopping_event(cb, ctx, ev, index, logs);
    case CK_CB_MODEL_CHECKPOINT:
        return ck_checkpoint_event(cb, ctx, ev, index, logs);
    case CK_CB_TERMINATE_ON_NAN:
        return terminate_on_nan(ctx, ev, logs);
    case CK_CB_REDUCE_LR:
        return ck_reduce_lr_event(cb, ctx, ev, index, logs);
    case CK_CB_LR_SCHEDULER:
        return ck_lr_scheduler_event(cb, ctx, ev, index);
    case CK_CB_CSV_LOGGER:
        return ck_csv_logger_event(cb, ev, index, ctx->logs ? ctx->logs : logs);
    case CK_CB_BACKUP:
        return ck_backup_event(cb, ctx, ev, index);
    case CK_CB_LAMBDA:
        return lambda(cb, ctx, ev, index, logs);
    }
    return CKERAS_OK;
}
