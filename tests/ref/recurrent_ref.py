#!/usr/bin/python3
"""Reference forwards of recurrent layers and Embedding for tests/test_recurrent.c.

Computed independently of ckeras: PyTorch's nn.RNN / nn.LSTM / nn.GRU (weights converted from
Keras' layouts: kernel (F, G*U) is torch's weight_ih transposed; torch's LSTM gate order i, f, g, o
is Keras' i, f, c, o; torch's GRU order r, z, n is Keras' z, r, h reordered, and torch's GRU is
Keras' reset_after=True), and plain NumPy (float64) for what torch lacks (GRU reset_after=False,
Keras 2's hard_sigmoid, Embedding). Writes tests/fixtures/recurrent/cases.json.
Run from the source root: /usr/bin/python3 tests/ref/recurrent_ref.py
"""
import json
import os

import numpy as np
import torch

rng = np.random.default_rng(20240611)
torch.set_default_dtype(torch.float64)


def rand(*shape, scale=0.5):
    return (rng.uniform(-scale, scale, size=shape)).astype(np.float32)


def t64(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def blocks(w, order, U):
    """columns of a Keras (.., G*U) matrix, blocks reordered (order lists Keras block indices)"""
    return np.concatenate([w[..., k * U:(k + 1) * U] for k in order], axis=-1)


def torch_rnn(kind, x, W, R, b, U, bidirectional=False, Wb=None, Rb=None, bb=None, h0=None, c0=None):
    """x (n, T, F) -> torch output (n, T, D*U) and final h (D, n, U)"""
    F = x.shape[2]
    bias = b is not None
    cls = {"simple": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    m = cls(F, U, batch_first=True, bias=bias, bidirectional=bidirectional)
    order = {"simple": [0], "lstm": [0, 1, 2, 3], "gru": [1, 0, 2]}[kind]
    dirs = [("", W, R, b)] + ([("_reverse", Wb, Rb, bb)] if bidirectional else [])
    with torch.no_grad():
        for sfx, Wd, Rd, bd in dirs:
            getattr(m, "weight_ih_l0" + sfx).copy_(t64(blocks(Wd, order, U).T))
            getattr(m, "weight_hh_l0" + sfx).copy_(t64(blocks(Rd, order, U).T))
            if bias:
                if kind == "gru":  # Keras reset_after bias (2, 3U): input row, recurrent row
                    getattr(m, "bias_ih_l0" + sfx).copy_(t64(blocks(bd[0], order, U)))
                    getattr(m, "bias_hh_l0" + sfx).copy_(t64(blocks(bd[1], order, U)))
                else:
                    getattr(m, "bias_ih_l0" + sfx).copy_(t64(blocks(bd, order, U)))
                    getattr(m, "bias_hh_l0" + sfx).zero_()
    args = [t64(x)]
    if h0 is not None:
        hh = t64(h0)[None]
        args.append((hh, t64(c0)[None]) if kind == "lstm" else hh)
    out, st = m(*args)
    h = st[0] if kind == "lstm" else st
    return out.detach().numpy(), h.detach().numpy()


def np_act(name, z):
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "hard_sigmoid_k2":
        return np.clip(0.2 * z + 0.5, 0, 1)
    if name == "relu":
        return np.maximum(z, 0)
    raise ValueError(name)


def np_lstm(x, W, R, b, U, act="tanh", ract="sigmoid"):
    x = x.astype(np.float64)
    n, T, _ = x.shape
    h = np.zeros((n, U))
    c = np.zeros((n, U))
    outs = []
    for t in range(T):
        z = x[:, t] @ W + h @ R + b
        i, f, g, o = (z[:, k * U:(k + 1) * U] for k in range(4))
        c = np_act(ract, f) * c + np_act(ract, i) * np_act(act, g)
        h = np_act(ract, o) * np_act(act, c)
        outs.append(h)
    return np.stack(outs, 1)


def np_gru_reset_before(x, W, R, b, U):
    """Keras GRU reset_after=False: hh = tanh(x W_h + b_h + (r * h) R_h)"""
    x = x.astype(np.float64)
    n, T, _ = x.shape
    h = np.zeros((n, U))
    outs = []
    for t in range(T):
        xz = x[:, t] @ W + b
        z = np_act("sigmoid", xz[:, :U] + h @ R[:, :U])
        r = np_act("sigmoid", xz[:, U:2 * U] + h @ R[:, U:2 * U])
        hh = np.tanh(xz[:, 2 * U:] + (r * h) @ R[:, 2 * U:])
        h = z * h + (1 - z) * hh
        outs.append(h)
    return np.stack(outs, 1)


def L(a):
    return np.asarray(a, dtype=np.float64).tolist()


cases = {}
n, T, F, U = 2, 5, 3, 4

# SimpleRNN, return_sequences, tanh
x = rand(n, T, F, scale=1.0)
W, R, b = rand(F, U), rand(U, U), rand(U)
y, _ = torch_rnn("simple", x, W, R, b, U)
cases["simple_rnn_seq"] = dict(cls="SimpleRNN", units=U, return_sequences=True, x=L(x), w=[L(W), L(R), L(b)], y=L(y))

# SimpleRNN relu, last output only
y, _ = torch_rnn("simple", x, W, R, b, U)  # tanh reference above; relu below in numpy
h = np.zeros((n, U))
for t in range(T):
    h = np.maximum(x[:, t].astype(np.float64) @ W + h @ R + b, 0)
cases["simple_rnn_relu_last"] = dict(cls="SimpleRNN", units=U, activation="relu", x=L(x), w=[L(W), L(R), L(b)],
                                     y=L(h))

# LSTM, last output
W, R, b = rand(F, 4 * U), rand(U, 4 * U), rand(4 * U)
y, _ = torch_rnn("lstm", x, W, R, b, U)
cases["lstm_last"] = dict(cls="LSTM", units=U, x=L(x), w=[L(W), L(R), L(b)], y=L(y[:, -1]))

# LSTM go_backwards, return_sequences: Keras returns the outputs in processing (reversed) order
y, _ = torch_rnn("lstm", x[:, ::-1].copy(), W, R, b, U)
cases["lstm_backwards_seq"] = dict(cls="LSTM", units=U, return_sequences=True, go_backwards=True, x=L(x),
                                   w=[L(W), L(R), L(b)], y=L(y))

# LSTM with Keras 2's hard_sigmoid (a layer read from a Keras 2 file)
y = np_lstm(x, W, R, b, U, ract="hard_sigmoid_k2")
cases["lstm_hard_sigmoid_k2"] = dict(cls="LSTM", units=U, return_sequences=True, recurrent_activation="hard_sigmoid",
                                     keras2=True, x=L(x), w=[L(W), L(R), L(b)], y=L(y))
y = np_lstm(x, W, R, b, U)
tl, _ = torch_rnn("lstm", x, W, R, b, U)
assert np.abs(y - tl).max() < 1e-12  # the NumPy LSTM agrees with torch

# LSTM with initial states [x, h0, c0]
h0, c0 = rand(n, U, scale=1.0), rand(n, U, scale=1.0)
y, _ = torch_rnn("lstm", x, W, R, b, U, h0=h0, c0=c0)
cases["lstm_initial_state"] = dict(cls="LSTM", units=U, return_sequences=True, x=L(x), h0=L(h0), c0=L(c0),
                                   w=[L(W), L(R), L(b)], y=L(y))

# GRU reset_after=True (Keras 2/3 default), bias (2, 3U)
W, R, b2 = rand(F, 3 * U), rand(U, 3 * U), rand(2, 3 * U)
y, _ = torch_rnn("gru", x, W, R, b2, U)
cases["gru_reset_after_seq"] = dict(cls="GRU", units=U, return_sequences=True, x=L(x), w=[L(W), L(R), L(b2)],
                                    y=L(y))
# GRU with an initial state [x, h0]
y, _ = torch_rnn("gru", x, W, R, b2, U, h0=h0)
cases["gru_initial_state"] = dict(cls="GRU", units=U, x=L(x), h0=L(h0), w=[L(W), L(R), L(b2)], y=L(y[:, -1]))

# GRU reset_after=False, bias (3U)
b1 = rand(3 * U)
y = np_gru_reset_before(x, W, R, b1, U)
cases["gru_reset_before_last"] = dict(cls="GRU", units=U, reset_after=False, x=L(x), w=[L(W), L(R), L(b1)],
                                      y=L(y[:, -1]))

# Bidirectional(LSTM(return_sequences=True, use_bias=False)), concat: torch's bidirectional output
Wf, Rf, Wb, Rb = rand(F, 4 * U), rand(U, 4 * U), rand(F, 4 * U), rand(U, 4 * U)
y, _ = torch_rnn("lstm", x, Wf, Rf, None, U, bidirectional=True, Wb=Wb, Rb=Rb)
cases["bidi_lstm_concat_seq"] = dict(cls="Bidirectional", inner="LSTM", units=U, return_sequences=True,
                                     use_bias=False, merge_mode="concat", x=L(x),
                                     w=[L(Wf), L(Rf), L(Wb), L(Rb)], y=L(y))

# Bidirectional(GRU(use_bias=False)), sum of the last outputs (backward: its final state)
Wf, Rf, Wb, Rb = rand(F, 3 * U), rand(U, 3 * U), rand(F, 3 * U), rand(U, 3 * U)
_, h = torch_rnn("gru", x, Wf, Rf, None, U, bidirectional=True, Wb=Wb, Rb=Rb)
cases["bidi_gru_sum_last"] = dict(cls="Bidirectional", inner="GRU", units=U, use_bias=False, merge_mode="sum",
                                  x=L(x), w=[L(Wf), L(Rf), L(Wb), L(Rb)], y=L(h[0] + h[1]))

# Embedding: indices as floats; an index outside [0, input_dim) reads zeros
V, D = 7, 3
E = rand(V, D)
idx = np.array([[0, 6, 3, 3], [2, 7, -1, 5]], dtype=np.float32)
y = np.stack([[E[int(i)] if 0 <= i < V else np.zeros(D) for i in row] for row in idx])
cases["embedding"] = dict(cls="Embedding", input_dim=V, output_dim=D, x=L(idx), w=[L(E)], y=L(y))

os.makedirs("tests/fixtures/recurrent", exist_ok=True)
with open("tests/fixtures/recurrent/cases.json", "w") as f:
    json.dump(cases, f, indent=0)
print("wrote", len(cases), "cases")
