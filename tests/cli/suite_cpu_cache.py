#!/usr/bin/env python3
"""The CPU kernel cache, through the real binary: a second run loads the kernels the first one
compiled (same output, same trained weights, no entry rewritten), --cache-dir and
$XDG_CACHE_HOME choose where, damaged entries are compiled again and rewritten, an unusable
directory costs nothing but the cache, two runs filling one cache at once leave it whole, and
kernels generated for another thread count are entries of their own.
Compile times are printed, never asserted.

    python3 tests/cli/suite_cpu_cache.py --resnetc build/tools/resnetc/resnetc
"""
import os
import re
import shutil
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_cases import TINY_NET, Suite, check, expect, write_idx_subset  # noqa: E402

suite = Suite(__doc__)
MODEL = suite.write("tiny.net", TINY_NET)
DATA = write_idx_subset(suite.path("data"), 96, 64)  # 3 steps an epoch at batch 32
runs = 0


def train(cache_dir=None, env=None):
    """One epoch of the tiny network on the CPU; returns (result, checkpoint bytes)."""
    global runs
    runs += 1
    checkpoint = suite.path(f"run{runs}.safetensors")
    cache = ["--cache-dir", cache_dir] if cache_dir is not None else []
    result = expect(suite.run(["train", MODEL, "--data", DATA, "--epochs", "1", "--device", "cpu", "--checkpoint",
                               checkpoint, *cache], env=env), 0, stdout=r"compiled \d+ kernels in [\d.]+ s")
    with open(checkpoint, "rb") as f:
        return result, f.read()


def timeless(text):
    """stdout without what differs from run to run: times, speeds, the checkpoint's name."""
    text = re.sub(r"[\d.]+ s\b", "T s", text)
    text = re.sub(r"[\d.]+ examples/sec", "N examples/sec", text)
    return re.sub(r"checkpoint: .*", "checkpoint: PATH", text)


def entries(cache_dir):
    """{name: (inode, mtime, bytes)} of the CPU entries; a rewritten entry (renamed over) changes inode."""
    cpu = os.path.join(cache_dir, "cpu")
    found = {}
    for name in sorted(os.listdir(cpu)) if os.path.isdir(cpu) else []:
        path = os.path.join(cpu, name)
        with open(path, "rb") as f:
            found[name] = (os.stat(path).st_ino, os.stat(path).st_mtime_ns, f.read())
    return found


def contents(found):
    """{name: bytes} of what entries() found."""
    return {name: data for name, (_, _, data) in found.items()}


_reference = {}


def reference():
    """A cold run into a cache of its own: its stdout, checkpoint and entries."""
    if not _reference:
        cache_dir = suite.path("reference-cache")
        result, weights = train(cache_dir)
        _reference.update(stdout=timeless(result.stdout), weights=weights, dir=cache_dir, entries=entries(cache_dir))
    return _reference


def check_same_run(result, weights, what):
    check(timeless(result.stdout) == reference()["stdout"], f"{what}: stdout differs from the cold run's", result)
    check(weights == reference()["weights"], f"{what}: the trained weights differ from the cold run's", result)


@suite.test
def a_warm_run_loads_what_the_cold_run_compiled():
    ref = reference()
    check(ref["entries"] and all(name.endswith(".o") for name in ref["entries"]),
          f"the cold run left no entries (only) in {ref['dir']}/cpu: {sorted(ref['entries'])}")
    result, weights = train(ref["dir"])
    check_same_run(result, weights, "warm run")
    check(entries(ref["dir"]) == ref["entries"], "the warm run rewrote or added entries", result)
    check(not os.path.exists(os.path.join(suite.cache_dir, "resnetc", "cpu")),
          "--cache-dir was given, yet $XDG_CACHE_HOME/resnetc/cpu was written")


@suite.test
def bench_twice_with_cache_dir():
    cache_dir = suite.path("bench-cache")
    args = ["bench", "examples/small-fashion.net", "--batch", "8", "--steps", "1", "--warmup", "0",
            "--cache-dir", cache_dir, "--device", "cpu"]
    pattern = r"small_fashion at \[8, 1, 28, 28\] batch 8, -O2 \(\d+ kernels\): 1 training steps in [\d.]+ s " \
              r"\(compile [\d.]+ s\)"
    cold = expect(suite.run(args), 0, stdout=pattern)
    filled = entries(cache_dir)
    check(filled, "the cold bench left no entries", cold)
    warm = expect(suite.run(args), 0, stdout=pattern)
    check(timeless(warm.stdout) == timeless(cold.stdout), "the warm bench prints otherwise", warm)
    check(warm.stderr == cold.stderr == "", "a bench wrote to stderr", warm)
    check(entries(cache_dir) == filled, "the warm bench rewrote or added entries", warm)
    compile_s = [re.search(r"compile ([\d.]+) s", r.stdout).group(1) for r in (cold, warm)]
    print(f"        small-fashion compile: cold {compile_s[0]} s, warm {compile_s[1]} s")


@suite.test
def another_thread_count_is_compiled_into_entries_of_its_own():
    # Kernels are generated for the pool that runs them: the im2col GEMM (here fc's input
    # gradient, 64 rows for 8 columns) sizes its work items by its threads.
    cache_dir = suite.path("threads-cache")
    args = ["bench", "examples/small-fashion.net", "--batch", "8", "--steps", "1", "--warmup", "0",
            "--cache-dir", cache_dir, "--device", "cpu", "--threads"]
    expect(suite.run(args + ["1"]), 0)
    one = entries(cache_dir)
    result = expect(suite.run(args + ["2"]), 0)
    check(one.items() < entries(cache_dir).items(),
          "--threads 2 added no entries to those of --threads 1, or rewrote one of them", result)


@suite.test
def the_default_directory_is_xdg_cache_home_resnetc_cpu():
    xdg = suite.path("xdg")
    result, weights = train(env={"XDG_CACHE_HOME": xdg})
    check_same_run(result, weights, "run without --cache-dir")
    check(contents(entries(os.path.join(xdg, "resnetc"))) == contents(reference()["entries"]),
          "$XDG_CACHE_HOME/resnetc/cpu does not hold the entries --cache-dir gets", result)


@suite.test
def damaged_entries_are_compiled_again_and_rewritten():
    cache_dir = suite.path("damaged-cache")
    shutil.copytree(reference()["dir"], cache_dir)
    intact = contents(entries(cache_dir))
    names = sorted(intact, key=lambda n: len(intact[n]))[:2]  # the smallest: quickest to compile again
    check(len(names) == 2, f"need two entries to damage, have {sorted(intact)}")
    truncated, flipped = (os.path.join(cache_dir, "cpu", n) for n in names)
    with open(truncated, "wb") as f:
        f.write(intact[names[0]][: len(intact[names[0]]) // 2])
    data = bytearray(intact[names[1]])
    data[len(data) // 2] ^= 0x10
    with open(flipped, "wb") as f:
        f.write(data)
    before = entries(cache_dir)

    result, weights = train(cache_dir)
    check_same_run(result, weights, "run over damaged entries")
    after = entries(cache_dir)
    check(contents(after) == intact, "the damaged entries were not rewritten whole", result)
    for name in intact:
        rewritten = after[name][:2] != before[name][:2]
        check(rewritten == (name in names), f"entry {name} was {'' if rewritten else 'not '}rewritten", result)


@suite.test
def an_unusable_cache_directory_costs_only_the_cache():
    blocker = suite.write("not-a-directory", "a file where the cache directory should be")
    result, weights = train(os.path.join(blocker, "cache"))
    check_same_run(result, weights, "run with an unusable cache")
    check(result.stderr == "", "an unusable cache directory was reported", result)
    check(os.path.isfile(blocker), "the file in the cache's way was touched", result)


@suite.test
def two_runs_filling_one_cache_at_once_leave_it_whole():
    cache_dir = suite.path("shared-cache")
    results = [None, None]

    def run(i):
        try:
            results[i] = train(cache_dir)
        except Exception as e:  # a Failure: report it from the main thread
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for outcome in results:
        if isinstance(outcome, Exception):
            raise outcome
        check_same_run(*outcome, "concurrent run")
    filled = entries(cache_dir)
    check(contents(filled) == contents(reference()["entries"]),
          "the concurrent runs left other entries than one run does (or temporary files)")
    result, weights = train(cache_dir)
    check_same_run(result, weights, "run after the concurrent ones")
    check(entries(cache_dir) == filled, "the run after the concurrent ones rewrote entries: they were not whole", result)


suite.main()
