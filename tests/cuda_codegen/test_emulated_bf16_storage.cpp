// bf16 activations in the CUDA kernels (plan buffers of dtype bf16, docs/precision.md), under
// emulation: a kernel reading a bf16 buffer must compute exactly what it computes on a float32
// buffer holding the widened values, and a kernel writing one must store its float32 result
// rounded to nearest even. The plans here are bf16 training plans whose activations are marked
// bf16 by hand (bf16_activations.h: where the kernels reading them take bf16, the convolutions'
// image operands and output gradients, fused kernels, channel reductions); each plan kernel runs on both plans in
// lockstep, the float32 plan's inputs copied from the bf16 plan's, and their results compared
// bit for bit. Shapes divide no tile and take both the float4 and the scalar elementwise loops.
#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "compiler/codegen/cuda/cuda_emitter.h"
#include "compiler/ir/builder.h"
#include "compiler/ir/ops.h"
#include "compiler/passes/pass.h"
#include "compiler/plan/kernel_plan.h"
#include "tests/cuda_codegen/bf16_activations.h"
#include "tests/cuda_codegen/emulation_test.h"
#include "tests/label_classes.h"
#include "tests/tiny_network.h"

using namespace resnetc;
using ir::OpKind;
using plan::Precision;

namespace {

// relu1 [3, 5, 9, 7] (945 elements: scalar loops) feeds a 3x3/2 conv with a bias; relu2
// [3, 6, 5, 4] (360: float4 loops) a 1x1 conv; relu3 the pooling, which keeps it float32.
constexpr const char* kNetwork = R"(
network bf16_storage {
  input 2x9x7
  stem { conv 5 k3 p1; bn; relu; conv 6 k3 stride=2 p1 bias; bn; relu; conv 7 k1; bn; relu }
  head { avgpool; fc 4 }
})";

// float32 -> bfloat16 bits, to nearest with ties to even, a NaN the quiet 0x7fc0.
uint16_t bf16_bits(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// How many kernels of `kind` read a bf16 buffer as input `input` (-1: as any input).
int reading(const plan::KernelPlan& plan, OpKind kind, int input = -1) {
  int n = 0;
  for (const plan::Kernel& k : plan.kernels) {
    bool bf16 = false;
    for (size_t i = 0; i < k.inputs.size(); ++i)
      bf16 = bf16 || ((input < 0 || static_cast<int>(i) == input) && plan.buffer(k.inputs[i]).dtype == ir::DType::BF16);
    n += k.kind == kind && bf16;
  }
  return n;
}

// The same random inputs, parameters and state in both plans' memory.
void fill_inputs(const ir::Graph& graph, const testing::EmulatedPlan& a, const testing::EmulatedPlan& b) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (size_t i = 0; i < a.plan().buffers.size(); ++i) {
    const plan::Buffer& buf = a.plan().buffers[i];
    if (buf.view_of >= 0 || buf.storage == plan::Storage::Arena) continue;
    const auto n = static_cast<size_t>(ir::numel(buf.shape));
    if (buf.dtype == ir::DType::I32) {
      auto* data = reinterpret_cast<int32_t*>(a.address(static_cast<int>(i)));
      const int64_t classes = testing::label_classes(graph, buf.value);
      for (size_t j = 0; j < n; ++j) data[j] = static_cast<int32_t>(rng() % static_cast<unsigned>(classes));
    } else {
      const bool positive = buf.name.ends_with("running_var") || buf.value == graph.learning_rate;
      const std::span<float> data = a.floats(static_cast<int>(i));
      for (float& v : data) v = positive ? std::abs(uniform(rng)) * 0.1f + 0.01f : uniform(rng);
    }
    std::memcpy(b.address(static_cast<int>(i)), a.address(static_cast<int>(i)), static_cast<size_t>(buf.bytes));
  }
}

// `narrow`'s buffer into `wide`'s float32 copy of it, widened where it is bf16.
void copy_widened(const testing::EmulatedPlan& narrow, const testing::EmulatedPlan& wide, int buffer) {
  const std::vector<float> values = narrow.values(buffer);
  std::memcpy(wide.address(buffer), values.data(), values.size() * 4);
}

// Whether `narrow`'s buffer holds exactly `wide`'s values (rounded to bf16 where it is bf16).
void check_same_bits(const testing::EmulatedPlan& narrow, const testing::EmulatedPlan& wide, int buffer,
                     const std::string& kernel) {
  const plan::Buffer& b = narrow.plan().buffer(buffer);
  const std::vector<float> want = wide.values(buffer);
  const bool bf16 = b.dtype == ir::DType::BF16;
  size_t differ = 0, first = 0;
  uint32_t got_bits = 0, want_bits = 0;
  for (size_t j = 0; j < want.size(); ++j) {
    uint32_t got = 0, expect = 0;
    if (bf16) {
      got = reinterpret_cast<const uint16_t*>(narrow.address(buffer))[j];
      expect = bf16_bits(want[j]);
    } else {
      std::memcpy(&got, narrow.address(buffer) + 4 * j, 4);
      expect = std::bit_cast<uint32_t>(want[j]);
    }
    if (got != expect && differ++ == 0) first = j, got_bits = got, want_bits = expect;
  }
  INFO(kernel << " -> " << b.name << (bf16 ? " (bf16)" : "") << ": " << differ << " elements differ, the first "
              << first << ": " << std::hex << got_bits << " instead of " << want_bits);
  CHECK(differ == 0);
}

// The training step of kNetwork after the passes of `level`, planned in bf16 without reuse, in
// lockstep with its bf16-activation copy.
void check_lockstep(int level, const codegen::cuda::CudaOptions& options) {
  ir::Graph graph = testing::tiny_training_graph({0.9, 5e-4}, 3, kNetwork);
  passes::PipelineOptions pipeline = passes::at_level(level);
  pipeline.precision = Precision::Bf16;
  passes::run_pipeline(graph, pipeline);
  const plan::KernelPlan wide_plan = plan::make_plan(graph, {.reuse_memory = false, .precision = Precision::Bf16});
  plan::KernelPlan narrow_plan = wide_plan;
  const std::vector<int> marked = testing::mark_bf16_activations(narrow_plan);
  INFO("level " << level << ", " << marked.size() << " bf16 activations");
  // What the plan's rule stores in bf16 is among them, so the lockstep covers every kernel a
  // bf16 run executes on bf16 buffers.
  const plan::KernelPlan ruled =
      plan::make_plan(graph, {.reuse_memory = false, .precision = Precision::Bf16, .bf16_activations = true});
  for (size_t b = 0; b < ruled.buffers.size(); ++b)
    if (ruled.buffers[b].dtype == ir::DType::BF16) {
      INFO(ruled.buffers[b].name);
      CHECK(std::find(marked.begin(), marked.end(), static_cast<int>(b)) != marked.end());
    }
  // Each kind of reader the rule names, and bf16 maps and channel-reduction maps writing them.
  CHECK(reading(narrow_plan, OpKind::Conv2d, 0) == 2);
  CHECK(reading(narrow_plan, OpKind::ConvGradInput, 0) == 2);
  CHECK(reading(narrow_plan, OpKind::ConvGradWeight, 0) == 3);
  CHECK(reading(narrow_plan, OpKind::ConvGradWeight, 1) == 2);
  CHECK(reading(narrow_plan, OpKind::BiasGrad) >= 1);
  CHECK(reading(narrow_plan, OpKind::Fused) >= 2);
  if (level < 2) {
    CHECK(reading(narrow_plan, OpKind::BnGradInput) >= 1);
    CHECK(reading(narrow_plan, OpKind::BnGradWeight) >= 1);
    int bn_grad_inputs = 0;
    for (const plan::Kernel& k : narrow_plan.kernels)
      bn_grad_inputs += k.kind == OpKind::BnGradInput && narrow_plan.buffer(k.output).dtype == ir::DType::BF16;
    CHECK(bn_grad_inputs == 3);
  }

  const testing::EmulatedPlan narrow(narrow_plan, options), wide(wide_plan, options);
  const std::string& src = narrow.program().source;
  CHECK(src.find("rc_bf16_round(") != std::string::npos);
  CHECK(src.find("const uint2 ") != std::string::npos);             // float4 loops' bf16 loads
  CHECK(src.find("reinterpret_cast<uint2*>(") != std::string::npos);  // and stores
  CHECK(src.find("rc_bf16_join(") != std::string::npos);             // mma operands from the bits
  CHECK(wide.program().source.find("rc_bf16_") == std::string::npos);
  fill_inputs(graph, narrow, wide);
  for (size_t k = 0; k < narrow_plan.kernels.size(); ++k) {
    const plan::Kernel& kernel = narrow_plan.kernels[k];
    for (int in : kernel.inputs) copy_widened(narrow, wide, in);
    narrow.run_kernel(static_cast<int>(k));
    wide.run_kernel(static_cast<int>(k));
    for (int in : kernel.inputs) check_same_bits(narrow, wide, in, kernel.name);  // updates write their inputs
    if (kernel.output >= 0) check_same_bits(narrow, wide, kernel.output, kernel.name);
    if (kernel.epilogue_stats >= 0) check_same_bits(narrow, wide, kernel.epilogue_stats, kernel.name);
  }
  for (size_t i = 0; i < narrow_plan.buffers.size(); ++i) CHECK(narrow.canary_intact(static_cast<int>(i)));
  CHECK(narrow.workspace_intact());
}

}  // namespace

TEST_CASE("kernels on bf16 activations give the float32 kernels' bits on the widened values",
          "[cuda][emulation][bf16]") {
  const codegen::cuda::CudaOptions bf16 = codegen::cuda::options_for_precision(Precision::Bf16);
  SECTION("-O1: bn_grad_input kernels, separate maps and reductions") { check_lockstep(1, bf16); }
  SECTION("-O1, K split, reductions in chunks, grid-stride loops") {
    check_lockstep(1, testing::split_everything({.cuda = bf16}).cuda);
  }
  SECTION("-O2: fused BatchNorm programs") { check_lockstep(2, bf16); }
  SECTION("-O2, K split, reductions in chunks, grid-stride loops") {
    check_lockstep(2, testing::split_everything({.cuda = bf16}).cuda);
  }
}

TEST_CASE("a bf16 store rounds to nearest even, keeps denormals and quiets NaNs", "[cuda][emulation][bf16]") {
  // y = x, a fused map, on 120 elements (float4 loops) and on 105 (scalar).
  const std::vector<std::pair<uint32_t, uint16_t>> cases = {
      {0x3f800000u, 0x3f80},  // 1
      {0x3f808000u, 0x3f80},  // 1 + 2^-8: a tie, to the even 1
      {0x3f818000u, 0x3f82},  // 1 + 3 * 2^-8: a tie, to the even above
      {0x3f808001u, 0x3f81},  // past the tie
      {0xbf80ffffu, 0xbf81},  // negative, rounded in magnitude
      {0x80000000u, 0x8000},  // -0
      {0x00018000u, 0x0002},  // a denormal tie, kept
      {0x00008001u, 0x0001},  // a denormal past half
      {0x7f7fffffu, 0x7f80},  // the largest float rounds to infinity
      {0xff800000u, 0xff80},  // -inf
      {0x7fa00001u, 0x7fc0},  // NaNs: the quiet 0x7fc0
      {0xffc00001u, 0x7fc0},
  };
  for (const ir::Dims& shape : {ir::Dims{2, 3, 4, 5}, ir::Dims{1, 3, 5, 7}}) {
    ir::GraphBuilder g("round", shape);
    ir::Attrs copy;
    copy.shape = shape;
    copy.program.instrs = {{ir::FusedOpcode::Load, 0, 0, 0}};
    copy.program.results = {0};
    const ir::ValueId y = g.apply(OpKind::Fused, "y", {g.input()}, copy, {});
    plan::KernelPlan plan = plan::make_plan(std::move(g).finish(y), {.reuse_memory = false});
    testing::mark_bf16(plan, plan.kernels.at(0).output);
    const testing::EmulatedPlan emulated(plan, {});
    const std::span<float> x = emulated.floats(plan.kernels[0].inputs[0]);
    std::vector<uint16_t> want(x.size());
    std::mt19937 rng(3);
    for (size_t j = 0; j < x.size(); ++j) {
      const uint32_t bits = j < cases.size() ? cases[j].first : static_cast<uint32_t>(rng());
      x[j] = std::bit_cast<float>(bits);
      want[j] = j < cases.size() ? cases[j].second : bf16_bits(x[j]);
    }
    emulated.run();
    const auto* got = reinterpret_cast<const uint16_t*>(emulated.address(plan.kernels[0].output));
    INFO(ir::format_dims(shape) << ", " << emulated.program().kernels.at(0).text);
    for (size_t j = 0; j < x.size(); ++j) {
      INFO("element " << j << ": " << std::hex << std::bit_cast<uint32_t>(x[j]));
      CHECK(got[j] == want[j]);
    }
    CHECK(emulated.canary_intact(plan.kernels[0].output));
  }
}

TEST_CASE("a bf16 buffer passed to a kernel that reads float32 is refused", "[cuda][bf16]") {
  ir::Graph graph = testing::tiny_training_graph({}, 3, kNetwork);
  passes::run_pipeline(graph, passes::at_level(1));
  plan::KernelPlan plan = plan::make_plan(graph, {.precision = Precision::Bf16});
  const std::string source = codegen::cuda::emit_cuda(plan).source;
  CHECK(source.find("unsigned short") == std::string::npos);  // no bf16 buffer, no bf16 text
  for (const plan::Kernel& k : plan.kernels)
    if (k.kind == OpKind::GlobalAvgPool) testing::mark_bf16(plan, k.inputs.at(0));  // relu3, which pooling reads
  CHECK_THROWS_WITH(codegen::cuda::emit_cuda(plan),
                    Catch::Contains("head.avgpool") && Catch::Contains("as const float*"));
}
