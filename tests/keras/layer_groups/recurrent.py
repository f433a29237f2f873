"""Recurrent layers: SimpleRNN, LSTM, GRU (return_sequences x return_state), Bidirectional, the
generic RNN with SimpleRNNCell / LSTMCell / GRUCell / StackedRNNCells, ConvLSTM1D/2D."""
from layer_cases import case


def _combos():
    out = []
    for cls, extra in (("SimpleRNN", dict(activation="relu")),
                       ("LSTM", dict(recurrent_activation="hard_sigmoid", unit_forget_bias=False)),
                       ("GRU", dict(reset_after=False))):
        for seq in (False, True):
            for st in (False, True):
                for gb in (False, True):
                    if gb and (seq or st) and not (seq and st):
                        continue
                    nm = "%s_seq%d_st%d_gb%d" % (cls.lower(), seq, st, gb)
                    kw = dict(extra, return_sequences=seq, return_state=st, go_backwards=gb)
                    out.append(case(nm, [(4, 3)], (lambda c, kw: lambda k: getattr(k.layers, c)(2, **kw))(cls, kw)))
    return out


CASES = _combos()


def _flat(outs):
    if isinstance(outs, (list, tuple)):
        r = []
        for o in outs:
            r.extend(_flat(o))
        return r
    return [outs]


def _rnn(name, cells, dense=False, **kw):
    """RNN over the cells (a function keras -> cell or list of cells); outputs flattened."""
    def build(k, ins):
        x = ins[0]
        if dense:
            x = k.layers.Dense(3)(x)
        c = cells(k)
        if isinstance(c, list):
            c = k.layers.StackedRNNCells(c)
        return _flat(k.layers.RNN(c, **kw)(x))
    return case(name, [(5, 3)], build=build)


CASES += [
    _rnn("rnn_simple", lambda k: k.layers.SimpleRNNCell(3)),
    _rnn("rnn_simple_relu_nobias_seq", lambda k: k.layers.SimpleRNNCell(2, activation="relu", use_bias=False),
         return_sequences=True),
    _rnn("rnn_lstm", lambda k: k.layers.LSTMCell(2)),
    _rnn("rnn_lstm_state_gb", lambda k: k.layers.LSTMCell(2, recurrent_activation="hard_sigmoid",
                                                          unit_forget_bias=False),
         return_state=True, go_backwards=True, unroll=True),
    _rnn("rnn_lstm_seq_state", lambda k: k.layers.LSTMCell(3, activation="relu"), return_sequences=True,
         return_state=True),
    _rnn("rnn_gru", lambda k: k.layers.GRUCell(2), dense=True),
    _rnn("rnn_gru_reset_before_seq_state_gb", lambda k: k.layers.GRUCell(2, reset_after=False),
         return_sequences=True, return_state=True, go_backwards=True),
    _rnn("rnn_stacked_lstm_gru", lambda k: [k.layers.LSTMCell(3), k.layers.GRUCell(2)]),
    _rnn("rnn_stacked_seq_state", lambda k: [k.layers.GRUCell(2), k.layers.LSTMCell(3), k.layers.SimpleRNNCell(2)],
         return_sequences=True, return_state=True),
    _rnn("rnn_stacked_gb_state", lambda k: [k.layers.LSTMCell(2), k.layers.LSTMCell(3)], dense=True,
         return_state=True, go_backwards=True),
    _rnn("rnn_stacked_gb_seq", lambda k: [k.layers.SimpleRNNCell(2), k.layers.GRUCell(3, reset_after=False)],
         return_sequences=True, go_backwards=True),
]


def _bidi(name, inner, dense=False, **kw):
    def build(k, ins):
        x = ins[0]
        if dense:
            x = k.layers.Dense(3)(x)
        return _flat(k.layers.Bidirectional(inner(k), **kw)(x))
    return case(name, [(4, 3)], build=build)


CASES += [
    _bidi("bidi_lstm_state", lambda k: k.layers.LSTM(2, return_state=True)),
    _bidi("bidi_gru_seq_state_sum", lambda k: k.layers.GRU(2, return_state=True, return_sequences=True),
          merge_mode="sum"),
    _bidi("bidi_simple_state_mul", lambda k: k.layers.SimpleRNN(3, return_state=True), dense=True, merge_mode="mul"),
    _bidi("bidi_lstm_seq_state_ave", lambda k: k.layers.LSTM(2, return_state=True, return_sequences=True),
          merge_mode="ave"),
]


def _clstm(name, shape, layer, dense=False):
    def build(k, ins):
        x = ins[0]
        if dense:
            x = k.layers.Dense(2)(x)
        return _flat(layer(k)(x))
    return case(name, [shape], build=build)


CASES += [
    _clstm("convlstm2d_basic", (3, 5, 5, 2), lambda k: k.layers.ConvLSTM2D(2, 3)),
    _clstm("convlstm2d_same_seq", (3, 4, 5, 2), lambda k: k.layers.ConvLSTM2D(3, (3, 2), padding="same",
                                                                               return_sequences=True), dense=True),
    _clstm("convlstm2d_strided_state", (3, 6, 5, 2), lambda k: k.layers.ConvLSTM2D(
        2, 3, strides=(2, 1), padding="same", return_state=True, recurrent_activation="hard_sigmoid",
        activation="relu", unit_forget_bias=False)),
    _clstm("convlstm2d_dilated_gb_seq_state", (4, 6, 6, 1), lambda k: k.layers.ConvLSTM2D(
        2, 2, dilation_rate=2, go_backwards=True, return_sequences=True, return_state=True, use_bias=False)),
    _clstm("convlstm1d_basic", (3, 6, 2), lambda k: k.layers.ConvLSTM1D(3, 3)),
    _clstm("convlstm1d_same_strided_seq_state", (4, 7, 2), lambda k: k.layers.ConvLSTM1D(
        2, 3, strides=2, padding="same", return_sequences=True, return_state=True), dense=True),
    _clstm("convlstm1d_dilated_gb", (3, 7, 2), lambda k: k.layers.ConvLSTM1D(2, 2, dilation_rate=2,
                                                                              go_backwards=True)),
]


def _td(name, shape, inner, dense=False):
    def build(k, ins):
        x = ins[0]
        if dense:
            x = k.layers.Dense(2)(x)
        return k.layers.TimeDistributed(inner(k))(x)
    return case(name, [shape], build=build)


CASES += [
    _td("td_lstm_seq", (2, 4, 3), lambda k: k.layers.LSTM(2, return_sequences=True, go_backwards=True)),
    _td("td_rnn_stacked", (2, 4, 3), lambda k: k.layers.RNN([k.layers.SimpleRNNCell(3), k.layers.GRUCell(2)]),
        dense=True),
    _td("td_convlstm1d", (2, 3, 5, 2), lambda k: k.layers.ConvLSTM1D(2, 2, padding="same")),
]


def _masked_x(rng):
    import numpy as np
    x = rng.integers(1, 6, (3, 5)).astype(np.float32)
    x[0, 3:] = 0.0   # trailing padding
    x[1, 0] = 0.0    # a leading masked step
    x[2, 2] = 0.0    # one in the middle
    return [x]


def _masked_rnn(name, cells, **kw):
    """Embedding(mask_zero=True) then RNN: Keras' mask skips the steps of index 0."""
    def build(k, ins):
        x = k.layers.Embedding(6, 3, mask_zero=True)(ins[0])
        c = cells(k)
        if isinstance(c, list):
            c = k.layers.StackedRNNCells(c)
        return _flat(k.layers.RNN(c, **kw)(x))
    return case(name, [(5,)], build=build, x=_masked_x)


CASES += [
    _masked_rnn("rnn_masked_stacked_seq_gb", lambda k: [k.layers.LSTMCell(2), k.layers.GRUCell(3)],
                return_sequences=True, go_backwards=True),
    _masked_rnn("rnn_masked_lstm_state", lambda k: k.layers.LSTMCell(3), return_state=True),
    _masked_rnn("rnn_masked_zero_output_seq", lambda k: [k.layers.SimpleRNNCell(2), k.layers.LSTMCell(2)],
                return_sequences=True, zero_output_for_mask=True, return_state=True),
]
CASES += [
    _masked_rnn("rnn_masked_stacked_seq_state", lambda k: [k.layers.SimpleRNNCell(2), k.layers.LSTMCell(2)],
                return_sequences=True, return_state=True),
    case("lstm_masked_zero_output_seq", [(5,)], build=lambda k, ins: k.layers.LSTM(
        2, return_sequences=True, zero_output_for_mask=True)(k.layers.Embedding(6, 3, mask_zero=True)(ins[0])),
        x=_masked_x),
]

CASES += [
    _clstm("convlstm3d_basic", (2, 3, 4, 4, 1), lambda k: k.layers.ConvLSTM3D(2, 2)),
    _clstm("convlstm3d_same_strided_seq_state", (3, 4, 3, 5, 2), lambda k: k.layers.ConvLSTM3D(
        2, (3, 2, 3), strides=(2, 1, 2), padding="same", return_sequences=True, return_state=True), dense=True),
    _clstm("convlstm3d_dilated_gb", (2, 5, 3, 4, 1), lambda k: k.layers.ConvLSTM3D(
        1, (2, 2, 1), dilation_rate=(2, 1, 1), go_backwards=True, activation="relu")),
]
