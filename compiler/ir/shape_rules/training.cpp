// Shape rules of the training forward ops: the loss and the dropout masks.
#include "compiler/ir/ops.h"
#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"

namespace resnetc::ir::shape_rules {

ShapeResult SoftmaxCrossEntropy(std::span<const Dims> d, const Attrs&) {
  if (auto r = logits_and_labels(d); !r.ok()) return r;
  return {Dims{1}, {}};
}

namespace {
// x, rng ([2] int32: seed, step)
ShapeResult mask(OpKind kind, std::span<const Dims> d, const Attrs& a) {
  if (auto r = expect(d[1], Dims{2}, "the masks' seed and step"); !r.ok()) return r;
  return drop_rate(d[0], a, op_kind_name(kind));
}
}  // namespace

ShapeResult DropoutMask(std::span<const Dims> d, const Attrs& a) { return mask(OpKind::DropoutMask, d, a); }

ShapeResult DropPathMask(std::span<const Dims> d, const Attrs& a) { return mask(OpKind::DropPathMask, d, a); }

}  // namespace resnetc::ir::shape_rules
