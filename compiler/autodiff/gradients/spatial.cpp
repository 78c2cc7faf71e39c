// Gradients of the ops that change the spatial layout: pooling and flatten. Those whose
// gradient reads no forward input carry the input's shape as their `shape` attribute.
#include "compiler/autodiff/gradients/rule.h"

namespace resnetc::autodiff::gradients {

using ir::OpKind;

namespace {
ir::Attrs shape_of_x(const OpGradient& g) {
  ir::Attrs a;
  a.shape = g.x_shape;
  return a;
}
}  // namespace

void MaxPool(const OpGradient& g) {
  g.accumulate(g.x(), g.grad_op(OpKind::MaxPoolGrad, "grad", {g.dy, g.x()}, g.op.attrs));
}

void AvgPool(const OpGradient& g) {
  ir::Attrs a = g.op.attrs;
  a.shape = g.x_shape;
  g.accumulate(g.x(), g.grad_op(OpKind::AvgPoolGrad, "grad", {g.dy}, a));
}

void GlobalAvgPool(const OpGradient& g) {
  g.accumulate(g.x(), g.grad_op(OpKind::GlobalAvgPoolGrad, "grad", {g.dy}, shape_of_x(g)));
}

// maxpool's gradient, the whole plane as the window
void GlobalMaxPool(const OpGradient& g) {
  ir::Attrs plane;
  plane.kernel[0] = g.x_shape[2], plane.kernel[1] = g.x_shape[3];
  g.accumulate(g.x(), g.grad_op(OpKind::MaxPoolGrad, "grad", {g.dy, g.x()}, plane));
}

// dy's first channels scattered back to every s-th row and column
void PadShortcut(const OpGradient& g) {
  ir::Attrs grad;
  grad.stride[0] = g.op.attrs.stride[0], grad.stride[1] = g.op.attrs.stride[1];
  grad.shape = g.x_shape;
  g.accumulate(g.x(), g.grad_op(OpKind::PadShortcutGrad, "grad", {g.dy}, grad));
}

void Flatten(const OpGradient& g) { g.accumulate(g.x(), g.grad_op(OpKind::Reshape, "grad", {g.dy}, shape_of_x(g))); }

}  // namespace resnetc::autodiff::gradients
