"""Real Keras 3 loads ckeras' files of models with two inputs and two outputs, with compile.

    /usr/bin/python3 tests/keras/check_multi_io.py DIR

Run by tests/test_multi_io.c (keras_loads_the_files_with_compile) when KERAS_ORACLE_SRC is set.
DIR holds, for each model STEM (the two-output model compiled with a loss per output, loss
weights and metrics per output; the same with no loss on "cls"): STEM.h5 (tf.keras 2 profile),
STEM.k3.h5 (CKERAS_SAVE_KERAS3) and STEM.keras; ckeras' predictions STEM.cls.npy and
STEM.reg.npy, and its evaluate results STEM.evaluate.txt ("name value" lines); the inputs a.npy,
b.npy and targets yc.npy, yr.npy are shared. For each file Keras' load_model (compile=True, the
default) must log no warning (aside from the one message Keras logs for its own .h5 files of
this model, that compiled metrics are built at the first evaluate), must restore the compile
(loss per output, loss_weights, metrics per output: Keras' evaluate gives ckeras' values under
the same names) and must predict both outputs within 1e-5 of ckeras. Names from an .h5: Keras 3
deserialises a metric "mae" of a legacy training_config as the function mean_absolute_error and
names it so ("reg_mean_absolute_error"), for the .h5 files it writes itself too (measured).
The compile settings ckeras writes (loss, loss_weights, metrics, weighted_metrics of the
training_config / compile_config) must also be what Keras writes for the same model compiled the
same way (KERAS_COMPILE below: the test's compile_outputs calls in Keras' words).
Exits 1 on any failure, printing why."""
import glob, io, json, logging, os, sys, tempfile, warnings, zipfile

sys.path.insert(0, '/work/shared/tools/keras-oracle')
import oracle_env  # noqa: F401,E402
import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402

# Messages Keras logs for files it wrote itself (measured with Keras 3.11.3 on this model), and
# torch 1.13's deprecation notes of this oracle: not about the file.
BENIGN = ('Compiled the loaded model, but the compiled metrics have yet to be built',)


def benign(msg):
    return msg.startswith(BENIGN) or (msg.startswith('nn.functional.') and 'is deprecated' in msg)


H5_NAMES = {'mae': 'mean_absolute_error', 'mse': 'mean_squared_error'}


# The test's compiles in Keras' words (ckeras writes loss names in full, as Keras' own
# .h5 loader needs them: Keras cannot load its own .h5 of loss={"reg": "mse"}).
KERAS_COMPILE = {
    'm': dict(loss={'cls': 'sparse_categorical_crossentropy', 'reg': 'mean_squared_error'},
              loss_weights={'cls': 1.0, 'reg': 0.5}, metrics={'cls': ['accuracy'], 'reg': ['mae']}),
    'none': dict(loss={'cls': None, 'reg': 'mean_squared_error'}, metrics={'reg': ['mae']}),
}
COMPILE_KEYS = ('loss', 'loss_weights', 'metrics', 'weighted_metrics')


def compile_of(path):
    if path.endswith('.keras'):
        with zipfile.ZipFile(path) as z:
            return json.loads(z.read('config.json')).get('compile_config')
    with h5py.File(path, 'r') as f:
        v = f.attrs.get('training_config')
        return json.loads(v.decode() if isinstance(v, bytes) else v) if v is not None else None


_keras_written = {}


def keras_compile(stem, ext):
    """loss, loss_weights, metrics, weighted_metrics as Keras writes them for model stem."""
    if (stem, ext) not in _keras_written:
        from keras import layers
        a, b = keras.Input((4,), name='a'), keras.Input((3,), name='b')
        h = layers.Dense(8, activation='relu', name='h')(layers.Concatenate()([a, b]))
        m = keras.Model([a, b], [layers.Dense(3, activation='softmax', name='cls')(h),
                                 layers.Dense(1, name='reg')(h)])
        m.compile(optimizer='sgd', **KERAS_COMPILE[stem])
        with tempfile.TemporaryDirectory() as t:
            path = os.path.join(t, 'k' + ext)
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                logging.disable(logging.WARNING)
                m.save(path)
                logging.disable(logging.NOTSET)
            cc = compile_of(path)
        _keras_written[(stem, ext)] = {k: cc.get(k) for k in COMPILE_KEYS}
    return _keras_written[(stem, ext)]


def check(d, stem, name):
    path = os.path.join(d, name)
    theirs = keras_compile(stem, '.keras' if name.endswith('.keras') else '.h5') if stem in KERAS_COMPILE else None
    records = []

    class Grab(logging.Handler):
        def emit(self, r):
            records.append(r.getMessage())

    h = Grab()
    logging.getLogger().addHandler(h)
    out = io.StringIO()
    errors = []
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always')
            old = sys.stdout
            sys.stdout = out
            try:
                m = keras.saving.load_model(path)
                xa, xb = np.load(os.path.join(d, 'a.npy')), np.load(os.path.join(d, 'b.npy'))
                yc, yr = np.load(os.path.join(d, 'yc.npy')), np.load(os.path.join(d, 'yr.npy'))
                pred = m.predict([xa, xb], verbose=0)
                ev = m.evaluate([xa, xb], [yc, yr], verbose=0, return_dict=True)
            finally:
                sys.stdout = old
    except Exception as e:  # noqa: BLE001
        return [f'{name}: Keras refused it: {type(e).__name__}: {e}'[:500]]
    finally:
        logging.getLogger().removeHandler(h)
    msgs = [str(x.message) for x in w] + records + [l for l in out.getvalue().splitlines() if l.strip()]
    msgs = [s for s in msgs if not benign(s)]
    if msgs:
        errors.append(f'{name}: Keras logged: ' + ' | '.join(msgs)[:800])
    if not m.compiled:
        errors.append(f'{name}: not compiled')
    if not isinstance(pred, (list, tuple)) or len(pred) != 2:
        return errors + [f'{name}: predict gave {type(pred).__name__}, not two outputs']
    for k, out_name in enumerate(('cls', 'reg')):
        want = np.load(os.path.join(d, f'{stem}.{out_name}.npy'))
        got = np.asarray(pred[k])
        diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else float('inf')
        if not diff <= 1e-5:
            errors.append(f'{name}: output {out_name} differs from ckeras by {diff:g}')
    if theirs is not None:
        ours = compile_of(path) or {}
        ours = {k: ours.get(k) for k in COMPILE_KEYS}
        if ours != theirs:
            errors.append(f'{name}: ckeras writes {json.dumps(ours)}, Keras writes {json.dumps(theirs)}')
    ck = {}
    for line in open(os.path.join(d, f'{stem}.evaluate.txt')):
        key, value = line.split()
        if name.endswith('.h5'):
            head, _, metric = key.rpartition('_')
            key = f'{head}_{H5_NAMES[metric]}' if head and metric in H5_NAMES else key
        ck[key] = float(value)
    if sorted(ev) != sorted(ck):
        errors.append(f'{name}: Keras evaluate gives {sorted(ev)}, ckeras {sorted(ck)}')
    else:
        for n, v in ck.items():
            if not abs(ev[n] - v) <= 1e-5 + 1e-4 * abs(v):
                errors.append(f'{name}: Keras evaluate {n} = {ev[n]:.7g}, ckeras {v:.7g}')
    print(f'{name}: loads with compile, no warning, predictions and evaluate ({", ".join(sorted(ev))}) as ckeras'
          if not errors else '\n'.join(errors))
    return errors


def main():
    d = sys.argv[1]
    bad = []
    stems = sorted(os.path.basename(p)[:-len('.evaluate.txt')] for p in glob.glob(os.path.join(d, '*.evaluate.txt')))
    if not stems:
        print(f'no *.evaluate.txt in {d}')
        bad.append(d)
    for stem in stems:
        for name in (f'{stem}.h5', f'{stem}.k3.h5', f'{stem}.keras'):
            bad += check(d, stem, name)
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
