/* Variable-length (Keras' None) axes. A None axis of a model input has a concrete length at any
 * time (a placeholder until data comes); the layers are built for it. Data of another length
 * builds every node again for that length, keeping its weights (ck_layer_rebuild): so only
 * layers whose weights do not depend on the axis (recurrent layers, Embedding, Conv1D, Dense
 * on the last axis, ...) can follow a None axis.
 *
 * Sizes: the products here are of a batch (at most the rows of a checked tensor or plan) and
 * per-sample sizes of checked shapes, or counts of checked buffers (core.h, checked size
 * arithmetic; the plan checks every batch buffer), so none passes 2^48. */
#include "graph.h"

#include <string.h>

/* how much a probe lengthens a None axis: large enough that strides and pooling still show it */
#define PROBE_EXTRA 1024

uint32_t ck_graph_src_none(const ck_graph *g, int src)
{
    return src < 0 ? g->none[-1 - src] : g->nodes[src].none;
}

static const ck_shape *src_shape(const ck_graph *g, int src)
{
    return src < 0 ? &g->inputs[-1 - src] : &g->nodes[src].layer->out_shape;
}

static bool same_shape(const ck_shape *a, const ck_shape *b)
{
    return a->ndim == b->ndim && memcmp(a->d, b->d, (size_t)a->ndim * sizeof a->d[0]) == 0;
}

static void node_inputs(const ck_graph *g, int i, ck_shape *ins)
{
    const ck_node *nd = &g->nodes[i];
    for (int k = 0; k < nd->nin; k++)
        ins[k] = *src_shape(g, nd->in[k]);
}

ckeras_status ck_graph_find_none(ck_graph *g, int i)
{
    ck_node *nd = &g->nodes[i];
    ckeras_layer *l = nd->layer;
    ck_shape ins[CK_MAX_NODE_INPUTS], probe[CK_MAX_NODE_INPUTS];
    bool any = false;
    node_inputs(g, i, ins);
    for (int k = 0; k < nd->nin; k++) {
        uint32_t m = ck_graph_src_none(g, nd->in[k]);
        double elems = 1;
        probe[k] = ins[k];
        for (int a = 0; a < ins[k].ndim; a++) {
            if (m & (1u << a)) {
                probe[k].d[a] += PROBE_EXTRA;
                any = true;
            }
            elems *= (double)probe[k].d[a];
        }
        if (m && elems > 0x1p40) /* the probe's sizes must stay far from int64 overflow */
            return ck_error(CKERAS_EUNSUPPORTED, "%s '%s': too many variable (None) axes in its input",
                            l->vt->class_name, l->name);
    }
    nd->none = 0;
    if (!any)
        return CKERAS_OK;
    if (l->vt == &ck_take_vt) { /* output k of the node before it: the producer found them */
        nd->none = ck_take_none(l);
        return CKERAS_OK;
    }
    ck_shape out = l->out_shape, outs[6];
    memcpy(outs, l->outs, sizeof outs);
    ckeras_status st = ck_layer_rebuild(l, probe, nd->nin);
    ck_shape other = l->out_shape, other_outs[6];
    memcpy(other_outs, l->outs, sizeof outs);
    if (st != CKERAS_OK) {
        ck_error_prefix("%s '%s' cannot follow a variable (None) axis", l->vt->class_name, l->name);
        ck_layer_rebuild(l, ins, nd->nin);
        return st;
    }
    if ((st = ck_layer_rebuild(l, ins, nd->nin)) != CKERAS_OK)
        return st;
    if (other.ndim != out.ndim)
        return ck_error(CKERAS_ESHAPE, "%s '%s': its output rank depends on a variable (None) axis",
                        l->vt->class_name, l->name);
    for (int a = 0; a < out.ndim; a++)
        if (other.d[a] != out.d[a])
            nd->none |= 1u << a;
    for (int k = 0; k < l->nout && k < 6; k++) { /* each output of a layer with several */
        l->outs_none[k] = 0;
        for (int a = 0; a < outs[k].ndim; a++)
            if (other_outs[k].d[a] != outs[k].d[a])
                l->outs_none[k] |= 1u << a;
    }
    return CKERAS_OK;
}

/* Builds every node again for the current input shapes, where its inputs changed. */
static ckeras_status rebuild_all(ck_graph *g, bool *changed_any)
{
    bool changed[CK_MAX_NODE_INPUTS];
    bool *node_changed = ck_calloc((size_t)(g->n ? g->n : 1), sizeof(bool));
    if (!node_changed)
        return CKERAS_ENOMEM;
    for (int j = 0; j < CK_MAX_NODE_INPUTS; j++)
        changed[j] = j < g->ninputs;
    ckeras_status st = CKERAS_OK;
    for (int i = 0; i < g->n && st == CKERAS_OK; i++) {
        const ck_node *nd = &g->nodes[i];
        bool redo = false;
        for (int k = 0; k < nd->nin; k++) {
            int src = nd->in[k];
            redo = redo || (src < 0 ? changed[-1 - src] : node_changed[src]);
        }
        if (!redo)
            continue;
        ck_shape ins[CK_MAX_NODE_INPUTS];
        node_inputs(g, i, ins);
        ck_shape before = nd->layer->out_shape;
        if (same_shape(&ins[0], &nd->layer->in_shape) && nd->nin == 1)
            continue;
        st = ck_layer_rebuild(nd->layer, ins, nd->nin);
        node_changed[i] = !same_shape(&before, &nd->layer->out_shape);
        *changed_any = true;
    }
    ck_free(node_changed);
    return st;
}

ckeras_status ck_graph_set_inputs(ck_graph *g, const ck_shape *ins, bool *changed)
{
    *changed = false;
    ck_shape old[CK_MAX_NODE_INPUTS];
    bool differ = false;
    for (int j = 0; j < g->ninputs; j++) {
        old[j] = g->inputs[j];
        differ = differ || !same_shape(&ins[j], &old[j]);
    }
    if (!differ)
        return CKERAS_OK;
    for (int j = 0; j < g->ninputs; j++)
        g->inputs[j] = ins[j];
    bool any = false;
    ckeras_status st = rebuild_all(g, &any);
    *changed = true;
    if (st != CKERAS_OK) { /* back to the shapes that worked */
        for (int j = 0; j < g->ninputs; j++)
            g->inputs[j] = old[j];
        rebuild_all(g, &any); /* they were built so before: it succeeds, the message stays */
    }
    return st;
}
