#include "compiler/ir/verify/kind_checks.h"

#include <fmt/format.h>

#include <cmath>
#include <iterator>

namespace resnetc::ir {
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
// logits, labels
const KindChecks SoftmaxCrossEntropy{Int32Input{1, "int32 labels"}, nullptr};
const KindChecks SoftmaxCrossEntropyGrad{Int32Input{1, "int32 labels"}, nullptr};
// x, rng
const KindChecks DropoutMask{Int32Input{1, "the int32 seed and step"}, nullptr};
const KindChecks DropPathMask{Int32Input{1, "the int32 seed and step"}, nullptr};

// Kinds the shape rule and the attribute schema check fully, each named so that a new row
// must choose.
RESNETC_NO_KIND_CHECKS(Relu)
RESNETC_NO_KIND_CHECKS(Add)
RESNETC_NO_KIND_CHECKS(Dropout)
RESNETC_NO_KIND_CHECKS(DropPath)
RESNETC_NO_KIND_CHECKS(BnApply)
RESNETC_NO_KIND_CHECKS(BnGradWeight)
RESNETC_NO_KIND_CHECKS(BnGradInput)
RESNETC_NO_KIND_CHECKS(ReluGrad)
RESNETC_NO_KIND_CHECKS(Fused)
RESNETC_NO_KIND_CHECKS(View)

}  // namespace kind_checks

namespace {
// Indexed by OpKind (ops.cpp checks that the rows are in enum order).
const KindChecks* const kKindChecks[] = {
#define OP(kind, ...) &kind_checks::kind,
#include "compiler/ir/ops.def"
#undef OP
};
static_assert(std::size(kKindChecks) == static_cast<size_t>(kLastOpKind) + 1, "one KindChecks per OpKind");
}  // namespace

const KindChecks& checks_of(OpKind kind) { return *kKindChecks[static_cast<size_t>(kind)]; }

}  // namespace resnetc::ir
