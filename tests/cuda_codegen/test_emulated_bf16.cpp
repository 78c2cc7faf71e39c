// The CUDA emitter's bf16 GEMMs (plan::Precision::Bf16: mma.sync.m16n8k16 on bfloat16 operands,
// docs/precision.md) under emulation, each kernel kind against the reference executor in double
// at the bound the CPU's bf16 kernels meet (tests/backend/test_bf16.cpp), element by element:
//  * against the exact result of the operands rounded to bfloat16 here (to nearest, ties to
//    even), where only float32 accumulation separates them: |y - ref(bf16(a), bf16(b))| <=
//    (K + 2) 2^-23 S;
//  * against the exact result of the float32 operands: |y - ref(a, b)| <= (2^-8 + (K + 2) 2^-23) S,
// with S = Σ_k |a_k| |b_k| (+ |bias|), K the reduction length. Half the operands are exact ties
// between two bfloat16 values, so any rounding but ties to even breaks the first bound. Shapes
// divide no tile and reach every tile shape (128x16, 16x64, 32x64, 64x64, and 128x64 when the
// blocks need not fill a GPU), each also with K split.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "compiler/reference/executor.h"
#include "tests/conformance/graphs.h"
#include "tests/conv_case.h"
#include "tests/cuda_codegen/emulation_test.h"

using namespace resnetc;
using testing::square_conv;
namespace conformance = testing::conformance;

namespace {

double bf16(double x) {  // float(x) rounded to the nearest bfloat16, ties to even
  const float f = static_cast<float>(x);
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits = (bits + 0x7fff + ((bits >> 16) & 1)) & 0xffff0000u;
  float r;
  std::memcpy(&r, &bits, 4);
  return r;
}

// The graph's one contraction, with reduction length K, in bf16 against the two bounds.
void check_bounds(const ir::Graph& graph, int64_t K, const codegen::cuda::CudaOptions& options) {
  const testing::EmulatedPlan emulated(
      plan::make_plan(graph, {.reuse_memory = false, .precision = plan::Precision::Bf16}), options);
  const plan::KernelPlan& plan = emulated.plan();
  REQUIRE(plan.kernels.size() == 1);
  const plan::Kernel& kernel = plan.kernels[0];
  REQUIRE(kernel.operands == plan::Precision::Bf16);
  REQUIRE(emulated.program().source.find("rc_mma_bf16(") != std::string::npos);
  reference::Executor exact(graph), rounded(graph), magnitude(graph);
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> uniform(-1, 1);
  std::uniform_int_distribution<int> mantissa(0, 127), exponent(-3, 0), coin(0, 1);
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    if (plan.buffers[i].storage == plan::Storage::Arena) continue;
    const bool operand = static_cast<int>(i) == kernel.inputs[0] || static_cast<int>(i) == kernel.inputs[1];
    const std::span<float> data = emulated.floats(static_cast<int>(i));
    std::vector<double> values(data.size()), bf(data.size()), abs(data.size());
    for (size_t j = 0; j < values.size(); ++j) {
      // A tie: 1 + (2m + 1) 2^-8 lies halfway between two bfloat16 values.
      const double tie = std::ldexp(1 + (2 * mantissa(rng) + 1) / 256.0, exponent(rng)) * (coin(rng) ? 1 : -1);
      data[j] = static_cast<float>(coin(rng) ? tie : uniform(rng));
      values[j] = data[j];
      bf[j] = operand ? bf16(values[j]) : values[j];
      abs[j] = std::abs(values[j]);
    }
    exact.set(plan.buffers[i].value, values);
    rounded.set(plan.buffers[i].value, bf);
    magnitude.set(plan.buffers[i].value, abs);
  }
  emulated.run();
  exact.run();
  rounded.run();
  magnitude.run();
  for (size_t i = 0; i < plan.buffers.size(); ++i) CHECK(emulated.canary_intact(static_cast<int>(i)));
  CHECK(emulated.workspace_intact());
  const ir::ValueId out = plan.buffer(kernel.output).value;
  const std::span<float> y = emulated.floats(kernel.output);
  const double accumulation = static_cast<double>(K + 2) * std::ldexp(1.0, -23);
  double worst_rounded = 0, worst_exact = 0;
  for (size_t j = 0; j < y.size(); ++j) {
    const double s = magnitude.get(out)[j];
    const double e_rounded = std::abs(y[j] - rounded.get(out)[j]), e_exact = std::abs(y[j] - exact.get(out)[j]);
    INFO(kernel.name << " element " << j << ": " << y[j] << " vs " << rounded.get(out)[j] << " (bf16 operands), "
                     << exact.get(out)[j] << " (exact), S = " << s);
    REQUIRE(e_rounded <= accumulation * s);  // also false for a NaN: every element written
    REQUIRE(e_exact <= (std::ldexp(1.0, -8) + accumulation) * s);
    worst_rounded = std::max(worst_rounded, e_rounded / s);
    worst_exact = std::max(worst_exact, e_exact / s);
  }
  // The operands were rounded: float32 operands would be as close to the exact result as to
  // the rounded one's accumulation error.
  CHECK(worst_exact > 16 * worst_rounded);
  if (kernel.epilogue_stats < 0) return;
  // BatchNorm statistics from the epilogue (or the split-K sum): those of the stored output.
  const ir::Dims& shape = plan.buffer(kernel.output).shape;
  const int64_t N = shape[0], C = shape[1], HW = shape[2] * shape[3];
  const std::span<float> stats = emulated.floats(kernel.epilogue_stats);
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0, squares = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const double v = y[static_cast<size_t>((n * C + c) * HW + i)];
        sum += v;
        squares += v * v;
      }
    const double mean = sum / static_cast<double>(N * HW), var = squares / static_cast<double>(N * HW) - mean * mean;
    INFO("channel " << c);
    CHECK(stats[static_cast<size_t>(c)] == Approx(mean).margin(1e-5));
    CHECK(stats[static_cast<size_t>(C + c)] == Approx(var).epsilon(1e-4));
  }
}

// The tiles chosen for the shapes, 128x64 tiles wherever M and N allow, and K split.
void check(const ir::Graph& graph, int64_t K) {
  const testing::EmulationOptions plain;  // bf16 takes the tensor cores whatever the TF32 options say
  SECTION("the tiles chosen for the shapes") { check_bounds(graph, K, plain.cuda); }
  SECTION("128x64 tiles") { check_bounds(graph, K, testing::big_tiles().cuda); }
  SECTION("K split") { check_bounds(graph, K, testing::split_everything().cuda); }
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
  SECTION("linear with bias") { check(conformance::linear_forward(11, 37, 19, true), 37); }
  SECTION("linear 40 rows") { check(conformance::linear_forward(40, 50, 30, false), 50); }
  SECTION("linear_grad_input") { check(conformance::linear_grad_input(11, 37, 19), 19); }
}

TEST_CASE("a bf16 plan's CUDA program puts only the forward and data-gradient GEMMs on bf16 mma.sync",
          "[cuda][emulation][bf16]") {
  const ir::Graph graph = conformance::conv_all(square_conv({2, 3, 6, 6}, 4, 3, 1, 1));
  const plan::KernelPlan bf = plan::make_plan(graph, {.precision = plan::Precision::Bf16});
  const codegen::cuda::CudaProgram program = codegen::cuda::emit_cuda(bf);
  CHECK(codegen::cuda::emit_cuda(plan::make_plan(graph)).source.find("bf16") == std::string::npos);
  CHECK(program.source.find("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32") != std::string::npos);
  CHECK(program.source.find("cvt.rn.bf16x2.f32") != std::string::npos);
  for (size_t k = 0; k < bf.kernels.size(); ++k) {
    bool bf16_mma = false;
    for (const codegen::cuda::CudaLaunch& l : program.launches)
      if (l.plan_kernel == static_cast<int>(k))
        for (const codegen::cuda::CudaKernelText& t : program.kernels)
          bf16_mma = bf16_mma || (t.name == l.kernel && t.text.find("rc_mma_bf16(") != std::string::npos);
    INFO(bf.kernels[k].name);
    CHECK(bf16_mma == (bf.kernels[k].operands == plan::Precision::Bf16));
  }
}

TEST_CASE("a bf16 plan of a convolution's forward and gradients matches the reference under emulation",
          "[cuda][emulation][bf16]") {
  // The bf16 GEMMs beside the float32 weight gradient, relative to each value's largest element.
  testing::EmulationOptions o;
  o.precision = plan::Precision::Bf16;
  o.tolerance = 2e-2;
  testing::check_emulated(conformance::conv_all(square_conv({3, 5, 9, 9}, 13, 3, 2, 1, 1, true)), o);
}
