// The text form of the IR: golden output, determinism, and the per-kind attribute rule.
#include <catch2/catch.hpp>

#include <memory>

#include "compiler/ir/printer.h"
#include "compiler/ir/verifier.h"
#include "test_graphs.h"

using namespace resnetc::ir;
using namespace resnetc::ir::testing;
using Catch::Matchers::Contains;

TEST_CASE("print_ir: golden text of a residual network", "[ir][printer]") {
  const std::string expected = R"IR(graph tiny {
  input %input : [1, 3, 16, 16]
  param %stem.conv.weight : [4, 3, 3, 3]
  %stem.conv = conv2d(%input, %stem.conv.weight) {out_channels=4, kernel=3x3, stride=1x1, padding=1x1} : [1, 4, 16, 16]   // tiny.net:2:3
  param %stem.bn.weight : [4]
  param %stem.bn.bias : [4]
  state %stem.bn.running_mean : [4]
  state %stem.bn.running_var : [4]
  %stem.bn = batchnorm(%stem.conv, %stem.bn.weight, %stem.bn.bias, %stem.bn.running_mean, %stem.bn.running_var) : [1, 4, 16, 16]   // tiny.net:3:3
  %stem.relu = relu(%stem.bn) : [1, 4, 16, 16]   // tiny.net:4:3
  %stem.pool = maxpool(%stem.relu) {kernel=3x3, stride=2x2, padding=1x1} : [1, 4, 8, 8]   // tiny.net:5:3

  param %stage1.block0.conv1.weight : [4, 4, 3, 3]
  %stage1.block0.conv1 = conv2d(%stem.pool, %stage1.block0.conv1.weight) {out_channels=4, kernel=3x3, stride=1x1, padding=1x1} : [1, 4, 8, 8]   // tiny.net:8:5
  param %stage1.block0.bn1.weight : [4]
  param %stage1.block0.bn1.bias : [4]
  state %stage1.block0.bn1.running_mean : [4]
  state %stage1.block0.bn1.running_var : [4]
  %stage1.block0.bn1 = batchnorm(%stage1.block0.conv1, %stage1.block0.bn1.weight, %stage1.block0.bn1.bias, %stage1.block0.bn1.running_mean, %stage1.block0.bn1.running_var) : [1, 4, 8, 8]   // tiny.net:9:5
  %stage1.block0.relu1 = relu(%stage1.block0.bn1) : [1, 4, 8, 8]   // tiny.net:10:5
  param %stage1.block0.conv2.weight : [4, 4, 3, 3]
  %stage1.block0.conv2 = conv2d(%stage1.block0.relu1, %stage1.block0.conv2.weight) {out_channels=4, kernel=3x3, stride=1x1, padding=1x1} : [1, 4, 8, 8]   // tiny.net:11:5
  param %stage1.block0.bn2.weight : [4]
  param %stage1.block0.bn2.bias : [4]
  state %stage1.block0.bn2.running_mean : [4]
  state %stage1.block0.bn2.running_var : [4]
  %stage1.block0.bn2 = batchnorm(%stage1.block0.conv2, %stage1.block0.bn2.weight, %stage1.block0.bn2.bias, %stage1.block0.bn2.running_mean, %stage1.block0.bn2.running_var) : [1, 4, 8, 8]   // tiny.net:12:5
  %stage1.block0.add = add(%stage1.block0.bn2, %stem.pool) : [1, 4, 8, 8]   // tiny.net:13:5
  %stage1.block0.relu2 = relu(%stage1.block0.add) : [1, 4, 8, 8]   // tiny.net:14:5

  %head.pool = global_avgpool(%stage1.block0.relu2) : [1, 4, 1, 1]   // tiny.net:17:3
  %head.flatten = flatten(%head.pool) : [1, 4]   // tiny.net:18:3
  param %head.fc.weight : [10, 4]
  param %head.fc.bias : [10]
  %head.fc = linear(%head.flatten, %head.fc.weight, %head.fc.bias) {out_features=10, bias=true} : [1, 10]   // tiny.net:19:3
  return %head.fc
}
)IR";
  Graph g = tiny_resnet();
  CHECK(print_ir(g) == expected);
}

TEST_CASE("print_ir is deterministic", "[ir][printer]") {
  Graph a = tiny_resnet();
  Graph b = tiny_resnet();  // other allocations, other shared_ptr for nothing: same text
  std::string first = print_ir(a);
  CHECK(print_ir(a) == first);
  CHECK(print_ir(b) == first);
  Graph copy = a;
  CHECK(print_ir(copy) == first);
}

TEST_CASE("print_ir without locations", "[ir][printer]") {
  GraphBuilder b("g", {2, 8, 4, 4});
  ValueId x = b.add(OpKind::Relu, "relu", {b.input()}, {}, at(1, 1));
  Graph g = std::move(b).finish(x);
  CHECK(print_ir(g, {.locations = false}) ==
        "graph g {\n"
        "  input %input : [2, 8, 4, 4]\n"
        "  %relu = relu(%input) : [2, 8, 4, 4]\n"
        "  return %relu\n"
        "}\n");
  // A location without a file prints nothing; a location without a column prints file:line.
  g.ops[0].loc = SourceLoc{nullptr, 3, 4};
  CHECK_THAT(print_ir(g), !Contains("//"));
  g.ops[0].loc = SourceLoc{std::make_shared<const std::string>("dir/m.net"), 3, 0};
  CHECK_THAT(print_ir(g), Contains("[2, 8, 4, 4]   // dir/m.net:3\n"));
}

TEST_CASE("print_ir: attributes per kind", "[ir][printer]") {
  GraphBuilder b("g", {1, 8, 8, 8});
  ValueId x = b.add(OpKind::Conv2d, "dw", {b.input()}, conv_attrs(8, 3, 1, 1, 8, true), {});
  Attrs bn;
  bn.eps = 1e-3;
  bn.momentum = 0.01;
  x = b.add(OpKind::BatchNorm, "bn", {x}, bn, {});
  Attrs defaults_bn;
  ValueId y = b.add(OpKind::BatchNorm, "bn2", {x}, defaults_bn, {});
  y = b.add(OpKind::AvgPool, "pool", {y}, pool_attrs(2, 2, 0), {});
  y = b.add(OpKind::Flatten, "flat", {y}, {}, {});
  y = b.add(OpKind::Linear, "fc", {y}, fc_attrs(3, false), {});
  Graph g = std::move(b).finish(y);
  std::string text = print_ir(g);
  CHECK_THAT(text, Contains("%dw = conv2d(%input, %dw.weight, %dw.bias) {out_channels=8, kernel=3x3, stride=1x1, "
                            "padding=1x1, groups=8, bias=true} : [1, 8, 8, 8]\n"));
  CHECK_THAT(text, Contains("%bn = batchnorm(%dw, %bn.weight, %bn.bias, %bn.running_mean, %bn.running_var) "
                            "{eps=0.001, momentum=0.01} : [1, 8, 8, 8]\n"));
  CHECK_THAT(text, Contains("%bn2 = batchnorm(%bn, %bn2.weight, %bn2.bias, %bn2.running_mean, %bn2.running_var) : [1, 8, 8, 8]\n"));  // bn2: defaults are not printed
  CHECK_THAT(text, Contains("%pool = avgpool(%bn2) {kernel=2x2, stride=2x2, padding=0x0} : [1, 8, 4, 4]\n"));
  CHECK_THAT(text, Contains("%flat = flatten(%pool) : [1, 128]\n"));
  CHECK_THAT(text, Contains("%fc = linear(%flat, %fc.weight) {out_features=3} : [1, 3]\n"));

  // A stray attribute (which the verifier rejects) is shown, so a dump of a broken graph shows it.
  g.ops[4].attrs.groups = 2;
  CHECK_THAT(print_ir(g), Contains("%flat = flatten(%pool) {groups=2} : [1, 128]\n"));
}

TEST_CASE("print_ir: odd names are quoted, unused parameters come last", "[ir][printer]") {
  GraphBuilder b("my net", {1, 2, 2, 2});
  ValueId x = b.add(OpKind::BatchNorm, "a \"b\"", {b.input()}, {}, {});
  Graph g = std::move(b).finish(x);
  std::string text = print_ir(g);
  CHECK_THAT(text, Contains("graph \"my net\" {\n"));
  CHECK_THAT(text, Contains("param %\"a \\\"b\\\".weight\" : [2]\n"));
  CHECK_THAT(text, Contains("return %\"a \\\"b\\\"\"\n"));

  g.ops[0].inputs.pop_back();  // running_var no longer read
  g.ops[0].inputs.push_back(77);
  text = print_ir(g);
  CHECK_THAT(text, Contains("%\"a \\\"b\\\".running_mean\", %<bad id 77>)"));
  CHECK_THAT(text, Contains("\n  // not read by any op:\n  state %\"a \\\"b\\\".running_var\" : [2]\n  return"));
}

TEST_CASE("op_group: the block of an op", "[ir][printer]") {
  CHECK(op_group("stage2.block0.conv1") == "stage2.block0");
  CHECK(op_group("stage2.block0.downsample.conv") == "stage2.block0");
  CHECK(op_group("stage2.block0.downsample.conv", 1) == "stage2");
  CHECK(op_group("stem.conv") == "stem");
  CHECK(op_group("fc").empty());
  CHECK(op_group("stem.conv", 0).empty());
}
