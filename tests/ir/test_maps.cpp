// The map table (compiler/ir/maps.def): its rows agree with the op table, and its expressions
// compile to programs in one fixed order, whatever the C++ compiler's order of arguments.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <vector>

#include "compiler/ir/maps.h"
#include "compiler/ir/ops.h"

namespace resnetc::ir {
namespace {

using maps::Expr;
using maps::Operand;

const Expr x0 = Expr::leaf({Operand::Role::Input, 0});
const Expr x1 = Expr::leaf({Operand::Role::Input, 1});

TEST_CASE("the map table's kinds and the masks are the op table's kinds without a kernel of their own") {
  for (int k = 0; k <= static_cast<int>(kLastOpKind); ++k) {
    const auto kind = static_cast<OpKind>(k);
    const MapKind* m = map_kind(kind);
    CAPTURE(op_kind_name(kind));
    const bool mask = kind == OpKind::DropoutMask || kind == OpKind::DropPathMask;  // ir::random_mask::mask_program
    CHECK((m != nullptr || mask) == (op_skeleton(kind) == Skeleton::None));
    if (m == nullptr) continue;
    const OpInfo& row = op_info(kind);
    CHECK(m->name == row.name);
    CHECK(m->per_plane.size() == row.lead);
    CHECK_FALSE(m->per_plane[0]);  // the space is input 0's
    for (const FusedInstr& in : m->program.instrs)
      if (in.code == FusedOpcode::Load || in.code == FusedOpcode::LoadPlane) CHECK(in.a < row.lead);
    // A forward kind has one gradient per input; each a map kind taking the operands it lists.
    if (m->gradients.empty()) continue;
    CHECK(m->gradients.size() == row.lead);
    for (size_t i = 0; i < m->gradients.size(); ++i) {
      const MapGradient& g = m->gradients[i];
      if (!g.kind) continue;
      const MapKind* grad = map_kind(*g.kind);
      REQUIRE(grad != nullptr);
      CHECK(grad->per_plane.size() == g.operands.size());
      CHECK(grad->plane_sum == m->per_plane[i]);  // a gate's gradient sums its planes
    }
  }
}

TEST_CASE("an expression compiles operands first, left before right, equal subexpressions once") {
  const std::vector<Operand> inputs{{Operand::Role::Input, 0}};
  const FusedProgram p = maps::compile(x0 * sigmoid(x0) + (1 - sigmoid(x0)), inputs, {false});
  CHECK(format_program(p) ==
        "{r0=load(0); r1=sigmoid(r0); r2=mul(r0,r1); r3=const(1); r4=sub(r3,r1); r5=add(r2,r4)} -> r5");
}

TEST_CASE("a gate input loads per plane everywhere; an operand the op does not take is refused") {
  const Expr product = x0 * plane(x1);
  CHECK(maps::reads_per_plane(product, 1));
  CHECK_FALSE(maps::reads_per_plane(product, 0));
  // A gradient reading the gate as its first operand loads it per plane without plane().
  const std::vector<Operand> gate_first{{Operand::Role::Input, 1}, {Operand::Role::OutputGrad}};
  const Expr dy = Expr::leaf({Operand::Role::OutputGrad});
  CHECK(format_program(maps::compile(x1 * dy, gate_first, {true, false})) ==
        "{r0=plane(0); r1=load(1); r2=mul(r0,r1)} -> r2");
  CHECK_THROWS_AS(maps::compile(x0 + x1, std::vector<Operand>{{Operand::Role::Input, 0}}, {false}), std::logic_error);
  CHECK_THROWS_AS(plane(x0 + x1), std::logic_error);
}

}  // namespace
}  // namespace resnetc::ir
