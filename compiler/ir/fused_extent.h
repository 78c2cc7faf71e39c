#pragma once
// The extent of a fused program's iteration space, as every renderer of the program (the shape
// rule, the reference interpreter, the LLVM and CUDA emitters) walks it.
#include <cstdint>

#include "compiler/ir/graph.h"

namespace resnetc::ir {

// An iteration space as [batch, channels, plane], plane the elements of one (n, c) plane. A map
// that reads nothing per channel or plane may run over a space without a channel axis (an
// elementwise op on a vector or a scalar): that space is one plane of one channel.
struct FusedExtent {
  int64_t batch = 1, channels = 1, plane = 1;
};

inline FusedExtent fused_extent(const Dims& space) {
  if (space.size() < 2) return {1, 1, numel(space)};
  FusedExtent e{space[0], space[1], 1};
  for (size_t axis = 2; axis < space.size(); ++axis) e.plane *= space[axis];
  return e;
}

}  // namespace resnetc::ir
