#pragma once
// The graph verifier: run after the DSL lowering and after every pass, so a pass that breaks
// the IR is caught at the pass, not three passes later in a kernel.
#include <string>
#include <string_view>
#include <vector>

#include "compiler/ir/compile_error.h"
#include "compiler/ir/graph.h"
#include "compiler/ir/ops.h"  // the attribute schema, which callers of verify() print

namespace resnetc::ir {

// Every problem found, one message each (empty: the graph is valid). Messages name what they
// are about: "op 'stage2.block0.conv1' (conv2d): ...", "parameter 'x.weight': ...",
// "graph: ...". Never throws and never reads out of bounds, however broken the graph.
std::vector<std::string> verify(const Graph& graph);

// Throws CompileError (Phase::Verify, no location) when verify() finds anything; the message reads
// "graph 'g' is invalid after 'dsl lowering' (2 problems):\n  - ...\n  - ...".
void verify_or_throw(const Graph& graph, std::string_view after_what);

}  // namespace resnetc::ir
