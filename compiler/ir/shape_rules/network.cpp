// Shape rules of the network's ops, as the language describes them.
#include <fmt/format.h>

#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"

namespace resnetc::ir::shape_rules {

ShapeResult Conv2d(std::span<const Dims> d, const Attrs& a) { return conv_output(d[0], a); }

ShapeResult BatchNorm(std::span<const Dims> d, const Attrs&) { return expect_rank(d[0], 4, "bn"); }

ShapeResult Relu(std::span<const Dims> d, const Attrs&) { return {d[0], {}}; }

ShapeResult Add(std::span<const Dims> d, const Attrs&) {
  if (d[0] != d[1])
    return fail(fmt::format("residual add of two different shapes: {} and {}", format_dims(d[0]), format_dims(d[1])));
  return {d[0], {}};
}

ShapeResult Linear(std::span<const Dims> d, const Attrs& a) {
  const Dims& x = d[0];
  if (x.size() != 2)
    return fail(fmt::format("fc expects a 2-d input [N, features], got {}; add `flatten` first", format_dims(x)));
  if (a.out_features < 1) return fail(fmt::format("fc needs at least 1 output, got {}", a.out_features));
  if (a.out_features > kMaxDim) return fail(fmt::format("fc outputs {} are larger than 2^31", a.out_features));
  return {{x[0], a.out_features}, {}};
}

ShapeResult Dropout(std::span<const Dims> d, const Attrs& a) { return drop_rate(d[0], a, "dropout"); }

ShapeResult DropPath(std::span<const Dims> d, const Attrs& a) { return drop_rate(d[0], a, "droppath"); }

}  // namespace resnetc::ir::shape_rules
