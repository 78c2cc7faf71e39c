#include "compiler/ir/map_expr.h"

#include <map>
#include <stdexcept>
#include <tuple>

namespace resnetc::ir::maps {

Expr::Expr(double constant) : node_(std::make_shared<const Node>(Node{FusedOpcode::Const, {}, constant, -1, {}, {}, {}})) {}

Expr Expr::leaf(Operand operand) {
  return Expr(std::make_shared<const Node>(Node{FusedOpcode::Load, operand, 0, -1, {}, {}, {}}));
}

Expr Expr::attribute(int32_t index, double fallback) {
  return Expr(std::make_shared<const Node>(Node{FusedOpcode::Const, {}, fallback, index, {}, {}, {}}));
}

Expr Expr::apply(FusedOpcode code, const Expr& a) {
  return Expr(std::make_shared<const Node>(Node{code, {}, 0, -1, a.node_, {}, {}}));
}

Expr Expr::apply(FusedOpcode code, const Expr& a, const Expr& b) {
  return Expr(std::make_shared<const Node>(Node{code, {}, 0, -1, a.node_, b.node_, {}}));
}

Expr Expr::apply(FusedOpcode code, const Expr& a, const Expr& b, const Expr& c) {
  return Expr(std::make_shared<const Node>(Node{code, {}, 0, -1, a.node_, b.node_, c.node_}));
}

Expr Expr::per_plane() const {
  if (node_->code != FusedOpcode::Load)
    throw std::logic_error("maps.def: plane() of an expression that is not an operand");
  Node n = *node_;
  n.code = FusedOpcode::LoadPlane;
  return Expr(std::make_shared<const Node>(n));
}

Expr operator+(const Expr& a, const Expr& b) { return Expr::apply(FusedOpcode::Add, a, b); }
Expr operator-(const Expr& a, const Expr& b) { return Expr::apply(FusedOpcode::Sub, a, b); }
Expr operator*(const Expr& a, const Expr& b) { return Expr::apply(FusedOpcode::Mul, a, b); }
Expr relu(const Expr& a) { return Expr::apply(FusedOpcode::Relu, a); }
Expr sigmoid(const Expr& a) { return Expr::apply(FusedOpcode::Sigmoid, a); }
Expr relu_mask(const Expr& value, const Expr& gate) { return Expr::apply(FusedOpcode::ReluMask, value, gate); }
Expr select(const Expr& gate, const Expr& then, const Expr& otherwise) {
  return Expr::apply(FusedOpcode::Select, gate, then, otherwise);
}

namespace {

using Node = Expr::Node;

bool is_leaf(const Node& n) { return n.code == FusedOpcode::Load || n.code == FusedOpcode::LoadPlane; }

bool reads_per_plane(const Node& n, int32_t index) {
  if (n.code == FusedOpcode::LoadPlane) return n.operand == Operand{Operand::Role::Input, index};
  return (n.a && reads_per_plane(*n.a, index)) || (n.b && reads_per_plane(*n.b, index)) ||
         (n.c && reads_per_plane(*n.c, index));
}

// Emits instructions with value numbering: an instruction equal to an earlier one is that one.
class Compiler {
 public:
  Compiler(std::span<const Operand> operands, const std::vector<bool>& per_plane)
      : operands_(operands), per_plane_(per_plane) {}

  int32_t emit(const Node& n) {
    FusedInstr in{n.code, 0, 0, 0};
    if (is_leaf(n)) {
      const int32_t k = operand_index(n.operand);
      in.a = k;
      if (per_plane_[static_cast<size_t>(k)]) in.code = FusedOpcode::LoadPlane;
    } else if (n.code == FusedOpcode::Const) {
      in.value = n.value;
    } else {
      if (n.a) in.a = emit(*n.a);
      if (n.b) in.b = emit(*n.b);
      if (n.c) in.c = emit(*n.c);
    }
    // An attribute is never the same instruction as a constant that equals its fallback.
    const auto next = static_cast<int32_t>(instrs_.size());
    auto [it, inserted] = seen_.emplace(std::tuple{in.code, in.a, in.b, in.c, in.value, n.attribute}, next);
    if (inserted) {
      instrs_.push_back(in);
      if (n.attribute >= 0) immediates_.push_back({next, n.attribute});
    }
    return it->second;
  }
  std::vector<FusedInstr> take() { return std::move(instrs_); }
  std::vector<Immediate> take_immediates() { return std::move(immediates_); }

 private:
  int32_t operand_index(const Operand& o) const {
    for (size_t k = 0; k < operands_.size(); ++k)
      if (operands_[k] == o) return static_cast<int32_t>(k);
    throw std::logic_error("maps.def: a program reads an operand its op does not take");
  }

  std::span<const Operand> operands_;
  const std::vector<bool>& per_plane_;
  std::vector<FusedInstr> instrs_;
  std::vector<Immediate> immediates_;
  std::map<std::tuple<FusedOpcode, int32_t, int32_t, int32_t, double, int32_t>, int32_t> seen_;
};

}  // namespace

bool reads_per_plane(const Expr& e, int32_t index) { return reads_per_plane(e.node(), index); }

FusedProgram compile(const Expr& e, std::span<const Operand> operands, const std::vector<bool>& per_plane,
                     std::vector<Immediate>* immediates) {
  Compiler c(operands, per_plane);
  const int32_t result = c.emit(e.node());
  if (immediates) *immediates = c.take_immediates();
  return {c.take(), {result}, false};
}

}  // namespace resnetc::ir::maps
