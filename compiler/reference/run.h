#pragma once
// How the reference executor runs each op kind: one function per kind, named after it and
// declared from the rows of ops.def, so a row without one fails to link. executor.cpp reaches
// them through a table built from the same rows. Each calls the kind's kernels (ops.h) with
// what OpArgs gives it. The definitions live by family, in the family files
// compiler/ops/<family>.cpp (docs/architecture.md, "The op table").
#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/reference/ops.h"

namespace resnetc::reference {

// One op's inputs and attributes, as the executor holds them; the executor has checked every
// shape against the shape rules before any op runs.
class OpArgs {
 public:
  OpArgs(const ir::Op& op, const ir::Graph& graph, std::vector<ops::Buffer>& data);

  // Input i, read-only, with its shape.
  ops::TensorRef in(size_t i) const;
  // Input i, which the op writes (an update's parameter, velocity or running statistic).
  ops::Buffer& mut(size_t i) const;
  size_t input_count() const { return op_.inputs.size(); }

  const ir::Attrs& attrs;
  // The output's shape; an update's `shape` attribute, as it has no output.
  const ir::Dims& out_shape;

 private:
  const ir::Op& op_;
  const ir::Graph& graph_;
  std::vector<ops::Buffer>& data_;
};

namespace run {
// The op's output; an update writes through OpArgs::mut and returns an empty buffer.
#define OP(kind, ...) ops::Buffer kind(const OpArgs& args);
#include "compiler/ir/ops.def"
#undef OP
}  // namespace run

}  // namespace resnetc::reference
