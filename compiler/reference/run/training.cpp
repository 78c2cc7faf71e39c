// How the reference runs the training forward's ops: BatchNorm with batch statistics, the
// dropout masks and the loss.
#include "compiler/reference/run.h"

namespace resnetc::reference::run {

ops::Buffer BnStats(const OpArgs& args) { return ops::bn_stats(args.in(0)); }

ops::Buffer BnApply(const OpArgs& args) {
  return ops::bn_apply(args.in(0), args.in(1), args.in(2), args.in(3), args.attrs.eps);
}

ops::Buffer SoftmaxCrossEntropy(const OpArgs& args) { return ops::softmax_cross_entropy(args.in(0), args.in(1)); }

ops::Buffer DropoutMask(const OpArgs& args) { return ops::random_mask(args.in(0), args.in(1), args.attrs, false); }

ops::Buffer DropPathMask(const OpArgs& args) { return ops::random_mask(args.in(0), args.in(1), args.attrs, true); }

}  // namespace resnetc::reference::run
