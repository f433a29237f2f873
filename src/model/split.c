/* The data-parallel training step.
 *
 * With T >= 2 threads, a training batch of n samples is cut into T consecutive parts, and
 * thread t runs the forward, the losses and the backward of part t through the whole model by
 * itself: its kernels run serially (ck_thread_serial). Thread 0 works in the model's own plan
 * and layers. Every other thread works in a plan of its own, on copies of the model's layers
 * (struct copies: the same weights and settings) whose weight gradients point into a gradient
 * buffer of that thread. After a barrier the threads add the parts' gradients into the model's
 * in thread order, each over its own share of the parameters; then the caller takes one
 * optimizer step as usual.
 *
 * Why: a small layer (LeNet's convolutions) split across two threads keeps both waiting at
 * every layer's end and halves each thread's share of every pass; two threads each with a half
 * batch run the whole step without meeting, the way two processes would. The forward alone
 * (predict, evaluate) runs in parts the same way.
 *
 * Which models: every layer treats the samples apart (ck_layer_vt.rows_apart) and nothing
 * couples the samples of a batch: no masks, no sample weights, no activity penalties or added
 * losses, no layer called twice. Others (BatchNormalization, for one) take the usual path.
 *
 * The results are the same as one thread's up to the order of sums: a weight gradient is the
 * sum of the parts' sums, and the loss the sum of the parts' losses. Random draws (Dropout)
 * come, for part 0, from the model's generator, for part t from a generator seeded by one draw
 * of it and t: the same seed and thread count give the same run. */
#include "model.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SPLIT_MAX 8       /* threads of a step (parts) at most */
#define SPLIT_MIN_ROWS 8  /* samples of a part at least */
/* Each thread reads every weight and the parts' gradients are summed, a pass over all weights
 * and more: it pays when each weight does several multiply-adds per sample (a convolution's
 * output positions), not for Dense layers (one each). Measured with 2 threads, in-process A/B
 * on fit: LeNet-5 b64 1.2-1.3x, the VGG-style net b32 1.09x; MLP 784-512-512-10 b128 0.87x, the
 * seed MLP b32 0.82-0.90x. */
#define SPLIT_MIN_REUSE 4.0

struct ck_split {
    int helpers;              /* threads besides the first that the buffers are for */
    int nnodes;
    uint64_t plan_gen;        /* the model plan they were made for */
    size_t n_params;
    ckeras_layer *layers;     /* helpers * nnodes copies of the model's layers */
    ck_node *nodes;           /* helpers * nnodes: the graph's nodes on those copies */
    ck_graph g[SPLIT_MAX - 1];
    ck_plan plan[SPLIT_MAX - 1];
    float *grads;             /* helpers * n_params */
};

static _Atomic int split_state = -1; /* -1: not read yet from CKERAS_SPLIT; 0 off; 1 on */

static bool split_enabled(void)
{
    int v = atomic_load(&split_state);
    if (v < 0) {
        const char *e = getenv("CKERAS_SPLIT");
        v = e && strcmp(e, "0") == 0 ? 0 : 1;
        atomic_store(&split_state, v);
    }
    return v == 1;
}

bool ck_split_set_enabled(bool on)
{
    bool was = split_enabled();
    atomic_store(&split_state, on ? 1 : 0);
    return was;
}

void ck_split_free(ck_split *s)
{
    if (!s)
        return;
    for (int h = 0; h < SPLIT_MAX - 1; h++)
        ck_plan_free(&s->plan[h]);
    ck_free(s->layers);
    ck_free(s->nodes);
    ck_free(s->grads);
    ck_free(s);
}

/* Whether this step of m may run in parts: see the top of the file. */
static bool splittable(const ckeras_model *m, bool train)
{
    const ck_graph *g = &m->g;
    const ck_plan *p = &m->plan;
    if (g->n == 0 || (train && (!p->training || !m->grads)))
        return false;
    double weights = 0, uses = 0; /* the layers' weights, and their multiply-adds per sample */
    for (int i = 0; i < g->n; i++) {
        const ckeras_layer *l = g->nodes[i].layer;
        const ck_shape *o = &l->out_shape;
        double positions = l->vt->weight_uses ? l->vt->weight_uses(l)
                           : o->ndim                ? (double)ck_shape_size(o) / (double)o->d[o->ndim - 1]
                                                    : 1.0;
        for (int k = 0; k < l->nw; k++) {
            weights += (double)l->w[k].size;
            uses += (double)l->w[k].size * positions;
        }
    }
    if (uses < SPLIT_MIN_REUSE * weights || weights == 0)
        return false;
    for (int i = 0; i < g->n; i++) {
        const ck_node *nd = &g->nodes[i];
        const ckeras_layer *l = nd->layer;
        if (!nd->first_use || p->accumulate[i] || p->mask[i] || !l->vt->rows_apart || !l->vt->rows_apart(l) ||
            l->vt->added_loss || l->act_l1 != 0.0f || l->act_l2 != 0.0f)
            return false;
        for (int k = 0; train && k < l->nw; k++) {
            const float *gk = l->w[k].grad;
            if (gk && (gk < m->grads || gk + l->w[k].size > m->grads + m->n_params))
                return false; /* its gradient lives in another model's buffer */
        }
    }
    for (int k = 0; train && k < g->noutputs; k++)
        if (m->has_loss[k] && m->sw_on[k])
            return false;
    return true;
}

/* Buffers for `helpers` threads besides the first, for m's current plan (gradients only for
 * training): kept while the plan is the same, made again when it was made again. false when
 * out of memory. */
static bool make_buffers(ckeras_model *m, int helpers, bool train)
{
    ck_split *s = m->split;
    if (s && s->plan_gen == m->plan.gen && s->helpers >= helpers && s->nnodes == m->g.n &&
        s->n_params == m->n_params && (s->grads || !train))
        return true;
    ck_split_free(s);
    m->split = s = ck_calloc(1, sizeof *s);
    if (!s)
        return false;
    size_t nn = (size_t)m->g.n * (size_t)helpers;
    s->layers = ck_calloc(nn, sizeof *s->layers);
    s->nodes = ck_calloc(nn, sizeof *s->nodes);
    s->grads = train ? ck_alloc_huge(ck_floats_bytes((int64_t)m->n_params * helpers)) : NULL; /* (n_params > 0) */
    if (!s->layers || !s->nodes || (train && !s->grads)) {
        ck_split_free(s);
        m->split = NULL;
        return false;
    }
    s->helpers = helpers;
    s->nnodes = m->g.n;
    s->plan_gen = m->plan.gen;
    s->n_params = m->n_params;
    return true;
}

/* Helper h's graph: the model's, on copies of its layers made now (so they see any change
 * since the last step: trainable flags, weights laid out again), whose weight gradients point
 * into helper h's buffer at the same offsets as the model's into its own (when training: the
 * model's are then in m->grads, splittable; none for the forward alone). */
static void sync_helper(ckeras_model *m, int h, bool train)
{
    ck_split *s = m->split;
    ckeras_layer *ls = s->layers + (size_t)h * (size_t)s->nnodes;
    ck_node *ns = s->nodes + (size_t)h * (size_t)s->nnodes;
    float *grads = s->grads + (size_t)h * s->n_params;
    for (int i = 0; i < m->g.n; i++) {
        ls[i] = *m->g.nodes[i].layer;
        for (int k = 0; k < ls[i].nw; k++)
            if (ls[i].w[k].grad)
                ls[i].w[k].grad = train ? grads + (ls[i].w[k].grad - m->grads) : NULL;
        ns[i] = m->g.nodes[i];
        ns[i].layer = &ls[i];
    }
    s->g[h] = m->g;
    s->g[h].nodes = ns;
    s->g[h].cap = m->g.n;
}

typedef struct split_ctx {
    ckeras_model *m;
    int64_t n;
    int parts;    /* the parts the buffers were made for */
    bool train;   /* forward, losses and backward; false: the forward alone, inference mode */
    uint64_t seed;
    double loss[SPLIT_MAX][CK_MAX_OUTPUTS]; /* part t's sum of output k's losses */
} split_ctx;

/* Part t: forward, losses and backward of its samples, or its forward alone. */
static void run_part(split_ctx *c, int t)
{
    ckeras_model *m = c->m;
    ck_split *s = m->split;
    int64_t a, b;
    ck_par_range(c->n, t, c->parts, &a, &b);
    int64_t n = b - a;
    const ck_graph *g = t ? &s->g[t - 1] : &m->g;
    ck_plan *p = t ? &s->plan[t - 1] : &m->plan;
    ck_rng own, *rng = &m->rng; /* (inference draws nothing) */
    if (t) { /* the part's inputs and targets, and the outputs the metrics read: the model plan's rows */
        ck_rng_seed(&own, c->seed + (uint64_t)t);
        rng = &own;
        for (int j = 0; j < g->ninputs; j++)
            p->x[j] = m->plan.x[j] + a * ck_shape_size(&g->inputs[j]);
        for (int k = 0; k < g->noutputs; k++) {
            int node = g->outputs[k];
            p->act[node] = m->plan.act[node] + a * ck_shape_size(&g->nodes[node].layer->out_shape);
        }
    }
    ck_graph_forward(g, p, n, c->train, rng);
    if (!c->train)
        return;
    for (int k = 0; k < g->noutputs; k++) {
        int node = g->outputs[k];
        const ck_shape *out = &g->nodes[node].layer->out_shape;
        float *grad = p->dact[node];
        if (!m->has_loss[k]) {
            memset(grad, 0, (size_t)(n * ck_shape_size(out)) * sizeof(float));
            continue;
        }
        int64_t cols = out->d[out->ndim - 1];
        int64_t rows = n * ck_shape_size(out) / cols, all_rows = c->n * ck_shape_size(out) / cols;
        c->loss[t][k] = ck_loss_compute(&m->loss[k], m->plan.y_true[k] + a * m->target_size[k], p->act[node],
                                        rows, cols, grad, (float)m->loss_weight[k] / (float)all_rows, NULL);
    }
    ck_graph_backward(g, p, n);
}

/* Thread t of T runs parts t, t + T, ... (one each, unless OpenMP gave fewer threads than
 * asked: a part's buffers, generator and rows are the part's, whichever thread runs it); then,
 * when training, its share of the sum of the parts' gradients. */
static void split_part(void *vctx, int t, int T)
{
    split_ctx *c = vctx;
    ckeras_model *m = c->m;
    bool was = ck_thread_serial(true);
    for (int part = t; part < c->parts; part += T)
        run_part(c, part);
    if (c->train) {
#pragma omp barrier
        int64_t ga, gb;
        ck_par_range((int64_t)m->n_params, t, T, &ga, &gb);
        for (int h = 0; h < c->parts - 1; h++) {
            const float *restrict part = m->split->grads + (size_t)h * m->split->n_params;
            float *restrict sum = m->grads;
#pragma omp simd
            for (int64_t e = ga; e < gb; e++)
                sum[e] += part[e];
        }
    }
    ck_thread_serial(was);
}

/* Threads for a step of n samples, with the helpers' layers and plans ready; 0: no split. */
static int prepare(ckeras_model *m, int64_t n, bool train)
{
    int T = ck_num_threads();
    if (T > SPLIT_MAX)
        T = SPLIT_MAX;
    if (n / SPLIT_MIN_ROWS < T)
        T = (int)(n / SPLIT_MIN_ROWS);
    if (T < 2 || !split_enabled() || !splittable(m, train) || !make_buffers(m, T - 1, train))
        return 0;
    ck_split *s = m->split;
    int64_t part = (n + T - 1) / T;
    for (int h = 0; h < T - 1; h++) {
        sync_helper(m, h, train);
        if (ck_plan_ensure(&s->plan[h], &s->g[h], part, train, NULL) != CKERAS_OK)
            return 0; /* out of memory: the usual path */
    }
    return T;
}

bool ck_split_forward(ckeras_model *m, int64_t n)
{
    int T = prepare(m, n, false);
    if (!T)
        return false;
    split_ctx c = {.m = m, .n = n, .parts = T, .train = false};
    ck_parallel(T, split_part, &c);
    return true;
}

bool ck_split_train(ckeras_model *m, int64_t n, double *loss)
{
    int T = prepare(m, n, true);
    if (!T)
        return false;
    split_ctx c = {.m = m, .n = n, .parts = T, .train = true, .seed = ck_rng_u64(&m->rng)};
    ck_parallel(T, split_part, &c);
    /* the mean loss of each output over the whole batch, as forward_losses (fit.c) makes it */
    double sum = 0;
    for (int k = 0; k < m->g.noutputs; k++) {
        if (!m->has_loss[k])
            continue;
        const ck_shape *out = &m->g.nodes[m->g.outputs[k]].layer->out_shape;
        double parts = 0;
        for (int t = 0; t < T; t++)
            parts += c.loss[t][k];
        double lk = parts / (double)(n * ck_shape_size(out) / out->d[out->ndim - 1]);
        m->out_loss_sum[k] += lk * (double)n;
        sum += m->loss_weight[k] * lk;
    }
    *loss = sum;
    return true;
}
