"""Layers Keras Applications save: Normalization, LayerScale (ConvNeXt), CustomScaleLayer
(InceptionResNetV2), Dropout with a noise_shape holding None (EfficientNet)."""
from layer_cases import case


def _after_dense(layer, units=3):
    return lambda k, ins: layer(k)(k.layers.Dense(units)(ins[0]))


def _layer_scale(k):
    from keras.src.applications.convnext import LayerScale
    return LayerScale(0.3, 4)


def _custom_scale(k, ins):
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer
    a = k.layers.Dense(4)(ins[0])
    b = k.layers.Dense(4)(ins[1])
    return CustomScaleLayer(0.17)([a, b])


def _norm_given(k, ins):
    x = k.layers.Conv2D(3, 1)(ins[0])
    return k.layers.Normalization(mean=[0.5, -0.2, 0.1], variance=[1.5, 0.5, 2.0])(x)


CASES = [
    # adapted form: weights mean, variance (seeded) and count
    case("normalization_adapted", [(4,)], build=_after_dense(lambda k: k.layers.Normalization(), 3)),
    case("normalization_axis_1", [(2, 3)], build=lambda k, ins: k.layers.Normalization(axis=1)(
        k.layers.Dense(3)(ins[0]))),
    case("normalization_axis_12", [(2, 3, 2)], build=lambda k, ins: k.layers.Normalization(axis=(1, 2))(
        k.layers.Dense(2)(ins[0]))),
    case("normalization_axis_none", [(2, 3)], build=lambda k, ins: k.layers.Normalization(axis=None)(
        k.layers.Dense(3)(ins[0]))),
    case("normalization_invert", [(4,)], build=_after_dense(lambda k: k.layers.Normalization(invert=True), 3)),
    case("normalization_given", [(2, 2, 2)], build=_norm_given),
    case("normalization_given_scalar", [(3,)], build=_after_dense(
        lambda k: k.layers.Normalization(mean=2.0, variance=4.0, axis=None), 3)),
    case("normalization_given_nested", [(2, 3)], build=lambda k, ins: k.layers.Normalization(
        axis=1, mean=[[0.1], [0.2]], variance=[[2.0], [0.3]])(k.layers.Dense(3)(ins[0]))),
    case("normalization_given_invert", [(3,)], build=_after_dense(
        lambda k: k.layers.Normalization(mean=[0.5, 1.0, -1.0], variance=[4.0, 0.25, 1.0], invert=True), 3)),
    case("layer_scale", [(2, 4)], build=_after_dense(_layer_scale, 4)),
    case("custom_scale_layer", [(3,), (3,)], build=_custom_scale),
    # inference forward only: the training forward draws a random mask
    # EfficientNet's ImageNet preprocessing: a scale per channel
    case("rescaling_scale_list", [(2, 2, 3)], build=lambda k, ins: k.layers.Rescaling(
        [0.5, -2.0, 1.25])(k.layers.Conv2D(3, 1)(ins[0]))),
    case("rescaling_scale_offset_lists", [(3,)], build=_after_dense(
        lambda k: k.layers.Rescaling([1.5, 0.25, -1.0], offset=[0.1, -0.2, 0.3]), 3)),
    case("rescaling_offset_list", [(2, 3)], build=_after_dense(
        lambda k: k.layers.Rescaling(0.5, offset=[1.0, 2.0, 3.0]), 3)),
    case("dropout_noise_shape", [(2, 2, 3)], lambda k: k.layers.Dropout(0.5, noise_shape=(None, 1, 1, 3)),
         train=False),
    case("dropout_noise_shape_after_dense", [(2, 3)], build=lambda k, ins: k.layers.Dropout(
        0.2, noise_shape=(None, 1, 3))(k.layers.Dense(3)(ins[0])), train=False),
]
