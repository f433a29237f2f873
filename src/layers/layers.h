/* src/layers: one file per layer family. A layer is a vtable plus its Keras config; it sees
 * only its input, its output and its weights, the plan owns every buffer. */
#ifndef CK_LAYERS_H
#define CK_LAYERS_H

#include "core/core.h"
#include "kernels/kernels.h"

#define CK_MAX_WEIGHTS 12
#define CK_NAME_MAX 64

/* A Keras weight constraint (keras.constraints), applied after each optimizer step: kind is a
 * CK_CONSTRAIN_* (kernels.h) or 0 for none; the norms run over the weight's axes whose bit is
 * set in axes (Keras' axis, resolved for the weight's rank; naxis/axis as written, -1: None). */
typedef struct ck_constraint {
    int kind;
    float min_value, max_value, rate;
    int naxis;
    int64_t axis[CKERAS_MAX_DIMS];
    uint32_t axes;
} ck_constraint;

typedef struct ck_weight {
    char name[96];      /* Keras weight name: "kernel", "bias", "moving_mean", "lstm_cell/kernel" */
    ck_shape shape;     /* Keras layout (Dense kernel is (in, out)) */
    int64_t size;
    bool trainable;     /* false for statistics such as moving_mean */
    const char *init_field; /* config field naming its initializer ("kernel_initializer") */
    const char *init_default; /* initializer when init_field is NULL */
    float l1, l2;       /* regularizer penalties (Keras' kernel_regularizer & co.), 0: none */
    ck_constraint constraint; /* Keras' kernel_constraint & co. (kind 0: none) */
    float *data;        /* view into the model's params or state buffer (or into the layer's
                           wblock, or own, until the model lays its buffers out) */
    float *own;         /* storage of this weight alone that it owns (taken from a file
                           reader by ck_weight_adopt), NULL otherwise */
    float *grad;        /* view into the model's gradient buffer; NULL when not trained */
} ck_weight;

/* What a layer's forward sees. Tensors are (n, ...) with the per-sample shapes the layer was
 * built with. */
typedef struct ck_fwd {
    int64_t n;          /* batch */
    const float *x;     /* (n, in_shape) */
    float *y;           /* (n, out_shape) */
    float *saved;       /* saved_floats(n) floats kept from forward to backward */
    float *work;        /* work_floats(n) floats of scratch */
    bool training;
    ck_rng *rng;
    int nin;                 /* merge layers: number of inputs and their buffers */
    const float *const *xs;  /* xs[0] == x */
    const float *mask;  /* Keras' mask of the first input: (n, in_shape without its last axis),
                           0 for a masked step; NULL: none */
    float *mask_out;    /* a CK_MASK_MAKE layer writes its output's mask here: (n, out_shape
                           without its last axis) */
    const float *const *masks; /* layers with several inputs: masks[k] is Keras' mask of input k
                                  (masks[0] == mask), or NULL; masks may be NULL (none) */
    /* pool: a later node is a 2x2 stride-2 max pooling of this layer's output alone, with this
     * geometry (ck_layer_vt.pool2x2). The layer may do that pooling's forward here, each image
     * as soon as its output is final (ck_maxpool2x2_one into pool_y and pool_arg, which may be
     * NULL), then set *pool_done: the pooling's own forward is skipped. NULL: none offered. */
    const ck_conv_geom *pool;
    float *pool_y;
    int32_t *pool_arg;
    bool *pool_done;
} ck_fwd;

typedef struct ck_bwd {
    int64_t n;
    const float *x, *y; /* the forward's input and output */
    float *dy;          /* dL/dy, (n, out_shape); the layer may overwrite it */
    float *dx;          /* dL/dx to write, (n, in_shape); NULL when nobody needs it */
    float *saved, *work;
    bool train_weights; /* write weight gradients (w[i].grad) */
    int nin;                 /* merge layers: inputs, and where their gradients go */
    const float *const *xs;  /* xs[0] == x */
    float *const *dxs;       /* dxs[k] may be NULL; dxs[0] == dx */
    const float *mask;       /* the forward's input mask (ck_fwd.mask) */
    const float *const *masks; /* the forward's masks of every input (ck_fwd.masks) */
    /* relu_below: x is the output of a layer whose backward begins with a relu's and its bias
     * gradient (ck_layer_vt.relu_bias), and this layer is its only reader. The layer may do
     * that part here, on dx: apply the relu's backward (from x) and write the bias gradient to
     * relu_db (NULL: none wanted), then set *relu_done. */
    bool relu_below;
    float *relu_db;
    bool *relu_done;
    /* The layer's reader did its relu's backward and bias gradient (relu_below): dy is already
     * dL/d(pre-activation) and the bias gradient is written. */
    bool relu_done_above;
    /* Not NULL: this call alone writes the layer's weight gradients, and the optimizer lets it
     * update its weights here, in the products that make their gradients (optimizers.h,
     * ck_opt_fuse_claim); anything that reads those weights must come first. */
    struct ck_opt_fuse *fuse;
} ck_bwd;

/* What a layer does with Keras' mask (set by Embedding(mask_zero=True) and Masking, one value
 * per step: per sample, the output shape without its last axis). */
typedef enum ck_mask_mode {
    CK_MASK_DROP = 0, /* its output has no mask (it ignores or consumes its input's) */
    CK_MASK_PASS,     /* its output has its first input's mask (Dropout, Dense, ...) */
    CK_MASK_MAKE,     /* it computes its output's mask (ck_fwd.mask_out) */
} ck_mask_mode;

typedef struct ck_layer_vt {
    const char *class_name; /* Keras class ("Dense") */
    const char *base_name;  /* default name stem ("dense") */
    const ck_field *fields;
    int nfields;
    /* Infers the per-sample output shape and declares weights (ck_layer_add_weight). */
    ckeras_status (*build)(ckeras_layer *l, const ck_shape *in, ck_shape *out);
    /* Merge layers (several inputs) build with this instead; NULL for single-input layers. */
    ckeras_status (*build_multi)(ckeras_layer *l, const ck_shape *ins, int nin, ck_shape *out);
    int64_t (*saved_floats)(const ckeras_layer *l, int64_t n); /* may be NULL: 0 */
    int64_t (*work_floats)(const ckeras_layer *l, int64_t n);  /* may be NULL: 0 */
    void (*forward)(ckeras_layer *l, const ck_fwd *f);
    void (*backward)(ckeras_layer *l, const ck_bwd *b);
    void (*free_priv)(ckeras_layer *l); /* may be NULL */
    /* Keras 3 passes inputs after the first as this call keyword ("initial_state" of the
     * recurrent layers) where tf.keras 2 lists them with the first; NULL: all positional. */
    const char *extra_inputs_kwarg;
    /* Keras 3's constructor takes no "trainable" (SpatialDropout2D): the key is never written. */
    bool no_trainable_key;
    /* Keras 3's native format keeps a layer's variables by object path: where weight k lives
     * below the layer's own path ("cell" for an LSTM's kernel: "layers/lstm/cell/vars/0"), or
     * NULL when it is the layer's own variable. NULL function: all are the layer's own. Weights
     * of one sub-object are consecutive and numbered from 0 in weight order. */
    const char *(*keras3_var_path)(const ckeras_layer *l, int k);
    /* Keras' mask after this layer; NULL: CK_MASK_DROP. */
    ck_mask_mode (*mask_mode)(const ckeras_layer *l);
    /* Whether the layer's backward starts with ck_relu_bias_backward on its output (its
     * activation is a plain relu): then *db is the bias gradient it would write (NULL: none),
     * and the only reader of its output may do that part (ck_bwd.relu_below). NULL: never. */
    bool (*relu_bias)(const ckeras_layer *l, float **db);
    /* A 2x2 stride-2 max pooling over (h, w) with no padding: its geometry, so that the layer
     * below may pool each image as it makes it (ck_fwd.pool). NULL function or result: not
     * such a pooling. */
    const ck_conv_geom *(*pool2x2)(const ckeras_layer *l);
    /* A loss the layer adds to the model's (Keras' add_loss: ActivityRegularization's penalty on
     * the output of its last forward), or NULL: none. Its gradient is the layer backward's. */
    double (*added_loss)(const ckeras_layer *l);
    /* Layers whose Keras call takes its tensors as separate arguments and keywords
     * (MultiHeadAttention(query, value, key, attention_mask=m)); NULL for the others.
     * call_inputs: the nin tensors of a Keras call in the layer's input order: kw[k] is the call
     * keyword that gave tensor k ("" when positional); map[j] receives the call tensor of input
     * j; returns the number of inputs, or -1 with the error set.
     * call_kwarg: how Keras 3 writes a call on nin inputs: *nargs positional arguments (each
     * one, not a list), the rest as the returned keyword (one tensor, not a list), or NULL. */
    int (*call_inputs)(const ckeras_layer *l, const char *const *kw, int nin, int *map);
    const char *(*call_kwarg)(const ckeras_layer *l, int nin, int *nargs);
    const char *const *call_args; /* with call_kwarg: the names of the positional arguments */
    /* Boolean config fields that are Keras call keywords (use_causal_mask), NULL-terminated:
     * read from and written to the call's keywords, never to the config. NULL: none. */
    const char *const *call_fields;
    /* Whether the layer treats each sample apart in forward and backward: no statistics over
     * the batch, no state kept from one call to the next, and random draws (if any) that may
     * come from any generator. Such layers may run a batch in parts on separate threads, their
     * weight gradients then added (the data-parallel training step, src/model/split.c). NULL: no. */
    bool (*rows_apart)(const ckeras_layer *l);
    /* Multiply-adds each weight takes per sample, for split.c's choice (whether each thread's
     * pass over every weight pays): NULL: the output's positions (its size over its last axis). */
    double (*weight_uses)(const ckeras_layer *l);
} ck_layer_vt;

struct ckeras_layer {
    const ck_layer_vt *vt;
    char name[CK_NAME_MAX];
    bool named;         /* the user gave the name */
    ck_config cfg;      /* Keras keyword arguments */
    bool trainable;
    bool built;
    bool owned;         /* belongs to a model */
    ck_shape in_shape;  /* per sample, no batch axis (the first input of a merge layer) */
    int nin;            /* inputs it was built with */
    bool keras2;        /* read from a Keras 1/2 file: Keras 2 semantics (hard_sigmoid) */
    ck_shape out_shape;
    int nw;
    ck_weight w[CK_MAX_WEIGHTS];
    void *priv;         /* parsed settings (activation, ...) */
    bool call_inference; /* called with training=False (Keras' call keyword): inference behaviour
                            (Dropout off, BatchNormalization on moving statistics) even in fit */
    float *wblock;      /* the layer's own storage of its weights from joining a model until the
                           model lays its buffers out (ck_model_layout); NULL after that */
    int nout;           /* a layer with several outputs (return_state): how many; out_shape is then
                           the packed row (sum of their sizes,) and outs[k] their shapes; 0 or 1:
                           one output (out_shape) */
    ck_shape outs[6];
    uint32_t outs_none[6]; /* their variable (None) axes, as the graph found them */
    int refs;           /* holders: 1 when made; each further graph node or model input using it
                           adds one (shared layers, models called as layers); ck_layer_free drops
                           one and frees the layer at the last */
    const void *laid_out_by; /* the model whose buffers hold its weights (NULL: its own) */
    float act_l1, act_l2; /* its activity_regularizer: l1 sum|y| + l2 sum y^2 of each call's
                             output(s) is added to the loss (0: none; set at build) */
};

/* The registry: every layer class by Keras name. */
const ck_layer_vt *ck_layer_lookup(const char *class_name);
/* Why a Keras layer class that ckeras knows of cannot be loaded ("Lambda": Python bytecode), or
 * NULL. */
const char *ck_layer_unsupported_reason(const char *class_name);
/* A new, unbuilt layer of a class, with its schema's defaults. */
ckeras_layer *ck_layer_new(const ck_layer_vt *vt);
/* Drops one reference; frees the layer with the last. */
void ck_layer_free(ckeras_layer *l);
/* Gives the layer's weights a block of its own (wblock), their values kept and weights without
 * values zeros: when it joins a model, and when a model frees its buffers while others still
 * use the layer. CKERAS_ENOMEM leaves it unchanged. */
ckeras_status ck_layer_detach(ckeras_layer *l);
/* A new layer by Keras class name; NULL with CKERAS_EUNSUPPORTED when this build lacks it. */
ckeras_layer *ck_layer_new_by_class(const char *class_name);
/* Returns l, or frees it and returns NULL when st (a setting's status) is an error: for
 * constructors that apply a few settings in a row. */
ckeras_layer *ck_layer_or_free(ckeras_layer *l, ckeras_status st);
/* Makes buf (from ck_malloc, prod(shape) floats) the storage of w, which owns it from now on. */
void ck_weight_adopt(ck_weight *w, float *buf);
/* The layer's parsed settings (l->priv), size bytes allocated zeroed at its first build; NULL
 * when out of memory. */
void *ck_layer_priv(ckeras_layer *l, size_t size);
/* CKERAS_ESHAPE naming the axis when an axis of the per-sample shape in is not positive. */
ckeras_status ck_layer_check_axes(const ckeras_layer *l, const ck_shape *in);
/* A tuple setting of the convolution family (kernel_size, strides, ...): `rank` ints, or one
 * int for all, each >= min, stored back at full length as Keras' get_config() shows it. */
ckeras_status ck_layer_tuple(ckeras_layer *l, const char *name, int rank, int64_t min, int64_t *v);
/* data_format: channels_last (or absent) is OK; channels_first is CKERAS_EUNSUPPORTED. */
ckeras_status ck_layer_channels_last(const ckeras_layer *l);
/* The output lengths and paddings of a convolution or pooling geometry g (h, w, c, windows,
 * strides and dilations set) by ck_conv_axis, then its derived sizes checked (core.h, checked
 * size arithmetic): the window kh*kw*c, the image h*w*c, the output oh*ow*c. CKERAS_ESHAPE when
 * one is too large; oh or ow may be <= 0 on success (the window does not fit: the caller says so). */
ckeras_status ck_conv_geom_fit(const ckeras_layer *l, ck_conv_geom *g, ck_pad_mode mode);
/* The size checks of ck_conv_geom_fit alone (a geometry computed another way). */
ckeras_status ck_conv_geom_check(const ckeras_layer *l, const ck_conv_geom *g);
/* Both for a 3D geometry: the depth axis z too (its window, input and output sizes). */
ckeras_status ck_conv_depth_fit(const ckeras_layer *l, ck_conv_geom *g, ck_conv_depth *z, ck_pad_mode mode);
ckeras_status ck_conv_depth_check(const ckeras_layer *l, const ck_conv_geom *g, const ck_conv_depth *z);
/* Declares a weight during build. */
ck_weight *ck_layer_add_weight(ckeras_layer *l, const char *name, const ck_shape *shape, bool trainable,
                               const char *init_field, const char *init_default);
/* true, for the rows_apart of layers that always treat samples apart. */
bool ck_layer_rows_apart(const ckeras_layer *l);
/* How many images convolutions pooled themselves (ck_fwd.pool), in this process (for tests). */
uint64_t ck_conv_pooled_images(void);
/* CK_MASK_PASS, for the mask_mode of layers that keep Keras' mask. */
ck_mask_mode ck_mask_pass(const ckeras_layer *l);
/* Builds the layer again for new per-sample input shapes (a variable-length axis took another
 * length), keeping its weights: CKERAS_ESHAPE when the weights' shapes would change. */
ckeras_status ck_layer_rebuild(ckeras_layer *l, const ck_shape *ins, int nin);
/* Builds the layer for a per-sample input shape (clearing any previous build). */
ckeras_status ck_layer_build(ckeras_layer *l, const ck_shape *in);
/* The same for a layer called on several inputs (merge layers). */
ckeras_status ck_layer_build_multi(ckeras_layer *l, const ck_shape *ins, int nin);
int64_t ck_layer_param_count(const ckeras_layer *l, bool trainable_only);

/* Initialisers (Keras names and formulas): glorot_uniform/normal, he_uniform/normal,
 * lecun_uniform/normal, zeros, ones, constant, random_uniform, random_normal,
 * truncated_normal, variance_scaling, orthogonal. spec is a name, optionally with keyword
 * arguments: "random_normal(mean=0,stddev=0.1)", "constant(value=0.5)". */
ckeras_status ck_init_check(const char *spec);
ckeras_status ck_init_fill(const char *spec, float *w, const ck_shape *shape, ck_rng *rng);
/* Parses a Keras regularizer: "l1", "l2", "l1_l2" (0.01 each, Keras' defaults), "L2(l2=0.001)",
 * "L1(l1=...)", "L1L2(l1=...,l2=...)" (class names or function names). NULL: none. */
ckeras_status ck_regularizer_parse(const char *spec, float *l1, float *l2);
/* Parses a Keras constraint: "max_norm", "non_neg", "unit_norm", "min_max_norm" (Keras'
 * defaults), or a class or function name with arguments: "MaxNorm(max_value=3,axis=[0,1,2])",
 * "MinMaxNorm(min_value=..,max_value=..,rate=..,axis=..)", "UnitNorm(axis=-1)". NULL: none. rank:
 * the weight's, to resolve the axes (negative ones count from the end); -1 checks the spec only. */
ckeras_status ck_constraint_parse(const char *spec, int rank, ck_constraint *c);
/* Applies c to the weight w of the given shape, in place. */
void ck_constraint_apply(const ck_constraint *c, float *w, const ck_shape *shape);
/* Keras' fan_in and fan_out of a weight shape. */
void ck_init_fans(const ck_shape *shape, double *fan_in, double *fan_out);

extern const ck_layer_vt ck_input_vt, ck_dense_vt, ck_activation_vt, ck_dropout_vt, ck_flatten_vt, ck_masking_vt;
extern const ck_layer_vt ck_add_vt, ck_subtract_vt, ck_multiply_vt, ck_average_vt, ck_maximum_vt, ck_minimum_vt,
    ck_concatenate_vt;
extern const ck_layer_vt ck_batch_normalization_vt, ck_layer_normalization_vt, ck_reshape_vt, ck_permute_vt,
    ck_zero_padding2d_vt, ck_cropping2d_vt, ck_upsampling2d_vt, ck_spatial_dropout2d_vt, ck_relu_vt, ck_leaky_relu_vt,
    ck_rescaling_vt;
extern const ck_layer_vt ck_conv2d_vt, ck_conv1d_vt, ck_maxpool2d_vt, ck_avgpool2d_vt, ck_maxpool1d_vt,
    ck_avgpool1d_vt, ck_gap2d_vt, ck_gmp2d_vt, ck_gap1d_vt, ck_gmp1d_vt;
extern const ck_layer_vt ck_depthwise_conv2d_vt, ck_separable_conv2d_vt, ck_conv2d_transpose_vt;
extern const ck_layer_vt ck_resizing_vt, ck_center_crop_vt, ck_random_flip_vt, ck_random_rotation_vt,
    ck_random_zoom_vt, ck_random_translation_vt, ck_random_contrast_vt;
extern const ck_layer_vt ck_simple_rnn_vt, ck_lstm_vt, ck_gru_vt, ck_bidirectional_vt, ck_embedding_vt;
extern const ck_layer_vt ck_prelu_vt, ck_softmax_vt;
extern const ck_layer_vt ck_time_distributed_vt;
extern const ck_layer_vt ck_conv3d_vt, ck_conv1d_transpose_vt, ck_conv3d_transpose_vt, ck_depthwise_conv1d_vt,
    ck_separable_conv1d_vt, ck_maxpool3d_vt, ck_avgpool3d_vt, ck_gmp3d_vt, ck_gap3d_vt, ck_zero_padding1d_vt,
    ck_zero_padding3d_vt, ck_cropping1d_vt, ck_cropping3d_vt, ck_upsampling1d_vt, ck_upsampling3d_vt;
extern const ck_layer_vt ck_group_normalization_vt, ck_unit_normalization_vt, ck_rms_normalization_vt;
extern const ck_layer_vt ck_elu_vt, ck_identity_vt, ck_repeat_vector_vt, ck_activity_regularization_vt,
    ck_gaussian_noise_vt, ck_gaussian_dropout_vt, ck_alpha_dropout_vt, ck_spatial_dropout1d_vt,
    ck_spatial_dropout3d_vt, ck_category_encoding_vt, ck_discretization_vt, ck_random_crop_vt,
    ck_random_brightness_vt, ck_random_hue_vt, ck_random_saturation_vt;
/* The training map of a built RandomBrightness, RandomHue or RandomSaturation with its drawn
 * parameter p (brightness delta in pixel units, hue shift, saturation multiplier), npix pixels. */
void ck_color_map(const ckeras_layer *l, float p, const float *x, float *y, int64_t npix);
extern const ck_layer_vt ck_normalization_vt, ck_layer_scale_vt, ck_custom_scale_layer_vt;
/* Elementwise merges (Add, Subtract, Multiply, Average, Maximum, Minimum): true for their vtables.
 * A Keras 3 operation node with plain numbers among its arguments (x + 3.0) is such a layer with
 * constant operands: n numbers val at positions pos (ascending, counted over all the call's
 * operands, tensors and numbers), set before it is built; ck_merge_constants gives them back
 * (at most cap), returning how many it has. */
bool ck_merge_is_elementwise(const ck_layer_vt *vt);
ckeras_status ck_merge_set_constants(ckeras_layer *l, int n, const int *pos, const double *val);
int ck_merge_constants(const ckeras_layer *l, int cap, int *pos, double *val);
extern const ck_layer_vt ck_rnn_vt, ck_conv_lstm2d_vt, ck_conv_lstm1d_vt, ck_conv_lstm3d_vt;
extern const ck_layer_vt ck_einsum_dense_vt, ck_multi_head_attention_vt, ck_group_query_attention_vt, ck_attention_vt,
    ck_additive_attention_vt;
/* Output k of a layer with several outputs (take.c): an internal layer with no Keras class. */
extern const ck_layer_vt ck_take_vt;
ckeras_layer *ck_take_new(const ckeras_layer *producer, int k);
/* The variable (None) axes of the output a take layer reads. */
uint32_t ck_take_none(const ckeras_layer *take);

#endif
