// The dense family: conv2d and linear (fc), the layers with weights and an optional bias, and
// their gradients (conv2d_grad_input, conv2d_grad_weight, linear_grad_input,
// linear_grad_weight, and bias_grad, which BatchNorm's gradient uses too). Everything about
// these kinds that is not a backend kernel, one section per layer (compiler/ops/family.h):
// shape rules, parameters and kind checks; gradients; how the reference executor runs them
// (their kernels are in reference/forward_ops.cpp and backward_ops.cpp).
#include "compiler/ops/family.h"

#if defined(RESNETC_OPS_IR)
#include <fmt/format.h>

#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"
#include "compiler/ir/verify/kind_checks.h"

namespace resnetc::ir {
namespace shape_rules {

ShapeResult Conv2d(std::span<const Dims> d, const Attrs& a) { return conv_output(d[0], a); }

ShapeResult Linear(std::span<const Dims> d, const Attrs& a) {
  const Dims& x = d[0];
  if (x.size() != 2)
    return fail(fmt::format("fc expects a 2-d input [N, features], got {}; add `flatten` first", format_dims(x)));
  if (a.out_features < 1) return fail(fmt::format("fc needs at least 1 output, got {}", a.out_features));
  if (a.out_features > kMaxDim) return fail(fmt::format("fc outputs {} are larger than 2^31", a.out_features));
  return {{x[0], a.out_features}, {}};
}

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

}  // namespace shape_rules

namespace param_rules {

std::vector<ParamSpec> Conv2d(const Dims& x, const Attrs& a) {
  std::vector<ParamSpec> specs;
  specs.push_back({"weight", {a.out_channels, x[1] / a.groups, a.kernel[0], a.kernel[1]}, ValueRole::Parameter});
  if (a.bias) specs.push_back({"bias", {a.out_channels}, ValueRole::Parameter});
  return specs;
}

std::vector<ParamSpec> Linear(const Dims& x, const Attrs& a) {
  std::vector<ParamSpec> specs;
  specs.push_back({"weight", {a.out_features, x[1]}, ValueRole::Parameter});
  if (a.bias) specs.push_back({"bias", {a.out_features}, ValueRole::Parameter});
  return specs;
}

RESNETC_NO_PARAMS(ConvGradInput)
RESNETC_NO_PARAMS(ConvGradWeight)
RESNETC_NO_PARAMS(BiasGrad)
RESNETC_NO_PARAMS(LinearGradInput)
RESNETC_NO_PARAMS(LinearGradWeight)

}  // namespace param_rules

namespace kind_checks {
RESNETC_NO_KIND_CHECKS(Conv2d)
RESNETC_NO_KIND_CHECKS(Linear)
RESNETC_NO_KIND_CHECKS(ConvGradInput)
RESNETC_NO_KIND_CHECKS(ConvGradWeight)
RESNETC_NO_KIND_CHECKS(BiasGrad)
RESNETC_NO_KIND_CHECKS(LinearGradInput)
RESNETC_NO_KIND_CHECKS(LinearGradWeight)
}  // namespace kind_checks
}  // namespace resnetc::ir

#elif defined(RESNETC_OPS_AUTODIFF)
#include "compiler/autodiff/gradients/rule.h"

namespace resnetc::autodiff::gradients {

using ir::OpKind;

void Conv2d(const OpGradient& g) {
  const ir::Attrs& a = g.op.attrs;
  ir::Attrs grad_in = a;
  grad_in.shape = g.x_shape;
  if (g.x_needs_grad) g.accumulate(g.x(), g.grad_op(OpKind::ConvGradInput, "grad_input", {g.dy, g.in[1]}, grad_in));
  g.param_grad(g.in[1], g.grad_op(OpKind::ConvGradWeight, "grad_weight", {g.dy, g.x()}, a));
  if (a.bias) g.param_grad(g.in[2], g.grad_op(OpKind::BiasGrad, "grad_bias", {g.dy}));
}

void Linear(const OpGradient& g) {
  if (g.x_needs_grad) g.accumulate(g.x(), g.grad_op(OpKind::LinearGradInput, "grad_input", {g.dy, g.in[1]}));
  g.param_grad(g.in[1], g.grad_op(OpKind::LinearGradWeight, "grad_weight", {g.dy, g.x()}));
  if (g.op.attrs.bias) g.param_grad(g.in[2], g.grad_op(OpKind::BiasGrad, "grad_bias", {g.dy}));
}

RESNETC_NOT_DIFFERENTIABLE(ConvGradInput)
RESNETC_NOT_DIFFERENTIABLE(ConvGradWeight)
RESNETC_NOT_DIFFERENTIABLE(BiasGrad)
RESNETC_NOT_DIFFERENTIABLE(LinearGradInput)
RESNETC_NOT_DIFFERENTIABLE(LinearGradWeight)

}  // namespace resnetc::autodiff::gradients

#elif defined(RESNETC_OPS_REFERENCE)
#include "compiler/reference/run.h"

namespace resnetc::reference::run {

namespace {
// conv2d's and linear's optional bias follows the weight.
bool has_bias(const OpArgs& args) { return args.input_count() > 2; }
}  // namespace

ops::Buffer Conv2d(const OpArgs& args) {
  const ops::TensorRef bias = has_bias(args) ? args.in(2) : args.in(1);
  return ops::conv2d(args.in(0), args.in(1), has_bias(args) ? &bias : nullptr, args.attrs, args.out_shape);
}

ops::Buffer Linear(const OpArgs& args) {
  const ops::TensorRef bias = has_bias(args) ? args.in(2) : args.in(1);
  return ops::linear(args.in(0), args.in(1), has_bias(args) ? &bias : nullptr);
}

ops::Buffer ConvGradInput(const OpArgs& args) { return ops::conv2d_grad_input(args.in(0), args.in(1), args.attrs); }

ops::Buffer ConvGradWeight(const OpArgs& args) {
  return ops::conv2d_grad_weight(args.in(0), args.in(1), args.attrs, args.out_shape);
}

// A per-channel reduction (ir::channel_reduction, batchnorm.cpp) interpreted in double.
ops::Buffer BiasGrad(const OpArgs& args) {
  const ops::TensorRef dy = args.in(0);
  return ops::channel_reduce({&dy, 1}, ir::channel_reduction(ir::OpKind::BiasGrad, args.attrs, {&dy.shape, 1}));
}

ops::Buffer LinearGradInput(const OpArgs& args) { return ops::linear_grad_input(args.in(0), args.in(1)); }

ops::Buffer LinearGradWeight(const OpArgs& args) { return ops::linear_grad_weight(args.in(0), args.in(1)); }

}  // namespace resnetc::reference::run
#endif
