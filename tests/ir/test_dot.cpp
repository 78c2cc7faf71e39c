// Graphviz output: clusters nested by dotted name, the branch in one column with the shortcut and
// the add beside it, shapes on the edges, parameter counts and --depth folding equal to the
// layer table's for every example, escaping, and (when the `dot` program is installed) that
// Graphviz accepts it.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "compiler/analysis/layer_table.h"
#include "compiler/ir/dot.h"
#include "compiler/passes/pass.h"
#include "dsl/frontend.h"
#include "tests/example_files.h"
#include "test_graphs.h"

using namespace resnetc;
using namespace resnetc::ir;
using namespace resnetc::ir::testing;
using Catch::Matchers::Contains;

namespace {

size_t count(const std::string& text, std::string_view what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// True when Graphviz's `dot` is on PATH; then `text` must parse and lay out.
bool graphviz_available() { return std::system("dot -V > /dev/null 2>&1") == 0; }

int run_graphviz(const std::string& text, const std::string& name) {
  std::filesystem::path path = std::filesystem::temp_directory_path() / ("resnetc_" + name);
  std::ofstream(path) << text;
  std::string cmd = "dot -Tsvg -o /dev/null '" + path.string() + "' 2>&1";
  int rc = std::system(cmd.c_str());
  if (rc == 0) std::filesystem::remove(path);  // kept for a look when Graphviz rejects it
  return rc;
}

// tiny_resnet with a second block whose shortcut projects (1x1 conv + bn, stride 2).
Graph tiny_with_projection() {
  GraphBuilder b("tiny", {1, 3, 16, 16});
  ValueId x = b.add(OpKind::Conv2d, "stem.conv", {b.input()}, conv_attrs(4, 3, 1, 1), at(2, 3));
  ValueId in = b.add(OpKind::Relu, "stem.relu", {x}, {}, at(3, 3));
  x = b.add(OpKind::Conv2d, "stage1.block0.conv1", {in}, conv_attrs(8, 3, 2, 1), at(5, 5));
  x = b.add(OpKind::BatchNorm, "stage1.block0.bn1", {x}, {}, at(6, 5));
  x = b.add(OpKind::Relu, "stage1.block0.relu1", {x}, {}, at(7, 5));
  x = b.add(OpKind::Conv2d, "stage1.block0.conv2", {x}, conv_attrs(8, 3, 1, 1), at(8, 5));
  x = b.add(OpKind::BatchNorm, "stage1.block0.bn2", {x}, {}, at(9, 5));
  ValueId s = b.add(OpKind::Conv2d, "stage1.block0.shortcut.conv", {in}, conv_attrs(8, 1, 2, 0), at(10, 5));
  s = b.add(OpKind::BatchNorm, "stage1.block0.shortcut.bn", {s}, {}, at(10, 20));
  x = b.add(OpKind::Add, "stage1.block0.add", {x, s}, {}, at(11, 5));
  x = b.add(OpKind::Relu, "stage1.block0.relu2", {x}, {}, at(12, 5));
  x = b.add(OpKind::GlobalAvgPool, "head.pool", {x}, {}, at(14, 3));
  x = b.add(OpKind::Flatten, "head.flatten", {x}, {}, at(15, 3));
  x = b.add(OpKind::Linear, "head.fc", {x}, fc_attrs(10), at(16, 3));
  return std::move(b).finish(x);
}

struct DrawnNode {
  std::string id, name;  // the full name, from the tooltip
  int64_t params = 0;    // from the label's last line
  bool main = false;
  bool operator==(const DrawnNode&) const = default;
};

// The op and group nodes of print_dot's output, in order.
std::vector<DrawnNode> drawn_nodes(const std::string& dot) {
  static const std::regex node(
      R"(^\s*((?:op|group)\d+) \[fillcolor="[^"]*", label=<(.*)>(, group=main)?, tooltip="([^",]*)[^"]*"\];$)");
  static const std::regex params(R"(<br/>([0-9,]+) params?$)");
  std::vector<DrawnNode> out;
  std::istringstream in(dot);
  for (std::string line; std::getline(in, line);) {
    std::smatch m, p;
    if (!std::regex_match(line, m, node)) continue;
    DrawnNode n{m[1], m[4], 0, m[3].matched};
    const std::string label = m[2];
    if (std::regex_search(label, p, params)) n.params = std::stoll(std::regex_replace(p[1].str(), std::regex(","), ""));
    out.push_back(n);
  }
  return out;
}

struct DrawnEdge {
  std::string from, to, shape;
};

// The visible edges (not the invisible ones that only place nodes).
std::vector<DrawnEdge> drawn_edges(const std::string& dot) {
  static const std::regex edge(R"(^\s*(\w+) -> (\w+)(?: \[(.*)\])?;$)");
  static const std::regex shape(R"re(x?label="([^"]*)")re");
  std::vector<DrawnEdge> out;
  std::istringstream in(dot);
  for (std::string line; std::getline(in, line);) {
    std::smatch m, s;
    if (!std::regex_match(line, m, edge) || line.find("style=invis") != std::string::npos) continue;
    const std::string attrs = m[3];
    out.push_back({m[1], m[2], std::regex_search(attrs, s, shape) ? s[1].str() : ""});
  }
  return out;
}

const DrawnNode& node_named(const std::vector<DrawnNode>& nodes, std::string_view name) {
  for (const DrawnNode& n : nodes)
    if (n.name == name) return n;
  FAIL("no node " << name);
  throw std::logic_error("unreachable");
}

std::string with_commas(int64_t n) {
  const std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

}  // namespace

TEST_CASE("print_dot: clusters nest by every component of the dotted name", "[ir][dot]") {
  std::string dot = print_dot(tiny_with_projection());
  CHECK(dot.rfind("digraph \"tiny\" {\n", 0) == 0);
  CHECK(dot.back() == '\n');
  size_t stem = dot.find("  subgraph \"cluster_stem\" {");
  size_t stage1 = dot.find("  subgraph \"cluster_stage1\" {");
  size_t block0 = dot.find("    subgraph \"cluster_stage1.block0\" {");
  size_t shortcut = dot.find("      subgraph \"cluster_stage1.block0.shortcut\" {");
  size_t head = dot.find("  subgraph \"cluster_head\" {");
  REQUIRE(stem != std::string::npos);
  REQUIRE(stage1 != std::string::npos);
  REQUIRE(block0 != std::string::npos);
  REQUIRE(shortcut != std::string::npos);
  REQUIRE(head != std::string::npos);
  CHECK(stem < stage1);
  CHECK(stage1 < block0);  // nested: each opens inside the one above, before it closes
  CHECK(block0 < shortcut);
  CHECK(shortcut < head);
  CHECK(dot.find("    }\n  }\n", shortcut) < head);
  CHECK(count(dot, "subgraph") == 5);
  // The shortcut's ops are inside the shortcut's cluster; the add is in the block's.
  size_t shortcut_end = dot.find("      }\n", shortcut);
  CHECK(dot.find("op7 [", shortcut) < shortcut_end);
  CHECK(dot.find("op8 [", shortcut) < shortcut_end);
  CHECK(dot.find("op9 [", shortcut_end) < head);
  // Each cluster is titled with its name (below a block, the name within it) and parameters.
  CHECK_THAT(dot, Contains("label=<<b>stage1.block0</b><br/><font point-size=\"9\">944 params</font>>"));
  CHECK_THAT(dot, Contains("label=<<b>shortcut</b><br/><font point-size=\"9\">48 params</font>>"));
}

TEST_CASE("print_dot: nodes, shapes on the edges, the add and its shortcut", "[ir][dot]") {
  std::string dot = print_dot(tiny_resnet());
  // One node per op, plus the input and the output; parameters are not nodes.
  CHECK(drawn_nodes(dot).size() == 14);
  CHECK_THAT(dot, !Contains("weight"));
  CHECK_THAT(dot, Contains("op0 [fillcolor=\"#a6cee3\", label=<<b>conv</b><br/>conv2d 3x3 pad 1<br/>108 params>, "
                           "group=main, tooltip=\"stem.conv, tiny.net:2:3\"];"));
  CHECK_THAT(dot, Contains("label=<<b>pool</b><br/>maxpool 3x3/2 pad 1>"));
  CHECK_THAT(dot, Contains("label=<<b>relu1</b>>"));  // a name that is its kind is not repeated
  CHECK_THAT(dot, Contains("label=<<b>fc</b><br/>linear<br/>50 params>"));
  CHECK_THAT(dot, Contains("input [shape=ellipse"));
  CHECK_THAT(dot, Contains("output [shape=ellipse"));
  // Edges follow data inputs, each labelled with the shape it carries, the identity shortcut included.
  std::vector<DrawnEdge> edges = drawn_edges(dot);
  REQUIRE(edges.size() == 16);
  CHECK((edges.front().from == "input" && edges.front().to == "op0" && edges.front().shape == "1×3×16×16"));
  CHECK((edges.back().from == "op13" && edges.back().to == "output" && edges.back().shape == "1×10"));
  std::vector<std::string> into_add;
  for (const DrawnEdge& e : edges)
    if (e.to == "op9") into_add.push_back(fmt::format("{} {}", e.from, e.shape));
  CHECK(into_add == std::vector<std::string>{"op8 1×4×8×8", "op3 1×4×8×8"});
  for (const DrawnEdge& e : edges) CHECK(!e.shape.empty());
  // Colors by kind: both relus share one, distinct from the convs.
  CHECK_THAT(dot, Contains("op2 [fillcolor=\"#b3de69\"") && Contains("op6 [fillcolor=\"#b3de69\""));
  CHECK(print_dot(tiny_resnet()) == dot);  // deterministic
}

TEST_CASE("print_dot: the branch is one column; the shortcut sits beside it", "[ir][dot]") {
  std::vector<DrawnNode> nodes = drawn_nodes(print_dot(tiny_with_projection()));
  for (const char* name : {"stem.conv", "stage1.block0.conv1", "stage1.block0.bn2", "stage1.block0.add", "head.fc"})
    CHECK(node_named(nodes, name).main);
  CHECK_FALSE(node_named(nodes, "stage1.block0.shortcut.conv").main);
  CHECK_FALSE(node_named(nodes, "stage1.block0.shortcut.bn").main);
}

TEST_CASE("print_dot: --depth folds into the layer table's rows, drawn as rows", "[ir][dot]") {
  const Graph g = tiny_with_projection();
  for (int depth : {1, 2, 3}) {
    INFO("depth " << depth);
    std::vector<DrawnNode> nodes = drawn_nodes(print_dot(g, {depth}));
    analysis::LayerTable table = analysis::layer_table(g, depth);
    REQUIRE(nodes.size() == table.rows.size());
    for (size_t i = 0; i < nodes.size(); ++i) {
      CHECK(nodes[i].name == table.rows[i].name);
      CHECK(nodes[i].params == table.rows[i].params);
    }
  }
  std::string dot = print_dot(g, {2});
  // A cluster of folded nodes in a chain is a row, titled at its left; so is the stem's chain.
  CHECK_THAT(dot, Contains("{rank=same; title0; op0; op1;}"));
  CHECK_THAT(dot, Contains("group0 [fillcolor=\"#dfe7f2\", label=<<b>block0</b><br/>944 params>"));
  // Edges inside a folded node are gone; the ones between nodes stay, once each.
  CHECK(drawn_edges(dot).size() == 7);
}

TEST_CASE("print_dot: every example drawn as its table (names, parameters, total) with every add", "[ir][dot]") {
  for (const std::string& file : example_files()) {
    INFO(file);
    dsl::SourceManager sources;
    const Graph g = dsl::compile_file(sources, file, {}).graph;
    for (int depth : {0, 1, 2, 3}) {
      INFO("depth " << depth);
      const std::string dot = print_dot(g, {depth});
      const analysis::LayerTable table = analysis::layer_table(g, depth);
      CHECK_THAT(dot, Contains(fmt::format("{} parameters,", with_commas(table.total_params))));
      std::vector<DrawnNode> nodes = drawn_nodes(dot);
      REQUIRE(nodes.size() == table.rows.size());
      int64_t sum = 0;
      for (size_t i = 0; i < nodes.size(); ++i) {
        CHECK(nodes[i].name == table.rows[i].name);
        CHECK(nodes[i].params == table.rows[i].params);
        sum += nodes[i].params;
      }
      CHECK(sum == table.total_params);
    }
    // Unfolded, every add is a node with two edges in: the branch and the shortcut.
    const std::string dot = print_dot(g);
    std::vector<DrawnEdge> edges = drawn_edges(dot);
    size_t adds = 0;
    for (size_t i = 0; i < g.ops.size(); ++i) {
      if (g.ops[i].kind != OpKind::Add) continue;
      ++adds;
      CHECK_THAT(dot, Contains(fmt::format("op{} [fillcolor=\"#fdb462\"", i)));
      const std::string add = fmt::format("op{}", i);
      CHECK(std::count_if(edges.begin(), edges.end(), [&](const DrawnEdge& e) { return e.to == add; }) == 2);
    }
    CHECK(adds > 0);
  }
}

TEST_CASE("print_dot: an optimized graph hides weight preparation and keeps the table's count", "[ir][dot]") {
  dsl::SourceManager sources;
  Graph g = dsl::compile_file(sources, std::string(RESNETC_SOURCE_DIR) + "/examples/resnet18.net", {}).graph;
  const int64_t total = analysis::layer_table(g, 0).total_params;
  passes::run_pipeline(g, passes::at_level(2));
  const std::string dot = print_dot(g);
  CHECK_THAT(dot, !Contains("folded_weight"));  // the BatchNorm folding's ops read only parameters
  CHECK_THAT(dot, Contains("11,689,512 parameters"));
  int64_t sum = 0;
  for (const DrawnNode& n : drawn_nodes(dot)) sum += n.params;
  CHECK(sum == total);
}

TEST_CASE("print_dot: names are escaped", "[ir][dot]") {
  GraphBuilder b("say \"hi\"", {1, 2, 4, 4});
  ValueId x = b.add(OpKind::Relu, "we\"ird<&>.x", {b.input()}, {}, {});
  x = b.add(OpKind::Relu, "top", {x}, {}, {});
  Graph g = std::move(b).finish(x);
  std::string dot = print_dot(g);
  CHECK_THAT(dot, Contains("digraph \"say \\\"hi\\\"\" {"));
  CHECK_THAT(dot, Contains("subgraph \"cluster_we\\\"ird<&>\" {"));
  CHECK_THAT(dot, Contains("<b>we&quot;ird&lt;&amp;&gt;</b>"));
  CHECK_THAT(dot, Contains("tooltip=\"we\\\"ird<&>.x\""));
  CHECK_THAT(dot, Contains("<b>top</b>"));  // no dot in its name: outside every cluster
  if (graphviz_available()) {
    CHECK(run_graphviz(dot, "test_ir_escaped.dot") == 0);
  }
}

TEST_CASE("print_dot: Graphviz accepts the output", "[ir][dot]") {
  if (!graphviz_available()) {
    WARN("graphviz `dot` is not installed; skipping the layout check");
    return;
  }
  CHECK(run_graphviz(print_dot(tiny_resnet()), "test_ir_tiny.dot") == 0);
  for (int depth : {1, 2, 3})
    CHECK(run_graphviz(print_dot(tiny_with_projection(), {depth}), "test_ir_folded.dot") == 0);
  // A broken graph still gives valid DOT.
  Graph g = tiny_resnet();
  g.ops[3].inputs[0] = 999;
  g.ops[5].output = -1;
  g.output = 4242;
  CHECK(run_graphviz(print_dot(g), "test_ir_broken.dot") == 0);
}

TEST_CASE("print_dot: dilation, ceil_mode and uncounted padding in the op's summary", "[ir][dot]") {
  dsl::SourceManager sources;
  const Graph g = dsl::compile_source(sources, "w.net",
                                      "network w { input 2x9x9\n stem { conv 3 k3x1 p2x0 d2; "
                                      "avgpool k2 s2 ceil_mode count_include_pad=0 } }",
                                      {})
                      .graph;
  const std::string dot = print_dot(g);
  CHECK_THAT(dot, Contains("conv2d 3x1 pad 2x0 dilation 2<br/>"));
  CHECK_THAT(dot, Contains("avgpool 2x2/2 ceil pad not counted>"));
}
