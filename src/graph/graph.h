/* src/graph: the internal graph of layer calls, shape inference, and the execution plan that
 * owns every activation, gradient and workspace buffer. */
#ifndef CK_GRAPH_H
#define CK_GRAPH_H

#include "layers/layers.h"

#define CK_MAX_NODE_INPUTS 8
#define CK_MAX_OUTPUTS 32
/* Layer calls (nodes) in one model: keeps every count and doubling of node arrays far from int
 * overflow (ResNet152 has ~500). */
#define CK_MAX_NODES (1 << 20)

/* One layer call. in[k] is the producing node, or -1 - j for model input j. */
typedef struct ck_node {
    ckeras_layer *layer;
    int nin;
    int in[CK_MAX_NODE_INPUTS];
    bool first_use;  /* no earlier node calls the same layer (a shared layer's later calls: false);
                        weights are counted, laid out and saved at the first use only */
    bool inference;  /* this call runs in inference mode even in fit (Keras' training=False on the
                        call, or inside a model called with training=False) */
    int group;       /* index of the nested-model call it belongs to (ckeras_model.groups), -1 */
    uint32_t none;      /* bit k: axis k of its per-sample output is variable (Keras' None) */
    double act_penalty; /* its layer's activity_regularizer on this call's output, from the last
                           forward (0 without one) */
} ck_node;

/* Nodes are kept in topological order (a Sequential model is a chain). */
typedef struct ck_graph {
    int n, cap;
    ck_node *nodes;
    int ninputs;
    ck_shape inputs[CK_MAX_NODE_INPUTS]; /* per-sample shapes of the model inputs */
    int noutputs;                        /* the model outputs: outputs[k] is the node whose output */
    int outputs[CK_MAX_OUTPUTS];         /* is model output k (distinct nodes) */
    uint32_t none[CK_MAX_NODE_INPUTS];   /* bit k: axis k of input j is variable (Keras' None);
                                            inputs[j] holds its current length (varlen.c) */
} ck_graph;

/* Appends a node. The new node becomes the only output unless keep_outputs (functional models
 * whose outputs are declared). */
ckeras_status ck_graph_append(ck_graph *g, ckeras_layer *l, int nin, const int *in, bool keep_outputs);
void ck_graph_free(ck_graph *g); /* frees the nodes, not the layers */
/* Per-sample shape of what node i reads (its first input). */
const ck_shape *ck_graph_input_shape(const ck_graph *g, int i);
/* A hidden node: output k of a layer with several outputs (take.c). Files, summary and the
 * layer lists do not show it; a file refers to it as (producer, 0, k). */
static inline bool ck_node_hidden(const ck_node *nd)
{
    return nd->layer->vt == &ck_take_vt;
}
/* Whether node i is one of the model outputs. */
bool ck_graph_is_output(const ck_graph *g, int i);

/* Variable (None) axes (varlen.c). The placeholder length a None axis of a new input has (long
 * enough for the kernels and downsampling of the layers that follow). */
#define CK_NONE_PLACEHOLDER 256
/* Finds which axes of node i's output vary with the None axes of its inputs (nd->none), by
 * building its layer once more for other lengths of those axes, keeping its weights. */
ckeras_status ck_graph_find_none(ck_graph *g, int i);
/* The None bits of what node i's input k reads. */
uint32_t ck_graph_src_none(const ck_graph *g, int src);
/* Gives the inputs new shapes (other lengths on their None axes) and builds again every node
 * they reach, keeping the weights; on failure every shape is as before. *changed tells whether
 * any shape changed (the plan must then be made again). */
ckeras_status ck_graph_set_inputs(ck_graph *g, const ck_shape *ins, bool *changed);

/* Buffers for batches of up to cap samples, made once and reused by every step. */
typedef struct ck_plan {
    int64_t cap;        /* batch capacity; 0 when not built */
    bool training;      /* gradient buffers present */
    int nnodes;
    float *arena;
    float *x[CK_MAX_NODE_INPUTS]; /* (cap, input j) model inputs */
    float **act;        /* act[i]: (cap, node i output) */
    float **dact;       /* dact[i]: dL/d act[i], when training */
    float **saved;      /* per node, saved from forward to backward */
    float *work;        /* shared scratch */
    float *y_true[CK_MAX_OUTPUTS]; /* (cap, target_size[k]) targets of output k */
    int64_t target_size[CK_MAX_OUTPUTS];
    int *consumers;     /* per node: how many node inputs read it (a model output counts once) */
    bool *need_grad;    /* per node: something at or before it has trainable weights */
    float *gscratch;    /* input gradients of nodes read by several consumers, summed afterwards */
    bool *accumulate;   /* per node: a later node calls the same layer, so this call's weight
                           gradients are added to that one's (shared layers) */
    float *wscratch;    /* weight gradients of such a call before they are added */
    bool *live;         /* per node: its output leads to a model output */
    bool *relu_done;    /* per node, during a backward: its reader did its relu's backward and
                           bias gradient (ck_bwd.relu_below) */
    int *pool_reader;   /* per node: the first later node that is a 2x2 stride-2 max pooling of
                           its output alone (ck_layer_vt.pool2x2), or -1 */
    bool *pool_done;    /* per node, during a forward: the layer below made its output
                           (ck_fwd.pool) */
    float **mask;       /* mask[i]: Keras' mask of node i's output (n, steps), or NULL (mask.c) */
    struct ck_opt_fuse *fuse; /* during a training step's backward: the optimizer's offer to
                               * update weights in it (ck_bwd.fuse), or NULL */
    uint64_t gen;       /* a number no other plan made in this process had (0: none made yet):
                           what was derived from a plan (split.c) knows when it was made again */
} ck_plan;

/* (Re)builds the plan when cap, training or a target size grew; a no-op otherwise. target_sizes:
 * per-sample target floats of each model output (g->noutputs of them), or NULL for none. */
ckeras_status ck_plan_ensure(ck_plan *p, const ck_graph *g, int64_t cap, bool training,
                             const int64_t *target_sizes);
void ck_plan_free(ck_plan *p);
/* Keras' masks (mask.c): the floats of the mask node i makes (CK_MASK_MAKE) for cap samples, 0
 * when it makes none; and p->mask of the other nodes (their input's mask when they pass it on,
 * NULL when they drop it), once the plan holds the masks the nodes make. */
int64_t ck_plan_mask_floats(const ck_graph *g, int i, int64_t cap);
void ck_plan_link_masks(const ck_graph *g, ck_plan *p);
/* Whether what node src makes (src < 0: a model input) carries a mask, and the mask's values
 * per sample (0: none). */
bool ck_graph_node_has_mask(const ck_graph *g, int src);
int64_t ck_graph_mask_steps(const ck_graph *g, int src);
/* Runs every node on the first n samples in p->x. */
void ck_graph_forward(const ck_graph *g, ck_plan *p, int64_t n, bool training, ck_rng *rng);
/* Back-propagates from p->dact[g->outputs[k]] (set by the losses; an output without a loss has
 * a zero gradient), writing weight gradients of trainable layers. */
void ck_graph_backward(const ck_graph *g, ck_plan *p, int64_t n);

#endif
