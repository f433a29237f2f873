"""Makes a small photo album for examples/train_from_folder.c: 100 Fashion-MNIST images in two
class folders, as a user would hand ckeras a folder of photos.

  fashion_album/trouser/  50 images of class 1 ("Trouser")
  fashion_album/bag/      50 images of class 8 ("Bag")

The images are the first 50 of each class in the training set, as 28 x 28 RGB files: most as
PNG, every fifth as JPEG (quality 90), so both decoders are used. Data: Debian's
dataset-fashion-mnist (/usr/share/datasets/fashion-mnist) or the folder given as argv[1].
Run: /usr/bin/python3 examples/make_fashion_album.py [idx folder] [out folder]
"""
import gzip
import os
import sys

import numpy as np
from PIL import Image

src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "fashion_album")


def idx(name):
    with gzip.open(os.path.join(src, name)) as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


x = idx("train-images-idx3-ubyte.gz")
y = idx("train-labels-idx1-ubyte.gz")
for cls, name in ((1, "trouser"), (8, "bag")):
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    for k, i in enumerate(np.flatnonzero(y == cls)[:50]):
        img = Image.fromarray(x[i]).convert("RGB")
        if k % 5 == 4:
            img.save(os.path.join(folder, "%s_%02d.jpg" % (name, k)), quality=90)
        else:
            img.save(os.path.join(folder, "%s_%02d.png" % (name, k)))
print("make_fashion_album: 100 images in", out)
