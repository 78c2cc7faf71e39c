#include "compiler/ir/dot.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join moved here in fmt 11

#include <map>

#include "compiler/ir/printer.h"
#include "compiler/ir/verifier.h"

namespace resnetc::ir {
namespace {

// Text inside an HTML-like label.
std::string html(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
          out += ' ';
        else
          out += c;
    }
  }
  return out;
}

// A double-quoted DOT string (an id or an escString attribute).
std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string thousands(int64_t n) {
  std::string digits = fmt::format("{}", n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? fmt::format("-{}", out) : out;
}

std::string_view fill_color(OpKind kind) {
  switch (kind) {
    case OpKind::Conv2d: return "#a6cee3";
    case OpKind::BatchNorm: return "#ffffb3";
    case OpKind::Relu: return "#b3de69";
    case OpKind::Add: return "#fdb462";
    case OpKind::MaxPool:
    case OpKind::AvgPool: return "#fccde5";
    case OpKind::GlobalAvgPool: return "#bebada";
    case OpKind::Flatten: return "#d9d9d9";
    case OpKind::Linear: return "#fb8072";
    default: break;  // training ops: drawn plain
  }
  return "#ffffff";
}

// "conv2d 7x7/2 pad 3", "maxpool 3x3/2", "linear".
std::string kind_summary(const Op& op) {
  if (!is_known_op_kind(op.kind)) return fmt::format("unknown kind {}", static_cast<int>(op.kind));
  std::string out(op_kind_name(op.kind));
  const Attrs& a = op.attrs;
  if (op.kind == OpKind::Conv2d || op.kind == OpKind::MaxPool || op.kind == OpKind::AvgPool) {
    out += fmt::format(" {}x{}", a.kernel[0], a.kernel[1]);
    if (a.stride[0] != 1 || a.stride[1] != 1)
      out += a.stride[0] == a.stride[1] ? fmt::format("/{}", a.stride[0])
                                        : fmt::format("/{}x{}", a.stride[0], a.stride[1]);
    if (a.padding[0] != 0 || a.padding[1] != 0)
      out += a.padding[0] == a.padding[1] ? fmt::format(" pad {}", a.padding[0])
                                          : fmt::format(" pad {}x{}", a.padding[0], a.padding[1]);
  }
  if (op.kind == OpKind::Conv2d && a.groups != 1) out += fmt::format(" groups {}", a.groups);
  return out;
}

bool valid_id(const Graph& g, ValueId id) { return id >= 0 && static_cast<size_t>(id) < g.values.size(); }

int64_t safe_param_count(const Graph& g, const Op& op) {
  int64_t count = 0;
  for (ValueId id : op.inputs)
    if (valid_id(g, id) && g.value(id).role == ValueRole::Parameter) count += numel(g.shape(id));
  return count;
}

// Clusters by dotted name, two levels deep, each holding ops and nested clusters in the order
// they first appear.
struct Cluster {
  std::string name;
  std::vector<int64_t> items;  // >= 0: op index; < 0: -(child cluster index) - 1
};

class DotWriter {
 public:
  explicit DotWriter(const Graph& g) : g_(g) {}

  std::string run() {
    build_clusters();
    int64_t params = 0;
    for (const Op& op : g_.ops) params += safe_param_count(g_, op);
    out_ += fmt::format("digraph {} {{\n", quoted(g_.name));
    out_ += fmt::format(
        "  graph [fontname=\"Helvetica\", fontsize=12, labelloc=t, label=<<b>{}</b><br/>{} ops, {} parameters>];\n",
        html(g_.name), g_.ops.size(), thousands(params));
    out_ += "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];\n";
    out_ += "  edge [color=\"#555555\", arrowsize=0.7];\n\n";

    if (valid_id(g_, g_.input))
      out_ += fmt::format("  input [shape=ellipse, style=filled, fillcolor=\"#ffffff\", label=<<b>{}</b><br/>{}>];\n",
                          html(g_.value(g_.input).name), format_dims(g_.shape(g_.input)));
    for (int64_t item : top_) write_item(item, 1);
    if (valid_id(g_, g_.output))
      out_ += fmt::format("  output [shape=ellipse, style=filled, fillcolor=\"#ffffff\", label=<<b>output</b><br/>{}>];\n",
                          format_dims(g_.shape(g_.output)));
    out_ += "\n";
    write_edges();
    out_ += "}\n";
    return std::move(out_);
  }

 private:
  void build_clusters() {
    std::map<std::string, size_t> index;
    // The cluster named `name`, created on first use as the last item of `parent` (a cluster
    // index, or top level when npos). Items are appended by index: clusters_ may reallocate.
    auto get = [&](const std::string& name, size_t parent) {
      if (auto it = index.find(name); it != index.end()) return it->second;
      clusters_.push_back({name, {}});
      size_t c = clusters_.size() - 1;
      index.emplace(name, c);
      int64_t item = -static_cast<int64_t>(c) - 1;
      if (parent == kTop)
        top_.push_back(item);
      else
        clusters_[parent].items.push_back(item);
      return c;
    };
    for (size_t i = 0; i < g_.ops.size(); ++i) {
      const std::string& name = g_.ops[i].name;
      std::string outer = op_group(name, 1), inner = op_group(name, 2);
      if (outer.empty()) {
        top_.push_back(static_cast<int64_t>(i));
        continue;
      }
      size_t c = get(outer, kTop);
      if (inner != outer) c = get(inner, c);
      clusters_[c].items.push_back(static_cast<int64_t>(i));
    }
  }

  void write_item(int64_t item, int depth) {
    std::string indent(static_cast<size_t>(2 * depth), ' ');
    if (item >= 0) {
      write_op(static_cast<size_t>(item), indent);
      return;
    }
    const Cluster& c = clusters_[static_cast<size_t>(-item - 1)];
    out_ += fmt::format("{}subgraph {} {{\n", indent, quoted(fmt::format("cluster_{}", c.name)));
    out_ += fmt::format("{}  label=<{}>; style=\"rounded\"; color=\"#888888\"; fontname=\"Helvetica\";\n", indent,
                        html(c.name));
    for (int64_t child : c.items) write_item(child, depth + 1);
    out_ += fmt::format("{}}}\n", indent);
  }

  void write_op(size_t i, const std::string& indent) {
    const Op& op = g_.ops[i];
    std::string label = fmt::format("<b>{}</b><br/>{}", html(op.name), html(kind_summary(op)));
    if (valid_id(g_, op.output)) label += fmt::format("<br/>{}", format_dims(g_.shape(op.output)));
    if (int64_t params = safe_param_count(g_, op); params > 0)
      label += fmt::format("<br/>{} param{}", thousands(params), params == 1 ? "" : "s");
    std::string tooltip;
    if (op.loc.valid())
      tooltip = fmt::format(", tooltip={}", quoted(fmt::format("{}:{}:{}", *op.loc.file, op.loc.line, op.loc.col)));
    out_ += fmt::format("{}op{} [fillcolor=\"{}\", label=<{}>{}];\n", indent, i, fill_color(op.kind), label, tooltip);
  }

  // The node that defines a value: "input", "op7", or empty when nothing does.
  std::string source_node(ValueId id) const {
    if (!valid_id(g_, id)) return {};
    if (id == g_.input) return "input";
    const Value& v = g_.value(id);
    if (v.role != ValueRole::Activation) return {};
    if (v.producer >= 0 && static_cast<size_t>(v.producer) < g_.ops.size() &&
        g_.ops[static_cast<size_t>(v.producer)].output == id)
      return fmt::format("op{}", v.producer);
    for (size_t i = 0; i < g_.ops.size(); ++i)
      if (g_.ops[i].output == id) return fmt::format("op{}", i);
    return {};
  }

  void write_edges() {
    for (size_t i = 0; i < g_.ops.size(); ++i)
      for (ValueId in : g_.ops[i].inputs)
        if (std::string from = source_node(in); !from.empty()) out_ += fmt::format("  {} -> op{};\n", from, i);
    if (std::string from = source_node(g_.output); !from.empty()) out_ += fmt::format("  {} -> output;\n", from);
  }

  static constexpr size_t kTop = static_cast<size_t>(-1);
  const Graph& g_;
  std::string out_;
  std::vector<Cluster> clusters_;
  std::vector<int64_t> top_;
};

}  // namespace

std::string print_dot(const Graph& graph) { return DotWriter(graph).run(); }

}  // namespace resnetc::ir
