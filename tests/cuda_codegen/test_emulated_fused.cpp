// The kernels of the kinds the optimization passes make, run under emulation against the
// reference executor: fused elementwise programs (maps over 4-d, 2-d and [1, O, K] spaces, on
// the scalar and the float4 path; per-channel reductions with several results, split in chunks
// or not) and the grouped updates (SGD, SGD with momentum, BatchNorm running statistics), on
// odd sizes (N = 3, C = 5, H = W = 7), with grid-stride loops that loop. Then what the emitted
// source must say: identical programs share a kernel, a group too large for one kernel's
// parameters is split, a view off 16 bytes gets no float4, a view kernel is refused.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>

#include "compiler/codegen/cuda/cuda_emitter.h"
#include "compiler/ir/builder.h"
#include "compiler/plan/kernel_plan.h"
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
  int32_t constant(double v) { return add({FusedOpcode::Const, 0, 0, v}); }
  int32_t op(FusedOpcode code, int32_t a, int32_t b = 0) { return add({code, a, b, 0}); }
  int32_t sum(int32_t a, int32_t b) { return op(FusedOpcode::Add, a, b); }
  int32_t sub(int32_t a, int32_t b) { return op(FusedOpcode::Sub, a, b); }
  int32_t mul(int32_t a, int32_t b) { return op(FusedOpcode::Mul, a, b); }
  int32_t rsqrt(int32_t a) { return op(FusedOpcode::Rsqrt, a); }

  ir::Attrs map(ir::Dims space, int32_t result) const { return attrs(std::move(space), {result}, false); }
  ir::Attrs reduce(ir::Dims space, std::vector<int32_t> results) const {
    return attrs(std::move(space), std::move(results), true);
  }

 private:
  int32_t add(ir::FusedInstr in) {
    p_.instrs.push_back(in);
    return static_cast<int32_t>(p_.instrs.size() - 1);
  }
  ir::Attrs attrs(ir::Dims space, std::vector<int32_t> results, bool reduce) const {
    ir::Attrs a;
    a.shape = std::move(space);
    a.program = p_;
    a.program.results = std::move(results);
    a.program.reduce = reduce;
    return a;
  }
  ir::FusedProgram p_;
};

ValueId input(ir::GraphBuilder& g, const std::string& name, ir::Dims shape) {
  return g.add_value(name, std::move(shape), ValueRole::Input);
}

// (x - mean) * rsqrt(var + eps) * weight + bias over inputs 0 (x) and 1, 2, 3 (stats, weight,
// bias): the register of the result.
int32_t bn_apply(Program& p, int32_t x) {
  const int32_t centered = p.sub(x, p.channel(1, 0));
  const int32_t invstd = p.rsqrt(p.sum(p.channel(1, 1), p.constant(1e-5)));
  return p.sum(p.mul(p.mul(centered, invstd), p.channel(2)), p.channel(3));
}

// BatchNorm training forward and backward as the fusion passes write them, on [3, 5, 7, 7]
// (735 elements: the scalar path) and [2, 6, 3, 6] (216: float4 vectors that cross channels).
void bn_programs(ir::GraphBuilder& g, const std::string& name, const ir::Dims& xs) {
  const int64_t c = xs[1];
  const ValueId x = input(g, name + ".x", xs);
  const ValueId stats = g.apply(OpKind::BnStats, name + ".stats", {x}, {}, {});
  const ValueId weight = g.add_value(name + ".weight", {c}, ValueRole::Parameter);
  const ValueId bias = g.add_value(name + ".bias", {c}, ValueRole::Parameter);
  const ValueId residual = input(g, name + ".residual", xs);

  // Forward: BN apply + the residual + ReLU.
  Program fwd;
  const int32_t y = fwd.sum(bn_apply(fwd, fwd.load(0)), fwd.load(4));
  const ValueId out = g.apply(OpKind::Fused, name + ".apply_add_relu", {x, stats, weight, bias, residual},
                              fwd.map(xs, fwd.op(FusedOpcode::Relu, y)), {});

  // Backward: the two sums of BatchNorm's gradients through the ReLU, then the input gradient
  // with four channel loads (mean, var, and the two sums) and the weight.
  const ValueId dy = input(g, name + ".dy", xs);
  Program sums;
  const int32_t masked = sums.op(FusedOpcode::ReluMask, sums.load(0), sums.load(1));
  const int32_t xhat = sums.mul(sums.sub(sums.load(2), sums.channel(3, 0)),
                                sums.rsqrt(sums.sum(sums.channel(3, 1), sums.constant(1e-5))));
  const ValueId reduced = g.apply(OpKind::Fused, name + ".grad_sums", {dy, out, x, stats},
                                  sums.reduce(xs, {sums.mul(masked, xhat), masked}), {});

  Program dx;
  const double inv_n = 1.0 / static_cast<double>(xs[0] * xs[2] * xs[3]);
  const int32_t g_ = dx.op(FusedOpcode::ReluMask, dx.load(0), dx.load(1));
  const int32_t invstd = dx.rsqrt(dx.sum(dx.channel(3, 1), dx.constant(1e-5)));
  const int32_t xh = dx.mul(dx.sub(dx.load(2), dx.channel(3, 0)), invstd);
  const int32_t mean_g = dx.mul(dx.channel(4, 1), dx.constant(inv_n));
  const int32_t mean_gx = dx.mul(dx.channel(4, 0), dx.constant(inv_n));
  const int32_t inner = dx.sub(dx.sub(g_, mean_g), dx.mul(xh, mean_gx));
  g.apply(OpKind::Fused, name + ".grad_input", {dy, out, x, stats, reduced, weight},
          dx.map(xs, dx.mul(dx.mul(invstd, dx.channel(5)), inner)), {});

  // The gradient of an add feeding a ReLU: (a + b) where y > 0.
  Program add;
  g.apply(OpKind::Fused, name + ".add_relu_mask", {dy, residual, out},
          add.map(xs, add.op(FusedOpcode::ReluMask, add.sum(add.load(0), add.load(1)), add.load(2))), {});
}

ir::Graph fused_zoo() {
  ir::GraphBuilder g("fused_zoo", {3, 5, 7, 7});
  bn_programs(g, "bn", {3, 5, 7, 7});
  bn_programs(g, "bn4", {2, 6, 3, 6});

  // A 2-d [N, C] space: a fully connected layer's bias, ReLU, the gradient mask; on 15 (scalar)
  // and 24 (float4) elements. And its bias gradient: a reduction over N.
  for (const ir::Dims& space : {ir::Dims{3, 5}, ir::Dims{4, 6}}) {
    const std::string name = fmt::format("fc{}", space[1]);
    const ValueId h = input(g, name + ".h", space);
    const ValueId b = g.add_value(name + ".bias", {space[1]}, ValueRole::Parameter);
    const ValueId mask = input(g, name + ".mask", space);
    Program p;
    const int32_t biased = p.op(FusedOpcode::Relu, p.sum(p.load(0), p.channel(1)));
    g.apply(OpKind::Fused, name + ".bias_relu", {h, b, mask},
            p.map(space, p.op(FusedOpcode::ReluMask, biased, p.load(2))), {});
    Program r;
    g.apply(OpKind::Fused, name + ".bias_grad", {h, mask},
            r.reduce(space, {r.op(FusedOpcode::ReluMask, r.load(0), r.load(1))}), {});
  }

  // A [1, O, K] space: BatchNorm folded into a convolution's weights [7, 3, 3, 3] (K = 27), and
  // the folded bias over [1, 7].
  {
    const ValueId w = g.add_value("fold.conv.weight", {7, 3, 3, 3}, ValueRole::Parameter);
    const ValueId gamma = g.add_value("fold.bn.weight", {7}, ValueRole::Parameter);
    const ValueId beta = g.add_value("fold.bn.bias", {7}, ValueRole::Parameter);
    const ValueId mean = g.add_value("fold.bn.running_mean", {7}, ValueRole::State);
    const ValueId var = g.add_value("fold.bn.running_var", {7}, ValueRole::State);  // positive
    Program p;
    const int32_t scale = p.mul(p.channel(1), p.rsqrt(p.sum(p.channel(2), p.constant(1e-5))));
    g.apply(OpKind::Fused, "fold.weight", {w, gamma, var}, p.map({1, 7, 27}, p.mul(p.load(0), scale)), {});
    Program b;
    const int32_t s = b.mul(b.channel(1), b.rsqrt(b.sum(b.channel(2), b.constant(1e-5))));
    g.apply(OpKind::Fused, "fold.bias", {beta, gamma, var, mean},
            b.map({1, 7}, b.sub(b.load(0), b.mul(b.channel(3), s))), {});
    // And a reduction over a [1, O, K] space: per output channel, the weights' sum and sum of squares.
    Program r;
    const int32_t x = r.load(0);
    g.apply(OpKind::Fused, "fold.weight_sums", {w}, r.reduce({1, 7, 27}, {x, r.mul(x, x)}), {});
  }

  // Every opcode, rows 0..2 of a [3, C] input, a constant result, a dead instruction and an input
  // nothing live reads; as a map and as a reduction with three results (one of them per channel
  // only, so hoisted out of the element loop).
  {
    const ir::Dims xs{3, 5, 7, 7};
    const ValueId a = input(g, "ops.a", xs);
    const ValueId b = input(g, "ops.b", {3, 5, 49});  // the same elements, another shape
    const ValueId rows = input(g, "ops.rows", {3, 5});
    const ValueId unused = input(g, "ops.unused", xs);
    auto program = [](Program& p) {
      const int32_t x = p.load(0), y = p.load(1);
      p.op(FusedOpcode::Relu, p.mul(x, y));  // dead
      const int32_t r0 = p.channel(2, 0), r1 = p.channel(2, 1), r2 = p.channel(2, 2);
      const int32_t positive = p.sum(p.mul(x, x), p.constant(0.5));
      const int32_t t = p.mul(p.rsqrt(positive), p.sub(y, r1));
      const int32_t u = p.op(FusedOpcode::ReluMask, p.sum(t, r0), p.sub(x, p.constant(-0.25)));
      const int32_t v = p.op(FusedOpcode::Relu, p.sub(u, p.mul(r2, p.constant(0.75))));
      return std::pair{v, p.mul(r2, p.sum(r1, p.constant(2.0)))};  // the second per channel only
    };
    Program m;
    g.apply(OpKind::Fused, "ops.map", {a, b, rows, unused}, m.map(xs, program(m).first), {});
    Program r;
    const auto [v, per_channel] = program(r);
    g.apply(OpKind::Fused, "ops.reduce", {a, b, rows, unused}, r.reduce(xs, {v, per_channel, v}), {});
    Program c;
    g.apply(OpKind::Fused, "ops.channel_only", {rows}, c.reduce({3, 5}, {c.mul(c.channel(0, 2), c.constant(3.0))}), {});
    Program k;
    g.apply(OpKind::Fused, "ops.constant", {a}, k.map(xs, k.constant(1.5)), {});
  }

  // The grouped updates, three members each: odd sizes, one a multiple of 4 (float4), one
  // longer than a block (several blocks per member), one BatchNorm member of 130 channels.
  const ValueId lr = input(g, "lr", {1});
  {
    std::vector<ValueId> in{lr};
    int i = 0;
    for (const ir::Dims& shape : {ir::Dims{3, 7}, ir::Dims{4, 5}, ir::Dims{601}}) {
      const std::string name = fmt::format("sgd{}", i++);
      in.push_back(g.add_value(name + ".param", shape, ValueRole::Parameter));
      in.push_back(input(g, name + ".grad", shape));
    }
    ir::Attrs a;
    a.weight_decay = 1e-2;
    g.apply(OpKind::SgdUpdateGroup, "sgd_group", in, a, {});
  }
  {
    std::vector<ValueId> in{lr};
    int i = 0;
    for (const ir::Dims& shape : {ir::Dims{7}, ir::Dims{5, 3, 3, 3}, ir::Dims{2, 300}}) {
      const std::string name = fmt::format("momentum{}", i++);
      in.push_back(g.add_value(name + ".param", shape, ValueRole::Parameter));
      in.push_back(input(g, name + ".grad", shape));
      in.push_back(g.add_value(name + ".velocity", shape, ValueRole::State));
    }
    ir::Attrs a;
    a.momentum = 0.9;
    a.weight_decay = 5e-4;
    g.apply(OpKind::SgdMomentumUpdateGroup, "momentum_group", in, a, {});
  }
  {
    std::vector<ValueId> in;
    ir::Attrs a;
    a.momentum = 0.1;
    int i = 0;
    for (auto [c, n] : {std::pair<int64_t, int64_t>{5, 147}, {3, 2}, {130, 9}}) {
      const std::string name = fmt::format("running{}", i++);
      in.push_back(g.add_value(name + ".running_mean", {c}, ValueRole::State));
      in.push_back(g.add_value(name + ".running_var", {c}, ValueRole::State));
      in.push_back(input(g, name + ".stats", {2, c}));
      a.counts.push_back(n);
    }
    g.apply(OpKind::BnRunningUpdateGroup, "running_group", in, a, {});
  }
  return std::move(g).finish(g.input());
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

TEST_CASE("emulated fused programs and update groups match the reference", "[cuda][emulation][fused]") {
  const ir::Graph graph = fused_zoo();
  SECTION("one block per channel, one pass per grid") {
    testing::check_emulated(graph, {});
  }
  SECTION("channels split in chunks, grid-stride loops") {
    testing::check_emulated(graph, testing::split_everything());
  }
  SECTION("two blocks per loop, other random inputs") {
    testing::EmulationOptions o;
    o.seed = 11;
    o.input_scale = 2.5f;
    o.cuda.grid_stride_blocks = 2;
    o.cuda.min_reduce_chunk = 40;
    testing::check_emulated(graph, o);
  }
}

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
  CHECK(count(src, "struct sgd_group_") == 1);
  CHECK(count(src, "struct sgd_momentum_group_") == 1);
  CHECK(count(src, "struct bn_running_update_group_") == 1);
  CHECK(count(src, "fused map over [2, 6, 3, 6]") == 3);
  CHECK(count(src, "elements, float4)") == 4);  // the [2, 6, 3, 6] maps and [4, 6]
  CHECK(src.find("= __ldg(in1 + C + c);") != std::string::npos);
  CHECK(src.find("__ldg(in2 + 2 * C + c)") != std::string::npos);
  // The dead instructions r2 and r3 are not emitted, nor ops.unused (input 3) passed.
  const std::string ops = kernel_of(src, "ops.map");
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
