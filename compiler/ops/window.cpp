// The pooling family: maxpool, avgpool, their global forms and their gradients. Everything
// about these kinds that is not a backend kernel, one section per layer (compiler/ops/family.h):
// shape rules, parameters and kind checks; gradients; how the reference executor runs them
// (their double-precision kernels are reference/forward_ops.cpp and backward_ops.cpp, shared
// with the convolution through reference/window.h; global_avgpool_grad is a map program).
#include "compiler/ops/family.h"

#if defined(RESNETC_OPS_IR)
#include <fmt/format.h>

#include <limits>
#include <stdexcept>

#include "compiler/ir/map_program.h"
#include "compiler/ir/ops.h"
#include "compiler/ir/program_builder.h"
#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"
#include "compiler/ir/verify/kind_checks.h"
#include "compiler/ir/window_reduction.h"

namespace resnetc::ir {

WindowReduction window_reduction(OpKind kind, const Attrs& a, const Dims& x) {
  using F = WindowReduction::Finalize;
  const double lowest = -std::numeric_limits<double>::infinity();
  // avgpool's windows all divide by their area with PyTorch's defaults; else by their count.
  const F average = a.count_include_pad && !a.ceil_mode ? F::DivideByArea : F::DivideByCount;
  auto window = [&](double init, FusedOpcode combine, F finalize, bool gradient) {
    return WindowReduction{init, combine, finalize, a.count_include_pad, {a.kernel[0], a.kernel[1]},
                           {a.stride[0], a.stride[1]}, {a.padding[0], a.padding[1]}, false, gradient};
  };
  auto plane = [&](double init, FusedOpcode combine, F finalize) {
    return WindowReduction{init, combine, finalize, true, {x[2], x[3]}, {1, 1}, {0, 0}, true, false};
  };
  switch (kind) {
    case OpKind::MaxPool: return window(lowest, FusedOpcode::Max, F::None, false);
    case OpKind::AvgPool: return window(0, FusedOpcode::Add, average, false);
    case OpKind::GlobalMaxPool: return plane(lowest, FusedOpcode::Max, F::None);
    case OpKind::GlobalAvgPool: return plane(0, FusedOpcode::Add, F::DivideByArea);
    case OpKind::MaxPoolGrad: return window(lowest, FusedOpcode::Max, F::None, true);
    case OpKind::AvgPoolGrad: return window(0, FusedOpcode::Add, average, true);
    default: break;
  }
  throw std::logic_error(fmt::format("window_reduction: {} is not a pooling op", op_kind_name(kind)));
}

// dy [N, C, 1, 1] -> dx [N, C, H, W]: each element dy at its (n, c) plane, divided by H * W.
FusedProgram map_programs::GlobalAvgPoolGrad(const Attrs&, const Dims& out) {
  ProgramBuilder p;
  const int32_t dy = p.plane(0);
  const int32_t area = p.constant(static_cast<double>(out[2] * out[3]));
  const int32_t dx = p.div(dy, area);
  return std::move(p).map(dx);
}

namespace shape_rules {

ShapeResult MaxPool(std::span<const Dims> d, const Attrs& a) { return pool_output(d[0], a, "maxpool"); }

ShapeResult AvgPool(std::span<const Dims> d, const Attrs& a) { return pool_output(d[0], a, "avgpool"); }

ShapeResult GlobalAvgPool(std::span<const Dims> d, const Attrs&) {
  const Dims& x = d[0];
  if (auto r = expect_rank(x, 4, "global avgpool"); !r.ok()) return r;
  return {{x[0], x[1], 1, 1}, {}};
}

ShapeResult GlobalMaxPool(std::span<const Dims> d, const Attrs&) {
  const Dims& x = d[0];
  if (auto r = expect_rank(x, 4, "global maxpool"); !r.ok()) return r;
  return {{x[0], x[1], 1, 1}, {}};
}

// dy, x
ShapeResult MaxPoolGrad(std::span<const Dims> d, const Attrs& a) {
  return grad_matches(pool_output(d[1], a, "maxpool"), d[0], d[1]);
}

// dy; shape = x's shape
ShapeResult AvgPoolGrad(std::span<const Dims> d, const Attrs& a) {
  return grad_matches(pool_output(a.shape, a, "avgpool"), d[0], a.shape);
}

// dy; shape = x's shape
ShapeResult GlobalAvgPoolGrad(std::span<const Dims> d, const Attrs& a) {
  if (auto r = expect_rank(a.shape, 4, "global_avgpool_grad"); !r.ok()) return r;
  return grad_matches({{a.shape[0], a.shape[1], 1, 1}, {}}, d[0], a.shape);
}

}  // namespace shape_rules

namespace param_rules {
RESNETC_NO_PARAMS(MaxPool)
RESNETC_NO_PARAMS(AvgPool)
RESNETC_NO_PARAMS(GlobalAvgPool)
RESNETC_NO_PARAMS(GlobalMaxPool)
RESNETC_NO_PARAMS(MaxPoolGrad)
RESNETC_NO_PARAMS(AvgPoolGrad)
RESNETC_NO_PARAMS(GlobalAvgPoolGrad)
}  // namespace param_rules

namespace kind_checks {
RESNETC_NO_KIND_CHECKS(MaxPool)
RESNETC_NO_KIND_CHECKS(AvgPool)
RESNETC_NO_KIND_CHECKS(GlobalAvgPool)
RESNETC_NO_KIND_CHECKS(GlobalMaxPool)
RESNETC_NO_KIND_CHECKS(MaxPoolGrad)
RESNETC_NO_KIND_CHECKS(AvgPoolGrad)
RESNETC_NO_KIND_CHECKS(GlobalAvgPoolGrad)
}  // namespace kind_checks
}  // namespace resnetc::ir

#elif defined(RESNETC_OPS_AUTODIFF)
#include "compiler/autodiff/gradients/rule.h"

namespace resnetc::autodiff::gradients {

using ir::OpKind;

void MaxPool(const OpGradient& g) {
  g.accumulate(g.x(), g.grad_op(OpKind::MaxPoolGrad, "grad", {g.dy, g.x()}, g.op.attrs));
}

void AvgPool(const OpGradient& g) {
  ir::Attrs a = g.op.attrs;
  a.shape = g.x_shape;
  g.accumulate(g.x(), g.grad_op(OpKind::AvgPoolGrad, "grad", {g.dy}, a));
}

void GlobalAvgPool(const OpGradient& g) {
  g.accumulate(g.x(), g.grad_op(OpKind::GlobalAvgPoolGrad, "grad", {g.dy}, shape_of_x(g)));
}

// maxpool's gradient, the whole plane as the window
void GlobalMaxPool(const OpGradient& g) {
  ir::Attrs plane;
  plane.kernel[0] = g.x_shape[2], plane.kernel[1] = g.x_shape[3];
  g.accumulate(g.x(), g.grad_op(OpKind::MaxPoolGrad, "grad", {g.dy, g.x()}, plane));
}

RESNETC_NOT_DIFFERENTIABLE(MaxPoolGrad)
RESNETC_NOT_DIFFERENTIABLE(AvgPoolGrad)
RESNETC_NOT_DIFFERENTIABLE(GlobalAvgPoolGrad)

}  // namespace resnetc::autodiff::gradients

#elif defined(RESNETC_OPS_REFERENCE)
#include "compiler/ir/map_program.h"
#include "compiler/reference/run.h"

namespace resnetc::reference::run {

namespace {

// The kind's reduction (ir::window_reduction, above) interpreted in double.
ops::Buffer pool(ir::OpKind kind, const OpArgs& args) {
  return ops::window_reduce(args.in(0), ir::window_reduction(kind, args.attrs, args.in(0).shape), args.out_shape);
}

}  // namespace

ops::Buffer MaxPool(const OpArgs& args) { return pool(ir::OpKind::MaxPool, args); }

ops::Buffer AvgPool(const OpArgs& args) { return pool(ir::OpKind::AvgPool, args); }

ops::Buffer GlobalAvgPool(const OpArgs& args) { return pool(ir::OpKind::GlobalAvgPool, args); }

ops::Buffer GlobalMaxPool(const OpArgs& args) { return pool(ir::OpKind::GlobalMaxPool, args); }

ops::Buffer MaxPoolGrad(const OpArgs& args) { return ops::maxpool_grad(args.in(0), args.in(1), args.attrs); }

ops::Buffer AvgPoolGrad(const OpArgs& args) { return ops::avgpool_grad(args.in(0), args.attrs); }

// Its map program (ir::map_program) interpreted in double.
ops::Buffer GlobalAvgPoolGrad(const OpArgs& args) {
  const ops::TensorRef dy = args.in(0);
  return ops::fused({&dy, 1}, ir::map_program(ir::OpKind::GlobalAvgPoolGrad, args.attrs, args.out_shape),
                    args.out_shape);
}

}  // namespace resnetc::reference::run
#endif
