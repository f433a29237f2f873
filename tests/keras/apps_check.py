#!/usr/bin/python3
"""Keras Applications end to end: real Keras (the oracle) builds each architecture of
keras.applications with weights=None and seeded weights, saves it as .h5, predicts on seeded
inputs; `bin/ckeras predict` loads the file and predicts the same inputs; the two are compared.
Also a transfer model: the frozen base called with training=False inside a new Model with a new
head (GlobalAveragePooling2D, Dense).

Needs the oracle (export KERAS_ORACLE_SRC=/opt/keras-oracle); never run by make check. Files go
to a scratch folder (default /tmp/ckeras-apps), never into the source tree.

Usage: /usr/bin/python3 tests/keras/apps_check.py [--full-only|--transfer-only] [NAME ...]
       (NAME: ResNet50, MobileNetV3Small, ...; none: all)
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from layer_cases import import_keras  # noqa: E402

# name -> input size (small where the architecture allows)
APPS = [
    ("ConvNeXtTiny", 32), ("ConvNeXtSmall", 32), ("ConvNeXtBase", 32), ("ConvNeXtLarge", 32),
    ("ConvNeXtXLarge", 32),
    ("DenseNet121", 32), ("DenseNet169", 32), ("DenseNet201", 32),
    ("EfficientNetB0", 32), ("EfficientNetB1", 32), ("EfficientNetB2", 32), ("EfficientNetB3", 32),
    ("EfficientNetB4", 32), ("EfficientNetB5", 32), ("EfficientNetB6", 32), ("EfficientNetB7", 32),
    ("EfficientNetV2B0", 32), ("EfficientNetV2B1", 32), ("EfficientNetV2B2", 32), ("EfficientNetV2B3", 32),
    ("EfficientNetV2S", 32), ("EfficientNetV2M", 32), ("EfficientNetV2L", 32),
    ("InceptionResNetV2", 75), ("InceptionV3", 75),
    ("MobileNet", 32), ("MobileNetV2", 32), ("MobileNetV3Small", 32), ("MobileNetV3Large", 32),
    ("NASNetMobile", 32), ("NASNetLarge", 32),
    ("ResNet50", 32), ("ResNet101", 32), ("ResNet152", 32),
    ("ResNet50V2", 32), ("ResNet101V2", 32), ("ResNet152V2", 32),
    ("VGG16", 32), ("VGG19", 32), ("Xception", 71),
]
BATCH = 2


def build_app(keras, name, size):
    fn = getattr(keras.applications, name)
    # logits, not probabilities: a softmax of near-equal logits hides differences
    kw = dict(weights=None, input_shape=(size, size, 3), classes=10, classifier_activation=None)
    if name == "NASNetMobile" and keras.backend.backend() == "torch":
        # NASNetMobile refuses the torch backend ("an outstanding bug"); build the same network
        # through NASNet() with NASNetMobile's settings
        from keras.src.applications import nasnet
        return nasnet.NASNet(penultimate_filters=1056, num_blocks=4, stem_block_filters=32, skip_reduction=False,
                             filter_multiplier=2, default_size=224, **kw)
    return fn(**kw)


def seed_weights(model, rng):
    import numpy as np
    for v in model.weights:
        if "float" not in str(v.dtype):
            continue
        shape = tuple(v.shape)
        name = v.path.split("/")[-1]
        # values that keep deep networks' activations of order 1 (statistics that amplify, layer
        # after layer, blow EfficientNetV2M's logits up to 1e5, where float32 rounding dominates)
        if "variance" in name:
            val = rng.uniform(1.0, 2.0, shape)
        elif name == "count":
            continue
        elif name == "mean":
            val = rng.uniform(-0.2, 0.2, shape)
        elif "gamma" in name or name == "scale":
            val = rng.uniform(0.7, 1.0, shape)
        elif name in ("beta", "moving_mean", "bias"):
            val = rng.uniform(-0.1, 0.1, shape)
        else:
            # keep the initializer's scale (deep nets explode with large uniform weights)
            val = keras_value(v) * rng.uniform(0.5, 1.5, shape) + rng.normal(0, 1e-3, shape)
        v.assign(val.astype(np.float32))


def keras_value(v):
    import keras
    import numpy as np
    return np.asarray(keras.ops.convert_to_numpy(v), dtype=np.float64)


def run(keras, name, size, kind, outdir, ckeras):
    import numpy as np
    keras.utils.set_random_seed(1234)
    rng = np.random.default_rng(1234)
    base = build_app(keras, name, size)
    seed_weights(base, rng)
    if kind == "full":
        model = base
    else:
        base.trainable = False
        inp = keras.Input((size, size, 3))
        x = base(inp, training=False)
        if len(x.shape) == 2:
            x = keras.layers.Dense(8)(x)
        else:
            x = keras.layers.GlobalAveragePooling2D()(x)
        out = keras.layers.Dense(5, activation="softmax")(x)
        model = keras.Model(inp, out, name=name + "_transfer")
        seed_weights(model.layers[-1], rng)
    x = rng.uniform(0, 255, (BATCH, size, size, 3)).astype(np.float32)
    if not name.startswith(("EfficientNet", "ConvNeXt", "ResNet5", "ResNet1", "VGG")) or "V2" in name and name.startswith("ResNet"):
        x = x / 127.5 - 1.0  # those without built-in preprocessing get [-1, 1]
    stem = os.path.join(outdir, "%s_%s" % (name, kind))
    if os.path.exists(stem + ".h5"):
        os.remove(stem + ".h5")
    model.save(stem + ".h5")
    y = np.asarray(model.predict(x, batch_size=BATCH, verbose=0), dtype=np.float32)
    np.save(stem + "_x.npy", x)
    t0 = time.time()
    r = subprocess.run([ckeras, "predict", stem + ".h5", stem + "_x.npy", stem + "_y.npy"],
                       capture_output=True, text=True)
    dt = time.time() - t0
    if r.returncode != 0:
        return "FAIL", (r.stderr.strip() or r.stdout.strip()).splitlines()[-1] if (r.stderr or r.stdout) else "rc=%d" % r.returncode, dt
    yc = np.load(stem + "_y.npy")
    if yc.shape != y.shape:
        return "FAIL", "shape %s vs Keras %s" % (yc.shape, y.shape), dt
    d = float(np.max(np.abs(yc - y)))
    rel = d / max(1e-12, float(np.max(np.abs(y))))
    ok = d <= 1e-4 + 1e-4 * float(np.max(np.abs(y)))
    for f in (stem + ".h5", stem + "_x.npy", stem + "_y.npy"):
        os.remove(f)
    return ("OK" if ok else "DIFF"), "max|diff| %.3g (max|y| %.3g, rel %.2g)" % (d, float(np.max(np.abs(y))), rel), dt


def main():
    args = sys.argv[1:]
    kinds = ["full", "transfer"]
    if "--full-only" in args:
        kinds = ["full"]
    if "--transfer-only" in args:
        kinds = ["transfer"]
    names = [a for a in args if not a.startswith("--")]
    keras = import_keras()
    outdir = os.environ.get("CKERAS_APPS_DIR", "/tmp/ckeras-apps")
    os.makedirs(outdir, exist_ok=True)
    ckeras = os.path.join(ROOT, "bin", "ckeras")
    apps = [a for a in APPS if not names or a[0] in names]
    bad = 0
    for name, size in apps:
        for kind in kinds:
            try:
                st, msg, dt = run(keras, name, size, kind, outdir, ckeras)
            except Exception as ex:  # noqa: BLE001
                st, msg, dt = "KERAS", "%s: %s" % (type(ex).__name__, str(ex).splitlines()[0] if str(ex) else ""), 0
            bad += st != "OK"
            print("%-20s %-8s %-5s %s  [ckeras %.1fs]" % (name, kind, st, msg, dt), flush=True)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
