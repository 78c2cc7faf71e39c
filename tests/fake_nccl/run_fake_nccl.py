#!/usr/bin/env python3
"""The NCCL path of data-parallel training without GPUs: `mpirun -np 2 resnetc train --device cuda` on
the fake driver (two fake GPUs) and the fake NCCL (fake_nccl.cpp), whose log of calls is checked:
the unique id made once, by rank 0, and given to both ranks; ncclCommInitRank with each rank, the
job's size and the rank's GPU; per step one group of in-place float32 all-reduces per gradient
bucket (the plan's four with --bucket-mb 0.001), on one stream, pre-multiplied by the rank's share of
the batch (5/9 and 4/9 in the short batch), whose counts add up to the gradients' floats, followed
by polls of the asynchronous error; with --sync-bn each BatchNorm's float64 sum, on the step's
stream; ncclCommDestroy at the end. An injected asynchronous error and a hung all-reduce (with a short RESNETC_NCCL_TIMEOUT)
end the job with a message naming the rank; a rank that cannot load NCCL says so, and so does one
without a GPU of its own; a single process never loads NCCL; a step paused for the all-reduce
launches the kernels a single process launches, in the same order.

    python3 tests/fake_nccl/run_fake_nccl.py --resnetc build/tools/resnetc/resnetc \\
        --driver build/tests/fake_driver/libresnetc_fake_cuda.so \\
        --nccl build/tests/fake_nccl/libresnetc_fake_nccl.so

The fake kernels compute nothing and the fake NCCL sums nothing: losses and weights are not looked at.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "cli"))
from cli_cases import Failure, check, run_cases, write_idx_subset  # noqa: E402

MODEL = os.path.join(ROOT, "tests", "cli", "no_batchnorm.net")  # batch 16
BATCHNORM_MODEL = os.path.join(ROOT, "tests", "cli", "batchnorm.net")  # batch 16, three BatchNorms
IMAGES = 73  # 4 batches of 16 and a short one of 9, shared 5 + 4: five steps an epoch
# no_batchnorm.net has 1050 parameters; the biases of the block's last conv and of its shortcut
# conv feed one sum, so they have one gradient buffer, reduced once (train/distributed.h): 1042.
GRADIENT_FLOATS = 1042
TIMEOUT_S = 300  # the first run compiles the plans with NVRTC
MPIRUN = ["mpirun", "--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])


class Runner:
    def __init__(self, resnetc, driver, nccl, tmp):
        self.resnetc, self.nccl, self.tmp = resnetc, nccl, tmp
        self.data = write_idx_subset(os.path.join(tmp, "data"), IMAGES, 24)
        self.cache = os.path.join(tmp, "cache")
        # Nothing inherited may change how the fakes or the runtime behave.
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("FAKE_CUDA_", "FAKE_NCCL_", "RESNETC_", "CUDA_"))}
        # Two GPUs, one per rank; zeroed memory makes the GPU shuffle's order valid (the fake
        # kernels write nothing).
        self.env.update(RESNETC_CUDA_DRIVER=driver, RESNETC_NCCL_LIBRARY=nccl, FAKE_CUDA_DEVICES="2",
                        FAKE_CUDA_FILL="0")
        self.runs = 0

    def path(self, name):
        return os.path.join(self.tmp, name)

    def train(self, ranks, *options, model=MODEL, **env):
        """`resnetc train --device cuda` as `ranks` processes of mpirun (0: a single process, no
        mpirun), with `env` added. Returns (result, seconds, log lines of the fake NCCL)."""
        if ranks and shutil.which("mpirun") is None:
            raise Failure("mpirun is not installed (tools/setup installs openmpi-bin)")
        self.runs += 1
        log = self.path(f"nccl{self.runs}.log")
        command = (MPIRUN + ["-np", str(ranks)] if ranks else []) + [
            self.resnetc, "train", model, "--device", "cuda", "--data", self.data, "--cache-dir", self.cache,
            "--checkpoint", self.path(f"run{self.runs}.safetensors"), "--no-progress", *options]
        start = time.monotonic()
        result = subprocess.run(command, cwd=ROOT, env={**self.env, "FAKE_NCCL_LOG": log, **env},
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
                                timeout=TIMEOUT_S)
        seconds = time.monotonic() - start
        lines = open(log).read().splitlines() if os.path.exists(log) else []
        return result, seconds, lines


def calls(lines, rank):
    """Rank `rank`'s calls: [(name, args)]."""
    out = []
    for line in lines:
        fields = line.split(" ", 3)
        if fields[1] == str(rank):
            out.append((fields[2], fields[3] if len(fields) > 3 else ""))
    return out


def steps(rank_calls):
    """Each step's sums: [(scalar, [[counts] per bucket])]. A bucket is one group, in the order
    create the operator, group start, all-reduces, group end, destroy the operator, all on one
    stream; a step's buckets come one after another (the backward pass enqueues them) and the step
    ends with polls of the asynchronous error."""
    found, i, buckets, scalar, stream = [], 0, [], None, None
    while i < len(rank_calls):
        name, args = rank_calls[i]
        if name == "CommGetAsyncError" and buckets:
            found.append((scalar, buckets))
            buckets, scalar = [], None
        if name != "RedOpCreatePreMulSum":
            i += 1
            continue
        check(scalar in (None, args.split()[0]), f"the buckets of one step have other scalars: {scalar}, {args}")
        scalar = args.split()[0]
        check(args.endswith("float32"), f"the operator is not float32: {args}")
        check(rank_calls[i + 1][0] == "GroupStart", f"no ncclGroupStart after the operator: {rank_calls[i:i + 3]}")
        j, counts = i + 2, []
        while rank_calls[j][0] == "AllReduce":
            m = re.fullmatch(r"count (\d+) float32 premulsum (\S+) in-place grouped on (\S+)", rank_calls[j][1])
            check(m is not None and m.group(2) == scalar, f"an all-reduce that is not float32, in place, grouped "
                                                          f"and pre-multiplied by {scalar}: {rank_calls[j][1]}")
            check(stream in (None, m.group(3)), f"the all-reduces are not on one stream: {stream}, {m.group(3)}")
            stream = m.group(3)
            counts.append(int(m.group(1)))
            j += 1
        check([c[0] for c in rank_calls[j:j + 2]] == ["GroupEnd", "RedOpDestroy"],
              f"the group is not ended and its operator destroyed: {rank_calls[j:j + 2]}")
        buckets.append(counts)
        i = j + 2
    check(not buckets, f"sums that no error poll followed: {buckets}")
    return found


def case_call_sequence(r):
    result, _, lines = r.train(2, "--epochs", "2")
    check(result.returncode == 0, "mpirun -np 2 train --device cuda failed", result)
    check("data-parallel: 2 processes" in result.stdout, "the run does not say it is data-parallel", result)
    ids = [line for line in lines if " GetUniqueId " in line]
    check(len(ids) == 1 and ids[0].startswith("rank 0 "), f"ncclGetUniqueId is not called once, by rank 0: {ids}")
    unique_id = ids[0].split(" GetUniqueId ")[1]
    shares = {0: ["0.5"] * 4 + ["0.555555582"], 1: ["0.5"] * 4 + ["0.444444448"]}
    for rank in (0, 1):
        mine = calls(lines, rank)
        inits = [args for name, args in mine if name == "CommInitRank"]
        check(inits == [f"rank {rank} nranks 2 device {rank} id {unique_id}"],
              f"rank {rank}'s ncclCommInitRank calls are {inits}: not one, with its rank, 2 ranks, GPU {rank} and "
              f"rank 0's unique id {unique_id}")
        groups = steps(mine)
        check([scalar for scalar, _ in groups] == shares[rank] * 2,
              f"rank {rank}'s shares of the 10 steps are {[s for s, _ in groups]}, not {shares[rank] * 2}")
        for scalar, buckets in groups:
            check(len(buckets) == 1, f"rank {rank} sums {len(buckets)} buckets a step, not the one of 25 MiB")
            check(sum(buckets[0]) == GRADIENT_FLOATS,
                  f"rank {rank} all-reduces {buckets[0]} floats, not {GRADIENT_FLOATS}")
        check(mine[-1] == ("CommDestroy", f"rank {rank}"),
              f"rank {rank}'s last call is {mine[-1]}, not ncclCommDestroy")
        check(not any(name in ("CommAbort", "refused:") for name, _ in mine), f"rank {rank}: {mine}")


def case_small_buckets_are_summed_one_by_one(r):
    plan = subprocess.run([r.resnetc, MODEL, "--emit=plan", "--train", "--collectives", "--bucket-mb", "0.001"],
                          capture_output=True, text=True, check=True).stdout
    placed = len(re.findall(r"all_reduce gradients", plan))
    check(placed >= 3, f"--bucket-mb 0.001 places {placed} buckets, too few to test")
    result, _, lines = r.train(2, "--epochs", "1", "--bucket-mb", "0.001")
    check(result.returncode == 0, "mpirun -np 2 train --device cuda --bucket-mb 0.001 failed", result)
    for rank in (0, 1):
        groups = steps(calls(lines, rank))
        check(len(groups) == 5, f"rank {rank} summed in {len(groups)} steps, not 5")
        for _, buckets in groups:
            check(len(buckets) == placed and sum(map(sum, buckets)) == GRADIENT_FLOATS,
                  f"rank {rank} sums {buckets} a step: not the plan's {placed} buckets of {GRADIENT_FLOATS} floats")


def case_sync_bn_sums_each_batchnorm_in_double(r):
    plan = subprocess.run([r.resnetc, BATCHNORM_MODEL, "--emit=plan", "--train", "--collectives", "--sync-bn"],
                          capture_output=True, text=True, check=True).stdout
    order = re.findall(r"all_reduce batchnorm_\w+ [\d.]+ KiB \(%(\S+)\)", plan)
    # [2, C] each: the stem's BatchNorm has 4 channels, the block's two 8
    placed = [8 if name.startswith("stem.") else 16 for name in order]
    check(len(placed) == 6, f"batchnorm.net's plan places {order}, not 3 forward and 3 backward BatchNorm collectives")
    result, _, lines = r.train(2, "--epochs", "1", "--sync-bn", model=BATCHNORM_MODEL)
    check(result.returncode == 0, "mpirun -np 2 train --device cuda --sync-bn failed", result)
    for rank in (0, 1):
        mine = calls(lines, rank)
        sums = [args for name, args in mine if name == "AllReduce" and " float64 " in args]
        check(len(sums) == 5 * len(placed), f"rank {rank} made {len(sums)} float64 sums in 5 steps, not {5 * len(placed)}")
        counts = [int(re.fullmatch(r"count (\d+) float64 sum in-place on \S+", a).group(1)) for a in sums]
        check(counts == placed * 5, f"rank {rank}'s float64 sums have the counts {counts[:6]}..., not the plan's {placed}")
        # The buckets on the reducer's stream; BatchNorm's on the step's (each plan's executor has
        # its own: the short batch's plan is another)
        buckets = {a.split()[-1] for name, a in mine if name == "AllReduce" and " float32 " in a}
        batchnorm = {a.split()[-1] for a in sums}
        check(len(buckets) == 1 and not buckets & batchnorm,
              f"rank {rank}'s BatchNorm sums are on {batchnorm}, not the step's stream beside the buckets' {buckets}")
        check(len(steps(mine)) == 5, f"rank {rank} did not sum its gradient buckets in each of 5 steps")


def case_async_error_names_the_rank(r):
    result, seconds, lines = r.train(2, "--epochs", "1", FAKE_NCCL_ASYNC_ERROR="1:2")
    check(result.returncode != 0, "an asynchronous NCCL error on rank 1 did not fail the job", result)
    check(re.search(r"rank 1: NCCL reported an asynchronous error while summing the gradients: unhandled system "
                    r"error.*injected asynchronous error", result.stderr),
          "the message does not name rank 1 and NCCL's error", result)
    mine = calls(lines, 1)
    check(("CommGetAsyncError", "2") in mine and mine[-1] == ("CommAbort", "rank 1"),
          f"rank 1 did not poll the error and abort its communicator: {mine[-4:]}")
    check(seconds < 60, f"the job took {seconds:.0f} s to end")


def case_hung_all_reduce_times_out(r):
    result, seconds, lines = r.train(2, "--epochs", "1", FAKE_NCCL_HANG="1:2", RESNETC_NCCL_TIMEOUT="2")
    check(result.returncode != 0, "a hung all-reduce on rank 1 did not fail the job", result)
    check(re.search(r"rank 1: summing the gradients did not end within 2 s \(RESNETC_NCCL_TIMEOUT\)", result.stderr),
          "the message does not name rank 1 and the timeout", result)
    check(calls(lines, 1)[-1] == ("CommAbort", "rank 1"), "rank 1 did not abort its communicator")
    check(seconds < 60, f"the job took {seconds:.0f} s to end")


def case_rank_without_nccl(r):
    result, _, _ = r.train(2, "--epochs", "1", RESNETC_NCCL_LIBRARY=r.path("no-such-libnccl.so"))
    check(result.returncode != 0 and "this GPU rank of an MPI job needs NCCL, and " in result.stderr
          and "no-such-libnccl.so could not be loaded" in result.stderr,
          "a rank that cannot load NCCL does not say so", result)


def case_more_ranks_than_gpus(r):
    result, _, lines = r.train(2, "--epochs", "1", FAKE_CUDA_DEVICES="1")
    check(result.returncode != 0 and "rank 1 is process 2 of 2 on its machine, which has 1 GPU(s): start one process "
                                     "per GPU, or add --device cpu" in result.stderr,
          "two ranks on one GPU are not refused naming the rank", result)


def case_single_process_never_loads_nccl(r):
    result, _, lines = r.train(0, "--epochs", "1", LD_DEBUG="files")
    check(result.returncode == 0, "a single process on the fake GPU failed", result)
    check("libresnetc_fake_nccl" not in result.stderr and not lines, "a single process loaded NCCL", result)


def launches(path):
    with open(path) as f:
        return [line.split()[1] for line in f if line.startswith("launch ")]


def case_paused_step_launches_the_same_kernels(r):
    for graphs, buckets in (("1", "25"), ("0", "25"), ("1", "0.001")):
        single, _, _ = r.train(0, "--epochs", "1", FAKE_CUDA_LOG=r.path(f"single{graphs}-{buckets}.log"),
                               RESNETC_CUDA_GRAPHS=graphs)
        check(single.returncode == 0, "a single process failed", single)
        paused, _, lines = r.train(1, "--epochs", "1", "--bucket-mb", buckets,
                                   FAKE_CUDA_LOG=r.path(f"paused{graphs}-{buckets}.log"), RESNETC_CUDA_GRAPHS=graphs)
        check(paused.returncode == 0, "mpirun -np 1 failed", paused)
        check(len(steps(calls(lines, 0))) == 5, "mpirun -np 1 did not all-reduce in every step")
        check(launches(r.path(f"single{graphs}-{buckets}.log")) == launches(r.path(f"paused{graphs}-{buckets}.log")),
              f"RESNETC_CUDA_GRAPHS={graphs}, --bucket-mb {buckets}: a step stopped for the all-reduces launches "
              f"other kernels than one not stopped")


CASES = [case_call_sequence, case_small_buckets_are_summed_one_by_one, case_sync_bn_sums_each_batchnorm_in_double,
         case_async_error_names_the_rank, case_hung_all_reduce_times_out, case_rank_without_nccl,
         case_more_ranks_than_gpus, case_single_process_never_loads_nccl, case_paused_step_launches_the_same_kernels]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resnetc", required=True)
    parser.add_argument("--driver", required=True, help="the fake driver library")
    parser.add_argument("--nccl", required=True, help="the fake NCCL library")
    parser.add_argument("-k", default="", help="run only the cases whose name contains this")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="resnetc-fake-nccl-")
    runner = Runner(os.path.abspath(args.resnetc), os.path.abspath(args.driver), os.path.abspath(args.nccl), tmp)
    run_cases(CASES, args.k, tmp, False, runner)


if __name__ == "__main__":
    main()
