// The BatchNorm family: batchnorm (with running statistics, as the language describes it), the
// training forward's decomposition into bn_stats and bn_apply, and the gradients bn_grad_weight
// and bn_grad_input (the bias's gradient is dense.cpp's bias_grad). Everything about these
// kinds that is not a backend kernel, one section per layer (compiler/ops/family.h): shape
// rules, parameters and kind checks; each kind's ir::ChannelReduction, which the backends render
// and the reference interprets (reference/channel_reduce.cpp), and batchnorm's and bn_apply's
// elementwise form, the fused map fuse-elementwise makes of them; gradients; how the reference
// executor runs them.
#include "compiler/ops/family.h"

#if defined(RESNETC_OPS_IR)
#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "compiler/ir/channel_reduction.h"
#include "compiler/ir/elementwise_form.h"
#include "compiler/ir/fused_extent.h"
#include "compiler/ir/program_builder.h"
#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"
#include "compiler/ir/verify/kind_checks.h"

namespace resnetc::ir {

namespace {

// Where a BatchNorm map's operands are among its inputs (x is input 0): the mean and the
// variance are row `mean_row` and `var_row` of inputs `mean` and `var`.
struct AffineInputs {
  int32_t inputs, mean, mean_row, var, var_row, weight, bias;
};
// x, weight, bias, running_mean, running_var -> y, by the running statistics
constexpr AffineInputs kBatchNormInputs{.inputs = 5, .mean = 3, .mean_row = 0, .var = 4, .var_row = 0, .weight = 1, .bias = 2};
// x, stats [2, C], weight, bias -> y, by the batch's mean and variance
constexpr AffineInputs kBnApplyInputs{.inputs = 4, .mean = 1, .mean_row = 0, .var = 1, .var_row = 1, .weight = 2, .bias = 3};

// batchnorm and bn_apply: y = (x - mean) * scale + bias, no sums. The finalize makes the
// channel's scale, weight / sqrt(var + eps), in double; the map reads the mean and the bias
// from the kind's inputs.
ChannelReduction affine(const AffineInputs& in, double eps) {
  ChannelReduction r{0, in.inputs, {}, {}, {}};
  ProgramBuilder f, m;
  const int32_t invstd = f.inverse_std(in.var, in.var_row, eps);
  const int32_t scale = f.mul(f.channel(in.weight), invstd);
  r.finalize = std::move(f).map({scale});
  const int32_t x = m.load(0);
  const int32_t d = m.sub(x, m.channel(in.mean, in.mean_row));
  const int32_t scaled = m.mul(d, m.channel(r.coefficients(), 0));
  r.map = std::move(m).map({m.add(scaled, m.channel(in.bias))});
  return r;
}

// batchnorm and bn_apply as one fused map: ((x - mean) * invstd) * weight + bias, every factor
// in float at the element. Another rounding than affine()'s one per-channel scale, kept because
// the fused maps have always computed it so and plans and training stay bit for bit as they were.
FusedProgram normalized_map(const AffineInputs& in, double eps) {
  ProgramBuilder p;
  const int32_t x = p.load(0);
  const int32_t mean = p.channel(in.mean, in.mean_row);
  const int32_t invstd = p.inverse_std(in.var, in.var_row, eps);
  const int32_t xhat = p.normalized(x, mean, invstd);
  const int32_t scaled = p.mul(xhat, p.channel(in.weight));
  return std::move(p).map(p.add(scaled, p.channel(in.bias)));
}

}  // namespace

// bias_grad is dense.cpp's kind, but a per-channel sum like BatchNorm's: described here with them.
ChannelReduction channel_reduction(OpKind kind, const Attrs& a, std::span<const Dims> inputs) {
  // Each instruction on a line of its own: a call's arguments are evaluated in no fixed order,
  // and the programs' register numbers must not depend on the compiler.
  ProgramBuilder t, f;
  switch (kind) {
    case OpKind::BatchNorm: return affine(kBatchNormInputs, a.eps);
    case OpKind::BnApply: return affine(kBnApplyInputs, a.eps);
    case OpKind::BnStats: {  // x -> [2, C]: the mean and the biased variance
      ChannelReduction r{0, 1, {}, {}, {}};
      const int32_t x = t.load(0);
      const int32_t d = t.sub(x, t.channel(r.shift()));
      const int32_t d2 = t.mul(d, d);
      r.terms = std::move(t).reduce({d, d2});
      const FusedExtent e = fused_extent(inputs[0]);
      const int32_t n = f.constant(1.0 / static_cast<double>(e.batch * e.plane));
      const int32_t sum = f.channel(r.sums(), 0);
      const int32_t mean_d = f.mul(sum, n);
      const int32_t squares = f.mul(f.channel(r.sums(), 1), n);
      const int32_t mean_d2 = f.mul(mean_d, mean_d);
      const int32_t var = f.relu(f.sub(squares, mean_d2));  // < 0 by rounding
      const int32_t mean = f.add(f.channel(r.shift()), mean_d);
      r.finalize = std::move(f).map({mean, var});
      return r;
    }
    case OpKind::BnGradWeight: {  // dy, x, stats -> [C]: sum(dy * (x - mean)) / sqrt(var + eps)
      ChannelReduction r{1, 3, {}, {}, {}};
      const int32_t dy = t.load(0);
      const int32_t x = t.load(1);
      const int32_t d = t.sub(x, t.channel(2, 0));
      const int32_t term = t.mul(dy, d);
      r.terms = std::move(t).reduce({term});
      const int32_t sum = f.channel(r.sums(), 0);
      const int32_t var = f.channel(2, 1);
      const int32_t invstd = f.rsqrt(f.add(var, f.constant(a.eps)));
      const int32_t dw = f.mul(sum, invstd);
      r.finalize = std::move(f).map({dw});
      return r;
    }
    // dy, x, stats, weight -> dx, through the batch statistics too. With n = N*H*W,
    // invstd = 1/sqrt(var + eps), a = weight * invstd:
    //   dx = a*dy + (-a*invstd^2*sum(dy*(x - mean))/n) * (x - mean) + (-a*sum(dy)/n)
    case OpKind::BnGradInput: {
      ChannelReduction r{1, 4, {}, {}, {}};
      const int32_t dy = t.load(0);
      const int32_t x = t.load(1);
      const int32_t d = t.sub(x, t.channel(2, 0));
      const int32_t term = t.mul(dy, d);
      r.terms = std::move(t).reduce({dy, term});
      const FusedExtent e = fused_extent(inputs[1]);
      const int32_t minus_inv_n = f.constant(-1.0 / static_cast<double>(e.batch * e.plane));
      const int32_t var = f.channel(2, 1);
      const int32_t invstd = f.rsqrt(f.add(var, f.constant(a.eps)));
      const int32_t scale = f.mul(f.channel(3, 0), invstd);
      const int32_t sum_dy = f.mul(scale, f.channel(r.sums(), 0));
      const int32_t shift = f.mul(sum_dy, minus_inv_n);
      const int32_t invstd2 = f.mul(invstd, invstd);
      const int32_t scale2 = f.mul(scale, invstd2);
      const int32_t sum_dyx = f.mul(scale2, f.channel(r.sums(), 1));
      const int32_t slope = f.mul(sum_dyx, minus_inv_n);
      r.finalize = std::move(f).map({scale, slope, shift});
      ProgramBuilder m;
      const int32_t m_dy = m.load(0);
      const int32_t m_x = m.load(1);
      const int32_t m_d = m.sub(m_x, m.channel(2, 0));
      const int32_t m_scaled = m.mul(m.channel(r.coefficients(), 0), m_dy);
      const int32_t m_sloped = m.mul(m.channel(r.coefficients(), 1), m_d);
      const int32_t m_sum = m.add(m_scaled, m_sloped);
      const int32_t dx = m.add(m_sum, m.channel(r.coefficients(), 2));
      r.map = std::move(m).map({dx});
      return r;
    }
    case OpKind::BiasGrad: {  // dy -> [C]: the sum over every axis but 1
      ChannelReduction r{0, 1, {}, {}, {}};
      const int32_t dy = t.load(0), sum = f.channel(r.sums(), 0);
      r.terms = std::move(t).reduce({dy});
      r.finalize = std::move(f).map({sum});
      return r;
    }
    default: break;
  }
  throw std::logic_error(fmt::format("channel_reduction: {} is not a per-channel reduction", op_kind_name(kind)));
}

FusedProgram elementwise_forms::BatchNorm(const Attrs& a) { return normalized_map(kBatchNormInputs, a.eps); }
FusedProgram elementwise_forms::BnApply(const Attrs& a) { return normalized_map(kBnApplyInputs, a.eps); }

namespace shape_rules {

ShapeResult BatchNorm(std::span<const Dims> d, const Attrs&) { return expect_rank(d[0], 4, "bn"); }

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

}  // namespace shape_rules

namespace param_rules {

std::vector<ParamSpec> BatchNorm(const Dims& x, const Attrs&) {
  return {{"weight", {x[1]}, ValueRole::Parameter},
          {"bias", {x[1]}, ValueRole::Parameter},
          {"running_mean", {x[1]}, ValueRole::State},
          {"running_var", {x[1]}, ValueRole::State}};
}

RESNETC_NO_PARAMS(BnStats)
RESNETC_NO_PARAMS(BnApply)
RESNETC_NO_PARAMS(BnGradWeight)
RESNETC_NO_PARAMS(BnGradInput)

}  // namespace param_rules

namespace kind_checks {
namespace {

// eps keeps the normalization's division finite; momentum blends the running statistics.
void batch_norm(const Op& op, const KindCheckContext& c) {
  if (!(std::isfinite(op.attrs.eps) && op.attrs.eps > 0))
    c.report(fmt::format("eps must be a positive number, got {}", op.attrs.eps));
  if (!(op.attrs.momentum >= 0 && op.attrs.momentum <= 1))
    c.report(fmt::format("momentum must be between 0 and 1, got {}", op.attrs.momentum));
}

// Only a convolution's kernel can compute the statistics in its epilogue.
void bn_stats(const Op& op, const KindCheckContext& c) {
  if (!op.attrs.epilogue || op.inputs.empty() || !c.valid_value(op.inputs[0])) return;
  if (c.producer_kind(op.inputs[0]) != OpKind::Conv2d)
    c.report(fmt::format("epilogue=true, but its input {} is not a conv2d's output", c.value_ref(op.inputs[0])));
}

}  // namespace

const KindChecks BatchNorm{std::nullopt, &batch_norm};
const KindChecks BnStats{std::nullopt, &bn_stats};

RESNETC_NO_KIND_CHECKS(BnApply)
RESNETC_NO_KIND_CHECKS(BnGradWeight)
RESNETC_NO_KIND_CHECKS(BnGradInput)

}  // namespace kind_checks
}  // namespace resnetc::ir

#elif defined(RESNETC_OPS_AUTODIFF)
#include "compiler/autodiff/gradients/rule.h"

namespace resnetc::autodiff::gradients {

using ir::OpKind;

// Through the batch statistics the training forward computed.
void BatchNorm(const OpGradient& g) {
  ir::ValueId stats = g.y_producer().inputs[1];  // BnApply(x, stats, weight, bias)
  ir::Attrs eps;
  eps.eps = g.op.attrs.eps;
  g.accumulate(g.x(), g.grad_op(OpKind::BnGradInput, "grad_input", {g.dy, g.x(), stats, g.in[1]}, eps));
  g.param_grad(g.in[1], g.grad_op(OpKind::BnGradWeight, "grad_weight", {g.dy, g.x(), stats}, eps));
  g.param_grad(g.in[2], g.grad_op(OpKind::BiasGrad, "grad_bias", {g.dy}));
}

RESNETC_NOT_DIFFERENTIABLE(BnStats)
RESNETC_NOT_DIFFERENTIABLE(BnApply)
RESNETC_NOT_DIFFERENTIABLE(BnGradWeight)
RESNETC_NOT_DIFFERENTIABLE(BnGradInput)

}  // namespace resnetc::autodiff::gradients

#elif defined(RESNETC_OPS_REFERENCE)
#include "compiler/reference/run.h"

namespace resnetc::reference::run {

namespace {

// The kind's reduction (ir::channel_reduction, above) interpreted in double.
ops::Buffer channel_reduce(ir::OpKind kind, const OpArgs& args) {
  std::vector<ops::TensorRef> inputs;
  std::vector<ir::Dims> shapes;
  for (size_t i = 0; i < args.input_count(); ++i) {
    inputs.push_back(args.in(i));
    shapes.push_back(inputs.back().shape);
  }
  return ops::channel_reduce(inputs, ir::channel_reduction(kind, args.attrs, shapes));
}

}  // namespace

ops::Buffer BatchNorm(const OpArgs& args) { return channel_reduce(ir::OpKind::BatchNorm, args); }

ops::Buffer BnStats(const OpArgs& args) { return channel_reduce(ir::OpKind::BnStats, args); }

ops::Buffer BnApply(const OpArgs& args) { return channel_reduce(ir::OpKind::BnApply, args); }

ops::Buffer BnGradWeight(const OpArgs& args) { return channel_reduce(ir::OpKind::BnGradWeight, args); }

ops::Buffer BnGradInput(const OpArgs& args) { return channel_reduce(ir::OpKind::BnGradInput, args); }

}  // namespace resnetc::reference::run
#endif
