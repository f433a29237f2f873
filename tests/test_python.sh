#!/bin/sh
# The ctypes binding examples/python/ckeras.py against lib/libckeras.so: trains the seed network
# (examples/python/seed_mlp.py), trains and predicts on data whose labels are known, checks
# the accuracy against one computed here from the predictions, and the error paths.
# Runs with python3 (skipped with a message when there is none), and again with
# /usr/bin/python3 when that is another interpreter that has NumPy (the NumPy paths).
# Run from the source root after `make`: sh tests/test_python.sh  (CKERAS_TEST_VERBOSE=1: every check)
set -u
root=$(pwd)
lib="$root/lib/libckeras.so"
[ -e "$lib" ] || { echo "test_python: FAIL: $lib is missing (run make first)"; exit 1; }

pythons=""
if command -v python3 > /dev/null 2>&1; then
    pythons=$(command -v python3)
fi
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import numpy' > /dev/null 2>&1; then
    case " $pythons " in
        *" /usr/bin/python3 "*) ;;
        *) [ -n "$pythons" ] && [ "$(readlink -f "$pythons")" = "$(readlink -f /usr/bin/python3)" ] ||
               pythons="$pythons /usr/bin/python3" ;;
    esac
fi
if [ -z "$pythons" ]; then
    echo "test_python: skipped: python3 is not installed"
    exit 0
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

cat > "$tmp/check.py" <<'EOF'
import os
import random
import re
import subprocess
import sys

root = sys.argv[1]
sys.path.insert(0, os.path.join(root, "examples", "python"))
import ckeras as ck

failures = []


verbose = bool(os.environ.get("CKERAS_TEST_VERBOSE"))
passed = [0]


def check(cond, what):
    if verbose or not cond:
        print("  %s: %s" % ("ok" if cond else "FAIL", what))
    if cond:
        passed[0] += 1
    else:
        failures.append(what)


def raises(exc, fn, what, status=None, contains=None):
    try:
        fn()
    except exc as e:
        good = True
        if status is not None:
            good = getattr(e, "status_name", None) == status
        if contains is not None:
            good = good and contains in str(e)
        msg = str(e)
        check(good, "%s raises %s (%s)" % (what, exc.__name__, msg if len(msg) < 100 else msg[:97] + "..."))
        return e
    check(False, "%s raises %s" % (what, exc.__name__))


header = open(os.path.join(root, "include", "ckeras.h")).read()
check(ck.version() == re.search(r'#define CKERAS_VERSION "([^"]*)"', header).group(1),
      "version() %s equals the header's" % ck.version())
check(os.path.realpath(ck._lib._name) == os.path.realpath(os.environ["CKERAS_LIB"]),
      "loaded the library named by CKERAS_LIB")

# 1. the seed network, through the example program
r = subprocess.run([sys.executable, os.path.join(root, "examples", "python", "seed_mlp.py")],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
m = re.search(r"^test: loss ([0-9.]+), accuracy ([0-9.]+), precision ([0-9.]+)", r.stdout, re.M)
check(r.returncode == 0 and m is not None, "seed_mlp.py runs (exit %d)" % r.returncode)
if m:
    check(float(m.group(2)) >= 0.9, "seed_mlp.py test accuracy %s >= 0.9" % m.group(2))
check(re.search(r"^Epoch 2/100$", r.stdout, re.M) is not None, "fit's progress lines reach stdout")
check("Total params: 10,751" in r.stdout, "summary() prints the table (10,751 = 30*100+100 + 100*50+50 + 50*50+50 + 50+1 parameters)")
if r.returncode != 0 or m is None:
    print(r.stdout[-2000:])

# StandardScaler from a plain list (a temporary Tensor inside): mean (2, 20), population std (1, 10)
sc = ck.StandardScaler().fit([[1.0, 10.0], [3.0, 30.0]])
check(sc.transform([[1.0, 10.0], [3.0, 30.0], [2.0, 40.0]]).tolist() == [[-1.0, -1.0], [1.0, 1.0], [0.0, 2.0]],
      "StandardScaler().fit(list).transform(list) by hand")

# 2. a problem with known labels, from Python lists: y = 1 when x0 + 2 x1 > 0
ck.set_random_seed(5)
rng = random.Random(11)
x = [[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(400)]
y = [[1.0 if a + 2 * b > 0 else 0.0] for a, b in x]
x_test = [[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(200)]
y_test = [1.0 if a + 2 * b > 0 else 0.0 for a, b in x_test]

with ck.Sequential([ck.Input((2,)), ck.Dense(16, activation="relu"),
                    ck.Dense(1, activation="sigmoid")], name="line") as model:
    check(model.name == "line" and [l.class_name for l in model.layers] == ["Dense", "Dense"],
          "Sequential(layers, name): %s %s" % (model.name, model.layers))
    check(model.count_params() == 2 * 16 + 16 + 16 + 1, "count_params() = %d" % model.count_params())
    model.compile(optimizer=ck.Adam(learning_rate=0.02), loss="binary_crossentropy", metrics=["accuracy"])
    check(model.metrics_names == ["loss", "accuracy"], "metrics_names %s" % model.metrics_names)
    es = ck.EarlyStopping(monitor="val_loss", patience=3)
    h = model.fit(x, y, epochs=30, batch_size=32, verbose=0, validation_split=0.25, callbacks=[es])
    check(sorted(h.history) == ["accuracy", "loss", "val_accuracy", "val_loss"],
          "History.history keys %s" % sorted(h.history))
    check(all(len(v) == len(h.epoch) for v in h.history.values()) and 1 <= len(h.epoch) <= 30,
          "History has one value per epoch (%d epochs)" % len(h.epoch))
    check(h.history["loss"][-1] < h.history["loss"][0], "the loss decreased: %.4f -> %.4f"
          % (h.history["loss"][0], h.history["loss"][-1]))
    check(es.stopped_epoch == 0 or es.stopped_epoch == len(h.epoch) - 1,
          "EarlyStopping.stopped_epoch %d agrees with the History" % es.stopped_epoch)

    p = model.predict(x_test)
    rows = p.tolist() if hasattr(p, "tolist") else p
    check(len(rows) == 200 and all(len(row) == 1 and 0.0 <= row[0] <= 1.0 for row in rows),
          "predict gives 200 probabilities")
    mine = sum((row[0] > 0.5) == (t == 1.0) for row, t in zip(rows, y_test)) / 200.0
    check(mine >= 0.9, "accuracy from the predictions %.3f >= 0.9" % mine)
    loss, acc = model.evaluate(x_test, [[t] for t in y_test])
    check(abs(acc - mine) < 1e-6, "evaluate's accuracy %.4f equals the one from predict %.4f" % (acc, mine))
    check(model.evaluate(x_test, [[t] for t in y_test], return_dict=True)["loss"] == loss,
          "evaluate(return_dict=True)")
    w = model.layers[0].get_weights()
    check(len(w) == 2 and len(w[0]) == 2 and len(w[0][0]) == 16 and len(w[1]) == 16,
          "get_weights(): kernel (2, 16) and bias (16,)")
    before = model.optimizer.iterations
    model.train_on_batch(x[:32], y[:32])
    check(model.optimizer.iterations == before + 1, "train_on_batch is one optimizer step")

    # user callback: returning True stops after that epoch; an exception comes back out of fit
    seen = []
    stop = ck.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(logs["loss"]) or epoch == 1)
    h = model.fit(x, y, epochs=10, verbose=0, callbacks=[stop])
    check(len(h.epoch) == 2 and len(seen) == 2 and seen == h.history["loss"],
          "LambdaCallback sees the logs and stops training (%d epochs)" % len(h.epoch))

    def boom(epoch, logs):
        raise KeyError("from the callback")
    raises(KeyError, lambda: model.fit(x, y, epochs=3, verbose=0,
                                       callbacks=[ck.LambdaCallback(on_epoch_end=boom)]),
           "an exception in a callback")

    # error paths: every failure is a CkerasError with the library's message
    raises(ck.CkerasError, lambda: model.compile(loss="no_such_loss"), "compile(loss='no_such_loss')",
           status="CKERAS_EINVAL", contains="no_such_loss")
    raises(ck.CkerasError, lambda: model.predict([[1.0, 2.0, 3.0]]), "predict on 3 features",
           status="CKERAS_ESHAPE")
    raises(ck.CkerasError, lambda: ck.Dense(16, activation="no_such_activation"), "Dense with a bad activation",
           contains="no_such_activation")
    raises(ck.CkerasError, lambda: ck.Dense(4, foo=1), "an unknown layer keyword", contains="foo")
    raises(ck.CkerasError, lambda: ck.read_csv(os.path.join(root, "no", "such.csv")), "read_csv of a missing file",
           status="CKERAS_EIO")
    bad = ck.Dense(3, activation="relu")
    raises(ck.CkerasError, lambda: ck.Sequential([ck.Input((2, 2, 2)), ck.Flatten(), bad,
                                                  ck.Dense(1), ck.Input((4,))]), "an Input in the middle")
    raises(ValueError, lambda: model.add(bad), "adding a layer another model took")

model2 = ck.Sequential([ck.Input((2,)), ck.Dense(1)])
raises(ck.CkerasError, lambda: model2.fit(x, y, verbose=0), "fit before compile", status="CKERAS_ESTATE")
model2.close()
raises(ValueError, lambda: model2.predict(x), "a closed model")

# fit options: sample_weight, class_weight, validation_freq, steps_per_epoch, weighted_metrics
m8 = ck.Sequential([ck.Input((2,)), ck.Dense(1, activation="sigmoid")])
m8.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"], weighted_metrics=["accuracy"])
check(m8.metrics_names == ["loss", "accuracy", "weighted_accuracy"], "weighted_metrics names %s" % m8.metrics_names)
w = [0.0 if i % 2 else 2.0 for i in range(400)]
even = m8.evaluate(x[::2], y[::2])
weighted = m8.evaluate(x, y, sample_weight=w)
check(abs(weighted[0] - even[0]) < 1e-5 and abs(weighted[2] - even[1]) < 1e-6,
      "evaluate(sample_weight=2 on even samples, 0 on odd) = evaluate(even samples): %s %s" % (weighted, even))
h = m8.fit(x, y, epochs=4, batch_size=50, verbose=0, sample_weight=w, steps_per_epoch=3, validation_freq=2,
           validation_data=(x_test, [[v] for v in y_test], [1.0] * 200))
vl = h.history["val_loss"]
check([v != v for v in vl] == [True, False, True, False], "validation_freq=2: val_loss only at epochs 2 and 4 %s" % vl)
m8.fit(x, y, epochs=1, verbose=0, class_weight={0: 1.0, 1: 2.0})
raises(ck.CkerasError, lambda: m8.fit(x, y, verbose=0, class_weight={0: 1.0}, sample_weight=w),
       "class_weight with sample_weight", contains="at the same time")
check(isinstance(m8.train_on_batch(x[:10], y[:10], sample_weight=w[:10]), list), "train_on_batch(sample_weight=)")
m8.close()

# 3. NumPy in and out, when installed
if ck._np is not None:
    np = ck._np
    xs = np.asarray(x, dtype=np.float64)
    t = ck.Tensor(xs)
    check(t.shape == (400, 2) and np.array_equal(np.asarray(t), xs.astype(np.float32)),
          "Tensor from a float64 NumPy array")
    check(ck.Tensor(xs[:, ::-1]).tolist()[0] == [float(np.float32(xs[0, 1])), float(np.float32(xs[0, 0]))],
          "a non-contiguous array is copied in order")
    model3 = ck.Sequential([ck.Input((2,)), ck.Dense(1, activation="sigmoid")])
    model3.compile(optimizer="adam", loss="binary_crossentropy")
    model3.fit(xs, np.asarray(y), epochs=1, verbose=0)
    out = model3.predict(xs[:5])
    check(isinstance(out, np.ndarray) and out.shape == (5, 1) and out.dtype == np.float32,
          "predict returns a float32 ndarray (5, 1)")
    check(isinstance(model3.evaluate(xs, np.asarray(y)), float), "evaluate without metrics gives the loss")
else:
    print("  (NumPy not installed in %s: NumPy paths not tested here)" % sys.executable)

# 4. save / load (Keras HDF5), when the library has them
if ck.has_hdf5():
    import json
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        m4 = ck.Sequential([ck.Input((2,)), ck.Dense(4, activation="relu", name="hidden"),
                            ck.Dense(1, activation="sigmoid", name="out")])
        m4.compile(optimizer=ck.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
        m4.fit(x, y, epochs=2, verbose=0)
        path = os.path.join(d, "model.h5")
        m4.save(path)
        probe = x[:8]

        def same(a, b):
            return (a.tolist() if hasattr(a, "tolist") else a) == (b.tolist() if hasattr(b, "tolist") else b)
        with ck.load_model(path) as m5:
            check(same(m5.predict(probe), m4.predict(probe)), "load_model(save(model)) predicts the same")
            check(m5.metrics_names == ["loss", "accuracy"] and m5.evaluate(x, y) == m4.evaluate(x, y),
                  "the loaded model is compiled with the same loss and metrics")
        m6 = ck.load_model(path, compile=False)
        raises(ck.CkerasError, lambda: m6.evaluate(x, y), "evaluate on a model loaded with compile=False")
        cfg = json.loads(m4.to_json())
        check(cfg.get("class_name") == "Sequential", "to_json() gives a Keras model_config (%s)" % cfg.get("class_name"))
        m7 = ck.model_from_json(m4.to_json())
        check([l.name for l in m7.layers] == ["hidden", "out"], "model_from_json keeps the layer names")
        m7.load_weights(path)
        check(same(m7.predict(probe), m4.predict(probe)), "load_weights from the model file")
        wpath = os.path.join(d, "weights.h5")
        m4.save_weights(wpath)
        m8 = ck.model_from_json(m4.to_json())
        m8.load_weights(wpath, by_name=True)
        check(same(m8.predict(probe), m4.predict(probe)), "save_weights / load_weights(by_name=True)")
        raises(ck.CkerasError, lambda: ck.load_model(os.path.join(d, "missing.h5")), "load_model of a missing file",
               status="CKERAS_EIO")
        with open(os.path.join(d, "junk.h5"), "wb") as f:
            f.write(b"not an HDF5 file" * 10)
        raises(ck.CkerasError, lambda: ck.load_model(os.path.join(d, "junk.h5")), "load_model of a non-HDF5 file",
               status="CKERAS_EFORMAT")
        npy = os.path.join(d, "x.npy")
        ck.write_npy(npy, probe)
        check(ck.read_npy(npy).tolist() == ck.Tensor(probe).tolist(), "write_npy / read_npy round trip")
else:
    print("  (this libckeras has no ckeras_model_save / ckeras_load_model: save/load not tested)")

print("  %d checks passed, %d failed%s" % (passed[0], len(failures),
      "" if verbose else " (CKERAS_TEST_VERBOSE=1 lists them)"))
sys.exit(1 if failures else 0)
EOF

fail=0
for py in $pythons; do
    echo "test_python: $py ($("$py" --version 2>&1))"
    if ! CKERAS_LIB="$lib" "$py" "$tmp/check.py" "$root"; then
        echo "test_python: FAIL with $py"
        fail=1
    fi
done
if [ $fail -ne 0 ]; then
    echo "test_python: FAILED"
    exit 1
fi
echo "test_python: passed"
