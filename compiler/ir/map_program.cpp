#include "compiler/ir/map_program.h"

#include <fmt/format.h>

#include <stdexcept>

#include "compiler/ir/ops.h"

namespace resnetc::ir {

FusedProgram map_program(OpKind kind, const Attrs& attrs, const Dims& out) {
  switch (kind) {
    case OpKind::Flatten: return map_programs::Flatten(attrs, out);
    case OpKind::Reshape: return map_programs::Reshape(attrs, out);
    case OpKind::PadShortcut: return map_programs::PadShortcut(attrs, out);
    case OpKind::PadShortcutGrad: return map_programs::PadShortcutGrad(attrs, out);
    case OpKind::GlobalAvgPoolGrad: return map_programs::GlobalAvgPoolGrad(attrs, out);
    default: break;
  }
  throw std::logic_error(fmt::format("map_program: {} is not a map op", op_kind_name(kind)));
}

}  // namespace resnetc::ir
