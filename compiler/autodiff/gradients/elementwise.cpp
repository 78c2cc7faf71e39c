// Gradients of the elementwise ops and the residual add.
#include "compiler/autodiff/gradients/rule.h"

namespace resnetc::autodiff::gradients {

using ir::OpKind;

void Relu(const OpGradient& g) { g.accumulate(g.x(), g.grad_op(OpKind::ReluGrad, "grad", {g.dy, g.y})); }

void Sigmoid(const OpGradient& g) { g.accumulate(g.x(), g.grad_op(OpKind::SigmoidGrad, "grad", {g.dy, g.y})); }

void Silu(const OpGradient& g) { g.accumulate(g.x(), g.grad_op(OpKind::SiluGrad, "grad", {g.dy, g.x()})); }

// y = x * gate: dx = dy * gate, dgate = the sum over each plane of dy * x
void ChannelMul(const OpGradient& g) {
  g.accumulate(g.x(), g.grad_op(OpKind::ChannelMul, "grad_input", {g.dy, g.in[1]}));
  g.accumulate(g.in[1], g.grad_op(OpKind::ChannelMulGradGate, "grad_gate", {g.dy, g.x()}));
}

void Add(const OpGradient& g) {
  g.accumulate(g.in[0], g.dy);
  g.accumulate(g.in[1], g.dy);
}

}  // namespace resnetc::autodiff::gradients
