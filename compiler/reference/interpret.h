#pragma once
// The one loop that runs a scalar program (ir::FusedProgram) in double, shared by the reference's
// interpreters of the skeletons (fused maps and reductions, channel and row reductions, update
// rules): each says only how its programs read (the loads, and the opcodes its skeleton owns),
// so an arithmetic opcode or a register operand is added once (scalar_op).
#include <algorithm>
#include <optional>
#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/reference/ops.h"

namespace resnetc::reference::ops {

// Runs `p` in registers `r` (grown to the program's length). A Const is its value; instruction k
// is `read(in, k, a, b)` where that gives a value (a and b its register operands, 0 where it
// reads none); every other one is arithmetic, through scalar_op, which refuses a read no
// skeleton answered.
template <class Read>
void interpret(const ir::FusedProgram& p, std::vector<double>& r, Read read) {
  r.resize(std::max(r.size(), p.instrs.size()));
  for (size_t k = 0; k < p.instrs.size(); ++k) {
    const ir::FusedInstr& in = p.instrs[k];
    const auto reg = [&](bool reads, int32_t i) { return reads ? r[static_cast<size_t>(i)] : 0.0; };
    const double a = reg(ir::reads_register_a(in.code), in.a), b = reg(ir::reads_register_b(in.code), in.b);
    if (in.code == ir::FusedOpcode::Const) {
      r[k] = in.value;
    } else if (const std::optional<double> v = read(in, k, a, b)) {
      r[k] = *v;
    } else {
      r[k] = scalar_op(in.code, a, b, reg(ir::reads_register_c(in.code), in.c));
    }
  }
}

}  // namespace resnetc::reference::ops
