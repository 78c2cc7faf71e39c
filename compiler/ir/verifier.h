#pragma once
// The graph verifier: run after the DSL lowering and after every pass, so a pass that breaks
// the IR is caught at the pass, not three passes later in a kernel.
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/ir/ops.h"  // the attribute schema, which callers of verify() print

namespace resnetc::ir {

// Every problem found, one message each (empty: the graph is valid). Messages name what they
// are about: "op 'stage2.block0.conv1' (conv2d): ...", "parameter 'x.weight': ...",
// "graph: ...". Never throws and never reads out of bounds, however broken the graph.
std::vector<std::string> verify(const Graph& graph);

class VerifyError : public std::runtime_error {
 public:
  VerifyError(std::string message, std::vector<std::string> found)
      : std::runtime_error(std::move(message)), problems(std::move(found)) {}
  std::vector<std::string> problems;
};

// Throws VerifyError when verify() finds anything; the message reads
// "graph 'g' is invalid after 'dsl lowering' (2 problems):\n  - ...\n  - ...".
void verify_or_throw(const Graph& graph, std::string_view after_what);

}  // namespace resnetc::ir
