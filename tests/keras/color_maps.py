#!/usr/bin/python3
"""Keras 3's training-mode colour maps of RandomHue and RandomSaturation with given parameters
(transform_images with a fixed transformation), and RandomBrightness': for
tests/test_misc_layers.c, which applies ckeras' map with the same parameters (ck_color_map).
Writes tests/fixtures/misc_keras/color_maps.json.

Usage (from the source root): KERAS_ORACLE_SRC=/opt/keras-oracle /usr/bin/python3 tests/keras/color_maps.py"""
import json
import os
import sys

sys.path.insert(0, "/work/shared/tools/keras-oracle")
import oracle_env  # noqa: E402,F401
import keras  # noqa: E402
import numpy as np  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "misc_keras", "color_maps.json")


def main():
    rng = np.random.default_rng(11)
    cases = []
    specs = [
        ("RandomHue", {"factor": 0.8, "value_range": (0, 1)}, [0.3, -0.35, 0.05], (0.0, 1.0)),
        ("RandomHue", {"factor": 0.8, "value_range": (0, 255)}, [-0.2, 0.4, 0.45], (0.0, 255.0)),
        ("RandomSaturation", {"factor": 0.6, "value_range": (0, 1)}, [0.25, 1.5, 3.0], (0.0, 1.0)),
        ("RandomSaturation", {"factor": 0.6, "value_range": (0, 255)}, [0.5, 2.0, 0.0], (0.0, 255.0)),
        ("RandomBrightness", {"factor": 0.5, "value_range": (0, 255)}, [-60.0, 20.0, 100.0], (0.0, 255.0)),
    ]
    for cls, kw, params, (lo, hi) in specs:
        layer = getattr(keras.layers, cls)(**kw)
        x = rng.uniform(lo, hi, (3, 4, 5, 3)).astype(np.float32)
        x[0, 0, 0] = [lo, lo, lo]        # grey and black pixels
        x[0, 0, 1] = [hi / 2, hi / 2, hi / 2]
        x[1, 1, 1] = [hi, 0.25 * hi, hi]  # ties of the maximum
        p = np.asarray(params, dtype=np.float32)
        if cls == "RandomBrightness":
            t = {"rgb_delta": p.reshape(3, 1, 1, 1)}
        else:
            t = {"factor": p}
        y = keras.ops.convert_to_numpy(layer.transform_images(keras.ops.convert_to_tensor(x), t, training=True))
        cases.append({"class": cls, "value_range": [lo, hi], "params": params, "x": x.tolist(),
                      "y": np.asarray(y, dtype=np.float32).tolist()})
    with open(OUT, "w") as f:
        json.dump({"keras_version": keras.__version__, "cases": cases}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
