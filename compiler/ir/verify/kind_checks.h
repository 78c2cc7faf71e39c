#pragma once
// What the verifier checks of an op because of its kind, beyond the shape rule and the
// attribute schema: one KindChecks per op kind, named after the kind and declared from the rows
// of ops.def (a row without one fails to link), defined in the family files
// compiler/ops/<family>.cpp; kind_checks.cpp holds the table that reaches them.
#include <optional>
#include <string>
#include <string_view>

#include "compiler/ir/graph.h"

namespace resnetc::ir {

// The verifier, as a kind's checks see it.
class KindCheckContext {
 public:
  // Records a problem of the op under check; `problem` follows "op 'name' (kind): ".
  virtual void report(std::string problem) const = 0;
  // The kind of the op that produces `value`, if one does.
  virtual std::optional<OpKind> producer_kind(ValueId value) const = 0;
  virtual bool valid_value(ValueId value) const = 0;
  // "%stem.conv.weight", "value #7", ...
  virtual std::string value_ref(ValueId value) const = 0;

 protected:
  ~KindCheckContext() = default;
};

// A data input that holds int32 values: which, and what the verifier calls it ("int32 labels").
struct Int32Input {
  size_t index;
  std::string_view what;
};

struct KindChecks {
  // Its int32 data input, if any; every other data input is float32.
  std::optional<Int32Input> int32_input;
  // Attribute values and producers the kind requires; null when the shape rule and the
  // attribute schema say everything.
  void (*check)(const Op& op, const KindCheckContext& context);
};

namespace kind_checks {
#define OP(kind, ...) extern const KindChecks kind;
#include "compiler/ir/ops.def"
#undef OP
}  // namespace kind_checks

// In namespace kind_checks: a kind the shape rule and the attribute schema check fully.
#define RESNETC_NO_KIND_CHECKS(kind) const KindChecks kind{std::nullopt, nullptr};

// The checks of a known kind.
const KindChecks& checks_of(OpKind kind);

}  // namespace resnetc::ir
