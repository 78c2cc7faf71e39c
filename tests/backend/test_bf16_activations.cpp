// bf16 activations (ir::DType::BF16, plan::PlanOptions::bf16_activations) in the CPU's fused and
// channel-reduction kernels: a load from a bf16 buffer widens its bits exactly and a store
// rounds to nearest even, so a kernel on bf16 buffers gives exactly the bits of the float32
// kernel on the widened inputs, rounded at the output; and a plan whose intermediate activation
// is bf16 matches the reference executor rounding that value at its store.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "backends/cpu/cpu_program.h"
#include "compiler/codegen/llvm/kernel_emitter.h"
#include "backends/cpu/plan_runner.h"
#include "compiler/ir/builder.h"
#include "compiler/ir/program_builder.h"
#include "compiler/passes/pass.h"
#include "compiler/reference/bf16.h"
#include "compiler/reference/executor.h"
#include "tests/bf16_bounds.h"
#include "tests/backend/kernel_harness.h"
#include "tests/conformance/graphs.h"

using namespace resnetc;
namespace conformance = testing::conformance;
using ir::OpKind;

namespace {

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

uint16_t bf16_bits(float f) { return static_cast<uint16_t>(bits_of(static_cast<float>(reference::round_to_bf16(f))) >> 16); }

float widen(uint16_t bits) {
  const uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

bool widening_kind(OpKind kind) {
  return kind == OpKind::Fused || kind == OpKind::BnStats || kind == OpKind::BnGradWeight ||
         kind == OpKind::BnGradInput || kind == OpKind::BiasGrad;
}

// The buffers of the space's shape that only fused and channel-reduction kernels read or write,
// and that no kernel both writes and another reads (so the float32 plan needs no rounding in
// between): those become bf16.
std::set<int> bf16_candidates(const plan::KernelPlan& p) {
  const ir::Dims& space = p.buffer(p.input).shape;
  std::set<int> out, excluded;
  std::vector<bool> written(p.buffers.size()), read(p.buffers.size());
  for (const plan::Kernel& k : p.kernels) {
    std::vector<int> touched = k.inputs;
    if (k.output >= 0) touched.push_back(k.output), written[static_cast<size_t>(k.output)] = true;
    for (int in : k.inputs) read[static_cast<size_t>(in)] = true;
    for (int b : touched) (widening_kind(k.kind) ? out : excluded).insert(b);
  }
  std::set<int> chosen;
  for (int b : out) {
    const plan::Buffer& buffer = p.buffer(b);
    if (excluded.count(b) || buffer.shape != space || buffer.dtype != ir::DType::F32 ||
        buffer.storage == plan::Storage::Persistent || (written[static_cast<size_t>(b)] && read[static_cast<size_t>(b)]))
      continue;
    chosen.insert(b);
  }
  return chosen;
}

plan::KernelPlan with_bf16(plan::KernelPlan p, const std::set<int>& buffers) {
  for (int b : buffers) {
    plan::Buffer& buffer = p.buffers[static_cast<size_t>(b)];
    buffer.dtype = ir::DType::BF16;
    buffer.bytes = ir::numel(buffer.shape) * 2;  // its place keeps the float32 plan's bytes
  }
  return p;
}

uint16_t* bf16_data(cpu::PlanRunner& r, int buffer) { return reinterpret_cast<uint16_t*>(r.buffer(buffer).data()); }

// The graph's kernels with `bf16` buffers against the same kernels in float32 on the widened
// values: every float32 output bit for bit, every bf16 output the float32 result rounded.
// `vectorized`: the bf16 loads and stores are vector instructions too.
void check_bits(const ir::Graph& graph, size_t expected_bf16, bool vectorized = true) {
  const plan::KernelPlan fp32 = plan::make_plan(graph, {.reuse_memory = false});
  const std::set<int> chosen = bf16_candidates(fp32);
  REQUIRE(chosen.size() == expected_bf16);
  const plan::KernelPlan bf16 = with_bf16(fp32, chosen);
  if (vectorized)
    CHECK_THAT(codegen::llvm_backend::plan_llvm_ir(testing::test_jit(), bf16, cpu::ThreadPool::global()),
               Catch::Matchers::Contains(" x i16>"));
  cpu::PlanRunner a(fp32, codegen::llvm_backend::compile_plan(testing::test_jit(), fp32, cpu::ThreadPool::global()),
                    cpu::ThreadPool::global());
  cpu::PlanRunner b(bf16, codegen::llvm_backend::compile_plan(testing::test_jit(), bf16, cpu::ThreadPool::global()),
                    cpu::ThreadPool::global());
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> uniform(-2, 2);
  std::uniform_int_distribution<int> coin(0, 3);
  std::vector<bool> written(fp32.buffers.size());
  for (const plan::Kernel& k : fp32.kernels)
    if (k.output >= 0) written[static_cast<size_t>(k.output)] = true;
  for (size_t i = 0; i < fp32.buffers.size(); ++i) {
    if (written[i]) continue;
    const auto n = static_cast<size_t>(ir::numel(fp32.buffers[i].shape));
    for (size_t j = 0; j < n; ++j) {
      // Some exact ties (x.5 ulp of bf16), zeros and negatives among the values.
      float v = coin(rng) == 0 ? 0.0f : uniform(rng);
      if (fp32.buffers[i].shape.size() == 2 && fp32.buffers[i].shape[0] == 2 && j >= n / 2) v = std::abs(v) + 0.5f;  // variances
      if (chosen.count(static_cast<int>(i))) {
        const uint16_t h = bf16_bits(v);
        bf16_data(b, static_cast<int>(i))[j] = h;
        a.buffer(static_cast<int>(i))[j] = widen(h);
      } else {
        a.buffer(static_cast<int>(i))[j] = v;
        b.buffer(static_cast<int>(i))[j] = v;
      }
    }
  }
  a.run();
  b.run();
  for (const plan::Kernel& k : fp32.kernels) {
    const int o = k.output;
    if (o < 0) continue;  // the running statistics' update
    const auto n = static_cast<size_t>(ir::numel(fp32.buffer(o).shape));
    INFO(k.name << (chosen.count(o) ? " (bf16 output)" : ""));
    size_t differ = 0;
    for (size_t j = 0; j < n; ++j) {
      const float want = a.buffer(o)[j];
      if (chosen.count(o))
        differ += bf16_data(b, o)[j] != bf16_bits(want) && !std::isnan(want);
      else
        differ += bits_of(b.buffer(o)[j]) != bits_of(want);
    }
    CHECK(differ == 0);
  }
}

}  // namespace

TEST_CASE("fused maps and reductions on bf16 buffers give the float32 kernel's bits, rounded", "[backend][bf16]") {
  // Planes of 21 and 63 floats and rows of 5 and 7 channels: no vector width divides them.
  SECTION("map over planes, its input read by bn_stats too") {
    check_bits(conformance::fused_bn_apply_add_relu({3, 5, 7, 3}), 3);  // x, residual, the output
  }
  SECTION("map along rows") { check_bits(conformance::fused_rows({9, 7}, false), 2); }
  SECTION("reduction over planes") {
    ir::Graph graph = conformance::fused_bn_backward({3, 5, 7, 9}, true);
    passes::lower_maps(graph);  // its relu a fused map too
    check_bits(graph, 3);       // x, dy and the relu's input
  }
  SECTION("reduction down rows") { check_bits(conformance::fused_rows({9, 5}, true), 1, false); }
  SECTION("every opcode") {
    ir::Graph graph = conformance::fused_every_opcode({3, 5, 7, 3}, conformance::Use::Map);
    check_bits(graph, bf16_candidates(plan::make_plan(graph, {.reuse_memory = false})).size());
  }
}

TEST_CASE("channel reductions on bf16 buffers give the float32 kernel's bits, rounded", "[backend][bf16]") {
  // dy and bn_grad_input's output in bf16 (x stays float32: bn_apply reads it); bias_grad's input, planes of 81.
  check_bits(conformance::batchnorm_training({3, 5, 7, 3}), 2);
  check_bits(conformance::bias_grad({3, 5, 9, 9}), 1);
}

namespace {

ir::Attrs fused(const ir::Dims& space, ir::FusedProgram program) {
  ir::Attrs a;
  a.shape = space;
  a.program = std::move(program);
  return a;
}

// y = 0.7 x + sigmoid(x), read by bn_stats, a map normalizing it and a reduction of y * y.
ir::Graph bf16_between(const ir::Dims& xs) {
  ir::GraphBuilder g("between", xs);
  ir::ProgramBuilder fy;
  const int32_t x = fy.load(0);
  const int32_t scaled = fy.mul(x, fy.constant(0.7));
  const ir::ValueId y = g.apply(OpKind::Fused, "y", {g.input()}, fused(xs, std::move(fy).map(fy.add(scaled, fy.sigmoid(x)))), {});
  const ir::ValueId stats = g.apply(OpKind::BnStats, "y.stats", {y}, {}, {});
  ir::ProgramBuilder fz;
  const int32_t mean = fz.channel(1, 0);
  const int32_t invstd = fz.inverse_std(1, 1, 1e-5);
  const ir::ValueId z = g.apply(OpKind::Fused, "z", {y, stats}, fused(xs, std::move(fz).map(fz.normalized(fz.load(0), mean, invstd))), {});
  ir::ProgramBuilder fs;
  const int32_t v = fs.load(0);
  g.apply(OpKind::Fused, "squares", {y}, fused(xs, std::move(fs).reduce({fs.mul(v, v)})), {});
  return std::move(g).finish(z);
}

}  // namespace

TEST_CASE("a plan storing an activation in bf16 matches the reference rounding it at its store", "[backend][bf16]") {
  const ir::Graph graph = bf16_between({3, 5, 7, 3});
  const plan::KernelPlan fp32 = plan::make_plan(graph, {.reuse_memory = false});
  REQUIRE(fp32.kernels.size() == 4);
  // y, read by the three kernels after it, and z, which nothing reads.
  const std::set<int> chosen{fp32.kernels[0].output, fp32.kernels[2].output};
  const plan::KernelPlan p = with_bf16(fp32, chosen);
  cpu::PlanRunner run(p, codegen::llvm_backend::compile_plan(testing::test_jit(), p, cpu::ThreadPool::global()), cpu::ThreadPool::global());
  reference::Executor exact(graph), stored(graph);
  testing::store_as_planned(stored, p);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uniform(-2, 2);
  std::vector<double> images(static_cast<size_t>(ir::numel(p.buffer(p.input).shape)));
  for (size_t j = 0; j < images.size(); ++j) {
    images[j] = uniform(rng);
    run.buffer(p.input)[j] = static_cast<float>(images[j]);
  }
  exact.set(graph.input, images);
  stored.set(graph.input, images);
  run.run();
  exact.run();
  stored.run();
  for (const plan::Kernel& k : p.kernels) {
    const plan::Buffer& out = p.buffer(k.output);
    const std::vector<double>& want = stored.get(out.value);
    double worst_stored = 0, worst_exact = 0;
    for (size_t j = 0; j < want.size(); ++j) {
      const bool bf16 = out.dtype == ir::DType::BF16;
      const double got = bf16 ? widen(bf16_data(run, k.output)[j]) : run.buffer(k.output)[j];
      INFO(k.name << " element " << j << ": " << got << " vs " << want[j]);
      const double scale = 1 + std::abs(want[j]);
      // float32 arithmetic, whose result a bf16 store may round the other way than the
      // reference's; else float32's error over a short computation.
      REQUIRE(std::abs(got - want[j]) <= (bf16 ? 0x1p-8 : 1e-5) * scale);
      worst_stored = std::max(worst_stored, std::abs(got - want[j]) / scale);
      worst_exact = std::max(worst_exact, std::abs(got - exact.get(out.value)[j]) / scale);
    }
    // Every kernel from y on sees y's rounding: without it the reference is further off.
    INFO(k.name);
    CHECK(worst_exact > 8 * worst_stored);
  }
}
