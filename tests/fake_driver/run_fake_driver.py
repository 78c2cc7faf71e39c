#!/usr/bin/env python3
"""Runs `resnetc --device cuda` on the fake CUDA driver (fake_driver.cpp) and checks what a user
of a GPU would see: training, benchmarking and evaluating work; a driver that does not load or
initialise, an old GPU, too little memory and a kernel that faults end with a clear message and
exit status 1; a fault leaves the last checkpoint usable; the step's CUDA graph launches the same
kernels as launching them one by one; a bf16 plan compiles and runs; train, bench and eval name
the precision that ran: tf32 unless --precision says otherwise.

    python3 tests/fake_driver/run_fake_driver.py --resnetc build/tools/resnetc/resnetc \\
        --driver build/tests/fake_driver/libresnetc_fake_cuda.so

The fake's kernels do nothing, so losses and accuracies are meaningless and nothing here looks
at them. Every case shares one kernel cache, so NVRTC compiles the plans once.
"""
import argparse
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = "examples/small-fashion.net"  # batch 128 in its recipe
TRAIN_IMAGES, TEST_IMAGES = 256, 128  # two training steps and one test batch per epoch
TIMEOUT_S = 240  # the first run compiles the plans


class Failure(Exception):
    pass


def check(condition, what, result=None):
    if not condition:
        detail = f"\n--- stdout\n{result.stdout}--- stderr\n{result.stderr}" if result is not None else ""
        raise Failure(what + detail)


def write_data(directory):
    """A small Fashion-MNIST look-alike: the four IDX files, uncompressed, random pixels."""
    rng = random.Random(1)
    for split, count in (("train", TRAIN_IMAGES), ("t10k", TEST_IMAGES)):
        with open(os.path.join(directory, f"{split}-images-idx3-ubyte"), "wb") as f:
            f.write(struct.pack(">IIII", 0x803, count, 28, 28))
            f.write(bytes(rng.randrange(256) for _ in range(count * 28 * 28)))
        with open(os.path.join(directory, f"{split}-labels-idx1-ubyte"), "wb") as f:
            f.write(struct.pack(">II", 0x801, count))
            f.write(bytes(i % 10 for i in range(count)))


def read_checkpoint(path):
    """(metadata, tensor bytes) of a safetensors file, checking that it is whole and consistent."""
    with open(path, "rb") as f:
        blob = f.read()
    check(len(blob) >= 8, f"{path}: shorter than a safetensors header")
    (header_size,) = struct.unpack_from("<Q", blob)
    header = json.loads(blob[8:8 + header_size])
    metadata = header.pop("__metadata__", {})
    data = blob[8 + header_size:]
    spans = sorted(tuple(t["data_offsets"]) for t in header.values())
    check(spans and spans[0][0] == 0 and spans[-1][1] == len(data)
          and all(a[1] == b[0] for a, b in zip(spans, spans[1:])),
          f"{path}: the tensors do not tile the data section exactly")
    return metadata, data


def launch_names(log):
    with open(log) as f:
        return [line.split()[1] for line in f if line.startswith("launch ")]


def count_runs(sequence, block):
    """Non-overlapping occurrences of `block` as a contiguous run in `sequence`."""
    count, i = 0, 0
    while i + len(block) <= len(sequence):
        if sequence[i:i + len(block)] == block:
            count, i = count + 1, i + len(block)
        else:
            i += 1
    return count


class Runner:
    def __init__(self, resnetc, driver, tmp):
        self.resnetc, self.tmp = resnetc, tmp
        self.data = os.path.join(tmp, "data")
        self.cache = os.path.join(tmp, "cache")
        os.mkdir(self.data)
        write_data(self.data)
        # Nothing inherited may change how the driver or the runtime behaves.
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("FAKE_CUDA_", "RESNETC_", "CUDA_"))}
        self.env["RESNETC_CUDA_DRIVER"] = driver

    def path(self, name):
        return os.path.join(self.tmp, name)

    def run(self, *args, **env):
        """resnetc ARGS with the fake driver and `env` added; never killed by a signal."""
        result = subprocess.run([self.resnetc, *args], cwd=ROOT, env={**self.env, **env}, capture_output=True,
                                text=True, timeout=TIMEOUT_S)
        check(result.returncode >= 0, f"resnetc {' '.join(args)} died of signal {-result.returncode}", result)
        return result

    def train(self, checkpoint, epochs, *options, **env):
        # The fake's kernels write nothing, and the trainer reads the GPU shuffle's order back as
        # indices: zeroed memory makes that order valid (every index 0).
        env.setdefault("FAKE_CUDA_FILL", "0")
        return self.run("train", MODEL, "--device", "cuda", "--epochs", str(epochs), "--data", self.data,
                        "--cache-dir", self.cache, "--checkpoint", self.path(checkpoint), "--no-progress", *options,
                        **env)

    def bench_step(self, log, **env):
        """The launches of one training step, as bench makes it (no batch kernels, no evaluation)."""
        result = self.run("bench", MODEL, "--device", "cuda", "--cache-dir", self.cache, "--warmup", "0",
                          "--steps", "1", FAKE_CUDA_LOG=self.path(log), **env)
        check(result.returncode == 0, "bench of one step failed", result)
        return launch_names(self.path(log))


def case_train_and_bench(r):
    result = r.train("a.safetensors", 1, FAKE_CUDA_LOG=r.path("a.log"))
    check(result.returncode == 0, "train --epochs 1 failed", result)
    check("cuda:0 (resnetc fake GPU)" in result.stdout, "train does not name the fake device", result)
    check(re.search(r"^training .*, seed \d+, tf32\b", result.stdout, re.M), "train's header does not say tf32, the "
          "GPU's default", result)
    metadata, _ = read_checkpoint(r.path("a.safetensors"))
    check(metadata.get("epoch") == "1", f"the checkpoint's metadata is {metadata}, not epoch 1")
    check(any(name.endswith(".cubin") for name in os.listdir(r.cache)),
          "--cache-dir holds no compiled kernels: the option was not applied")

    # Default fill (0xFF, never zeroed): bench reads only the loss, which the runtime zeroes.
    result = r.run("bench", MODEL, "--device", "cuda", "--cache-dir", r.cache, "--steps", "3", "--warmup", "1")
    check(result.returncode == 0, "bench failed", result)
    check(re.search(r"examples/sec on cuda:0 \(resnetc fake GPU\)", result.stdout), "bench's summary is missing",
          result)
    check(re.search(r"-O2, tf32 \(\d+ kernels\)", result.stdout), "bench's summary does not say tf32", result)

    result = r.run("eval", MODEL, "--device", "cuda", "--cache-dir", r.cache, "--data", r.data, "--weights",
                   r.path("a.safetensors"))
    check(result.returncode == 0, "eval of the checkpoint failed", result)
    check("test acc" in result.stdout and f"({TEST_IMAGES} images" in result.stdout, "eval printed no accuracy",
          result)
    check(result.stdout.rstrip().endswith("(resnetc fake GPU), tf32)"), "eval does not say tf32", result)


def case_short_batch_and_wrong_order(r):
    # 256 images in batches of 96: two steps, then one of 64 by a second plan on the same GPU.
    result = r.train("s.safetensors", 1, "--batch", "96")
    check(result.returncode == 0 and "epoch 1/1" in result.stdout, "training with a short last batch failed", result)
    # Memory no kernel wrote (the fake runs none) read back as the shuffle's order: refused, named.
    result = r.train("w.safetensors", 1, FAKE_CUDA_FILL="255")
    check(result.returncode == 1 and "rc_batch_shuffle drew a wrong order for epoch 0: position 0 holds 4294967295, "
          f"past the {TRAIN_IMAGES} examples" in result.stderr, "an order out of range is not refused by name", result)


def case_no_usable_driver(r):
    # --device cuda says why there is no GPU, in the loader's or the driver's words.
    missing = r.path("no-such-libcuda.so")
    result = r.run("bench", MODEL, "--device", "cuda", RESNETC_CUDA_DRIVER=missing)
    check(result.returncode == 1 and f"no NVIDIA driver found ({missing} could not be loaded: " in result.stderr
          and "use --device cpu" in result.stderr, "a driver that does not load is not reported as such", result)
    result = r.run("bench", MODEL, "--device", "cuda", FAKE_CUDA_CC="not-a-number")  # the fake's cuInit fails
    check(result.returncode == 1 and "cuInit: CUDA_ERROR_INVALID_VALUE: invalid argument; use --device cpu"
          in result.stderr, "a failing cuInit is not reported as such", result)


def case_old_gpu(r):
    result = r.train("b.safetensors", 1, FAKE_CUDA_CC="50")
    check(result.returncode == 1, f"an sm_50 GPU: exit status {result.returncode}, not 1", result)
    check("resnetc fake GPU has compute capability 5.0" in result.stderr and "8.0 or newer" in result.stderr,
          "an sm_50 GPU is not refused with the device, its compute capability and the minimum", result)
    check(not os.path.exists(r.path("b.safetensors")), "a checkpoint was written for a GPU that was refused")


def case_out_of_memory(r):
    result = r.train("c.safetensors", 1, FAKE_CUDA_MEMORY=str(64 << 20))
    check(result.returncode == 1, f"64 MiB of GPU memory: exit status {result.returncode}, not 1", result)
    needs = re.search(r"plan '\w+' needs ([\d.]+) MiB of GPU memory .* could not provide it: cuMemAlloc\(.*\): "
                      r"CUDA_ERROR_OUT_OF_MEMORY: out of memory\. A smaller --batch needs less", result.stderr)
    check(needs, "running out of memory does not name the plan's needs and suggest a smaller --batch", result)
    check(float(needs.group(1)) > 64, f"the plan needs {needs.group(1)} MiB, which fits in 64 MiB", result)


def used_by(emitted_cuda):
    """CUDA function -> the plan kernels the emitter says it serves ("// Used by a, b." above it)."""
    return {m.group(2): set(m.group(1).split(", "))
            for m in re.finditer(r"^// Used by (.*)\.\nstruct (\w+)_k \{", emitted_cuda, re.M)}


def case_launch_fault_in_epoch_2(r):
    # Where epoch 2 starts: epoch 1 of a 2-epoch run launches what a 1-epoch run does.
    clean = r.train("d-clean.safetensors", 2, FAKE_CUDA_LOG=r.path("d-clean.log"))
    check(clean.returncode == 0, "a clean 2-epoch run failed", clean)
    one_epoch = launch_names(r.path("a.log"))
    two_epochs = launch_names(r.path("d-clean.log"))
    check(two_epochs[:len(one_epoch)] == one_epoch and len(two_epochs) > len(one_epoch),
          "epoch 1 of a 2-epoch run launches differently from a 1-epoch run")
    emitted = r.run(MODEL, "--emit=cuda", "--train", "--batch", "128")
    check(emitted.returncode == 0, "--emit=cuda --train failed", emitted)
    plan_kernels = used_by(emitted.stdout)
    # The tenth launch of a training-plan kernel in epoch 2 (its first step) faults.
    epoch_2 = [i for i in range(len(one_epoch), len(two_epochs)) if two_epochs[i] in plan_kernels]
    fault = epoch_2[9] + 1  # FAKE_CUDA_FAIL_LAUNCH counts from 1
    faulting_function = two_epochs[fault - 1]

    # Defaults (the step as a CUDA graph, asynchronous faults): the plan is named, and how to find
    # the kernel.
    result = r.train("d.safetensors", 2, FAKE_CUDA_FAIL_LAUNCH=str(fault))
    check(result.returncode == 1, f"a kernel fault: exit status {result.returncode}, not 1", result)
    check("epoch 1/2" in result.stdout and "epoch 2/2" not in result.stdout, "the fault did not stop epoch 2",
          result)
    check(re.search(r"running plan '\w+' on resnetc fake GPU failed: .*CUDA_ERROR_ILLEGAL_ADDRESS", result.stderr)
          and "RESNETC_CUDA_GRAPHS=0 CUDA_LAUNCH_BLOCKING=1" in result.stderr,
          "the fault's message does not name the plan and how to find the kernel", result)

    # One launch at a time, blocking: the launch that faulted names its plan kernel.
    result = r.train("d-named.safetensors", 2, FAKE_CUDA_FAIL_LAUNCH=str(fault), RESNETC_CUDA_GRAPHS="0",
                     CUDA_LAUNCH_BLOCKING="1", FAKE_CUDA_LOG=r.path("d-named.log"))
    check(result.returncode == 1, f"a blocking kernel fault: exit status {result.returncode}, not 1", result)
    named = re.search(r"launching the kernel of '([^']+)' failed: cuLaunchKernel\(.*\): CUDA_ERROR_ILLEGAL_ADDRESS",
                      result.stderr)
    check(named, "a blocking launch's fault does not name the plan kernel", result)
    check(launch_names(r.path("d-named.log"))[-1] == faulting_function,
          f"the fake did not fault at launch {fault} ({faulting_function})")
    check(named.group(1) in plan_kernels[faulting_function],
          f"the fault is blamed on '{named.group(1)}', but {faulting_function} runs "
          f"{sorted(plan_kernels[faulting_function])}", result)

    # Epoch 1's checkpoint survives whole: the same bytes either way, the weights of a clean run
    # with the same seed, and a run resumed from it finishes.
    metadata, tensors = read_checkpoint(r.path("d.safetensors"))
    check(metadata.get("epoch") == "1" and metadata.get("epochs") == "2",
          f"after a fault in epoch 2 the checkpoint's metadata is {metadata}")
    with open(r.path("d.safetensors"), "rb") as a, open(r.path("d-named.safetensors"), "rb") as b:
        check(a.read() == b.read(), "the two faulting runs left different epoch-1 checkpoints")
    check(tensors == read_checkpoint(r.path("a.safetensors"))[1],
          "the epoch-1 checkpoint's tensors differ from a clean 1-epoch run's")
    result = r.train("d.safetensors", 2, "--resume")
    check(result.returncode == 0 and "after epoch 1" in result.stdout and "epoch 2/2" in result.stdout,
          "resuming from the epoch-1 checkpoint failed", result)


def case_graphs_on_and_off(r):
    step = r.bench_step("e-step.log")
    check(step == r.bench_step("e-step-nograph.log", RESNETC_CUDA_GRAPHS="0"),
          "a bench step launches different kernels with and without CUDA graphs")
    logs = {}
    for graphs in ("1", "0"):
        log = r.path(f"e-train-{graphs}.log")
        result = r.train(f"e-{graphs}.safetensors", 1, RESNETC_CUDA_GRAPHS=graphs, FAKE_CUDA_LOG=log)
        check(result.returncode == 0, f"train with RESNETC_CUDA_GRAPHS={graphs} failed", result)
        logs[graphs] = launch_names(log)
        steps = count_runs(logs[graphs], step)
        check(steps == TRAIN_IMAGES // 128,
              f"RESNETC_CUDA_GRAPHS={graphs}: the step's {len(step)} kernels ran {steps} times in an epoch of "
              f"{TRAIN_IMAGES // 128} steps")
    check(logs["1"] == logs["0"], "training launches different kernels with and without CUDA graphs")


def case_bf16(r):
    # The bf16 program (bf16 mma.sync GEMMs) compiles with NVRTC and runs its launches.
    result = r.run("bench", MODEL, "--device", "cuda", "--cache-dir", r.cache, "--steps", "2", "--warmup", "1",
                   "--precision", "bf16")
    check(result.returncode == 0, "bench --precision bf16 failed", result)
    check(re.search(r"-O2, bf16 \(\d+ kernels\)", result.stdout), "bench's summary does not say bf16", result)


def case_precision(r):
    # --precision fp32 is a program of its own (no tensor cores: tests/cuda_codegen), compiled and
    # run, and named; tf32 is the default's program.
    for precision in ("fp32", "tf32"):
        cubins = len(os.listdir(r.cache))
        result = r.run("bench", MODEL, "--device", "cuda", "--cache-dir", r.cache, "--steps", "1", "--warmup", "0",
                       "--precision", precision)
        check(result.returncode == 0, f"bench --precision {precision} failed", result)
        check(re.search(rf"-O2, {precision} \(\d+ kernels\)", result.stdout),
              f"bench's summary does not say {precision}", result)
        grew = len(os.listdir(r.cache)) > cubins
        check(grew == (precision == "fp32"), f"--precision {precision} {'did not compile' if not grew else 'compiled'} "
              "a program of its own", result)
    result = r.run("eval", MODEL, "--device", "cuda", "--cache-dir", r.cache, "--data", r.data, "--weights",
                   r.path("a.safetensors"), "--precision", "fp32")
    check(result.returncode == 0 and result.stdout.rstrip().endswith("(resnetc fake GPU), fp32)"),
          "eval --precision fp32 failed or does not say fp32", result)


CASES = [case_train_and_bench, case_short_batch_and_wrong_order, case_no_usable_driver, case_old_gpu, case_out_of_memory, case_launch_fault_in_epoch_2,
         case_graphs_on_and_off,
         case_bf16, case_precision]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resnetc", required=True)
    parser.add_argument("--driver", required=True, help="the fake driver library")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="resnetc-fake-driver-")
    failed = 0
    try:
        runner = Runner(os.path.abspath(args.resnetc), os.path.abspath(args.driver), tmp)
        for case in CASES:  # in order: later cases use earlier ones' checkpoints and logs
            try:
                case(runner)
                print(f"ok   {case.__name__}")
            except (Failure, subprocess.TimeoutExpired) as e:
                failed += 1
                print(f"FAIL {case.__name__}: {e}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(CASES) - failed} of {len(CASES)} cases passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
