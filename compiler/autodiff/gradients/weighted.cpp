// Gradients of the ops with parameters: their input's gradient (unless the input is the
// network's), and each parameter's, for its update.
#include "compiler/autodiff/gradients/rule.h"

namespace resnetc::autodiff::gradients {

using ir::OpKind;

void Conv2d(const OpGradient& g) {
  const ir::Attrs& a = g.op.attrs;
  ir::Attrs grad_in = a;
  grad_in.shape = g.x_shape;
  if (g.x_needs_grad) g.accumulate(g.x(), g.grad_op(OpKind::ConvGradInput, "grad_input", {g.dy, g.in[1]}, grad_in));
  g.param_grad(g.in[1], g.grad_op(OpKind::ConvGradWeight, "grad_weight", {g.dy, g.x()}, a));
  if (a.bias) g.param_grad(g.in[2], g.grad_op(OpKind::BiasGrad, "grad_bias", {g.dy}));
}

// Through the batch statistics the training forward computed.
void BatchNorm(const OpGradient& g) {
  ir::ValueId stats = g.y_producer().inputs[1];  // BnApply(x, stats, weight, bias)
  ir::Attrs eps;
  eps.eps = g.op.attrs.eps;
  g.accumulate(g.x(), g.grad_op(OpKind::BnGradInput, "grad_input", {g.dy, g.x(), stats, g.in[1]}, eps));
  g.param_grad(g.in[1], g.grad_op(OpKind::BnGradWeight, "grad_weight", {g.dy, g.x(), stats}, eps));
  g.param_grad(g.in[2], g.grad_op(OpKind::BiasGrad, "grad_bias", {g.dy}));
}

void Linear(const OpGradient& g) {
  if (g.x_needs_grad) g.accumulate(g.x(), g.grad_op(OpKind::LinearGradInput, "grad_input", {g.dy, g.in[1]}));
  g.param_grad(g.in[1], g.grad_op(OpKind::LinearGradWeight, "grad_weight", {g.dy, g.x()}));
  if (g.op.attrs.bias) g.param_grad(g.in[2], g.grad_op(OpKind::BiasGrad, "grad_bias", {g.dy}));
}

}  // namespace resnetc::autodiff::gradients
