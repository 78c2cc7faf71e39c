// The optimizer's in-place updates on the CPU backend against the reference executor:
// plain SGD, SGD with momentum and weight decay, and BatchNorm's running statistics, one
// parameter at a time and in the passes' groups (members of different sizes in one kernel).
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <vector>

#include "compiler/ir/builder.h"
#include "tests/backend/check_reference.h"

using namespace resnetc;
using testing::check;
using ir::OpKind;
using ir::ValueRole;

namespace {

// param -= lr * ...: the graph's input is the gradient; lr a [1] input read at run time.
ir::Graph sgd_graph(const ir::Dims& shape, double momentum, double weight_decay) {
  ir::GraphBuilder b("sgd", shape);
  ir::ValueId param = b.add_value("w", shape, ValueRole::Parameter);
  ir::ValueId lr = b.add_value("lr", {1}, ValueRole::Input);
  ir::Attrs a;
  a.momentum = momentum;
  a.weight_decay = weight_decay;
  if (momentum != 0) {
    ir::ValueId velocity = b.add_value("w.velocity", shape, ValueRole::State);
    b.apply(OpKind::SgdMomentumUpdate, "w.update", {param, b.input(), lr, velocity}, a, {});
  } else {
    b.apply(OpKind::SgdUpdate, "w.update", {param, b.input(), lr}, a, {});
  }
  ir::Graph g = std::move(b).finish(b.input());
  g.learning_rate = lr;
  return g;
}

ir::Graph running_update_graph(const ir::Dims& shape, double momentum) {
  const ir::Dims channel{shape[1]};
  ir::GraphBuilder b("running", shape);
  ir::ValueId stats = b.apply(OpKind::BnStats, "bn.stats", {b.input()}, {}, {});
  ir::ValueId mean = b.add_value("bn.running_mean", channel, ValueRole::State);
  ir::ValueId var = b.add_value("bn.running_var", channel, ValueRole::State);
  ir::Attrs a;
  a.momentum = momentum;
  a.shape = shape;
  b.apply(OpKind::BnRunningUpdate, "bn.running_update", {mean, var, stats}, a, {});
  return std::move(b).finish(stats);
}

// One group update over members of the given shapes: lr, then (param, grad[, velocity]) each.
ir::Graph sgd_group_graph(const std::vector<ir::Dims>& shapes, double momentum, double weight_decay) {
  ir::GraphBuilder b("sgd_group", shapes[0]);
  ir::ValueId lr = b.add_value("lr", {1}, ValueRole::Input);
  std::vector<ir::ValueId> inputs{lr};
  for (size_t m = 0; m < shapes.size(); ++m) {
    inputs.push_back(b.add_value(fmt::format("w{}", m), shapes[m], ValueRole::Parameter));
    inputs.push_back(m == 0 ? b.input() : b.add_value(fmt::format("w{}.grad", m), shapes[m], ValueRole::Input));
    if (momentum != 0) inputs.push_back(b.add_value(fmt::format("w{}.velocity", m), shapes[m], ValueRole::State));
  }
  ir::Attrs a;
  a.momentum = momentum;
  a.weight_decay = weight_decay;
  b.apply(momentum != 0 ? OpKind::SgdMomentumUpdateGroup : OpKind::SgdUpdateGroup, "update", inputs, a, {});
  ir::Graph g = std::move(b).finish(b.input());
  g.learning_rate = lr;
  return g;
}

// (running_mean, running_var, stats) per member of `channels` channels, n = counts[m].
ir::Graph running_group_graph(const std::vector<int64_t>& channels, const std::vector<int64_t>& counts,
                              double momentum) {
  ir::GraphBuilder b("running_group", {2, channels[0]});
  std::vector<ir::ValueId> inputs;
  for (size_t m = 0; m < channels.size(); ++m) {
    inputs.push_back(b.add_value(fmt::format("bn{}.running_mean", m), {channels[m]}, ValueRole::State));
    inputs.push_back(b.add_value(fmt::format("bn{}.running_var", m), {channels[m]}, ValueRole::State));
    inputs.push_back(m == 0 ? b.input() : b.add_value(fmt::format("bn{}.stats", m), {2, channels[m]}, ValueRole::Input));
  }
  ir::Attrs a;
  a.momentum = momentum;
  a.counts = counts;
  b.apply(OpKind::BnRunningUpdateGroup, "running_update", inputs, a, {});
  return std::move(b).finish(b.input());
}

}  // namespace

TEST_CASE("backend sgd_update matches the reference") {
  SECTION("plain") { check(sgd_graph({5, 3, 3, 3}, 0, 0)); }
  SECTION("weight decay") { check(sgd_graph({7, 11}, 0, 5e-4)); }
  SECTION("large, on the thread pool") { check(sgd_graph({64, 33, 3, 3}, 0, 1e-2)); }
}

TEST_CASE("backend sgd_momentum_update matches the reference") {
  SECTION("momentum") { check(sgd_graph({5, 3, 3, 3}, 0.9, 0)); }
  SECTION("momentum and weight decay") { check(sgd_graph({13}, 0.9, 5e-4)); }
  SECTION("large, on the thread pool") { check(sgd_graph({64, 33, 3, 3}, 0.5, 1e-2)); }
}

TEST_CASE("backend bn_running_update matches the reference") {
  SECTION("momentum 0.1") { check(running_update_graph({3, 4, 5, 7}, 0.1)); }
  SECTION("momentum 0.3, 1x1 planes") { check(running_update_graph({3, 5, 1, 1}, 0.3)); }
  SECTION("one value per channel is refused at compile time") {
    CHECK_THROWS_WITH(testing::compare_with_reference(running_update_graph({1, 3, 1, 1}, 0.1)),
                      Catch::Matchers::Contains("more than 1 value per channel"));
  }
}

TEST_CASE("backend sgd_update_group matches the reference") {
  SECTION("three members") { check(sgd_group_graph({{5, 3, 3, 3}, {7}, {11, 13}}, 0, 0)); }
  SECTION("weight decay") { check(sgd_group_graph({{13}, {3, 5, 1, 1}, {9, 7}}, 0, 5e-4)); }
  SECTION("large, on the thread pool") { check(sgd_group_graph({{64, 33, 3, 3}, {1}, {67, 31}}, 0, 1e-2)); }
}

TEST_CASE("backend sgd_momentum_update_group matches the reference") {
  SECTION("three members") { check(sgd_group_graph({{5, 3, 3, 3}, {7}, {11, 13}}, 0.9, 0)); }
  SECTION("momentum and weight decay") { check(sgd_group_graph({{13}, {3, 5, 1, 1}, {9, 7}}, 0.9, 5e-4)); }
  SECTION("large, on the thread pool") { check(sgd_group_graph({{64, 33, 3, 3}, {1}, {67, 31}}, 0.5, 1e-2)); }
}

TEST_CASE("backend bn_running_update_group matches the reference") {
  SECTION("three members") { check(running_group_graph({5, 3, 7}, {147, 5, 2}, 0.1)); }
  SECTION("large, on the thread pool") { check(running_group_graph({4099, 1, 8195}, {9, 3, 25}, 0.3)); }
}
