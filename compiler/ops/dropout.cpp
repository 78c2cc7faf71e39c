// The dropout family: dropout and drop-path (the identity in evaluation) and the masks the
// training forward applies in their place, dropout_mask and droppath_mask (each its own
// gradient). Everything about these kinds that is not a backend kernel, one section per layer
// (compiler/ops/family.h): shape rules, parameters and kind checks; gradients; how the reference
// executor runs them (the masks are the fused map of random_mask::mask_program, lowered so by
// passes/lower_maps.cpp; its opcodes draw by compiler/ir/random_mask.h).
#include "compiler/ops/family.h"

#if defined(RESNETC_OPS_IR)
#include "compiler/ir/ops.h"
#include "compiler/ir/random_mask.h"
#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"
#include "compiler/ir/verify/kind_checks.h"

namespace resnetc::ir {
namespace shape_rules {

ShapeResult Dropout(std::span<const Dims> d, const Attrs& a) { return drop_rate(d[0], a, "dropout"); }

ShapeResult DropPath(std::span<const Dims> d, const Attrs& a) { return drop_rate(d[0], a, "droppath"); }

namespace {
// x, rng ([2] int32: seed, step)
ShapeResult mask(OpKind kind, std::span<const Dims> d, const Attrs& a) {
  if (auto r = expect(d[1], Dims{2}, "the masks' seed and step"); !r.ok()) return r;
  return drop_rate(d[0], a, op_kind_name(kind));
}
}  // namespace

ShapeResult DropoutMask(std::span<const Dims> d, const Attrs& a) { return mask(OpKind::DropoutMask, d, a); }

ShapeResult DropPathMask(std::span<const Dims> d, const Attrs& a) { return mask(OpKind::DropPathMask, d, a); }

}  // namespace shape_rules

FusedProgram random_mask::mask_program(OpKind kind, const Attrs& a) {
  const FusedOpcode keep = kind == OpKind::DropPathMask ? FusedOpcode::KeepSample : FusedOpcode::Keep;
  return {{{FusedOpcode::Load, 0, 0, 0},
           {FusedOpcode::MaskKey, 1, 0, static_cast<double>(static_cast<uint32_t>(a.salt))},
           {keep, 0, 1, a.rate}},
          {2}};
}

namespace param_rules {
RESNETC_NO_PARAMS(Dropout)
RESNETC_NO_PARAMS(DropPath)
RESNETC_NO_PARAMS(DropoutMask)
RESNETC_NO_PARAMS(DropPathMask)
}  // namespace param_rules

namespace kind_checks {
// x, rng
const KindChecks DropoutMask{Int32Input{1, "the int32 seed and step"}, nullptr};
const KindChecks DropPathMask{Int32Input{1, "the int32 seed and step"}, nullptr};

RESNETC_NO_KIND_CHECKS(Dropout)
RESNETC_NO_KIND_CHECKS(DropPath)
}  // namespace kind_checks
}  // namespace resnetc::ir

#elif defined(RESNETC_OPS_AUTODIFF)
#include "compiler/autodiff/gradients/rule.h"

namespace resnetc::autodiff::gradients {

namespace {
// The training forward applied a mask op (x, rng); the mask is its own gradient, drawn again
// from the same (seed, step, salt), so none is stored.
void mask_again(const OpGradient& g) {
  const ir::Op& mask = g.y_producer();
  g.accumulate(g.x(), g.grad_op(mask.kind, "grad", {g.dy, mask.inputs[1]}, mask.attrs));
}
}  // namespace

void Dropout(const OpGradient& g) { mask_again(g); }

void DropPath(const OpGradient& g) { mask_again(g); }

RESNETC_NOT_DIFFERENTIABLE(DropoutMask)
RESNETC_NOT_DIFFERENTIABLE(DropPathMask)

}  // namespace resnetc::autodiff::gradients

#elif defined(RESNETC_OPS_REFERENCE)
#include "compiler/ir/random_mask.h"
#include "compiler/reference/run.h"

namespace resnetc::reference::run {

// The identity in evaluation; training runs the mask ops.
ops::Buffer Dropout(const OpArgs& args) { return ops::copy(args.in(0)); }

ops::Buffer DropPath(const OpArgs& args) { return ops::copy(args.in(0)); }

namespace {
// The mask's fused map, interpreted as lowered graphs run it.
ops::Buffer mask(ir::OpKind kind, const OpArgs& args) {
  const std::vector<ops::TensorRef> inputs{args.in(0), args.in(1)};
  return ops::fused(inputs, ir::random_mask::mask_program(kind, args.attrs), args.in(0).shape);
}
}  // namespace

ops::Buffer DropoutMask(const OpArgs& args) { return mask(ir::OpKind::DropoutMask, args); }

ops::Buffer DropPathMask(const OpArgs& args) { return mask(ir::OpKind::DropPathMask, args); }

}  // namespace resnetc::reference::run
#endif
