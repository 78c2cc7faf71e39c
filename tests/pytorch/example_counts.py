#!/usr/bin/env python3
"""Rebuilds every network in examples/ in PyTorch and compares its counts with resnetc's.

The PyTorch side is the reference: torchvision's own models where torchvision has them,
and for the rest the papers' layouts written as the PyTorch code their authors publish
(SE modules after the last BatchNorm, ResNet-D's average-pool shortcuts, option-A zero
padding, WRN's pre-activation blocks with dropout). Parameters are sum(p.numel());
MACs are the multiply-accumulates of Conv2d and Linear layers over one image.

Usage: example_counts.py RESNETC EXAMPLES_DIR   (exits 77, "skipped", without torch)
Every .net file in EXAMPLES_DIR must have an entry here; ResNet-50-D is also compared at an
odd input size, where ceil_mode pooling decides the shapes.
"""
import json
import os
import subprocess
import sys

try:
    import torch
    import torch.nn as nn
    import torchvision.models as tvm
    from torchvision.models.resnet import BasicBlock, Bottleneck
except ImportError as error:
    print(f"skipped: PyTorch and torchvision are needed ({error})")
    sys.exit(77)


def bn(c):
    return nn.BatchNorm2d(c)


def conv(cin, cout, k, stride=1, padding=0, bias=False, groups=1):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=bias, groups=groups)


class Residual(nn.Module):
    """Dive into Deep Learning's Residual block: biased convs, a bare 1x1 projection."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = conv(cin, cout, 3, stride, 1, bias=True)
        self.conv2 = conv(cout, cout, 3, 1, 1, bias=True)
        self.bn1, self.bn2 = bn(cout), bn(cout)
        self.proj = conv(cin, cout, 1, stride, bias=True) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (self.proj(x) if self.proj else x))


class PreActBlock(nn.Module):
    """He et al. 2016's pre-activation block; `dropout` between the convs is WRN's."""

    def __init__(self, cin, cout, stride, dropout=0.0):
        super().__init__()
        self.bn1, self.bn2 = bn(cin), bn(cout)
        self.conv1 = conv(cin, cout, 3, stride, 1)
        self.conv2 = conv(cout, cout, 3, 1, 1)
        self.drop = nn.Dropout(dropout)
        self.proj = conv(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        pre = torch.relu(self.bn1(x))
        y = self.conv2(self.drop(torch.relu(self.bn2(self.conv1(pre)))))
        return y + (self.proj(pre) if self.proj else x)


class WideBlock(nn.Module):
    """examples/custom-block.net's post-activation wide block."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = conv(cin, cout, 3, stride, 1), bn(cout)
        self.conv2, self.bn2 = conv(cout, cout, 3, 1, 1), bn(cout)
        self.proj = (nn.Sequential(conv(cin, cout, 1, stride), bn(cout))
                     if stride != 1 or cin != cout else None)

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (self.proj(x) if self.proj else x))


class OptionABlock(nn.Module):
    """He et al. 2015 section 4.2: a BasicBlock whose shortcut subsamples by the stride
    and pads the new channels with zeros (option A), so it has no parameters."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = BasicBlock(cin, cout, stride)
        self.body.downsample = None
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        b = self.body
        y = b.bn2(b.conv2(b.relu(b.bn1(b.conv1(x)))))
        s = x[:, :, ::self.stride, ::self.stride]
        s = nn.functional.pad(s, (0, 0, 0, 0, 0, self.extra))
        return torch.relu(y + s)


class SqueezeExcite(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.reduce = conv(channels, channels // reduction, 1, bias=True)
        self.expand = conv(channels // reduction, channels, 1, bias=True)

    def forward(self, x):
        g = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.expand(torch.relu(self.reduce(g))))


class SEBottleneck(Bottleneck):
    """torchvision's Bottleneck with SE after the last BatchNorm, before the add."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.se = SqueezeExcite(self.conv3.out_channels)

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.se(self.bn3(self.conv3(y)))
        return self.relu(y + (self.downsample(x) if self.downsample else x))


def stages(block, cin, widths, depths, expansion=1, **kwargs):
    layers = []
    for i, (width, depth) in enumerate(zip(widths, depths)):
        for j in range(depth):
            stride = 2 if i > 0 and j == 0 else 1
            layers.append(block(cin, width, stride, **kwargs))
            cin = width * expansion
    return nn.Sequential(*layers), cin


def head(cin, classes):
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes))


def d2l_resnet18():
    body, c = stages(Residual, 64, [64, 128, 256, 512], [2, 2, 2, 2])
    stem = nn.Sequential(conv(1, 64, 7, 2, 3, bias=True), bn(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
    return nn.Sequential(stem, body, head(c, 10))


def small_fashion():
    def basic(cin, cout, stride):
        down = (nn.Sequential(conv(cin, cout, 1, stride), bn(cout))
                if stride != 1 or cin != cout else None)
        return BasicBlock(cin, cout, stride, down)
    body, c = stages(basic, 16, [16, 32, 64], [1, 1, 1])
    return nn.Sequential(conv(1, 16, 3, 1, 1), bn(16), nn.ReLU(), body, head(c, 10))


def wide_resnet():
    body, c = stages(WideBlock, 16, [32, 64, 128], [1, 1, 1])
    return nn.Sequential(conv(3, 16, 3, 1, 1), bn(16), nn.ReLU(), body, head(c, 10))


def preact_resnet18():
    body, c = stages(PreActBlock, 64, [64, 128, 256, 512], [2, 2, 2, 2])
    return nn.Sequential(conv(3, 64, 3, 1, 1), body, bn(c), nn.ReLU(), head(c, 10))


def se_resnet50():
    return tvm.ResNet(SEBottleneck, [3, 4, 6, 3])


def resnet50_d():
    model = tvm.resnet50()
    model.conv1 = nn.Sequential(conv(3, 32, 3, 2, 1), bn(32), nn.ReLU(), conv(32, 32, 3, 1, 1), bn(32),
                                nn.ReLU(), conv(32, 64, 3, 1, 1))
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        down = layer[0].downsample
        stride = down[0].stride[0]
        down[0].stride = (1, 1)
        pool = nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False) if stride != 1 else nn.Identity()
        layer[0].downsample = nn.Sequential(pool, down[0], down[1])
    return model


def cifar_resnet20():
    body, c = stages(OptionABlock, 16, [16, 32, 64], [3, 3, 3])
    return nn.Sequential(conv(3, 16, 3, 1, 1), bn(16), nn.ReLU(), body, head(c, 10))


def wrn_28_10():
    body, c = stages(PreActBlock, 16, [160, 320, 640], [4, 4, 4], dropout=0.3)
    return nn.Sequential(conv(3, 16, 3, 1, 1), body, bn(c), nn.ReLU(), head(c, 10))


EXAMPLES = {  # example file: (the PyTorch model, its input shape C, H, W)
    "resnet18.net": (tvm.resnet18, (3, 224, 224)),
    "resnet34.net": (tvm.resnet34, (3, 224, 224)),
    "resnet50.net": (tvm.resnet50, (3, 224, 224)),
    "resnet101.net": (tvm.resnet101, (3, 224, 224)),
    "resnet152.net": (tvm.resnet152, (3, 224, 224)),
    "resnext50-32x4d.net": (tvm.resnext50_32x4d, (3, 224, 224)),
    "d2l-resnet18.net": (d2l_resnet18, (1, 96, 96)),
    "small-fashion.net": (small_fashion, (1, 28, 28)),
    "custom-block.net": (wide_resnet, (3, 32, 32)),
    "preact-resnet18.net": (preact_resnet18, (3, 32, 32)),
    "se-resnet50.net": (se_resnet50, (3, 224, 224)),
    "resnet50-d.net": (resnet50_d, (3, 224, 224)),
    "cifar-resnet20.net": (cifar_resnet20, (3, 32, 32)),
    "wrn-28-10.net": (wrn_28_10, (3, 32, 32)),
}


# Further input sizes at which an example is compared (`resnetc --input`).
OTHER_SIZES = [("resnet50-d.net", (3, 200, 200))]


def torch_counts(model, shape):
    macs = 0

    def count(module, inputs, output):
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            macs += output[0].numel() * per_output
        elif isinstance(module, nn.Linear):
            macs += module.in_features * module.out_features

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for h in hooks:
        h.remove()
    return sum(p.numel() for p in model.parameters()), macs


def resnetc_counts(resnetc, path, shape):
    dims = "x".join(str(d) for d in shape)
    out = subprocess.run([resnetc, path, "--format=json", f"--input={dims}"], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    table = json.loads(out.stdout)
    return table["total_params"], table["total_macs"]


def main():
    resnetc, examples = sys.argv[1], sys.argv[2]
    failures = 0
    unlisted = sorted(set(n for n in os.listdir(examples) if n.endswith(".net")) - set(EXAMPLES))
    for name in unlisted:
        print(f"FAIL    {name}: no PyTorch model for it in {os.path.basename(__file__)}")
        failures += 1
    cases = [(name, build, shape) for name, (build, shape) in EXAMPLES.items()]
    cases += [(name, EXAMPLES[name][0], shape) for name, shape in OTHER_SIZES]
    for name, build, shape in cases:
        expected = torch_counts(build(), shape)
        try:
            got = resnetc_counts(resnetc, f"{examples}/{name}", shape)
        except (RuntimeError, OSError) as error:
            print(f"FAIL    {name}: resnetc: {error}")
            failures += 1
            continue
        status = "ok     " if got == expected else "FAIL   "
        failures += got != expected
        size = "x".join(str(d) for d in shape)
        print(f"{status} {name:22} {size:>9}  params {got[0]:>12,} (PyTorch {expected[0]:>12,})"
              f"  MACs {got[1]:>15,} (PyTorch {expected[1]:>15,})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
