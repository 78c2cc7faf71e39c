// Shape rules of the network's ops, as the language describes them.
#include <fmt/format.h>

#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"

namespace resnetc::ir::shape_rules {

ShapeResult Relu(std::span<const Dims> d, const Attrs&) { return {d[0], {}}; }

ShapeResult Add(std::span<const Dims> d, const Attrs&) {
  if (d[0] != d[1])
    return fail(fmt::format("residual add of two different shapes: {} and {}", format_dims(d[0]), format_dims(d[1])));
  return {d[0], {}};
}

ShapeResult Dropout(std::span<const Dims> d, const Attrs& a) { return drop_rate(d[0], a, "dropout"); }

ShapeResult DropPath(std::span<const Dims> d, const Attrs& a) { return drop_rate(d[0], a, "droppath"); }

}  // namespace resnetc::ir::shape_rules
