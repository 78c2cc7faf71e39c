// Gradients of the ops that change the spatial layout: the option-A shortcut and flatten (the
// pooling kinds' are in compiler/ops/window.cpp). Those whose gradient reads no forward input
// carry the input's shape as their `shape` attribute.
#include "compiler/autodiff/gradients/rule.h"

namespace resnetc::autodiff::gradients {

using ir::OpKind;

// dy's first channels scattered back to every s-th row and column
void PadShortcut(const OpGradient& g) {
  ir::Attrs grad;
  grad.stride[0] = g.op.attrs.stride[0], grad.stride[1] = g.op.attrs.stride[1];
  grad.shape = g.x_shape;
  g.accumulate(g.x(), g.grad_op(OpKind::PadShortcutGrad, "grad", {g.dy}, grad));
}

void Flatten(const OpGradient& g) { g.accumulate(g.x(), g.grad_op(OpKind::Reshape, "grad", {g.dy}, shape_of_x(g))); }

}  // namespace resnetc::autodiff::gradients
