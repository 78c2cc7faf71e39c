#include "train/distributed.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "runtime/mpi/communicator.h"
#include "runtime/mpi/watchdog.h"

namespace resnetc::train {
namespace {

// FNV-1a, 64 bits: the same value on every machine and build, unlike std::hash.
class Fingerprint {
 public:
  Fingerprint& add(std::string_view text) { return add_bytes(text.data(), text.size()); }
  Fingerprint& add_bytes(const void* data, size_t size) {
    for (const unsigned char byte : std::span(static_cast<const unsigned char*>(data), size)) {
      hash_ ^= byte;
      hash_ *= 1099511628211ULL;
    }
    return *this;
  }
  int64_t value() const { return static_cast<int64_t>(hash_); }

 private:
  uint64_t hash_ = 14695981039346656037ULL;
};

std::string recipe_text(const Recipe& r, int64_t train_count, int64_t test_count) {
  return fmt::format("{} {} epochs {} batch {} lr {} momentum {} weight decay {} schedule {} seed {}{} images {}/{}",
                     r.dataset, r.data, r.epochs, r.batch, r.lr, r.momentum, r.weight_decay, schedule_name(r.schedule),
                     r.seed, describe_modern(r), train_count, test_count);
}

}  // namespace

DataParallel::DataParallel(std::string version)
    : version_(std::move(version)), world_(std::make_unique<mpi::Communicator>()) {}

DataParallel::~DataParallel() = default;

int DataParallel::rank() const { return world_->rank(); }
int DataParallel::size() const { return world_->size(); }

Slice DataParallel::slice(int64_t count) const {
  const int64_t n = size(), r = rank();
  const int64_t base = count / n, extra = count % n;
  return {r * base + std::min(r, extra), base + (r < extra ? 1 : 0)};
}

void DataParallel::check_same_run(const plan::KernelPlan& plan, const Recipe& recipe, int64_t train_count,
                                  int64_t test_count) const {
  const int64_t mine[3] = {Fingerprint().add(version_).value(), Fingerprint().add(plan::print_plan(plan)).value(),
                           Fingerprint().add(recipe_text(recipe, train_count, test_count)).value()};
  const std::vector<int64_t> all = world_->gather_all(mine);
  static constexpr std::string_view what[3] = {
      "runs another resnetc version than rank 0: every rank must run the same binary",
      "trains another network than rank 0 (its layers, shapes, per-rank batch or optimizer differ): give every rank "
      "the same .net file and flags",
      "has another recipe or data set than rank 0 (epochs, batch, lr, momentum, weight decay, schedule, seed, or the "
      "number of images): give every rank the same flags and data",
  };
  for (int r = 1; r < size(); ++r)
    for (size_t k = 0; k < 3; ++k)
      if (all[static_cast<size_t>(r) * 3 + k] != all[k])
        throw std::runtime_error(fmt::format("rank {} {}", r, what[k]));
}

void DataParallel::check_same_weights(const TensorMap& state) const {
  Fingerprint checksum;
  for (const auto& [name, values] : state) checksum.add(name).add_bytes(values.data(), values.size() * sizeof(float));
  const int64_t mine[1] = {checksum.value()};
  const std::vector<int64_t> all = world_->gather_all(mine);
  for (int r = 1; r < size(); ++r)
    if (all[static_cast<size_t>(r)] != all[0])
      throw std::runtime_error(fmt::format("rank {} starts from other weights than rank 0 (checksum {:016x}, rank 0's "
                                           "{:016x}): every rank must start from the same seed, --init or checkpoint",
                                           r, static_cast<uint64_t>(all[static_cast<size_t>(r)]),
                                           static_cast<uint64_t>(all[0])));
}

DataParallel::Gradients& DataParallel::gradients_of(const plan::KernelPlan& plan) {
  if (auto found = gradients_.find(&plan); found != gradients_.end()) return found->second;
  GradientBuffers where = gradient_buffers(plan);
  std::vector<float> host(device_ ? 0 : static_cast<size_t>(where.floats));
  return gradients_.emplace(&plan, Gradients{std::move(where), std::move(host)}).first->second;
}

void DataParallel::run_step(PlanExecutor& executor, const plan::KernelPlan& plan, double share) {
  Gradients& g = gradients_of(plan);
  if (device_) {
    executor.run_pausing_at(g.where.first_update,
                            [&] { device_->sum_scaled(executor, g.where.buffers, static_cast<float>(share)); });
    return;
  }
  executor.run_pausing_at(g.where.first_update, [&] {
    std::span<float> all(g.host);
    size_t at = 0;
    for (int b : g.where.buffers) {
      const size_t n = static_cast<size_t>(ir::numel(plan.buffer(b).shape));
      read_buffer(executor, b, all.subspan(at, n));
      at += n;
    }
    const float weight = static_cast<float>(share);
    for (float& v : all) v *= weight;
    world_->sum(all);
    at = 0;
    for (int b : g.where.buffers) {
      const size_t n = static_cast<size_t>(ir::numel(plan.buffer(b).shape));
      write_buffer(executor, b, std::span<const float>(all.subspan(at, n)));
      at += n;
    }
  });
}

void DataParallel::sum(std::span<double> values) const { world_->sum(values); }
int64_t DataParallel::max(int64_t value) const { return world_->max(value); }
void DataParallel::barrier() const { world_->barrier(); }
void DataParallel::broadcast(std::span<std::byte> bytes) const { world_->broadcast(bytes); }

void DataParallel::reduce_on_device(std::unique_ptr<DeviceReducer> reducer) {
  device_ = std::move(reducer);
  gradients_.clear();  // made again as needed: with host copies only for MPI's sums
}

void DataParallel::watch(double timeout_seconds) {
  watchdog_ = std::make_unique<mpi::Watchdog>(*world_, timeout_seconds);
}

void DataParallel::at_step(int64_t step) {
  if (watchdog_) watchdog_->at_step(step);
}

void DataParallel::use_rank0_values(TensorMap& state) const {
  // A sum to which every other rank adds zeros: rank 0's floats, exactly.
  std::vector<float> all;
  for (const auto& [name, values] : state) all.insert(all.end(), values.begin(), values.end());
  if (rank() != 0) std::fill(all.begin(), all.end(), 0.0F);
  world_->sum(std::span<float>(all));
  auto at = all.begin();
  for (auto& [name, values] : state) {
    std::copy_n(at, values.size(), values.begin());
    at += static_cast<std::ptrdiff_t>(values.size());
  }
}

GradientBuffers gradient_buffers(const plan::KernelPlan& plan) {
  GradientBuffers g;
  const auto first = std::find_if(plan.kernels.begin(), plan.kernels.end(),
                                  [](const plan::Kernel& k) { return ir::is_update(k.kind); });
  g.first_update = static_cast<size_t>(first - plan.kernels.begin());
  for (auto k = first; k != plan.kernels.end(); ++k) {
    // A gradient must be final before it is averaged: after the first update only updates may run.
    if (!ir::is_update(k->kind))
      throw std::logic_error(fmt::format("plan {}: kernel '{}' runs among the updates; the gradients cannot be "
                                         "averaged before them",
                                         plan.name, k->name));
    // An optimizer's update reads its parameters' gradients from the step's arena; the other
    // updates (BatchNorm's running statistics) keep per-rank values, as PyTorch DDP does.
    const bool updates_parameters = std::any_of(k->inputs.begin(), k->inputs.end(), [&](int b) {
      return plan.buffer(b).role == ir::ValueRole::Parameter;
    });
    if (!updates_parameters) continue;
    for (int b : k->inputs) {
      const plan::Buffer& buffer = plan.buffer(b);
      if (buffer.storage != plan::Storage::Arena) continue;
      // Each gradient's bytes are reduced once: a buffer (or a view) over bytes already taken is skipped.
      const auto same_bytes = [&](int taken) {
        const plan::Buffer& t = plan.buffer(taken);
        if (t.offset == buffer.offset && t.bytes == buffer.bytes) return true;
        if (t.offset < buffer.offset + buffer.bytes && buffer.offset < t.offset + t.bytes)
          throw std::logic_error(fmt::format("gradients '{}' and '{}' overlap", t.name, buffer.name));
        return false;
      };
      if (std::any_of(g.buffers.begin(), g.buffers.end(), same_bytes)) continue;
      if (buffer.dtype != ir::DType::F32) throw std::logic_error(fmt::format("gradient '{}' is not F32", buffer.name));
      g.buffers.push_back(b);
      g.floats += ir::numel(buffer.shape);
    }
  }
  return g;
}

Slice rank_slice(const DataParallel* dp, int64_t count) { return dp ? dp->slice(count) : Slice{0, count}; }

void run_step(DataParallel* dp, PlanExecutor& executor, const plan::KernelPlan& plan, double share) {
  if (dp)
    dp->run_step(executor, plan, share);
  else
    executor.run();
}

int64_t agreed_max(const DataParallel* dp, int64_t value) { return dp ? dp->max(value) : value; }

}  // namespace resnetc::train
