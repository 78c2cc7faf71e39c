// The op table's invariants: every kind has one row with a unique name that round-trips,
// arity and writes are consistent, and the attribute schema is well formed.
#include <catch2/catch.hpp>

#include <set>
#include <vector>
#include <string_view>

#include "compiler/ir/ops.h"

namespace resnetc::ir {
namespace {

std::vector<OpKind> all_kinds() {
  std::vector<OpKind> kinds;
  for (int k = 0; k <= static_cast<int>(kLastOpKind); ++k) kinds.push_back(static_cast<OpKind>(k));
  return kinds;
}

TEST_CASE("every op kind has a unique name that op_kind_from_name maps back") {
  std::set<std::string_view> names;
  for (OpKind kind : all_kinds()) {
    REQUIRE(is_known_op_kind(kind));
    CHECK(op_info(kind).kind == kind);
    const std::string_view name = op_kind_name(kind);
    CHECK_FALSE(name.empty());
    CHECK(names.insert(name).second);
    CHECK(op_kind_from_name(name) == kind);
  }
  CHECK_FALSE(op_kind_from_name("conv").has_value());
  CHECK_FALSE(op_kind_from_name("").has_value());
  CHECK_FALSE(is_known_op_kind(static_cast<OpKind>(static_cast<int>(kLastOpKind) + 1)));
  CHECK(op_skeleton(static_cast<OpKind>(static_cast<int>(kLastOpKind) + 1)) == Skeleton::None);  // no kernel
}

TEST_CASE("updates write only their data inputs and variadic kinds take members") {
  for (OpKind kind : all_kinds()) {
    const OpInfo& row = op_info(kind);
    CHECK(row.lead_writes >> row.lead == 0);  // no bit beyond the lead inputs
    if (row.group == 0) CHECK(row.group_writes == 0);
    CHECK(is_variadic(kind) == (row.group != 0));
    bool writes_any = false;
    for (size_t k = 0; k < 12; ++k) writes_any = writes_any || writes_input(kind, k);
    CHECK(is_update(kind) == writes_any);
  }
  CHECK(writes_input(OpKind::SgdMomentumUpdate, 0));
  CHECK_FALSE(writes_input(OpKind::SgdMomentumUpdate, 1));
  CHECK(writes_input(OpKind::SgdMomentumUpdate, 3));
  // lr, then (param, grad, velocity) per member.
  CHECK_FALSE(writes_input(OpKind::SgdMomentumUpdateGroup, 0));
  CHECK(writes_input(OpKind::SgdMomentumUpdateGroup, 4));
  CHECK_FALSE(writes_input(OpKind::SgdMomentumUpdateGroup, 5));
  CHECK(writes_input(OpKind::SgdMomentumUpdateGroup, 6));
  CHECK_FALSE(is_update(OpKind::Conv2d));
}

TEST_CASE("attributes have unique names and a default Attrs is at every default") {
  std::set<std::string_view> names;
  for (AttrField f : kAllAttrFields) {
    CHECK(names.insert(attr_field_name(f)).second);
    CHECK(attr_is_default(Attrs{}, f));
  }
  CHECK(op_uses_attr(OpKind::Conv2d, AttrField::Groups));
  CHECK_FALSE(op_uses_attr(OpKind::Relu, AttrField::Kernel));
}

}  // namespace
}  // namespace resnetc::ir
