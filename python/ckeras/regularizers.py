"""Keras regularizers for layer keywords (``kernel_regularizer=regularizers.L2(0.01)``)."""
from ._config_objects import make

__all__ = make(globals(), [("L1", ("l1",)), ("L2", ("l2",)), ("L1L2", ("l1", "l2"))])
