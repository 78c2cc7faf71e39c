#include "compiler/ir/verify/kind_checks.h"

#include <iterator>

namespace resnetc::ir {
namespace {
// Indexed by OpKind (ops.cpp checks that the rows are in enum order).
const KindChecks* const kKindChecks[] = {
#define OP(kind, ...) &kind_checks::kind,
#include "compiler/ir/ops.def"
#undef OP
};
static_assert(std::size(kKindChecks) == static_cast<size_t>(kLastOpKind) + 1, "one KindChecks per OpKind");
}  // namespace

const KindChecks& checks_of(OpKind kind) { return *kKindChecks[static_cast<size_t>(kind)]; }

}  // namespace resnetc::ir
