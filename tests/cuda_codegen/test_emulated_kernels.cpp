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

#include "tests/cuda_codegen/emulated_plan.h"
#include "tests/cuda_codegen/zoo.h"

using namespace resnetc;
using testing::zoo::gemm_zoo;
using testing::zoo::other_zoo;

namespace {

void check(const ir::Graph& graph, const testing::EmulationOptions& options) {
  const testing::EmulationResult r = testing::compare_emulated(graph, options);
  INFO(r.describe());
  CHECK(r.ok());
}

testing::EmulationOptions split_everything(testing::EmulationOptions o) {
  o.cuda.target_blocks = 1 << 20;
  o.cuda.min_split_k = 16;
  o.cuda.min_reduce_chunk = 8;
  o.cuda.grid_stride_blocks = 1;
  return o;
}

testing::EmulationOptions tensor_cores(testing::EmulationOptions o) {
  o.cuda.tensor_cores = true;
  o.cuda.tensor_cores_linear = true;
  o.tolerance = 1e-2;  // TF32 operands: 10 mantissa bits
  return o;
}

testing::EmulationOptions big_tiles(testing::EmulationOptions o) {
  o.cuda.target_blocks = 1;  // every GEMM takes the 128x64 tiles
  return o;
}

}  // namespace

TEST_CASE("emulated convolution and fully connected kernels match the reference", "[cuda][emulation][gemm]") {
  const ir::Graph graph = gemm_zoo();
  SECTION("FMA, the tiles chosen for the shapes") {
    check(graph, {});
  }
  SECTION("FMA, 128x64 tiles") {
    check(graph, big_tiles({}));
  }
  SECTION("FMA, K split") {
    check(graph, split_everything({}));
  }
  SECTION("TF32 mma.sync, the tiles chosen for the shapes") {
    check(graph, tensor_cores({}));
  }
  SECTION("TF32 mma.sync, 128x64 tiles") {
    check(graph, tensor_cores(big_tiles({})));
  }
  SECTION("TF32 mma.sync, K split") {
    check(graph, tensor_cores(split_everything({})));
  }
}

TEST_CASE("emulated pooling, BatchNorm, elementwise, loss and update kernels match the reference",
          "[cuda][emulation]") {
  const ir::Graph graph = other_zoo();
  testing::EmulationOptions ties;
  ties.quantize_inputs = true;  // maxpool windows with several equal maxima
  SECTION("one block per channel, one pass per grid") {
    check(graph, ties);
  }
  SECTION("channels split in chunks, grid-stride loops") {
    check(graph, split_everything(ties));
  }
  SECTION("other random inputs") {
    testing::EmulationOptions o;
    o.seed = 7;
    o.input_scale = 3.0f;
    check(graph, o);
  }
}
