#pragma once
// The expressions the rows of maps.def write their programs in: a scalar expression over a map
// op's operands (its data inputs, and for a gradient the forward op's output y and its gradient
// dy), compiled to a fused program (ir::FusedProgram) over the scalar instruction set. A tree
// rather than calls on a program builder, because C++ leaves the order of a call's arguments
// unspecified and a program's text must not depend on the compiler: compile() emits it in one
// fixed order (operands before the operation, left before right), computing equal
// subexpressions once, so a row writes sigmoid(x0) twice and gets one instruction.
#include <memory>
#include <span>
#include <vector>

#include "compiler/ir/graph.h"

namespace resnetc::ir::maps {

// What a leaf of an expression reads: data input `index` of the op, or for a gradient the
// forward op's output or the gradient of that output.
struct Operand {
  enum class Role : uint8_t { Input, Output, OutputGrad };
  Role role;
  int32_t index = 0;  // Input only
  bool operator==(const Operand&) const = default;
};

class Expr {
 public:
  Expr(double constant);  // NOLINT(google-explicit-constructor): `1 - y` reads as written
  static Expr leaf(Operand operand);
  // Attribute `index` of the row (maps.def's ATTR): an immediate whose value each op gives, a
  // Const of `fallback` in the compiled program until map_program() sets it from the op.
  static Expr attribute(int32_t index, double fallback);
  static Expr apply(FusedOpcode code, const Expr& a);
  static Expr apply(FusedOpcode code, const Expr& a, const Expr& b);
  static Expr apply(FusedOpcode code, const Expr& a, const Expr& b, const Expr& c);
  // The same expression, its leaf read as a [N, C, 1, 1] gate at the element's sample and
  // channel (LoadPlane); `e` must be a leaf.
  Expr per_plane() const;

  struct Node;
  const Node& node() const { return *node_; }

 private:
  explicit Expr(std::shared_ptr<const Node> node) : node_(std::move(node)) {}
  std::shared_ptr<const Node> node_;
};

struct Expr::Node {
  FusedOpcode code;   // Load (a leaf; LoadPlane when read per plane), Const, or an operation
  Operand operand{};  // a leaf's
  double value = 0;   // Const's
  int32_t attribute = -1;  // a Const that is the row's attribute this index
  std::shared_ptr<const Node> a, b, c;
};

// The operations a row may use, one per opcode of the scalar instruction set.
Expr operator+(const Expr& a, const Expr& b);
Expr operator-(const Expr& a, const Expr& b);
Expr operator*(const Expr& a, const Expr& b);
Expr relu(const Expr& a);
Expr sigmoid(const Expr& a);
// value where gate > 0, else 0 (relu's gradient, with gate relu's output).
Expr relu_mask(const Expr& value, const Expr& gate);
// then where gate > 0, else otherwise (a NaN gate too).
Expr select(const Expr& gate, const Expr& then, const Expr& otherwise);
// Input `leaf` read per plane: a [N, C, 1, 1] (or [N, C]) gate broadcast over each (n, c) plane.
inline Expr plane(const Expr& leaf) { return leaf.per_plane(); }

// Whether `e` reads input `index` per plane anywhere.
bool reads_per_plane(const Expr& e, int32_t index);

// An instruction of a compiled program that is the row's attribute `attribute`.
struct Immediate {
  int32_t instr;
  int32_t attribute;
  bool operator==(const Immediate&) const = default;
};

// The program computing `e` as a map: leaf k of `operands` is the op's data input k, loaded
// per plane when `per_plane[k]` (a leaf's own plane() loads per plane too); `immediates`, when
// given, receives the instructions that are attributes. Throws std::logic_error when `e` reads
// an operand not in the list (a row of maps.def that is wrong).
FusedProgram compile(const Expr& e, std::span<const Operand> operands, const std::vector<bool>& per_plane,
                     std::vector<Immediate>* immediates = nullptr);

}  // namespace resnetc::ir::maps
