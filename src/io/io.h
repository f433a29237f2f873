/* src/io: file formats only. Keras HDF5 files (the only code that includes hdf5.h), Keras
 * JSON configs (the only code that includes the JSON library), CSV, NPY, IDX readers.
 * It turns files into the plain in-memory forms below and back; it never knows what a layer
 * is. */
#ifndef CK_IO_H
#define CK_IO_H

#include "core/core.h"

/* ---- Keras HDF5 (.h5) --------------------------------------------------------------- */

/* One array of a file: its name inside its group as the writer stored it ("kernel:0",
 * "dense/kernel:0", "sequential/dense/kernel"), its shape and its values. Float datasets
 * are converted to float32; integer datasets (an optimizer's iteration count) keep their exact
 * value in ivalue as well. ndim 0 is a scalar (data holds one value). */
typedef struct ck_h5_array {
    char *name;
    int ndim;
    int64_t shape[CKERAS_MAX_DIMS];
    float *data;      /* prod(shape) values, row-major; owned */
    bool is_int;      /* the dataset is (read) or is to be written as (write) int64 */
    int64_t ivalue;   /* for scalar integer datasets: any one-element integer array */
} ck_h5_array;

/* The weights of one layer group of model_weights, in weight_names order. */
typedef struct ck_h5_layer {
    char *name;
    int n;
    ck_h5_array *w;
} ck_h5_layer;

/* Everything a Keras legacy .h5 model file holds, as plain data. */
typedef struct ck_h5_file {
    char *keras_version;     /* root attribute, NULL if absent */
    char *backend;
    char *model_config;      /* JSON text, NULL for weights-only files */
    char *training_config;   /* JSON text or NULL */
    char *ckeras_version;    /* root attribute "ckeras_version" when ckeras wrote the file */
    int nlayers;             /* layers of model_weights in layer_names order */
    ck_h5_layer *layers;
    int nopt;                /* optimizer_weights datasets, in weight_names order */
    ck_h5_array *opt;        /* names are full paths below optimizer_weights */
} ck_h5_file;

/* Reads a file (a model file or a weights-only file, whose root is model_weights). Never
 * crashes on a damaged file: CKERAS_EIO (missing), CKERAS_EFORMAT (not HDF5 / damaged).
 *  - String attributes are accepted fixed or variable length, ASCII or UTF-8; name lists
 *    split by Keras into @layer_names0, @layer_names1, ... are joined.
 *  - keras_version/backend fall back to model_weights' own attributes when the root lacks them.
 *  - A layer without weights (weight_names an empty float64 array, or absent) has n = 0.
 *  - model_weights/top_level_model_weights (not in layer_names) is appended as a last layer
 *    of that name only when it holds weights.
 *  - optimizer_weights without weight_names: every dataset below it, walked in name order.
 * Error messages read "FILE: PATH-IN-FILE: cause", e.g.
 * "m.h5: model_weights/dense_1: weight 'dense_1/kernel:0' missing"; callers prefix the
 * operation (ck_error_prefix("load_model")). On error *out is all zero. */
ckeras_status ck_h5_read(const char *path, ck_h5_file *out);
/* Writes in tf.keras 2's layout, to a temporary file in the same folder renamed into place.
 * A failed write leaves any existing file at path untouched.
 *  - Root: keras_version (in->keras_version or "2.15.0"), backend (or "tensorflow"),
 *    model_config and training_config when not NULL, ckeras_version (or this library's
 *    version), all scalar variable-length UTF-8 strings.
 *  - model_weights: layer_names, backend, keras_version; one group per layer with
 *    weight_names (fixed-length byte strings; an empty float64 array for no weights) and the
 *    datasets at those names (intermediate groups created), float32; an empty
 *    top_level_model_weights group unless a layer of that name is given (it is then written
 *    but not listed in layer_names).
 *  - optimizer_weights (when nopt > 0): weight_names and the datasets; is_int arrays as
 *    int64 (a one-element one takes ivalue, longer ones the rounded data).
 * CKERAS_EINVAL for a malformed input (nothing is written), CKERAS_EIO when the file cannot be
 * written. */
ckeras_status ck_h5_write(const char *path, const ck_h5_file *in);
/* Frees every member and zeroes f (NULL is a no-op; a zeroed struct is fine). */
void ck_h5_file_free(ck_h5_file *f);

/* ---- NPY / NPZ -------------------------------------------------------------------------- */

/* Reads a .npy array (float32, float64, int32, int64, uint8, bool; C order) as float32. */
ckeras_status ck_npy_read(const char *path, ckeras_tensor **out);
/* Writes a float32 .npy. */
ckeras_status ck_npy_write(const char *path, const ckeras_tensor *t);

/* ---- CSV ---------------------------------------------------------------------------------- */

/* Reads a CSV of numbers into a rows x cols float array (new, free with ck_free). Lines that
 * do not parse as numbers before the first numeric line are skipped (headers). */
ckeras_status ck_csv_read(const char *path, float **data, int64_t *rows, int64_t *cols);

#endif
