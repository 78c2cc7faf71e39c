// How the reference runs the network's ops, as the language describes them.
#include "compiler/reference/run.h"

namespace resnetc::reference::run {

// The identity in evaluation; training runs the mask ops.
ops::Buffer Dropout(const OpArgs& args) { return ops::copy(args.in(0)); }

ops::Buffer DropPath(const OpArgs& args) { return ops::copy(args.in(0)); }

}  // namespace resnetc::reference::run
