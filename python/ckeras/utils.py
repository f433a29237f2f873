"""Keras utilities: ``set_random_seed``, ``to_categorical``."""

import numpy as np

from ._capi import lib
from .data import image_dataset_from_directory  # noqa: F401 (Keras' keras.utils name)

__all__ = ["set_random_seed", "to_categorical", "train_test_split", "StandardScaler", "image_dataset_from_directory"]


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
