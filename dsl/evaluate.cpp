#include "dsl/evaluate.h"

#include <fmt/format.h>

#include <vector>

#include "dsl/diagnostics.h"

namespace resnetc::dsl {
namespace {

void check_overflow(bool overflow, const ast::Expr& e) {
  if (overflow) error_at(e.loc, fmt::format("integer overflow in '{}'", e.name));
}

int64_t arithmetic(const ast::Expr& e, int64_t a, int64_t b) {
  int64_t r = 0;
  const std::string& op = e.name;
  if (op == "+") return check_overflow(__builtin_add_overflow(a, b, &r), e), r;
  if (op == "-") return check_overflow(__builtin_sub_overflow(a, b, &r), e), r;
  if (op == "*") return check_overflow(__builtin_mul_overflow(a, b, &r), e), r;
  if (op == "/" || op == "%") {
    if (b == 0) error_at(e.loc, fmt::format("division by zero in '{}'", op));
    if (a == INT64_MIN && b == -1) error_at(e.loc, "integer overflow in division");
    return op == "/" ? a / b : a % b;
  }
  if (op == "==") return a == b;
  if (op == "!=") return a != b;
  if (op == "<") return a < b;
  if (op == "<=") return a <= b;
  if (op == ">") return a > b;
  if (op == ">=") return a >= b;
  error_at(e.loc, fmt::format("unknown operator '{}'", op));
}

}  // namespace

int64_t evaluate(const ast::Expr& e, const Env& env) {
  switch (e.kind) {
    case ast::Expr::Kind::Int: return e.value;
    case ast::Expr::Kind::Real:
      error_at(e.loc, fmt::format("expected an integer, found '{}'", e.name.substr(0, 40)),
               static_cast<uint32_t>(e.name.size()));
    case ast::Expr::Kind::Name: {
      if (auto it = env.find(e.name); it != env.end()) return it->second;
      std::vector<std::string_view> names;
      for (const auto& [name, value] : env) names.push_back(name);
      error_at(e.loc, fmt::format("unknown name '{}'{}", e.name, did_you_mean(e.name, names)),
               static_cast<uint32_t>(e.name.size()));
    }
    case ast::Expr::Kind::Unary: {
      int64_t v = evaluate(*e.lhs, env);
      if (e.name == "not") return v == 0;
      check_overflow(v == INT64_MIN, e);
      return -v;
    }
    case ast::Expr::Kind::Binary: {
      // `and` / `or` short-circuit, so `stride != 1 or in / 0 ...` never evaluates the right side needlessly.
      if (e.name == "and") return evaluate(*e.lhs, env) != 0 && evaluate(*e.rhs, env) != 0;
      if (e.name == "or") return evaluate(*e.lhs, env) != 0 || evaluate(*e.rhs, env) != 0;
      return arithmetic(e, evaluate(*e.lhs, env), evaluate(*e.rhs, env));
    }
  }
  error_at(e.loc, "malformed expression");
}

}  // namespace resnetc::dsl
