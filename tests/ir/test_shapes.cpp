// Shape inference through the builder, and the parameter / MAC counts.
#include <catch2/catch.hpp>

#include "compiler/ir/fused_extent.h"
#include "compiler/ir/shape_inference.h"
#include "test_graphs.h"

using namespace resnetc::ir;
using namespace resnetc::ir::testing;
using Catch::Matchers::Contains;

namespace {

// The error message from adding one op, or "" when it fits.
std::string shape_error(Dims input, OpKind kind, const Attrs& attrs) {
  GraphBuilder b("g", std::move(input));
  try {
    b.add(kind, "layer", {b.input()}, attrs, at(7, 12));
  } catch (const CompileError& e) {
    CHECK(e.phase == CompileError::Phase::Graph);
    CHECK(e.diagnostic.loc.line == 7);
    CHECK(e.diagnostic.loc.col == 12);
    CHECK(*e.diagnostic.loc.file == "tiny.net");
    return e.what();
  }
  return {};
}

}  // namespace

TEST_CASE("builder infers the shapes of a residual network", "[ir][shapes]") {
  Graph g = tiny_resnet();
  CHECK(g.shape(find_value(g, "stem.conv")) == Dims{1, 4, 16, 16});
  CHECK(g.shape(find_value(g, "stem.pool")) == Dims{1, 4, 8, 8});
  CHECK(g.shape(find_value(g, "stage1.block0.add")) == Dims{1, 4, 8, 8});
  CHECK(g.shape(find_value(g, "head.pool")) == Dims{1, 4, 1, 1});
  CHECK(g.shape(find_value(g, "head.flatten")) == Dims{1, 4});
  CHECK(g.shape(g.output) == Dims{1, 10});
  CHECK(g.shape(find_value(g, "head.fc.weight")) == Dims{10, 4});
  CHECK(g.shape(find_value(g, "head.fc.bias")) == Dims{10});
  CHECK(g.value(find_value(g, "stem.bn.running_var")).role == ValueRole::State);
  CHECK(g.op(find_op(g, "stem.bn")).inputs.size() == 5);
}

TEST_CASE("shape errors: residual add of different shapes shows both", "[ir][shapes]") {
  GraphBuilder b("g", {1, 4, 8, 8});
  ValueId down = b.add(OpKind::Conv2d, "down", {b.input()}, conv_attrs(8, 1, 2, 0), at(1, 1));
  try {
    b.add(OpKind::Add, "block.add", {down, b.input()}, {}, at(9, 4));
    FAIL("expected a CompileError");
  } catch (const CompileError& e) {
    CHECK_THAT(e.what(), Contains("[1, 8, 4, 4]") && Contains("[1, 4, 8, 8]"));
    CHECK(e.diagnostic.loc.line == 9);
  }
}

TEST_CASE("shape errors: conv groups must divide the channels", "[ir][shapes]") {
  CHECK_THAT(shape_error({1, 6, 8, 8}, OpKind::Conv2d, conv_attrs(8, 3, 1, 1, 4)),
             Contains("input channels 6") && Contains("4 groups"));
  CHECK_THAT(shape_error({1, 8, 8, 8}, OpKind::Conv2d, conv_attrs(6, 3, 1, 1, 4)),
             Contains("output channels 6") && Contains("4 groups"));
  CHECK(shape_error({1, 8, 8, 8}, OpKind::Conv2d, conv_attrs(8, 3, 1, 1, 4)).empty());
}

TEST_CASE("shape errors: a kernel larger than the padded input", "[ir][shapes]") {
  CHECK_THAT(shape_error({1, 3, 8, 8}, OpKind::Conv2d, conv_attrs(4, 9, 1, 0)),
             Contains("below 1") && Contains("[1, 3, 8, 8]"));
  CHECK_THAT(shape_error({1, 3, 2, 2}, OpKind::MaxPool, pool_attrs(3, 2, 0)), Contains("below 1"));
  // 9x9 fits once padded by 1 on an 8x8 input: output 2x2.
  CHECK(shape_error({1, 3, 8, 8}, OpKind::Conv2d, conv_attrs(4, 9, 1, 1)).empty());
}

TEST_CASE("shape errors: fc on a 4-d input", "[ir][shapes]") {
  CHECK_THAT(shape_error({1, 512, 1, 1}, OpKind::Linear, fc_attrs(10)),
             Contains("2-d") && Contains("[1, 512, 1, 1]") && Contains("flatten"));
}

TEST_CASE("shape errors: other misfits", "[ir][shapes]") {
  CHECK_THAT(shape_error({1, 3, 8}, OpKind::Conv2d, conv_attrs(4, 3, 1, 1)), Contains("4-d"));
  CHECK_THAT(shape_error({1, 3, 8, 8}, OpKind::Conv2d, conv_attrs(0, 3, 1, 1)), Contains("output channel"));
  CHECK_THAT(shape_error({1, 3, 8, 8}, OpKind::Conv2d, conv_attrs(4, 3, 0, 1)), Contains("stride"));
  CHECK_THAT(shape_error({1, 3, 8, 8}, OpKind::MaxPool, pool_attrs(3, 2, 2)), Contains("padding"));
  CHECK(shape_error({1, 3, 8, 8}, OpKind::BatchNorm, {}).empty());
  CHECK_THAT(shape_error({1, 3}, OpKind::GlobalAvgPool, {}), Contains("4-d"));
  CHECK_THAT(shape_error({0, 3, 8, 8}, OpKind::Relu, {}), Contains("below 1"));
  CHECK_THAT(shape_error({1, 1 << 20, 1, 1}, OpKind::Conv2d, conv_attrs(1 << 21, 1, 1, 0)), Contains("2^40"));
}

TEST_CASE("a fused map over a space without a channel axis may read it only element for element", "[ir][shapes]") {
  auto fused = [](Dims space, FusedInstr load, bool reduce) {
    Attrs a;
    a.shape = std::move(space);
    a.program = {{load, {FusedOpcode::Relu, 0, 0, 0}}, {1}, reduce};
    return a;
  };
  const FusedInstr element{FusedOpcode::Load, 0, 0, 0}, channel{FusedOpcode::LoadChannel, 0, 0, 0};
  CHECK(shape_error({7}, OpKind::Fused, fused({7}, element, false)).empty());
  CHECK(shape_error({}, OpKind::Fused, fused({}, element, false)).empty());
  CHECK_THAT(shape_error({7}, OpKind::Fused, fused({7}, channel, false)), Contains("no channel axis"));
  CHECK_THAT(shape_error({7}, OpKind::Fused, fused({7}, element, true)), Contains("no channel axis"));
  CHECK(fused_extent({7}).plane == 7);
  CHECK(fused_extent({2, 3, 4, 5}).plane == 20);
}

TEST_CASE("numel, op_param_count and op_macs by hand", "[ir][shapes]") {
  CHECK(numel({}) == 1);
  CHECK(numel({1, 3, 224, 224}) == 150528);
  CHECK(format_dims({1, 64, 56, 56}) == "[1, 64, 56, 56]");

  // The ResNet stem: conv 3->64, 7x7, stride 2, padding 3 on [1, 3, 224, 224].
  GraphBuilder b("g", {1, 3, 224, 224});
  ValueId stem = b.add(OpKind::Conv2d, "stem.conv", {b.input()}, conv_attrs(64, 7, 2, 3), {});
  CHECK(b.shape(stem) == Dims{1, 64, 112, 112});
  ValueId bn = b.add(OpKind::BatchNorm, "stem.bn", {stem}, {}, {});
  ValueId pool = b.add(OpKind::MaxPool, "stem.pool", {bn}, pool_attrs(3, 2, 1), {});
  CHECK(b.shape(pool) == Dims{1, 64, 56, 56});
  ValueId grouped = b.add(OpKind::Conv2d, "grouped", {pool}, conv_attrs(128, 3, 1, 1, 4, true), {});
  ValueId gap = b.add(OpKind::GlobalAvgPool, "gap", {grouped}, {}, {});
  ValueId flat = b.add(OpKind::Flatten, "flat", {gap}, {}, {});
  ValueId fc = b.add(OpKind::Linear, "fc", {flat}, fc_attrs(1000), {});
  Graph g = std::move(b).finish(fc);

  const Op& conv = g.op(find_op(g, "stem.conv"));
  CHECK(op_param_count(g, conv) == 9408);      // 64 * 3 * 7 * 7
  CHECK(op_macs(g, conv) == 118013952);        // 64 * 112 * 112 outputs x 147 weights each
  CHECK(op_param_count(g, g.op(find_op(g, "stem.bn"))) == 128);  // weight + bias; running stats are state
  CHECK(op_macs(g, g.op(find_op(g, "stem.bn"))) == 0);
  CHECK(op_macs(g, g.op(find_op(g, "stem.pool"))) == 0);

  const Op& gconv = g.op(find_op(g, "grouped"));
  CHECK(g.shape(gconv.inputs[1]) == Dims{128, 16, 3, 3});
  CHECK(op_param_count(g, gconv) == 128 * 16 * 9 + 128);
  CHECK(op_macs(g, gconv) == int64_t{128} * 56 * 56 * 16 * 9);

  const Op& linear = g.op(find_op(g, "fc"));
  CHECK(g.shape(flat) == Dims{1, 128});
  CHECK(op_param_count(g, linear) == 128 * 1000 + 1000);
  CHECK(op_macs(g, linear) == 128000);
}
