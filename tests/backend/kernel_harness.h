#pragma once
// Runs a graph through the CPU backend (plan -> LLVM IR -> JIT -> PlanRunner) and through the
// double-precision reference executor on the same random inputs, and compares every value
// the kernels produce or update. The arena is poisoned with NaN first, so an element a
// kernel forgets to write fails the comparison.
#include <string>
#include <vector>

#include "compiler/ir/graph.h"

namespace resnetc::codegen::llvm_backend {
class Jit;
}

namespace resnetc::testing {

// The one JIT of the test process (creating one costs ~100 ms).
codegen::llvm_backend::Jit& test_jit();

// Whether this host runs bf16 plans (avx512_bf16), and AMX's bf16 tiles (amx-tile, amx-bf16).
bool host_has_bf16();
bool host_has_amx();

struct Mismatch {
  std::string value;  // the buffer's name
  double error;       // max |backend - reference| / max(max |reference|, 1e-6)
};

struct HarnessOptions {
  unsigned seed = 1;
  double tolerance = 1e-4;
  float input_scale = 1.0f;  // inputs, parameters and states drawn from [-scale, scale]
  bool positive_inputs = false;  // from [0.1, 0.1 + scale] instead: a zeroed element always shows
  bool batchnorm_near_identity = false;  // BatchNorm weights and biases as tests/batchnorm_draw.h says
};

// The worst relative error of each value that exceeds the tolerance (empty: all match).
// Also fails (as a Mismatch named after the value) when a result is not finite.
std::vector<Mismatch> compare_with_reference(const ir::Graph& graph, const HarnessOptions& options = {});

// A one-line summary of the mismatches, for test messages.
std::string describe(const std::vector<Mismatch>& mismatches);

}  // namespace resnetc::testing
