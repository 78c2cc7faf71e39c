// The gating ops (sigmoid, silu, channel_mul: a squeeze-excitation's pieces) and their
// gradients on the CPU backend against the reference executor. The backend has no kernels of
// their own: the lower-gates pass makes them fused maps (the plane and sigmoid opcodes), at -O0
// as they are, at -O2 inlined into their neighbours; shapes that divide no vector width.
#include <catch2/catch.hpp>

#include "compiler/ir/builder.h"
#include "compiler/passes/pass.h"
#include "tests/backend/check_reference.h"
#include "tests/tiny_network.h"

using namespace resnetc;
using ir::OpKind;
using ir::ValueRole;

namespace {

// Every gating op and gradient over x `shape` [N, C, H, W], a gate [N, C, 1, 1] and dy.
ir::Graph gate_ops(const ir::Dims& shape) {
  ir::GraphBuilder b("gates", shape);
  const ir::ValueId x = b.input();
  const ir::ValueId gate = b.add_value("gate", {shape[0], shape[1], 1, 1}, ValueRole::State);
  const ir::ValueId dy = b.add_value("dy", shape, ValueRole::State);
  const ir::ValueId s = b.add(OpKind::Sigmoid, "sigmoid", {x}, {}, {});
  b.add(OpKind::Silu, "silu", {x}, {}, {});
  b.add(OpKind::ChannelMul, "scale", {x, gate}, {}, {});
  b.apply(OpKind::SigmoidGrad, "sigmoid.grad", {dy, s}, {}, {});
  b.apply(OpKind::SiluGrad, "silu.grad", {dy, x}, {}, {});
  b.apply(OpKind::ChannelMul, "scale.grad_input", {dy, gate}, {}, {});
  const ir::ValueId dg = b.apply(OpKind::ChannelMulGradGate, "scale.grad_gate", {dy, x}, {}, {});
  // The gate's own activations over a [N, C, 1, 1] space, where maps run along rows.
  const ir::ValueId gs = b.add(OpKind::Sigmoid, "gate.sigmoid", {dg}, {}, {});
  return std::move(b).finish(b.add(OpKind::Silu, "gate.silu", {gs}, {}, {}));
}

// What -O0 does to the gating ops (the other passes would drop the unread ones).
ir::Graph lowered(ir::Graph g) {
  passes::lower_gates(g);
  return g;
}

ir::Graph optimized(ir::Graph g, int level) {
  passes::run_pipeline(g, passes::at_level(level));
  return g;
}


}  // namespace

TEST_CASE("backend gating ops and their gradients, lowered to fused maps, match the reference") {
  SECTION("odd sizes, inline") { testing::check(lowered(gate_ops({3, 5, 7, 9}))); }
  SECTION("large, on the thread pool") { testing::check(lowered(gate_ops({3, 7, 33, 29}))); }
  SECTION("two channels, 1x1 planes") { testing::check(lowered(gate_ops({5, 2, 1, 1}))); }
}

TEST_CASE("backend sigmoid stays finite for large |x|") {
  testing::HarnessOptions wide;
  wide.input_scale = 200;  // exp(200) overflows float: sigmoid must still give 0 or 1, never a NaN
  testing::check(lowered(gate_ops({3, 5, 7, 9})), wide);
}

TEST_CASE("a training step of an SE network on the CPU backend matches the reference") {
  for (int level : {0, 2}) {
    DYNAMIC_SECTION("-O" << level) {
      testing::check(optimized(testing::tiny_training_graph({0.9, 5e-4}, 3, testing::kTinySeNetwork), level));
    }
  }
}
