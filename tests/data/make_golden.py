#!/usr/bin/env python3
"""Writes the golden resize results that tests/data/test_data.cpp compares against.

The reference is what the d2l book feeds its networks: torchvision's Resize on a PIL
image followed by ToTensor. Without torchvision we call PIL directly, which is what
torchvision's Resize does for PIL images (Image.resize with BILINEAR).

Inputs: the first 8 Fashion-MNIST training images plus 2 images of seeded noise (noise
exercises every rounding path; clothing images are mostly flat black). The 96x96 file
holds only the 8 clothing images: noise barely compresses, and 40x40 already covers the
upscaling path with noise. All files are gzip-compressed uint8 IDX arrays, so the C++
test reads them with its own IDX reader; it compares as many images as a file holds.

Usage: python3 tests/data/make_golden.py [FASHION_MNIST_DIR]
"""
import gzip
import random
import struct
import sys
from pathlib import Path

from PIL import Image

# (height, width, how many inputs); 17x45 catches swapped axes and mixes down/upscaling.
SIZES = [(96, 96, 8), (40, 40, 10), (20, 20, 10), (17, 45, 10)]
HW = 28


def read_first_images(data_dir, count):
    with gzip.open(Path(data_dir) / "train-images-idx3-ubyte.gz", "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        assert magic == 0x803 and rows == HW and cols == HW, (magic, rows, cols)
        return [f.read(HW * HW) for _ in range(count)]


def make_resize():
    try:
        import torchvision.transforms as T

        def resize(img, size):
            t = T.ToTensor()(T.Resize(size)(img))
            return bytes((t * 255).round().to(dtype=__import__("torch").uint8).flatten().tolist())

        return resize, "torchvision"
    except ImportError:
        return (lambda img, size: img.resize((size[1], size[0]), Image.BILINEAR).tobytes()), "PIL"


def write_idx(path, images, height, width):
    header = struct.pack(">IIII", 0x803, len(images), height, width)
    # No name and mtime=0 keep the files byte-identical wherever they are regenerated.
    with open(path, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as f:
        f.write(header + b"".join(images))


def main():
    data_dir = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    rng = random.Random(20240601)
    inputs = read_first_images(data_dir, 8) + [bytes(rng.randrange(256) for _ in range(HW * HW)) for _ in range(2)]
    out_dir = Path(__file__).resolve().parent / "golden"
    out_dir.mkdir(exist_ok=True)
    write_idx(out_dir / "inputs.idx3-ubyte.gz", inputs, HW, HW)
    resize, backend = make_resize()
    for h, w, count in SIZES:
        images = [resize(Image.frombytes("L", (HW, HW), img), (h, w)) for img in inputs[:count]]
        write_idx(out_dir / f"resize_{h}x{w}.idx3-ubyte.gz", images, h, w)
    print(f"wrote {len(SIZES) + 1} files to {out_dir} using {backend}")


if __name__ == "__main__":
    main()
