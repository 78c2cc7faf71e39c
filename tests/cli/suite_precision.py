#!/usr/bin/env python3
"""--precision and the train section's `precision` (docs/precision.md): the tiny network trained
in bf16 on the CPU keeps a finite loss close to fp32's, its checkpoint stays float32 and
evaluates in either precision; tf32 on the CPU, an unknown precision and (on a CPU without
avx512_bf16) bf16 are refused with the reason; fp32, the CPU's default, goes unnamed in train's,
bench's and eval's lines, another precision is named; `compile --emit=plan|cuda --precision P`
prints the plan and the CUDA program of precision P.

    python3 tests/cli/suite_precision.py --resnetc build/tools/resnetc/resnetc [-k NAME]
"""
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_cases import TINY_NET, Suite, check, expect, read_safetensors, write_idx_subset

suite = Suite(__doc__)
DATA = write_idx_subset(suite.path("data"), 96, 64)  # 3 steps an epoch at batch 32
MODEL = suite.write("tiny.net", TINY_NET)
CPU = ["--device", "cpu", "--no-progress"]


def host_has_bf16():
    with open("/proc/cpuinfo") as f:
        return re.search(r"^flags\s*:.*\bavx512_bf16\b", f.read(), re.M) is not None


def train(precision, checkpoint, model=MODEL):
    args = ["train", model, "--data", DATA, "--epochs", "1", "--checkpoint", suite.path(checkpoint), *CPU]
    return suite.run(args + (["--precision", precision] if precision else []))


def final_loss(result):
    m = re.search(r"^loss ([0-9.]+|nan|inf), train acc", result.stdout, re.M)
    check(m is not None, "no final loss line", result)
    return float(m.group(1))


@suite.test
def bf16_training_stays_close_to_fp32():
    if not host_has_bf16():
        expect(train("bf16", "bf16.safetensors"), 1, r"resnetc: error: --precision bf16: this CPU lacks avx512_bf16.*")
        return
    fp32 = expect(train("fp32", "fp32.safetensors"), 0)
    bf16 = expect(train("bf16", "bf16.safetensors"), 0)
    a, b = final_loss(fp32), final_loss(bf16)
    check(math.isfinite(b), f"the bf16 loss is {b}", bf16)
    # Three steps from the same weights: bf16's 2^-8 operand rounding moves the loss by far less
    # than training does, but it does move the weights (the runs are not the same computation).
    check(abs(a - b) <= 0.05 * a, f"bf16 loss {b} is not within 5% of fp32's {a}", bf16)
    header, _, data = read_safetensors(suite.path("bf16.safetensors"))
    check(data != read_safetensors(suite.path("fp32.safetensors"))[2], "bf16 and fp32 trained the same weights", bf16)
    dtypes = {t["dtype"] for t in header.values()}
    check(dtypes == {"F32"}, f"the bf16 run's checkpoint holds {dtypes}, not only F32")
    for precision in ("fp32", "bf16"):
        named = "" if precision == "fp32" else ", " + precision
        expect(suite.run(["eval", MODEL, "--data", DATA, "--weights", suite.path("bf16.safetensors"), *CPU[:2],
                          "--precision", precision]), 0, None, rf"test acc [0-9.]+ \(64 images, .* on cpu{named}\)\n")


@suite.test
def the_train_section_chooses_the_precision_and_the_flag_replaces_it():
    model = suite.write("tf32.net", TINY_NET.replace("epochs 2", "epochs 2\n    precision tf32"))
    expect(train(None, "tf32.safetensors", model), 1,
           r"resnetc: error: --precision tf32: TF32 is a format of NVIDIA tensor cores, the CPU has none; use fp32.*")
    # fp32, the CPU's default, is not named in the header (as before --precision existed).
    expect(train("fp32", "fp32-over-tf32.safetensors", model), 0, None, r"(?m)^training .*, seed 0\n")


@suite.test
def an_unknown_precision_is_refused():
    model = suite.write("fp16.net", TINY_NET.replace("epochs 2", "epochs 2\n    precision fp16"))
    expect(train(None, "fp16.safetensors", model), 1,
           r".*fp16\.net:8:15: error: unknown precision 'fp16': expected one of fp32, tf32, bf16.*")
    expect(train("fp16", "fp16-flag.safetensors"), 2, r"resnetc: error: --precision.*fp16.*")


@suite.test
def bench_names_a_precision_other_than_fp32():
    args = ["bench", MODEL, "--batch", "8", "--steps", "1", "--warmup", "0", "--device", "cpu"]
    for fp32 in ([], ["--precision", "fp32"]):  # the CPU's default, not named
        expect(suite.run(args + fp32), 0, None, r"tiny at \[8, 1, 12, 12\] batch 8, -O2 \(\d+ kernels\)")
    if host_has_bf16():
        expect(suite.run(args + ["--precision", "bf16"]), 0, None, r"tiny at \[8, 1, 12, 12\] batch 8, -O2, bf16 \(")


@suite.test
def compile_emits_the_plan_and_cuda_program_of_a_precision():
    def emit(what, *precision):
        return expect(suite.run([MODEL, f"--emit={what}", "--train", *precision]), 0).stdout

    cuda = {p: emit("cuda", "--precision", p) for p in ("fp32", "tf32", "bf16")}
    check(emit("cuda") == cuda["tf32"], "--emit=cuda's default is not the tf32 program")
    check("mma.sync" not in cuda["fp32"], "the fp32 program uses tensor cores")
    check("rc_mma_tf32(" in cuda["tf32"] and "bf16" not in cuda["tf32"], "the tf32 program is not on TF32")
    check("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32" in cuda["bf16"], "the bf16 program has no bf16 mma")
    wgrad = re.findall(r"^// conv weight gradient, .*", cuda["bf16"], re.M)
    check(wgrad and all(line.endswith("BF16 mma.sync") for line in wgrad),
          f"the bf16 program's weight gradients are not all on bf16 mma.sync: {wgrad}")
    plan = emit("plan")
    check(plan == emit("plan", "--precision", "fp32") and "bf16 operands" not in plan,
          "--emit=plan's default is not the fp32 plan")
    check("bf16 operands" in emit("plan", "--precision", "bf16"), "the bf16 plan marks no bf16 operands")
    for what in ("ir", "table"):
        expect(suite.run([MODEL, f"--emit={what}", "--precision", "bf16"]), 2,
               r"resnetc: error: --precision chooses the kernels' arithmetic: use it with --emit=plan or --emit=cuda.*")
    expect(suite.run(["compile", MODEL, "--emit=cuda", "--precision", "fp16"]), 2,
           r"resnetc: error: --precision expects fp32, tf32 or bf16, got 'fp16'.*")


suite.main()
