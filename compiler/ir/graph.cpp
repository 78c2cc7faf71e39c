#include "compiler/ir/graph.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace resnetc::ir {

bool reads_register_a(FusedOpcode code) {
  return code != FusedOpcode::Load && code != FusedOpcode::LoadChannel && code != FusedOpcode::Const &&
         code != FusedOpcode::LoadPlane && code != FusedOpcode::MaskKey && code != FusedOpcode::AtLabel &&
         code != FusedOpcode::Gather;
}

bool reads_register_b(FusedOpcode code) {
  return code == FusedOpcode::Add || code == FusedOpcode::Sub || code == FusedOpcode::Mul ||
         code == FusedOpcode::ReluMask || code == FusedOpcode::Max || code == FusedOpcode::Keep ||
         code == FusedOpcode::KeepSample || code == FusedOpcode::Div || code == FusedOpcode::OnLabel ||
         code == FusedOpcode::Select;
}

bool reads_register_c(FusedOpcode code) { return code == FusedOpcode::Select; }

bool reads_only(const FusedInstr& in, const std::vector<bool>& marked) {
  return (!reads_register_a(in.code) || marked.at(static_cast<size_t>(in.a))) &&
         (!reads_register_b(in.code) || marked.at(static_cast<size_t>(in.b))) &&
         (!reads_register_c(in.code) || marked.at(static_cast<size_t>(in.c)));
}

std::string_view fused_opcode_name(FusedOpcode code) {
  switch (code) {
    case FusedOpcode::Load: return "load";
    case FusedOpcode::LoadChannel: return "channel";
    case FusedOpcode::Const: return "const";
    case FusedOpcode::Add: return "add";
    case FusedOpcode::Sub: return "sub";
    case FusedOpcode::Mul: return "mul";
    case FusedOpcode::Relu: return "relu";
    case FusedOpcode::ReluMask: return "relu_mask";
    case FusedOpcode::Rsqrt: return "rsqrt";
    case FusedOpcode::LoadPlane: return "plane";
    case FusedOpcode::Sigmoid: return "sigmoid";
    case FusedOpcode::Max: return "max";
    case FusedOpcode::MaskKey: return "mask_key";
    case FusedOpcode::Keep: return "keep";
    case FusedOpcode::KeepSample: return "keep_sample";
    case FusedOpcode::Div: return "div";
    case FusedOpcode::Sqrt: return "sqrt";
    case FusedOpcode::Exp: return "exp";
    case FusedOpcode::Log: return "log";
    case FusedOpcode::AtLabel: return "at_label";
    case FusedOpcode::OnLabel: return "on_label";
    case FusedOpcode::Gather: return "gather";
    case FusedOpcode::Select: return "select";
  }
  return "?";
}

bool reads_mask_key(const FusedProgram& program, int32_t input) {
  for (const FusedInstr& in : program.instrs)
    if (in.code == FusedOpcode::MaskKey && in.a == input) return true;
  return false;
}

int64_t numel(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int64_t op_param_count(const Graph& graph, const Op& op) {
  int64_t count = 0;
  for (ValueId id : op.inputs)
    if (graph.value(id).role == ValueRole::Parameter) count += numel(graph.shape(id));
  return count;
}

int64_t op_macs(const Graph& graph, const Op& op) {
  // Both are (output elements) x (weights feeding each output element).
  if (op.kind == OpKind::Conv2d) {
    const Dims& w = graph.shape(op.inputs[1]);
    return numel(graph.shape(op.output)) * w[1] * w[2] * w[3];
  }
  if (op.kind == OpKind::Linear) return numel(graph.shape(op.output)) * graph.shape(op.inputs[1])[1];
  return 0;
}

std::string format_program(const FusedProgram& p) {
  std::vector<std::string> lines;
  for (size_t i = 0; i < p.instrs.size(); ++i) {
    const FusedInstr& in = p.instrs[i];
    std::string args;
    switch (in.code) {
      case FusedOpcode::Load:
      case FusedOpcode::LoadPlane:
      case FusedOpcode::AtLabel: args = fmt::format("{}", in.a); break;
      case FusedOpcode::LoadChannel: args = fmt::format("{},{}", in.a, in.b); break;
      case FusedOpcode::Const: args = fmt::format("{}", in.value); break;
      case FusedOpcode::MaskKey: args = fmt::format("{},{}", in.a, in.value); break;
      case FusedOpcode::Keep:
      case FusedOpcode::KeepSample: args = fmt::format("r{},r{},{}", in.a, in.b, in.value); break;
      case FusedOpcode::Gather: {
        std::vector<std::string> axes;
        const auto b = static_cast<size_t>(in.b);
        for (const GatherAxis& x : b < p.gathers.size() ? p.gathers[b] : GatherMap{})
          axes.push_back(x.den == 1 ? fmt::format("{}", x.num) : fmt::format("{}/{}", x.num, x.den));
        args = fmt::format("{},[{}]", in.a, fmt::join(axes, ","));
        break;
      }
      case FusedOpcode::Select: args = fmt::format("r{},r{},r{}", in.a, in.b, in.c); break;
      default:
        args = reads_register_b(in.code) ? fmt::format("r{},r{}", in.a, in.b) : fmt::format("r{}", in.a);
    }
    lines.push_back(fmt::format("r{}={}({})", i, fused_opcode_name(in.code), args));
  }
  std::vector<std::string> results;
  for (int32_t r : p.results) results.push_back(fmt::format("r{}", r));
  return fmt::format("{{{}}} -> {}", fmt::join(lines, "; "),
                     p.reduce ? fmt::format("sum({})", fmt::join(results, ",")) : fmt::format("{}", fmt::join(results, ",")));
}

std::string format_dims(const Dims& dims) { return fmt::format("[{}]", fmt::join(dims, ", ")); }

}  // namespace resnetc::ir
