#!/usr/bin/env python3
"""resnetc when the machine or the files say no: out of memory (the plan's buffers, LLVM itself),
a FIFO where a file should be (the model, the weights, a data file, the checkpoint), a full disk
and the file-size limit while a checkpoint is written, an IDX header that lies about its size,
and MNIST not installed. Each ends within seconds with exit status 1 and one clear first line,
never a signal or a hang, and a failed checkpoint write leaves the previous checkpoint intact.

    python3 tests/cli/suite_robust.py --resnetc build/tools/resnetc/resnetc [-k NAME]
"""
import os
import resource
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_cases import ROOT, TINY_NET, Failure, Suite, check, expect, write_idx_subset

suite = Suite(__doc__)
DATA = write_idx_subset(suite.path("data"), 64, 32)  # 2 steps an epoch at batch 32: no short batch
MODEL = suite.write("tiny.net", TINY_NET)
CPU = ["--device", "cpu", "--no-progress"]
GIB = 1 << 30


def run(args, limits=(), timeout=120):
    """suite.run, with resource limits ((resource.RLIMIT_X, soft), ...) set in the child."""
    def set_limits():
        for which, soft in limits:
            resource.setrlimit(which, (soft, resource.getrlimit(which)[1]))
    env = dict(os.environ, XDG_CACHE_HOME=suite.cache_dir)
    try:
        return subprocess.run([suite.resnetc] + [str(a) for a in args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, errors="replace", timeout=timeout,
                              preexec_fn=set_limits)
    except subprocess.TimeoutExpired:
        raise Failure(f"resnetc {' '.join(map(str, args))} did not finish within {timeout} s")


def train(*args, **kw):
    return run(["train", MODEL, "--data", DATA, *CPU, *args], **kw)


def fifo(name):
    path = suite.path(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.mkfifo(path)
    return path


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def check_only(directory, names, result):
    left = sorted(os.listdir(directory))
    check(left == sorted(names), f"{directory} holds {left}, expected {sorted(names)} (a temporary file left?)", result)


_previous = []


def previous_checkpoint():
    """A finished run's checkpoint (trained once): what a failed write must leave as it was."""
    if not _previous:
        path = suite.path("previous", "tiny.safetensors")
        os.makedirs(os.path.dirname(path))
        expect(train("--checkpoint", path), 0)
        _previous.append(path)
    return _previous[0]


@suite.test
def bench_batch_too_large_for_memory():
    # 13 GiB of buffers under a 1.5 GiB address space: refused before LLVM starts, at once.
    r = run(["bench", MODEL, "--device", "cpu", "--batch", 1000000, "--steps", 1, "--warmup", 0],
            limits=[(resource.RLIMIT_AS, 3 * GIB // 2)], timeout=60)
    expect(r, 1, r"resnetc: error: out of memory allocating the buffers of tiny's training step at batch 1000000 "
                 r"\(13\.\d\d GiB\); try a smaller --batch")


@suite.test
def bench_llvm_out_of_memory():
    # The buffers (1.35 GiB) fit, compiling does not (the conv kernels' index tables grow with
    # the batch): LLVM cannot unwind, so this used to die in ~LLVMContext with SIGSEGV.
    r = run(["bench", MODEL, "--device", "cpu", "--batch", 100000, "--steps", 1, "--warmup", 0],
            limits=[(resource.RLIMIT_AS, 5 * GIB // 2)], timeout=120)
    expect(r, 1, r"resnetc: error: out of memory while LLVM compiled the kernels of tiny's training step at batch "
                 r"100000; try a smaller --batch")


@suite.test
def model_fifo():
    path = fifo("model-fifo/model.net")
    for args in ([path], ["train", path, "--data", DATA, *CPU]):
        expect(run(args, timeout=20), 1, r".*model\.net: error: cannot read file: it is a FIFO, not a regular file")


@suite.test
def eval_weights_fifo():
    path = fifo("weights-fifo/weights.safetensors")
    r = run(["eval", MODEL, "--data", DATA, *CPU, "--weights", path], timeout=60)
    expect(r, 1, r"resnetc: checkpoint error: .*weights\.safetensors: it is a FIFO, not a regular file")


@suite.test
def data_file_fifo():
    # The FIFO itself, and a link to one, under the name the loader looks for.
    for name, make in (("fifo", lambda path: os.mkfifo(path)),
                       ("link", lambda path: os.symlink(fifo("data-fifo-target"), path))):
        directory = suite.path(f"data-{name}")
        shutil.copytree(DATA, directory)
        images = os.path.join(directory, "train-images-idx3-ubyte")
        os.remove(images)
        make(images)
        r = train("--data", directory, "--checkpoint", suite.path(f"data-{name}.safetensors"), timeout=20)
        expect(r, 1, r"resnetc: data error: .*train-images-idx3-ubyte: it is a FIFO, not a regular file")


@suite.test
def checkpoint_is_directory():
    path = suite.path("checkpoint-dir")
    os.makedirs(path)
    expect(train("--checkpoint", path, timeout=60), 1, r"resnetc: .*error: .*checkpoint-dir.* a directory.*")
    check(os.path.isdir(path) and not os.listdir(path), "the directory was changed")


@suite.test
def checkpoint_is_fifo():
    path = fifo("checkpoint-fifo/tiny.safetensors")
    r = train("--checkpoint", path, timeout=60)
    expect(r, 1, r"resnetc: .*error: .*tiny\.safetensors.* a FIFO.*")
    check(os.path.exists(path) and not os.path.isfile(path), "the FIFO was replaced", r)


@suite.test
def checkpoint_over_file_size_limit():
    # main() ignores SIGXFSZ (host::ignore_file_size_signal), so the write fails with EFBIG
    # instead of the signal killing resnetc.
    directory = suite.path("fsize")
    os.makedirs(directory)
    path = os.path.join(directory, "tiny.safetensors")
    shutil.copyfile(previous_checkpoint(), path)
    before = read_bytes(path)
    r = train("--checkpoint", path, limits=[(resource.RLIMIT_FSIZE, 4096)])
    expect(r, 1, r"resnetc: checkpoint error: .*tiny\.safetensors: cannot write: File too large "
                 r"\(the file-size limit, ulimit -f\)")
    check(read_bytes(path) == before, "the previous checkpoint changed", r)
    check_only(directory, ["tiny.safetensors", ".tiny.safetensors.lock"], r)


# Mounts a small tmpfs at $1 in a mount namespace of its own, fills it beside a copy of the
# previous checkpoint $2, trains into it (the rest of the arguments: the train command) and
# reports what is left. Its stdout: "rc=N", the directory's entries, "intact" if the
# checkpoint kept its bytes.
NO_SPACE_SCRIPT = """
set -e
mount_point="$1"; previous="$2"; shift 2
mount -t tmpfs -o size=256k tmpfs "$mount_point"
cp "$previous" "$mount_point/tiny.safetensors"
dd if=/dev/zero of="$mount_point/filler" bs=4096 2>/dev/null || true
set +e
"$@" --checkpoint "$mount_point/tiny.safetensors" >/dev/null
echo "rc=$?"
ls -A "$mount_point"
cmp -s "$previous" "$mount_point/tiny.safetensors" && echo intact
exit 0
"""


@suite.test
def checkpoint_without_space():
    unshare = shutil.which("unshare")
    mount_point = suite.path("no-space")
    os.makedirs(mount_point)
    # As root a mount namespace is enough; otherwise a user namespace grants the mount.
    namespace = [unshare, "-m"] if os.geteuid() == 0 else [unshare, "-r", "-m"]
    probe = unshare and subprocess.run(namespace + ["sh", "-c", 'mount -t tmpfs tmpfs "$1"', "sh", mount_point],
                                       capture_output=True)
    if not probe or probe.returncode != 0:
        print("        skipped: no mount namespace here (unshare -m), so no small file system to fill")
        return
    command = [suite.resnetc, "train", MODEL, "--data", DATA, *CPU]
    r = subprocess.run(namespace + ["sh", "-c", NO_SPACE_SCRIPT, "sh", mount_point, previous_checkpoint(), *command],
                       env=dict(os.environ, XDG_CACHE_HOME=suite.cache_dir), cwd=ROOT, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, errors="replace", timeout=120)
    lines = r.stdout.split()
    check(lines[:1] == ["rc=1"], "expected exit status 1", r)
    expect(subprocess.CompletedProcess(r.args, 1, r.stdout, r.stderr), 1,
           r"resnetc: checkpoint error: .*tiny\.safetensors: cannot write.*: No space left on device")
    check(sorted(lines[1:-1]) == [".tiny.safetensors.lock", "filler", "tiny.safetensors"],
          f"the file system holds {lines[1:-1]} (a temporary file left?)", r)
    check(lines[-1:] == ["intact"], "the previous checkpoint changed", r)


def lying_images(name, count, compress):
    """DATA with a training-image header that claims `count` images."""
    directory = suite.path(name)
    shutil.copytree(DATA, directory)
    images = os.path.join(directory, "train-images-idx3-ubyte")
    blob = bytearray(read_bytes(images))
    struct.pack_into(">I", blob, 4, count)
    if compress:
        import gzip
        os.remove(images)
        images += ".gz"
        blob = gzip.compress(bytes(blob))
    with open(images, "wb") as f:
        f.write(blob)
    return directory


@suite.test
def idx_header_claims_more_images_than_the_file_holds():
    plain = lying_images("liar-plain", 60000, compress=False)
    r = train("--data", plain, "--checkpoint", suite.path("liar-plain.safetensors"), timeout=20)
    expect(r, 1, r"resnetc: data error: .*train-images-idx3-ubyte: truncated: dimensions \[60000, 28, 28\] need "
                 r"47040000 bytes of payload, the file has 50176 after its 16-byte header")
    gz = lying_images("liar-gz", 4000000000, compress=True)
    r = train("--data", gz, "--checkpoint", suite.path("liar-gz.safetensors"), timeout=20)
    expect(r, 1, r"resnetc: data error: .*train-images-idx3-ubyte\.gz: truncated: dimensions \[4000000000, 28, 28\] "
                 r"need 3136000000000 bytes of payload, but \d+ bytes of gzip inflate to at most \d+")


@suite.test
def mnist_not_installed():
    model = suite.write("mnist.net", TINY_NET.replace("  train {\n", "  train {\n    dataset mnist\n"))
    default = "/usr/share/datasets/mnist"
    where = [] if not os.path.exists(default) else ["--data", suite.path("no-mnist")]
    r = run(["train", model, *where, *CPU, "--checkpoint", suite.path("mnist.safetensors")], timeout=20)
    expect(r, 1, r"resnetc: data error: data directory .*mnist does not exist; Debian has no MNIST package: put the "
                 r"four IDX files \(train-images-idx3-ubyte, .*\) in /usr/share/datasets/mnist, the default, or in a "
                 r"directory given with --data DIR")


suite.main()
