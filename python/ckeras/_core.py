"""Errors, tensors and small helpers shared by the package's modules."""

import ctypes
import json
import sys

import numpy as np

from ._capi import lib, last_error
from . import _capi

OK = 0
EINVAL, ENOMEM, ESHAPE, ESTATE, EIO, EFORMAT, EUNSUPPORTED, ENAN, STOP = range(1, 10)
STATUS_NAMES = {0: "CKERAS_OK", 1: "CKERAS_EINVAL", 2: "CKERAS_ENOMEM", 3: "CKERAS_ESHAPE",
                4: "CKERAS_ESTATE", 5: "CKERAS_EIO", 6: "CKERAS_EFORMAT", 7: "CKERAS_EUNSUPPORTED",
                8: "CKERAS_ENAN", 9: "CKERAS_STOP"}


class CkerasError(Exception):
    """A ckeras call failed. ``status`` (int), ``status_name`` ("CKERAS_EINVAL") and ``message``
    (ckeras_last_error() of the failed call). Each status has a subclass that is also the
    matching Python exception: ValueError (EINVAL, ESHAPE, EFORMAT, ENAN), OSError (EIO),
    MemoryError (ENOMEM), RuntimeError (ESTATE, STOP), NotImplementedError (EUNSUPPORTED)."""

    def __init__(self, status, message):
        self.status = status
        self.status_name = STATUS_NAMES.get(status, "status %d" % status)
        self.message = message
        Exception.__init__(self, "%s: %s" % (self.status_name, message))

    def __str__(self):
        return "%s: %s" % (self.status_name, self.message)


class CkerasValueError(CkerasError, ValueError):
    pass


class CkerasOSError(CkerasError, OSError):
    def __init__(self, status, message):
        CkerasError.__init__(self, status, message)

    __str__ = CkerasError.__str__


class CkerasMemoryError(CkerasError, MemoryError):
    pass


class CkerasRuntimeError(CkerasError, RuntimeError):
    pass


class CkerasNotImplementedError(CkerasError, NotImplementedError):
    pass


_CLASSES = {EINVAL: CkerasValueError, ESHAPE: CkerasValueError, EFORMAT: CkerasValueError,
            ENAN: CkerasValueError, EIO: CkerasOSError, ENOMEM: CkerasMemoryError,
            ESTATE: CkerasRuntimeError, STOP: CkerasRuntimeError, EUNSUPPORTED: CkerasNotImplementedError}


def error(status, message=None):
    """The exception for @p status with the library's last message."""
    return _CLASSES.get(status, CkerasError)(status, last_error() if message is None else message)


def check(status):
    """Raises the matching CkerasError unless @p status is CKERAS_OK."""
    if status != OK:
        raise error(status)
    return status


def check_handle(handle):
    """Raises unless the constructor's result @p handle is non-NULL (the status is read from the
    message: EINVAL unless it says otherwise)."""
    if not handle:
        msg = last_error()
        status = EINVAL
        low = msg.lower()
        if "unsupported" in low or "unknown layer class" in low:
            status = EUNSUPPORTED
        elif "out of memory" in low:
            status = ENOMEM
        raise _CLASSES[status](status, msg)
    return handle


def tensor_id(name, *args):
    """A tensor id from one of the calls that give one (see _capi.tensor_id), or the exception."""
    status, tid = _capi.tensor_id(name, *args)
    if status != OK:
        raise error(status if status > 0 else EINVAL)
    return tid


def enc(s):
    """A Python str as the C string the library expects (None stays NULL)."""
    if s is None:
        return None
    if isinstance(s, bytes):
        return s
    return str(s).encode("utf-8")


def dec(b):
    return None if b is None else b.decode("utf-8", "replace")


def take_string(pp):
    """Reads and frees (ckeras_free) a char * the library returned through @p pp."""
    if not pp.value:
        return None
    try:
        return ctypes.string_at(pp.value).decode("utf-8", "replace")
    finally:
        lib.ckeras_free(pp.value)


def shape_array(shape):
    shape = [(-1 if d is None else int(d)) for d in shape]
    return len(shape), (ctypes.c_int64 * max(1, len(shape)))(*shape)


def flush_python():
    """Flushes Python's stdout/stderr before the library prints (fit's progress bar)."""
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except Exception:
            pass


try:
    _libc = ctypes.CDLL(None)
    _libc.fflush.argtypes = [ctypes.c_void_p]
    _libc.fflush.restype = ctypes.c_int
except (OSError, AttributeError):  # pragma: no cover
    _libc = None


def flush_c():
    """Flushes C's stdio after the library printed."""
    if _libc is not None:
        _libc.fflush(None)


class Owned(object):
    """Owns a C handle (``self._h``): ``free()`` releases it once, as do ``with`` and the garbage
    collector. Subclasses say how in ``_release(handle)``."""

    _h = None

    def _release(self, handle):
        raise NotImplementedError

    def free(self):
        h, self._h = self._h, None
        if h:
            self._release(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.free()

    def __del__(self):
        try:
            self.free()
        except Exception:
            pass


class Tensor(Owned):
    """A ckeras_tensor handle over a NumPy array.

    ``Tensor.wrap(array)`` lends the array's memory to the library without a copy when it is
    float32 and C-contiguous (ckeras_tensor_wrap), as Keras passes such arrays; any other array
    is converted first (float64 input, a transposed view). The array is kept alive by the
    Tensor. ``Tensor.take(handle)`` owns a tensor the library made. Freed by ``free()``, ``with``
    or the garbage collector (never twice).
    """

    def __init__(self, handle, array=None):
        self._h = handle
        self._array = array  # the borrowed buffer, kept alive

    @classmethod
    def wrap(cls, data):
        if isinstance(data, Tensor):
            return data
        arr = data
        if not (isinstance(arr, np.ndarray) and arr.dtype == np.float32 and arr.flags["C_CONTIGUOUS"]
                and arr.flags["ALIGNED"]):
            arr = np.ascontiguousarray(np.asarray(data, dtype=np.float32))
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim > 8:
            raise ValueError("ckeras: at most 8 axes, got an array of shape %s" % (arr.shape,))
        nd, shape = shape_array(arr.shape)
        ptr = arr.ctypes.data if arr.size else None
        if ptr is None:
            # a zero-size array: the library refuses it with its own message
            h = lib.ckeras_tensor_new(nd, shape)
        else:
            h = lib.ckeras_tensor_wrap(ptr, nd, shape)
        return cls(check_handle(h), arr)

    @classmethod
    def take(cls, handle):
        return cls(check_handle(handle))

    @property
    def handle(self):
        if not self._h:
            raise ValueError("ckeras: the tensor was freed")
        return self._h

    @property
    def shape(self):
        n = lib.ckeras_tensor_ndim(self.handle)
        return tuple(lib.ckeras_tensor_dim(self.handle, i) for i in range(n))

    @property
    def data_pointer(self):
        """The address of the tensor's floats (ckeras_tensor_data)."""
        return lib.ckeras_tensor_data(self.handle)

    def numpy(self):
        """A NumPy copy of the tensor's data."""
        shape = self.shape
        size = int(np.prod(shape)) if shape else 1
        if size == 0:
            return np.zeros(shape, dtype=np.float32)
        buf = (ctypes.c_float * size).from_address(self.data_pointer)
        return np.frombuffer(buf, dtype=np.float32, count=size).reshape(shape).copy()

    def _release(self, handle):
        lib.ckeras_tensor_free(handle)


def handle_array(tensors):
    """A C array of the tensors' handles (None gives NULL)."""
    arr = (ctypes.c_void_p * max(1, len(tensors)))()
    for i, t in enumerate(tensors):
        arr[i] = t.handle if t is not None else None
    return arr


def to_json(obj):
    return json.dumps(obj, default=_json_default)


def _json_default(o):
    if hasattr(o, "get_config") and getattr(o, "class_name", None):
        return {"class_name": o.class_name, "config": o.get_config()}
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if callable(o) and hasattr(o, "__name__"):
        return o.__name__
    raise TypeError("ckeras: cannot put %r in a layer config" % (o,))
