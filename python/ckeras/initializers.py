"""Keras initializers for layer keywords (``kernel_initializer=initializers.HeNormal(seed=1)``)."""
from ._config_objects import make

__all__ = make(globals(), [
    ("Zeros", ()), ("Ones", ()), ("Constant", ("value",)), ("RandomNormal", ("mean", "stddev", "seed")),
    ("RandomUniform", ("minval", "maxval", "seed")), ("TruncatedNormal", ("mean", "stddev", "seed")),
    ("GlorotUniform", ("seed",)), ("GlorotNormal", ("seed",)), ("HeUniform", ("seed",)), ("HeNormal", ("seed",)),
    ("LecunUniform", ("seed",)), ("LecunNormal", ("seed",)), ("Orthogonal", ("gain", "seed")),
    ("Identity", ("gain",)), ("VarianceScaling", ("scale", "mode", "distribution", "seed"))])
