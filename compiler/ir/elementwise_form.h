#pragma once
// The fused map program (ir::FusedProgram) of a kind that is elementwise given per-channel
// operands, so that fuse-elementwise can turn its op into a fused map and inline it into its
// neighbours without naming any kind. The kinds' programs are their families': batchnorm and
// bn_apply in compiler/ops/batchnorm.cpp.
#include <optional>

#include "compiler/ir/graph.h"

namespace resnetc::ir {

// The map an op of `kind` with `attrs` computes over its output, reading its inputs in order;
// nothing for a kind without one.
std::optional<FusedProgram> elementwise_form(OpKind kind, const Attrs& attrs);

// The kinds' entries (their family files define them).
namespace elementwise_forms {
FusedProgram BatchNorm(const Attrs& attrs);
FusedProgram BnApply(const Attrs& attrs);
}  // namespace elementwise_forms

}  // namespace resnetc::ir
