// The kinds autodiff never differentiates: it makes them itself (the training forward, the
// loss, the backward ops and the updates), or the passes make them after autodiff has run.
// Each is named so that a new row must choose.
#include <fmt/format.h>

#include "compiler/autodiff/gradients/rule.h"
#include "compiler/ir/compile_error.h"

namespace resnetc::autodiff {

void not_differentiable(const ir::Op& op) {
  throw ir::CompileError(ir::CompileError::Phase::Graph, op.loc,
                         fmt::format("cannot differentiate op '{}' ({})", op.name, ir::op_kind_name(op.kind)));
}

namespace gradients {

RESNETC_NOT_DIFFERENTIABLE(View)

}  // namespace gradients
}  // namespace resnetc::autodiff
