/* Public entry points for layers, models and fit: argument checks and ownership. */
#include "model/model.h"
#include "kernels/kernels.h"
#include "io/io.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define NEED(h, what)                                                                                        \
    do {                                                                                                     \
        if (!(h))                                                                                            \
            return ck_error(CKERAS_EINVAL, "%s: %s is NULL", __func__ + 7, what);                            \
    } while (0)

/* One rule for calls on a model in use (include/ckeras.h, "Conventions"). A model's work buffers
 * (the plan), layers and weights belong to the model, so two calls on one model at once would
 * corrupt each other. Every call that runs the model or changes it takes the model's busy flag
 * and fails with CKERAS_ESTATE instead of waiting when another thread, or the fit whose callback
 * is making the call, holds it. Saving is the exception Keras' ModelCheckpoint needs: a callback
 * of this thread's fit may save the model it fits (between batches its weights and optimizer
 * state are consistent). Calls that only read the structure (summary, to_json, to_dot, counts,
 * names) take no flag. */
static _Thread_local const ckeras_model *fitting; /* the model whose fit runs in this thread */

static ckeras_status model_enter(const ckeras_model *m, const char *what)
{
    ckeras_model *mm = (ckeras_model *)m;
    if (atomic_exchange_explicit(&mm->busy, 1, memory_order_acquire))
        return ck_error(CKERAS_ESTATE, "%s: model '%s' is in use by another thread (or by the fit that runs this "
                        "callback)", what, m->name);
    /* a model sharing layers with a busy one (a base called by the model being fitted) would lay
     * their weights out anew or read them mid-step */
    for (int i = 0; i < m->g.n; i++) {
        const ckeras_model *o = m->g.nodes[i].layer->laid_out_by;
        if (o && o != m && atomic_load(&o->busy)) {
            atomic_store_explicit(&mm->busy, 0, memory_order_release);
            return ck_error(CKERAS_ESTATE, "%s: model '%s' shares layer '%s' with model '%s', which is in use", what,
                            m->name, m->g.nodes[i].layer->name, o->name);
        }
    }
    return CKERAS_OK;
}

static ckeras_status model_leave(const ckeras_model *m, ckeras_status st)
{
    atomic_store_explicit(&((ckeras_model *)m)->busy, 0, memory_order_release);
    return st;
}

#define ENTER(m)                                                                                             \
    do {                                                                                                     \
        if (model_enter((m), __func__ + 7) != CKERAS_OK)                                                     \
            return CKERAS_ESTATE;                                                                            \
    } while (0)

/* Runs a save: from a callback of the fit of m in this thread, beside that fit; else as ENTER. */
#define SAVE_CALL(m, call)                                                                                   \
    do {                                                                                                     \
        if (fitting == (m) && atomic_load(&(m)->busy))                                                       \
            return (call);                                                                                   \
        ENTER(m);                                                                                            \
        return model_leave((m), (call));                                                                     \
    } while (0)

/* ---- layers -------------------------------------------------------------------------------- */

static ckeras_layer *new_layer(const ck_layer_vt *vt)
{
    return ck_layer_new(vt);
}

CKERAS_API ckeras_layer *ckeras_input(int ndim, const int64_t *shape)
{
    if (ndim < 1 || ndim > CKERAS_MAX_DIMS || !shape) {
        ck_error(CKERAS_EINVAL, "input: shape must have 1..%d axes", CKERAS_MAX_DIMS);
        return NULL;
    }
    ck_shape per_sample = {.ndim = ndim}; /* its element count, None axes left out */
    for (int a = 0; a < ndim; a++)
        per_sample.d[a] = shape[a];
    if (ck_shape_check(&per_sample, "input: the shape") != CKERAS_OK)
        return NULL;
    ckeras_layer *l = new_layer(&ck_input_vt);
    if (l && ck_config_set_ints(&l->cfg, "Input", "shape", ndim, shape) != CKERAS_OK) {
        ck_layer_free(l);
        return NULL;
    }
    return l;
}

CKERAS_API ckeras_layer *ckeras_dense(int64_t units, const char *activation)
{
    if (units <= 0) {
        ck_error(CKERAS_EINVAL, "dense: units must be > 0, got %lld", (long long)units);
        return NULL;
    }
    ck_act probe;
    if (ck_act_parse(activation, &probe) != CKERAS_OK) {
        ck_error_prefix("dense");
        return NULL;
    }
    ckeras_layer *l = new_layer(&ck_dense_vt);
    if (!l)
        return NULL;
    if (ck_config_set_int(&l->cfg, "Dense", "units", units) != CKERAS_OK ||
        ck_config_set_str(&l->cfg, "Dense", "activation", activation ? activation : "linear") != CKERAS_OK) {
        ck_layer_free(l);
        return NULL;
    }
    return l;
}

CKERAS_API ckeras_layer *ckeras_activation(const char *activation)
{
    ck_act probe;
    if (ck_act_parse_any(activation, &probe) != CKERAS_OK) {
        ck_error_prefix("activation");
        return NULL;
    }
    ckeras_layer *l = new_layer(&ck_activation_vt);
    if (l && ck_config_set_str(&l->cfg, "Activation", "activation", activation ? activation : "linear") !=
                 CKERAS_OK) {
        ck_layer_free(l);
        return NULL;
    }
    return l;
}

CKERAS_API ckeras_layer *ckeras_dropout(double rate)
{
    if (!(rate >= 0.0 && rate < 1.0)) {
        ck_error(CKERAS_EINVAL, "dropout: rate must be in [0, 1), got %g", rate);
        return NULL;
    }
    ckeras_layer *l = new_layer(&ck_dropout_vt);
    if (l && ck_config_set_float(&l->cfg, "Dropout", "rate", rate) != CKERAS_OK) {
        ck_layer_free(l);
        return NULL;
    }
    return l;
}

CKERAS_API ckeras_layer *ckeras_flatten(void)
{
    return new_layer(&ck_flatten_vt);
}

CKERAS_API void ckeras_layer_free(ckeras_layer *layer)
{
    if (layer && !layer->owned)
        ck_layer_free(layer);
}

static ckeras_status settable(const ckeras_layer *l, const char *fn)
{
    if (!l)
        return ck_error(CKERAS_EINVAL, "%s: layer is NULL", fn);
    if (l->owned)
        return ck_error(CKERAS_ESTATE, "%s: layer '%s' is already part of a model; set keywords before adding it",
                        fn, l->name);
    return CKERAS_OK;
}

/* Names of activations and initializers are checked when set, as the constructors check them
 * (the layer's build checks them again, for configs read from files). */
static ckeras_status check_str_setting(const char *name, const char *value)
{
    size_t n = name ? strlen(name) : 0;
    ck_act probe;
    if (!value)
        return CKERAS_OK;
    if (n >= 10 && strcmp(name + n - 10, "activation") == 0)
        return ck_act_parse_any(value, &probe); /* glu: the layer's build says where it is refused */
    if (n >= 11 && strcmp(name + n - 11, "initializer") == 0)
        return ck_init_check(value);
    float l1, l2;
    if (n >= 11 && strcmp(name + n - 11, "regularizer") == 0)
        return ck_regularizer_parse(value, &l1, &l2);
    ck_constraint c;
    if (n >= 10 && strcmp(name + n - 10, "constraint") == 0)
        return ck_constraint_parse(value, -1, &c); /* its axes are checked against the weight at build */
    return CKERAS_OK;
}

CKERAS_API ckeras_status ckeras_layer_set_str(ckeras_layer *layer, const char *name, const char *value)
{
    ckeras_status st = settable(layer, "layer_set_str");
    char spec[256];
    if (st == CKERAS_OK && value && value[0] == '{') { /* a Keras object config: {"class_name": "L2", ...} */
        ck_tree *t = ck_tree_from_json(value, "layer_set_str");
        st = t ? ck_config_object_spec(t, spec, sizeof spec, "layer_set_str", name ? name : "") : CKERAS_EFORMAT;
        ck_tree_free(t);
        if (st != CKERAS_OK)
            ck_error_prefix("layer_set_str: %s: '%s'", layer->vt->class_name, name ? name : "");
        value = spec;
    }
    if (st == CKERAS_OK && (st = check_str_setting(name, value)) != CKERAS_OK)
        ck_error_prefix("layer_set_str: %s: '%s'", layer->vt->class_name, name);
    return st ? st : ck_config_set_str(&layer->cfg, layer->vt->class_name, name, value);
}

CKERAS_API ckeras_status ckeras_layer_set_int(ckeras_layer *layer, const char *name, int64_t value)
{
    ckeras_status st = settable(layer, "layer_set_int");
    return st ? st : ck_config_set_int(&layer->cfg, layer->vt->class_name, name, value);
}

CKERAS_API ckeras_status ckeras_layer_set_float(ckeras_layer *layer, const char *name, double value)
{
    ckeras_status st = settable(layer, "layer_set_float");
    return st ? st : ck_config_set_float(&layer->cfg, layer->vt->class_name, name, value);
}

CKERAS_API ckeras_status ckeras_layer_set_bool(ckeras_layer *layer, const char *name, int value)
{
    ckeras_status st = settable(layer, "layer_set_bool");
    return st ? st : ck_config_set_bool(&layer->cfg, layer->vt->class_name, name, value != 0);
}

CKERAS_API ckeras_status ckeras_layer_set_ints(ckeras_layer *layer, const char *name, int n, const int64_t *values)
{
    ckeras_status st = settable(layer, "layer_set_ints");
    return st ? st : ck_config_set_ints(&layer->cfg, layer->vt->class_name, name, n, values);
}

CKERAS_API ckeras_status ckeras_layer_set_name(ckeras_layer *layer, const char *name)
{
    ckeras_status st = settable(layer, "layer_set_name");
    if (st)
        return st;
    if (!name || !*name || strlen(name) >= CK_NAME_MAX)
        return ck_error(CKERAS_EINVAL, "layer_set_name: name must have 1..%d characters", CK_NAME_MAX - 1);
    snprintf(layer->name, sizeof layer->name, "%s", name);
    layer->named = true;
    return CKERAS_OK;
}

CKERAS_API const char *ckeras_layer_name(const ckeras_layer *layer)
{
    return layer ? layer->name : NULL;
}

CKERAS_API const char *ckeras_layer_class(const ckeras_layer *layer)
{
    return layer ? layer->vt->class_name : NULL;
}

CKERAS_API ckeras_status ckeras_layer_set_trainable(ckeras_layer *layer, int trainable)
{
    NEED(layer, "layer");
    if (trainable != 0 && trainable != 1)
        return ck_error(CKERAS_EINVAL, "layer_set_trainable: trainable must be 0 or 1, got %d", trainable);
    const ckeras_model *m = layer->laid_out_by;
    if (m && atomic_load(&m->busy))
        return ck_error(CKERAS_ESTATE, "layer_set_trainable: layer '%s' belongs to model '%s', which is in use",
                        layer->name, m->name);
    layer->trainable = trainable != 0;
    return CKERAS_OK;
}

CKERAS_API int ckeras_layer_trainable(const ckeras_layer *layer)
{
    return layer ? (int)layer->trainable : -1;
}

CKERAS_API int ckeras_layer_weight_count(const ckeras_layer *layer)
{
    return layer ? layer->nw : 0;
}

CKERAS_API ckeras_status ckeras_layer_weight(ckeras_layer *layer, int i, const char **name, ckeras_tensor **view)
{
    NEED(layer, "layer");
    if (i < 0 || i >= layer->nw || !layer->w[i].data)
        return ck_error(CKERAS_EINVAL, "layer_weight: layer '%s' has no weight %d (it has %d)", layer->name, i,
                        layer->w[i < 0 || i >= layer->nw ? 0 : i].data ? layer->nw : 0);
    if (name)
        *name = layer->w[i].name;
    if (view) {
        *view = ckeras_tensor_wrap(layer->w[i].data, layer->w[i].shape.ndim, layer->w[i].shape.d);
        if (!*view)
            return CKERAS_ENOMEM;
    }
    return CKERAS_OK;
}

/* A layer from a Keras class name and config JSON. */
CKERAS_API ckeras_layer *ckeras_layer_from_config(const char *class_name, const char *config_json)
{
    const ck_layer_vt *vt = ck_layer_lookup(class_name);
    if (!vt) {
        ck_error(CKERAS_EUNSUPPORTED, "layer_from_config: unknown layer class '%s'", class_name ? class_name : "(null)");
        return NULL;
    }
    ckeras_layer *l = ck_layer_new(vt);
    if (!l)
        return NULL;
    if (config_json) {
        ck_tree *cfg = ck_tree_from_json(config_json, "layer_from_config");
        ckeras_status st = cfg ? ck_config_from_tree(&l->cfg, vt->class_name, cfg, l->name, sizeof l->name,
                                                     &l->trainable)
                               : CKERAS_EFORMAT;
        if (st == CKERAS_OK && cfg->kind != CK_T_OBJECT)
            st = ck_error(CKERAS_EFORMAT, "layer_from_config: the config must be a JSON object");
        ck_tree_free(cfg);
        if (st != CKERAS_OK) {
            ck_layer_free(l);
            return NULL;
        }
    }
    if (l->name[0])
        l->named = true;
    return l;
}

/* ---- models -------------------------------------------------------------------------------- */

CKERAS_API ckeras_model *ckeras_sequential(const char *name)
{
    if (name && (!*name || strlen(name) >= CK_NAME_MAX)) {
        ck_error(CKERAS_EINVAL, "sequential: name must have 1..%d characters", CK_NAME_MAX - 1);
        return NULL;
    }
    ckeras_model *m = ck_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    snprintf(m->name, sizeof m->name, "%s", name ? name : "sequential");
    ck_rng_seed(&m->rng, ck_next_model_seed());
    return m;
}

CKERAS_API ckeras_status ckeras_model_add(ckeras_model *model, ckeras_layer *layer)
{
    if (!model) {
        ckeras_layer_free(layer);
        return ck_error(CKERAS_EINVAL, "model_add: model is NULL");
    }
    if (!layer)
        return ck_error(CKERAS_EINVAL, "model_add: layer is NULL (did its constructor fail? %s)", ckeras_last_error());
    if (layer->owned)
        return ck_error(CKERAS_EINVAL, "model_add: layer '%s' already belongs to a model", layer->name);
    if (model_enter(model, "model_add") != CKERAS_OK) {
        ckeras_layer_free(layer);
        return CKERAS_ESTATE;
    }
    return model_leave(model, ck_model_add(model, layer));
}

CKERAS_API void ckeras_model_free(ckeras_model *model)
{
    if (model && atomic_load(&model->busy)) {
        ck_error(CKERAS_ESTATE, "model_free: model '%s' is in use (by another thread, or by the fit that runs this "
                 "callback); not freed", model->name);
        return;
    }
    ck_model_free(model);
}

/* The node of visible layer i (hidden nodes, the outputs of layers with several, skipped); -1. */
static int visible_node(const ckeras_model *m, int i)
{
    for (int n = 0; n < m->g.n; n++)
        if (!ck_node_hidden(&m->g.nodes[n]) && i-- == 0)
            return n;
    return -1;
}

CKERAS_API int ckeras_model_layer_count(const ckeras_model *model)
{
    int n = 0;
    for (int i = 0; model && i < model->g.n; i++)
        n += !ck_node_hidden(&model->g.nodes[i]);
    return n;
}

CKERAS_API ckeras_layer *ckeras_model_layer(ckeras_model *model, int i)
{
    int n = model && i >= 0 ? visible_node(model, i) : -1;
    return n < 0 ? NULL : model->g.nodes[n].layer;
}

CKERAS_API ckeras_layer *ckeras_model_layer_by_name(ckeras_model *model, const char *name)
{
    if (!model || !name)
        return NULL;
    for (int i = 0; i < model->g.n; i++)
        if (strcmp(model->g.nodes[i].layer->name, name) == 0)
            return model->g.nodes[i].layer;
    return NULL;
}

CKERAS_API const char *ckeras_model_name(const ckeras_model *model)
{
    return model ? model->name : NULL;
}

CKERAS_API ckeras_optimizer *ckeras_model_optimizer(ckeras_model *model)
{
    if (!model) {
        ck_error(CKERAS_EINVAL, "model_optimizer: model is NULL");
        return NULL;
    }
    if (!model->compiled || !model->opt) {
        ck_error(CKERAS_ESTATE, "model_optimizer: model '%s' is not compiled (no optimizer)", model->name);
        return NULL;
    }
    return model->opt;
}

CKERAS_API ckeras_status ckeras_model_count_params(const ckeras_model *model, int64_t *total, int64_t *trainable,
                                                   int64_t *non_trainable)
{
    NEED(model, "model");
    int64_t t = 0, all = 0;
    for (int i = 0; i < model->g.n; i++) {
        if (!model->g.nodes[i].first_use)
            continue; /* a shared layer's weights count once */
        all += ck_layer_param_count(model->g.nodes[i].layer, false);
        t += ck_layer_param_count(model->g.nodes[i].layer, true);
    }
    if (total)
        *total = all;
    if (trainable)
        *trainable = t;
    if (non_trainable)
        *non_trainable = all - t;
    return CKERAS_OK;
}

CKERAS_API ckeras_status ckeras_model_compile(ckeras_model *model, ckeras_optimizer *optimizer, const char *loss,
                                              const char *metrics)
{
    if (!model) {
        ckeras_optimizer_free(optimizer);
        return ck_error(CKERAS_EINVAL, "model_compile: model is NULL");
    }
    if (model_enter(model, "model_compile") != CKERAS_OK) {
        ckeras_optimizer_free(optimizer);
        return CKERAS_ESTATE;
    }
    return model_leave(model, ck_model_compile(model, optimizer, loss, metrics));
}

CKERAS_API ckeras_status ckeras_model_add_metric(ckeras_model *model, const char *output_name, const char *spec)
{
    NEED(model, "model");
    NEED(spec, "spec");
    int k = -1;
    if (output_name) {
        for (k = 0; k < model->g.noutputs && strcmp(ck_model_output_name(model, k), output_name) != 0; k++)
            ;
        if (k == model->g.noutputs)
            return ck_error(CKERAS_EINVAL, "model_add_metric: model '%s' has no output named '%s'", model->name,
                            output_name);
    }
    const char *p = spec;
    while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
    ck_tree *cfg = NULL;
    if (*p == '{' && !(cfg = ck_tree_from_json(spec, "model_add_metric")))
        return ck_last_status(CKERAS_EINVAL);
    ENTER(model);
    ckeras_status st = ck_model_add_metric(model, k, cfg, spec);
    ck_tree_free(cfg);
    return model_leave(model, st);
}

CKERAS_API ckeras_status ckeras_model_set_loss_float(ckeras_model *model, const char *name, double value)
{
    NEED(model, "model");
    if (!model->compiled)
        return ck_error(CKERAS_ESTATE, "model_set_loss_float: compile the model first");
    if (name && strcmp(name, "from_logits") == 0) {
        if (value != 0.0 && value != 1.0)
            return ck_error(CKERAS_EINVAL, "model_set_loss_float: from_logits is a bool (0 or 1), got %g", value);
        ENTER(model);
        for (int k = 0; k < CK_MAX_OUTPUTS; k++)
            model->loss[k].from_logits = value != 0.0;
        return model_leave(model, CKERAS_OK);
    }
    if (name && strcmp(name, "delta") == 0) {
        if (!(value > 0 && isfinite(value) && value <= FLT_MAX))
            return ck_error(CKERAS_EINVAL, "model_set_loss_float: delta must be finite and > 0, got %g", value);
        ENTER(model);
        for (int k = 0; k < CK_MAX_OUTPUTS; k++)
            model->loss[k].delta = (float)value;
        return model_leave(model, CKERAS_OK);
    }
    return ck_error(CKERAS_EINVAL, "model_set_loss_float: unknown setting '%s'; accepted: from_logits, delta",
                    name ? name : "(null)");
}

CKERAS_API ckeras_fit_args *ckeras_fit_args_new(void)
{
    ckeras_fit_args *a = ck_calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->epochs = 1;
    a->batch_size = 32;
    a->verbose = 1;
    a->shuffle = true;
    return a;
}

CKERAS_API ckeras_status ckeras_fit_args_set_int(ckeras_fit_args *args, const char *name, int64_t value)
{
    NEED(args, "args");
    NEED(name, "name");
    if (strcmp(name, "epochs") == 0 && value >= 0)
        args->epochs = value;
    else if (strcmp(name, "batch_size") == 0 && value > 0)
        args->batch_size = value;
    else if (strcmp(name, "verbose") == 0 && value >= 0 && value <= 2)
        args->verbose = value;
    else if (strcmp(name, "shuffle") == 0 && (value == 0 || value == 1))
        args->shuffle = value != 0;
    else if (strcmp(name, "initial_epoch") == 0 && value >= 0)
        args->initial_epoch = value;
    else if (strcmp(name, "validation_freq") == 0 && value >= 1)
        args->validation_freq = value;
    else if (strcmp(name, "steps_per_epoch") == 0 && value >= 0)
        args->steps_per_epoch = value;
    else if (strcmp(name, "validation_batch_size") == 0 && value >= 0)
        args->validation_batch_size = value;
    else if (strcmp(name, "validation_steps") == 0 && value >= 0)
        args->validation_steps = value;
    else if (strcmp(name, "validation_split") == 0)
        return ckeras_fit_args_set_float(args, name, (double)value);
    else
        return ck_error(CKERAS_EINVAL,
                        "fit_args_set_int: bad setting %s = %lld; accepted: epochs >= 0, batch_size > 0, "
                        "verbose 0..2, shuffle 0/1, initial_epoch >= 0, validation_freq >= 1, steps_per_epoch, "
                        "validation_batch_size, validation_steps >= 0 (0: not set)", name, (long long)value);
    return CKERAS_OK;
}

CKERAS_API ckeras_status ckeras_fit_args_set_float(ckeras_fit_args *args, const char *name, double value)
{
    NEED(args, "args");
    NEED(name, "name");
    if (strcmp(name, "validation_split") == 0) {
        if (!(value >= 0.0 && value < 1.0))
            return ck_error(CKERAS_EINVAL, "fit_args_set_float: validation_split must be in [0, 1), got %g", value);
        args->validation_split = value;
        return CKERAS_OK;
    }
    if (value >= -0x1p63 && value < 0x1p63 && value == (double)(int64_t)value) /* in range: no UB */
        return ckeras_fit_args_set_int(args, name, (int64_t)value);
    return ck_error(CKERAS_EINVAL, "fit_args_set_float: unknown setting '%s'", name);
}

CKERAS_API ckeras_status ckeras_fit_args_set_validation_data(ckeras_fit_args *args, const ckeras_tensor *x,
                                                             const ckeras_tensor *y)
{
    NEED(args, "args");
    if ((x == NULL) != (y == NULL))
        return ck_error(CKERAS_EINVAL, "fit_args_set_validation_data: give both x and y, or neither");
    if (!x) {
        memset(&args->val, 0, sizeof args->val);
        return CKERAS_OK;
    }
    return ckeras_fit_args_set_validation_data_multi(args, 1, &x, 1, &y);
}

/* n weight tensors (0: none; 1: for every output; else one per output, NULL allowed) into w. */
static ckeras_status weights_arg(int n, const ckeras_tensor *const *sw, int *nw, const ckeras_tensor **w,
                                 const char *what)
{
    if (n < 0 || n > CK_MAX_OUTPUTS || (n > 0 && !sw))
        return ck_error(CKERAS_EINVAL, "%s: give 0..%d sample_weight tensors, got %d", what, CK_MAX_OUTPUTS, n);
    if (n == 1 && !sw[0])
        return ck_error(CKERAS_EINVAL, "%s: sample_weight is NULL", what);
    for (int k = 0; k < CK_MAX_OUTPUTS; k++)
        w[k] = k < n ? sw[k] : NULL;
    *nw = n;
    return CKERAS_OK;
}

CKERAS_API ckeras_status ckeras_fit_args_set_sample_weight(ckeras_fit_args *args, int n_weights,
                                                           const ckeras_tensor *const *sample_weight)
{
    NEED(args, "args");
    return weights_arg(n_weights, sample_weight, &args->nsw, args->sw, "fit_args_set_sample_weight");
}

CKERAS_API ckeras_status ckeras_fit_args_set_validation_sample_weight(ckeras_fit_args *args, int n_weights,
                                                                      const ckeras_tensor *const *sample_weight)
{
    NEED(args, "args");
    if (n_weights != 0 && args->val.nx == 0)
        return ck_error(CKERAS_ESTATE, "fit_args_set_validation_sample_weight: set validation_data first");
    return weights_arg(n_weights, sample_weight, &args->val.nw, args->val.w,
                       "fit_args_set_validation_sample_weight");
}

CKERAS_API ckeras_status ckeras_fit_args_set_class_weight(ckeras_fit_args *args, int n, const int64_t *classes,
                                                          const double *weights)
{
    NEED(args, "args");
    if (n < 0 || (n > 0 && (!classes || !weights)))
        return ck_error(CKERAS_EINVAL, "fit_args_set_class_weight: give n >= 0 classes and weights, got %d", n);
    int64_t ncw = 0;
    for (int i = 0; i < n; i++) {
        if (classes[i] < 0 || classes[i] >= (int64_t)1 << 31)
            return ck_error(CKERAS_EINVAL, "fit_args_set_class_weight: class index %lld is out of range [0, 2^31)",
                            (long long)classes[i]);
        if (!(weights[i] >= 0.0 && weights[i] <= FLT_MAX))
            return ck_error(CKERAS_EINVAL, "fit_args_set_class_weight: the weight of class %lld is %g; it must be "
                            "finite and >= 0", (long long)classes[i], weights[i]);
        for (int j = 0; j < i; j++)
            if (classes[j] == classes[i])
                return ck_error(CKERAS_EINVAL, "fit_args_set_class_weight: class %lld is given twice",
                                (long long)classes[i]);
        ncw = classes[i] + 1 > ncw ? classes[i] + 1 : ncw;
    }
    double *cw = NULL;
    if (ncw > 0) {
        if (!(cw = ck_malloc_n(ncw, sizeof *cw)))
            return CKERAS_ENOMEM;
        for (int64_t c = 0; c < ncw; c++)
            cw[c] = 1.0; /* Keras: a class not in the dict weighs 1 */
        for (int i = 0; i < n; i++)
            cw[classes[i]] = weights[i];
    }
    ck_free(args->cw);
    args->cw = cw;
    args->ncw = ncw;
    return CKERAS_OK;
}

CKERAS_API ckeras_status ckeras_fit_args_set_validation_data_multi(ckeras_fit_args *args, int n_inputs,
                                                                   const ckeras_tensor *const *x, int n_targets,
                                                                   const ckeras_tensor *const *y)
{
    NEED(args, "args");
    if (n_inputs == 0 && n_targets == 0) {
        memset(&args->val, 0, sizeof args->val);
        return CKERAS_OK;
    }
    ck_data d;
    ckeras_status st = ck_data_set(&d, n_inputs, x, n_targets, y, "fit_args_set_validation_data_multi");
    if (st == CKERAS_OK)
        args->val = d;
    return st;
}

CKERAS_API ckeras_status ckeras_fit_args_add_callback(ckeras_fit_args *args, ckeras_callback *cb)
{
    NEED(args, "args");
    NEED(cb, "callback");
    if (args->ncb == CK_MAX_CALLBACKS)
        return ck_error(CKERAS_EINVAL, "fit_args_add_callback: at most %d callbacks", CK_MAX_CALLBACKS);
    args->cb[args->ncb++] = cb;
    return CKERAS_OK;
}

CKERAS_API void ckeras_fit_args_free(ckeras_fit_args *args)
{
    if (args)
        ck_free(args->cw);
    ck_free(args);
}

static ckeras_status fit_data(ckeras_model *model, const ck_data *dp, const ckeras_fit_args *args,
                              ckeras_history **history);

CKERAS_API ckeras_status ckeras_model_fit_multi(ckeras_model *model, int n_inputs, const ckeras_tensor *const *x,
                                                int n_targets, const ckeras_tensor *const *y,
                                                const ckeras_fit_args *args, ckeras_history **history)
{
    NEED(model, "model");
    if (history)
        *history = NULL;
    ck_data d;
    ckeras_status st = ck_data_set(&d, n_inputs, x, n_targets, y, "model_fit");
    if (st != CKERAS_OK)
        return st;
    return fit_data(model, &d, args, history);
}

static ckeras_status fit_data(ckeras_model *model, const ck_data *dp, const ckeras_fit_args *args,
                              ckeras_history **history)
{
    ck_data d = *dp;
    ckeras_status st;
    if (model_enter(model, "model_fit") != CKERAS_OK)
        return CKERAS_ESTATE;
    /* fit runs on a copy of the keywords, and its callbacks are marked in use: a callback may free
     * the fit_args, and ckeras_callback_free() refuses a callback that is running */
    ckeras_fit_args copy = args ? *args : (ckeras_fit_args){0};
    for (int i = 0; i < copy.ncb; i++)
        atomic_fetch_add(&copy.cb[i]->in_fit, 1);
    const ckeras_model *outer = fitting; /* a callback of another model's fit may fit this one */
    fitting = model;
    st = ck_model_fit(model, &d, args ? &copy : NULL, history);
    fitting = outer;
    for (int i = 0; i < copy.ncb; i++)
        atomic_fetch_sub(&copy.cb[i]->in_fit, 1);
    return model_leave(model, st);
}

CKERAS_API ckeras_status ckeras_model_fit(ckeras_model *model, const ckeras_tensor *x, const ckeras_tensor *y,
                                          const ckeras_fit_args *args, ckeras_history **history)
{
    return ckeras_model_fit_multi(model, 1, &x, 1, &y, args, history);
}

/* ---- data sources (the source object itself: data_source_api.c) ------------------------------- */

static ckeras_status need_source(const ckeras_data_source *src, const char *what)
{
    if (!src)
        return ck_error(CKERAS_EINVAL, "%s: source is NULL", what);
    if (src->nx < 1)
        return ck_error(CKERAS_EINVAL, "%s: the source has no input shape (ckeras_data_source_add_input)", what);
    return CKERAS_OK;
}

CKERAS_API ckeras_status ckeras_fit_args_set_validation_source(ckeras_fit_args *args, ckeras_data_source *src)
{
    NEED(args, "args");
    memset(&args->val, 0, sizeof args->val);
    if (!src)
        return CKERAS_OK;
    ckeras_status st = need_source(src, "fit_args_set_validation_source");
    if (st == CKERAS_OK)
        ck_data_from_source(&args->val, src, true);
    return st;
}

CKERAS_API ckeras_status ckeras_model_fit_source(ckeras_model *model, ckeras_data_source *src,
                                                 const ckeras_fit_args *args, ckeras_history **history)
{
    NEED(model, "model");
    if (history)
        *history = NULL;
    ckeras_status st = need_source(src, "model_fit_source");
    if (st != CKERAS_OK)
        return st;
    ck_data d;
    ck_data_from_source(&d, src, true);
    return fit_data(model, &d, args, history);
}

CKERAS_API ckeras_status ckeras_model_evaluate_source(ckeras_model *model, ckeras_data_source *src, int batch_size,
                                                      double *results, int n_results)
{
    NEED(model, "model");
    ckeras_status st = need_source(src, "model_evaluate_source");
    if (st != CKERAS_OK)
        return st;
    ck_data d;
    ck_data_from_source(&d, src, true);
    ENTER(model);
    return model_leave(model, ck_model_evaluate(model, &d, batch_size, results, n_results));
}

CKERAS_API ckeras_status ckeras_model_predict_source(ckeras_model *model, ckeras_data_source *src, int batch_size,
                                                     int n_outputs, ckeras_tensor **outs)
{
    NEED(model, "model");
    NEED(outs, "outs");
    if (n_outputs < 1 || n_outputs > CK_MAX_OUTPUTS)
        return ck_error(CKERAS_EINVAL, "model_predict_source: n_outputs is %d; models have 1..%d", n_outputs,
                        CK_MAX_OUTPUTS);
    for (int k = 0; k < n_outputs; k++)
        outs[k] = NULL;
    ckeras_status st = need_source(src, "model_predict_source");
    if (st != CKERAS_OK)
        return st;
    ck_data d;
    ck_data_from_source(&d, src, false);
    ENTER(model);
    return model_leave(model, ck_model_predict_data(model, &d, batch_size, n_outputs, outs));
}

CKERAS_API ckeras_status ckeras_model_evaluate_multi(ckeras_model *model, int n_inputs,
                                                     const ckeras_tensor *const *x, int n_targets,
                                                     const ckeras_tensor *const *y, int batch_size, double *results,
                                                     int n_results)
{
    NEED(model, "model");
    ck_data d;
    ckeras_status st = ck_data_set(&d, n_inputs, x, n_targets, y, "model_evaluate");
    if (st != CKERAS_OK)
        return st;
    ENTER(model);
    return model_leave(model, ck_model_evaluate(model, &d, batch_size, results, n_results));
}

CKERAS_API ckeras_status ckeras_model_evaluate(ckeras_model *model, const ckeras_tensor *x, const ckeras_tensor *y,
                                               int batch_size, double *results, int n_results)
{
    NEED(model, "model");
    NEED(x, "x");
    NEED(y, "y");
    return ckeras_model_evaluate_multi(model, 1, &x, 1, &y, batch_size, results, n_results);
}

/* d = the inputs, targets and sample weights of a weighted call */
static ckeras_status weighted_data(ck_data *d, int n_inputs, const ckeras_tensor *const *x, int n_targets,
                                   const ckeras_tensor *const *y, int n_weights,
                                   const ckeras_tensor *const *sample_weight, const char *what)
{
    ckeras_status st = ck_data_set(d, n_inputs, x, n_targets, y, what);
    return st == CKERAS_OK ? weights_arg(n_weights, sample_weight, &d->nw, d->w, what) : st;
}

CKERAS_API ckeras_status ckeras_model_evaluate_weighted(ckeras_model *model, int n_inputs,
                                                        const ckeras_tensor *const *x, int n_targets,
                                                        const ckeras_tensor *const *y, int n_weights,
                                                        const ckeras_tensor *const *sample_weight, int batch_size,
                                                        double *results, int n_results)
{
    NEED(model, "model");
    ck_data d;
    ckeras_status st = weighted_data(&d, n_inputs, x, n_targets, y, n_weights, sample_weight,
                                     "model_evaluate_weighted");
    if (st != CKERAS_OK)
        return st;
    ENTER(model);
    return model_leave(model, ck_model_evaluate(model, &d, batch_size, results, n_results));
}

CKERAS_API ckeras_status ckeras_model_train_on_batch_weighted(ckeras_model *model, int n_inputs,
                                                              const ckeras_tensor *const *x, int n_targets,
                                                              const ckeras_tensor *const *y, int n_weights,
                                                              const ckeras_tensor *const *sample_weight,
                                                              double *results, int n_results)
{
    NEED(model, "model");
    ck_data d;
    ckeras_status st = weighted_data(&d, n_inputs, x, n_targets, y, n_weights, sample_weight,
                                     "model_train_on_batch_weighted");
    if (st != CKERAS_OK)
        return st;
    ENTER(model);
    return model_leave(model, ck_model_train_on_batch(model, &d, results, n_results));
}

CKERAS_API ckeras_status ckeras_model_set_weighted_metrics(ckeras_model *model, const char *output,
                                                           const char *metrics)
{
    NEED(model, "model");
    ENTER(model);
    return model_leave(model, ck_model_set_weighted_metrics(model, output, metrics));
}

CKERAS_API int ckeras_model_metrics_count(const ckeras_model *model)
{
    return model && model->compiled ? ck_model_result_count(model) : 0;
}

CKERAS_API const char *ckeras_model_metrics_name(const ckeras_model *model, int i)
{
    if (!model || !model->compiled || i < 0 || i >= ck_model_result_count(model))
        return NULL;
    /* names made on the fly live in a per-thread buffer until the next call */
    static _Thread_local char buf[CK_LOG_NAME];
    return ck_model_result_name(model, i, buf, sizeof buf);
}

CKERAS_API ckeras_status ckeras_model_predict(ckeras_model *model, const ckeras_tensor *x, int batch_size,
                                              ckeras_tensor **out)
{
    NEED(model, "model");
    NEED(out, "out");
    *out = NULL;
    ENTER(model);
    return model_leave(model, ck_model_predict(model, x, batch_size, out));
}

CKERAS_API ckeras_status ckeras_model_train_on_batch_multi(ckeras_model *model, int n_inputs,
                                                           const ckeras_tensor *const *x, int n_targets,
                                                           const ckeras_tensor *const *y, double *results,
                                                           int n_results)
{
    NEED(model, "model");
    ck_data d;
    ckeras_status st = ck_data_set(&d, n_inputs, x, n_targets, y, "model_train_on_batch");
    if (st != CKERAS_OK)
        return st;
    ENTER(model);
    return model_leave(model, ck_model_train_on_batch(model, &d, results, n_results));
}

CKERAS_API ckeras_status ckeras_model_train_on_batch(ckeras_model *model, const ckeras_tensor *x,
                                                     const ckeras_tensor *y, double *results, int n_results)
{
    NEED(model, "model");
    NEED(x, "x");
    NEED(y, "y");
    return ckeras_model_train_on_batch_multi(model, 1, &x, 1, &y, results, n_results);
}

CKERAS_API ckeras_status ckeras_model_summary_string(const ckeras_model *model, int line_length, char **text)
{
    NEED(model, "model");
    NEED(text, "text");
    return ck_model_summary_text(model, line_length, text);
}

CKERAS_API ckeras_status ckeras_model_summary(const ckeras_model *model, int line_length, FILE *out)
{
    char *text = NULL;
    ckeras_status st = ckeras_model_summary_string(model, line_length, &text);
    if (st != CKERAS_OK)
        return st;
    /* a full disk or a closed pipe is reported, not swallowed: the text is flushed to the
     * stream so that its error shows now */
    FILE *f = out ? out : stdout;
    errno = 0;
    bool bad = fputs(text, f) == EOF;
    bad = fflush(f) != 0 || bad;
    int e = errno;
    ck_free(text);
    if (bad || ferror(f))
        return ck_error(CKERAS_EIO, "summary: cannot write the summary: %s",
                        e ? strerror(e) : "the stream is in error");
    return CKERAS_OK;
}

CKERAS_API ckeras_status ckeras_model_to_dot(const ckeras_model *model, ckeras_dot_flags flags, char **dot)
{
    NEED(dot, "dot");
    *dot = NULL;
    NEED(model, "model");
    return ck_model_to_dot(model, flags, dot);
}

/* ---- functional models ----------------------------------------------------------------------- */

CKERAS_API ckeras_layer *ckeras_add(void)
{
    return new_layer(&ck_add_vt);
}

CKERAS_API ckeras_layer *ckeras_subtract(void)
{
    return new_layer(&ck_subtract_vt);
}

CKERAS_API ckeras_layer *ckeras_multiply(void)
{
    return new_layer(&ck_multiply_vt);
}

CKERAS_API ckeras_layer *ckeras_average(void)
{
    return new_layer(&ck_average_vt);
}

CKERAS_API ckeras_layer *ckeras_concatenate(int axis)
{
    ckeras_layer *l = new_layer(&ck_concatenate_vt);
    if (l && ck_config_set_int(&l->cfg, "Concatenate", "axis", axis) != CKERAS_OK) {
        ck_layer_free(l);
        return NULL;
    }
    return l;
}

CKERAS_API ckeras_model *ckeras_functional(const char *name)
{
    if (name && (!*name || strlen(name) >= CK_NAME_MAX)) {
        ck_error(CKERAS_EINVAL, "functional: name must have 1..%d characters", CK_NAME_MAX - 1);
        return NULL;
    }
    return ck_functional_new(name);
}

static int model_input_id(ckeras_model *model, ckeras_layer *input)
{
    if (!model || !input || input->owned) {
        if (model == NULL)
            ckeras_layer_free(input);
        ck_error(CKERAS_EINVAL, "model_input: %s", !model ? "model is NULL"
                                                          : !input ? "input is NULL (did ckeras_input fail?)"
                                                                   : "the layer already belongs to a model");
        return -1;
    }
    if (model_enter(model, "model_input") != CKERAS_OK) {
        ckeras_layer_free(input);
        return -1;
    }
    int id = ck_model_input(model, input);
    model_leave(model, CKERAS_OK);
    return id;
}

static int model_call_id(ckeras_model *model, ckeras_layer *layer, int n_inputs, const int *inputs)
{
    if (!model || !layer || (layer->owned && !ck_model_has_layer(model, layer))) {
        if (model == NULL)
            ckeras_layer_free(layer);
        ck_error(CKERAS_EINVAL, "model_call: %s", !model ? "model is NULL"
                                                         : !layer ? "layer is NULL (did its constructor fail?)"
                                                                  : "the layer already belongs to another model");
        return -1;
    }
    if (model_enter(model, "model_call") != CKERAS_OK) {
        ckeras_layer_free(layer);
        return -1;
    }
    int id = ck_model_call(model, layer, n_inputs, inputs);
    model_leave(model, CKERAS_OK);
    return id;
}

static int model_call_model_id(ckeras_model *model, ckeras_model *inner, int n_inputs, const int *inputs,
                               int training)
{
    if (!model || !inner) {
        ck_error(CKERAS_EINVAL, "model_call_model: %s is NULL", !model ? "model" : "inner");
        return -1;
    }
    if (model_enter(model, "model_call_model") != CKERAS_OK)
        return -1;
    if (inner != model && model_enter(inner, "model_call_model") != CKERAS_OK) {
        model_leave(model, CKERAS_OK);
        return -1;
    }
    int id = ck_model_call_model(model, inner, n_inputs, inputs, training);
    if (inner != model)
        model_leave(inner, CKERAS_OK);
    model_leave(model, CKERAS_OK);
    return id;
}

static int model_input_tensor_id(ckeras_model *model, int i)
{
    if (!model || i < 0 || i >= model->g.ninputs) {
        ck_error(CKERAS_EINVAL, "model_input_tensor: %s", !model ? "model is NULL" : "no such input");
        return -1;
    }
    return ck_model_tensor_id(model, -1 - i);
}

static int model_layer_output_at_id(ckeras_model *model, int index)
{
    if (!model) {
        ck_error(CKERAS_EINVAL, "model_layer_output_at: model is NULL");
        return -1;
    }
    int count = ckeras_model_layer_count(model);
    int i = index < 0 ? count + index : index;
    if (i < 0 || i >= count) {
        ck_error(CKERAS_EINVAL, "model_layer_output_at: model '%s' has %d layers; index %d is out of range",
                 model->name, count, index);
        return -1;
    }
    int n = visible_node(model, i);
    /* a layer with several outputs: its first (the others are the ids that follow) */
    return ck_model_tensor_id(model, model->g.nodes[n].layer->nout > 1 ? n + 1 : n);
}

static int model_layer_output_by_name_id(ckeras_model *model, const char *name)
{
    if (!model || !name) {
        ck_error(CKERAS_EINVAL, "model_layer_output_by_name: %s is NULL", !model ? "model" : "name");
        return -1;
    }
    for (int j = 0; j < model->g.ninputs; j++)
        if (model->input_layers[j] && strcmp(model->input_layers[j]->name, name) == 0)
            return ck_model_tensor_id(model, -1 - j);
    for (int i = 0; i < model->g.n; i++)
        if (!ck_node_hidden(&model->g.nodes[i]) && strcmp(model->g.nodes[i].layer->name, name) == 0)
            return ck_model_tensor_id(model, model->g.nodes[i].layer->nout > 1 ? i + 1 : i);
    ck_error(CKERAS_EINVAL, "model_layer_output_by_name: model '%s' has no layer named '%s'", model->name, name);
    return -1;
}

/* The functions that give a tensor id: the id in *id (-1 on failure), the status returned. A NULL
 * id is CKERAS_EINVAL (a layer given is still taken). */
static ckeras_status id_result(int v, int *id)
{
    *id = v;
    return v >= 0 ? CKERAS_OK : ck_last_status(CKERAS_EINVAL);
}

static ckeras_status null_id(const char *what)
{
    return ck_error(CKERAS_EINVAL, "%s: id is NULL", what);
}

CKERAS_API ckeras_status ckeras_model_input(ckeras_model *model, ckeras_layer *input, int *id)
{
    if (!id) {
        if (!input || !input->owned)
            ckeras_layer_free(input);
        return null_id("model_input");
    }
    return id_result(model_input_id(model, input), id);
}

CKERAS_API ckeras_status ckeras_model_call(ckeras_model *model, ckeras_layer *layer, int n_inputs, const int *inputs,
                                           int *id)
{
    if (!id) {
        if (layer && !layer->owned)
            ckeras_layer_free(layer);
        return null_id("model_call");
    }
    return id_result(model_call_id(model, layer, n_inputs, inputs), id);
}

CKERAS_API ckeras_status ckeras_model_call_model(ckeras_model *model, ckeras_model *inner, int n_inputs,
                                                 const int *inputs, int training, int *id)
{
    if (!id)
        return null_id("model_call_model");
    return id_result(model_call_model_id(model, inner, n_inputs, inputs, training), id);
}

CKERAS_API ckeras_status ckeras_model_input_tensor(ckeras_model *model, int i, int *id)
{
    if (!id)
        return null_id("model_input_tensor");
    return id_result(model_input_tensor_id(model, i), id);
}

CKERAS_API ckeras_status ckeras_model_layer_output_at(ckeras_model *model, int index, int *id)
{
    if (!id)
        return null_id("model_layer_output_at");
    return id_result(model_layer_output_at_id(model, index), id);
}

CKERAS_API ckeras_status ckeras_model_layer_output_by_name(ckeras_model *model, const char *name, int *id)
{
    if (!id)
        return null_id("model_layer_output_by_name");
    return id_result(model_layer_output_by_name_id(model, name), id);
}

CKERAS_API ckeras_model *ckeras_model_from_tensors(ckeras_model *model, int n_inputs, const int *inputs,
                                                   int n_outputs, const int *outputs, const char *name)
{
    if (!model) {
        ck_error(CKERAS_EINVAL, "model_from_tensors: model is NULL");
        return NULL;
    }
    if (name && (!*name || strlen(name) >= CK_NAME_MAX)) {
        ck_error(CKERAS_EINVAL, "model_from_tensors: name must have 1..%d characters", CK_NAME_MAX - 1);
        return NULL;
    }
    if (model_enter(model, "model_from_tensors") != CKERAS_OK)
        return NULL;
    ckeras_model *sub = ck_model_from_tensors(model, n_inputs, inputs, n_outputs, outputs, name);
    model_leave(model, CKERAS_OK);
    return sub;
}

CKERAS_API ckeras_status ckeras_model_set_trainable(ckeras_model *model, int trainable)
{
    NEED(model, "model");
    if (trainable != 0 && trainable != 1)
        return ck_error(CKERAS_EINVAL, "model_set_trainable: trainable must be 0 or 1, got %d", trainable);
    ENTER(model);
    for (int i = 0; i < model->g.n; i++)
        model->g.nodes[i].layer->trainable = trainable != 0;
    model->frozen = !trainable;
    return model_leave(model, CKERAS_OK);
}

CKERAS_API ckeras_status ckeras_model_set_outputs(ckeras_model *model, int n_outputs, const int *outputs)
{
    NEED(model, "model");
    ENTER(model);
    return model_leave(model, ck_model_set_outputs(model, n_outputs, outputs));
}

CKERAS_API int ckeras_model_input_count(const ckeras_model *model)
{
    return model ? model->g.ninputs : 0;
}

CKERAS_API int ckeras_model_output_count(const ckeras_model *model)
{
    return model && model->g.n > 0 && (!model->functional || model->outputs_set) ? model->g.noutputs : 0;
}

CKERAS_API const char *ckeras_model_output_name(const ckeras_model *model, int i)
{
    if (i < 0 || i >= ckeras_model_output_count(model))
        return NULL;
    return ck_model_output_name(model, i);
}

CKERAS_API ckeras_status ckeras_model_compile_outputs(ckeras_model *model, ckeras_optimizer *optimizer,
                                                      int n, const char *const *output_names,
                                                      const char *const *losses, const double *loss_weights,
                                                      const char *const *metrics)
{
    if (!model) {
        ckeras_optimizer_free(optimizer);
        return ck_error(CKERAS_EINVAL, "model_compile_outputs: model is NULL");
    }
    if (model_enter(model, "model_compile_outputs") != CKERAS_OK) {
        ckeras_optimizer_free(optimizer);
        return CKERAS_ESTATE;
    }
    return model_leave(model,
                       ck_model_compile_outputs(model, optimizer, n, output_names, losses, loss_weights, metrics));
}

CKERAS_API ckeras_status ckeras_model_predict_outputs(ckeras_model *model, int n_inputs,
                                                      const ckeras_tensor *const *xs, int batch_size,
                                                      int n_outputs, ckeras_tensor **outs)
{
    NEED(model, "model");
    NEED(outs, "outs");
    NEED(xs, "xs");
    if (n_outputs < 1 || n_outputs > CK_MAX_OUTPUTS)
        return ck_error(CKERAS_EINVAL, "model_predict_outputs: n_outputs is %d; models have 1..%d", n_outputs,
                        CK_MAX_OUTPUTS);
    for (int k = 0; k < n_outputs; k++)
        outs[k] = NULL;
    ENTER(model);
    return model_leave(model, ck_model_predict_outputs(model, n_inputs, xs, batch_size, n_outputs, outs));
}

CKERAS_API ckeras_status ckeras_model_predict_multi(ckeras_model *model, int n_inputs,
                                                    const ckeras_tensor *const *xs, int batch_size,
                                                    ckeras_tensor **out)
{
    NEED(model, "model");
    NEED(out, "out");
    NEED(xs, "xs");
    *out = NULL;
    for (int j = 0; j < n_inputs; j++)
        if (!xs[j])
            return ck_error(CKERAS_EINVAL, "model_predict_multi: input %d is NULL", j);
    ENTER(model);
    return model_leave(model, ck_model_predict_multi(model, n_inputs, xs, batch_size, out));
}

/* ---- saving and loading ----------------------------------------------------------------------- */

/* CKERAS_EINVAL when flags has a bit outside known (names: the accepted flags, for the message). */
static ckeras_status check_flags(int flags, int known, const char *what, const char *names)
{
    if (flags & ~known)
        return ck_error(CKERAS_EINVAL, "%s: unknown flags 0x%x (accepted: %s)", what, (unsigned)(flags & ~known),
                        names);
    return CKERAS_OK;
}

/* st, with the message of a failure headed by "what: " when the code below did not name the call
 * (a file error reads "<path>: cannot open: ..."). */
static ckeras_status named(ckeras_status st, const char *what)
{
    size_t n = strlen(what);
    const char *msg = ckeras_last_error();
    if (st != CKERAS_OK && (strncmp(msg, what, n) != 0 || msg[n] != ':'))
        ck_error_prefix("%s", what);
    return st;
}

CKERAS_API ckeras_status ckeras_model_save(const ckeras_model *model, const char *path, ckeras_save_flags flags)
{
    NEED(model, "model");
    NEED(path, "path");
    SAVE_CALL(model, ck_model_save(model, path, flags));
}

CKERAS_API ckeras_status ckeras_load_model(const char *path, ckeras_load_flags flags, ckeras_model **model)
{
    NEED(model, "model");
    *model = NULL;
    NEED(path, "path");
    ckeras_status st = check_flags(flags, CKERAS_LOAD_NO_COMPILE, "load_model", "CKERAS_LOAD_NO_COMPILE");
    return st ? st : named(ck_load_model(path, flags, model), "load_model");
}

CKERAS_API ckeras_status ckeras_model_save_weights(const ckeras_model *model, const char *path)
{
    NEED(model, "model");
    NEED(path, "path");
    SAVE_CALL(model, ck_model_save_weights(model, path));
}

CKERAS_API ckeras_status ckeras_model_load_weights(ckeras_model *model, const char *path, ckeras_weights_flags flags)
{
    NEED(model, "model");
    NEED(path, "path");
    ckeras_status st = check_flags(flags, CKERAS_WEIGHTS_BY_NAME | CKERAS_WEIGHTS_SKIP_MISMATCH, "model_load_weights",
                                   "CKERAS_WEIGHTS_BY_NAME, CKERAS_WEIGHTS_SKIP_MISMATCH");
    if (st)
        return st;
    ENTER(model);
    return model_leave(model, named(ck_model_load_weights(model, path, flags), "load_weights"));
}

CKERAS_API ckeras_status ckeras_model_to_json(const ckeras_model *model, char **json)
{
    NEED(model, "model");
    NEED(json, "json");
    *json = NULL;
    return ck_model_to_json(model, json);
}

CKERAS_API ckeras_status ckeras_model_from_json(const char *json, ckeras_model **model)
{
    NEED(model, "model");
    *model = NULL;
    NEED(json, "json");
    return ck_model_from_json(json, model);
}

/* ---- typed constructors of the convolution family (looked up by Keras class name) ---------- */

CKERAS_API ckeras_layer *ckeras_conv2d(int64_t filters, int64_t kh, int64_t kw, const char *activation)
{
    if (filters <= 0 || kh <= 0 || kw <= 0) {
        ck_error(CKERAS_EINVAL, "conv2d: filters and kernel size must be > 0, got %lld, (%lld, %lld)",
                 (long long)filters, (long long)kh, (long long)kw);
        return NULL;
    }
    ckeras_layer *l = ck_layer_new_by_class("Conv2D");
    if (!l)
        return NULL;
    ckeras_status st = ck_config_set_int(&l->cfg, "Conv2D", "filters", filters);
    if (st == CKERAS_OK)
        st = ck_config_set_ints(&l->cfg, "Conv2D", "kernel_size", 2, (const int64_t[]){kh, kw});
    if (st == CKERAS_OK && activation)
        st = ck_config_set_str(&l->cfg, "Conv2D", "activation", activation);
    return ck_layer_or_free(l, st);
}

CKERAS_API ckeras_layer *ckeras_conv1d(int64_t filters, int64_t kernel_size, const char *activation)
{
    if (filters <= 0 || kernel_size <= 0) {
        ck_error(CKERAS_EINVAL, "conv1d: filters and kernel_size must be > 0");
        return NULL;
    }
    ckeras_layer *l = ck_layer_new_by_class("Conv1D");
    if (!l)
        return NULL;
    ckeras_status st = ck_config_set_int(&l->cfg, "Conv1D", "filters", filters);
    if (st == CKERAS_OK)
        st = ck_config_set_ints(&l->cfg, "Conv1D", "kernel_size", 1, &kernel_size);
    if (st == CKERAS_OK && activation)
        st = ck_config_set_str(&l->cfg, "Conv1D", "activation", activation);
    return ck_layer_or_free(l, st);
}

static ckeras_layer *pool2d(const char *cls, int64_t ph, int64_t pw)
{
    if (ph <= 0 || pw <= 0) {
        ck_error(CKERAS_EINVAL, "%s: pool size must be > 0", cls);
        return NULL;
    }
    ckeras_layer *l = ck_layer_new_by_class(cls);
    return l ? ck_layer_or_free(l, ck_config_set_ints(&l->cfg, cls, "pool_size", 2, (const int64_t[]){ph, pw})) : NULL;
}

CKERAS_API ckeras_layer *ckeras_max_pooling2d(int64_t ph, int64_t pw)
{
    return pool2d("MaxPooling2D", ph, pw);
}

CKERAS_API ckeras_layer *ckeras_average_pooling2d(int64_t ph, int64_t pw)
{
    return pool2d("AveragePooling2D", ph, pw);
}

CKERAS_API ckeras_layer *ckeras_max_pooling1d(int64_t pool_size)
{
    if (pool_size <= 0) {
        ck_error(CKERAS_EINVAL, "max_pooling1d: pool size must be > 0");
        return NULL;
    }
    ckeras_layer *l = ck_layer_new_by_class("MaxPooling1D");
    return l ? ck_layer_or_free(l, ck_config_set_ints(&l->cfg, "MaxPooling1D", "pool_size", 1, &pool_size)) : NULL;
}

CKERAS_API ckeras_layer *ckeras_global_average_pooling2d(void)
{
    return ck_layer_new_by_class("GlobalAveragePooling2D");
}

CKERAS_API ckeras_layer *ckeras_global_max_pooling2d(void)
{
    return ck_layer_new_by_class("GlobalMaxPooling2D");
}

CKERAS_API ckeras_layer *ckeras_batch_normalization(void)
{
    return ck_layer_new_by_class("BatchNormalization");
}

CKERAS_API ckeras_layer *ckeras_layer_normalization(void)
{
    return ck_layer_new_by_class("LayerNormalization");
}

CKERAS_API ckeras_layer *ckeras_reshape(int ndim, const int64_t *target_shape)
{
    if (ndim < 1 || ndim > CKERAS_MAX_DIMS || !target_shape) {
        ck_error(CKERAS_EINVAL, "reshape: target shape must have 1..%d axes", CKERAS_MAX_DIMS);
        return NULL;
    }
    ckeras_layer *l = ck_layer_new_by_class("Reshape");
    return l ? ck_layer_or_free(l, ck_config_set_ints(&l->cfg, "Reshape", "target_shape", ndim, target_shape)) : NULL;
}

CKERAS_API ckeras_layer *ckeras_zero_padding2d(int64_t ph, int64_t pw)
{
    ckeras_layer *l = ck_layer_new_by_class("ZeroPadding2D");
    return l ? ck_layer_or_free(l, ck_config_set_ints(&l->cfg, "ZeroPadding2D", "padding", 2, (const int64_t[]){ph, pw})) : NULL;
}

CKERAS_API ckeras_layer *ckeras_upsampling2d(int64_t sh, int64_t sw)
{
    ckeras_layer *l = ck_layer_new_by_class("UpSampling2D");
    return l ? ck_layer_or_free(l, ck_config_set_ints(&l->cfg, "UpSampling2D", "size", 2, (const int64_t[]){sh, sw})) : NULL;
}

CKERAS_API ckeras_layer *ckeras_spatial_dropout2d(double rate)
{
    ckeras_layer *l = ck_layer_new_by_class("SpatialDropout2D");
    return l ? ck_layer_or_free(l, ck_config_set_float(&l->cfg, "SpatialDropout2D", "rate", rate)) : NULL;
}

CKERAS_API ckeras_layer *ckeras_rescaling(double scale, double offset)
{
    ckeras_layer *l = ck_layer_new_by_class("Rescaling");
    if (!l)
        return NULL;
    ckeras_status st = ck_config_set_float(&l->cfg, "Rescaling", "scale", scale);
    if (st == CKERAS_OK)
        st = ck_config_set_float(&l->cfg, "Rescaling", "offset", offset);
    return ck_layer_or_free(l, st);
}

CKERAS_API ckeras_status ckeras_model_pop(ckeras_model *model)
{
    NEED(model, "model");
    ENTER(model);
    return model_leave(model, ck_model_pop(model));
}
