"""Weight constraints (MaxNorm, NonNeg, UnitNorm, MinMaxNorm, applied by Keras' optimizer after
each update) and activity regularizers (a penalty on the layer's output, added to the loss) on
the layers that take them. The max values are small enough, against the seeded weights in
[-0.5, 0.5), that the norm constraints act."""
from layer_cases import case
from layer_groups import attention  # noqa: F401  (its shim lets the oracle's torch run MultiHeadAttention)


def C(k):
    return k.constraints


def R(k):
    return k.regularizers


def dense_then(layer):
    """Dense(4) then the layer: the Dense's kernel trains through the layer's backward."""
    return lambda k, ins: layer(k)(k.layers.Dense(4)(ins[0]))


def lstm_states(k, ins):
    return k.layers.LSTM(3, return_state=True, activity_regularizer=R(k).L2(0.05))(ins[0])


CASES = [
    # Dense: each constraint, Keras' axis conventions (axis=0: each unit's incoming weights)
    case("dense_max_norm_nonneg", [(6,)], lambda k: k.layers.Dense(
        4, kernel_constraint=C(k).MaxNorm(max_value=0.5, axis=0), bias_constraint=C(k).NonNeg())),
    case("dense_unit_norm_axis1", [(5,)], lambda k: k.layers.Dense(
        3, kernel_constraint=C(k).UnitNorm(axis=1), bias_constraint=C(k).UnitNorm())),
    case("dense_min_max_norm_rate", [(6,)], lambda k: k.layers.Dense(
        4, kernel_constraint=C(k).MinMaxNorm(min_value=0.9, max_value=1.2, rate=0.7, axis=0),
        bias_constraint=C(k).MinMaxNorm(min_value=0.1, max_value=0.2, axis=-1))),
    case("dense_max_norm_axis_none", [(4,)], lambda k: k.layers.Dense(
        3, kernel_constraint=C(k).MaxNorm(max_value=0.6, axis=None))),
    # the string forms (Keras' defaults: MaxNorm(2, 0), L2(0.01), L1(0.01))
    case("dense_strings", [(5,)], lambda k: k.layers.Dense(
        3, activation="tanh", kernel_constraint="unit_norm", bias_constraint="non_neg",
        activity_regularizer="l2", kernel_regularizer="l1")),
    case("dense_activity_l1l2_tanh", [(5,)], lambda k: k.layers.Dense(
        3, activation="tanh", activity_regularizer=R(k).L1L2(l1=0.02, l2=0.03))),
    case("dense_activity_after_dense", [(5,)], build=dense_then(lambda k: k.layers.Dense(
        2, activation="relu", activity_regularizer=R(k).L1(0.05), kernel_constraint=C(k).MaxNorm(0.4)))),
    # convolutions: the filter's (rows, cols, input depth) axes
    case("conv2d_max_norm_filters", [(5, 5, 2)], lambda k: k.layers.Conv2D(
        3, 3, kernel_constraint=C(k).MaxNorm(0.6, axis=[0, 1, 2]), bias_constraint=C(k).NonNeg(),
        activity_regularizer=R(k).L1(0.01))),
    case("conv1d_min_max_norm", [(6, 3)], lambda k: k.layers.Conv1D(
        2, 2, kernel_constraint=C(k).MinMaxNorm(0.8, 1.0, rate=0.5, axis=[0, 1]),
        activity_regularizer=R(k).L2(0.02))),
    case("conv3d_unit_norm", [(3, 3, 3, 2)], lambda k: k.layers.Conv3D(
        2, 2, kernel_constraint=C(k).UnitNorm(axis=[0, 1, 2, 3]), bias_constraint=C(k).MaxNorm(0.1))),
    case("conv2d_transpose_max_norm", [(3, 3, 2)], lambda k: k.layers.Conv2DTranspose(
        2, 2, strides=2, kernel_constraint=C(k).MaxNorm(0.5, axis=[0, 1, 3]), activity_regularizer=R(k).L2(0.01))),
    case("depthwise_conv2d_constraints", [(5, 5, 2)], lambda k: k.layers.DepthwiseConv2D(
        3, depth_multiplier=2, depthwise_constraint=C(k).MaxNorm(0.4, axis=[0, 1]),
        bias_constraint=C(k).NonNeg(), activity_regularizer=R(k).L1L2(0.01, 0.01))),
    case("separable_conv2d_constraints", [(5, 5, 2)], lambda k: k.layers.SeparableConv2D(
        3, 3, depthwise_constraint=C(k).UnitNorm(axis=[0, 1]),
        pointwise_constraint=C(k).MaxNorm(0.3, axis=[0, 1, 2]), bias_constraint=C(k).NonNeg(),
        activity_regularizer=R(k).L2(0.01))),
    case("separable_conv1d_constraints", [(6, 2)], lambda k: k.layers.SeparableConv1D(
        2, 3, depthwise_constraint=C(k).MaxNorm(0.3, axis=0), pointwise_constraint=C(k).NonNeg())),
    # embeddings: each row to unit norm (untouched rows too)
    case("embedding_unit_norm", [(4,)], lambda k: k.layers.Embedding(
        7, 3, embeddings_constraint=C(k).UnitNorm(axis=1), activity_regularizer=R(k).L2(0.05)),
        int_range=(0, 7)),
    case("embedding_max_norm", [(4,)], lambda k: k.layers.Embedding(
        6, 4, embeddings_constraint=C(k).MaxNorm(0.5, axis=1)), int_range=(0, 6)),
    # recurrent layers: kernel, recurrent kernel and bias constraints; the penalty on the sequence
    case("lstm_constraints_activity", [(4, 3)], lambda k: k.layers.LSTM(
        3, return_sequences=True, kernel_constraint=C(k).MaxNorm(0.5), recurrent_constraint=C(k).UnitNorm(axis=1),
        bias_constraint=C(k).NonNeg(), activity_regularizer=R(k).L1L2(0.01, 0.02))),
    case("gru_constraints_activity", [(4, 3)], lambda k: k.layers.GRU(
        3, kernel_constraint=C(k).MinMaxNorm(0.6, 0.8, axis=0), recurrent_constraint=C(k).MaxNorm(0.4, axis=1),
        bias_constraint=C(k).MaxNorm(0.3, axis=1), activity_regularizer=R(k).L2(0.1))),
    case("simple_rnn_constraints", [(4, 3)], lambda k: k.layers.SimpleRNN(
        2, kernel_constraint=C(k).NonNeg(), recurrent_constraint=C(k).MaxNorm(0.3, axis=None),
        activity_regularizer=R(k).L1(0.05))),
    # the penalty of every output: the sequence's last output and both states
    case("lstm_return_state_activity", [(3, 2)], build=lstm_states),
    case("conv_lstm2d_constraints", [(2, 4, 4, 2)], lambda k: k.layers.ConvLSTM2D(
        2, 2, kernel_constraint=C(k).MaxNorm(0.5, axis=[0, 1, 2]), recurrent_constraint=C(k).NonNeg(),
        activity_regularizer=R(k).L2(0.01))),
    # normalization: gamma and beta
    case("batch_norm_gamma_beta", [(4, 3)], build=dense_then(lambda k: k.layers.BatchNormalization(
        gamma_constraint=C(k).MaxNorm(0.8), beta_constraint=C(k).NonNeg()))),
    case("layer_norm_gamma_beta", [(5,)], build=dense_then(lambda k: k.layers.LayerNormalization(
        gamma_constraint=C(k).UnitNorm(), beta_constraint=C(k).MinMaxNorm(0.2, 0.3)))),
    case("group_norm_gamma_beta", [(4,)], build=dense_then(lambda k: k.layers.GroupNormalization(
        groups=2, gamma_constraint=C(k).NonNeg(), beta_constraint=C(k).MaxNorm(0.2)))),
    case("prelu_alpha_nonneg", [(5,)], build=dense_then(lambda k: k.layers.PReLU(
        alpha_constraint=C(k).NonNeg()))),
    case("einsum_dense_constraints", [(5,)], lambda k: k.layers.EinsumDense(
        "ab,bc->ac", output_shape=4, bias_axes="c", kernel_constraint=C(k).MaxNorm(0.5),
        bias_constraint=C(k).NonNeg(), activity_regularizer=R(k).L2(0.02))),
    case("mha_kernel_constraint", [(3, 4), (2, 4)], build=lambda k, ins: k.layers.MultiHeadAttention(
        num_heads=2, key_dim=2, kernel_constraint=C(k).MaxNorm(0.5, axis=0),
        bias_constraint=C(k).NonNeg())(ins[0], ins[1])),
    # attention: Keras gives the activity regularizer to each projection (query, key, value, output);
    # GroupQueryAttention applies it to its output once more
    case("mha_activity_dense_before", [(3, 4), (2, 4)], build=lambda k, ins: k.layers.MultiHeadAttention(
        num_heads=2, key_dim=3, value_dim=2, activity_regularizer=R(k).L1L2(0.01, 0.02))(
            k.layers.Dense(4)(ins[0]), ins[1])),
    case("mha_activity_key", [(3, 4), (2, 5), (2, 3)], build=lambda k, ins: k.layers.MultiHeadAttention(
        num_heads=2, key_dim=2, activity_regularizer=R(k).L2(0.05), kernel_constraint=C(k).UnitNorm(axis=0))(
            ins[0], ins[1], key=ins[2])),
    case("gqa_activity", [(3, 4), (2, 4)], build=lambda k, ins: k.layers.GroupQueryAttention(
        head_dim=2, num_query_heads=4, num_key_value_heads=2, activity_regularizer=R(k).L1L2(0.02, 0.03))(
            k.layers.Dense(4)(ins[0]), ins[1])),
    # RNN: its cells' regularizers and constraints
    case("rnn_lstm_cell", [(4, 3)], lambda k: k.layers.RNN(k.layers.LSTMCell(
        3, kernel_constraint=C(k).MaxNorm(0.5), recurrent_constraint=C(k).UnitNorm(axis=1),
        bias_regularizer=R(k).L2(0.1)), activity_regularizer=R(k).L1(0.02))),
    case("rnn_stacked_cells", [(4, 3)], lambda k: k.layers.RNN([
        k.layers.GRUCell(3, bias_constraint=C(k).NonNeg(), kernel_regularizer=R(k).L1(0.01)),
        k.layers.SimpleRNNCell(2, recurrent_constraint=C(k).MinMaxNorm(0.5, 0.6))], return_sequences=True)),
    # TimeDistributed: the wrapped layer's weight constraints and regularizers
    case("time_distributed_dense", [(3, 5)], lambda k: k.layers.TimeDistributed(k.layers.Dense(
        4, kernel_constraint=C(k).MaxNorm(0.5), bias_constraint=C(k).NonNeg(), kernel_regularizer=R(k).L2(0.05)))),
    case("time_distributed_conv2d", [(2, 4, 4, 2)], lambda k: k.layers.TimeDistributed(k.layers.Conv2D(
        2, 2, kernel_constraint=C(k).UnitNorm(axis=[0, 1, 2]), bias_regularizer=R(k).L1(0.1)))),
    # Bidirectional: the wrapped layer's constraints and regularizers on both directions
    case("bidirectional_lstm", [(4, 3)], lambda k: k.layers.Bidirectional(k.layers.LSTM(
        3, kernel_constraint=C(k).MaxNorm(0.5), recurrent_constraint=C(k).UnitNorm(axis=1),
        bias_constraint=C(k).NonNeg(), kernel_regularizer=R(k).L2(0.02)))),
    case("bidirectional_gru_sum", [(4, 3)], lambda k: k.layers.Bidirectional(k.layers.GRU(
        2, return_sequences=True, recurrent_constraint=C(k).MinMaxNorm(0.5, 0.7, axis=0),
        bias_regularizer=R(k).L1(0.05)), merge_mode="sum")),
]
