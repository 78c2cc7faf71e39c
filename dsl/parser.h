#pragma once
#include "dsl/ast.h"
#include "dsl/source.h"

namespace resnetc::dsl {

// Parses one .net file. Throws CompileError at the first syntax error.
ast::File parse(const SourceFile& file);

}  // namespace resnetc::dsl
