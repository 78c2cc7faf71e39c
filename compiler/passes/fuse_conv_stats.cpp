// BatchNorm statistics in the convolution's epilogue: a conv2d whose output a bn_stats reads
// computes the per-channel sums as it writes its output tiles (still in registers or cache),
// and a small finalize step turns them into mean and variance, so the statistics no longer
// read the whole activation back from memory. The pass only marks the bn_stats
// (`epilogue=true`); the kernel plan merges it into the conv's kernel and both code
// generators emit the epilogue.
#include "compiler/passes/pass.h"

namespace resnetc::passes {

void fuse_conv_stats(ir::Graph& g) {
  for (ir::Op& op : g.ops) {
    if (op.kind != ir::OpKind::BnStats) continue;
    const ir::Value& x = g.value(op.inputs[0]);
    if (x.producer >= 0 && g.op(x.producer).kind == ir::OpKind::Conv2d) op.attrs.epilogue = true;
  }
}

}  // namespace resnetc::passes
