"""The harness of the command-line suites in tests/cli (suite_*.py): each suite runs the real
resnetc binary as a user would and checks the exit status, the first line of the message and
what was (or was not) left on disk.

    python3 tests/cli/suite_NAME.py --resnetc build/tools/resnetc/resnetc [-k SUBSTRING]

A suite is a list of functions decorated with @suite.test; each raises Failure (through
expect() or check()) when resnetc does not behave. The suite prints one line per case and
ends with 'N passed, M failed'. Every suite gets a fresh temporary directory (suite.tmp) and
one kernel cache inside it shared by its runs (suite.cache_dir), so a model compiles once.
"""
import argparse
import gzip
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FASHION_MNIST = "/usr/share/datasets/fashion-mnist"

# A network small enough that a whole training run takes seconds on 2 cores.
TINY_NET = """network tiny {
  input 1x12x12
  stem { conv 4 k3 p1; bn; relu }
  stage basic 8 stride=2
  head { avgpool; fc 10 }
  train {
    epochs 2
    batch 32
    lr 0.05
    momentum 0.9
  }
}
"""


class Failure(Exception):
    pass


def describe(result):
    return (f"\n    command: {' '.join(result.args)}\n    exit: {result.returncode}"
            f"\n--- stdout\n{result.stdout}--- stderr\n{result.stderr}")


def check(condition, what, result=None):
    if not condition:
        raise Failure(what + (describe(result) if result is not None else ""))


def first_line(text):
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0].strip() if lines else ""


def expect(result, exit, first=None, stdout=None):
    """Exit status `exit`; the first non-empty stderr line fully matches the regex `first`;
    stdout contains every regex of `stdout` (a string or a list)."""
    check(result.returncode == exit, f"expected exit status {exit}", result)
    if first is not None:
        line = first_line(result.stderr)
        check(re.fullmatch(first, line) is not None, f"first stderr line {line!r} does not match {first!r}", result)
    for pattern in [stdout] if isinstance(stdout, str) else (stdout or []):
        check(re.search(pattern, result.stdout) is not None, f"stdout has no match for {pattern!r}", result)
    return result


def write_idx_subset(directory, train_count, test_count, labels=None):
    """The four IDX files of the first `train_count` / `test_count` real Fashion-MNIST images
    (uncompressed). `labels`, if given, maps (split, index, label) to the label written."""
    os.makedirs(directory, exist_ok=True)
    for split, count in (("train", train_count), ("t10k", test_count)):
        pixels, names = fashion_images(split, count)
        if labels is not None:
            names = [labels(split, i, v) for i, v in enumerate(names)]
        with open(os.path.join(directory, f"{split}-images-idx3-ubyte"), "wb") as f:
            f.write(struct.pack(">IIII", 0x803, count, 28, 28) + pixels)
        with open(os.path.join(directory, f"{split}-labels-idx1-ubyte"), "wb") as f:
            f.write(struct.pack(">II", 0x801, count) + bytes(names))
    return directory


def fashion_images(split, count):
    """(pixels, labels) of the first `count` real Fashion-MNIST images of `split` ("train", "t10k")."""
    with gzip.open(os.path.join(FASHION_MNIST, f"{split}-images-idx3-ubyte.gz"), "rb") as f:
        f.read(16)
        pixels = f.read(count * 28 * 28)
    with gzip.open(os.path.join(FASHION_MNIST, f"{split}-labels-idx1-ubyte.gz"), "rb") as f:
        f.read(8)
        labels = list(f.read(count))
    return pixels, labels


def cifar_image(pixels, index):
    """Fashion-MNIST image `index` as CIFAR's 3072 bytes: padded by 2 to 32x32, written as a red
    plane, a green plane at 3/4 and a blue plane at 1/2 of its brightness."""
    image = pixels[index * 784:(index + 1) * 784]
    plane = bytearray(32 * 32)
    for y in range(28):
        plane[(y + 2) * 32 + 2:(y + 2) * 32 + 30] = image[y * 28:(y + 1) * 28]
    return bytes(plane) + bytes(v * 3 // 4 for v in plane) + bytes(v // 2 for v in plane)


def png_bytes(width, height, channels, pixels):
    """A PNG of 8-bit gray (channels 1) or RGB (3) interleaved pixels, row by row: signature,
    IHDR, one zlib IDAT of filter-0 rows, IEND."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    stride = width * channels
    rows = b"".join(b"\0" + pixels[y * stride:(y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0 if channels == 1 else 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def write_image_folder(directory, train_count, test_count, classes=None, test_name="val"):
    """An image-folder data set of real Fashion-MNIST images and labels, as RGB PNGs (the CIFAR
    tint of cifar_image, 32x32): DIRECTORY/train/<class>/<i>.png and DIRECTORY/<test_name>/...,
    class folders named `classes` (default: "c0".."c9") by label."""
    classes = classes or [f"c{i}" for i in range(10)]
    for split, folder, count in (("train", "train", train_count), ("t10k", test_name, test_count)):
        pixels, labels = fashion_images(split, count)
        for name in classes:
            os.makedirs(os.path.join(directory, folder, name), exist_ok=True)
        for i in range(count):
            planes = cifar_image(pixels, i)
            rgb = bytes(planes[c * 1024 + p] for p in range(1024) for c in range(3))
            with open(os.path.join(directory, folder, classes[labels[i]], f"{i:05d}.png"), "wb") as f:
                f.write(png_bytes(32, 32, 3, rgb))
    return directory


def write_cifar_subset(directory, kind, train_count, test_count):
    """CIFAR-format files of real Fashion-MNIST images (cifar_image) and labels: for kind
    "cifar10", data_batch_1..5.bin (the training images split among them) and test_batch.bin;
    for "cifar100", train.bin and test.bin with the coarse label = label // 2 and the fine
    label = the Fashion-MNIST label."""
    os.makedirs(directory, exist_ok=True)

    def records(split, count):
        pixels, labels = fashion_images(split, count)
        heads = [bytes([l]) if kind == "cifar10" else bytes([l // 2, l]) for l in labels]
        return [heads[i] + cifar_image(pixels, i) for i in range(count)]

    train, test = records("train", train_count), records("t10k", test_count)
    if kind == "cifar10":
        per_file = (train_count + 4) // 5
        for b in range(5):
            with open(os.path.join(directory, f"data_batch_{b + 1}.bin"), "wb") as f:
                f.write(b"".join(train[b * per_file:(b + 1) * per_file]))
        files = {"test_batch.bin": test}
    else:
        files = {"train.bin": train, "test.bin": test}
    for name, chunks in files.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(b"".join(chunks))
    return directory


class Suite:
    def __init__(self, doc):
        parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--resnetc", required=True, help="the resnetc binary")
        parser.add_argument("-k", default="", help="run only the cases whose name contains this")
        parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
        args = parser.parse_args()
        self.resnetc = os.path.abspath(args.resnetc)
        self.only = args.k
        self.keep = args.keep
        self.tmp = tempfile.mkdtemp(prefix="resnetc-cli-")
        self.cache_dir = os.path.join(self.tmp, "kernel-cache")
        self.tests = []

    def test(self, function):
        self.tests.append(function)
        return function

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def write(self, name, text):
        path = self.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def run(self, args, cwd=ROOT, env=None, timeout=180, stdin=subprocess.DEVNULL):
        """resnetc ARGS, with the suite's kernel cache, on the CPU unless args choose."""
        full_env = dict(os.environ, XDG_CACHE_HOME=self.cache_dir)
        full_env.update(env or {})
        try:
            return subprocess.run([self.resnetc] + [str(a) for a in args], cwd=cwd, env=full_env, stdin=stdin,
                                  capture_output=True, text=True, errors="replace", timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failure(f"resnetc {' '.join(map(str, args))} did not finish within {timeout} s")

    def main(self):
        run_cases(self.tests, self.only, self.tmp, self.keep)


def run_cases(cases, only, tmp, keep, *args):
    """Runs each of `cases` whose name contains `only` with `args`, a line each ("ok" or "FAILED"
    and why); then removes `tmp` unless `keep`, prints 'N passed, M failed' and exits 1 when one
    failed or none ran."""
    passed = failed = 0
    for case in cases:
        name = case.__name__
        if only not in name:
            continue
        start = time.monotonic()
        try:
            case(*args)
            passed += 1
            print(f"ok      {name} ({time.monotonic() - start:.1f} s)", flush=True)
        except Failure as e:
            failed += 1
            print(f"FAILED  {name}: {e}", flush=True)
        except Exception:
            failed += 1
            print(f"FAILED  {name}: the case itself raised\n{traceback.format_exc()}", flush=True)
    if keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)


def read_safetensors(path):
    """(header without __metadata__, metadata, data bytes) of a safetensors file."""
    import json
    with open(path, "rb") as f:
        blob = f.read()
    (size,) = struct.unpack_from("<Q", blob)
    header = json.loads(blob[8:8 + size])
    metadata = header.pop("__metadata__", {})
    return header, metadata, bytearray(blob[8 + size:])


def write_safetensors(path, header, metadata, data):
    import json
    full = dict(header)
    full["__metadata__"] = metadata
    text = json.dumps(full).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + bytes(data))


def set_float(data, header, name, index, value):
    """Overwrites element `index` of the F32 tensor `name` in the data bytes."""
    begin = header[name]["data_offsets"][0] + 4 * index
    data[begin:begin + 4] = struct.pack("<f", value)
