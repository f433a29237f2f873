#!/usr/bin/python3
"""Does real Keras read what ckeras writes, for every case of the layer catalogue?

Usage (from the source root, after `make keras-tools`, with the oracle:
export KERAS_ORACLE_SRC=/opt/keras-oracle):

  /usr/bin/python3 tests/keras/layer_cases_keras_reads.py [GROUP ...]

For every case of tests/fixtures/layers/<group>/ (all groups by default), build/tests/keras/resave
has ckeras load the Keras-written <case>.h5 and save it again in ckeras' three formats (.h5 in
the tf.keras 2 layout, .h5 in the Keras 3 layout, .keras) into a temporary folder; Keras loads
each copy (compile=False), predicts on the case's inputs and compares with Keras' own predictions
in <case>.npz (|Keras(copy) - Keras(original)| <= 1e-5 (1 + |Keras(original)|), the rule of
test_layer_catalogue). A .h5 copy that Keras refuses is not counted when Keras cannot read its
own .h5 of the case either (its legacy loader drops axis lists, has no TFOpLambda, ...); those
are listed apart. The group module is imported first (its shims for the oracle's torch 1.13).
Prints a markdown table (case | classes | .h5 | Keras 3 .h5 | .keras) and the messages of every
failure; exits 1 when a copy does not load or differs.
"""

import contextlib
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "layers")
RESAVE = os.path.join(ROOT, "build", "tests", "keras", "resave")
FORMATS = [("h5", "copy.h5", 0), ("k3.h5", "copy.k3.h5", 2), ("keras", "copy.keras", 0)]


def import_keras():
    sys.path.insert(0, HERE)
    from layer_cases import import_keras as imp  # the same oracle set-up
    return imp()


def check_copy(keras, np, path, z, n_in, n_out):
    buf = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(buf), \
            contextlib.redirect_stderr(buf):
        warnings.simplefilter("always")
        try:
            m = keras.models.load_model(path, compile=False)
            xs = [z["x%d" % k] for k in range(n_in)]
            ys = m.predict(xs if n_in > 1 else xs[0], batch_size=3, verbose=0)
        except Exception as ex:  # what Keras says is the result
            return "refused: %s" % str(ex).splitlines()[0][:200]
    ys = ys if isinstance(ys, (list, tuple)) else [ys]
    if len(ys) != n_out:
        return "%d outputs, expected %d" % (len(ys), n_out)
    worst = 0.0
    for k in range(n_out):
        ref = z["y%d" % k]
        got = np.asarray(ys[k], dtype=np.float64)
        if got.shape != ref.shape:
            return "output %d has shape %s, expected %s" % (k, got.shape, ref.shape)
        worst = max(worst, float(np.max(np.abs(got - ref) / (1.0 + np.abs(ref)))))
    notes = [str(w.message).splitlines()[0][:120] for w in caught
             if "deprecat" not in str(w.message).lower() or "keras" in str(w.message).lower()]
    if worst > 1e-5:
        return "differs by %.3g" % worst
    return "ok" + (" (%d warnings: %s)" % (len(notes), notes[0]) if notes else "")


def main():
    keras = import_keras()
    import numpy as np
    logging.getLogger("absl").setLevel(logging.ERROR)
    if not os.access(RESAVE, os.X_OK):
        print("layer_cases_keras_reads: build the tools first: make keras-tools")
        sys.exit(2)
    groups = sys.argv[1:] or sorted(d for d in os.listdir(FIXTURES)
                                    if os.path.isfile(os.path.join(FIXTURES, d, "MANIFEST.json")))
    bad = []
    print("| case | classes | .h5 | Keras 3 .h5 | .keras |")
    print("|---|---|---|---|---|")
    import importlib
    known = []
    with tempfile.TemporaryDirectory(prefix="ck-cases-") as tmp:
        for g in groups:
            # the group module installs what the oracle's old torch lacks (attention, norm shims)
            try:
                importlib.import_module("layer_groups." + g)
            except ImportError:
                pass
            with open(os.path.join(FIXTURES, g, "MANIFEST.json")) as f:
                cases = json.load(f)["cases"]
            for c in cases:
                src = os.path.join(FIXTURES, g, c["name"] + ".h5")
                z = np.load(os.path.join(FIXTURES, g, c["name"] + ".npz"))
                cells = []
                for label, fname, flags in FORMATS:
                    out = os.path.join(tmp, "%s-%s-%s" % (g, c["name"], fname))
                    r = subprocess.run([RESAVE, src, out, str(flags)], capture_output=True, text=True)
                    if r.returncode != 0:
                        res = "ckeras: " + (r.stdout.strip() or r.stderr.strip())[:200]
                    else:
                        res = check_copy(keras, np, out, z, c["inputs"], c["outputs"])
                    if not res.startswith("ok") and label != "keras":
                        # a Keras bug when Keras cannot read its own .h5 of the case either
                        own = check_copy(keras, np, src, z, c["inputs"], c["outputs"])
                        if not own.startswith("ok"):
                            known.append("%s/%s %s: %s (Keras' own .h5: %s)" % (g, c["name"], label, res, own))
                            res = "Keras' own .h5 fails too"
                    if not res.startswith("ok") and not res.startswith("Keras'"):
                        bad.append("%s/%s %s: %s" % (g, c["name"], label, res))
                        res = "**no**"
                    cells.append(res if len(res) < 40 else res[:37] + "...")
                print("| %s/%s | %s | %s |" % (g, c["name"], ", ".join(c["classes"]), " | ".join(cells)))
    if known:
        print("\nNot counted (Keras 3.11 cannot read its own .h5 of these cases either):")
        for k in known:
            print("- " + k)
    if bad:
        print("\nFailures:")
        for b in bad:
            print("- " + b)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
