#!/usr/bin/python3
"""Does real Keras read what ckeras writes for the layer catalogue's cases?

Usage (from the source root, after `make keras-tools`, with the oracle:
export KERAS_ORACLE_SRC=/opt/keras-oracle):

  /usr/bin/python3 tests/keras/layer_resave_check.py GROUP [CASE ...]

For every case of tests/fixtures/layers/GROUP/, build/tests/keras/resave loads Keras' <case>.h5
in ckeras and saves it again three ways (the default tf.keras 2 .h5 without optimizer, Keras 3's
.h5, and .keras) into a temporary folder; Keras loads each copy (compile=False), predicts on the
case's inputs x0.. and compares with its own predictions y0.. from the .npz (the case's atol).
Prints one line per file and the warnings Keras logged; exit status 1 when a file is refused or
differs. make check does not run it (it needs Keras); test_layer_catalogue checks the copies in
ckeras.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from layer_cases import import_keras  # noqa: E402

FORMATS = [(".h5", 1), (".k3.h5", 3), (".keras", 0)]  # ckeras_model_save flags


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    group, only = sys.argv[1], set(sys.argv[2:])
    keras = import_keras()
    import numpy as np
    fix = os.path.join(ROOT, "tests", "fixtures", "layers", group)
    resave = os.path.join(ROOT, "build", "tests", "keras", "resave")
    with open(os.path.join(fix, "MANIFEST.json")) as f:
        cases = json.load(f)["cases"]
    tmp = tempfile.mkdtemp(prefix="ckeras-layer-resave.")
    bad = 0
    try:
        for c in cases:
            if only and c["name"] not in only:
                continue
            d = np.load(os.path.join(fix, c["name"] + ".npz"))
            xs = [d["x%d" % k] for k in range(c["inputs"])]
            for ext, flags in FORMATS:
                out = os.path.join(tmp, c["name"] + ext)
                r = subprocess.run([resave, os.path.join(fix, c["name"] + ".h5"), out, str(flags)],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    bad += 1
                    print("%-40s ckeras: %s" % (c["name"] + ext, r.stdout.strip()))
                    continue
                try:
                    with warnings.catch_warnings(record=True) as w:
                        warnings.simplefilter("always")
                        m = keras.models.load_model(out, compile=False)
                    ys = m.predict(xs if len(xs) > 1 else xs[0], verbose=0)
                    ys = ys if isinstance(ys, (list, tuple)) else [ys]
                    diff = 0.0
                    ok = True
                    for k, y in enumerate(ys):
                        ref = d["y%d" % k]
                        err = np.abs(np.asarray(y) - ref) - c["atol"] * (1 + np.abs(ref))
                        diff = max(diff, float(np.max(np.abs(np.asarray(y) - ref))))
                        ok = ok and bool(np.all(err <= 0))
                    msgs = sorted({str(x.message).splitlines()[0][:100] for x in w
                                   if "deprecat" not in str(x.message).lower()})
                    bad += 0 if ok else 1
                    print("%-40s %s, max diff %.1e%s" % (c["name"] + ext, "ok" if ok else "MISMATCH", diff,
                                                         "; warnings: " + " | ".join(msgs) if msgs else ""))
                except Exception as ex:  # Keras refused the file
                    bad += 1
                    print("%-40s Keras refuses it: %s" % (c["name"] + ext, str(ex).splitlines()[0][:200]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("layer_resave_check %s: %d problem(s)" % (group, bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
