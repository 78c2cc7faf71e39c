// Common subexpression elimination: a later op of the same kind, with the same inputs and the
// same attributes as an earlier one, is replaced by the earlier one's result. Updates are never
// merged (each one writes).
#include <map>
#include <string>

#include <fmt/format.h>

#include "compiler/ir/verifier.h"
#include "compiler/passes/graph_edit.h"
#include "compiler/passes/pass.h"

namespace resnetc::passes {

namespace {

// Every attribute in its printed form: two ops with the same key compute the same value.
std::string op_key(const ir::Op& op, const Rewriter& r) {
  std::string key = fmt::format("{}(", ir::op_kind_name(op.kind));
  for (ir::ValueId in : op.inputs) key += fmt::format("{},", r.renamed(in));
  key += ")";
  for (ir::AttrField f : ir::kAllAttrFields) key += fmt::format(" {}", ir::format_attr(op.attrs, f));
  for (double s : op.attrs.scalars) key += fmt::format(" {}", s);
  return key;
}

}  // namespace

void eliminate_common_subexpressions(ir::Graph& g) {
  std::map<std::string, ir::ValueId> seen;
  Rewriter r(g);
  for (const ir::Op& op : g.ops) {
    if (ir::is_update(op.kind)) {
      r.keep(op);
      continue;
    }
    auto [it, inserted] = seen.emplace(op_key(op, r), op.output);
    if (inserted || is_graph_result(g, op.output)) {
      r.keep(op);
    } else {
      r.replace(op.output, it->second);
    }
  }
  r.finish();
}

}  // namespace resnetc::passes
