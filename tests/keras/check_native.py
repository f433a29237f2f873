"""Real Keras 3 reads the .keras archives ckeras writes (not run by make check).

    mkdir -p /tmp/nkeep && CK_NATIVE_KEEP=/tmp/nkeep build/tests/test_keras_native_write
    export KERAS_ORACLE_SRC=/opt/keras-oracle
    /usr/bin/python3 tests/keras/check_native.py /tmp/nkeep

For every DIR/<name>.keras (with <name>.inputs.npy and ckeras' <name>.ckeras.npy): Keras loads
it (compile=True), capturing every warning and log record; predicts on the inputs (max abs
difference against ckeras'); and its optimizer must hold what the archive holds (iterations and
every slot equal to optimizer/vars/N, i.e. ckeras' state). Prints one table row per file."""
import glob, io, logging, os, sys, warnings, zipfile

sys.path.insert(0, '/work/shared/tools/keras-oracle')
import oracle_env  # noqa: F401,E402
import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402


def check(path):
    stem = path[:-len('.keras')]
    records = []

    class Grab(logging.Handler):
        def emit(self, r):
            records.append(r.getMessage())

    h = Grab()
    logging.getLogger().addHandler(h)
    out = io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always')
            old = sys.stdout
            sys.stdout = out
            try:
                m = keras.saving.load_model(path, compile=True)
                x = np.load(stem + '.inputs.npy')
                y = m.predict(x, verbose=0)
            finally:
                sys.stdout = old
    except Exception as e:  # noqa: BLE001
        logging.getLogger().removeHandler(h)
        return dict(loads=False, error=f'{type(e).__name__}: {e}'[:300])
    logging.getLogger().removeHandler(h)
    msgs = [str(x.message) for x in w] + records + [l for l in out.getvalue().splitlines() if l.strip()]
    # torch 1.13 of this oracle says so on every sigmoid/tanh call: not about the file
    msgs = [s for s in msgs if not (s.startswith('nn.functional.') and 'is deprecated' in s)]
    diff = float(np.max(np.abs(y - np.load(stem + '.ckeras.npy'))))
    # the optimizer as Keras restored it against the archive's optimizer/vars
    with zipfile.ZipFile(path) as z:
        f = h5py.File(io.BytesIO(z.read('model.weights.h5')), 'r')
        saved = [f['optimizer/vars/%d' % i][()] for i in range(len(f['optimizer/vars']))] if 'optimizer' in f else []
    kv = [np.asarray(v) for v in m.optimizer.variables] if m.optimizer is not None else []
    opt_ok = len(saved) == len(kv) and all(np.array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64))
                                           for a, b in zip(saved, kv))
    return dict(loads=True, diff=diff, warnings=msgs, opt_vars=len(kv), opt_ok=opt_ok,
                iterations=int(np.asarray(m.optimizer.iterations)) if m.optimizer is not None else None)


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else '/tmp/nkeep'
    print('| file | loads | max diff | warnings | optimizer (vars, iterations, equal) |')
    print('|---|---|---|---|---|')
    bad = 0
    for p in sorted(glob.glob(os.path.join(d, '*.keras'))):
        r = check(p)
        name = os.path.basename(p)
        if not r['loads']:
            bad += 1
            print(f"| {name} | **REFUSED** {r['error']} | | | |")
            continue
        ok = r['diff'] <= 1e-5 and not r['warnings'] and r['opt_ok']
        bad += not ok
        print(f"| {name} | yes | {r['diff']:.1e} | {len(r['warnings'])} {'; '.join(r['warnings'])[:300]} | "
              f"{r['opt_vars']}, {r['iterations']}, {'equal' if r['opt_ok'] else '**DIFFER**'} |")
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
