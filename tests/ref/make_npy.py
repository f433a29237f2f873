#!/usr/bin/python3
"""Writes the small .npy/.npz fixtures of tests/test_data.c into tests/fixtures/npy/.

Run from the source root with the system python (it has numpy):
    /usr/bin/python3 tests/ref/make_npy.py
Every array's values follow a formula that tests/test_data.c recomputes in C, so the test
checks the reader against numpy's writer, not against our own output.
Also records sums of the shared Keras fixtures' arrays (when present) in oracle_sums.json.
"""
import glob
import json
import os

import numpy as np
from numpy.lib import format as npf

OUT = "tests/fixtures/npy"
os.makedirs(OUT, exist_ok=True)


def save(name, arr, version=None):
    with open(os.path.join(OUT, name), "wb") as f:
        npf.write_array(f, arr, version=version, allow_pickle=False)


# value formula per array (index i = flat C-order index):
save("f4.npy", ((np.arange(24) - 7) * 0.25).astype("<f4").reshape(2, 3, 4))      # (i-7)/4
save("f8.npy", (np.arange(15, dtype=np.float64) * 0.1 - 0.5).reshape(3, 5))      # i*0.1-0.5
save("i4.npy", (np.arange(4, dtype="<i4") * 1000 - 1500))                       # 1000i-1500
save("i8.npy", np.array([[-(2 ** 40), 3], [2 ** 31, -7]], dtype="<i8"))
save("u1.npy", np.array([[0, 1, 127], [128, 254, 255]], dtype="|u1"))
save("b1.npy", np.array([True, False, False, True, True]))
save("f2.npy", np.array([0.0, 1.0, -2.0, 0.5, 65504.0, 2.0 ** -24, 2.0 ** -14, np.inf],
                        dtype="<f2"))
save("i2_be.npy", np.array([-300, 7], dtype=">i2"))
save("f4_be.npy", np.array([[1.5, -2.25], [3.0, 4.0]], dtype=">f4"))
save("scalar.npy", np.array(3.5, dtype="<f8"))                                    # shape ()
save("empty.npy", np.zeros((0, 3), dtype="<f4"))
save("v2.npy", np.array([1.0, 2.0, 3.0], dtype="<f4"), version=(2, 0))
save("v3.npy", np.array([1.0, 2.0, 3.0], dtype="<f4"), version=(3, 0))
save("fortran.npy", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
save("c8.npy", np.array([1 + 2j], dtype="<c8"))
save("str.npy", np.array(["abc"], dtype="<U3"))

# a: (i-7)/4 as (2,3,4) float32; b: 1000i-1500 int32 (4,)
a = ((np.arange(24) - 7) * 0.25).astype("<f4").reshape(2, 3, 4)
b = np.arange(4, dtype="<i4") * 1000 - 1500
np.savez(os.path.join(OUT, "stored.npz"), a=a, b=b)
np.savez_compressed(os.path.join(OUT, "deflated.npz"), a=a, b=b)

# Sums (in float64) of the shared Keras fixtures, for a value check beyond the shapes.
sums = {}
for pattern in ("/work/shared/fixtures/keras3-oracle/*.npy", "/work/shared/fixtures/keras-real/*.npy"):
    for p in sorted(glob.glob(pattern)):
        x = np.load(p)
        sums[os.path.basename(p)] = {"shape": list(x.shape), "sum": float(x.astype(np.float64).sum()),
                                     "first": float(x.flat[0]), "last": float(x.flat[-1])}
for p in sorted(glob.glob("/work/shared/fixtures/keras-real/*.npz")):
    z = np.load(p)
    sums[os.path.basename(p)] = {k: {"shape": list(z[k].shape), "sum": float(z[k].astype(np.float64).sum())}
                                 for k in z.files}
with open(os.path.join(OUT, "oracle_sums.json"), "w") as f:
    json.dump(sums, f, indent=1, sort_keys=True)
