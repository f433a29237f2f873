"""Every activation Keras 3.11 accepts by name (keras/src/activations/__init__.py ALL_OBJECTS, and
the aliases swish and hard_swish), as a Dense layer's activation= and in the Activation layer,
after a Dense so the SGD step differentiates the activation through Keras. "threshold" is not
here: it has no defaults, so Keras cannot call it by name either (ckeras refuses it)."""
from layer_cases import case

NAMES = ["relu", "leaky_relu", "relu6", "softmax", "celu", "elu", "selu", "softplus", "softsign", "squareplus",
         "soft_shrink", "sparse_plus", "silu", "swish", "gelu", "tanh", "tanh_shrink", "sigmoid", "sparse_sigmoid",
         "exponential", "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh", "hard_shrink", "linear", "mish",
         "log_softmax", "log_sigmoid", "sparsemax"]


def dense_then_activation(name, units=6):
    def build(k, ins):
        h = k.layers.Dense(units)(ins[0])
        return k.layers.Activation(name)(h)
    return build


CASES = []
for _n in NAMES:
    # inputs and weights in [-2, 2) x [-0.5, 0.5): pre-activations reach the kinks at +-0.5, +-1
    CASES.append(case("dense_" + _n, [(5,)], lambda k, n=_n: k.layers.Dense(4, activation=n), lo=-2.0, hi=2.0))
    CASES.append(case("activation_" + _n, [(5,)], build=dense_then_activation(_n), lo=-2.0, hi=2.0))
# glu halves the last axis (Keras' Activation declares the unhalved shape but computes the halved)
CASES.append(case("activation_glu", [(5,)], build=dense_then_activation("glu"), lo=-2.0, hi=2.0))
CASES.append(case("activation_glu_3d", [(2, 5)], build=dense_then_activation("glu", 4), lo=-2.0, hi=2.0))
# Activation on a rank-3 input (row-wise activations over the last axis)
CASES.append(case("activation_softmax_3d", [(3, 4)], build=dense_then_activation("softmax"), lo=-2.0, hi=2.0))
CASES.append(case("activation_sparsemax_3d", [(3, 4)], build=dense_then_activation("sparsemax"), lo=-2.0, hi=2.0))
