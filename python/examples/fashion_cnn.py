"""A small CNN on a Fashion-MNIST subset, written as for Keras (only the import differs).

Needs Debian's dataset-fashion-mnist (or the four IDX files in the folder given as argument).
Run: PYTHONPATH=python python3 python/examples/fashion_cnn.py [folder] [n_train]
"""
import sys

import numpy as np

import ckeras as keras          # was: import keras
from ckeras import layers       # was: from keras import layers

folder = sys.argv[1] if len(sys.argv) > 1 else None
n_train = int(sys.argv[2]) if len(sys.argv) > 2 else 6000

keras.utils.set_random_seed(42)
(x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data(folder)
x_train = x_train[:n_train].reshape(-1, 28, 28, 1).astype("float32") / 255.0
y_train = y_train[:n_train]
x_test = x_test[:2000].reshape(-1, 28, 28, 1).astype("float32") / 255.0
y_test = y_test[:2000]

model = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.RandomFlip("horizontal"),
    layers.Conv2D(32, 3, padding="same", activation="relu"),
    layers.MaxPooling2D(),
    layers.Conv2D(64, 3, padding="same", activation="relu"),
    layers.MaxPooling2D(),
    layers.Flatten(),
    layers.Dropout(0.3),
    layers.Dense(128, activation="relu"),
    layers.Dense(10, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.summary()
history = model.fit(x_train, y_train, batch_size=64, epochs=3, validation_split=0.1, verbose=2,
                    callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=2,
                                                             restore_best_weights=True)])
loss, acc = model.evaluate(x_test, y_test, verbose=0)
print("test accuracy on %d images: %.4f" % (len(x_test), acc))
pred = model.predict(x_test[:10], verbose=0)
print("first predictions:", np.argmax(pred, axis=1), "labels:", y_test[:10])
