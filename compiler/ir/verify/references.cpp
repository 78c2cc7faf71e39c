// How the verifier's messages name ops, values and roles.
#include "compiler/ir/ops.h"
#include "compiler/ir/verify/verifier_state.h"

namespace resnetc::ir::verify_detail {

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

// "op 'stage2.block0.conv1' (conv2d)"; "op #3 (relu)" when the op has no name.
std::string Verifier::op_ref(OpId id) const {
  const Op& op = op_at(id);
  std::string_view kind = is_known_op_kind(op.kind) ? op_kind_name(op.kind) : "unknown kind";
  if (op.name.empty()) return fmt::format("op #{} ({})", id, kind);
  return fmt::format("op '{}' ({})", op.name, kind);
}

// "%stem.conv.weight"; "value #7" when the value has no name; "value id 99 (out of range)".
std::string Verifier::value_ref(ValueId id) const {
  if (!valid_value(id)) return fmt::format("value id {} (out of range: the graph has {} values)", id, g_.values.size());
  const Value& v = val(id);
  if (v.name.empty()) return fmt::format("value #{}", id);
  return fmt::format("%{}", v.name);
}

// "parameter 'x.weight'", "state 'x.running_mean'", "input 'input'", "activation 'x'".
std::string Verifier::value_subject(ValueId id) const {
  const Value& v = val(id);
  if (v.name.empty()) return fmt::format("{} #{}", role_name(v.role), id);
  return fmt::format("{} '{}'", role_name(v.role), v.name);
}

}  // namespace resnetc::ir::verify_detail
