#!/usr/bin/env python3
"""An independent implementation of data::epoch_order (runtime/data/sampler.h), written from
its definition: SplitMix64 keys whose low bits hold the index, sorted. tests/data/test_sampler.cpp
pins the orders this prints.

Usage: python3 tests/data/epoch_order.py SEED EPOCH N
"""
import sys

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix(x):
    x = (x + GOLDEN) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def epoch_order(seed, epoch, n):
    stream = mix(mix(seed) ^ (epoch & MASK))
    bits = 0 if n <= 1 else (n - 1).bit_length()
    keys = sorted(((mix((stream + i * GOLDEN) & MASK) >> bits) << bits) | i for i in range(n))
    return [key & ((1 << bits) - 1) for key in keys]


if __name__ == "__main__":
    seed, epoch, n = (int(a) for a in sys.argv[1:4])
    print(", ".join(str(i) for i in epoch_order(seed, epoch, n)))
