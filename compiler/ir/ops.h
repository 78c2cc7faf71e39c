#pragma once
// What each op kind is, derived from the op table (ops.def), and the attribute schema: which
// Attrs fields exist and which op kinds read them.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "compiler/ir/graph.h"

namespace resnetc::ir {

// The attributes of Attrs, one row each: ATTRIBUTE(Field, "name", printed_always). An
// attribute an op kind does not read must stay at its default (the verifier checks it; the
// printer shows it when it does not); `printed_always` ones define an op's output shape, so
// the printer shows them even at their default on the kinds that read them.
// Adding an attribute: its field in Attrs (graph.h, with its default), a row here, its case in
// attr_is_default and format_attr (ops.cpp), and its name in the `attributes` of the rows of
// ops.def that read it.
#define RESNETC_ATTRIBUTES(ATTRIBUTE)             \
  ATTRIBUTE(OutChannels, "out_channels", true)    \
  ATTRIBUTE(OutFeatures, "out_features", true)    \
  ATTRIBUTE(Kernel, "kernel", true)               \
  ATTRIBUTE(Stride, "stride", true)               \
  ATTRIBUTE(Padding, "padding", true)             \
  ATTRIBUTE(Dilation, "dilation", false)          \
  ATTRIBUTE(CeilMode, "ceil_mode", false)         \
  ATTRIBUTE(CountIncludePad, "count_include_pad", false) \
  ATTRIBUTE(Groups, "groups", false)              \
  ATTRIBUTE(Bias, "bias", false)                  \
  ATTRIBUTE(Eps, "eps", false)                    \
  ATTRIBUTE(Momentum, "momentum", false)          \
  ATTRIBUTE(WeightDecay, "weight_decay", false)   \
  ATTRIBUTE(Shape, "shape", false)                \
  ATTRIBUTE(Offset, "offset", false)              \
  ATTRIBUTE(Counts, "counts", false)              \
  ATTRIBUTE(Program, "program", false)            \
  ATTRIBUTE(Epilogue, "epilogue", false)          \
  ATTRIBUTE(Rate, "rate", true)                   \
  ATTRIBUTE(Salt, "salt", false)                  \
  ATTRIBUTE(Nesterov, "nesterov", false)          \
  ATTRIBUTE(Beta2, "beta2", false)                \
  ATTRIBUTE(LabelSmoothing, "label_smoothing", false)

enum class AttrField : uint8_t {
#define RESNETC_ATTR_ENUM(field, name, printed_always) field,
  RESNETC_ATTRIBUTES(RESNETC_ATTR_ENUM)
#undef RESNETC_ATTR_ENUM
};
inline constexpr AttrField kAllAttrFields[] = {
#define RESNETC_ATTR_LIST(field, name, printed_always) AttrField::field,
    RESNETC_ATTRIBUTES(RESNETC_ATTR_LIST)
#undef RESNETC_ATTR_LIST
};

// A set of attributes, as the rows of ops.def name them: attrs::Kernel | attrs::Stride.
using AttrSet = uint32_t;
static_assert(std::size(kAllAttrFields) <= 32, "AttrSet holds one bit per attribute");
constexpr AttrSet attr_bit(AttrField field) { return AttrSet{1} << static_cast<unsigned>(field); }
namespace attrs {
#define RESNETC_ATTR_BIT(field, name, printed_always) inline constexpr AttrSet field = attr_bit(AttrField::field);
RESNETC_ATTRIBUTES(RESNETC_ATTR_BIT)
#undef RESNETC_ATTR_BIT
inline constexpr AttrSet window = Kernel | Stride | Padding;  // pooling windows
inline constexpr AttrSet conv = OutChannels | window | Dilation | Groups | Bias;
}  // namespace attrs

std::string_view attr_field_name(AttrField field);  // "out_channels", "kernel", ...
bool attr_printed_always(AttrField field);
bool attr_is_default(const Attrs& attrs, AttrField field);
std::string format_attr(const Attrs& attrs, AttrField field);  // the value only: "64", "3x3", "true", "1e-05"

// The shape of the loop nest that computes an op kind (its row's `skeleton`). Each backend
// renders every skeleton but None and Alias with one family emitter, looked up by skeleton, so
// a new op whose kernel fits a skeleton reaches its emitter from its row alone.
enum class Skeleton : uint8_t {
  None,               // never a kernel: lowered to other ops before the plan (passes/lower_maps.cpp)
  Alias,              // never a kernel: the plan makes the output a view of input 0
  WindowContraction,  // a matrix product over windows of the input (implicit GEMM): conv and its gradients
  Contraction,        // a dense matrix product: linear and its gradients
  PerChannel,         // per channel, over its N*H*W elements: sums (statistics, their gradients) and maps
  Map,                // each output element from the inputs at its index or gathered from others (copies,
                      // broadcasts, strided and zero-padded copies): a map program (ir/map_program.h)
  Window,             // each output element from a window of its input plane: pooling and its gradients
  Loss,               // per row of logits (a softmax over the classes), then the mean over the batch
  Update,             // in place over parameters and state: the optimizer, BatchNorm's running statistics
  Fused,              // the fusion passes' programs over the scalar instruction set
};

// One row of ops.def; see there for what each field means.
struct OpInfo {
  OpKind kind;
  std::string_view name;
  uint8_t lead;          // data inputs first
  uint8_t group;         // 0: fixed arity; else variadic, in members of this many inputs
  uint32_t lead_writes;  // bit k: writes input k
  uint32_t group_writes; // bit k: writes input k of each member
  AttrSet attributes;
  std::string_view dot_color;  // "" when drawn plain
  Skeleton skeleton;
};

// False for a value outside the OpKind enumerators (a corrupted op).
bool is_known_op_kind(OpKind kind);
// The row of a known kind.
const OpInfo& op_info(OpKind kind);
// The kind the IR text names `name` ("conv2d"), if any.
std::optional<OpKind> op_kind_from_name(std::string_view name);
bool op_uses_attr(OpKind kind, AttrField field);
// The skeleton of a kind's kernel; None for a value outside the enumerators.
Skeleton op_skeleton(OpKind kind);

}  // namespace resnetc::ir
