// Shape rules of the backward ops. The gradient of a forward op must have the shape that op
// produces; `shape` attributes give the forward input's shape where no input carries it.
#include <fmt/format.h>

#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"

namespace resnetc::ir::shape_rules {

ShapeResult SoftmaxCrossEntropyGrad(std::span<const Dims> d, const Attrs&) { return logits_and_labels(d); }

// dy, weight; shape = x's shape
ShapeResult ConvGradInput(std::span<const Dims> d, const Attrs& a) {
  ShapeResult fwd = conv_output(a.shape, a);
  if (!fwd.ok()) return fwd;
  if (auto r = expect(d[1], param_rules::Conv2d(a.shape, a)[0].shape, "the weight"); !r.ok()) return r;
  return grad_matches(fwd, d[0], a.shape);
}

// dy, x
ShapeResult ConvGradWeight(std::span<const Dims> d, const Attrs& a) {
  ShapeResult fwd = grad_matches(conv_output(d[1], a), d[0], d[1]);
  if (!fwd.ok()) return fwd;
  return {param_rules::Conv2d(d[1], a)[0].shape, {}};
}

ShapeResult BiasGrad(std::span<const Dims> d, const Attrs&) {
  if (d[0].size() < 2) return fail(fmt::format("bias_grad expects at least 2 axes, got {}", format_dims(d[0])));
  return {{d[0][1]}, {}};
}

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

// dy, weight
ShapeResult LinearGradInput(std::span<const Dims> d, const Attrs&) {
  if (auto r = expect_rank(d[1], 2, "linear_grad_input"); !r.ok()) return r;
  if (auto r = expect(d[0], Dims{d[0].empty() ? 0 : d[0][0], d[1][0]}, "the incoming gradient"); !r.ok()) return r;
  return {{d[0][0], d[1][1]}, {}};
}

// dy, x
ShapeResult LinearGradWeight(std::span<const Dims> d, const Attrs&) {
  if (auto r = expect_rank(d[0], 2, "linear_grad_weight"); !r.ok()) return r;
  if (auto r = expect_rank(d[1], 2, "linear_grad_weight"); !r.ok()) return r;
  if (d[0][0] != d[1][0]) return fail("linear_grad_weight: gradient and input batch sizes differ");
  return {{d[0][1], d[1][1]}, {}};
}

}  // namespace resnetc::ir::shape_rules
