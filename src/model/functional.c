/* Functional models: inputs, layer calls on symbolic tensors, outputs.
 *
 * Sizes: the products here are of weight sizes (checked when their layer was built), of counts
 * of layers, calls, variables and optimizer slots (ints far below 2^31: a model holds at most
 * CK_MAX_NODES calls of at most CK_MAX_WEIGHTS weights) or of constants; arrays grow by ck_grow. */
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
    if (m->nids >= 2 * CK_MAX_NODES) {
        ck_error(CKERAS_ESHAPE, "model '%s': too many tensors (at most %d)", m->name, 2 * CK_MAX_NODES);
        return -1;
    }
    if (m->nids == m->capids) {
        int cap = ck_grow(m->capids, 16);
        int *ids = ck_realloc_n(m->ids, cap, sizeof *ids);
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

/* A layer with several outputs (return_state) at node `node`: a hidden node per output (take.c),
 * whose ids follow one another. Returns the first one's, or -1 (the layer's node stays, unread). */
static int add_outputs(ckeras_model *m, ckeras_layer *l, int node)
{
    int first = -1;
    for (int k = 0; k < l->nout; k++) {
        ckeras_layer *t = ck_take_new(l, k);
        if (!t || ck_layer_build(t, &l->out_shape) != CKERAS_OK) {
            ck_layer_free(t);
            return -1;
        }
        int id = new_id(m, m->g.n);
        if (id < 0 || ck_graph_append(&m->g, t, 1, &node, m->outputs_set) != CKERAS_OK) {
            ck_layer_free(t);
            return -1;
        }
        t->owned = true;
        ck_model_node_none(m, m->g.n - 1);
        if (k == 0)
            first = id;
    }
    if (!m->outputs_set) { /* until outputs are declared, the last call's first output */
        m->g.noutputs = 1;
        m->g.outputs[0] = m->g.n - l->nout;
    }
    return first;
}

/* Another call of a layer already in m (Keras' shared layers: one set of weights). */
static int call_shared(ckeras_model *m, ckeras_layer *l, int nin, const int *src, const ck_shape *shapes)
{
    if (nin != l->nin)
        return ck_error(CKERAS_ESHAPE, "model_call: layer '%s' was called on %d input%s; a further call must "
                        "take as many, got %d", l->name, l->nin, l->nin == 1 ? "" : "s", nin), -1;
    if (!ck_shape_eq(&shapes[0], &l->in_shape)) {
        char a[96], b[96];
        return ck_error(CKERAS_ESHAPE, "model_call: shared layer '%s' was built for %s; this call gives %s",
                        l->name, ck_shape_str(&l->in_shape, false, a, sizeof a),
                        ck_shape_str(&shapes[0], false, b, sizeof b)), -1;
    }
    int id = new_id(m, m->g.n);
    if (id < 0 || ck_graph_append(&m->g, l, nin, src, m->outputs_set) != CKERAS_OK) {
        if (id >= 0)
            m->nids--;
        return -1;
    }
    ck_plan_free(&m->plan);
    m->compiled = false;
    return l->nout > 1 ? add_outputs(m, l, m->g.n - 1) : id;
}

bool ck_model_has_layer(const ckeras_model *m, const ckeras_layer *l)
{
    for (int i = 0; i < m->g.n; i++)
        if (m->g.nodes[i].layer == l)
            return true;
    return false;
}

static int call_impl(ckeras_model *m, ckeras_layer *l, int nin, const int *ids)
{
    if (l->owned) {
        if (!ck_model_has_layer(m, l)) /* not taken: nothing to drop */
            return ck_error(CKERAS_EINVAL, "model_call: layer '%s' belongs to another model (call that model as "
                            "a layer, or build a model from its tensors)", l->name), -1;
        l->refs++; /* a further call of a shared layer: the new node's reference, dropped on failure */
    }
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
    if (l->owned) {
        int id = call_shared(m, l, nin, src, shapes);
        if (id < 0)
            ck_layer_free(l);
        return id;
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
    int id = new_id(m, m->g.n);
    /* until outputs are declared, the append makes the new node the output: put it back if the
     * node is taken out again (it would name a freed layer) */
    const int noutputs = m->g.noutputs, output0 = m->g.outputs[0];
    if (id < 0 || ck_graph_append(&m->g, l, nin, src, m->outputs_set) != CKERAS_OK) {
        if (id >= 0)
            m->nids--;
        ck_layer_free(l);
        return -1;
    }
    if (ck_model_node_none(m, m->g.n - 1) != CKERAS_OK || ck_model_attach(m, l) != CKERAS_OK) {
        m->g.n--;
        m->nids--;
        m->g.noutputs = noutputs;
        m->g.outputs[0] = output0;
        ck_layer_free(l);
        return -1;
    }
    l->owned = true;
    ck_plan_free(&m->plan);
    m->compiled = false;
    return l->nout > 1 ? add_outputs(m, l, m->g.n - 1) : id;
}

ckeras_status ck_model_set_outputs(ckeras_model *m, int n, const int *ids)
{
    if (!m->functional)
        return ck_error(CKERAS_ESTATE, "model_set_outputs: model '%s' is Sequential", m->name);
    if (n < 1 || n > CK_MAX_OUTPUTS || !ids)
        return ck_error(CKERAS_EINVAL, "model_set_outputs: give 1..%d output tensors, got %d", CK_MAX_OUTPUTS, n);
    int nodes[CK_MAX_OUTPUTS];
    for (int k = 0; k < n; k++) {
        if (ids[k] < 0 || ids[k] >= m->nids || m->ids[ids[k]] < 0)
            return ck_error(CKERAS_EINVAL, "model_set_outputs: tensor %d is not a layer output of model '%s'",
                            ids[k], m->name);
        nodes[k] = m->ids[ids[k]];
        for (int j = 0; j < k; j++)
            if (nodes[j] == nodes[k])
                return ck_error(CKERAS_EUNSUPPORTED, "model_set_outputs: tensor %d is given twice as an output",
                                ids[k]);
    }
    memcpy(m->g.outputs, nodes, (size_t)n * sizeof nodes[0]);
    m->g.noutputs = n;
    m->outputs_set = true;
    ck_plan_free(&m->plan);
    m->compiled = false;
    return CKERAS_OK;
}

/* Appends to m a further call of the layer of node sn (of another graph) reading ins: the layer
 * shared, its call's settings kept. */
static ckeras_status copy_node(ckeras_model *m, const ck_node *sn, const int *ins, int group)
{
    if (ck_graph_append(&m->g, sn->layer, sn->nin, ins, m->outputs_set) != CKERAS_OK)
        return CKERAS_ENOMEM;
    ck_node *nd = &m->g.nodes[m->g.n - 1];
    nd->group = group;
    nd->inference = sn->inference;
    nd->none = sn->none;
    sn->layer->refs++;
    return CKERAS_OK;
}

int ck_model_tensor_id(ckeras_model *m, int src)
{
    for (int t = 0; t < m->nids; t++)
        if (m->ids[t] == src)
            return t;
    return new_id(m, src);
}

/* The graph sources of the tensors ids of m, with their shapes; -1 with the error set. */
static int sources(const ckeras_model *m, int nin, const int *ids, int *src, ck_shape *shapes, const char *what)
{
    for (int k = 0; k < nin; k++) {
        if (ids[k] < 0 || ids[k] >= m->nids)
            return ck_error(CKERAS_EINVAL, "%s: input %d is tensor %d, which model '%s' does not have", what, k,
                            ids[k], m->name), -1;
        src[k] = m->ids[ids[k]];
        if (shapes)
            shapes[k] = src[k] < 0 ? m->g.inputs[-1 - src[k]] : m->g.nodes[src[k]].layer->out_shape;
    }
    return 0;
}

int ck_model_call_model(ckeras_model *m, ckeras_model *inner, int nin, const int *ids, int training)
{
    ck_error_clear();
    int src[CK_MAX_NODE_INPUTS];
    ck_shape shapes[CK_MAX_NODE_INPUTS];
    if (!m->functional)
        return ck_error(CKERAS_ESTATE, "model_call_model: model '%s' is Sequential; call models in functional "
                        "models", m->name), -1;
    if (inner == m)
        return ck_error(CKERAS_EINVAL, "model_call_model: a model cannot call itself"), -1;
    if (inner->g.n == 0 || (inner->functional && !inner->outputs_set) || !inner->has_input)
        return ck_error(CKERAS_ESTATE, "model_call_model: model '%s' has no %s", inner->name,
                        inner->g.n == 0 ? "layers" : !inner->has_input ? "input shape" : "outputs"), -1;
    if (training != -1 && training != 0)
        return ck_error(CKERAS_EUNSUPPORTED, "model_call_model: training=%d; -1 (not given) and 0 (False) are "
                        "supported", training), -1;
    if (!ids || nin != inner->g.ninputs)
        return ck_error(CKERAS_EINVAL, "model_call_model: model '%s' has %d input%s, %d given", inner->name,
                        inner->g.ninputs, inner->g.ninputs == 1 ? "" : "s", nin), -1;
    if (sources(m, nin, ids, src, shapes, "model_call_model") < 0)
        return -1;
    for (int j = 0; j < nin; j++)
        if (!ck_shape_eq(&shapes[j], &inner->g.inputs[j])) {
            char a[96], b[96];
            return ck_error(CKERAS_ESHAPE, "model_call_model: input %d of model '%s' is %s; the tensor given is %s",
                            j, inner->name, ck_shape_str(&inner->g.inputs[j], false, a, sizeof a),
                            ck_shape_str(&shapes[j], false, b, sizeof b)), -1;
        }
    if (ck_model_name_taken(m, inner->name, NULL))
        return ck_error(CKERAS_EINVAL, "model_call_model: a layer named '%s' is already in model '%s'", inner->name,
                        m->name), -1;
    for (int k = 0; k < m->ngroups; k++)
        if (m->groups[k].model == inner)
            return ck_error(CKERAS_EUNSUPPORTED, "model_call_model: model '%s' is already called in '%s' (one call "
                            "per nested model is supported)", inner->name, m->name), -1;
    ck_group *groups = ck_realloc_n(m->groups, m->ngroups + 1, sizeof *groups);
    if (!groups)
        return -1;
    m->groups = groups;
    int first = m->g.n, nids0 = m->nids, gi = m->ngroups;
    ck_group *gr = &groups[gi];
    memset(gr, 0, sizeof *gr);
    gr->model = inner;
    gr->first = first;
    gr->nin = nin;
    memcpy(gr->in, src, (size_t)nin * sizeof src[0]);
    gr->inference = training == 0;
    int *map = ck_malloc_n(inner->g.n, sizeof *map);
    if (!map)
        return -1;
    int i;
    for (i = 0; i < inner->g.n; i++) {
        const ck_node *in = &inner->g.nodes[i];
        int ins[CK_MAX_NODE_INPUTS];
        for (int k = 0; k < in->nin; k++)
            ins[k] = in->in[k] < 0 ? src[-1 - in->in[k]] : map[in->in[k]];
        if (copy_node(m, in, ins, gi) != CKERAS_OK)
            break;
        m->g.nodes[m->g.n - 1].inference |= gr->inference;
        map[i] = m->g.n - 1;
    }
    int id = -1;
    if (i == inner->g.n) {
        gr->count = inner->g.n;
        gr->nout = inner->g.noutputs;
        for (int k = 0; k < inner->g.noutputs; k++)
            gr->out_node[k] = map[inner->g.outputs[k]];
        for (int k = 0; k < inner->g.noutputs; k++) {
            int t = new_id(m, gr->out_node[k]);
            if (t < 0) {
                id = -1;
                break;
            }
            if (k == 0)
                id = t;
        }
    }
    ck_free(map);
    if (id < 0) { /* undo: drop the nodes and ids made */
        while (m->g.n > first)
            ck_layer_free(m->g.nodes[--m->g.n].layer);
        m->nids = nids0;
        return -1;
    }
    if (!m->outputs_set) { /* the last call's (first) output, until outputs are declared */
        m->g.noutputs = 1;
        m->g.outputs[0] = gr->out_node[0];
    }
    m->ngroups++;
    inner->refs++;
    ck_plan_free(&m->plan);
    m->compiled = false;
    return id;
}

/* A new model input of dst of per-sample shape sh (None axes: bits of none), named name when
 * given and free (else Keras-style). Returns its tensor id, or -1. */
static int new_input(ckeras_model *dst, const ck_shape *sh, uint32_t none, const char *name)
{
    int64_t d[CKERAS_MAX_DIMS];
    for (int a = 0; a < sh->ndim; a++)
        d[a] = none & (1u << a) ? -1 : sh->d[a];
    ckeras_layer *il = ck_layer_new(&ck_input_vt);
    if (!il || ck_config_set_ints(&il->cfg, "Input", "shape", sh->ndim, d) != CKERAS_OK) {
        ck_layer_free(il);
        return -1;
    }
    if (name && strlen(name) < CK_NAME_MAX && !ck_model_name_taken(dst, name, NULL)) {
        snprintf(il->name, sizeof il->name, "%s", name);
        il->named = true;
    }
    return ck_model_input(dst, il);
}

/* A model input of dst for input j of src: its InputLayer shared. */
static int share_input(ckeras_model *dst, const ckeras_model *src, int j)
{
    ckeras_layer *il = src->input_layers[j];
    if (!il) /* a Sequential model built without an Input: one of its shape */
        return new_input(dst, &src->g.inputs[j], src->g.none[j], NULL);
    int k = dst->g.ninputs;
    int id = new_id(dst, -1 - k);
    if (id < 0)
        return -1;
    il->refs++;
    dst->input_layers[k] = il;
    dst->g.inputs[k] = src->g.inputs[j];
    dst->g.none[k] = src->g.none[j];
    dst->g.ninputs = k + 1;
    dst->has_input = true;
    return id;
}

ckeras_model *ck_model_from_sources(ckeras_model *src, int nin, const int *isrc, const char *const *in_names,
                                    int nout, const int *osrc, const char *name)
{
    bool *need = ck_calloc((size_t)src->g.n + 1, sizeof *need);
    int *map = ck_malloc_n(src->g.n + 1, sizeof *map);
    int *given_node = ck_calloc((size_t)src->g.n + 1, sizeof *given_node); /* j + 1 for a given node */
    ckeras_model *m = need && map && given_node ? ck_functional_new(name ? name : "functional") : NULL;
    if (!m) {
        ck_free(need);
        ck_free(map);
        ck_free(given_node);
        return NULL;
    }
    int inmap[CK_MAX_NODE_INPUTS];
    bool given[CK_MAX_NODE_INPUTS] = {false};
    for (int j = 0; j < nin; j++) {
        int s = isrc[j];
        if (s < 0 ? given[-1 - s] : given_node[s] != 0) {
            ck_error(CKERAS_EINVAL, "model_from_tensors: input %d is given twice", j);
            goto fail;
        }
        if (s < 0) {
            if (share_input(m, src, -1 - s) < 0)
                goto fail;
            inmap[-1 - s] = -1 - j;
            given[-1 - s] = true;
        } else {
            if (new_input(m, &src->g.nodes[s].layer->out_shape, src->g.nodes[s].none, in_names ? in_names[j] : NULL) <
                0)
                goto fail;
            given_node[s] = j + 1;
        }
    }
    /* the nodes the outputs depend on, up to the given inputs */
    for (int k = 0; k < nout; k++)
        need[osrc[k]] = true;
    for (int i = src->g.n - 1; i >= 0; i--)
        for (int k = 0; need[i] && !given_node[i] && k < src->g.nodes[i].nin; k++)
            if (src->g.nodes[i].in[k] >= 0)
                need[src->g.nodes[i].in[k]] = true;
    for (int i = 0; i < src->g.n; i++) {
        if (!need[i] || given_node[i])
            continue;
        const ck_node *sn = &src->g.nodes[i];
        int ins[CK_MAX_NODE_INPUTS];
        for (int k = 0; k < sn->nin; k++) {
            int s = sn->in[k];
            if (s < 0 && !given[-1 - s]) {
                ck_error(CKERAS_EINVAL, "model_from_tensors: layer '%s' reads input %d of '%s', which is not among "
                         "the inputs given", sn->layer->name, -1 - s, src->name);
                goto fail;
            }
            ins[k] = s < 0 ? inmap[-1 - s] : given_node[s] ? -given_node[s] : map[s];
        }
        if (copy_node(m, sn, ins, -1) != CKERAS_OK)
            goto fail;
        map[i] = m->g.n - 1;
    }
    for (int k = 0; k < nout; k++) {
        if (given_node[osrc[k]]) {
            ck_error(CKERAS_EUNSUPPORTED, "model_from_tensors: output %d is also an input", k);
            goto fail;
        }
        m->g.outputs[k] = map[osrc[k]];
        if (ck_model_tensor_id(m, map[osrc[k]]) < 0)
            goto fail;
    }
    m->g.noutputs = nout;
    m->outputs_set = true;
    ck_free(need);
    ck_free(map);
    ck_free(given_node);
    return m;
fail:
    ck_free(need);
    ck_free(map);
    ck_free(given_node);
    ck_model_free(m);
    return NULL;
}

ckeras_model *ck_model_from_tensors(ckeras_model *src, int nin, const int *inputs, int nout, const int *outputs,
                                    const char *name)
{
    int isrc[CK_MAX_NODE_INPUTS], osrc[CK_MAX_OUTPUTS];
    if (nin < 1 || nin > CK_MAX_NODE_INPUTS || !inputs || nout < 1 || nout > CK_MAX_OUTPUTS || !outputs) {
        ck_error(CKERAS_EINVAL, "model_from_tensors: give 1..%d inputs and 1..%d outputs", CK_MAX_NODE_INPUTS,
                 CK_MAX_OUTPUTS);
        return NULL;
    }
    if (sources(src, nin, inputs, isrc, NULL, "model_from_tensors") < 0 ||
        sources(src, nout, outputs, osrc, NULL, "model_from_tensors") < 0)
        return NULL;
    for (int j = 0; j < nin; j++)
        if (isrc[j] >= 0) {
            ck_error(CKERAS_EUNSUPPORTED, "model_from_tensors: input %d (tensor %d) is a layer output; the inputs "
                     "must be model inputs of '%s'", j, inputs[j], src->name);
            return NULL;
        }
    for (int k = 0; k < nout; k++)
        if (osrc[k] < 0) {
            ck_error(CKERAS_EUNSUPPORTED, "model_from_tensors: output %d (tensor %d) is a model input; outputs must "
                     "be layer outputs", k, outputs[k]);
            return NULL;
        }
    return ck_model_from_sources(src, nin, isrc, NULL, nout, osrc, name);
}
