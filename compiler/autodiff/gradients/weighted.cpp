// BatchNorm's gradient: its input's, and each parameter's, for its update (conv2d's and
// linear's are in compiler/ops/dense.cpp).
#include "compiler/autodiff/gradients/rule.h"

namespace resnetc::autodiff::gradients {

using ir::OpKind;

// Through the batch statistics the training forward computed.
void BatchNorm(const OpGradient& g) {
  ir::ValueId stats = g.y_producer().inputs[1];  // BnApply(x, stats, weight, bias)
  ir::Attrs eps;
  eps.eps = g.op.attrs.eps;
  g.accumulate(g.x(), g.grad_op(OpKind::BnGradInput, "grad_input", {g.dy, g.x(), stats, g.in[1]}, eps));
  g.param_grad(g.in[1], g.grad_op(OpKind::BnGradWeight, "grad_weight", {g.dy, g.x(), stats}, eps));
  g.param_grad(g.in[2], g.grad_op(OpKind::BiasGrad, "grad_bias", {g.dy}));
}

}  // namespace resnetc::autodiff::gradients
