#include "compiler/ir/verifier.h"

#include <fmt/format.h>

#include <utility>

#include "compiler/ir/verify/verifier_state.h"

namespace resnetc::ir {

namespace verify_detail {

std::vector<std::string> Verifier::run() {
  index_producers();
  check_graph_ends_and_values();
  for (size_t i = 0; i < g_.ops.size(); ++i) check_op(static_cast<OpId>(i));
  check_parameter_use();
  check_value_names();
  check_output();
  return std::move(problems_);
}

}  // namespace verify_detail

std::vector<std::string> verify(const Graph& graph) { return verify_detail::Verifier(graph).run(); }

void verify_or_throw(const Graph& graph, std::string_view after_what) {
  std::vector<std::string> problems = verify(graph);
  if (problems.empty()) return;
  constexpr size_t kShown = 50;  // a pass that breaks every op should not print a book
  std::string message = fmt::format("graph '{}' is invalid after '{}' ({} problem{}):", graph.name, after_what,
                                    problems.size(), problems.size() == 1 ? "" : "s");
  for (size_t i = 0; i < problems.size() && i < kShown; ++i) message += fmt::format("\n  - {}", problems[i]);
  if (problems.size() > kShown) message += fmt::format("\n  ... and {} more", problems.size() - kShown);
  throw CompileError(CompileError::Phase::Verify, SourceLoc{}, std::move(message));
}

}  // namespace resnetc::ir
