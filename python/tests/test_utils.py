"""Files, DOT, plots and settings through the library, checked against NumPy and by hand."""
import os
import shutil
import tempfile
import unittest

import numpy as np

import ckutil
import ckeras as keras
from ckeras import layers


class Utils(unittest.TestCase):
    def setUp(self):
        self.d = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.d)

    def test_npy_npz_round_trip_with_numpy(self):
        a = np.arange(6, dtype=np.float64).reshape(2, 3) / 7
        p = os.path.join(self.d, "a.npy")
        keras.utils.write_npy(p, a)
        np.testing.assert_array_equal(np.load(p), a.astype(np.float32))   # NumPy reads what ckeras wrote
        np.save(os.path.join(self.d, "b.npy"), a.astype(np.int32))
        np.testing.assert_array_equal(keras.utils.read_npy(os.path.join(self.d, "b.npy")), a.astype(np.int32))
        z = os.path.join(self.d, "z.npz")
        keras.utils.write_npz(z, first=a, second=np.ones((4,), np.float32))
        with np.load(z) as f:
            self.assertEqual(list(f.keys()), ["first", "second"])
            np.testing.assert_array_equal(f["first"], a.astype(np.float32))
        back = keras.utils.read_npz(z)
        self.assertEqual(list(back), ["first", "second"])
        np.testing.assert_array_equal(back["second"], np.ones(4, np.float32))

    def test_csv_split_and_scaler(self):
        x, y = keras.utils.read_csv(os.path.join(ckutil.ROOT, "examples", "data", "breast_cancer.csv"))
        self.assertEqual((x.shape, y.shape), ((569, 30), (569, 1)))
        self.assertEqual(int(y.sum()), 357)  # benign, as the data's README says
        xtr, xte, ytr, yte = keras.utils.train_test_split(x, y, test_size=0.2, random_state=42)
        self.assertEqual((len(xtr), len(xte)), (455, 114))  # ceil(0.2 * 569) test rows
        s = keras.utils.StandardScaler().fit(xtr)
        z = s.transform(xtr)
        np.testing.assert_allclose(z.mean(0), 0, atol=1e-4)
        np.testing.assert_allclose(z.std(0), 1, atol=1e-3)
        np.testing.assert_allclose(s.transform(xte), (xte - xtr.astype(np.float64).mean(0)) / xtr.astype(np.float64).std(0),
                                   rtol=1e-4, atol=1e-4)

    def test_to_categorical(self):
        np.testing.assert_array_equal(keras.utils.to_categorical([[2], [0]], 3), [[0, 0, 1], [1, 0, 0]])

    def test_dot_and_history_plot(self):
        m = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2, name="hidden"), layers.Dense(1, name="out")])
        dot = keras.utils.model_to_dot(m, show_shapes=True)
        self.assertIn('n0 [label="hidden (Dense)\\nInput shape: (None, 3)\\nOutput shape: (None, 2)"]', dot)
        self.assertIn("in0 -> n0;", dot)
        self.assertIn("n0 -> n1;", dot)
        m.compile(optimizer="sgd", loss="mse")
        x = np.ones((8, 3), np.float32)
        h = m.fit(x, np.zeros((8, 1), np.float32), epochs=2, verbose=0)
        svg = os.path.join(self.d, "h.svg")
        keras.utils.plot_history(h, svg)
        with open(svg) as f:
            self.assertIn("<svg", f.read())

    def test_settings(self):
        before = keras.config.get_max_tensor_size()
        keras.config.set_max_tensor_size(100)
        try:
            with self.assertRaises(ValueError):
                keras.Sequential([keras.Input(shape=(200,)), layers.Dense(1)]).predict(np.ones((1, 200), np.float32))
        finally:
            keras.config.set_max_tensor_size(before)
        self.assertEqual(keras.config.status_name(3), "CKERAS_ESHAPE")
        self.assertEqual(keras.config.version_number() // 10000, int(keras.version().split(".")[0]))
        self.assertEqual(keras.distributed.size(), 1)


if __name__ == "__main__":
    unittest.main()
