"""ckeras from Python: Keras' API over the C library libckeras, through ctypes only.

    import ckeras as keras
    model = keras.Sequential([keras.Input(shape=(30,)),
                              keras.layers.Dense(100, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=100, validation_split=0.2,
                        callbacks=[keras.callbacks.EarlyStopping(patience=5)])

The library is found through CKERAS_LIBRARY, the build tree, or the system (see ckeras._capi).
Every failing call raises a CkerasError subclass (ValueError, OSError, ...) carrying
ckeras_last_error().
"""

from ._capi import lib as _lib
from ._core import (CkerasError, CkerasMemoryError, CkerasNotImplementedError, CkerasOSError,
                    CkerasRuntimeError, CkerasValueError, Tensor)
from . import callbacks, config, constraints, data, datasets, distributed, initializers, layers, losses, metrics, optimizers, regularizers, utils
from .layers import Input, KerasTensor, Layer
from .models import Model, Sequential, load_model, model_from_json
from . import models
from ._core import dec as _dec

__version__ = _dec(_lib.ckeras_version())


def version():
    """The library's version (Keras' ``keras.version()``)."""
    return __version__


__all__ = ["CkerasError", "Input", "Layer", "Model", "Sequential", "Tensor", "callbacks", "config", "constraints", "data", "distributed",
           "datasets", "initializers", "layers", "load_model", "losses", "metrics", "model_from_json", "models",
           "optimizers", "regularizers", "utils", "set_random_seed", "set_num_threads", "get_num_threads",
           "build_info"]

set_random_seed = utils.set_random_seed


set_num_threads = config.set_num_threads
get_num_threads = config.get_num_threads


def build_info():
    """One line: version, GEMM kernels, threads."""
    return _dec(_lib.ckeras_build_info())
