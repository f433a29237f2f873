/* Public entry points: callbacks, logs, History. Argument checks and handle ownership only;
 * the work is in src/callbacks.
 *
 * Sizes: the products here are of small counts (list lengths grow by ck_grow, key and name
 * lengths) or constants; none is a size from outside. */
#include "callbacks/callbacks.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

CKERAS_API ckeras_callback *ckeras_lambda_callback(ckeras_callback_fn fn, void *user_data)
{
    if (!fn) {
        ck_error(CKERAS_EINVAL, "lambda_callback: fn is NULL");
        return NULL;
    }
    ckeras_callback *cb = ck_callback_new(CK_CB_LAMBDA);
    if (!cb)
        return NULL;
    cb->fn = fn;
    cb->user_data = user_data;
    return cb;
}

CKERAS_API ckeras_callback *ckeras_early_stopping(const char *monitor, int patience)
{
    if (patience < 0) {
        ck_error(CKERAS_EINVAL, "early_stopping: patience must be >= 0, got %d", patience);
        return NULL;
    }
    if (monitor && !*monitor) {
        ck_error(CKERAS_EINVAL, "early_stopping: monitor is empty (NULL means \"val_loss\")");
        return NULL;
    }
    ckeras_callback *cb = ck_callback_new(CK_CB_EARLY_STOPPING);
    if (!cb)
        return NULL;
    if ((monitor && ck_config_set_str(&cb->cfg, "EarlyStopping", "monitor", monitor) != CKERAS_OK) ||
        ck_config_set_int(&cb->cfg, "EarlyStopping", "patience", patience) != CKERAS_OK) {
        ck_callback_free(cb);
        return NULL;
    }
    return cb;
}

CKERAS_API ckeras_callback *ckeras_terminate_on_nan(void)
{
    return ck_callback_new(CK_CB_TERMINATE_ON_NAN);
}

CKERAS_API ckeras_status ckeras_callback_set_float(ckeras_callback *cb, const char *name, double value)
{
    return ck_callback_set_float(cb, name, value);
}

CKERAS_API ckeras_status ckeras_callback_set_str(ckeras_callback *cb, const char *name, const char *value)
{
    return ck_callback_set_str(cb, name, value);
}

CKERAS_API int ckeras_early_stopping_stopped_epoch(const ckeras_callback *cb)
{
    if (!cb || cb->kind != CK_CB_EARLY_STOPPING)
        return -1;
    return cb->stopped_epoch;
}

CKERAS_API int ckeras_early_stopping_best_epoch(const ckeras_callback *cb)
{
    if (!cb || cb->kind != CK_CB_EARLY_STOPPING)
        return -1;
    return cb->best_epoch;
}

CKERAS_API void ckeras_callback_free(ckeras_callback *cb)
{
    if (cb && atomic_load(&cb->in_fit)) {
        ck_error(CKERAS_ESTATE, "callback_free: the %s is in use by a running fit; not freed", cb->class_name);
        return;
    }
    ck_callback_free(cb);
}

CKERAS_API int ckeras_logs_count(const ckeras_logs *logs)
{
    return logs ? logs->n : 0;
}

CKERAS_API const char *ckeras_logs_name(const ckeras_logs *logs, int i)
{
    if (!logs || i < 0 || i >= logs->n)
        return NULL;
    return logs->names[i];
}

CKERAS_API double ckeras_logs_value(const ckeras_logs *logs, int i)
{
    if (!logs || i < 0 || i >= logs->n)
        return NAN;
    return logs->values[i];
}

CKERAS_API ckeras_status ckeras_logs_value_by_name(const ckeras_logs *logs, const char *name, double *value)
{
    if (!logs)
        return ck_error(CKERAS_EINVAL, "logs_get: logs is NULL");
    if (!name)
        return ck_error(CKERAS_EINVAL, "logs_get: name is NULL");
    if (!value)
        return ck_error(CKERAS_EINVAL, "logs_get: value is NULL");
    const double *v = ck_logs_find(logs, name);
    if (!v) {
        char list[CK_MAX_LOGS * (CK_LOG_NAME + 2) + 1];
        size_t len = 0;
        list[0] = '\0';
        for (int i = 0; i < logs->n; i++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", logs->names[i]);
        return ck_error(CKERAS_EINVAL, "logs_get: no '%s' in logs; present: %s", name,
                        logs->n ? list : "(none)");
    }
    *value = *v;
    return CKERAS_OK;
}

CKERAS_API int ckeras_history_epochs(const ckeras_history *h)
{
    return h ? h->epochs : 0;
}

CKERAS_API int ckeras_history_key_count(const ckeras_history *h)
{
    return h ? h->nkeys : 0;
}

CKERAS_API const char *ckeras_history_key(const ckeras_history *h, int i)
{
    if (!h || i < 0 || i >= h->nkeys)
        return NULL;
    return h->keys[i];
}

CKERAS_API ckeras_status ckeras_history_values(const ckeras_history *h, const char *key, const double **values,
                                            int *n)
{
    if (!h)
        return ck_error(CKERAS_EINVAL, "history_get: History is NULL");
    if (!key)
        return ck_error(CKERAS_EINVAL, "history_get: key is NULL");
    if (!values || !n)
        return ck_error(CKERAS_EINVAL, "history_get: output %s is NULL", !values ? "values" : "n");
    int k = ck_history_find(h, key);
    if (k < 0) {
        char list[CK_MAX_LOGS * (CK_LOG_NAME + 2) + 1];
        size_t len = 0;
        list[0] = '\0';
        for (int i = 0; i < h->nkeys; i++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", h->keys[i]);
        return ck_error(CKERAS_EINVAL, "history_get: no key '%s'; keys: %s", key, h->nkeys ? list : "(none)");
    }
    *values = h->values[k];
    *n = h->epochs;
    return CKERAS_OK;
}

CKERAS_API void ckeras_history_free(ckeras_history *h)
{
    ck_history_free(h);
}

CKERAS_API ckeras_status ckeras_history_read_csv(const char *path, ckeras_history **history)
{
    if (!path || !history)
        return ck_error(CKERAS_EINVAL, "history_read_csv: %s is NULL", !path ? "path" : "history");
    return ck_history_read_csv(path, history);
}

CKERAS_API ckeras_status ckeras_history_plot_svg(const ckeras_history *h, const char *path, const char *title)
{
    if (!h || !path)
        return ck_error(CKERAS_EINVAL, "history_plot_svg: %s is NULL", !h ? "History" : "path");
    return ck_history_plot_svg(h, path, title);
}

CKERAS_API ckeras_callback *ckeras_model_checkpoint(const char *filepath, const char *monitor, int save_best_only)
{
    if (!filepath || !*filepath) {
        ck_error(CKERAS_EINVAL, "model_checkpoint: filepath is empty");
        return NULL;
    }
    ckeras_callback *cb = ck_callback_new(CK_CB_MODEL_CHECKPOINT);
    if (!cb)
        return NULL;
    if (ck_config_set_str(&cb->cfg, "ModelCheckpoint", "filepath", filepath) != CKERAS_OK ||
        (monitor && ck_callback_set_str(cb, "monitor", monitor) != CKERAS_OK) ||
        ck_config_set_bool(&cb->cfg, "ModelCheckpoint", "save_best_only", save_best_only != 0) != CKERAS_OK) {
        ck_callback_free(cb);
        return NULL;
    }
    return cb;
}

CKERAS_API ckeras_callback *ckeras_reduce_lr_on_plateau(const char *monitor, double factor, int patience)
{
    if (monitor && !*monitor) {
        ck_error(CKERAS_EINVAL, "reduce_lr_on_plateau: monitor is empty (NULL means \"val_loss\")");
        return NULL;
    }
    if (!(factor >= 0.0 && factor < 1.0)) {
        ck_error(CKERAS_EINVAL, "ReduceLROnPlateau does not support a factor >= 1.0 (or negative, or NaN); got %g",
                 factor);
        return NULL;
    }
    if (patience < 0) {
        ck_error(CKERAS_EINVAL, "reduce_lr_on_plateau: patience must be >= 0, got %d", patience);
        return NULL;
    }
    ckeras_callback *cb = ck_callback_new(CK_CB_REDUCE_LR);
    if (!cb)
        return NULL;
    if ((monitor && ck_config_set_str(&cb->cfg, cb->class_name, "monitor", monitor) != CKERAS_OK) ||
        ck_config_set_float(&cb->cfg, cb->class_name, "factor", factor) != CKERAS_OK ||
        ck_config_set_int(&cb->cfg, cb->class_name, "patience", patience) != CKERAS_OK) {
        ck_callback_free(cb);
        return NULL;
    }
    return cb;
}

CKERAS_API ckeras_callback *ckeras_learning_rate_scheduler(ckeras_lr_schedule_fn schedule, void *user_data)
{
    if (!schedule) {
        ck_error(CKERAS_EINVAL, "learning_rate_scheduler: schedule is NULL");
        return NULL;
    }
    ckeras_callback *cb = ck_callback_new(CK_CB_LR_SCHEDULER);
    if (!cb)
        return NULL;
    cb->lr_fn = schedule;
    cb->user_data = user_data;
    return cb;
}

CKERAS_API ckeras_callback *ckeras_csv_logger(const char *filename, const char *separator, int append)
{
    if (!filename || !*filename) {
        ck_error(CKERAS_EINVAL, "csv_logger: filename is empty");
        return NULL;
    }
    ckeras_callback *cb = ck_callback_new(CK_CB_CSV_LOGGER);
    if (!cb)
        return NULL;
    if (ck_config_set_str(&cb->cfg, cb->class_name, "filename", filename) != CKERAS_OK ||
        (separator && ck_callback_set_str(cb, "separator", separator) != CKERAS_OK) ||
        ck_config_set_bool(&cb->cfg, cb->class_name, "append", append != 0) != CKERAS_OK) {
        ck_callback_free(cb);
        return NULL;
    }
    return cb;
}

CKERAS_API ckeras_callback *ckeras_backup_and_restore(const char *backup_dir)
{
    if (!backup_dir || !*backup_dir) {
        ck_error(CKERAS_EINVAL, "backup_and_restore: Empty `backup_dir` argument passed");
        return NULL;
    }
    ckeras_callback *cb = ck_callback_new(CK_CB_BACKUP);
    if (!cb)
        return NULL;
    if (ck_config_set_str(&cb->cfg, cb->class_name, "backup_dir", backup_dir) != CKERAS_OK) {
        ck_callback_free(cb);
        return NULL;
    }
    return cb;
}
