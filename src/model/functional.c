/* Functional models: inputs, layer calls on symbolic tensors, outputs. */
#include "model.h"

#include <stdio.h>
#include <string.h>

ckeras_model *ck_functional_new(const char *name)
{
    ckeras_model *m = ck_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    snprintf(m->name, sizeof m->name, "%s", name ? name : "functional");
    m->functional = true;
    ck_rng_seed(&m->rng, ck_next_model_seed());
    return m;
}

static int new_id(ckeras_model *m, int value)
{
    if (m->nids == m->capids) {
        int cap = m->capids ? 2 * m->capids : 16;
        int *ids = ck_realloc(m->ids, (size_t)cap * sizeof *ids);
        if (!ids)
            return -1;
        m->ids = ids;
        m->capids = cap;
    }
    m->ids[m->nids] = value;
    return m->nids++;
}

int ck_model_input(ckeras_model *m, ckeras_layer *l)
{
    if (!m->functional) {
        ck_layer_free(l);
        ck_error(CKERAS_ESTATE, "model_input: model '%s' is Sequential; add the Input with ckeras_model_add",
                 m->name);
        return -1;
    }
    if (l->vt != &ck_input_vt) {
        ck_error(CKERAS_EINVAL, "model_input: '%s' is a %s, not an Input", l->name, l->vt->class_name);
        ck_layer_free(l);
        return -1;
    }
    if (m->g.ninputs == CK_MAX_NODE_INPUTS) {
        ck_layer_free(l);
        ck_error(CKERAS_EUNSUPPORTED, "model_input: at most %d inputs", CK_MAX_NODE_INPUTS);
        return -1;
    }
    if (l->named && ck_model_name_taken(m, l->name, l)) {
        ck_error(CKERAS_EINVAL, "model_input: a layer named '%s' is already in model '%s'", l->name, m->name);
        ck_layer_free(l);
        return -1;
    }
    if (!l->named)
        ck_model_auto_name(m, l);
    const ck_value *s = ck_cfg_value(&l->cfg, "shape");
    if (s->is_none || s->n < 1) {
        ck_layer_free(l);
        ck_error(CKERAS_EINVAL, "model_input: the Input needs a shape");
        return -1;
    }
    ck_shape in;
    uint32_t none;
    if (ck_model_shape_from_config(s, "model_input", &in, &none) != CKERAS_OK) {
        ck_layer_free(l);
        return -1;
    }
    int j = m->g.ninputs;
    int id = new_id(m, -1 - j);
    if (id < 0) {
        ck_layer_free(l);
        return -1;
    }
    ck_layer_build(l, &in);
    l->owned = true;
    m->input_layers[j] = l;
    m->g.inputs[j] = in;
    m->g.none[j] = none;
    m->g.ninputs = j + 1;
    m->has_input = true;
    return id;
}

static int call_impl(ckeras_model *m, ckeras_layer *l, int nin, const int *ids);

int ck_model_call(ckeras_model *m, ckeras_layer *l, int nin, const int *ids)
{
    ck_error_clear();
    int id = call_impl(m, l, nin, ids);
    if (id < 0)
        m->call_status = ck_last_status(CKERAS_ESHAPE);
    return id;
}

static int call_impl(ckeras_model *m, ckeras_layer *l, int nin, const int *ids)
{
    if (!m->functional) {
        ck_layer_free(l);
        ck_error(CKERAS_ESTATE, "model_call: model '%s' is Sequential; use ckeras_model_add", m->name);
        return -1;
    }
    if (nin < 1 || nin > CK_MAX_NODE_INPUTS || !ids) {
        ck_layer_free(l);
        ck_error(CKERAS_EINVAL, "model_call: give 1..%d input tensors", CK_MAX_NODE_INPUTS);
        return -1;
    }
    ck_shape shapes[CK_MAX_NODE_INPUTS];
    int src[CK_MAX_NODE_INPUTS];
    for (int k = 0; k < nin; k++) {
        if (ids[k] < 0 || ids[k] >= m->nids) {
            ck_layer_free(l);
            ck_error(CKERAS_EINVAL, "model_call: input %d is tensor %d, which model '%s' does not have", k, ids[k],
                     m->name);
            return -1;
        }
        src[k] = m->ids[ids[k]];
        shapes[k] = src[k] < 0 ? m->g.inputs[-1 - src[k]] : m->g.nodes[src[k]].layer->out_shape;
    }
    if (l->vt == &ck_input_vt) {
        ck_layer_free(l);
        ck_error(CKERAS_EINVAL, "model_call: an Input cannot be called; use ckeras_model_input");
        return -1;
    }
    if (l->named && ck_model_name_taken(m, l->name, l)) {
        ck_error(CKERAS_EINVAL, "model_call: a layer named '%s' is already in model '%s' (shared layers are not "
                 "supported yet)", l->name, m->name);
        ck_layer_free(l);
        return -1;
    }
    if (!l->named)
        ck_model_auto_name(m, l);
    ckeras_status st = ck_layer_build_multi(l, shapes, nin);
    if (st != CKERAS_OK) {
        ck_error_prefix("model_call: layer '%s'", l->name);
        ck_layer_free(l);
        return -1;
    }
    int keep_output = m->g.output;
    int id = new_id(m, m->g.n);
    if (id < 0 || ck_graph_append(&m->g, l, nin, src) != CKERAS_OK) {
        if (id >= 0)
            m->nids--;
        ck_layer_free(l);
        return -1;
    }
    if (ck_model_node_none(m, m->g.n - 1) != CKERAS_OK || ck_model_attach(m, l) != CKERAS_OK) {
        m->g.n--;
        m->nids--;
        ck_layer_free(l);
        return -1;
    }
    l->owned = true;
    if (m->outputs_set)
        m->g.output = keep_output; /* ck_graph_append moved it to the new node */
    ck_plan_free(&m->plan);
    m->compiled = false;
    return id;
}

ckeras_status ck_model_set_outputs(ckeras_model *m, int n, const int *ids)
{
    if (!m->functional)
        return ck_error(CKERAS_ESTATE, "model_set_outputs: model '%s' is Sequential", m->name);
    if (n != 1 || !ids)
        return ck_error(CKERAS_EUNSUPPORTED, "model_set_outputs: models with %d outputs are not supported yet "
                        "(one output is)", n);
    if (ids[0] < 0 || ids[0] >= m->nids || m->ids[ids[0]] < 0)
        return ck_error(CKERAS_EINVAL, "model_set_outputs: tensor %d is not a layer output of model '%s'", ids[0],
                        m->name);
    m->g.output = m->ids[ids[0]];
    m->outputs_set = true;
    ck_plan_free(&m->plan);
    m->compiled = false;
    return CKERAS_OK;
}
