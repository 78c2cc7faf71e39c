// The verifier accepts what the builder builds and names the op of every corruption.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join moved here in fmt 11

#include <algorithm>
#include <random>

#include "compiler/ir/dot.h"
#include "compiler/ir/printer.h"
#include "compiler/ir/verifier.h"
#include "test_graphs.h"

using namespace resnetc::ir;
using namespace resnetc::ir::testing;
using Catch::Matchers::Contains;

namespace {

std::string joined(const std::vector<std::string>& problems) { return fmt::format("{}", fmt::join(problems, "\n")); }

// True when some problem contains every one of `parts`.
bool reported(const std::vector<std::string>& problems, std::initializer_list<std::string_view> parts) {
  return std::any_of(problems.begin(), problems.end(), [&](const std::string& p) {
    return std::all_of(parts.begin(), parts.end(), [&](std::string_view part) { return p.find(part) != std::string::npos; });
  });
}

#define CHECK_REPORTED(problems, ...)            \
  do {                                           \
    INFO(joined(problems));                      \
    CHECK(reported(problems, {__VA_ARGS__}));    \
  } while (0)

}  // namespace

TEST_CASE("verifier accepts built graphs", "[ir][verifier]") {
  Graph g = tiny_resnet();
  std::vector<std::string> problems = verify(g);
  INFO(joined(problems));
  CHECK(problems.empty());
  CHECK_NOTHROW(verify_or_throw(g, "test"));

  // A graph with no ops returns its input.
  Graph empty = std::move(GraphBuilder("empty", {1, 3, 4, 4})).finish(0);
  CHECK(verify(empty).empty());
}

TEST_CASE("verifier: ops out of topological order", "[ir][verifier]") {
  Graph g = tiny_resnet();
  OpId bn = find_op(g, "stage1.block0.bn1"), relu = find_op(g, "stage1.block0.relu1");
  std::swap(g.ops[static_cast<size_t>(bn)], g.ops[static_cast<size_t>(relu)]);
  auto problems = verify(g);
  CHECK_REPORTED(problems, "op 'stage1.block0.relu1' (relu)", "before it is defined", "op 'stage1.block0.bn1'");

  // Even with the producer fields repaired, the order alone is wrong.
  g.values[static_cast<size_t>(g.ops[static_cast<size_t>(bn)].output)].producer = bn;
  g.values[static_cast<size_t>(g.ops[static_cast<size_t>(relu)].output)].producer = relu;
  problems = verify(g);
  CHECK(problems.size() == 1);
  CHECK_REPORTED(problems, "op 'stage1.block0.relu1' (relu): uses %stage1.block0.bn1 before it is defined");
}

TEST_CASE("verifier: wrong output shape shows both shapes", "[ir][verifier]") {
  Graph g = tiny_resnet();
  g.values[static_cast<size_t>(find_value(g, "stage1.block0.conv2"))].shape = {1, 4, 9, 9};
  auto problems = verify(g);
  CHECK_REPORTED(problems, "op 'stage1.block0.conv2' (conv2d)", "[1, 4, 9, 9]", "[1, 4, 8, 8]");
}

TEST_CASE("verifier: wrong parameter shape", "[ir][verifier]") {
  Graph g = tiny_resnet();
  g.values[static_cast<size_t>(find_value(g, "stage1.block0.conv1.weight"))].shape = {4, 4, 1, 1};
  auto problems = verify(g);
  CHECK_REPORTED(problems, "op 'stage1.block0.conv1' (conv2d)", "weight", "[4, 4, 1, 1]", "[4, 4, 3, 3]");
}

TEST_CASE("verifier: wrong parameter role and name", "[ir][verifier]") {
  Graph g = tiny_resnet();
  ValueId mean = find_value(g, "stem.bn.running_mean");
  g.values[static_cast<size_t>(mean)].role = ValueRole::Parameter;
  g.values[static_cast<size_t>(find_value(g, "stem.bn.bias"))].name = "stem.bn.beta";
  auto problems = verify(g);
  CHECK_REPORTED(problems, "op 'stem.bn' (batchnorm)", "running_mean", "state", "is a parameter");
  CHECK_REPORTED(problems, "op 'stem.bn' (batchnorm)", "%stem.bn.beta", "'stem.bn.bias'");
}

TEST_CASE("verifier: duplicated op name", "[ir][verifier]") {
  Graph g = tiny_resnet();
  OpId second = find_op(g, "stage1.block0.relu2");
  g.ops[static_cast<size_t>(second)].name = "stage1.block0.relu1";
  g.values[static_cast<size_t>(g.ops[static_cast<size_t>(second)].output)].name = "stage1.block0.relu1";
  auto problems = verify(g);
  CHECK_REPORTED(problems, "op 'stage1.block0.relu1' (relu)", "already used by op #6");

  Graph h = tiny_resnet();
  h.ops[0].name.clear();
  CHECK_REPORTED(verify(h), "op #0 (conv2d): has no name");
}

TEST_CASE("verifier: attribute the op kind does not use", "[ir][verifier]") {
  Graph g = tiny_resnet();
  g.ops[static_cast<size_t>(find_op(g, "stem.relu"))].attrs.groups = 4;
  g.ops[static_cast<size_t>(find_op(g, "head.fc"))].attrs.kernel[0] = 3;
  g.ops[static_cast<size_t>(find_op(g, "stem.pool"))].attrs.out_channels = 4;
  auto problems = verify(g);
  CHECK(problems.size() == 3);
  CHECK_REPORTED(problems, "op 'stem.relu' (relu): attribute groups=4 is not used by relu", "default 1");
  CHECK_REPORTED(problems, "op 'head.fc' (linear): attribute kernel=3x1");
  CHECK_REPORTED(problems, "op 'stem.pool' (maxpool): attribute out_channels=4");

  Graph h = tiny_resnet();
  h.ops[static_cast<size_t>(find_op(h, "stem.bn"))].attrs.eps = -1;
  CHECK_REPORTED(verify(h), "op 'stem.bn' (batchnorm): eps must be a positive number");
}

TEST_CASE("verifier: what an op's kind requires beyond its shape rule", "[ir][verifier]") {
  Graph g = tiny_resnet();
  g.ops[static_cast<size_t>(find_op(g, "stem.bn"))].attrs.momentum = 1.5;
  CHECK_REPORTED(verify(g), "op 'stem.bn' (batchnorm): momentum must be between 0 and 1, got 1.5");

  // Only a convolution computes batch statistics in its epilogue.
  GraphBuilder b("stats", {2, 3, 4, 4});
  Attrs epilogue;
  epilogue.epilogue = true;
  const ValueId relu = b.apply(OpKind::Relu, "relu", {b.input()}, {}, {});
  b.apply(OpKind::BnStats, "stats", {relu}, epilogue, {});
  Graph stats = std::move(b).finish(relu);
  CHECK_REPORTED(verify(stats), "op 'stats' (bn_stats): epilogue=true, but its input %relu is not a conv2d's output");

  // The loss reads int32 labels as its second data input, and float32 logits as its first.
  GraphBuilder l("loss", {2, 5});
  const ValueId labels = l.add_value("labels", {2}, ValueRole::Input, DType::I32);
  const ValueId loss = l.apply(OpKind::SoftmaxCrossEntropy, "loss", {l.input(), labels}, {}, {});
  Graph good = std::move(l).finish(loss);
  good.labels = labels;
  CHECK(verify(good).empty());
  Graph swapped = good;
  std::swap(swapped.ops[0].inputs[0], swapped.ops[0].inputs[1]);
  auto problems = verify(swapped);
  CHECK_REPORTED(problems, "op 'loss' (softmax_cross_entropy): data input 0 (%labels) must be float32");
  CHECK_REPORTED(problems, "op 'loss' (softmax_cross_entropy): data input 1 (%input) must be int32 labels");
}

TEST_CASE("verifier: dangling value ids", "[ir][verifier]") {
  Graph g = tiny_resnet();
  g.ops[static_cast<size_t>(find_op(g, "stage1.block0.add"))].inputs[1] = 999;
  auto problems = verify(g);
  CHECK_REPORTED(problems, "op 'stage1.block0.add' (add): input 1 is a dangling value id 999");

  Graph h = tiny_resnet();
  h.ops[static_cast<size_t>(find_op(h, "head.fc"))].output = -7;
  CHECK_REPORTED(verify(h), "op 'head.fc' (linear): its output is value id -7");

  Graph k = tiny_resnet();
  k.input = 12345;
  k.output = -1;
  CHECK_REPORTED(verify(k), "graph: the input is value id 12345");
  CHECK_REPORTED(verify(k), "graph: the output is value id -1");
}

TEST_CASE("verifier: unused and shared parameters", "[ir][verifier]") {
  Graph g = tiny_resnet();
  g.ops[static_cast<size_t>(find_op(g, "head.fc"))].inputs.pop_back();  // drop the bias
  auto problems = verify(g);
  CHECK_REPORTED(problems, "parameter 'head.fc.bias': is not used by any op", "op 'head.fc' (linear)");
  CHECK_REPORTED(problems, "op 'head.fc' (linear): has 1 parameter/state inputs", "expected 2 (weight, bias)");

  Graph h = tiny_resnet();
  Op& bn2 = h.ops[static_cast<size_t>(find_op(h, "stage1.block0.bn2"))];
  bn2.inputs[1] = find_value(h, "stage1.block0.bn1.weight");
  problems = verify(h);
  CHECK_REPORTED(problems, "parameter 'stage1.block0.bn1.weight': is used 2 times", "op 'stage1.block0.bn1'",
                 "op 'stage1.block0.bn2'");
  CHECK_REPORTED(problems, "op 'stage1.block0.bn2' (batchnorm)", "should be named 'stage1.block0.bn2.weight'");
  CHECK_REPORTED(problems, "parameter 'stage1.block0.bn2.weight': is not used by any op");
}

TEST_CASE("verifier: duplicated parameter names", "[ir][verifier]") {
  Graph g = tiny_resnet();
  g.values[static_cast<size_t>(find_value(g, "stage1.block0.conv2.weight"))].name = "stage1.block0.conv1.weight";
  auto problems = verify(g);
  CHECK_REPORTED(problems, "parameter 'stage1.block0.conv1.weight': the name is also used by value");
  CHECK_REPORTED(problems, "op 'stage1.block0.conv2' (conv2d)", "should be named 'stage1.block0.conv2.weight'");
}

TEST_CASE("verifier: producers and the output", "[ir][verifier]") {
  Graph g = tiny_resnet();
  g.values[static_cast<size_t>(find_value(g, "stem.relu"))].producer = 0;
  CHECK_REPORTED(verify(g), "op 'stem.relu' (relu): its output %stem.relu names op id 0");
  CHECK_REPORTED(verify(g), "activation 'stem.relu': names op 'stem.conv' (conv2d) as its producer");

  Graph h = tiny_resnet();
  h.ops[static_cast<size_t>(find_op(h, "stem.relu"))].output = find_value(h, "stem.bn");
  auto problems = verify(h);
  CHECK_REPORTED(problems, "op 'stem.relu' (relu): its output %stem.bn is already produced by op 'stem.bn'");
  CHECK_REPORTED(problems, "op 'stem.pool' (maxpool): data input 0 (%stem.relu) is not produced by any op");

  Graph k = tiny_resnet();
  k.output = find_value(k, "head.fc.weight");
  CHECK_REPORTED(verify(k), "graph: the output %head.fc.weight is a parameter");
}

TEST_CASE("verify_or_throw says after which stage", "[ir][verifier]") {
  Graph g = tiny_resnet();
  g.ops[static_cast<size_t>(find_op(g, "stem.relu"))].attrs.groups = 4;
  try {
    verify_or_throw(g, "dsl lowering");
    FAIL("expected a CompileError");
  } catch (const CompileError& e) {
    CHECK(e.phase == CompileError::Phase::Verify);
    CHECK(std::string(e.what()) ==
          "graph 'tiny' is invalid after 'dsl lowering' (1 problem):\n"
          "  - op 'stem.relu' (relu): attribute groups=4 is not used by relu and must stay at its default 1");
  }
  g.ops[static_cast<size_t>(find_op(g, "stem.conv"))].attrs.eps = 0.5;
  CHECK_THROWS_WITH(verify_or_throw(g, "fuse-conv-bn"),
                    Contains("after 'fuse-conv-bn' (2 problems):") && Contains("op 'stem.conv' (conv2d)"));
}

TEST_CASE("verifier, printer and dot survive random corruption", "[ir][verifier]") {
  const Graph base = tiny_resnet();
  std::mt19937 rng(1234);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  int invalid = 0;
  for (int round = 0; round < 2000; ++round) {
    Graph g = base;
    for (int64_t m = pick(1, 3); m > 0; --m) {
      Op& op = g.ops[static_cast<size_t>(pick(0, static_cast<int64_t>(g.ops.size()) - 1))];
      Value& v = g.values[static_cast<size_t>(pick(0, static_cast<int64_t>(g.values.size()) - 1))];
      switch (pick(0, 11)) {
        case 0: op.kind = static_cast<OpKind>(pick(0, 12)); break;
        case 1: if (!op.inputs.empty()) op.inputs[static_cast<size_t>(pick(0, static_cast<int64_t>(op.inputs.size()) - 1))] = static_cast<ValueId>(pick(-3, 40)); break;
        case 2: if (!op.inputs.empty()) op.inputs.pop_back(); break;
        case 3: op.inputs.push_back(static_cast<ValueId>(pick(-3, 40))); break;
        case 4: op.output = static_cast<ValueId>(pick(-3, 40)); break;
        case 5: op.attrs.kernel[pick(0, 1)] = pick(-2, 20); break;
        case 6: op.attrs.groups = pick(-1, 5); break;
        case 7: op.attrs.out_channels = pick(-1, 9); op.attrs.out_features = pick(-1, 9); break;
        case 8: {
          auto rank = static_cast<size_t>(pick(0, 5));
          v.shape.resize(rank, pick(-1, 9));
          break;
        }
        case 9: v.role = static_cast<ValueRole>(pick(0, 5)); break;
        case 10: v.producer = static_cast<OpId>(pick(-2, 20)); break;
        case 11: {
          auto a = static_cast<size_t>(pick(0, 13));
          auto b = static_cast<size_t>(pick(0, 13));
          std::swap(g.ops[a], g.ops[b]);
          break;
        }
      }
    }
    if (pick(0, 20) == 0) g.output = static_cast<ValueId>(pick(-2, 45));
    std::vector<std::string> problems;
    REQUIRE_NOTHROW(problems = verify(g));
    REQUIRE_NOTHROW(print_ir(g));
    REQUIRE_NOTHROW(print_dot(g));
    for (const std::string& p : problems) REQUIRE_FALSE(p.empty());
    invalid += problems.empty() ? 0 : 1;
  }
  CHECK(invalid > 1500);  // most single edits break something
}
