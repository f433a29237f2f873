/* src/graph: the internal graph of layer calls, shape inference, and the execution plan that
 * owns every activation, gradient and workspace buffer. */
#ifndef CK_GRAPH_H
#define CK_GRAPH_H

#include "layers/layers.h"

#define CK_MAX_NODE_INPUTS 8

/* One layer call. in[k] is the producing node, or -1 - j for model input j. */
typedef struct ck_node {
    ckeras_layer *layer;
    int nin;
    int in[CK_MAX_NODE_INPUTS];
    uint32_t none;      /* bit k: axis k of its per-sample output is variable (Keras' None) */
} ck_node;

/* Nodes are kept in topological order (a Sequential model is a chain). */
typedef struct ck_graph {
    int n, cap;
    ck_node *nodes;
    int ninputs;
    ck_shape inputs[CK_MAX_NODE_INPUTS]; /* per-sample shapes of the model inputs */
    int output;                          /* node whose output is the model output */
    uint32_t none[CK_MAX_NODE_INPUTS];   /* bit k: axis k of input j is variable (Keras' None);
                                            inputs[j] holds its current length (varlen.c) */
} ck_graph;

ckeras_status ck_graph_append(ck_graph *g, ckeras_layer *l, int nin, const int *in);
void ck_graph_free(ck_graph *g); /* frees the nodes, not the layers */
/* Per-sample shape of what node i reads (its first input). */
const ck_shape *ck_graph_input_shape(const ck_graph *g, int i);

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
    float *y_true;      /* (cap, target_size) */
    int64_t target_size;
    int *consumers;     /* per node: how many node inputs read it (the model output counts once) */
    bool *need_grad;    /* per node: something at or before it has trainable weights */
    float *gscratch;    /* input gradients of nodes read by several consumers, summed afterwards */
    float **mask;       /* mask[i]: Keras' mask of node i's output (n, steps), or NULL (mask.c) */
} ck_plan;

/* (Re)builds the plan when cap, training or target size grew; a no-op otherwise. */
ckeras_status ck_plan_ensure(ck_plan *p, const ck_graph *g, int64_t cap, bool training, int64_t target_size);
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
/* Back-propagates from p->dact[g->output] (set by the loss), writing weight gradients of
 * trainable layers. */
void ck_graph_backward(const ck_graph *g, ck_plan *p, int64_t n);

#endif
