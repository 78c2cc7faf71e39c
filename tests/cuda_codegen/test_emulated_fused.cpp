// The kernels of the kinds the optimization passes make, in the CUDA emitter: identical
// programs share a kernel, a group too large for one kernel's parameters is split (and still
// matches the reference under emulation), a view off 16 bytes gets no float4, a view kernel and
// a program with too many inputs are refused. (Every fused program's and update group's results
// under emulation: tests/conformance.)
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>

#include "compiler/codegen/cuda/cuda_emitter.h"
#include "compiler/ir/builder.h"
#include "compiler/plan/kernel_plan.h"
#include "tests/conformance/graphs.h"
#include "tests/conformance/merge.h"
#include "tests/cuda_codegen/emulation_test.h"

using namespace resnetc;
using ir::FusedOpcode;
using ir::OpKind;
using ir::ValueId;
using ir::ValueRole;

namespace {

// Writes a program instruction by instruction; each call returns its register.
class Program {
 public:
  int32_t load(int32_t input) { return add({FusedOpcode::Load, input, 0, 0}); }
  int32_t channel(int32_t input, int32_t row = 0) { return add({FusedOpcode::LoadChannel, input, row, 0}); }
  int32_t op(FusedOpcode code, int32_t a, int32_t b = 0) { return add({code, a, b, 0}); }
  int32_t sum(int32_t a, int32_t b) { return op(FusedOpcode::Add, a, b); }

  ir::Attrs map(ir::Dims space, int32_t result) const {
    ir::Attrs a;
    a.shape = std::move(space);
    a.program = p_;
    a.program.results = {result};
    return a;
  }

 private:
  int32_t add(ir::FusedInstr in) {
    p_.instrs.push_back(in);
    return static_cast<int32_t>(p_.instrs.size() - 1);
  }
  ir::FusedProgram p_;
};

ValueId input(ir::GraphBuilder& g, const std::string& name, ir::Dims shape) {
  return g.add_value(name, std::move(shape), ValueRole::Input);
}

// The fused programs and update groups of the conformance cases, side by side in one program.
ir::Graph fused_zoo() {
  using namespace testing::conformance;
  return merge({fused_bn_training({3, 5, 7, 7}), fused_bn_training({2, 6, 3, 6}), fused_bias_relu({3, 5}),
                fused_bias_relu({4, 6}), fused_fold({7, 3, 3, 3}), fused_dead_code(),
                sgd_group({{3, 7}, {4, 5}, {601}}, 0, 1e-2), sgd_group({{7}, {5, 3, 3, 3}, {2, 300}}, 0.9, 5e-4),
                running_group({5, 3, 130}, {147, 2, 9}, 0.1)});
}

// A momentum group of 200 members (601 pointers with the learning rate): more than one kernel's
// parameters hold.
ir::Graph big_group() {
  ir::GraphBuilder g("big_group", {1, 1});
  std::vector<ValueId> in{input(g, "lr", {1})};
  for (int i = 0; i < 200; ++i) {
    const std::string name = fmt::format("p{}", i);
    const ir::Dims shape{1 + i % 9};
    in.push_back(g.add_value(name, shape, ValueRole::Parameter));
    in.push_back(input(g, name + ".grad", shape));
    in.push_back(g.add_value(name + ".velocity", shape, ValueRole::State));
  }
  ir::Attrs a;
  a.momentum = 0.9;
  a.weight_decay = 1e-4;
  g.apply(OpKind::SgdMomentumUpdateGroup, "group", in, a, {});
  return std::move(g).finish(g.input());
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The emitted text of the kernel plan kernel `name` runs: from its comment to its entry point.
std::string kernel_of(const std::string& source, const std::string& name) {
  const size_t used = source.find("// Used by " + name);
  REQUIRE(used != std::string::npos);
  return source.substr(used, source.find("\n#ifdef", used) - used);
}

}  // namespace

TEST_CASE("an update group beyond the kernel parameter limit is split into launches", "[cuda][emulation][fused]") {
  const ir::Graph graph = big_group();
  const codegen::cuda::CudaProgram program = codegen::cuda::emit_cuda(plan::make_plan(graph));
  REQUIRE(program.launches.size() == 2);
  CHECK(program.launches[0].buffers.size() == 511);  // lr and 170 members
  CHECK(program.launches[1].buffers.size() == 91);   // lr and 30 members
  CHECK(program.launches[0].grid[0] == 170);
  testing::check_emulated(graph, {});
  testing::check_emulated(graph, testing::split_everything());
}

TEST_CASE("the fused kernels' source: shared kernels, float4, channel loads", "[cuda][fused]") {
  const ir::Graph graph = fused_zoo();
  const codegen::cuda::CudaProgram program = codegen::cuda::emit_cuda(plan::make_plan(graph));
  const std::string& src = program.source;
  // One launch per map, one per unsplit reduction, one per group; each kernel its own text.
  CHECK(count(src, "struct fused_map_") == 12);
  CHECK(count(src, "struct fused_reduce_") == 7);
  CHECK(count(src, "struct sgd_update_group_") == 1);
  CHECK(count(src, "struct sgd_momentum_update_group_") == 1);
  CHECK(count(src, "struct bn_running_update_group_") == 1);
  CHECK(count(src, "fused map over [2, 6, 3, 6]") == 3);
  CHECK(count(src, "elements, float4)") == 4);  // the [2, 6, 3, 6] maps and [4, 6]
  CHECK(src.find("= __ldg(in1 + C + c);") != std::string::npos);
  CHECK(src.find("__ldg(in2 + 2 * C + c)") != std::string::npos);
  // The dead instructions r2 and r3 are not emitted, nor ops.unused (input 3) passed.
  const std::string ops = kernel_of(src, "g5.ops.map");
  CHECK(ops.find("const float r1 = in1_v;") != std::string::npos);
  CHECK(ops.find("const float r2 ") == std::string::npos);
  CHECK(ops.find("const float r3 ") == std::string::npos);
  CHECK(ops.find("in3") == std::string::npos);
  CHECK(src.find("template <class T>\nstatic inline T __ldg") != std::string::npos);

  // The same program over the same shapes is one kernel, launched twice.
  ir::GraphBuilder g("twice", {2, 3, 5, 5});
  Program p;
  const ir::Attrs relu = p.map({2, 3, 5, 5}, p.op(FusedOpcode::Relu, p.sum(p.load(0), p.channel(1))));
  const ValueId b = g.add_value("b", {3}, ValueRole::Parameter);
  g.apply(OpKind::Fused, "first", {g.input(), b}, relu, {});
  g.apply(OpKind::Fused, "second", {input(g, "other", {2, 3, 5, 5}), b}, relu, {});
  const ir::Graph twice = std::move(g).finish(g.input());
  const codegen::cuda::CudaProgram shared = codegen::cuda::emit_cuda(plan::make_plan(twice));
  CHECK(shared.launches.size() == 2);
  CHECK(shared.unique_kernels == 1);
  testing::check_emulated(twice, {});
}

TEST_CASE("a view off 16 bytes is read without float4; a view kernel is refused", "[cuda][fused]") {
  ir::GraphBuilder g("views", {2, 3, 4, 4});
  ir::Attrs view;
  view.shape = {2, 3, 2, 4};
  view.offset = 1;  // 4 bytes into the input
  const ValueId v = g.apply(OpKind::View, "view", {g.input()}, view, {});
  Program p;
  g.apply(OpKind::Fused, "relu", {v}, p.map({2, 3, 2, 4}, p.op(FusedOpcode::Relu, p.load(0))), {});
  view.offset = 4;  // 16 bytes in
  const ValueId w = g.apply(OpKind::View, "view4", {g.input()}, view, {});
  Program q;
  g.apply(OpKind::Fused, "relu4", {w}, q.map({2, 3, 2, 4}, q.op(FusedOpcode::Relu, q.load(0))), {});
  const ir::Graph graph = std::move(g).finish(g.input());
  plan::KernelPlan plan = plan::make_plan(graph);
  const codegen::cuda::CudaProgram program = codegen::cuda::emit_cuda(plan);
  REQUIRE(program.unique_kernels == 2);
  CHECK(count(program.source, "(48 elements, float4)") == 1);
  CHECK(count(program.source, "(48 elements)") == 1);

  plan.kernels.push_back(plan.kernels.front());
  plan.kernels.back().kind = OpKind::View;
  CHECK_THROWS_AS(codegen::cuda::emit_cuda(plan), std::invalid_argument);
}

TEST_CASE("a fused program with more inputs than a kernel takes is refused", "[cuda][fused]") {
  ir::GraphBuilder g("wide", {2, 3});
  std::vector<ValueId> in;
  Program p;
  int32_t acc = -1;
  for (int i = 0; i < 520; ++i) {
    in.push_back(input(g, fmt::format("x{}", i), {2, 3}));
    const int32_t r = p.load(i);
    acc = acc < 0 ? r : p.sum(acc, r);
  }
  g.apply(OpKind::Fused, "sum", in, p.map({2, 3}, acc), {});
  const ir::Graph graph = std::move(g).finish(g.input());
  CHECK_THROWS_AS(codegen::cuda::emit_cuda(plan::make_plan(graph)), std::invalid_argument);
}
