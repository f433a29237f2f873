"""Layers against NumPy: weights set from NumPy, predictions computed by NumPy."""
import unittest

import numpy as np

import ckutil  # noqa: F401
import ckeras as keras
from ckeras import layers


class DenseAgainstNumpy(unittest.TestCase):
    def test_dense_predict_is_x_w_plus_b(self):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(7, 5)).astype(np.float32)
        w = rng.normal(size=(5, 3)).astype(np.float32)
        b = rng.normal(size=(3,)).astype(np.float32)
        model = keras.Sequential([keras.Input(shape=(5,)), layers.Dense(3, name="d")])
        model.get_layer("d").set_weights([w, b])
        got = model.predict(x, verbose=0)
        self.assertIsInstance(got, np.ndarray)
        self.assertEqual(got.shape, (7, 3))
        np.testing.assert_allclose(got, x @ w + b, rtol=1e-5, atol=1e-5)
        kernel, bias = model.get_layer("d").get_weights()
        np.testing.assert_array_equal(kernel, w)
        np.testing.assert_array_equal(bias, b)
        self.assertEqual(model.get_layer("d").weight_names, ["kernel", "bias"])
        self.assertEqual(model.count_params(), 5 * 3 + 3)

    def test_two_dense_relu_sigmoid(self):
        rng = np.random.default_rng(1)
        x = rng.normal(size=(4, 6))          # float64: converted, as Keras does
        w1, b1 = rng.normal(size=(6, 8)), rng.normal(size=(8,))
        w2, b2 = rng.normal(size=(8, 1)), rng.normal(size=(1,))
        model = keras.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)),
                                  layers.Dense(1, activation="sigmoid")])
        model.set_weights([w1, b1, w2, b2])
        h = np.maximum(x.astype(np.float32) @ w1.astype(np.float32) + b1.astype(np.float32), 0)
        want = 1 / (1 + np.exp(-(h @ w2.astype(np.float32) + b2.astype(np.float32))))
        np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
        self.assertEqual(len(model.get_weights()), 4)

    def test_sgd_step_matches_numpy(self):
        # one SGD(0.1) step of mse on a linear Dense: W -= lr * 2/(N*U) * X^T (XW + b - Y)
        rng = np.random.default_rng(2)
        x = rng.normal(size=(8, 3)).astype(np.float32)
        y = rng.normal(size=(8, 2)).astype(np.float32)
        w = rng.normal(size=(3, 2)).astype(np.float32)
        b = np.zeros(2, np.float32)
        model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2)])
        model.set_weights([w, b])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        loss = model.train_on_batch(x, y)
        err = x @ w + b - y
        self.assertAlmostEqual(loss, float(np.mean(err ** 2)), places=5)
        g = 2.0 / err.size * err
        w2, b2 = model.get_weights()
        np.testing.assert_allclose(w2, w - 0.1 * x.T @ g, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b2, b - 0.1 * g.sum(0), rtol=1e-5, atol=1e-6)
        self.assertEqual(model.optimizer.iterations, 1)

    def test_adam_step_matches_keras_formula(self):
        # Keras 3's Adam: m = (1-b1) g, v = (1-b2) g^2, w -= lr sqrt(1-b2) / (1-b1) * m / (sqrt(v) + eps)
        rng = np.random.default_rng(7)
        x = rng.normal(size=(6, 2)).astype(np.float32)
        y = rng.normal(size=(6, 1)).astype(np.float32)
        w = rng.normal(size=(2, 1)).astype(np.float32)
        model = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(1, use_bias=False)])
        model.set_weights([w])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05, beta_1=0.8), loss="mse")
        model.train_on_batch(x, y)
        g = x.T @ (2.0 / len(x) * (x @ w - y))
        m, v = 0.2 * g, 0.001 * g * g
        want = w - 0.05 * np.sqrt(1 - 0.999) / (1 - 0.8) * m / (np.sqrt(v) + 1e-7)
        np.testing.assert_allclose(model.get_weights()[0], want, rtol=1e-5, atol=1e-6)

    def test_schedule_gives_keras_rate(self):
        sched = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
        model = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=sched), loss="mse")
        model.fit(np.ones((8, 2), np.float32), np.ones((8, 1), np.float32), batch_size=2, epochs=1, verbose=0)
        self.assertEqual(model.optimizer.iterations, 4)
        self.assertAlmostEqual(model.optimizer.learning_rate, 0.1 * 0.5 ** (4 / 10), places=6)

    def test_conv_pool_flatten_shapes_and_values(self):
        rng = np.random.default_rng(3)
        x = rng.normal(size=(2, 4, 4, 1)).astype(np.float32)
        model = keras.Sequential([keras.Input(shape=(4, 4, 1)),
                                  layers.Conv2D(2, 3, padding="same", activation="relu", name="c"),
                                  layers.MaxPooling2D(), layers.Flatten()])
        k = rng.normal(size=(3, 3, 1, 2)).astype(np.float32)
        bias = np.array([0.1, -0.2], np.float32)
        model.get_layer("c").set_weights([k, bias])
        # NumPy: same padding, stride 1 cross-correlation, relu, 2x2 max pooling, flatten
        xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        conv = np.zeros((2, 4, 4, 2), np.float32)
        for i in range(4):
            for j in range(4):
                conv[:, i, j, :] = np.einsum("nhwc,hwcf->nf", xp[:, i:i + 3, j:j + 3, :], k) + bias
        conv = np.maximum(conv, 0)
        pooled = conv.reshape(2, 2, 2, 2, 2, 2).max(axis=(2, 4))
        np.testing.assert_allclose(model.predict(x, verbose=0), pooled.reshape(2, -1), rtol=1e-5, atol=1e-5)

    def test_catalogue_classes_build(self):
        # every wrapped class with Keras' positional arguments builds in a model
        x = keras.Input(shape=(8, 8, 3))
        ys = [layers.RandomFlip("horizontal")(x), layers.RandomRotation(0.1)(x), layers.RandomZoom(0.2)(x),
              layers.RandomTranslation(0.1, 0.1)(x), layers.RandomContrast(0.2)(x),
              layers.BatchNormalization()(x), layers.DepthwiseConv2D(3, padding="same")(x),
              layers.SeparableConv2D(3, 3, padding="same")(x), layers.Conv2DTranspose(3, 1)(x),
              layers.AveragePooling2D(1)(x), layers.ZeroPadding2D(0)(x), layers.Rescaling(1.0 / 255)(x)]
        out = layers.Add()([layers.Add()(ys[:6]), layers.Average()(ys[6:])])
        model = keras.Model(x, layers.GlobalAveragePooling2D()(out))
        data = np.random.default_rng(4).uniform(size=(2, 8, 8, 3)).astype(np.float32)
        self.assertEqual(model.predict(data, verbose=0).shape, (2, 3))
        classes = [l.class_name for l in model.layers]
        for c in ["RandomFlip", "RandomRotation", "RandomZoom", "BatchNormalization", "SeparableConv2D", "Add"]:
            self.assertIn(c, classes)

    def test_augmentation_is_identity_in_predict(self):
        x = np.random.default_rng(5).uniform(size=(3, 6, 6, 1)).astype(np.float32)
        model = keras.Sequential([keras.Input(shape=(6, 6, 1)), layers.RandomFlip(), layers.RandomRotation(0.2),
                                  layers.RandomZoom(0.1)])
        np.testing.assert_array_equal(model.predict(x, verbose=0), x)


class TypedAndGenericPaths(unittest.TestCase):
    """A layer with a typed constructor in the header is made by it (and set_* for the other
    keywords); every class can also be made from its config JSON. Both give the same layer: the
    model configs the library writes are equal."""

    def build(self, specs, shape):
        keras.utils.set_random_seed(0)
        x = keras.Input(shape=shape)
        y = x
        for i, (cls, args, kwargs) in enumerate(specs):
            y = getattr(layers, cls)(*args, name="l%d" % i, **kwargs)(y)
        return keras.Model(x, y, name="m")

    def check_same(self, specs, shape):
        import ckeras.layers as L
        from ckeras._capi import lib
        for cls, args, kwargs in specs:  # each class with a typed constructor takes the typed path
            if cls in L._TYPED:
                h = L._make_typed(cls, getattr(layers, cls)(*args, **kwargs).get_config())
                self.assertTrue(h, "%s%s%s: typed path" % (cls, args, kwargs))
                lib.ckeras_layer_free(h)
        typed = self.build(specs, shape).to_json()
        saved, L._TYPED = L._TYPED, {}
        try:
            generic = self.build(specs, shape).to_json()
        finally:
            L._TYPED = saved
        self.assertEqual(typed, generic)

    def test_images(self):
        self.check_same([("RandomFlip", ("horizontal",), {}), ("RandomRotation", (0.1,), {"fill_mode": "nearest"}),
                         ("RandomZoom", (0.2,), {}), ("RandomTranslation", (0.1, 0.2), {}),
                         ("RandomContrast", (0.3,), {}), ("Rescaling", (1 / 255.0, 0.5), {}),
                         ("ZeroPadding2D", ((1, 2),), {}),
                         ("Conv2D", (4, 3), {"strides": 2, "padding": "same", "activation": "relu", "use_bias": False}),
                         ("BatchNormalization", (), {"momentum": 0.9}), ("DepthwiseConv2D", ((3, 1),), {"depth_multiplier": 2}),
                         ("SeparableConv2D", (3, 2), {"padding": "same"}), ("UpSampling2D", (2,), {}),
                         ("Conv2DTranspose", (2, 3), {"strides": 2}), ("MaxPooling2D", (), {}),
                         ("AveragePooling2D", (2,), {"padding": "same"}), ("SpatialDropout2D", (0.2,), {}),
                         ("Resizing", (6, 6), {"interpolation": "nearest"}), ("CenterCrop", (4, 4), {}),
                         ("Flatten", (), {}), ("Dropout", (0.5,), {}), ("Dense", (3, "softmax"), {"kernel_initializer": "he_normal"}),
                         ("Reshape", ((3, 1),), {}), ("LayerNormalization", (), {}), ("Activation", ("tanh",), {})],
                        (16, 16, 3))

    def test_sequences(self):
        self.check_same([("Embedding", (20, 4), {}), ("Conv1D", (4, 3), {"padding": "causal"}),
                         ("MaxPooling1D", (), {}), ("LSTM", (5,), {"return_sequences": True}),
                         ("GRU", (4,), {"return_sequences": True}), ("SimpleRNN", (3,), {"return_sequences": True}),
                         ("Bidirectional", (layers.LSTM(2, return_sequences=True),), {"merge_mode": "sum"}),
                         ("GlobalAveragePooling1D", (), {})], (12,))

    def test_typed_constructor_is_used(self):
        import ckeras.layers as L
        from ckeras._capi import lib
        h = L._make_typed("Dense", {"units": 3, "activation": "relu", "use_bias": False})
        self.assertTrue(h)
        lib.ckeras_layer_free(h)
        self.assertIsNone(L._make_typed("Dense", {"units": 3, "kernel_initializer": {"class_name": "Zeros",
                                                                                     "config": {}}}))


if __name__ == "__main__":
    unittest.main()
