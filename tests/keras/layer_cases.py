#!/usr/bin/python3
"""Per-class Keras fixtures for the layer catalogue, written by REAL Keras (the oracle).

Usage (from the source root, with the oracle: export KERAS_ORACLE_SRC=/opt/keras-oracle):

  /usr/bin/python3 tests/keras/layer_cases.py GROUP [CASE ...]

GROUP names a module tests/keras/layer_groups/GROUP.py that defines CASES, a list of case(...)
values (below). For each case Keras builds a small model (usually Input -> the layer), gives
every float weight a seeded non-trivial value, and writes into tests/fixtures/layers/GROUP/:

  <case>.h5    the model, saved by Keras 3 (`model.save`, HDF5)
  <case>.npz   x0.. (inputs, batch 3), y0.. (Keras' predictions), and, when the case trains,
               t0.. (targets) and w.<layer>.<i> (every weight of every layer after ONE
               train_on_batch step of SGD(learning_rate=0.1), loss "mse", in Keras' weight order),
               and loss (that step's loss, computed before the update, penalties included)
  MANIFEST.json  {"cases": [{"name", "inputs", "outputs", "train", "atol", "classes"}]}

tests/test_layer_catalogue.c (make check, no Keras needed) loads every case in ckeras, predicts
and trains the same step, and asserts both against these numbers. Naming CASEs regenerates only
those (the manifest keeps the others).
"""

import importlib
import json
import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT_ROOT = os.path.join(ROOT, "tests", "fixtures", "layers")
BATCH = 3


def import_keras():
    tools = None
    for d in (os.environ.get("KERAS_ORACLE_TOOLS"),
              os.path.join(ROOT, "..", "shared", "tools", "keras-oracle"),
              "/work/shared/tools/keras-oracle"):
        if d and os.path.isfile(os.path.join(d, "oracle_env.py")):
            tools = os.path.abspath(d)
            break
    if not os.environ.get("KERAS_ORACLE_SRC") or not tools:
        print("layer_cases: skipped: KERAS_ORACLE_SRC is not set (no Keras oracle on this machine)")
        sys.exit(0)
    sys.path.insert(0, tools)
    import logging
    logging.getLogger("absl").setLevel(logging.ERROR)  # "HDF5 is legacy", once per save
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import oracle_env  # noqa: F401  (must precede `import keras`)
        import keras
    return keras


def case(name, inputs, layer=None, build=None, train=True, atol=1e-5, int_range=None, lo=-1.0, hi=1.0,
         weights=None, x=None):
    """One fixture.

    name      file stem (unique in its group)
    inputs    list of per-sample shapes, one per model input (None axes are not allowed here)
    layer     a function keras -> Layer; the model is Input(s) -> layer(inputs) (one input: the
              tensor, several: the list)
    build     instead of layer: a function (keras, [input tensors]) -> output tensor or list
    train     also record one SGD step (set False for layers whose training forward is random)
    atol      tolerance of the C test (|ckeras - Keras| <= atol + atol * |Keras|)
    int_range (lo, hi): inputs are integers in [lo, hi) (stored as float32; Embedding and the like)
    lo, hi    the uniform range of float inputs
    weights   a function (keras, model, rng) that sets the weights itself (default: seeded
              uniform values; variances in [0.5, 1.5))
    x         a function (rng) -> list of input arrays (batch 3) instead of random ones
    """
    return dict(name=name, inputs=inputs, layer=layer, build=build, train=train, atol=atol,
                int_range=int_range, lo=lo, hi=hi, weights=weights, x=x)


def default_weights(model, rng):
    import numpy as np
    for v in model.weights:
        dt = str(v.dtype)
        if "float" not in dt:
            continue
        shape = tuple(v.shape)
        name = v.path.split("/")[-1]
        if "variance" in name:
            val = rng.uniform(0.5, 1.5, shape)
        elif name == "count":
            continue
        else:
            val = rng.uniform(-0.5, 0.5, shape)
        v.assign(val.astype(np.float32))


def make_inputs(c, rng):
    import numpy as np
    if c["x"] is not None:
        return [np.asarray(a, dtype=np.float32) for a in c["x"](rng)]
    xs = []
    for shp in c["inputs"]:
        full = (BATCH,) + tuple(shp)
        if c["int_range"] is not None:
            a = rng.integers(c["int_range"][0], c["int_range"][1], full).astype(np.float32)
        else:
            a = rng.uniform(c["lo"], c["hi"], full).astype(np.float32)
        xs.append(a)
    return xs


def run_case(keras, c, out_dir, seed):
    import numpy as np
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    ins = [keras.Input(shape=tuple(s), batch_size=None, name="in%d" % k) for k, s in enumerate(c["inputs"])]
    if c["build"] is not None:
        outs = c["build"](keras, ins)
    else:
        lay = c["layer"](keras)
        outs = lay(ins[0] if len(ins) == 1 else ins)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    model = keras.Model(ins if len(ins) > 1 else ins[0], outs if len(outs) > 1 else outs[0], name=c["name"])
    if c["weights"] is not None:
        c["weights"](keras, model, rng)
    else:
        default_weights(model, rng)
    xs = make_inputs(c, rng)
    feed = xs if len(xs) > 1 else xs[0]
    path = os.path.join(out_dir, c["name"] + ".h5")
    if os.path.exists(path):
        os.remove(path)
    model.save(path)
    ys = model.predict(feed, batch_size=BATCH, verbose=0)
    ys = ys if isinstance(ys, (list, tuple)) else [ys]
    arrays = {}
    for k, a in enumerate(xs):
        arrays["x%d" % k] = a
    for k, a in enumerate(ys):
        arrays["y%d" % k] = np.ascontiguousarray(a, dtype=np.float32)
    train = c["train"] and len(model.trainable_weights) > 0
    if train:
        ts = [rng.uniform(-1, 1, np.asarray(y).shape).astype(np.float32) for y in ys]
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
        loss = model.train_on_batch(feed, ts if len(ts) > 1 else ts[0])
        loss = loss[0] if isinstance(loss, (list, tuple)) else loss
        arrays["loss"] = np.asarray([loss], dtype=np.float32)  # before the update, penalties included
        for k, t in enumerate(ts):
            arrays["t%d" % k] = t
        for lay in model.layers:
            for i, v in enumerate(lay.weights):
                arrays["w.%s.%d" % (lay.name, i)] = np.ascontiguousarray(keras.ops.convert_to_numpy(v), dtype=np.float32)
    np.savez(os.path.join(out_dir, c["name"] + ".npz"), **arrays)
    classes = sorted({type(l).__name__ for l in model.layers if type(l).__name__ != "InputLayer"})
    return dict(name=c["name"], inputs=len(xs), outputs=len(ys), train=train, atol=c["atol"], classes=classes)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    group = sys.argv[1]
    only = set(sys.argv[2:])
    keras = import_keras()
    sys.path.insert(0, HERE)
    mod = importlib.import_module("layer_groups." + group)
    out_dir = os.path.join(OUT_ROOT, group)
    os.makedirs(out_dir, exist_ok=True)
    man_path = os.path.join(out_dir, "MANIFEST.json")
    old = {}
    if only and os.path.exists(man_path):
        with open(man_path) as f:
            old = {e["name"]: e for e in json.load(f)["cases"]}
    names = [c["name"] for c in mod.CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    entries = []
    for k, c in enumerate(mod.CASES):
        if only and c["name"] not in only:
            if c["name"] in old:
                entries.append(old[c["name"]])
            continue
        try:
            e = run_case(keras, c, out_dir, 1000 + k)
        except Exception as ex:  # a case Keras itself refuses is a mistake in the case
            print("%s: Keras failed: %s" % (c["name"], ex))
            raise
        print("%-40s %s train=%s" % (c["name"], ",".join(e["classes"]), e["train"]))
        entries.append(e)
    with open(man_path, "w") as f:
        json.dump({"group": group, "keras": keras.__version__, "cases": entries}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
