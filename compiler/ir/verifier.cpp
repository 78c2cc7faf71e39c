#include "compiler/ir/verifier.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join moved here in fmt 11

#include <cmath>
#include <map>
#include <utility>

#include "compiler/ir/shape_inference.h"

namespace resnetc::ir {

// ---------------------------------------------------------------------------------------------
// Verifier

namespace {

std::string_view role_name(ValueRole role) {
  switch (role) {
    case ValueRole::Input: return "input";
    case ValueRole::Activation: return "activation";
    case ValueRole::Parameter: return "parameter";
    case ValueRole::State: return "state";
  }
  return "value of unknown role";
}

bool is_known_role(ValueRole role) { return static_cast<uint8_t>(role) <= static_cast<uint8_t>(ValueRole::State); }

class Verifier {
 public:
  explicit Verifier(const Graph& graph) : g_(graph) {}

  std::vector<std::string> run() {
    index_producers();
    check_graph_ends_and_values();
    for (size_t i = 0; i < g_.ops.size(); ++i) check_op(static_cast<OpId>(i));
    check_parameter_use();
    check_value_names();
    check_output();
    return std::move(problems_);
  }

 private:
  template <typename... Args>
  void report(fmt::format_string<Args...> format, Args&&... args) {
    problems_.push_back(fmt::format(format, std::forward<Args>(args)...));
  }

  bool valid_value(ValueId id) const { return id >= 0 && static_cast<size_t>(id) < g_.values.size(); }
  bool valid_op(OpId id) const { return id >= 0 && static_cast<size_t>(id) < g_.ops.size(); }
  const Value& val(ValueId id) const { return g_.values[static_cast<size_t>(id)]; }
  const Op& op_at(OpId id) const { return g_.ops[static_cast<size_t>(id)]; }

  // "op 'stage2.block0.conv1' (conv2d)"; "op #3 (relu)" when the op has no name.
  std::string op_ref(OpId id) const {
    const Op& op = op_at(id);
    std::string_view kind = is_known_op_kind(op.kind) ? op_kind_name(op.kind) : "unknown kind";
    if (op.name.empty()) return fmt::format("op #{} ({})", id, kind);
    return fmt::format("op '{}' ({})", op.name, kind);
  }

  // "%stem.conv.weight"; "value #7" when the value has no name; "value id 99 (out of range)".
  std::string value_ref(ValueId id) const {
    if (!valid_value(id)) return fmt::format("value id {} (out of range: the graph has {} values)", id, g_.values.size());
    const Value& v = val(id);
    if (v.name.empty()) return fmt::format("value #{}", id);
    return fmt::format("%{}", v.name);
  }

  // "parameter 'x.weight'", "state 'x.running_mean'", "input 'input'", "activation 'x'".
  std::string value_subject(ValueId id) const {
    const Value& v = val(id);
    if (v.name.empty()) return fmt::format("{} #{}", role_name(v.role), id);
    return fmt::format("{} '{}'", role_name(v.role), v.name);
  }

  void index_producers() {
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

  void check_graph_ends_and_values() {
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

  void check_op(OpId id) {
    const Op& op = op_at(id);
    const std::string me = op_ref(id);
    if (!is_known_op_kind(op.kind)) {
      report("{}: unknown op kind {}", me, static_cast<int>(op.kind));
      return;
    }

    // Name.
    if (op.name.empty()) {
      report("{}: has no name", me);
    } else if (auto [it, inserted] = op_names_.emplace(op.name, id); !inserted) {
      report("{}: the name is already used by op #{}", me, it->second);
    }

    // Output: none for an update, which writes into its inputs instead.
    if (is_update(op.kind)) {
      if (op.output != kNoValue) report("{}: an update produces no value, but has output {}", me, value_ref(op.output));
      check_update_order(id, me);
    } else if (!valid_value(op.output)) {
      report("{}: its output is {}", me, value_ref(op.output));
    } else {
      const Value& out = val(op.output);
      OpId first = produced_by_[static_cast<size_t>(op.output)];
      if (first != id)
        report("{}: its output {} is already produced by {}", me, value_ref(op.output), op_ref(first));
      if (out.role != ValueRole::Activation)
        report("{}: its output {} is a {}, not an activation", me, value_ref(op.output), role_name(out.role));
      else if (out.producer != id)
        report("{}: its output {} names op id {} as its producer", me, value_ref(op.output), out.producer);
      if (out.name != op.name) report("{}: its output value is named '{}', not after the op", me, out.name);
    }

    // Inputs: all in range, then the data inputs defined before this op.
    bool inputs_ok = true;
    for (size_t k = 0; k < op.inputs.size(); ++k)
      if (!valid_value(op.inputs[k])) {
        report("{}: input {} is a dangling {}", me, k, value_ref(op.inputs[k]));
        inputs_ok = false;
      }
    const size_t data_count = data_input_count(op.kind, op.inputs.size());
    if (op.inputs.size() < data_count) {
      report("{}: takes {} data inputs, but has {} inputs in all", me, data_count, op.inputs.size());
      inputs_ok = false;
    }
    std::vector<Dims> data_shapes;
    for (size_t k = 0; k < data_count && k < op.inputs.size(); ++k) {
      ValueId in = op.inputs[k];
      if (!valid_value(in)) continue;
      const Value& v = val(in);
      data_shapes.push_back(v.shape);
      bool wants_labels = (op.kind == OpKind::SoftmaxCrossEntropy || op.kind == OpKind::SoftmaxCrossEntropyGrad) && k == 1;
      bool wants_rng = (op.kind == OpKind::DropoutMask || op.kind == OpKind::DropPathMask) && k == 1;
      if ((v.dtype == DType::I32) != (wants_labels || wants_rng))
        report("{}: data input {} ({}) must be {}", me, k, value_ref(in),
               wants_labels ? "int32 labels" : wants_rng ? "the int32 seed and step" : "float32");
      if (v.role != ValueRole::Activation) continue;  // the input, a parameter or state: defined before every op
      OpId producer = produced_by_[static_cast<size_t>(in)];
      if (producer < 0)
        report("{}: data input {} ({}) is not produced by any op", me, k, value_ref(in));
      else if (producer == id)
        report("{}: data input {} is its own output {}", me, k, value_ref(in));
      else if (producer > id)
        report("{}: uses {} before it is defined: it is produced by {}, which comes later (ops out of "
               "topological order)",
               me, value_ref(in), op_ref(producer));
    }

    check_attrs(op, me);
    if (!inputs_ok) return;

    // Output shape and parameters, from the one place that knows the shape rules.
    ShapeResult inferred = infer_shape(op.kind, data_shapes, op.attrs);
    if (!inferred.ok()) {
      report("{}: shape inference fails: {}", me, inferred.error);
      return;
    }
    if (!is_update(op.kind) && valid_value(op.output) && val(op.output).shape != inferred.dims)
      report("{}: output {} has shape {}, but its inputs give {}", me, value_ref(op.output),
             format_dims(val(op.output).shape), format_dims(inferred.dims));

    std::vector<ParamSpec> specs = param_specs(op.kind, data_shapes[0], op.attrs);
    const size_t param_count = op.inputs.size() - data_count;
    if (param_count != specs.size()) {
      std::vector<std::string> names;
      for (const ParamSpec& s : specs) names.push_back(s.suffix);
      report("{}: has {} parameter/state inputs after its {} data input(s), expected {} ({})", me, param_count,
             data_count, specs.size(), names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", ")));
    }
    for (size_t k = 0; k < param_count && k < specs.size(); ++k) {
      const ParamSpec& spec = specs[k];
      ValueId in = op.inputs[data_count + k];
      const Value& v = val(in);
      std::string expected_name = op.name + "." + spec.suffix;
      if (v.role == ValueRole::Activation) {  // computed from parameters by a pass (BatchNorm folding)
        if (v.shape != spec.shape)
          report("{}: {} {} has shape {}, expected {}", me, spec.suffix, value_ref(in), format_dims(v.shape),
                 format_dims(spec.shape));
        continue;
      }
      if (v.role != spec.role)
        report("{}: input {} ({}) should be its {} {}, but is a {}", me, data_count + k, value_ref(in),
               role_name(spec.role), spec.suffix, role_name(v.role));
      if (v.shape != spec.shape)
        report("{}: {} {} has shape {}, expected {}", me, spec.suffix, value_ref(in), format_dims(v.shape),
               format_dims(spec.shape));
      if (v.name != expected_name)
        report("{}: its {} {} should be named '{}'", me, spec.suffix, value_ref(in), expected_name);
    }
  }

  void check_attrs(const Op& op, const std::string& me) {
    for (AttrField f : kAllAttrFields)
      if (!op_uses_attr(op.kind, f) && !attr_is_default(op.attrs, f))
        report("{}: attribute {}={} is not used by {} and must stay at its default {}", me, attr_field_name(f),
               format_attr(op.attrs, f), op_kind_name(op.kind), format_attr(Attrs{}, f));
    if (op.kind == OpKind::BatchNorm) {
      if (!(std::isfinite(op.attrs.eps) && op.attrs.eps > 0))
        report("{}: eps must be a positive number, got {}", me, op.attrs.eps);
      if (!(op.attrs.momentum >= 0 && op.attrs.momentum <= 1))
        report("{}: momentum must be between 0 and 1, got {}", me, op.attrs.momentum);
    }
    if (op.kind == OpKind::BnStats && op.attrs.epilogue && !op.inputs.empty() && valid_value(op.inputs[0])) {
      const OpId producer = produced_by_[static_cast<size_t>(op.inputs[0])];
      if (producer < 0 || op_at(producer).kind != OpKind::Conv2d)
        report("{}: epilogue=true, but its input {} is not a conv2d's output", me, value_ref(op.inputs[0]));
    }
  }

  // An update writes its first inputs (the parameter and, with momentum, the velocity; or both
  // running statistics), so every other reader of them must come before it.
  void check_update_order(OpId id, const std::string& me) {
    const Op& op = op_at(id);
    for (size_t k = 0; k < op.inputs.size(); ++k) {
      if (!writes_input(op.kind, k) || !valid_value(op.inputs[k])) continue;
      ValueId target = op.inputs[k];
      if (val(target).role != ValueRole::Parameter && val(target).role != ValueRole::State)
        report("{}: writes {}, which is not a parameter or state", me, value_ref(target));
      for (OpId reader : uses_[static_cast<size_t>(target)])
        if (reader > id) report("{}: updates {} before {} reads it", me, value_ref(target), op_ref(reader));
    }
  }

  // Every parameter and state value is read, and belongs to at most one op's parameter slots;
  // training graphs also read them as data (gradients, updates, batch-statistics BatchNorm).
  void check_parameter_use() {
    std::vector<std::vector<OpId>> owners(g_.values.size());
    for (size_t o = 0; o < g_.ops.size(); ++o) {
      const Op& op = g_.ops[o];
      if (!is_known_op_kind(op.kind)) continue;
      for (size_t k = data_input_count(op.kind, op.inputs.size()); k < op.inputs.size(); ++k)
        if (valid_value(op.inputs[k])) owners[static_cast<size_t>(op.inputs[k])].push_back(static_cast<OpId>(o));
    }
    for (size_t i = 0; i < g_.values.size(); ++i) {
      const Value& v = g_.values[i];
      if (v.role != ValueRole::Parameter && v.role != ValueRole::State) continue;
      const std::vector<OpId>& users = owners[i];
      const auto id = static_cast<ValueId>(i);
      if (uses_[i].empty()) {
        std::string owner;
        if (auto dot = v.name.rfind('.'); dot != std::string::npos)
          for (size_t o = 0; o < g_.ops.size(); ++o)
            if (g_.ops[o].name == std::string_view(v.name).substr(0, dot)) {
              owner = fmt::format(" (its name says it belongs to {})", op_ref(static_cast<OpId>(o)));
              break;
            }
        report("{}: is not used by any op{}", value_subject(id), owner);
      } else if (users.size() > 1) {
        std::vector<std::string> refs;
        for (OpId user : users) refs.push_back(op_ref(user));
        report("{}: is used {} times, by {}; each parameter belongs to one op", value_subject(id), users.size(),
               fmt::join(refs, ", "));
      }
    }
  }

  // Parameter, state and input names are unique, and distinct from op names, so the printed
  // IR and checkpoints can address each tensor by name. (Op names are checked in check_op.)
  void check_value_names() {
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

  void check_output() {
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

  const Graph& g_;
  std::vector<std::string> problems_;
  std::vector<OpId> produced_by_;           // per value: the first op whose output it is, or -1
  std::vector<std::vector<OpId>> uses_;     // per value: the ops that read it, in op order
  std::map<std::string_view, OpId> op_names_;  // first op of each name
};

}  // namespace

std::vector<std::string> verify(const Graph& graph) { return Verifier(graph).run(); }

void verify_or_throw(const Graph& graph, std::string_view after_what) {
  std::vector<std::string> problems = verify(graph);
  if (problems.empty()) return;
  constexpr size_t kShown = 50;  // a pass that breaks every op should not print a book
  std::string message = fmt::format("graph '{}' is invalid after '{}' ({} problem{}):", graph.name, after_what,
                                    problems.size(), problems.size() == 1 ? "" : "s");
  for (size_t i = 0; i < problems.size() && i < kShown; ++i) message += fmt::format("\n  - {}", problems[i]);
  if (problems.size() > kShown) message += fmt::format("\n  ... and {} more", problems.size() - kShown);
  throw VerifyError(std::move(message), std::move(problems));
}

}  // namespace resnetc::ir
