#!/usr/bin/env python3
"""resnetc export, checked by the ONNX project's tools: every exported model passes
onnx.checker.check_model(full_check=True), holds no BatchNormalization node, and ONNX Runtime runs
it on real Fashion-MNIST images at batch 1 and at a batch the network was not compiled for.

- Trained models (a few steps on a Fashion-MNIST subset, in this test): small-fashion (with
  --normalize, so the model's metadata carries the normalization) and tests/export/every_op.net
  (every layer the exporter lowers). ONNX Runtime's probabilities equal `resnetc predict`'s
  within 1e-4, and the metadata holds the class names and the normalization.
- Every example network, with its initialized weights (export and predict without --weights draw
  the ones resnetc train --seed 0 starts from; training each one for a step would compile every
  example's training kernels, minutes on 2 cores), at 1x28x28 so the images go in unresized and
  the 224x224 ones run quickly: the model checks, and ONNX Runtime's probabilities at batch 1 and
  5 equal `resnetc predict`'s within 1e-4. --trained-examples also trains each example one step
  first (not in CI: minutes).

The Python packages come from PyPI into a virtual environment kept under the build directory
(--venv), made once and reused.

    python3 tests/export/test_onnx_export.py --resnetc build/tools/resnetc/resnetc \\
        --venv build/export-venv [-k NAME] [--keep] [--trained-examples]

Exits 77 (ctest's skip) when the virtual environment cannot be made (no network).
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "cli"))
from cli_cases import ROOT, Failure, fashion_images, png_bytes, run_cases, write_idx_subset  # noqa: E402

PACKAGES = ["onnxruntime", "onnx", "numpy"]
IMAGES = 5        # the test images fed to both; predict compiles the network for 5
TOLERANCE = 1e-4  # on probabilities, as the issue asks
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]


def ensure_venv(venv):
    """The virtual environment's python with PACKAGES, made (into a temporary name, then renamed,
    so a half-made one is never reused) when missing; None when pip cannot install them."""
    python = os.path.join(venv, "bin", "python")
    probe = [python, "-c", "import onnx, onnxruntime, numpy"]
    if os.path.exists(python) and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    shutil.rmtree(venv, ignore_errors=True)
    making = tempfile.mkdtemp(prefix=os.path.basename(venv) + ".", dir=os.path.dirname(os.path.abspath(venv)))
    try:
        r = subprocess.run([sys.executable, "-m", "venv", making], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"cannot make a virtual environment (is python3-venv installed?):\n{r.stdout}{r.stderr}")
            return None
        r = subprocess.run([os.path.join(making, "bin", "pip"), "install", "--quiet", "--disable-pip-version-check",
                            *PACKAGES], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"cannot install {' '.join(PACKAGES)} from PyPI:\n{r.stdout}{r.stderr}")
            return None
        os.rename(making, venv)  # its bin/python finds its packages wherever the directory is
    finally:
        shutil.rmtree(making, ignore_errors=True)
    return python if subprocess.run(probe, capture_output=True).returncode == 0 else None


class Run:
    def __init__(self, resnetc, tmp):
        self.resnetc = resnetc
        self.tmp = tmp
        self.cache = os.path.join(tmp, "kernel-cache")
        self.data = write_idx_subset(os.path.join(tmp, "fashion"), 64, 16)
        pixels, _ = fashion_images("t10k", IMAGES)
        self.pngs = []
        for i in range(IMAGES):
            path = os.path.join(tmp, "images", f"{i}.png")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(png_bytes(28, 28, 1, pixels[i * 784:(i + 1) * 784]))
            self.pngs.append(path)

    def resnetc_run(self, *args):
        r = subprocess.run([self.resnetc, *map(str, args)], capture_output=True, text=True, timeout=600,
                           env=dict(os.environ, XDG_CACHE_HOME=self.cache))
        if r.returncode != 0:
            raise Failure(f"resnetc {' '.join(map(str, args))} exited {r.returncode}:\n{r.stdout}{r.stderr}")
        return r.stdout

    def path(self, name):
        return os.path.join(self.tmp, name)


def check_onnx(python, model, images, expect_probabilities=None, input_size=None):
    """Runs tests/export/check_onnx.py in the virtual environment; raises Failure with its output."""
    args = [python, os.path.join(HERE, "check_onnx.py"), model, "--images", *images]
    if expect_probabilities:
        args += ["--expect", expect_probabilities, "--tolerance", str(TOLERANCE)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise Failure(f"{' '.join(args)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    return r.stdout


def compared(run, python, net, name, network=(), weights=()):
    """Exports `net` and compares ONNX Runtime with resnetc predict. `network`: flags of both
    commands (--input); `weights`: where the weights come from (--weights FILE, or none: both
    draw the same initialized ones)."""
    model = run.path(name + ".onnx")
    run.resnetc_run("export", net, *network, *weights, "-o", model)
    predicted = run.resnetc_run("predict", net, *network, *weights, "--format", "json", "--top", 1000,
                                "--device", "cpu", *run.pngs)
    expected = run.path(name + ".predict.json")
    with open(expected, "w") as f:
        f.write(predicted)
    out = check_onnx(python, model, run.pngs, expected)
    os.remove(model)  # the large ones take 100-250 MB each
    return out


def trained(run, python, net, name, train_flags=(), network=(), steps=3, batch=8):
    """Trains `net` a few steps, exports it, and compares ONNX Runtime with resnetc predict.
    `network`: flags of every command (--input)."""
    weights = run.path(name + ".safetensors")
    run.resnetc_run("train", net, *network, "--data", run.data, "--epochs", 1, "--max-steps", steps, "--batch", batch,
                    "--checkpoint", weights, "--no-progress", "--device", "cpu", *train_flags)
    return compared(run, python, net, name, network, ["--weights", weights])


def trained_small_fashion(run, python):
    out = trained(run, python, os.path.join(ROOT, "examples", "small-fashion.net"), "small_fashion", ["--normalize"])
    meta = json.loads(out.splitlines()[-1])
    if meta.get("class_names", "").split("\n") != FASHION_CLASSES:
        raise Failure(f"class_names in the metadata: {meta.get('class_names')!r}")
    if "normalize_mean" not in meta or "normalize_std" not in meta:
        raise Failure(f"no normalization in the metadata: {meta}")


def trained_every_op(run, python):
    trained(run, python, os.path.join(HERE, "every_op.net"), "every_op", ["--mean", "0.28", "--std", "0.35"])


def initialized_examples(run, python):
    for net in sorted(glob.glob(os.path.join(ROOT, "examples", "*.net"))):
        compared(run, python, net, os.path.basename(net)[:-4], ["--input", "1x28x28"])


def trained_examples(run, python):
    """Not in CI (--trained-examples): every example trained a step at 1x28x28, then compared with
    resnetc predict. Compiling each one's training kernels takes minutes for the large ones."""
    for net in sorted(glob.glob(os.path.join(ROOT, "examples", "*.net"))):
        name = os.path.basename(net)[:-4]
        start = time.monotonic()
        # A small rate: at 1x28x28 the last stage's BatchNorms see one pixel a sample, and the
        # recipes' 0.1 sends ResNet-101's weights to 1e7 in a step and its activations past
        # float32's range, where two correct float32 programs need not agree.
        out = trained(run, python, net, name, ["--lr", "0.0001"], network=["--input", "1x28x28"], steps=1)
        print(f"        {name}: {out.splitlines()[0]} ({time.monotonic() - start:.0f} s)", flush=True)


CASES = [trained_small_fashion, trained_every_op, initialized_examples]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resnetc", required=True)
    parser.add_argument("--venv", required=True, help="the virtual environment to make or reuse")
    parser.add_argument("-k", default="", help="run only the cases whose name contains this")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--trained-examples", action="store_true",
                        help="also train every example a step and compare it with resnetc predict (minutes)")
    args = parser.parse_args()
    python = ensure_venv(os.path.abspath(args.venv))
    if python is None:
        print("skipped: no virtual environment with onnxruntime, onnx and numpy")
        sys.exit(77)
    versions = subprocess.run([python, "-c", "import onnx, onnxruntime, numpy; print('onnx', onnx.__version__, "
                               "'onnxruntime', onnxruntime.__version__, 'numpy', numpy.__version__)"],
                              capture_output=True, text=True)
    print(versions.stdout.strip(), flush=True)
    tmp = tempfile.mkdtemp(prefix="resnetc-onnx-")
    run = Run(os.path.abspath(args.resnetc), tmp)
    run_cases(CASES + ([trained_examples] if args.trained_examples else []), args.k, tmp, args.keep, run, python)


if __name__ == "__main__":
    main()
