// Each forward op of the reference executor against a case small enough to compute by hand.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "reference_test_util.h"

using namespace resnetc::reference;
using namespace resnetc::reference::testing;
using Catch::Matchers::Approx;

namespace {

std::vector<double> iota(int64_t count, double start = 1, double step = 1) {
  std::vector<double> v(static_cast<size_t>(count));
  for (size_t i = 0; i < v.size(); ++i) v[i] = start + step * static_cast<double>(i);
  return v;
}

ValueId param(const resnetc::ir::Graph& g, const std::string& name) {
  for (size_t i = 0; i < g.values.size(); ++i)
    if (g.values[i].name == name) return static_cast<ValueId>(i);
  FAIL("no value named " << name);
  return -1;
}

// Runs one forward op `kind` (parameters created by the builder) on `x`, with the named
// parameters set; returns its output.
std::vector<double> run_one(OpKind kind, Dims shape, std::vector<double> x, const Attrs& attrs,
                            const std::map<std::string, std::vector<double>>& params = {},
                            Dims* out_shape = nullptr) {
  resnetc::ir::GraphBuilder b("g", std::move(shape));
  ValueId y = b.add(kind, "op", {b.input()}, attrs, here());
  resnetc::ir::Graph g = std::move(b).finish(y);
  if (out_shape) *out_shape = g.shape(y);
  Executor ex(g);
  ex.set(g.input, std::move(x));
  for (const auto& [name, data] : params) ex.set(param(g, "op." + name), data);
  ex.run();
  return ex.get(y);
}

Attrs conv(int64_t out, int64_t k, int64_t stride = 1, int64_t pad = 0, bool bias = false, int64_t groups = 1) {
  Attrs a;
  a.out_channels = out;
  a.kernel[0] = a.kernel[1] = k;
  a.stride[0] = a.stride[1] = stride;
  a.padding[0] = a.padding[1] = pad;
  a.bias = bias;
  a.groups = groups;
  return a;
}

Attrs window(int64_t k, int64_t stride, int64_t pad) {
  Attrs a;
  a.kernel[0] = a.kernel[1] = k;
  a.stride[0] = a.stride[1] = stride;
  a.padding[0] = a.padding[1] = pad;
  return a;
}

}  // namespace

TEST_CASE("conv2d: a 2x2 kernel over a 3x3 image", "[reference][forward]") {
  // y[i,j] = x[i,j] - x[i+1,j+1] = -4 everywhere for x = 1..9.
  Dims out;
  auto y = run_one(OpKind::Conv2d, {1, 1, 3, 3}, iota(9), conv(1, 2), {{"weight", {1, 0, 0, -1}}}, &out);
  CHECK(out == Dims{1, 1, 2, 2});
  CHECK_THAT(y, Approx(std::vector<double>{-4, -4, -4, -4}));
}

TEST_CASE("conv2d: zero padding and bias", "[reference][forward]") {
  // A 3x3 box filter over 1..9 with padding 1: each output is the sum of its neighbourhood, + 1.
  auto y = run_one(OpKind::Conv2d, {1, 1, 3, 3}, iota(9), conv(1, 3, 1, 1, true),
                   {{"weight", std::vector<double>(9, 1.0)}, {"bias", {1}}});
  CHECK_THAT(y, Approx(std::vector<double>{13, 22, 17, 28, 46, 34, 25, 40, 29}));
}

TEST_CASE("conv2d: stride 2 picks every other pixel", "[reference][forward]") {
  auto y = run_one(OpKind::Conv2d, {1, 1, 3, 3}, iota(9), conv(1, 1, 2), {{"weight", {1}}});
  CHECK_THAT(y, Approx(std::vector<double>{1, 3, 7, 9}));
}

TEST_CASE("conv2d: groups keep channels apart", "[reference][forward]") {
  // Two groups of one channel each: output k reads only input channel k.
  auto y = run_one(OpKind::Conv2d, {1, 2, 2, 2}, iota(8), conv(2, 1, 1, 0, false, 2), {{"weight", {2, 3}}});
  CHECK_THAT(y, Approx(std::vector<double>{2, 4, 6, 8, 15, 18, 21, 24}));
  // One group: both outputs read both channels.
  auto z = run_one(OpKind::Conv2d, {1, 2, 2, 2}, iota(8), conv(2, 1), {{"weight", {1, 1, 1, -1}}});
  CHECK_THAT(z, Approx(std::vector<double>{6, 8, 10, 12, -4, -4, -4, -4}));
}

TEST_CASE("batchnorm (inference) uses the running statistics and eps", "[reference][forward]") {
  Attrs a;
  a.eps = 1e-3;
  auto y = run_one(OpKind::BatchNorm, {1, 2, 1, 2}, {1, 3, 5, 7}, a,
                   {{"weight", {2, 1}}, {"bias", {0, 1}}, {"running_mean", {1, 5}}, {"running_var", {3, 0}}});
  const double s0 = 2 / std::sqrt(3 + 1e-3), s1 = 1 / std::sqrt(1e-3);
  CHECK_THAT(y, Approx(std::vector<double>{0, 2 * s0, 1, 2 * s1 + 1}));
}

TEST_CASE("relu, add, flatten", "[reference][forward]") {
  CHECK_THAT(run_one(OpKind::Relu, {1, 1, 1, 4}, {-1, 0, 0.5, 2}, {}), Approx(std::vector<double>{0, 0, 0.5, 2}));
  Dims out;
  CHECK_THAT(run_one(OpKind::Flatten, {2, 2, 1, 2}, iota(8), {}, {}, &out), Approx(iota(8)));
  CHECK(out == Dims{2, 4});

  resnetc::ir::GraphBuilder b("g", {1, 1, 1, 3});
  ValueId other = b.add_value("other", {1, 1, 1, 3}, ValueRole::State);
  ValueId y = b.add(OpKind::Add, "add", {b.input(), other}, {}, here());
  auto g = std::move(b).finish(y);
  Executor ex(g);
  ex.set(g.input, {1, 2, 3});
  ex.set(other, {10, 20, 30});
  ex.run();
  CHECK_THAT(ex.get(y), Approx(std::vector<double>{11, 22, 33}));
}

TEST_CASE("sigmoid and silu, finite for large |x|", "[reference][forward]") {
  const std::vector<double> x{-1000, -2, 0, 2, 1000};
  const double s2 = 1 / (1 + std::exp(-2.0));
  CHECK_THAT(run_one(OpKind::Sigmoid, {1, 1, 1, 5}, x, {}), Approx(std::vector<double>{0, 1 - s2, 0.5, s2, 1}));
  CHECK_THAT(run_one(OpKind::Silu, {1, 1, 1, 5}, x, {}), Approx(std::vector<double>{0, -2 * (1 - s2), 0, 2 * s2, 1000}));
}

TEST_CASE("hardswish: x * relu6(x + 3) / 6, exact beyond the kinks", "[reference][forward]") {
  const std::vector<double> x{-1000, -3, -1.5, 0, 1, 3, 4, 1000};
  CHECK_THAT(run_one(OpKind::Hardswish, {1, 1, 1, 8}, x, {}),
             Approx(std::vector<double>{0, 0, -1.5 * 1.5 / 6, 0, 4.0 / 6, 3, 4, 1000}));
}

TEST_CASE("leaky_relu: x where x > 0, else slope * x; the slope 0.01 unless given", "[reference][forward]") {
  const std::vector<double> x{-1000, -2, -1e-3, 0, 1e-3, 5};
  CHECK_THAT(run_one(OpKind::LeakyRelu, {1, 1, 1, 6}, x, {}),
             Approx(std::vector<double>{-10, -0.02, -1e-5, 0, 1e-3, 5}));
  Attrs steep;
  steep.scalars = {0.25};
  CHECK_THAT(run_one(OpKind::LeakyRelu, {1, 1, 1, 6}, x, steep),
             Approx(std::vector<double>{-250, -0.5, -2.5e-4, 0, 1e-3, 5}));
}

TEST_CASE("channel_mul scales each (n, c) plane by its gate", "[reference][forward]") {
  resnetc::ir::GraphBuilder b("g", {2, 2, 1, 2});
  ValueId gate = b.add_value("gate", {2, 2, 1, 1}, ValueRole::State);
  ValueId y = b.add(OpKind::ChannelMul, "scale", {b.input(), gate}, {}, here());
  auto g = std::move(b).finish(y);
  Executor ex(g);
  ex.set(g.input, iota(8));
  ex.set(gate, {1, 10, 100, -1});
  ex.run();
  CHECK_THAT(ex.get(y), Approx(std::vector<double>{1, 2, 30, 40, 500, 600, -7, -8}));
}

TEST_CASE("maxpool: padding is -inf, not 0", "[reference][forward]") {
  // x = -1..-9: with zero padding every window would give 0.
  auto y = run_one(OpKind::MaxPool, {1, 1, 3, 3}, iota(9, -1, -1), window(3, 2, 1));
  CHECK_THAT(y, Approx(std::vector<double>{-1, -2, -4, -5}));
  auto z = run_one(OpKind::MaxPool, {1, 1, 3, 3}, iota(9), window(2, 1, 0));
  CHECK_THAT(z, Approx(std::vector<double>{5, 6, 8, 9}));
}

TEST_CASE("avgpool: padding counts in the divisor (count_include_pad)", "[reference][forward]") {
  auto y = run_one(OpKind::AvgPool, {1, 1, 3, 3}, iota(9), window(3, 2, 1));
  CHECK_THAT(y, Approx(std::vector<double>{12.0 / 9, 16.0 / 9, 24.0 / 9, 28.0 / 9}));
}

TEST_CASE("pooling with ceil_mode: PyTorch's sizes and divisors", "[reference][forward]") {
  // PyTorch: avg_pool2d(ones(1,1,4,4), 3, 2, 1, ceil_mode=True) is 3x3; the last window (rows
  // 3..5) is clipped to the padded image (rows up to 4): 2 of its rows count.
  Attrs a = window(3, 2, 1);
  a.ceil_mode = true;
  Dims out;
  auto y = run_one(OpKind::AvgPool, {1, 1, 4, 4}, std::vector<double>(16, 1.0), a, {}, &out);
  CHECK(out == Dims{1, 1, 3, 3});
  CHECK_THAT(y, Approx(std::vector<double>{4.0 / 9, 6.0 / 9, 2.0 / 6, 6.0 / 9, 1, 3.0 / 6, 2.0 / 6, 3.0 / 6, 1.0 / 4}));
  a.count_include_pad = false;  // every window divides by its elements inside the image
  CHECK_THAT(run_one(OpKind::AvgPool, {1, 1, 4, 4}, std::vector<double>(16, 1.0), a),
             Approx(std::vector<double>(9, 1.0)));
  // max_pool2d(arange(25).view(1,1,5,5), 2, 2, ceil_mode=True): the last row and column are
  // windows of their own.
  Attrs m = window(2, 2, 0);
  m.ceil_mode = true;
  CHECK_THAT(run_one(OpKind::MaxPool, {1, 1, 5, 5}, iota(25, 0), m, {}, &out),
             Approx(std::vector<double>{6, 8, 9, 16, 18, 19, 21, 23, 24}));
  CHECK(out == Dims{1, 1, 3, 3});
  // k2 s2 p1 on 5 rows: ceil((5 + 2 - 2) / 2) + 1 = 4, but window 3 would start at row 5,
  // in the right padding (PyTorch drops it): 3, as without ceil_mode.
  Attrs dropped = window(2, 2, 1);
  dropped.ceil_mode = true;
  run_one(OpKind::MaxPool, {1, 1, 5, 5}, iota(25), dropped, {}, &out);
  CHECK(out == Dims{1, 1, 3, 3});
}

TEST_CASE("global maxpool: the maximum of each channel", "[reference][forward]") {
  Dims out;
  auto y = run_one(OpKind::GlobalMaxPool, {2, 1, 2, 3}, {3, -1, 7, 2, 0, 5, -4, -2, -9, -3, -8, -5}, {}, {}, &out);
  CHECK(out == Dims{2, 1, 1, 1});
  CHECK_THAT(y, Approx(std::vector<double>{7, -2}));
}

TEST_CASE("a NaN wins a max window, as in PyTorch; windows without one keep their maximum", "[reference][forward]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto y = run_one(OpKind::MaxPool, {1, 1, 2, 4}, {1, nan, 3, 4, 5, 6, 7, 8}, window(2, 2, 0));
  REQUIRE(y.size() == 2);
  CHECK(std::isnan(y[0]));
  CHECK(y[1] == 8);
  auto g = run_one(OpKind::GlobalMaxPool, {1, 2, 1, 3}, {nan, 9, -1, 2, -3, 1}, {});
  REQUIRE(g.size() == 2);
  CHECK(std::isnan(g[0]));
  CHECK(g[1] == 2);
}

TEST_CASE("global avgpool: the mean of each channel", "[reference][forward]") {
  Dims out;
  auto y = run_one(OpKind::GlobalAvgPool, {1, 2, 2, 2}, iota(8), {}, {}, &out);
  CHECK(out == Dims{1, 2, 1, 1});
  CHECK_THAT(y, Approx(std::vector<double>{2.5, 6.5}));
}

TEST_CASE("linear: y = x W^T + b", "[reference][forward]") {
  Attrs a;
  a.out_features = 2;
  a.bias = true;
  auto y = run_one(OpKind::Linear, {2, 3}, {1, 2, 3, 4, 5, 6}, a,
                   {{"weight", {1, 0, -1, 0.5, 0.5, 0.5}}, {"bias", {10, 20}}});
  CHECK_THAT(y, Approx(std::vector<double>{8, 23, 8, 27.5}));
}

TEST_CASE("bn_stats and bn_apply: batch mean, biased variance", "[reference][forward]") {
  resnetc::ir::GraphBuilder b("g", {2, 2, 1, 2});
  ValueId stats = b.add(OpKind::BnStats, "stats", {b.input()}, {}, here());
  ValueId w = b.add_value("bn.weight", {2}, ValueRole::Parameter);
  ValueId bias = b.add_value("bn.bias", {2}, ValueRole::Parameter);
  Attrs a;
  a.eps = 0.5;
  ValueId y = b.apply(OpKind::BnApply, "apply", {b.input(), stats, w, bias}, a, here());
  auto g = std::move(b).finish(y);
  Executor ex(g);
  // Channel 0: 1, 2, 3, 6 (mean 3, var 3.5); channel 1: 0, 0, 4, -4 (mean 0, var 8).
  ex.set(g.input, {1, 2, 0, 0, 3, 6, 4, -4});
  ex.set(w, {2, 1});
  ex.set(bias, {1, -1});
  ex.run();
  CHECK_THAT(ex.get(stats), Approx(std::vector<double>{3, 0, 3.5, 8}));
  const double s0 = 2 / std::sqrt(4.0), s1 = 1 / std::sqrt(8.5);
  CHECK_THAT(ex.get(y), Approx(std::vector<double>{-2 * s0 + 1, -1 * s0 + 1, -1, -1, 1, 3 * s0 + 1, 4 * s1 - 1,
                                                   -4 * s1 - 1}));
}

TEST_CASE("softmax cross entropy and its gradient, stable for huge logits", "[reference][forward]") {
  resnetc::ir::GraphBuilder b("g", {2, 3});
  ValueId labels = b.add_value("labels", {2}, ValueRole::Input, resnetc::ir::DType::I32);
  ValueId loss = b.apply(OpKind::SoftmaxCrossEntropy, "loss", {b.input(), labels}, {}, here());
  ValueId grad = b.apply(OpKind::SoftmaxCrossEntropyGrad, "grad", {b.input(), labels}, {}, here());
  auto g = std::move(b).finish(loss);
  Executor ex(g);
  ex.set(g.input, {0, 0, 0, 1000, 0, -1000});
  ex.set(labels, {1, 0});
  ex.run();
  // Sample 0: log 3; sample 1: 0 (its label has all the probability).
  CHECK_THAT(ex.get(loss), Approx(std::vector<double>{std::log(3.0) / 2}));
  const double t = 1.0 / 6;
  CHECK_THAT(ex.get(grad), Approx(std::vector<double>{t, t - 0.5, t, 0, 0, 0}).margin(1e-15));
}

TEST_CASE("maxpool_grad sends a tie to the first maximum in scan order", "[reference][forward]") {
  resnetc::ir::GraphBuilder b("g", {1, 1, 2, 2});
  Attrs a = window(3, 1, 1);  // every window covers all 4 pixels (and padding)
  ValueId y = b.add(OpKind::MaxPool, "pool", {b.input()}, a, here());
  ValueId dy = b.add_value("dy", {1, 1, 2, 2}, ValueRole::State);
  ValueId dx = b.apply(OpKind::MaxPoolGrad, "pool_grad", {dy, b.input()}, a, here());
  auto g = std::move(b).finish(y);
  Executor ex(g);
  ex.set(g.input, {0, 0, 0, 0});
  ex.set(dy, {1, 2, 3, 4});
  ex.run();
  CHECK_THAT(ex.get(y), Approx(std::vector<double>{0, 0, 0, 0}));
  CHECK_THAT(ex.get(dx), Approx(std::vector<double>{10, 0, 0, 0}));
  // A tie in the second row only: the earlier column wins.
  ex.set(g.input, {-1, -2, 5, 5});
  ex.run();
  CHECK_THAT(ex.get(dx), Approx(std::vector<double>{0, 0, 10, 0}));
}
