#pragma once
// Output and parameter shapes of each op kind, used by the graph builder and re-checked by the
// verifier: the checks every op passes, then its kind's rules (shape_rules/rules.h), reached
// through tables built from the rows of ops.def.
#include <span>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"

namespace resnetc::ir {

struct ShapeResult {
  Dims dims;
  std::string error;  // empty on success; says what is wrong, with the shapes involved
  bool ok() const { return error.empty(); }
};

// `data` holds the op's data inputs only (no parameters).
ShapeResult infer_shape(OpKind kind, std::span<const Dims> data, const Attrs& attrs);

struct ParamSpec {
  std::string suffix;  // "weight", "bias", "running_mean", ...
  Dims shape;
  ValueRole role;
};

// The parameters and state an op owns, in the order they follow its data inputs.
std::vector<ParamSpec> param_specs(OpKind kind, const Dims& data0, const Attrs& attrs);

// How many leading inputs of an op with `input_count` inputs are data (the rest are parameters
// or state); every input of a variadic kind is data.
size_t data_input_count(OpKind kind, size_t input_count);

}  // namespace resnetc::ir
