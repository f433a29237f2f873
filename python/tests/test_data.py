"""Data sources and the Sequential model built from the data's shape."""
import json
import os
import unittest

import numpy as np

import ckutil
import ckeras as keras
from ckeras import layers


def problem():
    x = np.random.default_rng(1).normal(size=(120, 4)).astype(np.float32)
    return x, (x[:, :1] > 0).astype(np.float32)


def train(data):
    keras.utils.set_random_seed(3)
    m = keras.Sequential([layers.Dense(5, activation="relu"), layers.Dense(1, activation="sigmoid")])  # no Input
    m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    h = m.fit(*data, epochs=3, verbose=0, validation_split=0.2)
    return h.history, m.evaluate(*data, verbose=0), m.predict(data[0], verbose=0)


class Sources(unittest.TestCase):
    def test_python_source_trains_as_arrays_bit_for_bit(self):
        # the header: fit from a source serving the same values as arrays gives the same History
        x, y = problem()

        def fill(idx, xs, ys):
            xs[0][:] = x[idx]
            if ys is not None:
                ys[0][:] = y[idx]
        src = keras.data.PySource(len(x), fill, [(4,)], [(1,)], batch_size=32)
        self.assertEqual(len(src), 120)
        a = train((src,))
        b = train((x, y))
        self.assertEqual(a[0], b[0])
        self.assertEqual(a[1], b[1])
        np.testing.assert_array_equal(a[2], b[2])

    def test_exception_in_fill_is_raised(self):
        def bad(idx, xs, ys):
            raise ArithmeticError("in fill")
        m = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(1)])
        m.compile(optimizer="sgd", loss="mse")
        with self.assertRaises(ArithmeticError):
            m.fit(keras.data.PySource(10, bad, [(4,)], [(1,)]), verbose=0)

    def test_image_dataset_from_directory_matches_keras_order(self):
        with open(ckutil.fixture("images", "album_ref.json")) as f:
            ref = json.load(f)
        album = ckutil.fixture("images", "album")
        ds = keras.utils.image_dataset_from_directory(album, image_size=(8, 8), shuffle=True, seed=123,
                                                      batch_size=4)
        self.assertEqual(ds.class_names, ref["classes"])
        got = [os.path.relpath(p, album) for p in ds.file_paths]
        self.assertEqual(got, ref["shuffled_123"]["files"])  # what Keras lists for seed 123
        m = keras.Sequential([keras.Input(shape=(8, 8, 3)), layers.Rescaling(1 / 255.0),
                              layers.GlobalAveragePooling2D(), layers.Dense(2, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        h = m.fit(ds, epochs=2, verbose=0)
        self.assertEqual(len(h.history["loss"]), 2)
        self.assertEqual(m.predict(ds, verbose=0).shape, (10, 2))
        self.assertEqual(len(m.evaluate(ds, verbose=0)), 2)


class DeferredSequential(unittest.TestCase):
    def test_built_at_first_fit_from_the_data(self):
        x, y = problem()
        m = keras.Sequential()
        m.add(layers.Dense(8, activation="relu"))
        m.add(layers.Dense(1, activation="sigmoid"))
        self.assertFalse(any(l.built for l in m.layers))
        m.compile(optimizer="adam", loss="binary_crossentropy")
        m.fit(x, y, epochs=1, verbose=0)
        self.assertTrue(all(l.built for l in m.layers))
        self.assertEqual(m.count_params(), 4 * 8 + 8 + 8 + 1)


if __name__ == "__main__":
    unittest.main()
