// The verifier's checks of values and of the graph's ends: roles, producers, names, the
// input, output and loss.
#include "compiler/ir/ops.h"
#include "compiler/ir/verify/verifier_state.h"

namespace resnetc::ir::verify_detail {

void Verifier::index_producers() {
  produced_by_.assign(g_.values.size(), -1);
  uses_.assign(g_.values.size(), {});
  for (size_t i = 0; i < g_.ops.size(); ++i) {
    const Op& op = g_.ops[i];
    if (valid_value(op.output) && produced_by_[static_cast<size_t>(op.output)] < 0)
      produced_by_[static_cast<size_t>(op.output)] = static_cast<OpId>(i);
    for (ValueId in : op.inputs)
      if (valid_value(in)) uses_[static_cast<size_t>(in)].push_back(static_cast<OpId>(i));
  }
}

void Verifier::check_graph_ends_and_values() {
  if (!valid_value(g_.input))
    report("graph: the input is {}", value_ref(g_.input));
  else if (val(g_.input).role != ValueRole::Input)
    report("graph: the input {} is a {}, not an input", value_ref(g_.input), role_name(val(g_.input).role));
  if (!valid_value(g_.output)) report("graph: the output is {}", value_ref(g_.output));

  for (size_t i = 0; i < g_.values.size(); ++i) {
    const auto id = static_cast<ValueId>(i);
    const Value& v = g_.values[i];
    if (!is_known_role(v.role)) {
      report("value #{} ('{}'): unknown role {}", id, v.name, static_cast<int>(v.role));
      continue;
    }
    if (v.name.empty()) report("{}: has no name", value_subject(id));
    for (int64_t d : v.shape)
      if (d < 1) {
        report("{}: shape {} has a dimension below 1", value_subject(id), format_dims(v.shape));
        break;
      }
    if (v.role == ValueRole::Input && id != g_.input && id != g_.labels && id != g_.learning_rate && id != g_.rng)
      report("{}: has the input role but is not one of the graph's inputs", value_subject(id));
    if ((id == g_.labels || id == g_.rng) != (v.dtype == DType::I32))
      report("{}: only the labels and the masks' seed and step are int32", value_subject(id));
    if (v.role == ValueRole::Activation) {
      if (!valid_op(v.producer))
        report("{}: its producer op id {} is out of range (the graph has {} ops)", value_subject(id), v.producer,
               g_.ops.size());
      else if (op_at(v.producer).output != id)
        report("{}: names {} as its producer, but that op's output is {}", value_subject(id), op_ref(v.producer),
               value_ref(op_at(v.producer).output));
    } else if (v.producer != -1) {
      report("{}: a {} must have no producer, but names op id {}", value_subject(id), role_name(v.role), v.producer);
    }
  }
}

// Parameter, state and input names are unique, and distinct from op names, so the printed
// IR and checkpoints can address each tensor by name. (Op names are checked in check_op.)
void Verifier::check_value_names() {
  std::map<std::string_view, ValueId> seen;
  for (size_t i = 0; i < g_.values.size(); ++i) {
    const Value& v = g_.values[i];
    if (v.role == ValueRole::Activation || v.name.empty()) continue;
    auto [it, inserted] = seen.emplace(v.name, static_cast<ValueId>(i));
    if (!inserted) {
      report("{}: the name is also used by value #{} (a {})", value_subject(static_cast<ValueId>(i)), it->second,
             role_name(val(it->second).role));
      continue;
    }
    if (auto op = op_names_.find(v.name); op != op_names_.end())
      report("{}: the name is also the name of {}", value_subject(static_cast<ValueId>(i)), op_ref(op->second));
  }
}

void Verifier::check_output() {
  if (g_.loss != kNoValue && (!valid_value(g_.loss) || val(g_.loss).shape != Dims{1}))
    report("graph: the loss {} is not a [1] value", value_ref(g_.loss));
  if (!valid_value(g_.output)) return;  // reported with the input
  const Value& v = val(g_.output);
  if (g_.output == g_.input) return;
  if (v.role != ValueRole::Activation)
    report("graph: the output {} is a {}, not produced by any op", value_ref(g_.output), role_name(v.role));
  else if (produced_by_[static_cast<size_t>(g_.output)] < 0)
    report("graph: the output {} is not produced by any op", value_ref(g_.output));
}

}  // namespace resnetc::ir::verify_detail
