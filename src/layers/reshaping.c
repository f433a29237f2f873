/* Shape and simple elementwise layers (channels_last): Reshape, Permute, ZeroPadding1D/2D/3D,
 * Cropping1D/2D/3D, UpSampling1D/2D/3D, SpatialDropout2D, ReLU, LeakyReLU, Rescaling.
 *
 * Sizes: builds compute shapes with core.h's checked helpers (ck_size_mul, ck_conv_geom_fit, ...)
 * and ck_layer_build checks what they declare; forward, backward and the buffer sizes multiply
 * the batch by per-sample sizes of buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define INPUT_SHAPE_FIELD {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape when first in a Sequential", CK_W_NEVER}
#define DATA_FORMAT_FIELD {"data_format", CK_STR, "channels_last", "channels_last", "only channels_last (NHWC)"}

static void free_priv(ckeras_layer *l)
{
    ck_free(l->priv);
    l->priv = NULL;
}

static void copy_forward(ckeras_layer *l, const ck_fwd *f)
{
    if (f->y != f->x)
        memcpy(f->y, f->x, (size_t)(f->n * ck_shape_size(&l->in_shape)) * sizeof(float));
}

static void copy_backward(ckeras_layer *l, const ck_bwd *b)
{
    if (b->dx && b->dx != b->dy)
        memcpy(b->dx, b->dy, (size_t)(b->n * ck_shape_size(&l->in_shape)) * sizeof(float));
}

static ckeras_status need_image(const ckeras_layer *l, const ck_shape *in)
{
    if (in->ndim != 3)
        return ck_error(CKERAS_ESHAPE, "%s '%s': needs (height, width, channels) inputs, got rank %d per sample",
                        l->vt->class_name, l->name, in->ndim);
    return CKERAS_OK;
}

/* ---- Reshape ---------------------------------------------------------------------------- */

static const ck_field reshape_fields[] = {
    {"target_shape", CK_INTS, NULL, NULL, "per-sample output shape; one entry may be -1"},
    INPUT_SHAPE_FIELD,
};

static ckeras_status reshape_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    const ck_value *t = ck_cfg_value(&l->cfg, "target_shape");
    if (t->is_none || t->n < 1)
        return ck_error(CKERAS_EINVAL, "Reshape '%s': target_shape must hold at least one dimension", l->name);
    int unknown = -1;
    int64_t known = 1;
    for (int k = 0; k < t->n; k++) {
        if (t->v[k] == -1 && unknown < 0) {
            unknown = k;
        } else if (t->v[k] == -1) {
            return ck_error(CKERAS_EINVAL, "Reshape '%s': target_shape may hold only one -1", l->name);
        } else if (t->v[k] <= 0) {
            return ck_error(CKERAS_EINVAL, "Reshape '%s': target_shape entries must be positive or -1, got %lld",
                            l->name, (long long)t->v[k]);
        } else {
            known = ck_size_mul(known, t->v[k]);
        }
    }
    if (known == CK_SIZE_OVERFLOW)
        return ck_error(CKERAS_ESHAPE, "Reshape '%s': target_shape is too large (its size overflows 64 bits)",
                        l->name);
    int64_t size = ck_shape_size(in);
    char buf[128];
    if ((unknown < 0 && known != size) || (unknown >= 0 && size % known != 0))
        return ck_error(CKERAS_ESHAPE, "Reshape '%s': an input of %lld values %s cannot take target_shape with %lld",
                        l->name, (long long)size, ck_shape_str(in, false, buf, sizeof buf), (long long)known);
    out->ndim = t->n;
    for (int k = 0; k < t->n; k++)
        out->d[k] = k == unknown ? size / known : t->v[k];
    return CKERAS_OK;
}

const ck_layer_vt ck_reshape_vt = {
    .class_name = "Reshape",
    .base_name = "reshape",
    .fields = reshape_fields,
    .nfields = sizeof reshape_fields / sizeof reshape_fields[0],
    .build = reshape_build,
    .forward = copy_forward,
    .backward = copy_backward,
    .rows_apart = ck_layer_rows_apart,
};

/* ---- Permute ---------------------------------------------------------------------------- */

static const ck_field permute_fields[] = {
    {"dims", CK_INTS, NULL, NULL, "permutation of the per-sample axes, 1-based"},
    INPUT_SHAPE_FIELD,
};

typedef struct permute_priv {
    int perm[CKERAS_MAX_DIMS], inv[CKERAS_MAX_DIMS];
} permute_priv;

static ckeras_status permute_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    const ck_value *d = ck_cfg_value(&l->cfg, "dims");
    if (d->is_none || d->n != in->ndim)
        return ck_error(CKERAS_EINVAL, "Permute '%s': dims must list the %d per-sample axes, got %d", l->name,
                        in->ndim, d->is_none ? 0 : d->n);
    bool seen[CKERAS_MAX_DIMS] = {false};
    for (int k = 0; k < d->n; k++) {
        if (d->v[k] < 1 || d->v[k] > in->ndim || seen[d->v[k] - 1])
            return ck_error(CKERAS_EINVAL, "Permute '%s': dims must be a permutation of 1..%d, got %lld at %d",
                            l->name, in->ndim, (long long)d->v[k], k);
        seen[d->v[k] - 1] = true;
    }
    permute_priv *p = l->priv;
    if (!p && !(p = l->priv = ck_calloc(1, sizeof *p)))
        return CKERAS_ENOMEM;
    out->ndim = in->ndim;
    for (int k = 0; k < in->ndim; k++) {
        p->perm[k] = (int)d->v[k] - 1;
        p->inv[p->perm[k]] = k;
        out->d[k] = in->d[p->perm[k]];
    }
    return CKERAS_OK;
}

static void permute_forward(ckeras_layer *l, const ck_fwd *f)
{
    const permute_priv *p = l->priv;
    ck_permute(f->x, f->n, l->in_shape.ndim, l->in_shape.d, p->perm, f->y);
}

static void permute_backward(ckeras_layer *l, const ck_bwd *b)
{
    const permute_priv *p = l->priv;
    if (b->dx) /* dy has the output's shape; the inverse permutation brings it back */
        ck_permute(b->dy, b->n, l->out_shape.ndim, l->out_shape.d, p->inv, b->dx);
}

const ck_layer_vt ck_permute_vt = {
    .class_name = "Permute",
    .base_name = "permute",
    .fields = permute_fields,
    .nfields = sizeof permute_fields / sizeof permute_fields[0],
    .build = permute_build,
    .forward = permute_forward,
    .backward = permute_backward,
    .free_priv = free_priv,
    .rows_apart = ck_layer_rows_apart,
};

/* ---- ZeroPadding1D/2D/3D and Cropping1D/2D/3D --------------------------------------------- */

/* The spatial rank of a padding or cropping class: the digit before its 'D'. */
static int class_rank(const ckeras_layer *l)
{
    const char *c = l->vt->class_name;
    size_t n = strlen(c);
    return n >= 2 ? c[n - 2] - '0' : 2;
}

/* (before, after) per spatial axis, in s[0..2*rank). 2D: (rows, cols) or ((top, bottom),
 * (left, right)) given flattened; 1D: an int or (left, right); 3D: an int, (d, h, w) or three
 * pairs. 1D and 3D are stored back at full length, as Keras' get_config() shows them. */
static ckeras_status sides(ckeras_layer *l, const char *field, int rank, int64_t s[6])
{
    const ck_value *v = ck_cfg_value(&l->cfg, field);
    const int n = v->is_none ? 0 : v->n;
    if (rank == 2 && n == 2) {
        s[0] = s[1] = v->v[0];
        s[2] = s[3] = v->v[1];
    } else if (n == 2 * rank) {
        for (int k = 0; k < n; k++)
            s[k] = v->v[k];
    } else if (n == 1 && rank != 2) {
        for (int k = 0; k < 2 * rank; k++)
            s[k] = v->v[0];
    } else if (n == 3 && rank == 3) {
        for (int k = 0; k < 6; k++)
            s[k] = v->v[k / 2];
    } else {
        static const char *const forms[] = {"an int or (left, right)",
                                            "(rows, cols) or ((top, bottom), (left, right))",
                                            "an int, (depth, rows, cols) or three (before, after) pairs"};
        return ck_error(CKERAS_EINVAL, "%s '%s': %s must be %s, got %d values", l->vt->class_name, l->name, field,
                        forms[rank - 1], n);
    }
    for (int k = 0; k < 2 * rank; k++)
        if (s[k] < 0)
            return ck_error(CKERAS_EINVAL, "%s '%s': %s must not be negative, got %lld", l->vt->class_name, l->name,
                            field, (long long)s[k]);
    return rank == 2 ? CKERAS_OK : ck_config_set_ints(&l->cfg, l->vt->class_name, field, 2 * rank, s);
}

typedef struct sides_priv {
    int rank;
    int64_t s[6]; /* before, after per spatial axis */
    int64_t in[3], out[3], c; /* (d, h, w) of input and output, a missing axis 1 */
} sides_priv;

static const ck_field zero_padding_fields[] = {
    {"padding", CK_INTS, "1,1", "[0,)", "int, (rows, cols) or ((top, bottom), (left, right))"},
    DATA_FORMAT_FIELD,
    INPUT_SHAPE_FIELD,
};

static const ck_field zero_padding1d_fields[] = {
    {"padding", CK_INTS, "1,1", "[0,)", "int or (left, right)"},
    DATA_FORMAT_FIELD,
    INPUT_SHAPE_FIELD,
};

static const ck_field zero_padding3d_fields[] = {
    {"padding", CK_INTS, "1,1,1,1,1,1", "[0,)", "int, (d, h, w) or ((front, back), (top, bottom), (left, right))"},
    DATA_FORMAT_FIELD,
    INPUT_SHAPE_FIELD,
};

/* in grown (sign 1) or cut (sign -1) by a + b, checked: a length past int64 is CK_SIZE_OVERFLOW
 * (refused with the output shape), a cut past nothing is negative */
static int64_t side_len(int64_t in, int sign, int64_t a, int64_t b)
{
    int64_t both = ck_size_add(a, b);
    if (sign > 0)
        return ck_size_add(in, both);
    return both == CK_SIZE_OVERFLOW ? -1 : in - both;
}

static ckeras_status sides_build(ckeras_layer *l, const ck_shape *in, ck_shape *out, const char *field, int sign)
{
    const int rank = class_rank(l);
    if (in->ndim != rank + 1)
        return ck_error(CKERAS_ESHAPE, "%s '%s': needs (%s, channels) inputs, got rank %d per sample",
                        l->vt->class_name, l->name,
                        rank == 3 ? "depth, height, width" : rank == 2 ? "height, width" : "steps", in->ndim);
    int64_t s[6];
    ckeras_status st = sides(l, field, rank, s);
    if (st != CKERAS_OK)
        return st;
    *out = *in;
    for (int i = 0; i < rank; i++) {
        out->d[i] = side_len(in->d[i], sign, s[2 * i], s[2 * i + 1]);
        if (out->d[i] <= 0)
            return ck_error(CKERAS_ESHAPE, "%s '%s': %s (%lld, %lld) leaves nothing of an input of %lld on spatial "
                            "axis %d", l->vt->class_name, l->name, field, (long long)s[2 * i],
                            (long long)s[2 * i + 1], (long long)in->d[i], i);
    }
    sides_priv *p = l->priv;
    if (!p && !(p = l->priv = ck_calloc(1, sizeof *p)))
        return CKERAS_ENOMEM;
    p->rank = rank;
    memcpy(p->s, s, sizeof s);
    /* the axes of the window copy: 1D is one column of steps rows, 2D one slice */
    const int first = rank == 1 ? 1 : 3 - rank;
    for (int k = 0; k < 3; k++) {
        const int i = k - first;
        p->in[k] = i >= 0 && i < rank ? in->d[i] : 1;
        p->out[k] = i >= 0 && i < rank ? out->d[i] : 1;
    }
    p->c = in->d[rank];
    return CKERAS_OK;
}

/* The window copy from a (n, a[]) to b (n, b[]) with the leading sides as offsets, times sign. */
static void sides_copy(const sides_priv *p, const float *src, const int64_t *a, float *dst, const int64_t *b,
                       int64_t n, int sign)
{
    const int first = p->rank == 1 ? 1 : 3 - p->rank;
    int64_t o[3] = {0, 0, 0};
    for (int i = 0; i < p->rank; i++)
        o[first + i] = sign * p->s[2 * i];
    ck_window3d(src, n, a, p->c, dst, b, o);
}

static ckeras_status zero_padding_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    return sides_build(l, in, out, "padding", 1);
}

static void zero_padding_forward(ckeras_layer *l, const ck_fwd *f)
{
    const sides_priv *p = l->priv;
    sides_copy(p, f->x, p->in, f->y, p->out, f->n, -1);
}

static void zero_padding_backward(ckeras_layer *l, const ck_bwd *b)
{
    const sides_priv *p = l->priv;
    if (b->dx)
        sides_copy(p, b->dy, p->out, b->dx, p->in, b->n, 1);
}

#define SIDES_VT(NAME, CLS, BASE, FIELDS, KIND)                                                       \
    const ck_layer_vt NAME = {                                                                         \
        .class_name = CLS,                                                                             \
        .base_name = BASE,                                                                             \
        .fields = FIELDS,                                                                              \
        .nfields = sizeof FIELDS / sizeof FIELDS[0],                                                   \
        .build = KIND##_build,                                                                         \
        .forward = KIND##_forward,                                                                     \
        .backward = KIND##_backward,                                                                   \
        .free_priv = free_priv,                                                                        \
        .rows_apart = ck_layer_rows_apart,                                                             \
    }

SIDES_VT(ck_zero_padding2d_vt, "ZeroPadding2D", "zero_padding2d", zero_padding_fields, zero_padding);
SIDES_VT(ck_zero_padding1d_vt, "ZeroPadding1D", "zero_padding1d", zero_padding1d_fields, zero_padding);
SIDES_VT(ck_zero_padding3d_vt, "ZeroPadding3D", "zero_padding3d", zero_padding3d_fields, zero_padding);

static const ck_field cropping_fields[] = {
    {"cropping", CK_INTS, "0,0", NULL, "int, (rows, cols) or ((top, bottom), (left, right))"},
    DATA_FORMAT_FIELD,
    INPUT_SHAPE_FIELD,
};

/* Keras' Cropping1D has no data_format */
static const ck_field cropping1d_fields[] = {
    {"cropping", CK_INTS, "1,1", NULL, "int or (left, right)"},
    INPUT_SHAPE_FIELD,
};

static const ck_field cropping3d_fields[] = {
    {"cropping", CK_INTS, "1,1,1,1,1,1", NULL, "int, (d, h, w) or ((front, back), (top, bottom), (left, right))"},
    DATA_FORMAT_FIELD,
    INPUT_SHAPE_FIELD,
};

static ckeras_status cropping_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    return sides_build(l, in, out, "cropping", -1);
}

static void cropping_forward(ckeras_layer *l, const ck_fwd *f)
{
    const sides_priv *p = l->priv;
    sides_copy(p, f->x, p->in, f->y, p->out, f->n, 1);
}

static void cropping_backward(ckeras_layer *l, const ck_bwd *b)
{
    const sides_priv *p = l->priv;
    if (b->dx)
        sides_copy(p, b->dy, p->out, b->dx, p->in, b->n, -1);
}

SIDES_VT(ck_cropping2d_vt, "Cropping2D", "cropping2d", cropping_fields, cropping);
SIDES_VT(ck_cropping1d_vt, "Cropping1D", "cropping1d", cropping1d_fields, cropping);
SIDES_VT(ck_cropping3d_vt, "Cropping3D", "cropping3d", cropping3d_fields, cropping);

/* ---- UpSampling1D/2D/3D ----------------------------------------------------------------- */

static const ck_field upsampling_fields[] = {
    {"size", CK_INTS, "2,2", "(0,)", "upsampling factors (rows, cols)"},
    DATA_FORMAT_FIELD,
    {"interpolation", CK_STR, "nearest", NULL, "nearest or bilinear"},
    INPUT_SHAPE_FIELD,
};

/* Keras' UpSampling1D has one int and no data_format */
static const ck_field upsampling1d_fields[] = {
    {"size", CK_INT, "2", "(0,)", "upsampling factor of the steps"},
    INPUT_SHAPE_FIELD,
};

static const ck_field upsampling3d_fields[] = {
    {"size", CK_INTS, "2,2,2", "(0,)", "upsampling factors (depth, rows, cols)"},
    DATA_FORMAT_FIELD,
    INPUT_SHAPE_FIELD,
};

typedef struct upsampling_priv {
    int64_t fz, fy, fx;
    int64_t d, h, w, c; /* the input; 1D: h steps, d = w = 1 */
    bool bilinear;
} upsampling_priv;

static ckeras_status upsampling_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    const int rank = class_rank(l);
    const char *cls = l->vt->class_name;
    if (in->ndim != rank + 1)
        return ck_error(CKERAS_ESHAPE, "%s '%s': needs (%s, channels) inputs, got rank %d per sample", cls, l->name,
                        rank == 3 ? "depth, height, width" : rank == 2 ? "height, width" : "steps", in->ndim);
    const ck_value *s = ck_cfg_value(&l->cfg, "size");
    int64_t f[3] = {1, 1, 1};
    if (rank == 1) {
        f[1] = s->is_none ? 0 : s->i;
    } else {
        if (rank == 3 && !s->is_none && s->n == 1)
            f[0] = f[1] = f[2] = s->v[0];
        else if (!s->is_none && s->n == rank)
            for (int i = 0; i < rank; i++)
                f[3 - rank + i] = s->v[i];
        else
            f[0] = 0;
    }
    if (f[0] < 1 || f[1] < 1 || f[2] < 1)
        return ck_error(CKERAS_EINVAL, "%s '%s': size must be %d positive int%s", cls, l->name, rank,
                        rank > 1 ? "s" : "");
    ckeras_status st;
    if (rank == 3 && (st = ck_config_set_ints(&l->cfg, cls, "size", 3, f)) != CKERAS_OK)
        return st;
    bool bilinear = false;
    if (rank == 2) {
        const char *interp = ck_cfg_str(&l->cfg, "interpolation");
        bilinear = interp && strcmp(interp, "bilinear") == 0;
        if (!interp || (!bilinear && strcmp(interp, "nearest") != 0)) {
            static const char *const keras_only[] = {"bicubic", "lanczos3", "lanczos5", "area", "gaussian",
                                                     "mitchellcubic"};
            for (size_t k = 0; interp && k < sizeof keras_only / sizeof keras_only[0]; k++)
                if (strcmp(interp, keras_only[k]) == 0)
                    return ck_error(CKERAS_EUNSUPPORTED, "UpSampling2D '%s': interpolation '%s' is not supported yet",
                                    l->name, interp);
            return ck_error(CKERAS_EINVAL, "UpSampling2D '%s': interpolation must be nearest or bilinear, got '%s'",
                            l->name, interp ? interp : "None");
        }
    }
    upsampling_priv *p = l->priv;
    if (!p && !(p = l->priv = ck_calloc(1, sizeof *p)))
        return CKERAS_ENOMEM;
    p->fz = f[0], p->fy = f[1], p->fx = f[2];
    p->bilinear = bilinear;
    p->d = rank == 3 ? in->d[0] : 1;
    p->h = rank == 1 ? in->d[0] : in->d[rank - 2];
    p->w = rank == 1 ? 1 : in->d[rank - 1];
    p->c = in->d[rank];
    *out = *in;
    for (int i = 0; i < rank; i++) /* an overflow is refused with the output shape */
        out->d[i] = ck_size_mul(in->d[i], rank == 1 ? f[1] : f[3 - rank + i]);
    return CKERAS_OK;
}

static void upsampling_forward(ckeras_layer *l, const ck_fwd *f)
{
    const upsampling_priv *p = l->priv;
    if (p->bilinear) {
        ck_upsample_bilinear(f->x, f->n, p->h, p->w, p->c, p->fy, p->fx, f->y);
        return;
    }
    /* each output slice z is the 2D upsampling of input slice z / fz */
    const int64_t in = p->h * p->w * p->c, out = in * p->fy * p->fx, od = p->d * p->fz;
    for (int64_t i = 0; i < f->n * od; i++)
        ck_upsample_nearest(f->x + (i / od * p->d + i % od / p->fz) * in, 1, p->h, p->w, p->c, p->fy, p->fx,
                            f->y + i * out);
}

/* work (3D): dL/d(the 2D-upsampled slices before the depth repeat), (n, d, h*fy, w*fx, c) */
static int64_t upsampling_work(const ckeras_layer *l, int64_t n)
{
    const upsampling_priv *p = l->priv;
    return p->fz > 1 ? n * p->d * p->h * p->fy * p->w * p->fx * p->c : 0;
}

static void upsampling_backward(ckeras_layer *l, const ck_bwd *b)
{
    const upsampling_priv *p = l->priv;
    if (!b->dx)
        return;
    if (p->bilinear) {
        ck_upsample_bilinear_backward(b->dy, b->n, p->h, p->w, p->c, p->fy, p->fx, b->dx);
        return;
    }
    const float *dy = b->dy;
    if (p->fz > 1) { /* sum the fz copies of each slice: the depth axis upsampled on its own */
        ck_upsample_nearest_backward(b->dy, b->n, p->d, 1, p->h * p->fy * p->w * p->fx * p->c, p->fz, 1, b->work);
        dy = b->work;
    }
    ck_upsample_nearest_backward(dy, b->n * p->d, p->h, p->w, p->c, p->fy, p->fx, b->dx);
}

#define UPSAMPLING_VT(NAME, CLS, BASE, FIELDS)                                                         \
    const ck_layer_vt NAME = {                                                                         \
        .class_name = CLS,                                                                             \
        .base_name = BASE,                                                                             \
        .fields = FIELDS,                                                                              \
        .nfields = sizeof FIELDS / sizeof FIELDS[0],                                                   \
        .build = upsampling_build,                                                                     \
        .work_floats = upsampling_work,                                                                \
        .forward = upsampling_forward,                                                                 \
        .backward = upsampling_backward,                                                               \
        .free_priv = free_priv,                                                                        \
    }

UPSAMPLING_VT(ck_upsampling2d_vt, "UpSampling2D", "up_sampling2d", upsampling_fields);
UPSAMPLING_VT(ck_upsampling1d_vt, "UpSampling1D", "up_sampling1d", upsampling1d_fields);
UPSAMPLING_VT(ck_upsampling3d_vt, "UpSampling3D", "up_sampling3d", upsampling3d_fields);

/* ---- SpatialDropout2D: whole channels per sample, inverted scaling ----------------------- */

static const ck_field spatial_dropout_fields[] = {
    {"rate", CK_FLOAT, NULL, "[0,1)", "fraction of the channels to drop, in [0, 1)"},
    {"seed", CK_INT, NULL, NULL, "seed (the model's generator is used)"},
    DATA_FORMAT_FIELD,
    INPUT_SHAPE_FIELD,
};

static ckeras_status spatial_dropout_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    const ck_value *r = ck_cfg_value(&l->cfg, "rate");
    if (r->is_none || !(r->f >= 0.0 && r->f < 1.0))
        return ck_error(CKERAS_EINVAL, "SpatialDropout2D '%s': rate must be in [0, 1), got %g", l->name,
                        r->is_none ? -1.0 : r->f);
    ckeras_status st = need_image(l, in);
    if (st != CKERAS_OK)
        return st;
    *out = *in;
    return CKERAS_OK;
}

/* saved: the mask (n, channels) of 0 or 1/(1-rate) */
static int64_t spatial_dropout_saved(const ckeras_layer *l, int64_t n)
{
    return n * l->in_shape.d[2];
}

static void spatial_dropout_forward(ckeras_layer *l, const ck_fwd *f)
{
    int64_t c = l->in_shape.d[2], hw = l->in_shape.d[0] * l->in_shape.d[1];
    double rate = ck_cfg_float(&l->cfg, "rate");
    if (!f->training || rate == 0.0 || !f->saved) {
        copy_forward(l, f);
        for (int64_t i = 0; f->saved && i < f->n * c; i++)
            f->saved[i] = 1.0f;
        return;
    }
    float keep = (float)(1.0 / (1.0 - rate));
    ck_rng_keep_mask(f->rng, f->saved, f->n * c, rate, keep);
    ck_channel_mask(f->x, f->saved, f->n, hw, c, f->y);
}

static void spatial_dropout_backward(ckeras_layer *l, const ck_bwd *b)
{
    int64_t c = l->in_shape.d[2], hw = l->in_shape.d[0] * l->in_shape.d[1];
    if (b->dx)
        ck_channel_mask(b->dy, b->saved, b->n, hw, c, b->dx);
}

const ck_layer_vt ck_spatial_dropout2d_vt = {
    .class_name = "SpatialDropout2D",
    .base_name = "spatial_dropout2d",
    .fields = spatial_dropout_fields,
    .nfields = sizeof spatial_dropout_fields / sizeof spatial_dropout_fields[0],
    .build = spatial_dropout_build,
    .saved_floats = spatial_dropout_saved,
    .forward = spatial_dropout_forward,
    .backward = spatial_dropout_backward,
    .no_trainable_key = true, /* Keras 3.11 SpatialDropout2D(rate, data_format, seed, name, dtype) */
};

/* ---- ReLU and LeakyReLU layers ------------------------------------------------------------ */

typedef struct relu_priv {
    float max_value, slope, threshold;
} relu_priv;

static const ck_field relu_fields[] = {
    {"max_value", CK_FLOAT, NULL, NULL, "upper bound (None: unbounded), >= 0"},
    {"negative_slope", CK_FLOAT, "0", NULL, "slope below the threshold, >= 0"},
    {"threshold", CK_FLOAT, "0", NULL, "values above it pass, >= 0"},
    INPUT_SHAPE_FIELD,
};

static ckeras_status relu_set(ckeras_layer *l, float max_value, double slope, double threshold,
                              const ck_shape *in, ck_shape *out)
{
    relu_priv *p = l->priv;
    if (!p && !(p = l->priv = ck_calloc(1, sizeof *p)))
        return CKERAS_ENOMEM;
    p->max_value = max_value;
    p->slope = (float)slope;
    p->threshold = (float)threshold;
    *out = *in;
    return CKERAS_OK;
}

static ckeras_status relu_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    const ck_value *mv = ck_cfg_value(&l->cfg, "max_value");
    const ck_value *ns = ck_cfg_value(&l->cfg, "negative_slope"), *th = ck_cfg_value(&l->cfg, "threshold");
    if (!mv->is_none && !(mv->f >= 0.0))
        return ck_error(CKERAS_EINVAL, "ReLU '%s': max_value must be >= 0, got %g", l->name, mv->f);
    if (ns->is_none || !(ns->f >= 0.0))
        return ck_error(CKERAS_EINVAL, "ReLU '%s': negative_slope must be >= 0, got %g", l->name,
                        ns->is_none ? -1.0 : ns->f);
    if (th->is_none || !(th->f >= 0.0))
        return ck_error(CKERAS_EINVAL, "ReLU '%s': threshold must be >= 0, got %g", l->name,
                        th->is_none ? -1.0 : th->f);
    return relu_set(l, mv->is_none ? INFINITY : (float)mv->f, ns->f, th->f, in, out);
}

static void relu_forward(ckeras_layer *l, const ck_fwd *f)
{
    const relu_priv *p = l->priv;
    ck_relu_ex(f->x, f->n * ck_shape_size(&l->in_shape), p->max_value, p->slope, p->threshold, f->y);
}

static void relu_backward(ckeras_layer *l, const ck_bwd *b)
{
    const relu_priv *p = l->priv;
    if (b->dx)
        ck_relu_ex_backward(b->x, b->dy, b->n * ck_shape_size(&l->in_shape), p->max_value, p->slope, p->threshold,
                            b->dx);
}

const ck_layer_vt ck_relu_vt = {
    .class_name = "ReLU",
    .base_name = "re_lu",
    .fields = relu_fields,
    .nfields = sizeof relu_fields / sizeof relu_fields[0],
    .build = relu_build,
    .forward = relu_forward,
    .backward = relu_backward,
    .free_priv = free_priv,
    .mask_mode = ck_mask_pass,
    .rows_apart = ck_layer_rows_apart,
};

static const ck_field leaky_relu_fields[] = {
    /* tf.keras 2 calls it alpha (and refuses negative_slope); Keras 3 takes alpha over it */
    {"negative_slope", CK_FLOAT, "0.3", NULL, "slope for x < 0, >= 0 (Keras 3 layer default 0.3)", CK_W_ALIAS_TF2,
     "alpha"},
    INPUT_SHAPE_FIELD,
};

static ckeras_status leaky_relu_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    const ck_value *v = ck_cfg_value(&l->cfg, "negative_slope");
    if (v->is_none || !(v->f >= 0.0))
        return ck_error(CKERAS_EINVAL, "LeakyReLU '%s': negative_slope must be >= 0, got %g", l->name,
                        v->is_none ? -1.0 : v->f);
    return relu_set(l, INFINITY, v->f, 0.0, in, out);
}

const ck_layer_vt ck_leaky_relu_vt = {
    .class_name = "LeakyReLU",
    .base_name = "leaky_re_lu",
    .fields = leaky_relu_fields,
    .nfields = sizeof leaky_relu_fields / sizeof leaky_relu_fields[0],
    .build = leaky_relu_build,
    .forward = relu_forward,
    .backward = relu_backward,
    .free_priv = free_priv,
    .mask_mode = ck_mask_pass,
    .rows_apart = ck_layer_rows_apart,
};

/* ---- Rescaling: y = x * scale + offset -------------------------------------------------- */
/* scale and offset are numbers or lists of numbers, one per channel (the last axis), as Keras
 * Applications' EfficientNet writes its ImageNet scale; the lists live in scale_list and
 * offset_list (config.c reads a list into the "_list" sibling and writes it back as the key). */

static const ck_field rescaling_fields[] = {
    {"scale", CK_FLOAT, NULL, NULL, "multiplier (a number, or a list: one per channel)"},
    {"offset", CK_FLOAT, "0", NULL, "added after scaling (a number, or a list: one per channel)"},
    {"scale_list", CK_TREE, NULL, "any", "scale as a list (from a file)", CK_W_NEVER},
    {"offset_list", CK_TREE, NULL, "any", "offset as a list (from a file)", CK_W_NEVER},
    INPUT_SHAPE_FIELD,
};

typedef struct rescaling_priv {
    int64_t c;      /* channels: the last axis */
    float *scale;   /* (c,) each */
    float *offset;
} rescaling_priv;

static void rescaling_free_priv(ckeras_layer *l)
{
    rescaling_priv *p = l->priv;
    if (p) {
        ck_free(p->scale);
        ck_free(p->offset);
    }
    ck_free(l->priv);
    l->priv = NULL;
}

/* The per-channel values of key (a number or a list of 1 or c numbers) into out (c,). */
static ckeras_status rescaling_values(ckeras_layer *l, const char *key, int64_t c, float *out)
{
    char list[32];
    snprintf(list, sizeof list, "%s_list", key);
    const ck_tree *t = ck_cfg_tree(&l->cfg, list);
    const ck_value *v = ck_cfg_value(&l->cfg, key);
    if (!t && (v->is_none || !isfinite(v->f)))
        return ck_error(CKERAS_EINVAL, "Rescaling '%s': %s must be a finite number", l->name, key);
    if (t && t->n != 1 && t->n != c)
        return ck_error(CKERAS_ESHAPE, "Rescaling '%s': %s has %d values, the input has %lld channels (last axis)",
                        l->name, key, t->n, (long long)c);
    for (int64_t k = 0; k < c; k++) {
        double x = t ? ck_tree_number(t->items[t->n == 1 ? 0 : k]) : v->f;
        if (!isfinite(x))
            return ck_error(CKERAS_EINVAL, "Rescaling '%s': %s must be finite", l->name, key);
        out[k] = (float)x;
    }
    return CKERAS_OK;
}

static ckeras_status rescaling_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    int64_t c = in->ndim > 0 ? in->d[in->ndim - 1] : 1;
    rescaling_priv *p = ck_layer_priv(l, sizeof *p);
    if (!p)
        return CKERAS_ENOMEM;
    ck_free(p->scale);
    ck_free(p->offset);
    p->c = c;
    p->scale = ck_malloc((size_t)c * sizeof(float));
    p->offset = ck_malloc((size_t)c * sizeof(float));
    if (!p->scale || !p->offset)
        return CKERAS_ENOMEM;
    ckeras_status st = rescaling_values(l, "scale", c, p->scale);
    if (st == CKERAS_OK)
        st = rescaling_values(l, "offset", c, p->offset);
    if (st != CKERAS_OK)
        return st;
    *out = *in;
    return CKERAS_OK;
}

static void rescaling_forward(ckeras_layer *l, const ck_fwd *f)
{
    const rescaling_priv *p = l->priv;
    int64_t rows = f->n * ck_shape_size(&l->in_shape) / p->c;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < p->c; k++)
            f->y[r * p->c + k] = f->x[r * p->c + k] * p->scale[k] + p->offset[k];
}

static void rescaling_backward(ckeras_layer *l, const ck_bwd *b)
{
    if (!b->dx)
        return;
    const rescaling_priv *p = l->priv;
    int64_t rows = b->n * ck_shape_size(&l->in_shape) / p->c;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < p->c; k++)
            b->dx[r * p->c + k] = b->dy[r * p->c + k] * p->scale[k];
}

const ck_layer_vt ck_rescaling_vt = {
    .class_name = "Rescaling",
    .base_name = "rescaling",
    .fields = rescaling_fields,
    .nfields = sizeof rescaling_fields / sizeof rescaling_fields[0],
    .build = rescaling_build,
    .forward = rescaling_forward,
    .backward = rescaling_backward,
    .free_priv = rescaling_free_priv,
    .rows_apart = ck_layer_rows_apart,
};
