#!/usr/bin/env python3
"""The pictures, through the real binary: `resnetc plot` draws training logs as well-formed SVG
(checked with xmllint and xml.etree) holding one series per metric per run, through one-epoch
logs, NaN rows, resumed runs, old logs without header rows and a log being appended while it
is read, and refuses what is not a log; `resnetc train --plot` redraws its figure from the log;
`--emit=dot` of every example parses with Graphviz, draws every add, states the table's
parameter total and stays as narrow as the README promises.

    python3 tests/cli/suite_plot.py --resnetc build/tools/resnetc/resnetc [-k NAME]
"""
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_cases import ROOT, TINY_NET, Suite, check, expect, write_idx_subset  # noqa: E402

suite = Suite(__doc__)
SVG = "{http://www.w3.org/2000/svg}"
METRICS = ("loss", "train_acc", "test_acc")
COLUMNS = "epoch,loss,train_acc,test_acc,seconds,examples_per_sec,lr"
for tool, package in (("xmllint", "libxml2-utils"), ("dot", "graphviz")):
    if shutil.which(tool) is None:
        sys.exit(f"suite_plot needs {tool} (Debian: {package}; tools/setup installs it)")


def header(n, command, resumed=None):
    extra = f" (resumed_after_epoch {resumed})" if resumed is not None else ""
    return f"# run 20261202T13074{n}Z-100{n} 2026-12-02T13:07:4{n}Z{extra}: {command}\n{COLUMNS}\n"


def rows(*epochs):
    """CSV rows for (epoch, loss, train_acc, test_acc) tuples."""
    return "".join(f"{e},{loss},{tr},{te},1.000,100.0,0.05\n" for e, loss, tr, te in epochs)


CURVE = [(1, 2.1, 0.30, 0.45), (2, 1.2, 0.60, 0.66), (3, 0.8, 0.74, 0.75)]


def plot(*args, **kw):
    return suite.run(["plot", *args], **kw)


def series(path):
    """{(run, metric): <g> element} of a figure, after checking it is well-formed XML both ways."""
    lint = subprocess.run(["xmllint", "--noout", path], capture_output=True, text=True)
    check(lint.returncode == 0, f"xmllint rejects {path}: {lint.stderr}")
    root = ET.parse(path).getroot()
    check(root.tag == SVG + "svg", f"{path} is not an SVG document")
    found = {}
    for g in root.iter(SVG + "g"):
        if g.get("class") == "series":
            key = (g.get("data-run"), g.get("data-metric"))
            check(key not in found, f"{path} draws {key} twice")
            found[key] = g
    return found


def points(g):
    """The (x, y) pieces of a series' path: one list per unbroken line."""
    path = g.find(SVG + "path")
    if path is None:
        return []
    pieces = []
    for command, x, y in re.findall(r"([ML])([-\d.]+),([-\d.]+)", path.get("d")):
        if command == "M":
            pieces.append([])
        pieces[-1].append((float(x), float(y)))
    return pieces


def runs_of(found):
    return sorted({run for run, _ in found})


def expect_one_series_per_metric(found, runs):
    check(len(runs_of(found)) == runs, f"expected {runs} runs, the figure has {runs_of(found)}")
    for run in runs_of(found):
        for metric in METRICS:
            check((run, metric) in found, f"run {run!r} has no {metric} series")
    check(len(found) == runs * len(METRICS), f"expected {runs * len(METRICS)} series, got {len(found)}")


# --- what is drawn --------------------------------------------------------------------------

@suite.test
def one_log_one_run():
    log = suite.write("one/log.csv", header(1, "resnetc train examples/small-fashion.net --log log.csv") + rows(*CURVE))
    out = suite.path("one", "curves.svg")
    expect(plot(log, "-o", out), 0, stdout=r"curves\.svg: 1 run drawn")
    found = series(out)
    expect_one_series_per_metric(found, 1)
    for g in found.values():
        check([len(p) for p in points(g)] == [3], f"a series of 3 epochs is drawn as {points(g)}")
    text = open(out).read()
    check("small-fashion" in text and "train loss" in text and "test acc" in text, "title or legend missing")


@suite.test
def two_logs_overlay_every_run_named_by_what_differs():
    a = suite.write("two/a.csv", header(1, "resnetc train m.net --log a.csv --lr 0.1") + rows(*CURVE) +
                    header(2, "resnetc train m.net --log a.csv --lr 0.05") + rows(*CURVE[:2]))
    b = suite.write("two/b.jsonl", json.dumps({"run": "20261202T1400Z-7", "date": "2026-12-02T14:00:00Z",
                                               "command": "resnetc train m.net --log b.jsonl --lr 0.2"}) + "\n" +
                    "".join(json.dumps({"epoch": e, "loss": loss, "train_acc": tr, "test_acc": te, "seconds": 1.0,
                                        "examples_per_sec": 100.0, "lr": 0.2}) + "\n" for e, loss, tr, te in CURVE))
    out = suite.path("two", "curves.svg")
    expect(plot(a, b, "-o", out), 0, stdout=r"3 runs drawn")
    found = series(out)
    expect_one_series_per_metric(found, 3)
    check(runs_of(found) == ["--lr 0.05", "--lr 0.1", "--lr 0.2"], f"run names {runs_of(found)}")
    check(re.search(r">m</text>", open(out).read()) is not None, "the title is not the shared model")


@suite.test
def one_epoch_log_marks_its_point():
    log = suite.write("single/log.csv", header(1, "resnetc train m.net") + rows(CURVE[0]))
    out = suite.path("single", "curves.svg")
    expect(plot(log, "-o", out), 0)
    found = series(out)
    expect_one_series_per_metric(found, 1)
    for g in found.values():
        check(len(g.findall(SVG + "circle")) == 1, "the one epoch is not marked")


@suite.test
def nan_row_is_a_gap():
    log = suite.write("nan/log.csv", header(1, "resnetc train m.net") +
                      rows(CURVE[0], CURVE[1], (3, "nan", "nan", 0.70), (4, 0.6, 0.8, 0.79), (5, 0.5, 0.82, 0.8)))
    out = suite.path("nan", "curves.svg")
    expect(plot(log, "-o", out), 0)
    found = series(out)
    run = runs_of(found)[0]
    check([len(p) for p in points(found[(run, "loss")])] == [2, 2], "a NaN loss is not a gap")
    check([len(p) for p in points(found[(run, "test_acc")])] == [5], "the finite test accuracy is broken")
    check(re.search(r"nan|inf", open(out).read(), re.IGNORECASE) is None, "a non-finite number reached the SVG")


@suite.test
def partial_last_line_is_not_read():
    log = suite.write("partial/log.csv", header(1, "resnetc train m.net") + rows(*CURVE) + "4,0.5,0.8")
    out = suite.path("partial", "curves.svg")
    expect(plot(log, "-o", out), 0)
    found = series(out)
    check(all([len(p) for p in points(g)] == [3] for g in found.values()), "the half-written row was drawn")


@suite.test
def log_being_appended_is_read_to_its_last_line():
    log = suite.write("live/log.csv", header(1, "resnetc train m.net"))
    out = suite.path("live", "curves.svg")
    done = threading.Event()

    def trainer():  # appends rows a few bytes at a time, as a slow writer would
        with open(log, "a") as f:
            for e in range(1, 41):
                for piece in re.findall(".{1,7}", f"{e},{2.0 / e:.6f},{0.5 + e / 100:.6f},{0.5 + e / 110:.6f},1.0,9.0,"
                                                  f"0.05\n", re.DOTALL):
                    f.write(piece)
                    f.flush()
                    time.sleep(0.001)
        done.set()

    writer = threading.Thread(target=trainer)
    writer.start()
    drawn, seen = 0, []
    while not done.is_set() or drawn == 0:
        r = plot(log, "-o", out)
        if r.returncode == 1 and "no epoch to draw" in r.stderr:
            continue  # before the first row is complete
        expect(r, 0)
        found = series(out)
        seen.append(len(points(found[(runs_of(found)[0], "loss")])[0]))
        drawn += 1
    writer.join()
    expect(plot(log, "-o", out), 0)
    check(len(points(series(out)[(runs_of(series(out))[0], "loss")])[0]) == 40, "the finished log is not all drawn")
    check(drawn >= 3 and seen == sorted(seen), f"the figures drawn while it grew: {seen}")


@suite.test
def resumed_run_is_one_run():
    log = suite.write("resumed/log.csv", header(1, "resnetc train m.net --log log.csv") + rows(*CURVE[:2]) +
                      header(2, "resnetc train m.net --log log.csv --resume", resumed=2) + rows(CURVE[2]))
    out = suite.path("resumed", "curves.svg")
    expect(plot(log, "-o", out), 0, stdout="1 run drawn")
    found = series(out)
    expect_one_series_per_metric(found, 1)
    check([len(p) for p in points(found[(runs_of(found)[0], "loss")])] == [3], "the resumed epochs are not one line")


@suite.test
def old_log_without_headers_splits_where_the_epoch_goes_back():
    log = suite.write("old/old.csv", COLUMNS + "\n" + rows(*CURVE) + rows(*CURVE[:2]))
    out = suite.path("old", "curves.svg")
    expect(plot(log, "-o", out), 0, stdout="2 runs drawn")
    check(runs_of(series(out)) == ["old.csv run 1", "old.csv run 2"], f"names {runs_of(series(out))}")


@suite.test
def png_through_rsvg_convert_or_a_message_saying_how():
    log = suite.write("png/log.csv", header(1, "resnetc train m.net") + rows(*CURVE))
    out = suite.path("png", "curves.png")
    if shutil.which("rsvg-convert"):
        expect(plot(log, "-o", out), 0)
        with open(out, "rb") as f:
            check(f.read(8) == b"\x89PNG\r\n\x1a\n", "not a PNG")
    os.makedirs(suite.path("nopath"), exist_ok=True)
    r = plot(log, "-o", suite.path("png", "other.png"), env={"PATH": suite.path("nopath")})
    expect(r, 1, r"resnetc: error: cannot write .*other\.png: PNG needs rsvg-convert \(Debian: apt-get install "
                 r"librsvg2-bin\); or write an SVG .*")
    check(not os.path.exists(suite.path("png", "other.png")), "a PNG was written without a converter")


@suite.test
def figure_replaced_whole_with_no_temporary_left():
    log = suite.write("atomic/log.csv", header(1, "resnetc train m.net") + rows(*CURVE))
    out = suite.write("atomic/curves.svg", "old figure")
    expect(plot(log, "-o", out), 0)
    series(out)
    check(sorted(os.listdir(suite.path("atomic"))) == ["curves.svg", "log.csv"], "a temporary file was left")


# --- what is refused ------------------------------------------------------------------------

@suite.test
def bad_inputs_are_refused_naming_the_file():
    good = suite.write("bad/good.csv", header(1, "resnetc train m.net") + rows(*CURVE))
    out = suite.path("bad", "curves.svg")
    expect(plot(suite.path("bad", "missing.csv"), "-o", out), 1,
           r"resnetc: error: cannot read the log .*missing\.csv: there is no such file")
    expect(plot(suite.path("bad"), "-o", out), 1, r"resnetc: error: .*bad is a directory, not a training log")
    fifo = suite.path("bad", "fifo.csv")
    os.mkfifo(fifo)
    expect(plot(fifo, "-o", out, timeout=20), 1, r"resnetc: error: .*fifo\.csv is a FIFO, not a training log")
    model = os.path.join(ROOT, "examples", "small-fashion.net")
    expect(plot(model, "-o", out), 1, r"resnetc: error: .*small-fashion\.net:1: not a resnetc training log: it starts "
                                      r"with '# A small.*")
    broken = suite.write("bad/broken.csv", header(1, "resnetc train m.net") + rows(*CURVE[:1]) + "2,0.5,zero,0.6,1,1,1\n")
    expect(plot(broken, "-o", out), 1, r"resnetc: error: .*broken\.csv:4: train_acc is 'zero', not a number: .*")
    short = suite.write("bad/short.csv", header(1, "resnetc train m.net") + "1,0.5,0.5\n")
    expect(plot(short, "-o", out), 1, r"resnetc: error: .*short\.csv:3: a row of 3 fields where the columns are 7 .*")
    empty = suite.write("bad/empty.csv", header(1, "resnetc train m.net"))
    expect(plot(empty, "-o", out), 1, r"resnetc: error: no epoch to draw in .*empty\.csv")
    check(not os.path.exists(out), "a figure was written from bad input")
    expect(plot(good, "-o", out), 0)  # and the good one still draws


@suite.test
def output_naming_an_input_or_nowhere_is_refused():
    log = suite.write("out/log.csv", header(1, "resnetc train m.net") + rows(*CURVE))
    before = open(log).read()
    link = suite.path("out", "link.svg")
    os.symlink(log, link)
    expect(plot(log, "-o", log), 2, r"resnetc: error: -o writes an SVG or a PNG figure: its name ends in \.svg or "
                                     r"\.png, got '.*log\.csv'")
    expect(plot(log, "-o", link), 1, r"resnetc: error: the figure .*link\.svg is an input \(.*log\.csv\); choose "
                                      r"another file, outputs never overwrite inputs")
    named_svg = suite.write("out/log.svg", before)  # a log's format is in its lines, not its name
    expect(plot(log, named_svg, "-o", named_svg), 1, r"resnetc: error: the figure .*log\.svg is an input .*")
    check(open(log).read() == before and open(named_svg).read() == before, "a log changed")
    expect(plot(log, "-o", suite.path("out", "no-dir", "c.svg")), 1,
           r"resnetc: error: cannot write the figure .*c\.svg: the directory .*no-dir does not exist")
    os.makedirs(suite.path("out", "d.svg"))
    expect(plot(log, "-o", suite.path("out", "d.svg")), 1, r"resnetc: error: the figure .*d\.svg is a directory; .*")


@suite.test
def usage_errors_exit_2():
    log = suite.write("usage/log.csv", header(1, "resnetc train m.net") + rows(*CURVE))
    expect(plot(log), 2, r"resnetc: error: plot needs -o FILE, the figure to write \(\.svg or \.png\)")
    expect(plot("-o", "c.svg"), 2, r"resnetc: error: plot needs one or more training logs .*")
    expect(plot(log, "-o", "c.pdf"), 2, r"resnetc: error: -o writes an SVG or a PNG figure: .*got 'c\.pdf'")
    expect(plot(log, "-o", "c.svg", "--epochs", "3"), 2, r"resnetc: error: --epochs does not apply to plot .*")
    expect(suite.run(["plot", "--help"]), 0, stdout=r"^usage: resnetc plot LOG\.\.\. -o FIGURE")


# --- train --plot ---------------------------------------------------------------------------

DATA = write_idx_subset(suite.path("data"), 96, 64)
MODEL = suite.write("tiny.net", TINY_NET)
TRAIN = ["train", MODEL, "--data", DATA, "--device", "cpu", "--no-progress"]


@suite.test
def train_plot_draws_the_run_from_its_log():
    log, figure = suite.path("train", "log.csv"), suite.path("train", "curves.svg")
    os.makedirs(suite.path("train"))
    # An earlier run in the same log is not this run's figure.
    with open(log, "w") as f:
        f.write(header(1, "resnetc train other.net --log log.csv") + rows(*CURVE))
    expect(suite.run(TRAIN + ["--checkpoint", suite.path("train", "c.safetensors"), "--log", log, "--plot", figure]), 0)
    found = series(figure)
    expect_one_series_per_metric(found, 1)
    check([len(p) for p in points(found[(runs_of(found)[0], "loss")])] == [2], "the figure does not hold both epochs")


@suite.test
def train_plot_is_refused_before_any_work():
    ckpt = suite.path("refused", "c.safetensors")
    os.makedirs(suite.path("refused"))
    log = suite.path("refused", "log.csv")
    expect(suite.run(TRAIN + ["--plot", suite.path("refused", "p.svg")]), 2,
           r"resnetc: error: --plot draws the figure from the log: give --log FILE too")
    expect(suite.run(TRAIN + ["--log", log, "--plot", suite.path("refused", "p.txt")]), 2,
           r"resnetc: error: --plot writes an SVG or a PNG figure: .*")
    link = suite.path("refused", "model.svg")
    os.symlink(MODEL, link)
    before = open(MODEL).read()
    r = expect(suite.run(TRAIN + ["--checkpoint", ckpt, "--log", log, "--plot", link]), 1,
               r"resnetc: error: the figure .*model\.svg is an input \(.*tiny\.net\); .*")
    check(open(MODEL).read() == before and "epoch" not in r.stdout, "the model changed, or training began", r)
    log_svg = suite.path("refused", "log.svg")
    r = expect(suite.run(TRAIN + ["--checkpoint", ckpt, "--log", log_svg, "--plot", log_svg]), 1,
               r"resnetc: error: the figure .*log\.svg is an input \(.*log\.svg\); .*")
    check(not os.path.exists(ckpt), "a checkpoint was written", r)


# --- --emit=dot -----------------------------------------------------------------------------

def svg_size(svg):
    """(width, height) in px of Graphviz's SVG, which states them in points."""
    w, h = re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups()
    return float(w) * 4 / 3, float(h) * 4 / 3


def render(args):
    r = expect(suite.run(args), 0)
    laid = subprocess.run(["dot", "-Tsvg"], input=r.stdout, capture_output=True, text=True)
    check(laid.returncode == 0, f"Graphviz rejects resnetc {' '.join(args)}: {laid.stderr}")
    return r.stdout, laid.stdout


@suite.test
def dot_of_every_example_parses_states_the_table_total_and_draws_every_add():
    examples = sorted(f for f in os.listdir(os.path.join(ROOT, "examples")) if f.endswith(".net"))
    check(len(examples) >= 10, f"examples: {examples}")
    for name in examples:
        model = os.path.join("examples", name)
        total = json.loads(expect(suite.run([model, "--format=json"]), 0).stdout)["total_params"]
        # -O0 lowers each add to a fused map of its two inputs that keeps the add's name.
        adds = re.findall(r"^  %([\w.]+) = fused\(.*program=\{r0=load\(0\); r1=load\(1\); r2=add\(r0,r1\)\} -> r2\}",
                          expect(suite.run([model, "--emit=ir", "-O0"]), 0).stdout, re.M)
        check(adds, f"{name} has no add")
        dot, _ = render([model, "--emit=dot"])
        check(f"{total:,} parameters" in dot, f"{name}: the drawing's total is not the table's {total:,}")
        for add in adds:
            check(re.search(rf'fillcolor="#fdb462", label=<<b>add</b>>.*tooltip="{re.escape(add)},', dot),
                  f"{name}: {add} is not drawn")
        render([model, "--emit=dot", "--depth", "2"])


@suite.test
def dot_stays_on_screen():
    for name in ("resnet18", "resnet50"):
        _, svg = render([f"examples/{name}.net", "--emit=dot"])
        width, _ = svg_size(svg)
        check(width <= 1400, f"{name} unfolded is {width:.0f} px wide")
    _, svg = render(["examples/resnet50.net", "--emit=dot", "--depth", "2"])
    width, height = svg_size(svg)
    check(width <= 1920 and height <= 1080, f"resnet50 --depth 2 is {width:.0f} x {height:.0f} px")


@suite.test
def dot_with_an_explicit_level_draws_the_optimized_graph():
    written, _ = render(["examples/resnet18.net", "--emit=dot"])
    optimized, _ = render(["examples/resnet18.net", "--emit=dot", "-O2"])
    check("batchnorm" in written and "fused" not in written, "the default drawing is not the network as written")
    check("fused" in optimized and "batchnorm" not in optimized, "-O2 does not draw the optimized graph")


suite.main()
