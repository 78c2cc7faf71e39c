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

// Every GEMM configuration: FMA and TF32 mma.sync, each with the tiles chosen for the shapes,
// the 128x64 tiles, and K split (with BatchNorm statistics in the epilogue, in the splits' sum).
inline void check_emulated_every_gemm_config(const ir::Graph& graph) {
  SECTION("FMA, the tiles chosen for the shapes") {
    check_emulated(graph, {});
  }
  SECTION("FMA, 128x64 tiles") {
    check_emulated(graph, big_tiles({}));
  }
  SECTION("FMA, K split") {
    check_emulated(graph, split_everything({}));
  }
  SECTION("TF32 mma.sync, the tiles chosen for the shapes") {
    check_emulated(graph, tensor_cores({}));
  }
  SECTION("TF32 mma.sync, 128x64 tiles") {
    check_emulated(graph, tensor_cores(big_tiles({})));
  }
  SECTION("TF32 mma.sync, K split") {
    check_emulated(graph, tensor_cores(split_everything({})));
  }
}

}  // namespace resnetc::testing
