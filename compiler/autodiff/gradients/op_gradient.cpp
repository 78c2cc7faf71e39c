#include <fmt/format.h>

#include "compiler/autodiff/gradients/rule.h"

namespace resnetc::autodiff {

ir::ValueId OpGradient::grad_op(ir::OpKind kind, std::string_view suffix, std::vector<ir::ValueId> inputs,
                                const ir::Attrs& attrs) const {
  return sink.apply(kind, fmt::format("{}.{}", op.name, suffix), std::move(inputs), attrs, op.loc);
}

}  // namespace resnetc::autodiff
