// Lowers the elementwise ops of the network and their gradients (the kinds of the map table,
// compiler/ir/maps.def: relu, add, sigmoid, silu, channel_mul, ...) to fused maps at every
// level, -O0 included, so neither backend needs a kernel of its own for them: each is its
// row's program; so are the dropout masks (dropout_mask, droppath_mask: ir/random_mask.h's
// mask_program). From -O2 on, fuse-elementwise inlines these maps into their readers. A map
// keeps the value of the op it replaces (its number and name): a lowered graph's values are the
// unlowered graph's, but for the plane sums below, which become two ops.
//
// A plane sum (channel_mul_grad_gate, the gate's gradient: the sum over each (n, c) plane of
// dy * x) becomes a map of its program times H * W read by the global average pool, whose
// kernels both backends have: its sum over the plane divided by H * W is the wanted sum. That
// costs one tensor of dy's size through memory, small beside the convolutions of the block an
// SE module sits in, and saves a per-sample variant of the fused reduction (which sums over the
// batch too) in three renderers.
#include "compiler/ir/maps.h"
#include "compiler/ir/random_mask.h"
#include "compiler/passes/graph_edit.h"
#include "compiler/passes/pass.h"

namespace resnetc::passes {

void lower_maps(ir::Graph& g) {
  Rewriter r(g);
  for (const ir::Op& op : g.ops) {
    const ir::MapKind* m = ir::map_kind(op.kind);
    if (op.kind == ir::OpKind::DropoutMask || op.kind == ir::OpKind::DropPathMask) {
      ir::Op map = fused_op(op.name, op.inputs, g.shape(op.output), ir::random_mask::mask_program(op.kind, op.attrs), op.loc);
      map.output = op.output;
      r.keep(map);
    } else if (m == nullptr) {
      r.keep(op);
    } else if (!m->plane_sum) {
      ir::Op map = fused_op(op.name, op.inputs, g.shape(op.output), ir::map_program(*m, op.attrs), op.loc);
      map.output = op.output;
      r.keep(map);
    } else {
      const ir::Dims space = g.shape(op.inputs[0]);  // a copy: emit() adds values
      ir::FusedProgram scaled = ir::map_program(*m, op.attrs);
      const auto plane = static_cast<int32_t>(scaled.instrs.size());
      scaled.instrs.push_back({ir::FusedOpcode::Const, 0, 0, static_cast<double>(space[2] * space[3])});
      scaled.instrs.push_back({ir::FusedOpcode::Mul, scaled.results[0], plane, 0});
      scaled.results = {plane + 1};
      const ir::ValueId summand =
          r.emit(fused_op(op.name + ".product", op.inputs, space, std::move(scaled), op.loc), space);
      ir::Op pool{ir::OpKind::GlobalAvgPool, op.name, {summand}, ir::kNoValue, {}, op.loc};
      r.replace(op.output, r.emit(std::move(pool), g.shape(op.output)));
    }
  }
  r.finish();
}

}  // namespace resnetc::passes
