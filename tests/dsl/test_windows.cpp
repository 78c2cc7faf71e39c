// Window attributes in the language: rectangular kernels, strides and paddings as height x
// width pairs (`k1x7`, `kernel=1x7`), dilation (`d2`), and the errors for malformed ones.
#include <catch2/catch.hpp>

#include <algorithm>

#include "dsl/diagnostics.h"
#include "dsl/frontend.h"

using namespace resnetc;
using namespace resnetc::dsl;

namespace {

ir::Graph compile_text(const std::string& text) {
  SourceManager sources;
  return compile_source(sources, "t.net", text, {}).graph;
}

std::string first_error_line(const std::string& text) {
  SourceManager sources;
  try {
    compile_source(sources, "t.net", text, {});
  } catch (const CompileError& e) {
    std::string r = render(e.diagnostic, sources);
    return r.substr(0, r.find('\n'));
  }
  return "no error";
}

const ir::Op& find_op(const ir::Graph& g, const std::string& name) {
  auto it = std::find_if(g.ops.begin(), g.ops.end(), [&](const ir::Op& op) { return op.name == name; });
  REQUIRE(it != g.ops.end());
  return *it;
}

std::vector<int64_t> pair(const int64_t (&p)[2]) { return {p[0], p[1]}; }

}  // namespace

TEST_CASE("a window key takes a height x width pair, as a shorthand or after '='") {
  auto g = compile_text(
      "network n { input 3x20x17\n"
      " stem { conv 8 k1x7 p0x3; conv 8 kernel=3x5 stride=2x1 padding=1x2 d2x3; maxpool k3x2 s2 } }");
  const ir::Op& c1 = find_op(g, "stem.conv1");
  CHECK(pair(c1.attrs.kernel) == std::vector<int64_t>{1, 7});
  CHECK(pair(c1.attrs.padding) == std::vector<int64_t>{0, 3});
  CHECK(g.shape(c1.output) == ir::Dims{1, 8, 20, 17});
  const ir::Op& c2 = find_op(g, "stem.conv2");
  CHECK(pair(c2.attrs.kernel) == std::vector<int64_t>{3, 5});
  CHECK(pair(c2.attrs.stride) == std::vector<int64_t>{2, 1});
  CHECK(pair(c2.attrs.dilation) == std::vector<int64_t>{2, 3});
  // PyTorch: floor((20 + 2 - 2*2 - 1) / 2) + 1 = 9 and floor((17 + 4 - 3*4 - 1) / 1) + 1 = 9.
  CHECK(g.shape(c2.output) == ir::Dims{1, 8, 9, 9});
  const ir::Op& pool = find_op(g, "stem.maxpool");
  CHECK(pair(pool.attrs.kernel) == std::vector<int64_t>{3, 2});
  CHECK(pair(pool.attrs.stride) == std::vector<int64_t>{2, 2});
}

TEST_CASE("one number means a square window; a pool's stride defaults to its kernel, pair included") {
  auto g = compile_text("network n { input 2x9x9\n stem { conv 4 k3 dilation=2 p2; maxpool k3x1 } }");
  CHECK(pair(find_op(g, "stem.conv").attrs.dilation) == std::vector<int64_t>{2, 2});
  CHECK(g.shape(find_op(g, "stem.conv").output) == ir::Dims{1, 4, 9, 9});
  CHECK(pair(find_op(g, "stem.maxpool").attrs.stride) == std::vector<int64_t>{3, 1});
  CHECK(g.shape(find_op(g, "stem.maxpool").output) == ir::Dims{1, 4, 3, 9});
}

TEST_CASE("bad window arguments are refused at the word, with a hint") {
  CHECK(first_error_line("network n { input 1x8x8\n stem { conv 4 k3 d0 } }") ==
        "t.net:2:9: error: conv dilation must be at least 1, got 0");
  CHECK(first_error_line("network n { input 1x8x8\n stem { conv 4 k0x3 } }") ==
        "t.net:2:9: error: conv kernel must be at least 1, got 0");
  CHECK(first_error_line("network n { input 1x8x8\n stem { conv 4 k1x } }") ==
        "t.net:2:16: error: malformed shorthand 'k1x': expected 'k' then a number, or a height x width pair like k1x7");
  CHECK(first_error_line("network n { input 1x8x8\n stem { conv 4 k3x3x3 } }") ==
        "t.net:2:16: error: malformed shorthand 'k3x3x3': expected 'k' then a number, or a height x width pair like "
        "k1x7");
  CHECK(first_error_line("network n { input 1x8x8\n stage basic 4 x2y } }") ==
        "t.net:2:16: error: malformed shorthand 'x2y': expected 'x' then a number, like x4");
  CHECK(first_error_line("network n { input 1x8x8\n stem { conv 4 k3 g2x2 } }") ==
        "t.net:2:19: error: 'g' takes one number, not a pair: only k, s, p and d (kernel, stride, padding, dilation) "
        "take height x width");
  CHECK(first_error_line("network n { input 1x8x8\n stem { conv 4 k3 groups=1x1 } }") ==
        "t.net:2:19: error: 'groups' takes one number, not a height x width pair");
  CHECK(first_error_line("network n { input 1x8x8\n stem { conv 4 kernel=1x3x3 } }") ==
        "t.net:2:23: error: '1x3x3' has 3 numbers: a pair is height x width, like kernel=1x7");
  CHECK(first_error_line("network n { input 1x8x8\n stem { maxpool k3 d2 } }") ==
        "t.net:2:20: error: unknown argument 'd' for 'maxpool'; 'dilation' is an argument of conv only");
  CHECK(first_error_line("network n { input 1x8x8\n stage basic 4 x2x2 }") ==
        "t.net:2:16: error: 'x' takes one number, not a pair: only k, s, p and d (kernel, stride, padding, dilation) "
        "take height x width");
  CHECK(first_error_line("network n { input 1x8x8\n stage basic 4 s2x1 }") ==
        "t.net:2:16: error: a stage argument is one number; height x width pairs like k1x7 belong to a layer's window");
  CHECK(first_error_line("network n { input 1x8x8\n stem { conv 4 k3 d4 } }") ==
        "t.net:2:9: error: conv kernel 3 dilated by 4 with padding 0 does not fit the input height 8 "
        "(input [1, 1, 8, 8]): the output height would be below 1");
}

TEST_CASE("pools take ceil_mode, and avgpool count_include_pad, as PyTorch") {
  auto g = compile_text(
      "network n { input 2x7x9\n"
      " stem { maxpool k2 ceil_mode; avgpool k2 s2 ceil_mode count_include_pad=0; avgpool k3 s2 p1 } }");
  const ir::Op& m = find_op(g, "stem.maxpool");
  CHECK(m.attrs.ceil_mode);
  CHECK(g.shape(m.output) == ir::Dims{1, 2, 4, 5});  // ceil(5/2)+1 x ceil(7/2)+1; floor would give 3x4
  const ir::Op& a1 = find_op(g, "stem.avgpool1");
  CHECK(a1.attrs.ceil_mode);
  CHECK_FALSE(a1.attrs.count_include_pad);
  CHECK(g.shape(a1.output) == ir::Dims{1, 2, 2, 3});
  const ir::Op& a2 = find_op(g, "stem.avgpool2");
  CHECK_FALSE(a2.attrs.ceil_mode);
  CHECK(a2.attrs.count_include_pad);  // PyTorch's default
}

TEST_CASE("pooling modes are refused where PyTorch has no such argument") {
  CHECK(first_error_line("network n { input 1x8x8\n stem { conv 4 k3 ceil_mode } }") ==
        "t.net:2:19: error: 'conv' takes no flag 'ceil_mode'; 'ceil_mode' is a flag of maxpool and avgpool only");
  CHECK(first_error_line("network n { input 1x8x8\n stem { maxpool k2 count_include_pad=0 } }") ==
        "t.net:2:20: error: unknown argument 'count_include_pad' for 'maxpool'; 'count_include_pad' is an argument of "
        "avgpool only");
  CHECK(first_error_line("network n { input 1x8x8\n stem { avgpool k2 count_include_pad=2 } }") ==
        "t.net:2:20: error: count_include_pad is 1 (count the padding, PyTorch's default) or 0, got 2");
  CHECK(first_error_line("network n { input 1x8x8\n stem { avgpool ceil_mode } }") ==
        "t.net:2:9: error: 'avgpool' needs a kernel size, like k3");
}

TEST_CASE("maxpool written alone is global, as avgpool alone") {
  auto g = compile_text("network n { input 2x7x9\n head { maxpool; fc 3 } }");
  const ir::Op& pool = find_op(g, "head.maxpool");
  CHECK(pool.kind == ir::OpKind::GlobalMaxPool);
  CHECK(g.shape(pool.output) == ir::Dims{1, 2, 1, 1});
}

// examples/resnet50-d.net's shapes, as PyTorch's ResNet-50-D gives them (tests/pytorch/
// example_counts.py builds it): at 200x200 the stride-2 shortcuts' ceil_mode pools give
// 13x13 after 25x25, the size of the 3x3 convs' output; without ceil_mode they would give 12.
TEST_CASE("resnet50-d's shapes at 3x224x224 and at the odd 3x200x200") {
  struct Size {
    int64_t input;
    std::vector<int64_t> stage_sides;  // after stem, stage1..4
  };
  for (const Size& size : {Size{224, {56, 56, 28, 14, 7}}, Size{200, {50, 50, 25, 13, 7}}}) {
    SourceManager sources;
    const ir::Graph g = compile_file(sources, std::string(RESNETC_SOURCE_DIR) + "/examples/resnet50-d.net",
                                     {std::array<int64_t, 3>{3, size.input, size.input}, 1})
                            .graph;
    auto side = [&](const std::string& op) { return g.shape(find_op(g, op).output); };
    const std::vector<int64_t>& s = size.stage_sides;
    CHECK(side("stem.maxpool") == ir::Dims{1, 64, s[0], s[0]});
    CHECK(side("stage1.block2.relu3") == ir::Dims{1, 256, s[1], s[1]});
    CHECK(side("stage2.block0.shortcut.avgpool") == ir::Dims{1, 256, s[2], s[2]});
    CHECK(side("stage2.block3.relu3") == ir::Dims{1, 512, s[2], s[2]});
    CHECK(side("stage3.block0.shortcut.avgpool") == ir::Dims{1, 512, s[3], s[3]});
    CHECK(side("stage3.block5.relu3") == ir::Dims{1, 1024, s[3], s[3]});
    CHECK(side("stage4.block2.relu3") == ir::Dims{1, 2048, s[4], s[4]});
    CHECK(g.shape(g.output) == ir::Dims{1, 1000});
    int64_t params = 0;
    for (const ir::Op& op : g.ops) params += ir::op_param_count(g, op);
    CHECK(params == 25'576'264);  // PyTorch's count, independent of the input size
  }
}
