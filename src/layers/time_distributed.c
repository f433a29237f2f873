/* TimeDistributed: the wrapped layer applied to every step of a (batch, T, ...rest) input. The
 * steps are the rows of a (batch * T, ...rest) batch, so the wrapper runs its inner layer once
 * on n * T samples; the output (n * T, ...out) is (n, T, ...out) as it lies in memory. The
 * inner layer's weights are declared on the wrapper (same names, shapes, order, initializers)
 * and lent to the inner layer before each forward and backward, so the model lays them out,
 * trains and saves them as the wrapper's.
 *
 * Sizes: builds compute shapes with core.h's checked helpers (ck_size_mul, ck_conv_geom_fit, ...)
 * and ck_layer_build checks what they declare; forward, backward and the buffer sizes multiply
 * the batch by per-sample sizes of buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"

#include <stdio.h>
#include <string.h>

static const ck_field time_distributed_fields[] = {
    {"layer", CK_TREE, NULL, NULL, "the layer applied to every step: {\"class_name\": \"Dense\", \"config\": {...}}"},
    {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape (timesteps, ...)", CK_W_NEVER},
};

typedef struct td_priv {
    ckeras_layer *inner;
    int64_t T;
    char var_path[CK_MAX_WEIGHTS][CK_NAME_MAX]; /* Keras 3 object path of each weight */
} td_priv;

static void td_free(ckeras_layer *l)
{
    td_priv *p = l->priv;
    if (p)
        ck_layer_free(p->inner);
    ck_free(p);
    l->priv = NULL;
}

static bool refused_inner(const ck_layer_vt *vt)
{
    return vt == &ck_time_distributed_vt || vt == &ck_bidirectional_vt || vt == &ck_input_vt ||
           (vt->build_multi && !vt->build);
}

/* Makes p->inner from the "layer" field, and puts its config back in the field as ckeras writes
 * it (its settings in schema order, under their rules). */
static ckeras_status td_inner(ckeras_layer *l, td_priv *p)
{
    const ck_tree *spec = ck_cfg_tree(&l->cfg, "layer");
    if (!spec)
        return ck_error(CKERAS_EINVAL, "TimeDistributed '%s': needs a layer to wrap", l->name);
    const char *cn = ck_tree_string(ck_tree_get(spec, "class_name"));
    if (!cn)
        return ck_error(CKERAS_EFORMAT, "TimeDistributed '%s': the wrapped layer has no \"class_name\"", l->name);
    const ck_layer_vt *vt = ck_layer_lookup(cn);
    if (!vt)
        return ck_error(CKERAS_EUNSUPPORTED, "TimeDistributed '%s': cannot wrap '%s': not available in this build",
                        l->name, cn);
    if (refused_inner(vt))
        return ck_error(CKERAS_EUNSUPPORTED,
                        "TimeDistributed '%s': cannot wrap '%s': it must be a single-input layer that is not a "
                        "wrapper", l->name, cn);
    ck_tree *cfg = ck_tree_copy(ck_tree_get(spec, "config"));
    if (!cfg || cfg->kind != CK_T_OBJECT) {
        ck_tree_free(cfg);
        return ck_error(CKERAS_EFORMAT, "TimeDistributed '%s': the wrapped layer has no \"config\" object", l->name);
    }
    ck_layer_free(p->inner);
    p->inner = ck_layer_new(vt);
    if (!p->inner) {
        ck_tree_free(cfg);
        return CKERAS_ENOMEM;
    }
    ckeras_layer *in = p->inner;
    bool trainable = true;
    snprintf(in->name, sizeof in->name, "%s", vt->base_name);
    ckeras_status st = ck_config_from_tree(&in->cfg, vt->class_name, cfg, in->name, sizeof in->name, &trainable);
    ck_tree_free(cfg);
    if (st != CKERAS_OK)
        return st;
    in->trainable = trainable;
    in->keras2 = l->keras2;
    /* as tf.keras 2.13+ and Keras 3 write a nested layer (Keras 3 finds the class by module) */
    ck_tree *norm = ck_tree_object();
    if (!norm || ck_tree_set(norm, "module", ck_tree_str("keras.layers")) != CKERAS_OK ||
        ck_tree_set(norm, "class_name", ck_tree_str(vt->class_name)) != CKERAS_OK ||
        ck_tree_set(norm, "config", ck_config_to_tree(&in->cfg, in->name, trainable, CK_PROFILE_TF2)) != CKERAS_OK ||
        ck_tree_set(norm, "registered_name", ck_tree_null()) != CKERAS_OK) {
        ck_tree_free(norm);
        return CKERAS_ENOMEM;
    }
    st = ck_config_set_tree(&l->cfg, "TimeDistributed", "layer", norm);
    ck_tree_free(norm);
    return st;
}

static ckeras_status td_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    td_priv *p = l->priv;
    if (!p) {
        p = ck_calloc(1, sizeof *p);
        if (!p)
            return CKERAS_ENOMEM;
        l->priv = p;
    }
    ckeras_status st = td_inner(l, p);
    if (st != CKERAS_OK)
        return st;
    ckeras_layer *il = p->inner;
    if (in->ndim < 2)
        return ck_error(CKERAS_ESHAPE, "TimeDistributed '%s': needs inputs of at least 3 dimensions (batch, "
                        "timesteps, ...), got %d", l->name, in->ndim + 1);
    ck_shape step = {in->ndim - 1, {0}};
    for (int d = 1; d < in->ndim; d++)
        step.d[d - 1] = in->d[d];
    if ((st = ck_layer_build(il, &step)) != CKERAS_OK) {
        ck_error_prefix("TimeDistributed '%s'", l->name);
        return st;
    }
    if (il->nout > 1)
        return ck_error(CKERAS_EUNSUPPORTED, "TimeDistributed '%s': the wrapped %s has %d outputs (return_state); "
                        "TimeDistributed wraps layers with one output", l->name, il->vt->class_name, il->nout);
    if (il->out_shape.ndim + 1 > CKERAS_MAX_DIMS)
        return ck_error(CKERAS_ESHAPE, "TimeDistributed '%s': output of more than %d dimensions", l->name,
                        CKERAS_MAX_DIMS);
    if (il->act_l1 != 0.0f || il->act_l2 != 0.0f) /* Keras 3 calls the inner layer's call(): none is added */
        return ck_error(CKERAS_EUNSUPPORTED, "TimeDistributed '%s': an activity_regularizer on the wrapped %s is not "
                        "supported (Keras 3 ignores it, tf.keras 2 adds it)", l->name, il->vt->class_name);
    p->T = in->d[0];
    for (int k = 0; k < il->nw; k++) {
        const ck_weight *iw = &il->w[k];
        const char *spec = iw->init_field ? ck_cfg_str(&il->cfg, iw->init_field) : iw->init_default;
        ck_weight *w = ck_layer_add_weight(l, iw->name, &iw->shape, iw->trainable && il->trainable, NULL, spec);
        if (!w)
            return CKERAS_ENOMEM; /* not reached: as many weights as the inner layer */
        w->l1 = iw->l1; /* the inner layer's regularizers and constraints are its weights' */
        w->l2 = iw->l2;
        w->constraint = iw->constraint;
        /* Keras 3: "layers/time_distributed/layer/vars/0", the inner layer's sub-objects below */
        const char *sub = il->vt->keras3_var_path ? il->vt->keras3_var_path(il, k) : NULL;
        snprintf(p->var_path[k], sizeof p->var_path[k], "layer%s%s", sub ? "/" : "", sub ? sub : "");
    }
    out->ndim = il->out_shape.ndim + 1;
    out->d[0] = p->T;
    for (int d = 0; d < il->out_shape.ndim; d++)
        out->d[d + 1] = il->out_shape.d[d];
    return CKERAS_OK;
}

static int64_t td_saved(const ckeras_layer *l, int64_t n)
{
    const td_priv *p = l->priv;
    /* n x T <= a checked batch of the input (n, T, ...) */
    return p->inner->vt->saved_floats ? p->inner->vt->saved_floats(p->inner, n * p->T) : 0;
}

static int64_t td_work(const ckeras_layer *l, int64_t n)
{
    const td_priv *p = l->priv;
    return p->inner->vt->work_floats ? p->inner->vt->work_floats(p->inner, n * p->T) : 0;
}

/* Lends the wrapper's weights (and gradients) to the inner layer. */
static void td_bind(ckeras_layer *l, td_priv *p)
{
    for (int k = 0; k < l->nw; k++) {
        p->inner->w[k].data = l->w[k].data;
        p->inner->w[k].grad = l->w[k].grad;
    }
    p->inner->call_inference = l->call_inference;
}

static void td_forward(ckeras_layer *l, const ck_fwd *f)
{
    td_priv *p = l->priv;
    td_bind(l, p);
    const float *xs[1] = {f->x};
    ck_fwd g = *f;
    g.n = f->n * p->T;
    g.nin = 1;
    g.xs = xs;
    g.pool = NULL; /* a pooling offered to this layer reads whole samples, not the inner's images */
    p->inner->vt->forward(p->inner, &g);
}

static void td_backward(ckeras_layer *l, const ck_bwd *b)
{
    td_priv *p = l->priv;
    td_bind(l, p);
    const float *xs[1] = {b->x};
    float *dxs[1] = {b->dx};
    ck_bwd g = *b;
    g.n = b->n * p->T;
    g.nin = 1;
    g.xs = xs;
    g.dxs = dxs;
    p->inner->vt->backward(p->inner, &g);
}

static const char *td_var_path(const ckeras_layer *l, int k)
{
    const td_priv *p = l->priv;
    return p->var_path[k];
}

const ck_layer_vt ck_time_distributed_vt = {
    .class_name = "TimeDistributed",
    .base_name = "time_distributed",
    .fields = time_distributed_fields,
    .nfields = sizeof time_distributed_fields / sizeof time_distributed_fields[0],
    .build = td_build,
    .saved_floats = td_saved,
    .work_floats = td_work,
    .forward = td_forward,
    .backward = td_backward,
    .free_priv = td_free,
    .keras3_var_path = td_var_path,
    .mask_mode = ck_mask_pass,
};
