// The update ops (PyTorch's SGD, Nesterov's too, AdamW and BatchNorm running statistics) and the
// executor's errors.
#include <cmath>

#include <catch2/catch.hpp>

#include "reference_test_util.h"

using namespace resnetc::reference;
using namespace resnetc::reference::testing;
using Catch::Matchers::Approx;
using Catch::Matchers::Contains;

namespace {

struct SgdGraph {
  resnetc::ir::Graph g;
  ValueId param, grad, lr, velocity = resnetc::ir::kNoValue;
};

SgdGraph sgd_graph(double momentum, double weight_decay, bool nesterov = false) {
  resnetc::ir::GraphBuilder b("g", {1});
  SgdGraph s;
  s.param = b.add_value("w", {5}, ValueRole::Parameter);
  s.grad = b.add_value("w.grad", {5}, ValueRole::State);
  s.lr = b.add_value("lr", {1}, ValueRole::Input);
  Attrs a;
  a.weight_decay = weight_decay;
  if (momentum > 0) {
    a.momentum = momentum;
    a.nesterov = nesterov;
    s.velocity = b.add_value("w.velocity", {5}, ValueRole::State);
    b.apply(OpKind::SgdMomentumUpdate, "update", {s.param, s.grad, s.lr, s.velocity}, a, here());
  } else {
    b.apply(OpKind::SgdUpdate, "update", {s.param, s.grad, s.lr}, a, here());
  }
  s.g = std::move(b).finish(s.param);
  return s;
}

// torch.optim.SGD.step for one tensor, as its source writes it (dampening 0, no Nesterov).
void torch_sgd_step(std::vector<double>& p, const std::vector<double>& grad, std::vector<double>& buf, bool& has_buf,
                    double lr, double momentum, double weight_decay) {
  std::vector<double> d_p = grad;
  for (size_t i = 0; i < p.size(); ++i) d_p[i] += weight_decay * p[i];
  if (momentum != 0) {
    if (!has_buf) {
      buf = d_p;
      has_buf = true;
    } else {
      for (size_t i = 0; i < p.size(); ++i) buf[i] = momentum * buf[i] + d_p[i];
    }
    d_p = buf;
  }
  for (size_t i = 0; i < p.size(); ++i) p[i] -= lr * d_p[i];
}

struct AdamwGraph {
  resnetc::ir::Graph g;
  ValueId param, grad, lr, step, exp_avg, exp_avg_sq;
};

AdamwGraph adamw_graph(double weight_decay, double beta1, double beta2, double eps) {
  resnetc::ir::GraphBuilder b("g", {1});
  AdamwGraph s;
  s.param = b.add_value("w", {5}, ValueRole::Parameter);
  s.grad = b.add_value("w.grad", {5}, ValueRole::State);
  s.lr = b.add_value("lr", {1}, ValueRole::Input);
  s.step = b.add_value("optimizer.step", {1}, ValueRole::State);
  s.exp_avg = b.add_value("w.exp_avg", {5}, ValueRole::State);
  s.exp_avg_sq = b.add_value("w.exp_avg_sq", {5}, ValueRole::State);
  Attrs a;
  a.weight_decay = weight_decay;
  a.momentum = beta1;
  a.beta2 = beta2;
  a.eps = eps;
  b.apply(OpKind::AdamwUpdate, "update", {s.param, s.grad, s.lr, s.step, s.exp_avg, s.exp_avg_sq}, a, here());
  s.g = std::move(b).finish(s.param);
  return s;
}

}  // namespace

TEST_CASE("SGD with Nesterov momentum and weight decay matches torch.optim.SGD(nesterov=True) over 3 steps",
          "[reference][updates]") {
  const double momentum = 0.9, weight_decay = 0.05;
  SgdGraph s = sgd_graph(momentum, weight_decay, true);
  Executor ex(s.g);
  std::vector<double> p = random_values(5, 1), buf(5, 0.0);
  ex.set(s.param, p);
  ex.set(s.velocity, buf);
  const double lrs[] = {0.1, 0.05, 0.2};
  for (uint32_t step = 0; step < 3; ++step) {
    const std::vector<double> grad = random_values(5, 10 + step);
    ex.set(s.grad, grad);
    ex.set(s.lr, {lrs[step]});
    ex.run();
    // As torch.optim.SGD's source: d_p = grad + wd p; buf = momentum buf + d_p (the first step's
    // buf is d_p); d_p += momentum buf; p -= lr d_p.
    for (size_t i = 0; i < p.size(); ++i) {
      const double d = grad[i] + weight_decay * p[i];
      buf[i] = step == 0 ? d : momentum * buf[i] + d;
      p[i] -= lrs[step] * (d + momentum * buf[i]);
    }
    CHECK_THAT(ex.get(s.param), Approx(p).epsilon(1e-14));
    CHECK_THAT(ex.get(s.velocity), Approx(buf).epsilon(1e-14));
  }
}

TEST_CASE("AdamW matches torch.optim.AdamW's single-tensor step over 3 steps", "[reference][updates]") {
  const double weight_decay = 0.1, b1 = 0.8, b2 = 0.95, eps = 1e-3;
  AdamwGraph s = adamw_graph(weight_decay, b1, b2, eps);
  Executor ex(s.g);
  std::vector<double> p = random_values(5, 1), m(5, 0.0), v(5, 0.0);
  ex.set(s.param, p);
  ex.set(s.exp_avg, m);
  ex.set(s.exp_avg_sq, v);
  const double lrs[] = {0.1, 0.05, 0.2};
  for (uint32_t step = 0; step < 3; ++step) {
    const std::vector<double> grad = random_values(5, 10 + step);
    const double t = step + 1;
    ex.set(s.grad, grad);
    ex.set(s.lr, {lrs[step]});
    ex.set(s.step, {t});
    ex.run();
    // As torch.optim.adamw's _single_tensor_adamw: decay, the moments, then the step with
    // step_size = lr / (1 - b1^t) and denom = sqrt(v) / sqrt(1 - b2^t) + eps.
    const double step_size = lrs[step] / (1 - std::pow(b1, t)), bc2_sqrt = std::sqrt(1 - std::pow(b2, t));
    for (size_t i = 0; i < p.size(); ++i) {
      p[i] *= 1 - lrs[step] * weight_decay;
      m[i] += (grad[i] - m[i]) * (1 - b1);
      v[i] = b2 * v[i] + (1 - b2) * grad[i] * grad[i];
      p[i] -= step_size * m[i] / (std::sqrt(v[i]) / bc2_sqrt + eps);
    }
    CHECK_THAT(ex.get(s.param), Approx(p).epsilon(1e-13));
    CHECK_THAT(ex.get(s.exp_avg), Approx(m).epsilon(1e-13));
    CHECK_THAT(ex.get(s.exp_avg_sq), Approx(v).epsilon(1e-13));
  }
}

TEST_CASE("SGD updates match torch.optim.SGD over 3 steps", "[reference][updates]") {
  for (double momentum : {0.0, 0.9})
    for (double weight_decay : {0.0, 5e-4, 0.1}) {
      CAPTURE(momentum, weight_decay);
      SgdGraph s = sgd_graph(momentum, weight_decay);
      Executor ex(s.g);
      std::vector<double> p = random_values(5, 1), buf;
      bool has_buf = false;
      ex.set(s.param, p);
      if (s.velocity != resnetc::ir::kNoValue) ex.set(s.velocity, std::vector<double>(5, 0.0));
      const double lrs[] = {0.1, 0.05, 0.2};
      for (uint32_t step = 0; step < 3; ++step) {
        std::vector<double> grad = random_values(5, 10 + step);
        ex.set(s.grad, grad);
        ex.set(s.lr, {lrs[step]});
        ex.run();
        torch_sgd_step(p, grad, buf, has_buf, lrs[step], momentum, weight_decay);
        CHECK_THAT(ex.get(s.param), Approx(p).epsilon(1e-14));
        if (s.velocity != resnetc::ir::kNoValue) CHECK_THAT(ex.get(s.velocity), Approx(buf).epsilon(1e-14));
      }
    }
}

TEST_CASE("BnRunningUpdate: PyTorch's momentum update with the unbiased variance", "[reference][updates]") {
  resnetc::ir::GraphBuilder b("g", {1});
  ValueId mean = b.add_value("bn.running_mean", {3}, ValueRole::State);
  ValueId var = b.add_value("bn.running_var", {3}, ValueRole::State);
  ValueId stats = b.add_value("stats", {2, 3}, ValueRole::State);
  Attrs a;
  a.momentum = 0.25;
  a.shape = {2, 3, 4, 5};  // n = 2*4*5 = 40 values per channel
  b.apply(OpKind::BnRunningUpdate, "bn_running", {mean, var, stats}, a, here());
  auto g = std::move(b).finish(mean);
  Executor ex(g);
  std::vector<double> m = {0, 0, 0}, v = {1, 1, 1};
  ex.set(mean, m);
  ex.set(var, v);
  for (uint32_t step = 0; step < 2; ++step) {
    std::vector<double> s = random_values(6, 20 + step, 0.1, 2);
    ex.set(stats, s);
    ex.run();
    for (size_t c = 0; c < 3; ++c) {
      m[c] = 0.75 * m[c] + 0.25 * s[c];
      v[c] = 0.75 * v[c] + 0.25 * s[3 + c] * 40.0 / 39.0;
    }
    CHECK_THAT(ex.get(mean), Approx(m).epsilon(1e-14));
    CHECK_THAT(ex.get(var), Approx(v).epsilon(1e-14));
  }
}

TEST_CASE("BnRunningUpdate refuses one value per channel, as PyTorch does", "[reference][updates][errors]") {
  resnetc::ir::GraphBuilder b("g", {1});
  ValueId mean = b.add_value("bn.running_mean", {2}, ValueRole::State);
  ValueId var = b.add_value("bn.running_var", {2}, ValueRole::State);
  ValueId stats = b.add_value("stats", {2, 2}, ValueRole::State);
  Attrs a;
  a.shape = {1, 2, 1, 1};
  REQUIRE_THROWS_WITH(b.apply(OpKind::BnRunningUpdate, "bn_running", {mean, var, stats}, a, here()),
                      Contains("a running update needs more than 1 value per channel, got n = 1"));
  // A graph that skipped the builder's shape rules meets them again in the executor.
  a.shape = {2, 2, 1, 1};
  b.apply(OpKind::BnRunningUpdate, "bn_running", {mean, var, stats}, a, here());
  auto g = std::move(b).finish(mean);
  g.ops.back().attrs.shape = {1, 2, 1, 1};
  REQUIRE_THROWS_WITH(Executor(g), Contains("bn_running") && Contains("more than 1 value per channel"));
}

TEST_CASE("executor errors name the value", "[reference][errors]") {
  resnetc::ir::GraphBuilder b("g", {1, 2, 5, 5});
  Attrs a;
  a.out_channels = 3;
  a.kernel[0] = a.kernel[1] = 3;
  ValueId y = b.add(OpKind::Conv2d, "stem.conv", {b.input()}, a, here());
  ValueId labels = b.add_value("labels", {1}, ValueRole::Input, resnetc::ir::DType::I32);
  Attrs fc;
  fc.out_features = 4;
  ValueId flat = b.add(OpKind::Flatten, "flatten", {y}, {}, here());
  ValueId logits = b.add(OpKind::Linear, "fc", {flat}, fc, here());
  b.apply(OpKind::SoftmaxCrossEntropy, "loss", {logits, labels}, {}, here());
  auto g = std::move(b).finish(logits);
  const ValueId w = 1, fc_w = 5;
  REQUIRE(g.value(w).name == "stem.conv.weight");
  REQUIRE(g.value(fc_w).name == "fc.weight");
  Executor ex(g);

  SECTION("a wrongly sized value") {
    REQUIRE_THROWS_AS(ex.set(w, std::vector<double>(53)), ExecutorError);
    REQUIRE_THROWS_WITH(ex.set(w, std::vector<double>(53)),
                        Contains("'stem.conv.weight'") && Contains("[3, 2, 3, 3]") && Contains("needs 54 elements, got 53"));
    REQUIRE_THROWS_WITH(ex.set(g.input, {}), Contains("input 'input'") && Contains("needs 50 elements, got 0"));
  }
  SECTION("a value never set") {
    ex.set(g.input, random_values(50, 1));
    ex.set(w, random_values(54, 2));
    ex.set(labels, {1});
    REQUIRE_THROWS_AS(ex.run(), ExecutorError);
    REQUIRE_THROWS_WITH(ex.run(), Contains("never set") && Contains("parameter 'fc.weight'") && Contains("op 'fc'"));
    REQUIRE_THROWS_WITH(ex.get(logits), Contains("'fc'") && Contains("run() has not computed it"));
  }
  SECTION("labels") {
    ex.set(g.input, random_values(50, 1));
    ex.set(w, random_values(54, 2));
    ex.set(fc_w, random_values(108, 3));
    REQUIRE_THROWS_WITH(ex.set(labels, {1.5}), Contains("'labels'") && Contains("integers"));
    ex.set(labels, {4});
    REQUIRE_THROWS_WITH(ex.run(), Contains("op 'loss'") && Contains("not a class index in [0, 4)"));
    ex.set(labels, {3});
    ex.run();
    CHECK(ex.get(g.ops.back().output).size() == 1);
  }
  SECTION("activations are computed, not set") {
    REQUIRE_THROWS_WITH(ex.set(y, std::vector<double>(27)), Contains("activation 'stem.conv'") && Contains("computed by an op"));
    REQUIRE_THROWS_WITH(ex.set(999, {}), Contains("out of range"));
    REQUIRE_THROWS_WITH(ex.get(fc_w), Contains("never set"));
  }
}

TEST_CASE("executor refuses a graph it cannot run", "[reference][errors]") {
  resnetc::ir::GraphBuilder b("g", {1, 2, 5, 5});
  ValueId y = b.add(OpKind::Relu, "relu", {b.input()}, {}, here());
  auto g = std::move(b).finish(y);
  g.values[static_cast<size_t>(y)].shape = {1, 2, 5, 4};
  REQUIRE_THROWS_WITH(Executor(g), Contains("op 'relu'") && Contains("[1, 2, 5, 4]"));
  g.values[static_cast<size_t>(y)].shape = {1, 2, 5, 5};
  g.ops[0].inputs[0] = 42;
  REQUIRE_THROWS_WITH(Executor(g), Contains("op 'relu'") && Contains("out of range"));
}
