#pragma once
// The graph verifier: run after the DSL lowering and after every pass, so a pass that breaks
// the IR is caught at the pass, not three passes later in a kernel.
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/ir/graph.h"

namespace resnetc::ir {

// Every problem found, one message each (empty: the graph is valid). Messages name what they
// are about: "op 'stage2.block0.conv1' (conv2d): ...", "parameter 'x.weight': ...",
// "graph: ...". Never throws and never reads out of bounds, however broken the graph.
std::vector<std::string> verify(const Graph& graph);

class VerifyError : public std::runtime_error {
 public:
  VerifyError(std::string message, std::vector<std::string> found)
      : std::runtime_error(std::move(message)), problems(std::move(found)) {}
  std::vector<std::string> problems;
};

// Throws VerifyError when verify() finds anything; the message reads
// "graph 'g' is invalid after 'dsl lowering' (2 problems):\n  - ...\n  - ...".
void verify_or_throw(const Graph& graph, std::string_view after_what);

// The attributes of Attrs, and which op kinds read which. An attribute an op kind does not
// read must stay at its default (the verifier checks it; the printer shows it when it does not).
enum class AttrField : uint8_t {
  OutChannels, OutFeatures, Kernel, Stride, Padding, Groups, Bias, Eps, Momentum, WeightDecay, Shape, Offset,
  Counts, Program, Epilogue
};
inline constexpr AttrField kAllAttrFields[] = {
    AttrField::OutChannels, AttrField::OutFeatures, AttrField::Kernel, AttrField::Stride,
    AttrField::Padding,     AttrField::Groups,      AttrField::Bias,   AttrField::Eps,
    AttrField::Momentum,    AttrField::WeightDecay, AttrField::Shape,  AttrField::Offset,
    AttrField::Counts,      AttrField::Program,     AttrField::Epilogue};

std::string_view attr_field_name(AttrField field);  // "out_channels", "kernel", ...
bool op_uses_attr(OpKind kind, AttrField field);
bool attr_is_default(const Attrs& attrs, AttrField field);
std::string format_attr(const Attrs& attrs, AttrField field);  // the value only: "64", "3x3", "true", "1e-05"

// False for a value outside the OpKind enumerators (a corrupted op).
bool is_known_op_kind(OpKind kind);

}  // namespace resnetc::ir
