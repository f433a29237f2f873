#!/usr/bin/python3
"""Keras' own learning-rate schedules, for tests/test_schedules.c.

Run with the oracle (real Keras 3.11.3): export KERAS_ORACLE_SRC=/opt/keras-oracle;
/usr/bin/python3 tests/ref/schedules_ref.py  -> tests/fixtures/schedules/schedules.json:
  "cases":  per schedule config, Keras' schedule(step) at chosen steps (float32 values), and the
            config Keras serializes (keras.optimizers.schedules.serialize)
  "train":  a Dense(2) model on 4 fixed samples, SGD(learning_rate=ExponentialDecay(...)),
            three train_on_batch steps: the kernel and bias after each, and
            optimizer.learning_rate before each step
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "keras"))
from layer_cases import import_keras  # noqa: E402

keras = import_keras()
import numpy as np  # noqa: E402

S = keras.optimizers.schedules
STEPS = [0, 1, 2, 3, 5, 7, 10, 15, 20, 25, 30, 49, 50, 51, 99, 100, 101, 150, 299, 300, 301, 700, 1000, 5000]
CASES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5)),
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.9, staircase=True)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.5, decay_steps=3.0, decay_rate=0.25)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.5, decay_steps=10, decay_rate=1.5, staircase=True)),
    ("PiecewiseConstantDecay", dict(boundaries=[10, 50, 300], values=[1.0, 0.5, 0.1, 0.01])),
    ("PiecewiseConstantDecay", dict(boundaries=[5], values=[0.3, 0.03])),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=100)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=30, end_learning_rate=0.01, power=0.5)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=30, end_learning_rate=0.001, power=2.0,
                             cycle=True)),
    ("CosineDecay", dict(initial_learning_rate=0.2, decay_steps=100)),
    ("CosineDecay", dict(initial_learning_rate=0.2, decay_steps=100, alpha=0.1)),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=100, alpha=0.05, warmup_target=0.4,
                         warmup_steps=20)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=10)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=20, t_mul=1.0, m_mul=0.5,
                                 alpha=0.01)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=15, t_mul=1.5, m_mul=0.9)),
]

out = {"keras": keras.__version__, "steps": STEPS, "cases": [], "train": {}}
for cls, kw in CASES:
    sched = getattr(S, cls)(**kw)
    vals = [float(keras.ops.convert_to_numpy(sched(np.int64(s)))) for s in STEPS]
    out["cases"].append({"class_name": cls, "config": kw, "lr": vals,
                         "serialized": S.serialize(sched)})

keras.utils.set_random_seed(7)
x = np.array([[0.5, -1.0, 0.25], [1.5, 0.5, -0.5], [-1.0, 0.75, 1.0], [0.0, -0.25, 0.5]], np.float32)
y = np.array([[1.0, -1.0], [0.5, 0.25], [-0.5, 1.0], [0.0, 0.5]], np.float32)
inp = keras.Input((3,))
dense = keras.layers.Dense(2)
model = keras.Model(inp, dense(inp))
kernel = np.array([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]], np.float32)
bias = np.array([0.05, -0.05], np.float32)
dense.set_weights([kernel, bias])
sched_kw = dict(initial_learning_rate=0.2, decay_steps=1, decay_rate=0.5)
model.compile(optimizer=keras.optimizers.SGD(learning_rate=S.ExponentialDecay(**sched_kw)), loss="mse")
steps = []
for k in range(3):
    lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    model.train_on_batch(x, y)
    kk, bb = dense.get_weights()
    steps.append({"lr_before": lr, "kernel": kk.tolist(), "bias": bb.tolist()})
out["train"] = {"x": x.tolist(), "y": y.tolist(), "kernel": kernel.tolist(), "bias": bias.tolist(),
                "schedule": {"class_name": "ExponentialDecay", "config": sched_kw}, "steps": steps,
                "optimizer_config": keras.optimizers.serialize(model.optimizer)}
path = os.path.join(ROOT, "tests", "fixtures", "schedules", "schedules.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print("wrote", path)
