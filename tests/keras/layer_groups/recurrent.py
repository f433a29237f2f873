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
