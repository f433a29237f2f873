/* Common layer machinery: registry, construction, weight declaration, build.
 *
 * Sizes: builds compute shapes with core.h's checked helpers (ck_size_mul, ck_conv_geom_fit, ...)
 * and ck_layer_build checks what they declare; forward, backward and the buffer sizes multiply
 * the batch by per-sample sizes of buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"

#include <stdio.h>
#include <string.h>

static const ck_layer_vt *const registry[] = {
    &ck_input_vt, &ck_dense_vt, &ck_activation_vt, &ck_dropout_vt, &ck_flatten_vt,
    &ck_add_vt, &ck_subtract_vt, &ck_multiply_vt, &ck_average_vt, &ck_maximum_vt, &ck_minimum_vt,
    &ck_concatenate_vt,
    &ck_batch_normalization_vt, &ck_layer_normalization_vt, &ck_reshape_vt, &ck_permute_vt, &ck_zero_padding2d_vt,
    &ck_cropping2d_vt, &ck_upsampling2d_vt, &ck_spatial_dropout2d_vt, &ck_relu_vt, &ck_leaky_relu_vt, &ck_rescaling_vt,
    &ck_conv2d_vt, &ck_conv1d_vt, &ck_maxpool2d_vt, &ck_avgpool2d_vt, &ck_maxpool1d_vt, &ck_avgpool1d_vt,
    &ck_gap2d_vt, &ck_gmp2d_vt, &ck_gap1d_vt, &ck_gmp1d_vt,
    &ck_depthwise_conv2d_vt, &ck_separable_conv2d_vt, &ck_conv2d_transpose_vt,
    &ck_resizing_vt, &ck_center_crop_vt, &ck_random_flip_vt, &ck_random_rotation_vt, &ck_random_zoom_vt,
    &ck_random_translation_vt, &ck_random_contrast_vt,
    &ck_simple_rnn_vt, &ck_lstm_vt, &ck_gru_vt, &ck_bidirectional_vt, &ck_embedding_vt,
    &ck_prelu_vt, &ck_softmax_vt,
    &ck_time_distributed_vt, &ck_masking_vt,
    &ck_conv3d_vt, &ck_conv1d_transpose_vt, &ck_conv3d_transpose_vt, &ck_depthwise_conv1d_vt,
    &ck_separable_conv1d_vt, &ck_maxpool3d_vt, &ck_avgpool3d_vt, &ck_gmp3d_vt, &ck_gap3d_vt, &ck_zero_padding1d_vt,
    &ck_zero_padding3d_vt, &ck_cropping1d_vt, &ck_cropping3d_vt, &ck_upsampling1d_vt, &ck_upsampling3d_vt,
    &ck_group_normalization_vt, &ck_unit_normalization_vt, &ck_rms_normalization_vt,
    &ck_elu_vt, &ck_identity_vt, &ck_repeat_vector_vt, &ck_activity_regularization_vt, &ck_gaussian_noise_vt,
    &ck_gaussian_dropout_vt, &ck_alpha_dropout_vt, &ck_spatial_dropout1d_vt, &ck_spatial_dropout3d_vt,
    &ck_category_encoding_vt, &ck_discretization_vt, &ck_random_crop_vt, &ck_random_brightness_vt,
    &ck_random_hue_vt, &ck_random_saturation_vt,
    &ck_normalization_vt, &ck_layer_scale_vt, &ck_custom_scale_layer_vt,
    &ck_rnn_vt, &ck_conv_lstm2d_vt, &ck_conv_lstm1d_vt, &ck_conv_lstm3d_vt,
    &ck_einsum_dense_vt, &ck_multi_head_attention_vt, &ck_group_query_attention_vt, &ck_attention_vt,
    &ck_additive_attention_vt,
};

const ck_layer_vt *ck_layer_lookup(const char *class_name)
{
    if (!class_name)
        return NULL;
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
        if (strcmp(registry[i]->class_name, class_name) == 0)
            return registry[i];
    /* the name Keras exports a class by, where files use it (.keras config.json) */
    if (strcmp(class_name, "GroupQueryAttention") == 0)
        return &ck_group_query_attention_vt;
    return NULL;
}

const char *ck_layer_unsupported_reason(const char *class_name)
{
    if (class_name && strcmp(class_name, "Lambda") == 0)
        return "its function is Python bytecode, which ckeras cannot run; rebuild the model without Lambda layers";
    return NULL;
}

ckeras_layer *ck_layer_new(const ck_layer_vt *vt)
{
    ckeras_layer *l = ck_calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->vt = vt;
    l->trainable = true;
    l->refs = 1;
    if (ck_config_init(&l->cfg, vt->fields, vt->nfields) != CKERAS_OK) {
        ck_free(l);
        return NULL;
    }
    return l;
}

ckeras_layer *ck_layer_new_by_class(const char *class_name)
{
    const ck_layer_vt *vt = ck_layer_lookup(class_name);
    if (!vt) {
        ck_error(CKERAS_EUNSUPPORTED, "%s is not available in this build", class_name ? class_name : "(null)");
        return NULL;
    }
    return ck_layer_new(vt);
}

ckeras_layer *ck_layer_or_free(ckeras_layer *l, ckeras_status st)
{
    if (l && st != CKERAS_OK) {
        ck_layer_free(l);
        return NULL;
    }
    return l;
}

void ck_layer_free(ckeras_layer *l)
{
    if (!l)
        return;
    if (l->refs > 1) {
        l->refs--;
        return;
    }
    if (l->vt->free_priv)
        l->vt->free_priv(l);
    ck_config_free(&l->cfg);
    ck_free(l->wblock);
    for (int k = 0; k < l->nw; k++)
        ck_free(l->w[k].own);
    ck_free(l);
}

ckeras_status ck_layer_detach(ckeras_layer *l)
{
    size_t total = 0;
    for (int k = 0; k < l->nw; k++)
        total += (size_t)l->w[k].size;
    float *block = ck_alloc_aligned(ck_floats_bytes(total ? total : 1));
    if (!block)
        return CKERAS_ENOMEM;
    size_t at = 0;
    for (int k = 0; k < l->nw; k++) {
        ck_weight *w = &l->w[k];
        if (w->data)
            memcpy(block + at, w->data, (size_t)w->size * sizeof(float));
        else
            memset(block + at, 0, (size_t)w->size * sizeof(float));
        ck_free(w->own);
        w->own = NULL;
        w->data = block + at;
        w->grad = NULL;
        at += (size_t)w->size;
    }
    ck_free(l->wblock);
    l->wblock = block;
    l->laid_out_by = NULL;
    return CKERAS_OK;
}

void ck_weight_adopt(ck_weight *w, float *buf)
{
    if (w->own != buf)
        ck_free(w->own);
    w->own = buf;
    w->data = buf;
}

void *ck_layer_priv(ckeras_layer *l, size_t size)
{
    if (!l->priv)
        l->priv = ck_calloc(1, size);
    return l->priv;
}

ckeras_status ck_layer_check_axes(const ckeras_layer *l, const ck_shape *in)
{
    for (int i = 0; i < in->ndim; i++)
        if (in->d[i] <= 0)
            return ck_error(CKERAS_ESHAPE, "%s '%s': input axis %d has size %lld", l->vt->class_name, l->name, i,
                            (long long)in->d[i]);
    return CKERAS_OK;
}

ck_weight *ck_layer_add_weight(ckeras_layer *l, const char *name, const ck_shape *shape, bool trainable,
                               const char *init_field, const char *init_default)
{
    if (l->nw >= CK_MAX_WEIGHTS)
        return NULL;
    ck_weight *w = &l->w[l->nw++];
    memset(w, 0, sizeof *w);
    snprintf(w->name, sizeof w->name, "%s", name);
    w->shape = *shape;
    w->size = ck_shape_size(shape);
    w->trainable = trainable;
    w->init_field = init_field;
    w->init_default = init_default;
    return w;
}

/* Each weight whose initializer field is "<x>_initializer" takes the penalty of "<x>_regularizer"
 * and the constraint of "<x>_constraint"; the layer takes its "activity_regularizer". */
static ckeras_status apply_regularizers(ckeras_layer *l)
{
    l->act_l1 = l->act_l2 = 0.0f;
    if (ck_config_find(&l->cfg, "activity_regularizer") >= 0) {
        ckeras_status st = ck_regularizer_parse(ck_cfg_str(&l->cfg, "activity_regularizer"), &l->act_l1, &l->act_l2);
        if (st != CKERAS_OK) {
            ck_error_prefix("%s '%s': activity_regularizer", l->vt->class_name, l->name);
            return st;
        }
    }
    for (int i = 0; i < l->nw; i++) {
        ck_weight *w = &l->w[i];
        if (!w->init_field)
            continue; /* a wrapper's weight keeps what its build gave it */
        w->l1 = w->l2 = 0.0f;
        memset(&w->constraint, 0, sizeof w->constraint);
        char field[64];
        size_t n = strlen(w->init_field);
        if (n < 12 || n >= sizeof field - 8 || strcmp(w->init_field + n - 12, "_initializer") != 0)
            continue;
        snprintf(field, sizeof field, "%.*s_regularizer", (int)(n - 12), w->init_field);
        ckeras_status st = CKERAS_OK;
        if (ck_config_find(&l->cfg, field) >= 0)
            st = ck_regularizer_parse(ck_cfg_str(&l->cfg, field), &w->l1, &w->l2);
        if (st == CKERAS_OK) {
            snprintf(field, sizeof field, "%.*s_constraint", (int)(n - 12), w->init_field);
            if (ck_config_find(&l->cfg, field) >= 0)
                st = ck_constraint_parse(ck_cfg_str(&l->cfg, field), w->shape.ndim, &w->constraint);
        }
        if (st != CKERAS_OK) {
            ck_error_prefix("%s '%s': %s", l->vt->class_name, l->name, field);
            return st;
        }
    }
    return CKERAS_OK;
}

ckeras_status ck_conv_geom_check(const ckeras_layer *l, const ck_conv_geom *g)
{
    const struct {
        const char *what;
        int64_t n;
    } sizes[] = {
        {"window", ck_size_mul3(g->kh, g->kw, g->c)},
        {"input", ck_size_mul3(g->h, g->w, g->c)},
        {"output", ck_size_mul3(g->oh > 0 ? g->oh : 1, g->ow > 0 ? g->ow : 1, g->c)},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        ckeras_status st = ck_size_check(sizes[i].n, "%s '%s': its %s", l->vt->class_name, l->name, sizes[i].what);
        if (st != CKERAS_OK)
            return st;
    }
    return CKERAS_OK;
}

ckeras_status ck_conv_geom_fit(const ckeras_layer *l, ck_conv_geom *g, ck_pad_mode mode)
{
    if (!ck_conv_axis(mode, g->h, g->kh, g->sh, g->dh, &g->oh, &g->pt) ||
        !ck_conv_axis(mode, g->w, g->kw, g->sw, g->dw, &g->ow, &g->pl))
        return ck_error(CKERAS_ESHAPE, "%s '%s': its window is too large (kernel size x dilation rate past 2^48)",
                        l->vt->class_name, l->name);
    return ck_conv_geom_check(l, g);
}

ckeras_status ck_layer_tuple(ckeras_layer *l, const char *name, int rank, int64_t min, int64_t *v)
{
    const char *cls = l->vt->class_name;
    const ck_value *t = ck_cfg_value(&l->cfg, name);
    if (t->is_none || (t->n != 1 && t->n != rank))
        return ck_error(CKERAS_EINVAL, "%s '%s': %s must be %d int%s, got %s%d values", cls, l->name, name, rank,
                        rank > 1 ? "s (or one for all)" : "", t->is_none ? "None, " : "", t->is_none ? 0 : t->n);
    for (int i = 0; i < rank; i++) {
        v[i] = t->v[t->n == 1 ? 0 : i];
        if (v[i] < min)
            return ck_error(CKERAS_EINVAL, "%s '%s': %s must be %s, got %lld", cls, l->name, name,
                            min > 0 ? "positive" : "non-negative", (long long)v[i]);
    }
    return ck_config_set_ints(&l->cfg, cls, name, rank, v);
}

ckeras_status ck_layer_channels_last(const ckeras_layer *l)
{
    const char *df = ck_config_find(&l->cfg, "data_format") >= 0 ? ck_cfg_str(&l->cfg, "data_format") : NULL;
    if (!df || strcmp(df, "channels_last") == 0)
        return CKERAS_OK;
    if (strcmp(df, "channels_first") == 0)
        return ck_error(CKERAS_EUNSUPPORTED, "%s '%s': data_format 'channels_first' is not supported (only "
                        "channels_last)", l->vt->class_name, l->name);
    return ck_error(CKERAS_EINVAL, "%s '%s': data_format must be 'channels_last', got '%s'", l->vt->class_name,
                    l->name, df);
}

ckeras_status ck_conv_depth_check(const ckeras_layer *l, const ck_conv_geom *g, const ck_conv_depth *z)
{
    ckeras_status st = ck_conv_geom_check(l, g);
    if (st != CKERAS_OK)
        return st;
    const int64_t od = z->od > 0 ? z->od : 1, oh = g->oh > 0 ? g->oh : 1, ow = g->ow > 0 ? g->ow : 1;
    const int64_t sizes[] = {ck_size_mul(z->kd, ck_size_mul3(g->kh, g->kw, g->c)),
                             ck_size_mul(z->d, ck_size_mul3(g->h, g->w, g->c)),
                             ck_size_mul(od, ck_size_mul3(oh, ow, g->c))};
    static const char *const what[] = {"window", "input", "output"};
    for (int i = 0; st == CKERAS_OK && i < 3; i++)
        st = ck_size_check(sizes[i], "%s '%s': its %s", l->vt->class_name, l->name, what[i]);
    return st;
}

ckeras_status ck_conv_depth_fit(const ckeras_layer *l, ck_conv_geom *g, ck_conv_depth *z, ck_pad_mode mode)
{
    if (!ck_conv_axis(mode, z->d, z->kd, z->sd, z->dd, &z->od, &z->pf))
        return ck_error(CKERAS_ESHAPE, "%s '%s': its window is too large (kernel size x dilation rate past 2^48)",
                        l->vt->class_name, l->name);
    ckeras_status st = ck_conv_geom_fit(l, g, mode);
    return st == CKERAS_OK ? ck_conv_depth_check(l, g, z) : st;
}

/* The sizes a build declared: its output(s) and weights must be shapes whose element counts
 * neither overflow nor pass the per-tensor limit (core.h), and its parameters the per-model one,
 * before anything allocates or initialises them. */
static ckeras_status check_built_sizes(const ckeras_layer *l, const ck_shape *out)
{
    const char *cls = l->vt->class_name;
    ckeras_status st = ck_shape_check(out, "%s '%s': output", cls, l->name);
    for (int k = 0; st == CKERAS_OK && k < l->nout && k < (int)(sizeof l->outs / sizeof l->outs[0]); k++)
        st = ck_shape_check(&l->outs[k], "%s '%s': output %d", cls, l->name, k);
    int64_t params = 0;
    for (int k = 0; st == CKERAS_OK && k < l->nw; k++)
        if ((st = ck_shape_check(&l->w[k].shape, "%s '%s': weight '%s'", cls, l->name, l->w[k].name)) == CKERAS_OK)
            params = ck_size_add(params, l->w[k].size);
    return st == CKERAS_OK ? ck_params_check(params, "%s '%s'", cls, l->name) : st;
}

ckeras_status ck_layer_build_multi(ckeras_layer *l, const ck_shape *ins, int nin)
{
    if (!l->vt->build_multi) {
        if (nin != 1)
            return ck_error(CKERAS_ESHAPE, "%s '%s' takes one input, got %d", l->vt->class_name, l->name, nin);
        return ck_layer_build(l, &ins[0]);
    }
    l->nw = 0;
    l->built = false;
    ck_shape out = {0};
    ckeras_status st = l->vt->build_multi(l, ins, nin, &out);
    if (st == CKERAS_OK)
        st = check_built_sizes(l, &out);
    if (st != CKERAS_OK) {
        l->nw = 0;
        return st;
    }
    if ((st = apply_regularizers(l)) != CKERAS_OK) {
        l->nw = 0;
        return st;
    }
    l->in_shape = ins[0];
    l->nin = nin;
    l->out_shape = out;
    l->built = true;
    return CKERAS_OK;
}

ckeras_status ck_layer_build(ckeras_layer *l, const ck_shape *in)
{
    if (l->vt->build_multi && !l->vt->build) /* a layer with both (RNN initial states) builds alone with build */
        return ck_error(CKERAS_ESHAPE, "%s '%s' merges several inputs; it cannot follow a single layer",
                        l->vt->class_name, l->name);
    l->nw = 0;
    l->built = false;
    l->nin = 1;
    ck_shape out = {0};
    ckeras_status st = l->vt->build(l, in, &out);
    if (st == CKERAS_OK)
        st = check_built_sizes(l, &out);
    if (st != CKERAS_OK) {
        l->nw = 0;
        return st;
    }
    if ((st = apply_regularizers(l)) != CKERAS_OK) {
        l->nw = 0;
        return st;
    }
    l->in_shape = *in;
    l->out_shape = out;
    l->built = true;
    return CKERAS_OK;
}

int64_t ck_layer_param_count(const ckeras_layer *l, bool trainable_only)
{
    int64_t n = 0;
    for (int i = 0; i < l->nw; i++)
        if (!trainable_only || (l->w[i].trainable && l->trainable))
            n += l->w[i].size; /* each checked at build, their sum too (check_built_sizes) */
    return n;
}

bool ck_layer_rows_apart(const ckeras_layer *l)
{
    (void)l;
    return true;
}

ck_mask_mode ck_mask_pass(const ckeras_layer *l)
{
    (void)l;
    return CK_MASK_PASS;
}

ckeras_status ck_layer_rebuild(ckeras_layer *l, const ck_shape *ins, int nin)
{
    ck_weight keep[CK_MAX_WEIGHTS];
    int nw = l->nw;
    memcpy(keep, l->w, sizeof keep);
    ckeras_status st = ck_layer_build_multi(l, ins, nin);
    if (st == CKERAS_OK && l->nw != nw)
        st = ck_error(CKERAS_ESHAPE, "%s '%s': its number of weights depends on a variable (None) axis",
                      l->vt->class_name, l->name);
    for (int k = 0; st == CKERAS_OK && k < nw; k++)
        if (l->w[k].shape.ndim != keep[k].shape.ndim ||
            memcmp(l->w[k].shape.d, keep[k].shape.d, (size_t)keep[k].shape.ndim * sizeof(int64_t)) != 0) {
            char a[96], b[96];
            st = ck_error(CKERAS_ESHAPE, "%s '%s': weight '%s' would be %s instead of %s: its shape depends on a "
                          "variable (None) axis", l->vt->class_name, l->name, keep[k].name,
                          ck_shape_str(&l->w[k].shape, false, a, sizeof a),
                          ck_shape_str(&keep[k].shape, false, b, sizeof b));
        }
    if (st != CKERAS_OK) { /* as before (the caller builds it again for the shapes that worked) */
        memcpy(l->w, keep, sizeof keep);
        l->nw = nw;
        return st;
    }
    /* the new build's declarations (their initializer specs may live in settings the build made
     * again), the old storage: values, gradients */
    for (int k = 0; k < nw; k++) {
        l->w[k].data = keep[k].data;
        l->w[k].own = keep[k].own;
        l->w[k].grad = keep[k].grad;
    }
    return CKERAS_OK;
}
