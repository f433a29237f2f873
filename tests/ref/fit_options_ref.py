#!/usr/bin/python3
"""Reference numbers for tests/test_fit_options.c from REAL Keras 3.11.3 (the oracle, torch backend):
sample_weight, class_weight, validation_freq, steps_per_epoch, validation_batch_size and
weighted_metrics.

Each case is a small model compiled with SGD(0.1) and saved (before any training) as
tests/fixtures/fit_options/<case>.h5, so ckeras starts from the very same weights and compile
config (weighted_metrics included); then Keras' numbers on the same data go to <case>.json:
  evaluate (return_dict) with and without sample weights, the weights after one train_on_batch
  with sample weights, the History of fits with validation_freq / steps_per_epoch /
  validation_split / validation_batch_size / class_weight (shuffle=False), the number of batches
  of each epoch (a callback counting on_train_batch_end), and the weights after each fit.
Run from the source root:
  KERAS_ORACLE_SRC=/opt/keras-oracle /usr/bin/python3 tests/ref/fit_options_ref.py
"""
import json
import os
import sys

sys.path.insert(0, '/work/shared/tools/keras-oracle')
import oracle_env  # noqa: F401,E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

L = keras.layers
OUT = 'tests/fixtures/fit_options'
os.makedirs(OUT, exist_ok=True)
keras.utils.set_random_seed(20261204)
rng = np.random.default_rng(20261204)


def f32(a):
    return np.asarray(a, dtype=np.float32)


class Count(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.batches.append(0)

    def on_train_batch_end(self, batch, logs=None):
        self.batches[-1] += 1

    def __init__(self):
        super().__init__()
        self.batches = []


def weights(m):
    return [w.tolist() for w in m.get_weights()]


def hist(h):
    return {k: [float(v) for v in vs] for k, vs in h.history.items()}


def fresher(make, m):
    """a new model compiled as m, with m's weights (a loaded .h5's optimizer is built for the
    variables of the model that saved it)"""
    w0 = m.get_weights()

    def fresh(_path):
        t = make()
        t.set_weights(w0)
        return t
    return fresh


def binary_case():
    """Dense(4, relu) -> Dense(1, sigmoid), binary cross-entropy, metrics accuracy, weighted
    accuracy and mse (accuracy in both lists: Keras names the weighted one weighted_accuracy)."""
    def make():
        m = keras.Sequential([keras.Input((3,)), L.Dense(4, activation='relu', name='h'),
                              L.Dense(1, activation='sigmoid', name='out')])
        m.compile(keras.optimizers.SGD(0.1), 'binary_crossentropy', metrics=['accuracy'],
                  weighted_metrics=['accuracy', 'mse'])
        return m
    m = make()
    fresh = fresher(make, m)
    path = f'{OUT}/binary.h5'
    m.save(path)
    N = 10
    x = f32(rng.uniform(-1, 1, (N, 3)))
    y = f32((rng.uniform(0, 1, (N, 1)) > 0.5))
    sw = f32([1.0, 2.0, 0.5, 0.0, 3.0, 1.0, 1.5, 0.25, 2.0, 1.0])
    xv = f32(rng.uniform(-1, 1, (4, 3)))
    yv = f32([[1.0], [0.0], [1.0], [1.0]])
    swv = f32([0.5, 2.0, 1.0, 0.0])
    out = {'x': x.tolist(), 'y': y.tolist(), 'sw': sw.tolist(), 'xv': xv.tolist(), 'yv': yv.tolist(),
           'swv': swv.tolist()}
    out['evaluate_weighted'] = m.evaluate(x, y, sample_weight=sw, batch_size=4, verbose=0, return_dict=True)
    out['evaluate_plain'] = m.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    out['metrics_names_order'] = list(out['evaluate_weighted'].keys())
    # one SGD step on the weighted loss
    t = fresh(path)
    r = t.train_on_batch(x, y, sample_weight=sw, return_dict=True)
    out['train_on_batch'] = {k: float(v) for k, v in r.items()}
    out['train_on_batch_weights'] = weights(t)
    # validation_freq 2, steps_per_epoch 3 of 4 batches (3, 3, 3, 1 samples), weighted
    # validation_data; 3 epochs: batches 0-2, then 3 (the pass ran out), then 0-2 again
    t = fresh(path)
    c = Count()
    h = t.fit(x, y, sample_weight=sw, batch_size=3, epochs=3, steps_per_epoch=3, validation_freq=2,
              validation_data=(xv, yv, swv), shuffle=False, verbose=0, callbacks=[c])
    out['fit_freq'] = {'history': hist(h), 'batches': c.batches, 'weights': weights(t)}
    # validation_split cuts the sample weights alike; validation_batch_size 2, validation_steps 1
    t = fresh(path)
    h = t.fit(x, y, sample_weight=sw, batch_size=4, epochs=2, validation_split=0.3, validation_batch_size=2,
              shuffle=False, verbose=0)
    out['fit_split'] = {'history': hist(h), 'weights': weights(t)}
    t = fresh(path)
    h = t.fit(x, y, sample_weight=sw, batch_size=4, epochs=1, validation_split=0.3, validation_batch_size=2,
              validation_steps=1, shuffle=False, verbose=0)
    out['fit_split_steps'] = {'history': hist(h), 'weights': weights(t)}
    # steps_per_epoch larger than the data: every epoch one pass
    t = fresh(path)
    c = Count()
    h = t.fit(x, y, batch_size=4, epochs=2, steps_per_epoch=5, shuffle=False, verbose=0, callbacks=[c])
    out['fit_long_steps'] = {'history': hist(h), 'batches': c.batches, 'weights': weights(t)}
    # class_weight on a binary output (labels 0/1)
    t = fresh(path)
    h = t.fit(x, y, class_weight={0: 0.5, 1: 3.0}, batch_size=4, epochs=2, shuffle=False, verbose=0)
    out['fit_class_weight'] = {'history': hist(h), 'weights': weights(t)}
    return out


def softmax_case(sparse):
    """Dense(3, softmax) on 4 features; class_weight {0: 1, 1: 2, 2: 0.5} with one-hot or sparse
    labels."""
    loss = 'sparse_categorical_crossentropy' if sparse else 'categorical_crossentropy'

    def make():
        m = keras.Sequential([keras.Input((4,)), L.Dense(3, activation='softmax', name='out')])
        m.compile(keras.optimizers.SGD(0.1), loss, metrics=['accuracy'], weighted_metrics=['accuracy'])
        return m
    m = make()
    fresh = fresher(make, m)
    name = 'sparse' if sparse else 'onehot'
    path = f'{OUT}/{name}.h5'
    m.save(path)
    N = 9
    x = f32(rng.uniform(-1, 1, (N, 4)))
    labels = np.array([0, 1, 2, 2, 1, 0, 1, 1, 2])
    y = f32(labels[:, None]) if sparse else f32(np.eye(3)[labels])
    out = {'x': x.tolist(), 'y': y.tolist()}
    t = fresh(path)
    h = t.fit(x, y, class_weight={0: 1.0, 1: 2.0, 2: 0.5}, batch_size=4, epochs=2, shuffle=False, verbose=0)
    out['fit_class_weight'] = {'history': hist(h), 'weights': weights(t)}
    sw = f32([1.0, 2.0, 0.5, 0.5, 2.0, 1.0, 2.0, 2.0, 0.5])  # the same weights as sample_weight
    out['evaluate_weighted'] = m.evaluate(x, y, sample_weight=sw, batch_size=4, verbose=0, return_dict=True)
    return out


def masked_case():
    """Masking(0) -> Dense(2): a loss per step with Keras' mask; per-sample weights, given to Keras
    repeated over the steps (N, 5): its apply_mask multiplies in place, so neither (N,) nor (N, 1)
    broadcast against the (N, 5) mask under torch."""
    def make():
        m = keras.Sequential([keras.Input((5, 2)), L.Masking(0.0), L.Dense(2, name='out')])
        m.compile(keras.optimizers.SGD(0.1), 'mse', weighted_metrics=['mae'])
        return m
    m = make()
    fresh = fresher(make, m)
    path = f'{OUT}/masked.h5'
    m.save(path)
    x = f32(rng.uniform(-1, 1, (3, 5, 2)))
    x[0, 3:] = 0.0
    x[1, :2] = 0.0
    x[2, 2] = 0.0
    y = f32(rng.uniform(-1, 1, (3, 5, 2)))
    sw = f32([2.0, 0.5, 1.0])
    out = {'x': x.tolist(), 'y': y.tolist(), 'sw': sw.tolist()}
    out['evaluate_weighted'] = m.evaluate(x, y, sample_weight=np.repeat(sw[:, None], 5, axis=1), batch_size=3, verbose=0,
                                          return_dict=True)
    t = fresh(path)
    r = t.train_on_batch(x, y, sample_weight=np.repeat(sw[:, None], 5, axis=1), return_dict=True)
    out['train_on_batch'] = {k: float(v) for k, v in r.items()}
    out['train_on_batch_weights'] = weights(t)
    # Keras' temporal weights: one per step (N, 5)
    swt = f32(rng.uniform(0, 2, (3, 5)))
    out['swt'] = swt.tolist()
    out['evaluate_temporal'] = m.evaluate(x, y, sample_weight=swt, batch_size=3, verbose=0, return_dict=True)
    t = fresh(path)
    t.train_on_batch(x, y, sample_weight=swt)
    out['train_on_batch_temporal_weights'] = weights(t)
    return out


def two_outputs_case():
    """Outputs 'a' Dense(1) (mse, loss weight 0.5, metric mae) and 'b' Dense(3, softmax) (sparse
    cross-entropy, weighted metric accuracy): one weight vector for both outputs, or one each."""
    def make():
        i = keras.Input((2,), name='x')
        h = L.Dense(4, activation='tanh', name='h')(i)
        m = keras.Model(i, [L.Dense(1, name='a')(h), L.Dense(3, activation='softmax', name='b')(h)])
        m.compile(keras.optimizers.SGD(0.1), loss={'a': 'mse', 'b': 'sparse_categorical_crossentropy'},
                  loss_weights={'a': 0.5, 'b': 1.0}, metrics={'a': ['mae']}, weighted_metrics={'b': ['accuracy']})
        return m
    m = make()
    fresh = fresher(make, m)
    path = f'{OUT}/two_outputs.h5'
    m.save(path)
    N = 8
    x = f32(rng.uniform(-1, 1, (N, 2)))
    ya = f32(rng.uniform(-1, 1, (N, 1)))
    yb = f32(np.array([0, 1, 2, 0, 1, 2, 2, 1])[:, None])
    wa = f32([1.0, 0.0, 2.0, 0.5, 1.0, 3.0, 1.0, 0.25])
    wb = f32([2.0, 1.0, 0.0, 1.0, 0.5, 1.0, 2.0, 1.0])
    out = {'x': x.tolist(), 'ya': ya.tolist(), 'yb': yb.tolist(), 'wa': wa.tolist(), 'wb': wb.tolist()}
    out['evaluate_shared'] = m.evaluate(x, [ya, yb], sample_weight=wa, batch_size=8, verbose=0, return_dict=True)
    out['evaluate_each'] = m.evaluate(x, [ya, yb], sample_weight=[wa, wb], batch_size=8, verbose=0,
                                      return_dict=True)
    t = fresh(path)
    t.train_on_batch(x, [ya, yb], sample_weight=[wa, wb])
    out['train_on_batch_weights'] = weights(t)
    return out


def main():
    cases = {'binary': binary_case(), 'onehot': softmax_case(False), 'sparse': softmax_case(True),
             'masked': masked_case(), 'two_outputs': two_outputs_case()}
    for name, c in cases.items():
        for k, v in list(c.items()):
            if isinstance(v, dict):
                c[k] = {kk: (float(vv) if isinstance(vv, (float, np.floating)) else vv) for kk, vv in v.items()}
        with open(f'{OUT}/{name}.json', 'w') as f:
            json.dump(c, f, indent=1)
            f.write('\n')
    print('wrote', ', '.join(f'{OUT}/{n}.json' for n in cases))


if __name__ == '__main__':
    main()
