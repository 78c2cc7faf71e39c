#!/usr/bin/env python3
"""An independent implementation of the augmentation's views (runtime/data/augment.h), written
from their definition in docs/data.md: SplitMix64 words of (seed, epoch, image, k), then
torchvision's RandomCrop, RandomHorizontalFlip and RandomResizedCrop.get_params (the code of
torchvision 0.29's transforms.py, its torch.rand draws replaced by the words).
tests/data/test_augment.cpp pins the views this prints as {top, left, height, width, flip}.

Usage: python3 tests/data/augment_views.py crop HEIGHT WIDTH SIZE PADDING SEED EPOCH N
       python3 tests/data/augment_views.py resized HEIGHT WIDTH S0 S1 R0 R1 SEED EPOCH N
"""
import math
import sys

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
SALT = int.from_bytes(b"augment", "big")  # 0x00617567_6D656E74


def mix(x):
    x = (x + GOLDEN) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def word(seed, epoch, index, k):
    stream = mix(mix(mix(seed) ^ (epoch & MASK)) ^ SALT)
    return mix((mix((stream + index * GOLDEN) & MASK) + k * GOLDEN) & MASK)


def below(w, n):  # a whole number in [0, n): torch.randint(0, n)
    return (w * n) >> 64


def uniform(w, a, b):  # torch.empty(1).uniform_(a, b)
    return a + (b - a) * ((w >> 11) * 2.0 ** -53)


def flip(seed, epoch, index):  # torch.rand(1) < 0.5
    return word(seed, epoch, index, 0) >> 63


def random_crop(height, width, size, padding, seed, epoch, index):
    i = below(word(seed, epoch, index, 1), height + 2 * padding - size + 1)
    j = below(word(seed, epoch, index, 2), width + 2 * padding - size + 1)
    return i - padding, j - padding, size, size


def random_resized_crop(height, width, scale, ratio, seed, epoch, index):
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for t in range(10):
        k = 4 * t + 1
        target_area = area * uniform(word(seed, epoch, index, k), scale[0], scale[1])
        aspect_ratio = math.exp(uniform(word(seed, epoch, index, k + 1), log_ratio[0], log_ratio[1]))
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            i = below(word(seed, epoch, index, k + 2), height - h + 1)
            j = below(word(seed, epoch, index, k + 3), width - w + 1)
            return i, j, h, w
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:
        w = width
        h = height
    return (height - h) // 2, (width - w) // 2, h, w


if __name__ == "__main__":
    kind, args = sys.argv[1], sys.argv[2:]
    if kind == "crop":
        height, width, size, padding, seed, epoch, n = (int(a) for a in args)
        views = [(*random_crop(height, width, size, padding, seed, epoch, i), flip(seed, epoch, i)) for i in range(n)]
    else:
        height, width = int(args[0]), int(args[1])
        s0, s1, r0, r1 = (float(a) for a in args[2:6])
        seed, epoch, n = (int(a) for a in args[6:9])
        views = [(*random_resized_crop(height, width, (s0, s1), (r0, r1), seed, epoch, i), flip(seed, epoch, i))
                 for i in range(n)]
    print(", ".join("{%d, %d, %d, %d, %d}" % v for v in views))
