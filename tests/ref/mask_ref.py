#!/usr/bin/python3
"""Reference outputs of masked sequence models for tests/test_mask.c, from REAL Keras 3.11.3
(the oracle: torch backend). Each case is a Keras model on Input((None,)) or
Input((None, 2)) (Sequential) with Embedding(mask_zero=True) or Masking; Keras draws its weights (seeded) and
predicts. Writes tests/fixtures/mask/cases.json: per case the model's JSON (model.to_json()), its
weights by layer name (Keras' order), the inputs and Keras' outputs.
Run from the source root:
    export KERAS_ORACLE_SRC=/opt/keras-oracle
    PYTHONPATH=/work/shared/tools/keras-oracle /usr/bin/python3 tests/ref/mask_ref.py
"""
import json

import oracle_env  # noqa: F401
import keras
import numpy as np

L = keras.layers
keras.utils.set_random_seed(20261203)

X_IDX = np.array([[3, 1, 0, 2, 0, 5],    # masked steps in the middle and at the end
                  [0, 0, 4, 2, 1, 1],    # leading masked steps (pre-padding)
                  [5, 4, 3, 2, 1, 1],    # nothing masked
                  [0, 0, 0, 0, 0, 0]],   # everything masked
                 dtype="float32")


def emb():
    return L.Embedding(6, 3, mask_zero=True, embeddings_initializer=keras.initializers.RandomUniform(-1, 1))


def seq_model(make, x=X_IDX):
    """a Sequential model (a functional one would hold Keras 3's NotEqual op for the mask)"""
    return keras.Sequential([keras.Input((None,)), emb()] + make()), x


def rnn(cls, **kw):
    return lambda: [cls(3, bias_initializer=keras.initializers.RandomUniform(-0.5, 0.5), **kw)]


def bidi(cls, merge_mode, **kw):
    return lambda: [L.Bidirectional(cls(2, bias_initializer=keras.initializers.RandomUniform(-0.5, 0.5), **kw),
                                    merge_mode=merge_mode)]


def chain():
    return [L.Dropout(0.3), L.Dense(4, activation="tanh"), L.LSTM(3, return_sequences=True),
            L.TimeDistributed(L.Dense(2)), L.GlobalAveragePooling1D()]


def masking_model():
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, size=(3, 5, 2)).astype("float32")
    x[0, 3:] = 0.0
    x[1, :2] = 0.0
    x[2, 2] = 0.0
    return keras.Sequential([keras.Input((None, 2)), L.Masking(0.0), L.GRU(3, return_sequences=True)]), x


CASES = {
    "simple_last": lambda: seq_model(rnn(L.SimpleRNN)),
    "simple_seq": lambda: seq_model(rnn(L.SimpleRNN, return_sequences=True)),
    "simple_back_seq": lambda: seq_model(rnn(L.SimpleRNN, return_sequences=True, go_backwards=True)),
    "lstm_last": lambda: seq_model(rnn(L.LSTM)),
    "lstm_seq": lambda: seq_model(rnn(L.LSTM, return_sequences=True)),
    "lstm_back_last": lambda: seq_model(rnn(L.LSTM, go_backwards=True)),
    "gru_last": lambda: seq_model(rnn(L.GRU)),
    "gru_v1_seq": lambda: seq_model(rnn(L.GRU, return_sequences=True, reset_after=False)),
    "bidi_lstm_last": lambda: seq_model(bidi(L.LSTM, "concat")),
    "bidi_lstm_seq": lambda: seq_model(bidi(L.LSTM, "concat", return_sequences=True)),
    "bidi_gru_sum_seq": lambda: seq_model(bidi(L.GRU, "sum", return_sequences=True)),
    "bidi_simple_mul_seq": lambda: seq_model(bidi(L.SimpleRNN, "mul", return_sequences=True)),
    "bidi_simple_ave_last": lambda: seq_model(bidi(L.SimpleRNN, "ave")),
    "chain_gap": lambda: seq_model(chain, X_IDX[:3]),
    "simple_zero_out_seq": lambda: seq_model(rnn(L.SimpleRNN, return_sequences=True, zero_output_for_mask=True)),
    "embedding_gap": lambda: seq_model(lambda: [L.GlobalAveragePooling1D()], X_IDX[:3]),
    "masking_gru_seq": masking_model,
}


def functional_files():
    """A Keras 3 functional model: its config holds the mask as a NotEqual op node passed to the
    recurrent layers by their "mask" call keyword. Saved as .keras and .h5 with inputs and Keras'
    predictions."""
    i = keras.Input((None,))
    e = L.Embedding(10, 4, mask_zero=True)(i)
    h = L.Bidirectional(L.LSTM(3, return_sequences=True))(e)
    h = L.GRU(2)(h)
    o = L.Dense(2, activation="softmax")(h)
    m = keras.Model(i, o)
    x = np.array([[1, 2, 3, 0, 0], [0, 0, 5, 6, 7], [4, 0, 9, 0, 1]], "float32")
    stem = "tests/fixtures/mask/k3_func_mask"
    np.save(stem + ".inputs.npy", x)
    np.save(stem + ".expected.npy", m.predict(x, verbose=0))
    m.save(stem + ".keras")
    m.save(stem + ".h5")


def weights_of(model):
    return {layer.name: [{"shape": list(w.shape), "data": np.asarray(w.numpy()).ravel().tolist()}
                         for w in layer.weights] for layer in model.layers if layer.weights}


def tagger_training():
    """One target per step with padding: Keras 3's losses weigh the rows by the output's mask
    (Loss.__call__ reads it from y_pred); its compiled metrics do not. The loss and accuracy,
    one SGD(0.5) step on the gradient of that loss (torch autograd through the Keras model:
    model.compile/evaluate do not run under the oracle's torch 1.13), and the loss again."""
    import torch  # noqa: F401
    m = keras.Sequential([keras.Input((None,)), emb(), L.LSTM(3, return_sequences=True),
                          L.Dense(3, activation="softmax")])
    y = (np.arange(X_IDX.size).reshape(X_IDX.shape) % 3).astype("float32")
    loss = keras.losses.SparseCategoricalCrossentropy()

    def evaluate():
        yp = m(X_IDX, training=False)
        acc = keras.metrics.SparseCategoricalAccuracy()
        acc.update_state(y, yp)
        return [float(loss(y, yp)), float(acc.result())]

    before = weights_of(m)
    ev0 = evaluate()
    value = loss(y, m(X_IDX, training=True))
    value.backward()
    for v in m.trainable_variables:
        v.assign(v.value.detach().numpy() - 0.5 * v.value.grad.detach().numpy())
    ev1 = evaluate()
    return {"json": m.to_json(), "weights": before, "x": X_IDX.tolist(), "y_true": y.tolist(),
            "eval_before": ev0, "eval_after": ev1, "weights_after": weights_of(m)}


def main():
    functional_files()
    out = {"tagger_training": tagger_training()}
    for name, make in CASES.items():
        model, x = make()
        y = model.predict(x, verbose=0)
        out[name] = {"json": model.to_json(), "weights": weights_of(model), "x": x.tolist(), "y": y.tolist()}
        print(name, y.shape)
    with open("tests/fixtures/mask/cases.json", "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
