/* Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate. */
#include "layers.h"

#include <string.h>

static const ck_field merge_fields[] = {
    {"input_shape", CK_INTS, NULL, NULL, "unused", CK_W_NEVER},
};

static ckeras_status same_shapes(ckeras_layer *l, const ck_shape *ins, int nin, ck_shape *out)
{
    int min = l->vt == &ck_subtract_vt ? 2 : 1;
    if (nin < min || (l->vt == &ck_subtract_vt && nin != 2))
        return ck_error(CKERAS_ESHAPE, "%s '%s': needs %s inputs, got %d", l->vt->class_name, l->name,
                        l->vt == &ck_subtract_vt ? "exactly 2" : "at least 1", nin);
    for (int k = 1; k < nin; k++)
        if (!ck_shape_eq(&ins[k], &ins[0])) {
            char a[96], b[96];
            return ck_error(CKERAS_ESHAPE, "%s '%s': input %d has shape %s, input 0 has %s (shapes must match)",
                            l->vt->class_name, l->name, k, ck_shape_str(&ins[k], false, a, sizeof a),
                            ck_shape_str(&ins[0], false, b, sizeof b));
        }
    *out = ins[0];
    return CKERAS_OK;
}

/* y = x0 op x1 op ...; every buffer (n, size) */
static void elementwise_forward(ckeras_layer *l, const ck_fwd *f)
{
    int64_t total = f->n * ck_shape_size(&l->out_shape);
    const ck_layer_vt *vt = l->vt;
    memcpy(f->y, f->xs[0], (size_t)total * sizeof(float));
    for (int k = 1; k < f->nin; k++) {
        const float *x = f->xs[k];
        if (vt == &ck_add_vt || vt == &ck_average_vt)
            for (int64_t i = 0; i < total; i++)
                f->y[i] += x[i];
        else if (vt == &ck_subtract_vt)
            for (int64_t i = 0; i < total; i++)
                f->y[i] -= x[i];
        else if (vt == &ck_multiply_vt)
            for (int64_t i = 0; i < total; i++)
                f->y[i] *= x[i];
        else if (vt == &ck_maximum_vt)
            for (int64_t i = 0; i < total; i++)
                f->y[i] = x[i] > f->y[i] ? x[i] : f->y[i];
        else
            for (int64_t i = 0; i < total; i++)
                f->y[i] = x[i] < f->y[i] ? x[i] : f->y[i];
    }
    if (vt == &ck_average_vt) {
        float s = 1.0f / (float)f->nin;
        for (int64_t i = 0; i < total; i++)
            f->y[i] *= s;
    }
}

static void elementwise_backward(ckeras_layer *l, const ck_bwd *b)
{
    int64_t total = b->n * ck_shape_size(&l->out_shape);
    const ck_layer_vt *vt = l->vt;
    for (int k = 0; k < b->nin; k++) {
        float *dx = b->dxs[k];
        if (!dx)
            continue;
        if (vt == &ck_add_vt) {
            memcpy(dx, b->dy, (size_t)total * sizeof(float));
        } else if (vt == &ck_subtract_vt) {
            for (int64_t i = 0; i < total; i++)
                dx[i] = k == 0 ? b->dy[i] : -b->dy[i];
        } else if (vt == &ck_average_vt) {
            float s = 1.0f / (float)b->nin;
            for (int64_t i = 0; i < total; i++)
                dx[i] = b->dy[i] * s;
        } else if (vt == &ck_multiply_vt) {
            for (int64_t i = 0; i < total; i++) {
                float p = b->dy[i];
                for (int j = 0; j < b->nin; j++)
                    if (j != k)
                        p *= b->xs[j][i];
                dx[i] = p;
            }
        } else {
            /* maximum/minimum: the gradient goes to the first input that holds the result */
            for (int64_t i = 0; i < total; i++) {
                int first = 0;
                while (first < b->nin && b->xs[first][i] != b->y[i])
                    first++;
                dx[i] = first == k ? b->dy[i] : 0.0f;
            }
        }
    }
}

#define ELEMENTWISE_VT(sym, cls, base)                                                                       \
    const ck_layer_vt sym = {                                                                                \
        .class_name = cls,                                                                                   \
        .base_name = base,                                                                                   \
        .fields = merge_fields,                                                                              \
        .nfields = 1,                                                                                        \
        .build_multi = same_shapes,                                                                          \
        .forward = elementwise_forward,                                                                      \
        .backward = elementwise_backward,                                                                    \
    }

ELEMENTWISE_VT(ck_add_vt, "Add", "add");
ELEMENTWISE_VT(ck_subtract_vt, "Subtract", "subtract");
ELEMENTWISE_VT(ck_multiply_vt, "Multiply", "multiply");
ELEMENTWISE_VT(ck_average_vt, "Average", "average");
ELEMENTWISE_VT(ck_maximum_vt, "Maximum", "maximum");
ELEMENTWISE_VT(ck_minimum_vt, "Minimum", "minimum");

/* ---- Concatenate ------------------------------------------------------------------------------- */

static const ck_field concat_fields[] = {
    {"axis", CK_INT, "-1", NULL, "axis to join along (batch axis counts as 0)"},
    {"input_shape", CK_INTS, NULL, NULL, "unused", CK_W_NEVER},
};

/* The per-sample axis index (Keras' axis counts the batch axis as 0). */
static int concat_axis(const ckeras_layer *l, int rank)
{
    int64_t a = ck_cfg_int(&l->cfg, "axis");
    return (int)(a < 0 ? a + rank : a - 1);
}

static ckeras_status concat_build(ckeras_layer *l, const ck_shape *ins, int nin, ck_shape *out)
{
    int rank = ins[0].ndim;
    int ax = concat_axis(l, rank);
    if (ax < 0 || ax >= rank)
        return ck_error(CKERAS_ESHAPE, "Concatenate '%s': axis %lld is out of range for inputs of rank %d "
                        "(plus the batch axis)", l->name, (long long)ck_cfg_int(&l->cfg, "axis"), rank);
    *out = ins[0];
    out->d[ax] = 0;
    for (int k = 0; k < nin; k++) {
        bool ok = ins[k].ndim == rank;
        for (int d = 0; ok && d < rank; d++)
            ok = d == ax || ins[k].d[d] == ins[0].d[d];
        if (!ok) {
            char a[96], b[96];
            return ck_error(CKERAS_ESHAPE, "Concatenate '%s': input %d has shape %s, which does not fit %s on "
                            "axis %lld", l->name, k, ck_shape_str(&ins[k], false, a, sizeof a),
                            ck_shape_str(&ins[0], false, b, sizeof b), (long long)ck_cfg_int(&l->cfg, "axis"));
        }
        out->d[ax] = ck_size_add(out->d[ax], ins[k].d[ax]); /* checked with the output shape */
    }
    return CKERAS_OK;
}

/* Sizes: outer = n * prod(shape[:ax]); input k contributes blocks of inner_k = prod(shape_k[ax:]). */
static void concat_sizes(const ckeras_layer *l, int64_t n, int64_t *outer, int64_t *inner_out)
{
    int ax = concat_axis(l, l->out_shape.ndim);
    int64_t o = n;
    for (int d = 0; d < ax; d++)
        o *= l->out_shape.d[d];
    *outer = o;
    *inner_out = ck_shape_size(&l->out_shape) * n / o;
}

static void concat_forward(ckeras_layer *l, const ck_fwd *f)
{
    int64_t outer, inner_out;
    concat_sizes(l, f->n, &outer, &inner_out);
    int64_t off = 0;
    for (int k = 0; k < f->nin; k++) {
        int64_t ik = ((int64_t *)l->priv)[k]; /* input k's block length */
        for (int64_t o = 0; o < outer; o++)
            memcpy(f->y + o * inner_out + off, f->xs[k] + o * ik, (size_t)ik * sizeof(float));
        off += ik;
    }
}

static void concat_backward(ckeras_layer *l, const ck_bwd *b)
{
    int64_t outer, inner_out;
    concat_sizes(l, b->n, &outer, &inner_out);
    int64_t off = 0;
    for (int k = 0; k < b->nin; k++) {
        int64_t ik = ((int64_t *)l->priv)[k];
        if (b->dxs[k])
            for (int64_t o = 0; o < outer; o++)
                memcpy(b->dxs[k] + o * ik, b->dy + o * inner_out + off, (size_t)ik * sizeof(float));
        off += ik;
    }
}

static ckeras_status concat_build_priv(ckeras_layer *l, const ck_shape *ins, int nin, ck_shape *out)
{
    ckeras_status st = concat_build(l, ins, nin, out);
    if (st != CKERAS_OK)
        return st;
    ck_free(l->priv);
    int64_t *inner = ck_calloc((size_t)nin, sizeof *inner);
    if (!inner)
        return CKERAS_ENOMEM;
    int ax = concat_axis(l, ins[0].ndim);
    for (int k = 0; k < nin; k++) {
        int64_t v = 1;
        for (int d = ax; d < ins[k].ndim; d++)
            v *= ins[k].d[d]; /* a tail of a checked input shape: at most its size */
        inner[k] = v;
    }
    l->priv = inner;
    return CKERAS_OK;
}

static void free_priv(ckeras_layer *l)
{
    ck_free(l->priv);
    l->priv = NULL;
}

const ck_layer_vt ck_concatenate_vt = {
    .class_name = "Concatenate",
    .base_name = "concatenate",
    .fields = concat_fields,
    .nfields = sizeof concat_fields / sizeof concat_fields[0],
    .build_multi = concat_build_priv,
    .forward = concat_forward,
    .backward = concat_backward,
    .free_priv = free_priv,
};
