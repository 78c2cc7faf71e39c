// The layout family: flatten, the option-A shortcut (pad_shortcut), their gradients (reshape,
// pad_shortcut_grad), and view, which the passes make to read part of a buffer in place.
// Everything about these kinds that is not a backend kernel, one section per layer
// (compiler/ops/family.h): shape rules, parameters and kind checks; gradients (those that read
// no forward input carry the input's shape as their `shape` attribute); how the reference
// executor runs them (flatten, reshape and the shortcut's two as their map programs, through the
// fused interpreter; view's kernel is in reference/fused_ops.cpp).
#include "compiler/ops/family.h"

#if defined(RESNETC_OPS_IR)
#include <fmt/format.h>

#include "compiler/ir/map_program.h"
#include "compiler/ir/program_builder.h"
#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"
#include "compiler/ir/verify/kind_checks.h"

namespace resnetc::ir {
namespace map_programs {

// The same elements in the same order: each output element is input 0's at its flat index.
FusedProgram Flatten(const Attrs&, const Dims&) {
  ProgramBuilder p;
  const int32_t x = p.load(0);
  return std::move(p).map(x);
}

FusedProgram Reshape(const Attrs& a, const Dims& out) { return Flatten(a, out); }

// y[n, c, h, w] = x[n, c, h * sh, w * sw], 0 in the channels past x's (the gather's range).
FusedProgram PadShortcut(const Attrs& a, const Dims&) {
  ProgramBuilder p;
  const int32_t x = p.gather(0, {{1, 1}, {1, 1}, {a.stride[0], 1}, {a.stride[1], 1}});
  return std::move(p).map(x);
}

// Its adjoint: dx[n, c, h, w] = dy[n, c, h / sh, w / sw] where sh divides h and sw divides w,
// else 0; dy's channels past x's are dropped.
FusedProgram PadShortcutGrad(const Attrs& a, const Dims&) {
  ProgramBuilder p;
  const int32_t dy = p.gather(0, {{1, 1}, {1, 1}, {1, a.stride[0]}, {1, a.stride[1]}});
  return std::move(p).map(dy);
}

}  // namespace map_programs

namespace shape_rules {

ShapeResult Flatten(std::span<const Dims> d, const Attrs&) {
  const Dims& x = d[0];
  if (x.size() < 2) return fail(fmt::format("flatten expects at least a 2-d input, got {}", format_dims(x)));
  Dims out{x[0], 1};
  for (size_t i = 1; i < x.size(); ++i) out[1] *= x[i];  // bounded: x passed check_size
  return {out, {}};
}

ShapeResult PadShortcut(std::span<const Dims> d, const Attrs& a) { return pad_shortcut_output(d[0], a); }

// dy; shape = x's shape; the forward's out_channels are dy's channels
ShapeResult PadShortcutGrad(std::span<const Dims> d, const Attrs& a) {
  if (auto r = expect_rank(d[0], 4, "pad_shortcut_grad"); !r.ok()) return r;
  Attrs forward = a;
  forward.out_channels = d[0][1];
  return grad_matches(pad_shortcut_output(a.shape, forward), d[0], a.shape);
}

ShapeResult Reshape(std::span<const Dims> d, const Attrs& a) {
  if (numel(d[0]) != numel(a.shape))
    return fail(fmt::format("cannot reshape {} to {}", format_dims(d[0]), format_dims(a.shape)));
  return {a.shape, {}};
}

// x -> `shape` elements of x from element `offset`
ShapeResult View(std::span<const Dims> d, const Attrs& a) {
  if (a.offset < 0 || a.offset + numel(a.shape) > numel(d[0]))
    return fail(fmt::format("view of {} elements at element {} is outside {}", numel(a.shape), a.offset,
                            format_dims(d[0])));
  return {a.shape, {}};
}

}  // namespace shape_rules

namespace param_rules {
RESNETC_NO_PARAMS(Flatten)
RESNETC_NO_PARAMS(PadShortcut)
RESNETC_NO_PARAMS(PadShortcutGrad)
RESNETC_NO_PARAMS(Reshape)
RESNETC_NO_PARAMS(View)
}  // namespace param_rules

namespace kind_checks {
RESNETC_NO_KIND_CHECKS(Flatten)
RESNETC_NO_KIND_CHECKS(PadShortcut)
RESNETC_NO_KIND_CHECKS(PadShortcutGrad)
RESNETC_NO_KIND_CHECKS(Reshape)
RESNETC_NO_KIND_CHECKS(View)
}  // namespace kind_checks
}  // namespace resnetc::ir

#elif defined(RESNETC_OPS_AUTODIFF)
#include "compiler/autodiff/gradients/rule.h"

namespace resnetc::autodiff::gradients {

using ir::OpKind;

// dy's first channels scattered back to every s-th row and column
void PadShortcut(const OpGradient& g) {
  ir::Attrs grad;
  grad.stride[0] = g.op.attrs.stride[0], grad.stride[1] = g.op.attrs.stride[1];
  grad.shape = g.x_shape;
  g.accumulate(g.x(), g.grad_op(OpKind::PadShortcutGrad, "grad", {g.dy}, grad));
}

void Flatten(const OpGradient& g) { g.accumulate(g.x(), g.grad_op(OpKind::Reshape, "grad", {g.dy}, shape_of_x(g))); }

RESNETC_NOT_DIFFERENTIABLE(PadShortcutGrad)
RESNETC_NOT_DIFFERENTIABLE(Reshape)
RESNETC_NOT_DIFFERENTIABLE(View)

}  // namespace resnetc::autodiff::gradients

#elif defined(RESNETC_OPS_REFERENCE)
#include "compiler/ir/map_program.h"
#include "compiler/reference/run.h"

namespace resnetc::reference::run {

namespace {

// The kind's map program (ir::map_program, above) interpreted in double.
ops::Buffer map(ir::OpKind kind, const OpArgs& args) {
  const ops::TensorRef x = args.in(0);
  return ops::fused({&x, 1}, ir::map_program(kind, args.attrs, args.out_shape), args.out_shape);
}

}  // namespace

ops::Buffer Flatten(const OpArgs& args) { return map(ir::OpKind::Flatten, args); }

ops::Buffer PadShortcut(const OpArgs& args) { return map(ir::OpKind::PadShortcut, args); }

ops::Buffer PadShortcutGrad(const OpArgs& args) { return map(ir::OpKind::PadShortcutGrad, args); }

ops::Buffer Reshape(const OpArgs& args) { return map(ir::OpKind::Reshape, args); }

ops::Buffer View(const OpArgs& args) {
  return ops::view(args.in(0), args.attrs.offset, ir::numel(args.attrs.shape));
}

}  // namespace resnetc::reference::run
#endif
