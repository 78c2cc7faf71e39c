// Shape rules of the backward ops. The gradient of a forward op must have the shape that op
// produces; `shape` attributes give the forward input's shape where no input carries it.
#include <fmt/format.h>

#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"

namespace resnetc::ir::shape_rules {

ShapeResult SoftmaxCrossEntropyGrad(std::span<const Dims> d, const Attrs&) { return logits_and_labels(d); }

// dy, x, stats
ShapeResult BnGradWeight(std::span<const Dims> d, const Attrs&) {
  const Dims& x = d[1];
  if (auto r = batch_statistics(OpKind::BnGradWeight, x, d[2]); !r.ok()) return r;
  if (auto r = same(d[0], x, "gradient and input"); !r.ok()) return r;
  return {{x[1]}, {}};
}

// dy, x, stats, weight
ShapeResult BnGradInput(std::span<const Dims> d, const Attrs&) {
  const Dims& x = d[1];
  if (auto r = batch_statistics(OpKind::BnGradInput, x, d[2]); !r.ok()) return r;
  if (auto r = same(d[0], x, "gradient and input"); !r.ok()) return r;
  if (auto r = channel_vector(d[3], x, "the scale"); !r.ok()) return r;
  return {x, {}};
}

ShapeResult ReluGrad(std::span<const Dims> d, const Attrs&) { return same(d[0], d[1], "relu_grad"); }

}  // namespace resnetc::ir::shape_rules
