#pragma once
// How a Gather (ir::FusedOpcode::Gather) reads its input, axis by axis: what every renderer of
// it (the reference's interpreter, the LLVM and CUDA fused renderers) needs, and the one place
// that checks a gather is well formed.
#include <cstdint>
#include <vector>

#include "compiler/ir/graph.h"

namespace resnetc::ir {

struct GatherRead {
  int64_t num = 1, den = 1;  // the source coordinate is coord * num / den ...
  int64_t extent = 1;        // ... on an axis of this extent in the source
  int64_t stride = 1;        // the source's elements between neighbours on the axis
  bool off_grid = false;     // some coordinate of the space is not divisible (den does not divide num)
  bool past_end = false;     // some coordinate of the space maps past the extent
};

// Per axis of `space`, how Gather instruction `in` of `program` reads `source`. Throws
// std::invalid_argument saying what is wrong with a malformed gather: no such map, a map or a
// source of another rank than the space, a num or den outside 1 to 2^31.
std::vector<GatherRead> gather_reads(const FusedProgram& program, const FusedInstr& in, const Dims& space,
                                     const Dims& source);

}  // namespace resnetc::ir
