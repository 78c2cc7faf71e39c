#!/usr/bin/env python3
"""Checks one model written by resnetc export with the ONNX project's own tools; run by
test_onnx_export.py in its virtual environment (onnx, onnxruntime, numpy).

    check_onnx.py MODEL.onnx --images A.png B.png ... [--expect PREDICT.json --tolerance T]

- onnx.checker.check_model(full_check=True) passes; no BatchNormalization node; opset 17; the
  input "input" and the output "logits" have a free batch dimension.
- ONNX Runtime runs the images (8-bit gray PNGs, as the test writes them: pixel / 255, then the
  metadata's normalization) one at a time and all together; each image's logits agree.
- With --expect (resnetc predict --format json --top K, K at least the classes): the softmax of ONNX
  Runtime's logits, at both batch sizes, equals predict's probabilities within T.
Prints the model's metadata as JSON on its last line.
"""
import argparse
import json
import struct
import sys
import zlib

import numpy as np
import onnx
import onnxruntime as ort


def gray_png(path):
    """The pixels of an 8-bit gray PNG whose rows all use filter 0 (what png_bytes writes)."""
    with open(path, "rb") as f:
        data = f.read()
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert (depth, color) == (8, 0), f"{path}: not 8-bit gray"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    rows = zlib.decompress(idat)
    out = np.empty((height, width), np.uint8)
    for y in range(height):
        row = rows[y * (width + 1):(y + 1) * (width + 1)]
        assert row[0] == 0, f"{path}: row {y} uses PNG filter {row[0]}"
        out[y] = np.frombuffer(row[1:], np.uint8)
    return out


def fail(message):
    print(f"check_onnx: {message}")
    sys.exit(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--images", nargs="+", required=True)
    parser.add_argument("--expect")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()

    model = onnx.load(args.model)
    onnx.checker.check_model(model, full_check=True)
    kinds = {node.op_type for node in model.graph.node}
    if "BatchNormalization" in kinds:
        fail("a BatchNormalization node remains")
    opsets = {o.domain: o.version for o in model.opset_import}
    if opsets.get("", opsets.get("ai.onnx")) != 17:
        fail(f"opset {opsets}, expected 17")
    (x,), (y,) = model.graph.input, model.graph.output
    dims = [d.dim_param or d.dim_value for d in x.type.tensor_type.shape.dim]
    if x.name != "input" or y.name != "logits" or dims[0] != "N" or y.type.tensor_type.shape.dim[0].dim_param != "N":
        fail(f"input {x.name} {dims}, output {y.name}: expected 'input' and 'logits' with a free batch dimension N")
    meta = {p.key: p.value for p in model.metadata_props}

    channels, height, width = dims[1:]
    images = np.stack([gray_png(p) for p in args.images]).astype(np.float32) / 255
    if images.shape[1:] != (height, width) or channels != 1:
        fail(f"the model takes [N, {channels}, {height}, {width}], the images are {images.shape[1:]} gray")
    images = images[:, None]
    if "normalize_mean" in meta:
        mean = np.array([float(v) for v in meta["normalize_mean"].split(",")], np.float32)
        std = np.array([float(v) for v in meta["normalize_std"].split(",")], np.float32)
        images = (images - mean.reshape(-1, 1, 1)) / std.reshape(-1, 1, 1)

    session = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    one_by_one = np.concatenate([session.run(["logits"], {"input": images[i:i + 1]})[0] for i in range(len(images))])
    together = session.run(["logits"], {"input": images})[0]
    if not np.all(np.isfinite(together)):
        fail("ONNX Runtime's logits are not all finite")
    scale = max(1.0, float(np.abs(together).max()))
    if np.abs(one_by_one - together).max() > 1e-5 * scale:
        fail(f"batch 1 and batch {len(images)} differ by {np.abs(one_by_one - together).max()}")

    if args.expect:
        classes = together.shape[1]
        names = meta["class_names"].split("\n") if "class_names" in meta else [str(i) for i in range(classes)]
        with open(args.expect) as f:
            predicted = json.load(f)
        for batch, logits in (("1", one_by_one), (str(len(images)), together)):
            z = logits.astype(np.float64)
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            worst = 0.0
            for i, entry in enumerate(predicted):
                if len(entry["top"]) != classes:
                    fail(f"predict gave {len(entry['top'])} classes for {entry['file']}, the model has {classes}")
                for c in entry["top"]:
                    worst = max(worst, abs(p[i, names.index(c["class"])] - c["prob"]))
            if worst > args.tolerance:
                fail(f"at batch {batch}, ONNX Runtime's probabilities differ from resnetc predict's by {worst}")
            print(f"batch {batch}: probabilities within {worst:.2e} of resnetc predict's")
    print(f"{args.model}: {len(model.graph.node)} nodes ({', '.join(sorted(kinds))}), checked")
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
