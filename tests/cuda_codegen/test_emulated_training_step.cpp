// Every kernel of whole training steps, emitted as CUDA and run under emulation, against the
// reference executor, on shapes that divide no tile size: FMA and TF32 tensor-core GEMMs, and
// with every reduction split (split-K GEMMs, chunked BatchNorm sums) however small it is.
#include <catch2/catch.hpp>

#include "compiler/autodiff/training_graph.h"
#include "compiler/passes/pass.h"
#include "dsl/frontend.h"
#include "tests/cuda_codegen/emulation_test.h"
#include "tests/tiny_network.h"

using namespace resnetc;

TEST_CASE("a whole training step under CUDA emulation matches the reference executor") {
  SECTION("plain SGD, FMA") {
    testing::check_emulated(testing::tiny_training_graph({0, 0}), {});
  }
  SECTION("momentum and weight decay, FMA") {
    testing::check_emulated(testing::tiny_training_graph({0.9, 5e-4}), {});
  }
  SECTION("every GEMM split along K and every channel reduction split in chunks") {
    testing::check_emulated(testing::tiny_training_graph({0.9, 5e-4}), testing::split_everything({}));
  }
  SECTION("after the -O2 passes: fused maps and reductions, grouped updates, every reduction split") {
    ir::Graph g = testing::tiny_training_graph({0.9, 5e-4});
    passes::run_pipeline(g, {});
    testing::check_emulated(g, testing::split_everything({}));
  }
  SECTION("option-A shortcuts, dropout and drop-path, before and after the -O2 passes") {
    ir::Graph g = testing::tiny_training_graph({0.9, 5e-4}, 5, testing::kTinyDropoutNetwork);
    testing::check_emulated(g, {});
    passes::run_pipeline(g, {});
    testing::check_emulated(g, testing::split_everything({}));
  }
  SECTION("TF32 tensor cores (emulated mma.sync), at TF32's tolerance") {
    testing::EmulationOptions o;
    o.cuda.tensor_cores = true;
    o.cuda.tensor_cores_linear = true;
    o.tolerance = 1e-2;
    testing::check_emulated(testing::tiny_training_graph({0.9, 5e-4}), o);
  }
}

// An SE block: the gate's maps at -O0, and at -O2 the channel multiply inlined into the add and
// BatchNorm's backward reduction (a plane load in a reduction).
TEST_CASE("a training step of an SE network under CUDA emulation matches the reference executor") {
  for (int level : {0, 2}) {
    DYNAMIC_SECTION("-O" << level << ", every reduction split") {
      ir::Graph g = testing::tiny_training_graph({0.9, 5e-4}, 3, testing::kTinySeNetwork);
      passes::run_pipeline(g, passes::at_level(level));
      testing::check_emulated(g, testing::split_everything({}));
    }
  }
}
