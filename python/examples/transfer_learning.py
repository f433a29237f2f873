"""Transfer learning, written as for Keras: train a base on Fashion-MNIST classes 0-4, save it,
load it back, freeze it, put a new head on it and fine-tune on classes 5-9.

Needs Debian's dataset-fashion-mnist (or the IDX folder as argument).
Run: PYTHONPATH=python python3 python/examples/transfer_learning.py [folder]
"""
import os
import sys
import tempfile

import numpy as np

import ckeras as keras          # was: import keras
from ckeras import layers       # was: from keras import layers

folder = sys.argv[1] if len(sys.argv) > 1 else None
keras.utils.set_random_seed(3)
(x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data(folder)
x_train = x_train.reshape(-1, 28, 28, 1).astype("float32") / 255.0
x_test = x_test.reshape(-1, 28, 28, 1).astype("float32") / 255.0


def subset(x, y, classes, n):
    keep = np.isin(y, classes)
    return x[keep][:n], (y[keep][:n] - classes[0]).astype("float32")


xa, ya = subset(x_train, y_train, [0, 1, 2, 3, 4], 6000)
xb, yb = subset(x_train, y_train, [5, 6, 7, 8, 9], 2000)
xb_test, yb_test = subset(x_test, y_test, [5, 6, 7, 8, 9], 1000)

# 1. the pretrained model
inputs = keras.Input(shape=(28, 28, 1))
x = layers.Conv2D(16, 3, activation="relu")(inputs)
x = layers.MaxPooling2D()(x)
x = layers.Conv2D(32, 3, activation="relu")(x)
x = layers.GlobalAveragePooling2D(name="features")(x)
outputs = layers.Dense(5, activation="softmax")(x)
pretrained = keras.Model(inputs, outputs, name="pretrained")
pretrained.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
pretrained.fit(xa, ya, epochs=5, batch_size=64, verbose=0)
path = os.path.join(tempfile.mkdtemp(), "pretrained.keras")
pretrained.save(path)

# 2. load it, keep it up to its features, freeze it, new head
loaded = keras.models.load_model(path)
base = keras.Model(loaded.input, loaded.get_layer("features").output)
base.trainable = False
inputs = keras.Input(shape=(28, 28, 1))
x = base(inputs, training=False)
x = layers.Dense(32, activation="relu")(x)
outputs = layers.Dense(5, activation="softmax")(x)
model = keras.Model(inputs, outputs)
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.summary()
frozen_before = [w.copy() for w in base.get_weights()]
model.fit(xb, yb, epochs=8, batch_size=32, verbose=0)
same = all(np.array_equal(a, b) for a, b in zip(frozen_before, base.get_weights()))
print("frozen base unchanged by fit:", same)
print("new classes, test accuracy with the frozen base: %.4f" % model.evaluate(xb_test, yb_test, verbose=0)[1])

# 3. fine-tune everything with a small learning rate
base.trainable = True
model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.fit(xb, yb, epochs=3, batch_size=32, verbose=0)
print("after fine-tuning: %.4f" % model.evaluate(xb_test, yb_test, verbose=0)[1])
