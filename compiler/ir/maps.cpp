#include "compiler/ir/maps.h"

#include <fmt/format.h>

#include <array>

namespace resnetc::ir {

namespace {

using maps::Expr;
using maps::Operand;

template <class... E>
std::vector<Operand> leaves(const E&... e) {
  return {e.node().operand...};
}

// The map table, indexed by OpKind, built from the rows of maps.def.
class MapTable {
 public:
  MapTable() {
    const Expr x0 = Expr::leaf({Operand::Role::Input, 0}), x1 = Expr::leaf({Operand::Role::Input, 1});
    const Expr y = Expr::leaf({Operand::Role::Output}), dy = Expr::leaf({Operand::Role::OutputGrad});
    // Each row: its attributes, named in its programs, then its forward kind, then each
    // gradient entry (PASS, AS, GRAD) in input order.
#define ATTR(field, fallback, minimum)                                                  \
  const Expr field = Expr::attribute(static_cast<int32_t>(attributes.size()), fallback); \
  attributes.push_back({#field, fallback, minimum});
    // (A row's entries are not passed on to another macro: expanded, they hold bare commas.)
#define MAP_WITH(Kind, name, arity, colour, row_attributes, forward, gradients)                          \
  {                                                                                                    \
    std::vector<MapAttribute> attributes;                                                              \
    row_attributes MapKind& m = forward_kind(OpKind::Kind, name, arity, std::move(attributes), forward); \
    gradients                                                                                          \
  }
#define MAP(Kind, name, arity, colour, forward, gradients)                    \
  {                                                                         \
    MapKind& m = forward_kind(OpKind::Kind, name, arity, {}, forward);      \
    gradients                                                               \
  }
#define PASS m.gradients.push_back({std::nullopt, "", {}});
#define AS(Kind, suffix, operands) m.gradients.push_back({OpKind::Kind, suffix, leaves operands});
#define GRAD(Kind, name, suffix, operands, expression) \
  gradient_kind(m, OpKind::Kind, name, suffix, leaves operands, expression);
#include "compiler/ir/maps.def"
#undef GRAD
#undef AS
#undef PASS
#undef MAP
#undef MAP_WITH
#undef ATTR
  }

  const MapKind* find(OpKind kind) const {
    const auto i = static_cast<size_t>(kind);
    return i < kinds_.size() && kinds_[i] ? &*kinds_[i] : nullptr;
  }

 private:
  MapKind& forward_kind(OpKind kind, std::string_view name, int32_t arity, std::vector<MapAttribute> attributes,
                        const Expr& forward) {
    MapKind m{name, std::move(attributes), {}, {}, {}, false, {}};
    std::vector<Operand> inputs;
    for (int32_t i = 0; i < arity; ++i) {
      inputs.push_back({Operand::Role::Input, i});
      m.per_plane.push_back(maps::reads_per_plane(forward, i));
    }
    m.program = compile(forward, inputs, m.per_plane, &m.immediates);
    return set(kind, std::move(m));
  }

  // The gradient of the next input of `forward`'s row, a kind of its own.
  void gradient_kind(MapKind& forward, OpKind kind, std::string_view name, std::string_view suffix,
                     std::vector<Operand> operands, const Expr& expression) {
    const size_t input = forward.gradients.size();
    MapKind m{name, forward.attributes, {}, {}, {}, forward.per_plane[input], {}};
    for (const Operand& o : operands)
      m.per_plane.push_back(o.role == Operand::Role::Input && forward.per_plane[static_cast<size_t>(o.index)]);
    m.program = compile(expression, operands, m.per_plane, &m.immediates);
    forward.gradients.push_back({kind, suffix, std::move(operands)});
    set(kind, std::move(m));
  }

  MapKind& set(OpKind kind, MapKind m) { return kinds_[static_cast<size_t>(kind)].emplace(std::move(m)); }

  std::array<std::optional<MapKind>, static_cast<size_t>(kLastOpKind) + 1> kinds_;
};

}  // namespace

const MapKind* map_kind(OpKind kind) {
  static const MapTable table;
  return table.find(kind);
}

double map_attribute(const MapKind& m, const Attrs& attrs, size_t index) {
  return attrs.scalars.empty() ? m.attributes[index].fallback : attrs.scalars[index];
}

FusedProgram map_program(const MapKind& m, const Attrs& attrs) {
  FusedProgram p = m.program;
  for (const maps::Immediate& i : m.immediates)
    p.instrs[static_cast<size_t>(i.instr)].value = map_attribute(m, attrs, static_cast<size_t>(i.attribute));
  return p;
}

std::vector<std::string> format_map_attributes(OpKind kind, const Attrs& attrs) {
  std::vector<std::string> out;
  const MapKind* m = map_kind(kind);
  if (m == nullptr || attrs.scalars.size() != m->attributes.size()) return out;
  for (size_t i = 0; i < m->attributes.size(); ++i)
    if (attrs.scalars[i] != m->attributes[i].fallback)
      out.push_back(fmt::format("{}={}", m->attributes[i].name, attrs.scalars[i]));
  return out;
}

bool set_map_attribute(OpKind kind, Attrs& attrs, std::string_view name, double value) {
  const MapKind* m = map_kind(kind);
  if (m == nullptr) return false;
  for (size_t i = 0; i < m->attributes.size(); ++i) {
    if (m->attributes[i].name != name) continue;
    if (attrs.scalars.empty())
      for (const MapAttribute& a : m->attributes) attrs.scalars.push_back(a.fallback);
    attrs.scalars[i] = value;
    return true;
  }
  return false;
}

}  // namespace resnetc::ir
