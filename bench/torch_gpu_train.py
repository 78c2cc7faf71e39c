#!/usr/bin/env python3
"""The seed's recipe in PyTorch on the GPU, for tools/gpu-check's side-by-side figures.

Usage: torch_gpu_train.py DATA_DIR EPOCHS [RESIZE] [BATCH] [LR] [PRECISION]
Eager PyTorch with cuDNN's defaults. PRECISION tf32 (the default): those defaults, TF32
convolutions and float32 matmuls; bf16: automatic mixed precision, the forward pass and the
loss under torch.autocast("cuda", torch.bfloat16), no GradScaler (bfloat16 has float32's
exponent range), float32 weights and optimizer. The whole data set is uploaded once as uint8
and resized, scaled and shuffled on the GPU, so the comparison is of training, not loaders.
Prints one JSON line: examples_per_sec (training only), test_acc, loss, seconds, precision.
"""
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_resnet18_step import resnet18  # noqa: E402


def idx(path):
    with gzip.open(path) if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(data_dir, name):
    for suffix in (".gz", ""):
        path = os.path.join(data_dir, name + suffix)
        if os.path.exists(path):
            return torch.from_numpy(idx(path).copy()).cuda()
    raise FileNotFoundError(os.path.join(data_dir, name))


def batches(images, labels, batch, resize, order):
    for start in range(0, len(order), batch):
        index = order[start:start + batch]
        x = images[index].unsqueeze(1).float()
        if resize != x.shape[-1]:
            x = F.interpolate(x, size=(resize, resize), mode="bilinear", align_corners=False)
        yield x / 255.0, labels[index].long()


def main():
    data_dir, epochs = sys.argv[1], int(sys.argv[2])
    resize = int(sys.argv[3]) if len(sys.argv) > 3 else 96
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 256
    lr = float(sys.argv[5]) if len(sys.argv) > 5 else 0.05
    precision = sys.argv[6] if len(sys.argv) > 6 else "tf32"
    if precision not in ("tf32", "bf16"):
        sys.exit(f"precision {precision!r}: expected tf32 or bf16")
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16")
    torch.manual_seed(0)
    train_x, train_y = load(data_dir, "train-images-idx3-ubyte"), load(data_dir, "train-labels-idx1-ubyte")
    test_x, test_y = load(data_dir, "t10k-images-idx3-ubyte"), load(data_dir, "t10k-labels-idx1-ubyte")
    net = resnet18().cuda()
    for m in net.modules():  # the book's train_ch6 initialization
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    train_seconds, examples, loss_sum, steps = 0.0, 0, 0.0, 0
    for _ in range(epochs):
        net.train()
        torch.cuda.synchronize()
        start = time.perf_counter()
        for x, y in batches(train_x, train_y, batch, resize, torch.randperm(len(train_y), device="cuda")):
            opt.zero_grad()
            with autocast:
                loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
            steps += 1
            examples += len(y)
        torch.cuda.synchronize()
        train_seconds += time.perf_counter() - start
    net.eval()
    right = 0
    with torch.no_grad(), autocast:
        for x, y in batches(test_x, test_y, batch, resize, torch.arange(len(test_y), device="cuda")):
            right += (net(x).argmax(1) == y).sum().item()
    print(json.dumps({"examples_per_sec": examples / train_seconds, "test_acc": right / len(test_y),
                      "loss": float(loss_sum) / steps, "seconds": train_seconds, "precision": precision,
                      "torch": torch.__version__,
                      "device": torch.cuda.get_device_name()}))


if __name__ == "__main__":
    main()
