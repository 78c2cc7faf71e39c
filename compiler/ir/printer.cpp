#include "compiler/ir/printer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join moved here in fmt 11

#include "compiler/ir/maps.h"
#include "compiler/ir/ops.h"

namespace resnetc::ir {
namespace {

bool plain_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-';
    if (!ok) return false;
  }
  return true;
}

// A name as the text form writes it: plain names as they are, others in double quotes with
// `"`, `\` and control characters escaped, so one printed line is always one op.
std::string quote_name(std::string_view name) {
  if (plain_name(name)) return std::string(name);
  std::string out = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string attr_list(const Op& op) {
  std::vector<std::string> parts;
  bool known = is_known_op_kind(op.kind);
  for (AttrField f : kAllAttrFields) {
    bool required = known && op_uses_attr(op.kind, f) && attr_printed_always(f);
    if (required || !attr_is_default(op.attrs, f))
      parts.push_back(fmt::format("{}={}", attr_field_name(f), format_attr(op.attrs, f)));
  }
  for (std::string& a : format_map_attributes(op.kind, op.attrs)) parts.push_back(std::move(a));
  if (parts.empty()) return {};
  return fmt::format(" {{{}}}", fmt::join(parts, ", "));
}

std::string kind_text(OpKind kind) {
  if (is_known_op_kind(kind)) return std::string(op_kind_name(kind));
  return fmt::format("unknown_kind_{}", static_cast<int>(kind));
}

std::string location_text(const SourceLoc& loc) {
  if (!loc.valid()) return {};
  if (loc.col == 0) return fmt::format("{}:{}", *loc.file, loc.line);
  return fmt::format("{}:{}:{}", *loc.file, loc.line, loc.col);
}

std::string_view decl_keyword(ValueRole role) {
  switch (role) {
    case ValueRole::Input: return "input";
    case ValueRole::Parameter: return "param";
    case ValueRole::State: return "state";
    case ValueRole::Activation: return "value";
  }
  return "value";
}

bool valid_id(const Graph& g, ValueId id) { return id >= 0 && static_cast<size_t>(id) < g.values.size(); }

}  // namespace

std::string ir_value_ref(const Graph& graph, ValueId id) {
  if (!valid_id(graph, id)) return fmt::format("%<bad id {}>", id);
  const Value& v = graph.value(id);
  if (v.name.empty()) return fmt::format("%<unnamed #{}>", id);
  return fmt::format("%{}", quote_name(v.name));
}

std::string op_group(std::string_view op_name, size_t depth) {
  size_t last = op_name.rfind('.');
  if (last == std::string_view::npos || depth == 0) return {};
  std::string_view prefix = op_name.substr(0, last);
  size_t end = 0;
  for (size_t n = 0; n < depth; ++n) {
    size_t dot = prefix.find('.', end);
    if (dot == std::string_view::npos) return std::string(prefix);
    end = dot + 1;
  }
  return std::string(prefix.substr(0, end - 1));
}

std::string print_ir(const Graph& g, const PrintOptions& options) {
  std::string out = fmt::format("graph {} {{\n", quote_name(g.name));
  std::vector<bool> declared(g.values.size(), false);

  auto declare = [&](ValueId id) {
    if (!valid_id(g, id) || declared[static_cast<size_t>(id)]) return;
    const Value& v = g.value(id);
    if (v.role == ValueRole::Activation) return;  // defined by its op
    declared[static_cast<size_t>(id)] = true;
    out += fmt::format("  {} {} : {}\n", decl_keyword(v.role), ir_value_ref(g, id), format_dims(v.shape));
  };

  if (valid_id(g, g.input))
    declare(g.input);
  else
    out += fmt::format("  input {}\n", ir_value_ref(g, g.input));
  declare(g.labels);
  declare(g.learning_rate);
  declare(g.rng);

  std::string previous_group;
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const Op& op = g.ops[i];
    std::string group = op_group(op.name);
    if (i > 0 && group != previous_group) out += "\n";
    previous_group = group;

    for (ValueId in : op.inputs) declare(in);
    std::vector<std::string> args;
    for (ValueId in : op.inputs) args.push_back(ir_value_ref(g, in));
    std::string line;
    if (op.output == kNoValue) {  // an update: writes into its first inputs
      line = fmt::format("  {}({}){}", kind_text(op.kind), fmt::join(args, ", "), attr_list(op));
    } else {
      std::string shape = valid_id(g, op.output) ? format_dims(g.shape(op.output)) : "?";
      line = fmt::format("  {} = {}({}){} : {}", ir_value_ref(g, op.output), kind_text(op.kind),
                         fmt::join(args, ", "), attr_list(op), shape);
    }
    if (valid_id(g, op.output) && g.value(op.output).name != op.name)
      line += fmt::format(" named {}", quote_name(op.name));  // only in a broken graph
    if (std::string loc = location_text(op.loc); options.locations && !loc.empty()) line += fmt::format("   // {}", loc);
    out += line + "\n";
  }

  bool first_unused = true;
  for (size_t i = 0; i < g.values.size(); ++i) {
    const Value& v = g.values[i];
    if (declared[i] || v.role == ValueRole::Activation) continue;
    if (first_unused) out += "\n  // not read by any op:\n";
    first_unused = false;
    declare(static_cast<ValueId>(i));
  }

  if (g.loss != kNoValue) out += fmt::format("  loss {}\n", ir_value_ref(g, g.loss));
  out += fmt::format("  return {}\n}}\n", ir_value_ref(g, g.output));
  return out;
}

}  // namespace resnetc::ir
