// Shape rules of the ops the optimization passes make: views.
#include <fmt/format.h>

#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"

namespace resnetc::ir::shape_rules {

// x -> `shape` elements of x from element `offset`
ShapeResult View(std::span<const Dims> d, const Attrs& a) {
  if (a.offset < 0 || a.offset + numel(a.shape) > numel(d[0]))
    return fail(fmt::format("view of {} elements at element {} is outside {}", numel(a.shape), a.offset,
                            format_dims(d[0])));
  return {a.shape, {}};
}

}  // namespace resnetc::ir::shape_rules
