#include "compiler/passes/graph_edit.h"

#include <utility>

namespace resnetc::passes {

std::vector<std::vector<ir::OpId>> value_users(const ir::Graph& g) {
  std::vector<std::vector<ir::OpId>> users(g.values.size());
  for (size_t o = 0; o < g.ops.size(); ++o)
    for (ir::ValueId in : g.ops[o].inputs) users[static_cast<size_t>(in)].push_back(static_cast<ir::OpId>(o));
  return users;
}

bool is_graph_result(const ir::Graph& g, ir::ValueId v) { return v == g.output || v == g.loss; }

ir::ValueId Rewriter::renamed(ir::ValueId v) const {
  while (v != ir::kNoValue && static_cast<size_t>(v) < replacement_.size() &&
         replacement_[static_cast<size_t>(v)] != ir::kNoValue)
    v = replacement_[static_cast<size_t>(v)];
  return v;
}

ir::ValueId Rewriter::emit(ir::Op op, const ir::Dims& shape) {
  for (ir::ValueId& in : op.inputs) in = renamed(in);
  op.output = ir::kNoValue;
  if (!ir::is_update(op.kind)) {
    op.output = static_cast<ir::ValueId>(g_.values.size());
    g_.values.push_back(ir::Value{op.name, shape, ir::ValueRole::Activation, -1, ir::DType::F32});
    replacement_.push_back(ir::kNoValue);
  }
  ops_.push_back(std::move(op));
  return ops_.back().output;
}

void Rewriter::keep(const ir::Op& op) {
  ir::Op copy = op;
  for (ir::ValueId& in : copy.inputs) in = renamed(in);
  ops_.push_back(std::move(copy));
}

void Rewriter::replace(ir::ValueId from, ir::ValueId to) { replacement_[static_cast<size_t>(from)] = to; }

void Rewriter::finish() {
  g_.output = renamed(g_.output);
  g_.loss = renamed(g_.loss);
  // Keep every value that is not an activation (parameters, state, inputs, velocities) and the
  // activations the new ops produce; renumber in the old order.
  std::vector<bool> keep(g_.values.size());
  for (size_t v = 0; v < g_.values.size(); ++v) keep[v] = g_.values[v].role != ir::ValueRole::Activation;
  for (const ir::Op& op : ops_)
    if (op.output != ir::kNoValue) keep[static_cast<size_t>(op.output)] = true;
  std::vector<ir::ValueId> new_id(g_.values.size(), ir::kNoValue);
  std::vector<ir::Value> values;
  for (size_t v = 0; v < g_.values.size(); ++v)
    if (keep[v]) {
      new_id[v] = static_cast<ir::ValueId>(values.size());
      values.push_back(std::move(g_.values[v]));
    }
  auto map = [&](ir::ValueId v) { return v == ir::kNoValue ? v : new_id[static_cast<size_t>(v)]; };
  for (size_t o = 0; o < ops_.size(); ++o) {
    ir::Op& op = ops_[o];
    for (ir::ValueId& in : op.inputs) in = map(in);
    op.output = map(op.output);
    if (op.output != ir::kNoValue) {
      values[static_cast<size_t>(op.output)].producer = static_cast<ir::OpId>(o);
      values[static_cast<size_t>(op.output)].name = op.name;
    }
  }
  g_.values = std::move(values);
  g_.ops = std::move(ops_);
  g_.input = map(g_.input);
  g_.output = map(g_.output);
  g_.labels = map(g_.labels);
  g_.learning_rate = map(g_.learning_rate);
  g_.rng = map(g_.rng);
  g_.loss = map(g_.loss);
  ops_.clear();
  replacement_.assign(g_.values.size(), ir::kNoValue);
}

ir::Op fused_op(std::string name, std::vector<ir::ValueId> inputs, const ir::Dims& space, ir::FusedProgram program,
                ir::SourceLoc loc) {
  ir::Attrs a;
  a.shape = space;
  a.program = std::move(program);
  return ir::Op{ir::OpKind::Fused, std::move(name), std::move(inputs), ir::kNoValue, std::move(a), std::move(loc)};
}

}  // namespace resnetc::passes
