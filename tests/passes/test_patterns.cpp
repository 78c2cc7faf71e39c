// What each pass rewrites and what it deliberately leaves alone, read from the IR's text form
// (compiler/ir/printer.h), and the kernel count the pipeline reaches on the seed's ResNet-18.
#include <catch2/catch.hpp>

#include "compiler/ir/builder.h"
#include "compiler/ir/parser.h"
#include "compiler/ir/printer.h"
#include "compiler/passes/pass.h"
#include "compiler/plan/kernel_plan.h"
#include "pass_test_util.h"

using namespace resnetc;
using namespace resnetc::passes;
using namespace resnetc::passes::testing;
using Catch::Contains;

namespace {

ir::Graph optimized(ir::Graph g, int level) {
  run_pipeline(g, at_level(level));
  return g;
}

// The printed line that defines %name.
std::string line_of(const std::string& ir_text, const std::string& name) {
  const std::string start = "  %" + name + " = ";
  const size_t at = ir_text.find(start);
  if (at == std::string::npos) return {};
  return ir_text.substr(at, ir_text.find('\n', at) - at);
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("fold-batchnorm: a conv with one reader takes its BatchNorm into its weights") {
  const std::string text = ir::print_ir(optimized(forward_graph(kResidualNet, 2), 1));
  CHECK(occurrences(text, "batchnorm(") == 0);
  CHECK_THAT(line_of(text, "stem.conv"),
             Contains("conv2d(%input, %stem.conv.folded_weight.view, %stem.conv.folded_bias.view)"));
  CHECK_THAT(line_of(text, "stem.conv.folded_weight"), Contains("fused(%stem.conv.weight, %stem.bn.weight, %stem.bn.running_var)"));
  CHECK_THAT(line_of(text, "stem.conv.folded_weight.view"), Contains("view(%stem.conv.folded_weight) {shape=[6, 3, 3, 3]}"));
}

TEST_CASE("fold-batchnorm leaves alone a conv whose output has two readers") {
  const std::string text = ir::print_ir(optimized(forward_graph(kTwoUserConvNet, 2), 1));
  CHECK_THAT(line_of(text, "stage1.block0.bn"), Contains("batchnorm(%stem.conv, "));
  CHECK(occurrences(text, "folded") == 0);
}

TEST_CASE("BatchNorm in training mode is never folded into weights") {
  const ir::Graph g = optimized(training_graph(kResidualNet, 2), 2);
  const std::string text = ir::print_ir(g);
  CHECK(occurrences(text, "folded") == 0);
  CHECK(count_ops(g, ir::OpKind::BnStats) == count_ops(training_graph(kResidualNet, 2), ir::OpKind::BnStats));
}

TEST_CASE("fuse-elementwise: BatchNorm apply, the residual add and relu in one op") {
  const std::string text = ir::print_ir(optimized(training_graph(kResidualNet, 2), 2));
  // d2l's residual: relu(bn2(conv2(...)) + x), x the identity shortcut (the stem's relu).
  const std::string block_out = line_of(text, "stage1.block0.relu2");
  CHECK_THAT(block_out, Contains("= fused(%stem.relu, %stage1.block0.conv2, %stage1.block0.bn2.stats, "
                                 "%stage1.block0.bn2.weight, %stage1.block0.bn2.bias)"));
  CHECK_THAT(block_out, Contains("rsqrt("));
  CHECK_THAT(block_out, Contains("relu(r"));
  CHECK(line_of(text, "stage1.block0.bn2").empty());  // never materialized
  CHECK(line_of(text, "stage1.block0.add").empty());
  // Left alone: relu's output is read by the next conv and by backward, so it stays a tensor;
  // bn_stats is a reduction of its own.
  CHECK_THAT(line_of(text, "stage1.block0.relu1"), Contains("= fused(%stage1.block0.conv1, "));
  CHECK_THAT(line_of(text, "stage1.block0.bn1.stats"), Contains("= bn_stats(%stage1.block0.conv1)"));
}

TEST_CASE("fuse-elementwise: value numbering keeps two selects that differ only in their third register") {
  // Inlining %pick into %out appends both programs through one value numbering; their selects
  // read the same condition and the same then-value, and only the else-value tells them apart.
  const ir::Graph before = ir::parse_ir(
      "graph g {\n"
      "  input %x : [2, 3, 4]\n"
      "  param %o : [2, 3, 4]\n"
      "  param %z : [2, 3, 4]\n"
      "  %pick = fused(%x, %o, %z) {shape=[2, 3, 4], program={r0=load(0); r1=load(1); r2=load(2); "
      "r3=select(r0,r1,r2)} -> r3} : [2, 3, 4]\n"
      "  %out = fused(%pick, %x, %o) {shape=[2, 3, 4], program={r0=load(0); r1=load(1); r2=load(2); "
      "r3=select(r1,r2,r1); r4=add(r0,r3)} -> r4} : [2, 3, 4]\n"
      "  return %out\n"
      "}\n",
      "select.ir");
  ir::Graph g = before;
  fuse_elementwise(g);
  REQUIRE(g.ops.size() == 1);
  CHECK(ir::format_program(g.ops[0].attrs.program) ==
        "{r0=load(0); r1=load(1); r2=load(2); r3=select(r0,r1,r2); r4=select(r0,r1,r0); r5=add(r3,r4)} -> r5");
  CHECK(max_relative_difference(run_reference(before), run_reference(g)) == 0);
}

TEST_CASE("lower-maps: at every level relu, add and relu_grad are fused maps that keep their values") {
  const ir::Graph unlowered = training_graph(kResidualNet, 2);
  REQUIRE(count_ops(unlowered, ir::OpKind::ReluGrad) > 0);
  ir::Graph g = unlowered;
  lower_maps(g);
  for (ir::OpKind kind : {ir::OpKind::Relu, ir::OpKind::Add, ir::OpKind::ReluGrad}) CHECK(count_ops(g, kind) == 0);
  // One map per op, in the op's place, computing into the op's own value.
  REQUIRE(g.ops.size() == unlowered.ops.size());
  REQUIRE(g.values.size() == unlowered.values.size());
  for (size_t o = 0; o < g.ops.size(); ++o) {
    CHECK(g.ops[o].output == unlowered.ops[o].output);
    CHECK(g.ops[o].inputs == unlowered.ops[o].inputs);
  }
  const std::string text = ir::print_ir(g);
  CHECK_THAT(line_of(text, "stage1.block0.add"), Contains("program={r0=load(0); r1=load(1); r2=add(r0,r1)} -> r2}"));
  CHECK_THAT(line_of(text, "stage1.block0.relu2.grad"),
             Contains("program={r0=load(0); r1=load(1); r2=relu_mask(r0,r1)} -> r2}"));
  for (int level : {0, 1, 2}) {
    const ir::Graph optimized_graph = optimized(unlowered, level);
    for (ir::OpKind kind : {ir::OpKind::Relu, ir::OpKind::Add, ir::OpKind::ReluGrad})
      CHECK(count_ops(optimized_graph, kind) == 0);
  }
}

TEST_CASE("lower-maps and fuse-elementwise: silu, sigmoid and the gate's multiply fuse as relu does") {
  // -O0: every gating op and gradient a fused map (no kernel of its own in either backend).
  const ir::Graph o0 = optimized(training_graph(kGatedNet, 2), 0);
  for (ir::OpKind kind : {ir::OpKind::Sigmoid, ir::OpKind::Silu, ir::OpKind::ChannelMul, ir::OpKind::SigmoidGrad,
                          ir::OpKind::SiluGrad, ir::OpKind::ChannelMulGradGate})
    CHECK(count_ops(o0, kind) == 0);
  const std::string o0_text = ir::print_ir(o0);
  CHECK_THAT(line_of(o0_text, "stage1.block0.se"), Contains("= fused(%stage1.block0.bn2, %stage1.block0.se.sigmoid)"));
  CHECK_THAT(line_of(o0_text, "stage1.block0.se.grad_gate"),
             Contains("= global_avgpool(%stage1.block0.se.grad_gate.product)"));

  const std::string text = ir::print_ir(optimized(training_graph(kGatedNet, 2), 2));
  // silu after a BatchNorm: in the BatchNorm's map, as relu1 is in the residual network.
  const std::string silu = line_of(text, "stage1.block0.silu1");
  CHECK_THAT(silu, Contains("= fused(%stage1.block0.conv1, %stage1.block0.bn1.stats, "));
  CHECK_THAT(silu, Contains("sigmoid(r"));
  // The gate's multiply, the residual add and the silu after it: one map reading the gate per
  // sample and channel; the product and the add never materialized.
  const std::string block_out = line_of(text, "stage1.block0.silu2");
  CHECK_THAT(block_out, Contains("plane("));
  CHECK_THAT(block_out, Contains("sigmoid(r"));
  CHECK(line_of(text, "stage1.block0.se").empty());
  CHECK(line_of(text, "stage1.block0.add").empty());
  // The gate's own sigmoid is read per plane, so it stays a tensor of [N, C, 1, 1].
  CHECK_THAT(line_of(text, "stage1.block0.se.sigmoid"), Contains("sigmoid(r"));
  // Backward: the gradient through the multiply is inlined into BatchNorm's backward
  // reduction, a plane load inside a per-channel sum.
  bool plane_in_reduction = false;
  for (size_t at = text.find("-> sum("); at != std::string::npos; at = text.find("-> sum(", at + 1)) {
    const size_t start = text.rfind('\n', at);
    plane_in_reduction = plane_in_reduction || text.substr(start, at - start).find("plane(") != std::string::npos;
  }
  CHECK(plane_in_reduction);
}

TEST_CASE("fuse-batchnorm-backward: one reduction feeds the weight, bias and input gradients") {
  const std::string text = ir::print_ir(optimized(training_graph(kResidualNet, 2), 2));
  const std::string sums = line_of(text, "stage1.block0.bn1.grad_sums");
  CHECK_THAT(sums, Contains("= fused("));
  CHECK_THAT(sums, Contains("-> sum(r"));
  CHECK_THAT(sums, Contains("relu_mask("));  // relu's gradient computed inside, never stored
  CHECK_THAT(line_of(text, "stage1.block0.bn1.grad_weight"),
             Contains("= view(%stage1.block0.bn1.grad_sums) {shape=[6]}"));
  CHECK_THAT(line_of(text, "stage1.block0.bn1.grad_bias"), Contains("view(%stage1.block0.bn1.grad_sums) {shape=[6], offset=6}"));
  CHECK(occurrences(text, "bn_grad_input(") == 0);
  CHECK(occurrences(text, "bn_grad_weight(") == 0);
}

TEST_CASE("group-updates: one kernel updates every parameter, one every running statistic") {
  const ir::Graph before = training_graph(kResidualNet, 2);
  const ir::Graph g = optimized(before, 2);
  CHECK(count_ops(g, ir::OpKind::SgdMomentumUpdate) == 0);
  CHECK(count_ops(g, ir::OpKind::BnRunningUpdate) == 0);
  CHECK(count_ops(g, ir::OpKind::SgdMomentumUpdateGroup) == 1);
  CHECK(count_ops(g, ir::OpKind::BnRunningUpdateGroup) == 1);
  for (const ir::Op& op : g.ops) {
    if (op.kind == ir::OpKind::SgdMomentumUpdateGroup)
      CHECK(static_cast<int>(op.inputs.size()) == 1 + 3 * count_ops(before, ir::OpKind::SgdMomentumUpdate));
    if (op.kind == ir::OpKind::BnRunningUpdateGroup)
      CHECK(static_cast<int>(op.attrs.counts.size()) == count_ops(before, ir::OpKind::BnRunningUpdate));
  }
}

TEST_CASE("fuse-conv-stats: batch statistics of a conv's output in the conv's epilogue, no kernel of their own") {
  const char* preact_net = R"(network preact_test {
    input 3x9x9
    stem { conv 6 k3 p1 }
    stage preact 6
    head { bn; relu; avgpool; fc 5 }
  })";
  const ir::Graph g = optimized(training_graph(preact_net, 2), 2);
  const std::string text = ir::print_ir(g);
  // Pre-activation: the block's first BatchNorm reads the stem conv; the head's reads an add.
  CHECK_THAT(line_of(text, "stage1.block0.bn1.stats"), Contains("= bn_stats(%stem.conv) {epilogue=true}"));
  CHECK_THAT(line_of(text, "stage1.block0.bn2.stats"), Contains("= bn_stats(%stage1.block0.conv1) {epilogue=true}"));
  CHECK_THAT(line_of(text, "head.bn.stats"), Contains("= bn_stats(%stage1.block0.add)"));
  CHECK_THAT(line_of(text, "head.bn.stats"), !Contains("epilogue"));
  const plan::KernelPlan p = plan::make_plan(g);
  int epilogues = 0, stats_kernels = 0;
  for (const plan::Kernel& k : p.kernels) {
    epilogues += k.epilogue_stats >= 0;
    stats_kernels += k.kind == ir::OpKind::BnStats;
    if (k.epilogue_stats >= 0) CHECK(k.kind == ir::OpKind::Conv2d);
  }
  CHECK(epilogues == 2);
  CHECK(stats_kernels == 1);
}

TEST_CASE("cse merges equal ops and dce removes unread ones") {
  ir::GraphBuilder b("cse", {2, 3, 4, 4});
  const ir::ValueId x = b.graph().input;
  const ir::ValueId r1 = b.add(ir::OpKind::Relu, "r1", {x}, {}, {});
  const ir::ValueId r2 = b.add(ir::OpKind::Relu, "r2", {x}, {}, {});
  b.add(ir::OpKind::Relu, "unread", {r1}, {}, {});
  const ir::ValueId sum = b.add(ir::OpKind::Add, "sum", {r1, r2}, {}, {});
  const ir::ValueId flat = b.add(ir::OpKind::Flatten, "flat", {sum}, {}, {});
  ir::Graph g = std::move(b).finish(flat);
  const Named before = run_reference(g);
  eliminate_common_subexpressions(g);
  eliminate_dead_code(g);
  const std::string text = ir::print_ir(g);
  CHECK(line_of(text, "r2").empty());
  CHECK(line_of(text, "unread").empty());
  CHECK_THAT(line_of(text, "sum"), Contains("add(%r1, %r1)"));
  CHECK(max_relative_difference(before, run_reference(g)) == 0);
}

TEST_CASE("the seed's ResNet-18 training plan at -O2: at most 60% of the kernels of -O0, fewer bytes") {
  dsl::SourceManager sources;
  dsl::LowerOptions lower;
  lower.input = std::array<int64_t, 3>{1, 96, 96};
  lower.batch = 256;
  const ir::Graph forward =
      dsl::compile_file(sources, std::string(RESNETC_SOURCE_DIR) + "/examples/d2l-resnet18.net", lower).graph;
  const ir::Graph training = autodiff::make_training_graph(forward, {0.0, 0.0});
  auto measure = [&](int level) {
    const plan::KernelPlan p = optimized_plan(training, at_level(level));
    int64_t bytes = 0;
    for (const plan::Kernel& k : p.kernels) bytes += plan::bytes_moved(p, k);
    return std::pair{p.kernels.size(), bytes};
  };
  const auto [k0, b0] = measure(0);
  const auto [k2, b2] = measure(2);
  INFO("-O0: " << k0 << " kernels, " << b0 << " bytes; -O2: " << k2 << " kernels, " << b2 << " bytes");
  CHECK(k0 == 319);
  CHECK(static_cast<double>(k2) <= 0.6 * static_cast<double>(k0));
  CHECK(b2 < b0);
}
