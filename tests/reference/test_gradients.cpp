// Every backward op of the reference executor against central finite differences in double
// precision. Each case builds forward op(s) y = f(x, w), a fixed random R, and the backward ops
// fed with dy = R; the scalar loss is sum(R * y), so the backward ops must give its gradient.
#include <catch2/catch.hpp>

#include <cstdio>
#include <tuple>

#include "reference_test_util.h"

using namespace resnetc::reference;
using namespace resnetc::reference::testing;

namespace {

constexpr double kTolerance = 1e-6;

// A graph under construction plus the data each of its leaves gets.
struct Builder {
  resnetc::ir::GraphBuilder b;
  Case c;
  uint32_t seed = 1;

  explicit Builder(Dims input, std::vector<double> x) : b("g", input) { c.values[b.input()] = std::move(x); }

  ValueId leaf(const std::string& name, Dims shape, std::vector<double> data = {}) {
    const int64_t count = resnetc::ir::numel(shape);
    ValueId id = b.add_value(name, std::move(shape), ValueRole::State);
    c.values[id] = data.empty() ? random_values(count, ++seed) : std::move(data);
    return id;
  }
  // The builder's parameters ("<op>.weight") get random data.
  void fill_params(const resnetc::ir::Graph& g) {
    for (size_t i = 0; i < g.values.size(); ++i)
      if (g.values[i].role == ValueRole::Parameter && !c.values.count(static_cast<ValueId>(i)))
        c.values[static_cast<ValueId>(i)] = random_values(resnetc::ir::numel(g.values[i].shape), ++seed);
  }
  Case finish(ValueId y) {
    c.graph = std::move(b).finish(y);
    fill_params(c.graph);
    return std::move(c);
  }
};

// The gradient of loss = sum(R * y) against central differences; prints the worst error.
double check(const char* what, const Case& c, ValueId wrt, ValueId analytic, ValueId y, ValueId r) {
  const double err = max_gradient_error(c, wrt, analytic, y, c.values.at(r));
  std::printf("finite differences: %-28s worst relative error %.2e\n", what, err);
  return err;
}

Attrs conv_attrs(int64_t out, Dims kernel, Dims stride, Dims pad, int64_t groups, bool bias) {
  Attrs a;
  a.out_channels = out;
  for (int k = 0; k < 2; ++k) {
    a.kernel[k] = kernel[static_cast<size_t>(k)];
    a.stride[k] = stride[static_cast<size_t>(k)];
    a.padding[k] = pad[static_cast<size_t>(k)];
  }
  a.groups = groups;
  a.bias = bias;
  return a;
}

Attrs window_attrs(Dims kernel, Dims stride, Dims pad) {
  Attrs a;
  for (int k = 0; k < 2; ++k) {
    a.kernel[k] = kernel[static_cast<size_t>(k)];
    a.stride[k] = stride[static_cast<size_t>(k)];
    a.padding[k] = pad[static_cast<size_t>(k)];
  }
  return a;
}

// PyTorch's ceil_mode and avgpool's count_include_pad on a window.
Attrs pool_modes(Attrs a, bool ceil, bool count_pad) {
  a.ceil_mode = ceil;
  a.count_include_pad = count_pad;
  return a;
}

void check_conv(const Attrs& a, Dims x_shape) {
  Builder t(x_shape, random_values(resnetc::ir::numel(x_shape), 100));
  ValueId x = t.b.input();
  ValueId y = t.b.add(OpKind::Conv2d, "conv", {x}, a, here());
  ValueId r = t.leaf("r", t.b.shape(y));
  const ValueId w = 1;  // the builder creates the weight (and bias) right after the input
  Attrs gi_attrs = a;
  gi_attrs.shape = x_shape;
  ValueId dx = t.b.apply(OpKind::ConvGradInput, "conv_grad_input", {r, w}, gi_attrs, here());
  ValueId dw = t.b.apply(OpKind::ConvGradWeight, "conv_grad_weight", {r, x}, a, here());
  ValueId db = a.bias ? t.b.apply(OpKind::BiasGrad, "bias_grad", {r}, {}, here()) : resnetc::ir::kNoValue;
  Case c = t.finish(y);
  REQUIRE(c.graph.value(w).name == "conv.weight");
  CHECK(check("conv2d_grad_input", c, x, dx, y, r) < kTolerance);
  CHECK(check("conv2d_grad_weight", c, w, dw, y, r) < kTolerance);
  if (a.bias) {
    REQUIRE(c.graph.value(2).name == "conv.bias");
    CHECK(check("bias_grad (conv)", c, 2, db, y, r) < kTolerance);
  }
}

}  // namespace

TEST_CASE("conv2d gradients: stride 2, padding 1, groups 2, bias", "[reference][gradients]") {
  check_conv(conv_attrs(6, {3, 3}, {2, 2}, {1, 1}, 2, true), {2, 4, 5, 7});
}

TEST_CASE("conv2d gradients: 3 channels, a 2x3 kernel, uneven stride and padding", "[reference][gradients]") {
  check_conv(conv_attrs(2, {2, 3}, {2, 1}, {1, 0}, 1, false), {2, 3, 5, 7});
  check_conv(conv_attrs(4, {1, 1}, {2, 2}, {0, 0}, 1, true), {1, 3, 5, 7});  // a projection shortcut
}

TEST_CASE("conv2d gradients: dilation and 1x7 / 7x1 kernels", "[reference][gradients]") {
  Attrs dilated = conv_attrs(3, {3, 3}, {1, 2}, {2, 1}, 1, true);
  dilated.dilation[0] = 2;
  dilated.dilation[1] = 3;
  check_conv(dilated, {2, 2, 7, 9});
  Attrs strided = conv_attrs(4, {3, 2}, {2, 2}, {1, 1}, 2, false);
  strided.dilation[0] = 3;  // dilation and stride share no factor: the dx phases mix taps
  strided.dilation[1] = 2;
  check_conv(strided, {1, 4, 8, 7});
  check_conv(conv_attrs(2, {1, 7}, {1, 1}, {0, 3}, 1, false), {2, 3, 4, 9});
  check_conv(conv_attrs(2, {7, 1}, {2, 1}, {3, 0}, 1, false), {1, 3, 9, 4});
}

TEST_CASE("linear gradients", "[reference][gradients]") {
  Builder t({3, 5}, random_values(15, 200));
  Attrs a;
  a.out_features = 4;
  a.bias = true;
  ValueId x = t.b.input();
  ValueId y = t.b.add(OpKind::Linear, "fc", {x}, a, here());
  const ValueId w = 1, bias = 2;
  ValueId r = t.leaf("r", t.b.shape(y));
  ValueId dx = t.b.apply(OpKind::LinearGradInput, "fc_grad_input", {r, w}, {}, here());
  ValueId dw = t.b.apply(OpKind::LinearGradWeight, "fc_grad_weight", {r, x}, {}, here());
  ValueId db = t.b.apply(OpKind::BiasGrad, "fc_bias_grad", {r}, {}, here());
  Case c = t.finish(y);
  REQUIRE(c.graph.value(bias).name == "fc.bias");
  CHECK(check("linear_grad_input", c, x, dx, y, r) < kTolerance);
  CHECK(check("linear_grad_weight", c, w, dw, y, r) < kTolerance);
  CHECK(check("bias_grad (linear)", c, bias, db, y, r) < kTolerance);
}

TEST_CASE("training batchnorm gradients, through the batch statistics", "[reference][gradients]") {
  const Dims shape{2, 3, 5, 7};
  Builder t(shape, random_values(resnetc::ir::numel(shape), 300, -1, 3));
  ValueId x = t.b.input();
  ValueId stats = t.b.add(OpKind::BnStats, "bn_stats", {x}, {}, here());
  ValueId w = t.leaf("bn.weight", {3});
  ValueId bias = t.leaf("bn.bias", {3});
  ValueId y = t.b.apply(OpKind::BnApply, "bn", {x, stats, w, bias}, {}, here());
  ValueId r = t.leaf("r", shape);
  ValueId dx = t.b.apply(OpKind::BnGradInput, "bn_grad_input", {r, x, stats, w}, {}, here());
  ValueId dw = t.b.apply(OpKind::BnGradWeight, "bn_grad_weight", {r, x, stats}, {}, here());
  ValueId db = t.b.apply(OpKind::BiasGrad, "bn_bias_grad", {r}, {}, here());
  Case c = t.finish(y);
  CHECK(check("bn_grad_input", c, x, dx, y, r) < kTolerance);
  CHECK(check("bn_grad_weight", c, w, dw, y, r) < kTolerance);
  CHECK(check("bias_grad (bn)", c, bias, db, y, r) < kTolerance);
}

TEST_CASE("training batchnorm gradient with a large eps", "[reference][gradients]") {
  // eps matters in bn_grad_input's invstd; 0.5 makes a wrong eps visible. (bn_grad_weight
  // has no eps attribute in the IR, so it is only exact for the default eps.)
  const Dims shape{3, 2, 3, 5};
  Builder t(shape, random_values(resnetc::ir::numel(shape), 310, -2, 1));
  Attrs a;
  a.eps = 0.5;
  ValueId x = t.b.input();
  ValueId stats = t.b.add(OpKind::BnStats, "bn_stats", {x}, {}, here());
  ValueId w = t.leaf("bn.weight", {2});
  ValueId bias = t.leaf("bn.bias", {2});
  ValueId y = t.b.apply(OpKind::BnApply, "bn", {x, stats, w, bias}, a, here());
  ValueId r = t.leaf("r", shape);
  ValueId dx = t.b.apply(OpKind::BnGradInput, "bn_grad_input", {r, x, stats, w}, a, here());
  Case c = t.finish(y);
  CHECK(check("bn_grad_input (eps 0.5)", c, x, dx, y, r) < kTolerance);
}

TEST_CASE("relu gradient", "[reference][gradients]") {
  const Dims shape{2, 3, 5, 7};
  Builder t(shape, away_from_zero(resnetc::ir::numel(shape), 400));
  ValueId x = t.b.input();
  ValueId y = t.b.add(OpKind::Relu, "relu", {x}, {}, here());
  ValueId r = t.leaf("r", shape);
  ValueId dx = t.b.apply(OpKind::ReluGrad, "relu_grad", {r, y}, {}, here());
  Case c = t.finish(y);
  CHECK(check("relu_grad", c, x, dx, y, r) < kTolerance);
}

TEST_CASE("maxpool gradients", "[reference][gradients]") {
  const Dims shape{2, 3, 5, 7};
  // The last three with ceil_mode: windows that hang past the input.
  for (const Attrs& a : {window_attrs({3, 3}, {2, 2}, {1, 1}), window_attrs({3, 2}, {1, 2}, {1, 1}),
                         window_attrs({2, 2}, {2, 2}, {0, 0}), pool_modes(window_attrs({2, 2}, {2, 2}, {0, 0}), true, true),
                         pool_modes(window_attrs({3, 3}, {2, 2}, {1, 1}), true, true),
                         pool_modes(window_attrs({3, 2}, {2, 3}, {1, 1}), true, true)}) {
    Builder t(shape, distinct_values(resnetc::ir::numel(shape), 500));
    ValueId x = t.b.input();
    ValueId y = t.b.add(OpKind::MaxPool, "pool", {x}, a, here());
    ValueId r = t.leaf("r", t.b.shape(y));
    ValueId dx = t.b.apply(OpKind::MaxPoolGrad, "pool_grad", {r, x}, a, here());
    Case c = t.finish(y);
    CHECK(check("maxpool_grad", c, x, dx, y, r) < kTolerance);
  }
}

TEST_CASE("avgpool gradients", "[reference][gradients]") {
  const Dims shape{2, 3, 5, 7};
  // The last four with ceil_mode and/or count_include_pad off, PyTorch's divisor rules.
  for (Attrs a : {window_attrs({3, 3}, {2, 2}, {1, 1}), window_attrs({2, 3}, {2, 1}, {1, 1}),
                  window_attrs({2, 2}, {2, 2}, {0, 0}), pool_modes(window_attrs({2, 2}, {2, 2}, {0, 0}), true, true),
                  pool_modes(window_attrs({3, 3}, {2, 2}, {1, 1}), true, false),
                  pool_modes(window_attrs({3, 2}, {2, 3}, {1, 1}), true, true),
                  pool_modes(window_attrs({3, 3}, {2, 2}, {1, 1}), false, false)}) {
    Builder t(shape, random_values(resnetc::ir::numel(shape), 600));
    ValueId x = t.b.input();
    ValueId y = t.b.add(OpKind::AvgPool, "pool", {x}, a, here());
    ValueId r = t.leaf("r", t.b.shape(y));
    a.shape = shape;
    ValueId dx = t.b.apply(OpKind::AvgPoolGrad, "pool_grad", {r}, a, here());
    Case c = t.finish(y);
    CHECK(check("avgpool_grad", c, x, dx, y, r) < kTolerance);
  }
}

TEST_CASE("global maxpool gradient: maxpool_grad over the whole plane", "[reference][gradients]") {
  const Dims shape{2, 3, 5, 7};
  Builder t(shape, distinct_values(resnetc::ir::numel(shape), 520));
  ValueId x = t.b.input();
  ValueId y = t.b.add(OpKind::GlobalMaxPool, "pool", {x}, {}, here());
  ValueId r = t.leaf("r", t.b.shape(y));
  ValueId dx = t.b.apply(OpKind::MaxPoolGrad, "pool_grad", {r, x}, window_attrs({5, 7}, {1, 1}, {0, 0}), here());
  Case c = t.finish(y);
  CHECK(check("maxpool_grad (global)", c, x, dx, y, r) < kTolerance);
}

TEST_CASE("global avgpool gradient", "[reference][gradients]") {
  const Dims shape{2, 3, 5, 7};
  Builder t(shape, random_values(resnetc::ir::numel(shape), 700));
  ValueId x = t.b.input();
  ValueId y = t.b.add(OpKind::GlobalAvgPool, "gap", {x}, {}, here());
  ValueId r = t.leaf("r", t.b.shape(y));
  Attrs a;
  a.shape = shape;
  ValueId dx = t.b.apply(OpKind::GlobalAvgPoolGrad, "gap_grad", {r}, a, here());
  Case c = t.finish(y);
  CHECK(check("global_avgpool_grad", c, x, dx, y, r) < kTolerance);
}

TEST_CASE("flatten gradient is a reshape", "[reference][gradients]") {
  const Dims shape{2, 3, 5, 7};
  Builder t(shape, random_values(resnetc::ir::numel(shape), 800));
  ValueId x = t.b.input();
  ValueId y = t.b.add(OpKind::Flatten, "flatten", {x}, {}, here());
  ValueId r = t.leaf("r", t.b.shape(y));
  Attrs a;
  a.shape = shape;
  ValueId dx = t.b.apply(OpKind::Reshape, "flatten_grad", {r}, a, here());
  Case c = t.finish(y);
  CHECK(c.graph.shape(dx) == shape);
  CHECK(check("reshape (flatten's grad)", c, x, dx, y, r) < kTolerance);
}

TEST_CASE("add passes its gradient to both inputs", "[reference][gradients]") {
  const Dims shape{2, 3, 5, 7};
  Builder t(shape, random_values(resnetc::ir::numel(shape), 900));
  ValueId x = t.b.input();
  ValueId other = t.leaf("other", shape);
  ValueId y = t.b.add(OpKind::Add, "add", {x, other}, {}, here());
  ValueId r = t.leaf("r", shape);
  Case c = t.finish(y);
  CHECK(check("add (first input)", c, x, r, y, r) < kTolerance);
  CHECK(check("add (second input)", c, other, r, y, r) < kTolerance);
}

TEST_CASE("softmax cross entropy gradient", "[reference][gradients]") {
  Builder t({4, 5}, random_values(20, 1000, -3, 3));
  ValueId logits = t.b.input();
  ValueId labels = t.b.add_value("labels", {4}, ValueRole::Input, resnetc::ir::DType::I32);
  t.c.values[labels] = {3, 0, 4, 1};
  ValueId loss = t.b.apply(OpKind::SoftmaxCrossEntropy, "loss", {logits, labels}, {}, here());
  ValueId grad = t.b.apply(OpKind::SoftmaxCrossEntropyGrad, "loss_grad", {logits, labels}, {}, here());
  Case c = t.finish(loss);
  const double err = max_gradient_error(c, logits, grad, loss, {1.0});
  std::printf("finite differences: %-28s worst relative error %.2e\n", "softmax_cross_entropy_grad", err);
  CHECK(err < kTolerance);
}

TEST_CASE("softmax cross entropy gradient with label smoothing", "[reference][gradients]") {
  for (double smoothing : {0.1, 0.5, 0.9}) {
    Builder t({4, 5}, random_values(20, 1001, -3, 3));
    ValueId logits = t.b.input();
    ValueId labels = t.b.add_value("labels", {4}, ValueRole::Input, resnetc::ir::DType::I32);
    t.c.values[labels] = {3, 0, 4, 1};
    resnetc::ir::Attrs a;
    a.label_smoothing = smoothing;
    ValueId loss = t.b.apply(OpKind::SoftmaxCrossEntropy, "loss", {logits, labels}, a, here());
    ValueId grad = t.b.apply(OpKind::SoftmaxCrossEntropyGrad, "loss_grad", {logits, labels}, a, here());
    Case c = t.finish(loss);
    const double err = max_gradient_error(c, logits, grad, loss, {1.0});
    std::printf("finite differences: %-28s worst relative error %.2e (label smoothing %g)\n",
                "softmax_cross_entropy_grad", err, smoothing);
    CHECK(err < kTolerance);
  }
}

TEST_CASE("sigmoid and silu gradients", "[reference][gradients]") {
  const Dims shape{2, 3, 5, 7};
  for (OpKind kind : {OpKind::Sigmoid, OpKind::Silu}) {
    Builder t(shape, random_values(resnetc::ir::numel(shape), 700, -4, 4));
    ValueId x = t.b.input();
    ValueId y = t.b.add(kind, "act", {x}, {}, here());
    ValueId r = t.leaf("r", shape);
    // sigmoid's gradient reads its output, silu's its input.
    const bool sigmoid = kind == OpKind::Sigmoid;
    ValueId dx = t.b.apply(sigmoid ? OpKind::SigmoidGrad : OpKind::SiluGrad, "act_grad", {r, sigmoid ? y : x}, {},
                           here());
    Case c = t.finish(y);
    CHECK(check(sigmoid ? "sigmoid_grad" : "silu_grad", c, x, dx, y, r) < kTolerance);
  }
}

TEST_CASE("leaky_relu gradient, at the row's fallback slope and at a given one", "[reference][gradients]") {
  const Dims shape{2, 3, 5, 7};
  // x in [-1, 1], away from the kink at 0.
  std::vector<double> x = random_values(resnetc::ir::numel(shape), 760);
  for (double& v : x)
    if (std::abs(v) < 0.05) v += 0.1;
  for (std::vector<double> scalars : {std::vector<double>{}, std::vector<double>{0.2}, std::vector<double>{1.5}}) {
    Attrs a;
    a.scalars = scalars;
    Builder t(shape, x);
    ValueId in = t.b.input();
    ValueId y = t.b.add(OpKind::LeakyRelu, "act", {in}, a, here());
    ValueId r = t.leaf("r", shape);
    ValueId dx = t.b.apply(OpKind::LeakyReluGrad, "act_grad", {r, in}, a, here());
    Case c = t.finish(y);
    CHECK(check("leaky_relu_grad", c, in, dx, y, r) < kTolerance);
  }
}

TEST_CASE("leaky_relu gradient at 0 is the slope's, as PyTorch", "[reference][gradients]") {
  // PyTorch 2.x: leaky_relu_backward gives dy where x > 0, else dy * negative_slope.
  Attrs a;
  a.scalars = {0.2};
  Builder t({1, 1, 1, 4}, {-2, 0, 1e-30, 3});
  ValueId in = t.b.input();
  ValueId y = t.b.add(OpKind::LeakyRelu, "act", {in}, a, here());
  ValueId r = t.leaf("r", {1, 1, 1, 4}, {1, 2, 3, 4});
  ValueId dx = t.b.apply(OpKind::LeakyReluGrad, "act_grad", {r, in}, a, here());
  Case c = t.finish(y);
  Executor ex(c.graph);
  for (const auto& [id, data] : c.values) ex.set(id, data);
  ex.run();
  CHECK_THAT(ex.get(dx), Catch::Matchers::Approx(std::vector<double>{0.2, 0.4, 3, 4}));
}

TEST_CASE("hardswish gradient", "[reference][gradients]") {
  const Dims shape{2, 3, 5, 7};
  // x in [-5, 5], away from the kinks at -3 and 3, where the slope jumps.
  std::vector<double> x = random_values(resnetc::ir::numel(shape), 750, -5, 5);
  for (double& v : x)
    if (std::abs(std::abs(v) - 3) < 0.05) v += 0.1;
  Builder t(shape, x);
  ValueId in = t.b.input();
  ValueId y = t.b.add(OpKind::Hardswish, "act", {in}, {}, here());
  ValueId r = t.leaf("r", shape);
  ValueId dx = t.b.apply(OpKind::HardswishGrad, "act_grad", {r, in}, {}, here());
  Case c = t.finish(y);
  CHECK(check("hardswish_grad", c, in, dx, y, r) < kTolerance);
}

TEST_CASE("hardswish gradient at the kinks: x / 3 + 1/2 inside (-3, 3), as PyTorch", "[reference][gradients]") {
  // PyTorch 2.x: hardswish_backward gives 0 at x = -3 and dy at x = 3 (the one-sided slopes outside).
  Builder t({1, 1, 1, 6}, {-3.5, -3, -1.5, 0, 3, 3.5});
  ValueId in = t.b.input();
  ValueId y = t.b.add(OpKind::Hardswish, "act", {in}, {}, here());
  ValueId r = t.leaf("r", {1, 1, 1, 6}, {1, 1, 1, 1, 1, 1});
  ValueId dx = t.b.apply(OpKind::HardswishGrad, "act_grad", {r, in}, {}, here());
  Case c = t.finish(y);
  Executor ex(c.graph);
  for (const auto& [id, data] : c.values) ex.set(id, data);
  ex.run();
  CHECK_THAT(ex.get(dx), Catch::Matchers::Approx(std::vector<double>{0, 0, 0, 0.5, 1, 1}));
}

TEST_CASE("channel_mul gradients: the input's and the gate's", "[reference][gradients]") {
  const Dims shape{2, 3, 5, 7};
  Builder t(shape, random_values(resnetc::ir::numel(shape), 800));
  ValueId x = t.b.input();
  ValueId g = t.leaf("gate", {2, 3, 1, 1});
  ValueId y = t.b.add(OpKind::ChannelMul, "scale", {x, g}, {}, here());
  ValueId r = t.leaf("r", shape);
  ValueId dx = t.b.apply(OpKind::ChannelMul, "scale.grad_input", {r, g}, {}, here());
  ValueId dg = t.b.apply(OpKind::ChannelMulGradGate, "scale.grad_gate", {r, x}, {}, here());
  Case c = t.finish(y);
  CHECK(check("channel_mul (input)", c, x, dx, y, r) < kTolerance);
  CHECK(check("channel_mul_grad_gate", c, g, dg, y, r) < kTolerance);
}

TEST_CASE("pad_shortcut gradient: strided scatter of the first channels", "[reference][gradients]") {
  const Dims shape{2, 3, 5, 7};
  for (auto [out, sh, sw] : {std::tuple{5, 2, 2}, std::tuple{3, 2, 3}, std::tuple{4, 1, 1}}) {
    Builder t(shape, random_values(resnetc::ir::numel(shape), 1100));
    Attrs a;
    a.out_channels = out;
    a.stride[0] = sh, a.stride[1] = sw;
    ValueId x = t.b.input();
    ValueId y = t.b.add(OpKind::PadShortcut, "pad", {x}, a, here());
    ValueId r = t.leaf("r", t.b.shape(y));
    Attrs g;
    g.stride[0] = sh, g.stride[1] = sw;
    g.shape = shape;
    ValueId dx = t.b.apply(OpKind::PadShortcutGrad, "pad_grad", {r}, g, here());
    Case c = t.finish(y);
    CHECK(c.graph.shape(y) == Dims{2, out, (5 + sh - 1) / sh, (7 + sw - 1) / sw});
    CHECK(check("pad_shortcut_grad", c, x, dx, y, r) < kTolerance);
  }
}

TEST_CASE("dropout and drop-path masks are their own gradients (fixed seed and step)", "[reference][gradients]") {
  const Dims shape{4, 3, 5, 7};
  for (OpKind kind : {OpKind::DropoutMask, OpKind::DropPathMask}) {
    Builder t(shape, random_values(resnetc::ir::numel(shape), 1200));
    ValueId x = t.b.input();
    ValueId rng = t.leaf("rng", {2}, {12345, 17});  // seed, step
    Attrs a;
    a.rate = 0.4;
    a.salt = 99;
    ValueId y = t.b.apply(kind, "mask", {x, rng}, a, here());
    ValueId r = t.leaf("r", shape);
    ValueId dx = t.b.apply(kind, "mask_grad", {r, rng}, a, here());
    Case c = t.finish(y);
    CHECK(check(kind == OpKind::DropoutMask ? "dropout_mask" : "droppath_mask", c, x, dx, y, r) < kTolerance);
  }
}
