"""Keras utilities: ``set_random_seed``, ``to_categorical``."""

import numpy as np

from ._capi import lib
from .data import image_dataset_from_directory  # noqa: F401 (Keras' keras.utils name)

__all__ = ["set_random_seed", "to_categorical", "train_test_split", "StandardScaler", "image_dataset_from_directory",
           "read_npy", "write_npy", "read_npz", "write_npz", "read_idx", "load_img", "read_csv", "model_to_dot",
           "plot_model", "plot_history"]


def set_random_seed(seed):
    """Keras ``keras.utils.set_random_seed``: seeds every model made afterwards (weights,
    shuffling, dropout); also seeds NumPy's global generator and Python's, as Keras does."""
    import random
    lib.ckeras_set_random_seed(int(seed))
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))


def to_categorical(x, num_classes=None):
    """Keras ``to_categorical``: class indices to one-hot rows (float32)."""
    y = np.asarray(x, dtype="int64")
    shape = y.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    y = y.reshape(-1)
    if num_classes is None:
        num_classes = int(y.max()) + 1
    out = np.zeros((y.shape[0], num_classes), dtype=np.float32)
    out[np.arange(y.shape[0]), y] = 1.0
    return out.reshape(tuple(shape) + (num_classes,))


def train_test_split(x, y, test_size=0.25, random_state=0, **kwargs):
    """scikit-learn's ``train_test_split(x, y, test_size, random_state)`` by the library
    (ckeras_train_test_split: the test part is the first ceil(test_size * n) rows of a seeded
    shuffle), so a program gets the split of the C examples. Returns NumPy arrays
    ``x_train, x_test, y_train, y_test``; the split differs from scikit-learn's own draw."""
    import ctypes
    from ._core import Tensor, check
    tx, ty = Tensor.wrap(x), Tensor.wrap(y)
    outs = [ctypes.c_void_p() for _ in range(4)]
    check(lib.ckeras_train_test_split(tx.handle, ty.handle, float(test_size), int(random_state or 0),
                                      *[ctypes.byref(o) for o in outs]))
    res = []
    for o in outs:
        with Tensor.take(o.value) as t:
            res.append(t.numpy())
    return res


class StandardScaler(object):
    """scikit-learn's ``StandardScaler`` by the library (ckeras_standard_scaler_*): per-feature
    mean and population standard deviation of the last axis."""

    def __init__(self):
        self._h = None

    def fit(self, x):
        from ._core import Tensor, check_handle
        self._free()
        t = Tensor.wrap(x)  # alive during the call
        self._h = check_handle(lib.ckeras_standard_scaler_fit(t.handle))
        return self

    def transform(self, x):
        """A standardised float32 copy of @p x."""
        from ._core import Tensor, check
        if self._h is None:
            raise ValueError("StandardScaler: call fit first")
        out = np.array(x, dtype=np.float32, order="C", copy=True)
        t = Tensor.wrap(out)  # borrows out
        check(lib.ckeras_standard_scaler_transform(self._h, t.handle))
        return out

    def fit_transform(self, x):
        return self.fit(x).transform(x)

    def _free(self):
        h, self._h = self._h, None
        if h:
            lib.ckeras_standard_scaler_free(h)

    def __del__(self):
        try:
            self._free()
        except Exception:
            pass


# ---- files the library reads and writes -------------------------------------------------------

def _take_array(out):
    from ._core import Tensor
    with Tensor.take(out.value) as t:
        return t.numpy()


def read_npy(path):
    """A .npy file as a float32 array (ckeras_read_npy)."""
    import ctypes
    from ._core import check, enc
    out = ctypes.c_void_p()
    check(lib.ckeras_read_npy(enc(str(path)), ctypes.byref(out)))
    return _take_array(out)


def write_npy(path, array):
    """Writes @p array as a float32 .npy file, atomically (ckeras_write_npy)."""
    from ._core import Tensor, check, enc
    t = Tensor.wrap(array)
    check(lib.ckeras_write_npy(enc(str(path)), t.handle))


def read_npz(path):
    """A .npz archive as a dict of float32 arrays, in the archive's order (ckeras_read_npz)."""
    import ctypes
    from ._core import check, dec, enc, Tensor
    count = ctypes.c_int()
    names = ctypes.POINTER(ctypes.c_char_p)()
    arrays = ctypes.POINTER(ctypes.c_void_p)()
    check(lib.ckeras_read_npz(enc(str(path)), ctypes.byref(count), ctypes.byref(names), ctypes.byref(arrays)))
    try:
        out = {}
        for i in range(count.value):
            view = Tensor(arrays[i])   # borrowed: ckeras_npz_free frees the tensors
            try:
                out[dec(names[i])] = view.numpy()
            finally:
                view._h = None
        return out
    finally:
        lib.ckeras_npz_free(count.value, ctypes.cast(names, ctypes.POINTER(ctypes.c_void_p)), arrays)


def write_npz(path, **arrays):
    """``numpy.savez(path, name=array, ...)`` by the library (stored, float32; ckeras_write_npz)."""
    import ctypes
    from ._core import Tensor, check, enc, handle_array
    names = list(arrays)
    tensors = [Tensor.wrap(arrays[k]) for k in names]
    check(lib.ckeras_write_npz(enc(str(path)), len(names), (ctypes.c_char_p * max(1, len(names)))(*map(enc, names)),
                               handle_array(tensors)))


def read_idx(path):
    """An IDX file (MNIST format, plain or gzip) as a float32 array (ckeras_read_idx)."""
    import ctypes
    from ._core import check, enc
    out = ctypes.c_void_p()
    check(lib.ckeras_read_idx(enc(str(path)), ctypes.byref(out)))
    return _take_array(out)


def load_img(path, color_mode="rgb", target_size=None):
    """Keras ``load_img`` + ``img_to_array``: a PNG or JPEG as float32 (height, width, channels),
    values 0..255, resized bilinearly to @p target_size (ckeras_read_image)."""
    import ctypes
    from ._core import check, enc
    h, w = target_size if target_size else (0, 0)
    out = ctypes.c_void_p()
    check(lib.ckeras_read_image(enc(str(path)), enc(color_mode), int(h), int(w), ctypes.byref(out)))
    return _take_array(out)


def read_csv(path):
    """A CSV file of numbers as ``(x, y)``: the last column is y (n, 1) (ckeras_read_csv)."""
    import ctypes
    from ._core import check, enc
    x, y = ctypes.c_void_p(), ctypes.c_void_p()
    check(lib.ckeras_read_csv(enc(str(path)), ctypes.byref(x), ctypes.byref(y)))
    return _take_array(x), _take_array(y)


def model_to_dot(model, show_shapes=False, show_dtype=False, show_trainable=False, rankdir="TB", **kwargs):
    """Keras ``model_to_dot``: the graph as graphviz DOT text (ckeras_model_to_dot)."""
    import ctypes
    from ._core import check, take_string
    flags = (1 if show_shapes else 0) | (2 if show_dtype else 0) | (4 if show_trainable else 0) | \
        (8 if rankdir == "LR" else 0)
    out = ctypes.c_void_p()
    check(lib.ckeras_model_to_dot(model._handle(), flags, ctypes.byref(out)))
    return take_string(out)


def plot_model(model, to_file="model.dot", show_shapes=False, show_dtype=False, show_trainable=False,
               rankdir="TB", **kwargs):
    """Keras ``plot_model``, written as DOT text (render with ``dot -Tpng model.dot``)."""
    with open(to_file, "w") as f:
        f.write(model_to_dot(model, show_shapes, show_dtype, show_trainable, rankdir))


def plot_history(history, path, title=None):
    """Draws a History (or a CSVLogger file) as an SVG: one panel per quantity, validation
    dashed (ckeras_history_plot_svg)."""
    import ctypes
    from ._core import check, enc
    if isinstance(history, str):
        h = ctypes.c_void_p()
        check(lib.ckeras_history_read_csv(enc(history), ctypes.byref(h)))
        try:
            check(lib.ckeras_history_plot_svg(h, enc(str(path)), enc(title)))
        finally:
            lib.ckeras_history_free(h)
        return
    if getattr(history, "_h", None) is None:
        raise ValueError("plot_history: a History returned by fit, or a CSVLogger file")
    check(lib.ckeras_history_plot_svg(history._h, enc(str(path)), enc(title)))
