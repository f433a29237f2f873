"""A functional model with two inputs and two outputs, written as for Keras.

Inputs: 8 numeric features and a 4-step sequence of 3 values; outputs: a class (sigmoid) named
"cls" and a regression value named "reg". The targets are known functions of the inputs, so
the test numbers mean something: cls = [sum of features > 0], reg = mean of the sequence.
Run: PYTHONPATH=python python3 python/examples/functional_two_inputs.py
"""
import numpy as np

import ckeras as keras          # was: import keras
from ckeras import layers       # was: from keras import layers

keras.utils.set_random_seed(7)
rng = np.random.default_rng(7)
n = 2000
feat = rng.normal(size=(n, 8)).astype("float32")
seq = rng.normal(size=(n, 4, 3)).astype("float32")
y_cls = (feat.sum(axis=1) > 0).astype("float32").reshape(-1, 1)
y_reg = seq.mean(axis=(1, 2)).astype("float32").reshape(-1, 1)

features = keras.Input(shape=(8,), name="features")
sequence = keras.Input(shape=(4, 3), name="sequence")
a = layers.Dense(16, activation="relu")(features)
b = layers.Flatten()(sequence)
b = layers.Dense(16, activation="relu")(b)
merged = layers.Concatenate()([a, b])
hidden = layers.Dense(32, activation="relu")(merged)
cls = layers.Dense(1, activation="sigmoid", name="cls")(hidden)
reg = layers.Dense(1, name="reg")(hidden)
model = keras.Model(inputs=[features, sequence], outputs=[cls, reg], name="two_inputs")

model.compile(optimizer=keras.optimizers.Adam(3e-3),
              loss={"cls": "binary_crossentropy", "reg": "mse"},
              loss_weights={"cls": 1.0, "reg": 0.5},
              metrics={"cls": ["accuracy"], "reg": ["mae"]})
model.summary()
history = model.fit([feat[:1600], seq[:1600]], [y_cls[:1600], y_reg[:1600]], epochs=20, batch_size=32,
                    validation_split=0.2, verbose=0)
print("history keys:", sorted(history.history))
results = model.evaluate([feat[1600:], seq[1600:]], [y_cls[1600:], y_reg[1600:]], return_dict=True, verbose=0)
print("test:", ", ".join("%s %.4f" % kv for kv in results.items()))
p_cls, p_reg = model.predict([feat[1600:], seq[1600:]], verbose=0)
print("accuracy from predict: %.4f" % np.mean((p_cls > 0.5) == (y_cls[1600:] > 0.5)))
