/* Public entry points of data sources: the source object, and the ready sources of src/io (an
 * HDF5 file's data sets, a folder of images by class). fit/evaluate/predict on a source are in
 * model_api.c. */
#include "model/model.h"
#include "io/io.h"
#include "kernels/kernels.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define NEED(h, what)                                                                                        \
    do {                                                                                                     \
        if (!(h))                                                                                            \
            return ck_error(CKERAS_EINVAL, "%s: %s is NULL", __func__ + 7, what);                            \
    } while (0)

CKERAS_API ckeras_status ckeras_data_source_new(int64_t n_samples, ckeras_data_fill_fn fill, void *user_data,
                                                ckeras_data_free_fn free_user_data, ckeras_data_source **out)
{
    ckeras_status st = CKERAS_OK;
    if (out)
        *out = NULL;
    if (!out || !fill)
        st = ck_error(CKERAS_EINVAL, "data_source_new: %s is NULL", out ? "fill" : "out");
    else if (n_samples < 1)
        st = ck_error(CKERAS_EINVAL, "data_source_new: n_samples must be >= 1, got %lld", (long long)n_samples);
    ckeras_data_source *s = st == CKERAS_OK ? ck_calloc(1, sizeof *s) : NULL;
    if (!s) {
        if (free_user_data)
            free_user_data(user_data);
        return st != CKERAS_OK ? st : CKERAS_ENOMEM;
    }
    s->n = n_samples;
    s->fill = fill;
    s->user = user_data;
    s->free_user = free_user_data;
    *out = s;
    return CKERAS_OK;
}

static ckeras_status add_shape(ckeras_data_source *src, bool target, int ndim, const int64_t *shape,
                               const char *what)
{
    if (!src)
        return ck_error(CKERAS_EINVAL, "%s: source is NULL", what);
    int *count = target ? &src->ny : &src->nx;
    int max = target ? CK_MAX_OUTPUTS : CK_MAX_NODE_INPUTS;
    if (*count >= max)
        return ck_error(CKERAS_EINVAL, "%s: at most %d %s", what, max, target ? "targets" : "inputs");
    if (ndim < 0 || ndim > CKERAS_MAX_DIMS - 1 || (ndim > 0 && !shape))
        return ck_error(CKERAS_EINVAL, "%s: ndim must be 0..%d with a shape, got %d", what, CKERAS_MAX_DIMS - 1,
                        ndim);
    ck_shape sh = {.ndim = ndim + 1};
    sh.d[0] = src->n;
    for (int a = 0; a < ndim; a++) {
        if (shape[a] < 1)
            return ck_error(CKERAS_EINVAL, "%s: axis %d has length %lld, must be >= 1", what, a,
                            (long long)shape[a]);
        sh.d[a + 1] = shape[a];
    }
    ckeras_status st = ck_shape_check(&sh, "%s: the shape", what);
    if (st != CKERAS_OK)
        return st;
    ckeras_tensor *t = target ? &src->hy[*count] : &src->hx[*count];
    memset(t, 0, sizeof *t);
    t->ndim = sh.ndim;
    for (int a = 0; a < sh.ndim; a++)
        t->shape[a] = sh.d[a];
    (*count)++;
    return CKERAS_OK;
}

CKERAS_API ckeras_status ckeras_data_source_add_input(ckeras_data_source *src, int ndim, const int64_t *shape)
{
    return add_shape(src, false, ndim, shape, "data_source_add_input");
}

CKERAS_API ckeras_status ckeras_data_source_add_target(ckeras_data_source *src, int ndim, const int64_t *shape)
{
    return add_shape(src, true, ndim, shape, "data_source_add_target");
}

CKERAS_API int64_t ckeras_data_source_count(const ckeras_data_source *src)
{
    return src ? src->n : 0;
}

CKERAS_API int ckeras_data_source_shape(const ckeras_data_source *src, int targets, int i, int64_t *shape)
{
    if (!src)
        return -1;
    int n = targets ? src->ny : src->nx;
    if (shape && i >= 0 && i < n) {
        const ckeras_tensor *t = targets ? &src->hy[i] : &src->hx[i];
        for (int a = 1; a < t->ndim; a++)
            shape[a - 1] = t->shape[a];
    }
    return n;
}

CKERAS_API int ckeras_data_source_class_count(const ckeras_data_source *src)
{
    return src ? src->nclasses : 0;
}

CKERAS_API const char *ckeras_data_source_class_name(const ckeras_data_source *src, int i)
{
    return src && i >= 0 && i < src->nclasses ? src->class_names[i] : NULL;
}

CKERAS_API const char *ckeras_data_source_file_path(const ckeras_data_source *src, int64_t i)
{
    return src && src->file_path && i >= 0 && i < src->n ? src->file_path(src->user, i) : NULL;
}

CKERAS_API void ckeras_data_source_free(ckeras_data_source *src)
{
    if (!src)
        return;
    if (src->free_user)
        src->free_user(src->user);
    ck_free(src->seq);
    ck_free(src);
}

/* ---- the HDF5 source --------------------------------------------------------------------------- */

typedef struct h5_src {
    ck_h5_rows *rows;
    int nx, ny;
} h5_src;

static void h5_src_free(void *p)
{
    h5_src *h = p;
    if (h)
        ck_h5_rows_free(h->rows);
    ck_free(h);
}

static ckeras_status h5_src_fill(void *p, const int64_t *idx, int64_t n, float *const *x, float *const *y)
{
    h5_src *h = p;
    ckeras_status st = CKERAS_OK;
    for (int j = 0; st == CKERAS_OK && j < h->nx; j++)
        st = ck_h5_rows_read(h->rows, j, idx, n, x[j]);
    for (int k = 0; st == CKERAS_OK && y && k < h->ny; k++)
        if (y[k])
            st = ck_h5_rows_read(h->rows, h->nx + k, idx, n, y[k]);
    return st;
}

CKERAS_API ckeras_status ckeras_data_source_hdf5(const char *path, int n_inputs, const char *const *x_datasets,
                                                 int n_targets, const char *const *y_datasets,
                                                 ckeras_data_source **out)
{
    NEED(out, "out");
    *out = NULL;
    NEED(path, "path");
    NEED(x_datasets, "x_datasets");
    if (n_inputs < 1 || n_inputs > CK_MAX_NODE_INPUTS || n_targets < 0 || n_targets > CK_MAX_OUTPUTS ||
        (n_targets > 0 && !y_datasets))
        return ck_error(CKERAS_EINVAL, "data_source_hdf5: give 1..%d input and 0..%d target data sets, got %d and %d",
                        CK_MAX_NODE_INPUTS, CK_MAX_OUTPUTS, n_inputs, n_targets);
    const char *names[CK_MAX_NODE_INPUTS + CK_MAX_OUTPUTS];
    for (int j = 0; j < n_inputs; j++)
        names[j] = x_datasets[j];
    for (int k = 0; k < n_targets; k++)
        names[n_inputs + k] = y_datasets[k];
    h5_src *h = ck_calloc(1, sizeof *h);
    if (!h)
        return CKERAS_ENOMEM;
    h->nx = n_inputs;
    h->ny = n_targets;
    ckeras_status st = ck_h5_rows_open(path, n_inputs + n_targets, names, &h->rows);
    if (st != CKERAS_OK) {
        ck_free(h);
        ck_error_prefix("data_source_hdf5");
        return st;
    }
    ckeras_data_source *src;
    if ((st = ckeras_data_source_new(ck_h5_rows_count(h->rows), h5_src_fill, h, h5_src_free, &src)) != CKERAS_OK)
        return st;
    for (int i = 0; st == CKERAS_OK && i < n_inputs + n_targets; i++) {
        int64_t shape[CKERAS_MAX_DIMS];
        int nd = ck_h5_rows_shape(h->rows, i, shape);
        st = i < n_inputs ? ckeras_data_source_add_input(src, nd, shape) : ckeras_data_source_add_target(src, nd, shape);
    }
    if (st != CKERAS_OK) {
        ckeras_data_source_free(src);
        return st;
    }
    *out = src;
    return CKERAS_OK;
}

/* ---- image folders (Keras image_dataset_from_directory) --------------------------------------- */

enum { LABEL_NONE, LABEL_INT, LABEL_BINARY, LABEL_CATEGORICAL };

typedef struct img_src {
    ck_image_index ix; /* the files and labels of the source, in its order */
    int channels, label_mode;
    int64_t h, w;
    uint8_t *buf; /* decoding scratch, grown to the largest image */
    size_t cap;
    ck_tap *taps; /* resizing scratch: h + w taps */
} img_src;

static void img_src_free(void *p)
{
    img_src *s = p;
    if (!s)
        return;
    ck_image_index_free(&s->ix);
    ck_free(s->buf);
    ck_free(s->taps);
    ck_free(s);
}

static const char *img_src_path(void *p, int64_t i)
{
    return ((img_src *)p)->ix.files[i];
}


static ckeras_status img_src_fill(void *p, const int64_t *idx, int64_t n, float *const *x, float *const *y)
{
    img_src *s = p;
    int64_t per = s->h * s->w * s->channels;
    for (int64_t i = 0; i < n; i++) {
        int64_t h, w;
        ckeras_status st = ck_image_decode(s->ix.files[idx[i]], s->channels, &s->buf, &s->cap, &h, &w);
        if (st != CKERAS_OK)
            return st;
        ck_resize_bilinear_u8(s->buf, h, w, s->channels, x[0] + i * per, s->h, s->w, s->taps);
        if (!y || !y[0])
            continue;
        int64_t lab = s->ix.labels[idx[i]];
        if (s->label_mode == LABEL_CATEGORICAL) {
            float *row = y[0] + i * s->ix.nclasses;
            for (int c = 0; c < s->ix.nclasses; c++)
                row[c] = c == lab ? 1.0f : 0.0f;
        } else {
            y[0][i] = (float)lab;
        }
    }
    return CKERAS_OK;
}

static int color_channels(const char *color_mode)
{
    if (!color_mode || strcmp(color_mode, "rgb") == 0)
        return 3;
    if (strcmp(color_mode, "grayscale") == 0)
        return 1;
    if (strcmp(color_mode, "rgba") == 0)
        return 4;
    return 0;
}

/* Keeps entries perm[from .. to) of ix, in that order. */
static ckeras_status reorder(ck_image_index *ix, const int64_t *perm, int64_t from, int64_t to)
{
    int64_t m = to - from;
    char **files = ck_malloc_n(m > 0 ? m : 1, sizeof *files);
    int64_t *labels = ck_malloc_n(m > 0 ? m : 1, sizeof *labels);
    if (!files || !labels) {
        ck_free(files);
        ck_free(labels);
        return CKERAS_ENOMEM;
    }
    for (int64_t i = 0; i < m; i++) {
        files[i] = ix->files[perm[from + i]];
        ix->files[perm[from + i]] = NULL;
        labels[i] = ix->labels[perm[from + i]];
    }
    for (int64_t i = 0; i < ix->n; i++)
        ck_free(ix->files[i]);
    ck_free(ix->files);
    ck_free(ix->labels);
    ix->files = files;
    ix->labels = labels;
    ix->n = m;
    return CKERAS_OK;
}

CKERAS_API ckeras_status ckeras_image_dataset_from_directory(const char *directory, const char *label_mode,
                                                             const char *color_mode, int64_t height, int64_t width,
                                                             int shuffle, int64_t seed, double validation_split,
                                                             const char *subset, ckeras_data_source **out)
{
    NEED(out, "out");
    *out = NULL;
    NEED(directory, "directory");
    const char *what = "image_dataset_from_directory";
    int lm = !label_mode                            ? LABEL_NONE
             : strcmp(label_mode, "int") == 0         ? LABEL_INT
             : strcmp(label_mode, "binary") == 0      ? LABEL_BINARY
             : strcmp(label_mode, "categorical") == 0 ? LABEL_CATEGORICAL
                                                      : -1;
    if (lm < 0)
        return ck_error(CKERAS_EINVAL, "%s: label_mode must be \"int\", \"categorical\", \"binary\" or NULL, got "
                        "\"%s\"", what, label_mode);
    int channels = color_channels(color_mode);
    if (!channels)
        return ck_error(CKERAS_EINVAL, "%s: color_mode must be \"rgb\", \"grayscale\" or \"rgba\", got \"%s\"", what,
                        color_mode);
    if (height <= 0)
        height = 256;
    if (width <= 0)
        width = 256;
    if (height > 65535 || width > 65535)
        return ck_error(CKERAS_EINVAL, "%s: image_size (%lld, %lld) is too large (at most 65535 per side)", what,
                        (long long)height, (long long)width);
    if (!(validation_split >= 0 && validation_split < 1))
        return ck_error(CKERAS_EINVAL, "%s: validation_split must be in [0, 1), got %g", what, validation_split);
    bool split = validation_split > 0;
    bool training = subset && strcmp(subset, "training") == 0, validation = subset && strcmp(subset, "validation") == 0;
    if (subset && !training && !validation)
        return ck_error(CKERAS_EINVAL, "%s: subset must be \"training\", \"validation\" or NULL, got \"%s\"", what,
                        subset);
    if (subset && !split)
        return ck_error(CKERAS_EINVAL, "%s: subset \"%s\" needs a validation_split", what, subset);
    if (split && !subset)
        return ck_error(CKERAS_EINVAL, "%s: validation_split %g needs a subset (\"training\" or \"validation\")", what,
                        validation_split);
    if (split && shuffle && seed < 0)
        return ck_error(CKERAS_EINVAL, "%s: a validation_split of shuffled files needs a seed (>= 0), so that the "
                        "training and validation subsets do not overlap", what);
    if (seed > (int64_t)UINT32_MAX)
        return ck_error(CKERAS_EINVAL, "%s: seed must be below 2^32 (NumPy's RandomState), got %lld", what,
                        (long long)seed);
    if (seed < 0)
        seed = (int64_t)((uint64_t)time(NULL) % 1000000u); /* Keras: np.random.randint(1e6) */

    img_src *s = ck_calloc(1, sizeof *s);
    if (!s || !(s->taps = ck_malloc_n((size_t)(height + width), sizeof *s->taps))) {
        ck_free(s);
        return CKERAS_ENOMEM;
    }
    s->channels = channels;
    s->label_mode = lm;
    s->h = height;
    s->w = width;
    ckeras_status st = ck_image_index_dir(directory, &s->ix);
    if (st != CKERAS_OK) {
        ck_error_prefix("%s", what);
        img_src_free(s);
        return st;
    }
    if (s->ix.n == 0)
        st = ck_error(CKERAS_EIO, "%s: no images (.png, .jpg, .jpeg) in the class folders of %s (%d class%s)", what,
                      directory, s->ix.nclasses, s->ix.nclasses == 1 ? "" : "es");
    else if (lm == LABEL_BINARY && s->ix.nclasses != 2)
        st = ck_error(CKERAS_EINVAL, "%s: label_mode \"binary\" needs exactly 2 class folders, %s has %d", what,
                      directory, s->ix.nclasses);
    int64_t *perm = st == CKERAS_OK ? ck_malloc_n(s->ix.n, sizeof *perm) : NULL;
    if (st == CKERAS_OK && !perm)
        st = CKERAS_ENOMEM;
    if (st == CKERAS_OK) {
        if (shuffle) {
            ck_numpy_shuffle_perm((uint32_t)seed, perm, s->ix.n);
        } else {
            for (int64_t i = 0; i < s->ix.n; i++)
                perm[i] = i;
        }
        int64_t n = s->ix.n, nval = split ? (int64_t)(validation_split * (double)n) : 0;
        int64_t from = validation ? n - nval : 0, to = training ? n - nval : n;
        /* Keras: samples[:-0] of a split that rounds to no validation file is empty too */
        if (split && nval == 0)
            from = to = 0;
        if (to - from < 1)
            st = ck_error(CKERAS_EINVAL, "%s: the %s subset of %lld files with validation_split %g is empty", what,
                          subset, (long long)n, validation_split);
        else
            st = reorder(&s->ix, perm, from, to);
    }
    ck_free(perm);
    if (st != CKERAS_OK) {
        img_src_free(s);
        return st;
    }
    ckeras_data_source *src;
    if ((st = ckeras_data_source_new(s->ix.n, img_src_fill, s, img_src_free, &src)) != CKERAS_OK)
        return st;
    src->nclasses = s->ix.nclasses;
    src->class_names = s->ix.classes;
    src->file_path = img_src_path;
    int64_t shape[3] = {height, width, channels}, ncls = s->ix.nclasses, one = 1;
    st = ckeras_data_source_add_input(src, 3, shape);
    if (st == CKERAS_OK && lm == LABEL_INT)
        st = ckeras_data_source_add_target(src, 0, NULL);
    else if (st == CKERAS_OK && lm == LABEL_BINARY)
        st = ckeras_data_source_add_target(src, 1, &one);
    else if (st == CKERAS_OK && lm == LABEL_CATEGORICAL)
        st = ckeras_data_source_add_target(src, 1, &ncls);
    if (st != CKERAS_OK) {
        ckeras_data_source_free(src);
        return st;
    }
    *out = src;
    return CKERAS_OK;
}

CKERAS_API ckeras_status ckeras_read_image(const char *path, const char *color_mode, int64_t height, int64_t width,
                                           ckeras_tensor **out)
{
    NEED(out, "out");
    *out = NULL;
    NEED(path, "path");
    int channels = color_channels(color_mode);
    if (!channels)
        return ck_error(CKERAS_EINVAL, "read_image: color_mode must be \"rgb\", \"grayscale\" or \"rgba\", got \"%s\"",
                        color_mode);
    uint8_t *buf = NULL;
    size_t cap = 0;
    int64_t h, w;
    ckeras_status st = ck_image_decode(path, channels, &buf, &cap, &h, &w);
    if (st != CKERAS_OK) {
        ck_free(buf);
        ck_error_prefix("read_image");
        return st;
    }
    int64_t oh = height > 0 && width > 0 ? height : h, ow = height > 0 && width > 0 ? width : w;
    ckeras_tensor *t = ckeras_tensor_new(3, (const int64_t[]){oh, ow, channels});
    ck_tap *taps = ck_malloc_n((size_t)(oh + ow), sizeof *taps);
    if (!t || !taps) {
        ck_free(buf);
        ck_free(taps);
        ckeras_tensor_free(t);
        return CKERAS_ENOMEM;
    }
    ck_resize_bilinear_u8(buf, h, w, channels, t->data, oh, ow, taps);
    ck_free(taps);
    ck_free(buf);
    *out = t;
    return CKERAS_OK;
}
