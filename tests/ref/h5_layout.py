#!/usr/bin/python3
"""Independent (h5py) checks and fixtures for tests/test_h5.c.

  h5_layout.py check FILE      assert that a file written by ckeras (test_h5's round-trip form)
                               has the layout Keras' legacy h5 loader reads; exit 0 when it has
  h5_layout.py facts FILE...   print the C fact table of test_h5.c, read with h5py
  h5_layout.py variants DIR    write the small hand-made variant files of tests/fixtures/h5/

Needs Debian's python3-h5py (run with /usr/bin/python3)."""
import json
import os
import sys

import h5py
import numpy as np


def keras_names(group, name):
    """What Keras' load_attributes_from_hdf5_group returns (joins name0, name1, ...)."""
    if name in group.attrs:
        return [n.decode("utf8") if hasattr(n, "decode") else n for n in group.attrs[name]]
    out, k = [], 0
    while "%s%d" % (name, k) in group.attrs:
        out += [n.decode("utf8") if hasattr(n, "decode") else n for n in group.attrs["%s%d" % (name, k)]]
        k += 1
    return out


def as_str(v):
    return v.decode("utf8") if hasattr(v, "decode") else v


# The form test_h5.c writes (round_trip_and_python_layout): layer -> [(weight name, shape)].
EXPECT_LAYERS = [
    ("dense", [("dense/kernel:0", (3, 4)), ("dense/bias:0", (4,))]),
    ("dropout", []),
    ("dense_1", [("dense_1/kernel:0", (4, 2)), ("dense_1/bias:0", (2,))]),
]
EXPECT_OPT = [("Adam/iter:0", (), "int64"), ("Adam/dense/kernel/m:0", (3, 4), "float32"),
              ("Adam/dense/kernel/v:0", (3, 4), "float32")]


def check(path):
    f = h5py.File(path, "r")
    for k in ("keras_version", "backend", "model_config", "training_config", "ckeras_version"):
        assert k in f.attrs, "root attribute %s missing" % k
        v = f.attrs[k]
        assert isinstance(v, str), "root @%s read as %r, not str" % (k, type(v))
    assert f.attrs["keras_version"] == "2.15.0", f.attrs["keras_version"]
    assert f.attrs["backend"] == "tensorflow"
    cfg = json.loads(f.attrs["model_config"])
    assert cfg["class_name"] == "Sequential", cfg
    tc = json.loads(f.attrs["training_config"])
    assert tc["loss"] == "mse", tc
    mw = f["model_weights"]
    assert as_str(mw.attrs["keras_version"]) == "2.15.0"
    assert as_str(mw.attrs["backend"]) == "tensorflow"
    names = keras_names(mw, "layer_names")
    assert names == [n for n, _ in EXPECT_LAYERS], names
    for lname, weights in EXPECT_LAYERS:
        g = mw[lname]
        wn = keras_names(g, "weight_names")
        assert wn == [w for w, _ in weights], (lname, wn)
        if not weights:
            a = g.attrs["weight_names"]
            assert a.dtype == np.float64 and a.shape == (0,), (lname, a.dtype, a.shape)
        else:
            assert g.attrs["weight_names"].dtype.kind == "S", g.attrs["weight_names"].dtype
        for w, shape in weights:
            d = np.asarray(g[w])
            assert d.shape == shape and d.dtype == np.float32, (lname, w, d.shape, d.dtype)
    assert "top_level_model_weights" in mw
    assert keras_names(mw["top_level_model_weights"], "weight_names") == []
    og = f["optimizer_weights"]
    on = keras_names(og, "weight_names")
    assert on == [n for n, _, _ in EXPECT_OPT], on
    for n, shape, dt in EXPECT_OPT:
        d = og[n]
        assert d.shape == shape and d.dtype == np.dtype(dt), (n, d.shape, d.dtype)
    assert int(og["Adam/iter:0"][()]) == 123456789012
    print("h5_layout: ckeras file has the Keras legacy layout")


def facts(paths):
    """One C initializer per file: first layer with weights, its first weight, a few values."""
    for p in paths:
        f = h5py.File(p, "r")
        mw = f["model_weights"] if "model_weights" in f else f
        ln = keras_names(mw, "layer_names")
        nl = len(ln)
        if "top_level_model_weights" in mw and "top_level_model_weights" not in ln:
            if keras_names(mw["top_level_model_weights"], "weight_names"):
                nl += 1
        li = next(i for i, n in enumerate(ln) if keras_names(mw[n], "weight_names"))
        wn = keras_names(mw[ln[li]], "weight_names")
        d = np.asarray(mw[ln[li]][wn[0]]).astype(np.float32)
        flat = d.reshape(-1)
        nopt, oi, ov = 0, -1, 0
        if "optimizer_weights" in f:
            on = keras_names(f["optimizer_weights"], "weight_names")
            nopt = len(on)
            for i, n in enumerate(on):
                if f["optimizer_weights"][n].dtype.kind in "iu":
                    oi, ov = i, int(f["optimizer_weights"][n][()])
                    break
        shape = ", ".join(str(s) for s in d.shape)
        print('    {"%s", "%s", "%s", %d, %d, %d, %d, %d, %dLL, %d, "%s", %d, 0, "%s", %d, {%s}, {%s}, %s},' % (
            os.path.basename(p), as_str(f.attrs.get("keras_version", mw.attrs.get("keras_version"))),
            as_str(f.attrs.get("backend", mw.attrs.get("backend"))),
            "model_config" in f.attrs, "training_config" in f.attrs, nl, nopt, oi, ov, li, ln[li],
            len(wn), wn[0], d.ndim, shape, ", ".join("%.9g" % v for v in flat[:3]),
            "%.9g" % flat[-1]))


def variants(out):
    s_ascii_vlen = h5py.string_dtype("ascii")
    s_utf8_vlen = h5py.string_dtype("utf-8")

    # Weights-only file (root = model_weights layout), layer_names split in two attributes,
    # mixed string encodings, a nested weight path and a float64 weight.
    with h5py.File(os.path.join(out, "v_weights_only_split.h5"), "w") as f:
        f.attrs.create("keras_version", "2.1.6", dtype=s_utf8_vlen)
        f.attrs["backend"] = np.bytes_("tensorflow")  # fixed-length scalar
        f.attrs["layer_names0"] = np.array([b"in", b"d1"])
        f.attrs["layer_names1"] = np.array([b"d2"])
        g = f.create_group("in")
        g.attrs["weight_names"] = np.zeros((0,), np.float64)
        g = f.create_group("d1")
        g.attrs.create("weight_names", ["d1/outer/kernel:0", "d1/outer/bias:0"], dtype=s_ascii_vlen)
        g["d1/outer/kernel:0"] = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
        g["d1/outer/bias:0"] = np.array([-1.5, 2.25, 3.0], np.float32)
        g = f.create_group("d2")
        g.attrs["weight_names"] = np.array([b"d2/kernel:0"])
        g["d2/kernel:0"] = np.array([[0.1, -0.2, 1e-3]], np.float64)

    # Model file: fixed-length model_config, UTF-8 training_config, optimizer_weights without
    # weight_names (walked in name order), and a non-empty top_level_model_weights.
    with h5py.File(os.path.join(out, "v_model_opt_walk.h5"), "w") as f:
        f.attrs["model_config"] = np.bytes_('{"class_name": "Sequential", "config": {"layers": []}}')
        f.attrs.create("training_config", '{"loss": "mse", "note": "caf\u00e9"}', dtype=s_utf8_vlen)
        f.attrs.create("keras_version", "2.15.0", dtype=s_utf8_vlen)
        f.attrs.create("backend", "tensorflow", dtype=s_utf8_vlen)
        mw = f.create_group("model_weights")
        mw.attrs.create("layer_names", ["dense"], dtype=s_ascii_vlen)
        g = mw.create_group("dense")
        g.attrs.create("weight_names", ["dense/kernel:0"], dtype=s_ascii_vlen)
        g["dense/kernel:0"] = np.array([[1.0], [2.0]], np.float32)
        t = mw.create_group("top_level_model_weights")
        t.attrs.create("weight_names", ["scale:0"], dtype=s_ascii_vlen)
        t["scale:0"] = np.float32(0.75)
        o = f.create_group("optimizer_weights")
        o["c"] = np.float64(0.5)
        o["b/x"] = np.array([1.0, -2.0], np.float32)
        o["a/iter"] = np.int64(9007199254740993)  # 2**53 + 1: not exact as a float
    # Damaged in ways HDF5 itself accepts.
    with h5py.File(os.path.join(out, "v_missing_weight.h5"), "w") as f:
        f.attrs.create("model_config", "{}", dtype=s_ascii_vlen)
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([b"dense", b"dense_1"])
        g = mw.create_group("dense")
        g.attrs["weight_names"] = np.array([b"dense/kernel:0"])
        g["dense/kernel:0"] = np.ones((2, 2), np.float32)
        g = mw.create_group("dense_1")
        g.attrs["weight_names"] = np.array([b"dense_1/kernel:0", b"dense_1/bias:0"])
        g["dense_1/bias:0"] = np.ones((2,), np.float32)
    with h5py.File(os.path.join(out, "v_bad_types.h5"), "w") as f:
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([b"a", b"b"])
        g = mw.create_group("a")
        g.attrs["weight_names"] = np.array([b"w"])
        g.create_dataset("w", data=np.zeros((1,) * 9, np.float32))
        g = mw.create_group("b")
        g.attrs["weight_names"] = np.array([b"s"])
        g["s"] = np.array([b"text"])
    with h5py.File(os.path.join(out, "v_strings_as_weights.h5"), "w") as f:
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([b"b"])
        g = mw.create_group("b")
        g.attrs["weight_names"] = np.array([b"s"])
        g["s"] = np.array([b"text"])
    with h5py.File(os.path.join(out, "v_not_keras.h5"), "w") as f:
        f.create_group("data")["x"] = np.arange(3)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "check":
        check(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "facts":
        facts(sys.argv[2:])
    elif len(sys.argv) == 3 and sys.argv[1] == "variants":
        variants(sys.argv[2])
    else:
        sys.exit(__doc__)
