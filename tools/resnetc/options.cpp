#include "tools/resnetc/options.h"

#include <fmt/format.h>

#include <charconv>

#include "dsl/diagnostics.h"

namespace resnetc::cli {
namespace {

const std::vector<std::string_view> kOptions = {"--emit", "--format", "--depth", "--input", "--batch",
                                                "--train", "--prelude", "--help", "--version"};

int64_t positive(std::string_view option, std::string_view text, int64_t max) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 1 || v > max)
    throw UsageError(fmt::format("{} expects a whole number from 1 to {}, got '{}'", option, max, text));
  return v;
}

std::array<int64_t, 3> chw(std::string_view text) {
  std::array<int64_t, 3> dims{};
  size_t start = 0;
  for (size_t i = 0; i < 3; ++i) {
    size_t x = i < 2 ? text.find('x', start) : text.size();
    if (x == std::string_view::npos || (i == 2 && text.find('x', start) != std::string_view::npos))
      throw UsageError(fmt::format("--input expects CxHxW, like 1x96x96, got '{}'", text));
    dims[i] = positive("--input", text.substr(start, x - start), int64_t{1} << 30);
    start = x + 1;
  }
  return dims;
}

}  // namespace

std::string usage() {
  return R"(usage: resnetc [options] MODEL.net

Compiles a residual network described in MODEL.net and prints its layer table:
one row per layer with its output shape [N, C, H, W], parameters and MACs
(multiply-accumulates of convolutions and fully connected layers), then the
totals, parameter memory and the activation memory of a training step.

options:
  --emit=WHAT       what to print: table (default), ir (the graph IR as text),
                    dot (a Graphviz drawing: resnetc m.net --emit=dot | dot -Tsvg),
                    plan (the kernels, their buffers and memory; ends with
                    "kernels: N, bytes moved: B, peak buffer memory: M")
  --format=FMT      text (default) or json, for the table: one object with
                    layers [{name, op, shape, params, macs}], total_params,
                    trainable_params, total_macs, param_bytes, activation_bytes
  --depth=N         fold layers into their first N name components
                    (1: stem, stages, head; 2: blocks); default: every layer
  --input=CxHxW     input size, replacing the file's `input` line
  --batch=N         batch size N of the shapes (default 1)
  --train           with --emit=ir, dot or plan: one training step
                    (forward with batch statistics, loss, backward, SGD
                    updates with the file's momentum and weight decay)
  --prelude         print the built-in blocks (basic, bottleneck, ...) and exit
  --help            print this help and exit
  --version         print the version and exit

Options take their value after '=' or as the next argument.
Exit status: 0 on success, 1 when the model has an error, 2 for bad usage.
The language is described in docs/language.md.
)";
}

Options parse_options(const std::vector<std::string>& args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
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
    auto flag = [&](bool& target) {
      if (has_value) throw UsageError(fmt::format("{} takes no value", name));
      target = true;
    };
    if (name == "--help" || name == "-h") flag(o.help);
    else if (name == "--version") flag(o.version);
    else if (name == "--prelude") flag(o.prelude);
    else if (name == "--train") flag(o.train);
    else if (name == "--emit") {
      std::string v = take();
      if (v == "table") o.emit = Emit::Table;
      else if (v == "ir") o.emit = Emit::Ir;
      else if (v == "dot") o.emit = Emit::Dot;
      else if (v == "plan") o.emit = Emit::Plan;
      else throw UsageError(fmt::format("--emit expects table, ir, dot or plan, got '{}'", v));
    } else if (name == "--format") {
      std::string v = take();
      if (v == "text") o.format = Format::Text;
      else if (v == "json") o.format = Format::Json;
      else throw UsageError(fmt::format("--format expects text or json, got '{}'", v));
    } else if (name == "--depth") {
      o.depth = static_cast<int>(positive("--depth", take(), 100));
    } else if (name == "--input") {
      o.input = chw(take());
    } else if (name == "--batch") {
      o.batch = positive("--batch", take(), int64_t{1} << 20);
    } else {
      throw UsageError(fmt::format("unknown option '{}'{}", name, dsl::did_you_mean(name, kOptions)));
    }
  }
  if (o.model.empty() && !o.help && !o.version && !o.prelude) throw UsageError("no model given");
  if (o.train && o.emit == Emit::Table)
    throw UsageError("--train shows the training step: use it with --emit=ir, dot or plan");
  return o;
}

}  // namespace resnetc::cli
