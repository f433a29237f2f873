"""Reference for tests/test_data_source.c: a tiny image album and what reading it must give.

Writes tests/fixtures/images/album/ (two class folders "cats" and "dogs", a nested folder, PNG
files in every colour type PIL writes, JPEG files, and files Keras skips) and
tests/fixtures/images/album_ref.json with, computed independently of ckeras:
  - files: the album's images as Keras' index_directory lists them (labels inferred: class
    folders sorted, then per class the folders below it walked and sorted by path, files sorted
    by name, extensions .png .jpg .jpeg in any case);
  - shuffled_<seed>: that list after numpy.random.RandomState(seed).shuffle (what Keras does);
  - pixels of each image decoded by PIL (Debian's python3-pil, which decodes JPEG with
    Debian's libjpeg-turbo, the library ckeras uses) as "rgb" (convert("RGB")) and as
    "grayscale" (PNG: PIL's convert("L"), ITU-R 601-2 luma; JPEG: libjpeg's luminance, through
    PIL's draft("L")), at the file's size;
  - the same resized to 5 x 7 with PyTorch's
    torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False)
    (half-pixel centres, no antialiasing: what tf.image.resize(method="bilinear") computes).
With the Keras oracle (KERAS_ORACLE_SRC set, /work/shared/tools/keras-oracle), the listing,
the shuffled lists and the validation subsets are also computed by Keras 3.11.3's own
dataset_utils.index_directory and get_training_or_validation_split (tf.io.gfile, which needs
TensorFlow, replaced by the os functions it wraps) and must be equal ("keras_checked": true).
Run from the source root: [KERAS_ORACLE_SRC=/opt/keras-oracle] /usr/bin/python3 tests/ref/image_album_ref.py
"""
import json
import os
import shutil

import numpy as np
import torch
from PIL import Image

ROOT = "tests/fixtures/images"
ALBUM = os.path.join(ROOT, "album")


def pattern(h, w, c, seed):
    """Smooth gradients plus a little noise: every pixel value matters for a resize check."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    chans = []
    for k in range(c):
        v = (yy * (37 + 11 * k) + xx * (23 + 7 * k)) % 256
        v = (v + rng.randint(0, 40, size=(h, w))) % 256
        chans.append(v)
    return np.stack(chans, axis=-1).astype(np.uint8)


def write_album():
    if os.path.isdir(ALBUM):
        shutil.rmtree(ALBUM)
    for d in ("cats", "dogs", "dogs/puppies", ".hidden"):
        os.makedirs(os.path.join(ALBUM, d))
    files = {
        "cats/c1_rgb.png": ("RGB", (9, 12), 1),
        "cats/c2_gray.png": ("L", (8, 6), 2),
        "cats/c3_rgba.png": ("RGBA", (7, 7), 3),
        "cats/c4_palette.png": ("P", (6, 10), 4),
        "cats/C5_photo.JPG": ("RGB", (16, 24), 5),
        "dogs/d1_photo.jpg": ("RGB", (20, 13), 6),
        "dogs/d2_gray.jpeg": ("L", (11, 17), 7),
        "dogs/d3_la.png": ("LA", (5, 9), 8),
        "dogs/puppies/p1.png": ("RGB", (10, 10), 9),
        "dogs/puppies/p2.jpg": ("RGB", (12, 8), 10),
    }
    for rel, (mode, (h, w), seed) in files.items():
        path = os.path.join(ALBUM, rel)
        if mode == "P":
            img = Image.fromarray(pattern(h, w, 3, seed)).quantize(colors=16)
        elif mode in ("L", "LA"):
            a = pattern(h, w, 2, seed)
            img = Image.fromarray(a[..., 0]) if mode == "L" else Image.fromarray(a, "LA")
        else:
            img = Image.fromarray(pattern(h, w, len(mode), seed), mode)
        if rel.lower().endswith((".jpg", ".jpeg")):
            img.save(path, quality=90)
        else:
            img.save(path)
    # skipped: not an image extension, a hidden class folder
    with open(os.path.join(ALBUM, "cats", "notes.txt"), "w") as f:
        f.write("not an image\n")
    Image.fromarray(pattern(4, 4, 3, 11)).save(os.path.join(ALBUM, ".hidden", "h.png"))


def index_directory(directory):
    """Keras' index_directory (labels="inferred"), on os instead of tf.io.gfile."""
    subdirs = [d for d in sorted(os.listdir(directory))
               if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
    paths, labels = [], []
    for c, sub in enumerate(subdirs):
        walk = sorted(os.walk(os.path.join(directory, sub)), key=lambda x: x[0])
        for root, _, fnames in walk:
            for fname in sorted(fnames):
                if fname.lower().endswith((".bmp", ".gif", ".jpeg", ".jpg", ".png")):
                    paths.append(os.path.relpath(os.path.join(root, fname), directory))
                    labels.append(c)
    return paths, labels, subdirs


def keras_check(ref):
    """The same lists from Keras' own code, when the oracle is there."""
    if not os.environ.get("KERAS_ORACLE_SRC"):
        return False
    import sys
    import types
    sys.path.insert(0, "/work/shared/tools/keras-oracle")
    import oracle_env  # noqa: F401
    from keras.src.utils import dataset_utils
    gfile = types.SimpleNamespace(listdir=os.listdir, isdir=os.path.isdir, join=os.path.join, walk=os.walk)
    dataset_utils.tf = types.SimpleNamespace(io=types.SimpleNamespace(gfile=gfile))
    formats = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
    rel = lambda ps: [os.path.relpath(p, ALBUM) for p in ps]
    p, l, c = dataset_utils.index_directory(ALBUM, "inferred", formats=formats, shuffle=False, verbose=False)
    assert c == ref["classes"] and rel(p) == ref["files"] and list(l) == ref["labels"]
    for seed in (0, 123, 1337):
        p, l, _ = dataset_utils.index_directory(ALBUM, "inferred", formats=formats, shuffle=True, seed=seed,
                                                verbose=False)
        want = ref["shuffled_%d" % seed]
        assert rel(p) == want["files"] and list(l) == want["labels"]
        tp, _ = dataset_utils.get_training_or_validation_split(p, l, 0.25, "training")
        vp, _ = dataset_utils.get_training_or_validation_split(p, l, 0.25, "validation")
        assert rel(tp) == want["files"][:8] and rel(vp) == want["files"][8:]
    return True


def resize(a, h, w):
    t = torch.from_numpy(a.astype(np.float32)).permute(2, 0, 1)[None]
    r = torch.nn.functional.interpolate(t, size=(h, w), mode="bilinear", align_corners=False, antialias=False)
    return r[0].permute(1, 2, 0).numpy()


def main():
    write_album()
    paths, labels, classes = index_directory(ALBUM)
    ref = {"classes": classes, "files": paths, "labels": labels, "images": {}}
    for seed in (0, 123, 1337):
        p = list(paths)
        np.random.RandomState(seed).shuffle(p)
        lab = np.array(labels, dtype=np.int32)
        np.random.RandomState(seed).shuffle(lab)
        ref["shuffled_%d" % seed] = {"files": p, "labels": lab.tolist()}
    for rel in paths:
        img = Image.open(os.path.join(ALBUM, rel))
        rgb = np.asarray(img.convert("RGB"))
        if rel.lower().endswith((".jpg", ".jpeg")):
            # libjpeg's own luminance (its JCS_GRAYSCALE output), as TensorFlow's
            # decode_jpeg(channels=1) gives it
            g = Image.open(os.path.join(ALBUM, rel))
            g.draft("L", g.size)
            gray = np.asarray(g.convert("L"))[..., None]
        else:
            gray = np.asarray(img.convert("L"))[..., None]
        ref["images"][rel] = {
            "jpeg": rel.lower().endswith((".jpg", ".jpeg")),
            "mode": img.mode,
            "rgb": rgb.tolist(),
            "grayscale": gray.tolist(),
            "rgb_5x7": np.round(resize(rgb, 5, 7), 5).tolist(),
        }
    ref["keras_checked"] = keras_check(ref)
    with open(os.path.join(ROOT, "album_ref.json"), "w") as f:
        json.dump(ref, f, indent=None, separators=(",", ":"))
    print("wrote", ALBUM, "and album_ref.json:", len(paths), "images; checked with Keras:", ref["keras_checked"])


if __name__ == "__main__":
    main()
