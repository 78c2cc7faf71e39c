// The gating family: sigmoid, silu, the channel-wise multiply of a squeeze-excitation block,
// and their gradients. Everything about these kinds that is not a backend kernel, one section
// per layer (compiler/ops/family.h): shape rules, parameters and kind checks; gradients; how the
// reference executor runs them (their double-precision kernels are reference/gate_ops.cpp).
#include "compiler/ops/family.h"

#if defined(RESNETC_OPS_IR)
#include <fmt/format.h>

#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"
#include "compiler/ir/verify/kind_checks.h"

namespace resnetc::ir {
namespace shape_rules {

ShapeResult Sigmoid(std::span<const Dims> d, const Attrs&) { return {d[0], {}}; }

ShapeResult Silu(std::span<const Dims> d, const Attrs&) { return {d[0], {}}; }

ShapeResult ChannelMul(std::span<const Dims> d, const Attrs&) {
  const Dims& x = d[0];
  ShapeResult gate = channel_gate(x);
  if (!gate.ok()) return gate;
  if (d[1] != gate.dims)
    return fail(fmt::format("a channel gate of {} must be {} (one value per sample and channel), got {}",
                            format_dims(x), format_dims(gate.dims), format_dims(d[1])));
  return {x, {}};
}

ShapeResult SigmoidGrad(std::span<const Dims> d, const Attrs&) { return same(d[0], d[1], "sigmoid_grad"); }

ShapeResult SiluGrad(std::span<const Dims> d, const Attrs&) { return same(d[0], d[1], "silu_grad"); }

// dy, x -> the gate's shape
ShapeResult ChannelMulGradGate(std::span<const Dims> d, const Attrs&) {
  if (auto r = same(d[0], d[1], "channel_mul_grad_gate"); !r.ok()) return r;
  return channel_gate(d[1]);
}

}  // namespace shape_rules

namespace param_rules {
RESNETC_NO_PARAMS(Sigmoid)
RESNETC_NO_PARAMS(Silu)
RESNETC_NO_PARAMS(ChannelMul)
RESNETC_NO_PARAMS(SigmoidGrad)
RESNETC_NO_PARAMS(SiluGrad)
RESNETC_NO_PARAMS(ChannelMulGradGate)
}  // namespace param_rules

namespace kind_checks {
RESNETC_NO_KIND_CHECKS(Sigmoid)
RESNETC_NO_KIND_CHECKS(Silu)
RESNETC_NO_KIND_CHECKS(ChannelMul)
RESNETC_NO_KIND_CHECKS(SigmoidGrad)
RESNETC_NO_KIND_CHECKS(SiluGrad)
RESNETC_NO_KIND_CHECKS(ChannelMulGradGate)
}  // namespace kind_checks
}  // namespace resnetc::ir

#elif defined(RESNETC_OPS_AUTODIFF)
#include "compiler/autodiff/gradients/rule.h"

namespace resnetc::autodiff::gradients {

using ir::OpKind;

void Sigmoid(const OpGradient& g) { g.accumulate(g.x(), g.grad_op(OpKind::SigmoidGrad, "grad", {g.dy, g.y})); }

void Silu(const OpGradient& g) { g.accumulate(g.x(), g.grad_op(OpKind::SiluGrad, "grad", {g.dy, g.x()})); }

// y = x * gate: dx = dy * gate, dgate = the sum over each plane of dy * x
void ChannelMul(const OpGradient& g) {
  g.accumulate(g.x(), g.grad_op(OpKind::ChannelMul, "grad_input", {g.dy, g.in[1]}));
  g.accumulate(g.in[1], g.grad_op(OpKind::ChannelMulGradGate, "grad_gate", {g.dy, g.x()}));
}

RESNETC_NOT_DIFFERENTIABLE(SigmoidGrad)
RESNETC_NOT_DIFFERENTIABLE(SiluGrad)
RESNETC_NOT_DIFFERENTIABLE(ChannelMulGradGate)

}  // namespace resnetc::autodiff::gradients

#elif defined(RESNETC_OPS_REFERENCE)
#include "compiler/reference/run.h"

namespace resnetc::reference::run {

ops::Buffer Sigmoid(const OpArgs& args) { return ops::sigmoid(args.in(0)); }

ops::Buffer Silu(const OpArgs& args) { return ops::silu(args.in(0)); }

ops::Buffer ChannelMul(const OpArgs& args) { return ops::channel_mul(args.in(0), args.in(1)); }

ops::Buffer SigmoidGrad(const OpArgs& args) { return ops::sigmoid_grad(args.in(0), args.in(1)); }

ops::Buffer SiluGrad(const OpArgs& args) { return ops::silu_grad(args.in(0), args.in(1)); }

ops::Buffer ChannelMulGradGate(const OpArgs& args) { return ops::channel_mul_grad_gate(args.in(0), args.in(1)); }

}  // namespace resnetc::reference::run
#endif
