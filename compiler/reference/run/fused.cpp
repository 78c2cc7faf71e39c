// How the reference runs the ops the optimization passes make: views.
#include "compiler/reference/run.h"

namespace resnetc::reference::run {

ops::Buffer View(const OpArgs& args) {
  return ops::view(args.in(0), args.attrs.offset, ir::numel(args.attrs.shape));
}

}  // namespace resnetc::reference::run
