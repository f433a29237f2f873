"""The normalisation family: BatchNormalization, LayerNormalization, GroupNormalization,
UnitNormalization and RMSNormalization, on every axis layout Keras allows.

Keras 3.11's torch backend sends layer_normalization and rms_normalization over a "continuous"
axis list (any single axis) to torch's F.layer_norm / F.rms_norm, which normalise the LAST axes
whatever the list says (LayerNormalization(axis=1) on (n, 3, 3) normalises axis 2), and the
oracle's torch 1.13 has no F.rms_norm at all. The TensorFlow and JAX backends always take Keras'
own backend-neutral formula (moments over the listed axes), which is the documented behaviour;
this module makes the oracle take it too (keras.src.ops.nn.is_continuous_axis -> False).
"""
from layer_cases import case

import keras.src.ops.nn as _nn

_nn.is_continuous_axis = lambda axis: False


def _after(first, second):
    """build=: first(k) then second(k) (a layer with weights before a weight-free one, so the
    SGD step checks the second's backward through real Keras)"""
    return lambda k, ins: second(k)(first(k)(ins[0]))


def _dense(units):
    return lambda k: k.layers.Dense(units)


def _conv(filters):
    return lambda k: k.layers.Conv2D(filters, 1)


def _time_dense(units):
    return lambda k: k.layers.Dense(units)  # Dense on the last axis of a 3D input


CASES = [
    # ---- BatchNormalization: axis (3D/4D, positive and negative), center, scale, epsilon, momentum
    case("bn_axis1_3d", [(4, 3)], lambda k: k.layers.BatchNormalization(axis=1, momentum=0.9)),
    case("bn_axis2_3d_pos_last", [(4, 3)], lambda k: k.layers.BatchNormalization(axis=2, momentum=0.8)),
    case("bn_axis1_4d", [(3, 4, 2)], lambda k: k.layers.BatchNormalization(axis=1)),
    case("bn_axis_m2_4d", [(3, 4, 2)], lambda k: k.layers.BatchNormalization(axis=-2, epsilon=0.1)),
    case("bn_axis_m3_4d_noscale", [(3, 4, 2)],
         lambda k: k.layers.BatchNormalization(axis=-3, scale=False, momentum=0.5)),
    case("bn_axis2_4d_nocenter", [(3, 4, 2)], lambda k: k.layers.BatchNormalization(axis=2, center=False)),
    case("bn_dense_noaffine", [(5,)],
         build=_after(_dense(4), lambda k: k.layers.BatchNormalization(center=False, scale=False, momentum=0.7))),
    case("bn_conv_axis1", [(3, 4, 2)],
         build=_after(_conv(3), lambda k: k.layers.BatchNormalization(axis=1, momentum=0.9))),
    case("bn_dense_axis1_3d", [(4, 3)],
         build=_after(_time_dense(2), lambda k: k.layers.BatchNormalization(axis=1, epsilon=0.01))),
    case("bn_conv_last", [(3, 4, 2)],
         build=_after(_conv(3), lambda k: k.layers.BatchNormalization(momentum=0.6))),
    # BatchNormalization with Keras' mask (Embedding(mask_zero=True)): statistics over the unmasked
    # steps only, and the mask passed on (GlobalAveragePooling1D averages the unmasked steps)
    case("bn_masked_last", [(5,)], build=lambda k, ins: k.layers.GlobalAveragePooling1D()(
        k.layers.BatchNormalization(momentum=0.5)(k.layers.Embedding(4, 3, mask_zero=True)(ins[0]))),
        int_range=(0, 4)),
    case("bn_masked_axis1", [(5,)], build=lambda k, ins: k.layers.GlobalAveragePooling1D()(
        k.layers.BatchNormalization(axis=1, momentum=0.5)(k.layers.Embedding(4, 3, mask_zero=True)(ins[0]))),
        int_range=(0, 4)),
    # ---- LayerNormalization: axis int / list (non-trailing, non-contiguous, unsorted), center,
    # scale, epsilon, rms_scaling
    case("ln_last", [(5,)], lambda k: k.layers.LayerNormalization(epsilon=0.1)),
    case("ln_axis1_3d", [(4, 3)], lambda k: k.layers.LayerNormalization(axis=1)),
    case("ln_axis_m2_3d_nocenter", [(4, 3)], lambda k: k.layers.LayerNormalization(axis=-2, center=False)),
    case("ln_axes12_4d", [(3, 4, 2)], lambda k: k.layers.LayerNormalization(axis=[1, 2])),
    case("ln_axes13_4d", [(3, 4, 2)], lambda k: k.layers.LayerNormalization(axis=[1, 3])),
    case("ln_axes_m1_m3_unsorted", [(3, 4, 2)], lambda k: k.layers.LayerNormalization(axis=[-1, -3])),
    case("ln_axes_m2_m1_noscale", [(3, 4, 2)],
         lambda k: k.layers.LayerNormalization(axis=[-2, -1], scale=False)),
    case("ln_axis2_4d_eps", [(3, 4, 2)], lambda k: k.layers.LayerNormalization(axis=2, epsilon=0.5)),
    case("ln_rms_last", [(5,)], lambda k: k.layers.LayerNormalization(rms_scaling=True)),
    case("ln_rms_axis1_3d", [(4, 3)], lambda k: k.layers.LayerNormalization(axis=1, rms_scaling=True)),
    case("ln_rms_axes13_noscale", [(3, 4, 2)],
         lambda k: k.layers.LayerNormalization(axis=[1, 3], rms_scaling=True, scale=False, center=False)),
    case("ln_dense_axis1_3d", [(4, 3)],
         build=_after(_time_dense(2), lambda k: k.layers.LayerNormalization(axis=1))),
    case("ln_conv_axes12", [(3, 4, 2)],
         build=_after(_conv(3), lambda k: k.layers.LayerNormalization(axis=[1, 2], rms_scaling=True))),
    # ---- GroupNormalization: groups (n, 1, -1), axis, epsilon, center, scale
    case("gn_groups2_3d", [(5, 4)], lambda k: k.layers.GroupNormalization(groups=2)),
    case("gn_groups2_4d", [(3, 3, 4)], lambda k: k.layers.GroupNormalization(groups=2, epsilon=0.1)),
    case("gn_groups1", [(3, 4)], lambda k: k.layers.GroupNormalization(groups=1)),
    case("gn_groups_m1", [(3, 4)], lambda k: k.layers.GroupNormalization(groups=-1)),
    case("gn_axis1_4d", [(4, 3, 2)], lambda k: k.layers.GroupNormalization(groups=2, axis=1)),
    case("gn_axis_m2_4d", [(3, 4, 2)], lambda k: k.layers.GroupNormalization(groups=4, axis=-2)),
    case("gn_axis1_3d_nocenter", [(6, 2)], lambda k: k.layers.GroupNormalization(groups=3, axis=1, center=False)),
    case("gn_noscale", [(2, 6)], lambda k: k.layers.GroupNormalization(groups=3, scale=False)),
    case("gn_vec", [(6,)], lambda k: k.layers.GroupNormalization(groups=2)),
    case("gn_conv_axis1", [(4, 3, 2)],
         build=_after(_conv(3), lambda k: k.layers.GroupNormalization(groups=2, axis=1))),
    # ---- UnitNormalization: axis int / list
    case("un_dense_last", [(4,)], build=_after(_dense(3), lambda k: k.layers.UnitNormalization())),
    case("un_dense_axis1_3d", [(4, 3)], build=_after(_time_dense(2), lambda k: k.layers.UnitNormalization(axis=1))),
    case("un_conv_axes12", [(3, 4, 2)],
         build=_after(_conv(3), lambda k: k.layers.UnitNormalization(axis=[1, 2]))),
    case("un_conv_axes_m1_m3", [(3, 4, 2)],
         build=_after(_conv(2), lambda k: k.layers.UnitNormalization(axis=[-1, -3]))),
    case("un_axis2_4d", [(3, 4, 2)], lambda k: k.layers.UnitNormalization(axis=2), train=False),
    # ---- RMSNormalization: axis (trailing blocks), epsilon
    case("rms_last", [(5,)], lambda k: k.layers.RMSNormalization()),
    case("rms_eps", [(4, 3)], lambda k: k.layers.RMSNormalization(epsilon=0.1)),
    case("rms_axes_m2_m1", [(4, 3)], lambda k: k.layers.RMSNormalization(axis=[-2, -1])),
    case("rms_axes23_4d", [(3, 4, 2)], lambda k: k.layers.RMSNormalization(axis=[2, 3])),
    case("rms_dense", [(4,)], build=_after(_dense(3), lambda k: k.layers.RMSNormalization(axis=1))),
]
