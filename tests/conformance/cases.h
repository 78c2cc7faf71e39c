#pragma once
// The conformance cases: every kernel kind on shapes that divide no tile or vector width, each
// run by every backend against the double-precision reference executor
// (test_llvm_conformance.cpp: the LLVM CPU backend; test_cuda_conformance.cpp: the CUDA emitter
// under emulation; test_cuda_codegen_nvrtc compiles all but the large ones with NVRTC).
//
// Adding an op's case is one entry in the list in cases.cpp: a name, a function that builds
// the graph, and the tolerance and inputs it needs. Checks that belong to one backend (that a
// kernel is vectorized, which launches it makes) stay in that backend's own tests.
#include <functional>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"

namespace resnetc::testing::conformance {

struct Case {
  std::string name;
  std::function<ir::Graph()> graph;  // every value an op computes or updates is compared
  double tolerance = 1e-4;           // max |backend - reference| / max |reference|, per value
  float input_scale = 1.0f;          // inputs, parameters and states drawn from [-scale, scale]
  // The case holds GEMMs (convolutions, fully connected layers): each backend runs it under each
  // of its GEMM formulations (CPU: RESNETC_CONV_PATH; CUDA: tiles, split-K, TF32 mma.sync).
  bool gemm = false;
  // Sized to spread over many threads (the CPU's thread pool): a backend that is slow to run it
  // (CUDA under emulation runs one thread after another) may run it under fewer variants.
  bool large = false;
  // Inputs from [0.1, 0.1 + scale] instead (with a tolerance below float's rounding, a mask
  // element kept by the backend and dropped by the reference fails).
  bool positive_inputs = false;
  // BatchNorm weights from [0.5, 1.5] and biases from [-0.5, 0.5] (whole training steps: drawn
  // from [-scale, scale], a ReLU channel after BatchNorm is often constant and some gradients
  // mathematically zero, left to rounding; tests/batchnorm_draw.h).
  bool batchnorm_near_identity = false;
};

const std::vector<Case>& cases();

// The graph a backend runs for `c`: c.graph() after passes::lower_maps, as every level runs it
// (the backends have no kernels of their own for relu, add, the gating ops and their gradients).
ir::Graph backend_graph(const Case& c);

// Whether a kind becomes a kernel: its skeleton (ops.def) is not None or Alias. The cases' plans
// hold a kernel of every such kind, so each backend's test of its skeleton table emits them all.
bool has_kernel(ir::OpKind kind);

}  // namespace resnetc::testing::conformance
