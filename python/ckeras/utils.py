"""Keras utilities: ``set_random_seed``, ``to_categorical``."""

import numpy as np

from ._capi import lib

__all__ = ["set_random_seed", "to_categorical"]


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
