#include "export/inference_graph.h"

#include <fmt/format.h>

#include "compiler/passes/pass.h"
#include "compiler/reference/executor.h"
#include "export/export_error.h"

namespace resnetc::exporter {
namespace {

bool is_weight(const ir::Value& v) { return v.role == ir::ValueRole::Parameter || v.role == ir::ValueRole::State; }

// Per op: whether it reads the input, directly or through the ops before it (ops are in order).
std::vector<bool> ops_reading_input(const ir::Graph& g) {
  std::vector<bool> from_input(g.values.size()), runs(g.ops.size());
  if (g.input != ir::kNoValue) from_input[static_cast<size_t>(g.input)] = true;
  for (size_t o = 0; o < g.ops.size(); ++o) {
    const ir::Op& op = g.ops[o];
    for (ir::ValueId in : op.inputs) runs[o] = runs[o] || from_input[static_cast<size_t>(in)];
    if (runs[o] && op.output != ir::kNoValue) from_input[static_cast<size_t>(op.output)] = true;
  }
  return runs;
}

const std::vector<float>& weight_of(const Weights& weights, const ir::Value& v) {
  const auto it = weights.find(v.name);
  if (it == weights.end()) throw ExportError(fmt::format("no values for the network's tensor '{}'", v.name));
  if (static_cast<int64_t>(it->second.size()) != ir::numel(v.shape))
    throw ExportError(fmt::format("tensor '{}' has {} values, the network's {} needs {}", v.name, it->second.size(),
                                  ir::format_dims(v.shape), ir::numel(v.shape)));
  return it->second;
}

}  // namespace

InferenceGraph fold_for_inference(ir::Graph forward, const Weights& weights) {
  InferenceGraph out;
  out.graph = std::move(forward);
  passes::fold_batchnorm(out.graph);
  const ir::Graph& g = out.graph;
  out.runs = ops_reading_input(g);

  // The ops computed from weights alone, run by the reference executor in a graph of their own.
  ir::Graph fixed = g;
  fixed.ops.clear();
  for (size_t o = 0; o < g.ops.size(); ++o)
    if (!out.runs[o]) fixed.ops.push_back(g.ops[o]);
  std::vector<bool> read_by_fixed(g.values.size()), read_by_runs(g.values.size());
  for (size_t o = 0; o < g.ops.size(); ++o)
    for (ir::ValueId in : g.ops[o].inputs) (out.runs[o] ? read_by_runs : read_by_fixed)[static_cast<size_t>(in)] = true;

  reference::Executor executor(fixed);
  for (size_t v = 0; v < g.values.size(); ++v) {
    const ir::Value& value = g.values[v];
    if (!is_weight(value) || !(read_by_fixed[v] || read_by_runs[v])) continue;
    const std::vector<float>& w = weight_of(weights, value);
    if (read_by_fixed[v]) executor.set(static_cast<ir::ValueId>(v), std::vector<double>(w.begin(), w.end()));
    if (read_by_runs[v]) out.constants[static_cast<ir::ValueId>(v)].assign(w.begin(), w.end());
  }
  executor.run();
  for (const ir::Op& op : fixed.ops)
    if (op.output != ir::kNoValue && read_by_runs[static_cast<size_t>(op.output)]) {
      const std::vector<double>& v = executor.get(op.output);
      out.constants[op.output].assign(v.begin(), v.end());
    }
  return out;
}

}  // namespace resnetc::exporter
