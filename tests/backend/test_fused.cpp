// Fused elementwise programs (the fusion pass's maps and per-channel reductions) on the CPU
// backend against the reference executor: the programs the passes make (BatchNorm apply with
// a residual add and relu, BatchNorm backward's reductions and input gradient, a BatchNorm
// folded into convolution weights), every opcode, channel-uniform chains, 2-d, 3-d and 4-d
// spaces of odd sizes, inline and on the thread pool.
#include <catch2/catch.hpp>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "backends/cpu/cpu_program.h"
#include "compiler/codegen/llvm/kernel_emitter.h"
#include "compiler/ir/builder.h"
#include "tests/backend/check_reference.h"

using namespace resnetc;
using testing::check;
using ir::FusedOpcode;
using ir::OpKind;
using ir::ValueRole;

namespace {

// Appends instructions to a program; each call returns the register it defines.
struct Program {
  ir::FusedProgram p;
  int32_t emit(FusedOpcode code, int32_t a = 0, int32_t b = 0, double value = 0) {
    p.instrs.push_back({code, a, b, value});
    return static_cast<int32_t>(p.instrs.size() - 1);
  }
  int32_t load(int32_t input) { return emit(FusedOpcode::Load, input); }
  int32_t channel(int32_t input, int32_t row = 0) { return emit(FusedOpcode::LoadChannel, input, row); }
  int32_t constant(double v) { return emit(FusedOpcode::Const, 0, 0, v); }
  int32_t add(int32_t a, int32_t b) { return emit(FusedOpcode::Add, a, b); }
  int32_t sub(int32_t a, int32_t b) { return emit(FusedOpcode::Sub, a, b); }
  int32_t mul(int32_t a, int32_t b) { return emit(FusedOpcode::Mul, a, b); }
  int32_t relu(int32_t a) { return emit(FusedOpcode::Relu, a); }
  int32_t relu_mask(int32_t a, int32_t b) { return emit(FusedOpcode::ReluMask, a, b); }
  int32_t rsqrt(int32_t a) { return emit(FusedOpcode::Rsqrt, a); }
  // (x - mean) * rsqrt(var + eps), mean and var rows 0 and 1 of `stats`.
  int32_t normalize(int32_t x, int32_t stats, double eps = 1e-5) {
    return mul(sub(x, channel(stats, 0)), rsqrt(add(channel(stats, 1), constant(eps))));
  }
};

ir::Attrs fused_attrs(const ir::Dims& space, ir::FusedProgram program, std::vector<int32_t> results, bool reduce) {
  ir::Attrs a;
  a.shape = space;
  a.program = std::move(program);
  a.program.results = std::move(results);
  a.program.reduce = reduce;
  return a;
}

// y = relu((x - mean) * rsqrt(var + eps) * weight + bias + residual), the statistics from bn_stats.
ir::Graph bn_apply_add_relu(const ir::Dims& shape) {
  const ir::Dims channel{shape[1]};
  ir::GraphBuilder b("bn_add_relu", shape);
  ir::ValueId stats = b.apply(OpKind::BnStats, "bn.stats", {b.input()}, {}, {});
  ir::ValueId weight = b.add_value("bn.weight", channel, ValueRole::Parameter);
  ir::ValueId bias = b.add_value("bn.bias", channel, ValueRole::Parameter);
  ir::ValueId residual = b.add_value("residual", shape, ValueRole::Input);
  Program p;
  int32_t y = p.add(p.mul(p.normalize(p.load(0), 1), p.channel(2)), p.channel(3));
  y = p.relu(p.add(y, p.load(4)));
  ir::ValueId out = b.apply(OpKind::Fused, "bn.apply_add_relu", {b.input(), stats, weight, bias, residual},
                            fused_attrs(shape, p.p, {y}, false), {});
  return std::move(b).finish(out);
}

// BatchNorm backward through a relu, g = relu_mask(dy, y), y a relu's output (exact zeros). The
// reduction [2, C] of
//   sum(g * (x - mean) * rsqrt(var + eps)) and sum(g),
// or the input gradient map with four channel loads:
//   dx = a * g + slope * (x - mean) + shift, (a, slope, shift) rows of coef [3, C].
ir::Graph bn_backward(const ir::Dims& shape, bool reduce) {
  ir::GraphBuilder b("bn_backward", shape);
  ir::ValueId stats = b.apply(OpKind::BnStats, "bn.stats", {b.input()}, {}, {});
  ir::ValueId dy = b.add_value("dy", shape, ValueRole::Input);
  ir::ValueId y = b.apply(OpKind::Relu, "relu", {b.add_value("z", shape, ValueRole::Input)}, {}, {});
  ir::ValueId coef = b.add_value("coef", {3, shape[1]}, ValueRole::Input);
  Program p;
  int32_t g = p.relu_mask(p.load(1), p.load(2));
  ir::ValueId out = ir::kNoValue;
  if (reduce) {
    int32_t xhat_g = p.mul(g, p.normalize(p.load(0), 3));
    out = b.apply(OpKind::Fused, "bn.grad_sums", {b.input(), dy, y, stats}, fused_attrs(shape, p.p, {xhat_g, g}, true),
                  {});
  } else {
    int32_t dx = p.add(p.mul(p.channel(4, 0), g), p.mul(p.channel(4, 1), p.sub(p.load(0), p.channel(3, 0))));
    dx = p.add(dx, p.channel(4, 2));
    out = b.apply(OpKind::Fused, "bn.grad_input", {b.input(), dy, y, stats, coef},
                  fused_attrs(shape, p.p, {dx}, false), {});
  }
  return std::move(b).finish(out);
}

// A BatchNorm folded into a convolution's weights [O, I, kh, kw], over the space [1, O, I*kh*kw]:
//   w' = w * (gamma * rsqrt(running_var + eps)).
ir::Graph fold_into_weights(const ir::Dims& weight_shape) {
  const int64_t o = weight_shape[0];
  const ir::Dims space{1, o, ir::numel(weight_shape) / o};
  ir::GraphBuilder b("fold", weight_shape);
  ir::ValueId gamma = b.add_value("bn.weight", {o}, ValueRole::Parameter);
  ir::ValueId var = b.add_value("bn.running_var", {o}, ValueRole::State);
  Program p;
  int32_t scale = p.mul(p.channel(1), p.rsqrt(p.add(p.channel(2), p.constant(1e-3))));
  int32_t w = p.mul(p.load(0), scale);
  ir::ValueId out =
      b.apply(OpKind::Fused, "conv.fold_bn", {b.input(), gamma, var}, fused_attrs(space, p.p, {w}, false), {});
  return std::move(b).finish(out);
}

// A 2-d [N, C] space: the map relu(x * w + rows[1]) or the reduction of (x * w, relu_mask(x, x - rows[0])).
ir::Graph rows_program(const ir::Dims& shape, bool reduce) {
  ir::GraphBuilder b("rows", shape);
  ir::ValueId w = b.add_value("w", {shape[1]}, ValueRole::Parameter);
  ir::ValueId rows = b.add_value("rows", {2, shape[1]}, ValueRole::Parameter);
  Program p;
  int32_t x = p.load(0);
  int32_t xw = p.mul(x, p.channel(1));
  std::vector<int32_t> results{p.relu(p.add(xw, p.channel(2, 1)))};
  if (reduce) results = {xw, p.relu_mask(x, p.sub(x, p.channel(2, 0)))};
  ir::ValueId out = b.apply(OpKind::Fused, reduce ? "reduce" : "map", {b.input(), w, rows},
                            fused_attrs(shape, p.p, results, reduce), {});
  return std::move(b).finish(out);
}

// How every_opcode's program is used.
enum class Use {
  Map,        // a map
  Reduce,     // a reduction whose results include channel-uniform registers (one: the count of the
              // channel's elements) and a Load
  Broadcast,  // a map whose result depends on the channel only
};

// Every opcode: the element's registers (in float), the channel's (in double).
ir::Graph every_opcode(const ir::Dims& shape, Use use) {
  const ir::Dims channel{shape[1]};
  ir::GraphBuilder b("opcodes", shape);
  ir::ValueId u = b.add_value("u", shape, ValueRole::Input);
  ir::ValueId v = b.add_value("v", channel, ValueRole::Parameter);
  ir::ValueId rows = b.add_value("rows", {3, shape[1]}, ValueRole::Parameter);
  Program p;
  int32_t x = p.load(0);
  // The channel-uniform chain: relu(v) - relu_mask(rows[2], v) + rsqrt(rows[0]^2 + 0.25) * 1.5
  int32_t cv = p.channel(2);
  int32_t r0 = p.channel(3, 0);
  int32_t uniform = p.sub(p.relu(cv), p.relu_mask(p.channel(3, 2), cv));
  uniform = p.add(uniform, p.mul(p.rsqrt(p.add(p.mul(r0, r0), p.constant(0.25))), p.constant(1.5)));
  // The element's: rsqrt(x^2 + 0.5) * uniform + relu_mask(u, relu(x)) - relu(x - rows[1]), the
  // mask's zeros exact ones as a relu's output has.
  int32_t e = p.mul(p.rsqrt(p.add(p.mul(x, x), p.constant(0.5))), uniform);
  e = p.add(e, p.relu_mask(p.load(1), p.relu(x)));
  e = p.sub(e, p.relu(p.sub(x, p.channel(3, 1))));
  ir::Attrs a = fused_attrs(shape, p.p, {e}, false);
  if (use == Use::Reduce) a = fused_attrs(shape, p.p, {e, p.constant(1), uniform, x}, true);
  if (use == Use::Broadcast) a = fused_attrs(shape, p.p, {uniform}, false);
  ir::ValueId out = b.apply(OpKind::Fused, "fused", {b.input(), u, v, rows}, a, {});
  return std::move(b).finish(out);
}

// A fused map reading a view that starts one element into its source: the kernel must not
// assume the view is 64-byte aligned.
ir::Graph unaligned_view(const ir::Dims& shape) {
  ir::GraphBuilder b("view", shape);
  Program relu;
  relu.relu(relu.load(0));
  ir::ValueId y = b.apply(OpKind::Fused, "relu", {b.input()}, fused_attrs(shape, relu.p, {1}, false), {});
  ir::Attrs view;
  view.shape = shape;
  view.shape[0] -= 1;
  view.offset = 1;
  ir::ValueId tail = b.apply(OpKind::View, "tail", {y}, view, {});
  Program twice;
  int32_t z = twice.mul(twice.load(0), twice.constant(2));
  ir::ValueId out = b.apply(OpKind::Fused, "twice", {tail}, fused_attrs(view.shape, twice.p, {z}, false), {});
  return std::move(b).finish(out);
}

std::string widest_float_vector(codegen::llvm_backend::Jit& jit) {
  return jit.has_feature("avx512f") ? "<16 x float>" : jit.has_feature("avx") ? "<8 x float>" : "<4 x float>";
}

}  // namespace

TEST_CASE("backend fused BatchNorm apply + add + relu matches the reference") {
  SECTION("odd sizes, inline") { check(bn_apply_add_relu({3, 5, 7, 7})); }
  SECTION("large, on the thread pool") { check(bn_apply_add_relu({3, 6, 41, 37})); }
  SECTION("1x1 planes") { check(bn_apply_add_relu({7, 5, 1, 1})); }
}

TEST_CASE("backend fused BatchNorm backward matches the reference") {
  for (bool reduce : {true, false}) {
    const char* what = reduce ? "the reduction" : "the input gradient";
    DYNAMIC_SECTION(what << ", odd sizes, inline") { check(bn_backward({3, 5, 7, 7}, reduce)); }
    DYNAMIC_SECTION(what << ", large, on the thread pool") { check(bn_backward({4, 6, 41, 37}, reduce)); }
    DYNAMIC_SECTION(what << ", 1x1 planes") { check(bn_backward({9, 5, 1, 1}, reduce)); }
  }
}

TEST_CASE("backend fused map over [1, O, K] folds BatchNorm into weights") {
  SECTION("odd sizes") { check(fold_into_weights({5, 3, 3, 3})); }
  SECTION("large, on the thread pool") { check(fold_into_weights({67, 33, 3, 3})); }
}

TEST_CASE("backend fused programs over [N, C] match the reference") {
  for (bool reduce : {false, true}) {
    const char* what = reduce ? "reduce" : "map";
    DYNAMIC_SECTION(what << ", odd sizes, inline") { check(rows_program({3, 5}, reduce)); }
    DYNAMIC_SECTION(what << ", large, on the thread pool") { check(rows_program({601, 37}, reduce)); }
  }
}

TEST_CASE("backend fused programs use every opcode") {
  for (Use use : {Use::Map, Use::Reduce, Use::Broadcast}) {
    const char* what = use == Use::Map ? "map" : use == Use::Reduce ? "reduce" : "broadcast";
    DYNAMIC_SECTION(what << ", odd sizes, inline") { check(every_opcode({3, 5, 7, 7}, use)); }
    DYNAMIC_SECTION(what << ", large, on the thread pool") { check(every_opcode({3, 7, 33, 29}, use)); }
    DYNAMIC_SECTION(what << ", 2-d") { check(every_opcode({11, 13}, use)); }
    DYNAMIC_SECTION(what << ", 3-d") { check(every_opcode({1, 9, 31}, use)); }
  }
}

TEST_CASE("backend fused map reads an unaligned view") {
  check(unaligned_view({3, 5, 7, 7}));
  // The kernel reading the view promises only the view's 4-byte alignment, not 64.
  plan::KernelPlan plan = plan::make_plan(unaligned_view({3, 5, 7, 7}));
  REQUIRE(plan.kernels.size() == 2);
  llvm::LLVMContext context;
  llvm::Module module("view", context);
  codegen::llvm_backend::emit_kernel(module, plan, 1, "twice");
  CHECK(module.getFunction("twice")->getParamAlign(0).valueOrOne().value() == 4);
  CHECK(module.getFunction("twice")->getParamAlign(1).valueOrOne().value() == 64);
}

TEST_CASE("backend fused kernels are vectorized, the channel's registers hoisted") {
  codegen::llvm_backend::Jit jit;
  for (bool reduce : {false, true}) {
    const ir::Graph graph = reduce ? bn_backward({4, 6, 41, 37}, true) : bn_apply_add_relu({3, 6, 41, 37});
    const std::string ir = codegen::llvm_backend::plan_llvm_ir(jit, plan::make_plan(graph));
    CHECK_THAT(ir, Catch::Matchers::Contains(widest_float_vector(jit)));
    // 1/sqrt(var + eps) once per plane or channel, in double; never per element.
    CHECK_THAT(ir, Catch::Matchers::Contains("@llvm.sqrt.f64"));
    CHECK_THAT(ir, !Catch::Matchers::Contains("@llvm.sqrt.v"));
    CHECK_THAT(ir, !Catch::Matchers::Contains("@llvm.sqrt.f32"));
  }
}

TEST_CASE("backend refuses to emit a view as a kernel") {
  ir::Graph graph = unaligned_view({3, 5, 7, 7});
  plan::KernelPlan plan = plan::make_plan(graph);
  const ir::Op& view = graph.ops.at(1);
  REQUIRE(view.kind == OpKind::View);
  plan::Kernel kernel;
  kernel.name = view.name;
  kernel.kind = view.kind;
  kernel.inputs = {view.inputs[0]};
  kernel.output = view.output;
  plan.kernels.push_back(kernel);
  llvm::LLVMContext context;
  llvm::Module module("view", context);
  CHECK_THROWS_AS(codegen::llvm_backend::emit_kernel(module, plan, plan.kernels.size() - 1, "view"), std::logic_error);
}
