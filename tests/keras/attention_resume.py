#!/usr/bin/python3
"""Keras 3.11 trains a small MultiHeadAttention model one Adam step, saves it (.h5, with the
optimizer), then takes a second step: tests/fixtures/attention/mha_adam_resume.{h5,npz} hold the
file, the batch (x, t) and every weight after the second step (w.<layer>.<i>). test_attention
loads the file in ckeras, takes the same second step and compares: the Adam state of the
MultiHeadAttention's weights ("adam/mha_query_kernel_momentum", ...) must come back.

Run (from the source root, with the oracle): KERAS_ORACLE_SRC=/opt/keras-oracle \\
  /usr/bin/python3 tests/keras/attention_resume.py
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "layer_groups"))
from layer_cases import import_keras  # noqa: E402

keras = import_keras()
import attention  # noqa: E402,F401  (torch 1.13: scaled_dot_product_attention)
import numpy as np  # noqa: E402

out = os.path.join(os.path.dirname(HERE), "fixtures", "attention")
os.makedirs(out, exist_ok=True)
keras.utils.set_random_seed(7)
rng = np.random.default_rng(7)
x_in = keras.Input((4, 3), name="x")
h = keras.layers.Dense(3, name="pre")(x_in)
y = keras.layers.MultiHeadAttention(num_heads=2, key_dim=2, name="mha")(h, h, use_causal_mask=True)
model = keras.Model(x_in, y, name="mha_adam_resume")
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
x = rng.uniform(-1, 1, (5, 4, 3)).astype(np.float32)
t = rng.uniform(-1, 1, (5, 4, 3)).astype(np.float32)
model.train_on_batch(x, t)
path = os.path.join(out, "mha_adam_resume.h5")
if os.path.exists(path):
    os.remove(path)
model.save(path)
model.train_on_batch(x, t)
arrays = {"x": x, "t": t}
for lay in model.layers:
    for i, v in enumerate(lay.weights):
        arrays["w.%s.%d" % (lay.name, i)] = np.asarray(keras.ops.convert_to_numpy(v), dtype=np.float32)
np.savez(os.path.join(out, "mha_adam_resume.npz"), **arrays)
print("wrote", path)
