// The training graph (compiler/autodiff) run on the reference executor: the gradient every
// SgdUpdate reads must be the derivative of the loss, checked against central finite
// differences of the whole graph, for every element of every parameter.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>

#include "compiler/autodiff/training_graph.h"
#include "dsl/frontend.h"
#include "reference_test_util.h"

using namespace resnetc;
using namespace resnetc::reference;
using namespace resnetc::reference::testing;

namespace {

ir::Graph compile(const std::string& text, int64_t batch) {
  dsl::SourceManager sources;
  dsl::LowerOptions options;
  options.batch = batch;
  return dsl::compile_source(sources, "t.net", text, options).graph;
}

// Every value a training step reads but does not compute, with plausible data: BN scales near
// 1, running variances 1, small weights, labels in range, lr 0.1.
Case training_case(ir::Graph g, uint32_t seed) {
  Case c;
  const int64_t classes = g.shape(g.output)[1];
  for (size_t i = 0; i < g.values.size(); ++i) {
    const ir::Value& v = g.values[i];
    const auto id = static_cast<ValueId>(i);
    const int64_t count = ir::numel(v.shape);
    if (v.role == ValueRole::Activation) continue;
    if (id == g.labels) {
      std::vector<double> labels(static_cast<size_t>(count));
      for (size_t n = 0; n < labels.size(); ++n) labels[n] = static_cast<double>(n % static_cast<size_t>(classes));
      c.values[id] = labels;
    } else if (id == g.learning_rate) {
      c.values[id] = {0.1};
    } else if (v.name.ends_with(".running_var")) {
      c.values[id] = std::vector<double>(static_cast<size_t>(count), 1.0);
    } else if (v.name.ends_with(".running_mean") || v.name.ends_with(".velocity")) {
      c.values[id] = std::vector<double>(static_cast<size_t>(count), 0.0);
    } else if (v.role == ValueRole::Parameter && v.shape.size() == 1 && v.name.ends_with(".weight")) {
      c.values[id] = random_values(count, seed + static_cast<uint32_t>(i), 0.5, 1.5);  // BN scale
    } else {
      c.values[id] = random_values(count, seed + static_cast<uint32_t>(i), -0.5, 0.5);
    }
  }
  c.graph = std::move(g);
  return c;
}

struct Update {
  ValueId param, grad;
};

std::vector<Update> sgd_updates(const ir::Graph& g) {
  std::vector<Update> out;
  for (const ir::Op& op : g.ops)
    if (op.kind == OpKind::SgdUpdate || op.kind == OpKind::SgdMomentumUpdate) out.push_back({op.inputs[0], op.inputs[1]});
  return out;
}

}  // namespace

TEST_CASE("training graph: every parameter's gradient matches finite differences of the loss",
          "[reference][training]") {
  const std::string text = R"(
network t {
  input 2x6x6
  stem { conv 3 k3 p1 bias; bn; relu }
  stage basic 4 stride=2
  head { avgpool; fc 3 }
}
)";
  ir::Graph g = autodiff::make_training_graph(compile(text, 3), {});
  const Case c = training_case(std::move(g), 7);
  const ir::Graph& tg = c.graph;
  REQUIRE(tg.loss != ir::kNoValue);

  const Executor step = c.run();
  const std::vector<Update> updates = sgd_updates(tg);
  int parameters = 0;
  for (size_t i = 0; i < tg.values.size(); ++i) parameters += tg.values[i].role == ValueRole::Parameter;
  CHECK(updates.size() == static_cast<size_t>(parameters));  // every parameter is trained

  double worst = 0;
  for (const Update& u : updates) {
    const ir::Value& p = tg.value(u.param);
    CAPTURE(p.name);
    const std::vector<double>& grad = step.get(u.grad);
    Case probe = c;
    std::vector<double>& x = probe.values.at(u.param);
    double worst_here = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double saved = x[i], h = 1e-6;
      x[i] = saved + h;
      const double up = probe.run().get(tg.loss)[0];
      x[i] = saved - h;
      const double down = probe.run().get(tg.loss)[0];
      x[i] = saved;
      worst_here = std::max(worst_here, relative_error(grad[i], (up - down) / (2 * h)));
    }
    std::printf("training graph: %-28s %3zu elements, worst relative error %.2e\n", p.name.c_str(), x.size(),
                worst_here);
    CHECK(worst_here < 1e-6);
    worst = std::max(worst, worst_here);

    // And the update itself: plain SGD (momentum 0, weight decay 0) with lr 0.1.
    const std::vector<double>& before = c.values.at(u.param);
    std::vector<double> expected(before.size());
    for (size_t i = 0; i < before.size(); ++i) expected[i] = before[i] - 0.1 * grad[i];
    CHECK_THAT(step.get(u.param), Catch::Matchers::Approx(expected).epsilon(1e-14));
  }
  std::printf("training graph: worst relative error over every parameter %.2e\n", worst);

  // The running statistics moved 0.1 of the way to the batch statistics.
  for (const ir::Op& op : tg.ops) {
    if (op.kind != OpKind::BnRunningUpdate) continue;
    const std::vector<double>& stats = step.get(op.inputs[2]);
    const size_t channels = stats.size() / 2;
    const double n = static_cast<double>(op.attrs.shape[0] * op.attrs.shape[2] * op.attrs.shape[3]);
    std::vector<double> mean(channels), var(channels);
    for (size_t ch = 0; ch < channels; ++ch) {
      mean[ch] = 0.1 * stats[ch];
      var[ch] = 0.9 + 0.1 * stats[channels + ch] * n / (n - 1);
    }
    CHECK_THAT(step.get(op.inputs[0]), Catch::Matchers::Approx(mean).epsilon(1e-14));
    CHECK_THAT(step.get(op.inputs[1]), Catch::Matchers::Approx(var).epsilon(1e-14));
  }
}

TEST_CASE("training graph: one ResNet-18 step at 1x28x28, batch 2, in a few seconds", "[reference][training]") {
  std::string text = R"(
network resnet18 {
  input 1x28x28
  stem { conv 64 k7 s2 p3; bn; relu; maxpool k3 s2 p1 }
  stage basic 64  x2
  stage basic 128 x2 stride=2
  stage basic 256 x2 stride=2
  stage basic 512 x2 stride=2
  head { avgpool; fc 10 }
}
)";
  autodiff::TrainingOptions options;
  options.momentum = 0.9;
  options.weight_decay = 5e-4;
  const Case c = training_case(autodiff::make_training_graph(compile(text, 2), options), 11);
  const auto start = std::chrono::steady_clock::now();
  const Executor step = c.run();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("reference executor: one ResNet-18 training step (1x28x28, batch 2) in %.2f s\n", seconds);
  const double loss = step.get(c.graph.loss)[0];
  CHECK(std::isfinite(loss));
  CHECK(loss > 0);
  CHECK(seconds < 30);  // a loose bound: an unoptimized build on a slow machine still passes
}

namespace {

// The error make_training_graph throws for `text` at `batch`.
ir::CompileError training_error(const std::string& text, int64_t batch) {
  const ir::Graph forward = compile(text, batch);
  REQUIRE(autodiff::why_untrainable(forward).has_value());
  try {
    autodiff::make_training_graph(forward, {});
  } catch (const ir::CompileError& e) {
    return e;
  }
  FAIL("make_training_graph accepted it");
  throw;  // unreachable: FAIL throws
}

}  // namespace

TEST_CASE("training graph: no classifier is refused at the head's last layer, or the network's name",
          "[reference][training][errors]") {
  const ir::CompileError headless = training_error("network n {\n input 1x8x8\n stem { conv 4 k3 p1; bn; relu }\n"
                                                 " stage basic 4\n}",
                                                 2);
  CHECK_THAT(headless.what(), Catch::Matchers::StartsWith("a training step needs a classifier") &&
                                  Catch::Matchers::Contains("the network's output is [2, 4, 8, 8]"));
  CHECK(*headless.diagnostic.loc.file == "t.net");
  CHECK(headless.diagnostic.loc.line == 1);
  const ir::CompileError pooled = training_error("network n {\n input 1x8x8\n stem { conv 4 k3 p1 }\n"
                                               " head { avgpool }\n}",
                                               2);
  CHECK_THAT(pooled.what(), Catch::Matchers::Contains("the network's output is [2, 4, 1, 1]"));
  CHECK(pooled.diagnostic.loc.line == 4);
  CHECK(pooled.diagnostic.loc.col == 9);
}

TEST_CASE("training graph: BatchNorm with one value per channel is refused at its layer, as PyTorch does",
          "[reference][training][errors]") {
  const std::string stem = "network n {\n input 1x2x2\n stem { conv 4 k2; bn; relu }\n head { avgpool; fc 3 }\n}";
  const ir::CompileError one = training_error(stem, 1);
  CHECK_THAT(one.what(), Catch::Matchers::Contains("more than one value per channel, but 'stem.bn' gets [1, 4, 1, 1]"));
  CHECK(one.diagnostic.loc.line == 3);
  CHECK(one.diagnostic.loc.col == 20);
  CHECK_FALSE(autodiff::why_untrainable(compile(stem, 2)).has_value());  // two values per channel

  // In a built-in block the op remembers the stage, where the error is shown.
  const ir::CompileError in_block =
      training_error("network n {\n input 4x1x1\n stage basic 4\n head { avgpool; fc 3 }\n}", 1);
  CHECK_THAT(in_block.what(), Catch::Matchers::Contains("'stage1.block0.bn1' gets [1, 4, 1, 1]"));
  CHECK(*in_block.diagnostic.loc.file == "<prelude>");
  REQUIRE(in_block.diagnostic.loc.instance);
  CHECK(*in_block.diagnostic.loc.instance->file == "t.net");
  CHECK(in_block.diagnostic.loc.instance->line == 3);
}

TEST_CASE("training graph: an op autodiff has no gradient for is refused at its op, by name and kind",
          "[reference][training][errors]") {
  ir::GraphBuilder b("n", {2, 4});
  ir::SourceLoc at;
  at.line = 7;
  ir::Attrs reshape;
  reshape.shape = {2, 4};
  const ValueId r = b.apply(ir::OpKind::Reshape, "r", {b.input()}, reshape, at);
  ir::Attrs fc;
  fc.out_features = 3;
  const ValueId logits = b.add(ir::OpKind::Linear, "fc", {r}, fc, {});
  const ir::Graph forward = std::move(b).finish(logits);
  REQUIRE_FALSE(autodiff::why_untrainable(forward).has_value());
  try {
    autodiff::make_training_graph(forward, {});
    FAIL("make_training_graph accepted a reshape");
  } catch (const ir::CompileError& e) {
    CHECK(std::string(e.what()) == "cannot differentiate op 'r' (reshape)");
    CHECK(e.diagnostic.loc.line == 7);
  }
}
