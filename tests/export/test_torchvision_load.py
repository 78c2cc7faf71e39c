#!/usr/bin/env python3
"""resnetc export --format pytorch, read by PyTorch itself: the state dict loads into the
torchvision ResNet of the same structure with load_state_dict(strict=True) and gives resnetc's
own answers; and a state dict PyTorch writes fine-tunes in resnetc (--init).

- A ResNet-18 (examples/resnet18.net at 3x32x32 with 10 classes) trained here for an epoch on
  CIFAR-format files of real Fashion-MNIST images, so its BatchNorm statistics are trained:
  exported, loaded strictly into torchvision.models.resnet18(num_classes=10), and its softmax
  on five test images equals `resnetc predict`'s probabilities within 1e-4.
- examples/resnet50.net, initialized: its export loads strictly into torchvision's resnet50.
- The other direction: torchvision's resnet18 (random weights, BatchNorm parameters and
  statistics made non-trivial) saved by PyTorch as safetensors starts a resnetc run (--init, one
  step at learning rate 1e-12, which moves only BatchNorm's running statistics, as PyTorch's same step
  in train mode does), and resnetc predict then gives PyTorch's probabilities.

Runs under a Python with torch and torchvision: Debian's python3-torch and python3-torchvision,
which tools/setup installs. Exits 77 (ctest's skip) when they cannot be imported.

    python3 tests/export/test_torchvision_load.py --resnetc build/tools/resnetc/resnetc [-k NAME]
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "cli"))
from cli_cases import (ROOT, Suite, check, cifar_image, expect, fashion_images, png_bytes,  # noqa: E402
                       read_safetensors, write_cifar_subset, write_safetensors)

try:
    import torch
    import torchvision
except ImportError as e:
    print(f"skipped: no torch and torchvision ({e}); tools/setup installs Debian's python3-torchvision")
    sys.exit(77)

TOLERANCE = 1e-4  # on probabilities, as for ONNX Runtime (docs/export.md)
IMAGES = 5
TRAIN_IMAGES = 20  # the batch, the same in both cases so they compile one training plan
suite = Suite(__doc__)

# safetensors' dtype names and torch's; the files are little-endian, as this machine.
DTYPES = {"F32": torch.float32, "I64": torch.int64}


def load_state_dict(path):
    """The safetensors file as a state dict. Debian has no python3-safetensors, and the format
    is a JSON header and raw tensors (cli_cases.read_safetensors reads it)."""
    header, _, data = read_safetensors(path)
    state = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        tensor = torch.frombuffer(bytearray(data[begin:end]), dtype=DTYPES[entry["dtype"]])
        state[name] = tensor.reshape(entry["shape"])
    return state


def save_state_dict(path, state):
    """A state dict as safetensors (cli_cases.write_safetensors' layout), float32 and int64."""
    header, chunks, offset = {}, [], 0
    names = {torch.float32: "F32", torch.int64: "I64"}
    for name, tensor in state.items():
        raw = tensor.detach().contiguous().numpy().tobytes()
        header[name] = {"dtype": names[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    write_safetensors(path, header, {}, b"".join(chunks))


def cifar_network():
    """examples/resnet18.net with 10 classes (the input comes from --input 3x32x32)."""
    with open(os.path.join(ROOT, "examples", "resnet18.net"), encoding="utf-8") as f:
        text = f.read()
    check("fc 1000" in text, "examples/resnet18.net has its fc 1000 head")
    return suite.write("resnet18-cifar.net", text.replace("fc 1000", "fc 10"))


def test_images():
    """IMAGES test images as 32x32 RGB PNG files (the CIFAR images' planes interleaved) and as
    the float tensor resnetc feeds: bytes / 255, no normalization."""
    pixels, _ = fashion_images("t10k", IMAGES)
    files, planes = [], []
    for i in range(IMAGES):
        image = cifar_image(pixels, i)
        planes.append(image)
        interleaved = bytes(image[c * 1024 + p] for p in range(1024) for c in range(3))
        path = suite.path("images", f"test{i}.png")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(png_bytes(32, 32, 3, interleaved))
        files.append(path)
    x = torch.tensor(list(b"".join(planes)), dtype=torch.float32).reshape(IMAGES, 3, 32, 32) / 255
    return files, x


def predicted(net, weights, files):
    """resnetc predict's probabilities, one row of 10 a file, in class-index order."""
    r = suite.run(["predict", net, "--weights", weights, "--input", "3x32x32", "--top", "10", "--format", "json",
                   "--device", "cpu", *files])
    expect(r, 0)
    rows = []
    for entry in json.loads(r.stdout):
        probs = {c["class"]: c["prob"] for c in entry["top"]}
        rows.append([probs[name] for name in sorted(probs, key=lambda n: int(n) if n.isdigit() else n)])
    return rows, [entry["top"] for entry in json.loads(r.stdout)]


def compare(torch_probs, resnetc_rows, what):
    spread = max(float(torch_probs[i].max()) for i in range(IMAGES))
    check(spread < 0.999, f"{what}: a probability of {spread}: the comparison needs an unsaturated softmax")
    worst = max(abs(float(torch_probs[i][c]) - resnetc_rows[i][c]) for i in range(IMAGES) for c in range(10))
    check(worst <= TOLERANCE, f"{what}: PyTorch's and resnetc's probabilities differ by {worst:.3g} > {TOLERANCE}")
    print(f"        {what}: largest difference {worst:.3g} (largest probability {spread:.3f})")


@suite.test
def trained_resnet18_loads_strictly_and_agrees():
    net = cifar_network()
    data = write_cifar_subset(suite.path("cifar"), "cifar10", 4 * TRAIN_IMAGES, IMAGES)
    checkpoint = suite.path("trained.ckpt")
    r = suite.run(["train", net, "--input", "3x32x32", "--dataset", "cifar10", "--data", data, "--epochs", "1",
                   "--batch", str(TRAIN_IMAGES), "--lr", "0.01", "--checkpoint", checkpoint, "--device", "cpu"], timeout=600)
    expect(r, 0)
    exported = suite.path("trained.safetensors")
    expect(suite.run(["export", net, "--input", "3x32x32", "--weights", checkpoint, "--format", "pytorch",
                      "-o", exported]), 0)

    model = torchvision.models.resnet18(num_classes=10)
    model.load_state_dict(load_state_dict(exported), strict=True)  # raises, naming keys, on any mismatch
    model.eval()
    check(float(model.bn1.running_var.sub(1).abs().max()) > 1e-3,
          "the trained checkpoint's BatchNorm statistics moved from their initial values")
    files, x = test_images()
    with torch.no_grad():
        probs = torch.softmax(model(x).double(), dim=1)
    rows, _ = predicted(net, checkpoint, files)
    compare(probs, rows, "trained ResNet-18")


@suite.test
def resnet50_export_loads_strictly():
    exported = suite.path("resnet50.safetensors")
    expect(suite.run(["export", os.path.join(ROOT, "examples", "resnet50.net"), "--seed", "3", "--format", "pytorch",
                      "-o", exported]), 0)
    torchvision.models.resnet50().load_state_dict(load_state_dict(exported), strict=True)


@suite.test
def pytorch_state_dict_fine_tunes_in_resnetc():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    # Statistics other than (0, 1), so that a BatchNorm read wrongly shows in the logits.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    written = suite.path("pytorch.safetensors")
    save_state_dict(written, model.state_dict())

    net = cifar_network()
    data = write_cifar_subset(suite.path("cifar-init"), "cifar10", TRAIN_IMAGES, IMAGES)
    checkpoint = suite.path("init.ckpt")
    # One step at learning rate 1e-12 (the least --lr takes) writes a checkpoint holding the weights --init read, with
    # BatchNorm's running statistics updated once from the whole training set (one batch; batch
    # statistics do not depend on the order): PyTorch does the same step in train mode below.
    r = suite.run(["train", net, "--input", "3x32x32", "--dataset", "cifar10", "--data", data, "--init", written,
                   "--epochs", "1", "--batch", str(TRAIN_IMAGES), "--lr", "1e-12", "--checkpoint", checkpoint,
                   "--device", "cpu"], timeout=600)
    expect(r, 0)
    pixels, _ = fashion_images("train", TRAIN_IMAGES)
    batch = torch.tensor(list(b"".join(cifar_image(pixels, i) for i in range(TRAIN_IMAGES))), dtype=torch.float32)
    model.train()
    with torch.no_grad():
        model(batch.reshape(TRAIN_IMAGES, 3, 32, 32) / 255)
    model.eval()
    files, x = test_images()
    with torch.no_grad():
        probs = torch.softmax(model(x).double(), dim=1)
    rows, _ = predicted(net, checkpoint, files)
    compare(probs, rows, "PyTorch-written ResNet-18")


if __name__ == "__main__":
    suite.main()
