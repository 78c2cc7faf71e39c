// The parameters and state each op kind owns (param_specs in shape_inference.h): BatchNorm's
// here, conv2d's and linear's in compiler/ops/dense.cpp; every other kind reads its tensors as
// data.
#include "compiler/ir/shape_rules/rules.h"

namespace resnetc::ir::param_rules {

std::vector<ParamSpec> BatchNorm(const Dims& x, const Attrs&) {
  return {{"weight", {x[1]}, ValueRole::Parameter},
          {"bias", {x[1]}, ValueRole::Parameter},
          {"running_mean", {x[1]}, ValueRole::State},
          {"running_var", {x[1]}, ValueRole::State}};
}

// Kinds that own nothing, each named so that a new row must choose.
RESNETC_NO_PARAMS(Relu)
RESNETC_NO_PARAMS(Add)
RESNETC_NO_PARAMS(Dropout)
RESNETC_NO_PARAMS(DropPath)
RESNETC_NO_PARAMS(DropoutMask)
RESNETC_NO_PARAMS(DropPathMask)
RESNETC_NO_PARAMS(BnStats)
RESNETC_NO_PARAMS(BnApply)
RESNETC_NO_PARAMS(SoftmaxCrossEntropy)
RESNETC_NO_PARAMS(SoftmaxCrossEntropyGrad)
RESNETC_NO_PARAMS(BnGradWeight)
RESNETC_NO_PARAMS(BnGradInput)
RESNETC_NO_PARAMS(ReluGrad)
RESNETC_NO_PARAMS(Fused)
RESNETC_NO_PARAMS(View)

}  // namespace resnetc::ir::param_rules
