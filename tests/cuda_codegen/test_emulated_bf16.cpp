// The CUDA emitter's bf16 GEMMs (plan::Precision::Bf16: mma.sync.m16n8k16 on bfloat16 operands,
// docs/precision.md) under emulation, each kernel kind against the reference executor in double
// at the bounds the CPU's bf16 kernels meet (tests/bf16_bounds.h), element by element. Shapes
// divide no tile and reach every tile shape (128x16, 16x64, 32x64, 64x64, and 128x64 when the
// blocks need not fill a GPU), each also with K split.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tests/bf16_bounds.h"
#include "tests/conformance/graphs.h"
#include "tests/conv_case.h"
#include "tests/cuda_codegen/emulation_test.h"

using namespace resnetc;
using testing::square_conv;
namespace conformance = testing::conformance;

namespace {

// The graph's one contraction, with reduction length K, in bf16 against the two bounds; the
// number of kernel launches it took (two when K is split: the GEMM and the sum of the splits).
size_t check_bounds(const ir::Graph& graph, int64_t K, const codegen::cuda::CudaOptions& options) {
  const testing::EmulatedPlan emulated(
      plan::make_plan(graph, {.reuse_memory = false, .precision = plan::Precision::Bf16}), options);
  REQUIRE(emulated.program().source.find("rc_mma_bf16(") != std::string::npos);
  testing::check_bf16_bounds(
      graph, emulated.plan(), K,
      {[&](int buffer, std::span<const float> values) { std::ranges::copy(values, emulated.floats(buffer).begin()); },
       [&] { emulated.run(); },
       [&](int buffer) {
         const std::span<float> data = emulated.floats(buffer);
         return std::vector<float>(data.begin(), data.end());
       }});
  for (size_t i = 0; i < emulated.plan().buffers.size(); ++i) CHECK(emulated.canary_intact(static_cast<int>(i)));
  CHECK(emulated.workspace_intact());
  return emulated.program().launches.size();
}

// The tiles chosen for the shapes, 128x64 tiles wherever M and N allow, and K split.
void check(const ir::Graph& graph, int64_t K) {
  const testing::EmulationOptions plain;  // bf16 takes the tensor cores whatever the TF32 options say
  SECTION("the tiles chosen for the shapes") { check_bounds(graph, K, plain.cuda); }
  SECTION("128x64 tiles") { check_bounds(graph, K, testing::big_tiles().cuda); }
  SECTION("K split") { check_bounds(graph, K, testing::split_everything().cuda); }
}

// A weight gradient, whose K is the batch's pixels: whole (128x64 tiles, one block fills the
// GPU) and split K ways.
void check_weight_gradient(const ir::Graph& graph, int64_t K) {
  const testing::EmulationOptions plain;
  SECTION("the tiles chosen for the shapes") { check_bounds(graph, K, plain.cuda); }
  SECTION("128x64 tiles, K whole") { CHECK(check_bounds(graph, K, testing::big_tiles().cuda) == 1); }
  SECTION("K split") { CHECK(check_bounds(graph, K, testing::split_everything().cuda) == 2); }
}

}  // namespace

TEST_CASE("emulated bf16 mma.sync GEMMs match the reference at bf16's bound", "[cuda][emulation][bf16]") {
  // M = N*OH*OW, N = output channels per group, K = CG*KH*KW.
  SECTION("conv2d 3x3 stride 2, bias, odd K (128x16 tiles)") {
    check(conformance::conv_forward(square_conv({3, 5, 9, 9}, 13, 3, 2, 1, 1, true)), 45);
  }
  SECTION("conv2d grouped") { check(conformance::conv_forward(square_conv({2, 8, 7, 7}, 12, 3, 1, 1, 2)), 36); }
  SECTION("conv2d 1x1 stride 2 (32x64 tiles)") {
    check(conformance::conv_forward(square_conv({2, 24, 8, 8}, 40, 1, 2, 0)), 24);
  }
  SECTION("conv2d 7x7 stride 2") { check(conformance::conv_forward(square_conv({2, 3, 19, 19}, 9, 7, 2, 3)), 147); }
  SECTION("conv2d 15 rows (16x64 tiles)") {
    check(conformance::conv_forward(square_conv({1, 6, 3, 5}, 20, 3, 1, 1)), 54);
  }
  SECTION("conv2d 243 rows, 70 columns (64x64 tiles)") {
    check(conformance::conv_forward(square_conv({3, 5, 9, 9}, 70, 3, 1, 1, 1, true)), 45);
  }
  SECTION("conv2d_grad_input stride 2") {
    check(conformance::conv_grad_input(square_conv({3, 5, 9, 9}, 13, 3, 2, 1)), 117);
  }
  SECTION("conv2d_grad_input grouped") {
    check(conformance::conv_grad_input(square_conv({2, 8, 7, 7}, 12, 3, 1, 1, 2)), 54);
  }
  SECTION("conv2d_grad_input 40 columns") {
    check(conformance::conv_grad_input(square_conv({2, 40, 7, 7}, 24, 3, 1, 1)), 216);
  }
  SECTION("conv2d with BatchNorm statistics in its epilogue") {
    check(conformance::conv_stats(square_conv({3, 5, 9, 9}, 13, 3, 2, 1, 1, true)), 45);
  }
  // M = output channels per group, N = CG*KH*KW, K = N*OH*OW.
  SECTION("conv2d_grad_weight 3x3 stride 2 (16x64 tiles)") {
    check_weight_gradient(conformance::conv_grad_weight(square_conv({3, 5, 9, 9}, 13, 3, 2, 1)), 75);
  }
  SECTION("conv2d_grad_weight grouped") {
    check_weight_gradient(conformance::conv_grad_weight(square_conv({2, 8, 7, 7}, 12, 3, 1, 1, 2)), 98);
  }
  SECTION("conv2d_grad_weight 24 rows (32x64 tiles)") {
    check_weight_gradient(conformance::conv_grad_weight(square_conv({2, 40, 7, 7}, 24, 3, 1, 1)), 98);
  }
  SECTION("conv2d_grad_weight 1x1 stride 2 (128x16 tiles)") {
    check_weight_gradient(conformance::conv_grad_weight(square_conv({2, 12, 9, 9}, 130, 1, 2, 0)), 50);
  }
  SECTION("conv2d_grad_weight 70 rows (64x64 tiles)") {
    check_weight_gradient(conformance::conv_grad_weight(square_conv({3, 5, 9, 9}, 70, 3, 1, 1)), 243);
  }
  SECTION("conv2d_grad_weight 7x7 stride 2") {
    check_weight_gradient(conformance::conv_grad_weight(square_conv({2, 3, 19, 19}, 9, 7, 2, 3)), 200);
  }
  SECTION("linear with bias") { check(conformance::linear_forward(11, 37, 19, true), 37); }
  SECTION("linear 40 rows") { check(conformance::linear_forward(40, 50, 30, false), 50); }
  SECTION("linear_grad_input") { check(conformance::linear_grad_input(11, 37, 19), 19); }
  SECTION("linear_grad_weight") { check(conformance::linear_grad_weight(11, 37, 19), 11); }
}

TEST_CASE("a bf16 plan's CUDA program puts every convolution GEMM on bf16 mma.sync", "[cuda][emulation][bf16]") {
  const ir::Graph graph = conformance::conv_all(square_conv({2, 3, 6, 6}, 4, 3, 1, 1));
  const plan::KernelPlan bf = plan::make_plan(graph, {.precision = plan::Precision::Bf16});
  const codegen::cuda::CudaProgram program = codegen::cuda::emit_cuda(bf);
  CHECK(codegen::cuda::emit_cuda(plan::make_plan(graph)).source.find("bf16") == std::string::npos);
  CHECK(program.source.find("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32") != std::string::npos);
  CHECK(program.source.find("cvt.rn.bf16x2.f32") != std::string::npos);
  int weight_gradients = 0;
  for (size_t k = 0; k < bf.kernels.size(); ++k) {
    bool bf16_mma = false;
    for (const codegen::cuda::CudaLaunch& l : program.launches)
      if (l.plan_kernel == static_cast<int>(k))
        for (const codegen::cuda::CudaKernelText& t : program.kernels)
          bf16_mma = bf16_mma || (t.name == l.kernel && t.text.find("rc_mma_bf16(") != std::string::npos);
    INFO(bf.kernels[k].name);
    CHECK(bf16_mma == (bf.kernels[k].operands == plan::Precision::Bf16));
    if (bf.kernels[k].kind == ir::OpKind::ConvGradWeight) {
      ++weight_gradients;
      CHECK(bf16_mma);
    }
  }
  CHECK(weight_gradients == 1);
}

TEST_CASE("a bf16 plan of a convolution's forward and gradients matches the reference under emulation",
          "[cuda][emulation][bf16]") {
  // Three bf16 GEMMs, relative to each value's largest element.
  testing::EmulationOptions o;
  o.precision = plan::Precision::Bf16;
  o.tolerance = 2e-2;
  testing::check_emulated(conformance::conv_all(square_conv({3, 5, 9, 9}, 13, 3, 2, 1, 1, true)), o);
}
