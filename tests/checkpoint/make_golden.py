#!/usr/bin/env python3
"""Writes golden/reference.safetensors with Hugging Face's own safetensors writer.

The C++ tests read it back and compare it with what our writer produces for the same
tensors, so the two implementations are checked against each other without the tests
needing Python. Re-run only to change the golden file:  pip install safetensors numpy
"""
import pathlib

import numpy as np
from safetensors.numpy import save_file

TENSORS = {
    "stage1.block0.conv1.weight": np.arange(12, dtype=np.float32).reshape(2, 2, 3) / 4 - 1,
    "stage1.block0.conv1.weight.momentum": np.array([0.5, -0.25, 1e-3], dtype=np.float32),
    "stage1.block0.bn1.running_mean": np.array([1.0 / 3.0, -2.5], dtype=np.float64),
    "stage1.block0.bn1.num_batches_tracked": np.array(123456789012, dtype=np.int64),
    "fc.bias.step": np.array([-7, 0, 2**31 - 1], dtype=np.int32),
    "labels": np.array([0, 1, 255, 7, 9], dtype=np.uint8),
}
METADATA = {
    "epoch": "3",
    "model": "resnet-tiny",
    "fingerprint": "sha256:0123abcd",
    "seed": "42",
}

if __name__ == "__main__":
    out = pathlib.Path(__file__).resolve().parent / "golden" / "reference.safetensors"
    save_file(TENSORS, str(out), metadata=METADATA)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
