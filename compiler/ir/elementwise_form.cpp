#include "compiler/ir/elementwise_form.h"

namespace resnetc::ir {

std::optional<FusedProgram> elementwise_form(OpKind kind, const Attrs& attrs) {
  switch (kind) {
    case OpKind::BatchNorm: return elementwise_forms::BatchNorm(attrs);
    case OpKind::BnApply: return elementwise_forms::BnApply(attrs);
    default: return std::nullopt;
  }
}

}  // namespace resnetc::ir
