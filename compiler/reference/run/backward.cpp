// How the reference runs the backward ops.
#include "compiler/reference/run.h"

namespace resnetc::reference::run {

ops::Buffer SoftmaxCrossEntropyGrad(const OpArgs& args) {
  return ops::softmax_cross_entropy_grad(args.in(0), args.in(1));
}

ops::Buffer BnGradWeight(const OpArgs& args) {
  return ops::bn_grad_weight(args.in(0), args.in(1), args.in(2), args.attrs.eps);
}

ops::Buffer BnGradInput(const OpArgs& args) {
  return ops::bn_grad_input(args.in(0), args.in(1), args.in(2), args.in(3), args.attrs.eps);
}

ops::Buffer ReluGrad(const OpArgs& args) { return ops::relu_grad(args.in(0), args.in(1)); }

}  // namespace resnetc::reference::run
