#!/usr/bin/python3
"""RandomBrightness and RandomSaturation saved by Keras 3 in its native .keras format (Keras 3.11
cannot write them to .h5: "cannot pickle 'module' object", so the layer catalogue has no case for
them). Writes tests/fixtures/misc_keras/<name>.keras; tests/test_misc_layers.c loads them.

Usage (from the source root): KERAS_ORACLE_SRC=/opt/keras-oracle /usr/bin/python3 tests/keras/misc_keras_files.py"""
import os
import sys

sys.path.insert(0, "/work/shared/tools/keras-oracle")
import oracle_env  # noqa: E402,F401
import keras  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "misc_keras")


def save(name, layer):
    i = keras.Input((4, 5, 3))
    m = keras.Model(i, layer(keras.layers.Dense(3)(i)), name=name)
    m.save(os.path.join(OUT, name + ".keras"))


save("random_brightness", keras.layers.RandomBrightness(factor=(-0.3, 0.1), value_range=(0, 1), seed=5))
save("random_saturation", keras.layers.RandomSaturation(factor=(0.2, 0.6), value_range=(0, 1), seed=5))
