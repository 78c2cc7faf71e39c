// The update family: SGD with and without momentum, AdamW, BatchNorm's running statistics, and the
// groups the passes make of each. They write into their inputs and produce no value: the shape
// rules return `{}`, the reference writes through OpArgs::mut (kernels in
// reference/update_ops.cpp). Everything about these kinds that is not a backend kernel, one
// section per layer (compiler/ops/family.h).
#include "compiler/ops/family.h"

#if defined(RESNETC_OPS_IR)
#include <fmt/format.h>

#include "compiler/ir/ops.h"
#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"
#include "compiler/ir/verify/kind_checks.h"

namespace resnetc::ir {
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

// param, grad, lr
ops::Buffer SgdUpdate(const OpArgs& args) {
  ops::sgd_update(args.mut(0), args.in(1), args.in(2)[0], args.attrs.weight_decay);
  return {};
}

// param, grad, lr, velocity
ops::Buffer SgdMomentumUpdate(const OpArgs& args) {
  ops::sgd_momentum_update(args.mut(0), args.in(1), args.in(2)[0], args.mut(3), args.attrs);
  return {};
}

// param, grad, lr, step, exp_avg, exp_avg_sq
ops::Buffer AdamwUpdate(const OpArgs& args) {
  ops::adamw_update(args.mut(0), args.in(1), args.in(2)[0], args.in(3)[0], args.mut(4), args.mut(5), args.attrs);
  return {};
}

// running_mean, running_var, stats; n = N*H*W of the normalized input's `shape`
ops::Buffer BnRunningUpdate(const OpArgs& args) {
  const ir::Dims& x = args.attrs.shape;
  ops::bn_running_update(args.mut(0), args.mut(1), args.in(2), args.attrs.momentum, x[0] * x[2] * x[3]);
  return {};
}

// lr, then (param, grad) per member
ops::Buffer SgdUpdateGroup(const OpArgs& args) {
  for (size_t m = 1; m < args.input_count(); m += 2)
    ops::sgd_update(args.mut(m), args.in(m + 1), args.in(0)[0], args.attrs.weight_decay);
  return {};
}

// lr, then (param, grad, velocity) per member
ops::Buffer SgdMomentumUpdateGroup(const OpArgs& args) {
  for (size_t m = 1; m < args.input_count(); m += 3)
    ops::sgd_momentum_update(args.mut(m), args.in(m + 1), args.in(0)[0], args.mut(m + 2), args.attrs);
  return {};
}

// lr, step, then (param, grad, exp_avg, exp_avg_sq) per member
ops::Buffer AdamwUpdateGroup(const OpArgs& args) {
  for (size_t m = 2; m < args.input_count(); m += 4)
    ops::adamw_update(args.mut(m), args.in(m + 1), args.in(0)[0], args.in(1)[0], args.mut(m + 2), args.mut(m + 3),
                      args.attrs);
  return {};
}

// (running_mean, running_var, stats) per member; `counts` holds each n
ops::Buffer BnRunningUpdateGroup(const OpArgs& args) {
  for (size_t m = 0; m < args.input_count(); m += 3)
    ops::bn_running_update(args.mut(m), args.mut(m + 1), args.in(m + 2), args.attrs.momentum, args.attrs.counts[m / 3]);
  return {};
}

}  // namespace resnetc::reference::run
#endif
