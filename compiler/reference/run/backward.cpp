// How the reference runs the backward ops.
#include "compiler/reference/run.h"

namespace resnetc::reference::run {

ops::Buffer SoftmaxCrossEntropyGrad(const OpArgs& args) {
  return ops::softmax_cross_entropy_grad(args.in(0), args.in(1));
}

}  // namespace resnetc::reference::run
