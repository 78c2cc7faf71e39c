#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <map>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "runtime/data/sampler.h"

using namespace resnetc::data;

namespace {

bool is_permutation_of_iota(std::vector<uint32_t> v) {
  std::sort(v.begin(), v.end());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != i) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("epoch_order is a deterministic permutation that changes with epoch and seed", "[sampler]") {
  const std::vector<uint32_t> a = epoch_order(42, 3, 60000);
  CHECK(a.size() == 60000);
  CHECK(is_permutation_of_iota(a));
  CHECK(a == epoch_order(42, 3, 60000));
  CHECK(a != epoch_order(42, 4, 60000));
  CHECK(a != epoch_order(43, 3, 60000));
  std::vector<uint32_t> identity(60000);
  std::iota(identity.begin(), identity.end(), 0u);
  CHECK(a != identity);
  CHECK(epoch_order(1, 0, 0).empty());
  CHECK(epoch_order(1, 0, 1) == std::vector<uint32_t>{0});
}

TEST_CASE("epoch_order is pinned: a change would silently alter resumed runs", "[sampler]") {
  // From tests/data/epoch_order.py, written from the definition independently of this code.
  CHECK(epoch_order(42, 0, 10) == std::vector<uint32_t>{6, 2, 5, 7, 0, 9, 4, 3, 8, 1});
  CHECK(epoch_order(7, 5, 10) == std::vector<uint32_t>{3, 7, 9, 8, 2, 0, 5, 1, 6, 4});
  CHECK(epoch_order(123456789, 2, 7) == std::vector<uint32_t>{2, 6, 0, 5, 4, 1, 3});
}

TEST_CASE("epoch_order draws all orders of 3 items equally often", "[sampler]") {
  // 6000 epochs: each of the 6 permutations expects 1000 (sd ~ 29); keys that are not
  // independent across items or epochs, or a sort that mixes up the index bits, fail.
  std::map<std::vector<uint32_t>, int> counts;
  for (int epoch = 0; epoch < 6000; ++epoch) ++counts[epoch_order(99, epoch, 3)];
  REQUIRE(counts.size() == 6);
  for (const auto& [order, count] : counts) {
    CHECK(count > 850);
    CHECK(count < 1150);
  }
}

TEST_CASE("fill_batch resizes the chosen images and copies their labels", "[sampler]") {
  Split split;
  split.count = 4;
  split.height = 2;
  split.width = 3;
  split.images = {0,   0,   0,   0,   0,   0,     // image 0: black
                  255, 255, 255, 255, 255, 255,   // image 1: white
                  0,   50,  100, 150, 200, 250,   // image 2: ramp
                  9,   9,   9,   9,   9,   9};
  split.labels = {3, 1, 4, 1};
  const Resizer resizer(2, 3, 4, 5);
  const std::array<uint32_t, 3> indices{2, 1, 0};
  std::vector<float> images(3 * 4 * 5, -1.0f);
  std::array<int32_t, 3> labels{};
  fill_batch(split, indices, resizer, images.data(), labels.data());

  CHECK(labels == std::array<int32_t, 3>{4, 1, 3});
  CHECK(std::all_of(images.begin(), images.end(), [](float v) { return v >= 0.0f && v <= 1.0f; }));
  CHECK(std::all_of(images.begin() + 20, images.begin() + 40, [](float v) { return v == 1.0f; }));
  CHECK(std::all_of(images.begin() + 40, images.end(), [](float v) { return v == 0.0f; }));
  // The ramp image equals a direct resize of it.
  std::vector<float> ramp(20);
  std::vector<uint8_t> scratch(resizer.scratch_size());
  resizer.resize(std::span(split.images).subspan(12, 6), ramp, scratch);
  CHECK(std::equal(ramp.begin(), ramp.end(), images.begin()));

  const std::array<uint32_t, 1> past_end{4};
  CHECK_THROWS_AS(fill_batch(split, past_end, resizer, images.data(), labels.data()), std::out_of_range);
  CHECK_THROWS_AS(fill_batch(split, indices, Resizer(28, 28, 4, 5), images.data(), labels.data()),
                  std::invalid_argument);
}

TEST_CASE("fill_batch keeps each channel's plane in place (CHW)", "[sampler]") {
  // Two images of 3 channels, 2x2: pixel (c, y, x) of image n is 100 * n + 10 * c + 2 * y + x.
  Split split;
  split.count = 2;
  split.channels = 3;
  split.height = 2;
  split.width = 2;
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 4; ++p) split.images.push_back(static_cast<uint8_t>(100 * n + 10 * c + p));
  split.labels = {7, 2};
  const std::array<uint32_t, 3> indices{1, 0, 1};
  std::vector<float> images(3 * 3 * 2 * 2, -1.0f);
  std::array<int32_t, 3> labels{};
  fill_batch(split, indices, Resizer(2, 2, 2, 2), images.data(), labels.data());
  CHECK(labels == std::array<int32_t, 3>{2, 7, 2});
  for (size_t b = 0; b < 3; ++b)
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 4; ++p) {
        INFO("batch row " << b << ", channel " << c << ", pixel " << p);
        CHECK(images[(b * 3 + c) * 4 + p] == static_cast<float>(100 * indices[b] + 10 * c + p) / 255.0f);
      }

  // Enlarged, each plane equals that plane resized alone.
  const Resizer larger(2, 2, 5, 3);
  std::vector<float> big(3 * 15);
  fill_batch(split, std::span(indices).first(1), larger, big.data(), labels.data());
  std::vector<uint8_t> scratch(larger.scratch_size());
  for (size_t c = 0; c < 3; ++c) {
    std::vector<float> plane(15);
    larger.resize(std::span(split.images).subspan((3 + c) * 4, 4), plane, scratch);
    CHECK(std::equal(plane.begin(), plane.end(), big.begin() + static_cast<std::ptrdiff_t>(c * 15)));
  }
}
