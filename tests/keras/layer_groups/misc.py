"""Small layers without weights: activation layers (ELU, ReLU, LeakyReLU, Softmax), Identity,
RepeatVector, ActivityRegularization, Masking, Flatten/Reshape/Permute, the noise and dropout
variants (identity in inference: their training forward is random, so those cases do not train),
and the integer encoders CategoryEncoding and Discretization. A Dense before a weight-free layer
makes the SGD step differentiate it through Keras."""
import numpy as np

from layer_cases import case


def after_dense(make, units=4):
    def build(k, ins):
        return make(k)(k.layers.Dense(units)(ins[0]))
    return build


def dense_after(make, units=2):
    def build(k, ins):
        return k.layers.Dense(units)(make(k)(ins[0]))
    return build


def masked_steps(rng):
    x = rng.uniform(-1, 1, (3, 4, 2)).astype(np.float32)
    x[0, 1, :] = 0.25
    x[2, 3, :] = 0.25
    x[1, 0, 0] = 0.25  # one value alone does not mask its step
    return [x]


CASES = [
    # activation layers
    case("elu_default", [(5,)], build=after_dense(lambda k: k.layers.ELU()), lo=-2, hi=2),
    case("elu_alpha", [(5,)], build=after_dense(lambda k: k.layers.ELU(alpha=0.4)), lo=-2, hi=2),
    case("relu_all_keys", [(5,)], build=after_dense(
        lambda k: k.layers.ReLU(max_value=0.6, negative_slope=0.1, threshold=0.15)), lo=-2, hi=2),
    case("relu_max6", [(5,)], build=after_dense(lambda k: k.layers.ReLU(max_value=6.0)), lo=-8, hi=8),
    case("relu_slope", [(5,)], build=after_dense(lambda k: k.layers.ReLU(negative_slope=0.25)), lo=-2, hi=2),
    case("relu_threshold", [(5,)], build=after_dense(lambda k: k.layers.ReLU(threshold=0.1)), lo=-2, hi=2),
    case("leaky_relu_default", [(5,)], build=after_dense(lambda k: k.layers.LeakyReLU()), lo=-2, hi=2),
    case("leaky_relu_slope", [(5,)], build=after_dense(lambda k: k.layers.LeakyReLU(negative_slope=0.05)),
         lo=-2, hi=2),
    case("softmax_last", [(3, 4)], build=after_dense(lambda k: k.layers.Softmax()), lo=-2, hi=2),
    case("softmax_axis1", [(3, 4)], build=after_dense(lambda k: k.layers.Softmax(axis=1)), lo=-2, hi=2),
    case("softmax_axis_list", [(3, 4)], build=after_dense(lambda k: k.layers.Softmax(axis=[1, 2])), lo=-2, hi=2),
    case("softmax_axis_mid", [(2, 3, 4)], build=after_dense(lambda k: k.layers.Softmax(axis=-2)), lo=-2, hi=2),
    # core and reshaping
    case("identity", [(5,)], build=after_dense(lambda k: k.layers.Identity())),
    case("repeat_vector", [(5,)], build=after_dense(lambda k: k.layers.RepeatVector(3), units=2)),
    case("activity_regularization", [(5,)], build=after_dense(
        lambda k: k.layers.ActivityRegularization(l1=0.01, l2=0.02)), lo=-2, hi=2),
    case("activity_regularization_l1", [(5,)], build=after_dense(
        lambda k: k.layers.ActivityRegularization(l1=0.05)), lo=-2, hi=2),
    case("masking_value", [(4, 2)], build=dense_after(lambda k: k.layers.Masking(mask_value=0.25), 3),
         x=masked_steps),
    case("flatten_after_dense", [(3, 2)], build=after_dense(lambda k: k.layers.Flatten(), 3)),
    case("reshape_minus1", [(6,)], build=after_dense(lambda k: k.layers.Reshape((-1, 2)), 6)),
    case("permute_3d", [(2, 3, 4)], build=after_dense(lambda k: k.layers.Permute((3, 1, 2)), 2)),
    # noise and dropout variants: inference is the identity
    case("gaussian_noise", [(5,)], build=after_dense(lambda k: k.layers.GaussianNoise(0.3, seed=3)), train=False),
    case("gaussian_dropout", [(5,)], build=after_dense(lambda k: k.layers.GaussianDropout(0.4, seed=3)),
         train=False),
    case("alpha_dropout", [(5,)], build=after_dense(lambda k: k.layers.AlphaDropout(0.2, seed=3)), train=False),
    case("spatial_dropout1d", [(4, 3)], build=after_dense(lambda k: k.layers.SpatialDropout1D(0.3, seed=3)),
         train=False),
    case("spatial_dropout3d", [(2, 2, 2, 3)], build=after_dense(lambda k: k.layers.SpatialDropout3D(0.3, seed=3)),
         train=False),
    # integer encoders (no gradient: the Dense after them trains)
    case("category_encoding_one_hot", [(1,)], build=dense_after(
        lambda k: k.layers.CategoryEncoding(num_tokens=5, output_mode="one_hot")), int_range=(0, 5)),
    case("category_encoding_one_hot_seq", [(3,)], build=dense_after(
        lambda k: k.layers.CategoryEncoding(num_tokens=4, output_mode="one_hot")), int_range=(0, 4)),
    case("category_encoding_multi_hot", [(4,)], build=dense_after(
        lambda k: k.layers.CategoryEncoding(num_tokens=6)), int_range=(0, 6)),
    case("category_encoding_count", [(5,)], build=dense_after(
        lambda k: k.layers.CategoryEncoding(num_tokens=3, output_mode="count")), int_range=(0, 3)),
    case("discretization_int", [(6,)], lambda k: k.layers.Discretization(bin_boundaries=[-0.5, 0.0, 0.3])),
    # (Keras' Discretization declares its input's shape whatever output_mode is, so no Dense follows)
    case("discretization_one_hot", [(1,)],
         lambda k: k.layers.Discretization(bin_boundaries=[-0.5, 0.0, 0.3], output_mode="one_hot")),
    case("discretization_one_hot_seq", [(3,)],
         lambda k: k.layers.Discretization(bin_boundaries=[-0.5, 0.0, 0.3], output_mode="one_hot")),
    case("discretization_multi_hot", [(4,)],
         lambda k: k.layers.Discretization(bin_boundaries=[-0.2, 0.4], output_mode="multi_hot")),
    case("discretization_count", [(4,)], lambda k: k.layers.Discretization(bin_boundaries=[0.0], output_mode="count")),
]

# image augmentation (Keras 3): the identity in inference, after a Dense on the channels.
# (Keras 3.11 cannot save RandomBrightness or RandomSaturation to .h5: "cannot pickle 'module'
# object"; test_misc_layers covers them.)
CASES += [
    case("random_hue", [(4, 5, 3)], build=after_dense(
        lambda k: k.layers.RandomHue(factor=0.3, value_range=(0, 1), seed=5), 3), train=False),
    # Keras 3.11 returns RandomCrop's input unchanged in inference (not the documented centred
    # window): only a crop to the input's own size is the same in both
    case("random_crop_same_size", [(4, 5, 3)], build=after_dense(lambda k: k.layers.RandomCrop(4, 5, seed=2), 3),
         train=False),
]
