#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string_view>

#include "compiler/autodiff/training_graph.h"
#include "compiler/passes/pass.h"
#include "compiler/plan/collectives.h"
#include "compiler/plan/kernel_plan.h"
#include "compiler/reference/executor.h"
#include "dsl/frontend.h"
#include "runtime/cuda/driver.h"
#include "backends/cuda/cuda_backend.h"
#include "runtime/data/augment.h"
#include "runtime/data/sampler.h"
#include "tests/bf16_bounds.h"
#include "tests/conformance/graphs.h"
#include "tests/conv_case.h"
#include "train/executor.h"
#include "train/initialize.h"

using namespace resnetc;

namespace {

// The worst relative error over every buffer the GPU writes, against the reference executor.
double worst_error(const ir::Graph& graph, train::Backend& backend, std::string* where) {
  plan::KernelPlan plan = passes::optimized_plan(graph, passes::at_level(0));  // no reuse: every buffer is read back
  auto exec = backend.compile(plan);
  reference::Executor ref(graph);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const plan::Buffer& b = plan.buffers[i];
    if (b.storage == plan::Storage::Arena) continue;
    auto n = static_cast<size_t>(ir::numel(b.shape));
    std::vector<double> values(n);
    if (b.value == graph.labels) {
      std::vector<int32_t> labels(n);
      for (size_t j = 0; j < n; ++j) labels[j] = static_cast<int32_t>(rng() % 10), values[j] = labels[j];
      train::write_buffer(*exec, static_cast<int>(i), std::span<const int32_t>(labels));
    } else {
      std::vector<float> f(n);
      bool positive = b.name.ends_with("running_var") || b.value == graph.learning_rate;
      for (size_t j = 0; j < n; ++j) f[j] = positive ? std::abs(u(rng)) + 0.1f : u(rng), values[j] = f[j];
      train::write_buffer(*exec, static_cast<int>(i), std::span<const float>(f));
    }
    ref.set(b.value, values);
  }
  exec->run();
  ref.run();
  double worst = 0;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const plan::Buffer& b = plan.buffers[i];
    if (b.storage == plan::Storage::Input) continue;
    const std::vector<double>& want = ref.get(b.value);
    std::vector<float> got(want.size());
    train::read_buffer(*exec, static_cast<int>(i), std::span<float>(got));
    double scale = 1e-6, err = 0;
    for (double w : want) scale = std::max(scale, std::abs(w));
    for (size_t j = 0; j < want.size(); ++j)
      err = std::max(err, std::isfinite(got[j]) ? std::abs(got[j] - want[j]) / scale : INFINITY);
    if (err > worst) worst = err, *where = b.name;
  }
  return worst;
}

// False, with a warning, where there is no GPU to check against.
bool gpu_here() {
  if (cuda::driver_available() && cuda::device_count() > 0) return true;
  WARN("no NVIDIA GPU here: nothing to check (tools/gpu-check runs this on a GPU machine)");
  return false;
}

// The step of `plan` (a training graph of batch 4) compiled, initialized from seed 7 and given a
// batch of random images, labels and lr 0.1, not yet run.
std::unique_ptr<train::PlanExecutor> prepared_step(train::Backend& backend, const plan::KernelPlan& plan,
                                                   const ir::Graph& training) {
  std::unique_ptr<train::PlanExecutor> e = backend.compile(plan);
  train::initialize_persistent(*e, plan, training, 7);
  std::vector<float> images(static_cast<size_t>(ir::numel(plan.buffer(plan.input).shape)));
  std::mt19937 rng(3);
  for (float& v : images) v = std::uniform_real_distribution<float>(0, 1)(rng);
  const std::vector<int32_t> labels{1, 4, 7, 9};
  const std::vector<float> lr{0.1f};
  train::write_buffer(*e, plan.input, std::span<const float>(images));
  train::write_buffer(*e, plan.labels, std::span<const int32_t>(labels));
  train::write_buffer(*e, plan.learning_rate, std::span<const float>(lr));
  return e;
}

// Every parameter's values, in buffer order.
std::vector<float> parameter_values(train::PlanExecutor& e, const plan::KernelPlan& plan) {
  std::vector<float> all;
  for (size_t b = 0; b < plan.buffers.size(); ++b)
    if (plan.buffers[b].role == ir::ValueRole::Parameter) {
      std::vector<float> values(static_cast<size_t>(ir::numel(plan.buffers[b].shape)));
      train::read_buffer(e, static_cast<int>(b), std::span<float>(values));
      all.insert(all.end(), values.begin(), values.end());
    }
  return all;
}

}  // namespace

TEST_CASE("a whole training step on the GPU matches the reference executor (TF32 tolerance)") {
  if (!gpu_here()) return;
  cuda_backend::CudaBackend backend(0, {});
  const char* net = R"(
network tiny {
  input 3x19x17
  stem { conv 16 k3 p1; bn; relu; maxpool k3 s2 p1 }
  stage basic 24 stride=2
  stage bottleneck 8 x2
  head { avgpool; fc 10 }
})";
  dsl::SourceManager sources;
  ir::Graph forward = dsl::compile_source(sources, "t.net", net, {std::nullopt, 5}).graph;
  std::string where;
  double forward_error = worst_error(forward, backend, &where);
  INFO("forward, worst at " << where);
  CHECK(forward_error < 1e-2);
  double step_error = worst_error(autodiff::make_training_graph(forward, {0.9, 1e-4}), backend, &where);
  INFO("training step, worst at " << where);
  CHECK(step_error < 1e-2);
}

TEST_CASE("bf16 mma.sync GEMMs on the GPU meet bf16's bound against the reference executor") {
  // The bounds the emulated kernels meet (tests/cuda_codegen/test_emulated_bf16.cpp): on the
  // hardware they also check the fragment layout the emulator assumes.
  if (!gpu_here()) return;
  cuda_backend::CudaBackend backend(0, {});
  namespace conformance = testing::conformance;
  using testing::square_conv;
  auto check = [&](const ir::Graph& graph, int64_t K) {
    const plan::KernelPlan plan =
        plan::make_plan(graph, {.reuse_memory = false, .precision = plan::Precision::Bf16});
    auto exec = backend.compile(plan);
    testing::check_bf16_bounds(graph, plan, K,
                               {[&](int buffer, std::span<const float> values) { train::write_buffer(*exec, buffer, values); },
                                [&] { exec->run(); },
                                [&](int buffer) {
                                  std::vector<float> v(static_cast<size_t>(ir::numel(plan.buffer(buffer).shape)));
                                  train::read_buffer(*exec, buffer, std::span<float>(v));
                                  return v;
                                }});
  };
  SECTION("conv2d, 128x16 tiles") { check(conformance::conv_forward(square_conv({3, 5, 9, 9}, 13, 3, 2, 1, 1, true)), 45); }
  SECTION("conv2d, 64x64 tiles") { check(conformance::conv_forward(square_conv({3, 5, 9, 9}, 70, 3, 1, 1, 1, true)), 45); }
  SECTION("conv2d, 64x64 tiles, K split in two") {
    check(conformance::conv_forward(square_conv({32, 64, 14, 14}, 64, 3, 1, 1)), 576);
  }
  SECTION("conv2d 1x1, 128x64 tiles") { check(conformance::conv_forward(square_conv({44, 16, 28, 28}, 64, 1, 1, 0)), 16); }
  SECTION("conv2d_grad_input stride 2") { check(conformance::conv_grad_input(square_conv({3, 5, 9, 9}, 13, 3, 2, 1)), 117); }
  SECTION("conv2d with BatchNorm statistics") {
    check(conformance::conv_stats(square_conv({3, 5, 9, 9}, 13, 3, 2, 1, 1, true)), 45);
  }
  SECTION("conv2d_grad_weight stride 2, K split in two") {
    check(conformance::conv_grad_weight(square_conv({8, 16, 16, 16}, 32, 3, 2, 1)), 512);
  }
  SECTION("conv2d_grad_weight, 64x64 tiles") {
    check(conformance::conv_grad_weight(square_conv({3, 5, 9, 9}, 70, 3, 1, 1)), 243);
  }
  SECTION("linear") { check(conformance::linear_forward(11, 37, 19, true), 37); }
  SECTION("linear_grad_input") { check(conformance::linear_grad_input(11, 37, 19), 19); }
}

TEST_CASE("batches assembled on the GPU equal the host's, and the -O2 step runs through its CUDA graph twice") {
  if (!gpu_here()) return;
  cuda_backend::CudaBackend backend(0, {});
  const char* net = R"(
network small {
  input 1x32x30
  stem { conv 8 k3 p1; bn; relu }
  stage basic 8
  head { avgpool; fc 10 }
})";
  dsl::SourceManager sources;
  ir::Graph training = autodiff::make_training_graph(
      dsl::compile_source(sources, "t.net", net, {std::nullopt, 6}).graph, {0.9, 5e-4});
  passes::run_pipeline(training, {});
  const plan::KernelPlan plan = plan::make_plan(training);
  auto exec = backend.compile(plan);

  data::Split split{9, 28, 28, {}, {}};
  std::mt19937 rng(3);
  for (int i = 0; i < 9 * 28 * 28; ++i) split.images.push_back(static_cast<uint8_t>(rng()));
  for (int i = 0; i < 9; ++i) split.labels.push_back(static_cast<uint8_t>(i % 10));
  const std::vector<uint32_t> indices{8, 1, 1, 0, 5, 3};
  std::unique_ptr<train::BatchSource> source = exec->batch_source(split, {});
  REQUIRE(source != nullptr);
  source->feed(indices);
  exec->run();  // the device batches are on the step's stream: run() waits for them too

  std::vector<float> want(6 * 32 * 30), got(want.size());
  std::vector<int32_t> want_labels(6), got_labels(6);
  data::fill_batch(split, indices, data::Resizer(28, 28, 32, 30), want.data(), want_labels.data());
  train::read_buffer(*exec, plan.input, std::span<float>(got));
  train::read_buffer(*exec, plan.labels, std::span<int32_t>(got_labels));
  CHECK(got == want);
  CHECK(got_labels == want_labels);

  // The epoch's order drawn on the GPU is the host's, and feed_order() feeds a slice of it.
  const std::vector<uint32_t> order = source->shuffle(42, 1);
  CHECK(order == data::epoch_order(42, 1, 9));
  source->feed_order(3);
  exec->run();
  data::fill_batch(split, std::span(order).subspan(3, 6), data::Resizer(28, 28, 32, 30), want.data(), want_labels.data());
  train::read_buffer(*exec, plan.input, std::span<float>(got));
  train::read_buffer(*exec, plan.labels, std::span<int32_t>(got_labels));
  CHECK(got == want);
  CHECK(got_labels == want_labels);
  CHECK_THROWS_AS(source->feed_order(4), std::out_of_range);
  // Normalized on the GPU as on the host, bit for bit.
  const data::Normalization normalization{{0.2860f}, {0.3530f}};
  exec->batch_source(split, normalization)->feed(indices);
  exec->run();
  data::fill_batch(split, indices, data::Resizer(28, 28, 32, 30), want.data(), want_labels.data(), normalization);
  train::read_buffer(*exec, plan.input, std::span<float>(got));
  CHECK(got == want);
  // Augmented on the GPU from the same views as on the host: a padded random crop with flips
  // (the epoch's order on the device, the views of its images uploaded) and random-resized crops.
  for (const bool resized : {false, true}) {
    data::Augmentation augmentation;
    if (resized) augmentation.random_resized_crop = data::RandomResizedCrop{{32, 30}};
    else augmentation.random_crop = data::RandomCrop{{24, 24}, 4};
    augmentation.flip = true;
    const data::ImageTransform views = data::ImageTransform::training(augmentation, 28, 28, 32, 30);
    std::unique_ptr<train::BatchSource> augmented = exec->batch_source(split, normalization, views);
    const std::vector<uint32_t> epoch_order = augmented->shuffle(42, 2);
    augmented->feed_order(2);
    exec->run();
    const std::span<const uint32_t> fed = std::span(epoch_order).subspan(2, 6);
    std::vector<data::View> fed_views;
    for (const uint32_t i : fed) fed_views.push_back(views.view(42, 2, i));
    data::fill_view_batch(split, fed, fed_views, 32, 30, want.data(), want_labels.data(), normalization);
    train::read_buffer(*exec, plan.input, std::span<float>(got));
    CHECK(got == want);
  }
  // At the training set's size, where the sort runs over 65536 keys in global memory.
  const data::Split large{60000, 28, 28, data::ImageBytes(60000 * 28 * 28, 0), std::vector<int32_t>(60000)};
  CHECK(exec->batch_source(large, {})->shuffle(7, 2) == data::epoch_order(7, 2, 60000));

  // The graph replays: a second step from the updated weights gives a finite, different loss.
  std::vector<float> lr{0.1f}, loss1(1), loss2(1);
  train::write_buffer(*exec, plan.learning_rate, std::span<const float>(lr));
  exec->run();
  train::read_buffer(*exec, plan.loss, std::span<float>(loss1));
  exec->run();
  train::read_buffer(*exec, plan.loss, std::span<float>(loss2));
  CHECK(std::isfinite(loss1[0]));
  CHECK(std::isfinite(loss2[0]));
  CHECK(loss1[0] != loss2[0]);
}

// Data-parallel training pauses the step between the backward pass and the updates to sum the
// gradients (train/distributed.h): the pause changes nothing by itself, with and without the
// step's CUDA graphs, and the updates apply the gradients as the pause leaves them.
TEST_CASE("a step paused before its updates gives the step's weights and applies the gradients it leaves") {
  if (!gpu_here()) return;
  cuda_backend::CudaBackend backend(0, {});
  dsl::SourceManager sources;
  const char* net = "network n {\n input 1x8x8\n stem { conv 4 k3 p1; relu }\n stage basic 8 stride=2\n"
                    " head { avgpool; fc 10 }\n}";
  for (const double momentum : {0.9, 0.0}) {
    const ir::Graph training = autodiff::make_training_graph(
        dsl::compile_source(sources, "n.net", net, {std::nullopt, 4}).graph, {momentum, 0});
    const plan::KernelPlan plan = passes::optimized_plan(training, {});
    const plan::GradientBuffers g = plan::gradient_buffers(plan);
    auto whole = prepared_step(backend, plan, training);
    const std::vector<float> before = parameter_values(*whole, plan);
    whole->run();
    const std::vector<float> stepped = parameter_values(*whole, plan);
    CHECK(stepped != before);
    if (momentum != 0) {
      for (const char* graphs : {"1", "0"}) {  // read by each executor as it is made
        INFO("RESNETC_CUDA_GRAPHS=" << graphs);
        setenv("RESNETC_CUDA_GRAPHS", graphs, 1);
        auto paused = prepared_step(backend, plan, training);
        unsetenv("RESNETC_CUDA_GRAPHS");
        int calls = 0;
        paused->run_pausing_at(g.first_update, [&] { ++calls; });
        CHECK(calls == 1);
        const std::vector<float> got = parameter_values(*paused, plan);
        REQUIRE(got.size() == stepped.size());
        for (size_t i = 0; i < got.size(); ++i)
          CHECK(std::abs(got[i] - stepped[i]) <= 1e-5f * (1 + std::abs(stepped[i])));
      }
    } else {
      // Plain SGD without weight decay: zero gradients leave every parameter as it was.
      auto zeroed = prepared_step(backend, plan, training);
      zeroed->run_pausing_at(g.first_update, [&] {
        for (int b : g.buffers) {
          const std::vector<float> zero(static_cast<size_t>(ir::numel(plan.buffer(b).shape)));
          train::write_buffer(*zeroed, b, std::span<const float>(zero));
        }
      });
      CHECK(parameter_values(*zeroed, plan) == before);
    }
  }
}

// The NCCL reducer of one rank (no MPI: its broadcast has no one to reach) sums each bucket on a
// stream of its own from the bucket's stop on, and the updates wait for the sums: one rank's sum is
// its gradients times the weight, so weight 1 gives the plain step's weights and weight 0.5, with
// plain SGD, half its move. With --sync-bn's collectives (weight 1: one rank is the whole batch)
// the BatchNorm kernels and float64 sums leave the statistics as they were, within rounding.
// Needs libnccl.so.2; skipped, with a warning, without it.
TEST_CASE("a step whose buckets one-rank NCCL sums beside the backward pass applies the summed gradients") {
  if (!gpu_here()) return;
  cuda_backend::CudaBackend backend(0, {});
  std::unique_ptr<train::DeviceReducer> reducer;
  try {
    reducer = backend.device_reducer(0, 1, [](std::span<std::byte>) {});
  } catch (const std::runtime_error& e) {
    if (std::string_view(e.what()).find("could not be loaded") == std::string_view::npos) throw;
    WARN(e.what());
    return;
  }
  if (!reducer) {
    WARN("resnetc was built without nccl.h: nothing to check");
    return;
  }
  dsl::SourceManager sources;
  for (const bool sync_bn : {false, true}) {
    const char* net = sync_bn ? "network n {\n input 1x8x8\n stem { conv 4 k3 p1; bn; relu }\n"
                                " stage basic 8 stride=2\n head { avgpool; fc 10 }\n}"
                              : "network n {\n input 1x8x8\n stem { conv 4 k3 p1; relu }\n stage basic 8 stride=2\n"
                                " head { avgpool; fc 10 }\n}";
    const ir::Graph training =
        autodiff::make_training_graph(dsl::compile_source(sources, "n.net", net, {std::nullopt, 4}).graph, {0.0, 0});
    const plan::KernelPlan plan = passes::optimized_plan(training, {});
    const std::vector<plan::Collective> collectives =
        plan::place_collectives(plan, {.bucket_bytes = 1024, .sync_batchnorm = sync_bn});
    REQUIRE(collectives.size() >= 3);
    const size_t first_update = plan::gradient_buffers(plan).first_update;
    auto whole = prepared_step(backend, plan, training);
    const std::vector<float> before = parameter_values(*whole, plan);
    whole->run();
    const std::vector<float> stepped = parameter_values(*whole, plan);
    for (const char* graphs : {"1", "0"}) {
      for (const float weight : {1.0f, 0.5f}) {
        if (sync_bn && weight != 1.0f) continue;
        INFO("RESNETC_CUDA_GRAPHS=" << graphs << ", weight " << weight << (sync_bn ? ", --sync-bn" : ""));
        setenv("RESNETC_CUDA_GRAPHS", graphs, 1);  // read by each executor as it is made
        auto summed = prepared_step(backend, plan, training);
        unsetenv("RESNETC_CUDA_GRAPHS");
        reducer->run_step(*summed, collectives, first_update, weight);
        const std::vector<float> got = parameter_values(*summed, plan);
        REQUIRE(got.size() == stepped.size());
        for (size_t i = 0; i < got.size(); ++i) {
          const float want = before[i] + weight * (stepped[i] - before[i]);
          CHECK(std::abs(got[i] - want) <= (sync_bn ? 1e-4f : 1e-5f) * (1 + std::abs(want)));
        }
      }
    }
  }
}
