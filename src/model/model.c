/* Models: construction, adding layers, weight layout, compile.
 *
 * Sizes: the products here are of a batch (at most the rows of a checked tensor or plan) and
 * per-sample sizes of checked shapes, or counts of checked buffers (core.h, checked size
 * arithmetic; the plan checks every batch buffer), so none passes 2^48. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

bool ck_model_name_taken(const ckeras_model *m, const char *name, const ckeras_layer *except)
{
    for (int j = 0; j < CK_MAX_NODE_INPUTS; j++)
        if (m->input_layers[j] && m->input_layers[j] != except && strcmp(m->input_layers[j]->name, name) == 0)
            return true;
    for (int i = 0; i < m->g.n; i++) /* layers of nested models have names of their own scope */
        if (m->g.nodes[i].group < 0 && m->g.nodes[i].layer != except && strcmp(m->g.nodes[i].layer->name, name) == 0)
            return true;
    for (int k = 0; k < m->ngroups; k++)
        if (strcmp(m->groups[k].model->name, name) == 0)
            return true;
    return false;
}

/* Keras-style automatic names: "dense", "dense_1", "dense_2", ... within the model. */
void ck_model_auto_name(const ckeras_model *m, ckeras_layer *l)
{
    for (int k = 0;; k++) {
        if (k == 0)
            snprintf(l->name, sizeof l->name, "%s", l->vt->base_name);
        else
            snprintf(l->name, sizeof l->name, "%s_%d", l->vt->base_name, k);
        if (!ck_model_name_taken(m, l->name, l))
            return;
    }
}

const ck_shape *ck_model_output_shape(const ckeras_model *m)
{
    if (m->g.n > 0)
        return &m->g.nodes[m->g.outputs[0]].layer->out_shape;
    return m->has_input ? &m->g.inputs[0] : NULL;
}

/* One block for the weights of a layer joining m, filled from the model's generator: adding or
 * calling a layer costs the size of that layer, not of the model (ck_model_layout moves every
 * block into the model's buffers once, at compile). Under defer_init (a loader gives every
 * weight its values with ck_weight_adopt next) nothing is allocated. */
ckeras_status ck_model_attach(ckeras_model *m, ckeras_layer *l)
{
    int64_t total = 0; /* the model's parameters with l (its last node) */
    for (int i = 0; i < m->g.n; i++)
        if (m->g.nodes[i].first_use)
            total = ck_size_add(total, ck_layer_param_count(m->g.nodes[i].layer, false));
    ckeras_status st = ck_params_check(total, "%s", m->name);
    if (st != CKERAS_OK)
        return st;
    if (m->defer_init) {
        for (int k = 0; k < l->nw; k++)
            if (!l->w[k].own) {
                l->w[k].data = NULL;
                l->w[k].grad = NULL;
            }
        return CKERAS_OK;
    }
    bool fresh[CK_MAX_WEIGHTS];
    for (int k = 0; k < l->nw; k++)
        fresh[k] = !l->w[k].data;
    st = ck_layer_detach(l); /* a block of its own: values kept, the rest zeros */
    if (st != CKERAS_OK)
        return st;
    for (int k = 0; k < l->nw; k++) {
        ck_weight *w = &l->w[k];
        if (!fresh[k])
            continue;
        const char *spec = w->init_field ? ck_cfg_str(&l->cfg, w->init_field) : w->init_default;
        if ((st = ck_init_fill(spec ? spec : "zeros", w->data, &w->shape, &m->rng)) != CKERAS_OK) {
            ck_error_prefix("%s '%s': %s", l->vt->class_name, l->name, w->name);
            return st;
        }
    }
    return CKERAS_OK;
}

ckeras_status ck_model_layout(ckeras_model *m)
{
    int64_t np = 0, ns = 0;
    int nvars = 0;
    for (int i = 0; i < m->g.n; i++) {
        ckeras_layer *l = m->g.nodes[i].layer;
        for (int k = 0; k < l->nw && m->g.nodes[i].first_use; k++) {
            if (l->w[k].trainable && l->trainable) {
                np = ck_size_add(np, l->w[k].size);
                nvars++;
            } else {
                ns = ck_size_add(ns, l->w[k].size);
            }
        }
    }
    ckeras_status cst = ck_params_check(ck_size_add(np, ns), "%s", m->name);
    if (cst == CKERAS_OK)
        cst = ck_size_check(np, "%s: trainable weights", m->name);
    if (cst == CKERAS_OK)
        cst = ck_size_check(ns, "%s: non-trainable weights", m->name);
    if (cst != CKERAS_OK)
        return cst;
    float *params = ck_alloc_huge(ck_floats_bytes(np ? np : 1));
    float *grads = ck_alloc_huge(ck_floats_bytes(np ? np : 1));
    float *state = ck_alloc_huge(ck_floats_bytes(ns ? ns : 1));
    size_t *off = ck_calloc((size_t)nvars + 1, sizeof *off);
    if (!params || !grads || !state || !off) {
        ck_free(params);
        ck_free(grads);
        ck_free(state);
        ck_free(off);
        return CKERAS_ENOMEM;
    }
    /* copy or initialise each weight; nothing is changed in the model until all succeeded */
    size_t pp = 0, ps = 0;
    int v = 0;
    for (int i = 0; i < m->g.n; i++) {
        ckeras_layer *l = m->g.nodes[i].layer;
        for (int k = 0; k < l->nw && m->g.nodes[i].first_use; k++) {
            ck_weight *w = &l->w[k];
            bool tr = w->trainable && l->trainable;
            float *dst = tr ? params + pp : state + ps;
            if (w->data) {
                memcpy(dst, w->data, (size_t)w->size * sizeof(float));
            } else {
                const char *spec = w->init_field ? ck_cfg_str(&l->cfg, w->init_field) : w->init_default;
                ckeras_status st = ck_init_fill(spec ? spec : "zeros", dst, &w->shape, &m->rng);
                if (st != CKERAS_OK) {
                    ck_error_prefix("%s '%s': %s", l->vt->class_name, l->name, w->name);
                    ck_free(params);
                    ck_free(grads);
                    ck_free(state);
                    ck_free(off);
                    return st;
                }
            }
            if (tr) {
                off[v++] = pp;
                pp += (size_t)w->size;
            } else {
                ps += (size_t)w->size;
            }
        }
    }
    off[nvars] = pp;
    pp = ps = 0;
    m->layout_passes++;
    for (int i = 0; i < m->g.n; i++) {
        ckeras_layer *l = m->g.nodes[i].layer;
        if (!m->g.nodes[i].first_use)
            continue;
        l->laid_out_by = m;
        for (int k = 0; k < l->nw; k++) {
            ck_weight *w = &l->w[k];
            if (w->trainable && l->trainable) {
                w->data = params + pp;
                w->grad = grads + pp;
                pp += (size_t)w->size;
            } else {
                w->data = state + ps;
                w->grad = NULL;
                ps += (size_t)w->size;
            }
        }
        ck_free(l->wblock); /* its weights now live in the model's buffers */
        l->wblock = NULL;
        for (int k = 0; k < l->nw; k++) {
            ck_free(l->w[k].own);
            l->w[k].own = NULL;
        }
    }
    ck_free(m->params);
    ck_free(m->grads);
    ck_free(m->state);
    ck_free(m->var_off);
    m->params = params;
    m->grads = grads;
    m->state = state;
    m->n_params = np;
    m->n_state = ns;
    m->var_off = off;
    m->nvars = nvars;
    return CKERAS_OK;
}

ckeras_status ck_model_add(ckeras_model *m, ckeras_layer *l)
{
    if (m->functional) {
        ck_layer_free(l);
        return ck_error(CKERAS_ESTATE, "add: model '%s' is functional; call layers on its tensors instead",
                        m->name);
    }
    /* names first: a user name must be unique */
    if (l->named && ck_model_name_taken(m, l->name, l)) {
        ck_error(CKERAS_EINVAL, "add: a layer named '%s' is already in model '%s'", l->name, m->name);
        ck_layer_free(l);
        return CKERAS_EINVAL;
    }
    if (!l->named)
        ck_model_auto_name(m, l);

    if (l->vt == &ck_input_vt) {
        const ck_value *s = ck_cfg_value(&l->cfg, "shape");
        if (m->has_input || m->g.n > 0) {
            ck_layer_free(l);
            return ck_error(CKERAS_EINVAL, "add: an Input can only be the first layer of a Sequential model");
        }
        if (s->is_none || s->n < 1) {
            ck_layer_free(l);
            return ck_error(CKERAS_EINVAL, "add: Input needs a shape");
        }
        ck_shape in;
        uint32_t none;
        ckeras_status st = ck_model_shape_from_config(s, "add", &in, &none);
        if (st != CKERAS_OK) {
            ck_layer_free(l);
            return st;
        }
        ck_layer_build(l, &in);
        l->owned = true;
        m->input_layers[0] = l;
        m->has_input = true;
        m->g.ninputs = 1;
        m->g.inputs[0] = in;
        m->g.none[0] = none;
        return CKERAS_OK;
    }

    ck_shape in;
    uint32_t none = 0; /* None axes of a first layer's input_shape */
    if (!m->has_input) {
        const ck_value *s = ck_cfg_value(&l->cfg, "input_shape");
        if (!s || s->is_none || s->n < 1) {
            ckeras_status st = ck_error(CKERAS_ESHAPE,
                                        "add: the first layer of model '%s' ('%s') needs an input shape: add "
                                        "ckeras_input(...) first or set its \"input_shape\"", m->name, l->name);
            ck_layer_free(l);
            return st;
        }
        ckeras_status st = ck_model_shape_from_config(s, "add", &in, &none);
        if (st != CKERAS_OK) {
            ck_error_prefix("layer '%s': input_shape", l->name);
            ck_layer_free(l);
            return st;
        }
    } else {
        in = *ck_model_output_shape(m);
    }
    ckeras_status st = ck_layer_build(l, &in);
    if (st == CKERAS_OK && l->nout > 1)
        st = ck_error(CKERAS_EINVAL, "add: layer '%s' has %d outputs (return_state); Sequential models take "
                      "layers with one output: use a functional model", l->name, l->nout);
    if (st != CKERAS_OK) {
        char buf[96];
        ck_error_prefix("add: layer '%s' on input %s", l->name, ck_shape_str(&in, false, buf, sizeof buf));
        ck_layer_free(l);
        return st;
    }
    int src = m->g.n > 0 ? m->g.n - 1 : -1;
    if ((st = ck_graph_append(&m->g, l, 1, &src, false)) != CKERAS_OK) {
        ck_layer_free(l);
        return st;
    }
    if (!m->has_input) { /* what the new node reads */
        m->g.inputs[0] = in;
        m->g.none[0] = none;
    }
    if ((st = ck_model_node_none(m, m->g.n - 1)) != CKERAS_OK || (st = ck_model_attach(m, l)) != CKERAS_OK) {
        m->g.n--;
        m->g.outputs[0] = m->g.n - 1;
        m->g.noutputs = m->g.n > 0;
        ck_layer_free(l);
        return st;
    }
    if (!m->has_input) {
        m->has_input = true;
        m->g.ninputs = 1;
        m->g.inputs[0] = in;
    }
    l->owned = true;
    ck_plan_free(&m->plan);
    m->compiled = false; /* a changed model must be compiled again */
    return CKERAS_OK;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    size_t k = 0;
    while (s[k] == ' ' || s[k] == '\t')
        k++;
    memmove(s, s + k, strlen(s + k) + 1);
}

/* Appends the comma-separated metric names of list to specs (output k), checking each name. */
static ckeras_status parse_metrics(const char *list, int k, char (*specs)[CK_LOG_NAME], int *outs, int *nm)
{
    const char *p = list;
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (*nm == CK_MAX_METRICS || len >= CK_LOG_NAME)
            return ck_error(CKERAS_EINVAL, "compile: more than %d metrics or a name too long in '%s'",
                            CK_MAX_METRICS, list);
        memcpy(specs[*nm], p, len);
        specs[*nm][len] = '\0';
        trim(specs[*nm]);
        /* check the name now (shapes decide the kind of accuracy later) */
        ck_metric probe;
        ckeras_status st;
        if (specs[*nm][0] && (st = ck_metric_parse(specs[*nm], 2, 1, 2, 1, &probe)) != CKERAS_OK) {
            ck_error_prefix("compile");
            return st;
        }
        if (specs[*nm][0])
            outs[(*nm)++] = k;
        if (!comma)
            break;
        p = comma + 1;
    }
    return CKERAS_OK;
}

/* Output k of m for compile entry e: by layer name, or by position. */
static int compile_output(const ckeras_model *m, const char *const *names, int e)
{
    if (!names)
        return e;
    for (int k = 0; names[e] && k < m->g.noutputs; k++)
        if (strcmp(ck_model_output_name(m, k), names[e]) == 0)
            return k;
    return -1;
}

ckeras_status ck_model_compile_outputs(ckeras_model *m, ckeras_optimizer *opt, int n, const char *const *names,
                                       const char *const *losses, const double *weights,
                                       const char *const *metrics)
{
    ckeras_status st = CKERAS_OK;
    if (m->g.n == 0 || (m->functional && !m->outputs_set)) {
        ck_optimizer_free(opt);
        return ck_error(CKERAS_ESTATE, "compile: model '%s' has no %s", m->name,
                        m->g.n == 0 ? "layers" : "outputs (ckeras_model_set_outputs)");
    }
    ck_loss lo[CK_MAX_OUTPUTS];
    bool has[CK_MAX_OUTPUTS] = {false}, seen[CK_MAX_OUTPUTS] = {false};
    double w[CK_MAX_OUTPUTS];
    char specs[CK_MAX_METRICS][CK_LOG_NAME];
    int outs[CK_MAX_METRICS], nm = 0;
    memset(lo, 0, sizeof lo);
    for (int k = 0; k < CK_MAX_OUTPUTS; k++)
        w[k] = 1.0;
    if (n < 1 || n > m->g.noutputs || !losses || (!names && n != m->g.noutputs))
        st = ck_error(CKERAS_EINVAL, "compile: give a loss for each of the %d output%s of model '%s' (by position) "
                      "or by output name, got %d", m->g.noutputs, m->g.noutputs == 1 ? "" : "s", m->name, n);
    for (int e = 0; st == CKERAS_OK && e < n; e++) {
        int k = compile_output(m, names, e);
        if (k < 0) {
            st = ck_error(CKERAS_EINVAL, "compile: model '%s' has no output named '%s'", m->name,
                          names[e] ? names[e] : "(null)");
            break;
        }
        if (seen[k]) {
            st = ck_error(CKERAS_EINVAL, "compile: output '%s' is given twice", ck_model_output_name(m, k));
            break;
        }
        seen[k] = true;
        if (losses[e]) {
            if ((st = ck_loss_parse(losses[e], &lo[k])) != CKERAS_OK) {
                ck_error_prefix("compile");
                break;
            }
            has[k] = true;
        }
        if (weights) {
            if (!(weights[e] >= 0 && isfinite(weights[e]))) {
                st = ck_error(CKERAS_EINVAL, "compile: the loss weight of output '%s' is %g; it must be finite and "
                              ">= 0", ck_model_output_name(m, k), weights[e]);
                break;
            }
            w[k] = weights[e];
        }
        if (metrics && (st = parse_metrics(metrics[e], k, specs, outs, &nm)) != CKERAS_OK)
            break;
    }
    int nloss = 0;
    for (int k = 0; k < m->g.noutputs; k++)
        nloss += has[k];
    if (st == CKERAS_OK && nloss == 0)
        st = ck_error(CKERAS_EINVAL, "compile: no output of model '%s' has a loss", m->name);
    if (st == CKERAS_OK && !opt && !(opt = ck_optimizer_new(CK_OPT_ADAM)))
        st = CKERAS_ENOMEM;
    if (st == CKERAS_OK && (st = ck_model_layout(m)) == CKERAS_OK)
        st = ck_optimizer_build(opt, m->n_params);
    if (st != CKERAS_OK) {
        ck_optimizer_free(opt);
        return st;
    }
    if (m->opt != opt)
        ck_optimizer_free(m->opt);
    m->opt = opt;
    memcpy(m->loss, lo, sizeof lo);
    memcpy(m->has_loss, has, sizeof has);
    memcpy(m->loss_weight, w, sizeof w);
    /* Keras 3 orders the metrics by output whatever the order of the entries (stable) */
    for (int i = 0; i < m->nmetrics; i++) {
        ck_metric_free(&m->metrics[i]);
        ck_tree_free(m->metric_cfg[i]);
        m->metric_cfg[i] = NULL;
    }
    m->nmetrics = 0;
    memset(m->metric_weighted, 0, sizeof m->metric_weighted); /* weighted_metrics are set after */
    for (int k = 0; k < m->g.noutputs; k++)
        for (int i = 0; i < nm; i++)
            if (outs[i] == k) {
                memcpy(m->metric_specs[m->nmetrics], specs[i], sizeof specs[i]);
                m->metric_out[m->nmetrics++] = k;
            }
    m->metrics_resolved = false;
    m->tob_loss_sum = 0;
    m->tob_seen = 0;
    memset(m->out_loss_sum, 0, sizeof m->out_loss_sum);
    m->compiled = true;
    ck_plan_free(&m->plan); /* its need_grad marks follow the trainable flags laid out here */
    return CKERAS_OK;
}

ckeras_status ck_model_compile(ckeras_model *m, ckeras_optimizer *opt, const char *loss, const char *metrics)
{
    if (!loss) {
        ck_optimizer_free(opt);
        return ck_error(CKERAS_EINVAL, "compile: loss is NULL");
    }
    const char *losses[CK_MAX_OUTPUTS], *lists[CK_MAX_OUTPUTS];
    int n = m->g.noutputs > 0 ? m->g.noutputs : 1;
    for (int k = 0; k < n; k++) {
        losses[k] = loss;
        lists[k] = metrics;
    }
    return ck_model_compile_outputs(m, opt, n, NULL, losses, NULL, lists);
}

ckeras_status ck_model_add_metric(ckeras_model *m, int k, const ck_tree *cfg, const char *name)
{
    if (!m->compiled)
        return ck_error(CKERAS_ESTATE, "add_metric: model '%s' must be compiled first", m->name);
    if (k >= m->g.noutputs)
        return ck_error(CKERAS_EINVAL, "add_metric: model '%s' has no output %d", m->name, k);
    ck_metric probe;
    ckeras_status st = cfg ? ck_metric_from_tree(cfg, &probe)
                           : ck_metric_parse(name ? name : "", 2, 1, 2, 1, &probe);
    if (st != CKERAS_OK) {
        ck_error_prefix("add_metric");
        return st;
    }
    const char *spec = cfg ? probe.name : name;
    if (strlen(spec) >= CK_LOG_NAME)
        return ck_error(CKERAS_EINVAL, "add_metric: name '%.40s...' is too long", spec);
    int outs[CK_MAX_OUTPUTS], n = 0;
    for (int j = 0; j < m->g.noutputs; j++)
        if (j == k || (k < 0 && (m->has_loss[j] || m->g.noutputs == 1)))
            outs[n++] = j;
    if (n == 0)
        return ck_error(CKERAS_EINVAL, "add_metric: model '%s' has no output with a loss", m->name);
    if (m->nmetrics + n > CK_MAX_METRICS)
        return ck_error(CKERAS_EINVAL, "add_metric: model '%s' would have more than %d metrics", m->name,
                        CK_MAX_METRICS);
    ck_tree *full[CK_MAX_OUTPUTS] = {NULL};
    for (int j = 0; cfg && j < n; j++)
        if (!(full[j] = ck_metric_to_tree(&probe))) {
            for (int i = 0; i < j; i++)
                ck_tree_free(full[i]);
            return CKERAS_ENOMEM;
        }
    for (int j = 0; j < n; j++) {
        int pos = 0; /* after the (not weighted) metrics of outputs <= outs[j]; weighted_metrics last */
        for (int q = 0; q < m->nmetrics; q++)
            if (!m->metric_weighted[q] && m->metric_out[q] <= outs[j])
                pos = q + 1;
        int tail = m->nmetrics - pos;
        memmove(&m->metric_specs[pos + 1], &m->metric_specs[pos], (size_t)tail * sizeof m->metric_specs[0]);
        memmove(&m->metric_out[pos + 1], &m->metric_out[pos], (size_t)tail * sizeof m->metric_out[0]);
        memmove(&m->metrics[pos + 1], &m->metrics[pos], (size_t)tail * sizeof m->metrics[0]);
        memmove(&m->metric_cfg[pos + 1], &m->metric_cfg[pos], (size_t)tail * sizeof m->metric_cfg[0]);
        memmove(&m->metric_weighted[pos + 1], &m->metric_weighted[pos], (size_t)tail * sizeof m->metric_weighted[0]);
        m->metric_weighted[pos] = false;
        snprintf(m->metric_specs[pos], CK_LOG_NAME, "%s", spec);
        m->metric_out[pos] = outs[j];
        memset(&m->metrics[pos], 0, sizeof m->metrics[pos]);
        m->metric_cfg[pos] = full[j];
        m->nmetrics++;
    }
    m->metrics_resolved = false; /* the new ones get their state before the next batch */
    return CKERAS_OK;
}

bool ck_model_owns_weights(const ckeras_model *m)
{
    for (int i = 0; i < m->g.n; i++) {
        const ckeras_layer *l = m->g.nodes[i].layer;
        if (l->nw > 0 && l->laid_out_by != m)
            return false;
    }
    return true;
}

void ck_model_free(ckeras_model *m)
{
    if (!m)
        return;
    if (m->refs > 0) { /* a model that calls this one keeps it */
        m->refs--;
        return;
    }
    /* layers that live on in other models take their weights out of this model's buffers; when
     * that fails (out of memory) the buffers are left allocated rather than pulled from under them */
    bool keep_buffers = false;
    for (int i = 0; i < m->g.n; i++) {
        ckeras_layer *l = m->g.nodes[i].layer;
        if (l->refs > 1 && l->laid_out_by == m && ck_layer_detach(l) != CKERAS_OK) {
            l->laid_out_by = NULL;
            keep_buffers = true;
        }
    }
    for (int i = 0; i < m->g.n; i++)
        ck_layer_free(m->g.nodes[i].layer);
    for (int k = 0; k < m->ngroups; k++)
        ck_model_free(m->groups[k].model);
    ck_free(m->groups);
    for (int j = 0; j < CK_MAX_NODE_INPUTS; j++)
        ck_layer_free(m->input_layers[j]);
    ck_free(m->ids);
    ck_graph_free(&m->g);
    ck_plan_free(&m->plan);
    ck_split_free(m->split);
    if (!keep_buffers) {
        ck_free(m->params);
        ck_free(m->grads);
        ck_free(m->state);
    }
    ck_free(m->var_off);
    ck_free(m->sw_buf);
    ck_free(m->row_buf);
    ck_optimizer_free(m->opt);
    for (int i = 0; i < m->nmetrics; i++) {
        ck_metric_free(&m->metrics[i]);
        ck_tree_free(m->metric_cfg[i]);
    }
    ck_free(m);
}

double ck_model_activity_penalty(const ckeras_model *m)
{
    double total = 0;
    for (int i = 0; i < m->g.n; i++) {
        const ckeras_layer *l = m->g.nodes[i].layer;
        if (l->act_l1 != 0.0f || l->act_l2 != 0.0f) /* each call's: its gradient came with the backward */
            total += m->g.nodes[i].act_penalty;
        if (m->g.nodes[i].first_use && l->vt->added_loss) /* its gradient came with the backward */
            total += l->vt->added_loss(l);
    }
    return total;
}

double ck_model_weight_penalty(ckeras_model *m, bool add_grads)
{
    double total = 0;
    for (int i = 0; i < m->g.n; i++) {
        ckeras_layer *l = m->g.nodes[i].layer;
        if (!m->g.nodes[i].first_use)
            continue;
        for (int k = 0; k < l->nw; k++) {
            ck_weight *w = &l->w[k];
            if ((w->l1 == 0.0f && w->l2 == 0.0f) || !w->grad)
                continue; /* Keras counts the penalties of trainable weights only */
            total += ck_l1l2_penalty(w->data, w->size, w->l1, w->l2);
            if (add_grads)
                ck_l1l2_grad_add(w->grad, w->data, w->size, w->l1, w->l2);
        }
    }
    return total;
}

double ck_model_regularization(ckeras_model *m, bool add_grads)
{
    return ck_model_activity_penalty(m) + ck_model_weight_penalty(m, add_grads);
}

void ck_model_apply_constraints(ckeras_model *m)
{
    for (int i = 0; i < m->g.n; i++) {
        ckeras_layer *l = m->g.nodes[i].layer;
        if (!m->g.nodes[i].first_use)
            continue;
        for (int k = 0; k < l->nw; k++)
            if (l->w[k].constraint.kind && l->w[k].grad) /* the weights the optimizer updated */
                ck_constraint_apply(&l->w[k].constraint, l->w[k].data, &l->w[k].shape);
    }
}

ckeras_status ck_model_pop(ckeras_model *m)
{
    if (m->functional)
        return ck_error(CKERAS_ESTATE, "pop: model '%s' is functional; pop works on Sequential models", m->name);
    if (m->g.n == 0)
        return ck_error(CKERAS_ESTATE, "pop: model '%s' has no layers", m->name);
    ckeras_layer *last = m->g.nodes[m->g.n - 1].layer;
    m->g.n--;
    m->g.outputs[0] = m->g.n - 1;
    m->g.noutputs = m->g.n > 0;
    ckeras_status st = ck_model_layout(m);
    if (st != CKERAS_OK) { /* nothing changed */
        m->g.n++;
        m->g.outputs[0] = m->g.n - 1;
        m->g.noutputs = 1;
        return st;
    }
    ck_layer_free(last);
    ck_plan_free(&m->plan);
    m->compiled = false;
    m->metrics_resolved = false;
    return CKERAS_OK;
}
