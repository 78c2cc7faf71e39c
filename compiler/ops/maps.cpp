// The map family: the elementwise kinds of the map table (compiler/ir/maps.def: relu, add,
// sigmoid, silu, channel_mul, ... and their gradients' own kinds). Every piece the op table
// reaches by kind is defined here for every row of maps.def by expanding it, and each calls the
// one rule of this section that reads the kind's row (ir::map_kind): so a new row has them all.
// One section per layer (compiler/ops/family.h): shape rules, parameters and kind checks;
// gradients; how the reference executor runs them.
#include "compiler/ops/family.h"

// The headers of this file's layer (one of the three, compiler/ops/family.h) come before the
// macros that expand maps.def below, since ops.def, which they include, expands it too.
#if defined(RESNETC_OPS_IR)
#include <fmt/format.h>

#include <cmath>

#include "compiler/ir/maps.h"
#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"
#include "compiler/ir/verify/kind_checks.h"
#elif defined(RESNETC_OPS_AUTODIFF)
#include "compiler/autodiff/gradients/rule.h"
#include "compiler/ir/maps.h"
#elif defined(RESNETC_OPS_REFERENCE)
#include "compiler/ir/maps.h"
#include "compiler/reference/run.h"
#endif

// Expands F(Kind) for every kind of maps.def: each row's forward kind and its GRAD entries' kinds.
#define MAP(Kind, name, arity, colour, forward, gradients) F(Kind) gradients
#define MAP_WITH(Kind, name, arity, colour, attributes, forward, gradients) F(Kind) gradients
#define PASS
#define AS(Kind, suffix, operands)
#define GRAD(Kind, name, suffix, operands, expression) F(Kind)

#if defined(RESNETC_OPS_IR)
namespace resnetc::ir {
namespace shape_rules {
namespace {

// The output has input 0's shape (every input but a gate has it); a gate is that shape's
// [N, C, 1, 1]; a plane sum's output is the gate's shape.
ShapeResult map_shape(OpKind kind, std::span<const Dims> d) {
  const MapKind& m = *map_kind(kind);
  const Dims& x = d[0];
  for (size_t i = 1; i < d.size(); ++i) {
    if (!m.per_plane[i]) {
      if (auto r = same(x, d[i], m.name); !r.ok()) return r;
      continue;
    }
    ShapeResult gate = channel_gate(x);
    if (!gate.ok()) return gate;
    if (d[i] != gate.dims)
      return fail(fmt::format("a channel gate of {} must be {} (one value per sample and channel), got {}",
                              format_dims(x), format_dims(gate.dims), format_dims(d[i])));
  }
  if (m.plane_sum) return channel_gate(x);
  return {x, {}};
}

}  // namespace

#define F(Kind) \
  ShapeResult Kind(std::span<const Dims> d, const Attrs&) { return map_shape(OpKind::Kind, d); }
#include "compiler/ir/maps.def"
#undef F

}  // namespace shape_rules

namespace param_rules {
#define F(Kind) RESNETC_NO_PARAMS(Kind)
#include "compiler/ir/maps.def"
#undef F
}  // namespace param_rules

namespace kind_checks {
namespace {

// The row's attributes: as many as it declares (or none: the fallbacks), each at least its minimum.
void map_checks(const Op& op, const KindCheckContext& context) {
  const MapKind& m = *map_kind(op.kind);
  const std::vector<double>& s = op.attrs.scalars;
  if (s.empty()) return;
  if (s.size() != m.attributes.size()) {
    context.report(fmt::format("takes {} attributes of its row, but is given {}", m.attributes.size(), s.size()));
    return;
  }
  for (size_t i = 0; i < s.size(); ++i)
    if (!(s[i] >= m.attributes[i].minimum) || !std::isfinite(s[i]))
      context.report(fmt::format("{}={} must be a finite number of at least {}", m.attributes[i].name, s[i],
                                 m.attributes[i].minimum));
}

}  // namespace

#define F(Kind) const KindChecks Kind{std::nullopt, map_checks};
#include "compiler/ir/maps.def"
#undef F
}  // namespace kind_checks
}  // namespace resnetc::ir

#elif defined(RESNETC_OPS_AUTODIFF)
namespace resnetc::autodiff::gradients {

namespace {

using ir::maps::Operand;

// A forward kind adds its row's gradients, one per input in order; a gradient's own kind has none.
void map_gradient(const OpGradient& g) {
  const ir::MapKind& m = *ir::map_kind(g.op.kind);
  if (m.gradients.empty()) not_differentiable(g.op);
  for (size_t i = 0; i < m.gradients.size(); ++i) {
    const ir::MapGradient& grad = m.gradients[i];
    if (!grad.kind) {
      g.accumulate(g.in[i], g.dy);
      continue;
    }
    std::vector<ir::ValueId> inputs;
    for (const Operand& o : grad.operands)
      inputs.push_back(o.role == Operand::Role::Input    ? g.in[static_cast<size_t>(o.index)]
                       : o.role == Operand::Role::Output ? g.y
                                                         : g.dy);
    ir::Attrs attrs;  // the row's attributes: its gradients' programs read them too
    attrs.scalars = g.op.attrs.scalars;
    g.accumulate(g.in[i], g.grad_op(*grad.kind, grad.suffix, std::move(inputs), attrs));
  }
}

}  // namespace

#define F(Kind) \
  void Kind(const OpGradient& g) { map_gradient(g); }
#include "compiler/ir/maps.def"
#undef F

}  // namespace resnetc::autodiff::gradients

#elif defined(RESNETC_OPS_REFERENCE)
namespace resnetc::reference::run {

namespace {

// The kind's program interpreted in double over input 0's space (reference/fused_ops.cpp);
// a plane sum then sums each (n, c) plane.
ops::Buffer map_run(ir::OpKind kind, const OpArgs& args) {
  const ir::MapKind& m = *ir::map_kind(kind);
  std::vector<ops::TensorRef> inputs;
  for (size_t i = 0; i < args.input_count(); ++i) inputs.push_back(args.in(i));
  const ir::Dims& space = inputs[0].shape;
  ops::Buffer y = ops::fused(inputs, ir::map_program(m, args.attrs), space);
  if (!m.plane_sum) return y;
  const int64_t planes = space[0] * space[1], inner = space[2] * space[3];
  ops::Buffer sums(static_cast<size_t>(planes), 0.0);
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t e = 0; e < inner; ++e) sums[static_cast<size_t>(p)] += y[static_cast<size_t>(p * inner + e)];
  return sums;
}

}  // namespace

#define F(Kind) \
  ops::Buffer Kind(const OpArgs& args) { return map_run(ir::OpKind::Kind, args); }
#include "compiler/ir/maps.def"
#undef F

}  // namespace resnetc::reference::run
#endif

#undef GRAD
#undef AS
#undef PASS
#undef MAP_WITH
#undef MAP
