// Dropout and drop-path masks on the CPU backend against the reference executor. The inputs
// are positive and the tolerance below float's rounding of x / (1 - p) is tight, so one element
// kept by one and dropped by the other fails: the CPU draws the reference's masks element for
// element (the emulated CUDA kernels are held to the same, test_emulated_kernels.cpp).
#include <catch2/catch.hpp>

#include "compiler/ir/builder.h"
#include "tests/backend/check_reference.h"

using namespace resnetc;
using testing::check;
using ir::OpKind;
using ir::ValueRole;

namespace {

ir::Graph mask_graph(OpKind kind, const ir::Dims& shape, double rate) {
  ir::GraphBuilder b("mask", shape);
  const ir::ValueId rng = b.add_value("rng", {2}, ValueRole::Input, ir::DType::I32);
  ir::Attrs a;
  a.rate = rate;
  a.salt = 4242;
  const ir::ValueId y = b.apply(kind, "mask", {b.input(), rng}, a, {});
  const ir::ValueId dy = b.add_value("dy", shape, ValueRole::Input);
  b.apply(kind, "mask.grad", {dy, rng}, a, {});
  return std::move(b).finish(y);
}

constexpr testing::HarnessOptions kExact{.seed = 3, .tolerance = 1e-6, .positive_inputs = true};

}  // namespace

TEST_CASE("backend dropout_mask draws the reference's mask") {
  SECTION("odd sizes, p = 0.3") { check(mask_graph(OpKind::DropoutMask, {3, 5, 7, 9}, 0.3), kExact); }
  SECTION("p = 0.9") { check(mask_graph(OpKind::DropoutMask, {2, 3, 11, 13}, 0.9), kExact); }
  SECTION("p = 0: the identity") { check(mask_graph(OpKind::DropoutMask, {2, 3, 5, 7}, 0.0), kExact); }
  SECTION("large, on the thread pool") { check(mask_graph(OpKind::DropoutMask, {4, 16, 33, 35}, 0.5), kExact); }
  SECTION("2-d") { check(mask_graph(OpKind::DropoutMask, {37, 70}, 0.3), kExact); }
}

TEST_CASE("backend droppath_mask draws the reference's per-sample mask") {
  SECTION("odd sizes") { check(mask_graph(OpKind::DropPathMask, {13, 5, 7, 9}, 0.3), kExact); }
  SECTION("large, on the thread pool") { check(mask_graph(OpKind::DropPathMask, {33, 16, 17, 19}, 0.5), kExact); }
}
