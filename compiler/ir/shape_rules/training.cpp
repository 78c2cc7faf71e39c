// Shape rules of the training forward ops: BatchNorm with batch statistics, and the loss.
#include "compiler/ir/ops.h"
#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"

namespace resnetc::ir::shape_rules {

// x [N,C,H,W] -> [2, C]
ShapeResult BnStats(std::span<const Dims> d, const Attrs&) {
  if (auto r = expect_rank(d[0], 4, "bn_stats"); !r.ok()) return r;
  return {{2, d[0][1]}, {}};
}

// x, stats, weight, bias
ShapeResult BnApply(std::span<const Dims> d, const Attrs&) {
  const Dims& x = d[0];
  if (auto r = batch_statistics(OpKind::BnApply, x, d[1]); !r.ok()) return r;
  for (size_t k = 2; k < 4; ++k)
    if (auto r = channel_vector(d[k], x, "the scale and shift"); !r.ok()) return r;
  return {x, {}};
}

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
