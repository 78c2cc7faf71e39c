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

void Flatten(const OpGradient& g) { g.accumulate(g.x(), g.grad_op(OpKind::Reshape, "grad", {g.dy}, shape_of_x(g))); }

}  // namespace resnetc::autodiff::gradients
