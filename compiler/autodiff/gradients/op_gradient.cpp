#include <fmt/format.h>

#include "compiler/autodiff/gradients/rule.h"

namespace resnetc::autodiff {

ir::ValueId OpGradient::grad_op(ir::OpKind kind, std::string_view suffix, std::vector<ir::ValueId> inputs,
                                const ir::Attrs& attrs) const {
  return sink.apply(kind, fmt::format("{}.{}", op.name, suffix), std::move(inputs), attrs, op.loc);
}

ir::Attrs shape_of_x(const OpGradient& g) {
  ir::Attrs a;
  a.shape = g.x_shape;
  return a;
}

}  // namespace resnetc::autodiff
