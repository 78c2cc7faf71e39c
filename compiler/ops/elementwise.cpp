// The elementwise family: relu, the residual add, and relu's gradient relu_grad (the gating
// family's elementwise kinds, sigmoid and silu, are in gate.cpp). Everything about these kinds
// that is not a backend kernel, one section per layer (compiler/ops/family.h): shape rules,
// parameters and kind checks; gradients; how the reference executor runs them (their kernels
// are in reference/forward_ops.cpp and backward_ops.cpp). passes/lower_maps.cpp makes them
// `fused` maps before the plan, so no backend has a kernel of its own for them.
#include "compiler/ops/family.h"

#if defined(RESNETC_OPS_IR)
#include <fmt/format.h>

#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"
#include "compiler/ir/verify/kind_checks.h"

namespace resnetc::ir {
namespace shape_rules {

ShapeResult Relu(std::span<const Dims> d, const Attrs&) { return {d[0], {}}; }

ShapeResult Add(std::span<const Dims> d, const Attrs&) {
  if (d[0] != d[1])
    return fail(fmt::format("residual add of two different shapes: {} and {}", format_dims(d[0]), format_dims(d[1])));
  return {d[0], {}};
}

ShapeResult ReluGrad(std::span<const Dims> d, const Attrs&) { return same(d[0], d[1], "relu_grad"); }

}  // namespace shape_rules

namespace param_rules {
RESNETC_NO_PARAMS(Relu)
RESNETC_NO_PARAMS(Add)
RESNETC_NO_PARAMS(ReluGrad)
}  // namespace param_rules

namespace kind_checks {
RESNETC_NO_KIND_CHECKS(Relu)
RESNETC_NO_KIND_CHECKS(Add)
RESNETC_NO_KIND_CHECKS(ReluGrad)
}  // namespace kind_checks
}  // namespace resnetc::ir

#elif defined(RESNETC_OPS_AUTODIFF)
#include "compiler/autodiff/gradients/rule.h"

namespace resnetc::autodiff::gradients {

using ir::OpKind;

void Relu(const OpGradient& g) { g.accumulate(g.x(), g.grad_op(OpKind::ReluGrad, "grad", {g.dy, g.y})); }

void Add(const OpGradient& g) {
  g.accumulate(g.in[0], g.dy);
  g.accumulate(g.in[1], g.dy);
}

RESNETC_NOT_DIFFERENTIABLE(ReluGrad)

}  // namespace resnetc::autodiff::gradients

#elif defined(RESNETC_OPS_REFERENCE)
#include "compiler/reference/run.h"

namespace resnetc::reference::run {

ops::Buffer Relu(const OpArgs& args) { return ops::relu(args.in(0)); }

ops::Buffer Add(const OpArgs& args) { return ops::add(args.in(0), args.in(1)); }

ops::Buffer ReluGrad(const OpArgs& args) { return ops::relu_grad(args.in(0), args.in(1)); }

}  // namespace resnetc::reference::run
#endif
