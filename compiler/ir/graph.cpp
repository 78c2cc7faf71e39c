#include "compiler/ir/graph.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

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
    case OpKind::BnStats: return "bn_stats";
    case OpKind::BnApply: return "bn_apply";
    case OpKind::SoftmaxCrossEntropy: return "softmax_cross_entropy";
    case OpKind::SoftmaxCrossEntropyGrad: return "softmax_cross_entropy_grad";
    case OpKind::ConvGradInput: return "conv2d_grad_input";
    case OpKind::ConvGradWeight: return "conv2d_grad_weight";
    case OpKind::BiasGrad: return "bias_grad";
    case OpKind::BnGradWeight: return "bn_grad_weight";
    case OpKind::BnGradInput: return "bn_grad_input";
    case OpKind::ReluGrad: return "relu_grad";
    case OpKind::MaxPoolGrad: return "maxpool_grad";
    case OpKind::AvgPoolGrad: return "avgpool_grad";
    case OpKind::GlobalAvgPoolGrad: return "global_avgpool_grad";
    case OpKind::Reshape: return "reshape";
    case OpKind::LinearGradInput: return "linear_grad_input";
    case OpKind::LinearGradWeight: return "linear_grad_weight";
    case OpKind::SgdUpdate: return "sgd_update";
    case OpKind::SgdMomentumUpdate: return "sgd_momentum_update";
    case OpKind::BnRunningUpdate: return "bn_running_update";
  }
  return "?";
}

bool is_update(OpKind kind) {
  return kind == OpKind::SgdUpdate || kind == OpKind::SgdMomentumUpdate || kind == OpKind::BnRunningUpdate;
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
