/* Graph bookkeeping and the execution plan: one arena, carved once per batch capacity.
 *
 * Sizes: the products here are of a batch (at most the rows of a checked tensor or plan) and
 * per-sample sizes of checked shapes, or counts of checked buffers (core.h, checked size
 * arithmetic; the plan checks every batch buffer), so none passes 2^48. */
#include "graph.h"

#include <stdatomic.h>
#include <string.h>

ckeras_status ck_graph_append(ck_graph *g, ckeras_layer *l, int nin, const int *in, bool keep_outputs)
{
    if (g->n >= CK_MAX_NODES)
        return ck_error(CKERAS_ESHAPE, "a model holds at most %d layer calls", CK_MAX_NODES);
    if (g->n == g->cap) {
        int cap = ck_grow(g->cap, 8);
        ck_node *nodes = ck_realloc_n(g->nodes, cap, sizeof *nodes);
        if (!nodes)
            return CKERAS_ENOMEM;
        g->nodes = nodes;
        g->cap = cap;
    }
    ck_node *nd = &g->nodes[g->n];
    memset(nd, 0, sizeof *nd);
    nd->group = -1;
    nd->first_use = true;
    if (l->owned) /* a layer already in a graph: maybe an earlier node of this one */
        for (int i = 0; i < g->n && nd->first_use; i++)
            nd->first_use = g->nodes[i].layer != l;
    nd->layer = l;
    nd->nin = nin;
    for (int k = 0; k < nin; k++)
        nd->in[k] = in[k];
    if (!keep_outputs) {
        g->noutputs = 1;
        g->outputs[0] = g->n;
    }
    g->n++;
    return CKERAS_OK;
}

void ck_graph_free(ck_graph *g)
{
    ck_free(g->nodes);
    g->nodes = NULL;
    g->n = g->cap = 0;
}

const ck_shape *ck_graph_input_shape(const ck_graph *g, int i)
{
    int src = g->nodes[i].in[0];
    return src < 0 ? &g->inputs[-1 - src] : &g->nodes[src].layer->out_shape;
}

void ck_plan_free(ck_plan *p)
{
    ck_free(p->arena);
    ck_free(p->act);
    ck_free(p->consumers);
    memset(p, 0, sizeof *p);
}

static int64_t round16(int64_t n)
{
    return (n + 15) & ~(int64_t)15;
}

/* Every batch buffer (cap samples of each input, each node's output, saved values and scratch,
 * each target) must pass the per-tensor size check before the plan sizes anything: the layers
 * multiply cap by per-sample sizes (and small factors) without wrapping then (core.h); their
 * saved_floats and work_floats are saturating where they are no such product. */
static ckeras_status check_batch_sizes(const ck_graph *g, int64_t cap, const int64_t *ts)
{
    ckeras_status st = CKERAS_OK;
    for (int j = 0; st == CKERAS_OK && j < g->ninputs; j++)
        st = ck_size_check(ck_size_mul(cap, ck_shape_size(&g->inputs[j])), "a batch of %lld samples of input %d",
                           (long long)cap, j);
    for (int i = 0; st == CKERAS_OK && i < g->n; i++) {
        const ckeras_layer *l = g->nodes[i].layer;
        const char *cls = l->vt->class_name;
        st = ck_size_check(ck_size_mul(cap, ck_shape_size(&l->out_shape)),
                           "a batch of %lld samples of the output of %s '%s'", (long long)cap, cls, l->name);
        if (st == CKERAS_OK && l->vt->saved_floats)
            st = ck_size_check(l->vt->saved_floats(l, cap), "the saved values of %s '%s' for a batch of %lld", cls,
                               l->name, (long long)cap);
        if (st == CKERAS_OK && l->vt->work_floats)
            st = ck_size_check(l->vt->work_floats(l, cap), "the scratch of %s '%s' for a batch of %lld", cls,
                               l->name, (long long)cap);
    }
    for (int k = 0; st == CKERAS_OK && k < g->noutputs; k++)
        st = ck_size_check(ck_size_mul(cap, ts[k]), "a batch of %lld targets of output %d", (long long)cap, k);
    return st;
}

/* reader[i] = the first node after i that is a 2x2 stride-2 max pooling (ck_layer_vt.pool2x2)
 * of node i's output alone, else -1 */
static void find_pool_readers(const ck_graph *g, int *reader)
{
    for (int i = 0; i < g->n; i++)
        reader[i] = -1;
    for (int j = g->n - 1; j >= 0; j--) {
        const ck_node *nd = &g->nodes[j];
        const ckeras_layer *l = nd->layer;
        if (nd->nin == 1 && nd->in[0] >= 0 && l->vt->pool2x2 && l->vt->pool2x2(l))
            reader[nd->in[0]] = j;
    }
}

ckeras_status ck_plan_ensure(ck_plan *p, const ck_graph *g, int64_t cap, bool training,
                             const int64_t *target_sizes)
{
    int64_t ts[CK_MAX_OUTPUTS] = {0};
    bool fits = true;
    for (int k = 0; k < g->noutputs; k++) {
        ts[k] = target_sizes ? target_sizes[k] : 0;
        fits = fits && ts[k] <= p->target_size[k];
    }
    if (p->arena && p->nnodes == g->n && cap <= p->cap && (!training || p->training) && fits)
        return CKERAS_OK;
    if (p->arena) {
        /* grow to cover both the old and the new needs */
        if (p->cap > cap)
            cap = p->cap;
        training = training || p->training;
        for (int k = 0; k < g->noutputs; k++)
            if (p->target_size[k] > ts[k])
                ts[k] = p->target_size[k];
    }
    ckeras_status cst = check_batch_sizes(g, cap, ts);
    if (cst != CKERAS_OK)
        return cst;
    ck_plan np;
    memset(&np, 0, sizeof np);
    np.cap = cap;
    np.training = training;
    np.nnodes = g->n;
    memcpy(np.target_size, ts, sizeof ts);
    const size_t nn = (size_t)(g->n ? g->n : 1); /* per-node arrays: two of ints, five of bools */
    np.act = ck_calloc(4 * nn, sizeof(float *));
    np.consumers = ck_calloc(nn, 2 * sizeof(int) + 5 * sizeof(bool));
    if (!np.act || !np.consumers) {
        ck_free(np.act);
        ck_free(np.consumers);
        return CKERAS_ENOMEM;
    }
    np.pool_reader = np.consumers + nn;
    np.need_grad = (bool *)(np.pool_reader + nn);
    np.accumulate = np.need_grad + nn;
    np.live = np.accumulate + nn;
    np.relu_done = np.live + nn;
    np.pool_done = np.relu_done + nn;
    find_pool_readers(g, np.pool_reader);
    /* live: the node leads to a model output (an unread output of a layer with several, such as
     * an LSTM's c, does not); only live nodes are back-propagated and count as consumers */
    for (int k = 0; k < g->noutputs; k++)
        np.live[g->outputs[k]] = true;
    for (int i = g->n - 1; i >= 0; i--)
        for (int k = 0; np.live[i] && k < g->nodes[i].nin; k++)
            if (g->nodes[i].in[k] >= 0)
                np.live[g->nodes[i].in[k]] = true;
    int64_t wsc = 0; /* the largest shared layer's trainable weights */
    for (int i = 0; i < g->n; i++) {
        if (g->nodes[i].first_use || !np.live[i])
            continue; /* (a call that is not back-propagated writes no gradients to add to) */
        for (int j = 0; j < i; j++)
            if (g->nodes[j].layer == g->nodes[i].layer) {
                np.accumulate[j] = true; /* backward runs i before j */
                int64_t pc = ck_layer_param_count(g->nodes[i].layer, false);
                if (pc > wsc)
                    wsc = pc;
            }
    }
    np.dact = np.act + g->n;
    np.saved = np.act + 2 * g->n;
    np.mask = np.act + 3 * g->n;
    for (int i = 0; i < g->n; i++) {
        const ck_node *nd = &g->nodes[i];
        bool need = ck_layer_param_count(nd->layer, true) > 0;
        for (int k = 0; k < nd->nin; k++)
            if (nd->in[k] >= 0) {
                np.consumers[nd->in[k]] += np.live[i];
                need = need || np.need_grad[nd->in[k]];
            }
        np.need_grad[i] = need;
    }
    for (int k = 0; k < g->noutputs && g->n > 0; k++)
        np.consumers[g->outputs[k]]++;

    /* sizes in floats, each rounded up to 64 bytes */
    int64_t total = 0, work = 0;
    for (int j = 0; j < g->ninputs; j++)
        total = ck_size_add(total, round16(cap * ck_shape_size(&g->inputs[j])));
    for (int i = 0; i < g->n; i++) {
        const ckeras_layer *l = g->nodes[i].layer;
        int64_t out = round16(cap * ck_shape_size(&l->out_shape));
        total = ck_size_add(total, out * (training ? 2 : 1));
        if (l->vt->saved_floats)
            total = ck_size_add(total, round16(l->vt->saved_floats(l, cap)));
        total = ck_size_add(total, round16(ck_plan_mask_floats(g, i, cap)));
        if (l->vt->work_floats) {
            int64_t w = l->vt->work_floats(l, cap);
            if (w > work)
                work = w;
        }
    }
    /* scratch for input gradients that must be summed (a node read by several consumers) */
    int64_t gs = 0;
    for (int i = 0; training && i < g->n; i++) {
        int64_t need = 0;
        for (int k = 0; k < g->nodes[i].nin; k++) {
            int src = g->nodes[i].in[k];
            if (src >= 0 && np.consumers[src] > 1)
                need = ck_size_add(need, round16(cap * ck_shape_size(&g->nodes[src].layer->out_shape)));
        }
        if (need > gs)
            gs = need;
    }
    total = ck_size_add(ck_size_add(total, round16(work)), ck_size_add(gs, training ? round16(wsc) : 0));
    for (int k = 0; k < g->noutputs; k++)
        total = ck_size_add(total, round16(cap * ts[k]));
    /* the buffers passed the per-tensor check, their sum may pass the limit (not 2^48) */
    np.arena = ck_alloc_huge(total > CKERAS_MAX_SIZE_LIMIT ? SIZE_MAX : (size_t)total * sizeof(float));
    if (!np.arena) {
        ck_free(np.act);
        ck_free(np.consumers);
        return CKERAS_ENOMEM;
    }
    float *cur = np.arena;
    for (int j = 0; j < g->ninputs; j++) {
        np.x[j] = cur;
        cur += round16(cap * ck_shape_size(&g->inputs[j]));
    }
    for (int i = 0; i < g->n; i++) {
        const ckeras_layer *l = g->nodes[i].layer;
        int64_t out = round16(cap * ck_shape_size(&l->out_shape));
        np.act[i] = cur;
        cur += out;
        if (training) {
            np.dact[i] = cur;
            cur += out;
        }
        if (l->vt->saved_floats) {
            int64_t s = l->vt->saved_floats(l, cap);
            np.saved[i] = s ? cur : NULL;
            cur += round16(s);
        }
        int64_t mf = ck_plan_mask_floats(g, i, cap);
        np.mask[i] = mf ? cur : NULL;
        cur += round16(mf);
    }
    ck_plan_link_masks(g, &np);
    np.work = cur;
    cur += round16(work);
    for (int k = 0; k < g->noutputs; k++) {
        np.y_true[k] = cur;
        cur += round16(cap * ts[k]);
    }
    np.gscratch = gs ? cur : NULL;
    cur += gs;
    np.wscratch = training && wsc ? cur : NULL;
    static _Atomic uint64_t plans_made = 0;
    np.gen = atomic_fetch_add(&plans_made, 1) + 1;
    ck_plan_free(p);
    *p = np;
    return CKERAS_OK;
}

bool ck_graph_is_output(const ck_graph *g, int i)
{
    for (int k = 0; k < g->noutputs; k++)
        if (g->outputs[k] == i)
            return true;
    return false;
}

static const float *input_buf(const ck_plan *p, int src)
{
    return src < 0 ? p->x[-1 - src] : p->act[src];
}

void ck_graph_forward(const ck_graph *g, ck_plan *p, int64_t n, bool training, ck_rng *rng)
{
    memset(p->pool_done, 0, (size_t)g->n * sizeof *p->pool_done);
    for (int i = 0; i < g->n; i++) {
        const ck_node *nd = &g->nodes[i];
        const float *xs[CK_MAX_NODE_INPUTS], *ms[CK_MAX_NODE_INPUTS];
        for (int k = 0; k < nd->nin; k++) {
            xs[k] = input_buf(p, nd->in[k]);
            ms[k] = nd->in[k] >= 0 ? p->mask[nd->in[k]] : NULL;
        }
        ck_fwd f = {
            .n = n,
            .x = xs[0],
            .y = p->act[i],
            .saved = p->saved[i],
            .work = p->work,
            .training = training && !nd->inference && !nd->layer->call_inference,
            .rng = rng,
            .nin = nd->nin,
            .xs = xs,
            .mask = nd->in[0] >= 0 ? p->mask[nd->in[0]] : NULL,
            .mask_out = ck_plan_mask_floats(g, i, 1) ? p->mask[i] : NULL,
            .masks = ms,
        };
        const int j = p->pool_reader[i];
        if (j >= 0) { /* the pooling that reads this output alone may be done image by image here */
            f.pool = g->nodes[j].layer->vt->pool2x2(g->nodes[j].layer);
            f.pool_y = p->act[j];
            f.pool_arg = (int32_t *)p->saved[j];
            f.pool_done = &p->pool_done[j];
        }
        if (!p->pool_done[i])
            nd->layer->vt->forward(nd->layer, &f);
        const ckeras_layer *l = nd->layer;
        if (l->act_l1 != 0.0f || l->act_l2 != 0.0f) /* Keras adds it to the loss in training and evaluation */
            g->nodes[i].act_penalty =
                ck_l1l2_penalty(p->act[i], n * ck_shape_size(&l->out_shape), l->act_l1, l->act_l2);
    }
}

/* Offers node i the relu backward and bias gradient of the layer below it (ck_bwd.relu_below)
 * when that layer has them (ck_layer_vt.relu_bias) and node i's backward writes the whole of its
 * output gradient (i is its only reader: dx is that gradient itself), and nothing else joins
 * that gradient first: no activity penalty, no shared layer's sum. */
static void relu_below(const ck_graph *g, ck_plan *p, int i, float *dx, ck_bwd *b)
{
    const ck_node *nd = &g->nodes[i];
    const int src = nd->nin == 1 ? nd->in[0] : -1;
    if (src < 0 || !dx || dx != p->dact[src] || p->accumulate[src])
        return;
    const ckeras_layer *l = g->nodes[src].layer;
    float *db = NULL;
    if (!l->vt->relu_bias || l->act_l1 != 0.0f || l->act_l2 != 0.0f || !l->vt->relu_bias(l, &db))
        return;
    b->relu_below = true;
    b->relu_db = db;
    b->relu_done = &p->relu_done[src];
}

void ck_graph_backward(const ck_graph *g, ck_plan *p, int64_t n)
{
    memset(p->relu_done, 0, (size_t)g->n * sizeof *p->relu_done);
    /* gradients of nodes read several times are sums: start them at zero */
    for (int i = 0; i < g->n; i++)
        if (!ck_graph_is_output(g, i) && p->consumers[i] > 1)
            memset(p->dact[i], 0, (size_t)(n * ck_shape_size(&g->nodes[i].layer->out_shape)) * sizeof(float));
    for (int i = g->n - 1; i >= 0; i--) {
        const ck_node *nd = &g->nodes[i];
        ckeras_layer *l = nd->layer;
        if (!p->need_grad[i] || !p->live[i])
            continue; /* nothing at or before this node trains, or its output is not used */
        const float *xs[CK_MAX_NODE_INPUTS], *ms[CK_MAX_NODE_INPUTS];
        float *dxs[CK_MAX_NODE_INPUTS];
        float *scratch = p->gscratch;
        for (int k = 0; k < nd->nin; k++) {
            int src = nd->in[k];
            xs[k] = input_buf(p, src);
            ms[k] = src >= 0 ? p->mask[src] : NULL;
            dxs[k] = NULL;
            if (src >= 0 && p->need_grad[src]) {
                if (p->consumers[src] > 1) {
                    dxs[k] = scratch;
                    scratch += round16(n * ck_shape_size(&g->nodes[src].layer->out_shape));
                } else {
                    dxs[k] = p->dact[src];
                }
            }
        }
        ck_bwd b = {
            .n = n,
            .x = xs[0],
            .y = p->act[i],
            .dy = p->dact[i],
            .dx = dxs[0],
            .saved = p->saved[i],
            .work = p->work,
            .train_weights = l->trainable,
            .nin = nd->nin,
            .xs = xs,
            .dxs = dxs,
            .mask = nd->in[0] >= 0 ? p->mask[nd->in[0]] : NULL,
            .masks = ms,
            .relu_done_above = p->relu_done[i],
            /* not a layer called several times: each call adds to its weight gradients */
            .fuse = nd->first_use && !p->accumulate[i] ? p->fuse : NULL,
        };
        relu_below(g, p, i, dxs[0], &b);
        if (l->act_l1 != 0.0f || l->act_l2 != 0.0f) /* the activity penalty's gradient joins dL/dy */
            ck_l1l2_grad_add(p->dact[i], p->act[i], n * ck_shape_size(&l->out_shape), l->act_l1, l->act_l2);
        float *keep[CK_MAX_WEIGHTS];
        bool acc = p->accumulate[i] && l->trainable && p->wscratch;
        if (acc) { /* a later call of this layer wrote its gradients already: add to them */
            float *at = p->wscratch;
            for (int k = 0; k < l->nw; k++) {
                keep[k] = l->w[k].grad;
                if (keep[k]) {
                    l->w[k].grad = at;
                    memset(at, 0, (size_t)l->w[k].size * sizeof(float));
                    at += l->w[k].size;
                }
            }
        }
        l->vt->backward(l, &b);
        if (acc) {
            for (int k = 0; k < l->nw; k++) {
                if (!keep[k])
                    continue;
                const float *part = l->w[k].grad;
                for (int64_t e = 0; e < l->w[k].size; e++)
                    keep[k][e] += part[e];
                l->w[k].grad = keep[k];
            }
        }
        for (int k = 0; k < nd->nin; k++) {
            int src = nd->in[k];
            if (dxs[k] && src >= 0 && p->consumers[src] > 1) {
                float *acc = p->dact[src];
                int64_t m = n * ck_shape_size(&g->nodes[src].layer->out_shape);
                for (int64_t e = 0; e < m; e++)
                    acc[e] += dxs[k][e];
            }
        }
    }
}
