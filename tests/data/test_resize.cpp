#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/data/idx.h"
#include "runtime/data/resize.h"

using namespace resnetc::data;

namespace {

const std::filesystem::path kGolden = std::filesystem::path(RESNETC_SOURCE_DIR) / "tests/data/golden";

std::vector<float> run(const Resizer& r, std::span<const uint8_t> in) {
  std::vector<float> out(static_cast<size_t>(r.out_height() * r.out_width()));
  std::vector<uint8_t> scratch(r.scratch_size());
  r.resize(in, out, scratch);
  return out;
}

}  // namespace

// Golden files come from tests/data/make_golden.py (PIL's BILINEAR resize, as torchvision's
// Resize uses on PIL images). Equality is exact: each output must be the golden byte / 255.
TEST_CASE("Resizer matches PIL bilinear resize byte for byte", "[resize]") {
  const IdxArray inputs = read_idx(kGolden / "inputs.idx3-ubyte.gz", 3);
  REQUIRE(inputs.shape[1] == 28);
  REQUIRE(inputs.shape[2] == 28);
  const auto [h, w] = GENERATE(std::pair{96, 96}, std::pair{40, 40}, std::pair{20, 20}, std::pair{17, 45});
  const IdxArray golden = read_idx(kGolden / ("resize_" + std::to_string(h) + "x" + std::to_string(w) + ".idx3-ubyte.gz"), 3);
  REQUIRE(golden.shape[1] == h);
  REQUIRE(golden.shape[2] == w);
  const Resizer resizer(28, 28, h, w);
  const auto out_pixels = static_cast<size_t>(h * w);
  int mismatches = 0;
  for (int64_t i = 0; i < golden.shape[0]; ++i) {
    const auto in = std::span(inputs.data).subspan(static_cast<size_t>(i) * 784, 784);
    const std::vector<float> out = run(resizer, in);
    for (size_t p = 0; p < out_pixels; ++p) {
      const uint8_t want = golden.data[static_cast<size_t>(i) * out_pixels + p];
      if (out[p] != static_cast<float>(want) / 255.0f) ++mismatches;
    }
  }
  INFO(h << "x" << w << " over " << golden.shape[0] << " images");
  CHECK(mismatches == 0);
}

TEST_CASE("Resizer with unchanged size only divides by 255", "[resize]") {
  const Resizer same(3, 2, 3, 2);
  CHECK(same.scratch_size() == 0);
  const std::vector<uint8_t> in{0, 1, 127, 128, 254, 255};
  const std::vector<float> out = run(same, in);
  for (size_t i = 0; i < in.size(); ++i) CHECK(out[i] == static_cast<float>(in[i]) / 255.0f);
}

TEST_CASE("Resizer keeps a flat image flat when shrinking and enlarging", "[resize]") {
  const std::vector<uint8_t> in(28 * 28, 200);
  for (auto [h, w] : {std::pair{96, 96}, std::pair{7, 7}, std::pair{28, 5}, std::pair{50, 28}}) {
    for (float v : run(Resizer(28, 28, h, w), in)) REQUIRE(v == 200.0f / 255.0f);
  }
}

TEST_CASE("Resizer rejects bad sizes", "[resize]") {
  CHECK_THROWS_AS(Resizer(0, 28, 96, 96), std::invalid_argument);
  CHECK_THROWS_AS(Resizer(28, 28, 96, 100000), std::invalid_argument);
  const Resizer r(28, 28, 96, 96);
  std::vector<uint8_t> in(28 * 28), scratch(r.scratch_size());
  std::vector<float> out(96 * 96);
  CHECK_THROWS_AS(r.resize(std::span(in).first(100), out, scratch), std::invalid_argument);
  CHECK_THROWS_AS(r.resize(in, std::span(out).first(100), scratch), std::invalid_argument);
  CHECK_THROWS_AS(r.resize(in, out, std::span(scratch).first(1)), std::invalid_argument);
}
