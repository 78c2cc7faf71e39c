#include <catch2/catch.hpp>

#include "compiler/autodiff/training_graph.h"
#include "compiler/passes/pass.h"
#include "dsl/frontend.h"
#include "tests/backend/kernel_harness.h"
#include "tests/tiny_network.h"

using namespace resnetc;

// Every kernel of a whole training step — forward, loss, backward, updates — against the
// reference executor, on shapes that divide nothing evenly.
TEST_CASE("a whole training step on the CPU backend matches the reference executor") {
  SECTION("plain SGD") {
    auto mismatches = testing::compare_with_reference(testing::tiny_training_graph({0, 0}));
    INFO(testing::describe(mismatches));
    CHECK(mismatches.empty());
  }
  SECTION("momentum and weight decay") {
    auto mismatches = testing::compare_with_reference(testing::tiny_training_graph({0.9, 5e-4}));
    INFO(testing::describe(mismatches));
    CHECK(mismatches.empty());
  }
  SECTION("option-A shortcuts, dropout and drop-path") {
    auto mismatches = testing::compare_with_reference(
        testing::tiny_training_graph({0.9, 5e-4}, 5, testing::kTinyDropoutNetwork));
    INFO(testing::describe(mismatches));
    CHECK(mismatches.empty());
  }
  // The fused and grouped kernels the passes make, on the graph they make them for.
  for (int level : {1, 2}) {
    DYNAMIC_SECTION("after the -O" << level << " passes, momentum and weight decay") {
      ir::Graph g = testing::tiny_training_graph({0.9, 5e-4});
      passes::run_pipeline(g, passes::at_level(level));
      auto mismatches = testing::compare_with_reference(g);
      INFO(testing::describe(mismatches));
      CHECK(mismatches.empty());
    }
    DYNAMIC_SECTION("after the -O" << level << " passes, option-A shortcuts, dropout and drop-path") {
      ir::Graph g = testing::tiny_training_graph({0.9, 5e-4}, 5, testing::kTinyDropoutNetwork);
      passes::run_pipeline(g, passes::at_level(level));
      auto mismatches = testing::compare_with_reference(g);
      INFO(testing::describe(mismatches));
      CHECK(mismatches.empty());
    }
  }
}
