// Every kernel kind of the CUDA emitter, run under emulation against the reference executor on
// random inputs, on shapes that divide none of the tile sizes (GEMM tiles of 16..128 rows and
// 16..64 columns, K steps of 16, 256-thread blocks, float4 vectors):
// - a GEMM zoo: convolutions forward / data gradient / weight gradient (odd images, 1x1, 3x3,
//   7x7 and rectangular kernels, strides, padding, groups, bias, taps that see only padding)
//   and fully connected layers, with every tile configuration, split-K, and TF32 mma.sync;
// - the rest: pooling and its gradients (on inputs with many exact ties, for maxpool's first-
//   maximum rule), BatchNorm (inference, batch statistics, apply, both gradients, running
//   update), the bias gradient, ReLU, add, copies, global average pooling, the loss, the SGD
//   updates; with channel reductions split in chunks and grid-stride loops that loop.
#include <catch2/catch.hpp>
#include <string>

#include "compiler/passes/pass.h"
#include "tests/cuda_codegen/emulation_test.h"
#include "tests/cuda_codegen/zoo.h"

using namespace resnetc;
using testing::zoo::gate_zoo;
using testing::zoo::gemm_zoo;
using testing::zoo::other_zoo;

TEST_CASE("emulated convolution and fully connected kernels match the reference", "[cuda][emulation][gemm]") {
  testing::check_emulated_every_gemm_config(gemm_zoo());
}

TEST_CASE("emulated pooling, BatchNorm, elementwise, loss and update kernels match the reference",
          "[cuda][emulation]") {
  const ir::Graph graph = other_zoo();
  testing::EmulationOptions ties;
  ties.quantize_inputs = true;  // maxpool windows with several equal maxima
  SECTION("one block per channel, one pass per grid") {
    testing::check_emulated(graph, ties);
  }
  SECTION("channels split in chunks, grid-stride loops") {
    testing::check_emulated(graph, testing::split_everything(ties));
  }
  SECTION("other random inputs") {
    testing::EmulationOptions o;
    o.seed = 7;
    o.input_scale = 3.0f;
    testing::check_emulated(graph, o);
  }
}

TEST_CASE("emulated gating ops (sigmoid, silu, channel_mul) and their gradients match the reference",
          "[cuda][emulation]") {
  ir::Graph graph = gate_zoo();
  passes::lower_gates(graph);  // fused maps, with the plane and sigmoid opcodes
  SECTION("one pass per grid") { testing::check_emulated(graph, {}); }
  SECTION("grid-stride loops, large inputs") {
    testing::EmulationOptions o = testing::split_everything();
    o.seed = 5;
    o.input_scale = 100.0f;  // exp overflows float: sigmoid must still be finite
    testing::check_emulated(graph, o);
  }
}

// Positive inputs and a tolerance below float's rounding of x / (1 - p): one element kept by the
// kernel and dropped by the reference (or the reverse) fails. The CPU backend is held to the
// same (tests/backend/test_random_mask.cpp), so CPU and GPU masks agree element for element.
TEST_CASE("emulated dropout and drop-path kernels draw the reference's masks element for element",
          "[cuda][emulation][dropout]") {
  using testing::zoo::mask_attrs;
  ir::GraphBuilder g("masks", {3, 5, 7, 9});
  const ir::ValueId rng = testing::zoo::mask_seed(g);
  const ir::ValueId wide = g.add_value("wide", {4, 16, 33, 35}, ir::ValueRole::Input);
  g.apply(ir::OpKind::DropoutMask, "dropout", {g.input(), rng}, mask_attrs(0.3, 11), {});
  g.apply(ir::OpKind::DropoutMask, "dropout.wide", {wide, rng}, mask_attrs(0.5, 12), {});
  g.apply(ir::OpKind::DropPathMask, "droppath", {g.input(), rng}, mask_attrs(0.4, 13), {});
  const ir::ValueId y = g.apply(ir::OpKind::DropPathMask, "droppath.wide", {wide, rng}, mask_attrs(0.5, 14), {});
  const ir::Graph graph = std::move(g).finish(y);
  testing::EmulationOptions exact;
  exact.positive_inputs = true;
  exact.tolerance = 1e-6;
  SECTION("one pass per grid") { testing::check_emulated(graph, exact); }
  SECTION("grid-stride loops") { testing::check_emulated(graph, testing::split_everything(exact)); }
}
