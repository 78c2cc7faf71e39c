// The reference executor's loop: checks, then runs each op with its reference kernel.
#include "compiler/reference/executor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>

#include "compiler/ir/shape_inference.h"
#include "compiler/reference/ops.h"

namespace resnetc::reference {
namespace {

std::string_view role_name(ir::ValueRole role) {
  switch (role) {
    case ir::ValueRole::Input: return "input";
    case ir::ValueRole::Activation: return "activation";
    case ir::ValueRole::Parameter: return "parameter";
    case ir::ValueRole::State: return "state";
  }
  return "value";
}

std::string op_ref(const ir::Op& op) { return fmt::format("op '{}' ({})", op.name, ir::op_kind_name(op.kind)); }

}  // namespace

Executor::Executor(const ir::Graph& graph) : graph_(graph), data_(graph.values.size()), present_(graph.values.size()) {
  // Enough of the verifier's checks that no kernel can read out of bounds.
  const auto value_count = static_cast<ir::ValueId>(graph.values.size());
  std::vector<bool> defined(graph.values.size());
  for (size_t v = 0; v < graph.values.size(); ++v) defined[v] = graph.values[v].role != ir::ValueRole::Activation;
  for (const ir::Op& op : graph.ops) {
    const std::string me = op_ref(op);
    auto fail = [&](std::string_view why) { throw ExecutorError(fmt::format("reference executor: {}: {}", me, why)); };
    if (!ir::is_update(op.kind) && (op.output < 0 || op.output >= value_count)) fail("its output is out of range");
    const size_t data_count = ir::data_input_count(op.kind, op.inputs.size());
    if (op.inputs.size() < data_count) fail(fmt::format("takes {} data inputs, has {}", data_count, op.inputs.size()));
    std::vector<ir::Dims> data_shapes;
    for (size_t k = 0; k < op.inputs.size(); ++k) {
      const ir::ValueId in = op.inputs[k];
      if (in < 0 || in >= value_count) fail(fmt::format("input {} is out of range", k));
      if (!defined[static_cast<size_t>(in)])
        fail(fmt::format("reads {} before any op computes it", describe(in)));
      if (k < data_count) data_shapes.push_back(graph.shape(in));
    }
    const ir::ShapeResult shape = ir::infer_shape(op.kind, data_shapes, op.attrs);
    if (!shape.ok()) fail(shape.error);
    if (!ir::is_update(op.kind) && graph.shape(op.output) != shape.dims)
      fail(fmt::format("output has shape {}, but its inputs give {}", ir::format_dims(graph.shape(op.output)),
                       ir::format_dims(shape.dims)));
    const std::vector<ir::ParamSpec> specs = ir::param_specs(op.kind, data_shapes[0], op.attrs);
    if (op.inputs.size() != data_count + specs.size())
      fail(fmt::format("has {} inputs, expected {}", op.inputs.size(), data_count + specs.size()));
    for (size_t k = 0; k < specs.size(); ++k)
      if (graph.shape(op.inputs[data_count + k]) != specs[k].shape)
        fail(fmt::format("its {} {} should have shape {}", specs[k].suffix, describe(op.inputs[data_count + k]),
                         ir::format_dims(specs[k].shape)));
    if (!ir::is_update(op.kind)) defined[static_cast<size_t>(op.output)] = true;
  }
}

std::string Executor::describe(ir::ValueId id) const {
  const ir::Value& v = graph_.value(id);
  return fmt::format("{} '{}' {}", role_name(v.role), v.name, ir::format_dims(v.shape));
}

void Executor::set(ir::ValueId id, std::vector<double> data) {
  if (id < 0 || static_cast<size_t>(id) >= graph_.values.size())
    throw ExecutorError(fmt::format("reference executor: set: value id {} is out of range (the graph has {} values)",
                                    id, graph_.values.size()));
  const ir::Value& v = graph_.value(id);
  if (v.role == ir::ValueRole::Activation)
    throw ExecutorError(fmt::format("reference executor: set: {} is computed by an op, not set", describe(id)));
  if (static_cast<int64_t>(data.size()) != ir::numel(v.shape))
    throw ExecutorError(fmt::format("reference executor: set: {} needs {} elements, got {}", describe(id),
                                    ir::numel(v.shape), data.size()));
  if (v.dtype == ir::DType::I32)
    for (size_t i = 0; i < data.size(); ++i)
      if (!(std::isfinite(data[i]) && data[i] == std::floor(data[i])))
        throw ExecutorError(fmt::format("reference executor: set: {} holds integers, but element {} is {}",
                                        describe(id), i, data[i]));
  data_[static_cast<size_t>(id)] = std::move(data);
  present_[static_cast<size_t>(id)] = true;
}

bool Executor::has(ir::ValueId id) const {
  return id >= 0 && static_cast<size_t>(id) < present_.size() && present_[static_cast<size_t>(id)];
}

const std::vector<double>& Executor::get(ir::ValueId id) const {
  if (id < 0 || static_cast<size_t>(id) >= graph_.values.size())
    throw ExecutorError(fmt::format("reference executor: get: value id {} is out of range (the graph has {} values)",
                                    id, graph_.values.size()));
  if (!has(id))
    throw ExecutorError(fmt::format("reference executor: get: {} has no data ({})", describe(id),
                                    graph_.value(id).role == ir::ValueRole::Activation ? "run() has not computed it"
                                                                                       : "it was never set"));
  return data_[static_cast<size_t>(id)];
}

void Executor::run() {
  // Every value read but not computed must have been set: report them all before running anything.
  std::vector<std::string> missing;
  std::vector<bool> reported(graph_.values.size());
  for (const ir::Op& op : graph_.ops)
    for (ir::ValueId in : op.inputs)
      if (graph_.value(in).role != ir::ValueRole::Activation && !present_[static_cast<size_t>(in)] &&
          !reported[static_cast<size_t>(in)]) {
        reported[static_cast<size_t>(in)] = true;
        missing.push_back(fmt::format("{} (read by {})", describe(in), op_ref(op)));
      }
  if (!missing.empty())
    throw ExecutorError(fmt::format("reference executor: run: {} value{} never set: {}", missing.size(),
                                    missing.size() == 1 ? " was" : "s were", fmt::join(missing, "; ")));
  for (const ir::Op& op : graph_.ops) {
    try {
      run_op(op);
    } catch (const ExecutorError&) {
      throw;
    } catch (const std::exception& e) {
      throw ExecutorError(fmt::format("reference executor: {}: {}", op_ref(op), e.what()));
    }
  }
}

void Executor::run_op(const ir::Op& op) {
  using ir::OpKind;
  namespace k = ops;
  auto in = [&](size_t i) {
    const ir::ValueId id = op.inputs[i];
    return k::TensorRef{data_[static_cast<size_t>(id)], graph_.shape(id)};
  };
  auto mut = [&](size_t i) -> k::Buffer& { return data_[static_cast<size_t>(op.inputs[i])]; };
  const ir::Attrs& a = op.attrs;
  const ir::Dims& out_shape = ir::is_update(op.kind) ? a.shape : graph_.shape(op.output);
  const bool has_bias = op.inputs.size() > 2;
  k::Buffer y;
  switch (op.kind) {
    // Forward.
    case OpKind::Conv2d: {
      const k::TensorRef bias = has_bias ? in(2) : in(1);
      y = k::conv2d(in(0), in(1), has_bias ? &bias : nullptr, a, out_shape);
      break;
    }
    case OpKind::BatchNorm: y = k::batchnorm(in(0), in(1), in(2), in(3), in(4), a.eps); break;
    case OpKind::Relu: y = k::relu(in(0)); break;
    case OpKind::Sigmoid: y = k::sigmoid(in(0)); break;
    case OpKind::Silu: y = k::silu(in(0)); break;
    case OpKind::ChannelMul: y = k::channel_mul(in(0), in(1)); break;
    case OpKind::Add: y = k::add(in(0), in(1)); break;
    case OpKind::MaxPool: y = k::maxpool(in(0), a, out_shape); break;
    case OpKind::AvgPool: y = k::avgpool(in(0), a, out_shape); break;
    case OpKind::GlobalAvgPool: y = k::global_avgpool(in(0)); break;
    case OpKind::GlobalMaxPool: {  // maxpool with the whole plane as its window
      ir::Attrs plane;
      plane.kernel[0] = in(0).dim(2), plane.kernel[1] = in(0).dim(3);
      y = k::maxpool(in(0), plane, out_shape);
      break;
    }
    case OpKind::Flatten:
    case OpKind::Reshape:
    case OpKind::Dropout:
    case OpKind::DropPath: y = k::copy(in(0)); break;
    case OpKind::Linear: {
      const k::TensorRef bias = has_bias ? in(2) : in(1);
      y = k::linear(in(0), in(1), has_bias ? &bias : nullptr);
      break;
    }
    case OpKind::PadShortcut: y = k::pad_shortcut(in(0), a, out_shape); break;
    case OpKind::DropoutMask: y = k::random_mask(in(0), in(1), a, false); break;
    case OpKind::DropPathMask: y = k::random_mask(in(0), in(1), a, true); break;
    case OpKind::BnStats: y = k::bn_stats(in(0)); break;
    case OpKind::BnApply: y = k::bn_apply(in(0), in(1), in(2), in(3), a.eps); break;
    case OpKind::SoftmaxCrossEntropy: y = k::softmax_cross_entropy(in(0), in(1)); break;
    // Backward.
    case OpKind::SoftmaxCrossEntropyGrad: y = k::softmax_cross_entropy_grad(in(0), in(1)); break;
    case OpKind::ConvGradInput: y = k::conv2d_grad_input(in(0), in(1), a); break;
    case OpKind::ConvGradWeight: y = k::conv2d_grad_weight(in(0), in(1), a, out_shape); break;
    case OpKind::BiasGrad: y = k::bias_grad(in(0)); break;
    case OpKind::BnGradWeight: y = k::bn_grad_weight(in(0), in(1), in(2), a.eps); break;
    case OpKind::BnGradInput: y = k::bn_grad_input(in(0), in(1), in(2), in(3), a.eps); break;
    case OpKind::ReluGrad: y = k::relu_grad(in(0), in(1)); break;
    case OpKind::SigmoidGrad: y = k::sigmoid_grad(in(0), in(1)); break;
    case OpKind::SiluGrad: y = k::silu_grad(in(0), in(1)); break;
    case OpKind::ChannelMulGradGate: y = k::channel_mul_grad_gate(in(0), in(1)); break;
    case OpKind::MaxPoolGrad: y = k::maxpool_grad(in(0), in(1), a); break;
    case OpKind::AvgPoolGrad: y = k::avgpool_grad(in(0), a); break;
    case OpKind::GlobalAvgPoolGrad: y = k::global_avgpool_grad(in(0), a.shape); break;
    case OpKind::PadShortcutGrad: y = k::pad_shortcut_grad(in(0), a); break;
    case OpKind::LinearGradInput: y = k::linear_grad_input(in(0), in(1)); break;
    case OpKind::LinearGradWeight: y = k::linear_grad_weight(in(0), in(1)); break;
    // Updates: in place, no output.
    case OpKind::SgdUpdate: k::sgd_update(mut(0), in(1), in(2)[0], a.weight_decay); return;
    case OpKind::SgdMomentumUpdate:
      k::sgd_momentum_update(mut(0), in(1), in(2)[0], mut(3), a.momentum, a.weight_decay);
      return;
    case OpKind::BnRunningUpdate:
      k::bn_running_update(mut(0), mut(1), in(2), a.momentum, a.shape[0] * a.shape[2] * a.shape[3]);
      return;
    // Made by the passes.
    case OpKind::Fused: {
      std::vector<k::TensorRef> inputs;
      for (size_t i = 0; i < op.inputs.size(); ++i) inputs.push_back(in(i));
      y = k::fused(inputs, a.program, a.shape);
      break;
    }
    case OpKind::View: y = k::view(in(0), a.offset, ir::numel(a.shape)); break;
    case OpKind::SgdUpdateGroup:
      for (size_t m = 1; m < op.inputs.size(); m += 2) k::sgd_update(mut(m), in(m + 1), in(0)[0], a.weight_decay);
      return;
    case OpKind::SgdMomentumUpdateGroup:
      for (size_t m = 1; m < op.inputs.size(); m += 3)
        k::sgd_momentum_update(mut(m), in(m + 1), in(0)[0], mut(m + 2), a.momentum, a.weight_decay);
      return;
    case OpKind::BnRunningUpdateGroup:
      for (size_t m = 0; m < op.inputs.size(); m += 3)
        k::bn_running_update(mut(m), mut(m + 1), in(m + 2), a.momentum, a.counts[m / 3]);
      return;
  }
  data_[static_cast<size_t>(op.output)] = std::move(y);
  present_[static_cast<size_t>(op.output)] = true;
}

}  // namespace resnetc::reference
