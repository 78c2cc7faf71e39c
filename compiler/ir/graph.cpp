#include "compiler/ir/graph.h"

#include <fmt/format.h>

namespace resnetc::ir {

std::string_view op_kind_name(OpKind kind) {
  switch (kind) {
    case OpKind::Conv2d: return "conv2d";
    case OpKind::BatchNorm: return "batchnorm";
    case OpKind::Relu: return "relu";
    case OpKind::Add: return "add";
    case OpKind::MaxPool: return "maxpool";
    case OpKind::AvgPool: return "avgpool";
    case OpKind::GlobalAvgPool: return "global_avgpool";
    case OpKind::Flatten: return "flatten";
    case OpKind::Linear: return "linear";
  }
  return "?";
}

int64_t numel(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int64_t op_param_count(const Graph& graph, const Op& op) {
  int64_t count = 0;
  for (ValueId id : op.inputs)
    if (graph.value(id).role == ValueRole::Parameter) count += numel(graph.shape(id));
  return count;
}

int64_t op_macs(const Graph& graph, const Op& op) {
  // Both are (output elements) x (weights feeding each output element).
  if (op.kind == OpKind::Conv2d) {
    const Dims& w = graph.shape(op.inputs[1]);
    return numel(graph.shape(op.output)) * w[1] * w[2] * w[3];
  }
  if (op.kind == OpKind::Linear) return numel(graph.shape(op.output)) * graph.shape(op.inputs[1])[1];
  return 0;
}

std::string format_dims(const Dims& dims) { return fmt::format("[{}]", fmt::join(dims, ", ")); }

}  // namespace resnetc::ir
