// How the reference runs the training forward's ops: the loss.
#include "compiler/reference/run.h"

namespace resnetc::reference::run {

ops::Buffer SoftmaxCrossEntropy(const OpArgs& args) { return ops::softmax_cross_entropy(args.in(0), args.in(1)); }

}  // namespace resnetc::reference::run
