#!/usr/bin/python3
"""Keras 3's values and gradients of the activations ckeras added after activations.json, at fixed
points near 0, at the kinks and at large magnitudes. Writes
tests/fixtures/keras3-traces/activations_points.json (read by tests/test_activations.c).

Usage (from the source root): KERAS_ORACLE_SRC=/opt/keras-oracle /usr/bin/python3 tests/keras/activation_points.py
Each result: output = keras.activations.get(name)(x), grad = d sum(w * output) / dx (torch autograd)."""
import json
import os
import sys

sys.path.insert(0, "/work/shared/tools/keras-oracle")
import oracle_env  # noqa: E402,F401
import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

NAMES = ["celu", "hard_tanh", "log_sigmoid", "sparse_plus", "sparse_sigmoid", "squareplus", "tanh_shrink",
         "soft_shrink", "hard_shrink", "sparsemax", "glu"]
X = np.array([[-30.0, -5.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5],
              [1.0, 1.5, 5.0, 30.0, -2.0, 2.0, 0.25, -0.25],
              [0.3, 0.1, -0.2, 0.25, 0.05, -0.4, 0.2, 0.15]], dtype=np.float32)


def main():
    rng = np.random.default_rng(77)
    out = {"keras_version": keras.__version__, "backend": keras.backend.backend(), "x": X.tolist(), "results": {}}
    for name in NAMES:
        f = keras.activations.get(name)
        x = torch.tensor(X, requires_grad=True)
        y = f(x)
        w = torch.tensor(rng.uniform(-1, 1, tuple(y.shape)).astype(np.float32))
        (y * w).sum().backward()
        out["results"][name] = {"w": w.numpy().tolist(), "output": y.detach().numpy().tolist(),
                                "grad": x.grad.numpy().tolist()}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "keras3-traces",
                        "activations_points.json")
    with open(path, "w") as fh:
        json.dump(out, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
