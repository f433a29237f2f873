/* Public data-set helpers: CSV to (x, y), scikit-learn's train_test_split and StandardScaler. */
#include "io/io.h"

#include <float.h>
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
        return CKERAS_ENOMEM;
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
    int64_t *idx = ck_malloc((size_t)n * sizeof *idx);
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

CKERAS_API ckeras_status ckeras_write_npy(const char *path, const ckeras_tensor *t)
{
    if (!path || !t)
        return ck_error(CKERAS_EINVAL, "write_npy: %s is NULL", path ? "tensor" : "path");
    return ck_npy_write(path, t);
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
