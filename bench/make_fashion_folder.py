"""Writes an image-folder data set of real Fashion-MNIST images for bench/input_vs_torch:
DIR/train/<class>/<i>.<ext> (the first COUNT training images) and DIR/val/<class>/<i>.<ext> (the
first COUNT/10 test images), 28x28 gray, as PNG or JPEG (quality 90), class folders named as
Fashion-MNIST's classes.

    python make_fashion_folder.py DIR COUNT png|jpeg
"""
import gzip
import os
import sys

from PIL import Image

SOURCE = "/usr/share/datasets/fashion-mnist"
CLASSES = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def images(split, count):
    with gzip.open(os.path.join(SOURCE, f"{split}-images-idx3-ubyte.gz"), "rb") as f:
        f.read(16)
        pixels = f.read(count * 784)
    with gzip.open(os.path.join(SOURCE, f"{split}-labels-idx1-ubyte.gz"), "rb") as f:
        f.read(8)
        labels = f.read(count)
    return pixels, labels


def main():
    directory, count, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    ext = {"png": "png", "jpeg": "jpg"}[kind]
    for split, folder, n in (("train", "train", count), ("t10k", "val", max(count // 10, 10))):
        pixels, labels = images(split, n)
        for name in CLASSES:
            os.makedirs(os.path.join(directory, folder, name), exist_ok=True)
        for i in range(n):
            image = Image.frombytes("L", (28, 28), pixels[i * 784:(i + 1) * 784])
            path = os.path.join(directory, folder, CLASSES[labels[i]], f"{i:06d}.{ext}")
            image.save(path, quality=90) if kind == "jpeg" else image.save(path)


main()
