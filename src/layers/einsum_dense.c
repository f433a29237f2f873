/* EinsumDense: y = activation(einsum(equation, x, kernel) + bias), Keras' layer for dense
 * projections of several axes ("abc,cde->abde": each position of a sequence to (heads, dim)).
 *
 * An equation "<x>,<kernel>-><y>" names each axis by a letter; "..." on the left of x and y
 * (or on the right of both) stands for the axes it does not name. Each letter is one of:
 *   free x     in x and y, not in the kernel (the batch, a sequence axis)
 *   free k     in the kernel and y, not in x (the new output axes)
 *   contracted in x and the kernel, not in y (summed)
 *   shared     in all three (a batched product)
 * The layer permutes x to (free x, shared, contracted) and the kernel to (shared, contracted,
 * free k) (no copy when they are already in that order, as in every equation
 * MultiHeadAttention builds), makes one GEMM per shared index, and permutes the product (free x,
 * shared, free k) to y's order. Letters that are summed without being in the other operand
 * ("ab,c->a") are refused.
 *
 * Sizes: builds compute shapes with core.h's checked helpers and ck_layer_build checks what they
 * declare; forward, backward and the buffer sizes multiply the batch by per-sample sizes of
 * buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"
#include "kernels/kernels.h"

#include <stdio.h>
#include <string.h>

static const ck_field ein_fields[] = {
    {"equation", CK_STR, NULL, NULL, "einsum equation \"<x>,<kernel>-><output>\" (\"abc,cd->abd\")"},
    {"output_shape", CK_INTS, NULL, NULL, "output shape without the batch axis (None: from the input)", CK_W_NULL_NEG},
    {"activation", CK_STR, "linear", NULL, "activation function"},
    {"bias_axes", CK_STR, NULL, NULL, "output letters that have a bias (None: no bias)"},
    {"kernel_initializer", CK_STR, "glorot_uniform", NULL, "kernel initializer"},
    {"bias_initializer", CK_STR, "zeros", NULL, "bias initializer"},
    {"kernel_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the kernel"},
    {"bias_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the bias"},
    {"activity_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the output, added to the loss"},
    {"kernel_constraint", CK_STR, NULL, NULL, "constraint on kernel after each update"},
    {"bias_constraint", CK_STR, NULL, NULL, "constraint on bias after each update"},
    {"lora_rank", CK_INT, NULL, NULL, "not supported yet (must be None)", CK_W_SET_ONLY},
    {"lora_alpha", CK_INT, NULL, NULL, "not supported yet (must be None)", CK_W_SET_ONLY},
    {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape when first in a Sequential", CK_W_NEVER},
};

#define MAXD CKERAS_MAX_DIMS

typedef struct ein_priv {
    ck_act act;
    int nx, nk, ny;              /* per-sample ranks of x and y; the kernel's rank */
    int64_t xs[MAXD], ks[MAXD];  /* x's per-sample shape, the kernel's */
    int xperm[MAXD], kperm[MAXD], yperm[MAXD]; /* xp axis j = x axis xperm[j]; kp likewise; y axis j
                                                  = yp axis yperm[j] */
    int xinv[MAXD], kinv[MAXD], yinv[MAXD];    /* the inverses */
    int64_t xps[MAXD], kps[MAXD], yps[MAXD];   /* shapes of xp, kp, yp */
    bool xid, kid, yid;          /* identity permutations: no copy */
    int64_t rows, S, C, F;       /* per sample: free-x rows; shared, contracted, free-k sizes */
    int m;                       /* output axes (per sample) */
    int64_t od[MAXD], bstride[MAXD], bsize; /* bias broadcast (bsize 0: no bias) */
    bool bias_last;              /* the bias covers exactly the last bsize output floats */
} ein_priv;

static void ein_free(ckeras_layer *l)
{
    ck_free(l->priv);
    l->priv = NULL;
}

static bool is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Splits "x,k->y" into its three parts (copied into bufs of MAXD + 4 chars). */
static bool split_equation(const char *eq, char *x, char *k, char *y)
{
    const char *comma = strchr(eq, ','), *arrow = strstr(eq, "->");
    if (!comma || !arrow || arrow < comma)
        return false;
    size_t nx = (size_t)(comma - eq), nk = (size_t)(arrow - comma - 1), ny = strlen(arrow + 2);
    if (nx > MAXD + 3 || nk > MAXD + 3 || ny > MAXD + 3)
        return false;
    memcpy(x, eq, nx);
    x[nx] = '\0';
    memcpy(k, comma + 1, nk);
    k[nk] = '\0';
    memcpy(y, arrow + 2, ny + 1);
    return true;
}

static bool all_letters(const char *s)
{
    for (; *s; s++)
        if (!is_letter(*s))
            return false;
    return true;
}

static int pos_of(const char *s, char c)
{
    const char *p = strchr(s, c);
    return p ? (int)(p - s) : -1;
}

static bool has_repeats(const char *s)
{
    for (int i = 0; s[i]; i++)
        if (strchr(s + i + 1, s[i]))
            return true;
    return false;
}

/* The permutation that lists the axes of spec in the order of the letters of want. */
static void perm_of(const char *spec, const char *want, int *perm)
{
    for (int j = 0; want[j]; j++)
        perm[j] = pos_of(spec, want[j]);
}

static bool perm_setup(int n, const int *perm, const int64_t *shape, int *inv, int64_t *pshape)
{
    bool id = true;
    for (int j = 0; j < n; j++) {
        inv[perm[j]] = j;
        pshape[j] = shape[perm[j]];
        id = id && perm[j] == j;
    }
    return id;
}

#define FAIL(code, ...) ck_error(code, "EinsumDense '%s': " __VA_ARGS__)

static ckeras_status ein_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    const char *eq = ck_cfg_str(&l->cfg, "equation");
    const ck_value *os = ck_cfg_value(&l->cfg, "output_shape");
    const char *bias_axes = ck_cfg_str(&l->cfg, "bias_axes");
    if (!eq)
        return FAIL(CKERAS_EINVAL, "equation is required", l->name);
    if (os->is_none)
        return FAIL(CKERAS_EINVAL, "output_shape is required", l->name);
    if (!ck_cfg_value(&l->cfg, "lora_rank")->is_none)
        return FAIL(CKERAS_EUNSUPPORTED, "lora_rank (LoRA fine-tuning) is not supported yet", l->name);
    char x[MAXD + 4], k[MAXD + 4], y[MAXD + 4];
    if (!split_equation(eq, x, k, y))
        return FAIL(CKERAS_EINVAL, "equation '%s' is not of the form <x>,<kernel>-><output> (at most %d axes each)",
                    l->name, eq, MAXD);
    /* "..." at the start of x and y, or at the end of both: the axes it stands for get letters
     * '0', '1', ... (Keras' own three forms: ab,bc->ac / ...ab,bc->...ac / ab...,bc->ac...) */
    int left = strncmp(x, "...", 3) == 0 && strncmp(y, "...", 3) == 0;
    size_t lx = strlen(x), ly = strlen(y);
    int right = !left && lx > 3 && ly > 3 && strcmp(x + lx - 3, "...") == 0 && strcmp(y + ly - 3, "...") == 0;
    char xb[MAXD + 4], yb[MAXD + 4];
    if (lx > MAXD + 3 || ly > MAXD + 3)
        return FAIL(CKERAS_EINVAL, "equation '%s' is too long", l->name, eq);
    snprintf(xb, sizeof xb, "%.*s", (int)(lx - (left || right ? 3 : 0)), x + (left ? 3 : 0));
    snprintf(yb, sizeof yb, "%.*s", (int)(ly - (left || right ? 3 : 0)), y + (left ? 3 : 0));
    if (!xb[0] || !k[0] || !yb[0] || !all_letters(xb) || !all_letters(k) || !all_letters(yb) ||
        (right && strlen(xb) < 2))
        return FAIL(CKERAS_EINVAL, "equation '%s' is not one of Keras' forms ab,bc->ac, ...ab,bc->...ac or "
                    "ab...,bc->ac... (letters a-z, A-Z)", l->name, eq);
    if (has_repeats(xb) || has_repeats(k) || has_repeats(yb))
        return FAIL(CKERAS_EUNSUPPORTED, "equation '%s' repeats a letter within an operand (a diagonal), which "
                    "is not supported", l->name, eq);
    int rank = in->ndim + 1; /* with the batch axis */
    int elided = rank - (int)strlen(xb);
    if ((left || right) ? elided < (left ? 1 : 0) : elided != 0)
        return FAIL(CKERAS_ESHAPE, "equation '%s' names %d axes of x, which has %d with the batch axis", l->name,
                    eq, (int)strlen(xb), rank);
    char xs[2 * MAXD + 8], ys[2 * MAXD + 8];
    if (left) { /* the elided axes, the batch first, start both */
        for (int i = 0; i < elided; i++)
            xs[i] = ys[i] = (char)('0' + i);
        snprintf(xs + elided, sizeof xs - (size_t)elided, "%s", xb);
        snprintf(ys + elided, sizeof ys - (size_t)elided, "%s", yb);
    } else {
        snprintf(xs, sizeof xs, "%s", xb);
        snprintf(ys, sizeof ys, "%s", yb);
        size_t a = strlen(xs), b = strlen(ys);
        for (int i = 0; i < elided; i++)
            xs[a + (size_t)i] = ys[b + (size_t)i] = (char)('0' + i);
        xs[a + (size_t)elided] = ys[b + (size_t)elided] = '\0';
    }
    int ny = (int)strlen(ys);
    if (ny > MAXD || (int)strlen(k) > MAXD)
        return FAIL(CKERAS_EUNSUPPORTED, "equation '%s' has more than %d axes", l->name, eq, MAXD);
    /* the partial output shape covers y's named letters after the batch (all of them with "..."
     * on the left) */
    int named = (int)strlen(yb), first = left ? elided : 1;
    if (os->n != named - (left ? 0 : 1))
        return FAIL(CKERAS_EINVAL, "output_shape has %d entries; equation '%s' needs %d", l->name, os->n, eq,
                    named - (left ? 0 : 1));
    if (xs[0] != ys[0] || strchr(k, xs[0]))
        return FAIL(CKERAS_EUNSUPPORTED, "equation '%s': the batch axis '%c' must lead the output and not be in "
                    "the kernel", l->name, eq, xs[0]);
    int64_t ydim[MAXD], kdim[MAXD], xdim[MAXD];
    xdim[0] = -1;
    for (int i = 1; i < rank; i++)
        xdim[i] = in->d[i - 1];
    for (int j = 0; j < ny; j++) {
        int ix = pos_of(xs, ys[j]);
        int64_t given = j >= first && j < first + os->n ? os->v[j - first] : -1;
        if (ix < 0 && !strchr(k, ys[j]))
            return FAIL(CKERAS_EINVAL, "output letter '%c' of '%s' is in neither x nor the kernel", l->name, ys[j],
                        eq);
        if (ix >= 0) {
            if (given > 0 && ix > 0 && given != xdim[ix])
                return FAIL(CKERAS_ESHAPE, "output_shape gives %lld for '%c', the input has %lld", l->name,
                            (long long)given, ys[j], (long long)xdim[ix]);
            ydim[j] = xdim[ix];
        } else {
            if (given <= 0)
                return FAIL(CKERAS_EINVAL, "output_shape must give the size of '%c' (it is not in the input)",
                            l->name, ys[j]);
            ydim[j] = given;
        }
    }
    int nk = (int)strlen(k);
    for (int j = 0; j < nk; j++) {
        int ix = pos_of(xs, k[j]), iy = pos_of(ys, k[j]);
        if (ix < 0 && iy < 0)
            return FAIL(CKERAS_EINVAL, "kernel letter '%c' of '%s' is in neither x nor the output", l->name, k[j], eq);
        kdim[j] = ix >= 0 ? xdim[ix] : ydim[iy];
    }
    for (int i = 1; i < rank; i++)
        if (!strchr(k, xs[i]) && !strchr(ys, xs[i]))
            return FAIL(CKERAS_EUNSUPPORTED, "input letter '%c' of '%s' is summed without a kernel axis, which is "
                        "not supported", l->name, xs[i], eq);
    /* letter classes, each in output (free, shared) or kernel (contracted) order */
    char fx[MAXD + 1] = "", sh[MAXD + 1] = "", co[MAXD + 1] = "", fk[MAXD + 1] = "";
    for (int j = 1; j < ny; j++) {
        bool inx = strchr(xs, ys[j]) != NULL, ink = strchr(k, ys[j]) != NULL;
        char *dst = inx && ink ? sh : inx ? fx : fk;
        size_t n = strlen(dst);
        dst[n] = ys[j];
        dst[n + 1] = '\0';
    }
    for (int j = 0; j < nk; j++)
        if (strchr(xs, k[j]) && !strchr(ys, k[j])) {
            size_t n = strlen(co);
            co[n] = k[j];
            co[n + 1] = '\0';
        }
    ckeras_status st = CKERAS_OK;
    ein_priv *p = ck_layer_priv(l, sizeof *p);
    if (!p)
        return CKERAS_ENOMEM;
    memset(p, 0, sizeof *p);
    if ((st = ck_act_parse(ck_cfg_str(&l->cfg, "activation"), &p->act)) != CKERAS_OK ||
        (st = ck_init_check(ck_cfg_str(&l->cfg, "kernel_initializer"))) != CKERAS_OK ||
        (st = ck_init_check(ck_cfg_str(&l->cfg, "bias_initializer"))) != CKERAS_OK) {
        ck_error_prefix("EinsumDense '%s'", l->name);
        return st;
    }
    p->nx = rank - 1;
    p->ny = ny - 1;
    p->nk = nk;
    memcpy(p->xs, in->d, (size_t)p->nx * sizeof(int64_t));
    memcpy(p->ks, kdim, (size_t)nk * sizeof(int64_t));
    char want[3 * MAXD + 1];
    snprintf(want, sizeof want, "%s%s%s", fx, sh, co);
    perm_of(xs + 1, want, p->xperm);
    p->xid = perm_setup(p->nx, p->xperm, p->xs, p->xinv, p->xps);
    snprintf(want, sizeof want, "%s%s%s", sh, co, fk);
    perm_of(k, want, p->kperm);
    p->kid = perm_setup(nk, p->kperm, p->ks, p->kinv, p->kps);
    snprintf(want, sizeof want, "%s%s%s", fx, sh, fk); /* yp's letters */
    int64_t ypshape[MAXD];
    for (int j = 0; j < p->ny; j++)
        ypshape[j] = ydim[1 + pos_of(ys + 1, want[j])];
    for (int j = 0; j < p->ny; j++) /* y axis j = yp axis yperm[j] */
        p->yperm[j] = pos_of(want, ys[1 + j]);
    memcpy(p->yps, ypshape, (size_t)p->ny * sizeof(int64_t));
    p->yid = true;
    for (int j = 0; j < p->ny; j++) {
        p->yinv[p->yperm[j]] = j;
        p->yid = p->yid && p->yperm[j] == j;
    }
    p->rows = p->S = p->C = p->F = 1;
    for (int j = 0; fx[j]; j++)
        p->rows = ck_size_mul(p->rows, ydim[pos_of(ys, fx[j])]);
    for (int j = 0; sh[j]; j++)
        p->S = ck_size_mul(p->S, ydim[pos_of(ys, sh[j])]);
    for (int j = 0; co[j]; j++)
        p->C = ck_size_mul(p->C, kdim[pos_of(k, co[j])]);
    for (int j = 0; fk[j]; j++)
        p->F = ck_size_mul(p->F, ydim[pos_of(ys, fk[j])]);
    out->ndim = p->ny;
    for (int j = 0; j < p->ny; j++)
        out->d[j] = ydim[j + 1];
    ck_shape ks = {nk, {0}};
    memcpy(ks.d, kdim, (size_t)nk * sizeof(int64_t));
    ck_layer_add_weight(l, "kernel", &ks, true, "kernel_initializer", NULL);
    if (bias_axes) {
        /* Keras' bias: from the first bias letter of y to its end, size 1 on the letters without
         * one, then a 1 per axis "..." stands for on the right */
        int firstb = ny;
        for (const char *c = bias_axes; *c; c++) {
            int at = pos_of(ys, *c);
            if (!is_letter(*c) || at < 0 || (left && at < elided) || (right && at >= named))
                return FAIL(CKERAS_EINVAL, "bias axis '%c' is not a letter of the output '%s'", l->name, *c, yb);
            if (at == 0)
                return FAIL(CKERAS_EUNSUPPORTED, "a bias on the batch axis '%c' is not supported", l->name, *c);
            firstb = at < firstb ? at : firstb;
        }
        ck_shape bs = {0, {0}};
        p->m = p->ny;
        p->bsize = 1;
        for (int j = 1; j < ny; j++) {
            p->od[j - 1] = ydim[j];
            p->bstride[j - 1] = 0;
        }
        for (int j = firstb; j < ny; j++)
            bs.d[bs.ndim++] = strchr(bias_axes, ys[j]) ? ydim[j] : 1;
        int64_t stride = 1;
        for (int j = ny - 1; j >= firstb; j--) {
            p->bstride[j - 1] = bs.d[j - firstb] > 1 ? stride : 0;
            stride *= bs.d[j - firstb];
        }
        p->bsize = stride;
        p->bias_last = true;
        for (int j = firstb; j < ny; j++)
            p->bias_last = p->bias_last && bs.d[j - firstb] == ydim[j];
        ck_layer_add_weight(l, "bias", &bs, true, "bias_initializer", NULL);
    }
    return CKERAS_OK;
}

static int64_t ein_saved(const ckeras_layer *l, int64_t n)
{
    const ein_priv *p = l->priv;
    if (p->act.kind == CK_ACT_LINEAR || !ck_act_backward_needs_x(&p->act))
        return 0;
    return n * ck_shape_size(&l->out_shape);
}

/* work: xp (if permuted) and its gradient, kp and dkp (if permuted), yp (if permuted) */
static int64_t ein_work(const ckeras_layer *l, int64_t n)
{
    const ein_priv *p = l->priv;
    int64_t xsz = n * ck_shape_size(&l->in_shape), ysz = n * ck_shape_size(&l->out_shape);
    return (p->xid ? 0 : 2 * xsz) + (p->kid ? 0 : 2 * l->w[0].size) + (p->yid ? 0 : ysz);
}

typedef struct ein_bufs {
    float *xp, *dxp, *kp, *dkp, *yp;
} ein_bufs;

static ein_bufs ein_layout(const ckeras_layer *l, int64_t n, float *work)
{
    const ein_priv *p = l->priv;
    int64_t xsz = n * ck_shape_size(&l->in_shape), ysz = n * ck_shape_size(&l->out_shape);
    ein_bufs b = {0};
    float *at = work;
    if (!p->xid) {
        b.xp = at;
        b.dxp = at + xsz;
        at += 2 * xsz;
    }
    if (!p->kid) {
        b.kp = at;
        b.dkp = at + l->w[0].size;
        at += 2 * l->w[0].size;
    }
    if (!p->yid) {
        b.yp = at;
        at += ysz;
    }
    return b;
}

/* yp (n*rows, S, F) = xp (n*rows, S, C) . kp (S, C, F), one GEMM per shared index */
static void ein_product(const ein_priv *p, int64_t n, const float *xp, const float *kp, float *yp)
{
    for (int64_t s = 0; s < p->S; s++)
        ck_gemm(false, false, n * p->rows, p->F, p->C, 1.0f, xp + s * p->C, p->S * p->C, kp + s * p->C * p->F, p->F,
                0.0f, yp + s * p->F, p->S * p->F);
}

static void ein_forward(ckeras_layer *l, const ck_fwd *f)
{
    const ein_priv *p = l->priv;
    ein_bufs w = ein_layout(l, f->n, f->work);
    const float *xp = f->x, *kp = l->w[0].data;
    if (!p->xid) {
        ck_permute(f->x, f->n, p->nx, p->xs, p->xperm, w.xp);
        xp = w.xp;
    }
    if (!p->kid) {
        ck_permute(l->w[0].data, 1, p->nk, p->ks, p->kperm, w.kp);
        kp = w.kp;
    }
    ein_product(p, f->n, xp, kp, p->yid ? f->y : w.yp);
    if (!p->yid)
        ck_permute(w.yp, f->n, p->ny, p->yps, p->yperm, f->y);
    int64_t total = f->n * ck_shape_size(&l->out_shape), last = l->out_shape.d[l->out_shape.ndim - 1];
    if (l->nw > 1) {
        if (p->bias_last)
            ck_add_bias(f->y, l->w[1].data, total / p->bsize, p->bsize);
        else
            ck_bcast_add(f->y, f->n, p->m, p->od, p->bstride, l->w[1].data);
    }
    if (p->act.kind != CK_ACT_LINEAR) {
        if (f->saved && f->training && ck_act_backward_needs_x(&p->act))
            memcpy(f->saved, f->y, (size_t)total * sizeof(float));
        ck_act_forward(&p->act, f->y, f->y, total / last, last);
    }
}

static void ein_backward(ckeras_layer *l, const ck_bwd *b)
{
    const ein_priv *p = l->priv;
    ein_bufs w = ein_layout(l, b->n, b->work);
    int64_t total = b->n * ck_shape_size(&l->out_shape), last = l->out_shape.d[l->out_shape.ndim - 1];
    float *dz = b->dy;
    if (p->act.kind != CK_ACT_LINEAR)
        ck_act_backward(&p->act, b->saved, b->y, b->dy, dz, total / last, last);
    bool train = b->train_weights && l->w[0].grad;
    if (train && l->nw > 1 && l->w[1].grad) {
        if (p->bias_last)
            ck_bias_grad(dz, l->w[1].grad, total / p->bsize, p->bsize);
        else
            ck_bcast_grad(dz, b->n, p->m, p->od, p->bstride, l->w[1].grad, p->bsize);
    }
    /* dyp = dz in yp's order (yp's buffer is free now) */
    const float *dyp = dz;
    if (!p->yid) {
        ck_permute(dz, b->n, p->ny, l->out_shape.d, p->yinv, w.yp);
        dyp = w.yp;
    }
    const float *xp = b->x, *kp = l->w[0].data;
    if (!p->xid) {
        ck_permute(b->x, b->n, p->nx, p->xs, p->xperm, w.xp);
        xp = w.xp;
    }
    if (!p->kid) {
        ck_permute(l->w[0].data, 1, p->nk, p->ks, p->kperm, w.kp);
        kp = w.kp;
    }
    int64_t R = b->n * p->rows;
    if (train) { /* dkp[s] (C, F) = xp[:, s, :]^T . dyp[:, s, :] */
        float *dkp = p->kid ? l->w[0].grad : w.dkp;
        for (int64_t s = 0; s < p->S; s++)
            ck_gemm(true, false, p->C, p->F, R, 1.0f, xp + s * p->C, p->S * p->C, dyp + s * p->F, p->S * p->F, 0.0f,
                    dkp + s * p->C * p->F, p->F);
        if (!p->kid)
            ck_permute(w.dkp, 1, p->nk, p->kps, p->kinv, l->w[0].grad);
    }
    if (b->dx) { /* dxp[:, s, :] (R, C) = dyp[:, s, :] . kp[s]^T */
        float *dxp = p->xid ? b->dx : w.dxp;
        for (int64_t s = 0; s < p->S; s++)
            ck_gemm(false, true, R, p->C, p->F, 1.0f, dyp + s * p->F, p->S * p->F, kp + s * p->C * p->F, p->F, 0.0f,
                    dxp + s * p->C, p->S * p->C);
        if (!p->xid)
            ck_permute(w.dxp, b->n, p->nx, p->xps, p->xinv, b->dx);
    }
}

const ck_layer_vt ck_einsum_dense_vt = {
    .class_name = "EinsumDense",
    .base_name = "einsum_dense",
    .fields = ein_fields,
    .nfields = sizeof ein_fields / sizeof ein_fields[0],
    .build = ein_build,
    .saved_floats = ein_saved,
    .work_floats = ein_work,
    .forward = ein_forward,
    .backward = ein_backward,
    .free_priv = ein_free,
};
