#include "train/distributed.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "runtime/mpi/communicator.h"
#include "runtime/mpi/watchdog.h"
#include "runtime/mpi/reduce_thread.h"

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

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

}  // namespace

DataParallel::DataParallel(std::string version, plan::CollectiveOptions collectives)
    : version_(std::move(version)),
      options_(collectives),
      world_(std::make_unique<mpi::Communicator>()),
      reducer_(std::make_unique<mpi::ReduceThread>(*world_)) {}

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
  const std::string collectives = fmt::format(" sync-bn {} bucket {}", options_.sync_batchnorm, options_.bucket_bytes);
  const int64_t mine[3] = {Fingerprint().add(version_).value(), Fingerprint().add(plan::print_plan(plan)).value(),
                           Fingerprint().add(recipe_text(recipe, train_count, test_count) + collectives).value()};
  const std::vector<int64_t> all = world_->gather_all(mine);
  static constexpr std::string_view what[3] = {
      "runs another resnetc version than rank 0: every rank must run the same binary",
      "trains another network than rank 0 (its layers, shapes, per-rank batch or optimizer differ): give every rank "
      "the same .net file and flags",
      "has another recipe or data set than rank 0 (epochs, batch, lr, momentum, weight decay, schedule, seed, the "
      "number of images, --sync-bn or --bucket-mb): give every rank the same flags and data",
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

DataParallel::Placed& DataParallel::placed_in(const plan::KernelPlan& plan) {
  if (auto found = placed_.find(&plan); found != placed_.end()) return found->second;
  Placed p;
  p.collectives = plan::place_collectives(plan, options_);
  for (const plan::Collective& c : p.collectives) {
    p.stops.push_back(c.at);
    const auto n = static_cast<size_t>(c.floats);
    const bool gradients = c.kind == plan::CollectiveKind::Gradients;
    p.gradients.push_back(gradients ? std::make_shared<std::vector<float>>(n) : nullptr);
    p.batchnorm.push_back(gradients ? nullptr : std::make_shared<std::vector<double>>(n));
  }
  p.stops.push_back(plan::gradient_buffers(plan).first_update);
  return placed_.emplace(&plan, std::move(p)).first->second;
}

// Collective i of `p`, at its stop: a bucket is staged and queued; BatchNorm's sums are queued
// and waited for, since the next kernels read them.
void DataParallel::hand_over(PlanExecutor& executor, const plan::KernelPlan& plan, Placed& p, size_t i,
                             double share) {
  const plan::Collective& c = p.collectives[i];
  if (c.kind == plan::CollectiveKind::Gradients) {
    std::span<float> all(*p.gradients[i]);
    size_t at = 0;
    for (int b : c.buffers) {
      const size_t n = static_cast<size_t>(ir::numel(plan.buffer(b).shape));
      read_buffer(executor, b, all.subspan(at, n));
      at += n;
    }
    const float weight = static_cast<float>(share);
    for (float& v : all) v *= weight;
    reducer_->sum(p.gradients[i]);
    return;
  }
  // One [2, C] buffer. Forward: rows mean and biased variance; the ranks sum share * mean and
  // share * (variance + mean^2), the whole batch's E[x] and E[x^2] (a rank's share is its part
  // of every channel's elements), in double against cancellation. Backward: rows sum(dy * xhat)
  // and sum(dy) of the rank's loss, the mean over its examples; weighted by the share, as the
  // gradients, they sum to the global loss's, and the input gradient kernel, dividing them by
  // the rank's count, gives the rank's gradient of that same loss.
  const int b = c.buffers.at(0);
  const size_t n = static_cast<size_t>(ir::numel(plan.buffer(b).shape)), channels = n / 2;
  std::vector<float> rows(n);
  read_buffer(executor, b, std::span<float>(rows));
  std::vector<double>& sums = *p.batchnorm[i];
  const bool forward = c.kind == plan::CollectiveKind::BatchNormForward;
  for (size_t k = 0; k < channels; ++k) {
    const double first = rows[k], second = rows[channels + k];
    sums[k] = share * first;
    sums[channels + k] = share * (forward ? second + first * first : second);
  }
  const Clock::time_point start = Clock::now();
  reducer_->wait(reducer_->sum(p.batchnorm[i]));
  waiting_seconds_ += seconds_since(start);
  for (size_t k = 0; k < channels; ++k) {
    const double first = sums[k], second = sums[channels + k];
    rows[k] = static_cast<float>(first);
    rows[channels + k] = static_cast<float>(forward ? std::max(second - first * first, 0.0) : second);
  }
  write_buffer(executor, b, std::span<const float>(rows));
}

namespace {

// The running variance's update (after the optimizer's) makes the synced variance unbiased
// with the whole batch's count n, as one process (and PyTorch's SyncBatchNorm) does, not with
// the rank's count m: so the variance is scaled by (n / (n - 1)) / (m / (m - 1)) before it.
void unbias_with_all(PlanExecutor& executor, const plan::KernelPlan& plan, const plan::Collective& c, double share) {
  const int b = c.buffers.at(0);
  const size_t n = static_cast<size_t>(ir::numel(plan.buffer(b).shape)), channels = n / 2;
  const auto mine = static_cast<double>(ir::numel(plan.buffer(c.statistics_of).shape) / static_cast<int64_t>(channels));
  if (mine < 2) return;  // no unbiased variance of one value
  const double all = std::round(mine / share);
  const double scale = (all / (all - 1)) / (mine / (mine - 1));
  std::vector<float> rows(n);
  read_buffer(executor, b, std::span<float>(rows));
  for (size_t k = channels; k < n; ++k) rows[k] = static_cast<float>(rows[k] * scale);
  write_buffer(executor, b, std::span<const float>(rows));
}

}  // namespace

// Before the first update: every bucket summed, and its gradients written back.
void DataParallel::write_back(PlanExecutor& executor, const plan::KernelPlan& plan, Placed& p, double share) {
  const Clock::time_point start = Clock::now();
  reducer_->wait_all();
  waiting_seconds_ += seconds_since(start);
  for (size_t i = 0; i < p.collectives.size(); ++i) {
    const plan::Collective& c = p.collectives[i];
    if (c.kind == plan::CollectiveKind::BatchNormForward && share > 0) unbias_with_all(executor, plan, c, share);
    if (!p.gradients[i]) continue;
    std::span<const float> all(*p.gradients[i]);
    size_t at = 0;
    for (int b : p.collectives[i].buffers) {
      const size_t n = static_cast<size_t>(ir::numel(plan.buffer(b).shape));
      write_buffer(executor, b, all.subspan(at, n));
      at += n;
    }
  }
}

void DataParallel::run_step(PlanExecutor& executor, const plan::KernelPlan& plan, double share) {
  if (device_) return run_step_on_device(executor, plan, share);
  // One rank has nothing to sum: its step is one process's (and its values stay bit for bit).
  if (size() == 1) return executor.run();
  const Clock::time_point start = Clock::now();
  Placed& p = placed_in(plan);
  executor.run_stopping_at(p.stops, [&](size_t i) {
    if (i < p.collectives.size())
      hand_over(executor, plan, p, i, share);
    else
      write_back(executor, plan, p, share);
  });
  step_seconds_ += seconds_since(start);
}

void DataParallel::sum(std::span<double> values) const { world_->sum(values); }
int64_t DataParallel::max(int64_t value) const { return world_->max(value); }
void DataParallel::barrier() const { world_->barrier(); }
void DataParallel::broadcast(std::span<std::byte> bytes) const { world_->broadcast(bytes); }

void DataParallel::reduce_on_device(std::unique_ptr<DeviceReducer> reducer) { device_ = std::move(reducer); }

// The collectives summed on the device at their stops, as on the host (even for one rank, so that
// tools/gpu-check exercises NCCL).
void DataParallel::run_step_on_device(PlanExecutor& executor, const plan::KernelPlan& plan, double share) {
  auto found = device_steps_.find(&plan);
  if (found == device_steps_.end())
    found = device_steps_.emplace(&plan, DeviceStep{plan::place_collectives(plan, options_),
                                                    plan::gradient_buffers(plan).first_update}).first;
  device_->run_step(executor, found->second.collectives, found->second.first_update, share);
}

void DataParallel::watch(double timeout_seconds) {
  watchdog_ = std::make_unique<mpi::Watchdog>(*world_, timeout_seconds);
}

void DataParallel::at_step(int64_t step) {
  if (watchdog_) watchdog_->at_step(step);
}

void DataParallel::use_rank0_values(TensorMap& state) const {
  for (auto& [name, values] : state) broadcast(std::as_writable_bytes(std::span(values)));
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
