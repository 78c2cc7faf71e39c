#include "compiler/ir/verify/kind_checks.h"

#include <iterator>

namespace resnetc::ir {
namespace kind_checks {
// Kinds the shape rule and the attribute schema check fully, each named so that a new row
// must choose.
RESNETC_NO_KIND_CHECKS(View)

}  // namespace kind_checks

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
