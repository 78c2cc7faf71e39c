// Activations stored in bf16 (ir::DType::BF16 plan buffers) as the CPU backend's bf16
// contractions read them: a kernel whose activation operands (conv2d's and linear's x, the input
// gradients' dy, conv2d_grad_weight's dy and x) are BF16 buffers holding round_to_bf16(v) must
// give exactly the bits the same kernel gives on float32 buffers holding v, since the kernel
// rounds its float32 operands to those same bf16 values. Run on every formulation
// (RESNETC_CONV_PATH: AMX tiles where the host has them, direct, im2col; for the weight
// gradients direct and im2col mean the float32 kernel on rounded operands), on shapes that
// divide no tile, strided, grouped (a group's operand at an odd element), few input channels
// (the taps joining k on AMX) and small maps (AMX's gathered copies). linear_grad_weight, float32
// in every precision, reads bf16-stored dy and x too: there against float32 buffers of the
// rounded values. The plan is made as usual
// and its operand buffers marked BF16 here: which buffers a training plan stores in bf16 is the
// plan's rule, not this test's.
#include <catch2/catch.hpp>

#include <llvm/ADT/StringMap.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/Host.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "backends/cpu/cpu_precision.h"
#include "backends/cpu/cpu_program.h"
#include "backends/cpu/plan_runner.h"
#include "compiler/codegen/llvm/kernel_emitter.h"
#include "tests/backend/kernel_harness.h"
#include "tests/conformance/graphs.h"
#include "tests/conv_case.h"

using namespace resnetc;
using testing::square_conv;
namespace conformance = testing::conformance;

namespace {

// Whether the plan's one kernel runs on AMX tiles when emitted with AMX allowed: its image
// operand's planes (*.amxb) or the weight gradient's dy pairs (*.dybf) are packed by functions
// of their own.
bool emits_amx(const plan::KernelPlan& plan) {
  llvm::LLVMContext context;
  llvm::Module module("amx", context);
  codegen::llvm_backend::emit_kernel(module, plan, 0, "k", {});
  return std::any_of(module.begin(), module.end(), [](const llvm::Function& f) {
    return f.getName().contains(".amxb") || f.getName().contains(".dybf");
  });
}

// Round to nearest, ties to even (c10::BFloat16; the inputs here are finite).
uint16_t bf16_bits(float v) {
  const auto u = std::bit_cast<uint32_t>(v);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// The inputs of kernel `k` that are activations, read in bf16 under bf16 operands (and by
// linear_grad_weight, float32 in every precision, wherever they are stored in bf16).
std::vector<size_t> activation_operands(const plan::Kernel& k) {
  switch (k.kind) {
    case ir::OpKind::Conv2d:
    case ir::OpKind::Linear:
    case ir::OpKind::ConvGradInput:
    case ir::OpKind::LinearGradInput: return {0};
    case ir::OpKind::ConvGradWeight:
    case ir::OpKind::LinearGradWeight: return {0, 1};
    default: break;
  }
  FAIL("not a bf16 contraction: " << k.name);
  return {};
}

// Every float32 buffer a run writes, as bits.
struct Result {
  std::vector<std::vector<uint32_t>> buffers;
};

// Runs the plan's one kernel on `path` with the inputs `values` (by buffer; BF16 buffers get
// the bits of their values rounded), returning what it wrote.
Result run(const plan::KernelPlan& plan, const char* path, const std::vector<std::vector<float>>& values) {
  setenv("RESNETC_CONV_PATH", path, 1);
  cpu::PlanRunner runner(plan, codegen::llvm_backend::compile_plan(testing::test_jit(), plan, cpu::ThreadPool::global()),
                         cpu::ThreadPool::global());
  unsetenv("RESNETC_CONV_PATH");
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const plan::Buffer& b = plan.buffers[i];
    if (b.storage == plan::Storage::Arena || b.view_of >= 0) continue;
    const std::span<float> to = runner.buffer(static_cast<int>(i));
    if (b.dtype == ir::DType::BF16) {
      auto* bits = reinterpret_cast<uint16_t*>(to.data());
      for (size_t j = 0; j < values[i].size(); ++j) bits[j] = bf16_bits(values[i][j]);
    } else {
      std::memcpy(to.data(), values[i].data(), values[i].size() * sizeof(float));
    }
  }
  runner.poison_arena();
  runner.run();
  Result r;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const plan::Buffer& b = plan.buffers[i];
    if (b.storage == plan::Storage::Input || b.dtype != ir::DType::F32) continue;
    const std::span<float> from = runner.buffer(static_cast<int>(i));
    std::vector<uint32_t> bits(from.size());
    std::memcpy(bits.data(), from.data(), from.size() * sizeof(float));
    r.buffers.push_back(std::move(bits));
  }
  return r;
}

// The graph's one bf16 contraction on float32 operand buffers against the same kernel on BF16
// ones, on every formulation; `amx`: a shape AMX tiles must take where the host has them.
void check(const ir::Graph& graph, bool amx = false) {
  const plan::KernelPlan f32 = plan::make_plan(graph, {.reuse_memory = false, .precision = plan::Precision::Bf16});
  REQUIRE(f32.kernels.size() == 1);
  // A kernel on float32 operands computes on them as they are: its float32 buffers get the
  // rounded values, which is what the BF16 buffers hold.
  const bool rounds = f32.kernels[0].operands == plan::Precision::Bf16;
  REQUIRE((rounds || f32.kernels[0].kind == ir::OpKind::LinearGradWeight));
  plan::KernelPlan bf16 = f32;
  for (size_t i : activation_operands(f32.kernels[0])) {
    plan::Buffer& b = bf16.buffers[static_cast<size_t>(f32.kernels[0].inputs[i])];
    b.dtype = ir::DType::BF16;
    b.bytes = ir::numel(b.shape) * ir::dtype_bytes(ir::DType::BF16);
  }
  if (amx && testing::host_has_amx()) REQUIRE(emits_amx(bf16));
  // Uniform values, every other one an exact tie between two bfloat16 values (so the kernel's
  // own rounding must be to nearest even to meet the stored bits).
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<std::vector<float>> values(f32.buffers.size());
  for (size_t i = 0; i < f32.buffers.size(); ++i) {
    values[i].resize(static_cast<size_t>(ir::numel(f32.buffers[i].shape)));
    for (size_t j = 0; j < values[i].size(); ++j) {
      float v = uniform(rng);
      if (j % 2) v = std::bit_cast<float>((std::bit_cast<uint32_t>(v) & 0xffff0000u) | 0x8000u);
      values[i][j] = v;
    }
  }
  std::vector<std::vector<float>> f32_values = values;
  if (!rounds)
    for (size_t i : activation_operands(f32.kernels[0]))
      for (float& v : f32_values[static_cast<size_t>(f32.kernels[0].inputs[i])])
        v = std::bit_cast<float>(static_cast<uint32_t>(bf16_bits(v)) << 16);
  for (const char* path : {"amx", "direct", "im2col"}) {
    INFO("RESNETC_CONV_PATH=" << path);
    const Result want = run(f32, path, f32_values);
    const Result got = run(bf16, path, values);
    REQUIRE(got.buffers.size() == want.buffers.size());
    for (size_t i = 0; i < want.buffers.size(); ++i) {
      size_t differ = 0;
      for (size_t j = 0; j < want.buffers[i].size(); ++j) differ += got.buffers[i][j] != want.buffers[i][j];
      INFO("result " << i << ": " << differ << " of " << want.buffers[i].size() << " elements differ");
      CHECK(differ == 0);
    }
  }
}

}  // namespace

TEST_CASE("bf16 contractions read activations stored in bf16 as their float32 values rounded", "[backend][bf16]") {
  if (!testing::host_has_bf16()) {
    WARN("not run: this CPU lacks avx512_bf16");
    return;
  }
  // No tile divides these; strided; grouped with 3 channels of 7x7 per group (group 1 starts at
  // an odd element); a bias and epilogue statistics.
  SECTION("conv2d 3x3 stride 2, bias, odd K") { check(conformance::conv_forward(square_conv({3, 5, 9, 9}, 13, 3, 2, 1, 1, true))); }
  SECTION("conv2d grouped, odd group offset") { check(conformance::conv_forward(square_conv({2, 6, 7, 7}, 12, 3, 1, 1, 2))); }
  SECTION("conv2d with statistics") { check(conformance::conv_stats(square_conv({3, 5, 9, 9}, 13, 3, 1, 1, 1, true))); }
  SECTION("conv2d_grad_input stride 2") { check(conformance::conv_grad_input(square_conv({3, 5, 9, 9}, 13, 3, 2, 1))); }
  SECTION("conv2d_grad_input grouped") { check(conformance::conv_grad_input(square_conv({2, 6, 7, 7}, 10, 3, 1, 1, 2))); }
  // Shapes the AMX tiles take: planes at stride 1 and per phase at stride 2, few input channels
  // (taps joined into k), small maps (gathered per tap), input gradients.
  SECTION("conv2d 3x3 on 32-row tiles, kc in no whole block") { check(conformance::conv_forward(square_conv({3, 37, 9, 7}, 32, 3, 1, 1)), true); }
  SECTION("conv2d 3x3 stride 2 on 32-row tiles") { check(conformance::conv_forward(square_conv({3, 19, 11, 11}, 32, 3, 2, 1)), true); }
  SECTION("conv2d 1x1 stride 2 on 32-row tiles") { check(conformance::conv_forward(square_conv({3, 33, 9, 9}, 32, 1, 2, 0)), true); }
  SECTION("conv2d 7x7 stride 2 from 3 channels (a stem)") { check(conformance::conv_forward(square_conv({3, 3, 17, 15}, 64, 7, 2, 3)), true); }
  SECTION("conv2d 3x3 on 3x3 maps, batch 3") { check(conformance::conv_forward(square_conv({3, 33, 3, 3}, 32, 3, 1, 1)), true); }
  SECTION("conv2d 3x3 stride 2 from 6x5 to 3x3 maps") {
    check(conformance::conv_forward(testing::ConvCase{{5, 33, 6, 5}, 32, 3, 3, 2, 2, 1, 1}), true);
  }
  SECTION("conv2d_grad_input 3x3 stride 2 on 32-row tiles") { check(conformance::conv_grad_input(square_conv({3, 32, 9, 9}, 37, 3, 2, 1)), true); }
  SECTION("conv2d_grad_input 3x3 on 3x3 maps") { check(conformance::conv_grad_input(square_conv({3, 32, 3, 3}, 33, 3, 1, 1)), true); }
  // Weight gradients: AMX planes (stride 1 and 2), gathered taps (3x3 maps), and the float32
  // kernel on rounded operands (few channels, groups; x read in place by a 1x1, padded by a 3x3).
  SECTION("conv2d_grad_weight 3x3 stride 1") { check(conformance::conv_grad_weight(square_conv({3, 19, 9, 7}, 21, 3, 1, 1)), true); }
  SECTION("conv2d_grad_weight 3x3 stride 2") { check(conformance::conv_grad_weight(square_conv({3, 17, 13, 11}, 19, 3, 2, 1)), true); }
  SECTION("conv2d_grad_weight 1x1 stride 2") { check(conformance::conv_grad_weight(square_conv({3, 33, 9, 11}, 17, 1, 2, 0)), true); }
  SECTION("conv2d_grad_weight 3x3 maps, gathered taps") { check(conformance::conv_grad_weight(square_conv({3, 17, 5, 5}, 19, 3, 2, 1)), true); }
  SECTION("conv2d_grad_weight few channels") { check(conformance::conv_grad_weight(square_conv({3, 5, 9, 9}, 13, 3, 2, 1))); }
  SECTION("conv2d_grad_weight grouped") { check(conformance::conv_grad_weight(square_conv({2, 6, 7, 7}, 12, 3, 1, 1, 2))); }
  SECTION("conv2d_grad_weight 1x1 few channels") { check(conformance::conv_grad_weight(square_conv({3, 5, 7, 9}, 7, 1, 1, 0))); }
  SECTION("linear with bias") { check(conformance::linear_forward(11, 37, 19, true)); }
  SECTION("linear_grad_input") { check(conformance::linear_grad_input(11, 37, 19)); }
  SECTION("linear_grad_weight, float32 operands") { check(conformance::linear_grad_weight(11, 37, 19)); }
}
