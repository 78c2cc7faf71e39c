#!/usr/bin/env python3
"""resnetc train's recipes beyond the book's SGD (docs/training.md, "Recipes"): Nesterov SGD and
AdamW train, keep their optimizer state (AdamW's moments and step count) in the checkpoint, and a
run stopped inside an epoch resumes to the same bytes as a run never stopped; a resume with
another optimizer or loss is refused unless allowed; bad recipes are refused with clear errors.

    python3 tests/cli/suite_recipes.py --resnetc build/tools/resnetc/resnetc [-k NAME]
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_cases import TINY_NET, Suite, check, expect, read_safetensors, write_idx_subset

suite = Suite(__doc__)
DATA = write_idx_subset(suite.path("data"), 96, 64)  # 3 steps an epoch at batch 32
MODEL = suite.write("tiny.net", TINY_NET)  # 2 epochs, momentum 0.9
CPU = ["--device", "cpu", "--no-progress"]
NESTEROV = ["--nesterov", "--weight-decay", "0.001", "--label-smoothing", "0.1"]
ADAMW = ["--optimizer", "adamw", "--momentum", "0", "--lr", "0.01", "--weight-decay", "0.05", "--warmup-epochs", "1",
         "--warmup-start", "0.1", "--label-smoothing", "0.1", "--no-decay-bn-bias", "--beta2", "0.99"]


def train(*args, model=MODEL):
    return suite.run(["train", model, "--data", DATA, *CPU, *args])


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def tensor(path, name):
    header, _, data = read_safetensors(path)
    begin, end = header[name]["data_offsets"]
    return [v for (v,) in struct.iter_unpack("<f", bytes(data[begin:end]))]


def stopped_and_resumed_equals_one_run(name, recipe):
    """Two epochs in one run, and the same stopped after 4 steps (inside epoch 2) and resumed."""
    one, stopped = suite.path(f"{name}-one.safetensors"), suite.path(f"{name}-stopped.safetensors")
    r = expect(train("--checkpoint", one, *recipe), 0, stdout=[r"epoch 2/2: loss .*", r"checkpoint: .*"])
    expect(train("--checkpoint", stopped, "--max-steps", "4", *recipe), 0,
           stdout=r"epoch 2/2 stopped after batch 1/3.*")
    expect(train("--checkpoint", stopped, "--resume", *recipe), 0,
           stdout=r"resuming from .* inside epoch 2, after batch 1")
    check(read_bytes(stopped) == read_bytes(one), f"the resumed {name} run's checkpoint differs from one run's", r)
    return one


@suite.test
def nesterov_sgd_resumes_to_the_same_bytes():
    path = stopped_and_resumed_equals_one_run("nesterov", NESTEROV)
    header, metadata, _ = read_safetensors(path)
    check("head.fc.weight.velocity" in header, f"no velocity in the checkpoint: {sorted(header)}")
    check(metadata.get("nesterov") == "true" and metadata.get("label_smoothing") == "0.1",
          f"the checkpoint's metadata does not record the recipe: {metadata}")


@suite.test
def adamw_keeps_its_moments_and_step_count_and_resumes_to_the_same_bytes():
    path = stopped_and_resumed_equals_one_run("adamw", ADAMW)
    r = expect(train("--checkpoint", suite.path("line.safetensors"), "--max-steps", "1", *ADAMW), 0,
               stdout=r"training tiny on .*seed 0, adamw \(betas 0\.9, 0\.99, eps 1e-08\), warmup 1 epoch from "
                      r"0\.1 x lr, label smoothing 0\.1, no weight decay on BatchNorm and biases")
    header, metadata, _ = read_safetensors(path)
    for name in ("head.fc.weight.exp_avg", "head.fc.weight.exp_avg_sq", "optimizer.step"):
        check(name in header, f"{name} is not in the checkpoint: {sorted(header)}")
    check(not any(n.endswith(".velocity") for n in header), "an AdamW checkpoint holds SGD's velocity")
    check(tensor(path, "optimizer.step") == [6.0], f"the step count after 2 epochs of 3 steps is "
                                                     f"{tensor(path, 'optimizer.step')}, not 6")
    check(any(v != 0 for v in tensor(path, "head.fc.weight.exp_avg_sq")), "the second moment stayed zero")
    check(metadata.get("optimizer") == "adamw" and metadata.get("beta2") == "0.99" and
          metadata.get("warmup_epochs") == "1" and metadata.get("decay_bn_bias") == "false",
          f"the checkpoint's metadata does not record the recipe: {metadata}")


@suite.test
def the_default_recipe_records_none_of_the_new_fields():
    path = suite.path("default.safetensors")
    expect(train("--checkpoint", path, "--epochs", "1"), 0)
    _, metadata, _ = read_safetensors(path)
    new = {"optimizer", "nesterov", "beta1", "beta2", "eps", "warmup_epochs", "warmup_start", "label_smoothing",
           "decay_bn_bias"} & set(metadata)
    check(not new, f"a default recipe's checkpoint records {sorted(new)}")


@suite.test
def resume_refuses_another_optimizer_or_loss_unless_allowed():
    path = suite.path("changed.safetensors")
    expect(train("--checkpoint", path, "--max-steps", "2", *ADAMW), 0)
    expect(train("--checkpoint", path, "--resume", "--optimizer", "sgd", "--momentum", "0", "--label-smoothing", "0"),
           1, r"resnetc: error: --resume: .*was written with another recipe: optimizer sgd \(the checkpoint's: "
              r"adamw\), .*label_smoothing 0 \(the checkpoint's: 0\.1\);.*--allow-recipe-change.*")
    # SGD from an AdamW checkpoint, allowed: the moments are left behind, the velocity starts at zero.
    expect(train("--checkpoint", path, "--resume", "--optimizer", "sgd", "--momentum", "0.9", "--allow-recipe-change"),
           0,
           stdout=[r"note: resuming with a changed recipe: .*optimizer sgd \(the checkpoint's: adamw\).*",
                   r"epoch 2/2: .*"])
    header, _, _ = read_safetensors(path)
    check("head.fc.weight.velocity" in header and "optimizer.step" not in header,
          f"the resumed SGD run's checkpoint holds {sorted(header)}")
    old = suite.path("sgd.safetensors")
    expect(train("--checkpoint", old, "--max-steps", "2"), 0)
    expect(train("--checkpoint", old, "--resume", "--label-smoothing", "0.2"), 1,
           r"resnetc: error: --resume: .*label_smoothing 0\.2 \(the checkpoint's: 0\).*")


@suite.test
def bad_recipes_are_refused():
    expect(train("--optimizer", "adam"), 2, r"resnetc: error: --optimizer expects sgd or adamw, got 'adam'.*")
    expect(train("--warmup-epochs", "2"), 1, r"resnetc: error: the recipe: the warmup \(2 epochs\) must be shorter than "
                                      r"the run \(2 epochs\).*")
    expect(train("--nesterov", "--momentum", "0"), 1, r"resnetc: error: the recipe: Nesterov momentum needs .*")
    expect(train("--optimizer", "adamw"), 1,
           r"resnetc: error: the recipe: momentum 0\.9 is SGD's .*add --momentum 0 with --optimizer adamw.*")
    expect(train("--beta2", "1"), 2, r"resnetc: error: --beta2 expects a number above 0 and below 1, got '1'.*")
    expect(train("--label-smoothing", "1"), 2, r"resnetc: error: --label-smoothing expects a number in .*")
    bad = suite.write("bad.net", TINY_NET.replace("momentum 0.9", "momentum 0.9\n    optimizer adam"))
    expect(train(model=bad), 1, r".*bad\.net:11:15: error: unknown optimizer 'adam': expected one of sgd, adamw.*")
    bad = suite.write("bad2.net", TINY_NET.replace("momentum 0.9", "momentum 0.9\n    nesterov yes"))
    expect(train(model=bad), 1, r".*bad2\.net:11:14: error: 'nesterov' must be true or false, found 'yes'.*")


@suite.test
def the_train_section_sets_the_recipe():
    text = TINY_NET.replace("momentum 0.9", "optimizer adamw\n    weight_decay 0.01\n    warmup_epochs 1\n"
                                            "    label_smoothing 0.05\n    decay_bn_bias false")
    model = suite.write("adamw.net", text)
    path = suite.path("section.safetensors")
    expect(train("--checkpoint", path, model=model), 0)
    header, metadata, _ = read_safetensors(path)
    check("optimizer.step" in header and metadata.get("label_smoothing") == "0.05" and
          metadata.get("warmup_epochs") == "1", f"the train section's recipe was not used: {metadata}")


@suite.test
def help_lists_the_recipe_flags():
    r = expect(suite.run(["train", "--help"]), 0)
    for flag in ("--optimizer", "--nesterov", "--beta1", "--beta2", "--eps", "--warmup-epochs", "--warmup-start",
                 "--label-smoothing", "--no-decay-bn-bias"):
        check(flag in r.stdout, f"train --help does not list {flag}", r)


suite.main()
