#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "dsl/source.h"

namespace resnetc::dsl {

enum class Tok : uint8_t {
  Ident,    // names and keywords (keywords are contextual); `k3` style shorthands too
  Int,      // 64
  Float,    // 0.05, 1e-4
  String,   // "fashion-mnist"
  Dims,     // 1x96x96
  Newline,  // statements end at a newline or ';'
  LBrace, RBrace, LParen, RParen, Comma, Semicolon, Assign,
  Plus, Minus, Star, Slash, Percent,
  Eq, NotEq, Less, LessEq, Greater, GreaterEq,
  Eof,
};

std::string_view tok_name(Tok t);  // for "expected X, found Y"

struct Token {
  Tok kind;
  std::string text;  // the lexeme; for String, the unquoted contents
  SourceLoc loc;
  int64_t int_value = 0;
  double float_value = 0;

  uint32_t length() const { return text.empty() ? 1 : static_cast<uint32_t>(text.size()); }
};

}  // namespace resnetc::dsl
