// The memory planner's occupancy index against the search it replaces: every buffer placed
// before, the ones live at the same time sorted by offset, their gaps walked lowest first.
#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include "compiler/plan/arena_occupancy.h"

using resnetc::plan::ArenaOccupancy;

namespace {

struct Taken {
  int first, last;
  int64_t begin, end;
};

// The plain search over every range taken, looking at the lowest kMaxGaps gaps as the index does.
int64_t reference_fit(const std::vector<Taken>& taken, int first, int last, int64_t size) {
  std::vector<std::pair<int64_t, int64_t>> busy;
  for (const Taken& t : taken)
    if (t.first <= last && first <= t.last) busy.emplace_back(t.begin, t.end);
  std::sort(busy.begin(), busy.end());
  int64_t top = 0, best = -1, best_gap = std::numeric_limits<int64_t>::max();
  int gaps = 0;
  for (const auto& [begin, end] : busy) {
    if (const int64_t gap = begin - top; gap > 0 && gaps++ < ArenaOccupancy::kMaxGaps && gap >= size && gap < best_gap)
      best = top, best_gap = gap;
    top = std::max(top, end);
  }
  return best >= 0 ? best : top;
}

}  // namespace

TEST_CASE("arena occupancy: the smallest gap that fits, the lowest of equal ones, else the top") {
  ArenaOccupancy a(11);
  CHECK(a.best_fit(0, 10, 64) == 0);
  for (auto [begin, end] : {std::pair<int64_t, int64_t>{0, 100}, {164, 200}, {300, 400}, {464, 500}})
    a.take(0, 10, begin, end);
  CHECK(a.best_fit(0, 10, 64) == 100);   // gaps of 64 at 100 and 400, of 100 at 200
  CHECK(a.best_fit(3, 4, 65) == 200);
  CHECK(a.best_fit(0, 10, 101) == 500);  // above everything
}

TEST_CASE("arena occupancy: only ranges live in the span count, both ends included") {
  ArenaOccupancy a(31);
  a.take(20, 30, 0, 1000);
  a.take(0, 9, 0, 64);
  CHECK(a.best_fit(0, 9, 64) == 64);
  CHECK(a.best_fit(10, 19, 64) == 0);
  CHECK(a.best_fit(10, 20, 64) == 1000);
  CHECK(a.best_fit(30, 30, 64) == 1000);
  a.take(0, 9, 64, 128);  // touches [0, 64): one range, no gap between
  CHECK(a.best_fit(5, 5, 64) == 128);
}

TEST_CASE("arena occupancy: best fit among the lowest kMaxGaps gaps, so a deep network plans in linear time") {
  // Gaps that shrink with the address: a search of all of them would take the highest.
  ArenaOccupancy a(1);
  std::vector<Taken> taken;
  const int count = ArenaOccupancy::kMaxGaps + 20;
  for (int i = 0; i <= count; ++i) {
    const int64_t gap = 1000 - i;
    taken.push_back({0, 0, i * 2000, (i + 1) * 2000 - gap});
    a.take(0, 0, taken.back().begin, taken.back().end);
  }
  const int64_t last_searched = ArenaOccupancy::kMaxGaps - 1;
  CHECK(a.best_fit(0, 0, 500) == (last_searched + 1) * 2000 - (1000 - last_searched));
  CHECK(a.best_fit(0, 0, 500) == reference_fit(taken, 0, 0, 500));
}

TEST_CASE("arena occupancy: greedy placement of random lifetimes equals the plain search") {
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    const int kernels = 1 + static_cast<int>(rng() % 60);
    ArenaOccupancy a(kernels);
    std::vector<Taken> taken;
    for (int i = 0; i < 300; ++i) {
      int first = static_cast<int>(rng() % static_cast<unsigned>(kernels));
      int last = static_cast<int>(rng() % static_cast<unsigned>(kernels));
      if (first > last) std::swap(first, last);
      const int64_t size = 64 * (1 + static_cast<int64_t>(rng() % 12));
      const int64_t at = a.best_fit(first, last, size);
      REQUIRE(at == reference_fit(taken, first, last, size));
      a.take(first, last, at, at + size);
      taken.push_back({first, last, at, at + size});
    }
  }
}
