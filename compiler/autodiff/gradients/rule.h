#pragma once
// The gradient rule of every op kind, one function each, named after the kind and declared
// from the rows of ops.def: a row without its rule fails to link. training_graph.cpp reaches
// them through a table built from the same rows. The definitions live by family, in the family
// files compiler/ops/<family>.cpp (docs/architecture.md, "The op table"); none.cpp says what the
// rule of a kind that is never differentiated does.
#include <string>
#include <string_view>
#include <vector>

#include "compiler/ir/graph.h"

namespace resnetc::autodiff {

// The training graph under construction, as a gradient rule adds to it.
class GradientSink {
 public:
  virtual ir::ValueId apply(ir::OpKind kind, std::string name, std::vector<ir::ValueId> inputs, const ir::Attrs& attrs,
                            const ir::SourceLoc& loc) = 0;
  // Adds `g` to the gradient of `v` (a value read twice gets the sum).
  virtual void accumulate(ir::ValueId v, ir::ValueId g, const ir::SourceLoc& loc) = 0;
  // `g` is the gradient of parameter `param`, for its update.
  virtual void param_grad(ir::ValueId param, ir::ValueId g) = 0;
  virtual const ir::Graph& graph() const = 0;

 protected:
  ~GradientSink() = default;
};

// One forward op whose output has a gradient, in the training graph's values.
struct OpGradient {
  const ir::Op& op;             // the forward op
  ir::ValueId y;                // its output
  ir::ValueId dy;               // the gradient of y
  std::vector<ir::ValueId> in;  // its inputs
  bool x_needs_grad;            // in[0] is not the network's input, whose gradient nobody reads
  ir::Dims x_shape;             // in[0]'s shape
  GradientSink& sink;

  ir::ValueId x() const { return in[0]; }
  // The training graph's op that computes y: BnApply(x, stats, ...) for a BatchNorm, the mask
  // op (x, rng) for a dropout or drop-path, else the op itself.
  const ir::Op& y_producer() const { return sink.graph().op(sink.graph().value(y).producer); }
  // A gradient op named after the forward op: "stage1.block0.conv1.grad_input".
  ir::ValueId grad_op(ir::OpKind kind, std::string_view suffix, std::vector<ir::ValueId> inputs,
                      const ir::Attrs& attrs = {}) const;
  void accumulate(ir::ValueId v, ir::ValueId g) const { sink.accumulate(v, g, op.loc); }
  void param_grad(ir::ValueId param, ir::ValueId g) const { sink.param_grad(param, g); }
};

// Attributes that give only `shape`, the shape of x: for a gradient op that reads no forward input.
ir::Attrs shape_of_x(const OpGradient& g);

// Throws ir::CompileError, at the op: autodiff has no gradient for its kind.
[[noreturn]] void not_differentiable(const ir::Op& op);

namespace gradients {
// Adds the gradients of the op's inputs (and parameters) to the training graph, or calls
// not_differentiable.
#define OP(kind, ...) void kind(const OpGradient& g);
#include "compiler/ir/ops.def"
#undef OP
}  // namespace gradients

// In namespace gradients: the rule of a kind autodiff never differentiates.
#define RESNETC_NOT_DIFFERENTIABLE(kind) \
  void kind(const OpGradient& g) { not_differentiable(g.op); }

}  // namespace resnetc::autodiff
