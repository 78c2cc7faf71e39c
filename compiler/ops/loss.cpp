// The loss family: softmax_cross_entropy, which the training graph appends to the network's
// logits, and its gradient softmax_cross_entropy_grad. Everything about these kinds that is not
// a backend kernel, one section per layer (compiler/ops/family.h): shape rules, parameters and
// kind checks; gradients (autodiff makes the loss's gradient itself, so neither has a rule);
// how the reference executor runs them (their kernels are in reference/forward_ops.cpp and
// backward_ops.cpp).
#include "compiler/ops/family.h"

#if defined(RESNETC_OPS_IR)
#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"
#include "compiler/ir/verify/kind_checks.h"

namespace resnetc::ir {
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

ops::Buffer SoftmaxCrossEntropy(const OpArgs& args) {
  return ops::softmax_cross_entropy(args.in(0), args.in(1), args.attrs.label_smoothing);
}

ops::Buffer SoftmaxCrossEntropyGrad(const OpArgs& args) {
  return ops::softmax_cross_entropy_grad(args.in(0), args.in(1), args.attrs.label_smoothing);
}

}  // namespace resnetc::reference::run
#endif
