#!/usr/bin/env python3
"""resnetc train as N processes of an OpenMPI job (docs/distributed.md): two ranks at global
batch B end with the weights of one process at batch B (a network without BatchNorm, whose
gradient does not depend on how the batch is split), also through an uneven last short batch,
and also with the gradients all-reduced in several small buckets while the backward goes on;
with --sync-bn, so does a network with BatchNorm, whose step without it is the mean of the
steps one process takes on each rank's examples alone; each rank evaluates its slice of the
test split (with BatchNorm, with the checkpoint's running statistics); a run stopped by two
ranks resumes in one process to the weights of a run never stopped; a batch the ranks cannot
share, ranks with another recipe or other starting weights are refused; a killed or stopped
rank ends the job within seconds and leaves the last checkpoint intact, a job stopped as a whole
goes on when continued; an error, a bad command line too, is printed
once, or with the rank that alone hit it; a process that
mpirun did not start never loads MPI, and a rank that cannot load it says so.

    python3 tests/cli/suite_distributed.py --resnetc build/tools/resnetc/resnetc [-k NAME]
"""
import math
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_cases import (ROOT, TINY_NET, Failure, Suite, check, expect, fashion_images, read_safetensors,
                       write_idx_subset)

suite = Suite(__doc__)
MODEL = os.path.join(ROOT, "tests", "cli", "no_batchnorm.net")  # batch 16, 2 epochs
BN_MODEL = os.path.join(ROOT, "tests", "cli", "batchnorm.net")  # the same with BatchNorm
# Buckets of 512 bytes: the small networks' gradients travel in several.
SMALL_BUCKETS = ["--bucket-mb", "0.00048828125"]
# 73 images: 4 full batches of 16 and a short one of 9, which two ranks share 5 and 4.
DATA = write_idx_subset(suite.path("data"), 73, 24)
CPU = ["--device", "cpu", "--no-progress"]
# OpenMPI counts physical cores as slots and refuses root unless told: CI runs 2 ranks on 2
# cores, as root.
MPIRUN = ["mpirun", "--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])


def train_args(checkpoint, *args, data=DATA, model=MODEL):
    return ["train", model, "--data", data, "--checkpoint", checkpoint, *CPU, *args]


def mpirun(*ranks, timeout=180, env=None):
    """mpirun running resnetc with each argument list of `ranks` as one rank (MPMD: `A : B`)."""
    if shutil.which("mpirun") is None:
        raise Failure("mpirun is not installed (tools/setup installs openmpi-bin)")
    command = list(MPIRUN)
    for i, args in enumerate(ranks):
        command += ([":"] if i else []) + ["-np", "1", suite.resnetc] + [str(a) for a in args]
    full_env = dict(os.environ, XDG_CACHE_HOME=suite.cache_dir, **(env or {}))
    try:
        return subprocess.run(command, cwd=ROOT, env=full_env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure(f"{' '.join(command)} did not finish within {timeout} s")


def tensors(path):
    header, _, data = read_safetensors(path)
    out = {}
    for name, t in header.items():
        begin, end = t["data_offsets"]
        out[name] = struct.unpack(f"<{(end - begin) // 4}f", bytes(data[begin:end]))
    return out


def largest_difference(path, reference, what):
    """The largest difference of a value of `path` from `reference`'s, relative to 1e-5 + 1e-4 |y|
    (above 1: not within float tolerance), and where it is."""
    a, b = tensors(path), tensors(reference)
    check(sorted(a) == sorted(b), f"{what}: other tensors than the single process's")
    return max(((abs(x - y) / (1e-5 + 1e-4 * abs(y)), f"{name}[{i}] is {x}, the single process's {y}")
                for name in a for i, (x, y) in enumerate(zip(a[name], b[name]))), key=lambda d: d[0])


def check_close(path, reference, what):
    """Every tensor of `path` within float tolerance of `reference`'s."""
    difference, where = largest_difference(path, reference, what)
    if difference > 1:
        raise Failure(f"{what}: {where}")


_single = {}


def single_process(model=MODEL):
    """One process training `model` at batch 16: (checkpoint, stdout)."""
    if model not in _single:
        path = suite.path(f"single-{os.path.basename(model)}.safetensors")
        r = expect(suite.run(train_args(path, model=model)), 0)
        _single[model] = path, r.stdout
    return _single[model]


def epoch_lines(stdout):
    return [line for line in stdout.splitlines() if line.startswith("epoch ")]


@suite.test
def two_ranks_train_the_weights_of_one_process():
    reference, reference_stdout = single_process()
    path = suite.path("two.safetensors")
    r = expect(mpirun(train_args(path), train_args(path)), 0,
               stdout=r"data-parallel: 2 processes \(MPI\), each training 8 examples of every batch of 16")
    check_close(path, reference, "2 ranks")
    # The reports are global and printed once: the same epochs, losses and accuracies (the test
    # accuracy of both ranks' shares of the test split).
    lines, expected = epoch_lines(r.stdout), epoch_lines(reference_stdout)
    check(len(lines) == len(expected) == 2, "not one line per epoch", r)
    for line, want in zip(lines, expected):
        check(line.split(", ")[:3] == want.split(", ")[:3], f"{line!r} is not the single process's {want!r}", r)


def eval_accuracy(result):
    match = re.search(r"^test acc ([0-9.]+) \((\d+) images", result.stdout, re.M)
    check(match is not None, "no test accuracy", result)
    return round(float(match.group(1)) * int(match.group(2)))


@suite.test
def two_ranks_evaluate_a_slice_each():
    """resnetc eval under mpirun: rank 1 reads a copy of the test split whose labels are all
    shifted by one, so the correct count says which images each rank evaluated: of 13 images (one
    evaluation batch of 2 x 8), rank 0 the first 7, rank 1 the next 6, each counted once."""
    weights, _ = single_process()
    shifted = write_idx_subset(suite.path("shifted"), 73, 24, labels=lambda split, i, v: (v + 1) % 10)

    def correct(data, limit):
        return eval_accuracy(expect(suite.run(["eval", MODEL, "--data", data, "--weights", weights, *CPU, "--limit",
                                               str(limit)]), 0))

    expected = correct(DATA, 7) + correct(shifted, 13) - correct(shifted, 7)
    check(expected != correct(DATA, 13), "the fixture cannot tell a sharded evaluation from rank 0's alone")
    args = ["eval", MODEL, "--weights", weights, *CPU, "--limit", "13", "--data"]
    r = expect(mpirun(args + [DATA], args + [shifted]), 0, stdout=r"test acc .*")
    check(eval_accuracy(r) == expected, f"{eval_accuracy(r)} of 13 correct, not {expected}", r)
    check(r.stdout.count("test acc") == 1, "the accuracy is not printed once", r)


@suite.test
def with_batchnorm_the_epochs_accuracy_is_the_checkpoints():
    """Each rank keeps its own BatchNorm running statistics; the epoch's sharded evaluation uses
    rank 0's, the checkpoint's, so one process evaluating the checkpoint gets the same accuracy
    (with rank 1's own statistics, 3 of these 400 images came out otherwise)."""
    model = suite.write("tiny.net", TINY_NET)
    data = write_idx_subset(suite.path("bn-data"), 1000, 400)
    path = suite.path("bn.safetensors")
    args = ["train", model, "--data", data, "--checkpoint", path, *CPU, "--epochs", "2", "--batch", "32"]
    r = expect(mpirun(args, args), 0)
    line = epoch_lines(r.stdout)[-1]
    epoch_acc = float(re.search(r"test acc ([0-9.]+)", line).group(1))
    e = expect(suite.run(["eval", model, "--data", data, "--weights", path, *CPU]), 0, stdout=r"test acc .*")
    check(abs(eval_accuracy(e) / 400 - epoch_acc) <= 0.0005 + 1e-9,
          f"the epoch line's {line!r} is not the checkpoint's accuracy {eval_accuracy(e)}/400", r)


@suite.test
def two_ranks_in_small_buckets_train_the_weights_of_one_process():
    plan = expect(suite.run(["compile", MODEL, "--emit=plan", "--train", "--collectives", *SMALL_BUCKETS]), 0).stdout
    buckets = [line for line in plan.splitlines() if "all_reduce gradients" in line]
    check(len(buckets) >= 3, f"the plan places {len(buckets)} buckets of 512 bytes, not several:\n{plan}")
    reference, _ = single_process()
    path = suite.path("buckets.safetensors")
    expect(mpirun(train_args(path, *SMALL_BUCKETS), train_args(path, *SMALL_BUCKETS)), 0,
           stdout=r"all-reduce: rank 0 waited \d+\.\d% of its training steps' time for it")
    check_close(path, reference, "2 ranks in buckets of 512 bytes")


@suite.test
def two_ranks_with_sync_bn_train_the_weights_of_one_process():
    reference, _ = single_process(BN_MODEL)
    path = suite.path("syncbn.safetensors")
    args = train_args(path, "--sync-bn", *SMALL_BUCKETS, model=BN_MODEL)
    expect(mpirun(args, args), 0)
    # Every tensor, the running statistics too (made unbiased with the global batch's count).
    check_close(path, reference, "2 ranks with --sync-bn")


@suite.test
def without_sync_bn_each_rank_normalizes_its_own_examples():
    reference, _ = single_process(BN_MODEL)
    path = suite.path("ownbn.safetensors")
    expect(mpirun(train_args(path, model=BN_MODEL), train_args(path, model=BN_MODEL)), 0)
    difference, where = largest_difference(path, reference, "2 ranks without --sync-bn")
    check(difference > 100, f"2 ranks normalizing 8 examples each end close to one process normalizing 16 ({where})")


def epoch_order(seed, epoch, n):
    """runtime/data/sampler.cpp's epoch_order(seed, epoch, n): the order every rank draws."""
    mask = (1 << 64) - 1

    def mix(x):  # SplitMix64
        x = (x + 0x9E3779B97F4A7C15) & mask
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
        return x ^ (x >> 31)

    stream = mix(mix(seed) ^ (epoch & mask))
    bits = (n - 1).bit_length() if n > 1 else 0
    keys = sorted((mix((stream + i * 0x9E3779B97F4A7C15) & mask) >> bits << bits) | i for i in range(n))
    return [key & ((1 << bits) - 1) for key in keys]


def write_idx_images(directory, train_indices, test_count):
    """IDX files of the real Fashion-MNIST training images at `train_indices` (in that order) and
    the first `test_count` test images."""
    os.makedirs(directory, exist_ok=True)
    pixels, labels = fashion_images("train", max(train_indices) + 1)
    chosen = [(pixels[i * 784:(i + 1) * 784], labels[i]) for i in train_indices]
    splits = {"train": (b"".join(p for p, _ in chosen), [l for _, l in chosen]), "t10k": fashion_images("t10k", test_count)}
    for split, (images, names) in splits.items():
        with open(os.path.join(directory, f"{split}-images-idx3-ubyte"), "wb") as f:
            f.write(struct.pack(">IIII", 0x803, len(names), 28, 28) + images)
        with open(os.path.join(directory, f"{split}-labels-idx1-ubyte"), "wb") as f:
            f.write(struct.pack(">II", 0x801, len(names)) + bytes(names))
    return directory


@suite.test
def without_sync_bn_two_ranks_step_as_one_process_on_each_rank_s_examples():
    """Per-replica BatchNorm: one step of 2 ranks at batch 16 moves every weight by the mean of
    the steps that one process takes on each rank's 8 examples alone (SGD's first step, its
    momentum and weight decay included, is linear in the gradient), and keeps rank 0's running
    statistics."""
    order = epoch_order(0, 0, 16)  # the recipe's seed, the first epoch
    whole = write_idx_images(suite.path("sixteen"), list(range(16)), 8)
    replicas = []
    for r in range(2):
        data = write_idx_images(suite.path(f"replica{r}"), order[8 * r:8 * r + 8], 8)
        replicas.append(suite.path(f"replica{r}.safetensors"))
        expect(suite.run(train_args(replicas[-1], "--epochs", "1", "--batch", "8", data=data, model=BN_MODEL)), 0)
    path = suite.path("replicas.safetensors")
    args = train_args(path, "--epochs", "1", data=whole, model=BN_MODEL)
    expect(mpirun(args, args), 0)
    got, first, second = tensors(path), tensors(replicas[0]), tensors(replicas[1])
    check(sorted(got) == sorted(first), "other tensors than the single processes'")
    for name in got:
        rank_0_only = "running" in name
        for i, x in enumerate(got[name]):
            y = first[name][i] if rank_0_only else (first[name][i] + second[name][i]) / 2
            if not abs(x - y) <= 1e-5 + 1e-4 * abs(y):
                raise Failure(f"{name}[{i}] is {x}, {'rank 0' if rank_0_only else 'the mean of'} the replicas' {y}")


@suite.test
def a_run_stopped_by_two_ranks_resumes_in_one_process():
    reference, _ = single_process()
    path = suite.path("resumed.safetensors")
    expect(suite.run(train_args(path, "--nproc", "2", "--max-steps", "3")), 0,
           stdout=r"stopped after 3 training steps")
    expect(suite.run(train_args(path, "--resume")), 0, stdout=r"resuming from .* inside epoch 1, after batch 3")
    check_close(path, reference, "resumed after 2 ranks")


@suite.test
def a_single_process_does_not_load_mpi():
    single_process()  # compiles the model into the suite's cache
    r = expect(suite.run(train_args(suite.path("alone.safetensors"), "--max-steps", "1"), env={"LD_DEBUG": "files"}),
               0)
    check("libmpi" not in r.stderr, "a process that mpirun did not start loaded MPI", r)


@suite.test
def a_rank_without_openmpi_says_so():
    path = suite.path("nompi.safetensors")
    r = mpirun(train_args(path), train_args(path), env={"RESNETC_MPI_LIBRARY": "/nonexistent/libmpi.so.40"})
    check(r.returncode != 0, "the job did not fail", r)
    # Before MPI is loaded the ranks cannot compare their errors: each prints its own, with its rank.
    for rank in range(2):
        check(f"rank {rank}: resnetc: error: this process was started by mpirun, but OpenMPI's library could not be "
              "loaded" in r.stderr, f"no message from rank {rank}", r)


@suite.test
def a_batch_the_ranks_cannot_share_is_refused():
    path = suite.path("uneven.safetensors")
    r = mpirun(train_args(path, "--batch", "15"), train_args(path, "--batch", "15"))
    check(r.returncode != 0, "the job did not fail", r)
    check(r.stderr.count("resnetc: error: batch 15 does not divide among 2 processes") == 1, "not one message naming both",
          r)
    check(not os.path.exists(path), "a checkpoint was written", r)


@suite.test
def nproc_inside_a_job_of_another_size_is_refused():
    path = suite.path("nproc.safetensors")
    r = mpirun(train_args(path, "--nproc", "3"), train_args(path, "--nproc", "3"))
    check(r.returncode != 0, "the job did not fail", r)
    check("resnetc: error: --nproc 3 in a job that mpirun started with 2 processes" in r.stderr, "no message", r)


@suite.test
def ranks_with_another_recipe_are_refused():
    path = suite.path("recipes.safetensors")
    r = mpirun(train_args(path), train_args(path, "--lr", "0.2"))
    check(r.returncode != 0, "the job did not fail", r)
    check("resnetc: error: rank 1 has another recipe or data set than rank 0" in r.stderr, "rank 1 not named", r)
    check("compiled" not in r.stdout, "the ranks compiled before comparing their runs", r)


@suite.test
def ranks_starting_from_other_weights_are_refused():
    reference, _ = single_process()
    path = suite.path("weights.safetensors")
    r = mpirun(train_args(path, "--init", reference), train_args(path))
    check(r.returncode != 0, "the job did not fail", r)
    check("resnetc: error: rank 1 starts from other weights than rank 0" in r.stderr, "rank 1 not named", r)


def start_job_until_a_checkpoint(path, epochs, *args):
    """Two ranks training on 2000 images for `epochs` epochs, running until the first checkpoint
    is written: (the data, the mpirun process, the ranks' process ids by rank)."""
    data = write_idx_subset(suite.path("big"), 2000, 24)
    command = list(MPIRUN) + ["-np", "2", suite.resnetc] + train_args(path, "--epochs", str(epochs), *args, data=data)
    env = dict(os.environ, XDG_CACHE_HOME=suite.cache_dir)
    job = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, errors="replace")
    deadline = time.monotonic() + 120
    while not os.path.exists(path) and time.monotonic() < deadline and job.poll() is None:
        time.sleep(0.2)
    by_rank = {}
    for pid in children(job.pid):
        if m := re.search(rb"OMPI_COMM_WORLD_RANK=(\d+)\0", environ(pid)):
            by_rank[int(m.group(1))] = pid
    ranks = [by_rank[r] for r in sorted(by_rank)]
    if not os.path.exists(path) or len(ranks) != 2:
        job.kill()
        job.communicate()
        raise Failure(f"no checkpoint within 120 s, or not two ranks among mpirun's children ({ranks})")
    return data, job, ranks


def end_job(job, ranks):
    """Kills what is left of the job, ranks that outlived it (stopped ones) included."""
    if job.poll() is None:
        job.kill()
        job.communicate()
    for pid in ranks:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def signal_rank1_after_a_checkpoint(path, sig, *args):
    """`sig` to rank 1 of a long job once its first checkpoint is written: (seconds from the
    signal to the job's end, its exit status, stderr)."""
    data, job, ranks = start_job_until_a_checkpoint(path, 1000, *args)
    try:
        os.kill(ranks[1], sig)
        signalled = time.monotonic()
        stdout, stderr = job.communicate(timeout=60)
        took = time.monotonic() - signalled
    finally:
        end_job(job, ranks)
    check_loadable(path, data)
    return took, job.returncode, stderr


def check_loadable(path, data):
    for name, values in tensors(path).items():
        check(all(math.isfinite(v) for v in values), f"{name} is not finite")
    expect(suite.run(["eval", MODEL, "--data", data, "--weights", path, "--device", "cpu", "--limit", "8"]), 0,
           stdout=r"test acc")


@suite.test
def a_killed_rank_ends_the_job_and_the_checkpoint_stays_intact():
    took, status, stderr = signal_rank1_after_a_checkpoint(suite.path("killed.safetensors"), signal.SIGKILL)
    check(status != 0, "the job did not fail")
    check(took < 10, f"the job took {took:.1f} s to end after its rank 1 was killed")
    check("rank 1" in stderr and "signal 9" in stderr, f"the message does not name rank 1 and its signal:\n{stderr}")


@suite.test
def a_stopped_rank_ends_the_job_within_the_timeout():
    took, status, stderr = signal_rank1_after_a_checkpoint(suite.path("stopped.safetensors"), signal.SIGSTOP,
                                                           "--collective-timeout", "5")
    check(status != 0, "the job did not fail")
    check(took < 5 + 10, f"the job took {took:.1f} s to end after its rank 1 was stopped (--collective-timeout 5)")
    check(re.search(r"^resnetc: error: rank 1 did not reach step \d+ within 5 s \(--collective-timeout\): nothing "
                    r"heard from it for 5\.\d s", stderr, re.M),
          f"the message does not name rank 1 and its step:\n{stderr}")
    check(stderr.count("did not reach") == 1, f"not one message:\n{stderr}")


@suite.test
def a_job_suspended_as_a_whole_goes_on_when_continued():
    # As a laptop's lid closed for longer than the timeout: no rank is to blame for the time
    # that none of them ran. The job goes on past the timeout, then SIGTERM ends it (a job that
    # trains to its end would make the case as long as the machine is slow).
    path = suite.path("suspended.safetensors")
    _, job, ranks = start_job_until_a_checkpoint(path, 5000, "--collective-timeout", "2")
    try:
        for pid in ranks:
            os.kill(pid, signal.SIGSTOP)
        time.sleep(4)
        for pid in ranks:
            os.kill(pid, signal.SIGCONT)
        time.sleep(4)
        check(job.poll() is None, "the job ended within 4 s of being continued (--collective-timeout 2)")
        for pid in ranks:
            os.kill(pid, signal.SIGTERM)
        stdout, stderr = job.communicate(timeout=120)
    finally:
        end_job(job, ranks)
    check("did not reach" not in stderr, f"a rank was blamed for the time the job was stopped:\n{stderr}")
    check("stopped by SIGTERM: saved" in stdout, f"the job did not stop at SIGTERM with a checkpoint:\n{stdout}{stderr}")


@suite.test
def an_error_of_every_rank_is_printed_once():
    path = suite.path("once.safetensors")
    r = mpirun(train_args(path, "--warmup-epochs", "5"), train_args(path, "--warmup-epochs", "5"))
    check(r.returncode != 0, "the job did not fail")
    check(r.stderr.count("resnetc: error: the recipe: the warmup (5 epochs) must be shorter") == 1 and "rank 0:" not in r.stderr,
          "the error is not printed once, by rank 0", r)


@suite.test
def a_usage_error_of_every_rank_is_printed_once():
    # Found before the rank has joined the job: it joins MPI to compare the message with the others'.
    r = mpirun(["train", MODEL, "--no-such-option"], ["train", MODEL, "--no-such-option"])
    check(r.returncode != 0, "the job did not fail", r)
    check(r.stderr.count("resnetc: error: unknown option '--no-such-option'") == 1 and
          r.stderr.count("Try 'resnetc train --help' for more information.") == 1 and "rank 0:" not in r.stderr,
          "the usage error is not printed once, by rank 0", r)


@suite.test
def a_usage_error_of_one_rank_is_printed_with_its_rank():
    path = suite.path("usage.safetensors")
    r = mpirun(train_args(path), ["train", MODEL, "--no-such-option"])
    check(r.returncode != 0, "the job did not fail", r)
    check(re.search(r"^rank 1: resnetc: error: unknown option '--no-such-option'\nrank 1: Try 'resnetc train --help'",
                    r.stderr, re.M), "rank 1's usage error is not prefixed with its rank", r)
    check(r.stderr.count("unknown option") == 1, "the usage error is printed more than once", r)


@suite.test
def an_error_of_one_rank_is_printed_with_its_rank():
    path = suite.path("one.safetensors")
    missing = suite.path("no-such-data")
    r = mpirun(train_args(path), train_args(path, data=missing))
    check(r.returncode != 0, "the job did not fail")
    check(re.search(rf"^rank 1: resnetc: data error: data directory {re.escape(missing)} does not exist", r.stderr,
                    re.M), "rank 1's error is not prefixed with its rank", r)
    check(r.stderr.count("does not exist") == 1, "the error is printed more than once", r)


@suite.test
def help_in_a_job_is_printed_once():
    r = mpirun(["train", "--help"], ["train", "--help"])
    check(r.returncode == 0, "the job failed", r)
    check(r.stdout.count("usage: resnetc train") == 1, "the help is not printed once", r)
    r = mpirun(["--version"], ["--version"])
    check(r.returncode == 0 and r.stdout.count("resnetc ") == 1, "the version is not printed once", r)


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def environ(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:
        return b""


if __name__ == "__main__":
    suite.main()
