// How the reference runs the network's ops, as the language describes them.
#include "compiler/reference/run.h"

namespace resnetc::reference::run {

namespace {
// conv2d's and linear's optional bias follows the weight.
bool has_bias(const OpArgs& args) { return args.input_count() > 2; }
}  // namespace

ops::Buffer Conv2d(const OpArgs& args) {
  const ops::TensorRef bias = has_bias(args) ? args.in(2) : args.in(1);
  return ops::conv2d(args.in(0), args.in(1), has_bias(args) ? &bias : nullptr, args.attrs, args.out_shape);
}

ops::Buffer BatchNorm(const OpArgs& args) {
  return ops::batchnorm(args.in(0), args.in(1), args.in(2), args.in(3), args.in(4), args.attrs.eps);
}

ops::Buffer Relu(const OpArgs& args) { return ops::relu(args.in(0)); }

ops::Buffer Add(const OpArgs& args) { return ops::add(args.in(0), args.in(1)); }

ops::Buffer Linear(const OpArgs& args) {
  const ops::TensorRef bias = has_bias(args) ? args.in(2) : args.in(1);
  return ops::linear(args.in(0), args.in(1), has_bias(args) ? &bias : nullptr);
}

// The identity in evaluation; training runs the mask ops.
ops::Buffer Dropout(const OpArgs& args) { return ops::copy(args.in(0)); }

ops::Buffer DropPath(const OpArgs& args) { return ops::copy(args.in(0)); }

}  // namespace resnetc::reference::run
