#!/usr/bin/env python3
"""Golden data for one training step of the seed's ResNet-18, written by PyTorch.

Run with a Python that has torch (Debian: apt-get install python3-torch):
    /usr/bin/python3 tests/golden/make_resnet18_step.py
It writes tests/golden/d2l_resnet18_step.safetensors, which tests/golden/test_golden_step.cpp
reads (no PyTorch needed there).

Both sides fill every tensor from the same counter-based generator (splitmix64, below), so
only results are stored: the loss, every gradient and updated weight (in full for tensors up
to 4096 elements, else 4096 evenly spaced elements plus the full tensor's L2 norm), and the
updated BatchNorm running statistics.
"""
import json
import os
import struct

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

BATCH, SIZE, LR, SAMPLES = 4, 32, 0.05, 4096


def splitmix64(x):
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)).astype(np.uint64)
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)).astype(np.uint64)
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)).astype(np.uint64)
        return x ^ (x >> np.uint64(31))


def name_seed(name):
    h = 1469598103934665603  # FNV-1a 64
    for c in name.encode():
        h = ((h ^ c) * 1099511628211) % 2**64
    return h


def uniform(name, n):
    """n floats in [-1, 1), element i from splitmix64(seed(name) + i): 24 bits, exact in float32."""
    with np.errstate(over="ignore"):
        x = splitmix64(np.arange(n, dtype=np.uint64) + np.uint64(name_seed(name)))
    return ((x >> np.uint64(40)).astype(np.float64) / 2**24 * 2 - 1).astype(np.float32)


def fill(name, tensor):
    """The deterministic initial value of a tensor, by the rule the C++ test also applies."""
    u = torch.from_numpy(uniform(name, tensor.numel()).reshape(tensor.shape))
    if name.endswith("running_var"):
        return 1 + 0.5 * u.abs()
    if name.endswith("running_mean"):
        return 0.1 * u
    if tensor.dim() == 1 and ".bn" in name and name.endswith("weight"):
        return 1 + 0.1 * u
    if tensor.dim() == 1:
        return 0.1 * u
    fan_in = tensor[0].numel()
    return u * (3.0 / fan_in) ** 0.5


class Block(nn.Module):  # d2l's Residual, with resnetc's layer names
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, stride=stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Module()
        self.shortcut.conv = nn.Conv2d(cin, cout, 1, stride=stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (self.shortcut.conv(x) if self.shortcut.conv is not None else x))


class ResNet18(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Module()
        self.stem.conv, self.stem.bn = nn.Conv2d(1, 64, 7, 2, 3), nn.BatchNorm2d(64)
        widths, cin = [64, 128, 256, 512], 64
        for s, w in enumerate(widths, 1):
            stage = nn.Module()
            stage.block0, stage.block1 = Block(cin, w, 1 if s == 1 else 2), Block(w, w, 1)
            setattr(self, f"stage{s}", stage)
            cin = w
        self.head = nn.Module()
        self.head.fc = nn.Linear(512, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem.bn(self.stem.conv(x))), 3, 2, 1)
        for s in range(1, 5):
            stage = getattr(self, f"stage{s}")
            x = stage.block1(stage.block0(x))
        return self.head.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def sample(t):
    flat = t.detach().reshape(-1)
    if flat.numel() <= SAMPLES:
        return flat
    return flat[torch.arange(SAMPLES, dtype=torch.int64) * flat.numel() // SAMPLES]


def write_safetensors(path, tensors, metadata):
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name, t in tensors.items():
        data = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    torch.set_num_threads(1)
    net = ResNet18().train()
    with torch.no_grad():
        for name, t in list(net.state_dict().items()):
            if not name.endswith("num_batches_tracked"):
                t.copy_(fill(name, t))
    x = torch.from_numpy(uniform("input", BATCH * SIZE * SIZE).reshape(BATCH, 1, SIZE, SIZE)) * 0.5 + 0.5
    y = torch.arange(BATCH) % 10
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    opt.zero_grad()
    loss = F.cross_entropy(net(x), y)
    loss.backward()
    out = {"loss": loss.detach().reshape(1)}
    grads = {name: p.grad.clone() for name, p in net.named_parameters()}
    opt.step()
    for name, p in net.named_parameters():
        out[f"grad/{name}"] = sample(grads[name])
        out[f"updated/{name}"] = sample(p)
        out[f"norm/{name}"] = grads[name].norm().reshape(1)
    for name, t in net.state_dict().items():
        if "running" in name:
            out[f"updated/{name}"] = t.clone()
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "d2l_resnet18_step.safetensors")
    write_safetensors(path, out, {"torch": torch.__version__, "batch": str(BATCH), "size": str(SIZE), "lr": str(LR)})
    print(f"wrote {path}: loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
