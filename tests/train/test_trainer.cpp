#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <unistd.h>

#include "compiler/autodiff/training_graph.h"
#include "backends/cpu/cpu_backend.h"
#include "compiler/ir/random_mask.h"
#include "compiler/passes/pass.h"
#include "dsl/frontend.h"
#include "runtime/checkpoint/error.h"
#include "runtime/checkpoint/reader.h"
#include "runtime/data/sampler.h"
#include "tests/train/reference_step.h"
#include "train/initialize.h"
#include "train/model_state.h"
#include "train/trainer.h"

using namespace resnetc;
using resnetc::testing::reference_step;
using resnetc::testing::Weights;
using resnetc::testing::worst_relative_error;

namespace {

// Horizontal stripes are class 0, vertical stripes class 1, under noise: easy for a conv.
data::Split stripes(int64_t count, unsigned seed) {
  data::Split s{count, 8, 8, data::ImageBytes(static_cast<size_t>(count * 64), 0), std::vector<int32_t>(static_cast<size_t>(count))};
  std::mt19937 rng(seed);
  for (int64_t i = 0; i < count; ++i) {
    uint8_t label = static_cast<uint8_t>(rng() % 2);
    s.labels[static_cast<size_t>(i)] = label;
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 8; ++x) {
        int line = label == 0 ? y : x;
        int v = (line % 2 ? 200 : 40) + static_cast<int>(rng() % 60);
        s.images[static_cast<size_t>(i * 64 + y * 8 + x)] = static_cast<uint8_t>(v);
      }
  }
  return s;
}

data::DataSet stripes_data() {
  data::DataSet d;
  d.train = stripes(512, 1);
  d.test = stripes(128, 2);
  d.name = "stripes";
  return d;
}

ir::Graph network(int64_t batch, const char* width = "4") {
  dsl::SourceManager sources;
  std::string text = std::string("network stripes {\n input 1x8x8\n stem { conv ") + width +
                     " k3 p1; bn; relu }\n stage basic 4\n head { avgpool; fc 10 }\n}";
  return dsl::compile_source(sources, "stripes.net", text, {std::nullopt, batch}).graph;
}

// With dropout after the stem, drop-path on the block's branch and dropout before the classifier.
ir::Graph dropout_network(int64_t batch) {
  dsl::SourceManager sources;
  const char* text =
      "block d(width) { branch { conv width k3 p1; bn; relu; conv width k3 p1; bn; droppath 0.25 }; post { relu } }\n"
      "network stripes {\n input 1x8x8\n stem { conv 4 k3 p1; bn; relu; dropout 0.2 }\n stage d 4\n"
      " head { avgpool; dropout 0.5; fc 10 }\n}";
  return dsl::compile_source(sources, "stripes.net", text, {std::nullopt, batch}).graph;
}

struct Fixture {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("resnetc-trainer-" + std::to_string(::getpid()));
  cpu::ThreadPool pool{cpu::ThreadPool::Options{2, 0}};
  codegen::llvm_backend::CpuBackend backend{pool};
  data::DataSet data = stripes_data();
  Fixture() { std::filesystem::create_directories(dir); }
  ~Fixture() { std::filesystem::remove_all(dir); }

  train::TrainOptions options(const std::string& name, int64_t epochs) {
    train::TrainOptions t;
    t.recipe.epochs = epochs;
    t.recipe.batch = 32;
    t.recipe.lr = 0.05;
    t.recipe.momentum = 0.9;
    t.checkpoint = dir / (name + ".safetensors");
    t.progress = false;
    return t;
  }
  train::TrainResult run(const train::TrainOptions& t, std::string* printed = nullptr) {
    std::ostringstream out;
    auto result = train::train(network(t.recipe.batch), data, backend, t, out);
    if (printed) *printed = out.str();
    return result;
  }
};

std::string file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("training learns the synthetic task and reports every epoch") {
  Fixture f;
  auto t = f.options("learn", 3);
  t.log = f.dir / "log.csv";
  std::string printed;
  train::TrainResult r = f.run(t, &printed);
  REQUIRE(r.epochs.size() == 3);
  CHECK(r.epochs[2].loss < r.epochs[0].loss);
  CHECK(r.epochs[2].test_acc > 0.9);
  CHECK(printed.find("epoch 3/3: loss ") != std::string::npos);
  CHECK(printed.rfind("compiled ", 0) == 0);
  CHECK(printed.find(" kernels in ") != std::string::npos);
  CHECK(r.examples_per_sec > 0);
  std::string log = file_bytes(t.log);
  CHECK(log.rfind("# run ", 0) == 0);  // the run's header row, then the table
  CHECK(log.find("\nepoch,loss,train_acc,test_acc,seconds,examples_per_sec,lr\n1,") != std::string::npos);
  // The checkpoint holds the final weights: evaluating it gives the last test accuracy.
  CHECK(train::evaluate(network(32), f.data, f.backend, t.checkpoint) == Approx(r.epochs[2].test_acc));
}

TEST_CASE("an epoch trains its last, short batch too: the weights are the reference executor's after both steps") {
  Fixture f;
  f.data.train = stripes(48, 5);
  auto t = f.options("short", 1);  // batch 32: a step on 32 examples, then one on the other 16
  t.network_at_batch = [](int64_t batch) { return network(batch); };
  f.run(t);

  // The same initial weights and order, the two steps in double precision.
  const train::Recipe& r = t.recipe;
  const ir::Graph full = autodiff::make_training_graph(network(32), {r.momentum, r.weight_decay});
  const ir::Graph rest = autodiff::make_training_graph(network(16), {r.momentum, r.weight_decay});
  const plan::KernelPlan full_plan = passes::optimized_plan(full, passes::at_level(0));
  auto exec = f.backend.compile(full_plan);
  train::initialize_persistent(*exec, full_plan, full, r.seed);
  Weights weights;
  for (const auto& [name, values] : train::read_state(*exec, full_plan)) weights[name].assign(values.begin(), values.end());
  const std::vector<uint32_t> order = data::epoch_order(r.seed, 0, 48);
  reference_step(full, f.data.train, std::span(order).first(32), static_cast<float>(train::learning_rate(r, 0, 0, 2)),
                 weights);
  reference_step(rest, f.data.train, std::span(order).subspan(32),
                 static_cast<float>(train::learning_rate(r, 0, 1, 2)), weights);

  const train::TensorMap trained = train::load_checkpoint(t.checkpoint, full_plan, false).state;
  const auto [worst, where] = worst_relative_error(trained, weights);
  INFO("worst relative error " << worst << " in " << where);
  CHECK(worst < 1e-3);
}

TEST_CASE("the trainer draws dropout's masks from (seed, epoch * steps + step): the weights are the reference's") {
  Fixture f;
  f.data.train = stripes(48, 5);
  auto t = f.options("dropout", 2);  // per epoch: a step on 32 examples, then one on the other 16
  t.network_at_batch = dropout_network;
  std::ostringstream out;
  train::train(dropout_network(32), f.data, f.backend, t, out);

  const train::Recipe& r = t.recipe;
  const ir::Graph full = autodiff::make_training_graph(dropout_network(32), {r.momentum, r.weight_decay});
  const ir::Graph rest = autodiff::make_training_graph(dropout_network(16), {r.momentum, r.weight_decay});
  REQUIRE(full.rng != ir::kNoValue);
  const plan::KernelPlan full_plan = passes::optimized_plan(full, passes::at_level(0));
  auto exec = f.backend.compile(full_plan);
  train::initialize_persistent(*exec, full_plan, full, r.seed);
  Weights weights;
  for (const auto& [name, values] : train::read_state(*exec, full_plan)) weights[name].assign(values.begin(), values.end());
  for (int epoch = 0; epoch < 2; ++epoch) {
    const std::vector<uint32_t> order = data::epoch_order(r.seed, epoch, 48);
    for (int64_t step : {0, 1}) {
      const std::span<const uint32_t> indices = step == 0 ? std::span(order).first(32) : std::span(order).subspan(32);
      reference_step(step == 0 ? full : rest, f.data.train, indices,
                     static_cast<float>(train::learning_rate(r, epoch, step, 2)), weights,
                     {static_cast<double>(ir::random_mask::seed_word(r.seed)), static_cast<double>(epoch * 2 + step)});
    }
  }

  const train::TensorMap trained = train::load_checkpoint(t.checkpoint, full_plan, false).state;
  const auto [worst, where] = worst_relative_error(trained, weights);
  INFO("worst relative error " << worst << " in " << where);
  CHECK(worst < 1e-3);
}

TEST_CASE("a resumed run ends with the same weights as one that was never stopped") {
  Fixture f;
  f.run(f.options("straight", 2));
  f.run(f.options("stopped", 1));
  auto resumed = f.options("stopped", 2);
  resumed.resume = true;
  resumed.allow_recipe_change = true;  // the checkpoint's recipe had 1 epoch
  std::string printed;
  f.run(resumed, &printed);
  CHECK(printed.find("resuming from") != std::string::npos);
  auto a = checkpoint::read_safetensors(f.dir / "straight.safetensors");
  auto b = checkpoint::read_safetensors(f.dir / "stopped.safetensors");
  REQUIRE(a.tensors().size() == b.tensors().size());
  for (const auto& t : a.tensors()) {
    INFO(t.name);
    const auto& u = b.at(t.name);
    CHECK(std::equal(t.data.begin(), t.data.end(), u.data.begin(), u.data.end()));
  }
}

TEST_CASE("a loss that is not finite stops training and keeps the last good checkpoint") {
  Fixture f;
  f.run(f.options("nan", 1));
  std::string before = file_bytes(f.dir / "nan.safetensors");
  auto t = f.options("nan", 3);
  t.resume = true;
  t.allow_recipe_change = true;
  t.recipe.lr = 1e30;
  CHECK_THROWS_WITH(f.run(t), Catch::Contains("the loss became") && Catch::Contains("at epoch 2, batch") &&
                                  Catch::Contains("after epoch 1"));
  CHECK(file_bytes(f.dir / "nan.safetensors") == before);
}

TEST_CASE("a checkpoint of another model is refused, naming the first tensor that differs") {
  Fixture f;
  f.run(f.options("small", 1));
  CHECK_THROWS_AS(train::evaluate(network(32, "6"), f.data, f.backend, f.dir / "small.safetensors"),
                  checkpoint::CheckpointError);
  CHECK_THROWS_WITH(train::evaluate(network(32, "6"), f.data, f.backend, f.dir / "small.safetensors"),
                    Catch::Contains("stem.conv.weight"));
}
