#!/usr/bin/python3
"""Several training steps through nested models, in real Keras 3, for tests/test_nested.c.

The one-step checks of the layer catalogue do not show that BatchNormalization inside a nested
model keeps to Keras over many Adam steps, nor Keras' transfer-learning pattern. Two cases, each
saved before training (<case>.h5) and after 3 epochs of Adam(1e-2) on fixed data without shuffling
(batch 16, 64 samples: 12 steps), with every weight after training in <case>.npz by Keras path:
  pretrain: Model(i, pre(i)), pre = Rescaling - Conv2D(no bias) - BatchNormalization(0.99) -
            ReLU - GlobalAveragePooling2D - Dense(3, softmax): the inner BatchNormalization
            trains (training inherited), moving statistics updated each step;
  frozen:   the base (pre up to the ReLU) frozen, called with training=False, then
            GlobalAveragePooling2D - Dense(3): only the head trains, BatchNormalization runs
            in inference mode (it is not trainable) and its statistics stay;
  unfrozen: the same with the base's BatchNormalization made trainable again: gamma and beta
            train, and the statistics stay, as Keras' transfer-learning guide says of a layer
            called with training=False (and as tf.keras 2 does). Keras 3.11.3 itself does not:
            a Functional model called by fit with training=True passes it to every layer of its
            graph over the training=False given when the graph was built (operation_fn in
            keras/src/models/functional.py; keras-team/keras#20285), so this case is computed
            with that override turned off for explicit arguments, Keras' numerics otherwise.
Run from the source root:
  KERAS_ORACLE_SRC=/opt/keras-oracle /usr/bin/python3 tests/ref/nested_fit_ref.py
"""
import os
import sys

sys.path.insert(0, '/work/shared/tools/keras-oracle')
import oracle_env  # noqa: F401,E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

OUT = 'tests/fixtures/nested_fit'
keras.utils.set_random_seed(20261204)
rng = np.random.default_rng(20261204)
x = rng.integers(0, 256, (64, 6, 6, 1)).astype(np.float32)
y = rng.integers(0, 3, (64,)).astype(np.float32)


def pretrained():
    i = keras.Input((6, 6, 1), name='image')
    h = layers.Rescaling(1 / 255.0, name='rescale')(i)
    h = layers.Conv2D(4, 3, padding='same', use_bias=False, name='conv')(h)
    h = layers.BatchNormalization(momentum=0.99, name='bn')(h)
    h = layers.Activation('relu', name='relu')(h)
    h = layers.GlobalAveragePooling2D(name='gap')(h)
    return keras.Model(i, layers.Dense(3, activation='softmax', name='head')(h), name='pre')


def fit_and_save(name, model):
    model.save(f'{OUT}/{name}.h5')
    model.compile(keras.optimizers.Adam(1e-2), 'sparse_categorical_crossentropy')
    model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    np.savez(f'{OUT}/{name}.npz', **{v.path: v.numpy() for v in model.weights})


os.makedirs(OUT, exist_ok=True)
np.savez(f'{OUT}/data.npz', x=x, y=y)
pre = pretrained()
i = keras.Input((6, 6, 1), name='outer')
fit_and_save('pretrain', keras.Model(i, pre(i), name='trainer'))



def explicit_training_wins():
    """keras.src.models.functional.operation_fn, except that a training argument given when the
    graph was built is kept (the guide's and tf.keras 2's semantics)."""
    from keras.src.models import functional

    def operation_fn(operation, **call_context_args):
        def call(*args, **kwargs):
            for name, value in call_context_args.items():
                if name in getattr(operation, '_call_context_args', {}) and value is not None \
                        and name not in kwargs:
                    kwargs[name] = value
            return operation(*args, **kwargs)
        return call
    functional.operation_fn = operation_fn


pretrained_weights = [w.numpy() for w in pre.weights]
for name in ('frozen', 'unfrozen'):
    pre.set_weights(pretrained_weights)
    base = keras.Model(pre.input, pre.get_layer('relu').output, name='base')
    base.trainable = False
    if name == 'unfrozen':
        base.get_layer('bn').trainable = True
        explicit_training_wins()
    i = keras.Input((6, 6, 1), name='new_input')
    h = layers.GlobalAveragePooling2D(name='new_gap')(base(i, training=False))
    fit_and_save(name, keras.Model(i, layers.Dense(3, activation='softmax', name='new_head')(h)))
for name in ('pretrain', 'frozen', 'unfrozen'):
    print(name, sorted(np.load(f'{OUT}/{name}.npz').keys()))
