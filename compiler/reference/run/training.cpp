// How the reference runs the training forward's ops: the dropout masks and the loss.
#include "compiler/reference/run.h"

namespace resnetc::reference::run {

ops::Buffer SoftmaxCrossEntropy(const OpArgs& args) { return ops::softmax_cross_entropy(args.in(0), args.in(1)); }

ops::Buffer DropoutMask(const OpArgs& args) { return ops::random_mask(args.in(0), args.in(1), args.attrs, false); }

ops::Buffer DropPathMask(const OpArgs& args) { return ops::random_mask(args.in(0), args.in(1), args.attrs, true); }

}  // namespace resnetc::reference::run
