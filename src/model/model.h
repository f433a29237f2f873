/* src/model: models (Sequential now, Functional later), weights layout, compile, the
 * fit/evaluate/predict loops, summary. */
#ifndef CK_MODEL_H
#define CK_MODEL_H

#include "callbacks/callbacks.h"
#include "graph/graph.h"
#include "losses/losses.h"
#include "metrics/metrics.h"
#include "optimizers/optimizers.h"

#define CK_MAX_METRICS 16

/* A model called as a layer inside this one (Keras `y = base(x, training=False)`): its nodes
 * are copied into this model's graph (sharing its layers and weights) as the consecutive nodes
 * first .. first + count - 1; summary shows them as one row and saving writes one nested
 * model layer. */
typedef struct ck_group {
    ckeras_model *model; /* the called model (a reference: ck_model_free of it waits for ours) */
    int first, count;
    int nin;
    int in[CK_MAX_NODE_INPUTS]; /* the graph sources of its inputs (node, or -1 - model input) */
    int out_node[CK_MAX_OUTPUTS]; /* our node of each of its outputs */
    int nout;
    bool inference;             /* called with training=False */
} ck_group;

struct ckeras_model {
    char name[CK_NAME_MAX];
    bool functional;
    bool has_input;
    ckeras_layer *input_layers[CK_MAX_NODE_INPUTS]; /* InputLayer of each model input (may be NULL
                                                         for a Sequential built without Input) */
    ck_graph g;
    /* functional models: public ids of symbolic tensors; ids[k] >= 0 is a node, < 0 an input */
    int *ids;
    int nids, capids;
    bool outputs_set;
    ckeras_status call_status; /* why the last ck_model_call / ck_model_input failed */
    ck_rng rng;
    /* weights: trainable ones (and their gradients) in one buffer, the others in another */
    float *params, *grads, *state;
    size_t n_params, n_state;
    size_t *var_off; /* trainable variable v is params[var_off[v] .. var_off[v+1]) */
    int nvars;
    /* Until compile lays them out, the weights of layers added since live in per-layer blocks
     * (ckeras_layer.wblock) and params/n_params cover only the layers laid out before. */
    int layout_passes; /* how many times ck_model_layout ran (tests: loading is linear) */
    bool defer_init;   /* a loader gives every weight its values: ck_model_attach allocates none */
    /* compile */
    bool compiled;
    ckeras_optimizer *opt;
    /* per model output (g.outputs order): its loss (has_loss false: the output is not trained,
     * as Keras' loss None for it) and weight in the total loss (Keras' loss_weights) */
    ck_loss loss[CK_MAX_OUTPUTS];
    bool has_loss[CK_MAX_OUTPUTS];
    double loss_weight[CK_MAX_OUTPUTS];
    int nmetrics;
    char metric_specs[CK_MAX_METRICS][CK_LOG_NAME];
    int metric_out[CK_MAX_METRICS]; /* the output metric i is computed on */
    ck_metric metrics[CK_MAX_METRICS];
    ck_tree *metric_cfg[CK_MAX_METRICS]; /* a metric given as a Keras config (its full form), owned;
                                            NULL for one given by name */
    bool metrics_resolved;
    ck_plan plan;
    int64_t target_size[CK_MAX_OUTPUTS];
    /* running sums since the last reset (each epoch, evaluate; train_on_batch reports running
     * means since the last fit/evaluate, as Keras 3 does): total loss, each output's loss */
    double tob_loss_sum;
    double out_loss_sum[CK_MAX_OUTPUTS];
    int64_t tob_seen;
    _Atomic int busy; /* 1 while fit/evaluate/predict/train_on_batch/save runs (model_api.c) */
    int refs;         /* models that call this one as a layer (its free waits for them) */
    ck_group *groups; /* models called as layers in this one */
    int ngroups;
    bool frozen;      /* ckeras_model_set_trainable(m, 0): saved as "trainable": false */
    /* sample weights (sample_weight.c): metric i sees them (Keras' weighted_metrics); the batch's
     * weights per output (sw_on[k]: gathered for output k) and per-row losses, sized before the
     * first step */
    bool metric_weighted[CK_MAX_METRICS];
    bool sw_on[CK_MAX_OUTPUTS];
    float *sw_buf, *row_buf;
    int64_t sw_cap, row_cap; /* rows of each output's weights in sw_buf (sw_nout of them), per-row losses */
    int sw_nout;
    struct ck_split *split; /* the data-parallel step's buffers (split.c), NULL until one ran */
};

/* The data-parallel training step (split.c): the forward, losses and backward of the n samples
 * gathered in m's plan, on ck_num_threads() threads each with its own part of the batch, when m
 * and the thread count allow it. Then the weight gradients of the parts are summed in
 * m->grads, the outputs of every sample are in the plan (for the metrics), each output's
 * mean loss times n is added to out_loss_sum, *loss is the weighted sum of the outputs' mean
 * losses, and it returns true. false: nothing was done (the caller takes the usual path). */
typedef struct ck_split ck_split;
bool ck_split_train(ckeras_model *m, int64_t n, double *loss);
/* The forward alone in inference mode (evaluate, predict), the same way: every sample's outputs
 * in the plan; on AVX-512 CPUs the same bits as one forward on the whole batch (each row of a
 * product is summed in the same order at any batch size). false: nothing was done. */
bool ck_split_forward(ckeras_model *m, int64_t n);
void ck_split_free(ck_split *s);
/* Turns the data-parallel step on (the default, unless CKERAS_SPLIT=0 is in the environment) or
 * off; returns the previous setting (tests and benchmarks compare the two). */
bool ck_split_set_enabled(bool on);

/* Whether every weight of m lives in m's buffers (else a model sharing its layers laid them
 * out last, and m lays them out again before training). */
bool ck_model_owns_weights(const ckeras_model *m);
bool ck_model_has_layer(const ckeras_model *m, const ckeras_layer *l);
/* Calls model inner as a layer on tensors ids (Keras `inner(x, training=...)`; training -1: not
 * given, 0: False, 1: True). Returns the tensor id of its first output (the others follow), or
 * -1 with the error set. inner is referenced, not taken. */
int ck_model_call_model(ckeras_model *m, ckeras_model *inner, int nin, const int *ids, int training);
/* A tensor id of m for graph source src (node >= 0, or -1 - j for input j), made if needed. */
int ck_model_tensor_id(ckeras_model *m, int src);
/* Keras `Model(src.inputs, [outputs])`: a new functional model sharing src's layers from tensor
 * ids of src (inputs must be src's model inputs). */
ckeras_model *ck_model_from_tensors(ckeras_model *src, int nin, const int *inputs, int nout, const int *outputs,
                                    const char *name);
/* The same from graph sources of src; an input that is a node output becomes a fresh InputLayer
 * of its shape, named in_names[j] when given and free. */
ckeras_model *ck_model_from_sources(ckeras_model *src, int nin, const int *isrc, const char *const *in_names,
                                    int nout, const int *osrc, const char *name);

/* Lays the weights out again (at compile and pop) in one trainable and one non-trainable
 * buffer, keeping the values of existing weights and initialising any without values from the
 * model's generator. */
ckeras_status ck_model_layout(ckeras_model *m);
/* Gives a layer joining m (add, call) a block of its own for its weights, initialised from the
 * model's generator: cost in the size of that layer only. */
ckeras_status ck_model_attach(ckeras_model *m, ckeras_layer *l);
ckeras_status ck_model_add(ckeras_model *m, ckeras_layer *l);
ckeras_status ck_model_pop(ckeras_model *m);
/* Functional models. Each returns a tensor id >= 0, or -1 with the error set. */
ckeras_model *ck_functional_new(const char *name);
int ck_model_input(ckeras_model *m, ckeras_layer *input);
int ck_model_call(ckeras_model *m, ckeras_layer *l, int nin, const int *ids);
ckeras_status ck_model_set_outputs(ckeras_model *m, int n, const int *ids);
bool ck_model_name_taken(const ckeras_model *m, const char *name, const ckeras_layer *except);
void ck_model_auto_name(const ckeras_model *m, ckeras_layer *l);
/* Variable-length (None) axes (varlen.c). A shape from an Input config (negative: None, given
 * the placeholder length) and its None bits; the None bits of node i's output (after it joined
 * the graph); whether any input has a None axis; and, before a call on data xs, the model built
 * for the lengths of xs on its None axes (the plan freed when that changed anything). */
ckeras_status ck_model_shape_from_config(const ck_value *s, const char *what, ck_shape *in, uint32_t *none);
ckeras_status ck_model_node_none(ckeras_model *m, int i);
bool ck_model_has_none(const ckeras_model *m);
ckeras_status ck_model_match_lengths(ckeras_model *m, int nin, const ckeras_tensor *const *xs, const char *what);
/* When model output k carries Keras' mask (one value per row of its last axis), the mean loss
 * of the batch of n samples in the plan as Keras 3 computes it: the kept rows' losses summed over
 * (kept rows + 1e-7); their gradient, scaled so and by weight, in grad (when not NULL; masked rows get 0).
 * false (nothing done) when the output has no such mask. Keras 3's compiled metrics ignore the
 * mask (they see every row). */
bool ck_model_masked_loss(ckeras_model *m, int k, int64_t n, int64_t rows, int64_t cols, int64_t true_cols,
                          float weight, float *grad, double *mean);
/* Sample weights (sample_weight.c). Checks d's weights (count, shapes (N,) or (N, 1), or one per
 * row of the output (Keras' temporal weights), finite and >= 0); the buffers for batches of cap
 * samples (a weight per row of each output, and per-row losses); gathers the weights of samples
 * idx[start..start+n) (idx NULL: consecutive) into them (sw_on all false when d has none); output
 * k's weighted mean loss (Keras' sum_over_batch_size: the weighted sum over the number of rows;
 * masked outputs: over the kept rows + 1e-7) with its gradient scaled by weight into grad (may be
 * NULL); a weighted metric's update; the per-sample weights of class_weight (dense: weight of
 * class c is cw[c], c < ncw, else 1) for the targets of d, in a new (N,) tensor; and
 * ckeras_model_set_weighted_metrics' body. */
struct ck_data;
ckeras_status ck_model_check_weights(const ckeras_model *m, const struct ck_data *d, const char *what);
ckeras_status ck_model_weight_buffers(ckeras_model *m, int64_t cap); /* only when weights are given */
void ck_model_gather_weights(ckeras_model *m, const struct ck_data *d, const int64_t *idx, int64_t start, int64_t n);
double ck_model_weighted_loss(ckeras_model *m, int k, int64_t n, int64_t rows, int64_t cols, int64_t true_cols,
                              float weight, float *grad);
void ck_model_metric_update(ckeras_model *m, int i, int64_t n, int64_t rows, int64_t cols, int64_t true_cols);
ckeras_status ck_model_class_weights(const ckeras_model *m, const struct ck_data *d, const double *cw, int64_t ncw,
                                     ckeras_tensor **out);
ckeras_status ck_model_set_weighted_metrics(ckeras_model *m, const char *output, const char *metrics);
/* The names of the metrics in logs (Keras 3: "<output>_" on models with several outputs; a
 * weighted metric whose name is taken is "weighted_<name>"). */
const char *ck_model_metric_name(const ckeras_model *m, int i, char *buf, size_t n);
/* The regularization penalty of the trainable weights (added to the loss, as Keras does);
 * with add_grads, its gradient is added to the weights' gradients. The activity penalties of the
 * last forward are added too (their gradients come with the backward). */
double ck_model_regularization(ckeras_model *m, bool add_grads);
/* Its two parts: the activity regularizers and added losses of the last forward (data-dependent;
 * their gradients come with the backward), and the weights' L1/L2 penalties (adding their
 * gradients when add_grads). */
double ck_model_activity_penalty(const ckeras_model *m);
double ck_model_weight_penalty(ckeras_model *m, bool add_grads);
/* Applies the weight constraints (Keras' kernel_constraint & co.) to the trainable weights, as
 * Keras' optimizer does after each update. */
void ck_model_apply_constraints(ckeras_model *m);
/* One loss (and metrics list) for every output. */
ckeras_status ck_model_compile(ckeras_model *m, ckeras_optimizer *opt, const char *loss, const char *metrics);
/* Per-output compile: n entries; entry k is for the output whose layer is named names[k] (names
 * NULL: output k); losses[k] NULL means no loss for it; weights NULL: all 1; metrics NULL or
 * one comma-separated list (or NULL) per entry. Outputs without an entry get no loss. */
ckeras_status ck_model_compile_outputs(ckeras_model *m, ckeras_optimizer *opt, int n, const char *const *names,
                                       const char *const *losses, const double *weights,
                                       const char *const *metrics);
/* Adds a metric to compiled m: cfg a Keras serialised metric (ck_metric_from_tree; copied), or
 * when NULL, name as in compile's lists. Output k, or k -1: every output with a loss (with one
 * output: that one). It comes after the metrics of its output (Keras' order, by output). On
 * failure m is unchanged. */
ckeras_status ck_model_add_metric(ckeras_model *m, int k, const ck_tree *cfg, const char *name);
/* The name of output k in logs and configs: its layer's name. */
const char *ck_model_output_name(const ckeras_model *m, int k);
/* Values evaluate and train_on_batch report: the loss, each output's loss (several outputs),
 * then the metrics. */
int ck_model_result_count(const ckeras_model *m);
const char *ck_model_result_name(const ckeras_model *m, int i, char *buf, size_t n);

/* The data of one call: a tensor per model input and per output (targets; y[k] may be NULL
 * for an output without a loss; ny 0 for predict). */
typedef struct ck_data {
    int nx, ny;
    const ckeras_tensor *x[CK_MAX_NODE_INPUTS];
    const ckeras_tensor *y[CK_MAX_OUTPUTS];
    /* sample weights (Keras' sample_weight): nw 0 none, 1 one (N,) vector for every output, or
     * one per output (w[k] NULL: weight 1 for output k) */
    int nw;
    const ckeras_tensor *w[CK_MAX_OUTPUTS];
    /* a data source (source.c): x and y are then its shape-only tensors (data NULL) and the
     * samples come from its fill function */
    ckeras_data_source *src;
} ck_data;
/* A data source (source.c). hx/hy are shape-only tensors (data NULL, shape (n, ...)) that let the
 * checks of the array path read the source's shapes; seq is scratch for consecutive indices. */
struct ckeras_data_source {
    int64_t n;
    int nx, ny;
    ckeras_tensor hx[CK_MAX_NODE_INPUTS], hy[CK_MAX_OUTPUTS];
    ckeras_data_fill_fn fill;
    void *user;
    ckeras_data_free_fn free_user;
    int64_t *seq;
    int64_t seq_cap;
    /* labelled sources: class names; sources of files: one path per sample (owned by user) */
    int nclasses;
    char **class_names;
    const char *(*file_path)(void *user, int64_t i);
};
/* d for a source (targets: its targets too). */
void ck_data_from_source(ck_data *d, ckeras_data_source *src, bool targets);
/* Fills the plan's buffers with samples idx[start .. start+n) (idx NULL: start .. start+n) of
 * d's source, y too when targets; checks the values as the array path checks its arrays. */
ckeras_status ck_source_gather(ckeras_model *m, const ck_data *d, bool targets, const int64_t *idx, int64_t start,
                               int64_t n, const char *what);
/* Fills d from arrays (checks the counts fit; the tensors are checked by the calls). */
ckeras_status ck_data_set(ck_data *d, int nx, const ckeras_tensor *const *x, int ny,
                          const ckeras_tensor *const *y, const char *what);
ckeras_status ck_model_fit(ckeras_model *m, const ck_data *d, const ckeras_fit_args *args,
                           ckeras_history **history);
ckeras_status ck_model_evaluate(ckeras_model *m, const ck_data *d, int64_t batch, double *results, int n_results);
/* The first (or only) output. */
ckeras_status ck_model_predict(ckeras_model *m, const ckeras_tensor *x, int64_t batch, ckeras_tensor **out);
ckeras_status ck_model_predict_multi(ckeras_model *m, int nin, const ckeras_tensor *const *xs, int64_t batch,
                                    ckeras_tensor **out);
/* Every output: outs[k] for k < nout (nout must be the model's output count). */
ckeras_status ck_model_predict_outputs(ckeras_model *m, int nin, const ckeras_tensor *const *xs, int64_t batch,
                                       int nout, ckeras_tensor **outs);
/* The same on the inputs of d (arrays or a source). */
ckeras_status ck_model_predict_data(ckeras_model *m, const ck_data *d, int64_t batch, int nout, ckeras_tensor **outs);
ckeras_status ck_model_train_on_batch(ckeras_model *m, const ck_data *d, double *results, int n_results);
ckeras_status ck_model_summary_text(const ckeras_model *m, int line_length, char **text);
const ck_shape *ck_model_output_shape(const ckeras_model *m); /* of output 0 */
/* plot_model's graph as graphviz DOT text (dot.c); flags are CKERAS_DOT_*. */
ckeras_status ck_model_to_dot(const ckeras_model *m, int flags, char **dot);
void ck_model_free(ckeras_model *m);
/* saving and loading (save.c) */
ckeras_status ck_model_save(const ckeras_model *m, const char *path, int flags);
ckeras_status ck_model_save_weights(const ckeras_model *m, const char *path);
ckeras_status ck_load_model(const char *path, int flags, ckeras_model **out);
ckeras_status ck_model_load_weights(ckeras_model *m, const char *path, int flags);
ckeras_status ck_model_to_json(const ckeras_model *m, char **json);
ckeras_status ck_model_from_json(const char *json, ckeras_model **out);

/* fit keyword arguments */
#define CK_MAX_CALLBACKS 16
struct ckeras_fit_args {
    int64_t epochs, batch_size, verbose, initial_epoch;
    bool shuffle;
    double validation_split;
    ck_data val; /* validation_data (val.nx 0: none; val.nw its sample weights) */
    /* sample_weight (nsw 0: none), class_weight (dense: class c weighs cw[c]; ncw 0: none, owned),
     * validation_freq, steps_per_epoch, validation_batch_size, validation_steps (0: unset) */
    int nsw;
    const ckeras_tensor *sw[CK_MAX_OUTPUTS];
    double *cw;
    int64_t ncw;
    int64_t validation_freq, steps_per_epoch, validation_batch_size, validation_steps;
    int ncb;
    ckeras_callback *cb[CK_MAX_CALLBACKS];
};

/* Loading (save.c): a model from a file read in the legacy form (f is consumed: freed, its
 * arrays adopted); path names the file in messages. */
struct ck_h5_file;
ckeras_status ck_model_from_h5(const char *path, struct ck_h5_file *f, int flags, ckeras_model **out);
/* Keras 3's native format (native.c): .keras archives and .weights.h5 files. */
bool ck_keras_native_model_path(const char *path);   /* ends with ".keras" */
bool ck_keras_native_weights_path(const char *path); /* ends with ".weights.h5" or ".keras" */
ckeras_status ck_load_keras(const char *path, int flags, ckeras_model **out);
ckeras_status ck_model_load_weights_keras(ckeras_model *m, const char *path, int flags);
/* Writing it: a .keras archive (flags as ck_model_save's; CKERAS_SAVE_KERAS3 is implied) and a
 * .weights.h5 file (or a .keras path: weights only is still a whole archive) of the weights
 * and, when the model is compiled, the optimizer's state. */
ckeras_status ck_model_save_keras(const ckeras_model *m, const char *path, int flags);
ckeras_status ck_model_save_weights_keras(const ckeras_model *m, const char *path);
/* The plain form of m's architecture (save.c), for the native writer. */
struct ck_io_model;
ckeras_status ck_model_to_desc(const ckeras_model *m, ck_profile profile, struct ck_io_model *d);
/* The plain form of compiled m's losses, metrics and optimizer (save.c). */
struct ck_io_training;
ckeras_status ck_model_training_desc(const ckeras_model *m, ck_profile profile, struct ck_io_training *t);

#endif
