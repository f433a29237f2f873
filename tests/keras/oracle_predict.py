#!/usr/bin/python3
"""Load ckeras-written Keras files in REAL Keras (the oracle) and record what Keras does.

Usage (from the source root, with the oracle: export KERAS_ORACLE_SRC=/opt/keras-oracle):

  /usr/bin/python3 tests/keras/oracle_predict.py [--dir tests/keras/fixtures]
      For every <name>.h5, <name>.k3.h5 and <name>.keras in the folder (written by
      make_models): load it with keras.models.load_model(compile=False), predict on
      <name>.inputs.npy and write Keras' predictions to <stem>.keras_expected.npy
      (stem: <name>, <name>.k3, <name>.native); load it again with compile=True to catch
      what Keras says about the training config and optimizer. Every warning and log line
      Keras emits is captured. Writes <dir>/ORACLE.json (per file: loads, error, warnings,
      max abs diff against ckeras' own <name>.ckeras.npy) and prints a markdown table
      (layer class x {default .h5, Keras 3 .h5, .keras}).

  /usr/bin/python3 tests/keras/oracle_predict.py --check LIST.tsv
      Used by resave_shared.sh: LIST.tsv has lines
      label<TAB>ckeras status<TAB>copy.h5<TAB>expected.npy<TAB>inputs (comma-separated .npy/.npz)
      and for each the copy is loaded in Keras, predicted on the inputs and compared with
      the expected outputs (first model output; atol 1e-5 + rtol 1e-4, keras_predict.py's rule).

Without KERAS_ORACLE_SRC it prints that it skipped and exits 0 (CI has no oracle).
"""

import argparse
import contextlib
import glob
import io
import json
import logging
import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ATOL, RTOL = 1e-5, 1e-4


def oracle_tools_dir():
    for d in (os.environ.get("KERAS_ORACLE_TOOLS"),
              os.path.join(ROOT, "..", "shared", "tools", "keras-oracle"),
              "/work/shared/tools/keras-oracle"):
        if d and os.path.isfile(os.path.join(d, "oracle_env.py")):
            return os.path.abspath(d)
    return None


def import_keras():
    tools = oracle_tools_dir()
    if not os.environ.get("KERAS_ORACLE_SRC") or not tools:
        print("oracle_predict: skipped: KERAS_ORACLE_SRC is not set or the keras-oracle tools are "
              "missing (no Keras oracle on this machine)")
        sys.exit(0)
    sys.path.insert(0, tools)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import oracle_env  # noqa: F401  (must precede `import keras`)
        import keras
    return keras


class Recorder(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.messages = []

    def emit(self, record):
        if record.levelno >= logging.WARNING:
            self.messages.append(f"{record.levelname}: {record.getMessage()}")


def captured(fn):
    """Runs fn(); returns (result, error text or None, list of warning/log/printed lines)."""
    rec = Recorder()
    root = logging.getLogger()
    root.addHandler(rec)
    out = io.StringIO()
    result, err = None, None
    with warnings.catch_warnings(record=True) as ws, \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        warnings.simplefilter("always")
        try:
            result = fn()
        except Exception as e:  # Keras refusing a file is a result, not a crash
            err = f"{type(e).__name__}: {e}"
    root.removeHandler(rec)
    msgs = list(rec.messages)
    msgs += [f"{w.category.__name__}: {w.message}" for w in ws]
    msgs += [line for line in out.getvalue().splitlines() if line.strip()]
    seen, uniq = set(), []
    for m in msgs:
        if m not in seen:
            seen.add(m)
            uniq.append(m)
    return result, err, uniq


def load_inputs(np, paths, model):
    xs = []
    for p in paths:
        if p.endswith(".npz"):
            z = np.load(p)
            xs += [z[k].astype("float32") for k in z.files]
        else:
            xs.append(np.load(p).astype("float32"))
    if len(xs) != len(model.inputs):
        raise ValueError(f"model has {len(model.inputs)} inputs, got {len(xs)} arrays")
    return xs[0] if len(xs) == 1 else xs


def predict(keras, np, path, input_paths):
    """Loads path (compile=False) and predicts. Returns a dict with loads/error/warnings/pred."""
    keras.backend.clear_session()
    model, err, msgs = captured(lambda: keras.models.load_model(path, compile=False))
    r = {"loads": err is None, "error": err, "warnings": msgs, "pred": None}
    if err is None:
        def run():
            xs = load_inputs(np, input_paths, model)
            p = model.predict(xs, batch_size=32, verbose=0)
            p = p[0] if isinstance(p, (list, tuple)) else p
            return np.asarray(p, dtype="float32")
        pred, perr, pmsgs = captured(run)
        r["warnings"] += [m for m in pmsgs if m not in r["warnings"]]
        if perr:
            r["error"] = f"predict: {perr}"
        r["pred"] = pred
    keras.backend.clear_session()
    _, cerr, cmsgs = captured(lambda: keras.models.load_model(path, compile=True))
    r["compile_loads"] = cerr is None
    r["compile_error"] = cerr
    r["compile_warnings"] = cmsgs
    keras.backend.clear_session()
    return r


def max_diff(np, a, b):
    if a is None or b is None:
        return None
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a.astype("float64") - b.astype("float64")))) if a.size else 0.0


# Messages every load of every legacy .h5 gets in this oracle, whoever wrote the file: Keras 3
# always says it with compile=True, and torch 1.13 says the other when Keras calls sigmoid/tanh.
# They are kept in ORACLE.json but neither counted nor listed in the tables.
BENIGN = ("compiled metrics have yet to be built", "nn.functional.sigmoid is deprecated",
          "nn.functional.tanh is deprecated")


def notable(msgs):
    return [m for m in msgs if not any(b in m for b in BENIGN)]


def short(s, n=160):
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[: n - 3] + "..."


# ---- fixtures mode ------------------------------------------------------------------------------

FORMS = (("h5", ".h5", ""), ("k3", ".k3.h5", ".k3"), ("keras", ".keras", ".native"))


def read_models_tsv(d):
    rows = {}
    path = os.path.join(d, "MODELS.tsv")
    if os.path.exists(path):
        with open(path) as f:
            next(f, None)
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 5:
                    rows[(parts[0], parts[2])] = {"class": parts[1], "status": parts[3], "message": parts[4]}
    return rows


def fixtures_mode(keras, d):
    import numpy as np
    made = read_models_tsv(d)
    names = sorted({os.path.basename(p)[: -len(".inputs.npy")] for p in glob.glob(os.path.join(d, "*.inputs.npy"))})
    files, rows = {}, []
    for name in names:
        cls = next((v["class"] for (n, _), v in made.items() if n == name), "?")
        ck = os.path.join(d, name + ".ckeras.npy")
        ckeras_pred = np.load(ck) if os.path.exists(ck) else None
        cells = []
        for form, ext, stem_tail in FORMS:
            path = os.path.join(d, name + ext)
            exp_path = os.path.join(d, name + stem_tail + ".keras_expected.npy")
            if not os.path.exists(path):
                status = made.get((name, form), {})
                cells.append("not written" + (f" ({status['status']})" if status else ""))
                if os.path.exists(exp_path):
                    os.unlink(exp_path)
                continue
            r = predict(keras, np, path, [os.path.join(d, name + ".inputs.npy")])
            diff = max_diff(np, r["pred"], ckeras_pred)
            if r["pred"] is not None and r["error"] is None:
                np.save(exp_path, r["pred"])
            elif os.path.exists(exp_path):
                os.unlink(exp_path)  # never leave an expectation Keras no longer gives
            files[name + ext] = {
                "name": name, "class": cls, "form": form,
                "loads": r["loads"], "error": r["error"], "warnings": r["warnings"],
                "compile_loads": r["compile_loads"], "compile_error": r["compile_error"],
                "compile_warnings": r["compile_warnings"],
                "max_abs_diff_vs_ckeras": diff,
                "keras_expected": os.path.basename(exp_path) if os.path.exists(exp_path) else None,
            }
            nw = len(set(notable(r["warnings"])) | set(notable(r["compile_warnings"])))
            if not r["loads"]:
                cells.append("**REFUSED**")
            elif r["error"]:
                cells.append("loads, **predict fails**")
            else:
                ok = diff is not None and diff <= ATOL
                cell = f"loads, diff {diff:.1e}" + ("" if ok else " **MISMATCH**")
                if not r["compile_loads"]:
                    cell += ", compile=True **fails**"
                cell += f", {nw} warning{'s' if nw != 1 else ''}"
                cells.append(cell)
        rows.append((name, cls, cells))

    manifest = {
        "keras_version": keras.__version__, "backend": keras.backend.backend(),
        "tolerance": {"atol": ATOL},
        "files": files,
        "not_written": {f"{n}/{form}": v for (n, form), v in made.items() if v["status"] != "saved"},
    }
    with open(os.path.join(d, "ORACLE.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True, default=float)
        f.write("\n")

    print(f"Keras {keras.__version__} ({keras.backend.backend()}) on the files in {os.path.relpath(d, ROOT)}\n")
    print("| fixture | layer class | default .h5 | Keras 3 .h5 | .keras |")
    print("|---|---|---|---|---|")
    for name, cls, cells in rows:
        print(f"| {name} | {cls} | " + " | ".join(cells) + " |")
    print()
    problems = [(k, v) for k, v in sorted(files.items())
                if v["error"] or v["compile_error"] or notable(v["warnings"]) or notable(v["compile_warnings"])]
    if problems:
        print("Errors and warnings Keras gave (not counting: " + "; ".join(BENIGN) + "):\n")
        for k, v in problems:
            if v["error"]:
                print(f"- `{k}` load(compile=False): {v['error']}")
            if v["compile_error"] and v["compile_error"] != v["error"]:
                print(f"- `{k}` load(compile=True): {v['compile_error']}")
            for w in notable(v["warnings"]):
                print(f"- `{k}` warning (compile=False): {short(w, 400)}")
            for w in notable(v["compile_warnings"]):
                if w not in v["warnings"]:
                    print(f"- `{k}` warning (compile=True): {short(w, 400)}")
    n_ok = sum(1 for v in files.values() if v["loads"] and not v["error"])
    n_match = sum(1 for v in files.values() if v["max_abs_diff_vs_ckeras"] is not None
                  and v["max_abs_diff_vs_ckeras"] <= ATOL)
    print(f"\noracle_predict: {len(files)} files, {n_ok} loaded and predicted in Keras, "
          f"{n_match} match ckeras within {ATOL:g}; wrote ORACLE.json")
    return 0


# ---- resave check mode --------------------------------------------------------------------------

def check_mode(keras, list_path):
    import numpy as np
    print("| fixture | ckeras loads | Keras loads the resave | max diff vs fixture's expected | warnings |")
    print("|---|---|---|---|---|")
    details = []
    with open(list_path) as f:
        for line in f:
            label, ck, copy, expected, inputs = (line.rstrip("\n").split("\t") + [""] * 5)[:5]
            if ck != "ok":
                print(f"| {label} | **no**: {short(ck, 140)} | - | - | - |")
                continue
            r = predict(keras, np, copy, inputs.split(","))
            warns = notable(list(dict.fromkeys(r["warnings"] + r["compile_warnings"])))
            if not r["loads"]:
                keras_cell, diff_cell = f"**REFUSED**: {short(r['error'], 140)}", "-"
                details.append(f"- `{label}`: {r['error']}")
            elif r["error"]:
                keras_cell, diff_cell = f"loads; **predict fails**: {short(r['error'], 120)}", "-"
                details.append(f"- `{label}`: {r['error']}")
            else:
                keras_cell = "yes" if r["compile_loads"] else f"yes (compile=True **fails**: {short(r['compile_error'], 100)})"
                if r["compile_error"]:
                    details.append(f"- `{label}` compile=True: {r['compile_error']}")
                exp = np.load(expected)
                exp = exp[exp.files[0]] if hasattr(exp, "files") else exp
                d = max_diff(np, r["pred"], exp)
                ok = d is not None and r["pred"].shape == exp.shape and \
                    bool(np.all(np.abs(r["pred"] - exp) <= ATOL + RTOL * np.abs(exp)))
                diff_cell = f"{d:.2e} {'OK' if ok else '**MISMATCH**'}"
            for w in warns:
                details.append(f"- `{label}` warning: {short(w, 400)}")
            print(f"| {label} | yes | {keras_cell} | {diff_cell} | {len(warns)} |")
    if details:
        print("\nKeras' errors and warnings, in full:\n")
        print("\n".join(details))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--dir", default=os.path.join(HERE, "fixtures"))
    ap.add_argument("--check", metavar="LIST.tsv")
    args = ap.parse_args()
    keras = import_keras()
    if args.check:
        return check_mode(keras, args.check)
    return fixtures_mode(keras, os.path.abspath(args.dir))


if __name__ == "__main__":
    sys.exit(main())
