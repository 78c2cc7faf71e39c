#pragma once
// The elementwise op kinds as the map table (maps.def) defines them: for each, how it reads its
// inputs, the fused program that computes it, and its inputs' gradients. Every piece of these
// kinds that is not a kernel is derived from here: the shape rules and gradients
// (compiler/ops/maps.cpp), the lowering to fused maps (passes/lower_maps.cpp) and the
// reference run (interpreting the program in double).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/ir/map_expr.h"

namespace resnetc::ir {

// One input's gradient, as autodiff adds it.
struct MapGradient {
  std::optional<OpKind> kind;             // the map kind that computes it; none: dy itself
  std::string_view suffix;                // its op's name after the forward op's: "grad"
  std::vector<maps::Operand> operands;    // that op's inputs: dy, y and the forward op's inputs
};

// A scalar attribute of a row (maps.def's ATTR): a real number, an immediate of its programs.
struct MapAttribute {
  std::string_view name;
  double fallback;  // its value when the op gives none
  double minimum;   // the least value it takes
};

struct MapKind {
  std::string_view name;
  // The row's attributes, in its order; a gradient's own kind has its forward row's.
  std::vector<MapAttribute> attributes;
  // The instructions of `program` that are attributes (Consts of their fallbacks there).
  std::vector<maps::Immediate> immediates;
  // Per data input: read per plane, a [N, C, 1, 1] gate (else it has the output's shape).
  std::vector<bool> per_plane;
  // The map over the space of input 0 (a gate input never comes first).
  FusedProgram program;
  // The map summed over each (n, c) plane: the output is [N, C, 1, 1] (a gate's gradient).
  bool plane_sum = false;
  // A forward kind's gradients, one per input in order; empty for a gradient's own kind.
  std::vector<MapGradient> gradients;
};

// The row of an elementwise kind; null for any other kind.
const MapKind* map_kind(OpKind kind);

// Attribute `index` of an op of the kind: Attrs::scalars holds them in the row's order, or is
// empty for every fallback.
double map_attribute(const MapKind& m, const Attrs& attrs, size_t index);
// The kind's program with the op's attributes as its immediates.
FusedProgram map_program(const MapKind& m, const Attrs& attrs);
// The attributes that are not at their fallbacks, as the IR text writes them: "slope=0.2".
std::vector<std::string> format_map_attributes(OpKind kind, const Attrs& attrs);
// Sets the attribute `name` of an op of `kind` (filling the others with their fallbacks); false
// when the kind's row has no attribute of that name.
bool set_map_attribute(OpKind kind, Attrs& attrs, std::string_view name, double value);

}  // namespace resnetc::ir
