"""Data larger than memory: sources that serve samples on request (ckeras_data_source), passed to
``fit``, ``evaluate`` and ``predict`` in place of arrays.

- ``image_dataset_from_directory(...)``: Keras' function (images decoded batch by batch);
- ``hdf5_source(path, x_datasets, y_datasets)``: rows of HDF5 data sets, read on request;
- ``PySource(n_samples, fill, input_shapes, target_shapes)``: a Python function fills the
  samples the library asks for.
"""

import ctypes

import numpy as np

from ._capi import lib, DATA_FILL_FN, DATA_FREE_FN
from ._core import EINVAL, OK, Owned, check, dec, enc

__all__ = ["DataSource", "PySource", "image_dataset_from_directory", "hdf5_source"]


class DataSource(Owned):
    """A ckeras_data_source handle (freed with the object). ``batch_size`` is the default batch
    size of fit/evaluate/predict on it (Keras' datasets are batched)."""

    def __init__(self, handle, batch_size=None):
        self._h = handle
        self.batch_size = batch_size
        self._error = None

    @property
    def handle(self):
        if not self._h:
            raise ValueError("ckeras: the data source was freed")
        return self._h

    def __len__(self):
        return int(lib.ckeras_data_source_count(self.handle))

    @property
    def class_names(self):
        n = lib.ckeras_data_source_class_count(self.handle)
        return [dec(lib.ckeras_data_source_class_name(self.handle, i)) for i in range(n)]

    @property
    def file_paths(self):
        return [dec(lib.ckeras_data_source_file_path(self.handle, i)) for i in range(len(self))]

    def _input_shape(self, i, targets=0):
        """The per-sample shape of input (or target) @p i. ckeras_data_source_shape() does not
        return the rank: the entries it leaves untouched end the shape."""
        unset = -(2 ** 63)
        shape = (ctypes.c_int64 * 8)(*([unset] * 8))
        if lib.ckeras_data_source_shape(self.handle, targets, i, shape) <= i:
            raise ValueError("data source: no %s %d" % ("target" if targets else "input", i))
        return tuple(d for d in shape[:7] if d != unset)

    def _check_error(self):
        e, self._error = self._error, None
        if e is not None:
            raise e

    def _release(self, handle):
        lib.ckeras_data_source_free(handle)


def _new_out():
    return ctypes.c_void_p()


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                 color_mode="rgb", batch_size=32, image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear", **kwargs):
    """Keras ``image_dataset_from_directory``: one subfolder per class; PNG and JPEG; the same
    files as Keras for a given seed and validation_split. ``subset="both"`` gives two sources."""
    if labels != "inferred" or class_names is not None or interpolation != "bilinear":
        raise NotImplementedError("image_dataset_from_directory: labels='inferred', class_names=None and "
                                  "interpolation='bilinear' only")
    if subset == "both":
        return (image_dataset_from_directory(directory, labels, label_mode, None, color_mode, batch_size,
                                             image_size, shuffle, seed, validation_split, "training"),
                image_dataset_from_directory(directory, labels, label_mode, None, color_mode, batch_size,
                                             image_size, shuffle, seed, validation_split, "validation"))
    out = _new_out()
    h, w = image_size
    check(lib.ckeras_image_dataset_from_directory(enc(str(directory)), enc(label_mode), enc(color_mode), int(h),
                                                  int(w), 1 if shuffle else 0, -1 if seed is None else int(seed),
                                                  float(validation_split or 0.0), enc(subset), ctypes.byref(out)))
    return DataSource(out.value, batch_size)


def hdf5_source(path, x_datasets, y_datasets=(), batch_size=32):
    """Samples from data sets of an HDF5 file, read on request (one per model input, one per
    target)."""
    xs = [x_datasets] if isinstance(x_datasets, str) else list(x_datasets)
    ys = [y_datasets] if isinstance(y_datasets, str) else list(y_datasets)
    out = _new_out()
    check(lib.ckeras_data_source_hdf5(enc(str(path)), len(xs), (ctypes.c_char_p * max(1, len(xs)))(*map(enc, xs)),
                                      len(ys), (ctypes.c_char_p * max(1, len(ys)))(*map(enc, ys)),
                                      ctypes.byref(out)))
    return DataSource(out.value, batch_size)


class PySource(DataSource):
    """A source served by Python: ``fill(indices, xs, ys)`` writes samples ``indices`` (a NumPy
    int64 array) into ``xs[j]`` (one float32 array (n,) + input_shapes[j] per input) and ``ys[k]``
    (likewise, or None when the call needs no targets). An exception stops the call and is raised
    when fit/evaluate/predict returns."""

    def __init__(self, n_samples, fill, input_shapes, target_shapes=(), batch_size=32):
        self._fill = fill
        self._in = [tuple(s) for s in input_shapes]
        self._tg = [tuple(s) for s in target_shapes]

        def call(user_data, indices, n, x, y):
            try:
                idx = np.ctypeslib.as_array(indices, shape=(n,)).copy()
                xs = [self._view(x[j], (n,) + s) for j, s in enumerate(self._in)]
                ys = None if not y else [self._view(y[k], (n,) + s) if y[k] else None
                                         for k, s in enumerate(self._tg)]
                self._fill(idx, xs, ys)
                return OK
            except BaseException as e:  # never into C
                self._error = e
                return EINVAL

        self._fn = DATA_FILL_FN(call)  # alive as long as the source
        out = _new_out()
        check(lib.ckeras_data_source_new(int(n_samples), self._fn, None, ctypes.cast(None, DATA_FREE_FN),
                                         ctypes.byref(out)))
        DataSource.__init__(self, out.value, batch_size)
        for s in self._in:
            check(lib.ckeras_data_source_add_input(self._h, len(s), (ctypes.c_int64 * max(1, len(s)))(*s)))
        for s in self._tg:
            check(lib.ckeras_data_source_add_target(self._h, len(s), (ctypes.c_int64 * max(1, len(s)))(*s)))

    @staticmethod
    def _view(ptr, shape):
        size = int(np.prod(shape))
        buf = (ctypes.c_float * max(1, size)).from_address(ptr)
        return np.frombuffer(buf, dtype=np.float32, count=size).reshape(shape)
