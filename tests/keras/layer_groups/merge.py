"""Merge layers broadcasting as Keras does, and Keras 3 operations with plain numbers (x + 3.0)."""
from layer_cases import case


def _conv_dense(k, ins, layer):
    # a Conv2D and a Dense before the merge: the SGD step checks the broadcast gradients
    a = k.layers.Conv2D(3, 1)(ins[0])
    b = k.layers.Dense(3)(ins[1])
    return layer([a, b])


def _dense2(k, ins, layer, units=(3, 3)):
    return layer([k.layers.Dense(units[0])(ins[0]), k.layers.Dense(units[1])(ins[1])])


def _ops(k, ins):
    x = k.layers.Dense(4)(ins[0])
    y = x + 3.0
    z = y * x
    w = z - 2.0  # (2.0 - z has no tf.keras 2 form that ckeras writes: its C test covers it)
    v = k.ops.maximum(w, -0.25)
    u = k.ops.minimum(v * (1.0 / 6.0), 0.5)
    return u - 1.5


def _hard_swish(k, ins):
    # MobileNetV3's hard_swish, as keras.applications writes it
    x = k.layers.Dense(5)(ins[0])
    hs = k.layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)
    return k.layers.Multiply()([x, hs])


def _ops_bcast(k, ins):
    # x * se with se (1, 1, C): an operation between two tensors of broadcast shapes
    x = k.layers.Conv2D(3, 1)(ins[0])
    se = k.layers.Dense(3)(ins[1])
    return x * se + 1.0


CASES = [
    case("multiply_se_bcast", [(4, 4, 3), (1, 1, 3)], build=lambda k, ins: _conv_dense(k, ins, k.layers.Multiply())),
    case("add_bcast", [(4, 4, 3), (1, 1, 3)], build=lambda k, ins: _conv_dense(k, ins, k.layers.Add())),
    case("subtract_bcast", [(4, 4, 3), (1, 1, 3)], build=lambda k, ins: _conv_dense(k, ins, k.layers.Subtract())),
    case("subtract_bcast_first", [(1, 1, 3), (4, 4, 3)],
         build=lambda k, ins: k.layers.Subtract()([k.layers.Dense(3)(ins[0]), k.layers.Conv2D(3, 1)(ins[1])])),
    case("average_bcast", [(4, 4, 3), (1, 1, 3)], build=lambda k, ins: _conv_dense(k, ins, k.layers.Average())),
    case("maximum_bcast", [(4, 4, 3), (1, 1, 3)], build=lambda k, ins: _conv_dense(k, ins, k.layers.Maximum())),
    case("minimum_bcast", [(4, 4, 3), (1, 1, 3)], build=lambda k, ins: _conv_dense(k, ins, k.layers.Minimum())),
    # ranks differ: Keras expands the lower-rank input after the batch axis
    case("add_rank_bcast", [(2, 5, 3), (3,)],
         build=lambda k, ins: k.layers.Add()([k.layers.Dense(3)(ins[0]), k.layers.Dense(3)(ins[1])])),
    # both inputs stretch: (2, 1, 3) and (1, 4, 3) -> (2, 4, 3); three inputs
    case("multiply_mutual_bcast3", [(2, 1, 3), (1, 4, 3), (3,)],
         build=lambda k, ins: k.layers.Multiply()([k.layers.Dense(3)(x) for x in ins])),
    case("ops_numbers", [(3,)], build=_ops),
    case("ops_hard_swish", [(4,)], build=_hard_swish),
    case("ops_bcast_tensors", [(3, 3, 2), (1, 1, 2)], build=_ops_bcast),
]
