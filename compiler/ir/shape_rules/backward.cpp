// Shape rules of the backward ops. The gradient of a forward op must have the shape that op
// produces; `shape` attributes give the forward input's shape where no input carries it.
#include <fmt/format.h>

#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"

namespace resnetc::ir::shape_rules {

ShapeResult SoftmaxCrossEntropyGrad(std::span<const Dims> d, const Attrs&) { return logits_and_labels(d); }

}  // namespace resnetc::ir::shape_rules
