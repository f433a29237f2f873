/**
 * @file ckeras.h
 * @brief ckeras: an embeddable C library with the Keras API.
 *
 * The classic Keras binary classifier, in C:
 *
 * @code
 * ckeras_model *m = ckeras_sequential("classifier");
 * ckeras_model_add(m, ckeras_input(1, (const int64_t[]){30}));
 * ckeras_model_add(m, ckeras_dense(100, "relu"));
 * ckeras_model_add(m, ckeras_dense(50, "relu"));
 * ckeras_model_add(m, ckeras_dense(50, "relu"));
 * ckeras_model_add(m, ckeras_dense(1, "sigmoid"));
 * ckeras_model_compile(m, ckeras_adam(1e-3), "binary_crossentropy", "accuracy");
 *
 * ckeras_callback *es = ckeras_early_stopping("val_loss", 5);
 * ckeras_fit_args *fa = ckeras_fit_args_new();
 * ckeras_fit_args_set_int(fa, "epochs", 100);
 * ckeras_fit_args_set_float(fa, "validation_split", 0.2);
 * ckeras_fit_args_add_callback(fa, es);
 * ckeras_history *h = NULL;
 * if (ckeras_model_fit(m, x, y, fa, &h) != CKERAS_OK)
 *     fprintf(stderr, "%s\n", ckeras_last_error());
 * @endcode
 *
 * Conventions, for every function in this header (frozen for 1.0: later 1.x releases only add):
 * - Names: `ckeras_<object>_<verb>(handle, inputs..., outputs...)`. Constructors of an object
 *   are named after its Keras class (ckeras_dense(), ckeras_adam()) or `ckeras_<object>_new`.
 *   Getters are nouns, `ckeras_<object>_<property>` (ckeras_model_layer_count(),
 *   ckeras_model_layer_by_name()); setters `ckeras_<object>_set_<property>`; process-wide
 *   settings `ckeras_<property>()` and `ckeras_set_<property>()` (ckeras_num_threads(),
 *   ckeras_set_num_threads()).
 * - Arguments: the handle first, then the inputs, then the outputs: out-parameters come last
 *   (a buffer and its capacity count as one output, buffer first). A stream to write to
 *   (ckeras_model_summary()) is an output too.
 * - A call that can fail returns a ::ckeras_status (::CKERAS_OK is 0) and gives its results
 *   (tensor ids included) through its out-parameters; its comment lists the statuses it returns
 *   (`@return`). A constructor returns the new object, or NULL (its comment says when). Either
 *   way ckeras_last_error() then says what went wrong. Functions that cannot fail (counts,
 *   names, getters) say what they return for a NULL handle or an index out of range.
 * - Flags come in typed groups, one enum per group (::ckeras_save_flags, ::ckeras_load_flags,
 *   ::ckeras_weights_flags, ::ckeras_dot_flags), each with a `*_DEFAULT` member equal to 0.
 *   Combine flags of one group with `|`; gcc and clang warn (-Wenum-conversion, in -Wextra)
 *   when a flag of another group is passed. In C++, cast a combination back to the enum type.
 * - Passing NULL where a handle is expected is ::CKERAS_EINVAL, never a crash; passing NULL to
 *   a `*_free` function does nothing.
 * - Functions that take a handle of another kind "take" it when their comment says so: the
 *   callee owns it from then on, also when the call fails.
 * - Thread safety: distinct models may be used from distinct threads at the same time. A single
 *   handle must not be used from two threads at once unless its comment says otherwise. Each
 *   group of functions below states its thread-safety in a "Thread-safety:" line.
 * - A model in use: every call that runs a model or changes it (fit, evaluate, predict and its
 *   variants, train_on_batch, add, pop, compile, compile_outputs, set_loss_float, set_trainable,
 *   set_weighted_metrics,
 *   ckeras_layer_set_trainable() on one of its layers, model_input, model_call, call_model (on
 *   either model), set_outputs, from_tensors, load_weights, save, save_weights) marks the model
 *   busy while it runs. Such a call on a model that is busy, from another thread or from a
 *   callback of the model's own fit, returns ::CKERAS_ESTATE ("model 'm' is in use by another
 *   thread (or by the fit that runs this callback)") and changes nothing; ckeras_model_free() on a
 *   busy model frees nothing and sets that error. A model that shares layers with a busy one (a
 *   base model called by the model being fitted) is refused the same way. The one exception is
 *   saving, as Keras' ModelCheckpoint does: a callback may call ckeras_model_save() and
 *   ckeras_model_save_weights() on the model whose fit runs it (in the same thread). Calls that
 *   only read a model's structure (summary, to_json, to_dot, counts, names, layer lookups) take
 *   no mark and may run from callbacks. A running fit keeps its own copy of its fit_args (a
 *   callback may free them) and refuses ckeras_callback_free() of its callbacks.
 * - Settings given by name (ckeras_layer_set_*(), ckeras_callback_set_*(),
 *   ckeras_optimizer_set_float(), ckeras_fit_args_set_*(), configs read from files or
 *   ckeras_layer_from_config()) are checked as the typed constructors check them: a value out of
 *   range, a NaN or infinity where a number is needed, a non-integer for an int, anything but 0 or
 *   1 for a bool is ::CKERAS_EINVAL. NaN means Keras' None only where the comment says so.
 * - A flags argument with a bit the call does not know is ::CKERAS_EINVAL.
 * - Messages longer than the library's buffer (1023 bytes) keep their start (the call) and their
 *   end (the cause), with "..." in place of the middle.
 * - Data is float32, row-major; images are NHWC (Keras' `channels_last`).
 */
#ifndef CKERAS_H
#define CKERAS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @name Version and build
 * Thread-safety: every function here is thread-safe.
 */
/**@{*/
#define CKERAS_VERSION_MAJOR 1
#define CKERAS_VERSION_MINOR 0
#define CKERAS_VERSION_PATCH 0
/** The version as text, "MAJOR.MINOR.PATCH". */
#define CKERAS_VERSION "1.0.0"
/** The version as one number: MAJOR * 10000 + MINOR * 100 + PATCH. */
#define CKERAS_VERSION_NUMBER \
    (CKERAS_VERSION_MAJOR * 10000 + CKERAS_VERSION_MINOR * 100 + CKERAS_VERSION_PATCH)

/**
 * CKERAS_API marks the library's exported functions. Building ckeras defines CKERAS_BUILD (the
 * Makefile does); a program linking the static library on Windows defines CKERAS_STATIC.
 * - Windows (MSVC, MinGW, Cygwin): `__declspec(dllexport)` while building the DLL,
 *   `__declspec(dllimport)` when using it, nothing with CKERAS_STATIC;
 * - GCC and Clang elsewhere: `__attribute__((visibility("default")))` (the library is built
 *   with -fvisibility=hidden, so only these functions are exported);
 * - other compilers: nothing.
 */
#if defined(_WIN32) || defined(__CYGWIN__)
#if defined(CKERAS_STATIC)
#define CKERAS_API
#elif defined(CKERAS_BUILD)
#define CKERAS_API __declspec(dllexport)
#else
#define CKERAS_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) || defined(__clang__)
#define CKERAS_API __attribute__((visibility("default")))
#else
#define CKERAS_API
#endif

/** The library's version as text; compare with ::CKERAS_VERSION to catch a header mismatch. */
CKERAS_API const char *ckeras_version(void);
/** The library's version number; compare with ::CKERAS_VERSION_NUMBER. */
CKERAS_API int ckeras_version_number(void);
/**
 * A one-line description of the build: version, GEMM kernel set in use (for example
 * "blis=skx"), thread count. Owned by the library. Thread-safe.
 */
CKERAS_API const char *ckeras_build_info(void);
/**@}*/

/** @name Errors
 * Thread-safety: thread-safe; the last error is kept per thread.
 */
/**@{*/
/** Result of every call that can fail. */
typedef enum ckeras_status {
    CKERAS_OK = 0,          /**< success */
    CKERAS_EINVAL = 1,      /**< invalid argument: NULL handle, unknown name, bad value */
    CKERAS_ENOMEM = 2,      /**< an allocation failed */
    CKERAS_ESHAPE = 3,      /**< shapes do not fit together */
    CKERAS_ESTATE = 4,      /**< a call out of order (fit before compile, ...) */
    CKERAS_EIO = 5,         /**< a file could not be read or written */
    CKERAS_EFORMAT = 6,     /**< a file or string is not in the expected format */
    CKERAS_EUNSUPPORTED = 7, /**< valid Keras, but not (yet) supported by ckeras */
    CKERAS_ENAN = 8,        /**< NaN or infinity in data or weights */
    CKERAS_STOP = 9         /**< returned by a user callback to stop training cleanly */
} ckeras_status;

/**
 * The message of the last failed call made by this thread ("" if none): what, where and why,
 * at most 1023 bytes (a longer one keeps its start and its end, the middle shortened to "...").
 * Owned by the library, valid until the next failing call in the same thread. Thread-safe.
 */
CKERAS_API const char *ckeras_last_error(void);
/** A short constant name for a status ("CKERAS_EINVAL"). */
CKERAS_API const char *ckeras_status_name(ckeras_status status);
/** Frees memory the library returned with the words "free with ckeras_free". NULL is a no-op. */
CKERAS_API void ckeras_free(void *ptr);
/**@}*/

/** @name Global settings
 * Thread-safety: the settings are atomic: any thread may set or read them; a change applies to
 *   calls started afterwards (ckeras_set_random_seed(): not beside model construction in other
 *   threads).
 */
/**@{*/
/**
 * Seeds the generator that every model made afterwards draws its seed from (as
 * `keras.utils.set_random_seed`): initialisers, shuffling, dropout. The same seed and the same
 * calls give bit-identical training. Not thread-safe with model construction in other threads.
 */
CKERAS_API void ckeras_set_random_seed(uint64_t seed);
/**
 * Number of threads for GEMMs and the library's own loops; 0 or less means all cores (the
 * default). Returns ::CKERAS_OK. Applies to calls started afterwards.
 *
 * With two threads or more, training a model whose layers each treat the samples apart and
 * whose weights each do several multiply-adds per sample (convolutional nets without
 * BatchNormalization, masks or sample weights) runs each batch in parts, one per thread, and adds
 * the parts' gradients. Its weights then differ from a one-thread run in the last bits (the
 * order of the sums), and its Dropout masks come from one generator per part; the same seed and
 * thread count still give bit-identical training. The predict and evaluate of such models run
 * in parts too (on AVX-512 CPUs with the same bits as in one batch). `CKERAS_SPLIT=0` in the
 * environment turns this off.
 * @return ::CKERAS_OK (it cannot fail: a value <= 0 means all cores)
 */
CKERAS_API ckeras_status ckeras_set_num_threads(int n);
/** The thread count in effect (the number of threads a call started now would use). */
CKERAS_API int ckeras_num_threads(void);
/** The largest value ckeras_set_max_tensor_size() and ckeras_set_max_model_params() accept:
 *  2^48 (a petabyte of floats), so that byte counts and workspace products of checked sizes stay
 *  far from int64 overflow. */
#define CKERAS_MAX_SIZE_LIMIT ((int64_t)1 << 48)
/**
 * The most elements one tensor may have: user tensors (ckeras_tensor_new(), _copy(), _wrap(),
 * _reshape(), files read), layer outputs and weights, and the per-batch buffers of fit, evaluate
 * and predict. A shape past it, or whose element count overflows int64, is refused with
 * ::CKERAS_ESHAPE and a message naming the limit instead of wrapping. The default, 2^34 (64 GiB
 * of floats), is far above a CPU's memory; raise it up to ::CKERAS_MAX_SIZE_LIMIT. Process-wide,
 * applies to calls started afterwards. Errors: ::CKERAS_EINVAL when @p elements is below 1 or
 * above ::CKERAS_MAX_SIZE_LIMIT (the limit is then unchanged).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (@p elements below 1 or above ::CKERAS_MAX_SIZE_LIMIT)
 */
CKERAS_API ckeras_status ckeras_set_max_tensor_size(int64_t elements);
/** The per-tensor element limit in effect (ckeras_set_max_tensor_size()). */
CKERAS_API int64_t ckeras_max_tensor_size(void);
/**
 * The most parameters (trainable and not) one model may have; adding, building or loading a
 * model past it is refused with ::CKERAS_ESHAPE. Default 2^34; at most ::CKERAS_MAX_SIZE_LIMIT.
 * Process-wide. Errors: ::CKERAS_EINVAL when @p params is below 1 or above the maximum.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (@p params below 1 or above ::CKERAS_MAX_SIZE_LIMIT)
 */
CKERAS_API ckeras_status ckeras_set_max_model_params(int64_t params);
/** The per-model parameter limit in effect (ckeras_set_max_model_params()). */
CKERAS_API int64_t ckeras_max_model_params(void);
/**@}*/

/** @name Tensors: float32 arrays with a shape
 * Thread-safety: distinct tensors from distinct threads; one tensor may be read by several threads
 *   at once (fit, evaluate and predict only read their inputs), not written beside a reader.
 */
/**@{*/
/** Opaque float32 n-dimensional array (at most ::CKERAS_MAX_DIMS axes, row-major). */
typedef struct ckeras_tensor ckeras_tensor;
#define CKERAS_MAX_DIMS 8
/** @def CKERAS_MAX_DIMS
 *  The most axes a tensor or a shape may have. */
/** @def CKERAS_VERSION_MAJOR
 *  The major version: a new major version may break the ABI (it changes the SONAME). */
/** @def CKERAS_VERSION_MINOR
 *  The minor version: new functions, the ABI kept. */
/** @def CKERAS_VERSION_PATCH
 *  The patch version: fixes only. */
/** @def CKERAS_API
 *  Marks the library's exported functions (symbol visibility). */

/** A new zero-filled tensor of the given shape. Free with ckeras_tensor_free().
 * @return the new tensor, or NULL when an argument is out of range (::CKERAS_EINVAL;
 *   ::CKERAS_ESHAPE for a size past the limit; the message names it) or an allocation fails
 *   (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_tensor *ckeras_tensor_new(int ndim, const int64_t *shape);
/** A new tensor holding a copy of @p data (row-major, product of @p shape floats).
 * @return the new tensor, or NULL when an argument is out of range (::CKERAS_EINVAL;
 *   ::CKERAS_ESHAPE for a size past the limit; the message names it) or an allocation fails
 *   (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_tensor *ckeras_tensor_copy(const float *data, int ndim, const int64_t *shape);
/**
 * A tensor that borrows @p data without copying: the caller keeps ownership and must keep the
 * buffer alive (and unmoved) while the tensor is used. ckeras_tensor_free() frees the handle
 * only.
 * @return the new tensor, or NULL when an argument is out of range (::CKERAS_EINVAL;
 *   ::CKERAS_ESHAPE for a size past the limit; the message names it) or an allocation fails
 *   (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_tensor *ckeras_tensor_wrap(float *data, int ndim, const int64_t *shape);
/** Frees the tensor (and its data unless wrapped). NULL is a no-op. */
CKERAS_API void ckeras_tensor_free(ckeras_tensor *t);
/** Number of axes, or -1 if @p t is NULL. */
CKERAS_API int ckeras_tensor_ndim(const ckeras_tensor *t);
/** Length of axis @p axis (negative counts from the end), or -1 when out of range. */
CKERAS_API int64_t ckeras_tensor_dim(const ckeras_tensor *t, int axis);
/** Number of elements, or 0 if @p t is NULL. */
CKERAS_API int64_t ckeras_tensor_size(const ckeras_tensor *t);
/** The data, row-major; owned by the tensor (or by the caller if wrapped). */
CKERAS_API float *ckeras_tensor_data(ckeras_tensor *t);
/**
 * Gives @p t a new shape with the same number of elements, in place (NumPy's reshape on
 * row-major data); one axis may be -1 (inferred). ::CKERAS_ESHAPE if the sizes differ.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL tensor or shape, @p ndim out of 1..::CKERAS_MAX_DIMS,
 *   more than one -1, a size below -1), ::CKERAS_ESHAPE (the element counts differ, or a size past
 *   the limit)
 */
CKERAS_API ckeras_status ckeras_tensor_reshape(ckeras_tensor *t, int ndim, const int64_t *shape);
/**@}*/

/** @name Layers
 * Thread-safety: a layer not in a model is used by one thread at a time; a layer in a model as its
 *   model (see "A model in use" above).
 */
/**@{*/
/** Opaque layer: a Keras layer class with its config. */
typedef struct ckeras_layer ckeras_layer;

/**
 * Keras `Input(shape=...)`: the per-sample shape (no batch axis). A negative size (-1) is Keras'
 * None: a variable length (a sequence's number of steps), taken from the data of each
 * predict/fit/evaluate/train_on_batch call (all samples of one call have the same length; fit's
 * validation data must have the training data's). Layers whose weights would depend on a None
 * axis (Dense after Flatten over it) are refused with ::CKERAS_ESHAPE when added. summary() shows
 * None, and files keep it (null in the shape). Recurrent layers, Embedding, Conv1D, pooling,
 * Dense on the last axis and TimeDistributed take None axes.
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_input(int ndim, const int64_t *shape);
/**
 * Keras `Dense(units, activation=...)`. @p activation is a Keras name ("relu", "sigmoid", ...)
 * or NULL for linear. Other keywords (use_bias, kernel_initializer, bias_initializer) are set
 * with ckeras_layer_set_*(). Applied to the last axis of inputs of any rank.
 */
CKERAS_API ckeras_layer *ckeras_dense(int64_t units, const char *activation);
/** Keras `Activation(activation)`.
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_activation(const char *activation);
/** Keras `Dropout(rate)`: inverted dropout, active only in training.
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_dropout(double rate);
/** Keras `Flatten()`.
 * @return the new layer, or NULL only when an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_flatten(void);
/**
 * Keras `Conv2D(filters, kernel_size=(kh, kw), activation=...)`, NHWC, kernel (kh, kw, in,
 * filters). strides, padding ("valid"/"same"), dilation_rate, use_bias and the initialisers are
 * set with ckeras_layer_set_*().
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_conv2d(int64_t filters, int64_t kh, int64_t kw, const char *activation);
/** Keras `Conv1D(filters, kernel_size, activation=...)` on (steps, channels) inputs.
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_conv1d(int64_t filters, int64_t kernel_size, const char *activation);
/** Keras `MaxPooling2D(pool_size=(ph, pw))`; strides default to the pool size.
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_max_pooling2d(int64_t ph, int64_t pw);
/** Keras `AveragePooling2D(pool_size=(ph, pw))` (padded cells never enter the average).
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_average_pooling2d(int64_t ph, int64_t pw);
/** Keras `MaxPooling1D(pool_size)`.
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_max_pooling1d(int64_t pool_size);
/** Keras `GlobalAveragePooling2D()`.
 * @return the new layer, or NULL only when an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_global_average_pooling2d(void);
/** Keras `GlobalMaxPooling2D()`.
 * @return the new layer, or NULL only when an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_global_max_pooling2d(void);
/**
 * Keras `DepthwiseConv2D(kernel_size=(kh, kw), depth_multiplier=..., activation=...)`, NHWC:
 * each input channel is convolved with its own depth_multiplier filters (kernel (kh, kw, in,
 * depth_multiplier), output channel c*depth_multiplier + m). strides, padding, dilation_rate,
 * use_bias, depthwise_initializer and the rest are set with ckeras_layer_set_*(). NULL on a
 * non-positive size or an unknown activation (see ckeras_last_error()).
 */
CKERAS_API ckeras_layer *ckeras_depthwise_conv2d(int64_t kh, int64_t kw, int64_t depth_multiplier,
                                                 const char *activation);
/**
 * Keras `SeparableConv2D(filters, kernel_size=(kh, kw), activation=...)`: a depthwise
 * convolution (depthwise_kernel (kh, kw, in, depth_multiplier), default multiplier 1) followed by
 * a 1x1 convolution to @p filters channels (pointwise_kernel (1, 1, in*depth_multiplier,
 * filters)) and the bias. Other keywords are set with ckeras_layer_set_*(). NULL on a
 * non-positive size or an unknown activation.
 */
CKERAS_API ckeras_layer *ckeras_separable_conv2d(int64_t filters, int64_t kh, int64_t kw, const char *activation);
/**
 * Keras `Conv2DTranspose(filters, kernel_size=(kh, kw), activation=...)`, the transposed
 * convolution (the adjoint of Conv2D, used to upsample): kernel (kh, kw, filters, in) in Keras'
 * layout, bias (filters). With strides s and kernel k an axis of length n becomes (n-1)*s +
 * max(k, s) with padding "valid" (the default), n*s with "same"; strides, padding,
 * output_padding, use_bias, the initializers and regularizers are set with
 * ckeras_layer_set_*(). dilation_rate other than 1 and data_format "channels_first" are refused
 * when the layer is built (CKERAS_EUNSUPPORTED). NULL on a non-positive size or an unknown
 * activation (see ckeras_last_error()).
 */
CKERAS_API ckeras_layer *ckeras_conv2d_transpose(int64_t filters, int64_t kh, int64_t kw, const char *activation);
/**
 * Keras `BatchNormalization()` on the last axis (momentum 0.99, epsilon 0.001): batch statistics
 * in training, moving statistics (non-trainable weights) in inference.
 * @return the new layer, or NULL only when an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_batch_normalization(void);
/** Keras `LayerNormalization()` on the last axis.
 * @return the new layer, or NULL only when an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_layer_normalization(void);
/** Keras `Reshape(target_shape)` (one axis may be -1).
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_reshape(int ndim, const int64_t *target_shape);
/** Keras `ZeroPadding2D(padding=(ph, pw))`.
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_zero_padding2d(int64_t ph, int64_t pw);
/** Keras `UpSampling2D(size=(sh, sw))` (nearest).
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_upsampling2d(int64_t sh, int64_t sw);
/** Keras `SpatialDropout2D(rate)`: drops whole channels in training.
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_spatial_dropout2d(double rate);
/** Keras `Rescaling(scale, offset)`: y = x * scale + offset.
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_rescaling(double scale, double offset);
/**
 * Keras `Resizing(height, width)` of (H, W, C) images, bilinear as TensorFlow's tf.image.resize
 * (half-pixel centres, no antialiasing). interpolation ("bilinear"/"nearest") and
 * crop_to_aspect_ratio are set with ckeras_layer_set_*(). NULL on a non-positive size.
 */
CKERAS_API ckeras_layer *ckeras_resizing(int64_t height, int64_t width);
/** Keras `CenterCrop(height, width)`: the centred window (smaller inputs are resized).
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_center_crop(int64_t height, int64_t width);
/**
 * Keras `RandomFlip(mode)`: @p mode "horizontal", "vertical" or "horizontal_and_vertical" (NULL:
 * the last). Like every random augmentation layer it is the identity in inference (predict,
 * evaluate) and random only in training (fit), drawing from the model's generator: each image
 * is flipped with probability 1/2 in each direction.
 */
CKERAS_API ckeras_layer *ckeras_random_flip(const char *mode);
/**
 * Keras `RandomRotation(factor)`: in training each image is rotated about its centre by an angle
 * drawn in [-factor, factor] * 2 pi (counter-clockwise positive), sampled bilinearly with
 * fill_mode "reflect" (fill_mode, interpolation, fill_value and an asymmetric range
 * "factor_lower" are set with ckeras_layer_set_*()). Identity in inference.
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_random_rotation(double factor);
/**
 * Keras `RandomZoom(height_factor, width_factor)`: in training each image is scaled about its
 * centre by 1 + a value drawn in [-factor, factor] per axis (positive: zoom out). A NAN
 * @p width_factor (Keras' None) uses the height's draw for both axes. Identity in inference.
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_random_zoom(double height_factor, double width_factor);
/**
 * Keras `RandomTranslation(height_factor, width_factor)`: in training each image is shifted by
 * [-factor, factor] times its height and width (fill_mode "reflect"). Identity in inference.
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_random_translation(double height_factor, double width_factor);
/**
 * Keras `RandomContrast(factor)`: in training each image's deviation from its per-channel mean
 * is scaled by a value drawn in [1 - factor, 1 + factor], then clipped to [0, 255]. Identity in
 * inference.
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_random_contrast(double factor);
/**
 * Keras `LSTM(units, return_sequences=...)` on inputs (batch, timesteps, features) with a fixed
 * number of timesteps: activation tanh, recurrent_activation sigmoid, unit_forget_bias; the
 * output is (batch, timesteps, units) with @p return_sequences, else (batch, units). Other
 * keywords (go_backwards, use_bias, initializers, ...) are set with ckeras_layer_set_*();
 * return_state and non-zero dropouts are not supported (::CKERAS_EUNSUPPORTED when the layer is
 * added). Called on [x, h0, c0] in a functional model, h0 and c0 (batch, units) are the initial
 * states. stateful is accepted but computed statelessly. NULL when @p units <= 0.
 */
CKERAS_API ckeras_layer *ckeras_lstm(int64_t units, int return_sequences);
/**
 * Keras `GRU(units, return_sequences=...)`: as ckeras_lstm(), gates z, r, h; reset_after
 * defaults to true (Keras 2/3: bias (2, 3*units)). A functional call on [x, h0] gives the
 * initial state.
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_gru(int64_t units, int return_sequences);
/** Keras `SimpleRNN(units, return_sequences=...)`: h = tanh(x W + h R + b).
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_simple_rnn(int64_t units, int return_sequences);
/**
 * Keras `Bidirectional(layer, merge_mode)`: runs @p layer (an LSTM, GRU or SimpleRNN handle, which
 * this call takes, also on failure) forwards and a copy of it backwards over the sequence and
 * merges the outputs: @p merge_mode "concat" (NULL: the default), "sum", "mul" or "ave". The
 * weights are the forward layer's, then the backward layer's. A wrapped layer with biases has
 * six weights; see the layer's build error if this build cannot hold them.
 */
CKERAS_API ckeras_layer *ckeras_bidirectional(ckeras_layer *layer, const char *merge_mode);
/**
 * Keras `Embedding(input_dim, output_dim)`: maps each index of its input (float-coded integers,
 * any per-sample shape) to a row of the (input_dim, output_dim) embeddings, initialised
 * uniformly in [-0.05, 0.05]. An index outside [0, input_dim) gives zeros. With mask_zero set
 * (ckeras_layer_set_bool()), index 0 is padding, as in Keras: its steps are masked, and the mask
 * goes through Dropout, Activation, Dense, TimeDistributed, LayerNormalization and recurrent
 * layers returning sequences to the recurrent layers (masked steps keep the state; a
 * Bidirectional returning sequences outputs zeros there) and GlobalAveragePooling1D (the mean of
 * the kept steps), which use it. The `Masking` layer (ckeras_layer_from_config()) makes the same
 * kind of mask from a float input. NULL when a size is <= 0.
 */
CKERAS_API ckeras_layer *ckeras_embedding(int64_t input_dim, int64_t output_dim);
/** Keras `Add()`: the element-wise sum of its inputs (functional models).
 * @return the new layer, or NULL only when an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_add(void);
/** Keras `Subtract()`: input 0 minus input 1.
 * @return the new layer, or NULL only when an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_subtract(void);
/** Keras `Multiply()`: the element-wise product of its inputs.
 * @return the new layer, or NULL only when an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_multiply(void);
/** Keras `Average()`: the element-wise mean of its inputs.
 * @return the new layer, or NULL only when an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_average(void);
/** Keras `Concatenate(axis)`: joins its inputs along @p axis (-1: the last; the batch axis is 0).
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_concatenate(int axis);
/**
 * A layer from its Keras class name and config JSON (`get_config()`), for example
 * `ckeras_layer_from_config("Dense", "{\"units\": 10, \"activation\": \"relu\"}")`.
 * Unknown keys that Keras has but ckeras ignores (dtype, trainable, ...) are accepted.
 * @return the new layer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_layer *ckeras_layer_from_config(const char *class_name, const char *config_json);
/** Frees a layer that was not given to a model. NULL is a no-op. */
CKERAS_API void ckeras_layer_free(ckeras_layer *layer);

/**
 * Sets a Keras keyword argument of the layer by its Keras name. An unknown name or a value of
 * the wrong type or out of the accepted set is ::CKERAS_EINVAL with a message listing what is
 * accepted; numbers are checked as the typed constructor checks them (units, filters, sizes and
 * strides > 0, rates in [0, 1), no NaN or infinity). Settings must be made before the layer is
 * built into a model (::CKERAS_ESTATE after).
 *
 * Regularizers and constraints are checked when set (a spec ckeras cannot read is
 * ::CKERAS_EINVAL listing the accepted forms; an OrthogonalRegularizer is ::CKERAS_EUNSUPPORTED),
 * and written to files as Keras' objects (`{"class_name": "L2", "config": {"l2": 0.01}}`):
 * - `*_regularizer` (kernel_regularizer, bias_regularizer, recurrent_regularizer, ...) and
 *   `activity_regularizer` (a penalty on the layer's output, summed over the batch and added to
 *   the loss, as Keras does): `"l1"`, `"l2"` (0.01), `"l1l2"` (0 each, Keras 3's
 *   `regularizers.get`), `"l1_l2"` (0.01 each, tf.keras 2's function), `"L1(l1=0.001)"`,
 *   `"L2(l2=0.001)"`, `"L1L2(l1=0.001,l2=0.002)"` (class or snake-case names);
 * - `*_constraint` (kernel_constraint, bias_constraint, recurrent_constraint,
 *   depthwise_constraint, pointwise_constraint, embeddings_constraint, gamma_constraint,
 *   beta_constraint, alpha_constraint), applied after each optimizer update as Keras does:
 *   `"max_norm"`, `"non_neg"`, `"unit_norm"`, `"min_max_norm"` (Keras' defaults),
 *   `"MaxNorm(max_value=2,axis=0)"`, `"NonNeg()"`, `"UnitNorm(axis=0)"`,
 *   `"MinMaxNorm(min_value=0,max_value=1,rate=1,axis=0)"`; axis is an int, a list
 *   (`"axis=[0,1,2]"`: each Conv2D filter) or None (all axes), in the weight's Keras layout; an
 *   axis outside the weight is refused when the layer is built;
 * - for both, Keras' object form as JSON text, with or without "module" and
 *   "registered_name": `{"class_name": "MaxNorm", "config": {"max_value": 3, "axis": [0, 1]}}`.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL layer or name, an unknown keyword, a value of the
 *   wrong type or out of range, a regularizer or constraint spec ckeras cannot read),
 *   ::CKERAS_EFORMAT (a value starting with '{' that is not JSON), ::CKERAS_EUNSUPPORTED (an
 *   OrthogonalRegularizer), ::CKERAS_ESTATE (the layer is already in a model), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_layer_set_str(ckeras_layer *layer, const char *name, const char *value);
/** @copydoc ckeras_layer_set_str
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL layer or name, an unknown keyword, a value of the
 *   wrong type or out of range), ::CKERAS_ESTATE (the layer is already in a model), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_layer_set_int(ckeras_layer *layer, const char *name, int64_t value);
/** @copydoc ckeras_layer_set_str
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL layer or name, an unknown keyword, a value of the
 *   wrong type or out of range), ::CKERAS_ESTATE (the layer is already in a model), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_layer_set_float(ckeras_layer *layer, const char *name, double value);
/** @copydoc ckeras_layer_set_str
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL layer or name, an unknown keyword, a value of the
 *   wrong type or out of range), ::CKERAS_ESTATE (the layer is already in a model), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_layer_set_bool(ckeras_layer *layer, const char *name, int value);
/** @copydoc ckeras_layer_set_str (a tuple such as strides or kernel_size)
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL layer or name, an unknown keyword, a value of the
 *   wrong type or out of range), ::CKERAS_ESTATE (the layer is already in a model), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_layer_set_ints(ckeras_layer *layer, const char *name, int n, const int64_t *values);
/** Sets the layer's name (Keras `name=`); names in one model must be unique.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL layer, a name empty, NULL or too long),
 *   ::CKERAS_ESTATE (the layer is already in a model)
 */
CKERAS_API ckeras_status ckeras_layer_set_name(ckeras_layer *layer, const char *name);
/** The layer's name (assigned Keras-style, "dense_1", when the layer joins a model). */
CKERAS_API const char *ckeras_layer_name(const ckeras_layer *layer);
/** The Keras class name ("Dense"). */
CKERAS_API const char *ckeras_layer_class(const ckeras_layer *layer);
/**
 * Keras' `layer.trainable = flag` (0 or 1, else ::CKERAS_EINVAL). A frozen layer's weights get no
 * update and count as non-trainable; as in Keras, the change takes effect at the next
 * ckeras_model_compile(). ::CKERAS_ESTATE while the layer's model is in use (a callback of its fit).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL layer, @p trainable not 0 or 1), ::CKERAS_ESTATE (the
 *   layer's model is in use)
 */
CKERAS_API ckeras_status ckeras_layer_set_trainable(ckeras_layer *layer, int trainable);
/** 1 if trainable, 0 if frozen, -1 if @p layer is NULL. */
CKERAS_API int ckeras_layer_trainable(const ckeras_layer *layer);
/** Number of weight arrays of a built layer (Dense: 2 with bias). */
CKERAS_API int ckeras_layer_weight_count(const ckeras_layer *layer);
/**
 * Weight @p i of a built layer: its Keras name ("kernel"), and a tensor that borrows the
 * layer's storage (writes change the model; free the handle with ckeras_tensor_free()).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL layer, no weight @p i: out of range or not built),
 *   ::CKERAS_ENOMEM (the view)
 */
CKERAS_API ckeras_status ckeras_layer_weight(ckeras_layer *layer, int i, const char **name, ckeras_tensor **view);
/**@}*/

/** @name Optimizers
 * Thread-safety: an optimizer is used by one thread at a time; a model's optimizer as its model,
 *   never beside that model's fit.
 */
/**@{*/
/** Opaque optimizer with its state (iterations and per-weight slots). */
typedef struct ckeras_optimizer ckeras_optimizer;

/** Keras `SGD(learning_rate, momentum, nesterov)` (Keras defaults 0.01, 0, false).
 * @return the new optimizer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_optimizer *ckeras_sgd(double learning_rate, double momentum, int nesterov);
/** Keras `Adam(learning_rate)`; beta_1 0.9, beta_2 0.999, epsilon 1e-7, amsgrad false.
 * @return the new optimizer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_optimizer *ckeras_adam(double learning_rate);
/** Keras `AdamW(learning_rate, weight_decay)` (defaults 0.001, 0.004).
 * @return the new optimizer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_optimizer *ckeras_adamw(double learning_rate, double weight_decay);
/** Keras `RMSprop(learning_rate)`; rho 0.9, momentum 0, epsilon 1e-7, centered false.
 * @return the new optimizer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_optimizer *ckeras_rmsprop(double learning_rate);
/** Keras `Adagrad(learning_rate)`; initial_accumulator_value 0.1, epsilon 1e-7.
 * @return the new optimizer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_optimizer *ckeras_adagrad(double learning_rate);
/**
 * An optimizer by Keras name with its defaults ("adam", "sgd", "rmsprop", "adagrad", "adamw").
 * @return the new optimizer, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_optimizer *ckeras_optimizer_from_name(const char *name);
/**
 * Sets a Keras keyword by name: learning_rate, beta_1, beta_2, epsilon, amsgrad, momentum,
 * nesterov, rho, centered, weight_decay, initial_accumulator_value, clipnorm, clipvalue,
 * global_clipnorm. Booleans are given as 0/1.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL optimizer or name, a keyword the optimizer does not
 *   have, a value out of range, NaN or infinite), ::CKERAS_ESTATE ("learning_rate" while a schedule
 *   is set)
 */
CKERAS_API ckeras_status ckeras_optimizer_set_float(ckeras_optimizer *opt, const char *name, double value);
/** The optimizer's step count (Keras `optimizer.iterations`), or -1 for NULL. */
CKERAS_API int64_t ckeras_optimizer_iterations(const ckeras_optimizer *opt);
/**
 * Gives the optimizer a learning-rate schedule, as Keras'
 * `SGD(learning_rate=keras.optimizers.schedules.ExponentialDecay(...))`: @p class_name is one of
 * "ExponentialDecay", "InverseTimeDecay", "PiecewiseConstantDecay", "PolynomialDecay",
 * "CosineDecay", "CosineDecayRestarts", and @p config_json its keywords as a JSON object with
 * Keras' names and defaults, e.g. `{"initial_learning_rate": 0.1, "decay_steps": 1000,
 * "decay_rate": 0.96, "staircase": true}` (PiecewiseConstantDecay: `{"boundaries": [100, 200],
 * "values": [0.1, 0.01, 0.001]}`). Each update uses the schedule's value at the optimizer's step
 * count before the update, as Keras does; the schedule is saved in the optimizer's config of
 * `.h5` and `.keras` files and restored by ckeras_load_model(). While a schedule is set,
 * ckeras_optimizer_set_float() of "learning_rate" is ::CKERAS_ESTATE (Keras: "not settable").
 * @p class_name NULL removes the schedule (the optimizer's own learning_rate applies again).
 * Errors: ::CKERAS_EINVAL (NULL optimizer or config, an unknown or missing keyword, a value out
 * of range), ::CKERAS_EFORMAT (not JSON), ::CKERAS_EUNSUPPORTED (another class); on error the
 * optimizer is unchanged.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL optimizer or config, an unknown or missing keyword, a
 *   value out of range), ::CKERAS_EFORMAT (@p config_json is not JSON), ::CKERAS_EUNSUPPORTED
 *   (another schedule class), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_optimizer_set_schedule(ckeras_optimizer *opt, const char *class_name,
                                                       const char *config_json);
/** The learning rate the next update uses (Keras `optimizer.learning_rate`): the schedule's value
 *  at the current step count, or the set learning_rate; NaN for NULL. */
CKERAS_API double ckeras_optimizer_learning_rate(const ckeras_optimizer *opt);
/** Frees an optimizer not given to a model. NULL is a no-op. */
CKERAS_API void ckeras_optimizer_free(ckeras_optimizer *opt);
/**@}*/

/** @name Callbacks and logs
 * Thread-safety: a callback serves one fit at a time; user callbacks run in the thread that called
 *   fit; logs are valid only during the callback's call.
 */
/**@{*/
/** Opaque callback (EarlyStopping, TerminateOnNaN, ModelCheckpoint, ReduceLROnPlateau,
 *  LearningRateScheduler, CSVLogger, or a user function). */
typedef struct ckeras_callback ckeras_callback;
/** Opaque read-only view of the logs dict handed to callbacks ("loss", "val_loss", ...). */
typedef struct ckeras_logs ckeras_logs;

/** When a user callback is called. */
typedef enum ckeras_event {
    CKERAS_TRAIN_BEGIN = 0,
    CKERAS_TRAIN_END = 1,
    CKERAS_EPOCH_BEGIN = 2,
    CKERAS_EPOCH_END = 3,
    CKERAS_BATCH_BEGIN = 4,
    CKERAS_BATCH_END = 5
} ckeras_event;

/**
 * A user callback: @p index is the epoch (epoch events) or the batch within the epoch (batch
 * events), 0-based; @p logs may be read during the call only. Return ::CKERAS_OK to go on,
 * ::CKERAS_STOP to end training cleanly after this epoch (Keras' `model.stop_training = True`),
 * any other status to abort `fit` with that status.
 */
typedef ckeras_status (*ckeras_callback_fn)(ckeras_event event, int index, const ckeras_logs *logs,
                                            void *user_data);

/** A callback that calls @p fn with @p user_data (borrowed) at every event.
 * @return the new callback, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_callback *ckeras_lambda_callback(ckeras_callback_fn fn, void *user_data);
/**
 * Keras `EarlyStopping(monitor=..., patience=...)`, monitor NULL meaning "val_loss". Other
 * keywords (min_delta, mode "auto"/"min"/"max", baseline, restore_best_weights,
 * start_from_epoch, verbose) are set with ckeras_callback_set_*().
 */
CKERAS_API ckeras_callback *ckeras_early_stopping(const char *monitor, int patience);
/**
 * Keras `TerminateOnNaN()`: stops when the loss of a batch is NaN or infinite. A batch whose
 * loss is not finite never updates the weights (in ckeras, with or without this callback), so
 * the model keeps the last finite weights.
 * @return the new callback, or NULL only when an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_callback *ckeras_terminate_on_nan(void);
/**
 * Keras `ModelCheckpoint(filepath, monitor, save_best_only)`: saves the model (.h5, atomically)
 * at the end of epochs. @p filepath may hold Keras' fields, "model_{epoch:02d}_{val_loss:.2f}.h5";
 * @p monitor NULL means "val_loss". Other keywords (save_weights_only, mode, verbose,
 * initial_value_threshold) are set with ckeras_callback_set_*(). A failed save stops fit with
 * its error; the previous file at that path is left intact. Paths are treated as by
 * ckeras_model_save() (a destination that is not a regular file is refused, a link followed).
 */
CKERAS_API ckeras_callback *ckeras_model_checkpoint(const char *filepath, const char *monitor, int save_best_only);
/**
 * Keras `ReduceLROnPlateau(monitor, factor, patience)`: @p monitor NULL means "val_loss";
 * @p factor in [0, 1). Other keywords (verbose, mode "auto"/"min"/"max", min_delta 1e-4,
 * cooldown, min_lr) are set with ckeras_callback_set_*(). At every epoch end it adds
 * "learning_rate" to the logs (so History and the progress bar show it, as in Keras). Like
 * Keras, it keeps its best value from one fit to the next. A model whose optimizer has a
 * learning-rate schedule cannot have its rate reduced: fit stops with ::CKERAS_ESTATE.
 */
CKERAS_API ckeras_callback *ckeras_reduce_lr_on_plateau(const char *monitor, double factor, int patience);
/** A learning-rate schedule for ckeras_learning_rate_scheduler(): the rate for @p epoch
 *  (0-based) given the current @p lr. */
typedef double (*ckeras_lr_schedule_fn)(int epoch, double lr, void *user_data);
/**
 * Keras `LearningRateScheduler(schedule)`: at each epoch begin the optimizer's learning rate
 * becomes @p schedule(epoch, lr, @p user_data) (a finite number >= 0, else fit stops with
 * ::CKERAS_EINVAL); "learning_rate" is added to the epoch's logs. "verbose" is set with
 * ckeras_callback_set_float().
 * @return the new callback, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_callback *ckeras_learning_rate_scheduler(ckeras_lr_schedule_fn schedule, void *user_data);
/**
 * Keras `CSVLogger(filename, separator=",", append=False)`: one row per epoch, as Keras writes it
 * (columns "epoch" then the logs keys sorted, "val_" columns added when the first epoch has none,
 * "NA" for a missing value, values as Python prints floats, CRLF line ends). @p separator is one
 * character (NULL: ","); @p append keeps the file's rows (its header too, if it has one). The
 * file is opened at train begin (a path that is not a regular file is refused, stopping fit with
 * ::CKERAS_EIO) and closed at train end; a failed write stops fit with ::CKERAS_EIO.
 */
CKERAS_API ckeras_callback *ckeras_csv_logger(const char *filename, const char *separator, int append);
/**
 * Keras `BackupAndRestore(backup_dir)`: after every epoch the weights and optimizer state go to
 * `backup_dir/latest.weights.h5` (Keras 3's layout) and the count of finished epochs to
 * `backup_dir/training_metadata.json`, each written atomically. A fit that starts with such a
 * backup (after a crash or a kill) loads it and resumes at the next epoch; ckeras also keeps its
 * random generator's state there, so the resumed fit ends with the weights an uninterrupted one
 * would have, bit for bit (same model, data, seed and thread count). A fit that finishes removes
 * the backup (keyword delete_checkpoint 0 keeps it; the folder is removed only when empty);
 * double_checkpoint 1 keeps the previous backup too and falls back to it when the latest cannot
 * be read. Keywords through ckeras_callback_set_*(); save_freq is "epoch" only.
 * @return the new callback, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_callback *ckeras_backup_and_restore(const char *backup_dir);
/**
 * Sets a numeric keyword of a built-in callback by its Keras name (booleans as 0/1). Checked as
 * the constructor checks it: patience and start_from_epoch >= 0 and whole, no infinity; NaN sets
 * an optional value (baseline, initial_value_threshold) to None. Errors: ::CKERAS_EINVAL.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL callback or name, a keyword the callback does not
 *   have, a value out of range, infinite, or NaN where None is not allowed; a user callback)
 */
CKERAS_API ckeras_status ckeras_callback_set_float(ckeras_callback *cb, const char *name, double value);
/** Sets a text keyword of a built-in callback by its Keras name ("mode", "monitor").
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL callback, name or value, a keyword the callback does
 *   not have, a value not in the accepted set)
 */
CKERAS_API ckeras_status ckeras_callback_set_str(ckeras_callback *cb, const char *name, const char *value);
/**
 * EarlyStopping's `stopped_epoch` (0-based epoch at which it stopped training, 0 if it did
 * not) and `best_epoch`; -1 for other callbacks.
 */
CKERAS_API int ckeras_early_stopping_stopped_epoch(const ckeras_callback *cb);
/** @copydoc ckeras_early_stopping_stopped_epoch */
CKERAS_API int ckeras_early_stopping_best_epoch(const ckeras_callback *cb);
/** Frees a callback. NULL is a no-op. Callbacks are borrowed by fit, never taken; one that a
 *  running fit is calling is not freed (the call sets ::CKERAS_ESTATE's message and returns). */
CKERAS_API void ckeras_callback_free(ckeras_callback *cb);

/** Number of entries in @p logs. */
CKERAS_API int ckeras_logs_count(const ckeras_logs *logs);
/** Name of entry @p i, or NULL when out of range. */
CKERAS_API const char *ckeras_logs_name(const ckeras_logs *logs, int i);
/** Value of entry @p i (NaN when out of range). */
CKERAS_API double ckeras_logs_value(const ckeras_logs *logs, int i);
/** Looks a value up by name: ::CKERAS_OK and *value, or ::CKERAS_EINVAL if absent.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL logs, name or value, no entry named @p name)
 */
CKERAS_API ckeras_status ckeras_logs_value_by_name(const ckeras_logs *logs, const char *name, double *value);
/**@}*/

/** @name Models
 * Thread-safety: distinct models from distinct threads at once; the calls that run or change one
 *   model are serialised by its busy mark (::CKERAS_ESTATE for the second caller), the calls that
 *   only read it may run beside each other (see "A model in use" above).
 */
/**@{*/
/** Opaque model: a graph of layers, its weights, optimizer, loss and metrics. */
typedef struct ckeras_model ckeras_model;
/** Opaque History: the per-epoch logs of one fit. */
typedef struct ckeras_history ckeras_history;
/** Opaque keyword arguments of ckeras_model_fit(). */
typedef struct ckeras_fit_args ckeras_fit_args;

/** Keras `Sequential(name=...)`; @p name may be NULL ("sequential"). */
CKERAS_API ckeras_model *ckeras_sequential(const char *name);
/**
 * `model.add(layer)`. Takes @p layer (also on failure). The first layer must be an Input,
 * or have its input shape set (`ckeras_layer_set_ints(l, "input_shape", ...)`). Shapes are
 * inferred at once; an incompatible layer is ::CKERAS_ESHAPE and the model is unchanged.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or layer, a layer already in a model, a
 *   functional model, a bad config), ::CKERAS_ESHAPE (the layer does not fit the previous output, a
 *   size past the limits), ::CKERAS_EUNSUPPORTED (a Keras setting ckeras does not implement),
 *   ::CKERAS_ESTATE (the model is in use), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_add(ckeras_model *model, ckeras_layer *layer);
/**
 * An empty functional model (Keras `Model(inputs, outputs)` built step by step):
 *
 * @code
 * ckeras_model *m = ckeras_functional("resnet_block");
 * int x, h, s, y;
 * ckeras_model_input(m, ckeras_input(1, (const int64_t[]){16}), &x);
 * ckeras_model_call(m, ckeras_dense(16, "relu"), 1, &x, &h);
 * ckeras_model_call(m, ckeras_add(), 2, (const int[]){x, h}, &s);
 * ckeras_model_call(m, ckeras_dense(1, "sigmoid"), 1, &s, &y);
 * ckeras_model_set_outputs(m, 1, &y);
 * @endcode
 * (a failed call sets its id to -1, which the next call refuses with ::CKERAS_EINVAL, so the
 * status of the last call is enough to check a chain like this one.)
 * @return the new model, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_model *ckeras_functional(const char *name);
/**
 * Adds a model input (Keras `Input(shape)`), taking @p input (made by ckeras_input(); also on
 * failure). Its tensor id (>= 0) goes to *id (-1 on failure).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model, input or id, a layer that is not an Input,
 *   belongs to a model or has a name the model has), ::CKERAS_ESTATE (not a functional model, or
 *   the model is in use), ::CKERAS_EUNSUPPORTED (more inputs than ckeras allows), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_input(ckeras_model *model, ckeras_layer *input, int *id);
/**
 * Calls @p layer (taken, also on failure) on the tensors @p inputs (ids from ckeras_model_input()
 * or an earlier call): Keras `y = layer(x)`, or `layer([a, b])` for merge layers. Shapes are
 * inferred at once. The output's tensor id (>= 0) goes to *id (-1 on failure).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model, layer or id, an unknown tensor id, the wrong
 *   input count, a layer of another model), ::CKERAS_ESHAPE (the inputs' shapes do not fit the
 *   layer), ::CKERAS_EUNSUPPORTED (a Keras setting ckeras does not implement), ::CKERAS_ESTATE (not
 *   a functional model, or the model is in use), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_call(ckeras_model *model, ckeras_layer *layer, int n_inputs, const int *inputs,
                                           int *id);
/**
 * Declares the model's output tensors (Keras `Model(inputs, [out_a, out_b])`): 1..32 distinct
 * layer outputs, in order. Outputs are named after their layers (the keys of per-output losses,
 * metrics and logs: "cls_loss", "val_reg_mae").
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or outputs, a count out of 1..32, an unknown or
 *   repeated id), ::CKERAS_ESTATE (not a functional model, or the model is in use),
 *   ::CKERAS_ESHAPE, ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_set_outputs(ckeras_model *model, int n_outputs, const int *outputs);
/** Number of model inputs (1 for a Sequential model with an input shape). */
CKERAS_API int ckeras_model_input_count(const ckeras_model *model);
/**
 * Calls the model @p inner as a layer on tensors of @p model (Keras `y = base(x, training=False)`):
 * every layer of @p inner joins @p model sharing its weights (training either model trains the
 * one set), and @p inner is referenced, not taken: free both handles in any order.
 * @p training is -1 (not given: the layers behave as usual) or 0 (Keras `training=False`: its
 * Dropout is off and its BatchNormalization uses and keeps its moving statistics, also in fit,
 * which is what fine-tuning a frozen base needs), even for its layers made trainable again
 * (their weights train, the statistics stay). That is the semantics Keras' transfer-learning
 * guide and tf.keras 2 give training=False; Keras 3.11.3's fit passes training=True to every
 * layer of a functional graph over it (keras-team/keras#20285), so a BatchNormalization made
 * trainable inside such a base updates its statistics there. summary() shows the call as one row
 * "name (Functional)" with the nested model's parameter counts, and saving writes it as a nested
 * model layer, as Keras does. *id receives the tensor id of @p inner's first output (the others,
 * for a model with several outputs, are the ids that follow), or -1 on failure (the model
 * unchanged). Each nested model can be called once per model.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model, inner or id, the model itself, the wrong input
 *   count, an unknown id, @p training not -1 or 0, a model already called), ::CKERAS_ESHAPE (the
 *   inputs do not fit @p inner's), ::CKERAS_EUNSUPPORTED, ::CKERAS_ESTATE (either model in use, @p
 *   inner without layers or outputs), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_call_model(ckeras_model *model, ckeras_model *inner, int n_inputs,
                                                 const int *inputs, int training, int *id);
/** The tensor id of input @p i of @p model (Keras `model.inputs[i]`), made for Sequential models
 *  too, in *id (-1 on failure).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or id, no input @p i)
 */
CKERAS_API ckeras_status ckeras_model_input_tensor(ckeras_model *model, int i, int *id);
/** The tensor id of the output of the layer named @p name (Keras
 *  `model.get_layer(name).output`; an InputLayer's name gives that input), in *id (-1 on
 *  failure).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model, name or id, no layer of that name)
 */
CKERAS_API ckeras_status ckeras_model_layer_output_by_name(ckeras_model *model, const char *name, int *id);
/** The tensor id of the output of layer @p index (Input not counted; negative counts from the
 *  end: -1 is the last, Keras `model.layers[-1].output`), in *id (-1 on failure).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or id, @p index out of range)
 */
CKERAS_API ckeras_status ckeras_model_layer_output_at(ckeras_model *model, int index, int *id);
/**
 * Keras `Model(model.inputs, model.get_layer("block_13_expand").output)`: a new functional model
 * (free with ckeras_model_free()) from tensor ids of @p model (from ckeras_model_input_tensor(),
 * ckeras_model_layer_output_by_name()...): its inputs must be inputs of @p model, and it holds the layers
 * the outputs depend on, sharing their weights with @p model. Works on Sequential and functional
 * models alike (a transfer-learning base without its head). NULL with the error set.
 */
CKERAS_API ckeras_model *ckeras_model_from_tensors(ckeras_model *model, int n_inputs, const int *inputs,
                                                   int n_outputs, const int *outputs, const char *name);
/** Keras `model.trainable = flag`: sets every layer's trainable flag (shared layers change in every
 *  model that has them) and, when 0, saves the model as `"trainable": false` when nested. Takes
 *  effect at the next compile.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model, @p trainable not 0 or 1), ::CKERAS_ESTATE (the
 *   model is in use)
 */
CKERAS_API ckeras_status ckeras_model_set_trainable(ckeras_model *model, int trainable);
/** Number of model outputs (0 before a functional model's outputs are set). */
CKERAS_API int ckeras_model_output_count(const ckeras_model *model);
/** The name of output @p i (its layer's name), owned by the model; NULL when out of range. */
CKERAS_API const char *ckeras_model_output_name(const ckeras_model *model, int i);
/**
 * Keras `Sequential.pop()`: removes and frees the last layer, keeping every other weight (for
 * transfer learning: load a model, pop its head, freeze the rest, add a new head, compile).
 * The model must be compiled again before training.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model), ::CKERAS_ESTATE (no layer to pop, a functional
 *   model, or the model is in use), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_pop(ckeras_model *model);
/** Frees the model, its layers, optimizer and buffers. NULL is a no-op. A model in use (by
 *  another thread, or by the fit whose callback makes this call) is not freed: the call sets
 *  ::CKERAS_ESTATE's message and returns. */
CKERAS_API void ckeras_model_free(ckeras_model *model);
/** Number of layers (not counting the Input). */
CKERAS_API int ckeras_model_layer_count(const ckeras_model *model);
/** Layer @p i (0-based, Input not counted), owned by the model; NULL when out of range. */
CKERAS_API ckeras_layer *ckeras_model_layer(ckeras_model *model, int i);
/** The layer named @p name, or NULL. */
CKERAS_API ckeras_layer *ckeras_model_layer_by_name(ckeras_model *model, const char *name);
/** The model's name. */
CKERAS_API const char *ckeras_model_name(const ckeras_model *model);
/**
 * The compiled model's optimizer (Keras `model.optimizer`), owned by the model: read its step
 * count and learning rate, change its settings or schedule (a loaded model's too). NULL with
 * ::CKERAS_ESTATE before compile (and ckeras_load_model() of a file without a training config).
 */
CKERAS_API ckeras_optimizer *ckeras_model_optimizer(ckeras_model *model);
/**
 * Counts of weights: total, trainable and non-trainable scalars (as summary() shows them).
 * Any pointer may be NULL.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model)
 */
CKERAS_API ckeras_status ckeras_model_count_params(const ckeras_model *model, int64_t *total,
                                                   int64_t *trainable, int64_t *non_trainable);

/**
 * `model.compile(optimizer, loss, metrics)`. Takes @p optimizer (also on failure; NULL means
 * "adam" with defaults). @p loss is a Keras name ("binary_crossentropy", "mse", ...);
 * @p metrics is NULL or a comma-separated list of Keras names ("accuracy,precision"; also "auc",
 * "f1_score", "top_k_categorical_accuracy", ...: see ckeras_model_add_metric()).
 * Recompiling keeps the weights and lays out trainable/non-trainable weights anew.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model, an unknown loss or metric, a loss that does not
 *   fit the output), ::CKERAS_ESTATE (no layers or outputs yet, or the model is in use),
 *   ::CKERAS_ESHAPE, ::CKERAS_EUNSUPPORTED, ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_compile(ckeras_model *model, ckeras_optimizer *optimizer,
                                              const char *loss, const char *metrics);
/**
 * `model.compile(optimizer, loss={...}, loss_weights={...}, metrics={...})` for models with
 * several outputs. Takes @p optimizer (also on failure; NULL: "adam"). Entry k (of @p n) is for
 * the output whose layer is named @p output_names[k], or, with @p output_names NULL, for output
 * k (then @p n must be the output count). @p losses[k] is a Keras loss name, or NULL for no loss
 * on that output (Keras' None: it is not trained and needs no target); @p loss_weights is NULL
 * (all 1) or one finite weight >= 0 per entry; @p metrics is NULL or one comma-separated list
 * (or NULL) per entry. Outputs without an entry get no loss; at least one output needs one.
 * The loss fit reports is the weighted sum of the outputs' losses plus the regularization
 * penalties; evaluate and the logs also give each output's own (unweighted) loss.
 * ckeras_model_compile() on such a model uses its one loss and metrics list for every output.
 * Errors: ::CKERAS_EINVAL for an unknown output name, loss or metric, a repeated output, a
 * negative weight, or no loss at all; ::CKERAS_ESTATE when the model has no outputs yet.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model, @p n or a name out of range, an unknown output
 *   name, loss or metric, a repeated output, a negative weight, no loss at all), ::CKERAS_ESTATE
 *   (no outputs yet, or the model is in use), ::CKERAS_ESHAPE, ::CKERAS_EUNSUPPORTED,
 *   ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_compile_outputs(ckeras_model *model, ckeras_optimizer *optimizer, int n,
                                                      const char *const *output_names, const char *const *losses,
                                                      const double *loss_weights, const char *const *metrics);
/** Sets `from_logits` (0 or 1) or `delta` (huber, finite and > 0) of the compiled loss (of every
 *  output). Errors: ::CKERAS_EINVAL (unknown name, bad value), ::CKERAS_ESTATE (not compiled, or the
 *  model is in use).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or name, an unknown name, a bad value),
 *   ::CKERAS_ESTATE (not compiled, or the model is in use)
 */
CKERAS_API ckeras_status ckeras_model_set_loss_float(ckeras_model *model, const char *name, double value);
/**
 * `model.compile(..., metrics=[keras.metrics.MeanIoU(num_classes=3, name="miou")])`, one metric
 * at a time after compile: adds a metric to the compiled @p model, after the metrics compile
 * gave its output. @p spec is a Keras name as in compile's list ("auc", "f1_score",
 * "top_k_categorical_accuracy", ...) or a Keras serialised metric, the JSON object Keras writes
 * in a saved model's compile config, for the metrics with parameters:
 *   - `AUC`: num_thresholds (2..1000000, default 200), curve ("ROC", "PR"), summation_method
 *     ("interpolation", "minoring", "majoring"), from_logits; Keras' thresholds are evenly
 *     spaced with -1e-7 and 1 + 1e-7 at the ends; PR with "interpolation" is Keras' Davis &
 *     Goadrich interpolation. Keras' `thresholds`, `multi_label` true and `label_weights` are
 *     ::CKERAS_EUNSUPPORTED.
 *   - `F1Score`, `FBetaScore` (beta): average (null, "micro", "macro", "weighted"), threshold
 *     (null: the largest value of each row is the positive one). With average null Keras
 *     reports one score per class; ckeras' logs hold one number per name, their mean (the
 *     number Keras' progress bar prints for it).
 *   - `TopKCategoricalAccuracy`, `SparseTopKCategoricalAccuracy` (from_sorted_ids): k (default
 *     5); a tie with the k-th score counts as in the top k, as Keras does; with k at least the
 *     number of classes every sample counts as in (Keras on the torch backend fails there).
 *   - `MeanIoU`: num_classes (required, 1..4096), ignore_class, sparse_y_true, sparse_y_pred
 *     (Keras' defaults: true); labels outside [0, num_classes) are not counted.
 * Every metric's config key "name" is its name in logs and History ("<output>_<name>" with
 * several outputs). @p output_name is the output's layer name, or NULL: every output with a
 * loss. The metric is saved in the model's compile config as Keras writes it and loaded back.
 * Its state (thresholds' counts, confusion matrix) is allocated before the next fit/evaluate's
 * first batch, never during a step.
 * Errors: ::CKERAS_EFORMAT (@p spec starts with '{' but is not JSON), ::CKERAS_EINVAL (unknown
 * class, key or name, a bad value, no such output, more than 16 metrics), ::CKERAS_EUNSUPPORTED (a Keras key ckeras does not implement),
 * ::CKERAS_ESTATE (not compiled, or the model is in use). On failure the model is unchanged.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or spec, unknown class, key or name, a bad
 *   value, no such output, more than 16 metrics), ::CKERAS_EFORMAT (@p spec starts with '{' but is
 *   not JSON), ::CKERAS_EUNSUPPORTED (a Keras key ckeras does not implement), ::CKERAS_ESTATE (not
 *   compiled, or the model is in use), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_add_metric(ckeras_model *model, const char *output_name, const char *spec);

/** New fit keywords with Keras' defaults (epochs 1, batch_size 32, verbose 1, shuffle 1).
 * @return the new fit keywords, or NULL only when an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_fit_args *ckeras_fit_args_new(void);
/**
 * Sets epochs, batch_size, verbose (0, 1, 2), shuffle (0/1), initial_epoch, or:
 * - validation_freq (>= 1, default 1): validate after every N-th epoch only (epochs N, 2N, ...
 *   counted from 1, as Keras); the other epochs' logs have no "val_" keys.
 * - steps_per_epoch (0: not set, one pass over the data): each epoch takes the next N batches
 *   of the current pass over the training samples, as Keras 3 does with arrays: a pass that
 *   runs out ends the epoch early (N larger than the batches left), and the next epoch starts a
 *   new pass (reshuffled when shuffle is on). So with 10 batches and N 4, the epochs train on
 *   batches 0-3, 4-7, 8-9, 0-3 of a new order, ...
 * - validation_batch_size (0: batch_size) and validation_steps (0: the whole validation set;
 *   else its first N batches at each validation, as Keras restarts its iterator).
 * Errors: ::CKERAS_EINVAL for an unknown name or a value out of range.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL args or name, an unknown name, a value out of range)
 */
CKERAS_API ckeras_status ckeras_fit_args_set_int(ckeras_fit_args *args, const char *name, int64_t value);
/** Sets validation_split (0 <= v < 1).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL args or name, an unknown name, a value out of range or
 *   NaN)
 */
CKERAS_API ckeras_status ckeras_fit_args_set_float(ckeras_fit_args *args, const char *name, double value);
/** Sets validation_data (both borrowed: keep them alive until fit returns); clears the
 *  validation sample weights (ckeras_fit_args_set_validation_sample_weight()).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL args, x or y)
 */
CKERAS_API ckeras_status ckeras_fit_args_set_validation_data(ckeras_fit_args *args, const ckeras_tensor *x,
                                                             const ckeras_tensor *y);
/**
 * Sets validation_data of a model with several inputs or outputs: one tensor per input and one
 * target per output (NULL for an output without a loss), all borrowed until fit returns.
 * 0 and 0 clears it. Either way its sample weights are cleared.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL args, a count out of range, a NULL array or input
 *   tensor)
 */
CKERAS_API ckeras_status ckeras_fit_args_set_validation_data_multi(ckeras_fit_args *args, int n_inputs,
                                                                   const ckeras_tensor *const *x, int n_targets,
                                                                   const ckeras_tensor *const *y);
/** Adds a callback (borrowed: it stays the caller's, to query and free).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL args or callback, more callbacks than the limit)
 */
CKERAS_API ckeras_status ckeras_fit_args_add_callback(ckeras_fit_args *args, ckeras_callback *cb);
/** Frees fit keywords. NULL is a no-op. A running fit keeps its own copy of them, so a callback
 *  may free or change them (changes apply to the next fit). */
CKERAS_API void ckeras_fit_args_free(ckeras_fit_args *args);

/**
 * `model.fit(x, y, **args)`. @p args may be NULL (Keras defaults). On success *history (if
 * @p history is not NULL) receives a new History, freed with ckeras_history_free(). If fit fails
 * in epoch k, the weights of the last completed epoch are kept and the error says why.
 * NaN/Inf in @p x or @p y is ::CKERAS_ENAN naming the first bad sample.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or data, counts that do not match the model, a
 *   bad fit keyword, a sparse label that is not a class index, bad sample or class weights),
 *   ::CKERAS_ESHAPE (data that does not fit the model's inputs or outputs, sample counts that
 *   differ), ::CKERAS_ENAN (NaN or infinity in the data), ::CKERAS_ESTATE (not compiled, or the
 *   model is in use), ::CKERAS_EUNSUPPORTED, ::CKERAS_EIO (a callback's file, a failed collective
 *   in distributed training), ::CKERAS_ENOMEM, or any status a callback returns (::CKERAS_STOP
 *   excepted: that ends fit with ::CKERAS_OK)
 */
CKERAS_API ckeras_status ckeras_model_fit(ckeras_model *model, const ckeras_tensor *x, const ckeras_tensor *y,
                                          const ckeras_fit_args *args, ckeras_history **history);
/**
 * `model.fit([x1, x2], [y1, y2], **args)`: fit for models with several inputs or outputs. @p x
 * holds @p n_inputs tensors (one per model input, in order, all with the same number of
 * samples), @p y holds @p n_targets (one per model output; NULL for an output compiled without
 * a loss). validation_split takes the same last samples of every input and target. History
 * keys are Keras 3's: "loss", "<output>_loss", "<output>_<metric>" and their "val_" forms.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or data, counts that do not match the model, a
 *   bad fit keyword, a sparse label that is not a class index, bad sample or class weights),
 *   ::CKERAS_ESHAPE (data that does not fit the model's inputs or outputs, sample counts that
 *   differ), ::CKERAS_ENAN (NaN or infinity in the data), ::CKERAS_ESTATE (not compiled, or the
 *   model is in use), ::CKERAS_EUNSUPPORTED, ::CKERAS_EIO (a callback's file, a failed collective
 *   in distributed training), ::CKERAS_ENOMEM, or any status a callback returns (::CKERAS_STOP
 *   excepted: that ends fit with ::CKERAS_OK)
 */
CKERAS_API ckeras_status ckeras_model_fit_multi(ckeras_model *model, int n_inputs, const ckeras_tensor *const *x,
                                                int n_targets, const ckeras_tensor *const *y,
                                                const ckeras_fit_args *args, ckeras_history **history);
/**
 * `model.evaluate(x, y, batch_size)`: writes the loss and then each metric, in compile order,
 * into @p results (capacity @p n_results; the count needed is 1 + number of metrics).
 * @p batch_size <= 0 means 32.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or data, counts that do not match the model, @p
 *   n_results too small, a sparse label that is not a class index), ::CKERAS_ESHAPE (data that does
 *   not fit the model), ::CKERAS_ENAN (NaN or infinity in the data), ::CKERAS_ESTATE (not compiled,
 *   or the model is in use), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_evaluate(ckeras_model *model, const ckeras_tensor *x, const ckeras_tensor *y,
                                               int batch_size, double *results, int n_results);
/**
 * evaluate for models with several inputs or outputs (arguments as ckeras_model_fit_multi()).
 * Writes the total loss, then (when more than one output has a loss) each of those outputs' loss
 * in output order, then the metrics by output, as Keras 3's `evaluate` returns them.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or data, counts that do not match the model, @p
 *   n_results too small, a sparse label that is not a class index), ::CKERAS_ESHAPE (data that does
 *   not fit the model), ::CKERAS_ENAN (NaN or infinity in the data), ::CKERAS_ESTATE (not compiled,
 *   or the model is in use), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_evaluate_multi(ckeras_model *model, int n_inputs,
                                                     const ckeras_tensor *const *x, int n_targets,
                                                     const ckeras_tensor *const *y, int batch_size, double *results,
                                                     int n_results);
/** Number of values ckeras_model_evaluate() writes, and their names (loss first). */
CKERAS_API int ckeras_model_metrics_count(const ckeras_model *model);
/** Name of value @p i of evaluate ("loss", "cls_loss", "accuracy", ...), or NULL. The string lives
 *  until the model changes or (per-output names) the thread's next call of this function. */
CKERAS_API const char *ckeras_model_metrics_name(const ckeras_model *model, int i);
/**
 * `model.predict(x, batch_size)`: a new tensor (free with ckeras_tensor_free()) in *out.
 * Does not need compile. @p batch_size <= 0 means 32.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model, data or output, counts that do not match the
 *   model), ::CKERAS_ESHAPE (data that does not fit the model's inputs), ::CKERAS_ENAN (NaN or
 *   infinity in the data), ::CKERAS_ESTATE (no layers or outputs, or the model is in use),
 *   ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_predict(ckeras_model *model, const ckeras_tensor *x, int batch_size,
                                              ckeras_tensor **out);
/** predict for models with several inputs: @p xs holds one tensor per model input, in order.
 *  The model must have one output (else ckeras_model_predict_outputs()).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model, data or output, counts that do not match the
 *   model), ::CKERAS_ESHAPE (data that does not fit the model's inputs), ::CKERAS_ENAN (NaN or
 *   infinity in the data), ::CKERAS_ESTATE (no layers or outputs, or the model is in use),
 *   ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_predict_multi(ckeras_model *model, int n_inputs,
                                                    const ckeras_tensor *const *xs, int batch_size,
                                                    ckeras_tensor **out);
/**
 * predict giving every output: @p outs receives @p n_outputs new tensors (the model's output
 * count; free each with ckeras_tensor_free()), all NULL on failure.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model, data or output, counts that do not match the
 *   model), ::CKERAS_ESHAPE (data that does not fit the model's inputs), ::CKERAS_ENAN (NaN or
 *   infinity in the data), ::CKERAS_ESTATE (no layers or outputs, or the model is in use),
 *   ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_predict_outputs(ckeras_model *model, int n_inputs,
                                                      const ckeras_tensor *const *xs, int batch_size,
                                                      int n_outputs, ckeras_tensor **outs);
/**
 * `model.train_on_batch(x, y)`: one optimizer step on the whole of @p x; writes the loss
 * (computed before the update) and metrics into @p results as evaluate does (may be NULL).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or data, counts that do not match the model, @p
 *   n_results too small, a sparse label that is not a class index), ::CKERAS_ESHAPE (data that does
 *   not fit the model), ::CKERAS_ENAN (NaN or infinity in the data, or a loss that is not finite:
 *   the weights are then unchanged), ::CKERAS_ESTATE (not compiled, or the model is in use),
 *   ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_train_on_batch(ckeras_model *model, const ckeras_tensor *x,
                                                     const ckeras_tensor *y, double *results, int n_results);
/** train_on_batch for models with several inputs or outputs (arguments as
 *  ckeras_model_fit_multi(), results as ckeras_model_evaluate_multi()).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or data, counts that do not match the model, @p
 *   n_results too small, a sparse label that is not a class index), ::CKERAS_ESHAPE (data that does
 *   not fit the model), ::CKERAS_ENAN (NaN or infinity in the data, or a loss that is not finite:
 *   the weights are then unchanged), ::CKERAS_ESTATE (not compiled, or the model is in use),
 *   ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_train_on_batch_multi(ckeras_model *model, int n_inputs,
                                                           const ckeras_tensor *const *x, int n_targets,
                                                           const ckeras_tensor *const *y, double *results,
                                                           int n_results);

/*
 * Sample weights, class weights and weighted metrics: Keras' `sample_weight`, `class_weight` and `compile(weighted_metrics=...)`. A sample-weight
 * argument is @p n_weights tensors: 0 (none), 1 (one weight per sample, shape (N,) or (N, 1),
 * used for every output), or one per model output (in output order; NULL gives output k weight
 * 1). A model with one output, or a tensor given for its own output, may also weigh each step
 * of a sequence output: Keras' temporal weights, shape (N, T) for an output (N, T, C) (one per
 * row of the output's shape without its last axis). Weights must be finite and >= 0. As Keras 3 computes it ("sum_over_batch_size"), a batch's
 * loss of an output is the sum of weight x per-row loss divided by the NUMBER of rows (not by the
 * sum of the weights): weights 2 double the loss, weights 0 drop a sample. On an output carrying
 * Keras' mask the sum runs over the kept rows and is divided by their count (+ 1e-7), as Keras
 * combines mask and weight. Only the weighted metrics see the weights (a weighted mean: sum of
 * w x value over sum of w); the loss every output reports is the weighted one. Tensors are
 * borrowed: keep them alive until the call (or fit) returns.
 */
/** Keras `fit(..., sample_weight=...)` (arguments above; 0 clears). validation_split cuts the
 *  weights as it cuts x and y (the last samples weigh the validation losses). Errors:
 *  ::CKERAS_EINVAL (a count out of range, a NULL single weight); the tensors are checked by fit
 *  (::CKERAS_ESHAPE for a wrong length or shape, ::CKERAS_EINVAL for a negative weight,
 *  ::CKERAS_ENAN for NaN/Inf, nothing trained then).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL args, @p n_weights out of range, a NULL array or
 *   single weight), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_fit_args_set_sample_weight(ckeras_fit_args *args, int n_weights,
                                                           const ckeras_tensor *const *sample_weight);
/** Sample weights of validation_data (Keras' `validation_data=(x, y, sample_weight)`); call it
 *  after setting validation_data, which clears them. 0 clears. Errors: ::CKERAS_ESTATE (no
 *  validation_data), ::CKERAS_EINVAL as ckeras_fit_args_set_sample_weight().
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (as ckeras_fit_args_set_sample_weight()), ::CKERAS_ESTATE
 *   (no validation_data set), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_fit_args_set_validation_sample_weight(ckeras_fit_args *args, int n_weights,
                                                                      const ckeras_tensor *const *sample_weight);
/**
 * Keras `fit(..., class_weight={classes[i]: weights[i]})` (copied; @p n 0 clears): each training
 * sample weighs the weight of its class, found as Keras does from its target (the argmax of a
 * one-hot row, else the label rounded to an integer; 0/1 for a binary output); a class not
 * listed weighs 1. The validation samples are not weighted. Only for models with one output and
 * targets of one label or one row per sample. Errors here: ::CKERAS_EINVAL for a negative class,
 * a class given twice, a weight negative, NaN or infinite; ::CKERAS_ENOMEM. Errors of fit:
 * ::CKERAS_EINVAL for a model with several outputs (Keras' "`class_weight` is only supported for
 * Models with a single output."), both class_weight and sample_weight set, or a class index
 * beyond the output's classes (its units, 2 for one unit).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL args, @p n < 0, NULL arrays with @p n > 0, a negative
 *   class, a class given twice, a weight negative, NaN or infinite), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_fit_args_set_class_weight(ckeras_fit_args *args, int n, const int64_t *classes,
                                                          const double *weights);
/** `model.evaluate(x, y, sample_weight=...)`: ckeras_model_evaluate_multi() with sample weights.
 *  Errors: those of evaluate, and the sample-weight errors of fit (nothing is evaluated).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or data, counts that do not match the model, @p
 *   n_results too small, a sparse label that is not a class index, a negative weight),
 *   ::CKERAS_ESHAPE (data that does not fit the model), ::CKERAS_ENAN (NaN or infinity in the
 *   data), ::CKERAS_ESTATE (not compiled, or the model is in use), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_evaluate_weighted(ckeras_model *model, int n_inputs,
                                                        const ckeras_tensor *const *x, int n_targets,
                                                        const ckeras_tensor *const *y, int n_weights,
                                                        const ckeras_tensor *const *sample_weight, int batch_size,
                                                        double *results, int n_results);
/** `model.train_on_batch(x, y, sample_weight=...)`: ckeras_model_train_on_batch_multi() with
 *  sample weights. Errors: those of train_on_batch, and the sample-weight errors of fit (the
 *  weights unchanged then).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or data, counts that do not match the model, @p
 *   n_results too small, a sparse label that is not a class index, a negative weight),
 *   ::CKERAS_ESHAPE (data that does not fit the model), ::CKERAS_ENAN (NaN or infinity in the data,
 *   or a loss that is not finite: the weights are then unchanged), ::CKERAS_ESTATE (not compiled,
 *   or the model is in use), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_train_on_batch_weighted(ckeras_model *model, int n_inputs,
                                                              const ckeras_tensor *const *x, int n_targets,
                                                              const ckeras_tensor *const *y, int n_weights,
                                                              const ckeras_tensor *const *sample_weight,
                                                              double *results, int n_results);
/**
 * Keras `compile(..., weighted_metrics=[...])`, set after compile (a new compile clears them):
 * @p metrics is a comma-separated list of metric names (as compile's; NULL or "" clears) for the
 * output named @p output, or with @p output NULL for every output that has a loss; it replaces
 * that output's weighted metrics. They are reported after the other metrics, named as Keras 3
 * names them: the metric's name ("<output>_" first on models with several outputs), and
 * "weighted_<name>" when the plain metrics list has that name already ("accuracy" in both lists
 * gives "accuracy" and "weighted_accuracy"). They are saved in the training config
 * ("weighted_metrics") and loaded back. Accuracy, precision, recall, mse and mae take weights.
 * Errors: ::CKERAS_ESTATE (not compiled, or the model is in use), ::CKERAS_EINVAL (an unknown
 * output or metric name, an output without a loss, more than 16 metrics in all),
 * ::CKERAS_EUNSUPPORTED (a metric that does not take weights yet); the model is unchanged then.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model, an unknown output or metric name, an output
 *   without a loss, more than 16 metrics in all), ::CKERAS_EUNSUPPORTED (a metric that does not
 *   take weights), ::CKERAS_ESTATE (not compiled, or the model is in use), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_set_weighted_metrics(ckeras_model *model, const char *output,
                                                           const char *metrics);
/*
 * Data sources: data larger than memory.
 *
 * A data source serves samples on request, so fit, evaluate and predict run on data that is
 * never held whole in memory. The library asks for the samples it wants (by index, in the order
 * of its own seeded permutation) and the source writes them into buffers the library owns: a
 * training step allocates nothing. Fit from a source that serves the same values as arrays gives
 * the same weights and History as fit from those arrays, bit for bit (same model, seed, thread
 * count): the same per-epoch permutation of sample indices, and validation_split takes the last
 * samples of the source, as for arrays. A source serves one call at a time (it may be the
 * training and the validation source of the same fit).
 */
/** Opaque data source: a sample count, one shape per model input and per target, and a fill
 *  function. */
typedef struct ckeras_data_source ckeras_data_source;
/**
 * Fills the samples @p indices[0 .. @p n) (each in [0, sample count); not sorted, no repeats)
 * into @p x[j] (one buffer per input j, @p n x that input's sample size floats, sample i at
 * `x[j] + i * size`) and @p y[k] (one per target k, likewise). @p y is NULL when the call needs
 * no targets (predict), and @p y[k] is NULL for an output compiled without a loss. Return
 * ::CKERAS_OK, or any other status to stop the call with it (fit keeps the weights of its last
 * finished epoch). A message set before returning (a failing ckeras call made inside) is kept
 * and prefixed by the call's name; else the message names the status and the samples.
 */
typedef ckeras_status (*ckeras_data_fill_fn)(void *user_data, const int64_t *indices, int64_t n, float *const *x,
                                             float *const *y);
/** Frees a source's user data (ckeras_data_source_new()). */
typedef void (*ckeras_data_free_fn)(void *user_data);
/**
 * A source of @p n_samples samples served by @p fill with @p user_data. Add one shape per
 * model input (ckeras_data_source_add_input()) and, for fit and evaluate, one per model output
 * (ckeras_data_source_add_target()), in order. @p free_user_data (may be NULL) is called on
 * @p user_data by ckeras_data_source_free(), and also when this call fails. The new source is
 * in *out (NULL on failure). Errors: ::CKERAS_EINVAL (NULL fill or out, @p n_samples < 1),
 * ::CKERAS_ENOMEM.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL fill or out, @p n_samples < 1), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_data_source_new(int64_t n_samples, ckeras_data_fill_fn fill, void *user_data,
                                                ckeras_data_free_fn free_user_data, ckeras_data_source **out);
/** Adds the next model input's per-sample shape (without the batch axis; @p ndim 0..7).
 *  Errors: ::CKERAS_EINVAL (NULL, bad shape, more inputs than a model has).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL source, a bad shape: @p ndim out of 0..7, a NULL or
 *   non-positive size, more than a model has), ::CKERAS_ESHAPE (a sample size past the limit)
 */
CKERAS_API ckeras_status ckeras_data_source_add_input(ckeras_data_source *src, int ndim, const int64_t *shape);
/** Adds the next target's per-sample shape (without the batch axis; @p ndim 0 for one value per
 *  sample, as a y of shape (n,)). Errors as ckeras_data_source_add_input().
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL source, a bad shape: @p ndim out of 0..7, a NULL or
 *   non-positive size, more than a model has), ::CKERAS_ESHAPE (a sample size past the limit)
 */
CKERAS_API ckeras_status ckeras_data_source_add_target(ckeras_data_source *src, int ndim, const int64_t *shape);
/** The source's sample count (0 for NULL). */
CKERAS_API int64_t ckeras_data_source_count(const ckeras_data_source *src);
/** The number of inputs (@p targets 0) or targets (@p targets 1) and, for @p i in range, the
 *  per-sample shape of that one in @p shape (room for 7; may be NULL). -1 for a NULL source. */
CKERAS_API int ckeras_data_source_shape(const ckeras_data_source *src, int targets, int i, int64_t *shape);
/** The number of classes of a labelled source (ckeras_image_dataset_from_directory()), 0 otherwise. */
CKERAS_API int ckeras_data_source_class_count(const ckeras_data_source *src);
/** The name of class @p i (label i) of a labelled source, or NULL; it lives as long as the source. */
CKERAS_API const char *ckeras_data_source_class_name(const ckeras_data_source *src, int i);
/** The file of sample @p i of a source of files (image folders), or NULL; it lives as long as the
 *  source. */
CKERAS_API const char *ckeras_data_source_file_path(const ckeras_data_source *src, int64_t i);
/** Frees a source (calling its free_user_data). NULL is a no-op. */
CKERAS_API void ckeras_data_source_free(ckeras_data_source *src);
/**
 * Samples from data sets of an HDF5 file, read on request: @p n_inputs data sets (paths inside
 * the file, such as "x" or "/train/images") give the model inputs and @p n_targets data sets the
 * targets, each of shape (samples, ...) with the same sample count. Only the rows a batch asks
 * for are read (each batch's rows in increasing order, runs of consecutive rows read as one
 * block), so memory does not grow with the file. Float, double and integer data sets are
 * converted to float32 by HDF5. The file stays open until ckeras_data_source_free().
 * Errors: ::CKERAS_EINVAL (NULL argument, no input), ::CKERAS_EIO (missing or unreadable file),
 * ::CKERAS_EFORMAT (not HDF5, a missing data set, rank 0, a type that is not a number, sample
 * counts that differ), ::CKERAS_ENOMEM. A read that fails during fit stops it with ::CKERAS_EIO.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL argument, no input, a count out of range),
 *   ::CKERAS_EIO (missing or unreadable file), ::CKERAS_EFORMAT (not HDF5, a missing data set, rank
 *   0, a type that is not a number, sample counts that differ), ::CKERAS_ESHAPE (a sample too
 *   large), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_data_source_hdf5(const char *path, int n_inputs, const char *const *x_datasets,
                                                 int n_targets, const char *const *y_datasets,
                                                 ckeras_data_source **out);
/**
 * Keras `image_dataset_from_directory(directory, labels="inferred", label_mode, color_mode,
 * image_size=(height, width), shuffle, seed, validation_split, subset,
 * interpolation="bilinear")`: the images under @p directory, one subfolder per class (class
 * names are the subfolder names in byte order, hidden ones skipped; label i is the i-th name;
 * the files of a class are found in its folder and the folders below it). Files ending in
 * .png, .jpg or .jpeg (any case) are read (PNG through libpng, JPEG through libjpeg-turbo);
 * others are skipped (.bmp and .gif, which Keras also reads, are skipped too). Files are listed
 * as Keras lists them and, with @p shuffle, shuffled as Keras does with NumPy's
 * `RandomState(seed)`, so a @p validation_split with @p subset "training" or "validation" gives
 * the same files as Keras with the same seed (the last int(validation_split x count) files are
 * the validation subset). @p subset is NULL (all files) when @p validation_split is 0.
 *
 * Each sample is one image decoded when a batch asks for it (nothing is cached), as float32
 * values 0..255 of shape (height, width, channels) (@p color_mode "rgb": 3 channels, gray
 * images repeated; "grayscale": 1, colour converted by the decoder; "rgba": 4), resized as
 * TensorFlow's `tf.image.resize(method="bilinear", antialias=False)` does (half-pixel centres,
 * no crop). The target (@p label_mode "int": shape (), the class index; "binary" (2 classes):
 * shape (1,), 0 or 1; "categorical": one-hot of shape (classes,); NULL: no target). @p height
 * and @p width <= 0 mean Keras' 256.
 * Errors: ::CKERAS_EINVAL (NULL directory or out, an unknown label_mode or color_mode,
 * "binary" without exactly 2 classes, validation_split outside [0, 1), a subset without a split
 * or a split without a subset, a split with shuffle and a negative seed, a subset with no
 * file), ::CKERAS_EIO (a directory that cannot be read, no image found). A damaged or truncated
 * image found during a call stops it with ::CKERAS_EFORMAT naming the file. @p seed < 0 without
 * a split picks a seed from the clock.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (see above), ::CKERAS_EIO (a directory that cannot be read,
 *   no image found), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_image_dataset_from_directory(const char *directory, const char *label_mode,
                                                             const char *color_mode, int64_t height, int64_t width,
                                                             int shuffle, int64_t seed, double validation_split,
                                                             const char *subset, ckeras_data_source **out);
/**
 * Decodes one PNG or JPEG file (chosen by its first bytes) as a new float32 tensor (height,
 * width, channels) of values 0..255, @p color_mode as for ckeras_image_dataset_from_directory();
 * resized as it does when @p height and @p width are > 0, else at the file's size.
 * Errors: ::CKERAS_EIO, ::CKERAS_EFORMAT (not PNG or JPEG, damaged, truncated), ::CKERAS_EINVAL,
 * ::CKERAS_ENOMEM.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL path or out, an unknown color_mode), ::CKERAS_EIO
 *   (cannot read, not a regular file), ::CKERAS_EFORMAT (not PNG or JPEG, damaged, truncated),
 *   ::CKERAS_ESHAPE (an image past the size limit), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_read_image(const char *path, const char *color_mode, int64_t height, int64_t width,
                                           ckeras_tensor **out);
/** Sets validation_data to a source (borrowed until fit returns; NULL clears it). It must have
 *  the model's inputs and targets. Replaces validation data given as arrays.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL args), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_fit_args_set_validation_source(ckeras_fit_args *args, ckeras_data_source *src);
/**
 * `model.fit(source, **args)`: fit on the samples of @p src (borrowed), which must have one
 * input per model input and one target per model output. As ckeras_model_fit_multi() otherwise
 * (shuffle, validation_split, callbacks, History). The values a source serves are checked batch
 * by batch: a NaN/Inf, or a sparse label that is not a class index, stops fit with
 * ::CKERAS_ENAN / ::CKERAS_EINVAL naming the sample. Errors as ckeras_model_fit_multi(), plus
 * a shape of the source that does not match the model (::CKERAS_ESHAPE) and the fill's status.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or source, counts that do not match the model, a
 *   bad fit keyword, a sparse label that is not a class index, bad sample or class weights),
 *   ::CKERAS_ESHAPE (data that does not fit the model's inputs or outputs, sample counts that
 *   differ), ::CKERAS_ENAN (NaN or infinity in the data), ::CKERAS_ESTATE (not compiled, or the
 *   model is in use), ::CKERAS_EUNSUPPORTED, ::CKERAS_EIO (a callback's file, a failed collective
 *   in distributed training), ::CKERAS_ENOMEM, the status the source's fill returns, or any status
 *   a callback returns (::CKERAS_STOP excepted: that ends fit with ::CKERAS_OK)
 */
CKERAS_API ckeras_status ckeras_model_fit_source(ckeras_model *model, ckeras_data_source *src,
                                                 const ckeras_fit_args *args, ckeras_history **history);
/** evaluate on the samples of @p src, in order (results as ckeras_model_evaluate_multi()).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or source, counts that do not match the model,
 *   @p n_results too small, a sparse label that is not a class index), ::CKERAS_ESHAPE (data that
 *   does not fit the model), ::CKERAS_ENAN (NaN or infinity in the data), ::CKERAS_ESTATE (not
 *   compiled, or the model is in use), ::CKERAS_ENOMEM, or the status the source's fill returns
 */
CKERAS_API ckeras_status ckeras_model_evaluate_source(ckeras_model *model, ckeras_data_source *src, int batch_size,
                                                      double *results, int n_results);
/** predict on the samples of @p src, in order (its targets, if any, are not read): @p outs
 *  receives @p n_outputs new tensors as ckeras_model_predict_outputs().
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model, source or outputs, counts that do not match the
 *   model), ::CKERAS_ESHAPE (data that does not fit the model's inputs), ::CKERAS_ENAN (NaN or
 *   infinity in the data), ::CKERAS_ESTATE (no layers or outputs, or the model is in use),
 *   ::CKERAS_ENOMEM, or the status the source's fill returns
 */
CKERAS_API ckeras_status ckeras_model_predict_source(ckeras_model *model, ckeras_data_source *src, int batch_size,
                                                     int n_outputs, ckeras_tensor **outs);
/**
 * `model.summary()`: Keras' table (layer (type), output shape, param #) and the totals,
 * written to the stream @p out (NULL for stdout). @p line_length <= 0 picks Keras' width; it is
 * at most 1024. The stream is flushed. Errors: ::CKERAS_EINVAL (NULL model, a line_length too
 * small for the columns or above 1024), ::CKERAS_EIO when the text could not be written (a full
 * disk, /dev/full, a closed pipe, or a stream already in error), ::CKERAS_ENOMEM.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model, a line_length too small for the columns or
 *   above 1024), ::CKERAS_EIO (the text could not be written), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_summary(const ckeras_model *model, int line_length, FILE *out);
/** The summary as a string (free with ckeras_free()) in *text; errors as ckeras_model_summary()
 *  (*text NULL then).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or text, a line_length too small for the columns
 *   or above 1024), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_summary_string(const ckeras_model *model, int line_length, char **text);
/** Flags of ckeras_model_to_dot(). */
typedef enum ckeras_dot_flags {
    /** Keras' defaults: no shapes, dtypes or trainable marks; top to bottom. */
    CKERAS_DOT_DEFAULT = 0,
    /** Show each layer's input and output shapes, the batch axis as None (Keras
     *  `show_shapes=True`). */
    CKERAS_DOT_SHAPES = 1,
    /** Show each layer's output dtype (Keras `show_dtype=True`). */
    CKERAS_DOT_DTYPE = 2,
    /** Mark layers with weights "Trainable" or "Non-trainable" (Keras `show_trainable=True`). */
    CKERAS_DOT_TRAINABLE = 4,
    /** Lay the graph out left to right (Keras `rankdir="LR"`; the default is top to bottom,
     *  "TB"). */
    CKERAS_DOT_LR = 8
} ckeras_dot_flags;
/**
 * `keras.utils.model_to_dot(model)`, the graph `plot_model` draws: graphviz DOT text (free with
 * ckeras_free()) in *dot, to render with graphviz (`dot -Tsvg model.dot -o model.svg`).
 *
 * A `digraph` named after the model with one box per layer, the model inputs included as
 * InputLayer boxes, each labelled "name (Class)" as Keras labels them ("dense_1 (Dense)"), and
 * one edge from each producing layer to each layer that reads its output (a merge layer such as
 * Add has one edge per distinct input). @p flags: 0 or any of ::CKERAS_DOT_SHAPES
 * ("Input shape: (None, 784)", "Output shape: (None, 64)"; a list of shapes for a merge layer),
 * ::CKERAS_DOT_DTYPE, ::CKERAS_DOT_TRAINABLE and ::CKERAS_DOT_LR. Layer and model names are
 * escaped for DOT (quotes, backslashes; bytes that are not UTF-8 become '?'), so any name gives
 * a valid file. Errors: ::CKERAS_EINVAL (NULL, unknown flags), ::CKERAS_ESTATE (no layers),
 * ::CKERAS_ENOMEM. Reads the model only: it may run beside other calls that only read it
 * (summary, to_json), not beside calls that change it.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or dot, unknown flags), ::CKERAS_ESTATE (no
 *   layers), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_to_dot(const ckeras_model *model, ckeras_dot_flags flags, char **dot);
/**@}*/

/** @name Saving and loading (Keras HDF5 .h5)
 *
 * Files, for every function of the library that takes a path (the loaders and readers here and
 * under "Data sets", the savers and writers, ModelCheckpoint):
 *  - A reader takes a regular file only, or a symbolic link to one. The path is opened without
 *    blocking, so a FIFO without a writer cannot hang the caller; a FIFO, a device (/dev/zero),
 *    a directory or a socket is refused at once with ::CKERAS_EIO and a message naming the path
 *    and what it is ("load_model: /tmp/x is a FIFO, not a regular file"). A file that does not
 *    start with its format's magic number (or, for CSV, holds a NUL byte) is refused with
 *    ::CKERAS_EFORMAT at its first bytes, not after reading it all.
 *  - A save replaces a regular file only, atomically: it writes a temporary file beside the
 *    destination, fsyncs it and renames it into place (keeping the old file's mode), so a
 *    failed save leaves the old file intact. A destination that exists and is not a regular
 *    file (/dev/null, a FIFO, a directory, a socket) is refused with ::CKERAS_EIO and left
 *    untouched. A symbolic link is followed: the file it points to is replaced (the temporary
 *    file is made in the target's folder) and the link stays a link to the new file; a dangling
 *    link, or a link to something that is not a regular file, is refused with ::CKERAS_EIO.
 * Thread-safety: loading is thread-safe for distinct models; saving a model counts as a call on it
 *   ("A model in use" above; a callback of its fit may save it); distinct paths may be written from
 *   distinct threads at once.
 */
/**@{*/
/** Flags of ckeras_model_save(). */
typedef enum ckeras_save_flags {
    /** Keras' defaults: the optimizer included, tf.keras 2.15's layout for .h5. */
    CKERAS_SAVE_DEFAULT = 0,
    /** Leave the optimizer out of the file (Keras `include_optimizer=False`). */
    CKERAS_SAVE_NO_OPTIMIZER = 1,
    /** Write what Keras 3 writes to a legacy .h5 (keras_version 3.11.3, `batch_shape`, Keras 3's
     *  call nodes and optimizer layout) instead of what tf.keras 2.15 writes: Keras 3 loads it
     *  without a warning, tf.keras 2 does not load it. */
    CKERAS_SAVE_KERAS3 = 2
} ckeras_save_flags;
/** Flags of ckeras_load_model(). */
typedef enum ckeras_load_flags {
    /** Keras' default: compile with the file's training config when it has one. */
    CKERAS_LOAD_DEFAULT = 0,
    /** Load without compiling (Keras `compile=False`): no optimizer, loss or metrics. */
    CKERAS_LOAD_NO_COMPILE = 1
} ckeras_load_flags;

/**
 * `model.save(path)` in Keras' legacy HDF5 format (tf.keras 2 layout, loadable by tf.keras 2 and
 * Keras 3): architecture, weights, training config and optimizer state. The file is written to a
 * temporary file in the same folder and renamed into place, so a failed save never damages an
 * existing file. By default the file is what tf.keras 2.15 writes, key for key (tf.keras 2 and
 * Keras 3 both load it); ::CKERAS_SAVE_KERAS3 writes Keras 3's own .h5 instead. Optimizer slots
 * are restored by ckeras from either. @p flags: 0, ::CKERAS_SAVE_NO_OPTIMIZER,
 * ::CKERAS_SAVE_KERAS3, or both. Errors: CKERAS_EINVAL (NULL, unknown flags), CKERAS_ESTATE (no
 * layers, no outputs), CKERAS_EIO, CKERAS_ENOMEM.
 *
 * The format follows the name, as in Keras: a path ending in `.keras` gets Keras 3's native
 * archive, what Keras 3.11.3's `model.save("x.keras")` writes (::CKERAS_SAVE_KERAS3 is implied):
 * a zip of config.json (the model in Keras 3's serialisation: `module`, `class_name`, `config`,
 * `registered_name`, `build_config` of every layer, dtypes as `DTypePolicy` objects, and the
 * `compile_config` of a compiled model), metadata.json (`keras_version` 3.11.3, `date_saved`)
 * and model.weights.h5 (each layer's variables at `layers/<class in snake_case>[_<k>]/vars/<i>`,
 * an LSTM's below its `cell`; the optimizer's at `optimizer/vars/<i>`: iterations,
 * learning_rate, then its slots in Keras' order). Keras 3 restores the optimizer state from it
 * (as ckeras_load_model() does), so training resumes exactly where it stopped. With
 * ::CKERAS_SAVE_NO_OPTIMIZER the archive holds a new optimizer's state (step 0, zero slots)
 * instead, which Keras also loads without a warning. The archive is written atomically too.
 *
 * Destinations that are not regular files and symbolic links: see "Files" above this group
 * (a device, FIFO or directory is refused and left untouched; a link is followed).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or path, unknown flags), ::CKERAS_ESTATE (no
 *   layers, no outputs, or the model is in use), ::CKERAS_EIO (cannot write, a destination that is
 *   not a regular file), ::CKERAS_EUNSUPPORTED (a layer or setting the format cannot hold),
 *   ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_save(const ckeras_model *model, const char *path, ckeras_save_flags flags);
/**
 * `keras.models.load_model(path)`: a new model in *model (free with ckeras_model_free()), compiled
 * with the file's loss, metrics and optimizer state unless @p flags has ::CKERAS_LOAD_NO_COMPILE
 * or the file has no training config. Reads files of standalone Keras 2, tf.keras 2 and Keras 3.
 * On failure *model is NULL and nothing is leaked; an unsupported layer is named (class and layer),
 * and the message starts with "load_model". @p flags: 0 or ::CKERAS_LOAD_NO_COMPILE; any other
 * bit is ::CKERAS_EINVAL.
 *
 * The format follows the name, as in Keras: a path ending in `.keras` is Keras 3's native archive
 * (a zip of config.json, metadata.json and model.weights.h5); any other path is read as legacy
 * HDF5. From a `.keras` archive the model is built from config.json, its weights are paired with
 * the layers by Keras 3's object paths (`layers/<class in snake_case>[_<k>]/vars/<i>`, in layer
 * order), and, when config.json has a compile_config and the model compiles, the optimizer's
 * iteration count and slots (`optimizer/vars`) are restored. The weights member is copied to a
 * private temporary file in `$TMPDIR` (removed before the call returns); nothing is extracted
 * by member name. A damaged archive is refused with ::CKERAS_EFORMAT and a message naming the
 * file and the cause: not a zip archive, truncated, a member whose data does not match its
 * declared size or CRC, a declared size beyond the limits (64 MB for the JSON members, 16 GB
 * for the weights) or beyond what its compressed size can hold, a member path that is absolute
 * or contains `..`, config.json missing or twice; encrypted members and unknown compression
 * methods are ::CKERAS_EUNSUPPORTED. A path that is not a regular file (a FIFO, a device, a
 * directory) is ::CKERAS_EIO at once (see "Files" above). Thread-safe for separate models.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL path or model, unknown flags, a config value out of
 *   range), ::CKERAS_EIO (cannot read, not a regular file), ::CKERAS_EFORMAT (not a Keras model
 *   file, damaged), ::CKERAS_EUNSUPPORTED (a layer class or setting ckeras does not implement),
 *   ::CKERAS_ESHAPE (weights that do not fit, a size past the limits), ::CKERAS_ENAN (a weight that
 *   is not finite), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_load_model(const char *path, ckeras_load_flags flags, ckeras_model **model);
/**
 * `model.save_weights(path)`. Atomic like save. A path ending in `.weights.h5` gets Keras 3's
 * layout (what Keras 3's `save_weights` writes: `layers/<path>/vars/<i>` and, for a compiled
 * model, the optimizer state at `optimizer/vars/<i>`); a path ending in `.keras` is refused with
 * CKERAS_EINVAL (an archive holds a whole model: ckeras_model_save()); any other path gets the
 * legacy HDF5 layout of model_weights. A destination that is not a regular file is refused and
 * left untouched; a symbolic link is followed (see "Files" above).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or path, a `.keras` path), ::CKERAS_ESTATE (no
 *   layers, or the model is in use), ::CKERAS_EIO (cannot write, a destination that is not a
 *   regular file), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_save_weights(const ckeras_model *model, const char *path);
/** Flags of ckeras_model_load_weights(). */
typedef enum ckeras_weights_flags {
    /** Keras' defaults: match weights by layer order, fail on a mismatch. */
    CKERAS_WEIGHTS_DEFAULT = 0,
    /** Match weights by layer order (Keras' default for .h5): ::CKERAS_WEIGHTS_DEFAULT. */
    CKERAS_WEIGHTS_BY_ORDER = 0,
    /** Match weights by layer name (`by_name=True`). */
    CKERAS_WEIGHTS_BY_NAME = 1,
    /** Skip layers whose weights do not fit instead of failing (`skip_mismatch=True`). */
    CKERAS_WEIGHTS_SKIP_MISMATCH = 2
} ckeras_weights_flags;
/**
 * `model.load_weights(path, by_name, skip_mismatch)`. Reads a weights file or a full model file.
 * On failure the model's weights are unchanged and the message starts with "load_weights".
 * @p flags: 0 (::CKERAS_WEIGHTS_BY_ORDER), ::CKERAS_WEIGHTS_BY_NAME,
 * ::CKERAS_WEIGHTS_SKIP_MISMATCH or both; any other bit is ::CKERAS_EINVAL. ::CKERAS_ESTATE while
 * the model is in use (another thread, a callback of its fit).
 *
 * A path ending in `.weights.h5` (Keras 3's `model.save_weights`) or `.keras` is read in Keras 3's
 * layout: each layer of the model, in order, takes the variables at its Keras 3 object path
 * (`layers/dense_1/vars/0`, ...; sub-objects such as an LSTM's `cell` included), or, when that
 * path does not fit, the group whose `name` attribute is the layer's name
 * (::CKERAS_WEIGHTS_BY_NAME tries the name first). Count, shapes and finiteness are checked for
 * every layer before any weight changes; ::CKERAS_WEIGHTS_SKIP_MISMATCH skips layers that do not
 * fit. As Keras 3 does, the optimizer state of such a file (`optimizer/vars`) is restored too
 * when the model is compiled and the file's state has exactly the count and shapes of its
 * optimizer's; otherwise the optimizer is left as it was. A path that is not a regular file is
 * ::CKERAS_EIO at once (see "Files" above).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or path, unknown flags, a weight count or layer
 *   that does not match), ::CKERAS_ESHAPE (a weight of another shape), ::CKERAS_ENAN (a weight that
 *   is not finite), ::CKERAS_EIO (cannot read, not a regular file), ::CKERAS_EFORMAT (not a Keras
 *   weights or model file, damaged), ::CKERAS_EUNSUPPORTED, ::CKERAS_ESTATE (the model is in use),
 *   ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_load_weights(ckeras_model *model, const char *path,
                                                  ckeras_weights_flags flags);
/** `model.to_json()`: the model_config JSON (free with ckeras_free()) in *json.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL model or json), ::CKERAS_ESTATE (no layers or
 *   outputs), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_to_json(const ckeras_model *model, char **json);
/** `keras.models.model_from_json(json)`: a new, uncompiled model with fresh weights.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL json or model, a config value out of range),
 *   ::CKERAS_EFORMAT (not JSON, not a Keras model config), ::CKERAS_EUNSUPPORTED (a layer class or
 *   setting ckeras does not implement), ::CKERAS_ESHAPE (shapes that do not fit), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_model_from_json(const char *json, ckeras_model **model);
/**@}*/

/** @name History
 * Thread-safety: a History is only read after fit returns: several threads may read one at once; it
 *   is freed once.
 */
/**@{*/
/** Number of epochs recorded. */
CKERAS_API int ckeras_history_epochs(const ckeras_history *h);
/** Number of keys ("loss", "accuracy", "val_loss", "val_accuracy", ...). */
CKERAS_API int ckeras_history_key_count(const ckeras_history *h);
/** Key @p i in Keras' order, or NULL. */
CKERAS_API const char *ckeras_history_key(const ckeras_history *h, int i);
/**
 * The per-epoch values of @p key: *values points into the History (valid until it is freed),
 * *n is the number of epochs. ::CKERAS_EINVAL if the key is absent.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL history, key or outputs, no key @p key)
 */
CKERAS_API ckeras_status ckeras_history_values(const ckeras_history *h, const char *key, const double **values,
                                            int *n);
/** Frees a History. NULL is a no-op. */
CKERAS_API void ckeras_history_free(ckeras_history *h);
/**
 * Reads the History a CSVLogger wrote (@p path: its header line names the columns, "epoch"
 * then the logs' keys; separator ',', ';', tab or '|', found from the header; "NA", "nan" or an
 * empty cell is NaN; a per-class list "[0.5, 0.25]" is read as its mean). @p *history receives
 * a new History (free with ckeras_history_free()). Errors: ::CKERAS_EINVAL (NULL argument),
 * ::CKERAS_EIO (cannot read), ::CKERAS_EFORMAT (not text, no header, a cell that is not a
 * number, a row with another cell count: the message names the line and column).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL argument), ::CKERAS_EIO (cannot read, not a regular
 *   file), ::CKERAS_EFORMAT (not text, no header, a cell that is not a number, a row with another
 *   cell count), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_history_read_csv(const char *path, ckeras_history **history);
/**
 * Draws @p h as a plain SVG file at @p path (what `ckeras plot-history` writes): the title
 * @p title (NULL: "Training history"), then one panel per quantity ("loss" first, then each
 * metric), the training values as a solid line and the "val_" values dashed, against the
 * epoch counted from 1, with axes, tick labels and a legend. Each panel's `<g class="panel">`
 * gives its data ranges and plot box (data-xmin, data-xmax, data-ymin, data-ymax, data-left,
 * data-top, data-width, data-height) so the points map back to the values. The file is
 * written atomically. Errors: ::CKERAS_EINVAL (NULL, or a History without epochs),
 * ::CKERAS_EIO (cannot write).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL history or path, a History without epochs),
 *   ::CKERAS_EIO (cannot write), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_history_plot_svg(const ckeras_history *h, const char *path, const char *title);
/**@}*/

/** @name Data sets and preprocessing
 * Thread-safety: the readers and writers are thread-safe for distinct outputs and paths; a fitted
 *   scaler may transform distinct tensors from several threads at once.
 */
/**@{*/
/**
 * Reads a CSV file of numbers. If the first line is a header of the form
 * `rows,features,name,...` (the scikit-learn layout) or any non-numeric line, it is skipped.
 * The last column becomes *y (shape (rows, 1)), the others *x (rows, features). Both new.
 * ::CKERAS_EIO for a path that is not a regular file, ::CKERAS_EFORMAT for a file that is not
 * text (a NUL byte: refused at the first bytes that hold one) or not numbers.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL argument), ::CKERAS_EIO (cannot read, not a regular
 *   file), ::CKERAS_EFORMAT (not text, not numbers, rows of different lengths, fewer than 2
 *   columns), ::CKERAS_ESHAPE (past the size limit), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_read_csv(const char *path, ckeras_tensor **x, ckeras_tensor **y);
/**
 * Splits rows of @p x, @p y into train and test sets after a seeded shuffle (scikit-learn's
 * `train_test_split`): test gets round-up(test_fraction * rows) rows. All four outputs new.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL argument, @p test_fraction outside (0, 1), too few
 *   rows for both sets), ::CKERAS_ESHAPE (x and y with different row counts), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_train_test_split(const ckeras_tensor *x, const ckeras_tensor *y,
                                                 double test_fraction, uint64_t seed, ckeras_tensor **x_train,
                                                 ckeras_tensor **x_test, ckeras_tensor **y_train,
                                                 ckeras_tensor **y_test);
/** Reads a NumPy .npy file (float16/32/64, int, uint, bool; C order) as a new float32 tensor.
 *  The magic number and the header are checked before any data is read; ::CKERAS_EIO for a
 *  path that is not a regular file (a FIFO, /dev/zero).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL path or out), ::CKERAS_EIO (cannot read, not a regular
 *   file), ::CKERAS_EFORMAT (not .npy, a damaged header, truncated data), ::CKERAS_EUNSUPPORTED
 *   (Fortran order, another dtype), ::CKERAS_ESHAPE (past the size limit), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_read_npy(const char *path, ckeras_tensor **out);
/**
 * Reads a NumPy .npz archive (`numpy.savez`, stored or deflated): *count arrays; entry i of
 * *names is a member's name without ".npy" and entry i of *arrays its float32 tensor, in the
 * archive's order. On
 * success the caller owns all three: free them with ckeras_npz_free(). Errors: CKERAS_EINVAL
 * (NULL argument), CKERAS_EIO, CKERAS_EFORMAT (damaged archive or member), CKERAS_EUNSUPPORTED,
 * CKERAS_ENOMEM; the outputs are untouched on error. Thread-safe.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL argument), ::CKERAS_EIO (cannot read, not a regular
 *   file), ::CKERAS_EFORMAT (damaged archive or member), ::CKERAS_EUNSUPPORTED (a compression
 *   method or dtype ckeras does not read), ::CKERAS_ESHAPE (past the size limit), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_read_npz(const char *path, int *count, char ***names, ckeras_tensor ***arrays);
/** Frees what ckeras_read_npz() returned (NULL arrays are a no-op, and so are NULL entries). */
CKERAS_API void ckeras_npz_free(int count, char **names, ckeras_tensor **arrays);
/** Writes @p t as a float32 .npy file (version 1.0), replacing @p path only on success (atomic,
 *  as ckeras_model_save(): a destination that is not a regular file is refused, a symbolic link
 *  is followed).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL path or tensor), ::CKERAS_EIO (cannot write, a
 *   destination that is not a regular file), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_write_npy(const char *path, const ckeras_tensor *t);
/**
 * Writes @p count tensors as a NumPy .npz archive, as `numpy.savez(path, name0=a0, ...)` does:
 * one stored (uncompressed) member `<names[i]>.npy` per tensor, float32 .npy version 1.0, in the
 * order given; `numpy.load(path)[names[i]]` gives tensor i back, and so does ckeras_read_npz().
 * The archive is written to a temporary file beside @p path and renamed into place, so @p path
 * is replaced only on success (a destination that is not a regular file is refused, a symbolic
 * link is followed, as for ckeras_model_save()). The tensors are read only. Errors: ::CKERAS_EINVAL (NULL
 * argument or entry, @p count < 1, a name that is empty, holds '/', or is given twice),
 * ::CKERAS_EIO, ::CKERAS_ENOMEM. Thread-safe for distinct paths.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL argument or entry, @p count < 1, a name that is empty,
 *   holds '/', or is given twice), ::CKERAS_EIO (cannot write, a destination that is not a regular
 *   file), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_write_npz(const char *path, int count, const char *const *names,
                                          const ckeras_tensor *const *arrays);
/**
 * Reads an IDX file (MNIST / Fashion-MNIST format, plain or gzip-compressed) as a new float32
 * tensor, values unscaled (0..255 for images): labels (n,), images (n, rows, cols).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL path or out), ::CKERAS_EIO (cannot read, not a regular
 *   file), ::CKERAS_EFORMAT (not IDX, damaged gzip, truncated), ::CKERAS_EUNSUPPORTED (an IDX type
 *   other than unsigned bytes), ::CKERAS_ESHAPE (past the size limit), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_read_idx(const char *path, ckeras_tensor **out);
/**
 * Keras `fashion_mnist.load_data()`, from the IDX files of Debian's dataset-fashion-mnist package
 * in @p dir (NULL: /usr/share/datasets/fashion-mnist): x (n, 28, 28) with values 0..255 as Keras
 * gives them, y (n,) class indices 0..9; 60,000 training and 10,000 test images. All four new.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL outputs), ::CKERAS_EIO (a file missing or unreadable:
 *   install dataset-fashion-mnist), ::CKERAS_EFORMAT (a damaged file, counts that do not match),
 *   ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_datasets_fashion_mnist(const char *dir, ckeras_tensor **x_train,
                                                       ckeras_tensor **y_train, ckeras_tensor **x_test,
                                                       ckeras_tensor **y_test);
/**
 * Keras `to_categorical(y, num_classes)`: class indices (any shape) to one-hot rows, a new
 * tensor of shape y.shape + (num_classes,) (a trailing axis of 1 is dropped first, as Keras
 * does). @p num_classes <= 0: max(y) + 1. Non-integer or negative labels are ::CKERAS_EINVAL.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL y or out, a label negative or not an integer, a label
 *   >= @p num_classes), ::CKERAS_ESHAPE (past the size or rank limit), ::CKERAS_ENOMEM
 */
CKERAS_API ckeras_status ckeras_to_categorical(const ckeras_tensor *y, int num_classes, ckeras_tensor **out);
/** Opaque standardiser (scikit-learn's StandardScaler): per-feature mean and std. */
typedef struct ckeras_scaler ckeras_scaler;
/** Fits a standardiser on the rows of @p x (last axis = features).
 * @return the new scaler, or NULL when an argument is out of range or a name unknown
 *   (::CKERAS_EINVAL, the message names it) or an allocation fails (::CKERAS_ENOMEM).
 */
CKERAS_API ckeras_scaler *ckeras_standard_scaler_fit(const ckeras_tensor *x);
/** Standardises @p x in place: (x - mean) / std (features with std 0 get std 1).
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (NULL scaler or tensor), ::CKERAS_ESHAPE (a feature count
 *   other than the fitted one)
 */
CKERAS_API ckeras_status ckeras_standard_scaler_transform(const ckeras_scaler *s, ckeras_tensor *x);
/** Frees a standardiser. NULL is a no-op. */
CKERAS_API void ckeras_standard_scaler_free(ckeras_scaler *s);
/**@}*/

/** @name Distributed training (data-parallel, over MPI)
 * With a ckeras built by `make MPI=1` and the program started by `mpiexec -n N`, every process
 * (rank) builds the same model and calls fit with the same data (or a data source that gives
 * each rank what it asks for). fit then trains one model:
 * - at train begin, rank 0's weights, BatchNormalization statistics and optimizer state are
 *   broadcast, and after each epoch's shuffle rank 0's sample order, so all ranks agree;
 * - each global batch of batch_size samples is split among the ranks: n / N samples each, the
 *   first n % N ranks one more, rank 0 taking the first (the remainder rule, also for the last
 *   partial batch);
 * - each rank's loss gradient is weighted by its share of the batch and the gradients are
 *   summed with one all-reduce per step (activity regularizers, sums over the batch, and the
 *   weights' penalties each counted once), so every rank applies the gradient of the whole
 *   batch and then the weight constraints: the
 *   weights after each step equal one process training with batch_size (to float rounding of
 *   the sum), except for layers whose training forward is random or uses batch statistics:
 *   Dropout and augmentation draw per rank, BatchNormalization normalises with the statistics
 *   of each rank's part of the batch and its moving statistics are averaged over the ranks
 *   after every step (as Keras' MirroredStrategy, which does not synchronise batch statistics);
 * - the loss and metric accumulators are summed, so every rank logs the same numbers and
 *   EarlyStopping decides alike; validation is split among the ranks the same way;
 * - only rank 0 prints the progress bar and writes the files of ModelCheckpoint, CSVLogger and
 *   BackupAndRestore; a program saves its model on rank 0 (all ranks hold the same weights).
 * Every collective has a time limit (ckeras_distributed_set_timeout(), default 300 s, or the
 * environment variable CKERAS_DIST_TIMEOUT): a rank that died makes the others' fit fail with
 * ::CKERAS_EIO naming the step, never hang. evaluate and predict are not split: each rank
 * computes everything. Not thread-safe: call from the thread that initialised MPI.
 * Thread-safety: not thread-safe: call from the thread that initialised MPI.
 */
/**@{*/
/**
 * Starts distributed training on MPI_COMM_WORLD (initialising MPI when the program has not);
 * include/ckeras_mpi.h has the form taking a communicator. Errors: ::CKERAS_EUNSUPPORTED (ckeras
 * built without MPI), ::CKERAS_ESTATE (already started), ::CKERAS_EIO (MPI failed).
 * @return ::CKERAS_OK, ::CKERAS_EUNSUPPORTED (ckeras built without MPI), ::CKERAS_ESTATE (already
 *   started), ::CKERAS_EIO (MPI failed)
 */
CKERAS_API ckeras_status ckeras_distributed_init(void);
/** This process' rank (0 when not distributed). */
CKERAS_API int ckeras_distributed_rank(void);
/** The number of ranks (1 when not distributed). */
CKERAS_API int ckeras_distributed_size(void);
/** The time limit of each collective, in seconds (> 0). Errors: ::CKERAS_EINVAL.
 * @return ::CKERAS_OK, ::CKERAS_EINVAL (@p seconds not finite and > 0)
 */
CKERAS_API ckeras_status ckeras_distributed_set_timeout(double seconds);
/**
 * Ends distributed training (fit is local again) and finalises MPI if ckeras initialised it.
 * No-op when not started. Errors: ::CKERAS_EIO after a collective failed or timed out (MPI is
 * then left as it is: end the program).
 * @return ::CKERAS_OK, ::CKERAS_EIO (a collective failed or timed out before, or MPI failed)
 */
CKERAS_API ckeras_status ckeras_distributed_shutdown(void);
/**@}*/

#ifdef __cplusplus
}
#endif

#endif /* CKERAS_H */
