"""Data-parallel training over MPI (a library built with ``make MPI=1``, the program started by
``mpiexec -n N``): ``init()`` before building models, then fit as usual on every rank."""

from ._capi import lib
from ._core import check

__all__ = ["init", "rank", "size", "set_timeout", "shutdown"]


def init():
    """Starts distributed training on MPI_COMM_WORLD (CKERAS_EUNSUPPORTED without MPI)."""
    check(lib.ckeras_distributed_init())


def rank():
    return int(lib.ckeras_distributed_rank())


def size():
    return int(lib.ckeras_distributed_size())


def set_timeout(seconds):
    check(lib.ckeras_distributed_set_timeout(float(seconds)))


def shutdown():
    check(lib.ckeras_distributed_shutdown())
