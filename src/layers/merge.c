/* Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate.
 *
 * The elementwise ones broadcast as Keras does: the per-sample shapes of the inputs are aligned
 * on their last axes (a lower-rank input gets axes of size 1 after the batch axis, as Keras'
 * merge layers expand it) and an axis of size 1 stretches to the others' size (NumPy's rule),
 * e.g. Multiply of (1, 1, C) and (H, W, C), the squeeze-and-excite of MobileNetV3 and
 * EfficientNet. The gradient of a broadcast input sums over the axes it was stretched along.
 *
 * Keras 3 records an operation on a tensor and a plain number (x + 3.0, x * (1 / 6): the
 * hard-swish of MobileNetV3) as a node of the operation (keras.src.ops.numpy.Add, Multiply, ...)
 * with the number among its arguments; such a node loads as the merge layer of the same name
 * with the number as a constant operand in its place (ck_merge_set_constants). */
#include "layers.h"

#include <string.h>

#define MERGE_MAX_OPS 16

typedef struct merge_priv {
    int nconst;                 /* constant operands (set before build) */
    int cpos[MERGE_MAX_OPS];    /* ... their positions among the operands, ascending */
    double cval[MERGE_MAX_OPS]; /* ... and values */
    int nops;                   /* operands: tensor inputs and constants, in call order */
    int src[MERGE_MAX_OPS];     /* operand j: its tensor input, or -1: the constant val[j] */
    float val[MERGE_MAX_OPS];
    bool bcast;                 /* some input's shape differs from the output's */
    int rank;                   /* the output's per-sample rank and axes */
    int64_t dims[CKERAS_MAX_DIMS];
    int64_t insize[MERGE_MAX_OPS];                 /* per-sample size of tensor input k */
    int64_t stride[MERGE_MAX_OPS][CKERAS_MAX_DIMS]; /* input k's step along output axis d; 0 where
                                                      it is broadcast */
} merge_priv;

static const ck_field merge_fields[] = {
    {"input_shape", CK_INTS, NULL, NULL, "unused", CK_W_NEVER},
};

ckeras_status ck_merge_set_constants(ckeras_layer *l, int n, const int *pos, const double *val)
{
    if (!ck_merge_is_elementwise(l->vt))
        return ck_error(CKERAS_EUNSUPPORTED, "%s '%s': only Add, Subtract, Multiply, Average, Maximum and Minimum "
                        "take plain numbers among their inputs", l->vt->class_name, l->name);
    if (n < 0 || n > MERGE_MAX_OPS / 2)
        return ck_error(CKERAS_EUNSUPPORTED, "%s '%s': %d plain numbers among its inputs (at most %d)",
                        l->vt->class_name, l->name, n, MERGE_MAX_OPS / 2);
    merge_priv *p = ck_layer_priv(l, sizeof *p);
    if (!p)
        return CKERAS_ENOMEM;
    for (int j = 0; j < n; j++) {
        if (pos[j] < 0 || pos[j] >= MERGE_MAX_OPS || (j > 0 && pos[j] <= pos[j - 1]))
            return ck_error(CKERAS_EINVAL, "%s '%s': bad position %d of a plain number among its inputs",
                            l->vt->class_name, l->name, pos[j]);
        p->cpos[j] = pos[j];
        p->cval[j] = val[j];
    }
    p->nconst = n;
    return CKERAS_OK;
}

int ck_merge_constants(const ckeras_layer *l, int cap, int *pos, double *val)
{
    const merge_priv *p = ck_merge_is_elementwise(l->vt) ? l->priv : NULL;
    if (!p)
        return 0;
    for (int j = 0; j < p->nconst && j < cap; j++) {
        pos[j] = p->cpos[j];
        val[j] = p->cval[j];
    }
    return p->nconst;
}

/* Keras' output shape of an elementwise merge: the inputs' shapes broadcast (aligned on their
 * last axes; an axis of 1 stretches). Constants are scalars and change nothing. */
static ckeras_status elementwise_build(ckeras_layer *l, const ck_shape *ins, int nin, ck_shape *out)
{
    bool sub = l->vt == &ck_subtract_vt;
    merge_priv *p = ck_layer_priv(l, sizeof *p);
    if (!p)
        return CKERAS_ENOMEM;
    int nops = nin + p->nconst;
    if (nin < 1 || nops < (sub ? 2 : 1) || (sub && nops != 2) || nops > MERGE_MAX_OPS)
        return ck_error(CKERAS_ESHAPE, "%s '%s': needs %s inputs, got %d", l->vt->class_name, l->name,
                        sub ? "exactly 2" : "at least 1", nops);
    if (p->nconst > 0 && p->cpos[p->nconst - 1] >= nops)
        return ck_error(CKERAS_ESHAPE, "%s '%s': a plain number at position %d among %d inputs", l->vt->class_name,
                        l->name, p->cpos[p->nconst - 1], nops);
    int rank = 0;
    for (int k = 0; k < nin; k++)
        rank = ins[k].ndim > rank ? ins[k].ndim : rank;
    ck_shape o = {0};
    o.ndim = rank;
    for (int d = 0; d < rank; d++)
        o.d[d] = 1;
    for (int k = 0; k < nin; k++) {
        int lead = rank - ins[k].ndim;
        for (int d = 0; d < ins[k].ndim; d++) {
            int64_t a = ins[k].d[d], *b = &o.d[lead + d];
            if (a == *b || a == 1)
                continue;
            if (*b == 1) {
                *b = a;
                continue;
            }
            char sa[96], sb[96];
            return ck_error(CKERAS_ESHAPE, "%s '%s': input %d has shape %s, which does not broadcast with %s "
                            "(Keras: inputs have incompatible shapes)", l->vt->class_name, l->name, k,
                            ck_shape_str(&ins[k], false, sa, sizeof sa), ck_shape_str(&ins[0], false, sb, sizeof sb));
        }
    }
    p->nops = nops;
    p->rank = rank;
    p->bcast = p->nconst > 0;
    for (int d = 0; d < rank; d++)
        p->dims[d] = o.d[d];
    for (int j = 0, k = 0, c = 0; j < nops; j++) {
        if (c < p->nconst && p->cpos[c] == j) {
            p->src[j] = -1;
            p->val[j] = (float)p->cval[c++];
        } else {
            p->src[j] = k++;
        }
    }
    for (int k = 0; k < nin; k++) {
        int lead = rank - ins[k].ndim;
        int64_t st = 1;
        p->insize[k] = ck_shape_size(&ins[k]);
        p->bcast |= !ck_shape_eq(&ins[k], &o);
        for (int d = rank - 1; d >= 0; d--) {
            int64_t a = d >= lead ? ins[k].d[d - lead] : 1;
            p->stride[k][d] = a == 1 && o.d[d] != 1 ? 0 : st;
            st *= a;
        }
    }
    *out = o;
    return CKERAS_OK;
}

/* y = x0 op x1 op ...; every buffer (n, size), no broadcasting, no constants */
static void elementwise_forward_plain(ckeras_layer *l, const ck_fwd *f)
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

/* Walks the output of one sample in order, keeping each input's offset (odometer on the output
 * axes; a broadcast axis has stride 0). */
typedef struct bc_walk {
    int64_t idx[CKERAS_MAX_DIMS];
    int64_t off[MERGE_MAX_OPS];
} bc_walk;

static void bc_next(const merge_priv *p, int nin, bc_walk *w)
{
    for (int d = p->rank - 1; d >= 0; d--) {
        for (int k = 0; k < nin; k++)
            w->off[k] += p->stride[k][d];
        if (++w->idx[d] < p->dims[d])
            return;
        for (int k = 0; k < nin; k++)
            w->off[k] -= p->stride[k][d] * p->dims[d];
        w->idx[d] = 0;
    }
}

/* Operand j's value at the walk's position in sample s. */
static inline float operand(const merge_priv *p, const float *const *xs, int j, int64_t s, const bc_walk *w)
{
    int k = p->src[j];
    return k < 0 ? p->val[j] : xs[k][s * p->insize[k] + w->off[k]];
}

static float combine(const ck_layer_vt *vt, const merge_priv *p, const float *const *xs, int64_t s, const bc_walk *w)
{
    float y = operand(p, xs, 0, s, w);
    for (int j = 1; j < p->nops; j++) {
        float v = operand(p, xs, j, s, w);
        if (vt == &ck_add_vt || vt == &ck_average_vt)
            y += v;
        else if (vt == &ck_subtract_vt)
            y -= v;
        else if (vt == &ck_multiply_vt)
            y *= v;
        else if (vt == &ck_maximum_vt)
            y = v > y ? v : y;
        else
            y = v < y ? v : y;
    }
    return vt == &ck_average_vt ? y * (1.0f / (float)p->nops) : y;
}

static void elementwise_forward(ckeras_layer *l, const ck_fwd *f)
{
    const merge_priv *p = l->priv;
    if (!p->bcast) {
        elementwise_forward_plain(l, f);
        return;
    }
    int64_t per = ck_shape_size(&l->out_shape);
    for (int64_t s = 0; s < f->n; s++) {
        bc_walk w;
        memset(&w, 0, sizeof w);
        float *y = f->y + s * per;
        for (int64_t i = 0; i < per; i++) {
            y[i] = combine(l->vt, p, f->xs, s, &w);
            bc_next(p, f->nin, &w);
        }
    }
}

static void elementwise_backward_plain(ckeras_layer *l, const ck_bwd *b)
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

/* d y / d operand j at the walk's position (y: the output there). */
static float partial(const ck_layer_vt *vt, const merge_priv *p, const float *const *xs, int j, int64_t s,
                     const bc_walk *w, float y)
{
    if (vt == &ck_add_vt)
        return 1.0f;
    if (vt == &ck_average_vt)
        return 1.0f / (float)p->nops;
    if (vt == &ck_subtract_vt)
        return j == 0 ? 1.0f : -1.0f;
    if (vt == &ck_multiply_vt) {
        float g = 1.0f;
        for (int i = 0; i < p->nops; i++)
            if (i != j)
                g *= operand(p, xs, i, s, w);
        return g;
    }
    /* maximum/minimum: the first operand that holds the result */
    int first = 0;
    while (first < p->nops && operand(p, xs, first, s, w) != y)
        first++;
    return first == j ? 1.0f : 0.0f;
}

static void elementwise_backward(ckeras_layer *l, const ck_bwd *b)
{
    const merge_priv *p = l->priv;
    if (!p->bcast) {
        elementwise_backward_plain(l, b);
        return;
    }
    for (int k = 0; k < b->nin; k++)
        if (b->dxs[k])
            memset(b->dxs[k], 0, (size_t)(b->n * p->insize[k]) * sizeof(float));
    int64_t per = ck_shape_size(&l->out_shape);
    for (int64_t s = 0; s < b->n; s++) {
        bc_walk w;
        memset(&w, 0, sizeof w);
        for (int64_t i = 0; i < per; i++) {
            float dy = b->dy[s * per + i], y = b->y[s * per + i];
            for (int j = 0; j < p->nops; j++) {
                int k = p->src[j];
                if (k >= 0 && b->dxs[k])
                    b->dxs[k][s * p->insize[k] + w.off[k]] += dy * partial(l->vt, p, b->xs, j, s, &w, y);
            }
            bc_next(p, b->nin, &w);
        }
    }
}

static void merge_free_priv(ckeras_layer *l)
{
    ck_free(l->priv);
    l->priv = NULL;
}

#define ELEMENTWISE_VT(sym, cls, base)                                                                       \
    const ck_layer_vt sym = {                                                                                \
        .class_name = cls,                                                                                   \
        .base_name = base,                                                                                   \
        .fields = merge_fields,                                                                              \
        .nfields = 1,                                                                                        \
        .build_multi = elementwise_build,                                                                    \
        .forward = elementwise_forward,                                                                      \
        .backward = elementwise_backward,                                                                    \
        .free_priv = merge_free_priv,                                                                        \
        .rows_apart = ck_layer_rows_apart,                                                                   \
    }

ELEMENTWISE_VT(ck_add_vt, "Add", "add");
ELEMENTWISE_VT(ck_subtract_vt, "Subtract", "subtract");
ELEMENTWISE_VT(ck_multiply_vt, "Multiply", "multiply");
ELEMENTWISE_VT(ck_average_vt, "Average", "average");
ELEMENTWISE_VT(ck_maximum_vt, "Maximum", "maximum");
ELEMENTWISE_VT(ck_minimum_vt, "Minimum", "minimum");

bool ck_merge_is_elementwise(const ck_layer_vt *vt)
{
    return vt == &ck_add_vt || vt == &ck_subtract_vt || vt == &ck_multiply_vt || vt == &ck_average_vt ||
           vt == &ck_maximum_vt || vt == &ck_minimum_vt;
}

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
    .rows_apart = ck_layer_rows_apart,
};
