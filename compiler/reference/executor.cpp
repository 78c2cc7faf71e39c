// The reference executor's loop: checks, then runs each op with its reference kernel.
#include "compiler/reference/executor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <iterator>

#include "compiler/ir/shape_inference.h"
#include "compiler/reference/bf16.h"
#include "compiler/reference/run.h"

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

// How each kind runs, indexed by OpKind (ops.cpp checks that the rows are in enum order).
using RunRule = ops::Buffer (*)(const OpArgs&);
constexpr RunRule kRunRules[] = {
#define OP(kind, ...) &run::kind,
#include "compiler/ir/ops.def"
#undef OP
};
static_assert(std::size(kRunRules) == static_cast<size_t>(ir::kLastOpKind) + 1, "one run rule per OpKind");

}  // namespace

Executor::Executor(const ir::Graph& graph)
    : graph_(graph), data_(graph.values.size()), present_(graph.values.size()), bf16_(graph.values.size()) {
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

void Executor::store_in_bf16(ir::ValueId id) {
  if (id < 0 || static_cast<size_t>(id) >= graph_.values.size())
    throw ExecutorError(fmt::format("reference executor: store_in_bf16: value id {} is out of range", id));
  bf16_[static_cast<size_t>(id)] = true;
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
  ops::Buffer y = kRunRules[static_cast<size_t>(op.kind)](OpArgs(op, graph_, data_));
  if (ir::is_update(op.kind)) return;
  if (bf16_[static_cast<size_t>(op.output)])
    for (double& v : y) v = round_to_bf16(v);
  data_[static_cast<size_t>(op.output)] = std::move(y);
  present_[static_cast<size_t>(op.output)] = true;
}

}  // namespace resnetc::reference
