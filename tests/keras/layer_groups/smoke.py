"""Layers ckeras already had before the catalogue: the harness checks itself on them."""
from layer_cases import case

CASES = [
    case("dense_relu", [(4,)], lambda k: k.layers.Dense(3, activation="relu")),
    case("conv2d_same_strided", [(5, 5, 2)], lambda k: k.layers.Conv2D(3, 3, strides=2, padding="same")),
    case("bn_last", [(4, 3)], lambda k: k.layers.BatchNormalization(momentum=0.9, epsilon=1e-3)),
    case("add_two", [(3,), (3,)], lambda k: k.layers.Add()),
    case("embedding", [(4,)], lambda k: k.layers.Embedding(7, 3), int_range=(0, 7)),
]
