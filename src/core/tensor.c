/* Tensors and shapes. */
#include "core.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

bool ck_shape_eq(const ck_shape *a, const ck_shape *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->d[i] != b->d[i])
            return false;
    return true;
}

char *ck_shape_str(const ck_shape *s, bool batch_none, char *buf, size_t n)
{
    size_t len = 0;
    len += (size_t)snprintf(buf + len, n - len, "(");
    for (int i = 0; i < s->ndim && len < n; i++) {
        if ((i == 0 && batch_none) || s->d[i] < 0) /* negative: a variable (None) axis */
            len += (size_t)snprintf(buf + len, n - len, "None");
        else
            len += (size_t)snprintf(buf + len, n - len, "%lld", (long long)s->d[i]);
        if (i + 1 < s->ndim && len < n)
            len += (size_t)snprintf(buf + len, n - len, ", ");
    }
    if (len < n)
        snprintf(buf + len, n - len, s->ndim == 1 && !batch_none ? ",)" : ")");
    return buf;
}

ck_shape ck_tensor_shape(const ckeras_tensor *t)
{
    ck_shape s;
    s.ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++)
        s.d[i] = t->shape[i];
    return s;
}

/* A float is NaN or infinite when its exponent bits are all ones. Blocks of 1024 are tested
 * with a vectorised loop (no early exit; the pragma: gcc 12's -O2 leaves a loop whose count is
 * unknown scalar, 10x slower measured); only a block that holds one is scanned. */
int64_t ck_first_nonfinite(const float *x, int64_t n)
{
    enum { BLOCK = 1024 };
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
        int64_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
        uint32_t bad = 0;
#pragma omp simd reduction(| : bad)
        for (int64_t i = 0; i < m; i++) {
            uint32_t u;
            memcpy(&u, &x[i0 + i], sizeof u);
            bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
        }
        if (bad)
            for (int64_t i = i0; i < i0 + m; i++)
                if (!isfinite(x[i]))
                    return i;
    }
    return -1;
}

ckeras_status ck_tensor_check(const ckeras_tensor *t, const char *what, const char *arg)
{
    if (!t)
        return ck_error(CKERAS_EINVAL, "%s: %s is NULL", what, arg);
    if (t->ndim < 1)
        return ck_error(CKERAS_ESHAPE, "%s: %s has no axes", what, arg);
    return CKERAS_OK;
}

static ckeras_status check_shape(int ndim, const int64_t *shape, const char *what)
{
    if (ndim < 0 || ndim > CKERAS_MAX_DIMS)
        return ck_error(CKERAS_EINVAL, "%s: ndim must be 0..%d, got %d", what, CKERAS_MAX_DIMS, ndim);
    if (ndim > 0 && !shape)
        return ck_error(CKERAS_EINVAL, "%s: shape is NULL", what);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return ck_error(CKERAS_EINVAL, "%s: axis %d has negative length %lld", what, i,
                            (long long)shape[i]);
    ck_shape s = {.ndim = ndim};
    for (int i = 0; i < ndim; i++)
        s.d[i] = shape[i];
    return ck_shape_check(&s, "%s: the shape", what);
}

static ckeras_tensor *tensor_alloc(int ndim, const int64_t *shape, const char *what)
{
    if (check_shape(ndim, shape, what) != CKERAS_OK)
        return NULL;
    ckeras_tensor *t = ck_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    return t;
}

CKERAS_API ckeras_tensor *ckeras_tensor_new(int ndim, const int64_t *shape)
{
    ckeras_tensor *t = tensor_alloc(ndim, shape, "tensor_new");
    if (!t)
        return NULL;
    ck_shape s = ck_tensor_shape(t);
    t->data = ck_alloc_aligned(ck_floats_bytes(ck_shape_size(&s)));
    if (!t->data) {
        ck_free(t);
        return NULL;
    }
    t->owns = true;
    return t;
}

CKERAS_API ckeras_tensor *ckeras_tensor_copy(const float *data, int ndim, const int64_t *shape)
{
    ckeras_tensor *t = ckeras_tensor_new(ndim, shape);
    if (!t)
        return NULL;
    ck_shape s = ck_tensor_shape(t);
    int64_t n = ck_shape_size(&s);
    if (n > 0 && !data) {
        ckeras_tensor_free(t);
        ck_error(CKERAS_EINVAL, "tensor_copy: data is NULL");
        return NULL;
    }
    if (n > 0)
        memcpy(t->data, data, ck_floats_bytes(n));
    return t;
}

CKERAS_API ckeras_tensor *ckeras_tensor_wrap(float *data, int ndim, const int64_t *shape)
{
    if (!data) {
        ck_error(CKERAS_EINVAL, "tensor_wrap: data is NULL");
        return NULL;
    }
    ckeras_tensor *t = tensor_alloc(ndim, shape, "tensor_wrap");
    if (!t)
        return NULL;
    t->data = data;
    t->owns = false;
    return t;
}

CKERAS_API void ckeras_tensor_free(ckeras_tensor *t)
{
    if (!t)
        return;
    if (t->owns)
        ck_free(t->data);
    ck_free(t);
}

CKERAS_API int ckeras_tensor_ndim(const ckeras_tensor *t)
{
    return t ? t->ndim : -1;
}

CKERAS_API int64_t ckeras_tensor_dim(const ckeras_tensor *t, int axis)
{
    if (!t)
        return -1;
    if (axis < 0)
        axis += t->ndim;
    if (axis < 0 || axis >= t->ndim)
        return -1;
    return t->shape[axis];
}

CKERAS_API int64_t ckeras_tensor_size(const ckeras_tensor *t)
{
    if (!t)
        return 0;
    ck_shape s = ck_tensor_shape(t);
    return ck_shape_size(&s);
}

CKERAS_API float *ckeras_tensor_data(ckeras_tensor *t)
{
    return t ? t->data : NULL;
}
