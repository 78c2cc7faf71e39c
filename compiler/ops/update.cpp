// The update family: SGD with and without momentum, AdamW, BatchNorm's running statistics, and the
// groups the passes make of each. They write into their inputs and produce no value: the shape
// rules return `{}`, the reference writes through OpArgs::mut. What each kind computes is its
// ir::UpdateRule (update_rule below), which the backends' update renderers render and the
// reference interprets (reference/update_rule.cpp). Everything about these kinds that is not a
// backend kernel, one section per layer (compiler/ops/family.h).
#include "compiler/ops/family.h"

#if defined(RESNETC_OPS_IR)
#include <fmt/format.h>

#include <cmath>
#include <functional>
#include <stdexcept>
#include <string_view>

#include "compiler/ir/ops.h"
#include "compiler/ir/program_builder.h"
#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"
#include "compiler/ir/update_rule.h"
#include "compiler/ir/verify/kind_checks.h"

namespace resnetc::ir {

namespace {

// PyTorch's SGD (dampening 0) on arrays (param, grad[, velocity]), scalar 0 the learning rate:
//   plain:    param -= lr * (grad + weight_decay * param)
//   momentum: v = momentum * v + grad + weight_decay * param; param -= lr * v
//   Nesterov: the same v; param -= lr * (grad + weight_decay * param + momentum * v)
UpdateRule::Member sgd_member(const Attrs& a, bool momentum) {
  UpdateRule::Member m;
  m.arrays.resize(momentum ? 3 : 2);
  ProgramBuilder e;
  std::vector<int32_t> results;
  const int32_t p = e.load(0);
  int32_t g = e.load(1);
  if (a.weight_decay != 0) {
    const int32_t decay = e.mul(e.constant(a.weight_decay), p);
    g = e.add(g, decay);
  }
  if (momentum) {
    const int32_t mu = e.constant(a.momentum);
    const int32_t kept = e.mul(mu, e.load(2));
    const int32_t v = e.add(kept, g);
    results.push_back(v);
    m.writes.push_back(2);
    g = a.nesterov ? e.add(g, e.mul(mu, v)) : v;
  }
  const int32_t lr = e.channel(m.scalar(0));
  const int32_t step = e.mul(lr, g);
  results.push_back(e.sub(p, step));
  m.writes.push_back(0);
  m.element = std::move(e).map(std::move(results));
  return m;
}

// AdamW's per-step scalars from scalars 0 and 1, the learning rate and the step count t, in
// double as PyTorch computes them in Python: step_size = lr / (1 - beta1^t) and
// 1 / sqrt(1 - beta2^t), beta^t as exp(t ln beta) (beta in (0, 1)).
FusedProgram adamw_prologue(const Attrs& a) {
  ProgramBuilder p;
  const int32_t t = p.channel(1);
  auto correction = [&](double beta) {  // 1 - beta^t
    const int32_t power = p.exp(p.mul(t, p.constant(std::log(beta))));
    return p.sub(p.constant(1), power);
  };
  const int32_t bc1 = correction(a.momentum);
  const int32_t bc2 = correction(a.beta2);
  const int32_t step_size = p.div(p.channel(0), bc1);
  return std::move(p).map({step_size, p.rsqrt(bc2)});
}

// AdamW (PyTorch's single-tensor form) on arrays (param, grad, exp_avg, exp_avg_sq), scalars
// lr, step, step_size, 1 / sqrt(1 - beta2^t): param *= 1 - lr * weight_decay; m = b1 m + (1 - b1) g;
// v = b2 v + (1 - b2) g^2; param -= step_size * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
UpdateRule::Member adamw_member(const Attrs& a) {
  UpdateRule::Member m;
  m.arrays.resize(4);
  ProgramBuilder e;
  int32_t p = e.load(0);
  if (a.weight_decay != 0) {
    const int32_t decay = e.mul(e.channel(m.scalar(0)), e.constant(a.weight_decay));
    const int32_t keep = e.sub(e.constant(1), decay);
    p = e.mul(p, keep);
  }
  const int32_t g = e.load(1);
  const int32_t one = e.constant(1), b1 = e.constant(a.momentum), b2 = e.constant(a.beta2);
  const int32_t avg_kept = e.mul(b1, e.load(2));
  const int32_t avg_new = e.mul(e.sub(one, b1), g);
  const int32_t avg = e.add(avg_kept, avg_new);
  const int32_t sq_kept = e.mul(b2, e.load(3));
  const int32_t g2 = e.mul(g, g);
  const int32_t sq_new = e.mul(e.sub(one, b2), g2);
  const int32_t sq = e.add(sq_kept, sq_new);
  const int32_t root = e.sqrt(sq);
  const int32_t scaled = e.mul(root, e.channel(m.scalar(3)));
  const int32_t denom = e.add(scaled, e.constant(a.eps));
  const int32_t step = e.mul(e.channel(m.scalar(2)), avg);
  const int32_t delta = e.div(step, denom);
  m.element = std::move(e).map({avg, sq, e.sub(p, delta)});
  m.writes = {2, 3, 0};
  return m;
}

// BatchNorm2d's running statistics on arrays (running_mean, running_var, stats [2, C]), the
// batch variance made unbiased by n / (n - 1); the factors are computed in double.
UpdateRule::Member running_member(const Attrs& a, int64_t n, std::string_view what) {
  if (n < 2)
    throw std::invalid_argument(
        fmt::format("the running variance needs more than 1 value per channel, but {} has n = {}", what, n));
  const double m = a.momentum, unbias = static_cast<double>(n) / static_cast<double>(n - 1);
  UpdateRule::Member r;
  r.arrays.resize(3);
  ProgramBuilder e;
  const int32_t keep = e.constant(1 - m);
  const int32_t mean_kept = e.mul(keep, e.load(0));
  const int32_t mean_new = e.mul(e.constant(m), e.channel(2, 0));
  const int32_t mean = e.add(mean_kept, mean_new);
  const int32_t var_kept = e.mul(keep, e.load(1));
  const int32_t var_new = e.mul(e.constant(m * unbias), e.channel(2, 1));
  r.element = std::move(e).map({mean, e.add(var_kept, var_new)});
  r.writes = {0, 1};
  return r;
}

// `member` for each group of `stride` inputs from `first`, its arrays those inputs.
void add_members(UpdateRule& r, size_t first, size_t stride, size_t inputs,
                 const std::function<UpdateRule::Member(size_t m)>& member) {
  for (size_t i = first; i + stride <= inputs; i += stride) {
    UpdateRule::Member m = member((i - first) / stride);
    for (size_t j = 0; j < stride; ++j) m.arrays[j] = static_cast<int32_t>(i + j);
    r.members.push_back(std::move(m));
  }
}

}  // namespace

UpdateRule update_rule(OpKind kind, const Attrs& a, std::span<const Dims> inputs) {
  UpdateRule r;
  switch (kind) {
    case OpKind::SgdUpdate:  // param, grad, lr
    case OpKind::SgdMomentumUpdate: {  // param, grad, lr, velocity
      const bool momentum = kind == OpKind::SgdMomentumUpdate;
      r.scalars = {2};
      r.members = {sgd_member(a, momentum)};
      r.members[0].arrays = momentum ? std::vector<int32_t>{0, 1, 3} : std::vector<int32_t>{0, 1};
      return r;
    }
    case OpKind::AdamwUpdate:  // param, grad, lr, step, exp_avg, exp_avg_sq
      r.scalars = {2, 3};
      r.prologue = adamw_prologue(a);
      r.members = {adamw_member(a)};
      r.members[0].arrays = {0, 1, 4, 5};
      return r;
    case OpKind::BnRunningUpdate: {  // running_mean, running_var, stats; n = N*H*W of `shape`
      const Dims& x = a.shape;
      r.members = {running_member(a, x[0] * x[2] * x[3], fmt::format("the input {}", format_dims(x)))};
      r.members[0].arrays = {0, 1, 2};
      return r;
    }
    case OpKind::SgdUpdateGroup:  // lr, then (param, grad[, velocity]) per member
    case OpKind::SgdMomentumUpdateGroup: {
      const bool momentum = kind == OpKind::SgdMomentumUpdateGroup;
      r.scalars = {0};
      const UpdateRule::Member m = sgd_member(a, momentum);
      add_members(r, 1, momentum ? 3 : 2, inputs.size(), [&](size_t) { return m; });
      return r;
    }
    case OpKind::AdamwUpdateGroup: {  // lr, step, then (param, grad, exp_avg, exp_avg_sq) per member
      r.scalars = {0, 1};
      r.prologue = adamw_prologue(a);
      const UpdateRule::Member m = adamw_member(a);
      add_members(r, 2, 4, inputs.size(), [&](size_t) { return m; });
      return r;
    }
    case OpKind::BnRunningUpdateGroup:  // (running_mean, running_var, stats) per member; counts[m] its n
      add_members(r, 0, 3, inputs.size(), [&](size_t m) {
        return running_member(a, a.counts.at(m), fmt::format("member {}", m));
      });
      return r;
    default: break;
  }
  throw std::logic_error(fmt::format("update_rule: {} is not an update", op_kind_name(kind)));
}
namespace shape_rules {

namespace {

// lr, then groups of (param, grad) or (param, grad, velocity).
ShapeResult sgd_group(OpKind kind, size_t stride, std::span<const Dims> d) {
  if (d.size() < 1 + stride || (d.size() - 1) % stride != 0)
    return fail(fmt::format("{} takes the learning rate then groups of {} inputs, got {} inputs", op_kind_name(kind),
                            stride, d.size()));
  if (auto r = expect(d[0], Dims{1}, "the learning rate"); !r.ok()) return r;
  for (size_t m = 1; m < d.size(); m += stride) {
    if (auto r = same(d[m], d[m + 1], "parameter and gradient"); !r.ok()) return r;
    if (stride == 3)
      if (auto r = same(d[m], d[m + 2], "parameter and velocity"); !r.ok()) return r;
  }
  return {{}, {}};
}

// lr, step, then groups of (param, grad, exp_avg, exp_avg_sq).
ShapeResult adamw_group(std::span<const Dims> d) {
  if (d.size() < 6 || (d.size() - 2) % 4 != 0)
    return fail(fmt::format("adamw_update_group takes the learning rate, the step count, then groups of 4 inputs, "
                            "got {} inputs",
                            d.size()));
  if (auto r = expect(d[0], Dims{1}, "the learning rate"); !r.ok()) return r;
  if (auto r = expect(d[1], Dims{1}, "the step count"); !r.ok()) return r;
  for (size_t m = 2; m < d.size(); m += 4) {
    if (auto r = same(d[m], d[m + 1], "parameter and gradient"); !r.ok()) return r;
    if (auto r = same(d[m], d[m + 2], "parameter and first moment"); !r.ok()) return r;
    if (auto r = same(d[m], d[m + 3], "parameter and second moment"); !r.ok()) return r;
  }
  return {{}, {}};
}

ShapeResult too_few_values(int64_t n) {
  return fail(fmt::format("a running update needs more than 1 value per channel, got n = {}", n));
}

}  // namespace

// param, grad, lr
ShapeResult SgdUpdate(std::span<const Dims> d, const Attrs&) {
  if (auto r = same(d[0], d[1], "parameter and gradient"); !r.ok()) return r;
  if (auto r = expect(d[2], Dims{1}, "the learning rate"); !r.ok()) return r;
  return {{}, {}};
}

// param, grad, lr, velocity
ShapeResult SgdMomentumUpdate(std::span<const Dims> d, const Attrs& a) {
  if (auto r = SgdUpdate(d, a); !r.ok()) return r;
  if (auto r = same(d[0], d[3], "parameter and velocity"); !r.ok()) return r;
  return {{}, {}};
}

// param, grad, lr, step, exp_avg, exp_avg_sq
ShapeResult AdamwUpdate(std::span<const Dims> d, const Attrs&) {
  if (auto r = same(d[0], d[1], "parameter and gradient"); !r.ok()) return r;
  if (auto r = expect(d[2], Dims{1}, "the learning rate"); !r.ok()) return r;
  if (auto r = expect(d[3], Dims{1}, "the step count"); !r.ok()) return r;
  if (auto r = same(d[0], d[4], "parameter and first moment"); !r.ok()) return r;
  if (auto r = same(d[0], d[5], "parameter and second moment"); !r.ok()) return r;
  return {{}, {}};
}

// running_mean, running_var, stats; shape = the normalized input's shape
ShapeResult BnRunningUpdate(std::span<const Dims> d, const Attrs& a) {
  if (auto r = expect_rank(a.shape, 4, "bn_running_update"); !r.ok()) return r;
  // The unbiased variance divides by n - 1 (as its group's rule says too).
  if (const int64_t n = a.shape[0] * a.shape[2] * a.shape[3]; n < 2) return too_few_values(n);
  if (auto r = expect(d[0], Dims{a.shape[1]}, "the running mean"); !r.ok()) return r;
  if (auto r = expect(d[1], Dims{a.shape[1]}, "the running variance"); !r.ok()) return r;
  if (auto r = expect(d[2], Dims{2, a.shape[1]}, "the batch statistics"); !r.ok()) return r;
  return {{}, {}};
}

ShapeResult SgdUpdateGroup(std::span<const Dims> d, const Attrs&) { return sgd_group(OpKind::SgdUpdateGroup, 2, d); }

ShapeResult SgdMomentumUpdateGroup(std::span<const Dims> d, const Attrs&) {
  return sgd_group(OpKind::SgdMomentumUpdateGroup, 3, d);
}

ShapeResult AdamwUpdateGroup(std::span<const Dims> d, const Attrs&) { return adamw_group(d); }

// (running_mean, running_var, stats) per member; `counts` holds each n
ShapeResult BnRunningUpdateGroup(std::span<const Dims> d, const Attrs& a) {
  if (d.empty() || d.size() % 3 != 0 || a.counts.size() != d.size() / 3)
    return fail(fmt::format("bn_running_update_group takes groups of 3 inputs and one count each, got {} "
                            "inputs and {} counts",
                            d.size(), a.counts.size()));
  for (size_t m = 0; m < d.size(); m += 3) {
    if (auto r = expect_rank(d[m], 1, "the running mean"); !r.ok()) return r;
    if (auto r = same(d[m], d[m + 1], "running mean and variance"); !r.ok()) return r;
    if (auto r = expect(d[m + 2], Dims{2, d[m][0]}, "the batch statistics"); !r.ok()) return r;
    if (a.counts[m / 3] < 2) return too_few_values(a.counts[m / 3]);
  }
  return {{}, {}};
}

}  // namespace shape_rules

namespace param_rules {
RESNETC_NO_PARAMS(SgdUpdate)
RESNETC_NO_PARAMS(SgdMomentumUpdate)
RESNETC_NO_PARAMS(AdamwUpdate)
RESNETC_NO_PARAMS(BnRunningUpdate)
RESNETC_NO_PARAMS(SgdUpdateGroup)
RESNETC_NO_PARAMS(SgdMomentumUpdateGroup)
RESNETC_NO_PARAMS(AdamwUpdateGroup)
RESNETC_NO_PARAMS(BnRunningUpdateGroup)
}  // namespace param_rules

namespace kind_checks {
RESNETC_NO_KIND_CHECKS(SgdUpdate)
RESNETC_NO_KIND_CHECKS(SgdMomentumUpdate)
RESNETC_NO_KIND_CHECKS(AdamwUpdate)
RESNETC_NO_KIND_CHECKS(BnRunningUpdate)
RESNETC_NO_KIND_CHECKS(SgdUpdateGroup)
RESNETC_NO_KIND_CHECKS(SgdMomentumUpdateGroup)
RESNETC_NO_KIND_CHECKS(AdamwUpdateGroup)
RESNETC_NO_KIND_CHECKS(BnRunningUpdateGroup)
}  // namespace kind_checks
}  // namespace resnetc::ir

#elif defined(RESNETC_OPS_AUTODIFF)
#include "compiler/autodiff/gradients/rule.h"

namespace resnetc::autodiff::gradients {

RESNETC_NOT_DIFFERENTIABLE(SgdUpdate)
RESNETC_NOT_DIFFERENTIABLE(SgdMomentumUpdate)
RESNETC_NOT_DIFFERENTIABLE(AdamwUpdate)
RESNETC_NOT_DIFFERENTIABLE(BnRunningUpdate)
RESNETC_NOT_DIFFERENTIABLE(SgdUpdateGroup)
RESNETC_NOT_DIFFERENTIABLE(SgdMomentumUpdateGroup)
RESNETC_NOT_DIFFERENTIABLE(AdamwUpdateGroup)
RESNETC_NOT_DIFFERENTIABLE(BnRunningUpdateGroup)

}  // namespace resnetc::autodiff::gradients

#elif defined(RESNETC_OPS_REFERENCE)
#include "compiler/reference/run.h"

namespace resnetc::reference::run {

namespace {

// The kind's update (ir::update_rule, above) interpreted in double.
ops::Buffer update(ir::OpKind kind, const OpArgs& args) {
  std::vector<ops::TensorRef> inputs;
  std::vector<ir::Dims> shapes;
  for (size_t i = 0; i < args.input_count(); ++i) {
    inputs.push_back(args.in(i));
    shapes.push_back(inputs.back().shape);
  }
  ops::update(inputs, [&](int32_t i) -> ops::Buffer& { return args.mut(static_cast<size_t>(i)); },
              ir::update_rule(kind, args.attrs, shapes));
  return {};
}

}  // namespace

ops::Buffer SgdUpdate(const OpArgs& args) { return update(ir::OpKind::SgdUpdate, args); }
ops::Buffer SgdMomentumUpdate(const OpArgs& args) { return update(ir::OpKind::SgdMomentumUpdate, args); }
ops::Buffer AdamwUpdate(const OpArgs& args) { return update(ir::OpKind::AdamwUpdate, args); }
ops::Buffer BnRunningUpdate(const OpArgs& args) { return update(ir::OpKind::BnRunningUpdate, args); }
ops::Buffer SgdUpdateGroup(const OpArgs& args) { return update(ir::OpKind::SgdUpdateGroup, args); }
ops::Buffer SgdMomentumUpdateGroup(const OpArgs& args) { return update(ir::OpKind::SgdMomentumUpdateGroup, args); }
ops::Buffer AdamwUpdateGroup(const OpArgs& args) { return update(ir::OpKind::AdamwUpdateGroup, args); }
ops::Buffer BnRunningUpdateGroup(const OpArgs& args) { return update(ir::OpKind::BnRunningUpdateGroup, args); }

}  // namespace resnetc::reference::run
#endif
