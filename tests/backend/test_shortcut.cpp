// The option-A shortcut (pad_shortcut) and its gradient on the CPU backend against the
// reference executor: odd sizes, unequal strides, channel padding alone, and a size large
// enough for the thread pool.
#include <catch2/catch.hpp>

#include "compiler/ir/builder.h"
#include "tests/backend/check_reference.h"

using namespace resnetc;
using testing::check;
using ir::OpKind;
using ir::ValueRole;

namespace {

ir::Graph shortcut_graph(const ir::Dims& shape, int64_t out, int64_t sh, int64_t sw) {
  ir::GraphBuilder b("shortcut", shape);
  ir::Attrs a;
  a.out_channels = out;
  a.stride[0] = sh, a.stride[1] = sw;
  ir::ValueId y = b.add(OpKind::PadShortcut, "pad", {b.input()}, a, {});
  ir::ValueId dy = b.add_value("dy", b.shape(y), ValueRole::Input);
  ir::Attrs grad;
  grad.stride[0] = sh, grad.stride[1] = sw;
  grad.shape = shape;
  b.apply(OpKind::PadShortcutGrad, "pad.grad", {dy}, grad, {});
  return std::move(b).finish(y);
}

}  // namespace

TEST_CASE("backend pad_shortcut and its gradient match the reference") {
  SECTION("stride 2 on 5x7, 3 -> 5 channels") { check(shortcut_graph({2, 3, 5, 7}, 5, 2, 2)); }
  SECTION("strides 2x3 on 7x11, no new channels") { check(shortcut_graph({3, 4, 7, 11}, 4, 2, 3)); }
  SECTION("stride 1: channel padding alone") { check(shortcut_graph({2, 3, 5, 7}, 8, 1, 1)); }
  SECTION("large, on the thread pool") { check(shortcut_graph({4, 16, 33, 35}, 32, 2, 2)); }
}
