#pragma once
// The IR's text form, for `--emit=ir`, `--print-after=PASS` and golden tests:
//
//   graph tiny {
//     input %input : [1, 3, 32, 32]
//     param %stem.conv.weight : [16, 3, 3, 3]
//     %stem.conv = conv2d(%input, %stem.conv.weight) {out_channels=16, kernel=3x3, stride=1x1, padding=1x1} : [1, 16, 32, 32]   // tiny.net:3:5
//     ...
//     return %head.fc
//   }
//
// Rules, so that the same graph always prints the same text and a change reads as a small diff:
// - one line per op, in the graph's (topological) order; `%x` is a value's name, quoted
//   (`%"a b"`) when it holds characters other than letters, digits, `_`, `.` and `-`;
// - parameters (`param`) and state (`state`) are declared on their own line right before the
//   first op that reads them, so each block reads top-down; any that no op reads come last;
// - attributes in a fixed order: those that define a kind's output shape are always printed
//   (conv2d: out_channels, kernel, stride, padding; maxpool/avgpool: kernel, stride, padding;
//   linear: out_features), every other attribute only when it differs from its default
//   (groups, bias, eps, momentum; and a stray attribute the kind does not use, which the
//   verifier rejects, so that a broken graph shows it);
// - the op's source location as a trailing `// file:line:col` comment when it has one;
// - a blank line between ops of different blocks (the first two components of the op's dotted
//   name without its last one: "stem", "stage2.block0", "head").
// Never throws on a broken graph: dangling ids print as `%<bad id N>`.
#include <string>

#include "compiler/ir/graph.h"

namespace resnetc::ir {

struct PrintOptions {
  bool locations = true;  // the trailing `// file:line:col` comments
};

std::string print_ir(const Graph& graph, const PrintOptions& options = {});

// `%name` as print_ir writes it; `%<bad id N>` for an id out of range.
std::string ir_value_ref(const Graph& graph, ValueId id);

// The block an op belongs to for printing and Graphviz clusters: its dotted name without the
// last component, cut to at most `depth` components ("stage2.block0.conv1" -> "stage2.block0";
// "stem.conv" -> "stem"; "fc" -> "").
std::string op_group(std::string_view op_name, size_t depth = 2);

}  // namespace resnetc::ir
