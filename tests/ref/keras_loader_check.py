#!/usr/bin/python3
"""Reads a model file written by ckeras the way Keras' legacy HDF5 loader does (h5py only, no
Keras), and recomputes its predictions with NumPy.

  keras_loader_check.py MODEL.h5 X.npy PRED.npy

Checks: root attributes are str; model_config is JSON naming Sequential/Functional layers;
training_config holds a loss and an optimizer_config; model_weights lists every layer that has
weights, in model order, each with weight_names that resolve to float32 datasets of the shapes
the config implies; optimizer_weights' names all resolve. Then runs an independent NumPy
forward pass (Dense with linear/relu/sigmoid/tanh/softmax, Dropout and Flatten as identity at
inference) and compares it with PRED.npy (ckeras' predictions). Exit 0 when all holds.
Needs Debian's python3-h5py and python3-numpy (run with /usr/bin/python3)."""
import json
import sys

import h5py
import numpy as np


def names(group, attr):
    if attr in group.attrs:
        return [n.decode("utf8") if hasattr(n, "decode") else str(n) for n in group.attrs[attr]]
    out, k = [], 0
    while "%s%d" % (attr, k) in group.attrs:
        out += [n.decode("utf8") for n in group.attrs["%s%d" % (attr, k)]]
        k += 1
    return out


ACT = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "softmax": lambda z: np.exp(z - z.max(-1, keepdims=True)) / np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True),
}


def main(path, xpath, ppath):
    f = h5py.File(path, "r")
    for k in ("keras_version", "backend", "model_config"):
        assert isinstance(f.attrs[k], str), "root @%s is not a str" % k
    cfg = json.loads(f.attrs["model_config"])
    assert cfg["class_name"] in ("Sequential", "Functional"), cfg["class_name"]
    layers = cfg["config"]["layers"]
    if "training_config" in f.attrs:
        tc = json.loads(f.attrs["training_config"])
        assert isinstance(tc["loss"], str) and tc["optimizer_config"]["class_name"], tc
    mw = f["model_weights"]
    # tf.keras 2 lists every layer (those without weights get an empty weight_names), with or
    # without the InputLayer
    every = [l["config"]["name"] for l in layers]
    no_input = [l["config"]["name"] for l in layers if l["class_name"] != "InputLayer"]
    ln = names(mw, "layer_names")
    assert ln in (every, no_input), (ln, no_input)
    weights = {}
    for l in layers:
        name = l["config"]["name"]
        if name not in ln:
            continue
        wn = names(mw[name], "weight_names")
        arrs = [np.asarray(mw[name][w]) for w in wn]
        for a in arrs:
            assert a.dtype == np.float32, (name, a.dtype)
        if l["class_name"] == "Dense":
            units = l["config"]["units"]
            assert arrs[0].shape[1] == units, (name, arrs[0].shape)
            if l["config"]["use_bias"]:
                assert arrs[1].shape == (units,), (name, arrs[1].shape)
        weights[name] = arrs
    if "optimizer_weights" in f:
        og = f["optimizer_weights"]
        for n in names(og, "weight_names"):
            assert n in og, "optimizer weight %s missing" % n
    # independent forward pass
    x = np.load(xpath).astype(np.float64)
    h = x
    for l in layers:
        c, cfgl = l["class_name"], l["config"]
        if c in ("InputLayer", "Dropout"):
            continue
        if c == "Flatten":
            h = h.reshape(h.shape[0], -1)
        elif c == "Activation":
            h = ACT[cfgl["activation"]](h)
        elif c == "Dense":
            w = weights[cfgl["name"]]
            h = h @ w[0].astype(np.float64) + (w[1].astype(np.float64) if cfgl["use_bias"] else 0)
            h = ACT[cfgl["activation"]](h)
        else:
            raise SystemExit("keras_loader_check: no NumPy forward for %s" % c)
    pred = np.load(ppath)
    err = np.max(np.abs(h - pred) / (1 + np.abs(h)))
    assert err < 1e-5, "NumPy forward differs from ckeras by %g" % err
    print("keras_loader_check: %s reads as Keras would; NumPy forward agrees (max rel err %.1e)" % (path, err))


if __name__ == "__main__":
    main(*sys.argv[1:4])
