#pragma once
#include <optional>
#include <vector>

#include "dsl/diagnostics.h"
#include "dsl/source.h"
#include "dsl/token.h"

namespace resnetc::dsl {

// Splits a source file into tokens. `#` starts a comment to the end of the line.
// Throws CompileError at the first byte that cannot start a token.
std::vector<Token> lex(const SourceFile& file);
// Lexes up to the first lexical error instead: stores it in `error` and ends the tokens
// there with Eof, so the parser can report an earlier syntax error first.
std::vector<Token> lex(const SourceFile& file, std::optional<Diagnostic>& error);

}  // namespace resnetc::dsl
