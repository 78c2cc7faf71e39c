#pragma once
// What the emulation test suites share: the comparison as a Catch2 check, and the option
// variants that push the generated kernels down their other paths.
#include <catch2/catch.hpp>

#include "tests/cuda_codegen/emulated_plan.h"

namespace resnetc::testing {

inline void check_emulated(const ir::Graph& graph, const EmulationOptions& options) {
  const EmulationResult r = compare_emulated(graph, options);
  INFO(r.describe());
  CHECK(r.ok());
}

// Every GEMM split along K, every channel reduction in chunks, every grid-stride loop many
// turns, however small the work.
inline EmulationOptions split_everything(EmulationOptions o = {}) {
  o.cuda.target_blocks = 1 << 20;
  o.cuda.min_split_k = 16;
  o.cuda.min_reduce_chunk = 8;
  o.cuda.grid_stride_blocks = 1;
  return o;
}

// TF32 tensor cores for convolutions and fully connected layers, at TF32's tolerance.
inline EmulationOptions tensor_cores(EmulationOptions o = {}) {
  o.cuda.tensor_cores = true;
  o.cuda.tensor_cores_linear = true;
  o.tolerance = 1e-2;  // TF32 operands: 10 mantissa bits
  return o;
}

// The 128x64 tiles wherever M and N allow.
inline EmulationOptions big_tiles(EmulationOptions o = {}) {
  o.cuda.target_blocks = 1;
  return o;
}

}  // namespace resnetc::testing
