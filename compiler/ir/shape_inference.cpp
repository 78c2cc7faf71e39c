#include "compiler/ir/shape_inference.h"

#include <fmt/format.h>

#include <iterator>

#include "compiler/ir/ops.h"
#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"

namespace resnetc::ir {
namespace {

// The rules of every kind, indexed by OpKind (ops.cpp checks that the rows are in enum order).
using ShapeRule = ShapeResult (*)(std::span<const Dims>, const Attrs&);
constexpr ShapeRule kShapeRules[] = {
#define OP(kind, ...) &shape_rules::kind,
#include "compiler/ir/ops.def"
#undef OP
};
using ParamRule = std::vector<ParamSpec> (*)(const Dims&, const Attrs&);
constexpr ParamRule kParamRules[] = {
#define OP(kind, ...) &param_rules::kind,
#include "compiler/ir/ops.def"
#undef OP
};
static_assert(std::size(kShapeRules) == static_cast<size_t>(kLastOpKind) + 1, "one shape rule per OpKind");
static_assert(std::size(kParamRules) == static_cast<size_t>(kLastOpKind) + 1, "one parameter rule per OpKind");

std::string check_size(const Dims& dims) {
  using shape_rules::kMaxDim, shape_rules::kMaxElements;
  int64_t total = 1;
  for (int64_t d : dims) {
    if (d < 1) return fmt::format("shape {} has a dimension below 1", format_dims(dims));
    if (d > kMaxDim) return fmt::format("shape {} has a dimension larger than 2^31", format_dims(dims));
    if (total > kMaxElements / d) return fmt::format("shape {} has more than 2^40 elements", format_dims(dims));
    total *= d;
  }
  return {};
}

}  // namespace

size_t data_input_count(OpKind kind, size_t input_count) {
  if (!is_known_op_kind(kind) || is_variadic(kind)) return input_count;
  return op_info(kind).lead;
}

ShapeResult infer_shape(OpKind kind, std::span<const Dims> data, const Attrs& attrs) {
  using shape_rules::fail;
  if (data.size() != data_input_count(kind, data.size()))
    return fail(fmt::format("{} takes {} data inputs, got {}", op_kind_name(kind), data_input_count(kind, data.size()),
                            data.size()));
  if (data.empty()) return fail(fmt::format("{} takes at least one input", op_kind_name(kind)));
  for (const Dims& d : data)
    if (std::string e = check_size(d); !e.empty()) return fail(e);
  if (!is_known_op_kind(kind)) return fail("unknown op kind");
  ShapeResult r = kShapeRules[static_cast<size_t>(kind)](data, attrs);
  if (r.ok())
    if (std::string e = check_size(r.dims); !e.empty()) return fail(e);
  if (r.ok()) {
    // Parameters must be representable too (a 2^20-channel 1x1 conv has 2^40 weights).
    for (const ParamSpec& p : param_specs(kind, data[0], attrs))
      if (std::string e = check_size(p.shape); !e.empty()) return fail(fmt::format("{} {}", p.suffix, e));
  }
  return r;
}

std::vector<ParamSpec> param_specs(OpKind kind, const Dims& x, const Attrs& a) {
  if (!is_known_op_kind(kind)) return {};
  return kParamRules[static_cast<size_t>(kind)](x, a);
}

}  // namespace resnetc::ir
