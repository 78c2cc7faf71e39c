#!/usr/bin/env python3
"""The command line itself, through the real binary: each command's --help, `resnetc help`,
what each kind of bad usage prints (exit status 2, `resnetc: error: ...`, then a pointer at the
--help of the command in use), and the README's commands still parsing.

    python3 tests/cli/suite_cli.py --resnetc build/tools/resnetc/resnetc
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_cases import Suite, check, expect  # noqa: E402

suite = Suite(__doc__)
MODEL = "examples/resnet18.net"
COMMANDS = ("compile", "train", "eval", "bench", "export")


def option_rows(text):
    """The options a --help text lists, as the names at the start of its rows."""
    return set(re.findall(r"^  (-[-\w]+)", text, re.MULTILINE))


def try_line(result, command):
    check(result.stderr.splitlines()[-1] == f"Try 'resnetc {command}--help' for more information.",
          f"the last line does not point at 'resnetc {command}--help'", result)


@suite.test
def top_level_help_lists_the_commands():
    for args in (["--help"], ["-h"], ["help"]):
        result = expect(suite.run(args), 0, stdout=[r"^usage: resnetc \[compile\] MODEL\.net", r"\n  train ",
                                                    r"\n  bench ", r"resnetc help COMMAND"])
        check(result.stderr == "", "help wrote to stderr", result)
        check("--epochs" not in result.stdout, "the top level lists train's options", result)


@suite.test
def train_help_lists_train_options_only():
    result = expect(suite.run(["train", "--help"]), 0, stdout=r"^usage: resnetc train MODEL\.net \[options\]")
    rows = option_rows(result.stdout)
    for option in ("--epochs", "--lr", "--schedule", "--checkpoint", "--resume", "--init", "--max-steps", "--device",
                   "--print-after", "-O0"):
        check(option in rows, f"train --help does not list {option}", result)
    for option in ("--steps", "--emit", "--weights", "--limit", "--profile", "--depth"):
        check(option not in rows, f"train --help lists {option}", result)


@suite.test
def help_command_equals_command_help():
    for command in COMMANDS:
        helped = expect(suite.run(["help", command]), 0)
        check(helped.stdout == suite.run([command, "--help"]).stdout,
              f"'resnetc help {command}' differs from 'resnetc {command} --help'", helped)
        check(helped.stdout == suite.run([command, MODEL, "--help"]).stdout,
              f"'resnetc {command} MODEL --help' differs from 'resnetc {command} --help'", helped)
    check(suite.run([MODEL, "--help"]).stdout == suite.run(["compile", "--help"]).stdout,
          "'resnetc MODEL --help' is not compile's help")


@suite.test
def help_fits_80_columns():
    for args in (["--help"],) + tuple([c, "--help"] for c in COMMANDS):
        result = suite.run(args)
        long = [line for line in result.stdout.splitlines() if len(line) > 80]
        check(not long, f"resnetc {' '.join(args)}: lines over 80 columns: {long}", result)


@suite.test
def unknown_help_topic():
    result = expect(suite.run(["help", "trian"]), 2,
                    r"resnetc: error: there is no command 'trian'; did you mean 'train'\? "
                    r"\(commands: compile, train, eval, predict, bench, plot, export, help\)")
    try_line(result, "")


# Each: the arguments, then the first stderr line, then the command whose --help the message points at.
USAGE_ERRORS = [
    ([], r"no model given", ""),
    ([MODEL, "--dpeth", "2"], r"unknown option '--dpeth'; did you mean '--depth'\?", "compile "),
    (["train", MODEL, "--epoch=3"], r"unknown option '--epoch'; did you mean '--epochs'\?", "train "),
    (["eval", MODEL, "--weights", "w", "--epochs", "3"], r"--epochs does not apply to eval \(it is an option of train\)",
     "eval "),
    (["train", MODEL, "--steps", "3"], r"--steps does not apply to train \(it is an option of bench\)", "train "),
    (["examples/small-fashion.net", "--schedule", "cosine"],
     r"--schedule does not apply to compile \(it is an option of train\)", "compile "),
    (["bench", MODEL, "--emit=ir"], r"--emit does not apply to bench \(it is an option of compile\)", "bench "),
    (["eval", MODEL, "--weights", "w", "--print-after", "dce"],
     r"--print-after does not apply to eval \(it is an option of compile and train\)", "eval "),
    (["train", MODEL, "--weights", "w"], r"train does not take --weights: use --init FILE to start from a "
     r"checkpoint's weights, or --resume to continue a run", "train "),
    (["train", MODEL, "--allow-recipe-change"], r"--allow-recipe-change applies to --resume: .*", "train "),
    (["train", MODEL, "--resume", "--init", "w"], r"--init starts a new run .* use one", "train "),
    (["train", MODEL, "--checkpoint="], r"--checkpoint needs a file name \(it is empty\)", "train "),
    (["train", MODEL, "--checkpoint"], r"--checkpoint needs a value", "train "),
    (["eval", MODEL], r"eval needs --weights FILE", "eval "),
    ([MODEL, "--depth", "0"], r"--depth expects a whole number from 1 to 100, got '0'", "compile "),
    (["train", MODEL, "--lr", "-1"], r"--lr expects a number in \[1e-12, 1000000\), got '-1'", "train "),
    (["bench", MODEL, "--input", "3x32"], r"--input expects CxHxW, like 1x96x96, got '3x32'", "bench "),
    ([MODEL, "--emit=asm"], r"--emit expects table, ir, dot, plan, llvm or cuda, got 'asm'", "compile "),
    ([MODEL, "-O3"], r"there is no optimization level '-O3': use -O0 .*", "compile "),
    ([MODEL, "--train"], r"--train shows the training step: use it with --emit=ir, dot, plan, llvm or cuda",
     "compile "),
    ([MODEL, "--train=1", "--emit=ir"], r"--train takes no value", "compile "),
    ([MODEL, "examples/resnet34.net"], r"more than one model given: '.*resnet18.net' and '.*resnet34.net'",
     "compile "),
]


@suite.test
def usage_errors():
    for args, first, command in USAGE_ERRORS:
        result = expect(suite.run(args), 2, "resnetc: error: " + first)
        check(result.stdout == "", "a usage error printed on stdout", result)
        try_line(result, command)


@suite.test
def readme_commands_still_parse():
    # The README's "Using it" commands that finish in a moment (training and benchmarks take minutes).
    expect(suite.run([MODEL]), 0, stdout=r"Total params: +11,689,512")
    expect(suite.run([MODEL, "--depth", "1"]), 0, stdout=r"^network resnet18")
    expect(suite.run(["compile", MODEL, "--depth", "2"]), 0, stdout=r"^network resnet18")
    expect(suite.run([MODEL, "--format", "json"]), 0, stdout=r'"total_params": 11689512')
    expect(suite.run([MODEL, "--input", "3x32x32", "--batch", "8"]), 0, stdout=r"input \[8, 3, 32, 32\]")
    expect(suite.run([MODEL, "--emit=ir"]), 0, stdout=r"^graph resnet18")
    small = "examples/small-fashion.net"
    expect(suite.run([small, "--emit=plan", "--train"]), 0, stdout=r"kernels: \d+, bytes moved")
    expect(suite.run([small, "--emit=plan", "--train", "-O0"]), 0, stdout=r"kernels: \d+, bytes moved")
    result = expect(suite.run([small, "--emit=ir", "--train", "--print-after=fuse-elementwise"]), 0)
    check("IR after fuse-elementwise" in result.stderr, "--print-after printed nothing on stderr", result)
    expect(suite.run([small, "--emit=dot"]), 0, stdout=r"^digraph")
    expect(suite.run(["--list-passes"]), 0, stdout=r"fuse-elementwise")
    expect(suite.run(["--prelude"]), 0, stdout=r"\nblock basic\b")
    expect(suite.run(["--version"]), 0, stdout=r"^resnetc \d+\.\d+\.\d+\n$")


if __name__ == "__main__":
    suite.main()
