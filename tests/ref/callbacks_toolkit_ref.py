#!/usr/bin/python3
"""Keras' own ReduceLROnPlateau, LearningRateScheduler and CSVLogger on scripted logs, for
tests/test_toolkit_callbacks.c.

Run with the oracle (real Keras 3.11.3): export KERAS_ORACLE_SRC=/opt/keras-oracle;
/usr/bin/python3 tests/ref/callbacks_toolkit_ref.py -> tests/fixtures/callbacks/toolkit.json
  reduce_lr: per configuration, the monitored sequence, and after each epoch end the
             "learning_rate" Keras put in the logs and the optimizer's rate after the call
  scheduler: the rate set at each epoch begin by lr -> lr * 0.5 every third epoch
  csv:       per configuration, the scripted logs and the exact text of the file Keras wrote
"""
import contextlib
import io
import json
import math
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "keras"))
from layer_cases import import_keras  # noqa: E402

keras = import_keras()
import numpy as np  # noqa: E402


def model_with(lr, metrics):
    inp = keras.Input((2,))
    m = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(inp))
    m.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="binary_crossentropy", metrics=metrics)
    # build the compiled metrics as fit would (MonitorCallback reads their directions)
    m.evaluate(np.zeros((2, 2), np.float32), np.zeros((2, 1), np.float32), verbose=0)
    return m


def lr_of(m):
    return float(keras.ops.convert_to_numpy(m.optimizer.learning_rate))


out = {"keras": keras.__version__, "reduce_lr": [], "scheduler": {}, "csv": []}

VAL_LOSS = [1.0, 0.9, 0.95, 0.95, 0.91, 0.92, 0.93, 0.80, 0.85, 0.85, 0.86, 0.87, 0.88, 0.70, 0.71, 0.72, 0.73,
            0.74, 0.75, 0.76]
VAL_ACC = [0.5, 0.6, 0.6, 0.59, 0.61, 0.61, 0.6, 0.7, 0.7, 0.69, 0.69, 0.7, 0.72, 0.72, 0.72, 0.71, 0.7, 0.7,
           0.7, 0.7]
CONFIGS = [
    ("val_loss", VAL_LOSS, dict(factor=0.5, patience=2)),
    ("val_loss", VAL_LOSS, dict(factor=0.5, patience=1, cooldown=2)),
    ("val_loss", VAL_LOSS, dict(factor=0.1, patience=1, min_lr=0.002)),
    ("val_loss", VAL_LOSS, dict(factor=0.5, patience=1, min_delta=0.05)),
    ("val_accuracy", VAL_ACC, dict(factor=0.5, patience=2)),
    ("val_accuracy", VAL_ACC, dict(factor=0.2, patience=1, mode="min", cooldown=1, verbose=1)),
    ("loss", VAL_LOSS, dict(factor=0.3, patience=3, min_delta=0.0)),
]
for monitor, seq, kw in CONFIGS:
    m = model_with(0.1, ["accuracy"])
    cb = keras.callbacks.ReduceLROnPlateau(monitor=monitor, **kw)
    cb.set_model(m)
    cb.on_train_begin()
    logged, after = [], []
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        for e, v in enumerate(seq):
            logs = {"loss": 2.0, monitor: v}
            cb.on_epoch_end(e, logs)
            logged.append(logs["learning_rate"])
            after.append(lr_of(m))
    out["reduce_lr"].append({"monitor": monitor, "values": seq, "config": kw, "logged": logged, "after": after,
                             "stdout": buf.getvalue()})

m = model_with(0.2, None)
cb = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch % 3 == 2 else lr, verbose=1)
cb.set_model(m)
rates, logged = [], []
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    for e in range(8):
        cb.on_epoch_begin(e)
        rates.append(lr_of(m))
        logs = {"loss": 1.0}  # not empty: Keras' `logs or {}` would drop an empty dict
        cb.on_epoch_end(e, logs)
        logged.append(logs["learning_rate"])
out["scheduler"] = {"initial": 0.2, "rates": rates, "logged": logged, "stdout": buf.getvalue()}

CSV_RUNS = [
    ("default", dict(), [{"loss": 0.6931471824645996, "accuracy": 0.5, "val_loss": 0.7, "val_accuracy": 0.25},
                         {"loss": 1e-05, "accuracy": 1.0, "val_loss": float("nan"), "val_accuracy": 123.0}]),
    ("no_val", dict(separator=";"), [{"loss": 0.1, "mae": 2.5}, {"loss": 0.05, "mae": 1.25e-07}]),
    ("missing_later", dict(), [{"loss": 0.3, "val_loss": 0.4}, {"loss": 0.2}, {"loss": 0.1, "val_loss": 0.2,
                                                                                  "extra": 1.0}]),
    ("quoted", dict(separator="\t"), [{"a\tb": 1.0, "q\"uote": 2.0, "loss": 3.0}]),
]
with tempfile.TemporaryDirectory() as d:
    for name, kw, epochs in CSV_RUNS:
        path = os.path.join(d, name + ".csv")
        cb = keras.callbacks.CSVLogger(path, **kw)
        cb.on_train_begin()
        for e, logs in enumerate(epochs):
            cb.on_epoch_end(e, dict(logs))
        cb.on_train_end()
        with open(path, "rb") as f:
            text = f.read().decode()
        out["csv"].append({"name": name, "config": kw, "epochs": epochs, "text": text})
    # append: a second fit appending to the first one's file (no header), and to an empty file
    path = os.path.join(d, "append.csv")
    for k in range(2):
        cb = keras.callbacks.CSVLogger(path, append=True)
        cb.on_train_begin()
        cb.on_epoch_end(0, {"loss": 0.5 + k, "val_loss": 0.25})
        cb.on_train_end()
    with open(path, "rb") as f:
        out["csv_append"] = f.read().decode()

path = os.path.join(ROOT, "tests", "fixtures", "callbacks", "toolkit.json")


def clean(o):  # NaN as a string: JSON has no NaN
    if isinstance(o, float) and math.isnan(o):
        return "nan"
    if isinstance(o, dict):
        return {k: clean(v) for k, v in o.items()}
    if isinstance(o, list):
        return [clean(v) for v in o]
    return o


with open(path, "w") as f:
    json.dump(clean(out), f, indent=1)
    f.write("\n")
print("wrote", path)
