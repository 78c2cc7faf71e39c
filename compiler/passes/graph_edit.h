#pragma once
// What the passes share to rewrite a graph: who uses each value, building a new op list in
// topological order, and fused programs by hand.
#include <string>
#include <vector>

#include "compiler/ir/graph.h"

namespace resnetc::passes {

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

// Builds a fused program one instruction at a time; each call returns its register. Nested
// calls are fine where only one argument emits instructions; otherwise sequence them in
// statements, since C++ leaves argument order unspecified and the program text must not depend
// on the compiler.
class ProgramBuilder {
 public:
  int32_t load(int32_t input) { return push({ir::FusedOpcode::Load, input, 0, 0}); }
  int32_t channel(int32_t input, int32_t row = 0) { return push({ir::FusedOpcode::LoadChannel, input, row, 0}); }
  int32_t plane(int32_t input) { return push({ir::FusedOpcode::LoadPlane, input, 0, 0}); }
  int32_t constant(double v) { return push({ir::FusedOpcode::Const, 0, 0, v}); }
  int32_t add(int32_t a, int32_t b) { return push({ir::FusedOpcode::Add, a, b, 0}); }
  int32_t sub(int32_t a, int32_t b) { return push({ir::FusedOpcode::Sub, a, b, 0}); }
  int32_t mul(int32_t a, int32_t b) { return push({ir::FusedOpcode::Mul, a, b, 0}); }
  int32_t relu(int32_t a) { return push({ir::FusedOpcode::Relu, a, 0, 0}); }
  int32_t relu_mask(int32_t dy, int32_t y) { return push({ir::FusedOpcode::ReluMask, dy, y, 0}); }
  int32_t rsqrt(int32_t a) { return push({ir::FusedOpcode::Rsqrt, a, 0, 0}); }
  int32_t sigmoid(int32_t a) { return push({ir::FusedOpcode::Sigmoid, a, 0, 0}); }
  // 1 / sqrt(var + eps) from the variance row of a [2, C] statistics input (or a [C] one).
  int32_t inverse_std(int32_t input, int32_t row, double eps) {
    const int32_t var = channel(input, row);
    return rsqrt(add(var, constant(eps)));
  }
  // (x - mean) * invstd: BatchNorm's normalized input.
  int32_t normalized(int32_t x, int32_t mean, int32_t invstd) { return mul(sub(x, mean), invstd); }

  ir::FusedProgram map(int32_t result) && { return {std::move(instrs_), {result}, false}; }
  ir::FusedProgram reduce(std::vector<int32_t> results) && { return {std::move(instrs_), std::move(results), true}; }

 private:
  int32_t push(ir::FusedInstr in) {
    instrs_.push_back(in);
    return static_cast<int32_t>(instrs_.size() - 1);
  }
  std::vector<ir::FusedInstr> instrs_;
};

// An op of kind Fused named `name` over `space` reading `inputs`.
ir::Op fused_op(std::string name, std::vector<ir::ValueId> inputs, const ir::Dims& space, ir::FusedProgram program,
                ir::SourceLoc loc);

}  // namespace resnetc::passes
