#include "tools/resnetc/options.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iostream>

#include "compiler/passes/pass.h"
#include "dsl/diagnostics.h"

namespace resnetc::cli {
namespace {

const std::vector<std::string_view> kOptions = {
    "--emit", "--format", "--depth", "--train", "--input", "--batch", "--device", "--threads", "--cache-dir", "--epochs",
    "--seed", "--lr", "--momentum", "--weight-decay", "--schedule", "--data", "--checkpoint", "--log", "--resume",
    "--no-progress", "--weights", "--steps", "--warmup", "--profile", "--prelude", "--help", "--version", "-O0", "-O1", "-O2",
    "--print-after", "--print-after-all", "--verify-each", "--list-passes", "--overwrite-log", "--allow-recipe-change",
    "--init", "--max-steps", "--limit"};

std::vector<std::string_view> pass_names() {
  std::vector<std::string_view> names;
  for (const passes::Pass& p : passes::all_passes()) names.push_back(p.name);
  return names;
}

int64_t whole(std::string_view option, std::string_view text, int64_t min, int64_t max) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max)
    throw UsageError(fmt::format("{} expects a whole number from {} to {}, got '{}'", option, min, max, text));
  return v;
}

double number(std::string_view option, const std::string& text, double min, double below) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v) || v < min || v >= below)
    throw UsageError(fmt::format("{} expects a number in [{}, {}), got '{}'", option, min, below, text));
  return v;
}

std::array<int64_t, 3> chw(std::string_view text) {
  std::array<int64_t, 3> dims{};
  size_t start = 0;
  for (size_t i = 0; i < 3; ++i) {
    size_t x = i < 2 ? text.find('x', start) : text.size();
    if (x == std::string_view::npos || (i == 2 && text.find('x', start) != std::string_view::npos))
      throw UsageError(fmt::format("--input expects CxHxW, like 1x96x96, got '{}'", text));
    dims[i] = whole("--input", text.substr(start, x - start), 1, int64_t{1} << 30);
    start = x + 1;
  }
  return dims;
}

}  // namespace

std::string usage() {
  return R"(usage: resnetc [options] MODEL.net          compile; print the layer table
       resnetc train MODEL.net [options]    train on Fashion-MNIST (or MNIST)
       resnetc eval MODEL.net --weights FILE [options]
       resnetc bench MODEL.net [options]    time training steps on synthetic data

Compiling prints one row per layer with its output shape [N, C, H, W],
parameters and MACs (multiply-accumulates of convolutions and fully connected
layers), then the totals, parameter memory and the activation memory of a
training step.

compile options:
  --emit=WHAT       what to print: table (default), ir (the graph IR as text),
                    dot (a Graphviz drawing: resnetc m.net --emit=dot | dot -Tsvg),
                    plan (the kernels, their buffers and memory; ends with
                    "kernels: N, bytes moved: B, peak buffer memory: M,
                    unplanned: U", U the memory without buffer reuse),
                    llvm (the kernels as optimized LLVM IR for this CPU),
                    cuda (the kernels as one CUDA C++ translation unit for
                    sm_90, which NVRTC and nvcc accept)
  --format=FMT      text (default) or json, for the table: one object with
                    layers [{name, op, shape, params, macs}], total_params,
                    trainable_params, total_macs, param_bytes, activation_bytes
  --depth=N         fold layers into their first N name components
                    (1: stem, stages, head; 2: blocks); default: every layer
  --train           with --emit=ir, dot, plan, llvm or cuda: one training step
                    (forward with batch statistics, loss, backward, SGD
                    updates with the file's momentum and weight decay)

common options:
  --input=CxHxW     input size, replacing the file's `input` line
  --batch=N         batch size (compile: default 1; train: the recipe's, 256)
  --device=D        auto (default: an NVIDIA GPU when one is there), cpu or cuda
  --threads=N       CPU threads (default: every core)
  --cache-dir=DIR   where compiled GPU kernels are kept (default
                    $XDG_CACHE_HOME/resnetc or ~/.cache/resnetc)

train options (each replaces the file's `train` section; the defaults are the
book's recipe: 10 epochs, batch 256, lr 0.05, plain SGD):
  --epochs=N --lr=X --momentum=X --weight-decay=X --seed=N
  --schedule=S      constant (default), cosine, or step (x0.1 at 50% and 75%)
  --data=DIR        the IDX files (default /usr/share/datasets/fashion-mnist,
                    from the Debian package dataset-fashion-mnist)
  --checkpoint=FILE written after every epoch, atomically
                    (default: the model's name + .safetensors)
  --resume          continue from --checkpoint: weights, optimizer state,
                    epoch and data order, to the same result as a run that
                    was never stopped
  --log=FILE        every epoch as CSV (.csv) or JSON lines (other names)
  --no-progress     no live progress line (it is drawn only on a terminal)

eval options:
  --weights=FILE    a checkpoint written by resnetc train; prints test accuracy

bench options:
  --steps=N         timed training steps (default 10), after --warmup=N (2)
  --profile         then time the same steps kernel by kernel (no CUDA
                    graph, so a little slower) and print the slowest
                    kernels and the time by kind, with GFLOP/s and GB/s

optimization (every command):
  -O0, -O1, -O2     -O0: one kernel per op, no memory reuse; -O1: common
                    subexpressions and dead code removed, BatchNorm folded
                    into convolutions for inference, buffers reused by
                    liveness; -O2 (default): also BatchNorm's backward in two
                    kernels, elementwise chains fused (BatchNorm + add + relu
                    in one kernel), all parameters updated in one kernel
  --print-after=PASS  print the IR to stderr after PASS (repeatable)
  --print-after-all   print the IR to stderr after every pass
  --verify-each     run the IR verifier after every pass
  --list-passes     print the passes, their levels and what they do

other:
  --prelude         print the built-in blocks (basic, bottleneck, ...) and exit
  --help, --version

Options take their value after '=' or as the next argument.
Exit status: 0 on success, 1 when the model, the data or a checkpoint has an
error or training fails, 2 for bad usage.
The language is described in docs/language.md.
)";
}

passes::PipelineOptions pipeline_options(const Options& o) {
  return {o.opt_level, o.print_after, o.print_after_all, o.verify_each, &std::cerr};
}

std::string list_passes() {
  std::string out;
  for (const passes::Pass& p : passes::all_passes())
    out += fmt::format("  {:<24} -O{}  {}\n", p.name, p.min_level, p.description);
  return out;
}

Options parse_options(const std::vector<std::string>& args) {
  Options o;
  size_t first = 0;
  if (!args.empty()) {
    if (args[0] == "train") o.command = Command::Train, first = 1;
    else if (args[0] == "eval") o.command = Command::Eval, first = 1;
    else if (args[0] == "bench") o.command = Command::Bench, first = 1;
  }
  for (size_t i = first; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg.size() < 2 || arg[0] != '-') {
      if (!o.model.empty()) throw UsageError(fmt::format("more than one model given: '{}' and '{}'", o.model, arg));
      o.model = arg;
      continue;
    }
    std::string name = arg, value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != std::string::npos) name = arg.substr(0, eq), value = arg.substr(eq + 1), has_value = true;
    auto take = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= args.size()) throw UsageError(fmt::format("{} needs a value", name));
      return args[++i];
    };
    auto flag = [&](bool& target, bool set = true) {
      if (has_value) throw UsageError(fmt::format("{} takes no value", name));
      target = set;
    };
    if (name == "--help" || name == "-h") flag(o.help);
    else if (name == "--version") flag(o.version);
    else if (name == "--prelude") flag(o.prelude);
    else if (name == "--train") flag(o.train);
    else if (name == "--resume") flag(o.resume);
    else if (name == "--no-progress") flag(o.progress, false);
    else if (name == "--overwrite-log") flag(o.overwrite_log);
    else if (name == "--allow-recipe-change") flag(o.allow_recipe_change);
    else if (name == "--init") o.init = take();
    else if (name == "--max-steps") o.max_steps = whole(name, take(), 1, INT64_MAX);
    else if (name == "--limit") o.limit = whole(name, take(), 1, INT64_MAX);
    else if (name == "--emit") {
      std::string v = take();
      if (v == "table") o.emit = Emit::Table;
      else if (v == "ir") o.emit = Emit::Ir;
      else if (v == "dot") o.emit = Emit::Dot;
      else if (v == "plan") o.emit = Emit::Plan;
      else if (v == "llvm") o.emit = Emit::Llvm;
      else if (v == "cuda") o.emit = Emit::Cuda;
      else throw UsageError(fmt::format("--emit expects table, ir, dot, plan, llvm or cuda, got '{}'", v));
    } else if (name == "--format") {
      std::string v = take();
      if (v == "text") o.format = Format::Text;
      else if (v == "json") o.format = Format::Json;
      else throw UsageError(fmt::format("--format expects text or json, got '{}'", v));
    } else if (name == "--device") {
      std::string v = take();
      if (v == "auto") o.device = Device::Auto;
      else if (v == "cpu") o.device = Device::Cpu;
      else if (v == "cuda") o.device = Device::Cuda;
      else throw UsageError(fmt::format("--device expects auto, cpu or cuda, got '{}'", v));
    } else if (name == "--depth") o.depth = static_cast<int>(whole(name, take(), 1, 100));
    else if (name == "--input") o.input = chw(take());
    else if (name == "--batch") o.batch = whole(name, take(), 1, int64_t{1} << 20);
    else if (name == "--threads") o.threads = static_cast<int>(whole(name, take(), 1, 1024));
    else if (name == "--cache-dir") o.cache_dir = take();
    else if (name == "--epochs") o.epochs = whole(name, take(), 1, 100000);
    else if (name == "--seed") o.seed = whole(name, take(), 0, INT64_MAX);
    else if (name == "--steps") o.steps = whole(name, take(), 1, 1000000);
    else if (name == "--warmup") o.warmup = whole(name, take(), 0, 1000000);
    else if (name == "--profile") flag(o.profile);
    else if (name == "--lr") o.lr = number(name, take(), 1e-12, 1e6);
    else if (name == "--momentum") o.momentum = number(name, take(), 0, 1);
    else if (name == "--weight-decay") o.weight_decay = number(name, take(), 0, 1);
    else if (name == "--schedule") {
      std::string v = take();
      if (v != "constant" && v != "cosine" && v != "step")
        throw UsageError(fmt::format("--schedule expects constant, cosine or step, got '{}'", v));
      o.schedule = v;
    } else if (name == "--data") o.data_dir = take();
    else if (name == "--checkpoint") {
      o.checkpoint = take();
      if (o.checkpoint.empty()) throw UsageError("--checkpoint needs a file name (it is empty)");
    }
    else if (name == "--log") o.log = take();
    else if (name == "--weights") o.weights = take();
    else if (name == "-O0" || name == "-O1" || name == "-O2") {
      bool set = false;
      flag(set);
      o.opt_level = name[2] - '0';
    } else if (name == "--print-after") {
      std::string v = take();
      if (passes::find_pass(v) == nullptr)
        throw UsageError(fmt::format("--print-after: there is no pass '{}'{} (passes: {})", v,
                                     dsl::did_you_mean(v, pass_names()), fmt::join(pass_names(), ", ")));
      o.print_after.push_back(v);
    } else if (name == "--print-after-all") flag(o.print_after_all);
    else if (name == "--verify-each") flag(o.verify_each);
    else if (name == "--list-passes") flag(o.list_passes);
    else if (name.size() > 2 && name.starts_with("-O"))
      throw UsageError(fmt::format(
          "there is no optimization level '{}': use -O0 (one kernel per operation), -O1 (common subexpressions, dead "
          "code, inference BatchNorm folding, memory reuse) or -O2 (all passes, the default)",
          name));
    else throw UsageError(fmt::format("unknown option '{}'{}", name, dsl::did_you_mean(name, kOptions)));
  }
  if (o.help || o.version || o.prelude || o.list_passes) return o;
  if (o.model.empty()) throw UsageError("no model given");
  if (o.train && (o.command != Command::Compile || o.emit == Emit::Table))
    throw UsageError("--train shows the training step: use it with --emit=ir, dot, plan, llvm or cuda");
  if (o.command == Command::Eval && o.weights.empty()) throw UsageError("eval needs --weights FILE");
  if (o.resume && o.command != Command::Train) throw UsageError("--resume applies to train");
  return o;
}

}  // namespace resnetc::cli
