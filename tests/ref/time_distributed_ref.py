#!/usr/bin/python3
"""Keras-written TimeDistributed models for tests/test_time_distributed.c.

Builds TimeDistributed(Dense), TimeDistributed(Conv2D) and TimeDistributed(BatchNormalization,
LSTM, Dropout) models in the real Keras 3 (the oracle,
/work/shared/tools/keras-oracle), saves each as legacy .h5 and as .keras, and writes its inputs
and Keras' predictions to tests/fixtures/time_distributed/<name>.json.
Run from the source root:
  KERAS_ORACLE_SRC=/opt/keras-oracle /usr/bin/python3 tests/ref/time_distributed_ref.py
"""
import json
import os
import sys

sys.path.insert(0, '/work/shared/tools/keras-oracle')
import oracle_env  # noqa: F401,E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

OUT = 'tests/fixtures/time_distributed'
keras.utils.set_random_seed(20261203)
rng = np.random.default_rng(20261203)


def save(name, model, x):
    # non-zero biases and statistics, so that a weight read in the wrong place shows
    for w in model.weights:
        lo, hi = (0.5, 1.5) if 'variance' in w.path else (-0.5, 0.5)
        w.assign(rng.uniform(lo, hi, size=w.shape).astype(np.float32))
    y = model.predict(x, verbose=0)
    model.save(os.path.join(OUT, name + '.h5'))
    model.save(os.path.join(OUT, name + '.keras'))
    with open(os.path.join(OUT, name + '.json'), 'w') as f:
        json.dump({'keras': keras.__version__, 'x_shape': list(x.shape), 'x': x.ravel().tolist(),
                   'y_shape': list(y.shape), 'y': y.ravel().astype(float).tolist()}, f)
        f.write('\n')


os.makedirs(OUT, exist_ok=True)
m = keras.Sequential([keras.Input((3, 4)),
                      keras.layers.TimeDistributed(keras.layers.Dense(5, activation='tanh')),
                      keras.layers.TimeDistributed(keras.layers.Dense(2))])
m.compile(optimizer='adam', loss='mse')
save('td_dense', m, rng.uniform(-1, 1, size=(2, 3, 4)).astype(np.float32))

m = keras.Sequential([keras.Input((2, 5, 5, 2)),
                      keras.layers.TimeDistributed(keras.layers.Conv2D(3, 3, activation='relu')),
                      keras.layers.TimeDistributed(keras.layers.Flatten()),
                      keras.layers.TimeDistributed(keras.layers.Dense(2))])
save('td_conv2d', m, rng.uniform(-1, 1, size=(2, 2, 5, 5, 2)).astype(np.float32))

m = keras.Sequential([keras.Input((2, 4, 3)),
                      keras.layers.TimeDistributed(keras.layers.BatchNormalization()),
                      keras.layers.TimeDistributed(keras.layers.LSTM(3)),
                      keras.layers.TimeDistributed(keras.layers.Dropout(0.5)),
                      keras.layers.TimeDistributed(keras.layers.Dense(2))])
m.compile(optimizer='sgd', loss='mse')
save('td_bn_lstm', m, rng.uniform(-1, 1, size=(2, 2, 4, 3)).astype(np.float32))
