#include <catch2/catch.hpp>

#include "compiler/autodiff/training_graph.h"
#include "compiler/passes/pass.h"
#include "dsl/frontend.h"
#include "tests/backend/kernel_harness.h"

using namespace resnetc;

namespace {

ir::Graph training_graph(const std::string& text, autodiff::TrainingOptions options) {
  dsl::SourceManager sources;
  return autodiff::make_training_graph(dsl::compile_source(sources, "t.net", text, {std::nullopt, 3}).graph, options);
}

}  // namespace

// Every kernel of a whole training step — forward, loss, backward, updates — against the
// reference executor, on shapes that divide nothing evenly.
TEST_CASE("a whole training step on the CPU backend matches the reference executor") {
  const char* net = R"(
network tiny {
  input 2x9x7
  stem { conv 5 k3 p1; bn; relu; maxpool k3 s2 p1 }
  # (no conv bias before a BatchNorm here: its gradient is exactly 0, which float32 only approximates)
  stage basic 6 stride=2
  stage preact 6
  head { avgpool; fc 4 }
})";
  SECTION("plain SGD") {
    auto mismatches = testing::compare_with_reference(training_graph(net, {0, 0}));
    INFO(testing::describe(mismatches));
    CHECK(mismatches.empty());
  }
  SECTION("momentum and weight decay") {
    auto mismatches = testing::compare_with_reference(training_graph(net, {0.9, 5e-4}));
    INFO(testing::describe(mismatches));
    CHECK(mismatches.empty());
  }
  // The fused and grouped kernels the passes make, on the graph they make them for.
  for (int level : {1, 2}) {
    DYNAMIC_SECTION("after the -O" << level << " passes, momentum and weight decay") {
      ir::Graph g = training_graph(net, {0.9, 5e-4});
      passes::PipelineOptions optimize;
      optimize.level = level;
      passes::run_pipeline(g, optimize);
      auto mismatches = testing::compare_with_reference(g);
      INFO(testing::describe(mismatches));
      CHECK(mismatches.empty());
    }
  }
}
