#include "compiler/ir/ops.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join moved here in fmt 11

#include <array>

namespace resnetc::ir {
namespace {

constexpr std::array kOps = {
#define OP(kind, name, lead, group, lead_writes, group_writes, attributes, color, skeleton) \
  OpInfo{OpKind::kind, name, lead, group, lead_writes, group_writes, attributes, color, Skeleton::skeleton},
#include "compiler/ir/ops.def"
#undef OP
};
static_assert(kOps.size() == static_cast<size_t>(kLastOpKind) + 1, "one row per OpKind");

constexpr bool rows_in_enum_order() {
  for (size_t i = 0; i < kOps.size(); ++i)
    if (static_cast<size_t>(kOps[i].kind) != i) return false;
  return true;
}
static_assert(rows_in_enum_order());

bool same_pair(const int64_t (&a)[2], const int64_t (&b)[2]) { return a[0] == b[0] && a[1] == b[1]; }

}  // namespace

std::string_view attr_field_name(AttrField field) {
  switch (field) {
#define RESNETC_ATTR_NAME(field, name, printed_always) \
  case AttrField::field: return name;
    RESNETC_ATTRIBUTES(RESNETC_ATTR_NAME)
#undef RESNETC_ATTR_NAME
  }
  return "?";
}

bool attr_printed_always(AttrField field) {
  switch (field) {
#define RESNETC_ATTR_PRINTED(field, name, printed_always) \
  case AttrField::field: return printed_always;
    RESNETC_ATTRIBUTES(RESNETC_ATTR_PRINTED)
#undef RESNETC_ATTR_PRINTED
  }
  return false;
}

bool attr_is_default(const Attrs& a, AttrField field) {
  static const Attrs d{};
  switch (field) {
    case AttrField::OutChannels: return a.out_channels == d.out_channels;
    case AttrField::OutFeatures: return a.out_features == d.out_features;
    case AttrField::Kernel: return same_pair(a.kernel, d.kernel);
    case AttrField::Stride: return same_pair(a.stride, d.stride);
    case AttrField::Padding: return same_pair(a.padding, d.padding);
    case AttrField::Dilation: return same_pair(a.dilation, d.dilation);
    case AttrField::CeilMode: return a.ceil_mode == d.ceil_mode;
    case AttrField::CountIncludePad: return a.count_include_pad == d.count_include_pad;
    case AttrField::Groups: return a.groups == d.groups;
    case AttrField::Bias: return a.bias == d.bias;
    case AttrField::Eps: return a.eps == d.eps;  // exact on purpose: NaN is never a default
    case AttrField::Momentum: return a.momentum == d.momentum;
    case AttrField::WeightDecay: return a.weight_decay == d.weight_decay;
    case AttrField::Shape: return a.shape.empty();
    case AttrField::Offset: return a.offset == d.offset;
    case AttrField::Counts: return a.counts.empty();
    case AttrField::Program: return a.program.empty() && a.program.results.empty() && !a.program.reduce;
    case AttrField::Epilogue: return a.epilogue == d.epilogue;
    case AttrField::Rate: return a.rate == d.rate;
    case AttrField::Salt: return a.salt == d.salt;
    case AttrField::Nesterov: return a.nesterov == d.nesterov;
    case AttrField::Beta2: return a.beta2 == d.beta2;
    case AttrField::LabelSmoothing: return a.label_smoothing == d.label_smoothing;
  }
  return true;
}

std::string format_attr(const Attrs& a, AttrField field) {
  switch (field) {
    case AttrField::OutChannels: return fmt::format("{}", a.out_channels);
    case AttrField::OutFeatures: return fmt::format("{}", a.out_features);
    case AttrField::Kernel: return fmt::format("{}x{}", a.kernel[0], a.kernel[1]);
    case AttrField::Stride: return fmt::format("{}x{}", a.stride[0], a.stride[1]);
    case AttrField::Padding: return fmt::format("{}x{}", a.padding[0], a.padding[1]);
    case AttrField::Dilation: return fmt::format("{}x{}", a.dilation[0], a.dilation[1]);
    case AttrField::CeilMode: return a.ceil_mode ? "true" : "false";
    case AttrField::CountIncludePad: return a.count_include_pad ? "true" : "false";
    case AttrField::Groups: return fmt::format("{}", a.groups);
    case AttrField::Bias: return a.bias ? "true" : "false";
    case AttrField::Eps: return fmt::format("{}", a.eps);
    case AttrField::Momentum: return fmt::format("{}", a.momentum);
    case AttrField::WeightDecay: return fmt::format("{}", a.weight_decay);
    case AttrField::Shape: return format_dims(a.shape);
    case AttrField::Offset: return fmt::format("{}", a.offset);
    case AttrField::Counts: return fmt::format("[{}]", fmt::join(a.counts, ", "));
    case AttrField::Program: return format_program(a.program);
    case AttrField::Epilogue: return a.epilogue ? "true" : "false";
    case AttrField::Rate: return fmt::format("{}", a.rate);
    case AttrField::Salt: return fmt::format("{}", a.salt);
    case AttrField::Nesterov: return a.nesterov ? "true" : "false";
    case AttrField::Beta2: return fmt::format("{}", a.beta2);
    case AttrField::LabelSmoothing: return fmt::format("{}", a.label_smoothing);
  }
  return "?";
}

bool is_known_op_kind(OpKind kind) { return static_cast<size_t>(kind) < kOps.size(); }

const OpInfo& op_info(OpKind kind) { return kOps.at(static_cast<size_t>(kind)); }

std::optional<OpKind> op_kind_from_name(std::string_view name) {
  for (const OpInfo& row : kOps)
    if (row.name == name) return row.kind;
  return std::nullopt;
}

bool op_uses_attr(OpKind kind, AttrField field) {
  return is_known_op_kind(kind) && (op_info(kind).attributes & attr_bit(field)) != 0;
}

Skeleton op_skeleton(OpKind kind) { return is_known_op_kind(kind) ? op_info(kind).skeleton : Skeleton::None; }

// graph.h's questions about a kind, answered from its row.

std::string_view op_kind_name(OpKind kind) { return is_known_op_kind(kind) ? op_info(kind).name : "?"; }

bool is_update(OpKind kind) {
  return is_known_op_kind(kind) && (op_info(kind).lead_writes != 0 || op_info(kind).group_writes != 0);
}

bool is_variadic(OpKind kind) { return is_known_op_kind(kind) && op_info(kind).group != 0; }

bool writes_input(OpKind kind, size_t index) {
  if (!is_known_op_kind(kind)) return false;
  const OpInfo& row = op_info(kind);
  if (index < row.lead) return (row.lead_writes >> index & 1) != 0;
  if (row.group == 0) return false;
  return (row.group_writes >> ((index - row.lead) % row.group) & 1) != 0;
}

}  // namespace resnetc::ir
