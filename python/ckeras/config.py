"""Process-wide settings of the library (threads, size limits) and its version."""

from ._capi import lib
from ._core import check, dec

__all__ = ["set_num_threads", "get_num_threads", "set_max_tensor_size", "get_max_tensor_size",
           "set_max_model_params", "get_max_model_params", "version_number", "status_name"]


def set_num_threads(n):
    """Threads for the library's GEMMs and loops (0: all cores)."""
    check(lib.ckeras_set_num_threads(int(n)))


def get_num_threads():
    return int(lib.ckeras_get_num_threads())


def set_max_tensor_size(elements):
    """The most elements one tensor may have (default 2^34)."""
    check(lib.ckeras_set_max_tensor_size(int(elements)))


def get_max_tensor_size():
    return int(lib.ckeras_get_max_tensor_size())


def set_max_model_params(params):
    """The most parameters one model may have (default 2^34)."""
    check(lib.ckeras_set_max_model_params(int(params)))


def get_max_model_params():
    return int(lib.ckeras_get_max_model_params())


def version_number():
    """MAJOR * 10000 + MINOR * 100 + PATCH of the loaded library."""
    return int(lib.ckeras_version_number())


def status_name(status):
    """"CKERAS_EINVAL" for 1, ..."""
    return dec(lib.ckeras_status_name(int(status)))
