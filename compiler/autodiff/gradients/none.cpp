// What the gradient rule of a kind that autodiff never differentiates does
// (RESNETC_NOT_DIFFERENTIABLE in rule.h): autodiff makes such kinds itself (the training
// forward, the loss, the backward ops and the updates), or the passes make them after it ran.
#include <fmt/format.h>

#include "compiler/autodiff/gradients/rule.h"
#include "compiler/ir/compile_error.h"

namespace resnetc::autodiff {

void not_differentiable(const ir::Op& op) {
  throw ir::CompileError(ir::CompileError::Phase::Graph, op.loc,
                         fmt::format("cannot differentiate op '{}' ({})", op.name, ir::op_kind_name(op.kind)));
}

}  // namespace resnetc::autodiff
