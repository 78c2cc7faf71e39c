// Per-channel normalization: the statistics --normalize computes, and the pixels fill_batch
// writes with a normalization, each against a direct computation.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "runtime/data/normalize.h"
#include "runtime/data/sampler.h"

using namespace resnetc::data;

namespace {

Split random_split(int64_t count, int64_t channels, int64_t h, int64_t w, unsigned seed) {
  Split split{count, h, w, {}, std::vector<int32_t>(static_cast<size_t>(count))};
  split.channels = channels;
  std::mt19937 rng(seed);
  for (int64_t i = 0; i < count * channels * h * w; ++i) split.images.push_back(static_cast<uint8_t>(rng() % 200));
  return split;
}

// The mean and population std of channel c over every resized image, straight from the
// definition: one pass collecting the values, then the sums in double.
void check_statistics(const Split& split, int64_t out_h, int64_t out_w) {
  const Resizer resizer(split.height, split.width, out_h, out_w);
  const Normalization got = channel_statistics(split, resizer);
  REQUIRE(std::ssize(got.mean) == split.channels);
  REQUIRE(std::ssize(got.std) == split.channels);
  const auto plane = static_cast<size_t>(split.height * split.width), out = static_cast<size_t>(out_h * out_w);
  std::vector<uint8_t> scratch(resizer.scratch_size()), pixels(out);
  for (int64_t c = 0; c < split.channels; ++c) {
    std::vector<double> values;
    for (int64_t i = 0; i < split.count; ++i) {
      resizer.resize(std::span(split.images).subspan(static_cast<size_t>(i * split.channels + c) * plane, plane),
                     std::span(pixels), scratch);
      for (uint8_t p : pixels) values.push_back(static_cast<float>(p) / 255.0f);  // ToTensor's float
    }
    double sum = 0;
    for (double v : values) sum += v;
    const double mean = sum / static_cast<double>(values.size());
    double squares = 0;
    for (double v : values) squares += (v - mean) * (v - mean);
    const double std = std::sqrt(squares / static_cast<double>(values.size()));  // population: / n
    INFO("channel " << c);
    CHECK(got.mean[static_cast<size_t>(c)] == static_cast<float>(mean));
    CHECK(got.std[static_cast<size_t>(c)] == static_cast<float>(std));
  }
}

}  // namespace

TEST_CASE("channel_statistics is each channel's mean and population std of the resized images", "[normalize]") {
  check_statistics(random_split(5, 1, 6, 7, 1), 6, 7);   // one channel, as loaded
  check_statistics(random_split(4, 3, 8, 8, 2), 8, 8);   // three channels
  check_statistics(random_split(3, 3, 8, 6, 3), 11, 4);  // resized: the statistics of what the network sees
  // Not the unbiased estimate: for the two values 0 and 1 the population std is 1/2.
  const Split two{2, 1, 1, {0, 255}, {0, 0}};
  const Normalization n = channel_statistics(two, Resizer(1, 1, 1, 1));
  CHECK(n.mean[0] == 0.5f);
  CHECK(n.std[0] == 0.5f);
}

TEST_CASE("channel_statistics refuses a channel with one value throughout", "[normalize]") {
  const Split flat{3, 2, 2, ImageBytes(12, 7), {0, 0, 0}};
  CHECK_THROWS_AS(channel_statistics(flat, Resizer(2, 2, 2, 2)), std::invalid_argument);
  CHECK_THROWS_AS(channel_statistics(Split{}, Resizer(1, 1, 1, 1)), std::invalid_argument);
}

TEST_CASE("fill_batch normalizes each channel as torchvision's Normalize: a float subtraction, then a division",
          "[normalize]") {
  const Split split = random_split(3, 3, 4, 5, 4);
  const Normalization n{{0.4914f, 0.4822f, 0.4465f}, {0.247f, 0.243f, 0.261f}};
  const std::vector<uint32_t> indices{2, 0};
  std::vector<float> plain(2 * 3 * 20), normalized(plain.size());
  std::vector<int32_t> labels(2);
  fill_batch(split, indices, Resizer(4, 5, 4, 5), plain.data(), labels.data());
  fill_batch(split, indices, Resizer(4, 5, 4, 5), normalized.data(), labels.data(), n);
  for (size_t i = 0; i < plain.size(); ++i) {
    const size_t c = i / 20 % 3;
    const float difference = plain[i] - n.mean[c];  // float32, rounded, as tensor.sub_(mean)
    CHECK(normalized[i] == difference / n.std[c]);  // then tensor.div_(std)
  }
  const Normalization two_channels{{0.5f, 0.5f}, {0.2f, 0.2f}};
  CHECK_THROWS_AS(fill_batch(split, indices, Resizer(4, 5, 4, 5), normalized.data(), labels.data(), two_channels),
                  std::invalid_argument);
}

TEST_CASE("format_values writes the shortest text that reads back as the same float", "[normalize]") {
  CHECK(format_values({0.4914f, 0.247f, 1.0f}) == "0.4914,0.247,1");
}
