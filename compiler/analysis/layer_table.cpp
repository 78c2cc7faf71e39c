#include "compiler/analysis/layer_table.h"

#include <cctype>

namespace resnetc::analysis {
namespace {

constexpr int64_t kFloatBytes = 4;

// The first `depth` dotted components of a name ("stage2.block0" for depth 2).
std::string prefix(const std::string& name, int depth) {
  size_t pos = 0;
  for (int i = 0; i < depth; ++i) {
    pos = name.find('.', pos);
    if (pos == std::string::npos) return name;
    if (i + 1 < depth) ++pos;
  }
  return name.substr(0, pos);
}

// A folded row is named after its group; its op is the group's kind: "stage2" -> "stage".
std::string group_kind(const std::string& group) {
  std::string last = group.substr(group.rfind('.') == std::string::npos ? 0 : group.rfind('.') + 1);
  while (!last.empty() && std::isdigit(static_cast<unsigned char>(last.back()))) last.pop_back();
  return last;
}

}  // namespace

LayerTable layer_table(const ir::Graph& graph, int max_depth) {
  LayerTable t;
  t.network = graph.name;
  t.input = graph.shape(graph.input);
  for (const ir::Value& v : graph.values) {
    if (v.role == ir::ValueRole::Parameter) t.total_params += ir::numel(v.shape);
    if (v.role != ir::ValueRole::Activation && v.role != ir::ValueRole::Input) t.param_bytes += ir::numel(v.shape) * kFloatBytes;
    if (v.role == ir::ValueRole::Activation) t.activation_bytes += 2 * ir::numel(v.shape) * kFloatBytes;
  }
  t.trainable_params = t.total_params;  // the language has no frozen layers
  for (const ir::Op& op : graph.ops) {
    int64_t params = ir::op_param_count(graph, op), macs = ir::op_macs(graph, op);
    t.total_macs += macs;
    std::string group = max_depth > 0 ? prefix(op.name, max_depth) : op.name;
    bool folded = group != op.name;
    if (folded && !t.rows.empty() && t.rows.back().name == group) {
      LayerRow& row = t.rows.back();
      row.shape = graph.shape(op.output);
      row.params += params;
      row.macs += macs;
      continue;
    }
    t.rows.push_back({group, folded ? group_kind(group) : std::string(ir::op_kind_name(op.kind)),
                      graph.shape(op.output), params, macs});
  }
  return t;
}

}  // namespace resnetc::analysis
