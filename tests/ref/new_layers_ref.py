#!/usr/bin/python3
"""Reference values for tests/test_new_layers.c (PReLU, Softmax layers), printed as C arrays.

PReLU by NumPy broadcasting of alpha (shape of the input with shared axes set to 1), Softmax by
torch.softmax in double precision. Inputs are fixed closed forms so the C test rebuilds them.
Run: /usr/bin/python3 tests/ref/new_layers_ref.py
"""
import numpy as np
import torch


def carr(name, a):
    flat = ", ".join("%.9g" % v for v in np.asarray(a, dtype=np.float64).ravel())
    print("static const float %s[%d] = {%s};" % (name, a.size, flat))


def xs(n):  # x[i] = ((i * 7) % 13 - 6) / 4: mixed signs, no zeros
    i = np.arange(n)
    return ((i * 7) % 13 - 6) / 4.0 + 0.125


def alphas(n):  # alpha[k] = 0.1 + 0.15 k
    return 0.1 + 0.15 * np.arange(n)


# PReLU on per-sample shape (2, 3, 2), batch 2, for three settings of shared_axes
shape = (2, 3, 2)
x = xs(2 * 12).reshape((2,) + shape)
for tag, shared in (("none", []), ("ax1", [1]), ("ax2", [2]), ("ax12", [1, 2])):
    ashape = [1 if (d + 1) in shared else s for d, s in enumerate(shape)]
    a = alphas(int(np.prod(ashape))).reshape(ashape)
    y = np.where(x >= 0, x, a[None] * x)
    carr("prelu_y_" + tag, y)

# Softmax along the last axis: per-sample shapes (5,) and (2, 3), batch 2
for tag, shp in (("vec", (5,)), ("mat", (2, 3))):
    n = 2 * int(np.prod(shp))
    x = torch.tensor(xs(n) * 1.5, dtype=torch.float64).reshape((2,) + shp)
    carr("softmax_y_" + tag, torch.softmax(x, dim=-1).numpy())
