#!/usr/bin/python3
"""Keras-written models with two inputs and two outputs for tests/test_multi_io.c.

The model of test_multi_io (inputs a (4,) and b (3,), Concatenate, Dense(8, relu) "h", outputs
"cls" Dense(3, softmax) and "reg" Dense(1)) built in the real Keras 3 (the oracle,
/work/shared/tools/keras-oracle), compiled in three ways Keras accepts and writes differently:
  dict:  loss={"cls": ..., "reg": ...}, loss_weights={...}, metrics={"cls": [...], "reg": [...]}
  list:  loss=[...], loss_weights=[...], metrics=[[...], [...]] (by position)
  none:  loss={"cls": None, "reg": ...}, metrics={"reg": [...]} (cls not trained)
trained one epoch (SGD), saved as legacy .h5 and as .keras, with the data, Keras' predictions
and Keras' evaluate (the list, in Keras' order, and the names of return_dict) written to
tests/fixtures/multi_io/<name>.json. Run from the source root:
  KERAS_ORACLE_SRC=/opt/keras-oracle /usr/bin/python3 tests/ref/multi_io_ref.py
"""
import json
import os
import sys

sys.path.insert(0, '/work/shared/tools/keras-oracle')
import oracle_env  # noqa: F401,E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

OUT = 'tests/fixtures/multi_io'
keras.utils.set_random_seed(20261203)
rng = np.random.default_rng(20261203)
N = 10
xa = rng.uniform(-1, 1, (N, 4)).astype(np.float32)
xb = rng.uniform(-1, 1, (N, 3)).astype(np.float32)
yc = (np.arange(N) % 3).astype(np.float32)
yr = rng.uniform(-1, 1, (N, 1)).astype(np.float32)

COMPILES = {
    'dict': dict(loss={'cls': 'sparse_categorical_crossentropy', 'reg': 'mean_squared_error'},
                 loss_weights={'cls': 1.0, 'reg': 0.5}, metrics={'cls': ['accuracy'], 'reg': ['mae']}),
    'list': dict(loss=['sparse_categorical_crossentropy', 'mean_absolute_error'], loss_weights=[0.3, 2.0],
                 metrics=[['accuracy'], ['mse']]),
    'none': dict(loss={'cls': None, 'reg': 'mean_squared_error'}, metrics={'reg': ['mae']}),
}


def model():
    a = keras.Input((4,), name='a')
    b = keras.Input((3,), name='b')
    c = layers.Concatenate()([a, b])
    h = layers.Dense(8, activation='relu', name='h')(c)
    cls = layers.Dense(3, activation='softmax', name='cls')(h)
    reg = layers.Dense(1, name='reg')(h)
    return keras.Model([a, b], [cls, reg])


os.makedirs(OUT, exist_ok=True)
for name, kw in COMPILES.items():
    m = model()
    m.compile(optimizer=keras.optimizers.SGD(0.05), **kw)
    m.fit([xa, xb], [yc, yr], epochs=1, batch_size=4, shuffle=False, verbose=0)
    cls, reg = m.predict([xa, xb], verbose=0)
    ev = m.evaluate([xa, xb], [yc, yr], verbose=0)
    ev = ev if isinstance(ev, list) else [ev]
    names = list(m.evaluate([xa, xb], [yc, yr], verbose=0, return_dict=True))
    m.save(os.path.join(OUT, name + '.h5'))
    m.save(os.path.join(OUT, name + '.keras'))
    with open(os.path.join(OUT, name + '.json'), 'w') as f:
        json.dump({'keras': keras.__version__, 'compile': {k: v for k, v in kw.items()},
                   'a': xa.tolist(), 'b': xb.tolist(), 'yc': yc.tolist(), 'yr': yr.tolist(),
                   'cls': cls.astype(float).tolist(), 'reg': reg.astype(float).tolist(),
                   'evaluate': [float(v) for v in ev], 'evaluate_names': names}, f)
        f.write('\n')
    print(name, names, ev)
