// Data-parallel training without --sync-bn against the reference executor (docs/distributed.md,
// "What N ranks compute"): `mpirun -np 2 resnetc train tests/cli/batchnorm.net` for three steps of
// global batch 16 ends with the weights that the reference executor computes in double when each
// step runs every rank's 8 examples as a replica of its own, BatchNorm normalizing with that
// replica's batch statistics, and the replicas' gradients are averaged. For given weights and
// velocity SGD's update is linear in the gradient, so the update of the averaged gradient is the
// mean of the replicas' updates, each run from the same weights and velocity. Each rank keeps its
// own running statistics; the checkpoint, written by rank 0, holds rank 0's. With --sync-bn the
// two ranks train the reference executor's step on the whole batch instead.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <unistd.h>

#include "compiler/autodiff/training_graph.h"
#include "compiler/plan/kernel_plan.h"
#include "dsl/frontend.h"
#include "runtime/data/dataset.h"
#include "runtime/data/sampler.h"
#include "tests/train/reference_step.h"
#include "train/initialize.h"
#include "train/model_state.h"
#include "train/recipe.h"

using namespace resnetc;
using resnetc::testing::reference_step;
using resnetc::testing::Weights;
using resnetc::testing::worst_relative_error;

namespace {

constexpr int64_t kBatch = 16, kRanks = 2, kSteps = 3;
const std::filesystem::path kNetwork = std::filesystem::path(RESNETC_SOURCE_DIR) / "tests/cli/batchnorm.net";

void write_big_endian(std::ofstream& out, uint32_t v) {
  const char bytes[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                         static_cast<char>(v)};
  out.write(bytes, 4);
}

// IDX files of `count` random 28x28 images and labels, as Fashion-MNIST's `split` ("train", "t10k").
void write_idx(const std::filesystem::path& dir, const std::string& split, uint32_t count, unsigned seed) {
  std::mt19937 rng(seed);
  std::ofstream images(dir / (split + "-images-idx3-ubyte"), std::ios::binary);
  for (uint32_t v : {0x803u, count, 28u, 28u}) write_big_endian(images, v);
  for (uint32_t i = 0; i < count * 28 * 28; ++i) images.put(static_cast<char>(rng() % 256));
  std::ofstream labels(dir / (split + "-labels-idx1-ubyte"), std::ios::binary);
  for (uint32_t v : {0x801u, count}) write_big_endian(labels, v);
  for (uint32_t i = 0; i < count; ++i) labels.put(static_cast<char>(rng() % 10));
}

std::string file_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

ir::Graph training_graph(const train::Recipe& recipe, int64_t batch) {
  dsl::SourceManager sources;
  dsl::LowerOptions options;
  options.batch = batch;
  return autodiff::make_training_graph(dsl::compile_file(sources, kNetwork, options).graph,
                                       train::training_options(recipe));
}

// BatchNorm's running statistics: the state that is not the optimizer's.
bool running_statistic(const ir::Graph& g, const std::string& name) {
  for (const ir::Value& v : g.values)
    if (v.name == name) return v.role == ir::ValueRole::State && !autodiff::is_optimizer_state(name);
  FAIL("no value " << name);
  return false;
}

}  // namespace

TEST_CASE("without --sync-bn, 2 MPI ranks train the reference executor's per-replica BatchNorm; with it, one batch's") {
  const struct TempDir {
    std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("resnetc-per-replica-" + std::to_string(::getpid()));
    ~TempDir() { std::filesystem::remove_all(path); }
  } temp;
  const std::filesystem::path& dir = temp.path;
  std::filesystem::create_directories(dir / "data");
  write_idx(dir / "data", "train", kBatch * kSteps, 1);  // one epoch of three full batches
  write_idx(dir / "data", "t10k", 8, 2);
  // The checkpoint of `mpirun -np 2 resnetc train` with `options`.
  const auto two_ranks = [&](const std::string& name, const std::string& options) {
    const std::filesystem::path path = dir / (name + ".safetensors"), log = dir / (name + ".log");
    // OpenMPI counts physical cores as slots and refuses root unless told.
    const std::string command = fmt::format(
        "XDG_CACHE_HOME='{}' mpirun --oversubscribe {}-np {} '{}' train '{}' --data '{}' --checkpoint '{}' --device "
        "cpu --no-progress --epochs 1 {} > '{}' 2>&1",
        (dir / "cache").string(), ::geteuid() == 0 ? "--allow-run-as-root " : "", kRanks, RESNETC_BINARY,
        kNetwork.string(), (dir / "data").string(), path.string(), options, log.string());
    const int status = std::system(command.c_str());
    INFO(command << "\n" << file_text(log));
    REQUIRE(status == 0);
    return path;
  };
  const std::filesystem::path per_replica = two_ranks("per-replica", ""), synced = two_ranks("synced", "--sync-bn");

  dsl::SourceManager sources;
  train::Recipe recipe = train::recipe_from(dsl::compile_file(sources, kNetwork, {}).training);
  recipe.epochs = 1;
  REQUIRE(recipe.batch == kBatch);
  const ir::Graph replica = training_graph(recipe, kBatch / kRanks), whole = training_graph(recipe, kBatch);
  const plan::KernelPlan plan = plan::make_plan(replica);

  // Each rank's weights: the parameters and velocities stay the same on every rank, the running
  // statistics are each rank's own. `one_process` normalizes the whole batch, as without replicas.
  std::vector<Weights> ranks(kRanks);
  for (const plan::Buffer& b : plan.buffers)
    if (b.storage == plan::Storage::Persistent) {
      const std::vector<float> initial = train::initial_values(replica, b.value, recipe.seed);
      for (Weights& w : ranks) w[b.name].assign(initial.begin(), initial.end());
    }
  Weights one_process = ranks[0];
  const data::DataSet data = data::load_mnist_like(dir / "data", "fashion-mnist");
  const std::vector<uint32_t> order = data::epoch_order(recipe.seed, 0, static_cast<uint32_t>(data.train.count));
  for (int64_t step = 0; step < kSteps; ++step) {
    const float lr = static_cast<float>(train::learning_rate(recipe, 0, step, kSteps));
    const std::span<const uint32_t> batch = std::span(order).subspan(static_cast<size_t>(step * kBatch), kBatch);
    std::vector<Weights> stepped = ranks;
    for (int64_t r = 0; r < kRanks; ++r)  // rank r trains the r-th consecutive slice
      reference_step(replica, data.train, batch.subspan(static_cast<size_t>(r * kBatch / kRanks), kBatch / kRanks), lr,
                     stepped[static_cast<size_t>(r)]);
    for (auto& [name, values] : ranks[0]) {
      if (running_statistic(replica, name)) {
        for (int64_t r = 0; r < kRanks; ++r) ranks[static_cast<size_t>(r)][name] = stepped[static_cast<size_t>(r)][name];
        continue;
      }
      for (size_t i = 0; i < values.size(); ++i) {
        double sum = 0;
        for (const Weights& s : stepped) sum += s.at(name)[i];
        for (Weights& w : ranks) w[name][i] = sum / kRanks;
      }
    }
    reference_step(whole, data.train, batch, lr, one_process);
  }

  const train::TensorMap trained = train::load_checkpoint(per_replica, plan, false).state;
  const auto [worst, where] = worst_relative_error(trained, ranks[0]);
  INFO("per-replica BatchNorm, rank 0's running statistics: worst relative error " << worst << " in " << where);
  CHECK(worst < 1e-3);
  // The comparison tells the replicas from one batch, and rank 0's running statistics from rank 1's.
  const auto [whole_worst, whole_where] = worst_relative_error(trained, one_process);
  INFO("one process normalizing the whole batch: worst relative error " << whole_worst << " in " << whole_where);
  CHECK(whole_worst > 0.1);
  const auto [rank1_worst, rank1_where] = worst_relative_error(trained, ranks[1]);
  INFO("rank 1's running statistics: worst relative error " << rank1_worst << " in " << rank1_where);
  CHECK(rank1_worst > 0.1);
  CHECK(running_statistic(replica, rank1_where));

  // With --sync-bn every rank normalizes with the whole batch's statistics: one process's step.
  const auto [synced_worst, synced_where] =
      worst_relative_error(train::load_checkpoint(synced, plan, false).state, one_process);
  INFO("--sync-bn against one process: worst relative error " << synced_worst << " in " << synced_where);
  CHECK(synced_worst < 1e-3);
}
