#include <catch2/catch.hpp>

#include "dsl/diagnostics.h"
#include "dsl/parser.h"

using namespace resnetc::dsl;

namespace {

ast::File parse_text(const std::string& text) {
  static SourceManager sources;
  return parse(sources.add("t.net", text));
}

std::string parse_error(const std::string& text) {
  try {
    parse_text(text);
  } catch (const CompileError& e) {
    return std::to_string(e.diagnostic.loc.line) + ":" + std::to_string(e.diagnostic.loc.col) + ": " +
           e.diagnostic.message;
  }
  return "no error";
}

}  // namespace

TEST_CASE("parser reads a network with stem, stages, head and training settings") {
  auto f = parse_text(R"(
network n {
  input 3x32x32
  stem { conv 16 k3 p1; bn; relu }
  stage basic 16 x2
  stage basic 32 x2 stride=2
  head { avgpool; fc 10 }
  train { dataset fashion-mnist; lr 0.1 }
})");
  REQUIRE(f.networks.size() == 1);
  const auto& n = f.networks[0];
  CHECK(n.name == "n");
  CHECK(n.input == std::vector<int64_t>{3, 32, 32});
  REQUIRE(n.stem);
  REQUIRE(n.stem->layers.size() == 3);
  CHECK(n.stem->layers[0].op == "conv");
  REQUIRE(n.stem->layers[0].args.size() == 3);
  CHECK(n.stem->layers[0].args[0].key.empty());
  CHECK(n.stem->layers[0].args[1].key == "k");
  CHECK(n.stem->layers[0].args[1].value->value == 3);
  REQUIRE(n.stages.size() == 2);
  CHECK(n.stages[1].block == "basic");
  CHECK(n.stages[1].args[2].key == "stride");
  REQUIRE(n.train.size() == 2);
  CHECK(n.train[0].value.text == "fashion-mnist");
  CHECK(n.train[1].value.float_value == Approx(0.1));
}

TEST_CASE("parser reads block definitions with every section") {
  auto f = parse_text(R"(
block b(width, stride = 1) {
  let out = width * 4
  pre { bn; relu }
  branch { conv out k3 stride=stride p1 }
  shortcut from pre if stride != 1 or in != out { conv out k1 stride=stride }
  post { relu }
})");
  REQUIRE(f.blocks.size() == 1);
  const auto& b = f.blocks[0];
  CHECK(b.params.size() == 2);
  CHECK_FALSE(b.params[0].default_value);
  CHECK(b.params[1].default_value->value == 1);
  CHECK(b.lets.size() == 1);
  REQUIRE(b.shortcut);
  CHECK(b.shortcut->from_pre);
  REQUIRE(b.shortcut->condition);
  CHECK(b.shortcut->condition->name == "or");
  CHECK(b.pre);
  CHECK(b.post);
}

TEST_CASE("expression precedence: * before +, comparisons before and/or, not looser than comparison") {
  auto f = parse_text("block b(a) { let x = 1 + 2 * 3\n let y = not a == 1 and a < 2 or a > 3\n branch { relu } }");
  const auto& x = *f.blocks[0].lets[0].value;
  CHECK(x.name == "+");
  CHECK(x.rhs->name == "*");
  const auto& y = *f.blocks[0].lets[1].value;
  CHECK(y.name == "or");
  CHECK(y.lhs->name == "and");
  CHECK(y.lhs->lhs->name == "not");
  CHECK(y.lhs->lhs->lhs->name == "==");
}

TEST_CASE("a sign after a space in an argument is an error; spaced or parenthesized arithmetic is not") {
  CHECK(parse_error("network n { head { fc 10 -1 } }") ==
        "1:26: '-1' after a space would subtract 1 from the argument before it; write '- 1' for that, or '(-1)' "
        "for an argument of its own");
  CHECK(parse_error("network n { head { fc k=n +2 } }") ==
        "1:27: '+2' after a space would add 2 to the argument before it; write '+ 2' for that, or '2' for an "
        "argument of its own");
  for (const char* fine : {"fc 10 - 1", "fc 10-1", "fc (10 -1)", "fc 10 (-1)"}) {
    INFO(fine);
    const auto f = parse_text(std::string("network n { head { ") + fine + " } }");
    CHECK(f.networks[0].head->layers[0].args.size() == (std::string(fine) == "fc 10 (-1)" ? 2u : 1u));
  }
  // Not an argument: a let's value has no neighbours to confuse.
  CHECK(parse_error("block b(a) { let x = a -1\n branch { relu } }") == "no error");
}

TEST_CASE("parser errors say what was expected and suggest the nearest word") {
  CHECK(parse_error("netwrk n {}") == "1:1: expected 'block' or 'network', found 'netwrk'; did you mean 'network'?");
  CHECK(parse_error("network n {\n  stme { relu }\n}") ==
        "2:3: expected 'input', 'stem', 'stage', 'head' or 'train', found 'stme'; did you mean 'stem'?");
  CHECK(parse_error("network n {\n  stem { relu ") == "2:15: expected '}' to close the layers of 'stem', found end of file");
  CHECK(parse_error("network n { input 1x2 }") == "1:19: input must be CxHxW (3 numbers), got '1x2' (2 numbers)");
  CHECK(parse_error("network n { stem { relu }\n stem { relu } }") == "2:2: network 'n' already has a 'stem' section");
  CHECK(parse_error("block b(a) { let x = a < 1 < 2 }") == "1:28: comparisons cannot be chained; use 'and'");
  CHECK(parse_error("block b(a) { let x = 1.5 }") == "1:22: expected an integer, found '1.5'");
}

TEST_CASE("an unclosed brace points back at where it was opened") {
  try {
    parse_text("network n {\n  input 1x8x8\n");
    FAIL("expected an error");
  } catch (const CompileError& e) {
    REQUIRE(e.diagnostic.notes.size() == 1);
    CHECK(e.diagnostic.notes[0].loc.line == 1);
    CHECK(e.diagnostic.notes[0].loc.col == 11);
  }
}

TEST_CASE("deep nesting is an error, not a stack overflow") {
  std::string deep = "block b(a) { let x = " + std::string(100000, '(') + "1 }";
  CHECK(parse_error(deep) == "1:86: expression nested more than 64 levels deep");
  std::string minus = "block b(a) { let x = " + std::string(100000, '-') + "1 }";
  CHECK(parse_error(minus).find("nested more than 64 levels deep") != std::string::npos);
}
