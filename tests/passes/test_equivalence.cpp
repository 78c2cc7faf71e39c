// Every pass keeps the numbers: the reference executor (double precision) gives the same
// logits, loss, updated parameters and running statistics before and after each pass, run one
// after another in pipeline order, on training and inference graphs.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "compiler/ir/verifier.h"
#include "compiler/passes/pass.h"
#include "pass_test_util.h"

using namespace resnetc;
using namespace resnetc::passes;
using namespace resnetc::passes::testing;

namespace {

// Runs every pass in order on `g`, checking the reference results after each against the
// results before any.
void check_each_pass(ir::Graph g, double tolerance) {
  const Named before = run_reference(g);
  for (const Pass& pass : all_passes()) {
    INFO("after pass " << pass.name);
    pass.run(g);
    REQUIRE(ir::verify(g).empty());
    const double diff = max_relative_difference(before, run_reference(g));
    CHECK(diff >= 0);
    CHECK(diff <= tolerance);
  }
}

}  // namespace

TEST_CASE("each pass keeps a training step's loss, logits and updated weights") {
  SECTION("d2l residual and torchvision basic blocks, momentum") { check_each_pass(training_graph(kResidualNet, 3), 1e-10); }
  SECTION("plain SGD") { check_each_pass(training_graph(kResidualNet, 2, 0.0), 1e-10); }
  SECTION("a conv read by BatchNorm and a shortcut") { check_each_pass(training_graph(kTwoUserConvNet, 3), 1e-10); }
  // lower-maps: the gate's gradient as a map of dy * x * (H * W) read by the global average pool.
  SECTION("silu, sigmoid and an SE gate") { check_each_pass(training_graph(kGatedNet, 3), 1e-10); }
}

TEST_CASE("each pass keeps inference outputs; folded BatchNorm within 1e-5 relative") {
  check_each_pass(forward_graph(kResidualNet, 3), 1e-5);
  check_each_pass(forward_graph(kTwoUserConvNet, 2), 1e-5);
  check_each_pass(forward_graph(kGatedNet, 2), 1e-5);
}

TEST_CASE("the passes change the graphs they should") {
  ir::Graph training = training_graph(kResidualNet, 3);
  const size_t ops_before = training.ops.size();
  run_pipeline(training, {});
  CHECK(training.ops.size() < ops_before);

  ir::Graph inference = forward_graph(kResidualNet, 3);
  run_pipeline(inference, {});
  CHECK(count_ops(inference, ir::OpKind::BatchNorm) == 0);  // every conv here has one reader
}

TEST_CASE("a pass that breaks the graph is named by --verify-each") {
  ir::Graph g = training_graph(kResidualNet, 2);
  PipelineOptions options;
  options.verify_each = true;
  run_pipeline(g, options);  // the real passes: valid after each
  SUCCEED();

  // A graph that is already broken (the logits' shape wrong) is reported after the first pass.
  ir::Graph broken = forward_graph(kResidualNet, 2);
  broken.values[static_cast<size_t>(broken.output)].shape = {2, 6};
  options.level = 1;
  CHECK_THROWS_WITH(run_pipeline(broken, options), Catch::Contains("is invalid after 'cse'"));
}
