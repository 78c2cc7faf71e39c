#!/usr/bin/env python3
"""Writes the image-folder fixture and what PyTorch reads from it, for tests/data/test_image_folder.cpp.

The fixture is a small folder in torchvision's ImageFolder layout, built from real
Fashion-MNIST images saved in the formats users have: gray, RGB, RGBA and palette PNGs,
colour (4:2:0 and 4:4:4) and gray JPEGs, at the data set's 28x28 and at other sizes, in
nested directories, next to files that are not images. Colour images are tinted (each
channel a different function of the gray image) so a swapped channel shows.

The reference is torchvision itself: ImageFolder's class list and sample order, its default
loader (PIL's convert("RGB")), or convert("L") for one channel, then Image.resize(BILINEAR)
to each size the test loads at, or (--image-size N) transforms.Resize(N) then CenterCrop(N).
Each result is a gzip-compressed uint8 IDX array [images * channels, height, width], which the
C++ test reads with resnetc's own IDX reader. load_geometry.txt holds, for images of many
shapes, where Resize(N) + CenterCrop(N) puts them: the resized size and the crop's offsets.

Usage: /path/to/venv/bin/python tests/data/make_image_golden.py [FASHION_MNIST_DIR]
(needs Pillow and torchvision; tests/pytorch says how to make such a venv)
"""
import gzip
import shutil
import struct
import sys
from pathlib import Path

from PIL import Image
from torchvision import transforms
from torchvision.datasets import ImageFolder

HERE = Path(__file__).resolve().parent / "golden"
ROOT = HERE / "folder"
SIZES = [(28, 28), (32, 24)]  # (height, width): as stored, and a resize of every image
SHORTER_SIDES = [24, 15]  # --image-size N: 15 puts a crop offset on a tie, (20 - 15) / 2
# (height, width, N): tall, wide and square images, up- and downscaled, crop offsets on ties
GEOMETRIES = [(30, 40, 24), (40, 30, 24), (45, 61, 23), (61, 45, 23), (30, 40, 15), (40, 30, 15), (17, 20, 21),
              (28, 28, 32), (28, 28, 20), (375, 500, 256), (500, 333, 256), (1, 7, 3), (7, 1, 3), (100, 101, 224),
              (480, 640, 224), (3, 1000, 10)]


def fashion_images(data_dir, count):
    with gzip.open(Path(data_dir) / "train-images-idx3-ubyte.gz", "rb") as f:
        _, n, rows, cols = struct.unpack(">IIII", f.read(16))
        return [Image.frombytes("L", (cols, rows), f.read(rows * cols)) for _ in range(count)]


def tinted(gray):
    r = gray
    g = gray.point(lambda v: 255 - v)
    b = gray.point(lambda v: (v * 3) // 4 + 40)
    return Image.merge("RGB", (r, g, b))


def build(data_dir):
    shutil.rmtree(ROOT, ignore_errors=True)
    img = fashion_images(data_dir, 12)
    files = {
        "Bag/a_gray.png": img[0],
        "Bag/b_rgb.png": tinted(img[1]),
        "Bag/c_color.jpg": tinted(img[2]),
        "Bag/notes.txt": None,
        "Bag/d_rgba.PNG": tinted(img[3]).convert("RGBA"),
        "T-shirt/z_palette.png": tinted(img[4]).convert("P"),
        "T-shirt/gray.jpeg": img[5],
        "T-shirt/more/x_wide.png": tinted(img[6]).resize((40, 30), Image.BILINEAR),
        "T-shirt/more b/y_444.jpg": tinted(img[7]),
        "Été/small.png": img[8].resize((20, 17), Image.BILINEAR),
        "Été/big.jpg": tinted(img[9]).resize((61, 45), Image.BILINEAR),
    }
    for name, image in files.items():
        path = ROOT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if image is None:
            path.write_text("not an image: ImageFolder skips it, and so does resnetc\n")
        elif name.endswith("_444.jpg"):
            image.save(path, quality=90, subsampling=0)
        elif name.lower().endswith((".jpg", ".jpeg")):
            image.save(path, quality=90)
        else:
            image.save(path)


def build_odd_files(data_dir):
    """Files users meet that are not in the folder: a 16-bit gray PNG (PIL clips it when
    converting; resnetc keeps each sample's high byte) and a CMYK JPEG (refused)."""
    odd = HERE / "odd"
    odd.mkdir(exist_ok=True)
    img = fashion_images(data_dir, 12)
    img[10].point(lambda v: v * 257, mode="I").convert("I;16").save(odd / "gray16.png")
    img[10].save(odd / "gray8.png")  # the same image in 8 bits: what the 16-bit one must read as
    tinted(img[11]).convert("CMYK").save(odd / "cmyk.jpg", quality=90)


def write_idx(path, arrays, height, width):
    with gzip.GzipFile(path, "wb", mtime=0) as f:  # no timestamp: the same bytes every run
        f.write(struct.pack(">IIII", 0x803, len(arrays), height, width))
        for a in arrays:
            f.write(a)


def load_geometry(height, width, n):
    """Resize(n)'s output size, read off a resized blank image, and CenterCrop(n)'s offsets, read
    off the first pixel of the crop of an image whose pixels count 0, 1, 2, ... row by row."""
    resized_w, resized_h = transforms.Resize(n)(Image.new("L", (width, height))).size
    counting = Image.new("I", (resized_w, resized_h))
    counting.putdata(range(resized_w * resized_h))
    first = transforms.CenterCrop(n)(counting).getpixel((0, 0))
    return resized_h, resized_w, first // resized_w, first % resized_w


def main():
    data_dir = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    build(data_dir)
    build_odd_files(data_dir)
    folder = ImageFolder(str(ROOT))
    with open(HERE / "folder_samples.txt", "w") as f:
        for path, label in folder.samples:
            f.write(f"{label} {Path(path).relative_to(ROOT).as_posix()}\n")
    for height, width in SIZES:
        for mode, channels in (("L", 1), ("RGB", 3)):
            planes = []
            for path, _ in folder.samples:
                image = Image.open(path).convert(mode).resize((width, height), Image.BILINEAR)
                planes += [band.tobytes() for band in image.split()]
            write_idx(HERE / f"folder_{channels}x{height}x{width}.idx3-ubyte.gz", planes, height, width)
    for n in SHORTER_SIDES:
        resize = transforms.Compose([transforms.Resize(n), transforms.CenterCrop(n)])
        for mode, channels in (("L", 1), ("RGB", 3)):
            planes = []
            for path, _ in folder.samples:
                planes += [band.tobytes() for band in resize(Image.open(path).convert(mode)).split()]
            write_idx(HERE / f"folder_{channels}x{n}_shorter.idx3-ubyte.gz", planes, n, n)
    with open(HERE / "load_geometry.txt", "w") as f:
        f.write("# height width N -> resized_height resized_width top left (Resize(N), CenterCrop(N))\n")
        for height, width, n in GEOMETRIES:
            f.write("{} {} {} {} {} {} {}\n".format(height, width, n, *load_geometry(height, width, n)))


if __name__ == "__main__":
    main()
