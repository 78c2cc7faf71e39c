#!/usr/bin/env python3
"""Times training steps of the seed's ResNet-18 (Dive into Deep Learning's) in PyTorch.

Usage: torch_resnet18_step.py HW BATCH THREADS [STEPS [fp32|bf16]]
Prints one line: "<examples/sec>". Same recipe as `resnetc bench`: plain SGD, lr 0.05,
synthetic uniform images and random labels, 2 warm-up steps. bf16: PyTorch's mixed precision
on the CPU as its documentation recommends, the model and input in channels_last and the
forward pass under torch.autocast("cpu", dtype=torch.bfloat16) (float32 master weights).
"""
import contextlib
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F


class Residual(nn.Module):
    def __init__(self, cin, cout, project, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, stride=stride)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv3 = nn.Conv2d(cin, cout, 1, stride=stride) if project else None
        self.bn1, self.bn2 = nn.BatchNorm2d(cout), nn.BatchNorm2d(cout)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (self.conv3(x) if self.conv3 else x))


def stage(cin, cout, first):
    return [Residual(cin, cout, not first and i == 0, 1 if first or i else 2) if i == 0 else Residual(cout, cout, False, 1)
            for i in range(2)]


def resnet18():
    return nn.Sequential(
        nn.Conv2d(1, 64, 7, 2, 3), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
        *stage(64, 64, True), *stage(64, 128, False), *stage(128, 256, False), *stage(256, 512, False),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10))


def main():
    hw, batch, threads = (int(a) for a in sys.argv[1:4])
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    bf16 = len(sys.argv) > 5 and sys.argv[5] == "bf16"
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = resnet18()
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    x, y = torch.rand(batch, 1, hw, hw), torch.randint(0, 10, (batch,))
    if bf16:
        net = net.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    for i in range(2 + steps):
        if i == 2:
            start = time.perf_counter()
        opt.zero_grad()
        with autocast():
            loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    print(f"{batch * steps / (time.perf_counter() - start):.1f}")


if __name__ == "__main__":
    main()
