#include "compiler/plan/arena_occupancy.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <queue>

namespace resnetc::plan {

ArenaOccupancy::ArenaOccupancy(int kernels) : leaves_(std::max(kernels, 1)) {
  size_t span = 1;
  while (span < static_cast<size_t>(leaves_)) span *= 2;
  nodes_.resize(2 * span);
}

void ArenaOccupancy::add(Ranges& ranges, int64_t begin, int64_t end) {
  auto it = ranges.upper_bound(begin);
  if (it != ranges.begin() && std::prev(it)->second >= begin) {
    --it;
    begin = it->first;
    end = std::max(end, it->second);
    it = ranges.erase(it);
  }
  while (it != ranges.end() && it->first <= end) {
    end = std::max(end, it->second);
    it = ranges.erase(it);
  }
  ranges.emplace_hint(it, begin, end);
}

void ArenaOccupancy::take(int first, int last, int64_t begin, int64_t end) {
  take(1, 0, leaves_ - 1, first, last, begin, end);
}

void ArenaOccupancy::take(size_t node, int lo, int hi, int first, int last, int64_t begin, int64_t end) {
  if (hi < first || last < lo) return;
  Node& n = nodes_[node];
  add(n.some, begin, end);
  if (first <= lo && hi <= last) {
    add(n.whole, begin, end);
    return;
  }
  const int mid = lo + (hi - lo) / 2;
  take(2 * node, lo, mid, first, last, begin, end);
  take(2 * node + 1, mid + 1, hi, first, last, begin, end);
}

// A range taken during [first, last] is stored at a node whose span meets [first, last]: inside
// a node the span covers (that node's `some`) or at a node it only partly covers (its `whole`).
void ArenaOccupancy::collect(size_t node, int lo, int hi, int first, int last,
                             std::vector<const Ranges*>& out) const {
  if (hi < first || last < lo) return;
  const Node& n = nodes_[node];
  if (first <= lo && hi <= last) {
    if (!n.some.empty()) out.push_back(&n.some);
    return;
  }
  if (!n.whole.empty()) out.push_back(&n.whole);
  const int mid = lo + (hi - lo) / 2;
  collect(2 * node, lo, mid, first, last, out);
  collect(2 * node + 1, mid + 1, hi, first, last, out);
}

namespace {

// From `range`, which ends at or below `at`, to the first range of `set` ending above `at`: a few
// steps (usually one: another set's range covered this one's next gap), else a search.
void advance(std::map<int64_t, int64_t>::const_iterator& range, const std::map<int64_t, int64_t>& set,
             int64_t at) {
  for (int step = 0; step < 4 && range != set.end(); ++step, ++range)
    if (range->second > at) return;
  if (range == set.end() || range->second > at) return;
  range = set.upper_bound(at);
  if (range != set.begin() && std::prev(range)->second > at) --range;
}

}  // namespace

int64_t ArenaOccupancy::best_fit(int first, int last, int64_t size) const {
  std::vector<const Ranges*> sets;
  collect(1, 0, leaves_ - 1, first, last, sets);
  // The gaps of the union of `sets`, lowest first: a cursor per set at its next range, the
  // cursors in a heap by the range's begin.
  struct Cursor {
    int64_t begin;
    const Ranges* set;
    Ranges::const_iterator range;
    bool operator>(const Cursor& o) const { return begin > o.begin; }
  };
  std::priority_queue<Cursor, std::vector<Cursor>, std::greater<>> cursors;
  int64_t top = 0;
  for (const Ranges* r : sets) {
    cursors.push({r->begin()->first, r, r->begin()});
    top = std::max(top, std::prev(r->end())->second);
  }
  int64_t at = 0, best = -1, best_gap = std::numeric_limits<int64_t>::max();
  for (int gaps = 0; at < top && gaps < kMaxGaps; ++gaps) {
    while (!cursors.empty() && cursors.top().begin <= at) {  // to the next byte no set takes
      Cursor c = cursors.top();
      cursors.pop();
      if (c.range->second > at) {
        at = c.range->second;
        ++c.range;  // ranges of one set never touch: the next begins above `at`
      } else {
        advance(c.range, *c.set, at);
      }
      if (c.range != c.set->end()) cursors.push({c.range->first, c.set, c.range});
    }
    if (at >= top) break;
    const int64_t next = cursors.top().begin;  // the next byte one does
    if (const int64_t gap = next - at; gap >= size && gap < best_gap) {
      best = at, best_gap = gap;
      if (gap == size) break;  // no gap fits better, and this is the lowest of its size
    }
    at = next;
  }
  return best >= 0 ? best : top;
}

}  // namespace resnetc::plan
