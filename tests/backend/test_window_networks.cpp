// Training steps of networks written with the window attributes and pools of issue 11 on the
// CPU backend, against the reference executor: forward, autodiff's gradients, updates,
// before and after the -O2 passes.
#include <catch2/catch.hpp>

#include "compiler/passes/pass.h"
#include "tests/backend/kernel_harness.h"
#include "tests/tiny_network.h"
#include "tests/window_network.h"

using namespace resnetc;

namespace {

void check_training_step(const char* text) {
  for (int level : {0, 2}) {
    DYNAMIC_SECTION("at -O" << level) {
      ir::Graph g = testing::tiny_training_graph({0.9, 5e-4}, 3, text);
      if (level > 0) passes::run_pipeline(g, passes::at_level(level));
      auto mismatches = testing::compare_with_reference(g);
      INFO(testing::describe(mismatches));
      CHECK(mismatches.empty());
    }
  }
}

}  // namespace

TEST_CASE("a training step through global max pooling matches the reference", "[backend][window]") {
  check_training_step(R"(
network gmp {
  input 2x9x7
  stem { conv 5 k3 p1; bn; relu }
  stage basic 6 stride=2
  head { maxpool; fc 4 }
})");
}

TEST_CASE("a training step of a ResNet-D-like network with dilated and rectangular convs matches the reference",
          "[backend][window]") {
  check_training_step(testing::kWindowNetwork);
}
