// Graphviz output: clusters by dotted name, edges along data inputs, escaping, and (when the
// `dot` program is installed) that Graphviz accepts it.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "compiler/ir/dot.h"
#include "test_graphs.h"

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

}  // namespace

TEST_CASE("print_dot: clusters nest by dotted name", "[ir][dot]") {
  std::string dot = print_dot(tiny_resnet());
  CHECK(dot.rfind("digraph \"tiny\" {\n", 0) == 0);
  CHECK(dot.back() == '\n');
  size_t stem = dot.find("subgraph \"cluster_stem\" {");
  size_t stage1 = dot.find("subgraph \"cluster_stage1\" {");
  size_t block0 = dot.find("  subgraph \"cluster_stage1.block0\" {");
  size_t head = dot.find("subgraph \"cluster_head\" {");
  REQUIRE(stem != std::string::npos);
  REQUIRE(stage1 != std::string::npos);
  REQUIRE(block0 != std::string::npos);
  REQUIRE(head != std::string::npos);
  CHECK(stem < stage1);
  CHECK(stage1 < block0);  // nested: the block opens inside stage1, before stage1 closes
  CHECK(block0 < head);
  CHECK(dot.find("    }\n  }\n", block0) < head);
  CHECK(count(dot, "subgraph") == 4);
  // The block's ops are inside the block's cluster.
  CHECK(dot.find("op4 [", block0) < head);
  CHECK(dot.find("op10 [", block0) < head);
}

TEST_CASE("print_dot: nodes and edges", "[ir][dot]") {
  std::string dot = print_dot(tiny_resnet());
  // One node per op, plus the input and the output; parameters are not nodes.
  CHECK(count(dot, " [fillcolor=") == 14);
  CHECK_THAT(dot, !Contains("weight"));
  CHECK_THAT(dot, Contains("op0 [fillcolor=\"#a6cee3\", label=<<b>stem.conv</b><br/>conv2d 3x3 pad 1<br/>"
                           "[1, 4, 16, 16]<br/>108 params>, tooltip=\"tiny.net:2:3\"];"));
  CHECK_THAT(dot, Contains("<b>stem.pool</b><br/>maxpool 3x3/2 pad 1<br/>[1, 4, 8, 8]>"));
  CHECK_THAT(dot, Contains("<b>head.fc</b><br/>linear<br/>[1, 10]<br/>50 params>"));
  CHECK_THAT(dot, Contains("input [shape=ellipse"));
  CHECK_THAT(dot, Contains("output [shape=ellipse"));
  // Edges follow data inputs, the residual one included.
  CHECK_THAT(dot, Contains("  input -> op0;\n"));
  CHECK_THAT(dot, Contains("  op8 -> op9;\n  op3 -> op9;\n"));
  CHECK_THAT(dot, Contains("  op13 -> output;\n"));
  CHECK(count(dot, " -> ") == 16);
  // Colors by kind: both relus share one, distinct from the convs.
  CHECK_THAT(dot, Contains("op2 [fillcolor=\"#b3de69\"") && Contains("op6 [fillcolor=\"#b3de69\""));
  CHECK(print_dot(tiny_resnet()) == dot);  // deterministic
}

TEST_CASE("print_dot: names are escaped", "[ir][dot]") {
  GraphBuilder b("say \"hi\"", {1, 2, 4, 4});
  ValueId x = b.add(OpKind::Relu, "we\"ird<&>.x", {b.input()}, {}, {});
  x = b.add(OpKind::Relu, "top", {x}, {}, {});
  Graph g = std::move(b).finish(x);
  std::string dot = print_dot(g);
  CHECK_THAT(dot, Contains("digraph \"say \\\"hi\\\"\" {"));
  CHECK_THAT(dot, Contains("subgraph \"cluster_we\\\"ird<&>\" {"));
  CHECK_THAT(dot, Contains("label=<we&quot;ird&lt;&amp;&gt;>;"));
  CHECK_THAT(dot, Contains("<b>we&quot;ird&lt;&amp;&gt;.x</b>"));
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
  // A broken graph still gives valid DOT.
  Graph g = tiny_resnet();
  g.ops[3].inputs[0] = 999;
  g.ops[5].output = -1;
  g.output = 4242;
  CHECK(run_graphviz(print_dot(g), "test_ir_broken.dot") == 0);
}
