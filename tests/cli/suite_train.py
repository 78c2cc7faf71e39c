#!/usr/bin/env python3
"""resnetc train and eval as a user (and a hostile one) runs them: outputs never replace inputs
or foreign files, a diverging run stops with only finite checkpoints on disk, weights that no
training step produces are refused, a second trainer is locked out, a resumed run continues
the recipe its checkpoint records and refuses flags that change it, a run stopped by Ctrl-C,
SIGTERM or --max-steps resumes to the same bytes as a run never stopped, and the log never
loses or repeats a row.

    python3 tests/cli/suite_train.py --resnetc build/tools/resnetc/resnetc [-k NAME]
"""
import fcntl
import math
import os
import pty
import signal
import struct
import subprocess
import sys
import termios

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_cases import (ROOT, TINY_NET, Suite, check, expect, read_safetensors, set_float, write_idx_subset,
                       write_safetensors)

suite = Suite(__doc__)
DATA = write_idx_subset(suite.path("data"), 96, 64)   # 3 steps an epoch at batch 32
BIG_DATA = write_idx_subset(suite.path("big"), 3000, 64)  # 94 steps an epoch: time to interrupt
MODEL = suite.write("tiny.net", TINY_NET)
CPU = ["--device", "cpu", "--no-progress"]


def train(*args, data=DATA, **kw):
    return suite.run(["train", MODEL, "--data", data, *CPU, *args], **kw)


def ckpt(name):
    return suite.path(name)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def all_finite(path):
    header, _, data = read_safetensors(path)
    for name, t in header.items():
        begin, end = t["data_offsets"]
        for (v,) in struct.iter_unpack("<f", bytes(data[begin:end])):
            if not math.isfinite(v):
                return False
    return True


_reference = {}


def reference_run():
    """An uninterrupted 2-epoch run of the big data set: (checkpoint bytes, stdout)."""
    if not _reference:
        path = ckpt("reference.safetensors")
        r = expect(train("--checkpoint", path, data=BIG_DATA), 0)
        _reference["bytes"], _reference["stdout"] = read_bytes(path), r.stdout
    return _reference["bytes"]


# --- outputs never overwrite inputs --------------------------------------------------------

@suite.test
def checkpoint_naming_the_model_is_refused():
    before = read_bytes(MODEL)
    r = train("--checkpoint", MODEL)
    expect(r, 1, r"resnetc: error: the checkpoint .*tiny\.net is an input of this run .*")
    check(read_bytes(MODEL) == before and "compiled" not in r.stdout, "the model changed, or work began", r)


@suite.test
def log_naming_a_data_file_is_refused():
    images = os.path.join(DATA, "train-images-idx3-ubyte")
    before = read_bytes(images)
    r = train("--checkpoint", ckpt("a.safetensors"), "--log", images)
    expect(r, 1, r"resnetc: error: the log .*train-images-idx3-ubyte is an input of this run .*")
    check(read_bytes(images) == before, "the data file changed", r)


@suite.test
def checkpoint_naming_the_init_weights_is_refused():
    weights = ckpt("init-source.safetensors")
    expect(train("--checkpoint", weights, "--max-steps", "1"), 0)
    r = train("--checkpoint", weights, "--init", weights)
    expect(r, 1, r"resnetc: error: the checkpoint .*init-source\.safetensors is an input of this run .*")


@suite.test
def foreign_files_are_not_overwritten():
    notes = suite.write("notes.txt", "my notes\n")
    expect(train("--checkpoint", notes), 1,
           r"resnetc: error: .*notes\.txt exists and is not a resnetc checkpoint \(.*\); refusing to overwrite it.*")
    expect(train("--checkpoint", ckpt("b.safetensors"), "--log", notes), 1,
           r"resnetc: error: .*notes\.txt exists and is not a resnetc log; refusing to add to it.*")
    check(open(notes).read() == "my notes\n", "notes.txt changed")


@suite.test
def empty_checkpoint_flag_is_a_usage_error():
    expect(train("--checkpoint="), 2, r"resnetc: error: --checkpoint needs a file name.*")


@suite.test
def unwritable_outputs_are_refused_before_compiling():
    r = train("--checkpoint", suite.path("no-such-dir", "x.safetensors"))
    expect(r, 1, r"resnetc: error: cannot write the checkpoint .*: its directory '.*no-such-dir' does not exist")
    check("compiled" not in r.stdout, "it compiled before refusing", r)
    plain = suite.write("plain-file", "x")
    r = train("--checkpoint", ckpt("c.safetensors"), "--log", os.path.join(plain, "log.csv"))
    expect(r, 1, r"resnetc: error: cannot write the log .*: '.*plain-file' is not a directory")
    check("compiled" not in r.stdout, "it compiled before refusing", r)


# --- divergence and unsound weights -----------------------------------------------------------

@suite.test
def exploding_loss_stops_training_and_leaves_only_finite_checkpoints():
    path = ckpt("diverged.safetensors")
    r = train("--checkpoint", path, "--lr", "50")
    expect(r, 1, r"resnetc: training stopped: the loss became \S+ at epoch \d+, batch \d+.*")
    if os.path.exists(path):
        check(all_finite(path), "the checkpoint left on disk holds a non-finite value", r)


def corrupted_copy(name, tensor, value):
    source = ckpt("sound.safetensors")
    if not os.path.exists(source):
        expect(train("--checkpoint", source), 0)
    header, metadata, data = read_safetensors(source)
    set_float(data, header, tensor, 0, value)
    path = ckpt(name)
    write_safetensors(path, header, metadata, data)
    return path


@suite.test
def eval_resume_and_init_refuse_unsound_weights():
    nan = corrupted_copy("nan.safetensors", "stem.conv.weight", float("nan"))
    expect(suite.run(["eval", MODEL, "--data", DATA, "--weights", nan, *CPU]), 1,
           r"resnetc: checkpoint error: .*nan\.safetensors: tensor 'stem\.conv\.weight' holds nan at element 0; "
           r"refusing to load it")
    expect(train("--checkpoint", nan, "--resume"), 1, r"resnetc: checkpoint error: .*holds nan at element 0.*")
    expect(train("--checkpoint", ckpt("d.safetensors"), "--init", nan), 1,
           r"resnetc: checkpoint error: .*holds nan at element 0.*")
    inf = corrupted_copy("inf.safetensors", "head.fc.bias", float("inf"))
    expect(suite.run(["eval", MODEL, "--data", DATA, "--weights", inf, *CPU]), 1,
           r"resnetc: checkpoint error: .*tensor 'head\.fc\.bias' holds inf at element 0.*")
    var = corrupted_copy("negative-var.safetensors", "stem.bn.running_var", -0.5)
    expect(suite.run(["eval", MODEL, "--data", DATA, "--weights", var, *CPU]), 1,
           r"resnetc: checkpoint error: .*tensor 'stem\.bn\.running_var' holds a negative variance \(-0\.5\).*")


@suite.test
def malformed_metadata_is_refused_naming_the_field():
    source = ckpt("sound.safetensors")
    if not os.path.exists(source):
        expect(train("--checkpoint", source), 0)
    for value in ["-5", "1x", "abc", str(2 ** 63), ""]:
        header, metadata, data = read_safetensors(source)
        metadata["epoch"] = value
        path = ckpt("bad-epoch.safetensors")
        write_safetensors(path, header, metadata, data)
        expect(train("--checkpoint", path, "--resume"), 1,
               rf"resnetc: checkpoint error: .*metadata 'epoch' is '{value}', expected a whole number from 0 to \d+")


# --- two trainers, links, leftovers ------------------------------------------------------------

@suite.test
def a_second_trainer_on_one_checkpoint_is_refused():
    path = ckpt("locked.safetensors")
    with open(os.path.join(suite.tmp, ".locked.safetensors.lock"), "w") as lock:
        lock.write("4242")
        lock.flush()
        fcntl.flock(lock, fcntl.LOCK_EX)
        r = train("--checkpoint", path)
    expect(r, 1, r"resnetc: error: another resnetc train \(pid 4242\) is writing the checkpoint .*locked\.safetensors.*")
    check(not os.path.exists(path), "the locked checkpoint was written", r)


@suite.test
def a_symlinked_checkpoint_is_written_through_to_its_target():
    os.makedirs(suite.path("runs"), exist_ok=True)
    target = suite.path("runs", "target.safetensors")
    link = ckpt("link.safetensors")
    os.symlink(os.path.join("runs", "target.safetensors"), link)
    expect(train("--checkpoint", link, "--max-steps", "1"), 0)
    check(os.path.islink(link) and os.path.isfile(target), "the link was replaced, or the target not written")


@suite.test
def temporaries_of_a_killed_write_are_removed():
    stale = suite.write(".stale.safetensors.tmp-99999-0", "half a checkpoint")
    expect(train("--checkpoint", ckpt("stale.safetensors"), "--max-steps", "1"), 0)
    check(not os.path.exists(stale), "the stale temporary file is still there")


# --- resume --------------------------------------------------------------------------------------

@suite.test
def resume_refuses_another_recipe_unless_allowed():
    path = ckpt("recipe.safetensors")
    expect(train("--checkpoint", path, "--max-steps", "3"), 0)  # one epoch
    r = train("--checkpoint", path, "--resume", "--lr", "0.1", "--epochs", "4")
    expect(r, 1, r"resnetc: error: --resume: .*recipe\.safetensors was written with another recipe: "
                 r"epochs 4 \(the checkpoint's: 2\), lr 0\.1 \(the checkpoint's: 0\.05\);.*--allow-recipe-change.*")
    r = expect(train("--checkpoint", path, "--resume", "--epochs", "3", "--allow-recipe-change"), 0,
               stdout=[r"note: resuming with a changed recipe: epochs 3 \(the checkpoint's: 2\)", r"epoch 3/3"])
    r = expect(train("--checkpoint", path, "--resume", "--epochs", "3"), 0,
               stdout=r"is a finished run: 3 of 3 epochs trained, nothing to do")
    check("compiled" not in r.stdout, "a finished run was compiled", r)
    # The longer run is what the checkpoint records now: a resume without flags continues (ends) it.
    expect(train("--checkpoint", path, "--resume"), 0, stdout=r"is a finished run: 3 of 3 epochs trained")


# A run started with flags that differ from tiny.net's train section in every kind of setting:
# the recipe, the modern recipe's, the augmentation, the normalization and the data set's split.
FLAGGED = ["--epochs", "3", "--batch", "24", "--lr", "0.02", "--momentum", "0.8", "--nesterov", "--weight-decay",
           "0.0001", "--schedule", "cosine", "--seed", "7", "--label-smoothing", "0.1", "--random-crop", "12,padding=2",
           "--flip", "--normalize", "--dataset", "mnist", "--val-split", "0.25"]  # 72 training images: 3 steps an epoch


def flagged_run_stopped_inside_epoch_2(name):
    """The checkpoint of the FLAGGED run stopped inside epoch 2."""
    stopped = ckpt(f"{name}-stopped.safetensors")
    expect(train("--checkpoint", stopped, *FLAGGED, "--max-steps", "4"), 0, stdout=r"epoch 2/3 stopped after batch 1/3")
    return stopped


@suite.test
def resume_without_flags_continues_the_recipe_the_checkpoint_records():
    one = ckpt("flagged-one.safetensors")
    expect(train("--checkpoint", one, *FLAGGED), 0)
    stopped = flagged_run_stopped_inside_epoch_2("flagged")
    # The train section now says otherwise too: the checkpoint's recipe wins, and a note says so.
    edited = suite.write("tiny-edited.net", TINY_NET.replace("lr 0.05", "lr 0.5").replace("batch 32", "batch 8"))
    r = expect(suite.run(["train", edited, "--data", DATA, *CPU, "--checkpoint", stopped, "--resume"]), 0,
               stdout=[r"note: the train section of .*tiny-edited\.net differs from the recipe .*flagged-stopped\."
                       r"safetensors records, which the resumed run continues: epochs 2 \(the checkpoint's: 3\), "
                       r"batch 8 \(the checkpoint's: 24\), .*lr 0\.5 \(the checkpoint's: 0\.02\).*",
                       r"on mnist \(72 train / 24 validation images, --val-split 0\.25 .* 3 epochs, batch 24, "
                       r"lr 0\.02, momentum 0\.8, weight decay 0\.0001, cosine schedule, seed 7, Nesterov momentum, label "
                       r"smoothing 0\.1, augmentation: ",
                       r"resuming from .* inside epoch 2, after batch 1"])
    check("changed recipe" not in r.stdout, "the resumed run reports a changed recipe", r)
    check(read_bytes(stopped) == read_bytes(one), "the resumed checkpoint differs from the uninterrupted run's", r)


@suite.test
def resume_refuses_an_explicit_flag_that_differs_from_the_checkpoint():
    stopped = flagged_run_stopped_inside_epoch_2("conflict")
    r = train("--checkpoint", stopped, "--resume", "--lr", "0.03", "--seed", "7")  # --seed is the checkpoint's
    expect(r, 1, r"resnetc: error: --resume: .*conflict-stopped\.safetensors was written with another recipe: "
                 r"lr 0\.03 \(the checkpoint's: 0\.02\); leave these out to resume with the checkpoint's values, or "
                 r"add --allow-recipe-change to continue with these")
    check("compiled" not in r.stdout, "it compiled before refusing", r)
    # Precision is recorded too: one the checkpoint did not train in is refused the same way.
    header, metadata, data = read_safetensors(stopped)
    check(metadata.get("precision") == "fp32", f"the checkpoint records no precision: {metadata}")
    metadata["precision"] = "bf16"
    edited = ckpt("conflict-precision.safetensors")
    write_safetensors(edited, header, metadata, data)
    expect(train("--checkpoint", edited, "--resume", "--precision", "fp32"), 1,
           r"resnetc: error: --resume: .* another recipe: precision fp32 \(the checkpoint's: bf16\);.*")
    # Without the flag the run continues in the checkpoint's precision, here one the CPU does not have.
    metadata["precision"] = "tf32"
    write_safetensors(edited, header, metadata, data)
    expect(train("--checkpoint", edited, "--resume"), 1, r"resnetc: error: --precision tf32: .*the CPU has none.*",
           stdout=r"note: .*conflict-precision\.safetensors was trained in tf32; the resumed run continues in it")


@suite.test
def resume_of_a_checkpoint_that_records_no_recipe_says_so():
    path = ckpt("unrecorded.safetensors")
    expect(train("--checkpoint", path, "--max-steps", "3"), 0)  # one epoch
    header, metadata, data = read_safetensors(path)
    for key in ("epochs", "lr", "schedule"):
        del metadata[key]
    write_safetensors(path, header, metadata, data)
    r = train("--checkpoint", path, "--resume")
    expect(r, 1, r"resnetc: error: --resume: .*unrecorded\.safetensors records no recipe \(its metadata has no "
                 r"'epochs', 'lr', 'schedule'\), so the run it continues is not known: give that run's settings as "
                 r"flags and add --allow-recipe-change to resume with the train section's and theirs")
    check("compiled" not in r.stdout, "it compiled before refusing", r)
    expect(train("--checkpoint", path, "--resume", "--allow-recipe-change"), 0,
           stdout=r"resuming from .* after epoch 1")


@suite.test
def max_steps_then_resume_gives_the_same_bytes_as_one_run():
    reference = reference_run()
    path = ckpt("steps.safetensors")
    r = expect(train("--checkpoint", path, "--max-steps", "40", data=BIG_DATA), 0,
               stdout=[r"epoch 1/2 stopped after batch 40/94", r"stopped after 40 training steps \(--max-steps\)"])
    _, metadata, _ = read_safetensors(path)
    check(metadata.get("step") == "40", f"the checkpoint is not inside epoch 1 at step 40: {metadata}", r)
    r = expect(train("--checkpoint", path, "--resume", data=BIG_DATA), 0,
               stdout=r"resuming from .* inside epoch 1, after batch 40")
    check(read_bytes(path) == reference, "the resumed run's checkpoint differs from the uninterrupted run's", r)
    ref_epochs = [l.split(", ")[:3] for l in _reference["stdout"].splitlines() if l.startswith("epoch ")]
    got_epochs = [l.split(", ")[:3] for l in r.stdout.splitlines() if l.startswith("epoch ")]
    check(got_epochs == ref_epochs, f"epoch reports differ: {got_epochs} vs {ref_epochs}", r)


# Dropout, drop-path and an option-A shortcut: the masks are drawn from the seed and the step,
# so a run stopped inside an epoch resumes to the same bytes as a run never stopped.
DROPOUT_NET = """block a(width, stride = 1) {
  branch { conv width k3 stride=stride p1; bn; relu; dropout 0.3; conv width k3 p1; bn; droppath 0.2 }
  shortcut if stride != 1 or in != width { padshortcut width stride=stride }
  post { relu }
}
network drop {
  input 1x12x12
  stem { conv 4 k3 p1; bn; relu }
  stage a 4
  stage a 8 stride=2
  head { avgpool; dropout 0.5; fc 10 }
  train {
    epochs 2
    batch 32
    lr 0.05
    momentum 0.9
  }
}
"""


@suite.test
def dropout_run_stopped_and_resumed_gives_the_same_bytes_as_one_run():
    model = suite.write("drop.net", DROPOUT_NET)
    one, stopped = ckpt("drop-one.safetensors"), ckpt("drop-stopped.safetensors")
    expect(suite.run(["train", model, "--data", DATA, *CPU, "--checkpoint", one]), 0)
    expect(suite.run(["train", model, "--data", DATA, *CPU, "--checkpoint", stopped, "--max-steps", "4"]), 0,
           stdout=r"epoch 2/2 stopped after batch 1/3")
    r = expect(suite.run(["train", model, "--data", DATA, *CPU, "--checkpoint", stopped, "--resume"]), 0,
               stdout=r"resuming from .* inside epoch 2, after batch 1")
    check(read_bytes(stopped) == read_bytes(one), "the resumed dropout run's checkpoint differs from one run's", r)
    # The masks do act: the same run without dropout ends elsewhere.
    plain = suite.write("plain.net", DROPOUT_NET.replace("dropout 0.3", "dropout 0").replace("dropout 0.5", "dropout 0")
                        .replace("droppath 0.2", "droppath 0"))
    other = ckpt("drop-plain.safetensors")
    expect(suite.run(["train", plain, "--data", DATA, *CPU, "--checkpoint", other]), 0)
    check(read_bytes(other) != read_bytes(one), "training with dropout gave the bytes of training without", r)


# Long enough (about 0.1 s an epoch) that a signal sent after epoch 1's line lands in a run
# still training; wherever it lands, the run must resume to the same bytes.
LONG = ["--epochs", "20"]


def interrupt(path, signals, wait_for="epoch 1/"):
    """Starts training the big data set for LONG, sends `signals` once epoch 1 has ended;
    returns (exit status, stdout, stderr)."""
    cmd = [suite.resnetc, "train", MODEL, "--data", BIG_DATA, "--checkpoint", path, *CPU, *LONG]
    p = subprocess.Popen(cmd, cwd=suite.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, XDG_CACHE_HOME=suite.cache_dir))
    out = ""
    for line in p.stdout:
        out += line
        if line.startswith(wait_for):
            break
    for s in signals:
        p.send_signal(s)
    rest, err = p.communicate(timeout=120)
    return p.returncode, out + rest, err


@suite.test
def ctrl_c_saves_a_checkpoint_that_resumes_to_the_same_bytes():
    reference_path = ckpt("long-reference.safetensors")
    expect(train("--checkpoint", reference_path, *LONG, data=BIG_DATA), 0)
    path = ckpt("sigint.safetensors")
    code, out, err = interrupt(path, [signal.SIGINT])
    check(code == 130, f"exit status {code}, expected 130\n{out}{err}")
    check("stopped by SIGINT: saved" in out and os.path.exists(path), f"nothing saved\n{out}{err}")
    expect(train("--checkpoint", path, "--resume", *LONG, data=BIG_DATA), 0)
    check(read_bytes(path) == read_bytes(reference_path),
          "the resumed run's checkpoint differs from the uninterrupted run's")


@suite.test
def sigterm_saves_and_exits_143():
    code, out, err = interrupt(ckpt("sigterm.safetensors"), [signal.SIGTERM])
    check(code == 143 and "stopped by SIGTERM: saved" in out, f"exit status {code}\n{out}{err}")


@suite.test
def a_second_ctrl_c_stops_at_once_and_keeps_the_last_checkpoint():
    # The example network's steps at batch 1000 (about a second each) leave time for the second
    # signal to arrive inside the step the first one lets finish, even on a loaded machine; it is
    # sent once the first has landed, since two pending SIGINTs would merge into one.
    path = ckpt("twice.safetensors")
    cmd = [suite.resnetc, "train", "examples/small-fashion.net", "--data", BIG_DATA, "--checkpoint", path, *CPU,
           "--batch", "1000"]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, XDG_CACHE_HOME=suite.cache_dir))
    out = ""
    for line in p.stdout:
        out += line
        if line.startswith("epoch 1/"):
            break
    p.send_signal(signal.SIGINT)
    err = ""
    for line in p.stderr:
        err += line
        if "stopping after this step" in line:
            break
    p.send_signal(signal.SIGINT)
    rest, err_rest = p.communicate(timeout=120)
    out, err = out + rest, err + err_rest
    check(p.returncode == 130 and "stopped at once" in err, f"exit status {p.returncode}\n{out}{err}")
    _, metadata, _ = read_safetensors(path)  # the epoch-1 checkpoint, whole
    check(metadata.get("epoch") == "1" and "step" not in metadata and all_finite(path),
          f"the last checkpoint is not epoch 1's: {metadata}")


# --- networks with squeeze-excitation gates --------------------------------------------------------

SE_NET = """block se_basic(width, stride = 1) {
  branch {
    conv width k3 stride=stride p1; bn; silu
    conv width k3 p1; bn
    gate se { avgpool; conv width / 4 k1 bias; relu; conv width k1 bias; sigmoid }
  }
  shortcut if stride != 1 or in != width { conv width k1 stride=stride; bn }
  post { relu }
}
network se_small {
  input 1x12x12
  stem { conv 8 k3 p1; bn; relu }
  stage se_basic 8
  stage se_basic 16 stride=2
  head { avgpool; fc 10 }
}
"""


@suite.test
def an_se_network_trains_and_its_loss_falls():
    model = suite.write("se.net", SE_NET)
    data = write_idx_subset(suite.path("se-data"), 256, 64)  # 8 steps an epoch at batch 32
    log = suite.path("se.csv")
    r = expect(suite.run(["train", model, "--data", data, *CPU, "--batch", "32", "--epochs", "4", "--lr", "0.05",
                          "--momentum", "0.9", "--max-steps", "24", "--checkpoint", ckpt("se.safetensors"),
                          "--log", log]), 0)
    check("stopped after 24 training steps" in r.stdout, "--max-steps did not stop the run", r)
    losses = [float(line.split(",")[1]) for line in log_lines(log) if line[:1].isdigit()]
    check(len(losses) == 3 and all(math.isfinite(v) for v in losses), f"expected 3 epochs' losses: {losses}")
    check(losses[0] > losses[1] > losses[2], f"the loss did not fall epoch after epoch: {losses}")


# --- the log ---------------------------------------------------------------------------------------

def log_lines(path):
    with open(path) as f:
        return f.read().splitlines()


@suite.test
def each_run_starts_its_log_with_a_header_row():
    log = suite.path("runs.csv")
    expect(train("--checkpoint", ckpt("log1.safetensors"), "--log", log), 0)
    expect(train("--checkpoint", ckpt("log2.safetensors"), "--log", log), 0)
    lines = log_lines(log)
    headers = [l for l in lines if l.startswith("# run ")]
    check(len(headers) == 2 and all(" train " in h for h in headers), f"expected two run headers: {lines}")
    check(lines.count("epoch,loss,train_acc,test_acc,seconds,examples_per_sec,lr") == 2, f"{lines}")
    expect(train("--checkpoint", ckpt("log3.safetensors"), "--log", log, "--overwrite-log"), 0)
    lines = log_lines(log)
    check(len([l for l in lines if l.startswith("# run ")]) == 1 and len(lines) == 4, f"not overwritten: {lines}")
    jsonl = suite.path("runs.jsonl")
    expect(train("--checkpoint", ckpt("log4.safetensors"), "--log", jsonl), 0)
    check(log_lines(jsonl)[0].startswith('{"run": "'), f"{log_lines(jsonl)}")


@suite.test
def a_row_written_before_a_lost_checkpoint_is_replaced_on_resume():
    log, path = suite.path("killed.csv"), ckpt("killed.safetensors")
    expect(train("--checkpoint", path, "--log", log, "--max-steps", "3"), 0)  # epoch 1 logged and saved
    with open(log, "a") as f:  # what a run killed after epoch 2's row, before its checkpoint, leaves
        f.write("2,9.999999,0.000000,0.000000,0.000,0.0,0.05\n")
    expect(train("--checkpoint", path, "--log", log, "--resume"), 0)
    rows = [l.split(",")[0] for l in log_lines(log) if l[:1].isdigit()]
    check(rows == ["1", "2"] and "9.999999" not in open(log).read(), f"rows {rows}: {log_lines(log)}")


# --- the right diagnosis, fine-tuning, short runs -----------------------------------------------

@suite.test
def labels_beyond_the_classifier_are_a_located_error():
    net = suite.write("fc5.net", TINY_NET.replace("fc 10", "fc 5"))
    line = next(i for i, l in enumerate(TINY_NET.splitlines(), 1) if "fc 10" in l)
    for command in (["train", net, "--checkpoint", ckpt("fc5.safetensors")],
                    ["eval", net, "--weights", ckpt("fc5.safetensors")]):
        r = suite.run([*command, "--data", DATA, *CPU])
        expect(r, 1, rf".*fc5\.net:{line}:\d+: error: the classifier has 5 outputs, but the data set data has labels "
                     r"up to 9 \(10 classes\).*")


@suite.test
def a_network_without_a_classifier_is_refused_at_its_line_before_any_work():
    net = suite.write("headless.net", TINY_NET.replace("head { avgpool; fc 10 }", "head { avgpool }"))
    for command in (["train", net, "--checkpoint", ckpt("headless.safetensors")],
                    ["eval", net, "--weights", ckpt("headless.safetensors")]):
        r = suite.run([*command, "--data", DATA, *CPU])
        expect(r, 1, r".*headless\.net:\d+:\d+: error: .*classifier.*")
        check("training tiny" not in r.stdout, "work began before the refusal", r)
    check(not os.path.exists(suite.path(".headless.safetensors.lock")), "train locked a checkpoint it refused")


@suite.test
def init_loads_matching_tensors_and_lists_the_rest():
    source = ckpt("init5.safetensors")
    net5 = suite.write("init5.net", TINY_NET.replace("fc 10", "fc 5"))
    data5 = write_idx_subset(suite.path("data5"), 96, 64, labels=lambda split, i, v: v % 5)
    expect(suite.run(["train", net5, "--data", data5, "--checkpoint", source, "--max-steps", "1", *CPU]), 0)
    expect(train("--checkpoint", ckpt("tuned.safetensors"), "--init", source, "--max-steps", "1"), 1,
           r"resnetc: checkpoint error: .*init5\.safetensors: the classifier's head\.fc\.weight is F32 \[5, 8\] in the "
           r"file, \[10, 8\] here; give --reset-head .*")
    r = expect(train("--checkpoint", ckpt("tuned.safetensors"), "--init", source, "--max-steps", "1", "--reset-head"), 0,
               stdout=[r"initialized from .*init5\.safetensors, except:",
                       r"head\.fc\.bias, head\.fc\.weight: the classifier, initialized \(--reset-head\)"])
    check("stem.conv.weight" not in r.stdout, "a matching tensor was listed as not loaded", r)


@suite.test
def eval_limit_and_eval_errors_say_evaluating():
    weights = ckpt("sound.safetensors")
    if not os.path.exists(weights):
        expect(train("--checkpoint", weights), 0)
    expect(suite.run(["eval", MODEL, "--data", DATA, "--weights", weights, "--limit", "10", *CPU]), 0,
           stdout=r"test acc \S+ \(10 images")
    rgb = suite.write("rgb.net", TINY_NET.replace("input 1x12x12", "input 3x12x12"))
    r = suite.run(["eval", rgb, "--data", DATA, "--weights", weights, *CPU])
    check(r.returncode == 1 and "training" not in r.stderr, "eval's error speaks of training", r)


@suite.test
def the_progress_line_fits_the_terminal():
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
    p = subprocess.Popen([suite.resnetc, "train", MODEL, "--data", BIG_DATA, "--checkpoint", ckpt("tty.safetensors"),
                          "--device", "cpu", "--epochs", "1"], cwd=suite.tmp, stdin=slave, stdout=subprocess.DEVNULL,
                         stderr=slave, env=dict(os.environ, XDG_CACHE_HOME=suite.cache_dir))
    os.close(slave)
    drawn = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    p.wait(timeout=120)
    os.close(master)
    frames = [f for f in drawn.decode(errors="replace").replace("\n", "\r").split("\r") if f.strip()]
    check(p.returncode == 0 and frames, f"no progress drawn (exit {p.returncode})")
    check(all(len(f) <= 39 for f in frames), f"a progress frame is wider than 39 columns: {max(frames, key=len)!r}")


suite.main()
