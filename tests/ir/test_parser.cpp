// The IR parser: the printer's text reads back into the same graph, and bad text is an error at
// its line and column.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "compiler/autodiff/training_graph.h"
#include "compiler/ir/parser.h"
#include "compiler/ir/printer.h"
#include "compiler/ir/verifier.h"
#include "compiler/passes/pass.h"
#include "dsl/frontend.h"
#include "tests/example_files.h"

using namespace resnetc;
using ir::Graph;

namespace {

// print(parse(print(g))) == print(g), and what the text leaves implicit comes back as it was.
void check_round_trip(const Graph& g) {
  const std::string text = ir::print_ir(g);
  const Graph back = ir::parse_ir(text, "round-trip.ir");
  CHECK(ir::print_ir(back) == text);
  REQUIRE(back.ops.size() == g.ops.size());
  for (size_t i = 0; i < g.ops.size(); ++i) CHECK(back.ops[i].name == g.ops[i].name);
  CHECK((back.labels == ir::kNoValue) == (g.labels == ir::kNoValue));
  if (g.labels != ir::kNoValue) CHECK(back.value(back.labels).dtype == ir::DType::I32);
  if (g.learning_rate != ir::kNoValue) CHECK(back.value(back.learning_rate).name == g.value(g.learning_rate).name);
}

ir::Graph parse(const std::string& text) { return ir::parse_ir(text, "t.ir"); }

// The line and column of the syntax error that `text` raises.
std::pair<uint32_t, uint32_t> error_position(const std::string& text) {
  try {
    parse(text);
  } catch (const ir::CompileError& e) {
    CHECK(e.phase == ir::CompileError::Phase::Source);
    CHECK(*e.diagnostic.loc.file == "t.ir");
    return {e.diagnostic.loc.line, e.diagnostic.loc.col};
  }
  FAIL("no CompileError for:\n" << text);
  return {0, 0};
}

const std::string kTiny =
    "graph tiny {\n"
    "  input %input : [1, 3, 8, 8]\n"
    "  param %c.weight : [4, 3, 3, 3]\n"
    "  %c = conv2d(%input, %c.weight) {out_channels=4, kernel=3x3, stride=1x1, padding=1x1} : [1, 4, 8, 8]   // a.net:2:5\n"
    "  %r = relu(%c) : [1, 4, 8, 8]\n"
    "  return %r\n"
    "}\n";

}  // namespace

TEST_CASE("parse_ir: every example reads back as printed, inference and training, before and after the passes",
          "[ir][parser]") {
  for (const std::string& file : example_files()) {
    INFO(file);
    dsl::SourceManager sources;
    const dsl::CompiledNetwork net = dsl::compile_file(sources, file, {std::nullopt, 2});
    Graph inference = net.graph;
    check_round_trip(inference);
    passes::run_pipeline(inference, passes::at_level(2));
    check_round_trip(inference);

    // Momentum and weight decay: velocity state and non-default update attributes.
    Graph training = autodiff::make_training_graph(net.graph, {0.9, 1e-4});
    check_round_trip(training);
    Graph plain = autodiff::make_training_graph(net.graph, {});
    passes::run_pipeline(training, passes::at_level(2));
    check_round_trip(training);
    passes::run_pipeline(plain, passes::at_level(1));
    check_round_trip(plain);
  }
}

TEST_CASE("parse_ir: values, roles, attributes and locations", "[ir][parser]") {
  const Graph g = parse(kTiny);
  REQUIRE(g.ops.size() == 2);
  CHECK(g.name == "tiny");
  CHECK(g.value(g.input).role == ir::ValueRole::Input);
  CHECK(g.value(g.ops[0].inputs[1]).role == ir::ValueRole::Parameter);
  CHECK(g.ops[0].kind == ir::OpKind::Conv2d);
  CHECK(g.ops[0].attrs.out_channels == 4);
  CHECK(g.ops[0].attrs.padding[1] == 1);
  CHECK(*g.ops[0].loc.file == "a.net");
  CHECK(g.ops[0].loc.line == 2);
  CHECK(g.ops[0].loc.col == 5);
  CHECK_FALSE(g.ops[1].loc.valid());
  CHECK(g.shape(g.output) == ir::Dims{1, 4, 8, 8});
  CHECK(g.value(g.output).producer == 1);
}

TEST_CASE("parse_ir: quoted names and fused programs", "[ir][parser]") {
  const Graph g = parse(
      "graph \"a b\" {\n"
      "  input %\"in\\\"put\" : [2, 3, 4, 4]\n"
      "  %f = fused(%\"in\\\"put\") {shape=[2, 3, 4, 4], program={r0=load(0); r1=const(0.5); r2=mul(r0,r1); "
      "r3=relu(r2)} -> r3} : [2, 3, 4, 4]\n"
      "  return %f\n"
      "}\n");
  CHECK(g.name == "a b");
  CHECK(g.value(g.input).name == "in\"put");
  const ir::FusedProgram& p = g.ops[0].attrs.program;
  REQUIRE(p.instrs.size() == 4);
  CHECK(p.instrs[1] == ir::FusedInstr{ir::FusedOpcode::Const, 0, 0, 0.5});
  CHECK(p.instrs[2] == ir::FusedInstr{ir::FusedOpcode::Mul, 0, 1, 0});
  CHECK(p.results == std::vector<int32_t>{3});
  CHECK_FALSE(p.reduce);
}

TEST_CASE("parse_ir: the gating opcodes, a plane load and sigmoid, read back as printed", "[ir][parser]") {
  const std::string text =
      "graph g {\n"
      "  input %x : [2, 3, 4, 5]\n"
      "  state %gate : [2, 3, 1, 1]\n"
      "  %y = fused(%x, %gate) {shape=[2, 3, 4, 5], program={r0=load(0); r1=plane(1); r2=sigmoid(r1); "
      "r3=mul(r0,r2)} -> r3} : [2, 3, 4, 5]\n"
      "  return %y\n"
      "}\n";
  const Graph g = parse(text);
  const ir::FusedProgram& p = g.ops[0].attrs.program;
  REQUIRE(p.instrs.size() == 4);
  CHECK(p.instrs[1] == ir::FusedInstr{ir::FusedOpcode::LoadPlane, 1, 0, 0});
  CHECK(p.instrs[2] == ir::FusedInstr{ir::FusedOpcode::Sigmoid, 1, 0, 0});
  CHECK(ir::format_program(p) == "{r0=load(0); r1=plane(1); r2=sigmoid(r1); r3=mul(r0,r2)} -> r3");
  check_round_trip(g);
  // A plane load needs one value per sample and channel of the space.
  std::string wrong = text;
  wrong.replace(wrong.find("[2, 3, 1, 1]"), 12, "[1, 3, 1, 1]");
  CHECK_THROWS_WITH(parse(wrong), Catch::Contains("per sample and channel"));
}

TEST_CASE("parse_ir: div, sqrt and exp read back as printed", "[ir][parser]") {
  const Graph g = parse(
      "graph g {\n"
      "  input %x : [2, 3]\n"
      "  state %o : [2, 3]\n"
      "  %y = fused(%x, %o) {shape=[2, 3], program={r0=load(0); r1=load(1); r2=exp(r0); r3=sqrt(r1); "
      "r4=div(r2,r3)} -> r4} : [2, 3]\n"
      "  return %y\n"
      "}\n");
  const ir::FusedProgram& p = g.ops[0].attrs.program;
  REQUIRE(p.instrs.size() == 5);
  CHECK(p.instrs[2] == ir::FusedInstr{ir::FusedOpcode::Exp, 0, 0, 0});
  CHECK(p.instrs[3] == ir::FusedInstr{ir::FusedOpcode::Sqrt, 1, 0, 0});
  CHECK(p.instrs[4] == ir::FusedInstr{ir::FusedOpcode::Div, 2, 3, 0});
  check_round_trip(g);
}

TEST_CASE("parse_ir: bad text is an error at its line and column", "[ir][parser]") {
  auto replaced = [](std::string from, std::string to) {
    std::string t = kTiny;
    t.replace(t.find(from), from.size(), to);
    return t;
  };
  CHECK(error_position(replaced("relu(%c)", "rleu(%c)")) == std::pair<uint32_t, uint32_t>{5, 8});
  CHECK(error_position(replaced("relu(%c)", "relu(%d)")) == std::pair<uint32_t, uint32_t>{5, 13});
  CHECK(error_position(replaced("kernel=3x3", "kernel=3y3")) == std::pair<uint32_t, uint32_t>{4, 59});
  CHECK(error_position(replaced("stride=", "strides=")) == std::pair<uint32_t, uint32_t>{4, 63});
  CHECK(error_position(replaced("  %r = relu", "  %c = relu")) == std::pair<uint32_t, uint32_t>{5, 3});
  CHECK(error_position(replaced("  return %r\n", "")) == std::pair<uint32_t, uint32_t>{6, 1});
  CHECK(error_position(replaced(": [1, 4, 8, 8]\n  return", ": [1, 4, 8, 8] junk\n  return")) ==
        std::pair<uint32_t, uint32_t>{5, 32});
}

TEST_CASE("parse_ir: a graph that parses but is invalid fails the verifier", "[ir][parser]") {
  std::string t = kTiny;
  const std::string from = "%r = relu(%c) : [1, 4, 8, 8]";
  t.replace(t.find(from), from.size(), "%r = relu(%c) : [1, 4, 8, 9]");
  try {
    parse(t);
    FAIL("the invalid graph was accepted");
  } catch (const ir::CompileError& e) {
    CHECK(e.phase == ir::CompileError::Phase::Verify);
  }
}
