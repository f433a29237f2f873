/* Public optimizer entry points: argument checks, Keras defaults, handle ownership. */
#include "optimizers/optimizers.h"
#include "io/io.h"

#include <math.h>

/* A new optimizer of kind with its Keras defaults, then the given keywords (NULL + message if a
 * value is rejected). */
static ckeras_optimizer *make(ck_opt_kind kind, int n, const char *const *names, const double *values)
{
    ckeras_optimizer *o = ck_optimizer_new(kind);
    if (!o)
        return NULL;
    for (int i = 0; i < n; i++) {
        if (ck_optimizer_set(o, names[i], values[i]) != CKERAS_OK) {
            ck_optimizer_free(o);
            return NULL;
        }
    }
    return o;
}

CKERAS_API ckeras_optimizer *ckeras_sgd(double learning_rate, double momentum, int nesterov)
{
    return make(CK_OPT_SGD, 3, (const char *const[]){"learning_rate", "momentum", "nesterov"},
                (const double[]){learning_rate, momentum, nesterov ? 1.0 : 0.0});
}

CKERAS_API ckeras_optimizer *ckeras_adam(double learning_rate)
{
    return make(CK_OPT_ADAM, 1, (const char *const[]){"learning_rate"}, (const double[]){learning_rate});
}

CKERAS_API ckeras_optimizer *ckeras_adamw(double learning_rate, double weight_decay)
{
    return make(CK_OPT_ADAMW, 2, (const char *const[]){"learning_rate", "weight_decay"},
                (const double[]){learning_rate, weight_decay});
}

CKERAS_API ckeras_optimizer *ckeras_rmsprop(double learning_rate)
{
    return make(CK_OPT_RMSPROP, 1, (const char *const[]){"learning_rate"}, (const double[]){learning_rate});
}

CKERAS_API ckeras_optimizer *ckeras_adagrad(double learning_rate)
{
    return make(CK_OPT_ADAGRAD, 1, (const char *const[]){"learning_rate"}, (const double[]){learning_rate});
}

CKERAS_API ckeras_optimizer *ckeras_optimizer_from_name(const char *name)
{
    if (!name) {
        ck_error(CKERAS_EINVAL, "optimizer_from_name: name is NULL; accepted: %s", ck_optimizer_names());
        return NULL;
    }
    ck_opt_kind kind = ck_optimizer_kind_from_name(name);
    if (kind == CK_OPT_COUNT) {
        ck_error(CKERAS_EINVAL, "optimizer_from_name: unknown optimizer '%s'; accepted: %s", name,
                 ck_optimizer_names());
        return NULL;
    }
    return ck_optimizer_new(kind);
}

CKERAS_API ckeras_status ckeras_optimizer_set_float(ckeras_optimizer *opt, const char *name, double value)
{
    if (!opt)
        return ck_error(CKERAS_EINVAL, "optimizer_set_float: optimizer is NULL");
    if (!name)
        return ck_error(CKERAS_EINVAL, "optimizer_set_float: name is NULL");
    return ck_optimizer_set(opt, name, value);
}

CKERAS_API int64_t ckeras_optimizer_iterations(const ckeras_optimizer *opt)
{
    if (!opt) {
        ck_error(CKERAS_EINVAL, "optimizer_iterations: optimizer is NULL");
        return -1;
    }
    return opt->iterations;
}

CKERAS_API void ckeras_optimizer_free(ckeras_optimizer *opt)
{
    ck_optimizer_free(opt);
}

CKERAS_API ckeras_status ckeras_optimizer_set_schedule(ckeras_optimizer *opt, const char *class_name,
                                                       const char *config_json)
{
    if (!opt)
        return ck_error(CKERAS_EINVAL, "optimizer_set_schedule: optimizer is NULL");
    if (!class_name)
        return ck_optimizer_set_schedule(opt, NULL);
    if (!config_json)
        return ck_error(CKERAS_EINVAL, "optimizer_set_schedule: config_json is NULL (the %s keywords as a JSON "
                                       "object)",
                        class_name);
    ck_tree *cfg = ck_tree_from_json(config_json, "optimizer_set_schedule");
    if (!cfg)
        return ck_last_status(CKERAS_EFORMAT);
    ck_schedule *s = NULL;
    ckeras_status st = ck_schedule_from_tree(class_name, cfg, &s);
    ck_tree_free(cfg);
    if (st != CKERAS_OK)
        return st;
    return ck_optimizer_set_schedule(opt, s);
}

CKERAS_API double ckeras_optimizer_learning_rate(const ckeras_optimizer *opt)
{
    if (!opt) {
        ck_error(CKERAS_EINVAL, "optimizer_learning_rate: optimizer is NULL");
        return NAN;
    }
    return (double)ck_optimizer_lr(opt);
}
