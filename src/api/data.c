/* Public data-set helpers: CSV to (x, y), scikit-learn's train_test_split and StandardScaler.
 *
 * Sizes: the products here are of a batch (at most the rows of a checked tensor or plan) and
 * per-sample sizes of checked shapes, or counts of checked buffers (core.h, checked size
 * arithmetic; the plan checks every batch buffer), so none passes 2^48. */
#include "io/io.h"

#include <float.h>
#include <stdio.h>
#include <math.h>
#include <string.h>

CKERAS_API ckeras_status ckeras_read_csv(const char *path, ckeras_tensor **x, ckeras_tensor **y)
{
    if (!path)
        return ck_error(CKERAS_EINVAL, "read_csv: path is NULL");
    if (!x || !y)
        return ck_error(CKERAS_EINVAL, "read_csv: x or y (out) is NULL");
    float *d = NULL; /* (rows, cols) */
    int64_t rows = 0, cols = 0;
    ckeras_status st = ck_csv_read(path, &d, &rows, &cols);
    if (st != CKERAS_OK) {
        ck_error_prefix("read_csv");
        return st;
    }
    if (cols < 2) {
        ck_free(d);
        return ck_error(CKERAS_EFORMAT, "read_csv: %s: %lld column(s); need features and a label column",
                        path, (long long)cols);
    }
    int64_t nf = cols - 1;
    ckeras_tensor *tx = ckeras_tensor_new(2, (const int64_t[]){rows, nf}); /* (rows, nf) */
    ckeras_tensor *ty = ckeras_tensor_new(2, (const int64_t[]){rows, 1});  /* (rows, 1) */
    if (!tx || !ty) {
        ckeras_tensor_free(tx);
        ckeras_tensor_free(ty);
        ck_free(d);
        return ck_last_status(CKERAS_ENOMEM); /* a shape past the tensor limit is CKERAS_ESHAPE */
    }
    for (int64_t r = 0; r < rows; r++) {
        memcpy(tx->data + r * nf, d + r * cols, (size_t)nf * sizeof(float));
        ty->data[r] = d[r * cols + nf];
    }
    ck_free(d);
    *x = tx;
    *y = ty;
    return CKERAS_OK;
}

/* A new tensor with the rows idx[0..n) of t (rows = first axis). */
static ckeras_tensor *gather_rows(const ckeras_tensor *t, const int64_t *idx, int64_t n)
{
    int64_t shape[CKERAS_MAX_DIMS];
    int64_t row = 1; /* floats per row */
    shape[0] = n;
    for (int i = 1; i < t->ndim; i++) {
        shape[i] = t->shape[i];
        row *= t->shape[i];
    }
    ckeras_tensor *o = ckeras_tensor_new(t->ndim, shape);
    if (!o)
        return NULL;
    if (row > 0)
        for (int64_t i = 0; i < n; i++)
            memcpy(o->data + i * row, t->data + idx[i] * row, (size_t)row * sizeof(float));
    return o;
}

CKERAS_API ckeras_status ckeras_train_test_split(const ckeras_tensor *x, const ckeras_tensor *y,
                                                 double test_fraction, uint64_t seed, ckeras_tensor **x_train,
                                                 ckeras_tensor **x_test, ckeras_tensor **y_train,
                                                 ckeras_tensor **y_test)
{
    const char *what = "train_test_split";
    ckeras_status st;
    if ((st = ck_tensor_check(x, what, "x")) != CKERAS_OK || (st = ck_tensor_check(y, what, "y")) != CKERAS_OK)
        return st;
    if (!x_train || !x_test || !y_train || !y_test)
        return ck_error(CKERAS_EINVAL, "%s: an output pointer is NULL", what);
    if (!(test_fraction > 0.0 && test_fraction < 1.0))
        return ck_error(CKERAS_EINVAL, "%s: test_fraction must be in (0, 1), got %g", what, test_fraction);
    int64_t n = x->shape[0];
    if (y->shape[0] != n)
        return ck_error(CKERAS_ESHAPE, "%s: x has %lld rows but y has %lld", what, (long long)n,
                        (long long)y->shape[0]);
    /* scikit-learn: n_test = ceil(test_size * n_samples), n_train = n_samples - n_test. */
    double ft = ceil(test_fraction * (double)n);
    int64_t n_test = (int64_t)ft;
    int64_t n_train = n - n_test;
    if (n_test < 1 || n_train < 1)
        return ck_error(CKERAS_EINVAL, "%s: %lld rows with test_fraction %g leave %lld train and %lld test rows",
                        what, (long long)n, test_fraction, (long long)n_train, (long long)n_test);
    int64_t *idx = ck_malloc_n(n, sizeof *idx);
    if (!idx)
        return CKERAS_ENOMEM;
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    ck_rng rng;
    ck_rng_seed(&rng, seed);
    ck_rng_shuffle(&rng, idx, n); /* Fisher-Yates */
    /* As scikit-learn's ShuffleSplit: the first n_test of the permutation are the test rows. */
    ckeras_tensor *xte = gather_rows(x, idx, n_test);
    ckeras_tensor *yte = gather_rows(y, idx, n_test);
    ckeras_tensor *xtr = gather_rows(x, idx + n_test, n_train);
    ckeras_tensor *ytr = gather_rows(y, idx + n_test, n_train);
    ck_free(idx);
    if (!xte || !yte || !xtr || !ytr) {
        ckeras_tensor_free(xte);
        ckeras_tensor_free(yte);
        ckeras_tensor_free(xtr);
        ckeras_tensor_free(ytr);
        return CKERAS_ENOMEM;
    }
    *x_train = xtr;
    *x_test = xte;
    *y_train = ytr;
    *y_test = yte;
    return CKERAS_OK;
}

struct ckeras_scaler {
    int64_t nf;    /* features (last axis) */
    double *mean;  /* (nf) */
    double *scale; /* (nf): population std, 1 for constant features */
};

CKERAS_API ckeras_scaler *ckeras_standard_scaler_fit(const ckeras_tensor *x)
{
    const char *what = "standard_scaler_fit";
    if (ck_tensor_check(x, what, "x") != CKERAS_OK)
        return NULL;
    int64_t nf = x->shape[x->ndim - 1];
    int64_t size = ckeras_tensor_size(x);
    if (nf < 1 || size < 1) {
        ck_error(CKERAS_ESHAPE, "%s: x has no features or no rows", what);
        return NULL;
    }
    int64_t rows = size / nf;
    int64_t bad = ck_first_nonfinite(x->data, size);
    if (bad >= 0) {
        ck_error(CKERAS_ENAN, "%s: x has a non-finite value at row %lld, feature %lld", what,
                 (long long)(bad / nf), (long long)(bad % nf));
        return NULL;
    }
    ckeras_scaler *s = ck_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->nf = nf;
    s->mean = ck_calloc((size_t)nf, sizeof(double));
    s->scale = ck_calloc((size_t)nf, sizeof(double));
    if (!s->mean || !s->scale) {
        ckeras_standard_scaler_free(s);
        return NULL;
    }
    /* Two passes in double: mean, then population variance about it. */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < nf; j++)
            s->mean[j] += x->data[r * nf + j];
    for (int64_t j = 0; j < nf; j++)
        s->mean[j] /= (double)rows;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < nf; j++) {
            double d = x->data[r * nf + j] - s->mean[j];
            s->scale[j] += d * d;
        }
    for (int64_t j = 0; j < nf; j++) {
        double var = s->scale[j] / (double)rows;
        /* scikit-learn treats a feature as constant when its variance is within rounding of
         * zero (var <= n eps var + (n mean eps)^2) and then divides by 1. */
        double n_eps = (double)rows * DBL_EPSILON;
        double bound = n_eps * var + (n_eps * s->mean[j]) * (n_eps * s->mean[j]);
        s->scale[j] = var <= bound ? 1.0 : sqrt(var);
    }
    return s;
}

CKERAS_API ckeras_status ckeras_standard_scaler_transform(const ckeras_scaler *s, ckeras_tensor *x)
{
    const char *what = "standard_scaler_transform";
    if (!s)
        return ck_error(CKERAS_EINVAL, "%s: scaler is NULL", what);
    ckeras_status st = ck_tensor_check(x, what, "x");
    if (st != CKERAS_OK)
        return st;
    if (x->shape[x->ndim - 1] != s->nf)
        return ck_error(CKERAS_ESHAPE, "%s: x has %lld features (last axis), the scaler was fitted on %lld",
                        what, (long long)x->shape[x->ndim - 1], (long long)s->nf);
    int64_t rows = ckeras_tensor_size(x) / s->nf;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < s->nf; j++) {
            float *v = &x->data[r * s->nf + j];
            *v = (float)(((double)*v - s->mean[j]) / s->scale[j]);
        }
    return CKERAS_OK;
}

CKERAS_API void ckeras_standard_scaler_free(ckeras_scaler *s)
{
    if (!s)
        return;
    ck_free(s->mean);
    ck_free(s->scale);
    ck_free(s);
}

CKERAS_API ckeras_status ckeras_read_npy(const char *path, ckeras_tensor **out)
{
    if (!out)
        return ck_error(CKERAS_EINVAL, "read_npy: out is NULL");
    *out = NULL;
    if (!path)
        return ck_error(CKERAS_EINVAL, "read_npy: path is NULL");
    return ck_npy_read(path, out);
}

CKERAS_API ckeras_status ckeras_read_npz(const char *path, int *count, char ***names, ckeras_tensor ***arrays)
{
    if (!path || !count || !names || !arrays)
        return ck_error(CKERAS_EINVAL, "read_npz: %s is NULL", !path ? "path" : !count ? "count" : !names ? "names"
                                                                                                     : "arrays");
    return ck_npz_read(path, count, names, arrays);
}

CKERAS_API void ckeras_npz_free(int count, char **names, ckeras_tensor **arrays)
{
    ck_npz_free(count, names, arrays);
}

CKERAS_API ckeras_status ckeras_write_npy(const char *path, const ckeras_tensor *t)
{
    if (!path || !t)
        return ck_error(CKERAS_EINVAL, "write_npy: %s is NULL", path ? "tensor" : "path");
    return ck_npy_write(path, t);
}

CKERAS_API ckeras_status ckeras_write_npz(const char *path, int count, const char *const *names,
                                          const ckeras_tensor *const *arrays)
{
    return ck_npz_write(path, count, names, arrays);
}

CKERAS_API ckeras_status ckeras_read_idx(const char *path, ckeras_tensor **out)
{
    if (!out)
        return ck_error(CKERAS_EINVAL, "read_idx: out is NULL");
    *out = NULL;
    if (!path)
        return ck_error(CKERAS_EINVAL, "read_idx: path is NULL");
    return ck_idx_read(path, out);
}

CKERAS_API ckeras_status ckeras_tensor_reshape(ckeras_tensor *t, int ndim, const int64_t *shape)
{
    if (!t || !shape)
        return ck_error(CKERAS_EINVAL, "tensor_reshape: %s is NULL", t ? "shape" : "tensor");
    if (ndim < 1 || ndim > CKERAS_MAX_DIMS)
        return ck_error(CKERAS_EINVAL, "tensor_reshape: ndim must be 1..%d, got %d", CKERAS_MAX_DIMS, ndim);
    int64_t total = ckeras_tensor_size(t), known = 1;
    int infer = -1;
    for (int k = 0; k < ndim; k++) {
        if (shape[k] == -1 && infer < 0)
            infer = k;
        else if (shape[k] < 0)
            return ck_error(CKERAS_EINVAL, "tensor_reshape: axis %d is %lld", k, (long long)shape[k]);
        else
            known = ck_size_mul(known, shape[k]);
    }
    int64_t fill = infer >= 0 ? (known && known != CK_SIZE_OVERFLOW ? total / known : -1) : 0;
    if ((infer >= 0 && (fill < 0 || ck_size_mul(fill, known) != total)) || (infer < 0 && known != total))
        return ck_error(CKERAS_ESHAPE, "tensor_reshape: %lld elements do not fit the new shape", (long long)total);
    ck_shape s = {.ndim = ndim};
    for (int k = 0; k < ndim; k++)
        s.d[k] = k == infer ? fill : shape[k];
    ckeras_status st = ck_shape_check(&s, "tensor_reshape: the new shape");
    if (st != CKERAS_OK)
        return st;
    t->ndim = ndim;
    for (int k = 0; k < ndim; k++)
        t->shape[k] = s.d[k];
    return CKERAS_OK;
}

CKERAS_API ckeras_status ckeras_datasets_fashion_mnist(const char *dir, ckeras_tensor **x_train,
                                                       ckeras_tensor **y_train, ckeras_tensor **x_test,
                                                       ckeras_tensor **y_test)
{
    if (!x_train || !y_train || !x_test || !y_test)
        return ck_error(CKERAS_EINVAL, "datasets_fashion_mnist: an output is NULL");
    *x_train = *y_train = *x_test = *y_test = NULL;
    if (!dir)
        dir = "/usr/share/datasets/fashion-mnist";
    static const char *files[4] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                   "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
    ckeras_tensor *t[4] = {NULL, NULL, NULL, NULL};
    ckeras_status st = CKERAS_OK;
    for (int i = 0; i < 4 && st == CKERAS_OK; i++) {
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, files[i]) >= sizeof path) {
            st = ck_error(CKERAS_EINVAL, "datasets_fashion_mnist: directory name too long");
            break;
        }
        st = ck_idx_read(path, &t[i]);
        if (st != CKERAS_OK) {
            ck_error_prefix("datasets_fashion_mnist (install Debian's dataset-fashion-mnist, or give its folder)");
            break;
        }
    }
    for (int i = 0; i < 4 && st == CKERAS_OK; i += 2) {
        bool ok = t[i]->ndim == 3 && t[i]->shape[1] == 28 && t[i]->shape[2] == 28 && t[i + 1]->ndim == 1 &&
                  t[i + 1]->shape[0] == t[i]->shape[0];
        if (!ok)
            st = ck_error(CKERAS_EFORMAT, "datasets_fashion_mnist: %s and %s do not hold 28x28 images and their "
                          "labels", files[i], files[i + 1]);
    }
    if (st != CKERAS_OK) {
        for (int i = 0; i < 4; i++)
            ckeras_tensor_free(t[i]);
        return st;
    }
    *x_train = t[0];
    *y_train = t[1];
    *x_test = t[2];
    *y_test = t[3];
    return CKERAS_OK;
}

CKERAS_API ckeras_status ckeras_to_categorical(const ckeras_tensor *y, int num_classes, ckeras_tensor **out)
{
    if (!y || !out)
        return ck_error(CKERAS_EINVAL, "to_categorical: %s is NULL", y ? "out" : "y");
    *out = NULL;
    int64_t n = ckeras_tensor_size(y);
    int maxc = -1;
    for (int64_t i = 0; i < n; i++) {
        float v = y->data[i];
        if (!(v >= 0) || v != floorf(v) || v > 1e7f)
            return ck_error(CKERAS_EINVAL, "to_categorical: label %lld is %g, not a class index", (long long)i,
                            (double)v);
        if ((int)v > maxc)
            maxc = (int)v;
    }
    if (num_classes <= 0)
        num_classes = maxc + 1;
    if (maxc >= num_classes)
        return ck_error(CKERAS_EINVAL, "to_categorical: label %d does not fit %d classes", maxc, num_classes);
    int nd = y->ndim;
    if (nd > 1 && y->shape[nd - 1] == 1)
        nd--;
    if (nd + 1 > CKERAS_MAX_DIMS)
        return ck_error(CKERAS_ESHAPE, "to_categorical: too many axes");
    int64_t shape[CKERAS_MAX_DIMS];
    for (int k = 0; k < nd; k++)
        shape[k] = y->shape[k];
    shape[nd] = num_classes;
    ckeras_tensor *t = ckeras_tensor_new(nd + 1, shape);
    if (!t)
        return ck_last_status(CKERAS_ENOMEM);
    for (int64_t i = 0; i < n; i++)
        t->data[i * num_classes + (int64_t)y->data[i]] = 1.0f;
    *out = t;
    return CKERAS_OK;
}
