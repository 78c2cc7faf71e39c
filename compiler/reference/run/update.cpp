// How the reference runs the updates: in place, through OpArgs::mut, with no output.
#include "compiler/reference/run.h"

namespace resnetc::reference::run {

// param, grad, lr
ops::Buffer SgdUpdate(const OpArgs& args) {
  ops::sgd_update(args.mut(0), args.in(1), args.in(2)[0], args.attrs.weight_decay);
  return {};
}

// param, grad, lr, velocity
ops::Buffer SgdMomentumUpdate(const OpArgs& args) {
  ops::sgd_momentum_update(args.mut(0), args.in(1), args.in(2)[0], args.mut(3), args.attrs.momentum,
                           args.attrs.weight_decay);
  return {};
}

// running_mean, running_var, stats; n = N*H*W of the normalized input's `shape`
ops::Buffer BnRunningUpdate(const OpArgs& args) {
  const ir::Dims& x = args.attrs.shape;
  ops::bn_running_update(args.mut(0), args.mut(1), args.in(2), args.attrs.momentum, x[0] * x[2] * x[3]);
  return {};
}

// lr, then (param, grad) per member
ops::Buffer SgdUpdateGroup(const OpArgs& args) {
  for (size_t m = 1; m < args.input_count(); m += 2)
    ops::sgd_update(args.mut(m), args.in(m + 1), args.in(0)[0], args.attrs.weight_decay);
  return {};
}

// lr, then (param, grad, velocity) per member
ops::Buffer SgdMomentumUpdateGroup(const OpArgs& args) {
  for (size_t m = 1; m < args.input_count(); m += 3)
    ops::sgd_momentum_update(args.mut(m), args.in(m + 1), args.in(0)[0], args.mut(m + 2), args.attrs.momentum,
                             args.attrs.weight_decay);
  return {};
}

// (running_mean, running_var, stats) per member; `counts` holds each n
ops::Buffer BnRunningUpdateGroup(const OpArgs& args) {
  for (size_t m = 0; m < args.input_count(); m += 3)
    ops::bn_running_update(args.mut(m), args.mut(m + 1), args.in(m + 2), args.attrs.momentum, args.attrs.counts[m / 3]);
  return {};
}

}  // namespace resnetc::reference::run
