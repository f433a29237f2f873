"""Keras data sets read by the library: ``ckeras.datasets.fashion_mnist.load_data()`` (from
Debian's dataset-fashion-mnist, /usr/share/datasets/fashion-mnist, or @p path)."""

import ctypes

import numpy as np

from ._capi import lib
from ._core import Tensor, check, enc

__all__ = ["fashion_mnist"]


class _FashionMNIST(object):
    def load_data(self, path=None):
        """((x_train, y_train), (x_test, y_test)) as Keras gives them: uint8 images (n, 28, 28)
        and uint8 labels (n,)."""
        outs = [ctypes.c_void_p() for _ in range(4)]
        check(lib.ckeras_datasets_fashion_mnist(enc(path), *[ctypes.byref(o) for o in outs]))
        arrs = []
        for o in outs:
            with Tensor.take(o.value) as t:
                arrs.append(t.numpy().astype(np.uint8))
        return (arrs[0], arrs[1]), (arrs[2], arrs[3])


fashion_mnist = _FashionMNIST()
