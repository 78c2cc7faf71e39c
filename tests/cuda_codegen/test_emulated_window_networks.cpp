// A whole training step of the window-attribute network (tests/window_network.h: dilated and
// rectangular convs, ceil_mode pools, ResNet-D's pooled shortcut, global max pooling) emitted
// as CUDA and run under emulation, against the reference executor.
#include <catch2/catch.hpp>

#include "compiler/passes/pass.h"
#include "tests/cuda_codegen/emulation_test.h"
#include "tests/tiny_network.h"
#include "tests/window_network.h"

using namespace resnetc;

TEST_CASE("a training step of the window-attribute network under CUDA emulation matches the reference",
          "[cuda][emulation][window]") {
  SECTION("unfused, FMA") {
    testing::check_emulated(testing::tiny_training_graph({0.9, 5e-4}, 3, testing::kWindowNetwork), {});
  }
  SECTION("after the -O2 passes, every reduction split") {
    ir::Graph g = testing::tiny_training_graph({0.9, 5e-4}, 3, testing::kWindowNetwork);
    passes::run_pipeline(g, {});
    testing::check_emulated(g, testing::split_everything({}));
  }
}
