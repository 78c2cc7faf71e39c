// The parameters and state each op kind owns (param_specs in shape_inference.h): BatchNorm's in
// compiler/ops/batchnorm.cpp, conv2d's and linear's in compiler/ops/dense.cpp; every other kind
// reads its tensors as data.
#include "compiler/ir/shape_rules/rules.h"

namespace resnetc::ir::param_rules {

// Kinds that own nothing, each named so that a new row must choose.
RESNETC_NO_PARAMS(View)

}  // namespace resnetc::ir::param_rules
