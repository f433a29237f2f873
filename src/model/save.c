/* Models to and from the plain forms of src/io: model_config, training_config, weights and
 * optimizer state (Keras HDF5 files, JSON).
 *
 * Sizes: the products here are of weight sizes (checked when their layer was built), of counts
 * of layers, calls, variables and optimizer slots (ints far below 2^31: a model holds at most
 * CK_MAX_NODES calls of at most CK_MAX_WEIGHTS weights) or of constants; arrays grow by ck_grow. */
#include "model.h"
#include "io/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- model -> plain forms --------------------------------------------------------------------- */

/* An InputLayer's config: tf.keras 2 writes "batch_input_shape", Keras 3 "batch_shape"; the
 * axes of bits none are None. */
static ck_tree *input_layer_config(const ckeras_layer *in, const ck_shape *shape, uint32_t none, ck_profile profile)
{
    ck_tree *o = ck_tree_object(), *bs = ck_tree_list();
    int64_t batch = in->vt ? ck_cfg_int(&in->cfg, "batch_size") : 0; /* 0: None */
    ckeras_status st = o && bs ? ck_tree_push(bs, batch > 0 ? ck_tree_int(batch) : ck_tree_null()) : CKERAS_ENOMEM;
    for (int k = 0; k < shape->ndim && st == CKERAS_OK; k++)
        st = ck_tree_push(bs, none & (1u << k) ? ck_tree_null() : ck_tree_int(shape->d[k]));
    if (st == CKERAS_OK) {
        st = ck_tree_set(o, profile == CK_PROFILE_KERAS3 ? "batch_shape" : "batch_input_shape", bs);
        bs = NULL;
    }
    if (st == CKERAS_OK)
        st = ck_tree_set(o, "dtype", ck_tree_str("float32"));
    if (st == CKERAS_OK)
        st = ck_tree_set(o, "sparse", ck_tree_bool(false));
    if (st == CKERAS_OK)
        st = ck_tree_set(o, "ragged", ck_tree_bool(false));
    if (st == CKERAS_OK)
        st = ck_tree_set(o, "name", ck_tree_str(in->name));
    ck_tree_free(bs);
    if (st != CKERAS_OK) {
        ck_tree_free(o);
        return NULL;
    }
    return o;
}

/* The name an InputLayer gets in a file when a Sequential model was built without one. */
static const char *input_name(const ckeras_model *m, int j, char *buf, size_t n)
{
    if (m->input_layers[j])
        return m->input_layers[j]->name;
    snprintf(buf, n, "input_%d", j + 1);
    return buf;
}

/* Which call of its layer node i is (0: the first; a shared layer's later calls 1, 2, ...). */
static int call_index(const ckeras_model *m, int i)
{
    int c = 0;
    for (int j = 0; j < i && !m->g.nodes[i].first_use; j++)
        c += m->g.nodes[j].layer == m->g.nodes[i].layer;
    return c;
}

/* How a file refers to graph source src of m: an input, a layer's call (node) and output, or
 * output k of the nested model the node belongs to. */
static void source_ref(const ckeras_model *m, int src, ck_io_ref *r)
{
    char nbuf[CK_NAME_MAX];
    r->node = r->tensor = 0;
    if (src < 0) {
        snprintf(r->layer, CK_IO_NAME, "%s", input_name(m, -1 - src, nbuf, sizeof nbuf));
        return;
    }
    const ck_node *nd = &m->g.nodes[src];
    if (ck_node_hidden(nd)) { /* output k of a layer with several: its hidden nodes follow it */
        int producer = nd->in[0];
        if (m->g.nodes[producer].group < 0) {
            snprintf(r->layer, CK_IO_NAME, "%s", m->g.nodes[producer].layer->name);
            r->node = call_index(m, producer);
            r->tensor = src - producer - 1;
            return;
        }
    }
    if (nd->group >= 0) {
        const ck_group *gr = &m->groups[nd->group];
        snprintf(r->layer, CK_IO_NAME, "%s", gr->model->name);
        for (int k = 0; k < gr->nout; k++)
            if (gr->out_node[k] == src)
                r->tensor = k;
        return;
    }
    snprintf(r->layer, CK_IO_NAME, "%s", nd->layer->name);
    r->node = call_index(m, src);
}

/* The inputs of a call: refs with shapes and the model's fixed batch size. */
static void call_refs(const ckeras_model *m, int nin, const int *in, int64_t batch, ck_io_ref *refs)
{
    for (int k = 0; k < nin; k++) {
        int src = in[k];
        const ck_shape *sh = src < 0 ? &m->g.inputs[-1 - src] : &m->g.nodes[src].layer->out_shape;
        uint32_t none = ck_graph_src_none(&m->g, src);
        source_ref(m, src, &refs[k]);
        refs[k].ndim = sh->ndim;
        for (int a = 0; a < sh->ndim; a++)
            refs[k].shape[a] = none & (1u << a) ? -1 : sh->d[a]; /* -1: None */
        refs[k].batch = batch;
    }
}

static const char *tfop_fn(const ck_layer_vt *vt);
/* The layer's call-keyword fields that are set (use_causal_mask: true) into its node's kwargs. */
static ckeras_status call_fields_out(const ckeras_layer *layer, ck_io_layer *l)
{
    for (const char *const *f = layer->vt->call_fields; f && *f; f++) {
        if (!ck_cfg_bool(&layer->cfg, *f))
            continue;
        if ((!l->kwargs && !(l->kwargs = ck_tree_object())) || ck_tree_set(l->kwargs, *f, ck_tree_bool(true)) != CKERAS_OK)
            return CKERAS_ENOMEM;
    }
    return CKERAS_OK;
}

static ckeras_status training_false(ck_io_layer *l)
{
    if (!(l->kwargs = ck_tree_object()) || ck_tree_set(l->kwargs, "training", ck_tree_bool(false)) != CKERAS_OK)
        return CKERAS_ENOMEM;
    return CKERAS_OK;
}

/* Node i, a further call of a layer already in d: one more call of that layer's entry. */
static ckeras_status further_call(const ckeras_model *m, ck_io_model *d, int i, int64_t batch)
{
    const ck_node *nd = &m->g.nodes[i];
    ck_io_layer *l = NULL;
    for (int k = 0; k < d->nlayers && !l; k++)
        if (!d->layers[k].model && strcmp(d->layers[k].name, nd->layer->name) == 0)
            l = &d->layers[k];
    if (!l || nd->group >= 0)
        return ck_error(CKERAS_EUNSUPPORTED, "model '%s': layer '%s' is shared across a nested model; saving "
                        "that is not supported yet", m->name, nd->layer->name);
    if (!l->calls) {
        int uses = 0;
        for (int j = 0; j < m->g.n; j++)
            uses += m->g.nodes[j].layer == nd->layer;
        if (!(l->calls = ck_calloc((size_t)uses, sizeof *l->calls)))
            return CKERAS_ENOMEM;
    }
    ck_io_call *c = &l->calls[l->ncalls - 1];
    c->nin = nd->nin;
    call_refs(m, nd->nin, nd->in, batch, c->in);
    if (nd->layer->vt->call_kwarg) { /* query, value, key, attention_mask=m */
        const char *kw = nd->layer->vt->call_kwarg(nd->layer, nd->nin, &c->nargs);
        snprintf(c->kwarg, sizeof c->kwarg, "%s", kw ? kw : "");
    }
    l->ncalls++;
    return CKERAS_OK;
}

/* The plain form of m (depth: how deep it is nested). Models called as layers are written as
 * nested model layers, Keras' own form; a shared layer as one layer with a call per node. */
static ckeras_status model_to_desc(const ckeras_model *m, ck_profile profile, int depth, ck_io_model *d)
{
    memset(d, 0, sizeof *d);
    if (depth > 16)
        return ck_error(CKERAS_EUNSUPPORTED, "models nested more than 16 deep");
    snprintf(d->class_name, sizeof d->class_name, "%s", m->functional ? "Functional" : "Sequential");
    snprintf(d->name, sizeof d->name, "%s", m->name);
    d->frozen = m->frozen;
    int n = m->g.ninputs + m->g.n;
    d->layers = ck_calloc((size_t)(n ? n : 1), sizeof *d->layers);
    if (!d->layers)
        return CKERAS_ENOMEM;
    ckeras_status st = CKERAS_OK;
    char nbuf[CK_NAME_MAX];
    /* an input's fixed batch size holds for every tensor of the model, as Keras infers it */
    int64_t batch = 0;
    for (int j = 0; j < m->g.ninputs; j++)
        if (m->input_layers[j] && ck_cfg_int(&m->input_layers[j]->cfg, "batch_size") > 0)
            batch = ck_cfg_int(&m->input_layers[j]->cfg, "batch_size");
    for (int j = 0; j < m->g.ninputs; j++) {
        ck_io_layer *il = &d->layers[d->nlayers++];
        ckeras_layer tmp;
        const ckeras_layer *in = m->input_layers[j];
        if (!in) {
            memset(&tmp, 0, sizeof tmp);
            snprintf(tmp.name, sizeof tmp.name, "%s", input_name(m, j, nbuf, sizeof nbuf));
            in = &tmp;
        }
        snprintf(il->class_name, sizeof il->class_name, "%s", ck_input_vt.class_name);
        snprintf(il->name, sizeof il->name, "%s", in->name);
        il->config = input_layer_config(in, &m->g.inputs[j], m->g.none[j], profile);
        if (!il->config)
            goto oom;
        d->inputs[d->ninputs].node = d->inputs[d->ninputs].tensor = 0;
        snprintf(d->inputs[d->ninputs++].layer, CK_IO_NAME, "%s", in->name);
    }
    for (int i = 0; i < m->g.n; i++) {
        const ck_node *nd = &m->g.nodes[i];
        if (nd->group >= 0) { /* one nested model layer for the whole call */
            const ck_group *gr = &m->groups[nd->group];
            if (i != gr->first)
                continue;
            ck_io_layer *l = &d->layers[d->nlayers++];
            snprintf(l->class_name, sizeof l->class_name, "%s", gr->model->functional ? "Functional" : "Sequential");
            snprintf(l->name, sizeof l->name, "%s", gr->model->name);
            if (!(l->model = ck_calloc(1, sizeof *l->model)))
                goto oom;
            if ((st = model_to_desc(gr->model, profile, depth + 1, l->model)) != CKERAS_OK) {
                ck_io_model_free(d);
                return st;
            }
            if (gr->inference && training_false(l) != CKERAS_OK)
                goto oom;
            l->ncalls = 1;
            l->nin = gr->nin;
            call_refs(m, gr->nin, gr->in, batch, l->in);
            continue;
        }
        if (ck_node_hidden(nd))
            continue;
        if (!nd->first_use) { /* a shared layer's further call: one more inbound node of its layer */
            if ((st = further_call(m, d, i, batch)) != CKERAS_OK) {
                ck_io_model_free(d);
                return st;
            }
            continue;
        }
        ck_io_layer *l = &d->layers[d->nlayers++];
        snprintf(l->class_name, sizeof l->class_name, "%s", nd->layer->vt->class_name);
        snprintf(l->name, sizeof l->name, "%s", nd->layer->name);
        l->config = ck_config_to_tree(&nd->layer->cfg, nd->layer->name, nd->layer->trainable, profile);
        if (!l->config)
            goto oom;
        if (nd->layer->vt->no_trainable_key)
            ck_tree_del(l->config, "trainable");
        if ((l->nconst = ck_merge_constants(nd->layer, CK_IO_MAX_IN, l->const_pos, l->const_val)) > 0) {
            /* x + 3.0: Keras 3 writes the operation's node, its config only its name; tf.keras 2 a
             * TFOpLambda layer of the TensorFlow function with the number as call keyword y */
            const char *fn = tfop_fn(nd->layer->vt);
            if (profile != CK_PROFILE_KERAS3 &&
                (l->nconst != 1 || nd->nin != 1 || !fn || (nd->layer->vt == &ck_subtract_vt && l->const_pos[0] != 1))) {
                int nconst = l->nconst;
                ck_io_model_free(d); /* frees l */
                return ck_error(CKERAS_EUNSUPPORTED, "model '%s': layer '%s' computes %s with %d plain number%s, which "
                                "the tf.keras 2 format holds only as x op number (save in the Keras 3 format)",
                                m->name, nd->layer->name, nd->layer->vt->class_name, nconst, nconst > 1 ? "s" : "");
            }
            ck_tree_free(l->config);
            if (!(l->config = ck_tree_object()) ||
                ck_tree_set(l->config, "name", ck_tree_str(nd->layer->name)) != CKERAS_OK)
                goto oom;
            if (profile == CK_PROFILE_KERAS3) {
                l->op_node = true;
                snprintf(l->const_text, sizeof l->const_text, "%.9g", l->const_val[0]);
            } else {
                snprintf(l->class_name, sizeof l->class_name, "TFOpLambda");
                ck_tree_free(l->kwargs);
                l->kwargs = ck_tree_object();
                if (ck_tree_set(l->config, "trainable", ck_tree_bool(nd->layer->trainable)) != CKERAS_OK ||
                    ck_tree_set(l->config, "dtype", ck_tree_str("float32")) != CKERAS_OK ||
                    ck_tree_set(l->config, "function", ck_tree_str(fn)) != CKERAS_OK || !l->kwargs ||
                    ck_tree_set(l->kwargs, "y", ck_tree_float(l->const_val[0])) != CKERAS_OK ||
                    ck_tree_set(l->kwargs, "name", ck_tree_null()) != CKERAS_OK)
                    goto oom;
                l->nconst = 0;
            }
        }
        if ((nd->layer->call_inference || nd->inference) && training_false(l) != CKERAS_OK)
            goto oom;
        l->ncalls = 1;
        if (nd->layer->vt->extra_inputs_kwarg && nd->nin > 1) {
            l->nargs = 1;
            snprintf(l->kwarg, sizeof l->kwarg, "%s", nd->layer->vt->extra_inputs_kwarg);
        }
        if (nd->layer->vt->call_kwarg) { /* query, value, key, attention_mask=m */
            const char *kw = nd->layer->vt->call_kwarg(nd->layer, nd->nin, &l->nargs);
            snprintf(l->kwarg, sizeof l->kwarg, "%s", kw ? kw : "");
            l->split_args = true;
            l->arg_names = nd->layer->vt->call_args;
        }
        if ((st = call_fields_out(nd->layer, l)) != CKERAS_OK) {
            ck_io_model_free(d);
            return st;
        }
        l->nin = nd->nin;
        call_refs(m, nd->nin, nd->in, batch, l->in);
    }
    for (int k = 0; k < m->g.noutputs && m->g.n > 0; k++)
        source_ref(m, m->g.outputs[k], &d->outputs[d->noutputs++]);
    return CKERAS_OK;
oom:
    ck_io_model_free(d);
    return CKERAS_ENOMEM;
}

ckeras_status ck_model_to_desc(const ckeras_model *m, ck_profile profile, ck_io_model *d)
{
    return model_to_desc(m, profile, 0, d);
}

/* A model with several outputs, or one output without a loss, is compiled per output. */
static bool per_output_compile(const ckeras_model *m)
{
    return m->g.noutputs > 1 || !m->has_loss[0];
}

ckeras_status ck_model_training_desc(const ckeras_model *m, ck_profile profile, ck_io_training *t)
{
    memset(t, 0, sizeof *t);
    if (per_output_compile(m)) {
        t->nout = m->g.noutputs;
        for (int k = 0; k < m->g.noutputs; k++) {
            snprintf(t->out_name[k], sizeof t->out_name[k], "%s", ck_model_output_name(m, k));
            snprintf(t->loss[k], sizeof t->loss[k], "%s", m->has_loss[k] ? ck_loss_name(&m->loss[k]) : "");
            t->loss_weight[k] = m->loss_weight[k];
            t->has_weights = t->has_weights || m->loss_weight[k] != 1.0;
        }
    } else {
        snprintf(t->loss[0], sizeof t->loss[0], "%s", ck_loss_name(&m->loss[0]));
    }
    t->nmetrics = m->nmetrics < CK_IO_MAX_METRICS ? m->nmetrics : CK_IO_MAX_METRICS;
    for (int i = 0; i < t->nmetrics; i++) {
        snprintf(t->metrics[i], sizeof t->metrics[i], "%s", m->metric_specs[i]);
        t->metric_out[i] = m->metric_out[i];
        t->metric_weighted[i] = m->metric_weighted[i];
    }
    snprintf(t->opt_class, sizeof t->opt_class, "%s", ck_optimizer_class(m->opt));
    t->opt_config = ck_config_to_tree(&m->opt->cfg, NULL, true, profile);
    if (!t->opt_config ||
        (profile == CK_PROFILE_KERAS3 && ck_tree_set(t->opt_config, "name", ck_tree_str(t->opt_class)) != CKERAS_OK) ||
        (m->opt->sched &&
         ck_tree_set(t->opt_config, "learning_rate", ck_schedule_to_tree(m->opt->sched)) != CKERAS_OK)) {
        ck_io_training_free(t);
        return CKERAS_ENOMEM;
    }
    return CKERAS_OK;
}

/* tf.keras 2 slot names for Keras 3's (ckeras keeps Keras 3's names inside). */
static const char *tf2_slot(const char *k3, ck_opt_kind kind)
{
    if (kind == CK_OPT_ADAM || kind == CK_OPT_ADAMW) {
        if (strcmp(k3, "momentum") == 0)
            return "m";
        if (strcmp(k3, "velocity") == 0)
            return "v";
        if (strcmp(k3, "velocity_hat") == 0)
            return "vhat";
    }
    if (kind == CK_OPT_RMSPROP) {
        if (strcmp(k3, "velocity") == 0)
            return "rms";
        if (strcmp(k3, "average_gradient") == 0)
            return "mg";
    }
    return k3;
}

/* A weight's name in Keras 3's optimizer variable names: its path with '_' for '/'
 * ("query/kernel" of a MultiHeadAttention: "query_kernel"). */
static const char *k3_name(const char *w, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", w);
    for (char *c = buf; *c; c++)
        if (*c == '/')
            *c = '_';
    return buf;
}

/* Appends weight k of layer l to hl as "<layer>/<weight>:0" (tf.keras 2) or "<layer>/<weight>"
 * (Keras 3). */
static ckeras_status put_weight(ck_h5_layer *hl, const ckeras_layer *l, int k, ck_profile profile)
{
    char name[256];
    ck_h5_array *a = &hl->w[hl->n++];
    snprintf(name, sizeof name, "%s/%s%s", l->name, l->w[k].name, profile == CK_PROFILE_KERAS3 ? "" : ":0");
    a->name = ck_strdup(name);
    a->ndim = l->w[k].shape.ndim;
    for (int d = 0; d < a->ndim; d++)
        a->shape[d] = l->w[k].shape.d[d];
    a->data = ck_malloc_n(l->w[k].size ? l->w[k].size : 1, sizeof(float));
    if (!a->name || !a->data)
        return CKERAS_ENOMEM;
    memcpy(a->data, l->w[k].data, (size_t)l->w[k].size * sizeof(float));
    return CKERAS_OK;
}

/* The weights of nested model inner in the order Keras' legacy format keeps them (and reads them
 * by): the trainable weights of its layers, then the non-trainable ones (all of a frozen
 * layer's). out has room for every weight of its layers; returns the count. */
static int group_order(const ckeras_model *inner, ck_weight **out, const ckeras_layer **owner)
{
    int n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < inner->g.n; i++) {
            ckeras_layer *l = inner->g.nodes[i].layer;
            if (!inner->g.nodes[i].first_use)
                continue;
            for (int k = 0; k < l->nw; k++) {
                bool tr = l->trainable && l->w[k].trainable && !inner->frozen;
                if (tr == (pass == 0)) {
                    owner[n] = l;
                    out[n++] = &l->w[k];
                }
            }
        }
    return n;
}

static ckeras_status put_group(const ckeras_model *inner, ck_h5_layer *hl, ck_profile profile)
{
    int total = 0;
    for (int i = 0; i < inner->g.n; i++)
        total += inner->g.nodes[i].layer->nw;
    ck_weight **ws = ck_malloc_n(total ? total : 1, sizeof *ws);
    const ckeras_layer **owner = ck_malloc_n(total ? total : 1, sizeof *owner);
    hl->w = ck_calloc((size_t)(total ? total : 1), sizeof *hl->w);
    if (!ws || !owner || !hl->w) {
        ck_free(ws);
        ck_free(owner);
        return CKERAS_ENOMEM;
    }
    int n = group_order(inner, ws, owner);
    ckeras_status st = CKERAS_OK;
    for (int j = 0; j < n && st == CKERAS_OK; j++)
        st = put_weight(hl, owner[j], (int)(ws[j] - owner[j]->w), profile);
    ck_free(ws);
    ck_free(owner);
    return st;
}

static ckeras_status fill_weights(const ckeras_model *m, ck_profile profile, ck_h5_file *f)
{
    f->layers = ck_calloc((size_t)(m->g.n ? m->g.n : 1), sizeof *f->layers);
    if (!f->layers)
        return CKERAS_ENOMEM;
    for (int i = 0; i < m->g.n; i++) {
        const ck_node *nd = &m->g.nodes[i];
        const ckeras_layer *l = nd->layer;
        if (ck_node_hidden(nd) || (!nd->first_use && nd->group < 0))
            continue; /* a shared layer's weights are written at its first call */
        ck_h5_layer *hl = &f->layers[f->nlayers++];
        if (nd->group >= 0) { /* model_weights/<nested model>/<its layer>/<weight> */
            const ck_group *gr = &m->groups[nd->group];
            hl->name = ck_strdup(gr->model->name);
            if (!hl->name || put_group(gr->model, hl, profile) != CKERAS_OK)
                return CKERAS_ENOMEM;
            i = gr->first + gr->count - 1;
            continue;
        }
        hl->name = ck_strdup(l->name);
        hl->w = ck_calloc((size_t)(l->nw ? l->nw : 1), sizeof *hl->w);
        if (!hl->name || !hl->w)
            return CKERAS_ENOMEM;
        for (int k = 0; k < l->nw; k++)
            if (put_weight(hl, l, k, profile) != CKERAS_OK)
                return CKERAS_ENOMEM;
    }
    return CKERAS_OK;
}

static ckeras_status opt_scalar(ck_h5_file *f, const char *name, bool is_int, double v)
{
    ck_h5_array *it = &f->opt[f->nopt++];
    it->name = ck_strdup(name);
    it->is_int = is_int;
    it->ivalue = is_int ? (int64_t)v : 0; /* a float (learning_rate 1e300) is never converted */
    it->ndim = 0;
    it->data = ck_malloc(sizeof(float));
    if (!it->name || !it->data)
        return CKERAS_ENOMEM;
    it->data[0] = (float)v;
    return CKERAS_OK;
}

/* optimizer_weights. tf.keras 2 (documented in docs/file-format.md): "<Class>/iter:0", then per
 * trainable variable and slot "<Class>/<layer>/<weight>/<slot>:0". Keras 3: "<Class>/iteration",
 * "<Class>/learning_rate", then per trainable variable its slots "<Class>/<layer>_<weight>_<slot>"
 * (the count and order Keras 3 expects, so that it restores the step count without a warning). */
static ckeras_status fill_optimizer(const ckeras_model *m, ck_profile profile, ck_h5_file *f)
{
    const ckeras_optimizer *o = m->opt;
    const char *slots[CK_OPT_MAX_SLOTS];
    int ns = ck_optimizer_slot_names(o, slots);
    const char *cls = ck_optimizer_class(o);
    bool k3 = profile == CK_PROFILE_KERAS3;
    int total = 2 + ns * m->nvars;
    f->opt = ck_calloc((size_t)total, sizeof *f->opt);
    if (!f->opt)
        return CKERAS_ENOMEM;
    char name[300], wn[64];
    snprintf(name, sizeof name, k3 ? "%s/iteration" : "%s/iter:0", cls);
    if (opt_scalar(f, name, true, (double)o->iterations) != CKERAS_OK)
        return CKERAS_ENOMEM;
    if (k3 && !o->sched) { /* with a schedule Keras 3 has no learning_rate variable */
        snprintf(name, sizeof name, "%s/learning_rate", cls);
        if (opt_scalar(f, name, false, ck_cfg_float(&o->cfg, "learning_rate")) != CKERAS_OK)
            return CKERAS_ENOMEM;
    }
    if (o->n != m->n_params)
        return CKERAS_OK; /* never built for these weights: only the step count */
    for (int i = 0; i < m->g.n; i++) {
        const ckeras_layer *l = m->g.nodes[i].layer;
        for (int k = 0; k < l->nw && m->g.nodes[i].first_use; k++) {
            const ck_weight *w = &l->w[k];
            if (!w->grad)
                continue; /* not trainable */
            size_t off = (size_t)(w->data - m->params);
            for (int s = 0; s < ns; s++) {
                ck_h5_array *a = &f->opt[f->nopt++];
                if (k3)
                    snprintf(name, sizeof name, "%s/%s_%s_%s", cls, l->name, k3_name(w->name, wn, sizeof wn),
                             slots[s]);
                else
                    snprintf(name, sizeof name, "%s/%s/%s/%s:0", cls, l->name, w->name, tf2_slot(slots[s], o->kind));
                a->name = ck_strdup(name);
                a->ndim = w->shape.ndim;
                for (int d = 0; d < a->ndim; d++)
                    a->shape[d] = w->shape.d[d];
                a->data = ck_malloc_n(w->size ? w->size : 1, sizeof(float));
                if (!a->name || !a->data)
                    return CKERAS_ENOMEM;
                memcpy(a->data, o->slots[s] + off, (size_t)w->size * sizeof(float));
            }
        }
    }
    return CKERAS_OK;
}

static ckeras_status model_to_file(const ckeras_model *m, bool config, bool optimizer, ck_profile profile,
                                   ck_h5_file *f)
{
    memset(f, 0, sizeof *f);
    ckeras_status st = CKERAS_ENOMEM;
    f->keras_version = ck_strdup(profile == CK_PROFILE_KERAS3 ? "3.11.3" : "2.15.0");
    f->backend = ck_strdup("tensorflow");
    f->ckeras_version = ck_strdup(CKERAS_VERSION);
    if (!f->keras_version || !f->backend || !f->ckeras_version)
        goto fail;
    if (config) {
        ck_io_model d;
        if ((st = ck_model_to_desc(m, profile, &d)) != CKERAS_OK)
            goto fail;
        f->model_config = ck_io_model_write(&d, profile);
        ck_io_model_free(&d);
        if (!f->model_config) {
            st = CKERAS_ENOMEM;
            goto fail;
        }
        if (m->compiled) {
            ck_io_training t;
            if ((st = ck_model_training_desc(m, profile, &t)) != CKERAS_OK)
                goto fail;
            f->training_config = ck_io_training_write(&t, profile);
            ck_io_training_free(&t);
            if (!f->training_config) {
                st = CKERAS_ENOMEM;
                goto fail;
            }
        }
    }
    if ((st = fill_weights(m, profile, f)) != CKERAS_OK)
        goto fail;
    if (optimizer && m->compiled && (st = fill_optimizer(m, profile, f)) != CKERAS_OK)
        goto fail;
    return CKERAS_OK;
fail:
    ck_h5_file_free(f);
    return st == CKERAS_OK ? CKERAS_ENOMEM : st;
}

ckeras_status ck_model_save(const ckeras_model *m, const char *path, int flags)
{
    if (ck_keras_native_model_path(path))
        return ck_model_save_keras(m, path, flags);
    if (m->g.n == 0)
        return ck_error(CKERAS_ESTATE, "save: model '%s' has no layers", m->name);
    if (m->functional && !m->outputs_set)
        return ck_error(CKERAS_ESTATE, "save: set the outputs of functional model '%s' first", m->name);
    if (flags & ~(CKERAS_SAVE_NO_OPTIMIZER | CKERAS_SAVE_KERAS3))
        return ck_error(CKERAS_EINVAL, "save: unknown flags 0x%x (CKERAS_SAVE_NO_OPTIMIZER, CKERAS_SAVE_KERAS3 are "
                        "accepted)", (unsigned)flags);
    ck_h5_file f;
    ck_profile profile = flags & CKERAS_SAVE_KERAS3 ? CK_PROFILE_KERAS3 : CK_PROFILE_TF2;
    ckeras_status st = model_to_file(m, true, !(flags & CKERAS_SAVE_NO_OPTIMIZER), profile, &f);
    if (st != CKERAS_OK) {
        ck_error_prefix("save");
        return st;
    }
    st = ck_h5_write(path, &f);
    ck_h5_file_free(&f);
    return st;
}

ckeras_status ck_model_save_weights(const ckeras_model *m, const char *path)
{
    if (ck_keras_native_weights_path(path))
        return ck_model_save_weights_keras(m, path);
    ck_h5_file f;
    ckeras_status st = model_to_file(m, false, false, CK_PROFILE_TF2, &f);
    if (st != CKERAS_OK)
        return st;
    st = ck_h5_write(path, &f);
    ck_h5_file_free(&f);
    return st;
}

ckeras_status ck_model_to_json(const ckeras_model *m, char **json)
{
    ck_io_model d;
    ckeras_status st = ck_model_to_desc(m, CK_PROFILE_TF2, &d);
    if (st != CKERAS_OK)
        return st;
    *json = ck_io_model_write(&d, CK_PROFILE_TF2);
    ck_io_model_free(&d);
    return *json ? CKERAS_OK : CKERAS_ENOMEM;
}

/* ---- plain forms -> model ---------------------------------------------------------------------- */

/* Copies a name from a file into a CK_NAME_MAX buffer. */
static ckeras_status set_name(char *dst, const char *src)
{
    size_t n = strlen(src);
    if (n >= CK_NAME_MAX)
        return ck_error(CKERAS_EUNSUPPORTED, "the name '%s' is longer than %d characters", src, CK_NAME_MAX - 1);
    memcpy(dst, src, n + 1);
    return CKERAS_OK;
}

static bool is_input(const ck_io_layer *l)
{
    return ck_layer_lookup(l->class_name) == &ck_input_vt;
}

/* Keras 3 records the mask an Embedding(mask_zero=True) computes as a NotEqual(x, 0) op node
 * whose output only goes to "mask" call keywords; the model makes that mask itself, so such a
 * node is not a layer to build. */
static bool implicit_mask_op(const ck_io_model *d, int i)
{
    const ck_io_layer *l = &d->layers[i];
    if (strcmp(l->class_name, "NotEqual") != 0 || l->nin != 1 || l->nconst != 1 || strcmp(l->const_text, "0") != 0)
        return false;
    for (int j = 0; j < d->nlayers; j++)
        for (int k = 0; k < d->layers[j].nin; k++)
            if (strcmp(d->layers[j].in[k].layer, l->name) == 0)
                return false;
    return true;
}

/* A "mask" keyword is fine when it is such a node's output and the model gives the layer a mask
 * of its own (from an Embedding(mask_zero=True) or Masking before it). */
static ckeras_status check_mask_keyword(const ck_io_model *d, const ckeras_model *m, const ck_io_layer *l, int id)
{
    if (!l->mask_from[0])
        return CKERAS_OK;
    int node = m->ids[id];
    if (m->g.nodes[node].layer->vt == &ck_take_vt && m->g.nodes[node].in[0] >= 0)
        node = m->g.nodes[node].in[0]; /* output 0 of a layer with several outputs: that layer's node */
    for (int i = 0; i < d->nlayers; i++)
        if (strcmp(d->layers[i].name, l->mask_from) == 0 && implicit_mask_op(d, i) &&
            ck_graph_node_has_mask(&m->g, m->g.nodes[node].in[0]))
            return CKERAS_OK;
    return ck_error(CKERAS_EUNSUPPORTED, "layer '%s': a mask given by the call keyword 'mask' (from '%s') is "
                    "supported only as the mask of an Embedding(mask_zero=True) or Masking before it", l->name,
                    l->mask_from);
}

static ckeras_status unsupported_layer(const ck_io_layer *l)
{
    const char *why = ck_layer_unsupported_reason(l->class_name);
    if (why)
        return ck_error(CKERAS_EUNSUPPORTED, "layer '%s' is a %s layer: %s", l->name, l->class_name, why);
    if (strcmp(l->class_name, "Sequential") == 0 || strcmp(l->class_name, "Functional") == 0 ||
        strcmp(l->class_name, "Model") == 0)
        return ck_error(CKERAS_EUNSUPPORTED, "layer '%s' is a nested %s model, which ckeras does not support yet",
                        l->name, l->class_name);
    return ck_error(CKERAS_EUNSUPPORTED, "layer '%s' has class '%s', which ckeras does not support", l->name,
                    l->class_name);
}

/* tf.keras 2 writes x + 3.0 as a TFOpLambda layer: its config's "function" names the TensorFlow
 * operation, the number is the call keyword "y" (the tensor is the node's input). Those that are
 * elementwise merges load as the merge layer with the number as a constant operand. */
static const struct {
    const char *fn;
    const ck_layer_vt *vt;
} tfop_fns[] = {
    {"__operators__.add", &ck_add_vt},   {"math.add", &ck_add_vt},         {"math.subtract", &ck_subtract_vt},
    {"math.multiply", &ck_multiply_vt}, {"math.maximum", &ck_maximum_vt}, {"math.minimum", &ck_minimum_vt},
};

static bool is_tfop(const ck_io_layer *d)
{
    return strcmp(d->class_name, "TFOpLambda") == 0;
}

static const ck_layer_vt *tfop_vt(const char *fn)
{
    for (size_t k = 0; fn && k < sizeof tfop_fns / sizeof tfop_fns[0]; k++)
        if (strcmp(tfop_fns[k].fn, fn) == 0)
            return tfop_fns[k].vt;
    return NULL;
}

static const char *tfop_fn(const ck_layer_vt *vt)
{
    for (size_t k = 0; k < sizeof tfop_fns / sizeof tfop_fns[0]; k++)
        if (tfop_fns[k].vt == vt)
            return tfop_fns[k].fn;
    return NULL;
}

/* The call keywords of a layer's node: tensors by keyword only where the layer takes them (a
 * recurrent layer's initial_state), training=False (inference behaviour in fit, as Keras),
 * training=True (no effect), None values; anything else is refused by name rather than dropped. */
static ckeras_status apply_call_keywords(const ck_io_layer *d, ckeras_layer *l)
{
    for (int k = 0; k < d->nin && !l->vt->call_inputs; k++)
        if (d->in_kw[k][0] && (!l->vt->extra_inputs_kwarg || strcmp(d->in_kw[k], l->vt->extra_inputs_kwarg) != 0))
            return ck_error(CKERAS_EUNSUPPORTED, "%s: call keyword '%s' with tensors is not supported", d->class_name,
                            d->in_kw[k]);
    if (d->kwarg[0] && !l->vt->call_inputs &&
        (!l->vt->extra_inputs_kwarg || strcmp(d->kwarg, l->vt->extra_inputs_kwarg) != 0))
        return ck_error(CKERAS_EUNSUPPORTED, "%s: call keyword '%s' with tensors is not supported", d->class_name,
                        d->kwarg);
    for (int k = 0; d->kwargs && k < d->kwargs->n; k++) {
        const ck_tree *v = d->kwargs->items[k];
        const char *key = d->kwargs->keys[k];
        if (v->kind == CK_T_NULL || (is_tfop(d) && strcmp(key, "y") == 0)) /* y: the TFOpLambda's number */
            continue;
        if (strcmp(key, "training") == 0 && v->kind == CK_T_BOOL && !v->i) {
            l->call_inference = true;
            continue;
        }
        /* training=True: Keras 3 records the default of the image preprocessing layers' call
         * (BaseImagePreprocessingLayer.call(data, training=True)); a model's fit and predict pass
         * their own flag over it (functional.operation_fn), so it changes nothing */
        if (strcmp(key, "training") == 0 && v->kind == CK_T_BOOL && v->i)
            continue;
        bool field = false;
        for (const char *const *f = l->vt->call_fields; f && *f && !field; f++)
            field = strcmp(*f, key) == 0;
        if (field && v->kind == CK_T_BOOL) {
            ckeras_status st = ck_config_set_bool(&l->cfg, d->class_name, key, v->i != 0);
            if (st != CKERAS_OK)
                return st;
            continue;
        }
        return ck_error(CKERAS_EUNSUPPORTED, "%s: call keyword '%s' is not supported", d->class_name, key);
    }
    return CKERAS_OK;
}

static ckeras_status make_layer(const ck_io_layer *d, bool keras2, bool frozen, ckeras_layer **out)
{
    const ck_layer_vt *vt = ck_layer_lookup(d->class_name);
    const ck_tree *tfop_y = NULL;
    if (is_tfop(d)) {
        const char *fn = ck_tree_string(ck_tree_use(d->config, "function"));
        vt = tfop_vt(fn);
        tfop_y = ck_tree_get(d->kwargs, "y");
        if (!vt || d->nin != 1 || !tfop_y || !ck_tree_is_number(tfop_y))
            return ck_error(CKERAS_EUNSUPPORTED, "layer '%s' is a TFOpLambda layer (tf.%s): ckeras computes only "
                            "x + number, x - number, x * number and tf.math.maximum/minimum of x and a number",
                            d->name, fn ? fn : "?");
    }
    if (!vt || vt == &ck_input_vt)
        return unsupported_layer(d);
    ckeras_layer *l = ck_layer_new(vt);
    if (!l)
        return CKERAS_ENOMEM;
    ckeras_status st = ck_config_from_tree(&l->cfg, d->class_name, d->config, l->name, sizeof l->name, &l->trainable);
    const char *unused = st == CKERAS_OK ? ck_tree_first_unused(d->config) : NULL;
    if (unused) /* nothing read is silently dropped */
        st = ck_error(CKERAS_EUNSUPPORTED, "%s: config key '%s' is not supported by ckeras", d->class_name, unused);
    if (st == CKERAS_OK)
        st = apply_call_keywords(d, l);
    if (st == CKERAS_OK && d->nconst > 0) { /* a Keras 3 operation such as x + 3.0 */
        if (!ck_merge_is_elementwise(vt) || d->const_nan || d->nconst > CK_IO_MAX_IN)
            st = ck_error(CKERAS_EUNSUPPORTED, "%s is called with %d plain value%s among its inputs (%s): ckeras "
                          "computes such Keras 3 operations (x + 3.0) for Add, Subtract, Multiply, Average, "
                          "Maximum and Minimum with numbers only", d->class_name, d->nconst, d->nconst > 1 ? "s" : "",
                          d->const_text);
        else
            st = ck_merge_set_constants(l, d->nconst, d->const_pos, d->const_val);
    }
    if (st == CKERAS_OK && tfop_y)
        st = ck_merge_set_constants(l, 1, (const int[]){1}, (const double[]){ck_tree_number(tfop_y)});
    if (st != CKERAS_OK) {
        ck_layer_free(l);
        ck_error_prefix("layer '%s'", d->name);
        return st;
    }
    if ((st = set_name(l->name, d->name)) != CKERAS_OK) {
        ck_layer_free(l);
        return st;
    }
    l->named = true;
    l->keras2 = keras2;
    /* A layer of a nested model saved as "trainable": false. tf.keras 2 trains nothing inside such
     * a model. Keras 3 (and ckeras) train what the layer's own config says, as after
     * base.trainable = False; base.get_layer("bn").trainable = True; a layer whose config says
     * nothing follows the model. */
    const ck_tree *own = ck_tree_get(d->config, "trainable");
    if (frozen && (keras2 || !own || own->kind != CK_T_BOOL))
        l->trainable = false;
    *out = l;
    return CKERAS_OK;
}

/* An InputLayer's per-sample shape from "batch_input_shape"/"batch_shape"/"shape". */
static ckeras_status input_from_config(const ck_io_layer *d, ckeras_layer **out)
{
    ckeras_layer *l = ck_layer_new(&ck_input_vt);
    if (!l)
        return CKERAS_ENOMEM;
    /* the Input schema has "shape"; batch forms arrive as "input_shape", which it lacks, so read
     * them through a scratch Dense-like schema */
    static const ck_field f[] = {{"input_shape", CK_INTS, NULL, NULL, ""}, {"shape", CK_INTS, NULL, NULL, ""},
                                 {"sparse", CK_BOOL, "false", NULL, ""}, {"ragged", CK_BOOL, "false", NULL, ""},
                                 {"optional", CK_BOOL, "false", NULL, ""}, {"batch_size", CK_INT, NULL, NULL, ""}};
    ck_config c;
    ckeras_status st = ck_config_init(&c, f, (int)(sizeof f / sizeof f[0]));
    if (st == CKERAS_OK)
        st = ck_config_from_tree(&c, ck_input_vt.class_name, d->config, NULL, 0, NULL);
    const char *unused = st == CKERAS_OK ? ck_tree_first_unused(d->config) : NULL;
    if (unused)
        st = ck_error(CKERAS_EUNSUPPORTED, "%s: config key '%s' is not supported by ckeras", ck_input_vt.class_name,
                      unused);
    for (int k = 2; k < 5 && st == CKERAS_OK; k++)
        if (ck_cfg_bool(&c, f[k].name))
            st = ck_error(CKERAS_EUNSUPPORTED, "%s: %s inputs are not supported", ck_input_vt.class_name, f[k].name);
    if (st == CKERAS_OK) {
        const ck_value *v = ck_cfg_value(&c, "input_shape");
        if (v->is_none)
            v = ck_cfg_value(&c, "shape");
        if (v->is_none || v->n < 1)
            st = ck_error(CKERAS_EFORMAT, "InputLayer '%s' has no shape", d->name);
        else
            st = ck_config_set_ints(&l->cfg, ck_input_vt.class_name, "shape", v->n, v->v);
    }
    /* a fixed batch size (stateful recurrent models need it) is kept for writing */
    const ck_tree *bs = ck_tree_get(d->config, "batch_input_shape");
    if (!bs)
        bs = ck_tree_get(d->config, "batch_shape");
    if (st == CKERAS_OK && bs && bs->kind == CK_T_LIST && bs->n > 0 && bs->items[0]->kind == CK_T_INT &&
        bs->items[0]->i > 0)
        st = ck_config_set_int(&l->cfg, ck_input_vt.class_name, "batch_size", bs->items[0]->i);
    ck_config_free(&c);
    if (st != CKERAS_OK) {
        ck_layer_free(l);
        ck_error_prefix("layer '%s'", d->name);
        return st;
    }
    if ((st = set_name(l->name, d->name)) != CKERAS_OK) {
        ck_layer_free(l);
        return st;
    }
    l->named = true;
    *out = l;
    return CKERAS_OK;
}

/* ---- nested models: flattened into one graph --------------------------------------------------
 * A layer whose class is Sequential/Functional/Model carries a whole model. Loading splices its
 * layers into the outer model: a nested Sequential's layers follow each other (its InputLayer
 * dropped), a nested Functional's nodes are wired to the tensor the nested model was called on.
 * Names stay unique: an inner name already used in the outer model becomes "<nested>/<name>".
 * Each flat layer remembers where its weights are in the file: the top-level layer whose
 * model_weights group holds them, and its name inside its own model (weight names use it). */

typedef struct flat_info {
    int group;                 /* index of the top-level layer whose weight group holds it */
    char orig[CK_IO_NAME];     /* its name in its own model */
    bool frozen;               /* inside a nested model whose config says trainable: false */
    bool inference;            /* inside a nested model called with training=False */
} flat_info;

typedef struct flat {
    ck_io_model m;             /* the flat model config (owns copies of the layer configs) */
    flat_info *info;           /* one per m.layers */
    int cap;
    const ck_io_model *top;
} flat;

static void flat_free(flat *fl)
{
    ck_io_model_free(&fl->m);
    ck_free(fl->info);
    fl->info = NULL;
    fl->cap = 0;
}

static bool has_nested(const ck_io_model *d)
{
    for (int i = 0; i < d->nlayers; i++)
        if (d->layers[i].model)
            return true;
    return false;
}

/* Only Sequential models all the way down: the flat model is a Sequential too. */
static bool all_sequential(const ck_io_model *d)
{
    if (d->class_name[0] != 'S')
        return false;
    for (int i = 0; i < d->nlayers; i++)
        if (d->layers[i].model && !all_sequential(d->layers[i].model))
            return false;
    return true;
}

static bool flat_has(const flat *fl, const char *name)
{
    for (int i = 0; i < fl->m.nlayers; i++)
        if (strcmp(fl->m.layers[i].name, name) == 0)
            return true;
    /* names of the top-level layers are the outer model's own: inner layers never take them */
    for (int i = 0; i < fl->top->nlayers; i++)
        if (!fl->top->layers[i].model && strcmp(fl->top->layers[i].name, name) == 0)
            return true;
    return false;
}

/* A name for a layer of a nested model (depth > 0) that no other flat layer has. */
static ckeras_status unique_name(const flat *fl, const char *nested, const char *orig, char *out)
{
    if (!flat_has(fl, orig) && strlen(orig) < CK_NAME_MAX) {
        snprintf(out, CK_IO_NAME, "%s", orig);
        return CKERAS_OK;
    }
    char buf[2 * CK_IO_NAME + 16];
    snprintf(buf, sizeof buf, "%s/%s", nested, orig);
    if (strlen(buf) < CK_NAME_MAX && !flat_has(fl, buf)) {
        memcpy(out, buf, strlen(buf) + 1);
        return CKERAS_OK;
    }
    for (int k = 1; k < 100000; k++) {
        snprintf(buf, sizeof buf, "%.40s_%d", orig, k); /* < CK_NAME_MAX */
        if (!flat_has(fl, buf)) {
            memcpy(out, buf, strlen(buf) + 1);
            return CKERAS_OK;
        }
    }
    return ck_error(CKERAS_EFORMAT, "no unique name for layer '%s' of nested model '%s'", orig, nested);
}

#define FLAT_FROZEN 1u    /* inside a nested model whose config says trainable: false */
#define FLAT_INFERENCE 2u /* inside a nested model called with training=False */

/* What the layers of nested model node l inherit: its own trainable: false, and a call with
 * training=False (Keras' transfer-learning idiom base(x, training=False)). */
static unsigned nested_how(unsigned how, const ck_io_layer *l)
{
    const ck_tree *t = ck_tree_get(l->kwargs, "training");
    return how | (l->model->frozen ? FLAT_FROZEN : 0) | (t && t->kind == CK_T_BOOL && !t->i ? FLAT_INFERENCE : 0);
}

/* Appends a copy of l (config duplicated) named name; returns its index or -1 (ENOMEM). */
static int flat_add(flat *fl, const ck_io_layer *l, const char *name, int group, const char *orig, unsigned how)
{
    if (fl->m.nlayers == fl->cap) {
        int cap = ck_grow(fl->cap, 16);
        ck_io_layer *nl = ck_realloc_n(fl->m.layers, cap, sizeof *nl);
        if (!nl)
            return -1;
        fl->m.layers = nl;
        flat_info *ni = ck_realloc_n(fl->info, cap, sizeof *ni);
        if (!ni)
            return -1;
        fl->info = ni;
        fl->cap = cap;
    }
    ck_io_layer *c = &fl->m.layers[fl->m.nlayers];
    memset(c, 0, sizeof *c);
    snprintf(c->class_name, sizeof c->class_name, "%s", l->class_name);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->config = l->config ? ck_tree_copy(l->config) : ck_tree_object();
    if (!c->config)
        return -1;
    c->ncalls = l->ncalls;
    c->nconst = l->nconst;
    memcpy(c->const_text, l->const_text, sizeof c->const_text);
    memcpy(c->const_pos, l->const_pos, sizeof c->const_pos);
    memcpy(c->const_val, l->const_val, sizeof c->const_val);
    c->const_nan = l->const_nan;
    c->op_node = l->op_node;
    c->nargs = l->nargs;
    memcpy(c->kwarg, l->kwarg, sizeof c->kwarg);
    memcpy(c->in_kw, l->in_kw, sizeof c->in_kw);
    memcpy(c->mask_from, l->mask_from, sizeof c->mask_from);
    if (l->kwargs && !(c->kwargs = ck_tree_copy(l->kwargs)))
        return -1;
    flat_info *fi = &fl->info[fl->m.nlayers];
    fi->group = group;
    snprintf(fi->orig, sizeof fi->orig, "%s", orig);
    fi->frozen = how & FLAT_FROZEN;
    fi->inference = how & FLAT_INFERENCE;
    return fl->m.nlayers++;
}

static void set_ref(ck_io_ref *r, const char *layer, int node, int tensor)
{
    snprintf(r->layer, sizeof r->layer, "%s", layer);
    r->node = node;
    r->tensor = tensor;
}

static ckeras_status splice(flat *fl, const ck_io_model *d, int depth, int group, unsigned how, const ck_io_ref *in,
                            ck_io_ref *out);

/* The layers of a Sequential d, reading in (NULL: d's InputLayer becomes an input of the flat
 * model); *out is its output. */
static ckeras_status splice_sequential(flat *fl, const ck_io_model *d, int depth, int group, unsigned how,
                                       const ck_io_ref *in, ck_io_ref *out)
{
    ck_io_ref cur;
    bool have = in != NULL;
    if (in)
        cur = *in;
    char name[CK_IO_NAME];
    for (int i = 0; i < d->nlayers; i++) {
        const ck_io_layer *l = &d->layers[i];
        int g = depth == 0 ? i : group;
        ckeras_status st;
        if (l->model) {
            if ((st = splice(fl, l->model, depth + 1, g, nested_how(how, l), have ? &cur : NULL, &cur)) !=
                CKERAS_OK) {
                ck_error_prefix("nested model '%s'", l->name);
                return st;
            }
            have = true;
            continue;
        }
        bool input = is_input(l);
        if (input && have)
            continue; /* a nested model's own input */
        if ((st = depth == 0 ? set_name(name, l->name) : unique_name(fl, d->name, l->name, name)) != CKERAS_OK)
            return st;
        if (!input && !have && fl->m.class_name[0] == 'F') {
            /* the first layer carries the input shape: an InputLayer from its config */
            char iname[CK_IO_NAME + 8];
            snprintf(iname, sizeof iname, "%.60s_input", l->name);
            char uname[CK_IO_NAME];
            ck_io_layer tmp = *l;
            snprintf(tmp.class_name, sizeof tmp.class_name, "%s", ck_input_vt.class_name);
            if ((st = unique_name(fl, d->name, iname, uname)) != CKERAS_OK)
                return st;
            if (flat_add(fl, &tmp, uname, g, uname, how) < 0)
                return CKERAS_ENOMEM;
            set_ref(&cur, uname, 0, 0);
            have = true;
        }
        int k = flat_add(fl, l, name, g, l->name, how);
        if (k < 0)
            return CKERAS_ENOMEM;
        ck_io_layer *c = &fl->m.layers[k];
        c->ncalls = 1;
        if (have) {
            c->nin = 1;
            c->in[0] = cur;
        }
        if (input && fl->m.ninputs < CK_IO_MAX_IN)
            set_ref(&fl->m.inputs[fl->m.ninputs++], name, 0, 0);
        set_ref(&cur, name, 0, 0);
        have = true;
    }
    if (!have)
        return ck_error(CKERAS_EFORMAT, "the Sequential model '%s' has no layers", d->name);
    *out = cur;
    return CKERAS_OK;
}

static int find_layer(const ck_io_model *d, const char *name)
{
    for (int i = 0; i < d->nlayers; i++)
        if (strcmp(d->layers[i].name, name) == 0)
            return i;
    return -1;
}

/* The layers of a Functional d. in: the one tensor its single input reads (NULL: its InputLayers
 * become inputs of the flat model). */
static ckeras_status splice_functional(flat *fl, const ck_io_model *d, int depth, int group, unsigned how,
                                       const ck_io_ref *in, ck_io_ref *out)
{
    ck_io_ref *map = ck_calloc((size_t)(d->nlayers ? d->nlayers : 1), sizeof *map);
    bool *done = ck_calloc((size_t)(d->nlayers ? d->nlayers : 1), sizeof *done);
    ckeras_status st = CKERAS_OK;
    if (!map || !done) {
        st = CKERAS_ENOMEM;
        goto end;
    }
    if (in && d->ninputs != 1) {
        st = ck_error(CKERAS_EUNSUPPORTED, "nested model '%s' has %d inputs; nested models with one input are "
                      "supported", d->name, d->ninputs);
        goto end;
    }
    char name[CK_IO_NAME];
    int ndone = 0;
    for (bool progress = true; progress && ndone < d->nlayers && st == CKERAS_OK;) {
        progress = false;
        for (int i = 0; i < d->nlayers && st == CKERAS_OK; i++) {
            const ck_io_layer *l = &d->layers[i];
            int g = depth == 0 ? i : group;
            if (done[i])
                continue;
            if (is_input(l)) {
                if (in) {
                    map[i] = *in;
                } else {
                    if ((st = depth == 0 ? set_name(name, l->name) : unique_name(fl, d->name, l->name, name)) !=
                        CKERAS_OK)
                        break;
                    if (flat_add(fl, l, name, g, l->name, how) < 0) {
                        st = CKERAS_ENOMEM;
                        break;
                    }
                    set_ref(&map[i], name, 0, 0);
                }
                done[i] = progress = true;
                ndone++;
                continue;
            }
            ck_io_ref ins[CK_IO_MAX_IN];
            bool ready = true;
            for (int k = 0; k < l->nin && ready; k++) {
                int j = find_layer(d, l->in[k].layer);
                ready = j >= 0 && done[j];
                if (!ready)
                    break;
                ins[k] = map[j];
                if (d->layers[j].model) {
                    if (l->in[k].tensor != 0) {
                        st = ck_error(CKERAS_EUNSUPPORTED, "layer '%s' reads output %d of nested model '%s'; "
                                      "nested models with one output are supported", l->name, l->in[k].tensor,
                                      d->layers[j].name);
                        break;
                    }
                } else {
                    ins[k].node = l->in[k].node; /* build_functional checks these */
                    ins[k].tensor = l->in[k].tensor;
                }
            }
            if (st != CKERAS_OK || !ready || l->nin == 0)
                continue;
            if (l->model) {
                if (l->ncalls > 1 || l->nin != 1) {
                    st = ck_error(CKERAS_EUNSUPPORTED, "nested model '%s' is called %d times on %d inputs; one "
                                  "call on one tensor is supported", l->name, l->ncalls, l->nin);
                    break;
                }
                if ((st = splice(fl, l->model, depth + 1, g, nested_how(how, l), &ins[0], &map[i])) !=
                    CKERAS_OK) {
                    ck_error_prefix("nested model '%s'", l->name);
                    break;
                }
            } else {
                if ((st = depth == 0 ? set_name(name, l->name) : unique_name(fl, d->name, l->name, name)) !=
                    CKERAS_OK)
                    break;
                int k = flat_add(fl, l, name, g, l->name, how);
                if (k < 0) {
                    st = CKERAS_ENOMEM;
                    break;
                }
                ck_io_layer *c = &fl->m.layers[k];
                c->nin = l->nin;
                memcpy(c->in, ins, (size_t)l->nin * sizeof *ins);
                set_ref(&map[i], name, 0, 0);
            }
            done[i] = progress = true;
            ndone++;
        }
    }
    if (st == CKERAS_OK && ndone < d->nlayers)
        st = ck_error(CKERAS_EFORMAT, "the layers of model '%s' do not form a graph from its inputs", d->name);
    if (st == CKERAS_OK && depth == 0) {
        for (int k = 0; k < d->ninputs && st == CKERAS_OK; k++) {
            int j = find_layer(d, d->inputs[k].layer);
            if (j < 0)
                st = ck_error(CKERAS_EFORMAT, "input layer '%s' is not in the model", d->inputs[k].layer);
            else
                fl->m.inputs[fl->m.ninputs++] = map[j];
        }
        for (int k = 0; k < d->noutputs && st == CKERAS_OK; k++) {
            int j = find_layer(d, d->outputs[k].layer);
            if (j < 0)
                st = ck_error(CKERAS_EFORMAT, "output layer '%s' is not in the model", d->outputs[k].layer);
            else
                fl->m.outputs[fl->m.noutputs++] = map[j];
        }
    } else if (st == CKERAS_OK) {
        int j = d->noutputs == 1 ? find_layer(d, d->outputs[0].layer) : -1;
        if (d->noutputs != 1)
            st = ck_error(CKERAS_EUNSUPPORTED, "nested model '%s' has %d outputs; one output is supported", d->name,
                          d->noutputs);
        else if (j < 0)
            st = ck_error(CKERAS_EFORMAT, "output layer '%s' is not in model '%s'", d->outputs[0].layer, d->name);
        else if (d->outputs[0].tensor != 0)
            st = ck_error(CKERAS_EUNSUPPORTED, "nested model '%s' outputs tensor %d of '%s'; single-output layers "
                          "are supported", d->name, d->outputs[0].tensor, d->outputs[0].layer);
        else
            *out = map[j];
    }
end:
    ck_free(map);
    ck_free(done);
    return st;
}

static ckeras_status splice(flat *fl, const ck_io_model *d, int depth, int group, unsigned how, const ck_io_ref *in,
                            ck_io_ref *out)
{
    if (depth > 16)
        return ck_error(CKERAS_EUNSUPPORTED, "models nested more than 16 deep");
    return d->class_name[0] == 'S' ? splice_sequential(fl, d, depth, group, how, in, out)
                                   : splice_functional(fl, d, depth, group, how, in, out);
}

/* The flat form of a model config with nested models (only called when it has some). */
static ckeras_status flatten(const ck_io_model *d, flat *fl)
{
    memset(fl, 0, sizeof *fl);
    fl->top = d;
    snprintf(fl->m.class_name, sizeof fl->m.class_name, "%s", all_sequential(d) ? "Sequential" : "Functional");
    snprintf(fl->m.name, sizeof fl->m.name, "%s", d->name);
    ck_io_ref out;
    ckeras_status st = splice(fl, d, 0, 0, d->frozen ? FLAT_FROZEN : 0, NULL, &out);
    if (st == CKERAS_OK && d->class_name[0] == 'S') {
        fl->m.noutputs = 1;
        fl->m.outputs[0] = out;
    }
    if (st != CKERAS_OK)
        flat_free(fl);
    return st;
}

/* info: the flat_info of each layer of d when d is a flattened config, else NULL */
static ckeras_status build_sequential(const ck_io_model *d, bool keras2, bool defer_init, const flat_info *info,
                                     ckeras_model **out)
{
    ckeras_model *m = ck_calloc(1, sizeof *m);
    if (!m)
        return CKERAS_ENOMEM;
    m->defer_init = defer_init;
    ck_rng_seed(&m->rng, ck_next_model_seed());
    ckeras_status st = set_name(m->name, d->name);
    for (int i = 0; i < d->nlayers && st == CKERAS_OK; i++) {
        ckeras_layer *l = NULL;
        if (ck_layer_lookup(d->layers[i].class_name) == &ck_input_vt) {
            st = input_from_config(&d->layers[i], &l);
        } else {
            st = make_layer(&d->layers[i], keras2, info && info[i].frozen, &l);
            if (st == CKERAS_OK && info && info[i].inference)
                l->call_inference = true;
        }
        if (st == CKERAS_OK)
            st = ck_model_add(m, l);
    }
    if (st == CKERAS_OK && m->g.n == 0)
        st = ck_error(CKERAS_EFORMAT, "the Sequential model '%s' has no layers", d->name);
    if (st != CKERAS_OK) {
        ck_model_free(m);
        return st;
    }
    *out = m;
    return CKERAS_OK;
}

/* The id of output t of the layer whose (first) output has id first: the ids of a layer's outputs
 * follow one another. -1 with the error set when it has no output t. */
static int output_id(const ckeras_model *m, int first, int t, const char *name)
{
    int node = m->ids[first], nout = 1;
    if (node >= 0 && m->g.nodes[node].layer->vt == &ck_take_vt)
        nout = m->g.nodes[m->g.nodes[node].in[0]].layer->nout;
    if (t < 0 || t >= nout)
        return ck_error(CKERAS_EFORMAT, "layer '%s' has %d output%s; tensor %d is read", name, nout,
                        nout == 1 ? "" : "s", t), -1;
    return first + t;
}

/* The id of call r->node of layer r->layer (its first output), -1 while that call is not made,
 * -2 when the layer has no such call. first[i]: layer i's first call; more[moff[i] + c - 1]: call c. */
static int call_id(const ck_io_model *d, const int *first, const int *more, const int *moff, const ck_io_ref *r)
{
    for (int i = 0; i < d->nlayers; i++)
        if (strcmp(d->layers[i].name, r->layer) == 0) {
            int calls = d->layers[i].ncalls > 1 ? d->layers[i].ncalls : 1;
            if (r->node < 0 || r->node >= calls)
                return -2;
            return r->node == 0 ? first[i] : more[moff[i] + r->node - 1];
        }
    return -1;
}

static ckeras_status build_functional(const ck_io_model *d, bool keras2, bool defer_init, const flat_info *info,
                                     ckeras_model **out)
{
    if (strlen(d->name) >= CK_NAME_MAX)
        return set_name((char[CK_NAME_MAX]){0}, d->name);
    int nl = d->nlayers ? d->nlayers : 1, nmore = 0;
    for (int i = 0; i < d->nlayers; i++)
        nmore += d->layers[i].ncalls > 1 ? d->layers[i].ncalls - 1 : 0;
    ckeras_model *m = ck_functional_new(d->name);
    int *ids = ck_malloc_n(nl, (3 * sizeof *ids + sizeof(bool)));
    int *more = ck_malloc_n(nmore ? nmore : 1, sizeof *more);
    ckeras_layer **lay = ck_calloc((size_t)nl, sizeof *lay);
    if (!m || !ids || !more || !lay) {
        ck_model_free(m);
        ck_free(ids);
        ck_free(more);
        ck_free(lay);
        return CKERAS_ENOMEM;
    }
    int *moff = ids + nl, *ndone = ids + 2 * nl;          /* offsets into more; calls made */
    bool *skip = (bool *)(ids + 3 * nl); /* implicit mask ops (not layers) */
    m->defer_init = defer_init;
    int total = 0;
    for (int i = 0, at = 0; i < d->nlayers; i++) {
        ids[i] = -1;
        skip[i] = false;
        moff[i] = at;
        ndone[i] = 0;
        at += d->layers[i].ncalls > 1 ? d->layers[i].ncalls - 1 : 0;
        total += d->layers[i].ncalls > 1 ? d->layers[i].ncalls : 1;
    }
    for (int k = 0; k < nmore; k++)
        more[k] = -1;
    ckeras_status st = CKERAS_OK;
    int done = 0;
    /* the model's inputs in the order of its input_layers (Keras may list the Input layers in
     * another order among its layers) */
    for (int k = 0; k < d->ninputs && st == CKERAS_OK; k++) {
        int i = find_layer(d, d->inputs[k].layer);
        if (i < 0 || !is_input(&d->layers[i]) || ndone[i] > 0)
            continue; /* reported, or handled, below */
        ckeras_layer *in = NULL;
        if ((st = input_from_config(&d->layers[i], &in)) == CKERAS_OK && (ids[i] = ck_model_input(m, in)) < 0)
            st = CKERAS_EINVAL;
        int calls = d->layers[i].ncalls > 1 ? d->layers[i].ncalls : 1;
        ndone[i] = calls;
        done += calls;
    }
    /* calls in an order where every input exists: Keras writes them so, but do not rely on it */
    bool progress = true;
    while (st == CKERAS_OK && done < total && progress) {
        progress = false;
        for (int i = 0; i < d->nlayers && st == CKERAS_OK; i++) {
            const ck_io_layer *l = &d->layers[i];
            int calls = l->ncalls > 1 ? l->ncalls : 1;
            if (ndone[i] >= calls || skip[i])
                continue;
            if (implicit_mask_op(d, i)) {
                skip[i] = true;
                done += calls;
                progress = true;
                continue;
            }
            if (is_input(l)) {
                ckeras_layer *in = NULL;
                if ((st = input_from_config(l, &in)) == CKERAS_OK && (ids[i] = ck_model_input(m, in)) < 0)
                    st = CKERAS_EINVAL;
                ndone[i] = calls;
                done += calls;
                progress = true;
                continue;
            }
            if (l->ncalls > 1 && !l->calls) {
                st = ck_error(CKERAS_EUNSUPPORTED, "layer '%s' (%s) is called %d times in a model with nested "
                              "models; shared layers there are not supported yet", l->name, l->class_name, l->ncalls);
                break;
            }
            int c = ndone[i];
            int nin = c == 0 ? l->nin : l->calls[c - 1].nin;
            const ck_io_ref *refs = c == 0 ? l->in : l->calls[c - 1].in;
            if (nin == 0) {
                st = ck_error(CKERAS_EFORMAT, "layer '%s' has no inbound nodes", l->name);
                break;
            }
            int in[CK_IO_MAX_IN];
            bool ready = true;
            for (int k = 0; k < nin; k++) {
                in[k] = call_id(d, ids, more, moff, &refs[k]);
                if (in[k] == -2) {
                    st = ck_error(CKERAS_EFORMAT, "layer '%s' reads call %d of '%s', which has no such call", l->name,
                                  refs[k].node, refs[k].layer);
                    break;
                }
                if (in[k] >= 0 && (in[k] = output_id(m, in[k], refs[k].tensor, refs[k].layer)) < 0) {
                    st = CKERAS_EFORMAT;
                    break;
                }
                ready = ready && in[k] >= 0;
            }
            if (st != CKERAS_OK || !ready)
                continue;
            if (c > 0) { /* a further call of a shared layer: the same weights */
                if (lay[i]->vt->call_inputs) { /* Keras' call tensors in the layer's input order */
                    int map[CK_IO_MAX_IN], was[CK_IO_MAX_IN];
                    const char *kw[CK_IO_MAX_IN];
                    memcpy(was, in, sizeof was);
                    for (int k = 0; k < nin; k++)
                        kw[k] = l->calls[c - 1].in_kw[k];
                    if ((nin = lay[i]->vt->call_inputs(lay[i], kw, nin, map)) < 0 || nin > CK_IO_MAX_IN) {
                        ck_error_prefix("layer '%s', call %d", l->name, c);
                        st = CKERAS_EUNSUPPORTED;
                        break;
                    }
                    for (int k = 0; k < nin; k++)
                        in[k] = was[map[k]];
                }
                if ((more[moff[i] + c - 1] = ck_model_call(m, lay[i], nin, in)) < 0)
                    st = m->call_status;
                ndone[i]++;
                done++;
                progress = true;
                continue;
            }
            ckeras_layer *layer = NULL;
            if ((st = make_layer(l, keras2, info && info[i].frozen, &layer)) != CKERAS_OK)
                break;
            if (info && info[i].inference)
                layer->call_inference = true;
            lay[i] = layer;
            int nin0 = l->nin;
            if (layer->vt->call_inputs) { /* Keras' call tensors in the layer's input order */
                int map[CK_IO_MAX_IN], was[CK_IO_MAX_IN];
                const char *kw[CK_IO_MAX_IN];
                memcpy(was, in, sizeof was);
                for (int k = 0; k < l->nin; k++)
                    kw[k] = l->in_kw[k];
                nin0 = layer->vt->call_inputs(layer, kw, l->nin, map);
                if (nin0 < 0 || nin0 > CK_IO_MAX_IN) {
                    ck_layer_free(layer);
                    lay[i] = NULL;
                    ck_error_prefix("layer '%s'", l->name);
                    st = CKERAS_EUNSUPPORTED;
                    break;
                }
                for (int k = 0; k < nin0; k++)
                    in[k] = was[map[k]];
            }
            if ((ids[i] = ck_model_call(m, layer, nin0, in)) < 0)
                st = m->call_status;
            else
                st = check_mask_keyword(d, m, l, ids[i]);
            ndone[i]++;
            done++;
            progress = true;
        }
    }
    if (st == CKERAS_OK && done < total)
        st = ck_error(CKERAS_EFORMAT, "the layers of model '%s' do not form a graph from its inputs", d->name);
    if (st == CKERAS_OK && (d->noutputs < 1 || d->noutputs > CK_MAX_OUTPUTS))
        st = ck_error(CKERAS_EUNSUPPORTED, "model '%s' has %d outputs; 1..%d are supported", d->name, d->noutputs,
                      CK_MAX_OUTPUTS);
    int outs[CK_MAX_OUTPUTS];
    for (int k = 0; st == CKERAS_OK && k < d->noutputs; k++) {
        outs[k] = call_id(d, ids, more, moff, &d->outputs[k]);
        if (outs[k] < 0)
            st = ck_error(CKERAS_EFORMAT, "output '%s' (call %d) is not in the model", d->outputs[k].layer,
                          d->outputs[k].node);
        else if ((outs[k] = output_id(m, outs[k], d->outputs[k].tensor, d->outputs[k].layer)) < 0)
            st = CKERAS_EFORMAT;
    }
    if (st == CKERAS_OK)
        st = ck_model_set_outputs(m, d->noutputs, outs);
    ck_free(ids);
    ck_free(more);
    ck_free(lay);
    if (st != CKERAS_OK) {
        ck_model_free(m);
        return st;
    }
    *out = m;
    return CKERAS_OK;
}

/* A model from a model_config. When the config holds nested models they are flattened (see
 * above); *nested tells, and with fl != NULL the flat form is kept there for loading weights
 * (free with flat_free). The config itself is kept in d (free with ck_io_model_free).
 * defer_init: the caller fills every weight next, so they are left zero, not initialised. */
static ckeras_status model_from_config(const char *json, bool keras2, bool defer_init, ckeras_model **out,
                                       ck_io_model *d, flat *fl, bool *nested)
{
    ckeras_status st = ck_io_model_parse(json, d);
    if (st != CKERAS_OK)
        return st;
    *nested = has_nested(d);
    if (!*nested) {
        st = d->class_name[0] == 'S' ? build_sequential(d, keras2, defer_init, NULL, out)
                                       : build_functional(d, keras2, defer_init, NULL, out);
    } else {
        flat tmp;
        if ((st = flatten(d, &tmp)) != CKERAS_OK)
            return st;
        st = tmp.m.class_name[0] == 'S' ? build_sequential(&tmp.m, keras2, defer_init, tmp.info, out)
                                        : build_functional(&tmp.m, keras2, defer_init, tmp.info, out);
        if (fl && st == CKERAS_OK)
            *fl = tmp;
        else
            flat_free(&tmp);
    }
    return st;
}

ckeras_status ck_model_from_json(const char *json, ckeras_model **out)
{
    ck_io_model d;
    bool nested;
    ckeras_status st = model_from_config(json, false, false, out, &d, NULL, &nested);
    ck_io_model_free(&d);
    return st;
}

static const ck_h5_layer *find_group(const ck_h5_file *f, const char *name)
{
    for (int i = 0; i < f->nlayers; i++)
        if (strcmp(f->layers[i].name, name) == 0)
            return &f->layers[i];
    return NULL;
}

static void shape_text(int ndim, const int64_t *d, char *buf, size_t n)
{
    size_t len = (size_t)snprintf(buf, n, "(");
    for (int k = 0; k < ndim && len < n; k++)
        len += (size_t)snprintf(buf + len, n - len, "%s%lld", k ? "," : "", (long long)d[k]);
    if (len < n)
        snprintf(buf + len, n - len, ")");
}

/* Checks one array against weight k of a layer: shape, finite values. */
static ckeras_status check_array(const ckeras_layer *l, int k, const ck_h5_array *a, const char *group,
                                 const char *what)
{
    bool ok = a->ndim == l->w[k].shape.ndim;
    for (int d = 0; ok && d < a->ndim; d++)
        ok = a->shape[d] == l->w[k].shape.d[d];
    if (!ok) {
        char s1[96], s2[96];
        shape_text(a->ndim, a->shape, s1, sizeof s1);
        shape_text(l->w[k].shape.ndim, l->w[k].shape.d, s2, sizeof s2);
        return ck_error(CKERAS_ESHAPE, "%s: model_weights/%s: '%s' has shape %s, layer expects %s (%s of '%s')", what,
                        group, a->name, s1, s2, l->w[k].name, l->name);
    }
    int64_t bad = ck_first_nonfinite(a->data, l->w[k].size);
    if (bad >= 0)
        return ck_error(CKERAS_ENAN, "%s: model_weights/%s: '%s' holds %g at index %lld", what, group, a->name,
                        (double)a->data[bad], (long long)bad);
    return CKERAS_OK;
}

/* Checks one layer group against a layer: count, shapes, finite values. */
static ckeras_status check_group(const ckeras_layer *l, const ck_h5_layer *g, const char *what)
{
    if (g->n != l->nw)
        return ck_error(CKERAS_EFORMAT, "%s: model_weights/%s has %d weights, layer '%s' (%s) expects %d", what,
                        g->name, g->n, l->name, l->vt->class_name, l->nw);
    for (int k = 0; k < l->nw; k++) {
        ckeras_status st = check_array(l, k, &g->w[k], g->name, what);
        if (st != CKERAS_OK)
            return st;
    }
    return CKERAS_OK;
}

/* Gives weight w the values of array a by taking a's buffer: no copy and no second buffer of
 * the model's size. a belongs to the ck_h5_file that ck_load_model reads and frees (its
 * arrays are reached here through const lookups). */
static ckeras_status take_array(ck_weight *w, const ck_h5_array *ca)
{
    ck_h5_array *a = (ck_h5_array *)ca;
    if (!a->data)
        return ck_error(CKERAS_EFORMAT, "load_model: the array '%s' is paired with two weights", a->name);
    ck_weight_adopt(w, a->data);
    a->data = NULL;
    return CKERAS_OK;
}

static void copy_group(ckeras_layer *l, const ck_h5_layer *g)
{
    for (int k = 0; k < l->nw; k++)
        memcpy(l->w[k].data, g->w[k].data, (size_t)l->w[k].size * sizeof(float));
}

/* load_weights of nested model inner from its group of the file (by its name, or the next group
 * with weights), arrays in Keras' order (group_order). */
static ckeras_status load_group_weights(const ckeras_model *inner, const ck_h5_file *f, bool by_name, int *next,
                                        const char *path, bool copy, const ck_h5_layer **found)
{
    const ck_h5_layer *g = NULL;
    if (by_name) {
        g = find_group(f, inner->name);
    } else {
        while (*next < f->nlayers && f->layers[*next].n == 0)
            (*next)++;
        if (*next < f->nlayers)
            g = &f->layers[(*next)++];
    }
    int total = 0;
    for (int i = 0; i < inner->g.n; i++)
        total += inner->g.nodes[i].layer->nw;
    if (!g)
        return total ? ck_error(CKERAS_EFORMAT, "load_weights: %s has no weights for nested model '%s'", path,
                                inner->name)
                     : CKERAS_OK;
    *found = g;
    ck_weight **ws = ck_malloc_n(total ? total : 1, sizeof *ws);
    const ckeras_layer **owner = ck_malloc_n(total ? total : 1, sizeof *owner);
    if (!ws || !owner) {
        ck_free(ws);
        ck_free(owner);
        return CKERAS_ENOMEM;
    }
    int n = group_order(inner, ws, owner);
    ckeras_status st = CKERAS_OK;
    if (g->n != n)
        st = ck_error(CKERAS_EFORMAT, "load_weights: model_weights/%s has %d weights, nested model '%s' has %d", g->name,
                      g->n, inner->name, n);
    for (int j = 0; j < n && st == CKERAS_OK; j++)
        st = check_array(owner[j], (int)(ws[j] - owner[j]->w), &g->w[j], g->name, "load_weights");
    for (int j = 0; j < n && st == CKERAS_OK && copy; j++)
        memcpy(ws[j]->data, g->w[j].data, (size_t)ws[j]->size * sizeof(float));
    ck_free(ws);
    ck_free(owner);
    return st;
}

/* The node of the layer named name, or -1. */
static int node_of(const ckeras_model *m, const char *name)
{
    for (int i = 0; i < m->g.n; i++)
        if (strcmp(m->g.nodes[i].layer->name, name) == 0)
            return i;
    return -1;
}

/* Does a weight name ("Conv1/kernel:0", "sequential_1/conv/kernel") belong to the layer called
 * orig in its own model (the path before the weight's own name ends with orig)? */
static bool names_layer(const char *name, const char *orig)
{
    const char *slash = strrchr(name, '/');
    if (!slash)
        return false;
    size_t n = (size_t)(slash - name), k = strlen(orig);
    return n >= k && strncmp(slash - k, orig, k) == 0 && (n == k || slash[-(ptrdiff_t)k - 1] == '/');
}

/* Pairs the weights of the flat layers of a nested model (nodes[0..nn), in the nested model's
 * layer order) with the arrays of its one group. By layer name when the arrays whose path names
 * each layer are exactly as many as its weights and cover the group (in their stored order
 * within a layer: weight names differ between writers, "depthwise_kernel" / "kernel"); else in
 * Keras' order (the trainable weights of every layer, then the others). src[i][k] receives the
 * array of weight k of nodes[i]. */
static ckeras_status pair_nested(const ckeras_model *m, const flat *fl, const int *nodes, const int *fidx, int nn,
                                 const ck_h5_layer *g, const ck_h5_array *(*src)[CK_MAX_WEIGHTS])
{
    int total = 0;
    for (int i = 0; i < nn; i++)
        total += m->g.nodes[nodes[i]].layer->nw;
    if (total != g->n)
        return ck_error(CKERAS_EFORMAT, "load_model: model_weights/%s has %d weights, nested model '%s' expects %d",
                        g->name, g->n, g->name, total);
    int *owner = ck_malloc_n(g->n ? g->n : 1, sizeof *owner);
    if (!owner)
        return CKERAS_ENOMEM;
    bool by_name = true;
    for (int a = 0; a < g->n && by_name; a++) {
        owner[a] = -1;
        for (int i = 0; i < nn; i++)
            if (names_layer(g->w[a].name, fl->info[fidx[i]].orig)) {
                by_name = owner[a] < 0; /* one layer only */
                owner[a] = i;
            }
        by_name = by_name && owner[a] >= 0;
    }
    for (int i = 0; i < nn && by_name; i++) {
        const ckeras_layer *l = m->g.nodes[nodes[i]].layer;
        int k = 0;
        for (int a = 0; a < g->n; a++)
            if (owner[a] == i && k < l->nw)
                src[i][k++] = &g->w[a];
            else if (owner[a] == i)
                k++;
        by_name = k == l->nw;
    }
    ck_free(owner);
    if (!by_name) {
        int next = 0;
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < nn; i++) {
                const ckeras_layer *l = m->g.nodes[nodes[i]].layer;
                for (int k = 0; k < l->nw; k++) /* all of a frozen model's weights come last */
                    if ((l->trainable && l->w[k].trainable && !fl->info[fidx[i]].frozen) == (pass == 0))
                        src[i][k] = &g->w[next++];
            }
    }
    for (int i = 0; i < nn; i++) {
        const ckeras_layer *l = m->g.nodes[nodes[i]].layer;
        for (int k = 0; k < l->nw; k++) {
            ckeras_status st = check_array(l, k, src[i][k], g->name, "load_model");
            if (st != CKERAS_OK)
                return st;
        }
    }
    return CKERAS_OK;
}

/* Weights of a model built from a flattened config: top-level layers from their own groups,
 * layers of a nested model from that model's group. Everything is checked before anything is
 * copied. */
static ckeras_status load_flat_weights(ckeras_model *m, const flat *fl, const ck_h5_file *f)
{
    int n = fl->m.nlayers;
    const ck_h5_array *(*src)[CK_MAX_WEIGHTS] = ck_calloc((size_t)(n ? n : 1), sizeof *src);
    int *nodes = ck_malloc_n(n ? n : 1, sizeof *nodes);
    int *fidx = ck_malloc_n(n ? n : 1, sizeof *fidx);
    ckeras_status st = CKERAS_OK;
    if (!src || !nodes || !fidx) {
        st = CKERAS_ENOMEM;
        goto end;
    }
    for (int gi = 0; gi < fl->top->nlayers && st == CKERAS_OK; gi++) {
        const ck_io_layer *tl = &fl->top->layers[gi];
        int nn = 0, nw = 0;
        for (int i = 0; i < n; i++) {
            int nd = fl->info[i].group == gi ? node_of(m, fl->m.layers[i].name) : -1;
            if (nd >= 0 && m->g.nodes[nd].layer->nw > 0) {
                fidx[nn] = i;
                nodes[nn++] = nd;
                nw += m->g.nodes[nd].layer->nw;
            }
        }
        if (nw == 0)
            continue;
        const ck_h5_layer *g = find_group(f, tl->name);
        if (!g) {
            st = ck_error(CKERAS_EFORMAT, "load_model: model_weights has no group for %s '%s'",
                          tl->model ? "nested model" : "layer", tl->name);
            break;
        }
        if (!tl->model) {
            const ckeras_layer *l = m->g.nodes[nodes[0]].layer;
            if ((st = check_group(l, g, "load_model")) == CKERAS_OK)
                for (int k = 0; k < l->nw; k++)
                    src[fidx[0]][k] = &g->w[k];
            continue;
        }
        const ck_h5_array *(*part)[CK_MAX_WEIGHTS] = ck_calloc((size_t)nn, sizeof *part);
        if (!part) {
            st = CKERAS_ENOMEM;
            break;
        }
        if ((st = pair_nested(m, fl, nodes, fidx, nn, g, part)) == CKERAS_OK)
            for (int i = 0; i < nn; i++)
                memcpy(src[fidx[i]], part[i], sizeof part[i]);
        ck_free(part);
    }
    for (int i = 0; i < n && st == CKERAS_OK; i++) {
        int nd = node_of(m, fl->m.layers[i].name);
        if (nd < 0)
            continue;
        ckeras_layer *l = m->g.nodes[nd].layer;
        for (int k = 0; k < l->nw && st == CKERAS_OK; k++)
            st = take_array(&l->w[k], src[i][k]);
    }
end:
    ck_free(src);
    ck_free(nodes);
    ck_free(fidx);
    return st;
}

/* Weights of a freshly built model from the file's layer groups, by layer name. */
static ckeras_status load_all_weights(ckeras_model *m, const ck_h5_file *f)
{
    for (int i = 0; i < m->g.n; i++) {
        ckeras_layer *l = m->g.nodes[i].layer;
        if (l->nw == 0)
            continue;
        const ck_h5_layer *g = find_group(f, l->name);
        if (!g)
            return ck_error(CKERAS_EFORMAT, "load_model: model_weights has no group for layer '%s' (%s)", l->name,
                            l->vt->class_name);
        ckeras_status st = check_group(l, g, "load_model");
        if (st != CKERAS_OK)
            return st;
    }
    for (int i = 0; i < m->g.n; i++) {
        ckeras_layer *l = m->g.nodes[i].layer;
        if (!m->g.nodes[i].first_use)
            continue; /* a shared layer's further call: its weights are taken */
        const ck_h5_layer *g = l->nw > 0 ? find_group(f, l->name) : NULL;
        for (int k = 0; k < l->nw; k++) {
            ckeras_status st = take_array(&l->w[k], &g->w[k]);
            if (st != CKERAS_OK)
                return st;
        }
    }
    return CKERAS_OK;
}

static const ck_h5_array *find_opt(const ck_h5_file *f, const char *suffix)
{
    size_t n = strlen(suffix);
    for (int i = 0; i < f->nopt; i++) {
        size_t len = strlen(f->opt[i].name);
        if (len >= n && strcmp(f->opt[i].name + len - n, suffix) == 0 &&
            (len == n || f->opt[i].name[len - n - 1] == '/'))
            return &f->opt[i];
    }
    return NULL;
}

/* Restores iterations and, when every slot is found with the right size, the slots: names of
 * ckeras / tf.keras 2 ("Adam/dense/kernel/m:0"), early Keras 3 ("adam/sequential_dense_kernel_momentum")
 * or Keras 3.11 ("Adam/dense_kernel_momentum"). */
static void load_optimizer_state(ckeras_model *m, const ck_h5_file *f, const char *model_name, const flat *fl)
{
    ckeras_optimizer *o = m->opt;
    const ck_h5_array *it = find_opt(f, "iter:0");
    if (!it)
        it = find_opt(f, "iteration");
    if (!it)
        it = find_opt(f, "iteration:0");
    if (!it)
        it = find_opt(f, "iterations:0");
    const char *slots[CK_OPT_MAX_SLOTS];
    int ns = ck_optimizer_slot_names(o, slots);
    if (o->n != m->n_params)
        return;
    /* first pass: find everything */
    int found = 0, wanted = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < m->g.n; i++) {
            const ckeras_layer *l = m->g.nodes[i].layer;
            if (!m->g.nodes[i].first_use)
                continue; /* a shared layer's state is read at its first call */
            const char *lname = l->name; /* the name in the file: a nested layer's own name */
            for (int j = 0; fl && j < fl->m.nlayers; j++)
                if (strcmp(fl->m.layers[j].name, l->name) == 0)
                    lname = fl->info[j].orig;
            for (int k = 0; k < l->nw; k++) {
                const ck_weight *w = &l->w[k];
                if (!w->grad)
                    continue;
                for (int s = 0; s < ns; s++) {
                    char a[300], b[300], c[300], k3[300];
                    snprintf(a, sizeof a, "%s/%s/%s:0", lname, w->name, tf2_slot(slots[s], o->kind));
                    char wn[64];
                    k3_name(w->name, wn, sizeof wn);
                    snprintf(b, sizeof b, "%s_%s_%s_%s", model_name, lname, wn, slots[s]);
                    /* Keras 3.11 (and ckeras' Keras 3 profile): "Adam/dense_kernel_momentum",
                     * "adam/mha_query_kernel_momentum" */
                    snprintf(k3, sizeof k3, "%s_%s_%s", lname, wn, slots[s]);
                    /* tf.keras 2.11+: "Adam/m/conv2d/kernel:0" */
                    snprintf(c, sizeof c, "%s/%s/%s:0", tf2_slot(slots[s], o->kind), lname, w->name);
                    const ck_h5_array *arr = find_opt(f, a);
                    if (!arr)
                        arr = find_opt(f, b);
                    if (!arr)
                        arr = find_opt(f, c);
                    if (!arr)
                        arr = find_opt(f, k3);
                    bool ok = arr && !arr->is_int && arr->data;
                    int64_t size = 1;
                    for (int d = 0; ok && d < arr->ndim; d++)
                        size *= arr->shape[d];
                    ok = ok && size == w->size && ck_first_nonfinite(arr->data, size) < 0;
                    if (pass == 0) {
                        wanted++;
                        found += ok;
                    } else {
                        memcpy(o->slots[s] + (w->data - m->params), arr->data, (size_t)size * sizeof(float));
                    }
                }
            }
        }
        if (pass == 0 && (found != wanted || wanted == 0))
            break;
    }
    if (it && (found == wanted || ns == 0))
        o->iterations = it->is_int ? it->ivalue : (int64_t)it->data[0];
}

/* Compiles m as a training_config says (takes o). */
static ckeras_status compile_with(ckeras_model *m, ckeras_optimizer *o, const ck_io_training *t)
{
    char lists[CK_IO_MAX_OUT][CK_IO_MAX_METRICS * 50];
    int n = t->nout ? t->nout : 1;
    for (int e = 0; e < n; e++) {
        size_t len = 0;
        lists[e][0] = '\0';
        for (int i = 0; i < t->nmetrics; i++)
            if ((t->nout == 0 || t->metric_out[i] == e) && !t->metric_weighted[i])
                len += (size_t)snprintf(lists[e] + len, sizeof lists[e] - len, "%s%s", len ? "," : "",
                                        t->metrics[i]);
    }
    ckeras_status st;
    const char *names[CK_IO_MAX_OUT], *losses[CK_IO_MAX_OUT], *metrics[CK_IO_MAX_OUT];
    bool by_name = t->out_name[0][0] != '\0';
    if (t->nout == 0) {
        st = ck_model_compile(m, o, t->loss[0], lists[0]);
    } else {
        for (int e = 0; e < n; e++) {
            names[e] = t->out_name[e];
            losses[e] = t->loss[e][0] ? t->loss[e] : NULL;
            metrics[e] = lists[e];
        }
        st = ck_model_compile_outputs(m, o, n, by_name ? names : NULL, losses,
                                      t->has_weights ? t->loss_weight : NULL, metrics);
    }
    /* weighted_metrics, by output */
    for (int e = 0; st == CKERAS_OK && e < n; e++) {
        size_t len = 0;
        lists[e][0] = '\0';
        for (int i = 0; i < t->nmetrics; i++)
            if ((t->nout == 0 || t->metric_out[i] == e) && t->metric_weighted[i])
                len += (size_t)snprintf(lists[e] + len, sizeof lists[e] - len, "%s%s", len ? "," : "",
                                        t->metrics[i]);
        if (len == 0)
            continue;
        const char *out = t->nout == 0 ? NULL : by_name ? t->out_name[e] : ck_model_output_name(m, e);
        st = ck_model_set_weighted_metrics(m, out, lists[e]);
    }
    return st;
}

/* A learning_rate given as a schedule ({"class_name", "config"}, with Keras 3's "module" and
 * "registered_name" or without) becomes o's schedule and leaves the optimizer's config. */
static ckeras_status schedule_from_config(ckeras_optimizer *o, const char *opt_class, ck_tree *opt_config)
{
    ck_tree *lr = ck_tree_get(opt_config, "learning_rate");
    if (!lr || lr->kind != CK_T_OBJECT)
        return CKERAS_OK;
    const char *cls = ck_tree_string(ck_tree_get(lr, "class_name"));
    ck_tree *cfg = ck_tree_get(lr, "config");
    if (!cls || !cfg)
        return ck_error(CKERAS_EFORMAT, "%s: learning_rate is an object without class_name and config", opt_class);
    ck_schedule *sched = NULL;
    ckeras_status st = ck_schedule_from_tree(cls, cfg, &sched);
    if (st != CKERAS_OK) {
        ck_error_prefix("%s: learning_rate", opt_class);
        return st;
    }
    ck_tree_del(opt_config, "learning_rate");
    return ck_optimizer_set_schedule(o, sched);
}

static ckeras_status compile_from_file(ckeras_model *m, const ck_h5_file *f, const char *model_name, const flat *fl)
{
    ck_io_training t;
    ckeras_status st = ck_io_training_parse(f->training_config, &t);
    if (st != CKERAS_OK)
        return st;
    ckeras_optimizer *o = NULL;
    if (t.opt_class[0]) {
        ck_opt_kind kind = ck_optimizer_kind_from_name(t.opt_class);
        if (kind == CK_OPT_COUNT) {
            st = ck_error(CKERAS_EUNSUPPORTED, "training_config: optimizer '%s' is not supported (%s are)",
                          t.opt_class, ck_optimizer_names());
            goto done;
        }
        o = ck_optimizer_new(kind);
        if (!o) {
            st = CKERAS_ENOMEM;
            goto done;
        }
        char name[64] = "";
        if (t.opt_config && (st = schedule_from_config(o, t.opt_class, t.opt_config)) != CKERAS_OK)
            goto done;
        if (t.opt_config &&
            (st = ck_config_from_tree(&o->cfg, t.opt_class, t.opt_config, name, sizeof name, NULL)) != CKERAS_OK)
            goto done;
        if (name[0] && ck_config_find(&o->cfg, "name") >= 0 &&
            (st = ck_config_set_str(&o->cfg, t.opt_class, "name", name)) != CKERAS_OK)
            goto done;
        if ((st = ck_optimizer_check(o)) != CKERAS_OK)
            goto done;
    }
    st = compile_with(m, o, &t);
    o = NULL; /* taken */
    if (st == CKERAS_OK && f->nopt > 0)
        load_optimizer_state(m, f, model_name, fl);
done:
    ck_optimizer_free(o);
    ck_io_training_free(&t);
    if (st != CKERAS_OK)
        ck_error_prefix("load_model");
    return st;
}

ckeras_status ck_load_model(const char *path, int flags, ckeras_model **out)
{
    if (ck_keras_native_model_path(path))
        return ck_load_keras(path, flags, out);
    if (ck_keras_native_weights_path(path))
        return ck_error(CKERAS_EFORMAT, "load_model: %s is a Keras 3 weights file (no config); build the model "
                        "and use ckeras_model_load_weights", path);
    ck_h5_file f;
    ckeras_status st = ck_h5_read(path, &f);
    if (st != CKERAS_OK) {
        ck_error_prefix("load_model");
        return st;
    }
    return ck_model_from_h5(path, &f, flags, out);
}

/* The flat layer named name, or -1. */
static int flat_index(const flat *fl, const char *name)
{
    for (int k = 0; k < fl->m.nlayers; k++)
        if (strcmp(fl->m.layers[k].name, name) == 0)
            return k;
    return -1;
}

/* After a flattened load: the layers of each nested model called once, when they form one run of
 * nodes, become a nested-model call again (ck_group), as ckeras_model_call_model makes it, so
 * that summary shows it as one row and saving writes it nested. A model that cannot be
 * regrouped stays flat, which computes the same. */
static void regroup(ckeras_model *m, const flat *fl)
{
    int *top_of = ck_malloc_n(m->g.n + 1, sizeof *top_of);
    if (!top_of)
        return;
    for (int i = 0; i < m->g.n; i++) {
        int k = flat_index(fl, m->g.nodes[i].layer->name);
        top_of[i] = k >= 0 ? fl->info[k].group : -1;
    }
    for (int t = 0; t < fl->top->nlayers; t++) {
        const ck_io_layer *tl = &fl->top->layers[t];
        if (!tl->model || tl->ncalls != 1 || strlen(tl->name) >= CK_NAME_MAX)
            continue;
        int first = -1, count = 0;
        bool run = true;
        for (int i = 0; i < m->g.n && run; i++)
            if (top_of[i] == t) {
                if (first < 0)
                    first = i;
                run = i == first + count++;
            }
        if (!run || count == 0)
            continue;
        int end = first + count, nin = 0, nout = 0, ins[CK_MAX_NODE_INPUTS], outs[CK_MAX_OUTPUTS];
        bool ok = true;
        for (int i = first; i < end && ok; i++)
            for (int k = 0; k < m->g.nodes[i].nin && ok; k++) {
                int src = m->g.nodes[i].in[k];
                if (src >= first && src < end)
                    continue;
                bool have = false;
                for (int j = 0; j < nin; j++)
                    have = have || ins[j] == src;
                if (!have && (ok = nin < CK_MAX_NODE_INPUTS))
                    ins[nin++] = src;
            }
        for (int i = first; i < end && ok; i++) {
            bool used = ck_graph_is_output(&m->g, i);
            for (int j = end; j < m->g.n && !used; j++)
                for (int k = 0; k < m->g.nodes[j].nin; k++)
                    used = used || m->g.nodes[j].in[k] == i;
            if (used && (ok = nout < CK_MAX_OUTPUTS))
                outs[nout++] = i;
        }
        if (!ok || nin != tl->model->ninputs || nout < 1)
            continue;
        const char *names[CK_MAX_NODE_INPUTS];
        for (int j = 0; j < nin; j++)
            names[j] = tl->model->inputs[j].layer;
        bool inference = true;
        for (int i = first; i < end; i++)
            inference = inference && m->g.nodes[i].layer->call_inference;
        ck_group *groups = ck_realloc_n(m->groups, m->ngroups + 1, sizeof *groups);
        if (!groups)
            break;
        m->groups = groups;
        ckeras_model *inner = ck_model_from_sources(m, nin, ins, names, nout, outs, tl->name);
        if (!inner)
            continue;
        inner->frozen = tl->model->frozen;
        ck_group *gr = &groups[m->ngroups];
        memset(gr, 0, sizeof *gr);
        gr->model = inner;
        gr->first = first;
        gr->count = count;
        gr->nin = nin;
        memcpy(gr->in, ins, (size_t)nin * sizeof ins[0]);
        gr->nout = nout;
        memcpy(gr->out_node, outs, (size_t)nout * sizeof outs[0]);
        gr->inference = inference;
        for (int i = first; i < end; i++) {
            m->g.nodes[i].group = m->ngroups;
            if (inference) { /* the call's training=False, not each layer's */
                m->g.nodes[i].inference = true;
                m->g.nodes[i].layer->call_inference = false;
            }
        }
        for (int i = 0; inference && i < inner->g.n; i++)
            inner->g.nodes[i].inference = false;
        m->ngroups++;
    }
    ck_free(top_of);
}

ckeras_status ck_model_from_h5(const char *path, ck_h5_file *fp, int flags, ckeras_model **out)
{
    ck_h5_file f = *fp;
    memset(fp, 0, sizeof *fp);
    ckeras_status st;
    if (!f.model_config) {
        ck_h5_file_free(&f);
        return ck_error(CKERAS_EFORMAT, "load_model: %s holds weights only (no model_config); build the model and "
                        "use ckeras_model_load_weights", path);
    }
    /* Keras 1/2 files keep Keras 2's semantics (hard_sigmoid); ckeras writes Keras 3's */
    bool keras2 = !f.ckeras_version && f.keras_version && (f.keras_version[0] == '1' || f.keras_version[0] == '2');
    ckeras_model *m = NULL;
    ck_io_model d;
    flat fl;
    bool nested = false;
    st = model_from_config(f.model_config, keras2, true, &m, &d, &fl, &nested);
    if (st != CKERAS_OK) {
        ck_error_prefix("load_model: %s", path);
        ck_io_model_free(&d);
        ck_h5_file_free(&f);
        return st;
    }
    char model_name[CK_NAME_MAX];
    snprintf(model_name, sizeof model_name, "%s", m->name);
    st = nested ? load_flat_weights(m, &fl, &f) : load_all_weights(m, &f);
    m->defer_init = false; /* every weight was read (or the load fails) */
    if (st == CKERAS_OK && f.training_config && !(flags & CKERAS_LOAD_NO_COMPILE))
        st = compile_from_file(m, &f, model_name, nested ? &fl : NULL);
    if (st == CKERAS_OK && nested)
        regroup(m, &fl);
    if (nested)
        flat_free(&fl);
    ck_io_model_free(&d);
    ck_h5_file_free(&f);
    if (st != CKERAS_OK) {
        ck_model_free(m);
        return st;
    }
    *out = m;
    return CKERAS_OK;
}

/* ---- load_weights -------------------------------------------------------------------------- */

ckeras_status ck_model_load_weights(ckeras_model *m, const char *path, int flags)
{
    if (ck_keras_native_weights_path(path))
        return ck_model_load_weights_keras(m, path, flags);
    ck_h5_file f;
    ckeras_status st = ck_h5_read(path, &f);
    if (st != CKERAS_OK) {
        ck_error_prefix("load_weights");
        return st;
    }
    bool by_name = flags & CKERAS_WEIGHTS_BY_NAME, skip = flags & CKERAS_WEIGHTS_SKIP_MISMATCH;
    /* pair each model layer with weights to a file group; check all before changing anything */
    const ck_h5_layer **pair = ck_calloc((size_t)(m->g.n ? m->g.n : 1), sizeof *pair);
    if (!pair) {
        ck_h5_file_free(&f);
        return CKERAS_ENOMEM;
    }
    int next = 0;
    for (int i = 0; i < m->g.n && st == CKERAS_OK; i++) {
        ckeras_layer *l = m->g.nodes[i].layer;
        const ck_node *nd = &m->g.nodes[i];
        if (nd->group >= 0) { /* a nested model: one group of the file, at its first node */
            const ck_group *gr = &m->groups[nd->group];
            const ck_h5_layer *g = NULL; /* checked now, copied once everything matched */
            if (i == gr->first && (st = load_group_weights(gr->model, &f, by_name, &next, path, false, &g)) ==
                                      CKERAS_OK)
                pair[i] = g;
            i = gr->first + gr->count - 1;
            continue;
        }
        if (l->nw == 0 || !nd->first_use)
            continue;
        const ck_h5_layer *g = NULL;
        if (by_name) {
            g = find_group(&f, l->name);
        } else {
            while (next < f.nlayers && f.layers[next].n == 0)
                next++;
            if (next < f.nlayers)
                g = &f.layers[next++];
            else
                st = ck_error(CKERAS_EFORMAT, "load_weights: %s has fewer layers with weights than model '%s'",
                              path, m->name);
        }
        if (!g)
            continue;
        ckeras_status c = check_group(l, g, "load_weights");
        if (c != CKERAS_OK && !(skip && c == CKERAS_ESHAPE) && !(skip && c == CKERAS_EFORMAT))
            st = c;
        else if (c == CKERAS_OK)
            pair[i] = g;
    }
    if (st == CKERAS_OK && !by_name) {
        while (next < f.nlayers && f.layers[next].n == 0)
            next++;
        if (next < f.nlayers)
            st = ck_error(CKERAS_EFORMAT, "load_weights: %s has more layers with weights than model '%s'", path,
                          m->name);
    }
    for (int i = 0; i < m->g.n && st == CKERAS_OK; i++) {
        if (!pair[i])
            continue;
        const ck_node *nd = &m->g.nodes[i];
        if (nd->group >= 0) {
            int at = 0;
            const ck_h5_layer *g = NULL;
            ck_h5_file one = {.nlayers = 1, .layers = (ck_h5_layer *)pair[i]};
            st = load_group_weights(m->groups[nd->group].model, &one, false, &at, path, true, &g);
        } else {
            copy_group(nd->layer, pair[i]);
        }
    }
    ck_free(pair);
    ck_h5_file_free(&f);
    return st;
}
