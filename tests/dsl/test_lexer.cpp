#include <catch2/catch.hpp>

#include "dsl/diagnostics.h"
#include "dsl/lexer.h"

using namespace resnetc::dsl;

namespace {

std::vector<Token> lex_text(const std::string& text) {
  static SourceManager sources;
  return lex(sources.add("t.net", text));
}

std::string lex_error(const std::string& text) {
  try {
    lex_text(text);
  } catch (const CompileError& e) {
    const auto& d = e.diagnostic;
    return std::to_string(d.loc.line) + ":" + std::to_string(d.loc.col) + ": " + d.message;
  }
  return "no error";
}

}  // namespace

TEST_CASE("lexer splits a layer line into tokens with positions") {
  auto t = lex_text("conv 64 k7 s=2 bias; # comment\n  input 1x96x96");
  REQUIRE(t.size() == 12);
  CHECK(t[11].kind == Tok::Eof);
  CHECK(t[0].kind == Tok::Ident);
  CHECK(t[0].text == "conv");
  CHECK(t[1].kind == Tok::Int);
  CHECK(t[1].int_value == 64);
  CHECK(t[2].text == "k7");
  CHECK(t[3].text == "s");
  CHECK(t[4].kind == Tok::Assign);
  CHECK(t[6].text == "bias");
  CHECK(t[7].kind == Tok::Semicolon);
  CHECK(t[8].kind == Tok::Newline);
  CHECK(t[9].kind == Tok::Ident);
  CHECK(t[9].loc.line == 2);
  CHECK(t[9].loc.col == 3);
  CHECK(t[10].kind == Tok::Dims);
  CHECK(t[10].text == "1x96x96");
}

TEST_CASE("lexer reads floats, strings and two-character operators") {
  auto t = lex_text("0.05 1e-4 \"fashion-mnist\" != <= >= ==");
  CHECK(t[0].kind == Tok::Float);
  CHECK(t[0].float_value == Approx(0.05));
  CHECK(t[1].kind == Tok::Float);
  CHECK(t[1].float_value == Approx(1e-4));
  CHECK(t[2].kind == Tok::String);
  CHECK(t[2].text == "fashion-mnist");
  CHECK(t[3].kind == Tok::NotEq);
  CHECK(t[4].kind == Tok::LessEq);
  CHECK(t[5].kind == Tok::GreaterEq);
  CHECK(t[6].kind == Tok::Eq);
}

TEST_CASE("lexer rejects bytes that cannot start a token, at their position") {
  CHECK(lex_error("conv $") == "1:6: unexpected character '$'; expected a name, a number, an operator, a brace or '#'");
  CHECK(lex_error(std::string("ab\0c", 4)) == "1:3: unexpected NUL byte: this does not look like a text file");
  CHECK(lex_error("x \xff") == "1:3: invalid UTF-8 byte 0xff: a .net file must be UTF-8 text");
  CHECK(lex_error("# caf\xc3\xa9 is fine in a comment\n\xc3\xa9") == "2:1: unexpected character '\xc3\xa9' (U+00E9)");
  CHECK(lex_error("a ! b") == "1:3: unexpected '!'; use 'not' for negation or '!=' for inequality");
  CHECK(lex_error("\"open") == "1:1: unterminated string");
  CHECK(lex_error("input 1x96x") == "1:7: malformed dimensions '1x96x': expected numbers separated by 'x', like 1x96x96");
  CHECK(lex_error("99999999999999999999") == "1:1: integer '99999999999999999999' is too large");
  CHECK(lex_error("64k") == "1:3: expected a space or an operator after the number '64', found 'k'");
}
