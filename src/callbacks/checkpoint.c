/* ModelCheckpoint: save the model (or its weights) at the end of epochs, every epoch or only
 * when the monitored value improves; the file name may carry Keras' fields ({epoch:02d},
 * {val_loss:.2f}). Saves are atomic (the model room writes a temporary file and renames it). */
#include "callbacks.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const ck_field ck_checkpoint_fields[] = {
    {"filepath", CK_STR, NULL, NULL, "where to save; may contain {epoch} and log fields"},
    {"monitor", CK_STR, "val_loss", NULL, "value that decides save_best_only"},
    {"verbose", CK_INT, "0", NULL, "1: print a line when saving"},
    {"save_best_only", CK_BOOL, "false", NULL, "save only when the monitored value improves"},
    {"save_weights_only", CK_BOOL, "false", NULL, "save the weights only"},
    {"mode", CK_STR, "auto", "auto|min|max", "direction of improvement"},
    {"save_freq", CK_STR, "epoch", "epoch", "when to save (only \"epoch\")"},
    {"initial_value_threshold", CK_FLOAT, NULL, NULL, "best value to beat at the start"},
};
const int ck_checkpoint_nfields = sizeof ck_checkpoint_fields / sizeof ck_checkpoint_fields[0];

ckeras_status ck_checkpoint_format(const char *pattern, int epoch, const ckeras_logs *logs, char *out, size_t n)
{
    size_t len = 0;
    for (const char *p = pattern; *p;) {
        if (len + 1 >= n)
            return ck_error(CKERAS_EINVAL, "ModelCheckpoint: filepath '%s' is too long once filled in", pattern);
        if (*p == '{' && p[1] == '{') {
            out[len++] = '{';
            p += 2;
            continue;
        }
        if (*p == '}' && p[1] == '}') {
            out[len++] = '}';
            p += 2;
            continue;
        }
        if (*p != '{') {
            out[len++] = *p++;
            continue;
        }
        const char *end = strchr(p, '}');
        if (!end)
            return ck_error(CKERAS_EINVAL, "ModelCheckpoint: unclosed '{' in filepath '%s'", pattern);
        char field[64], spec[16] = "";
        size_t fl = (size_t)(end - p - 1);
        if (fl >= sizeof field)
            return ck_error(CKERAS_EINVAL, "ModelCheckpoint: field too long in filepath '%s'", pattern);
        memcpy(field, p + 1, fl);
        field[fl] = '\0';
        char *colon = strchr(field, ':');
        if (colon) {
            *colon = '\0';
            if (strlen(colon + 1) >= sizeof spec - 2)
                return ck_error(CKERAS_EINVAL, "ModelCheckpoint: format '%s' too long", colon + 1);
            snprintf(spec, sizeof spec, "%s", colon + 1);
        }
        /* a Python format spec of digits, '.', and one type letter becomes a printf one */
        for (const char *c = spec; *c; c++)
            if (!strchr("0123456789.+-deEfFgG", *c))
                return ck_error(CKERAS_EINVAL, "ModelCheckpoint: unsupported format '{%s:%s}'", field, spec);
        char fmt[24];
        int w;
        if (strcmp(field, "epoch") == 0) {
            size_t sl = strlen(spec);
            if (sl && spec[sl - 1] == 'd')
                spec[sl - 1] = '\0';
            snprintf(fmt, sizeof fmt, "%%%sd", spec);
            w = snprintf(out + len, n - len, fmt, epoch);
        } else {
            const double *v = ck_logs_find(logs, field);
            if (!v)
                return ck_error(CKERAS_EINVAL, "ModelCheckpoint: filepath field '{%s}' is not in the logs", field);
            size_t sl = strlen(spec);
            snprintf(fmt, sizeof fmt, "%%%s%s", spec, sl && strchr("eEfFgG", spec[sl - 1]) ? "" : "g");
            w = snprintf(out + len, n - len, fmt, *v);
        }
        if (w < 0 || (size_t)w >= n - len)
            return ck_error(CKERAS_EINVAL, "ModelCheckpoint: filepath '%s' is too long once filled in", pattern);
        len += (size_t)w;
        p = end + 1;
    }
    out[len] = '\0';
    return CKERAS_OK;
}

/* Keras 3: "auto" is max when the monitor mentions "acc" (or starts with "fmeasure"), else min. */
static int direction(const ckeras_callback *cb)
{
    const char *mode = ck_cfg_str(&cb->cfg, "mode");
    const char *mon = ck_cfg_str(&cb->cfg, "monitor");
    if (strcmp(mode, "min") == 0)
        return -1;
    if (strcmp(mode, "max") == 0)
        return 1;
    return mon && (strstr(mon, "acc") || strncmp(mon, "fmeasure", 8) == 0) ? 1 : -1;
}

ckeras_status ck_checkpoint_event(ckeras_callback *cb, ck_train_ctx *ctx, ckeras_event ev, int index,
                                  const ckeras_logs *logs)
{
    if (ev == CKERAS_TRAIN_BEGIN) {
        if (!ck_cfg_str(&cb->cfg, "filepath"))
            return ck_error(CKERAS_EINVAL, "ModelCheckpoint: filepath is not set");
        if (!ctx->save)
            return ck_error(CKERAS_ESTATE, "ModelCheckpoint: this training loop cannot save");
        const ck_value *t = ck_cfg_value(&cb->cfg, "initial_value_threshold");
        cb->monitor_op = direction(cb);
        cb->has_best = !t->is_none;
        cb->best = t->is_none ? 0 : t->f;
        cb->best_epoch = -1;
        return CKERAS_OK;
    }
    if (ev != CKERAS_EPOCH_END)
        return CKERAS_OK;
    bool best_only = ck_cfg_bool(&cb->cfg, "save_best_only");
    const char *mon = ck_cfg_str(&cb->cfg, "monitor");
    if (best_only) {
        const double *v = ck_logs_find(logs, mon);
        if (!v) {
            if (ck_cfg_int(&cb->cfg, "verbose") > 0)
                fprintf(stderr, "ModelCheckpoint: can save best model only with %s available, skipping\n", mon);
            return CKERAS_OK;
        }
        bool better = !cb->has_best || (cb->monitor_op < 0 ? *v < cb->best : *v > cb->best);
        if (!better || isnan(*v))
            return CKERAS_OK;
        cb->best = *v;
        cb->has_best = true;
        cb->best_epoch = index;
    }
    char path[4096];
    ckeras_status st = ck_checkpoint_format(ck_cfg_str(&cb->cfg, "filepath"), index + 1, logs, path, sizeof path);
    if (st != CKERAS_OK)
        return st;
    if (ck_cfg_int(&cb->cfg, "verbose") > 0)
        printf("\nEpoch %d: saving model to %s\n", index + 1, path);
    st = ctx->save(ctx->model, path, ck_cfg_bool(&cb->cfg, "save_weights_only"));
    if (st != CKERAS_OK)
        ck_error_prefix("ModelCheckpoint (epoch %d)", index + 1);
    return st;
}
