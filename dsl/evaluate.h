#pragma once
// Integer expressions of block parameters: `planes * 4`, `stride != 1 or in != width`.
#include <cstdint>
#include <map>
#include <string>

#include "dsl/ast.h"

namespace resnetc::dsl {

using Env = std::map<std::string, int64_t, std::less<>>;

// Evaluates with 64-bit overflow checks; comparisons and logic give 0 or 1.
// Throws CompileError for unknown names, division by zero and overflow.
int64_t evaluate(const ast::Expr& e, const Env& env);

}  // namespace resnetc::dsl
