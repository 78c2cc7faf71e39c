// How the reference runs the ops the optimization passes make.
#include "compiler/reference/run.h"

namespace resnetc::reference::run {

ops::Buffer Fused(const OpArgs& args) {
  std::vector<ops::TensorRef> inputs;
  for (size_t i = 0; i < args.input_count(); ++i) inputs.push_back(args.in(i));
  return ops::fused(inputs, args.attrs.program, args.attrs.shape);
}

ops::Buffer View(const OpArgs& args) {
  return ops::view(args.in(0), args.attrs.offset, ir::numel(args.attrs.shape));
}

}  // namespace resnetc::reference::run
