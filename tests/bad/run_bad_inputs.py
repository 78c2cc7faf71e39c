#!/usr/bin/env python3
"""Runs resnetc on every bad input and checks that it fails the way a compiler should.

    python3 tests/bad/run_bad_inputs.py --resnetc build/tools/resnetc/resnetc
    python3 tests/bad/run_bad_inputs.py --resnetc ... --print   # show actual first lines

The cases are the files tests/bad/NN-name.net plus a few generated here in a temporary
directory (too big to commit, or not files at all). tests/bad/expected.txt holds one line
per case, `FILE<TAB>EXPECTED FIRST STDERR LINE`; FILE is relative to the repository root,
where the runner runs resnetc, and `{TMP}` stands for the temporary directory.

Each case must: finish within the timeout, exit with status 1 (not 0, not a signal, not
an internal error), print nothing on stdout, print exactly the expected first line on
stderr, and give every error and note line a `file:line:col` followed by the source line
and a caret under the right column -- except errors about the file as a whole.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MANIFEST = os.path.join(HERE, "expected.txt")
TIMEOUT_S = 5
TMP = "{TMP}"

# Errors that are about the file as a whole have no line and column.
WHOLE_FILE = ("cannot open file", "cannot read file", "file is too large", "no network in this file")

LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<kind>error|note): (?P<msg>.+)$")
UNLOCATED = re.compile(r"^(?P<file>.+?): (?P<kind>error|note): (?P<msg>.+)$")
SOURCE = re.compile(r"^ *(?P<line>\d+) \| (?P<text>.*)$")
CARET = re.compile(r"^ +\| (?P<indent>[ \t]*)\^~*$")


def generate(tmp):
    """Writes the generated cases into tmp; returns their names."""
    def write(name, data):
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(data)

    # A 1 MB line of one word (just under the 1 MiB limit).
    write("long-line.net", b"a" * 1_000_000 + b"\n")
    # A file over the 1 MiB limit, otherwise a fine network.
    write("too-large.net", b"network n {\n  input 1x8x8\n}\n" + b"#" * (1 << 20) + b"\n")
    # 10,000 nested parentheses in an argument.
    write("deep-parens.net",
          b"network n {\n  input 1x8x8\n  stem { conv " + b"(" * 10_000 + b"8" + b")" * 10_000 + b" k3 }\n}\n")
    # 10,000 nested `not`s and 10,000 open braces.
    write("deep-not.net", b"block b(w) {\n  branch { relu }\n  shortcut if " + b"not " * 10_000 + b"w { relu }\n}\n")
    write("deep-braces.net", b"network n {\n  input 1x8x8\n  stem " + b"{" * 10_000 + b"\n")
    # 10,000 gates, each inside the one before.
    write("deep-gates.net", b"network n {\n  input 1x8x8\n  stem { " + b"gate { " * 10_000 + b"\n")
    # 100,000 stages: more layers than a network may have.
    write("many-stages.net", b"block a() {\n  branch { relu; relu }\n}\nnetwork n {\n  input 1x8x8\n"
          + b"  stage a\n" * 100_000 + b"}\n")
    # A directory named like a model, and a file that does not exist.
    os.mkdir(os.path.join(tmp, "directory.net"))


def read_manifest():
    cases = []
    with open(MANIFEST, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            path, sep, expected = line.partition("\t")
            if not sep or not expected:
                sys.exit(f"{MANIFEST}:{number}: expected FILE<TAB>FIRST LINE")
            cases.append((path, expected))
    return cases


def check_output(path, stderr_lines, tmp):
    """Problems with the shape of the diagnostics (locations, source lines, carets)."""
    problems = []
    for i, line in enumerate(stderr_lines):
        m = LOCATED.match(line)
        if m:
            src = SOURCE.match(stderr_lines[i + 1]) if i + 1 < len(stderr_lines) else None
            caret = CARET.match(stderr_lines[i + 2]) if i + 2 < len(stderr_lines) else None
            if not src or not caret or src.group("line") != m.group("line"):
                problems.append(f"line {i + 1}: {line!r} is not followed by its source line and a caret")
                continue
            # Where the quoted line is plain ASCII and not windowed, the caret sits exactly
            # under column `col`.
            text, col = src.group("text"), int(m.group("col"))
            if text.isascii() and "\t" not in text and not text.startswith("...") and col <= len(text) + 1:
                if len(caret.group("indent")) != col - 1:
                    problems.append(f"line {i + 1}: caret under column {len(caret.group('indent')) + 1}, "
                                    f"expected column {col}")
            continue
        m = UNLOCATED.match(line)
        if m and not SOURCE.match(line):
            if m.group("kind") == "error" and not any(w in m.group("msg") for w in WHOLE_FILE):
                problems.append(f"line {i + 1}: error without line:col: {line!r}")
            if m.group("kind") == "error" and m.group("file") != path.replace(TMP, tmp):
                problems.append(f"line {i + 1}: error names {m.group('file')!r}, not {path!r}")
    return problems


def run_case(resnetc, path, expected, tmp):
    """Returns (actual first line, list of problems)."""
    real = path.replace(TMP, tmp)
    want = expected.replace(TMP, tmp)
    try:
        p = subprocess.run([resnetc, real], cwd=ROOT, capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, [f"timed out after {TIMEOUT_S} s (a hang?)"]
    stderr = p.stderr.decode("utf-8", errors="replace")
    lines = stderr.splitlines()
    first = lines[0] if lines else ""
    problems = []
    if p.returncode < 0:
        problems.append(f"killed by signal {-p.returncode} (a crash)")
    elif p.returncode != 1:
        problems.append(f"exit status {p.returncode}, expected 1")
    if "AddressSanitizer" in stderr or "runtime error:" in stderr:
        problems.append("sanitizer report on stderr")
    if p.stdout:
        problems.append(f"printed {len(p.stdout)} bytes on stdout")
    if first != want:
        problems.append(f"first line differs\n      expected: {want}\n      actual:   {first}")
    if not stderr.endswith("\n"):
        problems.append("stderr does not end with a newline")
    problems += check_output(path, lines, tmp)
    return first.replace(tmp, TMP), problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resnetc", required=True, help="path to the resnetc binary")
    parser.add_argument("--print", action="store_true", help="print FILE<TAB>ACTUAL FIRST LINE for every case")
    args = parser.parse_args()
    resnetc = os.path.abspath(args.resnetc)

    cases = read_manifest()
    listed = {path for path, _ in cases}
    on_disk = {f"tests/bad/{n}" for n in os.listdir(HERE) if n.endswith(".net")}
    failures = []
    for missing in sorted(on_disk - listed):
        failures.append((missing, [f"not listed in {os.path.relpath(MANIFEST, ROOT)}"]))
    if len(listed) != len(cases):
        failures.append(("expected.txt", ["a case is listed twice"]))

    with tempfile.TemporaryDirectory(prefix="resnetc-bad-") as tmp:
        generate(tmp)
        for path, expected in cases:
            if not path.startswith(TMP) and not os.path.exists(os.path.join(ROOT, path)):
                failures.append((path, ["listed in the manifest but not on disk"]))
                continue
            first, problems = run_case(resnetc, path, expected, tmp)
            if args.print:
                print(f"{path}\t{first}")
            if problems:
                failures.append((path, problems))

    for path, problems in failures:
        print(f"FAIL {path}")
        for problem in problems:
            print(f"    {problem}")
    print(f"{len(cases) - len(failures)} of {len(cases)} bad inputs rejected as expected")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
