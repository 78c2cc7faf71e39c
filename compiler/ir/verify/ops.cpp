// The verifier's checks of each op: its kind, name, output, inputs, attributes, shapes and
// parameters, and when an update may write.
#include <fmt/ranges.h>  // fmt::join moved here in fmt 11

#include "compiler/ir/maps.h"
#include "compiler/ir/ops.h"
#include "compiler/ir/shape_inference.h"
#include "compiler/ir/verify/kind_checks.h"
#include "compiler/ir/verify/verifier_state.h"

namespace resnetc::ir::verify_detail {

// The verifier as one op's kind checks see it: their problems are the op's.
class Verifier::KindContext final : public KindCheckContext {
 public:
  KindContext(Verifier& verifier, const std::string& me) : v_(verifier), me_(me) {}
  void report(std::string problem) const override { v_.problems_.push_back(fmt::format("{}: {}", me_, problem)); }
  std::optional<OpKind> producer_kind(ValueId value) const override {
    const OpId producer = v_.produced_by_[static_cast<size_t>(value)];
    if (producer < 0) return std::nullopt;
    return v_.op_at(producer).kind;
  }
  bool valid_value(ValueId value) const override { return v_.valid_value(value); }
  std::string value_ref(ValueId value) const override { return v_.value_ref(value); }

 private:
  Verifier& v_;
  const std::string& me_;
};

void Verifier::check_op(OpId id) {
  const Op& op = op_at(id);
  const std::string me = op_ref(id);
  if (!is_known_op_kind(op.kind)) {
    report("{}: unknown op kind {}", me, static_cast<int>(op.kind));
    return;
  }
  check_op_name(id, op, me);
  check_op_output(id, op, me);
  const std::optional<std::vector<Dims>> data_shapes = check_inputs(id, op, me);
  check_attrs(op, me);
  if (!data_shapes) return;
  if (check_output_shape(op, me, *data_shapes)) check_params(op, me, data_shapes->front());
}

void Verifier::check_op_name(OpId id, const Op& op, const std::string& me) {
  if (op.name.empty()) {
    report("{}: has no name", me);
  } else if (auto [it, inserted] = op_names_.emplace(op.name, id); !inserted) {
    report("{}: the name is already used by op #{}", me, it->second);
  }
}

// Output: none for an update, which writes into its inputs instead.
void Verifier::check_op_output(OpId id, const Op& op, const std::string& me) {
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
}

// Inputs: all in range, then the data inputs defined before this op. The data inputs' shapes,
// or none where an input dangles or some are missing.
std::optional<std::vector<Dims>> Verifier::check_inputs(OpId id, const Op& op, const std::string& me) {
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
    if (!valid_value(op.inputs[k])) continue;
    data_shapes.push_back(val(op.inputs[k]).shape);
    check_data_input(id, op, me, k);
  }
  if (!inputs_ok) return std::nullopt;
  return data_shapes;
}

// Data input k: its dtype, and that an activation is produced by an earlier op.
void Verifier::check_data_input(OpId id, const Op& op, const std::string& me, size_t k) {
  ValueId in = op.inputs[k];
  const Value& v = val(in);
  const std::optional<Int32Input>& int32 = checks_of(op.kind).int32_input;
  // A fused program's integer inputs are the (seed, step) its mask keys read.
  const bool kind_int32 = int32 && int32->index == k;
  const bool key_int32 = op.kind == OpKind::Fused && reads_mask_key(op.attrs.program, static_cast<int32_t>(k));
  if ((v.dtype == DType::I32) != (kind_int32 || key_int32))
    report("{}: data input {} ({}) must be {}", me, k, value_ref(in),
           kind_int32 ? int32->what : key_int32 ? "the int32 seed and step a mask_key reads" : "float32");
  if (v.role != ValueRole::Activation) return;  // the input, a parameter or state: defined before every op
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

// Output shape, from the one place that knows the shape rules: false where they fail.
bool Verifier::check_output_shape(const Op& op, const std::string& me, const std::vector<Dims>& data_shapes) {
  ShapeResult inferred = infer_shape(op.kind, data_shapes, op.attrs);
  if (!inferred.ok()) {
    report("{}: shape inference fails: {}", me, inferred.error);
    return false;
  }
  if (!is_update(op.kind) && valid_value(op.output) && val(op.output).shape != inferred.dims)
    report("{}: output {} has shape {}, but its inputs give {}", me, value_ref(op.output),
           format_dims(val(op.output).shape), format_dims(inferred.dims));
  return true;
}

// Parameters and state after the data inputs: as many as the shape rules give, each the role,
// shape and name its spec says (or an activation of its shape, computed by a pass).
void Verifier::check_params(const Op& op, const std::string& me, const Dims& first_shape) {
  std::vector<ParamSpec> specs = param_specs(op.kind, first_shape, op.attrs);
  const size_t data_count = data_input_count(op.kind, op.inputs.size());
  const size_t param_count = op.inputs.size() - data_count;
  if (param_count != specs.size()) {
    std::vector<std::string> names;
    for (const ParamSpec& s : specs) names.push_back(s.suffix);
    report("{}: has {} parameter/state inputs after its {} data input(s), expected {} ({})", me, param_count,
           data_count, specs.size(), names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", ")));
  }
  for (size_t k = 0; k < param_count && k < specs.size(); ++k) check_param(op, me, specs[k], data_count + k);
}

// Input `index`, the parameter or state `spec` describes.
void Verifier::check_param(const Op& op, const std::string& me, const ParamSpec& spec, size_t index) {
  ValueId in = op.inputs[index];
  const Value& v = val(in);
  std::string expected_name = op.name + "." + spec.suffix;
  if (v.role == ValueRole::Activation) {  // computed from parameters by a pass (BatchNorm folding)
    if (v.shape != spec.shape)
      report("{}: {} {} has shape {}, expected {}", me, spec.suffix, value_ref(in), format_dims(v.shape),
             format_dims(spec.shape));
    return;
  }
  if (v.role != spec.role)
    report("{}: input {} ({}) should be its {} {}, but is a {}", me, index, value_ref(in),
           role_name(spec.role), spec.suffix, role_name(v.role));
  if (v.shape != spec.shape)
    report("{}: {} {} has shape {}, expected {}", me, spec.suffix, value_ref(in), format_dims(v.shape),
           format_dims(spec.shape));
  if (v.name != expected_name)
    report("{}: its {} {} should be named '{}'", me, spec.suffix, value_ref(in), expected_name);
}

void Verifier::check_attrs(const Op& op, const std::string& me) {
  for (AttrField f : kAllAttrFields)
    if (!op_uses_attr(op.kind, f) && !attr_is_default(op.attrs, f))
      report("{}: attribute {}={} is not used by {} and must stay at its default {}", me, attr_field_name(f),
             format_attr(op.attrs, f), op_kind_name(op.kind), format_attr(Attrs{}, f));
  if (!op.attrs.scalars.empty() && map_kind(op.kind) == nullptr)
    report("{}: {} has no attributes of a map row, but is given {}", me, op_kind_name(op.kind),
           op.attrs.scalars.size());
  if (const KindChecks& checks = checks_of(op.kind); checks.check) checks.check(op, KindContext(*this, me));
}

// An update writes its first inputs (the parameter and, with momentum, the velocity; or both
// running statistics), so every other reader of them must come before it.
void Verifier::check_update_order(OpId id, const std::string& me) {
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

}  // namespace resnetc::ir::verify_detail
