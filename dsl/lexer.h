#pragma once
#include <vector>

#include "dsl/source.h"
#include "dsl/token.h"

namespace resnetc::dsl {

// Splits a source file into tokens. `#` starts a comment to the end of the line.
// Throws CompileError at the first byte that cannot start a token.
std::vector<Token> lex(const SourceFile& file);

}  // namespace resnetc::dsl
