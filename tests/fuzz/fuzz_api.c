/* Fuzz target: the public API as a sequence of calls (issue #16, item 2).
 *
 * The input is read as a program: each op byte picks one of the operations below, and the
 * bytes after it give its arguments. Arguments are hostile most of the time: sizes come from a
 * table of interesting values (0, -1, 1, 2^31, 2^40, 2^61, INT64_MAX, ...), floats from one of
 * NaN, infinities, huge and tiny values, strings from Keras names, NULL, "", a 5000-character
 * name and bytes of the input. The calls run on a small pool of handles (tensors, loose layers,
 * models with their functional tensor ids), in any order: fit before compile, predict before
 * build, pop on an empty model, setters on built layers, a model freed while nested in another.
 * fit gets a lambda callback that, at each event, runs one call on the model being fitted
 * (fit, predict, evaluate, save, compile, summary, ...), so re-entrant calls are fuzzed too.
 * Every handle is freed at the end: LeakSanitizer checks that failed calls free what they took.
 *
 * Inputs stay fast: at most FUZZ_API_MAX_OPS calls, tiny data (a few samples, 1 epoch,
 * verbose 0), any single allocation above FUZZ_ALLOC_LIMIT fails (ENOMEM, not a finding), and
 * the library's own size limits are lowered (FUZZ_API_MAX_TENSOR elements per tensor and batch
 * buffer, FUZZ_API_MAX_PARAMS parameters per model): a valid model can ask for any amount of
 * work (a Conv2DTranspose with a 10^6-row kernel took 7 s per predict at -O2), which bounds
 * only what one layer call costs, and the refusals past a limit are fuzzed too.
 * With CK_FUZZ_API_TRACE set, each call's op and the last error message are printed (to read
 * what an input does). With CK_FUZZ_API_STATS set, the process prints at exit how many inputs
 * ran and how many distinct op bigrams and op-sequence hashes (of whole inputs) were seen:
 *   CK_FUZZ_API_STATS=1 build/fuzz-replay/fuzz_api tests/fuzz/corpus/api
 * An array given with a count never holds fewer values than the count claims (the caller's
 * fault, not a finding): tensor_copy gets enough data, and shapes, id and int lists have room
 * for FUZZ_API_ROOM values, more than any limit of the library, which must refuse a larger
 * count (INT_MAX) before reading. */
#include "fuzz_common.h"
#include "fuzz_model.h"

#include <float.h>
#include <math.h>
#include "../api_ids.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_API_MAX_OPS 48
#define FUZZ_API_MAX_TENSOR ((int64_t)1 << 17)
#define FUZZ_API_MAX_PARAMS ((int64_t)1 << 16)
#define FUZZ_API_NT 6  /* tensors */
#define FUZZ_API_NL 6  /* loose layers */
#define FUZZ_API_NM 4  /* models */
#define FUZZ_API_NIDS 8 /* functional tensor ids kept per model */
#define FUZZ_API_MAX_DEPTH 2 /* nested fit from callbacks */
#define FUZZ_API_MAX_KEEP 65536 /* elements of a tensor kept in the pool */
#define FUZZ_API_ROOM 64 /* arrays given with a count from the input: more than any limit */

typedef struct fuzz_api {
    const uint8_t *p;
    size_t n;
    ckeras_tensor *t[FUZZ_API_NT];
    ckeras_layer *l[FUZZ_API_NL];
    ckeras_model *m[FUZZ_API_NM];
    int ids[FUZZ_API_NM][FUZZ_API_NIDS];
    int nids[FUZZ_API_NM];
    int depth;    /* fit calls in progress */
    int ops;      /* calls made for this input */
    uint64_t seq; /* hash of the op sequence */
    int prev_op;
} fuzz_api;

/* ---- reading the input ------------------------------------------------------------------- */

static uint8_t take_u8(fuzz_api *f)
{
    if (!f->n)
        return 0;
    f->n--;
    return *f->p++;
}

static uint64_t take_raw64(fuzz_api *f)
{
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v = v << 8 | take_u8(f);
    return v;
}

static const int64_t interesting_i64[] = {
    0, 1, 2, 3, 4, 5, 8, 16, -1, -2, 7, 1,
    (int64_t)1 << 31, ((int64_t)1 << 31) - 1, (int64_t)1 << 32, (int64_t)1 << 40, (int64_t)1 << 61,
    (int64_t)1 << 62, INT64_MAX, INT64_MIN, INT32_MAX, INT32_MIN, 65536, 1000000,
};
#define N_I64 (int)(sizeof interesting_i64 / sizeof interesting_i64[0])

/* An integer: mostly small (1..4), often from the table, sometimes raw. */
static int64_t take_i64(fuzz_api *f)
{
    uint8_t b = take_u8(f);
    if (b < 128)
        return 1 + b % 4;
    if (b < 248)
        return interesting_i64[(b - 128) % N_I64];
    return (int64_t)take_raw64(f);
}

/* A size (of an axis, a layer, a kernel), hostile values included. */
static int64_t take_size(fuzz_api *f)
{
    return take_i64(f);
}

static int take_int(fuzz_api *f)
{
    int64_t v = take_i64(f);
    return (int)(v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : v);
}

static double take_f64(fuzz_api *f)
{
    static const double table[] = {0.0, 0.5, 1.0, -1.0, 0.1, 0.2, 1e-3, 0.9, 0.99, 2.0, -0.0, 1e-7,
                                   1e30, -1e30, 1e300, DBL_MAX, DBL_MIN, 5e-324, 1.5, 100.0};
    uint8_t b = take_u8(f);
    if (b < 160)
        return table[b % (sizeof table / sizeof table[0])];
    if (b < 176)
        return NAN;
    if (b < 192)
        return b & 1 ? INFINITY : -INFINITY;
    if (b < 248)
        return (double)(b - 200) / 8.0;
    uint64_t r = take_raw64(f);
    double d;
    memcpy(&d, &r, sizeof d);
    return d;
}

static char fuzz_api_long[5001];

static const char *const names[] = {
    /* activations */
    "relu", "sigmoid", "softmax", "tanh", "linear", "elu", "selu", "gelu", "swish", "hard_sigmoid",
    "leaky_relu", "softplus",
    /* losses and metrics */
    "mse", "mae", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
    "huber", "accuracy", "accuracy,precision", "mae,mse", "auc", "recall", "top_k_categorical_accuracy",
    /* setter names */
    "units", "filters", "kernel_size", "strides", "padding", "pool_size", "use_bias", "activation",
    "kernel_initializer", "bias_initializer", "rate", "momentum", "epsilon", "axis", "input_shape",
    "return_sequences", "return_state", "input_dim", "output_dim", "target_shape", "dilation_rate",
    "data_format", "center", "scale", "name", "trainable", "dtype", "kernel_regularizer",
    "recurrent_activation", "dropout", "recurrent_dropout", "mask_zero", "size", "interpolation",
    "same", "valid", "causal", "channels_first", "channels_last", "he_normal", "zeros", "ones",
    "glorot_uniform", "l2", "from_logits", "delta", "epochs", "batch_size", "verbose", "shuffle",
    "initial_epoch", "validation_split", "learning_rate", "beta_1", "clipnorm", "clipvalue",
    "weight_decay", "val_loss", "loss", "min", "max", "auto", "min_delta", "baseline",
    "restore_best_weights", "start_from_epoch", "save_weights_only", "mode",
    /* optimizers, classes, model names */
    "adam", "sgd", "rmsprop", "adagrad", "adamw", "Dense", "Conv2D", "LSTM", "Embedding", "Flatten",
    "Dropout", "BatchNormalization", "Reshape", "MaxPooling2D", "InputLayer", "Sequential", "Functional",
    "dense", "dense_1", "input_layer", "sequential", "concat", "sum", "ave", "mul",
    /* strange */
    "", " ", "a/b", "..", "%s%n%s", "{epoch:02d}", "\xff\xfe", "name with spaces",
};
#define N_NAMES (int)(sizeof names / sizeof names[0])

/* A string: NULL, a name, the long string, or up to 16 bytes of the input (in buf: 17 bytes). */
static const char *take_str(fuzz_api *f, char *buf)
{
    uint8_t b = take_u8(f);
    if (b < 8)
        return NULL;
    if (b < 232)
        return names[(b - 8) % N_NAMES];
    if (b < 240)
        return fuzz_api_long;
    size_t len = take_u8(f) % 17;
    for (size_t k = 0; k < len; k++)
        buf[k] = (char)take_u8(f);
    buf[len] = '\0';
    return buf;
}

/* A small layer config JSON for ckeras_layer_from_config. */
static const char *const configs[] = {
    "{}", "{\"units\": 3}", "{\"units\": -1}", "{\"units\": 4611686018427387904}", "{\"filters\": 2, "
    "\"kernel_size\": [2, 2]}", "{\"rate\": 0.5}", "{\"rate\": 1e400}", "{\"target_shape\": [2, -1]}",
    "{\"units\": 2, \"activation\": \"nope\"}", "{\"pool_size\": [0, 0]}", "[1,2]", "{", "null",
    "{\"units\": 2, \"return_sequences\": true}", "{\"input_dim\": 5, \"output_dim\": 2}",
    "{\"name\": \"\"}", "{\"padding\": [[1, 1], [1, 1]]}", "{\"size\": [2, 2]}",
};

/* ---- handles ------------------------------------------------------------------------------ */

static void put_tensor(fuzz_api *f, int k, ckeras_tensor *t)
{
    ckeras_tensor_free(f->t[k]);
    f->t[k] = t;
}

static void put_layer(fuzz_api *f, int k, ckeras_layer *l)
{
    ckeras_layer_free(f->l[k]);
    f->l[k] = l;
}

static void put_model(fuzz_api *f, int k, ckeras_model *m)
{
    ckeras_model_free(f->m[k]);
    f->m[k] = m;
    f->nids[k] = 0;
}

static void keep_id(fuzz_api *f, int k, int id)
{
    if (id < 0)
        return;
    if (f->nids[k] < FUZZ_API_NIDS)
        f->ids[k][f->nids[k]++] = id;
    else
        f->ids[k][FUZZ_API_NIDS - 1] = id;
}

/* A tensor id of model k: mostly one it made, sometimes a hostile value. */
static int take_id(fuzz_api *f, int k)
{
    uint8_t b = take_u8(f);
    if (b < 200 && f->nids[k] > 0)
        return f->ids[k][b % f->nids[k]];
    return take_int(f);
}

/* Takes the loose layer in slot k (the callee owns it from now on). */
static ckeras_layer *give_layer(fuzz_api *f, int k)
{
    ckeras_layer *l = f->l[k];
    f->l[k] = NULL;
    return l;
}

/* Tensor data: mostly small values, some NaN or infinities when the input asks (the first
 * 4096 values; the others stay as they are). */
static void fill(fuzz_api *f, ckeras_tensor *t)
{
    int64_t n = ckeras_tensor_size(t);
    n = n > 4096 ? 4096 : n;
    float *d = ckeras_tensor_data(t);
    uint8_t mode = take_u8(f);
    for (int64_t i = 0; i < n && d; i++)
        d[i] = mode < 200 ? (float)((i * 7 + mode) % 5) * 0.25f : (float)take_f64(f);
}

/* A small shape of 1..4 axes (hostile sizes from the table when the input says so) in
 * shape[FUZZ_API_ROOM]; a hostile ndim now and then. */
static int take_shape(fuzz_api *f, int64_t *shape)
{
    uint8_t b = take_u8(f);
    int ndim = b < 240 ? 1 + b % 4 : take_int(f);
    int nd = ndim < 0 ? 0 : ndim > CKERAS_MAX_DIMS ? CKERAS_MAX_DIMS : ndim;
    for (int a = 0; a < FUZZ_API_ROOM; a++)
        shape[a] = a < nd ? take_size(f) : 1;
    return ndim;
}

/* One sample batch of 1..4 samples for model k's input j (NULL when the shape is not small). */
static ckeras_tensor *input_for(fuzz_api *f, ckeras_model *m, int j)
{
    if (!m || j < 0 || j >= m->g.ninputs || j >= CK_MAX_NODE_INPUTS)
        return NULL;
    const ck_shape *s = &m->g.inputs[j];
    if (s->ndim < 1 || s->ndim + 1 > CKERAS_MAX_DIMS)
        return NULL;
    int64_t shape[CKERAS_MAX_DIMS], n = 1;
    shape[0] = 1 + take_u8(f) % 4;
    for (int a = 0; a < s->ndim; a++) {
        shape[a + 1] = s->d[a] < 0 ? 1 + take_u8(f) % 3 : s->d[a];
        if (shape[a + 1] <= 0 || shape[a + 1] > 4096 || (n *= shape[a + 1]) > 4096)
            return NULL;
    }
    ckeras_tensor *t = ckeras_tensor_new(s->ndim + 1, shape);
    if (t)
        fill(f, t);
    return t;
}

/* ---- the re-entrant callback ------------------------------------------------------------- */

typedef struct fuzz_api_cb {
    fuzz_api *f;
    ckeras_model *m; /* the model being fitted */
    const ckeras_tensor *x, *y;
    int calls;
} fuzz_api_cb;

static void op_fit(fuzz_api *f, ckeras_model *m, const ckeras_tensor *x, const ckeras_tensor *y);

static ckeras_status fuzz_api_callback(ckeras_event event, int index, const ckeras_logs *logs, void *user_data)
{
    fuzz_api_cb *c = user_data;
    fuzz_api *f = c->f;
    if (c->calls++ > 8)
        return CKERAS_OK;
    double v = 0;
    int nlog = ckeras_logs_count(logs);
    for (int i = 0; i < nlog; i++) {
        (void)ckeras_logs_name(logs, i);
        v += ckeras_logs_value(logs, i);
    }
    char buf[2 * 17]; /* two strings of take_str */
    const char *path, *loss;
    ckeras_optimizer *opt;
    ckeras_layer *l;
    ckeras_model *m = c->m;
    ckeras_tensor *out = NULL;
    double res[4];
    char *text = NULL;
    uint8_t what = take_u8(f);
    if (getenv("CK_FUZZ_API_TRACE"))
        fprintf(stderr, "fuzz_api: callback event %d index %d: call %d\n", (int)event, index, what % 18);
    switch (what % 18) {
    case 0:
        return CKERAS_STOP;
    case 1:
        return (ckeras_status)(take_u8(f) % 12);
    case 2:
        if (f->depth < FUZZ_API_MAX_DEPTH)
            op_fit(f, m, c->x, c->y);
        break;
    case 3:
        ckeras_model_predict(m, c->x, take_int(f), &out);
        break;
    case 4:
        ckeras_model_evaluate(m, c->x, c->y, take_int(f), res, 4);
        break;
    case 5:
        ckeras_model_train_on_batch(m, c->x, c->y, res, 4);
        break;
    case 6:
        path = fuzz_temp_path("api_cb", take_u8(f) & 1 ? ".keras" : ".h5");
        ckeras_model_save(m, path, take_u8(f) % 4);
        break;
    case 7:
        opt = take_u8(f) & 1 ? NULL : ckeras_sgd(take_f64(f), 0, 0);
        loss = take_str(f, buf);
        ckeras_model_compile(m, opt, loss, take_str(f, buf + 17));
        break;
    case 8:
        if (ckeras_model_summary_string(m, take_int(f), &text) == CKERAS_OK)
            ckeras_free(text);
        break;
    case 9:
        ckeras_model_load_weights(m, fuzz_temp_path("api_w", ".weights.h5"), take_u8(f) % 4);
        break;
    case 10:
        ckeras_model_set_trainable(m, take_u8(f) & 1);
        break;
    case 11:
        l = ckeras_model_layer(m, take_int(f));
        ckeras_layer_set_trainable(l, take_u8(f) & 1);
        break;
    case 12:
        if (ckeras_model_to_json(m, &text) == CKERAS_OK)
            ckeras_free(text);
        break;
    case 13:
        ckeras_model_add(m, ckeras_dense(take_size(f), NULL));
        break;
    case 14:
        ckeras_model_pop(m);
        break;
    case 15:
        ckeras_model_save_weights(m, fuzz_temp_path("api_w", ".weights.h5"));
        break;
    case 16:
        (void)ckeras_logs_value_by_name(logs, take_str(f, buf), &v);
        break;
    default: /* 17: nothing */
        break;
    }
    ckeras_tensor_free(out);
    return CKERAS_OK;
}

/* fit with fit args, callbacks and validation data from the input. */
static void op_fit(fuzz_api *f, ckeras_model *m, const ckeras_tensor *x, const ckeras_tensor *y)
{
    char buf[2 * 17]; /* two strings of take_str */
    const char *name;
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_callback *cbs[3] = {0};
    fuzz_api_cb c = {f, m, x, y, 0};
    uint8_t what = take_u8(f);
    ckeras_fit_args_set_int(a, "verbose", 0);
    if (what & 1) {
        name = take_str(f, buf);
        ckeras_fit_args_set_int(a, name, take_i64(f) % 3); /* small: epochs stay few */
    }
    if (what & 2)
        ckeras_fit_args_set_float(a, "validation_split", take_f64(f));
    if (what & 4)
        ckeras_fit_args_set_validation_data(a, x, y);
    if (what & 8)
        ckeras_fit_args_set_int(a, "batch_size", take_i64(f));
    if (what & 16) {
        cbs[0] = ckeras_lambda_callback(fuzz_api_callback, &c);
        ckeras_fit_args_add_callback(a, cbs[0]);
    }
    if (what & 32) {
        name = take_str(f, buf);
        cbs[1] = ckeras_early_stopping(name, take_int(f));
        name = take_str(f, buf);
        ckeras_callback_set_float(cbs[1], name, take_f64(f));
        ckeras_fit_args_add_callback(a, cbs[1]);
    }
    if (what & 64) {
        cbs[2] = take_u8(f) & 1 ? ckeras_terminate_on_nan()
                                : ckeras_model_checkpoint(fuzz_temp_path("api_ck", ".h5"), take_str(f, buf),
                                                          take_u8(f) & 1);
        name = take_str(f, buf);
        ckeras_callback_set_str(cbs[2], name, take_str(f, buf + 17));
        ckeras_fit_args_add_callback(a, cbs[2]);
    }
    ckeras_fit_args_set_int(a, "verbose", 0);
    ckeras_history *h = NULL;
    f->depth++;
    /* no args (Keras' defaults) only now and then: it prints a progress bar */
    if (ckeras_model_fit(m, x, y, what == 0xff ? NULL : a, take_u8(f) & 1 ? &h : NULL) == CKERAS_OK && h) {
        int nk = ckeras_history_key_count(h);
        for (int i = 0; i < nk; i++) {
            const double *vals = NULL;
            int ne = 0;
            ckeras_history_values(h, ckeras_history_key(h, i), &vals, &ne);
        }
    }
    f->depth--;
    ckeras_history_free(h);
    (void)ckeras_early_stopping_stopped_epoch(cbs[1]);
    for (int k = 0; k < 3; k++)
        ckeras_callback_free(cbs[k]);
    ckeras_fit_args_free(a);
}

/* ---- the operations ----------------------------------------------------------------------- */

/* A new layer of one of the kinds fuzzed, with arguments from the input. */
static ckeras_layer *new_layer(fuzz_api *f, uint8_t kind)
{
    char buf[32], buf2[32];
    int64_t shape[FUZZ_API_ROOM];
    int nd;
    /* arguments taken in order (a call's arguments are evaluated in no fixed order) */
    int64_t a = take_size(f), b = take_size(f), c = take_size(f);
    const char *act = take_str(f, buf);
    switch (kind % 28) {
    case 0:
        nd = take_shape(f, shape);
        return ckeras_input(nd, shape);
    case 1:
        return ckeras_dense(a, act);
    case 2:
        return ckeras_conv2d(a, b, c, act);
    case 3:
        return ckeras_max_pooling2d(a, b);
    case 4:
        return ckeras_average_pooling2d(a, b);
    case 5:
        return ckeras_flatten();
    case 6:
        return ckeras_dropout(take_f64(f));
    case 7:
        return ckeras_batch_normalization();
    case 8:
        return ckeras_lstm(a, (int)(b & 1));
    case 9:
        return ckeras_embedding(a, b);
    case 10:
        nd = take_shape(f, shape);
        return ckeras_reshape(nd, shape);
    case 11:
        return ckeras_zero_padding2d(a, b);
    case 12:
        return ckeras_upsampling2d(a, b);
    case 13:
        return ckeras_conv1d(a, b, act);
    case 14:
        return ckeras_gru(a, (int)(b & 1));
    case 15:
        return ckeras_simple_rnn(a, (int)(b & 1));
    case 16:
        return ckeras_global_average_pooling2d();
    case 17:
        return ckeras_layer_normalization();
    case 18:
        return ckeras_activation(act);
    case 19:
        return c & 1 ? ckeras_add() : ckeras_concatenate((int)b);
    case 20: {
        int k = take_u8(f) % FUZZ_API_NL;
        ckeras_layer *inner = give_layer(f, k); /* NULL too */
        return ckeras_bidirectional(inner, act);
    }
    case 21: {
        uint8_t k = take_u8(f);
        return ckeras_layer_from_config(act, k < 200 ? configs[k % (sizeof configs / sizeof configs[0])]
                                                     : take_str(f, buf2));
    }
    case 22:
        return ckeras_max_pooling1d(a);
    case 23:
        return ckeras_global_max_pooling2d();
    case 24:
        return ckeras_spatial_dropout2d(take_f64(f));
    case 25:
        return ckeras_depthwise_conv2d(a, b, c, act);
    case 26:
        return ckeras_rescaling((double)a / 4, (double)b / 4);
    default:
        return ckeras_conv2d_transpose(a, b, c, act);
    }
}

static ckeras_optimizer *new_optimizer(fuzz_api *f)
{
    char buf[32];
    double lr, mom;
    switch (take_u8(f) % 7) {
    case 0:
        return NULL;
    case 1:
        lr = take_f64(f);
        mom = take_f64(f);
        return ckeras_sgd(lr, mom, take_u8(f) & 1);
    case 2:
        return ckeras_adam(take_f64(f));
    case 3:
        lr = take_f64(f);
        return ckeras_adamw(lr, take_f64(f));
    case 4:
        return ckeras_rmsprop(take_f64(f));
    case 5:
        return ckeras_adagrad(take_f64(f));
    default: {
        ckeras_optimizer *o = ckeras_optimizer_from_name(take_str(f, buf));
        const char *name = take_str(f, buf);
        ckeras_optimizer_set_float(o, name, take_f64(f));
        return o;
    }
    }
}

/* A layer to apply a setter to: a loose one, or one inside a model (built already). */
static ckeras_layer *some_layer(fuzz_api *f)
{
    uint8_t b = take_u8(f);
    if (b < 128)
        return f->l[b % FUZZ_API_NL];
    ckeras_model *m = f->m[b % FUZZ_API_NM];
    return ckeras_model_layer(m, take_int(f));
}

/* The results array of evaluate and train_on_batch: NULL now and then (the header allows it). */
static double *results(fuzz_api *f, double *res)
{
    bool null = take_u8(f) > 240;
    return null ? NULL : res;
}

static void run_op(fuzz_api *f, uint8_t op)
{
    char buf[32], buf2[32];
    int64_t shape[FUZZ_API_ROOM];
    int km = take_u8(f) % FUZZ_API_NM, kt = take_u8(f) % FUZZ_API_NT, kl = take_u8(f) % FUZZ_API_NL;
    ckeras_model *m = f->m[km];
    ckeras_tensor *t = f->t[kt], *out = NULL;
    char *text = NULL;
    double res[8];
    switch (op % 48) {
    case 0:
        put_model(f, km, ckeras_sequential(take_str(f, buf)));
        break;
    case 1:
        put_model(f, km, ckeras_functional(take_str(f, buf)));
        break;
    case 2: case 3: case 4:
        put_layer(f, kl, new_layer(f, take_u8(f)));
        break;
    case 5: case 6:
        ckeras_model_add(m, give_layer(f, kl));
        break;
    case 7:
        ckeras_model_pop(m);
        break;
    case 8:
        keep_id(f, km, id_input(m, give_layer(f, kl)));
        break;
    case 9: case 10: {
        /* a count from the input (n == 3: any int) with room for more ids than a call takes
         * (CK_MAX_NODE_INPUTS), so that only the library's check stands between them */
        int n = take_u8(f) % 4, ins[FUZZ_API_ROOM];
        for (int i = 0; i < n && i < 3; i++)
            ins[i] = take_id(f, km);
        for (int i = n < 3 ? n : 3; i < FUZZ_API_ROOM; i++)
            ins[i] = i & 1;
        int nin = n == 3 ? take_int(f) : n;
        keep_id(f, km, id_call(m, give_layer(f, kl), nin, n ? ins : NULL));
        break;
    }
    case 11: {
        int n = take_u8(f) % 3, outs[FUZZ_API_ROOM];
        for (int i = 0; i < n; i++)
            outs[i] = take_id(f, km);
        for (int i = n; i < FUZZ_API_ROOM; i++)
            outs[i] = i;
        ckeras_model_set_outputs(m, n == 2 && take_u8(f) > 240 ? take_int(f) : n, n ? outs : NULL);
        break;
    }
    case 12: case 13: {
        ckeras_optimizer *opt = new_optimizer(f);
        const char *loss = take_str(f, buf);
        ckeras_model_compile(m, opt, loss, take_str(f, buf2));
        break;
    }
    case 14: {
        const char *losses[2];
        double w[2];
        losses[0] = take_str(f, buf);
        losses[1] = take_str(f, buf2);
        w[0] = take_f64(f);
        w[1] = take_f64(f);
        int n = take_u8(f) % 3;
        ckeras_optimizer *opt = new_optimizer(f);
        ckeras_model_compile_outputs(m, opt, n, NULL, losses, take_u8(f) & 1 ? w : NULL, NULL);
        break;
    }
    case 15: {
        const char *name = take_str(f, buf);
        ckeras_model_set_loss_float(m, name, take_f64(f));
        break;
    }
    case 16: case 17:
        put_tensor(f, kt, input_for(f, m, take_u8(f) % 2));
        break;
    case 18: { /* a target: the model's own prediction, perturbed */
        ckeras_tensor *x = f->t[take_u8(f) % FUZZ_API_NT];
        if (ckeras_model_predict(m, x, 0, &out) == CKERAS_OK) {
            fill(f, out);
            put_tensor(f, kt, out);
        }
        out = NULL;
        break;
    }
    case 19: case 20: case 21:
        op_fit(f, m, t, f->t[take_u8(f) % FUZZ_API_NT]);
        break;
    case 22: {
        int n = take_u8(f) % 9;
        ckeras_tensor *y = f->t[take_u8(f) % FUZZ_API_NT];
        int bs = take_int(f);
        n = take_u8(f) > 240 ? take_int(f) : n;
        ckeras_model_evaluate(m, t, y, bs, results(f, res), n);
        break;
    }
    case 23:
        ckeras_model_predict(m, t, take_int(f), &out);
        break;
    case 24: {
        int n = take_u8(f) % 9;
        ckeras_tensor *y = f->t[take_u8(f) % FUZZ_API_NT];
        n = take_u8(f) > 240 ? take_int(f) : n;
        ckeras_model_train_on_batch(m, t, y, results(f, res), n);
        break;
    }
    case 25: { /* save, load the file back */
        const char *path = fuzz_temp_path("api", take_u8(f) & 1 ? ".keras" : ".h5");
        ckeras_model *m2 = NULL;
        int flags = take_u8(f);
        if (ckeras_model_save(m, path, flags % 4) == CKERAS_OK &&
            ckeras_load_model(path, (flags >> 2) & 1, &m2) == CKERAS_OK)
            put_model(f, take_u8(f) % FUZZ_API_NM, m2);
        unlink(path);
        break;
    }
    case 26: { /* weights */
        const char *path = fuzz_temp_path("api_w", ".weights.h5");
        ckeras_model_save_weights(m, path);
        ckeras_model *m2 = f->m[take_u8(f) % FUZZ_API_NM];
        ckeras_model_load_weights(m2, path, take_int(f));
        break;
    }
    case 27:
        if (ckeras_model_summary_string(m, take_int(f), &text) == CKERAS_OK)
            ckeras_free(text);
        break;
    case 28: {
        ckeras_model *m2 = NULL;
        if (ckeras_model_to_json(m, &text) == CKERAS_OK && ckeras_model_from_json(text, &m2) == CKERAS_OK)
            put_model(f, take_u8(f) % FUZZ_API_NM, m2);
        ckeras_free(text);
        break;
    }
    case 29:
        if (ckeras_model_to_dot(m, take_int(f), &text) == CKERAS_OK)
            ckeras_free(text);
        break;
    case 30: {
        int64_t a, b, c;
        ckeras_model_count_params(m, &a, take_u8(f) & 1 ? &b : NULL, &c);
        int n = ckeras_model_layer_count(m);
        (void)ckeras_model_name(m);
        (void)ckeras_model_input_count(m);
        (void)ckeras_model_output_name(m, take_int(f));
        (void)ckeras_model_metrics_name(m, take_int(f));
        (void)ckeras_model_metrics_count(m);
        (void)ckeras_model_layer_by_name(m, take_str(f, buf));
        (void)n;
        break;
    }
    case 31: {
        ckeras_layer *l = some_layer(f);
        const char *name = NULL;
        ckeras_tensor *view = NULL;
        if (ckeras_layer_weight(l, take_int(f), &name, &view) == CKERAS_OK && view && take_u8(f) & 1)
            fill(f, view); /* a view into the model's weights */
        ckeras_tensor_free(view);
        (void)ckeras_layer_weight_count(l);
        (void)ckeras_layer_name(l);
        (void)ckeras_layer_class(l);
        (void)ckeras_layer_trainable(l);
        break;
    }
    case 32: case 33: {
        int nd = take_shape(f, shape);
        put_tensor(f, kt, op & 1 ? ckeras_tensor_new(nd, shape) : NULL);
        if (ckeras_tensor_size(f->t[kt]) > FUZZ_API_MAX_KEEP) /* made, but too slow to use */
            put_tensor(f, kt, NULL);
        if (!(op & 1)) {
            float d[64] = {0};
            int64_t n = 1;
            for (int a = 0; a < nd && a < CKERAS_MAX_DIMS; a++)
                n = shape[a] >= 0 && shape[a] <= 64 && n * shape[a] <= 64 ? n * shape[a] : 65;
            if (n <= 64) /* never more than the data holds: reading past it is the caller's fault */
                put_tensor(f, kt, ckeras_tensor_copy(take_u8(f) & 1 ? d : NULL, nd, shape));
        }
        if (f->t[kt])
            fill(f, f->t[kt]);
        break;
    }
    case 34: {
        int nd = take_shape(f, shape);
        ckeras_tensor_reshape(t, nd, shape);
        (void)ckeras_tensor_dim(t, take_int(f));
        (void)ckeras_tensor_ndim(t);
        break;
    }
    case 35: { /* by-name setters */
        ckeras_layer *l = some_layer(f);
        const char *name = take_str(f, buf);
        switch (take_u8(f) % 6) {
        case 0:
            ckeras_layer_set_int(l, name, take_size(f));
            break;
        case 1:
            ckeras_layer_set_float(l, name, take_f64(f));
            break;
        case 2:
            ckeras_layer_set_str(l, name, take_str(f, buf2));
            break;
        case 3:
            ckeras_layer_set_bool(l, name, take_int(f));
            break;
        case 4: {
            int64_t v[FUZZ_API_ROOM];
            for (int i = 0; i < FUZZ_API_ROOM; i++)
                v[i] = i < 4 ? take_size(f) : 2;
            int n = take_u8(f) % 5;
            n = take_u8(f) > 240 ? take_int(f) : n;
            ckeras_layer_set_ints(l, name, n, take_u8(f) > 250 ? NULL : v);
            break;
        }
        default:
            ckeras_layer_set_name(l, name);
            break;
        }
        break;
    }
    case 36: {
        ckeras_layer *l = some_layer(f);
        ckeras_layer_set_trainable(l, take_int(f));
        break;
    }
    case 37:
        ckeras_model_set_trainable(m, take_int(f));
        break;
    case 38: { /* a model from tensors of another */
        int in = take_id(f, km), o = take_id(f, km);
        if (take_u8(f) & 1) {
            in = id_input_tensor(m, take_int(f));
            o = take_u8(f) & 1 ? id_layer_output_at(m, take_int(f))
                               : id_layer_output_by_name(m, take_str(f, buf));
        }
        ckeras_model *m2 = ckeras_model_from_tensors(m, 1, &in, 1, &o, take_str(f, buf));
        if (m2)
            put_model(f, take_u8(f) % FUZZ_API_NM, m2);
        break;
    }
    case 39: { /* a model called as a layer of another */
        int k2 = take_u8(f) % FUZZ_API_NM, in = take_id(f, km);
        keep_id(f, km, id_call_model(m, f->m[k2], 1, &in, take_u8(f) & 1 ? -1 : 0));
        break;
    }
    case 40:
        put_model(f, km, NULL); /* freed, maybe while nested in another model */
        break;
    case 41:
        put_tensor(f, kt, NULL);
        break;
    case 42:
        ckeras_to_categorical(t, take_int(f), &out);
        break;
    case 43: {
        ckeras_scaler *s = ckeras_standard_scaler_fit(t);
        ckeras_standard_scaler_transform(s, f->t[take_u8(f) % FUZZ_API_NT]);
        ckeras_standard_scaler_free(s);
        break;
    }
    case 44: {
        ckeras_tensor *outs[3] = {0};
        const ckeras_tensor *xs[2] = {t, f->t[take_u8(f) % FUZZ_API_NT]};
        int nin = 1 + take_u8(f) % 2, bs = take_int(f);
        ckeras_model_predict_outputs(m, nin, xs, bs, take_u8(f) % 4, outs);
        for (int i = 0; i < 3; i++)
            ckeras_tensor_free(outs[i]);
        break;
    }
    case 45: {
        const ckeras_tensor *ys[2];
        ys[0] = f->t[take_u8(f) % FUZZ_API_NT];
        ys[1] = f->t[take_u8(f) % FUZZ_API_NT];
        ckeras_model_train_on_batch_multi(m, 1, (const ckeras_tensor *const *)&f->t[kt], 1 + take_u8(f) % 2, ys,
                                          res, 8);
        break;
    }
    case 46: {
        ckeras_tensor *xt = NULL, *xv = NULL, *yt = NULL;
        ckeras_tensor *y = f->t[take_u8(f) % FUZZ_API_NT];
        double frac = take_f64(f);
        uint64_t seed = take_u8(f);
        ckeras_train_test_split(t, y, frac, seed, &xt, &xv, &yt, take_u8(f) > 250 ? NULL : &out);
        ckeras_tensor_free(xt);
        ckeras_tensor_free(xv);
        ckeras_tensor_free(yt);
        break;
    }
    default: { /* global settings, fit keywords by name */
        ckeras_set_random_seed(take_raw64(f));
        (void)ckeras_status_name((ckeras_status)take_int(f));
        (void)ckeras_last_error();
        ckeras_fit_args *a = ckeras_fit_args_new();
        const char *name = take_str(f, buf);
        ckeras_fit_args_set_float(a, name, take_f64(f));
        name = take_str(f, buf);
        ckeras_fit_args_set_int(a, name, take_i64(f));
        ckeras_fit_args_free(a);
        break;
    }
    }
    ckeras_tensor_free(out);
}

/* ---- distinct call sequences (CK_FUZZ_API_STATS) ------------------------------------------- */

#define FUZZ_API_SEQ_BITS 20
static uint8_t fuzz_api_bigrams[64 * 64 / 8];
static uint8_t fuzz_api_seqs[(1u << FUZZ_API_SEQ_BITS) / 8];
static uint64_t fuzz_api_inputs, fuzz_api_nbigrams, fuzz_api_nseqs, fuzz_api_calls;

static int fuzz_api_mark(uint8_t *bits, uint32_t i)
{
    int was = bits[i / 8] >> (i % 8) & 1;
    bits[i / 8] |= (uint8_t)(1u << (i % 8));
    return !was;
}

static void fuzz_api_report(void)
{
    fprintf(stderr,
            "fuzz_api: %llu inputs, %llu calls, %llu distinct op bigrams (of %d), %llu distinct op sequences "
            "(hashed to %d bits)\n",
            (unsigned long long)fuzz_api_inputs, (unsigned long long)fuzz_api_calls,
            (unsigned long long)fuzz_api_nbigrams, 48 * 48, (unsigned long long)fuzz_api_nseqs, FUZZ_API_SEQ_BITS);
}

static void fuzz_api_count(fuzz_api *f, uint8_t op)
{
    static int stats = -1;
    if (stats < 0) {
        stats = getenv("CK_FUZZ_API_STATS") != NULL;
        if (stats)
            atexit(fuzz_api_report);
    }
    op %= 48;
    f->seq = (f->seq ^ op) * 0x100000001b3ull;
    if (stats) {
        fuzz_api_calls++;
        fuzz_api_nbigrams += (uint64_t)fuzz_api_mark(fuzz_api_bigrams, (uint32_t)(f->prev_op * 64 + op));
    }
    f->prev_op = op;
}

/* ---- entry point -------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ck_alloc_set_limit(FUZZ_ALLOC_LIMIT);
    ckeras_set_max_tensor_size(FUZZ_API_MAX_TENSOR);
    ckeras_set_max_model_params(FUZZ_API_MAX_PARAMS);
    if (!fuzz_api_long[0])
        memset(fuzz_api_long, 'k', sizeof fuzz_api_long - 1);
    fuzz_api f;
    memset(&f, 0, sizeof f);
    f.p = data;
    f.n = size;
    f.seq = 0xcbf29ce484222325ull;
    f.prev_op = 63;
    ckeras_set_random_seed(1);
    int trace = getenv("CK_FUZZ_API_TRACE") != NULL;
    while (f.n > 0 && f.ops < FUZZ_API_MAX_OPS) {
        uint8_t op = take_u8(&f);
        f.ops++;
        fuzz_api_count(&f, op);
        run_op(&f, op);
        if (trace)
            fprintf(stderr, "fuzz_api: op %d (%zu bytes left): last error: %s\n", op % 48, f.n, ckeras_last_error());
    }
    if (getenv("CK_FUZZ_API_STATS")) {
        fuzz_api_inputs++;
        fuzz_api_nseqs += (uint64_t)fuzz_api_mark(fuzz_api_seqs, (uint32_t)(f.seq >> (64 - FUZZ_API_SEQ_BITS)));
    }
    for (int k = 0; k < FUZZ_API_NM; k++)
        put_model(&f, k, NULL);
    for (int k = 0; k < FUZZ_API_NL; k++)
        put_layer(&f, k, NULL);
    for (int k = 0; k < FUZZ_API_NT; k++)
        put_tensor(&f, k, NULL);
    unlink(fuzz_temp_path("api", ".h5"));
    unlink(fuzz_temp_path("api", ".keras"));
    unlink(fuzz_temp_path("api_cb", ".h5"));
    unlink(fuzz_temp_path("api_cb", ".keras"));
    unlink(fuzz_temp_path("api_w", ".weights.h5"));
    unlink(fuzz_temp_path("api_ck", ".h5"));
    return 0;
}
