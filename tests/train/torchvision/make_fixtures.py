#!/usr/bin/env python3
"""Fixtures for reading PyTorch state dicts by torchvision's names (train/torchvision_names.h).

Run with a Python that has torch, torchvision and safetensors:
    /work/torchvenv/bin/python tests/train/torchvision/make_fixtures.py
It writes, next to itself (the tests read them; CI has no PyTorch):
- resnet18.keys, resnet50.keys: every key of torchvision's resnet18().state_dict() and
  resnet50().state_dict(), in order, one a line;
- for two small networks with torchvision's structure (its own BasicBlock and Bottleneck, at
  reduced widths for a 1x28x28 input): NAME.net, the network in the resnetc language;
  NAME.safetensors, the seeded model's state dict as a user saves it
  (safetensors.torch.save_file(model.state_dict(), ...)); NAME.expected.safetensors, real
  Fashion-MNIST test images (uint8 [N, 1, 28, 28], fed as /255) and the model's logits on
  them in eval mode.
"""
import gzip
import os

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn
from torchvision.models import resnet18, resnet50
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

HERE = os.path.dirname(os.path.abspath(__file__))
FASHION_MNIST = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
IMAGES = 8


class SmallResNet(ResNet):
    """torchvision's ResNet (its modules, names and forward) with the stage widths chosen."""

    def __init__(self, block, layers, widths, in_channels, classes, groups=1, width_per_group=64):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation, self.groups, self.base_width = widths[0], 1, groups, width_per_group
        self.conv1 = nn.Conv2d(in_channels, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * block.expansion, classes)


# name: (block, blocks per stage, widths, the .net's stage arguments beyond the width, groups, width per group)
NETWORKS = {
    "tv_basic": (BasicBlock, [2, 1, 1, 1], [8, 16, 32, 64], "", 1, 64),
    "tv_bottleneck": (Bottleneck, [1, 1, 1, 1], [4, 8, 16, 32], " groups=2 group_width=32", 2, 32),
}


def net_text(name, block, layers, widths, extra):
    kind = "basic" if block is BasicBlock else "bottleneck"
    lines = [f"# Written by make_fixtures.py: the network of {name}.safetensors, torchvision's ResNet",
             f"# ({block.__name__}) at reduced widths.",
             f"network {name} {{",
             "  input 1x28x28",
             f"  stem {{ conv {widths[0]} k7 s2 p3; bn; relu; maxpool k3 s2 p1 }}"]
    for i, (count, width) in enumerate(zip(layers, widths)):
        stride = "" if i == 0 else " stride=2"
        lines.append(f"  stage {kind} {width} x{count}{stride}{extra}")
    lines += ["  head { avgpool; fc 10 }", "}", ""]
    return "\n".join(lines)


def fashion_images(count):
    with gzip.open(FASHION_MNIST, "rb") as f:
        f.read(16)
        pixels = f.read(count * 28 * 28)
    return torch.from_numpy(np.frombuffer(pixels, dtype=np.uint8).copy()).reshape(count, 1, 28, 28)


def seeded(block, layers, widths, groups, width_per_group):
    """The model with every BatchNorm's tensors random too, so that a mix-up of them shows."""
    torch.manual_seed(0)
    model = SmallResNet(block, layers, widths, 1, 10, groups, width_per_group)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(100)
    return model.eval()


def main():
    for name, builder in (("resnet18", resnet18), ("resnet50", resnet50)):
        with open(os.path.join(HERE, f"{name}.keys"), "w") as f:
            f.write("".join(key + "\n" for key in builder().state_dict()))
    images = fashion_images(IMAGES)
    for name, (block, layers, widths, extra, groups, width_per_group) in NETWORKS.items():
        with open(os.path.join(HERE, f"{name}.net"), "w") as f:
            f.write(net_text(name, block, layers, widths, extra))
        model = seeded(block, layers, widths, groups, width_per_group)
        save_file(model.state_dict(), os.path.join(HERE, f"{name}.safetensors"))
        with torch.no_grad():
            logits = model(images.float() / 255)
        save_file({"images": images, "logits": logits.contiguous()},
                  os.path.join(HERE, f"{name}.expected.safetensors"))


if __name__ == "__main__":
    main()
