// Shape rules of the network's ops, as the language describes them.
#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"

namespace resnetc::ir::shape_rules {

ShapeResult Dropout(std::span<const Dims> d, const Attrs& a) { return drop_rate(d[0], a, "dropout"); }

ShapeResult DropPath(std::span<const Dims> d, const Attrs& a) { return drop_rate(d[0], a, "droppath"); }

}  // namespace resnetc::ir::shape_rules
