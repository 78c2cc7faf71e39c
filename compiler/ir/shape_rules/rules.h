#pragma once
// The shape rule and the parameters of every op kind, one function each, named after the kind
// and declared from the rows of ops.def: a row without its rules fails to link. shape_inference.cpp
// reaches them through tables built from the same rows. The definitions live by family, in the
// family files compiler/ops/<family>.cpp (docs/architecture.md, "The op table"); the checks they
// share are checks.h.
#include <span>
#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/ir/shape_inference.h"

namespace resnetc::ir {

namespace shape_rules {
// The output shape from the data inputs' shapes (checked to be in range and as many as the row
// says) and the attributes; `{}` for an update.
#define OP(kind, ...) ShapeResult kind(std::span<const Dims> data, const Attrs& attrs);
#include "compiler/ir/ops.def"
#undef OP
}  // namespace shape_rules

namespace param_rules {
// The parameters and state the op owns, in the order they follow its data inputs.
#define OP(kind, ...) std::vector<ParamSpec> kind(const Dims& data0, const Attrs& attrs);
#include "compiler/ir/ops.def"
#undef OP
}  // namespace param_rules

// In namespace param_rules: the parameter rule of a kind that owns nothing.
#define RESNETC_NO_PARAMS(kind) \
  std::vector<ParamSpec> kind(const Dims&, const Attrs&) { return {}; }

}  // namespace resnetc::ir
