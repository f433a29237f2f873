/* Graph bookkeeping and the execution plan: one arena, carved once per batch capacity. */
#include "graph.h"

#include <string.h>

ckeras_status ck_graph_append(ck_graph *g, ckeras_layer *l, int nin, const int *in)
{
    if (g->n == g->cap) {
        int cap = g->cap ? g->cap * 2 : 8;
        ck_node *nodes = ck_realloc(g->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes)
            return CKERAS_ENOMEM;
        g->nodes = nodes;
        g->cap = cap;
    }
    ck_node *nd = &g->nodes[g->n];
    memset(nd, 0, sizeof *nd);
    nd->layer = l;
    nd->nin = nin;
    for (int k = 0; k < nin; k++)
        nd->in[k] = in[k];
    g->output = g->n;
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
    memset(p, 0, sizeof *p);
}

static int64_t round16(int64_t n)
{
    return (n + 15) & ~(int64_t)15;
}

ckeras_status ck_plan_ensure(ck_plan *p, const ck_graph *g, int64_t cap, bool training, int64_t target_size)
{
    if (p->arena && p->nnodes == g->n && cap <= p->cap && (!training || p->training) &&
        target_size <= p->target_size)
        return CKERAS_OK;
    if (p->arena) {
        /* grow to cover both the old and the new needs */
        if (p->cap > cap)
            cap = p->cap;
        training = training || p->training;
        if (p->target_size > target_size)
            target_size = p->target_size;
    }
    ck_plan np;
    memset(&np, 0, sizeof np);
    np.cap = cap;
    np.training = training;
    np.nnodes = g->n;
    np.target_size = target_size;
    np.act = ck_calloc((size_t)(3 * (g->n ? g->n : 1)), sizeof(float *));
    if (!np.act)
        return CKERAS_ENOMEM;
    np.dact = np.act + g->n;
    np.saved = np.act + 2 * g->n;

    /* sizes in floats, each rounded up to 64 bytes */
    int64_t total = 0, work = 0;
    for (int j = 0; j < g->ninputs; j++)
        total += round16(cap * ck_shape_size(&g->inputs[j]));
    for (int i = 0; i < g->n; i++) {
        const ckeras_layer *l = g->nodes[i].layer;
        int64_t out = round16(cap * ck_shape_size(&l->out_shape));
        total += out * (training ? 2 : 1);
        if (l->vt->saved_floats)
            total += round16(l->vt->saved_floats(l, cap));
        if (l->vt->work_floats) {
            int64_t w = l->vt->work_floats(l, cap);
            if (w > work)
                work = w;
        }
    }
    total += round16(work) + round16(cap * target_size);
    np.arena = ck_alloc_aligned((size_t)total * sizeof(float));
    if (!np.arena) {
        ck_free(np.act);
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
    }
    np.work = cur;
    cur += round16(work);
    np.y_true = cur;
    ck_plan_free(p);
    *p = np;
    return CKERAS_OK;
}

static const float *input_of(const ck_graph *g, const ck_plan *p, int i)
{
    int src = g->nodes[i].in[0];
    return src < 0 ? p->x[-1 - src] : p->act[src];
}

void ck_graph_forward(const ck_graph *g, ck_plan *p, int64_t n, bool training, ck_rng *rng)
{
    for (int i = 0; i < g->n; i++) {
        ckeras_layer *l = g->nodes[i].layer;
        ck_fwd f = {
            .n = n,
            .x = input_of(g, p, i),
            .y = p->act[i],
            .saved = p->saved[i],
            .work = p->work,
            .training = training,
            .rng = rng,
        };
        l->vt->forward(l, &f);
    }
}

/* Whether anything before node i has weights to train (else its input gradient is unused). */
static bool needs_dx(const ck_graph *g, int i)
{
    for (int j = 0; j < i; j++) {
        const ckeras_layer *l = g->nodes[j].layer;
        if (ck_layer_param_count(l, true) > 0)
            return true;
    }
    return false;
}

void ck_graph_backward(const ck_graph *g, ck_plan *p, int64_t n)
{
    for (int i = g->n - 1; i >= 0; i--) {
        ckeras_layer *l = g->nodes[i].layer;
        int src = g->nodes[i].in[0];
        ck_bwd b = {
            .n = n,
            .x = input_of(g, p, i),
            .y = p->act[i],
            .dy = p->dact[i],
            .dx = src >= 0 && needs_dx(g, i) ? p->dact[src] : NULL,
            .saved = p->saved[i],
            .work = p->work,
            .train_weights = l->trainable,
        };
        l->vt->backward(l, &b);
    }
}
