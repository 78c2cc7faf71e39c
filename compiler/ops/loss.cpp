// The loss family: softmax_cross_entropy, which the training graph appends to the network's
// logits, and its gradient softmax_cross_entropy_grad. Everything about these kinds that is not
// a backend kernel, one section per layer (compiler/ops/family.h): what each computes over the
// rows of its logits (ir::row_reduction, which the backends render and the reference
// interprets), shape rules, parameters and kind checks; gradients (autodiff makes the loss's
// gradient itself, so neither has a rule); how the reference executor runs them.
#include "compiler/ops/family.h"

#if defined(RESNETC_OPS_IR)
#include <fmt/format.h>

#include <limits>
#include <stdexcept>

#include "compiler/ir/program_builder.h"
#include "compiler/ir/row_reduction.h"
#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"
#include "compiler/ir/verify/kind_checks.h"

namespace resnetc::ir {

// Softmax cross-entropy with label smoothing s, PyTorch's CrossEntropyLoss(label_smoothing=s):
// the target is q = (1 - s) onehot(label) + s/K, so a row's loss is
// lse - (1 - s) x[label] - s/K sum_k x[k], lse = max + log(sum_k exp(x[k] - max)), and its
// gradient (softmax - q) / N. Each instruction on a line of its own: a call's arguments are
// evaluated in no fixed order, and the programs' register numbers must not depend on the
// compiler. The constants are computed as the kernels used them before the description, so
// the CPU's results are bit for bit what they were.
RowReduction row_reduction(OpKind kind, const Attrs& a, std::span<const Dims> inputs) {
  if (kind != OpKind::SoftmaxCrossEntropy && kind != OpKind::SoftmaxCrossEntropyGrad)
    throw std::logic_error(fmt::format("row_reduction: {} is not a loss op", op_kind_name(kind)));
  const int64_t batch = inputs[0][0], classes = inputs[0][1];
  const double s = a.label_smoothing, spread = s / static_cast<double>(classes);
  const bool loss = kind == OpKind::SoftmaxCrossEntropy;
  RowReduction r{1, 2, {}, {}, {}, {}};
  {  // the row's maximum
    ProgramBuilder t;
    const int32_t x = t.load(0);
    r.folds.push_back({-std::numeric_limits<double>::infinity(), FusedOpcode::Max, std::move(t).map(x)});
  }
  {  // the sum of exp(x - max)
    ProgramBuilder t;
    const int32_t x = t.load(0);
    const int32_t top = t.channel(r.folded(), 0);
    const int32_t shifted = t.sub(x, top);
    const int32_t e = t.exp(shifted);
    r.folds.push_back({0, FusedOpcode::Add, std::move(t).map(e)});
  }
  if (loss && s != 0) {  // the sum of the row, which the smoothed target weighs by s/K
    ProgramBuilder t;
    const int32_t x = t.load(0);
    r.folds.push_back({0, FusedOpcode::Add, std::move(t).map(x)});
  }
  ProgramBuilder w;
  const int32_t top = w.channel(r.folded(), 0);
  const int32_t sum = w.channel(r.folded(), 1);
  const int32_t log_sum = w.log(sum);
  const int32_t lse = w.add(top, log_sum);
  if (!loss) {
    r.row = std::move(w).map(lse);
    ProgramBuilder m;
    const int32_t x = m.load(0);
    const int32_t row_lse = m.channel(r.row_results(), 0);
    const int32_t shifted = m.sub(x, row_lse);
    const int32_t p = m.exp(shifted);
    const int32_t on = m.constant(1 - s + spread);
    const int32_t off = m.constant(spread);
    const int32_t q = m.on_label(on, off);
    const int32_t d = m.sub(p, q);
    const int32_t inv_batch = m.constant(1.0 / static_cast<double>(batch));
    const int32_t dx = m.mul(d, inv_batch);
    r.map = std::move(m).map(dx);
    return r;
  }
  int32_t picked = w.at_label(0);
  if (s != 0) {
    const int32_t take = w.constant(1 - s);
    picked = w.mul(take, picked);
  }
  int32_t term = w.sub(lse, picked);
  if (s != 0) {
    const int32_t weight = w.constant(spread);
    const int32_t row_sum = w.channel(r.folded(), 2);
    const int32_t spread_sum = w.mul(weight, row_sum);
    term = w.sub(term, spread_sum);
  }
  r.row = std::move(w).map(term);
  ProgramBuilder t;
  const int32_t total = t.channel(r.sums(), 0);
  const int32_t n = t.constant(static_cast<double>(batch));
  const int32_t mean = t.div(total, n);
  r.total = std::move(t).map(mean);
  return r;
}
namespace shape_rules {

ShapeResult SoftmaxCrossEntropy(std::span<const Dims> d, const Attrs&) {
  if (auto r = logits_and_labels(d); !r.ok()) return r;
  return {Dims{1}, {}};
}

ShapeResult SoftmaxCrossEntropyGrad(std::span<const Dims> d, const Attrs&) { return logits_and_labels(d); }

}  // namespace shape_rules

namespace param_rules {
RESNETC_NO_PARAMS(SoftmaxCrossEntropy)
RESNETC_NO_PARAMS(SoftmaxCrossEntropyGrad)
}  // namespace param_rules

namespace kind_checks {
// logits, labels
const KindChecks SoftmaxCrossEntropy{Int32Input{1, "int32 labels"}, nullptr};
const KindChecks SoftmaxCrossEntropyGrad{Int32Input{1, "int32 labels"}, nullptr};
}  // namespace kind_checks
}  // namespace resnetc::ir

#elif defined(RESNETC_OPS_AUTODIFF)
#include "compiler/autodiff/gradients/rule.h"

namespace resnetc::autodiff::gradients {

RESNETC_NOT_DIFFERENTIABLE(SoftmaxCrossEntropy)
RESNETC_NOT_DIFFERENTIABLE(SoftmaxCrossEntropyGrad)

}  // namespace resnetc::autodiff::gradients

#elif defined(RESNETC_OPS_REFERENCE)
#include "compiler/reference/run.h"

namespace resnetc::reference::run {
namespace {

// The kind's reduction (ir::row_reduction, above) interpreted in double.
ops::Buffer row_reduce(ir::OpKind kind, const OpArgs& args) {
  const std::vector<ops::TensorRef> inputs{args.in(0), args.in(1)};
  const std::vector<ir::Dims> shapes{inputs[0].shape, inputs[1].shape};
  return ops::row_reduce(inputs, ir::row_reduction(kind, args.attrs, shapes));
}

}  // namespace

ops::Buffer SoftmaxCrossEntropy(const OpArgs& args) { return row_reduce(ir::OpKind::SoftmaxCrossEntropy, args); }

ops::Buffer SoftmaxCrossEntropyGrad(const OpArgs& args) {
  return row_reduce(ir::OpKind::SoftmaxCrossEntropyGrad, args);
}

}  // namespace resnetc::reference::run
#endif
