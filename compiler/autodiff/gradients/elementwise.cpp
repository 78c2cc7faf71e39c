// Gradients of dropout and drop-path.
#include "compiler/autodiff/gradients/rule.h"

namespace resnetc::autodiff::gradients {

using ir::OpKind;

namespace {
// The training forward applied a mask op (x, rng); the mask is its own gradient, drawn again
// from the same (seed, step, salt), so none is stored.
void mask_again(const OpGradient& g) {
  const ir::Op& mask = g.y_producer();
  g.accumulate(g.x(), g.grad_op(mask.kind, "grad", {g.dy, mask.inputs[1]}, mask.attrs));
}
}  // namespace

void Dropout(const OpGradient& g) { mask_again(g); }

void DropPath(const OpGradient& g) { mask_again(g); }

}  // namespace resnetc::autodiff::gradients
