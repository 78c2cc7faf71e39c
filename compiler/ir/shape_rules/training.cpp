// Shape rules of the training forward ops: the loss.
#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"

namespace resnetc::ir::shape_rules {

ShapeResult SoftmaxCrossEntropy(std::span<const Dims> d, const Attrs&) {
  if (auto r = logits_and_labels(d); !r.ok()) return r;
  return {Dims{1}, {}};
}

}  // namespace resnetc::ir::shape_rules
