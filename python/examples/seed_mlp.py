"""The seed's Keras program, run on ckeras: only the imports differ from Keras
(``import keras`` -> ``import ckeras as keras``, ``from keras.x`` -> ``from ckeras.x``).

The data is examples/data/breast_cancer.csv, as for examples/seed_mlp.c (scikit-learn's copy
of the Breast Cancer Wisconsin data set; see examples/data/README.md). train_test_split and
StandardScaler come from ckeras.utils, which has scikit-learn's API and gives the C example's
split (so this program and examples/seed_mlp.c train on the same rows, from the same seed);
``from sklearn.model_selection import train_test_split`` and ``from sklearn.preprocessing
import StandardScaler`` work in their place (scikit-learn draws another split).

Run from the source tree: PYTHONPATH=python python3 python/examples/seed_mlp.py [csv]
"""
import os
import sys

import numpy as np

import ckeras as keras                       # was: import keras
from ckeras.models import Sequential         # was: from keras.models import Sequential
from ckeras.layers import Dense              # was: from keras.layers import Dense
from ckeras.callbacks import EarlyStopping   # was: from keras.callbacks import EarlyStopping
from ckeras.utils import train_test_split, StandardScaler  # was: from sklearn.model_selection / .preprocessing

here = os.path.dirname(os.path.abspath(__file__))
path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "examples", "data", "breast_cancer.csv")

keras.utils.set_random_seed(1234)
data = np.loadtxt(path, delimiter=",", skiprows=1)
X, y = data[:, :-1], data[:, -1]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
n_cols = X_train.shape[1]

model = Sequential()
model.add(Dense(100, activation='relu', input_shape=(n_cols,)))
model.add(Dense(50, activation='relu'))
model.add(Dense(50, activation='relu'))
model.add(Dense(1, activation='sigmoid'))
model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy', 'precision'])
model.summary()

early_stopping = EarlyStopping(monitor='val_loss', patience=5)
history = model.fit(X_train, y_train, validation_split=0.2, epochs=100, verbose=2,
                    callbacks=[early_stopping])
print("stopped_epoch:", early_stopping.stopped_epoch)
loss, accuracy, precision = model.evaluate(X_test, y_test, batch_size=32)
print("test: loss %.4f, accuracy %.4f, precision %.4f" % (loss, accuracy, precision))
