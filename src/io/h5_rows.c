/* Rows of HDF5 data sets read on request (the HDF5 data source, ckeras_data_source_hdf5).
 *
 * The file stays open; each read selects the requested rows of one data set (axis 0) as a union
 * of hyperslabs, one per run of consecutive rows after sorting the indices, reads them into a
 * scratch block in increasing row order (HDF5 converts integer and double types to float32)
 * and scatters them to the order asked for. Memory is the scratch of the largest batch: it does
 * not grow with the file. */
#include "h5_quiet.h"
#include "io.h"

#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#define ROWS_MAX_SETS 40

struct ck_h5_rows {
    char *path;
    hid_t fid;
    int n;
    hid_t dset[ROWS_MAX_SETS];
    char *name[ROWS_MAX_SETS];
    int ndim[ROWS_MAX_SETS];                 /* without the sample axis */
    int64_t shape[ROWS_MAX_SETS][CKERAS_MAX_DIMS];
    int64_t per[ROWS_MAX_SETS];              /* values per row */
    int64_t count;                           /* rows (samples) */
    /* scratch of the largest read so far: sorted (index, position) pairs and rows */
    int64_t *pairs;
    float *rows;
    int64_t cap_pairs, cap_rows;
};

void ck_h5_rows_free(ck_h5_rows *r)
{
    if (!r)
        return;
    h5_quiet q;
    ck_h5_quiet_begin(&q);
    for (int k = 0; k < r->n; k++) {
        if (r->dset[k] >= 0)
            H5Dclose(r->dset[k]);
        ck_free(r->name[k]);
    }
    if (r->fid >= 0)
        H5Fclose(r->fid);
    ck_h5_quiet_end(&q);
    ck_free(r->path);
    ck_free(r->pairs);
    ck_free(r->rows);
    ck_free(r);
}

/* Opens data set k (names[k]) and records its shape. */
static ckeras_status open_set(ck_h5_rows *r, int k, const char *name)
{
    if (!name || !*name)
        return ck_error(CKERAS_EINVAL, "%s: data set %d has no name", r->path, k);
    if (!(r->name[k] = ck_strdup(name)))
        return CKERAS_ENOMEM;
    htri_t ok = H5Lexists(r->fid, name, H5P_DEFAULT);
    if (ok > 0) {
        H5O_info_t info;
        ok = H5Oget_info_by_name2(r->fid, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) >= 0 &&
             info.type == H5O_TYPE_DATASET;
    }
    if (ok <= 0 || (r->dset[k] = H5Dopen2(r->fid, name, H5P_DEFAULT)) < 0)
        return ck_error(CKERAS_EFORMAT, "%s: no data set '%s'", r->path, name);
    hid_t ft = H5Dget_type(r->dset[k]), sp = H5Dget_space(r->dset[k]);
    ckeras_status st = CKERAS_OK;
    H5T_class_t cls = ft >= 0 ? H5Tget_class(ft) : H5T_NO_CLASS;
    int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    hsize_t dims[H5S_MAX_RANK];
    if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
        st = ck_error(CKERAS_EFORMAT, "%s: data set '%s' holds %s, not numbers (float or integer)", r->path, name,
                      cls == H5T_STRING ? "strings" : cls == H5T_COMPOUND ? "compound records" : "a non-numeric type");
    } else if (nd < 1 || nd > CKERAS_MAX_DIMS) {
        st = ck_error(CKERAS_EFORMAT, "%s: data set '%s' has rank %d; a data source needs (samples, ...) with rank "
                      "1..%d", r->path, name, nd, CKERAS_MAX_DIMS);
    } else if (H5Sget_simple_extent_dims(sp, dims, NULL) != nd) {
        st = ck_error(CKERAS_EFORMAT, "%s: data set '%s': cannot read its shape (damaged file)", r->path, name);
    } else {
        r->ndim[k] = nd - 1;
        int64_t per = 1;
        for (int a = 1; a < nd; a++) {
            r->shape[k][a - 1] = (int64_t)dims[a];
            if (dims[a] < 1 || dims[a] > (hsize_t)CKERAS_MAX_SIZE_LIMIT / (hsize_t)per) {
                st = ck_error(CKERAS_EFORMAT, "%s: data set '%s' has an empty or too large sample shape", r->path,
                              name);
                break;
            }
            per *= (int64_t)dims[a];
        }
        r->per[k] = per;
        if (st == CKERAS_OK && k == 0) {
            r->count = (int64_t)dims[0];
            if (r->count < 1)
                st = ck_error(CKERAS_EFORMAT, "%s: data set '%s' has no samples", r->path, name);
        } else if (st == CKERAS_OK && (int64_t)dims[0] != r->count) {
            st = ck_error(CKERAS_EFORMAT, "%s: data set '%s' has %lld samples but '%s' has %lld", r->path, name,
                          (long long)dims[0], r->name[0], (long long)r->count);
        }
    }
    if (ft >= 0)
        H5Tclose(ft);
    if (sp >= 0)
        H5Sclose(sp);
    return st;
}

ckeras_status ck_h5_rows_open(const char *path, int n, const char *const *names, ck_h5_rows **out)
{
    *out = NULL;
    if (n < 1 || n > ROWS_MAX_SETS)
        return ck_error(CKERAS_EINVAL, "%s: give 1..%d data sets, got %d", path, ROWS_MAX_SETS, n);
    ckeras_status st = ck_file_check(path);
    if (st != CKERAS_OK)
        return st;
    ck_h5_rows *r = ck_calloc(1, sizeof *r);
    if (!r)
        return CKERAS_ENOMEM;
    r->fid = -1;
    for (int k = 0; k < ROWS_MAX_SETS; k++)
        r->dset[k] = -1;
    if (!(r->path = ck_strdup(path))) {
        ck_free(r);
        return CKERAS_ENOMEM;
    }
    h5_quiet q;
    ck_h5_quiet_begin(&q);
    if (H5Fis_hdf5(path) <= 0 || (r->fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
        st = ck_error(CKERAS_EFORMAT, "%s: not an HDF5 file, or a damaged one", path);
    for (int k = 0; st == CKERAS_OK && k < n; k++) {
        r->n = k + 1;
        st = open_set(r, k, names ? names[k] : NULL);
    }
    ck_h5_quiet_end(&q);
    if (st != CKERAS_OK) {
        ck_h5_rows_free(r);
        return st;
    }
    *out = r;
    return CKERAS_OK;
}

int64_t ck_h5_rows_count(const ck_h5_rows *r)
{
    return r->count;
}

int ck_h5_rows_shape(const ck_h5_rows *r, int k, int64_t *shape)
{
    memcpy(shape, r->shape[k], (size_t)r->ndim[k] * sizeof *shape);
    return r->ndim[k];
}

static int cmp_pair(const void *a, const void *b)
{
    int64_t x = ((const int64_t *)a)[0], y = ((const int64_t *)b)[0];
    return (x > y) - (x < y);
}

ckeras_status ck_h5_rows_read(ck_h5_rows *r, int k, const int64_t *idx, int64_t n, float *dst)
{
    int64_t per = r->per[k];
    if (r->cap_pairs < n) {
        int64_t *p = ck_malloc_n(2 * n, sizeof *p);
        if (!p)
            return CKERAS_ENOMEM;
        ck_free(r->pairs);
        r->pairs = p;
        r->cap_pairs = n;
    }
    if (r->cap_rows < n * per) {
        float *p = ck_malloc_n(n * per, sizeof *p);
        if (!p)
            return CKERAS_ENOMEM;
        ck_free(r->rows);
        r->rows = p;
        r->cap_rows = n * per;
    }
    for (int64_t i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= r->count)
            return ck_error(CKERAS_EINVAL, "%s: '%s': sample %lld out of range [0, %lld)", r->path, r->name[k],
                            (long long)idx[i], (long long)r->count);
        r->pairs[2 * i] = idx[i];
        r->pairs[2 * i + 1] = i;
    }
    qsort(r->pairs, (size_t)n, 2 * sizeof(int64_t), cmp_pair);
    h5_quiet q;
    ck_h5_quiet_begin(&q);
    ckeras_status st = CKERAS_OK;
    hid_t fs = H5Dget_space(r->dset[k]);
    hsize_t mdims[1] = {(hsize_t)(n * per)};
    hid_t ms = H5Screate_simple(1, mdims, NULL);
    bool ok = fs >= 0 && ms >= 0 && H5Sselect_none(fs) >= 0;
    hsize_t start[H5S_MAX_RANK] = {0}, count[H5S_MAX_RANK];
    for (int a = 0; a < r->ndim[k]; a++)
        count[a + 1] = (hsize_t)r->shape[k][a];
    /* one hyperslab per run of consecutive rows */
    for (int64_t i = 0; ok && i < n;) {
        int64_t j = i + 1;
        while (j < n && r->pairs[2 * j] == r->pairs[2 * (j - 1)] + 1)
            j++;
        start[0] = (hsize_t)r->pairs[2 * i];
        count[0] = (hsize_t)(j - i);
        ok = H5Sselect_hyperslab(fs, H5S_SELECT_OR, start, NULL, count, NULL) >= 0;
        i = j;
    }
    if (!ok || H5Dread(r->dset[k], H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, r->rows) < 0)
        st = ck_error(CKERAS_EIO, "%s: cannot read %lld samples of data set '%s' (from sample %lld; damaged file?)",
                      r->path, (long long)n, r->name[k], (long long)r->pairs[0]);
    if (fs >= 0)
        H5Sclose(fs);
    if (ms >= 0)
        H5Sclose(ms);
    ck_h5_quiet_end(&q);
    if (st != CKERAS_OK)
        return st;
    for (int64_t i = 0; i < n; i++)
        memcpy(dst + r->pairs[2 * i + 1] * per, r->rows + i * per, (size_t)per * sizeof(float));
    return CKERAS_OK;
}
