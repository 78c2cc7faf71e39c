#pragma once
// The graph as Graphviz DOT, for `--emit=dot` (`resnetc model.net --emit=dot | dot -Tsvg`).
//
// One node per op (HTML-like label: name, kind with its window, output shape, parameter
// count; filled with a color per op kind), the input and the output as ellipses, an edge per
// data input (parameters and state are not drawn; their count is in the op's label), and
// clusters by dotted name: "stage2.block0.conv1" sits in cluster "stage2.block0", nested in
// cluster "stage2"; "stem.conv" in cluster "stem". Node ids are op indices (op0, op1, ...), so
// any name, quotes included, is safe. Never throws on a broken graph: dangling ids are skipped.
#include <string>

#include "compiler/ir/graph.h"

namespace resnetc::ir {

std::string print_dot(const Graph& graph);

}  // namespace resnetc::ir
