"""ckeras from Python, through ctypes only (no compiled extension).

A thin Keras-like layer over the C API of libckeras.so::

    import ckeras as ck
    model = ck.Sequential([ck.Input((30,)), ck.Dense(100, activation="relu"),
                           ck.Dense(1, activation="sigmoid")])
    model.compile(optimizer=ck.Adam(1e-3), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=100, validation_split=0.2,
                        callbacks=[ck.EarlyStopping(patience=5)])
    print(history.history["val_loss"])
    probabilities = model.predict(x_new)

The library is found through the CKERAS_LIB environment variable (a path to libckeras.so),
else ../../lib/libckeras.so relative to this file (a source tree after `make`), else the
system's libckeras.so.1 (after `make install`; run ldconfig or set LD_LIBRARY_PATH).

Data: Python lists (rectangular, nested), NumPy arrays when NumPy is installed (converted to
float32 C order), or Tensor objects (ckeras' own arrays, passed without a copy). Results of
predict() are NumPy arrays when NumPy is installed, nested lists otherwise.

Every failing call raises CkerasError carrying the status and ckeras_last_error(). Handles are
freed when their Python object is collected, or at once with close() / a `with` block.
"""

import ctypes
import ctypes.util
import os
import sys

try:
    import numpy as _np
except ImportError:  # the binding works without NumPy
    _np = None

__all__ = [
    "CkerasError", "Tensor", "Layer", "Input", "Dense", "Dropout", "Activation", "Flatten",
    "layer_from_config", "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad",
    "Callback", "EarlyStopping", "TerminateOnNaN", "LambdaCallback", "History", "Model", "Sequential",
    "StandardScaler", "read_csv", "train_test_split", "set_random_seed", "set_num_threads",
    "get_num_threads", "version", "build_info", "load_model", "model_from_json", "read_npy",
    "write_npy", "has_hdf5",
]


# ---- loading the library ------------------------------------------------------------------

def _find_library():
    env = os.environ.get("CKERAS_LIB")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    local = os.path.normpath(os.path.join(here, "..", "..", "lib", "libckeras.so"))
    names = [local] if os.path.exists(local) else []
    names.append("libckeras.so.1")
    found = ctypes.util.find_library("ckeras")
    if found:
        names.append(found)
    return names


def _load():
    errors = []
    for name in _find_library():
        try:
            return ctypes.CDLL(name)
        except OSError as e:
            errors.append("%s: %s" % (name, e))
    raise OSError("ckeras: cannot load libckeras (set CKERAS_LIB to its path): " + "; ".join(errors))


_lib = _load()
try:
    _libc = ctypes.CDLL(None)
    _libc.fflush.argtypes = [ctypes.c_void_p]
    _libc.fflush.restype = ctypes.c_int
except (OSError, AttributeError):
    _libc = None

_vp = ctypes.c_void_p
_i64 = ctypes.c_int64
_status = ctypes.c_int
_str = ctypes.c_char_p
_dbl = ctypes.c_double
_int = ctypes.c_int
_fp = ctypes.POINTER(ctypes.c_float)

CKERAS_OK = 0
CKERAS_STOP = 9
STATUS_NAMES = {0: "CKERAS_OK", 1: "CKERAS_EINVAL", 2: "CKERAS_ENOMEM", 3: "CKERAS_ESHAPE",
                4: "CKERAS_ESTATE", 5: "CKERAS_EIO", 6: "CKERAS_EFORMAT",
                7: "CKERAS_EUNSUPPORTED", 8: "CKERAS_ENAN", 9: "CKERAS_STOP"}


class CkerasError(RuntimeError):
    """A ckeras call failed: .status (int), .status_name ("CKERAS_EINVAL"), .message."""

    def __init__(self, status, message, call=None):
        self.status = status
        self.status_name = STATUS_NAMES.get(status, "status %d" % status)
        self.message = message
        self.call = call
        RuntimeError.__init__(self, "%s: %s" % (self.status_name, message))


def _last_error():
    return (_lib.ckeras_last_error() or b"").decode("utf-8", "replace")


def _check_status(result, func, args):
    if result != CKERAS_OK:
        raise CkerasError(result, _last_error(), func.__name__)
    return result


def _check_handle(result, func, args):
    if not result:
        raise CkerasError(1, _last_error(), func.__name__)
    return result


def _decl(name, restype, *argtypes):
    """Declares a C function; statuses and constructors raise CkerasError when they fail."""
    f = getattr(_lib, name)
    f.argtypes = list(argtypes)
    if restype == "status":
        f.restype = _status
        f.errcheck = _check_status
    elif restype == "handle":
        f.restype = _vp
        f.errcheck = _check_handle
    else:
        f.restype = restype
    return f


def _declare_all():
    P = ctypes.POINTER
    d = _decl
    d("ckeras_version", _str)
    d("ckeras_version_number", _int)
    d("ckeras_build_info", _str)
    d("ckeras_last_error", _str)
    d("ckeras_status_name", _str, _int)
    d("ckeras_free", None, _vp)
    d("ckeras_set_random_seed", None, ctypes.c_uint64)
    d("ckeras_set_num_threads", "status", _int)
    d("ckeras_num_threads", _int)
    # tensors
    d("ckeras_tensor_new", "handle", _int, P(_i64))
    d("ckeras_tensor_copy", "handle", _fp, _int, P(_i64))
    d("ckeras_tensor_free", None, _vp)
    d("ckeras_tensor_ndim", _int, _vp)
    d("ckeras_tensor_dim", _i64, _vp, _int)
    d("ckeras_tensor_size", _i64, _vp)
    d("ckeras_tensor_data", _fp, _vp)
    # layers
    d("ckeras_input", "handle", _int, P(_i64))
    d("ckeras_dense", "handle", _i64, _str)
    d("ckeras_activation", "handle", _str)
    d("ckeras_dropout", "handle", _dbl)
    d("ckeras_flatten", "handle")
    d("ckeras_layer_from_config", "handle", _str, _str)
    d("ckeras_layer_free", None, _vp)
    d("ckeras_layer_set_str", "status", _vp, _str, _str)
    d("ckeras_layer_set_int", "status", _vp, _str, _i64)
    d("ckeras_layer_set_float", "status", _vp, _str, _dbl)
    d("ckeras_layer_set_bool", "status", _vp, _str, _int)
    d("ckeras_layer_set_ints", "status", _vp, _str, _int, P(_i64))
    d("ckeras_layer_set_name", "status", _vp, _str)
    d("ckeras_layer_name", _str, _vp)
    d("ckeras_layer_class", _str, _vp)
    d("ckeras_layer_set_trainable", "status", _vp, _int)
    d("ckeras_layer_trainable", _int, _vp)
    d("ckeras_layer_weight_count", _int, _vp)
    d("ckeras_layer_weight", "status", _vp, _int, P(_str), P(_vp))
    # optimizers
    d("ckeras_sgd", "handle", _dbl, _dbl, _int)
    d("ckeras_adam", "handle", _dbl)
    d("ckeras_adamw", "handle", _dbl, _dbl)
    d("ckeras_rmsprop", "handle", _dbl)
    d("ckeras_adagrad", "handle", _dbl)
    d("ckeras_optimizer_from_name", "handle", _str)
    d("ckeras_optimizer_set_float", "status", _vp, _str, _dbl)
    d("ckeras_optimizer_iterations", _i64, _vp)
    d("ckeras_optimizer_free", None, _vp)
    # callbacks and logs
    d("ckeras_lambda_callback", "handle", _CALLBACK_FN, _vp)
    d("ckeras_early_stopping", "handle", _str, _int)
    d("ckeras_terminate_on_nan", "handle")
    d("ckeras_callback_set_float", "status", _vp, _str, _dbl)
    d("ckeras_callback_set_str", "status", _vp, _str, _str)
    d("ckeras_early_stopping_stopped_epoch", _int, _vp)
    d("ckeras_early_stopping_best_epoch", _int, _vp)
    d("ckeras_callback_free", None, _vp)
    d("ckeras_logs_count", _int, _vp)
    d("ckeras_logs_name", _str, _vp, _int)
    d("ckeras_logs_value", _dbl, _vp, _int)
    # models
    d("ckeras_sequential", "handle", _str)
    d("ckeras_model_add", "status", _vp, _vp)
    d("ckeras_model_free", None, _vp)
    d("ckeras_model_layer_count", _int, _vp)
    d("ckeras_model_layer", _vp, _vp, _int)
    d("ckeras_model_layer_by_name", _vp, _vp, _str)
    d("ckeras_model_name", _str, _vp)
    d("ckeras_model_count_params", "status", _vp, P(_i64), P(_i64), P(_i64))
    d("ckeras_model_compile", "status", _vp, _vp, _str, _str)
    d("ckeras_model_set_loss_float", "status", _vp, _str, _dbl)
    d("ckeras_fit_args_new", "handle")
    d("ckeras_fit_args_set_int", "status", _vp, _str, _i64)
    d("ckeras_fit_args_set_float", "status", _vp, _str, _dbl)
    d("ckeras_fit_args_set_validation_data", "status", _vp, _vp, _vp)
    d("ckeras_fit_args_add_callback", "status", _vp, _vp)
    d("ckeras_fit_args_set_sample_weight", "status", _vp, _int, P(_vp))
    d("ckeras_fit_args_set_validation_sample_weight", "status", _vp, _int, P(_vp))
    d("ckeras_fit_args_set_class_weight", "status", _vp, _int, P(_i64), P(_dbl))
    d("ckeras_model_evaluate_weighted", "status", _vp, _int, P(_vp), _int, P(_vp), _int, P(_vp), _int, P(_dbl),
      _int)
    d("ckeras_model_train_on_batch_weighted", "status", _vp, _int, P(_vp), _int, P(_vp), _int, P(_vp), P(_dbl),
      _int)
    d("ckeras_model_set_weighted_metrics", "status", _vp, _str, _str)
    d("ckeras_fit_args_free", None, _vp)
    d("ckeras_model_fit", "status", _vp, _vp, _vp, _vp, P(_vp))
    d("ckeras_model_evaluate", "status", _vp, _vp, _vp, _int, P(_dbl), _int)
    d("ckeras_model_metrics_count", _int, _vp)
    d("ckeras_model_metrics_name", _str, _vp, _int)
    d("ckeras_model_predict", "status", _vp, _vp, _int, P(_vp))
    d("ckeras_model_train_on_batch", "status", _vp, _vp, _vp, P(_dbl), _int)
    d("ckeras_model_summary_string", "status", _vp, _int, P(_vp))
    # history
    d("ckeras_history_epochs", _int, _vp)
    d("ckeras_history_key_count", _int, _vp)
    d("ckeras_history_key", _str, _vp, _int)
    d("ckeras_history_values", "status", _vp, _str, P(P(_dbl)), P(_int))
    d("ckeras_history_free", None, _vp)
    # data
    d("ckeras_read_csv", "status", _str, P(_vp), P(_vp))
    d("ckeras_train_test_split", "status", _vp, _vp, _dbl, ctypes.c_uint64,
      P(_vp), P(_vp), P(_vp), P(_vp))
    d("ckeras_standard_scaler_fit", "handle", _vp)
    d("ckeras_standard_scaler_transform", "status", _vp, _vp)
    d("ckeras_standard_scaler_free", None, _vp)
    # saving and loading (Keras HDF5): declared only when the library has them, so this file
    # also works with a libckeras built before they existed (see has_hdf5()).
    optional = [
        ("ckeras_model_save", "status", _vp, _str, _int),
        ("ckeras_load_model", "status", _str, _int, P(_vp)),
        ("ckeras_model_save_weights", "status", _vp, _str),
        ("ckeras_model_load_weights", "status", _vp, _str, _int),
        ("ckeras_model_to_json", "status", _vp, P(_vp)),
        ("ckeras_model_from_json", "status", _str, P(_vp)),
        ("ckeras_read_npy", "status", _str, P(_vp)),
        ("ckeras_write_npy", "status", _str, _vp),
    ]
    for name, restype, *argtypes in optional:
        if hasattr(_lib, name):
            d(name, restype, *argtypes)

# ckeras_callback_fn: status (*)(event, index, const logs *, void *user_data)
_CALLBACK_FN = ctypes.CFUNCTYPE(_status, _int, _int, _vp, _vp)
_declare_all()


def _b(s):
    return None if s is None else (s.encode("utf-8") if isinstance(s, str) else s)


def _s(b):
    return None if b is None else b.decode("utf-8", "replace")


def _flush_stdout():
    """Lines the C library prints (progress bar) and Python's own stay in order."""
    try:
        sys.stdout.flush()
    except (AttributeError, ValueError):
        pass


def _flush_c_stdout():
    if _libc is not None:
        _libc.fflush(None)


def version():
    """The library's version, "MAJOR.MINOR.PATCH"."""
    return _s(_lib.ckeras_version())


def build_info():
    """One line: version, GEMM kernel set, thread count."""
    return _s(_lib.ckeras_build_info())


def set_random_seed(seed):
    """keras.utils.set_random_seed: seeds every model made afterwards."""
    _lib.ckeras_set_random_seed(int(seed))


def set_num_threads(n):
    _lib.ckeras_set_num_threads(int(n))


def get_num_threads():
    return _lib.ckeras_num_threads()


def has_hdf5():
    """True when the library has model save/load (Keras HDF5 files)."""
    return hasattr(_lib, "ckeras_model_save") and hasattr(_lib, "ckeras_load_model")


# ---- handles --------------------------------------------------------------------------------

class _Handle(object):
    """Owns (or borrows) one C handle. close() frees an owned handle; so does the collector."""

    _free_name = None
    _h = None
    _owned = False
    _parent = None

    def __init__(self, handle, owned=True, parent=None):
        self._h = handle
        self._owned = owned
        self._parent = parent  # keeps the owner of a borrowed handle alive

    def _ptr(self):
        if not self._h:
            raise ValueError("%s: the handle was freed or given to a model" % type(self).__name__)
        return self._h

    def _release(self, parent=None):
        """The handle now belongs to the library (a model took it): stop owning it."""
        self._owned = False
        self._parent = parent
        if parent is None:
            self._h = None

    def close(self):
        h, self._h = self._h, None
        if h and self._owned and self._free_name:
            getattr(_lib, self._free_name)(h)
        self._parent = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass


# ---- tensors ----------------------------------------------------------------------------------

def _shape_of(data):
    shape = []
    while isinstance(data, (list, tuple)):
        shape.append(len(data))
        if not data:
            break
        data = data[0]
    return shape


def _flatten(data, shape, depth, out):
    if depth == len(shape):
        if isinstance(data, (list, tuple)):
            raise ValueError("ragged nested list: too deep at axis %d" % depth)
        out.append(float(data))
        return
    if not isinstance(data, (list, tuple)) or len(data) != shape[depth]:
        raise ValueError("ragged nested list: axis %d should have length %d" % (depth, shape[depth]))
    for item in data:
        _flatten(item, shape, depth + 1, out)


class Tensor(_Handle):
    """A ckeras float32 array. Tensor(data) copies a nested list or NumPy array."""

    _free_name = "ckeras_tensor_free"

    def __init__(self, data=None, _handle=None, _owned=True, _parent=None):
        if _handle is not None:
            _Handle.__init__(self, _handle, _owned, _parent)
            return
        if isinstance(data, Tensor):
            shape, ptr = data.shape, _lib.ckeras_tensor_data(data._ptr())
        elif _np is not None and isinstance(data, _np.ndarray) or (
                _np is not None and not isinstance(data, (list, tuple)) and hasattr(data, "__array__")):
            arr = _np.ascontiguousarray(data, dtype=_np.float32)
            shape, ptr = arr.shape, arr.ctypes.data_as(_fp)
            self._keep = arr
        else:
            shape = _shape_of(data)
            flat = []
            _flatten(data, shape, 0, flat)
            buf = (ctypes.c_float * max(len(flat), 1))(*flat)
            shape, ptr = tuple(shape), ctypes.cast(buf, _fp)
            self._keep = buf
        dims = (_i64 * max(len(shape), 1))(*shape)
        _Handle.__init__(self, _lib.ckeras_tensor_copy(ptr, len(shape), dims))
        self._keep = None

    @classmethod
    def zeros(cls, shape):
        shape = tuple(int(s) for s in shape)
        dims = (_i64 * max(len(shape), 1))(*shape)
        return cls(_handle=_lib.ckeras_tensor_new(len(shape), dims))

    @property
    def shape(self):
        h = self._ptr()
        return tuple(_lib.ckeras_tensor_dim(h, i) for i in range(_lib.ckeras_tensor_ndim(h)))

    @property
    def ndim(self):
        return _lib.ckeras_tensor_ndim(self._ptr())

    @property
    def size(self):
        return _lib.ckeras_tensor_size(self._ptr())

    def __len__(self):
        return self.shape[0]

    def _values(self):
        return _lib.ckeras_tensor_data(self._ptr())

    def numpy(self):
        """A NumPy copy (requires NumPy)."""
        if _np is None:
            raise ImportError("numpy is not installed; use tolist()")
        n = self.size
        if n == 0:
            return _np.zeros(self.shape, dtype=_np.float32)
        return _np.ctypeslib.as_array(self._values(), shape=(n,)).reshape(self.shape).copy()

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def tolist(self):
        """The values as nested Python lists."""
        shape, p = self.shape, self._values()
        flat = [p[i] for i in range(self.size)]

        def build(depth, offset):
            if depth == len(shape):
                return flat[offset]
            stride = 1
            for s in shape[depth + 1:]:
                stride *= s
            return [build(depth + 1, offset + i * stride) for i in range(shape[depth])]
        return build(0, 0)

    def __repr__(self):
        return "<ckeras.Tensor shape=%s>" % (self.shape if self._h else "freed",)


def _as_tensor(x):
    """(Tensor, keep-alive) for any accepted data; a Tensor is passed through without a copy."""
    if isinstance(x, Tensor):
        return x
    return Tensor(x)


def _result(t):
    """predict() output: NumPy when available, else nested lists."""
    try:
        return t.numpy() if _np is not None else t.tolist()
    finally:
        t.close()


# ---- layers -----------------------------------------------------------------------------------

class Layer(_Handle):
    """A layer. Owned by Python until added to a model, then a view into the model."""

    _free_name = "ckeras_layer_free"

    def __init__(self, handle, owned=True, parent=None, **kwargs):
        _Handle.__init__(self, handle, owned, parent)
        try:
            self.set(**kwargs)
        except Exception:
            self.close()
            raise

    def set(self, **kwargs):
        """Sets Keras keyword arguments by name: set(use_bias=False, kernel_initializer="he_normal")."""
        h = self._ptr()
        for key, value in kwargs.items():
            name = _b(key)
            if value is None:
                continue
            elif key == "name":
                _lib.ckeras_layer_set_name(h, _b(value))
            elif key == "trainable":
                _lib.ckeras_layer_set_trainable(h, 1 if value else 0)
            elif isinstance(value, bool):
                _lib.ckeras_layer_set_bool(h, name, 1 if value else 0)
            elif isinstance(value, int):
                _lib.ckeras_layer_set_int(h, name, value)
            elif isinstance(value, float):
                _lib.ckeras_layer_set_float(h, name, value)
            elif isinstance(value, str):
                _lib.ckeras_layer_set_str(h, name, _b(value))
            elif isinstance(value, (tuple, list)):
                arr = (_i64 * max(len(value), 1))(*[int(v) for v in value])
                _lib.ckeras_layer_set_ints(h, name, len(value), arr)
            else:
                raise TypeError("%s: unsupported value %r" % (key, value))
        return self

    @property
    def name(self):
        return _s(_lib.ckeras_layer_name(self._ptr()))

    @property
    def class_name(self):
        return _s(_lib.ckeras_layer_class(self._ptr()))

    @property
    def trainable(self):
        return _lib.ckeras_layer_trainable(self._ptr()) == 1

    @trainable.setter
    def trainable(self, flag):
        _lib.ckeras_layer_set_trainable(self._ptr(), 1 if flag else 0)

    def _weight_views(self):
        h = self._ptr()
        views = []
        for i in range(_lib.ckeras_layer_weight_count(h)):
            name, view = _str(), _vp()
            _lib.ckeras_layer_weight(h, i, ctypes.byref(name), ctypes.byref(view))
            views.append((_s(name.value), Tensor(_handle=view.value)))
        return views

    def get_weights(self):
        """Copies of the weights (kernel, bias, ...) of a built layer."""
        out = []
        for _, view in self._weight_views():
            out.append(_result(view))
        return out

    def set_weights(self, weights):
        views = self._weight_views()
        try:
            if len(weights) != len(views):
                raise ValueError("set_weights: layer %s has %d weights, got %d" % (self.name, len(views), len(weights)))
            for (name, view), w in zip(views, weights):
                src = _as_tensor(w)
                if src.shape != view.shape:
                    raise ValueError("set_weights: %s has shape %s, got %s" % (name, view.shape, src.shape))
                ctypes.memmove(view._values(), src._values(), 4 * view.size)
        finally:
            for _, view in views:
                view.close()

    def __repr__(self):
        return "<ckeras.%s name=%s>" % (self.class_name, self.name) if self._h else "<ckeras.Layer freed>"


def Input(shape, name=None):
    """keras.Input(shape=...): the per-sample shape, without the batch axis."""
    shape = tuple(int(s) for s in shape)
    arr = (_i64 * max(len(shape), 1))(*shape)
    return Layer(_lib.ckeras_input(len(shape), arr), name=name)


def Dense(units, activation=None, **kwargs):
    """keras.layers.Dense(units, activation=None, use_bias=True, kernel_initializer=..., ...)."""
    return Layer(_lib.ckeras_dense(int(units), _b(activation)), **kwargs)


def Dropout(rate, **kwargs):
    return Layer(_lib.ckeras_dropout(float(rate)), **kwargs)


def Activation(activation, **kwargs):
    return Layer(_lib.ckeras_activation(_b(activation)), **kwargs)


def Flatten(**kwargs):
    return Layer(_lib.ckeras_flatten(), **kwargs)


def layer_from_config(class_name, config):
    """A layer from its Keras class name and get_config() (a dict or JSON text)."""
    if not isinstance(config, (str, bytes)):
        import json
        config = json.dumps(config)
    return Layer(_lib.ckeras_layer_from_config(_b(class_name), _b(config)))


# ---- optimizers -------------------------------------------------------------------------------

class Optimizer(_Handle):
    """An optimizer; compile() hands it to the model."""

    _free_name = "ckeras_optimizer_free"

    def __init__(self, handle, **kwargs):
        _Handle.__init__(self, handle)
        try:
            for key, value in kwargs.items():
                if value is not None:
                    _lib.ckeras_optimizer_set_float(handle, _b(key), float(value))
        except Exception:
            self.close()
            raise

    @classmethod
    def from_name(cls, name):
        return cls(_lib.ckeras_optimizer_from_name(_b(name)))

    @property
    def iterations(self):
        return _lib.ckeras_optimizer_iterations(self._ptr())


def SGD(learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
    return Optimizer(_lib.ckeras_sgd(learning_rate, momentum, 1 if nesterov else 0), **kwargs)


def Adam(learning_rate=0.001, **kwargs):
    """keras.optimizers.Adam; other keywords (beta_1, beta_2, epsilon, amsgrad, clipnorm, ...)."""
    return Optimizer(_lib.ckeras_adam(learning_rate), **kwargs)


def AdamW(learning_rate=0.001, weight_decay=0.004, **kwargs):
    return Optimizer(_lib.ckeras_adamw(learning_rate, weight_decay), **kwargs)


def RMSprop(learning_rate=0.001, **kwargs):
    return Optimizer(_lib.ckeras_rmsprop(learning_rate), **kwargs)


def Adagrad(learning_rate=0.001, **kwargs):
    return Optimizer(_lib.ckeras_adagrad(learning_rate), **kwargs)


# ---- callbacks --------------------------------------------------------------------------------

class Callback(_Handle):
    """A callback; fit() borrows it, so it can be queried after training."""

    _free_name = "ckeras_callback_free"

    def _set(self, **kwargs):
        h = self._ptr()
        for key, value in kwargs.items():
            if value is None:
                continue
            if isinstance(value, str):
                _lib.ckeras_callback_set_str(h, _b(key), _b(value))
            else:
                _lib.ckeras_callback_set_float(h, _b(key), float(value))
        return self


class EarlyStopping(Callback):
    """keras.callbacks.EarlyStopping(monitor="val_loss", patience=0, min_delta=0, mode="auto",
    baseline=None, restore_best_weights=False, start_from_epoch=0, verbose=0)."""

    def __init__(self, monitor="val_loss", patience=0, **kwargs):
        Callback.__init__(self, _lib.ckeras_early_stopping(_b(monitor), int(patience)))
        try:
            self._set(**kwargs)
        except Exception:
            self.close()
            raise

    @property
    def stopped_epoch(self):
        """0-based epoch at which training stopped (0 if it did not)."""
        return _lib.ckeras_early_stopping_stopped_epoch(self._ptr())

    @property
    def best_epoch(self):
        return _lib.ckeras_early_stopping_best_epoch(self._ptr())


class TerminateOnNaN(Callback):
    def __init__(self):
        Callback.__init__(self, _lib.ckeras_terminate_on_nan())


def _logs_dict(logs):
    n = _lib.ckeras_logs_count(logs)
    return {_s(_lib.ckeras_logs_name(logs, i)): _lib.ckeras_logs_value(logs, i) for i in range(n)}


class LambdaCallback(Callback):
    """keras.callbacks.LambdaCallback(on_epoch_begin=, on_epoch_end=, on_batch_begin=,
    on_batch_end=, on_train_begin=, on_train_end=). Each function gets (index, logs) (the
    train ones get (logs)); returning True stops training after this epoch (Keras'
    model.stop_training = True). An exception stops fit() and is raised again from it."""

    _EVENTS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
               "on_batch_begin", "on_batch_end")

    def __init__(self, **functions):
        unknown = set(functions) - set(self._EVENTS)
        if unknown:
            raise TypeError("LambdaCallback: unknown events %s" % sorted(unknown))
        self._functions = [functions.get(e) for e in self._EVENTS]
        self.exception = None

        def trampoline(event, index, logs, user_data):
            fn = self._functions[event] if 0 <= event < len(self._functions) else None
            if fn is None:
                return CKERAS_OK
            try:
                d = _logs_dict(logs) if logs else {}
                stop = fn(d) if event in (0, 1) else fn(index, d)
                return CKERAS_STOP if stop is True else CKERAS_OK
            except BaseException as e:  # never let an exception unwind through C
                self.exception = e
                return 4  # CKERAS_ESTATE: fit stops and reports
        self._cfunc = _CALLBACK_FN(trampoline)  # must live as long as the C callback
        Callback.__init__(self, _lib.ckeras_lambda_callback(self._cfunc, None))


# ---- models -----------------------------------------------------------------------------------

class History(object):
    """What fit() returns: .history maps "loss", "val_loss", ... to per-epoch lists; .epoch."""

    def __init__(self, history, epoch):
        self.history = history
        self.epoch = epoch

    def __repr__(self):
        return "<ckeras.History epochs=%d keys=%s>" % (len(self.epoch), list(self.history))


def _read_history(h):
    epochs = _lib.ckeras_history_epochs(h)
    data = {}
    for i in range(_lib.ckeras_history_key_count(h)):
        key = _lib.ckeras_history_key(h, i)
        values, n = ctypes.POINTER(_dbl)(), _int()
        _lib.ckeras_history_values(h, key, ctypes.byref(values), ctypes.byref(n))
        data[_s(key)] = [values[j] for j in range(n.value)]
    return History(data, list(range(epochs)))


class Model(_Handle):
    """A model handle: what load_model() and model_from_json() return, and the base of
    Sequential. Keras' methods: compile, fit, evaluate, predict, train_on_batch, summary,
    save, save_weights, load_weights, to_json."""

    _free_name = "ckeras_model_free"

    def __init__(self, _handle):
        _Handle.__init__(self, _handle)
        self._optimizer = None

    def add(self, layer):
        """model.add(layer). The model takes the layer (also when adding fails)."""
        if not isinstance(layer, Layer):
            raise TypeError("add: expected a ckeras Layer, got %r" % (layer,))
        if not layer._owned:
            raise ValueError("add: this layer already belongs to a model")
        h = layer._ptr()
        try:
            _lib.ckeras_model_add(self._ptr(), h)
        except CkerasError:
            layer._release()  # freed by the library
            raise
        layer._release(parent=self)  # now a view into the model

    @property
    def name(self):
        return _s(_lib.ckeras_model_name(self._ptr()))

    @property
    def layers(self):
        h = self._ptr()
        return [Layer(_lib.ckeras_model_layer(h, i), owned=False, parent=self)
                for i in range(_lib.ckeras_model_layer_count(h))]

    def get_layer(self, name):
        p = _lib.ckeras_model_layer_by_name(self._ptr(), _b(name))
        if not p:
            raise ValueError("No such layer: %s" % name)
        return Layer(p, owned=False, parent=self)

    def count_params(self):
        total = _i64()
        _lib.ckeras_model_count_params(self._ptr(), ctypes.byref(total), None, None)
        return total.value

    @property
    def optimizer(self):
        return self._optimizer

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, weighted_metrics=None, **loss_settings):
        """model.compile(optimizer, loss, metrics, weighted_metrics). The model takes the optimizer.
        Extra keywords (from_logits=True, delta=...) configure the loss."""
        if isinstance(optimizer, str):
            optimizer = Optimizer.from_name(optimizer)
        if not isinstance(optimizer, Optimizer):
            raise TypeError("compile: optimizer must be a name or a ckeras Optimizer")
        if not optimizer._owned:
            raise ValueError("compile: this optimizer already belongs to a model")
        if isinstance(metrics, str):
            metrics = [metrics]
        m = ",".join(metrics) if metrics else None
        h = optimizer._ptr()
        try:
            _lib.ckeras_model_compile(self._ptr(), h, _b(loss), _b(m))
        except CkerasError:
            optimizer._release()
            raise
        optimizer._release(parent=self)
        self._optimizer = optimizer
        for key, value in loss_settings.items():
            _lib.ckeras_model_set_loss_float(self._ptr(), _b(key), float(value))
        if weighted_metrics:
            if isinstance(weighted_metrics, str):
                weighted_metrics = [weighted_metrics]
            _lib.ckeras_model_set_weighted_metrics(self._ptr(), None, _b(",".join(weighted_metrics)))

    @property
    def metrics_names(self):
        h = self._ptr()
        return [_s(_lib.ckeras_model_metrics_name(h, i)) for i in range(_lib.ckeras_model_metrics_count(h))]

    def fit(self, x, y, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None, sample_weight=None,
            initial_epoch=0, steps_per_epoch=None, validation_steps=None, validation_batch_size=None,
            validation_freq=1):
        """model.fit(...): returns a History. validation_data may be (x, y) or (x, y, sample_weight);
        class_weight is a dict {class index: weight}. With validation_freq > 1 the val_ values of the
        epochs not validated are NaN."""
        xt, yt = _as_tensor(x), _as_tensor(y)
        keep = [xt, yt]
        args = _FitArgs()
        try:
            a = args._ptr()
            _lib.ckeras_fit_args_set_int(a, b"epochs", int(epochs))
            if batch_size is not None:
                _lib.ckeras_fit_args_set_int(a, b"batch_size", int(batch_size))
            _lib.ckeras_fit_args_set_int(a, b"verbose", 1 if verbose == "auto" else int(verbose))
            _lib.ckeras_fit_args_set_int(a, b"shuffle", 1 if shuffle else 0)
            _lib.ckeras_fit_args_set_int(a, b"initial_epoch", int(initial_epoch))
            for key, value in ((b"steps_per_epoch", steps_per_epoch), (b"validation_steps", validation_steps),
                               (b"validation_batch_size", validation_batch_size),
                               (b"validation_freq", validation_freq)):
                if value is not None:
                    _lib.ckeras_fit_args_set_int(a, key, int(value))
            if validation_split:
                _lib.ckeras_fit_args_set_float(a, b"validation_split", float(validation_split))
            if validation_data is not None:
                xv, yv = _as_tensor(validation_data[0]), _as_tensor(validation_data[1])
                keep += [xv, yv]
                _lib.ckeras_fit_args_set_validation_data(a, xv._ptr(), yv._ptr())
                if len(validation_data) > 2 and validation_data[2] is not None:
                    wv = _as_tensor(validation_data[2])
                    keep.append(wv)
                    _lib.ckeras_fit_args_set_validation_sample_weight(a, 1, (_vp * 1)(wv._ptr()))
            if sample_weight is not None:
                wt = _as_tensor(sample_weight)
                keep.append(wt)
                _lib.ckeras_fit_args_set_sample_weight(a, 1, (_vp * 1)(wt._ptr()))
            if class_weight:
                items = sorted(class_weight.items())
                _lib.ckeras_fit_args_set_class_weight(a, len(items), (_i64 * len(items))(*[int(k) for k, _ in items]),
                                                      (_dbl * len(items))(*[float(v) for _, v in items]))
            for cb in callbacks or []:
                if not isinstance(cb, Callback):
                    raise TypeError("fit: callbacks must be ckeras Callbacks, got %r" % (cb,))
                if isinstance(cb, LambdaCallback):
                    cb.exception = None
                _lib.ckeras_fit_args_add_callback(a, cb._ptr())
            h = _vp()
            _flush_stdout()
            try:
                _lib.ckeras_model_fit(self._ptr(), xt._ptr(), yt._ptr(), a, ctypes.byref(h))
            except CkerasError:
                for cb in callbacks or []:
                    if isinstance(cb, LambdaCallback) and cb.exception is not None:
                        raise cb.exception
                raise
            finally:
                _flush_c_stdout()
            try:
                return _read_history(h.value)
            finally:
                _lib.ckeras_history_free(h.value)
        finally:
            args.close()
            del keep

    def evaluate(self, x, y, batch_size=None, verbose="auto", sample_weight=None, return_dict=False):
        """model.evaluate: the loss, or [loss, metric, ...], or a dict with return_dict=True."""
        xt, yt = _as_tensor(x), _as_tensor(y)
        h = self._ptr()
        n = _lib.ckeras_model_metrics_count(h)
        results = (_dbl * max(n, 1))()
        if sample_weight is None:
            _lib.ckeras_model_evaluate(h, xt._ptr(), yt._ptr(), int(batch_size or 0), results, n)
        else:
            wt = _as_tensor(sample_weight)
            _lib.ckeras_model_evaluate_weighted(h, 1, (_vp * 1)(xt._ptr()), 1, (_vp * 1)(yt._ptr()), 1,
                                                (_vp * 1)(wt._ptr()), int(batch_size or 0), results, n)
        values = [results[i] for i in range(n)]
        if return_dict:
            return dict(zip(self.metrics_names, values))
        return values[0] if n == 1 else values

    def predict(self, x, batch_size=None, verbose=0):
        """model.predict: a NumPy array (nested lists without NumPy)."""
        xt = _as_tensor(x)
        out = _vp()
        _lib.ckeras_model_predict(self._ptr(), xt._ptr(), int(batch_size or 0), ctypes.byref(out))
        return _result(Tensor(_handle=out.value))

    def train_on_batch(self, x, y, sample_weight=None):
        """One optimizer step: the loss (before the step), or [loss, metric, ...]."""
        xt, yt = _as_tensor(x), _as_tensor(y)
        h = self._ptr()
        n = _lib.ckeras_model_metrics_count(h)
        results = (_dbl * max(n, 1))()
        if sample_weight is None:
            _lib.ckeras_model_train_on_batch(h, xt._ptr(), yt._ptr(), results, n)
        else:
            wt = _as_tensor(sample_weight)
            _lib.ckeras_model_train_on_batch_weighted(h, 1, (_vp * 1)(xt._ptr()), 1, (_vp * 1)(yt._ptr()), 1,
                                                      (_vp * 1)(wt._ptr()), results, n)
        values = [results[i] for i in range(n)]
        return values[0] if n == 1 else values

    def summary(self, line_length=None, print_fn=None):
        """model.summary(): Keras' table, through print_fn (default print)."""
        text = _vp()
        _lib.ckeras_model_summary_string(self._ptr(), int(line_length or 0), ctypes.byref(text))
        try:
            s = ctypes.string_at(text.value).decode("utf-8", "replace")
        finally:
            _lib.ckeras_free(text.value)
        (print_fn or print)(s.rstrip("\n"))

    def save(self, path, include_optimizer=True):
        """model.save("model.h5"): architecture, weights, training config, optimizer state."""
        _need("ckeras_model_save")
        _lib.ckeras_model_save(self._ptr(), _b(os.fspath(path)), 0 if include_optimizer else 1)

    def save_weights(self, path):
        _need("ckeras_model_save_weights")
        _lib.ckeras_model_save_weights(self._ptr(), _b(os.fspath(path)))

    def load_weights(self, path, by_name=False, skip_mismatch=False):
        _need("ckeras_model_load_weights")
        flags = (1 if by_name else 0) | (2 if skip_mismatch else 0)
        _lib.ckeras_model_load_weights(self._ptr(), _b(os.fspath(path)), flags)

    def to_json(self):
        """model.to_json(): the model_config JSON text."""
        _need("ckeras_model_to_json")
        text = _vp()
        _lib.ckeras_model_to_json(self._ptr(), ctypes.byref(text))
        try:
            return ctypes.string_at(text.value).decode("utf-8")
        finally:
            _lib.ckeras_free(text.value)


def _need(name):
    if not hasattr(_lib, name):
        raise NotImplementedError("this libckeras has no %s (built before HDF5 support)" % name)


class Sequential(Model):
    """keras.Sequential(layers=None, name=None)."""

    def __init__(self, layers=None, name=None):
        Model.__init__(self, _lib.ckeras_sequential(_b(name)))
        for layer in layers or []:
            self.add(layer)


class _FitArgs(_Handle):
    _free_name = "ckeras_fit_args_free"

    def __init__(self):
        _Handle.__init__(self, _lib.ckeras_fit_args_new())


def load_model(path, compile=True):
    """keras.models.load_model("model.h5", compile=True)."""
    _need("ckeras_load_model")
    out = _vp()
    _lib.ckeras_load_model(_b(os.fspath(path)), 0 if compile else 1, ctypes.byref(out))
    return Model(out.value)


def model_from_json(text):
    """keras.models.model_from_json(text): a new, uncompiled model with fresh weights."""
    _need("ckeras_model_from_json")
    out = _vp()
    _lib.ckeras_model_from_json(_b(text), ctypes.byref(out))
    return Model(out.value)


# ---- data -------------------------------------------------------------------------------------

def read_csv(path):
    """Reads a CSV of numbers: (x, y) Tensors, y being the last column (shape (rows, 1))."""
    x, y = _vp(), _vp()
    _lib.ckeras_read_csv(_b(os.fspath(path)), ctypes.byref(x), ctypes.byref(y))
    return Tensor(_handle=x.value), Tensor(_handle=y.value)


def read_npy(path):
    """A NumPy .npy file as a new float32 Tensor."""
    _need("ckeras_read_npy")
    out = _vp()
    _lib.ckeras_read_npy(_b(os.fspath(path)), ctypes.byref(out))
    return Tensor(_handle=out.value)


def write_npy(path, x):
    """Writes x (Tensor, NumPy array or nested list) as a float32 .npy file."""
    _need("ckeras_write_npy")
    t = _as_tensor(x)  # a name, so that a temporary copy lives through the call
    _lib.ckeras_write_npy(_b(os.fspath(path)), t._ptr())


def train_test_split(x, y, test_size=0.25, random_state=0):
    """scikit-learn's train_test_split for one (x, y) pair: (x_train, x_test, y_train, y_test)."""
    xt, yt = _as_tensor(x), _as_tensor(y)
    outs = [_vp() for _ in range(4)]
    _lib.ckeras_train_test_split(xt._ptr(), yt._ptr(), float(test_size), int(random_state),
                                 *[ctypes.byref(o) for o in outs])
    return tuple(Tensor(_handle=o.value) for o in outs)


class StandardScaler(_Handle):
    """scikit-learn's StandardScaler: fit(x), transform(x) -> a new standardised Tensor."""

    _free_name = "ckeras_standard_scaler_free"

    def __init__(self):
        _Handle.__init__(self, None)

    def fit(self, x):
        self.close()
        t = _as_tensor(x)  # a name, so that a temporary copy lives through the call
        self._h = _lib.ckeras_standard_scaler_fit(t._ptr())
        self._owned = True
        return self

    def transform(self, x):
        out = Tensor(_as_tensor(x))  # a copy, standardised in place
        _lib.ckeras_standard_scaler_transform(self._ptr(), out._ptr())
        return out

    def fit_transform(self, x):
        return self.fit(x).transform(x)
