#!/usr/bin/env python3
"""resnetc export through the real binary: the model is written, and only the complete model
(the same bytes for the same seed, other bytes for another seed); every refusal is exit status 1
(2 for usage) with one clear first line and no file left behind, the previous model intact:
missing weights, weights of another network, an output that cannot be written (no such
directory, a directory, the model or the weights themselves, the file-size limit mid-write).
ONNX Runtime's view of the models is tests/export/test_onnx_export.py's. --format pytorch writes
torchvision's state dict: its keys are those of torchvision's resnet18 (a fixture), its tensors the
checkpoint's unfolded, and resnetc train --init reads every one back; a network without
torchvision's structure is refused where its source says so.

    python3 tests/cli/suite_export.py --resnetc build/tools/resnetc/resnetc [-k NAME]
"""
import os
import resource
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_cases import (ROOT, TINY_NET, Failure, Suite, check, expect, read_safetensors,  # noqa: E402
                       write_idx_subset, write_safetensors)

suite = Suite(__doc__)
MODEL = suite.write("tiny.net", TINY_NET)
OTHER = suite.write("other.net", TINY_NET.replace("network tiny", "network other").replace("conv 4", "conv 6"))
OLD = b"an earlier model\n"
TORCHVISION = os.path.join(ROOT, "tests", "train", "torchvision")


def trained_weights():
    """A checkpoint of MODEL after one training step (made once)."""
    weights = suite.path("tiny.safetensors")
    if not os.path.exists(weights):
        data = write_idx_subset(suite.path("data"), 32, 32)
        expect(suite.run(["train", MODEL, "--data", data, "--max-steps", "1", "--checkpoint", weights,
                          "--device", "cpu", "--no-progress"]), 0)
    return weights


def files_in(directory):
    return sorted(os.listdir(directory))


def refused(args, first, exit=1, out=None, limits=()):
    """resnetc ARGS fails with `first`, leaving `out` (written with OLD first) as it was and no
    other file beside it."""
    out = out or suite.path("out", "model.onnx")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "wb") as f:
        f.write(OLD)
    before = files_in(os.path.dirname(out))

    def set_limits():
        for which, soft in limits:
            resource.setrlimit(which, (soft, resource.getrlimit(which)[1]))
    r = subprocess.run([suite.resnetc, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, XDG_CACHE_HOME=suite.cache_dir), preexec_fn=set_limits, timeout=180)
    expect(r, exit, first)
    with open(out, "rb") as f:
        check(f.read() == OLD, f"{out} was changed by a refused export", r)
    check(files_in(os.path.dirname(out)) == before, f"files left beside {out}: {files_in(os.path.dirname(out))}", r)
    return r


@suite.test
def exports_trained_and_initialized_models():
    out = suite.path("ok")
    os.makedirs(out)
    r = expect(suite.run(["export", MODEL, "--weights", trained_weights(), "-o", os.path.join(out, "t.onnx")]), 0,
               stdout=r"^exported tiny \(.*tiny.safetensors\) to .*t\.onnx: ONNX opset 17, input \"input\" "
                      r"\[N, 1, 12, 12\], output \"logits\" \[N, 10\], \d+ bytes\n$")
    check(r.stderr == "", "export wrote to stderr", r)
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        expect(suite.run(["export", MODEL, "--seed", seed, "-o", os.path.join(out, name + ".onnx")]), 0,
               stdout=rf"^exported tiny \(initialized from seed {seed}\)")
    check(files_in(out) == ["a.onnx", "b.onnx", "c.onnx", "t.onnx"], f"files written: {files_in(out)}")
    model = {n: open(os.path.join(out, n + ".onnx"), "rb").read() for n in "abct"}
    check(model["a"] == model["b"], "two exports with seed 1 differ")
    check(model["a"] != model["c"], "seeds 1 and 2 export the same model")
    check(model["t"] != model["a"], "the trained model is the initialized one")
    check(b"T-shirt/top" in model["t"], "the trained model's metadata lacks Fashion-MNIST's class names")


@suite.test
def class_names_only_one_per_output():
    """Names of another data set's classes (3 for 10 outputs) are left out, as predict numbers them."""
    header, metadata, data = read_safetensors(trained_weights())
    metadata["class_names"] = "cat\ndog\nbird"
    three = suite.path("three-names.safetensors")
    write_safetensors(three, header, metadata, data)
    out = suite.path("names", "m.onnx")
    os.makedirs(os.path.dirname(out))
    expect(suite.run(["export", MODEL, "--weights", three, "-o", out]), 0)
    model = open(out, "rb").read()
    check(b"class_names" not in model and b"dog" not in model, "the model names 10 classes with 3 names")
    check(b"normalize_mean" not in model, "a checkpoint without normalization gave the model one")


@suite.test
def missing_weights():
    refused(["export", MODEL, "--weights", suite.path("nothing.safetensors"), "-o", suite.path("out", "model.onnx")],
            r"resnetc: checkpoint error: .*nothing\.safetensors: cannot open: No such file or directory")


@suite.test
def weights_of_another_network():
    refused(["export", OTHER, "--weights", trained_weights(), "-o", suite.path("out", "model.onnx")],
            r"resnetc: checkpoint error: .*tiny\.safetensors: tensor 'stem\.conv\.weight' has shape \[4, 1, 3, 3\] in "
            r"the checkpoint, but the model expects \[6, 1, 3, 3\]")
    refused(["export", MODEL, "--weights", MODEL, "-o", suite.path("out", "model.onnx")],
            r"resnetc: checkpoint error: .*tiny\.net: .*")


@suite.test
def unwritable_output():
    r = expect(suite.run(["export", MODEL, "-o", suite.path("no-such-dir", "m.onnx")]), 1,
               r"resnetc: error: cannot write the model .*m\.onnx: its directory '.*no-such-dir' does not exist")
    check(not os.path.exists(suite.path("no-such-dir")), "a directory was made", r)
    os.makedirs(suite.path("a-dir"), exist_ok=True)
    expect(suite.run(["export", MODEL, "-o", suite.path("a-dir")]), 1,
           r"resnetc: error: cannot write the model .*a-dir: it is a directory")
    check(files_in(suite.path("a-dir")) == [], "files left in the directory named as the model")
    # The file-size limit stops the write halfway: the earlier model stays, no temporary file.
    refused(["export", MODEL, "-o", suite.path("out", "model.onnx")],
            r"resnetc: error: cannot write the model .*model\.onnx: .*File too large.*",
            limits=((resource.RLIMIT_FSIZE, 4096),))


@suite.test
def outputs_never_overwrite_inputs():
    model_text = open(MODEL).read()
    r = expect(suite.run(["export", MODEL, "-o", MODEL]), 1,
               r"resnetc: error: cannot write the model .*tiny\.net: it is an input \(.*tiny\.net\); choose another "
               r"file, outputs never overwrite inputs")
    check(open(MODEL).read() == model_text, "the model file was changed", r)
    weights = trained_weights()
    saved = open(weights, "rb").read()
    expect(suite.run(["export", MODEL, "--weights", weights, "-o", weights]), 1,
           r"resnetc: error: cannot write the model .*tiny\.safetensors: it is an input .*")
    check(open(weights, "rb").read() == saved, "the weights were changed")


def tensors(path):
    """name -> (dtype, shape, bytes) of a safetensors file."""
    header, _, data = read_safetensors(path)
    return {n: (t["dtype"], t["shape"], bytes(data[t["data_offsets"][0]:t["data_offsets"][1]]))
            for n, t in header.items()}


@suite.test
def pytorch_keys_are_torchvision_resnet18s():
    out = suite.path("r18.safetensors")
    expect(suite.run(["export", os.path.join(ROOT, "examples", "resnet18.net"), "--seed", "1", "--format", "pytorch",
                      "-o", out]), 0,
           stdout=r"exported resnet18 \(initialized from seed 1\) to .*r18\.safetensors: the state dict of the "
                  r"torchvision ResNet of its structure, \d+ bytes\n")
    with open(os.path.join(TORCHVISION, "resnet18.keys")) as f:
        keys = set(f.read().split())
    got = tensors(out)
    check(set(got) == keys, f"keys not torchvision's: missing {sorted(keys - set(got))[:5]}, "
                            f"extra {sorted(set(got) - keys)[:5]}")
    for name, shape in (("conv1.weight", [64, 3, 7, 7]), ("layer2.0.downsample.0.weight", [128, 64, 1, 1]),
                        ("layer4.1.bn2.running_var", [512]), ("fc.weight", [1000, 512]), ("fc.bias", [1000])):
        check(got[name][:2] == ("F32", shape), f"{name} is {got[name][:2]}, not F32 {shape}")
    counters = [n for n in got if n.endswith("num_batches_tracked")]
    check(len(counters) == 20 and all(got[n] == ("I64", [], bytes(8)) for n in counters),
          "num_batches_tracked are not int64 scalar zeros")


@suite.test
def pytorch_state_dict_is_the_checkpoint_unfolded_and_reads_back():
    net = suite.write("tv_basic.net", open(os.path.join(TORCHVISION, "tv_basic.net")).read())
    data = write_idx_subset(suite.path("tv-data"), 32, 16)
    run = ["--data", data, "--device", "cpu", "--no-progress", "--batch", "16", "--max-steps", "1"]
    weights = suite.path("tv_basic.safetensors")
    expect(suite.run(["train", net, "--checkpoint", weights, *run]), 0)
    out = suite.path("tv_basic.pt.safetensors")
    expect(suite.run(["export", net, "--weights", weights, "--format", "pytorch", "-o", out]), 0)
    mine, theirs = tensors(weights), tensors(out)
    for resnetc, torchvision in (("stem.conv.weight", "conv1.weight"), ("stem.bn.running_mean", "bn1.running_mean"),
                                 ("stage1.block1.bn2.running_var", "layer1.1.bn2.running_var"),
                                 ("stage2.block0.shortcut.conv.weight", "layer2.0.downsample.0.weight"),
                                 ("stage4.block0.shortcut.bn.bias", "layer4.0.downsample.1.bias"),
                                 ("head.fc.weight", "fc.weight"), ("head.fc.bias", "fc.bias")):
        check(mine[resnetc] == theirs[torchvision], f"{torchvision} is not the checkpoint's {resnetc}")
    # A trained running mean is not zero: the file holds the statistics, not a folded convolution.
    check(any(theirs["bn1.running_mean"][2]), "bn1.running_mean is zero")
    expect(suite.run(["train", net, "--checkpoint", suite.path("again.safetensors"), "--init", out, *run]), 0,
           stdout=r"initialized from .*tv_basic\.pt\.safetensors \(a PyTorch state dict, read by torchvision's "
                  r"names\): every tensor\n")


@suite.test
def pytorch_refuses_other_structures():
    refused(["export", os.path.join(ROOT, "examples", "preact-resnet18.net"), "--format", "pytorch", "-o",
             suite.path("out", "pre.safetensors")],
            r".*preact-resnet18\.net:\d+:\d+: error: --format pytorch writes the state dict of the torchvision ResNet "
            r"of the same structure; layer 'stage1\.block0\.bn1' has no counterpart in torchvision's ResNet.*",
            out=suite.path("out", "pre.safetensors"))


@suite.test
def usage_errors():
    expect(suite.run(["export", MODEL]), 2, r"resnetc: error: export needs -o FILE, the model to write")
    expect(suite.run(["export", MODEL, "--format", "torch", "-o", "m.onnx"]), 2,
           r"resnetc: error: --format expects onnx or pytorch, got 'torch'")
    expect(suite.run(["export", MODEL, "--weights", "w.safetensors", "--seed", "3", "-o", "m.onnx"]), 2,
           r"resnetc: error: --seed draws initial weights: give it or --weights, not both")
    expect(suite.run(["export", MODEL, "-o", "m.onnx", "--epochs", "3"]), 2,
           r"resnetc: error: --epochs does not apply to export .*")


if __name__ == "__main__":
    try:
        suite.main()
    except Failure as e:
        print(e)
        sys.exit(1)
