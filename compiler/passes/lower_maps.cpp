// Lowers the elementwise ops of the network and their gradients (relu, add, relu_grad, sigmoid,
// silu, channel_mul and theirs) to fused maps at every level, -O0 included, so neither backend
// needs a kernel of its own for them: each is written once, as opcodes of the fused program.
// From -O2 on, fuse-elementwise inlines these maps into their readers. A map keeps the value
// of the op it replaces (its number and name): a lowered graph's values are the unlowered
// graph's, but for the gate's gradient below, which becomes two ops.
//
// channel_mul_grad_gate (the gate's gradient, a sum over each (n, c) plane of dy * x) becomes a
// map of dy * x * (H * W) read by the global average pool, whose kernels both backends have:
// its sum over the plane divided by H * W is the wanted sum. That costs one tensor of dy's size
// through memory, small beside the convolutions of the block an SE module sits in, and saves a
// per-sample variant of the fused reduction (which sums over the batch too) in three renderers.
#include <optional>

#include "compiler/passes/graph_edit.h"
#include "compiler/passes/pass.h"

namespace resnetc::passes {

namespace {

using ir::OpKind;

// The fused map an elementwise op is, or nothing.
std::optional<ir::FusedProgram> as_map(const ir::Op& op) {
  ProgramBuilder p;
  switch (op.kind) {
    case OpKind::Relu: return std::move(p).map(p.relu(p.load(0)));
    case OpKind::Add: {
      const int32_t a = p.load(0), b = p.load(1);
      return std::move(p).map(p.add(a, b));
    }
    case OpKind::ReluGrad: {  // dy, y
      const int32_t dy = p.load(0), y = p.load(1);
      return std::move(p).map(p.relu_mask(dy, y));
    }
    case OpKind::Sigmoid: return std::move(p).map(p.sigmoid(p.load(0)));
    case OpKind::Silu: {
      const int32_t x = p.load(0);
      return std::move(p).map(p.mul(x, p.sigmoid(x)));
    }
    case OpKind::ChannelMul: {
      const int32_t x = p.load(0), gate = p.plane(1);
      return std::move(p).map(p.mul(x, gate));
    }
    case OpKind::SigmoidGrad: {  // dy * (y * (1 - y))
      const int32_t dy = p.load(0), y = p.load(1), one = p.constant(1);
      const int32_t slope = p.mul(y, p.sub(one, y));
      return std::move(p).map(p.mul(dy, slope));
    }
    case OpKind::SiluGrad: {  // dy * (s + x * s - x * s * s), s * (1 + x * (1 - s)) multiplied out
      const int32_t dy = p.load(0), x = p.load(1);
      const int32_t s = p.sigmoid(x);
      const int32_t xs = p.mul(x, s);
      const int32_t slope = p.add(s, p.sub(xs, p.mul(xs, s)));
      return std::move(p).map(p.mul(dy, slope));
    }
    default: return std::nullopt;
  }
}

}  // namespace

void lower_maps(ir::Graph& g) {
  Rewriter r(g);
  for (const ir::Op& op : g.ops) {
    if (std::optional<ir::FusedProgram> program = as_map(op)) {
      ir::Op map = fused_op(op.name, op.inputs, g.shape(op.output), std::move(*program), op.loc);
      map.output = op.output;
      r.keep(map);
    } else if (op.kind == OpKind::ChannelMulGradGate) {  // dy, x
      const ir::Dims x = g.shape(op.inputs[1]);
      ProgramBuilder p;
      const int32_t dy = p.load(0), xs = p.load(1);
      const int32_t product = p.mul(dy, xs);
      const int32_t scaled = p.mul(product, p.constant(static_cast<double>(x[2] * x[3])));
      const ir::ValueId summand =
          r.emit(fused_op(op.name + ".product", op.inputs, x, std::move(p).map(scaled), op.loc), x);
      ir::Op pool{OpKind::GlobalAvgPool, op.name, {summand}, ir::kNoValue, {}, op.loc};
      r.replace(op.output, r.emit(std::move(pool), g.shape(op.output)));
    } else {
      r.keep(op);
    }
  }
  r.finish();
}

}  // namespace resnetc::passes
