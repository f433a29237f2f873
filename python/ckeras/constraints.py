"""Keras constraints for layer keywords (``kernel_constraint=constraints.MaxNorm(2)``)."""
from ._config_objects import make

__all__ = make(globals(), [("MaxNorm", ("max_value", "axis")), ("NonNeg", ()), ("UnitNorm", ("axis",)),
                           ("MinMaxNorm", ("min_value", "max_value", "rate", "axis"))])
