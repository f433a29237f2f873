/* Keras' masks in the plan: which nodes make one, which pass their input's on. A mask holds one
 * float per step (1 kept, 0 masked): per sample, the node's output shape without its last axis.
 *
 * Sizes: the products here are of a batch (at most the rows of a checked tensor or plan) and
 * per-sample sizes of checked shapes, or counts of checked buffers (core.h, checked size
 * arithmetic; the plan checks every batch buffer), so none passes 2^48. */
#include "graph.h"

static ck_mask_mode mode_of(const ckeras_layer *l)
{
    return l->vt->mask_mode ? l->vt->mask_mode(l) : CK_MASK_DROP;
}

int64_t ck_plan_mask_floats(const ck_graph *g, int i, int64_t cap)
{
    const ckeras_layer *l = g->nodes[i].layer;
    const ck_shape *o = &l->out_shape;
    if (mode_of(l) != CK_MASK_MAKE || o->ndim < 1 || o->d[o->ndim - 1] <= 0)
        return 0;
    return cap * (ck_shape_size(o) / o->d[o->ndim - 1]);
}

void ck_plan_link_masks(const ck_graph *g, ck_plan *p)
{
    for (int i = 0; i < g->n; i++) {
        ck_mask_mode m = mode_of(g->nodes[i].layer);
        int src = g->nodes[i].in[0];
        if (m == CK_MASK_PASS)
            p->mask[i] = src >= 0 ? p->mask[src] : NULL;
        else if (m == CK_MASK_DROP)
            p->mask[i] = NULL;
    }
}

int64_t ck_graph_mask_steps(const ck_graph *g, int src)
{
    while (src >= 0) {
        ck_mask_mode m = mode_of(g->nodes[src].layer);
        if (m != CK_MASK_PASS)
            return m == CK_MASK_MAKE ? ck_plan_mask_floats(g, src, 1) : 0;
        src = g->nodes[src].in[0];
    }
    return 0;
}

bool ck_graph_node_has_mask(const ck_graph *g, int src)
{
    return ck_graph_mask_steps(g, src) > 0;
}
