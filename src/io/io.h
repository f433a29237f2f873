/* src/io: file formats only. Keras HDF5 files (the only code that includes hdf5.h), Keras
 * JSON configs (the only code that includes the JSON library), CSV, NPY, IDX readers.
 * It turns files into the plain in-memory forms below and back; it never knows what a layer
 * is. */
#ifndef CK_IO_H
#define CK_IO_H

#include "core/core.h"

#include <stdbool.h>
#include <stdio.h>

/* ---- Files (file.c): every reader and writer of this folder goes through these ----------
 * Readers take regular files only: a path is checked with stat (a device is never opened),
 * opened without blocking (O_NONBLOCK, so a FIFO swapped in meanwhile cannot hang the caller)
 * and checked again with fstat; anything else (a directory, a FIFO, a device, a socket) is
 * CKERAS_EIO "PATH is a FIFO, not a regular file"; a path that cannot be opened
 * is CKERAS_EIO "cannot open PATH: <strerror>". Callers prefix the operation. */

/* Opens path for reading (a blocking descriptor, close-on-exec) in *fd, its size in *size
 * (NULL: not wanted). On error *fd is -1. */
ckeras_status ck_file_open(const char *path, int *fd, int64_t *size);
/* ck_file_open and close, for libraries that open the path themselves (HDF5, libzip): the
 * file could be swapped between the check and their open (a race only the caller's own
 * filesystem can stage; it then gets what it asked for). */
ckeras_status ck_file_check(const char *path);
/* Opens path for writing text in place (a log that grows: CSVLogger), truncated or, with
 * append, at its end (created with mode 0666 less the umask). An existing path that is not a
 * regular file is refused as the readers refuse it, before it is opened; *was_empty (may be
 * NULL) tells whether the file held nothing when opened. */
ckeras_status ck_file_open_append(const char *path, bool append, FILE **out, bool *was_empty);
/* Reads a whole file into a new buffer (free with ck_free) of *len bytes plus a terminating
 * NUL byte (not counted). A file that does not start with magic (not NULL) is CKERAS_EFORMAT
 * at its first chunk, before the rest is read. */
ckeras_status ck_read_file(const char *path, const char *magic, uint8_t **buf, size_t *len);
/* ck_read_file for text parsers: a NUL byte is CKERAS_EFORMAT "PATH: not a text file" at the
 * chunk that holds it, so a large binary file is refused at once. */
ckeras_status ck_read_text(const char *path, uint8_t **buf, size_t *len);

/* An atomic save. ck_save_begin resolves the destination and makes the temporary file:
 *  - an existing path that is not a regular file (a device such as /dev/null, a FIFO, a
 *    directory, a socket) is refused with CKERAS_EIO and left untouched;
 *  - a symbolic link is followed: its target (realpath) is replaced and the link stays a link;
 *    a dangling link, or one to something that is not a regular file, is refused;
 *  - the temporary file is "<target>.tmp-XXXXXX" (same folder, same filesystem) with the mode
 *    of the file it replaces (for a new one, 0666 less the umask, as fopen gives it); s->fd is
 *    open on it, s->path the target.
 * Write s->tmp (through s->fd, or by name after closing s->fd and setting it to -1), then
 * ck_save_end(s, status): on CKERAS_OK fsyncs the file, renames it onto s->path and fsyncs the
 * folder; on an error (or if those fail) removes the temporary file, so the old file stays.
 * Returns the final status; s is released either way. */
typedef struct ck_save {
    int fd;
    char *tmp;
    const char *path;
    char *target; /* realpath of a followed link, else NULL */
    unsigned mode; /* given to the temporary file again at the end (writers may recreate it) */
} ck_save;
ckeras_status ck_save_begin(ck_save *s, const char *path);
ckeras_status ck_save_end(ck_save *s, ckeras_status st);
/* An atomic save of len bytes of buf to path (ck_save_begin, the bytes, ck_save_end). */
ckeras_status ck_save_bytes(const char *path, const void *buf, size_t len);

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

/* ---- Keras 3 native format (.keras zip, .weights.h5) ------------------------------------
 * A Keras 3 weights file (model.weights.h5 inside a .keras archive, or model.save_weights's
 * .weights.h5) keeps the variables of each object at "<path>/vars/<index>": a model's layers
 * at "layers/<snake_case class name>[_<k>]", nested models' layers below theirs
 * ("layers/functional/layers/dense/vars/0"), sub-objects of a layer below it
 * ("layers/lstm/cell/vars/0"), the optimizer at "optimizer/vars/<index>", the model itself at
 * "vars". */

/* The variables of one "<path>/vars" group, in index order (vars/0, vars/1, ...). */
typedef struct ck_h5_vars_group {
    char *path;      /* "layers/dense" ("" for the root's own vars) */
    char *name;      /* the group's "name" attribute (the object's name) or NULL */
    int n;
    ck_h5_array *v;  /* v[i].name is the dataset path "layers/dense/vars/0" */
} ck_h5_vars_group;

/* Every vars group of a Keras 3 weights file, in path order. */
typedef struct ck_h5_vars {
    int n;
    ck_h5_vars_group *g;
} ck_h5_vars;

/* Reads a Keras 3 weights file (the same guard as ck_h5_read checks every object header
 * before HDF5 parses it). label names the file in messages (NULL: path), e.g.
 * "m.keras: model.weights.h5". Every dataset must be "<path>/vars/<index>" with the indices
 * of a group 0..n-1. CKERAS_EIO (missing), CKERAS_EFORMAT (not HDF5, damaged, other layout).
 * On error *out is all zero. */
ckeras_status ck_h5_read_vars(const char *path, const char *label, ck_h5_vars *out);
/* The group at path, or NULL. */
const ck_h5_vars_group *ck_h5_vars_find(const ck_h5_vars *v, const char *path);
void ck_h5_vars_free(ck_h5_vars *v);
/* Writes arrays a[0..n) at their names (full dataset paths, "layers/dense/vars/0"; groups
 * created as needed), float32 or int64 (is_int), to a temporary file beside path renamed into
 * place (an existing file is left untouched on failure). CKERAS_EINVAL for a bad name. */
ckeras_status ck_h5_write_vars(const char *path, const ck_h5_array *a, int n);

/* The contents of a .keras archive. */
typedef struct ck_keras_archive {
    char *config;    /* config.json text */
    char *metadata;  /* metadata.json text, NULL when absent */
    ck_h5_vars vars; /* model.weights.h5 (empty when the archive has none) */
} ck_keras_archive;

/* Reads a .keras archive: config.json, metadata.json and model.weights.h5 (extracted to a
 * private temporary file in $TMPDIR, removed before returning, and read with
 * ck_h5_read_vars). Refuses, naming the file and the cause: a file that is not a zip archive
 * or is truncated (CKERAS_EFORMAT), members whose path is absolute or contains "..",
 * duplicate or missing config.json, members whose data does not match their declared size or
 * CRC, declared sizes beyond the limits (64 MB for the JSON members, 16 GB for the weights)
 * or impossible for their compressed size; encrypted members or unknown compression methods
 * are CKERAS_EUNSUPPORTED. On error *out is all zero. */
ckeras_status ck_keras_read(const char *path, ck_keras_archive *out);
void ck_keras_archive_free(ck_keras_archive *a);
/* Writes a .keras archive (config.json, metadata.json, model.weights.h5 holding arrays
 * a[0..n) as ck_h5_write_vars does) to a temporary file beside path renamed into place. */
ckeras_status ck_keras_write(const char *path, const char *config, const char *metadata, const ck_h5_array *a,
                             int n);

/* A Keras 3 config.json split into what the legacy readers take. */
typedef struct ck_io_keras3 {
    char *model_config;     /* the model's config ({"module", "class_name", "config", ...}) */
    char *training_config;  /* compile_config as a legacy training_config, NULL when absent */
    char keras_version[32]; /* from metadata.json ("" when unknown) */
} ck_io_keras3;
ckeras_status ck_io_keras3_parse(const char *config, const char *metadata, ck_io_keras3 *out);
void ck_io_keras3_free(ck_io_keras3 *k);

struct ck_io_model;
struct ck_io_training;
/* The JSON members of a .keras archive as Keras 3's model.save writes them, for model m (its
 * layer configs as ck_config_to_tree(..., CK_PROFILE_KERAS3) gives them) and, when t is not
 * NULL, its compile settings. config.json: {"module", "class_name", "config",
 * "registered_name", "build_config", "compile_config"}; every layer {"module": "keras.layers",
 * "class_name", "config", "registered_name": null, "build_config": {"input_shape": the shapes
 * of its call's positional inputs}} (no build_config for an InputLayer) plus "name" and
 * "inbound_nodes" in functional models; a layer's dtype as a DTypePolicy object; objects
 * under keys "*_initializer", "*_regularizer", "*_constraint" with their Keras module; nested
 * layers ("layer", "forward_layer", "backward_layer") as layer objects; the optimizer as a
 * "keras.optimizers" object. metadata.json: {"keras_version", "date_saved"} (UTC). Both new
 * (free with ck_free); CKERAS_ENOMEM. */
ckeras_status ck_io_keras3_write(const struct ck_io_model *m, const struct ck_io_training *t,
                                 const char *keras_version, char **config, char **metadata);

/* ---- Keras JSON configs ---------------------------------------------------------------- */

/* JSON text <-> config trees (src/core). ck_tree_from_json: NULL with CKERAS_EFORMAT (not JSON,
 * "WHAT: not JSON: ...") or CKERAS_ENOMEM. ck_tree_to_json: compact text in key order (free
 * with ck_free), NULL when out of memory. */
ck_tree *ck_tree_from_json(const char *text, const char *what);
char *ck_tree_to_json(const ck_tree *t, const char *what);

#define CK_IO_NAME 128
#define CK_IO_MAX_IN 8
#define CK_IO_MAX_OUT_REFS 32 /* model outputs */

/* A reference to a layer's output: the layer, its call (node) index, the output tensor index. */
typedef struct ck_io_ref {
    char layer[CK_IO_NAME];
    int node, tensor;
    int ndim;                          /* writing: the tensor's per-sample shape (Keras 3 nodes
                                          name it), 0 when unknown */
    int64_t shape[CKERAS_MAX_DIMS];
    int64_t batch;                     /* writing: a fixed batch size (stateful recurrent models),
                                          0 when None */
} ck_io_ref;

struct ck_io_model;

/* One layer of a model config. */
typedef struct ck_io_layer {
    char class_name[64];
    char name[CK_IO_NAME];
    ck_tree *config;         /* the layer's "config" object (owned); readers mark what they use */
    int nconst;              /* call arguments that are not tensors (Keras 3 writes x + 3.0 as an Add
                                call with the number among its args): how many, and the first */
    char const_text[64];     /* ... as text, for messages ("3.0 in args") */
    int const_pos[CK_IO_MAX_IN];   /* the first CK_IO_MAX_IN of them: their positions among the
                                      call's operands (tensors and numbers, in order) */
    double const_val[CK_IO_MAX_IN]; /* ... and values (0 when not a number) */
    bool const_nan;          /* one of them is not a number (a string, a bool) */
    bool op_node;            /* Keras 3: a node of an operation (module keras.src.ops...), not a
                                layer; written back as one when it has numbers among its inputs */
    int ncalls;              /* how many times the layer is called (functional models) */
    int nin;                 /* inputs of its first call */
    ck_io_ref in[CK_IO_MAX_IN];
    int nargs;               /* in[0..nargs) are positional and the rest the list of tensors given
                                as call keyword kwarg (Keras 3: a GRU's initial_state); 0: all
                                positional (tf.keras 2 lists a GRU's states with its input) */
    char kwarg[32];
    char in_kw[CK_IO_MAX_IN][24]; /* Keras 3: the call keyword that gave input k ("value" of
                                MultiHeadAttention(query=q, value=v)), "" for a positional one */
    bool split_args;         /* Keras 3 writer: the positional tensors are separate arguments
                                (MultiHeadAttention(query, value)), not one list, and the keyword's
                                tensor is written alone, not in a list */
    const char *const *arg_names; /* with split_args: the names of the positional arguments
                                ({"query", "value", "key", NULL}, static): Keras 3's build_config
                                is then {"shapes_dict": {"query_shape": ..., ...}} */
    ck_tree *kwargs;         /* the other call keywords of its first call ({"training": false},
                                {"mask": null}), owned; NULL when none */
    char mask_from[CK_IO_NAME]; /* Keras 3: the layer whose output its first call takes as the
                                   "mask" keyword (Keras 3 records the mask Embedding(mask_zero)
                                   makes as a NotEqual op node); "" when none */
    struct ck_io_model *model; /* a nested model (class Sequential, Functional or Model): its
                                  whole config, parsed (owned); NULL for other layers */
    struct ck_io_call *calls;  /* calls 1 .. ncalls - 1 of a shared layer (owned; NULL when it is
                                  called once): their input tensors, positional */
} ck_io_layer;

/* A further call of a shared layer: its input tensors, and (Keras 3) the call keyword that gave
 * each ("" positional); when written, the first nargs are positional and the rest the keyword
 * kwarg, as for the layer's first call (split_args layers only; nargs 0: all positional). */
typedef struct ck_io_call {
    int nin;
    ck_io_ref in[CK_IO_MAX_IN];
    char in_kw[CK_IO_MAX_IN][24];
    int nargs;
    char kwarg[32];
} ck_io_call;

/* A model config ("model_config"), whatever Keras wrote it. */
typedef struct ck_io_model {
    char class_name[32];     /* "Sequential" or "Functional" ("Model" is read as "Functional") */
    char name[CK_IO_NAME];
    bool frozen;             /* its config says "trainable": false (nested models, Keras 3) */
    int nlayers;
    ck_io_layer *layers;
    int ninputs, noutputs;   /* functional models */
    ck_io_ref inputs[CK_IO_MAX_IN], outputs[CK_IO_MAX_OUT_REFS];
} ck_io_model;

/* Parses a model_config JSON of Keras 2.0-2.3, tf.keras 2 or Keras 3. Nested models (a layer
 * whose class is Sequential/Functional/Model) are parsed into ck_io_layer.model, to a depth of
 * 16. Layer configs are normalised in one way: a key ending in "factor" that holds a pair
 * [lower, upper] of numbers (RandomRotation & co.) becomes "<key>": upper plus
 * "<key>_lower": lower, so that a float schema field can hold it (ck_config_to_json folds
 * such a pair back). */
ckeras_status ck_io_model_parse(const char *json, ck_io_model *out);
/* Writes a model_config: tf.keras 2 style (inbound nodes as [[name, node, tensor, {}], ...]) or,
 * for CK_PROFILE_KERAS3, Keras 3's (module and registered_name beside class_name, inbound nodes
 * as {"args": [__keras_tensor__ ...], "kwargs": {}}, build_config). Layer configs are taken as
 * given. Free with ck_free. */
char *ck_io_model_write(const ck_io_model *m, ck_profile profile);
void ck_io_model_free(ck_io_model *m);

/* training_config: losses, metrics, optimizer class and config. One loss and metrics list for
 * the whole model (nout 0: loss[0], metrics), or per output (nout entries: out_name[k] (""
 * when given by position), loss[k] ("" for None), loss_weight[k] (when has_weights), and
 * metric i belongs to entry metric_out[i]). */
#define CK_IO_MAX_OUT 32
#define CK_IO_MAX_METRICS 16
typedef struct ck_io_training {
    int nout;
    char out_name[CK_IO_MAX_OUT][CK_IO_NAME];
    char loss[CK_IO_MAX_OUT][64];
    bool has_weights;
    double loss_weight[CK_IO_MAX_OUT];
    int nmetrics;
    char metrics[CK_IO_MAX_METRICS][48];
    int metric_out[CK_IO_MAX_METRICS];
    bool metric_weighted[CK_IO_MAX_METRICS]; /* listed in weighted_metrics */
    ck_tree *metric_cfg[CK_IO_MAX_METRICS]; /* a metric written as an object: {"class_name",
                                               "config"} (Keras 3's "module" and "registered_name"
                                               left out), owned; NULL for a name */
    char opt_class[64];      /* "Adam" ("Custom>Adam" is read as "Adam") */
    ck_tree *opt_config;     /* the optimizer's config object, owned */
} ck_io_training;
ckeras_status ck_io_training_parse(const char *json, ck_io_training *out);
char *ck_io_training_write(const ck_io_training *t, ck_profile profile);
void ck_io_training_free(ck_io_training *t);

/* ---- NPY / NPZ -------------------------------------------------------------------------- */

/* Reads a .npy array (float32, float64, int32, int64, uint8, bool; C order) as float32. */
ckeras_status ck_npy_read(const char *path, ckeras_tensor **out);
/* Writes a float32 .npy. */
ckeras_status ck_npy_write(const char *path, const ckeras_tensor *t);
/* The bytes of a float32 .npy (version 1.0) of t, new in *buf (ck_free). */
ckeras_status ck_npy_encode(const ckeras_tensor *t, uint8_t **buf, size_t *len);
/* Writes n tensors as a .npz archive (numpy.savez: members "<name>.npy", stored), atomically
 * (a temporary file beside path, renamed into place). names: distinct, not empty, no '/'. */
ckeras_status ck_npz_write(const char *path, int n, const char *const *names, const ckeras_tensor *const *arrays);

/* ---- CSV ---------------------------------------------------------------------------------- */

/* Reads a CSV of numbers into a rows x cols float array (new, free with ck_free). Lines that
 * do not parse as numbers before the first numeric line are skipped (headers). */
ckeras_status ck_csv_read(const char *path, float **data, int64_t *rows, int64_t *cols);

/* ---- NPZ, IDX and whole-file reads (data sets) --------------------------------------------
 * Data-set readers never crash on a damaged file: CKERAS_EIO for a file that cannot be opened
 * or read, CKERAS_EFORMAT for bad contents (the message names the file and the place),
 * CKERAS_EUNSUPPORTED for valid files ckeras cannot represent (fortran_order, complex dtypes,
 * encrypted zip members), CKERAS_ENOMEM. Outputs are only set on success. */


/* Reads a .npz archive (a zip of .npy members, stored or deflated, zip64 accepted): *n arrays,
 * (*names)[i] is the member name without ".npy" and (*arrays)[i] its float32 tensor, in the
 * archive's central-directory order. Free everything with ck_npz_free. */
ckeras_status ck_npz_read(const char *path, int *n, char ***names, ckeras_tensor ***arrays);
void ck_npz_free(int n, char **names, ckeras_tensor **arrays);
/* Parses one .npy image held in memory (what names the source in messages). */
ckeras_status ck_npy_parse(const uint8_t *buf, size_t len, const char *what, ckeras_tensor **out);

/* Reads an IDX file (the MNIST / Fashion-MNIST format: big-endian, magic 0x0000TTNN with type
 * TT = 0x08 ubyte, 0x09 byte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64 and NN axes),
 * plain or gzip-compressed, as float32 values unscaled (ubyte images stay 0..255). Labels
 * (magic 0x0801) give shape (n,), images (0x0803) (n, rows, cols). */
ckeras_status ck_idx_read(const char *path, ckeras_tensor **out);


/* ---- Rows of HDF5 data sets read on request (h5_rows.c: the HDF5 data source) ------------ */
/* n data sets of one file, each (samples, ...) of numbers, all with the same sample count
 * (messages name the file and the data set). The file stays open until ck_h5_rows_free. */
typedef struct ck_h5_rows ck_h5_rows;
ckeras_status ck_h5_rows_open(const char *path, int n, const char *const *names, ck_h5_rows **out);
int64_t ck_h5_rows_count(const ck_h5_rows *r);
/* Data set k's sample shape (without the sample axis) in shape; returns its rank. */
int ck_h5_rows_shape(const ck_h5_rows *r, int k, int64_t *shape);
/* Rows idx[0..n) of data set k as float32 into dst (n x sample size), in the order given. */
ckeras_status ck_h5_rows_read(ck_h5_rows *r, int k, const int64_t *idx, int64_t n, float *dst);
void ck_h5_rows_free(ck_h5_rows *r);


/* ---- Images (image.c): PNG and JPEG decoding, folders of images by class ------------------ */
/* Decodes the PNG or JPEG file path (told by its first bytes) as (h, w, channels) bytes into
 * *buf (grown as needed: capacity *cap). channels 1, 3 or 4. CKERAS_EFORMAT names the file for
 * a damaged, truncated or unknown file; decoders never exit or abort. */
ckeras_status ck_image_decode(const char *path, int channels, uint8_t **buf, size_t *cap, int64_t *h, int64_t *w);
/* The images below dir as Keras' index_directory lists them (labels inferred): class names (its
 * subfolders, sorted, hidden ones left out), then per class the .png/.jpg/.jpeg files of the
 * class folder and every folder below it (folders sorted by path, files by name). */
typedef struct ck_image_index {
    char **classes;
    int nclasses;
    char **files;
    int64_t *labels;
    int64_t n;
} ck_image_index;
ckeras_status ck_image_index_dir(const char *dir, ck_image_index *out);
void ck_image_index_free(ck_image_index *x);
/* perm[0..n) as NumPy's RandomState(seed).shuffle(list(range(n))) leaves it. */
void ck_numpy_shuffle_perm(uint32_t seed, int64_t *perm, int64_t n);

#endif
