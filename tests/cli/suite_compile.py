#!/usr/bin/env python3
"""resnetc MODEL (the layer table) for every network the language accepts: small inputs that
leave 1x1 maps, networks without a classifier (the table says why it has no training memory),
networks thousands of blocks deep (in seconds: the passes are linear in depth); and train and
bench of networks that cannot be trained, refused at the user's line.

    python3 tests/cli/suite_compile.py --resnetc build/tools/resnetc/resnetc [-k NAME]
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_cases import Suite, check, expect, write_idx_subset

suite = Suite(__doc__)
CPU = ["--device", "cpu"]

HEADLESS = suite.write("headless.net", """network headless {
  input 1x8x8
  stem { conv 4 k3 p1; bn; relu }
  stage basic 8 stride=2
}
""")
POOLED = suite.write("pooled.net", """network pooled {
  input 1x8x8
  stem { conv 4 k3 p1; bn; relu }
  stage basic 4
  head { avgpool }
}
""")
CLASSIFIER_NOTE = (r"Training memory:    none: a training step needs a classifier, logits of shape \[N, classes\] "
                   r"for its softmax cross-entropy loss, but the network's output is ")
ONE_VALUE_NOTE = (r"Training memory:    none: training BatchNorm normalizes with the batch's statistics, which need "
                  r"more than one value per channel, but 'stage4.block0.bn1' gets \[1, 512, 1, 1\]; train with a "
                  r"batch of 2 or more")
HEADLESS_CLASSIFIER = suite.write("classifier.net", """network classifier {
  input 1x8x8
  stem { conv 4 k3 p1; bn; relu }
  stage basic 4
  head { avgpool; fc 3 }
}
""")
PLANNED = r"Training memory:    [0-9.]+ MiB planned at -O{}, "


@suite.test
def resnet18_at_cifar_size_prints_its_table_at_every_level():
    # stage4 sees 1x1 maps: at batch 1 its BatchNorm has one value per channel, so no training step.
    for level in (0, 1, 2):
        expect(suite.run(["examples/resnet18.net", "--input", "3x32x32", f"-O{level}"]), 0,
               stdout=[r"stage4\.block1\.relu2 +relu +\[1, 512, 1, 1\]", r"Total params:       11,689,512\n",
                       ONE_VALUE_NOTE])
        expect(suite.run(["examples/resnet18.net", "--input", "3x32x32", "--batch", "2", f"-O{level}"]), 0,
               stdout=PLANNED.format(level))
    expect(suite.run(["examples/resnet18.net", "--input", "3x32x32", "--batch", "2", "--emit=plan", "--train"]), 0,
           stdout=r"kernels: \d+, bytes moved: ")


@suite.test
def other_examples_at_small_inputs_print_their_tables():
    for model, shape in (("resnet50.net", "3x32x32"), ("resnext50-32x4d.net", "3x16x16"),
                         ("d2l-resnet18.net", "1x32x32"), ("preact-resnet18.net", "3x8x8")):
        expect(suite.run([f"examples/{model}", "--input", shape]), 0, stdout=r"Training memory:    ")
        expect(suite.run([f"examples/{model}", "--input", shape, "--batch", "2"]), 0, stdout=PLANNED.format(2))


@suite.test
def a_network_without_a_head_prints_its_table_and_says_why_no_training_memory():
    expect(suite.run([HEADLESS]), 0,
           stdout=[r"stage1\.block0\.relu2 +relu +\[1, 8, 4, 4\]", r"Total params:       ",
                   CLASSIFIER_NOTE + r"\[1, 8, 4, 4\]; end the network with a head such as "
                                     r"'head \{ avgpool; fc 10 \}'\n"])
    expect(suite.run([POOLED, "--depth", "1"]), 0,
           stdout=[r"head +head +\[1, 4, 1, 1\]", CLASSIFIER_NOTE + r"\[1, 4, 1, 1\]"])


@suite.test
def the_json_table_of_a_headless_network_has_null_training_bytes_and_a_note():
    result = expect(suite.run([POOLED, "--format", "json"]), 0)
    table = json.loads(result.stdout)
    check(table["layers"][-1]["name"] == "head.avgpool", "the last layer is the head's avgpool", result)
    check(table["planned_training_bytes"] is None and table["unplanned_training_bytes"] is None,
          "no training bytes", result)
    check(table["training_note"].startswith("a training step needs a classifier"), "the note says why", result)
    trained = json.loads(expect(suite.run(["examples/small-fashion.net", "--format", "json"]), 0).stdout)
    check(trained["planned_training_bytes"] > 0 and "training_note" not in trained, "a classifier has no note")


def located(path, line, col, message):
    return re.escape(f"{path}:{line}:{col}: error: ") + message


@suite.test
def train_of_a_headless_network_is_refused_at_its_network_line():
    data = write_idx_subset(suite.path("data"), 64, 16)
    checkpoint = suite.path("headless.safetensors")
    args = ["train", HEADLESS, "--data", data, "--checkpoint", checkpoint, "--no-progress", *CPU]
    result = expect(suite.run(args, cwd=suite.tmp), 1,
                    first=located(HEADLESS, 1, 1, r"a training step needs a classifier, .* but the network's "
                                                  r"output is \[256, 8, 4, 4\]; .*"))
    check("network headless {" in result.stderr, "the source line is quoted", result)
    check(not os.path.exists(checkpoint), "no checkpoint is written", result)


@suite.test
def bench_of_a_network_whose_head_is_not_a_classifier_is_refused_at_the_head():
    expect(suite.run(["bench", POOLED, "--steps", "1", "--warmup", "0", *CPU]), 1,
           first=located(POOLED, 5, 10, r"a training step needs a classifier, .*output is \[256, 4, 1, 1\].*"))


@suite.test
def bench_with_one_value_per_batchnorm_channel_is_refused_at_the_users_stage_line():
    result = expect(suite.run(["bench", "examples/resnet18.net", "--input", "3x32x32", "--batch", "1", "--steps", "1",
                               "--warmup", "0", *CPU]), 1,
                    first=located("examples/resnet18.net", 8, 3, r"training BatchNorm normalizes .* but "
                                                                 r"'stage4\.block0\.bn1' gets \[1, 512, 1, 1\]; .*"))
    check(re.search(r"^<prelude>:\d+:\d+: note: in the built-in block this stage uses, at this line$", result.stderr,
                    re.M) is not None, "the prelude's line is a note", result)


@suite.test
def a_network_3000_blocks_deep_prints_its_table_in_seconds():
    # Before the passes were linear in depth this took minutes; the timeout leaves 10x headroom.
    deep = suite.write("deep.net", """network deep {
  input 1x8x8
  stem { conv 4 k3 p1; bn; relu }
  stage basic 4 x3000
  head { avgpool; fc 10 }
}
""")
    expect(suite.run([deep, "--depth", "1"], timeout=60), 0,
           stdout=[r"stage1 +stage +\[1, 4, 8, 8\] +912,000 ", r"Total params:       912,094\n", PLANNED.format(2)])


@suite.test
def an_ir_file_compiles_like_its_network():
    # What --emit=ir prints is an input: the graph reads back to the same text, before and after
    # the passes and for the training step, and its plan has the network's kernels.
    for flags in (["-O0"], ["-O2"], ["-O0", "--train"]):
        printed = expect(suite.run([HEADLESS_CLASSIFIER, "--emit=ir"] + flags), 0).stdout
        path = suite.write(f"graph{len(flags)}{flags[0]}.ir", printed)
        expect(suite.run([path, "--emit=ir", "-O0"]), 0)
        check(suite.run([path, "--emit=ir", "-O0"]).stdout == printed, f"{flags}: the IR does not read back as printed")
    net_plan = expect(suite.run([HEADLESS_CLASSIFIER, "--train", "--emit=plan"]), 0).stdout
    graph = suite.write("classifier.ir", expect(suite.run([HEADLESS_CLASSIFIER, "-O0", "--train", "--emit=ir"]), 0).stdout)
    ir_plan = expect(suite.run([graph, "--emit=plan"]), 0).stdout
    kernels = lambda plan: re.search(r"kernels: \d+, bytes moved: \d+", plan).group(0)
    check(kernels(ir_plan) == kernels(net_plan), "the IR file's plan differs from the network's")


@suite.test
def bad_ir_is_refused_at_its_line():
    good = expect(suite.run([HEADLESS_CLASSIFIER, "--emit=ir"]), 0).stdout
    lines = good.splitlines()
    row = next(i for i, line in enumerate(lines) if "conv2d(" in line)
    column = lines[row].index("conv2d(") + 1
    lines[row] = lines[row].replace("conv2d(", "conv3d(", 1)
    bad = suite.write("bad.ir", "\n".join(lines) + "\n")
    expect(suite.run([bad]), 1, first=rf".*bad\.ir:{row + 1}:{column}: error: .*conv3d.*")
    expect(suite.run([bad, "--batch", "2"]), 1, first=r"resnetc: error: --input and --batch do not apply to .*")
    training = suite.write("step.ir", expect(suite.run([HEADLESS_CLASSIFIER, "-O0", "--train", "--emit=ir"]), 0).stdout)
    expect(suite.run([training, "--train", "--emit=ir"]), 1, first=r"resnetc: error: --train: .* is already a training graph")


if __name__ == "__main__":
    suite.main()
