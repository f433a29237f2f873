#!/usr/bin/python3
"""Reference outputs for tests/test_nested.c (image preprocessing layers), computed with
PyTorch's own resampling kernels, not with ckeras' formulas:

  - Resizing bilinear = torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
    antialias=False): the half-pixel mapping (o + 0.5) * in / out - 0.5 with the source clamped
    at 0, which is what TensorFlow's tf.image.resize does without antialiasing.
  - Resizing nearest = interpolate(mode="nearest-exact"): floor((o + 0.5) * in / out), TF's
    half-pixel nearest.
  - crop_to_aspect_ratio: the box of Keras' smart_resize, then the bilinear resize of the crop.
  - RandomRotation / RandomZoom with a fixed draw and fill_mode "constant" (fill_value 0):
    torch.nn.functional.grid_sample(align_corners=True, padding_mode="zeros") at the source
    points of Keras' get_rotation_matrix / get_zoom_matrix. align_corners=True puts pixel centres
    at integer coordinates (TF's ImageProjectiveTransformV3) and "zeros" reads 0 for corners
    outside the image, as TF's read_with_fill_value does.

Run from the source root with the system python (numpy, torch 1.13):
    /usr/bin/python3 tests/ref/preprocessing_ref.py
It writes tests/fixtures/preprocessing/reference.json.
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = "tests/fixtures/preprocessing"
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20240611)


def image(h, w, c):
    return rng.uniform(-1.0, 1.0, size=(h, w, c)).astype(np.float32)


def nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None]).astype(np.float64))


def nhwc(t):
    return t[0].numpy().transpose(1, 2, 0)


def resize(x, oh, ow, mode):
    t = nchw(x)
    if mode == "bilinear":
        y = F.interpolate(t, size=(oh, ow), mode="bilinear", align_corners=False, antialias=False)
    else:
        y = F.interpolate(t, size=(oh, ow), mode="nearest-exact")
    return nhwc(y)


def smart_crop(x, oh, ow):
    h, w = x.shape[0], x.shape[1]
    ch = min(h, int(np.float32(w * oh) / np.float32(ow)))
    cw = min(w, int(np.float32(h * ow) / np.float32(oh)))
    h0 = int(np.float32(h - ch) / 2)
    w0 = int(np.float32(w - cw) / 2)
    return x[h0:h0 + ch, w0:w0 + cw]


def affine(x, t):
    """out(y, x) = bilinear sample of x at (t0 x + t1 y + t2, t3 x + t4 y + t5), zeros outside."""
    h, w = x.shape[0], x.shape[1]
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    sx = t[0] * xx + t[1] * yy + t[2]
    sy = t[3] * xx + t[4] * yy + t[5]
    grid = np.stack([sx / (w - 1) * 2 - 1, sy / (h - 1) * 2 - 1], axis=-1)[None]
    y = F.grid_sample(nchw(x), torch.from_numpy(grid), mode="bilinear", padding_mode="zeros", align_corners=True)
    return nhwc(y)


def rotation_matrix(a, h, w):
    c, s = math.cos(a), math.sin(a)
    xo = ((w - 1) - (c * (w - 1) - s * (h - 1))) / 2.0
    yo = ((h - 1) - (s * (w - 1) + c * (h - 1))) / 2.0
    return [c, -s, xo, s, c, yo]


def zoom_matrix(zx, zy, h, w):
    return [zx, 0.0, (w - 1) / 2.0 * (1 - zx), 0.0, zy, (h - 1) / 2.0 * (1 - zy)]


def case(name, x, y, **kw):
    d = {"name": name, "input": x.tolist(), "output": np.asarray(y, dtype=np.float64).tolist()}
    d.update(kw)
    return d


cases = []
for (h, w, c, oh, ow) in [(5, 7, 2, 9, 4), (8, 6, 3, 3, 5), (4, 4, 1, 4, 4), (6, 9, 2, 13, 17)]:
    x = image(h, w, c)
    cases.append(case("resize_bilinear", x, resize(x, oh, ow, "bilinear"), height=oh, width=ow,
                      interpolation="bilinear"))
    cases.append(case("resize_nearest", x, resize(x, oh, ow, "nearest"), height=oh, width=ow,
                      interpolation="nearest"))
for (h, w, c, oh, ow) in [(6, 10, 2, 4, 4), (9, 5, 1, 3, 6)]:
    x = image(h, w, c)
    cases.append(case("resize_crop", x, resize(smart_crop(x, oh, ow), oh, ow, "bilinear"), height=oh, width=ow,
                      interpolation="bilinear"))
for (h, w, c, turns) in [(7, 9, 2, 0.083), (8, 8, 1, -0.21), (5, 11, 3, 0.4)]:
    x = image(h, w, c)
    cases.append(case("rotation_constant", x, affine(x, rotation_matrix(turns * 2 * math.pi, h, w)), factor=turns))
for (h, w, c, zy, zx) in [(7, 9, 2, 0.7, 1.3), (6, 6, 1, 1.25, 0.8)]:
    x = image(h, w, c)
    cases.append(case("zoom_constant", x, affine(x, zoom_matrix(zx, zy, h, w)), height_zoom=zy, width_zoom=zx))

with open(os.path.join(OUT, "reference.json"), "w") as f:
    json.dump({"generator": "tests/ref/preprocessing_ref.py (torch %s)" % torch.__version__, "cases": cases}, f)
print("wrote", len(cases), "cases")
