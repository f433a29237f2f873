"""The convolution family (issue #15): 1D/3D convolutions, transposed, depthwise and separable,
grouped convolutions, 3D and global pooling, 1D/3D padding, cropping and upsampling.

Cases with 'same' padding on transposed convolutions keep kernel - stride even (or the kernel
no larger than the stride), and average pooling with 'same' keeps the padding even on both
sides: there Keras' torch backend (the oracle's) and TensorFlow disagree, and ckeras follows
TensorFlow (DESIGN.md). Keras 3.11's transposed convolutions leave output_padding out of
get_config(), so a file Keras saves from a layer built with it loads without it (there is no
case for it here: the C tests check it against NumPy)."""
from layer_cases import case


def after(first, second):
    """A layer with weights before a weight-free one, so the training step reaches its backward."""
    def build(k, ins):
        return second(k)(first(k)(ins[0]))
    return build


CASES = [
    # Conv3D
    case("conv3d_valid_strided", [(4, 5, 4, 2)], lambda k: k.layers.Conv3D(3, (2, 3, 2), strides=(1, 2, 1))),
    case("conv3d_same_dilated", [(5, 4, 4, 2)],
         lambda k: k.layers.Conv3D(2, 3, padding="same", dilation_rate=(2, 1, 1), use_bias=False,
                                   activation="tanh")),
    case("conv3d_groups", [(3, 3, 3, 4)], lambda k: k.layers.Conv3D(4, 2, groups=2, activation="relu")),
    # groups in Conv2D / Conv1D
    case("conv2d_groups_strided", [(6, 6, 3)],
         lambda k: k.layers.Conv2D(6, 3, groups=3, strides=2, padding="same", activation="relu")),
    case("conv2d_groups", [(5, 5, 4)], lambda k: k.layers.Conv2D(4, (3, 2), groups=2, dilation_rate=(1, 2))),
    case("conv1d_groups_causal", [(7, 4)],
         lambda k: k.layers.Conv1D(6, 3, groups=2, padding="causal", dilation_rate=2, use_bias=False)),
    case("conv1d_groups_strided", [(8, 6)], lambda k: k.layers.Conv1D(3, 2, strides=2, groups=3, activation="elu")),
    # Conv1DTranspose
    case("conv1dt_valid_strided", [(5, 2)], lambda k: k.layers.Conv1DTranspose(3, 3, strides=2)),
    case("conv1dt_same", [(4, 3)],
         lambda k: k.layers.Conv1DTranspose(2, 4, strides=2, padding="same", use_bias=False, activation="relu")),
    case("conv1dt_dilated_same", [(6, 2)],
         lambda k: k.layers.Conv1DTranspose(2, 3, dilation_rate=2, padding="same", activation="tanh")),
    # Conv2DTranspose with dilation
    case("conv2dt_dilated", [(4, 4, 2)], lambda k: k.layers.Conv2DTranspose(2, (3, 2), dilation_rate=(2, 1))),
    # Conv3DTranspose
    case("conv3dt_valid_strided", [(3, 3, 3, 2)], lambda k: k.layers.Conv3DTranspose(2, (2, 3, 2), strides=(2, 1, 2))),
    case("conv3dt_same", [(2, 3, 3, 2)],
         lambda k: k.layers.Conv3DTranspose(3, 3, strides=(3, 1, 1), padding="same", use_bias=False,
                                            activation="sigmoid")),
    case("conv3dt_strided_k_lt_s", [(2, 2, 3, 1)], lambda k: k.layers.Conv3DTranspose(2, 2, strides=(3, 2, 3))),
    case("conv3dt_dilated", [(3, 3, 2, 2)], lambda k: k.layers.Conv3DTranspose(2, 2, dilation_rate=(1, 2, 1))),
    # DepthwiseConv1D
    case("dwconv1d_same_strided", [(7, 3)],
         lambda k: k.layers.DepthwiseConv1D(3, strides=2, padding="same", depth_multiplier=2, activation="relu")),
    case("dwconv1d_dilated", [(6, 2)], lambda k: k.layers.DepthwiseConv1D(2, dilation_rate=2, use_bias=False)),
    # SeparableConv1D
    case("sepconv1d_same", [(6, 3)],
         lambda k: k.layers.SeparableConv1D(4, 3, padding="same", depth_multiplier=2, activation="tanh")),
    case("sepconv1d_dilated", [(7, 2)], lambda k: k.layers.SeparableConv1D(3, 2, dilation_rate=2, use_bias=False)),
    case("sepconv1d_strided", [(8, 2)], lambda k: k.layers.SeparableConv1D(2, 3, strides=2)),
    # 3D pooling (after a convolution: the training step reaches their backward)
    case("maxpool3d", [(4, 4, 4, 2)], build=after(lambda k: k.layers.Conv3D(2, 1), lambda k: k.layers.MaxPooling3D())),
    case("maxpool3d_same", [(5, 4, 5, 2)],
         build=after(lambda k: k.layers.Conv3D(2, 1),
                     lambda k: k.layers.MaxPooling3D((3, 2, 2), strides=(2, 1, 2), padding="same"))),
    case("avgpool3d", [(4, 5, 4, 2)],
         build=after(lambda k: k.layers.Conv3D(2, 1),
                     lambda k: k.layers.AveragePooling3D((2, 3, 2), strides=(1, 2, 2)))),
    case("avgpool3d_same", [(3, 4, 4, 2)],
         build=after(lambda k: k.layers.Conv3D(2, 1),
                     lambda k: k.layers.AveragePooling3D(3, strides=1, padding="same"))),
    case("gap3d", [(3, 4, 2, 2)],
         build=after(lambda k: k.layers.Conv3D(3, 1), lambda k: k.layers.GlobalAveragePooling3D())),
    case("gmp3d_keepdims", [(3, 4, 2, 2)],
         build=after(lambda k: k.layers.Conv3D(3, 1), lambda k: k.layers.GlobalMaxPooling3D(keepdims=True))),
    # the existing 1D/2D pooling: keepdims and 'same'
    case("gap2d_keepdims", [(4, 3, 2)],
         build=after(lambda k: k.layers.Conv2D(3, 1), lambda k: k.layers.GlobalAveragePooling2D(keepdims=True))),
    case("gmp1d_keepdims", [(5, 2)],
         build=after(lambda k: k.layers.Conv1D(3, 1), lambda k: k.layers.GlobalMaxPooling1D(keepdims=True))),
    case("gap1d_keepdims", [(5, 2)],
         build=after(lambda k: k.layers.Conv1D(3, 1), lambda k: k.layers.GlobalAveragePooling1D(keepdims=True))),
    case("gmp2d_keepdims", [(4, 3, 2)],
         build=after(lambda k: k.layers.Conv2D(3, 1), lambda k: k.layers.GlobalMaxPooling2D(keepdims=True))),
    case("maxpool2d_same", [(5, 6, 2)],
         build=after(lambda k: k.layers.Conv2D(2, 1), lambda k: k.layers.MaxPooling2D(3, strides=2, padding="same"))),
    case("avgpool2d_same", [(5, 4, 2)],
         build=after(lambda k: k.layers.Conv2D(2, 1),
                     lambda k: k.layers.AveragePooling2D(3, strides=1, padding="same"))),
    case("maxpool1d_same", [(7, 2)],
         build=after(lambda k: k.layers.Conv1D(2, 1), lambda k: k.layers.MaxPooling1D(2, padding="same"))),
    case("avgpool1d_same", [(7, 2)],
         build=after(lambda k: k.layers.Conv1D(2, 1),
                     lambda k: k.layers.AveragePooling1D(3, strides=1, padding="same"))),
    # padding, cropping, upsampling
    case("zeropad1d", [(5, 2)], build=after(lambda k: k.layers.Conv1D(2, 1), lambda k: k.layers.ZeroPadding1D((1, 2)))),
    case("zeropad1d_int", [(4, 3)], lambda k: k.layers.ZeroPadding1D(2)),
    case("zeropad3d", [(2, 3, 2, 2)],
         build=after(lambda k: k.layers.Conv3D(2, 1), lambda k: k.layers.ZeroPadding3D(((1, 0), (0, 2), (1, 1))))),
    case("zeropad3d_int", [(2, 2, 2, 1)], lambda k: k.layers.ZeroPadding3D(1)),
    case("crop1d", [(6, 2)], build=after(lambda k: k.layers.Conv1D(2, 1), lambda k: k.layers.Cropping1D((1, 2)))),
    case("crop3d", [(4, 4, 5, 2)],
         build=after(lambda k: k.layers.Conv3D(2, 1), lambda k: k.layers.Cropping3D(((1, 0), (0, 1), (1, 2))))),
    case("crop3d_default", [(3, 3, 4, 1)], lambda k: k.layers.Cropping3D()),
    case("upsample1d", [(4, 2)], build=after(lambda k: k.layers.Conv1D(2, 1), lambda k: k.layers.UpSampling1D(3))),
    case("upsample3d", [(2, 3, 2, 2)],
         build=after(lambda k: k.layers.Conv3D(2, 1), lambda k: k.layers.UpSampling3D((2, 1, 3)))),
    case("upsample3d_default", [(2, 2, 2, 1)], lambda k: k.layers.UpSampling3D()),
]
