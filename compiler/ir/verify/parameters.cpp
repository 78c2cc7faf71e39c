// The verifier's check that each parameter and state value has one owner.
#include <fmt/ranges.h>  // fmt::join moved here in fmt 11

#include "compiler/ir/ops.h"
#include "compiler/ir/shape_inference.h"
#include "compiler/ir/verify/verifier_state.h"

namespace resnetc::ir::verify_detail {

// Every parameter and state value is read, and belongs to at most one op's parameter slots;
// training graphs also read them as data (gradients, updates, batch-statistics BatchNorm).
void Verifier::check_parameter_use() {
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

}  // namespace resnetc::ir::verify_detail
