#include "compiler/ir/dot.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join moved here in fmt 11

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "compiler/ir/printer.h"
#include "compiler/ir/maps.h"
#include "compiler/ir/ops.h"

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

std::string param_text(int64_t params) { return fmt::format("{} param{}", thousands(params), params == 1 ? "" : "s"); }

// "1×64×56×56": short enough to sit beside an edge.
std::string edge_shape(const Dims& dims) { return fmt::format("{}", fmt::join(dims, "×")); }

std::string_view fill_color(OpKind kind) {
  const std::string_view color = is_known_op_kind(kind) ? op_info(kind).dot_color : "";
  return color.empty() ? "#ffffff" : color;  // training ops: drawn plain
}
constexpr std::string_view kFoldedColor = "#dfe7f2";

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
  if (a.dilation[0] != 1 || a.dilation[1] != 1)
    out += a.dilation[0] == a.dilation[1] ? fmt::format(" dilation {}", a.dilation[0])
                                          : fmt::format(" dilation {}x{}", a.dilation[0], a.dilation[1]);
  if (a.ceil_mode) out += " ceil";
  if (!a.count_include_pad) out += " pad not counted";
  for (const std::string& s : format_map_attributes(op.kind, a)) out += " " + s;  // "leaky_relu slope=0.2"
  return out;
}

bool valid_id(const Graph& g, ValueId id) { return id >= 0 && static_cast<size_t>(id) < g.values.size(); }

size_t component_count(std::string_view name) {
  return static_cast<size_t>(std::count(name.begin(), name.end(), '.')) + 1;
}

// The clusters a node sits in, outermost first: "stage2.block0.conv1" -> stage2, stage2.block0.
std::vector<std::string> enclosing(std::string_view name) {
  std::vector<std::string> out;
  for (size_t dot = name.find('.'); dot != std::string_view::npos; dot = name.find('.', dot + 1))
    out.emplace_back(name.substr(0, dot));
  return out;
}

// "relu1" -> "relu": a name that only repeats its op's kind needs no second line.
std::string_view without_digits(std::string_view name) {
  while (!name.empty() && name.back() >= '0' && name.back() <= '9') name.remove_suffix(1);
  return name;
}

constexpr int64_t kNoOp = -1;

// What the drawing shows: one node per op, or per folded group of ops (--depth), in clusters
// nested by dotted name; an edge per data flow between two nodes, labelled with its shape.
class DotWriter {
 public:
  DotWriter(const Graph& g, const DotOptions& options) : g_(g), depth_(options.depth) {}

  std::string run() {
    assign_params();
    build_nodes();
    build_clusters();
    build_edges();
    mark_main_path();
    write();
    return std::move(out_);
  }

 private:
  struct Node {
    std::string id, name;
    std::vector<size_t> ops;
    bool folded = false;
    bool main = false;  // on the network's longest path, drawn as one straight column
    int64_t params = 0;
  };
  struct Cluster {
    std::string name;
    std::vector<int64_t> items;  // >= 0: node index; < 0: -(child cluster index) - 1
    int64_t params = 0;
  };
  struct Edge {
    std::string from, to;
    ValueId value;
  };

  // Ops that read no data (an optimized graph's weight preparation: BatchNorm folded into a
  // convolution's weights, their views) are not drawn, as parameters are not; what they read is
  // counted at the drawn op that reads their result. Each parameter is counted once, at the
  // first op that reads it, so that every sum over ops (a node, a cluster, the whole graph)
  // equals the layer table's count of parameters.
  void assign_params() {
    std::vector<bool> counted(g_.values.size(), false), data(g_.values.size(), false);
    std::vector<int64_t> carried(g_.values.size(), 0);  // parameters behind a value an undrawn op made
    if (valid_id(g_, g_.input)) data[static_cast<size_t>(g_.input)] = true;
    op_params_.assign(g_.ops.size(), 0);
    drawn_.assign(g_.ops.size(), false);
    for (size_t i = 0; i < g_.ops.size(); ++i) {
      const Op& op = g_.ops[i];
      int64_t params = 0;
      for (ValueId id : op.inputs) {
        if (!valid_id(g_, id)) continue;
        const auto v = static_cast<size_t>(id);
        drawn_[i] = drawn_[i] || data[v];
        params += std::exchange(carried[v], 0);
        if (g_.value(id).role == ValueRole::Parameter && !counted[v]) {
          counted[v] = true;
          params += numel(g_.shape(id));
        }
      }
      if (drawn_[i]) op_params_[i] = params;
      if (!valid_id(g_, op.output)) continue;
      const auto out = static_cast<size_t>(op.output);
      data[out] = drawn_[i];
      if (!drawn_[i]) carried[out] += params;
    }
  }

  // At depth N an op whose name has more than N components is drawn in the node of its first N,
  // as the layer table folds its rows.
  void build_nodes() {
    std::map<std::string, size_t> folded;
    node_of_op_.assign(g_.ops.size(), kNoNode);
    for (size_t i = 0; i < g_.ops.size(); ++i) {
      if (!drawn_[i]) continue;
      const std::string& name = g_.ops[i].name;
      const bool fold = depth_ > 0 && component_count(name) > static_cast<size_t>(depth_);
      size_t n = nodes_.size();
      if (fold) {
        const std::string group = op_group(name, static_cast<size_t>(depth_));
        auto [it, added] = folded.emplace(group, nodes_.size());
        n = it->second;
        if (added) nodes_.push_back({fmt::format("group{}", folded.size() - 1), group, {}, true});
      } else {
        nodes_.push_back({fmt::format("op{}", i), name, {}, false});
      }
      nodes_[n].ops.push_back(i);
      nodes_[n].params += op_params_[i];
      node_of_op_[i] = n;
    }
  }

  void build_clusters() {
    std::map<std::string, size_t> index;
    innermost_.resize(nodes_.size());
    for (size_t n = 0; n < nodes_.size(); ++n) {
      size_t parent = kTop;
      for (const std::string& name : enclosing(nodes_[n].name)) {
        auto [it, added] = index.emplace(name, clusters_.size());
        if (added) {
          items_of(parent).push_back(-static_cast<int64_t>(clusters_.size()) - 1);
          clusters_.push_back({name, {}, 0});
        }
        parent = it->second;
        clusters_[parent].params += nodes_[n].params;
      }
      items_of(parent).push_back(static_cast<int64_t>(n));
      if (parent != kTop) innermost_[n] = clusters_[parent].name;
    }
  }

  std::vector<int64_t>& items_of(size_t cluster) { return cluster == kTop ? top_ : clusters_[cluster].items; }

  // The op that defines a value, kNoOp for the input and for values no op defines.
  int64_t producer(ValueId id) const {
    if (!valid_id(g_, id) || id == g_.input) return kNoOp;
    const Value& v = g_.value(id);
    if (v.role != ValueRole::Activation) return kNoOp;
    if (v.producer >= 0 && static_cast<size_t>(v.producer) < g_.ops.size() &&
        g_.ops[static_cast<size_t>(v.producer)].output == id)
      return v.producer;
    for (size_t i = 0; i < g_.ops.size(); ++i)
      if (g_.ops[i].output == id) return static_cast<int64_t>(i);
    return kNoOp;
  }

  // The node that defines a value: "input", a node's id, or empty when nothing does.
  std::string source_node(ValueId id) const {
    if (valid_id(g_, id) && id == g_.input) return "input";
    const int64_t p = producer(id);
    if (p == kNoOp || node_of_op_[static_cast<size_t>(p)] == kNoNode) return {};
    return nodes_[node_of_op_[static_cast<size_t>(p)]].id;
  }

  void build_edges() {
    std::set<std::pair<std::string, std::string>> seen;
    auto add = [&](std::string from, std::string to, ValueId value) {
      if (from.empty() || from == to || !seen.emplace(from, to).second) return;
      edges_.push_back({std::move(from), std::move(to), value});
    };
    for (size_t i = 0; i < g_.ops.size(); ++i)
      if (node_of_op_[i] != kNoNode)
        for (ValueId in : g_.ops[i].inputs) add(source_node(in), nodes_[node_of_op_[i]].id, in);
    add(source_node(g_.output), "output", g_.output);
  }

  // The longest chain of ops from the input to the output (a block's branch, never its
  // shortcut): its nodes share a Graphviz group, which keeps them in one straight column with
  // each shortcut beside its branch.
  void mark_main_path() {
    std::vector<int64_t> length(g_.ops.size(), 1), via(g_.ops.size(), kNoOp);
    for (size_t i = 0; i < g_.ops.size(); ++i)
      for (ValueId in : g_.ops[i].inputs) {
        const int64_t p = producer(in);
        // Earlier ops only: a broken graph may have a cycle.
        if (p != kNoOp && static_cast<size_t>(p) < i && length[static_cast<size_t>(p)] + 1 > length[i]) {
          length[i] = length[static_cast<size_t>(p)] + 1;
          via[i] = p;
        }
      }
    for (int64_t op = producer(g_.output); op != kNoOp; op = via[static_cast<size_t>(op)])
      if (node_of_op_[static_cast<size_t>(op)] != kNoNode) nodes_[node_of_op_[static_cast<size_t>(op)]].main = true;
  }

  // A cluster of a folded drawing whose nodes form a plain chain (a stage's blocks, the stem's
  // layers: data enters at the first, passes each to the next and leaves from the last) reads as
  // a row, which keeps a folded network on one screen.
  bool is_row(const Cluster& c) const {
    if (depth_ <= 0 || c.items.size() < 2) return false;
    std::map<std::string, size_t> position;
    for (size_t k = 0; k < c.items.size(); ++k) {
      if (c.items[k] < 0) return false;
      position[nodes_[static_cast<size_t>(c.items[k])].id] = k;
    }
    const size_t last = c.items.size() - 1;
    for (const Edge& e : edges_) {
      auto from = position.find(e.from), to = position.find(e.to);
      if (to != position.end() && to->second > 0 && (from == position.end() || from->second + 1 != to->second))
        return false;
      if (from != position.end() && from->second < last && (to == position.end() || to->second != from->second + 1))
        return false;
    }
    return true;
  }

  void write() {
    int64_t total = 0;  // as the layer table counts: every parameter of the graph
    for (const Value& v : g_.values)
      if (v.role == ValueRole::Parameter) total += numel(v.shape);
    const std::string input = valid_id(g_, g_.input) ? fmt::format("input {}, ", edge_shape(g_.shape(g_.input))) : "";
    out_ += fmt::format("digraph {} {{\n", quoted(g_.name));
    out_ += fmt::format(
        "  graph [rankdir=TB, newrank=true, forcelabels=true, nodesep=0.3, ranksep={}, fontname=\"Helvetica\", "
        "fontsize=14, labelloc=t, label=<<b>{}</b><br/><font point-size=\"11\">{}{} parameters, {} ops</font>>];\n",
        // Rows of a folded drawing leave room between them for the labels of the edges that join them.
        depth_ > 0 ? "0.4" : "0.25", html(g_.name), input, thousands(total), g_.ops.size());
    out_ += "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10, height=0.3];\n";
    out_ += "  edge [color=\"#555555\", arrowsize=0.6, fontname=\"Helvetica\", fontsize=8, fontcolor=\"#555555\"];\n\n";
    if (valid_id(g_, g_.input)) out_ += "  input [shape=ellipse, style=filled, fillcolor=\"#ffffff\", group=main];\n";
    for (int64_t item : top_) write_item(item, 1);
    if (valid_id(g_, g_.output)) out_ += "  output [shape=ellipse, style=filled, fillcolor=\"#ffffff\", group=main];\n";
    out_ += "\n";
    for (const Edge& e : edges_) {
      std::vector<std::string> attrs;
      auto from_row = row_start_.find(e.from), to_row = row_start_.find(e.to);
      const bool in_row =
          from_row != row_start_.end() && to_row != row_start_.end() && from_row->second == to_row->second;
      // Beside a vertical edge, an external label leaves the layout alone (the column stays
      // straight and narrow); along a row, a label makes room for itself between the nodes.
      if (valid_id(g_, e.value))
        attrs.push_back(fmt::format("{}=\"{}\"", in_row ? "label" : "xlabel", edge_shape(g_.shape(e.value))));
      // Leaving a row: what follows goes below the row's start (its title), not below its end, so
      // the rows stack left-aligned instead of as a staircase.
      if (from_row != row_start_.end() && !in_row) {
        attrs.push_back("constraint=false");
        const std::string& below = to_row == row_start_.end() ? e.to : to_row->second;
        out_ += fmt::format("  {} -> {} [style=invis, weight=10];\n", from_row->second, below);
      }
      out_ += fmt::format("  {} -> {}{};\n", e.from, e.to,
                          attrs.empty() ? "" : fmt::format(" [{}]", fmt::join(attrs, ", ")));
    }
    out_ += "}\n";
  }

  void write_item(int64_t item, int level) {
    const std::string indent(static_cast<size_t>(2 * level), ' ');
    if (item >= 0) {
      write_node(static_cast<size_t>(item), indent);
      return;
    }
    const size_t index = static_cast<size_t>(-item - 1);
    const Cluster& c = clusters_[index];
    out_ += fmt::format("{}subgraph {} {{\n", indent, quoted(fmt::format("cluster_{}", c.name)));
    // Below a block, the name within it ("shortcut"): the block's title says whose it is.
    const std::string_view name =
        level >= 3 ? std::string_view(c.name).substr(c.name.rfind('.') + 1) : std::string_view(c.name);
    std::string title = fmt::format("<b>{}</b>", html(name));
    if (c.params > 0) title += fmt::format("<br/><font point-size=\"9\">{}</font>", param_text(c.params));
    // Stages shaded, blocks white, anything deeper (a block's shortcut) dashed.
    const std::string_view style = level == 1   ? "style=\"rounded,filled\", fillcolor=\"#f3f5f8\""
                                   : level == 2 ? "style=\"rounded,filled\", fillcolor=\"#ffffff\""
                                                : "style=\"rounded,dashed\"";
    // A cluster that starts with a node is titled by a text node to that node's left, which
    // edges route around; a cluster label would sit in the top margin that edges cross.
    const bool titled_by_node = c.items.front() >= 0;
    const std::string title_id = fmt::format("title{}", index);
    out_ += fmt::format("{}  graph [label={}, labeljust=l, {}, color=\"#8a96a3\", fontsize=11];\n", indent,
                        titled_by_node ? "\"\"" : fmt::format("<{}>", title), style);
    if (titled_by_node)
      out_ += fmt::format("{}  {} [shape=plaintext, style=\"\", fontsize=11, label=<{}>];\n", indent, title_id, title);
    for (int64_t child : c.items) write_item(child, level + 1);
    if (titled_by_node) {
      std::vector<std::string> ids{title_id};
      const size_t beside = is_row(c) ? c.items.size() : 1;
      for (size_t k = 0; k < beside; ++k) ids.push_back(nodes_[static_cast<size_t>(c.items[k])].id);
      out_ += fmt::format("{}  {{rank=same; {};}}\n", indent, fmt::join(ids, "; "));
      out_ += fmt::format("{}  {} -> {} [style=invis];\n", indent, title_id, ids[1]);
      if (beside > 1)
        for (const std::string& id : ids) row_start_[id] = title_id;
    }
    out_ += fmt::format("{}}}\n", indent);
  }

  void write_node(size_t n, const std::string& indent) {
    const Node& node = nodes_[n];
    const std::string& cluster = innermost_[n];
    const std::string_view shown =
        cluster.empty() ? std::string_view(node.name) : std::string_view(node.name).substr(cluster.size() + 1);
    std::string label = fmt::format("<b>{}</b>", html(shown));
    if (!node.folded) {
      const std::string kind = kind_summary(g_.ops[node.ops.front()]);
      // On a line of its own: Graphviz estimates text widths, so a bold run and a plain run on
      // one line can overlap once drawn.
      if (kind != without_digits(shown)) label += fmt::format("<br/>{}", html(kind));
    }
    if (node.params > 0) label += fmt::format("<br/>{}", param_text(node.params));
    std::string attrs = fmt::format("fillcolor=\"{}\", label=<{}>",
                                    node.folded ? kFoldedColor : fill_color(g_.ops[node.ops.front()].kind), label);
    if (node.main) attrs += ", group=main";
    const Op& first = g_.ops[node.ops.front()];
    // The full name first, as the layer table has it.
    if (node.folded)
      attrs += fmt::format(", tooltip={}", quoted(fmt::format("{}, {} ops", node.name, node.ops.size())));
    else if (first.loc.valid())
      attrs +=
          fmt::format(", tooltip={}",
                      quoted(fmt::format("{}, {}:{}:{}", node.name, *first.loc.file, first.loc.line, first.loc.col)));
    else
      attrs += fmt::format(", tooltip={}", quoted(node.name));
    out_ += fmt::format("{}{} [{}];\n", indent, node.id, attrs);
  }

  static constexpr size_t kTop = static_cast<size_t>(-1);
  static constexpr size_t kNoNode = static_cast<size_t>(-1);
  const Graph& g_;
  const int depth_;
  std::string out_;
  std::vector<int64_t> op_params_;
  std::vector<bool> drawn_;  // per op: whether it reads data (else it is not drawn)
  std::vector<Node> nodes_;
  std::vector<size_t> node_of_op_;
  std::vector<Cluster> clusters_;
  std::vector<int64_t> top_;
  std::vector<std::string> innermost_;  // per node: the name of the cluster it sits in ("": none)
  std::vector<Edge> edges_;
  std::map<std::string, std::string> row_start_;  // a node in a row -> the row's title
};

}  // namespace

std::string print_dot(const Graph& graph, const DotOptions& options) { return DotWriter(graph, options).run(); }

}  // namespace resnetc::ir
