#pragma once
// The graph as Graphviz DOT, for `--emit=dot` (`resnetc model.net --emit=dot | dot -Tsvg`).
//
// Drawn top to bottom in one column: the input, one node per op (HTML-like label: its name
// within its cluster, its kind with its window, its parameters; filled with a color per op
// kind), the output; an edge per data input, labelled with the value's shape (parameters and
// state are not drawn: their count is in the op's label). Ops sit in clusters nested by dotted
// name: "stage2.block0.shortcut.conv" in "stage2.block0.shortcut", inside "stage2.block0",
// inside "stage2"; each cluster is labelled with its parameters, and the header with the total,
// counted as the layer table counts them. The network's longest path (each block's branch)
// forms a straight column, so each shortcut and its add sit beside the branch.
//
// DotOptions::depth folds as `resnetc --depth N` folds the table: ops whose names have more
// than N components are drawn as one node per group of their first N ("stage2.block0"); a
// cluster of folded nodes that form a chain is drawn as a row.
//
// Node ids are op indices (op0, op1, ...) and group indices (group0, ...), so any name, quotes
// included, is safe. Never throws on a broken graph: dangling ids are skipped.
#include <string>

#include "compiler/ir/graph.h"

namespace resnetc::ir {

struct DotOptions {
  int depth = 0;  // 0: every op; N: fold names into their first N dotted components
};

std::string print_dot(const Graph& graph, const DotOptions& options = {});

}  // namespace resnetc::ir
