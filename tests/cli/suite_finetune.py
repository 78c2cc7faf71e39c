#!/usr/bin/env python3
"""resnetc train --init as a user fine-tunes: a state dict PyTorch saved (by torchvision's names)
initializes a network of torchvision's structure, --reset-head initializes the classifier for
other classes, and every file --init cannot use is refused, naming it, before any compile.

The PyTorch files are the committed fixtures of tests/train/torchvision/make_fixtures.py.

    python3 tests/cli/suite_finetune.py --resnetc build/tools/resnetc/resnetc [-k NAME]
"""
import os
import re
import struct
import sys
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_cases import ROOT, Suite, check, expect, read_safetensors, write_idx_subset

suite = Suite(__doc__)
FIXTURES = os.path.join(ROOT, "tests", "train", "torchvision")
PYTORCH = os.path.join(FIXTURES, "tv_basic.safetensors")
with open(os.path.join(FIXTURES, "tv_basic.net")) as f:
    NET_TEXT = f.read()
NET = suite.write("tv_basic.net", NET_TEXT)
DATA = write_idx_subset(suite.path("data"), 32, 16)  # 2 steps an epoch at batch 16
DATA5 = write_idx_subset(suite.path("data5"), 32, 16, labels=lambda split, i, v: v % 5)
RUN = ["--device", "cpu", "--no-progress", "--batch", "16", "--max-steps", "1"]


def train(net, *args, data=DATA, init=PYTORCH):
    name = os.path.splitext(os.path.basename(net))[0]
    return suite.run(["train", net, "--data", data, "--checkpoint", suite.path(name + ".safetensors"), "--init", init,
                      *RUN, *args])


def floats(path):
    header, _, data = read_safetensors(path)
    out = {}
    for name, t in header.items():
        if t["dtype"] == "F32":
            begin, end = t["data_offsets"]
            out[name] = [v for (v,) in struct.iter_unpack("<f", bytes(data[begin:end]))]
    return out


@suite.test
def a_pytorch_state_dict_initializes_every_tensor_by_torchvision_names():
    r = expect(train(NET, "--lr", "1e-12"), 0,
               stdout=r"initialized from .*tv_basic\.safetensors \(a PyTorch state dict, read by torchvision's "
                      r"names\): every tensor\n")
    # At a learning rate of 1e-12 one step leaves the weights as they were read: each where it belongs.
    mine, theirs = floats(suite.path("tv_basic.safetensors")), floats(PYTORCH)
    for resnetc, torchvision in (("stem.conv.weight", "conv1.weight"), ("stem.bn.weight", "bn1.weight"),
                                 ("stage1.block1.conv2.weight", "layer1.1.conv2.weight"),
                                 ("stage2.block0.shortcut.conv.weight", "layer2.0.downsample.0.weight"),
                                 ("stage4.block0.shortcut.bn.bias", "layer4.0.downsample.1.bias"),
                                 ("head.fc.weight", "fc.weight"), ("head.fc.bias", "fc.bias")):
        worst = max(abs(a - b) for a, b in zip(mine[resnetc], theirs[torchvision]))
        check(len(mine[resnetc]) == len(theirs[torchvision]) and worst < 1e-6,
              f"{resnetc} is not {torchvision} of the PyTorch file (differs by {worst})", r)


@suite.test
def tensors_the_file_lacks_are_initialized_and_listed_with_both_names():
    deeper = suite.write("deeper.net", NET_TEXT.replace("stage basic 16 x1", "stage basic 16 x2"))
    r = expect(train(deeper), 0,
               stdout=[r"initialized from .*tv_basic\.safetensors \(a PyTorch state dict, read by torchvision's "
                       r"names\), except:\n",
                       r"\n  stage2\.block1\.conv1\.weight \(torchvision: layer2\.1\.conv1\.weight\): not in the "
                       r"file \(initialized\)\n"])
    check("stage2.block0." not in r.stdout and "num_batches_tracked" not in r.stdout,
          "a tensor the file has, or a BatchNorm counter, was listed", r)


@suite.test
def another_number_of_classes_needs_reset_head():
    five = suite.write("five.net", NET_TEXT.replace("fc 10", "fc 5"))
    r = expect(train(five, data=DATA5), 1,
               r"resnetc: checkpoint error: .*tv_basic\.safetensors: the classifier's head\.fc\.weight \(torchvision: "
               r"fc\.weight\) is F32 \[10, 64\] in the file, \[5, 64\] here; give --reset-head to initialize the "
               r"classifier instead of reading it")
    check("compiled" not in r.stdout, "it compiled before refusing", r)
    r = expect(train(five, "--reset-head", data=DATA5), 0,
               stdout=r"except:\n  head\.fc\.bias, head\.fc\.weight: the classifier, initialized \(--reset-head\)\n"
                      r"epoch 1/")
    check("in the file only" not in r.stdout, "the file's classifier was listed as unused", r)


@suite.test
def reset_head_applies_to_init():
    expect(suite.run(["train", NET, "--data", DATA, "--reset-head"]), 2,
           r"resnetc: error: --reset-head applies to --init: .*")


@suite.test
def a_network_without_torchvision_structure_is_refused_at_its_line():
    pre = suite.write("pre.net", NET_TEXT.replace("stage basic 8 x2", "stage preact 8 x2"))
    r = expect(train(pre), 1,
               r".*pre\.net:6:3: error: .*tv_basic\.safetensors is not a resnetc checkpoint, so --init reads it as a "
               r"PyTorch state dict, by the names of torchvision's ResNet; layer 'stage1\.block0\.bn1' has no "
               r"counterpart in torchvision's ResNet: each BatchNorm of its blocks follows a convolution .*")
    check("compiled" not in r.stdout, "it compiled before refusing", r)


@suite.test
def files_that_are_not_safetensors_are_refused_naming_them():
    text = suite.write("notes.txt", "these are my notes, not weights\n")
    expect(train(NET, init=text), 1, r"resnetc: checkpoint error: .*notes\.txt: header length \d+ is absurd.*")
    archive = suite.path("weights.pt")
    with zipfile.ZipFile(archive, "w") as z:  # the layout torch.save writes
        z.writestr("weights/data.pkl", b"\x80\x02}q\x00.")
    expect(train(NET, init=archive), 1,
           r"resnetc: checkpoint error: .*weights\.pt: not a safetensors file but a zip archive, as PyTorch's "
           r"torch\.save writes; save the state dict with safetensors\.torch\.save_file")
    r = train(NET, init=suite.path("missing.safetensors"))
    check(r.returncode == 1 and re.search(r"missing\.safetensors", r.stderr), "a missing file is not named", r)


suite.main()
