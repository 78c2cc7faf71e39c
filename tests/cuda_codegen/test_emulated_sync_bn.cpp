// Synchronized BatchNorm's kernels on GPU ranks (backends/cuda/sync_bn_kernels.h) under emulation:
// two ranks' batch statistics, each rank's contribution summed as NCCL would, give the mean and
// biased variance of the two ranks' values together; the backward sums come back weighted by each
// rank's share; the unbias scale multiplies the variance row alone.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "backends/cuda/sync_bn_kernels.h"
#include "tests/cuda_codegen/emulated_plan.h"

using namespace resnetc;

namespace {

const testing::EmulatedModule& module() {
  static const testing::EmulatedModule m(codegen::cuda::sync_bn_kernels_source());
  return m;
}

void launch(const char* kernel, int channels, void* const* args) {
  const unsigned grid[3] = {static_cast<unsigned>((channels + codegen::cuda::kSyncBnThreads - 1) /
                                                  codegen::cuda::kSyncBnThreads),
                            1, 1};
  const unsigned block[3] = {codegen::cuda::kSyncBnThreads, 1, 1};
  module().launch(kernel, grid, block, args);
}

// rows [2, C] -> this rank's contribution [2, C] doubles.
std::vector<double> contribution(std::vector<float> rows, int channels, double share, int forward) {
  std::vector<double> sums(rows.size(), NAN);
  void* args[] = {sums.data(), rows.data(), &channels, &share, &forward};
  launch("rc_sync_bn_contribution", channels, args);
  return sums;
}

std::vector<float> summed_rows(std::vector<double> sums, int channels, int forward) {
  std::vector<float> rows(sums.size(), NAN);
  void* args[] = {rows.data(), sums.data(), &channels, &forward};
  launch("rc_sync_bn_rows", channels, args);
  return rows;
}

}  // namespace

TEST_CASE("synchronized BatchNorm's kernels give the whole batch's statistics from two ranks'") {
  const int channels = 300;  // more than one block
  const int counts[2] = {24, 16};  // per channel: the ranks' shares 0.6 and 0.4
  std::mt19937 rng(5);
  std::vector<std::vector<double>> values(channels);  // every value of a channel, both ranks
  std::vector<float> rows[2];
  for (int r = 0; r < 2; ++r) rows[r].assign(2 * channels, 0);
  for (int c = 0; c < channels; ++c) {
    std::normal_distribution<float> x(static_cast<float>(c % 7) - 3.0f, 0.5f + static_cast<float>(c % 5));
    for (int r = 0; r < 2; ++r) {
      double sum = 0, squares = 0;
      std::vector<float> mine(static_cast<size_t>(counts[r]));
      for (float& v : mine) v = x(rng), sum += v, values[static_cast<size_t>(c)].push_back(v);
      const double mean = sum / counts[r];
      for (float v : mine) squares += (v - mean) * (v - mean);
      rows[r][static_cast<size_t>(c)] = static_cast<float>(mean);
      rows[r][static_cast<size_t>(channels + c)] = static_cast<float>(squares / counts[r]);
    }
  }
  std::vector<double> sums(2 * channels, 0);
  for (int r = 0; r < 2; ++r) {
    const std::vector<double> part = contribution(rows[r], channels, counts[r] / 40.0, 1);
    for (size_t i = 0; i < sums.size(); ++i) sums[i] += part[i];  // NCCL's sum
  }
  const std::vector<float> global = summed_rows(sums, channels, 1);
  for (int c = 0; c < channels; ++c) {
    const std::vector<double>& all = values[static_cast<size_t>(c)];
    double mean = 0, variance = 0;
    for (double v : all) mean += v;
    mean /= static_cast<double>(all.size());
    for (double v : all) variance += (v - mean) * (v - mean);
    variance /= static_cast<double>(all.size());
    INFO("channel " << c);
    CHECK(std::abs(global[static_cast<size_t>(c)] - mean) <= 1e-5 * (1 + std::abs(mean)));
    CHECK(std::abs(global[static_cast<size_t>(channels + c)] - variance) <= 1e-5 * (1 + variance));
  }
}

TEST_CASE("synchronized BatchNorm's backward sums are weighted by the share, and the unbias scales the variance") {
  int channels = 3;
  const std::vector<float> rows{1.5f, -2.0f, 0.25f, 8.0f, 0.5f, -1.0f};
  const std::vector<double> part = contribution(rows, channels, 0.25, 0);
  CHECK(part == std::vector<double>{0.375, -0.5, 0.0625, 2.0, 0.125, -0.25});
  CHECK(summed_rows(part, channels, 0) == std::vector<float>{0.375f, -0.5f, 0.0625f, 2.0f, 0.125f, -0.25f});
  // A negative E[x^2] - E[x]^2 (rounding) is no variance: 0.
  CHECK(summed_rows({2.0, 1.0, 3.0, 2.0}, 2, 1) == std::vector<float>{2.0f, 1.0f, 0.0f, 1.0f});
  std::vector<float> stats{1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
  double scale = 1.5;
  void* args[] = {stats.data(), &channels, &scale};
  launch("rc_sync_bn_unbias", channels, args);
  CHECK(stats == std::vector<float>{1.0f, 2.0f, 3.0f, 6.0f, 7.5f, 9.0f});
}
