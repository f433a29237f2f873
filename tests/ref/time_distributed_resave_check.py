#!/usr/bin/python3
"""Keras -> ckeras -> Keras for the TimeDistributed fixtures: resaves each Keras-written model of
tests/fixtures/time_distributed/ through ckeras (build/tests/keras/resave: .keras, .h5 with
flags 0 and 2), loads the copies in the real Keras 3 and compares their predictions with the
ones Keras recorded. Run from the source root after `make keras-tools`:
  KERAS_ORACLE_SRC=/opt/keras-oracle /usr/bin/python3 tests/ref/time_distributed_resave_check.py
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, '/work/shared/tools/keras-oracle')
import oracle_env  # noqa: F401,E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

FIX = 'tests/fixtures/time_distributed'
bad = 0
with tempfile.TemporaryDirectory() as tmp:
    for name in ('td_dense', 'td_conv2d', 'td_bn_lstm'):
        ref = json.load(open(os.path.join(FIX, name + '.json')))
        x = np.array(ref['x'], np.float32).reshape(ref['x_shape'])
        y = np.array(ref['y']).reshape(ref['y_shape'])
        for src, out, flags in ((name + '.keras', name + '.keras', '0'), (name + '.h5', name + '.h5', '0'),
                                (name + '.h5', name + '.k3.h5', '2')):
            dst = os.path.join(tmp, out)
            subprocess.run(['build/tests/keras/resave', os.path.join(FIX, src), dst, flags], check=True)
            d = float(np.abs(keras.models.load_model(dst).predict(x, verbose=0) - y).max())
            bad += d > 1e-5
            print(f'{out}: Keras predicts from ckeras\' copy within {d:.1e}')
sys.exit(1 if bad else 0)
