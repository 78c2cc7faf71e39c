#pragma once
// What a kind whose skeleton is Map computes, as a fused map program (ir::FusedProgram) over
// its output's shape: each backend renders it with its fused renderer and the reference
// interprets it with the fused interpreter, so none of them names a Map kind. The kinds'
// programs are their families': flatten, reshape, pad_shortcut and pad_shortcut_grad in
// compiler/ops/layout.cpp, global_avgpool_grad in compiler/ops/window.cpp.
#include "compiler/ir/graph.h"

namespace resnetc::ir {

// The map program of an op of a kind whose skeleton is Map, run over `out`, the shape of its
// output; throws std::logic_error for any other kind.
FusedProgram map_program(OpKind kind, const Attrs& attrs, const Dims& out);

// The kinds' entries (their family files define them).
namespace map_programs {
FusedProgram Flatten(const Attrs& attrs, const Dims& out);
FusedProgram Reshape(const Attrs& attrs, const Dims& out);
FusedProgram PadShortcut(const Attrs& attrs, const Dims& out);
FusedProgram PadShortcutGrad(const Attrs& attrs, const Dims& out);
FusedProgram GlobalAvgPoolGrad(const Attrs& attrs, const Dims& out);
}  // namespace map_programs

}  // namespace resnetc::ir
