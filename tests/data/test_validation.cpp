// --val-split's carving: deterministic from the seed, disjoint, complete, in the original order.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "fixtures.h"
#include "runtime/data/validation.h"

using namespace resnetc::data;
using namespace resnetc::data::testing;
using Catch::Matchers::Contains;

namespace {

// Image i (2 channels of 1x2) holds i in each pixel; label i % 10.
Split numbered(int64_t count) {
  Split s;
  s.count = count;
  s.channels = 2;
  s.height = 1;
  s.width = 2;
  for (int64_t i = 0; i < count; ++i) {
    for (int p = 0; p < 4; ++p) s.images.push_back(static_cast<uint8_t>(i));
    s.labels.push_back(static_cast<uint8_t>(i % 10));
  }
  return s;
}

std::vector<int> ids(const Split& s) {
  std::vector<int> out;
  for (int64_t i = 0; i < s.count; ++i) {
    out.push_back(s.images[static_cast<size_t>(i * 4)]);
    CHECK(std::all_of(s.images.begin() + i * 4, s.images.begin() + i * 4 + 4, [&](uint8_t v) { return v == out.back(); }));
    CHECK(s.labels[static_cast<size_t>(i)] == out.back() % 10);
  }
  return out;
}

}  // namespace

TEST_CASE("carve_validation holds out a seeded, disjoint fraction", "[validation]") {
  const Split train = numbered(200);
  const CarvedSplits a = carve_validation(train, 0.1, 7);
  CHECK(a.validation.count == 20);
  CHECK(a.train.count == 180);
  CHECK(a.validation.channels == 2);
  const std::vector<int> held = ids(a.validation), kept = ids(a.train);
  CHECK(std::is_sorted(held.begin(), held.end()));
  CHECK(std::is_sorted(kept.begin(), kept.end()));
  std::set<int> all(held.begin(), held.end());
  all.insert(kept.begin(), kept.end());
  CHECK(all.size() == 200);
  // Not simply the first or last images.
  CHECK(held.front() > 0);
  CHECK(held.back() < 199);

  CHECK(ids(carve_validation(train, 0.1, 7).validation) == held);
  CHECK(ids(carve_validation(train, 0.1, 8).validation) != held);
}

TEST_CASE("carve_validation refuses a split that empties a side", "[validation]") {
  const Split train = numbered(10);
  CHECK_THAT(data_error_message([&] { carve_validation(train, 0.01, 0); }),
             Contains("a validation split of 0.01 of the 10 training images leaves 0 for validation and 10 for training"));
  CHECK_THAT(data_error_message([&] { carve_validation(train, 0.99, 0); }), Contains("leaves 10 for validation and 0"));
  CHECK(carve_validation(train, 0.5, 0).validation.count == 5);
}
