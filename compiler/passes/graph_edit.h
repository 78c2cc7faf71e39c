#pragma once
// What the passes share to rewrite a graph: who uses each value, building a new op list in
// topological order, and fused programs by hand (ir::ProgramBuilder).
#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/ir/program_builder.h"

namespace resnetc::passes {

using ir::ProgramBuilder;

// users[v]: the ops reading value v, in order (an op reading v twice appears twice).
std::vector<std::vector<ir::OpId>> value_users(const ir::Graph& graph);

// True for the values the graph hands out: the logits and the loss.
bool is_graph_result(const ir::Graph& graph, ir::ValueId value);

// A rewrite: ops are copied or replaced in order into a new list; values replaced by others
// are renamed in every later input; finish() installs the list, drops activations nothing
// produces, and renumbers the values.
class Rewriter {
 public:
  explicit Rewriter(ir::Graph& graph) : g_(graph), replacement_(graph.values.size(), ir::kNoValue) {}

  // Appends `op` with its inputs renamed; a non-update gets a new output value of `shape`
  // named after the op. Returns the output (kNoValue for an update).
  ir::ValueId emit(ir::Op op, const ir::Dims& shape = {});
  // Appends an existing op unchanged but for renamed inputs, keeping its output value.
  void keep(const ir::Op& op);
  // Every later read of `from` reads `to` instead (also the graph's results).
  void replace(ir::ValueId from, ir::ValueId to);
  ir::ValueId renamed(ir::ValueId v) const;
  ir::Graph& graph() { return g_; }
  void finish();

 private:
  ir::Graph& g_;
  std::vector<ir::Op> ops_;
  std::vector<ir::ValueId> replacement_;
};

// An op of kind Fused named `name` over `space` reading `inputs`.
ir::Op fused_op(std::string name, std::vector<ir::ValueId> inputs, const ir::Dims& space, ir::FusedProgram program,
                ir::SourceLoc loc);

}  // namespace resnetc::passes
