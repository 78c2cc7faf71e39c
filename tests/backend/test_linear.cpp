// Fully connected layers on the CPU backend against the double-precision reference executor:
// forward (with and without bias), gradient of the input and of the weight, on sizes that do
// not divide the GEMM's tiles, ResNet-18's head (512 -> 10, batch 64) and a batch of one.
#include <catch2/catch.hpp>

#include <string>

#include "compiler/ir/builder.h"
#include "tests/backend/kernel_harness.h"

using namespace resnetc;
using ir::OpKind;
using ir::ValueRole;

namespace {

void check(const ir::Graph& graph) {
  auto mismatches = testing::compare_with_reference(graph);
  INFO(testing::describe(mismatches));
  CHECK(mismatches.empty());
}

ir::Graph forward(int64_t n, int64_t f, int64_t o, bool bias) {
  ir::GraphBuilder g("fc", {n, f});
  ir::Attrs a;
  a.out_features = o;
  a.bias = bias;
  ir::ValueId y = g.add(OpKind::Linear, "fc", {g.input()}, a, {});
  return std::move(g).finish(y);
}

ir::Graph grad_input(int64_t n, int64_t f, int64_t o) {
  ir::GraphBuilder g("fc_dx", {n, f});
  ir::ValueId dy = g.add_value("dy", {n, o}, ValueRole::Input);
  ir::ValueId w = g.add_value("fc.weight", {o, f}, ValueRole::Parameter);
  ir::ValueId dx = g.apply(OpKind::LinearGradInput, "fc.grad_input", {dy, w}, {}, {});
  return std::move(g).finish(dx);
}

ir::Graph grad_weight(int64_t n, int64_t f, int64_t o) {
  ir::GraphBuilder g("fc_dw", {n, f});
  ir::ValueId dy = g.add_value("dy", {n, o}, ValueRole::Input);
  ir::ValueId dw = g.apply(OpKind::LinearGradWeight, "fc.grad_weight", {dy, g.input()}, {}, {});
  return std::move(g).finish(dw);
}

void check_all(int64_t n, int64_t f, int64_t o) {
  const std::string name = std::to_string(n) + "x" + std::to_string(f) + " -> " + std::to_string(o);
  SECTION("forward with bias " + name) { check(forward(n, f, o, true)); }
  SECTION("forward without bias " + name) { check(forward(n, f, o, false)); }
  SECTION("grad input " + name) { check(grad_input(n, f, o)); }
  SECTION("grad weight " + name) { check(grad_weight(n, f, o)); }
}

}  // namespace

TEST_CASE("linear layers on odd sizes match the reference", "[backend][linear]") {
  check_all(3, 13, 7);
  check_all(5, 37, 40);
  check_all(1, 3, 1);
  check_all(33, 70, 19);
}

TEST_CASE("ResNet-18's head (512 -> 10, batch 64) matches the reference", "[backend][linear]") {
  check_all(64, 512, 10);
  check_all(17, 300, 300);  // several row blocks, lane blocks and a tail everywhere
}
