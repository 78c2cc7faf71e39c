// Convolutions on the CPU backend against the double-precision reference executor: forward,
// gradient of the input and of the weight, on shapes that divide none of the GEMM's tile
// sizes (8 rows, 32 columns, 256-lane blocks): odd images, 3 or 13 channels, batch 3,
// stride 2, padding, 1x1 / 3x3 / 7x7 and rectangular kernels, groups, images smaller than
// the kernel's reach (taps that only see padding), dilation, and big enough ones that the work
// splits over many tasks and chunks.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "compiler/ir/builder.h"
#include "compiler/ir/shape_inference.h"
#include "tests/backend/kernel_harness.h"
#include "tests/conv_case.h"

using namespace resnetc;
using ir::OpKind;
using ir::ValueRole;

namespace {

using Conv = testing::ConvCase;

// Forward and input-gradient graphs run three times: as the backend chooses, and with each
// GEMM formulation forced (RESNETC_CONV_PATH, read when the kernels are emitted): rows in
// lanes ("direct") and columns in lanes ("im2col").
void check(const ir::Graph& graph, bool both_paths = true) {
  for (const char* path : {"", "direct", "im2col"}) {
    if (*path && !both_paths) break;
    if (*path) setenv("RESNETC_CONV_PATH", path, 1);
    else unsetenv("RESNETC_CONV_PATH");
    auto mismatches = testing::compare_with_reference(graph);
    unsetenv("RESNETC_CONV_PATH");
    INFO("RESNETC_CONV_PATH=" << path << ": " << testing::describe(mismatches));
    CHECK(mismatches.empty());
  }
}

ir::Graph forward(const Conv& c) {
  ir::GraphBuilder g("conv", c.x);
  ir::ValueId y = g.add(OpKind::Conv2d, "conv", {g.input()}, c.attrs(), {});
  return std::move(g).finish(y);
}

ir::Dims output_shape(const Conv& c) {
  ir::Dims x = c.x;
  ir::ShapeResult r = ir::infer_shape(OpKind::Conv2d, std::span<const ir::Dims>(&x, 1), c.attrs());
  REQUIRE(r.ok());
  return r.dims;
}

ir::Dims weight_shape(const Conv& c) { return {c.out, c.x[1] / c.groups, c.kh, c.kw}; }

ir::Graph grad_input(const Conv& c) {
  ir::GraphBuilder g("conv_dx", c.x);
  ir::ValueId dy = g.add_value("dy", output_shape(c), ValueRole::Input);
  ir::ValueId w = g.add_value("conv.weight", weight_shape(c), ValueRole::Parameter);
  ir::Attrs a = c.attrs();
  a.bias = false;
  a.shape = c.x;
  ir::ValueId dx = g.apply(OpKind::ConvGradInput, "conv.grad_input", {dy, w}, a, {});
  return std::move(g).finish(dx);
}

ir::Graph grad_weight(const Conv& c) {
  ir::GraphBuilder g("conv_dw", c.x);
  ir::ValueId dy = g.add_value("dy", output_shape(c), ValueRole::Input);
  ir::Attrs a = c.attrs();
  a.bias = false;
  ir::ValueId dw = g.apply(OpKind::ConvGradWeight, "conv.grad_weight", {dy, g.input()}, a, {});
  return std::move(g).finish(dw);
}

void check_all(const Conv& c) {
  INFO(c.describe());
  SECTION("forward " + c.describe()) { check(forward(c)); }
  SECTION("grad input " + c.describe()) { check(grad_input(c)); }
  SECTION("grad weight " + c.describe()) { check(grad_weight(c), false); }
}

}  // namespace

TEST_CASE("conv2d 3x3 stride 1 pad 1 on odd shapes matches the reference", "[backend][conv]") {
  check_all({.x = {3, 3, 5, 7}, .out = 13, .ph = 1, .pw = 1});
  check_all({.x = {1, 13, 7, 5}, .out = 3, .ph = 1, .pw = 1, .bias = true});
  check_all({.x = {3, 5, 6, 6}, .out = 8, .ph = 0, .pw = 0});  // no padding
}

TEST_CASE("conv2d stride 2 matches the reference", "[backend][conv]") {
  check_all({.x = {3, 5, 9, 7}, .out = 11, .sh = 2, .sw = 2, .ph = 1, .pw = 1});
  check_all({.x = {2, 4, 8, 8}, .out = 16, .sh = 2, .sw = 2, .ph = 1, .pw = 1, .bias = true});
  check_all({.x = {3, 6, 7, 5}, .out = 10, .kh = 1, .kw = 1, .sh = 2, .sw = 2});  // projection shortcut
}

TEST_CASE("conv2d 1x1 and 7x7 kernels match the reference", "[backend][conv]") {
  check_all({.x = {3, 13, 5, 7}, .out = 17, .kh = 1, .kw = 1, .bias = true});
  check_all({.x = {2, 1, 13, 11}, .out = 9, .kh = 7, .kw = 7, .sh = 2, .sw = 2, .ph = 3, .pw = 3, .bias = true});
  check_all({.x = {3, 3, 10, 9}, .out = 5, .kh = 7, .kw = 7, .ph = 3, .pw = 3});
}

TEST_CASE("conv2d with rectangular kernels, mixed strides and paddings matches the reference", "[backend][conv]") {
  check_all({.x = {2, 3, 11, 6}, .out = 7, .kh = 5, .kw = 3, .sh = 2, .sw = 1, .ph = 2, .pw = 0});
  check_all({.x = {2, 4, 7, 9}, .out = 6, .kh = 2, .kw = 4, .sh = 3, .sw = 2, .ph = 1, .pw = 2});
  check_all({.x = {1, 2, 5, 5}, .out = 3, .kh = 3, .kw = 3, .sh = 3, .sw = 3, .ph = 2, .pw = 2});  // stride > pad
}

TEST_CASE("grouped conv2d matches the reference", "[backend][conv]") {
  check_all({.x = {3, 6, 5, 7}, .out = 9, .ph = 1, .pw = 1, .groups = 3, .bias = true});
  check_all({.x = {2, 4, 8, 6}, .out = 6, .sh = 2, .sw = 2, .ph = 1, .pw = 1, .groups = 2});
  check_all({.x = {2, 8, 5, 5}, .out = 8, .kh = 1, .kw = 1, .groups = 8});  // depthwise 1x1
  check_all({.x = {3, 5, 6, 7}, .out = 10, .ph = 1, .pw = 1, .groups = 5});  // depthwise 3x3, multiplier 2
}

TEST_CASE("conv2d on images smaller than the kernel's reach matches the reference", "[backend][conv]") {
  // 1x1 and 2x2 images under a padded 3x3 (ResNet-18's last stage at 28x28): most taps
  // only ever see padding and are dropped.
  check_all({.x = {3, 20, 1, 1}, .out = 40, .ph = 1, .pw = 1});
  check_all({.x = {5, 12, 2, 2}, .out = 24, .sh = 2, .sw = 2, .ph = 1, .pw = 1});
  check_all({.x = {3, 7, 2, 2}, .out = 9, .ph = 1, .pw = 1, .bias = true});
  check_all({.x = {2, 3, 1, 3}, .out = 4, .kh = 7, .kw = 7, .ph = 3, .pw = 3});
}

TEST_CASE("conv2d big enough to split over tasks, chunks and row blocks matches the reference", "[backend][conv]") {
  check_all({.x = {3, 40, 9, 11}, .out = 70, .ph = 1, .pw = 1});       // 70 rows: 8 blocks + a tail of 6
  check_all({.x = {2, 3, 20, 19}, .out = 12, .ph = 1, .pw = 1});       // 380 positions: pixel chunks
  check_all({.x = {2, 37, 6, 6}, .out = 40, .ph = 1, .pw = 1});        // 333 lanes: two 256-lane blocks
  check_all({.x = {9, 16, 4, 4}, .out = 72, .sh = 2, .sw = 2, .ph = 1, .pw = 1});
  check_all({.x = {2, 1, 28, 28}, .out = 16, .kh = 7, .kw = 7, .sh = 2, .sw = 2, .ph = 3, .pw = 3, .bias = true});
  check_all({.x = {13, 3, 16, 17}, .out = 10, .ph = 1, .pw = 1});   // 3536 positions: column chunks
  check_all({.x = {11, 9, 15, 16}, .out = 33, .ph = 1, .pw = 1});   // chunks, 9 channels: 8 + 1
}

TEST_CASE("conv2d with dilation and 1x7 / 7x1 / 3x5 kernels matches the reference", "[backend][conv][dilation]") {
  check_all({.x = {2, 3, 7, 9}, .out = 5, .kh = 1, .kw = 7, .ph = 0, .pw = 3});
  check_all({.x = {2, 3, 7, 9}, .out = 5, .kh = 7, .kw = 1, .ph = 3, .pw = 0, .bias = true});
  check_all({.x = {3, 4, 7, 9}, .out = 6, .kh = 3, .kw = 5, .sh = 2, .sw = 1, .ph = 1, .pw = 2});
  check_all({.x = {2, 3, 7, 9}, .out = 5, .ph = 2, .pw = 2, .dh = 2, .dw = 2});
  check_all({.x = {2, 5, 9, 7}, .out = 7, .ph = 3, .pw = 3, .bias = true, .dh = 3, .dw = 3});
  check_all({.x = {3, 4, 9, 11}, .out = 6, .kh = 3, .kw = 5, .sh = 2, .sw = 2, .ph = 1, .pw = 2, .dh = 2, .dw = 3});
  check_all({.x = {2, 6, 8, 7}, .out = 9, .sh = 3, .sw = 2, .ph = 2, .pw = 1, .groups = 3, .dh = 2, .dw = 3});
  check_all({.x = {2, 12, 7, 9}, .out = 10, .kh = 1, .kw = 7, .ph = 0, .pw = 6, .dh = 1, .dw = 2});  // 8+ channels
  check_all({.x = {2, 10, 4, 5}, .out = 8, .ph = 2, .pw = 2, .dh = 3, .dw = 2});  // taps beyond the image
}
